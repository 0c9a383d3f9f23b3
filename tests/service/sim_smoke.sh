#!/usr/bin/env bash
# Smoke test of astra-sim (the stand-in Asterisk): starts it on free loopback ports with a
# minimal FastAGI server, then checks its AMI, ARI (REST + /ari/events WebSocket) and FastAGI
# behaviour against Asterisk 22's recorded formats, stops it with SIGTERM and checks the exit
# code and the summary JSON line. Usage: sim_smoke.sh path/to/astra-sim
set -euo pipefail
sim=${1:?usage: sim_smoke.sh path/to/astra-sim}
[ -x "$sim" ] || { echo "sim_smoke: $sim is not executable"; exit 1; }
exec python3 - "$sim" <<'PY'
import base64, hashlib, json, os, signal, socket, subprocess, sys, threading, time, urllib.request, urllib.error

sim = sys.argv[1]
failures = []

def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL:", what, flush=True)

def free_port():
    s = socket.socket(); s.bind(("127.0.0.1", 0)); p = s.getsockname()[1]; s.close(); return p

ami_port, ari_port, agi_port = free_port(), free_port(), free_port()

# --- a minimal FastAGI server standing in for astra ------------------------------------------
agi_log = []
agi_srv = socket.socket(); agi_srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
agi_srv.bind(("127.0.0.1", agi_port)); agi_srv.listen(16); agi_srv.settimeout(20)
SCRIPT = [b"ANSWER\n", b"GET VARIABLE CALLERID(num)\n", b'SET VARIABLE ASTRA_RESULT "ok fine"\n',
          b"GET VARIABLE ASTRA_RESULT\n", b'STREAM FILE beep ""\n', b"GET DATA beep 100 2\n",
          b'GOSUB subs sub 1 "myarg"\n', b"FOO BAR\n", b"GET DATA\n", b"HANGUP\n", b'VERBOSE "after hangup" 1\n',
          b'SEND TEXT "hello"\n', b"NOOP\n"]
def agi_serve():
    for _ in range(2):
        try:
            c, _ = agi_srv.accept()
        except OSError:
            return
        c.settimeout(10)
        f = c.makefile("rwb")
        env = {}
        while True:
            line = f.readline()
            if not line or line == b"\n":
                break
            k, _, v = line.decode().rstrip("\n").partition(": ")
            env[k] = v
        replies = []
        for cmd in SCRIPT:
            f.write(cmd); f.flush()
            r = f.readline()
            if r.startswith(b"100 ") or r == b"HANGUP\n":
                r += f.readline()
            replies.append(r)
        agi_log.append((env, replies))
        c.close()
threading.Thread(target=agi_serve, daemon=True).start()

