/* Every byte of a push goes through the store's writer: hashed, verified,
 * renamed, so an upload that is cut off or does not match its digest
 * leaves nothing visible. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/random.h>
#include <sys/socket.h>

#include "mirror/serve/upload.h"
#include "mirror/serve/api_match.h"
#include "mirror/serve/api_deploy.h"
#include "mirror/serve/manifest_check.h"
#include "mirror/serve/respond.h"
#include "oci/manifest.h"
#include "oci/vec.h"

static void new_id(char *dst)
{
	unsigned char raw[16];

	if (getrandom(raw, sizeof(raw), 0) != (ssize_t)sizeof(raw))
		for (size_t i = 0; i < sizeof(raw); i++)
			raw[i] = (unsigned char)random();
	for (size_t i = 0; i < sizeof(raw); i++)
		snprintf(dst + 2 * i, 3, "%02x", raw[i]);
}

static void session_free(struct upload *u)
{
	store_writer_free(u->w);
	free(u);
}

size_t upload_sessions_count(struct server *srv)
{
	size_t n;

	pthread_mutex_lock(&srv->mu);
	n = srv->n_ups;
	pthread_mutex_unlock(&srv->mu);
	return n;
}

void upload_sessions_release(struct server *srv)
{
	for (size_t i = 0; i < srv->n_ups; i++)
		session_free(srv->ups[i]);
	free(srv->ups);
	srv->ups = NULL;
	srv->n_ups = 0;
	srv->cap_ups = 0;
}

/* Sessions live in the store too: several replicas serve one bucket. */
static int shared(const struct server *srv)
{
	return store_is_shared(srv->s);
}

#define SWEEP_MAX 64 /* expired sessions freed per sweep */

/* Take idle sessions older than the TTL out of the list into gone (at
 * most SWEEP_MAX; the rest at the next sweep). Called with mu held. */
static size_t sweep(struct server *srv, struct upload **gone)
{
	time_t now = time(NULL);
	size_t j = 0, n = 0;

	for (size_t i = 0; i < srv->n_ups; i++) {
		struct upload *u = srv->ups[i];
		if (!u->busy && n < SWEEP_MAX &&
		    now - u->touched > (time_t)srv->o.upload_ttl)
			gone[n++] = u;
		else
			srv->ups[j++] = u;
	}
	srv->n_ups = j;
	return n;
}

/* Free what sweep took, without mu. A shared session is forgotten in the
 * store too, unless it moved on there since this replica last had it
 * (another replica is continuing it). */
static void sweep_free(struct server *srv, struct upload **gone, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		uint64_t off;

		if (shared(srv) &&
		    !store_upload_offset(&off, srv->s, gone[i]->id,
					 gone[i]->repo, NULL) &&
		    off == gone[i]->committed)
			store_upload_forget(srv->s, gone[i]->id);
		session_free(gone[i]);
	}
}

/* A new session, without a temp file until data comes (upload_begin).
 * ERR_TOO_LARGE at the total or the per-user cap. */
static struct upload *session_new(struct server *srv, const char *repo,
				  const char *user, struct err *err)
{
	struct upload *u = calloc(1, sizeof(*u)), *gone[SWEEP_MAX];
	size_t mine = 0, n_gone;

	if (!u) {
		err_set(err, ERR_FAIL, "out of memory");
		return NULL;
	}
	new_id(u->id);
	snprintf(u->repo, sizeof(u->repo), "%s", repo);
	snprintf(u->user, sizeof(u->user), "%s", user);
	u->touched = time(NULL);
	pthread_mutex_lock(&srv->mu);
	n_gone = sweep(srv, gone);
	for (size_t i = 0; i < srv->n_ups; i++)
		mine += !strcmp(srv->ups[i]->user, user);
	if (srv->n_ups >= srv->lim.uploads ||
	    mine >= srv->lim.uploads_per_user) {
		int all = srv->n_ups >= srv->lim.uploads;
		pthread_mutex_unlock(&srv->mu);
		sweep_free(srv, gone, n_gone);
		free(u);
		__atomic_add_fetch(&srv->sessions_refused, 1, __ATOMIC_RELAXED);
		err_set(err, ERR_TOO_LARGE,
			"%s upload sessions open%s, the most allowed",
			all ? "all" : "as many",
			all ? "" : " by this user as is");
		return NULL;
	}
	if (OCI_VEC_RESERVE(srv->ups, srv->n_ups, srv->cap_ups, 1, 0)) {
		pthread_mutex_unlock(&srv->mu);
		sweep_free(srv, gone, n_gone);
		session_free(u);
		err_set(err, ERR_FAIL, "out of memory");
		return NULL;
	}
	/* a shared session is held until it exists in the store */
	u->busy = shared(srv);
	srv->ups[srv->n_ups++] = u;
	pthread_mutex_unlock(&srv->mu);
	sweep_free(srv, gone, n_gone);
	return u;
}

