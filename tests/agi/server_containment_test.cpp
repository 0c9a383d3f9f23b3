// Failures of user code contained by the FastAGI server (issue 10): an auth policy, each hook
// kind and a handler throw; a handler stalls past max_call_duration. Each time: only the
// affected call ends (with the expected outcome, counted), a concurrent well-behaved call
// completes, and the server still accepts afterwards.
#include <catch2/catch.hpp>

#include <algorithm>
#include <atomic>
#include <functional>
#include <mutex>
#include <stdexcept>
#include <string>
#include <vector>

#include "actors/agi/call.hpp"
#include "actors/agi/detail/call_core.hpp"
#include "actors/agi/server.hpp"
#include "tests/agi/fake_asterisk.hpp"

using namespace std::chrono_literals;
using astra::agi::call;
using astra::agi::call_outcome;
using astra::agi::refusal;
using astra::test::eventually;
using astra::test::fake_asterisk;
using astra::test::make_environment;
using astra::test::test_server;

namespace {

constexpr auto io_timeout = 3000ms;

astra::task<void> noop_handler(call& c) { (void)co_await c.noop(); }

// A caller on `script` whose handler issues one NOOP: the call is in progress once this
// returns (NOOP read); finish() answers it and expects the orderly close.
struct pending_call {
  fake_asterisk fake;
  pending_call(std::uint16_t port, const std::string& script) : fake(port) {
    fake.send(make_environment(script));
    REQUIRE(fake.read_line(io_timeout) == "NOOP\n");
  }
  void finish() {
    fake.send("200 result=0\n");
    CHECK(fake.wait_closed(io_timeout));
  }
};

// A connection the server must close without writing anything.
void expect_closed_silently(std::uint16_t port, const std::string& script) {
  fake_asterisk fake(port);
  fake.send(make_environment(script));
  std::string extra;
  CHECK(fake.wait_closed(io_timeout, &extra));
  CHECK(extra.empty());
}

// Outcomes reported by call_ended, thread-safe.
struct outcomes {
  std::mutex mutex;
  std::vector<call_outcome> seen;
  void add(call_outcome o) {
    std::lock_guard<std::mutex> lock(mutex);
    seen.push_back(o);
  }
  long count(call_outcome o) {
    std::lock_guard<std::mutex> lock(mutex);
    return std::count(seen.begin(), seen.end(), o);
  }
};

}  // namespace

TEST_CASE("an auth policy that throws refuses only that call; the server goes on", "[agi][server][containment][auth]") {
  std::atomic<int> auth_error_hook{0}, auth_hook{0};
  astra::agi::router routes;
  routes.add("/ok", &noop_handler);
  astra::agi::route_options throwing;
  throwing.auth = [](const astra::agi::auth_request& req) {
    auto x = req.env.params("x");
    if (!x.empty() && x.front() == "throw") throw std::runtime_error("policy bug");
    return astra::agi::auth_decision::allow();
  };
  routes.add("/guarded", &noop_handler, throwing);
  astra::agi::server_config cfg;
  // The global policy (used by /ok) throws something that is not a std::exception.
  cfg.auth = [](const astra::agi::auth_request& req) {
    if (!req.env.params("boom").empty()) throw 42;
    return astra::agi::auth_decision::allow();
  };
  cfg.hooks.connection_refused = [&](refusal why, const astra::agi::peer_address&) {
    if (why == refusal::auth_error) ++auth_error_hook;
    if (why == refusal::auth) ++auth_hook;
  };
  test_server server(std::move(routes), cfg);

  pending_call running(server.port(), "ok");          // a call in progress throughout
  expect_closed_silently(server.port(), "guarded?x=throw");  // route policy throws
  expect_closed_silently(server.port(), "ok?boom=1");        // global policy throws (non-std)
  running.finish();                                          // the concurrent call completes
  pending_call(server.port(), "guarded?x=fine").finish();    // the same policy admits the next call
  REQUIRE(server.wait_live_zero());

  auto s = server.server().stats();
  CHECK(s.auth_errors == 2);
  CHECK(s.refused_auth == 0);
  CHECK(s.calls_started == 2);
  CHECK(s.calls_completed == 2);
  CHECK(s.hook_errors == 0);
  CHECK(auth_error_hook == 2);
  CHECK(auth_hook == 0);
  CHECK(std::string(astra::agi::to_string(refusal::auth_error)) == "auth_error");
}

