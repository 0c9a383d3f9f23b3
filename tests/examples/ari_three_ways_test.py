#!/usr/bin/env python3
"""examples/ari_three_ways end to end: ONE handler ("greet") served on the inbound event socket
(astra-sim's generated Stasis calls), a persistent outbound socket and per-call outbound sockets
(this script plays Asterisk's side: upgrade with Basic credentials and `ari` subprotocol,
ApplicationRegistered, StasisStart, RESTResponses, StasisEnd). Checks the handler's outcomes per
app on /metrics, the outbound upgrade/connection series, then the drain: SIGTERM with a call in
progress -> /readyz 503 and a new upgrade refused with 503 (refused_draining), the call in
progress still finishes, exit 0."""
import base64, json, os, re, signal, socket, struct, subprocess, sys, tempfile, time, urllib.request

example, sim = sys.argv[1], sys.argv[2]

def free_port():
    s = socket.socket(); s.bind(("127.0.0.1", 0)); p = s.getsockname()[1]; s.close(); return p

ari_port, admin_port, out_port = free_port(), free_port(), free_port()
work = tempfile.mkdtemp(prefix="three-ways-")
cfg = os.path.join(work, "astra.yaml")
with open(cfg, "w") as f:
    f.write(f"""servers:
  - name: sim
    ari: {{url: "http://127.0.0.1:{ari_port}", username: asterisk, password: asterisk, app: inbound, handler: greet}}
agi: {{enabled: false}}
admin: {{listen: "127.0.0.1:{admin_port}"}}
ari_outbound:
  listen: 127.0.0.1:{out_port}
  username: asterisk-out
  password_env: ARI_OUT_PASSWORD
  apps:
    - {{name: percall, handler: greet}}
    - {{name: persistent, handler: greet}}
log: {{format: json, level: info}}
drain_timeout: 10s
""")
sim_log = open(os.path.join(work, "sim.log"), "w")
simp = subprocess.Popen([sim, "--ari-listen", f"127.0.0.1:{ari_port}", "--no-ami", "--no-agi", "--ari-app", "inbound",
                         "--ari-cps", "5", "--hold-ms", "200", "--stats-interval", "0"], stdout=sim_log, stderr=subprocess.STDOUT)
log = open(os.path.join(work, "astra.log"), "w")
proc = subprocess.Popen([example, "--config", cfg], stdout=log, stderr=subprocess.STDOUT,
                        env=dict(os.environ, ARI_OUT_PASSWORD="outpass"))

def fail(msg):
    for p in (proc, simp):
        p.kill()
    print("FAIL:", msg)
    for name in ("astra.log", "sim.log"):
        print(f"--- {name} ---\n" + open(os.path.join(work, name)).read()[-4000:])
    sys.exit(1)

def get(path):
    try:
        r = urllib.request.urlopen(f"http://127.0.0.1:{admin_port}{path}", timeout=2)
        return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()

def value(text, pattern):
    m = re.search(pattern, text)
    return float(m.group(1)) if m else 0.0

