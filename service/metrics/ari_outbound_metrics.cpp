#include "service/metrics/ari_outbound_metrics.hpp"

namespace astra::metrics {

ari_outbound_metrics::ari_outbound_metrics(registry& r, const std::vector<std::string>& apps)
    : connections(r.add_gauge("astra_ari_outbound_connections",
                              "Outbound ARI WebSockets Asterisk holds to astra, past ApplicationRegistered, by app and "
                              "mode (per_call: one call each; persistent).",
                              {"app", "mode"})),
      upgrades(r.add_counter("astra_ari_outbound_upgrades_total",
                             "Outbound ARI WebSocket upgrade requests, by result (ok, unauthorized, refused_draining, "
                             "refused_full, bad_request, not_found).",
                             {"result"})),
      closed(r.add_counter("astra_ari_outbound_closed_total",
                           "Upgraded outbound ARI WebSockets ended, by reason (call_ended, peer_closed, no_handler, "
                           "bad_first_frame, registration_timeout, oversized_frame, server_stopped).",
                           {"reason"})) {
  for (const char* result : {"ok", "unauthorized", "refused_draining", "refused_full", "bad_request", "not_found"})
    upgrades.with({result});
  for (const char* reason : {"call_ended", "peer_closed", "no_handler", "bad_first_frame", "registration_timeout",
                             "oversized_frame", "server_stopped"})
    closed.with({reason});
  for (const auto& app : apps)
    for (const char* mode : {"per_call", "persistent"}) connections.with({app, mode});
}

}  // namespace astra::metrics
