#!/usr/bin/env bash
# e2e: `ocimirror app pull` and the margo-app sync rule. A docker-registry
# of this file's own listens on 127.0.80.N:80, so references name it as a
# bare host ("127.0.80.N/appe2e/..."), as they would name
# registry.example.com, and skopeo can address every mirrored repository
# through `ocimirror serve` by that name. seed_app.py fills it with the
# images, charts and Compose archives the Margo samples reference, and
# hostile Compose archives.
# Run by tests/e2e/run.sh, which exports OCIMIRROR, E2E_*.
. "$(dirname "$0")/lib/prologue.sh"

W=$E2E_WORK/app-pull
mkdir -p "$W"

e2e_start_bare reg-app
APP_HOST=$BARE_HOST
EXP=$W/exp.json
timeout 120 "$PYTHON" "$E2E_LIB/seed_app.py" --registry "$APP_HOST:80" --name "$APP_HOST" \
	--work "$W" --out "$EXP" | sed 's/^/# /'
[ -s "$EXP" ] || e2e_die "seed_app.py wrote no expectations"
BASE=$APP_HOST/appe2e
check() { "$PYTHON" "$E2E_LIB/check_app.py" "$STORE" "$EXP" "$@"; }
HELM_IMAGES=digitron/orchestrator:1.2.0,digitron/agent:2.0,library/busybox:1.36,digitron/metrics:0.1.0
DB_IMAGES=digitron/postgres:16.4,digitron/postgres-exporter:0.15.0
COMPOSE_IMAGES=acme/line-monitor:0.3.1,library/mosquitto:2.0.18,library/redis:7
ALL3=linux/amd64,linux/arm64/v8,linux/arm/v7

