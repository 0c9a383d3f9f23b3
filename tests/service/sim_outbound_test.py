#!/usr/bin/env python3
"""astra-sim's outbound ARI mode against `astra run` with ari_outbound: 40 per-call sockets
(Asterisk's side: Basic credentials, `ari` subprotocol, ApplicationRegistered, StasisStart, REST
over the socket) run the stock demo handler; every call completes on both sides, astra closes
each socket, then the sim's wrong password is refused (401) and counted as STASISSTATUS=FAILED."""
import json, os, re, signal, socket, subprocess, sys, tempfile, time, urllib.request

astra, sim = sys.argv[1], sys.argv[2]

def free_port():
    s = socket.socket(); s.bind(("127.0.0.1", 0)); p = s.getsockname()[1]; s.close(); return p

admin_port, out_port = free_port(), free_port()
work = tempfile.mkdtemp(prefix="sim-outbound-")
cfg = os.path.join(work, "astra.yaml")
open(cfg, "w").write(f"""agi: {{enabled: false}}
admin: {{listen: "127.0.0.1:{admin_port}"}}
ari_outbound:
  listen: 127.0.0.1:{out_port}
  username: asterisk-out
  password: outpass
  apps:
    - {{name: percall, handler: demo}}
drain_timeout: 5s
""")
log = open(os.path.join(work, "astra.log"), "w")
proc = subprocess.Popen([astra, "run", "--config", cfg], stdout=log, stderr=subprocess.STDOUT)

def fail(msg):
    proc.kill()
    print("FAIL:", msg)
    print("--- astra.log ---\n" + open(os.path.join(work, "astra.log")).read()[-4000:])
    sys.exit(1)

def metrics():
    return urllib.request.urlopen(f"http://127.0.0.1:{admin_port}/metrics", timeout=2).read().decode()

def value(text, pattern):
    m = re.search(pattern, text)
    return float(m.group(1)) if m else 0.0

deadline = time.time() + 20
while True:
    try:
        metrics(); break
    except Exception:
        if time.time() > deadline or proc.poll() is not None: fail("astra did not come up")
        time.sleep(0.1)

def run_sim(password, calls):
    out = subprocess.run([sim, "--no-ami", "--no-ari", "--no-agi", "--ari-out", f"127.0.0.1:{out_port}",
                          "--ari-out-password", password, "--ari-out-calls", str(calls), "--ari-out-cps", "200",
                          "--ari-out-concurrency", "40", "--ari-out-setup-ms", "0", "--hold-ms", "10000",
                          "--stats-interval", "0"], capture_output=True, text=True, timeout=60)
    return json.loads(out.stdout.strip().splitlines()[-1])["ari_out"]

summary = run_sim("outpass", 40)
if summary["calls_completed"] != 40 or summary["calls_failed"] != 0: fail(f"sim: {summary}")
deadline = time.time() + 10
while True:
    text = metrics()
    done = value(text, r'astra_ari_calls_total\{server="outbound",app="percall",outcome="completed"\} (\S+)')
    # Asterisk closes after StasisEnd, astra once the channel actor ended: either side first.
    closed = value(text, r'astra_ari_outbound_closed_total\{reason="call_ended"\} (\S+)') + \
        value(text, r'astra_ari_outbound_closed_total\{reason="peer_closed"\} (\S+)')
    if done == 40 and closed == 40: break
    if time.time() > deadline: fail(f"completed {done}, closed {closed}\n{text}")
    time.sleep(0.1)
if value(text, r'astra_ari_outbound_upgrades_total\{result="ok"\} (\S+)') != 40: fail("upgrades ok != 40\n" + text)
summary = run_sim("wrong", 1)
if summary["calls_failed"] != 1: fail(f"refused call not failed: {summary}")
if value(metrics(), r'astra_ari_outbound_upgrades_total\{result="unauthorized"\} (\S+)') != 3:  # 1 + 2 retries
    fail("unauthorized upgrades != 3")
proc.send_signal(signal.SIGTERM)
if proc.wait(timeout=30) != 0: fail("astra exit status")
print("ok: 40 per-call sockets from astra-sim completed; a refused call fell back (STASISSTATUS=FAILED)")
