/* mirror/upstream/: fill on demand against a scripted loopback registry
 * (tests/registry/mhdfix.h) into a temporary store (storefix.h). Every
 * test asserts on what the server counted, the store holds and the
 * upstream's counters, never on how long anything took. */
#include <criterion/criterion.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mirror/store/store.h"
#include "mirror/upstream/upstream.h"
#include "oci/digest.h"
#include "tests/mirror/storefix.h"
#include "tests/registry/mhdfix.h"

#define BLOB_LEN (256 * 1024)
#define READERS 50

/* What the scripted registry serves: one image lib/app:v1. */
struct ureg {
	char config[64], layer[64];
	struct oci_digest dc, dl, dm, dblob;
	char manifest[2048];
	char *blob;	   /* BLOB_LEN bytes, served at dblob */
	int corrupt;	   /* serve the blob with its last byte changed */
	atomic_int *ready; /* the blob waits until this reaches hold_for */
	int hold_for;
	int head_status; /* answer HEADs of the manifest with this */
};

static struct ureg R;

static void ureg_init(void)
{
	char dc[300], dl[300];

	memset(&R, 0, sizeof(R));
	snprintf(R.config, sizeof(R.config), "{\"architecture\":\"amd64\"}");
	snprintf(R.layer, sizeof(R.layer), "layer bytes");
	oci_digest_of(&R.dc, OCI_SHA256, R.config, strlen(R.config));
	oci_digest_of(&R.dl, OCI_SHA256, R.layer, strlen(R.layer));
	fix_desc(dc, sizeof(dc), MT_CONFIG, &R.dc, (long long)strlen(R.config));
	fix_desc(dl, sizeof(dl), MT_LAYER, &R.dl, (long long)strlen(R.layer));
	snprintf(R.manifest, sizeof(R.manifest),
		 "{\"schemaVersion\":2,\"mediaType\":\"%s\",\"config\":%s,"
		 "\"layers\":[%s]}",
		 MT_MANIFEST, dc, dl);
	oci_digest_of(&R.dm, OCI_SHA256, R.manifest, strlen(R.manifest));
	R.blob = malloc(BLOB_LEN);
	cr_assert(R.blob);
	for (size_t i = 0; i < BLOB_LEN; i++)
		R.blob[i] = (char)('a' + (i * 7) % 26);
	oci_digest_of(&R.dblob, OCI_SHA256, R.blob, BLOB_LEN);
}

static void script(struct mhd_fix *f, const struct mhd_req *rq,
		   struct mhd_ans *a)
{
	char p[600];
	long long from;

	(void)f;
	if (!strcmp(rq->path, "/v2/")) {
		mhd_ans_body(a, 200, "application/json", "{}");
		return;
	}
	snprintf(p, sizeof(p), "/v2/lib/app/manifests/v1");
	if (!strcmp(rq->path, p) && R.head_status &&
	    !strcmp(rq->method, "HEAD")) {
		a->status = R.head_status;
		return;
	}
	if (!strcmp(rq->path, p)) {
		mhd_ans_body(a, 200, MT_MANIFEST, R.manifest);
		mhd_ans_header(a, "Docker-Content-Digest", R.dm.str);
		if (!strcmp(rq->method, "HEAD"))
			a->body = NULL, a->len = 0;
		return;
	}
	snprintf(p, sizeof(p), "/v2/lib/app/blobs/%s", R.dc.str);
	if (!strcmp(rq->path, p)) {
		mhd_ans_body(a, 200, "application/octet-stream", R.config);
		return;
	}
	snprintf(p, sizeof(p), "/v2/lib/app/blobs/%s", R.dl.str);
	if (!strcmp(rq->path, p)) {
		mhd_ans_body(a, 200, "application/octet-stream", R.layer);
		return;
	}
	snprintf(p, sizeof(p), "/v2/lib/app/blobs/%s", R.dblob.str);
	if (!strcmp(rq->path, p)) {
		/* every reader has joined before the answer goes (bounded:
		 * the test then fails on its counts, not here) */
		a->hold_until = R.ready;
		a->hold_n = R.hold_for;
		mhd_serve_range(rq, a, R.blob, BLOB_LEN, &from);
		if (R.corrupt) {
			static char bad[BLOB_LEN];

			memcpy(bad, R.blob, BLOB_LEN);
			bad[BLOB_LEN - 1] ^= 1;
			a->body = bad + (from > 0 ? from : 0);
		}
		a->chunk = 16 * 1024;
		a->chunk_ms = 2;
		return;
	}
	a->status = 404;
}

