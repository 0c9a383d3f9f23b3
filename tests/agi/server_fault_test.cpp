// Fault handling of the FastAGI server over loopback: peer closing mid-command, HANGUP between a
// command and its reply, command deadlines, auth refusals (CIDR, token), no route, the
// concurrency cap, running out of file descriptors, early closes and env timeouts, handler
// failures, runaway handlers, a server without routes, and the graceful drain. After each, the
// number of live call actors returns to zero.
#include <catch2/catch.hpp>
#include <caf/all.hpp>

#include <atomic>
#include <cerrno>
#include <filesystem>
#include <future>
#include <mutex>
#include <optional>

#include <sys/resource.h>
#include <unistd.h>

#include "actors/agi/call.hpp"
#include "actors/agi/server.hpp"
#include "actors/common/io_runtime.hpp"
#include "tests/agi/fake_asterisk.hpp"

using namespace std::chrono_literals;
using astra::agi::agi_errc;
using astra::agi::call;
using astra::test::eventually;
using astra::test::fake_asterisk;
using astra::test::make_environment;
using astra::test::test_server;

namespace {

// Thread-safe record of what handlers saw.
struct log_book {
  std::mutex mutex;
  std::vector<std::string> lines;
  void add(std::string s) {
    std::lock_guard<std::mutex> lock(mutex);
    lines.push_back(std::move(s));
  }
  std::vector<std::string> snapshot() {
    std::lock_guard<std::mutex> lock(mutex);
    return lines;
  }
  std::size_t size() {
    std::lock_guard<std::mutex> lock(mutex);
    return lines.size();
  }
};

std::string code_name(std::error_code ec) {
  if (!ec) return "ok";
  if (ec == agi_errc::hung_up) return "hung_up";
  if (ec == agi_errc::timeout) return "timeout";
  if (ec == agi_errc::disconnected) return "disconnected";
  if (ec == agi_errc::shutting_down) return "shutting_down";
  return ec.message();
}

constexpr auto io_timeout = 3000ms;

}  // namespace

TEST_CASE("peer closing mid-command completes the command with disconnected", "[agi][server][fault]") {
  log_book book;
  astra::agi::router routes;
  routes.add("/t", [&](call& c) -> astra::task<void> {
    auto r = co_await c.answer();
    book.add("answer " + code_name(r.code()));
    auto again = co_await c.noop();  // after the close: fails at once, nothing sent
    book.add("noop " + code_name(again.code()));
    book.add(std::string("connected ") + (c.connected() ? "yes" : "no"));
  });
  test_server server(std::move(routes));
  {
    fake_asterisk fake(server.port());
    fake.send(make_environment("t"));
    REQUIRE(fake.read_line(io_timeout) == "ANSWER\n");
    fake.send("200 res");  // half a reply, then gone
    fake.close();
  }
  REQUIRE(server.wait_live_zero());
  CHECK(book.snapshot() == std::vector<std::string>{"answer disconnected", "noop disconnected", "connected no"});
  CHECK(server.server().stats().calls_completed == 1);
}

TEST_CASE("peer reset (RST) mid-command", "[agi][server][fault]") {
  log_book book;
  astra::agi::router routes;
  routes.add("/t", [&](call& c) -> astra::task<void> {
    auto r = co_await c.stream_file("long-prompt");
    book.add("stream_file " + code_name(r.code()));
  });
  test_server server(std::move(routes));
  {
    fake_asterisk fake(server.port());
    fake.send(make_environment("t"));
    REQUIRE(fake.read_line(io_timeout) == "STREAM FILE long-prompt \"\"\n");
    fake.close(/*reset=*/true);
  }
  REQUIRE(server.wait_live_zero());
  CHECK(book.snapshot() == std::vector<std::string>{"stream_file disconnected"});
}

