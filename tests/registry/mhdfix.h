/* Test fixture: a scripted HTTP server on an ephemeral loopback port, on
 * libmicrohttpd with a thread per connection, so requests to it really
 * overlap. It counts requests (per method and per "METHOD /path"), logs
 * each one (arrival and answer times), and measures how many were in
 * flight at once: a request is in flight from its arrival until its
 * answer is queued, and every answer is held for hold_ms first so that
 * overlap can be seen.
 *
 * A test gives a script: called for every request, under the fixture's
 * lock (so test state needs no locking of its own), it fills a struct
 * mhd_ans (status, body, headers; a body may be cut off after drop_at
 * bytes with the connection closed, or sent slowly). Helpers answer the
 * common cases: a Bearer-protected registry with its token endpoint
 * (tokens "tok-REPO", counted per scope) and a Range-aware blob.
 * Header-only, like tests/mirror/storefix.h. */
#ifndef TESTS_REGISTRY_MHDFIX_H
#define TESTS_REGISTRY_MHDFIX_H

#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "oci/digest.h"

#define MHD_FIX_UNUSED __attribute__((unused))
#define MHD_MAX_KEYS 256
#define MHD_MAX_LOG 2048
#define MHD_MAX_HDRS 8
/* In the server's threads: Criterion's asserts belong to the test's. */
#define MHD_CHECK(cond, what)                                                  \
	do {                                                                   \
		if (!(cond)) {                                                 \
			fprintf(stderr, "mhdfix: %s\n", what);                 \
			abort();                                               \
		}                                                              \
	} while (0)

struct mhd_fix;

/* One request as the script sees it. */
struct mhd_req {
	struct MHD_Connection *conn;
	const char *method;
	const char *path; /* without the query */
	int seq;	  /* 0-based arrival order */
};

/* What the script answers. Strings are copied. */
struct mhd_ans {
	int status;			/* 0: 404 */
	const char *body;		/* NULL: empty */
	size_t len;			/* of body; 0 with a body: strlen */
	char hdr[MHD_MAX_HDRS][2][512]; /* name, value */
	int n_hdr;
	long long drop_at; /* >= 0: close the connection after this many
			      body bytes (Content-Length stays the full
			      length); -1: the whole body */
	size_t chunk;	   /* > 0: send the body this many bytes at a time */
	int chunk_ms;	   /* and sleep this long before each */
	int hold_ms;	   /* > 0: this answer's hold instead of the
			      fixture's */
	/* not NULL: hold the answer until *hold_until reaches hold_n (at
	 * most 10 s), outside the fixture's lock, so that other requests
	 * are answered meanwhile */
	atomic_int *hold_until;
	int hold_n;
};

typedef void (*mhd_script)(struct mhd_fix *f, const struct mhd_req *rq,
			   struct mhd_ans *a);

struct mhd_log {
	char key[300];			   /* "METHOD /path" */
	long long arrived_ms, answered_ms; /* since the fixture started */
	int status;
};

struct mhd_fix {
	struct MHD_Daemon *d;
	int port;
	char host[64]; /* "127.0.0.1:PORT" */
	char base[80]; /* "http://127.0.0.1:PORT" */
	mhd_script script;
	void *ctx; /* the script's */
	int hold_ms;
	pthread_mutex_t mu;
	atomic_int in_flight, max_in_flight;
	/* optional, set after mhd_start: the same counts over several
	 * servers (a group's) */
	atomic_int *group_in_flight, *group_max;
	/* > 0: hold each answer until this many requests are in flight
	 * (of the group when there is one), at most await_ms; overlap is
	 * then seen however the machine schedules the server's threads */
	int await_n, await_ms;
	/* optional: sees each request's upload body, piece by piece, under
	 * mu (one request at a time per connection, so conn names it) */
	void (*on_upload)(struct mhd_fix *f, struct MHD_Connection *conn,
			  const char *data, size_t len);
	long long t0_ms;
	/* under mu */
	struct {
		char key[300];
		int n;
	} counts[MHD_MAX_KEYS];
	int n_counts;
	struct mhd_log log[MHD_MAX_LOG];
	int n_log, seq;
};

static MHD_FIX_UNUSED long long mhd_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static MHD_FIX_UNUSED void mhd_sleep_ms(int ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};

	while (nanosleep(&ts, &ts))
		;
}

