#!/usr/bin/env bash
# e2e: the web UI served at / by `ocimirror serve`, in a real browser:
# Debian's chromium (headless) driven by playwright-core (tests/ui, pinned,
# `npm ci` from its package-lock.json). tests/ui/ui.test.js walks the
# steps (catalog of 200 applications, search, tag filter, application page
# with its Markdown, hostile Markdown inert, device check, configuration
# form invalid then valid, download, repositories, sync, tablet layout);
# each step is a case here. A step whose endpoint the server lacks is a
# skip naming it; when npm cannot reach its registry or chromium cannot
# start, every case is a skip naming why. Screenshots: $E2E_WORK/shots
# and build/ui-screenshots/. Bounds: npm ci 90 s + node 120 s + set-up,
# within run.sh's E2E_FILE_TIMEOUT (240 s).
# Run by tests/e2e/run.sh, which exports OCIMIRROR, E2E_*.
. "$(dirname "$0")/lib/prologue.sh"

UI_SRC=$(cd "$HERE/../ui" && pwd)
SHOTS_OUT=$(cd "$HERE/../.." && pwd)/build/ui-screenshots
UI_APPS=200
CHROMIUM=${CHROMIUM:-/usr/bin/chromium}
UI=$E2E_WORK/ui
RES=$E2E_WORK/ui-result.json
DL=$E2E_WORK/deployment-ui.yaml

for t in node npm "$CHROMIUM"; do
	command -v "$t" >/dev/null 2>&1 || e2e_setup_fail "missing $t (scripts/deps.sh installs chromium, nodejs, npm)"
done

# The cases: STEP (of ui.test.js) TAB NAME; STEP "-" is the comparison
# of the download with `app deploy` below.
ui_cases() {
	cat <<EOF
headers	ui: / and its CSP, nosniff, content type
catalog	ui: catalog of $UI_APPS applications drawn
search	ui: search by name and organization
tag filter	ui: filter by catalog tag
application page	ui: application page with Markdown, profiles, versions
markdown is inert	ui: <script> and javascript: links in Markdown are inert
markdown size bounds	ui: 100 KB of "[" in release notes shown as text with a note; past 256 KiB plain
own URLs only	ui: resource URLs of another origin (/\\host, /<tab>/host) refused
device check	ui: device check: fits and reasons per profile
device check refuses a non-device file	ui: device check: a non-device file is refused (400)
form: invalid values	ui: form: each rule's message as the user types
form: valid values and download	ui: form: valid answers, deployment downloaded
-	ui: downloaded deployment = app deploy (but metadata.id)
form: server errors per field	ui: form: the server's refusals shown per field (deploy answer stubbed)
form: a pattern that could stall the page	ui: form: a nested-quantifier regexMatch left to the server, noted
repositories	ui: repositories list
sync status	ui: last sync status
tablet layout	ui: tablet (768 px) layout without horizontal scroll
no CSP violation	ui: no Content-Security-Policy violation in the whole walk
EOF
}

# ui_skip_all REASON: every case a skip (the browser cannot run here)
ui_skip_all() {
	local st name
	while IFS=$'\t' read -r -u 3 st name; do
		skip_case "$name" "$1"
	done 3< <(ui_cases)
	exit 0
}

mkdir -p "$UI" "$E2E_WORK/shots"
cp "$UI_SRC/package.json" "$UI_SRC/package-lock.json" "$UI_SRC/ui.test.js" "$UI/"
npm_rc=0
(cd "$UI" && timeout -k 5 90 npm ci --no-audit --no-fund --loglevel=error) >"$E2E_WORK/npm.log" 2>&1 || npm_rc=$?
if [ $npm_rc -ne 0 ]; then
	npm_why=$(tail -n 3 "$E2E_WORK/npm.log" | tr '\n' ' ')
	if [ $npm_rc -eq 124 ] || [ $npm_rc -eq 137 ]; then
		ui_skip_all "npm ci in tests/ui took over 90 s (no network to its registry?)"
	fi
	npm_net=$(grep -Em1 'ENOTFOUND|EAI_AGAIN|ECONNREFUSED|ECONNRESET|ETIMEDOUT|ENETUNREACH|EHOSTUNREACH' "$E2E_WORK/npm.log" | cut -c1-200)
	[ -n "$npm_net" ] && ui_skip_all "npm ci in tests/ui could not reach its registry: $npm_net"
	e2e_setup_fail "npm ci in tests/ui failed: $npm_why"
fi

