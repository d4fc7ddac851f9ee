#!/usr/bin/env bash
# e2e: `ocimirror serve` protocol edges with curl (issue 12: 5, 6, 8, 11):
# descriptor sizes checked on push and by verify, hundreds of query
# arguments, a NUL in a password, non-distributable layers pushed, pulled,
# verified, exported and collected without their blob.
# Run by tests/e2e/run.sh, which exports OCIMIRROR, REG_*, EXP_*, E2E_*.
. "$(dirname "$0")/lib/prologue.sh"

MT_M=application/vnd.oci.image.manifest.v1+json
MT_C=application/vnd.oci.image.config.v1+json
MT_L=application/vnd.oci.image.layer.v1.tar+gzip
MT_ND=application/vnd.oci.image.layer.nondistributable.v1.tar+gzip
CREDS=$E2E_USER:$E2E_PASS
W=$E2E_WORK
HTP=$W/htpasswd
htpasswd -Bbn "$E2E_USER" "$E2E_PASS" >"$HTP" 2>/dev/null || e2e_die "htpasswd failed"

SRVSTORE=$W/served
mkdir -p "$SRVSTORE"
serve_start proto "$SRVSTORE" --htpasswd "$HTP" --anonymous-read --push ||
	e2e_setup_fail "serve did not start"
U=$SRV_URL

# push_blob FILE: monolithic upload into e2e/proto; prints the digest
push_blob() {
	local d; d=$(sha_of "$1")
	http POST "$U/v2/e2e/proto/blobs/uploads/?digest=$d" -u "$CREDS" \
		-H 'Content-Type: application/octet-stream' --data-binary @"$1"
	[ "$HTTP_CODE" = 201 ] || { fail "blob push $d: $HTTP_CODE $(body)"; return 1; }
	echo "$d"
}

# image_json LAYER-MT LAYER-DIGEST LAYER-SIZE [URL]
image_json() {
	local urls=
	[ -n "${4:-}" ] && urls=",\"urls\":[\"$4\"]"
	printf '{"schemaVersion":2,"mediaType":"%s","config":{"mediaType":"%s","digest":"%s","size":%s},"layers":[{"mediaType":"%s","digest":"%s","size":%s%s}]}' \
		"$MT_M" "$MT_C" "$CFG_DG" "$CFG_SZ" "$1" "$2" "$3" "$urls"
}

# put_manifest TAG JSON
put_manifest() {
	printf '%s' "$2" >"$W/m.json"
	http PUT "$U/v2/e2e/proto/manifests/$1" -u "$CREDS" \
		-H "Content-Type: $MT_M" --data-binary @"$W/m.json"
}

setup_blobs() {
	head -c 7000 /dev/urandom >"$W/layer.bin"
	printf '{"architecture":"amd64","os":"linux"}' >"$W/config.json"
	LAYER_DG=$(push_blob "$W/layer.bin") || return
	CFG_DG=$(push_blob "$W/config.json") || return
	CFG_SZ=$(stat -c %s "$W/config.json")
}

case_size_lie_refused_by_push() {
	setup_blobs || return
	put_manifest v1 "$(image_json "$MT_L" "$LAYER_DG" 10)"
	assert_http 400 MANIFEST_INVALID "size-lying manifest" || return
	assert_contains "$(body)" "$LAYER_DG" || return
	assert_contains "$(body)" "says 10 bytes" || return
	assert_contains "$(body)" "holds 7000" || return
	http GET "$U/v2/e2e/proto/manifests/v1" -H "Accept: $MT_M"
	assert_http 404 "" "the refused tag" || return
	put_manifest v1 "$(image_json "$MT_L" "$LAYER_DG" 7000)"
	assert_http 201 "" "the same manifest with the true size"
}

