// The outbound ARI WebSocket listener: accept, the upgrade with its admission rules and
// deadline, then one read loop per socket feeding its connection (contract:
// outbound_server.hpp; the connection's logic: outbound_connection.cpp).
#include "actors/ari/outbound_server.hpp"

#include <utility>  // before Asio: awaitable.hpp uses std::exchange

#include <random>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/websocket/ssl.hpp>
#include <caf/all.hpp>
#include <spdlog/spdlog.h>

#include "actors/ari/beast_support.hpp"
#include "actors/ari/outbound_connection.hpp"

namespace astra::ari {
using namespace beast_support;
using outbound::connection;
using outbound::server_core;

namespace {

constexpr std::size_t shrink_read_buffer_above = 8 * 1024;  // bytes kept by an idle socket's read buffer
constexpr auto accept_error_pause = std::chrono::milliseconds(50);  // e.g. EMFILE: do not spin
constexpr std::size_t write_buffer_bytes = 512;  // Beast's per-stream write buffer (default 4096)

// The WebSocket of one connection behind socket_ops. Strand only.
template <class Ws>
class ws_ops final : public outbound::socket_ops, public std::enable_shared_from_this<ws_ops<Ws>> {
 public:
  template <class Stream>
  explicit ws_ops(Stream&& s) : ws(std::forward<Stream>(s)), close_done(ws.get_executor()) {}

  void async_write_text(const std::string& frame, std::function<void(bool ok)> done) override {
    ws.text(true);
    ws.async_write(net::buffer(frame), [self = this->shared_from_this(), done = std::move(done)](
                                           const beast::error_code& ec, std::size_t) { done(!ec); });
  }
  void async_close(std::uint16_t code, std::string reason) override {
    if (closing) return;
    closing = true;
    websocket::close_reason why(static_cast<websocket::close_code>(code), reason);
    ws.async_close(why, [self = this->shared_from_this()](const beast::error_code&) {
      self->closed = true;
      self->close_done.cancel();
    });
  }
  // The read loop itself asked for the close (no read pending): waits for the closing
  // handshake to complete, at most `limit`.
  awaitable<void> wait_closed(std::chrono::milliseconds limit) {
    if (closed) co_return;
    close_done.expires_after(limit);
    beast::error_code ec;
    co_await close_done.async_wait(net::redirect_error(net::use_awaitable, ec));
  }
  void abort() override {
    beast::error_code ec;
    beast::get_lowest_layer(ws).socket().close(ec);
  }

  Ws ws;
  net::steady_timer close_done;
  bool closing = false;
  bool closed = false;
};

// Whether the TLS variant is in use is a property of the stream type.
template <class Stream>
struct tls_of : std::false_type {};
template <class Next>
struct tls_of<beast::ssl_stream<Next>> : std::true_type {};

}  // namespace

struct outbound_server::impl : std::enable_shared_from_this<outbound_server::impl> {
  net::io_context& io;
  std::shared_ptr<server_core> core;
  tcp::acceptor acceptor;
  std::shared_ptr<ssl::context> tls;
  std::atomic<bool> stopped{false};
  std::uint16_t port = 0;

  impl(net::io_context& i, std::shared_ptr<server_core> c) : io(i), core(std::move(c)), acceptor(net::make_strand(i)) {}

  // Sends a refusal (status of `r`) and closes; bounded by the upgrade's deadline.
  template <class Stream>
  static awaitable<void> refuse(Stream& stream, upgrade_result r) {
    http::response<http::empty_body> res{static_cast<http::status>(outbound::status_of(r)), 11};
    res.set(http::field::server, user_agent);
    res.set(http::field::connection, "close");
    if (r == upgrade_result::unauthorized) res.set(http::field::www_authenticate, "Basic realm=\"astra\"");
    if (r == upgrade_result::refused_draining || r == upgrade_result::refused_full) res.set(http::field::retry_after, "1");
    res.content_length(0);
    beast::error_code ec;
    co_await http::async_write(stream, res, net::redirect_error(net::use_awaitable, ec));
  }

