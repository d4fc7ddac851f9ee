#!/usr/bin/env bash
# e2e: cases of test_pull.sh, test_sync.sh and test_bundle.sh once more with
# the store on S3 (Ceph RGW, lib/ceph.sh): each file runs as a child bash
# process (as run.sh runs files) with E2E_STORE=s3 (lib/ocimirror.sh: a
# fresh prefix per new_store, the helpers look at a copy of the bucket made
# after every `om`); its cases are reported here as "s3: NAME".
#
# Selected cases (E2E_FILTER per file, the ones where the store matters;
# S3_RERUN_ALL=1 runs all 59, ~190 s), to stay near 2 minutes:
#   test_pull.sh   a pull of each kind, all platforms, --platform, by
#                  digest, re-pull is a no-op, --referrers, ls, the fault
#                  proxy's drop mid-blob (resumed), corrupt forever
#                  (nothing stored), a second writer exits 3
#   test_sync.sh   first sync (semver, rename, platforms), no-op resync,
#                  moved tag + prune, a failed image keeps its tag, a
#                  concurrent run exits 3 (kill -9 of a writer on S3 is
#                  test_s3_replicas.sh's: twenty of them cost ~40 s here)
#   test_bundle.sh import into S3 then serve from S3 read by skopeo (round
#                  trip), export --since onto S3, a cut import leaves the
#                  bucket as it was
# Not rerun: cases that do not touch the store (usage, tags, login, auth,
# inspect, --json) or only a local one (export of a corrupted local
# store), more of the same on S3 (other fault variants, --dry-run,
# re-import, hostile archives: all pass with S3_RERUN_ALL=1 but cost
# time), and test_serve.sh (its
# fixture is made by moving repositories as files; serve on S3 is
# test_s3_serve.sh's and test_s3_replicas.sh's).
# e2e-needs: s3
# e2e-file-timeout: 300
. "$(dirname "$0")/lib/prologue.sh"
s3_require

# FILE FILTER pairs
PULL_CASES='^pull [a-z-]+ from open|all platforms by default|^pull by digest|^re-pull|--platform linux/arm64|--referrers stores|^ls lists|drop mid-blob|corrupt forever|second writer on a locked store'
SYNC_CASES='^first sync|^no-op resync|^moved tag|keeps its old tag|second concurrent run'
BUNDLE_CASES='^export --all, import, serve|^inventory \+ export --since|^failed import'
if [ "${S3_RERUN_ALL:-0}" = 1 ]; then PULL_CASES='' SYNC_CASES='' BUNDLE_CASES=''; fi

# rerun FILE FILTER: FILE in S3 mode; its result lines here with "s3: "
rerun() {
	local f=$1 filter=$2 name res rc=0 t0=$SECONDS line st case
	name=$(basename "$f" .sh)
	res=$E2E_WORK/results-$name
	: >"$res"
	E2E_STORE=s3 E2E_RESULTS=$res E2E_WORK=$E2E_TMP/work/s3-$name E2E_FILTER=$filter \
		timeout -k 5 200 bash "$HERE/$f" >"$E2E_WORK/$name.out" 2>&1 </dev/null || rc=$?
	sed -E -n 's/^(ok|not ok|skip) - /\1 - s3: /p; s/^(#   \|.*)/\1/p; s/^# slow case: /# s3: slow case: /p' "$E2E_WORK/$name.out"
	while IFS= read -r line; do
		case "$line" in
		'ok '*) st=ok case=${line#ok } E2E_FILE_PASSED=$((E2E_FILE_PASSED + 1)) ;;
		'not ok '*) st='not ok' case=${line#not ok } E2E_FILE_FAILED=$((E2E_FILE_FAILED + 1)) ;;
		'skip '*) st=skip case=${line#skip } E2E_FILE_SKIPPED=$((E2E_FILE_SKIPPED + 1)) ;;
		*) continue ;;
		esac
		echo "$st s3: $case" >>"$E2E_RESULTS"
	done <"$res"
	echo "# s3: $f took $((SECONDS - t0)) s"
	if [ $rc -ne 0 ] && ! grep -q '^not ok ' "$res"; then
		echo "not ok - s3: $f: exited with status $rc: $(grep -v '^ok \|^# ' "$E2E_WORK/$name.out" | tail -n 2 | tr '\n' ' ')"
		echo "not ok s3: $f" >>"$E2E_RESULTS"
		E2E_FILE_FAILED=$((E2E_FILE_FAILED + 1))
	fi
}

rerun test_pull.sh "$PULL_CASES"
rerun test_sync.sh "$SYNC_CASES"
rerun test_bundle.sh "$BUNDLE_CASES"
