# shellcheck shell=bash
# Tiny assertion helpers for the e2e tests.
#
# A test file defines cases as functions and runs them with
#     run_case "name" func [args...]
# A case passes when its function returns 0 and no assertion failed inside it.
# Assertions print nothing on success; on failure they record the first
# reason ("not ok - name: reason") and return 1, so `assert_x ... || return`
# stops a case early. Results are appended to $E2E_RESULTS (one line per
# case: "ok NAME" / "not ok NAME" / "skip NAME") so run.sh can count across
# test files. A skipped case (skip_case) is neither passed nor failed.
#
# Every case's commands run under `timeout` via run_cli (see below).

: "${E2E_RESULTS:=/dev/null}"
E2E_CASE_FAIL=""
E2E_CASE_NAME=""
E2E_FILE_PASSED=0
E2E_FILE_FAILED=0
E2E_FILE_SKIPPED=0

# _fail REASON: record the first failure of the running case
_fail() {
	[ -z "$E2E_CASE_FAIL" ] && E2E_CASE_FAIL="$*"
	return 1
}

fail() { _fail "$*"; }

# _filtered NAME: true when $E2E_FILTER (a grep -E regex) is set and NAME
# does not match it
_filtered() {
	[ -n "${E2E_FILTER:-}" ] && ! printf '%s\n' "$1" | grep -Eq -- "$E2E_FILTER"
}

# Only run cases whose name matches $E2E_FILTER (a grep -E regex), if set.
run_case() {
	local name=$1; shift
	_filtered "$name" && return 0
	E2E_CASE_NAME=$name
	E2E_CASE_FAIL=""
	local rc=0 t0=$SECONDS
	"$@" || rc=$?
	if [ $rc -ne 0 ] && [ -z "$E2E_CASE_FAIL" ]; then
		E2E_CASE_FAIL="case returned $rc"
	fi
	if [ -z "$E2E_CASE_FAIL" ]; then
		echo "ok - $name"
		echo "ok $name" >>"$E2E_RESULTS"
		E2E_FILE_PASSED=$((E2E_FILE_PASSED + 1))
	else
		echo "not ok - $name: $E2E_CASE_FAIL"
		echo "not ok $name" >>"$E2E_RESULTS"
		E2E_FILE_FAILED=$((E2E_FILE_FAILED + 1))
		if [ -n "${E2E_LAST_OUT:-}" ] && [ -s "$E2E_LAST_OUT" ] && [ "${E2E_VERBOSE:-0}" != 0 ]; then
			sed 's/^/#   | /' "$E2E_LAST_OUT" | tail -n 30
		fi
	fi
	[ $((SECONDS - t0)) -gt 30 ] && echo "# slow case: $name took $((SECONDS - t0)) s"
	return 0
}

# skip_case NAME REASON: reported as "skip - NAME: REASON" and counted as
# skipped (neither passed nor failed; it does not change the exit status)
skip_case() {
	_filtered "$1" && return 0
	echo "skip - $1: $2"
	echo "skip $1" >>"$E2E_RESULTS"
	E2E_FILE_SKIPPED=$((E2E_FILE_SKIPPED + 1))
}

# e2e_file_summary: the test file's own count, "# FILE: N passed, N failed, N skipped"
e2e_file_summary() {
	echo "# $(basename "$0"): $E2E_FILE_PASSED passed, $E2E_FILE_FAILED failed, $E2E_FILE_SKIPPED skipped"
}

_q() { printf '%q' "$1" | cut -c1-200; }

assert_eq() { # EXPECTED ACTUAL [WHAT]
	[ "$1" = "$2" ] && return 0
	_fail "${3:-value}: expected '$(printf %s "$1" | head -c 200)', got '$(printf %s "$2" | head -c 200)'"
}

assert_ne() { # UNEXPECTED ACTUAL [WHAT]
	[ "$1" != "$2" ] && return 0
	_fail "${3:-value}: did not expect '$(printf %s "$1" | head -c 200)'"
}

