/* registry/engine.h's additions for fill on demand: the loop hook and a
 * wakeup from another thread, a job's own timeout, one-attempt jobs and
 * the sink's headers callback, reg_engine_cancel_all (a stalled transfer,
 * a Retry-After hold, a queue), against mhdfix.h's scripted server. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mhdfix.h"
#include "registry/client.h"
#include "registry/engine.h"

#define BODY "0123456789abcdef0123456789abcdef"

struct hfix {
	struct mhd_fix srv;
	struct reg_options opt;
	struct reg_client *c;
	struct reg_engine *e;
};

static void quiet(void *ctx, enum reg_log_level l, const char *m)
{
	(void)ctx;
	(void)l;
	(void)m;
}

static void script(struct mhd_fix *f, const struct mhd_req *rq,
		   struct mhd_ans *a)
{
	(void)f;
	if (!strcmp(rq->path, "/v2/busy")) {
		mhd_ans_body(a, 503, "application/json", "{}");
		return;
	}
	if (!strcmp(rq->path, "/v2/limited")) {
		mhd_ans_body(a, 429, "application/json", "{}");
		mhd_ans_header(a, "Retry-After", "60");
		return;
	}
	if (!strcmp(rq->path, "/v2/stall")) {
		/* a transfer that barely moves: 32 bytes over ~16 s */
		mhd_ans_body(a, 200, "application/octet-stream", BODY);
		a->chunk = 1;
		a->chunk_ms = 500;
		return;
	}
	if (!strcmp(rq->path, "/v2/slow"))
		a->hold_ms = 3000;
	mhd_ans_body(a, 200, "application/octet-stream", BODY);
}

static void hfix_start(struct hfix *x, int hold_ms)
{
	struct reg_host_options h;
	struct err e;

	memset(x, 0, sizeof(*x));
	setenv("DOCKER_CONFIG", "/nonexistent-ocimirror-test", 1);
	unsetenv("REGISTRY_AUTH_FILE");
	unsetenv("XDG_RUNTIME_DIR");
	mhd_start(&x->srv, script, NULL, hold_ms);
	reg_options_init(&x->opt);
	x->opt.retries = 3;
	x->opt.retry_base_ms = 10;
	x->opt.connect_timeout = 10;
	x->opt.stall_timeout = 10;
	x->opt.retry_after_max = 60;
	x->opt.log = quiet;
	cr_assert_eq(reg_client_new(&x->c, x->srv.host, &x->opt, &e), 0, "%s",
		     e.msg);
	memset(&h, 0, sizeof(h));
	h.tls = REG_TLS_PLAIN;
	cr_assert_eq(reg_client_configure(x->c, &h, &e), 0, "%s", e.msg);
	x->e = reg_client_engine(x->c);
	cr_assert(x->e);
}

static void hfix_stop(struct hfix *x)
{
	reg_client_free(x->c);
	mhd_stop(&x->srv);
}

struct done {
	int n, result, attempts;
	long status;
	char msg[ERR_MSG_MAX];
	/* set: the callback tries to submit a follow-up to this engine and
	 * keeps what reg_engine_submit said */
	struct reg_client *follow_c;
	int follow_rc;
};

static void on_done(struct reg_job *j, void *ctx)
{
	struct done *d = ctx;
	struct reg_response *r = reg_job_response(j);

	d->n++;
	d->result = reg_job_result(j);
	d->attempts = reg_job_attempts(j);
	d->status = r ? r->status : 0;
	snprintf(d->msg, sizeof(d->msg), "%s", reg_job_err(j)->msg);
	if (d->follow_c) {
		struct reg_req q;
		struct err e;

		memset(&q, 0, sizeof(q));
		q.client = d->follow_c;
		q.url = "/v2/follow-up";
		q.done = on_done;
		q.ctx = d;
		d->follow_rc =
		    reg_engine_submit(reg_client_engine(d->follow_c), &q, &e);
	}
}

static void submit(struct hfix *x, const char *url, struct done *d,
		   long timeout_ms, int no_retry)
{
	struct reg_req q;
	struct err e;

	memset(&q, 0, sizeof(q));
	q.client = x->c;
	q.method = "GET";
	q.url = url;
	q.timeout_ms = timeout_ms;
	q.no_retry = no_retry;
	q.done = on_done;
	q.ctx = d;
	cr_assert_eq(reg_engine_submit(x->e, &q, &e), 0, "%s", e.msg);
}

