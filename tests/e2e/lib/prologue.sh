# shellcheck shell=bash
# The one prologue of every tests/e2e/test_*.sh (run by run.sh, which
# exports OCIMIRROR, REG_*, EXP_*, E2E_*):
#
#     . "$(dirname "$0")/lib/prologue.sh"
#
# - set -u; HERE = tests/e2e (absolute);
# - sources env.sh, assert.sh, ocimirror.sh (E2E_WORK made) and serve.sh;
# - OCIMIRROR_RETRY_BASE_MS defaults to 50 (quick retries against the proxy);
# - the file's cleanup trap on EXIT/INT/TERM: stops what the file started
#   (servers from serve_start and bg_track, daemons in E2E_PIDS such as
#   e2e_start_bare's registry) and prints the file's summary line
#   "# FILE: N passed, N failed, N skipped". run.sh's own trap is in another
#   process; env.sh's e2e_init does nothing here, E2E_TMP being set.
# - e2e_setup_fail REASON: for set-up outside a case: "not ok - setup: ..."
#   and exit 1 (run.sh counts the file as failed).
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/lib/env.sh"
. "$HERE/lib/assert.sh"
. "$HERE/lib/ocimirror.sh"
. "$HERE/lib/serve.sh"

export OCIMIRROR_RETRY_BASE_MS=${OCIMIRROR_RETRY_BASE_MS:-50}

_prologue_cleanup() {
	set +e
	SERVE_PIDS+=("${E2E_PIDS[@]}")
	E2E_PIDS=()
	_serve_cleanup
}
_prologue_exit() {
	local rc=$?
	_prologue_cleanup
	e2e_file_summary
	exit $rc
}
trap _prologue_exit EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

e2e_setup_fail() {
	echo "not ok - setup: $*"
	E2E_FILE_FAILED=$((E2E_FILE_FAILED + 1))
	exit 1
}
