#!/usr/bin/python3
"""Push many tags over a few images, for the WAN tests and benchmark.

    seed_tags.py --registry 127.0.0.1:5001 [--ca FILE] [--user U --password P]
                 [--prefix wan] [--repos 5] [--tags 32] [--images 4]
                 [--index-every 2] [--layer-kib 64] [--threads 8]
                 [--seed N] --out exp.json

In each of REPOS repositories PREFIX/rNN: IMAGES distinct images (every
INDEX-EVERY-th one, counting from the first, an OCI index of linux/amd64 and
linux/arm64/v8 whose children share a base layer; the others one OCI
manifest; 0 = no index), then TAGS tags v0000.. each naming image (tag
number mod IMAGES).  Tags are PUT by THREADS threads, each on one keep-alive
connection.  --fs-root DIR (the filesystem rootdirectory of a local
docker-registry 2.8): each image is PUT under its first tag, and the other
tags are written as the registry's own tag link files (10,000 tags in a
second; PUT costs ~5 ms of registry CPU a tag).  --ca FILE: the
registry speaks HTTPS with a certificate from that CA.  Auth as seed.py
(Basic, or a Bearer token asked with the credentials).

The expectations file: {"registry", "prefix", "tags": N, "repos": {REPO:
{"tags": {TAG: DIGEST}, "images": [{"digest", "size", "mediaType",
"children": [DIGEST...], "blobs": [DIGEST...]}]}}, "manifests": distinct
manifests (indexes + children + single), "indexes": N, "blob_bytes": bytes of
distinct blobs, "manifest_bytes": bytes of the distinct manifests,
"seconds"}.
"""
import argparse
import http.client
import json
import os
import ssl
import sys
import threading
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import seed  # noqa: E402


class Registry(seed.Registry):
    """seed.Registry, over HTTPS when given a CA."""

    def __init__(self, addr, user, password, ca):
        super().__init__(addr, user, password)
        self.ctx = ssl.create_default_context(cafile=ca) if ca else None

    def conn(self, host=None, port=None, https=None):
        host, port = host or self.host, port or self.port
        if self.ctx and https is not False:
            return http.client.HTTPSConnection(host, port, timeout=120, context=self.ctx)
        return http.client.HTTPConnection(host, port, timeout=120)

    def _conn(self):
        return self.conn()

    def raw(self, method, url, headers=None, body=None):
        u = urllib.parse.urlsplit(url)
        if u.scheme:
            path = u.path + ("?" + u.query if u.query else "")
            c = self.conn(u.hostname, u.port or (443 if u.scheme == "https" else 80), u.scheme == "https")
        else:
            path, c = url, self.conn()
        c.request(method, path, body=body, headers=headers or {})
        r = c.getresponse()
        data = r.read()
        c.close()
        self.nreq += 1
        return r.status, {k.lower(): v for k, v in r.getheaders()}, data


def put_tags(reg, repo, jobs, threads):
    """jobs: list of (tag, manifest bytes, media type); PUT them over
    `threads` keep-alive connections."""
    auth = reg.auth_header(repo)
    lock = threading.Lock()
    todo = list(jobs)
    errors = []

    def work():
        c = reg.conn()
        while True:
            with lock:
                if not todo or errors:
                    break
                tag, body, mt = todo.pop()
            h = {"Content-Type": mt, "Content-Length": str(len(body))}
            h.update(auth)
            for attempt in range(3):
                try:
                    c.request("PUT", "/v2/%s/manifests/%s" % (repo, tag), body=body, headers=h)
                    r = c.getresponse()
                    r.read()
                    break
                except (OSError, http.client.HTTPException):
                    c.close()
                    c = reg.conn()
                    if attempt == 2:
                        raise
            if r.status != 201:
                with lock:
                    errors.append("PUT %s:%s: HTTP %d" % (repo, tag, r.status))
        c.close()

    ts = [threading.Thread(target=work) for _ in range(max(1, threads))]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    if errors:
        raise RuntimeError(errors[0])


