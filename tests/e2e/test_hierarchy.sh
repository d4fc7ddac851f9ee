#!/usr/bin/env bash
# e2e: mirrors of mirrors (issue 15). On loopback:
#
#   origin      docker-registry (access log); it ignores ?ns=, so it stands
#               for docker.io (repositories library/...) and for itself
#               (127.0.0.1:ORIGIN/team/...)
#   enterprise  ocimirror serve --upstream E.yaml: docker.io -> origin as
#               mirror (fallback false), 127.0.0.1:ORIGIN direct
#   plant       ocimirror sync (both registries through the enterprise as
#               mirror) of two images, then serve --upstream P.yaml (fills
#               the rest through the enterprise)
#   line        ocimirror serve --upstream L.yaml: both registries through
#               the plant
#
# and clients: containerd (hosts.toml, ?ns=docker.io) and podman
# (registries.conf mirror, /v2/docker.io/...) at the line, 200 concurrent
# curl pulls, a fault proxy between a second line and the plant.
#
# Every case is named "step N: ..."; a case whose earlier step did not set
# up what it needs fails with "needs step N". Digests are compared with what
# the origin serves (curl) at every level.
# e2e-file-timeout: 600
. "$(dirname "$0")/lib/prologue.sh"
. "$HERE/lib/hierarchy.sh"

W=$E2E_WORK
CONC=${E2E_HIER_CONC:-200}
PAR=${E2E_HIER_PAR:-50}
# levels' own upstream timeout: a stopped level is noticed quickly
UP_DEFAULTS='{upstream_timeout: 5}'

# ---- the origin and its content ----------------------------------------------
port=$(e2e_free_port) || e2e_setup_fail "no free port"
E2E_REG_ACCESSLOG=1 e2e_registry reg-origin "$port"
ORIGIN=127.0.0.1:$port
ORIGIN_LOG=$E2E_TMP/reg-origin.log
seed() { # OUT PREFIX KINDS SEED
	timeout 120 "$PYTHON" "$E2E_LIB/seed.py" --registry "$ORIGIN" --out "$1" --prefix "$2" \
		--kinds "$3" --seed "$4" | sed 's/^/# /'
	[ -s "$1" ] || e2e_setup_fail "seeding $2 into the origin failed"
}
# synced at the plant: docker.io/library/oci-image:v1 (config + 2 layers),
# docker.io/library/multiarch:v1 (index), 127.0.0.1:ORIGIN/team/oci-image:v1
seed "$W/exp-lib.json" library oci-image,multiarch 101
seed "$W/exp-team.json" team oci-image 102
# only at the origin: for containerd, podman, the 200 pulls
seed "$W/exp-cd.json" library/cd oci-image 103
seed "$W/exp-pod.json" library/pod multiarch 104
seed "$W/exp-conc.json" conc docker-image 105

# ref fields: EXP KEY FIELD
ef() { e_ref "$W/exp-$1.json" "$2" "$3"; }
# blobs of a ref (every manifest's config and layers): EXP KEY
eblobs() { exp_get "$W/exp-$1.json" "[b['digest'] for b in d['refs']['$2']['blobs']]" | sort -u; }
# origin_digest REPO TAG: sha256 of the manifest the origin serves
ACCEPT='application/vnd.oci.image.index.v1+json,application/vnd.oci.image.manifest.v1+json,application/vnd.docker.distribution.manifest.v2+json,application/vnd.docker.distribution.manifest.list.v2+json'
origin_digest() {
	echo "sha256:$(curl -sf -m 10 -H "Accept: $ACCEPT" "http://$ORIGIN/v2/$1/manifests/$2" | sha256sum | cut -d' ' -f1)"
}
LIB_DG=$(origin_digest library/oci-image v1)
MA_DG=$(origin_digest library/multiarch v1)
TEAM_DG=$(origin_digest team/oci-image v1)
CD_DG=$(origin_digest library/cd/oci-image v1)
POD_DG=$(origin_digest library/pod/multiarch v1)
CONC_DG=$(origin_digest conc/docker-image v1)
if [ "$LIB_DG" != "$(ef lib oci-image digest)" ] || [ "$CONC_DG" != "$(ef conc docker-image digest)" ] ||
	[ "$POD_DG" != "$(ef pod multiarch digest)" ]; then
	e2e_setup_fail "the origin does not serve what was seeded"
fi
echo "# hierarchy: origin $ORIGIN"

