#include "mirror/push.h"

#include <ctype.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mirror/store/walk.h"
#include "oci/manifest.h"
#include "oci/mediatype.h"
#include "oci/vec.h"
#include "registry/engine.h"
#include "registry/upload.h"

#define MAX_DEPTH 4
/* Items resolved and in flight at once: bounds the manifests held. */
#define ITEMS_ACTIVE 32
/* Blob uploads started at once: each holds its store file open. */
#define UPLOADS_ACTIVE 16
#define BLOB_BUCKETS 4096

/* A push is a graph of jobs on the engine. Every blob of every item goes
 * at once (one job chain per destination repository and digest, however
 * many manifests need it); a manifest is PUT as soon as its blobs, or an
 * index's children, are in; a manifest's referrers after it; the tag when
 * everything of the item is done. */

struct run;
struct item;
struct node;
struct group;

enum blob_state {
	B_HEAD,	  /* exists-check in flight */
	B_WAIT,	  /* waiting for a sibling asked for earlier */
	B_UPLOAD, /* upload queued or in flight */
	B_OK,
	B_FAIL,
};

/* A node waiting for a blob. */
struct need {
	struct node *n;
	struct need *next;
};

/* One blob into one destination repository (client and repo). */
struct blob {
	struct run *r;
	struct reg_client *c;
	const char *repo; /* the plan's */
	struct oci_digest digest;
	int64_t size;
	enum blob_state state;
	int cancelled; /* nobody needed it any more: not reused */
	const char *how;
	struct err *err;      /* when it failed (held for the run: small) */
	struct node *owner;   /* the first node to need it: counts the result */
	struct need *needs;   /* the others */
	struct blob *waiters; /* siblings waiting for this upload */
	struct blob *next_wait, *next_queued, *next;
	int fd;
	const char *mount_from;
	size_t seq; /* order of creation */
};

/* Who waits for a node's PUT: a parent index or a subject's referrers. */
struct dep {
	struct node *parent;
	struct group *g;
	json_t *desc;
	struct dep *next;
};

/* One manifest of one item. */
struct node {
	struct item *it;
	struct oci_digest digest;
	int depth;
	char *raw;
	struct oci_manifest m;
	int parsed;
	int deps; /* blobs and children not in yet, +1 while being built */
	int done, ok, subject;
	struct dep *dependents;
	struct node *next;
};

/* The referrers of one pushed manifest, and its fallback tag index. */
struct group {
	struct item *it;
	json_t *refs, *fallback;
	int pending;
	char tag[OCI_TAG_MAX + 1];
	char *text;
	struct oci_manifest m;
	int parsed;
};

enum put_kind { PUT_NODE, PUT_GROUP, PUT_TAG };

struct put {
	struct item *it;
	enum put_kind kind;
	struct node *n;
	struct group *g;
	const struct oci_manifest *m;
	char ref[OCI_TAG_MAX + OCI_DIGEST_MAX + 1];
};

struct item {
	struct run *r;
	const struct push_item *pi;
	struct push_result *res;
	struct reg_client *c;
	const char *repo; /* destination path */
	struct node *nodes, *top;
	int outstanding; /* nodes, groups and PUTs not finished */
	int failed, tagged, ended;
};

struct run {
	const struct store *s;
	struct reg_pool *pool;
	const struct push_options *o;
	struct item *items;
	size_t n, next, active;
	int filling;
	struct blob **buckets;
	struct blob *queue, *queue_tail;
	int uploads;
	struct reg_engine **engines;
	size_t n_engines, cap_engines;
	size_t calls;	/* callbacks so far: a run that makes none is stuck */
	size_t blobs;	/* made so far */
	struct err oom; /* a failed blob's error when it cannot be kept */
};

static void emit(struct run *r, enum push_event_kind kind, const char *ref,
		 const char *digest, const char *how, int64_t bytes, int result,
		 const char *message)
{
	struct push_event ev = {kind, ref, digest, how, bytes, result, message};

	if (r->o->event)
		r->o->event(r->o->ctx, &ev);
}

/* --- items --- */

static void fill(struct run *r);
static void node_free(struct node *n);

/* The first error of an item is its result; nothing more is started for
 * it, what is in flight drains. */
static void item_fail(struct item *it, int rc, const struct err *err)
{
	if (it->failed)
		return;
	it->failed = 1;
	it->res->result = rc;
	if (err)
		it->res->err = *err;
	if (!it->res->err.msg[0])
		err_set(&it->res->err, rc, "%s", err_code_name(rc));
	it->res->err.code = rc;
}

static void put_start(struct item *it, enum put_kind kind, struct node *n,
		      struct group *g, const struct oci_manifest *m,
		      const char *ref);

