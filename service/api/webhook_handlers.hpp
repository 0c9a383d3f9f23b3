#pragma once
// The `webhook` stock handler (docs/webhooks.md) for FastAGI routes (agi.routes[].webhook) and
// Stasis applications (servers[].ari.webhook), registered through the public astra::service
// API like the other stock handlers.
namespace astra {
class service;
namespace stock {
void register_webhook_handlers(service& svc);
}
}  // namespace astra
