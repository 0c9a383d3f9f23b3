#pragma once
// The webhook verb loop on an ARI channel (verb -> ARI request table: docs/webhooks.md).
#include <memory>

#include "actors/ari/client.hpp"
#include "actors/webhook/runner.hpp"

namespace astra::webhook {

// Runs the webhook loop of `where` for the channel of a StasisStart, inside its channel actor
// (inbound event socket, or an outbound WebSocket of Asterisk).
task<void> run_ari(std::shared_ptr<const endpoint> where, ari::channel chan, ari::session& ari);

}  // namespace astra::webhook
