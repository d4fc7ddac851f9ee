#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mirror/margo/chart.h"
#include "mirror/margo/compose.h"
#include "tests/mirror/imagesfix.h"
#include "oci/buf.h"

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
	return fix_images_listing(&imgs);
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

/* ---- archives built here, entry by entry ------------------------------ */
#include <archive.h>
#include <archive_entry.h>

struct ent {
	const char *name;
	char type;	  /* 'f' file, 'd' dir, 'l' symlink, 'h' hard link */
	const char *data; /* file content, or link target */
	size_t len;	  /* file: bytes of data (0: strlen) */
};

static char *tgz_of(const struct ent *v, size_t n, size_t *len_out)
{
	struct archive *a = archive_write_new();
	size_t cap = 64 * 1024 * 1024, used = 0;
	char *buf = malloc(cap);

	cr_assert_not_null(buf);
	archive_write_add_filter_gzip(a);
	archive_write_set_format_pax_restricted(a);
	archive_write_set_bytes_in_last_block(a, 1);
	cr_assert_eq(archive_write_open_memory(a, buf, cap, &used), ARCHIVE_OK);
	for (size_t i = 0; i < n; i++) {
		struct archive_entry *e = archive_entry_new();
		size_t dl = v[i].type == 'f'
				? (v[i].len ? v[i].len : strlen(v[i].data))
				: 0;

		archive_entry_set_pathname(e, v[i].name);
		archive_entry_set_perm(e, 0644);
		switch (v[i].type) {
		case 'd': archive_entry_set_filetype(e, AE_IFDIR); break;
		case 'l':
			archive_entry_set_filetype(e, AE_IFLNK);
			archive_entry_set_symlink(e, v[i].data);
			break;
		case 'h':
			archive_entry_set_filetype(e, AE_IFREG);
			archive_entry_set_hardlink(e, v[i].data);
			break;
		default:
			archive_entry_set_filetype(e, AE_IFREG);
			archive_entry_set_size(e, (la_int64_t)dl);
		}
		cr_assert_eq(archive_write_header(a, e), ARCHIVE_OK, "%s",
			     archive_error_string(a));
		if (dl)
			cr_assert_eq(archive_write_data(a, v[i].data, dl),
				     (la_ssize_t)dl);
		archive_entry_free(e);
	}
	cr_assert_eq(archive_write_close(a), ARCHIVE_OK);
	archive_write_free(a);
	*len_out = used;
	return buf;
}

static const char compose_yaml[] = "services:\n  a: {image: x/a:1}\n";

Test(margo_images, links_and_duplicates_refused)
{
	static const struct {
		struct ent e[4];
		size_t n;
		const char *msg;
	} bad[] = {
	    /* each link stays inside on its own; together they leave */
	    {{{"top/compose.yaml", 'f', compose_yaml, 0},
	      {"top/a/l", 'l', "..", 0},
	      {"top/a/l/m", 'l', "..", 0}},
	     3,
	     "\"top/a/l/m\": a path through a symbolic link"},
	    {{{"top/compose.yaml", 'f', compose_yaml, 0},
	      {"top/a/b/l", 'l', "../..", 0},
	      {"top/h", 'h', "top/a/b/l", 0}},
	     3,
	     "\"top/h\": a hard link to a symbolic link"},
	    {{{"top/real.yaml", 'f', compose_yaml, 0},
	      {"top/compose.yaml", 'l', "real.yaml", 0}},
	     2,
	     "\"top/compose.yaml\": a link where a file is needed"},
	    {{{"top/compose.yaml", 'f', compose_yaml, 0},
	      {"top/compose.yaml", 'f', "services: {}\n", 0}},
	     2,
	     "\"top/compose.yaml\": a second entry of that name"},
	    {{{"top/compose.yaml", 'f', compose_yaml, 0},
	      {"top/../top/x", 'f', "x", 0}},
	     2,
	     "a \"..\" component"},
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		size_t n;

		data = tgz_of(bad[i].e, bad[i].n, &n);
		err_clear(&err);
		cr_assert_eq(margo_compose_images(&imgs, data, n, &err),
			     ERR_INVALID, "case %zu", i);
		cr_assert(strstr(err.msg, bad[i].msg), "case %zu: %s", i,
			  err.msg);
		cr_assert_eq(imgs.n, 0);
		free(data);
		data = NULL;
	}
}

