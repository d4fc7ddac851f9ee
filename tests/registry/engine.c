/* registry/engine.h against a scripted loopback server (mhdfix.h): the
 * per-host and global limits, single-flight token fetches, Retry-After
 * holding back a whole host, retries, jobs submitted from callbacks, the
 * async client calls (pagination, digest checks, the referrers fallback)
 * and sink jobs resuming with Range. Every test asserts on values the
 * server or the engine counted, not on how long anything took. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mhdfix.h"
#include "oci/mediatype.h"
#include "oci/vec.h"
#include "registry/client.h"
#include "registry/engine.h"
#include "registry/pool.h"
#include "registry/transfer.h"

#define MANIFEST_BODY                                                          \
	"{\"schemaVersion\":2,\"mediaType\":\"" MT_OCI_MANIFEST                \
	"\",\"config\":{},\"layers\":[]}"

struct efix {
	struct mhd_fix srv;
	struct reg_options opt;
	struct reg_client *c;
};

static void quiet(void *ctx, enum reg_log_level l, const char *m)
{
	(void)ctx;
	(void)l;
	(void)m;
}

/* A server running script, and a client for it over plain http with
 * max_conns connections, fast retries and no credentials. */
static void efix_start(struct efix *x, mhd_script script, void *ctx,
		       int hold_ms, int max_conns)
{
	struct reg_host_options h;
	struct err e;

	memset(x, 0, sizeof(*x));
	setenv("DOCKER_CONFIG", "/nonexistent-ocimirror-test", 1);
	unsetenv("REGISTRY_AUTH_FILE");
	unsetenv("XDG_RUNTIME_DIR");
	unsetenv("OCIMIRROR_INSECURE_REGISTRIES");
	mhd_start(&x->srv, script, ctx, hold_ms);
	reg_options_init(&x->opt);
	x->opt.retries = 5;
	x->opt.retry_base_ms = 10;
	x->opt.retry_after_max = 60;
	x->opt.stall_timeout = 10;
	x->opt.connect_timeout = 10;
	x->opt.max_connections = 6;
	x->opt.log = quiet;
	cr_assert_eq(reg_client_new(&x->c, x->srv.host, &x->opt, &e), 0, "%s",
		     e.msg);
	memset(&h, 0, sizeof(h));
	h.tls = REG_TLS_PLAIN;
	h.max_connections = max_conns;
	cr_assert_eq(reg_client_configure(x->c, &h, &e), 0, "%s", e.msg);
	cr_assert(reg_client_engine(x->c));
}

static void efix_stop(struct efix *x)
{
	reg_client_free(x->c);
	x->c = NULL;
	mhd_stop(&x->srv);
}

/* The repository of "/v2/REPO/KIND/..." into repo, and what follows
 * KIND/ (NULL when path is not of that form). */
static const char *v2_split(const char *path, const char *kind, char *repo,
			    size_t cap)
{
	char mid[64];
	const char *p;

	if (strncmp(path, "/v2/", 4))
		return NULL;
	snprintf(mid, sizeof(mid), "/%s/", kind);
	p = strstr(path + 4, mid);
	if (!p)
		return NULL;
	snprintf(repo, cap, "%.*s", (int)(p - path - 4), path + 4);
	return p + strlen(mid);
}

/* Every manifest exists; no authentication. */
static void open_script(struct mhd_fix *f, const struct mhd_req *rq,
			struct mhd_ans *a)
{
	char repo[200];

	(void)f;
	if (v2_split(rq->path, "manifests", repo, sizeof(repo))) {
		struct oci_digest d;

		mhd_ans_body(a, 200, MT_OCI_MANIFEST, MANIFEST_BODY);
		oci_digest_of(&d, OCI_SHA256, MANIFEST_BODY,
			      strlen(MANIFEST_BODY));
		mhd_ans_header(a, "Docker-Content-Digest", d.str);
	}
}

/* Every manifest exists, behind Bearer tokens per repository. */
static void bearer_script(struct mhd_fix *f, const struct mhd_req *rq,
			  struct mhd_ans *a)
{
	char repo[200];

	if (mhd_token_endpoint(f, rq, a))
		return;
	if (!v2_split(rq->path, "manifests", repo, sizeof(repo)))
		return;
	if (mhd_bearer_ok(f, rq, a, repo))
		mhd_ans_body(a, 200, MT_OCI_MANIFEST, MANIFEST_BODY);
}

/* What manifest callbacks saw. */
struct tally {
	int done, ok, digests, sized, typed;
	int last_rc;
	char last_err[ERR_MSG_MAX];
};

static void tally_manifest(void *ctx, int rc, struct reg_manifest *m,
			   int64_t size, const struct err *err)
{
	struct tally *t = ctx;

	t->done++;
	t->last_rc = rc;
	if (rc) {
		snprintf(t->last_err, sizeof(t->last_err), "%s", err->msg);
		return;
	}
	t->ok++;
	if (size == (int64_t)strlen(MANIFEST_BODY))
		t->sized++;
	if (m->content_type && !strcmp(m->content_type, MT_OCI_MANIFEST) &&
	    m->has_digest)
		t->typed++;
	if (m->body && m->len == strlen(MANIFEST_BODY) &&
	    !memcmp(m->body, MANIFEST_BODY, m->len))
		t->digests++;
}

static void heads(struct efix *x, int n, struct tally *t)
{
	char tag[32];
	struct err e;

	for (int i = 0; i < n; i++) {
		snprintf(tag, sizeof(tag), "t%d", i);
		cr_assert_eq(reg_client_head_manifest_async(
				 x->c, "team/app", tag, tally_manifest, t, &e),
			     0, "%s", e.msg);
	}
}

/* --- 1. limits --- */

Test(reg_engine, heads_to_one_host_overlap_up_to_its_connections)
{
	struct efix x;
	struct tally t = {0};
	struct reg_engine_stats st;

	efix_start(&x, open_script, NULL, 20, 8);
	x.srv.await_n = 2;
	x.srv.await_ms = 300;
	heads(&x, 40, &t);
	cr_assert_eq(reg_engine_run(reg_client_engine(x.c)), 0);
	cr_assert_eq(t.done, 40);
	cr_assert_eq(t.ok, 40, "%s", t.last_err);
	cr_assert_eq(t.sized, 40);
	cr_assert_eq(t.typed, 40);
	cr_assert_eq(t.digests, 0); /* HEADs: no body */
	cr_assert_eq(mhd_count(&x.srv, "HEAD"), 40);
	cr_assert_eq(mhd_count(&x.srv, "GET"), 0);
	cr_assert_gt(atomic_load(&x.srv.max_in_flight), 1);
	cr_assert_leq(atomic_load(&x.srv.max_in_flight), 8);
	reg_engine_stats(reg_client_engine(x.c), &st);
	cr_assert_eq(st.done, 40);
	cr_assert_eq(st.failed, 0);
	cr_assert_leq(st.peak_in_flight, 8);
	cr_assert_eq(st.in_flight, 0);
	cr_assert_eq(st.queued, 0);
	efix_stop(&x);
}