assert_contains() { # HAYSTACK NEEDLE [WHAT]   (case-insensitive if E2E_ICASE=1)
	if [ "${E2E_ICASE:-0}" = 1 ]; then
		printf '%s' "$1" | grep -qiF -- "$2" && return 0
	else
		case "$1" in *"$2"*) return 0 ;; esac
	fi
	_fail "${3:-output} does not contain '$2' (got: $(printf %s "$1" | tr '\n' ' ' | head -c 300))"
}

assert_not_contains() { # HAYSTACK NEEDLE [WHAT]
	case "$1" in *"$2"*) _fail "${3:-output} contains '$2'"; return 1 ;; esac
	return 0
}

# assert_match HAYSTACK ERE [WHAT]: grep -Ei
assert_match() {
	printf '%s' "$1" | grep -Eqi -- "$2" && return 0
	_fail "${3:-output} does not match /$2/ (got: $(printf %s "$1" | tr '\n' ' ' | head -c 300))"
}

assert_file() { [ -f "$1" ] && return 0; _fail "missing file ${1#"${STORE_ROOT:-}"}"; }
assert_no_file() { [ ! -e "$1" ] && return 0; _fail "unexpected file ${1#"${STORE_ROOT:-}"}"; }

# assert_empty_dir DIR: DIR absent or without entries
assert_empty_dir() {
	[ ! -d "$1" ] && return 0
	local n; n=$(find "$1" -mindepth 1 | head -n 5)
	[ -z "$n" ] && return 0
	_fail "directory ${1#"${STORE_ROOT:-}"} not empty: $(echo "$n" | sed "s|^${STORE_ROOT:-}||" | tr '\n' ' ')"
}

# assert_file_digest FILE sha256:HEX [SIZE]: content hash (and size) of FILE
assert_file_digest() {
	local f=$1 want=$2 size=${3:-}
	local short=${f#"${STORE_ROOT:-}"}
	[ -f "$f" ] || { _fail "missing file $short"; return 1; }
	local got; got="sha256:$(sha256sum <"$f" | cut -d' ' -f1)"
	[ "$got" = "$want" ] || { _fail "$short: content digest $got, want $want"; return 1; }
	if [ -n "$size" ]; then
		local s; s=$(stat -c %s "$f")
		[ "$s" = "$size" ] || { _fail "$short: size $s, want $size"; return 1; }
	fi
	return 0
}

# assert_exit CODE CMD...: run CMD (output to $E2E_LAST_OUT), compare exit status
assert_exit() {
	local want=$1; shift
	local rc=0
	"$@" || rc=$?
	[ "$rc" = "$want" ] && return 0
	_fail "exit status $rc, want $want from: $* $(_tail_out)"
}

_tail_out() {
	[ -n "${E2E_LAST_OUT:-}" ] && [ -s "$E2E_LAST_OUT" ] &&
		printf '[output: %s]' "$(tail -n 5 "$E2E_LAST_OUT" | tr '\n' ' ' | head -c 400)"
}

# assert_set_eq "LINES-A" "LINES-B" [WHAT]: same set of non-empty lines
assert_set_eq() {
	local a b
	a=$(printf '%s\n' "$1" | sed '/^$/d' | sort -u)
	b=$(printf '%s\n' "$2" | sed '/^$/d' | sort -u)
	[ "$a" = "$b" ] && return 0
	local only_a only_b
	only_a=$(comm -23 <(echo "$a") <(echo "$b") | head -n 5 | tr '\n' ' ')
	only_b=$(comm -13 <(echo "$a") <(echo "$b") | head -n 5 | tr '\n' ' ')
	_fail "${3:-sets} differ: missing [$only_a] unexpected [$only_b]"
}

# assert_json_line_key FILE KEY: last non-empty line of FILE is a JSON object with KEY
assert_json_last_has() {
	local f=$1 key=$2
	"$PYTHON" - "$f" "$key" <<-'PY' && return 0
	import json, sys
	lines = [l for l in open(sys.argv[1], errors="replace").read().splitlines() if l.strip()]
	for l in lines:
	    json.loads(l)            # every line must be JSON
	o = json.loads(lines[-1])
	sys.exit(0 if isinstance(o, dict) and sys.argv[2] in o else 1)
	PY
	_fail "last line of --json output is not an object with key '$key' (or a line is not JSON) $(_tail_out)"
}