# tag_digest STORE HOST/REPO TAG: the digest of a tag record ("" if none)
tag_digest() {
	local f=$1/repositories/$2/_tags/$3
	[ -f "$f" ] && json_field "$f" digest
}
# assert_level STORE NAME HOST/REPO TAG DIGEST [BLOBS...]: the level's store
# has the tag at DIGEST and each blob with its bytes
assert_level() {
	local st=$1 what=$2 repo=$3 tag=$4 dg=$5 b; shift 5
	assert_eq "$dg" "$(tag_digest "$st" "$repo" "$tag")" "$what store: tag $repo:$tag" || return
	for b in "$@"; do
		assert_file_digest "$st/blobs/sha256/${b#sha256:}" "$b" || { E2E_CASE_FAIL="$what store: $E2E_CASE_FAIL"; return 1; }
	done
}
# need VAR STEP: fail when an earlier step did not set VAR
need() {
	[ -n "${!1:-}" ] && return 0
	fail "needs step $2 (it did not finish)"
}
# start_level NAME STORE FILE [ARGS]: serve --upstream FILE; sets LVL (addr)
start_level() {
	local name=$1 st=$2 f=$3; shift 3
	LVL=
	serve_start "$name" "$st" --upstream "$f" "$@" || return
	LVL=$SRV
}

E_STORE=$W/store-enterprise P_STORE=$W/store-plant L_STORE=$W/store-line L2_STORE=$W/store-line2
mkdir -p "$E_STORE" "$P_STORE" "$L_STORE" "$L2_STORE"
ENT='' PLANT='' LINE='' PLANT_SYNCED='' E_PID=''

# ---- step 1: the origin -------------------------------------------------------
case_origin() {
	assert_eq "$LIB_DG" "$(ef lib oci-image digest)" "origin library/oci-image:v1" || return
	assert_eq 3 "$(eblobs lib oci-image | grep -c .)" "blobs of the multi-layer image (config + 2 layers)" || return
	assert_eq "$MA_DG" "$(ef lib multiarch digest)" "origin library/multiarch:v1" || return
	assert_ne "" "$(exp_get "$W/exp-lib.json" "d['refs']['multiarch'].get('children')")" "platforms of the index" || return
	# ns is ignored by docker-registry: it can stand for docker.io
	assert_eq 200 "$(curl -s -o /dev/null -m 10 -w '%{http_code}' -H "Accept: $ACCEPT" \
		"http://$ORIGIN/v2/library/oci-image/manifests/v1?ns=docker.io")" "origin with ?ns=docker.io"
}

# ---- step 2: enterprise -------------------------------------------------------
case_enterprise() {
	hier_upstream_file "$W/E.yaml" docker.io "$(hier_mirror_yaml "$ORIGIN")" "$ORIGIN" '{tls: disabled}' -- "$UP_DEFAULTS"
	start_level enterprise "$E_STORE" "$W/E.yaml" || return
	ENT=$LVL E_PID=$SRV_PID
	# fill on demand: a docker.io manifest by ns and by the /v2/HOST/ form
	http GET "http://$ENT/v2/library/oci-image/manifests/v1?ns=docker.io" -H "Accept: $ACCEPT"
	assert_http 200 "" "enterprise ?ns=docker.io" || return
	assert_eq "$LIB_DG" "$(sha_of "$HTTP_BODY")" "enterprise manifest digest (ns)" || return
	http GET "http://$ENT/v2/docker.io/library/oci-image/manifests/v1" -H "Accept: $ACCEPT"
	assert_http 200 "" "enterprise /v2/docker.io/..." || return
	assert_eq "$LIB_DG" "$(sha_of "$HTTP_BODY")" "enterprise manifest digest (/v2/docker.io/)" || return
	assert_eq "$LIB_DG" "$(tag_digest "$E_STORE" docker.io/library/oci-image v1)" "enterprise store tag"
}

