#include "oci/manifest.h"
#include "oci/mediatype.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* A 4 MiB document cannot hold more than ~40000 real descriptors; the cap
 * keeps a hostile one from making us allocate for more. */
#define DESCRIPTORS_MAX 100000
#define MEDIATYPE_LEN_MAX 255
#define WHERE_MAX 64

/* RFC 6838: type "/" subtype, restricted-name characters only. */
static int mt_valid(const char *s, size_t n)
{
	size_t i, slash = 0, seg = 0;

	if (n == 0 || n > MEDIATYPE_LEN_MAX)
		return 0;
	for (i = 0; i < n; i++) {
		char c = s[i];

		if (c == '/') {
			if (slash++ || seg == 0)
				return 0;
			seg = 0;
			continue;
		}
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || strchr("!#$&^_.+-", c)))
			return 0;
		seg++;
	}
	return slash == 1 && seg > 0;
}

static char *dup_n(const char *s, size_t n)
{
	char *p = malloc(n + 1);

	if (p) {
		memcpy(p, s, n);
		p[n] = '\0';
	}
	return p;
}

static int oom(struct err *err)
{
	return err_set(err, ERR_FAIL, "out of memory");
}

/* Optional media-type string member; *out stays NULL when absent. */
static int get_mt(char **out, json_t *obj, const char *key, int required,
		  struct err *err)
{
	json_t *v = json_object_get(obj, key);

	*out = NULL;
	if (!v) {
		if (required)
			return err_set(err, ERR_INVALID, "%s is missing", key);
		return 0;
	}
	if (!json_is_string(v))
		return err_set(err, ERR_INVALID, "%s must be a string", key);
	if (!mt_valid(json_string_value(v), json_string_length(v)))
		return err_set(err, ERR_INVALID, "%s is not a valid media type",
			       key);
	*out = dup_n(json_string_value(v), json_string_length(v));
	return *out ? 0 : oom(err);
}

/* Annotations: an object of string values, kept as compact sorted JSON. */
static int get_annotations(char **out, json_t *obj, struct err *err)
{
	json_t *a = json_object_get(obj, "annotations"), *v;
	const char *k;

	*out = NULL;
	if (!a)
		return 0;
	if (!json_is_object(a))
		return err_set(err, ERR_INVALID,
			       "annotations must be an object");
	json_object_foreach (a, k, v) {
		if (!json_is_string(v))
			return err_set(err, ERR_INVALID,
				       "annotations values must be strings");
	}
	*out = json_dumps(a, JSON_COMPACT | JSON_SORT_KEYS);
	return *out ? 0 : oom(err);
}

static int get_platform_str(char *dst, size_t cap, json_t *obj, const char *key,
			    int required, struct err *err)
{
	json_t *v = json_object_get(obj, key);
	const char *s;
	size_t n;

	dst[0] = '\0';
	if (!v) {
		if (required)
			return err_set(err, ERR_INVALID,
				       "platform.%s is missing", key);
		return 0;
	}
	if (!json_is_string(v))
		return err_set(err, ERR_INVALID, "platform.%s must be a string",
			       key);
	s = json_string_value(v);
	n = json_string_length(v);
	if (n >= cap)
		return err_set(err, ERR_INVALID,
			       "platform.%s is longer than %zu characters", key,
			       cap - 1);
	if (required && n == 0)
		return err_set(err, ERR_INVALID, "platform.%s is empty", key);
	memcpy(dst, s, n);
	dst[n] = '\0';
	return 0;
}

static int get_platform(struct oci_platform *p, json_t *v, struct err *err)
{
	int rc;

	memset(p, 0, sizeof(*p));
	if (!json_is_object(v))
		return err_set(err, ERR_INVALID, "platform must be an object");
	rc = get_platform_str(p->os, sizeof(p->os), v, "os", 1, err);
	if (!rc)
		rc = get_platform_str(p->arch, sizeof(p->arch), v,
				      "architecture", 1, err);
	if (!rc)
		rc = get_platform_str(p->variant, sizeof(p->variant), v,
				      "variant", 0, err);
	if (!rc)
		rc = get_platform_str(p->os_version, sizeof(p->os_version), v,
				      "os.version", 0, err);
	if (rc)
		return rc;
	oci_platform_normalize(p);
	return 0;
}

