#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mirror/margo_images.h"

#define ARCHIVES TESTDATA "/margo/archives"

static struct margo_images imgs;
static struct err err;
static char *data;

static void init(void)
{
	memset(&imgs, 0, sizeof(imgs));
	err_clear(&err);
}

static void fini(void)
{
	margo_images_release(&imgs);
	free(data);
	data = NULL;
}

TestSuite(margo_images, .init = init, .fini = fini);

static size_t slurp(const char *name)
{
	char path[512];
	FILE *f;
	long n;

	snprintf(path, sizeof(path), "%s/%s", ARCHIVES, name);
	f = fopen(path, "rb");
	cr_assert_not_null(f, "open %s", path);
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	rewind(f);
	data = malloc((size_t)n + 1);
	cr_assert_eq(fread(data, 1, (size_t)n, f), (size_t)n);
	fclose(f);
	return (size_t)n;
}

/* "ref|where|problem" per image, one per line */
static char *listing(void)
{
	static char out[8192];
	size_t o = 0;

	out[0] = '\0';
	for (size_t i = 0; i < imgs.n; i++)
		o += (size_t)snprintf(out + o, sizeof(out) - o, "%s|%s|%s\n",
				      imgs.v[i].ref, imgs.v[i].where,
				      imgs.v[i].problem);
	return out;
}

Test(margo_images, chart_with_packed_subchart)
{
	size_t n = slurp("orchestrator-1.2.0.tgz");

	cr_assert_eq(margo_chart_images(&imgs, data, n, &err), 0, "%s",
		     err.msg);
	cr_assert_str_eq(
	    listing(),
	    "registry.example.com/digitron/orchestrator:1.2.0|orchestrator/"
	    "values.yaml: image|\n"
	    "registry.example.com/digitron/agent:2.0|orchestrator/"
	    "values.yaml: sidecar.sidecarImage|\n"
	    "registry.example.com/library/busybox:1.36|orchestrator/"
	    "values.yaml: initContainers[0].image|\n"
	    "registry.example.com/digitron/metrics:0.1.0|orchestrator/charts/"
	    "metrics-0.1.0.tgz!metrics/values.yaml: image|\n");
}

Test(margo_images, chart_registry_key_app_version_and_empty_slot)
{
	size_t n = slurp("database-16.4.1+build.7.tgz");

	cr_assert_eq(margo_chart_images(&imgs, data, n, &err), 0, "%s",
		     err.msg);
	/* tag "" takes appVersion; the empty backup slot is no image; the
	 * unpacked library subchart has none */
	cr_assert_str_eq(listing(),
			 "registry.example.com/digitron/postgres:16.4|database/"
			 "values.yaml: image|\n"
			 "registry.example.com/digitron/postgres-exporter:0.15."
			 "0|database/values.yaml: metrics.image|\n");
}

Test(margo_images, values_global_registry_digest_and_templates)
{
	const char *v =
	    "global:\n  imageRegistry: mirror.local:5000\n"
	    "image:\n  registry: docker.io\n  repository: "
	    "bitnami/nginx\n  tag: 1.25\n"
	    "pinned:\n  image:\n    repository: org/app\n    digest: "
	    "sha256:"
	    "0123456789abcdef0123456789abcdef0123456789abcdef012345"
	    "6789abcdef\n"
	    "templated:\n  image: \"{{ .Values.x }}\"\n"
	    "bad:\n  image: \"Not A Ref\"\n"
	    "dup:\n  image: mirror.local:5000/bitnami/nginx:1.25\n"
	    "notag:\n  image:\n    repository: org/other\n";

	cr_assert_eq(margo_values_images(&imgs, v, strlen(v), "values.yaml",
					 NULL, NULL, &err),
		     0, "%s", err.msg);
	cr_assert_eq(imgs.n, 5, "%s", listing());
	cr_assert_str_eq(imgs.v[0].ref, "mirror.local:5000/bitnami/nginx:1.25");
	cr_assert_str_eq(
	    imgs.v[1].ref,
	    "mirror.local:5000/org/app@sha256:"
	    "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef");
	cr_assert_str_eq(imgs.v[2].ref, "");
	cr_assert(strstr(imgs.v[2].problem, "template"), "%s",
		  imgs.v[2].problem);
	cr_assert_str_eq(imgs.v[2].where, "values.yaml: templated.image");
	cr_assert(strstr(imgs.v[3].problem, "is not an image reference"), "%s",
		  imgs.v[3].problem);
	cr_assert(strstr(imgs.v[4].problem, "no appVersion"), "%s",
		  imgs.v[4].problem);
}

Test(margo_images, values_parent_global_wins_and_yaml_errors)
{
	const char *v = "global: {imageRegistry: own.example}\n"
			"image: {repository: a/b, tag: '1'}\n";
	const char *bad = "image: [unclosed\n";

	cr_assert_eq(margo_values_images(&imgs, v, strlen(v), "v.yaml", NULL,
					 "parent.example", &err),
		     0);
	cr_assert_str_eq(imgs.v[0].ref, "parent.example/a/b:1");
	cr_assert_eq(margo_values_images(&imgs, bad, strlen(bad), "v.yaml",
					 NULL, NULL, &err),
		     ERR_INVALID);
	cr_assert(strstr(err.msg, "v.yaml:2:1: YAML"), "%s", err.msg);
}

