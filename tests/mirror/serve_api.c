/* The catalog pages' API over a store holding Margo packages: the served
 * JSON field by field, presence of components and images, resources with
 * their types and the page headers. In-process server, libcurl client. */
#include <criterion/criterion.h>
#include <curl/curl.h>
#include <jansson.h>
#include <strings.h>
#include <sys/time.h>

#include "loopfix.h"
#include "mirror/margo/browse.h"
#include "mirror/margo/package.h"
#include "httpfix.h"
#include "oci/buf.h"

#define CHART_REPO "registry.example/charts/edge-monitor"
#define MON_IMAGE "registry.example/edge/monitor"
#define AGENT_REF "registry.example/edge/agent:0.9"

static struct loop L;

static void get(struct resp *r, const char *path)
{
	CURL *c = curl_easy_init();
	char url[4096];

	cr_assert(c);
	memset(r, 0, sizeof(*r));
	buf_init(&r->body, 64 << 20);
	snprintf(url, sizeof(url), "http://%s%s", L.host, path);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 60L);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, r);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, r);
	cr_assert_eq(curl_easy_perform(c), CURLE_OK, "GET %s", path);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
	curl_easy_cleanup(c);
}

/* GET path, 200 and a JSON body (decref it). */
static json_t *get_json(const char *path)
{
	struct resp r;
	json_t *j;

	get(&r, path);
	cr_assert_eq(r.status, 200, "%s: %ld %s", path, r.status,
		     r.body.data);
	cr_assert_str_eq(header(&r, "Content-Type"), "application/json");
	cr_assert_str_eq(header(&r, "Cache-Control"), "no-store");
	cr_assert_str_eq(header(&r, "X-Content-Type-Options"), "nosniff");
	j = json_loadb(r.body.data, r.body.len, 0, NULL);
	cr_assert(j, "%s", r.body.data);
	buf_release(&r.body);
	return j;
}

static void assert_status(const char *path, long status, const char *code)
{
	struct resp r;
	json_t *j;

	get(&r, path);
	cr_assert_eq(r.status, status, "%s: %ld %s", path, r.status,
		     r.body.data);
	j = json_loadb(r.body.data, r.body.len, 0, NULL);
	cr_assert_str_eq(json_string_value(json_object_get(
			     json_array_get(json_object_get(j, "errors"), 0),
			     "code")),
			 code, "%s", r.body.data);
	cr_assert_str_eq(header(&r, "X-Content-Type-Options"), "nosniff");
	json_decref(j);
	buf_release(&r.body);
}

static void write_file(const char *dir, const char *name, const char *text)
{
	char p[600];
	FILE *f;

	snprintf(p, sizeof(p), "%s/%s", dir, name);
	f = fopen(p, "w");
	cr_assert(f, "%s", p);
	fputs(text, f);
	fclose(f);
}

static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *d;
	long n;

	cr_assert(f, "%s", path);
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	rewind(f);
	d = malloc((size_t)n + 1);
	cr_assert_eq(fread(d, 1, (size_t)n, f), (size_t)n);
	fclose(f);
	*len = (size_t)n;
	return d;
}

/* A chart CHART_REPO:tag naming the monitor image and, with agent, the
 * agent too; stored complete. */
static void store_chart(const char *tag, int agent)
{
	char dir[300], cmd[800], tgz[400], json[4096], cd[512], ld[512];
	struct oci_digest cfg, layer;
	struct err e;
	size_t len;
	char *data;

	snprintf(dir, sizeof(dir), "%s/chart-%s", L.remote.root, tag);
	snprintf(cmd, sizeof(cmd), "mkdir -p %s/edge-monitor", dir);
	cr_assert_eq(system(cmd), 0);
	snprintf(tgz, sizeof(tgz), "%s/edge-monitor", dir);
	write_file(tgz, "Chart.yaml",
		   "apiVersion: v2\nname: edge-monitor\nversion: 1.2.0\n"
		   "appVersion: 1.2.0\n");
	write_file(tgz, "values.yaml",
		   agent ? "image:\n  repository: " MON_IMAGE "\n"
			   "  tag: \"1.2.0\"\nsidecar:\n  image: " AGENT_REF
			   "\n"
			 : "image:\n  repository: " MON_IMAGE "\n"
			   "  tag: \"1.2.0\"\n");
	snprintf(tgz, sizeof(tgz), "%s/chart.tgz", dir);
	snprintf(cmd, sizeof(cmd), "tar -C %s -czf %s edge-monitor", dir, tgz);
	cr_assert_eq(system(cmd), 0);
	data = slurp(tgz, &len);
	oci_digest_of(&layer, OCI_SHA256, data, len);
	cr_assert_eq(store_blob_put(&L.remote.st, &layer, data, len, &e), 0,
		     "%s", e.msg);
	cr_assert_eq(store_blob_link(&L.remote.st, CHART_REPO, &layer, &e), 0,
		     "%s", e.msg);
	free(data);
	cfg = fix_blob(&L.remote, "{\"name\":\"edge-monitor\"}");
	cr_assert_eq(store_blob_link(&L.remote.st, CHART_REPO, &cfg, &e), 0,
		     "%s", e.msg);
	fix_desc(cd, sizeof(cd), MT_HELM_CONFIG, &cfg, 23);
	fix_desc(ld, sizeof(ld), MT_HELM_CHART, &layer, (long long)len);
	snprintf(json, sizeof(json),
		 "{\"schemaVersion\":2,\"mediaType\":\"%s\",\"config\":%s,"
		 "\"layers\":[%s]}",
		 MT_MANIFEST, cd, ld);
	layer = fix_manifest(&L.remote, CHART_REPO, json, MT_MANIFEST);
	fix_tag(&L.remote, CHART_REPO, tag, &layer, MT_MANIFEST);
}

