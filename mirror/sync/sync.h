/* ocimirror sync: make the store hold what a sync configuration declares.
 *
 * Per rule: list the source's tags (all pages), select with the rule's
 * filter, then one manifest HEAD per selected tag. A tag whose digest the
 * store already holds complete (manifest, selected children, configs and
 * layers all present in the destination repository) costs nothing more,
 * unless the rule rechecks referrers (referrers_recheck: then it is pulled
 * again, which re-reads its manifests and referrers and fetches only what
 * is new). Every other tag joins one pull session of the whole run (see
 * mirror/pull.h: each blob fetched once, in parallel, tags moved only when
 * complete). All of it is one pass on the pool's request engine
 * (registry/engine.h): every rule's list at once, each tag's HEAD as soon
 * as its list is in, each changed tag's pull as soon as its HEAD answers.
 * With prune, destination tags no longer selected are removed after the
 * pull. The caller holds the store's writer lock. */
#ifndef MIRROR_SYNC_SYNC_H
#define MIRROR_SYNC_SYNC_H

#include <stdint.h>

#include "mirror/store/store.h"
#include "mirror/store/syncstatus.h"
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

/* One line of the report: a tag (or pinned digest), a Margo component or
 * image, or a pruned tag. */
struct sync_tag_result {
	char source[OCI_REF_STR_MAX]; /* upstream reference */
	char repo[OCI_REPO_MAX];      /* store repository */
	char tag[OCI_TAG_MAX + 1];    /* "" for a pinned digest */
	enum sync_action action;
	struct oci_digest digest; /* new digest (old one when pruned) */
	uint64_t bytes;		  /* fetched (or, dry run, to fetch) */
	size_t blobs;		  /* fetched (or to fetch) */
	struct err err;		  /* when SYNC_FAILED */
	/* "HOST[:PORT]" that served the pulled image (a mirror's or the
	 * registry's own); empty when not pulled or not known */
	char endpoint[OCI_NAME_MAX + 1];
};

/* Lines in configuration order: each rule's tags in the order its filter
 * selects them (whatever order the answers came in), a rule's own failure
 * after its tags, then the Margo lines, then the prunes. The caller owns it
 * (sync_report_release). */
struct sync_report {
	struct sync_tag_result *tags;
	size_t n, cap;
	size_t failed;	/* lines with SYNC_FAILED */
	uint64_t bytes; /* fetched (or to fetch) in all */
};

struct sync_options {
	int dry_run; /* plan only: resolve, count, change nothing */
	/* the pull's figures, with tags_checked / tags_total counting the
	 * HEADs (at most every 250 ms from them) */
	void (*progress)(void *ctx, const struct reg_transfer_progress *p);
	void *ctx;
};

/* Run cfg against s: plan every rule (list, select, one HEAD per tag),
 * one pull of everything that changed, the Margo packages' references,
 * then the prunes. out is filled (and owned by the caller, freed with
 * sync_report_release) whatever the result: one line per tag, component,
 * image or pruned tag. Returns 0 when every line succeeded; ERR_FAIL with
 * err saying how many failed when some did (the rest was done; each
 * failed line holds its own err); ERR_FAIL naming what could not be
 * allocated when the run stopped short. The caller holds the store's
 * writer lock. */
int sync_run(struct sync_report *out, struct store *s,
	     const struct sync_config *cfg, const struct reg_options *ro,
	     const struct sync_options *o, struct err *err);
/* Frees the lines; r is empty afterwards (released twice is safe). */
void sync_report_release(struct sync_report *r);
/* The run's record for the store (mirror/store/syncstatus.h) from what
 * sync_run returned (rc, err) and its report: the counts, one failure
 * line per failed line ("REPO:TAG: message", bounded), and when the run
 * stopped short with no failed line, failed 1 and err's message. Result: ok
 * when rc is 0; partial when some lines failed and others did not; failed
 * otherwise (every line failed, or the run stopped short). started and finished
 * are left 0. */
void sync_report_summarize(struct store_sync_run *out,
			   const struct sync_report *r, int rc,
			   const struct err *err);
/* "added", "updated", ...: a static string. */
const char *sync_action_name(enum sync_action a);

#endif
