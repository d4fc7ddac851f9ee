#!/usr/bin/env bash
# e2e: running ocimirror as a service. `make install` into a DESTDIR (the
# binary, the systemd units, the sysusers.d user, example configuration),
# `systemd-analyze verify` and the offline security score of the installed
# units, and the record each sync run leaves for serve: GET
# /ocimirror/v1/sync and the ocimirror_sync_* gauges of /metrics.
. "$(dirname "$0")/lib/prologue.sh"

ROOT=$(cd "$HERE/../.." && pwd)
UNITS="ocimirror-serve.service ocimirror-sync.service ocimirror-sync.timer"

install_to() { # DESTDIR [PREFIX [MAKE-VAR=VALUE...]]: make install with this test's binary
	local d=$1 p=${2:-/usr}
	shift; shift || true
	# -o all: install what $OCIMIRROR is, build nothing
	make --no-print-directory -C "$ROOT" -o all install DESTDIR="$d" \
		PREFIX="$p" INSTALL_BIN="$OCIMIRROR" "$@" >"$E2E_WORK/install.log" 2>&1
}

case_make_install() {
	local d=$E2E_WORK/dest-install u
	rm -rf "$d"
	install_to "$d" /opt/om || { fail "make install: $(tail -n 3 "$E2E_WORK/install.log")"; return; }
	[ -x "$d/opt/om/bin/ocimirror" ] || { fail "no binary in PREFIX/bin"; return; }
	for u in $UNITS; do
		assert_file "$d/opt/om/lib/systemd/system/$u" || return
	done
	assert_file "$d/opt/om/lib/sysusers.d/ocimirror.conf" || return
	assert_file "$d/etc/ocimirror/serve.env" || return
	# the example only: sync.yaml (ConditionPathExists of the sync unit)
	# is the admin's copy, so enabling the timer syncs nothing before it
	assert_file "$d/etc/ocimirror/sync.yaml.example" || return
	[ ! -e "$d/etc/ocimirror/sync.yaml" ] || { fail "make install created sync.yaml"; return; }
	assert_contains "$(cat "$E2E_WORK/install.log")" "cp /etc/ocimirror/sync.yaml.example /etc/ocimirror/sync.yaml" \
		"install output" || return
	# the binary's path under PREFIX, not the placeholder
	assert_contains "$(grep '^ExecStart=' "$d/opt/om/lib/systemd/system/ocimirror-serve.service")" \
		"ExecStart=/opt/om/bin/ocimirror --store /var/lib/ocimirror serve" "serve ExecStart" || return
	assert_eq "" "$(grep -l '@[A-Z]*DIR@' "$d"/opt/om/lib/systemd/system/* "$d/opt/om/lib/sysusers.d/ocimirror.conf")" \
		"units with a @...DIR@ left" || return
	# an admin's configuration is never overwritten
	echo "OCIMIRROR_SERVE_ARGS=--listen=0.0.0.0:5000" >"$d/etc/ocimirror/serve.env"
	install_to "$d" /opt/om || { fail "second make install failed"; return; }
	assert_eq "OCIMIRROR_SERVE_ARGS=--listen=0.0.0.0:5000" "$(cat "$d/etc/ocimirror/serve.env")" "serve.env kept" || return
	echo "# mine" >"$d/etc/ocimirror/sync.yaml.example"
	install_to "$d" /opt/om || { fail "third make install failed"; return; }
	assert_eq "# mine" "$(cat "$d/etc/ocimirror/sync.yaml.example")" "sync.yaml.example kept"
}

