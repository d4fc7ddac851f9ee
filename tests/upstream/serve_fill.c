/* Fill on demand, the server's side: serve_start with a fake
 * serve_upstream (fills moved by one driver thread each: PENDING ->
 * STREAMING -> bytes in chunks -> DONE or FAILED, single-flight by key,
 * references counted) on an ephemeral loopback port, driven with libcurl.
 * No timing is asserted: a blob's driver waits for a number of joined
 * requests (a gate) before any byte arrives. */
#include <curl/curl.h>
#include <jansson.h>
#include <pthread.h>

#include "mirror/serve/serve.h"
#include "mirror/serve/upstream.h"
#include "oci/buf.h"
#include "tests/mirror/storefix.h"
#include "tests/mirror/httpfix.h"

#define UP "up.example/team/app" /* a repository the fake serves */
#define BLOB_LEN (300 * 1024)
#define CHUNK 7000
#define WAITERS 256

enum { K_MANIFEST, K_BLOB, K_LIST };

struct ffill {
	pthread_mutex_t mu;
	int kind;
	char key[400], repo[256], ref[160];
	int stored;
	enum serve_fill_state state;
	int64_t size;
	uint64_t available;
	int code;
	char msg[256];
	const char *body; /* a list's */
	struct {
		void (*wake)(void *);
		void *arg;
	} w[WAITERS];
	size_t nw;
	pthread_t th;
	int joined;
	struct ffill *next;
};

struct fake {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct ffill *fills;
	int serves_calls, manifest_calls, blob_calls, list_calls, fetches;
	int refs;	 /* references held, all fills */
	int gate;	 /* a blob's driver waits for this many blob() calls */
	int64_t fail_at; /* a blob fails once this many bytes came; -1 no */
	int fail_code;	 /* manifests and lists fail with it; 0: no */
	int fresh;	 /* tag_fresh's answer */
	int last_stored; /* the stored flag of the last manifest() */
	char last_repo[256];
	int shut;
	const char *manifest_json;
	const char *tags_body, *refs_body;
};

static struct fix F;
static struct server *srv;
static struct fake K;
static struct serve_upstream U;
static char *blob_data;
static struct oci_digest blob_digest;

static void fill_set(struct ffill *f, enum serve_fill_state st, uint64_t more,
		     int code, const char *msg)
{
	void (*wake[WAITERS])(void *);
	void *arg[WAITERS];
	size_t n;

	pthread_mutex_lock(&f->mu);
	if (f->state == SERVE_FILL_DONE || f->state == SERVE_FILL_FAILED) {
		pthread_mutex_unlock(&f->mu);
		return;
	}
	f->state = st;
	f->available += more;
	f->code = code;
	if (msg)
		snprintf(f->msg, sizeof(f->msg), "%s", msg);
	n = f->nw;
	for (size_t i = 0; i < n; i++) {
		wake[i] = f->w[i].wake;
		arg[i] = f->w[i].arg;
	}
	f->nw = 0;
	pthread_mutex_unlock(&f->mu);
	for (size_t i = 0; i < n; i++)
		wake[i](arg[i]);
}

static void pause_a_little(void)
{
	struct timespec ts = {0, 300 * 1000};

	nanosleep(&ts, NULL);
}

