/* Mirroring a Margo application: the fetching. See app_pull.h; what is
 * selected and how the tree is built is in app_plan.c. */
#include "mirror/margo/app_pull.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mirror/fresh.h"
#include "mirror/margo/app_internal.h"
#include "mirror/margo/catalog.h"
#include "mirror/margo/chart.h"
#include "mirror/margo/compose.h"
#include "mirror/pull.h"
#include "oci/buf.h"
#include "oci/manifest.h"
#include "oci/vec.h"
#include "registry/engine.h"

/* What current() can say without a request: 1 or 0, or 2 when the tag's
 * upstream digest must be asked first (check_first). */
static int current_now(const struct ctx *c, const struct oci_ref *r,
		       const char *repo, const struct oci_platform *plats,
		       size_t n, struct oci_digest *d)
{
	if (r->has_digest) {
		*d = r->digest;
		return fresh_manifest_complete(c->s, repo, d, plats, n);
	}
	return c->o->check_first ? 2 : 0;
}

/* With check_first: 1 when repo:tag upstream is what the store holds, 0
 * when not, an error code (e filled) when the registry could not say. */
static int current(struct ctx *c, const struct oci_ref *r, const char *repo,
		   const struct oci_platform *plats, size_t n,
		   struct oci_digest *d, struct err *e)
{
	struct reg_client *cl;
	int rc = current_now(c, r, repo, plats, n, d);

	if (rc != 2)
		return rc;
	if ((rc = reg_pool_get(c->pool, &cl, r->host, e)) ||
	    (rc = fresh_head_tag(d, cl, r->path, r->tag, e)))
		return rc;
	return fresh_tag_current(c->s, repo, r->tag, d, plats, n);
}

/* What repo:tag holds complete now, before the pull. */
static void before_note(struct before *b, const struct store *s,
			const char *repo, const char *tag,
			const struct oci_platform *plats, size_t n)
{
	struct store_ref old;

	memset(b, 0, sizeof(*b));
	if (tag[0] && !store_tag_get(&old, s, repo, tag, NULL) &&
	    fresh_manifest_complete(s, repo, &old.digest, plats, n)) {
		b->complete = 1;
		b->d = old.digest;
	}
}

/* 1 when a pull that ended at d, fetching that many bytes, changed
 * nothing: the store held d complete at the tag before. */
static int before_same(const struct before *b, const struct oci_digest *d,
		       uint64_t fetched)
{
	return b->complete && !fetched && oci_digest_equal(&b->d, d);
}

/* A pull failure's message without the "pull REF: " pull_run puts in
 * front: the report's node names the reference already. */
static void err_unname(struct err *e, const char *ref)
{
	char pre[OCI_REF_STR_MAX + 8];
	size_t n = (size_t)snprintf(pre, sizeof(pre), "pull %s: ", ref);

	if (n < sizeof(pre) && !strncmp(e->msg, pre, n))
		memmove(e->msg, e->msg + n, strlen(e->msg + n) + 1);
}

/* 1 when repo:tag exists and points at another digest than d. */
static int moved(const struct store *s, const char *repo, const char *tag,
		 const struct oci_digest *d)
{
	struct store_ref old;

	return tag[0] && !store_tag_get(&old, s, repo, tag, NULL) &&
	       !oci_digest_equal(&old.digest, d);
}

/* The size a component's archive may have (capped: it is read into
 * memory). */
static int archive_size_ok(const struct oci_descriptor *layer, struct err *e)
{
	if (layer->size < 0 || (uint64_t)layer->size > MARGO_ARCHIVE_MAX)
		return err_set(e, ERR_TOO_LARGE,
			       "archive of %lld bytes (over %u)",
			       (long long)layer->size, MARGO_ARCHIVE_MAX);
	return 0;
}

/* The chart or Compose layer of component m's manifest man, into *layer
 * (NULL when there is none: m is then an artifact, refused when its
 * profile runs charts or Compose archives); m's digest and kind noted. */
