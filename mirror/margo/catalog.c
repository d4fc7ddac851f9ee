#include "mirror/margo/catalog.h"

#include <stdlib.h>
#include <string.h>

#include "mirror/margo/description.h"
#include "mirror/margo/package.h"
#include "mirror/store/walk.h"
#include "oci/semver.h"
#include "oci/manifest.h"

struct cat {
	const struct store *s;
	json_t *apps; /* repository -> entry */
};

/* 1 when version a is higher than b (SemVer, else lexical). */
static int higher(const char *a, const char *b)
{
	struct semver x, y;

	if (!semver_parse(&x, a) && !semver_parse(&y, b))
		return semver_cmp(&x, &y) > 0;
	return strcmp(a, b) > 0;
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

		for (size_t k = 0; k < p->n_architectures; k++)
			if (p->architectures[k].v)
				json_array_append_new(
				    archs, json_string(p->architectures[k].v));
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
		if (!cur || higher(tag, json_string_value(
					    json_object_get(cur, "tag")))) {
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
