"""A minimal NATS client for the bus tests (issue 14): the text protocol over one socket,
standard library only (no nats-py in Debian bookworm). Subscribe, publish, request (with
no-responders detection through headers). Not a general client: no reconnect, no TLS."""
import json
import queue
import socket
import threading
import time


class NoResponders(Exception):
    pass


class Nats:
    def __init__(self, port, host="127.0.0.1", timeout=5.0):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.sock.settimeout(None)
        self.buf = b""
        self.lock = threading.Lock()
        self.subs = {}  # sid -> queue.Queue of (subject, data, reply, headers)
        self.next_sid = 1
        self.closed = False
        info = self._read_line()
        if not info.startswith(b"INFO "):
            raise RuntimeError("no INFO from nats-server: %r" % info)
        self._send(b'CONNECT {"verbose":false,"pedantic":false,"headers":true,"no_responders":true,'
                   b'"protocol":1,"name":"astra-test"}\r\nPING\r\n')
        while True:
            line = self._read_line()
            if line == b"PONG":
                break
            if line.startswith(b"-ERR"):
                raise RuntimeError(line.decode())
        self.reader = threading.Thread(target=self._read_loop, daemon=True)
        self.reader.start()

    def _send(self, data):
        with self.lock:
            self.sock.sendall(data)

    def _fill(self):
        chunk = self.sock.recv(1 << 16)
        if not chunk:
            raise EOFError()
        self.buf += chunk

    def _read_line(self):
        while b"\r\n" not in self.buf:
            self._fill()
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def _read_bytes(self, n):
        while len(self.buf) < n + 2:
            self._fill()
        data, self.buf = self.buf[:n], self.buf[n + 2:]
        return data

    def _read_loop(self):
        try:
            while not self.closed:
                line = self._read_line()
                if line.startswith(b"MSG "):
                    parts = line.split()
                    subject, sid = parts[1].decode(), int(parts[2])
                    reply = parts[3].decode() if len(parts) == 5 else None
                    data = self._read_bytes(int(parts[-1]))
                    q = self.subs.get(sid)
                    if q is not None:
                        q.put((subject, data, reply, ""))
                elif line.startswith(b"HMSG "):
                    parts = line.split()
                    subject, sid = parts[1].decode(), int(parts[2])
                    reply = parts[3].decode() if len(parts) == 6 else None
                    hdr_len, total = int(parts[-2]), int(parts[-1])
                    raw = self._read_bytes(total)
                    q = self.subs.get(sid)
                    if q is not None:
                        q.put((subject, raw[hdr_len:], reply, raw[:hdr_len].decode("latin-1")))
                elif line == b"PING":
                    self._send(b"PONG\r\n")
        except (EOFError, OSError):
            pass

    def subscribe(self, subject, queue_group=None):
        """Returns a queue.Queue receiving (subject, data, reply, headers) tuples."""
        with self.lock:
            sid = self.next_sid
            self.next_sid += 1
        q = queue.Queue()
        self.subs[sid] = q
        self._send(("SUB %s %s%d\r\n" % (subject, (queue_group + " ") if queue_group else "", sid)).encode())
        return q

    def publish(self, subject, data, reply=None):
        if isinstance(data, str):
            data = data.encode()
        head = "PUB %s %s%d\r\n" % (subject, (reply + " ") if reply else "", len(data))
        self._send(head.encode() + data + b"\r\n")

    def flush(self, timeout=5.0):
        """Round trip: every SUB/PUB sent before is processed by the server."""
        inbox = "_INBOX.flush.%d.%f" % (id(self), time.time())
        q = self.subscribe(inbox)
        self.publish(inbox, b"x")
        q.get(timeout=timeout)

    def request(self, subject, data, timeout=5.0):
        inbox = "_INBOX.astra.%d.%f" % (id(self), time.time())
        q = self.subscribe(inbox)
        self.publish(subject, data, reply=inbox)
        _, body, _, headers = q.get(timeout=timeout)
        if headers.startswith("NATS/1.0 503"):
            raise NoResponders(subject)
        return body

    def close(self):
        self.closed = True
        try:
            self.sock.close()
        except OSError:
            pass


def parse(data):
    return json.loads(data.decode("utf-8"))
