"""check_store.py STORE: every tag points at a stored manifest whose
blobs and stored children are present, and every blob file's bytes match
its name. Exit 1 with a message on the first problem."""
import hashlib
import json
import os
import sys

root = sys.argv[1]


def blob(d):
    return os.path.join(root, "blobs", d.split(":")[0], d.split(":")[1])


def check_blob_file(path, name):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    if h.hexdigest() != name:
        sys.exit("blob %s: content is %s" % (name, h.hexdigest()))


def check_manifest(d, depth=0):
    p = blob(d)
    if not os.path.exists(p):
        sys.exit("manifest %s missing" % d)
    m = json.load(open(p))
    if "manifests" in m:
        for c in m["manifests"]:
            if os.path.exists(blob(c["digest"])):
                check_manifest(c["digest"], depth + 1)
    else:
        for b in [m["config"]] + m.get("layers", []):
            if not os.path.exists(blob(b["digest"])):
                sys.exit("manifest %s: blob %s missing" % (d, b["digest"]))


d256 = os.path.join(root, "blobs", "sha256")
if os.path.isdir(d256):
    for name in os.listdir(d256):
        check_blob_file(os.path.join(d256, name), name)
for dirpath, dirs, files in os.walk(os.path.join(root, "repositories")):
    if os.path.basename(dirpath) == "_tags":
        for t in files:
            rec = json.load(open(os.path.join(dirpath, t)))
            check_manifest(rec["digest"])