/* What the real module does: fetch, then store and link. */
static void *drive(void *arg)
{
	struct ffill *f = arg;
	struct err e;

	if (f->kind == K_BLOB) {
		pthread_mutex_lock(&K.mu);
		while (K.blob_calls < K.gate && !K.shut)
			pthread_cond_wait(&K.cv, &K.mu);
		pthread_mutex_unlock(&K.mu);
		pthread_mutex_lock(&f->mu);
		f->size = BLOB_LEN;
		pthread_mutex_unlock(&f->mu);
		fill_set(f, SERVE_FILL_STREAMING, 0, 0, NULL);
		for (uint64_t off = 0; off < BLOB_LEN; off += CHUNK) {
			uint64_t n =
			    BLOB_LEN - off < CHUNK ? BLOB_LEN - off : CHUNK;
			if (K.fail_at >= 0 && off >= (uint64_t)K.fail_at) {
				fill_set(f, SERVE_FILL_FAILED, 0, ERR_DIGEST,
					 "digest mismatch");
				return NULL;
			}
			pause_a_little();
			fill_set(f, SERVE_FILL_STREAMING, n, 0, NULL);
		}
		if (store_blob_put(&F.st, &blob_digest, blob_data, BLOB_LEN,
				   &e) ||
		    store_blob_link(&F.st, f->repo, &blob_digest, &e))
			fill_set(f, SERVE_FILL_FAILED, 0, ERR_FAIL, e.msg);
		else
			fill_set(f, SERVE_FILL_DONE, 0, 0, NULL);
		return NULL;
	}
	pause_a_little();
	if (K.fail_code) {
		fill_set(f, SERVE_FILL_FAILED, 0, K.fail_code,
			 K.fail_code == ERR_NOT_FOUND ? "not found"
						      : "timed out");
		return NULL;
	}
	if (f->kind == K_MANIFEST) {
		struct store_ref r;
		const char *j = K.manifest_json;

		oci_digest_of(&r.digest, OCI_SHA256, j, strlen(j));
		snprintf(r.media_type, sizeof(r.media_type), "%s", MT_MANIFEST);
		r.size = (int64_t)strlen(j);
		if (store_blob_put(&F.st, &r.digest, j, strlen(j), &e) ||
		    store_manifest_link(&F.st, f->repo, &r, &e) ||
		    (strncmp(f->ref, "sha256:", 7) &&
		     store_tag_set(&F.st, f->repo, f->ref, &r, &e))) {
			fill_set(f, SERVE_FILL_FAILED, 0, ERR_FAIL, e.msg);
			return NULL;
		}
	}
	fill_set(f, SERVE_FILL_DONE, 0, 0, NULL);
	return NULL;
}

/* Join the running fill of key, or start one. */
static struct serve_fill *fill_get(int kind, const char *repo, const char *ref,
				   int stored, struct err *err)
{
	struct ffill *f;
	char key[400];

	snprintf(key, sizeof(key), "%d %s %s", kind, repo, ref);
	pthread_mutex_lock(&K.mu);
	if (K.shut) {
		pthread_mutex_unlock(&K.mu);
		err_set(err, ERR_FAIL, "stopping");
		return NULL;
	}
	for (f = K.fills; f; f = f->next) {
		int running;
		pthread_mutex_lock(&f->mu);
		running = f->state != SERVE_FILL_DONE &&
			  f->state != SERVE_FILL_FAILED;
		pthread_mutex_unlock(&f->mu);
		if (running && !strcmp(f->key, key))
			break;
	}
	if (!f) {
		f = calloc(1, sizeof(*f));
		pthread_mutex_init(&f->mu, NULL);
		f->kind = kind;
		snprintf(f->key, sizeof(f->key), "%s", key);
		snprintf(f->repo, sizeof(f->repo), "%s", repo);
		snprintf(f->ref, sizeof(f->ref), "%s", ref);
		f->stored = stored;
		f->size = -1;
		f->next = K.fills;
		K.fills = f;
		K.fetches++;
		pthread_create(&f->th, NULL, drive, f);
	}
	K.refs++;
	pthread_cond_broadcast(&K.cv);
	pthread_mutex_unlock(&K.mu);
	return (struct serve_fill *)f;
}

static int f_serves(void *ctx, const char *repo)
{
	(void)ctx;
	__atomic_add_fetch(&K.serves_calls, 1, __ATOMIC_RELAXED);
	return !strncmp(repo, "up.example/", 11) ||
	       !strncmp(repo, "docker.io/", 10);
}

