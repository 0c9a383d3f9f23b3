// astra's CAF scheduler (actors/common/caf_scheduler.hpp): the lean clock skips the timeout
// cancellation of actors that never set one, and every kind of timeout still works through it
// (receive timeouts, request timeouts, delayed messages, a timeout that must not fire).
#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <string>
#include <thread>

#include <caf/all.hpp>

#include "actors/common/caf_scheduler.hpp"

using namespace std::chrono_literals;

namespace {

caf::actor_system_config astra_config() {
  caf::actor_system_config cfg;
  astra::use_astra_scheduler(cfg);
  cfg.set("scheduler.max-threads", std::size_t{2});
  return cfg;
}

// Polls `done` for up to 5 s.
template <class F>
bool eventually(F done) {
  for (auto deadline = std::chrono::steady_clock::now() + 5s; std::chrono::steady_clock::now() < deadline;) {
    if (done()) return true;
    std::this_thread::sleep_for(1ms);
  }
  return done();
}

}  // namespace

TEST_CASE("astra scheduler: installed, actors without timeouts are not reported to the clock", "[caf][scheduler]") {
  {
    caf::actor_system_config stock_cfg;
    caf::actor_system stock{stock_cfg};
    CHECK_FALSE(astra::lean_clock_stats(stock).installed);
  }
  auto cfg = astra_config();
  caf::actor_system system{cfg};
  auto before = astra::lean_clock_stats(system);
  REQUIRE(before.installed);
  std::atomic<int> ran{0};
  for (int i = 0; i < 200; ++i) {
    auto a = system.spawn([&ran](caf::event_based_actor* self) -> caf::behavior {
      return {[self, &ran](int) {
        ++ran;
        self->quit();
      }};
    });
    caf::anon_send(a, 1);
  }
  REQUIRE(eventually([&] { return astra::lean_clock_stats(system).cancels_skipped >= before.cancels_skipped + 200; }));
  CHECK(ran.load() == 200);
  CHECK(astra::lean_clock_stats(system).cancels_forwarded == before.cancels_forwarded);
}

TEST_CASE("astra scheduler: receive timeouts fire, and the actor's cancellation is forwarded", "[caf][scheduler]") {
  auto cfg = astra_config();
  caf::actor_system system{cfg};
  const auto forwarded0 = astra::lean_clock_stats(system).cancels_forwarded;
  std::atomic<bool> fired{false};
  auto start = std::chrono::steady_clock::now();
  std::atomic<std::int64_t> after_ms{-1};
  system.spawn([&](caf::event_based_actor* self) -> caf::behavior {
    return {[](int) {},
            caf::after(std::chrono::milliseconds(30)) >> [&, self] {
              after_ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start).count();
              fired = true;
              self->quit();
            }};
  });
  REQUIRE(eventually([&] { return fired.load(); }));
  CHECK(after_ms.load() >= 30);
  // The actor set a timeout: its termination reaches CAF's clock.
  CHECK(eventually([&] { return astra::lean_clock_stats(system).cancels_forwarded > forwarded0; }));
}

TEST_CASE("astra scheduler: request timeouts fire; an answered request's timeout does not", "[caf][scheduler]") {
  auto cfg = astra_config();
  caf::actor_system system{cfg};
  auto silent = system.spawn([](caf::event_based_actor*) -> caf::behavior {
    return {[](int) -> caf::result<int> { return caf::delegated<int>{}; }};  // never answers
  });
  auto echo = system.spawn([](caf::event_based_actor*) -> caf::behavior { return {[](int x) { return x; }}; });
  std::atomic<int> timed_out{0}, answered{0}, wrong{0};
  system.spawn([&](caf::event_based_actor* self) {
    self->request(silent, std::chrono::milliseconds(40), 1)
        .then([&](int) { ++wrong; },
              [&](caf::error& e) {
                if (e == caf::sec::request_timeout) ++timed_out;
                else ++wrong;
              });
    self->request(echo, std::chrono::milliseconds(40), 7)
        .then([&](int x) { x == 7 ? ++answered : ++wrong; }, [&](caf::error&) { ++wrong; });
  });
  REQUIRE(eventually([&] { return timed_out.load() == 1 && answered.load() == 1; }));
  std::this_thread::sleep_for(100ms);  // past the answered request's deadline: nothing more arrives
  CHECK(timed_out.load() == 1);
  CHECK(answered.load() == 1);
  CHECK(wrong.load() == 0);
  caf::anon_send_exit(silent, caf::exit_reason::user_shutdown);
  caf::anon_send_exit(echo, caf::exit_reason::user_shutdown);
}

TEST_CASE("astra scheduler: delayed messages arrive after their delay", "[caf][scheduler]") {
  auto cfg = astra_config();
  caf::actor_system system{cfg};
  std::atomic<std::int64_t> got_ms{-1};
  const auto start = std::chrono::steady_clock::now();
  auto receiver = system.spawn([&](caf::event_based_actor* self) -> caf::behavior {
    return {[&, self](const std::string& s) {
      if (s == "late")
        got_ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start).count();
      self->quit();
    }};
  });
  caf::delayed_anon_send(receiver, std::chrono::milliseconds(30), std::string("late"));
  REQUIRE(eventually([&] { return got_ms.load() >= 0; }));
  CHECK(got_ms.load() >= 30);
}
