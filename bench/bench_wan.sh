#!/usr/bin/env bash
# make bench (WAN part): the same work over a modelled WAN link and on
# loopback. tests/e2e/lib/latencyproxy.py (a TCP relay below HTTP: every
# chunk held RTT/2 each way, each new connection one RTT for its handshake,
# a shared link of BENCH_WAN_MBIT each way) in front of docker-registry over
# HTTPS (test CA; Go offers HTTP/2). Not a test: it prints figures.
#
#   sync:     5 repositories x 32 tags over 4 images each (2 of them
#             two-platform OCI indexes), lib/seed_tags.py. `ocimirror sync`
#             cold and no-op vs `skopeo sync --all --src docker --dest
#             docker` of each repository in turn into a loopback registry
#             (what a skopeo-based mirror does; `--dest dir` refuses to run
#             twice), cold, then the same again, in one run; requests from
#             the source registry's access log, connections from the proxy's
#             log, ocimirror's peak RSS.
#   push:     `ocimirror push --all` of that store to an empty registry
#             through the link vs to another on loopback.
#   app pull: `ocimirror app pull` of the Margo Helm sample (seed_app.py,
#             two platforms) through the link vs through the relay at 0 ms
#             (the package names its registry, so both go by one name).
#
# The critical-path floor: what the dependency chain of the work needs,
# whatever the client, given P requests in flight on the link at once
# (HTTP/2: BENCH_WAN_STREAMS streams on one connection, libcurl's default
# 100; HTTP/1.1: 6 connections), rounds(n) = ceil(n / P):
#   no-op = RTT x (connect + list + rounds(tags))
#   cold  = RTT x (connect + list + rounds(tags)            HEAD each tag
#                  + rounds(top manifests)                   GET each distinct one
#                  + rounds(child manifests)                 GET each index's children
#                  + rounds(blobs))                          GET each distinct blob
#           + (blob + manifest bytes) x 8 / link bit rate
# connect = 1 (TCP) + 1 (TLS 1.3) round trips; list = 1 (every repository's
# tag list at once, one page each: distribution 2.8 sends all tags); no
# auth round (the registry is anonymous). The floor counts each manifest
# once per repository, as a client that remembers digests within a run can.
. "$(dirname "$0")/prologue.sh"
RTT=${BENCH_WAN_RTT_MS:-50}
MBIT=${BENCH_WAN_MBIT:-200}
STREAMS=${BENCH_WAN_STREAMS:-100}
KIB=${BENCH_WAN_LAYER_KIB:-256}
W=$E2E_TMP/bwan
mkdir -p "$W"

# ---- peers: the source (HTTP to seed it, HTTPS to read it), two push targets
port=$(e2e_free_port)
E2E_REG_ACCESSLOG=1 e2e_registry reg-src "$port"
SRC_PLAIN=127.0.0.1:$port
e2e_start_tls "$E2E_TMP/reg-src/data"
SRC=$REG_TLS SRC_LOG=$E2E_TMP/reg-tls.log
"$PYTHON" tests/e2e/lib/seed_tags.py --registry "$SRC_PLAIN" --layer-kib "$KIB" --out "$W/exp.json" | sed 's/^/# /'
e2e_start_latency lat-src "$SRC" "$RTT" "$MBIT"
LS=$LATENCY_ADDR LS_LOG=$LATENCY_LOG
dst_registry() { # NAME VAR: HTTPS with the test CA; VAR=HOST:PORT
	local p; p=$(e2e_free_port)
	e2e_tls_cert "$E2E_TMP/$1/tls"
	E2E_REG_TLS=$E2E_TMP/$1/tls e2e_registry "$1" "$p"
	printf -v "$2" '127.0.0.1:%s' "$p"
}
dst_registry reg-dst-wan DST_WAN
dst_registry reg-dst-lo DST_LO
e2e_start_latency lat-dst "$DST_WAN" "$RTT" "$MBIT"
LD=$LATENCY_ADDR

# every client trusts the test CA for every name (certs.d layout)
CERTS=$W/certs.d
for h in "$SRC" "$LS" "$DST_WAN" "$DST_LO" "$LD"; do
	mkdir -p "$CERTS/$h" && cp "$E2E_CA" "$CERTS/$h/ca.crt"
done
export OCIMIRROR_CERTS_DIRS=$CERTS
mkdir -p "$W/skcerts" && cp "$E2E_CA" "$W/skcerts/ca.crt"

