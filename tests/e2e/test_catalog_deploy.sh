#!/usr/bin/env bash
# e2e: `ocimirror app deploy` on a package pushed into the store (the
# kiln-controller fixture, testdata/margo/deploy-app: every schema rule),
# and serve's GET /ocimirror/v1/config and POST /ocimirror/v1/deploy, which
# give the same ApplicationDeployment for the same answers.
# Run by tests/e2e/run.sh, which exports OCIMIRROR, E2E_*.
. "$(dirname "$0")/lib/prologue.sh"

MARGO=$(cd "$HERE/../../testdata/margo" && pwd)
PKG=$MARGO/deploy-app

# a store holding apps/kiln:2.1.0
kiln_store() {
	new_store
	assert_exit 0 oms app push "$PKG" store:apps/kiln:2.1.0 || return
}

# the document without its metadata.id line (a fresh UUID each time)
no_id() { grep -v '^    id: ' "$1"; }

case_defaults_document() {
	kiln_store || return
	local f=$E2E_WORK/kiln.yaml
	assert_exit 0 oms app deploy store:apps/kiln --profile kiln-k8s --device-id edge-7 \
		--namespace kilns -o "$f" || return
	"$PYTHON" - "$f" <<'PY' || { fail "document: $(cat "$f")"; return; }
import re, sys, yaml
d = yaml.safe_load(open(sys.argv[1]))
assert d["apiVersion"] == "application.margo.org/v1alpha1"
assert d["kind"] == "ApplicationDeployment"
m = d["metadata"]
assert m["annotations"]["applicationId"] == "kiln-controller"
assert re.fullmatch(r"[-a-z0-9]{1,200}", m["annotations"]["applicationId"])
assert re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}", m["annotations"]["id"])
assert m["name"] == "kiln-controller" and m["namespace"] == "kilns" and m["deviceId"] == "edge-7"
p = d["spec"]["deploymentProfile"]
assert p["type"] == "helm.v3"
assert [c["name"] for c in p["components"]] == ["kiln-database", "kiln-controller"]
assert p["components"][0]["properties"] == {"repository": "oci://registry.example.org/charts/kiln-database", "revision": "3.2.1", "wait": True, "timeout": "5m0s"}
ps = d["spec"]["parameters"]
# gatewayPort targets the compose profile's component only
assert "gatewayPort" not in ps, ps.keys()
assert ps["maxTemperature"]["value"] == 1280
assert ps["rampRate"]["value"] == 2.5
assert ps["alarms"]["value"] == ["overheat", "door"]
assert ps["zones"]["value"] == [1, 2, 3]
assert ps["auditLog"]["value"] is True
assert ps["siteName"]["value"] == "North Hall"
# targets keep only this profile's components
assert ps["siteName"]["targets"] == [{"pointer": "site.name", "components": ["kiln-controller"]}]
assert ps["auditLog"]["targets"][0]["components"] == ["kiln-controller", "kiln-database"]
PY
}

case_invalid_values_one_line_each_exit_2() {
	kiln_store || return
	local f=$E2E_WORK/bad.yaml
	rm -f "$f"
	assert_exit 2 oms app deploy apps/kiln:2.1.0 --profile kiln-k8s --device-id edge-7 \
		--set siteCode=nh-1 --set maxTemperature=1301 --set rampRate=2.555 \
		--set unit=kelvin --set alarms=door,smoke --set zones=0,2 \
		--set auditLog=yes --set clusterId=kiln-b --set siteName= -o "$f" || return
	assert_no_file "$f" || return
	local e; e=$(cat "$ERR")
	assert_contains "$e" 'setting "Site code" (parameter siteCode): minLength: the value has 4 characters, fewer than 5' || return
	assert_contains "$e" 'setting "Site code" (parameter siteCode): regexMatch: the value does not match ^[A-Z]{2}-\d{2}$' || return
	assert_contains "$e" 'setting "Maximum temperature" (parameter maxTemperature): maxValue: the value 1301 is above 1300' || return
	assert_contains "$e" '(parameter rampRate): maxPrecision: the value has 3 digits after the point, more than 2' || return
	assert_contains "$e" '(parameter unit): options: the value "kelvin" is not one of the options' || return
	assert_contains "$e" '(parameter alarms): options: item 2 "smoke" is not one of the options' || return
	assert_contains "$e" '(parameter zones): minValue: item 1 0 is below 1' || return
	assert_contains "$e" '(parameter auditLog): dataType: the value "yes" is not true or false' || return
	assert_contains "$e" 'setting "Cluster id" (parameter clusterId): immutable:' || return
	assert_contains "$e" 'setting "Site name" (parameter siteName): allowEmpty: a value is required' || return
	assert_eq 10 "$(wc -l <"$ERR" | tr -d ' ')" "one line per invalid value" || return
	# the edges that pass
	assert_exit 0 oms app deploy apps/kiln --profile kiln-k8s --device-id edge-7 \
		--set siteCode=NH-02 --set maxTemperature=1300 --set rampRate=0.5 \
		--set unit=fahrenheit --set 'alarms=["gas"]' --set zones=1,8 \
		--set auditLog=false --set clusterId=kiln-a -o "$f" || return
	assert_contains "$(cat "$f")" '    "maxTemperature":
      value: 1300' || return
	# unknown parameter, a parameter of another profile, bad names
	assert_exit 2 oms app deploy apps/kiln --profile kiln-k8s --device-id edge-7 --set nope=1 -o "$f" || return
	assert_contains "$(cat "$ERR")" "parameter nope: parameter: no such parameter" || return
	assert_exit 2 oms app deploy apps/kiln --profile kiln-k8s --device-id edge-7 --set gatewayPort=80 -o "$f" || return
	assert_contains "$(cat "$ERR")" "no setting of profile kiln-k8s configures it" || return
	assert_exit 2 oms app deploy apps/kiln --profile kiln-k8s --device-id edge-7 --name Kiln -o "$f" || return
	assert_exit 2 oms app deploy apps/kiln --profile nope --device-id edge-7 -o "$f" || return
	assert_contains "$(cat "$ERR")" 'no deployment profile "nope"' || return
	assert_exit 2 oms app deploy apps/kiln --profile kiln-k8s -o "$f" || return
}

