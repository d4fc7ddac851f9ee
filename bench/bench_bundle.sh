#!/usr/bin/env bash
# make bench (bundle part): export and import of a few hundred MiB against
# the machine's limit in the same run: `tar -c | zstd -T0` of the same blob
# files at the same level (export), `zstd -d | tar -x` then `sha256sum` of
# the files (import). Peak RSS of ocimirror. Not a test.
. "$(dirname "$0")/prologue.sh"
MIB=${BENCH_BUNDLE_MIB:-300}
e2e_start_open
W=$E2E_TMP/bbundle
mkdir -p "$W"
"$PYTHON" tests/e2e/lib/seed.py --registry "$REG_OPEN" --prefix bb --kinds oci-image,multiarch,helm-chart \
	--large "$MIB" --out "$W/exp.json" >/dev/null
mapfile -t refs < <("$PYTHON" -c 'import json,sys
for r in json.load(open(sys.argv[1]))["refs"].values():
    if r.get("tag"): print(r["ref"])' "$W/exp.json")
"$BIN" --store "$W/src" -q pull "${refs[@]}"
SIZE=$(du -sm "$W/src/blobs" | cut -f1)
timed() {
	local t0 t1
	t0=$(date +%s.%N)
	"$@" >/dev/null 2>>"$W/err.log"
	t1=$(date +%s.%N)
	"$PYTHON" -c "print('%.3f' % ($t1 - $t0))"
}
rssrun() { /usr/bin/time -f '%M' -o "$W/rss" "$@" >/dev/null 2>>"$W/err.log"; echo $(( $(cat "$W/rss") / 1024 )); }
sync
T_EXP=$(timed "$BIN" --store "$W/src" -q export -o "$W/b.tar.zst" --all)
T_TAR=$(timed bash -c "cd '$W/src' && tar -cf - blobs | zstd -q -3 -T0 -o '$W/t.tar.zst'")
T_IMP=$(timed "$BIN" --store "$W/dst" -q import "$W/b.tar.zst")
mkdir -p "$W/x"
T_UNT=$(timed bash -c "zstd -q -d -c '$W/t.tar.zst' | tar -xf - -C '$W/x' && cd '$W/x/blobs/sha256' && sha256sum * >/dev/null")
rm -rf "$W/dst"
R_EXP=$(rssrun "$BIN" --store "$W/src" -q export -o "$W/b2.tar.zst" --all)
R_IMP=$(rssrun "$BIN" --store "$W/dst" -q import "$W/b2.tar.zst")
ratio() { "$PYTHON" -c "print('%.2f' % ($1 / $2))"; }
echo
echo "# bundle bench: ${SIZE} MiB of blobs, zstd level 3, all cores"
printf '%-46s %9s\n' "export: ocimirror export" "$T_EXP"
printf '%-46s %9s\n' "export: tar -c | zstd -T0 -3" "$T_TAR"
printf '%-46s %9s\n' "import: ocimirror import (verified, fsync'd)" "$T_IMP"
printf '%-46s %9s\n' "import: zstd -d | tar -x; sha256sum" "$T_UNT"
echo "ratios: export $(ratio "$T_EXP" "$T_TAR")x, import $(ratio "$T_IMP" "$T_UNT")x (targets <= 1.2); bundle $(( $(stat -c %s "$W/b.tar.zst") / 1048576 )) MiB vs tar.zst $(( $(stat -c %s "$W/t.tar.zst") / 1048576 )) MiB"
echo "peak RSS of ocimirror: export ${R_EXP} MiB, import ${R_IMP} MiB (target < 64)"
