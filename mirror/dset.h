/* Internal to mirror/: a set of strings (digests) for the bundle code, as
 * a sorted array. Adding is O(1) and marks the set unsorted; the first
 * lookup after it sorts and drops duplicates. A zeroed struct is an empty
 * set; dset_release frees it and leaves it empty. */
#ifndef MIRROR_DSET_H
#define MIRROR_DSET_H

#include <stddef.h>

#include "oci/err.h"

struct dset {
	char **v; /* v[0..n): sorted and unique once `sorted` */
	size_t n, cap;
	int sorted;
};

/* Add a copy of s. Out of memory is ERR_FAIL (err may be NULL). */
int dset_add(struct dset *d, const char *s, struct err *err);
/* Sort and drop duplicates (done by dset_has when needed). */
void dset_sort(struct dset *d);
int dset_has(struct dset *d, const char *s);
void dset_release(struct dset *d);

#endif
