#include "registry/engine.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "oci/buf.h"
#include "oci/vec.h"
#include "registry/client_int.h"
#include "registry/retry.h"

#define DEFAULT_BODY_MAX (64u * 1024)
#define TOKEN_ANSWER_MAX (1024u * 1024)
#define REPORT_MS 250

enum job_state { J_QUEUED, J_TIMED, J_TOKEN, J_ACTIVE };

struct tokenwait;

struct reg_job {
	struct reg_job *next; /* in a queue, the timed list or a waiter list */
	struct reg_engine *e;
	struct reg_client *c;
	struct host *hs;
	char *method, *url, *accept, *repo, *what;
	int push;
	int has_body;
	struct reg_body body;
	char *content_type, *content_range;
	struct reg_body_reader br;
	size_t body_max;
	int has_sink;
	struct reg_sink sink;
	int64_t size;
	int bulk;
	long timeout_ms;
	int no_retry;
	int headers_told; /* sink.headers was called */
	void (*done)(struct reg_job *j, void *ctx);
	void *ctx;
	struct tokenwait *token; /* set for a token fetch job */
	/* state */
	enum job_state state;
	struct reg_job *anext, *aprev; /* in e->in_flight while J_ACTIVE */
	long long not_before_ms;
	CURL *h;
	struct curl_slist *hdrs;
	struct reg_response *resp;
	char *sent_auth;     /* the Authorization line of the last attempt */
	char *auth_now;	     /* the token its fetch brought, for the next
				start only */
	size_t body_counted; /* of e->body_bytes */
	int auth_retries, retries, attempts, digest_restarts;
	int body_ok, sink_failed;
	struct err sink_err;
	int result;
	struct err err;
};

/* One scope's token being fetched, and the jobs waiting for it. */
struct tokenwait {
	struct tokenwait *next;
	struct reg_client *c;
	char scope[700];
	struct reg_job *waiters, *waiters_tail;
	struct reg_job *ready, *ready_tail;
};

/* What the engine knows of one registry. */
struct host {
	struct host *next;
	struct reg_client *c;
	struct reg_job *q_head, *q_tail;   /* small requests, FIFO */
	struct reg_job *bq_head, *bq_tail; /* bulk transfers, FIFO */
	int active;
	int answered;		 /* a response came: scheme and auth known */
	int h2;			 /* it multiplexes */
	long long not_before_ms; /* Retry-After */
};

struct reg_engine {
	CURLM *multi;
	struct reg_engine_limits lim;
	struct host *hosts;
	struct reg_job *timed; /* backing off */
	struct tokenwait *tokens;
	int active, active_bulk;
	size_t queued;
	size_t body_bytes; /* of in-memory bodies of jobs not yet freed */
	int running;
	CURL **spare; /* easy handles to reuse */
	size_t n_spare, cap_spare;
	struct reg_engine_stats st;
	void (*progress)(void *ctx, const struct reg_engine_stats *s);
	void *progress_ctx;
	long long last_report;
	void (*hook)(void *ctx); /* every loop turn (reg_engine_set_hook) */
	void *hook_ctx;
	struct reg_job *in_flight; /* the J_ACTIVE jobs */
	/* reg_engine_cancel_all was called (for the engine's life) */
	int cancelled;
	int sweeping; /* cancel_sweep is running */
	char cancel_why[256];
};

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int reg_engine_new(struct reg_engine **out, struct err *err)
{
	struct reg_engine *e = calloc(1, sizeof(*e));

	*out = NULL;
	if (!e || !(e->multi = curl_multi_init())) {
		free(e);
		return err_set(err, ERR_FAIL, "request engine: out of memory");
	}
	e->lim.max_in_flight = 64;
	e->lim.max_bulk = 8;
	e->lim.h2_streams = 100;
	e->lim.max_body_bytes = 64u * 1024 * 1024;
	curl_multi_setopt(e->multi, CURLMOPT_PIPELINING, CURLPIPE_MULTIPLEX);
	*out = e;
	return 0;
}

void reg_engine_set_limits(struct reg_engine *e,
			   const struct reg_engine_limits *l)
{
	if (l->max_in_flight > 0)
		e->lim.max_in_flight = l->max_in_flight;
	if (l->max_bulk > 0)
		e->lim.max_bulk = l->max_bulk;
	if (l->h2_streams > 0)
		e->lim.h2_streams = l->h2_streams;
	if (l->max_body_bytes > 0)
		e->lim.max_body_bytes = l->max_body_bytes;
}

void reg_engine_set_progress(struct reg_engine *e,
			     void (*fn)(void *ctx,
					const struct reg_engine_stats *s),
			     void *ctx)
{
	e->progress = fn;
	e->progress_ctx = ctx;
}

void reg_engine_stats(const struct reg_engine *e, struct reg_engine_stats *out)
{
	*out = e->st;
	out->in_flight = (size_t)e->active;
	out->queued = e->queued;
}

void reg_engine_wakeup(struct reg_engine *e)
{
	curl_multi_wakeup(e->multi);
}

void reg_engine_set_hook(struct reg_engine *e, void (*fn)(void *ctx), void *ctx)
{
	e->hook = fn;
	e->hook_ctx = ctx;
}

/* The retries j may have: none for a no_retry job. */
static int job_max_retries(const struct reg_job *j)
{
	return j->no_retry ? 0 : j->c->conn.opt->retries;
}

int reg_engine_running(const struct reg_engine *e)
{
	return e->running;
}

