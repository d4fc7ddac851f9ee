#!/usr/bin/env bash
# e2e: `ocimirror serve` — real clients (skopeo, podman, containerd/ctr),
# curl-driven pushes, manifests and referrers, pagination, Range, auth,
# hostile input, concurrency, metrics and shutdown.
# Run by tests/e2e/run.sh, which exports OCIMIRROR, REG_*, EXP_*, E2E_*.
. "$(dirname "$0")/lib/prologue.sh"

ACCEPT='application/vnd.oci.image.manifest.v1+json,application/vnd.oci.image.index.v1+json,application/vnd.docker.distribution.manifest.v2+json,application/vnd.docker.distribution.manifest.list.v2+json'
MT_M=application/vnd.oci.image.manifest.v1+json
MT_I=application/vnd.oci.image.index.v1+json
CREDS=$E2E_USER:$E2E_PASS
W=$E2E_WORK
HTP=$W/htpasswd
htpasswd -Bbn "$E2E_USER" "$E2E_PASS" >"$HTP" 2>/dev/null || e2e_die "htpasswd failed"

# expectations (seed.py) for the fixtures
OCI_DG=$(e_ref "$EXP_OPEN" oci-image digest)
OCI_SZ=$(e_ref "$EXP_OPEN" oci-image size)
MA_DG=$(e_ref "$EXP_OPEN" multiarch digest)
DI_DG=$(e_ref "$EXP_OPEN" docker-image digest)
DI_MT=$(e_ref "$EXP_OPEN" docker-image mediaType)
SBOM_DG=$(e_ref "$EXP_OPEN" sbom digest)
# "digest size" of the oci-image's blobs (config + layers), largest first
OCI_BLOBS=$(exp_get "$EXP_OPEN" "[b['digest']+' '+str(b['size']) for b in sorted(d['refs']['oci-image']['blobs'], key=lambda b: -b['size'])]")
BIG_DG=$(echo "$OCI_BLOBS" | head -n 1 | cut -d' ' -f1)
BIG_SZ=$(echo "$OCI_BLOBS" | head -n 1 | cut -d' ' -f2)
MA_BLOBS=$(exp_get "$EXP_OPEN" "sorted(set(b['digest']+' '+str(b['size']) for c in d['refs']['multiarch']['children'].values() for b in c['blobs']))")

# ------------------------------------------------------------- fixtures
# FIX: a store filled by `ocimirror pull` from the seeded registry, with the
# repositories renamed so clients can name them: e2e/oci-image, e2e/multiarch
# (plain names, as a push without a host would store them), the same two
# under docker.io/library/ (for ?ns=docker.io), and e2e/docker-image kept
# under its full name $REG_OPEN/e2e/docker-image.
FIX=$W/fixture
make_fixture() {
	rm -rf "$FIX"
	STORE=$FIX STORE_ROOT=$FIX/
	assert_exit 0 om --store "$FIX" pull --referrers "$REG_OPEN/e2e/oci-image:v1" \
		"$REG_OPEN/e2e/multiarch:v1" "$REG_OPEN/e2e/docker-image:v1" || return
	local r=$FIX/repositories
	mkdir -p "$r/e2e" "$r/docker.io/library" || return
	mv "$r/$REG_OPEN/e2e/oci-image" "$r/e2e/oci-image" &&
		mv "$r/$REG_OPEN/e2e/multiarch" "$r/e2e/multiarch" &&
		cp -a "$r/e2e/oci-image" "$r/docker.io/library/oci-image" &&
		cp -a "$r/e2e/multiarch" "$r/docker.io/library/multiarch" || { fail "renaming repositories failed"; return 1; }
	assert_tag e2e oci-image v1 "$OCI_DG" || return
	assert_tag "$REG_OPEN" e2e/docker-image v1 "$DI_DG"
}
# copy_store NAME: a private copy of the fixture (one server per store)
copy_store() { cp -a "$FIX" "$W/store-$1" && echo "$W/store-$1"; }

case_start_main() {
	make_fixture || return
	MAIN=$(copy_store main) || { fail "copy failed"; return 1; }
	# --max-conns-per-ip 0: case_idle_connections holds 1000 from loopback
	serve_start main "$MAIN" --htpasswd "$HTP" --anonymous-read --push --delete \
		--max-conns-per-ip 0 || return
	MAIN_SRV=$SRV
	MAIN_PID=$SRV_PID
	MAIN_LOG=$SRV_LOG
	assert_contains "$(cat "$SRV_LOG")" "serving" "startup line"
}

S() { echo "http://$MAIN_SRV$1"; } # S PATH: URL on the main server

# push_blob SRVURL REPO FILE: monolithic POST ?digest= (authenticated)
push_blob() {
	http POST "$1/v2/$2/blobs/uploads/?digest=$(sha_of "$3")" -u "$CREDS" \
		-H 'Content-Type: application/octet-stream' --data-binary "@$3"
	assert_http 201 "" "push blob $3" || return
	assert_eq "$(sha_of "$3")" "$(hdr Docker-Content-Digest)" "Docker-Content-Digest of pushed blob"
}

# mkmanifest OUT CONFIG-FILE [LAYER-FILE...] [-- key=value...]: an OCI image
# manifest; options after --: artifactType=T subject=DG:SIZE:MT config_mt=T pad=N
mkmanifest() {
	local out=$1; shift
	"$PYTHON" - "$out" "$@" <<-'PY'
	import hashlib, json, os, sys
	out, args = sys.argv[1], sys.argv[2:]
	files, opts = [], {}
	if "--" in args:
	    i = args.index("--"); files, kv = args[:i], args[i+1:]
	    opts = dict(a.split("=", 1) for a in kv)
	else:
	    files = args
	def desc(f, mt):
	    b = open(f, "rb").read()
	    return {"mediaType": mt, "digest": "sha256:" + hashlib.sha256(b).hexdigest(), "size": len(b)}
	m = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
	     "config": desc(files[0], opts.get("config_mt", "application/vnd.oci.image.config.v1+json")),
	     "layers": [desc(f, "application/vnd.oci.image.layer.v1.tar") for f in files[1:]]}
	if "artifactType" in opts: m["artifactType"] = opts["artifactType"]
	if "subject" in opts:
	    p = opts["subject"].split(":")
	    m["subject"] = {"mediaType": ":".join(p[3:]), "digest": p[0] + ":" + p[1], "size": int(p[2])}
	if "pad" in opts: m["annotations"] = {"e2e.pad": "x" * int(opts["pad"])}
	if "note" in opts: m.setdefault("annotations", {})["e2e.note"] = opts["note"]
	open(out, "wb").write(json.dumps(m, separators=(",", ":")).encode())
	PY
}

# put_manifest SRVURL REPO REF FILE [MEDIATYPE]
put_manifest() {
	http PUT "$1/v2/$2/manifests/$3" -u "$CREDS" -H "Content-Type: ${5:-$MT_M}" --data-binary "@$4"
}

# a small image pushed with curl: $W/img/{config,l1,l2,manifest}
make_image() {
	mkdir -p "$W/img"
	printf '{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]},"e2e":"%s"}' "$1" >"$W/img/config"
	head -c 70000 /dev/urandom >"$W/img/l1"
	head -c 1234 /dev/urandom >"$W/img/l2"
	mkmanifest "$W/img/manifest" "$W/img/config" "$W/img/l1" "$W/img/l2"
}

# ------------------------------------------------------------- read side
case_pull_values() {
	# by tag, by digest, HEAD, and a docker v2 manifest under its full name
	http GET "$(S /v2/e2e/oci-image/manifests/v1)" -H "Accept: $ACCEPT"
	assert_http 200 || return
	assert_eq "$OCI_DG" "$(sha_of "$HTTP_BODY")" "manifest body digest" || return
	assert_eq "$OCI_DG" "$(hdr Docker-Content-Digest)" "Docker-Content-Digest" || return
	assert_eq "$MT_M" "$(hdr Content-Type)" "Content-Type" || return
	assert_eq "\"$OCI_DG\"" "$(hdr ETag)" "ETag" || return
	assert_eq "$OCI_SZ" "$(hdr Content-Length)" "Content-Length" || return
	http HEAD "$(S "/v2/e2e/oci-image/manifests/$OCI_DG")"
	assert_http 200 || return
	assert_eq "$OCI_SZ" "$(hdr Content-Length)" "HEAD Content-Length" || return
	assert_eq "$OCI_DG" "$(hdr Docker-Content-Digest)" "HEAD Docker-Content-Digest" || return
	http GET "$(S "/v2/$REG_OPEN/e2e/docker-image/manifests/v1")"
	assert_http 200 || return
	assert_eq "$DI_DG" "$(sha_of "$HTTP_BODY")" "docker-image manifest" || return
	assert_eq "$DI_MT" "$(hdr Content-Type)" "docker-image Content-Type" || return
	local dg sz
	while read -r dg sz; do
		http GET "$(S "/v2/e2e/oci-image/blobs/$dg")"
		assert_http 200 "" "blob $dg" || return
		assert_eq "$dg" "$(sha_of "$HTTP_BODY")" "blob body" || return
		assert_eq "$sz" "$(hdr Content-Length)" "blob Content-Length" || return
		assert_eq "$dg" "$(hdr Docker-Content-Digest)" "blob Docker-Content-Digest" || return
	done <<<"$OCI_BLOBS"
	http GET "$(S "/v2/e2e/oci-image/manifests/$OCI_DG")" -H "If-None-Match: \"$OCI_DG\""
	assert_http 304 || return
	# unknowns
	http GET "$(S /v2/e2e/oci-image/manifests/nope)"
	assert_http 404 MANIFEST_UNKNOWN || return
	http GET "$(S /v2/e2e/no-such-repo/manifests/v1)"
	assert_http 404 NAME_UNKNOWN || return
	http GET "$(S "/v2/e2e/oci-image/blobs/sha256:$(printf '0%.0s' $(seq 64))")"
	assert_http 404 BLOB_UNKNOWN || return
	# a blob of another repository is not served from this one
	http GET "$(S "/v2/e2e/oci-image/blobs/$(echo "$MA_BLOBS" | head -n 1 | cut -d' ' -f1)")"
	assert_http 404 BLOB_UNKNOWN "blob of another repo"
}