class Peer:
    """Asterisk's side of one outbound socket (masked client frames)."""
    def __init__(self):
        self.s = socket.create_connection(("127.0.0.1", out_port), timeout=10)
        self.buf = b""
    def upgrade(self, auth="asterisk-out:outpass"):
        token = base64.b64encode(auth.encode()).decode()
        self.s.sendall((f"GET /ari/events HTTP/1.1\r\nSec-WebSocket-Version: 13\r\nUpgrade: websocket\r\n"
                        f"Connection: Upgrade\r\nHost: astra\r\nAuthorization: Basic {token}\r\n"
                        f"Sec-WebSocket-Protocol: ari\r\nSec-WebSocket-Key: knfzKwAAAADiC0EVAAAAAA==\r\n\r\n").encode())
        while b"\r\n\r\n" not in self.buf:
            chunk = self.s.recv(4096)
            if not chunk: break
            self.buf += chunk
        head, _, self.buf = self.buf.partition(b"\r\n\r\n")
        return head.decode().split("\r\n")[0]
    def send(self, obj, opcode=1):
        data = obj if isinstance(obj, bytes) else json.dumps(obj).encode()
        mask = os.urandom(4)
        hdr = bytes([0x80 | opcode])
        n = len(data)
        hdr += bytes([0x80 | n]) if n < 126 else bytes([0x80 | 126]) + struct.pack("!H", n) if n < 65536 else bytes([0x80 | 127]) + struct.pack("!Q", n)
        self.s.sendall(hdr + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(data)))
    def _exact(self, n):
        while len(self.buf) < n:
            chunk = self.s.recv(65536)
            if not chunk: raise EOFError
            self.buf += chunk
        out, self.buf = self.buf[:n], self.buf[n:]
        return out
    def frame(self):
        while True:
            b0, b1 = self._exact(2)
            n = b1 & 0x7f
            if n == 126: n = struct.unpack("!H", self._exact(2))[0]
            elif n == 127: n = struct.unpack("!Q", self._exact(8))[0]
            payload = self._exact(n)
            op = b0 & 0x0f
            if op == 9: self.send(payload, 10); continue
            if op == 8: self.send(payload[:2], 8)
            return op, payload

def channel(cid, app):
    return {"id": cid, "name": f"PJSIP/{cid}", "state": "Up", "caller": {"name": "", "number": ""},
            "connected": {"name": "", "number": ""}, "accountcode": "",
            "dialplan": {"context": "default", "exten": "s", "priority": 1, "app_name": "Stasis", "app_data": app},
            "creationtime": "2026-12-04T13:13:15.159+0000", "language": "en"}

def reply(req, status=204, body=None):
    r = {"type": "RESTResponse", "request_id": req["request_id"], "status_code": status, "reason_phrase": "OK"}
    if body is not None: r.update(content_type="application/json", message_body=json.dumps(body))
    return r

def serve_call(peer, cid, registered_app, base_app, answer_first=True):
    """Plays one call on `peer`: StasisStart, replies to greet's four requests, StasisEnd."""
    peer.send({"type": "StasisStart", "args": [], "channel": channel(cid, base_app), "application": registered_app})
    while True:
        op, payload = peer.frame()
        if op != 1: fail(f"call {cid}: expected a RESTRequest, got opcode {op}")
        req = json.loads(payload)
        if req["method"] == "GET" and req["uri"] == "channels":  # persistent: reconciliation listing
            peer.send(reply(req, 200, [])); continue
        if req["uri"].endswith("/play"):
            pb = dict(req.get("query_strings", []) and {q["name"]: q["value"] for q in req["query_strings"]})["playbackId"]
            peer.send(reply(req, 201, {"id": pb, "media_uri": "sound:beep", "state": "queued"}))
            peer.send({"type": "PlaybackFinished", "playback": {"id": pb, "media_uri": "sound:beep", "state": "done"},
                       "application": registered_app})
        elif req["method"] == "DELETE":
            peer.send(reply(req))
            peer.send({"type": "StasisEnd", "channel": channel(cid, base_app), "application": registered_app})
            return
        else:
            peer.send(reply(req))

deadline = time.time() + 20
while True:
    try:
        if get("/healthz")[0] == 200: break
    except Exception:
        pass
    if time.time() > deadline or proc.poll() is not None: fail("astra did not come up")
    time.sleep(0.1)
time.sleep(0.3)

# Per call: three sockets, one call each; astra closes each after StasisEnd.
for i in range(3):
    p = Peer()
    status = p.upgrade()
    if not status.startswith("HTTP/1.1 101"): fail(f"per-call upgrade: {status}")
    reg = f"percall:PJSIP/p{i}"
    p.send({"type": "ApplicationRegistered", "application": reg})
    serve_call(p, f"p{i}", reg, "percall")
    op, payload = p.frame()
    if op != 8: fail(f"per-call socket {i}: expected astra's close, got {op}")
