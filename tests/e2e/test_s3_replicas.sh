#!/usr/bin/env bash
# e2e: one bucket (Ceph RGW, lib/ceph.sh), one `sync` writer, two `serve`
# replicas: containerd pulls through replica A and skopeo copies through
# replica B, both getting the upstream's digests; the writer lease
# (lease=3): a writer killed with kill -9 while it holds it keeps a second
# writer out (exit 3) until it expires, then a sync proceeds and `verify`
# passes; gc on the bucket removes only what no tag reaches, and stale
# multipart uploads under the store's prefix.
# e2e-needs: s3
# e2e-file-timeout: 300
. "$(dirname "$0")/lib/prologue.sh"
s3_require

W=$E2E_WORK
BKT=$(s3_bucket replicas) || e2e_setup_fail "cannot create a bucket on $S3_ENDPOINT"
PFX=store
S3="$(s3_url "$BKT" "$PFX")&lease=3"
OCI_REPO=$(e_ref "$EXP_OPEN" oci-image repo)
OCI_DG=$(e_ref "$EXP_OPEN" oci-image digest)
MA_REPO=$(e_ref "$EXP_OPEN" multiarch repo)
SRC=e2e/replicas-src

variant() { # TAG N -> digest (an image of its own under $SRC:TAG)
	"$PYTHON" "$E2E_LIB/variant.py" "$REG_OPEN" "$OCI_REPO" v1 "$SRC" "$1" "$2"
}
V1=$(variant 1.0.0 r1) || e2e_setup_fail "variant 1.0.0 failed"
V2=$(variant 2.0.0 r2) || e2e_setup_fail "variant 2.0.0 failed"

# sync_cfg SEMVER: the writer's configuration, through the fault proxy;
# oci-image twice: under the upstream's name (containerd's ?ns=HOST:PORT)
# and a plain one (skopeo cannot name a repository path holding host:port)
sync_cfg() {
	CFG=$W/sync.yaml
	cat >"$CFG" <<EOT
defaults:
  platforms: [linux/arm64]
sync:
  - source: $REG_PROXY/$OCI_REPO:v1
    destination: $REG_OPEN/$OCI_REPO
  - source: $REG_PROXY/$OCI_REPO:v1
    destination: plain/oci-image
  - source: $REG_PROXY/$MA_REPO:v1
    destination: $REG_OPEN/$MA_REPO
  - source: $REG_PROXY/$SRC
    destination: $REG_OPEN/$SRC
    tags: {semver: "$1"}
    prune: true
EOT
}

# blob_keys: the hex names of the objects under the store's blobs/sha256/
blob_keys() { s3tool ls "$BKT" "$PFX/blobs/sha256/" --recursive | awk '{print $2}' | sed 's|.*/||' | sort; }

c_writer_fills() {
	proxy_reset
	sync_cfg ">=1.0.0"
	assert_exit 0 om --store "$S3" sync -c "$CFG" || return
	assert_exit 0 om --store "$S3" ls || return
	assert_contains "$(out)" "$REG_OPEN/$OCI_REPO" "ls" || return
	assert_contains "$(out)" "$REG_OPEN/$SRC" "ls" || return
	serve_start a "$S3" --anonymous-read || return
	A=$SRV A_LOG=$SRV_LOG
	serve_start b "$S3" --anonymous-read || return
	B=$SRV
}

c_containerd_via_a() {
	[ -n "${A:-}" ] || { fail "no replica A"; return 1; }
	local d=$W/containerd
	mkdir -p "$d/hosts/$REG_OPEN" "$d/root" "$d/state" || return
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
	# the upstream as the fallback would hide a failing mirror: nothing listens there
	cat >"$d/hosts/$REG_OPEN/hosts.toml" <<-EOF
	server = "http://127.0.0.1:9"
	[host."http://$A"]
	  capabilities = ["pull", "resolve"]
	EOF
	containerd --config "$d/config.toml" >"$d/containerd.log" 2>&1 </dev/null &
	local cpid=$! got
	bg_track "$cpid"
	for _ in $(seq 1 100); do
		ctr --address "$d/c.sock" --timeout 2s version >/dev/null 2>&1 && break
		kill -0 "$cpid" 2>/dev/null || break
		sleep 0.1
	done
	ctr --address "$d/c.sock" version >/dev/null 2>&1 ||
		{ fail "containerd did not start: $(tail -n 3 "$d/containerd.log" | tr '\n' ' ')"; return 1; }
	timeout 90 ctr --address "$d/c.sock" images pull --plain-http --snapshotter native --hosts-dir "$d/hosts" \
		"$REG_OPEN/$OCI_REPO:v1" >"$d/pull.out" 2>&1 ||
		{ fail "ctr pull: $(tail -n 3 "$d/pull.out" | tr '\n' ' ')"; serve_stop "$cpid"; return 1; }
	got=$(ctr --address "$d/c.sock" images ls 2>/dev/null | awk 'NR>1 {print $3}')
	serve_stop "$cpid"
	assert_eq "$OCI_DG" "$got" "containerd's digest via replica A" || return
	assert_match "$(cat "$A_LOG")" "(HEAD|GET) /v2/$OCI_REPO/manifests/v1\?ns=$REG_OPEN 200 " "replica A's access log (manifest)" || return
	assert_match "$(cat "$A_LOG")" "GET /v2/$OCI_REPO/blobs/sha256:[0-9a-f]{64}\?ns=$REG_OPEN 200 " "replica A's access log (blob)"
}

