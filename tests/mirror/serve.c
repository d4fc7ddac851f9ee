/* The server's request handling, end to end in-process: serve_start on an
 * ephemeral loopback port over a store built through the store API, driven
 * with libcurl. */
#include <crypt.h>
#include <curl/curl.h>
#include <jansson.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mirror/serve/api_deploy.h"
#include "mirror/serve/api_match.h"
#include "mirror/serve/serve.h"
#include "oci/buf.h"
#include "storefix.h"
#include "httpfix.h"

#define REPO "library/app"
#define USER "pusher"
#define PASS "s3cret"
#define ARTIFACT "application/vnd.example.sbom+json"

static struct fix F;
static struct server *srv;
static struct oci_digest img, layer, subject_ref;
static const char *layer_text = "0123456789abcdefghijklmnopqrstuvwxyz";

/* One request; body NULL for none. hdr: one extra header or NULL. */
static void req(struct resp *r, const char *method, const char *path,
		const char *body, size_t blen, const char *hdr, int auth)
{
	CURL *c = curl_easy_init();
	struct curl_slist *h = NULL;
	char url[4096];

	cr_assert(c);
	memset(r, 0, sizeof(*r));
	buf_init(&r->body, 1 << 20);
	snprintf(url, sizeof(url), "http://127.0.0.1:%u%s", serve_port(srv),
		 path);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 20L);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, r);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, r);
	h = curl_slist_append(h, "Expect:");
	if (hdr)
		h = curl_slist_append(h, hdr);
	if (body && !strstr(hdr ? hdr : "", "Content-Type"))
		h = curl_slist_append(h,
				      "Content-Type: application/octet-stream");
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	if (!strcmp(method, "HEAD"))
		curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
	else if (strcmp(method, "GET") || body)
		curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	if (body) {
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)blen);
	}
	if (auth) {
		curl_easy_setopt(c, CURLOPT_USERNAME, USER);
		curl_easy_setopt(c, CURLOPT_PASSWORD, PASS);
	}
	cr_assert_eq(curl_easy_perform(c), CURLE_OK, "%s %s", method, path);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
	curl_slist_free_all(h);
	curl_easy_cleanup(c);
}

static void get(struct resp *r, const char *path)
{
	req(r, "GET", path, NULL, 0, NULL, 0);
}

static void done(struct resp *r)
{
	buf_release(&r->body);
}

/* errors[0].code of an OCI error body. */
static void assert_error(struct resp *r, long status, const char *code)
{
	json_t *j = json_loadb(r->body.data, r->body.len, 0, NULL);
	const char *got = json_string_value(
	    json_object_get(json_array_get(json_object_get(j, "errors"), 0),
			    "code"));

	cr_assert_eq(r->status, status, "status %ld", r->status);
	cr_assert_str_eq(got ? got : "(none)", code);
	cr_assert_str_eq(header(r, "Content-Type"), "application/json");
	json_decref(j);
}

/* GET path answers status with OCI error code. */
static void get_error(const char *path, long status, const char *code)
{
	struct resp r;

	get(&r, path);
	assert_error(&r, status, code);
	done(&r);
}

static void write_htpasswd(const char *path)
{
	char salt[64];
	const char *hash;
	FILE *f;

	cr_assert(crypt_gensalt_rn("$2b$", 4, NULL, 0, salt, sizeof(salt)));
	hash = crypt(PASS, salt);
	cr_assert(hash && !strncmp(hash, "$2b$", 4));
	f = fopen(path, "w");
	cr_assert(f);
	fprintf(f, "%s:%s\n", USER, hash);
	fclose(f);
}

static void setup(void)
{
	const char *layers[] = {layer_text};
	char desc[1024], htp[300];
	struct serve_options o;
	struct err e;
	struct oci_digest sbom;

	fix_setup(&F);
	img = fix_image(&F, REPO, "{\"config\":1}", layers, 1, NULL, NULL);
	oci_digest_of(&layer, OCI_SHA256, layer_text, strlen(layer_text));
	for (const char *t = "1.0\0a\0b\0c\0"; *t; t += strlen(t) + 1)
		fix_tag(&F, REPO, t, &img, MT_MANIFEST);
	/* a referrer of img carrying an artifactType */
	sbom = fix_image(&F, REPO, "{\"sbom\":1}", NULL, 0, &img, ARTIFACT);
	subject_ref = sbom;
	snprintf(desc, sizeof(desc),
		 "{\"mediaType\":\"%s\",\"digest\":\"%s\",\"size\":100,"
		 "\"artifactType\":\"%s\"}",
		 MT_MANIFEST, sbom.str, ARTIFACT);
	cr_assert_eq(store_referrer_add(&F.st, REPO, &img, &sbom, desc, &e), 0,
		     "%s", e.msg);
	fix_image(&F, "docker.io/library/nginx", "{\"hub\":1}", layers, 1,
		  NULL, NULL);
	fix_tag(&F, "docker.io/library/nginx", "1.25", &img, MT_MANIFEST);
	snprintf(htp, sizeof(htp), "%s/htpasswd", F.root);
	write_htpasswd(htp);
	serve_options_init(&o);
	o.listen = "127.0.0.1:0";
	o.htpasswd = htp;
	o.anonymous_read = 1;
	o.push = 1;
	o.delete = 1;
	o.threads = 2;
	cr_assert_eq(serve_start(&srv, &F.st, &o, &e), 0, "%s", e.msg);
	cr_assert_gt(serve_port(srv), 0);
}

static void teardown(void)
{
	serve_stop(srv);
	srv = NULL;
	fix_teardown(&F);
}

TestSuite(serve, .init = setup, .fini = teardown, .timeout = 60);