static void item_end(struct item *it)
{
	struct run *r = it->r;
	struct push_result *res = it->res;

	if (!it->failed && !it->tagged && it->top && it->pi->dst.tag[0]) {
		it->tagged = 1;
		it->outstanding++;
		put_start(it, PUT_TAG, NULL, NULL, &it->top->m,
			  it->pi->dst.tag);
		return;
	}
	it->ended = 1;
	if (res->result)
		err_wrap(&res->err, "push %s: ", res->ref);
	emit(r, PUSH_EV_DONE, res->ref,
	     res->digest.str[0] ? res->digest.str : NULL, NULL, 0, res->result,
	     res->result ? res->err.msg : NULL);
	while (it->nodes) {
		struct node *n = it->nodes;
		it->nodes = n->next;
		node_free(n);
	}
	it->top = NULL;
	r->active--;
	fill(r);
}

static void item_hold(struct item *it)
{
	it->outstanding++;
}

static void item_release(struct item *it)
{
	if (--it->outstanding == 0)
		item_end(it);
}

/* --- manifest PUTs --- */

static void node_put_done(struct node *n, int rc, int subject);
static void group_put_done(struct group *g, int rc);

/* What waits for a PUT goes on. */
static void put_continue(struct item *it, enum put_kind kind, struct node *n,
			 struct group *g, int rc, int subject)
{
	switch (kind) {
	case PUT_NODE: node_put_done(n, rc, subject); break;
	case PUT_GROUP: group_put_done(g, rc); break;
	case PUT_TAG: item_release(it); break;
	}
}

static void put_done(void *ctx, int rc, int subject, const struct err *err)
{
	struct put *p = ctx;
	struct item *it = p->it;

	it->r->calls++;
	if (rc) {
		item_fail(it, rc, err);
	} else {
		char shown[OCI_REF_STR_MAX + 200];

		it->res->manifests++;
		snprintf(shown, sizeof(shown), "%s/%s%s%s",
			 reg_client_host(it->c), it->repo,
			 strchr(p->ref, ':') ? "@" : ":", p->ref);
		emit(it->r, PUSH_EV_MANIFEST, shown, p->m->digest.str, NULL,
		     (int64_t)p->m->raw_len, 0, NULL);
	}
	put_continue(it, p->kind, p->n, p->g, rc, subject);
	free(p);
}

/* PUT m as ref; what waits for it goes on from put_done, or at once when
 * the PUT cannot be queued. */
static void put_start(struct item *it, enum put_kind kind, struct node *n,
		      struct group *g, const struct oci_manifest *m,
		      const char *ref)
{
	struct put *p = calloc(1, sizeof(*p));
	struct err err;

	err_clear(&err);
	if (!p) {
		err_set(&err, ERR_FAIL, "push manifest %s: out of memory", ref);
		item_fail(it, ERR_FAIL, &err);
		put_continue(it, kind, n, g, ERR_FAIL, 0);
		return;
	}
	p->it = it;
	p->kind = kind;
	p->n = n;
	p->g = g;
	p->m = m;
	snprintf(p->ref, sizeof(p->ref), "%s", ref);
	if (reg_client_put_manifest_async(it->c, it->repo, ref, m->media_type,
					  m->raw, m->raw_len, put_done, p,
					  &err)) {
		item_fail(it, err.code ? err.code : ERR_FAIL, &err);
		put_continue(it, kind, n, g, ERR_FAIL, 0);
		free(p);
	}
}

/* --- blobs --- */

static void node_dep_done(struct node *n, int rc, const struct err *err);
static void blob_decide(struct blob *b);

static size_t bucket_of(const struct oci_digest *d)
{
	const char *h = oci_digest_hex(d);
	size_t v = 0;

	for (int i = 0; i < 8 && h[i]; i++)
		v = v * 31 + (unsigned char)h[i];
	return v % BLOB_BUCKETS;
}

static struct blob *blob_find(struct run *r, struct reg_client *c,
			      const char *repo, const struct oci_digest *d)
{
	for (struct blob *b = r->buckets[bucket_of(d)]; b; b = b->next)
		if (!b->cancelled && b->c == c && !strcmp(b->repo, repo) &&
		    oci_digest_equal(&b->digest, d))
			return b;
	return NULL;
}

