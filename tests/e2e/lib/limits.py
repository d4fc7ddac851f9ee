#!/usr/bin/env python3
"""Clients for test_serve_limits.sh: many connections, idle upload
sessions, a cut upload, held manifest bodies, slow clients. Each prints one
JSON object (counts by status and the figures the test asserts on). Every
loop is bounded in count and in time (--deadline, seconds).

    limits.py seed HOST:PORT REPO USER PASS
    limits.py get-many HOST:PORT PATH N [now|open]
    limits.py sessions HOST:PORT REPO USER PASS N
    limits.py cut HOST:PORT REPO USER PASS SIZE vanish|shut
    limits.py steady HOST:PORT REPO USER PASS SIZE
    limits.py held HOST:PORT REPO USER PASS N SIZE PID
    limits.py slow HOST:PORT N headers|body [REPO USER PASS]
    limits.py idle HOST:PORT N
"""
import base64
import hashlib
import http.client
import json
import os
import resource
import selectors
import socket
import sys
import threading
import time

DEADLINE = float(os.environ.get("LIMITS_DEADLINE", "30"))


def auth(user, pw):
    return 'Basic ' + base64.b64encode(f'{user}:{pw}'.encode()).decode()


def hostport(s):
    h, p = s.rsplit(':', 1)
    return h, int(p)


def more_fds():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def conn(hp):
    return http.client.HTTPConnection(*hp, timeout=10)


def request(hp, method, path, headers=None, body=None):
    c = conn(hp)
    c.request(method, path, body=body, headers=headers or {})
    r = c.getresponse()
    data = r.read()
    c.close()
    return r, data


def push_blob(hp, repo, a, data):
    dg = 'sha256:' + hashlib.sha256(data).hexdigest()
    r, _ = request(hp, 'POST', f'/v2/{repo}/blobs/uploads/?digest={dg}',
                   {'Authorization': a,
                    'Content-Type': 'application/octet-stream'}, data)
    if r.status != 201:
        sys.exit(f'push blob {dg}: {r.status}')
    return dg


def cmd_seed(hp, repo, user, pw):
    a = auth(user, pw)
    layer = bytes((i * 31 + (i >> 9)) & 0xff for i in range(65536))
    config = b'{"architecture":"amd64","os":"linux"}'
    ldg, cdg = push_blob(hp, repo, a, layer), push_blob(hp, repo, a, config)
    man = json.dumps({
        'schemaVersion': 2,
        'mediaType': 'application/vnd.oci.image.manifest.v1+json',
        'config': {'mediaType': 'application/vnd.oci.image.config.v1+json',
                   'digest': cdg, 'size': len(config)},
        'layers': [{'mediaType':
                    'application/vnd.oci.image.layer.v1.tar+gzip',
                    'digest': ldg, 'size': len(layer)}]}).encode()
    r, _ = request(hp, 'PUT', f'/v2/{repo}/manifests/v1',
                   {'Authorization': a, 'Content-Type':
                    'application/vnd.oci.image.manifest.v1+json'}, man)
    if r.status != 201:
        sys.exit(f'put manifest: {r.status}')
    return {'layer': ldg, 'manifest': r.getheader('Docker-Content-Digest')}


def connect_all(hp, n, end, batch=256):
    """n connections established (at most batch handshakes at a time, so
    the listen backlog never overflows into SYN retries); the sockets and
    how many could not connect."""
    sel = selectors.DefaultSelector()
    done, failed, pending = [], 0, 0
    started = 0
    while (started < n or pending) and time.time() < end:
        while started < n and pending < batch:
            s = socket.socket()
            s.setblocking(False)
            s.connect_ex(hp)
            sel.register(s, selectors.EVENT_WRITE)
            started += 1
            pending += 1
        for key, _ in sel.select(timeout=0.5):
            s = key.fileobj
            sel.unregister(s)
            pending -= 1
            if s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR):
                failed += 1
                s.close()
            else:
                done.append(s)
    for key in list(sel.get_map().values()):
        key.fileobj.close()
        failed += 1
    failed += n - started
    return done, failed


