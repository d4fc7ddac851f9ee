/* Equal keys by sorting: see keysort.h. */
#include "oci/keysort.h"

#include <stdlib.h>
#include <string.h>

/* Any total order will do, equal keys being all that is looked for:
 * identities first, then by length, then by bytes. */
static int key_cmp(const void *ak, size_t al, const void *bk, size_t bl)
{
	if (!ak != !bk)
		return ak ? 1 : -1;
	if (al != bl)
		return al > bl ? 1 : -1;
	return ak ? memcmp(ak, bk, al) : 0;
}

static int item_cmp(const void *pa, const void *pb)
{
	const struct oci_keysort *a = pa, *b = pb;
	int c = key_cmp(a->key, a->len, b->key, b->len);

	return c ? c : (a->id > b->id) - (a->id < b->id);
}

void oci_keysort_sort(struct oci_keysort *v, size_t n)
{
	if (n > 1)
		qsort(v, n, sizeof(*v), item_cmp);
}

const struct oci_keysort *oci_keysort_find(const struct oci_keysort *v,
					   size_t n, const void *key,
					   size_t len)
{
	size_t lo = 0, hi = n; /* the first item not below key is in [lo,hi] */

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (key_cmp(v[mid].key, v[mid].len, key, len) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo < n && !key_cmp(v[lo].key, v[lo].len, key, len))
		return &v[lo];
	return NULL;
}

int oci_keysort_eq(const struct oci_keysort *a, const struct oci_keysort *b)
{
	return !key_cmp(a->key, a->len, b->key, b->len);
}
