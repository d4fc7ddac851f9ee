#!/usr/bin/env bash
# make bench: ocimirror pull against skopeo and curl, in one run, on one
# local docker-registry. Not a test: it prints figures and ratios.
#
#   image set: BENCH_SETS copies of five kinds of image (OCI, Docker,
#              3-platform index, Docker list, Helm chart), each set with its
#              own content; `ocimirror pull` of all of them vs `skopeo copy
#              --all` of each into an OCI layout (skopeo's unit of work).
#   large:     one BENCH_LARGE_MIB layer: `ocimirror pull` vs `curl -o` of
#              the same blob, and vs `curl | sha256` (a verified download).
#   memory:    ocimirror's peak RSS on each.
. "$(dirname "$0")/prologue.sh"
SETS=${BENCH_SETS:-6}
LARGE=${BENCH_LARGE_MIB:-512}
REPS=${BENCH_REPS:-3}
e2e_start_open
W=$E2E_TMP/bench
mkdir -p "$W"
echo "# bench: docker-registry on $REG_OPEN; $SETS image sets, a ${LARGE} MiB layer, best of $REPS"

refs=()
for i in $(seq 1 "$SETS"); do
	"$PYTHON" tests/e2e/lib/seed.py --registry "$REG_OPEN" --prefix "set$i" --seed "$i" \
		--kinds oci-image,docker-image,multiarch,dockerlist,helm-chart --out "$W/set$i.json" >/dev/null
	mapfile -t -O "${#refs[@]}" refs < <("$PYTHON" -c 'import json,sys
for r in json.load(open(sys.argv[1]))["refs"].values(): print(r["ref"])' "$W/set$i.json")
done
"$PYTHON" tests/e2e/lib/seed.py --registry "$REG_OPEN" --prefix big --kinds oci-image --large "$LARGE" \
	--out "$W/big.json" >/dev/null
read -r LREF LBLOB < <("$PYTHON" -c 'import json,sys
r=json.load(open(sys.argv[1]))["refs"]["large"]; print(r["ref"], r["layers"][0]["digest"])' "$W/big.json")
LREPO=${LREF#*/}; LREPO=${LREPO%:*}

# best (minimum) wall time of REPS runs of "$@", after running PREP
best() { # PREP CMD...
	local prep=$1; shift
	local b=""
	for _ in $(seq 1 "$REPS"); do
		eval "$prep"
		local t0 t1
		t0=$(date +%s.%N)
		"$@" >/dev/null 2>>"$W/err.log"
		t1=$(date +%s.%N)
		b=$("$PYTHON" -c "import sys; t=$t1-$t0; b='$b'; print('%.3f' % (t if not b or t < float(b) else float(b)))")
	done
	echo "$b"
}
rss() { # peak RSS in MiB of one run
	/usr/bin/time -f '%M' -o "$W/rss" "$@" >/dev/null 2>>"$W/err.log"
	echo $(( $(cat "$W/rss") / 1024 ))
}
skopeo_all() {
	local i=0
	for r in "${refs[@]}"; do
		i=$((i + 1))
		skopeo copy -q --all --src-tls-verify=false "docker://$r" "oci:$W/skopeo:img$i" || return
	done
}
ratio() { "$PYTHON" -c "print('%.2f' % ($1 / $2))"; }

T_OM=$(best 'rm -rf $W/store' "$BIN" --store "$W/store" -q pull "${refs[@]}")
T_SK=$(best 'rm -rf $W/skopeo' skopeo_all)
R_OM_SET=$(rm -rf "$W/store"; rss "$BIN" --store "$W/store" -q pull "${refs[@]}")
T_OM_NOOP=$(best ':' "$BIN" --store "$W/store" -q pull "${refs[@]}")
SET_MIB=$(du -sm "$W/store/blobs" | cut -f1)

URL="http://$REG_OPEN/v2/$LREPO/blobs/$LBLOB"
T_CURL=$(best 'rm -f $W/blob' curl -sf -o "$W/blob" "$URL")
T_CURLV=$(best 'rm -f $W/blob' bash -c "curl -sf '$URL' | tee '$W/blob' | openssl dgst -sha256 >/dev/null")
T_OML=$(best 'rm -rf $W/lstore' "$BIN" --store "$W/lstore" -q pull "$LREF")
R_OM_L=$(rm -rf "$W/lstore"; rss "$BIN" --store "$W/lstore" -q pull "$LREF")
rm -rf "$W/lstore" "$W/blob"

echo
printf '%-44s %9s\n' "image set (${#refs[@]} refs, ${SET_MIB} MiB)" "seconds"
printf '%-44s %9s\n' "  ocimirror pull (one run, parallel)" "$T_OM"
printf '%-44s %9s\n' "  skopeo copy --all (one per ref)" "$T_SK"
printf '%-44s %9s\n' "  ocimirror re-pull, nothing new" "$T_OM_NOOP"
printf '%-44s %9s\n' "large layer (${LARGE} MiB)" ""
printf '%-44s %9s\n' "  curl -o (no verification)" "$T_CURL"
printf '%-44s %9s\n' "  curl | tee | openssl sha256 (verified)" "$T_CURLV"
printf '%-44s %9s\n' "  ocimirror pull (verified, fsync'd)" "$T_OML"
echo
echo "ratios"
echo "  skopeo / ocimirror, image set:           $(ratio "$T_SK" "$T_OM")x   (target >= 2)"
echo "  ocimirror / curl -o, large layer:        $(ratio "$T_OML" "$T_CURL")x   (target <= 1.25)"
echo "  ocimirror / verified curl, large layer:  $(ratio "$T_OML" "$T_CURLV")x"
echo "peak RSS of ocimirror"
echo "  image set: ${R_OM_SET} MiB; large layer: ${R_OM_L} MiB   (target < 32)"
