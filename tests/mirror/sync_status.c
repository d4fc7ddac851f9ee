/* The last sync run's record in the store (mirror/store/syncstatus.h),
 * the summary sync makes of a report, and what serve shows of it:
 * GET /ocimirror/v1/sync and the ocimirror_sync_* gauges of /metrics. */
#include <criterion/criterion.h>
#include <curl/curl.h>
#include <jansson.h>
#include <string.h>

#include "loopfix.h"
#include "mirror/serve/serve.h"
#include "mirror/store/syncstatus.h"
#include "mirror/sync/sync.h"
#include "oci/buf.h"

static struct fix F;

static void setup(void)
{
	fix_setup(&F);
}

static void teardown(void)
{
	fix_teardown(&F);
}

TestSuite(sync_status, .init = setup, .fini = teardown);

static struct store_sync_run *run_new(int64_t started, int64_t finished,
				      enum store_sync_result res)
{
	struct store_sync_run *r = malloc(sizeof(*r));

	cr_assert(r);
	store_sync_run_init(r);
	r->started = started;
	r->finished = finished;
	r->result = res;
	return r;
}

static void put(const struct store_sync_run *r)
{
	struct err e;

	cr_assert_eq(store_sync_status_put(&F.st, r, &e), 0, "%s", e.msg);
}

static struct store_sync_status *get(void)
{
	struct store_sync_status *st = malloc(sizeof(*st));
	struct err e;

	cr_assert(st);
	cr_assert_eq(store_sync_status_get(st, &F.st, &e), 0, "%s", e.msg);
	return st;
}

Test(sync_status, nothing_recorded_is_no_run_and_no_success)
{
	struct store_sync_status *st = get();

	cr_assert_eq(st->has_run, 0);
	cr_assert_eq(st->last_success, 0);
	free(st);
}

Test(sync_status, round_trip)
{
	struct store_sync_run *r =
	    run_new(1764640000, 1764640042, STORE_SYNC_PARTIAL);
	struct store_sync_status *st;

	r->added = 3;
	r->updated = 2;
	r->unchanged = 7;
	r->pruned = 1;
	r->failed = 2;
	store_sync_run_failure_add(r, "docker.io/library/a:1: not found");
	store_sync_run_failure_add(r, "quay.io/b:\"2\": refused \xc3\xa9");
	put(r);
	st = get();
	cr_assert_eq(st->has_run, 1);
	cr_assert_eq(st->last.started, 1764640000);
	cr_assert_eq(st->last.finished, 1764640042);
	cr_assert_eq(st->last.result, STORE_SYNC_PARTIAL);
	cr_assert_eq(st->last.added, 3);
	cr_assert_eq(st->last.updated, 2);
	cr_assert_eq(st->last.unchanged, 7);
	cr_assert_eq(st->last.pruned, 1);
	cr_assert_eq(st->last.failed, 2);
	cr_assert_eq(st->last.n_failures, 2);
	cr_assert_str_eq(st->last.failures[0],
			 "docker.io/library/a:1: not found");
	cr_assert_str_eq(st->last.failures[1],
			 "quay.io/b:\"2\": refused \xc3\xa9");
	/* a partial run is no success */
	cr_assert_eq(st->last_success, 0);
	free(st);
	free(r);
}

Test(sync_status, failures_are_bounded_in_number_and_length)
{
	struct store_sync_run *r = run_new(10, 20, STORE_SYNC_FAILED);
	struct store_sync_status *st;
	char line[2000];

	memset(line, 'x', sizeof(line) - 1);
	line[sizeof(line) - 1] = '\0';
	for (int i = 0; i < STORE_SYNC_FAILURES_MAX + 5; i++)
		store_sync_run_failure_add(r, line);
	r->failed = STORE_SYNC_FAILURES_MAX + 5;
	cr_assert_eq(r->n_failures, STORE_SYNC_FAILURES_MAX);
	cr_assert_eq(r->failures_omitted, 5);
	put(r);
	st = get();
	cr_assert_eq(st->last.n_failures, STORE_SYNC_FAILURES_MAX);
	cr_assert_eq(st->last.failures_omitted, 5);
	cr_assert_eq(st->last.failed, STORE_SYNC_FAILURES_MAX + 5);
	cr_assert_eq(strlen(st->last.failures[0]), STORE_SYNC_FAILURE_MAX - 1);
	cr_assert_str_eq(st->last.failures[0] + STORE_SYNC_FAILURE_MAX - 4,
			 "...");
	free(st);
	free(r);
}

