"""variant.py REGISTRY SRC_REPO SRC_TAG DST_REPO TAG N

Puts a variant of SRC_REPO:SRC_TAG (an OCI image manifest) under
DST_REPO:TAG on an open registry: the same config and layers (mounted from
SRC_REPO), an annotation "e2e.variant": N so each N has its own digest.
Prints the new manifest digest."""
import hashlib
import http.client
import json
import sys

reg, src, src_tag, dst, tag, n = sys.argv[1:7]
host, port = reg.rsplit(":", 1)


def req(method, path, body=None, headers=None):
    c = http.client.HTTPConnection(host, int(port), timeout=30)
    c.request(method, path, body=body, headers=headers or {})
    r = c.getresponse()
    data = r.read()
    c.close()
    return r.status, dict((k.lower(), v) for k, v in r.getheaders()), data


OCI = "application/vnd.oci.image.manifest.v1+json"
st, _, body = req("GET", "/v2/%s/manifests/%s" % (src, src_tag), headers={"Accept": OCI})
if st != 200:
    sys.exit("get %s:%s: %d" % (src, src_tag, st))
m = json.loads(body)
for d in [m["config"]] + m["layers"]:
    st, _, _ = req("POST", "/v2/%s/blobs/uploads/?mount=%s&from=%s" % (dst, d["digest"], src),
                   headers={"Content-Length": "0"})
    if st != 201:
        sys.exit("mount %s into %s: %d" % (d["digest"], dst, st))
m.setdefault("annotations", {})["e2e.variant"] = n
raw = json.dumps(m, separators=(",", ":"), sort_keys=True).encode()
st, _, data = req("PUT", "/v2/%s/manifests/%s" % (dst, tag), body=raw,
                  headers={"Content-Type": OCI})
if st != 201:
    sys.exit("put %s:%s: %d %s" % (dst, tag, st, data[:200]))
print("sha256:" + hashlib.sha256(raw).hexdigest())
