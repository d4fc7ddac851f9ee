#!/usr/bin/env bash
# e2e: `ocimirror sync` over a WAN-like link. lib/latencyproxy.py (a TCP
# relay, below HTTP, holding every chunk RTT/2 each way) sits in front of
# docker-registry over plain HTTP, over HTTPS (test CA, HTTP/2 offered) and
# with token auth. Content: lib/seed_tags.py, 5 repositories x 32 tags over
# 4 images each (2 of them two-platform OCI indexes); test_wan_10k.sh has
# the 10,000-tag memory case. Counts come from the proxy's log (connections,
# and for plain HTTP every request and response line), docker-registry's
# access log and the token service's log.
#
# On the serial code (before issue 13, commit 6bf9589) these fail, as they
# should:
#   - "no-op over 160 tags ...": HEADs never overlap (the plan sends one
#     HEAD after another on one connection: max in flight 1, want >= 4);
#     the request counts pass.
# and these pass there already: one TLS connection for the no-op (libcurl
# negotiates HTTP/2 and reuses its one connection, the requests being
# serial), one token request per scope (cached per repository scope). The
# serial code takes ~26 s for the 160-tag cold sync at 40 ms and ~7 s for
# each no-op.
. "$(dirname "$0")/lib/prologue.sh"

RTT=${E2E_WAN_RTT_MS:-40}
SLOW=${E2E_WAN_CMD_TIMEOUT:-150} # bound on one sync through the proxy
. "$HERE/lib/wan.sh"

# ---- peers -----------------------------------------------------------------
port=$(e2e_free_port) || e2e_setup_fail "no free port"
E2E_REG_ACCESSLOG=1 e2e_registry reg-wan "$port"
REG_WAN=127.0.0.1:$port
REG_WAN_LOG=$E2E_TMP/reg-wan.log
# the same content over HTTPS: a second registry serving the first's data
e2e_start_tls "$E2E_TMP/reg-wan/data"
REG_TLS_LOG=$E2E_TMP/reg-tls.log

EXP_WAN=$E2E_WORK/exp-wan.json
EXP_TLS=$EXP_WAN
EXP_TOK=$E2E_WORK/exp-tok.json
seed_tags() { timeout 120 "$PYTHON" "$E2E_LIB/seed_tags.py" "$@" | sed 's/^/# /'; }
seed_tags --registry "$REG_WAN" --out "$EXP_WAN" || e2e_setup_fail "seeding $REG_WAN failed"
seed_tags --registry "$REG_TOKEN" --user "$E2E_USER" --password "$E2E_PASS" --prefix wantok \
	--repos 2 --tags 24 --images 2 --out "$EXP_TOK" || e2e_setup_fail "seeding $REG_TOKEN failed"
if ! [ -s "$EXP_WAN" ] || ! [ -s "$EXP_TOK" ]; then e2e_setup_fail "seeding wrote no expectations"; fi

e2e_start_latency lat-plain "$REG_WAN" "$RTT"
LP=$LATENCY_ADDR LP_LOG=$LATENCY_LOG
e2e_start_latency lat-tls "$REG_TLS" "$RTT"
LT=$LATENCY_ADDR LT_LOG=$LATENCY_LOG
e2e_start_latency lat-token "$REG_TOKEN" "$RTT"
LK=$LATENCY_ADDR
echo "# wan: rtt $RTT ms; plain $LP -> $REG_WAN, tls $LT -> $REG_TLS, token $LK -> $REG_TOKEN"

# ---- helpers ---------------------------------------------------------------
lines() { wc -l <"$1"; }
# mark LOG: the line the next run's entries start at
mark() { echo $(($(lines "$1") + 1)); }
stat_() { latency_stat "$1" "$2" "$3"; } # LOG FROM KEY

# wan_cfg HOST TLS-YAML EXP [RULE-EXTRA]: every repository of EXP from HOST,
# stored under its own name (so the same store can be synced by another
# route); writes $CFG
wan_cfg() {
	local host=$1 tls=$2 exp=$3 extra=${4:-} r
	CFG=$(mktemp "$E2E_WORK/sync.XXXXXX.yaml")
	{
		echo "registries:"
		echo "  '$host': $tls"
		echo "sync:"
		for r in $(exp_get "$exp" 'sorted(d["repos"])'); do
			echo "  - {source: $host/$r, destination: $r$extra}"
		done
	} >"$CFG"
}
plain_yaml='{tls: disabled}'
tls_yaml() { echo "{tls: verify, ca: $E2E_CA}"; }

