#!/usr/bin/env bash
# e2e: `ocimirror gc` and `ocimirror verify` on stores filled by real pulls
# from docker-registry. Run by tests/e2e/run.sh.
. "$(dirname "$0")/lib/prologue.sh"

MA_REPO=$(e_ref "$EXP_OPEN" multiarch repo)
child() { exp_get "$EXP_OPEN" "d['refs']['multiarch']['children']['$1']['digest']"; }
AMD=$(child linux/amd64)
ARM=$(child linux/arm64/v8)
SHARED=$(exp_get "$EXP_OPEN" "d['refs']['multiarch']['shared_layer']['digest']")

# json_last KEY: a field of the last JSON line of $OUT
json_last() {
	"$PYTHON" -c 'import json,sys
l=[x for x in open(sys.argv[1]).read().splitlines() if x.strip()]
v=json.loads(l[-1]).get(sys.argv[2])
print("" if v is None else v)' "$OUT" "$1"
}

# files: every file of the store except the lock, with its digest
files() { (cd "$STORE" && find . -type f ! -name lock | sort | xargs -r sha256sum); }

# two images sharing a layer: the amd64 and arm64 children of multiarch,
# each pulled by digest under its own tag
pull_two() {
	new_store
	assert_exit 0 oms pull "$REG_OPEN/$MA_REPO:amd@$AMD" "$REG_OPEN/$MA_REPO:arm@$ARM" || return
	assert_tag "$REG_OPEN" "$MA_REPO" amd "$AMD" || return
	assert_tag "$REG_OPEN" "$MA_REPO" arm "$ARM" || return
	assert_platform_stored "$EXP_OPEN" multiarch linux/amd64 "$REG_OPEN" || return
	assert_platform_stored "$EXP_OPEN" multiarch linux/arm64/v8 "$REG_OPEN"
}

case_gc_keeps_shared_drops_unique() {
	pull_two || return
	rm -f "$(tag_file "$REG_OPEN" "$MA_REPO" amd)"
	# amd's own manifest, config and layer; the shared layer stays
	local unique
	unique=$(exp_get "$EXP_OPEN" "[c['linux/amd64']['digest']] + [b['digest'] for b in c['linux/amd64']['blobs'] if b['digest'] not in [x['digest'] for x in c['linux/arm64/v8']['blobs']]] if (c := d['refs']['multiarch']['children']) else []")
	assert_eq 3 "$(echo "$unique" | wc -l)" "unique blobs of amd64" || return
	assert_exit 0 oms -v gc --grace 0 || return
	assert_match "$(out)" "^gc: removed 3 blobs \([0-9.]+ MiB\), 1 manifests$" || return
	local d
	for d in $unique; do
		assert_no_blob "$d" || return
		assert_contains "$(out)" "$d" "gc -v output" || return
	done
	[ ! -e "$(manifest_link "$REG_OPEN" "$MA_REPO" "$AMD")" ] || { fail "amd64 _manifests record kept"; return 1; }
	assert_file_digest "$(blob_path "$SHARED")" "$SHARED" || return
	assert_platform_stored "$EXP_OPEN" multiarch linux/arm64/v8 "$REG_OPEN" || return
	assert_tag "$REG_OPEN" "$MA_REPO" arm "$ARM" || return
	assert_exit 0 oms verify || return
	# the remaining image is complete: pulling it again fetches nothing
	assert_exit 0 oms --json pull "$REG_OPEN/$MA_REPO:arm@$ARM" || return
	assert_eq 0 "$(json_last blobsFetched)" "blobsFetched after gc" || return
	assert_tmp_empty
}

case_gc_default_grace_keeps_fresh_content() {
	pull_two || return
	rm -f "$(tag_file "$REG_OPEN" "$MA_REPO" amd)"
	local before; before=$(files)
	assert_exit 0 oms gc || return
	assert_eq "gc: removed 0 blobs (0.0 MiB), 0 manifests" "$(out)" || return
	assert_eq "$before" "$(files)" "store after gc within the grace period"
}

case_gc_dry_run_changes_nothing() {
	pull_two || return
	rm -f "$(tag_file "$REG_OPEN" "$MA_REPO" amd)"
	local before; before=$(files)
	assert_exit 0 oms --json gc --dry-run --grace 0 || return
	assert_json_last_has "$OUT" event || return
	assert_eq summary "$(json_last event)" || return
	assert_eq 3 "$(json_last blobs)" "blobs it would remove" || return
	assert_eq 1 "$(json_last manifests)" "manifests it would remove" || return
	assert_eq True "$(json_last dryRun)" || return
	assert_eq 3 "$(grep -c '"kind": *"blob"' "$OUT")" "blob events" || return
	assert_eq "$before" "$(files)" "store after a dry run" || return
	assert_exit 0 oms --json gc --grace 0 || return
	assert_eq 3 "$(json_last blobs)" || return
	assert_ne "$before" "$(files)" "store after gc"
}

