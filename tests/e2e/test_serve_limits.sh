#!/usr/bin/env bash
# e2e: `ocimirror serve` under resource limits (issue 12: descriptors,
# upload sessions, a cut upload, bodies held in memory, slow clients).
# Needs no upstream: content is pushed to the server under test.
# The clients are lib/limits.py (one JSON object per run, loops bounded).
. "$(dirname "$0")/lib/prologue.sh"

W=$E2E_WORK
HTP=$W/htpasswd
CREDS_U=$E2E_USER
CREDS_P=$E2E_PASS
htpasswd -Bbn "$E2E_USER" "$E2E_PASS" >"$HTP" 2>/dev/null || e2e_setup_fail "htpasswd failed"
LIM=$HERE/lib/limits.py
REPO=e2e/limits

# lim CMD ARGS...: the client, bounded; its JSON in LIM_OUT
lim() {
	LIM_OUT=$(timeout 60 "$PYTHON" "$LIM" "$@" 2>"$W/limits.err") ||
		{ fail "limits.py $1 failed: $(tail -n 2 "$W/limits.err" | tr '\n' ' ')"; return 1; }
}
# jget KEY: a value of LIM_OUT (0 when absent)
jget() { "$PYTHON" -c 'import json,sys; print(json.loads(sys.argv[1]).get(sys.argv[2], 0))' "$LIM_OUT" "$1"; }
# metric NAME: a value from SRV's /metrics
metric() { curl -s -m 10 "$SRV_URL/metrics" | awk -v n="$1" '$1 == n { print $2 }'; }

# serve_ulimit NAME STORE "ULIMIT-ARGS" [SERVE-ARGS...]: serve_start, the
# server in a shell that set `ulimit ULIMIT-ARGS` first
serve_ulimit() {
	local name=$1 store=$2 ul=$3 wrap=$W/om-$1.sh; shift 3
	printf '#!/bin/sh\nulimit %s || exit 97\nexec %q "$@"\n' "$ul" "$OCIMIRROR" >"$wrap"
	chmod +x "$wrap"
	OCIMIRROR=$wrap serve_start "$name" "$store" "$@"
}

STORE=$W/store
mkdir -p "$STORE"
# 2,000 connections from one python client on a busy 2-core CI box: give
# the client, and the server's idle timer, room (bounds, not timings)
export LIMITS_DEADLINE=${LIMITS_DEADLINE:-90}

case_soft_limit() {
	serve_ulimit soft "$STORE" "-Sn 1024" --htpasswd "$HTP" --push \
		--anonymous-read --max-conns-per-ip 0 --read-timeout 120 || return
	lim seed "$SRV" "$REPO" "$CREDS_U" "$CREDS_P" || return
	LAYER=$(jget layer)
	assert_match "$LAYER" '^sha256:[0-9a-f]{64}$' "seeded layer" || return
	# the soft limit was raised to the hard one
	local max; max=$(metric ocimirror_max_fds)
	[ "${max:-0}" -gt 1024 ] || { fail "max fds $max, not above the soft 1024"; return 1; }
	# 1,600 idle upload sessions hold no descriptor
	lim sessions "$SRV" "$REPO" "$CREDS_U" "$CREDS_P" 1600 || return
	echo "# soft: sessions $LIM_OUT"
	assert_eq 1600 "$(jget 202)" "sessions opened (of 1600): $LIM_OUT" || return
	assert_eq 1600 "$(metric ocimirror_upload_sessions)" "sessions open" || return
	# 2,000 connections open at once, then a GET of a held blob on each:
	# every one answered 200
	lim get-many "$SRV" "/v2/$REPO/blobs/$LAYER" 2000 open || return
	echo "# soft: 2000 GETs $LIM_OUT"
	assert_eq 2000 "$(jget held_open)" "connections open at once: $LIM_OUT" || return
	assert_eq 0 "$(jget 404)" "404s for a held blob: $LIM_OUT" || return
	assert_eq 2000 "$(jget 200)" "200s (of 2000): $LIM_OUT"
}