Test(sync_status, cut_line_keeps_utf8_whole)
{
	struct store_sync_run *r = run_new(1, 2, STORE_SYNC_FAILED);
	char line[STORE_SYNC_FAILURE_MAX + 10];
	size_t n;

	/* "é" (2 bytes) straddling the cut point */
	memset(line, 'a', sizeof(line) - 1);
	line[sizeof(line) - 1] = '\0';
	line[STORE_SYNC_FAILURE_MAX - 5] = '\xc3';
	line[STORE_SYNC_FAILURE_MAX - 4] = '\xa9';
	store_sync_run_failure_add(r, line);
	n = strlen(r->failures[0]);
	cr_assert_eq(n, STORE_SYNC_FAILURE_MAX - 5 + 3);
	cr_assert_str_eq(r->failures[0] + n - 3, "...");
	free(r);
}

Test(sync_status, last_success_kept_after_a_failed_run)
{
	struct store_sync_run *ok = run_new(100, 150, STORE_SYNC_OK);
	struct store_sync_run *bad = run_new(200, 230, STORE_SYNC_FAILED);
	struct store_sync_status *st;

	put(ok);
	st = get();
	cr_assert_eq(st->last_success, 150);
	free(st);
	bad->failed = 1;
	store_sync_run_failure_add(bad, "registry down");
	put(bad);
	st = get();
	cr_assert_eq(st->has_run, 1);
	cr_assert_eq(st->last.result, STORE_SYNC_FAILED);
	cr_assert_eq(st->last.finished, 230);
	cr_assert_eq(st->last_success, 150);
	free(st);
	ok->started = 300;
	ok->finished = 360;
	put(ok);
	st = get();
	cr_assert_eq(st->last_success, 360);
	cr_assert_eq(st->last.n_failures, 0);
	free(st);
	free(ok);
	free(bad);
}

static void write_file(const char *rel, const char *text)
{
	char p[512];
	FILE *f;

	snprintf(p, sizeof(p), "%s/sync", F.root);
	mkdir(p, 0755);
	snprintf(p, sizeof(p), "%s/%s", F.root, rel);
	f = fopen(p, "w");
	cr_assert(f, "%s", p);
	fputs(text, f);
	fclose(f);
}

Test(sync_status, a_record_that_is_not_one_is_invalid_naming_it)
{
	struct store_sync_status *st = malloc(sizeof(*st));
	struct err e;

	cr_assert(st);
	write_file("sync/last.json", "{\"started\":\"yesterday\"}");
	cr_assert_eq(store_sync_status_get(st, &F.st, &e), ERR_INVALID);
	cr_assert(strstr(e.msg, "sync/last.json"), "%s", e.msg);
	cr_assert(strstr(e.msg, "started"), "%s", e.msg);
	write_file("sync/last.json", "[1]");
	cr_assert_eq(store_sync_status_get(st, &F.st, &e), ERR_INVALID);
	write_file("sync/last.json",
		   "{\"started\":1,\"finished\":2,\"result\":\"maybe\","
		   "\"added\":0,\"updated\":0,\"unchanged\":0,\"failed\":0}");
	cr_assert_eq(store_sync_status_get(st, &F.st, &e), ERR_INVALID);
	cr_assert(strstr(e.msg, "result"), "%s", e.msg);
	free(st);
}

/* sync_report_summarize over a hand-made report */
static void line(struct sync_report *r, const char *repo, const char *tag,
		 enum sync_action a, const char *msg)
{
	struct sync_tag_result *t;

	r->tags = realloc(r->tags, (r->n + 1) * sizeof(*r->tags));
	cr_assert(r->tags);
	t = &r->tags[r->n++];
	memset(t, 0, sizeof(*t));
	snprintf(t->repo, sizeof(t->repo), "%s", repo);
	snprintf(t->tag, sizeof(t->tag), "%s", tag);
	t->action = a;
	if (a == SYNC_FAILED) {
		err_set(&t->err, ERR_NOT_FOUND, "%s", msg);
		r->failed++;
	}
}

