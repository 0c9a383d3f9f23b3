// Beast side of the ARI client, part 2: the /ari/events WebSocket with reconnect and REST
// over WebSocket (contract: event_stream.hpp).
#include <utility>  // before Asio: awaitable.hpp uses std::exchange

#include <algorithm>
#include <atomic>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <variant>
#include <vector>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/websocket/ssl.hpp>
#include <nlohmann/json.hpp>

#include "actors/ari/beast_support.hpp"
#include "actors/ari/event_stream.hpp"
#include "actors/ari/events_target.hpp"

namespace astra::ari {

std::string events_target(const client_config& cfg, const endpoint& ep) {
  std::vector<std::pair<std::string, std::string>> q;
  std::string apps;
  for (const auto& a : cfg.apps) {
    if (!apps.empty()) apps += ',';
    apps += a;
  }
  q.emplace_back("app", apps);
  if (cfg.subscribe_all) q.emplace_back("subscribeAll", "true");
  beast_support::add_api_key(cfg, q);
  std::string target = ep.target("events") + "?" + encode_query_pairs(q);
  // Asterisk splits the app list on ',' before decoding: keep the commas literal.
  std::string out;
  for (std::size_t i = 0; i < target.size(); ++i) {
    if (target.compare(i, 3, "%2C") == 0) {
      out += ',';
      i += 2;
    } else {
      out += target[i];
    }
  }
  return out;
}
using namespace beast_support;
namespace {

// Text of a refused upgrade / HTML error page: JSON "message", else the first <p>, else the reason.
std::string refusal_text(int status, std::string_view reason, std::string_view body) {
  auto doc = nlohmann::json::parse(body, nullptr, false);
  if (doc.is_object() && doc.contains("message") && doc["message"].is_string())
    return doc["message"].get<std::string>();
  auto p = body.find("<p>");
  if (p != std::string_view::npos) {
    auto e = body.find("</p>", p);
    if (e != std::string_view::npos) return std::string(body.substr(p + 3, e - p - 3));
  }
  return std::string(reason);
}

}  // namespace

// ------------------------------------------------------------------------------------------
// Event WebSocket
// ------------------------------------------------------------------------------------------

namespace {
using plain_ws = websocket::stream<beast::tcp_stream>;
using tls_ws = websocket::stream<beast::ssl_stream<beast::tcp_stream>>;

struct pending_rest {
  rest_callback done;
  std::unique_ptr<net::steady_timer> timer;
};
}  // namespace

struct event_stream::impl : std::enable_shared_from_this<event_stream::impl> {
  net::io_context& io;
  net::strand<net::io_context::executor_type> strand;
  client_config cfg;
  endpoint ep;
  std::string authorization;
  std::shared_ptr<ssl::context> tls_ctx;
  event_stream_callbacks cb;
  backoff retry;

  // Callback guard: emit() holds it while a callback runs; stop() takes it to flip `stopped`.
  std::recursive_mutex cb_mu;
  std::atomic<bool> stopped{false};
  std::atomic<bool> reconnect{true};
  std::atomic<bool> is_connected{false};
  std::atomic<bool> rest_ok{false};
  std::atomic<std::uint64_t> connect_count{0};
  std::atomic<std::size_t> queued_writes{0};

  // Strand-only state.
  std::variant<std::monostate, plain_ws*, tls_ws*> current;
  std::deque<std::string> write_queue;
  bool writing = false;
  std::uint64_t generation = 0;  // bumped when a socket is dropped
  std::map<std::string, pending_rest> rest_pending;
  std::uint64_t next_request_id = 0;
  net::steady_timer retry_timer;
  // The session being run: did its handshake succeed (when), was it ended by drop() (why).
  bool handshook = false;
  steady::time_point handshook_at{};
  std::optional<failure> dropped_why;
  // Dead-peer check of the current session (strand-only): when a frame (data or control) was
  // last received, whether our ping is unanswered, whether the watchdog closed the socket.
  steady::time_point last_rx{};
  bool ping_outstanding = false;
  bool dead_peer = false;

