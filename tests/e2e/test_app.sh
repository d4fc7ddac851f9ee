#!/usr/bin/env bash
# e2e: `ocimirror app validate` on the Margo samples and bad descriptions
# in testdata/margo, and `app push` to a docker-registry and into the store.
# Run by tests/e2e/run.sh, which exports OCIMIRROR, E2E_*.
. "$(dirname "$0")/lib/prologue.sh"

MARGO=$(cd "$HERE/../../testdata/margo" && pwd)

case_valid_package_dir() {
	new_store
	assert_exit 0 oms app validate "$MARGO/helm-app" || return
	assert_eq "$MARGO/helm-app/margo.yaml: valid: 0 errors, 0 warnings" "$(out)" "summary" || return
	assert_exit 0 oms app validate "$MARGO/compose-app/margo.yaml" || return
}

case_bad_file_exit_1_with_position() {
	new_store
	local f=$MARGO/bad/revision-leading-v.yaml
	assert_exit 1 oms app validate "$f" || return
	assert_contains "$(out)" "$f:18:21: error: revision \"v1.0.0\" must be a SemVer 2.0 version" || return
	assert_eq "$f: invalid: 1 error, 0 warnings" "$(tail -n1 "$OUT")" "summary" || return
}

case_warnings_only_exit_0() {
	new_store
	local f=$MARGO/bad/custom-profile-type.yaml
	assert_exit 0 oms app validate "$f" || return
	assert_contains "$(out)" "$f:12:11: warning: custom profile type \"swarm\"" || return
}

# helm-app is written in the older forms (top-level id, type helm,
# deviceConstraints): valid, and --strict holds it to the newest model
case_strict_newest_model() {
	new_store
	assert_exit 1 oms app validate --strict "$MARGO/helm-app" || return
	assert_contains "$(out)" "$MARGO/helm-app/margo.yaml:3:5: error: a top-level id is not in the newest model; write it as metadata.id" || return
	assert_contains "$(out)" "error: profile type \"helm\" is not in the newest model (helm.v3 or compose)" || return
	assert_contains "$(out)" "error: deviceConstraints is not in the newest model; write requiredResources" || return
	assert_exit 2 oms app validate --strcit "$MARGO/helm-app" || return
}

# resources written ./resources/x as the official examples do: validate and
# push agree, the title is the normalised path, org.margo.app.resource is set
case_push_dot_resource_paths() {
	new_store
	local d=$E2E_WORK/dotpkg m=$E2E_WORK/dot-manifest.json
	rm -rf "$d" && cp -a "$MARGO/helm-app" "$d"
	sed -i 's#: resources/#: ./resources/#' "$d/margo.yaml"
	assert_exit 0 oms app validate "$d" || return
	assert_eq "$d/margo.yaml: valid: 0 errors, 0 warnings" "$(out)" "summary" || return
	assert_exit 0 oms app push "$d" "$REG_OPEN/apps/dotted" || return
	curl -sf -H "Accept: application/vnd.oci.image.manifest.v1+json" \
		"http://$REG_OPEN/v2/apps/dotted/manifests/1.2.0" -o "$m" || { fail "manifest GET"; return; }
	assert_eq "margo.yaml=- resources/description.md=metadata.catalog.application.descriptionFile resources/icon.png=metadata.catalog.application.icon resources/license.pdf=metadata.catalog.application.licenseFile resources/release-notes.md=metadata.catalog.application.releaseNotes" \
		"$("$PYTHON" -c 'import json,sys; m=json.load(open(sys.argv[1])); print(" ".join(sorted("%s=%s" % (l["annotations"]["org.opencontainers.image.title"], l["annotations"].get("org.margo.app.resource", "-")) for l in m["layers"])))' "$m")" "annotations" || return
	ln -sf /etc/hostname "$d/resources/icon.png"
	assert_exit 1 oms app push "$d" "$REG_OPEN/apps/dotted-link" || return
	assert_contains "$(alltext)" "error: icon \"./resources/icon.png\" is a link that leaves the package directory" "link out" || return
}

case_missing_resource_in_dir() {
	new_store
	local d; d=$(mktemp -d "$E2E_WORK/pkg.XXXXXX")
	cp -r "$MARGO/helm-app/." "$d/"
	rm "$d/resources/license.pdf"
	assert_exit 1 oms app validate "$d" || return
	assert_contains "$(out)" "$d/margo.yaml:12:20: error: licenseFile \"resources/license.pdf\" not found" || return
}

case_json() {
	new_store
	local f=$MARGO/bad/wrong-kind.yaml
	assert_exit 1 oms --json app validate "$f" || return
	assert_eq 2 "$(wc -l <"$OUT" | tr -d ' ')" "json lines" || return
	assert_eq "3 7 error" "$(head -n1 "$OUT" | "$PYTHON" -c 'import json,sys; d=json.load(sys.stdin); print(d["line"], d["column"], d["severity"])')" "problem" || return
	assert_eq "False 1 0" "$(tail -n1 "$OUT" | "$PYTHON" -c 'import json,sys; d=json.load(sys.stdin); print(d["valid"], d["errors"], d["warnings"])')" "summary" || return
}

