#!/usr/bin/python3
"""Push what the Margo sample applications reference, and write their
package directories, for `ocimirror app pull` tests.

    seed_app.py --registry 127.0.0.1:5001 [--name HOST] [--prefix appe2e]
                --work DIR --out exp.json

Everything lives under NAME/PREFIX ("registry.example.com" in
testdata/margo becomes NAME/PREFIX; NAME is the registry's HOST:PORT, or
just HOST for one listening on port 80):
  images       every image the sample charts and Compose archive name
               (testdata/margo/components), each an OCI index for
               linux/amd64, linux/arm64/v8 and linux/arm/v7; the
               orchestrator image also has a Notary signature referrer
               (through the referrers tag fallback)
  charts       digitron/charts/orchestrator:1.2.0,
               digitron/charts/database:16.4.1_build.7 (Helm OCI artifacts)
  compose      acme/compose/line-monitor:0.3.1-rc.2 (Margo Compose artifact)
  hostile      acme/compose/hostile-*:1.0.0, one per hostile archive
Package directories written under DIR: helm-app, compose-app (the samples,
pointed at the registry) and hostile-app (a compose profile naming the good
Compose component and every hostile one).  The expectations file maps each
reference to its digests: {"images": {REF: {"digest", "children":
{PLATFORM: DIGEST}}}, "components": {REF: DIGEST}, "signature": DIGEST,
"hostile": [REF...]}."""
import argparse
import json
import os
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import seed  # noqa: E402

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
MARGO = os.path.join(ROOT, "testdata", "margo")
COMPOSE_TYPE = "application/vnd.org.margo.component.compose+json"
COMPOSE_LAYER = "application/vnd.org.margo.component.compose.tar+gzip"
NOTARY = "application/vnd.cncf.notary.signature"
PLATFORMS = [("linux", "amd64", None), ("linux", "arm64", "v8"), ("linux", "arm", "v7")]
IMAGES = ["digitron/orchestrator:1.2.0", "digitron/agent:2.0", "library/busybox:1.36",
          "digitron/metrics:0.1.0", "digitron/postgres:16.4", "digitron/postgres-exporter:0.15.0",
          "acme/line-monitor:0.3.1", "library/mosquitto:2.0.18", "library/redis:7"]
HOSTILE = ["dotdot", "absolute", "symlink", "docker-compose", "two-tops", "device"]


def push_index(s, repo, tag, platforms=PLATFORMS, layer=2048):
    mdescs, children = [], {}
    for p in platforms:
        man_b, rec, _ = s.image(repo, "oci", [layer], platform=p,
                                label="%s-%s" % (repo.replace("/", "_"), "-".join(x for x in p if x)))
        pl = {"architecture": p[1], "os": p[0]}
        if p[2]:
            pl["variant"] = p[2]
        mdescs.append(seed.desc(seed.OCI_MANIFEST, man_b, platform=pl))
        children["/".join(x for x in p if x)] = rec["digest"]
    idx_b = seed.cjson({"schemaVersion": 2, "mediaType": seed.OCI_INDEX, "manifests": mdescs})
    dg = s.reg.put_manifest(repo, tag, idx_b, seed.OCI_INDEX)
    return {"digest": dg, "size": len(idx_b), "children": children}


def push_signature(s, repo, subject):
    sig = b'{"payload":"e2e signature"}'
    s.reg.push_blob(repo, b"{}")
    s.reg.push_blob(repo, sig)
    man = {"schemaVersion": 2, "mediaType": seed.OCI_MANIFEST, "artifactType": NOTARY,
           "config": {"mediaType": seed.OCI_EMPTY, "digest": seed.EMPTY_DIGEST, "size": 2},
           "layers": [seed.desc("application/jose+json", sig)],
           "subject": {"mediaType": seed.OCI_INDEX, "digest": subject["digest"], "size": subject["size"]}}
    man_b = seed.cjson(man)
    dg = s.reg.put_manifest(repo, seed.sha(man_b), man_b, seed.OCI_MANIFEST)
    fb = {"schemaVersion": 2, "mediaType": seed.OCI_INDEX,
          "manifests": [{"mediaType": seed.OCI_MANIFEST, "digest": dg, "size": len(man_b),
                         "artifactType": NOTARY}]}
    s.reg.put_manifest(repo, "sha256-" + subject["digest"].split(":", 1)[1], seed.cjson(fb), seed.OCI_INDEX)
    return dg


def push_chart(s, repo, tag, tgz, name, version):
    cfg_b = json.dumps({"name": name, "version": version, "apiVersion": "v2"}).encode()
    s.reg.push_blob(repo, cfg_b)
    s.reg.push_blob(repo, tgz)
    man = {"schemaVersion": 2, "mediaType": seed.OCI_MANIFEST,
           "config": seed.desc(seed.HELM_CONFIG, cfg_b),
           "layers": [seed.desc(seed.HELM_LAYER, tgz)]}
    man_b = seed.cjson(man)
    return s.reg.put_manifest(repo, tag, man_b, seed.OCI_MANIFEST)


