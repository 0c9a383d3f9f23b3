#include "service/admin/admin_server.hpp"

#include <utility>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <atomic>
#include <future>
#include <optional>
#include <mutex>
#include <set>

namespace astra::admin {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

namespace {

class session;

// How long stop() waits for the io_context to close the acceptor (it may not be running).
constexpr std::chrono::seconds close_wait{2};

}  // namespace

struct server::impl : std::enable_shared_from_this<server::impl> {
  impl(asio::io_context& io, handlers h) : io(io), acceptor(asio::make_strand(io)), h(std::move(h)) {}

  asio::io_context& io;
  tcp::acceptor acceptor;
  handlers h;
  std::atomic<std::uint16_t> port{0};
  std::atomic<bool> stopped{false};
  std::mutex mutex;                          // guards sessions
  std::set<std::shared_ptr<session>> sessions;

  void accept_next();
  void on_accept(beast::error_code ec, tcp::socket socket);
  void remove(const std::shared_ptr<session>& s) {
    std::lock_guard lock(mutex);
    sessions.erase(s);
  }
  http::response<http::string_body> respond(const http::request<http::empty_body>& req) const;
};

namespace {

// One HTTP connection: read request -> write response -> (keep-alive) read again.
class session : public std::enable_shared_from_this<session> {
 public:
  session(tcp::socket socket, std::weak_ptr<server::impl> owner)
      : stream_(std::move(socket)), owner_(std::move(owner)) {}

  void start() {
    asio::dispatch(stream_.get_executor(), [self = shared_from_this()] { self->read_request(); });
  }

  // Thread-safe: posted to the connection's strand.
  void close() {
    asio::post(stream_.get_executor(), [self = shared_from_this()] {
      beast::error_code ignored;
      self->stream_.socket().shutdown(tcp::socket::shutdown_both, ignored);
      self->stream_.close();
    });
  }

 private:
  void read_request() {
    parser_.emplace();
    parser_->header_limit(static_cast<std::uint32_t>(max_request_bytes));
    parser_->body_limit(0);
    stream_.expires_after(request_timeout);
    http::async_read(stream_, buffer_, *parser_,
                     [self = shared_from_this()](beast::error_code ec, std::size_t) { self->on_read(ec); });
  }

  void on_read(beast::error_code ec) {
    if (ec) return finish();
    auto owner = owner_.lock();
    if (!owner) return finish();
    auto req = parser_->release();
    response_ = owner->respond(req);
    response_.keep_alive(req.keep_alive());
    response_.prepare_payload();
    if (req.method() == http::verb::head) {
      // Same headers as GET, no body.
      auto length = response_.body().size();
      response_.body().clear();
      response_.content_length(length);
    }
    stream_.expires_after(request_timeout);
    http::async_write(stream_, response_, [self = shared_from_this()](beast::error_code ec2, std::size_t) {
      self->on_write(ec2);
    });
  }

  void on_write(beast::error_code ec) {
    if (ec || !response_.keep_alive()) return finish();
    read_request();
  }

  void finish() {
    beast::error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
    stream_.close();
    if (auto owner = owner_.lock()) owner->remove(shared_from_this());
  }

  beast::tcp_stream stream_;
  beast::flat_buffer buffer_{8192};
  std::optional<http::request_parser<http::empty_body>> parser_;
  http::response<http::string_body> response_;
  std::weak_ptr<server::impl> owner_;
};

http::response<http::string_body> plain(http::status status, std::string body,
                                        std::string_view content_type = "text/plain; charset=utf-8") {
  http::response<http::string_body> res{status, 11};
  res.set(http::field::server, "astra");
  res.set(http::field::content_type, content_type);
  res.set(http::field::cache_control, "no-store");
  res.body() = std::move(body);
  return res;
}

}  // namespace

http::response<http::string_body> server::impl::respond(const http::request<http::empty_body>& req) const {
  if (req.method() != http::verb::get && req.method() != http::verb::head) {
    auto res = plain(http::status::method_not_allowed, "method not allowed\n");
    res.set(http::field::allow, "GET, HEAD");
    return res;
  }
  std::string_view target = req.target();
  if (auto q = target.find('?'); q != std::string_view::npos) target = target.substr(0, q);
  if (target == "/metrics")
    return plain(http::status::ok, h.metrics ? h.metrics() : std::string(),
                 "text/plain; version=0.0.4; charset=utf-8");
  if (target == "/healthz") return plain(http::status::ok, "ok\n");
  if (target == "/readyz") {
    readiness r = h.ready ? h.ready() : readiness{false, "no readiness source"};
    if (r.ready) return plain(http::status::ok, "ready\n");
    return plain(http::status::service_unavailable, "not ready: " + r.reason + "\n");
  }
  if (target == "/v1/status")
    return plain(http::status::ok, h.status_json ? h.status_json() : std::string("{}"), "application/json");
  if (target == "/")
    return plain(http::status::ok, "astra admin: /metrics /healthz /readyz /v1/status\n");
  return plain(http::status::not_found, "not found\n");
}

void server::impl::accept_next() {
  acceptor.async_accept(asio::make_strand(io), [self = shared_from_this()](beast::error_code ec, tcp::socket socket) {
    self->on_accept(ec, std::move(socket));
  });
}

void server::impl::on_accept(beast::error_code ec, tcp::socket socket) {
  if (stopped.load()) return;
  if (ec == asio::error::operation_aborted) return;
  if (!ec) {
    std::shared_ptr<session> s;
    {
      std::lock_guard lock(mutex);
      if (sessions.size() < max_connections) {
        s = std::make_shared<session>(std::move(socket), weak_from_this());
        sessions.insert(s);
      }
    }
    if (s) s->start();
    else {
      beast::error_code ignored;
      socket.close(ignored);  // over max_connections: refused at once
    }
  }
  accept_next();
}

server::server(asio::io_context& io, handlers h) : impl_(std::make_shared<impl>(io, std::move(h))) {}

server::~server() { stop(); }

std::error_code server::start(const std::string& host, std::uint16_t port) {
  beast::error_code ec;
  auto address = asio::ip::make_address(host == "localhost" ? "127.0.0.1" : host, ec);
  if (ec) return ec;
  tcp::endpoint ep{address, port};
  impl_->acceptor.open(ep.protocol(), ec);
  if (ec) return ec;
  impl_->acceptor.set_option(asio::socket_base::reuse_address(true), ec);
  impl_->acceptor.bind(ep, ec);
  if (ec) {
    impl_->acceptor.close();
    return ec;
  }
  impl_->acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    impl_->acceptor.close();
    return ec;
  }
  impl_->port = impl_->acceptor.local_endpoint().port();
  impl_->accept_next();
  return {};
}

std::uint16_t server::local_port() const noexcept { return impl_->port.load(); }

void server::stop() {
  if (impl_->stopped.exchange(true)) return;
  auto self = impl_;
  // The acceptor lives on its strand: close it there; wait (at most close_wait) so no accept
  // runs after stop(). The job owns everything it touches (the impl, the promise): it may run
  // after the wait gave up, once something runs the io_context.
  auto done = std::make_shared<std::promise<void>>();
  auto fut = done->get_future();
  asio::dispatch(impl_->acceptor.get_executor(), [self, done] {
    beast::error_code ignored;
    self->acceptor.close(ignored);
    done->set_value();
  });
  if (!impl_->io.stopped()) fut.wait_for(close_wait);
  std::set<std::shared_ptr<session>> open;
  {
    std::lock_guard lock(impl_->mutex);
    open.swap(impl_->sessions);
  }
  for (auto& s : open) s->close();
}

}  // namespace astra::admin
