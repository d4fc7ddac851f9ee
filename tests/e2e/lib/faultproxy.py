#!/usr/bin/python3
"""HTTP/1.1 reverse proxy with fault injection, for the e2e tests.

    faultproxy.py --port P --upstream 127.0.0.1:U

Every request is forwarded to the upstream (all headers kept; hop-by-hop ones
dropped), bodies are streamed in chunks both ways, and every response carries
`Connection: close`.  Absolute URLs in Location / WWW-Authenticate that point
at the upstream's own address are rewritten to the proxy's address.

Control endpoints (answered by the proxy, never forwarded):
  POST /__fault   JSON rule, or a list of rules, appended to the rule list:
        {"mode": M, "match": "substring of path+query", "count": N,
         "after": BYTES, "retry_after": SECONDS, "stall": SECONDS,
         "method": "GET"}
      modes:
        drop        forward status+headers and `after` body bytes, then close
                    the connection abruptly (client sees a short body)
        corrupt     flip one byte of the body at offset `after`, keep length
        stall       send headers + `after` bytes, sleep `stall` s, continue
        status500 / status503 / status429 / statusNNN
                    answer that status without contacting the upstream
                    (429 and 503 get `Retry-After: retry_after` if given)
        none        pass through (consumes count; lets a later rule apply
                    only after N matching requests)
        paginate    for GET .../tags/list: fetch the full list upstream and
                    serve it in pages of at most `page` tags (default 50;
                    a smaller client `n` wins), honouring `last`, with a
                    `Link: <...?n=N&last=T>; rel="next"` header, like
                    registries that page by default (distribution 2.8
                    itself ignores `n` on tags/list)
      count: how many matching requests the rule applies to (default 1,
      -1 = forever).  method: optional exact method filter.
      The body modes (drop/corrupt/stall) only fire on, and are only consumed
      by, responses that have a body (not HEAD, status 2xx).
      The first rule (in the order posted) that matches and still has count
      left is used.
  POST /__reset   clears rules and the log
  GET  /__log     JSON list of {method, path, status, range, fault, bytes}
                  for every proxied request, in order; fault is the mode
                  that applied, "corrupt-missed" / "stall-missed" when the
                  body ended before `after` (the rule is used up all the same)
  GET  /__rules   the current rules (debugging)
"""
import argparse
import http.client
import http.server
import json
import socket
import socketserver
import sys
import threading
import time

CHUNK = 64 * 1024
HOP = {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "te",
       "trailer", "upgrade", "proxy-authenticate", "proxy-authorization", "expect"}


class State:
    lock = threading.Lock()
    rules = []
    log = []
    upstream = ("127.0.0.1", 5000)
    self_addr = "127.0.0.1:0"
    verbose = False


BODY_MODES = ("drop", "corrupt", "stall")


def status_of_mode(mode):
    if mode.startswith("status") and mode[6:].isdigit():
        return int(mode[6:])
    return None


def normalize_rule(r):
    if not isinstance(r, dict) or "mode" not in r:
        raise ValueError("rule must be an object with a mode")
    mode = r["mode"]
    if mode not in BODY_MODES and mode not in ("none", "paginate") and status_of_mode(mode) is None:
        raise ValueError("unknown mode %r" % mode)
    return {
        "mode": mode,
        "match": str(r.get("match", "")),
        "count": int(r.get("count", 1)),
        "after": int(r.get("after", 0)),
        "retry_after": r.get("retry_after"),
        "stall": float(r.get("stall", 5)),
        "method": r.get("method"),
        "page": int(r.get("page", 50)),
        "hits": 0,
    }


def find_rule(method, path, body_ok=None):
    """Return the first applicable rule (without consuming it).
    body_ok None = pre-forward decision, otherwise whether the response has a body."""
    for r in State.rules:
        if r["count"] == 0:
            continue
        if r["match"] and r["match"] not in path:
            continue
        if r["method"] and r["method"].upper() != method:
            continue
        if r["mode"] in BODY_MODES:
            if body_ok is None:
                return r          # decided after forwarding
            if not body_ok:
                continue
        return r
    return None


