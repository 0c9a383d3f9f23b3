#!/usr/bin/env python3
"""Issue 14, split-brain guard and NATS outage: one astra replica holding pbx1 (astra-sim as
the Asterisk), nats-server started here. nats-server is frozen (SIGSTOP: the TCP connection
stays open, nothing answers, as in a network partition):
  - the holder gives pbx1 up within 2/3 of lease_ttl (+ one KV deadline) of its last renewal,
    before the lease could expire elsewhere: astra_upstream_holder 0, astra_ami_connected 0,
    astra_upstream_lease_lost_total 1;
  - /readyz answers 503 naming the bus once the connection is declared lost;
nats-server is thawed (SIGCONT): the replica reconnects (astra_bus_connected 1), holds pbx1
again in a new epoch and logs in to AMI again; /readyz 200. FastAGI calls (astra-sim) ended
meanwhile are published on astra.agi.call.end with increasing sequence numbers (a gap where
messages were lost with the frozen connection).
Usage: bus_outage_test.py ASTRA ASTRA_SIM"""
import json, os, re, shutil, signal, subprocess, sys, time, urllib.error, urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from e2e_procs import Processes, free_port  # noqa: E402

astra, sim = sys.argv[1], sys.argv[2]
TTL = 1.5
run = Processes("bus-outage-")
spawn, fail, work, procs = run.spawn, run.fail, run.work, run.procs

ami_port, admin, agi_port = free_port(), free_port(), free_port()
nats_port = run.start_nats()
nats = dict(procs)["nats"]
spawn("sim", [sim, "--ami-listen", "127.0.0.1:%d" % ami_port, "--ari-listen", "127.0.0.1:%d" % free_port(),
              "--ami-secret", "s3cret", "--event-rate", "50", "--cps", "2", "--ari-cps", "0", "--stats-interval", "0",
              "--agi-target", "127.0.0.1:%d" % agi_port, "--agi-path", "ivr/menu", "--media-scale", "0"])
cfg = os.path.join(work, "astra.yaml")
open(cfg, "w").write("""servers:
  - name: pbx1
    ami: {host: 127.0.0.1, port: %d, username: admin, secret: s3cret}
agi:
  listen: 127.0.0.1:%d
  routes:
    - {path: /ivr/menu, handler: demo}
admin: {listen: "127.0.0.1:%d"}
log: {format: text}
bus:
  nats: {url: "nats://127.0.0.1:%d", lease_ttl: %gs, replica: solo}
""" % (ami_port, agi_port, admin, nats_port, TTL))
time.sleep(0.3)
import nats_lite  # noqa: E402
bus = nats_lite.Nats(nats_port)
call_ends = bus.subscribe("astra.agi.call.end")
bus.flush()
spawn("astra", [astra, "run", "--config", cfg])


def metric(name):
    try:
        text = urllib.request.urlopen("http://127.0.0.1:%d/metrics" % admin, timeout=1).read().decode()
    except Exception:
        return None
    m = re.search(r"^%s (\S+)$" % re.escape(name), text, re.M)
    return float(m.group(1)) if m else None


def readyz():
    try:
        r = urllib.request.urlopen("http://127.0.0.1:%d/readyz" % admin, timeout=1)
        return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()
    except Exception as e:
        return None, str(e)


def wait(pred, limit, what):
    start = time.time()
    while time.time() - start < limit:
        if pred():
            return time.time() - start
        time.sleep(0.02)
    fail("%s: not within %.1f s" % (what, limit))


holder = 'astra_upstream_holder{server="pbx1"}'
wait(lambda: metric(holder) == 1 and metric('astra_ami_connected{server="pbx1"}') == 1, 15, "holding pbx1 with AMI up")
wait(lambda: readyz()[0] == 200, 5, "/readyz 200 while holding")
time.sleep(TTL)  # a few renewals

nats.send_signal(signal.SIGSTOP)
frozen = time.time()
# Gave up before the key could expire (TTL after the last renewal, which was < TTL/3 before
# the freeze): within 2/3 TTL + the KV deadline (TTL/4) of the freeze, with some scheduling slack.
gave_up = wait(lambda: metric(holder) == 0, 2 * TTL, "holder gave pbx1 up while NATS is frozen")
print("gave up %.3f s after the freeze (lease_ttl %.1f s)" % (gave_up, TTL))
if gave_up > TTL:
    fail("gave up %.3f s after the freeze: not before the lease could expire (%.1f s)" % (gave_up, TTL))
wait(lambda: metric('astra_ami_connected{server="pbx1"}') == 0, 2, "AMI session stopped after giving up")
if metric('astra_upstream_lease_lost_total{server="pbx1"}') != 1:
    fail("astra_upstream_lease_lost_total is %s, want 1" % metric('astra_upstream_lease_lost_total{server="pbx1"}'))
wait(lambda: readyz()[0] == 503 and "bus: nats" in readyz()[1], 6 * TTL, "/readyz 503 naming the bus")
print("/readyz while frozen:", readyz())
time.sleep(1)

nats.send_signal(signal.SIGCONT)
back = wait(lambda: metric("astra_bus_connected") == 1 and metric(holder) == 1, 15, "reconnect and hold again")
print("holding again %.3f s after the thaw" % back)
wait(lambda: metric('astra_ami_connected{server="pbx1"}') == 1, 10, "AMI logged in again")
wait(lambda: readyz()[0] == 200, 5, "/readyz 200 again")
if metric('astra_upstream_takeovers_total{server="pbx1"}') != 2:
    fail("astra_upstream_takeovers_total is %s, want 2" % metric('astra_upstream_takeovers_total{server="pbx1"}'))
# FastAGI calls ended on this replica are published on astra.agi.call.end.
ends = []
while not call_ends.empty():
    ends.append(json.loads(call_ends.get()[1]))
if not ends or any(e.get("replica") != "solo" or e.get("route") != "/ivr/menu" or "outcome" not in e or "duration_ms" not in e for e in ends):
    fail("astra.agi.call.end: %s" % ends[:3])
# Strictly increasing from 1; messages in flight when the frozen connection was declared dead
# are lost (NATS core is at most once) and show as a gap.
seqs = [e["seq"] for e in ends]
if seqs[0] != 1 or any(b <= a for a, b in zip(seqs, seqs[1:])):
    fail("astra.agi.call.end sequence: %s" % seqs)
print("%d FastAGI call ends published (outcomes %s), sequence %s" % (len(ends), sorted({e["outcome"] for e in ends}), seqs))
for _, p in procs:
    p.terminate()
for _, p in procs:
    try:
        p.wait(timeout=10)
    except subprocess.TimeoutExpired:
        p.kill()
shutil.rmtree(work, ignore_errors=True)
print("PASS")
