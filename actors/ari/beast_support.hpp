#pragma once
// Beast helpers shared by the ARI HTTP pool (http_pool.cpp) and the event WebSocket
// (event_stream.cpp). PRIVATE to astra_actors_ari: it includes Boost.Beast, Asio SSL and
// OpenSSL; never include it from an interface header.
#include <utility>  // before Asio: awaitable.hpp uses std::exchange

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket.hpp>

#include "actors/ari/config.hpp"
#include "actors/common/http_keepalive.hpp"
#include "actors/ari/errors.hpp"
#include "actors/ari/rest.hpp"

namespace astra::ari::beast_support {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
namespace ssl = net::ssl;
using tcp = net::ip::tcp;
using steady = std::chrono::steady_clock;
using net::awaitable;

constexpr auto user_agent = "astra-ari/0.1";

inline failure map_error(const beast::error_code& ec, ari_errc fallback) {
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

using http_keepalive::expect_peer_name;
using http_keepalive::set_server_name;

// A failed TLS handshake: the TLS error plus, when verifying, the verifier's reason.
inline failure tls_handshake_failure(const beast::error_code& ec, SSL* ssl, bool verifying) {
  return {ari_errc::tls_failed, http_keepalive::tls_handshake_detail(ec, ssl, verifying)};
}

inline result<std::shared_ptr<ssl::context>> make_tls_context(const client_config& cfg) {
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

inline std::string auth_header_value(const client_config& cfg) {
  if (cfg.use_api_key) return {};
  return "Basic " + base64_encode(cfg.user + ":" + cfg.password);
}

inline void add_api_key(const client_config& cfg, std::vector<std::pair<std::string, std::string>>& query) {
  if (cfg.use_api_key) query.emplace_back("api_key", cfg.user + ":" + cfg.password);
}

// Resolves with a deadline (the resolver has no timeout of its own).
inline awaitable<result<tcp::resolver::results_type>> resolve_with_deadline(const endpoint& ep, steady::time_point deadline) {
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

}  // namespace astra::ari::beast_support
