#!/usr/bin/env python3
"""Issue 14, lease safety: two astra processes configured with the SAME bus.nats.replica name
(e.g. a fixed hostname in compose) and one nats-server (started here on a free loopback port),
astra-sim as the Asterisk.

  - exactly one of them holds the server, steadily over several lease TTLs (a renewal counts
    as "ours" only with the process's own instance id, so the two never both hold);
  - the one standing by says why in its log (another process holds with this replica's name);
  - SIGKILL the holder: the other takes the lease over once it lapsed (within 2 x lease_ttl).
Usage: bus_same_name_test.py ASTRA ASTRA_SIM"""
import os, re, signal, subprocess, sys, time, urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from e2e_procs import Processes, free_port  # noqa: E402

astra, sim = sys.argv[1], sys.argv[2]
TTL = 1.0
run = Processes("bus-same-name-")
spawn, log_of, fail, work = run.spawn, run.log_of, run.fail, run.work
procs = run.procs

nats_port, ami_port, ari_port = run.start_nats(), free_port(), free_port()
spawn("sim", [sim, "--ami-listen", "127.0.0.1:%d" % ami_port, "--ari-listen", "127.0.0.1:%d" % ari_port,
              "--ami-secret", "s3cret", "--ari-password", "p4ss", "--event-rate", "50", "--cps", "0",
              "--stats-interval", "0"])
cfg = os.path.join(work, "astra.yaml")
open(cfg, "w").write("""servers:
  - name: pbx1
    ami: {host: 127.0.0.1, port: %d, username: admin, secret: s3cret}
agi: {enabled: false}
log: {format: text}
drain_timeout: 1s
bus:
  nats: {url: "nats://127.0.0.1:%d", lease_ttl: %gs, replica: twin}
""" % (ami_port, nats_port, TTL))
admin = {}
for name in ("a", "b"):
    admin[name] = free_port()
    spawn(name, [astra, "run", "--config", cfg], dict(os.environ, ASTRA_ADMIN_LISTEN="127.0.0.1:%d" % admin[name]))
    time.sleep(0.3)  # "a" starts first and takes the lease; "b" meets a fresh lease with its own name


def holder(name):
    try:
        text = urllib.request.urlopen("http://127.0.0.1:%d/metrics" % admin[name], timeout=1).read().decode()
    except Exception:
        return None
    m = re.search(r'^astra_upstream_holder\{server="pbx1"\} (\S+)$', text, re.M)
    return int(float(m.group(1))) if m else None


deadline = time.time() + 15
while [holder(n) for n in ("a", "b")].count(1) != 1:
    if time.time() > deadline:
        fail("no single holder after 15 s: a=%s b=%s" % (holder("a"), holder("b")))
    time.sleep(0.1)
# Steadily one holder over 4 lease TTLs (renewals every TTL/3: about 12 of them).
end = time.time() + 4 * TTL
while time.time() < end:
    states = {n: holder(n) for n in ("a", "b")}
    if list(states.values()).count(1) != 1:
        fail("holders while steady: %s" % states)
    time.sleep(0.05)
first = "a" if holder("a") == 1 else "b"
other = "b" if first == "a" else "a"
if "held by another process with this replica's name" not in log_of(other):
    fail("the standby did not say why it waits")
print("holder:", first, "(both named twin)")
dict(procs)[first].send_signal(signal.SIGKILL)
start = time.time()
while holder(other) != 1:
    if time.time() - start > 2 * TTL + 1.0:
        fail("the other twin did not take over within 2 x lease_ttl (+1 s for polling)")
    time.sleep(0.02)
print("take-over by the other twin after %.2f s" % (time.time() - start))
dict(procs)[other].send_signal(signal.SIGTERM)
try:
    rc = dict(procs)[other].wait(timeout=10)
except subprocess.TimeoutExpired:
    fail("the twin did not exit after SIGTERM")
if rc != 0:
    fail("the twin exited %d after SIGTERM" % rc)
print("PASS")