# A store with a size-lying manifest planted by hand: verify names it.
case_size_lie_fails_verify() {
	new_store
	local dir hex man mdg
	printf 'seven thousand? no: thirty-three bytes' >"$W/small"
	hex=$(sha256sum <"$W/small" | cut -d' ' -f1)
	mkdir -p "$STORE/blobs/sha256" && cp "$W/small" "$STORE/blobs/sha256/$hex"
	printf '{}' >"$STORE/blobs/sha256/$(printf '{}' | sha256sum | cut -d' ' -f1)"
	man=$(printf '{"schemaVersion":2,"mediaType":"%s","config":{"mediaType":"%s","digest":"sha256:%s","size":2},"layers":[{"mediaType":"%s","digest":"sha256:%s","size":7000}]}' \
		"$MT_M" "$MT_C" "$(printf '{}' | sha256sum | cut -d' ' -f1)" "$MT_L" "$hex")
	mdg=$(printf '%s' "$man" | sha256sum | cut -d' ' -f1)
	printf '%s' "$man" >"$STORE/blobs/sha256/$mdg"
	dir=$STORE/repositories/e2e/planted
	mkdir -p "$dir/_manifests/sha256" "$dir/_tags"
	printf '{"digest":"sha256:%s","mediaType":"%s","size":%s}' "$mdg" "$MT_M" ${#man} >"$dir/_manifests/sha256/$mdg"
	printf '{"digest":"sha256:%s","mediaType":"%s","size":%s}' "$mdg" "$MT_M" ${#man} >"$dir/_tags/v1"
	assert_exit 1 oms verify || return
	assert_match "$(out)" "^size-mismatch: e2e/planted@sha256:$mdg: layer sha256:$hex is $(stat -c %s "$W/small") bytes, the manifest says 7000" || return
	assert_match "$(out)" "1 size mismatches" || return
	assert_exit 1 oms --json verify || return
	assert_eq 1 "$("$PYTHON" -c 'import json,sys
print(json.loads(open(sys.argv[1]).read().splitlines()[-1])["mismatched"])' "$OUT")" "json summary mismatched"
}

case_many_query_arguments() {
	local q
	q=$("$PYTHON" -c "print('&'.join('p%d=v' % i for i in range(600)))")
	http GET "$U/v2/e2e/proto/tags/list?$q" -m 5
	assert_http 414 UNSUPPORTED "600 query arguments" || return
	assert_contains "$(body)" "more than 64 query arguments" || return
	# the connection is answered, not cut: a long Accept still works after
	http GET "$U/v2/e2e/proto/tags/list?n=1" -H "Accept: $(printf 'application/x-%d, ' $(seq 1 800))$MT_M"
	assert_http 200 "" "tags list with a 13 KB Accept"
}

# basic_hdr BYTES...: an Authorization header over printf-escaped bytes
basic_hdr() { printf 'Authorization: Basic %s' "$(printf "$1" | base64 -w0)"; }

case_nul_in_password() {
	http POST "$U/v2/e2e/proto/blobs/uploads/" -H "$(basic_hdr "$E2E_USER:$E2E_PASS")" --data-binary ''
	assert_http 202 "" "the right password" || return
	http POST "$U/v2/e2e/proto/blobs/uploads/" -H "$(basic_hdr "$E2E_USER:$E2E_PASS\\0junk")" --data-binary ''
	assert_http 401 UNAUTHORIZED "password followed by NUL and junk" || return
	http POST "$U/v2/e2e/proto/blobs/uploads/" -H "$(basic_hdr "$E2E_USER:$E2E_PASS\\t")" --data-binary ''
	assert_http 401 UNAUTHORIZED "password with a tab"
}

case_nondistributable() {
	local absent mdg ref
	[ -n "${CFG_DG:-}" ] || setup_blobs || return
	absent=sha256:$(printf 'never pushed' | sha256sum | cut -d' ' -f1)
	put_manifest twin "$(image_json "$MT_L" "$absent" 12 https://example.com/l.tgz)"
	assert_http 400 MANIFEST_BLOB_UNKNOWN "an ordinary missing layer" || return
	assert_contains "$(body)" "$absent" || return
	put_manifest nd "$(image_json "$MT_ND" "$absent" 12 https://example.com/l.tgz)"
	assert_http 201 "" "a non-distributable layer without its blob" || return
	mdg=$(hdr Docker-Content-Digest)
	STORE=$SRVSTORE
	assert_exit 0 oms verify || return
	# pull into a fresh store: the layer is not fetched
	new_store
	ref=$SRV/e2e/proto:nd
	assert_exit 0 oms pull "$ref" || return
	assert_tag "$SRV" e2e/proto nd "$mdg" || return
	assert_no_blob "$absent" || return
	assert_exit 0 oms verify || return
	assert_exit 0 oms export -o "$W/nd.tar" "$SRV/e2e/proto:nd" || return
	assert_exit 0 oms gc --grace 0 || return
	assert_file "$(blob_path "$mdg")" || return
	assert_file "$(blob_path "$CFG_DG")" || return
	assert_exit 0 oms verify || return
	# the bundle imports into another store
	new_store
	assert_exit 0 oms import "$W/nd.tar" || return
	assert_tag "$SRV" e2e/proto nd "$mdg" || return
	assert_exit 0 oms verify
}

run_case "serve: a layer size that lies -> 400 MANIFEST_INVALID naming both sizes" case_size_lie_refused_by_push
run_case "verify: a planted size-lying manifest -> exit 1, size-mismatch naming the digest" case_size_lie_fails_verify
run_case "serve: 600 query arguments -> 414 at once" case_many_query_arguments
run_case "serve: a NUL or control byte in a password -> 401" case_nul_in_password
run_case "serve: non-distributable layer accepted without its blob; pull/verify/export/gc/import skip it" case_nondistributable
