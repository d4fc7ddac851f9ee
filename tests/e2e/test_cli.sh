#!/usr/bin/env bash
# e2e: the command line's usage and configuration errors: exit 2 with one
# line naming what was wrong (the global options: plus one hint line), and
# a listen address in use (exit 1) reported once, by ocimirror.
# Run by tests/e2e/run.sh, which exports OCIMIRROR, E2E_*.
. "$(dirname "$0")/lib/prologue.sh"

# assert_stderr "LINES": the last command's stderr is exactly LINES
assert_stderr() { assert_eq "$1" "$(cat "$ERR")" "stderr"; }

HINT="Try 'ocimirror --help'."

case_global_option_errors() {
	new_store
	assert_exit 2 om --x ls || return
	assert_stderr "ocimirror: unknown option --x
$HINT" || return
	assert_exit 2 om -Z ls || return
	assert_stderr "ocimirror: unknown option -Z
$HINT" || return
	assert_exit 2 om --store || return
	assert_stderr "ocimirror: option --store needs a value
$HINT" || return
	assert_exit 2 om --json=yes ls || return
	assert_stderr "ocimirror: option --json takes no value
$HINT" || return
	assert_exit 2 oms frobnicate || return
	assert_stderr "ocimirror: unknown command \"frobnicate\"
$HINT" || return
	assert_exit 0 om --help || return
	assert_contains "$(out)" "usage: ocimirror [--store DIR]" "--help"
}

case_empty_store_refused() {
	new_store
	assert_exit 2 om --store '' ls || return
	assert_stderr "ocimirror: --store: empty path (a store directory is needed)" || return
	assert_exit 2 env OCIMIRROR_STORE= "$OCIMIRROR" ls >"$OUT" 2>"$ERR" </dev/null || return
	assert_stderr "ocimirror: OCIMIRROR_STORE is set but empty (a store directory is needed; unset it for the default)" || return
	# --store wins over the environment, empty or not
	assert_exit 0 env OCIMIRROR_STORE= "$OCIMIRROR" --store "$STORE" ls >"$OUT" 2>"$ERR" </dev/null || return
	assert_stderr ""
}

