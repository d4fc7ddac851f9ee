# shellcheck shell=bash
# Sourced by the e2e harness: starts real peers on loopback.
#
#   . tests/e2e/lib/env.sh
#   e2e_init                 # temp dir + cleanup trap (kills what we started)
#   e2e_start_open           # $REG_OPEN   docker-registry, no auth
#   e2e_start_basic          # $REG_BASIC  htpasswd (bcrypt) auth
#   e2e_start_token          # $REG_TOKEN  token auth + tokenserver.py ($TOKEN_SERVER)
#   e2e_start_proxy          # $REG_PROXY  faultproxy.py in front of $REG_OPEN
#   e2e_start_all            # all of the above
#   e2e_start_tls            # $REG_TLS    HTTPS (test CA $E2E_CA), access log
#   e2e_start_latency N UP   # $LATENCY_ADDR latencyproxy.py in front of UP
#
# Exposes (exported): E2E_TMP E2E_LIB REG_OPEN REG_BASIC REG_TOKEN REG_PROXY
# TOKEN_SERVER E2E_USER E2E_PASS E2E_TOKEN_LOG PYTHON. Each address is
# "127.0.0.1:PORT". Logs: $E2E_TMP/<name>.log.  E2E_KEEP=1 keeps the temp dir.

E2E_LIB=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
export E2E_LIB
# ceph_start/ceph_stop, s3_bucket, s3_url, s3tool: the S3 endpoint (Ceph RGW)
. "$E2E_LIB/ceph.sh"
export PYTHON=${PYTHON:-/usr/bin/python3}
export E2E_USER=${E2E_USER:-e2euser}
export E2E_PASS=${E2E_PASS:-e2e-Secret.123}
E2E_PIDS=()
E2E_PORTS_USED=" "
E2E_READY_TIMEOUT=${E2E_READY_TIMEOUT:-20}

e2e_log() { echo "# $*" >&2; }
e2e_die() { echo "e2e: $*" >&2; exit 99; }

e2e_init() {
	[ -n "${E2E_TMP:-}" ] && [ -d "$E2E_TMP" ] && return 0
	E2E_TMP=$(mktemp -d "${TMPDIR:-/tmp}/ocimirror-e2e.XXXXXX") || e2e_die "mktemp failed"
	export E2E_TMP
	trap e2e_cleanup EXIT
	trap 'e2e_cleanup; exit 130' INT
	trap 'e2e_cleanup; exit 143' TERM
}

e2e_cleanup() {
	local pid
	set +e # a pid already gone is not an error (callers may run set -e)
	ceph_untrack # the Ceph daemons last, in their order (ceph_stop below)
	for pid in "${E2E_PIDS[@]}"; do
		kill "$pid" 2>/dev/null
	done
	for pid in "${E2E_PIDS[@]}"; do
		# bounded wait (~2 s each), then SIGKILL
		local i
		for i in 1 2 3 4 5 6 7 8 9 10; do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.2
		done
		kill -9 "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
	done
	E2E_PIDS=()
	ceph_stop # radosgw, OSD, mon (nothing if none was started)
	if [ -n "${E2E_TMP:-}" ] && [ -d "$E2E_TMP" ]; then
		if [ "${E2E_KEEP:-0}" = 1 ]; then
			echo "# e2e: kept $E2E_TMP" >&2
		else
			rm -rf "$E2E_TMP"
		fi
	fi
}

# e2e_free_port: print a loopback TCP port nobody listens on (and that this
# harness has not handed out before).
e2e_free_port() {
	local p i
	for i in 1 2 3 4 5 6 7 8 9 10; do
		p=$("$PYTHON" -c 'import socket
s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()') || return 1
		case "$E2E_PORTS_USED" in *" $p "*) continue ;; esac
		E2E_PORTS_USED="$E2E_PORTS_USED$p "
		echo "$p"
		return 0
	done
	return 1
}

