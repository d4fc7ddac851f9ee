# shellcheck shell=bash
# A real S3 endpoint for the e2e tests: a single-node Ceph cluster (one mon,
# one OSD on memstore, no mgr) and a RADOS Gateway (beast frontend), all on
# 127.0.0.1, everything (config, mon and OSD data, logs, admin sockets, run
# dir) under one directory. No cephx (auth none, crc messenger mode). The
# OSD keeps its data in RAM (memstore): a cluster lives for one run.
# Sourced by env.sh; needs the packages radosgw ceph-mon ceph-osd
# ceph-common (scripts/deps.sh).
#
#   ceph_start DIR
#       bootstraps and starts the cluster in DIR (made; must be empty or
#       absent) and waits, bounded by CEPH_START_TIMEOUT (60 s), until S3
#       answers an authenticated request. Exports S3_ENDPOINT
#       (http://127.0.0.1:PORT), AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
#       AWS_REGION (us-east-1: RGW takes the region of the signature's
#       scope as it is), CEPH_DIR, CEPH_CONF (DIR/ceph.conf: `ceph -c
#       "$CEPH_CONF" -s`, `radosgw-admin -c "$CEPH_CONF" ...`) and
#       CEPH_START_SECONDS (how long it took). Returns 1 with a one-line
#       reason ("ceph: ...") and the tail of the daemon's log on stderr
#       (and what it started stopped) when it cannot.
#       Knobs: CEPH_START_TIMEOUT, CEPH_MEMSTORE_MB (1024: the size the OSD
#       reports; not enforced: what is stored stays in the OSD's RAM until
#       deleted, so keep test data moderate and delete large objects;
#       RGW's GC frees a deleted object's data within ~5 s, or at once with
#       `radosgw-admin -c "$CEPH_CONF" -n client.admin gc process --include-all`).
#       In a benchmark (env.sh sourced): e2e_init; ceph_start "$E2E_TMP/ceph"
#       (e2e_cleanup stops it).
#   ceph_stop
#       radosgw, then the OSD, then the mon: SIGTERM, a bounded wait (10 s
#       each), then SIGKILL. Only the PIDs ceph_start recorded (also in
#       $CEPH_DIR/pids as "NAME PID" lines). Safe to call twice.
#   ceph_untrack
#       takes the daemons out of E2E_PIDS (env.sh's cleanup: the rest of
#       E2E_PIDS first, then ceph_stop)
#   ceph_missing
#       prints the missing programs (none: nothing, status 0; else 1)
#   ceph_rss
#       prints "NAME RSS_KIB" for each daemon of $CEPH_DIR/pids still running
#       (also in a test file: the cluster is run.sh's)
#   ceph_gc
#       runs RGW's garbage collection now (a deleted object's data freed;
#       on its own RGW does it within ~5 s)
#   ceph_rados_count BUCKET
#       prints how many RADOS objects of BUCKET the data pool holds (an
#       object is a head plus a tail per 4 MiB past the first; a pending
#       multipart upload's parts count too; deleted ones until GC)
#   s3_bucket NAME
#       creates a fresh bucket named NAME-<unique suffix> (lower-cased, at
#       most 63 characters) with s3tool.py and prints its name
#   s3_url BUCKET [PREFIX]
#       prints the ocimirror store URL
#       s3://BUCKET[/PREFIX]?endpoint=$S3_ENDPOINT&region=$AWS_REGION
#   s3tool ARGS...
#       runs lib/s3tool.py (see its docstring: mb, ls, get, put, head, rm,
#       mpu-start, mpu-ls, mpu-abort, mirror, presign, raw ...), bounded (60 s)
#   s3_require
#       for a test file: fails its setup unless S3_ENDPOINT is set (run.sh
#       starts the cluster for a file with the line "# e2e-needs: s3")