Test(reg_engine, the_global_limit_caps_requests_in_flight)
{
	struct efix x;
	struct tally t = {0};
	struct reg_engine_limits lim = {.max_in_flight = 4};
	struct reg_engine_stats st;

	efix_start(&x, open_script, NULL, 20, 8);
	x.srv.await_n = 2;
	x.srv.await_ms = 300;
	reg_engine_set_limits(reg_client_engine(x.c), &lim);
	heads(&x, 40, &t);
	cr_assert_eq(reg_engine_run(reg_client_engine(x.c)), 0);
	cr_assert_eq(t.ok, 40, "%s", t.last_err);
	cr_assert_eq(mhd_count(&x.srv, "HEAD"), 40);
	cr_assert_gt(atomic_load(&x.srv.max_in_flight), 1);
	cr_assert_leq(atomic_load(&x.srv.max_in_flight), 4);
	reg_engine_stats(reg_client_engine(x.c), &st);
	cr_assert_leq(st.peak_in_flight, 4);
	efix_stop(&x);
}

Test(reg_engine, one_request_goes_until_the_host_has_answered)
{
	struct efix x;
	struct tally t = {0};

	/* the first answer teaches the scheme: before it, nothing else
	 * goes, so a Bearer registry sees exactly one 401 */
	efix_start(&x, bearer_script, NULL, 5, 8);
	heads(&x, 10, &t);
	cr_assert_eq(reg_engine_run(reg_client_engine(x.c)), 0);
	cr_assert_eq(t.ok, 10, "%s", t.last_err);
	cr_assert_eq(mhd_count(&x.srv, "401"), 1);
	cr_assert_eq(mhd_count(&x.srv, "HEAD"), 11);
	efix_stop(&x);
}

/* --- 2. single-flight tokens --- */

Test(reg_engine, fifty_gets_behind_bearer_fetch_one_token)
{
	struct efix x;
	struct tally t = {0};
	char tag[32];
	struct err e;

	efix_start(&x, bearer_script, NULL, 5, 8);
	for (int i = 0; i < 50; i++) {
		snprintf(tag, sizeof(tag), "t%d", i);
		cr_assert_eq(reg_client_get_manifest_async(
				 x.c, "team/app", tag, tally_manifest, &t, &e),
			     0, "%s", e.msg);
	}
	cr_assert_eq(reg_engine_run(reg_client_engine(x.c)), 0);
	cr_assert_eq(t.done, 50);
	cr_assert_eq(t.ok, 50, "%s", t.last_err);
	cr_assert_eq(t.digests, 50);
	cr_assert_eq(mhd_count(&x.srv, "token repository:team/app:pull"), 1);
	cr_assert_eq(mhd_count(&x.srv, "GET /token"), 1);
	/* 50 with the token, and the one that learnt the challenge */
	cr_assert_eq(mhd_count(&x.srv, "GET"), 52);
	efix_stop(&x);
}

Test(reg_engine, three_repositories_fetch_one_token_per_scope)
{
	static const char *const repos[] = {"one", "two/x", "three"};
	struct efix x;
	struct tally t = {0};
	char tag[32], key[100];
	struct err e;

	efix_start(&x, bearer_script, NULL, 5, 8);
	for (int i = 0; i < 60; i++) {
		snprintf(tag, sizeof(tag), "t%d", i);
		cr_assert_eq(reg_client_get_manifest_async(x.c, repos[i % 3],
							   tag, tally_manifest,
							   &t, &e),
			     0, "%s", e.msg);
	}
	cr_assert_eq(reg_engine_run(reg_client_engine(x.c)), 0);
	cr_assert_eq(t.ok, 60, "%s", t.last_err);
	for (int i = 0; i < 3; i++) {
		snprintf(key, sizeof(key), "token repository:%s:pull",
			 repos[i]);
		cr_assert_eq(mhd_count(&x.srv, key), 1, "%s", key);
	}
	cr_assert_eq(mhd_count(&x.srv, "GET /token"), 3);
	efix_stop(&x);
}

/* --- 3. Retry-After holds back the host --- */

/* The first request gets `status` with Retry-After: 1; the rest 200. */
static void slow_down_script(struct mhd_fix *f, const struct mhd_req *rq,
			     struct mhd_ans *a)
{
	int status = *(const int *)f->ctx;

	if (rq->seq == 0) {
		mhd_ans_body(a, status, "application/json", "{\"errors\":[]}");
		mhd_ans_header(a, "Retry-After", "1");
		return;
	}
	mhd_ans_body(a, 200, MT_OCI_MANIFEST, MANIFEST_BODY);
}

struct jobres {
	int done, result, attempts;
	long status;
	char msg[ERR_MSG_MAX];
};

static void jobres_done(struct reg_job *j, void *ctx)
{
	struct jobres *r = ctx;
	struct reg_response *resp = reg_job_response(j);

	r->done++;
	r->result = reg_job_result(j);
	r->attempts = reg_job_attempts(j);
	r->status = resp ? resp->status : 0;
	snprintf(r->msg, sizeof(r->msg), "%s", reg_job_err(j)->msg);
}

static void submit_get(struct efix *x, const char *path, struct jobres *r)
{
	struct reg_req q;
	struct err e;

	memset(&q, 0, sizeof(q));
	q.client = x->c;
	q.method = "GET";
	q.url = path;
	q.repo = "r";
	q.done = jobres_done;
	q.ctx = r;
	cr_assert_eq(reg_engine_submit(reg_client_engine(x->c), &q, &e), 0,
		     "%s", e.msg);
}

static void retry_after_holds_the_host(int status)
{
	struct efix x;
	struct jobres r[5];
	char path[64];
	long long answered;
	int early = 0, later = 0;

	memset(r, 0, sizeof(r));
	efix_start(&x, slow_down_script, &status, 0, 8);
	for (int i = 0; i < 5; i++) {
		snprintf(path, sizeof(path), "/v2/r/manifests/t%d", i);
		submit_get(&x, path, &r[i]);
	}
	cr_assert_eq(reg_engine_run(reg_client_engine(x.c)), 0);
	for (int i = 0; i < 5; i++) {
		cr_assert_eq(r[i].done, 1);
		cr_assert_eq(r[i].result, 0, "%s", r[i].msg);
		cr_assert_eq(r[i].status, 200);
	}
	cr_assert_eq(r[0].attempts, 2);
	for (int i = 1; i < 5; i++)
		cr_assert_eq(r[i].attempts, 1);
	cr_assert_eq(x.srv.n_log, 6);
	cr_assert_eq(x.srv.log[0].status, status);
	cr_assert_str_eq(x.srv.log[0].key, "GET /v2/r/manifests/t0");
	/* nothing reached the host within 0.9 s of the answer that asked
	 * for 1 s: not the retry, not the other jobs */
	answered = x.srv.log[0].answered_ms;
	for (int i = 1; i < x.srv.n_log; i++) {
		if (x.srv.log[i].arrived_ms < answered + 900)
			early++;
		else
			later++;
	}
	cr_assert_eq(early, 0);
	cr_assert_eq(later, 5);
	efix_stop(&x);
}

Test(reg_engine, retry_after_on_a_429_holds_back_the_whole_host)
{
	retry_after_holds_the_host(429);
}

Test(reg_engine, retry_after_on_a_503_holds_back_the_whole_host)
{
	retry_after_holds_the_host(503);
}

/* --- 4. retries --- */

static void flaky_script(struct mhd_fix *f, const struct mhd_req *rq,
			 struct mhd_ans *a)
{
	int *flaky_seen = f->ctx;

