// astra's CAF scheduler (see caf_scheduler.hpp): CAF 0.17's work-sharing coordinator whose
// clock() is a lean front to CAF's own clock.
#include "actors/common/caf_scheduler.hpp"

#include <atomic>
#include <mutex>
#include <unordered_set>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/config.hpp>
#include <caf/detail/thread_safe_actor_clock.hpp>
#include <caf/policy/work_sharing.hpp>
#include <caf/scheduler/coordinator.hpp>

static_assert(CAF_VERSION >= 1700 && CAF_VERSION < 1800,
              "the lean clock forwards CAF 0.17's actor_clock interface; check it on an upgrade");

namespace astra {

namespace {

// A front to CAF's clock (the coordinator's, whose thread runs the timeouts): every call is
// passed on, except cancellations for an actor that never set a timeout through this clock,
// which have nothing to cancel. Thread-safe: any actor may call it from any thread. For one
// actor, CAF calls set_* and cancel_* from that actor's own run (serialized), so "has this
// actor set a timeout" cannot change between the check and the forwarded call.
class lean_clock final : public caf::detail::thread_safe_actor_clock {
 public:
  explicit lean_clock(caf::detail::thread_safe_actor_clock& target) : target_(target) {}

  time_point now() const noexcept override { return target_.now(); }
  duration_type difference(caf::atom_value measurement, long units, time_point t0,
                           time_point t1) const noexcept override {
    return target_.difference(measurement, units, t0, t1);
  }

  void set_ordinary_timeout(time_point t, caf::abstract_actor* self, caf::atom_value type,
                            std::uint64_t id) override {
    note(self);
    target_.set_ordinary_timeout(t, self, type, id);
  }
  void set_multi_timeout(time_point t, caf::abstract_actor* self, caf::atom_value type,
                         std::uint64_t id) override {
    note(self);
    target_.set_multi_timeout(t, self, type, id);
  }
  void set_request_timeout(time_point t, caf::abstract_actor* self, caf::message_id id) override {
    note(self);
    target_.set_request_timeout(t, self, id);
  }

  void cancel_ordinary_timeout(caf::abstract_actor* self, caf::atom_value type) override {
    if (noted(self, false)) target_.cancel_ordinary_timeout(self, type);
  }
  void cancel_request_timeout(caf::abstract_actor* self, caf::message_id id) override {
    if (noted(self, false)) target_.cancel_request_timeout(self, id);
  }
  // Called by CAF for every actor that terminates (local_actor::cleanup).
  void cancel_timeouts(caf::abstract_actor* self) override {
    if (!noted(self, true)) {
      skipped_.fetch_add(1, std::memory_order_relaxed);
      return;
    }
    forwarded_.fetch_add(1, std::memory_order_relaxed);
    target_.cancel_timeouts(self);
  }

  void schedule_message(time_point t, caf::strong_actor_ptr receiver, caf::mailbox_element_ptr content) override {
    target_.schedule_message(t, std::move(receiver), std::move(content));
  }
  void schedule_message(time_point t, caf::group target, caf::strong_actor_ptr sender,
                        caf::message content) override {
    target_.schedule_message(t, std::move(target), std::move(sender), std::move(content));
  }
  void cancel_all() override { target_.cancel_all(); }

  lean_clock_counts counts() const noexcept {
    return {skipped_.load(std::memory_order_relaxed), forwarded_.load(std::memory_order_relaxed), true};
  }

 private:
  void note(caf::abstract_actor* self) {
    std::lock_guard<std::mutex> lock(mutex_);
    with_timeouts_.insert(self);
  }
  // Whether `self` has set a timeout; `forget`: and drop it from the set (it is terminating).
  bool noted(caf::abstract_actor* self, bool forget) {
    std::lock_guard<std::mutex> lock(mutex_);
    if (with_timeouts_.empty()) return false;
    if (!forget) return with_timeouts_.count(self) != 0;
    return with_timeouts_.erase(self) != 0;
  }

  caf::detail::thread_safe_actor_clock& target_;
  std::mutex mutex_;
  // Actors that set a timeout and have not terminated yet. An entry outlives its actor only if
  // CAF never cleans the actor up; an actor created later at the same address then forwards
  // its cancellations (harmless: CAF's clock finds nothing to cancel).
  std::unordered_set<const caf::abstract_actor*> with_timeouts_;
  std::atomic<std::uint64_t> skipped_{0}, forwarded_{0};
};

class astra_coordinator final : public caf::scheduler::coordinator<caf::policy::work_sharing> {
 public:
  using super = caf::scheduler::coordinator<caf::policy::work_sharing>;
  explicit astra_coordinator(caf::actor_system& sys) : super(sys), lean_(super::clock()) {}

  // What actors see as the system's clock (actor_system::clock()). The coordinator's own
  // start() and stop() run and end CAF's clock thread, which the lean clock feeds.
  caf::detail::thread_safe_actor_clock& clock() noexcept override { return lean_; }

  lean_clock_counts counts() const noexcept { return lean_.counts(); }

 private:
  lean_clock lean_;
};

}  // namespace

void use_astra_scheduler(caf::actor_system_config& cfg) {
  // For whoever reads the configuration: the coordinator below is work sharing whatever it says
  // (actor_system reads scheduler.policy only when no module made a scheduler).
  cfg.set("scheduler.policy", caf::atom("sharing"));
  // actor_system's constructor builds its default scheduler only when no module factory made one.
  cfg.module_factories.push_back(
      [](caf::actor_system& sys) -> caf::actor_system::module* { return new astra_coordinator(sys); });
}

lean_clock_counts lean_clock_stats(caf::actor_system& system) {
  if (auto* c = dynamic_cast<astra_coordinator*>(&system.scheduler())) return c->counts();
  return {};
}

}  // namespace astra
