#!/usr/bin/env bash
# make bench (sync part): `ocimirror sync` into its store vs `skopeo sync
# --all` of the same selection into a second local docker-registry (what a
# skopeo-based mirror does), cold and no-op, in one run.
# Requests are counted by the e2e proxy in front of the registry. Not a test.
. "$(dirname "$0")/prologue.sh"
SETS=${BENCH_SYNC_SETS:-4}
BIG=${BENCH_SYNC_BIG_MIB:-200}
e2e_start_open
e2e_start_proxy
DPORT=$(e2e_free_port)
e2e_registry reg-dest "$DPORT"
DEST=127.0.0.1:$DPORT
W=$E2E_TMP/bsync
mkdir -p "$W"
repos=()
for i in $(seq 1 "$SETS"); do
	"$PYTHON" tests/e2e/lib/seed.py --registry "$REG_OPEN" --prefix "s$i" --seed "$i" \
		--kinds oci-image,docker-image,multiarch,dockerlist,helm-chart --out "$W/s$i.json" >/dev/null
	mapfile -t -O "${#repos[@]}" repos < <("$PYTHON" -c 'import json,sys
for r in json.load(open(sys.argv[1]))["refs"].values(): print(r["repo"])' "$W/s$i.json" | sort -u)
done
"$PYTHON" tests/e2e/lib/seed.py --registry "$REG_OPEN" --prefix big --kinds oci-image --large "$BIG" \
	--out "$W/big.json" >/dev/null
repos+=(big/oci-image big/large)
{
	echo "defaults: {concurrency: 8}"
	echo "sync:"
	for r in "${repos[@]}"; do echo "  - source: $REG_PROXY/$r"; done
} >"$W/sync.yaml"

om_sync() { "$BIN" --store "$W/store" -q sync -c "$W/sync.yaml"; }
SK_FAILED=0
sk_sync() {
	local r
	for r in "${repos[@]}"; do
		skopeo sync --all --src docker --dest docker --src-tls-verify=false \
			--dest-tls-verify=false "$REG_PROXY/$r" "$DEST/${r%/*}" >/dev/null 2>>"$W/skopeo.err" ||
			echo "$r" >>"$W/skopeo.failed"
	done
}
timed() { # CMD... -> seconds
	local t0 t1
	t0=$(date +%s.%N)
	"$@" >/dev/null 2>>"$W/err.log"
	t1=$(date +%s.%N)
	"$PYTHON" -c "print('%.3f' % ($t1 - $t0))"
}
reqs() { proxy_count; }
blobreqs() { proxy_count GET /blobs/; }

proxy_reset; T_OM_COLD=$(timed om_sync); R_OM_COLD=$(reqs)
proxy_reset; T_OM_NOOP=$(timed om_sync); R_OM_NOOP=$(reqs); B_OM_NOOP=$(blobreqs)
proxy_reset; T_SK_COLD=$(timed sk_sync); R_SK_COLD=$(reqs)
proxy_reset; T_SK_NOOP=$(timed sk_sync); R_SK_NOOP=$(reqs); B_SK_NOOP=$(blobreqs)
rm -rf "$W/store"
/usr/bin/time -f '%M' -o "$W/rss" "$BIN" --store "$W/store" -q sync -c "$W/sync.yaml" >/dev/null 2>&1
RSS=$(( $(cat "$W/rss") / 1024 ))
MIB=$(du -sm "$W/store/blobs" | cut -f1)
[ -s "$W/skopeo.failed" ] && echo "# skopeo failed on: $(sort -u "$W/skopeo.failed" | tr '\n' ' ')($(grep -m1 -o 'msg=.*' "$W/skopeo.err" | cut -c1-160))"
ratio() { "$PYTHON" -c "print('%.2f' % ($1 / $2))"; }
echo
echo "# sync bench: ${#repos[@]} repositories (all tags, all platforms), ${MIB} MiB, through a counting proxy"
printf '%-28s %10s %10s %14s %14s\n' "" "cold s" "no-op s" "cold requests" "no-op requests"
printf '%-28s %10s %10s %14s %14s\n' "ocimirror sync" "$T_OM_COLD" "$T_OM_NOOP" "$R_OM_COLD" "$R_OM_NOOP ($B_OM_NOOP blob)"
printf '%-28s %10s %10s %14s %14s\n' "skopeo sync --all (registry)" "$T_SK_COLD" "$T_SK_NOOP" "$R_SK_COLD" "$R_SK_NOOP ($B_SK_NOOP blob)"
echo "ratios: cold $(ratio "$T_OM_COLD" "$T_SK_COLD")x skopeo (target <= 0.5), no-op $(ratio "$T_OM_NOOP" "$T_SK_NOOP")x (target <= 0.2); ocimirror peak RSS ${RSS} MiB"