static pthread_mutex_t log_mu = PTHREAD_MUTEX_INITIALIZER;
static char log_text[65536];

static void log_line(void *ctx, const char *line)
{
	(void)ctx;
	pthread_mutex_lock(&log_mu);
	strncat(log_text, line, sizeof(log_text) - strlen(log_text) - 2);
	strcat(log_text, "\n");
	pthread_mutex_unlock(&log_mu);
}

struct ufix {
	struct fix st;
	struct mhd_fix srv;
	struct sync_config cfg;
	struct sync_registry reg;
	char host[64];
	struct reg_options ro;
	struct upstream *u;
	const struct serve_upstream *up;
	char repo[128];
};

static unsigned fix_max_fills; /* 0: the default */

static void quiet(void *ctx, enum reg_log_level l, const char *m)
{
	(void)ctx;
	(void)l;
	(void)m;
}

/* The store, the server (unless host is given: a registry nobody
 * answers) and an upstream for the one registry. */
static void ufix_start(struct ufix *x, const char *host, unsigned ttl)
{
	struct upstream_options o;
	struct err e;

	memset(x, 0, sizeof(*x));
	setenv("DOCKER_CONFIG", "/nonexistent-ocimirror-test", 1);
	unsetenv("REGISTRY_AUTH_FILE");
	unsetenv("XDG_RUNTIME_DIR");
	unsetenv("OCIMIRROR_INSECURE_REGISTRIES");
	log_text[0] = 0;
	fix_setup(&x->st);
	if (host) {
		snprintf(x->host, sizeof(x->host), "%s", host);
	} else {
		mhd_start(&x->srv, script, NULL, 0);
		snprintf(x->host, sizeof(x->host), "%s", x->srv.host);
	}
	snprintf(x->repo, sizeof(x->repo), "%s/lib/app", x->host);
	x->reg.host = x->host;
	x->reg.tls = SYNC_TLS_DISABLED;
	x->cfg.path = "upstream.yaml";
	x->cfg.registries = &x->reg;
	x->cfg.n_registries = 1;
	reg_options_init(&x->ro);
	x->ro.retries = 2;
	x->ro.retry_base_ms = 10;
	x->ro.connect_timeout = 5;
	x->ro.stall_timeout = 10;
	x->ro.log = quiet;
	upstream_options_init(&o);
	o.tag_ttl = ttl;
	o.timeout = 2;
	o.max_fills = fix_max_fills;
	o.log = log_line;
	cr_assert_eq(upstream_start(&x->u, &x->st.st, &x->cfg, &x->ro, &o, &e),
		     0, "%s", e.msg);
	x->up = upstream_iface(x->u);
}

static void ufix_stop(struct ufix *x)
{
	upstream_stop(x->u);
	if (x->srv.d)
		mhd_stop(&x->srv);
	fix_teardown(&x->st);
}

/* A waiter as serve's connection would be: suspended, then woken once. */
struct waitr {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int suspended, woken;
	atomic_int *suspends, *wakes;
};

static void w_suspend(void *arg)
{
	struct waitr *w = arg;

	w->suspended = 1; /* under the fill's lock; w->mu not needed yet */
	if (w->suspends)
		atomic_fetch_add(w->suspends, 1);
}

