#!/usr/bin/env bash
# e2e: `ocimirror push` from the store into docker-registry (htpasswd and
# open, through the fault proxy to count requests), checked with skopeo.
# Run by tests/e2e/run.sh, which exports OCIMIRROR, REG_*, EXP_*, E2E_*.
. "$(dirname "$0")/lib/prologue.sh"

ref() { echo "$REG_OPEN/$(e_ref "$EXP_OPEN" "$1" repo):$(e_ref "$EXP_OPEN" "$1" tag)"; }
sref() { echo "$REG_OPEN/$(e_ref "$EXP_OPEN" "$1" repo)"; } # store repo
dg() { e_ref "$EXP_OPEN" "$1" digest; }
creds() { echo "$E2E_USER:$E2E_PASS"; }
summary() { tail -n1 "$OUT" | "$PYTHON" -c 'import json,sys; print(json.load(sys.stdin).get(sys.argv[1]))' "$1"; }

# A store holding every seeded kind this file pushes (pulled once).
SEEDED=""
seeded_store() {
	new_store
	if [ -z "$SEEDED" ]; then
		assert_exit 0 oms pull --referrers "$(ref oci-image)" "$(ref multiarch)" \
			"$(ref dockerlist)" "$(ref docker-image)" || return
		SEEDED=$STORE
	fi
	STORE=$SEEDED
}

remote_digest() { # HOST/REPO:TAG [CREDS]
	local a=(--tls-verify=false)
	[ -n "${2:-}" ] && a+=(--creds "$2")
	skopeo inspect --raw "${a[@]}" "docker://$1" | sha256sum | sed 's/^/sha256:/; s/ .*//'
}

