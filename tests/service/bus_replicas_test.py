#!/usr/bin/env python3
"""Issue 14: three astra replicas, one nats-server (JetStream, started here on a free loopback
port), astra-sim as the Asterisk (AMI events at a steady rate, generated ARI calls).

  - exactly one replica holds the server (astra_upstream_holder sums to 1, steadily);
  - SIGKILL the holder: another holds within 2 x lease_ttl, announces the takeover on
    astra.pbx1.upstream (previous replica, gap), and AMI events go on in the new epoch;
  - SIGTERM the new holder: it releases the lease, hand-over well within one lease_ttl;
  - every AMI event message: sequence numbers per epoch start at 1 and increase by exactly
    1 (no loss, no duplicate), one publishing replica per epoch, epochs never interleave
    (the old holder never publishes after the new one announced itself);
  - ARI events of the holder reach astra.pbx1.ari.event.<type>;
  - AMI action and ARI request over NATS answered by the holder (also through `astra ami send
    --nats`, `astra ari call --nats`), errors as JSON; no-responders at once when nobody holds;
  - `astra bus watch` prints the events as JSON lines.
Usage: bus_replicas_test.py ASTRA ASTRA_SIM"""
import json, os, re, shutil, signal, subprocess, sys, time, urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import nats_lite  # noqa: E402
from e2e_procs import Processes, connect_nats, free_port  # noqa: E402

astra, sim = sys.argv[1], sys.argv[2]
TTL = 1.0
run = Processes("bus-replicas-")
spawn, fail, work, procs = run.spawn, run.fail, run.work, run.procs


nats_port = run.start_nats()
ami_port, ari_port = free_port(), free_port()
spawn("sim", [sim, "--ami-listen", "127.0.0.1:%d" % ami_port, "--ari-listen", "127.0.0.1:%d" % ari_port,
              "--ami-secret", "s3cret", "--ari-password", "p4ss", "--event-rate", "200", "--cps", "0",
              "--ari-cps", "2", "--hold-ms", "300", "--stats-interval", "0"])

bus = connect_nats(nats_port, fail)
# Not "astra.>": a subscriber on astra.pbx1.ami.action would count as a responder.
events = bus.subscribe("astra.pbx1.*.event.>")
upstream_q = bus.subscribe("astra.pbx1.upstream")
bus.flush()

cfg = os.path.join(work, "astra.yaml")
open(cfg, "w").write("""servers:
  - name: pbx1
    ami: {host: 127.0.0.1, port: %d, username: admin, secret: s3cret}
    ari: {url: "http://127.0.0.1:%d", username: asterisk, password: p4ss, app: astra, handler: demo}
agi: {enabled: false}
log: {format: text}
drain_timeout: 2s
bus:
  nats: {url: "nats://127.0.0.1:%d", lease_ttl: %gs}
""" % (ami_port, ari_port, nats_port, TTL))
replicas = {}
for name in ("r1", "r2", "r3"):
    admin = free_port()
    env = dict(os.environ, ASTRA_ADMIN_LISTEN="127.0.0.1:%d" % admin, ASTRA_BUS_NATS_REPLICA=name)
    replicas[name] = {"admin": admin, "proc": spawn(name, [astra, "run", "--config", cfg], env)}


def holder_gauge(name):
    try:
        text = urllib.request.urlopen("http://127.0.0.1:%d/metrics" % replicas[name]["admin"], timeout=1).read().decode()
    except Exception:
        return None
    m = re.search(r'^astra_upstream_holder\{server="pbx1"\} (\S+)$', text, re.M)
    return int(float(m.group(1))) if m else None


def holders(alive):
    return [n for n in alive if holder_gauge(n) == 1]


def wait_new_holder(alive, not_name, limit):
    start = time.time()
    while time.time() - start < limit:
        h = holders(alive)
        if len(h) == 1 and h[0] != not_name:
            return h[0], time.time() - start
        time.sleep(0.02)
    return None, time.time() - start


alive = ["r1", "r2", "r3"]
# 1. Exactly one holder, steadily.
deadline = time.time() + 15
while len(holders(alive)) != 1:
    if time.time() > deadline:
        fail("no single holder after 15 s: %s" % {n: holder_gauge(n) for n in alive})
    time.sleep(0.1)
