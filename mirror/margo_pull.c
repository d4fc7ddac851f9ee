/* Mirroring a Margo application. See margo_pull.h. */
#include "mirror/margo_pull.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mirror/margo.h"
#include "mirror/margo_catalog.h"
#include "mirror/margo_images.h"
#include "mirror/pull.h"
#include "mirror/sync.h"
#include "oci/manifest.h"
#include "oci/platform.h"

struct archset {
	int all;
	size_t n;
	char v[MARGO_ARCH_MAX][48];
};

struct comp {
	char key[OCI_REF_STR_MAX]; /* repository:revision as written */
	struct oci_ref r;
	char repo[OCI_REPO_MAX];
	struct archset arch;
	const char *profile_type;
	enum margo_node_state state;
	char msg[ERR_MSG_MAX];
	int has_digest;
	struct oci_digest digest;
	uint64_t bytes;
	int updated;
	char kind[64];
	struct margo_images imgs;
};

struct img {
	char ref[OCI_REF_STR_MAX];
	struct oci_ref r;
	char repo[OCI_REPO_MAX];
	struct archset arch;
	struct oci_platform plats[MARGO_ARCH_MAX];
	size_t n_plats;
	enum margo_node_state state;
	char msg[ERR_MSG_MAX];
	int has_digest;
	struct oci_digest digest;
	uint64_t bytes;
	int updated, had_old;
	struct oci_digest old;
};

struct ctx {
	struct store *s;
	struct reg_pool *pool;
	const struct margo_pull_options *o;
	struct archset want;
	struct comp *comps;
	size_t n_comps;
	struct img *imgs;
	size_t n_imgs;
	struct margo_pull_report *rep;
};

const char *margo_node_state_name(enum margo_node_state s)
{
	switch (s) {
	case MARGO_STORED: return "stored";
	case MARGO_UNCHANGED: return "unchanged";
	case MARGO_SKIPPED: return "skipped";
	case MARGO_FAILED: return "failed";
	}
	return "?";
}

const char *margo_node_kind_name(enum margo_node_kind k)
{
	switch (k) {
	case MARGO_NODE_PACKAGE: return "package";
	case MARGO_NODE_PROFILE: return "profile";
	case MARGO_NODE_COMPONENT: return "component";
	case MARGO_NODE_IMAGE: return "image";
	}
	return "?";
}

void margo_pull_report_release(struct margo_pull_report *r)
{
	free(r->v);
	memset(r, 0, sizeof(*r));
}

static struct margo_node *node_add(struct margo_pull_report *r,
				   enum margo_node_kind kind, int depth,
				   enum margo_node_state state,
				   const char *name)
{
	struct margo_node *n;

	if (r->n == r->cap) {
		size_t cap = r->cap ? 2 * r->cap : 16;
		struct margo_node *v = realloc(r->v, cap * sizeof(*v));

		if (!v)
			return NULL;
		r->v = v;
		r->cap = cap;
	}
	n = &r->v[r->n++];
	memset(n, 0, sizeof(*n));
	n->kind = kind;
	n->depth = depth;
	n->state = state;
	snprintf(n->name, sizeof(n->name), "%s", name);
	if (state == MARGO_FAILED)
		r->failed++;
	return n;
}

/* "arm64", "arm/v7": the architecture part of linux/ARCH, normalised. */
static int arch_norm(char *dst, size_t cap, const char *arch)
{
	struct oci_platform p;
	char full[128], plat[128];

	snprintf(full, sizeof(full), "linux/%s", arch);
	if (oci_platform_parse(&p, full, NULL))
		return -1;
	oci_platform_format(&p, plat, sizeof(plat));
	snprintf(dst, cap, "%s", plat + 6);
	return 0;
}

static int archset_has(const struct archset *a, const char *arch)
{
	for (size_t i = 0; i < a->n; i++)
		if (!strcmp(a->v[i], arch))
			return 1;
	return 0;
}