static int f_tag_fresh(void *ctx, const char *repo, const char *tag)
{
	(void)ctx;
	(void)repo;
	(void)tag;
	return K.fresh;
}

static struct serve_fill *f_manifest(void *ctx, const char *repo,
				     const char *ref, int stored,
				     struct err *err)
{
	(void)ctx;
	__atomic_add_fetch(&K.manifest_calls, 1, __ATOMIC_RELAXED);
	K.last_stored = stored;
	snprintf(K.last_repo, sizeof(K.last_repo), "%s", repo);
	return fill_get(K_MANIFEST, repo, ref, stored, err);
}

static struct serve_fill *f_blob(void *ctx, const char *repo,
				 const struct oci_digest *d, struct err *err)
{
	(void)ctx;
	pthread_mutex_lock(&K.mu);
	K.blob_calls++;
	pthread_mutex_unlock(&K.mu);
	return fill_get(K_BLOB, repo, d->str, 0, err);
}

static struct serve_fill *f_list(void *ctx, enum serve_fill_list kind,
				 const char *repo,
				 const struct oci_digest *subject, int stored,
				 struct err *err)
{
	struct serve_fill *f;

	(void)ctx;
	__atomic_add_fetch(&K.list_calls, 1, __ATOMIC_RELAXED);
	f = fill_get(K_LIST, repo,
		     kind == SERVE_FILL_TAGS ? "tags" : subject->str, stored,
		     err);
	if (f)
		((struct ffill *)f)->body =
		    kind == SERVE_FILL_TAGS ? K.tags_body : K.refs_body;
	return f;
}

static void f_status(struct serve_fill *fl, struct serve_fill_status *out)
{
	struct ffill *f = (struct ffill *)fl;

	pthread_mutex_lock(&f->mu);
	memset(out, 0, sizeof(*out));
	out->state = f->state;
	out->size = f->size;
	out->available = f->available;
	out->code = f->code;
	snprintf(out->msg, sizeof(out->msg), "%s", f->msg);
	pthread_mutex_unlock(&f->mu);
}

static int f_wait(struct serve_fill *fl, const struct serve_fill_status *seen,
		  void (*suspend)(void *), void (*wake)(void *), void *arg)
{
	struct ffill *f = (struct ffill *)fl;

	pthread_mutex_lock(&f->mu);
	if (f->state != seen->state || f->available != seen->available ||
	    f->nw == WAITERS) {
		pthread_mutex_unlock(&f->mu);
		return 1;
	}
	suspend(arg);
	f->w[f->nw].wake = wake;
	f->w[f->nw].arg = arg;
	f->nw++;
	pthread_mutex_unlock(&f->mu);
	return 0;
}

static ssize_t f_read(struct serve_fill *fl, uint64_t pos, void *buf,
		      size_t max)
{
	struct ffill *f = (struct ffill *)fl;
	uint64_t avail;

	pthread_mutex_lock(&f->mu);
	avail = f->available;
	pthread_mutex_unlock(&f->mu);
	if (pos >= avail)
		return -1;
	if (max > avail - pos)
		max = (size_t)(avail - pos);
	memcpy(buf, blob_data + pos, max);
	return (ssize_t)max;
}

static const char *f_body(struct serve_fill *fl, size_t *len)
{
	struct ffill *f = (struct ffill *)fl;

	const char *b;

	pthread_mutex_lock(&f->mu);
	b = f->state == SERVE_FILL_DONE ? f->body : NULL;
	pthread_mutex_unlock(&f->mu);
	*len = b ? strlen(b) : 0;
	return b;
}

static void f_release(struct serve_fill *fl)
{
	(void)fl;
	pthread_mutex_lock(&K.mu);
	K.refs--;
	pthread_mutex_unlock(&K.mu);
}

static void f_stats(void *ctx, struct serve_upstream_stats *out)
{
	(void)ctx;
	memset(out, 0, sizeof(*out));
	out->manifest_fetches = (uint64_t)K.manifest_calls;
	out->blob_fetches = 7;
}