def cmd_get_many(hp, path, n, mode='now'):
    """n connections, one GET each (Connection: close). mode 'now': each
    sends as soon as it is connected; 'open': all n are established (held
    open at once by the server) before any sends."""
    more_fds()
    end = time.time() + DEADLINE
    req = (f'GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'
           ).encode()
    counts, state = {}, {}
    sel = selectors.DefaultSelector()
    if mode == 'open':
        socks, failed = connect_all(hp, n, end)
        if failed:
            counts['none'] = failed
        counts['held_open'] = len(socks)
    else:
        socks = []
        for _ in range(n):
            s = socket.socket()
            s.setblocking(False)
            s.connect_ex(hp)
            socks.append(s)
    for s in socks:
        state[s] = b''
        sel.register(s, selectors.EVENT_WRITE)

    def finish(s, data):
        line = data.split(b'\r\n', 1)[0].split()
        key = line[1].decode() if len(line) > 1 else 'none'
        counts[key] = counts.get(key, 0) + 1
        sel.unregister(s)
        s.close()
        del state[s]

    while state and time.time() < end:
        for key, ev in sel.select(timeout=0.5):
            s = key.fileobj
            if ev & selectors.EVENT_WRITE:
                try:
                    s.send(req)
                    sel.modify(s, selectors.EVENT_READ)
                except OSError:
                    finish(s, b'')
                continue
            try:
                chunk = s.recv(65536)
            except OSError:
                chunk = b''
            if chunk:
                state[s] += chunk
            else:
                finish(s, state[s])
    for s in list(state):
        finish(s, state[s] if state[s] else b'')
    return counts


def cmd_sessions(hp, repo, user, pw, n):
    """n upload sessions opened and left idle."""
    a = auth(user, pw)
    counts, retry = {}, 0
    c = conn(hp)
    end = time.time() + DEADLINE
    for _ in range(n):
        if time.time() > end:
            break
        try:
            c.request('POST', f'/v2/{repo}/blobs/uploads/',
                      headers={'Authorization': a})
            r = c.getresponse()
            r.read()
            st = str(r.status)
            retry += r.status == 503 and bool(r.getheader('Retry-After'))
        except (OSError, http.client.HTTPException):
            st = 'none'
            c.close()
            c = conn(hp)
        counts[st] = counts.get(st, 0) + 1
    c.close()
    counts['retry_after'] = retry
    return counts


