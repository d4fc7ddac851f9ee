/* Manifests and indexes (OCI image-spec 1.1, Docker schema2).
 *
 * oci_manifest_parse keeps a copy of the original bytes: the digest of a
 * manifest is the digest of exactly those bytes, and they are what gets
 * stored and served. Parsing validates every descriptor (mediaType present,
 * digest canonical, size >= 0). Docker schema1 is refused with
 * ERR_UNSUPPORTED and a message saying so. */
#ifndef OCI_MANIFEST_H
#define OCI_MANIFEST_H

#include <stddef.h>
#include <stdint.h>

#include "oci/digest.h"
#include "oci/err.h"
#include "oci/mediatype.h"
#include "oci/platform.h"

#define OCI_MANIFEST_MAX (4u * 1024 * 1024) /* bytes */

struct oci_descriptor {
	char *media_type;
	struct oci_digest digest;
	int64_t size;
	char *artifact_type; /* NULL when absent */
	int has_platform;
	struct oci_platform platform; /* normalised */
	char *annotations_json; /* compact JSON object text, NULL when absent */
};

struct oci_manifest {
	enum oci_manifest_kind kind;
	char *media_type;    /* from the document, or inferred (OCI) */
	char *artifact_type; /* NULL when absent */
	/* image manifest */
	int has_config;
	struct oci_descriptor config;
	struct oci_descriptor *layers;
	size_t n_layers;
	/* index */
	struct oci_descriptor *manifests;
	size_t n_manifests;
	/* both */
	int has_subject;
	struct oci_descriptor subject;
	char *annotations_json; /* NULL when absent */
	/* the original bytes */
	char *raw;
	size_t raw_len;
	struct oci_digest digest; /* sha256 of raw */
};

/* Parse raw (raw_len bytes). content_type is the HTTP Content-Type or the
 * stored media type (may be NULL); when the document has a mediaType it must
 * agree. More than OCI_MANIFEST_MAX bytes: ERR_TOO_LARGE. */
int oci_manifest_parse(struct oci_manifest *out, const char *raw,
		       size_t raw_len, const char *content_type,
		       struct err *err);
void oci_manifest_release(struct oci_manifest *m);

void oci_descriptor_release(struct oci_descriptor *d);

/* 1 when an index child d is one of the n wanted platforms; n == 0 wants
 * every child, and a child without a platform is wanted only then. */
int oci_descriptor_wanted(const struct oci_descriptor *d,
			  const struct oci_platform *want, size_t n);

/* The first child of index m that oci_descriptor_wanted(want, 1) takes
 * (inspect --platform), or NULL; points into m. */
const struct oci_descriptor *oci_index_pick(const struct oci_manifest *m,
					    const struct oci_platform *want);

/* The descriptor of m as the referrers API lists it (compact JSON, sorted
 * keys): mediaType, digest, size, artifactType (m's, else its config's
 * media type) and m's annotations. Caller frees; NULL when out of memory. */
char *oci_manifest_referrer_json(const struct oci_manifest *m);

/* Deep copy src into out. */
int oci_descriptor_copy(struct oci_descriptor *out,
			const struct oci_descriptor *src);

#endif
