#!/usr/bin/env bash
# e2e: the S3 harness itself — the Ceph RGW that run.sh starts (lib/ceph.sh)
# and lib/s3tool.py, the tests' independent S3 client — with no ocimirror
# involved, so a broken harness is told apart from a broken S3 store. Also
# pins down what this RGW (Ceph 16) does with conditional requests, which
# the S3 store's writer lease depends on:
#   PUT  If-None-Match: *     honoured (412 on an existing key, 200 on a new one)
#   PUT  If-Match: ETAG       honoured, but only with the ETag unquoted: the
#                             quoted form ("hex", as ETag headers carry it)
#                             never matches (412)
#   DELETE If-Match: ETAG     ignored: a wrong ETag still deletes (204)
# Both conditional PUTs are atomic: of 8 at once exactly one gets 200; the
# other If-None-Match ones 412, the other If-Match ones 412 or 500
# UnknownError (ECANCELED: RGW 16 does not map it to 412).
# CompleteMultipartUpload answers an empty <ETag></ETag> (HEAD has it), and
# neither it nor CopyObject honours If-None-Match: * (both overwrite). The
# signed x-amz-content-sha256 and Content-MD5 are checked against the body.
# e2e-needs: s3
. "$(dirname "$0")/lib/prologue.sh"
s3_require

W=$E2E_WORK
rnd() { head -c "$1" /dev/urandom >"$2"; }
sha() { sha256sum "$1" | cut -d' ' -f1; }
etag_of() { s3tool head "$1" "$2" | cut -d' ' -f2; }

echo "# S3 at $S3_ENDPOINT; daemons' RSS (KiB): $(ceph_rss | tr '\n' ' ')"

BKT=$(s3_bucket harness) || e2e_setup_fail "cannot create a bucket on $S3_ENDPOINT"

c_bucket() {
	local b out
	b=$(s3_bucket "Some_Name") || { fail "s3_bucket failed"; return 1; }
	assert_match "$b" '^some-name-[0-9a-z-]+$' "bucket name" || return
	out=$(s3tool ls "$b" --recursive) || { fail "ls of a new bucket failed"; return 1; }
	assert_eq "" "$out" "a new bucket's listing" || return
	s3tool mb "$b" || { fail "mb of our own bucket again failed"; return 1; }
	assert_ne "$b" "$(s3_bucket "Some_Name")" "a second bucket's name" || return
	assert_exit 1 s3tool ls "no-such-bucket-$$" 2>/dev/null
}

c_roundtrip() {
	rnd 3000001 "$W/big" && : >"$W/empty" && printf 'x' >"$W/one"
	local k f
	for k in big empty one; do
		f=$W/$k
		assert_eq 200 "$(s3tool put "$BKT" "rt/$k" "$f")" "PUT rt/$k" || return
		s3tool get "$BKT" "rt/$k" "$W/$k.got" || { fail "GET rt/$k failed"; return 1; }
		assert_eq "$(sha "$f")" "$(sha "$W/$k.got")" "rt/$k round trip" || return
	done
	# from stdin, and a key that needs escaping in the path
	k='odd key/ü+%=&?;#[x]'
	printf 'odd bytes' | s3tool put "$BKT" "$k" - >/dev/null || { fail "PUT of '$k' failed"; return 1; }
	assert_eq "odd bytes" "$(s3tool get "$BKT" "$k")" "odd key's body" || return
	assert_eq "9 $k" "$(s3tool ls "$BKT" 'odd key/ü+' --recursive)" "listing with an odd prefix" || return
	assert_eq "3000001 $(md5sum <"$W/big" | cut -d' ' -f1)" "$(s3tool head "$BKT" rt/big)" "HEAD: size and ETag (MD5)"
}

c_list() {
	local k out
	for k in ls/a ls/b/c ls/b/d ls/e/f/g lsx; do
		printf '%s' "$k" | s3tool put "$BKT" "$k" - >/dev/null || { fail "PUT $k failed"; return 1; }
	done
	out=$(s3tool ls "$BKT" ls/ --recursive) || { fail "ls --recursive failed"; return 1; }
	assert_eq "$(printf '4 ls/a\n6 ls/b/c\n6 ls/b/d\n8 ls/e/f/g')" "$out" "recursive listing" || return
	out=$(s3tool ls "$BKT" ls/) || { fail "ls failed"; return 1; }
	assert_set_eq "$(printf '4 ls/a\nPRE ls/b/\nPRE ls/e/')" "$out" "listing with delimiter" || return
	out=$(s3tool ls "$BKT" ls) || { fail "ls failed"; return 1; }
	assert_set_eq "$(printf '3 lsx\nPRE ls/')" "$out" "listing of a bare prefix"
}

