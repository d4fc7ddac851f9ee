#!/usr/bin/python3
"""TCP relay that adds a round-trip time, below HTTP, for the e2e tests.

    latencyproxy.py --port P --upstream 127.0.0.1:U [--listen 127.0.0.1]
                    [--rtt-ms 50] [--mbit 0] [--max-conns 512] --log FILE
    latencyproxy.py --analyze FILE [--from-line N]

Every accepted connection gets its own upstream connection, and costs the
client one round trip before its first bytes go on (as a TCP handshake
over the modelled link would).  Each chunk read
from one side is written to the other RTT/2 later (a chunk read at t goes out
at t + rtt/2, whatever the delay of the chunk before it: the delays overlap,
as on a real link), in order per direction.  --mbit N also models a link of
N Mbit/s each way, shared by all connections (a chunk waits for the link to
be free, then for its own bytes to cross it, then rtt/2).  The bytes are not
looked at for relaying, so TLS and HTTP/2 pass through unchanged; half-close
is forwarded (after the delay), so is a close.

Bounded: at most --max-conns connections at once (more are accepted and
closed at once, logged REFUSE), at most 256 chunks of 64 KiB queued per
direction of a connection (the reader waits, as TCP's window would), and
both the listen address and the upstream must be loopback.  SIGTERM or
SIGINT: close everything, write the SUMMARY line, exit 0.

Log (--log, one line each, times in seconds since the epoch, 6 decimals):
  OPEN <conn> <t> <client-port>
  CLOSE <conn> <t> up=<bytes client->server> down=<bytes server->client>
  REFUSE <t> <client-port>
  PROTO <conn> <t> tls|http|other      (from the first client bytes)
  REQ <conn> <t> <METHOD> <target>     (plain HTTP/1.x only: each request
                                        line in client->server data)
  RESP <conn> <t> <status>             (each final response status line;
                                        1xx are not logged)
  SUMMARY <t> connections=N max_concurrent=M refused=K
A request is "in flight" from the time its REQ line was read from the
client to the time its RESP line was read from the upstream (HTTP/1.1
answers in order on a connection, so they pair up per connection).

--analyze FILE [--from-line N] reads such a log (from its line N, 1-based;
connections opened before it are left out) and prints one JSON object:
connections, max_concurrent (connections open at once), open_now (opened,
not yet closed), refused, requests, responses, max_in_flight (requests
outstanding at once, across connections), methods {"HEAD": n, ...},
kinds {"HEAD manifests": n, "GET tags": n, "GET blobs": n, "POST uploads": n,
"GET referrers": n, "GET v2": n, ...}, protos {"tls": n, ...}, bytes_up,
bytes_down.  --list instead prints "METHOD TARGET" of each request, in order.
"""
import argparse
import asyncio
import ipaddress
import json
import signal
import socket
import sys
import time

CHUNK = 64 * 1024
QUEUE_CHUNKS = 256
MAX_LINE = 64 * 1024
METHODS = (b"GET", b"HEAD", b"POST", b"PUT", b"PATCH", b"DELETE", b"OPTIONS")


def now():
    return time.time()


def is_loopback(host):
    try:
        infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except OSError:
        return False
    return bool(infos) and all(ipaddress.ip_address(i[4][0]).is_loopback for i in infos)


class Log:
    def __init__(self, path):
        self.f = open(path, "a", buffering=1) if path else None

    def line(self, *parts):
        if self.f:
            self.f.write(" ".join(str(p) for p in parts) + "\n")