# e2e_wait_http URL [CODES...]: wait (bounded by E2E_READY_TIMEOUT s) until URL
# answers with one of CODES (default 200 401); E2E_CURL_CA=FILE trusts that CA.
e2e_wait_http() {
	local url=$1; shift
	local codes=("$@") code deadline
	[ ${#codes[@]} -eq 0 ] && codes=(200 401)
	deadline=$((SECONDS + E2E_READY_TIMEOUT))
	while [ $SECONDS -lt $deadline ]; do
		code=$(curl -s -o /dev/null -m 2 ${E2E_CURL_CA:+--cacert "$E2E_CURL_CA"} -w '%{http_code}' "$url" 2>/dev/null) || true
		for c in "${codes[@]}"; do
			[ "$code" = "$c" ] && return 0
		done
		sleep 0.1
	done
	e2e_log "timeout waiting for $url (last code $code)"
	return 1
}

# _e2e_bg NAME CMD...: start in background, log to $E2E_TMP/NAME.log, remember pid
_e2e_bg() {
	local name=$1; shift
	"$@" >"$E2E_TMP/$name.log" 2>&1 </dev/null &
	E2E_PIDS+=("$!")
	eval "E2E_PID_${name//-/_}=$!"
}

# e2e_stop_bg NAME: stop what _e2e_bg NAME started (TERM, bounded wait ~3 s,
# then KILL)
e2e_stop_bg() {
	local v="E2E_PID_${1//-/_}" pid
	pid=${!v:-}
	[ -n "$pid" ] || return 0
	kill "$pid" 2>/dev/null || true
	for _ in $(seq 1 30); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	kill -9 "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
}

# e2e_registry NAME PORT [AUTH_YAML [ADDR]]: write a config and start
# docker-registry on ADDR (default 127.0.0.1:PORT). E2E_REG_ACCESSLOG=1 turns
# its access log on (one line per request, in $E2E_TMP/NAME.log);
# E2E_REG_TLS=DIR serves HTTPS with DIR/tls.crt and DIR/tls.key (signed by
# $E2E_CA: see e2e_tls_cert); E2E_REG_DATA=DIR serves DIR (another
# registry's data directory: two names, e.g. HTTP and HTTPS, for one content).
e2e_registry() {
	local name=$1 port=$2 auth=${3:-} addr=${4:-127.0.0.1:$2}
	local dir="$E2E_TMP/$name" access=true scheme=http
	[ "${E2E_REG_ACCESSLOG:-0}" = 1 ] && access=false
	mkdir -p "$dir/data"
	cat >"$dir/config.yml" <<-YAML
	version: 0.1
	log:
	  level: error
	  accesslog:
	    disabled: $access
	storage:
	  filesystem:
	    rootdirectory: ${E2E_REG_DATA:-$dir/data}
	  delete:
	    enabled: true
	  maintenance:
	    uploadpurging:
	      enabled: false
	http:
	  addr: $addr
	  secret: e2e-not-a-secret-$name
	  headers:
	    X-Content-Type-Options: [nosniff]
	YAML
	if [ -n "${E2E_REG_TLS:-}" ]; then
		printf '  tls:\n    certificate: %s\n    key: %s\n' \
			"$E2E_REG_TLS/tls.crt" "$E2E_REG_TLS/tls.key" >>"$dir/config.yml"
		scheme=https
	fi
	[ -n "$auth" ] && printf '%s\n' "$auth" >>"$dir/config.yml"
	# do not let a REGISTRY_* variable from the caller change the config
	_e2e_bg "$name" env $(env | sed -n 's/^\(REGISTRY_[A-Z_]*\)=.*/-u \1/p') \
		/usr/bin/docker-registry serve "$dir/config.yml"
	if ! E2E_CURL_CA=${E2E_REG_TLS:+$E2E_CA} e2e_wait_http "$scheme://$addr/v2/"; then
		cat "$E2E_TMP/$name.log" >&2
		e2e_die "registry $name did not start"
	fi
}

e2e_start_open() {
	e2e_init
	local port; port=$(e2e_free_port) || e2e_die "no free port"
	e2e_registry reg-open "$port"
	export REG_OPEN="127.0.0.1:$port"
}

# e2e_bare_addr: print a 127.0.80.N whose port 80 is free (bind it before
# asking for another)
e2e_bare_addr() {
	local n
	for n in $(seq 1 60); do
		if "$PYTHON" -c 'import socket,sys
s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], 80))' "127.0.80.$n" 2>/dev/null; then
			echo "127.0.80.$n"
			return 0
		fi
	done
	return 1
}