/* Under f->mu. */
static MHD_FIX_UNUSED void mhd_count_locked(struct mhd_fix *f, const char *key)
{
	for (int i = 0; i < f->n_counts; i++)
		if (!strcmp(f->counts[i].key, key)) {
			f->counts[i].n++;
			return;
		}
	MHD_CHECK(f->n_counts < MHD_MAX_KEYS, "too many keys");
	snprintf(f->counts[f->n_counts].key, sizeof(f->counts[0].key), "%s",
		 key);
	f->counts[f->n_counts++].n = 1;
}

/* How many requests counted under key ("HEAD", "GET /v2/r/tags/list",
 * "token repository:r:pull", or what a script counted). */
static MHD_FIX_UNUSED int mhd_count(struct mhd_fix *f, const char *key)
{
	int n = 0;

	pthread_mutex_lock(&f->mu);
	for (int i = 0; i < f->n_counts; i++)
		if (!strcmp(f->counts[i].key, key))
			n = f->counts[i].n;
	pthread_mutex_unlock(&f->mu);
	return n;
}

static MHD_FIX_UNUSED const char *mhd_header(const struct mhd_req *rq,
					     const char *name)
{
	return MHD_lookup_connection_value(rq->conn, MHD_HEADER_KIND, name);
}

static MHD_FIX_UNUSED const char *mhd_arg(const struct mhd_req *rq,
					  const char *name)
{
	return MHD_lookup_connection_value(rq->conn, MHD_GET_ARGUMENT_KIND,
					   name);
}

static MHD_FIX_UNUSED void mhd_ans_header(struct mhd_ans *a, const char *name,
					  const char *value)
{
	MHD_CHECK(a->n_hdr < MHD_MAX_HDRS, "too many headers");
	snprintf(a->hdr[a->n_hdr][0], sizeof(a->hdr[0][0]), "%s", name);
	snprintf(a->hdr[a->n_hdr][1], sizeof(a->hdr[0][1]), "%s", value);
	a->n_hdr++;
}

static MHD_FIX_UNUSED void mhd_ans_body(struct mhd_ans *a, int status,
					const char *type, const char *body)
{
	a->status = status;
	a->body = body;
	a->len = strlen(body);
	if (type)
		mhd_ans_header(a, "Content-Type", type);
}

/* The body of a response made from a callback (slow or dropped). */
struct mhd_stream {
	char *data;
	size_t len;
	long long drop_at;
	size_t chunk;
	int chunk_ms;
};

static ssize_t mhd_stream_read(void *cls, uint64_t pos, char *buf, size_t max)
{
	struct mhd_stream *s = cls;
	size_t n;

	if (s->drop_at >= 0 && pos >= (uint64_t)s->drop_at)
		return MHD_CONTENT_READER_END_WITH_ERROR;
	if (pos >= s->len)
		return MHD_CONTENT_READER_END_OF_STREAM;
	n = s->len - (size_t)pos;
	if (s->drop_at >= 0 && n > (size_t)s->drop_at - (size_t)pos)
		n = (size_t)s->drop_at - (size_t)pos;
	if (s->chunk && n > s->chunk)
		n = s->chunk;
	if (n > max)
		n = max;
	if (s->chunk_ms > 0)
		mhd_sleep_ms(s->chunk_ms);
	memcpy(buf, s->data + pos, n);
	return (ssize_t)n;
}

static void mhd_stream_free(void *cls)
{
	struct mhd_stream *s = cls;

	free(s->data);
	free(s);
}

static struct MHD_Response *mhd_make_response(const struct mhd_ans *a)
{
	const char *body = a->body ? a->body : "";
	size_t len = a->body ? (a->len ? a->len : strlen(a->body)) : 0;
	struct MHD_Response *r;
	struct mhd_stream *s;

	if (a->drop_at < 0 && !a->chunk)
		return MHD_create_response_from_buffer(len, (void *)body,
						       MHD_RESPMEM_MUST_COPY);
	s = calloc(1, sizeof(*s));
	MHD_CHECK(s, "out of memory");
	s->data = malloc(len ? len : 1);
	MHD_CHECK(s->data, "out of memory");
	memcpy(s->data, body, len);
	s->len = len;
	s->drop_at = a->drop_at;
	s->chunk = a->chunk;
	s->chunk_ms = a->chunk_ms;
	r = MHD_create_response_from_callback(len, 32 * 1024, mhd_stream_read,
					      s, mhd_stream_free);
	return r;
}

