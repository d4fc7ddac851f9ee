#include "mirror/pull.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "oci/manifest.h"
#include "oci/mediatype.h"
#include "oci/vec.h"
#include "registry/engine.h"

#define MAX_DEPTH 4
#define DEFAULT_MAX_OPEN 256
#define DEFAULT_MAX_BYTES (32u * 1024 * 1024)
/* What an admitted reference whose top manifest is not in yet counts
 * against the byte budget: a typical manifest. */
#define UNRESOLVED_BYTES 4096

/* One resolved manifest of a reference; allocated alone, so a pointer to
 * it stays valid while the reference's list of them grows. */
struct item {
	struct oci_manifest m;
	int depth;
	int is_referrer;
	struct oci_digest subject;
	char *desc_json; /* referrer descriptor, for the referrers record */
};

struct need {
	struct oci_digest digest;
	int64_t size;
};

struct pull_session;

/* An admitted reference, from its top manifest's request to its commit. */
struct ref {
	struct pull_session *ps;
	struct pull_item item;
	struct pull_result *res;
	void (*done)(void *ctx, struct pull_result *res);
	void *done_ctx;
	struct reg_client *client;
	char repo[OCI_REPO_MAX];
	struct item **items; /* items[0] is the top once it is in */
	size_t n_items, cap_items;
	struct oci_digest *asked; /* manifests requested, for dedupe */
	size_t n_asked, cap_asked;
	struct need *needs;
	size_t n_needs, cap_needs;
	size_t outstanding; /* resolution jobs in flight */
	size_t pending;	    /* blobs waited for */
	uint64_t held;	    /* manifest bytes held */
	int top_in;
	int failed;
	struct ref *prev, *next; /* the session's open references */
};

/* A reference waiting for admission. */
struct waiting {
	struct pull_item item;
	struct pull_result *res;
	void (*done)(void *ctx, struct pull_result *res);
	void *ctx;
	struct waiting *next;
};

/* One resolution request: a manifest, or the referrers of one. */
struct rjob {
	struct ref *r;
	int depth;
	int has_via; /* the descriptor that named it: its size is checked */
	int64_t via_size;
	int is_referrer;
	struct oci_digest subject; /* referrer: its subject; referrers job:
				      whose referrers */
	char reference[OCI_TAG_MAX + OCI_DIGEST_MAX + 2];
};

struct blobsink {
	struct store *s;
	struct store_writer *w;
	struct oci_digest digest;
	int64_t size;
};

/* A blob fetched in this session: in flight (with the references waiting
 * for it, the first one having started it), or failed (kept, so a later
 * reference needing it fails the same way instead of fetching it again).
 * One that arrived is in the store and leaves the table. */
struct blob {
	struct pull_session *ps;
	struct reg_blob_job job;
	struct blobsink sink;
	char repo[OCI_NAME_MAX + 1];
	struct ref **waiters; /* waiters[0] started it */
	size_t n_waiters, cap_waiters;
	int failed;
	struct blob *chain; /* next in its hash bucket */
};

struct pull_session {
	struct store *s;
	struct reg_pool *pool;
	struct pull_options o;
	struct reg_engine *engine;
	size_t max_open;
	uint64_t max_bytes;
	/* admission */
	struct waiting *wait_head, *wait_tail;
	struct ref *open; /* list of open references */
	size_t n_open, n_unresolved;
	uint64_t held;
	int admitting;
	int closing; /* the run is over: nothing more starts */
	int any_failed;
	/* blobs by digest */
	struct blob **buckets;
	size_t n_buckets, n_blobs;
	/* counters */
	struct pull_session_stats st;
	uint64_t bytes_done, bytes_total; /* blobs of this session */
	size_t blobs_done, blobs_total;
};

static void emit(const struct pull_session *ps, struct pull_event *ev)
{
	if (ps->o.event)
		ps->o.event(ps->o.ctx, ev);
}

/* --- the store-writer sink --- */

static int sink_open(struct blobsink *b, struct err *err)
{
	if (b->w)
		return 0;
	return store_writer_open(&b->w, b->s, &b->digest, b->size, err);
}

static int sink_write(void *ctx, const void *p, size_t n, struct err *err)
{
	struct blobsink *b = ctx;
	int rc = sink_open(b, err);

	return rc ? rc : store_writer_write(b->w, p, n, err);
}

static int sink_reset(void *ctx, struct err *err)
{
	struct blobsink *b = ctx;

	return b->w ? store_writer_reset(b->w, err) : 0;
}

static uint64_t sink_offset(void *ctx)
{
	struct blobsink *b = ctx;

	return b->w ? store_writer_offset(b->w) : 0;
}