class H1:
    """Incremental HTTP/1.x framing for one direction of one connection:
    finds the start lines (request or status lines) and skips bodies, so a
    body that happens to contain "GET /" is not taken for a request.
    `on_start(line)` is called for each start line; for responses,
    `methods` is the FIFO of request methods of the other direction (a HEAD
    answer has no body)."""

    def __init__(self, response, on_start, methods):
        self.response = response
        self.on_start = on_start
        self.methods = methods
        self.buf = bytearray()
        self.state = "start"
        self.left = 0
        self.chunked = False
        self.off = False

    def feed(self, data):
        if self.off:
            return
        self.buf += data
        while not self.off:
            if self.state in ("start", "headers", "chunk_size", "chunk_crlf", "trailers"):
                i = self.buf.find(b"\r\n")
                if i < 0:
                    if len(self.buf) > MAX_LINE:
                        self.off = True
                    return
                line = bytes(self.buf[:i])
                del self.buf[:i + 2]
                self.line(line)
            elif self.state == "body":
                n = min(self.left, len(self.buf))
                del self.buf[:n]
                self.left -= n
                if self.left:
                    return
                self.state = "chunk_crlf" if self.chunked else "start"
            elif self.state == "close":
                self.buf.clear()
                return
            else:
                return

    def line(self, line):
        st = self.state
        if st == "start":
            if not line:
                return  # stray CRLF between messages
            self.head = line
            self.clen = None
            self.chunked = False
            self.state = "headers"
        elif st == "headers":
            if line:
                k, _, v = line.partition(b":")
                k = k.strip().lower()
                if k == b"content-length":
                    try:
                        self.clen = int(v.strip())
                    except ValueError:
                        self.off = True
                elif k == b"transfer-encoding" and b"chunked" in v.lower():
                    self.chunked = True
                return
            self.end_of_headers()
        elif st == "chunk_size":
            try:
                n = int(line.split(b";")[0].strip(), 16)
            except ValueError:
                self.off = True
                return
            if n == 0:
                self.state = "trailers"
            else:
                self.left, self.state = n, "body"
        elif st == "chunk_crlf":
            self.state = "chunk_size"
        elif st == "trailers":
            if not line:
                self.state = "start"

    def end_of_headers(self):
        head = self.head
        if not self.response:
            self.on_start(head)
            self.methods.append(head.split(b" ", 1)[0])
            self.next_body()
            return
        parts = head.split(b" ")
        try:
            status = int(parts[1])
        except (IndexError, ValueError):
            self.off = True
            return
        if 100 <= status < 200:
            self.state = "start"  # interim answer; the final one follows
            return
        self.on_start(head)
        method = self.methods.pop(0) if self.methods else b""
        if method == b"HEAD" or status in (204, 304):
            self.state = "start"
        elif self.chunked:
            self.state = "chunk_size"
        elif self.clen is not None:
            self.next_body()
        else:
            self.state = "close"  # body until the connection closes

    def next_body(self):
        if self.chunked:
            self.state = "chunk_size"
        elif not self.clen:
            self.state = "start"
        else:
            self.left, self.state = self.clen, "body"


class Link:
    """One direction of the modelled link, shared by every connection."""

    def __init__(self, bytes_per_s):
        self.rate = bytes_per_s
        self.free_at = 0.0

    def departure(self, t, n):
        if not self.rate:
            return t
        start = max(t, self.free_at)
        self.free_at = start + n / self.rate
        return self.free_at


