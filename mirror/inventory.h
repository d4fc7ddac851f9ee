/* The inventory file: what a store holds, written on the receiving side
 * of an air gap so that the sending side can export only what is missing
 * (`export --since`).
 *
 *   {"schema": "ocimirror-inventory/1", "tool": ..., "created": ISO time,
 *    "blobs": [digest, ...], "tags": {repo: {tag: digest}}}
 */
#ifndef MIRROR_INVENTORY_H
#define MIRROR_INVENTORY_H

#include <stddef.h>

#include "mirror/dset.h"
#include "mirror/store/store.h"
#include "oci/err.h"

/* Write the inventory of s to path, atomically (temp file and rename).
 * *blobs_out is the number of blobs listed. A failed write is ERR_FAIL
 * naming path, and leaves no file behind. */
int inventory_write(const struct store *s, size_t *blobs_out, const char *path,
		    struct err *err);

/* Add the blob digests of the inventory at path to out (then sorted);
 * *created_out (when not NULL) is its "created" stamp, caller-owned, NULL
 * when absent. A file that is not JSON, or has no "blobs" list of digests,
 * is ERR_INVALID naming path. */
int inventory_load(struct dset *out, char **created_out, const char *path,
		   struct err *err);

#endif