static void w_wake(void *arg)
{
	struct waitr *w = arg;

	if (w->wakes)
		atomic_fetch_add(w->wakes, 1);
	pthread_mutex_lock(&w->mu);
	w->woken++;
	pthread_cond_signal(&w->cv);
	pthread_mutex_unlock(&w->mu);
}

/* Wait for f to change from st (updated), through the interface. */
static void wait_change(const struct serve_upstream *up, struct serve_fill *f,
			struct serve_fill_status *st, struct waitr *w)
{
	pthread_mutex_lock(&w->mu);
	w->woken = 0;
	pthread_mutex_unlock(&w->mu);
	if (up->wait(f, st, w_suspend, w_wake, w)) {
		up->status(f, st);
		return;
	}
	pthread_mutex_lock(&w->mu);
	while (!w->woken)
		pthread_cond_wait(&w->cv, &w->mu);
	cr_assert_eq(w->woken, 1);
	pthread_mutex_unlock(&w->mu);
	up->status(f, st);
}

static void wait_end(const struct serve_upstream *up, struct serve_fill *f,
		     struct serve_fill_status *st)
{
	struct waitr w = {PTHREAD_MUTEX_INITIALIZER,
			  PTHREAD_COND_INITIALIZER,
			  0,
			  0,
			  NULL,
			  NULL};

	up->status(f, st);
	while (st->state != SERVE_FILL_DONE && st->state != SERVE_FILL_FAILED)
		wait_change(up, f, st, &w);
}

/* Background fills have ended (bounded wait). */
static void settle(struct ufix *x)
{
	struct serve_upstream_stats s;

	for (int i = 0; i < 1000; i++) {
		x->up->stats(x->up->ctx, &s);
		if (!s.in_flight)
			return;
		mhd_sleep_ms(10);
	}
}

Test(upstream, manifest_by_tag_stored_with_tag_and_image_completed)
{
	struct ufix x;
	struct serve_fill *f;
	struct serve_fill_status st;
	struct serve_upstream_stats s;
	struct store_ref ref;
	struct err e;

	ureg_init();
	ufix_start(&x, NULL, 300);
	f = x.up->manifest(x.up->ctx, x.repo, "v1", 0, &e);
	cr_assert(f, "%s", e.msg);
	wait_end(x.up, f, &st);
	cr_assert_eq(st.state, SERVE_FILL_DONE, "%s", st.msg);
	x.up->release(f);
	cr_assert_eq(store_tag_get(&ref, &x.st.st, x.repo, "v1", &e), 0, "%s",
		     e.msg);
	cr_assert_str_eq(ref.digest.str, R.dm.str);
	cr_assert_str_eq(ref.media_type, MT_MANIFEST);
	cr_assert_eq(store_manifest_get(&ref, &x.st.st, x.repo, &R.dm, &e), 0,
		     "%s", e.msg);
	cr_assert_eq(x.up->tag_fresh(x.up->ctx, x.repo, "v1"), 1);
	settle(&x);
	/* the config and layer came in the background */
	cr_assert(store_blob_linked(&x.st.st, x.repo, &R.dc));
	cr_assert(store_blob_linked(&x.st.st, x.repo, &R.dl));
	x.up->stats(x.up->ctx, &s);
	cr_assert_eq(s.manifest_fetches, 1);
	cr_assert_eq(s.blob_fetches, 2);
	cr_assert_eq(s.failures, 0);
	cr_assert_eq(mhd_count(&x.srv, "GET /v2/lib/app/manifests/v1"), 1);
	cr_assert(strstr(log_text, "upstream GET "), "%s", log_text);
	cr_assert(strstr(log_text, "/lib/app/manifests/v1 200 "), "%s",
		  log_text);
	ufix_stop(&x);
}

struct reader {
	struct ufix *x;
	atomic_int *joined, *suspends, *wakes;
	int ok;
	uint64_t got;
};