case_ns_mapping() {
	http GET "$(S "/v2/library/multiarch/manifests/v1?ns=docker.io")" -H "Accept: $ACCEPT"
	assert_http 200 || return
	assert_eq "$MA_DG" "$(sha_of "$HTTP_BODY")" "index via ns" || return
	assert_eq "$MT_I" "$(hdr Content-Type)" "index Content-Type" || return
	http GET "$(S "/v2/docker.io/library/multiarch/manifests/v1")"
	assert_http 200 "" "full name" || return
	assert_eq "$MA_DG" "$(sha_of "$HTTP_BODY")" "index via full name" || return
	# docker's registry-mirrors send neither host nor ns: Docker Hub
	http GET "$(S "/v2/library/multiarch/manifests/v1")" -H "Accept: $ACCEPT"
	assert_http 200 "" "without ns, from docker.io" || return
	assert_eq "$MA_DG" "$(sha_of "$HTTP_BODY")" "index via the docker.io fallback" || return
	http GET "$(S "/v2/library/no-such-image/manifests/v1")"
	assert_http 404 NAME_UNKNOWN "unknown without ns" || return
	local dg; dg=$(echo "$MA_BLOBS" | head -n 1 | cut -d' ' -f1)
	http GET "$(S "/v2/library/multiarch/blobs/$dg?ns=docker.io")"
	assert_http 200 || return
	assert_eq "$dg" "$(sha_of "$HTTP_BODY")" "blob via ns" || return
	http GET "$(S "/v2/library/multiarch/tags/list?ns=docker.io")"
	assert_http 200 || return
	assert_eq '{"name":"library/multiarch","tags":["v1"]}' "$(body)" "tags via ns" || return
	http GET "$(S "/v2/library/multiarch/manifests/v1?ns=docker.io/evil")"
	assert_http 400 NAME_INVALID "ns with a slash" || return
	http GET "$(S "/v2/library/multiarch/manifests/v1?ns=..")"
	assert_http 400 NAME_INVALID "ns=.."
}

case_referrers_from_pull() {
	# pull --referrers stored the sbom; the referrers API returns it
	http GET "$(S "/v2/e2e/oci-image/referrers/$OCI_DG")"
	assert_http 200 || return
	assert_eq "$MT_I" "$(hdr Content-Type)" "Content-Type" || return
	assert_eq "$SBOM_DG" "$("$PYTHON" -c 'import json,sys; print(" ".join(m["digest"] for m in json.load(open(sys.argv[1]))["manifests"]))' "$HTTP_BODY")" "referrers"
}

# ------------------------------------------------------------- real clients
case_skopeo_roundtrip() {
	local l1=$W/sk-layout1 l2=$W/sk-layout2 out=$W/skopeo.out
	rm -rf "$l1" "$l2"
	timeout 60 skopeo copy -q --all --preserve-digests --src-tls-verify=false \
		"docker://$MAIN_SRV/e2e/multiarch:v1" "oci:$l1:v1" >"$out" 2>&1 ||
		{ fail "skopeo copy from serve: $(tail -n 3 "$out" | tr '\n' ' ')"; return 1; }
	assert_eq "$MA_DG" "$("$PYTHON" -c 'import json,sys; print(json.load(open(sys.argv[1]))["manifests"][0]["digest"])' "$l1/index.json")" "layout index digest" || return
	local f
	for f in "$l1"/blobs/sha256/*; do
		assert_eq "${f##*/}" "$(sha256sum <"$f" | cut -d' ' -f1)" "layout blob" || return
	done
	# and back into the server under a new name, authenticated
	timeout 60 skopeo copy -q --all --preserve-digests --dest-tls-verify=false --dest-creds "$CREDS" \
		"oci:$l1:v1" "docker://$MAIN_SRV/e2e/roundtrip:v2" >"$out" 2>&1 ||
		{ fail "skopeo copy into serve: $(tail -n 3 "$out" | tr '\n' ' ')"; return 1; }
	assert_eq "$MA_DG" "$(json_field "$MAIN/repositories/e2e/roundtrip/_tags/v2" digest)" "tag record in the server's store" || return
	http GET "$(S /v2/e2e/roundtrip/manifests/v2)" -H "Accept: $ACCEPT"
	assert_http 200 || return
	assert_eq "$MA_DG" "$(sha_of "$HTTP_BODY")" "pushed index" || return
	timeout 60 skopeo copy -q --all --preserve-digests --src-tls-verify=false \
		"docker://$MAIN_SRV/e2e/roundtrip:v2" "oci:$l2:v2" >"$out" 2>&1 ||
		{ fail "skopeo copy back: $(tail -n 3 "$out" | tr '\n' ' ')"; return 1; }
	assert_eq "$(cd "$l1/blobs/sha256" && ls | sort)" "$(cd "$l2/blobs/sha256" && ls | sort)" "blob sets of the two layouts" || return
	# the pushed repository is stored under its plain name
	[ -d "$MAIN/repositories/e2e/roundtrip/_tags" ] || { fail "no repositories/e2e/roundtrip/_tags"; return; }
	# and `inspect store:` finds it by that plain name
	assert_exit 0 om --store "$MAIN" inspect --raw store:e2e/roundtrip:v2 || return
	assert_eq "$MA_DG" "sha256:$(sha256sum "$OUT" | cut -d' ' -f1)" "inspect store: of a local name"
}

PODMAN_DIR=$W/podman
PODMAN_RUN= # podman wants a runroot path under 50 characters
podman_() { # podman with private storage and config
	mkdir -p "$PODMAN_DIR"
	if [ -z "$PODMAN_RUN" ]; then
		PODMAN_RUN=$(mktemp -d /tmp/ocimirror-podman.XXXXXX) || return 1
		serve_rm_at_exit "$PODMAN_RUN"
	fi
	: >"$PODMAN_DIR/registries.conf"
	: >"$PODMAN_DIR/containers.conf"
	CONTAINERS_REGISTRIES_CONF=$PODMAN_DIR/registries.conf CONTAINERS_CONF=$PODMAN_DIR/containers.conf \
		timeout 90 podman --root "$PODMAN_DIR/root" --runroot "$PODMAN_RUN/${PODMAN_DIR##*/}" --tmpdir "$PODMAN_DIR/tmp" \
		--storage-driver vfs --cgroup-manager cgroupfs --events-backend file "$@"
}

case_podman_pull() {
	command -v podman >/dev/null || { fail "podman not installed (scripts/deps.sh)"; return 1; }
	podman_ pull -q --tls-verify=false "$MAIN_SRV/e2e/oci-image:v1" >"$W/podman.out" 2>&1 ||
		{ fail "podman pull: $(tail -n 3 "$W/podman.out" | tr '\n' ' ')"; return 1; }
	assert_eq "$OCI_DG" "$(podman_ image inspect --format '{{.Digest}}' "$MAIN_SRV/e2e/oci-image:v1" 2>&1)" "podman image digest"
}

TLS=$W/tls
make_tls() {
	mkdir -p "$TLS" && cd "$TLS" || return 1
	{
		openssl req -x509 -newkey rsa:2048 -nodes -sha256 -days 2 -subj "/CN=ocimirror e2e CA" \
			-addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign \
			-keyout ca.key -out ca.crt &&
			openssl req -newkey rsa:2048 -nodes -sha256 -subj "/CN=127.0.0.1" -keyout server.key -out server.csr &&
			printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n' >ext.cnf &&
			openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 2 -sha256 \
				-extfile ext.cnf -out server.crt
	} >"$TLS/openssl.log" 2>&1
	local rc=$?
	cd - >/dev/null || true
	[ $rc -eq 0 ] || fail "openssl: $(tail -n 3 "$TLS/openssl.log" | tr '\n' ' ')"
	return $rc
}

case_tls_podman() {
	make_tls || return
	local st; st=$(copy_store tls) || return
	serve_start tls "$st" --tls-cert "$TLS/server.crt" --tls-key "$TLS/server.key" || return
	local url=https://$SRV
	assert_eq 200 "$(curl -s -o /dev/null -w '%{http_code}' -m 10 --cacert "$TLS/ca.crt" "$url/v2/")" "curl with the CA" || return
	assert_ne 200 "$(curl -s -o /dev/null -w '%{http_code}' -m 10 "$url/v2/")" "curl without the CA" || return
	assert_eq "$OCI_DG" "sha256:$(curl -s -m 10 --cacert "$TLS/ca.crt" "$url/v2/e2e/oci-image/manifests/v1" | sha256sum | cut -d' ' -f1)" "manifest over TLS" || return
	mkdir -p "$TLS/certs.d" && cp "$TLS/ca.crt" "$TLS/certs.d/ca.crt"
	local PODMAN_DIR=$W/podman-tls # own image storage: every blob comes over TLS
	# without the CA: refused
	if podman_ pull -q "$SRV/e2e/oci-image:v1" >"$W/podman-tls.out" 2>&1; then
		fail "podman pull without the CA succeeded"; return 1
	fi
	podman_ pull -q --cert-dir "$TLS/certs.d" "$SRV/e2e/oci-image:v1" >"$W/podman-tls.out" 2>&1 ||
		{ fail "podman pull over TLS: $(tail -n 3 "$W/podman-tls.out" | tr '\n' ' ')"; return 1; }
	assert_eq "$OCI_DG" "$(podman_ image inspect --format '{{.Digest}}' "$SRV/e2e/oci-image:v1" 2>&1)" "podman image digest" || return
	assert_match "$(cat "$SRV_LOG")" "GET /v2/e2e/oci-image/blobs/$BIG_DG 200 $BIG_SZ " "TLS access log"
	serve_stop "$SRV_PID"
}