static int sink_finish(void *ctx, struct err *err)
{
	struct blobsink *b = ctx;
	int rc = sink_open(b, err);

	return rc ? rc : store_writer_commit(b->w, err);
}

/* --- the blob table --- */

static size_t digest_hash(const struct oci_digest *d)
{
	size_t h = 14695981039346656037u;

	for (const char *p = d->str; *p; p++)
		h = (h ^ (unsigned char)*p) * 1099511628211u;
	return h;
}

static struct blob *blob_find(const struct pull_session *ps,
			      const struct oci_digest *d)
{
	struct blob *b;

	if (!ps->n_buckets)
		return NULL;
	b = ps->buckets[digest_hash(d) % ps->n_buckets];
	while (b && !oci_digest_equal(&b->job.digest, d))
		b = b->chain;
	return b;
}

static int blob_insert(struct pull_session *ps, struct blob *b)
{
	size_t k;

	if (ps->n_blobs >= ps->n_buckets) {
		size_t nb = ps->n_buckets ? ps->n_buckets * 2 : 64;
		struct blob **v = calloc(nb, sizeof(*v));

		if (!v)
			return ERR_FAIL;
		for (size_t i = 0; i < ps->n_buckets; i++) {
			struct blob *x = ps->buckets[i], *next;

			for (; x; x = next) {
				next = x->chain;
				k = digest_hash(&x->job.digest) % nb;
				x->chain = v[k];
				v[k] = x;
			}
		}
		free(ps->buckets);
		ps->buckets = v;
		ps->n_buckets = nb;
	}
	k = digest_hash(&b->job.digest) % ps->n_buckets;
	b->chain = ps->buckets[k];
	ps->buckets[k] = b;
	ps->n_blobs++;
	return 0;
}

static void blob_remove(struct pull_session *ps, struct blob *b)
{
	struct blob **p =
	    &ps->buckets[digest_hash(&b->job.digest) % ps->n_buckets];

	while (*p && *p != b)
		p = &(*p)->chain;
	if (*p) {
		*p = b->chain;
		ps->n_blobs--;
	}
}

static void blob_free(struct blob *b)
{
	store_writer_free(b->sink.w);
	free(b->waiters);
	free(b);
}

/* --- references --- */

static void admit(struct pull_session *ps);

/* The first failure is the reference's result. */
static void ref_fail(struct ref *r, int rc, const struct err *e)
{
	r->failed = 1;
	if (r->res->result)
		return;
	r->res->result = rc ? rc : ERR_FAIL;
	if (e)
		r->res->err = *e;
	else
		err_set(&r->res->err, r->res->result, "failed");
}

static void ref_fail_oom(struct ref *r)
{
	struct err e;

	err_set(&e, ERR_FAIL, "out of memory");
	ref_fail(r, ERR_FAIL, &e);
}

/* The one point where a reference's failure gets its context: "pull REF: "
 * before the inner message (kept whole), once per reference. */
static void name_failure(struct pull_result *res)
{
	if (res->result)
		err_wrap(&res->err, "pull %s: ", res->ref);
}

static int asked(const struct ref *r, const struct oci_digest *d)
{
	for (size_t i = 0; i < r->n_asked; i++)
		if (oci_digest_equal(&r->asked[i], d))
			return 1;
	return 0;
}

static int ask_note(struct ref *r, const struct oci_digest *d)
{
	if (OCI_VEC_RESERVE(r->asked, r->n_asked, r->cap_asked, 1, 0))
		return ERR_FAIL;
	r->asked[r->n_asked++] = *d;
	return 0;
}

static const struct item *find_item(const struct ref *r,
				    const struct oci_digest *d, size_t *idx)
{
	for (size_t i = 0; i < r->n_items; i++)
		if (oci_digest_equal(&r->items[i]->m.digest, d)) {
			if (idx)
				*idx = i;
			return r->items[i];
		}
	return NULL;
}

static void item_free(struct item *it)
{
	oci_manifest_release(&it->m);
	free(it->desc_json);
	free(it);
}

/* A reference's own memory: its manifests and lists, and itself. */
static void ref_free(struct ref *r)
{
	for (size_t i = 0; i < r->n_items; i++)
		item_free(r->items[i]);
	free(r->items);
	free(r->asked);
	free(r->needs);
	free(r);
}

/* Every resolution job done, every blob in, or the reference failed: its
 * result, its event, its callback; then it is gone and the next one may
 * start. */
