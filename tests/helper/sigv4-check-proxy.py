#!/usr/bin/env python3
"""sigv4-check-proxy.py: checks the SigV4 signature of every request the
way S3 does, then forwards it to moto (which, with signature checks off,
stores what it is given).

moto's own signature check signs the percent-decoded path, so it refuses
correct signatures of keys with a space, ':', '%' or UTF-8 (the aws CLI's
too).  This proxy is the oracle instead: it decodes the request path and
query as received, encodes them again as S3 does (RFC 3986: everything
but A-Z a-z 0-9 - . _ ~ as %XX, uppercase; '/' kept in the path, not in
the query), has botocore's S3SigV4Auth build the canonical request from
that, and signs it with the given secret.  A request whose Authorization signature differs gets 403
SignatureDoesNotMatch and a line in --log; others are forwarded.

Usage: sigv4-check-proxy.py --upstream HOST:PORT --port-file F --log F
       --access-key K --secret-key S [--region R]
"""
import argparse
import hashlib
import hmac
import http.client
import os
import http.server
import re
import socketserver
import sys
from urllib.parse import quote, unquote_to_bytes, urlsplit

from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

ap = argparse.ArgumentParser()
ap.add_argument("--upstream", required=True)
ap.add_argument("--port-file", required=True)
ap.add_argument("--log", required=True)
ap.add_argument("--access-key", required=True)
ap.add_argument("--secret-key", required=True)
ap.add_argument("--region", default="us-east-1")
args = ap.parse_args()
log = open(args.log, "a", buffering=1)


def s3_encode(raw, safe):
    return quote(unquote_to_bytes(raw), safe=safe)


def expected_signature(method, target, msg):
    """msg: the request's headers (case-insensitive lookups)."""
    headers = dict(msg.items())
    auth = msg.get("Authorization", "")
    m = re.search(r"SignedHeaders=([^,]+)", auth)
    if not m:
        return None, "no SignedHeaders"
    signed = m.group(1).split(";")
    parts = urlsplit(target)
    path = s3_encode(parts.path, "/~")
    pairs = []
    if parts.query:
        for pair in parts.query.split("&"):
            k, _, v = pair.partition("=")
            pairs.append(s3_encode(k, "-_.~") + "=" + s3_encode(v, "-_.~"))
    url = "http://" + msg.get("Host", "") + path + ("?" + "&".join(pairs) if pairs else "")
    hdrs = {k: v for k, v in headers.items() if k.lower() in signed}
    req = AWSRequest(method=method, url=url, headers=hdrs)
    req.context["timestamp"] = msg.get("X-Amz-Date", "")
    signer = S3SigV4Auth(Credentials(args.access_key, args.secret_key), "s3", args.region)
    creq = signer.canonical_request(req)
    # The string to sign and the key derivation by hand, from the AWS
    # documentation (botocore's string_to_sign wants more request context).
    ts = msg.get("X-Amz-Date", "")
    scope = "%s/%s/s3/aws4_request" % (ts[:8], args.region)
    sts = "AWS4-HMAC-SHA256\n%s\n%s\n%s" % (ts, scope, hashlib.sha256(creq.encode()).hexdigest())
    k = ("AWS4" + args.secret_key).encode()
    for part in (ts[:8], args.region, "s3", "aws4_request"):
        k = hmac.new(k, part.encode(), hashlib.sha256).digest()
    return hmac.new(k, sts.encode(), hashlib.sha256).hexdigest(), creq


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def body(self):
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            out = b""
            while True:
                n = int(self.rfile.readline().split(b";")[0], 16)
                if n == 0:
                    self.rfile.readline()
                    return out
                out += self.rfile.read(n)
                self.rfile.readline()
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def handle_any(self):
        data = self.body()
        headers = {k: v for k, v in self.headers.items()}
        want, creq = expected_signature(self.command, self.path, self.headers)
        got = re.search(r"Signature=([0-9a-f]+)", self.headers.get("Authorization", ""))
        if not want or not got or got.group(1) != want:
            log.write("MISMATCH %s %s\n%s\n--\n%s\nwant %s\n" % (self.command, self.path, creq, self.headers.get("Authorization"), want))
            msg = b"<Error><Code>SignatureDoesNotMatch</Code><Message>checked by the proxy</Message></Error>"
            self.send_response(403)
            self.send_header("Content-Type", "application/xml")
            self.send_header("Content-Length", str(len(msg)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(msg)
            return
        log.write("OK %s %s\n" % (self.command, self.path))
        fwd = {k: v for k, v in headers.items() if k.lower() != "transfer-encoding"}
        fwd["Content-Length"] = str(len(data))
        host, port = args.upstream.rsplit(":", 1)
        c = http.client.HTTPConnection(host, int(port), timeout=60)
        c.request(self.command, self.path, body=data, headers=fwd)
        r = c.getresponse()
        payload = r.read()
        self.send_response(r.status)
        for k, v in r.getheaders():
            if k.lower() not in ("content-length", "transfer-encoding", "connection", "server", "date"):
                self.send_header(k, v)
        # A HEAD answer has no body but the object's length.
        self.send_header("Content-Length", r.getheader("Content-Length", "0")
                         if self.command == "HEAD" else str(len(payload)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)
        c.close()

    do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = handle_any


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True


srv = Server(("127.0.0.1", 0), Handler)
with open(args.port_file + ".tmp", "w") as f:
    f.write(str(srv.server_address[1]))
os.rename(args.port_file + ".tmp", args.port_file)
srv.serve_forever()
