#include <catch2/catch.hpp>

#include <utility>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <atomic>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "service/admin/admin_server.hpp"

#if defined(__SANITIZE_ADDRESS__)
// Frames of returned functions stay poisoned, so a job that writes to a finished frame is
// reported (the regression test of server::stop below).
extern "C" const char* __asan_default_options() { return "detect_stack_use_after_return=1"; }
#endif

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

namespace {

struct fixture {
  asio::io_context io;
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> work{io.get_executor()};
  std::thread runner;
  std::mutex mutex;
  astra::admin::readiness ready{false, "ami pbx-1: connecting"};
  std::atomic<int> metrics_calls{0};
  astra::admin::server server{io, make_handlers()};

  fixture() {
    REQUIRE_FALSE(server.start("127.0.0.1", 0));
    REQUIRE(server.local_port() != 0);
    runner = std::thread([this] { io.run(); });
  }
  ~fixture() {
    server.stop();
    work.reset();
    io.stop();
    runner.join();
  }

  astra::admin::handlers make_handlers() {
    astra::admin::handlers h;
    h.metrics = [this] {
      ++metrics_calls;
      return std::string("# TYPE x gauge\nx 1\n");
    };
    h.ready = [this] {
      std::lock_guard lock(mutex);
      return ready;
    };
    h.status_json = [] { return std::string(R"({"servers":[]})"); };
    return h;
  }
  void set_ready(bool r, std::string why = {}) {
    std::lock_guard lock(mutex);
    ready = {r, std::move(why)};
  }
};

http::response<http::string_body> fetch(std::uint16_t port, http::verb verb, std::string target) {
  asio::io_context io;
  beast::tcp_stream stream(io);
  stream.expires_after(std::chrono::seconds(5));
  stream.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port));
  http::request<http::empty_body> req{verb, target, 11};
  req.set(http::field::host, "127.0.0.1");
  http::write(stream, req);
  beast::flat_buffer buf;
  http::response_parser<http::string_body> parser;
  if (verb == http::verb::head) parser.skip(true);
  http::read(stream, buf, parser);
  return parser.release();
}

// Overwrites the stack below the caller's frame, where the locals of a function that returned
// were: a job still writing through a reference to them then writes into this garbage.
[[gnu::noinline]] void scribble_stack() {
  volatile unsigned char junk[64 * 1024];
  for (auto& b : junk) b = 0xA5;
}

// A connect to 127.0.0.1:port, bounded by the local kernel's answer (no server thread needed).
beast::error_code try_connect(std::uint16_t port) {
  asio::io_context io;
  tcp::socket sock(io);
  beast::error_code ec;
  sock.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port), ec);
  return ec;
}

}  // namespace

TEST_CASE("admin endpoints answer with the right status, type and body") {
  fixture f;
  auto port = f.server.local_port();

  auto metrics = fetch(port, http::verb::get, "/metrics");
  CHECK(metrics.result_int() == 200);
  CHECK(metrics[http::field::content_type] == "text/plain; version=0.0.4; charset=utf-8");
  CHECK(metrics.body() == "# TYPE x gauge\nx 1\n");
  CHECK(f.metrics_calls == 1);

  auto health = fetch(port, http::verb::get, "/healthz");
  CHECK(health.result_int() == 200);

  auto not_ready = fetch(port, http::verb::get, "/readyz");
  CHECK(not_ready.result_int() == 503);
  CHECK(not_ready.body().find("ami pbx-1: connecting") != std::string::npos);
  f.set_ready(true);
  auto ready = fetch(port, http::verb::get, "/readyz?verbose");
  CHECK(ready.result_int() == 200);
  f.set_ready(false, "draining");
  auto draining = fetch(port, http::verb::get, "/readyz");
  CHECK(draining.result_int() == 503);
  CHECK(draining.body().find("draining") != std::string::npos);

  auto status = fetch(port, http::verb::get, "/v1/status");
  CHECK(status.result_int() == 200);
  CHECK(status[http::field::content_type] == "application/json");
  CHECK(status.body() == R"({"servers":[]})");

  CHECK(fetch(port, http::verb::get, "/nope").result_int() == 404);
  auto post = fetch(port, http::verb::post, "/metrics");
  CHECK(post.result_int() == 405);
  CHECK(post[http::field::allow] == "GET, HEAD");

  auto head = fetch(port, http::verb::head, "/metrics");
  CHECK(head.result_int() == 200);
  CHECK(head[http::field::content_length] == "19");
  CHECK(head.body().empty());
}