static void ref_finish(struct ref *r)
{
	struct pull_session *ps = r->ps;
	struct pull_result *res = r->res;
	void (*done)(void *, struct pull_result *) = r->done;
	void *done_ctx = r->done_ctx;
	struct pull_event ev;

	name_failure(res);
	if (res->result)
		ps->any_failed = 1;
	if (!ps->o.plan_only) {
		memset(&ev, 0, sizeof(ev));
		ev.kind = PULL_EV_DONE;
		ev.ref = res->ref;
		ev.digest = res->result ? NULL : res->digest.str;
		ev.media_type = res->result ? NULL : res->media_type;
		ev.bytes = (int64_t)res->bytes_fetched;
		ev.result = res->result;
		ev.message = res->result ? res->err.msg : NULL;
		emit(ps, &ev);
	}
	if (r->prev)
		r->prev->next = r->next;
	else
		ps->open = r->next;
	if (r->next)
		r->next->prev = r->prev;
	ps->n_open--;
	if (!r->top_in)
		ps->n_unresolved--;
	ps->held -= r->held;
	ref_free(r);
	ps->st.done++;
	if (done)
		done(done_ctx, res);
	admit(ps);
}

/* Commit order: an index after its children, a referrer after its
 * subject (post-order over those edges), so a store killed at any point
 * holds nothing that names what it lacks. */
static void order_visit(const struct ref *r, size_t k, unsigned char *mark,
			size_t *order, size_t *n)
{
	const struct item *it = r->items[k];
	size_t j;

	if (mark[k])
		return;
	mark[k] = 1;
	if (it->m.kind == OCI_KIND_INDEX)
		for (size_t i = 0; i < it->m.n_manifests; i++)
			if (find_item(r, &it->m.manifests[i].digest, &j))
				order_visit(r, j, mark, order, n);
	if (it->is_referrer && find_item(r, &it->subject, &j))
		order_visit(r, j, mark, order, n);
	order[(*n)++] = k;
}

static int commit_ref(struct store *s, struct ref *r, struct pull_result *res,
		      struct err *err)
{
	struct store_ref sr;
	const struct item *top;
	size_t *order = NULL, n = 0;
	unsigned char *mark = NULL;
	int rc = 0;

	if (!r->n_items)
		return err_set(err, ERR_FAIL, "nothing resolved");
	for (size_t i = 0; i < r->n_needs; i++) {
		if (!store_blob_exists(NULL, s, &r->needs[i].digest))
			return err_set(err, ERR_NOT_FOUND, "blob %s missing",
				       r->needs[i].digest.str);
		rc = store_blob_link(s, r->repo, &r->needs[i].digest, err);
		if (rc)
			return rc;
	}
	order = calloc(r->n_items, sizeof(*order));
	mark = calloc(r->n_items, 1);
	if (!order || !mark) {
		rc = err_set(err, ERR_FAIL, "out of memory");
		goto out;
	}
	for (size_t k = 0; k < r->n_items; k++)
		order_visit(r, k, mark, order, &n);
	for (size_t k = 0; k < n; k++) {
		const struct item *it = r->items[order[k]];

		rc = store_blob_put(s, &it->m.digest, it->m.raw, it->m.raw_len,
				    err);
		if (rc) {
			err_wrap(err, "%s@%s: ", r->repo, it->m.digest.str);
			goto out;
		}
		sr.digest = it->m.digest;
		snprintf(sr.media_type, sizeof(sr.media_type), "%s",
			 it->m.media_type);
		sr.size = (int64_t)it->m.raw_len;
		rc = store_manifest_link(s, r->repo, &sr, err);
		if (rc)
			goto out;
		if (it->is_referrer && it->desc_json) {
			rc = store_referrer_add(s, r->repo, &it->subject,
						&it->m.digest, it->desc_json,
						err);
			if (rc)
				goto out;
		}
		res->manifests++;
	}
	top = r->items[0];
	res->digest = top->m.digest;
	snprintf(res->media_type, sizeof(res->media_type), "%s",
		 top->m.media_type);
	if (r->item.ref.tag[0]) {
		sr.digest = top->m.digest;
		snprintf(sr.media_type, sizeof(sr.media_type), "%s",
			 top->m.media_type);
		sr.size = (int64_t)top->m.raw_len;
		rc = store_tag_set(s, r->repo, r->item.ref.tag, &sr, err);
	}
out:
	free(order);
	free(mark);
	return rc;
}

/* Every blob of r is in (or one failed). */
static void ref_complete(struct ref *r)
{
	if (!r->failed)
		r->res->result = commit_ref(r->ps->s, r, r->res, &r->res->err);
	ref_finish(r);
}

static int cmp_need(const void *a, const void *b)
{
	const struct need *x = a, *y = b;

	return strcmp(x->digest.str, y->digest.str);
}