/* Tell every node that needed b how it went (e: why it failed). */
static void blob_finish(struct blob *b, int rc, const struct err *e)
{
	struct run *r = b->r;
	struct need *nd = b->needs;
	struct blob *w = b->waiters;
	struct node *owner = b->owner;

	b->state = rc ? B_FAIL : B_OK;
	b->needs = NULL;
	b->waiters = NULL;
	b->owner = NULL;
	if (rc) {
		b->err = malloc(sizeof(*b->err));
		if (!b->err)
			b->err = &r->oom;
		if (e && e->msg[0])
			*b->err = *e;
		else
			err_set(b->err, rc, "blob %s: %s", b->digest.str,
				err_code_name(rc));
		b->err->code = rc;
	}
	if (owner && !b->cancelled) {
		struct push_result *res = owner->it->res;

		if (rc) {
			emit(r, PUSH_EV_BLOB, res->ref, b->digest.str, "failed",
			     b->size, rc, b->err->msg);
		} else {
			if (!strcmp(b->how, "exists")) {
				res->blobs_existing++;
			} else if (!strcmp(b->how, "mounted")) {
				res->blobs_mounted++;
			} else {
				res->blobs_uploaded++;
				res->bytes_uploaded += (uint64_t)b->size;
			}
			emit(r, PUSH_EV_BLOB, res->ref, b->digest.str, b->how,
			     b->size, 0, NULL);
		}
	}
	while (nd) {
		struct need *next = nd->next;
		struct push_result *res = nd->n->it->res;

		if (rc && !b->cancelled)
			emit(r, PUSH_EV_BLOB, res->ref, b->digest.str, "failed",
			     b->size, rc, b->err->msg);
		else if (!rc)
			res->blobs_existing++;
		node_dep_done(nd->n, rc, b->err);
		free(nd);
		nd = next;
	}
	if (owner)
		node_dep_done(owner, rc, b->err);
	while (w) {
		struct blob *next = w->next_wait;
		w->next_wait = NULL;
		blob_decide(w);
		w = next;
	}
}

/* 1 while an item that is still going needs b. */
static int blob_wanted(const struct blob *b)
{
	if (b->owner && !b->owner->it->failed)
		return 1;
	for (const struct need *nd = b->needs; nd; nd = nd->next)
		if (!nd->n->it->failed)
			return 1;
	return 0;
}

static void pump(struct run *r);

static void upload_done(void *ctx, int rc, enum reg_upload_how how, int patches,
			const struct err *err)
{
	struct blob *b = ctx;
	struct run *r = b->r;

	(void)patches;
	r->calls++;
	r->uploads--;
	if (b->fd >= 0)
		close(b->fd);
	b->fd = -1;
	if (!rc)
		b->how = how == REG_UPLOAD_MOUNTED ? "mounted" : "uploaded";
	blob_finish(b, rc, err);
	pump(r);
}

/* The store file of d, checked against the descriptor's size; open in
 * *fd_out when fd_out is not NULL. */
static int store_check(int *fd_out, const struct store *s,
		       const struct oci_digest *d, int64_t want,
		       struct err *err)
{
	int64_t size = 0;
	int fd = -1, rc;

	rc = store_blob_open(&fd, &size, s, d, err);
	if (!rc && size != want)
		rc = err_set(err, ERR_DIGEST,
			     "blob %s: %lld bytes in the store, descriptor "
			     "says %lld",
			     d->str, (long long)size, (long long)want);
	if (fd >= 0 && (rc || !fd_out))
		close(fd);
	else if (fd_out)
		*fd_out = fd;
	return rc;
}

/* Open the store file and start the upload chain. */
static void upload_start(struct blob *b)
{
	struct run *r = b->r;
	struct err err;
	int rc;

	err_clear(&err);
	if (!blob_wanted(b)) {
		b->cancelled = 1;
		blob_finish(b, ERR_FAIL, NULL);
		return;
	}
	rc = store_check(&b->fd, r->s, &b->digest, b->size, &err);
	if (!rc)
		rc = reg_client_upload_blob_async(
		    b->c, b->repo, &b->digest, b->size, b->fd, b->mount_from,
		    r->o->chunk, upload_done, b, &err);
	if (rc) {
		if (b->fd >= 0)
			close(b->fd);
		b->fd = -1;
		blob_finish(b, rc, &err);
		return;
	}
	r->uploads++;
}

/* Start queued uploads while there is room. */
static void pump(struct run *r)
{
	while (r->queue && r->uploads < UPLOADS_ACTIVE) {
		struct blob *b = r->queue;

		r->queue = b->next_queued;
		if (!r->queue)
			r->queue_tail = NULL;
		b->next_queued = NULL;
		upload_start(b);
	}
}

static void upload_queue(struct blob *b, const char *mount_from)
{
	struct run *r = b->r;

	b->state = B_UPLOAD;
	b->mount_from = mount_from;
	if (r->queue_tail)
		r->queue_tail->next_queued = b;
	else
		r->queue = b;
	r->queue_tail = b;
	pump(r);
}

