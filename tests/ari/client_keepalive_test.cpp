// HTTP pool against a stale keep-alive connection: the server (like Asterisk's HTTP server
// dropping idle sessions) closes a pooled connection with FIN or resets it (SO_LINGER 0),
// either while it is idle or after it has read the next request. The scripted server runs
// on the test thread with raw POSIX sockets so every close is exactly where the test puts
// it; the client runs on its own Asio thread. Every wait is bounded.
//
// Policy under test (actors/ari/http_pool.cpp, http_pool::impl::perform):
//  - an idle pooled connection the peer already closed is dropped before use (nothing sent);
//  - a request that fails on a reused connection with nothing written is retried once;
//  - after the request was written, only idempotent methods (GET, HEAD, PUT, DELETE,
//    OPTIONS) are retried, once, and only if no reply byte arrived; a POST that the server
//    may have received is never replayed: it fails with ari_errc::disconnected.
#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <future>
#include <optional>
#include <string>
#include <thread>

#include "actors/ari/http_pool.hpp"
#include "actors/common/io_runtime.hpp"

using namespace astra;
using namespace std::chrono_literals;

namespace {

constexpr int io_wait_ms = 5000;  // bound of every socket wait of the scripted server

struct raw_request {
  std::string head;  // request line + headers
  std::string body;
  std::string method() const { return head.substr(0, head.find(' ')); }
  std::string target() const {
    auto a = head.find(' ') + 1;
    return head.substr(a, head.find(' ', a) - a);
  }
};

bool wait_readable(int fd, int ms) {
  pollfd p{fd, POLLIN, 0};
  return ::poll(&p, 1, ms) == 1;
}

// One listening socket on 127.0.0.1; connections are accepted and served by the caller.
class scripted_server {
 public:
  scripted_server() {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
    REQUIRE(::listen(fd_, 16) == 0);
    socklen_t len = sizeof a;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
  }
  ~scripted_server() { ::close(fd_); }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }

  // A connection accepted within `ms`, or -1.
  int accept_within(int ms) {
    if (!wait_readable(fd_, ms)) return -1;
    ++accepted;
    return ::accept(fd_, nullptr, nullptr);
  }

  std::size_t accepted = 0;

 private:
  int fd_ = -1;
  unsigned short port_ = 0;
};

// One request (headers + Content-Length body) within io_wait_ms; nullopt on EOF/timeout.
std::optional<raw_request> read_request(int fd) {
  std::string data;
  char buf[4096];
  auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(io_wait_ms);
  for (;;) {
    auto end = data.find("\r\n\r\n");
    if (end != std::string::npos) {
      raw_request r;
      r.head = data.substr(0, end + 2);
      std::size_t length = 0;
      auto cl = r.head.find("Content-Length: ");
      if (cl != std::string::npos) length = std::stoul(r.head.substr(cl + 16));
      if (data.size() >= end + 4 + length) {
        r.body = data.substr(end + 4, length);
        return r;
      }
    }
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - std::chrono::steady_clock::now());
    if (left.count() <= 0 || !wait_readable(fd, static_cast<int>(left.count()))) return std::nullopt;
    auto n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) return std::nullopt;
    data.append(buf, static_cast<std::size_t>(n));
  }
}

void write_all(int fd, const std::string& s) {
  std::size_t off = 0;
  while (off < s.size()) {
    auto n = ::send(fd, s.data() + off, s.size() - off, MSG_NOSIGNAL);
    REQUIRE(n > 0);
    off += static_cast<std::size_t>(n);
  }
}

std::string reply(int status, const std::string& body) {
  return "HTTP/1.1 " + std::to_string(status) + " OK\r\nServer: Asterisk/22.11.0-rc1\r\nContent-Type: application/json\r\n"
         "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
}

// Closes like Asterisk dropping an idle session (FIN) or resets the connection (RST).
enum class closing { fin, rst };
void close_as(int fd, closing how) {
  if (how == closing::rst) {
    linger l{1, 0};
    REQUIRE(::setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof l) == 0);
  }
  ::close(fd);
  // Loopback delivers the FIN/RST within the close() call in practice; the margin only makes
  // sure the client's socket has seen it before the next request is sent.
  std::this_thread::sleep_for(30ms);
}

