#!/usr/bin/env python3
"""The `webhook` stock handler end to end over ARI: `astra run` with an ARI server whose
handler is webhook, a scripted fake Asterisk ARI (REST + /ari/events WebSocket, JSON shaped as
Asterisk 22.11 recorded it) and a web app in this test. Drives: answer; a play interrupted by
DTMF ("1", stopping the playback) whose digit is typed ahead into the gather; verb.result;
set; dial (originate into the app with a pre-assigned id, a mixing bridge joining both legs,
the dialled leg hanging up after 300 ms); hangup. Checks the REST requests astra made, the
request bodies and call.end."""
import base64, hashlib, hmac, json, os, re, signal, socket, subprocess, sys, tempfile, threading, time, urllib.parse, urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

astra = sys.argv[1]
SECRET = "ari-webhook-secret"
APP = "sales"

def free_port():
    s = socket.socket(); s.bind(("127.0.0.1", 0)); p = s.getsockname()[1]; s.close(); return p

ari_port, app_port, admin_port = free_port(), free_port(), free_port()
lock = threading.Lock()
rest_log = []       # "METHOD /path?query" of every REST request astra made
app_events = []     # (path, body) the web app received
ws = {"sock": None}

def now(): return time.strftime("%Y-%m-%dT%H:%M:%S.000+0000", time.gmtime())

def channel(cid, name, number="5551234"):
    return {"id": cid, "name": name, "state": "Up", "protocol_id": "", "caller": {"name": "Alice", "number": number},
            "connected": {"name": "", "number": ""}, "accountcode": "",
            "dialplan": {"context": "default", "exten": "100", "priority": 2, "app_name": "Stasis", "app_data": APP},
            "creationtime": now(), "language": "en"}

def send_event(ev):
    ev.setdefault("timestamp", now()); ev.setdefault("application", APP); ev.setdefault("asterisk_id", "02:fc:00:00:00:01")
    data = json.dumps(ev).encode()
    header = bytes([0x81, len(data)]) if len(data) < 126 else bytes([0x81, 126]) + len(data).to_bytes(2, "big")
    with lock:
        if ws["sock"]: ws["sock"].sendall(header + data)

def later(seconds, fn):
    threading.Timer(seconds, fn).start()

chan_ids = {}

