"""bundletar.py KIND OUT [IN]: bundles for the list written before the blobs.

  bomb OUT       zstd bundle: a 64 MiB blob of zeros that index.json's
                 manifest and ocimirror-bundle.json call 1000 bytes
  unlisted OUT   plain tar: a blob ocimirror-bundle.json does not list
  badindex OUT   plain tar: an index.json that is not JSON
  oldorder OUT IN  IN (a plain-tar export) rewritten as exports were before
                 the list: oci-layout, blobs, index.json, the description
                 without "contents"
  cut OUT IN     IN cut at the boundary before its last entry
Prints the digest of the blob it is about (bomb, unlisted)."""
import hashlib
import io
import json
import subprocess
import sys
import tarfile

kind, out = sys.argv[1], sys.argv[2]
LAYOUT = b'{"imageLayoutVersion":"1.0.0"}'
REF = "e2e.invalid/bundle/hostile:1"


def sha(b):
    return "sha256:" + hashlib.sha256(b).hexdigest()


def add(t, name, data):
    ti = tarfile.TarInfo(name)
    ti.size = len(data)
    ti.mode = 0o644
    t.addfile(ti, io.BytesIO(data))


def image(layer_digest, layer_size):
    cfg = b'{"architecture":"amd64","os":"linux"}'
    man = json.dumps({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                   "digest": sha(cfg), "size": len(cfg)},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar",
                    "digest": layer_digest, "size": layer_size}]}).encode()
    index = json.dumps({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json",
                       "digest": sha(man), "size": len(man),
                       "annotations": {"org.opencontainers.image.ref.name": REF}}]}).encode()
    return cfg, man, index


def desc(cfg, man, listed):
    return json.dumps({
        "tool": "bundletar.py",
        "references": [{"ref": REF, "digest": sha(man), "manifests": [sha(man)],
                        "blobs": [sha(cfg)] + [d for d, _ in listed]}],
        "contents": sorted([{"digest": sha(cfg), "size": len(cfg)},
                            {"digest": sha(man), "size": len(man)}] +
                           [{"digest": d, "size": s} for d, s in listed],
                           key=lambda x: x["digest"])}).encode()


def blob_name(d):
    return "blobs/sha256/" + d.split(":")[1]


if kind == "bomb":
    n = 64 << 20
    h = hashlib.sha256()
    zero = bytes(1 << 20)
    for _ in range(n >> 20):
        h.update(zero)
    bomb = "sha256:" + h.hexdigest()
    cfg, man, index = image(bomb, 1000)
    with open(out, "wb") as f:
        z = subprocess.Popen(["zstd", "-q", "-c"], stdin=subprocess.PIPE, stdout=f)
        with tarfile.open(fileobj=z.stdin, mode="w|", format=tarfile.PAX_FORMAT) as t:
            add(t, "oci-layout", LAYOUT)
            add(t, "index.json", index)
            add(t, "ocimirror-bundle.json", desc(cfg, man, [(bomb, 1000)]))
            add(t, blob_name(sha(cfg)), cfg)
            ti = tarfile.TarInfo(blob_name(bomb))
            ti.size = n
            ti.mode = 0o644

            class Zeros(io.RawIOBase):
                left = n

                def readable(self):
                    return True

                def readinto(self, b):
                    k = min(len(b), self.left)
                    b[:k] = bytes(k)
                    self.left -= k
                    return k
            t.addfile(ti, io.BufferedReader(Zeros()))
            add(t, blob_name(sha(man)), man)
        z.stdin.close()
        z.wait()
    print(bomb)
elif kind in ("unlisted", "badindex"):
    layer = b"a layer nobody listed\n"
    cfg, man, index = image(sha(layer), len(layer))
    listed = [] if kind == "unlisted" else [(sha(layer), len(layer))]
    if kind == "badindex":
        index = b'{"schemaVersion": 2, "manifests": ['
    with tarfile.open(out, "w", format=tarfile.PAX_FORMAT) as t:
        add(t, "oci-layout", LAYOUT)
        add(t, "index.json", index)
        add(t, "ocimirror-bundle.json", desc(cfg, man, listed))
        add(t, blob_name(sha(cfg)), cfg)
        add(t, blob_name(sha(layer)), layer)
        add(t, blob_name(sha(man)), man)
    print(sha(layer))
elif kind == "oldorder":
    with tarfile.open(sys.argv[3]) as src, \
            tarfile.open(out, "w", format=tarfile.PAX_FORMAT) as t:
        members = src.getmembers()
        data = {m.name: src.extractfile(m).read() for m in members}
        d = json.loads(data["ocimirror-bundle.json"])
        d.pop("contents", None)
        data["ocimirror-bundle.json"] = json.dumps(d).encode()
        last = ["index.json", "ocimirror-bundle.json"]
        for name in [m.name for m in members if m.name not in last] + last:
            add(t, name, data[name])
elif kind == "cut":
    with tarfile.open(sys.argv[3]) as src:
        where = src.getmembers()[-1].offset
    with open(sys.argv[3], "rb") as f, open(out, "wb") as g:
        g.write(f.read(where))
else:
    sys.exit("bundletar.py: unknown kind " + kind)
