#!/usr/bin/env bash
# make bench (Margo part): mirroring two Margo applications (the Helm and
# the Compose sample, 2 packages, 3 components, 9 two-platform images).
# ocimirror: one sync run with two `type: margo-app` rules, cold and no-op.
# Peer: what a site scripts today with skopeo, once it knows the list
# (which it has to read out of the charts and Compose files by hand):
# `skopeo copy --all` of each package, component and image into an OCI
# layout, one after the other. Not a test.
. "$(dirname "$0")/prologue.sh"
KIB=${BENCH_APP_LAYER_KIB:-8192}
e2e_start_bare reg-bench-app
W=$E2E_TMP/bapp
mkdir -p "$W"
"$PYTHON" tests/e2e/lib/seed_app.py --registry "$BARE_HOST:80" --name "$BARE_HOST" --work "$W" \
	--out "$W/exp.json" --layer-kib "$KIB" --two-platforms >/dev/null
BASE=$BARE_HOST/appe2e
"$BIN" --store "$W/seed" -q app push "$W/helm-app" "$BASE/apps/digitron"
"$BIN" --store "$W/seed" -q app push "$W/compose-app" "$BASE/apps/monitor"
cat >"$W/sync.yaml" <<YAML
defaults: {referrers: true}
sync:
  - {source: $BASE/apps/digitron, type: margo-app}
  - {source: $BASE/apps/monitor, type: margo-app}
YAML
mapfile -t REFS < <("$PYTHON" -c 'import json,sys
d = json.load(open(sys.argv[1])); b = d["base"]
print(b + "/apps/digitron:1.2.0"); print(b + "/apps/monitor:0.3.1-rc.2")
for r in d["components"]:
    if "hostile" not in r: print(r)
for r in d["images"]: print(r)' "$W/exp.json")

om_sync() { "$BIN" --store "$W/store" -q sync -c "$W/sync.yaml"; }
sk_copy() {
	local r i=0
	rm -rf "$W/sk"
	mkdir -p "$W/sk"
	for r in "${REFS[@]}"; do
		i=$((i + 1))
		skopeo copy -q --all --src-tls-verify=false "docker://$r" "oci:$W/sk/$i:x" >/dev/null ||
			echo "$r" >>"$W/skopeo.failed"
	done
}
timed() {
	local t0 t1
	t0=$(date +%s.%N)
	"$@" >/dev/null 2>>"$W/err.log"
	t1=$(date +%s.%N)
	"$PYTHON" -c "print('%.3f' % ($t1 - $t0))"
}
T_OM_COLD=$(timed om_sync)
T_OM_NOOP=$(timed om_sync)
T_SK=$(timed sk_copy)
rm -rf "$W/store"
/usr/bin/time -f '%M' -o "$W/rss" "$BIN" --store "$W/store" -q sync -c "$W/sync.yaml" >/dev/null 2>&1
RSS=$(( $(cat "$W/rss") / 1024 ))
MIB=$(du -sm "$W/store/blobs" | cut -f1)
[ -s "$W/skopeo.failed" ] && echo "# skopeo failed on: $(tr '\n' ' ' <"$W/skopeo.failed")"
ratio() { "$PYTHON" -c "print('%.2f' % ($1 / $2))"; }
echo
echo "# Margo bench: 2 applications, ${#REFS[@]} references (packages, charts, Compose, images), ${MIB} MiB"
printf '%-44s %10s\n' "" "seconds"
printf '%-44s %10s\n' "ocimirror sync (margo-app), cold" "$T_OM_COLD"
printf '%-44s %10s\n' "ocimirror sync (margo-app), nothing new" "$T_OM_NOOP"
printf '%-44s %10s\n' "skopeo copy --all, each reference in turn" "$T_SK"
echo "ratios: cold $(ratio "$T_OM_COLD" "$T_SK")x skopeo, no-op $(ratio "$T_OM_NOOP" "$T_SK")x; ocimirror peak RSS ${RSS} MiB"
