#!/usr/bin/env python3
"""Issue 14, lease safety: two astra processes configured with the SAME bus.nats.replica name
(e.g. a fixed hostname in compose) and one nats-server (started here on a free loopback port),
astra-sim as the Asterisk.

  - exactly one of them holds the server, steadily over several lease TTLs (a renewal counts
    as "ours" only with the process's own instance id, so the two never both hold);
  - the one standing by says why in its log (another process holds with this replica's name);
  - SIGKILL the holder: the other takes the lease over once it lapsed (within 2 x lease_ttl).
Usage: bus_same_name_test.py ASTRA ASTRA_SIM"""
import atexit, os, re, shutil, signal, socket, subprocess, sys, tempfile, time, urllib.request

astra, sim = sys.argv[1], sys.argv[2]
nats_server = shutil.which("nats-server") or "/usr/sbin/nats-server"
TTL = 1.0
work = tempfile.mkdtemp(prefix="bus-same-name-")
procs = []


def free_port():
    s = socket.socket(); s.bind(("127.0.0.1", 0)); p = s.getsockname()[1]; s.close(); return p


@atexit.register
def _kill_all():
    for _, p in procs:
        if p.poll() is None:
            p.kill()


def spawn(name, args, env=None):
    p = subprocess.Popen(args, stdout=open(os.path.join(work, name + ".log"), "w"), stderr=subprocess.STDOUT, env=env)
    procs.append((name, p))
    return p


def log_of(name):
    return open(os.path.join(work, name + ".log"), errors="replace").read()


def fail(msg):
    print("FAIL:", msg)
    for name, _ in procs:
        print("--- %s.log (tail) ---\n%s" % (name, log_of(name)[-2000:]))
    sys.exit(1)


nats_port, ami_port, ari_port = free_port(), free_port(), free_port()
spawn("nats", [nats_server, "-a", "127.0.0.1", "-p", str(nats_port), "-js", "-sd", os.path.join(work, "js")])
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
