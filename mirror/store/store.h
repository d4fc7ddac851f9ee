/* The content-addressed store: blobs, manifests, tags, referrers, the
 * streaming writer and the writer lock. Commands reach the store through
 * this header alone; the work is done by a backend behind a table of
 * operations (backend.h), today the filesystem (fs.c), laid out as:
 *
 *   STORE/blobs/sha256/<hex>     every blob and manifest, exactly its bytes
 *   STORE/repositories/<repo>/_tags/<tag>
 *        {"digest":..., "mediaType":..., "size":N}: one small file per tag
 *   STORE/repositories/<repo>/_manifests/sha256/<hex>
 *        {"mediaType":..., "size":N}: the manifests this repository holds
 *   STORE/repositories/<repo>/_blobs/sha256/<hex>
 *        empty: the blobs this repository holds (served, mounted from)
 *   STORE/repositories/<repo>/_referrers/sha256/<subject hex>/sha256-<hex>
 *        the descriptor (JSON) of a manifest whose subject is <subject>
 *   STORE/tmp/                   in-flight writes and an import's
 *                                staged blobs, same filesystem
 *   STORE/lock                   flock()ed by the one writer
 *
 * <repo> is the fully qualified name ("docker.io/library/nginx"); every
 * name, tag and digest is validated before it becomes a path. Every write
 * goes to tmp/, is hashed while written, fsync'd, checked against its
 * expected digest and size, then renamed into place: readers see the old
 * state or the new one, never a partial file. Tags are written last by the
 * callers, after everything they reference is stored. */
#ifndef MIRROR_STORE_STORE_H
#define MIRROR_STORE_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "oci/digest.h"
#include "oci/err.h"

struct store_ops; /* the backend's table: mirror/store/backend.h */
struct store_writer;

/* Where the store is (for the filesystem backend, its directory), and
 * the backend behind it. Owned by the caller, filled by store_open. */
struct store {
	char *root;
	const struct store_ops *ops;
	void *be; /* the backend's state */
};

/* Open (and with create, make) the store at root: a directory, or an
 * object store bucket "s3://BUCKET/PREFIX?endpoint=...&region=..."
 * (mirror/store/s3client.h; with create the bucket is made when
 * missing). ERR_NOT_FOUND when it does not exist and create is 0,
 * ERR_INVALID for a malformed s3:// URL or missing credentials. After a failure
 * s holds nothing and store_close is a no-op. Every function below may be
 * called from several threads on one open store; writes that need it take
 * store_lock first. */
int store_open(struct store *s, const char *root, int create, struct err *err);
void store_close(struct store *s);

/* 1 when blobs live in a remote object store (reading a blob with
 * store_blob_open copies it to a local temp file first; serve streams
 * large blobs with store_blob_read_at instead). */
int store_is_remote(const struct store *s);
/* 1 when several processes may serve and write this store at once (S3):
 * upload sessions then live in the store (store_writer_share). */
int store_is_shared(const struct store *s);

/* Up to len bytes of blob d at off into buf (*got_out fewer only at the
 * end). ERR_NOT_FOUND when absent. */
int store_blob_read_at(size_t *got_out, const struct store *s,
		       const struct oci_digest *d, uint64_t off, void *buf,
		       size_t len, struct err *err);
/* A URL from which blob d may be fetched directly for ttl seconds (S3:
 * presigned). ERR_UNSUPPORTED when the backend has none. Caller frees. */
int store_blob_url(char **out, const struct store *s,
		   const struct oci_digest *d, unsigned ttl, struct err *err);

/* Upload sessions in a shared store (store_is_shared; elsewhere these
 * return ERR_UNSUPPORTED and serve keeps sessions in memory as before).
 * store_writer_share saves what w (an upload writer) received since its
 * last share as session id of repo (id: [A-Za-z0-9-], at most 64), so
 * that another replica may continue it; ERR_CONFLICT when the session
 * moved on elsewhere meanwhile (join first). store_upload_join brings *w
 * up to the session's bytes in the store, reading what it lacks
 * (hashed as it arrives); *w NULL: a new upload writer holding all of
 * them. ERR_NOT_FOUND when the store has no session id for repo.
 * store_upload_forget removes the session (after commit or cancel). */
int store_writer_share(struct store_writer *w, const char *id, const char *repo,
		       struct err *err);
int store_upload_join(struct store_writer **w, struct store *s, const char *id,
		      const char *repo, struct err *err);
void store_upload_forget(struct store *s, const char *id);
/* The offset (bytes so far) of the shared session id of repo, without
 * reading them. ERR_NOT_FOUND when the store has no session id for repo,
 * ERR_UNSUPPORTED on a store that is not shared. */
int store_upload_offset(uint64_t *offset_out, struct store *s, const char *id,
			const char *repo, struct err *err);

