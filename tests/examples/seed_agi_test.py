#!/usr/bin/env python3
"""seed_agi_server end to end: the binary built on astra::service, a fake Asterisk (FastAGI
client) on loopback. Checks the seed's contract: /welcome needs ?token=<SEED_AGI_TOKEN>
(answer, stream file welcome, hang up); /survey admits every call (answer, get data
survey-prompt 30 s 1 digit, digit 1 -> thanks else goodbye, hang up); a caller hanging up
ends the handler normally; /metrics counts the outcomes; SIGTERM drains and exits 0."""
import os, signal, socket, subprocess, sys, time, urllib.request

binary = sys.argv[1]

def free_port():
    s = socket.socket(); s.bind(("127.0.0.1", 0)); p = s.getsockname()[1]; s.close(); return p

agi_port, admin_port = free_port(), free_port()
env = dict(os.environ, ASTRA_AGI_LISTEN=f"127.0.0.1:{agi_port}", ASTRA_ADMIN_LISTEN=f"127.0.0.1:{admin_port}",
           ASTRA_LOG_LEVEL="warn", SEED_AGI_TOKEN="s3cret")
proc = subprocess.Popen([binary], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)

def fail(msg):
    proc.kill()
    out = proc.communicate(timeout=5)[0].decode(errors="replace")
    print("FAIL:", msg, "\n--- service output ---\n" + out)
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
    def __init__(self, script):
        self.s = socket.create_connection(("127.0.0.1", agi_port), timeout=5)
        self.buf = b""
        self.s.sendall((f"agi_network: yes\nagi_network_script: {script}\nagi_request: agi://127.0.0.1/{script}\n"
                        "agi_channel: Local/seed@default-00000001;2\nagi_language: en\nagi_type: Local\n"
                        "agi_uniqueid: 1795452521.93\nagi_version: 22.11.0\nagi_callerid: 5551234\n"
                        "agi_calleridname: Caller\nagi_context: default\nagi_extension: agi\nagi_priority: 3\n\n").encode())
    def expect(self, line):
        while b"\n" not in self.buf:
            chunk = self.s.recv(4096)
            if not chunk: fail(f"closed while waiting for {line!r}")
            self.buf += chunk
        got, self.buf = self.buf.split(b"\n", 1)
        if got.decode() != line: fail(f"expected {line!r}, got {got.decode()!r}")
    def reply(self, text): self.s.sendall((text + "\n").encode())
    def expect_closed(self):
        self.s.settimeout(5)
        data = self.buf or self.s.recv(4096)
        if data: fail(f"expected the call to be closed, got {data!r}")

# /welcome with the token: the seed's Quick Start.
c = Call("welcome?token=s3cret")
c.expect("ANSWER"); c.reply("200 result=0")
c.expect('STREAM FILE welcome ""'); c.reply("200 result=0 endpos=8000")
c.expect("HANGUP"); c.reply("200 result=1")
c.expect_closed()
# /welcome without the token: refused before any command.
c = Call("welcome?token=wrong"); c.expect_closed()
# /survey: the route's auth admits every call; digit 1 -> thanks.
c = Call("survey")
c.expect("ANSWER"); c.reply("200 result=0")
c.expect("GET DATA survey-prompt 30000 1"); c.reply("200 result=1")
c.expect('STREAM FILE thanks ""'); c.reply("200 result=0 endpos=8000")
c.expect("HANGUP"); c.reply("200 result=1")
c.expect_closed()
# /survey, timeout -> goodbye.
c = Call("survey")
c.expect("ANSWER"); c.reply("200 result=0")
c.expect("GET DATA survey-prompt 30000 1"); c.reply("200 result= (timeout)")
c.expect('STREAM FILE goodbye ""'); c.reply("200 result=0 endpos=8000")
c.expect("HANGUP"); c.reply("200 result=1")
c.expect_closed()
# /survey, the caller hangs up during the prompt: the handler ends, normally.
c = Call("survey")
c.expect("ANSWER"); c.reply("200 result=0")
c.expect("GET DATA survey-prompt 30000 1"); c.reply("HANGUP\n200 result=-1")
c.expect_closed()

deadline = time.time() + 5
want = ['astra_agi_calls_total{route="/welcome",outcome="completed",transport="fastagi"} 1',
        'astra_agi_calls_total{route="/survey",outcome="completed",transport="fastagi"} 3',
        'astra_agi_calls_total{route="none",outcome="auth",transport="fastagi"} 1']
while True:
    text = metrics()
    missing = [w for w in want if w not in text]
    if not missing: break
    if time.time() > deadline: fail("metrics missing " + repr(missing) + "\n" + text[:3000])
    time.sleep(0.1)

proc.send_signal(signal.SIGTERM)
try:
    rc = proc.wait(timeout=20)
except subprocess.TimeoutExpired:
    fail("no exit within 20 s of SIGTERM")
if rc != 0: fail(f"exit code {rc} after SIGTERM")
print("ok: seed_agi_server")