CEPH_LIB=${CEPH_LIB:-$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)}
CEPH_TEST_ACCESS_KEY=E2EACCESSKEY00000000
CEPH_TEST_SECRET_KEY=e2e-secret-key-not-a-secret-00000000000
CEPH_NAMES=() # daemons started, in start order
CEPH_BUCKETS_MADE=0

_ceph_py() { "${PYTHON:-/usr/bin/python3}" "$@"; }

_ceph_port() {
	if declare -F e2e_free_port >/dev/null; then
		e2e_free_port
	else
		_ceph_py -c 'import socket
s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
	fi
}

ceph_missing() {
	local t miss=()
	for t in ceph-mon ceph-osd radosgw radosgw-admin monmaptool ceph; do
		command -v "$t" >/dev/null 2>&1 || miss+=("$t")
	done
	[ ${#miss[@]} -eq 0 ] && return 0
	echo "${miss[*]}"
	return 1
}

# _ceph_fail REASON [LOG]: the one-line reason and LOG's tail on stderr,
# stop what was started, return 1
_ceph_fail() {
	echo "ceph: $1" >&2
	if [ -n "${2:-}" ] && [ -f "$2" ]; then
		echo "# --- tail of $2" >&2
		tail -n 25 "$2" | sed 's/^/#   /' >&2
	fi
	ceph_stop
	return 1
}

# _ceph_bg NAME CMD...: start a daemon in the foreground (-f) in the
# background, its stdout/stderr in $CEPH_DIR/log/NAME.out
_ceph_bg() {
	local name=$1; shift
	"$@" >"$CEPH_DIR/log/$name.out" 2>&1 </dev/null &
	local pid=$!
	eval "CEPH_PID_$name=$pid"
	CEPH_NAMES+=("$name")
	echo "$name $pid" >>"$CEPH_DIR/pids"
	# a test file's own exit trap stops E2E_PIDS too (a safety net)
	declare -p E2E_PIDS >/dev/null 2>&1 && E2E_PIDS+=("$pid")
	return 0
}

_ceph_alive() { local v="CEPH_PID_$1"; [ -n "${!v:-}" ] && kill -0 "${!v}" 2>/dev/null; }

_ceph_left() { echo $((CEPH_DEADLINE - SECONDS)); }

# _ceph() ARGS: the ceph CLI on this cluster, bounded
_ceph() {
	local left; left=$(_ceph_left)
	[ "$left" -gt 10 ] && left=10
	[ "$left" -lt 1 ] && left=1
	timeout -k 2 "$left" ceph -c "$CEPH_CONF" --connect-timeout "$left" "$@" 2>>"$CEPH_DIR/log/cli.err"
}

_ceph_conf() {
	local d=$CEPH_DIR mb=${CEPH_MEMSTORE_MB:-1024}
	cat <<-EOF
	[global]
	fsid = $CEPH_FSID
	mon_host = v2:127.0.0.1:$CEPH_MON_PORT
	public_addr = 127.0.0.1
	cluster_addr = 127.0.0.1
	ms_bind_msgr1 = false
	ms_bind_ipv6 = false
	auth_cluster_required = none
	auth_service_required = none
	auth_client_required = none
	ms_mon_client_mode = crc
	ms_client_mode = crc
	ms_cluster_mode = crc
	ms_service_mode = crc
	ms_mon_cluster_mode = crc
	ms_mon_service_mode = crc
	keyring = /dev/null
	run_dir = $d/run
	admin_socket = $d/run/\$name.asok
	log_file = $d/log/\$name.log
	pid_file = $d/run/\$name.pid
	crash_dir = $d/crash
	log_to_stderr = false
	err_to_stderr = true
	mon_cluster_log_file = $d/log/cluster.log
	osd_pool_default_size = 1
	osd_pool_default_min_size = 1
	mon_allow_pool_size_one = true
	osd_pool_default_pg_num = 8
	osd_pool_default_pgp_num = 8
	osd_pool_default_pg_autoscale_mode = off
	mon_max_pg_per_osd = 1000
	mon_warn_on_pool_no_redundancy = false
	paxos_propose_interval = 0.1
	osd_crush_chooseleaf_type = 0

	[client]
	# radosgw-admin and ceph next to a running radosgw: one socket each
	admin_socket = $d/run/\$name.\$pid.asok
	log_file = $d/log/\$name.log

	[mon]
	mon_data = $d/mon/\$name

	[osd]
	osd_data = $d/osd/\$name
	osd_objectstore = memstore
	memstore_device_bytes = $((mb * 1024 * 1024))
	osd_op_num_shards = 2
	osd_op_num_threads_per_shard = 1

	[client.rgw.e2e]
	admin_socket = $d/run/\$name.asok
	# tcp_nodelay: else beast's body waits behind the client's delayed
	# ACK of the headers (40 ms per request: a manifest GET through
	# serve took 134 ms, 8 ms with it)
	rgw_frontends = beast endpoint=127.0.0.1:$CEPH_RGW_PORT tcp_nodelay=1
	rgw_data = $d/rgw
	rgw_enable_usage_log = false
	rgw_enable_ops_log = false
	rgw_thread_pool_size = 64
	# deleted objects' data freed during a test (radosgw-admin gc process
	# --include-all frees it at once)
	rgw_gc_obj_min_wait = 2
	rgw_gc_processor_period = 5
	rgw_gc_processor_max_time = 5
	EOF
}

ceph_start() {
	local dir=$1 t0=$SECONDS out id uuid code miss
	miss=$(ceph_missing) || { echo "ceph: missing $miss (scripts/deps.sh installs radosgw ceph-mon ceph-osd ceph-common)" >&2; return 1; }
	if [ -e "$dir" ] && [ -n "$(ls -A "$dir" 2>/dev/null)" ]; then
		echo "ceph: $dir is not empty" >&2
		return 1
	fi
	mkdir -p "$dir" || { echo "ceph: cannot make $dir" >&2; return 1; }
	CEPH_DIR=$(cd "$dir" && pwd)
	CEPH_CONF=$CEPH_DIR/ceph.conf
	CEPH_DEADLINE=$((SECONDS + ${CEPH_START_TIMEOUT:-60}))
	CEPH_NAMES=()
	mkdir -p "$CEPH_DIR/mon/mon.a" "$CEPH_DIR/osd" "$CEPH_DIR/log" "$CEPH_DIR/run" \
		"$CEPH_DIR/rgw" "$CEPH_DIR/crash"
	: >"$CEPH_DIR/pids"
	CEPH_FSID=$(_ceph_py -c 'import uuid; print(uuid.uuid4())')
	CEPH_MON_PORT=$(_ceph_port) && CEPH_RGW_PORT=$(_ceph_port) || { echo "ceph: no free port" >&2; return 1; }
	_ceph_conf >"$CEPH_CONF"
	export CEPH_DIR CEPH_CONF

	# the mon
	monmaptool --create --fsid "$CEPH_FSID" --addv a "[v2:127.0.0.1:$CEPH_MON_PORT]" \
		"$CEPH_DIR/monmap" >"$CEPH_DIR/log/mkfs.out" 2>&1 ||
		_ceph_fail "monmaptool failed" "$CEPH_DIR/log/mkfs.out" || return 1
	ceph-mon -c "$CEPH_CONF" -i a --mkfs --monmap "$CEPH_DIR/monmap" >>"$CEPH_DIR/log/mkfs.out" 2>&1 ||
		_ceph_fail "ceph-mon --mkfs failed" "$CEPH_DIR/log/mkfs.out" || return 1
	_ceph_bg mon ceph-mon -f -c "$CEPH_CONF" -i a

	# the OSD: registered, made, started, up
	uuid=$(_ceph_py -c 'import uuid; print(uuid.uuid4())')
	id=""
	while [ "$(_ceph_left)" -gt 0 ]; do
		_ceph_alive mon || _ceph_fail "ceph-mon exited" "$CEPH_DIR/log/mon.a.log" || return 1
		id=$(_ceph osd new "$uuid") && [ -n "$id" ] && break
		id=""
		sleep 0.1
	done
	case $id in '' | *[!0-9]*) _ceph_fail "ceph osd new: no OSD id ($id) within ${CEPH_START_TIMEOUT:-60} s" \
		"$CEPH_DIR/log/cli.err" || return 1 ;; esac
	mkdir -p "$CEPH_DIR/osd/osd.$id"
	ceph-osd -c "$CEPH_CONF" -i "$id" --mkfs --osd-uuid "$uuid" >>"$CEPH_DIR/log/mkfs.out" 2>&1 ||
		_ceph_fail "ceph-osd --mkfs failed" "$CEPH_DIR/log/mkfs.out" || return 1
	_ceph_bg osd ceph-osd -f -c "$CEPH_CONF" -i "$id"
	while :; do
		_ceph_alive osd || _ceph_fail "ceph-osd exited" "$CEPH_DIR/log/osd.$id.log" || return 1
		out=$(_ceph osd stat -f json) || out=""
		case $out in *'"num_up_osds":1,'*) break ;; esac
		[ "$(_ceph_left)" -gt 0 ] || _ceph_fail "the OSD was not up within ${CEPH_START_TIMEOUT:-60} s" \
			"$CEPH_DIR/log/osd.$id.log" || return 1
		sleep 0.1
	done

	# radosgw, once the OSD is up (it makes its pools at start)
	_ceph_bg rgw radosgw -f -c "$CEPH_CONF" -n client.rgw.e2e
	export S3_ENDPOINT=http://127.0.0.1:$CEPH_RGW_PORT AWS_REGION=us-east-1 \
		AWS_ACCESS_KEY_ID=$CEPH_TEST_ACCESS_KEY AWS_SECRET_ACCESS_KEY=$CEPH_TEST_SECRET_KEY
	unset AWS_SESSION_TOKEN AWS_PROFILE AWS_DEFAULT_REGION AWS_ENDPOINT_URL AWS_ENDPOINT_URL_S3
	while :; do
		_ceph_alive rgw || _ceph_fail "radosgw exited" "$CEPH_DIR/log/client.rgw.e2e.log" || return 1
		code=$(curl -s -o /dev/null -m 2 -w '%{http_code}' "$S3_ENDPOINT/" 2>/dev/null) || true
		[ "$code" = 200 ] && break
		[ "$(_ceph_left)" -gt 0 ] || _ceph_fail "radosgw did not answer on $S3_ENDPOINT within ${CEPH_START_TIMEOUT:-60} s" \
			"$CEPH_DIR/log/client.rgw.e2e.log" || return 1
		sleep 0.1
	done
	timeout -k 2 "$(($(_ceph_left) > 5 ? $(_ceph_left) : 5))" radosgw-admin -c "$CEPH_CONF" \
		-n client.admin user create --uid=e2e --display-name=e2e \
		--access-key="$CEPH_TEST_ACCESS_KEY" --secret="$CEPH_TEST_SECRET_KEY" \
		>"$CEPH_DIR/log/user-create.out" 2>&1 ||
		_ceph_fail "radosgw-admin user create failed" "$CEPH_DIR/log/user-create.out" || return 1
	while :; do
		timeout -k 2 10 "${PYTHON:-/usr/bin/python3}" "$CEPH_LIB/s3tool.py" ping >/dev/null 2>>"$CEPH_DIR/log/ping.err" && break
		[ "$(_ceph_left)" -gt 0 ] || _ceph_fail "S3 did not take the test user's requests within ${CEPH_START_TIMEOUT:-60} s" \
			"$CEPH_DIR/log/ping.err" || return 1
		sleep 0.1
	done
	export CEPH_START_SECONDS=$((SECONDS - t0))
	return 0
}