mapfile -t REPOS < <(exp_get "$W/exp.json" 'sorted(d["repos"])')
{
	echo "registries:"
	echo "  '$LS': {tls: verify, ca: $E2E_CA}"
	echo "sync:"
	for r in "${REPOS[@]}"; do echo "  - source: $LS/$r"; done
} >"$W/sync.yaml"

# ---- measuring --------------------------------------------------------------
# run CMD...: wall seconds of CMD into RUN_T, and its peak RSS (MiB) into
# RUN_M when CMD is a program (not a shell function: then "-")
run() {
	local t0 t1 rc=0
	RUN_M=-
	t0=$(date +%s.%N)
	if [ "$(type -t "$1")" = function ]; then
		"$@" >/dev/null 2>>"$W/err.log" || rc=$?
	else
		/usr/bin/time -f '%M' -o "$W/rss" "$@" >/dev/null 2>>"$W/err.log" || rc=$?
		RUN_M=$(($(tail -n 1 "$W/rss") / 1024))
	fi
	t1=$(date +%s.%N)
	[ $rc = 0 ] || echo "failed ($rc): $*" >>"$W/failed"
	RUN_T=$("$PYTHON" -c "print('%.2f' % ($t1 - $t0))")
}
mark() { echo $(($(wc -l <"$1") + 1)); }
# reqs FROM UA: access-log lines of that client from line FROM
reqs() { tail -n +"$1" "$SRC_LOG" | grep -c "\"$2" || true; }
conns() { latency_stat "$LS_LOG" "$1" connections; }
ratio() { "$PYTHON" -c "print('%.2f' % ($1 / $2))"; }

OM_SYNC=("$BIN" --store "$W/store" -q sync -c "$W/sync.yaml")
sk_sync() {
	local r
	for r in "${REPOS[@]}"; do
		skopeo sync --all --src docker --dest docker --src-cert-dir "$W/skcerts" --dest-tls-verify=false \
			"$LS/$r" "$SK_DST/sk" || return
	done
}

phase() { # NAME CMD... -> T_NAME M_NAME R_NAME C_NAME
	local n=$1 ua=$2 a c
	shift 2
	latency_idle "$LS_LOG" || true
	a=$(mark "$SRC_LOG") c=$(mark "$LS_LOG")
	run "$@"
	latency_idle "$LS_LOG" || true
	sleep 0.2 # the access log is written after the answer
	eval "T_$n=$RUN_T M_$n=$RUN_M R_$n=$(reqs "$a" "$ua") C_$n=$(conns "$c")"
}
phase om_cold ocimirror/ "${OM_SYNC[@]}"
phase om_noop ocimirror/ "${OM_SYNC[@]}"
port=$(e2e_free_port)
e2e_registry reg-sk "$port"
SK_DST=127.0.0.1:$port
phase sk_cold skopeo/ sk_sync
phase sk_noop skopeo/ sk_sync

# push: the synced store to an empty registry, through the link / on loopback
run "$BIN" --store "$W/store" -q push --all --to "$LD/mirror"
T_PUSH_WAN=$RUN_T
run "$BIN" --store "$W/store" -q push --all --to "$DST_LO/mirror"
T_PUSH_LO=$RUN_T

# app pull: one registry, named by a bare host that is the relay, seeded and
# measured at 0 ms, then measured again at $RTT ms
port=$(e2e_free_port)
e2e_registry reg-app "$port"
APP_HOST=$(e2e_bare_addr)
LATENCY_LISTEN=$APP_HOST:80 e2e_start_latency lat-app "127.0.0.1:$port" 0
"$PYTHON" tests/e2e/lib/seed_app.py --registry "$APP_HOST:80" --name "$APP_HOST" --work "$W/app" \
	--out "$W/app.json" --layer-kib "${BENCH_WAN_APP_LAYER_KIB:-1024}" --two-platforms >/dev/null
"$BIN" --store "$W/appseed" -q app push "$W/app/helm-app" "$APP_HOST/appe2e/apps/digitron"
APP_REF=$APP_HOST/appe2e/apps/digitron:1.2.0
run "$BIN" --store "$W/app-lo" -q app pull "$APP_REF"
T_APP_LO=$RUN_T
APP_MIB=$(du -sm "$W/app-lo/blobs" | cut -f1)
e2e_stop_bg lat-app
LATENCY_LISTEN=$APP_HOST:80 e2e_start_latency lat-app "127.0.0.1:$port" "$RTT" "$MBIT"
run "$BIN" --store "$W/app-wan" -q app pull "$APP_REF"
T_APP_WAN=$RUN_T

