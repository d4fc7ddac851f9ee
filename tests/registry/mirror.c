/* Upstream mirrors (registry/options.h: mirrors, mirror_opts, fallback)
 * against scripted loopback servers (mhdfix.h): a registry ("origin") and
 * its mirrors. Reads go to the first mirror that answers with ?ns=<origin>
 * exactly once (also on a Link page), fail over on a closed port, a 404 or
 * a streamed blob's digest mismatch, and fall back to the origin only when
 * asked; pushes go to the origin. Every test asserts on what the servers
 * counted and what the callers got. */
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
#include "registry/upload.h"

#define MBODY                                                                  \
	"{\"schemaVersion\":2,\"mediaType\":\"" MT_OCI_MANIFEST                \
	"\",\"config\":{},\"layers\":[]}"
#define BLOB_LEN 4096

/* One server: the origin (ns NULL: no ns wanted) or a mirror. */
struct srv {
	struct mhd_fix f; /* first: the script gets it */
	const char *ns;	  /* the ns every request must carry once */
	int not_found;	  /* answer 404 to everything */
	int unavailable;  /* answer 503 to everything */
	int corrupt;	  /* serve the blob with a wrong byte */
	int bad_ns;	  /* requests whose ns was not as wanted */
	const char *blob;
	struct oci_digest blob_digest;
};

struct nsct {
	int n;
	char v[300];
};

static enum MHD_Result ns_it(void *cls, enum MHD_ValueKind kind,
			     const char *key, const char *value)
{
	struct nsct *c = cls;

	(void)kind;
	if (!strcmp(key, "ns")) {
		c->n++;
		snprintf(c->v, sizeof(c->v), "%s", value ? value : "");
	}
	return MHD_YES;
}

static void srv_script(struct mhd_fix *f, const struct mhd_req *rq,
		       struct mhd_ans *a)
{
	struct srv *s = (struct srv *)f;
	static __thread char link[400];
	struct nsct c = {0, ""};
	const char *p;

	MHD_get_connection_values(rq->conn, MHD_GET_ARGUMENT_KIND, ns_it, &c);
	if (s->ns ? (c.n != 1 || strcmp(c.v, s->ns)) : c.n != 0)
		s->bad_ns++;
	if (s->not_found)
		return;
	if (s->unavailable) {
		a->status = 503;
		return;
	}
	if (!strcmp(rq->method, "PUT") &&
	    !strncmp(rq->path, "/v2/r/manifests/", 16)) {
		a->status = 201;
		return;
	}
	if (!strncmp(rq->path, "/v2/r/manifests/", 16)) {
		struct oci_digest d;

		mhd_ans_body(a, 200, MT_OCI_MANIFEST, MBODY);
		oci_digest_of(&d, OCI_SHA256, MBODY, strlen(MBODY));
		mhd_ans_header(a, "Docker-Content-Digest", d.str);
		return;
	}
	if (!strcmp(rq->path, "/v2/r/tags/list")) {
		if (mhd_arg(rq, "last")) {
			mhd_ans_body(a, 200, "application/json",
				     "{\"name\":\"r\",\"tags\":[\"b\"]}");
			return;
		}
		/* a mirror's page link carries ns already */
		snprintf(link, sizeof(link),
			 "</v2/r/tags/list?n=1000&last=a%s%s>; rel=\"next\"",
			 s->ns ? "&ns=" : "", s->ns ? s->ns : "");
		mhd_ans_body(a, 200, "application/json",
			     "{\"name\":\"r\",\"tags\":[\"a\"]}");
		mhd_ans_header(a, "Link", link);
		return;
	}
	if (!strncmp(rq->path, "/v2/r/referrers/", 16)) {
		mhd_ans_body(
		    a, 200, MT_OCI_INDEX,
		    "{\"schemaVersion\":2,\"mediaType\":\"" MT_OCI_INDEX
		    "\",\"manifests\":[]}");
		return;
	}
	if ((p = strstr(rq->path, "/blobs/")) && s->blob &&
	    !strcmp(p + 7, s->blob_digest.str)) {
		long long from;

		mhd_serve_range(rq, a, s->blob + (s->corrupt ? BLOB_LEN : 0),
				BLOB_LEN, &from);
	}
}