	if (!strcmp(rq->path, "/v2/r/manifests/flaky")) {
		if ((*flaky_seen)++ < 2)
			mhd_ans_body(a, 502, "text/plain", "bad gateway");
		else
			mhd_ans_body(a, 200, MT_OCI_MANIFEST, MANIFEST_BODY);
	} else if (!strcmp(rq->path, "/v2/r/manifests/down")) {
		mhd_ans_body(a, 503, "text/plain", "unavailable");
	}
}

Test(reg_engine, two_5xx_then_200_succeeds_on_the_third_attempt)
{
	struct efix x;
	struct jobres r = {0};
	int seen = 0;

	efix_start(&x, flaky_script, &seen, 0, 8);
	submit_get(&x, "/v2/r/manifests/flaky", &r);
	cr_assert_eq(reg_engine_run(reg_client_engine(x.c)), 0);
	cr_assert_eq(r.done, 1);
	cr_assert_eq(r.result, 0, "%s", r.msg);
	cr_assert_eq(r.status, 200);
	cr_assert_eq(r.attempts, 3);
	cr_assert_eq(mhd_count(&x.srv, "GET /v2/r/manifests/flaky"), 3);
	efix_stop(&x);
}

Test(reg_engine, exhausted_retries_fail_naming_the_url)
{
	struct efix x;
	struct jobres r = {0};
	struct reg_engine_stats st;
	int seen = 0;

	efix_start(&x, flaky_script, &seen, 0, 8);
	x.opt.retries = 2;
	submit_get(&x, "/v2/r/manifests/down", &r);
	cr_assert_eq(reg_engine_run(reg_client_engine(x.c)), 0);
	cr_assert_eq(r.done, 1);
	cr_assert_eq(r.result, ERR_FAIL);
	cr_assert_eq(r.attempts, 3);
	cr_assert(strstr(r.msg, "/v2/r/manifests/down"), "%s", r.msg);
	cr_assert(strstr(r.msg, "503"), "%s", r.msg);
	cr_assert_eq(mhd_count(&x.srv, "GET /v2/r/manifests/down"), 3);
	reg_engine_stats(reg_client_engine(x.c), &st);
	cr_assert_eq(st.failed, 1);
	cr_assert_eq(st.retries, 2);
	efix_stop(&x);
}

/* --- 5. callbacks that submit --- */

struct chain {
	struct efix *x;
	int levels[3];
	int nested_run;
	int failed;
};

struct link {
	struct chain *ch;
	int level, i;
};

static void chain_done(struct reg_job *j, void *ctx);

static void chain_submit(struct chain *ch, int level, int i)
{
	struct link *l = calloc(1, sizeof(*l));
	struct reg_req q;
	char path[100];
	struct err e;

	cr_assert(l);
	l->ch = ch;
	l->level = level;
	l->i = i;
	snprintf(path, sizeof(path), "/v2/r/manifests/%s-%d",
		 level == 0   ? "index"
		 : level == 1 ? "child"
			      : "referrers",
		 i);
	memset(&q, 0, sizeof(q));
	q.client = ch->x->c;
	q.url = path;
	q.repo = "r";
	q.done = chain_done;
	q.ctx = l;
	cr_assert_eq(reg_engine_submit(reg_client_engine(ch->x->c), &q, &e), 0,
		     "%s", e.msg);
}

/* index -> 3 children -> a referrers list each, like a pull */
static void chain_done(struct reg_job *j, void *ctx)
{
	struct link *l = ctx;
	struct chain *ch = l->ch;

	if (reg_job_result(j) || reg_job_response(j)->status != 200)
		ch->failed++;
	ch->levels[l->level]++;
	if (l->level == 0) {
		ch->nested_run = reg_engine_run(reg_client_engine(ch->x->c));
		for (int i = 0; i < 3; i++)
			chain_submit(ch, 1, i);
	} else if (l->level == 1) {
		chain_submit(ch, 2, l->i);
	}
	free(l);
}

Test(reg_engine, jobs_submitted_from_callbacks_finish_in_the_same_run)
{
	struct efix x;
	struct chain ch;
	struct reg_engine_stats st;

	memset(&ch, 0, sizeof(ch));
	ch.x = &x;
	efix_start(&x, open_script, NULL, 5, 8);
	chain_submit(&ch, 0, 0);
	cr_assert_eq(reg_engine_run(reg_client_engine(x.c)), 0);
	cr_assert_eq(ch.levels[0], 1);
	cr_assert_eq(ch.levels[1], 3);
	cr_assert_eq(ch.levels[2], 3);
	cr_assert_eq(ch.failed, 0);
	cr_assert_eq(ch.nested_run, ERR_FAIL);
	cr_assert_eq(mhd_count(&x.srv, "GET"), 7);
	cr_assert_eq(mhd_count(&x.srv, "GET /v2/r/manifests/referrers-2"), 1);
	reg_engine_stats(reg_client_engine(x.c), &st);
	cr_assert_eq(st.done, 7);
	cr_assert_eq(st.queued, 0);
	/* and a run with nothing to do returns at once */
	cr_assert_eq(reg_engine_run(reg_client_engine(x.c)), 0);
	efix_stop(&x);
}

/* --- 6. the async client calls --- */

static void tags_script(struct mhd_fix *f, const struct mhd_req *rq,
			struct mhd_ans *a)
{
	const char *last = mhd_arg(rq, "last");
	char link[200];

	(void)f;
	if (strcmp(rq->path, "/v2/r/tags/list"))
		return;
	if (!last) {
		mhd_ans_body(a, 200, "application/json",
			     "{\"name\":\"r\",\"tags\":[\"a\",\"b\"]}");
		last = "b";
	} else if (!strcmp(last, "b")) {
		mhd_ans_body(a, 200, "application/json",
			     "{\"name\":\"r\",\"tags\":[\"c\",\"d\"]}");
		last = "d";
	} else if (!strcmp(last, "d")) {
		mhd_ans_body(a, 200, "application/json",
			     "{\"name\":\"r\",\"tags\":[\"e\"]}");
		return;
	} else {
		return;
	}
	snprintf(link, sizeof(link),
		 "</v2/r/tags/list?n=2&last=%s>; rel=\"next\"", last);
	mhd_ans_header(a, "Link", link);
}

struct tags_got {
	int done, rc;
	char joined[200];
	size_t n;
};

static void tags_done(void *ctx, int rc, char **list, size_t n,
		      const struct err *err)
{
	struct tags_got *g = ctx;

	(void)err;
	g->done++;
	g->rc = rc;
	g->n = n;
	for (size_t i = 0; i < n; i++) {
		size_t len = strlen(g->joined);

		snprintf(g->joined + len, sizeof(g->joined) - len, "%s%s",
			 i ? "," : "", list[i]);
	}
	cr_assert(rc || list[n] == NULL);
	oci_strv_free(list);
}

Test(reg_engine, tag_lists_follow_link_pagination_in_order)
{
	struct efix x;
	struct tags_got g;
	struct err e;

	memset(&g, 0, sizeof(g));
	efix_start(&x, tags_script, NULL, 0, 8);
	cr_assert_eq(reg_client_list_tags_async(x.c, "r", tags_done, &g, &e), 0,
		     "%s", e.msg);
	cr_assert_eq(reg_engine_run(reg_client_engine(x.c)), 0);
	cr_assert_eq(g.done, 1);
	cr_assert_eq(g.rc, 0);
	cr_assert_eq(g.n, 5);
	cr_assert_str_eq(g.joined, "a,b,c,d,e");
	cr_assert_eq(mhd_count(&x.srv, "GET /v2/r/tags/list"), 3);
	efix_stop(&x);
}

