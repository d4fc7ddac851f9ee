#include "mirror/pull.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "oci/manifest.h"
#include "oci/mediatype.h"
#include "oci/vec.h"

#define MAX_DEPTH 4

struct item {
	struct oci_manifest m;
	int is_referrer;
	struct oci_digest subject;
	char *desc_json; /* referrer descriptor, for the referrers record */
};

struct need {
	struct oci_digest digest;
	int64_t size;
	size_t ref; /* first reference needing it */
};

struct refstate {
	const struct pull_item *item;
	const struct oci_ref *ref;
	struct reg_client *client;
	char repo[OCI_REPO_MAX];
	struct item *items;
	size_t n_items, cap_items;
	struct need *needs;
	size_t n_needs, cap_needs;
	int failed;
};

struct blobsink {
	struct store *s;
	struct store_writer *w;
	struct oci_digest digest;
	int64_t size;
	struct err open_err;
};

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

static void emit(const struct pull_options *o, struct pull_event *ev)
{
	if (o->event)
		o->event(o->ctx, ev);
}

static int add_need(struct refstate *r, size_t idx,
		    const struct oci_descriptor *d)
{
	if (OCI_VEC_RESERVE(r->needs, r->n_needs, r->cap_needs, 1, 0))
		return ERR_FAIL;
	r->needs[r->n_needs].digest = d->digest;
	r->needs[r->n_needs].size = d->size;
	r->needs[r->n_needs].ref = idx;
	r->n_needs++;
	return 0;
}

static struct item *add_item(struct refstate *r)
{
	if (OCI_VEC_RESERVE(r->items, r->n_items, r->cap_items, 1, 0))
		return NULL;
	memset(&r->items[r->n_items], 0, sizeof(r->items[0]));
	return &r->items[r->n_items++];
}

static int seen(const struct refstate *r, const struct oci_digest *d)
{
	for (size_t i = 0; i < r->n_items; i++)
		if (oci_digest_equal(&r->items[i].m.digest, d))
			return 1;
	return 0;
}

static int resolve(struct refstate *r, size_t idx, const struct pull_options *o,
		   const char *reference, int depth,
		   const struct item *subject_of,
		   const struct oci_descriptor *via, struct err *err);

static int resolve_referrers(struct refstate *r, size_t idx,
			     const struct pull_options *o,
			     const struct oci_digest *subject, int depth,
			     struct err *err)
{
	struct buf body;
	struct oci_manifest idxm;
	struct item subj;
	int rc;

	memset(&idxm, 0, sizeof(idxm));
	buf_init(&body, OCI_MANIFEST_MAX);
	rc = reg_client_referrers(r->client, &body, r->ref->path, subject, err);
	if (rc)
		goto out;
	rc = oci_manifest_parse(&idxm, body.data, body.len, MT_OCI_INDEX, err);
	if (rc) {
		err_wrap(err, "referrers of %s: ", subject->str);
		goto out;
	}
	memset(&subj, 0, sizeof(subj));
	subj.m.digest = *subject;
	for (size_t i = 0; i < idxm.n_manifests; i++) {
		const struct oci_descriptor *d = &idxm.manifests[i];
		if (seen(r, &d->digest))
			continue;
		rc =
		    resolve(r, idx, o, d->digest.str, depth + 1, &subj, d, err);
		if (rc)
			goto out;
	}
out:
	oci_manifest_release(&idxm);
	buf_release(&body);
	return rc;
}

