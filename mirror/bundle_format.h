/* Internal to mirror/: the names a bundle is written and read with, shared
 * by bundle_export.c, bundle_import.c and inventory.c. */
#ifndef MIRROR_BUNDLE_FORMAT_H
#define MIRROR_BUNDLE_FORMAT_H

#include <stdint.h>
#include <stdio.h>
#include <time.h>

#include "mirror/store/store.h"
#include "oci/err.h"

#define BUNDLE_TOOL_VERSION "ocimirror 0.1.0"
/* the description beside the OCI layout */
#define BUNDLE_DESC_NAME "ocimirror-bundle.json"
/* the description's list of the blobs the bundle holds, written before
 * them: [{"digest": ..., "size": N}, ...] sorted by digest */
#define BUNDLE_CONTENTS_KEY "contents"
/* an untagged referrer's repository, on its index.json entry */
#define BUNDLE_ANN_REPO "io.ocimirror.repository"
/* read and write size of blob data */
#define BUNDLE_CHUNK (1024 * 1024)

/* "repo:tag" -> repo, tag (the tag follows the last ':' after the last
 * '/'); ERR_INVALID without a tag. repo holds OCI_REPO_MAX bytes, tag
 * OCI_TAG_MAX + 1. */
static inline int bundle_ref_split(const char *ref, char *repo, char *tag)
{
	return store_name_split(repo, tag, ref, NULL) || !tag[0] ? ERR_INVALID
								 : 0;
}

/* The space budget of an import: n_blobs new blobs of need bytes in all
 * into a store (named by where) with avail bytes free. 0 when they fit;
 * ERR_TOO_LARGE naming both figures when they do not. */
int bundle_space_check(uint64_t need, size_t n_blobs, uint64_t avail,
		       const char *where, struct err *err);

/* Now as "2026-01-02T03:04:05Z" in buf. */
static inline char *bundle_now_iso(char *buf, size_t cap)
{
	time_t t = time(NULL);
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(buf, cap, "%Y-%m-%dT%H:%M:%SZ", &tm);
	return buf;
}

#endif