static struct upload *session_find(struct server *srv, const char *id,
				   const char *repo)
{
	for (size_t i = 0; i < srv->n_ups; i++)
		if (!strcmp(srv->ups[i]->id, id) &&
		    !strcmp(srv->ups[i]->repo, repo))
			return srv->ups[i];
	return NULL;
}

static long long mono_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* With mu held (so a busy session's holder is alive), when another
 * request wants its session: cut the holder's connection when its client
 * has stalled, judged from the socket: no body bytes for a read timeout
 * and none waiting to be read (bytes waiting mean the holder's worker is
 * behind, not its client). Never waits: the other request is answered
 * busy at once and retries. */
static void holder_cut_if_stalled(struct server *srv, struct upload *u)
{
	struct conn *h = u->holder;
	long long quiet = (long long)srv->o.read_timeout * 1000000;
	int pending = 0;

	/* only a body: a holder committing (PUT) is not stalled, busy */
	if (!h || !quiet || __atomic_load_n(&h->cut, __ATOMIC_RELAXED) ||
	    __atomic_load_n(&h->phase, __ATOMIC_ACQUIRE) != CONN_BODY ||
	    mono_us() - __atomic_load_n(&h->last_us, __ATOMIC_RELAXED) <
		quiet ||
	    ioctl(h->fd, FIONREAD, &pending) || pending > 0)
		return;
	__atomic_store_n(&h->cut, 1, __ATOMIC_RELAXED);
	shutdown(h->fd, SHUT_RDWR);
	__atomic_add_fetch(&srv->conns_cut, 1, __ATOMIC_RELAXED);
}

/* Take a session for this request (busy), or NULL: unknown, other repo,
 * or in use by another request (*busy set; a stalled holder is cut, so
 * that a retry finds the session free). Never blocks. */
static struct upload *session_take(struct server *srv, struct conn *holder,
				   const char *id, const char *repo, int *busy)
{
	struct upload *u = NULL;

	*busy = 0;
	pthread_mutex_lock(&srv->mu);
	u = session_find(srv, id, repo);
	if (u && u->busy) {
		holder_cut_if_stalled(srv, u);
		*busy = 1;
		u = NULL;
	} else if (u) {
		u->busy = 1;
		u->holder = holder;
		u->touched = time(NULL);
	}
	pthread_mutex_unlock(&srv->mu);
	return u;
}

/* A session this replica does not know, taken up from the shared store
 * (begun or continued by another replica) with all its bytes so far,
 * and held for this request as session_take holds. NULL with err:
 * ERR_NOT_FOUND when the store has none for repo, ERR_TOO_LARGE at the
 * cap, else a failure; or with *busy when a request of this replica took
 * it up meanwhile. */
static struct upload *session_join(struct server *srv, struct conn *holder,
				   const char *id, const char *repo,
				   const char *user, int *busy, struct err *err)
{
	struct upload *u;

	*busy = 0;
	if (strlen(id) >= sizeof(u->id)) {
		err_set(err, ERR_NOT_FOUND, "upload %.80s unknown", id);
		return NULL;
	}
	u = calloc(1, sizeof(*u));
	if (!u) {
		err_set(err, ERR_FAIL, "out of memory");
		return NULL;
	}
	snprintf(u->id, sizeof(u->id), "%s", id);
	snprintf(u->repo, sizeof(u->repo), "%s", repo);
	snprintf(u->user, sizeof(u->user), "%s", user);
	if (store_upload_join(&u->w, srv->s, id, repo, err)) {
		free(u);
		return NULL;
	}
	u->committed = store_writer_offset(u->w);
	u->busy = 1;
	u->holder = holder;
	u->touched = time(NULL);
	pthread_mutex_lock(&srv->mu);
	if (session_find(srv, id, repo)) {
		pthread_mutex_unlock(&srv->mu);
		session_free(u);
		*busy = 1;
		return NULL;
	}
	if (srv->n_ups >= srv->lim.uploads ||
	    OCI_VEC_RESERVE(srv->ups, srv->n_ups, srv->cap_ups, 1, 0)) {
		int full = srv->n_ups >= srv->lim.uploads;

		pthread_mutex_unlock(&srv->mu);
		session_free(u);
		if (full)
			__atomic_add_fetch(&srv->sessions_refused, 1,
					   __ATOMIC_RELAXED);
		err_set(err, full ? ERR_TOO_LARGE : ERR_FAIL,
			full ? "all upload sessions open, the most allowed"
			     : "out of memory");
		return NULL;
	}
	srv->ups[srv->n_ups++] = u;
	pthread_mutex_unlock(&srv->mu);
	__atomic_add_fetch(&srv->uploads_joined, 1, __ATOMIC_RELAXED);
	return u;
}

/* A session held by another request: 503 and Retry-After (it is released
 * when that request ends, or its connection drops). */
static enum MHD_Result session_busy(struct req *r, struct MHD_Connection *c)
{
	return respond_unavailable(
	    r, c, "upload %s is in use by another request; retry",
	    r->rt.upload_id);
}

static void session_drop(struct server *srv, struct upload *u);

/* Release a session taken by session_take: its temp file is closed
 * (parked) until data comes again, and what was written is its offset. */
static void session_put(struct server *srv, struct upload *u)
{
	uint64_t off = u->w ? store_writer_offset(u->w) : 0;

	/* its hash lost (the writer is failed for good): gone */
	if (u->w && store_writer_park(u->w, NULL)) {
		session_drop(srv, u);
		return;
	}
	pthread_mutex_lock(&srv->mu);
	u->committed = off;
	u->busy = 0;
	u->holder = NULL;
	u->touched = time(NULL);
	pthread_mutex_unlock(&srv->mu);
}

static void session_drop(struct server *srv, struct upload *u)
{
	pthread_mutex_lock(&srv->mu);
	for (size_t i = 0; i < srv->n_ups; i++)
		if (srv->ups[i] == u) {
			srv->ups[i] = srv->ups[--srv->n_ups];
			break;
		}
	pthread_mutex_unlock(&srv->mu);
	session_free(u);
}

static enum MHD_Result session_accepted_at(struct req *r,
					   struct MHD_Connection *c,
					   const char *id, uint64_t off,
					   unsigned status)
{
	struct MHD_Response *resp = respond_empty();
	char loc[OCI_REPO_MAX + 400], range[64];

	if (!resp)
		return MHD_NO;
	snprintf(loc, sizeof(loc), "/v2/%s/blobs/uploads/%s%s", r->rt.name, id,
		 r->rt.ns_query);
	snprintf(range, sizeof(range), "0-%llu",
		 (unsigned long long)(off ? off - 1 : 0));
	MHD_add_response_header(resp, "Location", loc);
	MHD_add_response_header(resp, "Range", range);
	MHD_add_response_header(resp, "Docker-Upload-UUID", id);
	MHD_add_response_header(resp, "Content-Length", "0");
	return respond_send(r, c, status, resp);
}

/* Headers for a session this request holds. */
static enum MHD_Result session_accepted(struct req *r, struct MHD_Connection *c,
					struct upload *u, unsigned status)
{
	return session_accepted_at(
	    r, c, u->id, u->w ? store_writer_offset(u->w) : 0, status);
}

static enum MHD_Result blob_created(struct req *r, struct MHD_Connection *c,
				    const struct oci_digest *d)
{
	struct MHD_Response *resp = respond_empty();
	char loc[OCI_REPO_MAX + 400];

	snprintf(loc, sizeof(loc), "/v2/%s/blobs/%s%s", r->rt.name, d->str,
		 r->rt.ns_query);
	MHD_add_response_header(resp, "Location", loc);
	MHD_add_response_header(resp, "Docker-Content-Digest", d->str);
	return respond_send(r, c, 201, resp);
}

static int body_reserve(struct req *r, uint64_t n);

/* A shared session that could not be taken up from the store. */
static enum MHD_Result join_failed(struct req *r, struct MHD_Connection *c)
{
	if (r->err.code == ERR_NOT_FOUND)
		return respond_error(r, c, 404, "BLOB_UPLOAD_UNKNOWN", "%s",
				     r->err.msg);
	return respond_unavailable(r, c, "upload %s: %s", r->rt.upload_id,
				   r->err.msg);
}

/* A temp file that could not be opened: no descriptor left, disk full. */
static enum MHD_Result open_refused(struct req *r, struct MHD_Connection *c)
{
	__atomic_add_fetch(&r->srv->opens_refused, 1, __ATOMIC_RELAXED);
	return respond_unavailable(r, c, "cannot open an upload file: %s",
				   r->err.msg);
}

enum MHD_Result upload_begin(struct req *r, struct MHD_Connection *c,
			     const char *method)
{
	struct server *srv = r->srv;
	int busy, rc, joining = 0;

	if (!strcmp(method, "POST") && r->rt.kind == RT_UPLOAD_NEW) {
		const char *mount = r->q.mount, *dg = r->q.digest;
		struct oci_digest d;

		if (mount) {
			const char *from = r->q.from;
			struct err e;

			/* from a repository holding the blob (or this one),
			 * or, without from, any blob in the store; otherwise
			 * a new session at the end */
			if (!oci_digest_parse(&d, mount, NULL) &&
			    (store_blob_linked(srv->s, r->rt.repo, &d) ||
			     (from ? store_blob_linked(srv->s, from, &d)
				   : 1)) &&
			    store_blob_exists(NULL, srv->s, &d) &&
			    !store_blob_link(srv->s, r->rt.repo, &d, &e))
				return blob_created(r, c, &d);
			return MHD_YES;
		}
		if (dg) {
			const char *cl = MHD_lookup_connection_value(
			    c, MHD_HEADER_KIND, "Content-Length");
			int64_t size = cl ? strtoll(cl, NULL, 10) : -1;

			if (oci_digest_parse(&d, dg, NULL))
				return respond_error(
				    r, c, 400, "DIGEST_INVALID",
				    "invalid digest \"%.200s\"", dg);
			if (store_writer_open(&r->w, srv->s, &d, size, &r->err))
				return open_refused(r, c);
		}
		return MHD_YES;
	}
	if ((!strcmp(method, "PATCH") || !strcmp(method, "PUT")) &&
	    r->rt.kind == RT_UPLOAD) {
		const char *cr = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
							     "Content-Range");
		r->up = session_take(srv, r->conn, r->rt.upload_id, r->rt.repo,
				     &busy);
		if (!r->up && !busy && shared(srv)) {
			r->up =
			    session_join(srv, r->conn, r->rt.upload_id,
					 r->rt.repo, r->user, &busy, &r->err);
			if (!r->up && !busy)
				return join_failed(r, c);
		}
		if (busy)
			return session_busy(r, c);
		if (!r->up)
			return respond_error(r, c, 404, "BLOB_UPLOAD_UNKNOWN",
					     "upload %s unknown",
					     r->rt.upload_id);
		/* the temp file is open only while data flows */
		rc = r->up->w
			 ? store_writer_resume(r->up->w, &r->err)
			 : store_writer_open_upload(&r->up->w, srv->s, &r->err);
		/* another replica may have added to it: catch up */
		if (!rc && shared(srv)) {
			rc = store_upload_join(&r->up->w, srv->s,
					       r->rt.upload_id, r->rt.repo,
					       &r->err);
			joining = rc != 0;
		}
		if (rc == ERR_NOT_FOUND) { /* removed meanwhile (gc) */
			session_drop(srv, r->up);
			r->up = NULL;
			return respond_error(r, c, 404, "BLOB_UPLOAD_UNKNOWN",
					     "upload %s: %s", r->rt.upload_id,
					     r->err.msg);
		}
		/* a failed writer will not mend: the upload is lost */
		if (rc && r->up->w && store_writer_park(r->up->w, NULL)) {
			session_drop(srv, r->up);
			r->up = NULL;
			return respond_error(r, c, 404, "BLOB_UPLOAD_UNKNOWN",
					     "upload %s lost: %s",
					     r->rt.upload_id, r->err.msg);
		}
		if (rc) {
			session_put(srv, r->up);
			r->up = NULL;
			return joining ? join_failed(r, c) : open_refused(r, c);
		}
		if (cr) {
			uint64_t a, b;
			uint64_t off = store_writer_offset(r->up->w);
			struct err e;

			if (route_content_range_parse(&a, &b, cr, &e) ||
			    a != off) {
				struct MHD_Response *resp = respond_empty();
				char range[64];
				snprintf(
				    range, sizeof(range), "0-%llu",
				    (unsigned long long)(off ? off - 1 : 0));
				MHD_add_response_header(resp, "Range", range);
				MHD_add_response_header(resp, "Location",
							r->url);
				session_put(srv, r->up);
				r->up = NULL;
				return respond_send(r, c, 416, resp);
			}
			r->has_range = 1;
			r->range_start = a;
			r->range_len = b - a + 1;
		}
		return MHD_YES;
	}
	if (!strcmp(method, "PUT") && r->rt.kind == RT_MANIFEST) {
		const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
							     "Content-Length");
		long long size = cl ? strtoll(cl, NULL, 10) : 0;

		/* the whole body is reserved now when its size is known, so
		 * a refusal comes before it is read (and before 100
		 * Continue) */
		if (size > OCI_MANIFEST_MAX) {
			r->body_too_large = 1;
			return respond_error(r, c, 413, "SIZE_INVALID",
					     "manifest larger than %u bytes",
					     OCI_MANIFEST_MAX);
		}
		if (size > 0 && body_reserve(r, (uint64_t)size))
			return respond_unavailable(
			    r, c, "too many request bodies in memory; retry");
	}
	return MHD_YES;
}