/* The servers, a pool whose origin names the mirrors, logs caught. */
struct mfix {
	struct srv origin, m1, m2;
	int m1_closed, n_mirrors;
	char url1[100], url2[100];
	const char *mirrors[2];
	struct reg_host_options h;
	struct reg_pool_host ph;
	struct reg_options opt;
	struct reg_pool pool;
	struct reg_client *c;
	char *blob; /* good bytes, then corrupted ones */
	char log[8192];
};

static void catch_log(void *ctx, enum reg_log_level l, const char *m)
{
	struct mfix *x = ctx;
	size_t n = strlen(x->log);

	if (l == REG_LOG_INFO)
		snprintf(x->log + n, sizeof(x->log) - n, "%s\n", m);
}

static int occurrences(const char *hay, const char *needle)
{
	int n = 0;

	for (const char *p = hay; (p = strstr(p, needle)); p++)
		n++;
	return n;
}

static void srv_start(struct mfix *x, struct srv *s, const char *ns)
{
	mhd_start(&s->f, srv_script, NULL, 0);
	s->ns = ns;
	s->blob = x->blob;
	oci_digest_of(&s->blob_digest, OCI_SHA256, x->blob, BLOB_LEN);
}

/* n_mirrors mirrors (the first on a closed port when m1_closed), then
 * the pool's client for the origin. */
static void mfix_start(struct mfix *x, int n_mirrors, int m1_closed,
		       int fallback)
{
	struct err e;

	memset(x, 0, sizeof(*x));
	setenv("DOCKER_CONFIG", "/nonexistent-ocimirror-test", 1);
	unsetenv("REGISTRY_AUTH_FILE");
	unsetenv("XDG_RUNTIME_DIR");
	unsetenv("OCIMIRROR_INSECURE_REGISTRIES");
	x->blob = malloc(2 * BLOB_LEN);
	cr_assert(x->blob);
	for (size_t i = 0; i < BLOB_LEN; i++)
		x->blob[i] = x->blob[BLOB_LEN + i] = (char)(i * 7 + 3);
	x->blob[BLOB_LEN + 100] ^= 1;
	srv_start(x, &x->origin, NULL);
	srv_start(x, &x->m1, x->origin.f.host);
	snprintf(x->url1, sizeof(x->url1), "http://%s/", x->m1.f.host);
	if (m1_closed)
		mhd_stop(&x->m1.f); /* nothing listens there now */
	x->m1_closed = m1_closed;
	srv_start(x, &x->m2, x->origin.f.host);
	snprintf(x->url2, sizeof(x->url2), "http://%s", x->m2.f.host);
	x->mirrors[0] = x->url1;
	x->mirrors[1] = x->url2;
	x->n_mirrors = n_mirrors;
	x->h.tls = REG_TLS_PLAIN;
	x->h.mirrors = x->mirrors;
	x->h.n_mirrors = (size_t)n_mirrors;
	x->h.fallback = fallback;
	x->ph.host = x->origin.f.host;
	x->ph.opt = &x->h;
	reg_options_init(&x->opt);
	x->opt.retries = 2;
	x->opt.retry_base_ms = 5;
	x->opt.connect_timeout = 5;
	x->opt.stall_timeout = 10;
	x->opt.log = catch_log;
	x->opt.log_ctx = x;
	reg_pool_init(&x->pool, &x->opt);
	reg_pool_set_hosts(&x->pool, &x->ph, 1);
	cr_assert_eq(reg_pool_get(&x->pool, &x->c, x->origin.f.host, &e), 0,
		     "%s", e.msg);
	cr_assert_str_eq(reg_client_host(x->c), x->origin.f.host);
}

