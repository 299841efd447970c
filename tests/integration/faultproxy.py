#!/usr/bin/python3
"""faultproxy: a fault-injecting HTTP/1.1 proxy for the S3 tests (stdlib
only, one thread per connection), and a small echo server to stand in for
an upstream.

  faultproxy.py proxy --upstream HOST:PORT [--port N] [--control-port N]
                [--log FILE] [--faults JSON|@FILE] [--daemon] [--watch PID]
  faultproxy.py echo [--port N] [--daemon] [--watch PID]

Both bind 127.0.0.1 (port 0: a free one) and print KEY=VALUE lines once
they listen: PORT=, CONTROL= (proxy), PID=. With --daemon the process
forks after binding and the parent exits after printing, so a test can run
it like a command; with --watch PID it exits when PID does (a crashed test
leaves nothing running). SIGTERM stops it.

The proxy forwards requests to the upstream on a persistent connection per
client connection, passing bodies through (Content-Length or chunked) and
answering "Expect: 100-continue" itself. Faults, each an object in the
JSON given at start (--faults) or at run time (POST /faults on the control
port, which replaces them all and resets their counters):

  "slowdown":  {"every": N, "method": M, "query": RE, "path": RE, "times": K}
      every Nth matching request (N = 1: each) gets 503 with an S3
      SlowDown error body instead of being forwarded (its body is read and
      dropped first, so the connection stays usable)
  "reset":     {... matching ..., "after_bytes": B}
      reads B bytes of the request body (default: half of it, at most
      64 KiB), then resets the connection (SO_LINGER 0: the client gets
      ECONNRESET); nothing reaches the upstream
  "stall":     {... matching ...}
      reads the request and never answers (until the client goes away)
  "complete_error": {... matching ..., "code": C}
      defaults method POST, query "uploadId=": a 200 whose body is an S3
      <Error> (InternalError), as S3 may answer CompleteMultipartUpload;
      not forwarded
  "refuse":    {"seconds": T, "after_requests": N}
      closes the listening socket (new connections are refused: ECONNREFUSED)
      and resets every open connection, for T seconds, then listens again on
      the same port; at once, or when the Nth request from now arrives
      (that request is reset)
Matching keys: "method" (exact), "query" and "path" (Python regular
expressions searched in the raw query / path); "times" caps how often the
fault fires (default: no cap). A request matching several faults gets the
first of: stall, reset, slowdown, complete_error.

Control port (HTTP on 127.0.0.1):
  POST /faults  JSON body: replaces the faults (400 on bad JSON)
  GET  /faults  the faults, how often each fired, the request count
  POST /down    refuse connections (as "refuse") until POST /up
  POST /up      listen again
  POST /refuse?seconds=T   as the "refuse" fault, now

--log FILE gets one line per request, flushed, tab-separated:
  SEQ METHOD TARGET ACTION STATUS
ACTION is forward, slowdown, reset, stall, complete_error, refuse; STATUS
the status sent (or "-"). "drop" lines name connections reset by refuse
or down. Tests grep it to see that retries happened.
"""
import argparse
import hashlib
import json
import os
import re
import select
import signal
import socket
import struct
import sys
import threading
import time
import http.server
from urllib.parse import urlsplit, parse_qs

CHUNK = 256 * 1024
HEAD_MAX = 64 * 1024


class Dropped(Exception):
    """The connection was reset on purpose (or went away)."""


def recv_head(sock, buf):
    """Reads up to the end of a header block. Returns (head, rest) or
    (None, b"") at a clean EOF before any byte."""
    while b"\r\n\r\n" not in buf:
        if len(buf) > HEAD_MAX:
            raise Dropped("header block too large")
        data = sock.recv(CHUNK)
        if not data:
            if buf:
                raise Dropped("EOF inside a header block")
            return None, b""
        buf += data
    head, rest = buf.split(b"\r\n\r\n", 1)
    return head + b"\r\n\r\n", rest


def parse_head(head):
    lines = head.decode("latin-1").split("\r\n")
    first = lines[0]
    headers = []
    for line in lines[1:]:
        if not line:
            continue
        name, _, value = line.partition(":")
        headers.append((name.strip(), value.strip()))
    return first, headers


def header(headers, name):
    name = name.lower()
    for n, v in headers:
        if n.lower() == name:
            return v
    return None