Test(sync_status, summary_counts_and_result)
{
	struct sync_report rep = {0};
	struct store_sync_run *s = malloc(sizeof(*s));
	struct err e;

	cr_assert(s);
	line(&rep, "docker.io/library/a", "1", SYNC_ADDED, NULL);
	line(&rep, "docker.io/library/a", "2", SYNC_UPDATED, NULL);
	line(&rep, "docker.io/library/a", "3", SYNC_UNCHANGED, NULL);
	line(&rep, "docker.io/library/a", "0", SYNC_PRUNED, NULL);
	sync_report_summarize(s, &rep, 0, NULL);
	cr_assert_eq(s->result, STORE_SYNC_OK);
	cr_assert_eq(s->added + s->updated + s->unchanged + s->pruned, 4);
	cr_assert_eq(s->failed, 0);
	line(&rep, "quay.io/b", "9", SYNC_FAILED, "manifest 9 not found");
	err_set(&e, ERR_FAIL, "1 of 5 lines failed");
	sync_report_summarize(s, &rep, ERR_FAIL, &e);
	cr_assert_eq(s->result, STORE_SYNC_PARTIAL);
	cr_assert_eq(s->failed, 1);
	cr_assert_eq(s->n_failures, 1);
	cr_assert_str_eq(s->failures[0], "quay.io/b:9: manifest 9 not found");
	sync_report_release(&rep);
	line(&rep, "quay.io/b", "9", SYNC_FAILED, "refused");
	sync_report_summarize(s, &rep, ERR_FAIL, &e);
	cr_assert_eq(s->result, STORE_SYNC_FAILED);
	sync_report_release(&rep);
	/* stopped short, no line: one failure, the run's message */
	err_set(&e, ERR_FAIL, "out of memory");
	sync_report_summarize(s, &rep, ERR_FAIL, &e);
	cr_assert_eq(s->result, STORE_SYNC_FAILED);
	cr_assert_eq(s->failed, 1);
	cr_assert_str_eq(s->failures[0], "out of memory");
	free(s);
}

/* The server over F's store. */
struct got {
	long status;
	struct buf body;
};

static size_t on_body(char *p, size_t sz, size_t n, void *ctx)
{
	return buf_append(&((struct got *)ctx)->body, p, sz * n) ? 0 : sz * n;
}

static void http_get(struct got *g, unsigned port, const char *path,
		     const char *user, const char *pass)
{
	CURL *c = curl_easy_init();
	char url[512];

	cr_assert(c);
	memset(g, 0, sizeof(*g));
	buf_init(&g->body, 1 << 20);
	snprintf(url, sizeof(url), "http://127.0.0.1:%u%s", port, path);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 20L);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, g);
	if (user) {
		curl_easy_setopt(c, CURLOPT_USERNAME, user);
		curl_easy_setopt(c, CURLOPT_PASSWORD, pass);
	}
	cr_assert_eq(curl_easy_perform(c), CURLE_OK, "%s", path);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &g->status);
	curl_easy_cleanup(c);
	cr_assert_eq(buf_append(&g->body, "", 1), 0);
}