int reg_job_result(const struct reg_job *j)
{
	return j->result;
}

const struct err *reg_job_err(const struct reg_job *j)
{
	return &j->err;
}

struct reg_response *reg_job_response(struct reg_job *j)
{
	return j->resp;
}

struct reg_client *reg_job_client(const struct reg_job *j)
{
	return j->c;
}

int reg_job_attempts(const struct reg_job *j)
{
	return j->attempts;
}

static void job_free(struct reg_engine *e, struct reg_job *j)
{
	e->body_bytes -= j->body_counted;
	if (j->h) {
		curl_easy_setopt(j->h, CURLOPT_HTTPHEADER, NULL);
		if (OCI_VEC_RESERVE(e->spare, e->n_spare, e->cap_spare, 1, 0))
			curl_easy_cleanup(j->h);
		else
			e->spare[e->n_spare++] = j->h;
	}
	curl_slist_free_all(j->hdrs);
	if (j->resp) {
		reg_response_release(j->resp);
		free(j->resp);
	}
	free(j->method);
	free(j->url);
	free(j->accept);
	free(j->repo);
	free(j->what);
	free(j->content_type);
	free(j->content_range);
	free(j->sent_auth);
	free(j->auth_now);
	free(j);
}

static struct host *host_of(struct reg_engine *e, struct reg_client *c)
{
	struct host *h;

	for (h = e->hosts; h; h = h->next)
		if (h->c == c)
			return h;
	h = calloc(1, sizeof(*h));
	if (!h)
		return NULL;
	h->c = c;
	h->next = e->hosts;
	e->hosts = h;
	return h;
}

static void push_tail(struct reg_job **head, struct reg_job **tail,
		      struct reg_job *j)
{
	j->next = NULL;
	if (*tail)
		(*tail)->next = j;
	else
		*head = j;
	*tail = j;
}

static void push_front(struct reg_job **head, struct reg_job **tail,
		       struct reg_job *j)
{
	j->next = *head;
	*head = j;
	if (!*tail)
		*tail = j;
}

/* Back in its host's queue: at the front when it had started already
 * (a retry or a re-authentication keeps its turn). */
static void enqueue(struct reg_engine *e, struct reg_job *j, int front)
{
	struct host *h = j->hs;

	j->state = J_QUEUED;
	e->queued++;
	if (j->bulk)
		(front ? push_front : push_tail)(&h->bq_head, &h->bq_tail, j);
	else
		(front ? push_front : push_tail)(&h->q_head, &h->q_tail, j);
}

static char *dup_or_null(const char *s, int *oom)
{
	char *d;

	if (!s)
		return NULL;
	d = strdup(s);
	if (!d)
		*oom = 1;
	return d;
}

static struct reg_job *job_new(struct reg_engine *e, const struct reg_req *r)
{
	struct reg_job *j = calloc(1, sizeof(*j));
	int oom = 0;

	if (!j)
		return NULL;
	j->e = e;
	j->c = r->client;
	j->method = dup_or_null(r->method ? r->method : "GET", &oom);
	j->url = dup_or_null(r->url, &oom);
	j->accept = dup_or_null(r->accept, &oom);
	j->repo = dup_or_null(r->repo, &oom);
	j->what = dup_or_null(r->what, &oom);
	j->push = r->push;
	if (r->body) {
		j->has_body = 1;
		j->body = *r->body;
		j->content_type = dup_or_null(r->body->content_type, &oom);
		j->content_range = dup_or_null(r->body->content_range, &oom);
		j->body.content_type = j->content_type;
		j->body.content_range = j->content_range;
	}
	j->body_max = r->body_max ? r->body_max : DEFAULT_BODY_MAX;
	if (r->sink) {
		j->has_sink = 1;
		j->sink = *r->sink;
	}
	j->size = r->size;
	j->bulk = r->bulk;
	j->timeout_ms = r->timeout_ms;
	j->no_retry = r->no_retry;
	j->done = r->done;
	j->ctx = r->ctx;
	if (oom || !j->url) {
		job_free(e, j);
		return NULL;
	}
	return j;
}

int reg_engine_submit(struct reg_engine *e, const struct reg_req *r,
		      struct err *err)
{
	struct reg_job *j;

	if (e->cancelled)
		return err_set(err, ERR_FAIL, "%s %s: cancelled (%s)",
			       r->method ? r->method : "GET",
			       r->what ? r->what : r->url, e->cancel_why);
	j = job_new(e, r);

	/* a registry read through mirrors: its first endpoint up; a push:
	 * the registry itself */
	if (j)
		j->c = reg_client_pick(r->client,
				       r->push || (strcmp(j->method, "GET") &&
						   strcmp(j->method, "HEAD")));
	if (!j || !(j->hs = host_of(e, j->c))) {
		if (j)
			job_free(e, j);
		return err_set(err, ERR_FAIL, "%s %s: out of memory",
			       r->method ? r->method : "GET",
			       r->what ? r->what : r->url);
	}
	enqueue(e, j, 0);
	return 0;
}

/* Where the job goes, in messages: "host/repo" or "host". */
static const char *job_where(const struct reg_job *j, char *buf, size_t cap)
{
	snprintf(buf, cap, "%s%s%s", j->c->conn.host, j->repo ? "/" : "",
		 j->repo ? j->repo : "");
	return buf;
}

/* The job's name in messages. */
static const char *job_name(const struct reg_job *j, char *buf, size_t cap)
{
	if (j->what)
		return j->what;
	snprintf(buf, cap, "%s %s", j->method, j->url);
	return buf;
}