# ---- step 3: plant (sync through the enterprise, then serve) -------------------
case_plant_sync() {
	need ENT 2 || return
	local m; m=$(hier_mirror_yaml "$ENT")
	hier_upstream_file "$W/P.yaml" docker.io "$m" "$ORIGIN" "$m" -- "$UP_DEFAULTS"
	{
		cat "$W/P.yaml"
		echo "sync:"
		echo "  - source: docker.io/library/oci-image:v1"
		echo "  - source: docker.io/library/multiarch:v1"
		echo "  - source: $ORIGIN/team/oci-image:v1"
	} >"$W/P-sync.yaml"
	local before; before=$(wc -l <"$ORIGIN_LOG")
	assert_exit 0 om --store "$P_STORE" sync -c "$W/P-sync.yaml" || return
	assert_exit 0 om --store "$P_STORE" ls || return
	local l; l=$(out)
	# "REPO:TAG<TAB>DIGEST<TAB>MEDIATYPE" per tag, digests as the origin serves them
	assert_contains "$l" "docker.io/library/oci-image:v1	$LIB_DG" "ocimirror ls of the plant" || return
	assert_contains "$l" "docker.io/library/multiarch:v1	$MA_DG" "ocimirror ls of the plant" || return
	assert_contains "$l" "$ORIGIN/team/oci-image:v1	$TEAM_DG" "ocimirror ls of the plant" || return
	assert_eq 3 "$(printf '%s\n' "$l" | grep -c .)" "tags in the plant (ls lines)" || return
	# shellcheck disable=SC2046
	assert_level "$P_STORE" plant docker.io/library/oci-image v1 "$LIB_DG" $(eblobs lib oci-image) || return
	assert_level "$P_STORE" plant docker.io/library/multiarch v1 "$MA_DG" || return
	# shellcheck disable=SC2046
	assert_level "$P_STORE" plant "$ORIGIN/team/oci-image" v1 "$TEAM_DG" $(eblobs team oci-image) || return
	# it went through the enterprise, which now holds the same
	assert_level "$E_STORE" enterprise "$ORIGIN/team/oci-image" v1 "$TEAM_DG" || return
	assert_level "$E_STORE" enterprise docker.io/library/multiarch v1 "$MA_DG" || return
	assert_match "$(cat "${SRV_LOG_enterprise:-/dev/null}")" "GET /v2/[^ ]*team/oci-image/manifests/" "enterprise access log (the plant's sync)" || return
	# shellcheck disable=SC2034 # read by need() (indirectly)
	PLANT_SYNCED=1
	start_level plant "$P_STORE" "$W/P.yaml" || return
	PLANT=$LVL
	http GET "http://$PLANT/v2/team/oci-image/manifests/v1?ns=$ORIGIN" -H "Accept: $ACCEPT"
	assert_http 200 "" "plant serve ?ns=$ORIGIN" || return
	assert_eq "$TEAM_DG" "$(sha_of "$HTTP_BODY")" "plant serve: team/oci-image:v1"
}

# ---- step 4: line, containerd and podman ---------------------------------------
case_line() {
	need PLANT 3 || return
	local m; m=$(hier_mirror_yaml "$PLANT")
	hier_upstream_file "$W/L.yaml" docker.io "$m" "$ORIGIN" "$m" -- "$UP_DEFAULTS"
	start_level line "$L_STORE" "$W/L.yaml" || return
	LINE=$LVL
	http GET "http://$LINE/v2/library/oci-image/manifests/v1?ns=docker.io" -H "Accept: $ACCEPT"
	assert_http 200 "" "line ?ns=docker.io (synced at the plant)" || return
	assert_eq "$LIB_DG" "$(sha_of "$HTTP_BODY")" "line: library/oci-image:v1"
}

# containerd_pull ADDR DIR REF WANT: a private containerd (own root, state,
# socket) pulls REF with hosts.toml sending docker.io to http://ADDR
containerd_pull() {
	local addr=$1 d=$2 ref=$3 want=$4 pid got rc=0
	mkdir -p "$d/hosts/docker.io" "$d/root" "$d/state" || return
	cat >"$d/config.toml" <<-EOF
	version = 2
	root = "$d/root"
	state = "$d/state"
	disabled_plugins = ["io.containerd.grpc.v1.cri"]
	[grpc]
	  address = "$d/c.sock"
	[ttrpc]
	  address = "$d/c.sock.ttrpc"
	[debug]
	  address = "$d/debug.sock"
	EOF
	cat >"$d/hosts/docker.io/hosts.toml" <<-EOF
	server = "https://registry-1.docker.io"
	[host."http://$addr"]
	  capabilities = ["pull", "resolve"]
	EOF
	containerd --config "$d/config.toml" >"$d/containerd.log" 2>&1 </dev/null &
	pid=$!
	bg_track "$pid"
	for _ in $(seq 1 100); do
		ctr --address "$d/c.sock" --timeout 2s version >/dev/null 2>&1 && break
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	if ! ctr --address "$d/c.sock" --timeout 2s version >/dev/null 2>&1; then
		fail "containerd did not start: $(tail -n 3 "$d/containerd.log" | tr '\n' ' ')"
		serve_stop "$pid" >/dev/null 2>&1
		return 1
	fi
	timeout 90 ctr --address "$d/c.sock" images pull --snapshotter native --hosts-dir "$d/hosts" \
		"$ref" >"$d/pull.out" 2>&1 || rc=$?
	if [ $rc -ne 0 ]; then
		fail "ctr pull $ref via $addr: $(tail -n 3 "$d/pull.out" | tr '\n' ' ')"
	else
		got=$(ctr --address "$d/c.sock" images ls 2>/dev/null | awk -v r="$ref" '$1 == r {print $3}')
		assert_eq "$want" "$got" "containerd image digest"
	fi
	serve_stop "$pid" >/dev/null 2>&1
	[ -z "$E2E_CASE_FAIL" ]
}