#define BODY_A "{\"schemaVersion\":2,\"a\":1}"
#define BODY_B "{\"schemaVersion\":2,\"b\":2}"

/* Serves BODY_A for every reference; the tag "lying" says it is BODY_B's
 * digest. */
static void digest_script(struct mhd_fix *f, const struct mhd_req *rq,
			  struct mhd_ans *a)
{
	struct oci_digest b;
	char repo[64];
	const char *ref = v2_split(rq->path, "manifests", repo, sizeof(repo));

	(void)f;
	if (!ref)
		return;
	mhd_ans_body(a, 200, MT_OCI_MANIFEST, BODY_A);
	if (!strcmp(ref, "lying")) {
		oci_digest_of(&b, OCI_SHA256, BODY_B, strlen(BODY_B));
		mhd_ans_header(a, "Docker-Content-Digest", b.str);
	}
}

struct manifest_got {
	int done, rc;
	char body[200];
	char msg[ERR_MSG_MAX];
};

static void manifest_got(void *ctx, int rc, struct reg_manifest *m,
			 int64_t size, const struct err *err)
{
	struct manifest_got *g = ctx;

	(void)size;
	g->done++;
	g->rc = rc;
	if (!rc)
		snprintf(g->body, sizeof(g->body), "%.*s", (int)m->len,
			 m->body);
	else
		snprintf(g->msg, sizeof(g->msg), "%s", err->msg);
}

Test(reg_engine, async_manifest_gets_verify_the_digest)
{
	struct efix x;
	struct manifest_got ok, bad, lying;
	struct oci_digest da, db;
	struct err e;

	memset(&ok, 0, sizeof(ok));
	memset(&bad, 0, sizeof(bad));
	memset(&lying, 0, sizeof(lying));
	oci_digest_of(&da, OCI_SHA256, BODY_A, strlen(BODY_A));
	oci_digest_of(&db, OCI_SHA256, BODY_B, strlen(BODY_B));
	efix_start(&x, digest_script, NULL, 0, 8);
	cr_assert_eq(reg_client_get_manifest_async(x.c, "r", da.str,
						   manifest_got, &ok, &e),
		     0);
	cr_assert_eq(reg_client_get_manifest_async(x.c, "r", db.str,
						   manifest_got, &bad, &e),
		     0);
	cr_assert_eq(reg_client_get_manifest_async(x.c, "r", "lying",
						   manifest_got, &lying, &e),
		     0);
	cr_assert_eq(reg_engine_run(reg_client_engine(x.c)), 0);
	cr_assert_eq(ok.done, 1);
	cr_assert_eq(ok.rc, 0, "%s", ok.msg);
	cr_assert_str_eq(ok.body, BODY_A);
	cr_assert_eq(bad.done, 1);
	cr_assert_eq(bad.rc, ERR_DIGEST);
	cr_assert(strstr(bad.msg, db.str), "%s", bad.msg);
	cr_assert_eq(lying.done, 1);
	cr_assert_eq(lying.rc, ERR_DIGEST);
	cr_assert(strstr(lying.msg, "lying"), "%s", lying.msg);
	efix_stop(&x);
}

#define REFERRERS_IDX                                                          \
	"{\"schemaVersion\":2,\"mediaType\":\"" MT_OCI_INDEX                   \
	"\",\"manifests\":[{\"mediaType\":\"" MT_OCI_MANIFEST                  \
	"\",\"digest\":\"sha256:"                                              \
	"0000000000000000000000000000000000000000000000000000000000000000\","  \
	"\"size\":2}]}"

/* Subjects: "api" has the referrers API, "tag" only the fallback tag,
 * "none" neither. f->ctx holds their digests. */
static void referrers_script(struct mhd_fix *f, const struct mhd_req *rq,
			     struct mhd_ans *a)
{
	const struct oci_digest *d = f->ctx; /* api, tag, none */
	char repo[64], tag[140];
	const char *ref;

	if ((ref = v2_split(rq->path, "referrers", repo, sizeof(repo)))) {
		if (!strcmp(ref, d[0].str))
			mhd_ans_body(a, 200, MT_OCI_INDEX, REFERRERS_IDX);
		return;
	}
	ref = v2_split(rq->path, "manifests", repo, sizeof(repo));
	snprintf(tag, sizeof(tag), "sha256-%s", oci_digest_hex(&d[1]));
	if (ref && !strcmp(ref, tag))
		mhd_ans_body(a, 200, MT_OCI_INDEX, REFERRERS_IDX);
}

struct buf_got {
	int done, rc;
	char body[1024];
};

static void buf_got(void *ctx, int rc, struct buf *body, const struct err *err)
{
	struct buf_got *g = ctx;

	(void)err;
	g->done++;
	g->rc = rc;
	if (!rc)
		snprintf(g->body, sizeof(g->body), "%.*s", (int)body->len,
			 body->data);
}

Test(reg_engine, async_referrers_fall_back_to_the_tag_then_to_empty)
{
	struct efix x;
	struct oci_digest d[3];
	struct buf_got api, tag, none;
	char path[200];
	struct err e;

	memset(&api, 0, sizeof(api));
	memset(&tag, 0, sizeof(tag));
	memset(&none, 0, sizeof(none));
	oci_digest_of(&d[0], OCI_SHA256, "api", 3);
	oci_digest_of(&d[1], OCI_SHA256, "tag", 3);
	oci_digest_of(&d[2], OCI_SHA256, "none", 4);
	efix_start(&x, referrers_script, d, 0, 8);
	cr_assert_eq(
	    reg_client_referrers_async(x.c, "r", &d[0], buf_got, &api, &e), 0);
	cr_assert_eq(
	    reg_client_referrers_async(x.c, "r", &d[1], buf_got, &tag, &e), 0);
	cr_assert_eq(
	    reg_client_referrers_async(x.c, "r", &d[2], buf_got, &none, &e), 0);
	cr_assert_eq(reg_engine_run(reg_client_engine(x.c)), 0);
	cr_assert_eq(api.done, 1);
	cr_assert_eq(api.rc, 0);
	cr_assert_str_eq(api.body, REFERRERS_IDX);
	cr_assert_eq(tag.done, 1);
	cr_assert_eq(tag.rc, 0);
	cr_assert_str_eq(tag.body, REFERRERS_IDX);
	cr_assert_eq(none.done, 1);
	cr_assert_eq(none.rc, 0);
	cr_assert(strstr(none.body, "\"manifests\":[]"), "%s", none.body);
	cr_assert(strstr(none.body, MT_OCI_INDEX), "%s", none.body);
	/* the API subject needed no fallback request */
	snprintf(path, sizeof(path), "GET /v2/r/manifests/sha256-%s",
		 oci_digest_hex(&d[0]));
	cr_assert_eq(mhd_count(&x.srv, path), 0);
	snprintf(path, sizeof(path), "GET /v2/r/manifests/sha256-%s",
		 oci_digest_hex(&d[1]));
	cr_assert_eq(mhd_count(&x.srv, path), 1);
	snprintf(path, sizeof(path), "GET /v2/r/manifests/sha256-%s",
		 oci_digest_hex(&d[2]));
	cr_assert_eq(mhd_count(&x.srv, path), 1);
	cr_assert_eq(mhd_count(&x.srv, "GET"), 5);
	efix_stop(&x);
}