static void token_done(struct reg_engine *e, struct reg_job *j, int rc);
static void cancel_job(struct reg_engine *e, struct reg_job *j);

/* j's transfer ends: off the multi and out of the in-flight counts. */
static void leave_multi(struct reg_engine *e, struct reg_job *j)
{
	curl_multi_remove_handle(e->multi, j->h);
	if (j->aprev)
		j->aprev->anext = j->anext;
	else
		e->in_flight = j->anext;
	if (j->anext)
		j->anext->aprev = j->aprev;
	j->anext = j->aprev = NULL;
	j->hs->active--;
	e->active--;
	if (j->bulk)
		e->active_bulk--;
}

static void finish(struct reg_engine *e, struct reg_job *j, int rc)
{
	if (j->token) {
		/* its waiters learn the outcome, whatever ended it */
		token_done(e, j, rc);
		return;
	}
	j->result = rc;
	e->st.done++;
	if (rc)
		e->st.failed++;
	if (j->done)
		j->done(j, j->ctx);
	job_free(e, j);
}

/* --- the sink side of a streamed body (as registry/transfer.h says) --- */

/* The first 200 answer's length, to the sink that asks for it. */
static void sink_headers(struct reg_job *j)
{
	if (j->headers_told || !j->sink.headers)
		return;
	j->headers_told = 1;
	j->sink.headers(j->sink.ctx, j->resp->content_length);
}

static size_t sink_write_cb(char *p, size_t size, size_t nmemb, void *ud)
{
	struct reg_job *j = ud;
	size_t n = size * nmemb;

	j->e->st.bytes += n;
	if (!j->body_ok) {
		long status = 0;

		curl_easy_getinfo(j->h, CURLINFO_RESPONSE_CODE, &status);
		if (status == 200 || status == 206) {
			uint64_t off = j->sink.offset(j->sink.ctx);

			/* A 200 to a Range request restarts the body. */
			if (status == 200 && off > 0 &&
			    j->sink.reset(j->sink.ctx, &j->sink_err)) {
				j->sink_failed = 1;
				return 0;
			}
			if (status == 200)
				sink_headers(j);
			if (status == 206) {
				unsigned long long a = 0;

				if (sscanf(j->resp->content_range,
					   "bytes %llu-", &a) != 1 ||
				    a != off) {
					err_set(&j->sink_err, ERR_FAIL,
						"%s: bad Content-Range \"%s\" "
						"for offset %llu",
						j->what ? j->what : j->url,
						j->resp->content_range,
						(unsigned long long)off);
					j->sink_failed = 1;
					return 0;
				}
			}
			j->body_ok = 1;
		} else {
			/* keep an error body for the message, capped: the rest
			 * is dropped, the answer still counts */
			size_t room =
			    j->resp->body.max > j->resp->body.len
				? j->resp->body.max - j->resp->body.len
				: 0;
			buf_append(&j->resp->body, p, n < room ? n : room);
			return n;
		}
	}
	if (j->sink.write(j->sink.ctx, p, n, &j->sink_err)) {
		j->sink_failed = 1;
		return 0;
	}
	return n;
}

static size_t mem_write_cb(char *p, size_t size, size_t nmemb, void *ud)
{
	struct reg_job *j = ud;
	size_t n = size * nmemb;

	j->e->st.bytes += n;
	if (buf_append(&j->resp->body, p, n)) {
		j->resp->body_too_large = 1;
		return 0;
	}
	j->e->body_bytes += n;
	j->body_counted += n;
	return n;
}

/* --- starting --- */

static CURL *take_handle(struct reg_engine *e)
{
	CURL *h;

	if (e->n_spare) {
		h = e->spare[--e->n_spare];
		curl_easy_reset(h);
		return h;
	}
	return curl_easy_init();
}

/* The token fetch for (c, scope): joined when one is running, else
 * started. */
static int token_wait(struct reg_engine *e, struct reg_job *j,
		      const char *scope)
{
	struct tokenwait *w;
	struct reg_job *tj;
	struct reg_req r;
	struct buf url;
	const char *basic = NULL; /* start() sends it again */
	int rc;

	for (w = e->tokens; w; w = w->next)
		if (w->c == j->c && !strcmp(w->scope, scope))
			break;
	if (!w) {
		w = calloc(1, sizeof(*w));
		if (!w)
			return err_set(&j->err, ERR_FAIL,
				       "token for %s: out of memory", scope);
		w->c = j->c;
		snprintf(w->scope, sizeof(w->scope), "%s", scope);
		buf_init(&url, 8192);
		rc = reg_token_fetch_url(&j->c->tokens, &j->c->conn, scope,
					 &url, &basic, &j->err);
		memset(&r, 0, sizeof(r));
		r.client = j->c;
		r.method = "GET";
		r.url = url.data;
		r.body_max = TOKEN_ANSWER_MAX;
		tj = rc ? NULL : job_new(e, &r);
		buf_release(&url);
		if (!tj) {
			free(w);
			return rc ? rc
				  : err_set(&j->err, ERR_FAIL,
					    "token for %s: out of memory",
					    scope);
		}
		tj->hs = j->hs;
		tj->token = w;
		w->next = e->tokens;
		e->tokens = w;
		/* token fetches go first */
		enqueue(e, tj, 1);
	}
	j->state = J_TOKEN;
	e->queued++;
	push_tail(&w->waiters, &w->waiters_tail, j);
	return 0;
}