Test(serve, get_and_head_a_manifest_by_tag)
{
	struct resp r;
	struct oci_digest got;
	char len[32];

	get(&r, "/v2/" REPO "/manifests/1.0");
	cr_assert_eq(r.status, 200);
	cr_assert_str_eq(header(&r, "Docker-Content-Digest"), img.str);
	cr_assert_str_eq(header(&r, "Content-Type"), MT_MANIFEST);
	snprintf(len, sizeof(len), "%zu", r.body.len);
	cr_assert_str_eq(header(&r, "Content-Length"), len);
	cr_assert_str_eq(header(&r, "Docker-Distribution-API-Version"),
			 "registry/2.0");
	/* the stored bytes themselves */
	oci_digest_of(&got, OCI_SHA256, r.body.data, r.body.len);
	cr_assert_str_eq(got.str, img.str);
	cr_assert(strstr(r.body.data, layer.str));
	done(&r);
	req(&r, "HEAD", "/v2/" REPO "/manifests/1.0", NULL, 0, NULL, 0);
	cr_assert_eq(r.status, 200);
	cr_assert_str_eq(header(&r, "Docker-Content-Digest"), img.str);
	cr_assert_str_eq(header(&r, "Content-Length"), len);
	cr_assert_eq(r.body.len, 0);
	done(&r);
}

Test(serve, manifest_by_digest_and_if_none_match)
{
	struct resp r;
	char path[512], inm[200];

	snprintf(path, sizeof(path), "/v2/" REPO "/manifests/%s", img.str);
	get(&r, path);
	cr_assert_eq(r.status, 200);
	cr_assert_str_eq(header(&r, "Docker-Content-Digest"), img.str);
	done(&r);
	snprintf(inm, sizeof(inm), "If-None-Match: \"%s\"", img.str);
	req(&r, "GET", path, NULL, 0, inm, 0);
	cr_assert_eq(r.status, 304);
	cr_assert_eq(r.body.len, 0);
	done(&r);
}

Test(serve, ns_maps_to_the_mirrored_repository)
{
	struct resp r;

	get(&r, "/v2/library/nginx/manifests/1.25?ns=docker.io");
	cr_assert_eq(r.status, 200);
	cr_assert_str_eq(header(&r, "Docker-Content-Digest"), img.str);
	done(&r);
	get_error("/v2/library/nginx/manifests/1.25?ns=quay.io", 404, "NAME_UNKNOWN");
}

Test(serve, get_a_blob_and_a_range_of_it)
{
	struct resp r;
	char path[512], len[32], cr[64];
	size_t n = strlen(layer_text);

	snprintf(path, sizeof(path), "/v2/" REPO "/blobs/%s", layer.str);
	snprintf(len, sizeof(len), "%zu", n);
	get(&r, path);
	cr_assert_eq(r.status, 200);
	cr_assert_str_eq(header(&r, "Docker-Content-Digest"), layer.str);
	cr_assert_str_eq(header(&r, "Content-Length"), len);
	cr_assert_str_eq(header(&r, "Accept-Ranges"), "bytes");
	cr_assert_eq(r.body.len, n);
	cr_assert_eq(memcmp(r.body.data, layer_text, n), 0);
	done(&r);
	req(&r, "GET", path, NULL, 0, "Range: bytes=2-5", 0);
	cr_assert_eq(r.status, 206);
	snprintf(cr, sizeof(cr), "bytes 2-5/%zu", n);
	cr_assert_str_eq(header(&r, "Content-Range"), cr);
	cr_assert_eq(r.body.len, 4);
	cr_assert_eq(memcmp(r.body.data, "2345", 4), 0);
	done(&r);
	req(&r, "GET", path, NULL, 0, "Range: bytes=-3", 0);
	cr_assert_eq(r.status, 206);
	cr_assert_eq(r.body.len, 3);
	cr_assert_eq(memcmp(r.body.data, "xyz", 3), 0);
	done(&r);
	req(&r, "GET", path, NULL, 0, "Range: bytes=1000-", 0);
	cr_assert_eq(r.status, 416);
	snprintf(cr, sizeof(cr), "bytes */%zu", n);
	cr_assert_str_eq(header(&r, "Content-Range"), cr);
	done(&r);
	/* a multi-range is ignored: the whole blob */
	req(&r, "GET", path, NULL, 0, "Range: bytes=0-1,4-5", 0);
	cr_assert_eq(r.status, 200);
	cr_assert_eq(r.body.len, n);
	done(&r);
}

Test(serve, a_blob_of_another_repository_is_unknown)
{
	char path[512];

	snprintf(path, sizeof(path), "/v2/other/blobs/%s", layer.str);
	get_error(path, 404, "BLOB_UNKNOWN");
}

static void assert_tags(struct resp *r, const char *const *want, size_t n)
{
	json_t *j = json_loadb(r->body.data, r->body.len, 0, NULL);
	json_t *tags = json_object_get(j, "tags");

	cr_assert_eq(r->status, 200);
	cr_assert_str_eq(json_string_value(json_object_get(j, "name")), REPO);
	cr_assert_eq(json_array_size(tags), n);
	for (size_t i = 0; i < n; i++)
		cr_assert_str_eq(json_string_value(json_array_get(tags, i)),
				 want[i]);
	json_decref(j);
}

Test(serve, tag_list_pages_with_link)
{
	struct resp r;
	const char *p1[] = {"1.0", "a"}, *p2[] = {"b", "c"}, *all[] = {
							       "1.0", "a", "b",
							       "c"};
	char next[512];

	get(&r, "/v2/" REPO "/tags/list?n=2");
	assert_tags(&r, p1, 2);
	cr_assert_str_eq(header(&r, "Link"),
			 "</v2/" REPO "/tags/list?n=2&last=a>; rel=\"next\"");
	done(&r);
	snprintf(next, sizeof(next), "/v2/" REPO "/tags/list?n=2&last=a");
	get(&r, next);
	assert_tags(&r, p2, 2);
	cr_assert_null(header(&r, "Link"));
	done(&r);
	get(&r, "/v2/" REPO "/tags/list");
	assert_tags(&r, all, 4);
	done(&r);
	get_error("/v2/" REPO "/tags/list?n=x", 400, "UNSUPPORTED");
}

