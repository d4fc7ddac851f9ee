#!/usr/bin/env python3
"""s3tool.py: a small S3 client for the e2e tests, the standard library only.

The independent oracle the tests use to look at a bucket: it shares no code
with ocimirror's own S3 client. Path-style requests, AWS Signature V4 in the
Authorization header, every request carrying x-amz-content-sha256 (RGW wants
it). Endpoint and credentials from the environment:

    S3_ENDPOINT             http://127.0.0.1:PORT (https:// works too)
    AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY
    AWS_REGION              the signing region (default us-east-1)

Subcommands (exit 0 on success; otherwise a one-line message on stderr and
exit 1; 2 for usage errors):

    ping                            list the buckets (an authenticated GET /)
    mb BUCKET                       create a bucket (an existing one of ours: ok)
    rb BUCKET                       remove an (empty) bucket
    ls BUCKET [PREFIX] [--recursive] [--max-keys N]
                                    "SIZE KEY" per object, "PRE PREFIX" per
                                    common prefix (without --recursive, "/"
                                    is the delimiter); pages of N (1000) keys
    get BUCKET KEY [FILE] [--range A-B]
                                    the object to FILE (default stdout)
    put BUCKET KEY FILE|- [--if-none-match ETAG|*] [--if-match ETAG]
                                    prints the HTTP status; exit 0 on 2xx
    head BUCKET KEY                 prints "SIZE ETAG"; exit 1 when absent
    rm BUCKET KEY [--if-match ETAG] prints the HTTP status; exit 0 on 2xx
    rm-prefix BUCKET PREFIX         delete every object under PREFIX
    mpu-start BUCKET KEY            prints the UploadId
    mpu-ls BUCKET [PREFIX]          "KEY UPLOADID" per open multipart upload
    mpu-abort BUCKET KEY UPLOADID
    mpu-part BUCKET KEY UPLOADID N FILE
                                    uploads part N (in memory), prints its ETag
    mpu-complete BUCKET KEY UPLOADID N:ETAG...
                                    completes the upload, prints the answer's
                                    ETag (RGW 16: an empty line)
    mirror BUCKET PREFIX DIR        every object under PREFIX into DIR, as
                                    DIR/<key without PREFIX> (keys holding
                                    "..", "." or empty segments are refused)
    race BUCKET KEY N --if-none-match ETAG|* | --if-match ETAG
                                    N conditional PUTs at once, writer I's body
                                    "writer I"; prints "I STATUS ERRORCODE|-"
                                    per writer (STATUS "-": no answer)
    presign BUCKET KEY [SECONDS]    prints a presigned GET URL (default 300 s)
    raw METHOD BUCKET KEY [--query Q] [--header 'N: V']... [--body FILE]
        [--sha256 HEX|UNSIGNED-PAYLOAD]   (the x-amz-content-sha256 to send)
                                    prints the status, then the headers
                                    ("name: value", lower-case), body to stdout
                                    after an empty line; exit 0 whatever the
                                    status (for probing the server)
"""

import datetime
import hashlib
import hmac
import http.client
import os
import signal
import sys
import urllib.parse
import xml.etree.ElementTree as ET

TIMEOUT = 60
MAX_PAGES = 10000  # bounds every listing loop
MAX_XML = 64 << 20  # bytes of one XML answer we read
S3NS = "{http://s3.amazonaws.com/doc/2006-03-01/}"
EMPTY_SHA = hashlib.sha256(b"").hexdigest()


class S3Error(Exception):
    pass


def die(msg, code=1):
    sys.stderr.write("s3tool: %s\n" % msg)
    sys.exit(code)


def env(name, default=None):
    v = os.environ.get(name, default)
    if v is None or v == "":
        die("%s is not set" % name, 2)
    return v


def q(s, safe=""):
    # RFC 3986 unreserved characters stay, everything else %XX (UTF-8)
    return urllib.parse.quote(s, safe=safe + "-_.~")