/* Absent from the destination: mount it from another repository of the
 * same registry that has it; else wait for one asked for earlier (which
 * will have it, or upload it), so the first to need a blob uploads it and
 * the others mount it; else upload it. */
static void blob_decide(struct blob *b)
{
	struct blob *ok = NULL, *earlier = NULL;

	for (struct blob *s = b->r->buckets[bucket_of(&b->digest)]; s;
	     s = s->next) {
		if (s == b || s->cancelled || s->c != b->c ||
		    !oci_digest_equal(&s->digest, &b->digest))
			continue;
		if (s->state == B_OK && (!ok || s->seq < ok->seq))
			ok = s;
		else if (s->state != B_FAIL && s->seq < b->seq &&
			 (!earlier || s->seq < earlier->seq))
			earlier = s;
	}
	if (ok) {
		upload_queue(b, ok->repo);
	} else if (earlier) {
		b->state = B_WAIT;
		b->next_wait = earlier->waiters;
		earlier->waiters = b;
	} else {
		upload_queue(b, NULL);
	}
}

static void exists_done(void *ctx, int rc, int64_t size, const struct err *err)
{
	struct blob *b = ctx;

	(void)size;
	b->r->calls++;
	if (rc < 0) {
		blob_finish(b, rc, err);
	} else if (rc == 1) {
		b->how = "exists";
		blob_finish(b, 0, NULL);
	} else {
		blob_decide(b);
	}
}

/* Node n needs the blob desc: counted, and waited for unless known. */
static void blob_need(struct node *n, const struct oci_descriptor *desc)
{
	struct item *it = n->it;
	struct run *r = it->r;
	struct blob *b;
	struct need *nd;
	struct err err;
	int rc;

	it->res->blobs++;
	b = blob_find(r, it->c, it->repo, &desc->digest);
	if (b && (b->state == B_OK || b->state == B_FAIL)) {
		if (b->state == B_OK) {
			it->res->blobs_existing++;
			return;
		}
		emit(r, PUSH_EV_BLOB, it->res->ref, b->digest.str, "failed",
		     desc->size, b->err->code, b->err->msg);
		item_fail(it, b->err->code, b->err);
		return;
	}
	if (b) {
		if (!(nd = calloc(1, sizeof(*nd)))) {
			struct err e;
			err_set(&e, ERR_FAIL, "blob %s: out of memory",
				desc->digest.str);
			item_fail(it, ERR_FAIL, &e);
			return;
		}
		nd->n = n;
		nd->next = b->needs;
		b->needs = nd;
		n->deps++;
		return;
	}
	if (!(b = calloc(1, sizeof(*b)))) {
		struct err e;
		err_set(&e, ERR_FAIL, "blob %s: out of memory",
			desc->digest.str);
		item_fail(it, ERR_FAIL, &e);
		return;
	}
	b->r = r;
	b->c = it->c;
	b->repo = it->repo;
	b->digest = desc->digest;
	b->size = desc->size;
	b->fd = -1;
	b->seq = r->blobs++;
	b->owner = n;
	b->state = B_HEAD;
	err_clear(&err);
	rc = store_check(NULL, r->s, &desc->digest, desc->size, &err);
	if (rc == ERR_NOT_FOUND &&
	    oci_mediatype_is_nondistributable(desc->media_type)) {
		it->res->blobs--;
		free(b);
		return;
	}
	b->next = r->buckets[bucket_of(&b->digest)];
	r->buckets[bucket_of(&b->digest)] = b;
	n->deps++;
	if (!rc)
		rc = reg_client_blob_exists_async(it->c, it->repo, &b->digest,
						  exists_done, b, &err);
	if (rc)
		blob_finish(b, rc, &err);
}

/* --- manifests --- */

static void node_free(struct node *n)
{
	while (n->dependents) {
		struct dep *d = n->dependents;
		n->dependents = d->next;
		free(d);
	}
	if (n->parsed)
		oci_manifest_release(&n->m);
	free(n->raw);
	free(n);
}

static void dep_notify(struct node *n, struct dep *d);

static void node_finish(struct node *n)
{
	struct dep *d;

	n->done = 1;
	while ((d = n->dependents)) {
		n->dependents = d->next;
		dep_notify(n, d);
		free(d);
	}
	/* only the top manifest is needed again (for the tag) */
	if (n != n->it->top && n->parsed) {
		oci_manifest_release(&n->m);
		n->parsed = 0;
		free(n->raw);
		n->raw = NULL;
	}
	item_release(n->it);
}