static const char *desc_fmt =
    "apiVersion: margo.org/v1-alpha1\n"
    "kind: ApplicationDescription\n"
    "metadata:\n"
    "  id: %s\n"
    "  name: Edge Monitor %s\n"
    "  description: Watches the packing line.\n"
    "  version: %s\n"
    "  catalog:\n"
    "    application:\n"
    "      icon: ./resources/icon.png\n"
    "      descriptionFile: resources/about.md\n"
    "      site: https://monitor.example.org\n"
    "      tagline: Sees every crate.\n"
    "      tags: [monitoring, edge]\n"
    "    author:\n"
    "      - name: Grace Hopper\n"
    "        email: grace@monitor.example.org\n"
    "    organization:\n"
    "      - name: Line Tools\n"
    "        site: https://monitor.example.org\n"
    "deploymentProfiles:\n"
    "  - type: helm.v3\n"
    "    id: edge-helm\n"
    "    description: On a small cluster\n"
    "    requiredResources:\n"
    "      cpu:\n"
    "        cores: 2\n"
    "        architectures: [x86_64, arm64]\n"
    "      memory: 512Mi\n"
    "      storage: 1Gi\n"
    "      peripherals:\n"
    "        - type: camera\n"
    "          manufacturer: Lens Co\n"
    "          model: L1\n"
    "      interfaces:\n"
    "        - type: ethernet\n"
    "    components:\n"
    "      - name: monitor\n"
    "        properties:\n"
    "          repository: oci://" CHART_REPO "\n"
    "          revision: %s\n";

/* A package repo:version (id id) using chart revision rev, pushed into
 * the served store. */
static void store_package(const char *repo, const char *id,
			  const char *version, const char *rev)
{
	char dir[400], res[450], text[4096], spec[300];
	struct margo_push_target t;
	struct margo_push_result out;
	struct err e;

	snprintf(dir, sizeof(dir), "%s/pkg-%s-%s", L.remote.root, id, version);
	snprintf(res, sizeof(res), "mkdir -p %s/resources", dir);
	cr_assert_eq(system(res), 0);
	snprintf(text, sizeof(text), desc_fmt, id, version, version, rev);
	write_file(dir, "margo.yaml", text);
	snprintf(res, sizeof(res), "%s/resources", dir);
	write_file(res, "icon.png", "\x89PNG\r\n\x1a\nnot-really-an-image");
	write_file(res, "about.md",
		   "# Edge Monitor\n<script>alert(1)</script>\n");
	snprintf(spec, sizeof(spec), "store:%s:%s", repo, version);
	cr_assert_eq(margo_push_target_parse(&t, spec, &e), 0, "%s", e.msg);
	cr_assert_eq(margo_package_push(&out, &L.remote.st, NULL, dir, NULL,
					0, &t.ref, t.repo, &e),
		     0, "%s", e.msg);
}

/* The monitor image stored complete (the agent never is). */
static void store_monitor_image(void)
{
	const char *layers[] = {"monitor-layer"};
	struct oci_digest d =
	    fix_image(&L.remote, MON_IMAGE, "{\"monitor\":1}", layers, 1, NULL,
		      NULL);

	fix_tag(&L.remote, MON_IMAGE, "1.2.0", &d, MT_MANIFEST);
}

static void setup(void)
{
	loop_start(&L, 0);
	store_chart("1.2.0", 1); /* names the agent: incomplete */
	store_chart("1.3.0", 0); /* the monitor only: complete */
	store_monitor_image();
	store_package("apps/monitor", "edge-monitor", "1.2.0", "1.2.0");
	store_package("apps/monitor", "edge-monitor", "1.3.0", "1.3.0");
}

