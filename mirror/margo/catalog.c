#include "mirror/margo/catalog.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mirror/margo/description.h"
#include "mirror/margo/package.h"
#include "mirror/store/walk.h"
#include "oci/manifest.h"
#include "oci/platform.h"

#define CATALOG_ARCH_MAX 16 /* architectures shown per profile */

struct cat {
	const struct store *s;
	json_t *apps; /* repository -> entry */
};

/* A tag split for ordering: the dotted numeric core (after an optional
 * v/V), the prerelease (after '-', or any other text after the core) and
 * the build ('+' or SUP-01's '_'), each as [start, end). */
struct vparts {
	const char *core, *core_end, *pre, *pre_end, *build, *build_end;
	size_t n_core;
};

static int is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static int ends_with(const char *s, const char *suf)
{
	size_t n = strlen(s), m = strlen(suf);

	return n >= m && !strcmp(s + n - m, suf);
}

/* 1 for a tag that is no package version: a referrers fallback tag
 * (sha256-HEX), cosign's sha256-HEX.sig/.att/.sbom or any *.sig, *.att,
 * *.sbom. */
static int not_a_version(const char *t)
{
	return !strncmp(t, "sha256-", 7) || !strncmp(t, "sha512-", 7) ||
	       ends_with(t, ".sig") || ends_with(t, ".att") ||
	       ends_with(t, ".sbom");
}

/* 2 a version (a digit first, after an optional v/V), 1 a name, 0 not a
 * version at all; p filled for a version. */
static int version_rank(const char *t, struct vparts *p)
{
	const char *s = t;

	if (not_a_version(t))
		return 0;
	if (*s == 'v' || *s == 'V')
		s++;
	if (!is_digit(*s))
		return 1;
	memset(p, 0, sizeof(*p));
	p->core = s;
	for (;;) {
		while (is_digit(*s))
			s++;
		p->n_core++;
		if (s[0] != '.' || !is_digit(s[1]))
			break;
		s++;
	}
	p->core_end = s;
	if (*s == '-' || (*s && *s != '+' && *s != '_')) {
		p->pre = *s == '-' || *s == '.' ? s + 1 : s;
		s += strcspn(s, "+_");
		p->pre_end = s;
	}
	if (*s) {
		p->build = s + 1;
		p->build_end = s + strlen(s);
	}
	return 2;
}

/* Digit strings [a, ae) and [b, be) as numbers, of any length. */
static int num_cmp(const char *a, const char *ae, const char *b, const char *be)
{
	int c;

	while (a < ae - 1 && *a == '0')
		a++;
	while (b < be - 1 && *b == '0')
		b++;
	if (ae - a != be - b)
		return ae - a < be - b ? -1 : 1;
	c = memcmp(a, b, (size_t)(ae - a));
	return c < 0 ? -1 : c > 0;
}

/* The next part of [*s, e) up to sep, *s moved past it; NULL when none
 * is left. */
static const char *next_part(const char **s, const char *e, char sep,
			     const char **part_end)
{
	const char *p = *s, *q = p;

	if (!p || p > e)
		return NULL;
	while (q < e && *q != sep)
		q++;
	*part_end = q;
	*s = q < e ? q + 1 : e + 1;
	return p;
}

static int all_digits(const char *a, const char *ae)
{
	if (a == ae)
		return 0;
	for (; a < ae; a++)
		if (!is_digit(*a))
			return 0;
	return 1;
}

/* The numeric cores, part by part, a missing part 0. */
static int core_cmp(const struct vparts *x, const struct vparts *y)
{
	const char *a = x->core, *b = y->core, *ae = NULL, *be = NULL, *pa, *pb;
	static const char zero[] = "0";
	int c;

	for (;;) {
		pa = next_part(&a, x->core_end, '.', &ae);
		pb = next_part(&b, y->core_end, '.', &be);
		if (!pa && !pb)
			return 0;
		if (!pa) {
			pa = zero;
			ae = zero + 1;
		}
		if (!pb) {
			pb = zero;
			be = zero + 1;
		}
		if ((c = num_cmp(pa, ae, pb, be)))
			return c;
	}
}

/* Dot-separated identifiers by SemVer's rules: numeric ones as numbers,
 * below alphanumeric ones (bytewise); a shorter list below a longer one
 * it begins. */
static int ident_cmp(const char *a, const char *a_end, const char *b,
		     const char *b_end)
{
	const char *ae = NULL, *be = NULL, *pa, *pb;
	int c;

	for (;;) {
		pa = next_part(&a, a_end, '.', &ae);
		pb = next_part(&b, b_end, '.', &be);
		if (!pa || !pb)
			return pa ? 1 : pb ? -1 : 0;
		if (all_digits(pa, ae) && all_digits(pb, be))
			c = num_cmp(pa, ae, pb, be);
		else if (all_digits(pa, ae) || all_digits(pb, be))
			c = all_digits(pa, ae) ? -1 : 1;
		else {
			size_t la = (size_t)(ae - pa), lb = (size_t)(be - pb);

			c = memcmp(pa, pb, la < lb ? la : lb);
			c = c ? (c < 0 ? -1 : 1) : (la < lb ? -1 : la > lb);
		}
		if (c)
			return c;
	}
}

int margo_version_cmp(const char *a, const char *b)
{
	struct vparts x, y;
	int ra = version_rank(a, &x), rb = version_rank(b, &y), c;

	if (ra != rb)
		return ra < rb ? -1 : 1;
	if (ra == 2) {
		if ((c = core_cmp(&x, &y)))
			return c;
		if (!x.pre != !y.pre)
			return x.pre ? -1 : 1;
		if (x.pre &&
		    (c = ident_cmp(x.pre, x.pre_end, y.pre, y.pre_end)))
			return c;
		/* equal precedence: a deterministic order only */
		if (x.n_core != y.n_core)
			return x.n_core < y.n_core ? -1 : 1;
		if (!x.build != !y.build)
			return x.build ? 1 : -1;
		if (x.build &&
		    (c = ident_cmp(x.build, x.build_end, y.build, y.build_end)))
			return c;
	}
	c = strcmp(a, b);
	return c < 0 ? -1 : c > 0;
}

const char *margo_version_highest(char *const *v, size_t n)
{
	const char *best = NULL;

	for (size_t i = 0; i < n; i++)
		if (!not_a_version(v[i]) &&
		    (!best || margo_version_cmp(v[i], best) > 0))
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
