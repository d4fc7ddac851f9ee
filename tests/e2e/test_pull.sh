#!/usr/bin/env bash
# e2e: `ocimirror pull` (and tags / ls / inspect / login) against real
# docker-registry instances, the token service and the fault proxy.
# Run by tests/e2e/run.sh, which exports OCIMIRROR, REG_*, EXP_*, E2E_*.
. "$(dirname "$0")/lib/prologue.sh"

# ref KEY [HOST]: the tagged reference of an expectations entry on HOST
ref() {
	local h=${2:-$REG_OPEN}
	echo "$h/$(e_ref "$EXP_OPEN" "$1" repo):$(e_ref "$EXP_OPEN" "$1" tag)"
}

# ------------------------------------------------------------- open registry
pull_kind() { # KEY
	new_store
	assert_exit 0 oms pull "$(ref "$1")" || return
	assert_ref_stored "$EXP_OPEN" "$1" "$REG_OPEN" || return
	assert_tmp_empty
}

pull_all_platforms() { # KEY: every child of the index is stored by default
	pull_kind "$1" || return
	local p
	for p in $(exp_get "$EXP_OPEN" "list(d['refs']['$1']['children'])"); do
		assert_platform_stored "$EXP_OPEN" "$1" "$p" "$REG_OPEN" || return
	done
}

case_no_referrers_by_default() {
	new_store
	assert_exit 0 oms pull "$(ref oci-image)" || return
	assert_no_blob "$(e_ref "$EXP_OPEN" sbom digest)"
}

case_pull_by_digest() {
	new_store
	local repo dg
	repo=$(e_ref "$EXP_OPEN" docker-image repo)
	dg=$(e_ref "$EXP_OPEN" docker-image digest)
	assert_exit 0 oms pull "$REG_OPEN/$repo@$dg" || return
	assert_blob "$dg" "$(e_ref "$EXP_OPEN" docker-image size)" || return
	assert_manifest_link "$REG_OPEN" "$repo" "$dg" || return
	assert_no_tags "$REG_OPEN" "$repo" || return
	assert_tmp_empty
}

case_several_refs_one_command() {
	new_store
	assert_exit 0 oms pull "$(ref oci-image)" "$(ref helm-chart)" "$(ref dockerlist)" || return
	assert_ref_stored "$EXP_OPEN" oci-image "$REG_OPEN" || return
	assert_ref_stored "$EXP_OPEN" helm-chart "$REG_OPEN" || return
	assert_ref_stored "$EXP_OPEN" dockerlist "$REG_OPEN" || return
	assert_tmp_empty
}

case_repull_is_noop() {
	new_store
	assert_exit 0 oms pull "$(ref oci-image)" || return
	local before; before=$(find "$(store_dir)/blobs" -type f | sort | xargs sha256sum)
	assert_exit 0 oms pull "$(ref oci-image)" || return
	assert_eq "$before" "$(find "$(store_dir)/blobs" -type f | sort | xargs sha256sum)" "blobs after re-pull" || return
	assert_ref_stored "$EXP_OPEN" oci-image "$REG_OPEN" || return
	assert_tmp_empty
}

case_platform_filter() {
	new_store
	assert_exit 0 oms pull --platform linux/arm64 "$(ref multiarch)" || return
	local repo dg
	repo=$(e_ref "$EXP_OPEN" multiarch repo)
	dg=$(e_ref "$EXP_OPEN" multiarch digest)
	# the index itself and its tag
	assert_blob "$dg" "$(e_ref "$EXP_OPEN" multiarch size)" || return
	assert_tag "$REG_OPEN" "$repo" v1 "$dg" || return
	assert_platform_stored "$EXP_OPEN" multiarch linux/arm64/v8 "$REG_OPEN" || return
	assert_platform_absent "$EXP_OPEN" multiarch linux/amd64 || return
	assert_platform_absent "$EXP_OPEN" multiarch linux/arm/v7 || return
	assert_tmp_empty
}

