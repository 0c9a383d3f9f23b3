# Shared helpers of the end-to-end tests: astra-sim and astra as processes on loopback.
# Sourced by e2e_*.sh with ASTRA, ASTRA_SIM and a per-test port base (PORT_BASE) set.
# Every wait has a deadline; every process started here is stopped by the EXIT trap.
set -u
WORK=$(mktemp -d "${TMPDIR:-/tmp}/astra-e2e-XXXXXX")
PIDS=()
FAILED=0
AMI_PORT=$((PORT_BASE + 1)); ARI_PORT=$((PORT_BASE + 2)); AGI_PORT=$((PORT_BASE + 3))
ADMIN_PORT=$((PORT_BASE + 4)); PROM_PORT=$((PORT_BASE + 5))
ADMIN=http://127.0.0.1:$ADMIN_PORT

cleanup() {
  local pid
  for pid in "${PIDS[@]}"; do kill -KILL "$pid" 2>/dev/null; done
  wait 2>/dev/null
  if [ "$FAILED" -ne 0 ] || [ -n "${E2E_KEEP:-}" ]; then
    echo "--- logs kept in $WORK"
    for f in "$WORK"/*.log; do echo "=== $f (last 30 lines)"; tail -n 30 "$f"; done
  else
    rm -rf "$WORK"
  fi
}
trap cleanup EXIT

log() { echo "[$(date +%T)] $*"; }
fail() { echo "FAIL: $*"; FAILED=1; exit 1; }
check() { # DESCRIPTION COMMAND...
  local what=$1; shift
  if "$@"; then log "ok: $what"; else fail "$what"; fi
}

# astra config against the simulator on this test's ports. Extra YAML lines via $1 (agi routes
# etc. are fixed); DRAIN sets drain_timeout.
write_config() {
  if [ -n "${NO_UPSTREAMS:-}" ]; then
    echo "servers: []" >"$WORK/astra.yaml"
  else
    cat >"$WORK/astra.yaml" <<YAML
servers:
  - name: sim
    ami: {host: 127.0.0.1, port: $AMI_PORT, username: admin, secret_env: E2E_AMI_SECRET, keepalive_interval: 2s, keepalive_timeout: 1s}
    ari: {url: "http://127.0.0.1:$ARI_PORT", username: asterisk, password_file: ari.secret, app: astra, handler: demo, dead_peer_timeout: 4s}
YAML
  fi
  cat >>"$WORK/astra.yaml" <<YAML
agi:
  listen: 127.0.0.1:$AGI_PORT
  routes:
    - {path: /ivr/menu, handler: demo}
    - {path: /hang, handler: wait, wait: 60s}
admin: {listen: "127.0.0.1:$ADMIN_PORT"}
backoff: {initial: 200ms, max: 1s, jitter: 0.1}
log: {format: json, level: info}
drain_timeout: ${DRAIN:-10s}
YAML
  echo asterisk >"$WORK/ari.secret"
}

start_sim() { # extra astra-sim flags...
  "$ASTRA_SIM" --ami-listen 127.0.0.1:$AMI_PORT --ari-listen 127.0.0.1:$ARI_PORT \
    --agi-target 127.0.0.1:$AGI_PORT --stats-interval 0 "$@" >>"$WORK/sim.log" 2>&1 &
  SIM_PID=$!
  PIDS+=("$SIM_PID")
}

stop_sim() {
  kill -TERM "$SIM_PID" 2>/dev/null
  local i
  for i in $(seq 1 100); do kill -0 "$SIM_PID" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$SIM_PID" 2>/dev/null
  wait "$SIM_PID" 2>/dev/null
  return 0
}

start_astra() {
  E2E_AMI_SECRET=amp111 "$ASTRA" run --config "$WORK/astra.yaml" >>"$WORK/astra.log" 2>&1 &
  ASTRA_PID=$!
  PIDS+=("$ASTRA_PID")
}

# Waits for astra to exit (deadline seconds); sets ASTRA_RC.
wait_astra_exit() {
  local deadline=$1 i
  for i in $(seq 1 $((deadline * 10))); do
    kill -0 "$ASTRA_PID" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$ASTRA_PID" 2>/dev/null; then ASTRA_RC=timeout; return 1; fi
  wait "$ASTRA_PID"; ASTRA_RC=$?
  return 0
}

http_code() { curl -s -o /dev/null -m 2 -w '%{http_code}' "$1"; }

# wait_for SECONDS DESCRIPTION COMMAND...: polls every 200 ms.
wait_for() {
  local secs=$1 what=$2; shift 2
  local end=$(( $(date +%s) + secs ))
  while [ "$(date +%s)" -lt "$end" ]; do
    if "$@"; then log "ok: $what"; return 0; fi
    sleep 0.2
  done
  fail "timed out after ${secs}s waiting for: $what"
}

ready_is() { [ "$(http_code "$ADMIN/readyz")" = "$1" ]; }

# Sum of every sample of a metric whose name and labels match the regex prefix, e.g.
# metric_sum 'astra_agi_calls_total{route="/ivr/menu",outcome="completed",transport="fastagi"}'
metric_sum() {
  curl -s -m 2 "$ADMIN/metrics" | awk -v want="$1" '
    index($0, want) == 1 { s += $NF } END { printf "%d\n", s + 0 }'
}
metric_above() { [ "$(metric_sum "$1")" -gt "$2" ]; }

status_json() { curl -s -m 2 "$ADMIN/v1/status"; }
# status_check PYTHON-EXPRESSION over `s` (the parsed /v1/status document)
status_check() {
  status_json | python3 -c "import json,sys; s=json.load(sys.stdin); sys.exit(0 if ($1) else 1)"
}

summary_line() { grep '"msg":"astra stopped"' "$WORK/astra.log" | tail -n 1; }
summary_field() { summary_line | python3 -c "import json,sys; print(json.loads(sys.stdin.read())['$1'])"; }
