#!/usr/bin/env bash
# Drain: SIGTERM with FastAGI calls in flight. (1) Calls that end within drain_timeout
# finish: exit 0, summary drained > 0, cut 0, /readyz 503 during the drain and the listener
# refuses new connections. (2) Calls that outlive drain_timeout are cut: exit 0, cut > 0.
# (3) A second signal exits at once. Usage: e2e_drain.sh ASTRA ASTRA_SIM
ASTRA=$1 ASTRA_SIM=$2 PORT_BASE=${PORT_BASE:-27150} NO_UPSTREAMS=1
source "$(dirname "$0")/e2e_lib.sh"

active() { metric_sum 'astra_agi_calls_active'; }

# --- 1: calls finish during the drain (the caller hangs up after 3 s; the /hang handler
# records the hang-up with a dead-channel command and completes).
DRAIN=15s write_config
start_sim --no-ami --no-ari --agi-path hang --cps 20 --concurrency 6 --caller-hangup-ms 3000
start_astra
wait_for 20 "/readyz 200" ready_is 200
wait_for 15 "calls in flight" metric_above astra_agi_calls_active 2
in_flight=$(active)
log "SIGTERM with $in_flight calls in flight"
kill -TERM "$ASTRA_PID"
wait_for 5 "/readyz 503 as soon as the drain starts" ready_is 503
# /readyz turns 503 a moment before the listener closes.
wait_for 5 "FastAGI listener refuses new connections during the drain" bash -c "! (exec 3<>/dev/tcp/127.0.0.1/$AGI_PORT) 2>/dev/null"
wait_astra_exit 30 || fail "astra did not exit within 30 s"
check "exit 0 after the drain" test "$ASTRA_RC" = 0
log "summary: $(summary_line)"
check "summary: drained >= calls in flight at SIGTERM ($in_flight)" test "$(summary_field drained)" -ge "$in_flight"
check "summary: nothing cut" test "$(summary_field cut)" = 0
check "drain start was logged before the summary" grep -q '"msg":"drain started"' "$WORK/astra.log"
stop_sim
: >"$WORK/astra.log"

# --- 2: calls outlive drain_timeout and are cut.
DRAIN=1s write_config
start_sim --no-ami --no-ari --agi-path hang --cps 20 --concurrency 3
start_astra
wait_for 20 "/readyz 200" ready_is 200
wait_for 15 "3 calls in flight" metric_above astra_agi_calls_active 2
kill -TERM "$ASTRA_PID"
wait_astra_exit 20 || fail "astra did not exit within 20 s"
check "exit 0 after cutting" test "$ASTRA_RC" = 0
log "summary: $(summary_line)"
check "summary: 3 cut" test "$(summary_field cut)" -ge 3
stop_sim
: >"$WORK/astra.log"

# --- 3: a second signal exits at once.
DRAIN=30s write_config
start_sim --no-ami --no-ari --agi-path hang --cps 20 --concurrency 2
start_astra
wait_for 20 "/readyz 200" ready_is 200
wait_for 15 "calls in flight" metric_above astra_agi_calls_active 1
kill -TERM "$ASTRA_PID"
wait_for 5 "drain started" grep -q '"msg":"drain started"' "$WORK/astra.log"
t0=$(date +%s%N)
kill -INT "$ASTRA_PID"
wait_astra_exit 5 || fail "astra did not exit at once on the second signal"
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
log "second signal: exit $ASTRA_RC after ${ms} ms"
check "second signal: non-zero exit" test "$ASTRA_RC" != 0
check "second signal logged" grep -q "second signal" "$WORK/astra.log"
echo "e2e_drain: passed"