Test(serve, catalog_pages)
{
	struct resp r;
	json_t *j;

	get(&r, "/v2/_catalog?n=1");
	cr_assert_eq(r.status, 200);
	j = json_loadb(r.body.data, r.body.len, 0, NULL);
	cr_assert_eq(json_array_size(json_object_get(j, "repositories")), 1);
	cr_assert_str_eq(json_string_value(json_array_get(
			     json_object_get(j, "repositories"), 0)),
			 "docker.io/library/nginx");
	json_decref(j);
	cr_assert_str_eq(header(&r, "Link"),
			 "</v2/_catalog?n=1&last=docker.io/library/nginx>; "
			 "rel=\"next\"");
	done(&r);
}

Test(serve, absent_things_answer_oci_errors)
{
	get_error("/v2/" REPO "/manifests/nope", 404, "MANIFEST_UNKNOWN");
	get_error("/v2/absent/manifests/1.0", 404, "NAME_UNKNOWN");
	get_error("/v2/a/%2e%2e/b/manifests/x", 400, "NAME_INVALID");
	get_error("/v2/" REPO "/blobs/sha256:1234", 400, "DIGEST_INVALID");
	get_error("/v2/" REPO "/manifests/v1%00x", 404, "MANIFEST_UNKNOWN");
	get_error("/nothing", 404, "NAME_UNKNOWN");
}

Test(serve, pushes_need_credentials)
{
	struct resp r;

	req(&r, "POST", "/v2/new/blobs/uploads/", "", 0, NULL, 0);
	assert_error(&r, 401, "UNAUTHORIZED");
	cr_assert_str_eq(header(&r, "WWW-Authenticate"),
			 "Basic realm=\"ocimirror\"");
	done(&r);
}

Test(serve, monolithic_push_then_pull)
{
	struct resp r;
	const char *blob = "monolithic blob body";
	struct oci_digest d;
	char path[512], loc[512];

	oci_digest_of(&d, OCI_SHA256, blob, strlen(blob));
	snprintf(path, sizeof(path), "/v2/new/blobs/uploads/?digest=%s",
		 d.str);
	req(&r, "POST", path, blob, strlen(blob), NULL, 1);
	cr_assert_eq(r.status, 201);
	snprintf(loc, sizeof(loc), "/v2/new/blobs/%s", d.str);
	cr_assert_str_eq(header(&r, "Location"), loc);
	cr_assert_str_eq(header(&r, "Docker-Content-Digest"), d.str);
	done(&r);
	get(&r, loc);
	cr_assert_eq(r.status, 200);
	cr_assert_eq(r.body.len, strlen(blob));
	cr_assert_eq(memcmp(r.body.data, blob, r.body.len), 0);
	done(&r);
	/* a body that does not match its digest leaves nothing */
	req(&r, "POST", path, "other", 5, NULL, 1);
	assert_error(&r, 400, "DIGEST_INVALID");
	done(&r);
}

static void patch(const char *loc, const char *chunk, uint64_t at,
		  char *next, size_t cap)
{
	struct resp r;
	char cr[64], range[64];
	size_t n = strlen(chunk);

	snprintf(cr, sizeof(cr), "Content-Range: %llu-%llu",
		 (unsigned long long)at, (unsigned long long)(at + n - 1));
	req(&r, "PATCH", loc, chunk, n, cr, 1);
	cr_assert_eq(r.status, 202);
	snprintf(range, sizeof(range), "0-%llu",
		 (unsigned long long)(at + n - 1));
	cr_assert_str_eq(header(&r, "Range"), range);
	snprintf(next, cap, "%s", header(&r, "Location"));
	done(&r);
}

Test(serve, chunked_push_and_a_manifest_put)
{
	struct resp r;
	const char *a = "first chunk,", *b = "second chunk";
	char loc[512], path[700], whole[64], man[2048], d1[300], d2[300];
	struct oci_digest d, cfg, md;

	req(&r, "POST", "/v2/new/blobs/uploads/", "", 0, NULL, 1);
	cr_assert_eq(r.status, 202);
	cr_assert_str_eq(header(&r, "Range"), "0-0");
	snprintf(loc, sizeof(loc), "%s", header(&r, "Location"));
	cr_assert(!strncmp(loc, "/v2/new/blobs/uploads/", 22), "%s", loc);
	cr_assert_str_eq(header(&r, "Docker-Upload-UUID"), loc + 22);
	done(&r);
	patch(loc, a, 0, loc, sizeof(loc));
	/* a chunk that does not start at the offset is refused */
	req(&r, "PATCH", loc, "x", 1, "Content-Range: 0-0", 1);
	cr_assert_eq(r.status, 416);
	done(&r);
	patch(loc, b, strlen(a), loc, sizeof(loc));
	snprintf(whole, sizeof(whole), "%s%s", a, b);
	oci_digest_of(&d, OCI_SHA256, whole, strlen(whole));
	snprintf(path, sizeof(path), "%s?digest=%s", loc, d.str);
	req(&r, "PUT", path, "", 0, NULL, 1);
	cr_assert_eq(r.status, 201);
	cr_assert_str_eq(header(&r, "Docker-Content-Digest"), d.str);
	done(&r);
	/* the session is gone */
	get_error(loc, 404, "BLOB_UPLOAD_UNKNOWN");
	/* a config by monolithic push, then the manifest over both */
	oci_digest_of(&cfg, OCI_SHA256, "{}", 2);
	snprintf(path, sizeof(path), "/v2/new/blobs/uploads/?digest=%s",
		 cfg.str);
	req(&r, "POST", path, "{}", 2, NULL, 1);
	cr_assert_eq(r.status, 201);
	done(&r);
	fix_desc(d1, sizeof(d1), MT_CONFIG, &cfg, 2);
	fix_desc(d2, sizeof(d2), MT_LAYER, &d, (long long)strlen(whole));
	snprintf(man, sizeof(man),
		 "{\"schemaVersion\":2,\"mediaType\":\"%s\",\"config\":%s,"
		 "\"layers\":[%s]}",
		 MT_MANIFEST, d1, d2);
	oci_digest_of(&md, OCI_SHA256, man, strlen(man));
	req(&r, "PUT", "/v2/new/manifests/v1", man, strlen(man),
	    "Content-Type: " MT_MANIFEST, 1);
	cr_assert_eq(r.status, 201);
	cr_assert_str_eq(header(&r, "Docker-Content-Digest"), md.str);
	done(&r);
	get(&r, "/v2/new/manifests/v1");
	cr_assert_eq(r.status, 200);
	cr_assert_str_eq(header(&r, "Docker-Content-Digest"), md.str);
	cr_assert_eq(r.body.len, strlen(man));
	cr_assert_eq(memcmp(r.body.data, man, r.body.len), 0);
	done(&r);
}