static void teardown(void)
{
	loop_stop(&L);
}

TestSuite(serve_api, .init = setup, .fini = teardown, .timeout = 600);

static const char *jstr(json_t *j, const char *k)
{
	return json_string_value(json_object_get(j, k));
}

/* j as compact JSON, in a static buffer the next call overwrites. */
static const char *dump(json_t *j)
{
	static char out[8192];
	char *s = json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY);

	cr_assert(s);
	snprintf(out, sizeof(out), "%s", s);
	free(s);
	return out;
}

Test(serve_api, apps_list_tags_icon_and_complete)
{
	json_t *j = get_json("/ocimirror/v1/apps"), *a;

	a = json_array_get(json_object_get(j, "applications"), 0);
	cr_assert_eq(json_array_size(json_object_get(j, "applications")), 1);
	cr_assert_str_eq(jstr(a, "repository"), "apps/monitor");
	cr_assert_str_eq(jstr(a, "tag"), "1.3.0", "the highest version");
	cr_assert_str_eq(jstr(a, "name"), "Edge Monitor 1.3.0");
	cr_assert_str_eq(jstr(a, "icon"),
			 "/ocimirror/v1/resource?repo=apps/monitor&tag=1.3.0&"
			 "path=resources/icon.png");
	cr_assert_str_eq(dump(json_object_get(a, "tags")),
			 "[\"monitoring\",\"edge\"]");
	cr_assert_str_eq(
	    dump(json_object_get(a, "versions")),
	    "[\"1.2.0\",\"1.3.0\"]");
	cr_assert(json_is_true(json_object_get(a, "complete")));
	cr_assert_str_eq(
	    dump(json_object_get(a, "profiles")),
	    "[{\"type\":\"helm.v3\",\"id\":\"edge-helm\",\"architectures\":"
	    "[\"amd64\",\"arm64\"]}]");
	json_decref(j);
}

Test(serve_api, app_detail_with_an_image_missing)
{
	json_t *j = get_json("/ocimirror/v1/app?repo=apps/monitor&tag=1.2.0");
	json_t *p = json_array_get(json_object_get(j, "profiles"), 0);
	json_t *comp = json_array_get(json_object_get(p, "components"), 0);
	const char *s;

	cr_assert_str_eq(jstr(j, "repository"), "apps/monitor");
	cr_assert_str_eq(jstr(j, "tag"), "1.2.0");
	cr_assert_str_eq(jstr(j, "id"), "edge-monitor");
	cr_assert_str_eq(jstr(j, "version"), "1.2.0");
	cr_assert_str_eq(jstr(j, "tagline"), "Sees every crate.");
	cr_assert_str_eq(jstr(j, "site"), "https://monitor.example.org");
	cr_assert_str_eq(jstr(j, "description"), "Watches the packing line.");
	s = dump(json_object_get(j, "organization"));
	cr_assert_str_eq(s, "[{\"name\":\"Line Tools\",\"site\":"
			    "\"https://monitor.example.org\"}]");
	s = dump(json_object_get(j, "author"));
	cr_assert_str_eq(s, "[{\"name\":\"Grace Hopper\",\"email\":"
			    "\"grace@monitor.example.org\"}]");
	s = dump(json_object_get(j, "resources"));
	cr_assert_str_eq(
	    s, "{\"icon\":\"/ocimirror/v1/resource?repo=apps/monitor&tag=1.2.0"
	       "&path=resources/icon.png\",\"descriptionFile\":"
	       "\"/ocimirror/v1/resource?repo=apps/monitor&tag=1.2.0&path="
	       "resources/about.md\",\"releaseNotes\":null,\"licenseFile\":"
	       "null}");
	s = dump(json_object_get(p, "requiredResources"));
	cr_assert_str_eq(
	    s, "{\"cpu\":{\"cores\":2,\"architectures\":[\"amd64\",\"arm64\"]},"
	       "\"memory\":\"512Mi\",\"storage\":\"1Gi\",\"peripherals\":[{"
	       "\"type\":\"camera\",\"manufacturer\":\"Lens Co\",\"model\":"
	       "\"L1\"}],\"interfaces\":[{\"type\":\"ethernet\"}]}");
	cr_assert_str_eq(jstr(p, "id"), "edge-helm");
	cr_assert_str_eq(jstr(p, "description"), "On a small cluster");
	cr_assert_str_eq(jstr(comp, "name"), "monitor");
	cr_assert_str_eq(jstr(comp, "repository"), "oci://" CHART_REPO);
	cr_assert_str_eq(jstr(comp, "revision"), "1.2.0");
	cr_assert(json_is_true(json_object_get(comp, "present")));
	s = dump(json_object_get(comp, "images"));
	cr_assert_str_eq(s, "[{\"ref\":\"" MON_IMAGE ":1.2.0\",\"present\":"
			    "true},{\"ref\":\"" AGENT_REF "\",\"present\":"
			    "false}]");
	cr_assert(json_is_false(json_object_get(p, "complete")));
	s = dump(json_object_get(p, "missing"));
	cr_assert_str_eq(s, "[\"" AGENT_REF "\"]");
	cr_assert(json_is_false(json_object_get(j, "complete")));
	json_decref(j);
}