case_platform_filter_docker_list() {
	new_store
	assert_exit 0 oms pull --platform linux/amd64 "$(ref dockerlist)" || return
	assert_platform_stored "$EXP_OPEN" dockerlist linux/amd64 "$REG_OPEN" || return
	assert_platform_absent "$EXP_OPEN" dockerlist linux/arm64 || return
	assert_tmp_empty
}

case_referrers() {
	new_store
	assert_exit 0 oms pull --referrers "$(ref oci-image)" || return
	assert_ref_stored "$EXP_OPEN" oci-image "$REG_OPEN" || return
	local repo dg
	repo=$(e_ref "$EXP_OPEN" sbom repo)
	dg=$(e_ref "$EXP_OPEN" sbom digest)
	assert_blob "$dg" "$(e_ref "$EXP_OPEN" sbom size)" || return
	assert_manifest_link "$REG_OPEN" "$repo" "$dg" || return
	local b s
	while read -r b s; do
		assert_blob "$b" "$s" || return
	done < <(exp_get "$EXP_OPEN" "[b['digest']+' '+str(b['size']) for b in d['refs']['sbom']['blobs']]")
	assert_tmp_empty
}

case_bad_reference() {
	new_store
	local r
	for r in "$REG_OPEN/E2E/UpperCase:v1" "$REG_OPEN/e2e/oci-image:bad:tag" \
		"$REG_OPEN/e2e/oci-image@sha256:1234" "$REG_OPEN/e2e/../etc:v1" "" \
		"$REG_OPEN/e2e/oci-image:$(printf 't%.0s' $(seq 1 130))"; do
		assert_exit 2 oms pull "$r" || { fail "ref '$r': $E2E_CASE_FAIL"; return 1; }
	done
	assert_no_tags || return
	assert_tmp_empty
}

case_no_args_usage() {
	new_store
	assert_exit 2 oms pull || return
	assert_exit 2 oms pull --no-such-option "$(ref oci-image)" || return
}

case_tags_paginated() {
	new_store
	local repo; repo=$(e_ref "$EXP_OPEN" many-tags repo)
	assert_exit 0 oms tags "$REG_OPEN/$repo" || return
	assert_set_eq "$(exp_get "$EXP_OPEN" "d['refs']['many-tags']['tags']")" "$(out)" "tags of $repo" || return
	assert_eq 120 "$(sed '/^$/d' "$OUT" | wc -l)" "number of tag lines"
}

case_tags_via_proxy() {
	# the proxy serves tags/list in pages of 50 with Link headers (like
	# registries that page by default); the client must follow them all
	new_store
	proxy_reset
	proxy_fault '{"mode":"paginate","match":"/tags/list","count":-1,"page":50}' || return
	local repo; repo=$(e_ref "$EXP_OPEN" many-tags repo)
	assert_exit 0 oms tags "$REG_PROXY/$repo" || return
	assert_set_eq "$(exp_get "$EXP_OPEN" "d['refs']['many-tags']['tags']")" "$(out)" "tags of $repo" || return
	assert_eq 120 "$(sed '/^$/d' "$OUT" | wc -l)" "number of tag lines" || return
	local n; n=$(proxy_count GET "/tags/list")
	[ "$n" -ge 3 ] || fail "only $n tags/list requests for 3 pages"
}

case_ls() {
	new_store
	assert_exit 0 oms pull "$(ref oci-image)" "$(ref helm-chart)" || return
	assert_exit 0 oms ls || return
	local firsts; firsts=$(awk '{print $1}' "$OUT")
	assert_contains "$firsts" "$(ref oci-image)" "ls output" || return
	assert_contains "$firsts" "$(ref helm-chart)" "ls output" || return
	assert_not_contains "$firsts" "docker-image" "ls output"
}