Test(serve, a_manifest_over_unknown_blobs_is_refused)
{
	struct resp r;
	char man[1024], d1[300];
	struct oci_digest cfg;

	oci_digest_of(&cfg, OCI_SHA256, "absent", 6);
	fix_desc(d1, sizeof(d1), MT_CONFIG, &cfg, 6);
	snprintf(man, sizeof(man),
		 "{\"schemaVersion\":2,\"mediaType\":\"%s\",\"config\":%s,"
		 "\"layers\":[]}",
		 MT_MANIFEST, d1);
	req(&r, "PUT", "/v2/new/manifests/v1", man, strlen(man),
	    "Content-Type: " MT_MANIFEST, 1);
	assert_error(&r, 400, "MANIFEST_BLOB_UNKNOWN");
	done(&r);
}

static size_t referrers(struct resp *r, const char *query)
{
	char path[512];
	json_t *j;
	size_t n;

	snprintf(path, sizeof(path), "/v2/" REPO "/referrers/%s%s", img.str,
		 query);
	get(r, path);
	cr_assert_eq(r->status, 200);
	cr_assert_str_eq(header(r, "Content-Type"), MT_INDEX);
	j = json_loadb(r->body.data, r->body.len, 0, NULL);
	n = json_array_size(json_object_get(j, "manifests"));
	if (n)
		cr_assert_str_eq(
		    json_string_value(json_object_get(
			json_array_get(json_object_get(j, "manifests"), 0),
			"digest")),
		    subject_ref.str);
	json_decref(j);
	return n;
}

Test(serve, referrers_filtered_by_artifact_type)
{
	struct resp r;

	cr_assert_eq(referrers(&r, ""), 1);
	cr_assert_null(header(&r, "OCI-Filters-Applied"));
	done(&r);
	cr_assert_eq(referrers(&r, "?artifactType=" ARTIFACT), 1);
	cr_assert_str_eq(header(&r, "OCI-Filters-Applied"), "artifactType");
	done(&r);
	cr_assert_eq(referrers(&r, "?artifactType=application/other"), 0);
	cr_assert_str_eq(header(&r, "OCI-Filters-Applied"), "artifactType");
	done(&r);
}

Test(serve, metrics_count_requests)
{
	struct resp r;
	const char *want = "ocimirror_http_requests_total{method=\"GET\","
			   "status=\"404\"} 1\n";
	int seen = 0;

	get(&r, "/v2/" REPO "/manifests/nope");
	done(&r);
	/* a request is counted when MHD reports it complete, which may come
	 * just after the client has its answer */
	for (int i = 0; i < 50 && !seen; i++) {
		get(&r, "/metrics");
		cr_assert_eq(r.status, 200);
		cr_assert_eq(buf_append(&r.body, "", 1), 0);
		seen = strstr(r.body.data, want) != NULL;
		cr_assert(strstr(r.body.data, "ocimirror_upload_sessions 0\n"),
			  "%s", r.body.data);
		done(&r);
		if (!seen)
			usleep(20000);
	}
	cr_assert(seen, "no GET 404 counted");
}

Test(serve_options, push_needs_users_and_excludes_read_only)
{
	struct serve_options o;
	struct err e;

	serve_options_init(&o);
	cr_assert_str_eq(o.listen, "127.0.0.1:5000");
	cr_assert_eq(serve_options_check(&o, &e), 0);
	o.push = 1;
	cr_assert_eq(serve_options_check(&o, &e), ERR_INVALID);
	cr_assert(strstr(e.msg, "--htpasswd"), "%s", e.msg);
	o.htpasswd = "/nonexistent";
	cr_assert_eq(serve_options_check(&o, &e), 0);
	o.read_only = 1;
	cr_assert_eq(serve_options_check(&o, &e), ERR_INVALID);
	cr_assert(strstr(e.msg, "--read-only"), "%s", e.msg);
}

Test(serve_options, start_refuses_bad_listen_and_half_tls)
{
	struct serve_options o;
	struct server *s = (struct server *)&o;
	struct store st;
	struct err e;

	memset(&st, 0, sizeof(st));
	serve_options_init(&o);
	o.listen = "127.0.0.1:99999";
	cr_assert_eq(serve_start(&s, &st, &o, &e), ERR_INVALID);
	cr_assert_null(s);
	cr_assert(strstr(e.msg, "127.0.0.1:99999"), "%s", e.msg);
	o.listen = "[::1:5000";
	cr_assert_eq(serve_start(&s, &st, &o, &e), ERR_INVALID);
	o.listen = "127.0.0.1:0";
	o.tls_cert = "/nonexistent.pem";
	cr_assert_eq(serve_start(&s, &st, &o, &e), ERR_INVALID);
	cr_assert(strstr(e.msg, "--tls-key"), "%s", e.msg);
}

