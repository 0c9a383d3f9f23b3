#!/usr/bin/env bash
# End to end: astra-sim drives calls through FastAGI, AMI and ARI into astra; /readyz,
# /v1/status and the counters move; promtool accepts the live /metrics; a real Prometheus
# scrapes astra and sees it up with astra_agi_calls_total > 0; SIGTERM exits 0 with a summary.
# Usage: e2e_flow.sh ASTRA ASTRA_SIM
ASTRA=$1 ASTRA_SIM=$2 PORT_BASE=${PORT_BASE:-27110}
source "$(dirname "$0")/e2e_lib.sh"

write_config
start_sim --cps 4 --concurrency 4 --event-rate 50 --ari-cps 2 --hold-ms 300
start_astra
wait_for 20 "/readyz 200 (AMI logged in, ARI subscribed, FastAGI accepting)" ready_is 200
check "/healthz 200" test "$(http_code "$ADMIN/healthz")" = 200

wait_for 20 "FastAGI calls completed through the demo route" \
  metric_above 'astra_agi_calls_total{route="/ivr/menu",outcome="completed",transport="fastagi"}' 0
wait_for 20 "AMI events counted" metric_above 'astra_ami_events_total{server="sim"}' 0
wait_for 20 "ARI StasisStart events counted" metric_above 'astra_ari_events_total{server="sim",type="StasisStart"}' 0
wait_for 20 "ARI REST requests made by the demo handler" metric_above 'astra_ari_requests_total{server="sim"' 0
wait_for 20 "AGI command latencies observed" metric_above 'astra_agi_command_duration_seconds_count{command=' 0
wait_for 20 "AMI keepalive Ping actions counted" metric_above 'astra_ami_actions_total{server="sim",action="Ping",outcome="success"}' 0
check "astra_ami_connected 1" test "$(metric_sum 'astra_ami_connected{server="sim"}')" = 1
check "astra_ari_connected 1" test "$(metric_sum 'astra_ari_connected{server="sim"}')" = 1
for m in process_resident_memory_bytes process_cpu_seconds_total process_open_fds process_start_time_seconds \
         astra_agi_calls_active astra_queue_dropped_total astra_actor_restarts_total astra_ari_channel_actors \
         astra_ari_bridge_actors astra_ami_reconnects_total astra_ami_action_duration_seconds_bucket; do
  check "series $m exported" grep -q "^$m" <(curl -s -m 2 "$ADMIN/metrics")
done

curl -s -m 2 "$ADMIN/metrics" >"$WORK/metrics.txt"
check "promtool check metrics on the live /metrics" promtool check metrics <"$WORK/metrics.txt"

check "/v1/status: ready, AMI and ARI up" status_check \
  's["ready"] and s["servers"][0]["name"]=="sim" and s["servers"][0]["ami"]["up"] and s["servers"][0]["ari"]["up"]'
check "/v1/status: FastAGI accepting, calls counted" status_check \
  's["agi"]["accepting"] and s["agi"]["detail"]["calls_started"] > 0'
check "/v1/status: queues listed with depth and drops" status_check \
  'len(s["queues"]) > 0 and all("depth" in q and "dropped" in q for q in s["queues"])'
check "/v1/status: secrets never shown, only their source" bash -c \
  "s=\$(curl -s -m 2 '$ADMIN/v1/status'); ! grep -q amp111 <<<\"\$s\" && grep -q 'env:E2E_AMI_SECRET' <<<\"\$s\" && grep -q 'file:' <<<\"\$s\""
check "logs never contain the AMI secret" bash -c "! grep -q amp111 '$WORK/astra.log'"
check "logs are one JSON object per line" python3 -c "
import json,sys
for line in open('$WORK/astra.log'):
    json.loads(line)
"

# A real Prometheus scraping astra.
cat >"$WORK/prometheus.yml" <<YAML
global: {scrape_interval: 1s, evaluation_interval: 1s}
scrape_configs:
  - job_name: astra
    static_configs: [{targets: ["127.0.0.1:$ADMIN_PORT"]}]
YAML
prometheus --config.file="$WORK/prometheus.yml" --storage.tsdb.path="$WORK/tsdb" \
  --web.listen-address=127.0.0.1:$PROM_PORT >"$WORK/prometheus.log" 2>&1 &
PIDS+=($!)
prom_query() { # QUERY -> first sample value or empty
  curl -s -m 2 -G "http://127.0.0.1:$PROM_PORT/api/v1/query" --data-urlencode "query=$1" |
    python3 -c "import json,sys
try:
  r=json.load(sys.stdin)['data']['result']; print(r[0]['value'][1] if r else '')
except Exception: print('')"
}
prom_up() { [ "$(prom_query 'up{job="astra"}')" = 1 ]; }
prom_calls_positive() { local v; v=$(prom_query 'sum(astra_agi_calls_total)'); [ -n "$v" ] && python3 -c "import sys; sys.exit(0 if float('$v') > 0 else 1)"; }
wait_for 30 "Prometheus: target astra is up" prom_up
wait_for 15 "Prometheus: sum(astra_agi_calls_total) > 0" prom_calls_positive

# No actor leaks: live-actor gauges return to zero once the calls are gone (the simulator
# stops; on its return the ARI reconnect reconciles away the channels and bridges it lost).
stop_sim
wait_for 15 "/readyz 503 while the simulator is away" ready_is 503
wait_for 15 "astra_agi_calls_active back to 0" test "$(metric_sum astra_agi_calls_active)" = 0
start_sim --no-agi --ari-cps 0 --event-rate 5
wait_for 20 "/readyz 200 after the simulator came back" ready_is 200
wait_for 15 "astra_ari_channel_actors back to 0" test "$(metric_sum 'astra_ari_channel_actors{server="sim"}')" = 0
wait_for 15 "astra_ari_bridge_actors back to 0" test "$(metric_sum 'astra_ari_bridge_actors{server="sim"}')" = 0
wait_for 5 "/v1/status: no live call actors" status_check 's["actors"].get("agi_calls", 0) == 0 and s["actors"].get("ari_channels", 0) == 0'

# Clean stop.
kill -TERM "$ASTRA_PID"
wait_astra_exit 25 || fail "astra did not exit within 25 s of SIGTERM"
check "astra exit code 0 after SIGTERM" test "$ASTRA_RC" = 0
check "one summary line with drained and cut" bash -c "grep -c '\"msg\":\"astra stopped\"' '$WORK/astra.log' | grep -qx 1"
log "summary: $(summary_line)"
check "AMI logged off on shutdown" grep -q '"msg":"ami logged off"' "$WORK/astra.log"
echo "e2e_flow: passed"