# e2e_start_bare NAME: docker-registry on port 80 of a free 127.0.80.N, so
# references name it by a bare host (as they name registry.example.com);
# exports BARE_HOST
e2e_start_bare() {
	BARE_HOST=$(e2e_bare_addr) || e2e_die "no 127.0.80.N:80 is free"
	e2e_registry "$1" 80 "" "$BARE_HOST:80"
	export BARE_HOST
}

e2e_start_basic() {
	e2e_init
	local port; port=$(e2e_free_port) || e2e_die "no free port"
	mkdir -p "$E2E_TMP/reg-basic"
	htpasswd -Bbn "$E2E_USER" "$E2E_PASS" >"$E2E_TMP/reg-basic/htpasswd" 2>/dev/null ||
		e2e_die "htpasswd failed"
	e2e_registry reg-basic "$port" "auth:
  htpasswd:
    realm: e2e-basic
    path: $E2E_TMP/reg-basic/htpasswd"
	export REG_BASIC="127.0.0.1:$port"
}

e2e_start_token() {
	e2e_init
	local port tport dir="$E2E_TMP/reg-token"
	port=$(e2e_free_port) || e2e_die "no free port"
	tport=$(e2e_free_port) || e2e_die "no free port"
	mkdir -p "$dir"
	openssl req -x509 -newkey rsa:2048 -nodes -sha256 -days 2 \
		-subj "/CN=ocimirror-e2e-token" -keyout "$dir/token.key" -out "$dir/token.crt" \
		>/dev/null 2>&1 || e2e_die "openssl failed"
	export E2E_TOKEN_LOG="$dir/token-requests.log"
	: >"$E2E_TOKEN_LOG"
	_e2e_bg tokenserver "$PYTHON" "$E2E_LIB/tokenserver.py" --port "$tport" \
		--key "$dir/token.key" --cert "$dir/token.crt" \
		--issuer e2e-token-issuer --service e2e-registry \
		--user "$E2E_USER:$E2E_PASS" --log "$E2E_TOKEN_LOG"
	e2e_wait_http "http://127.0.0.1:$tport/healthz" 200 || {
		cat "$E2E_TMP/tokenserver.log" >&2; e2e_die "token server did not start"; }
	export TOKEN_SERVER="127.0.0.1:$tport"
	e2e_registry reg-token "$port" "auth:
  token:
    realm: http://$TOKEN_SERVER/token
    service: e2e-registry
    issuer: e2e-token-issuer
    rootcertbundle: $dir/token.crt"
	export REG_TOKEN="127.0.0.1:$port"
}

e2e_start_proxy() {
	e2e_init
	[ -n "${REG_OPEN:-}" ] || e2e_start_open
	local port; port=$(e2e_free_port) || e2e_die "no free port"
	_e2e_bg faultproxy "$PYTHON" "$E2E_LIB/faultproxy.py" --port "$port" --upstream "$REG_OPEN"
	e2e_wait_http "http://127.0.0.1:$port/__log" 200 || {
		cat "$E2E_TMP/faultproxy.log" >&2; e2e_die "fault proxy did not start"; }
	export REG_PROXY="127.0.0.1:$port"
}

e2e_start_all() {
	e2e_init
	e2e_start_open
	e2e_start_basic
	e2e_start_token
	e2e_start_proxy
}

# ---- TLS with a test CA, latency proxy ------------------------------------
# e2e_test_ca: a CA for this run in $E2E_TMP/ca (made once); exports E2E_CA
# (its certificate, what a client is told to trust)
e2e_test_ca() {
	e2e_init
	local d=$E2E_TMP/ca
	export E2E_CA=$d/ca.crt
	[ -s "$E2E_CA" ] && return 0
	mkdir -p "$d"
	openssl req -x509 -newkey rsa:2048 -nodes -sha256 -days 2 -subj "/CN=ocimirror-e2e-ca" \
		-addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
		-keyout "$d/ca.key" -out "$E2E_CA" >/dev/null 2>&1 || e2e_die "openssl: test CA failed"
}