Test(serve, host_less_names_fall_back_to_docker_hub)
{
	struct resp r;

	/* docker's registry-mirrors send neither host nor ns */
	get(&r, "/v2/library/nginx/manifests/1.25");
	cr_assert_eq(r.status, 200);
	cr_assert_str_eq(header(&r, "Docker-Content-Digest"), img.str);
	done(&r);
	/* a local repository of that name wins; a name with a host never
	 * falls back */
	get_error("/v2/" REPO "/manifests/1.25", 404, "MANIFEST_UNKNOWN");
	get_error("/v2/example.com/library/nginx/manifests/1.25", 404, "NAME_UNKNOWN");
}

Test(serve, a_single_component_like_a_host_does_not_fall_back)
{
	static const char *const l[] = {"layer of my.app"};
	struct oci_digest d;
	struct resp r;

	d = fix_image(&F, "docker.io/my.app", "{\"my.app\":1}", l, 1, NULL,
		      NULL);
	fix_tag(&F, "docker.io/my.app", "1.0", &d, MT_MANIFEST);
	get(&r, "/v2/my.app/manifests/1.0");
	cr_assert_eq(r.status, 404, "status %ld", (long)r.status);
	done(&r);
	get(&r, "/v2/docker.io/my.app/manifests/1.0");
	cr_assert_eq(r.status, 200);
	done(&r);
}

Test(serve, delete_a_tag_and_cancel_an_upload)
{
	struct resp r;
	char loc[512];

	req(&r, "DELETE", "/v2/" REPO "/manifests/a", NULL, 0, NULL, 1);
	cr_assert_eq(r.status, 202);
	done(&r);
	get_error("/v2/" REPO "/manifests/a", 404, "MANIFEST_UNKNOWN");
	get(&r, "/v2/" REPO "/manifests/b");
	cr_assert_eq(r.status, 200);
	done(&r);
	req(&r, "POST", "/v2/new/blobs/uploads/", "", 0, NULL, 1);
	cr_assert_eq(r.status, 202);
	snprintf(loc, sizeof(loc), "%s", header(&r, "Location"));
	done(&r);
	req(&r, "DELETE", loc, NULL, 0, NULL, 1);
	cr_assert_eq(r.status, 204);
	done(&r);
	req(&r, "DELETE", loc, NULL, 0, NULL, 1);
	assert_error(&r, 404, "BLOB_UPLOAD_UNKNOWN");
	done(&r);
}

/* A blob file that is a directory will not mend: 500 without
 * Retry-After, never a 404 for content the store holds nor a 503 that a
 * client retries forever. */
Test(serve, a_blob_that_is_a_directory_is_a_server_error)
{
	struct resp r;
	char path[512];
	char *p = fix_blob_path(&F.st, &layer);

	cr_assert_eq(unlink(p), 0);
	cr_assert_eq(mkdir(p, 0755), 0);
	snprintf(path, sizeof(path), "/v2/" REPO "/blobs/%s", layer.str);
	get(&r, path);
	assert_error(&r, 500, "UNKNOWN");
	cr_assert_null(header(&r, "Retry-After"));
	done(&r);
	get(&r, "/metrics");
	cr_assert_eq(buf_append(&r.body, "", 1), 0);
	cr_assert(strstr(r.body.data,
			 "ocimirror_store_opens_refused_total 0\n"),
		  "%s", r.body.data);
	done(&r);
	rmdir(p);
	free(p);
}

Test(serve, a_manifest_blob_that_is_a_directory_is_a_server_error)
{
	struct resp r;
	char *p = fix_blob_path(&F.st, &img);

	cr_assert_eq(unlink(p), 0);
	cr_assert_eq(mkdir(p, 0755), 0);
	get(&r, "/v2/" REPO "/manifests/1.0");
	assert_error(&r, 500, "UNKNOWN");
	cr_assert_null(header(&r, "Retry-After"));
	done(&r);
	rmdir(p);
	free(p);
}

Test(serve_options, limits_follow_the_descriptor_budget)
{
	struct serve_limits l;

	/* the soft default: (1024 - 32 - 4 x 4) / 2 */
	serve_limits_derive(&l, 1024, 4);
	cr_assert_eq(l.connections, 488);
	cr_assert_eq(l.uploads, 488);
	cr_assert_eq(l.uploads_per_user, 122);
	/* a large hard limit: capped */
	serve_limits_derive(&l, 1048576, 8);
	cr_assert_eq(l.connections, SERVE_CONNECTIONS_MAX);
	cr_assert_eq(l.uploads_per_user, SERVE_CONNECTIONS_MAX / 4);
	/* nothing left after the reserve: the floor */
	serve_limits_derive(&l, 40, 4);
	cr_assert_eq(l.connections, 8);
	cr_assert_eq(l.uploads_per_user, 2);
	serve_limits_derive(&l, 0, 0);
	cr_assert_eq(l.connections, 8);
	/* two descriptors a connection: 2 x connections + reserve fits */
	for (uint64_t n = 100; n < 30000; n += 997) {
		serve_limits_derive(&l, n, 6);
		if (l.connections > 8 && l.connections < SERVE_CONNECTIONS_MAX)
			cr_assert_leq(2 * (uint64_t)l.connections +
					  SERVE_FD_RESERVE(6),
				      n);
	}
}