case_usage() {
	new_store
	assert_exit 2 oms app || return
	assert_exit 2 oms app validate || return
	assert_exit 2 oms app validate a b || return
	assert_exit 2 oms app push "$MARGO/helm-app" || return
	assert_contains "$(alltext)" "usage: ocimirror app push DIR REF" || return
	assert_exit 2 oms app pull || return
	assert_contains "$(alltext)" "usage: ocimirror app pull REF" || return
	assert_exit 2 oms app list extra || return
	assert_exit 2 oms app frobnicate || return
	assert_exit 1 oms app validate "$MARGO/does-not-exist.yaml" || return
}

case_push_to_registry_and_store() {
	new_store
	local r=$REG_OPEN/apps/digitron
	assert_exit 0 oms --json app push "$MARGO/helm-app" "$r" || return
	local dg; dg=$(tail -n 1 "$OUT" | "$PYTHON" -c 'import json,sys; print(json.load(sys.stdin)["digest"])')
	# the tag is metadata.version; the manifest is the Margo artifact
	local m=$E2E_WORK/app-manifest.json
	curl -sf -H "Accept: application/vnd.oci.image.manifest.v1+json" \
		"http://$REG_OPEN/v2/apps/digitron/manifests/1.2.0" -o "$m" || { fail "manifest GET"; return; }
	assert_eq "$dg" "sha256:$(sha256sum "$m" | cut -d' ' -f1)" "pushed digest" || return
	assert_eq "application/vnd.margo.app.v1+json application/vnd.oci.empty.v1+json 5" \
		"$("$PYTHON" -c 'import json,sys; m=json.load(open(sys.argv[1])); print(m["artifactType"], m["config"]["mediaType"], len(m["layers"]))' "$m")" "artifact" || return
	assert_eq "margo.yaml=application/vnd.margo.app.description.v1+yaml resources/icon.png=application/vnd.margo.app.icon.v1+png" \
		"$("$PYTHON" -c 'import json,sys; m=json.load(open(sys.argv[1])); print(" ".join("%s=%s" % (l["annotations"]["org.opencontainers.image.title"], l["mediaType"]) for l in m["layers"][:2]))' "$m")" "layers" || return
	# every layer holds the file's bytes
	"$PYTHON" - "$m" "$MARGO/helm-app" "$REG_OPEN" <<'PY' || { fail "layer bytes differ"; return; }
import hashlib, json, sys, urllib.request
m = json.load(open(sys.argv[1]))
for l in m["layers"]:
    body = urllib.request.urlopen("http://%s/v2/apps/digitron/blobs/%s" % (sys.argv[3], l["digest"])).read()
    want = open("%s/%s" % (sys.argv[2], l["annotations"]["org.opencontainers.image.title"]), "rb").read()
    assert body == want, l["annotations"]
PY
	# pulled back into a store: same digest; pushed into a store: same digest
	assert_exit 0 oms pull "$r:1.2.0" || return
	assert_tag "$REG_OPEN" apps/digitron 1.2.0 "$dg" || return
	assert_exit 0 oms app push "$MARGO/helm-app" store:plant/digitron || return
	assert_eq "$dg" "$(json_field "$STORE/repositories/plant/digitron/_tags/1.2.0" digest)" "store push digest"
}

case_push_refuses_invalid_package() {
	new_store
	local d=$E2E_WORK/badpkg
	rm -rf "$d" && cp -a "$MARGO/helm-app" "$d" && rm "$d/resources/icon.png"
	assert_exit 1 oms app push "$d" "$REG_OPEN/apps/broken" || return
	assert_contains "$(alltext)" "nothing pushed" "message" || return
	assert_eq 404 "$(curl -s -o /dev/null -w '%{http_code}' "http://$REG_OPEN/v2/apps/broken/tags/list")" "nothing in the registry"
}

