// Supervision tree (issue 6): a crashed child is restarted after capped exponential backoff
// with jitter (reset once the child stayed up for the stable period), the restart is counted
// in astra_actor_restarts_total{actor}, and the crash never takes down the parent, not even an
// untrappable exit_reason::kill (supervisors monitor, they do not link). Children never outlive their supervisor, and stopping the root (exit
// message or drain) stops every actor of the tree: the actor system's running count returns
// to its baseline. The tree is the real one (spawn_root_supervisor / request_drain) driving
// the real server runtime (make_server_runtime: metrics, logs); only the AMI session factory
// is replaced by a child the test can crash.
#include <catch2/catch.hpp>

#include <utility>

#include <caf/all.hpp>

#include <algorithm>
#include <chrono>
#include <functional>
#include <future>
#include <map>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "actors/ami/session.hpp"
#include "actors/common/io_runtime.hpp"
#include "service/config/config.hpp"
#include "service/core/status_board.hpp"
#include "service/core/supervision.hpp"
#include "service/core/upstreams.hpp"
#include "service/metrics/astra_metrics.hpp"

using namespace std::chrono_literals;
using namespace astra;
using namespace astra::runtime;

namespace {

using clock_type = std::chrono::steady_clock;
using crash_atom = caf::atom_constant<caf::atom("crash")>;

// Short backoff so the test runs in about a second: delays ~100, ~200, then capped at 400 ms.
constexpr auto initial_delay = 100ms;
constexpr auto max_delay = 400ms;
constexpr double multiplier = 2.0;
constexpr double jitter = 0.1;
// Uptime after which a child's backoff resets. Far above how long a child lives in the sections
// that crash it right after its spawn (a few ms), so their delays keep growing.
constexpr auto stable_period = 1000ms;
constexpr auto timer_slack = 2ms;        // ms truncation of the recorded delay vs. the clock
constexpr auto wait_deadline = 5s;       // every wait below gives up after this
constexpr auto quiet_window = 50ms;      // "nothing else went down" is checked over this window

// Stand-in for an AMI session: accepts the supervisor's subscription (no reply, like a
// session that delivers no events), answers the drain's Logoff with success and quits
// normally on stop_request (like the real session), answers status polls with an error
// (drop: the supervisor ignores failed polls) and exits with an error on `crash`. The unused
// generation argument exists because CAF 0.17 dereferences a null argument tuple when a
// function actor is spawned without arguments (UBSan reports it).
// A subscription registered in code (name "user-...") gets one batch: Hangup, Newchannel.
caf::behavior crashing_child(caf::event_based_actor* self, int /*generation*/) {
  self->set_default_handler(caf::drop);
  return {
      [self](ami::subscribe_request& req) {
        if (req.name.rfind("user-", 0) != 0) return;
        ami::event_batch batch;
        batch.session = "pbx-sup";
        for (const char* name : {"Hangup", "Newchannel"})
          batch.events.push_back(std::make_shared<const ami::message>(
              ami::message::make(ami::message_kind::event, {{"Event", name}, {"Channel", "PJSIP/1-0001"}})));
        self->send(caf::actor_cast<caf::actor>(self->current_sender()), std::move(batch));
      },
      [](ami::request&) { return ami::reply{}; },
      [self](ami::stop_request&) { self->quit(); },
      [self](crash_atom) { self->quit(caf::make_error(caf::sec::runtime_error, "test crash")); },
  };
}

struct restart_record {
  std::string kind;
  std::string reason;
  std::chrono::milliseconds delay;
  clock_type::time_point at;
};

struct spawn_record {
  caf::actor child;
  clock_type::time_point at;
};

// The real runtime, except that spawn_ami_session builds a crashing_child; records every
// factory call, every reported restart, every logoff and, in order, the calls that start and
// stop the server's children ("spawn_ami", "start_ari", "stop_ari") before delegating.
class crash_runtime final : public server_runtime {
 public:
  crash_runtime(caf::actor_system& sys, std::shared_ptr<server_runtime> inner) : sys_(sys), inner_(std::move(inner)) {}

