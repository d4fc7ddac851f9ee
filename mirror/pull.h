/* Pulling references from remote registries into the store.
 *
 * For each reference: resolve the manifest or index (stored byte for byte),
 * the children of the selected platforms, their configs and layers, and
 * with `referrers` the manifests that refer to any of them (signatures,
 * SBOMs) through the referrers API or its tag fallback. Every request is
 * a job on the pool's engine (registry/engine.h): manifests of one
 * reference and blobs of another in flight together. Every blob missing
 * from the store is fetched once however many references share it. A
 * reference's manifests are stored only after all its blobs are (an
 * index after its children, a subject before its referrers), and its tag
 * last, so a failed reference leaves its old tag untouched while the
 * others complete. */
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
	int concurrency; /* blob transfers in flight, whole run (the
			    engine's bulk limit); <= 0 keeps the engine's */
	/* admission budget of a session; 0: 256 references open, 32 MiB
	 * of manifests held */
	size_t max_open;
	size_t max_manifest_bytes;
	/* called from the engine's run at most every 250 ms and at its
	 * end; the session installs it as the engine's progress callback
	 * while it runs */
	void (*progress)(void *ctx, const struct reg_transfer_progress *p);
	void (*event)(void *ctx, const struct pull_event *ev);
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
	/* "HOST[:PORT]" that answered the top manifest (a mirror's or the
	 * registry's own); empty when the client did not say */
	char endpoint[OCI_NAME_MAX + 1];
};

/* A pull that takes references while it runs: the pipeline sync feeds as
 * its HEADs come back. Every reference is resolved as soon as it is added
 * (an index's children as soon as the index is parsed, referrers with
 * them), its missing blobs join the one transfer as soon as they are
 * known (a blob another reference is fetching already is waited for, not
 * fetched twice), and it is committed (manifests, then its tag) as soon as
 * all of its blobs are in, independently of the others. References wait
 * to start while the manifests the session holds exceed a memory budget
 * (32 MiB) or too many are open at once (256), so memory stays bounded
 * whatever the number of references (pull_options.max_open and
 * max_manifest_bytes change the budget). A blob that failed fails every
 * reference of the session needing it, without a second fetch. Events:
 * PULL_EV_RESOLVED per manifest, PULL_EV_BLOB per blob fetch,
 * PULL_EV_DONE per reference (none with plan_only). Everything runs on
 * the pool's engine (registry/engine.h). */
struct pull_session;

int pull_session_new(struct pull_session **out, struct store *s,
		     struct reg_pool *pool, const struct pull_options *o,
		     struct err *err);
/* Queue item (copied; its dest and platforms must outlive the session).
 * *res is written when the reference is done, then done(ctx, res) is
 * called (done may be NULL); res must stay valid until then. May be called
 * from inside a callback of the engine. Out of memory is ERR_FAIL (res
 * filled, done not called). */
int pull_session_add(struct pull_session *ps, const struct pull_item *item,
		     struct pull_result *res,
		     void (*done)(void *ctx, struct pull_result *res),
		     void *ctx);
/* Run the pool's engine until every reference added (before or during the
 * run) is done. 0 when all succeeded, else ERR_FAIL. */
int pull_session_run(struct pull_session *ps);
/* After pull_session_run when anything was added (queued jobs point into
 * the session). */
void pull_session_free(struct pull_session *ps);

/* What a session did so far (tests, progress). */
struct pull_session_stats {
	size_t added, done;  /* references */
	size_t peak_open;    /* references open at once, at most */
	size_t manifests;    /* manifests resolved */
	uint64_t peak_bytes; /* manifest bytes held at once, at most */
};
void pull_session_stats(const struct pull_session *ps,
			struct pull_session_stats *out);

/* results has n entries, each written (also when the run cannot start).
 * Returns 0 when all succeeded, ERR_FAIL when any failed (see results;
 * a failed result's message is "pull REF: " and the inner message, with
 * plan_only too). A blob several references need counts in the
 * blobs_fetched and bytes_fetched of the one that started its fetch.
 * The caller holds the store's writer lock. */
int pull_run(struct pull_result *results, struct store *s,
	     struct reg_pool *pool, const struct pull_item *items, size_t n,
	     const struct pull_options *o);

#endif