static void archset_add(struct archset *a, const char *arch)
{
	if (!archset_has(a, arch) && a->n < MARGO_ARCH_MAX)
		snprintf(a->v[a->n++], sizeof(a->v[0]), "%s", arch);
}

static void archset_merge(struct archset *dst, const struct archset *src)
{
	if (src->all)
		dst->all = 1;
	for (size_t i = 0; i < src->n; i++)
		archset_add(dst, src->v[i]);
}

static void archset_format(char *dst, size_t cap, const struct archset *a)
{
	size_t o = 0;

	dst[0] = '\0';
	if (a->all) {
		snprintf(dst, cap, "all platforms");
		return;
	}
	for (size_t i = 0; i < a->n && o < cap; i++)
		o += (size_t)snprintf(dst + o, cap - o, "%slinux/%s",
				      i ? "," : "", a->v[i]);
}

static int type_is(const char *type, const char *want)
{
	size_t n = strlen(want);

	/* older drafts: helm.v3 */
	return type && !strncmp(type, want, n) && (!type[n] || type[n] == '.');
}

/* The architectures a profile is mirrored for, or -1 when none of the
 * wanted ones. */
static int profile_arch(const struct ctx *c, const struct margo_profile *p,
			struct archset *out)
{
	memset(out, 0, sizeof(*out));
	if (!p->n_architectures) {
		*out = c->want;
		return 0;
	}
	for (size_t i = 0; i < p->n_architectures; i++) {
		char a[48];

		if (!p->architectures[i].v ||
		    arch_norm(a, sizeof(a), p->architectures[i].v))
			continue;
		if (c->want.all || archset_has(&c->want, a))
			archset_add(out, a);
	}
	return out->n ? 0 : -1;
}

static void comp_key(char *dst, size_t cap, const struct margo_component *k)
{
	snprintf(dst, cap, "%s:%s", k->repository.v ? k->repository.v : "?",
		 k->revision.v ? k->revision.v : "?");
}

static struct comp *comp_find(struct ctx *c, const char *key)
{
	for (size_t i = 0; i < c->n_comps; i++)
		if (!strcmp(c->comps[i].key, key))
			return &c->comps[i];
	return NULL;
}

static int comp_add(struct ctx *c, const struct margo_profile *p,
		    const struct margo_component *k, const struct archset *arch)
{
	char key[OCI_REF_STR_MAX], spec[OCI_REF_STR_MAX];
	struct comp *m;
	const char *repo;
	struct err e;

	comp_key(key, sizeof(key), k);
	m = comp_find(c, key);
	if (m) {
		archset_merge(&m->arch, arch);
		return 0;
	}
	m = realloc(c->comps, (c->n_comps + 1) * sizeof(*m));
	if (!m)
		return ERR_FAIL;
	c->comps = m;
	m = &c->comps[c->n_comps++];
	memset(m, 0, sizeof(*m));
	snprintf(m->key, sizeof(m->key), "%s", key);
	m->arch = *arch;
	m->profile_type = p->type.v;
	m->state = MARGO_STORED;
	repo = k->repository.v;
	if (!repo || !k->revision.v) {
		m->state = MARGO_FAILED;
		snprintf(m->msg, sizeof(m->msg), "component %s names no %s",
			 k->name.v ? k->name.v : "?",
			 repo ? "revision" : "repository");
		return 0;
	}
	if (!strncmp(repo, "oci://", 6))
		repo += 6;
	snprintf(spec, sizeof(spec), "%s:%s", repo, k->revision.v);
	for (char *q = strrchr(spec, ':'); q && *q; q++)
		if (*q == '+')
			*q = '_';
	if (oci_ref_parse(&m->r, spec, &e)) {
		m->state = MARGO_FAILED;
		snprintf(m->msg, sizeof(m->msg), "%s", e.msg);
		return 0;
	}
	oci_ref_repo(&m->r, m->repo, sizeof(m->repo));
	return 0;
}