# assert_one_head_per_tag LOG FROM EXP: the plain-HTTP requests logged from
# FROM are exactly one HEAD .../manifests/TAG per tag of EXP and one tag
# list per repository, nothing else (no manifest GET, no blob request)
assert_one_head_per_tag() {
	local got
	got=$(latency_requests "$1" "$2" | "$PYTHON" -c 'import collections,json,sys
d=json.load(open(sys.argv[1]))
want=collections.Counter("HEAD /v2/%s/manifests/%s" % (r, t) for r in d["repos"] for t in d["repos"][r]["tags"])
got=collections.Counter()
other=collections.Counter()
for l in sys.stdin:
    m, _, t = l.strip().partition(" ")
    t = t.rsplit(" ", 1)[0]
    if m == "HEAD" and "/manifests/" in t: got[m + " " + t] += 1
    elif m == "GET" and t.split("?")[0].endswith("/tags/list"): other["GET tags/list"] += 1
    else: other[m + " " + t] += 1
dup=[k for k, n in got.items() if n > 1]
miss=[k for k in want if k not in got]
extra=[k for k in got if k not in want]
print("heads=%d dup=%d missing=%d extra=%d lists=%d other=%d %s" % (sum(got.values()), len(dup), len(miss), len(extra),
      other.pop("GET tags/list", 0), sum(other.values()), " ".join((dup + miss + extra + list(other))[:3])))' "$3")
	local n; n=$(exp_get "$3" 'len(d["repos"])')
	local t; t=$(exp_get "$3" 'd["tags"]')
	assert_eq "heads=$t dup=0 missing=0 extra=0 lists=$n other=0" "${got% *}" "requests on the no-op" ||
		{ E2E_CASE_FAIL="$E2E_CASE_FAIL [${got##* }]"; return 1; }
}

# access_since LOG FROM: the docker-registry access log lines of ocimirror's
# requests from line FROM
access_since() { tail -n +"$2" "$1" | grep '"ocimirror/' || true; }

# ---- cases -----------------------------------------------------------------
PLAIN_STORE=""

# the proxy itself: bytes through unchanged, HTTP framing followed over one
# keep-alive connection (a body holding request lines is not taken for
# requests; a HEAD answer's Content-Length is no body)
case_proxy_relays_and_frames() {
	local body=$E2E_WORK/body.bin from loc dg got
	printf 'GET /fake/one HTTP/1.1\r\nHost: x\r\n\r\nHEAD /fake/two HTTP/1.1\r\n\r\n' >"$body"
	head -c 300000 /dev/urandom >>"$body"
	dg=sha256:$(sha256sum <"$body" | cut -d' ' -f1)
	from=$(mark "$LP_LOG")
	loc=$(curl -sf -m 20 -X POST -D - -o /dev/null "http://$LP/v2/wan/r00/blobs/uploads/" | tr -d '\r' |
		sed -n 's/^[Ll]ocation: //p')
	[ -n "$loc" ] || { fail "no upload location through the proxy"; return; }
	case $loc in http*) ;; *) loc=http://$LP$loc ;; esac
	assert_eq 201 "$(curl -s -m 20 -o /dev/null -w '%{http_code}' -X PUT --data-binary @"$body" \
		-H 'Content-Type: application/octet-stream' "$loc&digest=$dg")" "PUT of the blob" || return
	# HEAD, GET and GET again on one connection
	got=$(curl -s -m 20 -I "http://$LP/v2/wan/r00/blobs/$dg" -o /dev/null \
		--next -s "http://$LP/v2/wan/r00/blobs/$dg" -o "$E2E_WORK/back1.bin" \
		--next -s "http://$LP/v2/wan/r00/blobs/$dg" -o "$E2E_WORK/back2.bin" -w '%{num_connects}')
	assert_eq 0 "$got" "new connections for the 2nd and 3rd request" || return
	local size; size=$(stat -c %s "$body")
	assert_file_digest "$E2E_WORK/back1.bin" "$dg" "$size" || return
	assert_file_digest "$E2E_WORK/back2.bin" "$dg" "$size" || return
	latency_idle "$LP_LOG" || { fail "proxy still has connections open"; return; }
	assert_eq "POST uploads=1 PUT uploads=1 HEAD blobs=1 GET blobs=2 requests=5 responses=5 connections=3" \
		"$(latency_stats "$LP_LOG" "$from" | "$PYTHON" -c 'import json,sys