static void node_ready(struct node *n)
{
	if (n->it->failed) {
		node_finish(n);
		return;
	}
	put_start(n->it, PUT_NODE, n, NULL, &n->m, n->digest.str);
}

static void node_dep_done(struct node *n, int rc, const struct err *err)
{
	if (rc)
		item_fail(n->it, rc, err);
	if (--n->deps == 0)
		node_ready(n);
}

static void refs_start(struct node *n);

static void node_put_done(struct node *n, int rc, int subject)
{
	if (!rc) {
		n->ok = 1;
		n->subject = subject;
		refs_start(n);
	}
	node_finish(n);
}

static struct node *node_get(struct item *it, const struct oci_digest *d,
			     const char *media_type, int depth,
			     struct err *err);

/* Make parent (or g) wait for n's PUT; nothing when it is done. */
static int dep_add(struct node *n, struct node *parent, struct group *g,
		   json_t *desc, struct err *err)
{
	struct dep *dp;

	if (n->done) {
		if (g && n->ok && !n->subject)
			json_array_append(g->fallback, desc);
		return 0;
	}
	if (!(dp = calloc(1, sizeof(*dp))))
		return err_set(err, ERR_FAIL, "manifest %s: out of memory",
			       n->digest.str);
	dp->parent = parent;
	dp->g = g;
	dp->desc = desc;
	dp->next = n->dependents;
	n->dependents = dp;
	if (parent)
		parent->deps++;
	else
		g->pending++;
	return 0;
}

/* The node of digest d in the item, made (with everything it needs
 * asked for) when new. NULL with err set on failure. */
static struct node *node_get(struct item *it, const struct oci_digest *d,
			     const char *media_type, int depth, struct err *err)
{
	struct node *n;
	size_t len = 0;
	int rc;

	if (depth > MAX_DEPTH) {
		err_set(err, ERR_INVALID, "manifest %s: nested deeper than %d",
			d->str, MAX_DEPTH);
		return NULL;
	}
	for (n = it->nodes; n; n = n->next)
		if (oci_digest_equal(&n->digest, d))
			return n;
	if (!(n = calloc(1, sizeof(*n)))) {
		err_set(err, ERR_FAIL, "manifest %s: out of memory", d->str);
		return NULL;
	}
	n->it = it;
	n->digest = *d;
	n->depth = depth;
	rc = store_blob_read(&n->raw, &len, it->r->s, d, OCI_MANIFEST_MAX, err);
	if (!rc)
		rc = oci_manifest_parse(&n->m, n->raw, len, media_type, err);
	if (rc) {
		free(n->raw);
		free(n);
		return NULL;
	}
	n->parsed = 1;
	n->next = it->nodes;
	it->nodes = n;
	if (!it->top)
		it->top = n;
	item_hold(it);
	n->deps = 1;
	if (n->m.kind == OCI_KIND_INDEX) {
		for (size_t i = 0; i < n->m.n_manifests && !it->failed; i++) {
			const struct oci_descriptor *c = &n->m.manifests[i];
			struct node *child;

			if (!store_blob_exists(NULL, it->r->s, &c->digest))
				continue; /* platform not pulled */
			child = node_get(it, &c->digest, c->media_type,
					 depth + 1, err);
			if (!child || dep_add(child, n, NULL, NULL, err))
				item_fail(it, err->code, err);
		}
	} else {
		if (n->m.has_config && !it->failed)
			blob_need(n, &n->m.config);
		for (size_t i = 0; i < n->m.n_layers && !it->failed; i++)
			blob_need(n, &n->m.layers[i]);
	}
	node_dep_done(n, 0, NULL);
	return n;
}

/* --- referrers --- */

static void group_end(struct group *g)
{
	struct item *it = g->it;

	if (g->parsed)
		oci_manifest_release(&g->m);
	free(g->text);
	json_decref(g->fallback);
	json_decref(g->refs);
	free(g);
	item_release(it);
}

static void group_put_done(struct group *g, int rc)
{
	(void)rc;
	group_end(g);
}

/* The fallback tag index as it is, with the referrers added that it
 * lacks. */