static int comp_layer(struct comp *m, const struct oci_manifest *man,
		      const struct oci_descriptor **layer, int *compose,
		      struct err *e)
{
	*layer = NULL;
	*compose = 0;
	m->digest = man->digest;
	for (size_t i = 0; man->kind == OCI_KIND_MANIFEST && i < man->n_layers;
	     i++) {
		if (!strcmp(man->layers[i].media_type, MT_HELM_CHART) ||
		    !strcmp(man->layers[i].media_type, MT_COMPOSE_ARCHIVE)) {
			*layer = &man->layers[i];
			*compose =
			    !strcmp((*layer)->media_type, MT_COMPOSE_ARCHIVE);
			break;
		}
	}
	if (!*layer) {
		snprintf(m->kind, sizeof(m->kind), "artifact");
		if (margo_plan_type_is(m->profile_type, "helm") ||
		    margo_plan_type_is(m->profile_type, "compose"))
			return err_set(
			    e, ERR_INVALID,
			    "no %s layer: the images it runs are unknown; not "
			    "stored",
			    margo_plan_type_is(m->profile_type, "helm")
				? MT_HELM_CHART
				: MT_COMPOSE_ARCHIVE);
		return 0;
	}
	snprintf(m->kind, sizeof(m->kind), "%s",
		 *compose ? "compose" : "helm chart");
	return 0;
}

/* The images archive raw (len bytes, the layer of digest d and size) names,
 * into m->imgs, after checking the bytes against the digest and size
 * once more: they are what is opened. */
static int archive_read(struct comp *m, int compose, const struct oci_digest *d,
			int64_t size, const char *raw, size_t len,
			int from_store, struct err *e)
{
	struct oci_digest got;
	int rc;

	oci_digest_of(&got, d->alg, raw, len);
	if (!oci_digest_equal(&got, d) || len != (size_t)size)
		return err_set(e, ERR_DIGEST,
			       "archive %s does not match its digest (got %s, "
			       "%zu bytes)%s",
			       d->str, got.str, len,
			       from_store ? "; run ocimirror verify" : "");
	rc = compose ? margo_compose_images(&m->imgs, raw, len, e)
		     : margo_chart_images(&m->imgs, raw, len, e);
	if (rc)
		margo_images_release(&m->imgs);
	return rc;
}

/* Read a component the store holds current: its chart or Compose archive
 * and the images it names. */
static int comp_inspect_stored(struct comp *m, struct store *s, struct err *e)
{
	struct oci_manifest man;
	const struct oci_descriptor *layer;
	char *raw = NULL;
	size_t len = 0;
	int rc, compose;

	rc = store_blob_read(&raw, &len, s, &m->digest, OCI_MANIFEST_MAX, e);
	if (!rc)
		rc = oci_manifest_parse(&man, raw, len, NULL, e);
	free(raw);
	raw = NULL;
	if (rc)
		return rc;
	rc = comp_layer(m, &man, &layer, &compose, e);
	if (!rc && layer)
		rc = archive_size_ok(layer, e);
	if (!rc && layer)
		rc = store_blob_read(&raw, &len, s, &layer->digest,
				     MARGO_ARCHIVE_MAX, e);
	if (!rc && layer)
		rc = archive_read(m, compose, &layer->digest, layer->size, raw,
				  len, 1, e);
	free(raw);
	oci_manifest_release(&man);
	return rc;
}

/* One pull_run over some of the components or images: item k is entry
 * which[k] of the caller's list. */
struct batch {
	struct pull_item *items;
	struct pull_result *res;
	size_t *which;
	size_t n;
};

static void batch_release(struct batch *b)
{
	free(b->items);
	free(b->res);
	free(b->which);
	memset(b, 0, sizeof(*b));
}

static int batch_init(struct batch *b, size_t max, struct err *err)
{
	b->items = calloc(max + 1, sizeof(*b->items));
	b->res = calloc(max + 1, sizeof(*b->res));
	b->which = calloc(max + 1, sizeof(*b->which));
	b->n = 0;
	if (b->items && b->res && b->which)
		return 0;
	batch_release(b);
	return err_set(err, ERR_FAIL, "a batch of %zu pulls: out of memory",
		       max);
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
		pull_run(res, c->s, c->pool, items, n, &po);
}

static void batch_run(struct ctx *c, struct batch *b)
{
	run_pull(c, b->items, b->n, b->res);
}

/* The engines one step's requests went to: a pool's clients share one,
 * a client made alone has its own. */
#define STEP_ENGINES 8
struct job;
struct step {
	struct reg_engine *v[STEP_ENGINES];
	size_t n;
	/* the archives being fetched hold this many bytes (as their
	 * manifests say); those waiting for room, in order */
	uint64_t archive_bytes;
	struct job *wait, *wait_last;
};