d=json.load(sys.stdin); k=d["kinds"]
print("POST uploads=%d PUT uploads=%d HEAD blobs=%d GET blobs=%d requests=%d responses=%d connections=%d" % (
    k.get("POST uploads",0), k.get("PUT uploads",0), k.get("HEAD blobs",0), k.get("GET blobs",0),
    d["requests"], d["responses"], d["connections"]))')" "what the proxy saw" || return
	assert_eq 0 "$(grep -c 'REQ .* /fake/' "$LP_LOG")" "request lines taken from a body"
}

case_cold_plain() {
	new_store
	wan_cfg "$LP" "$plain_yaml" "$EXP_WAN"
	local from; from=$(mark "$LP_LOG")
	assert_exit 0 sync_json || return
	assert_eq "$(exp_get "$EXP_WAN" 'd["tags"]')" "$(count_actions added)" "tags added" || return
	assert_eq 0 "$(summary failed)" "failed" || return
	assert_eq ok "$(summary result)" "result" || return
	assert_eq "$(exp_get "$EXP_WAN" 'd["blob_bytes"]')" "$(summary bytesFetched)" "bytes fetched" || return
	# each blob once, each repository's tag list once (one page)
	assert_eq "$(exp_get "$EXP_WAN" 'd["blobs"]')" "$(stat_ "$LP_LOG" "$from" "kind:GET blobs")" "blob GETs" || return
	assert_eq 5 "$(stat_ "$LP_LOG" "$from" "kind:GET tags")" "tag list GETs" || return
	assert_eq 0 "$(stat_ "$LP_LOG" "$from" refused)" "connections refused by the proxy" || return
	# HTTP/1.1: at most the per-registry connection limit (8 by default) at once
	local c; c=$(stat_ "$LP_LOG" "$from" max_concurrent)
	if [ "$c" -lt 1 ] || [ "$c" -gt 8 ]; then fail "connections open at once: $c, want 1..8"; return; fi
	assert_tags_stored "$EXP_WAN" || return
	assert_verify || return
	assert_tmp_empty || return
	PLAIN_STORE=$STORE
}

case_noop_plain() {
	if [ -n "$PLAIN_STORE" ]; then
		STORE=$PLAIN_STORE STORE_ROOT=$STORE/
	else
		new_store
		wan_cfg "$LP" "$plain_yaml" "$EXP_WAN"
		assert_exit 0 sync_json || return
	fi
	wan_cfg "$LP" "$plain_yaml" "$EXP_WAN"
	latency_idle "$LP_LOG" || { fail "proxy still has connections open"; return; }
	local from afrom
	from=$(mark "$LP_LOG")
	afrom=$(mark "$REG_WAN_LOG")
	assert_exit 0 sync_json || return
	assert_eq 160 "$(count_actions unchanged)" "tags unchanged" || return
	assert_eq "0 0 0" "$(count_actions added) $(count_actions updated) $(count_actions failed)" "added, updated, failed" || return
	assert_eq 0 "$(summary bytesFetched)" "bytes fetched" || return
	assert_one_head_per_tag "$LP_LOG" "$from" "$EXP_WAN" || return
	# the registry saw the same: 160 HEADs, no blob request
	local acc; acc=$(access_since "$REG_WAN_LOG" "$afrom")
	assert_eq 160 "$(printf '%s\n' "$acc" | grep -c '"HEAD /v2/[^ ]*/manifests/')" "HEADs in the registry's access log" || return
	assert_eq 0 "$(printf '%s\n' "$acc" | grep -c '/blobs/')" "blob requests in the registry's access log" || return
	# the HEADs overlap: several in flight at once across the connections
	local inflight; inflight=$(stat_ "$LP_LOG" "$from" max_in_flight)
	[ "$inflight" -ge 4 ] || { fail "requests in flight at once: at most $inflight, want >= 4 ($(stat_ "$LP_LOG" "$from" connections) connections)"; return; }
}