Test(sync_status_serve, endpoint_null_then_the_recorded_run)
{
	struct loop l;
	struct got g;
	json_t *j, *last;
	struct store_sync_run *r =
	    run_new(1764640000, 1764640061, STORE_SYNC_OK);
	struct err e;

	loop_start(&l, 0);
	http_get(&g, serve_port(l.srv), "/ocimirror/v1/sync", NULL, NULL);
	cr_assert_eq(g.status, 200);
	cr_assert_str_eq(g.body.data, "{\"last\":null,\"lastSuccess\":null}");
	buf_release(&g.body);

	r->added = 4;
	r->unchanged = 9;
	cr_assert_eq(store_sync_status_put(&l.remote.st, r, &e), 0, "%s",
		     e.msg);
	r->started = 1764726400;
	r->finished = 1764726405;
	r->result = STORE_SYNC_FAILED;
	r->added = 0;
	r->unchanged = 0;
	r->failed = 1;
	store_sync_run_failure_add(r, "ghcr.io/x:1: connection refused");
	cr_assert_eq(store_sync_status_put(&l.remote.st, r, &e), 0, "%s",
		     e.msg);
	http_get(&g, serve_port(l.srv), "/ocimirror/v1/sync", NULL, NULL);
	cr_assert_eq(g.status, 200);
	j = json_loads(g.body.data, 0, NULL);
	cr_assert(j, "%s", g.body.data);
	last = json_object_get(j, "last");
	cr_assert_str_eq(json_string_value(json_object_get(last, "started")),
			 "2025-12-03T01:46:40Z");
	cr_assert_str_eq(json_string_value(json_object_get(last, "finished")),
			 "2025-12-03T01:46:45Z");
	cr_assert_str_eq(json_string_value(json_object_get(last, "result")),
			 "failed");
	cr_assert_eq(json_integer_value(json_object_get(last, "failed")), 1);
	cr_assert_eq(json_integer_value(json_object_get(last, "added")), 0);
	cr_assert_str_eq(json_string_value(json_array_get(
			     json_object_get(last, "failures"), 0)),
			 "ghcr.io/x:1: connection refused");
	cr_assert_str_eq(json_string_value(json_object_get(j, "lastSuccess")),
			 "2025-12-02T01:47:41Z");
	json_decref(j);
	buf_release(&g.body);

	/* the gauges */
	http_get(&g, serve_port(l.srv), "/metrics", NULL, NULL);
	cr_assert_eq(g.status, 200);
	cr_assert(strstr(g.body.data,
			 "\nocimirror_sync_last_run_timestamp_seconds "
			 "1764726405\n"),
		  "%s", g.body.data);
	cr_assert(strstr(g.body.data,
			 "\nocimirror_sync_last_success_timestamp_seconds "
			 "1764640061\n"),
		  "%s", g.body.data);
	cr_assert(strstr(g.body.data, "\nocimirror_sync_last_run_failures 1\n"),
		  "%s", g.body.data);
	buf_release(&g.body);
	free(r);
	loop_stop(&l);
}

Test(sync_status_serve, gauges_absent_while_nothing_recorded)
{
	struct loop l;
	struct got g;

	loop_start(&l, 0);
	http_get(&g, serve_port(l.srv), "/metrics", NULL, NULL);
	cr_assert_eq(g.status, 200);
	cr_assert(strstr(g.body.data, "ocimirror_upload_sessions 0\n"));
	cr_assert_null(strstr(g.body.data, "ocimirror_sync_"), "%s",
		       g.body.data);
	buf_release(&g.body);
	loop_stop(&l);
}

Test(sync_status_serve, broken_record_is_500_naming_it)
{
	struct loop l;
	struct got g;
	char p[512];
	FILE *f;

	loop_start(&l, 0);
	snprintf(p, sizeof(p), "%s/sync", l.remote.root);
	mkdir(p, 0755);
	snprintf(p, sizeof(p), "%s/sync/last.json", l.remote.root);
	f = fopen(p, "w");
	cr_assert(f);
	fputs("not json", f);
	fclose(f);
	http_get(&g, serve_port(l.srv), "/ocimirror/v1/sync", NULL, NULL);
	cr_assert_eq(g.status, 500);
	cr_assert(strstr(g.body.data, "sync/last.json"), "%s", g.body.data);
	buf_release(&g.body);
	loop_stop(&l);
}

Test(sync_status_serve, needs_credentials_like_registry_reads)
{
	struct loop l;
	struct got g;

	loop_start(&l, 1); /* users, with --anonymous-read */
	http_get(&g, serve_port(l.srv), "/ocimirror/v1/sync", NULL, NULL);
	cr_assert_eq(g.status, 200);
	buf_release(&g.body);
	serve_stop(l.srv);
	{
		struct serve_options o;
		struct err e;
		char htpasswd[300];

		serve_options_init(&o);
		o.listen = "127.0.0.1:0";
		o.threads = 2;
		snprintf(htpasswd, sizeof(htpasswd), "%s/htpasswd",
			 l.remote.root);
		o.htpasswd = htpasswd;
		cr_assert_eq(serve_start(&l.srv, &l.remote.st, &o, &e), 0, "%s",
			     e.msg);
	}
	http_get(&g, serve_port(l.srv), "/ocimirror/v1/sync", NULL, NULL);
	cr_assert_eq(g.status, 401);
	buf_release(&g.body);
	http_get(&g, serve_port(l.srv), "/ocimirror/v1/sync", LOOP_USER,
		 LOOP_PASS);
	cr_assert_eq(g.status, 200);
	buf_release(&g.body);
	loop_stop(&l);
}