/* Take n more bytes of the server's body budget: 1 when over it. */
static int body_reserve(struct req *r, uint64_t n)
{
	struct server *srv = r->srv;
	uint64_t now =
	    __atomic_add_fetch(&srv->body_bytes, n, __ATOMIC_RELAXED);

	if (now > srv->o.body_memory) {
		__atomic_sub_fetch(&srv->body_bytes, n, __ATOMIC_RELAXED);
		__atomic_add_fetch(&srv->bodies_refused, 1, __ATOMIC_RELAXED);
		r->body_busy = 1;
		return 1;
	}
	r->body_reserved += n;
	return 0;
}

void upload_api_begin(struct req *r, struct MHD_Connection *c)
{
	const char *cl =
	    MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Length");
	unsigned long long size = cl ? strtoull(cl, NULL, 10) : 0;
	unsigned long long cap =
	    r->rt.kind == RT_DEPLOY ? API_DEPLOY_BODY_MAX : API_MATCH_BODY_MAX;

	if (size > cap)
		r->body_too_large = 1;
	else if (size > 0)
		body_reserve(r, size);
}

void upload_body(struct req *r, const char *data, size_t n)
{
	struct store_writer *w = r->w ? r->w : r->up ? r->up->w : NULL;

	if (r->body_failed || r->body_too_large || r->body_busy)
		return;
	if (w) {
		if (store_writer_write(w, data, n, &r->err))
			r->body_failed = 1;
		return;
	}
	/* only a manifest PUT's body (and a deploy or match POST's,
	 * api_deploy.h, api_match.h) is held in memory (and charged) */
	if ((r->rt.kind == RT_MANIFEST && !strcmp(r->method, "PUT")) ||
	    ((r->rt.kind == RT_DEPLOY || r->rt.kind == RT_MATCH) &&
	     !strcmp(r->method, "POST"))) {
		uint64_t want = r->body.len + n;
		if (want > (r->rt.kind == RT_DEPLOY  ? API_DEPLOY_BODY_MAX
			    : r->rt.kind == RT_MATCH ? API_MATCH_BODY_MAX
						     : OCI_MANIFEST_MAX)) {
			r->body_too_large = 1;
			return;
		}
		if (want > r->body_reserved &&
		    body_reserve(r, want - r->body_reserved))
			return;
		if (buf_append(&r->body, data, n))
			r->body_too_large = 1;
		return;
	}
	r->body_failed = 1;
	err_set(&r->err, ERR_INVALID, "unexpected request body");
}

