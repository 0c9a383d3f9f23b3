#!/usr/bin/env python3
"""The `webhook` stock handler end to end over FastAGI: `astra run` with webhook routes, a web
app in this test (Python http.server, HTTP/1.1 keep-alive) that checks every request's
signature, and a scripted fake Asterisk on the FastAGI socket. Drives: a full IVR (answer,
set, play with interrupt digits whose digit is typed ahead into the gather, verb.result,
branch on the digits, say, hangup with a cause), a 500 and a timeout falling back, a wrong
secret on the app side (401 -> fallback), record, dial, get, redirect and continue; checks
call.end for every call and the webhook metrics."""
import hashlib, hmac, json, os, re, signal, socket, subprocess, sys, tempfile, threading, time, urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

astra = sys.argv[1]
SECRET = "s3cret-for-tests"

def free_port():
    s = socket.socket(); s.bind(("127.0.0.1", 0)); p = s.getsockname()[1]; s.close(); return p

events = []          # (path, body) of every request the app accepted
ends = {}            # call id -> call.end body
lock = threading.Lock()
bad_signatures = []

def verbs(*v): return {"verbs": list(v)}

def app_logic(path, body):
    """What the app answers; None = 204 (call.end)."""
    ev = body["event"]
    if ev == "call.end":
        with lock: ends[body["call"]["id"]] = body
        return None
    if path == "/voice":
        return verbs({"answer": {}}, {"set": {"variables": {"LANG": "en"}}},
                     {"play": {"file": "welcome", "interrupt_digits": "12"}},
                     {"gather": {"play": "menu", "max_digits": 2, "timeout": "4s", "inter_digit_timeout": "2s",
                                 "action": f"http://127.0.0.1:{app_port}/menu"}})
    if path == "/menu":
        assert body["verb"] == "gather", body
        if body["result"]["digits"] == "23":
            return verbs({"say": {"digits": "23"}}, {"hangup": {"cause": 16}})
        return verbs({"hangup": {}})
    if path == "/tools":
        return verbs({"record": {"file": "msg-1", "max_seconds": 10, "beep": True, "action": f"http://127.0.0.1:{app_port}/recorded"}})
    if path == "/recorded":
        assert body["result"]["file"] == "msg-1" and body["result"]["reason"] == "dtmf", body
        return verbs({"dial": {"endpoint": "PJSIP/bob", "timeout": "15s", "action": f"http://127.0.0.1:{app_port}/dialed"}})
    if path == "/dialed":
        assert body["result"] == {"status": "ANSWER", "duration_ms": 4200}, body
        return verbs({"get": {"variables": ["CALLERID(num)"], "action": f"http://127.0.0.1:{app_port}/got"}})
    if path == "/got":
        assert body["result"]["variables"] == {"CALLERID(num)": "5551234"}, body
        return verbs({"redirect": {"url": f"http://127.0.0.1:{app_port}/leave"}})
    if path == "/leave":
        assert body["event"] == "call.redirect", body
        return verbs({"continue": {"context": "after-astra", "extension": "s", "priority": 1}})
    if path == "/slow":
        time.sleep(2.5)
        return verbs({"hangup": {}})
    raise RuntimeError("no such path " + path)

