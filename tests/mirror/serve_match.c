/* The device endpoints: GET /ocimirror/v1/devices, /device?name=, POST
 * /ocimirror/v1/match, against the project's server on loopback. */
#include <criterion/criterion.h>
#include <curl/curl.h>
#include <jansson.h>

#include "loopfix.h"
#include "mirror/margo/device.h"
#include "mirror/margo/package.h"
#include "mirror/store/device.h"
#include "oci/buf.h"

static const char desc[] =
    "apiVersion: margo.org/v1-alpha1\n"
    "kind: ApplicationDescription\n"
    "metadata:\n"
    "  id: press-monitor\n"
    "  name: Press Monitor\n"
    "  version: \"1.4\"\n"
    "  catalog:\n"
    "    organization: [{name: Acme}]\n"
    "deploymentProfiles:\n"
    "  - type: compose\n"
    "    id: small\n"
    "    requiredResources:\n"
    "      cpu: {cores: 2, architectures: [arm64]}\n"
    "      memory: 1Gi\n"
    "    components:\n"
    "      - name: m\n"
    "        properties: {repository: oci://r.example/m, revision: 1.4.0}\n"
    "  - type: compose\n"
    "    id: big\n"
    "    requiredResources:\n"
    "      memory: 8Gi\n"
    "    components:\n"
    "      - name: m\n"
    "        properties: {repository: oci://r.example/m, revision: 1.4.0}\n";

static const char device_yaml[] =
    "apiVersion: device.margo.org/v1alpha1\n"
    "kind: DeviceCapabilitiesManifest\n"
    "properties:\n"
    "  id: cell-4\n"
    "  vendor: Acme\n"
    "  modelNumber: A-1\n"
    "  serialNumber: S-9\n"
    "  roles: [Standalone Device]\n"
    "  resources:\n"
    "    cpu: {cores: 4, architectures: [aarch64]}\n"
    "    memory: 4Gi\n"
    "    storage: 100Gi\n"
    "    peripherals: []\n"
    "    interfaces: [{type: ethernet}]\n";

static struct loop l;

static void setup(void)
{
	char dir[] = "/tmp/ocimirror-matchpkg-XXXXXX", path[300], cmd[400];
	struct margo_push_target t;
	struct margo_push_result res;
	struct err err;
	FILE *f;

	loop_start(&l, 0);
	cr_assert(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/margo.yaml", dir);
	f = fopen(path, "w");
	cr_assert(f);
	fputs(desc, f);
	fclose(f);
	cr_assert_eq(margo_push_target_parse(&t, "store:acme/press", &err), 0,
		     "%s", err.msg);
	cr_assert_eq(margo_package_push(&res, &l.remote.st, NULL, dir, NULL, 0,
					&t.ref, t.repo, &err),
		     0, "%s", err.msg);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	cr_assert_eq(system(cmd), 0);
}

static void teardown(void)
{
	loop_stop(&l);
}

TestSuite(serve_match, .init = setup, .fini = teardown);

struct answer {
	long status;
	struct buf body;
	json_t *j;
};

static size_t on_body(char *p, size_t sz, size_t n, void *ctx)
{
	struct answer *a = ctx;

	return buf_append(&a->body, p, sz * n) ? 0 : sz * n;
}

static void call(struct answer *a, const char *method, const char *path,
		 const char *body, size_t blen)
{
	CURL *c = curl_easy_init();
	struct curl_slist *h = curl_slist_append(NULL, "Expect:");
	char url[1024];

	cr_assert(c);
	memset(a, 0, sizeof(*a));
	buf_init(&a->body, 1 << 20);
	snprintf(url, sizeof(url), "http://%s%s", l.host, path);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 20L);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, a);
	if (strcmp(method, "GET")) {
		curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, body ? body : "");
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)blen);
	}
	cr_assert_eq(curl_easy_perform(c), CURLE_OK, "%s %s", method, path);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &a->status);
	curl_slist_free_all(h);
	curl_easy_cleanup(c);
	a->j = json_loadb(a->body.data, a->body.len, 0, NULL);
	cr_assert_not_null(a->j, "%s %s: %s", method, path, a->body.data);
}

static void done(struct answer *a)
{
	json_decref(a->j);
	buf_release(&a->body);
}

static void add_device(const char *name)
{
	struct margo_device d;
	struct err err;
	json_t *j;
	char *text;

	cr_assert_eq(margo_device_parse(&d, NULL, device_yaml,
					strlen(device_yaml), NULL, &err),
		     0, "%s", err.msg);
	j = margo_device_json(&d);
	text = json_dumps(j, 0);
	cr_assert_eq(store_device_put(&l.remote.st, name, text, &err), 0, "%s",
		     err.msg);
	free(text);
	json_decref(j);
	margo_device_release(&d);
}