void upload_abort(struct req *r)
{
	if (r->body_reserved) {
		__atomic_sub_fetch(&r->srv->body_bytes, r->body_reserved,
				   __ATOMIC_RELAXED);
		r->body_reserved = 0;
	}
	if (r->w) {
		store_writer_free(r->w);
		r->w = NULL;
	}
	if (r->up) {
		session_put(r->srv, r->up);
		r->up = NULL;
	}
}

static enum MHD_Result put_manifest(struct req *r, struct MHD_Connection *c)
{
	struct server *srv = r->srv;
	const char *ctype =
	    MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Type");
	struct oci_manifest m;
	struct store_ref sr;
	struct err e;
	struct MHD_Response *resp;
	char loc[OCI_REPO_MAX + 400];
	enum MHD_Result ret;

	if (r->body_too_large)
		return respond_error(r, c, 413, "SIZE_INVALID",
				     "manifest larger than %u bytes",
				     OCI_MANIFEST_MAX);
	if (oci_manifest_parse(&m, r->body.data, r->body.len, ctype, &e))
		return respond_error(r, c, 400, "MANIFEST_INVALID", "%s",
				     e.msg);
	if (r->rt.is_digest) {
		struct oci_digest got;
		oci_digest_of(&got, r->rt.digest.alg, r->body.data,
			      r->body.len);
		if (!oci_digest_equal(&got, &r->rt.digest)) {
			oci_manifest_release(&m);
			return respond_error(r, c, 400, "DIGEST_INVALID",
					     "manifest digest is %s, not %s",
					     got.str, r->rt.digest.str);
		}
		m.digest = got;
	}
	if (serve_manifest_check(srv->s, r->rt.repo, &m, &e)) {
		ret = respond_error(r, c, 400,
				    e.code == ERR_NOT_FOUND
					? "MANIFEST_BLOB_UNKNOWN"
					: "MANIFEST_INVALID",
				    "%s", e.msg);
		oci_manifest_release(&m);
		return ret;
	}
	sr.digest = m.digest;
	snprintf(sr.media_type, sizeof(sr.media_type), "%s", m.media_type);
	sr.size = (int64_t)m.raw_len;
	if (store_blob_put(srv->s, &m.digest, m.raw, m.raw_len, &e) ||
	    store_manifest_link(srv->s, r->rt.repo, &sr, &e) ||
	    (!r->rt.is_digest &&
	     store_tag_set(srv->s, r->rt.repo, r->rt.ref, &sr, &e))) {
		oci_manifest_release(&m);
		return respond_error(r, c, 500, "UNKNOWN", "%s", e.msg);
	}
	if (m.has_subject) {
		char *desc = oci_manifest_referrer_json(&m);
		int rc = desc ? store_referrer_add(srv->s, r->rt.repo,
						   &m.subject.digest, &m.digest,
						   desc, &e)
			      : ERR_FAIL;
		free(desc);
		if (rc) {
			oci_manifest_release(&m);
			return respond_error(r, c, 500, "UNKNOWN",
					     "referrers: %s", e.msg);
		}
	}
	resp = respond_empty();
	snprintf(loc, sizeof(loc), "/v2/%s/manifests/%s%s", r->rt.name,
		 m.digest.str, r->rt.ns_query);
	MHD_add_response_header(resp, "Location", loc);
	MHD_add_response_header(resp, "Docker-Content-Digest", m.digest.str);
	if (m.has_subject)
		MHD_add_response_header(resp, "OCI-Subject",
					m.subject.digest.str);
	oci_manifest_release(&m);
	return respond_send(r, c, 201, resp);
}

