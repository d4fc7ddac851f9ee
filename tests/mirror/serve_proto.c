/* The server's protocol edges (issue 12: 5, 6, 8, 11), in-process on
 * loopback: descriptor sizes checked against the store on a manifest PUT,
 * oversized queries answered at once, basic auth taken with its length,
 * non-distributable layers accepted without their blob and then pulled,
 * verified, exported and collected without it. */
#include <curl/curl.h>
#include <jansson.h>

#include "loopfix.h"
#include "mirror/bundle.h"
#include "mirror/pull.h"
#include "mirror/serve/htpasswd.h"
#include "mirror/store/gc.h"
#include "mirror/store/verify.h"
#include "oci/buf.h"

#define REPO "proto/app"
#define MT_ND_LAYER "application/vnd.oci.image.layer.nondistributable.v1.tar"
#define MT_FOREIGN "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"
#define MT_DOCKER_MAN "application/vnd.docker.distribution.manifest.v2+json"
#define LAYER_LEN 7000

static struct loop l;
static struct oci_digest layer, config;
static char layer_text[LAYER_LEN + 1];
static const char *config_text = "{\"architecture\":\"amd64\"}";

struct resp {
	long status;
	struct buf body;
};

static size_t on_body(char *p, size_t sz, size_t n, void *ctx)
{
	struct resp *r = ctx;

	return buf_append(&r->body, p, sz * n) ? 0 : sz * n;
}

/* One request to the server; extra: a NULL-terminated list of headers.
 * auth: 1 the right credentials, 0 none. */
static void req(struct resp *r, const char *method, const char *path,
		const char *body, const char *const *extra, int auth)
{
	CURL *c = curl_easy_init();
	struct curl_slist *h = NULL;
	char url[65536];

	cr_assert(c);
	memset(r, 0, sizeof(*r));
	buf_init(&r->body, 1 << 20);
	snprintf(url, sizeof(url), "http://%s%s", l.host, path);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 20L);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, r);
	h = curl_slist_append(h, "Expect:");
	for (size_t i = 0; extra && extra[i]; i++)
		h = curl_slist_append(h, extra[i]);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	if (strcmp(method, "GET"))
		curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	if (body) {
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
	}
	if (auth) {
		curl_easy_setopt(c, CURLOPT_USERNAME, LOOP_USER);
		curl_easy_setopt(c, CURLOPT_PASSWORD, LOOP_PASS);
	}
	cr_assert_eq(curl_easy_perform(c), CURLE_OK, "%s %.100s", method,
		     path);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
	curl_slist_free_all(h);
	curl_easy_cleanup(c);
	cr_assert(!buf_append(&r->body, "", 1)); /* a C string */
}

static void done(struct resp *r) { buf_release(&r->body); }

/* errors[0].code and .message of an OCI error body. */
static void assert_error(struct resp *r, long status, const char *code,
			 char *msg, size_t cap)
{
	json_t *j = json_loads(r->body.data, 0, NULL);
	json_t *e0 = json_array_get(json_object_get(j, "errors"), 0);
	const char *got = json_string_value(json_object_get(e0, "code"));
	const char *m = json_string_value(json_object_get(e0, "message"));

	cr_assert_eq(r->status, status, "status %ld: %s", r->status,
		     r->body.data);
	cr_assert_str_eq(got ? got : "(none)", code);
	if (msg)
		snprintf(msg, cap, "%s", m ? m : "");
	json_decref(j);
}

/* An image manifest over config and one layer descriptor. */
static void image_json(char *dst, size_t cap, const char *mt,
		       const char *layer_mt, const struct oci_digest *ld,
		       long long lsize, long long csize, const char *urls)
{
	snprintf(dst, cap,
		 "{\"schemaVersion\":2,\"mediaType\":\"%s\","
		 "\"config\":{\"mediaType\":\"%s\",\"digest\":\"%s\","
		 "\"size\":%lld},"
		 "\"layers\":[{\"mediaType\":\"%s\",\"digest\":\"%s\","
		 "\"size\":%lld%s%s%s}]}",
		 mt, MT_CONFIG, config.str, csize, layer_mt, ld->str, lsize,
		 urls ? ",\"urls\":[\"" : "", urls ? urls : "",
		 urls ? "\"]" : "");
}

