#!/usr/bin/env python3
"""repush_margo.py --registry HOST:PORT SRC_REPO:TAG DST_REPO:TAG EDITS.json

Copy the Margo package SRC to DST on the registry with its description
edited: EDITS.json is a list of [old, new] string replacements applied to
the margo.yaml layer (each must match). `ocimirror app push` refuses a
description with errors; this puts one on a registry as another tool (or
an older validator) may have published it, to test what a mirror reads."""
import json
import sys
import os

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import seed  # noqa: E402

DESC_MT = "application/vnd.margo.app.description.v1+yaml"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"


def get_blob(reg, repo, digest):
    st, _, body = reg.req(repo, "GET", "/v2/%s/blobs/%s" % (repo, digest))
    if st != 200:
        raise RuntimeError("GET blob %s@%s: HTTP %d" % (repo, digest, st))
    return body


def main():
    a = sys.argv[1:]
    if len(a) != 5 or a[0] != "--registry":
        sys.exit(__doc__)
    reg = seed.Registry(a[1])
    reg.probe()
    src_repo, src_tag = a[2].rsplit(":", 1)
    dst_repo, dst_tag = a[3].rsplit(":", 1)
    edits = json.load(open(a[4]))
    st, _, body = reg.get_manifest(src_repo, src_tag, OCI_MANIFEST)
    if st != 200:
        sys.exit("GET manifest %s:%s: HTTP %d" % (src_repo, src_tag, st))
    man = json.loads(body)
    blobs = [man["config"]] + man["layers"]
    for d in blobs:
        data = get_blob(reg, src_repo, d["digest"])
        if d["mediaType"] == DESC_MT:
            text = data.decode()
            for old, new in edits:
                if old not in text:
                    sys.exit("repush_margo: %r not in the description" % old)
                text = text.replace(old, new)
            data = text.encode()
            d["size"] = len(data)
        d["digest"] = reg.push_blob(dst_repo, data)
    print(reg.put_manifest(dst_repo, dst_tag, seed.cjson(man), OCI_MANIFEST))


if __name__ == "__main__":
    main()