_ceph_stop_one() {
	local name=$1 v="CEPH_PID_$1" pid
	pid=${!v:-}
	[ -n "$pid" ] || return 0
	kill "$pid" 2>/dev/null || true
	for _ in $(seq 1 100); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	kill -9 "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
	eval "CEPH_PID_$name="
	_ceph_untrack "$pid"
	return 0
}

# _ceph_untrack PID...: drop PIDs from the safety net E2E_PIDS
_ceph_untrack() {
	declare -p E2E_PIDS >/dev/null 2>&1 && [ ${#E2E_PIDS[@]} -gt 0 ] || return 0
	local keep=() p q drop
	for p in "${E2E_PIDS[@]}"; do
		drop=0
		for q in "$@"; do [ "$p" = "$q" ] && drop=1; done
		[ $drop = 1 ] || keep+=("$p")
	done
	E2E_PIDS=("${keep[@]}")
}

# ceph_untrack: take the daemons out of E2E_PIDS (so that a cleanup stopping
# E2E_PIDS all at once leaves them to ceph_stop, which stops them in order)
ceph_untrack() {
	local n v pids=()
	for n in rgw osd mon; do
		v="CEPH_PID_$n"
		[ -n "${!v:-}" ] && pids+=("${!v}")
	done
	[ ${#pids[@]} -gt 0 ] && _ceph_untrack "${pids[@]}"
	return 0
}

ceph_stop() {
	local n
	for n in rgw osd mon; do _ceph_stop_one "$n"; done
	CEPH_NAMES=()
	return 0
}

ceph_rss() {
	local n pid rss
	[ -n "${CEPH_DIR:-}" ] && [ -f "$CEPH_DIR/pids" ] || return 0
	while read -r n pid; do
		# a PID of ours only while it is still that daemon
		case $(cat "/proc/$pid/comm" 2>/dev/null) in ceph-mon | ceph-osd | radosgw) ;; *) continue ;; esac
		rss=$(sed -n 's/^VmRSS:[[:space:]]*\([0-9]*\) kB/\1/p' "/proc/$pid/status" 2>/dev/null)
		[ -n "$rss" ] && echo "$n $rss"
	done <"$CEPH_DIR/pids"
	return 0
}

ceph_gc() {
	timeout -k 2 30 radosgw-admin -c "$CEPH_CONF" -n client.admin gc process --include-all >/dev/null 2>&1
}

ceph_rados_count() {
	local marker
	marker=$(timeout -k 2 30 radosgw-admin -c "$CEPH_CONF" -n client.admin bucket stats --bucket="$1" 2>/dev/null |
		"${PYTHON:-/usr/bin/python3}" -c 'import json,sys; print(json.load(sys.stdin)["marker"])') || return 1
	[ -n "$marker" ] || return 1
	timeout -k 2 30 rados -c "$CEPH_CONF" -p default.rgw.buckets.data ls 2>/dev/null | grep -c -F "${marker}_"
	return 0
}

s3tool() { timeout -k 2 60 "${PYTHON:-/usr/bin/python3}" "$CEPH_LIB/s3tool.py" "$@"; }

s3_bucket() {
	local base name
	base=$(printf '%s' "${1:-b}" | tr 'A-Z_' 'a-z-' | tr -cd 'a-z0-9.-' | cut -c1-40)
	[ -n "$base" ] || base=b
	CEPH_BUCKETS_MADE=$((CEPH_BUCKETS_MADE + 1))
	name=$base-$$-$CEPH_BUCKETS_MADE-$(_ceph_py -c 'import secrets; print(secrets.token_hex(4))')
	s3tool mb "$name" || return 1
	echo "$name"
}

s3_url() {
	local b=$1 p=${2:-}
	p=${p#/} p=${p%/}
	echo "s3://$b${p:+/$p}?endpoint=$S3_ENDPOINT&region=$AWS_REGION"
}

s3_require() {
	[ -n "${S3_ENDPOINT:-}" ] && return 0
	e2e_setup_fail "no S3 endpoint (S3_ENDPOINT unset): run through tests/e2e/run.sh, which starts Ceph RGW for a file with '# e2e-needs: s3'"
}