case_hard_limit() {
	local cap refused
	# --threads 4: the descriptors each thread takes are part of the budget
	serve_ulimit hard "$STORE" "-n 400" --htpasswd "$HTP" --push \
		--anonymous-read --max-conns-per-ip 0 --threads 4 --read-timeout 120 || return
	if [ -z "${LAYER:-}" ]; then
		lim seed "$SRV" "$REPO" "$CREDS_U" "$CREDS_P" || return
		LAYER=$(jget layer)
	fi
	assert_eq 400 "$(metric ocimirror_max_fds)" "max fds" || return
	cap=$(awk '$1 == "ocimirror_upload_sessions_max{scope=\"user\"}" { print $2 }' <(curl -s -m 10 "$SRV_URL/metrics"))
	[ "${cap:-0}" -gt 0 ] && [ "$cap" -lt 400 ] || { fail "per-user session cap '$cap'"; return 1; }
	# sessions past the cap: 503 + Retry-After, counted
	lim sessions "$SRV" "$REPO" "$CREDS_U" "$CREDS_P" 1600 || return
	echo "# hard (400 fds): sessions $LIM_OUT (per-user cap $cap)"
	assert_eq "$cap" "$(jget 202)" "sessions opened: $LIM_OUT" || return
	refused=$((1600 - cap))
	assert_eq "$refused" "$(jget 503)" "sessions refused: $LIM_OUT" || return
	assert_eq "$refused" "$(jget retry_after)" "503s with Retry-After" || return
	assert_eq "$refused" "$(metric ocimirror_upload_sessions_refused_total)" "refused (metrics)" || return
	[ -n "$(metric ocimirror_open_fds)" ] || { fail "no ocimirror_open_fds"; return 1; }
	# 2,000 connections with 400 descriptors: never a 404 for what is held
	local n=2000
	[ "$HARD_NOFILE" != unlimited ] && [ "$HARD_NOFILE" -lt 4096 ] && n=500
	lim get-many "$SRV" "/v2/$REPO/blobs/$LAYER" "$n" || return
	echo "# hard (400 fds): $n GETs $LIM_OUT"
	assert_eq 0 "$(jget 404)" "404s for a held blob: $LIM_OUT" || return
	"$PYTHON" -c 'import json,sys
d = json.loads(sys.argv[1])
bad = {k: v for k, v in d.items() if k not in ("200", "503", "none")}
sys.exit(1 if bad or d.get("200", 0) == 0 else 0)' "$LIM_OUT" ||
		{ fail "statuses other than 200/503/no answer, or no 200: $LIM_OUT"; return 1; }
}

# the client vanishes half-way (its connection silent) and resumes at once
case_cut_resumed() {
	local mode
	serve_start cut "$W/store-cut" --htpasswd "$HTP" --push --read-timeout 3 || return
	for mode in vanish shut; do
		lim cut "$SRV" "$REPO" "$CREDS_U" "$CREDS_P" 300000 "$mode" || return
		echo "# cut ($mode): $LIM_OUT"
		assert_eq 204 "$(jget status)" "status of the cut session ($mode)" || return
		[ "$(jget offset)" -gt 0 ] || { fail "nothing kept of the cut PATCH ($mode): $LIM_OUT"; return 1; }
		assert_eq 202 "$(jget patch)" "resumed PATCH ($mode)" || return
		assert_eq 0-299999 "$(jget patch_range)" "Range after the resumed PATCH" || return
		assert_eq 201 "$(jget put)" "final PUT ($mode)" || return
		assert_eq True "$(jget digest_ok)" "the blob's digest ($mode)" || return
	done
}

# one worker thread: status requests for a session a steady PATCH holds are
# answered at once (503 + Retry-After), and the PATCH is not cut
case_status_while_writing() {
	serve_start steady "$W/store-steady" --htpasswd "$HTP" --push --threads 1 || return
	lim steady "$SRV" "$REPO" "$CREDS_U" "$CREDS_P" 1500000 || return
	echo "# status while a PATCH flows: $LIM_OUT"
	assert_eq "{'503_retry_after': 5}" "$(jget status)" "statuses of the held session" || return
	assert_eq 202 "$(jget patch)" "the steady PATCH" || return
	assert_eq 0-1499999 "$(jget patch_range)" "Range after the PATCH" || return
	assert_eq 201 "$(jget put)" "final PUT" || return
}

