#pragma once
// The service's supervision tree as a spawnable unit (used by `astra run`; tests pass their
// own server_runtime, e.g. one whose spawn_ami_session builds a crashing child).
//
//   root supervisor ── one server supervisor per runtime ── AMI session (rt->spawn_ami_session())
//                                                        └─ ARI client (rt->start_ari(), not an actor)
//
// Observation: every supervisor MONITORS its children (no links, no trapped exits), so no
// exit of a child, not even the untrappable exit_reason::kill, can travel up to its parent.
// Restart: a child that goes down while its supervisor is not draining is restarted after the
// next delay of its supervisor's own astra::backoff(restart_policy) (capped exponential with
// jitter; one backoff per AMI session slot and one per server). A child that stayed up for at
// least the tree's stable period (measured on steady_clock from its spawn to its down_msg) has
// recovered: its slot's backoff is reset before the delay is drawn, so that restart waits the
// initial delay again; a child that died sooner keeps the grown delay. Children are
// permanent: a normal exit is restarted too, because outside a drain it still means a lost
// upstream (issue 6: "a lost upstream is restarted"). Every restart is reported through
// rt->actor_restarted(kind, reason, delay) with kind "ami_session" or "server_supervisor" and
// reason to_string(down_msg::reason) or "normal exit" (the real runtime logs it and counts
// astra_actor_restarts_total{actor}).
// Ownership: children never outlive their supervisor. When a server supervisor terminates,
// for any reason, its AMI session gets exit_reason::user_shutdown, and its ARI client is
// stopped (rt->stop_ari()) before the root learns of the death, so a restarted supervisor
// always starts from a stopped server. When the root terminates, for any reason, every
// server supervisor gets exit_reason::user_shutdown (and stops its own children in turn).
// These stops run in functors attached to the terminating supervisor (its thread; CAF 0.17
// runs them after destroying the actor's state) and are asynchronous: the child ends on its
// own schedule, normally well before the restart delay of its successor has elapsed.
// Shutdown: request_drain() stops the tree gracefully (AMI Logoff, ARI stop, then every
// supervisor and the root exit normally); an exit message to the root, e.g.
// anon_send_exit(root, user_shutdown), stops it at once, and with it the whole tree.
#include <chrono>
#include <future>
#include <memory>
#include <vector>

#include <caf/fwd.hpp>
#include <caf/actor.hpp>

#include "actors/common/backoff.hpp"
#include "service/core/upstreams.hpp"

namespace astra::runtime {

// The stable period used when none is given: max(policy.max, 30 s). At least the cap, so a
// child crashing every cap-or-less (e.g. a login rejected right after each reconnect) keeps
// hitting the cap instead of reconnecting at the initial rate; at least 30 s, so with a small
// cap a child that merely survived a few seconds is not yet taken for recovered.
std::chrono::milliseconds default_stable_period(const backoff_policy& restart_policy);

// The root of the tree; `stable_period` (> 0) is the uptime after which a child's restart
// backoff is reset (see above). The three-argument form uses default_stable_period().
caf::actor spawn_root_supervisor(caf::actor_system& system, std::vector<std::shared_ptr<server_runtime>> servers,
                                 backoff_policy restart_policy);
caf::actor spawn_root_supervisor(caf::actor_system& system, std::vector<std::shared_ptr<server_runtime>> servers,
                                 backoff_policy restart_policy, std::chrono::milliseconds stable_period);

// Asks the root to drain: every server supervisor stops its ARI client, logs its AMI session
// off (bounded by 1.5 s) and stops it, then exits normally; `done` is fulfilled once the
// last one did, and the root then exits normally. Nothing is restarted from then on.
// Thread-safe (anonymous send); the caller waits on `done` with its own deadline. (A blocking
// scoped_actor request is not used for this: a pending request timeout held by CAF's clock
// keeps such an actor alive past the actor system's shutdown, and ~actor_system never returns.)
void request_drain(const caf::actor& root, std::shared_ptr<std::promise<void>> done);

}  // namespace astra::runtime
