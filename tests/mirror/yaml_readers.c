/* Every YAML reader against hostile input up to its size cap: deep
 * nesting of each style, aliases that cost the loader, merge-key bombs;
 * and merge keys reaching each reader. The harness bounds the time
 * (.timeout); the tests assert the refusal. */
#include <archive.h>
#include <archive_entry.h>
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mirror/margo/chart.h"
#include "mirror/margo/compose.h"
#include "mirror/margo/description.h"
#include "mirror/sync/syncconf.h"

#define MIB (1024u * 1024)

static struct err err;
static struct margo_images imgs;
static char *buf, *tgz;
static size_t len, cap;

static void init(void)
{
	memset(&imgs, 0, sizeof(imgs));
	err_clear(&err);
}

static void fini(void)
{
	margo_images_release(&imgs);
	free(buf);
	free(tgz);
	buf = tgz = NULL;
	len = cap = 0;
}

TestSuite(yaml_readers, .init = init, .fini = fini);

static void put(const char *s)
{
	size_t n = strlen(s);

	if (len + n + 1 > cap) {
		cap = (len + n + 1) * 2;
		buf = realloc(buf, cap);
		cr_assert_not_null(buf);
	}
	memcpy(buf + len, s, n + 1);
	len += n;
}

/* head, then unit repeated until the input is `total` bytes long (less
 * what tail needs), then tail */
static const char *fill(const char *head, const char *unit, size_t total,
			const char *tail)
{
	size_t ul = strlen(unit);

	free(buf);
	buf = NULL;
	len = cap = 0;
	put(head);
	while (len + ul + strlen(tail) <= total)
		put(unit);
	put(tail);
	return buf;
}

/* 1000 anchors, then aliases to the last one up to total bytes */
static const char *late_aliases(const char *head, size_t total,
				const char *tail)
{
	char a[32];

	fill(head, "", 0, "");
	for (int i = 0; i < 1000; i++) {
		snprintf(a, sizeof(a), "&a%d t%d, ", i, i);
		put(a);
	}
	while (len + 16 + strlen(tail) <= total)
		put("*a999, ");
	put(tail);
	return buf;
}

/* nested merges, each level merging the one before three times */
static const char *merge_bomb(const char *head, const char *item)
{
	char line[160];

	fill(head, "", 0, "");
	snprintf(line, sizeof(line), "%s&m0 {k: 1}\n", item);
	put(line);
	for (int i = 1; i <= 30; i++) {
		snprintf(line, sizeof(line), "%s&m%d {<<: [*m%d, *m%d, *m%d]}\n",
			 item, i, i - 1, i - 1, i - 1);
		put(line);
	}
	return buf;
}

/* ---- sync configuration ------------------------------------------------ */

static int sync_parse(struct sync_config *c)
{
	return syncconf_parse(c, "sync.yaml", buf, len, &err);
}

Test(yaml_readers, sync_config_hostile_input_is_refused, .timeout = 10)
{
	static const struct {
		const char *what, *msg;
	} want[] = {
	    {"flow [[[", "sync.yaml:1:1006: YAML nested deeper than 1000 "
			 "levels"},
	    {"flow {a: {a:", "sync.yaml:2:3995: YAML nested deeper than 1000 "
			     "levels"},
	    {"block - - -", "sync.yaml:2:1999: YAML nested deeper than 1000 "
			    "levels"},
	    {"late aliases", "sync.yaml:2:361814: YAML aliases cost more than "
			     "50000000 anchor comparisons to resolve"},
	    {"merge bomb", "sync.yaml:12:14: more than 200000 YAML nodes "
			   "(aliases included)"},
	};
	struct sync_config c;

	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		switch (i) {
		case 0: fill("sync: ", "[", MIB, ""); break;
		case 1: fill("sync:\n- ", "{a: ", MIB, ""); break;
		case 2: fill("sync:\n", "- ", MIB, "x\n"); break;
		case 3:
			late_aliases("sync:\n- {source: docker.io/a/b, tags: [",
				     MIB, "t]}\n");
			break;
		default: merge_bomb("sync:\n", "- "); break;
		}
		err_clear(&err);
		cr_assert_eq(sync_parse(&c), ERR_INVALID, "%s: %s", want[i].what, err.msg);
		cr_expect_str_eq(err.msg, want[i].msg, "%s: %s", want[i].what, err.msg);
	}
}