case_containerd() {
	local d=$W/containerd
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
	[plugins."io.containerd.grpc.v1.cri".registry]
	  config_path = "$d/hosts"
	EOF
	cat >"$d/hosts/docker.io/hosts.toml" <<-EOF
	server = "https://registry-1.docker.io"
	[host."http://$MAIN_SRV"]
	  capabilities = ["pull", "resolve"]
	EOF
	containerd --config "$d/config.toml" >"$d/containerd.log" 2>&1 </dev/null &
	local cpid=$!
	bg_track "$cpid"
	local i
	for i in $(seq 1 100); do
		ctr --address "$d/c.sock" --timeout 2s version >/dev/null 2>&1 && break
		kill -0 "$cpid" 2>/dev/null || break
		sleep 0.1
	done
	ctr --address "$d/c.sock" version >/dev/null 2>&1 ||
		{ fail "containerd did not start: $(tail -n 3 "$d/containerd.log" | tr '\n' ' ')"; return 1; }
	local before; before=$(wc -l <"$MAIN_LOG")
	timeout 90 ctr --address "$d/c.sock" images pull --snapshotter native --hosts-dir "$d/hosts" \
		docker.io/library/oci-image:v1 >"$d/pull.out" 2>&1 ||
		{ fail "ctr pull: $(tail -n 3 "$d/pull.out" | tr '\n' ' ')"; serve_stop "$cpid"; return 1; }
	local got; got=$(ctr --address "$d/c.sock" images ls -q 2>/dev/null)
	assert_eq docker.io/library/oci-image:v1 "$got" "ctr images" || { serve_stop "$cpid"; return 1; }
	got=$(ctr --address "$d/c.sock" images ls 2>/dev/null | awk 'NR>1 {print $3}')
	assert_eq "$OCI_DG" "$got" "containerd image digest" || { serve_stop "$cpid"; return 1; }
	# index (multi-platform) through the mirror as well, this platform only
	timeout 90 ctr --address "$d/c.sock" content fetch --hosts-dir "$d/hosts" --platform linux/arm64 \
		docker.io/library/multiarch:v1 >"$d/fetch.out" 2>&1 ||
		{ fail "ctr content fetch: $(tail -n 3 "$d/fetch.out" | tr '\n' ' ')"; serve_stop "$cpid"; return 1; }
	serve_stop "$cpid"
	local log; log=$(tail -n +"$((before + 1))" "$MAIN_LOG")
	assert_match "$log" "GET /v2/library/oci-image/manifests/$OCI_DG\?ns=docker\.io 200 $OCI_SZ " "access log (manifest via ns)" || return
	assert_match "$log" "GET /v2/library/oci-image/blobs/$BIG_DG\?ns=docker\.io 200 $BIG_SZ " "access log (blob via ns)" || return
	assert_match "$log" "GET /v2/library/multiarch/manifests/$MA_DG\?ns=docker\.io 200 " "access log (index via ns)" || return
	assert_not_contains "$log" " 404 " "access log of the containerd pulls"
}

# ------------------------------------------------------------- uploads (curl)
# new_upload REPO: POST, sets LOC (path of the session)
new_upload() {
	http POST "$(S "/v2/$1/blobs/uploads/")" -u "$CREDS"
	assert_http 202 "" "POST upload" || return
	LOC=$(hdr Location)
	assert_match "$LOC" "^/v2/$1/blobs/uploads/[0-9a-f]+$" "Location" || return
	assert_eq "${LOC##*/}" "$(hdr Docker-Upload-UUID)" "Docker-Upload-UUID"
}
tmp_list() { (cd "$MAIN/tmp" && ls -A | sort); }

case_upload_chunked() {
	local f=$W/chunked.bin dg
	head -c 300000 /dev/urandom >"$f"
	dg=$(sha_of "$f")
	head -c 100000 "$f" >"$W/c1"; tail -c +100001 "$f" | head -c 100000 >"$W/c2"; tail -c +200001 "$f" >"$W/c3"
	new_upload e2e/up-chunked || return
	http PATCH "$(S "$LOC")" -u "$CREDS" -H 'Content-Type: application/octet-stream' -H 'Content-Range: 0-99999' --data-binary "@$W/c1"
	assert_http 202 "" "PATCH 1" || return
	assert_eq 0-99999 "$(hdr Range)" "Range after chunk 1" || return
	LOC=$(hdr Location)
	# out of order: 416 with the current Range, the session survives
	http PATCH "$(S "$LOC")" -u "$CREDS" -H 'Content-Range: 200000-299999' --data-binary "@$W/c3"
	assert_http 416 "" "out-of-order PATCH" || return
	assert_eq 0-99999 "$(hdr Range)" "Range after 416" || return
	http GET "$(S "$LOC")" -u "$CREDS"
	assert_http 204 "" "upload status" || return
	assert_eq 0-99999 "$(hdr Range)" "status Range" || return
	assert_eq "$LOC" "$(hdr Location)" "status Location" || return
	http PATCH "$(S "$LOC")" -u "$CREDS" -H 'Content-Range: 100000-199999' --data-binary "@$W/c2"
	assert_http 202 "" "PATCH 2" || return
	assert_eq 0-199999 "$(hdr Range)" "Range after chunk 2" || return
	# the last chunk with the closing PUT
	http PUT "$(S "$LOC?digest=$dg")" -u "$CREDS" -H 'Content-Range: 200000-299999' --data-binary "@$W/c3"
	assert_http 201 "" "PUT ?digest=" || return
	assert_eq "$dg" "$(hdr Docker-Content-Digest)" "Docker-Content-Digest" || return
	assert_eq "/v2/e2e/up-chunked/blobs/$dg" "$(hdr Location)" "blob Location" || return
	http GET "$(S "/v2/e2e/up-chunked/blobs/$dg")"
	assert_http 200 || return
	assert_eq "$dg" "$(sha_of "$HTTP_BODY")" "stored blob" || return
	assert_file_digest "$MAIN/blobs/sha256/${dg#sha256:}" "$dg" 300000 || return
	# the session is gone
	http GET "$(S "$LOC")" -u "$CREDS"
	assert_http 404 BLOB_UPLOAD_UNKNOWN "finished session"
}

case_upload_streamed() {
	local f=$W/streamed.bin dg
	head -c 1500000 /dev/urandom >"$f"
	dg=$(sha_of "$f")
	new_upload e2e/up-streamed || return
	# no Content-Range, chunked transfer encoding
	http PATCH "$(S "$LOC")" -u "$CREDS" -H 'Content-Type: application/octet-stream' \
		-H 'Transfer-Encoding: chunked' --data-binary "@$f"
	assert_http 202 "" "streamed PATCH" || return
	assert_eq 0-1499999 "$(hdr Range)" "Range" || return
	http PUT "$(S "$(hdr Location)?digest=$dg")" -u "$CREDS"
	assert_http 201 "" "PUT" || return
	http GET "$(S "/v2/e2e/up-streamed/blobs/$dg")"
	assert_eq "$dg" "$(sha_of "$HTTP_BODY")" "stored blob"
}

case_upload_cancel() {
	local before; before=$(tmp_list)
	new_upload e2e/up-cancel || return
	http PATCH "$(S "$LOC")" -u "$CREDS" --data-binary "@$W/c1"
	assert_http 202 || return
	http DELETE "$(S "$LOC")" -u "$CREDS"
	assert_http 204 "" "DELETE upload" || return
	http DELETE "$(S "$LOC")" -u "$CREDS"
	assert_http 404 BLOB_UPLOAD_UNKNOWN "second DELETE" || return
	http GET "$(S "$LOC")" -u "$CREDS"
	assert_http 404 BLOB_UPLOAD_UNKNOWN "status after DELETE" || return
	http PATCH "$(S "$LOC")" -u "$CREDS" --data-binary "@$W/c1"
	assert_http 404 BLOB_UPLOAD_UNKNOWN "PATCH after DELETE" || return
	assert_eq "$before" "$(tmp_list)" "tmp/ after cancel"
}

case_upload_monolithic() {
	local f=$W/mono.bin dg
	head -c 50000 /dev/urandom >"$f"
	dg=$(sha_of "$f")
	push_blob "http://$MAIN_SRV" e2e/up-mono "$f" || return
	assert_eq "/v2/e2e/up-mono/blobs/$dg" "$(hdr Location)" "Location" || return
	http HEAD "$(S "/v2/e2e/up-mono/blobs/$dg")"
	assert_http 200 || return
	assert_eq 50000 "$(hdr Content-Length)" "HEAD Content-Length"
}