/* Start j on its handle. 0, or the error that ends it. */
static int start(struct reg_engine *e, struct reg_job *j, const char *auth)
{
	const char *base;
	char url[4096], range[64];
	struct reg_call call;
	int rc, n;

	rc = reg_conn_base_url(&j->c->conn, &base, &j->err);
	if (rc)
		return rc;
	if (!strncmp(j->url, "http://", 7) || !strncmp(j->url, "https://", 8)) {
		size_t bl = strlen(base);

		n = snprintf(url, sizeof(url), "%s", j->url);
		/* an absolute URL (a Link, an upload Location) may name
		 * another host: the registry's credentials stay with the
		 * registry (a token job's Basic line goes to its realm) */
		if (!j->token && (strncmp(j->url, base, bl) ||
				  (j->url[bl] && j->url[bl] != '/')))
			auth = NULL;
	} else {
		n = snprintf(url, sizeof(url), "%s%s", base, j->url);
	}
	/* a read from a mirror names the registry it is for (?ns=) */
	if (!j->token && n >= 0 && (size_t)n < sizeof(url) &&
	    reg_conn_url(&j->c->conn, url, sizeof(url), base, j->url))
		n = (int)sizeof(url);
	if (n < 0 || (size_t)n >= sizeof(url))
		return err_set(&j->err, ERR_INVALID,
			       "%.200s...: URL longer "
			       "than %zu bytes",
			       j->url, sizeof(url) - 1);
	if (!j->h && !(j->h = take_handle(e)))
		return err_set(&j->err, ERR_FAIL, "%s: curl init failed", url);
	if (!j->resp) {
		j->resp = malloc(sizeof(*j->resp));
		if (!j->resp)
			return err_set(&j->err, ERR_FAIL, "%s: out of memory",
				       url);
		reg_response_init(j->resp, j->body_max);
	} else {
		curl_easy_reset(j->h);
		e->body_bytes -= j->body_counted;
		j->body_counted = 0;
		reg_response_reset(j->resp);
	}
	reg_conn_setup_easy(&j->c->conn, j->h);
	curl_easy_setopt(j->h, CURLOPT_URL, url);
	if (j->timeout_ms > 0)
		curl_easy_setopt(j->h, CURLOPT_TIMEOUT_MS, j->timeout_ms);
	/* over TLS, wait for the connection that may multiplex rather than
	 * open another (plain http is HTTP/1.1 here: nothing to wait for) */
	if (!strncmp(url, "https://", 8))
		curl_easy_setopt(j->h, CURLOPT_PIPEWAIT, 1L);
	curl_slist_free_all(j->hdrs);
	memset(&call, 0, sizeof(call));
	call.method = j->method;
	call.url = url;
	call.body = j->has_body ? &j->body : NULL;
	j->br.b = call.body;
	j->br.pos = 0;
	j->hdrs = reg_call_setup(j->h, &call, &j->br);
	if (j->accept)
		j->hdrs = reg_header_add(j->hdrs, "Accept", j->accept);
	if (auth)
		j->hdrs = curl_slist_append(j->hdrs, auth);
	if (j->has_sink) {
		uint64_t off = j->sink.offset(j->sink.ctx);

		if (off > 0) {
			snprintf(range, sizeof(range), "Range: bytes=%llu-",
				 (unsigned long long)off);
			j->hdrs = curl_slist_append(j->hdrs, range);
		}
		j->body_ok = 0;
		j->sink_failed = 0;
		err_clear(&j->sink_err);
		reg_response_attach(j->resp, j->h, 0);
		curl_easy_setopt(j->h, CURLOPT_WRITEFUNCTION, sink_write_cb);
		curl_easy_setopt(j->h, CURLOPT_BUFFERSIZE, 256L * 1024);
	} else {
		reg_response_attach(j->resp, j->h, 0);
		curl_easy_setopt(j->h, CURLOPT_WRITEFUNCTION, mem_write_cb);
	}
	curl_easy_setopt(j->h, CURLOPT_WRITEDATA, j);
	curl_easy_setopt(j->h, CURLOPT_HTTPHEADER, j->hdrs);
	curl_easy_setopt(j->h, CURLOPT_PRIVATE, j);
	free(j->sent_auth);
	j->sent_auth = auth ? strdup(auth) : NULL;
	if (curl_multi_add_handle(e->multi, j->h) != CURLM_OK)
		return err_set(&j->err, ERR_FAIL,
			       "%s: curl_multi_add_handle "
			       "failed",
			       url);
	j->state = J_ACTIVE;
	j->aprev = NULL;
	j->anext = e->in_flight;
	if (e->in_flight)
		e->in_flight->aprev = j;
	e->in_flight = j;
	j->attempts++;
	j->hs->active++;
	e->active++;
	if (j->bulk)
		e->active_bulk++;
	if ((size_t)e->active > e->st.peak_in_flight)
		e->st.peak_in_flight = (size_t)e->active;
	return 0;
}

/* How many requests h may have in flight now. */
static int host_cap(const struct reg_engine *e, const struct host *h)
{
	int conns = h->c->conn.max_connections > 0
			? h->c->conn.max_connections
			: h->c->conn.opt->max_connections;

	if (conns <= 0)
		conns = 8;
	if (!h->answered)
		return 1;
	return h->h2 ? e->lim.h2_streams : conns;
}

static struct reg_job *pop(struct reg_job **head, struct reg_job **tail)
{
	struct reg_job *j = *head;

