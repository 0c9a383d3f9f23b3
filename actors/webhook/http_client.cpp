// Beast side of the webhook HTTP client (contract: http_client.hpp).
#include <utility>  // before Asio: awaitable.hpp uses std::exchange


#include <deque>
#include <map>
#include <mutex>
#include <optional>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>

#include "actors/common/http_keepalive.hpp"
#include "actors/webhook/http_client.hpp"
#include "protocols/webhook/url.hpp"

namespace astra::webhook {

namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = net::ssl;
using tcp = net::ip::tcp;
using steady = std::chrono::steady_clock;
using net::awaitable;

constexpr auto user_agent = "astra-webhook/0.1";

failure fail(webhook_errc e, std::string detail) { return failure{make_error_code(e), std::move(detail)}; }

failure map_error(const beast::error_code& ec, const std::string& where) {
  if (ec == beast::error::timeout || ec == net::error::timed_out || ec == net::error::operation_aborted)
    return fail(webhook_errc::timeout, where + ": " + ec.message());
  if (ec == http::error::body_limit) return fail(webhook_errc::body_too_large, where + ": " + ec.message());
  return fail(webhook_errc::connection_failed, where + ": " + ec.message());
}

using http_keepalive::idle_socket_usable;
using http_keepalive::stale_keepalive_error;

struct connection {
  std::unique_ptr<beast::tcp_stream> plain;
  std::unique_ptr<beast::ssl_stream<beast::tcp_stream>> tls;
  beast::flat_buffer buffer;
  steady::time_point last_used{};
  beast::tcp_stream& lowest() { return plain ? *plain : beast::get_lowest_layer(*tls); }
};

struct job {
  url where;
  http_request request;
  http_callback done;
  steady::time_point deadline;
  std::uint64_t ticket = 0;  // identifies a waiting job for its deadline timer
};

// One host's sockets and waiting requests (guarded by http_client::impl::mu).
struct host_pool {
  std::vector<std::unique_ptr<connection>> idle;
  std::size_t open = 0;
  std::deque<job> waiting;
};

}  // namespace

struct http_client::impl : std::enable_shared_from_this<http_client::impl> {
  net::io_context& io;
  http_options options;
  std::shared_ptr<ssl::context> tls_ctx;

  mutable std::mutex mu;  // guards the fields below
  std::map<std::string, host_pool> hosts;  // key: "https://host:port"
  bool stopped = false;
  std::uint64_t next_ticket = 1;

  impl(net::io_context& io_, http_options o) : io(io_), options(std::move(o)) {}

  static std::string key_of(const url& u) { return (u.tls ? "https://" : "http://") + u.authority(); }

  awaitable<result<std::unique_ptr<connection>>> connect(const url& u, steady::time_point deadline) {
    auto ex = co_await net::this_coro::executor;
    // The resolver lives in shared ownership with the deadline timer's handler (which may
    // run after this frame moved on).
    auto resolver = std::make_shared<tcp::resolver>(ex);
    net::steady_timer timer(ex);
    timer.expires_at(deadline);
    timer.async_wait([resolver](beast::error_code e) {
      if (!e) resolver->cancel();
    });
    beast::error_code ec;
    auto resolved = co_await resolver->async_resolve(u.host, std::to_string(u.port), net::redirect_error(net::use_awaitable, ec));
    timer.cancel();
    if (ec == net::error::operation_aborted) co_return fail(webhook_errc::timeout, "resolving " + u.host);
    if (ec) co_return fail(webhook_errc::connection_failed, "resolving " + u.host + ": " + ec.message());

    auto c = std::make_unique<connection>();
    if (u.tls) {
      if (!tls_ctx) co_return fail(webhook_errc::connection_failed, "no TLS context");
      c->tls = std::make_unique<beast::ssl_stream<beast::tcp_stream>>(ex, *tls_ctx);
      SSL* s = c->tls->native_handle();
      if (!http_keepalive::set_server_name(s, u.host)) co_return fail(webhook_errc::connection_failed, "cannot set SNI host name");
      if (options.verify_tls && !http_keepalive::expect_peer_name(s, u.host))
        co_return fail(webhook_errc::connection_failed, "cannot set the expected peer name " + u.host);
    } else {
      c->plain = std::make_unique<beast::tcp_stream>(ex);
    }
    c->lowest().expires_at(deadline);
    co_await c->lowest().async_connect(resolved, net::redirect_error(net::use_awaitable, ec));
    if (ec) co_return map_error(ec, "connecting to " + u.authority());
    c->lowest().socket().set_option(tcp::no_delay(true), ec);
    if (c->tls) {
      co_await c->tls->async_handshake(ssl::stream_base::client, net::redirect_error(net::use_awaitable, ec));
      if (ec) {
        const std::string detail =
            "TLS with " + u.authority() + ": " + http_keepalive::tls_handshake_detail(ec, c->tls->native_handle(), options.verify_tls);
        co_return fail(steady::now() >= deadline ? webhook_errc::timeout : webhook_errc::connection_failed, detail);
      }
    }
    co_return std::move(c);
  }

