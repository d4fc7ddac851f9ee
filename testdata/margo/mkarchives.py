#!/usr/bin/env python3
"""Build the Margo test archives from testdata/margo/components.

    mkarchives.py [--registry HOST] OUTDIR

Writes, deterministically (mtime 0, uid/gid 0, gzip without a name or
time):
  orchestrator-1.2.0.tgz          Helm chart; its subchart metrics packed
                                  inside as charts/metrics-0.1.0.tgz
  database-16.4.1+build.7.tgz     Helm chart; subchart common unpacked
  line-monitor-0.3.1-rc.2.tar.gz  Compose archive (compose.yaml + .env)
  edge-gateway-2.3.0.tgz          Helm chart from helm-conventions/: an
                                  ingress-nginx-shaped subchart packed,
                                  a Bitnami-shaped one unpacked
and the hostile Compose archives, each refused by `app pull`:
  hostile-dotdot.tar.gz           an entry with ".."
  hostile-absolute.tar.gz         an absolute path
  hostile-symlink.tar.gz          a symbolic link leaving the directory
  hostile-docker-compose.tar.gz   docker-compose.yml, no compose.yaml
  hostile-two-tops.tar.gz         two top-level directories
  hostile-device.tar.gz           a character device
With --registry, "registry.example.com" in every file becomes HOST (the
end-to-end tests point the archives at their own registry)."""
import gzip
import io
import os
import sys
import tarfile

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.join(HERE, "components")


def info(name, size=0, kind=tarfile.REGTYPE, mode=0o644, link=""):
    ti = tarfile.TarInfo(name)
    ti.size = size
    ti.type = kind
    ti.mode = mode
    ti.mtime = 0
    ti.uid = ti.gid = 0
    ti.uname = ti.gname = ""
    ti.linkname = link
    return ti


def tgz(entries):
    """entries: (name, bytes | None for a directory, optional TarInfo)"""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as t:
        for e in entries:
            name, data = e[0], e[1]
            if len(e) > 2:
                t.addfile(e[2], io.BytesIO(data) if data else None)
            elif data is None:
                t.addfile(info(name, kind=tarfile.DIRTYPE, mode=0o755))
            else:
                t.addfile(info(name, len(data)), io.BytesIO(data))
    out = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=out, mtime=0) as g:
        g.write(raw.getvalue())
    return out.getvalue()


def tree(root, prefix, registry):
    """Files under root as (prefix/relpath, bytes), sorted."""
    out = []
    for d, dirs, files in os.walk(root):
        dirs.sort()
        for f in sorted(files):
            p = os.path.join(d, f)
            data = open(p, "rb").read()
            if registry:
                data = data.replace(b"registry.example.com", registry.encode())
            out.append((prefix + "/" + os.path.relpath(p, root), data))
    return out


def helm_conventions(write):
    """The umbrella of helm-conventions/ with its ingress subchart packed
    inside (never rewritten by --registry: unit tests only)."""
    src = os.path.join(HERE, "helm-conventions")
    top = tree(os.path.join(src, "edge-gateway"), "edge-gateway", None)
    ingress = tgz(tree(os.path.join(src, "ingress"), "ingress", None))
    top.append(("edge-gateway/charts/ingress-4.15.1.tgz", ingress))
    write("edge-gateway-2.3.0.tgz", tgz(top))


def main():
    args = sys.argv[1:]
    registry = None
    if args[:1] == ["--registry"]:
        registry, args = args[1], args[2:]
    if len(args) != 1:
        sys.exit(__doc__)
    out = args[0]
    os.makedirs(out, exist_ok=True)

    def write(name, data):
        with open(os.path.join(out, name), "wb") as f:
            f.write(data)

    # orchestrator: metrics packed as a nested chart archive
    orch = [e for e in tree(os.path.join(SRC, "orchestrator"), "orchestrator", registry)
            if "/charts/metrics/" not in e[0]]
    metrics = tgz(tree(os.path.join(SRC, "orchestrator", "charts", "metrics"), "metrics", registry))
    orch.append(("orchestrator/charts/metrics-0.1.0.tgz", metrics))
    write("orchestrator-1.2.0.tgz", tgz(orch))
    write("database-16.4.1+build.7.tgz",
          tgz(tree(os.path.join(SRC, "database"), "database", registry)))
    lm = [("line-monitor", None)] + tree(os.path.join(SRC, "line-monitor"), "line-monitor", registry)
    write("line-monitor-0.3.1-rc.2.tar.gz", tgz(lm))

    compose = dict(lm[1:])["line-monitor/compose.yaml"]
    write("hostile-dotdot.tar.gz", tgz([
        ("line-monitor/compose.yaml", compose),
        ("line-monitor/../../etc/cron.d/evil", b"* * * * * root true\n")]))
    write("hostile-absolute.tar.gz", tgz([
        ("line-monitor/compose.yaml", compose),
        ("/etc/evil.conf", b"x\n")]))
    write("hostile-symlink.tar.gz", tgz([
        ("line-monitor/compose.yaml", compose),
        ("line-monitor/config", b"", info("line-monitor/config", kind=tarfile.SYMTYPE,
                                          link="../../../etc"))]))
    write("hostile-docker-compose.tar.gz", tgz([
        ("line-monitor/docker-compose.yml", compose)]))
    write("hostile-two-tops.tar.gz", tgz([
        ("line-monitor/compose.yaml", compose),
        ("other/compose.yaml", compose)]))
    write("hostile-device.tar.gz", tgz([
        ("line-monitor/compose.yaml", compose),
        ("line-monitor/tty", b"", info("line-monitor/tty", kind=tarfile.CHRTYPE))]))
    helm_conventions(write)


if __name__ == "__main__":
    main()