/* Another thread hands a job over: queued under a lock, then a wakeup;
 * the hook submits it on the running thread. */
struct handover {
	struct hfix *x;
	pthread_mutex_t mu;
	int pending, hooks;
	struct done second;
};

static void hook(void *ctx)
{
	struct handover *h = ctx;
	int go;

	pthread_mutex_lock(&h->mu);
	h->hooks++;
	go = h->pending;
	h->pending = 0;
	pthread_mutex_unlock(&h->mu);
	if (go)
		submit(h->x, "/v2/second", &h->second, 0, 0);
}

static void *hand_over(void *arg)
{
	struct handover *h = arg;

	/* once the first request is at the server (it is held there until
	 * a second one arrives) */
	while (atomic_load(&h->x->srv.in_flight) < 1)
		mhd_sleep_ms(5);
	pthread_mutex_lock(&h->mu);
	h->pending = 1;
	pthread_mutex_unlock(&h->mu);
	reg_engine_wakeup(h->x->e);
	return NULL;
}

Test(reg_engine_hook, a_wakeup_lets_the_hook_submit_from_another_thread)
{
	struct hfix x;
	struct handover h;
	struct done warm = {0}, first = {0};
	pthread_t th;

	hfix_start(&x, 0);
	/* one answer first: until then the engine sends one at a time */
	submit(&x, "/v2/warm", &warm, 0, 0);
	cr_assert_eq(reg_engine_run(x.e), 0);
	cr_assert_eq(warm.status, 200);
	x.srv.await_n = 2;
	x.srv.await_ms = 5000;
	memset(&h, 0, sizeof(h));
	h.x = &x;
	pthread_mutex_init(&h.mu, NULL);
	reg_engine_set_hook(x.e, hook, &h);
	submit(&x, "/v2/first", &first, 0, 0);
	cr_assert_eq(pthread_create(&th, NULL, hand_over, &h), 0);
	cr_assert_eq(reg_engine_run(x.e), 0);
	pthread_join(th, NULL);
	cr_assert_eq(first.n, 1);
	cr_assert_eq(first.status, 200);
	cr_assert_eq(h.second.n, 1);
	cr_assert_eq(h.second.status, 200);
	/* the second overlapped the first: handed over while it ran */
	cr_assert_eq(atomic_load(&x.srv.max_in_flight), 2);
	cr_assert(h.hooks >= 2);
	reg_engine_set_hook(x.e, NULL, NULL);
	hfix_stop(&x);
}

Test(reg_engine_hook, timeout_ms_ends_one_attempt)
{
	struct hfix x;
	struct done d = {0};

	hfix_start(&x, 0);
	submit(&x, "/v2/slow", &d, 200, 1);
	cr_assert_eq(reg_engine_run(x.e), 0);
	cr_assert_eq(d.n, 1);
	cr_assert_eq(d.result, ERR_TIMEOUT);
	cr_assert_eq(d.attempts, 1);
	cr_assert_eq(mhd_count(&x.srv, "GET /v2/slow"), 1);
	hfix_stop(&x);
}

Test(reg_engine_hook, no_retry_is_one_attempt)
{
	struct hfix x;
	struct done once = {0}, retried = {0};

	hfix_start(&x, 0);
	submit(&x, "/v2/busy", &once, 0, 1);
	cr_assert_eq(reg_engine_run(x.e), 0);
	cr_assert_eq(once.n, 1);
	cr_assert_eq(once.attempts, 1);
	cr_assert_eq(mhd_count(&x.srv, "GET /v2/busy"), 1);
	/* without it the client's retries apply (3 here) */
	submit(&x, "/v2/busy", &retried, 0, 0);
	cr_assert_eq(reg_engine_run(x.e), 0);
	cr_assert_eq(retried.attempts, 4);
	cr_assert_eq(mhd_count(&x.srv, "GET /v2/busy"), 5);
	hfix_stop(&x);
}

/* A sink in memory recording the order of calls. */
struct hsink {
	char data[256];
	size_t len;
	int headers;
	int64_t length;
	size_t len_at_headers;
};

