#!/usr/bin/env bash
# e2e: export / import / inventory bundles; served back and read by skopeo.
. "$(dirname "$0")/lib/prologue.sh"

ref() { echo "$REG_OPEN/$(e_ref "$EXP_OPEN" "$1" repo):$(e_ref "$EXP_OPEN" "$1" tag)"; }
B=$E2E_WORK/bundles
MT_ACCEPT="application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.list.v2+json, application/vnd.docker.distribution.manifest.v2+json"
mkdir -p "$B"

# the source store: an image with its sbom, a 3-platform index, a chart
SRC=$E2E_WORK/bundle-src
STORE=$SRC om --store "$SRC" pull --referrers "$(ref oci-image)" "$(ref multiarch)" "$(ref helm-chart)" ||
	e2e_setup_fail "pull failed: $(alltext | tail -n 3)"

blobs_of() { ls "$1/blobs/sha256" | sort | tr '\n' ' '; }
tags_of() { om --store "$1" ls; cut -f1,2 "$OUT" | sort | tr '\n' ' '; }

case_round_trip_served_to_skopeo() {
	new_store
	assert_exit 0 om --store "$SRC" export -o "$B/full.tar.zst" --all || return
	assert_exit 0 oms import "$B/full.tar.zst" || return
	assert_eq "$(tags_of "$SRC")" "$(tags_of "$STORE")" "tags" || return
	assert_eq "$(blobs_of "$SRC")" "$(blobs_of "$(store_dir)")" "blobs" || return
	"$PYTHON" "$E2E_LIB/check_store.py" "$(store_dir)" || { fail "imported store inconsistent"; return; }
	# served, and read back by skopeo with the upstream digests
	local port pid k dg
	port=$(e2e_free_port)
	"$OCIMIRROR" --store "$STORE" -q serve --listen "127.0.0.1:$port" &
	pid=$!
	e2e_wait_http "http://127.0.0.1:$port/healthz" || { kill $pid; fail "serve did not start"; return; }
	for k in oci-image multiarch helm-chart; do
		dg=$(curl -sf -H "Accept: $MT_ACCEPT" \
			"http://127.0.0.1:$port/v2/$REG_OPEN/$(e_ref "$EXP_OPEN" "$k" repo)/manifests/$(e_ref "$EXP_OPEN" "$k" tag)" |
			sha256sum | cut -d' ' -f1)
		assert_eq "$(e_ref "$EXP_OPEN" "$k" digest)" "sha256:$dg" "$k served from the imported store" || { kill $pid; return 1; }
	done
	# skopeo cannot name a repository whose path holds "host:port"; give
	# the imported index a plain name and pull it with skopeo
	store_copy_repo "$REG_OPEN/$(e_ref "$EXP_OPEN" multiarch repo)" e2e/imported ||
		{ kill $pid; fail "copy repository"; return; }
	rm -rf "$B/layout"
	skopeo copy -q --src-tls-verify=false \
		"docker://127.0.0.1:$port/e2e/imported:v1" "oci:$B/layout:x" ||
		{ kill $pid; fail "skopeo copy from the imported store"; return; }
	kill $pid
	wait $pid 2>/dev/null
	for f in "$B"/layout/blobs/sha256/*; do
		assert_eq "$(basename "$f")" "$(sha256sum "$f" | cut -d' ' -f1)" "skopeo blob" || return
	done
	# the referrer came along with its subject
	assert_file "$(store_dir)/repositories/$REG_OPEN/$(e_ref "$EXP_OPEN" oci-image repo)/_referrers/sha256/$(hex "$(e_ref "$EXP_OPEN" oci-image digest)")/sha256-$(hex "$(e_ref "$EXP_OPEN" sbom digest)")"
}

case_reimport_is_noop() {
	new_store
	assert_exit 0 oms import "$B/full.tar.zst" || return
	assert_exit 0 oms --json import "$B/full.tar.zst" || return
	assert_eq 0 "$(tail -n 1 "$OUT" | "$PYTHON" -c 'import json,sys; print(json.load(sys.stdin)["blobs"])')" "blobs stored again"
}

case_plain_tar_read_by_skopeo() {
	local r; r="$REG_OPEN/$(e_ref "$EXP_OPEN" oci-image repo):v1"
	assert_exit 0 om --store "$SRC" export -o "$B/one.tar" "$r" || return
	assert_eq "$(e_ref "$EXP_OPEN" oci-image digest)" \
		"sha256:$(skopeo inspect --raw "oci-archive:$B/one.tar:$r" | sha256sum | cut -d' ' -f1)" "oci-archive digest"
}

case_delta_since_inventory() {
	local r1 ssize fsize
	r1="$REG_OPEN/$(e_ref "$EXP_OPEN" oci-image repo):v1"
	new_store
	assert_exit 0 om --store "$SRC" export -o "$B/base.tar.zst" "$r1" || return
	assert_exit 0 oms import "$B/base.tar.zst" || return
	assert_exit 0 oms inventory -o "$B/site.json" || return
	assert_exit 0 om --store "$SRC" export -o "$B/delta.tar.zst" --all --since "$B/site.json" || return
	ssize=$(stat -c %s "$B/delta.tar.zst")
	fsize=$(stat -c %s "$B/full.tar.zst")
	[ "$ssize" -lt $((fsize / 2)) ] || { fail "delta $ssize bytes vs full $fsize"; return; }
	assert_exit 0 oms import "$B/delta.tar.zst" || return
	assert_eq "$(tags_of "$SRC")" "$(tags_of "$STORE")" "tags after base + delta" || return
	"$PYTHON" "$E2E_LIB/check_store.py" "$(store_dir)" || { fail "store inconsistent"; return; }
	# the same delta into a store without the base: refused, no tag
	new_store
	assert_exit 1 oms import "$B/delta.tar.zst" || return
	assert_contains "$(alltext)" "missing" "message" || return
	assert_contains "$(alltext)" "$(e_ref "$EXP_OPEN" oci-image digest)" "names a missing digest" || return
	assert_no_tags
}

case_split_parts() {
	new_store
	assert_exit 0 om --store "$SRC" export -o "$B/split.tar" --all --split 1M || return
	local parts; parts=$(ls "$B"/split.tar.part-* | wc -l)
	[ "$parts" -ge 3 ] || { fail "only $parts parts"; return; }
	# given out of order: sorted by number
	assert_exit 0 oms import $(ls "$B"/split.tar.part-* | sort -r) || return
	assert_eq "$(tags_of "$SRC")" "$(tags_of "$STORE")" "tags" || return
	# a part missing in the middle: refused before reading
	new_store
	assert_exit 2 oms import $(ls "$B"/split.tar.part-* | sed '2d') || return
	assert_contains "$(alltext)" "missing" "message" || return
	# the last part missing: truncated, no tag
	assert_exit 1 oms import $(ls "$B"/split.tar.part-* | sed '$d') || return
	assert_no_tags
}

case_hostile_archives() {
	local k
	for k in absolute dotdot symlink hardlink device setuid unexpected hugeindex corrupt; do
		new_store
		"$PYTHON" "$E2E_LIB/badtar.py" "$k" "$B/bad-$k.tar" >/dev/null || { fail "badtar $k"; return; }
		assert_exit 1 oms import "$B/bad-$k.tar" || { fail "$k accepted"; return; }
		case $k in
			absolute|dotdot) assert_contains "$(alltext)" "not part of an OCI layout" "$k" || return ;;
			symlink|hardlink|device) assert_contains "$(alltext)" "links and special files" "$k" || return ;;
			setuid) assert_contains "$(alltext)" "setuid" "$k" || return ;;
			unexpected) assert_contains "$(alltext)" "etc/cron.d/evil" "$k" || return ;;
			hugeindex) assert_contains "$(alltext)" "index.json" "$k" || return ;;
			corrupt) assert_contains "$(alltext)" "digest mismatch" "$k" || return ;;
		esac
		assert_no_file /tmp/ocimirror-pwned || return
		assert_eq "" "$(ls "$(store_dir)/blobs/sha256")" "blobs after $k" || return
		assert_tmp_empty || return
		assert_exit 0 oms verify || return
	done
}


store_bytes() { find "$1" -type f ! -name lock -printf '%s\n' | awk '{n += $1} END {print n + 0}'; }
store_files() { (cd "$1" && find . -type f ! -name lock -printf '%p %s\n' | sort | tr '\n' ' '); }

case_bomb_stops_at_the_listed_size() {
	local before after size
	new_store
	"$PYTHON" "$E2E_LIB/bundletar.py" bomb "$B/bomb.tar.zst" >/dev/null || { fail "bundletar bomb"; return; }
	size=$(stat -c %s "$B/bomb.tar.zst")
	[ "$size" -lt 65536 ] || { fail "bomb is $size bytes"; return; }
	before=$(store_bytes "$(store_dir)")
	assert_exit 1 oms import "$B/bomb.tar.zst" || return
	assert_contains "$(alltext)" "67108864 bytes, ocimirror-bundle.json lists 1000; refused" "message" || return
	after=$(store_bytes "$(store_dir)")
	echo "# bomb: $size-byte bundle, 64 MiB entry listed as 1000 bytes: store $before -> $after bytes"
	assert_eq "$before" "$after" "store bytes after the bomb" || return
	assert_tmp_empty
}

case_unlisted_blob_and_bad_index_refused_before_writing() {
	local k
	for k in unlisted badindex; do
		new_store
		"$PYTHON" "$E2E_LIB/bundletar.py" "$k" "$B/$k.tar" >/dev/null || { fail "bundletar $k"; return; }
		assert_exit 1 oms import "$B/$k.tar" || return
		case $k in
			unlisted) assert_contains "$(alltext)" "not listed in ocimirror-bundle.json" "$k" || return ;;
			badindex) assert_contains "$(alltext)" "index.json: not valid JSON: ']' expected" "$k" || return ;;
		esac
		assert_eq "" "$(ls "$(store_dir)/blobs/sha256")" "blobs after $k" || return
		assert_no_tags || return
	done
}

case_failed_import_leaves_every_file_as_it_was() {
	local r1 before
	r1="$REG_OPEN/$(e_ref "$EXP_OPEN" oci-image repo):v1"
	new_store
	assert_exit 0 om --store "$SRC" export -o "$B/one-img.tar.zst" "$r1" || return
	assert_exit 0 oms import "$B/one-img.tar.zst" || return
	before=$(store_files "$(store_dir)")
	# the rest of the source store, cut before its last blob: the blobs
	# stored before the cut go again; those the store held stay
	assert_exit 0 om --store "$SRC" export -o "$B/all.tar" --all || return
	"$PYTHON" "$E2E_LIB/bundletar.py" cut "$B/cut.tar" "$B/all.tar" || { fail "bundletar cut"; return; }
	assert_exit 1 oms import "$B/cut.tar" || return
	assert_contains "$(alltext)" "truncated" "message" || return
	assert_eq "$before" "$(store_files "$(store_dir)")" "the store's files" || return
	assert_exit 0 oms verify
}

case_old_order_bundle_imports() {
	new_store
	assert_exit 0 om --store "$SRC" export -o "$B/new-order.tar" --all || return
	"$PYTHON" "$E2E_LIB/bundletar.py" oldorder "$B/old-order.tar" "$B/new-order.tar" || { fail "bundletar oldorder"; return; }
	assert_eq "index.json" "$(tar -tf "$B/old-order.tar" | tail -n 2 | head -n 1)" "old order" || return
	assert_exit 0 oms import "$B/old-order.tar" || return
	assert_eq "$(tags_of "$SRC")" "$(tags_of "$STORE")" "tags" || return
	assert_eq "$(blobs_of "$SRC")" "$(blobs_of "$(store_dir)")" "blobs"
}

case_corrupt_store_not_exported() {
	local bad=$E2E_WORK/bundle-corrupt blob
	rm -rf "$bad" && cp -a "$SRC" "$bad" || { fail "copy store"; return; }
	# the largest blob (a layer) with one byte flipped
	blob=$(ls -S "$bad/blobs/sha256" | head -n 1)
	"$PYTHON" -c 'import sys; f = open(sys.argv[1], "r+b"); b = f.read(1); f.seek(0); f.write(bytes([b[0] ^ 1]))' \
		"$bad/blobs/sha256/$blob" || { fail "flip"; return; }
	mkdir -p "$B/corrupt" && rm -f "$B/corrupt/"*
	assert_exit 1 om --store "$bad" export -o "$B/corrupt/x.tar.zst" --all || return
	assert_contains "$(alltext)" "sha256:$blob" "names the digest" || return
	assert_contains "$(alltext)" "ocimirror verify" "tells to verify" || return
	assert_exit 1 om --store "$bad" export -o "$B/corrupt/x.tar" --all --split 1M || return
	assert_eq "" "$(ls -A "$B/corrupt")" "files left by the failed exports"
}

run_case "export --all, import, serve, skopeo reads every ref" case_round_trip_served_to_skopeo
run_case "re-importing the same bundle stores nothing" case_reimport_is_noop
run_case "uncompressed bundle read by skopeo oci-archive:" case_plain_tar_read_by_skopeo
run_case "inventory + export --since: smaller, complete; wrong base refused" case_delta_since_inventory
run_case "--split parts: imported in order; missing parts refused" case_split_parts
run_case "hostile archives refused, nothing written" case_hostile_archives
run_case "zstd bomb: refused at the listed size, the store unchanged" case_bomb_stops_at_the_listed_size
run_case "unlisted blob, unparsable index.json: refused before writing" case_unlisted_blob_and_bad_index_refused_before_writing
run_case "failed import (cut at an entry boundary): every file as before" case_failed_import_leaves_every_file_as_it_was
run_case "a bundle in the older order (index.json last) imports" case_old_order_bundle_imports
run_case "a corrupt blob in the store is not exported" case_corrupt_store_not_exported