static void mfix_stop(struct mfix *x)
{
	reg_pool_release(&x->pool);
	mhd_stop(&x->origin.f);
	if (!x->m1_closed)
		mhd_stop(&x->m1.f);
	mhd_stop(&x->m2.f);
	free(x->blob);
}

/* Every request a server saw. */
static int total(struct srv *s)
{
	return mhd_count(&s->f, "GET") + mhd_count(&s->f, "HEAD") +
	       mhd_count(&s->f, "PUT") + mhd_count(&s->f, "POST");
}

struct got {
	int done, rc;
	char endpoint[100];
	char err[ERR_MSG_MAX];
	char **list;
	size_t n;
};

static void got_manifest(void *ctx, int rc, struct reg_manifest *m,
			 int64_t size, const struct err *err)
{
	struct got *g = ctx;

	(void)size;
	g->done++;
	g->rc = rc;
	snprintf(g->err, sizeof(g->err), "%s", rc ? err->msg : "");
	snprintf(g->endpoint, sizeof(g->endpoint), "%s",
		 !rc && m->endpoint ? m->endpoint : "");
}

static void got_list(void *ctx, int rc, char **list, size_t n,
		     const struct err *err)
{
	struct got *g = ctx;

	(void)err;
	g->done++;
	g->rc = rc;
	g->list = list;
	g->n = n;
}

static void async_get(struct mfix *x, struct got *g)
{
	struct err e;

	memset(g, 0, sizeof(*g));
	cr_assert_eq(
	    reg_client_get_manifest_async(x->c, "r", "t", got_manifest, g, &e),
	    0);
	cr_assert_eq(reg_engine_run(reg_client_engine(x->c)), 0);
	cr_assert_eq(g->done, 1);
}

Test(reg_mirror, reads_go_to_the_mirror_with_ns_once_also_on_link_pages)
{
	struct mfix x;
	struct reg_manifest m;
	struct buf idx;
	struct got g;
	struct err e;
	char **tags;
	size_t n;

	mfix_start(&x, 1, 0, 1);
	cr_assert_str_eq(reg_client_endpoint(x.c), x.m1.f.host);
	/* blocking */
	cr_assert_eq(reg_client_get_manifest(x.c, &m, "r", "t", &e), 0, "%s",
		     e.msg);
	cr_assert_str_eq(m.endpoint, x.m1.f.host);
	reg_manifest_release(&m);
	cr_assert_eq(reg_client_list_tags(x.c, &tags, &n, "r", &e), 0, "%s",
		     e.msg);
	cr_assert_eq(n, 2);
	cr_assert_str_eq(tags[0], "a");
	cr_assert_str_eq(tags[1], "b");
	oci_strv_free(tags);
	buf_init(&idx, 1 << 20);
	cr_assert_eq(
	    reg_client_referrers(x.c, &idx, "r", &x.m1.blob_digest, &e), 0,
	    "%s", e.msg);
	buf_release(&idx);
	/* async */
	async_get(&x, &g);
	cr_assert_eq(g.rc, 0, "%s", g.err);
	cr_assert_str_eq(g.endpoint, x.m1.f.host);
	memset(&g, 0, sizeof(g));
	cr_assert_eq(reg_client_list_tags_async(x.c, "r", got_list, &g, &e), 0);
	cr_assert_eq(reg_engine_run(reg_client_engine(x.c)), 0);
	cr_assert_eq(g.rc, 0);
	cr_assert_eq(g.n, 2);
	cr_assert_str_eq(g.list[1], "b");
	oci_strv_free(g.list);

	cr_assert_eq(x.m1.bad_ns, 0);
	cr_assert_eq(mhd_count(&x.m1.f, "GET /v2/r/manifests/t"), 2);
	cr_assert_eq(mhd_count(&x.m1.f, "GET /v2/r/tags/list"), 4);
	cr_assert_eq(mhd_count(&x.m1.f, "GET"), 7); /* and the referrers */
	cr_assert_eq(total(&x.origin), 0);
	cr_assert_eq(occurrences(x.log, "failed"), 0);
	mfix_stop(&x);
}