TEST_CASE("keep-alive serves several requests on one connection") {
  fixture f;
  asio::io_context io;
  beast::tcp_stream stream(io);
  stream.expires_after(std::chrono::seconds(5));
  stream.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), f.server.local_port()));
  beast::flat_buffer buf;
  for (int i = 0; i < 3; ++i) {
    http::request<http::empty_body> req{http::verb::get, "/metrics", 11};
    req.set(http::field::host, "x");
    http::write(stream, req);
    http::response<http::string_body> res;
    http::read(stream, buf, res);
    CHECK(res.result_int() == 200);
    CHECK(res.keep_alive());
  }
  CHECK(f.metrics_calls == 3);
}

TEST_CASE("an oversized or malformed request closes the connection without a handler call") {
  fixture f;
  for (std::string payload : {std::string("GET /metrics HTTP/1.1\r\nX-Big: ") + std::string(40000, 'a') + "\r\n\r\n",
                              std::string("NOT HTTP AT ALL\r\n\r\n")}) {
    asio::io_context io;
    tcp::socket sock(io);
    sock.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), f.server.local_port()));
    beast::error_code ec;
    asio::write(sock, asio::buffer(payload), ec);
    char buf[256];
    std::size_t n = 0;
    for (;;) {
      auto got = sock.read_some(asio::buffer(buf), ec);
      n += got;
      if (ec) break;
    }
    CHECK(n == 0);  // closed, nothing answered
  }
  CHECK(f.metrics_calls == 0);
  CHECK(fetch(f.server.local_port(), http::verb::get, "/healthz").result_int() == 200);
}

TEST_CASE("binding a port in use is reported as an error") {
  fixture f;
  asio::io_context io;
  astra::admin::server second(io, {});
  auto ec = second.start("127.0.0.1", f.server.local_port());
  CHECK(ec);
  CHECK(second.start("not-an-address", 0));
}

TEST_CASE("stop closes open keep-alive connections") {
  fixture f;
  asio::io_context io;
  beast::tcp_stream stream(io);
  stream.expires_after(std::chrono::seconds(5));
  stream.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), f.server.local_port()));
  http::request<http::empty_body> req{http::verb::get, "/healthz", 11};
  req.set(http::field::host, "x");
  http::write(stream, req);
  beast::flat_buffer buf;
  http::response<http::string_body> res;
  http::read(stream, buf, res);
  REQUIRE(res.result_int() == 200);
  f.server.stop();
  beast::error_code ec;
  http::read(stream, buf, res, ec);
  CHECK(ec);  // closed by the server, not by the 5 s deadline
  CHECK(ec != beast::error::timeout);
}

TEST_CASE("stop() gives up on an io_context that does not run; the close job runs later on state it owns") {
  asio::io_context io;  // nothing runs it while stop() waits
  astra::admin::server server(io, {});
  REQUIRE_FALSE(server.start("127.0.0.1", 0));
  const auto port = server.local_port();
  server.stop();  // its wait for the posted close gives up (2 s)
  CHECK_FALSE(try_connect(port));  // the listener is still open: the close has not run
  scribble_stack();                // stop()'s frame is gone and overwritten
  io.run();                        // runs the close (and the aborted accept), then runs out of work
  CHECK(io.stopped());
  CHECK(try_connect(port) == asio::error::connection_refused);  // the close ran
}