class Client:
    def __init__(self):
        ep = urllib.parse.urlsplit(env("S3_ENDPOINT"))
        if ep.scheme not in ("http", "https") or not ep.hostname:
            die("S3_ENDPOINT must be http[s]://HOST[:PORT]", 2)
        self.scheme = ep.scheme
        self.netloc = ep.netloc
        self.base = ep.path.rstrip("/")
        self.access = env("AWS_ACCESS_KEY_ID")
        self.secret = env("AWS_SECRET_ACCESS_KEY")
        self.region = os.environ.get("AWS_REGION") or "us-east-1"
        self.conn = None

    def _conn(self):
        if self.conn is None:
            cls = http.client.HTTPSConnection if self.scheme == "https" else http.client.HTTPConnection
            self.conn = cls(self.netloc, timeout=TIMEOUT)
        return self.conn

    def path(self, bucket, key=""):
        p = self.base + "/" + q(bucket)
        if not bucket:
            return p
        if key:
            p += "/" + q(key, safe="/")
        return p

    def _key(self, date):
        k = ("AWS4" + self.secret).encode()
        for part in (date, self.region, "s3", "aws4_request"):
            k = hmac.new(k, part.encode(), hashlib.sha256).digest()
        return k

    @staticmethod
    def canonical_query(params):
        return "&".join("%s=%s" % (q(k), q(v)) for k, v in sorted(params))

    def sign(self, method, path, params, headers, payload_sha):
        now = datetime.datetime.now(datetime.timezone.utc)
        amzdate = now.strftime("%Y%m%dT%H%M%SZ")
        date = amzdate[:8]
        headers["host"] = self.netloc
        headers["x-amz-date"] = amzdate
        headers["x-amz-content-sha256"] = payload_sha
        names = sorted(h.lower() for h in headers)
        lower = {k.lower(): " ".join(str(v).strip().split()) for k, v in headers.items()}
        canon = "\n".join([
            method, path, self.canonical_query(params),
            "".join("%s:%s\n" % (n, lower[n]) for n in names),
            ";".join(names), payload_sha])
        scope = "%s/%s/s3/aws4_request" % (date, self.region)
        sts = "\n".join(["AWS4-HMAC-SHA256", amzdate, scope,
                         hashlib.sha256(canon.encode()).hexdigest()])
        sig = hmac.new(self._key(date), sts.encode(), hashlib.sha256).hexdigest()
        headers["authorization"] = ("AWS4-HMAC-SHA256 Credential=%s/%s, SignedHeaders=%s, Signature=%s"
                                    % (self.access, scope, ";".join(names), sig))

    def presign(self, bucket, key, expires):
        now = datetime.datetime.now(datetime.timezone.utc)
        amzdate = now.strftime("%Y%m%dT%H%M%SZ")
        date = amzdate[:8]
        scope = "%s/%s/s3/aws4_request" % (date, self.region)
        path = self.path(bucket, key)
        params = [("X-Amz-Algorithm", "AWS4-HMAC-SHA256"),
                  ("X-Amz-Credential", "%s/%s" % (self.access, scope)),
                  ("X-Amz-Date", amzdate), ("X-Amz-Expires", str(expires)),
                  ("X-Amz-SignedHeaders", "host")]
        canon = "\n".join(["GET", path, self.canonical_query(params),
                           "host:%s\n" % self.netloc, "host", "UNSIGNED-PAYLOAD"])
        sts = "\n".join(["AWS4-HMAC-SHA256", amzdate, scope,
                         hashlib.sha256(canon.encode()).hexdigest()])
        sig = hmac.new(self._key(date), sts.encode(), hashlib.sha256).hexdigest()
        return "%s://%s%s?%s&X-Amz-Signature=%s" % (self.scheme, self.netloc, path,
                                                    self.canonical_query(params), sig)

    def request(self, method, bucket, key="", params=(), headers=None, body=b"", body_sha=None):
        """One signed request; returns the response with its body unread.
        body: bytes or a file object (then body_sha and content-length must
        be given)."""
        params = list(params)
        headers = dict(headers or {})
        if body_sha is None:
            body_sha = hashlib.sha256(body).hexdigest() if body else EMPTY_SHA
        if isinstance(body, (bytes, bytearray)) and (body or method in ("PUT", "POST")):
            headers["content-length"] = str(len(body))
        path = self.path(bucket, key)
        self.sign(method, path, params, headers, body_sha)
        target = path
        if params:
            target += "?" + "&".join(q(k) if v == "" else "%s=%s" % (q(k), q(v)) for k, v in params)
        for attempt in (1, 2):
            c = self._conn()
            try:
                c.putrequest(method, target, skip_host=True, skip_accept_encoding=True)
                for k, v in headers.items():
                    c.putheader(k, v)
                c.endheaders()
                if isinstance(body, (bytes, bytearray)):
                    if body:
                        c.send(body)
                else:
                    while True:
                        chunk = body.read(1 << 20)
                        if not chunk:
                            break
                        c.send(chunk)
                return c.getresponse()
            except (ConnectionError, http.client.RemoteDisconnected, http.client.BadStatusLine):
                # a kept-alive connection the server closed: once more, fresh
                self.conn.close()
                self.conn = None
                if attempt == 2 or not isinstance(body, (bytes, bytearray)):
                    raise
            except OSError as e:
                raise S3Error("%s %s: %s" % (method, target, e))
        raise S3Error("unreachable")

    def call(self, method, bucket, key="", params=(), headers=None, body=b"", ok=(200,), **kw):
        """A request whose whole (bounded) body is read; raises S3Error
        unless the status is in ok. Returns (response, body bytes)."""
        r = self.request(method, bucket, key, params, headers, body, **kw)
        data = r.read(MAX_XML + 1)
        if len(data) > MAX_XML:
            raise S3Error("%s %s/%s: answer over %d bytes" % (method, bucket, key, MAX_XML))
        if r.status not in ok:
            raise S3Error("%s %s/%s: HTTP %d %s" % (method, bucket, key, r.status, err_text(data)))
        return r, data