static void fallback_got(void *ctx, int rc, struct reg_manifest *old,
			 int64_t size, const struct err *err)
{
	struct group *g = ctx;
	struct item *it = g->it;
	json_t *idx = NULL, *list, *e;
	size_t i, added = 0;
	struct err perr;

	(void)size;
	it->r->calls++;
	if (rc && rc != ERR_NOT_FOUND) {
		item_fail(it, rc, err);
		group_end(g);
		return;
	}
	if (!rc && old)
		idx = json_loadb(old->body, old->len, 0, NULL);
	if (!json_is_object(idx) ||
	    !json_is_array(json_object_get(idx, "manifests"))) {
		json_decref(idx);
		idx = json_pack("{s:i,s:s,s:[]}", "schemaVersion", 2,
				"mediaType", MT_OCI_INDEX, "manifests");
	}
	list = json_object_get(idx, "manifests");
	json_array_foreach (g->fallback, i, e) {
		const char *dg =
		    json_string_value(json_object_get(e, "digest"));
		size_t k;
		json_t *x;
		int have = 0;

		json_array_foreach (list, k, x)
			if (dg &&
			    json_is_string(json_object_get(x, "digest")) &&
			    !strcmp(dg, json_string_value(
					    json_object_get(x, "digest"))))
				have = 1;
		if (!have && dg) {
			json_array_append(list, e);
			added++;
		}
	}
	if (added) {
		err_clear(&perr);
		g->text = json_dumps(idx, JSON_COMPACT);
		rc = g->text
			 ? oci_manifest_parse(&g->m, g->text, strlen(g->text),
					      MT_OCI_INDEX, &perr)
			 : err_set(&perr, ERR_FAIL, "out of memory");
		json_decref(idx);
		if (rc) {
			item_fail(it, rc, &perr);
			group_end(g);
			return;
		}
		g->parsed = 1;
		put_start(it, PUT_GROUP, NULL, g, &g->m, g->tag);
		return;
	}
	json_decref(idx);
	group_end(g);
}

/* Every referrer is PUT: update the fallback tag for the ones the
 * registry did not take as referrers itself. */
static void group_ready(struct group *g)
{
	struct item *it = g->it;
	struct err err;

	if (it->failed || !json_array_size(g->fallback)) {
		group_end(g);
		return;
	}
	err_clear(&err);
	if (reg_client_get_manifest_async(it->c, it->repo, g->tag, fallback_got,
					  g, &err)) {
		item_fail(it, err.code ? err.code : ERR_FAIL, &err);
		group_end(g);
	}
}

static void dep_notify(struct node *n, struct dep *d)
{
	if (d->parent) {
		node_dep_done(d->parent, 0, NULL);
		return;
	}
	if (n->ok && !n->subject)
		json_array_append(d->g->fallback, d->desc);
	if (--d->g->pending == 0)
		group_ready(d->g);
}

static int collect_ref(void *ctx, const char *desc_json)
{
	json_t *arr = ctx;
	json_t *j = json_loads(desc_json, 0, NULL);

	if (json_is_object(j))
		json_array_append_new(arr, j);
	else
		json_decref(j);
	return 0;
}

/* n is pushed: push the referrers the store recorded for it, all at
 * once. */
static void refs_start(struct node *n)
{
	struct item *it = n->it;
	struct group *g;
	struct err err;
	json_t *desc;
	size_t i;
	int rc;

	if (it->failed)
		return;
	err_clear(&err);
	if (!(g = calloc(1, sizeof(*g))) || !(g->refs = json_array()) ||
	    !(g->fallback = json_array())) {
		if (g) {
			json_decref(g->refs);
			free(g);
		}
		err_set(&err, ERR_FAIL, "referrers of %s: out of memory",
			n->digest.str);
		item_fail(it, ERR_FAIL, &err);
		return;
	}
	g->it = it;
	snprintf(g->tag, sizeof(g->tag), "%s-%s",
		 oci_digest_alg_name(n->digest.alg),
		 oci_digest_hex(&n->digest));
	item_hold(it);
	g->pending = 1;
	rc = store_referrers_list(it->r->s, it->pi->src_repo, &n->digest,
				  collect_ref, g->refs, &err);
	if (rc == ERR_NOT_FOUND)
		rc = 0;
	if (rc)
		item_fail(it, rc, &err);
	json_array_foreach (g->refs, i, desc) {
		const char *dg =
		    json_string_value(json_object_get(desc, "digest"));
		struct oci_digest d;
		struct node *r;

		if (it->failed)
			break;
		if (oci_digest_parse(&d, dg ? dg : "", NULL))
			continue;
		if (!store_blob_exists(NULL, it->r->s, &d))
			continue;
		r = node_get(
		    it, &d,
		    json_string_value(json_object_get(desc, "mediaType")),
		    n->depth + 1, &err);
		if (!r || dep_add(r, NULL, g, desc, &err))
			item_fail(it, err.code, &err);
	}
	if (--g->pending == 0)
		group_ready(g);
}

/* --- the run --- */

static int engine_add(struct run *r, struct reg_engine *e)
{
	for (size_t i = 0; i < r->n_engines; i++)
		if (r->engines[i] == e)
			return 0;
	if (OCI_VEC_RESERVE(r->engines, r->n_engines, r->cap_engines, 1, 0))
		return ERR_FAIL;
	r->engines[r->n_engines++] = e;
	return 0;
}