case_values_file_and_compose_profile() {
	kiln_store || return
	local v=$E2E_WORK/values.yaml f=$E2E_WORK/compose.yaml
	printf 'siteName: "South Hall"\ngatewayPort: 8443\n' >"$v"
	assert_exit 0 oms app deploy apps/kiln --profile kiln-compose --device-id gw-1 \
		--values "$v" --set gatewayPort=9000 -o "$f" || return
	"$PYTHON" - "$f" <<'PY' || { fail "compose document: $(cat "$f")"; return; }
import sys, yaml
d = yaml.safe_load(open(sys.argv[1]))
p = d["spec"]["deploymentProfile"]
assert p["type"] == "compose"
assert p["components"] == [{"name": "kiln-stack", "properties": {"packageLocation": "https://downloads.example.org/kiln/kiln-stack-2.1.0.tar.gz"}}]
ps = d["spec"]["parameters"]
assert sorted(ps) == ["gatewayPort", "siteName"], ps
assert ps["gatewayPort"]["value"] == 9000
assert ps["siteName"]["value"] == "South Hall"
assert ps["siteName"]["targets"] == [{"pointer": "site.name", "components": ["kiln-stack"]}]
PY
}

case_serve_config_and_deploy_same_document() {
	kiln_store || return
	serve_start deploy "$STORE" --anonymous-read || return
	local cli=$E2E_WORK/cli.yaml q="repo=apps/kiln&tag=2.1.0&profile=kiln-k8s"
	http GET "$SRV_URL/ocimirror/v1/config?$q"
	assert_eq 200 "$HTTP_CODE" "config" || return
	"$PYTHON" - "$HTTP_BODY" <<'PY' || { fail "config: $(body)"; return; }
import json, sys
d = json.load(open(sys.argv[1]))
assert d["profile"] == "kiln-k8s"
assert [s["name"] for s in d["sections"]] == ["Site", "Firing"]
site = {s["parameter"]: s for s in d["sections"][0]["settings"]}
assert site["siteCode"]["rules"]["regexMatch"] == "^[A-Z]{2}-\\d{2}$"
assert site["siteCode"]["rules"]["minLength"] == 5
assert site["clusterId"]["immutable"] is True
assert site["siteName"]["description"] == 'Shown on every screen (say "North Hall").'
f = {s["parameter"]: s for s in d["sections"][1]["settings"]}
assert "gatewayPort" not in f
assert f["alarms"]["rules"]["multiselect"] is True and f["alarms"]["rules"]["options"] == ["overheat", "door", "power", "gas"]
assert f["zones"]["dataType"] == "array[integer]" and f["zones"]["default"] == ["1", "2", "3"]
assert f["rampRate"]["rules"]["maxPrecision"] == 2
PY
	local body='{"values":{"siteCode":"NH-07","maxTemperature":1200,"alarms":["gas","door"],"rampRate":"1.25"},"name":"kiln-a","namespace":"plant"}'
	http POST "$SRV_URL/ocimirror/v1/deploy?$q&deviceId=edge-9" -H 'Content-Type: application/json' --data-binary "$body"
	assert_eq 200 "$HTTP_CODE" "deploy: $(body)" || return
	assert_contains "$(hdr Content-Type)" "application/yaml" || return
	cp "$HTTP_BODY" "$E2E_WORK/page.yaml"
	assert_exit 0 oms app deploy apps/kiln:2.1.0 --profile kiln-k8s --device-id edge-9 \
		--set siteCode=NH-07 --set maxTemperature=1200 --set alarms=gas,door --set rampRate=1.25 \
		--name kiln-a --namespace plant -o "$cli" || return
	assert_eq "$(no_id "$cli")" "$(no_id "$E2E_WORK/page.yaml")" "same document but metadata.id" || return
	assert_ne "$(grep '^    id: ' "$cli")" "$(grep '^    id: ' "$E2E_WORK/page.yaml")" "a fresh id each time" || return
	# invalid answers: 400 with each error
	http POST "$SRV_URL/ocimirror/v1/deploy?$q&deviceId=edge-9" --data-binary '{"values":{"maxTemperature":500,"unit":"kelvin"}}'
	assert_eq 400 "$HTTP_CODE" || return
	assert_eq "maxTemperature/Maximum temperature/minValue unit/Display unit/options" \
		"$("$PYTHON" -c 'import json,sys; print(" ".join("%s/%s/%s" % (e["parameter"], e["setting"], e["rule"]) for e in json.load(open(sys.argv[1]))["errors"]))' "$HTTP_BODY")" || return
	# a body over 64 KiB is refused; GET is not allowed on deploy
	head -c 70000 /dev/zero | tr '\0' ' ' >"$E2E_WORK/big.json"
	http POST "$SRV_URL/ocimirror/v1/deploy?$q&deviceId=edge-9" --data-binary "@$E2E_WORK/big.json"
	assert_eq 413 "$HTTP_CODE" "big body" || return
	http GET "$SRV_URL/ocimirror/v1/deploy?$q&deviceId=edge-9"
	assert_eq 405 "$HTTP_CODE" || return
	http GET "$SRV_URL/ocimirror/v1/config?repo=apps/kiln&profile=nope"
	assert_eq 404 "$HTTP_CODE" || return
	http GET "$SRV_URL/ocimirror/v1/config?repo=apps/none&profile=kiln-k8s"
	assert_eq 404 "$HTTP_CODE" || return
}

