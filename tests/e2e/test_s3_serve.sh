#!/usr/bin/env bash
# e2e: `ocimirror serve` replicas on one S3 bucket (Ceph RGW, lib/ceph.sh):
# blobs streamed from the bucket (whole and by Range) through both
# replicas, equal to the upstream's bytes; --redirect answering 307 to a
# presigned URL that curl follows; a chunked push whose requests hop
# between the replicas (the session lives in the bucket), then served by
# both and read back by skopeo; the peak RSS of a replica sending a
# 64 MiB blob (reported, bounded generously).
# e2e-needs: s3
. "$(dirname "$0")/lib/prologue.sh"
s3_require

CREDS=$E2E_USER:$E2E_PASS
W=$E2E_WORK
HTP=$W/htpasswd
htpasswd -Bbn "$E2E_USER" "$E2E_PASS" >"$HTP" 2>/dev/null || e2e_setup_fail "htpasswd failed"
MT_M=application/vnd.oci.image.manifest.v1+json

BKT=$(s3_bucket serve) || e2e_setup_fail "cannot create a bucket on $S3_ENDPOINT"
S3=$(s3_url "$BKT" store)
SRC=$REG_OPEN/e2e/oci-image
# "digest size" of the oci-image's blobs (config + layers), largest first
OCI_BLOBS=$(exp_get "$EXP_OPEN" "[b['digest']+' '+str(b['size']) for b in sorted(d['refs']['oci-image']['blobs'], key=lambda b: -b['size'])]")
BIG_DG=$(echo "$OCI_BLOBS" | head -n 1 | cut -d' ' -f1)
BIG_SZ=$(echo "$OCI_BLOBS" | head -n 1 | cut -d' ' -f2)

# vm KEY PID: a /proc/PID/status figure in KiB (VmHWM: peak RSS)
vm() { awk -v k="$1:" '$1 == k {print $2}' "/proc/$2/status"; }

c_fill_and_start() {
	assert_exit 0 om --store "$S3" pull "$SRC:v1" || return
	serve_start a "$S3" --htpasswd "$HTP" --anonymous-read --push || return
	A=$SRV PID_A=$SRV_PID
	serve_start b "$S3" --htpasswd "$HTP" --anonymous-read --push || return
	B=$SRV PID_B=$SRV_PID
	serve_start r "$S3" --anonymous-read --redirect || return
	R=$SRV LOG_R=$SRV_LOG
}

# blob through replica SRV, whole: its digest and size
blob_whole() {
	local srv=$1 dg=$2 sz=$3
	http GET "http://$srv/v2/$SRC/blobs/$dg"
	assert_http 200 "" "GET $dg via $srv" || return
	assert_eq "$dg" "$(sha_of "$HTTP_BODY")" "digest via $srv" || return
	assert_eq "$sz" "$(stat -c %s "$HTTP_BODY")" "size via $srv"
}

