#pragma once
// The metric series astra exports (names and labels are a contract: issue 6). One instance
// per process, owned by the service runtime; components reach it through their hooks.
#include <string>
#include <vector>

#include "service/metrics/metrics.hpp"

namespace astra::metrics {

struct astra_metrics {
  explicit astra_metrics(registry& reg);

  // Creates the per-server series at 0 so they are scraped before the first event.
  void add_server(const std::string& server, bool ami, bool ari);
  // Creates astra_queue_dropped_total{queue} at 0.
  void add_queue(const std::string& queue);
  // Creates astra_actor_restarts_total{actor} at 0.
  void add_actor_kind(const std::string& actor);

  registry& reg;
  gauge_family& ami_connected;             // {server} 1 while logged in
  counter_family& ami_reconnects;          // {server} successful logins after the first
  counter_family& ami_events;              // {server}
  histogram_family& ami_action_duration;   // {server,action} seconds
  counter_family& ami_actions;             // {server,action,outcome}
  counter_family& ami_oversized;           // {server} messages refused for a read limit
  counter_family& ami_events_dropped;      // {server,queue,event} events shed by a queue policy
  counter_family& ami_handler_errors;      // {server} AMI event handlers of the service API that threw
  gauge_family& ari_connected;             // {server} 1 while the event WebSocket is up
  counter_family& ari_events;              // {server,type}
  counter_family& ari_requests;            // {server,method,status}
  counter_family& ari_calls;               // {server,app,outcome} channel handlers ended
  gauge_family& ari_channel_actors;        // {server}
  gauge_family& ari_bridge_actors;         // {server}
  counter_family& ari_reconnect_channels;  // {server,policy,outcome} channels found in the app without an actor
  gauge_family& agi_calls_active;          // no labels
  counter_family& agi_calls;               // {route,outcome,transport}
  histogram_family& agi_command_duration;  // {command} seconds
  counter_family& queue_dropped;           // {queue}
  counter_family& actor_restarts;          // {actor}
};

}  // namespace astra::metrics