Test(reg_mirror, a_closed_mirror_falls_back_to_the_origin_and_is_skipped)
{
	struct mfix x;
	struct reg_manifest m;
	struct got g;
	struct err e;
	char want[200];

	mfix_start(&x, 1, 1, 1);
	async_get(&x, &g);
	cr_assert_eq(g.rc, 0, "%s", g.err);
	cr_assert_str_eq(g.endpoint, x.origin.f.host);
	cr_assert_eq(mhd_count(&x.origin.f, "GET /v2/r/manifests/t"), 1);
	snprintf(want, sizeof(want), "%s: mirror %s failed (", x.origin.f.host,
		 x.m1.f.host);
	cr_assert(strstr(x.log, want), "%s", x.log);
	snprintf(want, sizeof(want), "), trying %s\n", x.origin.f.host);
	cr_assert(strstr(x.log, want), "%s", x.log);
	/* the mirror is skipped now: no second failover, async or not */
	async_get(&x, &g);
	cr_assert_eq(g.rc, 0, "%s", g.err);
	cr_assert_eq(reg_client_get_manifest(x.c, &m, "r", "t", &e), 0, "%s",
		     e.msg);
	cr_assert_str_eq(m.endpoint, x.origin.f.host);
	reg_manifest_release(&m);
	cr_assert_eq(mhd_count(&x.origin.f, "GET /v2/r/manifests/t"), 3);
	cr_assert_eq(occurrences(x.log, " failed ("), 1, "%s", x.log);
	cr_assert_eq(x.origin.bad_ns, 0);
	mfix_stop(&x);
}

Test(reg_mirror, a_closed_mirror_without_fallback_is_an_error)
{
	struct mfix x;
	struct reg_manifest m;
	struct got g;
	struct err e;

	mfix_start(&x, 1, 1, 0);
	async_get(&x, &g);
	cr_assert_neq(g.rc, 0);
	cr_assert_neq(reg_client_get_manifest(x.c, &m, "r", "t", &e), 0);
	cr_assert_eq(total(&x.origin), 0);
	mfix_stop(&x);
}

Test(reg_mirror, a_mirror_404_goes_to_the_next_mirror)
{
	struct mfix x;
	struct reg_manifest m;
	struct got g;
	struct err e;

	mfix_start(&x, 2, 0, 0);
	x.m1.not_found = 1;
	async_get(&x, &g);
	cr_assert_eq(g.rc, 0, "%s", g.err);
	cr_assert_str_eq(g.endpoint, x.m2.f.host);
	cr_assert_eq(reg_client_get_manifest(x.c, &m, "r", "t", &e), 0, "%s",
		     e.msg);
	cr_assert_str_eq(m.endpoint, x.m2.f.host);
	reg_manifest_release(&m);
	cr_assert_eq(mhd_count(&x.m1.f, "GET /v2/r/manifests/t"), 2);
	cr_assert_eq(mhd_count(&x.m2.f, "GET /v2/r/manifests/t"), 2);
	cr_assert_eq(x.m1.bad_ns + x.m2.bad_ns, 0);
	cr_assert_eq(total(&x.origin), 0);
	/* the last endpoint's 404 stands */
	x.m2.not_found = 1;
	async_get(&x, &g);
	cr_assert_eq(g.rc, ERR_NOT_FOUND, "%s", g.err);
	mfix_stop(&x);
}

/* An in-memory sink verifying the blob. */
struct msink {
	char data[BLOB_LEN];
	size_t len;
	int resets, finishes;
	struct oci_digest want;
};

static int ms_write(void *ctx, const void *p, size_t n, struct err *err)
{
	struct msink *s = ctx;

	if (s->len + n > BLOB_LEN)
		return err_set(err, ERR_TOO_LARGE, "sink: too many bytes");
	memcpy(s->data + s->len, p, n);
	s->len += n;
	return 0;
}

