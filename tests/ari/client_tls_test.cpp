// ARI over TLS: a fake ARI server on https/wss (Boost.Beast ssl_stream) with a certificate
// chain made at test time with the OpenSSL API (tests/support/test_pki.hpp: a self-signed CA
// and a server certificate for IP 127.0.0.1 and DNS localhost, signed by it). Checks that
//  - with ca_file naming the CA, the REST call and the event WebSocket work (by IP and name);
//  - with verification on and no CA (system store only) both fail with ari_errc::tls_failed
//    and the verifier's reason, promptly (no hang, no crash), the WebSocket keeps retrying;
//  - a certificate for another host name is refused even with the right CA;
//  - with verify_tls=false both connect.
#include <utility>  // before Asio

#include <catch2/catch.hpp>

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <future>
#include <mutex>
#include <optional>
#include <thread>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>

#include "actors/ari/event_stream.hpp"
#include "actors/ari/http_pool.hpp"
#include "actors/common/io_runtime.hpp"
#include "tests/support/fixtures.hpp"
#include "tests/support/test_pki.hpp"

using namespace astra;
using namespace std::chrono_literals;

namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
namespace ssl = net::ssl;
using tcp = net::ip::tcp;

using test::test_pki;  // tests/support/test_pki.hpp: a CA, 127.0.0.1/localhost and asterisk.invalid certificates

// --- the fake ARI server over TLS ----------------------------------------------------------

constexpr auto info_body = R"({"system":{"version":"22.11.0-rc1","entity_id":"02:fc:00:00:00:01"}})";

class tls_ari_server {
 public:
  // Serves https://127.0.0.1:<port>/ari/asterisk/info and wss://.../ari/events (sends
  // `frame` once after each upgrade) with the given certificate.
  tls_ari_server(const std::string& cert_pem, const std::string& key_pem, std::string frame)
      : tls_(ssl::context::tls_server), frame_(std::move(frame)) {
    tls_.use_certificate_chain(net::buffer(cert_pem));
    tls_.use_private_key(net::buffer(key_pem), ssl::context::pem);
    tcp::endpoint ep(net::ip::make_address("127.0.0.1"), 0);
    acceptor_.open(ep.protocol());
    acceptor_.set_option(net::socket_base::reuse_address(true));
    acceptor_.bind(ep);
    acceptor_.listen();
    port_ = acceptor_.local_endpoint().port();
    net::co_spawn(io_, accept_loop(), net::detached);
    thread_ = std::thread([this] { io_.run(); });
  }
  ~tls_ari_server() {
    net::post(io_, [this] {
      beast::error_code ec;
      acceptor_.close(ec);
      io_.stop();
    });
    thread_.join();
  }
  std::string url(const std::string& host = "127.0.0.1") const { return "https://" + host + ":" + std::to_string(port_); }

  std::atomic<int> handshakes_ok{0}, handshakes_failed{0}, requests{0}, upgrades{0}, sessions_dropped{0};
  std::atomic<bool> drop_after_reply{false};  // end each HTTP session after its first reply
  // Server names (SNI) the clients sent, one per successful handshake ("" when none was sent).
  std::vector<std::string> server_names() {
    std::lock_guard<std::mutex> lock(names_mutex_);
    return names_;
  }

 private:
  std::mutex names_mutex_;
  std::vector<std::string> names_;