ari::client_config config_for(const scripted_server& server) {
  ari::client_config cfg;
  cfg.url = server.url();
  cfg.password = "asterisk";
  cfg.max_connections = 1;  // one socket: the next request must reuse the pooled one
  cfg.request_timeout = 5s;
  return cfg;
}

std::future<result<ari::rest_response>> send(ari::http_pool& pool, std::string method, std::string path,
                                             std::optional<std::string> body = std::nullopt) {
  auto p = std::make_shared<std::promise<result<ari::rest_response>>>();
  auto f = p->get_future();
  pool.send(ari::make_raw_request(std::move(method), path, std::move(body)),
            [p](result<ari::rest_response> r) { p->set_value(std::move(r)); });
  return f;
}

// The pool gives a connection back (or closes it) just after the callback: wait for that.
bool open_becomes(const ari::http_pool& pool, std::size_t n) {
  for (int i = 0; i < 400 && pool.open_connections() != n; ++i) std::this_thread::sleep_for(5ms);
  return pool.open_connections() == n;
}

result<ari::rest_response> get(std::future<result<ari::rest_response>>& f) {
  REQUIRE(f.wait_for(8s) == std::future_status::ready);  // never hangs
  return f.get();
}

const std::string info_body = R"({"system":{"version":"22.11.0-rc1","entity_id":"02:fc:00:00:00:01"}})";

// First request on a fresh connection, answered with keep-alive: the pool keeps the socket.
int prime(scripted_server& server, ari::http_pool& pool) {
  auto f = send(pool, "GET", "/ari/asterisk/info");
  int fd = server.accept_within(io_wait_ms);
  REQUIRE(fd >= 0);
  auto req = read_request(fd);
  REQUIRE(req);
  CHECK(req->target() == "/ari/asterisk/info");
  write_all(fd, reply(200, info_body));
  auto r = get(f);
  REQUIRE(r.ok());
  CHECK(r->status == 200);
  for (int i = 0; i < 200 && pool.idle_connections() != 1; ++i) std::this_thread::sleep_for(5ms);
  REQUIRE(pool.idle_connections() == 1);
  return fd;
}

}  // namespace

TEST_CASE("stale keep-alive: the server closed or reset the idle pooled connection", "[ari][http][keepalive]") {
  auto how = GENERATE(closing::fin, closing::rst);
  auto method = GENERATE(as<std::string>{}, "GET", "DELETE", "POST");
  INFO((how == closing::fin ? "FIN" : "RST") << " then " << method);
  scripted_server server;
  io_runtime io(1);
  auto pool = ari::http_pool::create(io.context(), config_for(server));
  REQUIRE(pool.ok());

  int first = prime(server, **pool);
  close_as(first, how);  // Asterisk drops the idle session

  std::optional<std::string> body;
  if (method == "POST") body = R"({"variables":{"ASTRA":"1"}})";
  auto f = send(**pool, method, "/ari/channels/astra-chan-1/variable", body);
  // The request arrives exactly once, on a new connection (nothing went out on the dead one).
  int second = server.accept_within(io_wait_ms);
  REQUIRE(second >= 0);
  auto req = read_request(second);
  REQUIRE(req);
  CHECK(req->method() == method);
  CHECK(req->target() == "/ari/channels/astra-chan-1/variable");
  if (body) CHECK(req->body == *body);
  write_all(second, reply(200, R"({"value":"answered"})"));
  auto r = get(f);
  REQUIRE(r.ok());
  CHECK(r->status == 200);
  CHECK(r->body == R"({"value":"answered"})");
  CHECK(server.accepted == 2);
  CHECK(server.accept_within(0) == -1);  // no extra connection, no replay
  CHECK(open_becomes(**pool, 1));
  ::close(second);
  (*pool)->stop();
}