case_upload_digest_mismatch() {
	local f=$W/mismatch.bin before wrong
	head -c 40000 /dev/urandom >"$f"
	wrong=sha256:$(head -c 40000 /dev/urandom | sha256sum | cut -d' ' -f1)
	before=$(tmp_list)
	# monolithic
	http POST "$(S "/v2/e2e/up-bad/blobs/uploads/?digest=$wrong")" -u "$CREDS" --data-binary "@$f"
	assert_http 400 DIGEST_INVALID "monolithic mismatch" || return
	# session + PUT
	new_upload e2e/up-bad || return
	http PUT "$(S "$LOC?digest=$wrong")" -u "$CREDS" --data-binary "@$f"
	assert_http 400 DIGEST_INVALID "PUT mismatch" || return
	http DELETE "$(S "$LOC")" -u "$CREDS"
	http GET "$(S "/v2/e2e/up-bad/blobs/$wrong")"
	assert_http 404 BLOB_UNKNOWN "wrong digest" || return
	http GET "$(S "/v2/e2e/up-bad/blobs/$(sha_of "$f")")"
	assert_http 404 BLOB_UNKNOWN "real digest" || return
	assert_no_file "$MAIN/blobs/sha256/${wrong#sha256:}" || return
	assert_no_file "$MAIN/blobs/sha256/$(sha256sum <"$f" | cut -d' ' -f1)" || return
	assert_eq "$before" "$(tmp_list)" "tmp/ after mismatches" || return
	# bad digest syntax
	http POST "$(S "/v2/e2e/up-bad/blobs/uploads/?digest=sha256:1234")" -u "$CREDS" --data-binary "@$f"
	assert_http 400 DIGEST_INVALID "short digest"
}

case_upload_mount() {
	local dg; dg=$(sha_of "$W/mono.bin")
	http POST "$(S "/v2/e2e/up-mount/blobs/uploads/?mount=$dg&from=e2e/up-mono")" -u "$CREDS"
	assert_http 201 "" "mount with from" || return
	assert_eq "/v2/e2e/up-mount/blobs/$dg" "$(hdr Location)" "Location" || return
	assert_eq "$dg" "$(hdr Docker-Content-Digest)" "Docker-Content-Digest" || return
	http GET "$(S "/v2/e2e/up-mount/blobs/$dg")"
	assert_eq "$dg" "$(sha_of "$HTTP_BODY")" "mounted blob" || return
	# from a repository without it: a new session
	http POST "$(S "/v2/e2e/up-mount2/blobs/uploads/?mount=$dg&from=e2e/oci-image")" -u "$CREDS"
	assert_http 202 "" "mount from a repo without the blob" || return
	assert_match "$(hdr Location)" '^/v2/e2e/up-mount2/blobs/uploads/[0-9a-f]+$' "session Location" || return
	http DELETE "$(S "$(hdr Location)")" -u "$CREDS"
	# a blob that is nowhere
	http POST "$(S "/v2/e2e/up-mount2/blobs/uploads/?mount=sha256:$(printf 'ab%.0s' $(seq 32))&from=e2e/up-mono")" -u "$CREDS"
	assert_http 202 "" "mount of an unknown blob" || return
	http DELETE "$(S "$(hdr Location)")" -u "$CREDS"
	http GET "$(S "/v2/e2e/up-mount2/blobs/$dg")"
	assert_http 404 BLOB_UNKNOWN "blob not mounted" || return
	# without from, the blob being in the store
	http POST "$(S "/v2/e2e/up-mount3/blobs/uploads/?mount=$dg")" -u "$CREDS"
	assert_http 201 "" "mount without from (blob in the store)"
}

# ------------------------------------------------------------- manifests
case_manifest_put() {
	make_image one || return
	local f
	for f in config l1 l2; do push_blob "http://$MAIN_SRV" e2e/mani "$W/img/$f" || return; done
	local dg; dg=$(sha_of "$W/img/manifest")
	put_manifest "http://$MAIN_SRV" e2e/mani v1 "$W/img/manifest"
	assert_http 201 "" "PUT by tag" || return
	assert_eq "$dg" "$(hdr Docker-Content-Digest)" "Docker-Content-Digest" || return
	assert_eq "/v2/e2e/mani/manifests/$dg" "$(hdr Location)" "Location" || return
	http GET "$(S /v2/e2e/mani/manifests/v1)" -H "Accept: $ACCEPT"
	assert_http 200 || return
	assert_eq "$dg" "$(sha_of "$HTTP_BODY")" "GET by tag" || return
	assert_eq "$MT_M" "$(hdr Content-Type)" "Content-Type" || return
	# by digest: a second manifest, no tag
	mkmanifest "$W/img/manifest2" "$W/img/config" "$W/img/l1" -- note=by-digest
	local dg2; dg2=$(sha_of "$W/img/manifest2")
	put_manifest "http://$MAIN_SRV" e2e/mani "$dg2" "$W/img/manifest2"
	assert_http 201 "" "PUT by digest" || return
	assert_eq "$dg2" "$(hdr Docker-Content-Digest)" "Docker-Content-Digest (by digest)" || return
	http GET "$(S "/v2/e2e/mani/manifests/$dg2")"
	assert_eq "$dg2" "$(sha_of "$HTTP_BODY")" "GET by digest" || return
	http GET "$(S /v2/e2e/mani/tags/list)"
	assert_eq '{"name":"e2e/mani","tags":["v1"]}' "$(body)" "tags" || return
	# PUT by a digest that is not the body's
	put_manifest "http://$MAIN_SRV" e2e/mani "$dg" "$W/img/manifest2"
	assert_http 400 DIGEST_INVALID "PUT by the wrong digest" || return
	# an index over both
	printf '{"schemaVersion":2,"mediaType":"%s","manifests":[{"mediaType":"%s","digest":"%s","size":%s,"platform":{"os":"linux","architecture":"amd64"}},{"mediaType":"%s","digest":"%s","size":%s,"platform":{"os":"linux","architecture":"arm64"}}]}' \
		"$MT_I" "$MT_M" "$dg" "$(stat -c %s "$W/img/manifest")" "$MT_M" "$dg2" "$(stat -c %s "$W/img/manifest2")" >"$W/img/index"
	put_manifest "http://$MAIN_SRV" e2e/mani idx "$W/img/index" "$MT_I"
	assert_http 201 "" "PUT index" || return
	http GET "$(S /v2/e2e/mani/manifests/idx)"
	assert_eq "$MT_I" "$(hdr Content-Type)" "index Content-Type" || return
	assert_eq "$(sha_of "$W/img/index")" "$(sha_of "$HTTP_BODY")" "index body"
}

case_manifest_invalid() {
	# a layer that was never pushed
	head -c 999 /dev/urandom >"$W/img/missing"
	mkmanifest "$W/img/bad" "$W/img/config" "$W/img/l1" "$W/img/missing"
	put_manifest "http://$MAIN_SRV" e2e/mani bad "$W/img/bad"
	assert_http 400 MANIFEST_BLOB_UNKNOWN "missing layer" || return
	http GET "$(S /v2/e2e/mani/manifests/bad)"
	assert_http 404 MANIFEST_UNKNOWN "tag of the refused manifest" || return
	assert_no_file "$MAIN/blobs/sha256/$(sha256sum <"$W/img/bad" | cut -d' ' -f1)" || return
	# a blob held by another repository only does not count
	mkmanifest "$W/img/bad2" "$W/img/config" "$W/img/l1"
	put_manifest "http://$MAIN_SRV" e2e/mani-other v1 "$W/img/bad2"
	assert_http 400 MANIFEST_BLOB_UNKNOWN "blobs of another repository" || return
	# an index naming an unknown manifest
	printf '{"schemaVersion":2,"mediaType":"%s","manifests":[{"mediaType":"%s","digest":"sha256:%s","size":10}]}' \
		"$MT_I" "$MT_M" "$(printf 'cd%.0s' $(seq 32))" >"$W/img/badidx"
	put_manifest "http://$MAIN_SRV" e2e/mani badidx "$W/img/badidx" "$MT_I"
	assert_http 400 MANIFEST_BLOB_UNKNOWN "index with a missing child" || return
	# not JSON
	printf 'not json' >"$W/img/garbage"
	put_manifest "http://$MAIN_SRV" e2e/mani garbage "$W/img/garbage"
	assert_http 400 MANIFEST_INVALID "garbage" || return
	# over 4 MiB
	mkmanifest "$W/img/huge" "$W/img/config" "$W/img/l1" -- pad=4500000
	put_manifest "http://$MAIN_SRV" e2e/mani huge "$W/img/huge"
	assert_http 413 SIZE_INVALID "manifest over 4 MiB" || return
	http GET "$(S /v2/e2e/mani/manifests/huge)"
	assert_http 404 MANIFEST_UNKNOWN "huge tag" || return
	# bad tag syntax
	put_manifest "http://$MAIN_SRV" e2e/mani '-bad' "$W/img/manifest"
	assert_http 400 TAG_INVALID "tag '-bad'"
}

