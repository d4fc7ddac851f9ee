#include "mirror/margo/catalog.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mirror/margo/description.h"
#include "mirror/margo/package.h"
#include "mirror/store/walk.h"
#include "oci/semver.h"
#include "oci/manifest.h"
#include "oci/platform.h"

#define CATALOG_ARCH_MAX 16 /* architectures shown per profile */

struct cat {
	const struct store *s;
	json_t *apps; /* repository -> entry */
};

/* 2 for a SemVer version, 1 for another that starts with a digit (or v
 * and a digit: "1.0", "v2"), 0 for a name ("latest"). */
static int version_rank(const char *v, struct semver *sv)
{
	if (!semver_parse(sv, v))
		return 2;
	if (v[0] == 'v' || v[0] == 'V')
		v++;
	return v[0] >= '0' && v[0] <= '9';
}

/* Digit runs as numbers, the rest byte by byte ("1.10" after "1.9"). */
static int natural_cmp(const char *a, const char *b)
{
	while (*a && *b) {
		if (*a >= '0' && *a <= '9' && *b >= '0' && *b <= '9') {
			const char *x = a, *y = b;
			size_t la, lb;

			while (*x == '0' && x[1] >= '0' && x[1] <= '9')
				x++;
			while (*y == '0' && y[1] >= '0' && y[1] <= '9')
				y++;
			for (a = x; *a >= '0' && *a <= '9'; a++)
				;
			for (b = y; *b >= '0' && *b <= '9'; b++)
				;
			la = (size_t)(a - x);
			lb = (size_t)(b - y);
			if (la != lb)
				return la < lb ? -1 : 1;
			if (memcmp(x, y, la))
				return memcmp(x, y, la) < 0 ? -1 : 1;
			continue;
		}
		if (*a != *b)
			return (unsigned char)*a < (unsigned char)*b ? -1 : 1;
		a++;
		b++;
	}
	return *a ? 1 : *b ? -1 : 0;
}

int margo_version_cmp(const char *a, const char *b)
{
	struct semver x, y;
	int ra = version_rank(a, &x), rb = version_rank(b, &y), c;

	if (ra != rb)
		return ra < rb ? -1 : 1;
	if (ra == 2 && (c = semver_cmp(&x, &y)))
		return c;
	c = natural_cmp(a, b);
	return c ? c : strcmp(a, b);
}

const char *margo_version_highest(char *const *v, size_t n)
{
	const char *best = NULL;

	for (size_t i = 0; i < n; i++)
		if (!best || margo_version_cmp(v[i], best) > 0)
			best = v[i];
	return best;
}

int margo_arch_norm(char *dst, size_t cap, const char *arch)
{
	struct oci_platform p;
	char full[128], plat[128];
	int rc;

	snprintf(full, sizeof(full), "linux/%s", arch);
	if ((rc = oci_platform_parse(&p, full, NULL)))
		return rc;
	oci_platform_format(&p, plat, sizeof(plat));
	snprintf(dst, cap, "%s", plat + 6);
	return 0;
}

void margo_arch_canonical(char *dst, size_t cap, const char *arch)
{
	if (margo_arch_norm(dst, cap, arch))
		snprintf(dst, cap, "%s", arch);
}

/* The architectures p names, canonical, each once, into v (at most max);
 * their number. */
static size_t profile_archs(char (*v)[48], size_t max,
			    const struct margo_profile *p)
{
	size_t n = 0;

	for (size_t k = 0; k < p->n_architectures; k++) {
		char a[48];
		size_t q = 0;

		if (!p->architectures[k].v)
			continue;
		margo_arch_canonical(a, sizeof(a), p->architectures[k].v);
		while (q < n && strcmp(v[q], a))
			q++;
		if (q == n && n < max)
			snprintf(v[n++], sizeof(v[0]), "%s", a);
	}
	return n;
}