TEST_CASE("HANGUP between a command and its reply", "[agi][server][fault][hangup]") {
  log_book book;
  astra::agi::router routes;
  routes.add("/t", [&](call& c) -> astra::task<void> {
    auto d = co_await c.wait_for_digit(10s);  // live-channel command
    book.add("wait_for_digit " + code_name(d.code()));
    auto v = co_await c.verbose("still here", 1);  // dead-channel command
    book.add("verbose " + code_name(v.code()));
    auto s = co_await c.set_variable("ASTRA_SAW_HANGUP", "1");
    book.add("set_variable " + code_name(s.code()));
    auto a = co_await c.answer();  // live-channel: Asterisk answers 511
    book.add("answer " + code_name(a.code()));
    book.add(std::string("hung_up ") + (c.hung_up() ? "yes" : "no"));
  });
  astra::agi::server_config cfg;
  cfg.hangup_reply_grace = 2000ms;
  test_server server(std::move(routes), cfg);

  SECTION("reply follows the HANGUP line: swallowed, the next command waits for it") {
    fake_asterisk fake(server.port());
    fake.send(make_environment("t"));
    REQUIRE(fake.read_line(io_timeout) == "WAIT FOR DIGIT 10000\n");
    fake.send("HANGUP\n");
    // The handler already has hung_up and issued VERBOSE, but it must not be written before
    // Asterisk answered WAIT FOR DIGIT (no pipelining).
    CHECK(fake.read_exactly(1, 200ms).empty());
    CHECK(eventually([&] { return book.size() == 1; }));
    fake.send("200 result=-1\n");
    REQUIRE(fake.read_line(io_timeout) == "VERBOSE \"still here\" 1\n");
    fake.send("200 result=1\n");
    REQUIRE(fake.read_line(io_timeout) == "SET VARIABLE ASTRA_SAW_HANGUP 1\n");
    fake.send("200 result=1\n");
    REQUIRE(fake.read_line(io_timeout) == "ANSWER\n");
    fake.send("511 Command Not Permitted on a dead channel or intercept routine\n");
    CHECK(fake.wait_closed(io_timeout));
  }
  SECTION("no reply after HANGUP: the next command goes out after the grace period") {
    fake_asterisk fake(server.port());
    fake.send(make_environment("t"));
    REQUIRE(fake.read_line(io_timeout) == "WAIT FOR DIGIT 10000\n");
    fake.send("HANGUP\n");
    REQUIRE(fake.read_line(4000ms) == "VERBOSE \"still here\" 1\n");
    fake.send("200 result=1\n");
    REQUIRE(fake.read_line(io_timeout) == "SET VARIABLE ASTRA_SAW_HANGUP 1\n");
    fake.send("200 result=1\n");
    REQUIRE(fake.read_line(io_timeout) == "ANSWER\n");
    fake.send("511 Command Not Permitted on a dead channel or intercept routine\n");
    CHECK(fake.wait_closed(io_timeout));
  }
  SECTION("Asterisk's own order: -1 first, HANGUP after") {
    fake_asterisk fake(server.port());
    fake.send(make_environment("t"));
    REQUIRE(fake.read_line(io_timeout) == "WAIT FOR DIGIT 10000\n");
    fake.send("200 result=-1\nHANGUP\n");
    REQUIRE(fake.read_line(io_timeout) == "VERBOSE \"still here\" 1\n");
    fake.send("200 result=1\n");
    REQUIRE(fake.read_line(io_timeout) == "SET VARIABLE ASTRA_SAW_HANGUP 1\n");
    fake.send("200 result=1\n");
    REQUIRE(fake.read_line(io_timeout) == "ANSWER\n");
    fake.send("511 Command Not Permitted on a dead channel or intercept routine\n");
    CHECK(fake.wait_closed(io_timeout));
  }
  REQUIRE(server.wait_live_zero());
  CHECK(book.snapshot() == std::vector<std::string>{"wait_for_digit hung_up", "verbose ok", "set_variable ok",
                                                    "answer hung_up", "hung_up yes"});
}

TEST_CASE("fail_fast_after_hangup refuses live-channel commands locally", "[agi][server][fault][hangup]") {
  log_book book;
  astra::agi::router routes;
  routes.add("/t", [&](call& c) -> astra::task<void> {
    book.add("answer " + code_name((co_await c.answer()).code()));
    book.add("verbose " + code_name((co_await c.verbose("v", 1)).code()));
    book.add("stream_file " + code_name((co_await c.stream_file("x")).code()));
    book.add("get_variable " + code_name((co_await c.get_variable("X")).code()));
  });
  astra::agi::server_config cfg;
  cfg.fail_fast_after_hangup = true;
  test_server server(std::move(routes), cfg);
  fake_asterisk fake(server.port());
  fake.send(make_environment("t"));
  REQUIRE(fake.read_line(io_timeout) == "ANSWER\n");
  fake.send("200 result=0\n");
  REQUIRE(fake.read_line(io_timeout) == "VERBOSE v 1\n");
  fake.send("HANGUP\n200 result=1\n");  // VERBOSE runs on a dead channel: its reply is awaited
  REQUIRE(fake.read_line(io_timeout) == "GET VARIABLE X\n");  // STREAM FILE never sent
  fake.send("200 result=0\n");
  CHECK(fake.wait_closed(io_timeout));
  REQUIRE(server.wait_live_zero());
  CHECK(book.snapshot() == std::vector<std::string>{"answer ok", "verbose ok", "stream_file hung_up", "get_variable ok"});
}