static void item_start(struct item *it)
{
	const struct push_item *pi = it->pi;
	struct run *r = it->r;
	struct store_ref top;
	struct err err;
	char src[OCI_REF_STR_MAX];
	struct reg_engine *e;
	int rc;

	r->active++;
	err_clear(&err);
	item_hold(it);
	snprintf(src, sizeof(src), "%s%s%s", pi->src_repo,
		 pi->src_tag ? ":" : "@",
		 pi->src_tag ? pi->src_tag : pi->src_digest.str);
	if (pi->src_tag)
		rc = store_tag_get(&top, r->s, pi->src_repo, pi->src_tag, &err);
	else
		rc = store_manifest_get(&top, r->s, pi->src_repo,
					&pi->src_digest, &err);
	if (rc) {
		if (rc == ERR_NOT_FOUND)
			err_set(&err, ERR_NOT_FOUND, "%s: not in the store",
				src);
		goto fail;
	}
	it->res->digest = top.digest;
	rc = reg_pool_get(r->pool, &it->c, pi->dst.host, &err);
	if (rc)
		goto fail;
	e = reg_client_engine(it->c);
	if (!e || engine_add(r, e)) {
		rc = err_set(&err, ERR_FAIL, "push: out of memory");
		goto fail;
	}
	it->repo = pi->dst.path;
	if (!node_get(it, &top.digest, top.media_type, 0, &err)) {
		rc = err.code ? err.code : ERR_FAIL;
		goto fail;
	}
	item_release(it);
	return;
fail:
	item_fail(it, rc, &err);
	item_release(it);
}

/* Start items while fewer than ITEMS_ACTIVE are going. */
static void fill(struct run *r)
{
	if (r->filling)
		return;
	r->filling = 1;
	while (r->next < r->n && r->active < ITEMS_ACTIVE)
		item_start(&r->items[r->next++]);
	r->filling = 0;
}

int push_run(struct push_result *results, const struct store *s,
	     struct reg_pool *pool, const struct push_item *items, size_t n,
	     const struct push_options *o)
{
	struct run r;
	int any = 0;

	memset(&r, 0, sizeof(r));
	r.s = s;
	r.pool = pool;
	r.o = o;
	r.n = n;
	for (size_t i = 0; i < n; i++) {
		memset(&results[i], 0, sizeof(results[i]));
		err_clear(&results[i].err);
		oci_ref_format(&items[i].dst, results[i].ref,
			       sizeof(results[i].ref));
	}
	r.items = calloc(n ? n : 1, sizeof(*r.items));
	r.buckets = calloc(BLOB_BUCKETS, sizeof(*r.buckets));
	if (!r.items || !r.buckets) {
		for (size_t i = 0; i < n; i++) {
			err_set(&results[i].err, ERR_FAIL,
				"push %s: out of memory", results[i].ref);
			results[i].result = ERR_FAIL;
		}
		free(r.items);
		free(r.buckets);
		return n ? ERR_FAIL : 0;
	}
	for (size_t i = 0; i < n; i++) {
		r.items[i].r = &r;
		r.items[i].pi = &items[i];
		r.items[i].res = &results[i];
	}
	fill(&r);
	while (r.active) {
		size_t before = r.calls;

		for (size_t i = 0; i < r.n_engines; i++)
			reg_engine_run(r.engines[i]);
		if (r.calls != before)
			continue;
		/* nothing answered and something still waits: give up on
		 * what is left rather than spin */
		for (size_t i = 0, upto = r.next; i < upto; i++) {
			struct item *it = &r.items[i];
			struct err e;

			if (it->ended)
				continue;
			err_set(&e, ERR_FAIL, "no answer came");
			item_fail(it, ERR_FAIL, &e);
			it->outstanding = 1;
			it->tagged = 1;
			item_release(it);
		}
	}
	for (size_t i = 0; i < n; i++)
		if (results[i].result)
			any = 1;
	for (size_t i = 0; i < BLOB_BUCKETS; i++)
		while (r.buckets[i]) {
			struct blob *b = r.buckets[i];
			r.buckets[i] = b->next;
			while (b->needs) {
				struct need *nd = b->needs;
				b->needs = nd->next;
				free(nd);
			}
			if (b->fd >= 0)
				close(b->fd);
			if (b->err != &r.oom)
				free(b->err);
			free(b);
		}
	free(r.buckets);
	free(r.items);
	free(r.engines);
	return any ? ERR_FAIL : 0;
}

