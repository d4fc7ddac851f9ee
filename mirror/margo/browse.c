#include "mirror/margo/browse.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mirror/fresh.h"
#include "mirror/margo/app_pull.h" /* MARGO_ARCH_MAX */
#include "mirror/margo/catalog.h"
#include "mirror/margo/chart.h"
#include "mirror/margo/compose.h"
#include "mirror/margo/description.h"
#include "mirror/margo/images.h"
#include "mirror/margo/package.h"
#include "mirror/store/walk.h"
#include "oci/manifest.h"
#include "oci/platform.h"
#include "oci/vec.h"

/* The images one archive names: resolved references and the places of
 * the unresolved ones. */
struct ient {
	struct oci_digest d;
	char **refs, **unres;
	size_t n_refs, n_unres;
	size_t bytes; /* the strings' */
	unsigned long long used;
	int failed;	  /* reading it failed (with this code) ... */
	double failed_at; /* ... then: kept until MARGO_ICACHE_TTL after */
};

/* A package's apps entry: tags, icon, complete. */
struct sument {
	char repo[OCI_REPO_MAX];
	struct oci_digest d;
	json_t *tags, *icon;
	int complete;
	double at;
};

struct margo_icache {
	pthread_mutex_t mu;
	struct ient *v;
	size_t n, max;
	size_t bytes; /* of all entries, at most MARGO_ICACHE_BYTES */
	unsigned long long clock;
	struct sument *sv;
	size_t n_sv;
};

