#pragma once
// Bounded keep-alive HTTP/1.1 connection pool to one ARI server (Boost.Beast inside).
//
// Contract:
//  - At most config.max_connections sockets; requests beyond that wait in a FIFO of at most
//    config.max_pending_requests (more => ari_errc::queue_full, counted in dropped()).
//  - Each request has one deadline (the timeout argument or config.request_timeout) covering
//    queueing, connect, TLS, write and read; past it => ari_errc::timeout.
//  - Basic auth header on every request (api_key query instead only if use_api_key).
//  - Stale keep-alive (Asterisk drops idle HTTP sessions): an idle pooled socket the server
//    already closed or reset is discarded before use. A request that then fails on a reused
//    socket (closed, reset) before any reply byte arrived is retried once on a fresh
//    connection if nothing of it was sent or its method is idempotent (GET, HEAD, PUT,
//    DELETE, OPTIONS). A POST that was written is never replayed (the server may have
//    acted on it): it fails with ari_errc::disconnected.
//  - The reply is delivered whatever its status; use check_status() to map non-2xx.
//  - Callbacks run on an Asio thread of the io_context passed in.
#include <cstdint>
#include <functional>
#include <memory>
#include <string_view>

#include "actors/ari/config.hpp"
#include "actors/ari/rest.hpp"

namespace boost::asio {
class io_context;
}

namespace astra::ari {

// Observes every finished request: method and status (0 = transport failure). Thread-safe.
using reply_observer = std::function<void(std::string_view method, int status)>;

class http_pool final : public rest_transport {
 public:
  // Fails (invalid_url, tls_failed for an unreadable CA file) at construction time only.
  static result<std::shared_ptr<http_pool>> create(boost::asio::io_context& io, const client_config& config,
                                                   reply_observer observer = {});
  ~http_pool() override;

  void send(rest_request request, rest_callback done, std::chrono::milliseconds timeout = {}) override;
  // Fails queued requests with ari_errc::cancelled, closes idle sockets; in-flight requests
  // finish (bounded by their deadline). Idempotent.
  void stop();

  std::size_t open_connections() const;
  std::size_t idle_connections() const;
  std::uint64_t dropped() const;   // requests refused with queue_full

 private:
  struct impl;
  explicit http_pool(std::shared_ptr<impl> p);
  std::shared_ptr<impl> impl_;
};

}  // namespace astra::ari