/* Sorted, each digest once. */
static void dedupe_needs(struct ref *r)
{
	size_t n = 0;

	if (r->n_needs > 1)
		qsort(r->needs, r->n_needs, sizeof(*r->needs), cmp_need);
	for (size_t i = 0; i < r->n_needs; i++)
		if (!n || !oci_digest_equal(&r->needs[i].digest,
					    &r->needs[n - 1].digest))
			r->needs[n++] = r->needs[i];
	r->n_needs = n;
}

/* plan_only: count what the reference needs and what is missing. */
static void plan_count(struct ref *r)
{
	struct pull_result *res = r->res;

	dedupe_needs(r);
	for (size_t q = 0; q < r->n_needs; q++) {
		const struct need *nd = &r->needs[q];

		res->blobs++;
		if (!store_blob_exists(NULL, r->ps->s, &nd->digest)) {
			res->blobs_fetched++;
			res->bytes_fetched +=
			    (uint64_t)(nd->size > 0 ? nd->size : 0);
		}
	}
	if (r->n_items)
		res->digest = r->items[0]->m.digest;
}

static void blob_done(void *ctx, struct reg_blob_job *job);

/* A new fetch of need nd, started by r. */
static struct blob *blob_start(struct ref *r, const struct need *nd)
{
	struct pull_session *ps = r->ps;
	struct blob *b = calloc(1, sizeof(*b));

	if (!b)
		return NULL;
	b->ps = ps;
	b->sink.s = ps->s;
	b->sink.digest = nd->digest;
	b->sink.size = nd->size;
	snprintf(b->repo, sizeof(b->repo), "%s", r->item.ref.path);
	b->job.client = r->client;
	b->job.repo = b->repo;
	b->job.digest = nd->digest;
	b->job.size = nd->size;
	b->job.sink.write = sink_write;
	b->job.sink.reset = sink_reset;
	b->job.sink.offset = sink_offset;
	b->job.sink.finish = sink_finish;
	b->job.sink.ctx = &b->sink;
	b->job.user = b;
	if (OCI_VEC_RESERVE(b->waiters, b->n_waiters, b->cap_waiters, 1, 0) ||
	    blob_insert(ps, b)) {
		blob_free(b);
		return NULL;
	}
	b->waiters[b->n_waiters++] = r;
	if (reg_transfer_submit(&b->job, blob_done, b)) {
		/* kept as failed: whoever else needs it fails the same way */
		b->failed = 1;
		if (!b->job.result)
			b->job.result =
			    err_set(&b->job.err, ERR_FAIL,
				    "blob %s: out of memory", nd->digest.str);
		b->n_waiters = 0;
		return b;
	}
	r->pending++;
	ps->blobs_total++;
	if (nd->size > 0)
		ps->bytes_total += (uint64_t)nd->size;
	return b;
}

/* Resolved: each distinct blob the store lacks is joined (another
 * reference is fetching it) or fetched; with none pending, commit. */
static void ref_fetch(struct ref *r)
{
	struct pull_session *ps = r->ps;

	dedupe_needs(r);
	r->res->blobs = r->n_needs;
	for (size_t i = 0; i < r->n_needs && !r->failed; i++) {
		const struct need *nd = &r->needs[i];
		struct blob *b;

		if (store_blob_exists(NULL, ps->s, &nd->digest))
			continue;
		b = blob_find(ps, &nd->digest);
		if (!b) {
			b = blob_start(r, nd);
			if (!b)
				ref_fail_oom(r);
			else if (b->failed)
				ref_fail(r, b->job.result, &b->job.err);
			continue;
		}
		if (b->failed) {
			ref_fail(r, b->job.result, &b->job.err);
			continue;
		}
		if (OCI_VEC_RESERVE(b->waiters, b->n_waiters, b->cap_waiters, 1,
				    0)) {
			ref_fail_oom(r);
			continue;
		}
		b->waiters[b->n_waiters++] = r;
		r->pending++;
	}
	if (!r->pending)
		ref_complete(r);
}

static void blob_done(void *ctx, struct reg_blob_job *job)
{
	struct blob *b = ctx;
	struct pull_session *ps = b->ps;
	struct ref **waiters = b->waiters;
	size_t n = b->n_waiters;
	int64_t size = job->size;
	int result = job->result;
	struct pull_event ev;

	memset(&ev, 0, sizeof(ev));
	ev.kind = PULL_EV_BLOB;
	ev.digest = job->digest.str;
	ev.bytes = job->size;
	ev.result = job->result;
	ev.message = job->result ? job->err.msg : NULL;
	emit(ps, &ev);
	ps->blobs_done++;
	ps->bytes_done += size > 0 ? (uint64_t)size : sink_offset(&b->sink);
	store_writer_free(b->sink.w);
	b->sink.w = NULL;
	/* Out of the table before any waiter is committed: its callback may
	 * add references that need this digest (now in the store). */
	b->waiters = NULL;
	b->n_waiters = b->cap_waiters = 0;
	if (result) {
		b->failed = 1;
	} else {
		blob_remove(ps, b);
		blob_free(b);
		b = NULL;
	}
	for (size_t i = 0; i < n; i++) {
		struct ref *r = waiters[i];

		if (b)
			ref_fail(r, b->job.result, &b->job.err);
		else if (i == 0) {
			r->res->blobs_fetched++;
			r->res->bytes_fetched +=
			    (uint64_t)(size > 0 ? size : 0);
		}
		if (--r->pending == 0)
			ref_complete(r);
	}
	free(waiters);
}