case_catalog_list_and_serve() {
	new_store
	assert_exit 0 oms app push "$MARGO/helm-app" store:apps/digitron || return
	assert_exit 0 oms app push "$MARGO/helm-app" store:apps/digitron:1.1.0 || return
	assert_exit 0 oms app push "$MARGO/compose-app" store:apps/monitor || return
	assert_exit 0 oms --json app list || return
	local summary
	summary=$("$PYTHON" -c 'import json,sys
for l in open(sys.argv[1]):
    a = json.loads(l)
    print(a["repository"], a["id"], a["tag"], ",".join(a["versions"]), a["organization"][0],
          " ".join("%s/%s" % (p["type"], "+".join(p["architectures"])) for p in a["profiles"]))' "$OUT")
	assert_eq "apps/digitron digitron-orchestrator 1.2.0 1.1.0,1.2.0 Digitron helm/arm64 helm/amd64
apps/monitor line-monitor 0.3.1-rc.2 0.3.1-rc.2 Acme Sensors compose/amd64+arm64" "$summary" "catalog" || return
	# one package, for a person
	assert_exit 0 oms app show apps/digitron || return
	assert_eq "Digitron Orchestrator (digitron-orchestrator) 1.2.0" "$(head -n 1 "$OUT")" "show title" || return
	assert_contains "$(out)" "Greeting: parameter greeting, rule greetingRule (string)" "settings" || return
	assert_contains "$(out)" "helm k8s-arm64 [arm64]" "profiles" || return
	assert_exit 0 oms --json app show store:apps/digitron:1.1.0 || return
	assert_eq "1.1.0" "$(json_field "$OUT" tag)" "show by tag" || return
	assert_exit 1 oms app show apps/none || return
	assert_contains "$(alltext)" "no Margo application package" "unknown package" || return
	# the same catalog from the server's extension endpoint
	local port pid body
	port=$(e2e_free_port)
	"$OCIMIRROR" --store "$STORE" -q serve --listen "127.0.0.1:$port" &
	pid=$!
	e2e_wait_http "http://127.0.0.1:$port/healthz" || { kill $pid; fail "serve did not start"; return; }
	body=$(curl -sf "http://127.0.0.1:$port/ocimirror/v1/apps")
	kill $pid
	wait $pid 2>/dev/null
	assert_eq "apps/digitron:1.1.0,1.2.0 apps/monitor:0.3.1-rc.2" "$(echo "$body" | "$PYTHON" -c 'import json,sys
print(" ".join("%s:%s" % (a["repository"], ",".join(a["versions"])) for a in json.load(sys.stdin)["applications"]))')" "served catalog"
}

# a copy of helm-app with the amd64 profile's architectures written
# [x86_64, amd64] (two names of one, both in the model's list) and a third
# profile naming none
arch_variants_pkg() {
	local d=$E2E_WORK/archpkg
	rm -rf "$d" && cp -a "$MARGO/helm-app" "$d" || return
	sed -i 's/architectures: \[amd64\]/architectures: [x86_64, amd64]/' "$d/margo.yaml"
	"$PYTHON" - "$d/margo.yaml" <<'PY'
import sys
p = sys.argv[1]
t = open(p).read()
t = t.replace("parameters:\n", """  - type: helm
    id: k8s-any
    components:
      - name: orchestrator
        properties:
          repository: oci://registry.example.com/digitron/charts/orchestrator
          revision: 1.2.0
parameters:
""", 1)
open(p, "w").write(t)
PY
	echo "$d"
}

case_arch_one_spelling() {
	new_store
	local d; d=$(arch_variants_pkg) || { fail "package copy"; return; }
	assert_exit 0 oms app push "$d" store:apps/archs || return
	assert_exit 0 oms app list || return
	assert_eq "helm/arm64 helm/amd64 helm" "$(cut -f6 "$OUT")" "app list profiles" || return
	assert_exit 0 oms --json app list || return
	assert_eq "arm64|amd64|" "$("$PYTHON" -c 'import json,sys
print("|".join(",".join(p["architectures"]) for p in json.load(open(sys.argv[1]))["profiles"]))' "$OUT")" "catalog architectures" || return
	# app show: the same canonical names, and one wording for none
	assert_exit 0 oms app show apps/archs || return
	assert_eq "  helm k8s-arm64 [arm64]
  helm k8s-amd64 [amd64]
  helm k8s-any [any architecture]" "$(grep '^  helm ' "$OUT")" "app show profiles"
}

case_show_picks_a_version_over_latest() {
	new_store
	assert_exit 0 oms app push "$MARGO/helm-app" store:apps/digitron:latest || return
	assert_exit 0 oms app push "$MARGO/helm-app" store:apps/digitron:1.9.0 || return
	assert_exit 0 oms app push "$MARGO/helm-app" store:apps/digitron:1.10.0 || return
	assert_exit 0 oms --json app show apps/digitron || return
	assert_eq "1.10.0" "$(json_field "$OUT" tag)" "show without a tag" || return
	assert_exit 0 oms --json app list || return
	assert_eq "1.10.0" "$(json_field "$OUT" tag)" "the catalog's entry"
}

run_case "app list, app show and GET /ocimirror/v1/apps" case_catalog_list_and_serve
run_case "app push: Margo artifact to a registry and into the store" case_push_to_registry_and_store
run_case "app push: an invalid package is refused, nothing pushed" case_push_refuses_invalid_package
run_case "app validate: sample package directory and file -> exit 0" case_valid_package_dir
run_case "app validate: bad revision -> exit 1 with FILE:LINE:COL" case_bad_file_exit_1_with_position
run_case "app validate: warnings only -> exit 0" case_warnings_only_exit_0
run_case "app validate --strict: the newest model alone" case_strict_newest_model
run_case "app push: ./resources/x paths, org.margo.app.resource on each resource" case_push_dot_resource_paths
run_case "app validate: resource file missing from the package dir" case_missing_resource_in_dir
run_case "app validate --json: one object per problem and a summary" case_json
run_case "app usage errors -> exit 2, missing file -> exit 1" case_usage
run_case "app list/show: x86_64 is amd64, listed once; none is [any architecture]" case_arch_one_spelling
run_case "app show/list without a tag: the highest version, never latest" case_show_picks_a_version_over_latest
