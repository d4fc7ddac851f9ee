/* The container images a Helm chart runs, read from its archive
 * (application/vnd.cncf.helm.chart.content.v1.tar+gzip).
 *
 * values.yaml names them: a mapping under a key `image` (or ending in
 * `Image`) with `repository` and `tag` / `digest`, prefixed by
 * `global.imageRegistry` when set, else by its own `registry`; an empty tag
 * means the chart's appVersion, as Helm's templates conventionally read it.
 * A string under such a key is a whole reference. Subcharts, unpacked
 * (charts/NAME/) or packed (charts/NAME.tgz, two levels at most), are read
 * the same way, with the parent's global.imageRegistry, and with their
 * values as Helm merges them: their own values.yaml overridden by what
 * each parent says under the subchart's key (or alias).
 *
 * The archive passes mirror/margo/archive.h's entry checks first, its
 * caps counted over the chart and all its packed subcharts together. */
#ifndef MIRROR_MARGO_CHART_H
#define MIRROR_MARGO_CHART_H

#include <stddef.h>

#include "mirror/margo/archive.h"
#include "mirror/margo/images.h"
#include "oci/err.h"
#include "oci/mediatype.h" /* MT_HELM_* */

/* Append the images of a chart archive (len bytes of .tgz) to out.
 * ERR_INVALID when the archive or an entry is refused or there is no
 * TOP/Chart.yaml (err says which entry and why; nothing is appended),
 * ERR_TOO_LARGE past a cap. */
int margo_chart_images(struct margo_images *out, const void *tgz, size_t len,
		       struct err *err);

/* One values.yaml (len bytes of yaml), for tests and fuzzing. `file`
 * names the document in each image's `where`; app_version (may be NULL)
 * stands in for empty tags; global_registry (may be NULL) is the parent
 * chart's. */
int margo_values_images(struct margo_images *out, const char *yaml, size_t len,
			const char *file, const char *app_version,
			const char *global_registry, struct err *err);

#endif
