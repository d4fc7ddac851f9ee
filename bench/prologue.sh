# shellcheck shell=bash
# The one prologue of every bench/bench*.sh (not a benchmark itself):
#
#     . "$(dirname "$0")/prologue.sh"
#
# set -euo pipefail; BIN = the binary named by the first argument (default
# build/ocimirror), made absolute; the working directory becomes the
# project root; tests/e2e/lib/env.sh sourced (the e2e peers, e2e_free_port,
# proxy_*) and e2e_init run (a temp dir in E2E_TMP, removed with every
# process started through env.sh at exit).
set -euo pipefail
# shellcheck disable=SC2034 # for the benchmark that sources this
BIN=$(realpath "${1:-build/ocimirror}")
cd "$(dirname "${BASH_SOURCE[0]}")/.."
. tests/e2e/lib/env.sh
e2e_init