static int ms_reset(void *ctx, struct err *err)
{
	struct msink *s = ctx;

	(void)err;
	s->len = 0;
	s->resets++;
	return 0;
}

static uint64_t ms_offset(void *ctx)
{
	return ((struct msink *)ctx)->len;
}

static int ms_finish(void *ctx, struct err *err)
{
	struct msink *s = ctx;
	struct oci_digest got;

	s->finishes++;
	oci_digest_of(&got, OCI_SHA256, s->data, s->len);
	if (!oci_digest_equal(&got, &s->want))
		return err_set(err, ERR_DIGEST, "sink: digest mismatch");
	return 0;
}

Test(reg_mirror, a_streamed_blob_corrupt_on_the_mirror_comes_from_the_next)
{
	struct mfix x;
	struct reg_blob_job job;
	struct msink *s = calloc(1, sizeof(*s));
	struct reg_transfer_opts o;
	char key[200];

	cr_assert(s);
	mfix_start(&x, 1, 0, 1);
	x.m1.corrupt = 1;
	s->want = x.m1.blob_digest;
	memset(&job, 0, sizeof(job));
	job.client = x.c;
	job.repo = "r";
	job.digest = x.m1.blob_digest;
	job.size = BLOB_LEN;
	job.sink.write = ms_write;
	job.sink.reset = ms_reset;
	job.sink.offset = ms_offset;
	job.sink.finish = ms_finish;
	job.sink.ctx = s;
	memset(&o, 0, sizeof(o));
	cr_assert_eq(reg_transfer_run(&job, 1, &o), 0, "%s", job.err.msg);
	cr_assert_eq(job.result, 0, "%s", job.err.msg);
	cr_assert_eq(s->len, BLOB_LEN);
	cr_assert_eq(memcmp(s->data, x.blob, BLOB_LEN), 0);
	cr_assert_eq(s->finishes, 2); /* the mirror's failed, the origin's */
	cr_assert_geq(s->resets, 1);
	snprintf(key, sizeof(key), "GET /v2/r/blobs/%s", job.digest.str);
	cr_assert_eq(mhd_count(&x.m1.f, key), 1);
	cr_assert_eq(mhd_count(&x.origin.f, key), 1);
	cr_assert_eq(x.m1.bad_ns + x.origin.bad_ns, 0);
	free(s);
	mfix_stop(&x);
}

Test(reg_mirror, a_mirror_503_after_its_retries_goes_to_the_next)
{
	struct mfix x;
	struct reg_manifest m;
	struct got g;
	struct err e;

	mfix_start(&x, 2, 0, 1);
	x.m1.unavailable = 1;
	async_get(&x, &g);
	cr_assert_eq(g.rc, 0, "%s", g.err);
	cr_assert_str_eq(g.endpoint, x.m2.f.host);
	/* the first attempt and opt.retries (2) more */
	cr_assert_eq(mhd_count(&x.m1.f, "GET /v2/r/manifests/t"), 3);
	cr_assert_eq(reg_client_get_manifest(x.c, &m, "r", "t", &e), 0, "%s",
		     e.msg);
	cr_assert_str_eq(m.endpoint, x.m2.f.host);
	reg_manifest_release(&m);
	/* not a transport failure: the mirror is not skipped */
	cr_assert_eq(mhd_count(&x.m1.f, "GET /v2/r/manifests/t"), 6);
	cr_assert_eq(mhd_count(&x.m2.f, "GET /v2/r/manifests/t"), 2);
	cr_assert_eq(total(&x.origin), 0);
	mfix_stop(&x);
}