TEST_CASE("command deadline: timeout error, the late reply is swallowed", "[agi][server][fault][timeout]") {
  log_book book;
  astra::agi::router routes;
  routes.add("/t", [&](call& c) -> astra::task<void> {
    c.set_command_timeout(150ms);
    auto r = co_await c.noop();
    book.add("noop " + code_name(r.code()));
    c.set_command_timeout(3000ms);
    auto v = co_await c.get_variable("X");
    book.add("get_variable " + code_name(v.code()) + (v && *v ? " " + **v : ""));
  });
  test_server server(std::move(routes));
  fake_asterisk fake(server.port());
  fake.send(make_environment("t"));
  REQUIRE(fake.read_line(io_timeout) == "NOOP\n");
  REQUIRE(eventually([&] { return book.size() == 1; }));
  CHECK(fake.read_exactly(1, 100ms).empty());  // GET VARIABLE waits for NOOP's late reply
  fake.send("200 result=0\n");                 // NOOP's late reply
  REQUIRE(fake.read_line(io_timeout) == "GET VARIABLE X\n");
  fake.send("200 result=1 (late but right)\n");
  CHECK(fake.wait_closed(io_timeout));
  REQUIRE(server.wait_live_zero());
  CHECK(book.snapshot() == std::vector<std::string>{"noop timeout", "get_variable ok late but right"});
}

TEST_CASE("a command's own timeout extends its deadline", "[agi][server][fault][timeout]") {
  log_book book;
  astra::agi::router routes;
  routes.add("/t", [&](call& c) -> astra::task<void> {
    c.set_command_timeout(100ms);
    auto r = co_await c.wait_for_digit(300ms);  // deadline 300 ms + margin, not 100 ms
    book.add("wait_for_digit " + code_name(r.code()) + (r && *r ? std::string(" ") + **r : ""));
  });
  astra::agi::server_config cfg;
  cfg.timeout_margin = 1000ms;
  test_server server(std::move(routes), cfg);
  fake_asterisk fake(server.port());
  fake.send(make_environment("t"));
  REQUIRE(fake.read_line(io_timeout) == "WAIT FOR DIGIT 300\n");
  std::this_thread::sleep_for(400ms);
  fake.send("200 result=53\n");  // '5'
  CHECK(fake.wait_closed(io_timeout));
  REQUIRE(server.wait_live_zero());
  CHECK(book.snapshot() == std::vector<std::string>{"wait_for_digit ok 5"});
}

TEST_CASE("auth refusals: CIDR allowlist and shared token", "[agi][server][fault][auth]") {
  std::atomic<int> ran{0};
  std::atomic<int> refused_hook{0};
  astra::agi::router routes;
  auto body = [&](call& c) -> astra::task<void> {
    ++ran;
    co_await c.noop();
  };
  routes.add("/open", body);
  astra::agi::route_options token_only;
  token_only.auth = astra::agi::shared_token("s3cret");
  routes.add("/secret", body, token_only);
  astra::agi::route_options loopback;
  loopback.auth = astra::agi::cidr_allowlist({"127.0.0.0/8", "::1"}).value();
  routes.add("/local", body, loopback);

  astra::agi::server_config cfg;
  cfg.auth = astra::agi::cidr_allowlist({"10.0.0.0/8"}).value();  // loopback is not in it
  cfg.hooks.connection_refused = [&](astra::agi::refusal why, const astra::agi::peer_address&) {
    if (why == astra::agi::refusal::auth) ++refused_hook;
  };
  test_server server(std::move(routes), cfg);

  auto expect_refused = [&](std::string script) {
    fake_asterisk fake(server.port());
    fake.send(make_environment(script));
    std::string extra;
    CHECK(fake.wait_closed(io_timeout, &extra));
    CHECK(extra.empty());
  };
  auto expect_served = [&](std::string script) {
    fake_asterisk fake(server.port());
    fake.send(make_environment(script));
    REQUIRE(fake.read_line(io_timeout) == "NOOP\n");
    fake.send("200 result=0\n");
    CHECK(fake.wait_closed(io_timeout));
  };
  expect_refused("open");                  // global CIDR policy
  expect_refused("secret");                // token missing
  expect_refused("secret?token=wrong");    // token wrong
  expect_refused("secret?token=s3cret&token=x");  // every repetition must match
  expect_served("secret?token=s3cret");    // route policy overrides the global one
  expect_served("local?x=1");              // loopback allowlist
  REQUIRE(server.wait_live_zero());
  CHECK(ran == 2);
  CHECK(server.server().stats().refused_auth == 4);
  CHECK(refused_hook == 4);
}