/* Every manifest of r is in, or a request of it failed. */
static void ref_resolved(struct ref *r)
{
	if (r->failed || r->ps->o.plan_only) {
		if (!r->failed)
			plan_count(r);
		ref_finish(r);
		return;
	}
	ref_fetch(r);
}

/* One resolution job of r is over. */
static void ref_step(struct ref *r)
{
	if (--r->outstanding == 0)
		ref_resolved(r);
}

static void on_manifest(void *ctx, int rc, struct reg_manifest *rm,
			int64_t size, const struct err *err);
static void on_referrers(void *ctx, int rc, struct buf *body,
			 const struct err *err);

static struct rjob *rjob_new(struct ref *r, int depth)
{
	struct rjob *j = calloc(1, sizeof(*j));

	if (j) {
		j->r = r;
		j->depth = depth;
	}
	return j;
}

/* Request manifest reference of r (nothing once r failed). */
static void ask_manifest(struct ref *r, const char *reference, int depth,
			 const struct oci_descriptor *via,
			 const struct oci_digest *subject)
{
	struct rjob *j;
	struct err e;
	int rc;

	if (r->failed)
		return;
	if (depth > MAX_DEPTH) {
		err_set(&e, ERR_INVALID, "%s: nesting deeper than %d levels",
			reference, MAX_DEPTH);
		ref_fail(r, ERR_INVALID, &e);
		return;
	}
	j = rjob_new(r, depth);
	if (!j) {
		ref_fail_oom(r);
		return;
	}
	snprintf(j->reference, sizeof(j->reference), "%s", reference);
	if (via) {
		j->has_via = 1;
		j->via_size = via->size;
	}
	if (subject) {
		j->is_referrer = 1;
		j->subject = *subject;
	}
	rc = reg_client_get_manifest_async(r->client, r->item.ref.path,
					   reference, on_manifest, j, &e);
	if (rc) {
		free(j);
		ref_fail(r, rc, &e);
		return;
	}
	r->outstanding++;
}

static void ask_referrers(struct ref *r, const struct oci_digest *subject,
			  int depth)
{
	struct rjob *j;
	struct err e;
	int rc;

	if (r->failed)
		return;
	j = rjob_new(r, depth);
	if (!j) {
		ref_fail_oom(r);
		return;
	}
	j->subject = *subject;
	rc = reg_client_referrers_async(r->client, r->item.ref.path, subject,
					on_referrers, j, &e);
	if (rc) {
		free(j);
		ref_fail(r, rc, &e);
		return;
	}
	r->outstanding++;
}

static int add_need(struct ref *r, const struct oci_descriptor *d)
{
	if (OCI_VEC_RESERVE(r->needs, r->n_needs, r->cap_needs, 1, 0))
		return ERR_FAIL;
	r->needs[r->n_needs].digest = d->digest;
	r->needs[r->n_needs].size = d->size;
	r->n_needs++;
	return 0;
}

/* A fetched manifest: checked, announced, kept; its children and
 * referrers requested at once. */
static int take_manifest(struct rjob *j, const struct reg_manifest *rm,
			 struct err *err)
{
	struct ref *r = j->r;
	struct pull_session *ps = r->ps;
	struct oci_manifest m;
	struct item *it;
	char refstr[OCI_REF_STR_MAX];
	struct pull_event ev;
	int rc;