Test(serve_options, defaults_bound_slow_clients_and_bodies)
{
	struct serve_options o;

	serve_options_init(&o);
	cr_assert_eq(o.read_timeout, 30);
	cr_assert_eq(o.max_conns_per_ip, 256);
	cr_assert_eq(o.body_memory, 64u * 1024 * 1024);
}

/* The suite's server again, with changed options (body memory) after a
 * change of the descriptor limit. */
static void restart_with(uint64_t body_memory, unsigned threads)
{
	struct serve_options o;
	char htp[300];
	struct err e;

	serve_stop(srv);
	srv = NULL;
	snprintf(htp, sizeof(htp), "%s/htpasswd", F.root);
	serve_options_init(&o);
	o.listen = "127.0.0.1:0";
	o.htpasswd = htp;
	o.anonymous_read = 1;
	o.push = 1;
	o.threads = threads;
	if (body_memory)
		o.body_memory = body_memory;
	cr_assert_eq(serve_start(&srv, &F.st, &o, &e), 0, "%s", e.msg);
}

static void restart(uint64_t body_memory)
{
	restart_with(body_memory, 2);
}

static int metric_is(const char *line)
{
	struct resp r;
	int ok;

	get(&r, "/metrics");
	cr_assert_eq(buf_append(&r.body, "", 1), 0);
	ok = strstr(r.body.data, line) != NULL;
	if (!ok)
		cr_log_error("%s", r.body.data);
	done(&r);
	return ok;
}

Test(serve, manifest_body_past_the_memory_budget_is_unavailable)
{
	struct resp r;
	char big[200];

	restart(64);
	memset(big, ' ', sizeof(big));
	big[0] = '{';
	big[sizeof(big) - 1] = '}';
	req(&r, "PUT", "/v2/" REPO "/manifests/big", big, sizeof(big),
	    "Content-Type: " MT_MANIFEST, 1);
	assert_error(&r, 503, "UNAVAILABLE");
	cr_assert_not_null(header(&r, "Retry-After"));
	done(&r);
	/* within the budget the body is read and judged */
	req(&r, "PUT", "/v2/" REPO "/manifests/small", "{}", 2,
	    "Content-Type: " MT_MANIFEST, 1);
	assert_error(&r, 400, "MANIFEST_INVALID");
	done(&r);
	cr_assert(metric_is("ocimirror_bodies_refused_total 1\n"));
	cr_assert(metric_is("ocimirror_body_memory_bytes 0\n"));
}

Test(serve, upload_sessions_capped_per_user_by_descriptors)
{
	struct rlimit rl;
	struct resp r;
	char loc[512] = "";

	/* (100 - 32 - 4 x 2) / 2 = 30 sessions, 7 per user */
	cr_assert_eq(getrlimit(RLIMIT_NOFILE, &rl), 0);
	rl.rlim_cur = 100;
	cr_assert_eq(setrlimit(RLIMIT_NOFILE, &rl), 0);
	restart(0);
	cr_assert(metric_is("ocimirror_upload_sessions_max{scope=\"user\"} "
			    "7\n"));
	for (int i = 0; i < 7; i++) {
		req(&r, "POST", "/v2/" REPO "/blobs/uploads/", NULL, 0, NULL,
		    1);
		cr_assert_eq(r.status, 202);
		snprintf(loc, sizeof(loc), "%s", header(&r, "Location"));
		done(&r);
	}
	req(&r, "POST", "/v2/" REPO "/blobs/uploads/", NULL, 0, NULL, 1);
	assert_error(&r, 503, "UNAVAILABLE");
	cr_assert_not_null(header(&r, "Retry-After"));
	done(&r);
	cr_assert(metric_is("ocimirror_upload_sessions_refused_total 1\n"));
	/* one cancelled: room for another */
	req(&r, "DELETE", loc, NULL, 0, NULL, 1);
	cr_assert_eq(r.status, 204);
	done(&r);
	req(&r, "POST", "/v2/" REPO "/blobs/uploads/", NULL, 0, NULL, 1);
	cr_assert_eq(r.status, 202);
	done(&r);
}

