#!/usr/bin/python3
"""Push what testdata/margo/official-app references, and write the package
directory pointed at the registry, for the official-style e2e test.

    seed_official.py --registry HOST:PORT [--user U --password P]
                     --work DIR --out exp.json

Into the registry (an `ocimirror serve --push` in the test):
  plant/greeter:1.4.2             OCI index, linux/amd64 + linux/arm64/v8
  plant/greeter-exporter:0.3.0    OCI index, the same two platforms
  charts/greeter:1.4.2            Helm chart of testdata/margo/components/
                                  greeter, its values pinning the greeter
                                  image by tag and digest
Written under DIR: official-app (the package, "registry.example.com"
replaced by HOST:PORT). The expectations file: {"images": {REF: DIGEST},
"chart": DIGEST, "pinned": "HOST:PORT/plant/greeter:1.4.2@DIGEST"}."""
import argparse
import json
import os
import shutil
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
ROOT = os.path.abspath(os.path.join(HERE, "..", "..", ".."))
MARGO = os.path.join(ROOT, "testdata", "margo")
sys.path.insert(0, MARGO)
import mkarchives  # noqa: E402
import seed  # noqa: E402
import seed_app  # noqa: E402

OLD = "registry.example.com"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--registry", required=True)
    ap.add_argument("--user")
    ap.add_argument("--password")
    ap.add_argument("--work", required=True)
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    reg = seed.Registry(a.registry, a.user, a.password)
    reg.probe()
    s = seed.Seeder(reg, "", seed.Gen(20261202))
    two = seed_app.PLATFORMS[:2]
    exp = {"images": {}}
    for ref in ("plant/greeter:1.4.2", "plant/greeter-exporter:0.3.0"):
        repo, tag = ref.split(":")
        exp["images"]["%s/%s" % (a.registry, ref)] = seed_app.push_index(s, repo, tag, two, 1024)["digest"]
    pinned = exp["images"]["%s/plant/greeter:1.4.2" % a.registry]
    files = mkarchives.tree(os.path.join(MARGO, "components", "greeter"), "greeter", a.registry)
    files = [(n, d.replace(b'digest: ""', b'digest: "%s"' % pinned.encode()) if n == "greeter/values.yaml" else d)
             for n, d in files]
    exp["chart"] = seed_app.push_chart(s, "charts/greeter", "1.4.2", mkarchives.tgz(files), "greeter", "1.4.2")
    exp["pinned"] = "%s/plant/greeter:1.4.2@%s" % (a.registry, pinned)
    seed_app.package(os.path.join(MARGO, "official-app"), os.path.join(a.work, "official-app"), a.registry, OLD)
    with open(a.out, "w") as f:
        json.dump(exp, f, indent=1)
    print("seed_official: %s: 2 images, 1 chart (%d requests)" % (a.registry, reg.nreq))


if __name__ == "__main__":
    main()