static int hs_write(void *ctx, const void *p, size_t n, struct err *err)
{
	struct hsink *s = ctx;

	if (s->len + n > sizeof(s->data))
		return err_set(err, ERR_TOO_LARGE, "too many bytes");
	memcpy(s->data + s->len, p, n);
	s->len += n;
	return 0;
}

static int hs_reset(void *ctx, struct err *err)
{
	(void)err;
	((struct hsink *)ctx)->len = 0;
	return 0;
}

static uint64_t hs_offset(void *ctx)
{
	return ((struct hsink *)ctx)->len;
}

static int hs_finish(void *ctx, struct err *err)
{
	(void)ctx;
	(void)err;
	return 0;
}

static void hs_headers(void *ctx, int64_t length)
{
	struct hsink *s = ctx;

	s->headers++;
	s->length = length;
	s->len_at_headers = s->len;
}

Test(reg_engine_hook, sink_headers_come_once_before_the_body)
{
	struct hfix x;
	struct hsink s;
	struct reg_sink sink = {.write = hs_write,
				.reset = hs_reset,
				.offset = hs_offset,
				.finish = hs_finish,
				.headers = hs_headers};
	struct done d = {0};
	struct reg_req q;
	struct err e;

	hfix_start(&x, 0);
	memset(&s, 0, sizeof(s));
	sink.ctx = &s;
	memset(&q, 0, sizeof(q));
	q.client = x.c;
	q.method = "GET";
	q.url = "/v2/blob";
	q.sink = &sink;
	q.size = -1;
	q.bulk = 1;
	q.done = on_done;
	q.ctx = &d;
	cr_assert_eq(reg_engine_submit(x.e, &q, &e), 0, "%s", e.msg);
	cr_assert_eq(reg_engine_run(x.e), 0);
	cr_assert_eq(d.n, 1);
	cr_assert_eq(d.result, 0);
	cr_assert_eq(s.headers, 1);
	cr_assert_eq(s.length, (int64_t)strlen(BODY));
	cr_assert_eq(s.len_at_headers, 0);
	cr_assert_eq(s.len, strlen(BODY));
	cr_assert(!memcmp(s.data, BODY, s.len));
	hfix_stop(&x);
}

/* The hook of a run to be cancelled: cancel_all once ready() says the
 * jobs are where the test wants them. */
struct canceller {
	struct hfix *x;
	int (*ready)(struct canceller *k);
	int turns, cancelled_at;
	long long t_cancel;
};

static void cancel_hook(void *ctx)
{
	struct canceller *k = ctx;
	struct reg_engine_stats st;

	k->turns++;
	if (k->cancelled_at || !k->ready(k))
		return;
	k->cancelled_at = k->turns;
	k->t_cancel = mhd_now_ms();
	reg_engine_cancel_all(k->x->e, "test stop");
	/* everything ended inside the call */
	reg_engine_stats(k->x->e, &st);
	cr_assert_eq(st.in_flight, 0);
	cr_assert_eq(st.queued, 0);
}

/* The stalled transfer is at the server and in flight in the engine. */
static int stall_in_flight(struct canceller *k)
{
	struct reg_engine_stats st;

	reg_engine_stats(k->x->e, &st);
	return st.in_flight == 1 && mhd_count(&k->x->srv, "GET /v2/stall") == 1;
}

static void assert_cancelled(const struct done *d)
{
	cr_assert_eq(d->n, 1, "callback called %d times", d->n);
	cr_assert_eq(d->result, ERR_FAIL);
	cr_assert(strstr(d->msg, ": cancelled (test stop)"), "%s", d->msg);
}