  net::awaitable<void> serve(tcp::socket socket) {
    beast::ssl_stream<beast::tcp_stream> stream(beast::tcp_stream(std::move(socket)), tls_);
    beast::get_lowest_layer(stream).expires_after(10s);
    beast::error_code ec;
    co_await stream.async_handshake(ssl::stream_base::server, net::redirect_error(net::use_awaitable, ec));
    if (ec) {
      ++handshakes_failed;
      co_return;
    }
    {
      const char* sni = SSL_get_servername(stream.native_handle(), TLSEXT_NAMETYPE_host_name);
      std::lock_guard<std::mutex> lock(names_mutex_);
      names_.push_back(sni ? sni : "");
    }
    ++handshakes_ok;
    beast::flat_buffer buffer;
    for (;;) {
      http::request<http::string_body> req;
      beast::get_lowest_layer(stream).expires_after(10s);
      co_await http::async_read(stream, buffer, req, net::redirect_error(net::use_awaitable, ec));
      if (ec) co_return;
      if (websocket::is_upgrade(req)) {
        ++upgrades;
        beast::get_lowest_layer(stream).expires_never();
        websocket::stream<beast::ssl_stream<beast::tcp_stream>> ws(std::move(stream));
        ws.set_option(websocket::stream_base::timeout::suggested(beast::role_type::server));
        co_await ws.async_accept(req, net::redirect_error(net::use_awaitable, ec));
        if (ec) co_return;
        ws.text(true);
        co_await ws.async_write(net::buffer(frame_), net::redirect_error(net::use_awaitable, ec));
        while (!ec) {
          beast::flat_buffer b;
          co_await ws.async_read(b, net::redirect_error(net::use_awaitable, ec));
        }
        co_return;
      }
      ++requests;
      http::response<http::string_body> res{http::status::not_found, req.version()};
      res.set(http::field::server, "Asterisk/22.11.0-rc1");
      res.set(http::field::content_type, "application/json");
      if (req.target() == "/ari/asterisk/info") {
        res.result(http::status::ok);
        res.body() = info_body;
      } else {
        res.body() = R"({"message":"Resource not found"})";
      }
      res.keep_alive(req.keep_alive());
      res.prepare_payload();
      co_await http::async_write(stream, res, net::redirect_error(net::use_awaitable, ec));
      if (ec || !res.keep_alive()) co_return;
      if (drop_after_reply) {
        // Like Asterisk ending an idle TLS session: close_notify, then the TCP close (the
        // client never answers an idle close_notify, so the wait for its reply is short).
        beast::get_lowest_layer(stream).expires_after(200ms);
        co_await stream.async_shutdown(net::redirect_error(net::use_awaitable, ec));
        beast::get_lowest_layer(stream).close();
        ++sessions_dropped;
        co_return;
      }
    }
  }

  net::awaitable<void> accept_loop() {
    for (;;) {
      beast::error_code ec;
      tcp::socket socket(io_);
      co_await acceptor_.async_accept(socket, net::redirect_error(net::use_awaitable, ec));
      if (ec) co_return;
      net::co_spawn(io_, serve(std::move(socket)), net::detached);
    }
  }

  ssl::context tls_;  // outlives the io_context (pending sessions die with it)
  net::io_context io_;
  std::string frame_;
  tcp::acceptor acceptor_{io_};
  unsigned short port_ = 0;
  std::thread thread_;
};

// --- client side ---------------------------------------------------------------------------

ari::client_config config_for(const std::string& url) {
  ari::client_config cfg;
  cfg.url = url;
  cfg.password = "asterisk";
  cfg.apps = {"astra-test"};
  cfg.request_timeout = 5s;
  cfg.connect_timeout = 3s;
  cfg.reconnect.initial = 50ms;
  cfg.reconnect.max = 200ms;
  return cfg;
}

// `times` sequential GET /ari/asterisk/info through one pool; the last outcome.
result<ari::rest_response> get_info(io_runtime& io, const ari::client_config& cfg, int times = 1) {
  auto pool = ari::http_pool::create(io.context(), cfg);
  REQUIRE(pool.ok());
  std::optional<result<ari::rest_response>> last;
  for (int i = 0; i < times; ++i) {
    auto p = std::make_shared<std::promise<result<ari::rest_response>>>();  // owned by the callback too
    auto f = p->get_future();
    (*pool)->send(ari::make_raw_request("GET", "/ari/asterisk/info"),
                  [p](result<ari::rest_response> r) { p->set_value(std::move(r)); });
    REQUIRE(f.wait_for(8s) == std::future_status::ready);  // never hangs
    last = f.get();
    for (int w = 0; w < 400 && (*pool)->open_connections() != (*pool)->idle_connections(); ++w)
      std::this_thread::sleep_for(5ms);  // the socket goes back to the pool just after the callback
  }
  (*pool)->stop();
  return std::move(*last);
}

// Runs the event socket until the first frame or the first disconnect.
struct ws_outcome {
  std::vector<std::string> frames;
  std::vector<astra::failure> downs;
  std::uint64_t connects = 0;
};