class App(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *a): pass
    def do_POST(self):
        raw = self.rfile.read(int(self.headers["Content-Length"]))
        ts, sig = self.headers.get("X-Astra-Timestamp", ""), self.headers.get("X-Astra-Signature", "")
        secret = "not-the-secret" if self.path == "/badsig" else SECRET
        good = "sha256=" + hmac.new(secret.encode(), ts.encode() + b"." + raw, hashlib.sha256).hexdigest()
        body = json.loads(raw)
        if not hmac.compare_digest(good, sig) or abs(time.time() - int(ts)) > 300:
            if body.get("event") != "call.end":
                with lock: bad_signatures.append(self.path)
            return self.send(401, b'{"error": "bad signature"}')
        if self.path == "/fail500" and body["event"] != "call.end":
            return self.send(500, b"boom")
        with lock: events.append((self.path, body))
        out = app_logic(self.path, body)
        if out is None: return self.send(204, b"")
        self.send(200, json.dumps(out).encode())
    def send(self, status, data):
        try:
            self.reply(status, data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # astra gave up first (the /slow route's timeout)
    def reply(self, status, data):
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

app_port, agi_port, admin_port = free_port(), free_port(), free_port()
server = ThreadingHTTPServer(("127.0.0.1", app_port), App)
server.daemon_threads = True
threading.Thread(target=server.serve_forever, daemon=True).start()

work = tempfile.mkdtemp(prefix="webhook-agi-")
def route(path, url_path, extra=""):
    return f"""    - path: {path}
      handler: webhook
      webhook:
        url: http://127.0.0.1:{app_port}{url_path}
        secret_env: WEBHOOK_SECRET
        timeout: 1s
        fallback: [{{play: {{file: technical-difficulties}}}}, {{hangup: {{}}}}]
{extra}"""
with open(os.path.join(work, "astra.yaml"), "w") as f:
    f.write(f"""agi:
  listen: 127.0.0.1:{agi_port}
  routes:
{route("/ivr", "/voice")}{route("/tools", "/tools")}{route("/fail", "/fail500")}{route("/slow", "/slow")}{route("/badsig", "/badsig")}admin: {{listen: "127.0.0.1:{admin_port}"}}
log: {{format: json, level: info}}
drain_timeout: 5s
""")
log = open(os.path.join(work, "astra.log"), "w")
proc = subprocess.Popen([astra, "run", "--config", os.path.join(work, "astra.yaml")], stdout=log, stderr=subprocess.STDOUT,
                        env=dict(os.environ, WEBHOOK_SECRET=SECRET))

def fail(msg):
    proc.kill()
    print("FAIL:", msg)
    print("--- astra.log ---\n" + open(os.path.join(work, "astra.log")).read()[-6000:])
    sys.exit(1)

def metrics():
    return urllib.request.urlopen(f"http://127.0.0.1:{admin_port}/metrics", timeout=2).read().decode()

deadline = time.time() + 15
while True:
    try:
        metrics(); break
    except Exception:
        if time.time() > deadline or proc.poll() is not None: fail("admin HTTP never answered")
        time.sleep(0.1)

class Call:
    n = 0
    def __init__(self, script):
        Call.n += 1
        self.uniqueid = f"1795452521.{Call.n}"
        self.s = socket.create_connection(("127.0.0.1", agi_port), timeout=8)
        self.buf = b""
        self.s.sendall((f"agi_network: yes\nagi_network_script: {script}\nagi_request: agi://127.0.0.1/{script}\n"
                        "agi_channel: PJSIP/alice-00000001\nagi_language: en\nagi_type: PJSIP\n"
                        f"agi_uniqueid: {self.uniqueid}\nagi_version: 22.11.0\nagi_callerid: 5551234\n"
                        "agi_calleridname: Alice\nagi_context: default\nagi_extension: 100\nagi_priority: 2\n\n").encode())
    def line(self):
        while b"\n" not in self.buf:
            chunk = self.s.recv(4096)
            if not chunk: fail("closed while waiting for a command")
            self.buf += chunk
        got, self.buf = self.buf.split(b"\n", 1)
        return got.decode()
    def expect(self, pattern, reply):
        got = self.line()
        if not re.fullmatch(pattern, got): fail(f"expected /{pattern}/, got {got!r}")
        self.s.sendall((reply + "\n").encode())
    def expect_closed(self):
        self.s.settimeout(8)
        data = self.buf or self.s.recv(4096)
        if data: fail(f"expected the call to be closed, got {data!r}")

# 1. The IVR: '2' interrupts welcome (type-ahead), the gather waits for one more digit: 3.
c = Call("ivr")
c.expect("ANSWER", "200 result=0")
c.expect('SET VARIABLE LANG "?en"?', "200 result=1")
c.expect('STREAM FILE welcome "?12"?', "200 result=50 endpos=1600")
c.expect("WAIT FOR DIGIT 2000", "200 result=51")
c.expect('SAY DIGITS 23 "?"?', "200 result=0")
c.expect("EXEC Hangup 16", "200 result=-1")
c.expect_closed()
ivr_id = "agi-" + c.uniqueid

# 2. record (ended by #), dial, get, redirect, continue: back to the dialplan, no hang-up.
c = Call("tools")
c.expect(r'RECORD FILE msg-1 wav "?#"? 10000 0 BEEP', "200 result=35 (dtmf) endpos=24000")
c.expect(r'EXEC Dial "?PJSIP/bob,15"?', "200 result=0")
c.expect("GET VARIABLE DIALSTATUS", "200 result=1 (ANSWER)")
c.expect("GET VARIABLE ANSWEREDTIME_MS", "200 result=1 (4200)")
c.expect(r'GET FULL VARIABLE "?\$\{CALLERID\(num\)\}"?', "200 result=1 (5551234)")
c.expect("SET CONTEXT after-astra", "200 result=0")
c.expect("SET EXTENSION s", "200 result=0")
c.expect("SET PRIORITY 1", "200 result=0")
c.expect_closed()
tools_id = "agi-" + c.uniqueid

# 3-5. Failures run the fallback: a 500, a reply after the 1 s timeout, a 401 from the app.
fallback_ids = {}
for script in ("fail", "slow", "badsig"):
    c = Call(script)
    c.expect('STREAM FILE technical-difficulties "?"?', "200 result=0 endpos=8000")
    c.expect("HANGUP", "200 result=1")
    c.expect_closed()
    fallback_ids[script] = "agi-" + c.uniqueid

# 6. The caller hangs up during the prompt: call.end still goes out (outcome hangup).
c = Call("ivr")
c.expect("ANSWER", "200 result=0")
c.expect('SET VARIABLE LANG "?en"?', "200 result=1")
c.expect('STREAM FILE welcome "?12"?', "HANGUP\n200 result=-1 endpos=0")
c.expect_closed()
hangup_id = "agi-" + c.uniqueid

deadline = time.time() + 10
while time.time() < deadline:
    with lock:
        if all(i in ends for i in [ivr_id, tools_id, hangup_id, *fallback_ids.values()]): break
    time.sleep(0.1)
with lock:
    got = dict(ends)
for call_id, outcome in [(ivr_id, "completed"), (tools_id, "continued"), (hangup_id, "hangup"),
                         (fallback_ids["fail"], "fallback"), (fallback_ids["slow"], "fallback")]:
    if call_id not in got: fail(f"no call.end for {call_id} ({outcome}); got {sorted(got)}")
    if got[call_id]["outcome"] != outcome: fail(f"call.end of {call_id}: {got[call_id]}")
if got[ivr_id]["hangup_cause"] != "16": fail(f"hangup cause: {got[ivr_id]}")
start = next(b for p, b in events if p == "/voice" and b["event"] == "call.start")
call = start["call"]
for key, want in [("source", "agi"), ("route", "/ivr"), ("channel", "PJSIP/alice-00000001"), ("language", "en")]:
    if call.get(key) != want: fail(f"call.{key} = {call.get(key)!r}, want {want!r}: {call}")
if call["caller"] != {"number": "5551234", "name": "Alice"} or call["agi"].get("agi_extension") != "100":
    fail(f"call object: {call}")
menu = next(b for p, b in events if p == "/menu")
if menu["result"] != {"digits": "23", "timed_out": False}: fail(f"gather result: {menu}")
if "/badsig" not in bad_signatures: fail("the app never saw the request signed with another secret")

want = ['astra_webhook_requests_total{route="/ivr",event="call.start",status="200"} 2',
        'astra_webhook_requests_total{route="/ivr",event="verb.result",status="200"} 1',
        'astra_webhook_requests_total{route="/tools",event="call.redirect",status="200"} 1',
        'astra_webhook_failures_total{route="/fail",reason="bad_status"} 1',
        'astra_webhook_failures_total{route="/slow",reason="timeout"} 1',
        'astra_webhook_failures_total{route="/badsig",reason="bad_status"} 2',  # call.start, then call.end (twice 401)
        'astra_verbs_total{verb="gather",outcome="ok"} 1',
        'astra_verbs_total{verb="play",outcome="hangup"} 1',
        'astra_verbs_total{verb="dial",outcome="ok"} 1',
        'astra_agi_calls_total{route="/ivr",outcome="completed",transport="fastagi"} 2']
deadline = time.time() + 5
while True:
    text = metrics()
    missing = [w for w in want if w not in text]
    if not missing: break
    if time.time() > deadline: fail("metrics missing " + repr(missing) + "\n" + "\n".join(l for l in text.splitlines() if "webhook" in l or "verbs" in l or "agi_calls" in l))
    time.sleep(0.1)
if "astra_webhook_duration_seconds_bucket{route=\"/ivr\"" not in text: fail("no duration histogram")

proc.send_signal(signal.SIGTERM)
try:
    rc = proc.wait(timeout=20)
except subprocess.TimeoutExpired:
    fail("no exit within 20 s of SIGTERM")
if rc != 0: fail(f"exit code {rc} after SIGTERM")
print("ok: webhook over FastAGI")