Test(margo_images, links_inside_accepted_dotenv_last_wins)
{
	const struct ent ok[] = {
	    {"top", 'd', NULL, 0},
	    {"top/compose.yaml", 'f',
	     "services:\n  a: {image: \"x/a:${T}\"}\n  b: {image: "
	     "\"x/b:${C}\"}\n",
	     0},
	    {"top/.env", 'f', "T=1\nC=2 # two\nT='3'\n", 0},
	    {"top/conf", 'l', "sub/../other", 0},
	    {"top/copy", 'h', "top/compose.yaml", 0},
	};
	size_t n;

	data = tgz_of(ok, sizeof(ok) / sizeof(ok[0]), &n);
	cr_assert_eq(margo_compose_images(&imgs, data, n, &err), 0, "%s",
		     err.msg);
	cr_assert_str_eq(listing(), "docker.io/x/a:3|top/compose.yaml: "
				    "services.a.image|\n"
				    "docker.io/x/b:2|top/compose.yaml: "
				    "services.b.image|\n");
}

Test(margo_images, nested_charts_share_one_budget)
{
	/* three packed subcharts of 4000 entries: each alone is under the
	 * 10,000-entry cap, together they are over it */
	static struct ent sub[4001], top[5];
	static char names[4001][32];
	char *subs[3];
	size_t n, sl[3];

	sub[0] = (struct ent){"s/Chart.yaml", 'f', "name: s\n", 0};
	for (size_t i = 1; i < 4001; i++) {
		snprintf(names[i], sizeof(names[i]), "s/f%zu", i);
		sub[i] = (struct ent){names[i], 'f', "x", 0};
	}
	top[0] = (struct ent){"c/Chart.yaml", 'f', "name: c\n", 0};
	top[1] = (struct ent){"c/values.yaml", 'f', "image: a/b:1\n", 0};
	for (int k = 0; k < 3; k++) {
		static char nm[3][32];

		subs[k] = tgz_of(sub, 4001, &sl[k]);
		snprintf(nm[k], sizeof(nm[k]), "c/charts/s%d.tgz", k);
		top[2 + k] = (struct ent){nm[k], 'f', subs[k], sl[k]};
	}
	data = tgz_of(top, 4, &n); /* one subchart: fine */
	cr_assert_eq(margo_chart_images(&imgs, data, n, &err), 0, "%s",
		     err.msg);
	free(data);
	data = tgz_of(top, 5, &n);
	cr_assert_eq(margo_chart_images(&imgs, data, n, &err), ERR_TOO_LARGE);
	cr_assert(strstr(err.msg, "more than 10000 entries"), "%s", err.msg);
	for (int k = 0; k < 3; k++)
		free(subs[k]);
}

Test(margo_images, image_references_capped)
{
	struct buf b;
	size_t n;

	buf_init(&b, 1 << 20);
	for (int i = 0; i <= MARGO_IMAGES_MAX; i++)
		buf_printf(&b, "k%dImage: r/i%d:1\n", i, i);
	cr_assert_eq(margo_values_images(&imgs, b.data, b.len, "values.yaml",
					 NULL, NULL, &err),
		     ERR_TOO_LARGE);
	cr_assert(strstr(err.msg, "more than 1000 image references"), "%s",
		  err.msg);
	n = imgs.n;
	cr_assert_leq(n, MARGO_IMAGES_MAX);
	buf_release(&b);
}

