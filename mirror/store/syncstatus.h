/* The record of the last sync run, kept in the store for the server
 * (GET /ocimirror/v1/sync, /metrics) and for whoever watches a nightly
 * timer:
 *
 *   STORE/sync/last.json          the last run that held the writer lock
 *                                 and was not a dry run
 *   STORE/sync/last-success.json  {"finished": N} of the last run whose
 *                                 result was ok; kept across failed runs
 *
 * Each file is replaced atomically (tmp, fsync, rename), so a reader sees
 * the previous run or this one, never a mix within one file. The writer
 * (sync) holds the store's writer lock; readers need none. Times are Unix
 * seconds (UTC). */
#ifndef MIRROR_STORE_SYNCSTATUS_H
#define MIRROR_STORE_SYNCSTATUS_H

#include <stddef.h>
#include <stdint.h>

#include "mirror/store/store.h"

enum store_sync_result {
	STORE_SYNC_OK,	    /* every line succeeded */
	STORE_SYNC_PARTIAL, /* some lines failed, the others were done */
	STORE_SYNC_FAILED,  /* every line failed, or the run stopped short */
};

/* Failure lines a record keeps; more are only counted (omitted). */
#define STORE_SYNC_FAILURES_MAX 20
/* Bytes of one kept line with its NUL; a longer one is cut, "..." ended. */
#define STORE_SYNC_FAILURE_MAX 512

struct store_sync_run {
	int64_t started, finished; /* Unix seconds */
	enum store_sync_result result;
	uint64_t added, updated, unchanged, pruned, failed; /* lines */
	size_t n_failures;	   /* kept lines, at most FAILURES_MAX */
	uint64_t failures_omitted; /* lines past the first FAILURES_MAX */
	char failures[STORE_SYNC_FAILURES_MAX][STORE_SYNC_FAILURE_MAX];
};

struct store_sync_status {
	int has_run; /* 0: no run recorded (last is zeroed) */
	struct store_sync_run last;
	int64_t last_success; /* finished of the last ok run; 0: none */
};

/* Empty run: zero counts, result ok, no failure lines. */
void store_sync_run_init(struct store_sync_run *r);
/* Keep one failure line (bounded as above) or count it as omitted. */
void store_sync_run_failure_add(struct store_sync_run *r, const char *line);

/* Record run as the last one; when its result is ok, also as the last
 * success. ERR_FAIL naming the file that could not be written. */
int store_sync_status_put(struct store *s, const struct store_sync_run *run,
			  struct err *err);
/* What is recorded; no record is not an error (has_run 0, last_success
 * 0). ERR_INVALID naming the file when a record is not one (a hand
 * edit, another program's file); ERR_FAIL when it cannot be read. */
int store_sync_status_get(struct store_sync_status *out, const struct store *s,
			  struct err *err);

/* "ok", "partial", "failed". */
const char *store_sync_result_name(enum store_sync_result r);

#endif
