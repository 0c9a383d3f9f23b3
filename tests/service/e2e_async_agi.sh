#!/usr/bin/env bash
# End to end, AsyncAGI over AMI: astra-sim announces AGI(agi:async,ROUTE,...) calls on its AMI
# server (--async-agi-cps); astra (servers[].ami.async_agi: true, FastAGI listener off) runs the
# stock handlers of the FastAGI route table on them through Action: AGI; the calls complete and
# are counted with transport="async"; refused starts (no route) are counted too; SIGTERM drains.
# Usage: e2e_async_agi.sh ASTRA ASTRA_SIM
ASTRA=$1 ASTRA_SIM=$2 PORT_BASE=${PORT_BASE:-27190}
source "$(dirname "$0")/e2e_lib.sh"

cat >"$WORK/astra.yaml" <<YAML
servers:
  - name: sim
    ami: {host: 127.0.0.1, port: $AMI_PORT, username: admin, secret_env: E2E_AMI_SECRET, async_agi: true}
agi:
  enabled: false
  routes:
    - {path: /ivr/menu, handler: demo}
    - {path: /play, handler: playback}
    - {path: /wait, handler: wait, wait: 300ms}
admin: {listen: "127.0.0.1:$ADMIN_PORT"}
backoff: {initial: 200ms, max: 1s, jitter: 0.1}
log: {format: json, level: info}
drain_timeout: 5s
YAML

start_sim --no-ari --no-agi --async-agi-cps 10 --concurrency 5 --media-scale 0.1
start_astra
wait_for 20 "/readyz 200 (AMI logged in)" ready_is 200
wait_for 20 "AsyncAGI calls of the demo route completed" \
  metric_above 'astra_agi_calls_total{route="/ivr/menu",outcome="completed",transport="async"}' 2
wait_for 20 "AGI command latencies observed" metric_above 'astra_agi_command_duration_seconds_count{command="stream file"}' 0
check "no failed AsyncAGI call" test "$(metric_sum 'astra_agi_calls_total{route="/ivr/menu",outcome="failed"')" = 0
check "no FastAGI call (listener off)" test "$(metric_sum 'astra_agi_calls_total{route="/ivr/menu",outcome="completed",transport="fastagi"}')" = 0
check "every AGI call series has a transport" bash -c "! curl -s -m 2 '$ADMIN/metrics' | grep -q 'transport=\"\"'"
check "the configured routes' async series exist" bash -c "curl -s -m 2 '$ADMIN/metrics' | grep -q 'astra_agi_calls_total{route=\"/wait\",outcome=\"completed\",transport=\"async\"}'"
check "Action: AGI counted as AMI actions" metric_above 'astra_ami_actions_total{server="sim",action="AGI",outcome="success"}' 5
stop_sim
kill -TERM "$ASTRA_PID"
wait_astra_exit 15 || fail "astra did not exit after SIGTERM"
check "exit code 0 after SIGTERM" test "$ASTRA_RC" = 0
check "summary line logged" bash -c "grep -q '\"msg\":\"astra stopped\"' '$WORK/astra.log'"
log "sim: $(tail -n 1 "$WORK/sim.log")"

# The other stock handlers and a route that does not exist, on one more run.
: >"$WORK/astra.log"
start_sim --no-ari --no-agi --async-agi-cps 10 --concurrency 5 --media-scale 0.1 --async-agi-route /play
start_astra
wait_for 20 "AsyncAGI calls of the playback route completed" \
  metric_above 'astra_agi_calls_total{route="/play",outcome="completed",transport="async"}' 1
stop_sim
start_sim --no-ari --no-agi --async-agi-cps 10 --concurrency 5 --media-scale 0.1 --async-agi-route /wait
wait_for 20 "AsyncAGI calls of the wait route completed" \
  metric_above 'astra_agi_calls_total{route="/wait",outcome="completed",transport="async"}' 1
stop_sim
# An idle timeout short enough that a call astra left in AGI would show up as timed out.
start_sim --no-ari --no-agi --async-agi-cps 10 --concurrency 5 --async-agi-route /nowhere --agi-idle-timeout-ms 300
wait_for 20 "AsyncAGI starts without a route refused and counted" \
  metric_above 'astra_agi_calls_total{route="none",outcome="no_route",transport="async"}' 1
stop_sim
check "sim saw the refused calls end (ASYNCAGI BREAK)" bash -c "tail -n 1 '$WORK/sim.log' | python3 -c \"
import json,sys
j=json.loads(sys.stdin.read())['async_agi']
sys.exit(0 if j['calls_ended'] > 0 and j['calls_timed_out'] == 0 else 1)\""
kill -TERM "$ASTRA_PID"
wait_astra_exit 15 || fail "astra did not exit after SIGTERM"
check "exit code 0 after SIGTERM" test "$ASTRA_RC" = 0
log "PASS"