c_blobs_through_both() {
	local dg sz srv up=$W/upstream.blob from len
	while read -r dg sz; do
		for srv in "$A" "$B"; do
			blob_whole "$srv" "$dg" "$sz" || return
		done
	done <<<"$OCI_BLOBS"
	# ranges of the largest, against the upstream's bytes
	curl -s -m 30 -o "$up" "http://$REG_OPEN/v2/e2e/oci-image/blobs/$BIG_DG" ||
		{ fail "upstream GET failed"; return 1; }
	assert_eq "$BIG_DG" "$(sha_of "$up")" "upstream blob" || return
	from=$((BIG_SZ / 3)) len=$((BIG_SZ / 3 + 7))
	for srv in "$A" "$B"; do
		http GET "http://$srv/v2/$SRC/blobs/$BIG_DG" -H "Range: bytes=$from-$((from + len - 1))"
		assert_http 206 "" "Range via $srv" || return
		assert_eq "bytes $from-$((from + len - 1))/$BIG_SZ" "$(hdr Content-Range)" "Content-Range via $srv" || return
		cmp -s "$HTTP_BODY" <(tail -c +$((from + 1)) "$up" | head -c "$len") ||
			{ fail "Range bytes via $srv differ from the upstream's"; return 1; }
		http GET "http://$srv/v2/$SRC/blobs/$BIG_DG" -H "Range: bytes=-100"
		assert_http 206 "" "suffix Range via $srv" || return
		cmp -s "$HTTP_BODY" <(tail -c 100 "$up") || { fail "suffix Range via $srv differs"; return 1; }
		http GET "http://$srv/v2/$SRC/blobs/$BIG_DG" -H "Range: bytes=$BIG_SZ-"
		assert_http 416 "" "Range past the end via $srv" || return
		http HEAD "http://$srv/v2/$SRC/blobs/$BIG_DG"
		assert_http 200 "" "HEAD via $srv" || return
		assert_eq "$BIG_SZ" "$(hdr Content-Length)" "HEAD Content-Length via $srv" || return
	done
}

# 64 MiB, pushed monolithically through A, for the RSS and redirect cases
HUGE=$W/huge.bin
c_push_huge() {
	head -c $((64 * 1024 * 1024)) /dev/urandom >"$HUGE"
	HUGE_DG=$(sha_of "$HUGE")
	http POST "http://$A/v2/e2e/huge/blobs/uploads/?digest=$HUGE_DG" -u "$CREDS" \
		-H 'Content-Type: application/octet-stream' --data-binary "@$HUGE"
	assert_http 201 "" "monolithic POST of 64 MiB" || return
	assert_eq "$HUGE_DG" "$(hdr Docker-Content-Digest)" "Docker-Content-Digest"
}

c_rss_flat() {
	[ -n "${HUGE_DG:-}" ] || { fail "no 64 MiB blob"; return 1; }
	local pid=$PID_B before after out=$W/huge.out
	before=$(vm VmHWM "$pid")
	curl -s -m 120 -o "$out" "http://$B/v2/e2e/huge/blobs/$HUGE_DG" || { fail "GET 64 MiB via b failed"; return 1; }
	assert_eq "$HUGE_DG" "$(sha_of "$out")" "64 MiB via b" || return
	http GET "http://$B/v2/e2e/huge/blobs/$HUGE_DG" -H 'Range: bytes=33554432-33619967'
	assert_http 206 "" "Range of 64 MiB via b" || return
	cmp -s "$HTTP_BODY" <(tail -c +33554433 "$HUGE" | head -c 65536) || { fail "Range of 64 MiB differs"; return 1; }
	after=$(vm VmHWM "$pid")
	echo "# replica b peak RSS: ${before} KiB before, ${after} KiB after sending 64 MiB (+$((after - before)) KiB)"
	echo "# replica a peak RSS after taking the 64 MiB push: $(vm VmHWM "$PID_A") KiB"
	rm -f "$out"
	# generous: a window per response, never the blob
	[ $((after - before)) -lt $((32 * 1024)) ] ||
		{ fail "replica b's peak RSS grew by $((after - before)) KiB sending 64 MiB"; return 1; }
}

