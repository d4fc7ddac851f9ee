/* Media type checks (contract in oci/mediatype.h). */
#include "oci/mediatype.h"

#include <string.h>
#include <strings.h>

/* Media type without parameters or surrounding blanks, into dst. */
static void mt_base(char *dst, size_t cap, const char *mt)
{
	size_t n;

	while (*mt == ' ' || *mt == '\t')
		mt++;
	n = strcspn(mt, "; \t");
	if (n >= cap)
		n = 0; /* too long to be one we know */
	memcpy(dst, mt, n);
	dst[n] = '\0';
}

enum oci_manifest_kind oci_mediatype_kind(const char *mt)
{
	char b[128];

	if (!mt)
		return 0;
	mt_base(b, sizeof(b), mt);
	if (!strcasecmp(b, MT_OCI_MANIFEST) ||
	    !strcasecmp(b, MT_DOCKER_MANIFEST))
		return OCI_KIND_MANIFEST;
	if (!strcasecmp(b, MT_OCI_INDEX) || !strcasecmp(b, MT_DOCKER_LIST))
		return OCI_KIND_INDEX;
	return 0;
}

int oci_mediatype_is_manifest(const char *mt)
{
	return oci_mediatype_kind(mt) != 0;
}

int oci_mediatype_is_index(const char *mt)
{
	return oci_mediatype_kind(mt) == OCI_KIND_INDEX;
}

int oci_mediatype_is_schema1(const char *mt)
{
	char b[128];

	if (!mt)
		return 0;
	mt_base(b, sizeof(b), mt);
	return !strcasecmp(b, MT_DOCKER_SCHEMA1) ||
	       !strcasecmp(b, MT_DOCKER_SCHEMA1_SIGNED);
}

const char *oci_mediatype_canonical(const char *mt)
{
	static const char *const known[] = {MT_OCI_MANIFEST, MT_OCI_INDEX,
					    MT_DOCKER_MANIFEST, MT_DOCKER_LIST};
	char b[128];
	size_t i;

	if (!mt)
		return NULL;
	mt_base(b, sizeof(b), mt);
	for (i = 0; i < sizeof(known) / sizeof(known[0]); i++)
		if (!strcasecmp(b, known[i]))
			return known[i];
	return NULL;
}

int oci_mediatype_is_nondistributable(const char *mt)
{
	static const char *const known[] = {
	    MT_OCI_LAYER_ND_TAR, MT_OCI_LAYER_ND_TGZ, MT_OCI_LAYER_ND_TZST,
	    MT_DOCKER_LAYER_FOREIGN_TGZ, MT_DOCKER_LAYER_FOREIGN_TAR};
	char b[128];

	if (!mt)
		return 0;
	mt_base(b, sizeof(b), mt);
	for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
		if (!strcasecmp(b, known[i]))
			return 1;
	return 0;
}

int oci_artifact_type_is_signature(const char *at)
{
	static const char *const known[] = {MT_COSIGN_SIG, MT_NOTARY_SIG};
	char b[128];

	if (!at)
		return 0;
	mt_base(b, sizeof(b), at);
	if (!strncasecmp(b, MT_SIGSTORE_BUNDLE_PREFIX,
			 strlen(MT_SIGSTORE_BUNDLE_PREFIX)))
		return 1;
	for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
		if (!strcasecmp(b, known[i]))
			return 1;
	return 0;
}

int oci_artifact_type_is_sbom(const char *at)
{
	static const char *const known[] = {MT_SPDX_JSON, MT_SPDX_TEXT,
					    MT_CYCLONEDX_JSON, MT_CYCLONEDX_XML,
					    MT_SYFT_JSON};
	char b[128];

	if (!at)
		return 0;
	mt_base(b, sizeof(b), at);
	for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
		if (!strcasecmp(b, known[i]))
			return 1;
	return 0;
}