def push_compose(s, repo, tag, tgz, version):
    s.reg.push_blob(repo, b"{}")
    s.reg.push_blob(repo, tgz)
    man = {"schemaVersion": 2, "mediaType": seed.OCI_MANIFEST, "artifactType": COMPOSE_TYPE,
           "config": {"mediaType": seed.OCI_EMPTY, "digest": seed.EMPTY_DIGEST, "size": 2},
           "layers": [seed.desc(COMPOSE_LAYER, tgz, annotations={
               "org.margo.component.type": "compose", "org.margo.component.version": version,
               "org.opencontainers.image.title": repo.rsplit("/", 1)[1] + ".tar.gz"})]}
    man_b = seed.cjson(man)
    return s.reg.put_manifest(repo, tag, man_b, seed.OCI_MANIFEST)


def package(src, dst, base, old="registry.example.com"):
    shutil.rmtree(dst, ignore_errors=True)
    shutil.copytree(src, dst)
    p = os.path.join(dst, "margo.yaml")
    text = open(p).read().replace(old, base)
    open(p, "w").write(text)


HOSTILE_APP = """apiVersion: margo.org/v1-alpha1
kind: ApplicationDescription
id: hostile-monitor
metadata:
  name: Hostile Monitor
  version: 1.0.0
  catalog:
    organization:
      - name: Mallory
deploymentProfiles:
  - type: compose
    id: docker-any
    components:
      - name: line-monitor
        properties:
          repository: oci://BASE/acme/compose/line-monitor
          revision: 0.3.1-rc.2
%s"""


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--registry", required=True)
    ap.add_argument("--name", help="the registry as references name it (default: --registry)")
    ap.add_argument("--prefix", default="appe2e")
    ap.add_argument("--work", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--layer-kib", type=int, default=2, help="payload of each image layer")
    ap.add_argument("--two-platforms", action="store_true", help="amd64 and arm64 only (benchmarks)")
    a = ap.parse_args()
    base = "%s/%s" % (a.name or a.registry, a.prefix)
    reg = seed.Registry(a.registry)
    reg.probe()
    s = seed.Seeder(reg, a.prefix, seed.Gen(20261128))
    arch = os.path.join(a.work, "archives")
    subprocess.check_call([sys.executable, os.path.join(MARGO, "mkarchives.py"), "--registry", base, arch])
    exp = {"base": base, "images": {}, "components": {}, "hostile": []}
    for ref in IMAGES:
        repo, tag = ref.split(":")
        r = push_index(s, "%s/%s" % (a.prefix, repo), tag,
                       PLATFORMS[:2] if a.two_platforms else PLATFORMS, a.layer_kib * 1024)
        exp["images"]["%s/%s" % (base, ref)] = r
        if repo == "digitron/orchestrator":
            exp["signature"] = push_signature(s, "%s/%s" % (a.prefix, repo), r)

    def rd(name):
        return open(os.path.join(arch, name), "rb").read()
    comps = [("digitron/charts/orchestrator", "1.2.0",
              lambda r, t: push_chart(s, r, t, rd("orchestrator-1.2.0.tgz"), "orchestrator", "1.2.0")),
             ("digitron/charts/database", "16.4.1_build.7",
              lambda r, t: push_chart(s, r, t, rd("database-16.4.1+build.7.tgz"), "database", "16.4.1+build.7")),
             ("acme/compose/line-monitor", "0.3.1-rc.2",
              lambda r, t: push_compose(s, r, t, rd("line-monitor-0.3.1-rc.2.tar.gz"), "0.3.1-rc.2"))]
    for h in HOSTILE:
        comps.append(("acme/compose/hostile-" + h, "1.0.0",
                      (lambda name: lambda r, t: push_compose(s, r, t, rd(name), "1.0.0"))("hostile-%s.tar.gz" % h)))
        exp["hostile"].append("%s/acme/compose/hostile-%s:1.0.0" % (base, h))
    for repo, tag, fn in comps:
        exp["components"]["%s/%s:%s" % (base, repo, tag)] = fn("%s/%s" % (a.prefix, repo), tag)

    package(os.path.join(MARGO, "helm-app"), os.path.join(a.work, "helm-app"), base)
    package(os.path.join(MARGO, "compose-app"), os.path.join(a.work, "compose-app"), base, "localhost:5000")
    d = os.path.join(a.work, "hostile-app")
    os.makedirs(d, exist_ok=True)
    extra = "".join("      - name: hostile-%s\n        properties:\n          repository: oci://BASE/acme/compose/hostile-%s\n"
                    "          revision: 1.0.0\n" % (h, h) for h in HOSTILE)
    open(os.path.join(d, "margo.yaml"), "w").write((HOSTILE_APP % extra).replace("BASE", base))
    with open(a.out, "w") as f:
        json.dump(exp, f, indent=1)
    print("seed_app: %s: %d images, %d components (%d requests)" % (base, len(IMAGES), len(comps), reg.nreq))


if __name__ == "__main__":
    main()
