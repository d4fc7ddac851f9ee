#!/usr/bin/env bash
# End-to-end tests: tests/e2e/run.sh BINARY
#
# Starts, on loopback, three docker-registry instances (open, htpasswd,
# token auth + tokenserver.py) and faultproxy.py in front of the open one,
# seeds content into each with seed.py, then runs every tests/e2e/test_*.sh
# as its own bash process with the environment exported. Prints one
# "ok - NAME" / "not ok - NAME: reason" / "skip - NAME: reason" line per
# case and, last, "N passed, N failed, N skipped"; exits 1 if anything
# failed (skipped cases do not change the exit status).
#
# Environment knobs:
#   E2E_TESTS='test_pull.sh ...'  only these files (names or globs)
#   E2E_SKIP='test_x.sh ...'     leave these files out (names or globs)
#   E2E_FILTER=REGEX              only cases whose name matches (grep -E)
#   E2E_LARGE=MIB                 also seed an image with an MIB-MiB layer
#   E2E_KEEP=1                    keep the temp dir (registries, stores, logs)
#   E2E_VERBOSE=1                 show the tail of ocimirror's output on failures
#   E2E_CMD_TIMEOUT=S             bound on one ocimirror invocation (30)
#   E2E_FILE_TIMEOUT=S            bound on one test file (240; a file's own
#                                 "# e2e-file-timeout: S" line may raise it)
#
# A file with the line "# e2e-needs: s3" gets an S3 endpoint: one Ceph
# cluster with a RADOS Gateway (lib/ceph.sh) for the run, started when such
# a file is selected, its S3_ENDPOINT, AWS_* exported; if it cannot start,
# those files count as failed.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
if [ $# -lt 1 ]; then
	echo "usage: $0 BINARY" >&2
	exit 2
fi
BIN=$1
case "$BIN" in /*) ;; *) BIN=$(pwd)/$BIN ;; esac
export E2E_CMD_TIMEOUT=${E2E_CMD_TIMEOUT:-30}
E2E_FILE_TIMEOUT=${E2E_FILE_TIMEOUT:-240}

. "$HERE/lib/env.sh"
START=$SECONDS

for tool in /usr/bin/docker-registry skopeo htpasswd openssl curl timeout sha256sum; do
	command -v "$tool" >/dev/null 2>&1 || { echo "e2e: missing $tool (scripts/deps.sh installs it)" >&2; exit 2; }
done
"$PYTHON" -c 'import cryptography' 2>/dev/null || { echo "e2e: $PYTHON lacks cryptography (python3-cryptography)" >&2; exit 2; }

# Keep the caller's credentials and stores out of the tests.
unset OCIMIRROR_STORE REGISTRY_AUTH_FILE DOCKER_CONFIG
e2e_init
export HOME=$E2E_TMP/home XDG_RUNTIME_DIR=$E2E_TMP/run XDG_DATA_HOME=$E2E_TMP/home/.local/share \
	XDG_CONFIG_HOME=$E2E_TMP/home/.config
mkdir -p "$HOME" "$XDG_RUNTIME_DIR" && chmod 700 "$XDG_RUNTIME_DIR"
export DOCKER_CONFIG=$E2E_TMP/docker-empty
mkdir -p "$DOCKER_CONFIG" && echo '{"auths":{}}' >"$DOCKER_CONFIG/config.json"

# Test a private copy, so a concurrent rebuild cannot change it mid-run.
if [ -x "$BIN" ] && [ -f "$BIN" ]; then
	mkdir -p "$E2E_TMP/bin" && cp "$BIN" "$E2E_TMP/bin/ocimirror" && BIN=$E2E_TMP/bin/ocimirror
fi
export OCIMIRROR=$BIN

echo "# e2e: starting registries, token service, fault proxy in $E2E_TMP"
e2e_start_all
echo "# open=$REG_OPEN basic=$REG_BASIC token=$REG_TOKEN (token service $TOKEN_SERVER) proxy=$REG_PROXY"

export EXP_OPEN=$E2E_TMP/exp-open.json EXP_BASIC=$E2E_TMP/exp-basic.json EXP_TOKEN=$E2E_TMP/exp-token.json
large=()
[ -n "${E2E_LARGE:-}" ] && large=(--large "$E2E_LARGE")
seed() { timeout 120 "$PYTHON" "$E2E_LIB/seed.py" "$@" || e2e_die "seeding failed: $*"; }
seed --registry "$REG_OPEN" --out "$EXP_OPEN" "${large[@]}" | sed 's/^/# /'
seed --registry "$REG_BASIC" --user "$E2E_USER" --password "$E2E_PASS" \
	--kinds oci-image,multiarch --out "$EXP_BASIC" | sed 's/^/# /'
seed --registry "$REG_TOKEN" --user "$E2E_USER" --password "$E2E_PASS" \
	--kinds oci-image,multiarch --out "$EXP_TOKEN" | sed 's/^/# /'
if ! [ -s "$EXP_OPEN" ] || ! [ -s "$EXP_BASIC" ] || ! [ -s "$EXP_TOKEN" ]; then e2e_die "seeding wrote no expectations"; fi
echo "# e2e: set up in $((SECONDS - START)) s"

export E2E_RESULTS=$E2E_TMP/results
: >"$E2E_RESULTS"
extra_failed=0

files=()
if [ -n "${E2E_TESTS:-}" ]; then
	for t in $E2E_TESTS; do
		for f in "$HERE"/$t; do [ -f "$f" ] && files+=("$f"); done
	done
else
	for f in "$HERE"/test_*.sh; do files+=("$f"); done
fi

# E2E_SKIP: files left out of this run (the sanitizer run leaves out those
# that test only the peers, e.g. the Ceph harness itself)
if [ -n "${E2E_SKIP:-}" ]; then
	kept=()
	for f in "${files[@]}"; do
		skip=0
		for t in $E2E_SKIP; do
			# shellcheck disable=SC2254
			case "$(basename "$f")" in $t) skip=1 ;; esac
		done
		if [ $skip = 1 ]; then
			echo "skip - $(basename "$f"): left out by E2E_SKIP"
		else
			kept+=("$f")
		fi
	done
	files=("${kept[@]}")
fi

if [ ! -x "$BIN" ]; then
	echo "not ok - ocimirror binary: $BIN is not an executable file"
	extra_failed=$((extra_failed + 1))
	only=()
	for f in "${files[@]}"; do case "$f" in */test_00_harness.sh) only+=("$f") ;; esac; done
	files=("${only[@]}")