static void f_shutdown(void *ctx)
{
	(void)ctx;
	pthread_mutex_lock(&K.mu);
	K.shut = 1;
	pthread_cond_broadcast(&K.cv);
	pthread_mutex_unlock(&K.mu);
	for (struct ffill *f = K.fills; f; f = f->next)
		fill_set(f, SERVE_FILL_FAILED, 0, ERR_FAIL, "stopping");
}

static void start(void)
{
	struct serve_options o;
	struct err e;

	serve_options_init(&o);
	o.listen = "127.0.0.1:0";
	o.threads = 2;
	o.upstream = &U;
	cr_assert_eq(serve_start(&srv, &F.st, &o, &e), 0, "%s", e.msg);
}

/* serve_stop, then every driver joined: no reference may be left. */
static void stop(void)
{
	if (srv)
		serve_stop(srv);
	srv = NULL;
	for (struct ffill *f = K.fills; f; f = f->next)
		if (!f->joined) {
			pthread_join(f->th, NULL);
			f->joined = 1;
		}
}

static void setup(void)
{
	fix_setup(&F);
	memset(&K, 0, sizeof(K));
	pthread_mutex_init(&K.mu, NULL);
	pthread_cond_init(&K.cv, NULL);
	K.fail_at = -1;
	K.gate = 1;
	K.fresh = 1;
	K.manifest_json = "{\"schemaVersion\":2,\"mediaType\":\"" MT_MANIFEST
			  "\",\"config\":{},\"layers\":[]}";
	U = (struct serve_upstream){
	    .ctx = &K,
	    .serves = f_serves,
	    .tag_fresh = f_tag_fresh,
	    .manifest = f_manifest,
	    .blob = f_blob,
	    .list = f_list,
	    .status = f_status,
	    .wait = f_wait,
	    .read = f_read,
	    .body = f_body,
	    .release = f_release,
	    .stats = f_stats,
	    .shutdown = f_shutdown,
	};
	blob_data = malloc(BLOB_LEN);
	cr_assert(blob_data);
	for (size_t i = 0; i < BLOB_LEN; i++)
		blob_data[i] = (char)((i * 7919u) >> 5);
	oci_digest_of(&blob_digest, OCI_SHA256, blob_data, BLOB_LEN);
	start();
}

static void teardown(void)
{
	stop();
	while (K.fills) {
		struct ffill *f = K.fills;
		K.fills = f->next;
		pthread_mutex_destroy(&f->mu);
		free(f);
	}
	free(blob_data);
	fix_teardown(&F);
}

TestSuite(serve_fill, .init = setup, .fini = teardown, .timeout = 60);

/* One request, safe in any thread (no assertions): curl's result. */
static CURLcode fetch(struct resp *r, const char *method, const char *path,
		      const char *hdr)
{
	CURL *c = curl_easy_init();
	struct curl_slist *h = NULL;
	char url[4096];
	CURLcode rc;

	memset(r, 0, sizeof(*r));
	buf_init(&r->body, 1 << 20);
	if (!c)
		return CURLE_FAILED_INIT;
	snprintf(url, sizeof(url), "http://127.0.0.1:%u%s", serve_port(srv),
		 path);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 30L);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, r);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, r);
	if (hdr)
		h = curl_slist_append(h, hdr);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	if (!strcmp(method, "HEAD"))
		curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
	rc = curl_easy_perform(c);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
	curl_slist_free_all(h);
	curl_easy_cleanup(c);
	return rc;
}

static void get(struct resp *r, const char *path)
{
	cr_assert_eq(fetch(r, "GET", path, NULL), CURLE_OK, "GET %s", path);
}

static const char *error_code(struct resp *r)
{
	static char code[64];
	json_t *j = json_loadb(r->body.data, r->body.len, 0, NULL);
	const char *got = json_string_value(json_object_get(
	    json_array_get(json_object_get(j, "errors"), 0), "code"));

	snprintf(code, sizeof(code), "%s", got ? got : "(none)");
	json_decref(j);
	return code;
}