/* With check_first: 1 when repo:tag upstream is what the store holds. */
static int current(struct ctx *c, const struct oci_ref *r, const char *repo,
		   const struct oci_platform *plats, size_t n,
		   struct oci_digest *d, struct err *e)
{
	struct reg_client *cl;

	if (r->has_digest) {
		*d = r->digest;
		return sync_manifest_complete(c->s, repo, d, plats, n);
	}
	if (!c->o->check_first)
		return 0;
	if (reg_pool_get(c->pool, &cl, r->host, e) ||
	    sync_head_tag(cl, r->path, r->tag, d, e))
		return -1;
	return sync_tag_current(c->s, repo, r->tag, d, plats, n);
}

/* 1 when repo:tag exists and points at another digest than d. */
static int moved(const struct store *s, const char *repo, const char *tag,
		 const struct oci_digest *d)
{
	struct store_ref old;

	return tag[0] && !store_tag_get(s, repo, tag, &old, NULL) &&
	       !oci_digest_equal(&old.digest, d);
}

/* Forget a refused artifact: no tag, no manifest record, no blob record
 * in repo (gc removes the bytes no one else holds). */
static void drop(struct store *s, const char *repo, const struct oci_digest *d,
		 const struct oci_manifest *m)
{
	store_manifest_unlink(s, repo, d, NULL);
	if (m->has_config)
		store_blob_unlink(s, repo, &m->config.digest, NULL);
	for (size_t i = 0; i < m->n_layers; i++)
		store_blob_unlink(s, repo, &m->layers[i].digest, NULL);
}

static int set_tag(struct store *s, const char *repo, const char *tag,
		   const struct oci_digest *d, struct err *e)
{
	struct store_ref sr;
	int rc = store_manifest_get(s, repo, d, &sr, e);

	return rc ? rc : store_tag_set(s, repo, tag, &sr, e);
}

/* Read the chart or Compose archive of a stored component. */
static void comp_inspect(struct ctx *c, struct comp *m)
{
	struct oci_manifest man;
	const struct oci_descriptor *layer = NULL;
	struct oci_digest got;
	struct err e;
	char *raw = NULL;
	size_t len = 0;
	int rc, compose = 0;

	err_clear(&e);
	rc =
	    store_blob_read(c->s, &m->digest, OCI_MANIFEST_MAX, &raw, &len, &e);
	if (!rc)
		rc = oci_manifest_parse(&man, raw, len, NULL, &e);
	free(raw);
	raw = NULL;
	if (rc) {
		m->state = MARGO_FAILED;
		snprintf(m->msg, sizeof(m->msg), "%s", e.msg);
		return;
	}
	for (size_t i = 0; man.kind == OCI_KIND_MANIFEST && i < man.n_layers;
	     i++) {
		if (!strcmp(man.layers[i].media_type, MT_HELM_CHART) ||
		    !strcmp(man.layers[i].media_type, MT_COMPOSE_ARCHIVE)) {
			layer = &man.layers[i];
			compose =
			    !strcmp(layer->media_type, MT_COMPOSE_ARCHIVE);
			break;
		}
	}
	if (!layer) {
		snprintf(m->kind, sizeof(m->kind), "artifact");
		if (type_is(m->profile_type, "helm") ||
		    type_is(m->profile_type, "compose")) {
			m->state = MARGO_FAILED;
			snprintf(m->msg, sizeof(m->msg),
				 "no %s layer: the images it runs are unknown",
				 type_is(m->profile_type, "helm")
				     ? MT_HELM_CHART
				     : MT_COMPOSE_ARCHIVE);
		}
		goto tag;
	}
	snprintf(m->kind, sizeof(m->kind), "%s",
		 compose ? "compose" : "helm chart");
	if (layer->size < 0 || (uint64_t)layer->size > MARGO_ARCHIVE_MAX) {
		rc = err_set(&e, ERR_TOO_LARGE,
			     "archive of %lld bytes (over %u)",
			     (long long)layer->size, MARGO_ARCHIVE_MAX);
	} else {
		rc = store_blob_read(c->s, &layer->digest, MARGO_ARCHIVE_MAX,
				     &raw, &len, &e);
		/* the digest again, on the bytes about to be opened */
		if (!rc)
			oci_digest_of(&got, layer->digest.alg, raw, len);
		if (!rc && (!oci_digest_equal(&got, &layer->digest) ||
			    len != (size_t)layer->size))
			rc = err_set(&e, ERR_DIGEST,
				     "archive %s does not match its digest "
				     "(read %s, %zu bytes); run ocimirror "
				     "verify",
				     layer->digest.str, got.str, len);
	}
	if (!rc)
		rc = compose ? margo_compose_images(&m->imgs, raw, len, &e)
			     : margo_chart_images(&m->imgs, raw, len, &e);
	free(raw);
	if (rc) {
		m->state = MARGO_FAILED;
		snprintf(m->msg, sizeof(m->msg), "%s", e.msg);
		if (rc == ERR_INVALID || rc == ERR_TOO_LARGE) {
			/* refused: nothing of it stays reachable */
			drop(c->s, m->repo, &m->digest, &man);
			m->has_digest = 0;
			margo_images_release(&m->imgs);
		}
		oci_manifest_release(&man);
		return;
	}
tag:
	oci_manifest_release(&man);
	if (m->r.tag[0] && set_tag(c->s, m->repo, m->r.tag, &m->digest, &e)) {
		m->state = MARGO_FAILED;
		snprintf(m->msg, sizeof(m->msg), "%s", e.msg);
	}
}

