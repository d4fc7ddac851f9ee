/* ocimirror fresh: is this tag complete and current here?
 *
 * The questions sync and app pull both ask before they fetch anything: does
 * the store already hold a manifest completely (every selected child,
 * config and layer linked into the repository), does a tag already point
 * at it, and which digest does a tag have upstream. Reading the store never
 * changes it; only fresh_head_tag talks to a registry. Shared by
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

#endif