static int refs_now(void)
{
	int n;

	pthread_mutex_lock(&K.mu);
	n = K.refs;
	pthread_mutex_unlock(&K.mu);
	return n;
}

Test(serve_fill, manifest_filled_then_answered_from_the_store)
{
	struct resp r;
	struct oci_digest d;

	oci_digest_of(&d, OCI_SHA256, K.manifest_json, strlen(K.manifest_json));
	get(&r, "/v2/" UP "/manifests/v1");
	cr_assert_eq(r.status, 200);
	cr_assert_eq(r.body.len, strlen(K.manifest_json));
	cr_assert_eq(memcmp(r.body.data, K.manifest_json, r.body.len), 0);
	cr_assert_str_eq(header(&r, "Docker-Content-Digest"), d.str);
	cr_assert_str_eq(header(&r, "Content-Type"), MT_MANIFEST);
	cr_assert_eq(K.last_stored, 0);
	buf_release(&r.body);
	/* stored and fresh now: the store answers, no second fill */
	get(&r, "/v2/" UP "/manifests/v1");
	cr_assert_eq(r.status, 200);
	cr_assert_eq(K.manifest_calls, 1);
	buf_release(&r.body);
	/* and by digest too */
	{
		char path[300];
		snprintf(path, sizeof(path), "/v2/" UP "/manifests/%s", d.str);
		get(&r, path);
		cr_assert_eq(r.status, 200);
		cr_assert_eq(K.manifest_calls, 1);
		buf_release(&r.body);
	}
	stop();
	cr_assert_eq(refs_now(), 0);
}

Test(serve_fill, manifest_failures_are_404_or_503)
{
	struct resp r;

	K.fail_code = ERR_NOT_FOUND;
	get(&r, "/v2/" UP "/manifests/v1");
	cr_assert_eq(r.status, 404);
	cr_assert_str_eq(error_code(&r), "NAME_UNKNOWN"); /* as today */
	buf_release(&r.body);
	K.fail_code = ERR_TIMEOUT;
	get(&r, "/v2/" UP "/manifests/v2");
	cr_assert_eq(r.status, 503);
	cr_assert_str_eq(error_code(&r), "UNAVAILABLE");
	cr_assert(strstr(r.body.data, "upstream: timed out"), "%s",
		  r.body.data);
	cr_assert_str_eq(header(&r, "Retry-After"), "1");
	buf_release(&r.body);
	cr_assert_eq(K.manifest_calls, 2);
	stop();
	cr_assert_eq(refs_now(), 0);
}

Test(serve_fill, stale_tag_answered_from_the_store_when_the_fill_fails)
{
	struct resp r;
	const char *old = "{\"schemaVersion\":2,\"old\":1}";
	struct oci_digest d = fix_manifest(&F, UP, old, MT_MANIFEST);

	fix_tag(&F, UP, "v1", &d, MT_MANIFEST);
	K.fresh = 0;
	K.fail_code = ERR_TIMEOUT;
	get(&r, "/v2/" UP "/manifests/v1");
	cr_assert_eq(r.status, 200);
	cr_assert_eq(r.body.len, strlen(old));
	cr_assert_eq(memcmp(r.body.data, old, r.body.len), 0);
	cr_assert_str_eq(header(&r, "Docker-Content-Digest"), d.str);
	cr_assert_eq(K.manifest_calls, 1);
	cr_assert_eq(K.last_stored, 1);
	buf_release(&r.body);
	/* fresh: no revalidation at all */
	K.fresh = 1;
	get(&r, "/v2/" UP "/manifests/v1");
	cr_assert_eq(r.status, 200);
	cr_assert_eq(K.manifest_calls, 1);
	buf_release(&r.body);
	stop();
	cr_assert_eq(refs_now(), 0);
}