# e2e_tls_cert DIR: DIR/tls.crt + DIR/tls.key, a server certificate for
# 127.0.0.1 and localhost signed by the test CA
e2e_tls_cert() {
	local d=$1
	e2e_test_ca
	mkdir -p "$d"
	openssl req -newkey rsa:2048 -nodes -sha256 -subj "/CN=127.0.0.1" \
		-keyout "$d/tls.key" -out "$d/tls.csr" >/dev/null 2>&1 || e2e_die "openssl: csr failed"
	printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n' >"$d/ext.cnf"
	openssl x509 -req -in "$d/tls.csr" -CA "$E2E_CA" -CAkey "$E2E_TMP/ca/ca.key" -CAcreateserial \
		-days 2 -sha256 -extfile "$d/ext.cnf" -out "$d/tls.crt" >/dev/null 2>&1 ||
		e2e_die "openssl: server certificate failed"
}

# e2e_start_tls [DATA_DIR]: docker-registry over HTTPS (HTTP/2 offered, as
# Go serves it), certificate from the test CA, access log on, serving
# DATA_DIR if given (e.g. "$E2E_TMP/reg-open/data": the same content as
# $REG_OPEN); exports REG_TLS (its log: $E2E_TMP/reg-tls.log) and E2E_CA
e2e_start_tls() {
	e2e_init
	local port; port=$(e2e_free_port) || e2e_die "no free port"
	e2e_tls_cert "$E2E_TMP/reg-tls/tls"
	E2E_REG_DATA=${1:-} E2E_REG_TLS=$E2E_TMP/reg-tls/tls E2E_REG_ACCESSLOG=1 e2e_registry reg-tls "$port"
	export REG_TLS="127.0.0.1:$port"
}