# podman_pull ADDR DIR REF WANT: podman with private storage and a
# registries.conf whose docker.io mirror is ADDR/docker.io (requests
# /v2/docker.io/...); docker.io itself is never reached (offline)
PODMAN_RUN= # podman wants a runroot path under 50 characters
podman_pull() {
	local addr=$1 d=$2 ref=$3 want=$4 got
	mkdir -p "$d"
	if [ -z "$PODMAN_RUN" ]; then
		PODMAN_RUN=$(mktemp -d /tmp/ocimirror-podman.XXXXXX) || return 1
		serve_rm_at_exit "$PODMAN_RUN"
	fi
	cat >"$d/registries.conf" <<-EOF
	[[registry]]
	prefix = "docker.io"
	location = "docker.io"
	[[registry.mirror]]
	location = "$addr/docker.io"
	insecure = true
	EOF
	: >"$d/containers.conf"
	pm() {
		CONTAINERS_REGISTRIES_CONF=$d/registries.conf CONTAINERS_CONF=$d/containers.conf \
			timeout 90 podman --root "$d/root" --runroot "$PODMAN_RUN/${d##*/}" --tmpdir "$d/tmp" \
			--storage-driver vfs --cgroup-manager cgroupfs --events-backend file "$@"
	}
	pm pull -q "$ref" >"$d/pull.out" 2>&1 ||
		{ fail "podman pull $ref via $addr: $(tail -n 3 "$d/pull.out" | tr '\n' ' ')"; return 1; }
	got=$(pm image inspect --format '{{.Digest}}' "$ref" 2>&1)
	assert_eq "$want" "$got" "podman image digest"
}

# step 0 (no issue-15 feature needed): the client configurations above
# against a plain serve of a store synced straight from the origin under the
# docker.io names
case_clients_plain() {
	local st=$W/store-plain
	mkdir -p "$st"
	{
		echo "registries:"
		echo "  '$ORIGIN': {tls: disabled}"
		echo "sync:"
		echo "  - {source: '$ORIGIN/library/cd/oci-image:v1', destination: docker.io/library/cd/oci-image}"
		echo "  - {source: '$ORIGIN/library/pod/multiarch:v1', destination: docker.io/library/pod/multiarch}"
	} >"$W/plain-sync.yaml"
	assert_exit 0 om --store "$st" sync -c "$W/plain-sync.yaml" || return
	assert_eq "$CD_DG" "$(tag_digest "$st" docker.io/library/cd/oci-image v1)" "plain store tag" || return
	serve_start plain "$st" || return
	local addr=$SRV pid=$SRV_PID
	if command -v containerd >/dev/null && command -v ctr >/dev/null; then
		containerd_pull "$addr" "$W/containerd-plain" docker.io/library/cd/oci-image:v1 "$CD_DG" || { serve_stop "$pid"; return 1; }
	fi
	if command -v podman >/dev/null; then
		podman_pull "$addr" "$W/podman-plain" docker.io/library/pod/multiarch:v1 "$POD_DG" || { serve_stop "$pid"; return 1; }
	fi
	serve_stop "$pid" >/dev/null 2>&1
	assert_match "$(cat "$SRV_LOG_plain")" "GET /v2/library/cd/oci-image/manifests/[^ ]*\?ns=docker\.io 200 " "plain serve access log (containerd)"
}