static int img_add(struct ctx *c, const struct margo_image *im,
		   const struct archset *arch)
{
	struct img *g;
	struct err e;

	for (size_t i = 0; i < c->n_imgs; i++)
		if (!strcmp(c->imgs[i].ref, im->ref)) {
			archset_merge(&c->imgs[i].arch, arch);
			return 0;
		}
	g = realloc(c->imgs, (c->n_imgs + 1) * sizeof(*g));
	if (!g)
		return ERR_FAIL;
	c->imgs = g;
	g = &c->imgs[c->n_imgs++];
	memset(g, 0, sizeof(*g));
	snprintf(g->ref, sizeof(g->ref), "%s", im->ref);
	g->arch = *arch;
	g->state = MARGO_STORED;
	if (oci_ref_parse(&g->r, im->ref, &e)) { /* already canonical */
		g->state = MARGO_FAILED;
		snprintf(g->msg, sizeof(g->msg), "%s", e.msg);
	}
	oci_ref_repo(&g->r, g->repo, sizeof(g->repo));
	return 0;
}

static struct img *img_find(struct ctx *c, const char *ref)
{
	for (size_t i = 0; i < c->n_imgs; i++)
		if (!strcmp(c->imgs[i].ref, ref))
			return &c->imgs[i];
	return NULL;
}