case_make_install_sysconfdir() {
	local d=$E2E_WORK/dest-sysconf s
	rm -rf "$d"
	install_to "$d" /usr/local SYSCONFDIR=/usr/local/etc LOCALSTATEDIR=/srv ||
		{ fail "make install: $(tail -n 3 "$E2E_WORK/install.log")"; return; }
	s=$d/usr/local/lib/systemd/system
	assert_file "$d/usr/local/etc/ocimirror/serve.env" || return
	assert_file "$d/usr/local/etc/ocimirror/sync.yaml.example" || return
	[ ! -e "$d/usr/local/etc/ocimirror/sync.yaml" ] || { fail "make install created sync.yaml"; return; }
	[ ! -e "$d/etc" ] || { fail "make install wrote under /etc with SYSCONFDIR=/usr/local/etc"; return; }
	assert_eq "/usr/local/etc/ocimirror/sync.yaml" "$(unit_value "$s/ocimirror-sync.service" ConditionPathExists)" \
		"sync ConditionPathExists" || return
	assert_eq "/usr/local/bin/ocimirror --store /srv/lib/ocimirror sync -c /usr/local/etc/ocimirror/sync.yaml --wait" \
		"$(unit_value "$s/ocimirror-sync.service" ExecStart)" "sync ExecStart" || return
	assert_eq "/usr/local/etc/ocimirror/serve.env" "$(unit_value "$s/ocimirror-serve.service" EnvironmentFile | tr -d -)" \
		"serve EnvironmentFile" || return
	assert_eq "/usr/local/etc/ocimirror" "$(unit_value "$s/ocimirror-sync.service" Environment | sed 's/^DOCKER_CONFIG=//')" \
		"sync DOCKER_CONFIG" || return
	assert_eq "/srv/lib/ocimirror" "$(unit_value "$s/ocimirror-serve.service" ReadWritePaths)" "serve ReadWritePaths" || return
	# StateDirectory= is relative to /var/lib: never a path
	assert_eq ocimirror "$(unit_value "$s/ocimirror-serve.service" StateDirectory)" "serve StateDirectory" || return
	assert_eq "" "$(grep -rlE -e '(^|[=[:space:]-])/etc/ocimirror' -e /var/lib "$s" "$d/usr/local/lib/sysusers.d")" \
		"installed files naming /etc/ocimirror or /var/lib" || return
	assert_contains "$(cat "$d/usr/local/lib/sysusers.d/ocimirror.conf")" "\"ocimirror registry mirror\" /srv/lib/ocimirror" \
		"sysusers home"
}

unit_value() { # FILE KEY: the value of the last KEY= line
	grep "^$2=" "$1" | tail -n 1 | cut -d= -f2-
}

case_units_hardened_and_timer_nightly() {
	local d=$E2E_WORK/dest-hardened s k
	rm -rf "$d"
	install_to "$d" /usr || { fail "make install: $(tail -n 3 "$E2E_WORK/install.log")"; return; }
	s=$d/usr/lib/systemd/system
	assert_eq oneshot "$(unit_value "$s/ocimirror-sync.service" Type)" "sync Type" || return
	assert_eq "*-*-* 03:00:00" "$(unit_value "$s/ocimirror-sync.timer" OnCalendar)" "OnCalendar" || return
	assert_eq 1h "$(unit_value "$s/ocimirror-sync.timer" RandomizedDelaySec)" "RandomizedDelaySec" || return
	assert_eq true "$(unit_value "$s/ocimirror-sync.timer" Persistent)" "Persistent" || return
	for u in ocimirror-serve.service ocimirror-sync.service; do
		for k in ProtectSystem=strict ReadWritePaths=/var/lib/ocimirror NoNewPrivileges=yes \
			PrivateTmp=yes ProtectHome=yes User=ocimirror StateDirectory=ocimirror; do
			assert_eq "${k#*=}" "$(unit_value "$s/$u" "${k%%=*}")" "$u ${k%%=*}" || return
		done
	done
	assert_eq "/etc/ocimirror/serve.env" "$(unit_value "$s/ocimirror-serve.service" EnvironmentFile | tr -d -)" \
		"serve EnvironmentFile" || return
	assert_contains "$(unit_value "$s/ocimirror-sync.service" ExecStart)" "sync -c /etc/ocimirror/sync.yaml" "sync ExecStart" || return
	assert_eq "/etc/ocimirror/sync.yaml" "$(unit_value "$s/ocimirror-sync.service" ConditionPathExists)" \
		"sync ConditionPathExists" || return
	assert_contains "$(cat "$d/usr/lib/sysusers.d/ocimirror.conf")" "u ocimirror - " "sysusers line"
}

# systemd-analyze works on a root holding the units it resolves (the
# targets the units order against), so the DESTDIR gets a copy of the
# system's unit directory beside the installed ones.
verify_skip_reason() {
	command -v systemd-analyze >/dev/null 2>&1 || { echo "systemd-analyze not installed (scripts/deps.sh installs systemd)"; return; }
	[ -f /usr/lib/systemd/system/sysinit.target ] || [ -f /lib/systemd/system/sysinit.target ] ||
		{ echo "no systemd unit directory in this container"; return; }
	systemd-analyze --help 2>/dev/null | grep -q -- '--root' || echo "systemd-analyze has no --root"
}