case_inspect_raw() {
	new_store
	local k dg
	for k in oci-image docker-image multiarch dockerlist helm-chart; do
		dg=$(e_ref "$EXP_OPEN" "$k" digest)
		assert_exit 0 oms inspect "$(ref "$k")" --raw || return
		assert_eq "$dg" "sha256:$(sha256sum <"$OUT" | cut -d' ' -f1)" "inspect --raw $k digest" || return
	done
}

case_json_summary() {
	new_store
	assert_exit 0 om --store "$STORE" --json pull "$(ref oci-image)" || return
	assert_json_last_has "$OUT" result || return
	assert_match "$(tail -n 1 "$OUT")" '"result" *: *"(ok|success|done)"' "summary" || return
	assert_ref_stored "$EXP_OPEN" oci-image "$REG_OPEN"
}

case_json_summary_failure() {
	new_store
	assert_exit 1 om --store "$STORE" --json pull "$REG_OPEN/e2e/does-not-exist:v1" || return
	assert_json_last_has "$OUT" result || return
	assert_no_tags
}

case_missing_repo() {
	new_store
	assert_exit 1 oms pull "$REG_OPEN/e2e/does-not-exist:v1" "$(ref docker-image)" || return
	assert_ref_stored "$EXP_OPEN" docker-image "$REG_OPEN" || return
	assert_no_tags "$REG_OPEN" e2e/does-not-exist || return
	assert_tmp_empty
}

# ------------------------------------------------------------- auth
case_basic_with_config() {
	new_store
	docker_login_file "$REG_BASIC" "$E2E_USER" "$E2E_PASS"
	assert_exit 0 oms pull "$(ref oci-image "$REG_BASIC")" "$(ref multiarch "$REG_BASIC")" || return
	assert_ref_stored "$EXP_BASIC" oci-image "$REG_BASIC" || return
	assert_ref_stored "$EXP_BASIC" multiarch "$REG_BASIC" || return
	assert_tmp_empty
}

case_basic_without_creds() {
	new_store
	assert_exit 1 oms pull "$(ref oci-image "$REG_BASIC")" || return
	assert_match "$(alltext)" 'unauthori[sz]ed|401' "error message" || return
	assert_no_tags || return
	assert_tmp_empty
}

case_basic_wrong_password() {
	new_store
	docker_login_file "$REG_BASIC" "$E2E_USER" "wrong-$E2E_PASS"
	assert_exit 1 oms pull "$(ref oci-image "$REG_BASIC")" || return
	assert_match "$(alltext)" 'unauthori[sz]ed|401' "error message" || return
	assert_no_tags
}

case_login_logout() {
	new_store
	local rc=0
	printf '%s\n' "$E2E_PASS" | timeout 30 "$OCIMIRROR" --store "$STORE" login "$REG_BASIC" -u "$E2E_USER" --password-stdin \
		>"$E2E_LAST_OUT" 2>&1 || rc=$?
	assert_eq 0 "$rc" "login exit status $(_tail_out)" || return
	local cf=$DOCKER_CONFIG/config.json
	assert_file "$cf" || return
	assert_eq 600 "$(stat -c %a "$cf")" "config.json mode" || return
	local want; want=$(printf '%s:%s' "$E2E_USER" "$E2E_PASS" | base64 -w0)
	assert_eq "$want" "$(exp_get "$cf" "d['auths']['$REG_BASIC']['auth']")" "auths entry" || return
	assert_exit 0 oms pull "$(ref oci-image "$REG_BASIC")" || return
	assert_ref_stored "$EXP_BASIC" oci-image "$REG_BASIC" || return
	assert_exit 0 oms logout "$REG_BASIC" || return
	assert_eq "" "$(exp_get "$cf" "d.get('auths',{}).get('$REG_BASIC')")" "auths entry after logout" || return
	new_store_keep_config=$DOCKER_CONFIG
	new_store
	cp "$new_store_keep_config/config.json" "$DOCKER_CONFIG/config.json"
	assert_exit 1 oms pull "$(ref oci-image "$REG_BASIC")"
}

