#!/usr/bin/env python3
"""Issue 14: ARI calls whose replicas are all gone. One astra replica with the bus runs 10
Stasis calls of astra-sim (ari_demo flow, a 5 s beep; callers would hang up only after 60 s)
and is SIGKILLed mid-call; a fresh replica takes the lease, lists the app's channels once the
heartbeats had time to arrive, and applies servers[].ari.on_reconnect to the 10 channels no
replica claims:
  - hangup: the new holder hangs them up (astra_ari_reconnect_channels_total{policy="hangup",
    outcome="ok"} = 10);
  - adopt: each is offered as a StasisStart built from the listing; the demo flow runs again
    and ends the call (10 completed handlers on the new replica).
Either way no call is left to its caller.
Usage: bus_ari_orphans_test.py ASTRA ASTRA_SIM hangup|adopt"""
import json, os, signal, sys, time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import e2e_procs  # noqa: E402
from e2e_procs import Processes, free_port  # noqa: E402

astra, sim, POLICY = sys.argv[1], sys.argv[2], sys.argv[3]
CALLS = 10
run = Processes("bus-ari-orphans-")
spawn, fail, work = run.spawn, run.fail, run.work

nats_port = run.start_nats()
sim_proc, ari_port = run.start_ari_sim(sim, CALLS, 5000)
cfg = os.path.join(work, "astra.yaml")
open(cfg, "w").write("""servers:
  - name: pbx1
    ari: {url: "http://127.0.0.1:%d", username: asterisk, password: p4ss, app: astra, handler: demo,
          on_reconnect: %s}
agi: {enabled: false}
log: {format: text}
drain_timeout: 1s
bus:
  nats: {url: "nats://127.0.0.1:%d", lease_ttl: 1s}
""" % (ari_port, POLICY, nats_port))
admins = {}


def start(name):
    admins[name] = free_port()
    env = dict(os.environ, ASTRA_ADMIN_LISTEN="127.0.0.1:%d" % admins[name], ASTRA_BUS_NATS_REPLICA=name)
    return spawn(name, [astra, "run", "--config", cfg], env)


def metric(name, series):
    return e2e_procs.metric(admins[name], series)


def sim_channels():
    return e2e_procs.sim_channels(ari_port)


first = start("r1")
deadline = time.time() + 20
while (metric("r1", 'astra_ari_calls_claimed_total{server="pbx1"}') or 0) < CALLS:
    if time.time() > deadline:
        fail("r1 did not claim the %d calls: %s" % (CALLS, metric("r1", 'astra_ari_calls_claimed_total{server="pbx1"}')))
    time.sleep(0.1)
first.send_signal(signal.SIGKILL)
if len(sim_channels()) != CALLS:
    fail("expected %d calls up when r1 died, found %d" % (CALLS, len(sim_channels())))
started = time.time()
start("r2")
deadline = time.time() + 25
while sim_channels():
    if time.time() > deadline:
        fail("%d call(s) still up 25 s after the new replica started" % len(sim_channels()))
    time.sleep(0.2)
print("orphans ended %.1f s after the new replica started" % (time.time() - started))
if POLICY == "hangup":
    ok = metric("r2", 'astra_ari_reconnect_channels_total{server="pbx1",policy="hangup",outcome="ok"}') or 0
    if ok != CALLS:
        fail("r2 hung up %s orphan(s), not %d" % (ok, CALLS))
else:
    adopted = metric("r2", 'astra_ari_reconnect_channels_total{server="pbx1",policy="adopt",outcome="ok"}') or 0
    completed = metric("r2", 'astra_ari_calls_total{server="pbx1",outcome="completed"}') or 0
    if adopted != CALLS or completed != CALLS:
        fail("adopt: %s offered, %s completed (want %d each)" % (adopted, completed, CALLS))
summary = run.sim_ari_summary(sim_proc)
print("sim:", summary)
if summary["caller_hangups"] or summary["hangups_by_app"] < CALLS:
    fail("calls left to their callers: %s" % summary)
run.assert_clean()
print("OK")