  impl(net::io_context& io_, client_config c, endpoint e)
      : io(io_), strand(net::make_strand(io_)), cfg(std::move(c)), ep(std::move(e)), retry(cfg.reconnect),
        retry_timer(strand) {}

  template <class F>
  void emit(F&& f) {
    std::lock_guard lock(cb_mu);
    if (!stopped.load()) f();
  }

  std::string events_target() const { return ari::events_target(cfg, ep); }

  // --- strand: writes -----------------------------------------------------------------------
  void start_write() {
    if (writing || write_queue.empty()) return;
    if (std::holds_alternative<std::monostate>(current)) {
      queued_writes -= write_queue.size();
      write_queue.clear();
      return;
    }
    writing = true;
    auto self = shared_from_this();
    auto on_written = net::bind_executor(strand, [self, gen = generation](beast::error_code ec, std::size_t) {
      if (gen != self->generation) return;  // that socket is gone; its queue was already discarded
      self->writing = false;
      self->write_queue.pop_front();
      --self->queued_writes;
      if (ec) return;  // the read loop sees the failure and reconnects
      self->start_write();
    });
    if (auto** p = std::get_if<plain_ws*>(&current)) {
      (*p)->text(true);
      (*p)->async_write(net::buffer(write_queue.front()), std::move(on_written));
    } else if (auto** t = std::get_if<tls_ws*>(&current)) {
      (*t)->text(true);
      (*t)->async_write(net::buffer(write_queue.front()), std::move(on_written));
    }
  }

  // --- strand: REST over WebSocket ----------------------------------------------------------
  void fail_all_rest(const failure& f) {
    auto pending = std::move(rest_pending);
    rest_pending.clear();
    for (auto& [id, p] : pending) {
      p.timer->cancel();
      if (p.done) p.done(f);
    }
  }

  void start_rest(rest_request request, rest_callback done, std::chrono::milliseconds timeout) {
    if (std::holds_alternative<std::monostate>(current)) {
      done(failure{ari_errc::not_connected, request.method + " " + request.path});
      return;
    }
    if (queued_writes.load() >= max_pending_ws_writes) {
      done(failure{ari_errc::queue_full, "WebSocket write queue full"});
      return;
    }
    std::string id = "astra-" + std::to_string(++next_request_id);
    std::string frame = encode_ws_request(request, id);
    if (timeout.count() <= 0) timeout = cfg.request_timeout;
    auto timer = std::make_unique<net::steady_timer>(strand);
    timer->expires_after(timeout);
    auto self = shared_from_this();
    timer->async_wait([self, id](beast::error_code ec) {
      if (ec) return;
      auto it = self->rest_pending.find(id);
      if (it == self->rest_pending.end()) return;
      auto done = std::move(it->second.done);
      self->rest_pending.erase(it);
      done(failure{ari_errc::timeout, "RESTResponse " + id});
    });
    rest_pending.emplace(id, pending_rest{std::move(done), std::move(timer)});
    ++queued_writes;
    write_queue.push_back(std::move(frame));
    start_write();
  }

  // True if the frame was a RESTResponse (consumed here).
  bool handle_rest_response(const std::string& text) {
    if (text.find("\"RESTResponse\"") == std::string::npos) return false;
    auto doc = nlohmann::json::parse(text, nullptr, false);
    if (!doc.is_object() || doc.value("type", "") != "RESTResponse") return false;
    rest_response r;
    r.status = doc.value("status_code", 0);
    r.reason = doc.value("reason_phrase", "");
    r.content_type = doc.value("content_type", "");
    r.body = doc.value("message_body", "");
    std::string id = doc.value("request_id", "");
    auto it = rest_pending.find(id);
    if (id.empty() || it == rest_pending.end()) {
      emit([&] {
        if (cb.unmatched_rest_response) cb.unmatched_rest_response(r.status, error_message(r));
      });
      return true;
    }
    auto done = std::move(it->second.done);
    it->second.timer->cancel();
    rest_pending.erase(it);
    done(std::move(r));
    return true;
  }

