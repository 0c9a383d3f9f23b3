#pragma once
// The series of the NATS bus (bus: configured; issue 14). Names and labels are a contract
// (docs/deploy.md "Scaling: several replicas"):
//   astra_bus_connected                          gauge: 1 while the NATS connection is up
//   astra_bus_reconnects_total                   counter: NATS connections re-established
//   astra_bus_published_total{kind}              counter: messages published (ami, ari, agi, control, ari_call: relayed call events and offers)
//   astra_bus_dropped_total{reason}              counter: messages not published: buffer_full
//                                                (outgoing buffer bound), not_holder (received
//                                                after the lease was lost), publish_error,
//                                                stopped (still buffered at exit)
//   astra_upstream_holder{server}                gauge: 1 while this replica holds the server
//   astra_upstream_takeovers_total{server}       counter: leases acquired by this replica
//   astra_upstream_takeover_gap_seconds{server}  gauge: time without a holder before this
//                                                replica's latest acquisition (-1: unknown)
//   astra_upstream_lease_lost_total{server}      counter: holds given up without a drain
//   astra_ari_calls_claimed_total{server}        counter: ARI calls this replica claimed and ran
//   astra_ari_calls_offered_total{server}        counter: StasisStarts this replica (holder)
//                                                offered to the replicas
//   astra_ari_calls_unclaimed_total{server}      counter: offers no replica claimed in time
//                                                (no responders, claim deadline)
//   astra_ari_worker_lost_total{server}          counter: replicas this holder saw stop
//                                                answering with calls claimed
//   astra_ari_worker_loss_calls_total{server,policy}  counter: calls of a lost replica (or
//                                                unclaimed) handled by on_worker_loss
//                                                (hangup, reoffer)
#include <string>
#include <vector>

#include "service/metrics/metrics.hpp"

namespace astra::metrics {

struct bus_metrics {
  // Registers the families and creates the per-server and per-reason series at 0.
  bus_metrics(registry& reg, const std::vector<std::string>& servers);

  gauge& connected;
  counter& reconnects;
  counter_family& published;       // {kind}
  counter_family& dropped;         // {reason}
  gauge_family& holder;            // {server}
  counter_family& takeovers;       // {server}
  gauge_family& takeover_gap;      // {server} seconds
  counter_family& lease_lost;      // {server}
  counter_family& ari_claimed;     // {server}
  counter_family& ari_offered;     // {server}
  counter_family& ari_unclaimed;   // {server}
  counter_family& ari_worker_lost;  // {server}
  counter_family& ari_worker_loss_calls;  // {server, policy}
};

}  // namespace astra::metrics