Test(margo_images, parent_values_override_subcharts)
{
	/* Helm's merge: the umbrella chart's values under a subchart's key
	 * (its alias when it has one) override the subchart's own; a list
	 * is replaced whole; the subchart's appVersion stands in for an
	 * empty tag */
	const struct ent redis[] = {
	    {"redis/Chart.yaml", 'f', "name: redis\nappVersion: \"7.2\"\n", 0},
	    {"redis/values.yaml", 'f',
	     "image: {registry: docker.io, repository: bitnami/redis, tag: "
	     "\"\"}\nsidecars:\n  - image: busybox:1\n",
	     0},
	};
	struct ent top[] = {
	    {"umbrella/Chart.yaml", 'f',
	     "name: umbrella\ndependencies:\n  - {name: postgresql, alias: "
	     "db}\n  - {name: redis}\n",
	     0},
	    {"umbrella/values.yaml", 'f',
	     "other: {image: x/y:1}\n"
	     "db: {image: {tag: \"16.2\"}}\n"
	     "redis:\n  image: {registry: mirror.example, repository: "
	     "lib/redis}\n  sidecars:\n    - image: alpine:3\n",
	     0},
	    {"umbrella/charts/postgresql/Chart.yaml", 'f',
	     "name: postgresql\nappVersion: \"15\"\n", 0},
	    {"umbrella/charts/postgresql/values.yaml", 'f',
	     "image: {registry: docker.io, repository: bitnami/postgresql, "
	     "tag: \"15.1\"}\nmetrics: {image: {repository: bitnami/exporter, "
	     "tag: \"1\"}}\n",
	     0},
	    {"umbrella/charts/redis-1.0.tgz", 'f', NULL, 0},
	};
	size_t n, rl;
	char *packed = tgz_of(redis, 2, &rl);

	top[4].data = packed;
	top[4].len = rl;
	data = tgz_of(top, 5, &n);
	cr_assert_eq(margo_chart_images(&imgs, data, n, &err), 0, "%s",
		     err.msg);
	cr_assert_str_eq(
	    listing(),
	    "docker.io/x/y:1|umbrella/values.yaml: other.image|\n"
	    "mirror.example/lib/redis:7.2|umbrella/charts/redis-1.0.tgz!redis/"
	    "values.yaml: image|\n"
	    "docker.io/library/alpine:3|umbrella/charts/redis-1.0.tgz!redis/"
	    "values.yaml: sidecars[0].image|\n"
	    "docker.io/bitnami/postgresql:16.2|umbrella/charts/postgresql/"
	    "values.yaml: image|\n"
	    "docker.io/bitnami/exporter:1|umbrella/charts/postgresql/"
	    "values.yaml: metrics.image|\n");
	free(packed);
}

Test(margo_images, add_keeps_each_reference_once_up_to_the_cap)
{
	struct margo_images tmp = {0};
	char ref[64];

	cr_assert_eq(margo_images_add(&imgs, "nginx:1.25", "a", NULL, &err), 0);
	cr_assert_eq(margo_images_add(&imgs, "docker.io/library/nginx:1.25",
				      "b", NULL, &err),
		     0);
	cr_assert_eq(imgs.n, 1, "the same reference, normalised");
	cr_assert_str_eq(imgs.v[0].ref, "docker.io/library/nginx:1.25");
	cr_assert_eq(margo_images_add(&imgs, "Bad Ref", "c", NULL, &err), 0);
	cr_assert_eq(imgs.n, 2);
	cr_assert_str_eq(imgs.v[1].ref, "");
	cr_assert(strstr(imgs.v[1].problem, "is not an image reference"));
	for (int i = 0; imgs.n < MARGO_IMAGES_MAX; i++) {
		snprintf(ref, sizeof(ref), "r.example/i%d:1", i);
		cr_assert_eq(margo_images_add(&imgs, ref, "d", NULL, &err), 0);
	}
	err_clear(&err);
	cr_assert_eq(
	    margo_images_add(&imgs, "r.example/one:more", "e", NULL, &err),
	    ERR_TOO_LARGE);
	cr_assert_str_eq(err.msg, "more than 1000 image references");
	/* settle: a failed read hands nothing over */
	cr_assert_eq(margo_images_add(&tmp, "r.example/x:1", "f", NULL, &err),
		     0);
	cr_assert_eq(margo_images_settle(&imgs, &tmp, ERR_INVALID, &err),
		     ERR_INVALID);
	cr_assert_eq(imgs.n, MARGO_IMAGES_MAX);
	cr_assert_eq(tmp.n, 0, "released");
}