c_redirect() {
	[ -n "${HUGE_DG:-}" ] || { fail "no 64 MiB blob"; return 1; }
	local loc out=$W/redirected.out
	http GET "http://$R/v2/e2e/huge/blobs/$HUGE_DG"
	assert_http 307 "" "GET with --redirect" || return
	loc=$(hdr Location)
	assert_match "$loc" "^$S3_ENDPOINT/" "Location on the S3 endpoint" || return
	assert_eq "$HUGE_DG" "$(hdr Docker-Content-Digest)" "307 Docker-Content-Digest" || return
	assert_eq 0 "$(hdr Content-Length)" "307 Content-Length" || return
	curl -s -m 120 -L -o "$out" "http://$R/v2/e2e/huge/blobs/$HUGE_DG" || { fail "curl -L failed"; return 1; }
	assert_eq "$HUGE_DG" "$(sha_of "$out")" "blob fetched through the redirect" || return
	rm -f "$out"
	# HEAD is answered, never redirected
	http HEAD "http://$R/v2/e2e/huge/blobs/$HUGE_DG"
	assert_http 200 "" "HEAD with --redirect" || return
	assert_eq $((64 * 1024 * 1024)) "$(hdr Content-Length)" "HEAD Content-Length" || return
	# a small blob and a manifest are proxied
	local small_dg small_sz
	small_dg=$(echo "$OCI_BLOBS" | tail -n 1 | cut -d' ' -f1)
	small_sz=$(echo "$OCI_BLOBS" | tail -n 1 | cut -d' ' -f2)
	if [ "$small_sz" -lt $((1024 * 1024)) ]; then
		blob_whole "$R" "$small_dg" "$small_sz" || return
	fi
	http GET "http://$R/v2/$SRC/manifests/v1" -H "Accept: $MT_M"
	assert_http 200 "" "manifest with --redirect" || return
	http GET "http://$R/metrics"
	assert_match "$(body)" "ocimirror_blob_redirects_total 2" "redirects counted" || return
	grep -q " 307 .* redirect" "$LOG_R" || { fail "no redirect in r's access log"; return 1; }
}