case_containerd() {
	need LINE 4 || return
	containerd_pull "$LINE" "$W/containerd" docker.io/library/cd/oci-image:v1 "$CD_DG" || return
	assert_match "$(cat "${SRV_LOG_line:-/dev/null}")" "GET /v2/library/cd/oci-image/manifests/[^ ]*\?ns=docker\.io 200 " "line access log (containerd)" || return
	# every level filled it: line, plant, enterprise
	local b; b=$(eblobs cd oci-image)
	# shellcheck disable=SC2086
	assert_level "$L_STORE" line docker.io/library/cd/oci-image v1 "$CD_DG" $b || return
	# shellcheck disable=SC2086
	assert_level "$P_STORE" plant docker.io/library/cd/oci-image v1 "$CD_DG" $b || return
	# shellcheck disable=SC2086
	assert_level "$E_STORE" enterprise docker.io/library/cd/oci-image v1 "$CD_DG" $b
}

case_podman() {
	need LINE 4 || return
	podman_pull "$LINE" "$W/podman" docker.io/library/pod/multiarch:v1 "$POD_DG" || return
	assert_match "$(cat "${SRV_LOG_line:-/dev/null}")" "GET /v2/docker\.io/library/pod/multiarch/manifests/" "line access log (podman)" || return
	assert_level "$L_STORE" line docker.io/library/pod/multiarch v1 "$POD_DG" || return
	assert_level "$E_STORE" enterprise docker.io/library/pod/multiarch v1 "$POD_DG"
}

# ---- step 5: 200 concurrent pulls of a new image at the line -------------------
case_concurrent() {
	need LINE 4 || return
	local job=$W/pull_one.sh blobs b n rc=0 mf0 bf0 mf1 bf1
	blobs=$(eblobs conc docker-image)
	mkdir -p "$W/conc"
	# one pull: the manifest by tag, then every blob; prints "ok N" or "bad N ..."
	cat >"$job" <<-'EOF'
	#!/usr/bin/env bash
	# one curl for the manifest and every blob (in turn, one connection),
	# then one sha256sum over what came
	n=$1 base=$2 dir=$3 mdg=$4; shift 4
	f=$dir/$n args=(-H "Accept: application/vnd.oci.image.manifest.v1+json,application/vnd.docker.distribution.manifest.v2+json"
		"$base/manifests/v1?ns=$NS" -o "$f.0") want=("$mdg") i=0
	for b in "$@"; do
		i=$((i + 1))
		args+=("$base/blobs/$b?ns=$NS" -o "$f.$i")
		want+=("$b")
	done
	curl -sf --fail-early --max-time 60 "${args[@]}" || { echo "bad $n curl exit $?"; exit 0; }
	mapfile -t got < <(sha256sum $(seq -f "$f.%g" 0 "$i") | cut -d' ' -f1)
	for j in $(seq 0 "$i"); do
		[ "sha256:${got[$j]}" = "${want[$j]}" ] || { echo "bad $n ${want[$j]} got sha256:${got[$j]}"; exit 0; }
	done
	rm -f "$f".*
	echo "ok $n"
	EOF
	chmod +x "$job"
	mf0=$(hier_metric "http://$LINE" ocimirror_upstream_manifest_fetches)
	bf0=$(hier_metric "http://$LINE" ocimirror_upstream_blob_fetches)
	# shellcheck disable=SC2086
	seq 1 "$CONC" | NS=$ORIGIN timeout 300 xargs -P "$PAR" -I{} "$job" {} "http://$LINE/v2/conc/docker-image" \
		"$W/conc" "$CONC_DG" $blobs >"$W/conc.out" 2>&1 || rc=$?
	[ $rc -eq 0 ] || { fail "xargs exited $rc: $(grep -v '^ok' "$W/conc.out" | head -n 3 | tr '\n' ' ')"; return 1; }
	assert_eq "$CONC" "$(grep -c '^ok ' "$W/conc.out")" "pulls that got every byte right [$(grep -v '^ok' "$W/conc.out" | head -n 2 | tr '\n' ' ')]" || return
	# one GET per blob at each level
	local got="" want=""
	for b in $blobs; do
		want="$want $b=1/1/1"
		got="$got $b=$(hier_count_gets "$ORIGIN_LOG" "$b")/$(hier_count_gets "${SRV_LOG_enterprise:-/dev/null}" "$b")/$(hier_count_gets "${SRV_LOG_plant:-/dev/null}" "$b")"
	done
	assert_eq "$want" "$got" "blob GETs at origin/enterprise/plant" || return
	# the line's own counters: one fetch per blob, at least one manifest fetch
	mf1=$(hier_metric "http://$LINE" ocimirror_upstream_manifest_fetches)
	bf1=$(hier_metric "http://$LINE" ocimirror_upstream_blob_fetches)
	n=$(echo "$blobs" | grep -c .)
	assert_eq "$n" "$((bf1 - bf0))" "line /metrics ocimirror_upstream_blob_fetches increase" || return
	[ $((mf1 - mf0)) -ge 1 ] || { fail "line /metrics ocimirror_upstream_manifest_fetches did not increase ($mf0 -> $mf1)"; return 1; }
	# shellcheck disable=SC2086
	assert_level "$L_STORE" line "$ORIGIN/conc/docker-image" v1 "$CONC_DG" $blobs
}