	if (j) {
		*head = j->next;
		if (!*head)
			*tail = NULL;
		j->next = NULL;
	}
	return j;
}

/* Start h's next job if the limits allow: 1 when a job left the queue
 * (started, waiting for its token, or failed), 0 when h must wait; *wait
 * is lowered to the time a held-back job may go. */
static int start_one(struct reg_engine *e, struct host *h, long long t,
		     long *wait)
{
	struct reg_job *j;
	const char *auth = NULL;
	char scope[700];
	long rw;
	int rc;

	if (e->cancelled)
		return 0;
	if (e->active >= e->lim.max_in_flight || h->active >= host_cap(e, h) ||
	    (e->active && e->body_bytes >= e->lim.max_body_bytes))
		return 0;
	if (h->not_before_ms > t) {
		if (h->not_before_ms - t < *wait)
			*wait = (long)(h->not_before_ms - t);
		return 0;
	}
	if (h->q_head)
		j = pop(&h->q_head, &h->q_tail);
	else if (h->bq_head && e->active_bulk < e->lim.max_bulk)
		j = pop(&h->bq_head, &h->bq_tail);
	else
		return 0;
	e->queued--;
	if (!j->token) {
		rw = reg_conn_slot(&h->c->conn);
		if (rw > 0) {
			enqueue(e, j, 1);
			if (rw < *wait)
				*wait = rw;
			return 0;
		}
		rc = j->auth_now ? 0
				 : reg_token_lookup(&h->c->tokens, &h->c->conn,
						    &auth, j->repo, j->push,
						    scope, sizeof(scope));
		if (j->auth_now)
			auth = j->auth_now;
		if (rc == REG_TOKEN_NEED) {
			if (token_wait(e, j, scope))
				finish(e, j, j->err.code);
			return 1;
		}
	} else if (h->c->tokens.have_creds) {
		auth = h->c->tokens.basic_header;
	}
	rc = start(e, j, auth);
	free(j->auth_now); /* a retry asks the cache again */
	j->auth_now = NULL;
	if (rc)
		finish(e, j, rc);
	return 1;
}

/* Start what the limits allow, one job per registry in turn, so that one
 * registry's long queue does not take every slot of the run. */
static void start_ready(struct reg_engine *e, long long t, long *wait)
{
	int moved = 1;

	while (moved) {
		moved = 0;
		for (struct host *h = e->hosts; h; h = h->next)
			moved |= start_one(e, h, t, wait);
	}
}

/* --- completion --- */

static void backoff(struct reg_engine *e, struct reg_job *j, long ms)
{
	j->state = J_TIMED;
	j->not_before_ms = now_ms() + ms;
	j->next = e->timed;
	e->timed = j;
	e->queued++;
	e->st.retries++;
}

/* --- mirrors: a read whose endpoint failed goes to the next one --- */

/* Move j to its endpoint's next (same path, fresh attempts; a sink is
 * reset first) after why; transport: the endpoint is skipped for new
 * jobs a while. 1 when moved, 0 when j ends here (no next endpoint, a
 * token fetch, a sink that cannot be reset). */
static int failover(struct reg_engine *e, struct reg_job *j, const char *why,
		    int transport)
{
	struct reg_client *next = j->c->next;
	struct host *h;
	size_t bl = strlen(j->c->conn.base);
	struct err serr;

	if (j->token || !next || j->push)
		return 0;
	if (j->has_sink && j->sink.reset(j->sink.ctx, &serr))
		return 0;
	if (!(h = host_of(e, next)))
		return 0;
	if (transport)
		reg_client_mark_down(j->c);
	reg_client_log_failover(j->c, why);
	/* a page URL the endpoint named: the same path on the next one */
	if (bl && !strncmp(j->url, j->c->conn.base, bl) && j->url[bl] == '/')
		memmove(j->url, j->url + bl, strlen(j->url + bl) + 1);
	j->c = next;
	j->hs = h;
	j->retries = j->attempts = j->auth_retries = j->digest_restarts = 0;
	free(j->sent_auth);
	free(j->auth_now);
	j->sent_auth = j->auth_now = NULL;
	err_clear(&j->err);
	enqueue(e, j, 0);
	return 1;
}

/* A transient failure of a streamed job: again after a backoff, or the
 * end. */
static void sink_retry(struct reg_engine *e, struct reg_job *j, const char *why,
		       long retry_after)
{
	const struct reg_options *o = j->c->conn.opt;
	char name[300], where[1200];
	long ms;

	j->retries++;
	if (j->retries > job_max_retries(j) && failover(e, j, why, 0))
		return;
	if (j->retries > job_max_retries(j)) {
		finish(e, j,
		       err_set(&j->err, j->err.code ? j->err.code : ERR_FAIL,
			       "%s in %s: %s (gave up after %d attempts)",
			       job_name(j, name, sizeof(name)),
			       job_where(j, where, sizeof(where)), why,
			       j->attempts));
		return;
	}
	ms = reg_backoff_ms(o, j->retries, retry_after);
	reg_logf(o, REG_LOG_WARN, "%s: %s; retry %d/%d in %ld ms%s",
		 job_name(j, name, sizeof(name)), why, j->retries, o->retries,
		 ms, j->sink.offset(j->sink.ctx) ? " (resuming)" : "");
	backoff(e, j, ms);
}

/* The token fetch j ended: keep the token and let its waiters go, or fail
 * them all with why. */
