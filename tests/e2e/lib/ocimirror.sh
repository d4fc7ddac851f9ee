# shellcheck shell=bash
# Helpers for tests that drive the ocimirror binary and look at its store.
# Needs: $OCIMIRROR (binary), $E2E_TMP, $PYTHON; assert.sh and env.sh sourced.
#
# S3 mode (E2E_STORE=s3, S3_ENDPOINT set: lib/ceph.sh; test_s3_rerun.sh):
# new_store makes a fresh prefix in the file's bucket and sets STORE to its
# s3:// URL; every `om` refreshes a local copy of the prefix (STORE_VIEW,
# s3tool.py mirror) and the helpers that look at the store as files
# (blob_path, repo_dir, tag_file, manifest_link, the assert_* below,
# store_dir) look at that copy. Cases that change store files directly, or
# look at "$STORE/..." themselves, are not run in S3 mode (test_s3_rerun.sh
# selects the others and says why).

: "${E2E_CMD_TIMEOUT:=60}"
E2E_WORK=${E2E_WORK:-$E2E_TMP/work/$(basename "${0%.sh}")}
mkdir -p "$E2E_WORK"
OUT=$E2E_WORK/last.stdout
ERR=$E2E_WORK/last.stderr
E2E_LAST_OUT=$E2E_WORK/last.out

# om ARGS...: run ocimirror (bounded by E2E_CMD_TIMEOUT), stdout -> $OUT,
# stderr -> $ERR, both -> $E2E_LAST_OUT. Returns its exit status.
om() {
	local rc=0
	timeout -k 5 "$E2E_CMD_TIMEOUT" "$OCIMIRROR" "$@" >"$OUT" 2>"$ERR" </dev/null || rc=$?
	cat "$OUT" "$ERR" >"$E2E_LAST_OUT"
	_om_writes "$@" && store_refresh
	[ $rc -eq 124 ] && echo "# om: timed out after ${E2E_CMD_TIMEOUT}s: ocimirror $*" >>"$E2E_LAST_OUT"
	return $rc
}

# oms ARGS...: om with --store $STORE
oms() { om --store "$STORE" "$@"; }

out() { cat "$OUT"; }
alltext() { cat "$E2E_LAST_OUT"; }

E2E_STORE=${E2E_STORE:-dir}
STORE_VIEW=""
S3_STORE_BUCKET=""
S3_STORE_PREFIX=""
S3_STORES_MADE=0

# store_refresh: in S3 mode, STORE_VIEW := the objects under the store's
# prefix (a copy made afresh: objects deleted in the bucket disappear).
# Run by om, and by the assertions over many objects (assert_ref_stored,
# assert_platform_*, assert_no_tags), so that they also see what an
# ocimirror started directly (in the background) wrote.
store_refresh() {
	[ "$E2E_STORE" = s3 ] && [ -n "$STORE_VIEW" ] || return 0
	rm -rf "$STORE_VIEW" && mkdir -p "$STORE_VIEW" || return 1
	s3tool mirror "$S3_STORE_BUCKET" "$S3_STORE_PREFIX/" "$STORE_VIEW" ||
		echo "# store_refresh: s3tool mirror $S3_STORE_BUCKET $S3_STORE_PREFIX/ failed" >>"${E2E_LAST_OUT:-/dev/null}"
}

# _om_writes ARGS...: false when ocimirror's command (the first word that
# is not an option) only reads the store (no refresh needed after it)
_om_writes() {
	while [ $# -gt 0 ]; do
		case "$1" in
		--store) shift ;;
		-*) ;;
		ls | inspect | tags | export | inventory | login | logout) return 1 ;;
		*) return 0 ;;
		esac
		shift
	done
	return 0
}

# store_dir: the store as a directory (S3 mode: the refreshed copy)
store_dir() {
	if [ "$E2E_STORE" = s3 ] && [ -n "$STORE_VIEW" ]; then echo "$STORE_VIEW"; else echo "$STORE"; fi
}

# store_now: store_refresh, then store_dir (after an ocimirror run outside om)
store_now() {
	store_refresh
	store_dir
}

