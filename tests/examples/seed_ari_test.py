#!/usr/bin/env python3
"""seed_ari_client end to end against astra-sim (ARI REST + /ari/events): generated Stasis
calls enter the seed's app; each handler answers, bridges, adds an external media channel,
sets ASTRA_SEED_ARI; at StasisEnd the external media channel is hung up and the bridge
destroyed. Checks the handlers' outcomes on /metrics (completed, no failed/exception), the
StasisEnd cleanup (DELETE of the external media channel and of the bridge), and exit 0 on SIGTERM."""
import os, re, signal, socket, subprocess, sys, tempfile, time, urllib.request

seed, sim = sys.argv[1], sys.argv[2]

def free_port():
    s = socket.socket(); s.bind(("127.0.0.1", 0)); p = s.getsockname()[1]; s.close(); return p

ari_port, admin_port = free_port(), free_port()
work = tempfile.mkdtemp(prefix="seed-ari-")
with open(os.path.join(work, "astra.yaml"), "w") as f:
    f.write(f"""servers:
  - name: sim
    ari: {{url: "http://127.0.0.1:{ari_port}", username: asterisk, password: asterisk, app: astra-other}}
agi: {{enabled: false}}
admin: {{listen: "127.0.0.1:{admin_port}"}}
log: {{format: json, level: info}}
drain_timeout: 5s
""")
sim_log = open(os.path.join(work, "sim.log"), "w")
simp = subprocess.Popen([sim, "--ari-listen", f"127.0.0.1:{ari_port}", "--no-ami", "--no-agi", "--ari-app", "astra-seed",
                         "--ari-cps", "5", "--hold-ms", "300", "--stats-interval", "0"], stdout=sim_log, stderr=subprocess.STDOUT)
seed_log = open(os.path.join(work, "seed.log"), "w")
proc = subprocess.Popen([seed, "--config", os.path.join(work, "astra.yaml")], stdout=seed_log, stderr=subprocess.STDOUT,
                        env=dict(os.environ, SEED_EXTERNAL_HOST="127.0.0.1:10000"))

def fail(msg):
    for p in (proc, simp):
        p.kill()
    print("FAIL:", msg)
    for name in ("seed.log", "sim.log"):
        print(f"--- {name} ---\n" + open(os.path.join(work, name)).read()[-4000:])
    sys.exit(1)

def metrics():
    return urllib.request.urlopen(f"http://127.0.0.1:{admin_port}/metrics", timeout=2).read().decode()

def value(text, pattern):
    m = re.search(pattern, text)
    return float(m.group(1)) if m else 0.0

deadline = time.time() + 30
while True:
    try:
        text = metrics()
        done = value(text, r'astra_ari_calls_total\{server="sim",app="astra-seed",outcome="completed"\} (\S+)')
        if done >= 5: break
    except Exception:
        pass
    if time.time() > deadline or proc.poll() is not None: fail("fewer than 5 seed calls completed within 30 s")
    time.sleep(0.2)
for bad in ("failed", "exception"):
    if value(text, r'astra_ari_calls_total\{server="sim",app="astra-seed",outcome="%s"\} (\S+)' % bad) > 0:
        fail(f"handler outcome {bad} seen:\n" + text)
# StasisEnd cleanup: the external media channel hung up and the bridge destroyed (DELETEs).
deadline = time.time() + 15
while True:
    text = metrics()
    deletes = value(text, r'astra_ari_requests_total\{server="sim",method="DELETE",status="204"\} (\S+)')
    if deletes >= 4 and "StasisEnd: channel" in open(os.path.join(work, "seed.log")).read():
        break
    if time.time() > deadline: fail("no StasisEnd cleanup (DELETE of the external media channel and the bridge):\n" + text)
    time.sleep(0.2)
simp.send_signal(signal.SIGTERM)
log = open(os.path.join(work, "seed.log")).read()
if "StasisEnd: channel" not in log: fail("no StasisEnd log line")
proc.send_signal(signal.SIGTERM)
try:
    rc = proc.wait(timeout=20)
except subprocess.TimeoutExpired:
    fail("no exit within 20 s of SIGTERM")
if rc != 0: fail(f"exit code {rc}")
simp.wait(timeout=10)
print("ok: seed_ari_client")
