# shellcheck shell=bash
# Helpers of the WAN tests (test_wan.sh, test_wan_10k.sh), sourced after
# prologue.sh. Need: $CFG (the sync file), $STORE, $SLOW (bound in seconds
# on one sync run).

# sync_json [ARGS]: one bounded sync run of $CFG into $STORE, --json
sync_json() { E2E_CMD_TIMEOUT=$SLOW oms --json sync -c "$CFG" "$@"; }
summary() { tail -n 1 "$OUT" | "$PYTHON" -c 'import json,sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"; }
# count_actions ACTION: tag events with that action
count_actions() {
	"$PYTHON" -c 'import json,sys
print(sum(1 for l in open(sys.argv[1]) if l.strip() and json.loads(l).get("event")=="tag" and json.loads(l)["action"]==sys.argv[2]))' "$OUT" "$1"
}

# assert_tags_stored EXP [HOST]: every tag of EXP recorded in $STORE with
# its digest (under HOST/REPO; without HOST, under REPO: a `destination:`)
assert_tags_stored() {
	local bad
	bad=$("$PYTHON" - "$1" "$STORE/repositories${2:+/$2}" <<-'PY'
	import json, os, sys
	d = json.load(open(sys.argv[1]))
	bad = []
	for repo, r in d["repos"].items():
	    for tag, dg in r["tags"].items():
	        f = os.path.join(sys.argv[2], repo, "_tags", tag)
	        try:
	            got = json.load(open(f)).get("digest")
	        except OSError:
	            got = "missing"
	        if got != dg:
	            bad.append("%s:%s=%s" % (repo, tag, got))
	print(len(bad), " ".join(bad[:3]))
	PY
	)
	[ "${bad%% *}" = 0 ] && return 0
	_fail "tags not stored as upstream has them: $bad"
}

# assert_verify: `ocimirror verify` finds the store whole
assert_verify() {
	assert_exit 0 oms verify || return
	assert_match "$(out)" "0 corrupt \(0 quarantined\), 0 missing, 0 unreadable, 0 size mismatches" "verify"
}

# peak_rss FILE CMD...: run CMD (bounded by $SLOW, output as om's), its
# peak RSS in KiB into FILE
peak_rss() {
	local f=$1 rc=0; shift
	timeout -k 5 "$SLOW" /usr/bin/time -f '%M' -o "$f" "$@" >"$OUT" 2>"$ERR" </dev/null || rc=$?
	cat "$OUT" "$ERR" >"$E2E_LAST_OUT"
	return $rc
}

