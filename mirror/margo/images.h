/* The container images a Margo component runs: the list the readers fill.
 *
 * mirror/margo/chart.h reads them from a Helm chart, compose.h from a
 * Compose archive, both after archive.h has checked every entry. Each
 * image is either resolved (ref) or carries the problem that kept it from
 * resolving; the list is caller-owned, filled by appending, and freed with
 * margo_images_release. */
#ifndef MIRROR_MARGO_IMAGES_H
#define MIRROR_MARGO_IMAGES_H

#include <stddef.h>

#include "oci/err.h"
#include "oci/ref.h"

#define MARGO_YAML_MAX (4u * 1024 * 1024) /* values.yaml, compose.yaml */
#define MARGO_IMAGES_MAX 1000		  /* references per archive */

/* One image reference found, resolved or not. */
struct margo_image {
	char ref[OCI_REF_STR_MAX]; /* as resolved; "" when unresolved */
	char where[256];   /* "orchestrator/values.yaml: sidecar.image" */
	char problem[256]; /* why it could not be resolved, else "" */
};

struct margo_images {
	struct margo_image *v;
	size_t n, cap;
};

void margo_images_release(struct margo_images *l);

/* Append raw (a reference as written, normalised here; one that does not
 * parse becomes a problem) found at where, or, when problem is not NULL,
 * an unresolved entry. The same reference, or the same unresolved place
 * and problem, is kept once. 0; ERR_TOO_LARGE past MARGO_IMAGES_MAX or
 * ERR_FAIL out of memory, with err (may be NULL) saying which. */
int margo_images_add(struct margo_images *l, const char *raw, const char *where,
		     const char *problem, struct err *err);

/* Finish one archive read into tmp: when rc is 0 append all of tmp to
 * out, else leave out as it was (nothing is reported from a refused
 * archive). tmp is released either way. Returns rc, or the append's
 * error. */
int margo_images_settle(struct margo_images *out, struct margo_images *tmp,
			int rc, struct err *err);

#endif