  awaitable<result<http_response>> perform(std::unique_ptr<connection>& conn, const job& j) {
    const std::string where = "POST " + key_of(j.where) + j.where.target;
    for (int attempt = 0; attempt < 2; ++attempt) {
      if (steady::now() >= j.deadline) co_return fail(webhook_errc::timeout, where);
      if (conn && !idle_socket_usable(conn->lowest().socket())) conn.reset();
      const bool reused = conn != nullptr;
      if (!conn) {
        auto c = co_await connect(j.where, j.deadline);
        if (!c) co_return c.error();
        conn = std::move(*c);
      }
      http::request<http::string_body> req{http::verb::post, j.where.target, 11};
      req.set(http::field::host, j.where.host_header());
      req.set(http::field::user_agent, user_agent);
      req.set(http::field::content_type, "application/json");
      req.set(http::field::accept, "application/json");
      for (const auto& [name, value] : j.request.headers) req.set(name, value);
      req.body() = j.request.body;
      req.keep_alive(true);
      req.prepare_payload();

      http::response_parser<http::string_body> parser;
      parser.body_limit(options.max_response_bytes);
      parser.header_limit(16 * 1024);
      beast::error_code ec;
      bool nothing_sent = false;
      conn->lowest().expires_at(j.deadline);
      if (conn->tls) co_await http_keepalive::exchange(*conn->tls, conn->buffer, req, parser, ec, nothing_sent);
      else co_await http_keepalive::exchange(*conn->plain, conn->buffer, req, parser, ec, nothing_sent);
      if (ec) {
        conn.reset();
        // Only a POST of which nothing was written is replayed (on a fresh socket, once).
        if (reused && attempt == 0 && stale_keepalive_error(ec) && !parser.got_some() && nothing_sent) continue;
        auto f = map_error(ec, where);
        if (steady::now() >= j.deadline) f.code = make_error_code(webhook_errc::timeout);
        co_return f;
      }
      auto& res = parser.get();
      http_response out;
      out.status = static_cast<int>(res.result_int());
      out.content_type = std::string(res[http::field::content_type]);
      const bool keep = res.keep_alive();
      out.body = std::move(res.body());
      if (!keep) conn.reset();
      co_return out;
    }
    co_return fail(webhook_errc::connection_failed, where + ": connection closed twice");
  }

  static awaitable<void> worker(std::shared_ptr<impl> self, std::string key, job j, std::unique_ptr<connection> conn) {
    for (;;) {
      auto r = co_await self->perform(conn, j);
      j.done(std::move(r));
      std::unique_lock lock(self->mu);
      auto& pool = self->hosts[key];
      if (!pool.waiting.empty() && !self->stopped) {
        j = std::move(pool.waiting.front());
        pool.waiting.pop_front();
        continue;
      }
      if (conn && !self->stopped) {
        conn->last_used = steady::now();
        pool.idle.push_back(std::move(conn));
      } else {
        --pool.open;
      }
      break;
    }
  }