static void assert_profiles(json_t *m)
{
	json_t *ps = json_object_get(m, "profiles"), *p;

	cr_assert_eq(json_array_size(ps), 2);
	p = json_array_get(ps, 0);
	cr_assert_str_eq(json_string_value(json_object_get(p, "id")), "small");
	cr_assert(json_is_true(json_object_get(p, "fits")));
	cr_assert_eq(json_array_size(json_object_get(p, "reasons")), 0);
	p = json_array_get(ps, 1);
	cr_assert_str_eq(json_string_value(json_object_get(p, "id")), "big");
	cr_assert(json_is_false(json_object_get(p, "fits")));
	cr_assert_str_eq(json_string_value(json_array_get(
			     json_object_get(p, "reasons"), 0)),
			 "memory: needs 8Gi, the device has 4Gi");
	cr_assert_str_eq(json_string_value(json_object_get(m, "tag")), "1.4");
	cr_assert_str_eq(json_string_value(json_object_get(m, "repository")),
			 "acme/press");
}

Test(serve_match, body_device_matches_each_profile)
{
	struct answer a;

	call(&a, "POST", "/ocimirror/v1/match?repo=acme/press&tag=1.4",
	     device_yaml, strlen(device_yaml));
	cr_assert_eq(a.status, 200, "%s", a.body.data);
	assert_profiles(a.j);
	cr_assert_str_eq(json_string_value(json_object_get(
			     json_object_get(a.j, "device"), "id")),
			 "cell-4");
	cr_assert(json_is_null(
	    json_object_get(json_object_get(a.j, "device"), "name")));
	done(&a);
}

Test(serve_match, stored_device_by_name)
{
	struct answer a;

	add_device("cell4");
	call(&a, "POST", "/ocimirror/v1/match?repo=acme/press&device=cell4",
	     NULL, 0);
	cr_assert_eq(a.status, 200, "%s", a.body.data);
	assert_profiles(a.j);
	cr_assert_str_eq(json_string_value(json_object_get(
			     json_object_get(a.j, "device"), "name")),
			 "cell4");
	done(&a);
	call(&a, "POST", "/ocimirror/v1/match?repo=acme/press&device=nope",
	     NULL, 0);
	cr_assert_eq(a.status, 404);
	done(&a);
}

Test(serve_match, bad_device_body_is_400_with_every_problem)
{
	static const char bad[] = "{\"apiVersion\": \"device.margo.org/v1alpha1\","
				  " \"kind\": \"Printer\"}";
	struct answer a;
	json_t *errs;

	call(&a, "POST", "/ocimirror/v1/match?repo=acme/press", bad,
	     strlen(bad));
	cr_assert_eq(a.status, 400);
	errs = json_object_get(a.j, "errors");
	cr_assert_eq(json_array_size(errs), 2, "%s", a.body.data);
	cr_assert_str_eq(json_string_value(json_array_get(errs, 0)),
			 "kind \"Printer\" is not DeviceCapabilitiesManifest");
	cr_assert_str_eq(json_string_value(json_array_get(errs, 1)),
			 "properties is missing");
	done(&a);
}

Test(serve_match, oversized_body_is_413)
{
	size_t n = 64 * 1024 + 1;
	char *big = malloc(n);
	struct answer a;

	cr_assert(big);
	memset(big, '#', n);
	call(&a, "POST", "/ocimirror/v1/match?repo=acme/press", big, n);
	cr_assert_eq(a.status, 413);
	done(&a);
	free(big);
}

Test(serve_match, devices_list_and_one_device)
{
	struct answer a;
	json_t *d;

	call(&a, "GET", "/ocimirror/v1/devices", NULL, 0);
	cr_assert_eq(a.status, 200);
	cr_assert_eq(json_array_size(a.j), 0);
	done(&a);
	add_device("cell4");
	add_device("alpha");
	call(&a, "GET", "/ocimirror/v1/devices", NULL, 0);
	cr_assert_eq(json_array_size(a.j), 2);
	d = json_array_get(a.j, 0);
	cr_assert_str_eq(json_string_value(json_object_get(d, "name")),
			 "alpha");
	cr_assert_str_eq(json_string_value(json_object_get(d, "architecture")),
			 "arm64");
	cr_assert_eq(json_integer_value(json_object_get(d, "cores")), 4);
	cr_assert_str_eq(json_string_value(json_object_get(d, "memory")), "4Gi");
	done(&a);
	call(&a, "GET", "/ocimirror/v1/device?name=cell4", NULL, 0);
	cr_assert_eq(a.status, 200);
	cr_assert_str_eq(json_string_value(json_object_get(
			     json_object_get(a.j, "properties"), "serialNumber")),
			 "S-9");
	done(&a);
	call(&a, "GET", "/ocimirror/v1/device?name=..%2Fx", NULL, 0);
	cr_assert_eq(a.status, 400);
	done(&a);
	call(&a, "GET", "/ocimirror/v1/device?name=ghost", NULL, 0);
	cr_assert_eq(a.status, 404);
	done(&a);
}

Test(serve_match, match_is_post_only_and_needs_a_package)
{
	struct answer a;

	call(&a, "GET", "/ocimirror/v1/match?repo=acme/press", NULL, 0);
	cr_assert_eq(a.status, 405);
	done(&a);
	call(&a, "POST", "/ocimirror/v1/match?repo=acme/other", device_yaml,
	     strlen(device_yaml));
	cr_assert_eq(a.status, 404);
	done(&a);
	call(&a, "POST", "/ocimirror/v1/match", device_yaml,
	     strlen(device_yaml));
	cr_assert_eq(a.status, 400);
	done(&a);
}