class Ari(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *a): pass
    def reply(self, status, body=None):
        data = b"" if body is None else json.dumps(body).encode()
        self.send_response(status)
        if body is not None: self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
    def handle_any(self, method):
        n = int(self.headers.get("Content-Length") or 0)
        if n: self.rfile.read(n)
        url = urllib.parse.urlsplit(self.path)
        q = dict(urllib.parse.parse_qsl(url.query))
        path = url.path
        if path == "/ari/events" and self.headers.get("Upgrade", "").lower() == "websocket":
            key = self.headers["Sec-WebSocket-Key"]
            accept = base64.b64encode(hashlib.sha1((key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").encode()).digest()).decode()
            self.send_response(101); self.send_header("Upgrade", "websocket"); self.send_header("Connection", "Upgrade")
            self.send_header("Sec-WebSocket-Accept", accept); self.end_headers(); self.wfile.flush()
            with lock: ws["sock"] = self.connection
            self.close_connection = True
            # Hold the socket: read (and answer pings) until astra closes it.
            try:
                while True:
                    b = self.connection.recv(2)
                    if len(b) < 2: break
                    op, ln = b[0] & 0x0F, b[1] & 0x7F
                    if ln == 126: ln = int.from_bytes(self.connection.recv(2), "big")
                    elif ln == 127: ln = int.from_bytes(self.connection.recv(8), "big")
                    mask = self.connection.recv(4) if b[1] & 0x80 else b""
                    payload = b""
                    while len(payload) < ln: payload += self.connection.recv(ln - len(payload))
                    if mask: payload = bytes(c ^ mask[i % 4] for i, c in enumerate(payload))
                    if op == 0x9:
                        with lock: self.connection.sendall(bytes([0x8A, len(payload)]) + payload)
                    if op == 0x8: break
            except OSError:
                pass
            return
        with lock: rest_log.append(f"{method} {path}" + (f"?{url.query}" if url.query else ""))
        m = re.fullmatch(r"/ari/channels/([^/]+)(/.*)?", path)
        if path == "/ari/asterisk/info": return self.reply(200, {"system": {"version": "22.11.0", "entity_id": "02:fc:00:00:00:01"}})
        if path in ("/ari/channels", "/ari/bridges") and method == "GET": return self.reply(200, [])
        if path == "/ari/applications" and method == "GET": return self.reply(200, [{"name": APP, "channel_ids": [], "bridge_ids": [], "endpoint_ids": [], "device_names": []}])
        if path == "/ari/channels" and method == "POST":  # originate: the dialled leg answers at once
            peer = q["channelId"]
            later(0.05, lambda: send_event({"type": "StasisStart", "args": q.get("appArgs", "").split(","), "channel": channel(peer, "PJSIP/bob-00000002", "5559999")}))
            def peer_hangs_up():
                send_event({"type": "StasisEnd", "channel": channel(peer, "PJSIP/bob-00000002")})
                send_event({"type": "ChannelDestroyed", "cause": 16, "cause_txt": "Normal Clearing", "channel": channel(peer, "PJSIP/bob-00000002")})
            later(0.4, peer_hangs_up)
            return self.reply(200, channel(peer, "PJSIP/bob-00000002"))
        if path == "/ari/bridges" and method == "POST":
            return self.reply(200, {"id": q.get("bridgeId", "b1"), "technology": "simple_bridge", "bridge_type": "mixing", "bridge_class": "stasis",
                                    "creator": "Stasis", "name": "", "channels": [], "creationtime": now(), "video_mode": "none"})
        if path.startswith("/ari/bridges/"): return self.reply(204)
        if path.startswith("/ari/playbacks/") and method == "DELETE":
            pid = path.rsplit("/", 1)[1]
            later(0.02, lambda: send_event({"type": "PlaybackFinished", "playback": {"id": pid, "media_uri": "sound:hello", "target_uri": "channel:chan-1", "language": "en", "state": "done"}}))
            return self.reply(204)
        if m:
            cid, rest = m.group(1), m.group(2) or ""
            if rest == "/play":
                pid = q["playbackId"]
                pb = {"id": pid, "media_uri": q["media"], "target_uri": f"channel:{cid}", "language": "en", "state": "queued"}
                later(0.02, lambda: send_event({"type": "PlaybackStarted", "playback": dict(pb, state="playing")}))
                if q["media"] == "sound:hello":  # the caller presses 1 during the greeting
                    later(0.1, lambda: send_event({"type": "ChannelDtmfReceived", "digit": "1", "duration_ms": 120, "channel": channel(cid, "PJSIP/alice-00000001")}))
                else:
                    later(0.05, lambda: send_event({"type": "PlaybackFinished", "playback": dict(pb, state="done")}))
                return self.reply(201, pb)
            if method == "DELETE" and rest == "":
                later(0.02, lambda: send_event({"type": "StasisEnd", "channel": channel(cid, "PJSIP/alice-00000001")}))
                later(0.03, lambda: send_event({"type": "ChannelDestroyed", "cause": 16, "cause_txt": "Normal Clearing", "channel": channel(cid, "PJSIP/alice-00000001")}))
                return self.reply(204)
            if rest == "/variable" and method == "GET": return self.reply(200, {"value": "en"})
            return self.reply(204)
        return self.reply(404, {"message": "not in this fake"})
    def do_GET(self): self.handle_any("GET")
    def do_POST(self): self.handle_any("POST")
    def do_DELETE(self): self.handle_any("DELETE")
    def do_PUT(self): self.handle_any("PUT")

ends = []
class App(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *a): pass
    def do_POST(self):
        raw = self.rfile.read(int(self.headers["Content-Length"]))
        ts, sig = self.headers["X-Astra-Timestamp"], self.headers["X-Astra-Signature"]
        good = "sha256=" + hmac.new(SECRET.encode(), ts.encode() + b"." + raw, hashlib.sha256).hexdigest()
        body = json.loads(raw)
        with lock: app_events.append((self.path, body))
        if not hmac.compare_digest(good, sig): return self.send(401, {"error": "signature"})
        base = f"http://127.0.0.1:{app_port}"
        if body["event"] == "call.end":
            with lock: ends.append(body)
            return self.send(204, None)
        if self.path == "/sales":
            return self.send(200, {"verbs": [{"answer": {}}, {"play": {"file": "hello", "interrupt_digits": "1"}},
                                             {"gather": {"play": "menu", "max_digits": 1, "timeout": "3s", "action": base + "/menu"}}]})
        if self.path == "/menu":
            return self.send(200, {"verbs": [{"set": {"variables": {"CHOICE": body["result"]["digits"]}}},
                                             {"dial": {"endpoint": "PJSIP/bob", "timeout": "10s", "action": base + "/dialed"}}]})
        if self.path == "/dialed":
            return self.send(200, {"verbs": [{"hangup": {}}]})
        self.send(404, {"error": "no route"})
    def send(self, status, body):
        data = b"" if body is None else json.dumps(body).encode()
        self.send_response(status); self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data))); self.end_headers(); self.wfile.write(data)

for port, handler in ((ari_port, Ari), (app_port, App)):
    srv = ThreadingHTTPServer(("127.0.0.1", port), handler); srv.daemon_threads = True
    threading.Thread(target=srv.serve_forever, daemon=True).start()