  template <class Stream>
  static awaitable<void> serve(std::shared_ptr<server_core> core, Stream stream) {
    const auto& cfg = core->cfg;
    beast::error_code ec;
    beast::get_lowest_layer(stream).expires_after(cfg.handshake_timeout);
    if constexpr (tls_of<Stream>::value) {
      co_await stream.async_handshake(ssl::stream_base::server, net::redirect_error(net::use_awaitable, ec));
      if (ec) {
        core->handshake_failures.fetch_add(1, std::memory_order_relaxed);
        core->count(upgrade_result::bad_request);
        co_return;
      }
    }
    // The upgrade's buffer and parser live on the heap and go before the read loop: a held
    // socket keeps none of them.
    auto buffer = std::make_unique<beast::flat_buffer>();
    auto parser = std::make_unique<http::request_parser<http::empty_body>>();
    parser->header_limit(outbound_max_upgrade_bytes);
    co_await http::async_read(stream, *buffer, *parser, net::redirect_error(net::use_awaitable, ec));
    if (ec) {
      core->handshake_failures.fetch_add(1, std::memory_order_relaxed);
      // A bare TCP probe (connect, close) is no upgrade at all: not counted as one.
      if (!(ec == http::error::end_of_stream && buffer->size() == 0)) core->count(upgrade_result::bad_request);
      co_return;
    }
    const auto& req = parser->get();
    outbound::upgrade_request view;
    view.method = req.method_string();
    view.target = req.target();
    view.upgrade = req[http::field::upgrade];
    view.connection = req[http::field::connection];
    view.ws_version = req[http::field::sec_websocket_version];
    view.ws_key = req[http::field::sec_websocket_key];
    view.ws_protocol = req[http::field::sec_websocket_protocol];
    view.authorization = req[http::field::authorization];
    view.bytes_after_request = buffer->size();
    outbound::admission_state state;
    state.draining = core->draining.load();
    state.full = core->live.load() > cfg.max_connections;  // this connection is counted in live
    auto decision = outbound::decide(view, cfg.path, core->creds, state);
    if (decision != upgrade_result::ok) {
      core->count(decision);
      co_await refuse(stream, decision);
      co_return;
    }
    auto ops = std::make_shared<ws_ops<websocket::stream<Stream>>>(std::move(stream));
    auto& ws = ops->ws;
    websocket::stream_base::timeout opt{};
    opt.handshake_timeout = cfg.handshake_timeout;  // also bounds the closing handshake
    opt.idle_timeout = cfg.idle_timeout;
    opt.keep_alive_pings = true;
    ws.set_option(opt);
    ws.read_message_max(outbound_max_frame_bytes);
    // Whole frames, written from the caller's buffer (server frames are not masked): the
    // stream's own write buffer is then barely used, so keep it small (bytes per held socket).
    ws.auto_fragment(false);
    ws.write_buffer_bytes(write_buffer_bytes);
    ws.set_option(websocket::stream_base::decorator([](websocket::response_type& res) {
      res.set(http::field::server, user_agent);
      res.set(http::field::sec_websocket_protocol, "ari");
    }));
    co_await ws.async_accept(req, net::redirect_error(net::use_awaitable, ec));
    if (ec) {
      core->handshake_failures.fetch_add(1, std::memory_order_relaxed);
      core->count(upgrade_result::bad_request);
      co_return;
    }
    beast::get_lowest_layer(ws).expires_never();  // the WebSocket timeouts take over
    parser.reset();
    buffer.reset();
    core->count(upgrade_result::ok);
    co_await read_loop(core, ops);
  }

  template <class Ops>
  static awaitable<void> read_loop(std::shared_ptr<server_core> core, std::shared_ptr<Ops> ops) {
    auto& ws = ops->ws;
    auto conn = std::make_shared<connection>(core, ws.get_executor(), ops,
                                             core->next_connection.fetch_add(1, std::memory_order_relaxed) + 1);
    {
      std::lock_guard lock(core->mu);
      core->open.insert(conn);
    }
    conn->opened();
    if (core->stopped.load()) conn->close(close_reason::server_stopped, 1001, "server stopping");
    close_reason why = close_reason::peer_closed;
    beast::flat_buffer in;
    for (;;) {
      beast::error_code ec;
      co_await ws.async_read(in, net::redirect_error(net::use_awaitable, ec));
      if (ec) {
        if (ec == websocket::error::message_too_big) {
          why = close_reason::oversized_frame;  // Beast has sent close 1009
          spdlog::warn("ari outbound: message over {} bytes; socket closed", outbound_max_frame_bytes);
        }
        break;
      }
      if (ws.got_text()) conn->on_text(beast::buffers_to_string(in.data()));
      in.consume(in.size());
      if (conn->closing()) {  // closed by this frame (no handler, bad first frame): no read is pending
        co_await ops->wait_closed(core->cfg.handshake_timeout);
        break;
      }
      if (in.capacity() > shrink_read_buffer_above) in.shrink_to_fit();
    }
    conn->finished(why);
    ops->abort();  // pending write / close handlers complete (aborted) and release the stream
    std::lock_guard lock(core->mu);
    core->open.erase(conn);
  }

