# shellcheck shell=bash
# Helpers for tests that run `ocimirror serve` and talk HTTP to it.
# Needs: $OCIMIRROR, $E2E_TMP, $E2E_WORK, $PYTHON; env.sh and assert.sh sourced
# (lib/prologue.sh sources it and stops its servers at exit).
#
#   serve_start NAME STORE [ARGS...]
#       starts `ocimirror --store STORE serve --listen 127.0.0.1:PORT ARGS`
#       on a free port, waits (bounded by E2E_READY_TIMEOUT) for /healthz and
#       sets SRV (127.0.0.1:PORT), SRV_PID, SRV_LOG, SRV_URL (http[s]://SRV),
#       and per-name SRV_<NAME> / SRV_PID_<NAME> / SRV_LOG_<NAME>. Its stderr
#       (the access log) goes to $E2E_WORK/serve-NAME.log. Returns 1 if it
#       did not come up (the log's tail is in E2E_CASE_FAIL).
#   serve_stop PID [SIG]          # signal (TERM), wait <= 10 s; prints nothing,
#                                 # returns the server's exit status (124: hung)
#   bg_track PID                  # kill PID at exit (for other daemons)
#
#   http METHOD URL [CURL-ARGS...]   # one request, bounded (-m 30):
#       HTTP_CODE, $HTTP_BODY (file), $HTTP_HDRS (file); returns 0
#   hdr NAME                      # a header of the last response (CR stripped)
#   body                          # the last body
#   err_code                      # errors[0].code of the last (OCI error) body
#   sha_of FILE                   # sha256:<hex> of FILE

SERVE_PIDS=()
SERVE_RMDIRS=()
serve_rm_at_exit() { SERVE_RMDIRS+=("$1"); }

_serve_cleanup() {
	local pid i
	for pid in "${SERVE_PIDS[@]}"; do kill "$pid" 2>/dev/null; done
	for pid in "${SERVE_PIDS[@]}"; do
		for i in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15; do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.2
		done
		kill -9 "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
	done
	SERVE_PIDS=()
	[ ${#SERVE_RMDIRS[@]} -gt 0 ] && rm -rf "${SERVE_RMDIRS[@]}"
	SERVE_RMDIRS=()
}

# _serve_cleanup is called by the test file's trap (lib/prologue.sh).

bg_track() { SERVE_PIDS+=("$1"); }

serve_start() {
	local name=$1 store=$2; shift 2
	local port log scheme=http a deadline code
	port=$(e2e_free_port) || { fail "no free port"; return 1; }
	log=$E2E_WORK/serve-$name.log
	for a in "$@"; do [ "$a" = --tls-cert ] && scheme=https; done
	"$OCIMIRROR" --store "$store" serve --listen "127.0.0.1:$port" "$@" >"$log" 2>&1 </dev/null &
	SRV_PID=$!
	SERVE_PIDS+=("$SRV_PID")
	SRV=127.0.0.1:$port
	# shellcheck disable=SC2034 # for the callers
	SRV_LOG=$log
	SRV_URL=$scheme://$SRV
	deadline=$((SECONDS + E2E_READY_TIMEOUT))
	while :; do
		code=$(curl -sk -o /dev/null -m 2 -w '%{http_code}' "$SRV_URL/healthz" 2>/dev/null)
		[ "$code" = 200 ] && break
		if ! kill -0 "$SRV_PID" 2>/dev/null || [ $SECONDS -ge $deadline ]; then
			fail "serve $name did not come up (last /healthz code $code): $(tail -n 3 "$log" | tr '\n' ' ')"
			return 1
		fi
		sleep 0.05
	done
	local v=${name//[^A-Za-z0-9_]/_}
	eval "SRV_$v=\$SRV; SRV_PID_$v=\$SRV_PID; SRV_LOG_$v=\$SRV_LOG; SRV_URL_$v=\$SRV_URL"
	return 0
}

# serve_stop PID [SIG]: signal and wait (bounded); returns the exit status
serve_stop() {
	local pid=$1 sig=${2:-TERM} rc=0
	kill -s "$sig" "$pid" 2>/dev/null || return 127
	for _ in $(seq 1 100); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	if kill -0 "$pid" 2>/dev/null; then
		kill -9 "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
		return 124
	fi
	wait "$pid" || rc=$?
	return $rc
}

HTTP_BODY=$E2E_WORK/http.body
HTTP_HDRS=$E2E_WORK/http.hdrs
HTTP_CODE=

http() {
	local method=$1 url=$2; shift 2
	local m=(-X "$method")
	[ "$method" = HEAD ] && m=(-I)
	: >"$HTTP_BODY"
	: >"$HTTP_HDRS"
	HTTP_CODE=$(curl -sk -m 30 "${m[@]}" -o "$HTTP_BODY" -D "$HTTP_HDRS" -w '%{http_code}' "$@" "$url" 2>/dev/null)
	[ -n "$HTTP_CODE" ] || HTTP_CODE=000
	return 0
}

hdr() {
	tr -d '\r' <"$HTTP_HDRS" | awk -v h="$1" 'BEGIN{IGNORECASE=1; h=tolower(h)}
		/^HTTP\// {v=""; next}
		{ i=index($0, ":"); if (i && tolower(substr($0,1,i-1))==h) { s=substr($0,i+1); sub(/^[ \t]+/, "", s); v=s } }
		END{ if (v != "") print v }'
}

body() { cat "$HTTP_BODY"; }

err_code() {
	"$PYTHON" -c 'import json,sys
try: print(json.load(open(sys.argv[1]))["errors"][0]["code"])
except Exception: print("<no OCI error body>")' "$HTTP_BODY"
}

sha_of() { echo "sha256:$(sha256sum <"$1" | cut -d' ' -f1)"; }

# assert_http CODE [OCI-ERROR-CODE] [WHAT]: status (and error code) of the last response
assert_http() {
	local want=$1 ecode=${2:-} what=${3:-response}
	[ "$want" = "$HTTP_CODE" ] ||
		{ _fail "$what status: expected $want, got $HTTP_CODE [$(head -c 200 "$HTTP_BODY" | tr -d '\0' | tr '\n' ' ')]"; return 1; }
	[ -z "$ecode" ] && return 0
	assert_eq "$ecode" "$(err_code)" "$what error code"
}
