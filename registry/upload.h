/* Pushing to a remote registry (distribution-spec push): blob existence
 * checks, cross-repository mounts, monolithic and chunked blob uploads,
 * manifest PUTs. Every request goes through the client's auth (push scope
 * "repository:NAME:pull,push") and retries; a refused push is
 * ERR_UNAUTHORIZED with the registry's answer in the message. */
#ifndef REGISTRY_UPLOAD_H
#define REGISTRY_UPLOAD_H

#include <stddef.h>
#include <stdint.h>

#include "oci/digest.h"
#include "oci/err.h"
#include "registry/client.h"

#define REG_UPLOAD_CHUNK_DEFAULT (16u * 1024 * 1024)

/* HEAD /v2/<repo>/blobs/<digest>: 1 when present (*size_out set when not
 * NULL), 0 when absent, or a negative ERR_*. */
int reg_client_blob_exists(struct reg_client *c, int64_t *size_out,
			   const char *repo, const struct oci_digest *digest,
			   struct err *err);

enum reg_upload_how {
	REG_UPLOAD_MONOLITHIC = 1, /* POST, then one PUT with the bytes */
	REG_UPLOAD_CHUNKED,	   /* POST, PATCH per chunk, PUT ?digest= */
	REG_UPLOAD_MOUNTED,	   /* POST ?mount=&from= answered 201 */
};

/* Upload `size` bytes read from fd (from offset 0, with pread; fd is not
 * moved or closed) as blob digest into repo. When mount_from names another
 * repository of the same registry a mount is tried first; when the
 * registry refuses it, the upload session it opened is used instead.
 * Blobs larger than chunk (0: REG_UPLOAD_CHUNK_DEFAULT) go in PATCH
 * chunks of that size. *how_out says what happened. */
int reg_client_upload_blob(struct reg_client *c, enum reg_upload_how *how_out,
			   int *patches_out, const char *repo,
			   const struct oci_digest *digest, int64_t size,
			   int fd, const char *mount_from, size_t chunk,
			   struct err *err);

/* PUT /v2/<repo>/manifests/<ref> with the given media type. *subject_out
 * (when not NULL) is 1 when the registry answered with OCI-Subject (it
 * keeps the referrers index itself). */
int reg_client_put_manifest(struct reg_client *c, int *subject_out,
			    const char *repo, const char *ref,
			    const char *media_type, const char *body,
			    size_t len, struct err *err);

/* --- the same as jobs on the client's engine (registry/engine.h) ---
 * Each queues its first request and returns; the callback runs from
 * reg_engine_run when the last answer is in, with the same results and
 * messages as the blocking call above (what it is given is valid during
 * the call). Submitting fails only for out of memory (ERR_FAIL; the
 * callback is then never called). Strings and the manifest body are
 * copied; fd must stay open until the callback. */

/* rc: 1 present (size set, else -1), 0 absent, or a negative ERR_*. Not a
 * bulk job. */
typedef void (*reg_exists_cb)(void *ctx, int rc, int64_t size,
			      const struct err *err);
int reg_client_blob_exists_async(struct reg_client *c, const char *repo,
				 const struct oci_digest *digest,
				 reg_exists_cb cb, void *ctx, struct err *err);

/* The chain of reg_client_upload_blob: the mount POST (when mount_from)
 * or the session POST, then one PUT, or a PATCH per chunk and the PUT,
 * each request a bulk job. how and patches are set when rc is 0. */
typedef void (*reg_upload_cb)(void *ctx, int rc, enum reg_upload_how how,
			      int patches, const struct err *err);
int reg_client_upload_blob_async(struct reg_client *c, const char *repo,
				 const struct oci_digest *digest, int64_t size,
				 int fd, const char *mount_from, size_t chunk,
				 reg_upload_cb cb, void *ctx, struct err *err);

/* subject: the answer had OCI-Subject (when rc is 0). */
typedef void (*reg_put_cb)(void *ctx, int rc, int subject,
			   const struct err *err);
int reg_client_put_manifest_async(struct reg_client *c, const char *repo,
				  const char *ref, const char *media_type,
				  const char *body, size_t len, reg_put_cb cb,
				  void *ctx, struct err *err);

#endif