# store_copy_repo FROM TO: copy repository FROM's records (tags, manifest
# links, referrers) to repository TO, in the directory or in the bucket
store_copy_repo() {
	if [ "$E2E_STORE" != s3 ]; then
		mkdir -p "$(dirname "$STORE/repositories/$2")" &&
			cp -a "$STORE/repositories/$1" "$STORE/repositories/$2"
		return
	fi
	local from=$S3_STORE_PREFIX/repositories/$1/ to=$S3_STORE_PREFIX/repositories/$2/ tmp=$E2E_WORK/copy.obj key n=0
	while read -r _ key; do
		s3tool get "$S3_STORE_BUCKET" "$key" "$tmp" &&
			s3tool put "$S3_STORE_BUCKET" "$to${key#"$from"}" "$tmp" >/dev/null || return 1
		n=$((n + 1))
	done < <(s3tool ls "$S3_STORE_BUCKET" "$from" --recursive)
	[ $n -gt 0 ] && store_refresh
}

# new_store: fresh empty store in $STORE (a dir; in S3 mode a fresh prefix
# of the file's bucket, STORE its s3:// URL); fresh empty DOCKER_CONFIG
new_store() {
	if [ "$E2E_STORE" = s3 ]; then
		if [ -z "$S3_STORE_BUCKET" ]; then
			S3_STORE_BUCKET=$(s3_bucket "$(basename "${0%.sh}")") || { fail "cannot create a bucket"; return 1; }
		fi
		S3_STORES_MADE=$((S3_STORES_MADE + 1))
		S3_STORE_PREFIX=s$S3_STORES_MADE
		STORE=$(s3_url "$S3_STORE_BUCKET" "$S3_STORE_PREFIX")
		STORE_VIEW=$(mktemp -d "$E2E_WORK/view.XXXXXX")
		STORE_ROOT=$STORE_VIEW/
	else
		STORE=$(mktemp -d "$E2E_WORK/store.XXXXXX")
		STORE_ROOT=$STORE/
	fi
	export DOCKER_CONFIG
	DOCKER_CONFIG=$(mktemp -d "$E2E_WORK/docker.XXXXXX")
	echo '{"auths":{}}' >"$DOCKER_CONFIG/config.json"
}

# docker_login_file HOSTPORT USER PASS: write $DOCKER_CONFIG/config.json
docker_login_file() {
	local a; a=$(printf '%s:%s' "$2" "$3" | base64 -w0)
	printf '{"auths":{"%s":{"auth":"%s"}}}\n' "$1" "$a" >"$DOCKER_CONFIG/config.json"
	chmod 600 "$DOCKER_CONFIG/config.json"
}

hex() { echo "${1#sha256:}"; }
blob_path() { echo "$(store_dir)/blobs/sha256/$(hex "$1")"; }
repo_dir() { echo "$(store_dir)/repositories/$1/$2"; } # HOST REPO
tag_file() { echo "$(store_dir)/repositories/$1/$2/_tags/$3"; } # HOST REPO TAG
manifest_link() { echo "$(store_dir)/repositories/$1/$2/_manifests/sha256/$(hex "$3")"; } # HOST REPO DIGEST

# json_field FILE KEY: print a top-level field of a JSON file
json_field() {
	"$PYTHON" -c 'import json,sys
try: v=json.load(open(sys.argv[1])).get(sys.argv[2])
except Exception as e: v="<bad json: %s>" % e
print("" if v is None else v)' "$1" "$2"
}

# e_ref EXP KEY FIELD: a field of refs[KEY] in an expectations file
e_ref() { exp_get "$1" "d['refs']['$2'].get('$3')"; }

# assert_blob DIGEST SIZE: store holds exactly those bytes
assert_blob() { assert_file_digest "$(blob_path "$1")" "$1" "$2"; }
assert_no_blob() {
	[ ! -e "$(blob_path "$1")" ] && return 0
	_fail "blob $1 should not be in the store"
}

# assert_tmp_empty: $STORE/tmp holds nothing after a run
assert_tmp_empty() { assert_empty_dir "$(store_dir)/tmp"; }