verify_root() { # -> $VROOT: an install plus the system's units
	VROOT=$E2E_WORK/dest-verify
	rm -rf "$VROOT"
	install_to "$VROOT" /usr || { fail "make install failed"; return 1; }
	local sys=/usr/lib/systemd/system
	[ -d $sys ] || sys=/lib/systemd/system
	cp -an "$sys/." "$VROOT/usr/lib/systemd/system/" 2>/dev/null || true
}

case_systemd_analyze_verify() {
	local out rc=0 u args=()
	verify_root || return
	for u in $UNITS; do args+=("$VROOT/usr/lib/systemd/system/$u"); done
	out=$(cd "$VROOT" && timeout 60 systemd-analyze verify --root="$VROOT" "${args[@]}" 2>&1) || rc=$?
	assert_eq 0 "$rc" "systemd-analyze verify exit ($out)" || return
	# unknown keys and bad values are warnings with exit 0: none allowed
	assert_eq "" "$out" "systemd-analyze verify output" || return
	# and it does catch a bad value in this setup
	sed -i 's/^ProtectSystem=strict/ProtectSystem=strickt/' "$VROOT/usr/lib/systemd/system/ocimirror-serve.service"
	out=$(cd "$VROOT" && timeout 60 systemd-analyze verify --root="$VROOT" \
		"$VROOT/usr/lib/systemd/system/ocimirror-serve.service" 2>&1) || true
	assert_contains "$out" "strickt" "verify of a broken unit"
}

case_systemd_analyze_security() {
	local out rc=0 u
	verify_root || return
	for u in ocimirror-serve.service ocimirror-sync.service; do
		rc=0
		out=$(cd "$VROOT" && timeout 60 systemd-analyze security --offline=yes --threshold=25 \
			--root="$VROOT" "$VROOT/usr/lib/systemd/system/$u" 2>&1) || rc=$?
		assert_eq 0 "$rc" "$u exposure above 2.5: $(echo "$out" | tail -n 1)" || return
		echo "# $u: $(echo "$out" | grep -o 'Overall exposure level.*')"
	done
}

# sync and serve: what a run leaves in the store

sync_cfg() { # SOURCE...: one rule per source -> $CFG
	CFG=$E2E_WORK/sync.yaml
	{
		echo "registries: {'$REG_OPEN': {tls: disabled}}"
		echo "sync:"
		for s in "$@"; do echo "  - source: $s"; done
	} >"$CFG"
}

status_field() { # PYEXPR over the last /ocimirror/v1/sync body (d)
	"$PYTHON" -c 'import json,sys; d=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$HTTP_BODY" "$1"
}

metric() { # NAME: its value in the last /metrics body, or "absent"
	awk -v n="$1" '$1 == n {print $2; f=1} END {if (!f) print "absent"}' "$HTTP_BODY"
}