  void probe_rest() {
    rest_ok = false;
    rest_request ping;
    ping.method = "GET";
    ping.path = "/ari/asterisk/ping";
    // Weak: the callback is stored in rest_pending, which this impl owns (a strong capture would
    // keep the stream alive for good if the io_context stopped before the probe settled).
    start_rest(std::move(ping), [weak = weak_from_this()](result<rest_response> r) {
      auto self = weak.lock();
      if (!self) return;
      bool ok = r.ok();  // any RESTResponse, even an error status, proves support
      self->rest_ok = ok;
      self->emit([&] {
        if (self->cb.rest_probe) self->cb.rest_probe(ok);
      });
    }, cfg.probe_timeout);
  }

  // --- strand: session ---------------------------------------------------------------------
  template <class Ws>
  awaitable<failure> read_loop(Ws& ws) {
    beast::flat_buffer buffer;
    for (;;) {
      beast::error_code ec;
      co_await ws.async_read(buffer, net::redirect_error(net::use_awaitable, ec));
      if (ec) {
        if (ec == websocket::error::closed) {
          auto reason = ws.reason();
          co_return failure{ari_errc::disconnected,
                            "closed by Asterisk (code " + std::to_string(reason.code) + ")"};
        }
        co_return map_error(ec, ari_errc::disconnected);
      }
      last_rx = steady::now();
      if (!ws.got_text()) {
        buffer.consume(buffer.size());
        continue;
      }
      std::string text = beast::buffers_to_string(buffer.data());
      buffer.consume(buffer.size());
      if (handle_rest_response(text)) continue;
      emit([&] {
        if (cb.frame) cb.frame(std::move(text));
      });
    }
  }

  // The dead-peer check (contract in event_stream.hpp) on one coarse timer per session, ticking
  // every dead_peer_timeout/4: Beast's own idle timeout re-armed a timer (a timerfd_settime and
  // an extra epoll pass) on every frame read, most of the stream's cost in an event flood.
  // Silence is measured from the last frame received, data or control (pong); a ping goes out
  // after dead_peer_timeout/2 of it, the socket is closed as dead after dead_peer_timeout (so
  // within dead_peer_timeout * 5/4 of the last frame at the latest).
  template <class Ws>
  void watch_peer(Ws& ws, net::steady_timer& timer, std::uint64_t gen) {
    const auto tick = std::max<steady::duration>(cfg.dead_peer_timeout / 4, std::chrono::milliseconds(1));
    timer.expires_after(tick);
    // `ws` and `timer` outlive every run of this handler that finds no error: the session
    // cancels the timer before either is destroyed, and `gen` tells a later session apart.
    timer.async_wait([self = shared_from_this(), &ws, &timer, gen](const beast::error_code& ec) {
      if (ec || gen != self->generation || std::holds_alternative<std::monostate>(self->current)) return;
      const auto silent = steady::now() - self->last_rx;
      if (silent >= self->cfg.dead_peer_timeout) {
        self->dead_peer = true;
        beast::error_code ignored;
        beast::get_lowest_layer(ws).socket().close(ignored);  // the read loop ends with an error
        return;
      }
      if (silent >= self->cfg.dead_peer_timeout / 2 && !self->ping_outstanding) {
        self->ping_outstanding = true;
        ws.async_ping({}, net::bind_executor(self->strand, [self, gen](const beast::error_code&) {
          if (gen == self->generation) self->ping_outstanding = false;
        }));
      }
      self->watch_peer(ws, timer, gen);
    });
  }