# ---- step 6: origin and enterprise stopped: the line still answers -------------
# line_get PATH: curl bounded at 10 s; sets GOT (sha256 of the body) or fails
line_get() {
	local code
	code=$(curl -s --max-time 10 -H "Accept: $ACCEPT" -o "$W/lg.body" -w '%{http_code}' "http://$LINE$1") || code=${code:-000}
	[ "$code" = 200 ] || { fail "line $1 with origin and enterprise stopped: HTTP $code"; return 1; }
	GOT=$(sha_of "$W/lg.body")
}
case_stopped() {
	need LINE 4 || return
	need E_PID 2 || return
	e2e_stop_bg reg-origin
	serve_stop "$E_PID" >/dev/null 2>&1
	curl -s -m 3 -o /dev/null "http://$ORIGIN/v2/" && { fail "origin still answers"; return 1; }
	curl -s -m 3 -o /dev/null "http://$ENT/v2/" && { fail "enterprise still answers"; return 1; }
	local spec repo tag dg ns b exp key
	# HOST/REPO TAG DIGEST EXP KEY: what the line holds from the steps before
	for spec in "docker.io library/oci-image v1 $LIB_DG lib oci-image" \
		"docker.io library/cd/oci-image v1 $CD_DG cd oci-image" \
		"docker.io library/pod/multiarch v1 $POD_DG pod multiarch" \
		"$ORIGIN conc/docker-image v1 $CONC_DG conc docker-image"; do
		read -r ns repo tag dg exp key <<<"$spec"
		[ -n "$(tag_digest "$L_STORE" "$ns/$repo" "$tag")" ] || continue # a step before failed
		line_get "/v2/$repo/manifests/$tag?ns=$ns" || return
		assert_eq "$dg" "$GOT" "line $ns/$repo:$tag (tag) with upstreams stopped" || return
		line_get "/v2/$repo/manifests/$dg?ns=$ns" || return
		[ "$key" = multiarch ] && continue # podman fetched one platform only
		for b in $(eblobs "$exp" "$key"); do
			line_get "/v2/$repo/blobs/$b?ns=$ns" || return
			assert_eq "$b" "$GOT" "line blob of $repo" || return
		done
	done
	http GET "http://$LINE/v2/library/oci-image/tags/list?ns=docker.io"
	[ "$HTTP_CODE" = 200 ] || [ "$HTTP_CODE" = 404 ] || { fail "tags/list with upstreams stopped: HTTP $HTTP_CODE"; return 1; }
	E_PID=''
}

