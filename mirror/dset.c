#include "mirror/dset.h"

#include <stdlib.h>
#include <string.h>

#include "oci/vec.h"

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int dset_add(struct dset *d, const char *s, struct err *err)
{
	if (OCI_VEC_RESERVE(d->v, d->n, d->cap, 1, 0))
		return err_set(err, ERR_FAIL, "out of memory adding %.200s", s);
	d->v[d->n] = strdup(s);
	if (!d->v[d->n])
		return err_set(err, ERR_FAIL, "out of memory adding %.200s", s);
	d->n++;
	d->sorted = 0;
	return 0;
}

void dset_sort(struct dset *d)
{
	size_t j = 0;

	if (d->sorted)
		return;
	if (d->n)
		qsort(d->v, d->n, sizeof(*d->v), cmp_str);
	for (size_t i = 0; i < d->n; i++) {
		if (j && !strcmp(d->v[j - 1], d->v[i])) {
			free(d->v[i]);
			continue;
		}
		d->v[j++] = d->v[i];
	}
	d->n = j;
	d->sorted = 1;
}

int dset_has(struct dset *d, const char *s)
{
	dset_sort(d);
	return d->n && bsearch(&s, d->v, d->n, sizeof(*d->v), cmp_str) != NULL;
}

void dset_release(struct dset *d)
{
	for (size_t i = 0; i < d->n; i++)
		free(d->v[i]);
	free(d->v);
	memset(d, 0, sizeof(*d));
}