Test(yaml_readers, sync_rules_share_settings_by_merge_keys)
{
	struct sync_config c;
	char ref[OCI_REF_STR_MAX];

	fill("sync:\n"
	     "- &rule {source: docker.io/library/alpine, tags: [\"3.20\"], "
	     "prune: true}\n"
	     "- <<: *rule\n"
	     "  source: docker.io/library/busybox\n",
	     "", 0, "");
	cr_assert_eq(sync_parse(&c), 0, "%s", err.msg);
	cr_assert_eq(c.n_rules, 2);
	oci_ref_format(&c.rules[1].source, ref, sizeof(ref));
	cr_expect_str_eq(ref, "docker.io/library/busybox");
	cr_expect_eq(c.rules[1].prune, 1);
	cr_assert_eq(c.rules[1].tags.n_exact, 1);
	cr_expect_str_eq(c.rules[1].tags.exact[0], "3.20");
	syncconf_release(&c);
}

/* ---- Margo application description ------------------------------------ */

static void desc_refused(const char *what, const char *msg, size_t line,
			 size_t column)
{
	struct margo_app app;
	struct margo_problems p;

	margo_problems_init(&p);
	err_clear(&err);
	cr_assert_eq(margo_app_parse(&app, &p, buf, len, &err), 0, "%s: %s",
		     what, err.msg);
	cr_assert_geq(p.n, 1, "%s", what);
	cr_expect_str_eq(p.v[0].message, msg, "%s: %s", what, p.v[0].message);
	cr_expect_eq(p.v[0].line, line, "%s: %zu", what, p.v[0].line);
	cr_expect_eq(p.v[0].column, column, "%s: %zu", what, p.v[0].column);
	cr_expect_eq(p.v[0].severity, MARGO_ERROR);
	margo_app_release(&app);
	margo_problems_release(&p);
}

Test(yaml_readers, description_hostile_input_is_a_problem, .timeout = 10)
{
	fill("", "[", MIB, "");
	desc_refused("flow", "YAML nested deeper than 1000 levels", 1, 1001);
	fill("", "{a: ", MIB, "");
	desc_refused("flow map", "YAML nested deeper than 1000 levels", 1,
		     4001);
	fill("", "- ", MIB, "x\n");
	desc_refused("block", "YAML nested deeper than 1000 levels", 1, 2001);
	late_aliases("metadata: {tags: [", MIB, "t]}\n");
	desc_refused("aliases",
		     "YAML aliases cost more than 50000000 anchor comparisons "
		     "to resolve",
		     1, 361799);
	merge_bomb("x:\n", "- ");
	desc_refused("merge bomb",
		     "more than 10000000 YAML nodes (aliases included)", 15,
		     26);
}

Test(yaml_readers, description_components_share_properties_by_merge_keys)
{
	struct margo_app app;
	struct margo_problems p;
	struct margo_component *c;

	fill("deploymentProfiles:\n"
	     "  - type: helm\n"
	     "    id: k8s\n"
	     "    components:\n"
	     "      - &chart\n"
	     "        name: orchestrator\n"
	     "        properties: &props\n"
	     "          repository: oci://registry.example.com/charts/orch\n"
	     "          revision: 1.2.0\n"
	     "      - <<: *chart\n"
	     "        name: database\n"
	     "        properties:\n"
	     "          <<: *props\n"
	     "          revision: 16.4.1\n",
	     "", 0, "");
	margo_problems_init(&p);
	cr_assert_eq(margo_app_parse(&app, &p, buf, len, &err), 0, "%s",
		     err.msg);
	cr_assert_eq(app.n_profiles, 1);
	cr_assert_eq(app.profiles[0].n_components, 2);
	c = &app.profiles[0].components[1];
	cr_expect_str_eq(c->name.v, "database");
	cr_expect_str_eq(c->repository.v,
			 "oci://registry.example.com/charts/orch");
	cr_expect_str_eq(c->revision.v, "16.4.1");
	margo_app_release(&app);
	margo_problems_release(&p);
}

/* ---- Helm values.yaml and Chart.yaml ----------------------------------- */

static int values(void)
{
	return margo_values_images(&imgs, buf, len, "values.yaml", NULL, NULL,
				   &err);
}

