#!/usr/bin/env bash
# e2e: the S3 store backend (mirror/store/s3.c) against the Ceph RGW that
# run.sh starts: the Criterion suite tests/s3 (build/tests/unit-s3, built
# here when missing), each of its tests under a fresh prefix of a fresh
# bucket; then what only an independent client can tell (lib/s3tool.py):
# the keys are the filesystem layout's, a digest mismatch left nothing
# under blobs/, a blob put by the store is its bytes under its key. Last,
# an s3:// --store passes through the command line.
# e2e-needs: s3
. "$(dirname "$0")/lib/prologue.sh"
s3_require

W=$E2E_WORK
ROOT=$(cd "$HERE/../.." && pwd)
# in the build dir of the binary under test: build/, or make asan's
# (BUILD comes from make's command line, exported to its recipes)
UNIT=$ROOT/${BUILD:-build}/tests/unit-s3
BKT=$(s3_bucket store) || e2e_setup_fail "cannot create a bucket on $S3_ENDPOINT"
RUN=run-$$
export OCIMIRROR_TEST_S3_BUCKET=$BKT
export OCIMIRROR_TEST_S3_QUERY="endpoint=$S3_ENDPOINT&region=$AWS_REGION"
export OCIMIRROR_TEST_S3_RUN=$RUN
export OCIMIRROR_SPOOL=$W/spool
mkdir -p "$OCIMIRROR_SPOOL"

c_unit() {
	if [ ! -x "$UNIT" ] || [ -n "$(find "$ROOT/tests/s3" "$ROOT/mirror/store" -newer "$UNIT" -name '*.[ch]' | head -1)" ]; then
		make -C "$ROOT" --no-print-directory "${UNIT#"$ROOT"/}" >"$W/make.log" 2>&1 ||
			{ fail "building unit-s3 failed: $(tail -3 "$W/make.log")"; return 1; }
	fi
	timeout -k 5 300 "$UNIT" --jobs 2 >"$W/unit.log" 2>&1 ||
		{ sed 's/^/#   | /' "$W/unit.log" | tail -40; fail "unit-s3 failed"; return 1; }
	grep -q 'Synthesis: Tested: [1-9]' "$W/unit.log" || { fail "unit-s3 ran no test"; return 1; }
	echo "# $(grep Synthesis "$W/unit.log")"
	# the staged temp files went: placed or discarded
	assert_eq "" "$(ls "$OCIMIRROR_SPOOL")" "the spool after the suite"
}

c_keys() {
	local good pushed out
	good=$(printf 'the right bytes' | sha256sum | cut -d' ' -f1)
	pushed=$(printf 'pushed' | sha256sum | cut -d' ' -f1)
	out=$(s3tool ls "$BKT" "$RUN/writer/" --recursive) || { fail "ls failed"; return 1; }
	# a digest mismatch put nothing under blobs/: only the two good ones
	assert_set_eq "$(printf '15 %s\n6 %s' "$RUN/writer/blobs/sha256/$good" "$RUN/writer/blobs/sha256/$pushed")" \
		"$out" "keys after a digest mismatch and two good blobs" || return
	assert_eq "the right bytes" "$(s3tool get "$BKT" "$RUN/writer/blobs/sha256/$good")" "the blob's bytes" || return
	# the records: the filesystem layout's keys
	out=$(s3tool ls "$BKT" "$RUN/repos/repositories/" --recursive | awk '{print $2}' |
		sed -e "s|^$RUN/repos/||" -e 's|/[0-9a-f]\{64\}$|/HEX|')
	assert_set_eq "$(printf '%s\n' repositories/h.io/a/_manifests/sha256/HEX repositories/h.io/a/_tags/v1 \
		repositories/h.io/a/b/_manifests/sha256/HEX repositories/h.io/a0/_manifests/sha256/HEX \
		repositories/h.io/d/_blobs/sha256/HEX)" "$out" "record keys" || return
	# the lease: released in place, never left held
	out=$(s3tool get "$BKT" "$RUN/lease/lock") || { fail "no lease object"; return 1; }
	assert_match "$out" '"expires":0' "the released lease"
}

c_cli() {
	local url
	url=$(s3_url "$BKT" "$RUN/cli")
	om --store "$url" ls || { fail "ls on $url failed: $(alltext)"; return 1; }
	assert_eq "" "$(out)" "ls of an empty s3 store" || return
	om --store "s3://$BKT/$RUN/cli?endpoint=$S3_ENDPOINT&bogus=1" ls && { fail "a bad s3 URL was taken"; return 1; }
	assert_contains "$(alltext)" "bogus" "the bad parameter named"
}

c_gc_verify() {
	# gc and verify over the backend's walk: the records test's store
	# (h.io/... gone: its tags and manifests were unlinked) holds the
	# unreferenced blob "layer" and the lease object
	local url layer
	url=$(s3_url "$BKT" "$RUN/records")
	layer=$(printf 'layer' | sha256sum | cut -d' ' -f1)
	om --store "$url" verify || { fail "verify on s3 failed: $(alltext)"; return 1; }
	om --store "$url" gc --grace 0 || { fail "gc on s3 failed: $(alltext)"; return 1; }
	assert_eq "" "$(s3tool ls "$BKT" "$RUN/records/blobs/sha256/$layer")" "the unreferenced blob after gc" || return
	om --store "$url" verify || { fail "verify after gc failed: $(alltext)"; return 1; }
}

c_pull_serve() {
	# the whole way: pull into an S3 store, list it, serve it
	local url repo tag dg out
	url=$(s3_url "$BKT" "$RUN/pull")
	repo=$(e_ref "$EXP_OPEN" oci-image repo)
	tag=$(e_ref "$EXP_OPEN" oci-image tag)
	dg=$(e_ref "$EXP_OPEN" oci-image digest)
	om --store "$url" pull "$REG_OPEN/$repo:$tag" || { fail "pull into s3 failed: $(alltext)"; return 1; }
	om --store "$url" ls || { fail "ls failed: $(alltext)"; return 1; }
	assert_contains "$(out)" "$repo" "ls of the pulled store" || return
	assert_ne "" "$(s3tool ls "$BKT" "$RUN/pull/blobs/sha256/${dg#sha256:}")" "the manifest under its key" || return
	assert_eq "" "$(ls "$OCIMIRROR_SPOOL")" "the spool after a pull" || return
	assert_eq "" "$(s3tool mpu-ls "$BKT" "$RUN/pull/")" "multipart uploads left by the pull" || return
	serve_start s3 "$url" || return
	out=$(curl -sS -L -H 'Accept: application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.v2+json, application/vnd.docker.distribution.manifest.list.v2+json' \
		"$SRV_URL/v2/$REG_OPEN/$repo/manifests/$tag" | sha256sum | cut -d' ' -f1)
	assert_eq "${dg#sha256:}" "$out" "the served manifest's digest"
}

run_case s3_store_suite c_unit
run_case s3_store_keys c_keys
run_case s3_store_cli c_cli
run_case s3_store_pull_serve c_pull_serve
run_case s3_store_gc_verify c_gc_verify
