#!/usr/bin/env bash
# make bench (S3 part): the same content in a local-directory store and in
# an S3 store (a single-node Ceph RGW on loopback, tests/e2e/lib/ceph.sh):
# `sync` into each (cold), then `serve` of each (S3: proxied, and with
# --redirect, curl following the 307 to RGW): N concurrent GETs of a
# 64 MiB blob and 200 manifest GETs (8 at a time). Prints times, rates, the
# S3/directory ratios and each serve's peak RSS (VmHWM). Not a test.
# Skipped (exit 0) when the ceph packages are missing.
. "$(dirname "$0")/prologue.sh"
BIG=${BENCH_S3_BIG_MIB:-64}
CONNS=${BENCH_S3_CONNS:-8}
MANS=${BENCH_S3_MANIFESTS:-200}
if miss=$(ceph_missing); then :; else
	echo "# bench_s3: skipped, missing $miss (scripts/deps.sh installs the ceph packages)"
	exit 0
fi
e2e_start_open
ceph_start "$E2E_TMP/ceph" >/dev/null
W=$E2E_TMP/bs3
mkdir -p "$W"
"$PYTHON" tests/e2e/lib/seed.py --registry "$REG_OPEN" --prefix b --kinds oci-image,multiarch,helm-chart \
	--large "$BIG" --out "$W/exp.json" >/dev/null
read -r MREPO MTAG LREPO BIGB < <("$PYTHON" -c 'import json,sys
d=json.load(open(sys.argv[1]))["refs"]
print(d["oci-image"]["repo"], d["oci-image"]["tag"], d["large"]["repo"], d["large"]["layers"][0]["digest"])' "$W/exp.json")
{
	echo "defaults: {concurrency: 4}"
	echo "sync:"
	"$PYTHON" -c 'import json,sys
for r in sorted(set(r["repo"] for r in json.load(open(sys.argv[1]))["refs"].values())): print("  - source: " + sys.argv[2] + "/" + r)' \
		"$W/exp.json" "$REG_OPEN"
} >"$W/sync.yaml"
BKT=$(s3_bucket bench)
S3=$(s3_url "$BKT" store)
DIR=$W/store

now() { date +%s.%N; }
secs() { "$PYTHON" -c "print('%.2f' % (float('$2') - float('$1')))"; }
ratio() { "$PYTHON" -c "print('%.2f' % (float('$1') / float('$2')))" 2>/dev/null || echo "?"; }
hwm() { awk '/VmHWM/ {print int($2/1024)}' "/proc/$1/status" 2>/dev/null || echo "?"; }

t0=$(now); "$BIN" --store "$DIR" -q sync -c "$W/sync.yaml"; t1=$(now)
"$BIN" --store "$S3" -q sync -c "$W/sync.yaml"; t2=$(now)
sync_dir=$(secs "$t0" "$t1") sync_s3=$(secs "$t1" "$t2")

# start_serve STORE ARGS...: SRV_PORT, SRV_PID
start_serve() {
	local store=$1; shift
	SRV_PORT=$(e2e_free_port)
	"$BIN" --store "$store" -q serve --listen "127.0.0.1:$SRV_PORT" --anonymous-read "$@" &
	SRV_PID=$!
	E2E_PIDS+=("$SRV_PID")
	e2e_wait_http "http://127.0.0.1:$SRV_PORT/v2/"
}
# blobs PORT: seconds for CONNS concurrent GETs of the big blob (redirects followed)
blobs() {
	local i t0 t1 bad=0 pids=()
	t0=$(now)
	for i in $(seq 1 "$CONNS"); do
		curl -sfL -m 300 -o /dev/null -w '%{size_download}\n' \
			"http://127.0.0.1:$1/v2/$REG_OPEN/$LREPO/blobs/$BIGB" >"$W/blob.$i" &
		pids+=("$!")
	done
	wait "${pids[@]}" || true # (not a bare wait: the servers are children too)
	t1=$(now)
	for i in $(seq 1 "$CONNS"); do
		[ "$(cat "$W/blob.$i")" = "$((BIG * 1024 * 1024))" ] || bad=$((bad + 1))
	done
	[ $bad -eq 0 ] || echo "# bench_s3: $bad of $CONNS blob GETs on port $1 short or failed" >&2
	secs "$t0" "$t1"
}
# manifests PORT: seconds for MANS manifest GETs, 8 at a time
manifests() {
	local i t0 t1
	: >"$W/man.cfg"
	for i in $(seq 1 "$MANS"); do
		printf 'url = "http://127.0.0.1:%s/v2/%s/%s/manifests/%s"\noutput = "/dev/null"\n' \
			"$1" "$REG_OPEN" "$MREPO" "$MTAG" >>"$W/man.cfg"
	done
	t0=$(now)
	curl -sf --no-progress-meter -m 120 --parallel --parallel-max 8 -H 'Accept: application/vnd.oci.image.manifest.v1+json' \
		-K "$W/man.cfg" || echo "# bench_s3: a manifest GET on port $1 failed" >&2
	t1=$(now)
	secs "$t0" "$t1"
}

start_serve "$DIR"
d_pid=$SRV_PID d_port=$SRV_PORT
start_serve "$S3"
p_pid=$SRV_PID p_port=$SRV_PORT
start_serve "$S3" --redirect
r_pid=$SRV_PID r_port=$SRV_PORT
d_blob=$(blobs "$d_port") p_blob=$(blobs "$p_port") r_blob=$(blobs "$r_port")
d_man=$(manifests "$d_port") p_man=$(manifests "$p_port") r_man=$(manifests "$r_port")
mibs() { "$PYTHON" -c "print('%.0f' % ($CONNS * $BIG / float('$1')))"; }
rps() { "$PYTHON" -c "print('%.0f' % ($MANS / float('$1')))"; }
echo
echo "# S3 bench (Ceph RGW memstore on loopback): ${CONNS}x GET of a ${BIG} MiB blob, $MANS manifest GETs 8 at a time"
printf '%-34s %12s %14s %16s\n' "" directory "S3 proxied" "S3 --redirect"
printf '%-34s %12s %14s %16s\n' "cold sync s" "$sync_dir" "$sync_s3" "-"
printf '%-34s %12s %14s %16s\n' "blob GETs s (MiB/s)" "$d_blob ($(mibs "$d_blob"))" "$p_blob ($(mibs "$p_blob"))" "$r_blob ($(mibs "$r_blob"))"
printf '%-34s %12s %14s %16s\n' "manifest GETs s (GET/s)" "$d_man ($(rps "$d_man"))" "$p_man ($(rps "$p_man"))" "$r_man ($(rps "$r_man"))"
printf '%-34s %12s %14s %16s\n' "serve peak RSS MiB" "$(hwm "$d_pid")" "$(hwm "$p_pid")" "$(hwm "$r_pid")"
echo "ratios (S3 / directory, time): sync $(ratio "$sync_s3" "$sync_dir")x; blobs proxied $(ratio "$p_blob" "$d_blob")x, redirect $(ratio "$r_blob" "$d_blob")x; manifests proxied $(ratio "$p_man" "$d_man")x, redirect $(ratio "$r_man" "$d_man")x"
s3tool rm-prefix "$BKT" store/ >/dev/null || true
