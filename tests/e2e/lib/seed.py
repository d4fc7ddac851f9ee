#!/usr/bin/python3
"""Push deterministic test content to a registry over the distribution API.

    seed.py --registry 127.0.0.1:5001 [--user U --password P] [--prefix e2e]
            [--kinds oci-image,docker-image,...] [--large MIB] --out exp.json

Content (repositories under PREFIX/):
  oci-image:v1       OCI manifest, config + 2 tar+gzip layers (one ~3 MiB)
  docker-image:v1    Docker schema2 manifest
  multiarch:v1       OCI index: linux/amd64, linux/arm64/v8, linux/arm/v7,
                     children share one layer
  dockerlist:v1      Docker manifest list: linux/amd64, linux/arm64
  helm-chart:0.1.0   Helm chart (real .tgz of Chart.yaml + values.yaml)
  sbom               artifact (artifactType application/vnd.example.sbom.v1+json,
                     empty config) whose subject is oci-image:v1, pushed by
                     digest into PREFIX/oci-image, plus the referrers fallback
                     tag sha256-<hex of subject> (an OCI index listing it)
  many-tags          120 tags t000..t119 (more than two pages of n=50)
  large:v1           (--large N) one image with an N-MiB random layer

All bytes are derived from a fixed PRNG seed, so the same content pushed to
several registries has the same digests.  Auth: Basic (--user/--password),
or Bearer (token fetched from the WWW-Authenticate realm with those creds).

The expectations file (--out) describes everything pushed; see write_out().
Exit status 0 on success; on a refused manifest it prints the registry's
answer and exits 1 (with --keep-going, records the refusal and continues).
"""
import argparse
import base64
import gzip
import hashlib
import http.client
import io
import json
import os
import random
import re
import sys
import tarfile
import tempfile
import time
import urllib.parse

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
OCI_EMPTY = "application/vnd.oci.empty.v1+json"
D_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
D_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
D_CONFIG = "application/vnd.docker.container.image.v1+json"
D_LAYER = "application/vnd.docker.image.rootfs.diff.tar.gzip"
HELM_CONFIG = "application/vnd.cncf.helm.config.v1+json"
HELM_LAYER = "application/vnd.cncf.helm.chart.content.v1.tar+gzip"
SBOM_TYPE = "application/vnd.example.sbom.v1+json"
EMPTY_DIGEST = "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"

ALL_KINDS = ["oci-image", "docker-image", "multiarch", "dockerlist", "helm-chart", "sbom", "many-tags"]


def sha(b):
    return "sha256:" + hashlib.sha256(b).hexdigest()


def cjson(obj):
    """Canonical-ish JSON bytes (what we push is what gets hashed)."""
    return json.dumps(obj, indent=2, sort_keys=False).encode()


class Refused(Exception):
    pass