/* Run every engine of the step until it is idle. A job's callback
 * submits what follows it on the same client, so one pass finishes all. */
static void step_run(struct step *st)
{
	for (size_t i = 0; i < st->n; i++)
		reg_engine_run(st->v[i]);
	st->n = 0;
}

/* Note the engine of cl, which is about to get a job. */
static void step_note(struct step *st, struct reg_client *cl)
{
	struct reg_engine *e = reg_client_engine(cl);

	if (!e)
		return; /* out of memory: the job is refused */
	for (size_t i = 0; i < st->n; i++)
		if (st->v[i] == e)
			return;
	if (st->n == STEP_ENGINES)
		step_run(st); /* as many hosts, each with its own engine */
	st->v[st->n++] = e;
}

/* One component's or image's requests on the engine, each submitted when
 * the one it needs has answered: with check_first the tag's HEAD, then
 * for a component not current its manifest, then its archive. */
struct job {
	struct ctx *c;
	struct step *st;
	struct comp *m; /* a component, or */
	struct img *g;	/* an image */
	struct reg_client *cl;
	int cur;   /* what current() says: 1, 0, or an error code (e) */
	int local; /* a component to read from the store after the run */
	struct err e;
	/* a component's archive layer */
	struct oci_digest layer;
	int64_t layer_size;
	int compose;
	struct job *next; /* waiting for room for the archive */
};

static const struct oci_ref *job_ref(const struct job *j)
{
	return j->m ? &j->m->r : &j->g->r;
}

static void comp_fail(struct comp *m, const struct err *e)
{
	m->state = MARGO_FAILED;
	m->has_digest = 0;
	m->err = *e;
	margo_images_release(&m->imgs);
}

/* A failed request: its error, or one naming the job when the engine
 * gave none. */
static void job_err(struct job *j, int rc, const struct err *e)
{
	if (e)
		j->e = *e;
	else
		err_set(&j->e, rc, "%s: request failed", job_ref(j)->path);
}

static void archive_done(void *ctx, int rc, struct buf *body,
			 const struct err *err);

/* Ask for j's archive; the bytes it will hold are counted until it is
 * read. */
static void archive_ask(struct job *j)
{
	j->st->archive_bytes += (uint64_t)j->layer_size;
	err_clear(&j->e);
	if (reg_client_get_blob_async(j->cl, j->m->r.path, &j->layer,
				      MARGO_ARCHIVE_MAX, archive_done, j,
				      &j->e)) {
		j->st->archive_bytes -= (uint64_t)j->layer_size;
		comp_fail(j->m, &j->e);
	}
}

/* 1 when an archive of size bytes fits beside those in flight: together
 * they stay within MARGO_ARCHIVE_MAX (one at a time when it is that
 * large), the memory one archive took when they were read in turn. */
static int archive_fits(const struct step *st, int64_t size)
{
	return !st->archive_bytes ||
	       st->archive_bytes + (uint64_t)size <= MARGO_ARCHIVE_MAX;
}

/* Ask for j's archive now, or when there is room for it. */
static void archive_want(struct job *j)
{
	struct step *st = j->st;

	if (!st->wait && archive_fits(st, j->layer_size)) {
		archive_ask(j);
		return;
	}
	j->next = NULL;
	if (st->wait_last)
		st->wait_last->next = j;
	else
		st->wait = j;
	st->wait_last = j;
}

/* An archive is done with: ask for those waiting that now fit. */
static void archive_next(struct step *st)
{
	while (st->wait && archive_fits(st, st->wait->layer_size)) {
		struct job *j = st->wait;

		st->wait = j->next;
		if (!st->wait)
			st->wait_last = NULL;
		archive_ask(j);
	}
}

/* The archive is in: read it, and store it when it is accepted. */
static void archive_done(void *ctx, int rc, struct buf *body,
			 const struct err *err)
{
	struct job *j = ctx;
	struct comp *m = j->m;

	j->st->archive_bytes -= (uint64_t)j->layer_size;
	if (rc) {
		job_err(j, rc, err);
		comp_fail(m, &j->e);
		archive_next(j->st);
		return;
	}
	err_clear(&j->e);
	rc = archive_read(m, j->compose, &j->layer, j->layer_size, body->data,
			  body->len, 0, &j->e);
	/* from the registry, an accepted archive is put into the store (the
	 * pull that follows does not fetch it again); a refused one never
	 * is */
	if (!rc)
		rc = store_blob_put(j->c->s, &j->layer, body->data, body->len,
				    &j->e);
	if (rc)
		comp_fail(m, &j->e);
	archive_next(j->st);
}