case_referrers() {
	local subj sz; subj=$(sha_of "$W/img/manifest"); sz=$(stat -c %s "$W/img/manifest")
	printf '{}' >"$W/img/empty"
	push_blob "http://$MAIN_SRV" e2e/mani "$W/img/empty" || return
	mkmanifest "$W/img/sig" "$W/img/empty" "$W/img/l2" -- artifactType=application/vnd.e2e.sig "subject=$subj:$sz:$MT_M" config_mt=application/vnd.oci.empty.v1+json
	mkmanifest "$W/img/sbom" "$W/img/empty" "$W/img/l2" -- artifactType=application/vnd.e2e.sbom+json "subject=$subj:$sz:$MT_M" config_mt=application/vnd.oci.empty.v1+json note=sbom
	local sig sbom; sig=$(sha_of "$W/img/sig"); sbom=$(sha_of "$W/img/sbom")
	put_manifest "http://$MAIN_SRV" e2e/mani "$sig" "$W/img/sig"
	assert_http 201 "" "PUT sig" || return
	assert_eq "$subj" "$(hdr OCI-Subject)" "OCI-Subject" || return
	put_manifest "http://$MAIN_SRV" e2e/mani sbom "$W/img/sbom"
	assert_http 201 "" "PUT sbom" || return
	assert_eq "$subj" "$(hdr OCI-Subject)" "OCI-Subject (by tag)" || return
	local q='import json,sys
d=json.load(open(sys.argv[1]))
assert d["schemaVersion"]==2 and d["mediaType"]=="application/vnd.oci.image.index.v1+json"
print(" ".join(sorted(m["digest"]+"|"+m.get("artifactType","")+"|"+str(m["size"]) for m in d["manifests"])))'
	http GET "$(S "/v2/e2e/mani/referrers/$subj")"
	assert_http 200 || return
	assert_eq "$MT_I" "$(hdr Content-Type)" "Content-Type" || return
	assert_eq "" "$(hdr OCI-Filters-Applied)" "no filter header without a filter" || return
	assert_eq "$(printf '%s\n' "$sig|application/vnd.e2e.sig|$(stat -c %s "$W/img/sig")" "$sbom|application/vnd.e2e.sbom+json|$(stat -c %s "$W/img/sbom")" | sort | tr '\n' ' ' | sed 's/ $//')" \
		"$("$PYTHON" -c "$q" "$HTTP_BODY")" "referrers" || return
	http GET "$(S "/v2/e2e/mani/referrers/$subj?artifactType=application/vnd.e2e.sig")"
	assert_http 200 || return
	assert_eq artifactType "$(hdr OCI-Filters-Applied)" "OCI-Filters-Applied" || return
	assert_eq "$sig|application/vnd.e2e.sig|$(stat -c %s "$W/img/sig")" "$("$PYTHON" -c "$q" "$HTTP_BODY")" "filtered referrers" || return
	http GET "$(S "/v2/e2e/mani/referrers/$subj?artifactType=application%2Fvnd.e2e.sbom%2Bjson")"
	assert_eq "$sbom|application/vnd.e2e.sbom+json|$(stat -c %s "$W/img/sbom")" "$("$PYTHON" -c "$q" "$HTTP_BODY")" "filter with an encoded +" || return
	http GET "$(S "/v2/e2e/mani/referrers/$subj?artifactType=application/vnd.e2e.sbom+json")"
	assert_eq "$sbom|application/vnd.e2e.sbom+json|$(stat -c %s "$W/img/sbom")" "$("$PYTHON" -c "$q" "$HTTP_BODY")" "filter with a raw +" || return
	# unknown subject: an empty index
	http GET "$(S "/v2/e2e/mani/referrers/sha256:$(printf 'ef%.0s' $(seq 32))")"
	assert_http 200 "" "unknown subject" || return
	assert_eq "" "$("$PYTHON" -c "$q" "$HTTP_BODY")" "empty index" || return
	http GET "$(S "/v2/e2e/mani/referrers/v1")"
	assert_http 400 DIGEST_INVALID "referrers by tag"
}

case_delete() {
	local dg; dg=$(sha_of "$W/img/manifest")
	put_manifest "http://$MAIN_SRV" e2e/mani to-delete "$W/img/manifest"
	assert_http 201 || return
	http DELETE "$(S /v2/e2e/mani/manifests/to-delete)" -u "$CREDS"
	assert_http 202 "" "DELETE tag" || return
	http GET "$(S /v2/e2e/mani/manifests/to-delete)"
	assert_http 404 MANIFEST_UNKNOWN "deleted tag" || return
	http GET "$(S /v2/e2e/mani/manifests/v1)"
	assert_http 200 "" "other tag of the same manifest" || return
	http DELETE "$(S /v2/e2e/mani/manifests/to-delete)" -u "$CREDS"
	assert_http 404 MANIFEST_UNKNOWN "DELETE tag twice" || return
	http DELETE "$(S "/v2/e2e/mani/blobs/$(sha_of "$W/img/l2")")" -u "$CREDS"
	assert_http 202 "" "DELETE blob" || return
	http GET "$(S "/v2/e2e/mani/blobs/$(sha_of "$W/img/l2")")"
	assert_http 404 BLOB_UNKNOWN "deleted blob" || return
	http DELETE "$(S "/v2/e2e/mani/manifests/$(sha_of "$W/img/manifest2")")" -u "$CREDS"
	assert_http 202 "" "DELETE manifest by digest" || return
	http GET "$(S "/v2/e2e/mani/manifests/$(sha_of "$W/img/manifest2")")"
	assert_http 404 MANIFEST_UNKNOWN "deleted manifest" || return
	http DELETE "$(S /v2/e2e/mani/manifests/v1)"
	assert_http 401 UNAUTHORIZED "DELETE without credentials"
}

# ------------------------------------------------------------- listing
case_tags_pagination() {
	local t f
	for f in config l1 l2; do push_blob "http://$MAIN_SRV" e2e/pages "$W/img/$f" || return; done
	for t in g a c e b f d; do
		put_manifest "http://$MAIN_SRV" e2e/pages "$t" "$W/img/manifest"
		assert_http 201 "" "PUT tag $t" || return
	done
	http GET "$(S /v2/e2e/pages/tags/list)"
	assert_eq '{"name":"e2e/pages","tags":["a","b","c","d","e","f","g"]}' "$(body)" "all tags" || return
	assert_eq "" "$(hdr Link)" "no Link on the only page" || return
	http GET "$(S "/v2/e2e/pages/tags/list?n=3")"
	assert_eq '{"name":"e2e/pages","tags":["a","b","c"]}' "$(body)" "page 1" || return
	assert_eq '</v2/e2e/pages/tags/list?n=3&last=c>; rel="next"' "$(hdr Link)" "Link 1" || return
	http GET "$(S "/v2/e2e/pages/tags/list?n=3&last=c")"
	assert_eq '{"name":"e2e/pages","tags":["d","e","f"]}' "$(body)" "page 2" || return
	assert_eq '</v2/e2e/pages/tags/list?n=3&last=f>; rel="next"' "$(hdr Link)" "Link 2" || return
	http GET "$(S "/v2/e2e/pages/tags/list?n=3&last=f")"
	assert_eq '{"name":"e2e/pages","tags":["g"]}' "$(body)" "page 3" || return
	assert_eq "" "$(hdr Link)" "no Link on the last page" || return
	http GET "$(S "/v2/e2e/pages/tags/list?n=0")"
	assert_http 200 "" "n=0" || return
	assert_eq '{"name":"e2e/pages","tags":[]}' "$(body)" "n=0" || return
	http GET "$(S "/v2/e2e/pages/tags/list?last=bb")"
	assert_eq '{"name":"e2e/pages","tags":["c","d","e","f","g"]}' "$(body)" "last between tags" || return
	http GET "$(S "/v2/e2e/pages/tags/list?n=-1")"
	assert_http 400 "" "n=-1" || return
	http GET "$(S "/v2/e2e/nothing-here/tags/list")"
	assert_http 404 NAME_UNKNOWN "tags of an unknown repo"
}

case_catalog_paging() {
	http GET "$(S /v2/_catalog)"
	assert_http 200 || return
	local all; all=$("$PYTHON" -c 'import json,sys; print("\n".join(json.load(open(sys.argv[1]))["repositories"]))' "$HTTP_BODY")
	assert_eq "$(printf '%s\n' "$all" | LC_ALL=C sort)" "$all" "catalog order" || return
	local r
	for r in e2e/oci-image e2e/multiarch docker.io/library/multiarch "$REG_OPEN/e2e/docker-image" e2e/mani e2e/pages; do
		assert_contains "$all" "$r" "catalog" || return
	done
	# page by 2, following Link
	local url="/v2/_catalog?n=2" got="" pages=0 n
	while [ -n "$url" ] && [ $pages -lt 50 ]; do
		http GET "$(S "$url")"
		assert_http 200 "" "catalog page $pages" || return
		n=$("$PYTHON" -c 'import json,sys; r=json.load(open(sys.argv[1]))["repositories"]; print(len(r)); [print(x) for x in r]' "$HTTP_BODY")
		[ "$(echo "$n" | head -n 1)" -le 2 ] || { fail "catalog page of $(echo "$n" | head -n 1)"; return 1; }
		got=$(printf '%s\n%s' "$got" "$(echo "$n" | tail -n +2)")
		url=$(hdr Link | sed -n 's/^<\([^>]*\)>; rel="next"$/\1/p')
		pages=$((pages + 1))
	done
	assert_eq "$all" "$(echo "$got" | sed '/^$/d')" "catalog assembled from pages" || return
	assert_eq $((($(echo "$all" | wc -l) + 1) / 2)) "$pages" "number of pages"
}