Test(yaml_readers, helm_values_hostile_input_is_refused, .timeout = 10)
{
	static const struct {
		const char *what, *msg;
	} want[] = {
	    {"flow [[[", "values.yaml:2:1006: YAML nested deeper than 1000 "
			 "levels"},
	    {"flow {a: {a:", "values.yaml:1:4001: YAML nested deeper than "
			     "1000 levels"},
	    {"block - - -", "values.yaml:2:2001: YAML nested deeper than 1000 "
			    "levels"},
	    {"late aliases", "values.yaml:1:361795: YAML aliases cost more "
			     "than 50000000 anchor comparisons to resolve"},
	    {"merge bomb", "values.yaml:15:26: more than 10000000 YAML nodes "
			   "(aliases included)"},
	};

	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		switch (i) {
		case 0: fill("image:\n  tag: ", "[", MARGO_YAML_MAX, ""); break;
		case 1: fill("", "{a: ", MARGO_YAML_MAX, ""); break;
		case 2: fill("image:\n  ", "- ", MARGO_YAML_MAX, "x\n"); break;
		case 3:
			late_aliases("image: {tag: [", MARGO_YAML_MAX, "t]}\n");
			break;
		default: merge_bomb("x:\n", "- "); break;
		}
		err_clear(&err);
		cr_assert_eq(values(), ERR_TOO_LARGE, "%s: %s", want[i].what, err.msg);
		cr_expect_str_eq(err.msg, want[i].msg, "%s: %s", want[i].what, err.msg);
		cr_expect_eq(imgs.n, 0);
	}
}

Test(yaml_readers, helm_values_image_maps_built_by_merge_keys)
{
	/* the shared part alone names no repository: chart.c reports it as an
	 * unresolved image map (never silence), the three users resolve */
	fill("x-image: &img\n"
	     "  registry: registry.example.com\n"
	     "  tag: \"1.2.0\"\n"
	     "  pullPolicy: IfNotPresent\n"
	     "orchestrator:\n"
	     "  image:\n"
	     "    <<: *img\n"
	     "    repository: acme/orchestrator\n"
	     "sidecar:\n"
	     "  image: {<<: *img, repository: acme/sidecar, tag: \"2.0\"}\n"
	     "worker:\n"
	     "  <<: {image: {<<: *img, repository: acme/worker}}\n",
	     "", 0, "");
	cr_assert_eq(values(), 0, "%s", err.msg);
	cr_assert_eq(imgs.n, 4);
	cr_expect_str_eq(imgs.v[0].ref, "");
	cr_expect_str_eq(imgs.v[0].where, "values.yaml: x-image");
	cr_expect_str_neq(imgs.v[0].problem, "");
	cr_expect_str_eq(imgs.v[1].ref,
			 "registry.example.com/acme/orchestrator:1.2.0");
	cr_expect_str_eq(imgs.v[1].where, "values.yaml: orchestrator.image");
	cr_expect_str_eq(imgs.v[2].ref,
			 "registry.example.com/acme/sidecar:2.0");
	cr_expect_str_eq(imgs.v[2].where, "values.yaml: sidecar.image");
	cr_expect_str_eq(imgs.v[3].ref,
			 "registry.example.com/acme/worker:1.2.0");
	cr_expect_str_eq(imgs.v[3].where, "values.yaml: worker.image");
}

/* A .tgz of one directory "top" holding these files. */
static void archive_of(const char *const *names, const char *const *data,
		       size_t n)
{
	struct archive *a = archive_write_new();
	size_t room = 16 * MIB, used = 0;

	tgz = malloc(room);
	cr_assert_not_null(tgz);
	archive_write_add_filter_gzip(a);
	archive_write_set_format_pax_restricted(a);
	cr_assert_eq(archive_write_open_memory(a, tgz, room, &used),
		     ARCHIVE_OK);
	for (size_t i = 0; i < n; i++) {
		struct archive_entry *e = archive_entry_new();
		size_t dl = strlen(data[i]);

		archive_entry_set_pathname(e, names[i]);
		archive_entry_set_perm(e, 0644);
		archive_entry_set_filetype(e, AE_IFREG);
		archive_entry_set_size(e, (la_int64_t)dl);
		cr_assert_eq(archive_write_header(a, e), ARCHIVE_OK);
		cr_assert_eq(archive_write_data(a, data[i], dl),
			     (la_ssize_t)dl);
		archive_entry_free(e);
	}
	cr_assert_eq(archive_write_close(a), ARCHIVE_OK);
	archive_write_free(a);
	len = used;
}