static enum MHD_Result finish_upload(struct req *r, struct MHD_Connection *c,
				     struct store_writer *w, const char *dg)
{
	struct oci_digest d;
	int rc;

	if (!dg || oci_digest_parse(&d, dg, NULL))
		return respond_error(r, c, 400, "DIGEST_INVALID",
				     "invalid or missing digest \"%.200s\"",
				     dg ? dg : "");
	/* a writer committed by an earlier PUT whose link failed: only the
	 * link is retried */
	rc = store_writer_commit_as(w, &d, &r->err);
	if (rc == ERR_DIGEST)
		return respond_error(r, c, 400, "DIGEST_INVALID", "%s",
				     r->err.msg);
	if (!rc)
		rc = store_blob_link(r->srv->s, r->rt.repo, &d, &r->err);
	if (rc)
		return respond_error(r, c, 500, "UNKNOWN", "%s", r->err.msg);
	return blob_created(r, c, &d);
}

static enum MHD_Result do_delete(struct req *r, struct MHD_Connection *c)
{
	struct server *srv = r->srv;
	struct err e;
	int rc;

	switch (r->rt.kind) {
	case RT_MANIFEST:
		rc = r->rt.is_digest
			 ? store_manifest_unlink(srv->s, r->rt.repo,
						 &r->rt.digest, &e)
			 : store_tag_delete(srv->s, r->rt.repo, r->rt.ref, &e);
		if (rc == ERR_NOT_FOUND)
			return respond_error(r, c, 404, "MANIFEST_UNKNOWN",
					     "manifest %s unknown", r->rt.ref);
		break;
	case RT_BLOB:
		if (!r->rt.is_digest)
			return respond_error(r, c, 400, "DIGEST_INVALID",
					     "invalid digest");
		/* the repository forgets the blob; the file stays for
		 * other repositories holding it, until gc */
		rc = store_blob_unlink(srv->s, r->rt.repo, &r->rt.digest, &e);
		if (rc == ERR_NOT_FOUND)
			return respond_error(r, c, 404, "BLOB_UNKNOWN",
					     "blob %s unknown",
					     r->rt.digest.str);
		break;
	default:
		return respond_error(r, c, 405, "UNSUPPORTED",
				     "DELETE not allowed here");
	}
	if (rc)
		return respond_error(r, c, 500, "UNKNOWN", "%s", e.msg);
	return respond_send(r, c, 202, respond_empty());
}