/* Parse one descriptor; on error d is released and err says which field
 * (the caller adds where the descriptor is). */
static int descriptor_parse(struct oci_descriptor *d, json_t *v,
			    struct err *err)
{
	json_t *dg, *sz, *pf;
	int rc;

	memset(d, 0, sizeof(*d));
	if (!json_is_object(v)) {
		rc = err_set(err, ERR_INVALID, "descriptor must be an object");
		goto out;
	}
	rc = get_mt(&d->media_type, v, "mediaType", 1, err);
	if (rc)
		goto out;

	dg = json_object_get(v, "digest");
	if (!dg) {
		rc = err_set(err, ERR_INVALID, "digest is missing");
		goto out;
	}
	if (!json_is_string(dg)) {
		rc = err_set(err, ERR_INVALID, "digest must be a string");
		goto out;
	}
	rc = oci_digest_parsen(&d->digest, json_string_value(dg),
			       json_string_length(dg), err);
	if (rc)
		goto out;

	sz = json_object_get(v, "size");
	if (!sz) {
		rc = err_set(err, ERR_INVALID, "size is missing");
		goto out;
	}
	if (!json_is_integer(sz) || json_integer_value(sz) < 0) {
		rc = err_set(err, ERR_INVALID,
			     "size must be a non-negative integer");
		goto out;
	}
	d->size = (int64_t)json_integer_value(sz);

	rc = get_mt(&d->artifact_type, v, "artifactType", 0, err);
	if (rc)
		goto out;

	pf = json_object_get(v, "platform");
	if (pf) {
		rc = get_platform(&d->platform, pf, err);
		if (rc)
			goto out;
		d->has_platform = 1;
	}

	rc = get_annotations(&d->annotations_json, v, err);
out:
	if (rc)
		oci_descriptor_release(d);
	return rc;
}

static int descriptor_array(struct oci_descriptor **out, size_t *n_out,
			    json_t *obj, const char *key, int required,
			    struct err *err)
{
	json_t *arr = json_object_get(obj, key), *v;
	struct oci_descriptor *list = NULL;
	size_t n, i, done = 0;
	int rc = 0;

	*out = NULL;
	*n_out = 0;
	if (!arr) {
		if (required)
			rc = err_set(err, ERR_INVALID, "%s is missing", key);
		goto out;
	}
	if (!json_is_array(arr)) {
		rc = err_set(err, ERR_INVALID, "%s must be an array", key);
		goto out;
	}
	n = json_array_size(arr);
	if (n > DESCRIPTORS_MAX) {
		rc = err_set(err, ERR_TOO_LARGE,
			     "%s has %zu entries, more than %d", key, n,
			     DESCRIPTORS_MAX);
		goto out;
	}
	if (n == 0)
		goto out;
	list = calloc(n, sizeof(*list));
	if (!list) {
		rc = oom(err);
		goto out;
	}
	json_array_foreach (arr, i, v) {
		rc = descriptor_parse(&list[i], v, err);
		if (rc) {
			err_wrap(err, "%s[%zu]: ", key, i);
			goto out;
		}
		done++;
	}
	*out = list;
	*n_out = n;
	list = NULL;
out:
	if (list) {
		for (i = 0; i < done; i++)
			oci_descriptor_release(&list[i]);
		free(list);
	}
	return rc;
}

static int single_descriptor(struct oci_descriptor *d, int *has, json_t *obj,
			     const char *key, int required, struct err *err)
{
	json_t *v = json_object_get(obj, key);
	int rc;

	*has = 0;
	if (!v) {
		if (required)
			return err_set(err, ERR_INVALID, "%s is missing", key);
		return 0;
	}
	rc = descriptor_parse(d, v, err);
	if (rc)
		return err_wrap(err, "%s: ", key);
	*has = 1;
	return 0;
}

static int schema1_refused(struct err *err, const struct oci_digest *d)
{
	return err_set(err, ERR_UNSUPPORTED,
		       "Docker schema1 manifests are not supported "
		       "(deprecated); manifest %s is schema1, ask for the "
		       "image to be pushed again as Docker schema2 or OCI",
		       d->str);
}

