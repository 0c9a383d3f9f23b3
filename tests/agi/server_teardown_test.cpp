// After FastAGI calls ran (completed, cut by shutdown, peer gone), shutting the server down must
// leave nothing that keeps CAF's actor_system alive: ~actor_system has to return. Every wait is
// bounded; the destruction runs on its own thread and the test fails (without hanging the
// runner) if it does not finish within teardown_deadline.
#include <catch2/catch.hpp>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <future>
#include <memory>
#include <thread>

#include <caf/all.hpp>

#include "actors/agi/call.hpp"
#include "actors/agi/server.hpp"
#include "actors/common/io_runtime.hpp"
#include "tests/agi/fake_asterisk.hpp"

using namespace std::chrono_literals;
using astra::agi::call;
using astra::test::eventually;
using astra::test::fake_asterisk;
using astra::test::make_environment;

namespace {

constexpr auto io_timeout = 3000ms;
constexpr auto teardown_deadline = 10s;

// Runs `fn` on its own thread; true if it returned within `deadline`. On a timeout the thread is
// left detached and the process is ended after the test reported (a hung ~actor_system cannot
// be joined, and destroying its objects underneath it would be undefined).
template <class Fn>
bool finishes_within(std::chrono::seconds deadline, Fn fn) {
  auto done = std::make_shared<std::promise<void>>();
  auto finished = done->get_future();
  std::thread worker([done, fn = std::move(fn)]() mutable {
    fn();
    done->set_value();
  });
  if (finished.wait_for(deadline) == std::future_status::ready) {
    worker.join();
    return true;
  }
  worker.detach();
  return false;
}

// The handler shape the astra service uses: a result_handler that awaits nested tasks.
astra::task<astra::result<void>> answer_then_hangup(call& c) {
  auto a = co_await c.answer();
  if (!a) co_return astra::failure{a.code(), "answer"};
  auto h = co_await c.hangup();
  if (!h) co_return astra::failure{h.code(), "hangup"};
  co_return astra::result<void>{};
}

}  // namespace

TEST_CASE("the actor system is destroyed promptly after FastAGI calls and a shutdown", "[agi][server][teardown]") {
  // Declared first: outlives everything below, even on a failed REQUIRE.
  auto system_config = std::make_unique<caf::actor_system_config>();
  auto system = std::make_unique<caf::actor_system>(*system_config);
  auto io = std::make_unique<astra::io_runtime>(2);

  astra::agi::router routes;
  routes.add("/done", astra::agi::result_handler([](call& c) -> astra::task<astra::result<void>> {
               co_return co_await answer_then_hangup(c);
             }));
  routes.add("/wait", [](call& c) -> astra::task<void> {
    (void)co_await c.wait_for_digit(30s);  // still waiting when the server shuts down: cut
  });
  routes.add("/gone", [](call& c) -> astra::task<void> {
    (void)co_await c.stream_file("prompt");  // the peer leaves mid-command
    (void)co_await c.noop();
  });
  astra::agi::server_config cfg;
  cfg.host = "127.0.0.1";
  cfg.port = 0;
  std::atomic<int> ended{0};
  cfg.hooks.call_ended = [&ended](std::string_view, std::uint64_t, astra::agi::call_outcome, std::chrono::nanoseconds) {
    ++ended;
  };
  auto srv = std::make_unique<astra::agi::server>(*system, io->context(), std::move(routes), cfg);
  REQUIRE_FALSE(srv->start());

  constexpr int completed_calls = 5;
  for (int i = 0; i < completed_calls; ++i) {
    fake_asterisk fake(srv->local_port());
    fake.send(make_environment("done"));
    REQUIRE(fake.read_line(io_timeout) == "ANSWER\n");
    fake.send("200 result=0\n");
    REQUIRE(fake.read_line(io_timeout) == "HANGUP\n");
    fake.send("200 result=1\n");
    REQUIRE(fake.wait_closed(io_timeout));
  }
  {
    fake_asterisk fake(srv->local_port());
    fake.send(make_environment("gone"));
    REQUIRE(fake.read_line(io_timeout) == "STREAM FILE prompt \"\"\n");
    fake.close();
  }
  fake_asterisk waiting(srv->local_port());
  waiting.send(make_environment("wait"));
  REQUIRE(waiting.read_line(io_timeout) == "WAIT FOR DIGIT 30000\n");
  REQUIRE(eventually([&] { return ended.load() == completed_calls + 1; }));

  auto report = srv->shutdown(0ms);
  CHECK(report.cut == 1);
  CHECK(waiting.wait_closed(io_timeout));
  const auto stats = srv->stats();
  CHECK(stats.calls_completed == completed_calls + 1);
  CHECK(stats.calls_cut == 1);
  CHECK(stats.live_calls == 0);

  // The service's order: server, then (bounded) all actors done, then the actor system while
  // the Asio threads still run, then the Asio runtime.
  srv.reset();
  const bool actors_done = finishes_within(teardown_deadline, [sys = system.get()] { sys->await_all_actors_done(); });
  REQUIRE(actors_done);
  // ~actor_system waits until no thread pins CAF's logger (a thread_local set by the actor
  // system's constructor and by every spawn on that thread). It releases the destroying
  // thread's own reference, but runs on another thread here: release this thread's (the
  // constructor's) first. The Asio threads, which spawned the call actors, must hold none.
  caf::logger::set_current_actor_system(nullptr);
  const bool destroyed = finishes_within(teardown_deadline, [&system] { system.reset(); });
  if (!destroyed) {
    // ~actor_system is stuck on another thread: report, then end without unwinding into it.
    std::fprintf(stderr, "FAILED: ~actor_system did not return within %lld s after FastAGI calls\n",
                 static_cast<long long>(teardown_deadline.count()));
    std::fflush(nullptr);
    std::_Exit(1);
  }
  CHECK(finishes_within(teardown_deadline, [&io] { io.reset(); }));
}

