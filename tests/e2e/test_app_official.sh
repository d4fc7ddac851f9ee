#!/usr/bin/env bash
# e2e: a Margo package written the way the newest specification's own
# valid example is (testdata/margo/official-app: metadata.id, a helm.v3
# profile, requiredResources with cpu.cores/architectures and memory,
# resources named "./resources/..."), end to end: `app validate` finds
# nothing to say, `app push` sends it to an `ocimirror serve --push` (the
# application registry, which also holds its chart and images, put there
# by seed_official.py), `app pull` (no tag: the highest version) mirrors
# it all into a site store, `app show` and `app list` describe it, a
# second pull changes nothing, and a margo-app sync names every line.
# Run by tests/e2e/run.sh, which exports OCIMIRROR, E2E_*.
. "$(dirname "$0")/lib/prologue.sh"

MARGO=$(cd "$HERE/../../testdata/margo" && pwd)
PKG=$MARGO/official-app
W=$E2E_WORK/official
mkdir -p "$W"

# the application registry: a serve instance taking pushes from a user,
# read by anyone
UPSTREAM=$(mktemp -d "$E2E_WORK/upstream.XXXXXX")
HTP=$W/htpasswd
htpasswd -Bbn "$E2E_USER" "$E2E_PASS" >"$HTP" 2>/dev/null || e2e_setup_fail "htpasswd failed"
serve_start registry "$UPSTREAM" --htpasswd "$HTP" --anonymous-read --push ||
	e2e_setup_fail "serve --push: ${E2E_CASE_FAIL:-did not start}"
REG=$SRV
EXP=$W/exp.json
timeout 120 "$PYTHON" "$E2E_LIB/seed_official.py" --registry "$REG" --user "$E2E_USER" --password "$E2E_PASS" \
	--work "$W" --out "$EXP" | sed 's/^/# /'
[ -s "$EXP" ] || e2e_setup_fail "seed_official.py wrote no expectations"
CHART=$(exp_get "$EXP" "d['chart']")
PINNED=$(exp_get "$EXP" "d['pinned']")
IMG=$(exp_get "$EXP" "d['images']['$REG/plant/greeter:1.4.2']")
EXPORTER=$(exp_get "$EXP" "d['images']['$REG/plant/greeter-exporter:0.3.0']")
PKG_DIGEST=

# no_sizes: the tree and summary without the byte counts
no_sizes() { sed -E 's/  [0-9.]+ (B|KiB|MiB)$//; s/; [0-9.]+ (B|KiB|MiB) fetched$/; N fetched/' "$OUT"; }

case_validate_clean() {
	new_store
	assert_exit 0 oms app validate "$PKG" || return
	assert_eq "$PKG/margo.yaml: valid: 0 errors, 0 warnings" "$(alltext)" "validate output" || return
	assert_exit 0 oms --json app validate "$PKG/margo.yaml" || return
	assert_eq "summary True 0 0" "$("$PYTHON" -c 'import json,sys
d=json.loads(open(sys.argv[1]).read().splitlines()[-1]); print(d["event"], d["valid"], d["errors"], d["warnings"])' "$OUT")" "json summary" || return
	assert_eq 1 "$(wc -l <"$OUT" | tr -d ' ')" "no problem lines"
}