c_list_pages() {
	# pages of 2 keys: the tool follows continuation tokens, with and
	# without a delimiter
	local b k
	b=$(s3_bucket pages) || { fail "s3_bucket failed"; return 1; }
	for k in p/1 p/2 p/3 p/4 p/5 p/6 p/7 p/d1/x p/d2/x p/d3/x; do
		printf 'x' | s3tool put "$b" "$k" - >/dev/null || { fail "PUT $k failed"; return 1; }
	done
	assert_eq "$(printf '1 p/%s\n' 1 2 3 4 5 6 7 d1/x d2/x d3/x)" "$(s3tool ls "$b" p/ --recursive --max-keys 2)" \
		"listing in pages of 2" || return
	# (each line once: sorted, not made unique)
	assert_eq "$( (printf '1 p/%s\n' 1 2 3 4 5 6 7; printf 'PRE p/%s/\n' d1 d2 d3) | sort)" \
		"$(s3tool ls "$b" p/ --max-keys 2 | sort)" "listing with a delimiter in pages of 2"
}

c_if_none_match() {
	printf 'first' | s3tool put "$BKT" cond/k - >/dev/null || { fail "PUT failed"; return 1; }
	assert_eq 412 "$(printf 'second' | s3tool put "$BKT" cond/k - --if-none-match '*' 2>/dev/null)" \
		"PUT If-None-Match: * on an existing key" || return
	assert_eq first "$(s3tool get "$BKT" cond/k)" "body after the refused PUT" || return
	assert_eq 200 "$(printf 'new' | s3tool put "$BKT" cond/new - --if-none-match '*')" \
		"PUT If-None-Match: * on a new key" || return
	assert_eq new "$(s3tool get "$BKT" cond/new)" "body of the conditional PUT"
}

c_put_if_match() {
	local e
	printf 'v1' | s3tool put "$BKT" cond/m - >/dev/null || { fail "PUT failed"; return 1; }
	e=$(etag_of "$BKT" cond/m) || { fail "HEAD failed"; return 1; }
	assert_eq 412 "$(printf 'v2' | s3tool put "$BKT" cond/m - --if-match 0123456789abcdef0123456789abcdef 2>/dev/null)" \
		"PUT If-Match: another ETag" || return
	assert_eq v1 "$(s3tool get "$BKT" cond/m)" "body after the refused PUT" || return
	assert_eq 200 "$(printf 'v2' | s3tool put "$BKT" cond/m - --if-match "$e")" "PUT If-Match: the ETag (unquoted)" || return
	assert_eq v2 "$(s3tool get "$BKT" cond/m)" "body after the matching PUT" || return
	assert_eq 412 "$(printf 'v3' | s3tool put "$BKT" cond/gone - --if-match "$e" 2>/dev/null)" \
		"PUT If-Match on a missing key" || return
	# RGW 16 quirk: the quoted ETag does not match on PUT (it does on GET)
	e=$(etag_of "$BKT" cond/m)
	assert_eq 412 "$(printf 'v3' | s3tool put "$BKT" cond/m - --if-match "\"$e\"" 2>/dev/null)" \
		"PUT If-Match: the ETag quoted (RGW 16 does not match it)" || return
	assert_eq v2 "$(s3tool get "$BKT" cond/m)" "body after the quoted If-Match" || return
	assert_eq 200 "$(s3tool raw GET "$BKT" cond/m --header "If-Match: \"$e\"" | sed -n 1p)" \
		"GET If-Match: the ETag quoted" || return
	assert_eq 412 "$(s3tool raw GET "$BKT" cond/m --header 'If-Match: "0123"' | sed -n 1p)" "GET If-Match: another ETag"
}

c_delete_if_match() {
	# RGW 16 ignores If-Match on DELETE: a store cannot make a delete conditional
	printf 'd' | s3tool put "$BKT" cond/d - >/dev/null || { fail "PUT failed"; return 1; }
	assert_eq 204 "$(s3tool rm "$BKT" cond/d --if-match 0123456789abcdef0123456789abcdef)" \
		"DELETE If-Match: another ETag (ignored by RGW 16)" || return
	assert_exit 1 s3tool head "$BKT" cond/d 2>/dev/null
}

