#!/usr/bin/env python3
"""Issue 14, the bus's bounds:
a lease bucket that already exists with a TTL shorter than bus.nats.lease_ttl is refused (a
standby could otherwise take a lease its holder still counts on: split brain), and the
requests a holder answers are bounded (256 in flight per server, beyond: "busy" at once).

  - nats-server (JetStream, started here on a free loopback port) with the bucket
    astra_leases created beforehand with a 1 s TTL (the JetStream API, as `nats kv add` does);
  - astra with lease_ttl 5s: it logs the refusal once (naming the bucket and both TTLs), never
    holds the server (astra_upstream_holder stays 0) and never starts the AMI session;
  - the bucket deleted: astra creates its own and holds the server;
  - the sim frozen (SIGSTOP: AMI actions stay unanswered), 300 AMI actions over NATS at once:
    at least 44 are answered {"error":{"code":"busy"}} within a second, none is lost (every
    other one gets its timeout error), and the refusal is logged once.
Usage: bus_bounds_test.py ASTRA ASTRA_SIM"""
import json, os, re, signal, sys, time, urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import nats_lite  # noqa: E402
from e2e_procs import Processes, connect_nats, free_port  # noqa: E402

astra, sim = sys.argv[1], sys.argv[2]
run = Processes("bus-bounds-")
spawn, fail, work = run.spawn, run.fail, run.work

nats_port = run.start_nats()
ami_port = free_port()
sim_proc = spawn("sim", [sim, "--no-ari", "--no-agi", "--ami-listen", "127.0.0.1:%d" % ami_port, "--ami-secret", "s3cret",
              "--event-rate", "0", "--stats-interval", "0"])
bus = connect_nats(nats_port, fail)

stream = {"name": "KV_astra_leases", "subjects": ["$KV.astra_leases.>"], "retention": "limits",
          "max_msgs_per_subject": 1, "max_age": 1_000_000_000, "storage": "file", "num_replicas": 1,
          "discard": "new", "allow_rollup_hdrs": True, "deny_delete": True, "allow_direct": True}
created = json.loads(bus.request("$JS.API.STREAM.CREATE.KV_astra_leases", json.dumps(stream), timeout=5))
if "error" in created:
    fail("cannot create the short-TTL bucket: %s" % created)

cfg = os.path.join(work, "astra.yaml")
open(cfg, "w").write("""servers:
  - name: pbx1
    ami: {host: 127.0.0.1, port: %d, username: admin, secret: s3cret, action_timeout: 3s}
agi: {enabled: false}
log: {format: text}
drain_timeout: 1s
bus:
  nats: {url: "nats://127.0.0.1:%d", lease_ttl: 5s}
""" % (ami_port, nats_port))
admin = free_port()
proc = spawn("astra", [astra, "run", "--config", cfg],
             dict(os.environ, ASTRA_ADMIN_LISTEN="127.0.0.1:%d" % admin, ASTRA_BUS_NATS_REPLICA="r1"))


def holder():
    try:
        text = urllib.request.urlopen("http://127.0.0.1:%d/metrics" % admin, timeout=1).read().decode()
    except Exception:
        return None
    m = re.search(r'^astra_upstream_holder\{server="pbx1"\} (\S+)$', text, re.M)
    return int(float(m.group(1))) if m else None


deadline = time.time() + 10
while "lease bucket astra_leases has a TTL of 1000 ms, below bus.nats.lease_ttl (5000 ms)" not in run.log_of("astra"):
    if time.time() > deadline or proc.poll() is not None:
        fail("no refusal of the 1 s bucket logged")
    time.sleep(0.1)
seen = []
for _ in range(20):  # 3 s: several lease rounds (every lease_ttl / 3 at most)
    seen.append(holder())
    time.sleep(0.15)
if any(h != 0 for h in seen):
    fail("held the server with a bucket TTL below lease_ttl: %s" % seen)
log = run.log_of("astra")
if log.count("has a TTL of 1000 ms") != 1:
    fail("the refusal was logged %d times, not once" % log.count("has a TTL of 1000 ms"))
if "logged in as" in log:
    fail("the AMI session started without the lease")

deleted = json.loads(bus.request("$JS.API.STREAM.DELETE.KV_astra_leases", b"", timeout=5))
if not deleted.get("success"):
    fail("cannot delete the bucket: %s" % deleted)
deadline = time.time() + 15
while holder() != 1:
    if time.time() > deadline:
        fail("no hold within 15 s of the bucket's deletion")
    time.sleep(0.1)
print("refused the 1 s bucket, held the server once it was deleted")

# Requests bounded per server on the holder.
ping = json.dumps({"action": "Ping", "headers": {}})
deadline = time.time() + 15
while True:  # the lease is held; the AMI session logs in right after
    answer = nats_lite.parse(bus.request("astra.pbx1.ami.action", ping, timeout=5))
    if (answer.get("response") or {}).get("Response") == "Success":
        break
    if time.time() > deadline:
        fail("AMI Ping over NATS before the freeze: %s" % answer)
    time.sleep(0.1)
sim_proc.send_signal(signal.SIGSTOP)
inbox = bus.subscribe("_INBOX.bounds.*")
bus.flush()
sent_at = time.time()
for i in range(300):
    bus.publish("astra.pbx1.ami.action", ping, reply="_INBOX.bounds.%d" % i)
replies, busy_fast = {}, 0
deadline = time.time() + 10
while len(replies) < 300 and time.time() < deadline:
    try:
        subject, data, _, _ = inbox.get(timeout=0.5)
    except Exception:
        continue
    body = nats_lite.parse(data)
    replies[subject] = body
    if body.get("error", {}).get("code") == "busy" and time.time() - sent_at < 1.0:
        busy_fast += 1
sim_proc.send_signal(signal.SIGCONT)
codes = {}
for body in replies.values():
    code = body.get("error", {}).get("code", "ok")
    codes[code] = codes.get(code, 0) + 1
print("300 requests with the sim frozen: %s (busy within 1 s: %d)" % (codes, busy_fast))
if len(replies) != 300:
    fail("%d of 300 requests got no answer" % (300 - len(replies)))
if busy_fast < 44:
    fail("only %d busy answers within a second (256 in flight allowed)" % busy_fast)
if codes.get("busy", 0) + codes.get("timeout", 0) + codes.get("disconnected", 0) != 300:
    fail("unexpected answers: %s" % codes)
if run.log_of("astra").count("busy") < 1:
    fail("the busy refusal was not logged")
run.assert_clean()
print("OK")