/* --- 7. sink jobs resume with Range --- */

#define BLOB_LEN (1024 * 1024)
#define BLOB_HALF (BLOB_LEN / 2)

struct blobsrv {
	char *data;
	struct oci_digest digest;
	int ignore_range; /* answer 200 with the whole blob every time */
	int drop_twice;	  /* at 1/4 without a Range, at 1/2 with the first */
	int bearer;	  /* behind a Bearer token, as bearer_script */
	int plain_gets;	  /* requests without a Range */
	long long ranges[8];
	int n_ranges;
};

/* The first plain GET is cut at BLOB_HALF, the connection closed. */
static void blob_script(struct mhd_fix *f, const struct mhd_req *rq,
			struct mhd_ans *a)
{
	struct blobsrv *b = f->ctx;
	char path[200];
	long long from;

	if (b->bearer && mhd_token_endpoint(f, rq, a))
		return;
	snprintf(path, sizeof(path), "/v2/r/blobs/%s", b->digest.str);
	if (strcmp(rq->path, path))
		return;
	if (b->bearer && !mhd_bearer_ok(f, rq, a, "r"))
		return;
	if (b->ignore_range) {
		a->status = 200;
		a->body = b->data;
		a->len = BLOB_LEN;
		from = mhd_header(rq, "Range") ? 0 : -1;
	} else {
		mhd_serve_range(rq, a, b->data, BLOB_LEN, &from);
	}
	if (from >= 0) {
		if (b->drop_twice && b->n_ranges == 0)
			a->drop_at = BLOB_LEN / 4;
		if (b->n_ranges < 8)
			b->ranges[b->n_ranges++] = from;
	} else if (b->plain_gets++ == 0) {
		a->drop_at = b->drop_twice ? BLOB_LEN / 4 : BLOB_HALF;
	}
}

/* A sink in memory that verifies against a digest, counting what it is
 * given. */
struct msink {
	char *data;
	size_t len;
	uint64_t written; /* every byte ever written */
	int resets, finishes;
	struct oci_digest want;
};

static int msink_write(void *ctx, const void *p, size_t n, struct err *err)
{
	struct msink *s = ctx;

	if (s->len + n > BLOB_LEN)
		return err_set(err, ERR_TOO_LARGE, "sink: too many bytes");
	memcpy(s->data + s->len, p, n);
	s->len += n;
	s->written += n;
	return 0;
}

static int msink_reset(void *ctx, struct err *err)
{
	struct msink *s = ctx;

	(void)err;
	s->len = 0;
	s->resets++;
	return 0;
}

static uint64_t msink_offset(void *ctx)
{
	return ((struct msink *)ctx)->len;
}

static int msink_finish(void *ctx, struct err *err)
{
	struct msink *s = ctx;
	struct oci_digest got;

	s->finishes++;
	oci_digest_of(&got, OCI_SHA256, s->data, s->len);
	if (!oci_digest_equal(&got, &s->want))
		return err_set(err, ERR_DIGEST, "sink: digest mismatch");
	return 0;
}

static void blob_setup(struct blobsrv *b, struct msink *s,
		       struct reg_blob_job *job, struct reg_client *c)
{
	b->data = malloc(BLOB_LEN);
	cr_assert(b->data);
	for (size_t i = 0; i < BLOB_LEN; i++)
		b->data[i] = (char)((i * 131) ^ (i >> 9));
	oci_digest_of(&b->digest, OCI_SHA256, b->data, BLOB_LEN);
	memset(s, 0, sizeof(*s));
	s->data = malloc(BLOB_LEN);
	cr_assert(s->data);
	s->want = b->digest;
	memset(job, 0, sizeof(*job));
	job->client = c;
	job->repo = "r";
	job->digest = b->digest;
	job->size = BLOB_LEN;
	job->sink.write = msink_write;
	job->sink.reset = msink_reset;
	job->sink.offset = msink_offset;
	job->sink.finish = msink_finish;
	job->sink.ctx = s;
}

Test(reg_engine, a_dropped_blob_resumes_with_range_from_the_byte_reached)
{
	struct efix x;
	struct blobsrv b;
	struct msink s;
	struct reg_blob_job job;
	struct reg_transfer_opts o;

	memset(&b, 0, sizeof(b));
	memset(&o, 0, sizeof(o));
	efix_start(&x, blob_script, &b, 0, 8);
	blob_setup(&b, &s, &job, x.c);
	cr_assert_eq(reg_transfer_run(&job, 1, &o), 0, "%s", job.err.msg);
	cr_assert_eq(job.result, 0);
	cr_assert_eq(job.attempts, 2);
	cr_assert_eq(b.plain_gets, 1);
	cr_assert_eq(b.n_ranges, 1);
	cr_assert_eq(b.ranges[0], BLOB_HALF);
	/* the whole body once: nothing written twice, nothing thrown away */
	cr_assert_eq(s.len, BLOB_LEN);
	cr_assert_eq(s.written, BLOB_LEN);
	cr_assert_eq(s.resets, 0);
	cr_assert_eq(s.finishes, 1);
	cr_assert_eq(memcmp(s.data, b.data, BLOB_LEN), 0);
	free(s.data);
	free(b.data);
	efix_stop(&x);
}

Test(reg_engine, a_blob_dropped_twice_resumes_twice_from_each_offset)
{
	struct efix x;
	struct blobsrv b;
	struct msink s;
	struct reg_blob_job job;
	struct reg_transfer_opts o;

	memset(&b, 0, sizeof(b));
	memset(&o, 0, sizeof(o));
	b.drop_twice = 1;
	efix_start(&x, blob_script, &b, 0, 8);
	blob_setup(&b, &s, &job, x.c);
	cr_assert_eq(reg_transfer_run(&job, 1, &o), 0, "%s", job.err.msg);
	cr_assert_eq(job.attempts, 3);
	cr_assert_eq(b.n_ranges, 2);
	cr_assert_eq(b.ranges[0], BLOB_LEN / 4);
	cr_assert_eq(b.ranges[1], BLOB_HALF);
	cr_assert_eq(s.written, BLOB_LEN);
	cr_assert_eq(s.resets, 0);
	cr_assert_eq(s.finishes, 1);
	cr_assert_eq(memcmp(s.data, b.data, BLOB_LEN), 0);
	free(s.data);
	free(b.data);
	efix_stop(&x);
}

Test(reg_engine, a_blob_behind_bearer_gets_its_token_and_resumes_with_it)
{
	struct efix x;
	struct blobsrv b;
	struct msink s;
	struct reg_blob_job job;
	struct reg_transfer_opts o;

	memset(&b, 0, sizeof(b));
	memset(&o, 0, sizeof(o));
	b.bearer = 1;
	efix_start(&x, blob_script, &b, 0, 8);
	blob_setup(&b, &s, &job, x.c);
	cr_assert_eq(reg_transfer_run(&job, 1, &o), 0, "%s", job.err.msg);
	/* the 401, the dropped GET, the resumed one */
	cr_assert_eq(job.attempts, 3);
	cr_assert_eq(mhd_count(&x.srv, "401"), 1);
	cr_assert_eq(mhd_count(&x.srv, "token repository:r:pull"), 1);
	cr_assert_eq(b.n_ranges, 1);
	cr_assert_eq(b.ranges[0], BLOB_HALF);
	cr_assert_eq(s.written, BLOB_LEN);
	cr_assert_eq(s.resets, 0);
	cr_assert_eq(s.finishes, 1);
	free(s.data);
	free(b.data);
	efix_stop(&x);
}