Test(serve_api, app_without_tag_is_the_highest_and_complete)
{
	json_t *j = get_json("/ocimirror/v1/app?repo=apps/monitor");
	json_t *p = json_array_get(json_object_get(j, "profiles"), 0);

	cr_assert_str_eq(jstr(j, "tag"), "1.3.0");
	cr_assert_str_eq(
	    dump(json_object_get(j, "versions")),
	    "[\"1.2.0\",\"1.3.0\"]");
	cr_assert(json_is_true(json_object_get(p, "complete")));
	cr_assert_eq(json_array_size(json_object_get(p, "missing")), 0);
	cr_assert(json_is_true(json_object_get(j, "complete")));
	json_decref(j);
}

Test(serve_api, a_missing_component_is_missing)
{
	json_t *j, *p, *comp;
	const char *s;

	store_package("apps/monitor", "edge-monitor", "2.0.0", "9.9.9");
	j = get_json("/ocimirror/v1/app?repo=apps/monitor&tag=2.0.0");
	p = json_array_get(json_object_get(j, "profiles"), 0);
	comp = json_array_get(json_object_get(p, "components"), 0);
	cr_assert(json_is_false(json_object_get(comp, "present")));
	cr_assert_eq(json_array_size(json_object_get(comp, "images")), 0);
	s = dump(json_object_get(p, "missing"));
	cr_assert_str_eq(s, "[\"" CHART_REPO ":9.9.9\"]");
	json_decref(j);
	j = get_json("/ocimirror/v1/apps");
	p = json_array_get(json_object_get(j, "applications"), 0);
	cr_assert_str_eq(jstr(p, "tag"), "2.0.0");
	cr_assert(json_is_false(json_object_get(p, "complete")));
	json_decref(j);
}

Test(serve_api, the_image_cache_is_bounded)
{
	struct margo_icache *ic = margo_icache_new(1);
	json_t *a = NULL, *b = NULL;
	struct err e;

	cr_assert(ic);
	cr_assert_eq(margo_browse_app(&a, &L.remote.st, ic, "apps/monitor",
				      "1.2.0", &e),
		     0, "%s", e.msg);
	cr_assert_eq(margo_icache_size(ic), 1);
	cr_assert_eq(margo_browse_app(&b, &L.remote.st, ic, "apps/monitor",
				      "1.3.0", &e),
		     0, "%s", e.msg);
	cr_assert_eq(margo_icache_size(ic), 1, "the other archive replaced it");
	json_decref(a);
	/* the same answer from the cache as from the archive */
	cr_assert_eq(margo_browse_app(&a, &L.remote.st, ic, "apps/monitor",
				      "1.3.0", &e),
		     0, "%s", e.msg);
	cr_assert(json_equal(a, b));
	json_decref(a);
	json_decref(b);
	margo_icache_free(ic);
}

Test(serve_api, resource_markdown_with_script_is_text_nosniff)
{
	struct resp r;

	get(&r, "/ocimirror/v1/resource?repo=apps/monitor&tag=1.2.0&path="
		"resources/about.md");
	cr_assert_eq(r.status, 200, "%s", r.body.data);
	cr_assert_str_eq(header(&r, "Content-Type"),
			 "text/markdown; charset=utf-8");
	cr_assert_str_eq(header(&r, "X-Content-Type-Options"), "nosniff");
	cr_assert_str_eq(header(&r, "Content-Disposition"),
			 "attachment; filename=\"about.md\"");
	cr_assert_str_eq(header(&r, "Content-Security-Policy"),
			 "default-src 'self'; img-src 'self' data:; "
			 "object-src 'none'; base-uri 'none'; "
			 "frame-ancestors 'none'; sandbox");
	cr_assert_str_eq(header(&r, "Referrer-Policy"), "no-referrer");
	cr_assert_eq(r.body.len,
		     strlen("# Edge Monitor\n<script>alert(1)</script>\n"));
	cr_assert(strstr(r.body.data, "<script>alert(1)</script>"));
	buf_release(&r.body);
	get(&r, "/ocimirror/v1/resource?repo=apps/monitor&tag=1.2.0&path="
		"resources%2Ficon.png");
	cr_assert_eq(r.status, 200, "%s", r.body.data);
	cr_assert_str_eq(header(&r, "Content-Type"), "image/png");
	cr_assert_null(header(&r, "Content-Disposition"));
	buf_release(&r.body);
}

