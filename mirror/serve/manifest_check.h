/* What a pushed manifest must hold to be stored: the references it
 * names are in the store, with the sizes it names.
 *
 * An image manifest's config and layers must be held by the repository
 * (store_blob_linked) and stored with exactly the size of their
 * descriptor; a non-distributable layer (oci_mediatype_is_nondistributable)
 * that the repository does not hold is accepted without its blob, as the
 * distribution spec allows: its content lives at its urls. An index's
 * children must be manifests the repository holds, with their sizes. A
 * subject need not be stored (referrers may come first); when it is, its
 * size must agree too. */
#ifndef MIRROR_SERVE_MANIFEST_CHECK_H
#define MIRROR_SERVE_MANIFEST_CHECK_H

#include "mirror/store/store.h"
#include "oci/err.h"
#include "oci/manifest.h"

/* 0 when m may be stored in repo. ERR_NOT_FOUND (MANIFEST_BLOB_UNKNOWN)
 * naming the first missing digest; ERR_INVALID (MANIFEST_INVALID) naming
 * the digest, the descriptor's size and the stored one. */
int serve_manifest_check(const struct store *s, const char *repo,
			 const struct oci_manifest *m, struct err *err);

#endif
