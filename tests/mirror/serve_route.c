/* The server's request parsers (mirror/serve/route.h) on real and hostile
 * paths, query strings and Range headers. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "mirror/serve/route.h"
#include "mirror/serve/ui.h"

#define D256 "sha256:2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae"

static struct route rt;
static struct err err;

static int parse(const char *path, const char *ns)
{
	char buf[8192];

	snprintf(buf, sizeof(buf), "%s", path);
	route_unescape(buf);
	err.msg[0] = '\0';
	return route_parse(&rt, buf, ns, &err);
}

Test(serve_route, base_and_fixed_endpoints)
{
	cr_assert_eq(parse("/v2/", NULL), 0);
	cr_assert_eq(rt.kind, RT_BASE);
	cr_assert_eq(parse("/v2", NULL), 0);
	cr_assert_eq(rt.kind, RT_BASE);
	cr_assert_eq(parse("/v2/_catalog", NULL), 0);
	cr_assert_eq(rt.kind, RT_CATALOG);
	cr_assert_eq(parse("/healthz", NULL), 0);
	cr_assert_eq(rt.kind, RT_HEALTH);
	cr_assert_eq(parse("/metrics", NULL), 0);
	cr_assert_eq(rt.kind, RT_METRICS);
	cr_assert_eq(parse("/ocimirror/v1/apps", NULL), 0);
	cr_assert_eq(rt.kind, RT_APPS);
}

/* the web UI: its page at /, its files under /ui/, nothing else there */
Test(serve_route, ui_paths)
{
	cr_assert_eq(parse("/", NULL), 0);
	cr_assert_eq(rt.kind, RT_UI);
	cr_assert_eq(parse("/ui/app.js", NULL), 0);
	cr_assert_eq(rt.kind, RT_UI);
	cr_assert_eq(parse("/ui/style.css", NULL), 0);
	cr_assert_eq(rt.kind, RT_UI);
	cr_assert_eq(parse("/ui/", NULL), 0);
	cr_assert_eq(rt.kind, RT_NONE);
	cr_assert_eq(parse("/ui/../etc/passwd", NULL), 0);
	cr_assert_eq(rt.kind, RT_NONE);
	cr_assert(ui_has("/") && ui_has("/ui/app.js") && ui_has("/ui/style.css"));
	cr_assert(!ui_has("/ui/") && !ui_has("/index.html") && !ui_has(""));
}

Test(serve_route, unknown_paths_are_no_endpoint)
{
	cr_assert_eq(parse("/index.html", NULL), 0);
	cr_assert_eq(rt.kind, RT_NONE);
	cr_assert_eq(parse("/v3/a/manifests/x", NULL), 0);
	cr_assert_eq(rt.kind, RT_NONE);
	cr_assert_eq(parse("/v2/library/nginx", NULL), 0);
	cr_assert_eq(rt.kind, RT_NONE);
	cr_assert_eq(parse("/v2/a/manifests/x/y", NULL), 0);
	cr_assert_eq(rt.kind, RT_NONE);
}

Test(serve_route, manifest_by_tag)
{
	cr_assert_eq(parse("/v2/library/nginx/manifests/1.25", NULL), 0);
	cr_assert_eq(rt.kind, RT_MANIFEST);
	cr_assert_str_eq(rt.name, "library/nginx");
	cr_assert_str_eq(rt.repo, "library/nginx");
	cr_assert_str_eq(rt.ref, "1.25");
	cr_assert_eq(rt.is_digest, 0);
	cr_assert_str_eq(rt.ns_query, "");
	cr_assert_eq(rt.bad, ROUTE_OK);
}

Test(serve_route, ns_prefixes_the_store_repository)
{
	cr_assert_eq(parse("/v2/library/nginx/manifests/1.25", "docker.io"),
		     0);
	cr_assert_str_eq(rt.name, "library/nginx");
	cr_assert_str_eq(rt.repo, "docker.io/library/nginx");
	cr_assert_str_eq(rt.ns_query, "?ns=docker.io");
}

Test(serve_route, ns_with_a_slash_is_a_bad_name)
{
	cr_assert_eq(parse("/v2/nginx/manifests/1", "docker.io/library"),
		     ERR_INVALID);
	cr_assert_eq(rt.bad, ROUTE_BAD_NAME);
	cr_assert(strstr(err.msg, "docker.io/library"), "%s", err.msg);
}

