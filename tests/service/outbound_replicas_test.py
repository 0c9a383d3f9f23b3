#!/usr/bin/env python3
"""Two astra replicas behind one round-robin TCP proxy that, like a Kubernetes Service, only
sends connections to replicas whose /readyz says ready (polled every 100 ms, as endpoints are
updated from readiness): astra-sim dials per-call outbound ARI WebSockets to the proxy as
Asterisk does; both replicas serve calls; replica A drains mid-run (SIGTERM): /readyz turns 503,
an upgrade that still reaches it gets a fast 503 and Asterisk's retry lands on B. Every call
completes; A exits 0 having cut nothing."""
import json, os, re, signal, socket, subprocess, sys, tempfile, threading, time, urllib.request

astra, sim = sys.argv[1], sys.argv[2]

def free_port():
    s = socket.socket(); s.bind(("127.0.0.1", 0)); p = s.getsockname()[1]; s.close(); return p

work = tempfile.mkdtemp(prefix="outbound-replicas-")
replicas = []
for name in ("a", "b"):
    admin, out = free_port(), free_port()
    cfg = os.path.join(work, f"astra-{name}.yaml")
    open(cfg, "w").write(f"""agi: {{enabled: false}}
admin: {{listen: "127.0.0.1:{admin}"}}
ari_outbound:
  listen: 127.0.0.1:{out}
  username: asterisk-out
  password: outpass
  apps:
    - {{name: percall, handler: demo}}
drain_timeout: 10s
""")
    log = open(os.path.join(work, f"astra-{name}.log"), "w")
    proc = subprocess.Popen([astra, "run", "--config", cfg], stdout=log, stderr=subprocess.STDOUT)
    replicas.append({"name": name, "admin": admin, "out": out, "proc": proc})

def fail(msg):
    for r in replicas:
        if r["proc"].poll() is None: r["proc"].kill()
    print("FAIL:", msg)
    for r in replicas:
        print(f"--- astra-{r['name']}.log ---\n" + open(os.path.join(work, f"astra-{r['name']}.log")).read()[-3000:])
    sys.exit(1)

def metrics(r):
    return urllib.request.urlopen(f"http://127.0.0.1:{r['admin']}/metrics", timeout=2).read().decode()

def upgrades(text, result):
    m = re.search(r'astra_ari_outbound_upgrades_total\{result="%s"\} (\d+)' % result, text)
    return int(m.group(1)) if m else 0

for r in replicas:
    deadline = time.time() + 20
    while True:
        try:
            metrics(r); break
        except Exception:
            if time.time() > deadline or r["proc"].poll() is not None: fail(f"replica {r['name']} did not come up")
            time.sleep(0.1)

# The Service: accepts on one port, hands each connection to the next replica in turn.
proxy = socket.socket(); proxy.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
proxy.bind(("127.0.0.1", 0)); proxy.listen(256)
proxy_port = proxy.getsockname()[1]
turn = [0]
ready = {r["name"]: True for r in replicas}
def watch_readiness():
    while True:
        for r in replicas:
            try:
                code = urllib.request.urlopen(f"http://127.0.0.1:{r['admin']}/readyz", timeout=1).status
            except Exception:
                code = 503
            ready[r["name"]] = code == 200
        time.sleep(0.1)
threading.Thread(target=watch_readiness, daemon=True).start()
def pipe(src, dst):
    try:
        while True:
            data = src.recv(65536)
            if not data: break
            dst.sendall(data)
    except OSError:
        pass
    for s in (src, dst):
        try: s.shutdown(socket.SHUT_RDWR)
        except OSError: pass
def serve():
    while True:
        try:
            client, _ = proxy.accept()
        except OSError:
            return
        candidates = [r for r in replicas if ready[r["name"]]] or replicas
        r = candidates[turn[0] % len(candidates)]; turn[0] += 1
        try:
            backend = socket.create_connection(("127.0.0.1", r["out"]), timeout=5)
        except OSError:
            client.close(); continue
        for a, b in ((client, backend), (backend, client)):
            threading.Thread(target=pipe, args=(a, b), daemon=True).start()
threading.Thread(target=serve, daemon=True).start()

calls = 40
simp = subprocess.Popen([sim, "--no-ami", "--no-ari", "--no-agi", "--ari-out", f"127.0.0.1:{proxy_port}",
                         "--ari-out-password", "outpass", "--ari-out-calls", str(calls), "--ari-out-cps", "10",
                         "--ari-out-concurrency", "40", "--ari-out-setup-ms", "200", "--stats-interval", "0"],
                        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
time.sleep(1.5)  # about 15 calls placed, several in progress on each replica
a, b = replicas
before = metrics(a)
a_ok_before = upgrades(before, "ok")
if a_ok_before == 0 or upgrades(metrics(b), "ok") == 0: fail("the proxy did not spread calls over both replicas")
a["proc"].send_signal(signal.SIGTERM)

try:
    out, _ = simp.communicate(timeout=60)
except subprocess.TimeoutExpired:
    simp.kill(); fail("astra-sim did not finish its calls")
summary = json.loads(out.strip().splitlines()[-1])["ari_out"]
if summary["calls_completed"] != calls or summary["calls_failed"] != 0: fail(f"sim: {summary}")
try:
    rc = a["proc"].wait(timeout=30)
except subprocess.TimeoutExpired:
    fail("replica A did not exit after its drain")
if rc != 0: fail(f"replica A exited {rc}")
stopped = [l for l in open(os.path.join(work, "astra-a.log")) if '"astra stopped"' in l]
if not stopped or '"cut":0' not in stopped[-1]: fail(f"replica A cut calls: {stopped}")
text_b = metrics(b)
if upgrades(text_b, "ok") + a_ok_before < calls // 2: fail("too few calls served")
refused = summary.get("upgrade_failures", 0)
print(f"ok: {calls} per-call calls over two replicas; A served {a_ok_before} before its drain, "
      f"B {upgrades(text_b, 'ok')}; upgrades refused during the drain and retried: {refused}")
b["proc"].send_signal(signal.SIGTERM)
if b["proc"].wait(timeout=30) != 0: fail("replica B did not exit 0")