class Reader(object):
    """A socket with a push-back buffer."""

    def __init__(self, sock, buf=b""):
        self.sock, self.buf = sock, buf

    def read(self, n):
        if not self.buf:
            data = self.sock.recv(min(n, CHUNK))
            if not data:
                raise Dropped("EOF")
            return data
        data, self.buf = self.buf[:n], self.buf[n:]
        return data

    def readline(self):
        while b"\r\n" not in self.buf:
            data = self.sock.recv(CHUNK)
            if not data:
                raise Dropped("EOF")
            self.buf += data
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line + b"\r\n"


def body_pieces(reader, headers, limit=None):
    """Yields the raw bytes of a message body (chunk framing kept), as they
    arrive. limit: stop after that many bytes (for the reset fault)."""
    got = 0
    te = header(headers, "transfer-encoding")
    if te and "chunked" in te.lower():
        while True:
            line = reader.readline()
            yield line
            size = int(line.split(b";")[0].strip() or b"0", 16)
            if size == 0:
                while True:  # trailers, then the empty line
                    t = reader.readline()
                    yield t
                    if t == b"\r\n":
                        return
            left = size + 2
            while left:
                data = reader.read(left)
                left -= len(data)
                got += len(data)
                yield data
                if limit is not None and got >= limit:
                    return
        return
    n = int(header(headers, "content-length") or 0)
    while n:
        want = n if limit is None else min(n, max(limit - got, 1))
        data = reader.read(want)
        n -= len(data)
        got += len(data)
        yield data
        if limit is not None and got >= limit:
            return


def s3_error(code, message, seq):
    return ("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>%s</Code>"
            "<Message>%s</Message><RequestId>faultproxy-%d</RequestId>"
            "</Error>" % (code, message, seq)).encode()


def rst(sock):
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                        struct.pack("ii", 1, 0))
    except OSError:
        pass
    try:
        sock.close()
    except OSError:
        pass


class Faults(object):
    KINDS = ("stall", "reset", "slowdown", "complete_error")

    def __init__(self, spec):
        self.lock = threading.Lock()
        self.set(spec or {})

    def set(self, spec):
        if not isinstance(spec, dict):
            raise ValueError("faults must be a JSON object")
        for k in spec:
            if k not in self.KINDS + ("refuse",):
                raise ValueError("unknown fault %r" % k)
        compiled = {}
        for kind in self.KINDS:
            f = spec.get(kind)
            if f is None:
                continue
            if not isinstance(f, dict):
                raise ValueError("%s must be an object" % kind)
            f = dict(f)
            if kind == "complete_error":
                f.setdefault("method", "POST")
                f.setdefault("query", "uploadId=")
            f["_q"] = re.compile(f["query"]) if f.get("query") else None
            f["_p"] = re.compile(f["path"]) if f.get("path") else None
            f["every"] = int(f.get("every", 1))
            if f["every"] < 1:
                raise ValueError("%s.every must be >= 1" % kind)
            compiled[kind] = f
        with self.lock:
            self.spec = spec
            self.compiled = compiled
            self.seen = {k: 0 for k in self.KINDS}
            self.fired = {k: 0 for k in self.KINDS + ("refuse",)}
            r = spec.get("refuse")
            self.refuse = dict(r) if isinstance(r, dict) else None
            self.refuse_countdown = (int(self.refuse.get("after_requests", 0))
                                     if self.refuse else 0)

    def pick(self, method, path, query):
        """The fault for this request (or None), counting it."""
        with self.lock:
            for kind in self.KINDS:
                f = self.compiled.get(kind)
                if not f:
                    continue
                if f.get("method") and f["method"] != method:
                    continue
                if f["_q"] and not f["_q"].search(query):
                    continue
                if f["_p"] and not f["_p"].search(path):
                    continue
                self.seen[kind] += 1
                if self.seen[kind] % f["every"]:
                    continue
                if "times" in f and self.fired[kind] >= int(f["times"]):
                    continue
                self.fired[kind] += 1
                return kind, f
        return None, None

    def refuse_now(self):
        """A refuse fault counting requests: True when this one starts it."""
        with self.lock:
            if not self.refuse or self.refuse_countdown <= 0:
                return None
            self.refuse_countdown -= 1
            if self.refuse_countdown == 0:
                self.fired["refuse"] += 1
                return float(self.refuse.get("seconds", 30))
        return None

    def state(self):
        with self.lock:
            return {"faults": self.spec, "fired": self.fired}