Test(serve_api, resource_only_layers_of_the_manifest)
{
	/* the description is no resource; paths on disk are never opened */
	assert_status("/ocimirror/v1/resource?repo=apps/monitor&tag=1.2.0&"
		      "path=margo.yaml",
		      404, "BLOB_UNKNOWN");
	assert_status("/ocimirror/v1/resource?repo=apps/monitor&tag=1.2.0&"
		      "path=../../etc/passwd",
		      404, "BLOB_UNKNOWN");
	assert_status("/ocimirror/v1/resource?repo=apps/monitor&tag=1.2.0&"
		      "path=/etc/passwd",
		      404, "BLOB_UNKNOWN");
	assert_status("/ocimirror/v1/resource?repo=apps/monitor&tag=7.0&"
		      "path=resources/about.md",
		      404, "MANIFEST_UNKNOWN");
	assert_status("/ocimirror/v1/resource?repo=apps/none&tag=1.2.0&"
		      "path=resources/about.md",
		      404, "NAME_UNKNOWN");
	assert_status("/ocimirror/v1/resource?repo=apps/monitor&tag=1.2.0",
		      400, "UNSUPPORTED");
}

Test(serve_api, unknown_repo_tag_and_non_package)
{
	assert_status("/ocimirror/v1/app?repo=apps/none", 404,
		      "NAME_UNKNOWN");
	assert_status("/ocimirror/v1/app?repo=apps/monitor&tag=0.1", 404,
		      "MANIFEST_UNKNOWN");
	assert_status("/ocimirror/v1/app?repo=" MON_IMAGE, 404,
		      "MANIFEST_UNKNOWN");
	assert_status("/ocimirror/v1/app?repo=" MON_IMAGE "&tag=1.2.0", 404,
		      "MANIFEST_UNKNOWN");
	assert_status("/ocimirror/v1/app", 400, "NAME_INVALID");
	assert_status("/ocimirror/v1/app?repo=Bad/Name", 400, "NAME_INVALID");
}

Test(serve_api, repos_with_tags_sizes_platforms_and_referrers)
{
	const char *layers[] = {"amd-layer"}, *layers2[] = {"arm-layer"};
	struct oci_digest amd, arm, idx, sig;
	char sigtag[200];
	json_t *j, *v, *repo = NULL, *t;
	size_t i;

	amd = fix_image(&L.remote, "team/multi", "{\"a\":1}", layers, 1, NULL,
			NULL);
	arm = fix_image(&L.remote, "team/multi", "{\"b\":2}", layers2, 1,
			NULL, NULL);
	idx = fix_index(&L.remote, "team/multi", &amd, &arm);
	fix_tag(&L.remote, "team/multi", "1.0", &idx, MT_INDEX);
	sig = fix_image(&L.remote, "team/multi", "{\"sig\":1}", NULL, 0, &idx,
			"application/vnd.dev.cosign.artifact.sig.v1+json");
	{
		char d[600];
		struct err e;

		snprintf(d, sizeof(d),
			 "{\"mediaType\":\"%s\",\"digest\":\"%s\",\"size\":"
			 "100,\"artifactType\":\"application/spdx+json\"}",
			 MT_MANIFEST, sig.str);
		cr_assert_eq(store_referrer_add(&L.remote.st, "team/multi",
						&idx, &sig, d, &e),
			     0, "%s", e.msg);
	}
	snprintf(sigtag, sizeof(sigtag), "sha256-%s.sig", oci_digest_hex(&idx));
	fix_tag(&L.remote, "team/multi", sigtag, &sig, MT_MANIFEST);
	j = get_json("/ocimirror/v1/repos");
	json_array_foreach (j, i, v)
		if (!strcmp(jstr(v, "repository"), "team/multi"))
			repo = v;
	cr_assert(repo);
	cr_assert(json_array_size(j) >= 4, "apps, chart, image, team/multi");
	t = json_array_get(json_object_get(repo, "tags"), 0);
	cr_assert_str_eq(jstr(t, "tag"), "1.0");
	cr_assert_str_eq(jstr(t, "digest"), idx.str);
	cr_assert_str_eq(jstr(t, "mediaType"), MT_INDEX);
	cr_assert_str_eq(dump(json_object_get(t, "platforms")),
			 "[\"linux/amd64\",\"linux/arm64\"]");
	{
		int64_t si = 0, sa = 0, sb = 0;

		cr_assert(store_blob_exists(&si, &L.remote.st, &idx));
		cr_assert(store_blob_exists(&sa, &L.remote.st, &amd));
		cr_assert(store_blob_exists(&sb, &L.remote.st, &arm));
		/* the index, both manifests, their configs and layers */
		cr_assert_eq(json_integer_value(json_object_get(t, "size")),
			     si + sa + sb + 7 + 7 + 9 + 9);
	}
	cr_assert_eq(json_integer_value(json_object_get(t, "referrers")), 1);
	cr_assert_eq(json_integer_value(json_object_get(t, "sboms")), 1);
	cr_assert_eq(json_integer_value(json_object_get(t, "signatures")), 1,
		     "the cosign tag");
	json_decref(j);
}

