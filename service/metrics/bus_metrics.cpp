#include "service/metrics/bus_metrics.hpp"

namespace astra::metrics {

bus_metrics::bus_metrics(registry& r, const std::vector<std::string>& servers)
    : connected(r.add_gauge("astra_bus_connected", "1 while the NATS connection of the bus is up, else 0.").with({})),
      reconnects(r.add_counter("astra_bus_reconnects_total", "NATS connections of the bus re-established.").with({})),
      published(r.add_counter("astra_bus_published_total", "Messages published on the bus, by kind (ami, ari, agi, control, ari_call).",
                              {"kind"})),
      dropped(r.add_counter("astra_bus_dropped_total",
                            "Messages not published on the bus, by reason (buffer_full, not_holder, publish_error, stopped).",
                            {"reason"})),
      holder(r.add_gauge("astra_upstream_holder", "1 while this replica holds the server's upstream lease, else 0.",
                         {"server"})),
      takeovers(r.add_counter("astra_upstream_takeovers_total", "Upstream leases acquired by this replica.", {"server"})),
      takeover_gap(r.add_gauge("astra_upstream_takeover_gap_seconds",
                               "Seconds without a holder before this replica's latest acquisition (-1: unknown).",
                               {"server"})),
      lease_lost(r.add_counter("astra_upstream_lease_lost_total",
                               "Upstream leases this replica gave up without a drain (not renewed in time, taken).",
                               {"server"})),
      ari_claimed(r.add_counter("astra_ari_calls_claimed_total", "ARI calls this replica claimed and ran (bus).",
                                {"server"})),
      ari_offered(r.add_counter("astra_ari_calls_offered_total",
                                "StasisStarts this replica, holding the event socket, offered to the replicas.", {"server"})),
      ari_unclaimed(r.add_counter("astra_ari_calls_unclaimed_total",
                                  "Offered ARI calls no replica claimed in time (no responders, claim deadline).",
                                  {"server"})),
      ari_worker_lost(r.add_counter("astra_ari_worker_lost_total",
                                    "Replicas this holder saw stop answering while they ran calls.", {"server"})),
      ari_worker_loss_calls(r.add_counter("astra_ari_worker_loss_calls_total",
                                          "Calls of a lost replica, or unclaimed, handled by on_worker_loss.",
                                          {"server", "policy"})) {
  for (const char* kind : {"ami", "ari", "agi", "control", "ari_call"}) published.with({kind});
  for (const char* reason : {"buffer_full", "not_holder", "publish_error", "stopped"}) dropped.with({reason});
  for (const auto& s : servers) {
    holder.with({s});
    takeovers.with({s});
    takeover_gap.with({s});
    lease_lost.with({s});
    ari_claimed.with({s});
    ari_offered.with({s});
    ari_unclaimed.with({s});
    ari_worker_lost.with({s});
    for (const char* policy : {"hangup", "reoffer"}) ari_worker_loss_calls.with({s, policy});
  }
}

}  // namespace astra::metrics