  awaitable<void> accept_loop() {
    auto self = shared_from_this();
    for (;;) {
      beast::error_code ec;
      tcp::socket socket = co_await acceptor.async_accept(net::make_strand(io), net::redirect_error(net::use_awaitable, ec));
      if (stopped.load()) co_return;
      if (ec) {
        spdlog::warn("ari outbound: accept failed: {}", ec.message());
        net::steady_timer pause(acceptor.get_executor());
        pause.expires_after(accept_error_pause);
        co_await pause.async_wait(net::redirect_error(net::use_awaitable, ec));
        if (stopped.load()) co_return;
        continue;
      }
      socket.set_option(tcp::no_delay(true), ec);
      core->live.fetch_add(1, std::memory_order_relaxed);
      auto ex = socket.get_executor();
      net::co_spawn(ex, run(core, tls, std::move(socket)), net::detached);
    }
  }

  // One accepted socket from accept to close; it leaves `live` here, exactly once.
  static awaitable<void> run(std::shared_ptr<server_core> core, std::shared_ptr<ssl::context> tls, tcp::socket s) {
    try {
      if (tls) co_await serve(core, beast::ssl_stream<beast::tcp_stream>(beast::tcp_stream(std::move(s)), *tls));
      else co_await serve(core, beast::tcp_stream(std::move(s)));
    } catch (const std::exception& e) {
      spdlog::error("ari outbound: connection failed: {}", e.what());
    }
    core->live.fetch_sub(1, std::memory_order_relaxed);
  }
};

outbound_server::outbound_server(std::shared_ptr<impl> p) : impl_(std::move(p)) {}
outbound_server::~outbound_server() { stop(); }

result<std::unique_ptr<outbound_server>> outbound_server::create(caf::actor_system& system, net::io_context& io,
                                                                 outbound_server_config config, outbound_hooks hooks) {
  auto core = std::make_shared<server_core>();
  core->cfg = std::move(config);
  core->hooks = std::move(hooks);
  core->system = &system;
  if (!core->cfg.username.empty() || !core->cfg.password.empty())
    core->creds = outbound::credentials(core->cfg.username, core->cfg.password);
  for (const auto& app : core->cfg.apps) {
    if (app.name.empty() || app.name.find(':') != std::string::npos)
      return failure{ari_errc::invalid_argument, "outbound app name must be non-empty without ':': '" + app.name + "'"};
    if (!app.handlers.on_stasis_start) return failure{ari_errc::invalid_argument, "outbound app '" + app.name + "' has no handler"};
    if (!core->apps.emplace(app.name, &app).second)
      return failure{ari_errc::invalid_argument, "outbound app '" + app.name + "' listed twice"};
  }
  if (core->cfg.path.empty() || core->cfg.path.front() != '/')
    return failure{ari_errc::invalid_argument, "outbound path must start with '/'"};
  {
    std::random_device rd;
    static const char* hex = "0123456789abcdef";
    for (int i = 0; i < 8; ++i) core->id_salt += hex[rd() % 16];
    core->id_salt += 'o';
  }
  auto p = std::make_shared<impl>(io, core);
  if (core->cfg.tls_cert_file.empty() != core->cfg.tls_key_file.empty())
    return failure{ari_errc::invalid_argument, "outbound TLS needs both cert_file and key_file"};
  if (!core->cfg.tls_cert_file.empty()) {
    auto ctx = std::make_shared<ssl::context>(ssl::context::tls_server);
    beast::error_code ec;
    ctx->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 | ssl::context::no_sslv3 |
                     ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1);
    ctx->use_certificate_chain_file(core->cfg.tls_cert_file, ec);
    if (ec) return failure{ari_errc::tls_failed, "cert_file " + core->cfg.tls_cert_file + ": " + ec.message()};
    ctx->use_private_key_file(core->cfg.tls_key_file, ssl::context::pem, ec);
    if (ec) return failure{ari_errc::tls_failed, "key_file " + core->cfg.tls_key_file + ": " + ec.message()};
    p->tls = std::move(ctx);
  }
  return std::unique_ptr<outbound_server>(new outbound_server(std::move(p)));
}