for _ in range(15):
    h = holders(alive)
    if len(h) != 1:
        fail("holders while steady: %s" % h)
    time.sleep(0.2)
first = h[0]
print("holder:", first)

# 2. AMI action over NATS, answered by the holder.
reply = nats_lite.parse(bus.request("astra.pbx1.ami.action", json.dumps({"action": "Ping", "headers": {}}), timeout=5))
if reply.get("response", {}).get("Response") != "Success":
    fail("AMI Ping over NATS: %s" % reply)
bad = nats_lite.parse(bus.request("astra.pbx1.ami.action", b"not json", timeout=5))
if bad.get("error", {}).get("code") != "invalid":
    fail("invalid AMI request over NATS: %s" % bad)

ari_reply = nats_lite.parse(bus.request("astra.pbx1.ari.request", json.dumps({"method": "GET", "path": "/channels"}), timeout=5))
if ari_reply.get("status") != 200 or not isinstance(ari_reply.get("body"), list):
    fail("ARI GET /channels over NATS: %s" % ari_reply)
ari_missing = nats_lite.parse(bus.request("astra.pbx1.ari.request", json.dumps({"method": "GET", "path": "/channels/nope-404"}), timeout=5))
if ari_missing.get("status") != 404 or ari_missing.get("error", {}).get("code") != "status_404":
    fail("ARI 404 over NATS: %s" % ari_missing)
# The CLI forms (astra ami send / ari call --nats, astra bus watch).
nats_url = "nats://127.0.0.1:%d" % nats_port
cli = subprocess.run([astra, "ami", "send", "--nats", nats_url, "--server", "pbx1", "Ping"], capture_output=True, text=True, timeout=20)
if cli.returncode != 0 or json.loads(cli.stdout)["response"].get("Response") != "Success":
    fail("astra ami send --nats: exit %d, %r %r" % (cli.returncode, cli.stdout, cli.stderr))
cli = subprocess.run([astra, "ari", "call", "--nats", nats_url, "--server", "pbx1", "GET", "/channels/nope-404"],
                     capture_output=True, text=True, timeout=20)
if cli.returncode != 1 or json.loads(cli.stdout)["status"] != 404:
    fail("astra ari call --nats (404): exit %d, %r %r" % (cli.returncode, cli.stdout, cli.stderr))
cli = subprocess.run([astra, "bus", "watch", "--nats", nats_url, "--count", "3", "astra.pbx1.ami.event.>"],
                     capture_output=True, text=True, timeout=20)
lines = [json.loads(l) for l in cli.stdout.splitlines()]
if cli.returncode != 0 or len(lines) != 3 or any(not l["subject"].startswith("astra.pbx1.ami.event.") or "seq" not in l["data"] for l in lines):
    fail("astra bus watch: exit %d, %r %r" % (cli.returncode, cli.stdout[:500], cli.stderr))

# 3. SIGKILL the holder.
replicas[first]["proc"].send_signal(signal.SIGKILL)
alive.remove(first)
second, kill_takeover = wait_new_holder(alive, first, 4 * TTL)
if not second:
    fail("no takeover within %g s after SIGKILL" % (4 * TTL))
print("kill takeover: %.3f s (%s -> %s)" % (kill_takeover, first, second))
if kill_takeover > 2 * TTL:
    fail("takeover after SIGKILL took %.3f s > 2 x lease_ttl" % kill_takeover)
time.sleep(1.5)

# 4. SIGTERM the new holder: immediate hand-over.
replicas[second]["proc"].send_signal(signal.SIGTERM)
alive.remove(second)
third, drain_takeover = wait_new_holder(alive, second, 4 * TTL)
if not third:
    fail("no takeover within %g s after SIGTERM" % (4 * TTL))
print("drain takeover: %.3f s (%s -> %s)" % (drain_takeover, second, third))
if drain_takeover > 0.5 * TTL:
    fail("hand-over after SIGTERM took %.3f s (want < %.1f s: released, not expired)" % (drain_takeover, 0.5 * TTL))
if replicas[second]["proc"].wait(timeout=15) != 0:
    fail("drained replica exited %s" % replicas[second]["proc"].returncode)
time.sleep(1.5)

