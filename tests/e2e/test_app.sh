#!/usr/bin/env bash
# e2e: `ocimirror app validate` on the Margo samples and bad descriptions
# in testdata/margo (no registry needed).
# Run by tests/e2e/run.sh, which exports OCIMIRROR, E2E_*.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/lib/env.sh"
. "$HERE/lib/assert.sh"
. "$HERE/lib/ocimirror.sh"

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
	local f=$MARGO/bad/older-helm-v3.yaml
	assert_exit 0 oms app validate "$f" || return
	assert_contains "$(out)" "$f:12:11: warning: profile type \"helm.v3\"" || return
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
	assert_exit 2 oms app push "$MARGO/helm-app" x || return
	assert_contains "$(alltext)" "not built yet" || return
	assert_exit 2 oms app frobnicate || return
	assert_exit 1 oms app validate "$MARGO/does-not-exist.yaml" || return
}

run_case "app validate: sample package directory and file -> exit 0" case_valid_package_dir
run_case "app validate: bad revision -> exit 1 with FILE:LINE:COL" case_bad_file_exit_1_with_position
run_case "app validate: older-draft fields only -> warnings, exit 0" case_warnings_only_exit_0
run_case "app validate: resource file missing from the package dir" case_missing_resource_in_dir
run_case "app validate --json: one object per problem and a summary" case_json
run_case "app usage errors -> exit 2, missing file -> exit 1" case_usage

echo "# $(basename "$0"): $E2E_FILE_PASSED passed, $E2E_FILE_FAILED failed"