TEST_CASE("no route: counted and closed", "[agi][server][fault]") {
  astra::agi::router routes;
  routes.add("/ivr/:menu", [](call& c) -> astra::task<void> { co_await c.noop(); });
  test_server server(std::move(routes));
  for (auto script : {"nowhere", "ivr", "ivr/a/b"}) {
    fake_asterisk fake(server.port());
    fake.send(make_environment(script));
    std::string extra;
    CHECK(fake.wait_closed(io_timeout, &extra));
    CHECK(extra.empty());
  }
  CHECK(server.server().stats().no_route == 3);
  CHECK(server.server().stats().calls_started == 0);
  CHECK(server.server().live_calls() == 0);
}

TEST_CASE("a server with no routes listens and refuses every call as no route", "[agi][server][fault]") {
  // The astra service runs FastAGI with zero routes when none are configured (issue 17).
  std::atomic<int> no_route_hook{0};
  astra::agi::server_config cfg;
  cfg.hooks.connection_refused = [&](astra::agi::refusal why, const astra::agi::peer_address&) {
    if (why == astra::agi::refusal::no_route) ++no_route_hook;
  };
  test_server server(astra::agi::router{}, cfg);
  REQUIRE(server.port() != 0);
  for (auto script : {"ivr/menu", "hang", "a/b?x=1"}) {
    fake_asterisk fake(server.port());
    fake.send(make_environment(script));
    std::string extra;
    CHECK(fake.wait_closed(io_timeout, &extra));
    CHECK(extra.empty());
  }
  CHECK(server.server().stats().no_route == 3);
  CHECK(no_route_hook == 3);
  CHECK(server.server().stats().calls_started == 0);
  CHECK(server.server().live_calls() == 0);
}

TEST_CASE("concurrency cap refuses calls beyond it", "[agi][server][fault][limits]") {
  astra::agi::router routes;
  routes.add("/t", [](call& c) -> astra::task<void> { co_await c.noop(); });
  astra::agi::server_config cfg;
  cfg.max_concurrent_calls = 2;
  test_server server(std::move(routes), cfg);
  fake_asterisk a(server.port()), b(server.port());
  a.send(make_environment("t"));
  b.send(make_environment("t"));
  REQUIRE(a.read_line(io_timeout) == "NOOP\n");
  REQUIRE(b.read_line(io_timeout) == "NOOP\n");
  CHECK(server.server().live_calls() == 2);
  {
    fake_asterisk c(server.port());
    c.send(make_environment("t"));
    CHECK(c.wait_closed(io_timeout));
  }
  CHECK(server.server().stats().refused_capacity == 1);
  a.send("200 result=0\n");
  b.send("200 result=0\n");
  CHECK(a.wait_closed(io_timeout));
  CHECK(b.wait_closed(io_timeout));
  REQUIRE(server.wait_live_zero());
  {
    fake_asterisk d(server.port());  // capacity is back
    d.send(make_environment("t"));
    REQUIRE(d.read_line(io_timeout) == "NOOP\n");
    d.send("200 result=0\n");
    CHECK(d.wait_closed(io_timeout));
  }
  REQUIRE(server.wait_live_zero());
  CHECK(server.server().stats().calls_completed == 3);
}

namespace {

// Fills this process's descriptor table (under a soft RLIMIT_NOFILE lowered to just above the
// descriptors in use) so that accept() fails with EMFILE; undone by release() or destruction.
class descriptor_exhaustion {
 public:
  descriptor_exhaustion() {
    ::getrlimit(RLIMIT_NOFILE, &saved_);
    int highest = 0;
    for (const auto& entry : std::filesystem::directory_iterator("/proc/self/fd"))
      highest = std::max(highest, std::stoi(entry.path().filename().string()));
    rlimit lowered = saved_;
    lowered.rlim_cur = static_cast<rlim_t>(highest) + 1 + spare_;
    ::setrlimit(RLIMIT_NOFILE, &lowered);
    for (int fd; (fd = ::dup(STDERR_FILENO)) >= 0;) fillers_.push_back(fd);
  }
  ~descriptor_exhaustion() { release(); }
  descriptor_exhaustion(const descriptor_exhaustion&) = delete;
  descriptor_exhaustion& operator=(const descriptor_exhaustion&) = delete;