/* The component's manifest is in: find its archive and ask for it. */
static void manifest_done(void *ctx, int rc, struct reg_manifest *rm,
			  int64_t size, const struct err *err)
{
	struct job *j = ctx;
	struct comp *m = j->m;
	const struct oci_descriptor *layer = NULL;
	struct oci_manifest man;

	(void)size;
	if (rc) {
		job_err(j, rc, err);
		comp_fail(m, &j->e);
		return;
	}
	err_clear(&j->e);
	rc = oci_manifest_parse(&man, rm->body, rm->len, rm->content_type,
				&j->e);
	if (rc) {
		comp_fail(m, &j->e);
		return;
	}
	rc = comp_layer(m, &man, &layer, &j->compose, &j->e);
	if (!rc && layer && !(rc = archive_size_ok(layer, &j->e))) {
		j->layer = layer->digest;
		j->layer_size = layer->size;
	}
	oci_manifest_release(&man);
	if (rc)
		comp_fail(m, &j->e);
	else if (layer)
		archive_want(j);
}

/* What current() said of component j: read it from the store after the
 * run, or ask its registry for the manifest. */
static void comp_decided(struct job *j)
{
	struct comp *m = j->m;
	int rc;

	if (j->cur < 0) {
		comp_fail(m, &j->e);
		return;
	}
	if (j->cur > 0) {
		m->state = MARGO_UNCHANGED;
		m->has_digest = 1;
		j->local = 1;
		return;
	}
	m->fetch = m->r;
	if (j->c->o->check_first) {
		/* what HEAD said */
		m->fetch.has_digest = 1;
		m->fetch.digest = m->digest;
	}
	err_clear(&j->e);
	if (!j->cl)
		rc = reg_pool_get(j->c->pool, &j->cl, m->r.host, &j->e);
	else
		rc = 0;
	if (!rc)
		rc = reg_client_get_manifest_async(
		    j->cl, m->r.path,
		    m->fetch.has_digest ? m->fetch.digest.str : m->fetch.tag,
		    manifest_done, j, &j->e);
	if (rc)
		comp_fail(m, &j->e);
}

/* The tag's upstream digest is known (or could not be): is the store
 * current? */
static void head_done(void *ctx, int rc, const struct oci_digest *d,
		      const struct err *err)
{
	struct job *j = ctx;

	if (rc) {
		j->cur = rc;
		job_err(j, rc, err);
	} else if (j->m) {
		j->m->digest = *d;
		j->cur = fresh_tag_current(j->c->s, j->m->repo, j->m->r.tag, d,
					   NULL, 0);
	} else {
		j->g->digest = *d;
		j->cur = fresh_tag_current(j->c->s, j->g->repo, j->g->r.tag, d,
					   j->g->plats, j->g->n_plats);
	}
	if (j->m)
		comp_decided(j);
}

/* Start job j: what current() says without a request, or the HEAD that
 * tells (fresh_head_tag_async: one HEAD, a GET when it gives no digest). */
static void job_start(struct job *j, struct step *st, const char *repo,
		      const struct oci_platform *plats, size_t n,
		      struct oci_digest *d)
{
	const struct oci_ref *r = job_ref(j);
	int rc;

	err_clear(&j->e);
	j->cur = current_now(j->c, r, repo, plats, n, d);
	if (j->cur == 2) {
		rc = reg_pool_get(j->c->pool, &j->cl, r->host, &j->e);
		if (!rc) {
			step_note(st, j->cl);
			rc = fresh_head_tag_async(j->cl, r->path, r->tag,
						  head_done, j, &j->e);
		}
		if (!rc)
			return;
		j->cur = rc;
	}
	if (j->m) {
		comp_decided(j);
		if (j->cl && j->m->state != MARGO_FAILED && !j->local)
			step_note(st, j->cl);
	}
}

/* Every component's archive at once (HEADs, manifests and archives
 * overlapping on the engine; each archive read as it comes in), then
 * one pull for the accepted ones. */