static void token_done(struct reg_engine *e, struct reg_job *j, int rc)
{
	struct tokenwait *w = j->token, **pp;
	const char *hdr = NULL;
	char scope[700];
	struct reg_job *x;

	if (!rc && j->resp)
		rc = reg_token_keep(&j->c->tokens, w->scope, j->resp, &j->err);
	else if (!rc)
		rc = err_set(&j->err, ERR_FAIL, "token for %s: no answer",
			     w->scope);
	for (pp = &e->tokens; *pp; pp = &(*pp)->next)
		if (*pp == w) {
			*pp = w->next;
			break;
		}
	while ((x = pop(&w->waiters, &w->waiters_tail))) {
		e->queued--;
		if (e->cancelled) { /* by a callback of this loop */
			cancel_job(e, x);
			continue;
		}
		if (rc) {
			/* a mirror whose token cannot be had: the next one */
			if (failover(e, x, j->err.msg, 0))
				continue;
			x->err = j->err;
			finish(e, x, rc);
			continue;
		}
		/* it starts with this token as it is now, even when the
		 * cache's slots turn over before it goes */
		free(x->auth_now);
		x->auth_now = NULL;
		if (reg_token_lookup(&x->c->tokens, &x->c->conn, &hdr, x->repo,
				     x->push, scope, sizeof(scope)) == 0 &&
		    hdr)
			x->auth_now = strdup(hdr);
		push_front(&w->ready, &w->ready_tail, x); /* reversed */
	}
	/* back to the front of their queues, in their order */
	while ((x = pop(&w->ready, &w->ready_tail)))
		if (e->cancelled)
			cancel_job(e, x);
		else
			enqueue(e, x, 1);
	free(w);
	j->token = NULL;
	finish(e, j, rc);
}

/* A streamed job's answer (registry/transfer.h's rules). */
static void sink_completed(struct reg_engine *e, struct reg_job *j, CURLcode cc,
			   long status)
{
	char why[400], name[300], where[1200];
	int rc;

	if (j->sink_failed && j->sink_err.code) {
		/* the sink refused bytes: too many of them, or a disk error */
		if (j->sink_err.code == ERR_DIGEST &&
		    failover(e, j, j->sink_err.msg, 0))
			return;
		if (j->sink_err.code == ERR_DIGEST &&
		    j->digest_restarts++ == 0 &&
		    !j->sink.reset(j->sink.ctx, &j->err)) {
			sink_retry(e, j, j->sink_err.msg, 0);
			return;
		}
		j->err = j->sink_err;
		finish(e, j, j->sink_err.code);
		return;
	}
	if (cc == CURLE_OK && (status == 200 || status == 206)) {
		if (status == 200)
			sink_headers(j); /* an empty body: no write came */
		if (j->size >= 0 &&
		    j->sink.offset(j->sink.ctx) < (uint64_t)j->size) {
			sink_retry(e, j, "body ended early", 0);
			return;
		}
		rc = j->sink.finish(j->sink.ctx, &j->err);
		if (rc == ERR_DIGEST) {
			char msg[ERR_MSG_MAX];

			snprintf(msg, sizeof(msg), "%s", j->err.msg);
			if (failover(e, j, msg, 0))
				return;
		}
		if (rc == ERR_DIGEST && j->digest_restarts++ == 0) {
			/* maybe corrupted in transit: one fresh download */
			char msg[ERR_MSG_MAX];

			snprintf(msg, sizeof(msg), "%s", j->err.msg);
			if (!j->sink.reset(j->sink.ctx, &j->err)) {
				err_clear(&j->err);
				sink_retry(e, j, msg, 0);
				return;
			}
		}
		if (rc)
			err_wrap(&j->err,
				 "%s: ", job_where(j, where, sizeof(where)));
		finish(e, j, rc);
		return;
	}
	if (cc != CURLE_OK) {
		snprintf(why, sizeof(why), "%s after %llu bytes",
			 curl_easy_strerror(cc),
			 (unsigned long long)j->sink.offset(j->sink.ctx));
		if (cc == CURLE_OPERATION_TIMEDOUT)
			j->err.code = ERR_TIMEOUT;
		/* another endpoint may answer: after one retry at most */
		if ((j->retries >= 1 || !reg_retry_curl(cc)) &&
		    failover(e, j, why, 1))
			return;
		sink_retry(e, j, why, 0);
		return;
	}
	reg_response_describe(why, sizeof(why), j->resp);
	if (reg_retry_status(status)) {
		sink_retry(e, j, why, j->resp->retry_after);
		return;
	}
	if ((status == 404 || status == 401 || status == 403) &&
	    failover(e, j, why, 0))
		return;
	if (status == 416 && j->sink.offset(j->sink.ctx) > 0) {
		/* the server cannot resume here: start over */
		if (!j->sink.reset(j->sink.ctx, &j->err)) {
			sink_retry(e, j, why, 0);
			return;
		}
	}
	finish(e, j,
	       err_set(&j->err,
		       status == 404			  ? ERR_NOT_FOUND
		       : (status == 401 || status == 403) ? ERR_UNAUTHORIZED
							  : ERR_FAIL,
		       "%s in %s: %s", job_name(j, name, sizeof(name)),
		       job_where(j, where, sizeof(where)), why));
}

/* j's URL is absolute on another origin than its endpoint's: it was sent
 * without credentials, and its 401 teaches the endpoint's cache nothing
 * (another host's realm must never get this registry's Basic line). */
