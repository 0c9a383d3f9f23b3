#pragma once
// The webhook verb loop on a FastAGI call (verb -> AGI command table: docs/webhooks.md).
#include <memory>

#include "actors/agi/call.hpp"
#include "actors/webhook/runner.hpp"

namespace astra::webhook {

// Runs the webhook loop of `where` for one FastAGI (or AsyncAGI) call, inside its actor.
task<void> run_agi(std::shared_ptr<const endpoint> where, agi::call& call);

}  // namespace astra::webhook
