/* libFuzzer target: oci_manifest_parse on arbitrary bytes, with and without
 * a content type. Checks the parsed value is self-consistent, copies every
 * descriptor and releases everything (LeakSanitizer catches leaks). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "oci/manifest.h"
#include "oci/mediatype.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_desc(const struct oci_descriptor *d)
{
	struct oci_descriptor c;

	if (!d->media_type || d->size < 0)
		abort();
	if (oci_descriptor_copy(&c, d) == 0) {
		if (strcmp(c.media_type, d->media_type) ||
		    !oci_digest_equal(&c.digest, &d->digest))
			abort();
		oci_descriptor_release(&c);
	}
}

static void check(const struct oci_manifest *m, const uint8_t *data,
		  size_t size)
{
	struct oci_digest want;
	size_t i;

	if (m->raw_len != size || memcmp(m->raw, data, size))
		abort();
	oci_digest_of(&want, OCI_SHA256, data, size);
	if (!oci_digest_equal(&want, &m->digest))
		abort();
	if (oci_mediatype_kind(m->media_type) != m->kind)
		abort();
	if (m->kind == OCI_KIND_MANIFEST) {
		if (!m->has_config || m->n_manifests)
			abort();
		check_desc(&m->config);
	} else if (m->has_config || m->n_layers) {
		abort();
	}
	for (i = 0; i < m->n_layers; i++)
		check_desc(&m->layers[i]);
	for (i = 0; i < m->n_manifests; i++)
		check_desc(&m->manifests[i]);
	if (m->has_subject)
		check_desc(&m->subject);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const cts[] = { NULL, MT_OCI_MANIFEST, MT_DOCKER_LIST,
					   "application/json" };
	struct oci_manifest m;
	struct err err;
	size_t i;

	for (i = 0; i < sizeof(cts) / sizeof(cts[0]); i++) {
		if (oci_manifest_parse(&m, (const char *)data, size, cts[i],
				       &err) == 0) {
			check(&m, data, size);
		} else {
			if (!err.msg[0] || strchr(err.msg, '\n'))
				abort();
			if (m.raw || m.layers || m.manifests || m.media_type)
				abort();
		}
		oci_manifest_release(&m);
		oci_manifest_release(&m);
	}
	return 0;
}