c_chunked_hop() {
	local f=$W/hop.bin dg cfg_dg man loc id out srv n=1048576 total=2621440
	head -c "$total" /dev/urandom >"$f"
	dg=$(sha_of "$f")
	head -c $n "$f" >"$W/h1"
	tail -c +$((n + 1)) "$f" | head -c $n >"$W/h2"
	tail -c +$((2 * n + 1)) "$f" >"$W/h3"
	http POST "http://$A/v2/e2e/hop/blobs/uploads/" -u "$CREDS"
	assert_http 202 "" "POST on a" || return
	loc=$(hdr Location)
	id=$(hdr Docker-Upload-UUID)
	assert_match "$id" '^[0-9a-f]{32}$' "session id" || return
	http PATCH "http://$A$loc" -u "$CREDS" -H 'Content-Type: application/octet-stream' \
		-H "Content-Range: 0-$((n - 1))" --data-binary "@$W/h1"
	assert_http 202 "" "PATCH 1 on a" || return
	assert_eq "0-$((n - 1))" "$(hdr Range)" "Range after chunk 1" || return
	http PATCH "http://$B$loc" -u "$CREDS" -H 'Content-Type: application/octet-stream' \
		-H "Content-Range: $n-$((2 * n - 1))" --data-binary "@$W/h2"
	assert_http 202 "" "PATCH 2 on b" || return
	assert_eq "0-$((2 * n - 1))" "$(hdr Range)" "Range after chunk 2 (b)" || return
	# a's status is the bucket's
	http GET "http://$A$loc" -u "$CREDS"
	assert_http 204 "" "status on a" || return
	assert_eq "0-$((2 * n - 1))" "$(hdr Range)" "status Range on a" || return
	http PATCH "http://$A$loc" -u "$CREDS" -H 'Content-Type: application/octet-stream' \
		-H "Content-Range: $((2 * n))-$((total - 1))" --data-binary "@$W/h3"
	assert_http 202 "" "PATCH 3 on a" || return
	assert_eq "0-$((total - 1))" "$(hdr Range)" "Range after chunk 3 (a)" || return
	http PUT "http://$B$loc?digest=$dg" -u "$CREDS"
	assert_http 201 "" "PUT ?digest= on b" || return
	assert_eq "$dg" "$(hdr Docker-Content-Digest)" "Docker-Content-Digest" || return
	# the session is gone from the bucket, on both
	http GET "http://$A$loc" -u "$CREDS"
	assert_http 404 BLOB_UPLOAD_UNKNOWN "status after commit" || return
	for srv in "$A" "$B"; do
		http GET "http://$srv/v2/e2e/hop/blobs/$dg"
		assert_http 200 "" "pushed blob via $srv" || return
		assert_eq "$dg" "$(sha_of "$HTTP_BODY")" "pushed blob via $srv" || return
	done
	# an image over it, and skopeo through a
	printf '{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":["%s"]}}' "$dg" >"$W/hop.cfg"
	cfg_dg=$(sha_of "$W/hop.cfg")
	http POST "http://$B/v2/e2e/hop/blobs/uploads/?digest=$cfg_dg" -u "$CREDS" \
		-H 'Content-Type: application/octet-stream' --data-binary "@$W/hop.cfg"
	assert_http 201 "" "config POST on b" || return
	printf '{"schemaVersion":2,"mediaType":"%s","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"%s","size":%s},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"%s","size":%s}]}' \
		"$MT_M" "$cfg_dg" "$(stat -c %s "$W/hop.cfg")" "$dg" "$total" >"$W/hop.man"
	http PUT "http://$A/v2/e2e/hop/manifests/v1" -u "$CREDS" -H "Content-Type: $MT_M" --data-binary "@$W/hop.man"
	assert_http 201 "" "manifest PUT on a" || return
	man=$(sha_of "$W/hop.man")
	out=$W/skopeo.out
	timeout 60 skopeo inspect --raw --tls-verify=false "docker://$A/e2e/hop:v1" >"$out" 2>&1 ||
		{ fail "skopeo inspect via a: $(tail -n 3 "$out" | tr '\n' ' ')"; return 1; }
	assert_eq "$man" "$(sha_of "$out")" "skopeo inspect --raw via a" || return
	rm -rf "$W/hop-layout"
	timeout 60 skopeo copy -q --preserve-digests --src-tls-verify=false \
		"docker://$A/e2e/hop:v1" "oci:$W/hop-layout:v1" >"$out" 2>&1 ||
		{ fail "skopeo copy via a: $(tail -n 3 "$out" | tr '\n' ' ')"; return 1; }
	assert_eq "$dg" "$(sha_of "$W/hop-layout/blobs/sha256/${dg#sha256:}")" "layer in skopeo's layout"
}

c_cancel_across() {
	local loc
	http POST "http://$A/v2/e2e/hop/blobs/uploads/" -u "$CREDS"
	assert_http 202 "" "POST on a" || return
	loc=$(hdr Location)
	http PATCH "http://$A$loc" -u "$CREDS" -H 'Content-Type: application/octet-stream' \
		-H 'Content-Range: 0-2' --data-binary abc
	assert_http 202 "" "PATCH on a" || return
	http DELETE "http://$B$loc" -u "$CREDS"
	assert_http 204 "" "DELETE on b" || return
	http PATCH "http://$A$loc" -u "$CREDS" -H 'Content-Type: application/octet-stream' \
		-H 'Content-Range: 3-5' --data-binary def
	assert_http 404 BLOB_UPLOAD_UNKNOWN "PATCH on a after the cancel on b"
}

run_case "pull into a fresh bucket; replicas a, b (push) and r (--redirect) on it" c_fill_and_start
[ -n "${R:-}" ] || e2e_setup_fail "the store or its replicas did not come up"
run_case "blobs whole and by Range through both replicas equal the upstream's" c_blobs_through_both
run_case "a 64 MiB monolithic push through a" c_push_huge
run_case "replica b sends 64 MiB with a flat peak RSS (figure reported)" c_rss_flat
run_case "--redirect: 307 to a presigned URL curl -L follows; HEAD, small blobs, manifests proxied" c_redirect
run_case "a chunked push hopping a, a, b, a, PUT on b; served by both; skopeo via a" c_chunked_hop
run_case "an upload cancelled on b is gone on a" c_cancel_across