Test(serve_api, headers_on_every_answer)
{
	struct resp r;

	get(&r, "/ocimirror/v1/apps");
	cr_assert_str_eq(header(&r, "Content-Security-Policy"),
			 "default-src 'self'; img-src 'self' data:; "
			 "object-src 'none'; base-uri 'none'; "
			 "frame-ancestors 'none'");
	cr_assert_str_eq(header(&r, "Referrer-Policy"), "no-referrer");
	buf_release(&r.body);
	get(&r, "/ocimirror/v1/app?repo=apps/none");
	cr_assert_eq(r.status, 404);
	cr_assert_str_eq(header(&r, "Cache-Control"), "no-store");
	cr_assert_str_eq(header(&r, "Content-Security-Policy"),
			 "default-src 'self'; img-src 'self' data:; "
			 "object-src 'none'; base-uri 'none'; "
			 "frame-ancestors 'none'");
	buf_release(&r.body);
	get(&r, "/v2/");
	cr_assert_null(header(&r, "Content-Security-Policy"),
		       "registry answers stay as they were");
	buf_release(&r.body);
}

/* The figure asked for: GET /ocimirror/v1/apps over 200 packages (each
 * its own repository, one chart shared). Reported, not asserted. */
Test(serve_api, measure_apps_over_200_packages)
{
	struct timeval a, b;
	char repo[64];
	json_t *j;

	for (int i = 0; i < 200; i++) {
		snprintf(repo, sizeof(repo), "bench/app-%03d", i);
		store_package(repo, "edge-monitor", "1.3.0", "1.3.0");
	}
	for (int round = 0; round < 2; round++) {
		gettimeofday(&a, NULL);
		j = get_json("/ocimirror/v1/apps");
		gettimeofday(&b, NULL);
		cr_assert_eq(
		    json_array_size(json_object_get(j, "applications")), 201);
		json_decref(j);
		fprintf(stderr,
			"serve_api: GET /ocimirror/v1/apps, 201 packages, %s "
			"cache: %.1f ms\n",
			round ? "warm" : "cold",
			(double)(b.tv_sec - a.tv_sec) * 1e3 +
			    (double)(b.tv_usec - a.tv_usec) / 1e3);
	}
}

/* The tags of repo in a /repos answer, or NULL. */
static json_t *repo_entry(json_t *arr, const char *repo)
{
	size_t i;
	json_t *v;

	json_array_foreach (arr, i, v)
		if (!strcmp(jstr(v, "repository"), repo))
			return v;
	return NULL;
}

Test(serve_api, repos_sizes_saturate_and_types_match_exactly)
{
	char json[2048], cd[512], ld[512], d[600];
	struct oci_digest cfg, lay, m, ref;
	struct err e;
	json_t *j, *t;

	cfg = fix_blob(&L.remote, "{}");
	lay = fix_blob(&L.remote, "huge");
	fix_desc(cd, sizeof(cd), MT_CONFIG, &cfg, 9223372036854775807LL);
	fix_desc(ld, sizeof(ld), MT_LAYER, &lay, 9223372036854775807LL);
	snprintf(json, sizeof(json),
		 "{\"schemaVersion\":2,\"mediaType\":\"%s\",\"config\":%s,"
		 "\"layers\":[%s,%s]}",
		 MT_MANIFEST, cd, ld, ld);
	m = fix_manifest(&L.remote, "team/huge", json, MT_MANIFEST);
	fix_tag(&L.remote, "team/huge", "1.0", &m, MT_MANIFEST);
	/* "design" holds "sig", "application/vnd.example.sbomish" "sbom" */
	ref = fix_image(&L.remote, "team/huge", "{\"r\":1}", NULL, 0, &m,
			"application/vnd.example.design+json");
	snprintf(d, sizeof(d),
		 "{\"mediaType\":\"%s\",\"digest\":\"%s\",\"size\":100,"
		 "\"artifactType\":\"application/vnd.example.design+json\"}",
		 MT_MANIFEST, ref.str);
	cr_assert_eq(
	    store_referrer_add(&L.remote.st, "team/huge", &m, &ref, d, &e), 0,
	    "%s", e.msg);
	ref = fix_image(&L.remote, "team/huge", "{\"r\":2}", NULL, 0, &m,
			"application/vnd.dev.sigstore.bundle.v0.3+json");
	snprintf(d, sizeof(d),
		 "{\"mediaType\":\"%s\",\"digest\":\"%s\",\"size\":100,"
		 "\"artifactType\":\"application/vnd.dev.sigstore.bundle.v0.3+"
		 "json\"}",
		 MT_MANIFEST, ref.str);
	cr_assert_eq(
	    store_referrer_add(&L.remote.st, "team/huge", &m, &ref, d, &e), 0,
	    "%s", e.msg);
	j = get_json("/ocimirror/v1/repos?n=1000");
	t = json_array_get(
	    json_object_get(repo_entry(j, "team/huge"), "tags"), 0);
	cr_assert_str_eq(jstr(t, "tag"), "1.0");
	cr_assert_eq(json_integer_value(json_object_get(t, "size")),
		     9223372036854775807LL, "saturated, not wrapped");
	cr_assert_eq(json_integer_value(json_object_get(t, "referrers")), 2);
	cr_assert_eq(json_integer_value(json_object_get(t, "signatures")), 1,
		     "the sigstore bundle only");
	cr_assert_eq(json_integer_value(json_object_get(t, "sboms")), 0);
	cr_assert(json_is_false(
	    json_object_get(repo_entry(j, "team/huge"), "tagsTruncated")));
	json_decref(j);
}

