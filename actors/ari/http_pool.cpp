// Beast side of the ARI client, part 1: the keep-alive HTTP pool (contract: http_pool.hpp).
#include <utility>  // before Asio: awaitable.hpp uses std::exchange


#include <atomic>
#include <deque>
#include <mutex>
#include <vector>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>

#include "actors/ari/beast_support.hpp"
#include "actors/ari/http_pool.hpp"

namespace astra::ari {
using namespace beast_support;
namespace {

// Methods a server may receive twice with the effect of once (RFC 9110 9.2.2). ARI's POSTs
// (originate, answer, play, create a bridge, ...) are not: a POST is never re-sent once
// any byte of it was written.
bool idempotent(http::verb v) {
  return v == http::verb::get || v == http::verb::head || v == http::verb::put || v == http::verb::delete_ ||
         v == http::verb::options;
}

using http_keepalive::idle_socket_usable;
using http_keepalive::stale_keepalive_error;

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
      if (conn->tls) co_await http_keepalive::exchange(*conn->tls, conn->buffer, req, parser, ec, nothing_sent);
      else co_await http_keepalive::exchange(*conn->plain, conn->buffer, req, parser, ec, nothing_sent);
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

}  // namespace astra::ari
