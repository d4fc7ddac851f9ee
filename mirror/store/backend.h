/* The table of operations behind struct store: what a backend (the
 * filesystem today, object storage later) implements. Private to
 * mirror/store: commands use store.h, which validates names and digests,
 * encodes records and hashes blobs, and calls these with checked input.
 *
 * Two namespaces. Blobs are keyed by digest and staged: a writer gets a
 * local temp file (fd plus an opaque token), and the backend places it
 * under its digest once verified, or later (a staged blob: the importer
 * verifies a whole bundle before it places any of it). A temp file is
 * never served; gc removes old ones only under the store lock, which
 * every writer that stages (import) holds until it places or discards.
 * Records are small texts keyed by a repository and a relative key of
 * '/'-separated names ("_tags/v1", "_manifests/sha256/<hex>"); put
 * replaces a record atomically, list gives the names one level under a
 * key.
 *
 * Every function fills err (which may be NULL) with a message naming the
 * thing, returns 0 or a negative ERR_* (ERR_NOT_FOUND when absent), and
 * is safe to call from several threads on one opened backend. */
#ifndef MIRROR_STORE_BACKEND_H
#define MIRROR_STORE_BACKEND_H

#include <stddef.h>
#include <stdint.h>

#include "mirror/store/store.h"

/* What a backend is (store_ops.flags). */
enum {
	/* blob_open copies the blob into a local temp file first: read large
	 * blobs with blob_read_at (serve streams them) */
	STORE_BE_REMOTE = 1,
	/* other processes (serve replicas, a sync writer elsewhere) use the
	 * same store at once: upload sessions are kept in it (upload_*) */
	STORE_BE_SHARED = 2,
};

/* One object of the store, by its key relative to the store's root
 * ("blobs/sha256/<hex>", "repositories/<repo>/_tags/v1", "tmp/XXXX");
 * mtime is its last modification (seconds since the epoch). */
typedef int (*store_walk_fn)(void *ctx, const char *key, int64_t size,
			     int64_t mtime);

struct store_ops {
	const char *name;
	unsigned flags; /* STORE_BE_* */
	/* state for the store at root (borrowed; outlives the state) */
	int (*open)(void **be_out, const char *root, int create,
		    struct err *err);
	void (*close)(void *be);
	/* the one writer: ERR_CONFLICT at once when held and !wait */
	int (*lock)(void *be, int wait, struct err *err);
	void (*unlock)(void *be);

	/* 1 when stored (*size_out set if not NULL), 0 when not, a negative
	 * ERR_* when the backend cannot tell (a remote store's failed look) */
	int (*blob_stat)(int64_t *size_out, void *be,
			 const struct oci_digest *d);
	int (*blob_open)(int *fd_out, int64_t *size_out, void *be,
			 const struct oci_digest *d, struct err *err);
	int (*blob_delete)(void *be, const struct oci_digest *d,
			   struct err *err);
	/* mark a blob in use now (gc's grace period); best effort */
	void (*blob_touch)(void *be, const struct oci_digest *d);
	int (*blobs_each)(void *be, store_blob_fn cb, void *ctx,
			  struct err *err);
	/* bytes an unprivileged writer may still add to blobs (statvfs
	 * f_bavail * f_frsize for the filesystem); may be NULL: unknown */
	int (*space_free)(uint64_t *out, void *be, struct err *err);
	/* a temp file to write a blob into; *token_out is freed by the
	 * caller after stage_place or stage_discard */
	int (*stage_open)(int *fd_out, char **token_out, void *be,
			  struct err *err);
	int (*stage_place)(void *be, const char *token,
			   const struct oci_digest *d, struct err *err);
	void (*stage_discard)(void *be, const char *token);
	/* the staged file of token again (read-write), after its descriptor
	 * was closed (a parked writer, or a staged blob read back:
	 * store_writer_stage); the caller closes it */
	int (*stage_reopen)(int *fd_out, void *be, const char *token,
			    struct err *err);

	int (*record_put)(void *be, const char *repo, const char *key,
			  const char *text, struct err *err);
	/* at most max bytes, ERR_TOO_LARGE beyond; caller frees *out */
	int (*record_get)(char **out, size_t *len_out, void *be,
			  const char *repo, const char *key, size_t max,
			  struct err *err);
	int (*record_delete)(void *be, const char *repo, const char *key,
			     struct err *err);
	/* 1 when key names a record or has records under it */
	int (*record_exists)(void *be, const char *repo, const char *key);
	/* sorted names one level under key, none starting with '.'; none
	 * when key is absent; free with fsutil_names_free */
	int (*record_list)(char ***out, size_t *n_out, void *be,
			   const char *repo, const char *key, struct err *err);
	/* every repository holding records (see walk.h) */
	int (*repos_each)(void *be, int (*cb)(void *ctx, const char *repo),
			  void *ctx, struct err *err);
	/* store-wide records (not a repository's): key is a relative path
	 * of checked names ("sync/last.json"); put replaces atomically */
	int (*state_put)(void *be, const char *key, const char *text,
			 struct err *err);
	int (*state_get)(char **out, size_t *len_out, void *be, const char *key,
			 size_t max, struct err *err);
	/* ERR_NOT_FOUND when absent */
	int (*state_delete)(void *be, const char *key, struct err *err);
	/* sorted names one level under key (a folder of state records), none
	 * starting with '.'; none when absent; free with fsutil_names_free */
	int (*state_list)(char ***out, size_t *n_out, void *be, const char *key,
			  struct err *err);