proc = subprocess.Popen([sim, "--ami-listen", f"127.0.0.1:{ami_port}", "--ari-listen", f"127.0.0.1:{ari_port}",
                         "--agi-target", f"127.0.0.1:{agi_port}", "--agi-path", "ivr/menu?lang=en&tries=3",
                         "--cps", "20", "--calls", "2", "--event-rate", "200", "--ari-cps", "5", "--hold-ms", "300",
                         "--stats-interval", "0", "--ami-secret", "amp111", "--duration", "60"],
                        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

def connect(port, deadline=10.0):
    end = time.time() + deadline
    while True:
        try:
            s = socket.create_connection(("127.0.0.1", port), timeout=5)
            return s
        except OSError:
            if time.time() > end:
                raise
            time.sleep(0.05)

class Ami:
    def __init__(self):
        self.s = connect(ami_port); self.buf = b""
    def banner(self):
        while b"\r\n" not in self.buf:
            self.buf += self.s.recv(4096)
        line, _, self.buf = self.buf.partition(b"\r\n")
        return line.decode()
    def send(self, **h):
        self.s.sendall("".join(f"{k}: {v}\r\n" for k, v in h.items()).encode() + b"\r\n")
    def message(self):
        while b"\r\n\r\n" not in self.buf:
            d = self.s.recv(65536)
            if not d:
                return None
            self.buf += d
        raw, _, self.buf = self.buf.partition(b"\r\n\r\n")
        return raw.decode()
    def until(self, pred, limit=5000):
        for _ in range(limit):
            m = self.message()
            if m is None or pred(m):
                return m
        return None

def hdr(msg, name):
    for line in msg.split("\r\n"):
        k, _, v = line.partition(": ")
        if k == name:
            return v
    return None

try:
    # --- AMI ---------------------------------------------------------------------------------
    a = Ami()
    check(a.banner() == "Asterisk Call Manager/11.0.0", "AMI banner")
    a.send(Action="Ping", ActionID="early")
    check(a.message() == "Response: Error\r\nActionID: early\r\nMessage: Permission denied", "AMI action before login")
    a.send(Action="Login", Username="admin", Secret="wrong", ActionID="login-bad")
    check(a.message() == "Response: Error\r\nActionID: login-bad\r\nMessage: Authentication failed", "AMI bad login reply")
    check(a.message() is None, "AMI closes the socket after a failed login")

    a = Ami(); a.banner()
    a.send(Action="Login", Username="admin", Secret="amp111", ActionID="login-1")
    check(a.message() == "Response: Success\r\nActionID: login-1\r\nMessage: Authentication accepted", "AMI plain login")
    m = a.until(lambda m: m.startswith("Event: FullyBooted"))
    check(m is not None and hdr(m, "Status") == "Fully Booted", "AMI FullyBooted after login")
    a.send(Action="Ping", ActionID="p-1")
    m = a.until(lambda m: hdr(m, "ActionID") == "p-1")
    check(m is not None and m.startswith("Response: Success\r\nActionID: p-1\r\nPing: Pong\r\nTimestamp: "), "AMI Ping")
    a.send(Action="Command", Command="core show version", ActionID="cmd-1")
    m = a.until(lambda m: hdr(m, "ActionID") == "cmd-1")
    check(m is not None and "Message: Command output follows\r\nOutput: Asterisk 22.11.0-rc1" in m, "AMI Command output")
    a.send(Action="Command", Command="no such cli command", ActionID="cmd-3")
    m = a.until(lambda m: hdr(m, "ActionID") == "cmd-3")
    check(m is not None and m.startswith("Response: Error\r\nActionID: cmd-3\r\nMessage: Command output follows\r\nOutput: No such command 'no such cli command'"), "AMI Command error variant")
    a.send(Action="NoSuchAction", ActionID="bad-1")
    m = a.until(lambda m: hdr(m, "ActionID") == "bad-1")
    check(m == "Response: Error\r\nActionID: bad-1\r\nMessage: Invalid/unknown command: NoSuchAction. Use Action: ListCommands to show available commands.", "AMI unknown action")
    # A stream of call events replayed from the recorded burst.
    kinds = set()
    for _ in range(60):
        m = a.message()
        if m and m.startswith("Event: "):
            kinds.add(hdr(m, "Event"))
    check({"Newchannel", "Newstate"} & kinds, f"AMI event stream (saw {sorted(kinds)})")
    a.send(Action="Originate", Channel="Local/wait@default", Context="sink", Exten="s", Priority="1", Async="true",
           CallerID='"Astra Test" <5550100>', ActionID="orig-1")
    m = a.until(lambda m: hdr(m, "ActionID") == "orig-1")
    check(m == "Response: Success\r\nActionID: orig-1\r\nMessage: Originate successfully queued", f"AMI Originate queued: {m!r}")
    m = a.until(lambda m: m.startswith("Event: OriginateResponse") and hdr(m, "ActionID") == "orig-1")
    check(m is not None and hdr(m, "Response") == "Success" and hdr(m, "CallerIDNum") == "5550100", "AMI OriginateResponse")
    chan = hdr(m, "Channel") if m else ""
    a.send(Action="Setvar", Channel=chan, Variable="FOO", Value="bar baz", ActionID="sv-1")
    m = a.until(lambda m: hdr(m, "ActionID") == "sv-1")
    check(m == "Response: Success\r\nActionID: sv-1\r\nMessage: Variable Set", "AMI Setvar")
    a.send(Action="Getvar", Channel=chan, Variable="FOO", ActionID="gv-1")
    m = a.until(lambda m: hdr(m, "ActionID") == "gv-1")
    check(m == "Response: Success\r\nActionID: gv-1\r\nVariable: FOO\r\nValue: bar baz", "AMI Getvar")
    a.send(Action="CoreShowChannels", ActionID="csc-1")
    m = a.until(lambda m: hdr(m, "ActionID") == "csc-1")
    check(m is not None and "EventList: start\r\nMessage: Channels will follow" in m, "AMI CoreShowChannels start")
    items, complete = 0, None
    while True:
        m = a.until(lambda m: hdr(m, "ActionID") == "csc-1")
        if m is None:
            break
        if m.startswith("Event: CoreShowChannel\r\n"):
            items += 1
        if m.startswith("Event: CoreShowChannelsComplete"):
            complete = m
            break
    check(complete is not None and hdr(complete, "EventList") == "Complete" and hdr(complete, "ListItems") == str(items) and items >= 1,
          f"AMI CoreShowChannels list ({items} items)")
    a.send(Action="Hangup", Channel="Local/doesnotexist-0000;1", ActionID="hu-bad")
    m = a.until(lambda m: hdr(m, "ActionID") == "hu-bad")
    check(m == "Response: Error\r\nActionID: hu-bad\r\nMessage: No such channel", "AMI Hangup of a missing channel")
    a.send(Action="Logoff", ActionID="bye")
    m = a.until(lambda m: hdr(m, "ActionID") == "bye")
    check(m == "Response: Goodbye\r\nActionID: bye\r\nMessage: Thanks for all the fish.", "AMI Logoff")

    b = Ami(); b.banner()
    b.send(Action="Challenge", AuthType="md5", ActionID="ch-1")
    m = b.message()
    challenge = hdr(m, "Challenge") or ""
    check(m.startswith("Response: Success\r\nActionID: ch-1\r\nChallenge: ") and challenge.isdigit(), "AMI Challenge")
    key = hashlib.md5((challenge + "amp111").encode()).hexdigest()
    b.send(Action="Login", AuthType="md5", Username="admin", Key=key, Events="off", ActionID="login-md5")
    check(b.message() == "Response: Success\r\nActionID: login-md5\r\nMessage: Authentication accepted", "AMI MD5 login")
    b.send(Action="Ping", ActionID="p-2")
    m = b.message()
    check(m is not None and m.startswith("Response: Success\r\nActionID: p-2\r\nPing: Pong"), "AMI Events: off gets no events")
    b.s.close()

    # --- ARI REST ------------------------------------------------------------------------------
    base = f"http://127.0.0.1:{ari_port}/ari"
    auth = "Basic " + base64.b64encode(b"asterisk:asterisk").decode()
    def rest(method, path, body=None, authed=True):
        req = urllib.request.Request(base + path, method=method, data=None if body is None else json.dumps(body).encode())
        if authed:
            req.add_header("Authorization", auth)
        if body is not None:
            req.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(req, timeout=5) as r:
                data = r.read().decode()
                return r.status, (json.loads(data) if data else None)
        except urllib.error.HTTPError as e:
            data = e.read().decode()
            return e.code, (json.loads(data) if data.startswith("{") else data)
    check(rest("GET", "/channels", authed=False) == (401, {"message": "Authentication required"}), "ARI 401 without auth")
    st, info = rest("GET", "/asterisk/info")
    check(st == 200 and info["system"]["version"] == "22.11.0-rc1", "ARI asterisk/info")
    check(rest("GET", "/channels/") == (404, {"message": "ARI URLs do not end with a slash. Try /ari/channels"}), "ARI trailing slash")
    check(rest("DELETE", "/asterisk/info") == (405, {"message": "Invalid method"}), "ARI 405")
    check(rest("GET", "/nosuchresource") == (404, {"message": "Resource not found"}), "ARI unknown resource")
    check(rest("POST", "/channels?app=astra") == (400, {"message": "Endpoint must be specified"}), "ARI originate without endpoint")
    check(rest("GET", "/channels/no-such-channel") == (404, {"message": "Channel not found"}), "ARI missing channel")

    # --- ARI events WebSocket --------------------------------------------------------------------
    ws = connect(ari_port)
    ws.sendall((f"GET /ari/events?app=astra HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                f"Sec-WebSocket-Key: mG35CFxbOGU5imBhpqOWUw==\r\nSec-WebSocket-Version: 13\r\nAuthorization: {auth}\r\n\r\n").encode())
    hs = b""
    while b"\r\n\r\n" not in hs:
        hs += ws.recv(4096)
    head, _, rest_bytes = hs.partition(b"\r\n\r\n")
    expected_accept = base64.b64encode(hashlib.sha1(b"mG35CFxbOGU5imBhpqOWUw==258EAFA5-E914-47DA-95CA-C5AB0DC85B11").digest()).decode()
    check(head.startswith(b"HTTP/1.1 101") and expected_accept.encode() in head, f"ARI WebSocket upgrade: {head!r}")
    wsbuf = bytearray(rest_bytes)
    def frame():
        while True:
            if len(wsbuf) >= 2:
                n = wsbuf[1] & 0x7F; off = 2
                if n == 126:
                    n = int.from_bytes(wsbuf[2:4], "big"); off = 4
                elif n == 127:
                    n = int.from_bytes(wsbuf[2:10], "big"); off = 10
                if len(wsbuf) >= off + n and len(wsbuf) >= off:
                    op = wsbuf[0] & 0x0F; payload = bytes(wsbuf[off:off + n]); del wsbuf[:off + n]
                    if op == 1:
                        return json.loads(payload)
                    continue
            d = ws.recv(65536)
            if not d:
                return None
            wsbuf.extend(d)
    ws.settimeout(5)
    seen = []
    def wait_event(pred, limit=200):
        for _ in range(limit):
            e = frame()
            if e is None:
                return None
            seen.append(e["type"])
            if pred(e):
                return e
        return None
    e = wait_event(lambda e: e["type"] == "StasisStart")
    check(e is not None and e["application"] == "astra" and e["channel"]["dialplan"]["app_name"] == "Stasis", "ARI generated StasisStart")
    gen_id = e["channel"]["id"] if e else ""
    e = wait_event(lambda e: e["type"] == "StasisEnd" and e["channel"]["id"] == gen_id)
    check(e is not None, "ARI generated call ends with StasisEnd")
    st, ch = rest("POST", "/channels?endpoint=Local/wait@default&app=astra&appArgs=in,bound&callerId=Astra%20<5550199>&channelId=smoke-1")
    check(st == 200 and ch["id"] == "smoke-1" and ch["caller"] == {"name": "Astra", "number": "5550199"}, "ARI originate")
    e = wait_event(lambda e: e["type"] == "StasisStart" and e["channel"]["id"] == "smoke-1")
    check(e is not None and e["args"] == ["in", "bound"], "ARI StasisStart for an originated channel")
    check(rest("POST", "/channels/smoke-1/answer") == (204, None), "ARI answer")
    check(rest("POST", "/channels/smoke-1/variable", {"variable": "ASTRA_X", "value": "42"}) == (204, None), "ARI set variable")
    check(rest("GET", "/channels/smoke-1/variable?variable=ASTRA_X") == (200, {"value": "42"}), "ARI get variable")
    st, pb = rest("POST", "/channels/smoke-1/play?media=sound:beep,sound:beeperr&playbackId=pb-1")
    check(st == 201 and pb["state"] == "queued" and pb["next_media_uri"] == "sound:beeperr", "ARI play")
    e = wait_event(lambda e: e["type"] == "PlaybackFinished" and e["playback"]["id"] == "pb-1")
    check(e is not None and e["playback"]["media_uri"] == "sound:beeperr" and e["playback"]["state"] == "done", "ARI PlaybackFinished")
    st, br = rest("POST", "/bridges", {"type": "mixing", "name": "smoke", "bridgeId": "br-1"})
    check(st == 200 and br["id"] == "br-1" and br["bridge_type"] == "mixing", "ARI create bridge")
    check(rest("POST", "/bridges/br-1/addChannel?channel=smoke-1") == (204, None), "ARI addChannel")
    e = wait_event(lambda e: e["type"] == "ChannelEnteredBridge")
    check(e is not None and e["bridge"]["channels"] == ["smoke-1"], "ARI ChannelEnteredBridge")
    check(rest("DELETE", "/channels/smoke-1") == (204, None), "ARI hangup")
    e = wait_event(lambda e: e["type"] == "ChannelDestroyed" and e["channel"]["id"] == "smoke-1")
    check(e is not None, "ARI ChannelDestroyed after DELETE")
    check(rest("DELETE", "/bridges/br-1") == (204, None), "ARI destroy bridge")
    # A second subscriber of the same app replaces the first (recorded ApplicationReplaced).
    ws2 = connect(ari_port)
    ws2.sendall((f"GET /ari/events?app=astra HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                 f"Sec-WebSocket-Key: xYZWnYoPAbUD+ws0vUrJsA==\r\nSec-WebSocket-Version: 13\r\nAuthorization: {auth}\r\n\r\n").encode())
    ws2.settimeout(5)
    check(ws2.recv(4096).startswith(b"HTTP/1.1 101"), "ARI second WebSocket upgrade")
    e = wait_event(lambda e: e["type"] == "ApplicationReplaced")
    check(e is not None and e["application"] == "astra", "ARI ApplicationReplaced to the older subscriber")
    ws2.close()
    ws.close()

    # --- FastAGI calls -----------------------------------------------------------------------------
    end = time.time() + 15
    while len(agi_log) < 2 and time.time() < end:
        time.sleep(0.05)
    check(len(agi_log) == 2, f"FastAGI: 2 calls reached the server (got {len(agi_log)})")
    if agi_log:
        env, replies = agi_log[0]
        check(env.get("agi_network") == "yes" and env.get("agi_network_script") == "ivr/menu?lang=en&tries=3"
              and env.get("agi_request") == f"agi://127.0.0.1:{agi_port}/ivr/menu?lang=en&tries=3"
              and env.get("agi_arg_1") == "first arg" and env.get("agi_version") == "22.11.0-rc1", "FastAGI environment block")
        expected = [b"200 result=0\n", b"200 result=1 (5551234)\n", b"200 result=1\n", b"200 result=1 (ok fine)\n",
                    b"200 result=0 endpos=3520\n", b"200 result= (timeout)\n",
                    b"100 result=0 Trying...\n200 result=0 Gosub complete\n", b"510 Invalid or unknown command\n",
                    b"520 Invalid command syntax.  Proper usage not available.\n", b"200 result=1\n",
                    b"HANGUP\n200 result=1\n", b"511 Command Not Permitted on a dead channel or intercept routine\n",
                    b"200 result=0\n"]
        for cmd, want, got in zip(SCRIPT, expected, replies):
            check(want == got, f"FastAGI reply to {cmd!r}: want {want!r} got {got!r}")
except Exception as ex:  # a broken connection etc. is a failed check, not a crash of the test
    import traceback
    traceback.print_exc()
    failures.append(f"exception: {ex!r}")
finally:
    # --- clean stop ------------------------------------------------------------------------------
    proc.send_signal(signal.SIGTERM)
    try:
        out, err = proc.communicate(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill(); out, err = proc.communicate()
        failures.append("astra-sim did not stop within 10 s of SIGTERM")
check(proc.returncode == 0, f"astra-sim exit code 0 after SIGTERM (got {proc.returncode}; stderr: {err.strip()[:300]})")
lines = [l for l in out.splitlines() if l.startswith("{")]
summary = json.loads(lines[-1]) if lines else {}
check(summary.get("agi", {}).get("calls_completed") == 2 and summary["agi"]["commands_answered"] == 2 * len(SCRIPT),
      f"summary AGI counts: {summary.get('agi')}")
check(summary.get("ami", {}).get("logins") == 2 and summary["ami"]["login_failures"] == 1 and summary["ami"]["events_sent"] > 0,
      f"summary AMI counts: {summary.get('ami')}")
check(summary.get("ari", {}).get("ws_connections") == 2 and summary["ari"]["calls_generated"] >= 1 and summary["ari"]["requests"] >= 15,
      f"summary ARI counts: {summary.get('ari')}")
if failures:
    print("sim output:", out[-1500:])
    print(f"sim_smoke: {len(failures)} check(s) failed")
    sys.exit(1)
print("sim_smoke: all checks passed")
PY