ws_outcome run_events(io_runtime& io, const ari::client_config& cfg, std::size_t downs_wanted = 1) {
  std::mutex mu;
  ws_outcome out;
  ari::event_stream_callbacks cb;
  cb.frame = [&](std::string f) {
    std::lock_guard lock(mu);
    out.frames.push_back(std::move(f));
  };
  cb.disconnected = [&](const astra::failure& why, std::chrono::milliseconds) {
    std::lock_guard lock(mu);
    out.downs.push_back(why);
  };
  auto stream = ari::event_stream::create(io.context(), cfg, cb);
  REQUIRE(stream.ok());
  (*stream)->start();
  auto until = std::chrono::steady_clock::now() + 8s;
  for (;;) {
    {
      std::lock_guard lock(mu);
      if (!out.frames.empty() || out.downs.size() >= downs_wanted) break;
    }
    REQUIRE(std::chrono::steady_clock::now() < until);  // never hangs
    std::this_thread::sleep_for(5ms);
  }
  out.connects = (*stream)->connects();
  (*stream)->stop();  // no callback runs after this returns
  std::lock_guard lock(mu);
  return out;
}

std::string recorded_frame() {
  for (const auto& rec : test::load_fixture("ari/stasis-call-lifecycle.jsonl"))
    if (rec.dir == "ws-in" && rec.data.find("\"StasisStart\"") != std::string::npos) return rec.data;
  FAIL("no StasisStart frame recorded");
  return {};
}

}  // namespace

TEST_CASE("TLS: with ca_file naming the CA, REST and the event WebSocket work", "[ari][tls]") {
  test_pki pki;
  auto frame = recorded_frame();
  tls_ari_server server(pki.server_cert_pem, pki.server_key_pem, frame);
  io_runtime io(1);
  auto host = GENERATE(as<std::string>{}, "127.0.0.1", "localhost");  // SAN IP and SAN DNS
  INFO("host " << host);
  auto cfg = config_for(server.url(host));
  cfg.ca_file = pki.ca_file.string();
  REQUIRE(cfg.verify_tls);  // on by default

  auto r = get_info(io, cfg, 3);
  REQUIRE(r.ok());
  CHECK(r->status == 200);
  CHECK(r->body == info_body);
  CHECK(server.requests == 3);
  CHECK(server.handshakes_ok == 1);  // the TLS connection was kept alive and reused

  auto ws = run_events(io, cfg);
  CHECK(ws.downs.empty());
  CHECK(ws.connects == 1);
  REQUIRE(ws.frames.size() == 1);
  CHECK(ws.frames[0] == frame);
  CHECK(server.upgrades == 1);
  CHECK(server.handshakes_ok == 2);
  CHECK(server.handshakes_failed == 0);
  // SNI carries a DNS name only, never an IP literal (RFC 6066 section 3), for REST and WebSocket.
  const std::string expected_sni = host == "localhost" ? "localhost" : "";
  CHECK(server.server_names() == std::vector<std::string>{expected_sni, expected_sni});
}

TEST_CASE("TLS: a keep-alive connection the server ended while idle is replaced, POST included", "[ari][tls][keepalive]") {
  test_pki pki;
  tls_ari_server server(pki.server_cert_pem, pki.server_key_pem, recorded_frame());
  server.drop_after_reply = true;
  io_runtime io(1);
  auto cfg = config_for(server.url());
  cfg.ca_file = pki.ca_file.string();
  cfg.max_connections = 1;
  auto pool = ari::http_pool::create(io.context(), cfg);
  REQUIRE(pool.ok());
  auto call = [&](const char* method) {
    auto p = std::make_shared<std::promise<result<ari::rest_response>>>();  // owned by the callback too
    auto f = p->get_future();
    (*pool)->send(ari::make_raw_request(method, "/ari/asterisk/info"),
                  [p](result<ari::rest_response> r) { p->set_value(std::move(r)); });
    REQUIRE(f.wait_for(8s) == std::future_status::ready);
    return f.get();
  };
  for (int i = 0; i < 3; ++i) {
    auto r = call(i == 0 ? "GET" : "POST");
    REQUIRE(r.ok());
    CHECK(r->status == 200);
    // Wait until the server has sent close_notify and closed: the pooled socket is stale.
    auto until = std::chrono::steady_clock::now() + 5s;
    while (server.sessions_dropped < i + 1) {
      REQUIRE(std::chrono::steady_clock::now() < until);
      std::this_thread::sleep_for(5ms);
    }
  }
  CHECK(server.requests == 3);  // each request arrived once, none replayed
  CHECK(server.handshakes_ok == 3);
  (*pool)->stop();
}