# Wrong credentials: 401.
if not Peer().upgrade("asterisk-out:wrong").startswith("HTTP/1.1 401"): fail("wrong credentials not refused with 401")
# Persistent: one socket, two calls on it.
ps = Peer()
if not ps.upgrade().startswith("HTTP/1.1 101"): fail("persistent upgrade")
ps.send({"type": "ApplicationRegistered", "application": "persistent"})
for i in range(2):
    serve_call(ps, f"s{i}", "persistent", "persistent")

deadline = time.time() + 20
while True:
    _, text = get("/metrics")
    per = value(text, r'astra_ari_calls_total\{server="outbound",app="percall",outcome="completed"\} (\S+)')
    pers = value(text, r'astra_ari_calls_total\{server="outbound",app="persistent",outcome="completed"\} (\S+)')
    inbound = value(text, r'astra_ari_calls_total\{server="sim",app="inbound",outcome="completed"\} (\S+)')
    closed = value(text, r'astra_ari_outbound_closed_total\{reason="call_ended"\} (\S+)')
    if per >= 3 and pers >= 2 and inbound >= 3 and closed >= 3: break
    if time.time() > deadline: fail(f"calls completed: percall {per}, persistent {pers}, inbound {inbound}\n{text}")
    time.sleep(0.2)
for series, want in ((r'astra_ari_outbound_upgrades_total\{result="ok"\} (\S+)', 4),
                     (r'astra_ari_outbound_upgrades_total\{result="unauthorized"\} (\S+)', 1),
                     (r'astra_ari_outbound_connections\{app="persistent",mode="persistent"\} (\S+)', 1),
                     (r'astra_ari_outbound_closed_total\{reason="call_ended"\} (\S+)', 3)):
    if value(text, series) != want: fail(f"{series}: expected {want}\n{text}")
for bad in ("failed", "exception"):
    if re.search(r'astra_ari_calls_total\{server="[^"]*",app="[^"]*",outcome="%s"\} [1-9]' % bad, text):
        fail(f"handler outcome {bad} seen:\n{text}")

# Drain: a per-call socket mid-call (its answer not yet answered), then SIGTERM.
held = Peer()
held.upgrade()
held.send({"type": "ApplicationRegistered", "application": "percall:PJSIP/d1"})
held.send({"type": "StasisStart", "args": [], "channel": channel("d1", "percall"), "application": "percall:PJSIP/d1"})
op, payload = held.frame()
answer = json.loads(payload)
proc.send_signal(signal.SIGTERM)
deadline = time.time() + 5
while get("/readyz")[0] != 503:
    if time.time() > deadline: fail("/readyz did not turn 503 while draining")
    time.sleep(0.05)
status = Peer().upgrade()
if not status.startswith("HTTP/1.1 503"): fail(f"upgrade while draining: {status}")
_, text = get("/metrics")
if value(text, r'astra_ari_outbound_upgrades_total\{result="refused_draining"\} (\S+)') != 1:
    fail("refused_draining not counted\n" + text)
# The call in progress finishes during the drain.
held.send(reply(answer))
while True:
    op, payload = held.frame()
    if op == 8: break
    req = json.loads(payload)
    if req["uri"].endswith("/play"):
        pb = {q["name"]: q["value"] for q in req["query_strings"]}["playbackId"]
        held.send(reply(req, 201, {"id": pb, "media_uri": "sound:beep", "state": "queued"}))
        held.send({"type": "PlaybackFinished", "playback": {"id": pb, "state": "done"}, "application": "percall:PJSIP/d1"})
    elif req["method"] == "DELETE":
        held.send(reply(req))
        held.send({"type": "StasisEnd", "channel": channel("d1", "percall"), "application": "percall:PJSIP/d1"})
    else:
        held.send(reply(req))
try:
    rc = proc.wait(timeout=30)
except subprocess.TimeoutExpired:
    fail("astra did not exit after the drain")
simp.terminate()
simp.wait(timeout=10)
if rc != 0: fail(f"exit status {rc}")
if '"calls_cut":0' not in open(os.path.join(work, "astra.log")).read():
    fail("the outbound drain cut a call")
print("ok: one handler served inbound, persistent and per call; drain refused new upgrades and finished the call")
