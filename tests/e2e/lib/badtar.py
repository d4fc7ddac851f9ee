"""badtar.py KIND OUT: write a hostile bundle (plain tar) of one kind."""
import hashlib
import io
import json
import sys
import tarfile

kind, out = sys.argv[1], sys.argv[2]
blob = b"hello hostile world\n"
dg = hashlib.sha256(blob).hexdigest()
layout = b'{"imageLayoutVersion":"1.0.0"}'
index = json.dumps({"schemaVersion": 2, "manifests": []}).encode()


def add(t, name, data, **kw):
    ti = tarfile.TarInfo(name)
    ti.size = len(data)
    for k, v in kw.items():
        setattr(ti, k, v)
    t.addfile(ti, io.BytesIO(data))


with tarfile.open(out, "w", format=tarfile.PAX_FORMAT) as t:
    add(t, "oci-layout", layout)
    if kind == "absolute":
        add(t, "/tmp/ocimirror-pwned", b"x")
    elif kind == "dotdot":
        add(t, "blobs/sha256/../../../../tmp/ocimirror-pwned", b"x")
    elif kind == "symlink":
        ti = tarfile.TarInfo("blobs/sha256/" + dg)
        ti.type = tarfile.SYMTYPE
        ti.linkname = "/etc/passwd"
        t.addfile(ti)
    elif kind == "hardlink":
        ti = tarfile.TarInfo("blobs/sha256/" + dg)
        ti.type = tarfile.LNKTYPE
        ti.linkname = "oci-layout"
        t.addfile(ti)
    elif kind == "device":
        ti = tarfile.TarInfo("blobs/sha256/" + dg)
        ti.type = tarfile.CHRTYPE
        ti.devmajor, ti.devminor = 1, 3
        t.addfile(ti)
    elif kind == "setuid":
        add(t, "blobs/sha256/" + dg, blob, mode=0o4755)
    elif kind == "unexpected":
        add(t, "etc/cron.d/evil", b"* * * * * root true\n")
    elif kind == "hugeindex":
        add(t, "index.json", b" " * (17 * 1024 * 1024))
    elif kind == "corrupt":
        add(t, "blobs/sha256/" + dg, blob.replace(b"hello", b"HELLO"))
    add(t, "index.json", index)
print(dg)
