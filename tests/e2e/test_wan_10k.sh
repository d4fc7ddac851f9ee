#!/usr/bin/env bash
# e2e: one repository of 10,000 tags over one image (lib/seed_tags.py, its
# tags written as docker-registry's own tag files, 8 s; E2E_WAN_PUT_TAGS=1
# PUTs them, 8 threads on keep-alive connections: 45 s on an idle 2-core
# machine, ~90 s loaded), on loopback: a cold sync, then a no-op whose peak
# RSS stays under 64 MiB and that finds every tag unchanged.
# A file of its own for its run time: on the serial code (commit 6bf9589)
# on a loaded 2-core machine the cold sync takes ~85 s (peak RSS 180 MiB)
# and the no-op ~50 s (42 MiB: it passes there); at load 10 the cold sync
# took 146 s, hence:
# e2e-file-timeout: 420
. "$(dirname "$0")/lib/prologue.sh"
BIG_TAGS=${E2E_WAN_BIG_TAGS:-10000}
RSS_MAX_MIB=64
if [ -n "${ASAN_OPTIONS:-}" ]; then
	# under sanitizers (make asan) memory is ASan's shadow and quarantine,
	# not ours, and every step is several times slower: the same path on
	# fewer tags, the bound only in the release build
	BIG_TAGS=${E2E_WAN_BIG_TAGS:-2000}
	RSS_MAX_MIB=
fi
SLOW=${E2E_WAN_CMD_TIMEOUT:-300}
. "$HERE/lib/wan.sh"

case_10k_tags_bounded_memory() {
	# registry data and store in tmpfs when there is one: 10,000 tags are
	# 30,000 small files each side, which a loaded disk makes slow
	local shm; shm=$(mktemp -d /dev/shm/ocimirror-e2e-wan.XXXXXX 2>/dev/null) || shm=$(mktemp -d "$E2E_WORK/big.XXXXXX")
	serve_rm_at_exit "$shm"
	local port; port=$(e2e_free_port) || { fail "no free port"; return; }
	E2E_TMP=$shm e2e_registry reg-big "$port"
	local reg=127.0.0.1:$port exp=$E2E_WORK/exp-big.json t0=$SECONDS fs=(--fs-root "$shm/reg-big/data")
	[ "${E2E_WAN_PUT_TAGS:-0}" = 1 ] && fs=()
	timeout 600 "$PYTHON" "$E2E_LIB/seed_tags.py" --registry "$reg" "${fs[@]}" --prefix big --repos 1 \
		--tags "$BIG_TAGS" --images 1 --index-every 0 --layer-kib 4 --threads 8 --out "$exp" | sed 's/^/# /'
	[ -s "$exp" ] || { fail "seeding $BIG_TAGS tags failed"; return; }
	echo "# $BIG_TAGS tags seeded in $((SECONDS - t0)) s (${fs[*]:+tag link files; E2E_WAN_PUT_TAGS=1 PUTs them})"
	STORE=$shm/store STORE_ROOT=$STORE/
	CFG=$E2E_WORK/big.yaml
	printf 'registries: {"%s": {tls: disabled}}\nsync:\n  - source: %s/big/r00\n' "$reg" "$reg" >"$CFG"
	t0=$SECONDS
	peak_rss "$E2E_WORK/rss-cold" "$OCIMIRROR" --store "$STORE" --json sync -c "$CFG" ||
		{ fail "cold sync of $BIG_TAGS tags failed $(_tail_out)"; return; }
	echo "# $BIG_TAGS tags: cold sync $((SECONDS - t0)) s, peak RSS $(($(cat "$E2E_WORK/rss-cold") / 1024)) MiB"
	assert_eq "$BIG_TAGS" "$(count_actions added)" "tags added" || return
	t0=$SECONDS
	peak_rss "$E2E_WORK/rss-noop" "$OCIMIRROR" --store "$STORE" --json sync -c "$CFG" ||
		{ fail "no-op sync of $BIG_TAGS tags failed $(_tail_out)"; return; }
	local kib; kib=$(cat "$E2E_WORK/rss-noop")
	echo "# $BIG_TAGS tags: no-op sync $((SECONDS - t0)) s, peak RSS $((kib / 1024)) MiB"
	assert_eq "$BIG_TAGS" "$(count_actions unchanged)" "tags unchanged" || return
	assert_eq "$BIG_TAGS" "$(summary unchanged)" "summary unchanged" || return
	[ -z "$RSS_MAX_MIB" ] || [ "$kib" -lt $((RSS_MAX_MIB * 1024)) ] ||
		{ fail "no-op over $BIG_TAGS tags: peak RSS $((kib / 1024)) MiB, want < $RSS_MAX_MIB"; return; }
	assert_tags_stored "$exp" "$reg"
}

run_case "$BIG_TAGS tags of one repository: all unchanged on a no-op${RSS_MAX_MIB:+, peak RSS < $RSS_MAX_MIB MiB}" case_10k_tags_bounded_memory