# skopeo_digests REF...: through serve ($SRV), each reference has its
# upstream digest (packages: the one pushed, recorded in $PKG_DIGESTS)
skopeo_digests() {
	local ref dg want
	for ref in "$@"; do
		dg=$(timeout 30 skopeo inspect --raw --tls-verify=false "docker://$SRV/$BASE/$ref" | sha256sum | cut -d' ' -f1)
		case $ref in
		apps/*) want=$(grep "^$ref " "$PKG_DIGESTS" | cut -d' ' -f2) ;;
		digitron/charts/* | acme/compose/*) want=$(exp_get "$EXP" "d['components']['$BASE/$ref']") ;;
		*) want=$(exp_get "$EXP" "d['images']['$BASE/$ref']['digest']") ;;
		esac
		[ -n "$want" ] || { fail "no expected digest for $ref"; return 1; }
		assert_eq "$want" "sha256:$dg" "skopeo: $ref" || return
	done
}

# the packages, pushed once to the registry
PUSHED=0
push_packages() {
	[ $PUSHED = 1 ] && return 0
	new_store
	PKG_DIGESTS=$W/pkg-digests
	: >"$PKG_DIGESTS"
	local d r
	for d in helm-app:apps/digitron:1.2.0 compose-app:apps/monitor:0.3.1-rc.2 hostile-app:apps/hostile:1.0.0; do
		r=${d#*:}
		assert_exit 0 oms --json app push "$W/${d%%:*}" "$BASE/${r%:*}" || return
		echo "$r $(json_field "$OUT" digest)" >>"$PKG_DIGESTS"
	done
	PUSHED=1
}

case_helm_app_everything() {
	push_packages || return
	new_store
	assert_exit 0 oms --json app pull "$BASE/apps/digitron:1.2.0" || return
	local r
	r=$(check --images "$HELM_IMAGES" --platforms linux/amd64,linux/arm64/v8 \
		--components digitron/charts/orchestrator:1.2.0,digitron/charts/database:16.4.1_build.7 --signature)
	assert_eq ok "$r" "store" || return
	# the database chart's images come from the arm64 profile only
	r=$(check --images "$DB_IMAGES" --platforms linux/arm64/v8)
	assert_eq ok "$r" "arm64-only images" || return
	assert_eq "ok 9 0 0" "$(tail -n 1 "$OUT" | "$PYTHON" -c 'import json,sys; d=json.load(sys.stdin); print(d["result"], d["stored"], d["unchanged"], d["failed"])')" "summary" || return
	# the tree: one node per profile, component and image shown
	assert_eq "package profile component image image image image component image image profile component image image image image" \
		"$(grep '"app-node"' "$OUT" | "$PYTHON" -c 'import json,sys; print(" ".join(json.loads(l)["kind"] for l in sys.stdin))')" "tree" || return
	# what devices pull through serve, by the same names, with skopeo
	serve_start app "$STORE" || return
	local ref dg want
	skopeo_digests apps/digitron:1.2.0 digitron/charts/orchestrator:1.2.0 \
		digitron/charts/database:16.4.1_build.7 ${HELM_IMAGES//,/ } ${DB_IMAGES//,/ } || return
	want=$(exp_get "$EXP" "d['images']['$BASE/digitron/orchestrator:1.2.0']['children']['linux/arm64/v8']")
	dg=$(timeout 30 skopeo inspect --raw --tls-verify=false "docker://$SRV/$BASE/digitron/orchestrator@$want" | sha256sum | cut -d' ' -f1)
	assert_eq "$want" "sha256:$dg" "skopeo: arm64 child by digest" || return
	# the platform nobody selected is not served
	want=$(exp_get "$EXP" "d['images']['$BASE/digitron/orchestrator:1.2.0']['children']['linux/arm/v7']")
	if timeout 30 skopeo inspect --raw --tls-verify=false "docker://$SRV/$BASE/digitron/orchestrator@$want" >/dev/null 2>&1; then
		fail "arm/v7 child served"
		return
	fi
	# skopeo copies the selected platform of an image, blobs verified
	timeout 60 skopeo copy -q --override-arch arm64 --src-tls-verify=false \
		"docker://$SRV/$BASE/digitron/postgres:16.4" "oci:$W/pg-layout:16.4" >/dev/null 2>&1 ||
		{ fail "skopeo copy of postgres arm64 through serve"; return; }
	# the application catalog lists it
	assert_exit 0 oms app list || return
	assert_contains "$(out)" "$BASE/apps/digitron	digitron-orchestrator	Digitron Orchestrator	1.2.0" "catalog" || return
	serve_stop "$SRV_PID"
}

case_arch_narrows() {
	push_packages || return
	new_store
	assert_exit 0 oms app pull --arch amd64 "$BASE/apps/digitron:1.2.0" || return
	assert_contains "$(out)" "helm k8s-arm64  ([arm64])  skipped: no selected architecture" "arm64 profile skipped" || return
	local r
	r=$(check --images "$HELM_IMAGES" --platforms linux/amd64 \
		--components digitron/charts/orchestrator:1.2.0 \
		--no-components digitron/charts/database:16.4.1_build.7 --no-images "$DB_IMAGES")
	assert_eq ok "$r" "amd64 only" || return
	# aarch64 is arm64
	new_store
	assert_exit 0 oms app pull "$BASE/apps/digitron:1.2.0" --arch aarch64 || return
	r=$(check --images "$HELM_IMAGES,$DB_IMAGES" --platforms linux/arm64/v8)
	assert_eq ok "$r" "arm64 only"
}

case_profile_type_narrows() {
	push_packages || return
	new_store
	# the compose package has no helm profile: nothing matches, exit 1
	assert_exit 1 oms app pull --profile-type helm "$BASE/apps/monitor:0.3.1-rc.2" || return
	assert_contains "$(out)" "compose docker-amd64  ([amd64,arm64])  skipped: profile type not selected" "skipped" || return
	assert_contains "$(out)" "failed: no deployment profile matches the selected type and architectures" "reason" || return
	local r
	r=$(check --no-components acme/compose/line-monitor:0.3.1-rc.2 --no-images "$COMPOSE_IMAGES")
	assert_eq ok "$r" "nothing but the package" || return
	assert_exit 0 oms app pull --profile-type compose --arch arm64,amd64 "$BASE/apps/monitor:0.3.1-rc.2" || return
	r=$(check --components acme/compose/line-monitor:0.3.1-rc.2 --images "$COMPOSE_IMAGES" --platforms linux/amd64,linux/arm64/v8)
	assert_eq ok "$r" "compose images" || return
	# ${REGISTRY:-...} default and .env value resolved
	assert_contains "$(out)" "$BASE/library/mosquitto:2.0.18  (linux/amd64,linux/arm64; line-monitor/compose.yaml: services.broker.image)  stored" "tree line" || return
	serve_start compose "$STORE" || return
	skopeo_digests apps/monitor:0.3.1-rc.2 acme/compose/line-monitor:0.3.1-rc.2 ${COMPOSE_IMAGES//,/ } || return
	serve_stop "$SRV_PID"
}

case_hostile_archives_refused() {
	push_packages || return
	new_store
	assert_exit 1 oms app pull "$BASE/apps/hostile:1.0.0" || return
	local h
	for h in 'hostile-dotdot:1.0.0  (hostile-dotdot, compose)  failed: archive entry "line-monitor/../../etc/cron.d/evil": a ".." component; refused' \
		'hostile-absolute:1.0.0  (hostile-absolute, compose)  failed: archive entry "/etc/evil.conf": an absolute path; refused' \
		'hostile-symlink:1.0.0  (hostile-symlink, compose)  failed: archive entry "line-monitor/config": a symbolic link leaving the directory; refused' \
		'hostile-docker-compose:1.0.0  (hostile-docker-compose, compose)  failed: line-monitor/docker-compose.yml instead of line-monitor/compose.yaml' \
		'hostile-two-tops:1.0.0  (hostile-two-tops, compose)  failed: archive entry "other/compose.yaml": a second top-level directory' \
		'hostile-device:1.0.0  (hostile-device, compose)  failed: archive entry "line-monitor/tty": a device, FIFO or socket'; do
		assert_contains "$(out)" "$BASE/acme/compose/$h" "refusal" || return
	done
	local r
	r=$(check --no-components "$(exp_get "$EXP" "','.join(x.split('/', 2)[2] for x in d['hostile'])")" \
		--components acme/compose/line-monitor:0.3.1-rc.2 --images "$COMPOSE_IMAGES" --platforms "$ALL3")
	assert_eq ok "$r" "hostile components not stored, the rest is" || return
	assert_contains "$(out)" "5 stored, 0 unchanged, 6 failed" "summary" || return
	# nothing of them is served either
	serve_start hostile "$STORE" || return
	if timeout 30 skopeo inspect --raw --tls-verify=false "docker://$SRV/$BASE/acme/compose/hostile-dotdot:1.0.0" >/dev/null 2>&1; then
		fail "hostile component served"
		return
	fi
	serve_stop "$SRV_PID"
	# the refused archives were read in memory only: not even their bytes
	local dg
	dg=$(timeout 30 curl -sf "http://$APP_HOST/v2/appe2e/acme/compose/hostile-dotdot/manifests/1.0.0" -H 'Accept: application/vnd.oci.image.manifest.v1+json' |
		"$PYTHON" -c 'import json,sys; print(json.load(sys.stdin)["layers"][0]["digest"])')
	assert_no_blob "$dg" || return
	[ ! -e "$STORE/repositories/$BASE/acme/compose/hostile-dotdot" ] || fail "a repository for a refused component"
}

case_not_a_package() {
	push_packages || return
	new_store
	# an image mirrored before, then named to app pull by mistake
	assert_exit 0 oms pull "$BASE/library/redis:7" || return
	local before; before=$(json_field "$STORE/repositories/$BASE/library/redis/_tags/7" digest)
	assert_exit 1 oms app pull "$BASE/library/redis:7" || return
	assert_contains "$(out)" "$BASE/library/redis:7  failed: not a Margo application package (artifactType absent); nothing stored" "refusal" || return
	assert_eq "$before" "$(json_field "$STORE/repositories/$BASE/library/redis/_tags/7" digest)" "the image's tag is kept" || return
	local r
	r=$(check --images library/redis:7 --platforms "$ALL3")
	assert_eq ok "$r" "the image is still complete"
}

case_missing_component_and_image() {
	push_packages || return
	local d=$W/broken-app
	rm -rf "$d" && cp -a "$W/helm-app" "$d" || return
	sed -i 's/revision: 16.4.1+build.7/revision: 9.9.9/; s/^  version: 1.2.0/  version: 1.2.1/' "$d/margo.yaml"
	# the orchestrator chart's busybox image disappears upstream
	curl -sf -X DELETE "http://$APP_HOST/v2/appe2e/library/busybox/manifests/$(exp_get "$EXP" "d['images']['$BASE/library/busybox:1.36']['digest']")" ||
		{ fail "delete busybox upstream"; return; }
	new_store
	assert_exit 0 oms app push "$d" "$BASE/apps/digitron" || return
	assert_exit 1 oms app pull --arch arm64 "$BASE/apps/digitron:1.2.1" || return
	assert_contains "$(out)" "$BASE/digitron/charts/database:9.9.9  (database)  failed: " "missing chart named" || return
	assert_match "$(out)" "$BASE/library/busybox:1.36  \(linux/arm64; orchestrator/values.yaml: initContainers\[0\].image\)  failed: manifest appe2e/library/busybox:1.36: not found" "missing image named once" || return
	local r
	r=$(check --images digitron/orchestrator:1.2.0,digitron/agent:2.0,digitron/metrics:0.1.0 --platforms linux/arm64/v8 \
		--components digitron/charts/orchestrator:1.2.0)
	assert_eq ok "$r" "the rest stored" || return
	# put busybox back for the other cases
	timeout 120 "$PYTHON" "$E2E_LIB/seed_app.py" --registry "$APP_HOST:80" --name "$APP_HOST" \
		--work "$W/reseed" --out "$W/reseed.json" >/dev/null || { fail "reseed"; return; }
}

case_sync_margo_app() {
	push_packages || return
	new_store
	cat >"$W/sync.yaml" <<-EOF
	defaults:
	  referrers: true
	sync:
	  - source: $BASE/apps/digitron
	    type: margo-app
	    tags: {semver: ">=1.2.0 <1.2.1"}
	    arch: [arm64]
	  - source: $BASE/apps/monitor
	    type: margo-app
	EOF
	assert_exit 0 oms --json sync -c "$W/sync.yaml" || return
	local r
	r=$(check --images "$HELM_IMAGES,$DB_IMAGES" --platforms linux/arm64/v8 \
		--components digitron/charts/orchestrator:1.2.0,digitron/charts/database:16.4.1_build.7 --signature)
	assert_eq ok "$r" "digitron for arm64" || return
	r=$(check --images "$COMPOSE_IMAGES" --platforms linux/amd64,linux/arm64/v8 --components acme/compose/line-monitor:0.3.1-rc.2)
	assert_eq ok "$r" "monitor for its architectures" || return
	assert_file "$STORE/repositories/$BASE/apps/digitron/_tags/1.2.0" || return
	[ ! -e "$STORE/repositories/$BASE/apps/digitron/_tags/1.2.1" ] || { fail "1.2.1 outside the semver range stored"; return; }
	# a second run with nothing new: all unchanged, no blob fetched
	assert_exit 0 oms --json sync -c "$W/sync.yaml" || return
	assert_eq "0 0" "$(tail -n 1 "$OUT" | "$PYTHON" -c 'import json,sys; d=json.load(sys.stdin); print(d["failed"], d["bytesFetched"])')" "no-op run" || return
	assert_eq 0 "$(grep -c '"action": *"\(added\|updated\)"' "$OUT")" "nothing added on the second run"
}

case_faults() {
	# the same registry under a second bare name: a fault proxy on it
	local paddr pexp=$W/fault.json
	paddr=$(e2e_bare_addr) || { fail "no second 127.0.80.N:80"; return; }
	"$PYTHON" "$E2E_LIB/faultproxy.py" --host "$paddr" --port 80 --upstream "$APP_HOST:80" \
		>"$W/faultproxy.log" 2>&1 </dev/null &
	E2E_PIDS+=("$!")
	e2e_wait_http "http://$paddr/v2/" || { fail "fault proxy did not start"; return; }
	timeout 120 "$PYTHON" "$E2E_LIB/seed_app.py" --registry "$APP_HOST:80" --name "$paddr" \
		--prefix appfault --work "$W/fault" --out "$pexp" >/dev/null || { fail "seed through the proxy name"; return; }
	new_store
	assert_exit 0 oms app push "$W/fault/helm-app" "$paddr/appfault/apps/digitron" || return
	curl -sf -X POST "http://$paddr/__reset" >/dev/null &&
		curl -sf -X POST "http://$paddr/__fault" -d '[
		{"mode":"status503","match":"/appfault/apps/digitron/manifests/","retry_after":1,"count":1},
		{"mode":"status429","match":"/charts/orchestrator/manifests/","retry_after":1,"count":1},
		{"mode":"corrupt","match":"/charts/database/blobs/","method":"GET","after":10,"count":1},
		{"mode":"drop","match":"/digitron/orchestrator/blobs/","method":"GET","after":300,"count":2},
		{"mode":"status500","match":"/library/busybox/manifests/","count":1}]' >/dev/null ||
		{ fail "setting faults"; return; }
	assert_exit 0 oms app pull "$paddr/appfault/apps/digitron:1.2.0" || return
	local r
	r=$("$PYTHON" "$E2E_LIB/check_app.py" "$STORE" "$pexp" --images "$HELM_IMAGES" \
		--platforms linux/amd64,linux/arm64/v8 --signature \
		--components digitron/charts/orchestrator:1.2.0,digitron/charts/database:16.4.1_build.7)
	assert_eq ok "$r" "stored despite the faults" || return
	assert_eq "corrupt drop drop status429 status500 status503" \
		"$(curl -sf "http://$paddr/__log" | "$PYTHON" -c 'import json,sys
print(" ".join(sorted(e["fault"] for e in json.load(sys.stdin) if e.get("fault"))))')" "faults that fired" || return
	# each where it was aimed
	E2E_PROXY=$paddr assert_proxy_faults 1 status503 "/appfault/apps/digitron/manifests/" || return
	E2E_PROXY=$paddr assert_proxy_faults 1 status429 "/charts/orchestrator/manifests/" || return
	E2E_PROXY=$paddr assert_proxy_faults 1 corrupt "/charts/database/blobs/" || return
	E2E_PROXY=$paddr assert_proxy_faults 2 drop "/digitron/orchestrator/blobs/" || return
	E2E_PROXY=$paddr assert_proxy_faults 1 status500 "/library/busybox/manifests/"
}

case_sync_not_a_package() {
	push_packages || return
	new_store
	cat >"$W/sync-bad.yaml" <<-EOF
	sync:
	  - source: $BASE/digitron/postgres
	    type: margo-app
	  - source: $BASE/apps/monitor
	    type: margo-app
	    arch: [arm64]
	EOF
	assert_exit 1 oms sync -c "$W/sync-bad.yaml" || return
	assert_contains "$(alltext)" "failed     $BASE/digitron/postgres:16.4: not a Margo application package (artifactType absent); nothing stored" "refusal" || return
	[ ! -e "$STORE/repositories/$BASE/digitron/postgres" ] || { fail "something of the image stored"; return; }
	local r
	r=$(check --images "$COMPOSE_IMAGES" --platforms linux/arm64/v8 --components acme/compose/line-monitor:0.3.1-rc.2)
	assert_eq ok "$r" "the other rule still done"
}

case_second_pull_unchanged() {
	push_packages || return
	new_store
	assert_exit 0 oms app pull "$BASE/apps/digitron:1.2.0" || return
	assert_contains "$(out)" "9 stored, 0 unchanged, 0 failed" "first pull" || return
	# the store holds it all: every node unchanged, as sync says
	assert_exit 0 oms app pull "$BASE/apps/digitron:1.2.0" || return
	assert_eq "0 stored, 9 unchanged, 0 failed; 0 B fetched" "$(tail -n 1 "$OUT")" "second pull summary" || return
	assert_eq 0 "$(grep -c '  stored' "$OUT")" "no node stored" || return
	assert_match "$(out)" "$BASE/apps/digitron:1.2.0  \(digitron-orchestrator 1.2.0\)  unchanged  sha256:" "package line" || return
	assert_match "$(out)" "      $BASE/library/busybox:1.36  \(linux/arm64,linux/amd64; orchestrator/values.yaml: initContainers\[0\].image\)  unchanged  sha256:" "image line" || return
	assert_exit 0 oms --json app pull "$BASE/apps/digitron:1.2.0" || return
	assert_eq "ok 0 9 0 0" "$(tail -n 1 "$OUT" | "$PYTHON" -c 'import json,sys; d=json.load(sys.stdin); print(d["result"], d["stored"], d["unchanged"], d["failed"], d["bytesFetched"])')" "json summary"
}

case_no_tag_highest_version() {
	push_packages || return
	new_store
	# the same package under three tags; no "latest", as a Margo registry has
	local t
	for t in 1.9.0 1.10.0 1.2.0-rc.1; do
		assert_exit 0 oms app push "$W/helm-app" "$BASE/apps/versions:$t" || return
	done
	assert_exit 0 oms app pull --arch amd64 "$BASE/apps/versions" || return
	assert_eq "$BASE/apps/versions:1.10.0  (digitron-orchestrator 1.2.0)  stored" \
		"$(head -n 1 "$OUT" | sed 's/  sha256:.*//')" "the highest version pulled" || return
	[ ! -e "$STORE/repositories/$BASE/apps/versions/_tags/latest" ] || { fail "a latest tag"; return; }
	# app show, without a tag, picks the same one
	assert_exit 0 oms app pull --arch amd64 "$BASE/apps/versions:1.9.0" || return
	assert_exit 0 oms --json app show "$BASE/apps/versions" || return
	assert_eq "1.10.0" "$(json_field "$OUT" tag)" "app show's pick"
}