# ------------------------------------------------------------- Range
case_range() {
	local u; u=$(S "/v2/e2e/oci-image/blobs/$BIG_DG")
	curl -s -m 20 -o "$W/big" "$u" || return
	http GET "$u" -H 'Range: bytes=0-99'
	assert_http 206 || return
	assert_eq "bytes 0-99/$BIG_SZ" "$(hdr Content-Range)" "Content-Range" || return
	assert_eq 100 "$(hdr Content-Length)" "Content-Length" || return
	assert_eq "$(head -c 100 "$W/big" | sha256sum)" "$(sha256sum <"$HTTP_BODY")" "first 100 bytes" || return
	http GET "$u" -H 'Range: bytes=1000000-'
	assert_http 206 || return
	assert_eq "bytes 1000000-$((BIG_SZ - 1))/$BIG_SZ" "$(hdr Content-Range)" "open range" || return
	assert_eq "$(tail -c +1000001 "$W/big" | sha256sum)" "$(sha256sum <"$HTTP_BODY")" "open range bytes" || return
	http GET "$u" -H 'Range: bytes=-500'
	assert_http 206 || return
	assert_eq "bytes $((BIG_SZ - 500))-$((BIG_SZ - 1))/$BIG_SZ" "$(hdr Content-Range)" "suffix range" || return
	assert_eq "$(tail -c 500 "$W/big" | sha256sum)" "$(sha256sum <"$HTTP_BODY")" "last 500 bytes" || return
	http GET "$u" -H "Range: bytes=$BIG_SZ-"
	assert_http 416 "" "start at the size" || return
	assert_eq "bytes */$BIG_SZ" "$(hdr Content-Range)" "416 Content-Range" || return
	http GET "$u" -H 'Range: bytes=500-100'
	assert_http 416 "" "reversed range" || return
	http GET "$u" -H 'Range: bytes=-0'
	assert_http 416 "" "bytes=-0" || return
	# malformed ranges are ignored: the whole blob
	local r
	for r in 'bytes=abc' 'bytes=0-1,5-6' 'items=0-1' 'bytes=--5' 'bytes=+5-6' 'bytes= 5-6' 'bytes=5--6' 'bytes=-' 'bytes=' 'bytes=1-2x'; do
		http GET "$u" -H "Range: $r"
		assert_http 200 "" "Range: $r" || return
		assert_eq "$BIG_DG" "$(sha_of "$HTTP_BODY")" "body for Range: $r" || return
		assert_eq "" "$(hdr Content-Range)" "Content-Range for Range: $r" || return
	done
	# huge numbers: never an offset or a length outside the blob
	for r in 'bytes=18446744073709551615-' 'bytes=99999999999999999999999-'; do
		http GET "$u" -H "Range: $r"
		assert_http 416 "" "Range: $r" || return
		assert_eq "bytes */$BIG_SZ" "$(hdr Content-Range)" "Content-Range for Range: $r" || return
	done
	for r in 'bytes=0-18446744073709551615' 'bytes=-18446744073709551615' 'bytes=0-99999999999999999999999' 'bytes=-99999999999999999999999'; do
		http GET "$u" -H "Range: $r"
		assert_http 206 "" "Range: $r" || return
		assert_eq "bytes 0-$((BIG_SZ - 1))/$BIG_SZ" "$(hdr Content-Range)" "Content-Range for Range: $r" || return
		assert_eq "$BIG_DG" "$(sha_of "$HTTP_BODY")" "body for Range: $r" || return
	done
	http GET "$(S /healthz)"
	assert_http 200 "" "after bad ranges"
}

# ------------------------------------------------------------- auth
case_auth_anonymous_read() {
	# main server: --htpasswd --anonymous-read --push. /v2/ challenges
	# anonymous clients (so podman/skopeo send credentials when they have
	# them); reads work without credentials.
	http GET "$(S /v2/)"
	assert_http 401 UNAUTHORIZED "anonymous /v2/" || return
	assert_match "$(hdr WWW-Authenticate)" '^Basic realm="' "/v2/ WWW-Authenticate" || return
	http GET "$(S /v2/)" -u "$CREDS"
	assert_http 200 "" "/v2/ with credentials" || return
	http GET "$(S /v2/)" -u "$E2E_USER:wrong"
	assert_http 401 UNAUTHORIZED "/v2/ with a wrong password" || return
	http GET "$(S /v2/e2e/oci-image/manifests/v1)"
	assert_http 200 "" "anonymous manifest" || return
	http GET "$(S /v2/e2e/oci-image/manifests/v1)" -u "$E2E_USER:wrong"
	assert_http 200 "" "manifest with a wrong password (anonymous read)" || return
	http GET "$(S /v2/e2e/oci-image/tags/list)"
	assert_http 200 "" "anonymous tags list" || return
	http POST "$(S /v2/e2e/auth/blobs/uploads/)"
	assert_http 401 UNAUTHORIZED "push without credentials" || return
	assert_match "$(hdr WWW-Authenticate)" '^Basic realm="' "WWW-Authenticate" || return
	http POST "$(S /v2/e2e/auth/blobs/uploads/)" -u "$E2E_USER:wrong"
	assert_http 401 UNAUTHORIZED "push with a wrong password" || return
	http POST "$(S /v2/e2e/auth/blobs/uploads/)" -u "nobody:$E2E_PASS"
	assert_http 401 UNAUTHORIZED "push as an unknown user" || return
	http PUT "$(S /v2/e2e/auth/manifests/v1)" -H "Content-Type: $MT_M" --data-binary "@$W/img/manifest"
	assert_http 401 UNAUTHORIZED "manifest PUT without credentials" || return
	http GET "$(S /v2/e2e/auth/tags/list)"
	assert_http 404 NAME_UNKNOWN "nothing was created" || return
	# the access log names the user of authenticated requests
	assert_match "$(cat "$MAIN_LOG")" "^[^ ]+ 127\.0\.0\.1 $E2E_USER POST /v2/e2e/up-mono/blobs/uploads/ 201 " "access log user"
}

case_auth_required() {
	local st; st=$(copy_store authreq) || return
	serve_start authreq "$st" --htpasswd "$HTP" || return
	http GET "$SRV_URL/v2/"
	assert_http 401 UNAUTHORIZED "anonymous /v2/" || return
	assert_match "$(hdr WWW-Authenticate)" '^Basic realm="' "WWW-Authenticate" || return
	http GET "$SRV_URL/v2/e2e/oci-image/manifests/v1"
	assert_http 401 UNAUTHORIZED "anonymous manifest" || return
	http GET "$SRV_URL/v2/e2e/oci-image/manifests/v1" -u "$E2E_USER:wrong"
	assert_http 401 UNAUTHORIZED "wrong password" || return
	http GET "$SRV_URL/v2/e2e/oci-image/manifests/v1" -u "$CREDS"
	assert_http 200 "" "with credentials" || return
	assert_eq "$OCI_DG" "$(sha_of "$HTTP_BODY")" "manifest" || return
	# skopeo with and without credentials
	if timeout 60 skopeo inspect --raw --tls-verify=false "docker://$SRV/e2e/oci-image:v1" >/dev/null 2>&1; then
		fail "skopeo without credentials succeeded"; return 1
	fi
	assert_eq "$OCI_DG" "sha256:$(timeout 60 skopeo inspect --raw --tls-verify=false --creds "$CREDS" "docker://$SRV/e2e/oci-image:v1" | sha256sum | cut -d' ' -f1)" "skopeo with credentials" || return
	# no --push: writes refused even with credentials
	http POST "$SRV_URL/v2/e2e/x/blobs/uploads/" -u "$CREDS"
	assert_http 405 UNSUPPORTED "POST without --push" || return
	serve_stop "$SRV_PID"
}

case_read_only() {
	local st; st=$(copy_store ro) || return
	serve_start ro "$st" --read-only || return
	http GET "$SRV_URL/v2/e2e/oci-image/manifests/v1"
	assert_http 200 "" "read" || return
	http POST "$SRV_URL/v2/e2e/x/blobs/uploads/"
	assert_http 405 UNSUPPORTED "POST upload" || return
	http PUT "$SRV_URL/v2/e2e/oci-image/manifests/v2" -H "Content-Type: $MT_M" --data-binary "@$W/img/manifest"
	assert_http 405 UNSUPPORTED "PUT manifest" || return
	http DELETE "$SRV_URL/v2/e2e/oci-image/manifests/v1"
	assert_http 405 UNSUPPORTED "DELETE manifest" || return
	http PATCH "$SRV_URL/v2/e2e/x/blobs/uploads/abc" --data-binary "@$W/img/l2"
	assert_http 405 UNSUPPORTED "PATCH" || return
	http GET "$SRV_URL/v2/e2e/oci-image/manifests/v1"
	assert_eq "$OCI_DG" "$(sha_of "$HTTP_BODY")" "manifest unchanged" || return
	if timeout 60 skopeo copy -q --dest-tls-verify=false "oci:$W/sk-layout1:v1" "docker://$SRV/e2e/pushed:v1" >/dev/null 2>&1; then
		fail "skopeo push to a read-only server succeeded"; return 1
	fi
	assert_no_file "$st/repositories/e2e/pushed" || return
	assert_empty_dir "$st/tmp" || return
	# --push needs --htpasswd, --push and --read-only exclude each other
	assert_exit 2 om --store "$st" serve --listen 127.0.0.1:0 --push || return
	assert_exit 2 om --store "$st" serve --listen 127.0.0.1:0 --push --read-only --htpasswd "$HTP" || return
	serve_stop "$SRV_PID"
	# without --delete, DELETE is refused
	serve_start nodelete "$st" --htpasswd "$HTP" --anonymous-read --push || return
	http DELETE "$SRV_URL/v2/e2e/oci-image/manifests/v1" -u "$CREDS"
	assert_http 405 UNSUPPORTED "DELETE without --delete" || return
	http GET "$SRV_URL/v2/e2e/oci-image/manifests/v1"
	assert_http 200 "" "tag still there" || return
	serve_stop "$SRV_PID"
}