struct client {
	pthread_t th;
	char path[300];
	struct resp r;
	CURLcode rc;
};

static void *client_run(void *arg)
{
	struct client *cl = arg;

	cl->rc = fetch(&cl->r, "GET", cl->path, NULL);
	return NULL;
}

Test(serve_fill, fifty_clients_share_one_streaming_blob)
{
	enum { N = 50 };
	struct client *cl = calloc(N, sizeof(*cl));

	cr_assert(cl);
	K.gate = N; /* no byte before all 50 joined: all of them stream */
	for (int i = 0; i < N; i++) {
		snprintf(cl[i].path, sizeof(cl[i].path), "/v2/" UP "/blobs/%s",
			 blob_digest.str);
		cr_assert_eq(
		    pthread_create(&cl[i].th, NULL, client_run, &cl[i]), 0);
	}
	for (int i = 0; i < N; i++) {
		pthread_join(cl[i].th, NULL);
		cr_assert_eq(cl[i].rc, CURLE_OK, "client %d: %d", i,
			     (int)cl[i].rc);
		cr_assert_eq(cl[i].r.status, 200);
		cr_assert_eq(cl[i].r.body.len, BLOB_LEN, "client %d", i);
		cr_assert_eq(memcmp(cl[i].r.body.data, blob_data, BLOB_LEN), 0);
		cr_assert_str_eq(header(&cl[i].r, "Docker-Content-Digest"),
				 blob_digest.str);
		buf_release(&cl[i].r.body);
	}
	free(cl);
	cr_assert_eq(K.blob_calls, N);
	cr_assert_eq(K.fetches, 1);
	stop();
	cr_assert_eq(refs_now(), 0);
	cr_assert(store_blob_linked(&F.st, UP, &blob_digest));
}

Test(serve_fill, range_of_a_streaming_blob)
{
	struct resp r;
	char path[300], want[80];

	snprintf(path, sizeof(path), "/v2/" UP "/blobs/%s", blob_digest.str);
	cr_assert_eq(fetch(&r, "GET", path, "Range: bytes=100000-100999"),
		     CURLE_OK);
	cr_assert_eq(r.status, 206);
	cr_assert_eq(r.body.len, 1000);
	cr_assert_eq(memcmp(r.body.data, blob_data + 100000, 1000), 0);
	snprintf(want, sizeof(want), "bytes 100000-100999/%d", BLOB_LEN);
	cr_assert_str_eq(header(&r, "Content-Range"), want);
	buf_release(&r.body);
	stop();
	cr_assert_eq(refs_now(), 0);
}

Test(serve_fill, failed_mid_stream_cuts_the_body_and_stores_nothing)
{
	struct resp r;
	char path[300];
	CURLcode rc;
	int64_t size = 0;

	K.fail_at = 100000;
	snprintf(path, sizeof(path), "/v2/" UP "/blobs/%s", blob_digest.str);
	rc = fetch(&r, "GET", path, NULL);
	cr_assert_neq(rc, CURLE_OK);
	cr_assert_eq(r.status, 200); /* the headers went out first */
	cr_assert_lt(r.body.len, BLOB_LEN);
	cr_assert_eq(memcmp(r.body.data, blob_data, r.body.len), 0);
	buf_release(&r.body);
	cr_assert_not(store_blob_exists(&size, &F.st, &blob_digest));
	cr_assert_not(store_blob_linked(&F.st, UP, &blob_digest));
	stop();
	cr_assert_eq(refs_now(), 0);
}

Test(serve_fill, head_of_a_blob_waits_for_its_size)
{
	struct resp r;
	char path[300], len[32];

	snprintf(path, sizeof(path), "/v2/" UP "/blobs/%s", blob_digest.str);
	cr_assert_eq(fetch(&r, "HEAD", path, NULL), CURLE_OK);
	cr_assert_eq(r.status, 200);
	snprintf(len, sizeof(len), "%d", BLOB_LEN);
	cr_assert_str_eq(header(&r, "Content-Length"), len);
	cr_assert_str_eq(header(&r, "Docker-Content-Digest"), blob_digest.str);
	cr_assert_eq(r.body.len, 0);
	buf_release(&r.body);
	stop();
	cr_assert_eq(refs_now(), 0);
}

