/* Pushing from the store into another registry (a site's Harbor or
 * distribution).
 *
 * For each item: the store manifest or index named by (repo, tag or digest)
 * goes to (host, repo, tag). Order: for an index, every child the store
 * holds (children of platforms never pulled are left out), each child's
 * config and layers before the child; then manifests by digest, the index
 * by digest, the referrers the store recorded for each pushed manifest
 * (after their subject; when the registry has no referrers API, the
 * "sha256-<hex>" fallback tag index is updated), and the tag last.
 *
 * Blobs: HEAD first (present: skipped); a blob pushed to another repository
 * of the same registry earlier in the run is mounted (POST ?mount=&from=);
 * otherwise uploaded from the store file, in PATCH chunks when larger than
 * the chunk size. Every size is checked against its descriptor first. A
 * failed item does not stop the others. The store is only read: no lock is
 * needed. */
#ifndef MIRROR_PUSH_H
#define MIRROR_PUSH_H

#include <stddef.h>
#include <stdint.h>

#include "mirror/store/store.h"
#include "oci/ref.h"
#include "registry/pool.h"

enum push_event_kind {
	PUSH_EV_BLOB,	  /* digest, bytes, how ("exists", "mounted",
			     "uploaded", "failed") */
	PUSH_EV_MANIFEST, /* one manifest PUT: ref (host/repo:ref), digest */
	PUSH_EV_DONE,	  /* one item finished: ref, digest, result */
};

struct push_event {
	enum push_event_kind kind;
	const char *ref;
	const char *digest;
	const char *how;
	int64_t bytes;
	int result;
	const char *message;
};

struct push_item {
	const char *src_repo; /* store repository */
	const char *src_tag;  /* NULL: by src_digest */
	struct oci_digest src_digest;
	struct oci_ref dst; /* host, path; tag "" pushes by digest only */
};

struct push_options {
	size_t chunk; /* PATCH chunk size; 0: REG_UPLOAD_CHUNK_DEFAULT */
	void (*event)(void *ctx, const struct push_event *ev);
	void *ctx;
};

struct push_result {
	char ref[OCI_REF_STR_MAX]; /* destination, canonical */
	int result;		   /* 0 or ERR_* */
	struct err err;
	struct oci_digest digest;
	size_t manifests; /* manifests PUT */
	size_t blobs;	  /* blobs the item needs */
	size_t blobs_uploaded, blobs_mounted, blobs_existing;
	uint64_t bytes_uploaded;
};

/* results has n entries. 0 when all succeeded, else ERR_FAIL. */
int push_run(const struct store *s, struct reg_pool *pool,
	     const struct push_item *items, size_t n,
	     const struct push_options *o, struct push_result *results);

/* The destination repository of store repository `repo` under
 * HOST[/PREFIX] (for push --all): "HOST/PREFIX/<repo>" where the source
 * host's ':' becomes '-' and any character the distribution grammar
 * refuses becomes '-' ("127.0.0.1:5000/e2e/x" ->
 * "127.0.0.1-5000/e2e/x"). ERR_INVALID when the result is not a valid
 * name. */
int push_map_repo(struct oci_ref *out, const char *to, const char *repo,
		  struct err *err);

#endif