case_token_with_config() {
	new_store
	docker_login_file "$REG_TOKEN" "$E2E_USER" "$E2E_PASS"
	local before; before=$(wc -l <"$E2E_TOKEN_LOG")
	if ! assert_exit 0 oms pull "$(ref oci-image "$REG_TOKEN")" "$(ref multiarch "$REG_TOKEN")"; then
		E2E_CASE_FAIL="$E2E_CASE_FAIL [token service log: $(tail -n +$((before + 1)) "$E2E_TOKEN_LOG" | tail -n 4 | tr '\n' ' ')]"
		return 1
	fi
	assert_ref_stored "$EXP_TOKEN" oci-image "$REG_TOKEN" || return
	assert_ref_stored "$EXP_TOKEN" multiarch "$REG_TOKEN" || return
	local new; new=$(tail -n +$((before + 1)) "$E2E_TOKEN_LOG")
	assert_contains "$new" "user=$E2E_USER status=200" "token service log" || return
	assert_contains "$new" "repository:$(e_ref "$EXP_TOKEN" oci-image repo):pull" "token scope" || return
	assert_tmp_empty
}

case_token_without_creds() {
	new_store
	assert_exit 1 oms pull "$(ref oci-image "$REG_TOKEN")" || return
	assert_match "$(alltext)" 'unauthori[sz]ed|401|denied' "error message" || return
	assert_no_tags
}

# ------------------------------------------------------------- faults (proxy)
BIG=""
big_layer() { [ -n "$BIG" ] || BIG=$(exp_get "$EXP_OPEN" "d['refs']['oci-image']['big_layer']['digest']"); echo "$BIG"; }

fault_pull_ok() { # FAULT-JSON KEY: one pull through the proxy must succeed
	new_store
	proxy_reset || { fail "proxy control failed"; return 1; }
	proxy_fault "$1" || { fail "proxy_fault $1 refused"; return 1; }
	assert_exit 0 oms pull "$(ref "$2" "$REG_PROXY")" || return
	assert_ref_stored "$EXP_OPEN" "$2" "$REG_PROXY" || return
	assert_tmp_empty
}

case_fault_drop_resumes() {
	local b; b=$(big_layer)
	fault_pull_ok '{"mode":"drop","match":"'"$b"'","after":1048576,"count":1,"method":"GET"}' oci-image || return
	assert_eq 1 "$(proxy_log | "$PYTHON" -c 'import json,sys; print(sum(1 for e in json.load(sys.stdin) if e["fault"]=="drop"))')" "drops injected" || return
	assert_proxy_faults 1 drop "/blobs/$b" || return
	local ranged; ranged=$(proxy_count GET "$b" ranged)
	[ "$ranged" -ge 1 ] || fail "no Range request for the dropped blob after the drop"
}

case_fault_503_twice() {
	fault_pull_ok '{"mode":"status503","match":"/blobs/","count":2}' oci-image || return
	assert_eq 2 "$(proxy_log | "$PYTHON" -c 'import json,sys; print(sum(1 for e in json.load(sys.stdin) if e["status"]==503))')" "503s served" || return
	assert_proxy_faults 2 status503 "/blobs/"
}

case_fault_503_manifest() {
	fault_pull_ok '{"mode":"status503","match":"/manifests/","count":2}' multiarch || return
	# both 503s went to the index's repository; the pull asked again after them
	local repo; repo=$(e_ref "$EXP_OPEN" multiarch repo)
	assert_proxy_faults 2 status503 "/$repo/manifests/" || return
	local n; n=$(proxy_count "" "/$repo/manifests/")
	[ "$n" -ge 3 ] || fail "$n manifest requests in all: none after the two 503s"
}

case_fault_429_retry_after() {
	fault_pull_ok '{"mode":"status429","match":"/blobs/","count":1,"retry_after":1}' oci-image || return
	assert_eq 1 "$(proxy_log | "$PYTHON" -c 'import json,sys; print(sum(1 for e in json.load(sys.stdin) if e["status"]==429))')" "429s served" || return
	assert_proxy_faults 1 status429 "/blobs/" || return
	# the backoff base is 50 ms here, so a wait of 1000 ms is Retry-After's
	assert_contains "$(alltext)" "retry 1/" "retry logged" || return
	assert_contains "$(alltext)" "in 1000 ms" "wait taken from Retry-After"
}