void margo_profile_arch_format(char *dst, size_t cap,
			       const struct margo_profile *p)
{
	char v[CATALOG_ARCH_MAX][48];
	size_t n = profile_archs(v, CATALOG_ARCH_MAX, p), o;

	if (!n) {
		snprintf(dst, cap, "[any architecture]");
		return;
	}
	o = (size_t)snprintf(dst, cap, "[");
	for (size_t k = 0; k < n && o < cap; k++)
		o += (size_t)snprintf(dst + o, cap - o, "%s%s", k ? "," : "",
				      v[k]);
	if (o < cap)
		snprintf(dst + o, cap - o, "]");
}

static json_t *str_or_null(const struct margo_str *s)
{
	return s->v ? json_string(s->v) : json_null();
}

static json_t *describe(const struct margo_app *a, const char *repo,
			const char *tag, const char *digest)
{
	json_t *e = json_object(), *orgs = json_array(), *profs = json_array();

	json_object_set_new(e, "repository", json_string(repo));
	json_object_set_new(e, "id", str_or_null(&a->id));
	json_object_set_new(e, "name", str_or_null(&a->name));
	json_object_set_new(e, "version", str_or_null(&a->version));
	json_object_set_new(e, "tag", json_string(tag));
	json_object_set_new(e, "digest", json_string(digest));
	json_object_set_new(e, "description", str_or_null(&a->description));
	json_object_set_new(e, "tagline", str_or_null(&a->tagline));
	for (size_t i = 0; i < a->n_organizations; i++)
		if (a->organizations[i].name.v)
			json_array_append_new(
			    orgs, json_string(a->organizations[i].name.v));
	json_object_set_new(e, "organization", orgs);
	for (size_t i = 0; i < a->n_profiles; i++) {
		const struct margo_profile *p = &a->profiles[i];
		json_t *archs = json_array();
		char v[CATALOG_ARCH_MAX][48];
		size_t n = profile_archs(v, CATALOG_ARCH_MAX, p);

		/* x86_64 is amd64, aarch64 arm64: each one once */
		for (size_t k = 0; k < n; k++)
			json_array_append_new(archs, json_string(v[k]));
		json_array_append_new(profs,
				      json_pack("{s:o,s:o,s:o}", "type",
						str_or_null(&p->type), "id",
						str_or_null(&p->id),
						"architectures", archs));
	}
	json_object_set_new(e, "profiles", profs);
	return e;
}

static int visit(void *ctx, const char *repo, const char *tag,
		 const struct store_ref *ref)
{
	struct cat *c = ctx;
	struct margo_problems probs;
	struct margo_app app;
	char *desc = NULL;
	size_t dlen = 0;
	json_t *cur, *versions;

	if (!tag || margo_package_description(&desc, &dlen, c->s, &ref->digest,
					      ref->media_type, NULL))
		return 0;
	margo_problems_init(&probs);
	if (!margo_app_parse(&app, &probs, desc, dlen, NULL)) {
		cur = json_object_get(c->apps, repo);
		versions = cur ? json_incref(json_object_get(cur, "versions"))
			       : json_array();
		json_array_append_new(versions, json_string(tag));
		if (!cur ||
		    margo_version_cmp(tag, json_string_value(json_object_get(
					       cur, "tag"))) > 0) {
			json_t *e = describe(&app, repo, tag, ref->digest.str);
			json_object_set(e, "versions", versions);
			json_object_set_new(c->apps, repo, e);
		}
		json_decref(versions);
	}
	margo_app_release(&app);
	margo_problems_release(&probs);
	free(desc);
	return 0;
}

json_t *margo_catalog(const struct store *s, struct err *err)
{
	struct cat c = {s, json_object()};
	json_t *arr = json_array(), *v;
	const char *k;

	if (walk_tags(s, NULL, visit, &c, err)) {
		json_decref(c.apps);
		json_decref(arr);
		return NULL;
	}
	json_object_foreach (c.apps, k, v) {
		(void)k;
		json_array_append(arr, v);
	}
	json_decref(c.apps);
	return arr;
}

