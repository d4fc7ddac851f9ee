/* Air-gap bundles: a tar stream holding a standard OCI image layout
 * (oci-layout, index.json, blobs/<alg>/<hex>) plus ocimirror-bundle.json,
 * zstd-compressed (a libzstd stream on all cores with bounded memory)
 * unless the file name ends in ".tar". Written by mirror/bundle_export.c,
 * read by mirror/bundle_import.c; the inventory an export --since reads is
 * mirror/inventory.h.
 *
 * Entry order: oci-layout, index.json, ocimirror-bundle.json, then the
 * blobs. The description's "contents" lists every blob the bundle holds
 * with its size, so an import knows them before the first blob. Bundles
 * written before the list (index.json last, no "contents") still import;
 * importers from before it read the new order too (only order and a key
 * are new).
 *
 * index.json lists every exported tag with org.opencontainers.image.ref.name
 * set to its full reference ("docker.io/library/nginx:1.25"), and every
 * exported referrer untagged, with io.ocimirror.repository naming its
 * repository. The description lists, per reference, every manifest and
 * blob it needs. Everything streams: blobs go from the store into the
 * archive and from the archive into the store (verified while written);
 * memory does not grow with bundle size.
 *
 * Both directions return 0 or a negative ERR_* with err naming the
 * reference, entry or file; *stats is filled either way (zeroed first). */
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

/* Write the references o names (every tag with o->all), with every
 * manifest, blob and referrer they need, to path; with o->split to
 * path.part-0001, path.part-0002, ... of at most o->split bytes. With
 * o->since the blobs that inventory lists are left out. Every blob is
 * hashed as it is read from the store: one that does not match its
 * digest or listed size is ERR_DIGEST naming it (and `ocimirror verify`).
 * Every file is written under a temp name in its directory and all are
 * renamed once the whole bundle is written; a failed export leaves none.
 * A reference the store does not hold whole is ERR_NOT_FOUND; no tag at
 * all is ERR_NOT_FOUND. */
int bundle_export(struct store *s, struct bundle_stats *stats, const char *path,
		  const struct bundle_export_options *o, struct err *err);

/* Import one bundle (several parts in order when n > 1). Every entry's
 * header is checked before its data is read: names of the OCI layout
 * only, regular files (no links, devices, setuid bits), each small file
 * once, within its cap; with the description's list, a blob it does not
 * list, or lists with another size, is refused before it is written, no
 * more than the listed size is written, and the new blobs' bytes are
 * checked against the store's free space before the first (ERR_TOO_LARGE;
 * without the list each blob against what is left). A tar that ends at an
 * entry boundary without its end marker is truncated (ERR_INVALID). An
 * index.json that does not parse is ERR_INVALID with the parse error.
 * Every blob is verified while written. Tags move
 * only when everything they need is in the store with the sizes that
 * index.json and the manifests give, and none moves when any reference
 * is incomplete (ERR_NOT_FOUND listing the missing digests), or when a
 * planned manifest does not parse (ERR_INVALID). Listed sizes whose sum
 * overflows 64 bits are ERR_TOO_LARGE before the first blob. New blobs
 * are staged (store_writer_stage: verified, in STORE/tmp/, not served)
 * and published into blobs/ only after every check passed, then linked,
 * then the tags move: a bundle refused before that removes only its own
 * temp files and never touches blobs/, so a push serve takes meanwhile
 * (without the lock) is never undone. When linking fails after the
 * publish (disk full), the published blobs stay, unlinked, for gc. The
 * caller holds the writer lock from before the call until it returns
 * (gc, which sweeps old temp files, takes it too). */
int bundle_import(struct store *s, struct bundle_stats *stats,
		  const char *const *paths, size_t n, struct err *err);

#endif
