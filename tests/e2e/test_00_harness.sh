#!/usr/bin/env bash
# e2e: checks of the harness itself (the peers, seeded content, fault proxy)
# with curl and skopeo only, so a broken harness is told apart from a broken
# ocimirror. Run by tests/e2e/run.sh.
. "$(dirname "$0")/lib/prologue.sh"
ACCEPT='application/vnd.oci.image.manifest.v1+json,application/vnd.oci.image.index.v1+json,application/vnd.docker.distribution.manifest.v2+json,application/vnd.docker.distribution.manifest.list.v2+json'

code() { curl -s -o /dev/null -m 10 -w '%{http_code}' "$@"; }
token() { # USER:PASS|"" SCOPE
	local a=()
	[ -n "$1" ] && a=(-u "$1")
	curl -sf -m 10 "${a[@]}" "http://$TOKEN_SERVER/token?service=e2e-registry&scope=$2" |
		"$PYTHON" -c 'import json,sys; print(json.load(sys.stdin)["token"])'
}

h_open() { assert_eq 200 "$(code "http://$REG_OPEN/v2/")" "open /v2/"; }

h_basic() {
	assert_eq 401 "$(code "http://$REG_BASIC/v2/")" "anonymous /v2/" || return
	assert_match "$(curl -si -m 10 "http://$REG_BASIC/v2/")" 'www-authenticate: basic realm=' || return
	assert_eq 200 "$(code -u "$E2E_USER:$E2E_PASS" "http://$REG_BASIC/v2/")" "/v2/ with creds" || return
	assert_eq 401 "$(code -u "$E2E_USER:nope" "http://$REG_BASIC/v2/")" "/v2/ wrong password"
}

h_token() {
	local hdr; hdr=$(curl -si -m 10 "http://$REG_TOKEN/v2/")
	assert_contains "$hdr" "401 Unauthorized" || return
	assert_match "$hdr" "www-authenticate: bearer realm=\"http://$TOKEN_SERVER/token\",service=\"e2e-registry\"" || return
	local t repo; repo=$(exp_get "$EXP_TOKEN" "d['refs']['oci-image']['repo']")
	t=$(token "$E2E_USER:$E2E_PASS" "repository:$repo:pull") || { fail "no token"; return 1; }
	assert_eq 200 "$(code -H "Authorization: Bearer $t" "http://$REG_TOKEN/v2/")" "/v2/ with token" || return
	assert_eq 200 "$(code -H "Authorization: Bearer $t" "http://$REG_TOKEN/v2/$repo/tags/list")" "tags with token" || return
	assert_eq 401 "$(code -H "Authorization: Bearer $t" "http://$REG_TOKEN/v2/e2e/other/tags/list")" "other repo" || return
	t=$(token "" "repository:$repo:pull") || { fail "no anonymous token"; return 1; }
	assert_eq 401 "$(code -H "Authorization: Bearer $t" "http://$REG_TOKEN/v2/$repo/tags/list")" "anonymous token" || return
	assert_eq 401 "$(code -u "$E2E_USER:bad" "http://$TOKEN_SERVER/token?service=e2e-registry&scope=repository:$repo:pull")" "token with bad password"
}

h_seeded() { # EXPFILE ADDR CREDS-ARGS...
	local exp=$1 addr=$2; shift 2
	local key repo dg got
	for key in $(exp_get "$exp" "list(d['refs'])"); do
		repo=$(exp_get "$exp" "d['refs']['$key']['repo']")
		dg=$(exp_get "$exp" "d['refs']['$key']['digest']")
		got=$(curl -sf -m 10 "$@" -H "Accept: $ACCEPT" "http://$addr/v2/$repo/manifests/$dg" | sha256sum | cut -d' ' -f1)
		assert_eq "$dg" "sha256:$got" "manifest $key" || return
	done
}
h_seeded_open() { h_seeded "$EXP_OPEN" "$REG_OPEN"; }
h_seeded_basic() { h_seeded "$EXP_BASIC" "$REG_BASIC" -u "$E2E_USER:$E2E_PASS"; }
h_seeded_fallback_tag() {
	local repo tag; repo=$(exp_get "$EXP_OPEN" "d['refs']['sbom']['repo']")
	tag=$(exp_get "$EXP_OPEN" "d['refs']['sbom']['fallback_tag']")
	local idx; idx=$(curl -sf -m 10 -H "Accept: $ACCEPT" "http://$REG_OPEN/v2/$repo/manifests/$tag")
	assert_contains "$idx" "$(exp_get "$EXP_OPEN" "d['refs']['sbom']['digest']")" "fallback index" || return
	assert_contains "$idx" '"artifactType": "application/vnd.example.sbom.v1+json"' "fallback index"
}
h_many_tags() {
	local n; n=$(curl -sf -m 10 "http://$REG_OPEN/v2/e2e/many-tags/tags/list" | "$PYTHON" -c 'import json,sys; print(len(json.load(sys.stdin)["tags"]))')
	assert_eq 120 "$n" "tag count" || return
	# distribution 2.8 ignores n= on tags/list; the proxy's paginate mode pages
	proxy_reset
	proxy_fault '{"mode":"paginate","match":"/tags/list","count":-1,"page":50}' || return
	local l url="/v2/e2e/many-tags/tags/list" all="" pages=0
	while [ -n "$url" ] && [ $pages -lt 10 ]; do
		l=$(curl -si -m 10 "http://$REG_PROXY$url")
		pages=$((pages + 1))
		all="$all$(printf '%s' "$l" | sed -n '/^{/p' | "$PYTHON" -c 'import json,sys; print("\n".join(json.load(sys.stdin)["tags"]))')
"
		url=$(printf '%s' "$l" | tr -d '\r' | sed -n 's/^[Ll]ink: <\([^>]*\)>.*/\1/p')
	done
	assert_eq 3 "$pages" "pages" || return
	assert_eq 120 "$(printf '%s' "$all" | sed '/^$/d' | sort -u | wc -l)" "tags over all pages"
	proxy_reset
}

BIGDG=""; BIGSZ=""; BIGURL=""
big() {
	BIGDG=$(exp_get "$EXP_OPEN" "d['refs']['oci-image']['big_layer']['digest']")
	BIGSZ=$(exp_get "$EXP_OPEN" "d['refs']['oci-image']['big_layer']['size']")
	BIGURL="http://$REG_PROXY/v2/e2e/oci-image/blobs/$BIGDG"
}

p_passthrough() {
	proxy_reset; big
	assert_eq "$BIGDG" "sha256:$(curl -sf -m 20 "$BIGURL" | sha256sum | cut -d' ' -f1)" "blob through proxy" || return
	assert_match "$(curl -sI -m 10 "$BIGURL")" "content-length: $BIGSZ" "HEAD" || return
	assert_eq 2 "$(proxy_count)" "logged requests"
}

p_drop_and_range() {
	proxy_reset; big
	proxy_fault '{"mode":"drop","match":"'"$BIGDG"'","after":1048576,"method":"GET"}' || return
	local rc=0
	curl -s -m 20 -o "$E2E_WORK/part1" "$BIGURL" || rc=$?
	assert_eq 18 "$rc" "curl exit (partial file)" || return
	assert_eq 1048576 "$(stat -c %s "$E2E_WORK/part1")" "bytes before drop" || return
	curl -sf -m 20 -r 1048576- -o "$E2E_WORK/part2" "$BIGURL" || { fail "range request failed"; return 1; }
	assert_eq "$BIGDG" "sha256:$(cat "$E2E_WORK/part1" "$E2E_WORK/part2" | sha256sum | cut -d' ' -f1)" "resumed blob" || return
	assert_eq 1 "$(proxy_count GET "$BIGDG" ranged)" "ranged requests logged" || return
	# the log names the fault (the other files' fault checks rely on it)
	assert_eq "GET /v2/e2e/oci-image/blobs/$BIGDG" "$(proxy_faults drop)" "drop logged"
}

p_status() {
	proxy_reset; big
	proxy_fault '{"mode":"status503","match":"/blobs/","count":2}' || return
	assert_eq "503 503 200" "$(code "$BIGURL") $(code "$BIGURL") $(code "$BIGURL")" "503 x2 then ok" || return
	proxy_fault '{"mode":"status429","match":"/blobs/","retry_after":1}' || return
	local h; h=$(curl -si -m 10 "$BIGURL")
	assert_contains "$h" "429" || return
	assert_match "$h" "retry-after: 1" || return
	proxy_fault '{"mode":"status500","match":"/manifests/","count":-1}' || return
	assert_eq "500 500" "$(code "http://$REG_PROXY/v2/e2e/oci-image/manifests/v1") $(code -I "http://$REG_PROXY/v2/e2e/oci-image/manifests/v1")" "500 forever" || return
	assert_eq 200 "$(code "$BIGURL")" "other paths unaffected" || return
	assert_proxy_faults 2 status503 "/v2/e2e/oci-image/blobs/$BIGDG" || return
	assert_proxy_faults 1 status429 "/v2/e2e/oci-image/blobs/$BIGDG" || return
	assert_proxy_faults 2 status500 "/v2/e2e/oci-image/manifests/v1" || return
	assert_eq 5 "$(proxy_faults | wc -l)" "faults logged in all"
}

p_corrupt() {
	proxy_reset; big
	proxy_fault '{"mode":"corrupt","match":"'"$BIGDG"'","after":4096}' || return
	curl -sf -m 20 -o "$E2E_WORK/corrupt" "$BIGURL" || { fail "curl failed"; return 1; }
	assert_eq "$BIGSZ" "$(stat -c %s "$E2E_WORK/corrupt")" "corrupted length" || return
	assert_ne "$BIGDG" "sha256:$(sha256sum <"$E2E_WORK/corrupt" | cut -d' ' -f1)" "corrupted digest" || return
	assert_eq "$BIGDG" "sha256:$(curl -sf -m 20 "$BIGURL" | sha256sum | cut -d' ' -f1)" "next request clean" || return
	assert_eq "GET /v2/e2e/oci-image/blobs/$BIGDG" "$(proxy_faults corrupt)" "corrupt logged, once" || return
	# an offset past the end changes nothing, and the log says so
	proxy_reset
	proxy_fault '{"mode":"corrupt","match":"'"$BIGDG"'","after":'"$((BIGSZ + 10))"'}' || return
	assert_eq "$BIGDG" "sha256:$(curl -sf -m 20 "$BIGURL" | sha256sum | cut -d' ' -f1)" "corrupt past the end" || return
	assert_eq "" "$(proxy_faults corrupt)" "corrupt logged past the end" || return
	assert_eq "GET /v2/e2e/oci-image/blobs/$BIGDG" "$(proxy_faults corrupt-missed)" "missed corrupt logged"
}

p_stall() {
	proxy_reset; big
	proxy_fault '{"mode":"stall","match":"'"$BIGDG"'","after":1000,"stall":2}' || return
	local t0=$SECONDS
	assert_eq "$BIGDG" "sha256:$(curl -sf -m 20 "$BIGURL" | sha256sum | cut -d' ' -f1)" "stalled blob" || return
	[ $((SECONDS - t0)) -ge 1 ] || { fail "no stall observed"; return; }
	assert_eq "GET /v2/e2e/oci-image/blobs/$BIGDG" "$(proxy_faults stall)" "stall logged"
}

skopeo_copy() { # SRC-REF DEST-DIR [skopeo args]
	local src=$1 dst=$2; shift 2
	rm -rf "$dst"
	timeout 60 skopeo copy -q --src-tls-verify=false "$@" "docker://$src" "oci:$dst:x" >"$E2E_WORK/skopeo.out" 2>&1 ||
		{ fail "skopeo copy $src: $(tail -n 3 "$E2E_WORK/skopeo.out" | tr '\n' ' ')"; return 1; }
	local f n=0
	for f in "$dst"/blobs/sha256/*; do
		assert_eq "${f##*/}" "$(sha256sum <"$f" | cut -d' ' -f1)" "skopeo blob" || return
		n=$((n + 1))
	done
	[ $n -ge 2 ] || fail "skopeo wrote $n blobs"
}

