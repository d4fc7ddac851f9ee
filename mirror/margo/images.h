/* The container images a Margo component runs, read from its archive.
 *
 * A Helm chart (application/vnd.cncf.helm.chart.content.v1.tar+gzip) names
 * them in values.yaml: a mapping under a key `image` (or ending in
 * `Image`) with `repository` and `tag` / `digest`, prefixed by
 * `global.imageRegistry` when set, else by its own `registry`; an empty tag
 * means the chart's appVersion, as Helm's templates conventionally read it.
 * A string under such a key is a whole reference. Subcharts, unpacked
 * (charts/NAME/) or packed (charts/NAME.tgz, two levels at most), are read
 * the same way, with the parent's global.imageRegistry.
 *
 * A Compose archive (application/vnd.org.margo.component.compose.tar+gzip)
 * holds one top-level directory with compose.yaml; the images are
 * services.*.image, interpolated as Compose does (${VAR}, ${VAR:-default},
 * ${VAR-default}, ${VAR:?msg}, ${VAR:+alt}, $VAR, $$) from the archive's
 * .env and the defaults written in the file; never from this process's
 * environment, which says nothing about the devices.
 *
 * Archives are checked entry by entry before any content is parsed, and
 * nothing is ever written to disk: no absolute path, no `..`, no entry
 * outside the one top-level directory, no link leaving it, no device,
 * FIFO or socket, no setuid/setgid bit, no entry reached through a
 * symbolic link and no hard link to one, no file the reader needs
 * (values.yaml, Chart.yaml, compose.yaml, .env) twice or as a link, at
 * most MARGO_ARCHIVE_ENTRIES entries and MARGO_ARCHIVE_EXPANDED bytes once
 * decompressed, counted over a chart and all its packed subcharts
 * together. */
#ifndef MIRROR_MARGO_IMAGES_H
#define MIRROR_MARGO_IMAGES_H

#include <stddef.h>

#include "oci/err.h"
#include "oci/mediatype.h" /* MT_HELM_*, MT_COMPOSE_* */
#include "oci/ref.h"

#define MARGO_ARCHIVE_MAX (64u * 1024 * 1024)	    /* compressed */
#define MARGO_ARCHIVE_EXPANDED (256u * 1024 * 1024) /* decompressed */
#define MARGO_ARCHIVE_ENTRIES 10000
#define MARGO_ARCHIVE_LINKS 1000	  /* symbolic links per archive */
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

/* The images of a chart archive (len bytes of .tgz). ERR_INVALID when
 * the archive or an entry is refused (err says which entry and why;
 * nothing was parsed), ERR_TOO_LARGE past a cap. */
int margo_chart_images(struct margo_images *out, const void *tgz, size_t len,
		       struct err *err);

/* The images of a Compose archive, as above. ERR_INVALID also when there
 * is no TOP/compose.yaml (a docker-compose.yml or compose.yml is named). */
int margo_compose_images(struct margo_images *out, const void *tgz, size_t len,
			 struct err *err);

/* The pieces, for tests and fuzzing. `file` names the document in
 * `where`. values: app_version (may be NULL) stands in for empty tags;
 * global_registry (may be NULL) is the parent chart's. */
int margo_values_images(struct margo_images *out, const char *yaml, size_t len,
			const char *file, const char *app_version,
			const char *global_registry, struct err *err);
int margo_compose_file_images(struct margo_images *out, const char *yaml,
			      size_t len, const char *file, const char *dotenv,
			      struct err *err);

/* Compose interpolation of s into dst (cap bytes) with variables from
 * dotenv (.env text, may be NULL). -1 with problem set when a variable has
 * no value and no default, or on a syntax error. */
int margo_interpolate(char *dst, size_t cap, const char *s, const char *dotenv,
		      char *problem, size_t pcap);

#endif
