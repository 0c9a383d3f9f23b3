#!/usr/bin/env python3
"""Issue 14: ARI call actors spread across replicas. Three astra replicas, one nats-server
(JetStream, started here on a free loopback port), astra-sim as the Asterisk generating 60
Stasis calls (20 per second; each caller would hang up by itself only after 60 s).

  - the holder of the ARI socket offers each StasisStart on astra.pbx1.ari.calls; every
    replica claims some (astra_ari_calls_claimed_total > 0 on each) and runs the ari_demo flow
    (answer, variable, bridge, beep of 2 s, hang-up) from the events relayed to it;
  - one replica that is not the holder is SIGKILLed while it runs calls: the holder sees its
    claims heartbeat stop and applies on_worker_loss to its calls (POLICY, the second
    argument: hangup -> DELETE by the holder; reoffer -> offered again, a survivor runs the
    demo flow from the start), astra_ari_worker_loss_calls_total{policy=POLICY} > 0;
  - none hangs: every one of the 60 calls is hung up by astra (the demo's own hang-up or the
    policy's) long before its caller would have, no channel is left in the sim, and the
    replicas that lived report only completed handlers.
Usage: bus_ari_calls_test.py ASTRA ASTRA_SIM [hangup|reoffer]"""
import json, os, signal, sys, time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import e2e_procs  # noqa: E402
from e2e_procs import Processes, free_port  # noqa: E402

astra, sim = sys.argv[1], sys.argv[2]
POLICY = sys.argv[3] if len(sys.argv) > 3 else "hangup"
CALLS = 60
run = Processes("bus-ari-calls-")
spawn, fail, work = run.spawn, run.fail, run.work

nats_port = run.start_nats()
sim_proc, ari_port = run.start_ari_sim(sim, CALLS, 2000)

cfg = os.path.join(work, "astra.yaml")
open(cfg, "w").write("""servers:
  - name: pbx1
    ari: {url: "http://127.0.0.1:%d", username: asterisk, password: p4ss, app: astra, handler: demo,
          on_worker_loss: %s}
agi: {enabled: false}
log: {format: text}
drain_timeout: 2s
bus:
  nats: {url: "nats://127.0.0.1:%d", lease_ttl: 1s}
""" % (ari_port, POLICY, nats_port))
replicas = {}
for name in ("r1", "r2", "r3"):
    admin = free_port()
    env = dict(os.environ, ASTRA_ADMIN_LISTEN="127.0.0.1:%d" % admin, ASTRA_BUS_NATS_REPLICA=name)
    replicas[name] = {"admin": admin, "proc": spawn(name, [astra, "run", "--config", cfg], env)}


def metric(name, series):
    return e2e_procs.metric(replicas[name]["admin"], series)


def sim_channels():
    return e2e_procs.sim_channels(ari_port)


# The holder (ARI socket) and the first calls.
deadline = time.time() + 20
holder = None
while holder is None:
    if time.time() > deadline:
        fail("no holder after 20 s")
    held = [n for n in replicas if metric(n, 'astra_upstream_holder{server="pbx1"}') == 1]
    holder = held[0] if len(held) == 1 else None
    time.sleep(0.1)
print("holder:", holder)

# Kill a replica that is not the holder while it runs calls.
victim = None
deadline = time.time() + 20
while victim is None:
    if time.time() > deadline:
        fail("no non-holder replica ran a call within 20 s: %s" %
             {n: metric(n, 'astra_ari_channel_actors{server="pbx1"}') for n in replicas})
    for n in replicas:
        if n != holder and (metric(n, 'astra_ari_channel_actors{server="pbx1"}') or 0) >= 3:
            victim = n
            break
    time.sleep(0.05)
claimed_by_victim = metric(victim, 'astra_ari_calls_claimed_total{server="pbx1"}')
replicas[victim]["proc"].send_signal(signal.SIGKILL)
killed_at = time.time()
print("killed %s (claimed %s calls so far)" % (victim, claimed_by_victim))
if not claimed_by_victim:
    fail("the killed replica had claimed no call")

# Every call ends, none by its caller.
deadline = time.time() + 30
while True:
    chans = sim_channels()
    generated_all = all((metric(n, 'astra_ari_calls_offered_total{server="pbx1"}') or 0) >= CALLS
                        for n in [holder])
    if not chans and generated_all:
        break
    if time.time() > deadline:
        fail("calls still up 30 s after the kill: %d channels, offered %s" %
             (len(chans), metric(holder, 'astra_ari_calls_offered_total{server="pbx1"}')))
    time.sleep(0.2)
print("all calls ended %.1f s after the kill" % (time.time() - killed_at))

survivors = [n for n in replicas if n != victim]
claimed = {n: metric(n, 'astra_ari_calls_claimed_total{server="pbx1"}') or 0 for n in survivors}
claimed[victim] = claimed_by_victim
print("claimed per replica:", claimed)
for n, c in claimed.items():
    if c <= 0:
        fail("replica %s claimed no call: %s" % (n, claimed))
lost = metric(holder, 'astra_ari_worker_loss_calls_total{server="pbx1",policy="%s"}' % POLICY) or 0
lost_workers = metric(holder, 'astra_ari_worker_lost_total{server="pbx1"}') or 0
unclaimed = metric(holder, 'astra_ari_calls_unclaimed_total{server="pbx1"}') or 0
print("worker loss: %d replica(s), %d call(s) handled by %s; unclaimed %d" % (lost_workers, lost, POLICY, unclaimed))
if lost_workers != 1 or lost < 1:
    fail("the holder did not apply on_worker_loss to the killed replica's calls (lost %s, calls %s)" % (lost_workers, lost))
if unclaimed:
    fail("%d offers were not claimed" % unclaimed)
for n in survivors:
    completed = metric(n, 'astra_ari_calls_total{server="pbx1",outcome="completed"}') or 0
    other = (metric(n, 'astra_ari_calls_total{server="pbx1"}') or 0) - completed
    if other:
        fail("replica %s: %d handler(s) ended other than completed" % (n, other))
    if completed <= 0:
        fail("replica %s completed no call" % n)

ari = run.sim_ari_summary(sim_proc)
print("sim:", ari)
if ari["calls_generated"] != CALLS:
    fail("the sim generated %d calls, not %d" % (ari["calls_generated"], CALLS))
if ari["caller_hangups"] != 0:
    fail("%d call(s) hung until their caller hung up" % ari["caller_hangups"])
if POLICY == "reoffer":
    # Every call offered again was run to its end by a survivor: more claims than calls.
    if sum(claimed.values()) < CALLS + lost:
        fail("reoffer: %d claims for %d calls and %d reoffers" % (sum(claimed.values()), CALLS, lost))
if ari["hangups_by_app"] < CALLS:
    fail("only %d of %d calls hung up by astra" % (ari["hangups_by_app"], CALLS))
run.assert_clean()
print("OK")