# ------------------------------------------------------------- hostile input
case_hostile_names() {
	local p code before after
	before=$(find "$E2E_TMP" -name 'pwned*' | wc -l)
	# reads: never 200, an OCI error
	for p in '/v2/../../../etc/passwd' '/v2/e2e/../../../../etc/manifests/v1' \
		'/v2/e2e/%2e%2e/%2e%2e/%2e%2e/etc/manifests/v1' '/v2/%2e%2e/manifests/v1' \
		'/v2//etc/passwd/manifests/v1' '/v2/%2fetc/manifests/v1' '/v2/e2e/oci-image/manifests/..%2f..%2f_tags%2fv1' \
		'/v2/e2e/oci-image/blobs/sha256:..%2f..%2f..' '/v2/E2E/oci-image/manifests/v1' \
		'/v2/e2e/oci-image%00/manifests/v1' '/v2/e2e/oci-image/manifests/v1%00x' \
		"/v2/$(printf 'a%.0s' $(seq 300))/manifests/v1" "/v2/$(printf 'ab/%.0s' $(seq 120))x/manifests/v1" \
		"/v2/e2e/oci-image/manifests/$(printf 't%.0s' $(seq 200))" \
		'/v2/e2e/oci-image/blobs/sha256:1234' '/v2/e2e/oci-image/blobs/md5:d41d8cd98f00b204e9800998ecf8427e' \
		"/v2/e2e/oci-image/blobs/sha256:$(printf 'G%.0s' $(seq 64))" '/v2/e2e/oci-image/blobs/v1' \
		"/v2/e2e/oci-image/blobs/sha256:$(printf 'A%.0s' $(seq 64))" \
		"/v2/e2e/oci-image/manifests/sha256:$(printf 'z%.0s' $(seq 64))" '/v2/e2e/oci-image/referrers/..'; do
		code=$(curl -s --path-as-is -m 10 -o "$W/hostile.body" -w '%{http_code}' "$(S "$p")")
		case "$code" in 400 | 404 | 414) ;; *) fail "GET $p: status $code"; return 1 ;; esac
		if [ "$code" != 414 ]; then
			"$PYTHON" -c 'import json,sys; json.load(open(sys.argv[1]))["errors"][0]["code"]' "$W/hostile.body" 2>/dev/null ||
				{ fail "GET $p: no OCI error body: $(head -c 200 "$W/hostile.body")"; return 1; }
		fi
	done
	# specific codes
	http GET "$(S '/v2/e2e/%2e%2e/x/manifests/v1')" --path-as-is
	assert_http 400 NAME_INVALID "%2e%2e" || return
	http GET "$(S '/v2/e2e/oci-image/blobs/sha256:1234')"
	assert_http 400 DIGEST_INVALID "short digest" || return
	# writes with hostile names, authenticated: refused, nothing created
	for p in '/v2/..%2f..%2fpwned1/blobs/uploads/' '/v2/e2e/../../pwned2/blobs/uploads/' \
		'/v2//tmp/pwned3/blobs/uploads/' '/v2/e2e/%2e%2e/%2e%2e/pwned4/blobs/uploads/' \
		'/v2/e2e/x%00/../../pwned7/blobs/uploads/'; do
		code=$(curl -s --path-as-is -m 10 -o /dev/null -w '%{http_code}' -u "$CREDS" -X POST "$(S "$p")")
		assert_eq 400 "$code" "POST $p" || return
		code=$(curl -s --path-as-is -m 10 -o /dev/null -w '%{http_code}' -u "$CREDS" -X PUT \
			-H "Content-Type: $MT_M" --data-binary "@$W/img/manifest" "$(S "${p%blobs/uploads/}manifests/v1")")
		assert_eq 400 "$code" "PUT ${p%blobs/uploads/}manifests/v1" || return
	done
	code=$(curl -s --path-as-is -m 10 -o /dev/null -w '%{http_code}' -u "$CREDS" -X PUT \
		-H "Content-Type: $MT_M" --data-binary "@$W/img/manifest" "$(S '/v2/e2e/mani/manifests/..%2f..%2fpwned5')")
	case "$code" in 400 | 404) ;; *) fail "PUT tag ../../pwned5: $code"; return 1 ;; esac
	code=$(curl -s -m 10 -o /dev/null -w '%{http_code}' -u "$CREDS" -X PATCH --data-binary x \
		"$(S '/v2/e2e/mani/blobs/uploads/..%2f..%2fpwned6')")
	case "$code" in 400 | 404) ;; *) fail "PATCH upload ../../pwned6: $code"; return 1 ;; esac
	after=$( (find "$E2E_TMP" -name 'pwned*'; ls -d /pwned* /tmp/pwned* "$W"/../pwned*) 2>/dev/null | wc -l)
	assert_eq 0 "$after" "pwned* files" || return
	assert_eq 0 "$before" "pwned* before" || return
	assert_eq 0 "$(find "$MAIN" -name '*..*' -o -name '*%*' | wc -l)" "odd names in the store" || return
	# still serving
	http GET "$(S /v2/e2e/oci-image/manifests/v1)"
	assert_http 200 "" "after hostile names"
}

case_half_body() {
	local before; before=$(tmp_list)
	local f=$W/half.bin; head -c 2000000 /dev/urandom >"$f"
	local dg; dg=$(sha_of "$f")
	new_upload e2e/half || return
	# a PATCH announcing 2 MB that sends 300 kB and disappears; a monolithic
	# POST ?digest= and a manifest PUT likewise
	"$PYTHON" - "$MAIN_SRV" "$LOC" "$dg" "$(printf %s "$CREDS" | base64 -w0)" "$f" <<-'PY' || { fail "half-body client failed"; return 1; }
	import socket, sys, time
	srv, loc, dg, auth, path = sys.argv[1:6]
	host, port = srv.split(":")
	data = open(path, "rb").read()
	def half(req_line, extra=""):
	    s = socket.create_connection((host, int(port)), timeout=10)
	    s.sendall((req_line + "\r\nHost: " + srv + "\r\nAuthorization: Basic " + auth +
	               "\r\nContent-Type: application/octet-stream\r\nContent-Length: " + str(len(data)) +
	               "\r\n" + extra + "\r\n").encode())
	    s.sendall(data[:300000])
	    time.sleep(0.2)
	    s.close()
	half("PATCH " + loc + " HTTP/1.1")
	half("POST /v2/e2e/half/blobs/uploads/?digest=" + dg + " HTTP/1.1")
	half("PUT /v2/e2e/half/manifests/v1 HTTP/1.1")
	PY
	# the server still answers; nothing partial is visible
	local i code
	for i in $(seq 1 50); do
		code=$(curl -s -o /dev/null -m 5 -w '%{http_code}' "$(S /healthz)")
		[ "$code" = 200 ] && break
		sleep 0.1
	done
	assert_eq 200 "$code" "/healthz after half bodies" || return
	http GET "$(S "/v2/e2e/half/blobs/$dg")"
	assert_http 404 BLOB_UNKNOWN "half-sent blob" || return
	assert_no_file "$MAIN/blobs/sha256/${dg#sha256:}" || return
	http GET "$(S /v2/e2e/half/manifests/v1)"
	assert_http 404 "" "half-sent manifest" || return
	# the session is still usable and can be cancelled; then tmp/ is as before
	for i in $(seq 1 50); do
		http GET "$(S "$LOC")" -u "$CREDS"
		[ "$HTTP_CODE" = 204 ] && break # busy (503) until the server saw the client go
		sleep 0.1
	done
	assert_http 204 "" "session status after the cut" || return
	http DELETE "$(S "$LOC")" -u "$CREDS"
	assert_http 204 "" "DELETE session" || return
	for i in $(seq 1 50); do
		[ "$before" = "$(tmp_list)" ] && break
		sleep 0.1
	done
	assert_eq "$before" "$(tmp_list)" "tmp/ after the cut uploads" || return
	# and a complete upload of the same bytes works
	push_blob "http://$MAIN_SRV" e2e/half "$f"
}

case_idle_connections() {
	local n=1000
	[ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt 1200 ] && n=500
	local ready=$W/idle.ready
	rm -f "$ready"
	# n sockets, half of them with a partial request line; held ~20 s at most
	"$PYTHON" - "$MAIN_SRV" "$n" "$ready" <<-'PY' >"$W/idle.out" 2>&1 &
	import socket, sys, time, os
	srv, n, ready = sys.argv[1], int(sys.argv[2]), sys.argv[3]
	host, port = srv.split(":")
	socks = []
	for i in range(n):
	    s = socket.create_connection((host, int(port)), timeout=10)
	    if i % 2:
	        s.sendall(b"GET /v2/e2e/oci-image/manifests/v1 HTTP/1.1\r\nHost: x\r\n")
	    socks.append(s)
	open(ready, "w").write(str(len(socks)))
	deadline = time.time() + 20
	while time.time() < deadline and os.path.exists(ready):
	    time.sleep(0.05)
	for s in socks:
	    s.close()
	PY
	local ppid=$! i
	bg_track "$ppid"
	for i in $(seq 1 200); do
		[ -s "$ready" ] && break
		kill -0 "$ppid" 2>/dev/null || break
		sleep 0.05
	done
	[ -s "$ready" ] || { fail "idle client: $(tail -n 2 "$W/idle.out" | tr '\n' ' ')"; return 1; }
	assert_eq "$n" "$(cat "$ready")" "idle sockets opened" || return
	http GET "$(S /v2/e2e/oci-image/manifests/v1)"
	assert_http 200 "" "GET with $n idle connections" || return
	assert_eq "$OCI_DG" "$(sha_of "$HTTP_BODY")" "manifest" || return
	http GET "$(S "/v2/e2e/oci-image/blobs/$BIG_DG")"
	assert_eq "$BIG_DG" "$(sha_of "$HTTP_BODY")" "blob with idle connections" || return
	local conns=0
	for i in $(seq 1 50); do # the server may still be accepting the backlog
		http GET "$(S /metrics)"
		conns=$(sed -n 's/^ocimirror_http_connections \([0-9]*\)$/\1/p' "$HTTP_BODY")
		[ -n "$conns" ] && [ "$conns" -ge "$n" ] && break
		sleep 0.1
	done
	[ -n "$conns" ] && [ "$conns" -ge "$n" ] || { fail "ocimirror_http_connections '$conns' < $n"; rm -f "$ready"; return 1; }
	rm -f "$ready"
	wait "$ppid" 2>/dev/null
	# the gauge goes back down once the clients are gone
	for i in $(seq 1 50); do
		http GET "$(S /metrics)"
		conns=$(sed -n 's/^ocimirror_http_connections \([0-9]*\)$/\1/p' "$HTTP_BODY")
		[ "$conns" -le 5 ] && break
		sleep 0.1
	done
	[ "$conns" -le 5 ] || fail "ocimirror_http_connections still $conns"
}