struct submitted {
	int done, result;
};

static void submitted_done(void *ctx, struct reg_blob_job *job)
{
	struct submitted *d = ctx;

	d->done++;
	d->result = job->result;
}

Test(reg_engine, a_200_to_a_range_request_restarts_the_sink)
{
	struct efix x;
	struct blobsrv b;
	struct msink s;
	struct reg_blob_job job;
	struct submitted d = {0};

	memset(&b, 0, sizeof(b));
	b.ignore_range = 1;
	efix_start(&x, blob_script, &b, 0, 8);
	blob_setup(&b, &s, &job, x.c);
	cr_assert_eq(reg_transfer_submit(&job, submitted_done, &d), 0);
	cr_assert_eq(reg_engine_run(reg_client_engine(x.c)), 0);
	cr_assert_eq(d.done, 1);
	cr_assert_eq(d.result, 0, "%s", job.err.msg);
	cr_assert_eq(job.attempts, 2);
	cr_assert_eq(b.n_ranges, 1);
	cr_assert_eq(s.resets, 1);
	cr_assert_eq(s.len, BLOB_LEN);
	cr_assert_eq(s.written, BLOB_HALF + BLOB_LEN);
	cr_assert_eq(s.finishes, 1);
	cr_assert_eq(memcmp(s.data, b.data, BLOB_LEN), 0);
	free(s.data);
	free(b.data);
	efix_stop(&x);
}

/* --- small blobs, transfers: digests, the bulk limit, progress --- */

#define SMALL_GOOD "{\"architecture\":\"amd64\"}"
#define SMALL_BAD "{\"architecture\":\"evil\"}"

/* f->ctx: digests of SMALL_GOOD ("good": served right), "flip" (wrong
 * once, then right) and "bad" (always wrong). */
struct smallsrv {
	struct oci_digest good, bad;
	int flip_seen;
};

static void small_script(struct mhd_fix *f, const struct mhd_req *rq,
			 struct mhd_ans *a)
{
	struct smallsrv *b = f->ctx;
	char repo[64];
	const char *ref = v2_split(rq->path, "blobs", repo, sizeof(repo));

	if (!ref)
		return;
	if (!strcmp(repo, "good") && !strcmp(ref, b->good.str))
		mhd_ans_body(a, 200, "application/json", SMALL_GOOD);
	else if (!strcmp(repo, "flip") && !strcmp(ref, b->good.str))
		mhd_ans_body(a, 200, "application/json",
			     b->flip_seen++ ? SMALL_GOOD : SMALL_BAD);
	else if (!strcmp(repo, "bad") && !strcmp(ref, b->good.str))
		mhd_ans_body(a, 200, "application/json", SMALL_BAD);
}

Test(reg_engine, async_small_blobs_are_verified_and_fetched_once_more)
{
	struct efix x;
	struct smallsrv b;
	struct buf_got good, flip, bad, missing;
	struct err e;

	memset(&b, 0, sizeof(b));
	memset(&good, 0, sizeof(good));
	memset(&flip, 0, sizeof(flip));
	memset(&bad, 0, sizeof(bad));
	memset(&missing, 0, sizeof(missing));
	oci_digest_of(&b.good, OCI_SHA256, SMALL_GOOD, strlen(SMALL_GOOD));
	oci_digest_of(&b.bad, OCI_SHA256, SMALL_BAD, strlen(SMALL_BAD));
	efix_start(&x, small_script, &b, 0, 8);
	cr_assert_eq(reg_client_get_blob_async(x.c, "good", &b.good, 4096,
					       buf_got, &good, &e),
		     0);
	cr_assert_eq(reg_client_get_blob_async(x.c, "flip", &b.good, 4096,
					       buf_got, &flip, &e),
		     0);
	cr_assert_eq(reg_client_get_blob_async(x.c, "bad", &b.good, 4096,
					       buf_got, &bad, &e),
		     0);
	cr_assert_eq(reg_client_get_blob_async(x.c, "none", &b.good, 4096,
					       buf_got, &missing, &e),
		     0);
	cr_assert_eq(reg_engine_run(reg_client_engine(x.c)), 0);
	cr_assert_eq(good.done, 1);
	cr_assert_eq(good.rc, 0);
	cr_assert_str_eq(good.body, SMALL_GOOD);
	cr_assert_eq(flip.done, 1);
	cr_assert_eq(flip.rc, 0);
	cr_assert_str_eq(flip.body, SMALL_GOOD);
	cr_assert_eq(bad.done, 1);
	cr_assert_eq(bad.rc, ERR_DIGEST);
	cr_assert_eq(missing.done, 1);
	cr_assert_eq(missing.rc, ERR_NOT_FOUND);
	cr_assert_eq(b.flip_seen, 2);
	cr_assert_eq(mhd_count(&x.srv, "GET"), 1 + 2 + 2 + 1);
	efix_stop(&x);
}

/* The blob corrupted in transit `corrupt` times, then right. */
struct corruptsrv {
	struct blobsrv b;
	char *bad;
	int corrupt, gets;
};

static void corrupt_script(struct mhd_fix *f, const struct mhd_req *rq,
			   struct mhd_ans *a)
{
	struct corruptsrv *c = f->ctx;
	char path[200];

	snprintf(path, sizeof(path), "/v2/r/blobs/%s", c->b.digest.str);
	if (strcmp(rq->path, path))
		return;
	a->status = 200;
	a->body = c->gets++ < c->corrupt ? c->bad : c->b.data;
	a->len = BLOB_LEN;
}

/* A digest mismatch at the end restarts the blob once from zero. */
static void transfer_corrupt(int corrupt, int want_rc, int want_gets)
{
	struct efix x;
	struct corruptsrv c;
	struct msink s;
	struct reg_blob_job job;
	struct reg_transfer_opts o;

	memset(&c, 0, sizeof(c));
	memset(&o, 0, sizeof(o));
	c.corrupt = corrupt;
	efix_start(&x, corrupt_script, &c, 0, 8);
	blob_setup(&c.b, &s, &job, x.c);
	c.bad = malloc(BLOB_LEN);
	cr_assert(c.bad);
	memcpy(c.bad, c.b.data, BLOB_LEN);
	c.bad[BLOB_HALF] ^= 1;
	cr_assert_eq(reg_transfer_run(&job, 1, &o), want_rc ? ERR_FAIL : 0);
	cr_assert_eq(job.result, want_rc, "%s", job.err.msg);
	cr_assert_eq(c.gets, want_gets);
	cr_assert_eq(s.finishes, want_gets);
	cr_assert_eq(s.resets, 1);
	if (!want_rc) {
		cr_assert_eq(s.len, BLOB_LEN);
		cr_assert_eq(memcmp(s.data, c.b.data, BLOB_LEN), 0);
	} else {
		cr_assert(strstr(job.err.msg, x.srv.host), "%s", job.err.msg);
	}
	free(c.bad);
	free(s.data);
	free(c.b.data);
	efix_stop(&x);
}