	rc = oci_manifest_parse(&m, rm->body, rm->len, rm->content_type, err);
	if (rc && j->depth) /* the top one is named by name_failure */
		return err_wrap(err, "%s/%s:%s: ", r->item.ref.host,
				r->item.ref.path, j->reference);
	if (rc)
		return rc;
	if (j->has_via && j->via_size != (int64_t)m.raw_len) {
		rc = err_set(
		    err, ERR_DIGEST,
		    "%s@%s: descriptor says %lld bytes, manifest has %zu",
		    r->repo, m.digest.str, (long long)j->via_size, m.raw_len);
		oci_manifest_release(&m);
		return rc;
	}
	it = calloc(1, sizeof(*it));
	if (!it || OCI_VEC_RESERVE(r->items, r->n_items, r->cap_items, 1, 0) ||
	    (!asked(r, &m.digest) && ask_note(r, &m.digest))) {
		free(it);
		oci_manifest_release(&m);
		return err_set(err, ERR_FAIL, "out of memory");
	}
	it->m = m;
	it->depth = j->depth;
	if (j->is_referrer) {
		it->is_referrer = 1;
		it->subject = j->subject;
		it->desc_json = oci_manifest_referrer_json(&it->m);
	}
	/* nothing else is asked before the top is in: it is items[0] */
	r->items[r->n_items++] = it;
	if (!r->top_in) {
		r->top_in = 1;
		/* which endpoint served this image (a mirror's, maybe) */
		if (rm->endpoint)
			snprintf(r->res->endpoint, sizeof(r->res->endpoint),
				 "%s", rm->endpoint);
		ps->n_unresolved--;
	}
	r->held += it->m.raw_len;
	ps->held += it->m.raw_len;
	if (ps->held > ps->st.peak_bytes)
		ps->st.peak_bytes = ps->held;
	ps->st.manifests++;

	snprintf(refstr, sizeof(refstr), "%s@%s", r->repo, it->m.digest.str);
	memset(&ev, 0, sizeof(ev));
	ev.kind = PULL_EV_RESOLVED;
	ev.ref = refstr;
	ev.digest = it->m.digest.str;
	ev.media_type = it->m.media_type;
	ev.bytes = (int64_t)it->m.raw_len;
	emit(ps, &ev);

	if (it->m.kind == OCI_KIND_INDEX) {
		for (size_t i = 0; i < it->m.n_manifests && !r->failed; i++) {
			const struct oci_descriptor *d = &it->m.manifests[i];

			if (!oci_descriptor_wanted(d, r->item.platforms,
						   r->item.n_platforms) ||
			    asked(r, &d->digest))
				continue;
			if (ask_note(r, &d->digest))
				return err_set(err, ERR_FAIL, "out of memory");
			ask_manifest(r, d->digest.str, j->depth + 1, d, NULL);
		}
	} else {
		if (it->m.has_config)
			rc = add_need(r, &it->m.config);
		/* non-distributable layers live at their urls: not fetched */
		for (size_t i = 0; i < it->m.n_layers && !rc; i++)
			if (!oci_mediatype_is_nondistributable(
				it->m.layers[i].media_type))
				rc = add_need(r, &it->m.layers[i]);
		if (rc)
			return err_set(err, ERR_FAIL, "out of memory");
	}
	if (r->item.referrers && j->depth < MAX_DEPTH)
		ask_referrers(r, &it->m.digest, j->depth);
	return 0;
}

static void on_manifest(void *ctx, int rc, struct reg_manifest *rm,
			int64_t size, const struct err *err)
{
	struct rjob *j = ctx;
	struct ref *r = j->r;
	struct err e;

	(void)size;
	if (r->failed)
		goto out;
	if (rc) {
		ref_fail(r, rc, err);
		goto out;
	}
	rc = take_manifest(j, rm, &e);
	if (rc)
		ref_fail(r, rc, &e);
out:
	free(j);
	ref_step(r);
}

static void on_referrers(void *ctx, int rc, struct buf *body,
			 const struct err *err)
{
	struct rjob *j = ctx;
	struct ref *r = j->r;
	struct oci_manifest idxm;
	struct err e;

	memset(&idxm, 0, sizeof(idxm));
	if (r->failed)
		goto out;
	if (rc) {
		ref_fail(r, rc, err);
		goto out;
	}
	rc = oci_manifest_parse(&idxm, body->data, body->len, MT_OCI_INDEX, &e);
	if (rc) {
		err_wrap(&e, "referrers of %s: ", j->subject.str);
		ref_fail(r, rc, &e);
		goto out;
	}
	for (size_t i = 0; i < idxm.n_manifests && !r->failed; i++) {
		const struct oci_descriptor *d = &idxm.manifests[i];

		if (asked(r, &d->digest))
			continue;
		if (ask_note(r, &d->digest)) {
			ref_fail_oom(r);
			break;
		}
		ask_manifest(r, d->digest.str, j->depth + 1, d, &j->subject);
	}
out:
	oci_manifest_release(&idxm);
	free(j);
	ref_step(r);
}

/* --- admission --- */

/* A reference that could not even start: its result, event and callback
 * as for any other. */
