/* Test fixture for the Margo image readers (chart.c, compose.c): the
 * images a reader found as one string, so a test asserts the whole list at
 * once. Header-only, like storefix.h. */
#ifndef TESTS_IMAGESFIX_H
#define TESTS_IMAGESFIX_H

#include <stdio.h>

#include "mirror/margo/images.h"

/* "ref|where|problem" per image, one per line, in a static buffer that the
 * next call overwrites. */
static __attribute__((unused)) char *
fix_images_listing(const struct margo_images *l)
{
	static char out[8192];
	size_t o = 0;

	out[0] = '\0';
	for (size_t i = 0; i < l->n && o < sizeof(out); i++)
		o += (size_t)snprintf(out + o, sizeof(out) - o, "%s|%s|%s\n",
				      l->v[i].ref, l->v[i].where,
				      l->v[i].problem);
	return out;
}

#endif
