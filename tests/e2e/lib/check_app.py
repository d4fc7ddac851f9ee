#!/usr/bin/python3
"""Check what `ocimirror app pull` left in a store against seed_app.py's
expectations.

    check_app.py STORE EXP [--images REF,...] [--platforms P,...]
                 [--no-images REF,...] [--components REF,...]
                 [--no-components REF,...] [--signature]

--images: each is tagged at its upstream index digest, with a manifest
record for the children of --platforms and none for the other platforms.
--components: tagged at the upstream digest.  --no-*: no tag and no
manifest record in that repository.  --signature: the orchestrator image's
signature is stored as a referrer of its index.  Prints the first mismatch
and exits 1; prints "ok" otherwise."""
import argparse
import json
import os
import sys


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("store")
    ap.add_argument("exp")
    for o in ("images", "platforms", "no-images", "components", "no-components"):
        ap.add_argument("--" + o, default="")
    ap.add_argument("--signature", action="store_true")
    a = ap.parse_args()
    exp = json.load(open(a.exp))
    repos = os.path.join(a.store, "repositories")

    def split(ref):
        name, tag = ref.rsplit(":", 1)
        return name, tag

    def tag_digest(ref):
        name, tag = split(ref)
        p = os.path.join(repos, name, "_tags", tag)
        return json.load(open(p))["digest"] if os.path.exists(p) else None

    def linked(name, dg):
        return os.path.exists(os.path.join(repos, name, "_manifests", "sha256", dg.split(":")[1]))

    def blob(dg):
        return os.path.exists(os.path.join(a.store, "blobs", "sha256", dg.split(":")[1]))

    def fail(msg):
        print(msg)
        sys.exit(1)

    want_plats = [p for p in a.platforms.split(",") if p]
    for ref in [r for r in a.images.split(",") if r]:
        full = "%s/%s" % (exp["base"], ref)
        e = exp["images"][full]
        got = tag_digest(full)
        if got != e["digest"]:
            fail("image %s: tag digest %s, upstream %s" % (full, got, e["digest"]))
        name = split(full)[0]
        for plat, dg in e["children"].items():
            if (plat in want_plats) != linked(name, dg):
                fail("image %s: platform %s %s" % (full, plat, "missing" if plat in want_plats else "stored, not selected"))
            if (plat in want_plats) and not blob(dg):
                fail("image %s: platform %s manifest bytes missing" % (full, plat))
    for ref in [r for r in a.no_images.split(",") if r]:
        full = "%s/%s" % (exp["base"], ref)
        if tag_digest(full) or linked(split(full)[0], exp["images"][full]["digest"]):
            fail("image %s stored, not selected" % full)
    for ref in [r for r in a.components.split(",") if r]:
        full = "%s/%s" % (exp["base"], ref)
        got = tag_digest(full)
        if got != exp["components"][full]:
            fail("component %s: tag digest %s, upstream %s" % (full, got, exp["components"][full]))
    for ref in [r for r in a.no_components.split(",") if r]:
        full = "%s/%s" % (exp["base"], ref)
        if tag_digest(full) or linked(split(full)[0], exp["components"][full]):
            fail("component %s stored" % full)
    if a.signature:
        name = "%s/digitron/orchestrator" % exp["base"]
        if not linked(name, exp["signature"]):
            fail("signature %s not stored in %s" % (exp["signature"], name))
        refd = os.path.join(repos, name, "_referrers")
        found = False
        for d, _, files in os.walk(refd):
            for f in files:
                if exp["signature"].split(":")[1] in f or exp["signature"] in open(os.path.join(d, f)).read():
                    found = True
        if not found:
            fail("signature not recorded as a referrer under %s" % refd)
    print("ok")


if __name__ == "__main__":
    main()