class Proxy(object):
    def __init__(self, listen_sock, upstream, faults, log):
        self.port = listen_sock.getsockname()[1]
        self.sock = listen_sock
        self.upstream = upstream
        self.faults = faults
        self.log_file = log
        self.log_lock = threading.Lock()
        self.seq = 0
        self.want_open = True
        self.reopen_at = None
        self.conns = set()
        self.lock = threading.Lock()
        self.changed = threading.Condition()  # the listening socket changed

    # -- bookkeeping
    def log(self, *fields):
        if not self.log_file:
            return
        with self.log_lock:
            self.log_file.write("\t".join(str(f) for f in fields) + "\n")
            self.log_file.flush()

    def next_seq(self):
        with self.lock:
            self.seq += 1
            return self.seq

    # -- listening, refusing
    def go_down(self, seconds=None):
        """Stops listening (for `seconds`, or until up()) and resets every
        open connection."""
        with self.lock:
            self.want_open = False
            self.reopen_at = (time.monotonic() + seconds
                              if seconds is not None else None)
        # Returns once the listening socket is closed: a connection made
        # after this call is refused. What the accept loop took before is
        # reset with the rest.
        self._wait_listening(False)
        with self.lock:
            conns = list(self.conns)
        for c in conns:
            self.log("-", "-", c.getpeername_safe(), "drop", "-")
            c.drop()

    def up(self):
        with self.lock:
            self.want_open = True
            self.reopen_at = None
        self._wait_listening(True)

    def _wait_listening(self, listening, timeout=2.0):
        with self.changed:
            self.changed.wait_for(
                lambda: (self.sock is not None) == listening, timeout)

    def accept_loop(self):
        while True:
            with self.lock:
                if (not self.want_open and self.reopen_at is not None and
                        time.monotonic() >= self.reopen_at):
                    self.want_open, self.reopen_at = True, None
                want = self.want_open
            if not want:
                if self.sock is not None:
                    self.sock.close()
                    with self.changed:
                        self.sock = None
                        self.changed.notify_all()
                time.sleep(0.02)
                continue
            if self.sock is None:
                s = socket.socket()
                s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                try:
                    s.bind(("127.0.0.1", self.port))
                except OSError:
                    s.close()
                    time.sleep(0.1)
                    continue
                s.listen(128)
                with self.changed:
                    self.sock = s
                    self.changed.notify_all()
            self.sock.settimeout(0.05)
            try:
                c, _ = self.sock.accept()
            except socket.timeout:
                continue
            except OSError:
                continue
            c.settimeout(None)
            conn = Conn(self, c)
            with self.lock:
                self.conns.add(conn)
            threading.Thread(target=conn.run, daemon=True).start()