# --------------------------------------------------------------------- HTTP
class Registry:
    def __init__(self, addr, user=None, password=None, verbose=False):
        self.addr = addr
        self.host, _, port = addr.rpartition(":")
        self.port = int(port)
        self.user, self.password = user, password
        self.tokens = {}
        self.challenge = None
        self.verbose = verbose
        self.nreq = 0

    def _conn(self):
        return http.client.HTTPConnection(self.host, self.port, timeout=120)

    def raw(self, method, url, headers=None, body=None):
        """One request, no auth handling. url is a path or an absolute URL."""
        u = urllib.parse.urlsplit(url)
        if u.scheme:
            path = u.path + ("?" + u.query if u.query else "")
            conn = http.client.HTTPConnection(u.hostname, u.port or 80, timeout=120)
        else:
            path = url
            conn = self._conn()
        conn.request(method, path, body=body, headers=headers or {})
        r = conn.getresponse()
        data = r.read()
        conn.close()
        self.nreq += 1
        if self.verbose:
            sys.stderr.write("seed: %s %s -> %d\n" % (method, path, r.status))
        return r.status, {k.lower(): v for k, v in r.getheaders()}, data

    def _basic(self):
        return "Basic " + base64.b64encode(("%s:%s" % (self.user, self.password)).encode()).decode()

    def probe(self):
        st, hd, _ = self.raw("GET", "/v2/")
        if st == 200:
            self.challenge = ("none", {})
        elif st == 401:
            self.challenge = parse_challenge(hd.get("www-authenticate", ""))
        else:
            raise RuntimeError("GET /v2/ on %s: HTTP %d" % (self.addr, st))
        return self.challenge

    def auth_header(self, repo):
        if self.challenge is None:
            self.probe()
        scheme, params = self.challenge
        if scheme == "none":
            # anonymous reads may still need credentials for pushes
            return {"Authorization": self._basic()} if self.user else {}
        if scheme == "basic":
            return {"Authorization": self._basic()}
        if scheme == "bearer":
            tok = self.tokens.get(repo)
            if tok is None:
                q = {"service": params.get("service", "")}
                q = urllib.parse.urlencode(q) + "&" + urllib.parse.urlencode(
                    {"scope": "repository:%s:pull,push" % repo})
                realm = params["realm"]
                url = realm + ("&" if "?" in realm else "?") + q
                hdr = {"Authorization": self._basic()} if self.user else {}
                st, _, data = self.raw("GET", url, hdr)
                if st != 200:
                    raise RuntimeError("token request %s: HTTP %d %s" % (url, st, data[:200]))
                j = json.loads(data)
                tok = j.get("token") or j.get("access_token")
                self.tokens[repo] = tok
            return {"Authorization": "Bearer " + tok}
        raise RuntimeError("unsupported auth scheme %s" % scheme)

    def req(self, repo, method, url, headers=None, body=None):
        h = dict(headers or {})
        h.update(self.auth_header(repo))
        return self.raw(method, url, h, body)

    # ---------------------------------------------------------- distribution API
    def blob_exists(self, repo, digest):
        st, _, _ = self.req(repo, "HEAD", "/v2/%s/blobs/%s" % (repo, digest))
        return st == 200

    def push_blob(self, repo, data=None, path=None, digest=None, size=None):
        """data: bytes, or path: file to stream. Returns digest."""
        if data is not None:
            digest, size = sha(data), len(data)
        if self.blob_exists(repo, digest):
            return digest
        st, hd, body = self.req(repo, "POST", "/v2/%s/blobs/uploads/" % repo, {"Content-Length": "0"})
        if st != 202:
            raise RuntimeError("start upload %s: HTTP %d %s" % (repo, st, body[:300]))
        loc = hd["location"]
        loc = loc + ("&" if "?" in loc else "?") + "digest=" + urllib.parse.quote(digest)
        hdr = {"Content-Type": "application/octet-stream", "Content-Length": str(size)}
        if data is not None:
            st, hd, body = self.req(repo, "PUT", loc, hdr, data)
        else:
            with open(path, "rb") as f:
                st, hd, body = self.req(repo, "PUT", loc, hdr, f)
        if st != 201:
            raise RuntimeError("finish upload %s %s: HTTP %d %s" % (repo, digest, st, body[:300]))
        return digest

    def put_manifest(self, repo, ref, data, media_type):
        st, hd, body = self.req(repo, "PUT", "/v2/%s/manifests/%s" % (repo, ref),
                                {"Content-Type": media_type}, data)
        if st != 201:
            raise Refused("PUT manifest %s:%s (%s): HTTP %d %s" % (
                repo, ref, media_type, st, body.decode(errors="replace")[:500]))
        got = hd.get("docker-content-digest")
        if got and got != sha(data):
            raise RuntimeError("registry says digest %s, we computed %s" % (got, sha(data)))
        return sha(data)

    def get_manifest(self, repo, ref, accept):
        return self.req(repo, "GET", "/v2/%s/manifests/%s" % (repo, ref), {"Accept": accept})


def parse_challenge(h):
    m = re.match(r"\s*(\w+)\s*(.*)", h or "")
    if not m:
        return ("none", {})
    scheme = m.group(1).lower()
    params = dict((k.lower(), v) for k, v in re.findall(r'(\w+)="([^"]*)"', m.group(2)))
    return (scheme, params)


