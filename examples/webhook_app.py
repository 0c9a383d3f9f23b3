#!/usr/bin/env python3
"""A web app driving calls through astra's `webhook` handler (docs/webhooks.md), Python
standard library only. Serves a small IVR:

  call.start  -> answer, play "welcome" (1 or 2 interrupts it), gather one digit after "menu"
  /menu       -> 1: "thank you" and hang up; 2: record a message, then hang up; else goodbye
  call.end    -> counted

Every request's X-Astra-Signature is checked (HMAC-SHA256 over "<timestamp>.<body>" with the
shared secret) and timestamps older than 5 minutes are refused (401).

  WEBHOOK_SECRET=... examples/webhook_app.py [--listen 127.0.0.1:9580]

Prints one JSON line of counts on SIGTERM / Ctrl-C.
"""
import argparse, hashlib, hmac, json, os, signal, sys, threading, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--listen", default="127.0.0.1:9580", help="HOST:PORT to listen on")
args = parser.parse_args()
secret = os.environ.get("WEBHOOK_SECRET", "").encode()
if not secret:
    sys.exit("webhook_app: set WEBHOOK_SECRET (the secret astra signs requests with)")
host, port = args.listen.rsplit(":", 1)
base = f"http://{args.listen}"
counts = {"calls_started": 0, "menu_choices": 0, "calls_ended": 0, "rejected": 0}
lock = threading.Lock()

def count(key):
    with lock: counts[key] += 1

def answer(path, body):
    event = body["event"]
    if event == "call.start":
        count("calls_started")
        return [{"answer": {}},
                {"play": {"file": "welcome", "interrupt_digits": "12"}},
                {"gather": {"play": "menu", "max_digits": 1, "timeout": "5s", "action": base + "/menu"}}]
    if event == "verb.result" and path == "/menu":
        count("menu_choices")
        digits = body["result"]["digits"]
        if digits == "1":
            return [{"play": {"file": "auth-thankyou"}}, {"hangup": {}}]
        if digits == "2":
            return [{"play": {"file": "vm-intro"}},
                    {"record": {"file": "webhook-msg-" + body["call"]["id"], "max_seconds": 30, "max_silence": "3s",
                                "action": base + "/recorded"}}]
        return [{"play": {"file": "goodbye"}}, {"hangup": {}}]
    if event == "verb.result" and path == "/recorded":
        return [{"play": {"file": "auth-thankyou"}}, {"hangup": {}}]
    return [{"hangup": {}}]

class App(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: astra pools its connections
    def log_message(self, *a): pass
    def do_POST(self):
        raw = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        timestamp = self.headers.get("X-Astra-Timestamp", "0")
        expected = "sha256=" + hmac.new(secret, timestamp.encode() + b"." + raw, hashlib.sha256).hexdigest()
        fresh = timestamp.isdigit() and abs(time.time() - int(timestamp)) < 300
        if not fresh or not hmac.compare_digest(expected, self.headers.get("X-Astra-Signature", "")):
            count("rejected")
            return self.reply(401, {"error": "bad signature"})
        body = json.loads(raw)
        if body["event"] == "call.end":
            count("calls_ended")
            return self.reply(204, None)
        self.reply(200, {"verbs": answer(self.path, body)})
    def reply(self, status, body):
        data = b"" if body is None else json.dumps(body).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass

server = ThreadingHTTPServer((host, int(port)), App)
server.daemon_threads = True
def stop(*_):
    threading.Thread(target=server.shutdown).start()
signal.signal(signal.SIGTERM, stop)
signal.signal(signal.SIGINT, stop)
print(f"webhook_app: listening on {base}", flush=True)
server.serve_forever()
print(json.dumps(dict(counts, app="webhook_app")), flush=True)
