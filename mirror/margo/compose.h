/* The container images a Compose component runs, read from its archive
 * (application/vnd.org.margo.component.compose.tar+gzip).
 *
 * The archive holds one top-level directory with compose.yaml; the images
 * are services.*.image, interpolated as Compose does (${VAR},
 * ${VAR:-default}, ${VAR-default}, ${VAR:?msg}, ${VAR:+alt}, $VAR, $$) from
 * the archive's .env and the defaults written in the file; never from this
 * process's environment, which says nothing about the devices.
 *
 * A service's image may come through YAML merge keys (`<<: *common`,
 * resolved by oci/yaml.h) or through `extends` within the file
 * (`extends: {service: base}` or `extends: base`): the first image along
 * the chain, the service's own first; a chain of more than 64 services, a
 * base not in the file, or one in another file (`file:`, not read) stops
 * it, and without an image found that is the image's problem. A cycle of
 * extends refuses the file (ERR_INVALID). Services under `profiles` are
 * mirrored like the others; their `where` ends "(profiles: a, b)" (the
 * service's own, then those it extends), and an image found through
 * extends says "(from services.BASE by extends)".
 *
 * The archive passes mirror/margo/archive.h's entry checks first. */
#ifndef MIRROR_MARGO_COMPOSE_H
#define MIRROR_MARGO_COMPOSE_H

#include <stddef.h>

#include "mirror/margo/archive.h"
#include "mirror/margo/images.h"
#include "oci/err.h"
#include "oci/mediatype.h" /* MT_COMPOSE_* */

/* Append the images of a Compose archive (len bytes of .tgz) to out.
 * ERR_INVALID when the archive or an entry is refused, or there is no
 * TOP/compose.yaml (a docker-compose.yml or compose.yml is named); nothing
 * is appended then. ERR_TOO_LARGE past a cap. */
int margo_compose_images(struct margo_images *out, const void *tgz, size_t len,
			 struct err *err);

/* One compose.yaml, for tests and fuzzing: `file` names it in `where`,
 * dotenv is the .env text (may be NULL). ERR_INVALID when it has no
 * services mapping. */
int margo_compose_file_images(struct margo_images *out, const char *yaml,
			      size_t len, const char *file, const char *dotenv,
			      struct err *err);

/* Compose interpolation of s into dst (cap bytes) with variables from
 * dotenv (.env text, may be NULL). -1 with problem (pcap bytes) set when a
 * variable has no value and no default, on a syntax error, or when the
 * result does not fit: the problem becomes the image's, not an error. */
int margo_interpolate(char *dst, size_t cap, const char *s, const char *dotenv,
		      char *problem, size_t pcap);

#endif