work = tempfile.mkdtemp(prefix="webhook-ari-")
with open(os.path.join(work, "astra.yaml"), "w") as f:
    f.write(f"""servers:
  - name: pbx-1
    ari:
      url: http://127.0.0.1:{ari_port}
      username: asterisk
      password: asterisk
      app: {APP}
      handler: webhook
      webhook: {{url: "http://127.0.0.1:{app_port}/sales", secret_env: WEBHOOK_SECRET, timeout: 2s}}
agi: {{enabled: false}}
admin: {{listen: "127.0.0.1:{admin_port}"}}
log: {{format: json, level: info}}
drain_timeout: 5s
""")
log = open(os.path.join(work, "astra.log"), "w")
proc = subprocess.Popen([astra, "run", "--config", os.path.join(work, "astra.yaml")], stdout=log, stderr=subprocess.STDOUT,
                        env=dict(os.environ, WEBHOOK_SECRET=SECRET))

def fail(msg):
    proc.kill()
    print("FAIL:", msg)
    print("--- REST requests ---\n" + "\n".join(rest_log))
    print("--- app ---\n" + "\n".join(f"{p} {json.dumps(b)[:300]}" for p, b in app_events))
    print("--- astra.log ---\n" + open(os.path.join(work, "astra.log")).read()[-5000:])
    sys.exit(1)

deadline = time.time() + 15
while ws["sock"] is None:
    if time.time() > deadline or proc.poll() is not None: fail("astra never opened the event WebSocket")
    time.sleep(0.05)
time.sleep(0.3)  # subscription listing done
send_event({"type": "StasisStart", "args": ["inbound"], "channel": channel("chan-1", "PJSIP/alice-00000001")})

deadline = time.time() + 15
while time.time() < deadline:
    with lock:
        if ends: break
    time.sleep(0.05)
if not ends: fail("no call.end")
end = ends[0]
if end["outcome"] != "completed" or end["call"]["source"] != "ari" or end["call"]["app"] != APP: fail(f"call.end: {end}")
start = next(b for p, b in app_events if b["event"] == "call.start")
if start["call"]["caller"] != {"number": "5551234", "name": "Alice"} or start["call"]["channel_snapshot"]["id"] != "chan-1":
    fail(f"call.start call object: {start['call']}")
menu = next(b for p, b in app_events if p == "/menu")
if menu["result"] != {"digits": "1", "timed_out": False}: fail(f"gather result (type-ahead over ARI): {menu}")
dialed = next(b for p, b in app_events if p == "/dialed")
if dialed["result"]["status"] != "ANSWER" or not (200 <= dialed["result"]["duration_ms"] <= 3000): fail(f"dial result: {dialed}")

def requested(pattern):
    return any(re.fullmatch(pattern, r) for r in rest_log)
for pattern in [r"POST /ari/channels/chan-1/answer", r"POST /ari/channels/chan-1/play\?media=sound(%3A|:)hello&playbackId=[^&]+",
                r"DELETE /ari/playbacks/[^?]+",  # the interrupt stopped the greeting
                r"POST /ari/channels/chan-1/variable\?variable=CHOICE&value=1",
                r"POST /ari/bridges\?type=mixing&bridgeId=[^&]+", r"POST /ari/bridges/[^/]+/addChannel\?channel=chan-1",
                r"POST /ari/channels\?endpoint=PJSIP(%2F|/)bob&app=sales&appArgs=astra-dial(%2C|,)chan-1&timeout=10&channelId=[^&]+",
                r"POST /ari/bridges/[^/]+/addChannel\?channel=astra-dial[^&]*", r"DELETE /ari/channels/chan-1"]:
    if not requested(pattern): fail(f"no REST request matching {pattern}")
if requested(r"POST /ari/channels/chan-1/play\?media=sound(%3A|:)menu.*"): fail("the menu prompt played although a digit was typed ahead")

text = urllib.request.urlopen(f"http://127.0.0.1:{admin_port}/metrics", timeout=2).read().decode()
for want in ['astra_webhook_requests_total{route="sales",event="call.start",status="200"} 1', 'astra_verbs_total{verb="dial",outcome="ok"} 1',
             'astra_ari_calls_total{server="pbx-1",app="sales",outcome="completed"} 2']:  # the caller and the dialled leg
    if want not in text: fail("metrics missing " + want + "\n" + "\n".join(l for l in text.splitlines() if "webhook" in l or "verbs" in l or "ari_calls" in l))

proc.send_signal(signal.SIGTERM)
try:
    rc = proc.wait(timeout=20)
except subprocess.TimeoutExpired:
    fail("no exit within 20 s of SIGTERM")
if rc != 0: fail(f"exit code {rc} after SIGTERM")
print("ok: webhook over ARI")
