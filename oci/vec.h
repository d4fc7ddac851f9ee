/* The one growable array: room for more items in a caller's plain
 * (pointer, count, capacity) triple, by doubling, with a cap and overflow
 * checks.
 *
 *	struct item *v = NULL;
 *	size_t n = 0, cap = 0;
 *
 *	if (OCI_VEC_RESERVE(v, n, cap, 1, ITEMS_MAX))
 *		return err_set(err, ERR_FAIL, "...: out of memory");
 *	v[n++] = x;
 *
 * Ownership stays with the caller: the array is malloc'd memory it frees
 * with free(v) (and whatever the items hold). On failure nothing changes:
 * v, n and cap are as before and v still owns what it had, so the usual
 * "goto out; free(v)" path is right. Items are not zeroed. */
#ifndef OCI_VEC_H
#define OCI_VEC_H

#include <stddef.h>

/* Make *cap at least n + more items of size bytes, doubling from 8.
 * max (0: no cap but memory) bounds n + more: beyond it, or when the byte
 * size would overflow size_t, ERR_TOO_LARGE; out of memory ERR_FAIL.
 * arrayp is the address of the caller's T * (any object pointer type).
 * No message: the caller names the thing it is collecting. */
int oci_vec_grow(void *arrayp, size_t *cap, size_t n, size_t more, size_t size,
		 size_t max);

#define OCI_VEC_RESERVE(array, n, cap, more, max)                              \
	oci_vec_grow(&(array), &(cap), (n), (more), sizeof(*(array)), (max))

/* Free a NULL-terminated array of malloc'd strings (a tag list) and the
 * array itself; NULL is fine. */
void oci_strv_free(char **v);

#endif