/* Take the writer lock. On S3 a lease object, renewed by a thread while
 * held; a writer that dies leaves it to expire (s3 lease=SECONDS).
 * wait=0: ERR_CONFLICT at once when held. */
int store_lock(struct store *s, int wait, struct err *err);
void store_unlock(struct store *s);

/* 1 if present (size_out set), 0 if not (or when the store cannot
 * tell: a remote store's failed look; callers for which that matters use
 * store_blob_stat). */
int store_blob_exists(int64_t *size_out, const struct store *s,
		      const struct oci_digest *d);
/* 1 if present (size_out set), 0 if not, a negative ERR_* (err filled)
 * when the store cannot tell (a remote store's HEAD failed). */
int store_blob_stat(int64_t *size_out, const struct store *s,
		    const struct oci_digest *d, struct err *err);

/* Streaming writer for one blob with a known digest. */
struct store_writer;
/* size < 0: unknown. When the blob is already stored, *out is still
 * returned and commit is a cheap no-op after verification of the stream. */
int store_writer_open(struct store_writer **out, struct store *s,
		      const struct oci_digest *expect, int64_t size,
		      struct err *err);
/* ERR_DIGEST when more bytes arrive than the expected size. ERR_FAIL
 * when the file takes not all of them (disk full, EFBIG): the bytes of
 * this call are undone, so offset, file and hash stay as before it. */
int store_writer_write(struct store_writer *w, const void *p, size_t n,
		       struct err *err);
int store_writer_reset(struct store_writer *w, struct err *err);
uint64_t store_writer_offset(const struct store_writer *w);
/* A new read-only descriptor of the writer's temp file (the caller closes
 * it), for readers of the bytes written so far (pread; a fill on demand
 * serves a blob while it arrives). It stays readable after commit or
 * free. -1 (errno set) when the writer holds no descriptor (parked,
 * staged) or none can be made. */
int store_writer_read_fd(const struct store_writer *w);
/* Verify size and digest, fsync, rename into place. On ERR_DIGEST the
 * writer is reset (empty) and may be written again; on ERR_FAIL (fsync,
 * rename) it keeps its bytes and the digest verify computed, so commit may
 * be retried (or more written); on success write refuses and only
 * commit_as of the same digest (a no-op) and free remain. */
int store_writer_commit(struct store_writer *w, struct err *err);
/* A writer for an upload whose digest is known only at the end (pushes):
 * hashed as sha256 while written; store_writer_commit_as names the digest
 * (another algorithm re-reads the file). On a staged or committed writer
 * commit_as publishes (or, committed, does nothing) only for the digest
 * it was verified as; another digest is ERR_DIGEST. */
int store_writer_open_upload(struct store_writer **out, struct store *s,
			     struct err *err);
int store_writer_commit_as(struct store_writer *w,
			   const struct oci_digest *digest, struct err *err);

/* Close the writer's temp file while no data flows (an idle upload
 * session), keeping its content, offset and hash state; a parked writer
 * holds no descriptor and no thread. store_writer_resume reopens it (a
 * no-op when not parked); write and commit need a resumed writer, free
 * and offset do not. ERR_FAIL naming the temp file when the writer is
 * failed (its hash could not catch up, or a failed write could not be
 * undone); the file is closed all the same and the failure is sticky:
 * later park, resume, write and commit return ERR_FAIL (the upload is
 * lost, free it). */
int store_writer_park(struct store_writer *w, struct err *err);
int store_writer_resume(struct store_writer *w, struct err *err);

/* Staging, for a writer that must check many blobs before it may publish
 * any (import): store_writer_stage verifies size and digest (ERR_DIGEST
 * resets the writer, as commit does), fsyncs, and leaves the file in
 * STORE/tmp/ with its descriptor closed, so thousands of staged blobs
 * hold no descriptors. The store does not serve it: blobs/ is untouched,
 * so a push serve takes meanwhile (serve writes without the store lock)
 * is never undone. store_writer_staged_read reads a staged blob back (at
 * most max bytes, ERR_TOO_LARGE beyond; caller frees *out, NUL-ended).
 * store_writer_publish renames it into blobs/ (over a copy serve may
 * have stored meanwhile: the same bytes); store_writer_commit on a staged
 * writer publishes. store_writer_free on a writer staged but not
 * published removes its temp file. gc removes old temp files only under
 * the store lock (gc_run's callers take it), and the importer holds that
 * lock from before its first staged blob until every one is published
 * or freed, so gc never removes the temp file of a running import.
 * Staging resumes a parked writer first; park and resume of a staged
 * writer are no-ops. */
int store_writer_stage(struct store_writer *w, struct err *err);
int store_writer_staged_read(char **out, size_t *len_out,
			     const struct store_writer *w, size_t max,
			     struct err *err);
int store_writer_publish(struct store_writer *w, struct err *err);