# race_check OUT BUCKET KEY LOSER-STATUSES: exactly one writer of OUT (s3tool
# race) got 200, each other one of LOSER-STATUSES (a grep -E), and the key
# holds the winner's body
race_check() {
	local out=$1 b=$2 k=$3 losers=$4 wins winner bad
	wins=$(printf '%s\n' "$out" | grep -c '^[0-9]* 200 ')
	[ "$wins" = 1 ] || { fail "writers that got 200: $wins, want 1 [$(echo "$out" | tr '\n' ' ')]"; return 1; }
	bad=$(printf '%s\n' "$out" | grep -v '^[0-9]* 200 ' | grep -Ev "^[0-9]+ ($losers)$" | tr '\n' ' ')
	[ -z "$bad" ] || { fail "losers answered otherwise: $bad"; return 1; }
	winner=$(printf '%s\n' "$out" | sed -n 's/^\([0-9]*\) 200 .*/\1/p')
	assert_eq "writer $winner" "$(s3tool get "$b" "$k")" "the body after the race"
}

c_cond_races() {
	# the writer lease's ground: of 8 conditional PUTs at once exactly one wins
	local r out e
	for r in 1 2 3 4 5; do
		out=$(s3tool race "$BKT" "race/new-$r" 8 --if-none-match '*') || { fail "race failed"; return 1; }
		race_check "$out" "$BKT" "race/new-$r" '412 PreconditionFailed' || return
	done
	# If-Match: atomic as well, but RGW 16 answers a loser that lost at the
	# last step 500 UnknownError (ECANCELED), not 412
	for r in 1 2 3 4 5; do
		printf 'initial' | s3tool put "$BKT" "race/m-$r" - >/dev/null || { fail "PUT failed"; return 1; }
		e=$(etag_of "$BKT" "race/m-$r")
		out=$(s3tool race "$BKT" "race/m-$r" 8 --if-match "$e") || { fail "race failed"; return 1; }
		race_check "$out" "$BKT" "race/m-$r" '412 PreconditionFailed|500 UnknownError' || return
	done
}

