#!/usr/bin/env bash
# e2e: `ocimirror sync` against docker-registry, through the fault proxy so
# that requests can be counted.
. "$(dirname "$0")/lib/prologue.sh"

SRC=e2e/sync-src
P=$REG_PROXY

variant() { # TAG N -> digest
	"$PYTHON" "$E2E_LIB/variant.py" "$REG_OPEN" "$(e_ref "$EXP_OPEN" oci-image repo)" v1 "$SRC" "$1" "$2"
}

# upstream: semver-ish tags in e2e/sync-src, each its own digest
declare -A DIG
for t in 1.0.0 1.2.0 1.2.5 2.0.0-rc.1 2.0.0 2.1.0 latest dev-build; do
	DIG[$t]=$(variant "$t" "$t") || e2e_setup_fail "variant $t failed"
done

cfg() { # writes $CFG from stdin
	CFG=$E2E_WORK/sync.yaml
	cat >"$CFG"
}

sync_json() { oms --json sync -c "$CFG" "$@"; }
summary() { # KEY: a field of the final summary object
	tail -n 1 "$OUT" | "$PYTHON" -c 'import json,sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"
}
actions() { # "tag=action ..." for the tag events, sorted
	"$PYTHON" -c 'import json,sys
ev=[json.loads(l) for l in open(sys.argv[1]) if l.strip()]
print(" ".join(sorted("%s=%s" % (e["tag"], e["action"]) for e in ev if e.get("event")=="tag")))' "$OUT"
}

base_cfg() { # the selection used by most cases
	cfg <<EOT
# e2e sync configuration
defaults:
  platforms: [linux/arm64]
  concurrency: 4
sync:
  - source: $P/$SRC
    tags: {semver: ">=1.2.0 <3.0.0", exclude: "^2\\\\.0\\\\.0$"}
    prune: true
  - source: $P/$(e_ref "$EXP_OPEN" multiarch repo):v1
  - source: $P/$(e_ref "$EXP_OPEN" docker-image repo)
    tags: ["v1", "no-such-tag"]
    destination: plant/docker-image
EOT
}

case_first_sync() {
	new_store
	base_cfg
	proxy_reset
	assert_exit 0 sync_json || return
	# 1.2.0 1.2.5 2.1.0 selected; 2.0.0 excluded; 2.0.0-rc.1 is a pre-release
	assert_eq "1.2.0=added 1.2.5=added 2.1.0=added v1=added v1=added" "$(actions)" "actions" || return
	assert_tag "$P" "$SRC" 1.2.5 "${DIG[1.2.5]}" || return
	assert_no_file "$(tag_file "$P" "$SRC" 2.0.0)" || return
	assert_no_file "$(tag_file "$P" "$SRC" 1.0.0)" || return
	# rename: stored under the destination, not under the source name
	assert_file "$(store_dir)/repositories/plant/docker-image/_tags/v1" || return
	assert_eq "$(e_ref "$EXP_OPEN" docker-image digest)" \
		"$(json_field "$(store_dir)/repositories/plant/docker-image/_tags/v1" digest)" "renamed tag digest" || return
	# platform filter from the defaults
	assert_platform_stored "$EXP_OPEN" multiarch linux/arm64/v8 "$P" || return
	assert_platform_absent "$EXP_OPEN" multiarch linux/amd64 || return
	assert_eq ok "$(summary result)" "summary" || return
	assert_tmp_empty
}

case_noop_resync() {
	new_store
	base_cfg
	assert_exit 0 sync_json || return
	proxy_reset
	assert_exit 0 sync_json || return
	assert_eq "1.2.0=unchanged 1.2.5=unchanged 2.1.0=unchanged v1=unchanged v1=unchanged" "$(actions)" "actions" || return
	# one HEAD per selected tag, no manifest GET, no blob request at all
	assert_eq 5 "$(proxy_count HEAD /manifests/)" "manifest HEADs" || return
	assert_eq 0 "$(proxy_count GET /manifests/)" "manifest GETs" || return
	assert_eq 0 "$(proxy_count "" /blobs/)" "blob requests" || return
	assert_eq 0 "$(summary bytesFetched)" "bytes fetched"
}