int push_map_repo(struct oci_ref *out, const char *to, const char *repo,
		  struct err *err)
{
	char name[OCI_REPO_MAX * 2 + 4];
	size_t n;
	int rc;

	n = (size_t)snprintf(name, sizeof(name), "%s/", to);
	if (n >= sizeof(name))
		return err_set(err, ERR_INVALID, "push --to %s: too long", to);
	for (const char *p = repo; *p && n + 1 < sizeof(name); p++) {
		unsigned char ch = (unsigned char)tolower((unsigned char)*p);
		int ok = isalnum(ch) || ch == '.' || ch == '_' || ch == '-' ||
			 ch == '/';
		char c = ok ? (char)ch : '-';

		if (ch == '[' || ch == ']')
			continue;
		/* a component starts with a letter or digit and has no
		 * run of '-' made from several refused characters */
		if (c == '-' &&
		    (name[n - 1] == '/' || (!ok && name[n - 1] == '-')))
			continue;
		if (c == '/' && name[n - 1] == '-')
			n--;
		name[n++] = c;
	}
	while (n && name[n - 1] == '-')
		n--;
	name[n] = '\0';
	rc = oci_ref_parse_repo(out, name, err);
	if (rc)
		return err_wrap(err, "push %s to %s: ", repo, to);
	return 0;
}

static char *plan_keep(struct push_plan *p, const char *s, struct err *err)
{
	if (OCI_VEC_RESERVE(p->strs, p->n_strs, p->cap_strs, 1, 0))
		goto oom;
	if (!(p->strs[p->n_strs] = strdup(s)))
		goto oom;
	return p->strs[p->n_strs++];
oom:
	err_set(err, ERR_FAIL, "push plan: out of memory");
	return NULL;
}

static struct push_item *plan_add(struct push_plan *p, struct err *err)
{
	if (OCI_VEC_RESERVE(p->items, p->n, p->cap, 1, 0)) {
		err_set(err, ERR_FAIL, "push plan: out of memory");
		return NULL;
	}
	memset(&p->items[p->n], 0, sizeof(p->items[0]));
	return &p->items[p->n++];
}

struct plan_walk {
	struct push_plan *p;
	const char *to;
	struct err *err;
	int rc;
};

static int plan_visit(void *ctx, const char *repo, const char *tag,
		      const struct store_ref *ref)
{
	struct plan_walk *w = ctx;
	struct push_item *it;

	(void)ref;
	if (!tag)
		return 0;
	if (!(it = plan_add(w->p, w->err)) ||
	    !(it->src_repo = plan_keep(w->p, repo, w->err)) ||
	    !(it->src_tag = plan_keep(w->p, tag, w->err))) {
		w->rc = ERR_FAIL;
		return 1;
	}
	w->rc = push_map_repo(&it->dst, w->to, repo, w->err);
	if (w->rc)
		return 1;
	snprintf(it->dst.tag, sizeof(it->dst.tag), "%s", tag);
	return 0;
}

int push_plan_all(struct push_plan *out, const struct store *s, const char *to,
		  struct err *err)
{
	struct plan_walk w = {out, to, err, 0};
	int rc = walk_tags(s, NULL, plan_visit, &w, err);

	return w.rc ? w.rc : rc;
}

/* 1 when the reference text names a tag or digest after its last '/'. */
static int names_tag(const char *s)
{
	const char *slash = strrchr(s, '/');

	return strchr(slash ? slash : s, ':') || strchr(s, '@');
}

int push_plan_one(struct push_plan *out, const char *src, const char *dst,
		  struct err *err)
{
	struct oci_ref from;
	struct push_item *it;
	char repo[OCI_REPO_MAX];
	int rc;

	rc = oci_ref_parse(&from, src, err);
	if (rc)
		return rc;
	if (!(it = plan_add(out, err)))
		return ERR_FAIL;
	rc = oci_ref_parse(&it->dst, dst, err);
	if (rc) {
		out->n--;
		return rc;
	}
	oci_ref_repo(&from, repo, sizeof(repo));
	if (!(it->src_repo = plan_keep(out, repo, err)))
		return ERR_FAIL;
	if (from.tag[0]) {
		if (!(it->src_tag = plan_keep(out, from.tag, err)))
			return ERR_FAIL;
	} else {
		it->src_digest = from.digest;
	}
	if (!names_tag(dst))
		snprintf(it->dst.tag, sizeof(it->dst.tag), "%s", from.tag);
	it->dst.has_digest = 0;
	return 0;
}

void push_plan_release(struct push_plan *p)
{
	for (size_t i = 0; i < p->n_strs; i++)
		free(p->strs[i]);
	free(p->strs);
	free(p->items);
	memset(p, 0, sizeof(*p));
}
