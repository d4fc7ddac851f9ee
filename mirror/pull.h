/* Pulling references from remote registries into the store.
 *
 * For each reference: resolve the manifest or index (stored byte for byte),
 * the children of the selected platforms, their configs and layers, and
 * with `referrers` the manifests that refer to any of them (signatures,
 * SBOMs) through the referrers API or its tag fallback. Every blob missing
 * from the store, across all references, goes into one parallel transfer;
 * each is fetched once however many images share it. A reference's
 * manifests are stored only after all its blobs are, and its tag last, so
 * a failed reference leaves its old tag untouched while the others
 * complete. */
#ifndef MIRROR_PULL_H
#define MIRROR_PULL_H

#include <stdint.h>

#include "mirror/store/store.h"
#include "oci/platform.h"
#include "oci/ref.h"
#include "registry/pool.h"
#include "registry/transfer.h"

enum pull_event_kind {
	PULL_EV_RESOLVED, /* manifest fetched: ref, digest, media_type */
	PULL_EV_BLOB,	  /* one blob stored or failed: digest, bytes, result */
	PULL_EV_DONE,	  /* one reference finished: ref, digest, result */
};

/* Passed to pull_options.event; every string is valid during the call
 * only. Events come from the calling thread. */
struct pull_event {
	enum pull_event_kind kind;
	const char *ref;
	const char *digest;
	const char *media_type;
	int64_t bytes;
	int result;
	const char *message; /* error text when result != 0 */
};

/* One reference to pull, and how. The caller owns dest and platforms;
 * they must outlive pull_run. */
struct pull_item {
	struct oci_ref ref; /* a tag, a digest, or both (digest pulled,
			       tag written) */
	const char *dest;   /* store repository; NULL: the reference's */
	const struct oci_platform *platforms; /* NULL / 0: all platforms */
	size_t n_platforms;
	int referrers;
};

struct pull_options {
	int plan_only;	 /* resolve manifests, count what is missing; no
			    blob transfer, nothing written */
	int concurrency; /* blob transfers in flight, whole run */
	void (*event)(void *ctx, const struct pull_event *ev);
	void (*progress)(void *ctx, const struct reg_transfer_progress *p);
	void *ctx;
};

struct pull_result {
	char ref[OCI_REF_STR_MAX]; /* canonical reference */
	int result;		   /* 0 or ERR_* */
	struct err err;
	struct oci_digest digest; /* top manifest or index */
	char media_type[128];
	size_t manifests;     /* manifests stored (incl. children, referrers) */
	size_t blobs;	      /* blobs this reference needs */
	size_t blobs_fetched; /* of those, fetched in this run */
	uint64_t bytes_fetched;
};

/* results has n entries, each written (also when the run cannot start).
 * Returns 0 when all succeeded, ERR_FAIL when any failed (see results;
 * a failed result's message is "pull REF: " and the inner message; with
 * plan_only, the inner message alone).
 * The caller holds the store's writer lock. */
int pull_run(struct pull_result *results, struct store *s,
	     struct reg_pool *pool, const struct pull_item *items, size_t n,
	     const struct pull_options *o);

#endif