case_sync_then_status_and_metrics() {
	local img ok_finished lock_pid
	new_store
	img=$REG_OPEN/$(e_ref "$EXP_OPEN" oci-image repo):v1
	serve_start ops "$STORE" || return
	http GET "$SRV_URL/ocimirror/v1/sync"
	assert_http 200 || return
	assert_eq '{"last":null,"lastSuccess":null}' "$(body)" "before any run" || return
	http GET "$SRV_URL/metrics"
	assert_eq absent "$(metric ocimirror_sync_last_run_timestamp_seconds)" "gauge before any run" || return

	# an ok run
	sync_cfg "$img"
	assert_exit 0 oms sync -c "$CFG" || return
	http GET "$SRV_URL/ocimirror/v1/sync"
	assert_http 200 || return
	assert_eq ok "$(status_field 'd["last"]["result"]')" "result" || return
	assert_eq 1 "$(status_field 'd["last"]["added"]')" "added" || return
	assert_eq 0 "$(status_field 'd["last"]["failed"]')" "failed" || return
	assert_eq "$(status_field 'd["last"]["finished"]')" "$(status_field 'd["lastSuccess"]')" "lastSuccess" || return
	ok_finished=$(json_field "$STORE/sync/last.json" finished)
	http GET "$SRV_URL/metrics"
	assert_eq "$ok_finished" "$(metric ocimirror_sync_last_run_timestamp_seconds)" "last run gauge" || return
	assert_eq "$ok_finished" "$(metric ocimirror_sync_last_success_timestamp_seconds)" "last success gauge" || return
	assert_eq 0 "$(metric ocimirror_sync_last_run_failures)" "failures gauge" || return

	# a run with one failed line: partial; the success time stays
	sleep 1 # a later second than the ok run's
	sync_cfg "$img" "$REG_OPEN/e2e/no-such-repo:v1"
	assert_exit 1 oms sync -c "$CFG" || return
	http GET "$SRV_URL/ocimirror/v1/sync"
	assert_eq partial "$(status_field 'd["last"]["result"]')" "result" || return
	assert_eq 1 "$(status_field 'd["last"]["unchanged"]')" "unchanged" || return
	assert_eq 1 "$(status_field 'd["last"]["failed"]')" "failed" || return
	assert_contains "$(status_field 'd["last"]["failures"][0]')" "e2e/no-such-repo" "failure line" || return
	http GET "$SRV_URL/metrics"
	assert_eq 1 "$(metric ocimirror_sync_last_run_failures)" "failures gauge" || return
	assert_eq "$ok_finished" "$(metric ocimirror_sync_last_success_timestamp_seconds)" "success kept" || return
	assert_ne "$ok_finished" "$(metric ocimirror_sync_last_run_timestamp_seconds)" "last run moved" || return

	# a dry run and a run that cannot take the lock record nothing
	cp "$STORE/sync/last.json" "$E2E_WORK/last.before"
	sync_cfg "$img"
	assert_exit 0 oms sync -c "$CFG" --dry-run || return
	# another writer: the lock's fd kept by the sleep itself
	(
		exec 9>"$STORE/lock"
		flock 9
		exec sleep 30
	) &
	lock_pid=$!
	bg_track $lock_pid
	for _ in $(seq 1 50); do
		flock -n "$STORE/lock" true 2>/dev/null || break
		sleep 0.1
	done
	assert_exit 3 oms sync -c "$CFG" || { kill $lock_pid; return 1; }
	kill $lock_pid
	wait $lock_pid 2>/dev/null
	assert_eq "$(cat "$E2E_WORK/last.before")" "$(cat "$STORE/sync/last.json")" "record after dry and locked runs" || return
	# gc and verify leave the record alone and do not complain about it
	assert_exit 0 oms verify || return
	assert_exit 0 oms gc || return
	assert_file "$STORE/sync/last.json"
}

case_unrecorded_run_exits_1() {
	new_store
	sync_cfg "$REG_OPEN/$(e_ref "$EXP_OPEN" oci-image repo):v1"
	# sync/ a file: the record cannot be written
	echo x >"$STORE/sync"
	assert_exit 1 oms sync -c "$CFG" || return
	assert_contains "$(cat "$ERR")" "record the sync run" "message" || return
	# the sync itself was done
	assert_tag "$REG_OPEN" "$(e_ref "$EXP_OPEN" oci-image repo)" v1 "$(e_ref "$EXP_OPEN" oci-image digest)"
}

reason=$(verify_skip_reason)
run_case "make install: binary, units, user, configuration (PREFIX, DESTDIR)" case_make_install
run_case "make install SYSCONFDIR=/usr/local/etc LOCALSTATEDIR=/srv: paths in the units" case_make_install_sysconfdir
run_case "units: hardened, sync oneshot, timer nightly randomized persistent" case_units_hardened_and_timer_nightly
if [ -n "$reason" ]; then
	skip_case "systemd-analyze verify of the installed units" "$reason"
	skip_case "systemd-analyze security of the installed units" "$reason"
else
	run_case "systemd-analyze verify of the installed units" case_systemd_analyze_verify
	run_case "systemd-analyze security of the installed units" case_systemd_analyze_security
fi
run_case "a sync run, then /ocimirror/v1/sync and /metrics show it" case_sync_then_status_and_metrics
run_case "a run whose record cannot be written exits 1, saying so" case_unrecorded_run_exits_1