static long put_manifest(const char *tag, const char *json, const char *mt,
			 char *msg, size_t cap, const char *code)
{
	char path[256], ct[200];
	const char *hdr[] = {ct, NULL};
	struct resp r;
	long status;

	snprintf(path, sizeof(path), "/v2/%s/manifests/%s", REPO, tag);
	snprintf(ct, sizeof(ct), "Content-Type: %s", mt);
	req(&r, "PUT", path, json, hdr, 1);
	status = r.status;
	if (code)
		assert_error(&r, r.status, code, msg, cap);
	done(&r);
	return status;
}

static void setup(void)
{
	struct err e;

	loop_start(&l, 1);
	memset(layer_text, 'L', LAYER_LEN);
	layer_text[LAYER_LEN] = '\0';
	layer = fix_blob(&l.remote, layer_text);
	config = fix_blob(&l.remote, config_text);
	cr_assert_eq(store_blob_link(&l.remote.st, REPO, &layer, &e), 0);
	cr_assert_eq(store_blob_link(&l.remote.st, REPO, &config, &e), 0);
}

static void teardown(void) { loop_stop(&l); }

TestSuite(serve_proto, .init = setup, .fini = teardown, .timeout = 60);

Test(serve_proto, a_layer_size_that_lies_is_refused_naming_both_sizes)
{
	char man[2048], msg[ERR_MSG_MAX], want[300];
	struct resp r;

	image_json(man, sizeof(man), MT_MANIFEST, MT_LAYER, &layer, 10,
		   (long long)strlen(config_text), NULL);
	cr_assert_eq(put_manifest("v1", man, MT_MANIFEST, msg, sizeof(msg),
				  "MANIFEST_INVALID"),
		     400);
	snprintf(want, sizeof(want), "layer %s: the manifest says 10 bytes",
		 layer.str);
	cr_assert(strstr(msg, want), "%s", msg);
	cr_assert(strstr(msg, "holds 7000"), "%s", msg);
	/* nothing was stored under the tag */
	req(&r, "GET", "/v2/" REPO "/manifests/v1", NULL, NULL, 0);
	cr_assert_eq(r.status, 404);
	done(&r);
	/* the same manifest with the true sizes is taken */
	image_json(man, sizeof(man), MT_MANIFEST, MT_LAYER, &layer, LAYER_LEN,
		   (long long)strlen(config_text), NULL);
	cr_assert_eq(put_manifest("v1", man, MT_MANIFEST, NULL, 0, NULL), 201);
}

Test(serve_proto, a_config_or_index_child_size_that_lies_is_refused)
{
	char man[2048], idx[2048], msg[ERR_MSG_MAX];
	struct oci_digest md;

	image_json(man, sizeof(man), MT_MANIFEST, MT_LAYER, &layer, LAYER_LEN,
		   3, NULL);
	cr_assert_eq(put_manifest("v1", man, MT_MANIFEST, msg, sizeof(msg),
				  "MANIFEST_INVALID"),
		     400);
	cr_assert(strstr(msg, config.str), "%s", msg);
	cr_assert(strstr(msg, "says 3 bytes"), "%s", msg);
	image_json(man, sizeof(man), MT_MANIFEST, MT_LAYER, &layer, LAYER_LEN,
		   (long long)strlen(config_text), NULL);
	cr_assert_eq(put_manifest("img", man, MT_MANIFEST, NULL, 0, NULL), 201);
	oci_digest_of(&md, OCI_SHA256, man, strlen(man));
	snprintf(idx, sizeof(idx),
		 "{\"schemaVersion\":2,\"mediaType\":\"%s\",\"manifests\":["
		 "{\"mediaType\":\"%s\",\"digest\":\"%s\",\"size\":%zu}]}",
		 MT_INDEX, MT_MANIFEST, md.str, strlen(man) + 1);
	cr_assert_eq(put_manifest("multi", idx, MT_INDEX, msg, sizeof(msg),
				  "MANIFEST_INVALID"),
		     400);
	cr_assert(strstr(msg, md.str), "%s", msg);
}

