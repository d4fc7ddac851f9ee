/* Mirroring a Margo application. See margo_pull.h. */
#include "mirror/margo/app_pull.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mirror/margo/description.h"
#include "mirror/margo/catalog.h"
#include "mirror/margo/images.h"
#include "mirror/margo/package.h"
#include "mirror/pull.h"
#include "mirror/sync/sync.h"
#include "oci/buf.h"
#include "oci/manifest.h"
#include "oci/platform.h"
#include "oci/vec.h"

struct archset {
	int all;
	size_t n;
	char v[MARGO_ARCH_MAX][48];
};

struct comp {
	char key[OCI_REF_STR_MAX]; /* repository:revision as written */
	struct oci_ref r;
	struct oci_ref fetch; /* r, pinned to what HEAD said (check_first) */
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

	if (OCI_VEC_RESERVE(r->v, r->n, r->cap, 1, 0))
		return NULL;
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
	for (size_t i = 0; i < a->n && o + 1 < cap; i++) {
		o += (size_t)snprintf(dst + o, cap - o, "%slinux/%s",
				      i ? "," : "", a->v[i]);
		if (o >= cap)
			o = cap - 1;
	}
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

/* Where a component's bytes come from: the store (already mirrored) or
 * its registry (fetched into memory, stored only once accepted). */
struct source {
	struct store *s;       /* the store, or */
	struct reg_client *cl; /* the registry */
	const char *path;
};

static int source_manifest(const struct source *src, const struct comp *m,
			   struct oci_manifest *out, struct err *e)
{
	struct reg_manifest rm;
	char *raw = NULL;
	size_t len = 0;
	int rc;

	if (src->s) {
		rc = store_blob_read(src->s, &m->digest, OCI_MANIFEST_MAX, &raw,
				     &len, e);
		if (!rc)
			rc = oci_manifest_parse(out, raw, len, NULL, e);
		free(raw);
		return rc;
	}
	rc = reg_client_get_manifest(
	    src->cl, &rm, src->path,
	    m->fetch.has_digest ? m->fetch.digest.str : m->fetch.tag, e);
	if (rc)
		return rc;
	rc = oci_manifest_parse(out, rm.body, rm.len, rm.content_type, e);
	reg_manifest_release(&rm);
	return rc;
}

/* The layer's bytes, checked against its digest and size. */
static int source_blob(const struct source *src,
		       const struct oci_descriptor *layer, char **out,
		       size_t *len, struct err *e)
{
	struct oci_digest got;
	struct buf b;
	int rc;

	*out = NULL;
	if (layer->size < 0 || (uint64_t)layer->size > MARGO_ARCHIVE_MAX)
		return err_set(e, ERR_TOO_LARGE,
			       "archive of %lld bytes (over %u)",
			       (long long)layer->size, MARGO_ARCHIVE_MAX);
	if (src->s) {
		rc = store_blob_read(src->s, &layer->digest, MARGO_ARCHIVE_MAX,
				     out, len, e);
	} else {
		buf_init(&b, MARGO_ARCHIVE_MAX);
		rc = reg_client_get_blob(src->cl, &b, src->path, &layer->digest,
					 e);
		if (!rc)
			*out = buf_detach(&b, len);
		buf_release(&b);
	}
	if (rc)
		return rc;
	/* the digest again, on the bytes about to be opened */
	oci_digest_of(&got, layer->digest.alg, *out, *len);
	if (!oci_digest_equal(&got, &layer->digest) ||
	    *len != (size_t)layer->size) {
		free(*out);
		*out = NULL;
		return err_set(e, ERR_DIGEST,
			       "archive %s does not match its digest (got %s, "
			       "%zu bytes)%s",
			       layer->digest.str, got.str, *len,
			       src->s ? "; run ocimirror verify" : "");
	}
	return 0;
}

/* Read a component's chart or Compose archive and the images it names.
 * From the registry, an accepted archive is put into the store (so the
 * pull that follows does not fetch it again); a refused one never is. */
static int comp_inspect(struct comp *m, const struct source *src,
			struct store *s, struct err *e)
{
	struct oci_manifest man;
	const struct oci_descriptor *layer = NULL;
	char *raw = NULL;
	size_t len = 0;
	int rc, compose = 0;

	rc = source_manifest(src, m, &man, e);
	if (rc)
		return rc;
	m->digest = man.digest;
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
		    type_is(m->profile_type, "compose"))
			rc = err_set(
			    e, ERR_INVALID,
			    "no %s layer: the images it runs are unknown; not "
			    "stored",
			    type_is(m->profile_type, "helm")
				? MT_HELM_CHART
				: MT_COMPOSE_ARCHIVE);
		oci_manifest_release(&man);
		return rc;
	}
	snprintf(m->kind, sizeof(m->kind), "%s",
		 compose ? "compose" : "helm chart");
	rc = source_blob(src, layer, &raw, &len, e);
	if (!rc)
		rc = compose ? margo_compose_images(&m->imgs, raw, len, e)
			     : margo_chart_images(&m->imgs, raw, len, e);
	if (!rc && !src->s)
		rc = store_blob_put(s, &layer->digest, raw, len, e);
	free(raw);
	oci_manifest_release(&man);
	if (rc)
		margo_images_release(&m->imgs);
	return rc;
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