Test(serve_api, repos_page_by_n_and_last)
{
	struct resp r;
	json_t *j, *all;
	char want[300], path[300];
	const char *first, *second;

	all = get_json("/ocimirror/v1/repos");
	cr_assert_eq(json_array_size(all), 3, "apps, chart, image");
	first = jstr(json_array_get(all, 0), "repository");
	second = jstr(json_array_get(all, 1), "repository");
	cr_assert(strcmp(first, second) < 0, "sorted");
	get(&r, "/ocimirror/v1/repos?n=1");
	cr_assert_eq(r.status, 200);
	j = json_loadb(r.body.data, r.body.len, 0, NULL);
	cr_assert_eq(json_array_size(j), 1);
	cr_assert_str_eq(jstr(json_array_get(j, 0), "repository"), first);
	snprintf(want, sizeof(want),
		 "</ocimirror/v1/repos?n=1&last=%s>; rel=\"next\"", first);
	cr_assert_str_eq(header(&r, "Link"), want);
	json_decref(j);
	buf_release(&r.body);
	snprintf(path, sizeof(path), "/ocimirror/v1/repos?n=1&last=%s", first);
	j = get_json(path);
	cr_assert_eq(json_array_size(j), 1);
	cr_assert_str_eq(jstr(json_array_get(j, 0), "repository"), second);
	json_decref(j);
	get(&r, "/ocimirror/v1/repos?n=5");
	cr_assert_null(header(&r, "Link"), "the last page");
	buf_release(&r.body);
	json_decref(all);
	assert_status("/ocimirror/v1/repos?n=x", 400, "UNSUPPORTED");
}

Test(serve_api, repos_cap_tags_per_repository)
{
	const char *layers[] = {"many-layer"};
	struct oci_digest d =
	    fix_image(&L.remote, "team/many", "{\"m\":1}", layers, 1, NULL,
		      NULL);
	char tag[32];
	json_t *j, *e;

	for (int i = 0; i < 1001; i++) {
		snprintf(tag, sizeof(tag), "t%04d", i);
		fix_tag(&L.remote, "team/many", tag, &d, MT_MANIFEST);
	}
	j = get_json("/ocimirror/v1/repos");
	e = repo_entry(j, "team/many");
	cr_assert(e);
	cr_assert_eq(json_array_size(json_object_get(e, "tags")), 1000);
	cr_assert(json_is_true(json_object_get(e, "tagsTruncated")));
	json_decref(j);
}

Test(serve_api, registry_bodies_are_sandboxed_and_nosniff)
{
	struct resp r;

	get(&r, "/v2/" MON_IMAGE "/manifests/1.2.0");
	cr_assert_eq(r.status, 200, "%s", r.body.data);
	cr_assert_str_eq(header(&r, "Content-Security-Policy"),
			 "default-src 'none'; sandbox");
	cr_assert_str_eq(header(&r, "X-Content-Type-Options"), "nosniff");
	buf_release(&r.body);
	get(&r, "/v2/");
	cr_assert_str_eq(header(&r, "X-Content-Type-Options"), "nosniff");
	buf_release(&r.body);
	get(&r, "/v2/_catalog");
	cr_assert_str_eq(header(&r, "X-Content-Type-Options"), "nosniff");
	cr_assert_null(header(&r, "Content-Security-Policy"));
	buf_release(&r.body);
}