/* jansson quotes the offending token; keep the message on one line. */
static void one_line(char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			*s = '?';
}

static int doc_is_schema1(json_t *root)
{
	json_t *sv = json_object_get(root, "schemaVersion");
	json_t *mt = json_object_get(root, "mediaType");

	return (sv && json_is_integer(sv) && json_integer_value(sv) == 1) ||
	       (mt && json_is_string(mt) &&
		oci_mediatype_is_schema1(json_string_value(mt)));
}

static int parse_doc(struct oci_manifest *m, json_t *root,
		     const char *content_type, struct err *err)
{
	const char *ct_known =
	    content_type ? oci_mediatype_canonical(content_type) : NULL;
	json_t *sv, *mt;
	int rc;

	if (!json_is_object(root))
		return err_set(err, ERR_INVALID, "not a JSON object");

	sv = json_object_get(root, "schemaVersion");
	mt = json_object_get(root, "mediaType");
	if (!sv)
		return err_set(err, ERR_INVALID, "schemaVersion is missing");
	if (!json_is_integer(sv) || json_integer_value(sv) != 2)
		return err_set(err, ERR_INVALID, "schemaVersion must be 2");

	if (mt) {
		rc = get_mt(&m->media_type, root, "mediaType", 1, err);
		if (rc)
			return rc;
		m->kind = oci_mediatype_kind(m->media_type);
		if (!m->kind)
			return err_set(
			    err, ERR_INVALID,
			    "mediaType %s is not a manifest or index type",
			    m->media_type);
		if (ct_known && strcasecmp(ct_known, m->media_type))
			return err_set(
			    err, ERR_INVALID,
			    "mediaType %s does not match content type %s",
			    m->media_type, ct_known);
	} else {
		int has_m = json_object_get(root, "manifests") != NULL;
		int has_c = json_object_get(root, "config") != NULL ||
			    json_object_get(root, "layers") != NULL;

		if (has_m == has_c)
			return err_set(
			    err, ERR_INVALID, "no mediaType, and %s",
			    has_m
				? "both manifests and config/layers are present"
				: "neither manifests nor config is present");
		m->kind = has_m ? OCI_KIND_INDEX : OCI_KIND_MANIFEST;
		if (ct_known && oci_mediatype_kind(ct_known) != m->kind)
			return err_set(err, ERR_INVALID,
				       "content type %s does not match the "
				       "document, which is an %s",
				       ct_known,
				       has_m ? "index" : "image manifest");
		m->media_type = strdup(ct_known ? ct_known
				       : has_m	? MT_OCI_INDEX
						: MT_OCI_MANIFEST);
		if (!m->media_type)
			return oom(err);
	}

	rc = get_mt(&m->artifact_type, root, "artifactType", 0, err);
	if (rc)
		return rc;

	if (m->kind == OCI_KIND_MANIFEST) {
		/* A document that could be read as both kinds is refused
		 * (CVE-2021-41190). */
		if (json_object_get(root, "manifests"))
			return err_set(
			    err, ERR_INVALID,
			    "an image manifest must not have manifests");
		rc = single_descriptor(&m->config, &m->has_config, root,
				       "config", 1, err);
		if (!rc)
			rc = descriptor_array(&m->layers, &m->n_layers, root,
					      "layers", 0, err);
	} else {
		if (json_object_get(root, "config") ||
		    json_object_get(root, "layers"))
			return err_set(
			    err, ERR_INVALID,
			    "an index must not have config or layers");
		rc = descriptor_array(&m->manifests, &m->n_manifests, root,
				      "manifests", 1, err);
	}
	if (!rc)
		rc = single_descriptor(&m->subject, &m->has_subject, root,
				       "subject", 0, err);
	if (!rc)
		rc = get_annotations(&m->annotations_json, root, err);
	return rc;
}

int oci_manifest_parse(struct oci_manifest *out, const char *raw,
		       size_t raw_len, const char *content_type,
		       struct err *err)
{
	json_t *root = NULL;
	json_error_t jerr;
	int rc;