case_fault_corrupt_forever() {
	local b; b=$(big_layer)
	new_store
	proxy_reset
	proxy_fault '{"mode":"corrupt","match":"'"$b"'","after":1000,"count":-1}' || return
	OCIMIRROR_RETRIES=3 assert_exit 1 oms pull "$(ref oci-image "$REG_PROXY")" || return
	E2E_ICASE=1 assert_contains "$(alltext)" "digest" "error message" || return
	# every fetch of the layer was corrupted: the first and the one refetch
	assert_proxy_faults 2 corrupt "/blobs/$b" || return
	assert_eq 2 "$(proxy_count GET "/blobs/$b")" "GETs of the corrupted layer" || return
	assert_no_blob "$b" || return
	assert_no_tags || return
	assert_tmp_empty
}

case_fault_corrupt_once() {
	local b; b=$(big_layer)
	fault_pull_ok '{"mode":"corrupt","match":"'"$b"'","after":2000000,"count":1,"method":"GET"}' oci-image || return
	# the one corrupted GET of the layer, then a second GET of it
	assert_proxy_faults 1 corrupt "/blobs/$b" || return
	assert_eq 2 "$(proxy_count GET "/blobs/$b")" "GETs of the corrupted layer"
}

case_fault_stall() {
	local b; b=$(big_layer)
	OCIMIRROR_STALL_TIMEOUT=2 fault_pull_ok '{"mode":"stall","match":"'"$b"'","after":524288,"stall":10,"count":1,"method":"GET"}' oci-image || return
	# the stalled transfer was cut (logged) and resumed from the byte reached
	E2E_ICASE=1 assert_contains "$(alltext)" "timeout" "stall detected" || return
	assert_proxy_faults 1 stall "/blobs/$b" || return
	local ranged; ranged=$(proxy_count GET "$b" ranged)
	[ "$ranged" -ge 1 ] || fail "no Range request for the stalled blob"
}

case_fault_500_manifest_other_ref_ok() {
	new_store
	proxy_reset
	local repo; repo=$(e_ref "$EXP_OPEN" docker-image repo)
	proxy_fault '{"mode":"status500","match":"/'"$repo"'/manifests/","count":-1}' || return
	OCIMIRROR_RETRIES=3 assert_exit 1 oms pull "$(ref docker-image "$REG_PROXY")" "$(ref oci-image "$REG_PROXY")" || return
	# the first try and OCIMIRROR_RETRIES=3 retries, all on that repository
	assert_proxy_faults 4 status500 "/$repo/manifests/" || return
	assert_ref_stored "$EXP_OPEN" oci-image "$REG_PROXY" || return
	assert_no_tags "$REG_PROXY" "$repo" || return
	assert_tmp_empty
}

case_fault_drop_every_blob_once() {
	# the first 3 blob GETs (or resumed GETs) are cut after 100 bytes
	fault_pull_ok '{"mode":"drop","match":"/blobs/","after":100,"count":3,"method":"GET"}' multiarch || return
	assert_proxy_faults 3 drop "/blobs/" || return
	# and each cut blob was asked for again
	local p
	while read -r _ p; do
		[ "$(proxy_count GET "$p")" -ge 2 ] || { fail "dropped $p not fetched again"; return; }
	done < <(proxy_faults drop)
}