def consume(rule):
    if rule["count"] > 0:
        rule["count"] -= 1
    rule["hits"] += 1


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "e2e-faultproxy/1"

    def log_message(self, fmt, *args):
        if State.verbose:
            sys.stderr.write("faultproxy: " + (fmt % args) + "\n")

    # ---------------------------------------------------------------- control
    def reply_json(self, code, obj):
        body = json.dumps(obj).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)
        self.close_connection = True

    def read_body_fully(self):
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def control(self):
        p = self.path.split("?", 1)[0]
        if p == "/__fault" and self.command == "POST":
            try:
                data = json.loads(self.read_body_fully() or b"{}")
                rules = [normalize_rule(x) for x in (data if isinstance(data, list) else [data])]
            except Exception as e:
                self.reply_json(400, {"error": str(e)})
                return True
            with State.lock:
                State.rules.extend(rules)
            self.reply_json(200, {"rules": len(State.rules)})
            return True
        if p == "/__reset" and self.command == "POST":
            self.read_body_fully()
            with State.lock:
                State.rules = []
                State.log = []
            self.reply_json(200, {"ok": True})
            return True
        if p == "/__log" and self.command == "GET":
            with State.lock:
                self.reply_json(200, list(State.log))
            return True
        if p == "/__rules" and self.command == "GET":
            with State.lock:
                self.reply_json(200, list(State.rules))
            return True
        return False

    # ---------------------------------------------------------------- proxy
    def rewrite(self, value):
        up = "%s:%d" % State.upstream
        for scheme in ("http://", "https://"):
            value = value.replace(scheme + up, "http://" + State.self_addr)
        return value

    def body_iter(self):
        te = (self.headers.get("Transfer-Encoding") or "").lower()
        if "chunked" in te:
            while True:
                line = self.rfile.readline()
                size = int(line.split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    # trailers until empty line
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return
                left = size
                while left:
                    b = self.rfile.read(min(left, CHUNK))
                    if not b:
                        return
                    left -= len(b)
                    yield b
                self.rfile.readline()
        else:
            left = int(self.headers.get("Content-Length") or 0)
            while left > 0:
                b = self.rfile.read(min(left, CHUNK))
                if not b:
                    return
                left -= len(b)
                yield b

    def handle_one(self):
        if self.path.startswith("/__") and self.control():
            return
        self.close_connection = True
        method = self.command
        path = self.path
        entry = {"method": method, "path": path, "status": None,
                 "range": self.headers.get("Range"), "fault": None, "bytes": 0,
                 "time": round(time.time(), 3)}
        with State.lock:
            State.log.append(entry)
            rule = find_rule(method, path)
            pre = None
            if rule is not None and rule["mode"] not in BODY_MODES:
                consume(rule)
                pre = dict(rule)

        if pre is not None and pre["mode"] == "paginate":
            if method == "GET" and "/tags/list" in path:
                self.paginate(pre, entry)
                return
            pre = None

        if pre is not None and pre["mode"] != "none":
            # answer ourselves, without contacting the upstream
            for _ in self.body_iter():
                pass
            code = status_of_mode(pre["mode"])
            body = json.dumps({"errors": [{"code": "INJECTED", "message": "faultproxy %s" % pre["mode"]}]}).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            if pre["retry_after"] is not None and code in (429, 503):
                self.send_header("Retry-After", str(pre["retry_after"]))
            self.send_header("Connection", "close")
            self.end_headers()
            if method != "HEAD":
                self.wfile.write(body)
            entry.update(status=code, fault=pre["mode"])
            return

        # forward
        conn = http.client.HTTPConnection(*State.upstream, timeout=120)
        try:
            conn.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
            has_body = False
            chunked = "chunked" in (self.headers.get("Transfer-Encoding") or "").lower()
            for k, v in self.headers.items():
                if k.lower() in HOP:
                    continue
                if k.lower() == "content-length":
                    has_body = int(v or 0) > 0
                conn.putheader(k, v)
            if chunked:
                conn.putheader("Transfer-Encoding", "chunked")
                has_body = True
            conn.endheaders()
            if has_body:
                for b in self.body_iter():
                    if chunked:
                        conn.send(b"%x\r\n%s\r\n" % (len(b), b))
                    else:
                        conn.send(b)
                if chunked:
                    conn.send(b"0\r\n\r\n")
            resp = conn.getresponse()
        except Exception as e:
            conn.close()
            body = ("faultproxy: upstream error: %s" % e).encode()
            self.send_response(502)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(body)
            entry.update(status=502, fault="upstream-error")
            return

        status = resp.status
        resp_has_body = method != "HEAD" and 200 <= status < 300 and status not in (204, 304)
        with State.lock:
            rule = find_rule(method, path, body_ok=resp_has_body)
            if rule is not None and rule["mode"] in BODY_MODES:
                consume(rule)
                rule = dict(rule)
            else:
                rule = None
        entry.update(status=status, fault=rule["mode"] if rule else None)

        self.send_response_only(status, resp.reason)
        length = None
        for k, v in resp.getheaders():
            kl = k.lower()
            if kl in HOP:
                continue
            if kl == "content-length":
                length = int(v)
            if kl in ("location", "www-authenticate"):
                v = self.rewrite(v)
            self.send_header(k, v)
        self.send_header("Connection", "close")
        self.end_headers()

        sent = 0
        try:
            if method == "HEAD" or status in (204, 304) or 100 <= status < 200:
                return
            while True:
                b = resp.read(CHUNK)
                if not b:
                    break
                if rule is not None:
                    mode, after = rule["mode"], rule["after"]
                    if mode == "corrupt" and sent <= after < sent + len(b):
                        i = after - sent
                        b = b[:i] + bytes([b[i] ^ 0xFF]) + b[i + 1:]
                        rule = None
                    elif mode in ("drop", "stall") and sent + len(b) > after and sent <= after:
                        head = b[:after - sent]
                        if head:
                            self.wfile.write(head)
                            self.wfile.flush()
                            sent += len(head)
                        if mode == "drop":
                            entry["bytes"] = sent
                            self.abort()
                            return
                        time.sleep(rule["stall"])
                        b = b[len(head):]
                        rule = None
                        if not b:
                            continue
                self.wfile.write(b)
                sent += len(b)
            if rule is not None and rule["mode"] == "drop":
                # body shorter than `after`: still cut the connection
                self.wfile.flush()
                entry["bytes"] = sent
                self.abort()
                return
            if rule is not None:
                # the body ended before `after`: the fault did not happen
                entry["fault"] = rule["mode"] + "-missed"
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError, socket.timeout, OSError):
            entry["client_gone"] = True
        finally:
            entry["bytes"] = sent
            conn.close()

    def paginate(self, rule, entry):
        import urllib.parse
        u = urllib.parse.urlsplit(self.path)
        q = urllib.parse.parse_qs(u.query)
        conn = http.client.HTTPConnection(*State.upstream, timeout=60)
        hdrs = {k: v for k, v in self.headers.items() if k.lower() not in HOP}
        conn.request("GET", u.path, headers=hdrs)
        resp = conn.getresponse()
        data = resp.read()
        conn.close()
        if resp.status != 200:
            self.send_response_only(resp.status, resp.reason)
            for k, v in resp.getheaders():
                if k.lower() not in HOP:
                    self.send_header(k, self.rewrite(v) if k.lower() == "www-authenticate" else v)
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(data)
            entry.update(status=resp.status, fault="paginate")
            return
        doc = json.loads(data)
        tags = sorted(doc.get("tags") or [])
        last = (q.get("last") or [""])[0]
        if last:
            tags = [t for t in tags if t > last]
        n = rule["page"]
        try:
            if q.get("n"):
                n = min(n, int(q["n"][0]))
        except ValueError:
            pass
        page, more = tags[:n], len(tags) > n
        body = json.dumps({"name": doc.get("name"), "tags": page}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        if more and page:
            self.send_header("Link", '<%s?n=%d&last=%s>; rel="next"' % (
                u.path, n, urllib.parse.quote(page[-1])))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)
        entry.update(status=200, fault="paginate")

    def abort(self):
        self.close_connection = True
        try:
            self.wfile.flush()
        except OSError:
            pass
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        try:
            self.connection.close()
        except OSError:
            pass

    def __getattr__(self, name):
        if name.startswith("do_"):
            return self.handle_one
        raise AttributeError(name)


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 64

    def handle_error(self, request, client_address):
        if State.verbose:
            super().handle_error(request, client_address)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--upstream", required=True, help="HOST:PORT of the registry")
    ap.add_argument("-v", "--verbose", action="store_true")
    a = ap.parse_args()
    h, _, p = a.upstream.rpartition(":")
    State.upstream = (h, int(p))
    State.self_addr = "%s:%d" % (a.host, a.port)
    State.verbose = a.verbose
    srv = Server((a.host, a.port), Handler)
    sys.stdout.write("faultproxy %s -> %s\n" % (State.self_addr, a.upstream))
    sys.stdout.flush()
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