static int pull_components(struct ctx *c, struct err *err)
{
	struct job *jobs;
	struct step st;
	struct batch b;

	memset(&st, 0, sizeof(st));

	jobs = calloc(c->n_comps + 1, sizeof(*jobs));
	if (!jobs)
		return err_set(err, ERR_FAIL, "%zu components: out of memory",
			       c->n_comps);
	if (batch_init(&b, c->n_comps, err)) {
		free(jobs);
		return ERR_FAIL;
	}
	for (size_t i = 0; i < c->n_comps; i++) {
		struct comp *m = &c->comps[i];

		if (m->state == MARGO_FAILED)
			continue;
		before_note(&m->was, c->s, m->repo, m->r.tag, NULL, 0);
		jobs[i].c = c;
		jobs[i].st = &st;
		jobs[i].m = m;
		job_start(&jobs[i], &st, m->repo, NULL, 0, &m->digest);
	}
	step_run(&st);
	for (size_t i = 0; i < c->n_comps; i++) {
		struct comp *m = &c->comps[i];

		if (jobs[i].local) {
			err_clear(&jobs[i].e);
			if (comp_inspect_stored(m, c->s, &jobs[i].e))
				comp_fail(m, &jobs[i].e);
		}
		if (m->state == MARGO_FAILED || m->state == MARGO_UNCHANGED)
			continue;
		/* the manifest just read, whatever the tag says by now */
		b.items[b.n].ref = m->r;
		b.items[b.n].ref.has_digest = 1;
		b.items[b.n].ref.digest = m->digest;
		b.items[b.n].referrers = c->o->referrers;
		m->updated = moved(c->s, m->repo, m->r.tag, &m->digest);
		b.which[b.n++] = i;
	}
	free(jobs);
	batch_run(c, &b);
	for (size_t k = 0; k < b.n; k++) {
		struct comp *m = &c->comps[b.which[k]];

		m->bytes = b.res[k].bytes_fetched;
		if (b.res[k].result) {
			m->state = MARGO_FAILED;
			m->err = b.res[k].err;
			err_unname(&m->err, b.res[k].ref);
			margo_images_release(&m->imgs);
		} else {
			m->has_digest = 1;
			if (before_same(&m->was, &m->digest, m->bytes))
				m->state = MARGO_UNCHANGED;
		}
	}
	batch_release(&b);
	return 0;
}

/* The platforms image g is pulled for: linux/ARCH of its architectures. */
static void img_platforms(struct img *g)
{
	for (size_t k = 0; !g->arch.all && k < g->arch.n; k++) {
		char full[64];

		snprintf(full, sizeof(full), "linux/%s", g->arch.v[k]);
		if (!oci_platform_parse(&g->plats[g->n_plats], full, NULL))
			g->n_plats++;
	}
}

/* Image g into the next item of b, unless it failed already or the store
 * holds it current (j says what current() found). */
static void img_queue(struct ctx *c, struct batch *b, size_t i,
		      const struct job *j)
{
	struct img *g = &c->imgs[i];
	struct store_ref old;

	if (g->state == MARGO_FAILED)
		return;
	if (j->cur < 0) {
		g->state = MARGO_FAILED;
		g->err = j->e;
		return;
	}
	if (j->cur) {
		g->state = MARGO_UNCHANGED;
		g->has_digest = 1;
		return;
	}
	b->items[b->n].ref = g->r;
	if (c->o->check_first && !g->r.has_digest) {
		b->items[b->n].ref.has_digest = 1;
		b->items[b->n].ref.digest = g->digest;
	}
	before_note(&g->was, c->s, g->repo, g->r.tag, g->plats, g->n_plats);
	g->had_old =
	    g->r.tag[0] && !store_tag_get(&old, c->s, g->repo, g->r.tag, NULL);
	if (g->had_old)
		g->old = old.digest;
	b->items[b->n].platforms = g->n_plats ? g->plats : NULL;
	b->items[b->n].n_platforms = g->n_plats;
	b->items[b->n].referrers = c->o->referrers;
	b->which[b->n++] = i;
}

/* Every image's HEAD at once (check_first), then one pull for those the
 * store does not hold current. */