  bool exhausted() {
    const int fd = ::dup(STDERR_FILENO);
    if (fd >= 0) {
      fillers_.push_back(fd);
      return false;
    }
    return errno == EMFILE && !fillers_.empty();
  }
  // Frees one descriptor (for the caller's own socket).
  void free_one() {
    ::close(fillers_.back());
    fillers_.pop_back();
  }
  void release() {
    for (int fd : fillers_) ::close(fd);
    fillers_.clear();
    ::setrlimit(RLIMIT_NOFILE, &saved_);
  }

 private:
  static constexpr int spare_ = 16;
  rlimit saved_{};
  std::vector<int> fillers_;
};

}  // namespace

TEST_CASE("out of file descriptors: the acceptor backs off, then admits the waiting call", "[agi][server][fault][limits]") {
  astra::agi::router routes;
  routes.add("/t", [](call& c) -> astra::task<void> { co_await c.noop(); });
  test_server server(std::move(routes));
  std::optional<fake_asterisk> caller;
  descriptor_exhaustion table;
  REQUIRE(table.exhausted());
  table.free_one();
  const auto starved_since = std::chrono::steady_clock::now();
  caller.emplace(server.port());  // takes the freed descriptor; the server has none to accept with
  caller->send(make_environment("t"));
  std::this_thread::sleep_for(300ms);
  const auto starved = server.server().stats();
  const auto starved_for = std::chrono::steady_clock::now() - starved_since;
  table.release();
  CHECK(starved.accepted == 0);
  CHECK(starved.accept_errors >= 1);
  // Retries are paced (20 ms apart), not a busy loop on a descriptor that cannot come back.
  CHECK(starved.accept_errors <= static_cast<std::uint64_t>(starved_for / 20ms) + 5);

  REQUIRE(caller->read_line(io_timeout) == "NOOP\n");  // accepted once descriptors are back
  caller->send("200 result=0\n");
  CHECK(caller->wait_closed(io_timeout));
  REQUIRE(server.wait_live_zero());
  const auto after = server.server().stats();
  CHECK(after.accepted == 1);
  CHECK(after.calls_completed == 1);
}

TEST_CASE("probes, partial and malformed agi_* blocks cost nothing", "[agi][server][fault][limits]") {
  astra::agi::router routes;
  routes.add("/t", [](call& c) -> astra::task<void> { co_await c.noop(); });
  astra::agi::server_config cfg;
  cfg.env_timeout = 200ms;
  test_server server(std::move(routes), cfg);
  { fake_asterisk probe(server.port()); }  // connect + close (TCP health check)
  {
    fake_asterisk partial(server.port());
    partial.send("agi_network: yes\nagi_network_scr");
    partial.close();
  }
  {
    fake_asterisk idle(server.port());  // sends nothing: closed after env_timeout
    CHECK(idle.wait_closed(2000ms));
  }
  {
    fake_asterisk garbage(server.port());
    garbage.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    CHECK(garbage.wait_closed(io_timeout));
  }
  {
    fake_asterisk ok(server.port());  // the server is unaffected
    ok.send(make_environment("t"));
    REQUIRE(ok.read_line(io_timeout) == "NOOP\n");
    ok.send("200 result=0\n");
    CHECK(ok.wait_closed(io_timeout));
  }
  REQUIRE(eventually([&] { return server.server().stats().pending_connections == 0; }));
  auto s = server.server().stats();
  CHECK(s.closed_early == 2);
  CHECK(s.env_timeouts == 1);
  CHECK(s.bad_environment == 1);
  CHECK(s.calls_started == 1);
  CHECK(server.wait_live_zero());
}