  const std::string& name() const override { return inner_->name(); }
  bool has_ami() const override { return inner_->has_ami(); }
  caf::actor spawn_ami_session() override {
    std::lock_guard lock(mutex_);
    auto child = sys_.spawn(crashing_child, static_cast<int>(spawns_.size()));
    spawns_.push_back({child, clock_type::now()});
    calls_.push_back("spawn_ami");
    return child;
  }
  void publish_ami(caf::actor session) override { inner_->publish_ami(std::move(session)); }
  const astra::config::queue_config& subscriber_queue() const override { return inner_->subscriber_queue(); }
  std::vector<const runtime::ami_registration*> ami_subscriptions() const override { return inner_->ami_subscriptions(); }
  void ami_link_event(const ami::link_event& ev) override { inner_->ami_link_event(ev); }
  void events_consumed(std::size_t n) override { inner_->events_consumed(n); }
  void logged_off(const std::string& error) override {
    {
      std::lock_guard lock(mutex_);
      logoffs_.push_back(error);
    }
    inner_->logged_off(error);
  }
  void ami_status(const ami::session_status& status) override { inner_->ami_status(status); }
  void ami_handler_failed() override { inner_->ami_handler_failed(); }
  void start_ari() override {
    record("start_ari");
    inner_->start_ari();
  }
  void stop_ari() override {
    record("stop_ari");
    inner_->stop_ari();
  }
  backoff_policy restart_policy() const override { return inner_->restart_policy(); }
  void actor_restarted(const std::string& kind, const std::string& reason, std::chrono::milliseconds delay) override {
    {
      std::lock_guard lock(mutex_);
      restarts_.push_back({kind, reason, delay, clock_type::now()});
    }
    inner_->actor_restarted(kind, reason, delay);
  }
  void set_supervisor(caf::actor sup) override { inner_->set_supervisor(std::move(sup)); }
  caf::actor supervisor() const override { return inner_->supervisor(); }
  void poll_status(std::map<std::string, std::int64_t>& actors, std::vector<queue_view>& queues) override {
    inner_->poll_status(actors, queues);
  }
  void shutdown() override { inner_->shutdown(); }

  std::vector<spawn_record> spawns() const {
    std::lock_guard lock(mutex_);
    return spawns_;
  }
  std::vector<restart_record> restarts() const {
    std::lock_guard lock(mutex_);
    return restarts_;
  }
  std::vector<std::string> calls() const {
    std::lock_guard lock(mutex_);
    return calls_;
  }
  std::vector<std::string> logoffs() const {
    std::lock_guard lock(mutex_);
    return logoffs_;
  }

 private:
  void record(const char* call) {
    std::lock_guard lock(mutex_);
    calls_.push_back(call);
  }

  caf::actor_system& sys_;
  std::shared_ptr<server_runtime> inner_;
  mutable std::mutex mutex_;
  std::vector<spawn_record> spawns_;
  std::vector<restart_record> restarts_;
  std::vector<std::string> calls_;
  std::vector<std::string> logoffs_;
};

// Polls `pred` every 5 ms until it holds or the deadline passes; returns the last value.
bool wait_until(const std::function<bool()>& pred, std::chrono::milliseconds deadline = wait_deadline) {
  auto until = clock_type::now() + deadline;
  while (!pred()) {
    if (clock_type::now() >= until) return false;
    std::this_thread::sleep_for(5ms);
  }
  return true;
}

// Down messages seen by the test's scoped actor: source -> exit reason.
using down_map = std::map<caf::actor_addr, caf::error>;

// Collects the down messages that arrive within `window`.
void collect_downs(caf::scoped_actor& self, down_map& downs, std::chrono::milliseconds window) {
  auto until = clock_type::now() + window;
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - clock_type::now());
    if (left <= 0ms) return;
    bool timed_out = false;
    self->receive([&](caf::down_msg& m) { downs[m.source] = m.reason; },
                  caf::after(left) >> [&] { timed_out = true; });
    if (timed_out) return;
  }
}

