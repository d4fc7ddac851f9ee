/* The one growable array (contract in oci/vec.h). */
#include "oci/vec.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "oci/err.h"

int oci_vec_grow(void *arrayp, size_t *cap, size_t n, size_t more, size_t size,
		 size_t max)
{
	size_t need, nc;
	void *v, *nv;

	if (!size || more > SIZE_MAX - n)
		return ERR_TOO_LARGE;
	need = n + more;
	if (max && need > max)
		return ERR_TOO_LARGE;
	if (need <= *cap)
		return 0;
	nc = *cap ? *cap : 8;
	while (nc < need)
		nc = nc > SIZE_MAX / 2 ? need : nc * 2;
	if (max && nc > max)
		nc = max;
	if (nc > SIZE_MAX / size)
		nc = need;
	if (nc > SIZE_MAX / size)
		return ERR_TOO_LARGE;
	/* memcpy: arrayp is a T **, read and written as a void * */
	memcpy(&v, arrayp, sizeof(v));
	nv = realloc(v, nc * size);
	if (!nv)
		return ERR_FAIL;
	memcpy(arrayp, &nv, sizeof(nv));
	*cap = nc;
	return 0;
}

void oci_strv_free(char **v)
{
	if (!v)
		return;
	for (char **p = v; *p; p++)
		free(*p);
	free(v);
}