class Proxy:
    def __init__(self, a, log):
        self.a = a
        self.log = log
        self.half = a.rtt_ms / 2000.0
        rate = a.mbit * 1e6 / 8 if a.mbit else 0
        self.links = (Link(rate), Link(rate))
        self.uhost, _, up = a.upstream.rpartition(":")
        self.uport = int(up)
        self.active = 0
        self.max_active = 0
        self.total = 0
        self.refused = 0
        self.tasks = set()

    async def pump(self, cid, reader, writer, link, count, parser, first, not_before=0.0):
        """Read from reader, write to writer rtt/2 later, in order; nothing
        leaves before not_before (loop time)."""
        loop = asyncio.get_running_loop()
        q = asyncio.Queue(QUEUE_CHUNKS)

        async def send():
            while True:
                due, data = await q.get()
                wait = due - loop.time()
                if wait > 0:
                    await asyncio.sleep(wait)
                if data is None:
                    try:
                        if writer.can_write_eof():
                            writer.write_eof()
                    except OSError:
                        pass
                    return
                writer.write(data)
                await writer.drain()

        sender = asyncio.ensure_future(send())
        try:
            while True:
                try:
                    data = await reader.read(CHUNK)
                except OSError:
                    data = b""
                t = loop.time()
                if data:
                    count[0] += len(data)
                    if first is not None:
                        first(data)
                        first = None
                    if parser is not None:
                        parser.feed(data)
                    await q.put((link.departure(max(t, not_before), len(data)) + self.half, data))
                else:
                    await q.put((t + self.half, None))
                    break
            await sender
        except (OSError, asyncio.CancelledError):
            sender.cancel()
            raise

    async def handle(self, creader, cwriter):
        peer = cwriter.get_extra_info("peername")
        cport = peer[1] if peer else "-"
        if self.active >= self.a.max_conns:
            self.refused += 1
            self.log.line("REFUSE", "%.6f" % now(), cport)
            cwriter.close()
            return
        self.total += 1
        cid = self.total
        self.active += 1
        self.max_active = max(self.max_active, self.active)
        up, down = [0], [0]
        uwriter = None
        self.log.line("OPEN", cid, "%.6f" % now(), cport)
        # the TCP handshake a real link would cost: the client's first bytes
        # leave one round trip after it connected
        not_before = asyncio.get_running_loop().time() + 2 * self.half
        try:
            try:
                ureader, uwriter = await asyncio.open_connection(self.uhost, self.uport)
            except OSError as e:
                sys.stderr.write("latencyproxy: conn %d: upstream: %s\n" % (cid, e))
                return
            methods = []
            req = H1(False, lambda l: self.log.line("REQ", cid, "%.6f" % now(), l.decode("latin-1")), methods)
            resp = H1(True, lambda l: self.log.line("RESP", cid, "%.6f" % now(),
                                                   l.split(b" ")[1].decode("latin-1")), methods)

            def first(data):
                if data[:1] == b"\x16":
                    kind = "tls"
                elif data.split(b" ", 1)[0] in METHODS:
                    kind = "http"
                else:
                    kind = "other"
                if kind != "http":
                    req.off = resp.off = True
                self.log.line("PROTO", cid, "%.6f" % now(), kind)

            await asyncio.gather(
                self.pump(cid, creader, uwriter, self.links[0], up, req, first, not_before),
                self.pump(cid, ureader, cwriter, self.links[1], down, resp, None))
        except (OSError, asyncio.CancelledError):
            pass
        finally:
            for w in (cwriter, uwriter):
                if w is not None:
                    try:
                        w.close()
                    except OSError:
                        pass
            self.active -= 1
            self.log.line("CLOSE", cid, "%.6f" % now(), "up=%d" % up[0], "down=%d" % down[0])

    def summary(self):
        self.log.line("SUMMARY", "%.6f" % now(), "connections=%d" % self.total,
                      "max_concurrent=%d" % self.max_active, "refused=%d" % self.refused)


async def serve(a, log):
    p = Proxy(a, log)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for s in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(s, stop.set)

    async def handle(r, w):
        t = asyncio.current_task()
        p.tasks.add(t)
        try:
            await p.handle(r, w)
        finally:
            p.tasks.discard(t)

    srv = await asyncio.start_server(handle, a.listen, a.port, reuse_address=True, limit=CHUNK)
    sys.stdout.write("latencyproxy listening on %s:%d -> %s, rtt %g ms\n" % (a.listen, a.port, a.upstream, a.rtt_ms))
    sys.stdout.flush()
    await stop.wait()
    srv.close()
    for t in list(p.tasks):
        t.cancel()
    await asyncio.sleep(0.05)
    p.summary()


def target_kind(t):
    """What a distribution API request target is about."""
    path = t.split("?", 1)[0]
    for k in ("/tags/list", "/manifests/", "/blobs/uploads/", "/blobs/", "/referrers/"):
        if k in path:
            return k.strip("/").split("/")[0] if k != "/blobs/uploads/" else "uploads"
    return "v2" if path.rstrip("/") == "/v2" else "other"


