#pragma once
// astra's CAF scheduler: CAF 0.17's work-sharing coordinator with a clock that leaves alone the
// actors that never set a timeout.
//
// Why: CAF 0.17 tells its clock thread about every actor that terminates
// (local_actor::cleanup -> actor_clock::cancel_timeouts), whether or not the actor ever set a
// timeout. The clock takes that as an allocated event pushed into a 64-slot ring buffer under a
// mutex, and wakes its thread through a condition variable: about one futex wake-up (and often
// a preemption of the thread that ended the actor) per terminated actor. With an actor per
// FastAGI call at thousands of calls per second, that was the largest cost the bare loopback
// floor does not have (docs/performance.md, bench_agi_churn). The lean clock forwards
// cancellations only for actors that set a timeout, a receive timeout or a request timeout
// through it; everything else (delayed messages, timeouts) goes to CAF's own clock unchanged.
#include <caf/fwd.hpp>

#include <cstdint>

namespace astra {

// Makes `cfg` build its actor system with astra's scheduler: the work-sharing policy (a worker
// is woken per message from an outside thread; CAF 0.17's work stealing would poll every 10 ms
// once idle) and the lean clock. Sets "scheduler.policy" to sharing; "scheduler.max-threads"
// is read as usual. Call before the caf::actor_system is constructed.
void use_astra_scheduler(caf::actor_system_config& cfg);

// What the lean clock of `system` did (tests, benchmarks). All zero when `system` does not run
// astra's scheduler.
struct lean_clock_counts {
  std::uint64_t cancels_skipped = 0;    // cancellations of actors that never set a timeout
  std::uint64_t cancels_forwarded = 0;  // cancellations passed on to CAF's clock
  bool installed = false;               // `system` runs astra's scheduler
};
lean_clock_counts lean_clock_stats(caf::actor_system& system);

}  // namespace astra