# 5. Nobody holds: no-responders at once, not a timeout.
replicas[third]["proc"].send_signal(signal.SIGKILL)
alive.remove(third)
time.sleep(0.2)
t0 = time.time()
try:
    bus.request("astra.pbx1.ami.action", json.dumps({"action": "Ping"}), timeout=3)
    fail("AMI action answered with no replica alive")
except nats_lite.NoResponders:
    pass
if time.time() - t0 > 0.5:
    fail("no-responders took %.3f s" % (time.time() - t0))
cli = subprocess.run([astra, "ami", "send", "--nats", nats_url, "--server", "pbx1", "--timeout", "5", "Ping"],
                     capture_output=True, text=True, timeout=20)
if cli.returncode != 2 or "no replica holds server pbx1" not in cli.stderr:
    fail("astra ami send --nats with nobody holding: exit %d, %r" % (cli.returncode, cli.stderr))
bus.flush()

# 6. The messages.
msgs = []
for q in (events, upstream_q):
    while not q.empty():
        subject, data, _, _ = q.get()
        msgs.append((subject, nats_lite.parse(data)))
ami = [(s, m) for s, m in msgs if s.startswith("astra.pbx1.ami.event.")]
ari = [(s, m) for s, m in msgs if s.startswith("astra.pbx1.ari.event.")]
announcements = [m for s, m in msgs if s == "astra.pbx1.upstream"]
print("messages: %d AMI events, %d ARI events, %d upstream announcements" % (len(ami), len(ari), len(announcements)))
by_epoch = {}
order = []
ami_epochs = set()
for s, m in msgs:  # AMI and ARI events share the per-server sequence (arrival order = publish order)
    if s == "astra.pbx1.upstream":
        continue
    for key in ("server", "replica", "seq", "epoch", "received_unix_ms", "event"):
        if key not in m:
            fail("message without %s: %s" % (key, m))
    if s.startswith("astra.pbx1.ami.event."):
        ami_epochs.add(m["epoch"])
        if m["server"] != "pbx1" or s != "astra.pbx1.ami.event." + re.sub(r"[^A-Za-z0-9_-]", "_", m["event"].get("Event", "")):
            fail("subject %s does not match %s" % (s, m))
    e = by_epoch.setdefault(m["epoch"], {"replicas": set(), "seqs": []})
    e["replicas"].add(m["replica"])
    e["seqs"].append(m["seq"])
    if not order or order[-1] != m["epoch"]:
        order.append(m["epoch"])
if order != sorted(set(order)):
    fail("epochs interleave or go back: %s" % order)
if len(ami_epochs) < 3:
    fail("AMI events in %d epochs, want 3 (initial holder, after the kill, after the drain): %s" % (len(ami_epochs), order))
for epoch, e in by_epoch.items():
    if len(e["replicas"]) != 1:
        fail("epoch %d published by several replicas: %s" % (epoch, e["replicas"]))
    if e["seqs"] != list(range(1, len(e["seqs"]) + 1)):
        fail("epoch %d: sequence numbers not 1..n without gaps or duplicates: %s..." % (epoch, e["seqs"][:20]))
acq = [a for a in announcements if a.get("event") == "acquired"]
expired = [a for a in acq if a.get("previous_replica") == first and a.get("replica") == second]
if not expired or expired[0]["reason"] != "expired" or expired[0]["gap_ms"] < 0:
    fail("no takeover announcement after the kill: %s" % announcements)
released = [a for a in acq if a.get("previous_replica") == second and a.get("replica") == third]
if not released or released[0]["reason"] != "released":
    fail("no hand-over announcement after the drain: %s" % announcements)
if not [a for a in announcements if a.get("event") == "released" and a.get("replica") == second]:
    fail("the drained holder did not announce its release: %s" % announcements)
if not ari:
    fail("no ARI event published")
if any(m["replica"] not in (first, second, third) or "type" not in m["event"] for _, m in ari):
    fail("bad ARI event message: %s" % ari[0][1])
print("takeover gap announced after the kill: %d ms; after the drain: %d ms" % (expired[0]["gap_ms"], released[0]["gap_ms"]))
for name, p in procs:
    if p.poll() is None:
        p.terminate()
for name, p in procs:
    try:
        p.wait(timeout=10)
    except subprocess.TimeoutExpired:
        p.kill()
run.assert_clean()
shutil.rmtree(work, ignore_errors=True)
print("PASS")
