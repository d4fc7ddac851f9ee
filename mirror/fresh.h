/* ocimirror fresh: is this tag complete and current here?
 *
 * The questions sync and app pull both ask before they fetch anything: does
 * the store already hold a manifest completely (every selected child,
 * config and layer linked into the repository), does a tag already point
 * at it, and which digest does a tag have upstream. Reading the store never
 * changes it; only fresh_head_tag and fresh_head_tag_async talk to a
 * registry. Shared by
 * mirror/sync and mirror/margo, so that neither needs the other for it. */
#ifndef MIRROR_FRESH_H
#define MIRROR_FRESH_H

#include <stddef.h>

#include "mirror/store/store.h"
#include "oci/digest.h"
#include "oci/err.h"
#include "oci/platform.h"
#include "registry/client.h"

/* 1 when repo holds manifest d completely for these platforms (NULL / 0:
 * all): the manifest, the selected children of an index, every config and
 * layer. 0 for anything missing or unreadable (a store error reads as
 * "not complete": the caller then fetches, which reports the real error).
 * Reads only the store. */
int fresh_manifest_complete(const struct store *s, const char *repo,
			    const struct oci_digest *d,
			    const struct oci_platform *platforms, size_t n);

/* 1 when repo:tag already points at d and holds it complete (as above). */
int fresh_tag_current(const struct store *s, const char *repo, const char *tag,
		      const struct oci_digest *d,
		      const struct oci_platform *platforms, size_t n);

/* The digest tag has upstream, into *out: one HEAD (a GET when the
 * registry sends no Docker-Content-Digest). 0, or the client's error code
 * with err filled by the client. */
int fresh_head_tag(struct oci_digest *out, struct reg_client *c,
		   const char *path, const char *tag, struct err *err);

/* The same answer as a job on the client's engine (registry/engine.h): the
 * HEAD, and only when it carries no Docker-Content-Digest, the GET whose
 * body is hashed. cb runs from reg_engine_run with 0 and the digest, or
 * the client's error code and message (d and err valid during the call).
 * path and tag are copied. Submitting fails only for out of memory
 * (ERR_FAIL naming the tag; cb is then never called). */
typedef void (*fresh_head_cb)(void *ctx, int rc, const struct oci_digest *d,
			      const struct err *err);
int fresh_head_tag_async(struct reg_client *c, const char *path,
			 const char *tag, fresh_head_cb cb, void *ctx,
			 struct err *err);

#endif