Test(serve_fill, repo_not_served_is_404_and_never_filled)
{
	struct resp r;
	char path[300];

	get(&r, "/v2/other.example/x/manifests/v1");
	cr_assert_eq(r.status, 404);
	buf_release(&r.body);
	get(&r, "/v2/x/manifests/v1?ns=other.example");
	cr_assert_eq(r.status, 404);
	buf_release(&r.body);
	snprintf(path, sizeof(path), "/v2/other.example/x/blobs/%s",
		 blob_digest.str);
	get(&r, path);
	cr_assert_eq(r.status, 404);
	cr_assert_str_eq(error_code(&r), "BLOB_UNKNOWN");
	buf_release(&r.body);
	get(&r, "/v2/other.example/x/tags/list");
	cr_assert_eq(r.status, 404);
	cr_assert_str_eq(error_code(&r), "NAME_UNKNOWN");
	buf_release(&r.body);
	cr_assert_gt(K.serves_calls, 0);
	cr_assert_eq(K.manifest_calls + K.blob_calls + K.list_calls, 0);
	cr_assert_eq(K.fetches, 0);
}

Test(serve_fill, tags_are_the_union_paged_with_ns_kept)
{
	struct resp r;
	struct oci_digest d = fix_manifest(&F, UP, "{\"m\":1}", MT_MANIFEST);
	json_t *j;

	fix_tag(&F, UP, "a", &d, MT_MANIFEST);
	fix_tag(&F, UP, "c", &d, MT_MANIFEST);
	K.tags_body = "{\"name\":\"team/app\",\"tags\":[\"d\",\"c\",\"b\"]}";
	get(&r, "/v2/" UP "/tags/list");
	cr_assert_eq(r.status, 200);
	cr_assert_str_eq(r.body.data, "{\"name\":\"" UP
				      "\",\"tags\":[\"a\",\"b\",\"c\",\"d\"]}");
	buf_release(&r.body);
	get(&r, "/v2/team/app/tags/list?ns=up.example&n=2");
	cr_assert_eq(r.status, 200);
	j = json_loadb(r.body.data, r.body.len, 0, NULL);
	cr_assert_eq(json_array_size(json_object_get(j, "tags")), 2);
	cr_assert_str_eq(
	    json_string_value(json_array_get(json_object_get(j, "tags"), 1)),
	    "b");
	json_decref(j);
	cr_assert_str_eq(
	    header(&r, "Link"),
	    "</v2/team/app/tags/list?n=2&last=b&ns=up.example>; rel=\"next\"");
	buf_release(&r.body);
	/* the upstream fails: the stored tags */
	K.fail_code = ERR_TIMEOUT;
	get(&r, "/v2/" UP "/tags/list");
	cr_assert_eq(r.status, 200);
	cr_assert_str_eq(r.body.data,
			 "{\"name\":\"" UP "\",\"tags\":[\"a\",\"c\"]}");
	buf_release(&r.body);
	/* not stored and failing: 503, or 404 when the upstream has none */
	get(&r, "/v2/up.example/none/tags/list");
	cr_assert_eq(r.status, 503);
	buf_release(&r.body);
	K.fail_code = ERR_NOT_FOUND;
	get(&r, "/v2/up.example/none2/tags/list");
	cr_assert_eq(r.status, 404);
	cr_assert_str_eq(error_code(&r), "NAME_UNKNOWN");
	buf_release(&r.body);
	stop();
	cr_assert_eq(refs_now(), 0);
}