static int resolve(struct refstate *r, size_t idx, const struct pull_options *o,
		   const char *reference, int depth,
		   const struct item *subject_of,
		   const struct oci_descriptor *via, struct err *err)
{
	struct reg_manifest rm;
	struct oci_manifest m;
	struct item *it;
	int rc;
	char refstr[OCI_REF_STR_MAX];
	struct pull_event ev;

	if (depth > MAX_DEPTH)
		return err_set(err, ERR_INVALID,
			       "%s: nesting deeper than %d levels", reference,
			       MAX_DEPTH);
	rc = reg_client_get_manifest(r->client, &rm, r->ref->path, reference,
				     err);
	if (rc)
		return rc;
	rc = oci_manifest_parse(&m, rm.body, rm.len, rm.content_type, err);
	reg_manifest_release(&rm);
	if (rc && depth) /* the top one is named by finish_item */
		return err_wrap(err, "%s/%s:%s: ", r->ref->host, r->ref->path,
				reference);
	if (rc)
		return rc;
	if (via && via->size != (int64_t)m.raw_len) {
		rc = err_set(
		    err, ERR_DIGEST,
		    "%s@%s: descriptor says %lld bytes, manifest has %zu",
		    r->repo, m.digest.str, (long long)via->size, m.raw_len);
		oci_manifest_release(&m);
		return rc;
	}
	snprintf(refstr, sizeof(refstr), "%s@%s", r->repo, m.digest.str);
	memset(&ev, 0, sizeof(ev));
	ev.kind = PULL_EV_RESOLVED;
	ev.ref = refstr;
	ev.digest = m.digest.str;
	ev.media_type = m.media_type;
	ev.bytes = (int64_t)m.raw_len;
	emit(o, &ev);

	if (m.kind == OCI_KIND_INDEX) {
		for (size_t i = 0; i < m.n_manifests; i++) {
			const struct oci_descriptor *d = &m.manifests[i];
			if (!oci_descriptor_wanted(d, r->item->platforms,
						   r->item->n_platforms) ||
			    seen(r, &d->digest))
				continue;
			rc = resolve(r, idx, o, d->digest.str, depth + 1, NULL,
				     d, err);
			if (rc) {
				oci_manifest_release(&m);
				return rc;
			}
		}
	} else {
		if (m.has_config && add_need(r, idx, &m.config))
			rc = ERR_FAIL;
		/* non-distributable layers live at their urls: not fetched */
		for (size_t i = 0; i < m.n_layers && !rc; i++)
			if (!oci_mediatype_is_nondistributable(
				m.layers[i].media_type))
				rc = add_need(r, idx, &m.layers[i]);
		if (rc) {
			oci_manifest_release(&m);
			return err_set(err, ERR_FAIL, "out of memory");
		}
	}
	it = add_item(r);
	if (!it) {
		oci_manifest_release(&m);
		return err_set(err, ERR_FAIL, "out of memory");
	}
	it->m = m;
	if (subject_of) {
		it->is_referrer = 1;
		it->subject = subject_of->m.digest;
		it->desc_json = oci_manifest_referrer_json(&it->m);
	}
	if (r->item->referrers && depth < MAX_DEPTH) {
		struct oci_digest d = m.digest; /* items may move */
		rc = resolve_referrers(r, idx, o, &d, depth, err);
	}
	return rc;
}

static int cmp_need(const void *a, const void *b)
{
	const struct need *x = a, *y = b;

	return strcmp(x->digest.str, y->digest.str);
}

/* qsort wants a valid pointer even for nothing: a reference with no blobs
 * to fetch has needs NULL. */
static void sort_needs(struct need *v, size_t n)
{
	if (n > 1)
		qsort(v, n, sizeof(*v), cmp_need);
}

static void job_done(void *ctx, struct reg_blob_job *job)
{
	const struct pull_options *o = ctx;
	struct blobsink *b = job->sink.ctx;
	struct pull_event ev;

	memset(&ev, 0, sizeof(ev));
	ev.kind = PULL_EV_BLOB;
	ev.digest = job->digest.str;
	ev.bytes = job->size;
	ev.result = job->result;
	ev.message = job->result ? job->err.msg : NULL;
	emit(o, &ev);
	store_writer_free(b->w);
	b->w = NULL;
}

static void progress_relay(void *ctx, const struct reg_transfer_progress *p)
{
	const struct pull_options *o = ctx;

	o->progress(o->ctx, p);
}

static int cmp_job(const void *a, const void *b)
{
	const struct reg_blob_job *x = a, *y = b;

	return strcmp(x->digest.str, y->digest.str);
}

static int commit_ref(struct store *s, struct refstate *r,
		      struct pull_result *res, struct err *err)
{
	struct store_ref sr;
	const struct item *top = NULL;
	int rc;

	for (size_t i = 0; i < r->n_needs; i++) {
		if (!store_blob_exists(NULL, s, &r->needs[i].digest))
			return err_set(err, ERR_NOT_FOUND, "blob %s missing",
				       r->needs[i].digest.str);
		rc = store_blob_link(s, r->repo, &r->needs[i].digest, err);
		if (rc)
			return rc;
	}
	/* Items are in post-order: children before the index, subjects
	 * before their referrers. */
	for (size_t i = 0; i < r->n_items; i++) {
		const struct item *it = &r->items[i];

		rc = store_blob_put(s, &it->m.digest, it->m.raw, it->m.raw_len,
				    err);
		if (rc)
			return err_wrap(err, "%s@%s: ", r->repo,
					it->m.digest.str);
		sr.digest = it->m.digest;
		snprintf(sr.media_type, sizeof(sr.media_type), "%s",
			 it->m.media_type);
		sr.size = (int64_t)it->m.raw_len;
		rc = store_manifest_link(s, r->repo, &sr, err);
		if (rc)
			return rc;
		if (it->is_referrer && it->desc_json) {
			rc = store_referrer_add(s, r->repo, &it->subject,
						&it->m.digest, it->desc_json,
						err);
			if (rc)
				return rc;
		}
		res->manifests++;
	}
	/* the top manifest is the last non-referrer item */
	for (size_t i = r->n_items; i-- > 0;) {
		if (!r->items[i].is_referrer) {
			top = &r->items[i];
			break;
		}
	}
	if (!top)
		return err_set(err, ERR_FAIL, "nothing resolved");
	res->digest = top->m.digest;
	snprintf(res->media_type, sizeof(res->media_type), "%s",
		 top->m.media_type);
	if (r->ref->tag[0]) {
		sr.digest = top->m.digest;
		snprintf(sr.media_type, sizeof(sr.media_type), "%s",
			 top->m.media_type);
		sr.size = (int64_t)top->m.raw_len;
		rc = store_tag_set(s, r->repo, r->ref->tag, &sr, err);
		if (rc)
			return rc;
	}
	return 0;
}