# e2e_start_latency NAME UPSTREAM [RTT_MS [MBIT]]: latencyproxy.py (a TCP
# relay holding each chunk RTT_MS/2 each way, default 50; MBIT: link speed,
# default unlimited) on a free loopback port (LATENCY_LISTEN=HOST:PORT: that
# one) in front of UPSTREAM; sets LATENCY_ADDR (HOST:PORT) and LATENCY_LOG
# (its per-connection and per-request log, appended to when NAME is started
# again), and E2E_PID_NAME
e2e_start_latency() {
	e2e_init
	local name=$1 up=$2 rtt=${3:-50} mbit=${4:-0} host=127.0.0.1 port
	if [ -n "${LATENCY_LISTEN:-}" ]; then
		host=${LATENCY_LISTEN%:*} port=${LATENCY_LISTEN##*:}
	else
		port=$(e2e_free_port) || e2e_die "no free port"
	fi
	LATENCY_LOG=$E2E_TMP/$name.requests.log
	touch "$LATENCY_LOG"
	_e2e_bg "$name" "$PYTHON" "$E2E_LIB/latencyproxy.py" --listen "$host" --port "$port" --upstream "$up" \
		--rtt-ms "$rtt" --mbit "$mbit" --log "$LATENCY_LOG"
	for _ in $(seq 1 $((E2E_READY_TIMEOUT * 10))); do
		grep -q '^latencyproxy listening' "$E2E_TMP/$name.log" 2>/dev/null && break
		sleep 0.1
	done
	grep -q '^latencyproxy listening' "$E2E_TMP/$name.log" ||
		{ cat "$E2E_TMP/$name.log" >&2; e2e_die "latency proxy $name did not start"; }
	LATENCY_ADDR=$host:$port
	export LATENCY_ADDR LATENCY_LOG
}

# latency_stats LOG [FROM_LINE]: the proxy's figures for the connections
# opened from line FROM_LINE of LOG on, as one JSON object (see
# latencyproxy.py --analyze); latency_stat LOG FROM KEY prints one of them
# (KEY: a top-level key, or method:HEAD, kind:GET blobs, proto:tls)
latency_stats() { "$PYTHON" "$E2E_LIB/latencyproxy.py" --analyze "$1" --from-line "${2:-1}"; }
latency_stat() {
	latency_stats "$1" "$2" | "$PYTHON" -c 'import json,sys
d=json.load(sys.stdin); g,_,k=sys.argv[1].rpartition(":")
print(d[g + "s"].get(k, 0) if g else d[k])' "$3"
}
# latency_requests LOG [FROM_LINE]: "METHOD TARGET" of each plain-HTTP request
latency_requests() { "$PYTHON" "$E2E_LIB/latencyproxy.py" --analyze "$1" --from-line "${2:-1}" --list; }

# latency_idle LOG: wait (bounded, 5 s) until every connection in LOG is
# closed (the proxy delivers a close rtt/2 after it saw it)
latency_idle() {
	for _ in $(seq 1 50); do
		[ "$(latency_stat "$1" 1 open_now)" = 0 ] && return 0
		sleep 0.1
	done
	return 1
}

# ---- fault proxy control ------------------------------------------------
# proxy_fault '{"mode":"drop","match":"/blobs/","after":1048576,"count":1}'
proxy_fault() {
	curl -sf -m 5 -X POST -H 'Content-Type: application/json' --data "$1" \
		"http://$REG_PROXY/__fault" >/dev/null
}
proxy_reset() { curl -sf -m 5 -X POST "http://$REG_PROXY/__reset" >/dev/null; }
# proxy_log: the proxy's JSON log; E2E_PROXY=ADDR reads another faultproxy.py
proxy_log() { curl -sf -m 5 "http://${E2E_PROXY:-$REG_PROXY}/__log"; }
# proxy_count [METHOD] [PATH-SUBSTRING] [ranged]: count proxied requests
proxy_count() {
	proxy_log | "$PYTHON" -c 'import json,sys
m,p,r=(sys.argv[1:]+["","",""])[:3]
print(sum(1 for e in json.load(sys.stdin)
          if (not m or e["method"]==m) and (not p or p in e["path"]) and (r!="ranged" or e.get("range"))))' "$@"
}

# proxy_faults [MODE]: "METHOD PATH" of every request the proxy injected a
# fault into (of MODE, if given: drop, corrupt, stall, status503 ...), in order
proxy_faults() {
	local log
	log=$(proxy_log) || return 1
	printf '%s' "$log" | "$PYTHON" -c 'import json,sys
m=(sys.argv[1:]+[""])[0]
for e in json.load(sys.stdin):
    f=e.get("fault")
    if f and f not in ("paginate", "upstream-error") and (not m or f==m): print(e["method"], e["path"])' "$@"
}

# assert_proxy_faults WANT MODE [PATH-SUBSTRING]: the proxy injected fault
# MODE exactly WANT times ("N+": at least N), each time into a request whose
# path contains PATH-SUBSTRING. Needs assert.sh.
assert_proxy_faults() {
	local want=$1 mode=$2 sub=${3:-} got n bad
	got=$(proxy_faults "$mode") || { _fail "fault proxy log unreadable"; return 1; }
	n=$(printf '%s' "$got" | grep -c .)
	case $want in
	*+) [ "$n" -ge "${want%+}" ] || { _fail "$mode faults injected: $n, want at least ${want%+}"; return 1; } ;;
	*) [ "$n" -eq "$want" ] || { _fail "$mode faults injected: $n, want $want [$(printf '%s' "$got" | tr '\n' ' ' | head -c 300)]"; return 1; } ;;
	esac
	[ -n "$sub" ] || return 0
	bad=$(printf '%s\n' "$got" | grep . | grep -vF -- "$sub" | head -n 3 | tr '\n' ' ')
	[ -z "$bad" ] && return 0
	_fail "$mode fault injected outside '$sub': $bad"
}

# ---- expectations (seed.py --out) ----------------------------------------
# exp_get FILE EXPR: print a value; EXPR is python applied to the JSON as `d`
#   exp_get "$EXP_OPEN" 'd["refs"]["oci-image"]["digest"]'
exp_get() {
	"$PYTHON" -c 'import json,sys
d=json.load(open(sys.argv[1])); v=eval(sys.argv[2])
if isinstance(v,(list,tuple)):
    for x in v: print(x if not isinstance(x,dict) else json.dumps(x))
elif isinstance(v,(dict,)): print(json.dumps(v))
elif v is None: pass
else: print(v)' "$1" "$2"
}
