// Straight-line FastAGI handlers (route_options::on_hangup = end_handler, astra::service's
// default): a hang-up ends the handler through astra::call_ended as a normal end of the call;
// other errors stay values; `throw r.error()` fails the call; any other throw ends only that
// call (outcome exception) and the server goes on.
#include <catch2/catch.hpp>

#include <atomic>
#include <mutex>
#include <stdexcept>

#include "actors/agi/call.hpp"
#include "actors/agi/server.hpp"
#include "tests/agi/fake_asterisk.hpp"

using namespace std::chrono_literals;
using astra::agi::agi_errc;
using astra::agi::call;
using astra::test::eventually;
using astra::test::fake_asterisk;
using astra::test::make_environment;
using astra::test::test_server;

namespace {

constexpr auto io_timeout = 3000ms;

struct outcomes {
  std::mutex mutex;
  std::vector<std::string> ended;  // "route outcome"
  void add(std::string_view route, astra::agi::call_outcome o) {
    std::lock_guard<std::mutex> lock(mutex);
    ended.push_back(std::string(route) + " " + astra::agi::to_string(o));
  }
  std::vector<std::string> snapshot() {
    std::lock_guard<std::mutex> lock(mutex);
    return ended;
  }
};

astra::agi::route_options straight() {
  astra::agi::route_options o;
  o.on_hangup = astra::hangup_policy::end_handler;
  return o;
}

}  // namespace

TEST_CASE("straight-line: a hang-up ends the handler at its next command, as a normal end", "[agi][server][straight]") {
  std::atomic<int> steps{0};
  std::atomic<bool> after_hangup_ran{false};
  outcomes seen;
  astra::agi::router routes;
  routes.add("/ignore", [&](call& c) -> astra::task<void> {
    co_await c.answer();
    ++steps;
    co_await c.stream_file("welcome");  // the caller hangs up here: this throws call_ended
    after_hangup_ran = true;
    co_await c.hangup();
  }, straight());
  astra::agi::server_config cfg;
  cfg.hooks.call_ended = [&](std::string_view route, std::uint64_t, astra::agi::call_outcome o, std::chrono::nanoseconds) {
    seen.add(route, o);
  };
  test_server server(std::move(routes), cfg);
  fake_asterisk fake(server.port());
  fake.send(make_environment("ignore"));
  REQUIRE(fake.read_line(io_timeout) == "ANSWER\n");
  fake.send("200 result=0\n");
  REQUIRE(fake.read_line(io_timeout) == "STREAM FILE welcome \"\"\n");
  fake.send("HANGUP\n511 Command Not Permitted on a dead channel or intercept routine\n");
  CHECK(fake.wait_closed(io_timeout));
  REQUIRE(server.wait_live_zero());
  CHECK(steps.load() == 1);
  CHECK_FALSE(after_hangup_ran.load());
  REQUIRE(eventually([&] { return seen.snapshot().size() == 1; }));
  CHECK(seen.snapshot()[0] == "/ignore completed");
}

TEST_CASE("straight-line: other errors stay values; throw r.error() fails; a throw is contained",
          "[agi][server][straight]") {
  outcomes seen;
  std::atomic<bool> saw_timeout_value{false};
  astra::agi::router routes;
  routes.add("/values", [&](call& c) -> astra::task<void> {
    auto digits = co_await c.get_data("menu", 100ms, 1);
    saw_timeout_value = digits.ok() && digits->timed_out;
    auto bad = co_await c.exec("NoSuchApp");
    if (!bad) throw bad.error();  // ends the call as failed
  }, straight());
  routes.add("/throws", [&](call& c) -> astra::task<void> {
    co_await c.answer();
    throw std::runtime_error("handler bug");
  }, straight());
  routes.add("/fine", [&](call& c) -> astra::task<void> { co_await c.answer(); }, straight());
  astra::agi::server_config cfg;
  cfg.hooks.call_ended = [&](std::string_view route, std::uint64_t, astra::agi::call_outcome o, std::chrono::nanoseconds) {
    seen.add(route, o);
  };
  test_server server(std::move(routes), cfg);
  {
    fake_asterisk fake(server.port());
    fake.send(make_environment("values"));
    REQUIRE(fake.read_line(io_timeout) == "GET DATA menu 100 1\n");
    fake.send("200 result= (timeout)\n");
    REQUIRE(fake.read_line(io_timeout) == "EXEC NoSuchApp\n");
    fake.send("200 result=-2\n");
    CHECK(fake.wait_closed(io_timeout));
  }
  {
    fake_asterisk thrower(server.port());
    fake_asterisk fine(server.port());
    thrower.send(make_environment("throws"));
    fine.send(make_environment("fine"));
    REQUIRE(thrower.read_line(io_timeout) == "ANSWER\n");
    REQUIRE(fine.read_line(io_timeout) == "ANSWER\n");
    thrower.send("200 result=0\n");
    CHECK(thrower.wait_closed(io_timeout));
    fine.send("200 result=0\n");
    CHECK(fine.wait_closed(io_timeout));
  }
  REQUIRE(server.wait_live_zero());
  CHECK(saw_timeout_value.load());
  REQUIRE(eventually([&] { return seen.snapshot().size() == 3; }));
  auto all = seen.snapshot();
  std::sort(all.begin(), all.end());
  CHECK(all == std::vector<std::string>{"/fine completed", "/throws exception", "/values failed"});
  // The server still accepts calls afterwards.
  fake_asterisk again(server.port());
  again.send(make_environment("fine"));
  REQUIRE(again.read_line(io_timeout) == "ANSWER\n");
  again.send("200 result=0\n");
  CHECK(again.wait_closed(io_timeout));
}

TEST_CASE("return_error: a handler may take the hang-up as a value and run dead-channel commands",
          "[agi][server][straight]") {
  std::atomic<bool> saw_hung_up{false};
  astra::agi::router routes;
  routes.add("/dead", [&](call& c) -> astra::task<void> {
    c.set_on_hangup(astra::hangup_policy::return_error);
    auto d = co_await c.wait_for_digit(10s);
    saw_hung_up = d.code() == agi_errc::hung_up;
    co_await c.set_variable("ASTRA_SAW_HANGUP", "1");
  }, straight());
  test_server server(std::move(routes));
  fake_asterisk fake(server.port());
  fake.send(make_environment("dead"));
  REQUIRE(fake.read_line(io_timeout) == "WAIT FOR DIGIT 10000\n");
  fake.send("200 result=-1\nHANGUP\n");
  REQUIRE(fake.read_line(io_timeout) == "SET VARIABLE ASTRA_SAW_HANGUP 1\n");
  fake.send("200 result=1\n");
  CHECK(fake.wait_closed(io_timeout));
  REQUIRE(server.wait_live_zero());
  CHECK(saw_hung_up.load());
}