c_range() {
	rnd 100000 "$W/r" && s3tool put "$BKT" range/r "$W/r" >/dev/null || { fail "PUT failed"; return 1; }
	local spec want got
	for spec in 0-0 1-2 99990-99999 99990-200000 50000- -10; do
		s3tool get "$BKT" range/r "$W/r.part" --range "$spec" || { fail "GET range $spec failed"; return 1; }
		want=$("$PYTHON" -c 'import hashlib,sys
d=open(sys.argv[1],"rb").read(); a,_,b=sys.argv[2].partition("-")
s=d[-int(b):] if a=="" else d[int(a):(int(b)+1 if b else None)]
print(hashlib.sha256(s).hexdigest())' "$W/r" "$spec")
		got=$(sha "$W/r.part")
		assert_eq "$want" "$got" "bytes of range $spec" || return
	done
	assert_eq 206 "$(s3tool raw GET "$BKT" range/r --header 'Range: bytes=10-19' | sed -n 1p)" "status of a range GET" || return
	assert_eq 416 "$(s3tool raw GET "$BKT" range/r --header 'Range: bytes=100000-' | sed -n 1p)" "range past the end"
}

c_multipart() {
	local u out
	u=$(s3tool mpu-start "$BKT" mpu/x) || { fail "mpu-start failed"; return 1; }
	[ -n "$u" ] || { fail "no UploadId"; return 1; }
	out=$(s3tool mpu-ls "$BKT" mpu/) || { fail "mpu-ls failed"; return 1; }
	assert_eq "mpu/x $u" "$out" "open uploads" || return
	assert_eq "" "$(s3tool mpu-ls "$BKT" other/)" "open uploads under another prefix" || return
	s3tool mpu-abort "$BKT" mpu/x "$u" || { fail "mpu-abort failed"; return 1; }
	assert_eq "" "$(s3tool mpu-ls "$BKT" mpu/)" "open uploads after the abort" || return
	assert_exit 1 s3tool head "$BKT" mpu/x 2>/dev/null || return
	# a whole upload: a 5 MiB part and a small last one
	local e1 e2 e
	rnd 5242880 "$W/p1" && rnd 1000 "$W/p2" && cat "$W/p1" "$W/p2" >"$W/p12"
	u=$(s3tool mpu-start "$BKT" mpu/whole) || { fail "mpu-start failed"; return 1; }
	e1=$(s3tool mpu-part "$BKT" mpu/whole "$u" 1 "$W/p1") || { fail "part 1 failed"; return 1; }
	e2=$(s3tool mpu-part "$BKT" mpu/whole "$u" 2 "$W/p2") || { fail "part 2 failed"; return 1; }
	assert_eq "$(md5sum <"$W/p1" | cut -d' ' -f1)" "$e1" "part 1's ETag" || return
	e=$(s3tool mpu-complete "$BKT" mpu/whole "$u" "1:$e1" "2:$e2") || { fail "mpu-complete failed"; return 1; }
	# RGW 16 quirk: CompleteMultipartUploadResult carries an empty <ETag/>;
	# HEAD tells the object's ETag (MD5 of the parts' MD5s, "-2")
	assert_eq "" "$e" "ETag in the completion's answer (empty on RGW 16)" || return
	assert_match "$(etag_of "$BKT" mpu/whole)" '^[0-9a-f]{32}-2$' "a multipart object's ETag" || return
	s3tool get "$BKT" mpu/whole "$W/p12.got" || { fail "GET of the multipart object failed"; return 1; }
	assert_eq "$(sha "$W/p12")" "$(sha "$W/p12.got")" "the multipart object's bytes" || return
	assert_eq "" "$(s3tool mpu-ls "$BKT" mpu/)" "open uploads after the completion"
}

c_presign() {
	printf 'presigned body' | s3tool put "$BKT" pre/k - >/dev/null || { fail "PUT failed"; return 1; }
	local url out
	url=$(s3tool presign "$BKT" pre/k 60) || { fail "presign failed"; return 1; }
	assert_match "$url" "^$S3_ENDPOINT/$BKT/pre/k\\?X-Amz-Algorithm=AWS4-HMAC-SHA256&" "presigned URL" || return
	out=$("$PYTHON" -c 'import sys, urllib.request
print(urllib.request.urlopen(sys.argv[1], timeout=30).read().decode())' "$url") ||
		{ fail "GET of the presigned URL failed"; return 1; }
	assert_eq "presigned body" "$out" "body through the presigned URL" || return
	# a signature that does not match is refused
	out=$("$PYTHON" -c 'import sys, urllib.request, urllib.error
try:
    urllib.request.urlopen(sys.argv[1][:-4] + "0000", timeout=30); print(200)
except urllib.error.HTTPError as e:
    print(e.code)' "$url")
	assert_eq 403 "$out" "presigned URL with a wrong signature"
}

c_auth() {
	local out
	out=$(AWS_SECRET_ACCESS_KEY=wrong s3tool ls "$BKT" 2>&1) && { fail "a wrong secret was taken"; return 1; }
	assert_contains "$out" "HTTP 403" "wrong secret" || return
	out=$(s3tool get "$BKT" no/such/key 2>&1) && { fail "GET of a missing key succeeded"; return 1; }
	assert_contains "$out" "HTTP 404 NoSuchKey" "missing key"
}

c_mirror() {
	local k
	for k in a b/c b/d/e; do
		printf 'm-%s' "$k" | s3tool put "$BKT" "mir/root/$k" - >/dev/null || { fail "PUT failed"; return 1; }
	done
	printf 'outside' | s3tool put "$BKT" mir/rootx - >/dev/null
	s3tool mirror "$BKT" mir/root "$W/mirror" || { fail "mirror failed"; return 1; }
	assert_eq "$(printf 'a\nb/c\nb/d/e')" "$(cd "$W/mirror" && find . -type f | sed 's|^\./||' | sort)" "mirrored files" || return
	assert_eq "m-b/d/e" "$(cat "$W/mirror/b/d/e")" "a mirrored file's bytes"
}

c_delete_frees() {
	# 5 MiB: a head and a tail RADOS object; after the delete and a GC pass
	# the data pool holds nothing of it
	local b objs
	b=$(s3_bucket gc) || { fail "s3_bucket failed"; return 1; }
	rnd 5242880 "$W/del" && s3tool put "$b" del/big "$W/del" >/dev/null || { fail "PUT failed"; return 1; }
	objs=$(ceph_rados_count "$b") || { fail "ceph_rados_count failed"; return 1; }
	assert_eq 2 "$objs" "RADOS objects of a 5 MiB object" || return
	assert_eq 204 "$(s3tool rm "$b" del/big)" "DELETE" || return
	assert_eq "" "$(s3tool ls "$b" del/ --recursive)" "listing after the delete" || return
	assert_exit 1 s3tool head "$b" del/big 2>/dev/null || return
	for _ in $(seq 1 20); do
		ceph_gc
		objs=$(ceph_rados_count "$b")
		[ "$objs" = 0 ] && break
		sleep 0.5
	done
	assert_eq 0 "$objs" "RADOS objects left after GC"
}

# status_and_code OUT: "STATUS CODE" of a `s3tool raw` answer (CODE: the
# error's <Code>, "-" without one)
status_and_code() {
	local st code
	st=$(printf '%s\n' "$1" | sed -n 1p)
	code=$(printf '%s\n' "$1" | tail -n 1 | sed -n 's/.*<Code>\([^<]*\)<\/Code>.*/\1/p')
	echo "$st ${code:--}"
}

c_integrity() {
	# RGW checks the signed x-amz-content-sha256 and Content-MD5 against the
	# body and stores nothing when they differ
	printf 'payload' >"$W/pl"
	assert_eq "400 XAmzContentSHA256Mismatch" "$(status_and_code "$(s3tool raw PUT "$BKT" integ/sha --body "$W/pl" \
		--sha256 0000000000000000000000000000000000000000000000000000000000000000)")" "PUT with another body's SHA-256" || return
	assert_exit 1 s3tool head "$BKT" integ/sha 2>/dev/null || return
	assert_eq "400 BadDigest" "$(status_and_code "$(s3tool raw PUT "$BKT" integ/md5 --body "$W/pl" \
		--header 'Content-MD5: AAAAAAAAAAAAAAAAAAAAAA==')")" "PUT with another body's Content-MD5" || return
	assert_exit 1 s3tool head "$BKT" integ/md5 2>/dev/null
}

c_copy_delete_many() {
	# CopyObject (what a move can be made of) works, and ignores
	# If-None-Match: * (it overwrites); CompleteMultipartUpload ignores it too
	printf 'src' | s3tool put "$BKT" cp/src - >/dev/null && printf 'dst' | s3tool put "$BKT" cp/dst - >/dev/null ||
		{ fail "PUT failed"; return 1; }
	assert_eq "200 -" "$(status_and_code "$(s3tool raw PUT "$BKT" cp/dst --header "x-amz-copy-source: /$BKT/cp/src" \
		--header 'If-None-Match: *')")" "CopyObject with If-None-Match: * onto an existing key (ignored by RGW 16)" || return
	assert_eq src "$(s3tool get "$BKT" cp/dst)" "the copy's body" || return
	local u e
	u=$(s3tool mpu-start "$BKT" cp/dst) && e=$(s3tool mpu-part "$BKT" cp/dst "$u" 1 "$W/pl") || { fail "upload failed"; return 1; }
	printf '<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>"%s"</ETag></Part></CompleteMultipartUpload>' "$e" >"$W/complete.xml"
	assert_eq "200 -" "$(status_and_code "$(s3tool raw POST "$BKT" cp/dst --query "uploadId=$u" --header 'If-None-Match: *' \
		--body "$W/complete.xml")")" "CompleteMultipartUpload with If-None-Match: * onto an existing key (ignored by RGW 16)" || return
	assert_eq payload "$(s3tool get "$BKT" cp/dst)" "the completed object's body" || return
	# DeleteObjects (POST ?delete) without Content-MD5
	printf '<Delete><Quiet>true</Quiet><Object><Key>cp/src</Key></Object><Object><Key>cp/dst</Key></Object><Object><Key>cp/none</Key></Object></Delete>' >"$W/del.xml"
	assert_eq "200 -" "$(status_and_code "$(s3tool raw POST "$BKT" --query delete= --body "$W/del.xml")")" "DeleteObjects" || return
	assert_eq "" "$(s3tool ls "$BKT" cp/ --recursive)" "listing after DeleteObjects"
}

c_url() {
	assert_eq "s3://bk/a/b?endpoint=$S3_ENDPOINT&region=$AWS_REGION" "$(s3_url bk /a/b/)" "s3_url with a prefix" || return
	assert_eq "s3://bk?endpoint=$S3_ENDPOINT&region=$AWS_REGION" "$(s3_url bk)" "s3_url of a bucket's root"
}

run_case s3_bucket_create c_bucket
run_case s3_put_get_round_trip c_roundtrip
run_case s3_list c_list
run_case s3_list_pages c_list_pages
run_case s3_put_if_none_match_star c_if_none_match
run_case s3_put_if_match_etag_unquoted_only c_put_if_match
run_case s3_delete_ignores_if_match c_delete_if_match
run_case s3_conditional_put_races c_cond_races
run_case s3_range_get c_range
run_case s3_multipart_list_abort c_multipart
run_case s3_presigned_get c_presign
run_case s3_auth_and_errors c_auth
run_case s3_mirror c_mirror
run_case s3_delete_frees c_delete_frees
run_case s3_integrity_checked c_integrity
run_case s3_copy_complete_delete_many c_copy_delete_many
run_case s3_url c_url