case_store_locked() {
	# pull 1 holds the store (its big blob stalls 4 s in the proxy);
	# pull 2 into the same store must exit 3 at once
	local b; b=$(big_layer)
	new_store
	proxy_reset
	proxy_fault '{"mode":"stall","match":"'"$b"'","after":1000,"stall":4,"count":1,"method":"GET"}' || return
	OCIMIRROR_STALL_TIMEOUT=30 timeout 60 "$OCIMIRROR" --store "$STORE" pull "$(ref oci-image "$REG_PROXY")" \
		>"$E2E_WORK/bg.out" 2>&1 </dev/null &
	local pid=$!
	for _ in $(seq 1 100); do
		[ "$(proxy_count GET "$b")" -ge 1 ] && break
		sleep 0.1
	done
	local rc2=0 rc1=0
	oms pull "$(ref helm-chart)" || rc2=$?
	wait "$pid" || rc1=$?
	assert_eq 3 "$rc2" "exit status of the second pull $(_tail_out)" || return
	# the first pull was held in the proxy's stall while the second ran
	assert_proxy_faults 1 stall "/blobs/$b" || return
	assert_contains "$(alltext)" "locked" "lock message" || return
	assert_eq 0 "$rc1" "exit status of the first pull ($(tail -n 3 "$E2E_WORK/bg.out" | tr '\n' ' '))" || return
	assert_ref_stored "$EXP_OPEN" oci-image "$REG_PROXY" || return
	assert_no_tags "$REG_OPEN" "$(e_ref "$EXP_OPEN" helm-chart repo)" || return
	assert_tmp_empty
}

# ------------------------------------------------------------- run
for k in oci-image docker-image helm-chart; do
	run_case "pull $k from open registry" pull_kind "$k"
done
run_case "pull OCI index, all platforms by default" pull_all_platforms multiarch
run_case "pull docker manifest list, all platforms by default" pull_all_platforms dockerlist
run_case "pull without --referrers stores no referrer" case_no_referrers_by_default
run_case "pull by digest stores manifest, no tag" case_pull_by_digest
run_case "pull several refs in one command" case_several_refs_one_command
run_case "re-pull changes nothing" case_repull_is_noop
run_case "pull --platform linux/arm64 (index)" case_platform_filter
run_case "pull --platform linux/amd64 (docker list)" case_platform_filter_docker_list
run_case "pull --referrers stores the sbom via fallback tag" case_referrers
run_case "bad references exit 2" case_bad_reference
run_case "usage errors exit 2" case_no_args_usage
run_case "tags lists all 120 tags" case_tags_paginated
run_case "tags follows Link pagination (3 pages)" case_tags_via_proxy
run_case "ls lists stored repo:tag" case_ls
run_case "inspect --raw bytes hash to the manifest digest" case_inspect_raw
run_case "--json prints JSON lines ending in a summary" case_json_summary
run_case "--json summary on failure" case_json_summary_failure
run_case "missing repo fails, other ref still pulled" case_missing_repo
run_case "htpasswd registry with config.json creds" case_basic_with_config
run_case "htpasswd registry without creds -> exit 1" case_basic_without_creds
run_case "htpasswd registry wrong password -> exit 1" case_basic_wrong_password
run_case "login writes config.json 0600, logout removes it" case_login_logout
run_case "token registry with config.json creds" case_token_with_config
run_case "token registry without creds -> exit 1" case_token_without_creds
run_case "fault: drop mid-blob once -> resumed with Range" case_fault_drop_resumes
run_case "fault: drop the first 3 blob GETs" case_fault_drop_every_blob_once
run_case "fault: 503 twice on blobs -> retried" case_fault_503_twice
run_case "fault: 503 twice on manifests -> retried" case_fault_503_manifest
run_case "fault: 429 + Retry-After 1 -> waited and retried" case_fault_429_retry_after
run_case "fault: corrupt once -> refetched" case_fault_corrupt_once
run_case "fault: corrupt forever -> exit 1, nothing stored" case_fault_corrupt_forever
run_case "fault: stall -> timed out and resumed" case_fault_stall
run_case "fault: 500 forever on one manifest, other ref ok" case_fault_500_manifest_other_ref_ok
run_case "second writer on a locked store exits 3" case_store_locked

proxy_reset >/dev/null 2>&1