case_no_tag_mixed_versions_and_signatures() {
	push_packages || return
	new_store
	# "2.0" (not SemVer) above "1.0.0"; a cosign-style tag is no version
	local t sig=sha256-0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef.sig
	for t in 1.0.0 2.0 "$sig"; do
		assert_exit 0 oms app push "$W/helm-app" "$BASE/apps/mixed:$t" || return
	done
	assert_exit 0 oms app pull --arch amd64 "$BASE/apps/mixed" || return
	assert_eq "$BASE/apps/mixed:2.0  (digitron-orchestrator 1.2.0)  stored" \
		"$(head -n 1 "$OUT" | sed 's/  sha256:.*//')" "2.0 over 1.0.0" || return
	for t in latest "$sig"; do
		assert_exit 0 oms app push "$W/helm-app" "$BASE/apps/signed:$t" || return
	done
	assert_exit 0 oms app pull --arch amd64 "$BASE/apps/signed" || return
	assert_eq "$BASE/apps/signed:latest  (digitron-orchestrator 1.2.0)  stored" \
		"$(head -n 1 "$OUT" | sed 's/  sha256:.*//')" "latest, not the signature tag"
}

case_digest_pinned_failure_named_as_written() {
	push_packages || return
	new_store
	local z=sha256:0000000000000000000000000000000000000000000000000000000000000000
	assert_exit 1 oms app pull "$BASE/apps/digitron:1.2.0@$z" || return
	assert_eq "$BASE/apps/digitron:1.2.0@$z  failed: manifest appe2e/apps/digitron@$z: not found" \
		"$(head -n 1 "$OUT" | sed 's/ (.*//')" "tag and digest" || return
	assert_exit 1 oms app pull "$BASE/apps/digitron@$z" || return
	assert_eq "$BASE/apps/digitron@$z  failed: manifest appe2e/apps/digitron@$z: not found" \
		"$(head -n 1 "$OUT" | sed 's/ (.*//')" "digest only"
}