  // The deadline of a waiting request: fails it if it is still waiting then.
  void arm_wait_deadline(const std::string& key, std::uint64_t ticket, steady::time_point deadline) {
    auto timer = std::make_shared<net::steady_timer>(io, deadline);
    timer->async_wait([weak = weak_from_this(), key, ticket, timer](beast::error_code) {
      auto self = weak.lock();
      if (!self) return;
      std::optional<job> expired;
      {
        std::lock_guard lock(self->mu);
        auto& waiting = self->hosts[key].waiting;
        for (auto it = waiting.begin(); it != waiting.end(); ++it)
          if (it->ticket == ticket) {
            expired.emplace(std::move(*it));
            waiting.erase(it);
            break;
          }
      }
      if (expired)
        expired->done(fail(webhook_errc::timeout, "no free connection to " + key + " within the request's deadline (" +
                                                      std::to_string(self->options.max_connections_per_host) +
                                                      " connections busy)"));
    });
  }
};

http_client::http_client(std::shared_ptr<impl> p) : impl_(std::move(p)) {}
http_client::~http_client() { stop(); }

result<std::shared_ptr<http_client>> http_client::create(net::io_context& io, http_options options) {
  if (options.max_connections_per_host == 0) options.max_connections_per_host = 1;
  auto p = std::make_shared<impl>(io, std::move(options));
  auto ctx = std::make_shared<ssl::context>(ssl::context::tls_client);
  beast::error_code ec;
  if (p->options.verify_tls) {
    if (!p->options.ca_file.empty()) ctx->load_verify_file(p->options.ca_file, ec);
    else ctx->set_default_verify_paths(ec);
    if (ec) return fail(webhook_errc::connection_failed, "CA store " + p->options.ca_file + ": " + ec.message());
    ctx->set_verify_mode(ssl::verify_peer);
  } else {
    ctx->set_verify_mode(ssl::verify_none);
  }
  p->tls_ctx = std::move(ctx);
  return std::shared_ptr<http_client>(new http_client(std::move(p)));
}

void http_client::post(http_request request, http_callback done) {
  auto& d = *impl_;
  auto where = parse_url(request.url);
  if (!where) {
    done(where.error());
    return;
  }
  const auto timeout = request.timeout.count() > 0 ? request.timeout : std::chrono::milliseconds(5'000);
  job j{std::move(*where), std::move(request), std::move(done), steady::now() + timeout, 0};
  const std::string key = impl::key_of(j.where);
  std::unique_ptr<connection> conn;
  {
    std::unique_lock lock(d.mu);
    if (d.stopped) {
      lock.unlock();
      j.done(fail(webhook_errc::connection_failed, "webhook client stopped"));
      return;
    }
    auto& pool = d.hosts[key];
    const auto now = steady::now();
    while (!pool.idle.empty()) {
      auto c = std::move(pool.idle.back());
      pool.idle.pop_back();
      if (now - c->last_used < d.options.idle_max) {
        conn = std::move(c);
        break;
      }
      --pool.open;  // idle too long: closed by its destructor
    }
    if (!conn) {
      if (pool.open >= d.options.max_connections_per_host) {
        if (pool.waiting.size() >= d.options.max_waiting_per_host) {
          lock.unlock();
          j.done(fail(webhook_errc::timeout, "all " + std::to_string(d.options.max_connections_per_host) +
                                                 " connections to " + key + " busy and " +
                                                 std::to_string(d.options.max_waiting_per_host) + " requests waiting"));
          return;
        }
        j.ticket = d.next_ticket++;
        const auto ticket = j.ticket;
        const auto deadline = j.deadline;
        pool.waiting.push_back(std::move(j));
        lock.unlock();
        d.arm_wait_deadline(key, ticket, deadline);
        return;
      }
      ++pool.open;
    }
  }
  net::co_spawn(d.io.get_executor(), impl::worker(impl_, key, std::move(j), std::move(conn)), net::detached);
}

void http_client::stop() {
  std::vector<job> cancelled;
  {
    std::lock_guard lock(impl_->mu);
    if (impl_->stopped) return;
    impl_->stopped = true;
    for (auto& [key, pool] : impl_->hosts) {
      for (auto& j : pool.waiting) cancelled.push_back(std::move(j));
      pool.waiting.clear();
      pool.open -= pool.idle.size();
      pool.idle.clear();
    }
  }
  for (auto& j : cancelled) j.done(fail(webhook_errc::connection_failed, "webhook client stopped"));
}

std::size_t http_client::open_connections() const {
  std::lock_guard lock(impl_->mu);
  std::size_t n = 0;
  for (const auto& [key, pool] : impl_->hosts) n += pool.open;
  return n;
}

}  // namespace astra::webhook