Test(serve_proto, a_non_distributable_layer_is_accepted_without_its_blob)
{
	char man[2048], msg[ERR_MSG_MAX];
	struct oci_digest absent;
	struct resp r;

	oci_digest_of(&absent, OCI_SHA256, "never pushed", 12);
	image_json(man, sizeof(man), MT_MANIFEST, MT_ND_LAYER, &absent, 12,
		   (long long)strlen(config_text),
		   "https://example.com/layer.tar");
	cr_assert_eq(put_manifest("nd", man, MT_MANIFEST, NULL, 0, NULL), 201);
	req(&r, "GET", "/v2/" REPO "/manifests/nd", NULL,
	    (const char *[]){"Accept: " MT_MANIFEST, NULL}, 0);
	cr_assert_eq(r.status, 200);
	cr_assert_str_eq(r.body.data, man);
	done(&r);
	/* the Docker spelling, in a Docker manifest */
	image_json(man, sizeof(man), MT_DOCKER_MAN, MT_FOREIGN, &absent, 12,
		   (long long)strlen(config_text),
		   "https://example.com/layer.tgz");
	cr_assert_eq(put_manifest("foreign", man, MT_DOCKER_MAN, NULL, 0, NULL),
		     201);
	/* its twin with an ordinary layer type is still refused */
	image_json(man, sizeof(man), MT_MANIFEST, MT_LAYER, &absent, 12,
		   (long long)strlen(config_text),
		   "https://example.com/layer.tar");
	cr_assert_eq(put_manifest("twin", man, MT_MANIFEST, msg, sizeof(msg),
				  "MANIFEST_BLOB_UNKNOWN"),
		     400);
	cr_assert(strstr(msg, absent.str), "%s", msg);
	/* a non-distributable layer the registry does hold: size checked */
	image_json(man, sizeof(man), MT_MANIFEST, MT_ND_LAYER, &layer, 12,
		   (long long)strlen(config_text), NULL);
	cr_assert_eq(put_manifest("ndlie", man, MT_MANIFEST, NULL, 0,
				  "MANIFEST_INVALID"),
		     400);
}

static void query_of(char *dst, size_t cap, size_t n)
{
	size_t off = (size_t)snprintf(dst, cap, "/v2/%s/tags/list?", REPO);

	for (size_t i = 0; i < n && off < cap; i++)
		off += (size_t)snprintf(dst + off, cap - off, "%sp%zu=v",
					i ? "&" : "", i);
	cr_assert_lt(off, cap);
}

Test(serve_proto, six_hundred_query_arguments_are_answered_414)
{
	static char path[16384];
	char msg[ERR_MSG_MAX];
	struct resp r;

	fix_tag(&l.remote, REPO, "v1", &layer, MT_MANIFEST);
	query_of(path, sizeof(path), 600);
	req(&r, "GET", path, NULL, NULL, 0);
	assert_error(&r, 414, "UNSUPPORTED", msg, sizeof(msg));
	cr_assert_str_eq(msg, "more than 64 query arguments");
	done(&r);
	/* far past what the connection's pool could hold, too */
	query_of(path, sizeof(path), 1500);
	req(&r, "GET", path, NULL, NULL, 0);
	cr_assert_eq(r.status, 414);
	done(&r);
	/* a write with a body: refused before authentication, body drained */
	query_of(path, sizeof(path), 100);
	req(&r, "PUT", path, "{\"schemaVersion\":2}", NULL, 1);
	assert_error(&r, 414, "UNSUPPORTED", NULL, 0);
	done(&r);
	/* 64 are answered as usual */
	query_of(path, sizeof(path), 64);
	req(&r, "GET", path, NULL, NULL, 0);
	cr_assert_eq(r.status, 200, "%s", r.body.data);
	cr_assert(strstr(r.body.data, "\"v1\""), "%s", r.body.data);
	done(&r);
}