case_sync_failure_names_once() {
	push_packages || return
	new_store
	cat >"$W/sync-none.yaml" <<-EOF
	sync:
	  - source: $BASE/apps/monitor
	    type: margo-app
	    arch: [riscv64]
	EOF
	assert_exit 1 oms sync -c "$W/sync-none.yaml" || return
	assert_eq "failed     $BASE/apps/monitor:0.3.1-rc.2: no deployment profile matches the selected architectures" \
		"$(grep '^failed' "$E2E_LAST_OUT")" "one failure line, the package named once"
}

# a description another tool published with resource hints out of the
# model (aarch64, no cpu.cores, 1G, 512MB, enum values no version lists):
# still mirrored, the hints reported as warnings on the package
case_hint_errors_still_mirror() {
	push_packages || return
	cat >"$W/hint-edits.json" <<-'EOF'
	[["    deviceConstraints:\n      capacityRequirements:\n        cpu:\n          cores: 2\n          architectures: [arm64]\n        memory: 512Mi\n        storage: 1Gi\n",
	  "    requiredResources:\n      cpu:\n        architectures: [aarch64]\n      memory: 1G\n      storage: 512MB\n      peripherals:\n        - type: keyboard\n"],
	 ["    deviceConstraints:\n      capacityRequirements:\n        cpu:\n          cores: 4\n          architectures: [amd64]\n",
	  "    requiredResources:\n      cpu:\n        cores: 4\n        architectures: [amd64]\n      interfaces:\n        - type: serial\n"]]
	EOF
	timeout 60 "$PYTHON" "$E2E_LIB/repush_margo.py" --registry "$APP_HOST:80" \
		appe2e/apps/digitron:1.2.0 appe2e/apps/hinted:1.2.0 "$W/hint-edits.json" >/dev/null ||
		{ fail "repush with hint errors"; return; }
	new_store
	assert_exit 0 oms app pull --arch arm64 "$BASE/apps/hinted:1.2.0" || return
	assert_contains "$(out)" "$BASE/apps/hinted:1.2.0  (digitron-orchestrator 1.2.0)  stored: margo.yaml has 6 warnings (first: line 29:9: missing required field \"cpu.cores\")" "warnings on the package" || return
	local r
	r=$(check --images "$HELM_IMAGES,$DB_IMAGES" --platforms linux/arm64/v8 \
		--components digitron/charts/orchestrator:1.2.0,digitron/charts/database:16.4.1_build.7)
	assert_eq ok "$r" "aarch64 profile mirrored for arm64" || return
	assert_exit 0 oms --json app pull --arch amd64 "$BASE/apps/hinted:1.2.0" || return
	assert_contains "$(head -n 1 "$OUT")" '"message":"margo.yaml has 6 warnings' "json message" || return
	assert_contains "$(grep '"profile"' "$OUT" | head -n 1)" '"state":"skipped"' "aarch64 profile skipped for amd64"
}