static int pull_images(struct ctx *c, struct err *err)
{
	struct job *jobs;
	struct step st;
	struct batch b;

	memset(&st, 0, sizeof(st));

	if (margo_plan_images(c, err))
		return ERR_FAIL;
	jobs = calloc(c->n_imgs + 1, sizeof(*jobs));
	if (!jobs)
		return err_set(err, ERR_FAIL, "%zu images: out of memory",
			       c->n_imgs);
	if (batch_init(&b, c->n_imgs, err)) {
		free(jobs);
		return ERR_FAIL;
	}
	for (size_t i = 0; i < c->n_imgs; i++) {
		struct img *g = &c->imgs[i];

		if (g->state == MARGO_FAILED)
			continue;
		img_platforms(g);
		jobs[i].c = c;
		jobs[i].st = &st;
		jobs[i].g = g;
		job_start(&jobs[i], &st, g->repo, g->plats, g->n_plats,
			  &g->digest);
	}
	step_run(&st);
	for (size_t i = 0; i < c->n_imgs; i++)
		img_queue(c, &b, i, &jobs[i]);
	free(jobs);
	batch_run(c, &b);
	for (size_t k = 0; k < b.n; k++) {
		struct img *g = &c->imgs[b.which[k]];

		g->bytes = b.res[k].bytes_fetched;
		if (b.res[k].result) {
			g->state = MARGO_FAILED;
			g->err = b.res[k].err;
			err_unname(&g->err, b.res[k].ref);
		} else {
			g->has_digest = 1;
			g->digest = b.res[k].digest;
			g->updated = g->had_old &&
				     !oci_digest_equal(&g->old, &g->digest);
			if (before_same(&g->was, &g->digest, g->bytes))
				g->state = MARGO_UNCHANGED;
		}
	}
	batch_release(&b);
	return 0;
}

/* The first problem of severity sev in p (p->n when none is kept). */
static size_t first_of(const struct margo_problems *p, enum margo_severity sev)
{
	size_t i = 0;

	while (i < p->n && p->v[i].severity != sev)
		i++;
	return i;
}

/* Read, parse and validate the stored package d's description into app,
 * as a mirror reads it (MARGO_FOR_PULL). The package node pkg_i is marked
 * failed when it cannot be read (then ERR_FAIL: nothing more to do) or a
 * component cannot be fetched as written (then 0: the rest is still
 * mirrored); else its warnings are noted on it (err, code ERR_OK). */
static int describe(struct margo_app *app, struct store *s,
		    const struct oci_digest *d, struct margo_pull_report *rep,
		    size_t pkg_i)
{
	struct margo_problems parsed, probs;
	struct margo_node *pkg = &rep->v[pkg_i];
	char *desc = NULL;
	size_t dlen = 0, k;
	struct err e;
	int rc;

	err_clear(&e);
	margo_problems_init(&parsed);
	margo_problems_init(&probs);
	rc = margo_package_description(&desc, &dlen, s, d, NULL, &e);
	if (!rc)
		rc = margo_app_parse(app, &parsed, desc, dlen, &e);
	free(desc);
	if (!rc && !app->has_doc)
		rc = err_set(&e, ERR_INVALID, "the description is not YAML");
	if (!rc && app->incomplete)
		rc = err_set(&e, ERR_TOO_LARGE,
			     "the description has more than %d YAML nodes",
			     MARGO_NODES_MAX);
	if (!rc && !app->line)
		rc =
		    err_set(&e, ERR_INVALID, "the description is not a map: %s",
			    parsed.n ? parsed.v[0].message : "empty");
	if (!rc) {
		/* what the parser found (a value of the wrong type) is a
		 * warning too: what it hides from the rules is checked */
		for (k = 0; k < parsed.n; k++)
			margo_problems_add(&probs, parsed.v[k].line,
					   parsed.v[k].column, MARGO_WARNING,
					   "%s", parsed.v[k].message);
		probs.n_warnings +=
		    parsed.n_errors + parsed.n_warnings - parsed.n;
		margo_app_check(&probs, app, NULL, MARGO_FOR_PULL);
	}
	if (rc || probs.n_errors) {
		pkg->state = MARGO_FAILED;
		rep->failed++;
		k = first_of(&probs, MARGO_ERROR);
		if (rc)
			pkg->err = e;
		else
			err_set(&pkg->err, ERR_INVALID,
				"margo.yaml has %zu error%s (first: line "
				"%zu:%zu: %s); what it names was still "
				"mirrored",
				probs.n_errors, probs.n_errors == 1 ? "" : "s",
				k < probs.n ? probs.v[k].line : 0,
				k < probs.n ? probs.v[k].column : 0,
				k < probs.n ? probs.v[k].message : "?");
	} else if (probs.n_warnings &&
		   (k = first_of(&probs, MARGO_WARNING)) < probs.n) {
		err_set(&pkg->err, ERR_OK,
			"margo.yaml has %zu warning%s (first: line %zu:%zu: "
			"%s)",
			probs.n_warnings, probs.n_warnings == 1 ? "" : "s",
			probs.v[k].line, probs.v[k].column, probs.v[k].message);
	}
	margo_problems_release(&parsed);
	margo_problems_release(&probs);
	if (rc)
		return ERR_FAIL;
	snprintf(pkg->detail, sizeof(pkg->detail), "%.100s %.100s",
		 app->id.v ? app->id.v : "?",
		 app->version.v ? app->version.v : "?");
	return 0;
}