const struct oci_descriptor *margo_package_layer(const struct oci_manifest *m,
						 struct err *err)
{
	if (m->kind != OCI_KIND_MANIFEST || !m->artifact_type ||
	    strcmp(m->artifact_type, MT_MARGO_APP)) {
		err_set(err, ERR_INVALID,
			"not a Margo application package (artifactType %s)",
			m->artifact_type ? m->artifact_type : "absent");
		return NULL;
	}
	for (size_t i = 0; i < m->n_layers; i++)
		if (!strcmp(m->layers[i].media_type, MT_MARGO_DESC))
			return &m->layers[i];
	err_set(err, ERR_INVALID, "the package has no description layer (%s)",
		MT_MARGO_DESC);
	return NULL;
}

int margo_package_description(char **out, size_t *len_out,
			      const struct store *s, const struct oci_digest *d,
			      const char *media_type, struct err *err)
{
	const struct oci_descriptor *desc;
	struct oci_manifest m;
	char *raw = NULL;
	size_t len = 0;
	int rc;

	*out = NULL;
	rc = store_blob_read(&raw, &len, s, d, OCI_MANIFEST_MAX, err);
	if (rc)
		return rc;
	rc = oci_manifest_parse(&m, raw, len, media_type, err);
	free(raw);
	if (rc)
		return rc;
	desc = margo_package_layer(&m, err);
	rc = desc ? store_blob_read(out, len_out, s, &desc->digest,
				    MARGO_INPUT_MAX, err)
		  : ERR_INVALID;
	oci_manifest_release(&m);
	return rc;
}

int margo_catalog_get(struct margo_app *app, json_t **entry_out,
		      const struct store *s, const char *repo, const char *tag,
		      struct err *err)
{
	struct store_ref ref;
	struct margo_problems probs;
	char *desc = NULL, best[OCI_TAG_MAX + 1] = "";
	size_t dlen = 0;
	json_t *all;
	int rc;

	memset(app, 0, sizeof(*app));
	*entry_out = NULL;
	if (!tag) {
		/* the highest version the catalog knows for repo */
		json_t *a, *v;
		size_t i;

		all = margo_catalog(s, err);
		if (!all)
			return err && err->code ? err->code : ERR_FAIL;
		json_array_foreach (all, i, a) {
			v = json_object_get(a, "repository");
			if (json_is_string(v) &&
			    !strcmp(json_string_value(v), repo))
				snprintf(best, sizeof(best), "%s",
					 json_string_value(
					     json_object_get(a, "tag")));
		}
		json_decref(all);
		if (!best[0])
			return err_set(
			    err, ERR_NOT_FOUND,
			    "%s: no Margo application package in the store",
			    repo);
		tag = best;
	}
	rc = store_tag_get(&ref, s, repo, tag, err);
	if (!rc)
		rc = margo_package_description(&desc, &dlen, s, &ref.digest,
					       ref.media_type, err);
	if (rc) {
		if (rc == ERR_INVALID)
			err_wrap(err, "%s:%s: ", repo, tag);
		return rc;
	}
	margo_problems_init(&probs);
	rc = margo_app_parse(app, &probs, desc, dlen, err);
	margo_problems_release(&probs);
	free(desc);
	if (!rc)
		*entry_out = describe(app, repo, tag, ref.digest.str);
	return rc;
}

int margo_catalog_ref_parse(char *repo_out, char *tag_out, const char *spec,
			    struct err *err)
{
	if (!strncmp(spec, "store:", 6))
		spec += 6;
	if (store_name_split(repo_out, tag_out, spec, NULL)) {
		char shown[200];

		err_shown(shown, sizeof(shown), spec, strlen(spec));
		return err_set(err, ERR_INVALID, "invalid reference \"%s\"",
			       shown);
	}
	return 0;
}
