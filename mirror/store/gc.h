/* Garbage collection of the store.
 *
 * Mark: in every repository, from every tag: the tagged manifest; for an
 * index, its children that are stored; for every manifest, its config and
 * layers; and the referrers (recursively) of every kept manifest. Records
 * younger than the grace period are roots too, so a push in progress (a
 * blob uploaded, its manifest not yet) survives.
 *
 * Sweep: per repository, the _manifests, _blobs and _referrers records
 * that nothing kept reaches; then every file in blobs/ that no kept record
 * references, unless modified within the grace period; then the backend's
 * leftovers older than the grace period (its sweep: the filesystem's
 * files in tmp/, abandoned writes; S3's abandoned multipart uploads and
 * upload sessions). Records go before blob files, so a crash leaves at
 * worst a blob the next run removes.
 *
 * Safe by refusal: when a kept manifest cannot be read or parsed, or a
 * directory cannot be listed, gc cannot tell what that content needs, so
 * it warns and deletes no blob files at all (stats.blob_sweep_skipped);
 * the records of a repository with an unreadable tag or manifest are left
 * as they are. Every digest taken from a file's content or name is parsed
 * (oci_manifest_parse, oci_digest_parse) before it becomes a path; index
 * and referrer nesting is bounded by GC_DEPTH_MAX.
 *
 * gc works on any backend through its operations (backend.h): the
 * records by repository, and walk (keys with sizes and mtimes), remove
 * and sweep over the store's keys; each object is listed once.
 *
 * The caller holds the store's writer lock (store_lock). `serve` may run
 * meanwhile: a blob it writes, or a record it adds, is younger than the
 * grace period. */
#ifndef MIRROR_STORE_GC_H
#define MIRROR_STORE_GC_H

#include <stddef.h>
#include <stdint.h>

#include "mirror/store/store.h"
#include "oci/err.h"

#define GC_GRACE_DEFAULT 600 /* seconds */
#define GC_DEPTH_MAX 16	     /* index / referrer nesting followed */

enum gc_item_kind {
	GC_ITEM_BLOB = 1,    /* a file in blobs/ (layer, config, manifest) */
	GC_ITEM_MANIFEST,    /* a repository's _manifests record */
	GC_ITEM_BLOB_RECORD, /* a repository's _blobs record */
	GC_ITEM_REFERRER,    /* a repository's _referrers record */
	GC_ITEM_TMP,	     /* an abandoned file in tmp/ */
	GC_ITEM_LEFTOVER,    /* another leftover of the backend (S3: an
				abandoned multipart upload, a stale upload
				session); path says what it is */
};

/* One removed (or, with dry_run, removable) item. Strings are valid only
 * during the callback. */
struct gc_item {
	enum gc_item_kind kind;
	const char *repo;    /* records; NULL for blobs, tmp files and
				leftovers */
	const char *digest;  /* blob, manifest or blob record; the referrer's
				for a referrer record; NULL for tmp files and
				leftovers */
	const char *subject; /* referrer records: the subject's digest */
	const char *path;    /* the key, relative to the store root
				("blobs/sha256/<hex>", "tmp/NAME"); for a
				leftover, the backend's description */
	int64_t size;	     /* bytes freed (blobs, tmp files, leftovers); 0
				for records */
};

struct gc_options {
	int dry_run;	       /* report only; nothing is changed */
	int64_t grace_seconds; /* files modified more recently are kept */
	void (*removed)(void *ctx, const struct gc_item *it); /* may be NULL */
	void (*warn)(void *ctx, const char *msg);	      /* may be NULL */
	void *ctx;
};

struct gc_stats {
	size_t blobs;	     /* files removed from blobs/ */
	uint64_t blob_bytes; /* their size */
	size_t manifests;    /* _manifests records removed */
	size_t blob_records; /* _blobs records removed */
	size_t referrers;    /* _referrers records removed */
	size_t tmp_files;    /* files removed from tmp/ */
	uint64_t tmp_bytes;
	size_t leftovers;	 /* other leftovers of the backend removed */
	uint64_t leftover_bytes; /* their size, where known */
	size_t blobs_kept;	 /* files in blobs/ still referenced */
	size_t young_kept;	 /* unreferenced, but within the grace period */
	size_t unreadable;	 /* kept manifests that could not be read */
	size_t warnings;
	size_t errors;		/* removals that failed (see warnings) */
	int blob_sweep_skipped; /* no blob file was removed, see above */
};

/* dry_run 0, grace GC_GRACE_DEFAULT, no callbacks. */
void gc_options_init(struct gc_options *o);

/* Collect garbage in s; *out is filled even on failure. Returns 0 when the
 * run completed (individual problems are counted in out->warnings and
 * out->errors), or a negative code when it could not run at all. */
int gc_run(struct gc_stats *out, struct store *s, const struct gc_options *o,
	   struct err *err);

#endif