static void finish_unstarted(struct pull_session *ps, struct waiting *w)
{
	struct pull_event ev;

	name_failure(w->res);
	ps->any_failed = 1;
	if (!ps->o.plan_only) {
		memset(&ev, 0, sizeof(ev));
		ev.kind = PULL_EV_DONE;
		ev.ref = w->res->ref;
		ev.result = w->res->result;
		ev.message = w->res->err.msg;
		emit(ps, &ev);
	}
	ps->st.done++;
	if (w->done)
		w->done(w->ctx, w->res);
}

/* Open the reference of w: its client, its top manifest requested. */
static void start_ref(struct pull_session *ps, struct waiting *w)
{
	struct ref *r = calloc(1, sizeof(*r));
	const struct oci_ref *ref = &w->item.ref;
	const char *reference = ref->has_digest ? ref->digest.str : ref->tag;
	int rc;

	if (!r) {
		w->res->result =
		    err_set(&w->res->err, ERR_FAIL, "out of memory");
		finish_unstarted(ps, w);
		return;
	}
	r->ps = ps;
	r->item = w->item;
	r->res = w->res;
	r->done = w->done;
	r->done_ctx = w->ctx;
	if (ref->has_digest && ask_note(r, &ref->digest)) {
		free(r);
		w->res->result =
		    err_set(&w->res->err, ERR_FAIL, "out of memory");
		finish_unstarted(ps, w);
		return;
	}
	if (r->item.dest)
		snprintf(r->repo, sizeof(r->repo), "%s", r->item.dest);
	else
		oci_ref_repo(&r->item.ref, r->repo, sizeof(r->repo));
	r->next = ps->open;
	if (ps->open)
		ps->open->prev = r;
	ps->open = r;
	ps->n_open++;
	ps->n_unresolved++;
	if (ps->n_open > ps->st.peak_open)
		ps->st.peak_open = ps->n_open;
	rc = reg_pool_get(ps->pool, &r->client, r->item.ref.host, &r->res->err);
	if (rc) {
		r->res->result = rc;
		r->failed = 1;
		ref_finish(r);
		return;
	}
	if (!ps->engine)
		ps->engine = reg_client_engine(r->client);
	ask_manifest(r, reference, 0, NULL, NULL);
	if (!r->outstanding)
		ref_finish(r);
}

static int room(const struct pull_session *ps)
{
	uint64_t bytes;

	if (ps->closing)
		return 0;
	bytes = ps->held + (uint64_t)ps->n_unresolved * UNRESOLVED_BYTES;

	return !ps->n_open ||
	       (ps->n_open < ps->max_open && bytes < ps->max_bytes);
}

/* Start waiting references while the budget allows. Callbacks reached
 * from here may add more; the outer call takes them. */
static void admit(struct pull_session *ps)
{
	if (ps->admitting)
		return;
	ps->admitting = 1;
	while (ps->wait_head && room(ps)) {
		struct waiting *w = ps->wait_head;

		ps->wait_head = w->next;
		if (!ps->wait_head)
			ps->wait_tail = NULL;
		start_ref(ps, w);
		free(w);
	}
	ps->admitting = 0;
}

/* --- the session --- */

static void on_progress(void *ctx, const struct reg_engine_stats *st)
{
	struct pull_session *ps = ctx;
	struct reg_transfer_progress p;

	memset(&p, 0, sizeof(p));
	p.bytes_done = ps->bytes_done;
	for (size_t i = 0; i < ps->n_buckets; i++)
		for (const struct blob *b = ps->buckets[i]; b; b = b->chain)
			if (!b->failed)
				p.bytes_done += sink_offset((void *)&b->sink);
	p.bytes_total = ps->bytes_total;
	p.jobs_done = ps->blobs_done;
	p.jobs_total = ps->blobs_total;
	p.in_flight = st->in_flight;
	p.manifests = ps->st.manifests;
	ps->o.progress(ps->o.ctx, &p);
}

int pull_session_new(struct pull_session **out, struct store *s,
		     struct reg_pool *pool, const struct pull_options *o,
		     struct err *err)
{
	struct pull_session *ps = calloc(1, sizeof(*ps));

	*out = NULL;
	if (!ps)
		return err_set(err, ERR_FAIL, "pull: out of memory");
	ps->s = s;
	ps->pool = pool;
	ps->o = *o;
	ps->max_open = o->max_open ? o->max_open : DEFAULT_MAX_OPEN;
	ps->max_bytes =
	    o->max_manifest_bytes ? o->max_manifest_bytes : DEFAULT_MAX_BYTES;
	*out = ps;
	return 0;
}