/* Pick the profiles (skip[i] says why profile i is not) and note their
 * components. The package node is failed when none is picked. */
static int select_profiles(struct ctx *c, const struct margo_app *app,
			   const char **skip, struct archset *parch,
			   size_t pkg_i, struct err *err)
{
	const struct margo_pull_options *o = c->o;
	struct margo_node *pkg = &c->rep->v[pkg_i];
	size_t selected = 0;

	for (size_t i = 0; i < app->n_profiles; i++) {
		const struct margo_profile *p = &app->profiles[i];

		if (o->profile_type &&
		    !margo_plan_type_is(p->type.v, o->profile_type)) {
			skip[i] = "profile type not selected";
			continue;
		}
		if (margo_plan_profile_arch(&parch[i], c, p)) {
			skip[i] = "no selected architecture";
			continue;
		}
		selected++;
		for (size_t k = 0; k < p->n_components; k++)
			if (margo_plan_comp_add(c, p, &p->components[k],
						&parch[i], err))
				return ERR_FAIL;
	}
	if (!selected) {
		pkg->state = MARGO_FAILED;
		c->rep->failed++;
		err_set(&pkg->err, ERR_NOT_FOUND,
			"no deployment profile matches the selected %s",
			o->profile_type ? "type and architectures"
					: "architectures");
	}
	return 0;
}

int margo_app_expand(struct margo_pull_report *rep, struct store *s,
		     struct reg_pool *pool, const struct oci_digest *d,
		     const char *label, enum margo_node_state pkg_state,
		     uint64_t pkg_bytes, const struct margo_pull_options *o,
		     struct err *err)
{
	struct ctx c;
	struct margo_app app;
	struct margo_node *pkg;
	struct archset *parch = NULL;
	const char **skip = NULL;
	size_t pkg_i;
	int rc = 0;

	memset(&c, 0, sizeof(c));
	memset(&app, 0, sizeof(app));
	c.s = s;
	c.pool = pool;
	c.o = o;
	c.rep = rep;
	margo_plan_want(&c);
	pkg_i = rep->n;
	pkg = margo_pull_report_add(rep, MARGO_NODE_PACKAGE, 0, pkg_state,
				    label, err);
	if (!pkg)
		return ERR_FAIL;
	pkg->has_digest = 1;
	pkg->digest = *d;
	pkg->bytes = pkg_bytes;
	rep->bytes += pkg_bytes;
	if (describe(&app, s, d, rep, pkg_i)) {
		margo_app_release(&app);
		if (err) {
			*err = rep->v[pkg_i].err;
			err_wrap(err, "%s: ", label);
		}
		return ERR_FAIL;
	}
	skip = calloc(app.n_profiles + 1, sizeof(*skip));
	parch = calloc(app.n_profiles + 1, sizeof(*parch));
	if (!skip || !parch)
		rc = err_set(err, ERR_FAIL, "%s: %zu profiles: out of memory",
			     label, app.n_profiles);
	if (!rc)
		rc = select_profiles(&c, &app, skip, parch, pkg_i, err);
	if (!rc && (pull_components(&c, err) || pull_images(&c, err) ||
		    margo_plan_tree(&c, &app, skip, err)))
		rc = ERR_FAIL;
	for (size_t i = 0; i < c.n_comps; i++)
		margo_images_release(&c.comps[i].imgs);
	free(c.comps);
	free(c.imgs);
	free(skip);
	free(parch);
	margo_app_release(&app);
	if (rc)
		return rc;
	if (rep->failed)
		return err_set(err, ERR_FAIL,
			       "%s: %zu failed (the report says which)", label,
			       rep->failed);
	return 0;
}

