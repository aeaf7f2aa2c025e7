#!/usr/bin/env python3
"""aws-meta-fixture.py: the two AWS credential endpoints no real server
exists for on a test machine, for tests/t0810-s3-credentials.sh.

  - container credentials (what the ECS/EKS agent serves at
    AWS_CONTAINER_CREDENTIALS_FULL_URI): GET PATH, with the Authorization
    header equal to --container-token when one is given (else 401);
  - EC2 instance metadata, IMDSv2 only: PUT /latest/api/token with
    X-aws-ec2-metadata-token-ttl-seconds (1..21600) returns a session token;
    GET /latest/meta-data/iam/security-credentials/ returns the role name
    and GET .../ROLE its credentials, both only with a live
    X-aws-ec2-metadata-token header (else 401, as IMDS does when v1 is off).

Both hand out the keys of --keys (a JSON list of {AccessKeyId,
SecretAccessKey[, Token]}): hand-out n gets key min(n, last), valid for
--first-ttl seconds the first time and --ttl seconds after.  Each request
is appended to --log as "what n access-key-id" (never a secret).  The test
proves the fixture faithful by having the aws CLI (botocore) fetch
credentials from it and use them against moto.

With --refuse-after N, credentials requests after the first N get 500.
With --hold FILE, the second hand-out is logged at once but answered
only when FILE exists (at most 60 s later): a test can change the world
(delete the first key) while the client waits for its refreshed key.

Binds 127.0.0.1 on an ephemeral port, written to --port-file.
"""
import argparse
import datetime
import json
import os
import secrets
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ROLE_PATH = "/latest/meta-data/iam/security-credentials/"


def iso(t):
    d = datetime.datetime.fromtimestamp(t, datetime.timezone.utc)
    return d.strftime("%Y-%m-%dT%H:%M:%S.") + "%03dZ" % (d.microsecond // 1000)


class State:
    def __init__(self, args):
        self.args = args
        with open(args.keys) as f:
            self.keys = json.load(f)
        self.lock = threading.Lock()
        self.handed = 0
        self.tokens = {}

    def log(self, line):
        with self.lock, open(self.args.log, "a") as f:
            f.write(line + "\n")

    def next_credentials(self, what):
        with self.lock:
            n = self.handed
            self.handed += 1
        if self.args.refuse_after is not None and n >= self.args.refuse_after:
            self.log(f"{what}-failed {n + 1} -")
            return None
        key = self.keys[min(n, len(self.keys) - 1)]
        ttl = self.args.first_ttl if n == 0 else self.args.ttl
        now = time.time()
        self.log(f"{what} {n + 1} {key['AccessKeyId']}")
        if n == 1 and self.args.hold:
            deadline = time.time() + 60
            while not os.path.exists(self.args.hold) and time.time() < deadline:
                time.sleep(0.05)
            now = time.time()
        return {
            "Code": "Success",
            "LastUpdated": iso(now),
            "Type": "AWS-HMAC",
            "AccessKeyId": key["AccessKeyId"],
            "SecretAccessKey": key["SecretAccessKey"],
            "Token": key.get("Token", ""),
            "Expiration": iso(now + ttl),
        }


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def reply(self, status, body, ctype="text/plain"):
        data = body.encode() if isinstance(body, str) else body
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def json_reply(self, obj):
        self.reply(200, json.dumps(obj), "application/json")

    def creds_reply(self, creds):
        if creds is None:
            return self.reply(500, json.dumps({"code": "InternalError",
                                               "message": "credentials are not available"}),
                              "application/json")
        self.json_reply(creds)

    def drain(self):
        n = int(self.headers.get("Content-Length") or 0)
        if n:
            self.rfile.read(n)

    def token_ok(self):
        st = self.server.state
        tok = self.headers.get("X-aws-ec2-metadata-token")
        with st.lock:
            exp = st.tokens.get(tok) if tok else None
        return exp is not None and exp > time.time()

    def do_PUT(self):
        st = self.server.state
        self.drain()
        if self.path != "/latest/api/token":
            return self.reply(404, "not found")
        ttl = self.headers.get("X-aws-ec2-metadata-token-ttl-seconds")
        if not ttl or not ttl.isdigit() or not 1 <= int(ttl) <= 21600:
            st.log("imds-token-refused 0 -")
            return self.reply(400, "bad ttl")
        tok = secrets.token_urlsafe(32)
        with st.lock:
            st.tokens[tok] = time.time() + int(ttl)
        st.log("imds-token 0 -")
        self.reply(200, tok)

    def do_GET(self):
        st = self.server.state
        a = st.args
        self.drain()
        if a.container_path and self.path == a.container_path:
            if a.container_token and self.headers.get("Authorization") != a.container_token:
                st.log("container-refused 0 -")
                return self.reply(401, json.dumps({"code": "Unauthorized",
                                                   "message": "bad authorization token"}),
                                  "application/json")
            return self.creds_reply(st.next_credentials("container"))
        if self.path.startswith("/latest/"):
            if not self.token_ok():
                st.log("imds-refused 0 -")
                return self.reply(401, "")
            if self.path == ROLE_PATH:
                return self.reply(200, a.role)
            if self.path == ROLE_PATH + a.role:
                return self.creds_reply(st.next_credentials("imds"))
        self.reply(404, "not found")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--port-file", required=True)
    p.add_argument("--keys", required=True)
    p.add_argument("--log", required=True)
    p.add_argument("--first-ttl", type=float, default=3600)
    p.add_argument("--ttl", type=int, default=3600)
    p.add_argument("--container-path", default="/v2/credentials/ci")
    p.add_argument("--container-token", default="")
    p.add_argument("--role", default="cicache-role")
    p.add_argument("--hold", default="")
    p.add_argument("--refuse-after", type=int, default=None)
    args = p.parse_args()
    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    srv.daemon_threads = True
    srv.state = State(args)
    with open(args.port_file + ".tmp", "w") as f:
        f.write(str(srv.server_address[1]))
    os.rename(args.port_file + ".tmp", args.port_file)
    srv.serve_forever()


if __name__ == "__main__":
    main()
