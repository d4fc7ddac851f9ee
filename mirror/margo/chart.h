/* The container images a Helm chart runs, read from its archive
 * (application/vnd.cncf.helm.chart.content.v1.tar+gzip).
 *
 * values.yaml names them under a key `image` (or ending in `Image`), in
 * the shapes public charts use:
 *   - a string: a whole reference ("repo:tag"); without a tag or digest,
 *     a KEYTag string beside it gives the tag (elastic's imageTag);
 *   - {registry, repository, tag, digest} (Bitnami, grafana with `sha`
 *     for the hex of a sha256 digest, prometheus-community, `helm
 *     create`): global.imageRegistry, when set, replaces the registry;
 *   - {registry, image, tag, digest} (ingress-nginx): the map's own
 *     registry, else global.image.registry (the template merges the map
 *     over global.image); a non-empty `repository` there is the whole
 *     name; `chroot: true` is IMAGE-chroot (a `repository` as written)
 *     at `digestChroot`; no registry from either is an unresolved entry
 *     (the template would write "/IMAGE");
 *   - {registry, name, tag}: the map's own registry only; without one
 *     the name is a whole reference.
 * Registry and name are joined by one '/', and the result normalised as
 * oci/ref.h does (docker.io, library/). A tag and a digest are both kept;
 * a digest alone is the reference; no tag and no digest means the chart's
 * appVersion, as Helm's templates conventionally read it. A map with an
 * empty name is an unused slot, no image; one whose name is a map holds
 * image maps and is walked into. Everything else is an unresolved entry
 * with its path (FILE: a.b.image) and why: a template (`{{ }}`), a field
 * that is a list or a map, a map with no name and no image inside, a
 * missing tag with no appVersion. global.image with no name is the defaults of
 * the ingress-nginx shape, not an image. Subcharts, unpacked (charts/NAME/) or
 * packed (charts/NAME.tgz, two levels at most), are read the same way, with
 * their values as Helm merges them (their own values.yaml overridden by what
 * each parent says under the subchart's key or alias) and the globals as Helm
 * passes them down: a parent's, when it sets one, over the subchart's own.
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
 * stands in for empty tags; global_registry (may be NULL or "") is the
 * parent chart's global.imageRegistry, over the document's own. */
int margo_values_images(struct margo_images *out, const char *yaml, size_t len,
			const char *file, const char *app_version,
			const char *global_registry, struct err *err);

#endif
