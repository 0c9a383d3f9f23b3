#pragma once
// The admin HTTP listener (Boost.Beast inside): /metrics, /healthz, /readyz, /v1/status.
//
// Contract:
//  - GET and HEAD only (else 405); unknown paths 404; one request per read deadline
//    (request_timeout), keep-alive honoured, at most max_connections open at once (further
//    connections are closed at accept), request head at most max_request_bytes, no body.
//  - /metrics: 200, text exposition format 0.0.4 from handlers.metrics().
//  - /healthz: 200 "ok" while the process serves HTTP.
//  - /readyz: 200 "ready" when handlers.ready() says so, else 503 with the reason.
//  - /v1/status: 200, application/json from handlers.status_json().
// Thread affinity: the handlers run on the io_context's threads, possibly concurrently;
// they must be thread-safe and must not block (read snapshots, not actors).
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <system_error>

namespace boost::asio {
class io_context;
}

namespace astra::admin {

inline constexpr std::size_t max_connections = 64;
inline constexpr std::size_t max_request_bytes = 16 * 1024;
inline constexpr std::chrono::seconds request_timeout{10};

struct readiness {
  bool ready = false;
  std::string reason;  // why not ready (sent as the 503 body)
};

struct handlers {
  std::function<std::string()> metrics;
  std::function<readiness()> ready;
  std::function<std::string()> status_json;
};

class server {
 public:
  server(boost::asio::io_context& io, handlers h);
  // Closes the listener and every open connection.
  ~server();
  server(const server&) = delete;
  server& operator=(const server&) = delete;

  // Binds and listens on host:port (port 0: ephemeral) and starts accepting.
  std::error_code start(const std::string& host, std::uint16_t port);
  // The bound port; 0 before start().
  std::uint16_t local_port() const noexcept;
  // Thread-safe, idempotent: stops accepting and closes open connections. Blocks up to 2 s
  // for an io thread to close the listener; when none runs it in time (the io_context is not
  // running), the close stays queued and runs whenever the io_context next runs. Called on
  // the only thread of that io_context, it waits the full 2 s: call it from another thread.
  void stop();

  struct impl;

 private:
  std::shared_ptr<impl> impl_;
};

}  // namespace astra::admin