case_tls_h2_one_connection() {
	new_store
	# cold on loopback, straight to the registry (same names in the store)
	wan_cfg "$REG_TLS" "$(tls_yaml)" "$EXP_TLS"
	assert_exit 0 sync_json || return
	assert_eq 160 "$(count_actions added)" "tags added (cold, direct)" || return
	assert_tags_stored "$EXP_TLS" || return
	assert_verify || return
	wan_cfg "$LT" "$(tls_yaml)" "$EXP_TLS"
	latency_idle "$LT_LOG" || { fail "proxy still has connections open"; return; }
	local from afrom acc
	from=$(mark "$LT_LOG")
	afrom=$(mark "$REG_TLS_LOG")
	assert_exit 0 sync_json || return
	assert_eq 160 "$(count_actions unchanged)" "tags unchanged" || return
	latency_idle "$LT_LOG" || { fail "proxy still has connections open after the run"; return; }
	assert_eq 1 "$(stat_ "$LT_LOG" "$from" connections)" "TLS connections for the no-op" || return
	assert_eq 1 "$(stat_ "$LT_LOG" "$from" proto:tls)" "connections that spoke TLS" || return
	acc=$(access_since "$REG_TLS_LOG" "$afrom")
	assert_eq 160 "$(printf '%s\n' "$acc" | grep -c '"HEAD /v2/[^ ]*/manifests/[^ ]* HTTP/2.0"')" "HTTP/2 HEADs in the registry's access log" || return
	assert_eq 0 "$(printf '%s\n' "$acc" | grep -vc ' HTTP/2.0" ')" "requests not over HTTP/2" || return
	assert_eq 0 "$(printf '%s\n' "$acc" | grep -c '/blobs/')" "blob requests"
}

# token_scopes FROM: "SCOPE COUNT STATUSES" per scope asked from line FROM
token_scopes() {
	tail -n +"$1" "$E2E_TOKEN_LOG" | "$PYTHON" -c 'import collections,sys
n=collections.Counter(); st=collections.defaultdict(set)
for l in sys.stdin:
    f=dict(x.split("=",1) for x in l.split()[1:] if "=" in x)
    if "wantok/" not in f.get("scope",""): continue
    n[f["scope"]]+=1; st[f["scope"]].add(f["status"])
for s in sorted(n): print(s, n[s], ",".join(sorted(st[s])))'
}

case_token_single_flight() {
	new_store
	docker_login_file "$LK" "$E2E_USER" "$E2E_PASS"
	wan_cfg "$LK" "$plain_yaml" "$EXP_TOK"
	local want from
	want=$(exp_get "$EXP_TOK" 'sorted(d["repos"])' | sed 's/^\(.*\)$/repository:\1:pull 1 200/')
	from=$(mark "$E2E_TOKEN_LOG")
	assert_exit 0 sync_json || return
	assert_eq 48 "$(count_actions added)" "tags added" || return
	assert_eq "$want" "$(token_scopes "$from")" "token requests per scope (cold)" || return
	from=$(mark "$E2E_TOKEN_LOG")
	assert_exit 0 sync_json || return
	assert_eq 48 "$(count_actions unchanged)" "tags unchanged" || return
	assert_eq "$want" "$(token_scopes "$from")" "token requests per scope (no-op)" || return
	assert_tags_stored "$EXP_TOK"
}

run_case "latency proxy: bytes unchanged, HTTP/1.1 framing followed on a keep-alive connection" case_proxy_relays_and_frames
run_case "cold sync of 160 tags through a ${RTT} ms link (plain HTTP): each blob once, store verifies" case_cold_plain
run_case "no-op over 160 tags: one HEAD per tag, no blob request, HEADs overlap" case_noop_plain
run_case "HTTPS with a test CA: the 160-tag no-op is one HTTP/2 connection" case_tls_h2_one_connection
run_case "token auth: one token request per scope, cold and no-op" case_token_single_flight