def err_text(data):
    try:
        root = ET.fromstring(data)
        code = root.findtext("Code") or ""
        msg = root.findtext("Message") or ""
        return (code + (": " + msg if msg else "")).strip()
    except ET.ParseError:
        return data[:200].decode("utf-8", "replace").strip()


def xml_find(el, name):
    r = el.find(S3NS + name)
    return r if r is not None else el.find(name)


def xml_all(el, name):
    return el.findall(S3NS + name) + el.findall(name)


def xml_text(el, name):
    r = xml_find(el, name)
    return r.text or "" if r is not None else ""


def list_objects(c, bucket, prefix="", delimiter="", page=1000):
    """Yields ("obj", key, size) and ("pre", prefix, 0), every page (of
    page keys at most)."""
    token = None
    for _ in range(MAX_PAGES):
        params = [("list-type", "2"), ("max-keys", str(page))]
        if prefix:
            params.append(("prefix", prefix))
        if delimiter:
            params.append(("delimiter", delimiter))
        if token:
            params.append(("continuation-token", token))
        _, data = c.call("GET", bucket, params=params)
        root = ET.fromstring(data)
        for e in xml_all(root, "Contents"):
            yield ("obj", xml_text(e, "Key"), int(xml_text(e, "Size") or "0"))
        for e in xml_all(root, "CommonPrefixes"):
            yield ("pre", xml_text(e, "Prefix"), 0)
        if xml_text(root, "IsTruncated") != "true":
            return
        token = xml_text(root, "NextContinuationToken")
        if not token:
            raise S3Error("list %s: truncated without a continuation token" % bucket)
    raise S3Error("list %s: more than %d pages" % (bucket, MAX_PAGES))


def list_uploads(c, bucket, prefix=""):
    km = um = None
    for _ in range(MAX_PAGES):
        params = [("uploads", "")]
        if prefix:
            params.append(("prefix", prefix))
        if km:
            params += [("key-marker", km), ("upload-id-marker", um or "")]
        _, data = c.call("GET", bucket, params=params)
        root = ET.fromstring(data)
        for e in xml_all(root, "Upload"):
            yield xml_text(e, "Key"), xml_text(e, "UploadId")
        if xml_text(root, "IsTruncated") != "true":
            return
        km, um = xml_text(root, "NextKeyMarker"), xml_text(root, "NextUploadIdMarker")
        if not km:
            raise S3Error("list uploads %s: truncated without a marker" % bucket)
    raise S3Error("list uploads %s: more than %d pages" % (bucket, MAX_PAGES))