static int job_foreign(const struct reg_job *j)
{
	const char *base = j->c->conn.base;
	size_t bl = strlen(base);

	if (strncmp(j->url, "http://", 7) && strncmp(j->url, "https://", 8))
		return 0;
	return !bl || strncmp(j->url, base, bl) ||
	       (j->url[bl] && j->url[bl] != '/');
}

static void completed(struct reg_engine *e, struct reg_job *j, CURLcode cc)
{
	const struct reg_options *o = j->c->conn.opt;
	long status = 0, version = 0;
	enum reg_retry_verdict v;
	char why[400], name[300];
	long ms;

	leave_multi(e, j);
	curl_easy_getinfo(j->h, CURLINFO_RESPONSE_CODE, &status);
	j->resp->status = status;
	if (status && !j->token) {
		long redirects = 0;

		j->hs->answered = 1;
		/* the registry's own protocol: not the token service's, not
		 * that of the storage a blob was redirected to */
		curl_easy_getinfo(j->h, CURLINFO_REDIRECT_COUNT, &redirects);
		curl_easy_getinfo(j->h, CURLINFO_HTTP_VERSION, &version);
		if (!redirects && version == CURL_HTTP_VERSION_2_0)
			j->hs->h2 = 1;
	} else if (!j->hs->answered && !j->token) {
		/* no answer at all: let the others try (and fail) too */
		j->hs->answered = 1;
	}
	if ((status == 429 || status == 503) && j->resp->retry_after > 0) {
		/* the registry asks everyone to slow down, not only j */
		long long until =
		    now_ms() + reg_backoff_ms(o, 1, j->resp->retry_after);

		if (until > j->hs->not_before_ms)
			j->hs->not_before_ms = until;
	}
	if (status == 401 && !j->token && !job_foreign(j) &&
	    j->auth_retries < 2) {
		const char *now_auth = NULL;
		char scope[700];
		int rc;

		j->auth_retries++;
		/* Answered already when the cache holds another header for
		 * j's scope than the one sent (a newer token, a scheme learnt)
		 * or none (a fetch is due or under way): go again with it.
		 * Else learn from the challenge. Per scope, not the cache's
		 * gen: a token kept for another scope meanwhile does not make
		 * j's stale one good. */
		rc = reg_token_lookup(&j->c->tokens, &j->c->conn, &now_auth,
				      j->repo, j->push, scope, sizeof(scope));
		if (rc != REG_TOKEN_NEED &&
		    (now_auth && j->sent_auth ? !strcmp(now_auth, j->sent_auth)
					      : now_auth == j->sent_auth)) {
			rc = reg_token_challenge(&j->c->tokens, &j->c->conn,
						 j->resp, j->repo, &j->err);
			if (rc && failover(e, j, j->err.msg, 0))
				return;
			if (rc) {
				finish(e, j, rc);
				return;
			}
		}
		enqueue(e, j, 1);
		return;
	}
	if (j->has_sink && !j->token) {
		sink_completed(e, j, cc, status);
		return;
	}
	if (j->resp->body_too_large) {
		finish(e, j,
		       err_set(&j->err, ERR_TOO_LARGE,
			       "%s: response larger than %zu bytes",
			       job_name(j, name, sizeof(name)),
			       j->resp->body.max));
		return;
	}
	v = reg_retry_verdict(cc, status, j->retries, job_max_retries(j));
	if (v == REG_RETRY_DONE) {
		if (j->token) {
			token_done(e, j, 0);
			return;
		}
		if (status == 404 || status == 401 || status == 403) {
			reg_response_describe(why, sizeof(why), j->resp);
			if (failover(e, j, why, 0))
				return;
		}
		if (status == 401)
			err_set(&j->err, ERR_UNAUTHORIZED,
				"%s: 401 unauthorized",
				job_name(j, name, sizeof(name)));
		finish(e, j, status == 401 ? ERR_UNAUTHORIZED : 0);
		return;
	}
	if (cc != CURLE_OK)
		snprintf(why, sizeof(why), "%s", curl_easy_strerror(cc));
	else
		reg_response_describe(why, sizeof(why), j->resp);
	/* another endpoint may answer: a transport failure moves on after
	 * one retry at most, an error status after the retries */
	if ((v == REG_RETRY_GIVE_UP || (cc != CURLE_OK && j->retries >= 1)) &&
	    failover(e, j, why, cc != CURLE_OK))
		return;
	if (v == REG_RETRY_GIVE_UP) {
		int rc = err_set(
		    &j->err,
		    cc == CURLE_OPERATION_TIMEDOUT ? ERR_TIMEOUT : ERR_FAIL,
		    "%s: %s", job_name(j, name, sizeof(name)), why);
		if (j->token)
			token_done(e, j, rc);
		else
			finish(e, j, rc);
		return;
	}
	j->retries++;
	ms = reg_backoff_ms(o, j->retries, j->resp->retry_after);
	reg_logf(o, REG_LOG_WARN, "%s: %s; retry %d/%d in %ld ms",
		 job_name(j, name, sizeof(name)), why, j->retries, o->retries,
		 ms);
	backoff(e, j, ms);
}

/* Timed jobs whose backoff is over go back to their queues. */
static void wake_timed(struct reg_engine *e, long long t, long *wait)
{
	struct reg_job **pp = &e->timed;

	while (*pp) {
		struct reg_job *j = *pp;

		if (j->not_before_ms <= t) {
			*pp = j->next;
			e->queued--;
			enqueue(e, j, 1);
			continue;
		}
		if (j->not_before_ms - t < *wait)
			*wait = (long)(j->not_before_ms - t);
		pp = &j->next;
	}
}