/* One pull for the components (no tags yet), then their archives. */
static int pull_components(struct ctx *c)
{
	struct pull_item *items = calloc(c->n_comps + 1, sizeof(*items));
	struct pull_result *res = calloc(c->n_comps + 1, sizeof(*res));
	size_t *which = calloc(c->n_comps + 1, sizeof(*which));
	struct pull_options po;
	size_t n = 0;

	if (!items || !res || !which) {
		free(items);
		free(res);
		free(which);
		return ERR_FAIL;
	}
	for (size_t i = 0; i < c->n_comps; i++) {
		struct comp *m = &c->comps[i];
		struct err e;
		int cur;

		if (m->state == MARGO_FAILED)
			continue;
		err_clear(&e);
		cur = current(c, &m->r, m->repo, NULL, 0, &m->digest, &e);
		if (cur < 0) {
			m->state = MARGO_FAILED;
			snprintf(m->msg, sizeof(m->msg), "%s", e.msg);
			continue;
		}
		if (cur) {
			m->state = MARGO_UNCHANGED;
			m->has_digest = 1;
			continue;
		}
		items[n].ref = m->r;
		if (c->o->check_first) {
			items[n].ref.has_digest = 1; /* what HEAD said */
			items[n].ref.digest = m->digest;
		}
		items[n].referrers = c->o->referrers;
		items[n].no_tag = 1;
		which[n++] = i;
	}
	memset(&po, 0, sizeof(po));
	po.concurrency = c->o->concurrency > 0 ? c->o->concurrency : 8;
	po.progress = c->o->progress;
	po.ctx = c->o->ctx;
	if (n)
		pull_run(c->s, c->pool, items, n, &po, res);
	for (size_t k = 0; k < n; k++) {
		struct comp *m = &c->comps[which[k]];

		m->bytes = res[k].bytes_fetched;
		if (res[k].result) {
			m->state = MARGO_FAILED;
			snprintf(m->msg, sizeof(m->msg), "%s", res[k].err.msg);
		} else {
			m->has_digest = 1;
			m->digest = res[k].digest;
			m->updated = moved(c->s, m->repo, m->r.tag, &m->digest);
		}
	}
	for (size_t i = 0; i < c->n_comps; i++)
		if (c->comps[i].has_digest)
			comp_inspect(c, &c->comps[i]);
	free(items);
	free(res);
	free(which);
	return 0;
}

static int pull_images(struct ctx *c)
{
	struct pull_item *items;
	struct pull_result *res;
	size_t *which, n = 0;
	struct pull_options po;

	for (size_t i = 0; i < c->n_comps; i++) {
		const struct comp *m = &c->comps[i];

		if (m->state == MARGO_FAILED && !m->has_digest)
			continue;
		for (size_t k = 0; k < m->imgs.n; k++)
			if (m->imgs.v[k].ref[0] &&
			    img_add(c, &m->imgs.v[k], &m->arch))
				return ERR_FAIL;
	}
	items = calloc(c->n_imgs + 1, sizeof(*items));
	res = calloc(c->n_imgs + 1, sizeof(*res));
	which = calloc(c->n_imgs + 1, sizeof(*which));
	if (!items || !res || !which) {
		free(items);
		free(res);
		free(which);
		return ERR_FAIL;
	}
	for (size_t i = 0; i < c->n_imgs; i++) {
		struct img *g = &c->imgs[i];
		struct err e;
		int cur;

		if (g->state == MARGO_FAILED)
			continue;
		for (size_t k = 0; !g->arch.all && k < g->arch.n; k++) {
			char full[64];

			snprintf(full, sizeof(full), "linux/%s", g->arch.v[k]);
			if (!oci_platform_parse(&g->plats[g->n_plats], full,
						NULL))
				g->n_plats++;
		}
		err_clear(&e);
		cur = current(c, &g->r, g->repo, g->plats, g->n_plats,
			      &g->digest, &e);
		if (cur < 0) {
			g->state = MARGO_FAILED;
			snprintf(g->msg, sizeof(g->msg), "%s", e.msg);
			continue;
		}
		if (cur) {
			g->state = MARGO_UNCHANGED;
			g->has_digest = 1;
			continue;
		}
		items[n].ref = g->r;
		if (c->o->check_first && !g->r.has_digest) {
			items[n].ref.has_digest = 1;
			items[n].ref.digest = g->digest;
		}
		{
			struct store_ref o;

			g->had_old =
			    g->r.tag[0] &&
			    !store_tag_get(c->s, g->repo, g->r.tag, &o, NULL);
			if (g->had_old)
				g->old = o.digest;
		}
		items[n].platforms = g->n_plats ? g->plats : NULL;
		items[n].n_platforms = g->n_plats;
		items[n].referrers = c->o->referrers;
		which[n++] = i;
	}
	memset(&po, 0, sizeof(po));
	po.concurrency = c->o->concurrency > 0 ? c->o->concurrency : 8;
	po.progress = c->o->progress;
	po.ctx = c->o->ctx;
	if (n)
		pull_run(c->s, c->pool, items, n, &po, res);
	for (size_t k = 0; k < n; k++) {
		struct img *g = &c->imgs[which[k]];

		g->bytes = res[k].bytes_fetched;
		if (res[k].result) {
			g->state = MARGO_FAILED;
			snprintf(g->msg, sizeof(g->msg), "%s", res[k].err.msg);
		} else {
			g->has_digest = 1;
			g->digest = res[k].digest;
			g->updated = g->had_old &&
				     !oci_digest_equal(&g->old, &g->digest);
		}
	}
	free(items);
	free(res);
	free(which);
	return 0;
}