def analyze(path, from_line):
    conns, opened, closed = 0, set(), set()
    cur = maxc = refused = 0
    events = []  # (t, +1/-1) for requests in flight
    pending = {}  # conn -> [REQ times] not yet answered
    methods, protos, kinds, reqs = {}, {}, {}, []
    nreq = nresp = bup = bdown = 0
    with open(path, errors="replace") as f:
        for i, line in enumerate(f, 1):
            if i < from_line:
                continue
            w = line.split()
            if not w:
                continue
            k = w[0]
            if k == "OPEN":
                opened.add(w[1])
                conns += 1
                cur += 1
                maxc = max(maxc, cur)
            elif k == "REFUSE":
                refused += 1
            elif len(w) < 2 or w[1] not in opened:
                continue
            elif k == "CLOSE":
                closed.add(w[1])
                cur -= 1
                bup += int(w[3].split("=")[1])
                bdown += int(w[4].split("=")[1])
                for _ in pending.pop(w[1], []):
                    events.append((float(w[2]), -1))
            elif k == "PROTO":
                protos[w[3]] = protos.get(w[3], 0) + 1
            elif k == "REQ":
                nreq += 1
                methods[w[3]] = methods.get(w[3], 0) + 1
                kind = "%s %s" % (w[3], target_kind(w[4] if len(w) > 4 else ""))
                kinds[kind] = kinds.get(kind, 0) + 1
                reqs.append("%s %s" % (w[3], w[4] if len(w) > 4 else ""))
                pending.setdefault(w[1], []).append(float(w[2]))
                events.append((float(w[2]), 1))
            elif k == "RESP":
                nresp += 1
                if pending.get(w[1]):
                    pending[w[1]].pop(0)
                    events.append((float(w[2]), -1))
    inflight = maxf = 0
    for _, d in sorted(events, key=lambda e: (e[0], e[1])):
        inflight += d
        maxf = max(maxf, inflight)
    return {"connections": conns, "max_concurrent": maxc, "open_now": len(opened - closed),
            "refused": refused, "requests": nreq, "responses": nresp, "max_in_flight": maxf,
            "methods": methods, "kinds": kinds, "protos": protos, "bytes_up": bup, "bytes_down": bdown,
            "list": reqs}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--port", type=int)
    ap.add_argument("--listen", default="127.0.0.1")
    ap.add_argument("--upstream", help="HOST:PORT (loopback)")
    ap.add_argument("--rtt-ms", type=float, default=50.0)
    ap.add_argument("--mbit", type=float, default=0.0, help="link speed each way, Mbit/s (0: unlimited)")
    ap.add_argument("--max-conns", type=int, default=512)
    ap.add_argument("--log")
    ap.add_argument("--analyze", metavar="LOG")
    ap.add_argument("--from-line", type=int, default=1)
    ap.add_argument("--list", action="store_true", help="with --analyze: print each request's METHOD TARGET")
    a = ap.parse_args()
    if a.analyze:
        d = analyze(a.analyze, a.from_line)
        if a.list:
            sys.stdout.write("".join(r + "\n" for r in d["list"]))
        else:
            del d["list"]
            print(json.dumps(d, sort_keys=True))
        return
    if a.port is None or not a.upstream:
        ap.error("--port and --upstream are required")
    uhost, sep, uport = a.upstream.rpartition(":")
    if not sep or not uport.isdigit():
        ap.error("--upstream wants HOST:PORT")
    if not is_loopback(a.listen):
        ap.error("--listen %s is not a loopback address" % a.listen)
    if not is_loopback(uhost):
        ap.error("--upstream %s is not a loopback address" % uhost)
    if not 0 <= a.rtt_ms <= 10000 or not 1 <= a.max_conns <= 4096 or a.mbit < 0:
        ap.error("--rtt-ms 0..10000, --max-conns 1..4096, --mbit >= 0")
    asyncio.run(serve(a, Log(a.log)))


if __name__ == "__main__":
    main()