std::error_code outbound_server::start() {
  auto& p = *impl_;
  beast::error_code ec;
  auto address = net::ip::make_address(p.core->cfg.host == "localhost" ? "127.0.0.1" : p.core->cfg.host, ec);
  if (ec) return ec;
  tcp::endpoint ep(address, p.core->cfg.port);
  p.acceptor.open(ep.protocol(), ec);
  if (ec) return ec;
  p.acceptor.set_option(net::socket_base::reuse_address(true), ec);
  p.acceptor.bind(ep, ec);
  if (ec) return ec;
  p.acceptor.listen(net::socket_base::max_listen_connections, ec);
  if (ec) return ec;
  p.port = p.acceptor.local_endpoint().port();
  net::co_spawn(p.acceptor.get_executor(), p.accept_loop(), net::detached);
  return {};
}

std::uint16_t outbound_server::local_port() const { return impl_->port; }

void outbound_server::drain() { impl_->core->draining = true; }
bool outbound_server::draining() const { return impl_->core->draining.load(); }

void outbound_server::stop() {
  if (!impl_ || impl_->stopped.exchange(true)) return;
  auto core = impl_->core;
  core->stopped = true;
  core->draining = true;
  net::post(impl_->acceptor.get_executor(), [p = impl_] {
    beast::error_code ec;
    p->acceptor.close(ec);
  });
  std::vector<std::shared_ptr<connection>> open;
  {
    std::lock_guard lock(core->mu);
    open.assign(core->open.begin(), core->open.end());
  }
  for (auto& c : open) c->post([c] { c->close(close_reason::server_stopped, 1001, "server stopping"); });
}

outbound_stats outbound_server::stats() const {
  const auto& c = *impl_->core;
  auto up = [&](upgrade_result r) { return c.upgrades[static_cast<int>(r)].load(); };
  auto closed = [&](close_reason r) { return c.closes[static_cast<int>(r)].load(); };
  outbound_stats s;
  s.upgrades_ok = up(upgrade_result::ok);
  s.unauthorized = up(upgrade_result::unauthorized);
  s.refused_draining = up(upgrade_result::refused_draining);
  s.refused_full = up(upgrade_result::refused_full);
  s.bad_request = up(upgrade_result::bad_request);
  s.not_found = up(upgrade_result::not_found);
  s.handshake_failures = c.handshake_failures.load();
  s.per_call_sockets = c.per_call.load();
  s.persistent_sockets = c.persistent.load();
  s.no_handler = closed(close_reason::no_handler);
  s.bad_first_frame = closed(close_reason::bad_first_frame);
  s.registration_timeouts = closed(close_reason::registration_timeout);
  s.oversized_frames = closed(close_reason::oversized_frame);
  s.call_ended_closes = closed(close_reason::call_ended);
  s.peer_closes = closed(close_reason::peer_closed);
  s.stopped_closes = closed(close_reason::server_stopped);
  s.invalid_frames = c.invalid_frames.load();
  s.unmatched_rest_responses = c.unmatched.load();
  s.requests_failed_on_close = c.failed_on_close.load();
  s.request_timeouts = c.request_timeouts.load();
  s.live_connections = c.live.load();
  s.live_registered = c.live_registered.load();
  s.channel_actors = static_cast<std::size_t>(std::max<std::ptrdiff_t>(0, c.channel_actors.load()));
  s.bridge_actors = static_cast<std::size_t>(std::max<std::ptrdiff_t>(0, c.bridge_actors.load()));
  return s;
}

}  // namespace astra::ari
