#pragma once
// The series of the outbound ARI WebSocket server (ari_outbound:). Names and labels are a
// contract (docs/deploy.md, issue 13):
//   astra_ari_outbound_connections{app,mode}      gauge: registered sockets (mode per_call / persistent)
//   astra_ari_outbound_upgrades_total{result}     counter: ok, unauthorized, refused_draining,
//                                                 refused_full, bad_request, not_found
//   astra_ari_outbound_closed_total{reason}       counter: why registered/upgraded sockets ended
// Calls use the existing astra_ari_calls_total{server="outbound",app,outcome},
// astra_ari_events_total and astra_ari_requests_total with server="outbound".
#include <string>
#include <vector>

#include "service/metrics/metrics.hpp"

namespace astra::metrics {

struct ari_outbound_metrics {
  // Registers the families and creates every upgrade result / close reason series at 0, and
  // the connection gauges of `apps` in both modes.
  ari_outbound_metrics(registry& reg, const std::vector<std::string>& apps);

  gauge_family& connections;  // {app,mode}
  counter_family& upgrades;   // {result}
  counter_family& closed;     // {reason}
};

}  // namespace astra::metrics