/* The tree: profiles, their components, the images of each. */
static int build_tree(struct ctx *c, const struct margo_app *app,
		      const char *const *skip_reason)
{
	struct margo_pull_report *rep = c->rep;

	for (size_t i = 0; i < app->n_profiles; i++) {
		const struct margo_profile *p = &app->profiles[i];
		struct margo_node *nd;
		char name[300];
		size_t o = 0;

		snprintf(name, sizeof(name), "%s %s",
			 p->type.v ? p->type.v : "?", p->id.v ? p->id.v : "?");
		nd = node_add(rep, MARGO_NODE_PROFILE, 1,
			      skip_reason[i] ? MARGO_SKIPPED : MARGO_STORED,
			      name);
		if (!nd)
			return ERR_FAIL;
		for (size_t k = 0; k < p->n_architectures && o < 200; k++)
			o += (size_t)snprintf(
			    nd->detail + o, sizeof(nd->detail) - o, "%s%s",
			    k ? "," : "[",
			    p->architectures[k].v ? p->architectures[k].v
						  : "?");
		snprintf(nd->detail + o, sizeof(nd->detail) - o, "%s",
			 p->n_architectures ? "]" : "[any architecture]");
		if (skip_reason[i]) {
			snprintf(nd->message, sizeof(nd->message), "%s",
				 skip_reason[i]);
			continue;
		}
		for (size_t k = 0; k < p->n_components; k++) {
			const struct margo_component *mc = &p->components[k];
			char key[OCI_REF_STR_MAX], ref[OCI_REF_STR_MAX];
			struct comp *m;

			comp_key(key, sizeof(key), mc);
			m = comp_find(c, key);
			if (!m)
				continue;
			if (m->r.host[0])
				oci_ref_format(&m->r, ref, sizeof(ref));
			else
				snprintf(ref, sizeof(ref), "%s", key);
			nd = node_add(rep, MARGO_NODE_COMPONENT, 2, m->state,
				      ref);
			if (!nd)
				return ERR_FAIL;
			snprintf(nd->detail, sizeof(nd->detail), "%s%s%s",
				 mc->name.v ? mc->name.v : "?",
				 m->kind[0] ? ", " : "", m->kind);
			nd->has_digest = m->has_digest;
			nd->digest = m->digest;
			nd->updated = m->updated;
			snprintf(nd->message, sizeof(nd->message), "%s",
				 m->msg);
			nd->bytes = m->bytes; /* counted where first shown */
			rep->bytes += m->bytes;
			m->bytes = 0;
			for (size_t q = 0; q < m->imgs.n; q++) {
				const struct margo_image *im = &m->imgs.v[q];
				struct img *g =
				    im->ref[0] ? img_find(c, im->ref) : NULL;
				char plat[200];

				nd = node_add(rep, MARGO_NODE_IMAGE, 3,
					      g ? g->state : MARGO_FAILED,
					      im->ref[0] ? im->ref
							 : "(unresolved)");
				if (!nd)
					return ERR_FAIL;
				if (g) {
					archset_format(plat, sizeof(plat),
						       &g->arch);
					snprintf(nd->detail, sizeof(nd->detail),
						 "%s; %s", plat, im->where);
					nd->has_digest = g->has_digest;
					nd->digest = g->digest;
					nd->updated = g->updated;
					nd->bytes = g->bytes;
					rep->bytes += g->bytes;
					g->bytes = 0;
					snprintf(nd->message,
						 sizeof(nd->message), "%s",
						 g->msg);
				} else {
					snprintf(nd->detail, sizeof(nd->detail),
						 "%s", im->where);
					snprintf(nd->message,
						 sizeof(nd->message), "%s",
						 im->problem);
				}
			}
		}
	}
	return 0;
}