Test(margo_images, compose_archive_with_dotenv_and_defaults)
{
	size_t n = slurp("line-monitor-0.3.1-rc.2.tar.gz");

	cr_assert_eq(margo_compose_images(&imgs, data, n, &err), 0, "%s",
		     err.msg);
	cr_assert_str_eq(
	    listing(),
	    "registry.example.com/acme/line-monitor:0.3.1|line-monitor/"
	    "compose.yaml: services.monitor.image|\n"
	    "registry.example.com/library/mosquitto:2.0.18|line-monitor/"
	    "compose.yaml: services.broker.image|\n"
	    "registry.example.com/library/redis:7|line-monitor/compose.yaml: "
	    "services.cache.image|\n");
}

Test(margo_images, compose_file_unresolved_services)
{
	const char *c = "services:\n"
			"  a: {image: \"${NOPE}\"}\n"
			"  b: {build: .}\n"
			"  c: {image: \"x/${T:?set T}\"}\n"
			"  d: {command: true}\n";

	cr_assert_eq(margo_compose_file_images(&imgs, c, strlen(c),
					       "compose.yaml", NULL, &err),
		     0);
	cr_assert_eq(imgs.n, 4);
	cr_assert(strstr(imgs.v[0].problem, "NOPE is not set"), "%s",
		  imgs.v[0].problem);
	cr_assert(strstr(imgs.v[1].problem, "build"), "%s", imgs.v[1].problem);
	cr_assert(strstr(imgs.v[2].problem, "required: set T"), "%s",
		  imgs.v[2].problem);
	cr_assert(strstr(imgs.v[3].problem, "names no image"), "%s",
		  imgs.v[3].problem);
	cr_assert_eq(margo_compose_file_images(&imgs, "x: 1\n", 5,
					       "compose.yaml", NULL, &err),
		     ERR_INVALID);
	cr_assert(strstr(err.msg, "no services"), "%s", err.msg);
}

Test(margo_images, interpolation)
{
	static const struct {
		const char *in, *out;
	} ok[] = {
	    {"plain", "plain"},
	    {"$$HOME", "$HOME"},
	    {"${A}", "one"},
	    {"$A/x", "one/x"},
	    {"${E:-d}", "d"},	       /* empty counts as unset with ':' */
	    {"${E-d}", ""},	       /* set, empty */
	    {"${U-d}", "d"},	       /* unset */
	    {"${U:-${A}-2}", "one-2"}, /* nested */
	    {"${A:+alt}", "alt"},
	    {"${U:+alt}", ""},
	    {"${Q}", "quoted value"},
	};
	const char *env = "# comment\nA=one\nE=\nexport Q=\"quoted value\"\n";
	char out[256], problem[128];

	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		cr_assert_eq(margo_interpolate(out, sizeof(out), ok[i].in, env,
					       problem, sizeof(problem)),
			     0, "%s: %s", ok[i].in, problem);
		cr_assert_str_eq(out, ok[i].out, "%s", ok[i].in);
	}
	cr_assert_eq(margo_interpolate(out, sizeof(out), "${U}", env, problem,
				       sizeof(problem)),
		     -1);
	cr_assert_str_eq(problem, "variable U is not set and has no default");
	cr_assert_eq(margo_interpolate(out, sizeof(out), "${A", env, problem,
				       sizeof(problem)),
		     -1);
	cr_assert_str_eq(problem, "invalid interpolation syntax");
	cr_assert_eq(margo_interpolate(out, 4, "${A}${A}", env, problem,
				       sizeof(problem)),
		     -1);
	cr_assert_str_eq(problem, "value too long once interpolated");
}

Test(margo_images, hostile_archives_refused)
{
	static const struct {
		const char *file, *msg;
	} bad[] = {
	    {"hostile-dotdot.tar.gz", "a \"..\" component; refused"},
	    {"hostile-absolute.tar.gz",
	     "\"/etc/evil.conf\": an absolute path; refused"},
	    {"hostile-symlink.tar.gz",
	     "\"line-monitor/config\": a symbolic link leaving the directory"},
	    {"hostile-docker-compose.tar.gz",
	     "line-monitor/docker-compose.yml instead of "
	     "line-monitor/compose.yaml"},
	    {"hostile-two-tops.tar.gz", "a second top-level directory"},
	    {"hostile-device.tar.gz", "a device, FIFO or socket"},
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		size_t n = slurp(bad[i].file);

		err_clear(&err);
		cr_assert_eq(margo_compose_images(&imgs, data, n, &err),
			     ERR_INVALID, "%s", bad[i].file);
		cr_assert(strstr(err.msg, bad[i].msg), "%s: %s", bad[i].file,
			  err.msg);
		cr_assert_eq(imgs.n, 0, "%s: nothing read", bad[i].file);
		free(data);
		data = NULL;
	}
}

Test(margo_images, not_an_archive_and_wrong_kind)
{
	size_t n;

	cr_assert_eq(margo_chart_images(&imgs, "hello", 5, &err), ERR_INVALID);
	n = slurp("line-monitor-0.3.1-rc.2.tar.gz");
	cr_assert_eq(margo_chart_images(&imgs, data, n, &err), ERR_INVALID);
	cr_assert(strstr(err.msg, "not a Helm chart"), "%s", err.msg);
}