case_subcommand_unknown_option() {
	new_store
	local c name args
	# every command and app subcommand: NAME|ARGS (x is a positional)
	for c in "ls|--bogus" "tags|--bogus" "logout|--bogus" "import|--bogus" \
		"pull|--bogus x" "pull|x --bogus" "inspect|--bogus x" "sync|--bogus" \
		"gc|--bogus" "verify|--bogus" "export|--bogus" "inventory|--bogus" \
		"login|--bogus x" "push|--bogus" "serve|--bogus" "app|--bogus" \
		"app list|--bogus" "app show|--bogus" "app push|--bogus x" \
		"app pull|--bogus x" "app validate|--bogus x" "app validate|x --bogus" \
		"gc|x --bogus" "verify|x --bogus"; do
		name=${c%%|*} args=${c#*|}
		# shellcheck disable=SC2086 # words
		assert_exit 2 oms $name $args || { E2E_CASE_FAIL="$c: $E2E_CASE_FAIL"; return 1; }
		assert_stderr "ocimirror: $name: unknown option --bogus" || { E2E_CASE_FAIL="$c: $E2E_CASE_FAIL"; return 1; }
	done
	assert_exit 2 oms ls -l || return
	assert_stderr "ocimirror: ls: unknown option -l" || return
	assert_exit 2 oms pull --platform || return
	assert_stderr "ocimirror: pull: option --platform needs a value" || return
	assert_exit 2 oms sync -c || return
	assert_stderr "ocimirror: sync: option -c needs a value" || return
	assert_exit 2 oms gc --dry-run=yes || return
	assert_stderr "ocimirror: gc: option --dry-run takes no value"
}

case_option_in_a_cluster_named() {
	new_store
	# a bad short option inside a cluster: getopt leaves optind before it
	assert_exit 2 oms gc --dry-run -xn || return
	assert_stderr "ocimirror: gc: unknown option -x" || return
	assert_exit 2 om --quiet -xq ls || return
	assert_stderr "ocimirror: unknown option -x
$HINT" || return
	assert_exit 2 om --store=/x -Zq ls || return
	assert_stderr "ocimirror: unknown option -Z
$HINT" || return
	assert_exit 2 oms app pull --arch=amd64 -xq r:1 || return
	assert_stderr "ocimirror: app pull: unknown option -x" || return
	assert_exit 2 oms sync -c x.yaml --dry-run=1 || return
	assert_stderr "ocimirror: sync: option --dry-run takes no value" || return
	assert_exit 2 om -s || return
	assert_stderr "ocimirror: option -s needs a value
$HINT" || return
	assert_exit 2 oms export -o || return
	assert_stderr "ocimirror: export: option -o needs a value" || return
	assert_empty_dir "$STORE" "nothing created for a usage error"
}

case_double_dash_ends_options() {
	new_store
	# after "--" an argument starting with '-' is an operand; so is "-"
	assert_exit 1 oms import -- -odd.tar || return
	assert_stderr "ocimirror: -odd.tar: No such file or directory" || return
	assert_exit 1 oms import - || return
	assert_stderr "ocimirror: -: No such file or directory" || return
	assert_exit 2 oms ls -- -x || return
	assert_contains "$(cat "$ERR")" "ocimirror: ls: invalid repository name \"-x\"" "ls -- -x" || return
	assert_exit 2 oms import x.tar -l -- || return
	assert_stderr "ocimirror: import: unknown option -l"
}

case_serve_bad_listen_address() {
	new_store
	assert_exit 2 oms serve --listen 999.1.1.1:6705 || return
	assert_stderr "ocimirror: serve: --listen \"999.1.1.1:6705\": \"999.1.1.1\" is not an IP address (or localhost)" || return
	assert_exit 2 oms serve --listen 127.0.0.1:65536 || return
	assert_stderr "ocimirror: serve: --listen \"127.0.0.1:65536\": port \"65536\" is not a number in 0..65535" || return
	assert_exit 2 oms serve --listen '[::1' || return
	assert_stderr "ocimirror: serve: --listen \"[::1\": expected HOST:PORT, [IPV6]:PORT, :PORT or PORT" || return
	assert_empty_dir "$STORE" "nothing created for a usage error"
}

case_serve_redirect_needs_store_urls() {
	new_store
	assert_exit 2 oms serve --listen 127.0.0.1:0 --redirect || return
	assert_stderr "ocimirror: serve: --redirect: store $STORE has no direct blob URLs"
}

case_serve_port_in_use() {
	new_store
	serve_start first "$STORE" || return
	assert_exit 1 oms serve --listen "$SRV" || return
	assert_stderr "ocimirror: serve: cannot listen on $SRV: Address already in use" || return
	# the first server still answers
	assert_eq 200 "$(curl -s -o /dev/null -m 5 -w '%{http_code}' "$SRV_URL/healthz")" "first server"
}

case_sync_missing_ca_is_a_config_error() {
	new_store
	local cfg=$E2E_WORK/missing-ca.yaml
	printf 'registries:\n  %s:\n    tls: verify\n    ca: %s\nsync:\n  - source: %s/e2e/oci-image:v1\n' \
		"$REG_OPEN" "$E2E_WORK/no-such-ca.pem" "$REG_OPEN" >"$cfg"
	assert_exit 2 oms sync -c "$cfg" || return
	assert_stderr "ocimirror: $cfg:4:9: ca: cannot read \"$E2E_WORK/no-such-ca.pem\": No such file or directory" || return
	assert_exit 2 oms sync --dry-run -c "$cfg" || return
	assert_stderr "ocimirror: $cfg:4:9: ca: cannot read \"$E2E_WORK/no-such-ca.pem\": No such file or directory" || return
	printf 'registries:\n  %s: {cert: %s, key: %s}\nsync:\n  - source: %s/e2e/oci-image:v1\n' \
		"$REG_OPEN" "$E2E_WORK" "$E2E_WORK/no-such.key" "$REG_OPEN" >"$cfg"
	local col=$((${#REG_OPEN} + 12))
	assert_exit 2 oms sync -c "$cfg" || return
	assert_stderr "ocimirror: $cfg:2:$col: cert: cannot read \"$E2E_WORK\": not a regular file" || return
	assert_empty_dir "$STORE" "nothing fetched"
}

case_unknown_arch_refused() {
	new_store
	local accepted="amd64 or x86_64, arm64 or aarch64, arm, arm/v6, arm/v7 or armhf, riscv64, other"
	assert_exit 2 oms app pull --arch amd64,sparc "$REG_OPEN/apps/none:1" || return
	assert_stderr "ocimirror: app pull: --arch: \"sparc\" is not an architecture ($accepted)" || return
	local cfg=$E2E_WORK/sparc.yaml
	printf 'sync:\n  - {source: %s/apps/none, type: margo-app, arch: [arm64, sparc]}\n' "$REG_OPEN" >"$cfg"
	local col=$((${#REG_OPEN} + 57))
	assert_exit 2 oms sync -c "$cfg" || return
	assert_stderr "ocimirror: $cfg:2:$col: arch: invalid arch \"sparc\" (expected $accepted)" || return
	# a variant is checked as a whole, the same for both
	assert_exit 2 oms app pull --arch arm/v5 "$REG_OPEN/apps/none:1" || return
	assert_stderr "ocimirror: app pull: --arch: \"arm/v5\" is not an architecture ($accepted)" || return
	printf 'sync:\n  - {source: %s/apps/none, type: margo-app, arch: [arm/v5]}\n' "$REG_OPEN" >"$cfg"
	col=$((${#REG_OPEN} + 50))
	assert_exit 2 oms sync -c "$cfg" || return
	assert_stderr "ocimirror: $cfg:2:$col: arch: invalid arch \"arm/v5\" (expected $accepted)" || return
	assert_empty_dir "$STORE" "nothing fetched" || return
	printf 'sync:\n  - {source: %s/apps/none, type: margo-app, arch: [arm/v7]}\n' "$REG_OPEN" >"$cfg"
	# accepted: the run gets to the registry (which has no such repository)
	assert_exit 1 oms sync --dry-run -c "$cfg" || return
	assert_not_contains "$(cat "$ERR")" "arch" "arm/v7 refused" || return
	assert_contains "$(cat "$OUT" "$ERR")" "list tags of $REG_OPEN/apps/none" "the run"
}

run_case "global options: unknown / missing value -> exit 2, message + one hint" case_global_option_errors
run_case "--store '' and OCIMIRROR_STORE='' -> exit 2" case_empty_store_refused
run_case "every command: unknown option -> exit 2 naming it" case_subcommand_unknown_option
run_case "a bad short option in a cluster is named, not the argument before" case_option_in_a_cluster_named
run_case "\"--\" ends the options of import/ls; a lone \"-\" is a file" case_double_dash_ends_options
run_case "serve --listen 999.1.1.1:6705 -> exit 2 naming the address" case_serve_bad_listen_address
run_case "serve --redirect on a store without blob URLs -> exit 2, one line" case_serve_redirect_needs_store_urls
run_case "serve on a port in use -> exit 1, our one message" case_serve_port_in_use
run_case "sync: a missing CA file -> exit 2 at the config check" case_sync_missing_ca_is_a_config_error
run_case "--arch sparc (app pull, sync arch:) -> exit 2 listing the accepted" case_unknown_arch_refused