Test(reg_engine_hook, cancel_all_ends_a_stalled_transfer_and_the_queue)
{
	struct hfix x;
	struct canceller k = {0};
	struct done stall = {0}, queued = {0};
	struct reg_engine_stats st;
	struct reg_req q;
	struct err e;
	long long t0;

	hfix_start(&x, 0);
	k.x = &x;
	k.ready = stall_in_flight;
	/* the registry has not answered yet: one request at a time, so the
	 * second waits in the queue behind the stalled one */
	submit(&x, "/v2/stall", &stall, 0, 0);
	queued.follow_c = x.c;
	submit(&x, "/v2/queued", &queued, 0, 0);
	reg_engine_set_hook(x.e, cancel_hook, &k);
	t0 = mhd_now_ms();
	cr_assert_eq(reg_engine_run(x.e), 0);
	/* a guard against a hang, not a measure: the body takes ~16 s */
	cr_assert_lt(mhd_now_ms() - t0, 20000);
	cr_assert(k.cancelled_at > 0);
	assert_cancelled(&stall);
	cr_assert(strstr(stall.msg, "GET /v2/stall"), "%s", stall.msg);
	assert_cancelled(&queued);
	/* its callback's follow-up was refused, not queued */
	cr_assert_eq(queued.follow_rc, ERR_FAIL);
	cr_assert_eq(mhd_count(&x.srv, "GET /v2/queued"), 0);
	cr_assert_eq(mhd_count(&x.srv, "GET /v2/follow-up"), 0);
	reg_engine_stats(x.e, &st);
	cr_assert_eq(st.in_flight, 0);
	cr_assert_eq(st.queued, 0);
	cr_assert_eq(st.done, 2);
	cr_assert_eq(st.failed, 2);
	/* cancelled for good: no new job, run returns at once */
	cr_assert(reg_engine_cancelled(x.e));
	memset(&q, 0, sizeof(q));
	q.client = x.c;
	q.url = "/v2/later";
	q.done = on_done;
	q.ctx = &queued;
	cr_assert_eq(reg_engine_submit(x.e, &q, &e), ERR_FAIL);
	cr_assert(strstr(e.msg, "cancelled (test stop)"), "%s", e.msg);
	cr_assert_eq(reg_engine_run(x.e), 0);
	cr_assert_eq(queued.n, 1);
	reg_engine_set_hook(x.e, NULL, NULL);
	hfix_stop(&x);
}

/* The first job got its 429 and backs off for the Retry-After (60 s);
 * the registry's hold keeps the second one queued. */
static int held_back(struct canceller *k)
{
	struct reg_engine_stats st;

	reg_engine_stats(k->x->e, &st);
	return st.retries >= 1 && st.in_flight == 0 && st.queued == 2;
}

Test(reg_engine_hook, cancel_all_ends_a_retry_after_hold)
{
	struct hfix x;
	struct canceller k = {0};
	struct done limited = {0}, held = {0};
	long long t0;

	hfix_start(&x, 0);
	k.x = &x;
	k.ready = held_back;
	submit(&x, "/v2/limited", &limited, 0, 0);
	submit(&x, "/v2/held", &held, 0, 0);
	reg_engine_set_hook(x.e, cancel_hook, &k);
	t0 = mhd_now_ms();
	cr_assert_eq(reg_engine_run(x.e), 0);
	cr_assert_lt(mhd_now_ms() - t0, 20000); /* a guard: the hold is 60 s */
	cr_assert(k.cancelled_at > 0);
	assert_cancelled(&limited);
	cr_assert_eq(limited.attempts, 1);
	assert_cancelled(&held);
	cr_assert_eq(held.attempts, 0);
	cr_assert_eq(mhd_count(&x.srv, "GET /v2/limited"), 1);
	cr_assert_eq(mhd_count(&x.srv, "GET /v2/held"), 0);
	reg_engine_set_hook(x.e, NULL, NULL);
	hfix_stop(&x);
}

Test(reg_engine_hook, cancel_all_outside_run_ends_the_queue)
{
	struct hfix x;
	struct done a = {0}, b = {0};

	hfix_start(&x, 0);
	submit(&x, "/v2/a", &a, 0, 0);
	b.follow_c = x.c;
	submit(&x, "/v2/b", &b, 0, 0);
	reg_engine_cancel_all(x.e, "test stop");
	/* the callbacks came in the call */
	assert_cancelled(&a);
	assert_cancelled(&b);
	cr_assert_eq(b.follow_rc, ERR_FAIL);
	reg_engine_cancel_all(x.e, "again"); /* nothing more */
	cr_assert_eq(a.n, 1);
	cr_assert_eq(b.n, 1);
	cr_assert_eq(reg_engine_run(x.e), 0);
	cr_assert_eq(mhd_count(&x.srv, "GET"), 0);
	hfix_stop(&x);
}
