#!/usr/bin/env bash
# make bench (mirrors of mirrors): pulling an image at the bottom of a
# hierarchy of ocimirror levels vs straight from the origin. Not a test: it
# prints figures.
#
#   origin      docker-registry with an image of a config and one
#               BENCH_HIER_MIB-MiB layer (seed.py --large), plus the small
#               multi-layer oci-image
#   enterprise  serve --upstream: 127.0.0.1:ORIGIN through the link to the origin
#   plant       serve --upstream: mirror = the enterprise, through a link
#   line        serve --upstream: mirror = the plant, through a link
#
# Each link is tests/e2e/lib/latencyproxy.py at BENCH_HIER_RTT_MS (20;
# 0: no proxy at all). "direct" is the same pull straight from the origin
# through one such link (what a client without mirrors gets). A pull is the
# manifest by tag, then every blob in turn (curl); time to first byte is the
# manifest's (cold: filled through every level) and the big layer's (whether
# the levels stream a blob on or store it first); total is the whole pull.
# Then the same pull again at the line (everything cached) vs a plain
# `serve` of a copy of the line's store.
. "$(dirname "$0")/prologue.sh"
RTT=${BENCH_HIER_RTT_MS:-20}
MIB=${BENCH_HIER_MIB:-64}
W=$E2E_TMP/bhier
mkdir -p "$W"

# the feature may be missing (before issue 15): say so, do not fail `make bench`
mkdir -p "$W/probe"
probe=$("$BIN" --store "$W/probe" serve --listen 127.0.0.1:0 --upstream /nonexistent 2>&1 </dev/null || true)
if printf '%s' "$probe" | grep -q "unknown option.*upstream"; then
	echo "bench_hierarchy: skipped: this ocimirror has no serve --upstream"
	exit 0
fi

# ---- peers ------------------------------------------------------------------
port=$(e2e_free_port)
e2e_registry reg-origin "$port"
ORIGIN=127.0.0.1:$port
"$PYTHON" tests/e2e/lib/seed.py --registry "$ORIGIN" --prefix bench --kinds oci-image \
	--large "$MIB" --seed 301 --out "$W/exp.json" | sed 's/^/# /'
REPO=bench/large

# (no command substitution below: the pids must reach E2E_PIDS, which the
# exit trap stops)
# link VAR NAME UP: VAR = the address to reach UP through a modelled link
link() {
	if [ "$RTT" = 0 ]; then
		printf -v "$1" '%s' "$3"
	else
		e2e_start_latency "$2" "$3" "$RTT"
		printf -v "$1" '%s' "$LATENCY_ADDR"
	fi
}

# level VAR NAME STORE MIRROR: serve --upstream with 127.0.0.1:ORIGIN
# through http://MIRROR; VAR = its address
level() {
	local var=$1 name=$2 st=$3 mirror=$4 p
	p=$(e2e_free_port)
	mkdir -p "$st"
	printf "registries:\n  '%s': {mirrors: [\"http://%s\"], fallback: false}\n" "$ORIGIN" "$mirror" >"$W/$name.yaml"
	"$BIN" --store "$st" -q serve --listen "127.0.0.1:$p" --upstream "$W/$name.yaml" \
		>"$W/$name.log" 2>&1 </dev/null &
	E2E_PIDS+=("$!")
	e2e_wait_http "http://127.0.0.1:$p/healthz" 200 || { cat "$W/$name.log" >&2; e2e_die "$name did not start"; }
	printf -v "$var" '127.0.0.1:%s' "$p"
}
plain() { # VAR NAME STORE: serve without upstream; VAR = its address
	local p; p=$(e2e_free_port)
	"$BIN" --store "$3" -q serve --listen "127.0.0.1:$p" >"$W/$2.log" 2>&1 </dev/null &
	E2E_PIDS+=("$!")
	e2e_wait_http "http://127.0.0.1:$p/healthz" 200 || { cat "$W/$2.log" >&2; e2e_die "$2 did not start"; }
	printf -v "$1" '127.0.0.1:%s' "$p"
}

link L_O lat-origin "$ORIGIN" # enterprise -> origin (and direct pulls)
level ENT enterprise "$W/s-ent" "$L_O"
link L_E lat-ent "$ENT" # plant -> enterprise
level PLANT plant "$W/s-plant" "$L_E"
link L_P lat-plant "$PLANT" # line -> plant
level LINE line "$W/s-line" "$L_P"

# ---- measuring --------------------------------------------------------------
mapfile -t BLOBS < <(exp_get "$W/exp.json" "[b['digest'] for b in d['refs']['large']['blobs']]")
BIG=$(exp_get "$W/exp.json" "d['refs']['large']['layers'][0]['digest']")
ACCEPT=application/vnd.oci.image.manifest.v1+json
# pull ADDR [NS]: sets M_TTFB B_TTFB TOTAL (seconds); dies on a bad byte
pull() {
	local base="http://$1/v2/$REPO" q=${2:+?ns=$2} t0 t1 b w
	t0=$(date +%s.%N)
	w=$(curl -sf -m 600 -H "Accept: $ACCEPT" -o "$W/m" -w '%{time_starttransfer}' "$base/manifests/v1$q")
	M_TTFB=$(printf '%.3f' "$w")
	for b in "${BLOBS[@]}"; do
		w=$(curl -sf -m 600 -o "$W/b" -w '%{time_starttransfer}' "$base/blobs/$b$q")
		[ "sha256:$(sha256sum <"$W/b" | cut -d' ' -f1)" = "$b" ] || e2e_die "pull from $1: blob $b has other bytes"
		[ "$b" = "$BIG" ] && B_TTFB=$(printf '%.3f' "$w")
	done
	t1=$(date +%s.%N)
	TOTAL=$("$PYTHON" -c "print('%.3f' % ($t1 - $t0))")
}
ratio() { "$PYTHON" -c "print('%.2f' % (float('$1') / float('$2')))" 2>/dev/null || echo "?"; }
row() { printf '%-34s %10s %10s %10s\n' "$@"; }

pull "$L_O"
d_m=$M_TTFB d_b=$B_TTFB d_t=$TOTAL
pull "$LINE" "$ORIGIN"
h_m=$M_TTFB h_b=$B_TTFB h_t=$TOTAL
pull "$LINE" "$ORIGIN"
c_m=$M_TTFB c_b=$B_TTFB c_t=$TOTAL
cp -a "$W/s-line" "$W/s-copy"
plain PL plain "$W/s-copy"
pull "$PL" "$ORIGIN"
p_m=$M_TTFB p_b=$B_TTFB p_t=$TOTAL

echo "hierarchy pull: ${MIB} MiB layer, links at ${RTT} ms RTT (line -> plant -> enterprise -> origin)"
row "" "man TTFB s" "blob TTFB s" "total s"
row "direct from origin (1 link)" "$d_m" "$d_b" "$d_t"
row "line, cold (3 levels, 3 links)" "$h_m" "$h_b" "$h_t"
row "line, cached" "$c_m" "$c_b" "$c_t"
row "plain serve of the same store" "$p_m" "$p_b" "$p_t"
echo "ratios: cold line / direct: TTFB $(ratio "$h_m" "$d_m")x, big blob TTFB $(ratio "$h_b" "$d_b")x, total $(ratio "$h_t" "$d_t")x"
echo "        cached line / plain serve: TTFB $(ratio "$c_m" "$p_m")x, total $(ratio "$c_t" "$p_t")x"