Test(serve_fill, referrers_are_the_union_by_digest)
{
	struct resp r;
	struct oci_digest subj = fix_manifest(&F, UP, "{\"s\":1}", MT_MANIFEST);
	struct oci_digest mine = fix_manifest(&F, UP, "{\"r\":1}", MT_MANIFEST);
	char path[300], body[1024];
	json_t *j, *m;

	fix_referrer(&F, UP, &subj, &mine);
	snprintf(body, sizeof(body),
		 "{\"schemaVersion\":2,\"manifests\":["
		 "{\"mediaType\":\"%s\",\"digest\":\"%s\",\"size\":100},"
		 "{\"mediaType\":\"%s\",\"digest\":\"sha256:%064d\","
		 "\"size\":5,\"artifactType\":\"x/y\"}]}",
		 MT_MANIFEST, mine.str, MT_MANIFEST, 1);
	K.refs_body = body;
	snprintf(path, sizeof(path), "/v2/team/app/referrers/%s?ns=up.example",
		 subj.str);
	get(&r, path);
	cr_assert_eq(r.status, 200);
	j = json_loadb(r.body.data, r.body.len, 0, NULL);
	m = json_object_get(j, "manifests");
	cr_assert_eq(json_array_size(m), 2, "%s", r.body.data);
	cr_assert_str_eq(
	    json_string_value(json_object_get(json_array_get(m, 0), "digest")),
	    mine.str);
	json_decref(j);
	buf_release(&r.body);
	/* the filter applies to the upstream's too */
	snprintf(path, sizeof(path), "/v2/" UP "/referrers/%s?artifactType=x/y",
		 subj.str);
	get(&r, path);
	j = json_loadb(r.body.data, r.body.len, 0, NULL);
	cr_assert_eq(json_array_size(json_object_get(j, "manifests")), 1);
	json_decref(j);
	buf_release(&r.body);
	stop();
	cr_assert_eq(refs_now(), 0);
}

Test(serve_fill, catalog_with_ns_names_that_registrys_repositories)
{
	struct resp r;

	fix_manifest(&F, UP, "{\"m\":1}", MT_MANIFEST);
	fix_manifest(&F, "up.example/b", "{\"m\":2}", MT_MANIFEST);
	fix_manifest(&F, "other.example/c", "{\"m\":3}", MT_MANIFEST);
	get(&r, "/v2/_catalog?ns=up.example");
	cr_assert_eq(r.status, 200);
	cr_assert_str_eq(r.body.data,
			 "{\"repositories\":[\"b\",\"team/app\"]}");
	buf_release(&r.body);
	get(&r, "/v2/_catalog?ns=up.example&n=1");
	cr_assert_str_eq(header(&r, "Link"),
			 "</v2/_catalog?n=1&last=b&ns=up.example>; "
			 "rel=\"next\"");
	buf_release(&r.body);
	get(&r, "/v2/_catalog?ns=up.example&n=1&last=b");
	cr_assert_str_eq(r.body.data, "{\"repositories\":[\"team/app\"]}");
	buf_release(&r.body);
}

Test(serve_fill, metrics_name_the_upstream_counters)
{
	struct resp r;

	get(&r, "/metrics");
	cr_assert_eq(r.status, 200);
	cr_assert(
	    strstr(r.body.data, "\nocimirror_upstream_blob_fetches_total 7\n"),
	    "%s", r.body.data);
	cr_assert(
	    strstr(r.body.data, "# TYPE ocimirror_upstream_in_flight gauge"));
	buf_release(&r.body);
}

Test(serve_fill, hostless_names_fill_from_docker_hub)
{
	struct resp r;

	get(&r, "/v2/library/nginx/manifests/1.25");
	cr_assert_eq(r.status, 200);
	cr_assert_eq(r.body.len, strlen(K.manifest_json));
	cr_assert_str_eq(K.last_repo, "docker.io/library/nginx");
	buf_release(&r.body);
	cr_assert_eq(store_repo_exists(&F.st, "docker.io/library/nginx"), 1);
	stop();
	cr_assert_eq(refs_now(), 0);
}