static void *reader_run(void *arg)
{
	struct reader *r = arg;
	const struct serve_upstream *up = r->x->up;
	struct waitr w = {PTHREAD_MUTEX_INITIALIZER,
			  PTHREAD_COND_INITIALIZER,
			  0,
			  0,
			  r->suspends,
			  r->wakes};
	struct serve_fill_status st;
	struct serve_fill *f;
	static char buf_dummy;
	char *buf = malloc(BLOB_LEN);
	struct err e;

	(void)buf_dummy;
	f = up->blob(up->ctx, r->x->repo, &R.dblob, &e);
	atomic_fetch_add(r->joined, 1);
	if (!f || !buf) {
		free(buf);
		return NULL;
	}
	up->status(f, &st);
	for (;;) {
		while (r->got < st.available) {
			ssize_t n = up->read(f, r->got, buf + r->got,
					     BLOB_LEN - r->got);
			if (n <= 0)
				break;
			r->got += (uint64_t)n;
		}
		if (st.state == SERVE_FILL_DONE ||
		    st.state == SERVE_FILL_FAILED)
			break;
		wait_change(up, f, &st, &w);
	}
	r->ok = st.state == SERVE_FILL_DONE && st.size == BLOB_LEN &&
		r->got == BLOB_LEN && !memcmp(buf, R.blob, BLOB_LEN);
	up->release(f);
	free(buf);
	return NULL;
}

Test(upstream, fifty_readers_one_fetch)
{
	struct ufix x;
	struct reader rd[READERS];
	pthread_t th[READERS];
	atomic_int joined = 0, suspends = 0, wakes = 0;
	struct serve_upstream_stats s;
	char key[300];

	ureg_init();
	R.ready = &joined;
	R.hold_for = READERS;
	ufix_start(&x, NULL, 300);
	for (int i = 0; i < READERS; i++) {
		rd[i] = (struct reader){&x, &joined, &suspends, &wakes, 0, 0};
		cr_assert_eq(pthread_create(&th[i], NULL, reader_run, &rd[i]),
			     0);
	}
	for (int i = 0; i < READERS; i++)
		pthread_join(th[i], NULL);
	for (int i = 0; i < READERS; i++)
		cr_assert(rd[i].ok, "reader %d got %llu bytes", i,
			  (unsigned long long)rd[i].got);
	snprintf(key, sizeof(key), "GET /v2/lib/app/blobs/%s", R.dblob.str);
	cr_assert_eq(mhd_count(&x.srv, key), 1);
	x.up->stats(x.up->ctx, &s);
	cr_assert_eq(s.blob_fetches, 1);
	cr_assert_eq(s.joined, READERS - 1);
	cr_assert_eq(s.bytes, BLOB_LEN);
	/* every suspended reader was woken, once per suspension */
	cr_assert(atomic_load(&suspends) > 0);
	cr_assert_eq(atomic_load(&wakes), atomic_load(&suspends));
	cr_assert(store_blob_exists(NULL, &x.st.st, &R.dblob));
	cr_assert(store_blob_linked(&x.st.st, x.repo, &R.dblob));
	ufix_stop(&x);
}

Test(upstream, corrupt_blob_fails_and_stores_nothing)
{
	struct ufix x;
	struct serve_fill *f;
	struct serve_fill_status st;
	struct err e;
	char key[300];

	ureg_init();
	R.corrupt = 1;
	ufix_start(&x, NULL, 300);
	f = x.up->blob(x.up->ctx, x.repo, &R.dblob, &e);
	cr_assert(f, "%s", e.msg);
	wait_end(x.up, f, &st);
	cr_assert_eq(st.state, SERVE_FILL_FAILED);
	cr_assert_eq(st.code, ERR_DIGEST, "%d %s", st.code, st.msg);
	x.up->release(f);
	cr_assert_not(store_blob_exists(NULL, &x.st.st, &R.dblob));
	/* no silent restart once bytes went to readers */
	snprintf(key, sizeof(key), "GET /v2/lib/app/blobs/%s", R.dblob.str);
	cr_assert_eq(mhd_count(&x.srv, key), 1);
	ufix_stop(&x);
}