case_held_bodies() {
	serve_start held "$W/store-held" --htpasswd "$HTP" --push || return
	lim held "$SRV" "$REPO" "$CREDS_U" "$CREDS_P" 100 4000000 "$SRV_PID" || return
	echo "# 100 held 4 MB manifest bodies: $LIM_OUT"
	assert_eq 401 "$(jget anonymous)" "no credentials: 401 before 100 Continue" || return
	local before peak
	before=$(jget before_kb) peak=$(jget peak_kb)
	# 64 MiB of bodies at most, the rest refused before they are read
	# (without the budget: ~400 MB; 200 MiB leaves room for sanitizers)
	[ "$((peak - before))" -lt $((200 * 1024)) ] ||
		{ fail "peak RSS grew by $(((peak - before) / 1024)) MiB (from $((before / 1024)))"; return 1; }
	[ "$(jget 503)" -gt 0 ] || { fail "no body refused: $LIM_OUT"; return 1; }
	assert_eq "$(jget 503)" "$(jget retry_after)" "503s with Retry-After" || return
	assert_eq 100 "$(($(jget held) + $(jget 503)))" "held + refused: $LIM_OUT"
}

case_slow_clients() {
	serve_start slow "$W/store-slow" --htpasswd "$HTP" --push --read-timeout 2 \
		--max-conns-per-ip 200 || return
	LIMITS_DEADLINE=10 lim slow "$SRV" 100 headers || return
	echo "# 100 clients, a header byte each 0.5 s: $LIM_OUT"
	assert_eq 100 "$(jget cut)" "slow header clients cut: $LIM_OUT" || return
	LIMITS_DEADLINE=10 lim slow "$SRV" 5 body "$REPO" "$CREDS_U" "$CREDS_P" || return
	echo "# 5 PATCH bodies, a byte each 0.5 s: $LIM_OUT"
	assert_eq 5 "$(jget cut)" "slow body clients cut: $LIM_OUT" || return
	assert_eq 105 "$(metric ocimirror_slow_clients_cut_total)" "cut (metrics)" || return
	http GET "$SRV_URL/v2/" -u "$CREDS_U:$CREDS_P"
	assert_eq 200 "$HTTP_CODE" "a normal client still served"
}

case_per_ip_cap() {
	serve_start perip "$W/store-perip" --max-conns-per-ip 10 || return
	lim idle "$SRV" 15 || return
	echo "# 15 connections, --max-conns-per-ip 10: $LIM_OUT"
	assert_eq 10 "$(jget 200)" "served within the per-IP cap: $LIM_OUT" || return
	assert_eq 5 "$(jget none)" "closed past the cap: $LIM_OUT"
}

case_flags_refused() {
	local out rc=0
	out=$(timeout 10 "$OCIMIRROR" --store "$W/store-flags" serve --read-timeout -1 2>&1) || rc=$?
	assert_eq 2 "$rc" "exit status for --read-timeout -1" || return
	assert_contains "$out" '--read-timeout: "-1" is out of range' "message" || return
	rc=0
	out=$(timeout 10 "$OCIMIRROR" --store "$W/store-flags" serve --max-conns-per-ip x 2>&1) || rc=$?
	assert_eq 2 "$rc" "exit status for --max-conns-per-ip x" || return
	assert_contains "$out" '--max-conns-per-ip: "x"' "message"
}

HARD_NOFILE=$(ulimit -Hn)
if [ "$HARD_NOFILE" = unlimited ] || [ "$HARD_NOFILE" -ge 8192 ]; then
	run_case "limits: soft 1024 descriptors: 1,600 idle sessions, 2,000 GETs all 200" case_soft_limit
else
	skip_case "limits: soft 1024 descriptors: 1,600 idle sessions, 2,000 GETs all 200" \
		"hard descriptor limit $HARD_NOFILE: no room above the soft 1024"
fi
run_case "limits: 400 descriptors: session cap 503 + Retry-After, no 404" case_hard_limit
run_case "limits: a cut PATCH resumed at once (offset, PATCH, PUT digest)" case_cut_resumed
run_case "limits: --threads 1: status of a session being written is 503 at once, the PATCH goes on" case_status_while_writing
run_case "limits: 100 held manifest bodies: peak RSS bounded, 401 before 100" case_held_bodies
run_case "limits: slow header and body clients cut (--read-timeout 2)" case_slow_clients
run_case "limits: --max-conns-per-ip" case_per_ip_cap
run_case "limits: bad flag values exit 2" case_flags_refused
