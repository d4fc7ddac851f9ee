/* Fill on demand: the serve_upstream interface over one request engine
 * (upstream.h). MHD's threads find or create fills in a table under the
 * upstream's lock and queue new ones; the fill thread submits them (from
 * its loop and from the engine's hook, woken by reg_engine_wakeup) and
 * every callback runs on it. A fill's own lock guards its state and
 * waiters; references are counted under the upstream's lock. */
#include "mirror/upstream/upstream.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "oci/buf.h"
#include "oci/manifest.h"
#include "oci/mediatype.h"
#include "oci/ref.h"
#include "oci/vec.h"
#include "registry/client.h"
#include "registry/engine.h"
#include "registry/http.h"
#include "registry/pool.h"

#define TAG_TABLE_MAX 100000
#define TAG_BUCKETS 4096
#define KEPT_MAX 1024	 /* finished lists kept for reuse */
#define CHECK_BACKOFF 30 /* s: a failed check counts this long */
#define EXPIRE_MS 100	 /* how often stored fills' deadlines are due */

enum fill_kind { F_MANIFEST, F_BLOB, F_LIST };

struct waiter {
	void (*wake)(void *arg);
	void *arg;
};

struct serve_fill {
	struct serve_fill *next;  /* in the table */
	struct serve_fill *qnext; /* in the queue */
	struct upstream *u;
	enum fill_kind kind;
	char key[OCI_REPO_MAX + OCI_DIGEST_MAX + 16];
	char repo[OCI_REPO_MAX];     /* the store's name */
	char host[OCI_NAME_MAX + 1]; /* registry */
	char path[OCI_NAME_MAX + 1];
	char ref[OCI_DIGEST_MAX]; /* manifest: tag or digest */
	int stored;
	struct oci_digest digest; /* blob; referrers: subject */
	enum serve_fill_list list;
	int refs;     /* under u->mu */
	int in_table; /* under u->mu: 1 running, 2 kept (a finished list) */
	int shut;     /* under u->mu: failed by if_shutdown */
	long long deadline_ms; /* under u->mu: a stored fill's, or 0 */
	int expired;	       /* the deadline failed it (fill thread) */
	double done_at;
	long long t0_ms; /* of the current upstream request */
	/* under mu */
	pthread_mutex_t mu;
	struct serve_fill_status st;
	struct waiter *waiters;
	size_t n_waiters, cap_waiters;
	/* blob: the engine thread's writer; readers' descriptor */
	struct store_writer *w;
	int rfd;
	int link_only; /* stored, not linked: HEAD then link */
	char *body;    /* list: the JSON text */
	size_t body_len;
};

struct tagent {
	struct tagent *hnext;	    /* bucket chain */
	struct tagent *prev, *next; /* oldest first */
	char *key;
	double at;
};

struct upstream {
	struct store *s;
	const struct sync_config *cfg;
	struct upstream_options o;
	struct serve_upstream iface;
	struct reg_pool pool;
	struct syncconf_hosts hosts; /* the pool's host settings */
	pthread_t th;
	int started;
	pthread_mutex_t mu; /* table, queue, refs, stopping */
	pthread_cond_t cv;
	struct serve_fill *table; /* running fills */
	size_t n_fills;
	struct serve_fill *kept_head, *kept_tail; /* oldest first */
	size_t n_kept;
	size_t n_timed; /* fills with a deadline */
	long long next_expire_ms;
	struct serve_fill *q_head, *q_tail;
	int stopping, quit;
	/* tag check times, under tmu */
	pthread_mutex_t tmu;
	struct tagent *buckets[TAG_BUCKETS];
	struct tagent *oldest, *newest;
	size_t n_tags;
	/* counters */
	atomic_uint_fast64_t manifest_fetches, blob_fetches, list_fetches,
	    revalidations, bytes, failures, stale, joined, in_flight;
};

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static long long now_ms(void)
{
	return (long long)(now_s() * 1000);
}