class Conn(object):
    def __init__(self, proxy, sock):
        self.p, self.sock = proxy, sock
        self.up = None
        self.dropped = False
        try:
            self.peer = "%s:%d" % sock.getpeername()
        except OSError:
            self.peer = "?"

    def getpeername_safe(self):
        return self.peer

    def drop(self):
        self.dropped = True
        try:  # wakes the thread's recv without sending a FIN
            self.sock.shutdown(socket.SHUT_RD)
        except OSError:
            pass

    def run(self):
        try:
            reader = Reader(self.sock)
            while not self.dropped:
                if not self.one(reader):
                    break
        except (Dropped, OSError, ValueError):
            pass
        finally:
            with self.p.lock:
                self.p.conns.discard(self)
            if self.dropped:
                rst(self.sock)
            else:
                try:
                    self.sock.close()
                except OSError:
                    pass
            if self.up:
                self.up.close()

    def send(self, data):
        self.sock.sendall(data)

    def answer(self, status, reason, body, ctype="application/xml",
               close=False):
        self.send(("HTTP/1.1 %d %s\r\nContent-Type: %s\r\n"
                   "Content-Length: %d\r\n%s\r\n" %
                   (status, reason, ctype, len(body),
                    "Connection: close\r\n" if close else "")).encode() + body)

    def one(self, reader):
        head, rest = recv_head(self.sock, reader.buf)
        reader.buf = rest
        if head is None:
            return False
        first, headers = parse_head(head)
        parts = first.split(" ")
        if len(parts) != 3:
            raise Dropped("bad request line")
        method, target, _ = parts
        u = urlsplit(target)
        path, query = u.path, u.query
        seq = self.p.next_seq()
        p = self.p

        expect = header(headers, "expect")
        if expect and expect.lower() == "100-continue":
            self.send(b"HTTP/1.1 100 Continue\r\n\r\n")
            headers = [(n, v) for n, v in headers if n.lower() != "expect"]

        seconds = p.faults.refuse_now()
        if seconds is not None:
            p.log(seq, method, target, "refuse", "-")
            p.go_down(seconds)
            self.dropped = True
            raise Dropped("refuse")

        kind, f = p.faults.pick(method, path, query)
        if kind == "stall":
            p.log(seq, method, target, "stall", "-")
            for _ in body_pieces(reader, headers):
                pass
            while not self.dropped and self.sock.recv(CHUNK):
                pass
            raise Dropped("stall over")
        if kind == "reset":
            n = int(header(headers, "content-length") or 0)
            limit = int(f.get("after_bytes", min(n // 2, 65536)))
            p.log(seq, method, target, "reset", "-")
            if limit > 0:
                for _ in body_pieces(reader, headers, limit=limit):
                    pass
            self.dropped = True
            raise Dropped("reset")
        if kind in ("slowdown", "complete_error"):
            for _ in body_pieces(reader, headers):
                pass
            if kind == "slowdown":
                p.log(seq, method, target, "slowdown", 503)
                self.answer(503, "Slow Down",
                            s3_error("SlowDown", "Please reduce your request "
                                     "rate.", seq))
            else:
                p.log(seq, method, target, "complete_error", 200)
                self.answer(200, "OK", s3_error(
                    f.get("code", "InternalError"),
                    "We encountered an internal error. Please try again.",
                    seq))
            return True
        return self.forward(reader, seq, method, target, head, headers)

    def connect_up(self):
        if self.up is not None and not self.up_reader.buf:
            # An idle kept-alive upstream connection the server has closed
            # reads as EOF: open a new one rather than lose the request.
            r, _, _ = select.select([self.up], [], [], 0)
            if r:
                try:
                    gone = not self.up.recv(1, socket.MSG_PEEK)
                except OSError:
                    gone = True
                if gone:
                    self.up.close()
                    self.up = None
        if self.up is None:
            self.up = socket.create_connection(self.p.upstream, timeout=None)
            self.up_reader = Reader(self.up)

    def forward(self, reader, seq, method, target, head, headers):
        first = head.split(b"\r\n", 1)[0]
        out = first + b"\r\n" + b"".join(
            ("%s: %s\r\n" % (n, v)).encode("latin-1") for n, v in headers) + \
            b"\r\n"
        for attempt in (0, 1):  # a kept-alive upstream may have gone away
            try:
                self.connect_up()
                self.up.sendall(out)
                break
            except OSError:
                if self.up:
                    self.up.close()
                self.up = None
                if attempt:
                    p = self.p
                    p.log(seq, method, target, "forward", 502)
                    self.answer(502, "Bad Gateway", b"upstream unreachable",
                                "text/plain", close=True)
                    return False
        for piece in body_pieces(reader, headers):
            self.up.sendall(piece)
        # The response; interim 1xx ones are passed on as they come.
        while True:
            rhead, rest = recv_head(self.up, self.up_reader.buf)
            self.up_reader.buf = rest
            if rhead is None:
                raise Dropped("upstream closed")
            rfirst, rheaders = parse_head(rhead)
            status = int(rfirst.split(" ")[1])
            self.send(rhead)
            if status >= 200 or status == 101:
                break
        self.p.log(seq, method, target, "forward", status)
        close = (header(rheaders, "connection") or "").lower() == "close" or \
            (header(headers, "connection") or "").lower() == "close"
        if method == "HEAD" or status in (204, 304) or status < 200:
            pass
        elif header(rheaders, "content-length") is not None or \
                "chunked" in (header(rheaders, "transfer-encoding") or ""):
            for piece in body_pieces(self.up_reader, rheaders):
                self.send(piece)
        else:  # delimited by the upstream closing
            while True:
                data = self.up_reader.buf or self.up.recv(CHUNK)
                self.up_reader.buf = b""
                if not data:
                    break
                self.send(data)
            close = True
        if close:
            self.up.close()
            self.up = None
            return False
        return True


def control_handler(proxy):
    class H(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *a):
            pass

        def reply(self, code, obj):
            body = json.dumps(obj).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self):
            if self.path == "/faults":
                st = proxy.faults.state()
                st["requests"] = proxy.seq
                st["listening"] = proxy.want_open
                self.reply(200, st)
            else:
                self.reply(404, {"error": "no such path"})

        def do_POST(self):
            n = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(n) if n else b""
            u = urlsplit(self.path)
            if u.path == "/faults":
                try:
                    spec = json.loads(body or b"{}")
                    proxy.faults.set(spec)
                except (ValueError, TypeError, re.error) as e:
                    self.reply(400, {"error": str(e)})
                    return
                r = spec.get("refuse")
                if isinstance(r, dict) and not r.get("after_requests"):
                    proxy.faults.fired["refuse"] += 1
                    proxy.go_down(float(r.get("seconds", 30)))
                self.reply(200, proxy.faults.state())
            elif u.path == "/down":
                proxy.go_down(None)
                self.reply(200, {"listening": False})
            elif u.path == "/up":
                proxy.up()
                self.reply(200, {"listening": True})
            elif u.path == "/refuse":
                q = parse_qs(u.query)
                proxy.go_down(float(q.get("seconds", ["30"])[0]))
                self.reply(200, {"listening": False})
            else:
                self.reply(404, {"error": "no such path"})
    return H


class Echo(http.server.BaseHTTPRequestHandler):
    """The stand-in upstream: answers every request 200 with a JSON of what
    it received (method, path, body length and SHA-256)."""
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def handle_any(self):
        h = hashlib.sha256()
        n = 0
        if "chunked" in (self.headers.get("Transfer-Encoding") or ""):
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b""):
                        pass
                    break
                data = self.rfile.read(size)
                self.rfile.readline()
                h.update(data)
                n += len(data)
        else:
            left = int(self.headers.get("Content-Length") or 0)
            while left:
                data = self.rfile.read(min(left, CHUNK))
                if not data:
                    break
                h.update(data)
                n += len(data)
                left -= len(data)
        body = json.dumps({"method": self.command, "path": self.path,
                           "length": n, "sha256": h.hexdigest()}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = handle_any


def listen(port):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", port))
    s.listen(128)
    return s


def daemonize(lines):
    """Forks: the parent prints `lines` (with the child's PID) and exits."""
    pid = os.fork()
    if pid:
        sys.stdout.write("".join(l + "\n" for l in lines) + "PID=%d\n" % pid)
        sys.stdout.flush()
        os._exit(0)
    os.setsid()
    fd = os.open(os.devnull, os.O_RDWR)
    for i in (0, 1, 2):
        os.dup2(fd, i)


def watch(pid):
    def loop():
        while True:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                os._exit(0)
            except PermissionError:
                pass
            time.sleep(0.5)
    threading.Thread(target=loop, daemon=True).start()


def main():
    ap = argparse.ArgumentParser(description="fault-injecting HTTP proxy")
    sub = ap.add_subparsers(dest="cmd", required=True)
    pp = sub.add_parser("proxy")
    pp.add_argument("--upstream", required=True)
    pp.add_argument("--port", type=int, default=0)
    pp.add_argument("--control-port", type=int, default=0)
    pp.add_argument("--log")
    pp.add_argument("--faults")
    pe = sub.add_parser("echo")
    pe.add_argument("--port", type=int, default=0)
    for p in (pp, pe):
        p.add_argument("--daemon", action="store_true")
        p.add_argument("--watch", type=int)
    a = ap.parse_args()
    signal.signal(signal.SIGTERM, lambda *x: os._exit(0))
    signal.signal(signal.SIGINT, lambda *x: os._exit(0))

    if a.cmd == "echo":
        srv = http.server.ThreadingHTTPServer(("127.0.0.1", a.port), Echo)
        srv.daemon_threads = True
        lines = ["PORT=%d" % srv.server_address[1]]
        if a.daemon:
            daemonize(lines)
        else:
            print("\n".join(lines + ["PID=%d" % os.getpid()]), flush=True)
        if a.watch:
            watch(a.watch)
        srv.serve_forever()
        return

    host, _, port = a.upstream.rpartition(":")
    spec = None
    if a.faults:
        text = a.faults
        if text.startswith("@"):
            with open(text[1:]) as f:
                text = f.read()
        spec = json.loads(text)
    faults = Faults(spec)  # bad faults fail here, before anything listens
    lsock = listen(a.port)
    ctl = http.server.ThreadingHTTPServer(("127.0.0.1", a.control_port),
                                          http.server.BaseHTTPRequestHandler)
    lines = ["PORT=%d" % lsock.getsockname()[1],
             "CONTROL=%d" % ctl.server_address[1]]
    if a.daemon:
        daemonize(lines)
    else:
        print("\n".join(lines + ["PID=%d" % os.getpid()]), flush=True)
    log = open(a.log, "a") if a.log else None
    proxy = Proxy(lsock, (host or "127.0.0.1", int(port)), faults, log)
    if spec and isinstance(spec.get("refuse"), dict) and \
            not spec["refuse"].get("after_requests"):
        faults.fired["refuse"] += 1
        proxy.go_down(float(spec["refuse"].get("seconds", 30)))
    ctl.RequestHandlerClass = control_handler(proxy)
    ctl.daemon_threads = True
    threading.Thread(target=ctl.serve_forever, daemon=True).start()
    if a.watch:
        watch(a.watch)
    proxy.accept_loop()


if __name__ == "__main__":
    main()