# ---- the floor ---------------------------------------------------------------
read -r F_COLD F_NOOP F_RT_COLD F_RT_NOOP < <("$PYTHON" - "$W/exp.json" "$RTT" "$MBIT" "$STREAMS" <<'PY'
import json, math, sys
d = json.load(open(sys.argv[1])); rtt = float(sys.argv[2]) / 1000; mbit = float(sys.argv[3]); p = int(sys.argv[4])
rounds = lambda n: math.ceil(n / p) if n else 0
top = sum(len(r["images"]) for r in d["repos"].values())
kids = sum(len(i["children"]) for r in d["repos"].values() for i in r["images"])
connect, lists = 2, 1
noop = connect + lists + rounds(d["tags"])
cold = noop + rounds(top) + rounds(kids) + rounds(d["blobs"])
wire = (d["blob_bytes"] + d["manifest_bytes"]) * 8 / (mbit * 1e6) if mbit else 0
print("%.2f %.2f %d %d" % (cold * rtt + wire, noop * rtt, cold, noop))
PY
)
TAGS=$(exp_get "$W/exp.json" 'd["tags"]')
MIB=$("$PYTHON" -c "import json; d=json.load(open('$W/exp.json')); print('%.1f' % (d['blob_bytes'] / 1048576))")
[ -s "$W/failed" ] && echo "# FAILED: $(tr '\n' ';' <"$W/failed") (see $W/err.log)"

# shellcheck disable=SC2154 # T_*, M_*, R_*, C_* are set by phase()
{
echo
echo "# WAN bench: ${RTT} ms RTT, ${MBIT} Mbit/s each way, HTTPS (Go docker-registry offers HTTP/2)"
echo "# sync: ${#REPOS[@]} repositories, $TAGS tags, $(exp_get "$W/exp.json" 'd["manifests"]') manifests ($(exp_get "$W/exp.json" 'd["indexes"]') indexes), $(exp_get "$W/exp.json" 'd["blobs"]') blobs, $MIB MiB"
printf '%-34s %8s %8s %10s %10s %6s %6s %9s\n' "" "cold s" "no-op s" "cold req" "no-op req" "conns" "" "peak RSS"
printf '%-34s %8s %8s %10s %10s %6s %6s %9s\n' "ocimirror sync" "$T_om_cold" "$T_om_noop" "$R_om_cold" "$R_om_noop" \
	"$C_om_cold" "$C_om_noop" "$M_om_cold/$M_om_noop MiB"
printf '%-34s %8s %8s %10s %10s %6s %6s\n' "skopeo sync --all, each repo" "$T_sk_cold" "$T_sk_noop" "$R_sk_cold" \
	"$R_sk_noop" "$C_sk_cold" "$C_sk_noop"
printf '%-34s %8s %8s %10s\n' "critical-path floor" "$F_COLD" "$F_NOOP" "($F_RT_COLD/$F_RT_NOOP round trips, P=$STREAMS)"
echo "ratios: ocimirror/skopeo cold $(ratio "$T_om_cold" "$T_sk_cold")x (target < 0.25), no-op $(ratio "$T_om_noop" "$T_sk_noop")x;" \
	"ocimirror/floor cold $(ratio "$T_om_cold" "$F_COLD")x, no-op $(ratio "$T_om_noop" "$F_NOOP")x (targets <= 2; no-op < 1.5 s)"
printf '%-34s %8s %8s %8s\n' "" "${RTT} ms" "loopback" "ratio"
printf '%-34s %8s %8s %8s\n' "ocimirror push --all ($TAGS tags)" "$T_PUSH_WAN" "$T_PUSH_LO" "$(ratio "$T_PUSH_WAN" "$T_PUSH_LO")"
printf '%-34s %8s %8s %8s\n' "ocimirror app pull (Helm, ${APP_MIB} MiB)" "$T_APP_WAN" "$T_APP_LO" "$(ratio "$T_APP_WAN" "$T_APP_LO")"
echo "(app pull on loopback goes through the relay at 0 ms: the package names its registry)"
}
