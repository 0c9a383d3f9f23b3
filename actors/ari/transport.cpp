// Beast side of the ARI client: the HTTP keep-alive pool and the event WebSocket.
// The only translation unit of astra_actors_ari that includes Beast.
#include <utility>  // before Asio: awaitable.hpp uses std::exchange

#include <sys/socket.h>

#include <atomic>
#include <cerrno>
#include <deque>
#include <map>
#include <mutex>
#include <variant>
#include <vector>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>
#include <nlohmann/json.hpp>

#include "actors/ari/event_stream.hpp"
#include "actors/ari/http_pool.hpp"

namespace astra::ari {
namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
namespace ssl = net::ssl;
using tcp = net::ip::tcp;
using steady = std::chrono::steady_clock;
using net::awaitable;

constexpr auto user_agent = "astra-ari/0.1";

failure map_error(const beast::error_code& ec, ari_errc fallback) {
  if (ec == beast::error::timeout || ec == net::error::timed_out) return {ari_errc::timeout, ec.message()};
  if (ec == http::error::body_limit || ec == websocket::error::message_too_big)
    return {ari_errc::response_too_large, ec.message()};
  if (ec == http::error::end_of_stream || ec == net::error::eof || ec == net::error::connection_reset ||
      ec == net::error::broken_pipe || ec == http::error::partial_message || ec == websocket::error::closed ||
      ec == ssl::error::stream_truncated)  // TLS peer gone without close_notify
    return {ari_errc::disconnected, ec.message()};
  if (ec.category() == net::error::get_ssl_category() || ec.category() == net::ssl::error::get_stream_category())
    return {ari_errc::tls_failed, ec.message()};
  if (ec == net::error::operation_aborted) return {ari_errc::cancelled, ec.message()};
  if (ec.category() == http::make_error_code(http::error::bad_target).category()) return {ari_errc::bad_response, ec.message()};
  return {fallback, ec.message()};
}

bool stale_keepalive_error(const beast::error_code& ec) {
  return ec == http::error::end_of_stream || ec == net::error::eof || ec == net::error::connection_reset ||
         ec == net::error::broken_pipe || ec == ssl::error::stream_truncated;
}

// Methods a server may receive twice with the effect of once (RFC 9110 9.2.2). ARI's POSTs
// (originate, answer, play, create a bridge, ...) are not: a POST is never re-sent once
// any byte of it was written.
bool idempotent(http::verb v) {
  return v == http::verb::get || v == http::verb::head || v == http::verb::put || v == http::verb::delete_ ||
         v == http::verb::options;
}

// False if the peer already closed (FIN) or reset (RST) an idle pooled connection, or sent
// anything while it was idle (an HTTP server sends nothing unsolicited; for TLS that is a
// close_notify): such a connection is discarded before a request is written on it.
// Non-blocking peek; the socket must have no operation pending.
bool idle_socket_usable(tcp::socket& s) {
  char byte;
  auto n = ::recv(s.native_handle(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
  return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR);
}

// Sends `host` as the TLS server name (SNI) unless it is an IP address literal, which RFC 6066
// (section 3) does not allow there. Returns false only if OpenSSL refuses the name.
bool set_server_name(SSL* ssl, const std::string& host) {
  beast::error_code ec;
  (void)net::ip::make_address(host, ec);
  if (!ec) return true;
  return SSL_set_tlsext_host_name(ssl, host.c_str()) == 1;
}

// Checks the peer's certificate names `host` (IP address or DNS name) during verification,
// with OpenSSL's own matcher so that a mismatch is reported as such by the verifier.
bool expect_peer_name(SSL* ssl, const std::string& host) {
  beast::error_code ec;
  (void)net::ip::make_address(host, ec);
  X509_VERIFY_PARAM* param = SSL_get0_param(ssl);
  if (!ec) return X509_VERIFY_PARAM_set1_ip_asc(param, host.c_str()) == 1;
  X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
  return SSL_set1_host(ssl, host.c_str()) == 1;
}

// A failed TLS handshake: the TLS error plus, when verifying, the verifier's reason
// ("unable to get local issuer certificate", "IP address mismatch", ...).
failure tls_handshake_failure(const beast::error_code& ec, SSL* ssl, bool verifying) {
  std::string detail = ec.message();
  if (verifying) {
    long v = SSL_get_verify_result(ssl);
    if (v != X509_V_OK) detail += std::string(": ") + X509_verify_cert_error_string(v);
  }
  return {ari_errc::tls_failed, detail};
}

result<std::shared_ptr<ssl::context>> make_tls_context(const client_config& cfg) {
  auto ctx = std::make_shared<ssl::context>(ssl::context::tls_client);
  beast::error_code ec;
  if (cfg.verify_tls) {
    if (!cfg.ca_file.empty()) ctx->load_verify_file(cfg.ca_file, ec);
    else ctx->set_default_verify_paths(ec);
    if (ec) return failure{ari_errc::tls_failed, "CA store: " + ec.message()};
    ctx->set_verify_mode(ssl::verify_peer);
  } else {
    ctx->set_verify_mode(ssl::verify_none);
  }
  return ctx;
}

std::string auth_header_value(const client_config& cfg) {
  if (cfg.use_api_key) return {};
  return "Basic " + base64_encode(cfg.user + ":" + cfg.password);
}

void add_api_key(const client_config& cfg, std::vector<std::pair<std::string, std::string>>& query) {
  if (cfg.use_api_key) query.emplace_back("api_key", cfg.user + ":" + cfg.password);
}

// Resolves with a deadline (the resolver has no timeout of its own).
awaitable<result<tcp::resolver::results_type>> resolve_with_deadline(const endpoint& ep, steady::time_point deadline) {
  auto ex = co_await net::this_coro::executor;
  tcp::resolver resolver(ex);
  net::steady_timer timer(ex);
  timer.expires_at(deadline);
  timer.async_wait([&resolver](beast::error_code e) {
    if (!e) resolver.cancel();
  });
  beast::error_code ec;
  auto results = co_await resolver.async_resolve(ep.host, ep.port, net::redirect_error(net::use_awaitable, ec));
  timer.cancel();
  if (ec == net::error::operation_aborted) co_return failure{ari_errc::timeout, "resolving " + ep.host};
  if (ec) co_return failure{ari_errc::resolve_failed, ep.host + ": " + ec.message()};
  co_return results;
}

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
// HTTP pool
// ------------------------------------------------------------------------------------------

namespace {
struct pooled_connection {
  std::unique_ptr<beast::tcp_stream> plain;
  std::unique_ptr<beast::ssl_stream<beast::tcp_stream>> tls;
  beast::flat_buffer buffer;
  steady::time_point last_used{};
  beast::tcp_stream& lowest() { return plain ? *plain : beast::get_lowest_layer(*tls); }
};

struct pool_job {
  rest_request request;
  rest_callback done;
  steady::time_point deadline;
};
}  // namespace

struct http_pool::impl : std::enable_shared_from_this<http_pool::impl> {
  net::io_context& io;
  client_config cfg;
  endpoint ep;
  std::string authorization;
  std::shared_ptr<ssl::context> tls_ctx;
  reply_observer observer;

  mutable std::mutex mu;  // guards the fields below
  std::vector<std::unique_ptr<pooled_connection>> idle;
  std::size_t open = 0;
  std::deque<pool_job> pending;
  bool stopped = false;
  std::atomic<std::uint64_t> dropped{0};

  impl(net::io_context& io_, client_config c, endpoint e) : io(io_), cfg(std::move(c)), ep(std::move(e)) {}

  void complete(pool_job& job, result<rest_response> r) {
    if (observer) observer(job.request.method, r.ok() ? r->status : 0);
    if (job.done) job.done(std::move(r));
  }

  awaitable<result<std::unique_ptr<pooled_connection>>> connect(steady::time_point deadline) {
    auto connect_deadline = std::min(deadline, steady::now() + cfg.connect_timeout);
    auto resolved = co_await resolve_with_deadline(ep, connect_deadline);
    if (!resolved) co_return resolved.error();
    auto ex = co_await net::this_coro::executor;
    auto c = std::make_unique<pooled_connection>();
    if (ep.tls) {
      c->tls = std::make_unique<beast::ssl_stream<beast::tcp_stream>>(ex, *tls_ctx);
      if (!set_server_name(c->tls->native_handle(), ep.host))
        co_return failure{ari_errc::tls_failed, "cannot set SNI host name"};
      if (cfg.verify_tls && !expect_peer_name(c->tls->native_handle(), ep.host))
        co_return failure{ari_errc::tls_failed, "cannot set the expected peer name " + ep.host};
    } else {
      c->plain = std::make_unique<beast::tcp_stream>(ex);
    }
    beast::error_code ec;
    c->lowest().expires_at(connect_deadline);
    co_await c->lowest().async_connect(*resolved, net::redirect_error(net::use_awaitable, ec));
    if (ec) co_return map_error(ec, ari_errc::connect_failed);
    c->lowest().socket().set_option(tcp::no_delay(true), ec);
    if (c->tls) {
      co_await c->tls->async_handshake(ssl::stream_base::client, net::redirect_error(net::use_awaitable, ec));
      if (ec) co_return tls_handshake_failure(ec, c->tls->native_handle(), cfg.verify_tls);
    }
    co_return std::move(c);
  }

  // nothing_sent: the write failed before any byte of the request left.
  template <class Stream>
  static awaitable<void> exchange(Stream& stream, beast::flat_buffer& buffer, http::request<http::string_body>& req,
                                  http::response_parser<http::string_body>& parser, beast::error_code& ec,
                                  bool& nothing_sent) {
    auto written = co_await http::async_write(stream, req, net::redirect_error(net::use_awaitable, ec));
    nothing_sent = ec && written == 0;
    if (ec) co_return;
    co_await http::async_read(stream, buffer, parser, net::redirect_error(net::use_awaitable, ec));
  }

  // Sends one request on `conn` (connecting if null); conn is reset when unusable afterwards.
  awaitable<result<rest_response>> perform(std::unique_ptr<pooled_connection>& conn, const pool_job& job) {
    auto verb = http::string_to_verb(job.request.method);
    if (verb == http::verb::unknown)
      co_return failure{ari_errc::invalid_argument, "unknown HTTP method " + job.request.method};
    auto query = job.request.query;
    add_api_key(cfg, query);
    std::string target = ep.target(job.request.path);
    if (!query.empty()) target += "?" + encode_query_pairs(query);

    for (int attempt = 0; attempt < 2; ++attempt) {
      if (steady::now() >= job.deadline) co_return failure{ari_errc::timeout, job.request.method + " " + target};
      // A pooled socket the server closed while it was idle (Asterisk drops idle HTTP
      // sessions) is discarded before use: nothing is sent on it.
      if (conn && !idle_socket_usable(conn->lowest().socket())) conn.reset();
      bool reused = conn != nullptr;
      if (!conn) {
        auto c = co_await connect(job.deadline);
        if (!c) co_return c.error();
        conn = std::move(*c);
      }
      http::request<http::string_body> req{verb, target, 11};
      req.set(http::field::host, ep.host_header());
      req.set(http::field::user_agent, user_agent);
      if (!authorization.empty()) req.set(http::field::authorization, authorization);
      if (job.request.body) {
        req.set(http::field::content_type, "application/json");
        req.body() = *job.request.body;
      }
      req.keep_alive(true);
      req.prepare_payload();

      http::response_parser<http::string_body> parser;
      parser.body_limit(max_response_bytes);
      beast::error_code ec;
      bool nothing_sent = false;
      conn->lowest().expires_at(job.deadline);
      if (conn->tls) co_await exchange(*conn->tls, conn->buffer, req, parser, ec, nothing_sent);
      else co_await exchange(*conn->plain, conn->buffer, req, parser, ec, nothing_sent);
      if (ec) {
        conn.reset();
        // Retry policy for a reused keep-alive connection that turned out dead (closed or
        // reset by the server): one more attempt on a fresh connection if no byte of the
        // reply arrived and either nothing of the request was sent or the method is
        // idempotent. A POST that was written may have been received and acted on (the
        // server can process it and then drop the socket), so it is not replayed: it fails
        // with ari_errc::disconnected and the caller decides. A fresh connection is never
        // retried.
        if (reused && attempt == 0 && stale_keepalive_error(ec) && !parser.got_some() &&
            (nothing_sent || idempotent(verb)))
          continue;
        auto f = map_error(ec, ari_errc::bad_response);
        if (steady::now() >= job.deadline) f.code = make_error_code(ari_errc::timeout);  // expiry aborts the op
        f.detail = job.request.method + " " + ep.target(job.request.path) + ": " + f.detail;
        co_return f;
      }
      auto& res = parser.get();
      rest_response out;
      out.status = static_cast<int>(res.result_int());
      out.reason = std::string(res.reason());
      out.content_type = std::string(res[http::field::content_type]);
      bool keep = res.keep_alive();
      out.body = std::move(res.body());
      if (!keep) conn.reset();
      co_return out;
    }
    co_return failure{ari_errc::disconnected, "connection closed twice"};
  }

  static awaitable<void> worker(std::shared_ptr<impl> self, pool_job job, std::unique_ptr<pooled_connection> conn) {
    for (;;) {
      auto r = co_await self->perform(conn, job);
      self->complete(job, std::move(r));
      {
        std::unique_lock lock(self->mu);
        if (!self->pending.empty() && !self->stopped) {
          job = std::move(self->pending.front());
          self->pending.pop_front();
          continue;
        }
        if (conn && !self->stopped) {
          conn->last_used = steady::now();
          self->idle.push_back(std::move(conn));
        } else {
          --self->open;
        }
        break;
      }
    }
  }
};

http_pool::http_pool(std::shared_ptr<impl> p) : impl_(std::move(p)) {}
http_pool::~http_pool() { stop(); }

result<std::shared_ptr<http_pool>> http_pool::create(net::io_context& io, const client_config& config,
                                                     reply_observer observer) {
  auto ep = parse_endpoint(config.url);
  if (!ep) return ep.error();
  auto p = std::make_shared<impl>(io, config, *ep);
  p->authorization = auth_header_value(config);
  p->observer = std::move(observer);
  if (p->cfg.max_connections == 0) p->cfg.max_connections = 1;
  if (ep->tls) {
    auto ctx = make_tls_context(config);
    if (!ctx) return ctx.error();
    p->tls_ctx = *ctx;
  }
  return std::shared_ptr<http_pool>(new http_pool(std::move(p)));
}

void http_pool::send(rest_request request, rest_callback done, std::chrono::milliseconds timeout) {
  auto& d = *impl_;
  if (timeout.count() <= 0) timeout = d.cfg.request_timeout;
  pool_job job{std::move(request), std::move(done), steady::now() + timeout};
  std::unique_ptr<pooled_connection> conn;
  {
    std::unique_lock lock(d.mu);
    if (d.stopped) {
      lock.unlock();
      d.complete(job, failure{ari_errc::cancelled, "pool stopped"});
      return;
    }
    auto now = steady::now();
    while (!d.idle.empty()) {
      auto c = std::move(d.idle.back());
      d.idle.pop_back();
      if (now - c->last_used < d.cfg.idle_connection_max) {
        conn = std::move(c);
        break;
      }
      --d.open;  // stale idle socket: dropped (closed by its destructor; no operation pending on it)
    }
    if (!conn) {
      if (d.open >= d.cfg.max_connections) {
        if (d.pending.size() >= d.cfg.max_pending_requests) {
          d.dropped.fetch_add(1, std::memory_order_relaxed);
          lock.unlock();
          d.complete(job, failure{ari_errc::queue_full, "ARI HTTP request queue (" +
                                                            std::to_string(d.cfg.max_pending_requests) + ") full"});
          return;
        }
        d.pending.push_back(std::move(job));
        return;
      }
      ++d.open;
    }
  }
  net::co_spawn(d.io.get_executor(), impl::worker(impl_, std::move(job), std::move(conn)), net::detached);
}

void http_pool::stop() {
  std::deque<pool_job> cancelled;
  {
    std::lock_guard lock(impl_->mu);
    if (impl_->stopped) return;
    impl_->stopped = true;
    cancelled.swap(impl_->pending);
    impl_->open -= impl_->idle.size();
    impl_->idle.clear();
  }
  for (auto& job : cancelled) impl_->complete(job, failure{ari_errc::cancelled, "pool stopped"});
}

std::size_t http_pool::open_connections() const {
  std::lock_guard lock(impl_->mu);
  return impl_->open;
}
std::size_t http_pool::idle_connections() const {
  std::lock_guard lock(impl_->mu);
  return impl_->idle.size();
}
std::uint64_t http_pool::dropped() const { return impl_->dropped.load(std::memory_order_relaxed); }

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

  impl(net::io_context& io_, client_config c, endpoint e)
      : io(io_), strand(net::make_strand(io_)), cfg(std::move(c)), ep(std::move(e)), retry(cfg.reconnect),
        retry_timer(strand) {}

  template <class F>
  void emit(F&& f) {
    std::lock_guard lock(cb_mu);
    if (!stopped.load()) f();
  }

  std::string events_target() const {
    std::vector<std::pair<std::string, std::string>> q;
    std::string apps;
    for (const auto& a : cfg.apps) {
      if (!apps.empty()) apps += ',';
      apps += a;
    }
    q.emplace_back("app", apps);
    if (cfg.subscribe_all) q.emplace_back("subscribeAll", "true");
    add_api_key(cfg, q);
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

  template <class Ws>
  awaitable<failure> handshake_and_read(Ws& ws, steady::time_point deadline) {
    websocket::stream_base::timeout opt{};
    opt.handshake_timeout = cfg.connect_timeout;
    opt.idle_timeout = cfg.dead_peer_timeout;
    opt.keep_alive_pings = true;
    ws.set_option(opt);
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
    retry.reset();
    emit([&] {
      if (cb.connected) cb.connected();
    });
    if (cfg.rest_over_websocket) probe_rest();
    auto why = co_await read_loop(ws);
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
      auto delay = self->retry.next();
      self->emit([&] {
        if (self->cb.disconnected) self->cb.disconnected(why, delay);
      });
      self->retry_timer.expires_after(delay);
      beast::error_code ec;
      co_await self->retry_timer.async_wait(net::redirect_error(net::use_awaitable, ec));
    }
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