static void report(struct reg_engine *e, long long t, int force)
{
	struct reg_engine_stats s;

	if (!e->progress || (!force && t - e->last_report < REPORT_MS))
		return;
	e->last_report = t;
	reg_engine_stats(e, &s);
	e->progress(e->progress_ctx, &s);
}

/* --- cancelling --- */

/* End j (out of every list and off the multi already) with "cancelled":
 * a token fetch takes the jobs waiting for it along. */
static void cancel_job(struct reg_engine *e, struct reg_job *j)
{
	char name[300];

	if (j->token) {
		struct tokenwait *w = j->token, **pp, *x;
		struct reg_job *wj;

		for (pp = &e->tokens; (x = *pp); pp = &x->next)
			if (x == w) {
				*pp = w->next;
				break;
			}
		while ((wj = pop(&w->waiters, &w->waiters_tail))) {
			e->queued--;
			cancel_job(e, wj);
		}
		free(w);
		j->token = NULL;
	}
	if (j->h) { /* no reuse: the engine takes no more jobs */
		curl_easy_cleanup(j->h);
		j->h = NULL;
	}
	finish(e, j,
	       err_set(&j->err, ERR_FAIL, "%s: cancelled (%s)",
		       job_name(j, name, sizeof(name)), e->cancel_why));
}

/* A job still in the engine, taken out of where it was; NULL: none. */
static struct reg_job *take_any(struct reg_engine *e)
{
	struct reg_job *j;

	if ((j = e->in_flight)) {
		leave_multi(e, j);
		return j;
	}
	/* the waiters first: their token fetch then goes alone */
	for (struct tokenwait *w = e->tokens; w; w = w->next)
		if ((j = pop(&w->waiters, &w->waiters_tail)))
			goto queued;
	if ((j = e->timed)) {
		e->timed = j->next;
		j->next = NULL;
		goto queued;
	}
	for (struct host *h = e->hosts; h; h = h->next)
		if ((j = pop(&h->q_head, &h->q_tail)) ||
		    (j = pop(&h->bq_head, &h->bq_tail)))
			goto queued;
	return NULL;
queued:
	e->queued--;
	return j;
}

/* Every job left ends "cancelled". Callbacks it calls may call
 * reg_engine_cancel_all again (nothing more to do then); their
 * submissions are refused, so the loop ends. */
static void cancel_sweep(struct reg_engine *e)
{
	struct reg_job *j;

	if (e->sweeping)
		return;
	e->sweeping = 1;
	while ((j = take_any(e)))
		cancel_job(e, j);
	e->sweeping = 0;
}

void reg_engine_cancel_all(struct reg_engine *e, const char *why)
{
	if (!e->cancelled)
		snprintf(e->cancel_why, sizeof(e->cancel_why), "%s",
			 why && *why ? why : "engine cancelled");
	e->cancelled = 1;
	cancel_sweep(e);
}

int reg_engine_cancelled(const struct reg_engine *e)
{
	return e->cancelled;
}

int reg_engine_run(struct reg_engine *e)
{
	if (e->running || e->sweeping)
		return ERR_FAIL;
	e->running = 1;
	for (;;) {
		long long t = now_ms();
		long wait = 200;
		int running = 0, numfds = 0, msgs;
		CURLMsg *m;

		if (e->hook)
			e->hook(e->hook_ctx);
		/* what a callback left over (a token's waiters being let go
		 * when it cancelled) */
		if (e->cancelled)
			cancel_sweep(e);
		if (!e->active && !e->queued)
			break;
		wake_timed(e, t, &wait);
		start_ready(e, t, &wait);
		if (!e->active) {
			if (!e->queued)
				break;
			if (e->hook) /* a wakeup cuts the wait short */
				curl_multi_poll(e->multi, NULL, 0,
						(int)(wait > 0 ? wait : 1),
						&numfds);
			else
				reg_sleep_ms(wait > 0 ? wait : 1);
			continue;
		}
		curl_multi_perform(e->multi, &running);
		while ((m = curl_multi_info_read(e->multi, &msgs))) {
			struct reg_job *j = NULL;

			if (m->msg != CURLMSG_DONE)
				continue;
			curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE,
					  (char **)&j);
			completed(e, j, m->data.result);
		}
		if (e->cancelled)
			continue; /* swept at the top, no wait */
		if (e->active)
			curl_multi_poll(e->multi, NULL, 0,
					(int)(wait > 0 ? wait : 1), &numfds);
		report(e, t, 0);
	}
	report(e, now_ms(), 1);
	e->running = 0;
	return 0;
}

static void drop_list(struct reg_engine *e, struct reg_job *j)
{
	while (j) {
		struct reg_job *next = j->next;

		job_free(e, j);
		j = next;
	}
}

void reg_engine_free(struct reg_engine *e)
{
	if (!e)
		return;
	while (e->hosts) {
		struct host *h = e->hosts;

		e->hosts = h->next;
		drop_list(e, h->q_head);
		drop_list(e, h->bq_head);
		free(h);
	}
	drop_list(e, e->timed);
	while (e->tokens) {
		struct tokenwait *w = e->tokens;

		e->tokens = w->next;
		drop_list(e, w->waiters);
		free(w);
	}
	for (size_t i = 0; i < e->n_spare; i++)
		curl_easy_cleanup(e->spare[i]);
	free(e->spare);
	curl_multi_cleanup(e->multi);
	free(e);
}