/* Free; removes the temp file unless committed (or published). */
void store_writer_free(struct store_writer *w);

/* Whole buffer (manifests): verify against expect (ERR_DIGEST), write
 * atomically; a no-op (after the check) when already stored. */
int store_blob_put(struct store *s, const struct oci_digest *expect,
		   const void *p, size_t n, struct err *err);
/* Read a whole blob of at most max bytes. Caller frees *out. */
int store_blob_read(char **out, size_t *len_out, const struct store *s,
		    const struct oci_digest *d, size_t max, struct err *err);

/* A tag or manifest record. */
struct store_ref {
	struct oci_digest digest;
	char media_type[256];
	int64_t size;
};

/* Record that repo holds manifest d (its bytes must be stored). */
int store_manifest_link(struct store *s, const char *repo,
			const struct store_ref *m, struct err *err);
int store_manifest_get(struct store_ref *out, const struct store *s,
		       const char *repo, const struct oci_digest *d,
		       struct err *err);
/* Point repo:tag at m (which must be linked). Atomic. */
int store_tag_set(struct store *s, const char *repo, const char *tag,
		  const struct store_ref *m, struct err *err);
/* ERR_NOT_FOUND when absent. */
int store_tag_get(struct store_ref *out, const struct store *s,
		  const char *repo, const char *tag, struct err *err);
int store_tag_delete(struct store *s, const char *repo, const char *tag,
		     struct err *err);

/* Record referrer (a stored manifest in repo) of subject. */
int store_referrer_add(struct store *s, const char *repo,
		       const struct oci_digest *subject,
		       const struct oci_digest *referrer, const char *desc_json,
		       struct err *err);

/* Open a stored blob for reading; *fd_out (the caller closes it) and
 * *size_out set. ERR_NOT_FOUND when absent. */
int store_blob_open(int *fd_out, int64_t *size_out, const struct store *s,
		    const struct oci_digest *d, struct err *err);
/* Each stored blob: its digest and size, sha256 then sha512, sorted.
 * Files whose name is not a digest are left out (verify reports them).
 * cb returns nonzero to stop. ERR_FAIL naming a directory that cannot be
 * listed, after the rest is visited. */
typedef int (*store_blob_fn)(void *ctx, const struct oci_digest *d,
			     int64_t size);
int store_blobs_each(const struct store *s, store_blob_fn cb, void *ctx,
		     struct err *err);
/* The bytes that may still be written into the store's blobs (for the
 * filesystem, what statvfs gives an unprivileged writer). ERR_UNSUPPORTED
 * when the backend cannot tell; ERR_FAIL naming the store otherwise. */
int store_space_free(uint64_t *out, const struct store *s, struct err *err);
/* Remove a blob from the store (every repository shares it). */
int store_blob_delete(struct store *s, const struct oci_digest *d,
		      struct err *err);
/* Forget that repo holds manifest d, and every tag of repo pointing at it. */
int store_manifest_unlink(struct store *s, const char *repo,
			  const struct oci_digest *d, struct err *err);
/* Per-repository blob records: a blob is served from, mounted from and
 * deleted in a repository only when that repository holds it. */
int store_blob_link(struct store *s, const char *repo,
		    const struct oci_digest *d, struct err *err);
int store_blob_linked(const struct store *s, const char *repo,
		      const struct oci_digest *d);
int store_blob_unlink(struct store *s, const char *repo,
		      const struct oci_digest *d, struct err *err);

/* 1 when the repository has any tag or manifest. */
int store_repo_exists(const struct store *s, const char *repo);

/* Each referrer descriptor (JSON text, valid during the call) recorded
 * for subject in repo whose manifest repo still holds; cb returns nonzero
 * to stop. ERR_INVALID for a bad name; ERR_FAIL when the list or one of
 * its records cannot be read (no descriptor left, an I/O error): never an
 * empty list for a failure. Records gone meanwhile, or too large, are
 * left out. */
typedef int (*store_referrer_fn)(void *ctx, const char *desc_json);
int store_referrers_list(const struct store *s, const char *repo,
			 const struct oci_digest *subject, store_referrer_fn cb,
			 void *ctx, struct err *err);

/* Split name "REPO[:TAG]" as the store names things (the tag follows the
 * last ':' after the last '/'). repo_out needs OCI_REPO_MAX bytes, tag_out
 * OCI_TAG_MAX + 1 and is "" when absent. ERR_INVALID, naming name, when
 * the repository or a given tag is invalid. */
int store_name_split(char *repo_out, char *tag_out, const char *name,
		     struct err *err);

/* 1 when the store keeps repositories of this name: the reference
 * grammar's oci_repo_name_valid ("host/path", or a host-less path such as
 * "team/app", pushed to the server without a host). */
int store_repo_valid(const char *repo);

#endif
