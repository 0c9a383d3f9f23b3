#include "service/metrics/astra_metrics.hpp"

namespace astra::metrics {

astra_metrics::astra_metrics(registry& r)
    : reg(r),
      ami_connected(r.add_gauge("astra_ami_connected", "1 while the AMI session to the server is logged in, else 0.",
                                {"server"})),
      ami_reconnects(r.add_counter("astra_ami_reconnects_total",
                                   "AMI sessions re-established after a lost connection.", {"server"})),
      ami_events(r.add_counter("astra_ami_events_total", "AMI events received.", {"server"})),
      ami_action_duration(r.add_histogram("astra_ami_action_duration_seconds",
                                          "AMI action round trip time in seconds (request to final response).",
                                          {"server", "action"})),
      ami_actions(r.add_counter("astra_ami_actions_total", "AMI actions completed, by outcome.",
                                {"server", "action", "outcome"})),
      ami_oversized(r.add_counter("astra_ami_oversized_total",
                                  "AMI messages Asterisk wrote over a read limit (ami.read_limits), discarded.",
                                  {"server"})),
      ami_events_dropped(r.add_counter("astra_ami_events_dropped_total",
                                       "AMI events dropped by a queue policy, by queue and event name.",
                                       {"server", "queue", "event"})),
      ami_handler_errors(r.add_counter("astra_ami_handler_errors_total",
                                       "AMI event handlers registered in code (astra::service::ami_events) that "
                                       "threw; the event is skipped, the subscription goes on.",
                                       {"server"})),
      ari_connected(r.add_gauge("astra_ari_connected", "1 while the ARI event WebSocket is subscribed, else 0.",
                                {"server"})),
      ari_events(r.add_counter("astra_ari_events_total", "ARI events received, by type.", {"server", "type"})),
      ari_requests(r.add_counter("astra_ari_requests_total", "ARI REST requests, by method and HTTP status.",
                                 {"server", "method", "status"})),
      ari_calls(r.add_counter("astra_ari_calls_total",
                              "ARI channel handlers ended, by app and outcome (completed, failed, exception).",
                              {"server", "app", "outcome"})),
      ari_channel_actors(r.add_gauge("astra_ari_channel_actors", "Live ARI channel actors.", {"server"})),
      ari_bridge_actors(r.add_gauge("astra_ari_bridge_actors", "Live ARI bridge actors.", {"server"})),
      ari_reconnect_channels(r.add_counter(
          "astra_ari_reconnect_channels_total",
          "Channels found inside the Stasis app without an actor when the ARI event socket (re)subscribed, "
          "by on_reconnect policy (hangup, continue, adopt) and outcome (ok, gone, failed).",
          {"server", "policy", "outcome"})),
      agi_calls_active(r.add_gauge("astra_agi_calls_active", "AGI calls in progress (FastAGI and AsyncAGI).")),
      agi_calls(r.add_counter("astra_agi_calls_total",
                              "AGI calls ended, by route, outcome and transport (fastagi, async: AsyncAGI over AMI).",
                              {"route", "outcome", "transport"})),
      agi_command_duration(r.add_histogram("astra_agi_command_duration_seconds",
                                           "AGI command round trip time in seconds.", {"command"})),
      queue_dropped(r.add_counter("astra_queue_dropped_total",
                                  "Messages dropped by a bounded queue's drop policy.", {"queue"})),
      actor_restarts(r.add_counter("astra_actor_restarts_total", "Supervised actor restarts, by actor.",
                                   {"actor"})) {}

void astra_metrics::add_server(const std::string& server, bool ami, bool ari) {
  if (ami) {
    ami_connected.with({server});
    ami_reconnects.with({server});
    ami_events.with({server});
    ami_oversized.with({server});
    ami_handler_errors.with({server});
  }
  if (ari) {
    ari_connected.with({server});
    ari_channel_actors.with({server});
    ari_bridge_actors.with({server});
  }
}

void astra_metrics::add_queue(const std::string& queue) { queue_dropped.with({queue}); }

void astra_metrics::add_actor_kind(const std::string& actor) { actor_restarts.with({actor}); }

}  // namespace astra::metrics