int margo_app_expand(struct store *s, struct reg_pool *pool,
		     const struct oci_digest *d, const char *label,
		     enum margo_node_state pkg_state, uint64_t pkg_bytes,
		     const struct margo_pull_options *o,
		     struct margo_pull_report *rep)
{
	struct ctx c;
	struct margo_app app;
	struct margo_problems probs;
	struct margo_node *pkg;
	struct archset *parch = NULL;
	const char **skip = NULL;
	char *desc = NULL;
	size_t dlen = 0, selected = 0;
	struct err e;
	int rc;

	memset(&c, 0, sizeof(c));
	memset(&app, 0, sizeof(app));
	c.s = s;
	c.pool = pool;
	c.o = o;
	c.rep = rep;
	c.want.all = !o->n_arch;
	for (size_t i = 0; i < o->n_arch; i++) {
		char a[48];

		if (!arch_norm(a, sizeof(a), o->arch[i]))
			archset_add(&c.want, a);
	}
	pkg = node_add(rep, MARGO_NODE_PACKAGE, 0, pkg_state, label);
	if (!pkg)
		return ERR_FAIL;
	pkg->has_digest = 1;
	pkg->digest = *d;
	pkg->bytes = pkg_bytes;
	rep->bytes += pkg_bytes;
	err_clear(&e);
	margo_problems_init(&probs);
	rc = margo_package_description(&desc, &dlen, s, d, NULL, &e);
	if (!rc)
		rc = margo_app_parse(&app, &probs, desc, dlen, &e);
	free(desc);
	if (!rc && !app.has_doc)
		rc = err_set(&e, ERR_INVALID, "the description is not YAML");
	if (!rc)
		margo_app_validate(&app, NULL, &probs);
	if (rc || probs.n_errors) {
		pkg = &rep->v[0];
		pkg->state = MARGO_FAILED;
		rep->failed++;
		if (rc)
			snprintf(pkg->message, sizeof(pkg->message), "%s",
				 e.msg);
		else
			snprintf(pkg->message, sizeof(pkg->message),
				 "margo.yaml has %zu error%s (first: line "
				 "%zu:%zu: %s); what it names was still "
				 "mirrored",
				 probs.n_errors, probs.n_errors == 1 ? "" : "s",
				 probs.v[0].line, probs.v[0].column,
				 probs.v[0].message);
	}
	margo_problems_release(&probs);
	if (rc) {
		margo_app_release(&app);
		return ERR_FAIL;
	}
	snprintf(rep->v[0].detail, sizeof(rep->v[0].detail), "%s %s",
		 app.id.v ? app.id.v : "?",
		 app.version.v ? app.version.v : "?");
	skip = calloc(app.n_profiles + 1, sizeof(*skip));
	parch = calloc(app.n_profiles + 1, sizeof(*parch));
	if (!skip || !parch) {
		rc = ERR_FAIL;
		goto out;
	}
	for (size_t i = 0; i < app.n_profiles; i++) {
		const struct margo_profile *p = &app.profiles[i];

		if (o->profile_type && !type_is(p->type.v, o->profile_type)) {
			skip[i] = "profile type not selected";
			continue;
		}
		if (profile_arch(&c, p, &parch[i])) {
			skip[i] = "no selected architecture";
			continue;
		}
		selected++;
		for (size_t k = 0; k < p->n_components; k++)
			if (comp_add(&c, p, &p->components[k], &parch[i])) {
				rc = ERR_FAIL;
				goto out;
			}
	}
	if (!selected) {
		rep->v[0].state = MARGO_FAILED;
		rep->failed++;
		snprintf(rep->v[0].message, sizeof(rep->v[0].message),
			 "no deployment profile matches the selected %s",
			 o->profile_type ? "type and architectures"
					 : "architectures");
	}
	if (pull_components(&c) || pull_images(&c) ||
	    build_tree(&c, &app, skip))
		rc = ERR_FAIL;
out:
	for (size_t i = 0; i < c.n_comps; i++)
		margo_images_release(&c.comps[i].imgs);
	free(c.comps);
	free(c.imgs);
	free(skip);
	free(parch);
	margo_app_release(&app);
	if (rc)
		return rc;
	return rep->failed ? ERR_FAIL : 0;
}