# skopeo copy to an OCI layout; every blob must hash to its name
assert_layout_ok() { # HOST/REPO:TAG CREDS
	local dir; dir=$(mktemp -d "$E2E_WORK/layout.XXXXXX")
	skopeo copy -q --all --src-tls-verify=false --src-creds "$2" "docker://$1" "oci:$dir:x" \
		>"$E2E_WORK/skopeo.log" 2>&1 || { _fail "skopeo copy $1: $(tail -3 "$E2E_WORK/skopeo.log")"; return 1; }
	local f n=0
	for f in "$dir"/blobs/sha256/*; do
		assert_eq "$(basename "$f")" "$(sha256sum "$f" | cut -d' ' -f1)" "blob $f" || return
		n=$((n + 1))
	done
	[ "$n" -ge 2 ] || { _fail "only $n blobs in the layout"; return 1; }
}

case_push_kinds_basic() {
	seeded_store || return
	docker_login_file "$REG_BASIC" "$E2E_USER" "$E2E_PASS"
	local k
	for k in oci-image multiarch dockerlist docker-image; do
		assert_exit 0 oms push "$(ref "$k")" "$REG_BASIC/pushed/$k:v1" || return
		assert_eq "$(dg "$k")" "$(remote_digest "$REG_BASIC/pushed/$k:v1" "$(creds)")" "remote digest of $k" || return
		assert_layout_ok "$REG_BASIC/pushed/$k:v1" "$(creds)" || return
	done
}

case_push_token() {
	seeded_store || return
	docker_login_file "$REG_TOKEN" "$E2E_USER" "$E2E_PASS"
	assert_exit 0 oms push "$(ref multiarch)" "$REG_TOKEN/tok/multi:v1" || return
	assert_eq "$(dg multiarch)" "$(remote_digest "$REG_TOKEN/tok/multi:v1" "$(creds)")" "remote digest" || return
	assert_contains "$(cat "$E2E_TOKEN_LOG")" "repository:tok/multi:pull,push" "token scopes" || return
}

case_push_referrers() {
	seeded_store || return
	docker_login_file "$REG_BASIC" "$E2E_USER" "$E2E_PASS"
	assert_exit 0 oms push "$(ref oci-image)" "$REG_BASIC/refs/img:v1" || return
	local sb; sb=$(dg sbom)
	assert_eq "$sb" "$(remote_digest "$REG_BASIC/refs/img@$sb" "$(creds)")" "sbom on the remote" || return
	# the fallback tag index lists it (distribution 2.8 has no referrers API)
	local fb; fb="sha256-$(hex "$(dg oci-image)")"
	assert_contains "$(skopeo inspect --raw --tls-verify=false --creds "$(creds)" "docker://$REG_BASIC/refs/img:$fb")" "$sb" "fallback index" || return
	# and a fresh pull --referrers from there gets it back
	local keep=$DOCKER_CONFIG; new_store; cp "$keep/config.json" "$DOCKER_CONFIG/"
	assert_exit 0 oms pull --referrers "$REG_BASIC/refs/img:v1" || return
	assert_blob "$sb" "$(e_ref "$EXP_OPEN" sbom size)" || return
}

case_repush_uploads_nothing() {
	seeded_store || return
	proxy_reset
	assert_exit 0 oms push "$(ref multiarch)" "$REG_PROXY/again/multi:v1" || return
	local first; first=$(proxy_count POST /blobs/uploads)
	[ "$first" -ge 2 ] || { _fail "first push made $first upload POSTs"; return 1; }
	proxy_reset
	assert_exit 0 oms --json push "$(ref multiarch)" "$REG_PROXY/again/multi:v1" || return
	assert_eq 0 "$(proxy_count POST /blobs/uploads)" "upload POSTs on re-push" || return
	assert_eq 0 "$(proxy_count PATCH)" "PATCHes on re-push" || return
	assert_eq 0 "$(summary blobsUploaded)" "summary blobsUploaded" || return
	assert_eq "$(dg multiarch)" "$(remote_digest "$REG_OPEN/again/multi:v1")" "remote digest" || return
}

case_chunked_upload() {
	seeded_store || return
	proxy_reset
	# the 3 MiB layer in 1 MiB chunks
	assert_exit 0 oms push --chunk-size 1M "$(ref oci-image)" "$REG_PROXY/chunked/img:v1" || return
	local n; n=$(proxy_count PATCH /blobs/uploads)
	[ "$n" -ge 3 ] || { _fail "PATCH requests: $n, want >= 3"; return 1; }
	assert_eq "$(dg oci-image)" "$(remote_digest "$REG_OPEN/chunked/img:v1")" "remote digest" || return
	assert_layout_ok "$REG_OPEN/chunked/img:v1" "x:y" || return
}

case_two_names_mount() {
	# two store repositories holding the same image: pull it under two names
	new_store
	assert_exit 0 oms pull "$(ref oci-image)" || return
	local m; m=$(dg oci-image)
	mkdir -p "$STORE/repositories/$REG_OPEN/e2e/copy/_tags" "$STORE/repositories/$REG_OPEN/e2e/copy/_manifests/sha256"
	cp "$STORE/repositories/$REG_OPEN/$(e_ref "$EXP_OPEN" oci-image repo)/_manifests/sha256/$(hex "$m")" \
		"$STORE/repositories/$REG_OPEN/e2e/copy/_manifests/sha256/"
	cp "$STORE/repositories/$REG_OPEN/$(e_ref "$EXP_OPEN" oci-image repo)/_tags/v1" "$STORE/repositories/$REG_OPEN/e2e/copy/_tags/v1"
	proxy_reset
	assert_exit 0 oms push --all --to "$REG_PROXY/twonames" || return
	local mounts
	mounts=$(proxy_log | "$PYTHON" -c 'import json,sys
print(sum(1 for e in json.load(sys.stdin) if e["method"]=="POST" and "mount=" in e["path"] and e["status"]==201))')
	# config + 2 layers mounted into the second repository
	assert_eq 3 "$mounts" "mounts answered 201" || return
	assert_eq "$m" "$(remote_digest "$REG_OPEN/twonames/$(echo "$REG_OPEN" | tr : -)/e2e/copy:v1")" "mounted image digest" || return
}

case_push_without_creds() {
	seeded_store || return
	assert_exit 1 oms push "$(ref oci-image)" "$REG_BASIC/nocreds/img:v1" || return
	assert_match "$(alltext)" 'unauthori[sz]ed|401' "error message" || return
}

case_push_missing_ref() {
	seeded_store || return
	assert_exit 1 oms push "$REG_OPEN/e2e/not-there:v9" "$REG_OPEN/x/y:v9" || return
	assert_contains "$(alltext)" "e2e/not-there:v9" "error message" || return
	assert_contains "$(alltext)" "not in the store" "error message" || return
}

case_push_usage() {
	seeded_store || return
	assert_exit 2 oms push "$(ref oci-image)" || return
	assert_exit 2 oms push --all || return
}

case_push_all() {
	seeded_store || return
	local want; want=$(find "$STORE/repositories" -path '*/_tags/*' -type f | wc -l)
	assert_exit 0 oms --json push --all --to "$REG_OPEN/all" || return
	assert_eq 0 "$(summary failed)" "summary failed" || return
	local got=0 r mapped
	for r in oci-image multiarch dockerlist docker-image; do
		mapped="$REG_OPEN/all/$(echo "$REG_OPEN" | tr : -)/$(e_ref "$EXP_OPEN" "$r" repo)"
		assert_exit 0 om tags "$mapped" || return
		# not the referrers fallback tag the push maintains
		got=$((got + $(out | grep -vc '^sha256-')))
		assert_eq "$(dg "$r")" "$(remote_digest "$mapped:$(e_ref "$EXP_OPEN" "$r" tag)")" "digest of $r" || return
	done
	assert_eq "$want" "$got" "tags on the remote" || return
}

run_case "push oci, index, docker list, docker image to htpasswd registry" case_push_kinds_basic
run_case "push to a Bearer-token registry (push scope)" case_push_token
run_case "push carries stored referrers (fallback tag index)" case_push_referrers
run_case "re-push uploads no blob" case_repush_uploads_nothing
run_case "large blob goes in PATCH chunks" case_chunked_upload
run_case "same image under two names: cross-repo mount" case_two_names_mount
run_case "push without credentials -> exit 1, 401" case_push_without_creds
run_case "push of a ref not in the store -> exit 1 naming it" case_push_missing_ref
run_case "push usage errors -> exit 2" case_push_usage
run_case "push --all --to pushes every stored tag" case_push_all