def cmd_cut(hp, repo, user, pw, size, mode):
    """A PATCH cut off half-way, resumed at once: the session's status,
    the rest from its offset, the final PUT. mode: the client vanishes
    (its connection stays open, silent: a dropped network, a killed
    NAT entry) or shuts its sending side."""
    a = auth(user, pw)
    data = bytes((i * 7 + (i >> 10)) & 0xff for i in range(size))
    dg = 'sha256:' + hashlib.sha256(data).hexdigest()
    out = {}
    r, _ = request(hp, 'POST', f'/v2/{repo}/blobs/uploads/',
                   {'Authorization': a})
    loc = r.getheader('Location')
    out['post'] = r.status
    s = socket.create_connection(hp, timeout=10)
    s.sendall((f'PATCH {loc} HTTP/1.1\r\nHost: x\r\nAuthorization: {a}\r\n'
               f'Content-Type: application/octet-stream\r\n'
               f'Content-Length: {size}\r\n\r\n').encode() + data[:size // 2])
    time.sleep(0.5)  # the server holds the session and has the half
    if mode == 'shut':
        s.shutdown(socket.SHUT_WR)
    # busy (503, Retry-After) while the server holds the cut request:
    # until it sees the client gone (shut) or silent for a read timeout
    for attempt in range(120):
        r, _ = request(hp, 'GET', loc, {'Authorization': a})
        if r.status != 503 or not r.getheader('Retry-After'):
            break
        time.sleep(0.5)
    out['status'] = r.status
    out['status_attempts'] = attempt + 1
    rng = r.getheader('Range') or ''
    out['range'] = rng
    off = int(rng.split('-')[1]) + 1 if '-' in rng else 0
    if rng == '0-0':
        off = 0  # nothing written (a one-byte upload would say the same)
    out['offset'] = off
    s.close()
    if r.status != 204:
        return out
    # as a client does: a 416 names where to go on, a 503 says retry
    for attempt in range(6):
        r, _ = request(hp, 'PATCH', loc,
                       {'Authorization': a,
                        'Content-Type': 'application/octet-stream',
                        'Content-Range': f'{off}-{size - 1}'}, data[off:])
        out['patch'] = r.status
        out['patch_range'] = r.getheader('Range')
        out['patch_attempts'] = attempt + 1
        if r.status == 416 and '-' in (out['patch_range'] or ''):
            off = int(out['patch_range'].split('-')[1]) + 1
            out['offset'] = off
        elif r.status == 503:
            time.sleep(0.5)
        else:
            break
    r, _ = request(hp, 'PUT', f'{loc}?digest={dg}', {'Authorization': a})
    out['put'] = r.status
    r, body = request(hp, 'GET', f'/v2/{repo}/blobs/{dg}',
                      {'Authorization': a})
    out['get'] = r.status
    out['digest_ok'] = 'sha256:' + hashlib.sha256(body).hexdigest() == dg
    return out


def cmd_steady(hp, repo, user, pw, size):
    """A PATCH sent at a steady ~500 KB/s while the session's status is
    asked for now and then: each status (the session is held) and the
    PATCH's answer, then the final PUT."""
    a = auth(user, pw)
    data = bytes((i * 13 + (i >> 9)) & 0xff for i in range(size))
    dg = 'sha256:' + hashlib.sha256(data).hexdigest()
    out = {}
    r, _ = request(hp, 'POST', f'/v2/{repo}/blobs/uploads/',
                   {'Authorization': a})
    loc = r.getheader('Location')
    out['post'] = r.status
    started = threading.Event()

    def patch():
        try:
            s = socket.create_connection(hp, timeout=20)
            s.sendall((f'PATCH {loc} HTTP/1.1\r\nHost: x\r\n'
                       f'Authorization: {a}\r\n'
                       f'Content-Type: application/octet-stream\r\n'
                       f'Content-Range: 0-{size - 1}\r\n'
                       f'Content-Length: {size}\r\n\r\n').encode())
            step = 50000
            for off in range(0, size, step):
                s.sendall(data[off:off + step])
                started.set()
                time.sleep(0.1)
            st, head = read_head(s, 20.0)
            out['patch'] = st
            for line in head.decode('latin-1').split('\r\n'):
                if line.lower().startswith('range:'):
                    out['patch_range'] = line.split(':', 1)[1].strip()
            s.close()
        except OSError as e:
            out['patch'] = f'error: {e}'
        finally:
            started.set()

    t = threading.Thread(target=patch)
    t.start()
    started.wait(20)
    time.sleep(0.3)
    counts = {}
    for _ in range(5):
        r, _ = request(hp, 'GET', loc, {'Authorization': a})
        k = str(r.status)
        if r.status == 503 and r.getheader('Retry-After'):
            k = '503_retry_after'
        elif r.getheader('Range'):
            k += ' ' + r.getheader('Range')
        counts[k] = counts.get(k, 0) + 1
        time.sleep(0.3)
    t.join(60)
    out['status'] = counts
    r, _ = request(hp, 'PUT', f'{loc}?digest={dg}', {'Authorization': a})
    out['put'] = r.status
    return out


def vmhwm_kb(pid):
    with open(f'/proc/{pid}/status') as f:
        for line in f:
            if line.startswith('VmHWM:'):
                return int(line.split()[1])
    return -1


def read_head(s, limit=2.0):
    """The first response line (status) the server sends, or 'none'."""
    s.settimeout(limit)
    try:
        data = s.recv(4096)
    except OSError:
        return 'none', b''
    line = data.split(b'\r\n', 1)[0].split()
    return (line[1].decode() if len(line) > 1 else 'none'), data


def cmd_held(hp, repo, user, pw, n, size, pid):
    """n manifest PUTs (Expect: 100-continue) whose bodies are sent but
    for their last byte and held; the server's peak RSS meanwhile."""
    more_fds()
    a = auth(user, pw)
    out = {'before_kb': vmhwm_kb(pid)}
    # no credentials: refused before the body (no 100 Continue)
    s = socket.create_connection(hp, timeout=10)
    s.sendall((f'PUT /v2/{repo}/manifests/x HTTP/1.1\r\nHost: x\r\n'
               f'Content-Length: {size}\r\nExpect: 100-continue\r\n'
               'Content-Type: application/vnd.oci.image.manifest.v1+json'
               '\r\n\r\n').encode())
    out['anonymous'], _ = read_head(s)
    s.close()
    body = b'{' + b' ' * (size - 2)
    socks, counts, retry = [], {}, 0
    end = time.time() + DEADLINE
    for i in range(n):
        if time.time() > end:
            break
        s = socket.create_connection(hp, timeout=10)
        s.sendall((f'PUT /v2/{repo}/manifests/held{i} HTTP/1.1\r\n'
                   f'Host: x\r\nAuthorization: {a}\r\n'
                   f'Content-Length: {size}\r\nExpect: 100-continue\r\n'
                   'Content-Type: application/vnd.oci.image.manifest.v1+json'
                   '\r\n\r\n').encode())
        st, head = read_head(s)
        if st == '100':
            s.settimeout(10)
            s.sendall(body)
            st = 'held'
        retry += st == '503' and b'Retry-After:' in head
        counts[st] = counts.get(st, 0) + 1
        socks.append(s)
    time.sleep(1)
    out['peak_kb'] = vmhwm_kb(pid)
    for s in socks:
        s.close()
    out.update(counts)
    out['retry_after'] = retry
    return out


def cmd_slow(hp, n, mode, repo=None, user=None, pw=None):
    """n clients sending a byte each half second (request headers, or a
    PATCH body); how many the server closed, and when."""
    more_fds()
    prefix = b''
    if mode == 'body':
        a = auth(user, pw)
        r, _ = request(hp, 'POST', f'/v2/{repo}/blobs/uploads/',
                       {'Authorization': a})
        loc = r.getheader('Location')
    socks = []
    for i in range(n):
        s = socket.create_connection(hp, timeout=10)
        if mode == 'body':
            # sessions are one request at a time: each its own session
            if i:
                r, _ = request(hp, 'POST', f'/v2/{repo}/blobs/uploads/',
                               {'Authorization': a})
                loc = r.getheader('Location')
            prefix = (f'PATCH {loc} HTTP/1.1\r\nHost: x\r\n'
                      f'Authorization: {a}\r\n'
                      'Content-Length: 100000\r\n\r\n').encode()
            s.sendall(prefix)
        s.setblocking(False)
        socks.append(s)
    t0 = time.time()
    cut_at, dribble = {}, b'GET /v2/ HTTP/1.1\r\nHost: ' + b'x' * 200
    step = 0
    while len(cut_at) < n and time.time() - t0 < DEADLINE:
        for i, s in enumerate(socks):
            if i in cut_at:
                continue
            gone = False
            try:
                if s.recv(4096) == b'':
                    gone = True
            except BlockingIOError:
                pass
            except OSError:
                gone = True
            if not gone:
                try:
                    s.send(dribble[step % len(dribble):][:1])
                except BlockingIOError:
                    pass
                except OSError:
                    gone = True
            if gone:
                cut_at[i] = time.time() - t0
        step += 1
        time.sleep(0.5)
    for s in socks:
        s.close()
    times = sorted(cut_at.values())
    return {'cut': len(cut_at), 'open': n - len(cut_at),
            'first_s': round(times[0], 2) if times else None,
            'last_s': round(times[-1], 2) if times else None}


def cmd_idle(hp, n):
    """n connections opened first, then one GET /healthz on each."""
    more_fds()
    socks = [socket.create_connection(hp, timeout=5) for _ in range(n)]
    time.sleep(0.5)
    counts = {}
    for s in socks:
        try:
            s.sendall(b'GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n')
            st, _ = read_head(s, 3.0)
        except OSError:
            st = 'none'
        counts[st] = counts.get(st, 0) + 1
    for s in socks:
        s.close()
    return counts


def main():
    a = sys.argv[1:]
    cmd, hp = a[0], hostport(a[1])
    if cmd == 'seed':
        res = cmd_seed(hp, a[2], a[3], a[4])
    elif cmd == 'get-many':
        res = cmd_get_many(hp, a[2], int(a[3]), *a[4:5])
    elif cmd == 'sessions':
        res = cmd_sessions(hp, a[2], a[3], a[4], int(a[5]))
    elif cmd == 'cut':
        res = cmd_cut(hp, a[2], a[3], a[4], int(a[5]), a[6])
    elif cmd == 'steady':
        res = cmd_steady(hp, a[2], a[3], a[4], int(a[5]))
    elif cmd == 'held':
        res = cmd_held(hp, a[2], a[3], a[4], int(a[5]), int(a[6]), a[7])
    elif cmd == 'slow':
        res = cmd_slow(hp, int(a[2]), a[3], *a[4:7])
    elif cmd == 'idle':
        res = cmd_idle(hp, int(a[2]))
    else:
        sys.exit(__doc__)
    print(json.dumps(res, sort_keys=True))


if __name__ == '__main__':
    main()