	/* Up to len bytes of blob d from offset off into buf; *got_out is
	 * fewer only at the end (0 at or past it). ERR_NOT_FOUND when
	 * absent. */
	int (*blob_read_at)(size_t *got_out, void *be,
			    const struct oci_digest *d, uint64_t off, void *buf,
			    size_t len, struct err *err);
	/* A URL a client may GET blob d from directly for ttl seconds (S3: a
	 * presigned URL); NULL op: the backend has none. Caller frees. */
	int (*blob_url)(char **out, void *be, const struct oci_digest *d,
			unsigned ttl, struct err *err);

	/* gc and verify, over keys relative to the store's root. walk visits
	 * every object under prefix ("blobs/", "repositories/", "tmp/"; ""
	 * for all), recursively, in no set order; cb returns nonzero to
	 * stop. An absent prefix has nothing under it. ERR_FAIL naming what
	 * could not be listed (after the rest was visited).
	 * Keys are '/'-separated names, none empty, "." or "..", no leading
	 * '/'; a prefix is "" or ends in '/'; anything else is ERR_INVALID.
	 * The filesystem follows no symbolic link, reports an entry that is
	 * not a regular file (a link, a device) with size -1 (verify
	 * quarantines it, gc leaves it), and goes at most REPO_DEPTH_MAX
	 * levels below prefix (ERR_INVALID "... levels; not visited"). */
	int (*walk)(void *be, const char *prefix, store_walk_fn cb, void *ctx,
		    struct err *err);
	/* ERR_NOT_FOUND when absent. On the filesystem a key naming an
	 * empty directory removes it (ERR_CONFLICT when not empty): gc's
	 * referrer subjects; a backend without directories has none. */
	int (*remove)(void *be, const char *key, struct err *err);
	/* move one object to another key (verify's quarantine/; the caller
	 * picks a key not taken) */
	int (*move)(void *be, const char *from, const char *to,
		    struct err *err);
	/* The backend's own leftovers not modified after cutoff (seconds
	 * since the epoch; mtime <= cutoff): the filesystem's tmp/ files,
	 * S3's abandoned multipart uploads and upload sessions. Each one is
	 * removed unless dry_run and then reported to cb (key: what it is,
	 * e.g. "tmp/abc" or "multipart blobs/sha256/<hex>"; size where
	 * known, else -1): gc counts what cb saw as removed, so cb is not
	 * called for one that could not be removed (the first failure is
	 * returned, after the rest). gc counts keys "tmp/..." as tmp files,
	 * any other as a leftover. Called by gc with the store lock held. */
	int (*sweep)(void *be, int64_t cutoff, int dry_run, store_walk_fn cb,
		     void *ctx, struct err *err);

	/* Upload sessions kept in a shared store (STORE_BE_SHARED; NULL ops
	 * otherwise). A session is id (a name of [A-Za-z0-9-], at most 64)
	 * for repo, with the bytes [0, offset) so far. upload_append adds the
	 * bytes [off, off + len) of fd (read with pread) and sets the
	 * session's offset to off + len: ERR_CONFLICT when the session's
	 * offset is not off (another replica wrote meanwhile). upload_info
	 * gives the session's offset and repo (repo_out: OCI_REPO_MAX bytes);
	 * ERR_NOT_FOUND for an unknown session. upload_read_at reads the
	 * session's bytes as blob_read_at does. upload_forget removes it. */
	int (*upload_append)(void *be, const char *id, const char *repo,
			     uint64_t off, int fd, uint64_t len,
			     struct err *err);
	int (*upload_info)(uint64_t *offset_out, char *repo_out, void *be,
			   const char *id, struct err *err);
	int (*upload_read_at)(size_t *got_out, void *be, const char *id,
			      uint64_t off, void *buf, size_t len,
			      struct err *err);
	int (*upload_forget)(void *be, const char *id, struct err *err);
};

/* The filesystem backend (fs.c): the layout described in store.h. */
extern const struct store_ops fs_store_ops;
/* The S3 backend (s3.c): root is an s3:// URL (s3client.h), the same
 * keys under the bucket's prefix; blobs staged in a local spool
 * directory ($OCIMIRROR_SPOOL, else $TMPDIR, else /var/tmp) and put
 * under their key only once verified; the writer lock is a lease object
 * ("lock"), taken with If-None-Match: *, renewed, expiring. */
extern const struct store_ops s3_store_ops;

#endif