/* A body that could not be taken (writer failure, digest, unexpected). */
static enum MHD_Result body_refused(struct req *r, struct MHD_Connection *c)
{
	int code = r->err.code;

	upload_abort(r);
	if (code == ERR_DIGEST)
		return respond_error(r, c, 400, "DIGEST_INVALID", "%s",
				     r->err.msg);
	return respond_error(r, c, code == ERR_INVALID ? 400 : 500,
			     code == ERR_INVALID ? "UNSUPPORTED" : "UNKNOWN",
			     "%s", r->err.msg);
}

/* GET/HEAD (its status) or DELETE (cancel) of an upload session. */
static enum MHD_Result session_request(struct req *r, struct MHD_Connection *c,
				       const char *method)
{
	struct server *srv = r->srv;
	int busy;
	struct upload *u;
	uint64_t off;

	if (!strcmp(method, "DELETE")) {
		u = session_take(srv, r->conn, r->rt.upload_id, r->rt.repo,
				 &busy);
		if (busy)
			return session_busy(r, c);
		/* a shared session: cancelled in the store, whichever
		 * replica began it */
		if (shared(srv)) {
			int rc = store_upload_offset(
			    &off, srv->s, r->rt.upload_id, r->rt.repo, &r->err);

			if (rc && rc != ERR_NOT_FOUND) {
				if (u)
					session_put(srv, u);
				return join_failed(r, c);
			}
			if (!rc)
				store_upload_forget(srv->s, r->rt.upload_id);
			if (u)
				session_drop(srv, u);
			if (rc)
				return join_failed(r, c);
			return respond_send(r, c, 204, respond_empty());
		}
		if (!u)
			return respond_error(r, c, 404, "BLOB_UPLOAD_UNKNOWN",
					     "upload %s unknown",
					     r->rt.upload_id);
		session_drop(srv, u);
		return respond_send(r, c, 204, respond_empty());
	}
	/* the status: what was written when the session was last released;
	 * while a request holds it the offset is moving, so busy (a stale
	 * offset would make a client resume at the wrong place) */
	pthread_mutex_lock(&srv->mu);
	u = session_find(srv, r->rt.upload_id, r->rt.repo);
	busy = u && u->busy;
	if (busy)
		holder_cut_if_stalled(srv, u);
	off = u ? u->committed : 0;
	pthread_mutex_unlock(&srv->mu);
	if (busy)
		return session_busy(r, c);
	/* a shared session: the store's offset, whichever replica wrote */
	if (shared(srv)) {
		if (store_upload_offset(&off, srv->s, r->rt.upload_id,
					r->rt.repo, &r->err))
			return join_failed(r, c);
		return session_accepted_at(r, c, r->rt.upload_id, off, 204);
	}
	if (!u)
		return respond_error(r, c, 404, "BLOB_UPLOAD_UNKNOWN",
				     "upload %s unknown", r->rt.upload_id);
	return session_accepted_at(r, c, r->rt.upload_id, off, 204);
}