case_serve_needs_auth_without_anonymous_read() {
	kiln_store || return
	local pw=$E2E_WORK/htpasswd
	htpasswd -Bbn op pw >"$pw" 2>/dev/null || { fail "htpasswd failed"; return; }
	serve_start deployauth "$STORE" --htpasswd "$pw" || return
	http POST "$SRV_URL/ocimirror/v1/deploy?repo=apps/kiln&profile=kiln-k8s&deviceId=d" --data-binary '{}'
	assert_eq 401 "$HTTP_CODE" || return
	http POST "$SRV_URL/ocimirror/v1/deploy?repo=apps/kiln&profile=kiln-k8s&deviceId=d" -u op:pw --data-binary '{}'
	assert_eq 200 "$HTTP_CODE" "$(body)" || return
}

case_output_file_not_through_a_planted_link() {
	kiln_store || return
	local d=$E2E_WORK/outdir f victim=$E2E_WORK/victim.txt
	rm -rf "$d" && mkdir -p "$d" || return
	f=$d/deploy.yaml
	echo keep >"$victim"
	# the old PATH.tmp.PID name, planted as a link for the pid that runs
	(
		ln -s "$victim" "$f.tmp.$BASHPID"
		umask 022
		exec "$OCIMIRROR" --store "$STORE" app deploy apps/kiln --profile kiln-k8s \
			--device-id edge-7 -o "$f"
	) >/dev/null 2>&1 || { fail "app deploy -o failed"; return; }
	assert_eq keep "$(cat "$victim")" "the planted link's target is untouched" || return
	[ -f "$f" ] && [ ! -L "$f" ] || { fail "$f is no regular file"; return; }
	assert_contains "$(cat "$f")" "kind: ApplicationDeployment" || return
	assert_eq 644 "$(stat -c %a "$f")" "mode 0666 less the umask" || return
	assert_eq 0 "$(find "$d" -name 'deploy.yaml.tmp.*' ! -type l | wc -l | tr -d ' ')" "no temporary left" || return
	assert_eq 1 "$(find "$d" -type l | wc -l | tr -d ' ')" "the planted link alone" || return
}

run_case "app deploy: the defaults make a document the model accepts" case_defaults_document
run_case "app deploy: each invalid value one line naming setting and rule, exit 2" case_invalid_values_one_line_each_exit_2
run_case "app deploy: --values file, --set wins, the compose profile" case_values_file_and_compose_profile
run_case "serve: GET config, POST deploy = app deploy's document but the id" case_serve_config_and_deploy_same_document
run_case "serve: deploy needs credentials without --anonymous-read" case_serve_needs_auth_without_anonymous_read
run_case "app deploy -o: a fresh temporary, not a planted link" case_output_file_not_through_a_planted_link