s_proxy() {
	proxy_reset
	skopeo_copy "$REG_PROXY/e2e/oci-image:v1" "$E2E_WORK/sk1" || return
	skopeo_copy "$REG_PROXY/e2e/multiarch:v1" "$E2E_WORK/sk2" --all || return
	skopeo_copy "$REG_PROXY/e2e/helm-chart:0.1.0" "$E2E_WORK/sk3"
}
s_auth() {
	skopeo_copy "$REG_BASIC/e2e/oci-image:v1" "$E2E_WORK/sk4" --src-creds "$E2E_USER:$E2E_PASS" || return
	skopeo_copy "$REG_TOKEN/e2e/oci-image:v1" "$E2E_WORK/sk5" --src-creds "$E2E_USER:$E2E_PASS"
}

run_case "harness: open registry answers" h_open
run_case "harness: htpasswd registry challenges Basic" h_basic
run_case "harness: token registry + token service" h_token
run_case "harness: seeded manifests (open)" h_seeded_open
run_case "harness: seeded manifests (htpasswd)" h_seeded_basic
run_case "harness: referrers fallback tag" h_seeded_fallback_tag
run_case "harness: 120 tags, proxy pages them by 50" h_many_tags
run_case "harness: proxy passthrough GET/HEAD + log" p_passthrough
run_case "harness: proxy drop + Range resume" p_drop_and_range
run_case "harness: proxy 503/429/500" p_status
run_case "harness: proxy corrupt" p_corrupt
run_case "harness: proxy stall" p_stall
run_case "harness: skopeo copies through the proxy" s_proxy
run_case "harness: skopeo copies from htpasswd and token registries" s_auth
proxy_reset >/dev/null 2>&1