new_store
"$PYTHON" "$HERE/lib/ui_apps.py" "$E2E_WORK/pkgs" "$UI_APPS" || e2e_setup_fail "ui_apps.py"
for d in "$E2E_WORK"/pkgs/*; do
	oms app push "$d" "store:apps/$(basename "$d")" || e2e_setup_fail "app push $d: $(alltext | tail -n 2)"
done
serve_start ui "$STORE" || e2e_setup_fail "serve: $E2E_CASE_FAIL"

cat >"$E2E_WORK/device.yaml" <<'YAML'
apiVersion: device.margo.org/v1alpha1
kind: DeviceCapabilitiesManifest
properties:
  id: test-rig-07
  vendor: Test Rigs Ltd
  modelNumber: TR-7
  serialNumber: TR7-000042
  roles: [Standalone Cluster]
  resources:
    cpu:
      cores: 4
      architectures: [arm64]
    memory: 8Gi
    storage: 64Gi
    peripherals:
      - type: camera
        manufacturer: Optix
    interfaces:
      - type: ethernet
YAML

"$PYTHON" - "$E2E_WORK" "$SRV_URL" "$UI_APPS" "$CHROMIUM" <<'PY'
import json, sys, os
work, url, n, chromium = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
json.dump({
    "url": url, "shots": os.path.join(work, "shots"), "out": os.path.join(work, "ui-result.json"),
    "download": os.path.join(work, "deployment-ui.yaml"), "apps": n, "chromium": chromium,
    "device": open(os.path.join(work, "device.yaml")).read(), "deviceId": "test-rig-07",
    "hostileMarkdown": open(os.path.join(work, "pkgs/hostile/resources/description.md")).read(),
    "answers": {"siteName": "south-field", "interval": "120", "offset": "1.25", "units": "imperial"},
    "name": "weather-south",
}, open(os.path.join(work, "ui-config.json"), "w"))
PY

(cd "$UI" && timeout -k 5 120 node ui.test.js "$E2E_WORK/ui-config.json") >"$E2E_WORK/node.log" 2>&1
node_rc=$?
rm -rf "$SHOTS_OUT" && mkdir -p "$SHOTS_OUT" && cp "$E2E_WORK"/shots/*.png "$SHOTS_OUT/" 2>/dev/null
echo "# ui: screenshots in $E2E_WORK/shots and $SHOTS_OUT ($(ls "$SHOTS_OUT" | wc -l) files)"
[ -s "$RES" ] || e2e_setup_fail "ui.test.js wrote no result (exit $node_rc): $(tail -n 5 "$E2E_WORK/node.log" | tr '\n' ' ')"

# ui_field EXPR: a value of the result file (d = the JSON)
ui_field() { "$PYTHON" -c 'import json,sys; d=json.load(open(sys.argv[1])); v=eval(sys.argv[2]); print("" if v is None else v)' "$RES" "$1"; }

launch=$(ui_field 'd.get("launchFailed", "")')
[ -n "$launch" ] && ui_skip_all "chromium could not start: $launch"
fatal=$(ui_field 'd.get("fatal", "")')
if [ -n "$fatal" ] && [ "$(ui_field 'len(d.get("steps", {}))')" = 0 ]; then
	ui_skip_all "chromium could not start: $(printf %s "$fatal" | head -n 1)"
fi
[ -n "$fatal" ] && echo "# ui: ui.test.js stopped: $(printf %s "$fatal" | head -n 3 | tr '\n' ' ')"
echo "# ui: catalog of $UI_APPS applications: $(ui_field 'd["timings"].get("catalogLoadMs")') ms from navigation to drawn, $(ui_field 'd["timings"].get("catalogRenderMs")') ms fetch + render in the page"

# ui_step STEP: the case for one step of ui.test.js
ui_step() {
	local st detail
	st=$(ui_field "d['steps'].get('$1', {}).get('status', 'missing')")
	detail=$(ui_field "d['steps'].get('$1', {}).get('detail', '')")
	case $st in
	ok) [ -n "$detail" ] && echo "# ui: $1: $detail"; return 0 ;;
	skip) UI_SKIP=$detail; return 3 ;;
	missing) fail "step $1 did not run (ui.test.js: $(printf %s "$fatal" | head -n 1))" ;;
	*) fail "$detail" ;;
	esac
}

# ui_case NAME STEP: run_case, or skip_case when the step skipped
ui_case() {
	UI_SKIP=
	if ui_step "$2" >/dev/null 2>&1 || [ -z "$UI_SKIP" ]; then
		run_case "$1" ui_step "$2"
	else
		skip_case "$1" "$UI_SKIP"
	fi
}

# The deployment downloaded in the browser and `app deploy` for the same
# answers: the same document but for metadata.id (a fresh UUID each).
case_download_matches_cli() {
	assert_file "$DL" || return
	assert_exit 0 oms app deploy apps/weather:2.1.0 --profile edge-arm64 --device-id test-rig-07 \
		--set siteName=south-field --set interval=120 --set offset=1.25 --set units=imperial \
		--name weather-south -o "$E2E_WORK/deployment-cli.yaml" || return
	local uuid='[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}'
	assert_contains "$(cat "$DL")" "kind: ApplicationDeployment" || return
	assert_eq "$(sed -E "s/$uuid/UUID/g" "$E2E_WORK/deployment-cli.yaml")" "$(sed -E "s/$uuid/UUID/g" "$DL")" \
		"browser download vs app deploy" || return
	assert_contains "$(cat "$DL")" "south-field" "the answer in the document"
}

while IFS=$'\t' read -r -u 3 st name; do
	if [ "$st" != - ]; then
		ui_case "$name" "$st"
	elif [ "$(ui_field "d['steps'].get('form: valid values and download', {}).get('status')")" = ok ]; then
		run_case "$name" case_download_matches_cli
	else
		skip_case "$name" "no download: $(ui_field "d['steps'].get('form: valid values and download', {}).get('detail')")"
	fi
done 3< <(ui_cases)
