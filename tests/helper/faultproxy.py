#!/usr/bin/env python3
"""faultproxy.py: a fault-injecting HTTP/1.1 reverse proxy for the tests.

Listens on 127.0.0.1 and forwards every request to one upstream server
(moto) unchanged: the request line, every header line and the body are
passed on byte for byte, so SigV4 signatures (which cover the Host header
and the signed headers) still hold.  Client connections are kept alive;
each has its own upstream connection, reopened when the upstream closes.

Faults come from rules the test sets at run time:

    POST /__fault__/rules   body: a JSON list of rules (replaces the
                            rules, resets their counters, ends stalls)
    GET  /__fault__/rules   the rules with their match counters
    GET  /__fault__/log     the request log (also written to --log)
    POST /__fault__/clear   empties the request log

A rule matches on (all optional):
    method   "GET" or a list of methods
    path     a substring of the path (the target before '?')
    query    a substring of the query (after '?')
    range    true: only requests with a Range header; false: only without
    skip     let the first N matching requests through untouched
    first    then apply to N matching requests only (default: all)
    every    then apply to every Kth matching request only
The first rule that matches and applies decides; every rule that matches
counts the request.  Actions ("action"):
    error         answer "status" (503 by default) with an S3-style XML
                  error ("code", "message" override the defaults) and
                  Retry-After when "retry_after" is set; with
                  "upstream": true the request is forwarded first and the
                  real answer thrown away
    reset         reset the connection (RST) before the answer, or, with
                  "after": K, after K bytes of the answer's body
                  ("upstream": true forwards first when K is not set)
    truncate      send the headers and K ("after") bytes of the body, then
                  close normally although more was promised
    stall         send K ("after") bytes of the body, then send nothing for
                  "seconds" (absent or negative: until the rules change),
                  then the rest
    flip          invert the byte at "offset" of the body (same length)
    stall-request read K ("after") bytes of the request body, then stop
                  reading for "seconds" (as for stall), then go on
    flip-request  invert the byte at "offset" of the request body before
                  forwarding it (damage on the way up)
    drop-range    forward the request without its Range header (as a cache
                  or proxy that ignores ranges would); Range is not signed

The log has one tab-separated line per answered request:
    req SEQ TIME METHOD TARGET RANGE STATUS BODYBYTES ACTION
(RANGE is the Range header or "-", STATUS the status sent or "-" when the
connection was reset before one, BODYBYTES the body bytes sent, ACTION the
fault applied or "-"), and one line when a stall begins:
    stall SEQ TIME METHOD TARGET RANGE - BYTES ACTION

Usage: faultproxy.py --upstream HOST:PORT [--port N] [--port-file F]
                     [--log F] [--rules FILE.json]
"""
import argparse
import json
import os
import socket
import socketserver
import struct
import sys
import threading
import time

MAX_HEAD = 64 * 1024
MAX_BODY = 256 * 1024 * 1024
REASONS = {
    200: "OK", 204: "No Content", 206: "Partial Content", 400: "Bad Request",
    403: "Forbidden", 404: "Not Found", 408: "Request Timeout",
    429: "Too Many Requests", 500: "Internal Server Error",
    502: "Bad Gateway", 503: "Service Unavailable", 504: "Gateway Timeout",
}
ERRORS = {
    503: ("SlowDown", "injected: slow down"),
    500: ("InternalError", "injected: internal error, try again"),
    429: ("TooManyRequests", "injected: too many requests"),
    400: ("RequestTimeout", "injected: the request body was not read in time"),
}