Test(upstream, revalidation_after_ttl_is_one_head)
{
	struct ufix x;
	struct serve_fill *f;
	struct serve_fill_status st;
	struct serve_upstream_stats s;
	struct err e;

	ureg_init();
	ufix_start(&x, NULL, 1);
	f = x.up->manifest(x.up->ctx, x.repo, "v1", 0, &e);
	cr_assert(f, "%s", e.msg);
	wait_end(x.up, f, &st);
	cr_assert_eq(st.state, SERVE_FILL_DONE, "%s", st.msg);
	x.up->release(f);
	/* within the ttl: answered from the store, nothing sent */
	cr_assert_eq(x.up->tag_fresh(x.up->ctx, x.repo, "v1"), 1);
	cr_assert_eq(mhd_count(&x.srv, "HEAD /v2/lib/app/manifests/v1"), 0);
	mhd_sleep_ms(1100);
	cr_assert_eq(x.up->tag_fresh(x.up->ctx, x.repo, "v1"), 0);
	f = x.up->manifest(x.up->ctx, x.repo, "v1", 1, &e);
	cr_assert(f, "%s", e.msg);
	wait_end(x.up, f, &st);
	cr_assert_eq(st.state, SERVE_FILL_DONE, "%s", st.msg);
	x.up->release(f);
	cr_assert_eq(mhd_count(&x.srv, "HEAD /v2/lib/app/manifests/v1"), 1);
	cr_assert_eq(mhd_count(&x.srv, "GET /v2/lib/app/manifests/v1"), 1);
	cr_assert_eq(x.up->tag_fresh(x.up->ctx, x.repo, "v1"), 1);
	x.up->stats(x.up->ctx, &s);
	cr_assert_eq(s.revalidations, 1);
	cr_assert_eq(s.stale, 0);
	settle(&x);
	ufix_stop(&x);
}

Test(upstream, unreachable_with_stored_tag_fails_and_counts_stale)
{
	struct ufix x;
	struct serve_fill *f;
	struct serve_fill_status st;
	struct serve_upstream_stats s;
	struct oci_digest d;
	struct err e;

	ureg_init();
	/* port 1 on loopback: nothing listens, connections are refused */
	ufix_start(&x, "127.0.0.1:1", 300);
	d = fix_manifest(&x.st, x.repo, R.manifest, MT_MANIFEST);
	fix_tag(&x.st, x.repo, "v1", &d, MT_MANIFEST);
	f = x.up->manifest(x.up->ctx, x.repo, "v1", 1, &e);
	cr_assert(f, "%s", e.msg);
	wait_end(x.up, f, &st);
	cr_assert_eq(st.state, SERVE_FILL_FAILED);
	cr_assert(st.msg[0]);
	x.up->release(f);
	x.up->stats(x.up->ctx, &s);
	cr_assert_eq(s.stale, 1);
	cr_assert_eq(s.revalidations, 1);
	cr_assert_eq(s.manifest_fetches, 0);
	cr_assert(strstr(log_text, "upstream HEAD 127.0.0.1:1/lib/app/"
				   "manifests/v1 failed"),
		  "%s", log_text);
	ufix_stop(&x);
}

Test(upstream, serves_only_the_file_registries)
{
	struct ufix x;
	struct serve_fill *f;
	struct err e;

	ureg_init();
	ufix_start(&x, NULL, 300);
	cr_assert_eq(x.up->serves(x.up->ctx, x.repo), 1);
	cr_assert_eq(x.up->serves(x.up->ctx, "other.example/lib/app"), 0);
	cr_assert_eq(x.up->serves(x.up->ctx, "lib/app"), 0);
	f = x.up->manifest(x.up->ctx, "other.example/lib/app", "v1", 0, &e);
	cr_assert_null(f);
	/* after shutdown nothing starts */
	x.up->shutdown(x.up->ctx);
	f = x.up->manifest(x.up->ctx, x.repo, "v1", 0, &e);
	cr_assert_null(f);
	ufix_stop(&x);
}