Test(serve_route, blob_and_referrers_by_digest)
{
	cr_assert_eq(parse("/v2/a/b/blobs/" D256, NULL), 0);
	cr_assert_eq(rt.kind, RT_BLOB);
	cr_assert_str_eq(rt.name, "a/b");
	cr_assert_eq(rt.is_digest, 1);
	cr_assert_str_eq(rt.digest.str, D256);
	cr_assert_eq(parse("/v2/a/referrers/" D256, NULL), 0);
	cr_assert_eq(rt.kind, RT_REFERRERS);
	cr_assert_str_eq(rt.digest.str, D256);
}

Test(serve_route, tags_list)
{
	cr_assert_eq(parse("/v2/library/nginx/tags/list", NULL), 0);
	cr_assert_eq(rt.kind, RT_TAGS);
	cr_assert_str_eq(rt.name, "library/nginx");
	cr_assert_str_eq(rt.ref, "");
}

Test(serve_route, uploads_paths)
{
	cr_assert_eq(parse("/v2/a/blobs/uploads/", NULL), 0);
	cr_assert_eq(rt.kind, RT_UPLOAD_NEW);
	cr_assert_str_eq(rt.name, "a");
	cr_assert_eq(parse("/v2/a/blobs/uploads", NULL), 0);
	cr_assert_eq(rt.kind, RT_UPLOAD_NEW);
	cr_assert_eq(parse("/v2/x/y/blobs/uploads/0123abcd", NULL), 0);
	cr_assert_eq(rt.kind, RT_UPLOAD);
	cr_assert_str_eq(rt.name, "x/y");
	cr_assert_str_eq(rt.upload_id, "0123abcd");
}

Test(serve_route, a_name_holding_a_marker_takes_the_rightmost)
{
	cr_assert_eq(parse("/v2/manifests/blobs/manifests/t", NULL), 0);
	cr_assert_eq(rt.kind, RT_MANIFEST);
	cr_assert_str_eq(rt.name, "manifests/blobs");
	cr_assert_str_eq(rt.ref, "t");
}

Test(serve_route, dot_dot_is_a_bad_name)
{
	cr_assert_eq(parse("/v2/a/%2e%2e/b/manifests/x", NULL), ERR_INVALID);
	cr_assert_eq(rt.bad, ROUTE_BAD_NAME);
	cr_assert_eq(rt.kind, RT_MANIFEST);
	cr_assert_eq(parse("/v2/../etc/manifests/x", NULL), ERR_INVALID);
	cr_assert_eq(rt.bad, ROUTE_BAD_NAME);
	cr_assert_eq(parse("/v2/UPPER/manifests/x", NULL), ERR_INVALID);
	cr_assert_eq(rt.bad, ROUTE_BAD_NAME);
	cr_assert_neq(err.msg[0], '\0');
}

Test(serve_route, an_encoded_nul_is_kept_and_refused)
{
	char buf[64] = "/v2/a/manifests/v1%00x";

	cr_assert_eq(route_unescape(buf), strlen("/v2/a/manifests/v1%00x"));
	cr_assert_eq(parse("/v2/a/manifests/v1%00x", NULL), ERR_INVALID);
	cr_assert_eq(rt.bad, ROUTE_BAD_TAG);
	cr_assert_str_eq(rt.ref, "v1%00x");
	cr_assert_eq(parse("/v2/a%00b/manifests/v1", NULL), ERR_INVALID);
	cr_assert_eq(rt.bad, ROUTE_BAD_NAME);
}

Test(serve_route, unescape_decodes_the_rest)
{
	char buf[64] = "/v2/a%2Fb/%41%zz%4";

	cr_assert_eq(route_unescape(buf), strlen("/v2/a/b/A%zz%4"));
	cr_assert_str_eq(buf, "/v2/a/b/A%zz%4");
}

Test(serve_route, overlong_names_and_refs)
{
	char path[4096], ref[400];

	memset(ref, 'a', sizeof(ref) - 1);
	ref[sizeof(ref) - 1] = '\0';
	snprintf(path, sizeof(path), "/v2/a/manifests/%s", ref);
	cr_assert_eq(parse(path, NULL), ERR_INVALID);
	cr_assert_eq(rt.bad, ROUTE_BAD_NAME);
	memset(path, 0, sizeof(path));
	memcpy(path, "/v2/", 4);
	memset(path + 4, 'a', 1500);
	strcat(path, "/manifests/x");
	cr_assert_eq(parse(path, NULL), ERR_INVALID);
	cr_assert_eq(rt.bad, ROUTE_BAD_NAME);
	/* a tag of 129 characters cannot exist */
	snprintf(path, sizeof(path), "/v2/a/manifests/%.129s", ref);
	cr_assert_eq(parse(path, NULL), ERR_INVALID);
	cr_assert_eq(rt.bad, ROUTE_BAD_TAG);
}