	memset(out, 0, sizeof(*out));
	if (raw_len > OCI_MANIFEST_MAX) {
		rc = err_set(
		    err, ERR_TOO_LARGE,
		    "manifest is %zu bytes, more than the %u byte limit",
		    raw_len, OCI_MANIFEST_MAX);
		goto out;
	}
	if (!raw || raw_len == 0) {
		rc = err_set(err, ERR_INVALID, "manifest is empty");
		goto out;
	}
	oci_digest_of(&out->digest, OCI_SHA256, raw, raw_len);
	if (content_type && oci_mediatype_is_schema1(content_type)) {
		rc = schema1_refused(err, &out->digest);
		goto out;
	}
	out->raw = dup_n(raw, raw_len);
	if (!out->raw) {
		rc = oom(err);
		goto out;
	}
	out->raw_len = raw_len;

	root = json_loadb(raw, raw_len, JSON_REJECT_DUPLICATES, &jerr);
	if (!root) {
		one_line(jerr.text);
		rc = err_set(err, ERR_INVALID,
			     "invalid JSON at line %d column %d: %s", jerr.line,
			     jerr.column, jerr.text);
		goto wrap;
	}
	if (doc_is_schema1(root)) {
		rc = schema1_refused(err, &out->digest);
		goto out;
	}
	rc = parse_doc(out, root, content_type, err);
wrap:
	if (rc)
		err_wrap(err, "manifest %s: ", out->digest.str);
out:
	json_decref(root);
	if (rc)
		oci_manifest_release(out);
	return rc;
}

void oci_descriptor_release(struct oci_descriptor *d)
{
	if (!d)
		return;
	free(d->media_type);
	free(d->artifact_type);
	free(d->annotations_json);
	memset(d, 0, sizeof(*d));
}

static int dup_opt(char **dst, const char *src)
{
	*dst = NULL;
	if (!src)
		return 0;
	*dst = strdup(src);
	return *dst ? 0 : ERR_FAIL;
}

int oci_descriptor_copy(struct oci_descriptor *out,
			const struct oci_descriptor *src)
{
	struct oci_descriptor d = *src;

	d.media_type = NULL;
	d.artifact_type = NULL;
	d.annotations_json = NULL;
	if (dup_opt(&d.media_type, src->media_type) ||
	    dup_opt(&d.artifact_type, src->artifact_type) ||
	    dup_opt(&d.annotations_json, src->annotations_json)) {
		oci_descriptor_release(&d);
		memset(out, 0, sizeof(*out));
		return ERR_FAIL;
	}
	*out = d;
	return 0;
}

void oci_manifest_release(struct oci_manifest *m)
{
	size_t i;

	if (!m)
		return;
	free(m->media_type);
	free(m->artifact_type);
	oci_descriptor_release(&m->config);
	for (i = 0; i < m->n_layers; i++)
		oci_descriptor_release(&m->layers[i]);
	free(m->layers);
	for (i = 0; i < m->n_manifests; i++)
		oci_descriptor_release(&m->manifests[i]);
	free(m->manifests);
	oci_descriptor_release(&m->subject);
	free(m->annotations_json);
	free(m->raw);
	memset(m, 0, sizeof(*m));
}

char *oci_manifest_referrer_json(const struct oci_manifest *m)
{
	json_t *j =
	    json_pack("{s:s,s:s,s:I}", "mediaType", m->media_type, "digest",
		      m->digest.str, "size", (json_int_t)m->raw_len);
	const char *at = m->artifact_type;
	char *t;

	if (!j)
		return NULL;
	if (!at && m->has_config)
		at = m->config.media_type;
	if (at)
		json_object_set_new(j, "artifactType", json_string(at));
	if (m->annotations_json) {
		json_t *a = json_loads(m->annotations_json, 0, NULL);
		if (a)
			json_object_set_new(j, "annotations", a);
	}
	t = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(j);
	return t;
}

int oci_descriptor_wanted(const struct oci_descriptor *d,
			  const struct oci_platform *want, size_t n)
{
	if (!n)
		return 1;
	if (!d->has_platform)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (oci_platform_match(&want[i], &d->platform))
			return 1;
	return 0;
}

const struct oci_descriptor *oci_index_pick(const struct oci_manifest *m,
					    const struct oci_platform *want)
{
	for (size_t i = 0; i < m->n_manifests; i++)
		if (oci_descriptor_wanted(&m->manifests[i], want, 1))
			return &m->manifests[i];
	return NULL;
}