class State:
    def __init__(self, log_path):
        self.lock = threading.Lock()
        self.rules = []
        self.generation = 0
        self.seq = 0
        self.log_lines = []
        self.log_path = log_path
        if log_path:
            open(log_path, "w").close()

    def set_rules(self, rules):
        if not isinstance(rules, list) or not all(isinstance(r, dict) for r in rules):
            raise ValueError("rules must be a JSON list of objects")
        with self.lock:
            self.rules = [dict(r, matched=0, applied=0) for r in rules]
            self.generation += 1

    def next_seq(self):
        with self.lock:
            self.seq += 1
            return self.seq

    def match(self, method, path, query, has_range):
        """The rule to apply to this request (a copy), or None."""
        chosen = None
        with self.lock:
            for i, r in enumerate(self.rules):
                m = r.get("method")
                if isinstance(m, str) and m != method:
                    continue
                if isinstance(m, list) and method not in m:
                    continue
                if "path" in r and r["path"] not in path:
                    continue
                if "query" in r and r["query"] not in query:
                    continue
                if "range" in r and bool(r["range"]) != has_range:
                    continue
                r["matched"] += 1
                n = r["matched"] - int(r.get("skip", 0))
                if chosen is not None or n <= 0:
                    continue
                if "first" in r and n > int(r["first"]):
                    continue
                if "every" in r and n % int(r["every"]):
                    continue
                r["applied"] += 1
                chosen = dict(r, index=i)
        return chosen

    def log(self, kind, seq, method, target, rng, status, nbytes, action):
        line = "\t".join([kind, str(seq), "%.3f" % time.time(), method, target,
                          rng or "-", str(status), str(nbytes), action or "-"])
        with self.lock:
            self.log_lines.append(line)
            if self.log_path:
                with open(self.log_path, "a") as f:
                    f.write(line + "\n")

    def clear_log(self):
        with self.lock:
            self.log_lines = []
            if self.log_path:
                open(self.log_path, "w").close()

    def sleep(self, seconds):
        """Sleeps, or until the rules change when seconds is None or < 0."""
        gen = self.generation
        end = None if seconds is None or seconds < 0 else time.monotonic() + seconds
        while end is None or time.monotonic() < end:
            if self.generation != gen:
                return
            time.sleep(0.05 if end is None else max(0, min(0.05, end - time.monotonic())))


class Closed(Exception):
    pass


def read_head(f):
    """Reads a request or response head: a list of raw lines, or None at EOF."""
    lines, total = [], 0
    while True:
        line = f.readline(MAX_HEAD + 1)
        if not line:
            if lines:
                raise Closed("eof inside a head")
            return None
        if not lines and line in (b"\r\n", b"\n"):
            continue        # tolerated between messages
        total += len(line)
        if total > MAX_HEAD:
            raise Closed("head too large")
        lines.append(line)
        if line in (b"\r\n", b"\n"):
            return lines


def header_map(lines):
    h = {}
    for line in lines[1:-1]:
        name, _, value = line.decode("latin-1").partition(":")
        h.setdefault(name.strip().lower(), value.strip())
    return h


def read_exact(f, n):
    data = f.read(n)
    if len(data) != n:
        raise Closed("eof inside a body")
    return data


def read_chunked(f):
    """Reads a chunked body: (raw bytes as sent, decoded payload)."""
    raw, payload = [], []
    while True:
        line = f.readline(MAX_HEAD)
        if not line:
            raise Closed("eof inside a chunked body")
        raw.append(line)
        size = int(line.split(b";")[0].strip() or b"0", 16)
        if size == 0:
            while True:     # trailers up to the empty line
                t = f.readline(MAX_HEAD)
                if not t:
                    raise Closed("eof inside trailers")
                raw.append(t)
                if t in (b"\r\n", b"\n"):
                    return b"".join(raw), b"".join(payload)
        data = read_exact(f, size)
        crlf = f.readline(MAX_HEAD)
        raw += [data, crlf]
        payload.append(data)