/* Phase 1 for item i: its repository, client and manifests; the result
 * set up. A failure fills res and marks the reference failed. */
static void resolve_item(struct refstate *r, struct pull_result *res, size_t i,
			 const struct pull_item *item, struct reg_pool *pool,
			 const struct pull_options *o)
{
	const char *reference;
	int rc;

	memset(res, 0, sizeof(*res));
	r->item = item;
	r->ref = &item->ref;
	oci_ref_format(r->ref, res->ref, sizeof(res->ref));
	if (item->dest)
		snprintf(r->repo, sizeof(r->repo), "%s", item->dest);
	else
		oci_ref_repo(r->ref, r->repo, sizeof(r->repo));
	reference = r->ref->has_digest ? r->ref->digest.str : r->ref->tag;
	rc = reg_pool_get(pool, &r->client, r->ref->host, &res->err);
	if (!rc)
		rc = resolve(r, i, o, reference, 0, NULL, NULL, &res->err);
	if (rc) {
		r->failed = 1;
		res->result = rc;
	}
}

/* The one point where a reference's failure gets its context: "pull REF: "
 * before the inner message (kept whole); a run's end (finish_item) or a
 * plan's (plan_count) calls it once per reference. */
static void name_failure(struct pull_result *res)
{
	if (res->result)
		err_wrap(&res->err, "pull %s: ", res->ref);
}

/* plan_only: count what each reference needs and what is missing. */
static void plan_count(struct pull_result *results, const struct store *s,
		       struct refstate *rs, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		struct refstate *r = &rs[i];
		struct pull_result *res = &results[i];

		name_failure(res);
		sort_needs(r->needs, r->n_needs);
		for (size_t q = 0; q < r->n_needs; q++) {
			const struct need *nd = &r->needs[q];

			if (q && oci_digest_equal(&nd->digest,
						  &r->needs[q - 1].digest))
				continue;
			res->blobs++;
			if (!store_blob_exists(NULL, s, &nd->digest)) {
				res->blobs_fetched++;
				res->bytes_fetched +=
				    (uint64_t)(nd->size > 0 ? nd->size : 0);
			}
		}
		for (size_t k = r->n_items; k-- > 0;)
			if (!r->items[k].is_referrer) {
				res->digest = r->items[k].m.digest;
				break;
			}
	}
}

/* The one blob transfer of a run: every distinct blob missing from the
 * store, fetched through the client of the first reference needing it. */
struct queue {
	struct reg_blob_job *jobs;
	struct blobsink *sinks;
	size_t n_jobs;
};

static int queue_build(struct queue *out, struct store *s,
		       const struct refstate *rs, size_t n)
{
	struct need *all;
	size_t n_all = 0;

	for (size_t i = 0; i < n; i++)
		if (!rs[i].failed)
			n_all += rs[i].n_needs;
	all = calloc(n_all ? n_all : 1, sizeof(*all));
	out->jobs = calloc(n_all ? n_all : 1, sizeof(*out->jobs));
	out->sinks = calloc(n_all ? n_all : 1, sizeof(*out->sinks));
	if (!all || !out->jobs || !out->sinks) {
		free(all);
		return ERR_FAIL;
	}
	n_all = 0;
	for (size_t i = 0; i < n; i++) {
		if (rs[i].failed)
			continue;
		if (rs[i].n_needs)
			memcpy(all + n_all, rs[i].needs,
			       rs[i].n_needs * sizeof(*all));
		n_all += rs[i].n_needs;
	}
	sort_needs(all, n_all);
	for (size_t i = 0; i < n_all; i++) {
		struct blobsink *b = &out->sinks[out->n_jobs];
		struct reg_blob_job *j = &out->jobs[out->n_jobs];
		const struct refstate *r = &rs[all[i].ref];

		if (i && oci_digest_equal(&all[i].digest, &all[i - 1].digest))
			continue;
		if (store_blob_exists(NULL, s, &all[i].digest))
			continue;
		b->s = s;
		b->digest = all[i].digest;
		b->size = all[i].size;
		j->client = r->client;
		j->repo = r->ref->path;
		j->digest = all[i].digest;
		j->size = all[i].size;
		j->sink.write = sink_write;
		j->sink.reset = sink_reset;
		j->sink.offset = sink_offset;
		j->sink.finish = sink_finish;
		j->sink.ctx = b;
		j->user = (void *)(uintptr_t)all[i].ref;
		out->n_jobs++;
	}
	free(all);
	return 0;
}