def opts(args, names, flags=()):
    """Splits --name VALUE options (names; repeated ones into lists) and
    --flag switches out of args; returns (positional, dict)."""
    pos, got = [], {}
    i = 0
    while i < len(args):
        a = args[i]
        if a in names:
            if i + 1 >= len(args):
                die("%s needs a value" % a, 2)
            got.setdefault(a, []).append(args[i + 1])
            i += 2
        elif a in flags:
            got[a] = True
            i += 1
        elif a.startswith("--") and a != "-":
            die("unknown option %s" % a, 2)
        else:
            pos.append(a)
            i += 1
    return pos, got


def need(pos, lo, hi, usage):
    if not lo <= len(pos) <= hi:
        die("usage: s3tool.py " + usage, 2)


def cmd_ping(c, args):
    need(args, 0, 0, "ping")
    c.call("GET", "")


def cmd_mb(c, args):
    need(args, 1, 1, "mb BUCKET")
    r, data = c.call("PUT", args[0], ok=(200, 409))
    if r.status == 409 and "BucketAlreadyOwnedByYou" not in err_text(data):
        raise S3Error("PUT %s: HTTP 409 %s" % (args[0], err_text(data)))


def cmd_rb(c, args):
    need(args, 1, 1, "rb BUCKET")
    c.call("DELETE", args[0], ok=(204, 200))


def cmd_ls(c, args):
    pos, o = opts(args, ("--max-keys",), ("--recursive",))
    need(pos, 1, 2, "ls BUCKET [PREFIX] [--recursive] [--max-keys N]")
    prefix = pos[1] if len(pos) > 1 else ""
    page = int(o["--max-keys"][-1]) if "--max-keys" in o else 1000
    if not 1 <= page <= 1000:
        die("--max-keys: from 1 to 1000", 2)
    out = sys.stdout
    for kind, name, size in list_objects(c, pos[0], prefix, "" if o.get("--recursive") else "/", page):
        out.write("%d %s\n" % (size, name) if kind == "obj" else "PRE %s\n" % name)


def copy_body(r, f):
    while True:
        chunk = r.read(1 << 20)
        if not chunk:
            return
        f.write(chunk)


def cmd_get(c, args):
    pos, o = opts(args, ("--range",))
    need(pos, 2, 3, "get BUCKET KEY [FILE] [--range A-B]")
    h = {}
    if "--range" in o:
        h["range"] = "bytes=" + o["--range"][-1]
    r = c.request("GET", pos[0], pos[1], headers=h)
    if r.status not in (200, 206):
        raise S3Error("GET %s/%s: HTTP %d %s" % (pos[0], pos[1], r.status, err_text(r.read(65536))))
    if len(pos) == 3 and pos[2] != "-":
        tmp = pos[2] + ".s3tool-part"
        with open(tmp, "wb") as f:
            copy_body(r, f)
        os.replace(tmp, pos[2])
    else:
        copy_body(r, sys.stdout.buffer)
        sys.stdout.buffer.flush()


def cmd_put(c, args):
    pos, o = opts(args, ("--if-none-match", "--if-match", "--content-type"))
    need(pos, 3, 3, "put BUCKET KEY FILE|- [--if-none-match ETAG|*] [--if-match ETAG]")
    h = {}
    if "--if-none-match" in o:
        h["if-none-match"] = o["--if-none-match"][-1]
    if "--if-match" in o:
        h["if-match"] = o["--if-match"][-1]
    if "--content-type" in o:
        h["content-type"] = o["--content-type"][-1]
    if pos[2] == "-":
        r = c.request("PUT", pos[0], pos[1], headers=h, body=sys.stdin.buffer.read())
    else:
        sha = hashlib.sha256()
        size = 0
        with open(pos[2], "rb") as f:
            while True:
                chunk = f.read(1 << 20)
                if not chunk:
                    break
                sha.update(chunk)
                size += len(chunk)
            f.seek(0)
            h["content-length"] = str(size)
            r = c.request("PUT", pos[0], pos[1], headers=h, body=f, body_sha=sha.hexdigest())
    data = r.read(65536)
    print(r.status)
    if not 200 <= r.status < 300:
        raise S3Error("PUT %s/%s: HTTP %d %s" % (pos[0], pos[1], r.status, err_text(data)))