int margo_app_pull(struct store *s, struct reg_pool *pool,
		   const struct oci_ref *ref,
		   const struct margo_pull_options *o,
		   struct margo_pull_report *rep)
{
	struct ctx c;
	struct pull_item it;
	struct pull_result res;
	struct pull_options po;
	struct oci_digest d;
	struct err e;
	char repo[OCI_REPO_MAX], label[OCI_REF_STR_MAX];
	uint64_t bytes = 0;
	int cur;

	memset(rep, 0, sizeof(*rep));
	memset(&c, 0, sizeof(c));
	c.s = s;
	c.pool = pool;
	c.o = o;
	oci_ref_repo(ref, repo, sizeof(repo));
	oci_ref_format(ref, label, sizeof(label));
	err_clear(&e);
	cur = current(&c, ref, repo, NULL, 0, &d, &e);
	if (cur < 0)
		goto failed;
	if (!cur) {
		memset(&it, 0, sizeof(it));
		it.ref = *ref;
		if (o->check_first && !ref->has_digest) {
			it.ref.has_digest = 1;
			it.ref.digest = d;
		}
		it.referrers = o->referrers;
		it.no_tag = 1;
		memset(&po, 0, sizeof(po));
		po.concurrency = o->concurrency > 0 ? o->concurrency : 8;
		po.progress = o->progress;
		po.ctx = o->ctx;
		if (pull_run(s, pool, &it, 1, &po, &res)) {
			e = res.err;
			goto failed;
		}
		d = res.digest;
		bytes = res.bytes_fetched;
	}
	{
		char *desc = NULL;
		size_t dlen;

		if (margo_package_description(&desc, &dlen, s, &d, NULL, &e)) {
			/* not a package: nothing of it stays reachable */
			struct oci_manifest m;
			char *raw = NULL;
			size_t len = 0;

			if (!cur &&
			    !store_blob_read(s, &d, OCI_MANIFEST_MAX, &raw,
					     &len, NULL) &&
			    !oci_manifest_parse(&m, raw, len, NULL, NULL)) {
				drop(s, repo, &d, &m);
				oci_manifest_release(&m);
			}
			free(raw);
			err_wrap(&e, "%s: ", label);
			goto failed;
		}
		free(desc);
	}
	if (ref->tag[0] && !cur && set_tag(s, repo, ref->tag, &d, &e))
		goto failed;
	return margo_app_expand(s, pool, &d, label,
				cur ? MARGO_UNCHANGED : MARGO_STORED, bytes, o,
				rep);
failed : {
	struct margo_node *n =
	    node_add(rep, MARGO_NODE_PACKAGE, 0, MARGO_FAILED, label);

	if (!n)
		return ERR_FAIL;
	snprintf(n->message, sizeof(n->message), "%s", e.msg);
	return ERR_FAIL;
}
}