static void queue_release(struct queue *q)
{
	for (size_t i = 0; i < q->n_jobs; i++)
		store_writer_free(q->sinks[i].w);
	free(q->jobs);
	free(q->sinks);
}

/* Phase 3 for reference i: count its blobs, take the first failed
 * transfer as its result, else store its manifests and move its tag. */
static void commit_item(struct pull_result *res, struct store *s,
			struct refstate *r, size_t i, const struct queue *q)
{
	sort_needs(r->needs, r->n_needs);
	for (size_t k = 0; k < r->n_needs; k++) {
		struct reg_blob_job key = {0};
		const struct reg_blob_job *j;

		if (k && oci_digest_equal(&r->needs[k].digest,
					  &r->needs[k - 1].digest))
			continue;
		res->blobs++;
		key.digest = r->needs[k].digest;
		j = bsearch(&key, q->jobs, q->n_jobs, sizeof(*q->jobs),
			    cmp_job);
		if (!j)
			continue;
		if (j->result) {
			if (!res->result) {
				res->result = j->result;
				res->err = j->err;
			}
		} else if ((size_t)(uintptr_t)j->user == i) {
			res->blobs_fetched++;
			res->bytes_fetched +=
			    (uint64_t)(j->size > 0 ? j->size : 0);
		}
	}
	if (!res->result)
		res->result = commit_ref(s, r, res, &res->err);
}

static void finish_item(struct pull_result *res, const struct pull_options *o)
{
	struct pull_event ev;

	name_failure(res);
	memset(&ev, 0, sizeof(ev));
	ev.kind = PULL_EV_DONE;
	ev.ref = res->ref;
	ev.digest = res->result ? NULL : res->digest.str;
	ev.media_type = res->result ? NULL : res->media_type;
	ev.bytes = (int64_t)res->bytes_fetched;
	ev.result = res->result;
	ev.message = res->result ? res->err.msg : NULL;
	emit(o, &ev);
}

int pull_run(struct pull_result *results, struct store *s,
	     struct reg_pool *pool, const struct pull_item *items, size_t n,
	     const struct pull_options *o)
{
	struct refstate *rs = calloc(n ? n : 1, sizeof(*rs));
	struct queue q = {0};
	struct reg_transfer_opts topt;
	int any_failed = 0;

	if (!rs) {
		for (size_t i = 0; i < n; i++) {
			memset(&results[i], 0, sizeof(results[i]));
			oci_ref_format(&items[i].ref, results[i].ref,
				       sizeof(results[i].ref));
			results[i].result = err_set(&results[i].err, ERR_FAIL,
						    "pull: out of memory");
		}
		return ERR_FAIL;
	}
	for (size_t i = 0; i < n; i++)
		resolve_item(&rs[i], &results[i], i, &items[i], pool, o);
	if (o->plan_only) {
		plan_count(results, s, rs, n);
		goto out;
	}
	if (queue_build(&q, s, rs, n)) {
		for (size_t i = 0; i < n; i++)
			if (!results[i].result)
				results[i].result = err_set(
				    &results[i].err, ERR_FAIL, "out of memory");
		goto out;
	}
	memset(&topt, 0, sizeof(topt));
	topt.concurrency = o->concurrency;
	topt.job_done = job_done;
	topt.progress = o->progress ? progress_relay : NULL;
	topt.ctx = (void *)o;
	reg_transfer_run(q.jobs, q.n_jobs, &topt);
	for (size_t i = 0; i < n; i++) {
		if (!rs[i].failed)
			commit_item(&results[i], s, &rs[i], i, &q);
		finish_item(&results[i], o);
	}
out:
	for (size_t i = 0; i < n; i++) {
		any_failed |= results[i].result != 0;
		for (size_t k = 0; k < rs[i].n_items; k++) {
			oci_manifest_release(&rs[i].items[k].m);
			free(rs[i].items[k].desc_json);
		}
		free(rs[i].items);
		free(rs[i].needs);
	}
	queue_release(&q);
	free(rs);
	return any_failed ? ERR_FAIL : 0;
}