def cmd_head(c, args):
    need(args, 2, 2, "head BUCKET KEY")
    r = c.request("HEAD", args[0], args[1])
    r.read()
    if r.status != 200:
        raise S3Error("HEAD %s/%s: HTTP %d" % (args[0], args[1], r.status))
    print("%s %s" % (r.getheader("content-length", "?"), (r.getheader("etag") or "").strip('"')))


def cmd_rm(c, args):
    pos, o = opts(args, ("--if-match",))
    need(pos, 2, 2, "rm BUCKET KEY [--if-match ETAG]")
    h = {}
    if "--if-match" in o:
        h["if-match"] = o["--if-match"][-1]
    r = c.request("DELETE", pos[0], pos[1], headers=h)
    data = r.read(65536)
    print(r.status)
    if not 200 <= r.status < 300:
        raise S3Error("DELETE %s/%s: HTTP %d %s" % (pos[0], pos[1], r.status, err_text(data)))


def cmd_rm_prefix(c, args):
    need(args, 2, 2, "rm-prefix BUCKET PREFIX")
    keys = [k for kind, k, _ in list_objects(c, args[0], args[1]) if kind == "obj"]
    for k in keys:
        c.call("DELETE", args[0], k, ok=(204, 200, 404))


def cmd_mpu_start(c, args):
    need(args, 2, 2, "mpu-start BUCKET KEY")
    _, data = c.call("POST", args[0], args[1], params=[("uploads", "")])
    uid = xml_text(ET.fromstring(data), "UploadId")
    if not uid:
        raise S3Error("mpu-start %s/%s: no UploadId in the answer" % (args[0], args[1]))
    print(uid)


def cmd_mpu_ls(c, args):
    need(args, 1, 2, "mpu-ls BUCKET [PREFIX]")
    for k, u in list_uploads(c, args[0], args[1] if len(args) > 1 else ""):
        print("%s %s" % (k, u))


def cmd_mpu_abort(c, args):
    need(args, 3, 3, "mpu-abort BUCKET KEY UPLOADID")
    c.call("DELETE", args[0], args[1], params=[("uploadId", args[2])], ok=(204, 200))


def cmd_mpu_part(c, args):
    need(args, 5, 5, "mpu-part BUCKET KEY UPLOADID N FILE")
    with open(args[4], "rb") as f:
        body = f.read()
    r, _ = c.call("PUT", args[0], args[1], params=[("partNumber", args[3]), ("uploadId", args[2])], body=body)
    print((r.getheader("etag") or "").strip('"'))


def cmd_mpu_complete(c, args):
    need(args, 4, 10000 + 3, "mpu-complete BUCKET KEY UPLOADID N:ETAG...")
    parts = []
    for a in args[3:]:
        n, _, e = a.partition(":")
        if not n.isdigit() or not e:
            die("mpu-complete: want N:ETAG, got %r" % a, 2)
        parts.append("<Part><PartNumber>%d</PartNumber><ETag>\"%s\"</ETag></Part>" % (int(n), e.strip('"')))
    body = ("<CompleteMultipartUpload>%s</CompleteMultipartUpload>" % "".join(parts)).encode()
    _, data = c.call("POST", args[0], args[1], params=[("uploadId", args[2])], body=body)
    root = ET.fromstring(data)
    if root.tag.endswith("Error"):
        raise S3Error("mpu-complete %s/%s: %s" % (args[0], args[1], err_text(data)))
    print(xml_text(root, "ETag").strip('"'))