# ------------------------------------------------------------- concurrency
case_concurrency() {
	local list=$W/conc.list bad=$W/conc.bad
	: >"$bad"
	{
		echo "$OCI_BLOBS" | sed 's|^|e2e/oci-image |'
		echo "$MA_BLOBS" | sed 's|^|e2e/multiarch |'
		echo "e2e/oci-image $OCI_DG $OCI_SZ manifest"
		echo "e2e/multiarch $MA_DG x manifest"
	} >"$list"
	worker() { # ID
		local i repo dg sz kind f=$W/conc.$1 code got
		for i in $(seq 1 20); do
			read -r repo dg sz kind < <(sed -n "$(((($1 * 7 + i) % $(wc -l <"$list")) + 1))p" "$list")
			if [ "${kind:-}" = manifest ]; then
				code=$(curl -s -m 30 -H "Accept: $ACCEPT" -o "$f" -w '%{http_code}' "http://$MAIN_SRV/v2/$repo/manifests/$dg")
			else
				code=$(curl -s -m 30 -o "$f" -w '%{http_code}' "http://$MAIN_SRV/v2/$repo/blobs/$dg")
			fi
			got=sha256:$(sha256sum <"$f" | cut -d' ' -f1)
			[ "$code" = 200 ] && [ "$got" = "$dg" ] || echo "worker $1 #$i $repo $dg: $code $got" >>"$bad"
		done
	}
	local pids=() k out=$W/conc-skopeo.out
	timeout 90 skopeo copy -q --all --preserve-digests --dest-tls-verify=false --dest-creds "$CREDS" \
		"oci:$W/sk-layout1:v1" "docker://$MAIN_SRV/e2e/concurrent:v1" >"$out" 2>&1 &
	local sk=$!
	for k in 1 2 3 4 5 6 7 8; do
		worker "$k" &
		pids+=("$!")
	done
	for k in "${pids[@]}"; do wait "$k"; done
	local rc=0
	wait "$sk" || rc=$?
	assert_eq 0 "$rc" "skopeo push during the pulls ($(tail -n 2 "$out" | tr '\n' ' '))" || return
	assert_eq "" "$(head -n 5 "$bad")" "bad responses" || return
	http GET "$(S /v2/e2e/concurrent/manifests/v1)" -H "Accept: $ACCEPT"
	assert_eq "$MA_DG" "$(sha_of "$HTTP_BODY")" "pushed index" || return
	local dg sz
	while read -r dg sz; do
		http GET "$(S "/v2/e2e/concurrent/blobs/$dg")"
		assert_eq "$dg" "$(sha_of "$HTTP_BODY")" "pushed blob" || return
	done <<<"$MA_BLOBS"
}

# ------------------------------------------------------------- health, metrics, shutdown
metric() { # NAME-WITH-LABELS: value from the last /metrics body (0 if absent)
	local v; v=$(grep -F "$1 " "$HTTP_BODY" | grep -v '^#' | awk '{print $2}' | head -n 1)
	echo "${v:-0}"
}

case_health_metrics() {
	http GET "$(S /healthz)"
	assert_http 200 || return
	assert_eq ok "$(body | tr -d '\n')" "/healthz body" || return
	http GET "$(S /metrics)"
	assert_http 200 || return
	assert_match "$(hdr Content-Type)" '^text/plain' "Content-Type" || return
	assert_contains "$(body)" "# TYPE ocimirror_http_requests_total counter" || return
	local n404 sent sess
	n404=$(metric 'ocimirror_http_requests_total{method="GET",status="404"}')
	sent=$(metric ocimirror_http_sent_bytes_total)
	sess=$(metric ocimirror_upload_sessions)
	local i
	for i in 1 2 3; do curl -s -o /dev/null -m 10 "$(S /v2/e2e/oci-image/manifests/none-$i)"; done
	curl -s -o /dev/null -m 10 "$(S "/v2/e2e/oci-image/blobs/$BIG_DG")"
	new_upload e2e/metrics || return
	http GET "$(S /metrics)"
	assert_eq $((n404 + 3)) "$(metric 'ocimirror_http_requests_total{method="GET",status="404"}')" "GET 404 count" || return
	local sent2; sent2=$(metric ocimirror_http_sent_bytes_total)
	[ "$sent2" -ge $((sent + BIG_SZ)) ] || { fail "sent bytes $sent -> $sent2, blob is $BIG_SZ"; return 1; }
	assert_eq $((sess + 1)) "$(metric ocimirror_upload_sessions)" "upload sessions after POST" || return
	local rcv; rcv=$(metric ocimirror_http_received_bytes_total)
	http PATCH "$(S "$LOC")" -u "$CREDS" --data-binary "@$W/c1"
	http DELETE "$(S "$LOC")" -u "$CREDS"
	http GET "$(S /metrics)"
	assert_eq "$sess" "$(metric ocimirror_upload_sessions)" "upload sessions after DELETE" || return
	[ "$(metric ocimirror_http_received_bytes_total)" -ge $((rcv + 100000)) ] || { fail "received bytes did not grow by 100000"; return 1; }
	[ "$(metric ocimirror_store_bytes)" -gt 0 ] || { fail "ocimirror_store_bytes is 0"; return 1; }
	# HEAD sends headers only: no body bytes counted, none logged
	sent=$(metric ocimirror_http_sent_bytes_total)
	curl -s -I -o /dev/null -m 10 "$(S "/v2/e2e/oci-image/blobs/$BIG_DG")"
	http GET "$(S /metrics)"
	sent2=$(metric ocimirror_http_sent_bytes_total)
	[ "$sent2" -lt $((sent + BIG_SZ)) ] || { fail "HEAD counted as $((sent2 - sent)) bytes sent"; return 1; }
	assert_match "$(tail -n 5 "$MAIN_LOG")" "HEAD /v2/e2e/oci-image/blobs/$BIG_DG 200 0 0 " "access log of the HEAD"
}

case_sigterm() {
	local st; st=$(copy_store term) || return
	serve_start term "$st" || return
	# a slow download in flight when SIGTERM arrives is finished
	curl -s -m 60 --limit-rate 1000k -o "$W/term.body" "$SRV_URL/v2/e2e/oci-image/blobs/$BIG_DG" &
	local cpid=$! i
	for i in $(seq 1 100); do
		[ -s "$W/term.body" ] && break
		sleep 0.05
	done
	local rc=0
	serve_stop "$SRV_PID" TERM || rc=$?
	wait "$cpid"
	assert_eq 0 "$rc" "exit status after SIGTERM" || return
	assert_file_digest "$W/term.body" "$BIG_DG" "$BIG_SZ" || return
	assert_contains "$(cat "$SRV_LOG")" "signal 15" "shutdown line" || return
	assert_eq 000 "$(curl -s -o /dev/null -m 2 -w '%{http_code}' "$SRV_URL/healthz")" "after exit" || return
	# SIGINT as well
	serve_start term2 "$st" || return
	rc=0
	serve_stop "$SRV_PID" INT || rc=$?
	assert_eq 0 "$rc" "exit status after SIGINT"
}

run_case "serve: fixture store + server starts" case_start_main
run_case "serve: GET/HEAD manifests and blobs (values, headers, errors)" case_pull_values
run_case "serve: ?ns=docker.io maps to docker.io/... and full names" case_ns_mapping
run_case "serve: referrers of a pulled image (pull --referrers)" case_referrers_from_pull
run_case "serve: skopeo copy serve -> OCI layout -> serve -> layout" case_skopeo_roundtrip
run_case "serve: podman pull (plain HTTP)" case_podman_pull
run_case "serve: TLS with a test CA (curl, podman --cert-dir)" case_tls_podman
if command -v containerd >/dev/null && command -v ctr >/dev/null; then
	run_case "serve: containerd (ctr pull via hosts.toml mirror, ?ns=docker.io)" case_containerd
else
	skip_case "serve: containerd mirror" "containerd/ctr not installed"
fi
run_case "serve: chunked PATCH + Content-Range, out-of-order 416, status 204" case_upload_chunked
run_case "serve: streamed PATCH without Content-Range" case_upload_streamed
run_case "serve: DELETE upload -> 204 then 404" case_upload_cancel
run_case "serve: monolithic POST ?digest=" case_upload_monolithic
run_case "serve: bytes not matching the digest -> 400, nothing stored" case_upload_digest_mismatch
run_case "serve: cross-repo mount (201 with from, 202 otherwise)" case_upload_mount
run_case "serve: manifest PUT by tag, digest, index" case_manifest_put
run_case "serve: manifest validation (missing blobs, > 4 MiB, garbage)" case_manifest_invalid
run_case "serve: subject -> OCI-Subject, referrers API + artifactType filter" case_referrers
run_case "serve: DELETE tags, manifests, blobs" case_delete
run_case "serve: tags list pagination (n, last, Link, n=0)" case_tags_pagination
run_case "serve: _catalog paging" case_catalog_paging
run_case "serve: Range on blobs (206, suffix, 416, malformed)" case_range
run_case "serve: --anonymous-read: reads open, writes need valid credentials" case_auth_anonymous_read
run_case "serve: --htpasswd without --anonymous-read; no --push" case_auth_required
run_case "serve: --read-only and no --delete refuse writes with 405" case_read_only
run_case "serve: hostile names, paths, digests" case_hostile_names
run_case "serve: client sends half a body and disappears" case_half_body
run_case "serve: many idle connections, requests still served" case_idle_connections
run_case "serve: 8 clients x 20 verified pulls during a skopeo push" case_concurrency
run_case "serve: /healthz and /metrics values" case_health_metrics
run_case "serve: SIGTERM finishes in-flight requests, exit 0" case_sigterm
if [ -n "${MAIN_SRV:-}" ]; then
	rc=0
	serve_stop "$MAIN_PID" TERM || rc=$?
	run_case "serve: main server exits 0 on SIGTERM" assert_eq 0 "$rc" "main server exit status"
fi