/* The description layer of package manifest m, fetched and parsed: 0
 * when it is YAML. */
static int check_description(struct reg_client *cl, const struct oci_ref *ref,
			     const struct oci_descriptor *desc, struct err *e)
{
	struct margo_problems probs;
	struct margo_app app;
	struct buf b;
	int rc;

	buf_init(&b, MARGO_INPUT_MAX);
	rc = reg_client_get_blob(cl, &b, ref->path, &desc->digest, e);
	margo_problems_init(&probs);
	if (!rc) {
		rc = margo_app_parse(&app, &probs, b.data, b.len, e);
		if (!rc && !app.has_doc)
			rc = err_set(e, ERR_INVALID,
				     "the description is not YAML "
				     "(%s); nothing stored",
				     probs.n ? probs.v[0].message : "empty");
		margo_app_release(&app);
	}
	margo_problems_release(&probs);
	buf_release(&b);
	return rc;
}

int margo_package_check(struct oci_digest *out, struct reg_client *cl,
			const struct oci_ref *ref, struct err *e)
{
	struct reg_manifest rm;
	struct oci_manifest m;
	const struct oci_descriptor *desc = NULL;
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
	*out = m.digest;
	desc = margo_package_layer(&m, e);
	if (!desc) {
		char why[ERR_MSG_MAX];

		snprintf(why, sizeof(why), "%s", e->msg);
		rc = err_set(e, ERR_INVALID, "%.400s; nothing stored", why);
	}
	if (!rc)
		rc = check_description(cl, ref, desc, e);
	oci_manifest_release(&m);
	return rc;
}

/* r without a tag or digest: the highest version its repository lists
 * (a package has no "latest"). */
static int pick_version(struct oci_ref *r, struct reg_pool *pool, struct err *e)
{
	struct reg_client *cl;
	char **tags = NULL;
	const char *best;
	size_t n = 0;
	int rc;

	if ((rc = reg_pool_get(pool, &cl, r->host, e)) ||
	    (rc = reg_client_list_tags(cl, &tags, &n, r->path, e)))
		return rc;
	best = margo_version_highest(tags, n);
	if (best)
		snprintf(r->tag, sizeof(r->tag), "%s", best);
	else if (n)
		rc = err_set(e, ERR_NOT_FOUND,
			     "the repository lists only signature, "
			     "attestation or referrer tags (no version to "
			     "pull)");
	else
		rc = err_set(e, ERR_NOT_FOUND,
			     "the repository lists no tags (no version to "
			     "pull)");
	oci_strv_free(tags);
	return rc;
}

int margo_app_pull(struct margo_pull_report *rep, struct store *s,
		   struct reg_pool *pool, const struct oci_ref *want,
		   const struct margo_pull_options *o, struct err *err)
{
	struct ctx c;
	struct pull_item it;
	struct pull_result res;
	struct reg_client *cl;
	struct oci_digest d;
	struct oci_ref pick = *want;
	const struct oci_ref *ref = &pick;
	struct margo_node *n;
	struct before was;
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
	if (!ref->tag[0] && !ref->has_digest) {
		if (pick_version(&pick, pool, &e))
			goto failed;
		oci_ref_format(ref, label, sizeof(label));
	}
	before_note(&was, s, repo, ref->tag, NULL, 0);
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
		    margo_package_check(&d, cl, &it.ref, &e))
			goto failed;
		it.ref.has_digest = 1; /* exactly what was checked */
		it.ref.digest = d;
		it.referrers = o->referrers;
		run_pull(&c, &it, 1, &res);
		if (res.result) {
			e = res.err;
			err_unname(&e, res.ref);
			goto failed;
		}
		bytes = res.bytes_fetched;
		cur = before_same(&was, &d, bytes);
	}
	return margo_app_expand(rep, s, pool, &d, label,
				cur ? MARGO_UNCHANGED : MARGO_STORED, bytes, o,
				err);
failed:
	n = margo_pull_report_add(rep, MARGO_NODE_PACKAGE, 0, MARGO_FAILED,
				  label, err);
	if (!n)
		return ERR_FAIL;
	n->err = e;
	if (err) {
		*err = e;
		err_wrap(err, "%s: ", label);
	}
	return ERR_FAIL;
}