bool down_within(caf::scoped_actor& self, down_map& downs, const caf::actor_addr& who,
                 std::chrono::milliseconds deadline = wait_deadline) {
  auto until = clock_type::now() + deadline;
  while (downs.count(who) == 0) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - clock_type::now());
    if (left <= 0ms) return false;
    collect_downs(self, downs, std::min<std::chrono::milliseconds>(left, 50ms));
  }
  return true;
}

bool is_reason(const caf::error& e, caf::exit_reason r) { return e == caf::make_error(r); }

double restarts_of(metrics::astra_metrics& m, const char* kind) { return m.actor_restarts.with({kind}).value(); }

std::size_t count_of(const std::vector<std::string>& calls, const std::string& what) {
  return static_cast<std::size_t>(std::count(calls.begin(), calls.end(), what));
}

}  // namespace

TEST_CASE("supervision: restarts with capped backoff, parents survive kills, no actor outlives the tree",
          "[service][supervision]") {
  config::config cfg;
  cfg.backoff.initial = initial_delay;
  cfg.backoff.max = max_delay;
  cfg.backoff.multiplier = multiplier;
  cfg.backoff.jitter = jitter;
  config::server_config server;
  server.name = "pbx-sup";
  server.ami = config::ami_config{};  // never dialled: the factory is replaced

  metrics::registry registry;
  metrics::astra_metrics m(registry);
  for (const char* a : {"ami_session", "ari_client", "server_supervisor"}) m.add_actor_kind(a);
  status_board board;
  const runtime::registrations regs;  // nothing registered in code

  io_runtime io(1);  // outlives the actor system (actors hold Asio objects until it ends)
  caf::actor_system_config caf_cfg;
  caf::actor_system sys{caf_cfg};
  auto rt = std::make_shared<crash_runtime>(sys, make_server_runtime(sys, io, cfg, server, m, board, regs));

  {
    caf::scoped_actor self{sys};
    down_map downs;
    // Live (unhidden) actors before the tree exists: the scoped actor itself.
    const std::size_t baseline = sys.registry().running();
    auto running = [&] { return sys.registry().running(); };
    // The tree at rest: root, one server supervisor, one AMI session.
    const std::size_t tree_size = 3;

    auto root = spawn_root_supervisor(sys, {rt}, rt->restart_policy(), stable_period);
    self->monitor(root);
    REQUIRE(wait_until([&] { return rt->spawns().size() == 1 && rt->supervisor() != nullptr; }));
    const caf::actor sup = rt->supervisor();
    self->monitor(sup);
    // start_ari is recorded just after the session's spawn, in the same start-up step.
    REQUIRE(wait_until([&] { return running() == baseline + tree_size && count_of(rt->calls(), "start_ari") == 1; }));

    SECTION("AMI session crashes: restarted with growing, capped delays; supervisor unaffected") {
      // Four crashes: abnormal exits forced from outside (unhandled_exception, as a throwing
      // handler ends), and one error exit of the child itself.
      for (std::size_t i = 0; i < 4; ++i) {
        auto child = rt->spawns().at(i).child;
        self->monitor(child);
        if (i == 1)
          self->send(child, crash_atom::value);
        else
          self->send_exit(child, caf::exit_reason::unhandled_exception);
        REQUIRE(down_within(self, downs, child.address()));
        INFO("crash " << i);
        REQUIRE(wait_until([&] { return rt->spawns().size() == i + 2; }));  // a second factory call
        CHECK(restarts_of(m, "ami_session") == Approx(double(i + 1)));
      }

      auto restarts = rt->restarts();
      auto spawns = rt->spawns();
      REQUIRE(restarts.size() == 4);
      REQUIRE(spawns.size() == 5);
      for (const auto& r : restarts) CHECK(r.kind == "ami_session");
      CHECK(restarts[0].reason.find("unhandled_exception") != std::string::npos);
      CHECK(restarts[1].reason.find("runtime_error") != std::string::npos);

      // Backoff: initial*2^k with +/-10% jitter, never above the cap.
      auto ms = [](double v) { return std::chrono::milliseconds(static_cast<std::int64_t>(v)); };
      CHECK(restarts[0].delay >= ms(100 * (1 - jitter)));
      CHECK(restarts[0].delay <= ms(100 * (1 + jitter)));
      CHECK(restarts[1].delay >= ms(200 * (1 - jitter)));
      CHECK(restarts[1].delay <= ms(200 * (1 + jitter)));
      CHECK(restarts[1].delay > restarts[0].delay);  // second restart waits longer than the first
      CHECK(restarts[2].delay >= ms(400 * (1 - jitter)));
      CHECK(restarts[3].delay >= ms(400 * (1 - jitter)));
      for (const auto& r : restarts) CHECK(r.delay <= max_delay);
      // The restart really waited its delay (lower bound only: no timing upper bounds in tests).
      for (std::size_t i = 0; i < 4; ++i) {
        INFO("restart " << i);
        CHECK(spawns[i + 1].at - restarts[i].at >= restarts[i].delay - timer_slack);
        CHECK(spawns[i + 1].child.address() != spawns[i].child.address());
      }

      // The parent survived every crash: same supervisor, not restarted, no down message.
      collect_downs(self, downs, quiet_window);
      CHECK(rt->supervisor() == sup);
      CHECK(downs.count(sup.address()) == 0);
      CHECK(downs.count(root.address()) == 0);
      CHECK(restarts_of(m, "server_supervisor") == Approx(0.0));
      // The latest child is alive, and the four dead ones are gone.
      self->monitor(spawns[4].child);
      collect_downs(self, downs, quiet_window);
      CHECK(downs.count(spawns[4].child.address()) == 0);
      CHECK(wait_until([&] { return running() == baseline + tree_size; }));
    }

    SECTION("AMI session backoff resets after the stable period, not before") {
      auto ms = [](double v) { return std::chrono::milliseconds(static_cast<std::int64_t>(v)); };
      // Crashes child `i` once it has been up for `uptime` (from its recorded spawn) and waits
      // for its successor; returns the delay the supervisor reported for that restart.
      auto crash_after = [&](std::size_t i, std::chrono::milliseconds uptime) {
        auto s = rt->spawns().at(i);
        std::this_thread::sleep_until(s.at + uptime);
        self->send_exit(s.child, caf::exit_reason::unhandled_exception);
        REQUIRE(wait_until([&] { return rt->spawns().size() == i + 2; }));
        auto restarts = rt->restarts();
        REQUIRE(restarts.size() == i + 1);
        return restarts[i].delay;
      };
      // Three quick crashes: ~100, ~200, then the 400 ms cap.
      CHECK(crash_after(0, 0ms) <= ms(100 * (1 + jitter)));
      CHECK(crash_after(1, 0ms) >= ms(200 * (1 - jitter)));
      CHECK(crash_after(2, 0ms) >= ms(400 * (1 - jitter)));
      // Up for a quarter of the stable period only: the grown delay stays (the cap).
      CHECK(crash_after(3, stable_period / 4) >= ms(400 * (1 - jitter)));
      // Up past the stable period: back at the initial delay, within the jitter bounds...
      auto after_stable = crash_after(4, stable_period + 100ms);
      CHECK(after_stable >= ms(100 * (1 - jitter)));
      CHECK(after_stable <= ms(100 * (1 + jitter)));
      // ...and growing again from there, not from the old cap.
      auto next = crash_after(5, 0ms);
      CHECK(next >= ms(200 * (1 - jitter)));
      CHECK(next <= ms(200 * (1 + jitter)));
      // The reset changes the delay only: every restart is still counted and really waited.
      CHECK(restarts_of(m, "ami_session") == Approx(6.0));
      auto restarts = rt->restarts();
      auto spawns = rt->spawns();
      for (std::size_t i = 0; i < restarts.size(); ++i) {
        INFO("restart " << i);
        CHECK(restarts[i].kind == "ami_session");
        CHECK(spawns[i + 1].at - restarts[i].at >= restarts[i].delay - timer_slack);
      }
      collect_downs(self, downs, quiet_window);
      CHECK(downs.count(sup.address()) == 0);
      CHECK(rt->supervisor() == sup);
      CHECK(wait_until([&] { return running() == baseline + tree_size; }));
    }

    SECTION("AMI session killed with exit_reason::kill: restarted; supervisor and root survive") {
      for (std::size_t i = 0; i < 2; ++i) {
        INFO("kill " << i);
        auto child = rt->spawns().at(i).child;
        self->monitor(child);
        self->send_exit(child, caf::exit_reason::kill);
        REQUIRE(down_within(self, downs, child.address()));
        CHECK(is_reason(downs.at(child.address()), caf::exit_reason::kill));
        REQUIRE(wait_until([&] { return rt->spawns().size() == i + 2; }));
      }
      auto restarts = rt->restarts();
      REQUIRE(restarts.size() == 2);
      for (const auto& r : restarts) {
        CHECK(r.kind == "ami_session");
        CHECK(r.reason.find("kill") != std::string::npos);
      }
      CHECK(restarts_of(m, "ami_session") == Approx(2.0));
      CHECK(restarts_of(m, "server_supervisor") == Approx(0.0));
      // The kill did not travel up: no down message from the supervisor or the root, and the
      // supervisor is the original one (it also still supervises: the second kill was restarted).
      collect_downs(self, downs, quiet_window);
      CHECK(downs.count(sup.address()) == 0);
      CHECK(downs.count(root.address()) == 0);
      CHECK(rt->supervisor() == sup);
      CHECK(count_of(rt->calls(), "stop_ari") == 0);  // the server's other child was left alone
      CHECK(wait_until([&] { return running() == baseline + tree_size; }));
    }

    SECTION("AMI session exits normally outside a drain: restarted (children are permanent)") {
      // A session quits normally only when told to stop; outside a drain nobody in the tree
      // did, so the upstream is lost and must come back (issue 6).
      auto child = rt->spawns().at(0).child;
      self->monitor(child);
      self->send(child, ami::stop_request{});
      REQUIRE(down_within(self, downs, child.address()));
      CHECK(!downs.at(child.address()));  // a normal exit
      REQUIRE(wait_until([&] { return rt->spawns().size() == 2; }));
      auto restarts = rt->restarts();
      REQUIRE(restarts.size() == 1);
      CHECK(restarts[0].kind == "ami_session");
      CHECK(restarts[0].reason == "normal exit");
      CHECK(restarts[0].delay >= std::chrono::milliseconds(static_cast<std::int64_t>(100 * (1 - jitter))));
      CHECK(restarts_of(m, "ami_session") == Approx(1.0));
      collect_downs(self, downs, quiet_window);
      CHECK(downs.count(sup.address()) == 0);
      CHECK(wait_until([&] { return running() == baseline + tree_size; }));
    }

    SECTION("server supervisor crash: root restarts it (and a fresh AMI session); root survives") {
      auto old_child = rt->spawns().at(0).child;
      self->monitor(old_child);
      self->send_exit(sup, caf::exit_reason::unhandled_exception);
      REQUIRE(down_within(self, downs, sup.address()));
      REQUIRE(down_within(self, downs, old_child.address()));  // stopped with its supervisor: no leak
      CHECK(is_reason(downs.at(old_child.address()), caf::exit_reason::user_shutdown));
      REQUIRE(wait_until([&] {
        auto s = rt->supervisor();
        return s != nullptr && s != sup && rt->spawns().size() == 2;
      }));
      auto restarts = rt->restarts();
      REQUIRE(restarts.size() == 1);
      CHECK(restarts[0].kind == "server_supervisor");
      CHECK(restarts[0].reason.find("unhandled_exception") != std::string::npos);
      CHECK(restarts[0].delay >= std::chrono::milliseconds(static_cast<std::int64_t>(100 * (1 - jitter))));
      CHECK(restarts[0].delay <= max_delay);
      CHECK(rt->spawns().at(1).at - restarts[0].at >= restarts[0].delay - timer_slack);
      CHECK(restarts_of(m, "server_supervisor") == Approx(1.0));
      CHECK(restarts_of(m, "ami_session") == Approx(0.0));  // the session died with its parent, not on its own
      collect_downs(self, downs, quiet_window);
      CHECK(downs.count(root.address()) == 0);

      // The restarted supervisor supervises again: its child's crash is restarted.
      auto child = rt->spawns().at(1).child;
      self->send(child, crash_atom::value);
      REQUIRE(wait_until([&] { return rt->spawns().size() == 3; }));
      CHECK(restarts_of(m, "ami_session") == Approx(1.0));
      CHECK(wait_until([&] { return running() == baseline + tree_size; }));
    }

    SECTION("server supervisor killed with exit_reason::kill: restarted; its children are stopped, not leaked") {
      auto old_child = rt->spawns().at(0).child;
      self->monitor(old_child);
      self->send_exit(sup, caf::exit_reason::kill);
      REQUIRE(down_within(self, downs, sup.address()));
      CHECK(is_reason(downs.at(sup.address()), caf::exit_reason::kill));
      // The old session got an exit from its dying supervisor (not the kill itself: no link).
      REQUIRE(down_within(self, downs, old_child.address()));
      CHECK(is_reason(downs.at(old_child.address()), caf::exit_reason::user_shutdown));
      REQUIRE(wait_until([&] {
        auto s = rt->supervisor();
        return s != nullptr && s != sup && rt->spawns().size() == 2 && count_of(rt->calls(), "start_ari") == 2;
      }));
      const caf::actor new_sup = rt->supervisor();
      auto restarts = rt->restarts();
      REQUIRE(restarts.size() == 1);
      CHECK(restarts[0].kind == "server_supervisor");
      CHECK(restarts[0].reason.find("kill") != std::string::npos);
      CHECK(restarts_of(m, "server_supervisor") == Approx(1.0));
      CHECK(restarts_of(m, "ami_session") == Approx(0.0));
      // The ARI client was stopped with the old supervisor, before the new one started its own.
      CHECK(rt->calls() ==
            std::vector<std::string>{"spawn_ami", "start_ari", "stop_ari", "spawn_ami", "start_ari"});
      // The root survived; the old supervisor and session are gone: root + new supervisor +
      // new session only.
      collect_downs(self, downs, quiet_window);
      CHECK(downs.count(root.address()) == 0);
      CHECK(wait_until([&] { return running() == baseline + tree_size; }));

      // The new supervisor survives a kill of its own child and restarts it.
      self->monitor(new_sup);
      auto child = rt->spawns().at(1).child;
      self->send_exit(child, caf::exit_reason::kill);
      REQUIRE(wait_until([&] { return rt->spawns().size() == 3; }));
      CHECK(restarts_of(m, "ami_session") == Approx(1.0));
      collect_downs(self, downs, quiet_window);
      CHECK(downs.count(new_sup.address()) == 0);
      CHECK(downs.count(root.address()) == 0);
    }

    SECTION("root killed with exit_reason::kill: every actor of the tree stops") {
      auto child = rt->spawns().at(0).child;
      self->monitor(child);
      self->send_exit(root, caf::exit_reason::kill);
      REQUIRE(down_within(self, downs, root.address()));
      CHECK(is_reason(downs.at(root.address()), caf::exit_reason::kill));
      REQUIRE(down_within(self, downs, sup.address()));
      CHECK(is_reason(downs.at(sup.address()), caf::exit_reason::user_shutdown));
      REQUIRE(down_within(self, downs, child.address()));
      CHECK(is_reason(downs.at(child.address()), caf::exit_reason::user_shutdown));
      CHECK(wait_until([&] { return running() == baseline; }));
      CHECK(rt->restarts().empty());  // nothing restarted behind the dead root
      CHECK(rt->spawns().size() == 1);
    }

    SECTION("drain: AMI logoff, children stopped, supervisors and root exit normally, nothing restarted") {
      auto child = rt->spawns().at(0).child;
      self->monitor(child);
      auto done = std::make_shared<std::promise<void>>();
      auto drained = done->get_future();
      request_drain(root, done);
      REQUIRE(drained.wait_for(wait_deadline) == std::future_status::ready);
      REQUIRE(down_within(self, downs, root.address()));
      REQUIRE(down_within(self, downs, sup.address()));
      REQUIRE(down_within(self, downs, child.address()));
      CHECK(!downs.at(root.address()));
      CHECK(!downs.at(sup.address()));
      CHECK(!downs.at(child.address()));  // stopped by stop_request after the Logoff
      CHECK(rt->logoffs() == std::vector<std::string>{""});
      CHECK(count_of(rt->calls(), "stop_ari") >= 1);
      CHECK(rt->restarts().empty());
      CHECK(rt->spawns().size() == 1);
      CHECK(wait_until([&] { return running() == baseline; }));
    }

    // Shutdown: an exit request to the root stops the whole tree (a no-op after the sections
    // that already stopped it). Every actor the tree ever spawned is gone.
    self->send_exit(root, caf::exit_reason::user_shutdown);
    REQUIRE(down_within(self, downs, root.address()));
    for (const auto& s : rt->spawns()) {
      self->monitor(s.child);
      CHECK(down_within(self, downs, s.child.address()));
    }
    wait_until([&] { return running() == baseline; });
    INFO("running actors: " << running() << ", baseline: " << baseline);
    CHECK(running() == baseline);
  }
  rt->shutdown();
}

