/* Pushing from the store into another registry (a site's Harbor or
 * distribution).
 *
 * For each item: the store manifest or index named by (repo, tag or digest)
 * goes to (host, repo, tag). Every request is a job on the clients' engine
 * (registry/engine.h), and the items go together (up to a bound on the
 * manifests held at once): every blob of every item is checked and
 * uploaded at once; a manifest is PUT by digest as soon as its config and
 * layers are in, an index as soon as every child the store holds
 * (children of platforms never pulled are left out) is PUT; the referrers
 * the store recorded for a pushed manifest after it (when the registry has
 * no referrers API, the "sha256-<hex>" fallback tag index is updated after
 * them), and the tag last, once everything of the item succeeded.
 *
 * Blobs: HEAD first (present: skipped); each blob goes once per
 * destination repository however many items need it (the others count it
 * as present); one that another repository of the same registry has, or
 * was asked for earlier in the run, is mounted from there (POST
 * ?mount=&from=); otherwise uploaded from the store file, in PATCH chunks
 * when larger than the chunk size. Every size is checked against its
 * descriptor first. A failed blob fails the items that need it, and only
 * those. The store is only read: no lock is needed. */
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

/* Passed to push_options.event; every string is valid during the call
 * only. */
struct push_event {
	enum push_event_kind kind;
	const char *ref;
	const char *digest;
	const char *how;
	int64_t bytes;
	int result;
	const char *message;
};

/* One push. The strings are the caller's (a push_plan's) and must outlive
 * push_run. */
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

/* results has n entries, each written (also when the run cannot start).
 * 0 when all succeeded, else ERR_FAIL (see results). */
int push_run(struct push_result *results, const struct store *s,
	     struct reg_pool *pool, const struct push_item *items, size_t n,
	     const struct push_options *o);

/* What to push: items and the strings they point at, owned by the plan.
 * Zero it (or {0}) before the first push_plan_*; push_plan_release frees
 * it. */
struct push_plan {
	struct push_item *items;
	size_t n;
	char **strs; /* owned: the items' src_repo / src_tag */
	size_t n_strs, cap, cap_strs;
};

/* push --all: every tag of the store, in walk_tags order, to
 * push_map_repo(to, repo) with the same tag. ERR_INVALID (the message
 * names the repository) when a store repository maps to no valid name;
 * store errors as walk_tags. */
int push_plan_all(struct push_plan *out, const struct store *s, const char *to,
		  struct err *err);

/* push SRC DST: the store reference src ("repo:tag" or "repo@digest")
 * to the remote reference dst. When dst names neither tag nor digest
 * after its last '/', the source's tag is used (so "push a:v1 host/b"
 * writes host/b:v1); a digest in dst is ignored (pushed by digest only
 * when no tag results). ERR_INVALID for a malformed reference. */
int push_plan_one(struct push_plan *out, const char *src, const char *dst,
		  struct err *err);

void push_plan_release(struct push_plan *p);

/* The destination repository of store repository `repo` under
 * HOST[/PREFIX] (for push --all): "HOST/PREFIX/<repo>" where the source
 * host's ':' becomes '-' and any character the distribution grammar
 * refuses becomes '-' ("127.0.0.1:5000/e2e/x" ->
 * "127.0.0.1-5000/e2e/x"). ERR_INVALID when the result is not a valid
 * name. */
int push_map_repo(struct oci_ref *out, const char *to, const char *repo,
		  struct err *err);

#endif
