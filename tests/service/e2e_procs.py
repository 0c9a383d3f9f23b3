"""Shared by the e2e tests that drive real processes (bus_*_test.py): a scratch folder, child
processes with their output in FOLDER/NAME.log, every child killed at exit (continued first: a
test may have stopped one with SIGSTOP), and a failure that prints each child's log tail."""
import atexit, base64, json, os, re, shutil, signal, socket, subprocess, sys, tempfile, time, urllib.request

NATS_SERVER = shutil.which("nats-server") or "/usr/sbin/nats-server"


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Processes:
    def __init__(self, prefix):
        self.work = tempfile.mkdtemp(prefix=prefix)
        self.procs = []  # (name, Popen), in start order
        atexit.register(self.kill_all)

    def spawn(self, name, args, env=None):
        log = open(os.path.join(self.work, name + ".log"), "w")
        p = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, env=env)
        self.procs.append((name, p))
        return p

    def log_of(self, name):
        return open(os.path.join(self.work, name + ".log"), errors="replace").read()

    def kill_all(self):
        for _, p in self.procs:
            try:
                p.send_signal(signal.SIGCONT)
            except OSError:
                pass
            if p.poll() is None:
                p.kill()

    def fail(self, msg, tail=2500):
        print("FAIL:", msg)
        self.kill_all()
        for name, _ in self.procs:
            print("--- %s.log (tail) ---\n%s" % (name, self.log_of(name)[-tail:]))
        sys.exit(1)

    def assert_clean(self):
        """Fails when a child reported a sanitizer finding (ASan, UBSan, LeakSanitizer) in its log:
        the bus tests also run on the sanitizer build."""
        for name, _ in self.procs:
            log = self.log_of(name)
            for marker in ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:"):
                if marker in log:
                    self.fail("%s: %s in its log" % (name, marker))

    def start_ari_sim(self, sim, calls, playback_ms):
        """astra-sim (`sim`: its executable) with ARI only (user asterisk, password p4ss, app astra) generating `calls`
        Stasis calls at 20/s whose callers would hang up only after 60 s; returns (proc, port)."""
        port = free_port()
        proc = self.spawn("sim", [sim, "--no-ami", "--no-agi", "--ari-listen", "127.0.0.1:%d" % port,
                                  "--ari-password", "p4ss", "--ari-cps", "20", "--ari-calls", str(calls),
                                  "--hold-ms", "60000", "--ari-playback-ms", str(playback_ms), "--stats-interval", "0"])
        return proc, port

    def sim_ari_summary(self, proc):
        """Stops astra-sim (SIGTERM) and returns the "ari" object of its closing JSON line."""
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=10)
        lines = [l for l in self.log_of("sim").splitlines() if l.startswith("{")]
        if not lines:
            self.fail("astra-sim printed no summary")
        return json.loads(lines[-1])["ari"]

    def start_nats(self):
        """nats-server with JetStream on a free loopback port; returns the port."""
        port = free_port()
        self.spawn("nats", [NATS_SERVER, "-a", "127.0.0.1", "-p", str(port), "-js", "-sd", os.path.join(self.work, "js")])
        return port


def connect_nats(port, fail, limit=10):
    """A nats_lite connection to the test's nats-server, retried until it accepts (limit s)."""
    import nats_lite
    deadline = time.time() + limit
    while True:
        try:
            return nats_lite.Nats(port)
        except OSError:
            if time.time() > deadline:
                fail("nats-server did not come up")
            time.sleep(0.05)


def metric(admin_port, series):
    """Sum of the samples of `series` ('name{a="x",b="y"}': every given label must match) on
    the admin /metrics of admin_port; None when unreachable or absent."""
    try:
        text = urllib.request.urlopen("http://127.0.0.1:%d/metrics" % admin_port, timeout=1).read().decode()
    except Exception:
        return None
    total, found = 0.0, False
    for m in re.finditer(r"^%s(\{[^}]*\})? (\S+)$" % re.escape(series.split("{")[0]), text, re.M):
        if all(part in (m.group(1) or "") for part in re.findall(r'\w+="[^"]*"', series)):
            total += float(m.group(2))
            found = True
    return total if found else None


def sim_channels(ari_port, user="asterisk", password="p4ss"):
    """The channels astra-sim's ARI server holds now (GET /ari/channels)."""
    req = urllib.request.Request("http://127.0.0.1:%d/ari/channels" % ari_port)
    req.add_header("Authorization", "Basic " + base64.b64encode(("%s:%s" % (user, password)).encode()).decode())
    return json.loads(urllib.request.urlopen(req, timeout=2).read())