run_case "app pull: Helm application, every profile, served to skopeo" case_helm_app_everything
run_case "app pull --arch: only the matching profiles and platforms" case_arch_narrows
run_case "app pull --profile-type: only that type; none matching -> exit 1" case_profile_type_narrows
run_case "app pull: hostile Compose archives refused, nothing stored, rest reported" case_hostile_archives_refused
run_case "app pull: a missing chart and image named with the reason, exit 1" case_missing_component_and_image
run_case "app pull of an image that is not a package: refused, its tags kept" case_not_a_package
run_case "app pull through a fault proxy: 503, 429, a corrupt chart, drops" case_faults
run_case "sync type: margo-app: versions by semver, arch, no-op re-run" case_sync_margo_app
run_case "sync type: margo-app on an image repository: refused, nothing stored" case_sync_not_a_package
run_case "app pull twice: the second reports every node unchanged, 0 B" case_second_pull_unchanged
run_case "app pull REPO (no tag): the highest version, as app show picks" case_no_tag_highest_version
run_case "app pull REPO (no tag): 2.0 over 1.0.0, signature tags skipped" case_no_tag_mixed_versions_and_signatures
run_case "app pull REPO:TAG@DIGEST failing: the reference as written, @ not :" case_digest_pinned_failure_named_as_written
run_case "sync margo-app failure line: the package named once" case_sync_failure_names_once
run_case "app pull: resource hints out of the model are warnings, still mirrored" case_hint_errors_still_mirror