Test(upstream, blob_stored_for_another_repo_is_checked_then_linked)
{
	struct ufix x;
	struct serve_fill *f;
	struct serve_fill_status st;
	struct serve_upstream_stats s;
	struct err e;
	char key[300], buf[64];

	ureg_init();
	ufix_start(&x, NULL, 300);
	cr_assert_eq(
	    store_blob_put(&x.st.st, &R.dl, R.layer, strlen(R.layer), &e), 0,
	    "%s", e.msg);
	f = x.up->blob(x.up->ctx, x.repo, &R.dl, &e);
	cr_assert(f, "%s", e.msg);
	wait_end(x.up, f, &st);
	cr_assert_eq(st.state, SERVE_FILL_DONE, "%s", st.msg);
	cr_assert_eq(st.size, (int64_t)strlen(R.layer));
	cr_assert_eq(x.up->read(f, 0, buf, sizeof(buf)),
		     (ssize_t)strlen(R.layer));
	cr_assert(!memcmp(buf, R.layer, strlen(R.layer)));
	x.up->release(f);
	cr_assert(store_blob_linked(&x.st.st, x.repo, &R.dl));
	snprintf(key, sizeof(key), "HEAD /v2/lib/app/blobs/%s", R.dl.str);
	cr_assert_eq(mhd_count(&x.srv, key), 1);
	x.up->stats(x.up->ctx, &s);
	cr_assert_eq(s.blob_fetches, 0);
	/* linked now: answered from the store, nothing sent */
	f = x.up->blob(x.up->ctx, x.repo, &R.dl, &e);
	cr_assert(f, "%s", e.msg);
	x.up->status(f, &st);
	cr_assert_eq(st.state, SERVE_FILL_DONE);
	x.up->release(f);
	cr_assert_eq(mhd_count(&x.srv, key), 1);
	ufix_stop(&x);
}

Test(upstream, kept_lists_do_not_count_against_max_fills)
{
	struct ufix x;
	struct serve_fill *f;
	struct serve_fill_status st;
	struct serve_upstream_stats s;
	struct oci_digest subj;
	struct err e;
	char text[32];

	ureg_init();
	fix_max_fills = 4;
	ufix_start(&x, NULL, 300);
	fix_max_fills = 0;
	/* more distinct finished lists than fills may run at once: each
	 * is kept for reuse, none is refused */
	for (int i = 0; i < 12; i++) {
		snprintf(text, sizeof(text), "subject %d", i);
		oci_digest_of(&subj, OCI_SHA256, text, strlen(text));
		f = x.up->list(x.up->ctx, SERVE_FILL_REFERRERS, x.repo, &subj,
			       0, &e);
		cr_assert(f, "list %d: %s", i, e.msg);
		wait_end(x.up, f, &st);
		cr_assert_eq(st.state, SERVE_FILL_DONE, "%d: %s", i, st.msg);
		x.up->release(f);
	}
	x.up->stats(x.up->ctx, &s);
	cr_assert_eq(s.list_fetches, 12);
	/* a kept list is reused */
	f = x.up->list(x.up->ctx, SERVE_FILL_REFERRERS, x.repo, &subj, 0, &e);
	cr_assert(f, "%s", e.msg);
	x.up->status(f, &st);
	cr_assert_eq(st.state, SERVE_FILL_DONE);
	x.up->release(f);
	x.up->stats(x.up->ctx, &s);
	cr_assert_eq(s.list_fetches, 12);
	/* and a manifest fill still starts */
	f = x.up->manifest(x.up->ctx, x.repo, "v1", 0, &e);
	cr_assert(f, "%s", e.msg);
	wait_end(x.up, f, &st);
	cr_assert_eq(st.state, SERVE_FILL_DONE, "%s", st.msg);
	x.up->release(f);
	settle(&x);
	ufix_stop(&x);
}