static void ulog(struct upstream *u, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void ulog(struct upstream *u, const char *fmt, ...)
{
	char line[1200];
	va_list ap;

	if (!u->o.log)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	u->o.log(u->o.log_ctx, line);
}

/* --- tag check times --- */

static size_t tag_hash(const char *k)
{
	size_t h = 5381;

	while (*k)
		h = h * 33 + (unsigned char)*k++;
	return h % TAG_BUCKETS;
}

static struct tagent **tag_find(struct upstream *u, const char *key)
{
	struct tagent **pp = &u->buckets[tag_hash(key)];

	while (*pp && strcmp((*pp)->key, key))
		pp = &(*pp)->hnext;
	return pp;
}

static void tag_unlist(struct upstream *u, struct tagent *t)
{
	if (t->prev)
		t->prev->next = t->next;
	else
		u->oldest = t->next;
	if (t->next)
		t->next->prev = t->prev;
	else
		u->newest = t->prev;
	t->prev = t->next = NULL;
}

static void tag_checked_at(struct upstream *u, const char *repo,
			   const char *tag, double at)
{
	char key[OCI_REPO_MAX + OCI_TAG_MAX + 2];
	struct tagent **pp, *t;

	snprintf(key, sizeof(key), "%s:%s", repo, tag);
	pthread_mutex_lock(&u->tmu);
	pp = tag_find(u, key);
	t = *pp;
	if (t) {
		tag_unlist(u, t);
	} else {
		if (u->n_tags >= TAG_TABLE_MAX && u->oldest) {
			/* the oldest check is forgotten: that tag is due */
			struct tagent *old = u->oldest, **op;

			tag_unlist(u, old);
			op = tag_find(u, old->key);
			*op = old->hnext;
			free(old->key);
			free(old);
			u->n_tags--;
			pp = tag_find(u, key);
		}
		t = calloc(1, sizeof(*t));
		if (!t || !(t->key = strdup(key))) {
			free(t);
			pthread_mutex_unlock(&u->tmu);
			return;
		}
		t->hnext = NULL;
		*pp = t;
		u->n_tags++;
	}
	t->at = at;
	t->prev = u->newest;
	if (u->newest)
		u->newest->next = t;
	else
		u->oldest = t;
	u->newest = t;
	pthread_mutex_unlock(&u->tmu);
}

static void tag_checked(struct upstream *u, const char *repo, const char *tag)
{
	tag_checked_at(u, repo, tag, now_s());
}

/* A stored tag's check failed: it counts as fresh for a shorter while
 * (min(CHECK_BACKOFF, tag_ttl)), then it is checked again. */
static void check_failed(struct serve_fill *f)
{
	struct upstream *u = f->u;
	double b = u->o.tag_ttl < CHECK_BACKOFF ? u->o.tag_ttl : CHECK_BACKOFF;

	if (f->kind == F_MANIFEST && f->stored && !strchr(f->ref, ':'))
		tag_checked_at(u, f->repo, f->ref,
			       now_s() - (double)u->o.tag_ttl + b);
}

/* --- fills: state, waiters, references --- */

/* Set f's state (unless it ended already) and wake every waiter; 1 when
 * the state was set. */
static int fill_update(struct serve_fill *f, enum serve_fill_state state,
		       int64_t size, uint64_t avail, int code, const char *msg)
{
	struct waiter *ws;
	size_t n;

	pthread_mutex_lock(&f->mu);
	if (f->st.state == SERVE_FILL_DONE ||
	    f->st.state == SERVE_FILL_FAILED) {
		pthread_mutex_unlock(&f->mu);
		return 0;
	}
	f->st.state = state;
	if (size >= 0)
		f->st.size = size;
	if (avail > f->st.available)
		f->st.available = avail;
	if (state == SERVE_FILL_FAILED) {
		f->st.code = code ? code : ERR_FAIL;
		snprintf(f->st.msg, sizeof(f->st.msg), "%s",
			 msg ? msg : "failed");
	}
	ws = f->waiters;
	n = f->n_waiters;
	f->waiters = NULL;
	f->n_waiters = f->cap_waiters = 0;
	pthread_mutex_unlock(&f->mu);
	for (size_t i = 0; i < n; i++)
		ws[i].wake(ws[i].arg);
	free(ws);
	return 1;
}

/* Counted once: a late end after a deadline's failure is not. */
static void fill_fail(struct serve_fill *f, int code, const char *msg)
{
	if (fill_update(f, SERVE_FILL_FAILED, -1, 0, code, msg))
		atomic_fetch_add(&f->u->failures, 1);
}

static void fill_free(struct serve_fill *f)
{
	if (f->w)
		store_writer_free(f->w);
	if (f->rfd >= 0)
		close(f->rfd);
	free(f->waiters);
	free(f->body);
	pthread_mutex_destroy(&f->mu);
	free(f);
}

static void table_remove(struct upstream *u, struct serve_fill *f)
{
	struct serve_fill **pp;

	for (pp = &u->table; *pp; pp = &(*pp)->next)
		if (*pp == f) {
			*pp = f->next;
			f->in_table = 0;
			u->n_fills--;
			return;
		}
}

/* Drop one reference (under u->mu). */
static void unref_locked(struct serve_fill *f)
{
	if (--f->refs == 0) {
		if (f->in_table == 1)
			table_remove(f->u, f);
		fill_free(f);
	}
}

/* Under u->mu: the oldest kept list dropped (the kept list's
 * reference). */
static void kept_drop_oldest(struct upstream *u)
{
	struct serve_fill *f = u->kept_head;

	u->kept_head = f->next;
	if (!u->kept_head)
		u->kept_tail = NULL;
	f->next = NULL;
	f->in_table = 0;
	u->n_kept--;
	unref_locked(f);
}

/* Under u->mu: expired kept lists dropped (all keep tag_ttl, so the
 * oldest expire first). */
static void kept_purge(struct upstream *u)
{
	double t = now_s();

	while (u->kept_head &&
	       t - u->kept_head->done_at >= (double)u->o.tag_ttl)
		kept_drop_oldest(u);
}

/* Under u->mu: keep a finished list (at most KEPT_MAX, the oldest
 * dropped); it counts against no limit of running fills. */
static void kept_add(struct upstream *u, struct serve_fill *f)
{
	while (u->n_kept >= KEPT_MAX && u->kept_head)
		kept_drop_oldest(u);
	f->done_at = now_s();
	f->refs++; /* the kept list's */
	f->in_table = 2;
	f->next = NULL;
	if (u->kept_tail)
		u->kept_tail->next = f;
	else
		u->kept_head = f;
	u->kept_tail = f;
	u->n_kept++;
}

/* The job's end: out of the table (a DONE list is kept tag_ttl), and the
 * job's reference dropped. */
static void fill_job_end(struct serve_fill *f)
{
	struct upstream *u = f->u;

	atomic_fetch_sub(&u->in_flight, 1);
	pthread_mutex_lock(&u->mu);
	if (f->deadline_ms) {
		f->deadline_ms = 0;
		u->n_timed--;
	}
	if (f->in_table == 1) {
		table_remove(u, f);
		if (f->kind == F_LIST && f->st.state == SERVE_FILL_DONE &&
		    !f->expired && !u->stopping)
			kept_add(u, f);
	}
	unref_locked(f);
	pthread_mutex_unlock(&u->mu);
}

static struct serve_fill *fill_new(struct upstream *u, enum fill_kind kind,
				   const char *key, const char *repo,
				   const struct oci_ref *r)
{
	struct serve_fill *f = calloc(1, sizeof(*f));

	if (!f)
		return NULL;
	f->u = u;
	f->kind = kind;
	f->rfd = -1;
	snprintf(f->key, sizeof(f->key), "%s", key);
	snprintf(f->repo, sizeof(f->repo), "%s", repo);
	snprintf(f->host, sizeof(f->host), "%s", r->host);
	snprintf(f->path, sizeof(f->path), "%s", r->path);
	f->st.state = SERVE_FILL_PENDING;
	f->st.size = -1;
	pthread_mutex_init(&f->mu, NULL);
	return f;
}

/* Under u->mu: the running (or kept) fill of key, or NULL. Expired
 * kept lists are dropped first. */
static struct serve_fill *table_find(struct upstream *u, const char *key)
{
	struct serve_fill *f;

	kept_purge(u);
	for (f = u->table; f; f = f->next)
		if (!strcmp(f->key, key))
			return f;
	for (f = u->kept_head; f; f = f->next)
		if (!strcmp(f->key, key))
			return f;
	return NULL;
}

/* Under u->mu: add f (with the job's reference and extra ones). */
static void table_add(struct upstream *u, struct serve_fill *f, int refs)
{
	f->refs = refs;
	f->in_table = 1;
	f->next = u->table;
	u->table = f;
	u->n_fills++;
	atomic_fetch_add(&u->in_flight, 1);
}

/* Queue f for the fill thread and wake it. */
static void queue_locked(struct upstream *u, struct serve_fill *f)
{
	f->qnext = NULL;
	if (u->q_tail)
		u->q_tail->qnext = f;
	else
		u->q_head = f;
	u->q_tail = f;
	pthread_cond_signal(&u->cv);
	if (u->pool.engine)
		reg_engine_wakeup(u->pool.engine);
}

/* Split the store's name into registry host and path: only names with a
 * host the file names. */
static int repo_split(struct upstream *u, const char *repo, struct oci_ref *r)
{
	struct err e;

	if (!repo || !oci_name_has_host(repo) ||
	    oci_ref_parse_repo(r, repo, &e))
		return 0;
	return syncconf_registry(u->cfg, r->host) != NULL;
}

/* Find or start the fill of key for a caller. */
static struct serve_fill *
fill_get(struct upstream *u, enum fill_kind kind, const char *key,
	 const char *repo, const struct oci_ref *r,
	 void (*init)(struct serve_fill *f, const void *arg), const void *arg,
	 struct err *err)
{
	struct serve_fill *f;

	pthread_mutex_lock(&u->mu);
	if (u->stopping) {
		pthread_mutex_unlock(&u->mu);
		err_set(err, ERR_FAIL, "upstream: stopping");
		return NULL;
	}
	f = table_find(u, key);
	if (f) {
		f->refs++;
		if (!f->done_at)
			atomic_fetch_add(&u->joined, 1);
		pthread_mutex_unlock(&u->mu);
		return f;
	}
	if (u->n_fills >= u->o.max_fills) {
		pthread_mutex_unlock(&u->mu);
		err_set(err, ERR_FAIL, "upstream: too many fetches (%u)",
			u->o.max_fills);
		return NULL;
	}
	f = fill_new(u, kind, key, repo, r);
	if (!f) {
		pthread_mutex_unlock(&u->mu);
		err_set(err, ERR_FAIL, "upstream: out of memory");
		return NULL;
	}
	init(f, arg);
	if (f->stored) {
		/* stored content is served if no answer comes in time:
		 * the deadline covers queueing, tokens, holds and retries */
		f->deadline_ms = now_ms() + (long long)u->o.timeout * 1000;
		u->n_timed++;
	}
	table_add(u, f, 2); /* the caller's and the job's */
	queue_locked(u, f);
	pthread_mutex_unlock(&u->mu);
	return f;
}

/* --- the fill thread's side --- */

static int client_of(struct serve_fill *f, struct reg_client **c,
		     struct err *err)
{
	return reg_pool_get(&f->u->pool, c, f->host, err);
}

static void log_end(struct serve_fill *f, const char *method, const char *what,
		    int rc, const struct err *e, uint64_t bytes,
		    const char *via)
{
	double ms = (double)(now_ms() - f->t0_ms);

	if (rc)
		ulog(f->u, "upstream %s %s/%s/%s failed: %s %.1fms", method,
		     f->host, f->path, what, e ? e->msg : "error", ms);
	else
		ulog(f->u, "upstream %s %s/%s/%s 200 %llu bytes %.1fms%s%s%s",
		     method, f->host, f->path, what, (unsigned long long)bytes,
		     ms, via ? " (via " : "", via ? via : "", via ? ")" : "");
}

static void start_fill(struct upstream *u, struct serve_fill *f);

/* A background blob fill of an image's config or layer (no caller). */
static void start_background_blob(struct serve_fill *m,
				  const struct oci_descriptor *d)
{
	struct upstream *u = m->u;
	struct serve_fill *f;
	struct oci_ref r;
	char key[sizeof(f->key)];

	if (oci_mediatype_is_nondistributable(d->media_type) ||
	    (store_blob_exists(NULL, u->s, &d->digest) &&
	     store_blob_linked(u->s, m->repo, &d->digest)))
		return;
	snprintf(key, sizeof(key), "b %s %s", m->repo, d->digest.str);
	memset(&r, 0, sizeof(r));
	snprintf(r.host, sizeof(r.host), "%s", m->host);
	snprintf(r.path, sizeof(r.path), "%s", m->path);
	pthread_mutex_lock(&u->mu);
	if (u->stopping || table_find(u, key)) {
		pthread_mutex_unlock(&u->mu);
		return;
	}
	if (u->n_fills >= u->o.max_fills ||
	    !(f = fill_new(u, F_BLOB, key, m->repo, &r))) {
		int full = u->n_fills >= u->o.max_fills;

		pthread_mutex_unlock(&u->mu);
		atomic_fetch_add(&u->failures, 1);
		ulog(u, "upstream: background fetch of %s/%s@%s skipped: %s",
		     m->host, m->path, d->digest.str,
		     full ? "too many fetches" : "out of memory");
		return;
	}
	f->digest = d->digest;
	f->link_only = store_blob_exists(NULL, u->s, &d->digest);
	table_add(u, f, 1); /* the job's alone */
	pthread_mutex_unlock(&u->mu);
	start_fill(u, f);
}

/* Store a fetched manifest (as mirror/pull.c commits): blob, repository
 * record, referrer record, then the tag. */
static int manifest_store(struct serve_fill *f, struct reg_manifest *m,
			  struct err *err)
{
	struct upstream *u = f->u;
	struct oci_manifest man;
	struct oci_digest got;
	struct store_ref sr;
	int is_tag = strchr(f->ref, ':') == NULL;
	int rc;

	if (m->len > OCI_MANIFEST_MAX)
		return err_set(err, ERR_TOO_LARGE,
			       "manifest %s:%s: larger than %u bytes", f->repo,
			       f->ref, OCI_MANIFEST_MAX);
	if (is_tag) {
		/* the client verifies digest references; a tag's answer
		 * must be what its Docker-Content-Digest names */
		oci_digest_of(&got, m->has_digest ? m->digest.alg : OCI_SHA256,
			      m->body, m->len);
		if (m->has_digest && !oci_digest_equal(&got, &m->digest))
			return err_set(err, ERR_DIGEST,
				       "manifest %s:%s: body is %s, "
				       "Docker-Content-Digest says %s",
				       f->repo, f->ref, got.str, m->digest.str);
	}
	rc = oci_manifest_parse(&man, m->body, m->len, m->content_type, err);
	if (rc)
		return rc;
	if (!is_tag)
		oci_digest_parse(&man.digest, f->ref, NULL);
	rc = store_blob_put(u->s, &man.digest, man.raw, man.raw_len, err);
	memset(&sr, 0, sizeof(sr));
	sr.digest = man.digest;
	snprintf(sr.media_type, sizeof(sr.media_type), "%s", man.media_type);
	sr.size = (int64_t)man.raw_len;
	if (!rc)
		rc = store_manifest_link(u->s, f->repo, &sr, err);
	if (!rc && man.has_subject) {
		char *desc = oci_manifest_referrer_json(&man);

		rc = desc ? store_referrer_add(u->s, f->repo,
					       &man.subject.digest, &man.digest,
					       desc, err)
			  : err_set(err, ERR_FAIL, "out of memory");
		free(desc);
	}
	if (!rc && is_tag)
		rc = store_tag_set(u->s, f->repo, f->ref, &sr, err);
	if (!rc && is_tag)
		tag_checked(u, f->repo, f->ref);
	if (!rc && man.kind == OCI_KIND_MANIFEST) {
		if (man.has_config)
			start_background_blob(f, &man.config);
		for (size_t i = 0; i < man.n_layers; i++)
			start_background_blob(f, &man.layers[i]);
	}
	oci_manifest_release(&man);
	return rc;
}

static void manifest_got(void *ctx, int rc, struct reg_manifest *m,
			 int64_t size, const struct err *e)
{
	struct serve_fill *f = ctx;
	char what[OCI_DIGEST_MAX + 16];
	struct err err;

	(void)size;
	snprintf(what, sizeof(what), "manifests/%s", f->ref);
	log_end(f, "GET", what, rc, e, rc ? 0 : m->len,
		rc ? NULL : m->endpoint);
	err_clear(&err);
	if (!rc) {
		atomic_fetch_add(&f->u->bytes, m->len);
		rc = manifest_store(f, m, &err);
		e = &err;
	}
	if (rc && f->stored && !f->expired) {
		atomic_fetch_add(&f->u->stale, 1); /* the stored tag stands */
		check_failed(f);
	}
	if (rc)
		fill_fail(f, rc, e->msg);
	else
		fill_update(f, SERVE_FILL_DONE, -1, 0, 0, NULL);
	fill_job_end(f);
}

static void manifest_get(struct serve_fill *f)
{
	struct reg_client *c;
	struct err e;

	atomic_fetch_add(&f->u->manifest_fetches, 1);
	f->t0_ms = now_ms();
	if (client_of(f, &c, &e) ||
	    reg_client_get_manifest_async(c, f->path, f->ref, manifest_got, f,
					  &e)) {
		fill_fail(f, e.code, e.msg);
		fill_job_end(f);
	}
}

/* A stored tag's check: one HEAD, short timeout, no retry. */
static void revalidate_done(struct reg_job *j, void *ctx)
{
	struct serve_fill *f = ctx;
	struct upstream *u = f->u;
	struct reg_response *r = reg_job_response(j);
	int rc = reg_job_result(j);
	struct store_ref cur;
	struct oci_digest d;
	struct err e = *reg_job_err(j);
	char what[OCI_DIGEST_MAX + 16];

	snprintf(what, sizeof(what), "manifests/%s", f->ref);
	if (!rc && (!r || r->status != 200)) {
		rc = r && r->status == 404 ? ERR_NOT_FOUND : ERR_FAIL;
		err_set(&e, rc, "HEAD %s:%s: status %ld", f->repo, f->ref,
			r ? r->status : 0L);
	}
	log_end(f, "HEAD", what, rc, &e, 0, NULL);
	if (rc) {
		if (!f->expired) {
			atomic_fetch_add(&u->stale, 1);
			check_failed(f);
		}
		fill_fail(f, rc, e.msg);
		fill_job_end(f);
		return;
	}
	if (r->digest[0] && !oci_digest_parse(&d, r->digest, NULL) &&
	    !store_tag_get(&cur, u->s, f->repo, f->ref, NULL) &&
	    oci_digest_equal(&d, &cur.digest)) {
		tag_checked(u, f->repo, f->ref);
		fill_update(f, SERVE_FILL_DONE, -1, 0, 0, NULL);
		fill_job_end(f);
		return;
	}
	/* the tag moved (or the answer named no digest): fetch it */
	manifest_get(f);
}

static void manifest_start(struct serve_fill *f)
{
	struct upstream *u = f->u;
	struct reg_client *c;
	struct reg_req q;
	char url[1200];
	struct err e;
	int rc;

	if (!f->stored) {
		manifest_get(f);
		return;
	}
	atomic_fetch_add(&u->revalidations, 1);
	f->t0_ms = now_ms();
	snprintf(url, sizeof(url), "/v2/%s/manifests/%s", f->path, f->ref);
	memset(&q, 0, sizeof(q));
	q.method = "HEAD";
	q.url = url;
	q.accept = MT_ACCEPT_ALL;
	q.repo = f->path;
	q.timeout_ms = (long)u->o.timeout * 1000;
	q.no_retry = 1;
	q.done = revalidate_done;
	q.ctx = f;
	rc = client_of(f, &c, &e);
	q.client = c;
	if (rc || reg_engine_submit(u->pool.engine, &q, &e)) {
		atomic_fetch_add(&u->stale, 1);
		check_failed(f);
		fill_fail(f, e.code, e.msg);
		fill_job_end(f);
	}
}

/* --- blobs: a sink into the store's writer --- */

static int bsink_write(void *ctx, const void *p, size_t n, struct err *err)
{
	struct serve_fill *f = ctx;
	int rc;

	/* a transfer ends at shutdown (stopping is set under u->mu) */
	if (__atomic_load_n(&f->u->stopping, __ATOMIC_ACQUIRE))
		return err_set(err, ERR_FAIL, "upstream: stopping");
	rc = store_writer_write(f->w, p, n, err);
	if (rc)
		return rc;
	atomic_fetch_add(&f->u->bytes, n);
	fill_update(f, SERVE_FILL_STREAMING, -1, store_writer_offset(f->w), 0,
		    NULL);
	return 0;
}

static int bsink_reset(void *ctx, struct err *err)
{
	struct serve_fill *f = ctx;
	uint64_t avail;

	pthread_mutex_lock(&f->mu);
	avail = f->st.available;
	pthread_mutex_unlock(&f->mu);
	/* readers have bytes of this body: it must not change under them */
	if (avail > 0)
		return err_set(err, ERR_DIGEST,
			       "blob %s: restarted after %llu bytes were "
			       "served",
			       f->digest.str, (unsigned long long)avail);
	return store_writer_reset(f->w, err);
}

static uint64_t bsink_offset(void *ctx)
{
	struct serve_fill *f = ctx;

	return store_writer_offset(f->w);
}

static int bsink_finish(void *ctx, struct err *err)
{
	struct serve_fill *f = ctx;

	return store_writer_commit(f->w, err);
}

static void bsink_headers(void *ctx, int64_t length)
{
	struct serve_fill *f = ctx;

	fill_update(f, SERVE_FILL_STREAMING, length, 0, 0, NULL);
}

static void blob_done(struct reg_job *j, void *ctx)
{
	struct serve_fill *f = ctx;
	int rc = reg_job_result(j);
	struct err e = *reg_job_err(j);
	char what[OCI_DIGEST_MAX + 16];
	uint64_t got = f->w ? store_writer_offset(f->w) : 0;

	snprintf(what, sizeof(what), "blobs/%s", f->digest.str);
	if (f->link_only && !rc) {
		struct reg_response *r = reg_job_response(j);

		if (!r || r->status != 200)
			rc = err_set(&e,
				     r && r->status == 404 ? ERR_NOT_FOUND
							   : ERR_FAIL,
				     "HEAD %s@%s: status %ld", f->repo,
				     f->digest.str, r ? r->status : 0L);
	}
	log_end(f, f->link_only ? "HEAD" : "GET", what, rc, &e, got, NULL);
	if (!rc)
		rc = store_blob_link(f->u->s, f->repo, &f->digest, &e);
	if (!rc && f->link_only) {
		/* readers read the stored blob */
		int64_t size = 0;

		rc = store_blob_open(&f->rfd, &size, f->u->s, &f->digest, &e);
		got = (uint64_t)size;
		if (!rc)
			fill_update(f, SERVE_FILL_STREAMING, size, 0, 0, NULL);
	}
	if (f->w) {
		store_writer_free(f->w); /* committed, or removes the file */
		f->w = NULL;
	}
	if (rc)
		fill_fail(f, rc, e.msg);
	else
		fill_update(f, SERVE_FILL_DONE, -1, got, 0, NULL);
	fill_job_end(f);
}

static void blob_start(struct serve_fill *f)
{
	struct upstream *u = f->u;
	struct reg_client *c;
	struct reg_sink sink;
	struct reg_req q;
	char url[1200];
	struct err e;
	int rc;

	f->t0_ms = now_ms();
	snprintf(url, sizeof(url), "/v2/%s/blobs/%s", f->path, f->digest.str);
	memset(&q, 0, sizeof(q));
	q.url = url;
	q.repo = f->path;
	q.size = -1;
	q.done = blob_done;
	q.ctx = f;
	rc = client_of(f, &c, &e);
	q.client = c;
	if (!rc && f->link_only) {
		/* stored for another repository: does this one have it? */
		q.method = "HEAD";
	} else if (!rc) {
		atomic_fetch_add(&u->blob_fetches, 1);
		q.method = "GET";
		q.bulk = 1;
		rc = store_writer_open(&f->w, u->s, &f->digest, -1, &e);
		if (!rc && (f->rfd = store_writer_read_fd(f->w)) < 0)
			rc = err_set(&e, ERR_FAIL, "blob %s: reader: %s",
				     f->digest.str, strerror(errno));
		memset(&sink, 0, sizeof(sink));
		sink.write = bsink_write;
		sink.reset = bsink_reset;
		sink.offset = bsink_offset;
		sink.finish = bsink_finish;
		sink.headers = bsink_headers;
		sink.ctx = f;
		q.sink = &sink;
	}
	if (!rc)
		rc = reg_engine_submit(u->pool.engine, &q, &e);
	if (rc) {
		fill_fail(f, rc, e.msg);
		fill_job_end(f);
	}
}

/* --- lists --- */

static void list_finish(struct serve_fill *f, int rc, const struct err *e,
			char *body, size_t len)
{
	log_end(f, "GET",
		f->list == SERVE_FILL_TAGS ? "tags/list" : "referrers", rc, e,
		len, NULL);
	if (!rc && !body)
		rc = ERR_FAIL;
	if (rc) {
		free(body);
		fill_fail(f, rc, e ? e->msg : "out of memory");
	} else {
		atomic_fetch_add(&f->u->bytes, len);
		f->body = body;
		f->body_len = len;
		fill_update(f, SERVE_FILL_DONE, -1, 0, 0, NULL);
	}
	fill_job_end(f);
}

static void tags_got(void *ctx, int rc, char **list, size_t n,
		     const struct err *e)
{
	struct serve_fill *f = ctx;
	char *text = NULL;

	if (!rc) {
		json_t *o = json_object(), *a = json_array();

		for (size_t i = 0; i < n; i++)
			json_array_append_new(a, json_string(list[i]));
		json_object_set_new(o, "name", json_string(f->repo));
		json_object_set_new(o, "tags", a);
		text = json_dumps(o, JSON_COMPACT);
		json_decref(o);
	}
	oci_strv_free(list);
	list_finish(f, rc, e, text, text ? strlen(text) : 0);
}

static void referrers_got(void *ctx, int rc, struct buf *body,
			  const struct err *e)
{
	struct serve_fill *f = ctx;
	char *text = NULL;
	size_t len = 0;

	if (!rc && body) {
		len = body->len;
		text = malloc(len + 1);
		if (text) {
			memcpy(text, body->data, len);
			text[len] = 0;
		}
	}
	list_finish(f, rc, e, text, len);
}

static void list_start(struct serve_fill *f)
{
	struct reg_client *c;
	struct err e;
	int rc;

	atomic_fetch_add(&f->u->list_fetches, 1);
	f->t0_ms = now_ms();
	rc = client_of(f, &c, &e);
	if (!rc)
		rc = f->list == SERVE_FILL_TAGS
			 ? reg_client_list_tags_async(c, f->path, tags_got, f,
						      &e)
			 : reg_client_referrers_async(c, f->path, &f->digest,
						      referrers_got, f, &e);
	if (rc) {
		fill_fail(f, rc, e.msg);
		fill_job_end(f);
	}
}

static void start_fill(struct upstream *u, struct serve_fill *f)
{
	if (f->expired) { /* failed while queued: nothing to send */
		fill_job_end(f);
		return;
	}
	if (u->stopping) {
		fill_update(f, SERVE_FILL_FAILED, -1, 0, ERR_FAIL, "stopping");
		fill_job_end(f);
		return;
	}
	switch (f->kind) {
	case F_MANIFEST: manifest_start(f); break;
	case F_BLOB: blob_start(f); break;
	case F_LIST: list_start(f); break;
	}
}

/* Stored fills past their deadline fail (the stored content is served);
 * the job goes on, and its late end changes nothing for the callers. */
static void expire(struct upstream *u)
{
	struct serve_fill *due[32];
	long long t = now_ms();
	size_t n;

	pthread_mutex_lock(&u->mu);
	if (!u->n_timed || t < u->next_expire_ms) {
		pthread_mutex_unlock(&u->mu);
		return;
	}
	u->next_expire_ms = t + EXPIRE_MS;
	pthread_mutex_unlock(&u->mu);
	do {
		n = 0;
		pthread_mutex_lock(&u->mu);
		for (struct serve_fill *f = u->table; f && n < 32; f = f->next)
			if (f->deadline_ms && t >= f->deadline_ms) {
				f->deadline_ms = 0;
				u->n_timed--;
				f->expired = 1;
				f->refs++;
				due[n++] = f;
			}
		pthread_mutex_unlock(&u->mu);
		for (size_t i = 0; i < n; i++) {
			struct serve_fill *f = due[i];
			char msg[128];

			snprintf(msg, sizeof(msg),
				 "upstream: no answer within %us",
				 u->o.timeout);
			ulog(u, "upstream %s/%s: %s, stored content served",
			     f->host, f->path, msg);
			atomic_fetch_add(&u->stale, 1);
			check_failed(f);
			fill_fail(f, ERR_TIMEOUT, msg);
		}
		pthread_mutex_lock(&u->mu);
		for (size_t i = 0; i < n; i++)
			unref_locked(due[i]);
		pthread_mutex_unlock(&u->mu);
	} while (n == 32);
}

/* The engine's hook (every loop turn, at most ~200 ms apart while
 * requests run) and the loop: deadlines, then submit what was queued. */
static void drain(void *ctx)
{
	struct upstream *u = ctx;
	struct serve_fill *f;

	/* at shutdown nothing waits on a stalled transfer or a Retry-After
	 * hold: every job ends now, and the run returns */
	if (__atomic_load_n(&u->stopping, __ATOMIC_ACQUIRE))
		reg_engine_cancel_all(u->pool.engine, "serve is stopping");
	else
		expire(u);
	for (;;) {
		pthread_mutex_lock(&u->mu);
		f = u->q_head;
		if (f) {
			u->q_head = f->qnext;
			if (!u->q_head)
				u->q_tail = NULL;
		}
		pthread_mutex_unlock(&u->mu);
		if (!f)
			return;
		start_fill(u, f);
	}
}

static void *fill_thread(void *arg)
{
	struct upstream *u = arg;

	for (;;) {
		pthread_mutex_lock(&u->mu);
		while (!u->q_head && !u->quit) {
			struct timespec ts;

			if (!u->n_timed) {
				pthread_cond_wait(&u->cv, &u->mu);
				continue;
			}
			/* deadlines are due even with nothing in the engine */
			clock_gettime(CLOCK_REALTIME, &ts);
			ts.tv_nsec += EXPIRE_MS * 1000000L;
			if (ts.tv_nsec >= 1000000000L) {
				ts.tv_sec++;
				ts.tv_nsec -= 1000000000L;
			}
			pthread_cond_timedwait(&u->cv, &u->mu, &ts);
			break;
		}
		if (!u->q_head && u->quit) {
			pthread_mutex_unlock(&u->mu);
			break;
		}
		pthread_mutex_unlock(&u->mu);
		drain(u);
		reg_engine_run(u->pool.engine);
	}
	return NULL;
}

/* --- the interface --- */

static int if_serves(void *ctx, const char *repo)
{
	struct oci_ref r;

	return repo_split(ctx, repo, &r);
}

static int if_tag_fresh(void *ctx, const char *repo, const char *tag)
{
	struct upstream *u = ctx;
	char key[OCI_REPO_MAX + OCI_TAG_MAX + 2];
	struct tagent *t;
	int fresh = 0;

	snprintf(key, sizeof(key), "%s:%s", repo, tag);
	pthread_mutex_lock(&u->tmu);
	t = *tag_find(u, key);
	if (t && now_s() - t->at < (double)u->o.tag_ttl)
		fresh = 1;
	pthread_mutex_unlock(&u->tmu);
	return fresh;
}

struct margs {
	const char *ref;
	int stored;
};

static void minit(struct serve_fill *f, const void *arg)
{
	const struct margs *a = arg;

	snprintf(f->ref, sizeof(f->ref), "%s", a->ref);
	f->stored = a->stored;
}

static struct serve_fill *if_manifest(void *ctx, const char *repo,
				      const char *ref, int stored,
				      struct err *err)
{
	struct upstream *u = ctx;
	struct margs a = {ref, stored};
	struct oci_digest d;
	struct oci_ref r;
	char key[sizeof(((struct serve_fill *)0)->key)];

	if (!repo_split(u, repo, &r)) {
		err_set(err, ERR_INVALID, "upstream: %s is not upstream", repo);
		return NULL;
	}
	if (!oci_tag_valid(ref) && oci_digest_parse(&d, ref, NULL)) {
		err_set(err, ERR_INVALID, "upstream: bad reference %s", ref);
		return NULL;
	}
	snprintf(key, sizeof(key), "m %s %s", repo, ref);
	return fill_get(u, F_MANIFEST, key, repo, &r, minit, &a, err);
}

/* A blob the repository holds already: a fill that is DONE at once,
 * read from the store (outside the table: nothing to join). */
static struct serve_fill *stored_blob(struct upstream *u, const char *repo,
				      const struct oci_ref *r,
				      const struct oci_digest *d,
				      struct err *err)
{
	struct serve_fill *f;
	int64_t size = 0;
	int stopping;

	pthread_mutex_lock(&u->mu);
	stopping = u->stopping;
	pthread_mutex_unlock(&u->mu);
	if (stopping) {
		err_set(err, ERR_FAIL, "upstream: stopping");
		return NULL;
	}
	f = fill_new(u, F_BLOB, "", repo, r);
	if (!f) {
		err_set(err, ERR_FAIL, "upstream: out of memory");
		return NULL;
	}
	f->digest = *d;
	if (store_blob_open(&f->rfd, &size, u->s, d, err)) {
		fill_free(f);
		return NULL;
	}
	f->st.state = SERVE_FILL_DONE;
	f->st.size = size;
	f->st.available = (uint64_t)size;
	f->refs = 1;
	return f;
}

struct bargs {
	const struct oci_digest *d;
	int link_only;
};

static void binit(struct serve_fill *f, const void *arg)
{
	const struct bargs *a = arg;

	f->digest = *a->d;
	f->link_only = a->link_only;
}

static struct serve_fill *if_blob(void *ctx, const char *repo,
				  const struct oci_digest *d, struct err *err)
{
	struct upstream *u = ctx;
	struct bargs a = {d, 0};
	struct oci_ref r;
	char key[sizeof(((struct serve_fill *)0)->key)];

	if (!repo_split(u, repo, &r)) {
		err_set(err, ERR_INVALID, "upstream: %s is not upstream", repo);
		return NULL;
	}
	a.link_only = store_blob_exists(NULL, u->s, d);
	if (a.link_only && store_blob_linked(u->s, repo, d))
		return stored_blob(u, repo, &r, d, err);
	/* one fetch (or link-only check) per repository and digest: it
	 * fetches with, and links, that repository alone */
	snprintf(key, sizeof(key), "b %s %s", repo, d->str);
	return fill_get(u, F_BLOB, key, repo, &r, binit, &a, err);
}

struct largs {
	enum serve_fill_list kind;
	const struct oci_digest *subject;
	int stored;
};

static void linit(struct serve_fill *f, const void *arg)
{
	const struct largs *a = arg;

	f->list = a->kind;
	if (a->subject)
		f->digest = *a->subject;
	f->stored = a->stored;
}

static struct serve_fill *if_list(void *ctx, enum serve_fill_list kind,
				  const char *repo,
				  const struct oci_digest *subject, int stored,
				  struct err *err)
{
	struct upstream *u = ctx;
	struct largs a = {kind, subject, stored};
	struct oci_ref r;
	char key[sizeof(((struct serve_fill *)0)->key)];

	if (!repo_split(u, repo, &r)) {
		err_set(err, ERR_INVALID, "upstream: %s is not upstream", repo);
		return NULL;
	}
	if (kind == SERVE_FILL_REFERRERS && !subject) {
		err_set(err, ERR_INVALID, "upstream: referrers need a subject");
		return NULL;
	}
	snprintf(key, sizeof(key), "%c %s %s",
		 kind == SERVE_FILL_TAGS ? 't' : 'r', repo,
		 subject && kind == SERVE_FILL_REFERRERS ? subject->str : "");
	return fill_get(u, F_LIST, key, repo, &r, linit, &a, err);
}

static void if_status(struct serve_fill *f, struct serve_fill_status *out)
{
	pthread_mutex_lock(&f->mu);
	*out = f->st;
	pthread_mutex_unlock(&f->mu);
}

static int if_wait(struct serve_fill *f, const struct serve_fill_status *seen,
		   void (*suspend)(void *arg), void (*wake)(void *arg),
		   void *arg)
{
	pthread_mutex_lock(&f->mu);
	if (f->st.state != seen->state || f->st.available != seen->available ||
	    f->st.state == SERVE_FILL_DONE ||
	    f->st.state == SERVE_FILL_FAILED) {
		pthread_mutex_unlock(&f->mu);
		return 1;
	}
	if (OCI_VEC_RESERVE(f->waiters, f->n_waiters, f->cap_waiters, 1, 0)) {
		/* no room to wait: the fill fails, so the caller sees a
		 * change rather than spinning */
		pthread_mutex_unlock(&f->mu);
		fill_fail(f, ERR_FAIL, "out of memory");
		return 1;
	}
	suspend(arg);
	f->waiters[f->n_waiters].wake = wake;
	f->waiters[f->n_waiters].arg = arg;
	f->n_waiters++;
	pthread_mutex_unlock(&f->mu);
	return 0;
}

static ssize_t if_read(struct serve_fill *f, uint64_t pos, void *buf,
		       size_t max)
{
	uint64_t avail;
	ssize_t n;

	pthread_mutex_lock(&f->mu);
	avail = f->st.available;
	pthread_mutex_unlock(&f->mu);
	if (f->rfd < 0 || pos >= avail)
		return pos >= avail && f->rfd >= 0 ? 0 : -1;
	if (max > avail - pos)
		max = (size_t)(avail - pos);
	do
		n = pread(f->rfd, buf, max, (off_t)pos);
	while (n < 0 && errno == EINTR);
	return n;
}

static const char *if_body(struct serve_fill *f, size_t *len)
{
	const char *b = NULL;

	pthread_mutex_lock(&f->mu);
	if (f->st.state == SERVE_FILL_DONE && f->body) {
		b = f->body;
		if (len)
			*len = f->body_len;
	}
	pthread_mutex_unlock(&f->mu);
	return b;
}

static void if_release(struct serve_fill *f)
{
	struct upstream *u;

	if (!f)
		return;
	u = f->u;
	pthread_mutex_lock(&u->mu);
	unref_locked(f);
	pthread_mutex_unlock(&u->mu);
}

static void if_stats(void *ctx, struct serve_upstream_stats *out)
{
	struct upstream *u = ctx;

	out->manifest_fetches = atomic_load(&u->manifest_fetches);
	out->blob_fetches = atomic_load(&u->blob_fetches);
	out->list_fetches = atomic_load(&u->list_fetches);
	out->revalidations = atomic_load(&u->revalidations);
	out->bytes = atomic_load(&u->bytes);
	out->failures = atomic_load(&u->failures);
	out->stale = atomic_load(&u->stale);
	out->joined = atomic_load(&u->joined);
	out->in_flight = atomic_load(&u->in_flight);
}

/* Every running fill fails, one at a time (no allocation): nothing is
 * added once stopping is set, so the walk goes on from a fill still in
 * the table, or from the start when it left. */
static void if_shutdown(void *ctx)
{
	struct upstream *u = ctx;
	struct serve_fill *f;

	pthread_mutex_lock(&u->mu);
	__atomic_store_n(&u->stopping, 1, __ATOMIC_RELEASE);
	f = u->table;
	for (;;) {
		while (f && f->shut)
			f = f->next;
		if (!f)
			break;
		f->shut = 1;
		f->refs++;
		pthread_mutex_unlock(&u->mu);
		/* outside u->mu: waking calls into MHD */
		fill_update(f, SERVE_FILL_FAILED, -1, 0, ERR_FAIL, "stopping");
		pthread_mutex_lock(&u->mu);
		if (f->in_table == 1 && f->refs > 1) {
			struct serve_fill *next = f->next;

			unref_locked(f);
			f = next;
		} else {
			unref_locked(f);
			f = u->table;
		}
	}
	pthread_mutex_unlock(&u->mu);
	if (u->pool.engine)
		reg_engine_wakeup(u->pool.engine);
}

/* --- setup --- */

void upstream_options_init(struct upstream_options *o)
{
	memset(o, 0, sizeof(*o));
	o->tag_ttl = 300;
	o->timeout = 3;
	o->max_fills = 4096;
}

int upstream_start(struct upstream **out, struct store *s,
		   const struct sync_config *cfg, const struct reg_options *ro,
		   const struct upstream_options *o, struct err *err)
{
	struct upstream *u;
	int rc;

	*out = NULL;
	if (!cfg || !cfg->n_registries)
		return err_set(err, ERR_INVALID,
			       "upstream: %s names no registry",
			       cfg && cfg->path ? cfg->path : "the file");
	u = calloc(1, sizeof(*u));
	if (!u)
		return err_set(err, ERR_FAIL, "upstream: out of memory");
	u->s = s;
	u->cfg = cfg;
	u->o = *o;
	if (!u->o.tag_ttl)
		u->o.tag_ttl = 300;
	if (!u->o.timeout)
		u->o.timeout = 3;
	if (!u->o.max_fills)
		u->o.max_fills = 4096;
	pthread_mutex_init(&u->mu, NULL);
	pthread_mutex_init(&u->tmu, NULL);
	pthread_cond_init(&u->cv, NULL);
	reg_pool_init(&u->pool, ro);
	rc = syncconf_hosts_build(&u->hosts, cfg, err);
	if (!rc)
		reg_pool_set_hosts(&u->pool, u->hosts.hosts, u->hosts.n);
	/* the engine before any client: its hook and wakeup are ours */
	if (!rc)
		rc = reg_engine_new(&u->pool.engine, err);
	if (rc) {
		upstream_stop(u);
		return rc;
	}
	reg_engine_set_hook(u->pool.engine, drain, u);
	if (pthread_create(&u->th, NULL, fill_thread, u)) {
		upstream_stop(u);
		return err_set(err, ERR_FAIL, "upstream: cannot start thread");
	}
	u->started = 1;
	u->iface.ctx = u;
	u->iface.serves = if_serves;
	u->iface.tag_fresh = if_tag_fresh;
	u->iface.manifest = if_manifest;
	u->iface.blob = if_blob;
	u->iface.list = if_list;
	u->iface.status = if_status;
	u->iface.wait = if_wait;
	u->iface.read = if_read;
	u->iface.body = if_body;
	u->iface.release = if_release;
	u->iface.stats = if_stats;
	u->iface.shutdown = if_shutdown;
	*out = u;
	return 0;
}

const struct serve_upstream *upstream_iface(struct upstream *u)
{
	return &u->iface;
}

void upstream_stop(struct upstream *u)
{
	if (!u)
		return;
	if_shutdown(u);
	if (u->started) {
		pthread_mutex_lock(&u->mu);
		u->quit = 1;
		pthread_cond_signal(&u->cv);
		pthread_mutex_unlock(&u->mu);
		reg_engine_wakeup(u->pool.engine);
		pthread_join(u->th, NULL);
	}
	/* what is left: kept lists (the table's reference); a caller that
	 * still holds a fill must have released it before */
	while (u->table) {
		struct serve_fill *f = u->table;

		u->table = f->next;
		fill_free(f);
	}
	while (u->kept_head) {
		struct serve_fill *f = u->kept_head;

		u->kept_head = f->next;
		fill_free(f);
	}
	for (size_t i = 0; i < TAG_BUCKETS; i++)
		while (u->buckets[i]) {
			struct tagent *t = u->buckets[i];

			u->buckets[i] = t->hnext;
			free(t->key);
			free(t);
		}
	reg_pool_release(&u->pool);
	syncconf_hosts_release(&u->hosts);
	pthread_mutex_destroy(&u->mu);
	pthread_mutex_destroy(&u->tmu);
	pthread_cond_destroy(&u->cv);
	free(u);
}
