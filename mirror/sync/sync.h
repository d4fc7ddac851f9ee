/* ocimirror sync: make the store hold what a sync configuration declares.
 *
 * Per rule: list the source's tags (all pages), select with the rule's
 * filter, then one manifest HEAD per selected tag. A tag whose digest the
 * store already holds complete (manifest, selected children, configs and
 * layers all present in the destination repository) costs nothing more.
 * Every other tag joins one pull of the whole run (see mirror/pull.h: each
 * blob fetched once, in parallel, tags moved only when complete). With
 * prune, destination tags no longer selected are removed after the pull.
 * The caller holds the store's writer lock. */
#ifndef MIRROR_SYNC_SYNC_H
#define MIRROR_SYNC_SYNC_H

#include <stdint.h>

#include "mirror/store/store.h"
#include "mirror/sync/syncconf.h"
#include "registry/client.h"
#include "registry/transfer.h"

enum sync_action {
	SYNC_UNCHANGED,
	SYNC_ADDED,
	SYNC_UPDATED,
	SYNC_PRUNED,
	SYNC_FAILED,
};

struct sync_tag_result {
	char source[OCI_REF_STR_MAX]; /* upstream reference */
	char repo[OCI_REPO_MAX];      /* store repository */
	char tag[OCI_TAG_MAX + 1];    /* "" for a pinned digest */
	enum sync_action action;
	struct oci_digest digest; /* new digest (old one when pruned) */
	uint64_t bytes;		  /* fetched (or, dry run, to fetch) */
	size_t blobs;		  /* fetched (or to fetch) */
	struct err err;		  /* when SYNC_FAILED */
};

struct sync_report {
	struct sync_tag_result *tags;
	size_t n, cap;
	size_t failed;
	uint64_t bytes;
};

struct sync_options {
	int dry_run; /* plan only: resolve, count, change nothing */
	void (*progress)(void *ctx, const struct reg_transfer_progress *p);
	void *ctx;
};

/* 0 when every rule and tag succeeded; ERR_FAIL when some failed (the
 * report says which, the rest was done). */
int sync_run(struct store *s, const struct sync_config *cfg,
	     const struct reg_options *ro, const struct sync_options *o,
	     struct sync_report *out);
void sync_report_release(struct sync_report *r);
const char *sync_action_name(enum sync_action a);

#endif
