#!/usr/bin/env bash
# Upstream restart: astra-sim stops and comes back; astra reconnects by itself; /readyz goes
# 503 (with the reason) then 200; astra_ami_reconnects_total increments; /v1/status records
# the outage in the gap history. Usage: e2e_restart.sh ASTRA ASTRA_SIM
ASTRA=$1 ASTRA_SIM=$2 PORT_BASE=${PORT_BASE:-27130}
source "$(dirname "$0")/e2e_lib.sh"

write_config
start_sim --no-agi --event-rate 20 --ari-cps 0
start_astra
wait_for 20 "/readyz 200 before the restart" ready_is 200
check "no reconnect yet" test "$(metric_sum 'astra_ami_reconnects_total{server="sim"}')" = 0

log "stopping astra-sim"
stop_sim
wait_for 15 "/readyz 503 while the upstream is down" ready_is 503
reason=$(curl -s -m 2 "$ADMIN/readyz")
log "readyz body: $reason"
check "503 names the server" grep -q "sim" <<<"$reason"
wait_for 10 "astra_ami_connected drops to 0" test "$(metric_sum 'astra_ami_connected{server="sim"}')" = 0
check "/v1/status shows the AMI link down" status_check 'not s["servers"][0]["ami"]["up"] and not s["ready"]'
sleep 1

log "restarting astra-sim"
start_sim --no-agi --event-rate 20 --ari-cps 0
wait_for 20 "/readyz 200 after the restart" ready_is 200
wait_for 5 "astra_ami_reconnects_total incremented" metric_above 'astra_ami_reconnects_total{server="sim"}' 0
check "astra_ami_connected back to 1" test "$(metric_sum 'astra_ami_connected{server="sim"}')" = 1
check "/v1/status: AMI and ARI gaps recorded" status_check \
  'len(s["servers"][0]["ami"]["gaps"]) >= 1 and s["servers"][0]["ami"]["gaps"][0]["duration_ms"] > 0 and len(s["servers"][0]["ari"]["gaps"]) >= 1'
check "no actor restarts needed (reconnect is not a crash)" test "$(metric_sum 'astra_actor_restarts_total')" = 0

kill -TERM "$ASTRA_PID"
wait_astra_exit 20 || fail "astra did not exit after SIGTERM"
check "exit 0" test "$ASTRA_RC" = 0
echo "e2e_restart: passed"