case_moved_tag_and_prune() {
	new_store
	base_cfg
	assert_exit 0 sync_json || return
	local moved; moved=$(variant 1.2.5 moved-$RANDOM) || { fail "retag failed"; return; }
	# narrow the selection: 1.2.0 leaves it and is pruned (prune: true)
	sed -i 's/>=1.2.0 <3.0.0/>=1.2.1 <3.0.0/' "$CFG"
	assert_exit 0 sync_json || return
	assert_eq "1.2.0=pruned 1.2.5=updated 2.1.0=unchanged v1=unchanged v1=unchanged" "$(actions)" "actions" || return
	assert_tag "$P" "$SRC" 1.2.5 "$moved" || return
	assert_no_file "$(tag_file "$P" "$SRC" 1.2.0)" || return
	variant 1.2.5 1.2.5 >/dev/null
}

case_no_prune_keeps_tags() {
	new_store
	base_cfg
	assert_exit 0 sync_json || return
	sed -i 's/>=1.2.0 <3.0.0/>=2.0.0 <3.0.0/; s/prune: true/prune: false/' "$CFG"
	assert_exit 0 sync_json || return
	assert_eq "2.1.0=unchanged v1=unchanged v1=unchanged" "$(actions)" "actions" || return
	assert_tag "$P" "$SRC" 1.2.0 "${DIG[1.2.0]}"
}

case_latest_and_regex() {
	new_store
	cfg <<EOT
sync:
  - source: $P/$SRC
    tags: {regex: '^[0-9]', latest: 2}
EOT
	assert_exit 0 sync_json || return
	assert_eq "2.0.0=added 2.1.0=added" "$(actions)" "actions"
}

case_dry_run_changes_nothing() {
	new_store
	base_cfg
	assert_exit 0 sync_json --dry-run || return
	assert_eq "1.2.0=added 1.2.5=added 2.1.0=added v1=added v1=added" "$(actions)" "planned" || return
	assert_eq True "$(summary dryRun)" "dryRun" || return
	local bytes; bytes=$(summary bytesFetched)
	[ "$bytes" -gt 1000000 ] || { fail "dry run says $bytes bytes to fetch"; return; }
	assert_eq "" "$(ls "$(store_dir)/blobs/sha256" 2>/dev/null)" "blobs after a dry run" || return
	assert_eq "" "$(find "$(store_dir)/repositories" -name '_tags' 2>/dev/null)" "tags after a dry run"
}

case_bad_config_exit_2_before_network() {
	new_store
	proxy_reset
	cfg <<EOT
sync:
  - source: $P/$SRC
    tags: {regex: '([unclosed'}
EOT
	assert_exit 2 oms sync -c "$CFG" || return
	assert_contains "$(alltext)" "sync.yaml:3:" "file:line" || return
	assert_eq 0 "$(proxy_count)" "requests made" || return
	cfg <<EOT
sync:
  - source: $P/$SRC
    colour: blue
EOT
	assert_exit 2 oms sync -c "$CFG" || return
	assert_contains "$(alltext)" "sync.yaml:3:5" "file:line:column" || return
	assert_contains "$(alltext)" "colour" "the unknown key"
}

case_failed_image_keeps_old_tag() {
	new_store
	base_cfg
	assert_exit 0 sync_json || return
	local moved
	moved=$(variant 2.1.0 broken-$RANDOM) || { fail "retag failed"; return; }
	# the moved tag's manifest cannot be fetched: 500 forever on its GET
	proxy_reset
	proxy_fault '{"mode":"status500","match":"/manifests/'"$moved"'","count":-1}' || return
	OCIMIRROR_RETRIES=2 assert_exit 1 sync_json || return
	assert_contains "$(actions)" "2.1.0=failed" "failed tag" || return
	assert_contains "$(actions)" "1.2.5=unchanged" "other tags" || return
	# the old tag is untouched
	assert_tag "$P" "$SRC" 2.1.0 "${DIG[2.1.0]}" || return
	# the first try and OCIMIRROR_RETRIES=2 retries, all on the moved manifest
	assert_proxy_faults 3 status500 "/manifests/$moved" || return
	assert_eq failed "$(summary result)" "summary"
	proxy_reset
	variant 2.1.0 2.1.0 >/dev/null
}

case_concurrent_run_exits_3() {
	new_store
	base_cfg
	proxy_reset
	proxy_fault '{"mode":"stall","match":"/blobs/","after":0,"stall":4,"count":1,"method":"GET"}' || return
	OCIMIRROR_STALL_TIMEOUT=30 timeout 60 "$OCIMIRROR" --store "$STORE" sync -c "$CFG" >"$E2E_WORK/bg.out" 2>&1 </dev/null &
	local pid=$! rc1=0 rc2=0
	for _ in $(seq 1 100); do
		[ "$(proxy_count GET /blobs/)" -ge 1 ] && break
		sleep 0.1
	done
	oms sync -c "$CFG" || rc2=$?
	wait "$pid" || rc1=$?
	assert_eq 3 "$rc2" "second run" || return
	assert_contains "$(alltext)" "locked" "message" || return
	# the first run was held in the proxy's stall while the second ran
	assert_proxy_faults 1 stall "/blobs/" || return
	assert_eq 0 "$rc1" "first run"
}