TEST_CASE("TLS: verification on without the CA fails with a specific error, promptly", "[ari][tls]") {
  test_pki pki;
  tls_ari_server server(pki.server_cert_pem, pki.server_key_pem, recorded_frame());
  io_runtime io(1);
  auto cfg = config_for(server.url());  // ca_file empty: the system store, which lacks the CA

  auto started = std::chrono::steady_clock::now();
  auto r = get_info(io, cfg);
  REQUIRE_FALSE(r.ok());
  CHECK(r.code() == make_error_code(ari::ari_errc::tls_failed));
  INFO("detail: " << r.error().detail);
  CHECK(r.error().detail.find("certificate verify failed") != std::string::npos);
  CHECK(r.error().detail.find("unable to get local issuer certificate") != std::string::npos);
  CHECK(std::chrono::steady_clock::now() - started < cfg.connect_timeout);  // refused, not timed out

  auto ws = run_events(io, cfg, 2);  // refused, retried after backoff, refused again
  CHECK(ws.frames.empty());
  CHECK(ws.connects == 0);
  REQUIRE(ws.downs.size() >= 2);
  for (const auto& why : ws.downs) {
    INFO("detail: " << why.detail);
    CHECK(why.code == make_error_code(ari::ari_errc::tls_failed));
    CHECK(why.detail.find("unable to get local issuer certificate") != std::string::npos);
  }
  CHECK(server.upgrades == 0);
  CHECK(server.requests == 0);
  CHECK(server.handshakes_ok == 0);
}

TEST_CASE("TLS: a certificate for another host name is refused even with the right CA", "[ari][tls]") {
  test_pki pki;
  tls_ari_server server(pki.other_cert_pem, pki.server_key_pem, recorded_frame());
  io_runtime io(1);
  auto cfg = config_for(server.url());
  cfg.ca_file = pki.ca_file.string();

  auto r = get_info(io, cfg);
  REQUIRE_FALSE(r.ok());
  CHECK(r.code() == make_error_code(ari::ari_errc::tls_failed));
  INFO("detail: " << r.error().detail);
  CHECK(r.error().detail.find("certificate verify failed") != std::string::npos);
  CHECK(r.error().detail.find("IP address mismatch") != std::string::npos);
  auto ws = run_events(io, cfg);
  REQUIRE(ws.downs.size() >= 1);  // a retry may fail again before the stream stops
  CHECK(ws.downs[0].code == make_error_code(ari::ari_errc::tls_failed));
  CHECK(server.requests == 0);
  CHECK(server.upgrades == 0);
}

TEST_CASE("TLS: verify_tls=false connects without a CA", "[ari][tls]") {
  test_pki pki;
  auto frame = recorded_frame();
  tls_ari_server server(pki.other_cert_pem, pki.server_key_pem, frame);  // wrong name, unknown CA
  io_runtime io(1);
  auto cfg = config_for(server.url());
  cfg.verify_tls = false;

  auto r = get_info(io, cfg);
  REQUIRE(r.ok());
  CHECK(r->status == 200);
  CHECK(r->body == info_body);
  auto ws = run_events(io, cfg);
  CHECK(ws.downs.empty());
  REQUIRE(ws.frames.size() == 1);
  CHECK(ws.frames[0] == frame);
}

TEST_CASE("TLS: an unreadable ca_file is refused when the client is created", "[ari][tls]") {
  io_runtime io(1);
  auto cfg = config_for("https://127.0.0.1:1");
  cfg.ca_file = "/nonexistent/astra-ca.pem";
  auto pool = ari::http_pool::create(io.context(), cfg);
  REQUIRE_FALSE(pool.ok());
  CHECK(pool.error().code == make_error_code(ari::ari_errc::tls_failed));
  auto stream = ari::event_stream::create(io.context(), cfg, {});
  REQUIRE_FALSE(stream.ok());
  CHECK(stream.error().code == make_error_code(ari::ari_errc::tls_failed));
}