TEST_CASE("a server whose io_context stopped with requests still queued is freed with it", "[agi][server][teardown]") {
  // agi_demo's exit order: the io threads stop while a call's last request (its close) waits
  // in the server's outbox for a drain that never runs. Destroying the io_context must break
  // the outbox -> connection -> server cycle; the sentinel held by the server's config tells.
  auto system_config = std::make_unique<caf::actor_system_config>();
  auto system = std::make_unique<caf::actor_system>(*system_config);
  auto io = std::make_unique<astra::io_runtime>(1);

  astra::agi::router routes;
  routes.add("/wait", [](call& c) -> astra::task<void> { (void)co_await c.wait_for_digit(30s); });
  astra::agi::server_config cfg;
  cfg.host = "127.0.0.1";
  cfg.port = 0;
  auto sentinel = std::make_shared<int>(0);
  const std::weak_ptr<int> server_config_alive = sentinel;
  cfg.hooks.call_ended = [sentinel](std::string_view, std::uint64_t, astra::agi::call_outcome,
                                    std::chrono::nanoseconds) { ++*sentinel; };
  sentinel.reset();
  auto srv = std::make_unique<astra::agi::server>(*system, io->context(), std::move(routes), std::move(cfg));
  REQUIRE_FALSE(srv->start());

  fake_asterisk waiting(srv->local_port());
  waiting.send(make_environment("wait"));
  REQUIRE(waiting.read_line(io_timeout) == "WAIT FOR DIGIT 30000\n");

  io->stop();  // from here on nothing posted to the io_context runs
  const auto report = srv->shutdown(0ms);  // the cut call queues its close in the outbox
  CHECK(report.cut == 1);
  CHECK(srv->live_calls() == 0);
  srv.reset();
  REQUIRE(finishes_within(teardown_deadline, [sys = system.get()] { sys->await_all_actors_done(); }));
  caf::logger::set_current_actor_system(nullptr);
  REQUIRE(finishes_within(teardown_deadline, [&system] { system.reset(); }));
  CHECK_FALSE(server_config_alive.expired());  // the queued close still holds the server
  REQUIRE(finishes_within(teardown_deadline, [&io] { io.reset(); }));
  CHECK(server_config_alive.expired());
}