Test(serve_route, bad_digests)
{
	cr_assert_eq(parse("/v2/a/blobs/sha256:1234", NULL), ERR_INVALID);
	cr_assert_eq(rt.bad, ROUTE_BAD_REF);
	cr_assert_eq(rt.kind, RT_BLOB);
	cr_assert(strstr(err.msg, "sha256:1234"), "%s", err.msg);
	cr_assert_eq(parse("/v2/a/manifests/md5:abcd", NULL), ERR_INVALID);
	cr_assert_eq(rt.bad, ROUTE_BAD_REF);
	/* a blob by tag: only digests go there */
	cr_assert_eq(parse("/v2/a/blobs/latest", NULL), ERR_INVALID);
	cr_assert_eq(rt.bad, ROUTE_BAD_REF);
	cr_assert_eq(parse("/v2/a/referrers/latest", NULL), ERR_INVALID);
	cr_assert_eq(rt.bad, ROUTE_BAD_REF);
	cr_assert_eq(parse("/v2/a/blobs/", NULL), ERR_INVALID);
	cr_assert_eq(rt.bad, ROUTE_BAD_NAME);
}

static struct route_query q;

static int query(const char *s)
{
	static char buf[1024];

	snprintf(buf, sizeof(buf), "%s", s);
	err.msg[0] = '\0';
	return route_query_parse(&q, buf, &err);
}

Test(serve_query, catalog_page)
{
	cr_assert_eq(query("n=2&last=x"), 0);
	cr_assert_eq(q.n, 2);
	cr_assert_eq(q.n_bad, 0);
	cr_assert_str_eq(q.last, "x");
	cr_assert_null(q.ns);
}

Test(serve_query, absent_n_is_minus_one)
{
	cr_assert_eq(query("ns=docker.io"), 0);
	cr_assert_eq(q.n, -1);
	cr_assert_null(q.n_text);
	cr_assert_str_eq(q.ns, "docker.io");
}

Test(serve_query, bad_n_is_marked)
{
	cr_assert_eq(query("n=-1"), ERR_INVALID);
	cr_assert_eq(q.n_bad, 1);
	cr_assert_eq(q.n, -1);
	cr_assert_str_eq(q.n_text, "-1");
	cr_assert(strstr(err.msg, "\"-1\""), "%s", err.msg);
	cr_assert_eq(query("n=2x"), ERR_INVALID);
	cr_assert_eq(q.n_bad, 1);
	cr_assert_eq(query("n=0"), 0);
	cr_assert_eq(q.n, 0);
}

Test(serve_query, the_first_of_repeated_keys_counts)
{
	cr_assert_eq(query("last=a&last=b&n=1&n=x"), 0);
	cr_assert_str_eq(q.last, "a");
	cr_assert_eq(q.n, 1);
}

Test(serve_query, artifact_type_keeps_its_plus)
{
	cr_assert_eq(query("artifactType=application/vnd.example+json"), 0);
	cr_assert_eq(q.has_artifact_type, 1);
	cr_assert_str_eq(q.artifact_type, "application/vnd.example+json");
	cr_assert_eq(query("artifactType=application%2Fvnd.x%2Bjson"), 0);
	cr_assert_str_eq(q.artifact_type, "application/vnd.x+json");
}

Test(serve_query, artifact_type_longer_than_a_media_type_is_marked)
{
	char text[400];
	int n = snprintf(text, sizeof(text), "artifactType=");

	memset(text + n, 'a', 300);
	text[n + 300] = 0;
	cr_assert_eq(query(text), 0);
	cr_assert_eq(q.has_artifact_type, 1);
	cr_assert_eq(q.artifact_type_overlong, 1);
	cr_assert_eq(query("artifactType=application/x"), 0);
	cr_assert_eq(q.artifact_type_overlong, 0);
}

Test(serve_query, mount_from_and_digest)
{
	cr_assert_eq(query("mount=" D256 "&from=library%2Fnginx&digest=" D256),
		     0);
	cr_assert_str_eq(q.mount, D256);
	cr_assert_str_eq(q.from, "library/nginx");
	cr_assert_str_eq(q.digest, D256);
}

Test(serve_query, bare_keys_and_odd_pieces_are_ignored)
{
	cr_assert_eq(query("ns&=x&&last=%00a+b"), 0);
	cr_assert_null(q.ns);
	cr_assert_str_eq(q.last, "%00a b");
}