Test(reg_mirror, a_streamed_blob_falls_back_when_the_mirror_is_closed)
{
	struct mfix x;
	struct reg_blob_job job;
	struct msink *s = calloc(1, sizeof(*s));
	struct reg_transfer_opts o;
	char key[200];

	cr_assert(s);
	mfix_start(&x, 1, 1, 1);
	s->want = x.origin.blob_digest;
	memset(&job, 0, sizeof(job));
	job.client = x.c;
	job.repo = "r";
	job.digest = x.origin.blob_digest;
	job.size = BLOB_LEN;
	job.sink.write = ms_write;
	job.sink.reset = ms_reset;
	job.sink.offset = ms_offset;
	job.sink.finish = ms_finish;
	job.sink.ctx = s;
	memset(&o, 0, sizeof(o));
	cr_assert_eq(reg_transfer_run(&job, 1, &o), 0, "%s", job.err.msg);
	cr_assert_eq(job.result, 0, "%s", job.err.msg);
	cr_assert_eq(memcmp(s->data, x.blob, BLOB_LEN), 0);
	cr_assert_eq(s->finishes, 1);
	snprintf(key, sizeof(key), "GET /v2/r/blobs/%s", job.digest.str);
	cr_assert_eq(mhd_count(&x.origin.f, key), 1);
	cr_assert_eq(occurrences(x.log, " failed ("), 1, "%s", x.log);
	free(s);
	mfix_stop(&x);
}

Test(reg_mirror, pushes_go_to_the_origin_without_ns)
{
	struct mfix x;
	struct got g;
	struct err e;

	mfix_start(&x, 1, 0, 0);
	cr_assert_eq(reg_client_put_manifest(x.c, NULL, "r", "t",
					     MT_OCI_MANIFEST, MBODY,
					     strlen(MBODY), &e),
		     0, "%s", e.msg);
	cr_assert_eq(mhd_count(&x.origin.f, "PUT /v2/r/manifests/t"), 1);
	cr_assert_eq(mhd_count(&x.m1.f, "PUT"), 0);
	cr_assert_eq(x.origin.bad_ns, 0);
	/* reads still go to the mirror */
	async_get(&x, &g);
	cr_assert_eq(g.rc, 0, "%s", g.err);
	cr_assert_str_eq(g.endpoint, x.m1.f.host);
	cr_assert_eq(mhd_count(&x.origin.f, "GET"), 0);
	mfix_stop(&x);
}

Test(reg_mirror, bad_mirror_urls_are_refused_naming_host_and_url)
{
	static const char *bad[] = {
	    "ftp://m:5000", "http://m:5000/v2", "http://m:99999", "http://",
	    "m:5000",	    "https://m:5000//", "http://m:50x"};
	struct reg_options opt;
	struct reg_host_options h;
	struct reg_pool_host ph = {"example.test:5000", &h};
	struct reg_pool pool;
	struct reg_client *c;
	struct err e;

	reg_options_init(&opt);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memset(&h, 0, sizeof(h));
		h.mirrors = &bad[i];
		h.n_mirrors = 1;
		reg_pool_init(&pool, &opt);
		reg_pool_set_hosts(&pool, &ph, 1);
		cr_assert_eq(reg_pool_get(&pool, &c, ph.host, &e), ERR_INVALID,
			     "%s", bad[i]);
		cr_assert(strstr(e.msg, ph.host), "%s", e.msg);
		cr_assert(strstr(e.msg, bad[i]), "%s", e.msg);
		reg_pool_release(&pool);
	}
	/* good ones */
	{
		static const char *good[] = {"https://m.example:5000/",
					     "http://127.0.0.1:5001",
					     "https://[::1]:5000"};
		memset(&h, 0, sizeof(h));
		h.mirrors = good;
		h.n_mirrors = 3;
		reg_pool_init(&pool, &opt);
		reg_pool_set_hosts(&pool, &ph, 1);
		cr_assert_eq(reg_pool_get(&pool, &c, ph.host, &e), 0, "%s",
			     e.msg);
		cr_assert_str_eq(reg_client_host(c), ph.host);
		cr_assert_str_eq(reg_client_endpoint(c), "m.example:5000");
		reg_pool_release(&pool);
	}
}
