// astra's CAF scheduler (actors/common/caf_scheduler.hpp): the lean clock skips the timeout
// cancellation of actors that never set one, and every kind of timeout still works through it
// (receive timeouts, request timeouts, delayed messages); an actor that ends with a timeout
// pending is released at once (its cancellation reaches CAF's clock).
// CAF 0.17: function actors get spawn arguments (a capture-only lambda without arguments
// dereferences a null argument tuple).
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
    auto a = system.spawn(
        [](caf::event_based_actor* self, std::atomic<int>* counter) -> caf::behavior {
          return {[self, counter](int) {
            ++*counter;
            self->quit();
          }};
        },
        &ran);
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
  const auto start = std::chrono::steady_clock::now();
  std::atomic<std::int64_t> after_ms{-1};
  struct probe {
    std::atomic<bool>* fired;
    std::atomic<std::int64_t>* after_ms;
    std::chrono::steady_clock::time_point start;
  };
  system.spawn(
      [](caf::event_based_actor* self, probe p) -> caf::behavior {
        return {[](int) {},
                caf::after(std::chrono::milliseconds(30)) >> [self, p] {
                  *p.after_ms =
                      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - p.start).count();
                  *p.fired = true;
                  self->quit();
                }};
      },
      probe{&fired, &after_ms, start});
  REQUIRE(eventually([&] { return fired.load(); }));
  CHECK(after_ms.load() >= 30);
  // The actor set a timeout: its termination reaches CAF's clock.
  CHECK(eventually([&] { return astra::lean_clock_stats(system).cancels_forwarded > forwarded0; }));
}

TEST_CASE("astra scheduler: request timeouts fire; answered requests get their answer", "[caf][scheduler]") {
  auto cfg = astra_config();
  caf::actor_system system{cfg};
  REQUIRE(astra::lean_clock_stats(system).installed);
  auto silent = system.spawn([](caf::event_based_actor*, int) -> caf::behavior {
    return {[](int) -> caf::result<int> { return caf::delegated<int>{}; }};  // never answers
  }, 0);
  auto echo = system.spawn([](caf::event_based_actor*, int) -> caf::behavior { return {[](int x) { return x; }}; }, 0);
  struct counts {
    std::atomic<int> timed_out{0}, answered{0}, wrong{0};
  } n;
  system.spawn(
      [](caf::event_based_actor* self, caf::actor silent_actor, caf::actor echo_actor, counts* c) {
        self->request(silent_actor, std::chrono::milliseconds(40), 1)
            .then([c](int) { ++c->wrong; },
                  [c](caf::error& e) {
                    if (e == caf::sec::request_timeout) ++c->timed_out;
                    else ++c->wrong;
                  });
        self->request(echo_actor, std::chrono::milliseconds(40), 7)
            .then([c](int x) { x == 7 ? ++c->answered : ++c->wrong; }, [c](caf::error&) { ++c->wrong; });
      },
      silent, echo, &n);
  REQUIRE(eventually([&] { return n.timed_out.load() == 1 && n.answered.load() == 1; }));
  CHECK(n.wrong.load() == 0);
  caf::anon_send_exit(silent, caf::exit_reason::user_shutdown);
  caf::anon_send_exit(echo, caf::exit_reason::user_shutdown);
}

namespace {

// Counts its own destruction, which happens when the last strong reference goes (not at
// termination, when a stateful actor's state is already destroyed).
class timeout_probe : public caf::event_based_actor {
 public:
  timeout_probe(caf::actor_config& cfg, std::atomic<int>* destroyed) : caf::event_based_actor(cfg), destroyed_(destroyed) {}
  ~timeout_probe() override { ++*destroyed_; }
  caf::behavior make_behavior() override {
    return {[this](int) { quit(); }, caf::after(std::chrono::seconds(3600)) >> [] {}};
  }

 private:
  std::atomic<int>* destroyed_;
};

}  // namespace

TEST_CASE("astra scheduler: an actor that ends with a timeout pending is released at once", "[caf][scheduler]") {
  // CAF's clock holds a strong reference to an actor with a pending timeout until the
  // cancellation reaches it: were the lean clock to skip it, this actor would live for an hour.
  auto cfg = astra_config();
  caf::actor_system system{cfg};
  std::atomic<int> destroyed{0};
  auto a = system.spawn<timeout_probe>(&destroyed);
  std::this_thread::sleep_for(20ms);  // the receive timeout is set once the actor has run
  caf::anon_send(a, 1);
  a = nullptr;
  CHECK(eventually([&] { return destroyed.load() == 1; }));
}

TEST_CASE("astra scheduler: delayed messages arrive after their delay", "[caf][scheduler]") {
  auto cfg = astra_config();
  caf::actor_system system{cfg};
  std::atomic<std::int64_t> got_ms{-1};
  const auto start = std::chrono::steady_clock::now();
  auto receiver = system.spawn(
      [](caf::event_based_actor* self, std::atomic<std::int64_t>* got, std::chrono::steady_clock::time_point t0) -> caf::behavior {
        return {[self, got, t0](const std::string& s) {
          if (s == "late")
            *got = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count();
          self->quit();
        }};
      },
      &got_ms, start);
  caf::delayed_anon_send(receiver, std::chrono::milliseconds(30), std::string("late"));
  REQUIRE(eventually([&] { return got_ms.load() >= 0; }));
  CHECK(got_ms.load() >= 30);
}