# assert_tag HOST REPO TAG DIGEST [MEDIATYPE [SIZE]]: tag record
assert_tag() {
	local f; f=$(tag_file "$1" "$2" "$3")
	assert_file "$f" || return
	assert_eq "$4" "$(json_field "$f" digest)" "tag $2:$3 digest" || return
	[ -n "${5:-}" ] && { assert_eq "$5" "$(json_field "$f" mediaType)" "tag $2:$3 mediaType" || return; }
	[ -n "${6:-}" ] && { assert_eq "$6" "$(json_field "$f" size)" "tag $2:$3 size" || return; }
	return 0
}

# assert_no_tags HOST REPO: no tag record at all for REPO (or anywhere if REPO empty)
assert_no_tags() {
	store_refresh # S3 mode: after an ocimirror run outside om too
	local sd; sd=$(store_dir)
	local d=$sd/repositories
	[ -n "${1:-}" ] && d=$d/$1/$2
	local t; t=$(find "$d" -path '*/_tags/*' -type f 2>/dev/null | head -n 3)
	[ -z "$t" ] && return 0
	_fail "unexpected tag records: $(echo "$t" | sed "s|$sd/||" | tr '\n' ' ')"
}

# assert_manifest_link HOST REPO DIGEST
assert_manifest_link() {
	[ -e "$(manifest_link "$1" "$2" "$3")" ] && return 0
	_fail "no _manifests link for $3 in $1/$2"
}

# assert_ref_stored EXP KEY HOST: everything refs[KEY] names is in the store:
# every manifest (top + children) and blob with the right bytes, a
# _manifests entry per manifest, and the tag record (if the ref has a tag).
assert_ref_stored() {
	local exp=$1 key=$2 host=$3 repo tag digest mt size dg sz role
	store_refresh # S3 mode: after an ocimirror run outside om too
	repo=$(e_ref "$exp" "$key" repo)
	tag=$(e_ref "$exp" "$key" tag)
	digest=$(e_ref "$exp" "$key" digest)
	mt=$(e_ref "$exp" "$key" mediaType)
	size=$(e_ref "$exp" "$key" size)
	while read -r dg sz role; do
		assert_blob "$dg" "$sz" || return
		if [ "$role" != blob ]; then
			assert_manifest_link "$host" "$repo" "$dg" || return
		fi
	done < <(exp_get "$exp" "[m['digest']+' '+str(m['size'])+' manifest' for m in d['refs']['$key']['manifests']] + [b['digest']+' '+str(b['size'])+' blob' for b in d['refs']['$key']['blobs']]")
	if [ -n "$tag" ]; then
		assert_tag "$host" "$repo" "$tag" "$digest" "$mt" "$size" || return
	fi
	return 0
}

# assert_platform_stored EXP KEY PLATFORM HOST: one child and its blobs
assert_platform_stored() {
	local exp=$1 key=$2 p=$3 host=$4 repo dg sz
	store_refresh # S3 mode: after an ocimirror run outside om too
	repo=$(e_ref "$exp" "$key" repo)
	read -r dg sz < <(exp_get "$exp" "d['refs']['$key']['children']['$p']['digest']+' '+str(d['refs']['$key']['children']['$p']['size'])")
	assert_blob "$dg" "$sz" || return
	assert_manifest_link "$host" "$repo" "$dg" || return
	while read -r dg sz; do
		assert_blob "$dg" "$sz" || return
	done < <(exp_get "$exp" "[b['digest']+' '+str(b['size']) for b in d['refs']['$key']['children']['$p']['blobs']]")
}

# assert_platform_absent EXP KEY PLATFORM: child manifest and its blobs that
# no other platform shares are not in the store
assert_platform_absent() {
	local exp=$1 key=$2 p=$3 dg
	store_refresh # S3 mode: after an ocimirror run outside om too
	while read -r dg; do
		assert_no_blob "$dg" || return
	done < <(exp_get "$exp" "
[d['refs']['$key']['children']['$p']['digest']] + [b['digest'] for b in d['refs']['$key']['children']['$p']['blobs']
 if all(b['digest'] not in [x['digest'] for x in c['blobs']] for q, c in d['refs']['$key']['children'].items() if q != '$p')]")
}