/* One more in flight; max follows. */
static void mhd_raise(atomic_int *in_flight, atomic_int *max_in_flight)
{
	int cur = atomic_fetch_add(in_flight, 1) + 1;
	int max = atomic_load(max_in_flight);

	while (cur > max &&
	       !atomic_compare_exchange_weak(max_in_flight, &max, cur))
		;
}

static enum MHD_Result mhd_handle(void *cls, struct MHD_Connection *conn,
				  const char *url, const char *method,
				  const char *version, const char *upload,
				  size_t *upload_size, void **con_cls)
{
	static int started;
	struct mhd_fix *f = cls;
	struct mhd_req rq;
	struct mhd_ans a;
	struct MHD_Response *r;
	enum MHD_Result ret;
	int slot, hold;
	char key[300];
	long long arrived = mhd_now_ms() - f->t0_ms;

	(void)version;
	(void)upload;
	if (!*con_cls) {
		/* the headers are in: the request is in flight */
		*con_cls = &started;
		mhd_raise(&f->in_flight, &f->max_in_flight);
		if (f->group_in_flight)
			mhd_raise(f->group_in_flight, f->group_max);
		return MHD_YES;
	}
	if (*upload_size) {
		if (f->on_upload) {
			pthread_mutex_lock(&f->mu);
			f->on_upload(f, conn, upload, *upload_size);
			pthread_mutex_unlock(&f->mu);
		}
		*upload_size = 0; /* otherwise uploads are not looked at */
		return MHD_YES;
	}
	memset(&a, 0, sizeof(a));
	a.drop_at = -1;
	rq.conn = conn;
	rq.method = method;
	rq.path = url;
	snprintf(key, sizeof(key), "%s %s", method, url);
	pthread_mutex_lock(&f->mu);
	rq.seq = f->seq++;
	mhd_count_locked(f, method);
	mhd_count_locked(f, key);
	slot = f->n_log < MHD_MAX_LOG ? f->n_log++ : -1;
	if (slot >= 0) {
		snprintf(f->log[slot].key, sizeof(f->log[slot].key), "%s", key);
		f->log[slot].arrived_ms = arrived;
	}
	if (f->script)
		f->script(f, &rq, &a);
	if (!a.status)
		a.status = 404;
	if (slot >= 0)
		f->log[slot].status = a.status;
	pthread_mutex_unlock(&f->mu);
	for (int waited = 0;
	     f->await_n > 0 && waited < f->await_ms &&
	     atomic_load(f->group_in_flight ? f->group_in_flight
					    : &f->in_flight) < f->await_n;
	     waited += 2)
		mhd_sleep_ms(2);
	for (int i = 0;
	     a.hold_until && i < 1000 && atomic_load(a.hold_until) < a.hold_n;
	     i++)
		mhd_sleep_ms(10);
	hold = a.hold_ms > 0 ? a.hold_ms : f->hold_ms;
	if (hold > 0)
		mhd_sleep_ms(hold < 2000 ? hold : 2000);
	r = mhd_make_response(&a);
	MHD_CHECK(r, "cannot make a response");
	for (int i = 0; i < a.n_hdr; i++)
		MHD_add_response_header(r, a.hdr[i][0], a.hdr[i][1]);
	pthread_mutex_lock(&f->mu);
	if (slot >= 0)
		f->log[slot].answered_ms = mhd_now_ms() - f->t0_ms;
	pthread_mutex_unlock(&f->mu);
	ret = MHD_queue_response(conn, (unsigned)a.status, r);
	MHD_destroy_response(r);
	atomic_fetch_sub(&f->in_flight, 1);
	if (f->group_in_flight)
		atomic_fetch_sub(f->group_in_flight, 1);
	return ret;
}