TEST_CASE("stale keep-alive: closed after the request arrived, GET is retried once on a fresh connection",
          "[ari][http][keepalive]") {
  auto how = GENERATE(closing::fin, closing::rst);
  INFO((how == closing::fin ? "FIN" : "RST"));
  scripted_server server;
  io_runtime io(1);
  auto pool = ari::http_pool::create(io.context(), config_for(server));
  REQUIRE(pool.ok());
  int first = prime(server, **pool);

  auto f = send(**pool, "GET", "/ari/channels");
  auto lost = read_request(first);  // read on the reused socket, then dropped unanswered
  REQUIRE(lost);
  CHECK(lost->target() == "/ari/channels");
  close_as(first, how);
  int second = server.accept_within(io_wait_ms);
  REQUIRE(second >= 0);
  auto again = read_request(second);
  REQUIRE(again);
  CHECK(again->method() == "GET");
  CHECK(again->target() == "/ari/channels");
  write_all(second, reply(200, "[]"));
  auto r = get(f);
  REQUIRE(r.ok());
  CHECK(r->status == 200);
  CHECK(r->body == "[]");

  // A second drop of the retried request is not retried again: one retry only.
  auto g = send(**pool, "GET", "/ari/bridges");
  auto lost2 = read_request(second);
  REQUIRE(lost2);
  close_as(second, how);  // the reused socket dies after reading: retried once...
  int third = server.accept_within(io_wait_ms);
  REQUIRE(third >= 0);
  REQUIRE(read_request(third));
  close_as(third, how);  // ...and the fresh one dies too: an error, not a success
  auto r2 = get(g);
  REQUIRE_FALSE(r2.ok());
  CHECK(r2.code() == make_error_code(ari::ari_errc::disconnected));
  CHECK(server.accept_within(0) == -1);
  CHECK(open_becomes(**pool, 0));
  (*pool)->stop();
}

TEST_CASE("stale keep-alive: a POST the server may have received is not replayed", "[ari][http][keepalive]") {
  auto how = GENERATE(closing::fin, closing::rst);
  INFO((how == closing::fin ? "FIN" : "RST"));
  scripted_server server;
  io_runtime io(1);
  auto pool = ari::http_pool::create(io.context(), config_for(server));
  REQUIRE(pool.ok());
  int first = prime(server, **pool);

  auto f = send(**pool, "POST", "/ari/channels/astra-chan-1/answer");
  auto received = read_request(first);
  REQUIRE(received);
  CHECK(received->method() == "POST");
  close_as(first, how);
  // Not accepting: a replay would connect and wait for its reply until the deadline (5 s),
  // so a result within the wait below is proof that nothing was replayed.
  auto r = get(f);
  REQUIRE_FALSE(r.ok());
  CHECK(r.code() == make_error_code(ari::ari_errc::disconnected));
  CHECK(r.error().detail.find("POST /ari/channels/astra-chan-1/answer") != std::string::npos);
  CHECK(server.accept_within(100) == -1);
  CHECK(server.accepted == 1);
  CHECK(open_becomes(**pool, 0));

  // The pool is still usable: the next request opens a fresh connection.
  auto g = send(**pool, "GET", "/ari/asterisk/info");
  int second = server.accept_within(io_wait_ms);
  REQUIRE(second >= 0);
  REQUIRE(read_request(second));
  write_all(second, reply(200, info_body));
  auto r2 = get(g);
  REQUIRE(r2.ok());
  CHECK(r2->body == info_body);
  ::close(second);
  (*pool)->stop();
}

TEST_CASE("stale keep-alive: a partial reply or a fresh connection's drop is an error, never a success",
          "[ari][http][keepalive]") {
  scripted_server server;
  io_runtime io(1);
  auto pool = ari::http_pool::create(io.context(), config_for(server));
  REQUIRE(pool.ok());

  SECTION("part of the reply arrived on a reused connection: not retried, not a success") {
    int first = prime(server, **pool);
    auto f = send(**pool, "GET", "/ari/asterisk/info");
    REQUIRE(read_request(first));
    write_all(first, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"sys");
    close_as(first, closing::fin);
    auto r = get(f);
    REQUIRE_FALSE(r.ok());
    CHECK(r.code() == make_error_code(ari::ari_errc::disconnected));
    CHECK(server.accept_within(100) == -1);
  }
  SECTION("a fresh connection closed before the reply: not a stale keep-alive, not retried") {
    auto f = send(**pool, "GET", "/ari/asterisk/info");
    int fd = server.accept_within(io_wait_ms);
    REQUIRE(fd >= 0);
    REQUIRE(read_request(fd));
    close_as(fd, closing::rst);
    auto r = get(f);
    REQUIRE_FALSE(r.ok());
    CHECK(r.code() == make_error_code(ari::ari_errc::disconnected));
    CHECK(server.accept_within(100) == -1);
  }
  CHECK(open_becomes(**pool, 0));
  (*pool)->stop();
}