case_push_to_serve() {
	new_store
	docker_login_file "$REG" "$E2E_USER" "$E2E_PASS"
	assert_exit 0 oms --json app push "$W/official-app" "$REG/apps/greeter" || return
	PKG_DIGEST=$(json_field "$OUT" digest)
	assert_eq "apps/greeter 1.4 5" "$("$PYTHON" -c 'import json,sys
d=json.load(open(sys.argv[1])); print(d["repository"].split("/", 1)[1], d["tag"], d["layers"])' "$OUT")" "pushed" || return
	# the manifest the registry holds: the Margo artifact, one layer per
	# file, titled by its path inside the package (no "./")
	local m=$W/manifest.json
	curl -sf -H "Accept: application/vnd.oci.image.manifest.v1+json" \
		"http://$REG/v2/apps/greeter/manifests/1.4" -o "$m" || { fail "manifest GET"; return; }
	assert_eq "$PKG_DIGEST" "$(sha_of "$m")" "pushed digest" || return
	assert_eq "application/vnd.margo.app.v1+json application/vnd.oci.empty.v1+json
margo.yaml application/vnd.margo.app.description.v1+yaml
resources/icon.png application/vnd.margo.app.icon.v1+png
resources/description.md application/vnd.margo.app.descriptionFile.v1+markdown
resources/license.pdf application/vnd.margo.app.licenseFile.v1+pdf
resources/release-notes.md application/vnd.margo.app.releaseNotes.v1+markdown" \
		"$("$PYTHON" -c 'import json,sys
m=json.load(open(sys.argv[1])); print(m["artifactType"], m["config"]["mediaType"])
for l in m["layers"]: print(l["annotations"]["org.opencontainers.image.title"], l["mediaType"])' "$m")" "layers" || return
	# each layer is the file's bytes
	"$PYTHON" - "$m" "$W/official-app" "$REG" <<'PY' || { fail "a layer differs from its file"; return; }
import json, sys, urllib.request
m = json.load(open(sys.argv[1]))
for l in m["layers"]:
    t = l["annotations"]["org.opencontainers.image.title"]
    body = urllib.request.urlopen("http://%s/v2/apps/greeter/blobs/%s" % (sys.argv[3], l["digest"])).read()
    want = open("%s/%s" % (sys.argv[2], t), "rb").read()
    assert body == want, t
PY
}

case_pull_from_serve() {
	[ -n "$PKG_DIGEST" ] || { fail "nothing pushed"; return; }
	new_store
	# no tag: the highest version the registry lists
	assert_exit 0 oms app pull "$REG/apps/greeter" || return
	assert_eq "$REG/apps/greeter:1.4  (com-example-greeter 1.4)  stored  $PKG_DIGEST
  helm.v3 com-example-greeter-helm.v3-a  ([amd64,arm64])
    $REG/charts/greeter:1.4.2  (greeter, helm chart)  stored  $CHART
      $PINNED  (linux/amd64,linux/arm64; greeter/values.yaml: image)  stored  $IMG
      $REG/plant/greeter-exporter:0.3.0  (linux/amd64,linux/arm64; greeter/values.yaml: exporter.image)  stored  $EXPORTER
4 stored, 0 unchanged, 0 failed; N fetched" "$(no_sizes)" "app pull tree" || return
	# the package's every file, the chart and both images are in the store
	local f
	for f in icon.png description.md release-notes.md license.pdf; do
		assert_blob "$(sha_of "$PKG/resources/$f")" "$(stat -c %s "$PKG/resources/$f")" || return
	done
	assert_tag "$REG" apps/greeter 1.4 "$PKG_DIGEST" || return
	assert_tag "$REG" charts/greeter 1.4.2 "$CHART" || return
	assert_tag "$REG" plant/greeter 1.4.2 "$IMG" || return
	assert_tag "$REG" plant/greeter-exporter 0.3.0 "$EXPORTER" || return
	# a second pull: nothing new
	assert_exit 0 oms app pull "$REG/apps/greeter:1.4" || return
	assert_eq "4 unchanged" "$(grep -c '  unchanged  sha256:' "$OUT") unchanged" "second pull nodes" || return
	assert_eq "0 stored, 4 unchanged, 0 failed; 0 B fetched" "$(tail -n 1 "$OUT")" "second pull summary" || return
	# what the site's catalog says
	assert_exit 0 oms app show "$REG/apps/greeter" || return
	assert_eq "Shift Greeter (com-example-greeter) 1.4
  Shows a greeting for each shift on the line's display.
  tagline: A friendly word at every shift change.
  organization: Example Plant Software https://software.example.com
  author: Mira Okafor mira.okafor@example.com
  site: https://greeter.example.com
deployment profiles:
  helm.v3 com-example-greeter-helm.v3-a [amd64,arm64]
    greeter: oci://$REG/charts/greeter revision 1.4.2
parameters:
  greeting = Good morning -> global.config.greeting
  shiftName = Early shift -> global.config.shiftName
configuration:
  Display
    Greeting: parameter greeting, rule shortText (string)
    Shift Name: parameter shiftName, rule shortText (string)" "$(out)" "app show" || return
	assert_exit 0 oms app list || return
	assert_eq "$REG/apps/greeter	com-example-greeter	Shift Greeter	1.4	Example Plant Software	helm.v3/amd64,arm64	A friendly word at every shift change." \
		"$(out)" "app list"
}

case_sync_names_every_line() {
	[ -n "$PKG_DIGEST" ] || { fail "nothing pushed"; return; }
	new_store
	cat >"$W/sync.yaml" <<-EOF
	sync:
	  - source: $REG/apps/greeter
	    type: margo-app
	    arch: [x86_64]
	EOF
	assert_exit 0 oms sync -c "$W/sync.yaml" || return
	assert_eq "added      $REG/apps/greeter:1.4  ${PKG_DIGEST:0:19}
added      $REG/charts/greeter:1.4.2  ${CHART:0:19}
added      $REG/plant/greeter:1.4.2  ${IMG:0:19}
added      $REG/plant/greeter-exporter:0.3.0  ${EXPORTER:0:19}" \
		"$(grep -v '^sync' "$OUT" | sed -E 's/  [0-9.]+ (B|KiB|MiB)$//')" "sync lines" || return
	# amd64 only: the arm64 child of the pinned image is not there
	local arm
	arm=$(curl -sf -H "Accept: application/vnd.oci.image.index.v1+json" "http://$REG/v2/plant/greeter/manifests/1.4.2" |
		"$PYTHON" -c 'import json,sys; print([m["digest"] for m in json.load(sys.stdin)["manifests"] if m["platform"]["architecture"] == "arm64"][0])')
	assert_no_blob "$arm"
}

run_case "official-style package: app validate, no errors and no warnings" case_validate_clean
run_case "official-style package: app push to serve --push, one layer per file" case_push_to_serve
run_case "official-style package: app pull (no tag) from serve, app show, app list" case_pull_from_serve
run_case "official-style package: sync margo-app names every line, x86_64 is amd64" case_sync_names_every_line