Test(yaml_readers, chart_yaml_hostile_input_is_refused, .timeout = 10)
{
	const char *names[] = {"top/Chart.yaml", "top/values.yaml"};
	const char *data[] = {NULL, "image: x/a:1\n"};

	data[0] = fill("apiVersion: v2\nname: top\nversion: 1.0.0\n"
		       "annotations: ",
		       "[", MARGO_YAML_MAX, "");
	archive_of(names, data, 2);
	cr_assert_eq(margo_chart_images(&imgs, tgz, len, &err),
		     ERR_TOO_LARGE);
	cr_expect_str_eq(err.msg, "top/Chart.yaml:4:1013: YAML nested deeper "
				  "than 1000 levels");
	free(tgz);
	data[0] = late_aliases("apiVersion: v2\nname: top\nversion: 1.0.0\n"
			       "keywords: [",
			       MARGO_YAML_MAX, "t]\n");
	archive_of(names, data, 2);
	err_clear(&err);
	cr_assert_eq(margo_chart_images(&imgs, tgz, len, &err),
		     ERR_TOO_LARGE);
	cr_expect_str_eq(err.msg, "top/Chart.yaml:4:361792: YAML aliases cost "
				  "more than 50000000 anchor comparisons to "
				  "resolve");
	cr_expect_eq(imgs.n, 0);
}

/* ---- compose.yaml ------------------------------------------------------- */

Test(yaml_readers, compose_file_hostile_input_is_refused, .timeout = 10)
{
	static const struct {
		const char *what, *msg;
	} want[] = {
	    {"flow [[[", "compose.yaml:3:1011: YAML nested deeper than 1000 "
			 "levels"},
	    {"flow {a: {a:", "compose.yaml:3:4001: YAML nested deeper than "
			     "1000 levels"},
	    {"block - - -", "compose.yaml:4:2001: YAML nested deeper than "
			    "1000 levels"},
	    {"late aliases", "compose.yaml:3:361795: YAML aliases cost more "
			     "than 50000000 anchor comparisons to resolve"},
	    {"merge bomb", "compose.yaml:15:26: more than 10000000 YAML nodes "
			   "(aliases included)"},
	};

	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		switch (i) {
		case 0:
			fill("services:\n  a:\n    command: ", "[",
			     MARGO_YAML_MAX, "");
			break;
		case 1:
			fill("services:\n  a:\n    labels: ", "{a: ",
			     MARGO_YAML_MAX, "");
			break;
		case 2:
			fill("services:\n  a:\n    ports:\n      ", "- ",
			     MARGO_YAML_MAX, "x\n");
			break;
		case 3:
			late_aliases("services:\n  a:\n    command: [",
				     MARGO_YAML_MAX, "t]\n");
			break;
		default: merge_bomb("x-a:\n", "- "); break;
		}
		err_clear(&err);
		cr_assert_eq(margo_compose_file_images(&imgs, buf, len,
						       "compose.yaml", NULL,
						       &err),
			     ERR_TOO_LARGE, "%s: %s", want[i].what, err.msg);
		cr_expect_str_eq(err.msg, want[i].msg, "%s: %s", want[i].what, err.msg);
		cr_expect_eq(imgs.n, 0);
	}
}

Test(yaml_readers, compose_archive_nested_deep_is_refused, .timeout = 10)
{
	const char *names[] = {"line-monitor/compose.yaml"};
	const char *data[] = {NULL};

	/* a few hundred bytes of gzip: 200,000 levels */
	data[0] = fill("services:\n  a:\n    image: ", "[", 200027, "");
	archive_of(names, data, 1);
	cr_expect_lt(len, 2048);
	cr_assert_eq(margo_compose_images(&imgs, tgz, len, &err),
		     ERR_TOO_LARGE);
	cr_expect_str_eq(err.msg, "line-monitor/compose.yaml:3:1009: YAML "
				  "nested deeper than 1000 levels");
	cr_expect_eq(imgs.n, 0);
}