def fs_tags(root, repo, tags):
    """Write tags as docker-registry's filesystem driver stores them
    (distribution 2.8: _manifests/tags/TAG/{current,index/sha256/HEX}/link)."""
    base = os.path.join(root, "docker", "registry", "v2", "repositories", repo, "_manifests", "tags")
    if not os.path.isdir(base):
        raise RuntimeError("--fs-root: no %s (not this registry's rootdirectory?)" % base)
    for tag, digest in tags:
        for d in (os.path.join(base, tag, "current"), os.path.join(base, tag, "index", "sha256", digest[7:])):
            os.makedirs(d, exist_ok=True)
            with open(os.path.join(d, "link"), "w") as f:
                f.write(digest)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--registry", required=True)
    ap.add_argument("--ca")
    ap.add_argument("--user")
    ap.add_argument("--password")
    ap.add_argument("--prefix", default="wan")
    ap.add_argument("--repos", type=int, default=5)
    ap.add_argument("--tags", type=int, default=32)
    ap.add_argument("--images", type=int, default=4)
    ap.add_argument("--index-every", type=int, default=2)
    ap.add_argument("--layer-kib", type=int, default=64)
    ap.add_argument("--threads", type=int, default=8)
    ap.add_argument("--seed", type=int, default=1313)
    ap.add_argument("--fs-root", help="the registry's storage rootdirectory: write tags there, not over HTTP")
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    if not (1 <= a.repos <= 100 and 1 <= a.tags <= 20000 and 1 <= a.images <= 64 and 1 <= a.threads <= 32):
        ap.error("--repos 1..100, --tags 1..20000, --images 1..64, --threads 1..32")

    t0 = time.time()
    reg = Registry(a.registry, a.user, a.password, a.ca)
    reg.probe()
    s = seed.Seeder(reg, a.prefix.strip("/"), seed.Gen(a.seed))
    out = {"registry": a.registry, "prefix": a.prefix, "tags": 0, "repos": {},
           "manifests": 0, "indexes": 0, "blob_bytes": 0, "manifest_bytes": 0}
    blobs = {}
    kib = a.layer_kib * 1024
    for r in range(a.repos):
        repo = s.repo("r%02d" % r)
        images = []
        for i in range(a.images):
            label = "%s-i%d" % (repo.replace("/", "_"), i)
            if a.index_every and i % a.index_every == 0:
                shared = [seed.targz([("base/%s.bin" % label, s.gen.rand(kib))])]
                kids, descs, kb = [], [], []
                for p in (("linux", "amd64", None), ("linux", "arm64", "v8")):
                    man_b, rec, _ = s.image(repo, "oci", [kib // 4 + i], platform=p, shared=shared, label=label)
                    pl = {"architecture": p[1], "os": p[0]}
                    if p[2]:
                        pl["variant"] = p[2]
                    descs.append(seed.desc(seed.OCI_MANIFEST, man_b, platform=pl))
                    kids.append(rec["digest"])
                    out["manifest_bytes"] += len(man_b)
                    for b in rec["blobs"]:
                        blobs[b["digest"]] = b["size"]
                        kb.append(b["digest"])
                idx_b = seed.cjson({"schemaVersion": 2, "mediaType": seed.OCI_INDEX, "manifests": descs})
                images.append({"body": idx_b, "mediaType": seed.OCI_INDEX, "digest": seed.sha(idx_b),
                               "size": len(idx_b), "children": kids, "blobs": sorted(set(kb))})
                out["indexes"] += 1
                out["manifests"] += 1 + len(kids)
            else:
                man_b, rec, _ = s.image(repo, "oci", [kib + i], label=label, tag=None)
                images.append({"body": man_b, "mediaType": seed.OCI_MANIFEST, "digest": rec["digest"],
                               "size": len(man_b), "children": [], "blobs": [b["digest"] for b in rec["blobs"]]})
                for b in rec["blobs"]:
                    blobs[b["digest"]] = b["size"]
                out["manifests"] += 1
            out["manifest_bytes"] += images[-1]["size"]
        tags = {"v%04d" % t: images[t % len(images)] for t in range(a.tags)}
        jobs = [(t, im["body"], im["mediaType"]) for t, im in tags.items()]
        if a.fs_root:
            # every image once over HTTP (the registry links its revision),
            # then the other tags as the registry's own tag link files
            first = {}
            for j in jobs:
                first.setdefault(j[1], j)
            put_tags(reg, repo, list(first.values()), a.threads)
            fs_tags(a.fs_root, repo, [(t, im["digest"]) for t, im in tags.items()])
        else:
            put_tags(reg, repo, jobs, a.threads)
        out["repos"][repo] = {"tags": {t: im["digest"] for t, im in tags.items()},
                              "images": [{k: v for k, v in im.items() if k != "body"} for im in images]}
        out["tags"] += len(tags)
    out["blob_bytes"] = sum(blobs.values())
    out["blobs"] = len(blobs)
    out["seconds"] = round(time.time() - t0, 2)
    tmp = a.out + ".tmp"
    with open(tmp, "w") as f:
        json.dump(out, f, indent=1)
    os.rename(tmp, a.out)
    print("seed_tags: %s: %d repositories, %d tags, %d manifests (%d indexes), %d blobs (%d bytes) in %.1f s" % (
        a.registry, a.repos, out["tags"], out["manifests"], out["indexes"], out["blobs"], out["blob_bytes"],
        time.time() - t0))


if __name__ == "__main__":
    main()