case_kill9_then_rerun() {
	# kill -9 at spread moments; after each, no tag points at missing
	# content; a final run completes
	proxy_reset
	new_store
	base_cfg
	# every blob GET waits 0.5 s at the proxy, so a run from an empty
	# store lasts over a second whatever the machine's speed, and the
	# kills land while blobs, manifests and tags are being written
	proxy_fault '{"mode":"stall","match":"/blobs/","after":0,"stall":0.5,"count":-1,"method":"GET"}' || return
	local i delay rc kills=0
	for i in $(seq 1 20); do
		delay=$(( (i * 97) % 1500 ))
		rc=0
		# (the subshell waits for timeout, so the shell's "Killed" notice
		# goes to its /dev/null stderr, not to the test output)
		(timeout -s KILL "$(printf '%d.%03d' $((delay / 1000)) $((delay % 1000)))" "$OCIMIRROR" --store "$STORE" -q \
			sync -c "$CFG" >/dev/null 2>&1 </dev/null; exit $?) 2>/dev/null || rc=$?
		[ $rc -eq 137 ] && kills=$((kills + 1))
		"$PYTHON" "$E2E_LIB/check_store.py" "$(store_now)" || { fail "after kill $i (${delay} ms): store inconsistent"; return; }
		# the next attempt starts from an empty store half the time
		[ $((i % 2)) -eq 0 ] && new_store
	done
	# the runs were slowed by the proxy (the kills landed mid-transfer)
	assert_proxy_faults 8+ stall "/blobs/" || return
	proxy_reset
	[ $kills -ge 8 ] || { fail "only $kills of 20 runs were killed mid-way"; return; }
	assert_exit 0 sync_json || return
	"$PYTHON" "$E2E_LIB/check_store.py" "$(store_now)" || { fail "after the final run"; return; }
	assert_tag "$P" "$SRC" 2.1.0 "${DIG[2.1.0]}"
}

case_corrupt_blob_refused_others_continue() {
	new_store
	base_cfg
	# every GET of the docker image's big layer is corrupted
	local b; b=$(exp_get "$EXP_OPEN" "max(d['refs']['docker-image']['blobs'], key=lambda x: x['size'])['digest']")
	[ -n "$b" ] || { fail "no docker-image blob in the expectations"; return; }
	proxy_reset
	proxy_fault '{"mode":"corrupt","match":"'"$b"'","after":1000,"count":-1,"method":"GET"}' || return
	OCIMIRROR_RETRIES=2 assert_exit 1 sync_json || return
	assert_contains "$(actions)" "v1=failed" "the corrupted image" || return
	assert_contains "$(actions)" "1.2.5=added" "the others" || return
	E2E_ICASE=1 assert_contains "$(cat "$OUT")" "digest mismatch" "error names the mismatch" || return
	# every fetch of the layer was corrupted: the first and the one refetch
	assert_proxy_faults 2 corrupt "/blobs/$b" || return
	assert_no_blob "$b" || return
	assert_no_file "$(store_dir)/repositories/plant/docker-image/_tags/v1" || return
	assert_tmp_empty
	proxy_reset
}

run_case "first sync: semver + exclude, rename, platforms" case_first_sync
run_case "no-op resync: one HEAD per tag, no blob request" case_noop_resync
run_case "moved tag updated; prune drops deselected tag" case_moved_tag_and_prune
run_case "without prune, deselected tags stay" case_no_prune_keeps_tags
run_case "regex + latest N" case_latest_and_regex
run_case "--dry-run plans, changes nothing" case_dry_run_changes_nothing
run_case "bad config: exit 2 with file:line:col, no network" case_bad_config_exit_2_before_network
run_case "a failed image keeps its old tag, the rest continues" case_failed_image_keeps_old_tag
run_case "a second concurrent run exits 3" case_concurrent_run_exits_3
run_case "corrupt blob refused, other images continue, exit 1" case_corrupt_blob_refused_others_continue
run_case "kill -9 twenty times, store stays consistent" case_kill9_then_rerun
