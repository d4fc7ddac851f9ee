/* Air-gap bundles: a tar stream holding a standard OCI image layout
 * (oci-layout, index.json, blobs/<alg>/<hex>) plus ocimirror-bundle.json,
 * zstd-compressed (a libzstd stream on all cores with bounded memory)
 * unless the file name ends in ".tar".
 *
 * index.json lists every exported tag with org.opencontainers.image.ref.name
 * set to its full reference ("docker.io/library/nginx:1.25"), and every
 * exported referrer untagged, with io.ocimirror.repository naming its
 * repository. Everything streams: blobs go from the store into the archive
 * and from the archive into the store (verified while written); memory does
 * not grow with bundle size.
 *
 * An inventory is what a store holds ({"blobs": [...], "tags": {...}}); an
 * export against one (since) leaves out the blobs it lists. */
#ifndef MIRROR_BUNDLE_H
#define MIRROR_BUNDLE_H

#include <stdint.h>

#include "mirror/store/store.h"
#include "oci/err.h"

struct bundle_export_options {
	const char *const *refs; /* "repo:tag" in the store; NULL with all */
	size_t n_refs;
	int all;
	const char *since; /* inventory file, or NULL */
	uint64_t split;	   /* bytes per part; 0: one file */
	int level;	   /* zstd level; 0: default (3) */
	int compress;	   /* -1: by file name, 0: plain tar, 1: zstd */
};

struct bundle_stats {
	size_t refs, blobs, blobs_skipped, parts;
	uint64_t bytes; /* content bytes written or imported */
};

int bundle_export(struct store *s, const char *path,
		  const struct bundle_export_options *o,
		  struct bundle_stats *stats, struct err *err);

/* Import one bundle (several parts in order when n > 1). Every blob is
 * verified while written; tags move only when everything they need is in
 * the store, and none moves when any reference is incomplete (the error
 * lists the missing digests). The caller holds the writer lock. */
int bundle_import(struct store *s, const char *const *paths, size_t n,
		  struct bundle_stats *stats, struct err *err);

/* Write the inventory of s to path (atomically). */
int bundle_inventory(const struct store *s, const char *path,
		     struct bundle_stats *stats, struct err *err);

#endif