int pull_session_add(struct pull_session *ps, const struct pull_item *item,
		     struct pull_result *res,
		     void (*done)(void *ctx, struct pull_result *res),
		     void *ctx)
{
	struct waiting *w;

	memset(res, 0, sizeof(*res));
	oci_ref_format(&item->ref, res->ref, sizeof(res->ref));
	if (ps->closing) { /* nothing would start it, nor call done */
		ps->any_failed = 1;
		res->result =
		    err_set(&res->err, ERR_FAIL,
			    "pull %s: added after the run ended", res->ref);
		return ERR_FAIL;
	}
	w = calloc(1, sizeof(*w));
	if (!w) {
		ps->any_failed = 1;
		res->result = err_set(&res->err, ERR_FAIL,
				      "pull %s: out of memory", res->ref);
		return ERR_FAIL;
	}
	w->item = *item;
	w->res = res;
	w->done = done;
	w->ctx = ctx;
	if (ps->wait_tail)
		ps->wait_tail->next = w;
	else
		ps->wait_head = w;
	ps->wait_tail = w;
	ps->st.added++;
	admit(ps);
	return 0;
}

/* The pool's engine (made with its first client), else the first
 * client's. */
static struct reg_engine *session_engine(struct pull_session *ps)
{
	if (ps->pool->engine)
		return ps->pool->engine;
	if (!ps->engine && ps->pool->n)
		ps->engine = reg_client_engine(ps->pool->clients[0]);
	return ps->engine;
}

int pull_session_run(struct pull_session *ps)
{
	struct reg_engine *e = session_engine(ps);
	struct err err;
	int rc;

	if (e) {
		if (ps->o.concurrency > 0) {
			struct reg_engine_limits l;

			memset(&l, 0, sizeof(l));
			l.max_bulk = ps->o.concurrency;
			reg_engine_set_limits(e, &l);
		}
		if (ps->o.progress)
			reg_engine_set_progress(e, on_progress, ps);
		rc = reg_engine_run(e);
		if (ps->o.progress)
			reg_engine_set_progress(e, NULL, NULL);
		if (rc) /* called from a callback: the jobs are live */
			return ERR_FAIL;
	}
	/* The engine has nothing left: a reference still open would wait
	 * forever. */
	ps->closing = 1;
	err_set(&err, ERR_FAIL, "the run ended before it was done");
	while (ps->open) {
		struct ref *r = ps->open;

		ref_fail(r, ERR_FAIL, &err);
		ref_finish(r); /* admits the next: failed the same way */
	}
	while (ps->wait_head) {
		struct waiting *w = ps->wait_head;

		ps->wait_head = w->next;
		w->res->result = err_set(&w->res->err, ERR_FAIL,
					 "the run ended before it was done");
		finish_unstarted(ps, w);
		free(w);
	}
	ps->wait_tail = NULL;
	return ps->any_failed ? ERR_FAIL : 0;
}

void pull_session_stats(const struct pull_session *ps,
			struct pull_session_stats *out)
{
	*out = ps->st;
}

void pull_session_free(struct pull_session *ps)
{
	if (!ps)
		return;
	while (ps->wait_head) {
		struct waiting *w = ps->wait_head;

		ps->wait_head = w->next;
		free(w);
	}
	while (ps->open) {
		struct ref *r = ps->open;

		ps->open = r->next;
		ref_free(r);
	}
	for (size_t i = 0; i < ps->n_buckets; i++) {
		struct blob *b = ps->buckets[i], *next;

		for (; b; b = next) {
			next = b->chain;
			blob_free(b);
		}
	}
	free(ps->buckets);
	free(ps);
}

int pull_run(struct pull_result *results, struct store *s,
	     struct reg_pool *pool, const struct pull_item *items, size_t n,
	     const struct pull_options *o)
{
	struct pull_session *ps;
	struct err e;
	int rc;
	/* inside a callback of the engine the run could not be driven, and
	 * its jobs would outlive the session: nothing is submitted */
	int nested = pool->engine && reg_engine_running(pool->engine);

	if (nested || pull_session_new(&ps, s, pool, o, &e)) {
		for (size_t i = 0; i < n; i++) {
			memset(&results[i], 0, sizeof(results[i]));
			oci_ref_format(&items[i].ref, results[i].ref,
				       sizeof(results[i].ref));
			results[i].result =
			    nested ? err_set(&results[i].err, ERR_FAIL,
					     "pull %s: started inside "
					     "another run",
					     results[i].ref)
				   : err_set(&results[i].err, ERR_FAIL,
					     "pull: out of memory");
		}
		return n ? ERR_FAIL : 0;
	}
	for (size_t i = 0; i < n; i++)
		pull_session_add(ps, &items[i], &results[i], NULL, NULL);
	rc = pull_session_run(ps);
	pull_session_free(ps);
	return rc;
}