/* POST /blobs/uploads/: a monolithic upload ends, or a session opens. */
static enum MHD_Result upload_post(struct req *r, struct MHD_Connection *c)
{
	enum MHD_Result ret;
	struct upload *u;

	if (r->w) {
		ret = finish_upload(r, c, r->w, r->q.digest);
		store_writer_free(r->w);
		r->w = NULL;
		return ret;
	}
	u = session_new(r->srv, r->rt.repo, r->user, &r->err);
	if (!u && r->err.code == ERR_TOO_LARGE)
		return respond_unavailable(r, c, "%s; retry later", r->err.msg);
	if (!u)
		return respond_error(r, c, 500, "UNKNOWN",
				     "cannot open upload: %s", r->err.msg);
	if (!shared(r->srv))
		return session_accepted(r, c, u, 202);
	/* made in the store at once, so that any replica may continue it
	 * (held by this request until then: session_new) */
	if (store_writer_open_upload(&u->w, r->srv->s, &r->err) ||
	    store_writer_share(u->w, u->id, u->repo, &r->err)) {
		session_drop(r->srv, u);
		return respond_unavailable(r, c, "cannot open upload: %s",
					   r->err.msg);
	}
	ret = session_accepted(r, c, u, 202);
	session_put(r->srv, u);
	return ret;
}