Test(reg_engine, a_blob_corrupted_once_is_fetched_again_from_zero)
{
	transfer_corrupt(1, 0, 2);
}

Test(reg_engine, a_blob_corrupted_twice_fails_with_err_digest)
{
	transfer_corrupt(5, ERR_DIGEST, 2);
}

/* Six blobs; f->ctx holds them. */
struct manysrv {
	struct blobsrv b[6];
	size_t chunk;
	int chunk_ms;
};

static void many_script(struct mhd_fix *f, const struct mhd_req *rq,
			struct mhd_ans *a)
{
	struct manysrv *m = f->ctx;
	char path[200];
	long long from;

	for (int i = 0; i < 6; i++) {
		snprintf(path, sizeof(path), "/v2/r/blobs/%s",
			 m->b[i].digest.str);
		if (strcmp(rq->path, path))
			continue;
		mhd_serve_range(rq, a, m->b[i].data, BLOB_LEN, &from);
		a->chunk = m->chunk;
		a->chunk_ms = m->chunk_ms;
		return;
	}
}

struct progress_seen {
	int calls;
	uint64_t last_done, last_total, max_done;
	size_t last_jobs_done, jobs_total;
	int done_calls;
};

static void progress_fn(void *ctx, const struct reg_transfer_progress *p)
{
	struct progress_seen *ps = ctx;

	ps->calls++;
	ps->last_done = p->bytes_done;
	ps->last_total = p->bytes_total;
	if (p->bytes_done > ps->max_done)
		ps->max_done = p->bytes_done;
	ps->last_jobs_done = p->jobs_done;
	ps->jobs_total = p->jobs_total;
}

static void job_done_fn(void *ctx, struct reg_blob_job *job)
{
	struct progress_seen *ps = ctx;

	if (!job->result)
		ps->done_calls++;
}

static void many_setup(struct manysrv *m, struct msink *s,
		       struct reg_blob_job *jobs, struct reg_client *c)
{
	for (int i = 0; i < 6; i++) {
		blob_setup(&m->b[i], &s[i], &jobs[i], c);
		/* six different blobs */
		m->b[i].data[0] = (char)i;
		oci_digest_of(&m->b[i].digest, OCI_SHA256, m->b[i].data,
			      BLOB_LEN);
		s[i].want = m->b[i].digest;
		jobs[i].digest = m->b[i].digest;
	}
}

static void many_free(struct manysrv *m, struct msink *s)
{
	for (int i = 0; i < 6; i++) {
		free(m->b[i].data);
		free(s[i].data);
	}
}

Test(reg_engine, transfers_hold_to_their_concurrency)
{
	struct efix x;
	struct manysrv m;
	struct msink s[6];
	struct reg_blob_job jobs[6];
	struct reg_transfer_opts o;
	struct progress_seen ps;

	memset(&m, 0, sizeof(m));
	memset(&o, 0, sizeof(o));
	memset(&ps, 0, sizeof(ps));
	efix_start(&x, many_script, &m, 20, 8);
	x.srv.await_n = 2;
	x.srv.await_ms = 300;
	many_setup(&m, s, jobs, x.c);
	o.concurrency = 2;
	o.job_done = job_done_fn;
	o.ctx = &ps;
	cr_assert_eq(reg_transfer_run(jobs, 6, &o), 0);
	cr_assert_eq(ps.done_calls, 6);
	for (int i = 0; i < 6; i++) {
		cr_assert_eq(jobs[i].result, 0, "%s", jobs[i].err.msg);
		cr_assert_eq(s[i].written, BLOB_LEN);
		cr_assert_eq(s[i].finishes, 1);
	}
	cr_assert_eq(mhd_count(&x.srv, "GET"), 6);
	cr_assert_gt(atomic_load(&x.srv.max_in_flight), 1);
	cr_assert_leq(atomic_load(&x.srv.max_in_flight), 2);
	many_free(&m, s);
	efix_stop(&x);
}

Test(reg_engine, slow_bodies_arrive_whole_and_progress_ends_at_the_total)
{
	struct efix x;
	struct manysrv m;
	struct msink s[6];
	struct reg_blob_job jobs[6];
	struct reg_transfer_opts o;
	struct progress_seen ps;

	memset(&m, 0, sizeof(m));
	memset(&o, 0, sizeof(o));
	memset(&ps, 0, sizeof(ps));
	m.chunk = 64 * 1024;
	m.chunk_ms = 5;
	efix_start(&x, many_script, &m, 0, 8);
	many_setup(&m, s, jobs, x.c);
	o.concurrency = 3;
	o.progress = progress_fn;
	o.ctx = &ps;
	cr_assert_eq(reg_transfer_run(jobs, 6, &o), 0);
	for (int i = 0; i < 6; i++) {
		cr_assert_eq(jobs[i].result, 0, "%s", jobs[i].err.msg);
		cr_assert_eq(s[i].written, BLOB_LEN);
		cr_assert_eq(memcmp(s[i].data, m.b[i].data, BLOB_LEN), 0);
	}
	/* the last report is the whole run */
	cr_assert_geq(ps.calls, 1);
	cr_assert_eq(ps.last_total, 6ull * BLOB_LEN);
	cr_assert_eq(ps.last_done, 6ull * BLOB_LEN);
	cr_assert_eq(ps.max_done, 6ull * BLOB_LEN);
	cr_assert_eq(ps.jobs_total, 6);
	cr_assert_eq(ps.last_jobs_done, 6);
	many_free(&m, s);
	efix_stop(&x);
}

/* --- tokens revoked in the middle of a run --- */

/* Bearer per repository, tokens "tok-REPO.G": after `rotate_after`
 * answered manifests the server moves to the next G, so every token
 * handed out so far is refused. */
struct rotsrv {
	int gen, ok, rotate_after;
};

static void rotate_script(struct mhd_fix *f, const struct mhd_req *rq,
			  struct mhd_ans *a)
{
	static __thread char body[300];
	struct rotsrv *r = f->ctx;
	const char *scope = mhd_arg(rq, "scope"), *h;
	char repo[200], want[300], key[300], chal[300];

	if (!strcmp(rq->path, "/token")) {
		snprintf(key, sizeof(key), "token %s", scope ? scope : "");
		mhd_count_locked(f, key);
		if (!scope || sscanf(scope, "repository:%199[^:]:", repo) != 1)
			return;
		snprintf(body, sizeof(body), "{\"token\":\"tok-%s.%d\"}", repo,
			 r->gen);
		mhd_ans_body(a, 200, "application/json", body);
		return;
	}
	if (!v2_split(rq->path, "manifests", repo, sizeof(repo)))
		return;
	h = mhd_header(rq, "Authorization");
	snprintf(want, sizeof(want), "Bearer tok-%s.%d", repo, r->gen);
	if (!h || strcmp(h, want)) {
		mhd_count_locked(f, "401");
		snprintf(chal, sizeof(chal),
			 "Bearer realm=\"%s/token\",service=\"svc\"", f->base);
		mhd_ans_body(a, 401, "application/json", "{\"errors\":[]}");
		mhd_ans_header(a, "WWW-Authenticate", chal);
		return;
	}
	mhd_ans_body(a, 200, MT_OCI_MANIFEST, MANIFEST_BODY);
	if (++r->ok == r->rotate_after)
		r->gen++;
}