# ----------------------------------------------------------------- content
class Gen:
    def __init__(self, seed):
        self.rng = random.Random(seed)

    def rand(self, n):
        return self.rng.randbytes(n)


def targz(files, compress=True):
    """files: list of (name, bytes). Deterministic tar (+ gzip mtime 0)."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.USTAR_FORMAT) as t:
        for name, data in files:
            ti = tarfile.TarInfo(name)
            ti.size = len(data)
            ti.mtime = 1700000000
            ti.mode = 0o644
            ti.uname = ti.gname = "root"
            t.addfile(ti, io.BytesIO(data))
    tar = raw.getvalue()
    gz = io.BytesIO()
    with gzip.GzipFile(fileobj=gz, mode="wb", mtime=0, compresslevel=1) as g:
        g.write(tar)
    return tar, gz.getvalue()


def desc(media_type, data, **extra):
    d = {"mediaType": media_type, "digest": sha(data), "size": len(data)}
    d.update(extra)
    return d


def bdesc(d, role):
    """Expectation record of a blob."""
    return {"digest": d["digest"], "size": d["size"], "mediaType": d["mediaType"], "role": role}


class Seeder:
    def __init__(self, reg, prefix, gen, keep_going=False):
        self.reg, self.prefix, self.gen = reg, prefix, gen
        self.refs = {}
        self.refused = []
        self.accepted = []
        self.keep_going = keep_going

    def repo(self, name):
        return "%s/%s" % (self.prefix, name) if self.prefix else name

    def ref_string(self, repo, tag=None, digest=None):
        s = "%s/%s" % (self.reg.addr, repo)
        if tag:
            s += ":" + tag
        if digest:
            s += "@" + digest
        return s

    # build + push one single-platform image; returns (manifest bytes, record)
    def image(self, repo, flavour, layers_spec, platform=("linux", "amd64", None), shared=None, tag=None, label=""):
        """layers_spec: list of sizes of random payload files; shared: list of
        (tar, gz) layers to prepend (pushed again, dedup by HEAD)."""
        os_, arch, variant = platform
        if flavour == "oci":
            mt, cmt, lmt = OCI_MANIFEST, OCI_CONFIG, OCI_LAYER
        else:
            mt, cmt, lmt = D_MANIFEST, D_CONFIG, D_LAYER
        layers = list(shared or [])
        for i, n in enumerate(layers_spec):
            layers.append(targz([("data/%s-%s-%d.bin" % (label or repo.replace("/", "_"), arch, i), self.gen.rand(n))]))
        cfg = {
            "created": "2024-01-01T00:00:00Z",
            "architecture": arch,
            "os": os_,
            "config": {"Env": ["PATH=/usr/bin:/bin"], "Cmd": ["/bin/true"], "Labels": {"e2e": label or repo}},
            "rootfs": {"type": "layers", "diff_ids": [sha(t) for t, _ in layers]},
            "history": [{"created": "2024-01-01T00:00:00Z", "created_by": "seed.py layer %d" % i}
                        for i in range(len(layers))],
        }
        if variant:
            cfg["variant"] = variant
        cfg_b = cjson(cfg)
        self.reg.push_blob(repo, cfg_b)
        ldescs = []
        for _, gz in layers:
            self.reg.push_blob(repo, gz)
            ldescs.append(desc(lmt, gz))
        man = {"schemaVersion": 2, "mediaType": mt, "config": desc(cmt, cfg_b), "layers": ldescs}
        if flavour == "oci":
            man["annotations"] = {"org.opencontainers.image.title": label or repo}
        man_b = cjson(man)
        dg = self.reg.put_manifest(repo, tag or sha(man_b), man_b, mt)
        rec = {
            "digest": dg, "size": len(man_b), "mediaType": mt,
            "config": bdesc(man["config"], "config"),
            "layers": [bdesc(d, "layer") for d in ldescs],
        }
        rec["blobs"] = [rec["config"]] + rec["layers"]
        return man_b, rec, layers

    def record(self, key, repo, tag, rec, **extra):
        r = {"repo": repo, "tag": tag, "ref": self.ref_string(repo, tag),
             "digest": rec["digest"], "size": rec["size"], "mediaType": rec["mediaType"],
             "blobs": rec.get("blobs", []),
             "manifests": [{"digest": rec["digest"], "size": rec["size"], "mediaType": rec["mediaType"], "role": "manifest"}]}
        for k in ("config", "layers", "artifactType", "subject"):
            if k in rec:
                r[k] = rec[k]
        r.update(extra)
        self.refs[key] = r
        self.accepted.append(key)
        return r

    def guard(self, key, fn):
        try:
            fn()
        except Refused as e:
            self.refused.append({"kind": key, "error": str(e)})
            sys.stderr.write("seed: REFUSED %s: %s\n" % (key, e))
            if not self.keep_going:
                raise

    # ------------------------------------------------------------ the kinds
    def k_oci_image(self):
        repo = self.repo("oci-image")
        _, rec, _ = self.image(repo, "oci", [3 * 1024 * 1024 + 12345, 10 * 1024], tag="v1", label="oci-image")
        self.record("oci-image", repo, "v1", rec, big_layer=max(rec["layers"], key=lambda d: d["size"]))

    def k_docker_image(self):
        repo = self.repo("docker-image")
        _, rec, _ = self.image(repo, "docker", [200 * 1024, 4 * 1024], tag="v1", label="docker-image")
        self.record("docker-image", repo, "v1", rec)

    def _list(self, key, repo, flavour, platforms, list_mt):
        shared = [targz([("base/shared.bin", self.gen.rand(64 * 1024))])]
        children = {}
        mdescs = []
        for p in platforms:
            man_b, rec, _ = self.image(repo, flavour, [16 * 1024 + len(children)], platform=p,
                                       shared=shared, label="%s-%s" % (key, "-".join(x for x in p if x)))
            pl = {"architecture": p[1], "os": p[0]}
            if p[2]:
                pl["variant"] = p[2]
            d = desc(rec["mediaType"], man_b, platform=pl)
            mdescs.append(d)
            pname = "/".join(x for x in p if x)
            children[pname] = {"digest": rec["digest"], "size": rec["size"], "mediaType": rec["mediaType"],
                               "platform": pl, "config": rec["config"], "layers": rec["layers"],
                               "blobs": rec["blobs"]}
        idx = {"schemaVersion": 2, "mediaType": list_mt, "manifests": mdescs}
        idx_b = cjson(idx)
        dg = self.reg.put_manifest(repo, "v1", idx_b, list_mt)
        blobs, seen = [], set()
        manifests = [{"digest": dg, "size": len(idx_b), "mediaType": list_mt, "role": "manifest"}]
        for pname, c in children.items():
            manifests.append({"digest": c["digest"], "size": c["size"], "mediaType": c["mediaType"],
                              "role": "child", "platform": pname})
            for b in c["blobs"]:
                if b["digest"] not in seen:
                    seen.add(b["digest"])
                    blobs.append(b)
        r = self.record(key, repo, "v1", {"digest": dg, "size": len(idx_b), "mediaType": list_mt, "blobs": blobs},
                        children=children, shared_layer=bdesc(desc(OCI_LAYER if flavour == "oci" else D_LAYER, shared[0][1]), "layer"))
        r["manifests"] = manifests

    def k_multiarch(self):
        self._list("multiarch", self.repo("multiarch"), "oci",
                   [("linux", "amd64", None), ("linux", "arm64", "v8"), ("linux", "arm", "v7")], OCI_INDEX)

    def k_dockerlist(self):
        self._list("dockerlist", self.repo("dockerlist"), "docker",
                   [("linux", "amd64", None), ("linux", "arm64", None)], D_LIST)

    def k_helm_chart(self):
        repo = self.repo("helm-chart")
        chart_yaml = b"apiVersion: v2\nname: e2e-chart\ndescription: ocimirror e2e test chart\ntype: application\nversion: 0.1.0\nappVersion: \"1.0\"\n"
        values_yaml = b"replicaCount: 1\nimage:\n  repository: 127.0.0.1/e2e/oci-image\n  tag: v1\n"
        _, tgz = targz([("e2e-chart/Chart.yaml", chart_yaml), ("e2e-chart/values.yaml", values_yaml)])
        cfg_b = json.dumps({"name": "e2e-chart", "version": "0.1.0", "description": "ocimirror e2e test chart",
                            "apiVersion": "v2", "appVersion": "1.0", "type": "application"}).encode()
        self.reg.push_blob(repo, cfg_b)
        self.reg.push_blob(repo, tgz)
        man = {"schemaVersion": 2, "mediaType": OCI_MANIFEST,
               "config": desc(HELM_CONFIG, cfg_b),
               "layers": [desc(HELM_LAYER, tgz)],
               "annotations": {"org.opencontainers.image.title": "e2e-chart"}}
        man_b = cjson(man)
        dg = self.reg.put_manifest(repo, "0.1.0", man_b, OCI_MANIFEST)
        rec = {"digest": dg, "size": len(man_b), "mediaType": OCI_MANIFEST,
               "config": bdesc(man["config"], "config"), "layers": [bdesc(man["layers"][0], "layer")]}
        rec["blobs"] = [rec["config"]] + rec["layers"]
        self.record("helm-chart", repo, "0.1.0", rec)

    def k_sbom(self):
        repo = self.repo("oci-image")
        subj = self.refs.get("oci-image")
        if subj is None:
            self.k_oci_image()
            subj = self.refs["oci-image"]
        sbom = json.dumps({"spdxVersion": "SPDX-2.3", "name": "oci-image-v1",
                           "packages": [{"name": "e2e", "versionInfo": "1.0"}]}, indent=1).encode()
        empty = b"{}"
        assert sha(empty) == EMPTY_DIGEST
        self.reg.push_blob(repo, empty)
        self.reg.push_blob(repo, sbom)
        man = {"schemaVersion": 2, "mediaType": OCI_MANIFEST, "artifactType": SBOM_TYPE,
               "config": {"mediaType": OCI_EMPTY, "digest": EMPTY_DIGEST, "size": 2},
               "layers": [desc(SBOM_TYPE, sbom, annotations={"org.opencontainers.image.title": "sbom.spdx.json"})],
               "subject": {"mediaType": subj["mediaType"], "digest": subj["digest"], "size": subj["size"]},
               "annotations": {"org.opencontainers.image.created": "2024-01-01T00:00:00Z"}}
        man_b = cjson(man)
        dg = self.reg.put_manifest(repo, sha(man_b), man_b, OCI_MANIFEST)
        # referrers fallback tag (distribution 2.8 has no referrers API)
        fb_tag = "sha256-" + subj["digest"].split(":", 1)[1]
        fb = {"schemaVersion": 2, "mediaType": OCI_INDEX,
              "manifests": [{"mediaType": OCI_MANIFEST, "digest": dg, "size": len(man_b),
                             "artifactType": SBOM_TYPE,
                             "annotations": man["annotations"]}]}
        fb_b = cjson(fb)
        fb_dg = self.reg.put_manifest(repo, fb_tag, fb_b, OCI_INDEX)
        rec = {"digest": dg, "size": len(man_b), "mediaType": OCI_MANIFEST,
               "config": bdesc(man["config"], "config"), "layers": [bdesc(man["layers"][0], "layer")],
               "artifactType": SBOM_TYPE,
               "subject": man["subject"]}
        rec["blobs"] = [rec["config"]] + rec["layers"]
        r = self.record("sbom", repo, None, rec, fallback_tag=fb_tag,
                        fallback_index={"digest": fb_dg, "size": len(fb_b), "mediaType": OCI_INDEX})
        r["ref"] = self.ref_string(repo, digest=dg)

    def k_many_tags(self, n=120):
        repo = self.repo("many-tags")
        man_b, rec, _ = self.image(repo, "oci", [1024], label="many-tags")
        tags = ["t%03d" % i for i in range(n)]
        for t in tags:
            self.reg.put_manifest(repo, t, man_b, OCI_MANIFEST)
        r = self.record("many-tags", repo, tags[0], rec, tags=tags)

    def k_large(self, mib):
        repo = self.repo("large")
        # stream an N MiB random (uncompressed-looking) layer from a temp file
        fd, path = tempfile.mkstemp(prefix="seed-large-")
        h = hashlib.sha256()
        rng = random.Random(4242)
        try:
            with os.fdopen(fd, "wb") as f:
                for _ in range(mib):
                    b = rng.randbytes(1 << 20)
                    h.update(b)
                    f.write(b)
            ld = {"mediaType": OCI_LAYER, "digest": "sha256:" + h.hexdigest(), "size": mib << 20}
            self.reg.push_blob(repo, path=path, digest=ld["digest"], size=ld["size"])
        finally:
            os.unlink(path)
        cfg_b = cjson({"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": [ld["digest"]]}})
        self.reg.push_blob(repo, cfg_b)
        man = {"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": desc(OCI_CONFIG, cfg_b), "layers": [ld]}
        man_b = cjson(man)
        dg = self.reg.put_manifest(repo, "v1", man_b, OCI_MANIFEST)
        rec = {"digest": dg, "size": len(man_b), "mediaType": OCI_MANIFEST,
               "config": bdesc(man["config"], "config"), "layers": [bdesc(ld, "layer")]}
        rec["blobs"] = [rec["config"]] + rec["layers"]
        self.record("large", repo, "v1", rec)


def verify(reg, refs):
    """Read back every tagged manifest and check its digest."""
    accept = ",".join([OCI_MANIFEST, OCI_INDEX, D_MANIFEST, D_LIST])
    for key, r in refs.items():
        ref = r["tag"] or r["digest"]
        st, hd, data = reg.get_manifest(r["repo"], ref, accept)
        if st != 200 or sha(data) != r["digest"]:
            raise RuntimeError("read-back %s: HTTP %d digest %s want %s (served as %s)" % (
                key, st, sha(data), r["digest"], hd.get("content-type")))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--registry", required=True, help="HOST:PORT")
    ap.add_argument("--user")
    ap.add_argument("--password")
    ap.add_argument("--prefix", default="e2e")
    ap.add_argument("--kinds", default=",".join(ALL_KINDS), help="comma list of: " + ",".join(ALL_KINDS))
    ap.add_argument("--large", type=int, default=0, metavar="MIB")
    ap.add_argument("--seed", type=int, default=20240101)
    ap.add_argument("--out", required=True)
    ap.add_argument("--keep-going", action="store_true", help="record refused manifests and continue")
    ap.add_argument("-v", "--verbose", action="store_true")
    a = ap.parse_args()

    reg = Registry(a.registry, a.user, a.password, a.verbose)
    reg.probe()
    s = Seeder(reg, a.prefix.strip("/"), Gen(a.seed), a.keep_going)
    kinds = [k for k in a.kinds.split(",") if k]
    for k in kinds:
        if k not in ALL_KINDS:
            ap.error("unknown kind %s" % k)
    t0 = time.time()
    try:
        # fixed order: sbom needs oci-image
        for k in ALL_KINDS:
            if k in kinds:
                s.guard(k, getattr(s, "k_" + k.replace("-", "_")))
        if a.large:
            s.guard("large", lambda: s.k_large(a.large))
        verify(reg, s.refs)
    except Refused as e:
        print("seed: registry refused: %s" % e, file=sys.stderr)
        sys.exit(1)
    out = {
        "registry": a.registry,
        "prefix": a.prefix,
        "auth": reg.challenge[0],
        "refs": s.refs,
        "refused": s.refused,
        "requests": reg.nreq,
        "seconds": round(time.time() - t0, 2),
    }
    tmp = a.out + ".tmp"
    with open(tmp, "w") as f:
        json.dump(out, f, indent=1)
    os.rename(tmp, a.out)
    print("seed: %s: %s pushed (%d requests, %.1fs)%s" % (
        a.registry, ",".join(s.accepted), reg.nreq, time.time() - t0,
        "; refused: " + ",".join(x["kind"] for x in s.refused) if s.refused else ""))


if __name__ == "__main__":
    main()