c_skopeo_via_b() {
	[ -n "${B:-}" ] || { fail "no replica B"; return 1; }
	local l=$W/sk-layout out=$W/skopeo.out got
	timeout 60 skopeo copy -q --preserve-digests --src-tls-verify=false \
		"docker://$B/plain/oci-image:v1" "oci:$l:v1" >"$out" 2>&1 ||
		{ fail "skopeo copy via replica B: $(tail -n 3 "$out" | tr '\n' ' ')"; return 1; }
	got=$("$PYTHON" -c 'import json,sys; print(json.load(open(sys.argv[1]))["manifests"][0]["digest"])' "$l/index.json")
	assert_eq "$OCI_DG" "$got" "skopeo's digest via replica B" || return
	# the other variant, whole, through B as well: the same bytes as the upstream's manifest
	got=$(curl -sf -m 30 -H 'Accept: application/vnd.oci.image.manifest.v1+json' \
		"http://$B/v2/$REG_OPEN/$SRC/manifests/2.0.0" | sha256sum | cut -d' ' -f1)
	assert_eq "$V2" "sha256:$got" "manifest $SRC:2.0.0 via replica B"
}

c_killed_writer_lease() {
	proxy_reset
	# a new tag: the only manifest GET of the run (the others are HEADs
	# answered "unchanged"), held in the proxy's stall
	proxy_fault '{"mode":"stall","match":"/manifests/","after":0,"stall":20,"count":1,"method":"GET"}' || return
	local v3; v3=$(variant 3.0.0 "r3-$RANDOM") || { fail "variant 3.0.0 failed"; return 1; }
	OCIMIRROR_STALL_TIMEOUT=60 "$OCIMIRROR" --store "$S3" sync -c "$CFG" >"$W/w1.out" 2>&1 </dev/null &
	local w1=$! rc=0
	bg_track "$w1"
	for _ in $(seq 1 150); do
		[ "$(proxy_count GET /manifests/)" -ge 1 ] && break
		sleep 0.1
	done
	assert_eq 1 "$(proxy_count GET /manifests/)" "the writer held in the stall" || { kill -9 "$w1"; return 1; }
	s3tool head "$BKT" "$PFX/lock" >/dev/null || { kill -9 "$w1"; fail "no lease object $PFX/lock"; return 1; }
	kill -9 "$w1"
	wait "$w1" 2>/dev/null
	om --store "$S3" sync -c "$CFG" || rc=$?
	assert_eq 3 "$rc" "a writer while the killed one's lease holds" || return
	assert_contains "$(alltext)" "lock" "message" || return
	sleep 4 # lease=3: expired
	assert_exit 0 om --store "$S3" sync -c "$CFG" || return
	assert_exit 0 om --store "$S3" verify || return
	s3tool get "$BKT" "$PFX/repositories/$REG_OPEN/$SRC/_tags/3.0.0" "$W/tag-3.0.0" ||
		{ fail "no tag record 3.0.0 after the takeover"; return 1; }
	assert_eq "$v3" "$(json_field "$W/tag-3.0.0" digest)" "tag 3.0.0 after the takeover"
}

c_gc_unreachable_only() {
	local before after mirror=$W/gc-view vdg up
	# 1.0.0 leaves the selection: pruned, its manifest and config unreachable
	sync_cfg ">=2.0.0"
	assert_exit 0 om --store "$S3" sync -c "$CFG" || return
	before=$(blob_keys)
	assert_contains "$before" "${V1#sha256:}" "1.0.0's manifest before gc" || return
	up=$(s3tool mpu-start "$BKT" "$PFX/blobs/sha256/stale-upload") || { fail "mpu-start failed"; return 1; }
	assert_contains "$(s3tool mpu-ls "$BKT" "$PFX/")" "$up" "the stale upload" || return
	# stale=0: multipart uploads of any age go (by default only those
	# idle for a day, whatever the grace: replicas use them unlocked)
	assert_exit 0 om --store "$S3&stale=0" gc --grace 0 || return
	after=$(blob_keys)
	assert_not_contains "$after" "${V1#sha256:}" "1.0.0's manifest after gc" || return
	assert_contains "$after" "${V2#sha256:}" "2.0.0's manifest after gc" || return
	assert_contains "$after" "${OCI_DG#sha256:}" "oci-image's manifest after gc" || return
	# every blob a tag reaches is there, with its bytes
	rm -rf "$mirror"
	s3tool mirror "$BKT" "$PFX/" "$mirror" || { fail "mirror failed"; return 1; }
	"$PYTHON" "$E2E_LIB/check_store.py" "$mirror" || { fail "after gc: store inconsistent"; return 1; }
	# removed: 1.0.0's manifest and nothing else (the variants share the
	# config and layers with oci-image:v1, which stays tagged)
	vdg=$(comm -23 <(echo "$before") <(echo "$after") | tr '\n' ' ')
	assert_eq "${V1#sha256:} " "$vdg" "blobs removed by gc" || return
	assert_eq "" "$(comm -13 <(echo "$before") <(echo "$after"))" "blobs that appeared during gc" || return
	assert_eq "" "$(s3tool mpu-ls "$BKT" "$PFX/")" "multipart uploads after gc" || return
	assert_exit 0 om --store "$S3" verify
}

run_case "s3 replicas: a sync writer fills the bucket, two replicas serve it" c_writer_fills
if command -v containerd >/dev/null && command -v ctr >/dev/null; then
	run_case "s3 replicas: containerd pulls through replica A" c_containerd_via_a
else
	skip_case "s3 replicas: containerd pulls through replica A" "containerd/ctr not installed"
fi
run_case "s3 replicas: skopeo copies through replica B, same digests" c_skopeo_via_b
run_case "s3 replicas: a writer killed holding the lease: exit 3, then after expiry a sync and verify pass" c_killed_writer_lease
run_case "s3 replicas: gc --grace 0 removes only unreachable blobs and stale multipart uploads" c_gc_unreachable_only