/* A raw connection to the server, for a request whose body comes later. */
static int raw_connect(void)
{
	struct sockaddr_in a = {.sin_family = AF_INET};
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	cr_assert(fd >= 0);
	a.sin_port = htons((uint16_t)serve_port(srv));
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	cr_assert_eq(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	return fd;
}

static void raw_send(int fd, const char *s)
{
	cr_assert_eq(send(fd, s, strlen(s), MSG_NOSIGNAL), (ssize_t)strlen(s));
}

/* Read until want appears (or the connection ends): what was read. */
static const char *raw_until(int fd, char *buf, size_t cap, const char *want)
{
	size_t n = 0;

	buf[0] = 0;
	while (n + 1 < cap && !strstr(buf, want)) {
		ssize_t r = recv(fd, buf + n, cap - 1 - n, 0);
		if (r <= 0)
			break;
		n += (size_t)r;
		buf[n] = 0;
	}
	return buf;
}

/* One worker thread: a status request for a session another request is
 * writing is answered at once, busy, and the writer is not cut (it was
 * when the status request waited for the session, blocking the worker
 * the writer needed, and then answered a stale offset). */
Test(serve, status_of_a_session_in_use_is_busy_and_the_writer_goes_on)
{
	struct resp r;
	char loc[512], head[1024], got[4096];
	int fd;

	restart_with(0, 1);
	req(&r, "POST", "/v2/" REPO "/blobs/uploads/", NULL, 0, NULL, 1);
	cr_assert_eq(r.status, 202);
	snprintf(loc, sizeof(loc), "%s", header(&r, "Location"));
	done(&r);
	fd = raw_connect();
	snprintf(head, sizeof(head),
		 "PATCH %s HTTP/1.1\r\nHost: x\r\n"
		 "Authorization: Basic cHVzaGVyOnMzY3JldA==\r\n"
		 "Content-Type: application/octet-stream\r\n"
		 "Content-Length: 8\r\nExpect: 100-continue\r\n\r\n",
		 loc);
	raw_send(fd, head);
	/* 100 Continue: the session is held by this PATCH */
	cr_assert(strstr(raw_until(fd, got, sizeof(got), "\r\n\r\n"),
			 " 100 "),
		  "%s", got);
	raw_send(fd, "abcd");
	get(&r, loc);
	assert_error(&r, 503, "UNAVAILABLE");
	cr_assert_not_null(header(&r, "Retry-After"));
	done(&r);
	req(&r, "PATCH", loc, "x", 1, NULL, 1);
	assert_error(&r, 503, "UNAVAILABLE");
	done(&r);
	raw_send(fd, "efgh");
	raw_until(fd, got, sizeof(got), "\r\n\r\n");
	cr_assert(!strncmp(got, "HTTP/1.1 202", 12), "%s", got);
	cr_assert(strstr(got, "Range: 0-7\r\n"), "%s", got);
	close(fd);
	/* released: its status is the whole chunk */
	get(&r, loc);
	cr_assert_eq(r.status, 204);
	cr_assert_str_eq(header(&r, "Range"), "0-7");
	done(&r);
}

/* A read with a body is answered and its body dropped, not held against
 * the manifest body budget (which unauthenticated reads exhausted). */
Test(serve, a_read_with_a_body_is_not_charged_to_the_body_budget)
{
	struct resp r;
	char big[200];

	restart(64);
	memset(big, 'x', sizeof(big));
	req(&r, "GET", "/v2/" REPO "/manifests/1.0", big, sizeof(big), NULL,
	    0);
	cr_assert_eq(r.status, 200, "%ld %.*s", r.status, (int)r.body.len,
		     r.body.data);
	cr_assert_str_eq(header(&r, "Docker-Content-Digest"), img.str);
	done(&r);
	cr_assert(metric_is("ocimirror_bodies_refused_total 0\n"));
	/* the budget is whole for a manifest PUT */
	req(&r, "PUT", "/v2/" REPO "/manifests/small", "{}", 2,
	    "Content-Type: " MT_MANIFEST, 1);
	assert_error(&r, 400, "MANIFEST_INVALID");
	done(&r);
}

/* A manifest PUT announcing more than a manifest may be is refused before
 * its body is asked for. */
Test(serve, a_manifest_put_over_the_size_limit_is_refused_before_continue)
{
	char head[1024], got[4096];
	int fd = raw_connect();

	snprintf(head, sizeof(head),
		 "PUT /v2/%s/manifests/huge HTTP/1.1\r\nHost: x\r\n"
		 "Authorization: Basic cHVzaGVyOnMzY3JldA==\r\n"
		 "Content-Type: %s\r\nContent-Length: %u\r\n"
		 "Expect: 100-continue\r\n\r\n",
		 REPO, MT_MANIFEST, 64u * 1024 * 1024);
	raw_send(fd, head);
	raw_until(fd, got, sizeof(got), "\r\n\r\n");
	cr_assert(!strncmp(got, "HTTP/1.1 413", 12), "%s", got);
	close(fd);
}

static void api_post_head(char *got, size_t cap, const char *path,
			  unsigned len)
{
	char head[1024];
	int fd = raw_connect();

	snprintf(head, sizeof(head),
		 "POST %s HTTP/1.1\r\nHost: x\r\n"
		 "Authorization: Basic cHVzaGVyOnMzY3JldA==\r\n"
		 "Content-Type: application/json\r\nContent-Length: %u\r\n"
		 "Expect: 100-continue\r\n\r\n",
		 path, len);
	raw_send(fd, head);
	raw_until(fd, got, cap, "\r\n\r\n");
	close(fd);
}

/* Match and deploy POSTs over their 64 KiB cap, or over the body budget,
 * are refused before 100 Continue, not after the client sent the body. */
Test(serve, api_posts_over_their_cap_are_refused_before_continue)
{
	char got[4096];

	api_post_head(got, sizeof(got), "/ocimirror/v1/match?repo=" REPO,
		      API_MATCH_BODY_MAX + 1);
	cr_expect(!strncmp(got, "HTTP/1.1 413", 12), "%s", got);
	api_post_head(got, sizeof(got),
		      "/ocimirror/v1/deploy?repo=" REPO "&tag=1.0",
		      API_DEPLOY_BODY_MAX + 1);
	cr_expect(!strncmp(got, "HTTP/1.1 413", 12), "%s", got);
	restart(64);
	api_post_head(got, sizeof(got), "/ocimirror/v1/match?repo=" REPO,
		      100);
	cr_expect(!strncmp(got, "HTTP/1.1 503", 12), "%s", got);
	cr_expect(metric_is("ocimirror_bodies_refused_total 1\n"));
	/* within both: asked for */
	api_post_head(got, sizeof(got), "/ocimirror/v1/match?repo=" REPO, 10);
	cr_expect(strstr(got, " 100 "), "%s", got);
}

/* A tag record that is a directory (EISDIR) will not mend: the tag list
 * and the catalog are 500 without Retry-After, not a 200 missing the tag
 * nor a 503 retried forever. */
Test(serve, a_tag_record_that_is_a_directory_fails_the_lists)
{
	struct resp r;
	char p[600];

	snprintf(p, sizeof(p), "%s/repositories/%s/_tags/b", F.root, REPO);
	cr_assert_eq(unlink(p), 0, "%s", p);
	cr_assert_eq(mkdir(p, 0755), 0);
	get(&r, "/v2/" REPO "/tags/list");
	assert_error(&r, 500, "UNKNOWN");
	cr_assert_null(header(&r, "Retry-After"));
	done(&r);
	get(&r, "/v2/_catalog");
	assert_error(&r, 500, "UNKNOWN");
	cr_assert_null(header(&r, "Retry-After"));
	done(&r);
	rmdir(p);
}

/* A corrupt manifest record will not mend with a retry: 500 without
 * Retry-After. */
Test(serve, a_corrupt_tag_record_is_a_server_error_not_unavailable)
{
	struct resp r;
	char p[600];
	FILE *f;

	snprintf(p, sizeof(p), "%s/repositories/%s/_tags/b", F.root, REPO);
	f = fopen(p, "w");
	cr_assert(f, "%s", p);
	fputs("{not json", f);
	fclose(f);
	get(&r, "/v2/" REPO "/manifests/b");
	assert_error(&r, 500, "UNKNOWN");
	cr_assert_null(header(&r, "Retry-After"));
	done(&r);
}

/* A client that sends its whole body and then shuts its sending side
 * (nc -N) gets its answer: the body is read to the end, not cut as a
 * client gone. */
Test(serve, a_body_sent_whole_then_half_closed_is_answered)
{
	struct resp r;
	char loc[512], head[1024], got[4096];
	int fd;

	req(&r, "POST", "/v2/" REPO "/blobs/uploads/", NULL, 0, NULL, 1);
	cr_assert_eq(r.status, 202);
	snprintf(loc, sizeof(loc), "%s", header(&r, "Location"));
	done(&r);
	fd = raw_connect();
	snprintf(head, sizeof(head),
		 "PATCH %s HTTP/1.1\r\nHost: x\r\n"
		 "Authorization: Basic cHVzaGVyOnMzY3JldA==\r\n"
		 "Content-Type: application/octet-stream\r\n"
		 "Content-Length: 8\r\nConnection: close\r\n\r\nabcdefgh",
		 loc);
	raw_send(fd, head);
	cr_assert_eq(shutdown(fd, SHUT_WR), 0);
	raw_until(fd, got, sizeof(got), "\r\n\r\n");
	cr_assert(!strncmp(got, "HTTP/1.1 202", 12), "%s", got);
	cr_assert(strstr(got, "Range: 0-7\r\n"), "%s", got);
	close(fd);
}

/* The final PUT of a session meets a passing failure (the blob's place
 * is a directory for a moment): 500, the upload kept; the client's retry
 * of the same PUT stores it, not a 400 DIGEST_INVALID over wiped data. */
Test(serve, a_final_put_retried_after_a_failed_rename_stores_the_blob)
{
	struct resp r;
	const char *a = "hello world";
	char loc[512], path[700], dir[600];
	struct oci_digest d;

	oci_digest_of(&d, OCI_SHA256, a, strlen(a));
	req(&r, "POST", "/v2/new/blobs/uploads/", "", 0, NULL, 1);
	cr_assert_eq(r.status, 202);
	snprintf(loc, sizeof(loc), "%s", header(&r, "Location"));
	done(&r);
	patch(loc, a, 0, loc, sizeof(loc));
	snprintf(dir, sizeof(dir), "%s/blobs/sha256/%s", F.root,
		 oci_digest_hex(&d));
	cr_assert_eq(mkdir(dir, 0755), 0, "%s", dir);
	snprintf(path, sizeof(path), "%s?digest=%s", loc, d.str);
	req(&r, "PUT", path, "", 0, NULL, 1);
	assert_error(&r, 500, "UNKNOWN");
	done(&r);
	cr_assert_eq(rmdir(dir), 0);
	req(&r, "PUT", path, "", 0, NULL, 1);
	cr_assert_eq(r.status, 201, "status %ld", r.status);
	done(&r);
	snprintf(path, sizeof(path), "/v2/new/blobs/%s", d.str);
	req(&r, "GET", path, NULL, 0, NULL, 1);
	cr_assert_eq(r.status, 200);
	cr_assert_eq(r.body.len, strlen(a));
	cr_assert(!memcmp(r.body.data, a, strlen(a)));
	done(&r);
}

/* The blob stored but its link to the repository refused for a moment:
 * the retried PUT links it (the writer is committed already), 201. */
Test(serve, a_final_put_retried_after_a_failed_link_links_the_blob)
{
	struct resp r;
	const char *a = "link me later";
	char loc[512], path[700], dir[600];
	struct oci_digest d;

	oci_digest_of(&d, OCI_SHA256, a, strlen(a));
	req(&r, "POST", "/v2/new/blobs/uploads/", "", 0, NULL, 1);
	cr_assert_eq(r.status, 202);
	snprintf(loc, sizeof(loc), "%s", header(&r, "Location"));
	done(&r);
	patch(loc, a, 0, loc, sizeof(loc));
	/* _blobs a file: no link record can go under it */
	snprintf(dir, sizeof(dir), "%s/repositories/new", F.root);
	mkdir(dir, 0755);
	snprintf(dir, sizeof(dir), "%s/repositories/new/_blobs", F.root);
	{
		FILE *f = fopen(dir, "w");
		cr_assert(f, "%s", dir);
		fclose(f);
	}
	snprintf(path, sizeof(path), "%s?digest=%s", loc, d.str);
	req(&r, "PUT", path, "", 0, NULL, 1);
	assert_error(&r, 500, "UNKNOWN");
	done(&r);
	cr_assert_eq(unlink(dir), 0);
	req(&r, "PUT", path, "", 0, NULL, 1);
	cr_assert_eq(r.status, 201, "status %ld", r.status);
	done(&r);
	get_error(loc, 404, "BLOB_UPLOAD_UNKNOWN");
	snprintf(path, sizeof(path), "/v2/new/blobs/%s", d.str);
	req(&r, "GET", path, NULL, 0, NULL, 1);
	cr_assert_eq(r.status, 200);
	cr_assert_eq(r.body.len, strlen(a));
	done(&r);
}