TEST_CASE("a failing handler is logged and closed; the server keeps serving", "[agi][server][fault]") {
  std::atomic<int> ended_failed{0}, ended_exception{0};
  astra::agi::router routes;
  routes.add("/throw", [](call& c) -> astra::task<void> {
    co_await c.answer();
    throw std::runtime_error("boom");
  });
  routes.add("/error", astra::agi::result_handler([](call& c) -> astra::task<astra::result<void>> {
    co_await c.answer();
    co_return astra::failure{std::make_error_code(std::errc::invalid_argument), "bad menu"};
  }));
  routes.add("/ok", [](call& c) -> astra::task<void> { co_await c.answer(); });
  astra::agi::server_config cfg;
  cfg.hooks.call_ended = [&](std::string_view, std::uint64_t, astra::agi::call_outcome o, std::chrono::nanoseconds) {
    if (o == astra::agi::call_outcome::failed) ++ended_failed;
    if (o == astra::agi::call_outcome::exception) ++ended_exception;
  };
  test_server server(std::move(routes), cfg);
  for (auto script : {"throw", "error", "ok"}) {
    fake_asterisk fake(server.port());
    fake.send(make_environment(script));
    REQUIRE(fake.read_line(io_timeout) == "ANSWER\n");
    fake.send("200 result=0\n");
    CHECK(fake.wait_closed(io_timeout));
  }
  REQUIRE(server.wait_live_zero());
  auto s = server.server().stats();
  CHECK(s.calls_failed == 2);
  CHECK(s.calls_completed == 1);
  CHECK(ended_failed == 1);
  CHECK(ended_exception == 1);
}

TEST_CASE("a handler that ignores errors after the peer left is ended", "[agi][server][fault]") {
  astra::agi::router routes;
  routes.add("/t", [](call& c) -> astra::task<void> {
    for (;;) (void)co_await c.noop();  // never checks the result
  });
  test_server server(std::move(routes));
  {
    fake_asterisk fake(server.port());
    fake.send(make_environment("t"));
    REQUIRE(fake.read_line(io_timeout) == "NOOP\n");
    fake.close();
  }
  REQUIRE(server.wait_live_zero());
  CHECK(server.server().stats().calls_failed == 1);
}

TEST_CASE("graceful shutdown drains running calls, then cuts the rest", "[agi][server][fault][drain]") {
  log_book book;
  astra::agi::router routes;
  routes.add("/t", [&](call& c) -> astra::task<void> {
    auto r = co_await c.noop();
    book.add("noop " + code_name(r.code()));
  });
  test_server server(std::move(routes));
  fake_asterisk finishing(server.port()), stuck(server.port());
  finishing.send(make_environment("t"));
  stuck.send(make_environment("t"));
  REQUIRE(finishing.read_line(io_timeout) == "NOOP\n");
  REQUIRE(stuck.read_line(io_timeout) == "NOOP\n");
  REQUIRE(server.server().live_calls() == 2);

  auto report = std::async(std::launch::async, [&] { return server.server().shutdown(700ms); });
  // The listener closes after the drain began (connects are refused from then on).
  CHECK(eventually([&] {
    try {
      fake_asterisk probe(server.port());
      return false;
    } catch (const std::runtime_error&) {
      return true;
    }
  }));
  finishing.send("200 result=0\n");            // finishes within the drain time
  CHECK(finishing.wait_closed(io_timeout));
  auto r = report.get();
  CHECK(r.drained == 1);
  CHECK(r.cut == 1);
  CHECK(stuck.wait_closed(io_timeout));
  CHECK(server.server().live_calls() == 0);
  CHECK(server.server().stats().calls_cut == 1);
  CHECK(book.snapshot() == std::vector<std::string>{"noop ok"});  // the cut handler never resumed
}

TEST_CASE("destroying the server closes every live call's socket at once", "[agi][server][fault][drain]") {
  // ~server cuts the live calls; the closes they request must still reach the sockets (the
  // io_context keeps running: it is shared with other components).
  astra::io_runtime io{2};  // outlives the actor system (actors hold Asio objects until it ends)
  caf::actor_system_config caf_config;
  caf::actor_system system{caf_config};
  int not_closed = 0, rounds = 10;
  for (int round = 0; round < rounds; ++round) {
    astra::agi::router routes;
    routes.add("/wait", [](call& c) -> astra::task<void> { (void)co_await c.wait_for_digit(30s); });
    astra::agi::server_config config;
    config.host = "127.0.0.1";
    config.port = 0;
    auto srv = std::make_unique<astra::agi::server>(system, io.context(), std::move(routes), config);
    REQUIRE(!srv->start());
    std::vector<std::unique_ptr<fake_asterisk>> peers;
    for (int i = 0; i < 4; ++i) {
      peers.push_back(std::make_unique<fake_asterisk>(srv->local_port()));
      peers.back()->send(make_environment("wait"));
      REQUIRE(peers.back()->read_line(io_timeout) == "WAIT FOR DIGIT 30000\n");
    }
    srv.reset();
    for (auto& peer : peers)
      if (!peer->wait_closed(1500ms)) ++not_closed;
  }
  CHECK(not_closed == 0);
}