Test(serve_api, apps_entries_are_kept_a_while)
{
	struct margo_icache *ic = margo_icache_new(8);
	const char *layers[] = {"agent-layer"};
	struct oci_digest d;
	struct err e;
	json_t *j;

	cr_assert(ic);
	/* 2.0.0 runs chart 1.2.0, which names the agent: incomplete */
	store_package("apps/monitor", "edge-monitor", "2.0.0", "1.2.0");
	j = margo_browse_apps_at(&L.remote.st, ic, 100.0, &e);
	cr_assert(j, "%s", e.msg);
	cr_assert(json_is_false(json_object_get(json_array_get(j, 0),
						"complete")));
	json_decref(j);
	cr_assert_eq(margo_icache_summaries(ic), 1);
	d = fix_image(&L.remote, "registry.example/edge/agent", "{\"g\":1}",
		      layers, 1, NULL, NULL);
	fix_tag(&L.remote, "registry.example/edge/agent", "0.9", &d,
		MT_MANIFEST);
	j = margo_browse_apps_at(&L.remote.st, ic, 105.0, &e);
	cr_assert(json_is_false(json_object_get(json_array_get(j, 0),
						"complete")),
		  "kept: not computed again");
	cr_assert_str_eq(dump(json_object_get(json_array_get(j, 0), "tags")),
			 "[\"monitoring\",\"edge\"]");
	json_decref(j);
	j = margo_browse_apps_at(&L.remote.st, ic, 110.5, &e);
	cr_assert(json_is_true(json_object_get(json_array_get(j, 0),
					       "complete")),
		  "older than the validity: computed again");
	cr_assert_str_eq(jstr(json_array_get(j, 0), "icon"),
			 "resources/icon.png");
	json_decref(j);
	cr_assert_eq(margo_icache_summaries(ic), 1);
	margo_icache_free(ic);
}

Test(serve_api, a_failed_archive_is_remembered)
{
	struct margo_icache *ic = margo_icache_new(8);
	char json[2048], cd[512], ld[512];
	struct oci_digest cfg, lay, m;
	json_t *a = NULL, *b = NULL;
	struct err e;

	cr_assert(ic);
	lay = fix_blob(&L.remote, "not a gzip stream");
	cr_assert_eq(store_blob_link(&L.remote.st, CHART_REPO, &lay, &e), 0,
		     "%s", e.msg);
	cfg = fix_blob(&L.remote, "{\"name\":\"broken\"}");
	cr_assert_eq(store_blob_link(&L.remote.st, CHART_REPO, &cfg, &e), 0,
		     "%s", e.msg);
	fix_desc(cd, sizeof(cd), MT_HELM_CONFIG, &cfg, 17);
	fix_desc(ld, sizeof(ld), MT_HELM_CHART, &lay, 17);
	snprintf(json, sizeof(json),
		 "{\"schemaVersion\":2,\"mediaType\":\"%s\",\"config\":%s,"
		 "\"layers\":[%s]}",
		 MT_MANIFEST, cd, ld);
	m = fix_manifest(&L.remote, CHART_REPO, json, MT_MANIFEST);
	fix_tag(&L.remote, CHART_REPO, "6.6.6", &m, MT_MANIFEST);
	store_package("apps/broken", "edge-broken", "1.0.0", "6.6.6");
	cr_assert_eq(margo_browse_app(&a, &L.remote.st, ic, "apps/broken",
				      NULL, &e),
		     0, "%s", e.msg);
	cr_assert_eq(margo_icache_size(ic), 1, "the failure is kept");
	cr_assert_eq(margo_browse_app(&b, &L.remote.st, ic, "apps/broken",
				      NULL, &e),
		     0, "%s", e.msg);
	cr_assert(json_equal(a, b));
	cr_assert_eq(margo_icache_size(ic), 1);
	json_decref(a);
	json_decref(b);
	margo_icache_free(ic);
}

Test(serve_api, app_versions_are_tag_names)
{
	const char *layers[] = {"not-a-package"};
	struct oci_digest d = fix_image(&L.remote, "apps/monitor", "{\"x\":1}",
					layers, 1, NULL, NULL);
	json_t *j;

	fix_tag(&L.remote, "apps/monitor", "9.0", &d, MT_MANIFEST);
	j = get_json("/ocimirror/v1/app?repo=apps/monitor");
	cr_assert_str_eq(jstr(j, "tag"), "1.3.0",
			 "the highest version that is a package");
	cr_assert_str_eq(dump(json_object_get(j, "versions")),
			 "[\"1.2.0\",\"1.3.0\",\"9.0\"]");
	cr_assert(json_is_false(json_object_get(j, "versionsTruncated")));
	json_decref(j);
}
