#!/usr/bin/env bash
# e2e: Margo devices. `app device add|ls|rm`, `app match --device FILE|NAME
# [REF]` against packages in the store, and POST /ocimirror/v1/match on
# `ocimirror serve`. Run by tests/e2e/run.sh, which exports OCIMIRROR, E2E_*.
. "$(dirname "$0")/lib/prologue.sh"
. "$HERE/lib/serve.sh"

PKG=$E2E_WORK/pkg
DEV=$E2E_WORK/cell.yaml
BIG=$E2E_WORK/big.json
mkdir -p "$PKG"
cat >"$PKG/margo.yaml" <<'YAML'
apiVersion: margo.org/v1-alpha1
kind: ApplicationDescription
metadata:
  id: press-monitor
  name: Press Monitor
  version: "2.0"
  catalog:
    organization: [{name: Acme}]
deploymentProfiles:
  - type: compose
    id: edge-arm
    requiredResources:
      cpu: {cores: 2, architectures: [arm64]}
      memory: 2Gi
      storage: 8Gi
      interfaces: [{type: canbus}]
    components:
      - name: monitor
        properties: {repository: oci://registry.example/acme/monitor, revision: 2.0.0}
  - type: compose
    id: edge-gpu
    requiredResources:
      cpu: {cores: 8, architectures: [x86_64]}
      memory: 16Gi
      peripherals: [{type: gpu, manufacturer: NVIDIA}]
    components:
      - name: monitor
        properties: {repository: oci://registry.example/acme/monitor, revision: 2.0.0}
YAML
cat >"$DEV" <<'YAML'
apiVersion: device.margo.org/v1alpha1
kind: DeviceCapabilitiesManifest
properties:
  id: cell-7.press
  vendor: Acme Controls
  modelNumber: AC-40
  serialNumber: AC40-1187
  roles: [Standalone Device]
  resources:
    cpu: {cores: 4, architectures: [aarch64]}
    memory: 2048Mi
    storage: 32Gi
    peripherals: [{type: camera}]
    interfaces: [{type: ethernet}, {type: canbus}]
YAML
cat >"$BIG" <<'JSON'
{"apiVersion": "device.margo.org/v1alpha1", "kind": "DeviceCapabilitiesManifest",
 "properties": {"id": "rack-1", "vendor": "Acme", "modelNumber": "R", "serialNumber": "R1",
  "roles": ["Standalone Device"],
  "resources": {"cpu": {"cores": 32, "architectures": ["amd64"]}, "memory": "16Gi",
   "storage": "4Ti", "peripherals": [{"type": "gpu", "manufacturer": "nvidia"}],
   "interfaces": [{"type": "ethernet"}]}}}
JSON

case_device_add_ls_rm() {
	new_store
	assert_exit 0 oms app device add "$DEV" || return
	assert_eq "added device cell-7.press (cell-7.press)" "$(out)" "add" || return
	assert_exit 0 oms app device add "$BIG" --name rack || return
	assert_file "$STORE/devices/rack.json" || return
	assert_exit 0 oms app device ls || return
	assert_eq "cell-7.press	cell-7.press	arm64	4	2048Mi	32Gi
rack	rack-1	amd64	32	16Gi	4Ti" "$(out)" "ls" || return
	assert_exit 0 oms --json app device ls || return
	assert_eq "rack amd64 32" "$("$PYTHON" -c 'import json,sys
d = [json.loads(l) for l in open(sys.argv[1])][1]
print(d["name"], d["architecture"], d["cores"])' "$OUT")" "ls --json" || return
	assert_exit 0 oms app device rm rack || return
	assert_no_file "$STORE/devices/rack.json" || return
	assert_exit 1 oms app device rm rack || return
	assert_contains "$(alltext)" "device rack is not in the store" || return
	assert_exit 2 oms app device add "$DEV" --name ../escape || return
	assert_contains "$(alltext)" "is no device name" || return
	assert_exit 2 oms app device frob || return
}

case_bad_device_file_exit_2() {
	new_store
	local bad=$E2E_WORK/bad.json
	sed 's/"vendor": "Acme", //' "$BIG" >"$bad"
	assert_exit 2 oms app device add "$bad" || return
	assert_eq "ocimirror: $bad: properties.vendor is missing" "$(cat "$ERR")" "one line" || return
	sed 's/"amd64"/"riscv"/; s/"16Gi"/"16GB"/' "$BIG" >"$bad"
	assert_exit 2 oms app match --device "$bad" || return
	assert_eq 1 "$(wc -l <"$ERR")" "one line" || return
	assert_contains "$(cat "$ERR")" "architectures[0] \"riscv\" is not one of amd64, x86_64, arm64, aarch64, arm, riscv64, other (and 1 more problem)" || return
	assert_exit 2 oms app match --device no-such-device || return
	assert_contains "$(alltext)" "device no-such-device: no such file" || return
	assert_exit 2 oms app match || return
}

case_match_file_and_name() {
	new_store
	assert_exit 0 oms app push "$PKG" store:acme/press-monitor || return
	assert_exit 0 oms app match --device "$DEV" acme/press-monitor || return
	assert_eq "acme/press-monitor:2.0
  edge-arm (compose): fits
  edge-gpu (compose): does not fit
    architecture: needs one of [amd64], the device has [arm64]
    cpu: needs 8 cores, the device has 4
    memory: needs 16Gi, the device has 2048Mi
    peripheral: needs gpu (manufacturer NVIDIA), the device has [camera]" "$(out)" "match" || return
	assert_exit 0 oms app device add "$BIG" --name rack || return
	# nothing fits: exit 1 for a package named
	local small=$E2E_WORK/cell-small.yaml
	sed 's/memory: 2048Mi/memory: 2047Mi/' "$DEV" >"$small"
	assert_exit 1 oms --json app match --device "$small" store:acme/press-monitor:2.0 || return
	assert_eq "2.0 edge-arm False memory: needs 2Gi, the device has 2047Mi" "$("$PYTHON" -c 'import json,sys
m = json.load(open(sys.argv[1])); p = m["profiles"][0]
print(m["tag"], p["id"], p["fits"], "; ".join(p["reasons"]))' "$OUT")" "json" || return
	# by name, every package in the store
	assert_exit 0 oms app push "$PKG" store:acme/other:1.0 || return
	assert_exit 0 oms --json app match --device rack || return
	assert_eq "acme/other edge-gpu:True
acme/press-monitor edge-gpu:True" "$("$PYTHON" -c 'import json,sys
for l in open(sys.argv[1]):
    m = json.loads(l)
    print(m["repository"], " ".join("%s:%s" % (p["id"], p["fits"]) for p in m["profiles"] if p["fits"]))' "$OUT")" "all packages" || return
}

case_match_endpoint() {
	new_store
	assert_exit 0 oms app push "$PKG" store:acme/press-monitor || return
	assert_exit 0 oms app device add "$DEV" --name cell7 || return
	serve_start match "$STORE" --anonymous-read || return
	http POST "$SRV_URL/ocimirror/v1/match?repo=acme/press-monitor&device=cell7"
	assert_eq 200 "$HTTP_CODE" "by name" || return
	assert_eq "cell7 edge-arm:True edge-gpu:False" "$("$PYTHON" -c 'import json,sys
m = json.load(open(sys.argv[1]))
print(m["device"]["name"], " ".join("%s:%s" % (p["id"], p["fits"]) for p in m["profiles"]))' "$HTTP_BODY")" || return
	http POST "$SRV_URL/ocimirror/v1/match?repo=acme/press-monitor&tag=2.0" --data-binary "@$BIG"
	assert_eq 200 "$HTTP_CODE" "body" || return
	assert_contains "$(body)" '"id":"edge-gpu","type":"compose","fits":true' || return
	http POST "$SRV_URL/ocimirror/v1/match?repo=acme/press-monitor" --data-binary '{"kind": "Printer"}'
	assert_eq 400 "$HTTP_CODE" "bad body" || return
	assert_contains "$(body)" '"apiVersion is missing","kind \"Printer\" is not DeviceCapabilitiesManifest"' || return
	http GET "$SRV_URL/ocimirror/v1/devices"
	assert_eq '[{"name":"cell7","id":"cell-7.press","architecture":"arm64","architectures":["arm64"],"cores":4,"memory":"2048Mi","storage":"32Gi"}]' "$(body)" || return
	http GET "$SRV_URL/ocimirror/v1/device?name=cell7"
	assert_contains "$(body)" '"serialNumber":"AC40-1187"' || return
}

# the endpoints are reads: Basic auth without --anonymous-read, no --push
# needed for the POST, and a read-only server answers it too
case_match_endpoint_access() {
	new_store
	local htp=$E2E_WORK/htpasswd
	htpasswd -Bbn "$E2E_USER" "$E2E_PASS" >"$htp" 2>/dev/null || { fail "htpasswd"; return; }
	assert_exit 0 oms app push "$PKG" store:acme/press-monitor || return
	assert_exit 0 oms app device add "$DEV" --name cell7 || return
	serve_start auth "$STORE" --htpasswd "$htp" --read-only || return
	http POST "$SRV_URL/ocimirror/v1/match?repo=acme/press-monitor&device=cell7"
	assert_eq 401 "$HTTP_CODE" "anonymous" || return
	http GET "$SRV_URL/ocimirror/v1/devices"
	assert_eq 401 "$HTTP_CODE" "anonymous list" || return
	http POST "$SRV_URL/ocimirror/v1/match?repo=acme/press-monitor&device=cell7" -u "$E2E_USER:$E2E_PASS"
	assert_eq 200 "$HTTP_CODE" "authenticated, read-only server" || return
	assert_contains "$(body)" '"name":"cell7"' || return
	http GET "$SRV_URL/ocimirror/v1/devices" -u "$E2E_USER:$E2E_PASS"
	assert_eq 200 "$HTTP_CODE" || return
}

run_case "app device add, ls, rm; names validated" case_device_add_ls_rm
run_case "a bad device file: exit 2, one line naming what is wrong" case_bad_device_file_exit_2
run_case "app match: a file or a stored device, one package or every one" case_match_file_and_name
run_case "POST /ocimirror/v1/match, GET /devices and /device" case_match_endpoint
run_case "the device endpoints: Basic auth, read-only servers answer" case_match_endpoint_access
