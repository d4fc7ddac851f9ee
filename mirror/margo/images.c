/* The list of images a component runs. See images.h. */
#include "mirror/margo/images.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "oci/vec.h"

void margo_images_release(struct margo_images *l)
{
	free(l->v);
	memset(l, 0, sizeof(*l));
}

int margo_images_add(struct margo_images *l, const char *raw, const char *where,
		     const char *problem, struct err *err)
{
	struct margo_image im;
	struct oci_ref r;
	struct err e;

	memset(&im, 0, sizeof(im));
	snprintf(im.where, sizeof(im.where), "%s", where);
	if (problem) {
		snprintf(im.problem, sizeof(im.problem), "%s", problem);
	} else if (oci_ref_parse(&r, raw, &e)) {
		char shown[120];

		err_shown(shown, sizeof(shown), raw, strlen(raw));
		snprintf(im.problem, sizeof(im.problem),
			 "\"%s\" is not an image reference: %s", shown, e.msg);
	} else {
		oci_ref_format(&r, im.ref, sizeof(im.ref));
	}
	for (size_t i = 0; i < l->n; i++)
		if (im.ref[0] ? !strcmp(l->v[i].ref, im.ref)
			      : !strcmp(l->v[i].where, im.where) &&
				    !strcmp(l->v[i].problem, im.problem))
			return 0;
	if (l->n >= MARGO_IMAGES_MAX)
		return err_set(err, ERR_TOO_LARGE,
			       "more than %d image references",
			       MARGO_IMAGES_MAX);
	if (OCI_VEC_RESERVE(l->v, l->n, l->cap, 1, 0))
		return err_set(err, ERR_FAIL, "out of memory");
	l->v[l->n++] = im;
	return 0;
}

int margo_images_settle(struct margo_images *out, struct margo_images *tmp,
			int rc, struct err *err)
{
	for (size_t i = 0; !rc && i < tmp->n; i++)
		rc = margo_images_add(
		    out, tmp->v[i].ref[0] ? tmp->v[i].ref : NULL,
		    tmp->v[i].where,
		    tmp->v[i].ref[0] ? NULL : tmp->v[i].problem, err);
	margo_images_release(tmp);
	return rc;
}