/* One pull_run over some of the components or images: item k is entry
 * which[k] of the caller's list. */
struct batch {
	struct pull_item *items;
	struct pull_result *res;
	size_t *which;
	size_t n;
};

static int batch_init(struct batch *b, size_t max)
{
	b->items = calloc(max + 1, sizeof(*b->items));
	b->res = calloc(max + 1, sizeof(*b->res));
	b->which = calloc(max + 1, sizeof(*b->which));
	b->n = 0;
	return b->items && b->res && b->which ? 0 : ERR_FAIL;
}

static void batch_release(struct batch *b)
{
	free(b->items);
	free(b->res);
	free(b->which);
	memset(b, 0, sizeof(*b));
}

/* pull_run with the run's options; every result is written, also when
 * pull_run cannot even start. */
static void run_pull(struct ctx *c, const struct pull_item *items, size_t n,
		     struct pull_result *res)
{
	struct pull_options po;

	memset(&po, 0, sizeof(po));
	po.concurrency = c->o->concurrency > 0 ? c->o->concurrency : 8;
	po.progress = c->o->progress;
	po.ctx = c->o->ctx;
	for (size_t k = 0; k < n; k++)
		res[k].result = err_set(&res[k].err, ERR_FAIL, "out of memory");
	if (n)
		pull_run(c->s, c->pool, items, n, &po, res);
}

static void batch_run(struct ctx *c, struct batch *b)
{
	run_pull(c, b->items, b->n, b->res);
}

/* Each component's archive first (from the store when it is current,
 * else from its registry), then one pull for the accepted ones. */
static int pull_components(struct ctx *c)
{
	struct batch b;

	if (batch_init(&b, c->n_comps)) {
		batch_release(&b);
		return ERR_FAIL;
	}
	for (size_t i = 0; i < c->n_comps; i++) {
		struct comp *m = &c->comps[i];
		struct source src = {0};
		struct err e;
		int cur;

		if (m->state == MARGO_FAILED)
			continue;
		err_clear(&e);
		cur = current(c, &m->r, m->repo, NULL, 0, &m->digest, &e);
		if (cur > 0) {
			src.s = c->s;
			m->state = MARGO_UNCHANGED;
			m->has_digest = 1;
		} else if (cur == 0) {
			src.path = m->r.path;
			m->fetch = m->r;
			if (c->o->check_first) {
				/* what HEAD said */
				m->fetch.has_digest = 1;
				m->fetch.digest = m->digest;
			}
			cur = reg_pool_get(c->pool, &src.cl, m->r.host, &e) ? -1
									    : 0;
		}
		if (cur < 0 || comp_inspect(m, &src, c->s, &e)) {
			m->state = MARGO_FAILED;
			m->has_digest = 0;
			snprintf(m->msg, sizeof(m->msg), "%s", e.msg);
			continue;
		}
		if (m->state == MARGO_UNCHANGED)
			continue;
		/* the manifest just read, whatever the tag says by now */
		b.items[b.n].ref = m->r;
		b.items[b.n].ref.has_digest = 1;
		b.items[b.n].ref.digest = m->digest;
		b.items[b.n].referrers = c->o->referrers;
		m->updated = moved(c->s, m->repo, m->r.tag, &m->digest);
		b.which[b.n++] = i;
	}
	batch_run(c, &b);
	for (size_t k = 0; k < b.n; k++) {
		struct comp *m = &c->comps[b.which[k]];

		m->bytes = b.res[k].bytes_fetched;
		if (b.res[k].result) {
			m->state = MARGO_FAILED;
			snprintf(m->msg, sizeof(m->msg), "%s",
				 b.res[k].err.msg);
			margo_images_release(&m->imgs);
		} else {
			m->has_digest = 1;
		}
	}
	batch_release(&b);
	return 0;
}