class Upstream:
    def __init__(self, addr):
        self.addr = addr
        self.sock = None
        self.f = None

    def close(self):
        if self.sock:
            try:
                self.sock.close()
            except OSError:
                pass
        self.sock = self.f = None

    def exchange(self, head, body, method):
        """Sends one request; returns (status, head lines, body)."""
        for attempt in (1, 2):
            fresh = self.sock is None
            if fresh:
                self.sock = socket.create_connection(self.addr, timeout=600)
                self.f = self.sock.makefile("rb")
            try:
                self.sock.sendall(b"".join(head) + body)
                return self._response(method)
            except (OSError, Closed):
                self.close()
                if fresh or attempt == 2:
                    raise
        raise Closed("upstream failed")

    def _response(self, method):
        while True:
            lines = read_head(self.f)
            if lines is None:
                raise Closed("upstream closed")
            parts = lines[0].split(None, 2)
            status = int(parts[1])
            if 100 <= status < 200:
                continue    # interim answers stay between proxy and upstream
            break
        h = header_map(lines)
        keep = parts[0] == b"HTTP/1.1" and h.get("connection", "").lower() != "close"
        if method == "HEAD" or status in (204, 304):
            body = b""
        elif "chunked" in h.get("transfer-encoding", "").lower():
            _, body = read_chunked(self.f)
        elif "content-length" in h:
            body = read_exact(self.f, int(h["content-length"]))
        else:
            body = self.f.read(MAX_BODY)
            keep = False
        if not keep:
            self.close()
        if "content-length" not in h and method != "HEAD":
            # The body was chunked or ended by a close: send it with a
            # length, so that body faults work the same for all answers.
            lines = [l for l in lines[:-1] if not l.lower().startswith(b"transfer-encoding:")]
            lines.append(b"Content-Length: %d\r\n" % len(body))
            lines.append(b"\r\n")
        return status, lines, body