case_gc_keeps_referrers_of_tagged_images() {
	new_store
	assert_exit 0 oms pull --referrers "$REG_OPEN/$(e_ref "$EXP_OPEN" oci-image repo):v1" || return
	local before; before=$(files)
	assert_exit 0 oms gc --grace 0 || return
	assert_eq "gc: removed 0 blobs (0.0 MiB), 0 manifests" "$(out)" || return
	assert_eq "$before" "$(files)" "store after gc" || return
	# untagged, the image and its SBOM go
	rm -f "$(tag_file "$REG_OPEN" "$(e_ref "$EXP_OPEN" oci-image repo)" v1)"
	assert_exit 0 oms --json gc --grace 0 || return
	assert_eq 2 "$(json_last manifests)" "manifest records removed" || return
	assert_eq 1 "$(json_last referrers)" "referrer records removed" || return
	assert_no_blob "$(e_ref "$EXP_OPEN" sbom digest)" || return
	assert_no_blob "$(e_ref "$EXP_OPEN" oci-image digest)" || return
	assert_empty_dir "$STORE/blobs/sha256"
}

case_gc_exits_3_when_locked() {
	pull_two || return
	local rc=0
	flock "$STORE/lock" timeout -k 5 "$E2E_CMD_TIMEOUT" "$OCIMIRROR" --store "$STORE" gc >"$OUT" 2>"$ERR" || rc=$?
	assert_eq 3 "$rc" "exit status of gc while locked" || return
	assert_contains "$(cat "$ERR")" "$STORE/lock" "gc error" || return
	assert_file_digest "$(blob_path "$AMD")" "$AMD"
}

case_verify_quarantines_and_pull_refetches() {
	new_store
	local ref big size q
	ref="$REG_OPEN/$(e_ref "$EXP_OPEN" oci-image repo):v1"
	assert_exit 0 oms pull "$ref" || return
	assert_exit 0 oms verify || return
	big=$(exp_get "$EXP_OPEN" "d['refs']['oci-image']['big_layer']['digest']")
	size=$(exp_get "$EXP_OPEN" "d['refs']['oci-image']['big_layer']['size']")
	# flip one byte in the middle
	local f; f=$(blob_path "$big")
	local off=$((size / 2)) byte
	byte=$(dd if="$f" bs=1 skip=$off count=1 2>/dev/null | od -An -tu1 | tr -d ' ')
	printf "\\$(printf '%03o' $(((byte + 1) % 256)))" | dd of="$f" bs=1 seek=$off conv=notrunc 2>/dev/null
	assert_exit 1 oms verify || return
	q="$STORE/quarantine/sha256-$(hex "$big")"
	assert_file "$q" || return
	assert_no_blob "$big" || return
	assert_match "$(out)" "^corrupt: blob $big" || return
	assert_match "$(out)" "^missing-blob: .*layer $big" || return
	assert_match "$(out)" "1 corrupt \(1 quarantined\), 1 missing" || return
	# --json: one object per problem and a summary
	assert_exit 1 oms --json verify || return
	assert_eq failed "$(json_last result)" || return
	assert_eq 1 "$(json_last missing)" || return
	# pulling the same ref fetches exactly the quarantined blob again
	assert_exit 0 oms --json pull "$ref" || return
	assert_eq 1 "$(json_last blobsFetched)" "blobsFetched after quarantine" || return
	assert_blob "$big" "$size" || return
	assert_exit 0 oms verify || return
	assert_match "$(out)" "0 corrupt \(0 quarantined\), 0 missing" || return
	assert_file "$q"
}

run_case gc_keeps_shared_drops_unique case_gc_keeps_shared_drops_unique
run_case gc_default_grace_keeps_fresh_content case_gc_default_grace_keeps_fresh_content
run_case gc_dry_run_changes_nothing case_gc_dry_run_changes_nothing
run_case gc_keeps_referrers_of_tagged_images case_gc_keeps_referrers_of_tagged_images
run_case gc_exits_3_when_locked case_gc_exits_3_when_locked
run_case verify_quarantines_and_pull_refetches case_verify_quarantines_and_pull_refetches
