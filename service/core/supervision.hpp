#pragma once
// The service's supervision tree as a spawnable unit (used by `astra run`; tests pass their
// own server_runtime, e.g. one whose spawn_ami_session builds a crashing child).
//
//   root supervisor ── one linked server supervisor per runtime ── AMI session (linked)
//
// Both levels trap exits. A dead AMI session is respawned via rt->spawn_ami_session() and a
// dead server supervisor via a fresh server supervisor, each after the next delay of its own
// astra::backoff(restart_policy) (capped exponential with jitter); every restart is reported
// through rt->actor_restarted(kind, reason, delay) with kind "ami_session" or
// "server_supervisor" (the real runtime logs it and counts astra_actor_restarts_total{actor}).
// A child's death never stops its parent. An exit message from anything that is not a
// supervised child (e.g. anon_send_exit(root, user_shutdown)) stops the root and, through
// the links, the whole tree.
#include <memory>
#include <vector>

#include <caf/fwd.hpp>
#include <caf/actor.hpp>

#include "actors/common/backoff.hpp"
#include "service/core/upstreams.hpp"

namespace astra::service {

caf::actor spawn_root_supervisor(caf::actor_system& system, std::vector<std::shared_ptr<server_runtime>> servers,
                                 backoff_policy restart_policy);

}  // namespace astra::service
