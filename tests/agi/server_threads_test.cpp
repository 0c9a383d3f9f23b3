// Where call actors run (server_config::handlers_on_io_threads): on the io thread that reads their
// socket by default, on CAF's workers when turned off; the call behaves the same.
#include <catch2/catch.hpp>

#include <atomic>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "actors/agi/call.hpp"
#include "actors/agi/server.hpp"
#include "tests/agi/fake_asterisk.hpp"

using namespace std::chrono_literals;
using astra::agi::call;
using astra::test::fake_asterisk;
using astra::test::make_environment;
using astra::test::test_server;

namespace {

constexpr auto io_timeout = 3000ms;

struct thread_log {
  std::mutex mutex;
  std::thread::id io;                   // where the auth policy ran (always the io thread)
  std::vector<std::thread::id> handler;  // where each step of the handler ran
  std::vector<std::string> values;
};

// Runs one call of ANSWER, GET VARIABLE, HANGUP against a server configured with `on_io`
// (nullopt: the default configuration).
void run_call(std::optional<bool> on_io, thread_log& log) {
  astra::agi::router routes;
  routes.add("/t", [&](call& c) -> astra::task<void> {
    auto note = [&] {
      std::lock_guard<std::mutex> lock(log.mutex);
      log.handler.push_back(std::this_thread::get_id());
    };
    note();
    co_await c.answer();
    note();
    auto v = co_await c.get_variable("X");
    note();
    if (v && *v) {
      std::lock_guard<std::mutex> lock(log.mutex);
      log.values.emplace_back(**v);
    }
    co_await c.hangup();
  });
  astra::agi::server_config cfg;
  if (on_io) cfg.handlers_on_io_threads = *on_io;
  cfg.auth = [&](const astra::agi::auth_request&) {
    std::lock_guard<std::mutex> lock(log.mutex);
    log.io = std::this_thread::get_id();
    return astra::agi::auth_decision{true, {}};
  };
  test_server server(std::move(routes), cfg);
  fake_asterisk fake(server.port());
  fake.send(make_environment("t"));
  REQUIRE(fake.read_line(io_timeout) == "ANSWER\n");
  fake.send("200 result=0\n");
  REQUIRE(fake.read_line(io_timeout) == "GET VARIABLE X\n");
  fake.send("200 result=1 (hello)\n");
  REQUIRE(fake.read_line(io_timeout) == "HANGUP\n");
  fake.send("200 result=1\n");
  CHECK(fake.wait_closed(io_timeout));
  REQUIRE(server.wait_live_zero());
}

}  // namespace

TEST_CASE("by default handlers run on the io thread that reads their socket", "[agi][server][threads]") {
  thread_log log;
  run_call(std::nullopt, log);
  std::lock_guard<std::mutex> lock(log.mutex);
  REQUIRE(log.handler.size() == 3);
  for (const auto& id : log.handler) CHECK(id == log.io);
  REQUIRE(log.values.size() == 1);
  CHECK(log.values[0] == "hello");
}

TEST_CASE("handlers_on_io_threads = false: handlers run on CAF's workers, the same call", "[agi][server][threads]") {
  thread_log log;
  run_call(false, log);
  std::lock_guard<std::mutex> lock(log.mutex);
  REQUIRE(log.handler.size() == 3);
  for (const auto& id : log.handler) CHECK(id != log.io);
  REQUIRE(log.values.size() == 1);
  CHECK(log.values[0] == "hello");
}