Test(serve_proto, a_long_accept_and_many_headers_are_served)
{
	static char accept[16 * 1024];
	static char extra[201][64];
	const char *hdr[203];
	char path[200];
	size_t off = (size_t)snprintf(accept, sizeof(accept), "Accept: ");
	struct resp r;

	while (off + 60 < sizeof(accept) - 200)
		off += (size_t)snprintf(accept + off, sizeof(accept) - off,
					"application/vnd.example.t%zu+json, ",
					off);
	snprintf(accept + off, sizeof(accept) - off, "%s", MT_MANIFEST);
	hdr[0] = accept;
	for (int i = 0; i < 200; i++) {
		snprintf(extra[i], sizeof(extra[i]), "X-Extra-%d: value %d", i,
			 i);
		hdr[i + 1] = extra[i];
	}
	hdr[201] = NULL;
	snprintf(path, sizeof(path), "/v2/%s/blobs/%s", REPO, layer.str);
	req(&r, "GET", path, NULL, hdr, 0);
	cr_assert_eq(r.status, 200, "%s", r.body.data);
	cr_assert_eq(r.body.len, LAYER_LEN + 1);
	done(&r);
}

/* An Authorization header with base64 of these len bytes. */
static void basic_of(char *dst, size_t cap, const char *cred, size_t len)
{
	static const char tb[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	const unsigned char *p = (const unsigned char *)cred;
	size_t o = (size_t)snprintf(dst, cap, "Authorization: Basic ");

	for (size_t i = 0; i < len; i += 3) {
		unsigned v = (unsigned)p[i] << 16;
		if (i + 1 < len)
			v |= (unsigned)p[i + 1] << 8;
		if (i + 2 < len)
			v |= p[i + 2];
		dst[o++] = tb[v >> 18 & 63];
		dst[o++] = tb[v >> 12 & 63];
		dst[o++] = i + 1 < len ? tb[v >> 6 & 63] : '=';
		dst[o++] = i + 2 < len ? tb[v & 63] : '=';
	}
	dst[o] = '\0';
	cr_assert_lt(o, cap);
}

static long post_with(const char *cred, size_t len)
{
	char auth[512];
	const char *hdr[] = {auth, NULL};
	struct resp r;
	long status;

	basic_of(auth, sizeof(auth), cred, len);
	req(&r, "POST", "/v2/" REPO "/blobs/uploads/", "", hdr, 0);
	status = r.status;
	done(&r);
	return status;
}

Test(serve_proto, a_password_cut_by_a_nul_or_holding_a_control_is_refused)
{
	static const char good[] = LOOP_USER ":" LOOP_PASS;
	static const char nul[] = LOOP_USER ":" LOOP_PASS "\0junk";
	static const char ctl[] = LOOP_USER ":" LOOP_PASS "\x01";
	static const char nul_user[] = LOOP_USER "\0x:" LOOP_PASS;

	cr_assert_eq(post_with(good, sizeof(good) - 1), 202);
	cr_assert_eq(post_with(nul, sizeof(nul) - 1), 401);
	cr_assert_eq(post_with(ctl, sizeof(ctl) - 1), 401);
	cr_assert_eq(post_with(nul_user, sizeof(nul_user) - 1), 401);
}

Test(serve_proto, htpasswd_check_basic_takes_the_decoded_length)
{
	struct htpasswd *h;
	char path[300], user[64];
	struct err e;

	snprintf(path, sizeof(path), "%s/htpasswd", l.remote.root);
	cr_assert_eq(htpasswd_load(&h, path, &e), 0, "%s", e.msg);
	/* "tester:s3cret-pass" */
	cr_assert(htpasswd_check_basic(user, sizeof(user), h,
				       "Basic dGVzdGVyOnMzY3JldC1wYXNz"));
	cr_assert_str_eq(user, LOOP_USER);
	cr_assert(htpasswd_check_basic(user, sizeof(user), h,
				       "basic dGVzdGVyOnMzY3JldC1wYXNz"));
	/* "tester:s3cret-pass\0junk" */
	cr_assert(!htpasswd_check_basic(user, sizeof(user), h,
					"Basic dGVzdGVyOnMzY3JldC1wYXNzAGp1bms="));
	cr_assert_str_eq(user, "");
	/* not base64, no colon, another scheme, nothing */
	cr_assert(!htpasswd_check_basic(user, sizeof(user), h,
					"Basic dGVzdGVyOnMzY3JldC1wYXN*"));
	cr_assert(!htpasswd_check_basic(user, sizeof(user), h,
					"Basic dGVzdGVy"));
	cr_assert(!htpasswd_check_basic(user, sizeof(user), h,
					"Bearer dGVzdGVyOnMzY3JldC1wYXNz"));
	cr_assert(!htpasswd_check_basic(user, sizeof(user), h, NULL));
	cr_assert(!htpasswd_check_basic(user, sizeof(user), NULL,
					"Basic dGVzdGVyOnMzY3JldC1wYXNz"));
	htpasswd_free(h);
}

/* Non-distributable layers downstream: a store holding a manifest whose
 * layer it never had is pulled, verified, exported and collected. */

struct problems {
	size_t n;
	char first[ERR_MSG_MAX];
};

static void on_problem(void *ctx, const struct verify_problem *p)
{
	struct problems *ps = ctx;

	if (!ps->n++)
		snprintf(ps->first, sizeof(ps->first), "%s", p->message);
}

static void verify_clean(struct fix *f)
{
	struct problems ps = {0, ""};
	struct verify_options o = {on_problem, &ps};
	struct verify_stats st;
	struct err e;

	cr_assert_eq(verify_run(&st, &f->st, &o, &e), 0, "%s", e.msg);
	cr_assert_eq(ps.n, 0, "%s", ps.first);
	cr_assert_eq(st.missing + st.mismatched + st.corrupt, 0);
	cr_assert_gt(st.manifests, 0);
}

Test(serve_proto, a_non_distributable_image_pulls_verifies_exports_and_gcs)
{
	char man[2048], repo[300], out[300];
	struct oci_digest absent, md;
	struct pull_item it;
	struct pull_result res;
	struct pull_options po;
	struct bundle_export_options bo;
	struct bundle_stats bs;
	struct gc_options go;
	struct gc_stats gs;
	struct store_ref sr;
	struct fix local;
	struct err e;

	oci_digest_of(&absent, OCI_SHA256, "never pushed", 12);
	image_json(man, sizeof(man), MT_MANIFEST, MT_ND_LAYER, &absent, 12,
		   (long long)strlen(config_text),
		   "https://example.com/layer.tar");
	oci_digest_of(&md, OCI_SHA256, man, strlen(man));
	cr_assert_eq(put_manifest("nd", man, MT_MANIFEST, NULL, 0, NULL), 201);
	verify_clean(&l.remote);

	fix_setup(&local);
	memset(&it, 0, sizeof(it));
	cr_assert_eq(oci_ref_parse(&it.ref, loop_ref(&l, REPO ":nd"), &e), 0);
	memset(&po, 0, sizeof(po));
	po.concurrency = 2;
	pull_run(&res, &local.st, &l.pool, &it, 1, &po);
	cr_assert_eq(res.result, 0, "%s", res.err.msg);
	cr_assert_str_eq(res.digest.str, md.str);
	cr_assert_eq(res.blobs, 1); /* the config; the layer is not fetched */
	cr_assert(fix_blob_present(&local, &config));
	cr_assert(!fix_blob_present(&local, &absent));
	snprintf(repo, sizeof(repo), "%s/%s", l.host, REPO);
	cr_assert_eq(store_tag_get(&sr, &local.st, repo, "nd", &e), 0, "%s",
		     e.msg);
	cr_assert_str_eq(sr.digest.str, md.str);
	verify_clean(&local);

	/* a rerun finds it complete and fetches nothing */
	pull_run(&res, &local.st, &l.pool, &it, 1, &po);
	cr_assert_eq(res.result, 0, "%s", res.err.msg);
	cr_assert_eq(res.blobs_fetched, 0);

	memset(&bo, 0, sizeof(bo));
	bo.all = 1;
	bo.compress = 0;
	snprintf(out, sizeof(out), "%s/out.tar", local.root);
	cr_assert_eq(bundle_export(&local.st, &bs, out, &bo, &e), 0, "%s",
		     e.msg);
	cr_assert_eq(bs.refs, 1);

	memset(&go, 0, sizeof(go));
	cr_assert_eq(gc_run(&gs, &local.st, &go, &e), 0, "%s", e.msg);
	cr_assert_eq(gs.errors + gs.unreadable + gs.blobs, 0);
	cr_assert(fix_blob_present(&local, &config));
	cr_assert(fix_blob_present(&local, &md));
	verify_clean(&local);
	fix_teardown(&local);
}