  template <class Ws>
  awaitable<failure> handshake_and_read(Ws& ws, steady::time_point deadline) {
    websocket::stream_base::timeout opt{};
    opt.handshake_timeout = cfg.connect_timeout;
    opt.idle_timeout = websocket::stream_base::none();  // watch_peer() checks for a dead peer
    opt.keep_alive_pings = false;
    ws.set_option(opt);
    ws.control_callback([this](websocket::frame_type, beast::string_view) { last_rx = steady::now(); });
    ws.read_message_max(max_event_frame_bytes);
    auto auth = authorization;
    ws.set_option(websocket::stream_base::decorator([auth](websocket::request_type& req) {
      req.set(http::field::user_agent, user_agent);
      if (!auth.empty()) req.set(http::field::authorization, auth);
    }));
    beast::get_lowest_layer(ws).expires_never();  // the websocket timeouts take over
    websocket::response_type res;
    beast::error_code ec;
    co_await ws.async_handshake(res, ep.host_header(), events_target(), net::redirect_error(net::use_awaitable, ec));
    if (ec) {
      if (ec == websocket::error::upgrade_declined || res.result_int() >= 300) {
        int status = static_cast<int>(res.result_int());
        co_return failure{ari_errc::upgrade_refused,
                          std::to_string(status) + " " + refusal_text(status, res.reason(), res.body())};
      }
      co_return map_error(ec, ari_errc::connect_failed);
    }
    if (stopped.load()) co_return failure{ari_errc::cancelled, "event stream stopped"};
    current = &ws;
    is_connected = true;
    connect_count.fetch_add(1);
    handshook = true;
    handshook_at = steady::now();
    emit([&] {
      if (cb.connected) cb.connected();
    });
    if (cfg.rest_over_websocket) probe_rest();
    last_rx = steady::now();
    ping_outstanding = false;
    dead_peer = false;
    net::steady_timer watchdog(strand);
    watch_peer(ws, watchdog, generation);
    auto why = co_await read_loop(ws);
    watchdog.cancel();
    if (dead_peer)
      why = failure{ari_errc::timeout, "nothing received from Asterisk for " + std::to_string(cfg.dead_peer_timeout.count()) +
                                           " ms (a ping went unanswered): dead peer"};
    if (dropped_why) why = *dropped_why;  // closed by drop(): its reason, not the aborted read's
    current = std::monostate{};
    is_connected = false;
    rest_ok = false;
    ++generation;
    queued_writes -= write_queue.size();
    write_queue.clear();
    writing = false;
    beast::get_lowest_layer(ws).socket().close(ec);  // pending Beast ops hold the stream state weakly
    fail_all_rest(failure{ari_errc::disconnected, why.detail});
    co_return why;
  }

  awaitable<failure> session() {
    handshook = false;
    dropped_why.reset();
    auto deadline = steady::now() + cfg.connect_timeout;
    auto resolved = co_await resolve_with_deadline(ep, deadline);
    if (!resolved) co_return resolved.error();
    beast::error_code ec;
    if (ep.tls) {
      tls_ws ws(strand, *tls_ctx);
      if (!set_server_name(ws.next_layer().native_handle(), ep.host))
        co_return failure{ari_errc::tls_failed, "cannot set SNI host name"};
      if (cfg.verify_tls && !expect_peer_name(ws.next_layer().native_handle(), ep.host))
        co_return failure{ari_errc::tls_failed, "cannot set the expected peer name " + ep.host};
      beast::get_lowest_layer(ws).expires_at(deadline);
      co_await beast::get_lowest_layer(ws).async_connect(*resolved, net::redirect_error(net::use_awaitable, ec));
      if (ec) co_return map_error(ec, ari_errc::connect_failed);
      co_await ws.next_layer().async_handshake(ssl::stream_base::client, net::redirect_error(net::use_awaitable, ec));
      if (ec) co_return tls_handshake_failure(ec, ws.next_layer().native_handle(), cfg.verify_tls);
      co_return co_await handshake_and_read(ws, deadline);
    }
    plain_ws ws(strand);
    beast::get_lowest_layer(ws).expires_at(deadline);
    co_await beast::get_lowest_layer(ws).async_connect(*resolved, net::redirect_error(net::use_awaitable, ec));
    if (ec) co_return map_error(ec, ari_errc::connect_failed);
    beast::get_lowest_layer(ws).socket().set_option(tcp::no_delay(true), ec);
    co_return co_await handshake_and_read(ws, deadline);
  }

