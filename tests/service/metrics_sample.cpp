// Prints a populated astra registry (every contract series, hostile label values, process
// metrics) so CTest can pipe it through `promtool check metrics`.
#include <cstdio>

#include "service/metrics/ari_outbound_metrics.hpp"
#include "service/metrics/astra_metrics.hpp"

int main() {
  astra::metrics::registry reg;
  astra::metrics::astra_metrics m(reg);
  astra::metrics::register_process_metrics(reg);
  m.add_server("pbx-1", true, true);
  m.add_server("pbx \"two\"\\\n", true, false);
  m.add_queue("ami_subscriber");
  m.add_actor_kind("ami_session");
  m.ami_events.with({"pbx-1"}).inc(12);
  m.ami_actions.with({"pbx-1", "Ping", "success"}).inc();
  m.ami_action_duration.with({"pbx-1", "Ping"}).observe(0.0031);
  m.ari_events.with({"pbx-1", "StasisStart"}).inc();
  m.ari_requests.with({"pbx-1", "POST", "204"}).inc();
  m.agi_calls.with({"/ivr/menu", "completed", "fastagi"}).inc(3);
  m.agi_command_duration.with({"ANSWER"}).observe(0.0004);
  m.agi_command_duration.with({"STREAM FILE"}).observe(12.5);
  m.queue_dropped.with({"ari_channel"}).inc(2);
  astra::metrics::ari_outbound_metrics outbound(reg, {"percall", "persistent"});
  outbound.connections.with({"percall", "per_call"}).inc(3);
  outbound.upgrades.with({"ok"}).inc(3);
  outbound.closed.with({"call_ended"}).inc(2);
  m.ari_calls.with({"outbound", "percall", "completed"}).inc(2);
  std::fputs(reg.render().c_str(), stdout);
  return 0;
}