# ---- step 7: a corrupting proxy between a second line and the plant ------------
case_corrupt() {
	need PLANT 3 || return
	need PLANT_SYNCED 3 || return
	local port fp big sz code rc=0
	port=$(e2e_free_port) || { fail "no free port"; return 1; }
	_e2e_bg fault-hier "$PYTHON" "$E2E_LIB/faultproxy.py" --port "$port" --upstream "$PLANT"
	bg_track "$E2E_PID_fault_hier"
	fp=127.0.0.1:$port
	e2e_wait_http "http://$fp/__log" 200 || { fail "fault proxy did not start"; return 1; }
	hier_upstream_file "$W/L2.yaml" docker.io "$(hier_mirror_yaml "$fp")" -- "$UP_DEFAULTS"
	start_level line2 "$L2_STORE" "$W/L2.yaml" || return
	# the biggest layer of library/oci-image (the plant synced it; new to line2)
	read -r big sz < <(exp_get "$W/exp-lib.json" "sorted([(b['size'], b['digest']) for b in d['refs']['oci-image']['blobs']])[-1][1] + ' ' + str(sorted([(b['size'], b['digest']) for b in d['refs']['oci-image']['blobs']])[-1][0])")
	curl -sf -m 5 -X POST -d "{\"mode\": \"corrupt\", \"match\": \"/blobs/$big\", \"count\": -1, \"after\": $((sz / 2))}" \
		"http://$fp/__fault" >/dev/null || { fail "fault rule refused"; return 1; }
	code=$(curl -s --max-time 20 -o "$W/corrupt.body" -w '%{http_code}' "http://$LVL/v2/library/oci-image/blobs/$big?ns=docker.io") || rc=$?
	if [ $rc -eq 0 ] && [ "$code" = 200 ] && [ "$(sha_of "$W/corrupt.body")" = "$big" ]; then
		fail "line2 served the blob intact although the proxy corrupted it (proxy faults: $(curl -s -m 5 "http://$fp/__log" | grep -o '"fault": "[a-z-]*"' | sort | uniq -c | tr '\n' ' '))"
		return 1
	fi
	E2E_PROXY=$fp assert_proxy_faults 1+ corrupt "/blobs/$big" || return
	[ ! -e "$L2_STORE/blobs/sha256/${big#sha256:}" ] || { fail "line2 stored the corrupted blob $big"; return 1; }
	# the proxy stops corrupting: it works
	curl -sf -m 5 -X POST "http://$fp/__reset" >/dev/null || { fail "proxy reset refused"; return 1; }
	code=$(curl -s --max-time 20 -o "$W/good.body" -w '%{http_code}' "http://$LVL/v2/library/oci-image/blobs/$big?ns=docker.io")
	assert_eq 200 "$code" "blob through line2 without corruption" || return
	assert_eq "$big" "$(sha_of "$W/good.body")" "blob through line2 without corruption" || return
	assert_file_digest "$L2_STORE/blobs/sha256/${big#sha256:}" "$big" "$sz"
}

# ---- step 8: a namespace the line does not mirror --------------------------------
case_unknown_ns() {
	need LINE 4 || return
	local before; before=$(wc -l <"${SRV_LOG_plant:-/dev/null}")
	http GET "http://$LINE/v2/library/oci-image/manifests/v1?ns=unknown.example" -H "Accept: $ACCEPT"
	assert_http 404 "" "line ?ns=unknown.example" || return
	http GET "http://$LINE/v2/library/nothing/blobs/$LIB_DG?ns=unknown.example"
	assert_http 404 "" "line blob ?ns=unknown.example" || return
	assert_eq "$before" "$(wc -l <"${SRV_LOG_plant:-/dev/null}")" "plant access log lines (nothing asked upstream)" || return
	assert_eq "" "$(grep -F unknown.example "${SRV_LOG_plant:-/dev/null}")" "plant access log"
}

run_case "step 1: origin seeded (multi-layer image, index, library/ for docker.io)" case_origin
run_case "step 0: containerd (hosts.toml) and podman (registries.conf) configs against a plain serve" case_clients_plain
run_case "step 2: enterprise serve --upstream fills docker.io from the origin as mirror" case_enterprise
run_case "step 3: plant sync through the enterprise (mirrors), store names and digests; plant serve" case_plant_sync
run_case "step 4: line serve --upstream through the plant" case_line
if command -v containerd >/dev/null && command -v ctr >/dev/null; then
	run_case "step 4: containerd pulls an origin-only image through line->plant->enterprise->origin" case_containerd
else
	skip_case "step 4: containerd pull through the line" "containerd/ctr not installed"
fi
if command -v podman >/dev/null; then
	run_case "step 4: podman (registries.conf mirror) pulls an origin-only index through the line" case_podman
else
	skip_case "step 4: podman pull through the line" "podman not installed"
fi
run_case "step 5: $CONC concurrent pulls at the line: one GET per blob at origin, enterprise, plant" case_concurrent
run_case "step 6: origin and enterprise stopped: the line answers what it has within 10 s" case_stopped
run_case "step 7: corrupting proxy line2->plant: refused, not stored; then it works" case_corrupt
run_case "step 8: ?ns=unknown.example at the line: 404, nothing asked upstream" case_unknown_ns