  static awaitable<void> run(std::shared_ptr<impl> self) {
    while (!self->stopped.load()) {
      auto why = co_await self->session();
      if (self->stopped.load()) break;
      if (!self->reconnect.load()) {
        self->emit([&] {
          if (self->cb.disconnected) self->cb.disconnected(why, std::chrono::milliseconds(-1));
        });
        break;
      }
      // A connection that got subscribed resets the backoff, unless it was dropped (taken
      // over by another client) before it had lasted the backoff cap.
      bool dropped = self->dropped_why.has_value();
      if (self->handshook && (!dropped || steady::now() - self->handshook_at >= self->cfg.reconnect.max))
        self->retry.reset();
      auto delay = self->retry.next();
      self->emit([&] {
        if (self->cb.disconnected) self->cb.disconnected(why, delay);
      });
      self->retry_timer.expires_after(delay);
      beast::error_code ec;
      co_await self->retry_timer.async_wait(net::redirect_error(net::use_awaitable, ec));
    }
  }

  void drop_now(failure why, std::uint64_t connection) {  // strand
    if (stopped.load() || connection != connect_count.load() || std::holds_alternative<std::monostate>(current)) return;
    dropped_why = std::move(why);
    beast::error_code ec;
    if (auto** p = std::get_if<plain_ws*>(&current)) beast::get_lowest_layer(**p).socket().close(ec);
    else if (auto** t = std::get_if<tls_ws*>(&current)) beast::get_lowest_layer(**t).socket().close(ec);
  }

  void close_now() {  // strand
    retry_timer.cancel();
    beast::error_code ec;
    if (auto** p = std::get_if<plain_ws*>(&current)) beast::get_lowest_layer(**p).socket().close(ec);
    else if (auto** t = std::get_if<tls_ws*>(&current)) beast::get_lowest_layer(**t).socket().close(ec);
    fail_all_rest(failure{ari_errc::cancelled, "event stream stopped"});
  }
};

event_stream::event_stream(std::shared_ptr<impl> p) : impl_(std::move(p)) {}
event_stream::~event_stream() { stop(); }

result<std::shared_ptr<event_stream>> event_stream::create(net::io_context& io, const client_config& config,
                                                           event_stream_callbacks callbacks) {
  auto ep = parse_endpoint(config.url);
  if (!ep) return ep.error();
  if (config.apps.empty()) return failure{ari_errc::invalid_argument, "at least one Stasis application is required"};
  auto p = std::make_shared<impl>(io, config, *ep);
  p->authorization = auth_header_value(config);
  p->cb = std::move(callbacks);
  if (ep->tls) {
    auto ctx = make_tls_context(config);
    if (!ctx) return ctx.error();
    p->tls_ctx = *ctx;
  }
  return std::shared_ptr<event_stream>(new event_stream(std::move(p)));
}

void event_stream::start() { net::co_spawn(impl_->strand, impl::run(impl_), net::detached); }

void event_stream::stop() {
  {
    std::lock_guard lock(impl_->cb_mu);
    if (impl_->stopped.exchange(true)) return;
  }
  net::post(impl_->strand, [self = impl_] { self->close_now(); });
}

void event_stream::set_reconnect(bool enabled) { impl_->reconnect = enabled; }

void event_stream::drop(failure why, std::uint64_t connection) {
  net::post(impl_->strand, [self = impl_, why = std::move(why), connection]() mutable {
    self->drop_now(std::move(why), connection);
  });
}
bool event_stream::connected() const { return impl_->is_connected.load(); }
bool event_stream::rest_supported() const { return impl_->rest_ok.load(); }
std::uint64_t event_stream::connects() const { return impl_->connect_count.load(); }

void event_stream::send_rest(rest_request request, rest_callback done, std::chrono::milliseconds timeout) {
  net::post(impl_->strand, [self = impl_, request = std::move(request), done = std::move(done), timeout]() mutable {
    self->start_rest(std::move(request), std::move(done), timeout);
  });
}

bool event_stream::send_text(std::string frame) {
  if (!impl_->is_connected.load() || impl_->queued_writes.load() >= max_pending_ws_writes) return false;
  ++impl_->queued_writes;
  net::post(impl_->strand, [self = impl_, frame = std::move(frame)]() mutable {
    self->write_queue.push_back(std::move(frame));
    self->start_write();
  });
  return true;
}

}  // namespace astra::ari