class Handler(socketserver.BaseRequestHandler):
    def handle(self):
        st = self.server.state
        self.up = Upstream(self.server.upstream)
        sock = self.request
        f = sock.makefile("rb")
        try:
            while self.one(st, sock, f):
                pass
        except (Closed, OSError, ValueError):
            pass
        finally:
            self.up.close()

    def reset(self, sock):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        sock.close()

    def one(self, st, sock, f):
        """Serves one request; returns False when the connection must end."""
        head = read_head(f)
        if head is None:
            return False
        method, target, version = head[0].decode("latin-1").split()
        h = header_map(head)
        target_path, _, query = target.partition("?")
        rng = h.get("range")
        close_after = version != "HTTP/1.1" or h.get("connection", "").lower() == "close"
        if target_path.startswith("/__fault__"):
            return self.control(st, sock, f, method, target_path, h) and not close_after

        rule = st.match(method, target_path, query, rng is not None)
        action = rule["action"] if rule else None
        seq = st.next_seq()

        # The request body, raw.
        if h.get("expect", "").lower() == "100-continue":
            sock.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
        if "chunked" in h.get("transfer-encoding", "").lower():
            body, _ = read_chunked(f)
        else:
            n = int(h.get("content-length", "0"))
            if action == "stall-request":
                k = min(n, int(rule.get("after", 0)))
                first = read_exact(f, k)
                st.log("stall", seq, method, target, rng, "-", k, action)
                st.sleep(rule.get("seconds"))
                body = first + read_exact(f, n - k)
            else:
                body = read_exact(f, n)

        if action == "flip-request":
            off = int(rule.get("offset", 0))
            if off < len(body):
                body = body[:off] + bytes([body[off] ^ 0xFF]) + body[off + 1:]

        if action == "drop-range":
            head = [l for l in head if not l.lower().startswith(b"range:")]

        if action == "error":
            if rule.get("upstream"):
                self.up.exchange(head, body, method)
            status = int(rule.get("status", 503))
            code, msg = ERRORS.get(status, ("InjectedFault", "injected fault"))
            code, msg = rule.get("code", code), rule.get("message", msg)
            xml = ('<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>%s</Code>'
                   '<Message>%s</Message><RequestId>faultproxy-%d</RequestId></Error>'
                   % (code, msg, seq)).encode()
            out = ["HTTP/1.1 %d %s" % (status, REASONS.get(status, "Error")),
                   "Content-Type: application/xml",
                   "Content-Length: %d" % len(xml), "x-amz-request-id: faultproxy-%d" % seq]
            if "retry_after" in rule:
                out.append("Retry-After: %s" % rule["retry_after"])
            sent = b"" if method == "HEAD" else xml
            sock.sendall(("\r\n".join(out) + "\r\n\r\n").encode() + sent)
            st.log("req", seq, method, target, rng, status, len(sent), action)
            return not close_after

        if action == "reset" and "after" not in rule:
            if rule.get("upstream"):
                self.up.exchange(head, body, method)
            st.log("req", seq, method, target, rng, "-", 0, action)
            self.reset(sock)
            return False

        status, rhead, rbody = self.up.exchange(head, body, method)
        k = min(len(rbody), int(rule.get("after", 0))) if rule else 0
        if action == "flip":
            off = int(rule.get("offset", 0))
            if off < len(rbody):
                rbody = rbody[:off] + bytes([rbody[off] ^ 0xFF]) + rbody[off + 1:]
            else:
                action = "flip-missed"
        if action in ("reset", "truncate", "stall"):
            sock.sendall(b"".join(rhead) + rbody[:k])
            if action == "reset":
                time.sleep(0.2)     # let the client take the bytes first
                st.log("req", seq, method, target, rng, status, k, action)
                self.reset(sock)
                return False
            if action == "truncate":
                st.log("req", seq, method, target, rng, status, k, action)
                sock.shutdown(socket.SHUT_WR)
                sock.close()
                return False
            st.log("stall", seq, method, target, rng, "-", k, action)
            st.sleep(rule.get("seconds"))
            try:
                sock.sendall(rbody[k:])
            except OSError:
                st.log("req", seq, method, target, rng, status, k, action)
                return False
        else:
            try:
                sock.sendall(b"".join(rhead) + rbody)
            except OSError:
                # The client hung up before it had the whole answer.
                st.log("req", seq, method, target, rng, status, "?",
                       (action or "") + "+client-closed")
                return False
        st.log("req", seq, method, target, rng, status, len(rbody), action)
        return not close_after

    def control(self, st, sock, f, method, path, h):
        body = read_exact(f, int(h.get("content-length", "0")))
        status, out = 200, b"ok\n"
        try:
            if path == "/__fault__/rules" and method in ("POST", "PUT"):
                st.set_rules(json.loads(body.decode() or "[]"))
            elif path == "/__fault__/rules":
                with st.lock:
                    out = (json.dumps(st.rules, indent=1) + "\n").encode()
            elif path == "/__fault__/log":
                with st.lock:
                    out = "".join(l + "\n" for l in st.log_lines).encode()
            elif path == "/__fault__/clear" and method == "POST":
                st.clear_log()
            else:
                status, out = 404, b"unknown control request\n"
        except ValueError as e:
            status, out = 400, ("bad rules: %s\n" % e).encode()
        sock.sendall(b"HTTP/1.1 %d %s\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n\r\n"
                     % (status, REASONS.get(status, "Error").encode(), len(out)) + out)
        return True


class Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 64


def main():
    ap = argparse.ArgumentParser(description="fault-injecting HTTP proxy for tests")
    ap.add_argument("--upstream", required=True, help="HOST:PORT of the real server")
    ap.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (0: any)")
    ap.add_argument("--port-file", help="write the port here once listening")
    ap.add_argument("--log", help="append the request log here")
    ap.add_argument("--rules", help="initial rules (a JSON file)")
    a = ap.parse_args()
    host, _, port = a.upstream.rpartition(":")
    srv = Server(("127.0.0.1", a.port), Handler)
    srv.state = State(a.log)
    srv.upstream = (host, int(port))
    if a.rules:
        with open(a.rules) as fh:
            srv.state.set_rules(json.load(fh))
    if a.port_file:
        tmp = a.port_file + ".tmp"
        with open(tmp, "w") as fh:
            fh.write("%d\n" % srv.server_address[1])
        os.rename(tmp, a.port_file)
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