static double now_mono(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void ient_release(struct ient *e)
{
	for (size_t i = 0; i < e->n_refs; i++)
		free(e->refs[i]);
	for (size_t i = 0; i < e->n_unres; i++)
		free(e->unres[i]);
	free(e->refs);
	free(e->unres);
	memset(e, 0, sizeof(*e));
}

struct margo_icache *margo_icache_new(size_t max)
{
	struct margo_icache *ic = calloc(1, sizeof(*ic));

	if (!ic)
		return NULL;
	ic->max = max ? max : 1;
	ic->v = calloc(ic->max, sizeof(*ic->v));
	ic->sv = calloc(MARGO_SUMMARY_MAX, sizeof(*ic->sv));
	if (!ic->v || !ic->sv) {
		free(ic->v);
		free(ic->sv);
		free(ic);
		return NULL;
	}
	pthread_mutex_init(&ic->mu, NULL);
	return ic;
}

void margo_icache_free(struct margo_icache *ic)
{
	if (!ic)
		return;
	for (size_t i = 0; i < ic->n; i++)
		ient_release(&ic->v[i]);
	for (size_t i = 0; i < ic->n_sv; i++) {
		json_decref(ic->sv[i].tags);
		json_decref(ic->sv[i].icon);
	}
	free(ic->v);
	free(ic->sv);
	pthread_mutex_destroy(&ic->mu);
	free(ic);
}

size_t margo_icache_size(struct margo_icache *ic)
{
	size_t n;

	pthread_mutex_lock(&ic->mu);
	n = ic->n;
	pthread_mutex_unlock(&ic->mu);
	return n;
}

size_t margo_icache_summaries(struct margo_icache *ic)
{
	size_t n;

	pthread_mutex_lock(&ic->mu);
	n = ic->n_sv;
	pthread_mutex_unlock(&ic->mu);
	return n;
}

/* 1 and the entry's values (copies) when (repo, d) is kept from less
 * than MARGO_ICACHE_TTL before now. */
static int summary_get(struct margo_icache *ic, const char *repo,
		       const struct oci_digest *d, double now, json_t **tags,
		       json_t **icon, int *complete)
{
	int found = 0;

	if (!ic)
		return 0;
	pthread_mutex_lock(&ic->mu);
	for (size_t i = 0; i < ic->n_sv; i++) {
		struct sument *e = &ic->sv[i];

		if (strcmp(e->repo, repo) || !oci_digest_equal(&e->d, d))
			continue;
		if (now >= e->at && now - e->at < MARGO_ICACHE_TTL) {
			*tags = json_deep_copy(e->tags);
			*icon = json_deep_copy(e->icon);
			*complete = e->complete;
			found = *tags && *icon;
			if (!found) {
				json_decref(*tags);
				json_decref(*icon);
			}
		}
		break;
	}
	pthread_mutex_unlock(&ic->mu);
	return found;
}

/* Keep (repo, d)'s entry (copies), replacing an older one for the same
 * key, else the oldest when full. */
static void summary_put(struct margo_icache *ic, const char *repo,
			const struct oci_digest *d, double now, json_t *tags,
			json_t *icon, int complete)
{
	struct sument *e = NULL;
	json_t *t, *i;

	if (!ic || strlen(repo) >= sizeof(ic->sv[0].repo))
		return;
	t = json_deep_copy(tags);
	i = json_deep_copy(icon);
	if (!t || !i) {
		json_decref(t);
		json_decref(i);
		return;
	}
	pthread_mutex_lock(&ic->mu);
	for (size_t k = 0; k < ic->n_sv && !e; k++)
		if (!strcmp(ic->sv[k].repo, repo) &&
		    oci_digest_equal(&ic->sv[k].d, d))
			e = &ic->sv[k];
	if (!e && ic->n_sv < MARGO_SUMMARY_MAX)
		e = &ic->sv[ic->n_sv++];
	if (!e) {
		e = &ic->sv[0];
		for (size_t k = 1; k < ic->n_sv; k++)
			if (ic->sv[k].at < e->at)
				e = &ic->sv[k];
	}
	json_decref(e->tags);
	json_decref(e->icon);
	snprintf(e->repo, sizeof(e->repo), "%s", repo);
	e->d = *d;
	e->tags = t;
	e->icon = i;
	e->complete = complete;
	e->at = now;
	pthread_mutex_unlock(&ic->mu);
}

static int strv_copy(char ***out, size_t *n_out, char *const *v, size_t n)
{
	*out = calloc(n + 1, sizeof(**out));
	*n_out = 0;
	if (!*out)
		return ERR_FAIL;
	for (size_t i = 0; i < n; i++) {
		if (!((*out)[i] = strdup(v[i])))
			return ERR_FAIL;
		(*n_out)++;
	}
	return 0;
}

/* A copy of e into dst (dst zeroed first); ERR_FAIL out of memory. */
static int ient_copy(struct ient *dst, const struct ient *e)
{
	memset(dst, 0, sizeof(*dst));
	dst->d = e->d;
	dst->bytes = e->bytes;
	if (strv_copy(&dst->refs, &dst->n_refs, e->refs, e->n_refs) ||
	    strv_copy(&dst->unres, &dst->n_unres, e->unres, e->n_unres)) {
		ient_release(dst);
		return ERR_FAIL;
	}
	return 0;
}

/* 1 and a copy in *out when d is cached; a failure kept less than
 * MARGO_ICACHE_TTL ago: 1 with its code in *failed (else 0). An older
 * failure is dropped: 0. */
static int icache_get(struct margo_icache *ic, const struct oci_digest *d,
		      struct ient *out, int *failed)
{
	int found = 0;

	*failed = 0;
	if (!ic)
		return 0;
	pthread_mutex_lock(&ic->mu);
	for (size_t i = 0; i < ic->n; i++)
		if (oci_digest_equal(&ic->v[i].d, d)) {
			struct ient *e = &ic->v[i];

			if (e->failed &&
			    now_mono() - e->failed_at >= MARGO_ICACHE_TTL) {
				ic->bytes -= e->bytes;
				ient_release(e);
				*e = ic->v[--ic->n];
				break;
			}
			e->used = ++ic->clock;
			if (e->failed) {
				*failed = e->failed;
				found = 1;
			} else {
				found = !ient_copy(out, e);
			}
			break;
		}
	pthread_mutex_unlock(&ic->mu);
	return found;
}

/* Drop the least recently used entry. */
static void icache_evict(struct margo_icache *ic)
{
	size_t k = 0;

	for (size_t i = 1; i < ic->n; i++)
		if (ic->v[i].used < ic->v[k].used)
			k = i;
	ic->bytes -= ic->v[k].bytes;
	ient_release(&ic->v[k]);
	ic->v[k] = ic->v[--ic->n];
}

/* Keep a copy of e, dropping the least recently used entries while the
 * cache is full (in entries or bytes); one larger than the byte bound
 * alone is not kept. */
static void icache_put(struct margo_icache *ic, const struct ient *e)
{
	struct ient c;

	if (!ic || e->bytes > MARGO_ICACHE_BYTES || ient_copy(&c, e))
		return;
	pthread_mutex_lock(&ic->mu);
	for (size_t i = 0; i < ic->n; i++)
		if (oci_digest_equal(&ic->v[i].d, &e->d)) {
			pthread_mutex_unlock(&ic->mu);
			ient_release(&c);
			return;
		}
	while (ic->n &&
	       (ic->n >= ic->max || ic->bytes + c.bytes > MARGO_ICACHE_BYTES))
		icache_evict(ic);
	c.used = ++ic->clock;
	c.failed = e->failed;
	c.failed_at = e->failed_at;
	ic->bytes += c.bytes;
	ic->v[ic->n++] = c;
	pthread_mutex_unlock(&ic->mu);
}

/* Remember that reading archive d failed with rc (for a while); rc. */
static int archive_failed(struct margo_icache *ic, const struct oci_digest *d,
			  int rc)
{
	struct ient e;

	memset(&e, 0, sizeof(e));
	e.d = *d;
	e.failed = rc;
	e.failed_at = now_mono();
	icache_put(ic, &e);
	return rc;
}

/* The images the archive layer of component manifest m names, read from
 * the store (or the cache) into *out. ERR_NOT_FOUND when m has no chart
 * or Compose layer. */
static int archive_images(struct ient *out, const struct store *s,
			  struct margo_icache *ic, const struct oci_manifest *m,
			  struct err *err)
{
	const struct oci_descriptor *layer = NULL;
	struct margo_images l = {0};
	struct oci_digest got;
	char *raw = NULL;
	size_t len = 0;
	int rc, failed, compose = 0;

	memset(out, 0, sizeof(*out));
	for (size_t i = 0; m->kind == OCI_KIND_MANIFEST && i < m->n_layers; i++)
		if (!strcmp(m->layers[i].media_type, MT_HELM_CHART) ||
		    !strcmp(m->layers[i].media_type, MT_COMPOSE_ARCHIVE)) {
			layer = &m->layers[i];
			compose =
			    !strcmp(layer->media_type, MT_COMPOSE_ARCHIVE);
			break;
		}
	if (!layer)
		return err_set(err, ERR_NOT_FOUND, "no chart or Compose layer");
	if (icache_get(ic, &layer->digest, out, &failed))
		return failed ? err_set(err, failed,
					"archive %s failed to read lately",
					layer->digest.str)
			      : 0;
	rc = store_blob_read(&raw, &len, s, &layer->digest, MARGO_ARCHIVE_MAX,
			     err);
	if (rc)
		return archive_failed(ic, &layer->digest, rc);
	oci_digest_of(&got, layer->digest.alg, raw, len);
	if (!oci_digest_equal(&got, &layer->digest)) {
		free(raw);
		err_set(err, ERR_DIGEST, "archive %s does not match its digest",
			layer->digest.str);
		return archive_failed(ic, &layer->digest, ERR_DIGEST);
	}
	rc = compose ? margo_compose_images(&l, raw, len, err)
		     : margo_chart_images(&l, raw, len, err);
	free(raw);
	if (rc)
		return archive_failed(ic, &layer->digest, rc);
	out->d = layer->digest;
	out->refs = calloc(l.n + 1, sizeof(char *));
	out->unres = calloc(l.n + 1, sizeof(char *));
	rc = out->refs && out->unres ? 0 : ERR_FAIL;
	for (size_t i = 0; !rc && i < l.n; i++) {
		char **slot = l.v[i].ref[0] ? &out->refs[out->n_refs++]
					    : &out->unres[out->n_unres++];
		*slot = strdup(l.v[i].ref[0] ? l.v[i].ref : l.v[i].where);
		if (!*slot)
			rc = ERR_FAIL;
		else
			out->bytes += strlen(*slot) + 1 + sizeof(char *);
	}
	margo_images_release(&l);
	if (rc) {
		ient_release(out);
		return err_set(err, ERR_FAIL, "images of %s: out of memory",
			       layer->digest.str);
	}
	icache_put(ic, out);
	return 0;
}

/* One package read from the store. */
struct pkg {
	char tag[OCI_TAG_MAX + 1];
	struct store_ref ref;
	struct oci_manifest m;
	int has_m;
	struct margo_app app;
};

static void pkg_release(struct pkg *p)
{
	if (p->has_m)
		oci_manifest_release(&p->m);
	margo_app_release(&p->app);
	memset(p, 0, sizeof(*p));
}

static int pkg_read(struct pkg *p, const struct store *s, const char *repo,
		    const char *tag, struct err *err)
{
	struct margo_problems probs;
	const struct oci_descriptor *dl;
	char *raw = NULL;
	size_t len = 0;
	int rc;

	memset(p, 0, sizeof(*p));
	snprintf(p->tag, sizeof(p->tag), "%s", tag);
	rc = store_tag_get(&p->ref, s, repo, tag, err);
	if (rc == ERR_NOT_FOUND || rc == ERR_INVALID)
		return err_set(err, ERR_NOT_FOUND, "%s:%s not in the store",
			       repo, tag);
	if (rc)
		return rc;
	rc = store_blob_read(&raw, &len, s, &p->ref.digest, OCI_MANIFEST_MAX,
			     err);
	if (rc)
		return rc;
	rc = oci_manifest_parse(&p->m, raw, len, p->ref.media_type, err);
	free(raw);
	if (rc)
		return err_set(err, ERR_NOT_FOUND,
			       "%s:%s is not a Margo application package", repo,
			       tag);
	p->has_m = 1;
	if (!(dl = margo_package_layer(&p->m, err)))
		return err_set(err, ERR_NOT_FOUND,
			       "%s:%s is not a Margo application package", repo,
			       tag);
	rc = store_blob_read(&raw, &len, s, &dl->digest, MARGO_INPUT_MAX, err);
	if (rc)
		return rc;
	margo_problems_init(&probs);
	rc = margo_app_parse(&p->app, &probs, raw, len, err);
	margo_problems_release(&probs);
	free(raw);
	return rc;
}

/* The title of layer l, or NULL (owned by *tmp: decref it). */
static const char *layer_title(const struct oci_descriptor *l, json_t **tmp)
{
	*tmp = l->annotations_json ? json_loads(l->annotations_json, 0, NULL)
				   : NULL;
	return json_string_value(json_object_get(*tmp, ANN_TITLE));
}

/* The resource layer of p whose title is path, or NULL. */
static const struct oci_descriptor *pkg_layer(const struct pkg *p,
					      const char *path)
{
	for (size_t i = 0; i < p->m.n_layers; i++) {
		const struct oci_descriptor *l = &p->m.layers[i];
		json_t *tmp;
		const char *t;
		int same;

		if (!strcmp(l->media_type, MT_MARGO_DESC))
			continue;
		t = layer_title(l, &tmp);
		same = t && !strcmp(t, path);
		json_decref(tmp);
		if (same)
			return l;
	}
	return NULL;
}

/* A resource field of the description as the title of its layer, or
 * null when it names none the package holds. */
static json_t *resource_json(const struct pkg *p, const struct margo_str *f)
{
	char norm[1024];

	if (!f->v || margo_resource_is_url(f->v) ||
	    margo_resource_path(norm, sizeof(norm), NULL, 0, NULL, f->v, NULL))
		return json_null();
	return pkg_layer(p, norm) ? json_string(norm) : json_null();
}

static json_t *str_or_null(const struct margo_str *s)
{
	return s->v ? json_string(s->v) : json_null();
}

/* The profile's architectures as platforms (linux/ARCH); 0: all. */
static size_t profile_platforms(struct oci_platform *out, size_t max,
				const struct margo_profile *pr)
{
	size_t n = 0;

	for (size_t i = 0; i < pr->n_architectures && n < max; i++) {
		char a[48], full[64];

		if (!pr->architectures[i].v ||
		    margo_arch_norm(a, sizeof(a), pr->architectures[i].v))
			continue;
		snprintf(full, sizeof(full), "linux/%s", a);
		if (!oci_platform_parse(&out[n], full, NULL))
			n++;
	}
	return n;
}

/* 1 when the store holds ref (as pull stores it: HOST/PATH at the tag, or
 * at the digest) complete for plats. */
static int ref_present(const struct store *s, const struct oci_ref *r,
		       const struct oci_platform *plats, size_t n,
		       struct oci_digest *d_out)
{
	char repo[OCI_REPO_MAX];
	struct store_ref sr;

	oci_ref_repo(r, repo, sizeof(repo));
	if (r->has_digest)
		*d_out = r->digest;
	else if (store_tag_get(&sr, s, repo, r->tag, NULL))
		return 0;
	else
		*d_out = sr.digest;
	return fresh_manifest_complete(s, repo, d_out, plats, n);
}

static void missing_add(json_t *missing, const char *what)
{
	size_t i;
	json_t *v;

	json_array_foreach (missing, i, v)
		if (!strcmp(json_string_value(v), what))
			return;
	json_array_append_new(missing, json_string(what));
}

/* A component's entry: present, its images; what is not held goes to
 * missing and clears *complete. */
static json_t *component_json(const struct store *s, struct margo_icache *ic,
			      const struct margo_component *k,
			      const struct oci_platform *plats, size_t np,
			      json_t *missing, int *complete)
{
	json_t *jc = json_object(), *imgs = json_array(), *unres = json_array();
	char spec[OCI_REF_STR_MAX], shown[OCI_REF_STR_MAX + 8];
	const char *repo = k->repository.v;
	struct oci_ref r;
	struct oci_digest d;
	int present = 0;

	json_object_set_new(jc, "name", str_or_null(&k->name));
	json_object_set_new(jc, "repository", str_or_null(&k->repository));
	json_object_set_new(jc, "revision", str_or_null(&k->revision));
	if (repo && !strncmp(repo, "oci://", 6))
		repo += 6;
	snprintf(spec, sizeof(spec), "%s:%s", repo ? repo : "",
		 k->revision.v ? k->revision.v : "");
	for (char *q = strrchr(spec, ':'); q && *q; q++)
		if (*q == '+')
			*q = '_';
	if (repo && k->revision.v && !oci_ref_parse(&r, spec, NULL)) {
		oci_ref_format(&r, shown, sizeof(shown));
		present = ref_present(s, &r, NULL, 0, &d);
	} else {
		snprintf(shown, sizeof(shown), "%s", spec);
	}
	if (present) {
		char *raw = NULL;
		size_t len = 0;
		struct oci_manifest m;
		struct ient e;

		memset(&e, 0, sizeof(e));
		if (!store_blob_read(&raw, &len, s, &d, OCI_MANIFEST_MAX,
				     NULL) &&
		    !oci_manifest_parse(&m, raw, len, NULL, NULL)) {
			if (!archive_images(&e, s, ic, &m, NULL)) {
				for (size_t i = 0; i < e.n_refs; i++) {
					struct oci_ref ir;
					struct oci_digest id;
					int ip =
					    !oci_ref_parse(&ir, e.refs[i],
							   NULL) &&
					    ref_present(s, &ir, plats, np, &id);

					json_array_append_new(
					    imgs, json_pack("{s:s,s:b}", "ref",
							    e.refs[i],
							    "present", ip));
					if (!ip) {
						missing_add(missing, e.refs[i]);
						*complete = 0;
					}
				}
				for (size_t i = 0; i < e.n_unres; i++)
					json_array_append_new(
					    unres, json_string(e.unres[i]));
				ient_release(&e);
			}
			oci_manifest_release(&m);
		}
		free(raw);
	} else {
		missing_add(missing, shown);
		*complete = 0;
	}
	json_object_set_new(jc, "present", json_boolean(present));
	json_object_set_new(jc, "images", imgs);
	json_object_set_new(jc, "unresolved", unres);
	return jc;
}

/* A number when s is one ("2", "1.5"), else the string as written. */
static json_t *number_or_str(const struct margo_str *s)
{
	char *end;
	double v;

	if (!s->v)
		return json_null();
	v = strtod(s->v, &end);
	if (end != s->v && !*end)
		return v == (double)(long long)v ? json_integer((long long)v)
						 : json_real(v);
	return json_string(s->v);
}

static json_t *parts_json(const struct margo_device_part *v, size_t n, int full)
{
	json_t *a = json_array();

	for (size_t i = 0; i < n; i++)
		json_array_append_new(
		    a,
		    full ? json_pack("{s:o,s:o,s:o}", "type",
				     str_or_null(&v[i].type), "manufacturer",
				     str_or_null(&v[i].manufacturer), "model",
				     str_or_null(&v[i].model))
			 : json_pack("{s:o}", "type", str_or_null(&v[i].type)));
	return a;
}

static json_t *resources_json(const struct margo_profile *pr)
{
	json_t *archs = json_array();

	if (!pr->resources_key)
		return json_null();
	for (size_t i = 0; i < pr->n_architectures; i++)
		if (pr->architectures[i].v) {
			char a[48];

			margo_arch_canonical(a, sizeof(a),
					     pr->architectures[i].v);
			json_array_append_new(archs, json_string(a));
		}
	return json_pack(
	    "{s:{s:o,s:o},s:o,s:o,s:o,s:o}", "cpu", "cores",
	    number_or_str(&pr->cores), "architectures", archs, "memory",
	    str_or_null(&pr->memory), "storage", str_or_null(&pr->storage),
	    "peripherals", parts_json(pr->peripherals, pr->n_peripherals, 1),
	    "interfaces", parts_json(pr->interfaces, pr->n_interfaces, 0));
}

static json_t *profile_json(const struct store *s, struct margo_icache *ic,
			    const struct margo_profile *pr, int *all_complete)
{
	struct oci_platform plats[MARGO_ARCH_MAX];
	size_t np = profile_platforms(plats, MARGO_ARCH_MAX, pr);
	json_t *comps = json_array(), *missing = json_array(), *jp;
	int complete = 1;

	for (size_t k = 0; k < pr->n_components; k++)
		json_array_append_new(
		    comps, component_json(s, ic, &pr->components[k], plats, np,
					  missing, &complete));
	jp = json_pack("{s:o,s:o,s:o,s:o,s:o,s:b,s:o}", "type",
		       str_or_null(&pr->type), "id", str_or_null(&pr->id),
		       "description", str_or_null(&pr->description),
		       "requiredResources", resources_json(pr), "components",
		       comps, "complete", complete, "missing", missing);
	if (!complete)
		*all_complete = 0;
	return jp;
}

static json_t *people_json(const struct margo_person *v, size_t n, int orgs)
{
	json_t *a = json_array();

	for (size_t i = 0; i < n; i++)
		json_array_append_new(
		    a, orgs ? json_pack("{s:o,s:o}", "name",
					str_or_null(&v[i].name), "site",
					str_or_null(&v[i].site))
			    : json_pack("{s:o,s:o}", "name",
					str_or_null(&v[i].name), "email",
					str_or_null(&v[i].email)));
	return a;
}

static json_t *tags_json(const struct margo_app *a)
{
	json_t *t = json_array();

	for (size_t i = 0; i < a->n_tags; i++)
		if (a->tags[i].v)
			json_array_append_new(t, json_string(a->tags[i].v));
	return t;
}

/* The profiles of p (and whether all are complete). */
static json_t *profiles_json(const struct store *s, struct margo_icache *ic,
			     const struct pkg *p, int *complete)
{
	json_t *profs = json_array();

	*complete = 1;
	for (size_t i = 0; i < p->app.n_profiles; i++)
		json_array_append_new(
		    profs, profile_json(s, ic, &p->app.profiles[i], complete));
	return profs;
}

struct vers {
	json_t *tags;
	int truncated;
};

/* The tags that may be package versions, by name only (no description
 * read); at most MARGO_BROWSE_VERSIONS_MAX. */
static int collect_version(void *ctx, const char *repo, const char *tag,
			   const struct store_ref *ref)
{
	struct vers *v = ctx;
	char *const one[] = {(char *)tag};

	(void)repo;
	(void)ref;
	if (!tag || !margo_version_highest(one, 1))
		return 0;
	if (json_array_size(v->tags) >= MARGO_BROWSE_VERSIONS_MAX) {
		v->truncated = 1;
		return 0;
	}
	json_array_append_new(v->tags, json_string(tag));
	return 0;
}

/* The highest version in tags that is a package, read into *p; tries a
 * bounded number of the highest ones. */
static int pkg_read_highest(struct pkg *p, const struct store *s,
			    const char *repo, json_t *tags, struct err *err)
{
	size_t n = json_array_size(tags);
	char **names = calloc(n + 1, sizeof(char *));
	int rc = ERR_NOT_FOUND;

	memset(p, 0, sizeof(*p));
	if (!names)
		return err_set(err, ERR_FAIL, "%s: out of memory", repo);
	for (size_t i = 0; i < n; i++)
		names[i] = (char *)json_string_value(json_array_get(tags, i));
	for (int tries = 0; tries < 16 && rc == ERR_NOT_FOUND; tries++) {
		const char *tag = margo_version_highest(names, n);
		size_t k;

		if (!tag)
			break;
		rc = pkg_read(p, s, repo, tag, err);
		if (rc != ERR_NOT_FOUND)
			break;
		pkg_release(p);
		for (k = 0; names[k] != tag; k++)
			;
		names[k] = names[--n];
	}
	free(names);
	if (rc == ERR_NOT_FOUND)
		return err_set(err, ERR_NOT_FOUND,
			       "%s: no Margo application package in the store",
			       repo);
	return rc;
}

int margo_browse_app(json_t **out, const struct store *s,
		     struct margo_icache *ic, const char *repo, const char *tag,
		     struct err *err)
{
	struct vers v = {json_array(), 0};
	struct pkg p;
	json_t *j, *profs;
	int rc, complete;

	*out = NULL;
	if (!store_repo_exists(s, repo)) {
		json_decref(v.tags);
		return err_set(err, ERR_NOT_FOUND, "repository %s not known",
			       repo);
	}
	if ((rc = walk_tags(s, repo, collect_version, &v, err))) {
		json_decref(v.tags);
		return rc < 0 ? rc : ERR_FAIL;
	}
	rc = tag ? pkg_read(&p, s, repo, tag, err)
		 : pkg_read_highest(&p, s, repo, v.tags, err);
	if (rc) {
		pkg_release(&p);
		json_decref(v.tags);
		return rc;
	}
	profs = profiles_json(s, ic, &p, &complete);
	j = json_object();
	json_object_set_new(j, "repository", json_string(repo));
	json_object_set_new(j, "tag", json_string(p.tag));
	json_object_set_new(j, "digest", json_string(p.ref.digest.str));
	json_object_set_new(j, "versions", v.tags);
	json_object_set_new(j, "versionsTruncated", json_boolean(v.truncated));
	json_object_set_new(j, "id", str_or_null(&p.app.id));
	json_object_set_new(j, "name", str_or_null(&p.app.name));
	json_object_set_new(j, "version", str_or_null(&p.app.version));
	json_object_set_new(j, "description", str_or_null(&p.app.description));
	json_object_set_new(j, "tagline", str_or_null(&p.app.tagline));
	json_object_set_new(j, "site", str_or_null(&p.app.site));
	json_object_set_new(j, "tags", tags_json(&p.app));
	json_object_set_new(
	    j, "organization",
	    people_json(p.app.organizations, p.app.n_organizations, 1));
	json_object_set_new(j, "author",
			    people_json(p.app.authors, p.app.n_authors, 0));
	json_object_set_new(
	    j, "resources",
	    json_pack("{s:o,s:o,s:o,s:o}", "icon",
		      resource_json(&p, &p.app.icon), "descriptionFile",
		      resource_json(&p, &p.app.description_file),
		      "releaseNotes", resource_json(&p, &p.app.release_notes),
		      "licenseFile", resource_json(&p, &p.app.license_file)));
	json_object_set_new(j, "profiles", profs);
	json_object_set_new(j, "complete", json_boolean(complete));
	pkg_release(&p);
	*out = j;
	return 0;
}

json_t *margo_browse_apps_at(const struct store *s, struct margo_icache *ic,
			     double now, struct err *err)
{
	json_t *apps = margo_catalog(s, err), *a;
	size_t i;

	if (!apps)
		return NULL;
	json_array_foreach (apps, i, a) {
		const char *repo =
		    json_string_value(json_object_get(a, "repository"));
		const char *tag = json_string_value(json_object_get(a, "tag"));
		const char *ds =
		    json_string_value(json_object_get(a, "digest"));
		json_t *tags = NULL, *icon = NULL;
		struct oci_digest d;
		int complete = 0, keyed;
		struct pkg p;

		memset(&p, 0, sizeof(p));
		keyed = repo && ds && !oci_digest_parse(&d, ds, NULL);
		if (keyed &&
		    summary_get(ic, repo, &d, now, &tags, &icon, &complete)) {
			/* kept from a moment ago */
		} else if (repo && tag && !pkg_read(&p, s, repo, tag, NULL)) {
			json_decref(profiles_json(s, ic, &p, &complete));
			tags = tags_json(&p.app);
			icon = resource_json(&p, &p.app.icon);
			if (keyed && oci_digest_equal(&d, &p.ref.digest))
				summary_put(ic, repo, &d, now, tags, icon,
					    complete);
		} else {
			tags = json_array();
			icon = json_null();
		}
		pkg_release(&p);
		json_object_set_new(a, "tags", tags);
		json_object_set_new(a, "icon", icon);
		json_object_set_new(a, "complete", json_boolean(complete));
	}
	return apps;
}

json_t *margo_browse_apps(const struct store *s, struct margo_icache *ic,
			  struct err *err)
{
	return margo_browse_apps_at(s, ic, now_mono(), err);
}

int margo_browse_resource(struct oci_digest *digest_out, int64_t *size_out,
			  char *media_type, size_t cap, const struct store *s,
			  const char *repo, const char *tag, const char *path,
			  struct err *err)
{
	const struct oci_descriptor *l;
	struct pkg p;
	int rc = pkg_read(&p, s, repo, tag, err);

	if (!rc) {
		l = pkg_layer(&p, path);
		if (!l) {
			rc = err_set(err, ERR_NOT_FOUND,
				     "%s:%s has no resource %s", repo, tag,
				     path);
		} else {
			*digest_out = l->digest;
			*size_out = l->size;
			snprintf(media_type, cap, "%s", l->media_type);
		}
	}
	pkg_release(&p);
	return rc;
}

const char *margo_resource_content_type(const char *mt, int *is_image)
{
	static const struct {
		const char *sub, *ctype;
		int image;
	} types[] = {
	    {"png", "image/png", 1},
	    {"svg", "image/svg+xml", 1},
	    {"svg+xml", "image/svg+xml", 1},
	    {"jpeg", "image/jpeg", 1},
	    {"jpg", "image/jpeg", 1},
	    {"markdown", "text/markdown; charset=utf-8", 0},
	    {"md", "text/markdown; charset=utf-8", 0},
	    {"plain", "text/plain; charset=utf-8", 0},
	    {"txt", "text/plain; charset=utf-8", 0},
	    {"pdf", "application/pdf", 0},
	};
	const char *plus = mt ? strchr(mt, '+') : NULL;

	*is_image = 0;
	if (plus && !strncmp(mt, "application/vnd.margo.app.", 26))
		for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
			if (!strcmp(plus + 1, types[i].sub)) {
				*is_image = types[i].image;
				return types[i].ctype;
			}
	return "application/octet-stream";
}
