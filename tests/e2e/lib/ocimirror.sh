# shellcheck shell=bash
# Helpers for tests that drive the ocimirror binary and look at its store.
# Needs: $OCIMIRROR (binary), $E2E_TMP, $PYTHON; assert.sh and env.sh sourced.

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
	[ $rc -eq 124 ] && echo "# om: timed out after ${E2E_CMD_TIMEOUT}s: ocimirror $*" >>"$E2E_LAST_OUT"
	return $rc
}

# oms ARGS...: om with --store $STORE
oms() { om --store "$STORE" "$@"; }

out() { cat "$OUT"; }
alltext() { cat "$E2E_LAST_OUT"; }

# new_store: fresh empty store dir in $STORE; fresh empty DOCKER_CONFIG
new_store() {
	STORE=$(mktemp -d "$E2E_WORK/store.XXXXXX")
	STORE_ROOT=$STORE/
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
blob_path() { echo "$STORE/blobs/sha256/$(hex "$1")"; }
repo_dir() { echo "$STORE/repositories/$1/$2"; } # HOST REPO
tag_file() { echo "$STORE/repositories/$1/$2/_tags/$3"; } # HOST REPO TAG
manifest_link() { echo "$STORE/repositories/$1/$2/_manifests/sha256/$(hex "$3")"; } # HOST REPO DIGEST

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
assert_tmp_empty() { assert_empty_dir "$STORE/tmp"; }

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
	local d=$STORE/repositories
	[ -n "${1:-}" ] && d=$d/$1/$2
	local t; t=$(find "$d" -path '*/_tags/*' -type f 2>/dev/null | head -n 3)
	[ -z "$t" ] && return 0
	_fail "unexpected tag records: $(echo "$t" | sed "s|$STORE/||" | tr '\n' ' ')"
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
	while read -r dg; do
		assert_no_blob "$dg" || return
	done < <(exp_get "$exp" "
[d['refs']['$key']['children']['$p']['digest']] + [b['digest'] for b in d['refs']['$key']['children']['$p']['blobs']
 if all(b['digest'] not in [x['digest'] for x in c['blobs']] for q, c in d['refs']['$key']['children'].items() if q != '$p')]")
}
