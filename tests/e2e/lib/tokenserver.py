#!/usr/bin/python3
"""Docker Registry v2 Bearer token service for the e2e tests.

GET /token?service=S&scope=repository:NAME:pull,push[&scope=...][&account=U]
with optional Basic auth.  Returns {"token","access_token","expires_in","issued_at"}.

The JWT is RS256-signed with --key; its header carries the --cert chain in
`x5c`, which distribution verifies against its `rootcertbundle`.

Access policy:
  * authenticated user (--user NAME:PASS) gets every requested action;
  * wrong credentials -> 401;
  * anonymous gets `pull` on repositories if --anonymous-pull, else an empty
    access list (the registry then answers 401 for the real request).
Only stdlib + cryptography.
"""
import argparse
import base64
import datetime
import http.server
import json
import os
import re
import socketserver
import sys
import threading
import time
import urllib.parse

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class State:
    key = None
    x5c = []
    issuer = ""
    service = ""
    users = {}
    expires = 300
    anonymous_pull = False
    log = None
    lock = threading.Lock()
    counter = 0


def parse_scope(scope):
    # repository:NAME:actions   (NAME may contain ':' only as host:port, e.g.
    # repository:127.0.0.1:5000/foo:pull is not valid for distribution but be lenient:
    # type is before first ':', actions after last ':')
    first = scope.find(":")
    last = scope.rfind(":")
    if first < 0 or last <= first:
        return None
    typ = scope[:first]
    name = scope[first + 1:last]
    actions = [a for a in scope[last + 1:].split(",") if a]
    return typ, name, actions


def make_jwt(sub, access):
    now = int(time.time())
    with State.lock:
        State.counter += 1
        jti = "%d-%d-%d" % (os.getpid(), now, State.counter)
    header = {"typ": "JWT", "alg": "RS256", "x5c": State.x5c}
    claims = {
        "iss": State.issuer,
        "sub": sub,
        "aud": State.service,
        "exp": now + State.expires,
        "nbf": now - 10,
        "iat": now,
        "jti": jti,
        "access": access,
    }
    signing_input = (b64url(json.dumps(header, separators=(",", ":")).encode()) + "." +
                     b64url(json.dumps(claims, separators=(",", ":")).encode()))
    sig = State.key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
    return signing_input + "." + b64url(sig)


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "e2e-tokenserver/1"

    def log_message(self, fmt, *args):  # quiet
        pass

    def send_json(self, code, obj, extra=None):
        body = json.dumps(obj).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def do_HEAD(self):
        self.do_GET()

    def do_POST(self):
        # OAuth2 form flow (grant_type=password) is optional in the spec;
        # answer 404 so clients fall back to GET.
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        self.send_json(404, {"errors": [{"code": "UNSUPPORTED", "message": "use GET"}]})

    def do_GET(self):
        u = urllib.parse.urlsplit(self.path)
        if u.path == "/healthz":
            self.send_json(200, {"ok": True})
            return
        if u.path != "/token":
            self.send_json(404, {"errors": [{"code": "NOT_FOUND", "message": u.path}]})
            return
        q = urllib.parse.parse_qs(u.query, keep_blank_values=True)
        service = (q.get("service") or [""])[0]
        scopes = []
        for s in q.get("scope", []):
            # a scope parameter may hold several space-separated scopes
            scopes.extend(x for x in s.split(" ") if x)

        user = ""
        authz = self.headers.get("Authorization", "")
        if authz.lower().startswith("basic "):
            try:
                dec = base64.b64decode(authz[6:].strip()).decode()
                name, _, pw = dec.partition(":")
            except Exception:
                self.send_json(400, {"errors": [{"code": "BAD_REQUEST", "message": "bad basic auth"}]})
                return
            if State.users.get(name) != pw or name == "":
                self._log(scopes, "!" + name, 401)
                self.send_json(401, {"errors": [{"code": "UNAUTHORIZED", "message": "invalid credentials"}]},
                               {"WWW-Authenticate": 'Basic realm="e2e-token"'})
                return
            user = name

        if service and service != State.service:
            self._log(scopes, user, 400)
            self.send_json(400, {"errors": [{"code": "BAD_REQUEST", "message": "unknown service %s" % service}]})
            return

        access = []
        for s in scopes:
            p = parse_scope(s)
            if p is None:
                continue
            typ, name, actions = p
            if user:
                granted = [a for a in actions if a in ("pull", "push", "delete", "*")]
            elif State.anonymous_pull and typ == "repository":
                granted = [a for a in actions if a == "pull"]
            else:
                granted = []
            if typ == "registry" and name == "catalog" and user:
                granted = ["*"]
            if granted:
                access.append({"type": typ, "name": name, "actions": granted})

        tok = make_jwt(user, access)
        self._log(scopes, user or "-", 200)
        now = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
        self.send_json(200, {
            "token": tok,
            "access_token": tok,
            "expires_in": State.expires,
            "issued_at": now.isoformat().replace("+00:00", "Z"),
        })

    def _log(self, scopes, user, code):
        if not State.log:
            return
        line = "%s user=%s status=%d scope=%s\n" % (
            time.strftime("%H:%M:%S"), user or "-", code, " ".join(scopes) or "-")
        with State.lock:
            with open(State.log, "a") as f:
                f.write(line)


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--key", required=True, help="RSA private key PEM")
    ap.add_argument("--cert", required=True, help="certificate chain PEM (goes in x5c)")
    ap.add_argument("--issuer", required=True)
    ap.add_argument("--service", required=True)
    ap.add_argument("--user", action="append", default=[], help="NAME:PASSWORD, repeatable")
    ap.add_argument("--expires", type=int, default=300)
    ap.add_argument("--anonymous-pull", action="store_true")
    ap.add_argument("--log")
    a = ap.parse_args()

    with open(a.key, "rb") as f:
        State.key = serialization.load_pem_private_key(f.read(), password=None)
    with open(a.cert, "rb") as f:
        pem = f.read()
    # load_pem_x509_certificates needs cryptography >= 39; split by hand
    certs = [x509.load_pem_x509_certificate(m.group(0)) for m in
             re.finditer(rb"-----BEGIN CERTIFICATE-----.+?-----END CERTIFICATE-----", pem, re.S)]
    State.x5c = [base64.b64encode(c.public_bytes(serialization.Encoding.DER)).decode() for c in certs]
    State.issuer = a.issuer
    State.service = a.service
    for u in a.user:
        name, sep, pw = u.partition(":")
        if not sep:
            ap.error("--user wants NAME:PASSWORD")
        State.users[name] = pw
    State.expires = a.expires
    State.anonymous_pull = a.anonymous_pull
    State.log = a.log

    srv = Server((a.host, a.port), Handler)
    sys.stdout.write("tokenserver listening on %s:%d\n" % (a.host, a.port))
    sys.stdout.flush()
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