TEST_CASE("supervision: an AMI event handler registered in code that throws is counted; the next event still arrives",
          "[service][supervision][containment]") {
  config::config cfg;
  config::server_config server;
  server.name = "pbx-sup";
  server.ami = config::ami_config{};  // never dialled: the factory is replaced

  metrics::registry registry;
  metrics::astra_metrics m(registry);
  for (const char* a : {"ami_session", "ari_client", "server_supervisor"}) m.add_actor_kind(a);
  m.add_server(server.name, true, false);
  status_board board;
  std::mutex seen_mutex;
  std::vector<std::string> seen;  // events the handler was called with, in order
  runtime::registrations regs;
  runtime::ami_registration reg;
  reg.handler = [&](const ami::message& event) {
    {
      std::lock_guard lock(seen_mutex);
      seen.emplace_back(event.name());
    }
    if (event.name() == "Hangup") throw std::runtime_error("user handler bug");
  };
  regs.ami.push_back(std::move(reg));

  io_runtime io(1);
  caf::actor_system_config caf_cfg;
  caf::actor_system sys{caf_cfg};
  auto rt = std::make_shared<crash_runtime>(sys, make_server_runtime(sys, io, cfg, server, m, board, regs));
  auto root = spawn_root_supervisor(sys, {rt}, rt->restart_policy(), stable_period);
  auto& errors = m.ami_handler_errors.with({server.name});
  REQUIRE(wait_until([&] {
    std::lock_guard lock(seen_mutex);
    return seen.size() == 2;
  }));
  CHECK(wait_until([&] { return errors.value() == Approx(1.0); }));
  {
    std::lock_guard lock(seen_mutex);
    CHECK(seen == std::vector<std::string>{"Hangup", "Newchannel"});
  }
  CHECK(rt->spawns().size() == 1);  // the session was not restarted by the handler's throw
  CHECK(registry.render().find("astra_ami_handler_errors_total{server=\"pbx-sup\"} 1") != std::string::npos);
  caf::anon_send_exit(root, caf::exit_reason::user_shutdown);
  sys.await_all_actors_done();
}