static MHD_FIX_UNUSED void mhd_start(struct mhd_fix *f, mhd_script script,
				     void *ctx, int hold_ms)
{
	struct sockaddr_in sa;
	const union MHD_DaemonInfo *info;

	memset(f, 0, sizeof(*f));
	pthread_mutex_init(&f->mu, NULL);
	f->script = script;
	f->ctx = ctx;
	f->hold_ms = hold_ms;
	f->t0_ms = mhd_now_ms();
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sa.sin_port = 0;
	f->d = MHD_start_daemon(
	    MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD |
		MHD_USE_ITC,
	    0, NULL, NULL, mhd_handle, f, MHD_OPTION_SOCK_ADDR, &sa,
	    MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)10,
	    MHD_OPTION_CONNECTION_LIMIT, (unsigned)256, MHD_OPTION_END);
	cr_assert(f->d, "mhdfix: cannot start the server");
	info = MHD_get_daemon_info(f->d, MHD_DAEMON_INFO_BIND_PORT);
	cr_assert(info && info->port);
	f->port = info->port;
	snprintf(f->host, sizeof(f->host), "127.0.0.1:%d", f->port);
	snprintf(f->base, sizeof(f->base), "http://127.0.0.1:%d", f->port);
}

static MHD_FIX_UNUSED void mhd_stop(struct mhd_fix *f)
{
	if (f->d)
		MHD_stop_daemon(f->d);
	f->d = NULL;
	pthread_mutex_destroy(&f->mu);
}

/* --- helpers for scripts (called under the lock) --- */

/* "/token?service=svc&scope=repository:REPO:pull": counts the call as
 * "token SCOPE" and answers {"token":"tok-REPO"}. 1 when rq was a token
 * request. */
static MHD_FIX_UNUSED int mhd_token_endpoint(struct mhd_fix *f,
					     const struct mhd_req *rq,
					     struct mhd_ans *a)
{
	static __thread char body[600];
	const char *scope = mhd_arg(rq, "scope"), *repo, *end;
	char key[400];

	if (strcmp(rq->path, "/token"))
		return 0;
	snprintf(key, sizeof(key), "token %s", scope ? scope : "");
	mhd_count_locked(f, key);
	if (!scope || strncmp(scope, "repository:", 11) ||
	    !(end = strrchr(scope, ':')) || end < scope + 11) {
		mhd_ans_body(a, 400, "application/json", "{}");
		return 1;
	}
	repo = scope + 11;
	snprintf(body, sizeof(body), "{\"token\":\"tok-%.*s\"}",
		 (int)(end - repo), repo);
	mhd_ans_body(a, 200, "application/json", body);
	return 1;
}

/* 0 and a 401 challenge for the realm f->base/token in a, unless rq
 * carries repo's token; 1 when it does. */
static MHD_FIX_UNUSED int mhd_bearer_ok(struct mhd_fix *f,
					const struct mhd_req *rq,
					struct mhd_ans *a, const char *repo)
{
	const char *h = mhd_header(rq, "Authorization");
	char want[400], chal[300];

	snprintf(want, sizeof(want), "Bearer tok-%s", repo);
	if (h && !strcmp(h, want))
		return 1;
	mhd_count_locked(f, "401");
	snprintf(chal, sizeof(chal),
		 "Bearer realm=\"%s/token\",service=\"svc\"", f->base);
	mhd_ans_body(a, 401, "application/json",
		     "{\"errors\":[{\"code\":\"UNAUTHORIZED\"}]}");
	mhd_ans_header(a, "WWW-Authenticate", chal);
	return 0;
}

/* Serve data[0..len) with Range support ("bytes=N-"): 206 from N, 200
 * without a Range. *range_from gets N, or -1 without a Range. */
static MHD_FIX_UNUSED void mhd_serve_range(const struct mhd_req *rq,
					   struct mhd_ans *a, const char *data,
					   size_t len, long long *range_from)
{
	const char *range = mhd_header(rq, "Range");
	unsigned long long from = 0;
	char cr[100];

	*range_from = -1;
	a->status = 200;
	a->body = data;
	a->len = len;
	if (range && sscanf(range, "bytes=%llu-", &from) == 1 && from < len) {
		*range_from = (long long)from;
		a->status = 206;
		a->body = data + from;
		a->len = len - (size_t)from;
		snprintf(cr, sizeof(cr), "bytes %llu-%zu/%zu", from, len - 1,
			 len);
		mhd_ans_header(a, "Content-Range", cr);
	}
	mhd_ans_header(a, "Content-Type", "application/octet-stream");
}

#endif