Test(reg_engine, revoked_tokens_are_fetched_again_once_per_scope)
{
	static const char *const repos[] = {"one",  "two",  "three",
					    "four", "five", "six"};
	struct efix x;
	struct rotsrv r = {.rotate_after = 20};
	struct tally t = {0};
	char tag[32], key[100];
	struct err e;

	efix_start(&x, rotate_script, &r, 5, 8);
	for (int i = 0; i < 120; i++) {
		snprintf(tag, sizeof(tag), "t%d", i);
		cr_assert_eq(reg_client_get_manifest_async(x.c, repos[i % 6],
							   tag, tally_manifest,
							   &t, &e),
			     0, "%s", e.msg);
	}
	cr_assert_eq(reg_engine_run(reg_client_engine(x.c)), 0);
	/* a 401 to a token the cache still holds drops it (one fetch per
	 * scope again); a 401 to one already replaced just goes again: no
	 * job fails, no scope is fetched more than once per generation */
	cr_assert_eq(t.done, 120);
	cr_assert_eq(t.ok, 120, "%s", t.last_err);
	cr_assert_eq(r.gen, 1);
	for (int i = 0; i < 6; i++) {
		snprintf(key, sizeof(key), "token repository:%s:pull",
			 repos[i]);
		/* 1: its first token came after the rotation already */
		cr_assert_geq(mhd_count(&x.srv, key), 1, "%s", key);
		cr_assert_leq(mhd_count(&x.srv, key), 2, "%s: %d", key,
			      mhd_count(&x.srv, key));
	}
	efix_stop(&x);
}

/* --- the token service failing --- */

/* Bearer per repository; the token service answers `fail_status` to the
 * first `fails` requests (all of them when fails < 0). */
struct toksrv {
	int fail_status, fails, seen;
};

static void failing_token_script(struct mhd_fix *f, const struct mhd_req *rq,
				 struct mhd_ans *a)
{
	struct toksrv *t = f->ctx;

	if (!strcmp(rq->path, "/token") &&
	    (t->fails < 0 || t->seen++ < t->fails)) {
		mhd_count_locked(f, "token refused");
		mhd_ans_body(a, t->fail_status, "application/json",
			     "{\"errors\":[]}");
		return;
	}
	bearer_script(f, rq, a);
}

Test(reg_engine, a_refused_token_fails_every_job_waiting_for_it_once)
{
	struct efix x;
	struct toksrv ts = {.fail_status = 401, .fails = -1};
	struct tally t = {0};

	efix_start(&x, failing_token_script, &ts, 5, 8);
	heads(&x, 10, &t);
	cr_assert_eq(reg_engine_run(reg_client_engine(x.c)), 0);
	cr_assert_eq(t.done, 10);
	cr_assert_eq(t.ok, 0);
	cr_assert_eq(t.last_rc, ERR_UNAUTHORIZED);
	cr_assert(strstr(t.last_err, "token service"), "%s", t.last_err);
	cr_assert_eq(mhd_count(&x.srv, "GET /token"), 1);
	cr_assert_eq(mhd_count(&x.srv, "HEAD"), 1);
	efix_stop(&x);
}

Test(reg_engine, a_token_service_5xx_is_retried_for_all_its_waiters)
{
	struct efix x;
	struct toksrv ts = {.fail_status = 503, .fails = 2};
	struct tally t = {0};

	efix_start(&x, failing_token_script, &ts, 5, 8);
	heads(&x, 10, &t);
	cr_assert_eq(reg_engine_run(reg_client_engine(x.c)), 0);
	cr_assert_eq(t.ok, 10, "%s", t.last_err);
	cr_assert_eq(mhd_count(&x.srv, "token refused"), 2);
	cr_assert_eq(mhd_count(&x.srv, "GET /token"), 3);
	cr_assert_eq(mhd_count(&x.srv, "token repository:team/app:pull"), 1);
	cr_assert_eq(mhd_count(&x.srv, "HEAD"), 11);
	efix_stop(&x);
}

/* --- several registries on one engine (a pool) --- */

Test(reg_engine, limits_hold_across_the_registries_of_a_pool)
{
	struct mhd_fix a, b;
	atomic_int group = 0, group_max = 0;
	struct reg_options opt;
	struct reg_host_options ho[2];
	struct reg_pool_host hosts[2];
	struct reg_pool pool;
	struct reg_client *ca, *cb;
	struct reg_engine_limits lim = {.max_in_flight = 4};
	struct tally ta = {0}, tb = {0};
	char tag[32];
	struct err e;

	setenv("DOCKER_CONFIG", "/nonexistent-ocimirror-test", 1);
	unsetenv("REGISTRY_AUTH_FILE");
	unsetenv("XDG_RUNTIME_DIR");
	mhd_start(&a, open_script, NULL, 20);
	mhd_start(&b, open_script, NULL, 20);
	a.group_in_flight = b.group_in_flight = &group;
	a.group_max = b.group_max = &group_max;
	a.await_n = b.await_n = 4;
	a.await_ms = b.await_ms = 100;
	reg_options_init(&opt);
	opt.retry_base_ms = 10;
	opt.log = quiet;
	memset(ho, 0, sizeof(ho));
	ho[0].tls = ho[1].tls = REG_TLS_PLAIN;
	ho[0].max_connections = 3;
	ho[1].max_connections = 3;
	hosts[0].host = a.host;
	hosts[0].opt = &ho[0];
	hosts[1].host = b.host;
	hosts[1].opt = &ho[1];
	reg_pool_init(&pool, &opt);
	reg_pool_set_hosts(&pool, hosts, 2);
	cr_assert_eq(reg_pool_get(&pool, &ca, a.host, &e), 0, "%s", e.msg);
	cr_assert_eq(reg_pool_get(&pool, &cb, b.host, &e), 0, "%s", e.msg);
	cr_assert_eq(reg_client_engine(ca), reg_client_engine(cb));
	reg_engine_set_limits(reg_client_engine(ca), &lim);
	for (int i = 0; i < 24; i++) {
		snprintf(tag, sizeof(tag), "t%d", i);
		cr_assert_eq(reg_client_head_manifest_async(
				 ca, "r", tag, tally_manifest, &ta, &e),
			     0);
		cr_assert_eq(reg_client_head_manifest_async(
				 cb, "r", tag, tally_manifest, &tb, &e),
			     0);
	}
	cr_assert_eq(reg_engine_run(reg_client_engine(ca)), 0);
	cr_assert_eq(ta.ok, 24, "%s", ta.last_err);
	cr_assert_eq(tb.ok, 24, "%s", tb.last_err);
	cr_assert_eq(mhd_count(&a, "HEAD"), 24);
	cr_assert_eq(mhd_count(&b, "HEAD"), 24);
	/* each registry within its connections, both within the run's
	 * limit, and the two overlapping */
	cr_assert_leq(atomic_load(&a.max_in_flight), 3);
	cr_assert_leq(atomic_load(&b.max_in_flight), 3);
	cr_assert_leq(atomic_load(&group_max), 4);
	cr_assert_gt(atomic_load(&group_max), 3);
	reg_pool_release(&pool);
	mhd_stop(&a);
	mhd_stop(&b);
}