TEST_CASE("hooks that throw are counted and skipped; calls and the server go on", "[agi][server][containment][hooks]") {
  std::atomic<int> started{0}, ended{0}, commands{0}, replies{0}, refused{0};
  outcomes ends;
  astra::agi::router routes;
  routes.add("/t", [](call& c) -> astra::task<void> {
    auto a = co_await c.answer();
    if (!a) throw std::runtime_error("answer failed: " + a.error().message());
    (void)co_await c.noop();
  });
  astra::agi::server_config cfg;
  cfg.hooks.call_started = [&](std::string_view, std::uint64_t) {
    ++started;
    throw std::runtime_error("call_started hook bug");
  };
  cfg.hooks.call_ended = [&](std::string_view, std::uint64_t, call_outcome o, std::chrono::nanoseconds) {
    ends.add(o);
    ++ended;
    throw 7;  // not a std::exception
  };
  cfg.hooks.command_completed = [&](std::string_view, std::chrono::nanoseconds, int) {
    ++commands;
    throw std::logic_error("command_completed hook bug");
  };
  cfg.hooks.reply_received = [&](int) {
    ++replies;
    throw std::runtime_error("reply_received hook bug");
  };
  cfg.hooks.connection_refused = [&](refusal, const astra::agi::peer_address&) {
    ++refused;
    throw std::runtime_error("connection_refused hook bug");
  };
  test_server server(std::move(routes), cfg);

  auto serve = [&](fake_asterisk& fake) {
    REQUIRE(fake.read_line(io_timeout) == "ANSWER\n");
    fake.send("200 result=0\n");
    REQUIRE(fake.read_line(io_timeout) == "NOOP\n");
    fake.send("200 result=0\n");
    CHECK(fake.wait_closed(io_timeout));
  };
  {
    fake_asterisk a(server.port()), b(server.port());  // two calls at once
    a.send(make_environment("t"));
    b.send(make_environment("t"));
    REQUIRE(a.read_line(io_timeout) == "ANSWER\n");
    expect_closed_silently(server.port(), "nowhere");  // a refusal while both calls run
    a.send("200 result=0\n");
    REQUIRE(a.read_line(io_timeout) == "NOOP\n");
    serve(b);
    a.send("200 result=0\n");
    CHECK(a.wait_closed(io_timeout));
  }
  {
    fake_asterisk c(server.port());  // the server still accepts
    c.send(make_environment("t"));
    serve(c);
  }
  REQUIRE(server.wait_live_zero());

  CHECK(started == 3);
  CHECK(ended == 3);
  CHECK(commands == 6);  // ANSWER and NOOP of each call
  CHECK(replies == 6);
  CHECK(refused == 1);
  CHECK(ends.count(call_outcome::completed) == 3);
  auto s = server.server().stats();
  CHECK(s.calls_completed == 3);
  CHECK(s.calls_failed == 0);
  CHECK(s.no_route == 1);
  CHECK(s.hook_errors == 3u + 3u + 6u + 6u + 1u);
}

TEST_CASE("a handler that throws ends only its call", "[agi][server][containment][handler]") {
  outcomes ends;
  astra::agi::router routes;
  routes.add("/ok", &noop_handler);
  // Not a coroutine: throws before it returns a task.
  routes.add("/plain", astra::agi::handler([](call&) -> astra::task<void> { throw std::runtime_error("plain throw"); }));
  routes.add("/co", [](call& c) -> astra::task<void> {
    (void)co_await c.answer();
    throw std::runtime_error("coroutine throw");
  });
  astra::agi::server_config cfg;
  cfg.hooks.call_ended = [&](std::string_view, std::uint64_t, call_outcome o, std::chrono::nanoseconds) { ends.add(o); };
  test_server server(std::move(routes), cfg);

  pending_call running(server.port(), "ok");
  expect_closed_silently(server.port(), "plain");
  {
    fake_asterisk co(server.port());
    co.send(make_environment("co"));
    REQUIRE(co.read_line(io_timeout) == "ANSWER\n");
    co.send("200 result=0\n");
    CHECK(co.wait_closed(io_timeout));
  }
  running.finish();
  pending_call(server.port(), "ok").finish();
  REQUIRE(server.wait_live_zero());

  auto s = server.server().stats();
  CHECK(s.calls_started == 4);
  CHECK(s.calls_failed == 2);
  CHECK(s.calls_completed == 2);
  CHECK(ends.count(call_outcome::exception) == 2);
  CHECK(ends.count(call_outcome::completed) == 2);
}

