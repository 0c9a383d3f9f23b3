#pragma once
// HTTP(S) client of the webhook handler: POSTs a JSON body to a user's web app and returns
// the reply. Boost.Beast inside (http_client.cpp); this header stays light.
//
// Contract:
//  - One keep-alive pool per host (scheme, host, port) with at most
//    options.max_connections_per_host sockets. A request finding every socket busy waits in
//    that host's FIFO (at most options.max_waiting_per_host requests) within its own deadline;
//    past the deadline it fails with webhook_errc::timeout. Nothing waits without a deadline.
//  - One deadline per request (request.timeout) covering the wait for a socket, resolve,
//    connect, TLS handshake, write and read.
//  - TLS: the certificate chain and host name are verified unless options.verify_tls is false
//    (CA store: options.ca_file, else the system store); SNI for names only.
//  - Redirects are not followed: a 3xx is a reply like any other (the caller maps non-2xx to
//    webhook_errc::bad_status). A body over options.max_response_bytes fails with
//    body_too_large (the socket is closed).
//  - A request that fails on a reused keep-alive socket the server had closed before any byte
//    of it was written is retried once on a new socket; a POST that was written is never sent
//    twice.
//  - Thread-safe. `done` runs exactly once on an Asio thread of the io_context (or at once on
//    the caller's thread when the request is refused without I/O: bad URL, stopped, queue full).
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "protocols/common/result.hpp"
#include "protocols/webhook/errors.hpp"

namespace boost::asio {
class io_context;
}

namespace astra::webhook {

inline constexpr std::size_t default_max_connections_per_host = 64;
inline constexpr std::size_t default_max_waiting_per_host = 4'096;
inline constexpr std::size_t default_max_response_bytes = 1024 * 1024;

struct http_options {
  std::size_t max_connections_per_host = default_max_connections_per_host;
  std::size_t max_waiting_per_host = default_max_waiting_per_host;
  std::size_t max_response_bytes = default_max_response_bytes;
  bool verify_tls = true;
  std::string ca_file;  // "" = the system store
  std::chrono::milliseconds idle_max{30'000};  // an idle pooled socket older than this is closed
};

struct http_request {
  std::string url;   // http(s)://host[:port]/path?query
  std::string body;  // sent as application/json
  std::vector<std::pair<std::string, std::string>> headers;
  std::chrono::milliseconds timeout{5'000};
};

struct http_response {
  int status = 0;
  std::string content_type;
  std::string body;
};

using http_callback = std::function<void(result<http_response>)>;

class http_client {
 public:
  // Fails only for an unreadable CA file.
  static result<std::shared_ptr<http_client>> create(boost::asio::io_context& io, http_options options);
  ~http_client();
  http_client(const http_client&) = delete;
  http_client& operator=(const http_client&) = delete;

  void post(http_request request, http_callback done);
  // Fails waiting requests (connection_failed "client stopped") and closes idle sockets;
  // requests in flight finish within their deadline. Idempotent.
  void stop();

  std::size_t open_connections() const;  // over all hosts

  struct impl;

 private:
  explicit http_client(std::shared_ptr<impl> p);
  std::shared_ptr<impl> impl_;
};

}  // namespace astra::webhook
