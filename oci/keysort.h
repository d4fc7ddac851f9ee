/* Finding equal keys by sorting, not hashing: an O(n log n) worst case
 * whatever the keys are (no hash an input can make collide), no
 * randomness, and the same result on every run.
 *
 *	struct oci_keysort *v = ...;	 one per key: its bytes and an id
 *	oci_keysort_sort(v, n);
 *	const struct oci_keysort *k = oci_keysort_find(v, n, "web", 3);
 *
 * A key is len bytes at key (compared whole, NULs included), or, when key
 * is NULL, an identity: equal only to another NULL key with the same len
 * (for things that have no bytes, such as a YAML node that is not a
 * scalar). The caller owns the array and the bytes; nothing allocates. */
#ifndef OCI_KEYSORT_H
#define OCI_KEYSORT_H

#include <stddef.h>

struct oci_keysort {
	const void *key; /* NULL: an identity, compared by len */
	size_t len;
	size_t id; /* the caller's: position, index; ties sort by it */
};

/* Sort v[0..n) by key, then id: equal keys are adjacent, the lowest id
 * first. */
void oci_keysort_sort(struct oci_keysort *v, size_t n);

/* In v sorted by oci_keysort_sort, the item of lowest id whose key is
 * len bytes at key (or, key NULL, the identity len), or NULL. O(log n). */
const struct oci_keysort *oci_keysort_find(const struct oci_keysort *v,
					   size_t n, const void *key,
					   size_t len);

/* v[a] and v[b] have equal keys. */
int oci_keysort_eq(const struct oci_keysort *a, const struct oci_keysort *b);

#endif