def cmd_race(c, args):
    pos, o = opts(args, ("--if-none-match", "--if-match"))
    need(pos, 3, 3, "race BUCKET KEY N --if-none-match ETAG|* | --if-match ETAG")
    import threading
    n = int(pos[2])
    if not 2 <= n <= 64:
        die("race: N from 2 to 64", 2)
    h = {}
    if "--if-none-match" in o:
        h["if-none-match"] = o["--if-none-match"][-1]
    if "--if-match" in o:
        h["if-match"] = o["--if-match"][-1]
    if not h:
        die("race: --if-none-match or --if-match", 2)
    barrier = threading.Barrier(n, timeout=TIMEOUT)
    res = ["- no answer"] * n

    def writer(i):
        w = Client()
        try:
            barrier.wait()
            r = w.request("PUT", pos[0], pos[1], headers=dict(h), body=b"writer %d" % i)
            data = r.read(65536)
            res[i] = "%d %s" % (r.status, err_text(data).split(":")[0] if r.status >= 300 else "-")
        except (OSError, http.client.HTTPException, S3Error, threading.BrokenBarrierError) as e:
            res[i] = "- %s" % str(e).replace("\n", " ")[:100]

    ts = [threading.Thread(target=writer, args=(i,)) for i in range(n)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(2 * TIMEOUT)
    for i, line in enumerate(res):
        print("%d %s" % (i, line))


def cmd_mirror(c, args):
    need(args, 3, 3, "mirror BUCKET PREFIX DIR")
    bucket, prefix, root = args
    if prefix and not prefix.endswith("/"):
        prefix += "/"
    os.makedirs(root, exist_ok=True)
    for kind, key, _ in list_objects(c, bucket, prefix):
        if kind != "obj":
            continue
        rel = key[len(prefix):]
        if rel.endswith("/") or rel == "":
            continue  # a directory marker
        parts = rel.split("/")
        if any(p in ("", ".", "..") for p in parts):
            raise S3Error("mirror: refusing key %r" % key)
        dest = os.path.join(root, *parts)
        os.makedirs(os.path.dirname(dest), exist_ok=True)
        r = c.request("GET", bucket, key)
        if r.status != 200:
            raise S3Error("GET %s/%s: HTTP %d %s" % (bucket, key, r.status, err_text(r.read(65536))))
        with open(dest, "wb") as f:
            copy_body(r, f)


def cmd_presign(c, args):
    need(args, 2, 3, "presign BUCKET KEY [SECONDS]")
    print(c.presign(args[0], args[1], int(args[2]) if len(args) > 2 else 300))


def cmd_raw(c, args):
    pos, o = opts(args, ("--query", "--header", "--body", "--sha256"))
    need(pos, 2, 3, "raw METHOD BUCKET [KEY] [--query Q] [--header 'N: V'] [--body FILE] [--sha256 V]")
    params = urllib.parse.parse_qsl(o["--query"][-1], keep_blank_values=True) if "--query" in o else []
    h = {}
    for line in o.get("--header", []):
        n, _, v = line.partition(":")
        h[n.strip().lower()] = v.strip()
    body = b""
    if "--body" in o:
        with open(o["--body"][-1], "rb") as f:
            body = f.read()
    sha = o["--sha256"][-1] if "--sha256" in o else None
    r = c.request(pos[0].upper(), pos[1], pos[2] if len(pos) > 2 else "", params, h, body, body_sha=sha)
    data = r.read(MAX_XML)
    out = sys.stdout.buffer
    out.write(b"%d\n" % r.status)
    for k, v in r.getheaders():
        out.write(("%s: %s\n" % (k.lower(), v)).encode())
    out.write(b"\n" + data)
    out.flush()


CMDS = {
    "ping": cmd_ping, "mb": cmd_mb, "rb": cmd_rb, "ls": cmd_ls, "get": cmd_get, "put": cmd_put,
    "head": cmd_head, "rm": cmd_rm, "rm-prefix": cmd_rm_prefix,
    "mpu-start": cmd_mpu_start, "mpu-ls": cmd_mpu_ls, "mpu-abort": cmd_mpu_abort,
    "race": cmd_race, "mpu-part": cmd_mpu_part, "mpu-complete": cmd_mpu_complete,
    "mirror": cmd_mirror, "presign": cmd_presign, "raw": cmd_raw,
}


def main():
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)  # `| head` is no error
    if len(sys.argv) < 2 or sys.argv[1] not in CMDS:
        die("usage: s3tool.py %s ... (see the docstring)" % "|".join(CMDS), 2)
    c = Client()
    try:
        CMDS[sys.argv[1]](c, sys.argv[2:])
    except S3Error as e:
        die(str(e))
    except (OSError, http.client.HTTPException) as e:
        die("%s: %s" % (c.netloc, e))
    except ET.ParseError as e:
        die("bad XML from %s: %s" % (c.netloc, e))


if __name__ == "__main__":
    main()