/* PATCH (a chunk) or PUT (the last chunk and the digest) on the session
 * upload_begin took for this request. */
static enum MHD_Result session_write(struct req *r, struct MHD_Connection *c,
				     const char *method)
{
	struct upload *u = r->up;
	enum MHD_Result ret;

	r->up = NULL;
	if (r->has_range && r->bytes_in != r->range_len) {
		ret = respond_error(
		    r, c, 416, "BLOB_UPLOAD_INVALID",
		    "Content-Range names %llu bytes, body has %llu",
		    (unsigned long long)r->range_len,
		    (unsigned long long)r->bytes_in);
		session_drop(r->srv, u);
		return ret;
	}
	if (!strcmp(method, "PATCH")) {
		/* in the store before the answer, for the other replicas;
		 * its bytes are not accepted when that fails (the next
		 * request on the session catches up from the store) */
		int sr = u->w && shared(r->srv)
			     ? store_writer_share(u->w, u->id, u->repo, &r->err)
			     : 0;

		if (sr) {
			ret = sr == ERR_CONFLICT
				  ? respond_error(r, c, 416,
						  "BLOB_UPLOAD_INVALID",
						  "upload %s: %s",
						  r->rt.upload_id, r->err.msg)
				  : respond_unavailable(r, c, "upload %s: %s",
							r->rt.upload_id,
							r->err.msg);
			session_put(r->srv, u);
			return ret;
		}
		/* parked before the answer: a hash that could not catch up
		 * loses the upload, and the client is told */
		if (u->w && store_writer_park(u->w, &r->err)) {
			session_drop(r->srv, u);
			return respond_error(r, c, 500, "UNKNOWN",
					     "upload %s lost: %s",
					     r->rt.upload_id, r->err.msg);
		}
		ret = session_accepted(r, c, u, 202);
		session_put(r->srv, u);
		return ret;
	}
	ret = finish_upload(r, c, u->w, r->q.digest);
	if (r->status == 201) {
		if (shared(r->srv))
			store_upload_forget(r->srv->s, u->id);
		session_drop(r->srv, u);
	} else {
		session_put(r->srv, u);
	}
	return ret;
}

enum MHD_Result upload_end(struct req *r, struct MHD_Connection *c,
			   const char *method)
{
	int is_delete = !strcmp(method, "DELETE");

	if (r->body_busy)
		return respond_unavailable(
		    r, c, "too many request bodies in memory; retry");
	if (r->body_failed)
		return body_refused(r, c);
	if (r->rt.kind == RT_UPLOAD &&
	    (is_delete || !strcmp(method, "GET") || !strcmp(method, "HEAD")))
		return session_request(r, c, method);
	if (is_delete)
		return do_delete(r, c);
	if (!strcmp(method, "POST") && r->rt.kind == RT_UPLOAD_NEW)
		return upload_post(r, c);
	/* taken by upload_begin for a PATCH or PUT only */
	if (r->up && (!strcmp(method, "PATCH") || !strcmp(method, "PUT")))
		return session_write(r, c, method);
	if (!strcmp(method, "PUT") && r->rt.kind == RT_MANIFEST)
		return put_manifest(r, c);
	return respond_error(r, c, 405, "UNSUPPORTED", "%s not allowed here",
			     method);
}
