#pragma once
// The astra service runtime (`astra run`): builds the supervision tree from a validated
// configuration and runs it until SIGTERM/SIGINT.
//
//   root supervisor ─┬─ server supervisor "pbx-1" ─┬─ AMI session actor (reconnects itself)
//                    │                              └─ ARI client (event socket + channel/bridge actors)
//                    └─ server supervisor "pbx-2" ...
//   FastAGI server ─── one call actor per call
//   admin HTTP (/metrics /healthz /readyz /v1/status)
//
// Supervisors monitor their children (no links: even exit_reason::kill never reaches a
// parent) and stop them when they terminate themselves: a child that dies (crash, kill,
// unexpected stop) is restarted after a capped exponential backoff with jitter; every
// restart is logged with its reason and counted in astra_actor_restarts_total{actor}.
// Details: service/core/supervision.hpp.
//
// Shutdown: the first SIGTERM/SIGINT turns /readyz to 503, stops the FastAGI accept loop,
// lets running calls finish until drain_timeout (then cuts the rest), logs the AMI sessions
// off, stops everything and returns 0 after one summary log line
// ({"msg":"astra stopped","drained":N,"cut":M,...}). A second signal exits at once (1).
#include "service/config/config.hpp"
#include "service/core/registrations.hpp"

namespace astra::runtime {

// Blocks until shutdown. Returns the process exit code: 0 after a signal-initiated drain,
// 1 when a listener cannot be opened or the runtime cannot start. `regs` (handlers, routes,
// apps and subscriptions of the service built on astra::service; the stock handlers among
// them) must have passed the configuration validation with `cfg`.
int run(const config::config& cfg, const registrations& regs);

}  // namespace astra::runtime