TEST_CASE("max_call_duration ends stalled calls (timed_out); the others go on", "[agi][server][containment][timeout]") {
  outcomes ends;
  std::atomic<int> stalled{0}, resumed{0};
  astra::agi::router routes;
  routes.add("/ok", &noop_handler);
  // Waits for a digit without limit: the command's deadline is long_command_timeout (1 h).
  routes.add("/digit", [&](call& c) -> astra::task<void> {
    (void)co_await c.wait_for_digit(-1ms);
    ++resumed;
  });
  // Suspended on something that is not a command and never completes.
  routes.add("/stall", [&](call&) -> astra::task<void> {
    ++stalled;
    (void)co_await astra::callback_awaitable<int>([](std::function<void(int)>) {});
    ++resumed;
  });
  astra::agi::server_config cfg;
  cfg.max_call_duration = 1500ms;  // generous: the well-behaved calls finish long before
  cfg.hooks.call_ended = [&](std::string_view, std::uint64_t, call_outcome o, std::chrono::nanoseconds) { ends.add(o); };
  test_server server(std::move(routes), cfg);

  fake_asterisk digit(server.port()), open_stall(server.port()), closed_stall(server.port());
  digit.send(make_environment("digit"));
  REQUIRE(digit.read_line(io_timeout) == "WAIT FOR DIGIT -1\n");
  open_stall.send(make_environment("stall"));
  closed_stall.send(make_environment("stall"));
  REQUIRE(eventually([&] { return stalled == 2; }));
  closed_stall.close();  // its handler stays suspended after the connection is gone
  pending_call(server.port(), "ok").finish();

  std::string extra;
  CHECK(digit.wait_closed(10s, &extra));  // no reply ever came: the server ended the call
  CHECK(extra.empty());
  CHECK(open_stall.wait_closed(10s));
  REQUIRE(server.wait_live_zero(10s));
  pending_call(server.port(), "ok").finish();  // still accepting
  REQUIRE(server.wait_live_zero());

  auto s = server.server().stats();
  CHECK(s.calls_timed_out == 3);
  CHECK(s.calls_completed == 2);
  CHECK(s.calls_failed == 0);
  CHECK(ends.count(call_outcome::timed_out) == 3);
  CHECK(resumed == 0);  // ended handlers are never resumed
  CHECK(std::string(astra::agi::to_string(call_outcome::timed_out)) == "timed_out");

  astra::agi::router more;
  more.add("/ok", &noop_handler);
  astra::agi::server_config negative;
  negative.max_call_duration = -1ms;
  CHECK_THROWS_AS(test_server(std::move(more), negative), std::invalid_argument);
}

// ------------------------------------------------------------------ call_core on virtual time

namespace {

using namespace astra::agi::detail;

clock::time_point g_now = clock::time_point{} + 1000h;
clock::time_point virtual_now() noexcept { return g_now; }

struct recording_transport final : call_transport {
  std::vector<std::string> lines;
  std::vector<clock::time_point> wakeups;
  void write(std::string line, clock::time_point wake_at) override {
    lines.push_back(std::move(line));
    if (wake_at != clock::time_point::max()) wakeups.push_back(wake_at);
  }
  void arm(clock::time_point wake_at) override { wakeups.push_back(wake_at); }
  void close() override {}
};

}  // namespace

TEST_CASE("call_core: max_call_duration arms the timer and expires the call; throwing hooks are counted",
          "[agi][call_core][containment]") {
  const auto t0 = g_now;
  hook_faults faults;
  core_settings settings;
  settings.now = &virtual_now;
  settings.max_call_duration = 10s;
  settings.faults = &faults;
  astra::agi::server_hooks hooks;
  int commands = 0, replies = 0;
  hooks.command_completed = [&](std::string_view, std::chrono::nanoseconds, int) {
    ++commands;
    throw std::runtime_error("hook bug");
  };
  hooks.reply_received = [&](int) {
    ++replies;
    throw 1;
  };
  auto io = std::make_shared<recording_transport>();
  call_core core(settings, io, &hooks, 42);
  CHECK(io->wakeups == std::vector<clock::time_point>{t0 + 10s});  // armed for the call's deadline
  CHECK(core.call_deadline() == t0 + 10s);

  command_slot slot;
  slot.line = "NOOP\n";
  slot.name = "noop";
  REQUIRE(core.submit(slot));
  CHECK(io->wakeups.size() == 1);  // its 30 s deadline is later: the timer stays at the call's
  core.on_event(astra::agi::reply_event{astra::agi::reply_event::final_reply, astra::agi::parse_reply_line("200 result=0").value()});
  REQUIRE(slot.outcome);
  CHECK(*slot.outcome);  // completed although both hooks threw
  CHECK(commands == 1);
  CHECK(replies == 1);
  CHECK(faults.total() == 2);
  CHECK(faults.count(hook_kind::command_completed) == 1);
  CHECK(faults.count(hook_kind::reply_received) == 1);

  g_now = t0 + 10s - 1ms;
  core.on_tick(g_now);  // early tick: re-armed for the deadline
  CHECK_FALSE(core.expired());
  CHECK(io->wakeups.back() == t0 + 10s);
  g_now = t0 + 10s;
  core.on_tick(g_now);
  CHECK(core.expired());
  CHECK(core.connected());  // the owner ends the call (and closes the transport)
}