static uint64_t from, len;

static int range(const char *h, int64_t size)
{
	from = len = 12345;
	err.msg[0] = '\0';
	return route_range_parse(&from, &len, h, size, &err);
}

Test(serve_range, first_bytes)
{
	cr_assert_eq(range("bytes=0-99", 1000), 0);
	cr_assert_eq(from, 0);
	cr_assert_eq(len, 100);
}

Test(serve_range, open_end)
{
	cr_assert_eq(range("bytes=100-", 1000), 0);
	cr_assert_eq(from, 100);
	cr_assert_eq(len, 900);
}

Test(serve_range, suffix)
{
	cr_assert_eq(range("bytes=-50", 1000), 0);
	cr_assert_eq(from, 950);
	cr_assert_eq(len, 50);
	/* a suffix longer than the blob is the whole blob */
	cr_assert_eq(range("bytes=-5000", 1000), 0);
	cr_assert_eq(from, 0);
	cr_assert_eq(len, 1000);
}

Test(serve_range, end_beyond_the_blob_is_cut)
{
	cr_assert_eq(range("bytes=990-5000", 1000), 0);
	cr_assert_eq(from, 990);
	cr_assert_eq(len, 10);
	cr_assert_eq(range("bytes=0-99999999999999999999999", 1000), 0);
	cr_assert_eq(len, 1000);
}

Test(serve_range, start_beyond_the_end_is_unsatisfiable)
{
	cr_assert_eq(range("bytes=1000-", 1000), ERR_NOT_FOUND);
	cr_assert(strstr(err.msg, "not satisfiable"), "%s", err.msg);
	cr_assert_eq(range("bytes=99999999999999999999999-", 1000),
		     ERR_NOT_FOUND);
	cr_assert_eq(range("bytes=-0", 1000), ERR_NOT_FOUND);
	cr_assert_eq(range("bytes=5-4", 1000), ERR_NOT_FOUND);
	cr_assert_eq(range("bytes=0-0", 0), ERR_NOT_FOUND);
	cr_assert_eq(range("bytes=-1", 0), ERR_NOT_FOUND);
}

Test(serve_range, malformed_and_multi_range_are_ignored)
{
	const char *bad[] = {"bytes=0-0,5-9", "items=0-1",	 "bytes=",
			     "bytes=-",	      "bytes=+1-2",	 "bytes= 1-2",
			     "bytes=1-2x",    "bytes=a-b",	 "bytes=--1",
			     "bytes=1--2",    "bytes=0x10-0x20", "0-99"};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		cr_assert_eq(range(bad[i], 1000), ERR_INVALID, "%s", bad[i]);
		cr_assert_eq(from, 12345, "%s", bad[i]);
		cr_assert(strstr(err.msg, "invalid Range"), "%s", err.msg);
	}
}

Test(serve_range, content_range_of_a_chunk)
{
	uint64_t a = 0, b = 0;

	cr_assert_eq(route_content_range_parse(&a, &b, "0-99", &err), 0);
	cr_assert_eq(a, 0);
	cr_assert_eq(b, 99);
	cr_assert_eq(route_content_range_parse(&a, &b, "bytes 100-199/200",
					       &err),
		     0);
	cr_assert_eq(a, 100);
	cr_assert_eq(b, 199);
	cr_assert_eq(route_content_range_parse(&a, &b, "5-4", &err),
		     ERR_INVALID);
	cr_assert_eq(route_content_range_parse(&a, &b, "-4", &err),
		     ERR_INVALID);
	cr_assert_eq(route_content_range_parse(&a, &b, "1-2x", &err),
		     ERR_INVALID);
	cr_assert(strstr(err.msg, "1-2x"), "%s", err.msg);
}

Test(serve_route, query_arguments_are_counted_as_the_server_splits_them)
{
	cr_assert_eq(route_query_count("/v2/a/tags/list"), 0);
	cr_assert_eq(route_query_count("/v2/a/tags/list?"), 1);
	cr_assert_eq(route_query_count("/v2/a/tags/list?n=1"), 1);
	cr_assert_eq(route_query_count("/v2/a/tags/list?n=1&last=x"), 2);
	cr_assert_eq(route_query_count("/v2/?&&&"), 4);
	/* only the query's '&'s: "?" in a value is one more argument's text */
	cr_assert_eq(route_query_count("/v2/a&b/c?x=?&y"), 2);
}