Test(upstream, blob_fill_is_per_repository)
{
	struct ufix x;
	struct serve_fill *f1, *f2;
	struct serve_fill_status st;
	atomic_int go = 0;
	char other[160], key[300];
	struct err e;

	ureg_init();
	R.ready = &go;
	R.hold_for = 1;
	ufix_start(&x, NULL, 300);
	snprintf(other, sizeof(other), "%s/lib/other", x.host);
	/* the engine sends one request to a host until it has answered
	 * once: a first fill (the config blob) has it answer, else lib/app's
	 * held fetch would hold lib/other's back too */
	f1 = x.up->blob(x.up->ctx, x.repo, &R.dc, &e);
	cr_assert(f1, "%s", e.msg);
	wait_end(x.up, f1, &st);
	cr_assert_eq(st.state, SERVE_FILL_DONE, "%s", st.msg);
	x.up->release(f1);
	/* lib/app's fetch is held in flight while lib/other asks */
	f1 = x.up->blob(x.up->ctx, x.repo, &R.dblob, &e);
	cr_assert(f1, "%s", e.msg);
	f2 = x.up->blob(x.up->ctx, other, &R.dblob, &e);
	cr_assert(f2, "%s", e.msg);
	cr_assert_neq(f1, f2);
	/* lib/other is not on the registry: its own fetch, its own 404 */
	wait_end(x.up, f2, &st);
	cr_assert_eq(st.state, SERVE_FILL_FAILED);
	cr_assert_eq(st.code, ERR_NOT_FOUND, "%d %s", st.code, st.msg);
	x.up->release(f2);
	atomic_store(&go, 1);
	wait_end(x.up, f1, &st);
	cr_assert_eq(st.state, SERVE_FILL_DONE, "%s", st.msg);
	x.up->release(f1);
	cr_assert(store_blob_linked(&x.st.st, x.repo, &R.dblob));
	cr_assert_not(store_blob_linked(&x.st.st, other, &R.dblob));
	snprintf(key, sizeof(key), "GET /v2/lib/other/blobs/%s", R.dblob.str);
	cr_assert_eq(mhd_count(&x.srv, key), 1);
	ufix_stop(&x);
}

Test(upstream, failed_check_counts_fresh_for_a_while)
{
	struct ufix x;
	struct serve_fill *f;
	struct serve_fill_status st;
	struct serve_upstream_stats s;
	struct oci_digest d;
	struct err e;

	ureg_init();
	R.head_status = 500;
	ufix_start(&x, NULL, 300);
	d = fix_manifest(&x.st, x.repo, R.manifest, MT_MANIFEST);
	fix_tag(&x.st, x.repo, "v1", &d, MT_MANIFEST);
	cr_assert_eq(x.up->tag_fresh(x.up->ctx, x.repo, "v1"), 0);
	f = x.up->manifest(x.up->ctx, x.repo, "v1", 1, &e);
	cr_assert(f, "%s", e.msg);
	wait_end(x.up, f, &st);
	cr_assert_eq(st.state, SERVE_FILL_FAILED);
	x.up->release(f);
	/* the next read within the back-off is served from the store:
	 * fresh, so no second HEAD goes out */
	cr_assert_eq(x.up->tag_fresh(x.up->ctx, x.repo, "v1"), 1);
	cr_assert_eq(mhd_count(&x.srv, "HEAD /v2/lib/app/manifests/v1"), 1);
	x.up->stats(x.up->ctx, &s);
	cr_assert_eq(s.stale, 1);
	cr_assert_eq(s.revalidations, 1);
	ufix_stop(&x);
}
