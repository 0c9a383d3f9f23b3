#!/usr/bin/env bash
# ARI (re)subscriptions against astra-sim (which generates Stasis calls that stay 120 s):
# (A) another client subscribes astra's app: astra gets ApplicationReplaced, /readyz turns 503
#     saying why and when it retries, astra re-subscribes after its backoff (taking the app
#     back: the rival receives ApplicationReplaced) and hangs up the calls that entered the app
#     meanwhile (no actor: servers[].ari.on_reconnect defaults to hangup).
# (B) astra killed and started again while calls are inside the app: the new process hangs
#     them up (default policy), then, started once more with on_reconnect=adopt, adopts them.
# Usage: e2e_reconnect.sh ASTRA ASTRA_SIM
ASTRA=$1 ASTRA_SIM=$2 PORT_BASE=${PORT_BASE:-27170}
source "$(dirname "$0")/e2e_lib.sh"

# track: channels keep their actor until the caller hangs up. A 3 s backoff keeps the 503
# window easy to observe.
export ASTRA_SERVER_SIM_ARI_HANDLER=track ASTRA_BACKOFF_INITIAL=3s ASTRA_BACKOFF_MAX=6s

# Ids of the simulator's channels inside Stasis(astra), one per line.
sim_channels() {
  python3 - "$ARI_PORT" <<'PY'
import base64, json, sys, urllib.request
req = urllib.request.Request(f"http://127.0.0.1:{sys.argv[1]}/ari/channels")
req.add_header("Authorization", "Basic " + base64.b64encode(b"asterisk:asterisk").decode())
for c in json.load(urllib.request.urlopen(req, timeout=5)):
    d = c["dialplan"]
    if d["app_name"].lower() == "stasis" and d["app_data"].split(",")[0] == "astra":
        print(c["id"])
PY
}
# True when none / all of the given channel ids exist in the simulator.
all_gone() { local now; now=$(sim_channels); for id in "$@"; do grep -qx "$id" <<<"$now" && return 1; done; return 0; }
all_present() { local now; now=$(sim_channels); for id in "$@"; do grep -qx "$id" <<<"$now" || return 1; done; return 0; }
metric_at_least() { [ "$(metric_sum "$1")" -ge "$2" ]; }

write_config
start_sim --no-agi --event-rate 0 --ari-cps 2 --hold-ms 120000
start_astra
wait_for 20 "/readyz 200" ready_is 200
wait_for 15 "calls inside the app have actors" metric_above 'astra_ari_channel_actors{server="sim"}' 1

# --- A: a rival subscriber takes the app -------------------------------------------------------
python3 - "$ARI_PORT" >"$WORK/rival.log" 2>&1 <<'PY' &
# Subscribes app astra over a raw WebSocket and waits (20 s at most) until astra takes the
# app back, i.e. this socket receives ApplicationReplaced.
import base64, json, socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=20)
auth = "Basic " + base64.b64encode(b"asterisk:asterisk").decode()
s.sendall((f"GET /ari/events?app=astra HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
           f"Sec-WebSocket-Key: cml2YWwtc3Vic2NyaWJlcg==\r\nSec-WebSocket-Version: 13\r\nAuthorization: {auth}\r\n\r\n").encode())
buf = b""
while b"\r\n\r\n" not in buf:
    buf += s.recv(4096)
head, _, buf = buf.partition(b"\r\n\r\n")
assert head.startswith(b"HTTP/1.1 101"), head
print("subscribed", flush=True)
buf = bytearray(buf)
end = time.time() + 20
while time.time() < end:
    if len(buf) >= 2:
        n, off = buf[1] & 0x7F, 2
        if n == 126: n, off = int.from_bytes(buf[2:4], "big"), 4
        elif n == 127: n, off = int.from_bytes(buf[2:10], "big"), 10
        if len(buf) >= off + n:
            op, payload = buf[0] & 0x0F, bytes(buf[off:off + n])
            del buf[:off + n]
            if op == 1 and json.loads(payload).get("type") == "ApplicationReplaced":
                print("replaced-back", flush=True)
                sys.exit(0)
            continue
    d = s.recv(65536)
    if not d:
        break
    buf.extend(d)
print("astra did not take the app back", flush=True)
sys.exit(1)
PY
RIVAL_PID=$!
PIDS+=("$RIVAL_PID")
wait_for 10 "/readyz 503 after ApplicationReplaced" ready_is 503
body=$(curl -s -m 2 "$ADMIN/readyz")
log "readyz body: $body"
check "503 says why and when" grep -Eq "ari sim: down \(application 'astra' replaced by another client\), retrying in [0-9]+ s" <<<"$body"
wait_for 3 "/v1/status (refreshed every second): the replacement and its reason" status_check \
  's["servers"][0]["ari"]["detail"]["replacements"] == 1 and "replaced by another client" in s["servers"][0]["ari"]["detail"]["down_reason"]'
wait_for 15 "/readyz 200 once astra re-subscribed" ready_is 200
wait "$RIVAL_PID"
check "the rival was replaced in turn" grep -qx "replaced-back" "$WORK/rival.log"
wait_for 10 "calls that entered the app meanwhile (no actor) were hung up" \
  metric_above 'astra_ari_reconnect_channels_total{server="sim",policy="hangup",outcome="ok"}' 0

# --- B: astra restarted with calls inside the app --------------------------------------------------
mapfile -t left <<<"$(sim_channels)"
log "killing astra with ${#left[@]} calls inside the app"
check "calls inside the app before the kill" test "${#left[@]}" -ge 2
kill -KILL "$ASTRA_PID"; wait "$ASTRA_PID" 2>/dev/null
start_astra
wait_for 20 "/readyz 200 after the restart" ready_is 200
wait_for 10 "the restarted astra hung up every call left in the app" all_gone "${left[@]}"
check "counted: hangup ok >= ${#left[@]}" metric_at_least 'astra_ari_reconnect_channels_total{server="sim",policy="hangup",outcome="ok"}' "${#left[@]}"

wait_for 15 "new calls inside the app again" metric_at_least 'astra_ari_channel_actors{server="sim"}' 2
mapfile -t left <<<"$(sim_channels)"
kill -KILL "$ASTRA_PID"; wait "$ASTRA_PID" 2>/dev/null
ASTRA_SERVER_SIM_ARI_ON_RECONNECT=adopt start_astra
wait_for 20 "/readyz 200 after the second restart" ready_is 200
wait_for 10 "adopt: each call left in the app got an actor" \
  metric_at_least 'astra_ari_reconnect_channels_total{server="sim",policy="adopt",outcome="ok"}' "${#left[@]}"
check "adopted calls are still up (track adopts without touching them)" all_present "${left[@]}"
check "the adopted calls have actors" metric_at_least 'astra_ari_channel_actors{server="sim"}' "${#left[@]}"
check "nothing hung up by the adopting process" test "$(metric_sum 'astra_ari_reconnect_channels_total{server="sim",policy="hangup"')" = 0

kill -TERM "$ASTRA_PID"
wait_astra_exit 20 || fail "astra did not exit after SIGTERM"
check "exit 0" test "$ASTRA_RC" = 0
echo "e2e_reconnect: passed"
