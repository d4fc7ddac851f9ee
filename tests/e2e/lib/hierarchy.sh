# shellcheck shell=bash
# Helpers of the "mirrors of mirrors" test and bench (test_hierarchy.sh,
# bench/bench_hierarchy.sh): an origin registry and ocimirror levels
# (enterprise -> plant -> line) on loopback. Needs env.sh (and, for the
# test, prologue.sh) sourced.
#
#   hier_upstream_file FILE 'HOST' 'YAML' ['HOST' 'YAML' ...] [-- DEFAULTS-YAML]
#       writes an upstream file: `registries:` with each HOST: YAML, then
#       `defaults: DEFAULTS-YAML` when given
#   hier_mirror_yaml ADDR     {mirrors: ["http://ADDR"], fallback: false}
#   hier_count_gets LOG DIGEST
#       GET requests for blob DIGEST answered, from an access log
#       (docker-registry's or ocimirror serve's; any path form, with or
#       without ?ns=; serve's "upstream GET" lines are its own requests)
#   hier_metric URL NAME      value of /metrics NAME (or NAME_total) at
#                             URL, 0 when absent

hier_mirror_yaml() { printf '{mirrors: ["http://%s"], fallback: false}' "$1"; }

hier_upstream_file() {
	local f=$1; shift
	{
		echo "registries:"
		while [ $# -ge 2 ] && [ "$1" != -- ]; do
			printf "  '%s': %s\n" "$1" "$2"
			shift 2
		done
		if [ "${1:-}" = -- ] && [ -n "${2:-}" ]; then
			printf 'defaults: %s\n' "$2"
		fi
	} >"$f"
}

hier_count_gets() {
	local n
	# requests answered: "GET /v2/..." (serve) or "\"GET /v2/..." (docker-registry);
	# not serve's own "upstream GET HOST/..." lines
	n=$(grep -E "(^|[ \"])GET /v2/[^ ]*/blobs/$2([? \"]|\$)" "$1" 2>/dev/null | grep -c .) || true
	echo "${n:-0}"
}

hier_metric() {
	curl -s -m 10 "$1/metrics" 2>/dev/null | awk -v n="$2" '
		($1 == n || $1 == n "_total" || index($1, n "{") == 1 || index($1, n "_total{") == 1) { s += $2; f = 1 }
		END { if (f) printf "%d\n", s; else print 0 }'
}