static int pull_images(struct ctx *c)
{
	struct batch b;

	for (size_t i = 0; i < c->n_comps; i++) {
		const struct comp *m = &c->comps[i];

		if (m->state == MARGO_FAILED && !m->has_digest)
			continue;
		for (size_t k = 0; k < m->imgs.n; k++)
			if (m->imgs.v[k].ref[0] &&
			    img_add(c, &m->imgs.v[k], &m->arch))
				return ERR_FAIL;
	}
	if (batch_init(&b, c->n_imgs)) {
		batch_release(&b);
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
		b.items[b.n].ref = g->r;
		if (c->o->check_first && !g->r.has_digest) {
			b.items[b.n].ref.has_digest = 1;
			b.items[b.n].ref.digest = g->digest;
		}
		{
			struct store_ref o;

			g->had_old =
			    g->r.tag[0] &&
			    !store_tag_get(c->s, g->repo, g->r.tag, &o, NULL);
			if (g->had_old)
				g->old = o.digest;
		}
		b.items[b.n].platforms = g->n_plats ? g->plats : NULL;
		b.items[b.n].n_platforms = g->n_plats;
		b.items[b.n].referrers = c->o->referrers;
		b.which[b.n++] = i;
	}
	batch_run(c, &b);
	for (size_t k = 0; k < b.n; k++) {
		struct img *g = &c->imgs[b.which[k]];

		g->bytes = b.res[k].bytes_fetched;
		if (b.res[k].result) {
			g->state = MARGO_FAILED;
			snprintf(g->msg, sizeof(g->msg), "%s",
				 b.res[k].err.msg);
		} else {
			g->has_digest = 1;
			g->digest = b.res[k].digest;
			g->updated = g->had_old &&
				     !oci_digest_equal(&g->old, &g->digest);
		}
	}
	batch_release(&b);
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
		for (size_t k = 0; k < p->n_architectures && o < 200; k++) {
			o += (size_t)snprintf(
			    nd->detail + o, sizeof(nd->detail) - o, "%s%.40s",
			    k ? "," : "[",
			    p->architectures[k].v ? p->architectures[k].v
						  : "?");
			if (o >= sizeof(nd->detail))
				o = sizeof(nd->detail) - 1;
		}
		if (o + 20 < sizeof(nd->detail))
			snprintf(nd->detail + o, sizeof(nd->detail) - o, "%s",
				 p->n_architectures ? "]"
						    : "[any architecture]");
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
	size_t dlen = 0, selected = 0, pkg_i, first_err = 0;
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
	pkg_i = rep->n;
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
	while (first_err + 1 < probs.n &&
	       probs.v[first_err].severity != MARGO_ERROR)
		first_err++;
	if (rc || probs.n_errors) {
		pkg = &rep->v[pkg_i];
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
				 probs.v[first_err].line,
				 probs.v[first_err].column,
				 probs.v[first_err].message);
	}
	margo_problems_release(&probs);
	if (rc) {
		margo_app_release(&app);
		return ERR_FAIL;
	}
	snprintf(rep->v[pkg_i].detail, sizeof(rep->v[pkg_i].detail),
		 "%.100s %.100s", app.id.v ? app.id.v : "?",
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
		rep->v[pkg_i].state = MARGO_FAILED;
		rep->failed++;
		snprintf(rep->v[pkg_i].message, sizeof(rep->v[pkg_i].message),
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

int margo_package_check(struct reg_client *cl, const struct oci_ref *ref,
			struct oci_digest *d, struct err *e)
{
	struct reg_manifest rm;
	struct oci_manifest m;
	const struct oci_descriptor *desc = NULL;
	struct buf b;
	int rc;

	rc = reg_client_get_manifest(
	    cl, &rm, ref->path, ref->has_digest ? ref->digest.str : ref->tag,
	    e);
	if (rc)
		return rc;
	rc = oci_manifest_parse(&m, rm.body, rm.len, rm.content_type, e);
	reg_manifest_release(&rm);
	if (rc)
		return rc;
	*d = m.digest;
	desc = margo_package_layer(&m, e);
	if (!desc) {
		char why[ERR_MSG_MAX];

		snprintf(why, sizeof(why), "%s", e->msg);
		rc = err_set(e, ERR_INVALID, "%.400s; nothing stored", why);
	}
	if (!rc) {
		struct margo_problems probs;
		struct margo_app app;

		buf_init(&b, MARGO_INPUT_MAX);
		rc = reg_client_get_blob(cl, &b, ref->path, &desc->digest, e);
		margo_problems_init(&probs);
		if (!rc) {
			rc = margo_app_parse(&app, &probs, b.data, b.len, e);
			if (!rc && !app.has_doc)
				rc = err_set(e, ERR_INVALID,
					     "the description is not YAML "
					     "(%s); nothing stored",
					     probs.n ? probs.v[0].message
						     : "empty");
			margo_app_release(&app);
		}
		margo_problems_release(&probs);
		buf_release(&b);
	}
	oci_manifest_release(&m);
	return rc;
}

int margo_app_pull(struct store *s, struct reg_pool *pool,
		   const struct oci_ref *ref,
		   const struct margo_pull_options *o,
		   struct margo_pull_report *rep)
{
	struct ctx c;
	struct pull_item it;
	struct pull_result res;
	struct reg_client *cl;
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
		if (reg_pool_get(pool, &cl, ref->host, &e) ||
		    margo_package_check(cl, &it.ref, &d, &e))
			goto failed;
		it.ref.has_digest = 1; /* exactly what was checked */
		it.ref.digest = d;
		it.referrers = o->referrers;
		run_pull(&c, &it, 1, &res);
		if (res.result) {
			e = res.err;
			goto failed;
		}
		bytes = res.bytes_fetched;
	}
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