fi

# A file with the line "# e2e-needs: s3" runs against a Ceph RGW (lib/ceph.sh),
# one cluster for the run, started only when such a file is selected; when it
# cannot start (e.g. the ceph packages are missing) those files fail.
s3_fail=""
needs_s3() { grep -Eq '^# e2e-needs:.*(^|[ ,:])s3([ ,]|$)' "$1"; }
for f in "${files[@]}"; do
	needs_s3 "$f" || continue
	echo "# e2e: starting Ceph (mon, memstore OSD, radosgw) in $E2E_TMP/ceph"
	if ceph_start "$E2E_TMP/ceph" 2>"$E2E_TMP/ceph-start.err"; then
		echo "# S3 (Ceph RGW) at $S3_ENDPOINT, up in $CEPH_START_SECONDS s"
	else
		s3_fail=$(grep -m 1 '^ceph: ' "$E2E_TMP/ceph-start.err")
		s3_fail=${s3_fail:-ceph: did not start}
		sed 's/^/# /' "$E2E_TMP/ceph-start.err"
	fi
	break
done

for f in "${files[@]}"; do
	name=$(basename "$f")
	echo "# --- $name"
	if [ -n "$s3_fail" ] && needs_s3 "$f"; then
		echo "not ok - $name: no S3 endpoint: $s3_fail"
		extra_failed=$((extra_failed + 1))
		continue
	fi
	t0=$SECONDS
	before=$(wc -l <"$E2E_RESULTS")
	# in the background so the cleanup trap can stop it (timeout(1) runs it in
	# its own process group, out of reach of a signal to ours)
	# a file may ask for more time with a line "# e2e-file-timeout: SECONDS"
	limit=$(sed -n 's/^# e2e-file-timeout: \([0-9][0-9]*\)$/\1/p' "$f" | head -n 1)
	[ -n "$limit" ] && [ "$limit" -gt "$E2E_FILE_TIMEOUT" ] || limit=$E2E_FILE_TIMEOUT
	timeout -k 5 "$limit" bash "$f" &
	child=$!
	E2E_PIDS+=("$child")
	rc=0
	wait "$child" || rc=$?
	unset 'E2E_PIDS[${#E2E_PIDS[@]}-1]'
	after=$(wc -l <"$E2E_RESULTS")
	echo "# $name took $((SECONDS - t0)) s"
	if [ $rc -eq 124 ] || [ $rc -eq 137 ]; then
		echo "not ok - $name: timed out after ${limit}s ($((after - before)) cases ran)"
		extra_failed=$((extra_failed + 1))
	elif [ $rc -ne 0 ]; then
		echo "not ok - $name: exited with status $rc"
		extra_failed=$((extra_failed + 1))
	elif [ "$after" -eq "$before" ] && [ -z "${E2E_FILTER:-}" ]; then
		echo "not ok - $name: ran no cases"
		extra_failed=$((extra_failed + 1))
	fi
done

ceph_stop

passed=$(grep -c '^ok ' "$E2E_RESULTS")
failed=$(grep -c '^not ok ' "$E2E_RESULTS")
skipped=$(grep -c '^skip ' "$E2E_RESULTS")
failed=$((failed + extra_failed))
echo "# e2e: $((SECONDS - START)) s"
if [ "$failed" -gt 0 ] && [ "${E2E_KEEP:-0}" != 1 ]; then
	echo "# (E2E_KEEP=1 keeps registries' data, stores and logs; E2E_VERBOSE=1 shows ocimirror output)"
fi
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
