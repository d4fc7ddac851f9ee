#include <criterion/criterion.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mirror/margo/description.h"

#define MARGO_DIR TESTDATA "/margo"

static struct margo_app app;
static struct margo_problems probs;
static struct err err;
static char *text;

static void init(void)
{
	margo_problems_init(&probs);
	err_clear(&err);
}

static void fini(void)
{
	margo_app_release(&app);
	margo_problems_release(&probs);
	free(text);
	text = NULL;
}

TestSuite(margo, .init = init, .fini = fini);

static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *s;
	long n;

	cr_assert_not_null(f, "open %s", path);
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	rewind(f);
	s = malloc((size_t)n + 1);
	cr_assert_not_null(s);
	cr_assert_eq(fread(s, 1, (size_t)n, f), (size_t)n);
	s[n] = '\0';
	fclose(f);
	*len = (size_t)n;
	return s;
}

static void load(const char *path, const char *dir)
{
	size_t len;

	text = slurp(path, &len);
	cr_assert_eq(margo_app_parse(&app, &probs, text, len, &err), 0, "%s",
		     err.msg);
	margo_app_validate(&probs, &app, dir);
}

static void load_str(const char *yaml)
{
	cr_assert_eq(margo_app_parse(&app, &probs, yaml, strlen(yaml), &err), 0,
		     "%s", err.msg);
	margo_app_validate(&probs, &app, NULL);
}

static void no_problems(void)
{
	for (size_t i = 0; i < probs.n; i++)
		cr_log_error("%zu:%zu: %s: %s", probs.v[i].line,
			     probs.v[i].column,
			     margo_severity_name(probs.v[i].severity),
			     probs.v[i].message);
	cr_assert_eq(probs.n, 0);
	cr_assert_eq(probs.n_errors, 0);
	cr_assert_eq(probs.n_warnings, 0);
}

Test(margo, helm_sample_parses_with_its_fields)
{
	const struct margo_profile *p;

	load(MARGO_DIR "/helm-app/margo.yaml", MARGO_DIR "/helm-app");
	no_problems();
	cr_assert_str_eq(app.api_version.v, "margo.org/v1-alpha1");
	cr_assert_str_eq(app.kind.v, "ApplicationDescription");
	cr_assert_str_eq(app.id.v, "digitron-orchestrator");
	cr_assert_eq(app.id.line, 3);
	cr_assert_eq(app.id.column, 5);
	cr_assert_str_eq(app.name.v, "Digitron Orchestrator");
	cr_assert_str_eq(app.version.v, "1.2.0");
	cr_assert_str_eq(app.icon.v, "resources/icon.png");
	cr_assert_str_eq(app.description_file.v, "resources/description.md");
	cr_assert_str_eq(app.license_file.v, "resources/license.pdf");
	cr_assert_str_eq(app.release_notes.v, "resources/release-notes.md");
	cr_assert_str_eq(app.tagline.v, "Keeps the line moving.");
	cr_assert_eq(app.n_tags, 2);
	cr_assert_str_eq(app.tags[1].v, "orchestration");
	cr_assert_eq(app.n_authors, 1);
	cr_assert_str_eq(app.authors[0].email.v, "ada@digitron.example.com");
	cr_assert_eq(app.n_organizations, 1);
	cr_assert_str_eq(app.organizations[0].name.v, "Digitron");

	cr_assert_eq(app.n_profiles, 2);
	p = &app.profiles[0];
	cr_assert_str_eq(p->type.v, "helm");
	cr_assert_str_eq(p->id.v, "k8s-arm64");
	cr_assert_eq(p->n_architectures, 1);
	cr_assert_str_eq(p->architectures[0].v, "arm64");
	cr_assert_str_eq(p->resources_key, "deviceConstraints");
	cr_assert_str_eq(p->cores.v, "2");
	cr_assert_str_eq(p->memory.v, "512Mi");
	cr_assert_str_eq(p->storage.v, "1Gi");
	cr_assert_eq(p->n_components, 2);
	cr_assert_str_eq(p->components[0].name.v, "orchestrator");
	cr_assert_str_eq(
	    p->components[0].repository.v,
	    "oci://registry.example.com/digitron/charts/orchestrator");
	cr_assert_str_eq(p->components[0].revision.v, "1.2.0");
	cr_assert_str_eq(p->components[0].wait.v, "true");
	cr_assert_str_eq(p->components[0].timeout.v, "5m0s");
	cr_assert_str_eq(p->components[1].name.v, "database");
	cr_assert_str_eq(p->components[1].revision.v, "16.4.1+build.7");
	p = &app.profiles[1];
	cr_assert_str_eq(p->type.v, "helm");
	cr_assert_str_eq(p->id.v, "k8s-amd64");
	cr_assert_eq(p->n_architectures, 1);
	cr_assert_str_eq(p->architectures[0].v, "amd64");
	cr_assert_eq(p->n_components, 1);

	cr_assert_eq(app.n_parameters, 2);
	cr_assert_str_eq(app.parameters[0].name.v, "greeting");
	cr_assert_str_eq(app.parameters[0].value.v, "hello");
	cr_assert_str_eq(app.parameters[0].targets[0].pointer.v,
			 "env.GREETING");
	cr_assert_eq(app.parameters[1].targets[0].n_components, 2);
	cr_assert_eq(app.n_sections, 1);
	cr_assert_eq(app.sections[0].n_settings, 2);
	cr_assert_str_eq(app.sections[0].settings[1].schema.v, "replicaRule");
	cr_assert_eq(app.n_rules, 2);
	cr_assert_str_eq(app.rules[1].data_type.v, "integer");
}

Test(margo, compose_sample_parses_with_its_fields)
{
	const struct margo_profile *p;

	load(MARGO_DIR "/compose-app/margo.yaml", MARGO_DIR "/compose-app");
	no_problems();
	cr_assert_str_eq(app.id.v, "line-monitor");
	cr_assert_str_eq(app.version.v, "0.3.1-rc.2");
	cr_assert_eq(app.n_profiles, 1);
	p = &app.profiles[0];
	cr_assert_str_eq(p->type.v, "compose");
	cr_assert_str_eq(p->id.v, "docker-amd64");
	cr_assert_eq(p->n_architectures, 2);
	cr_assert_str_eq(p->architectures[0].v, "amd64");
	cr_assert_str_eq(p->architectures[1].v, "arm64");
	cr_assert_str_eq(p->components[0].repository.v,
			 "oci://localhost:5000/acme/compose/line-monitor");
	cr_assert_str_eq(p->components[0].revision.v, "0.3.1-rc.2");
	cr_assert_null(app.license_file.v);
}

Test(margo, check_path_takes_a_package_directory)
{
	char *file = NULL;

	cr_assert_eq(
	    margo_check_path(&probs, &file, MARGO_DIR "/helm-app", 0, &err), 0,
	    "%s", err.msg);
	cr_assert_str_eq(file, MARGO_DIR "/helm-app/margo.yaml");
	cr_assert_eq(probs.n_errors, 0);
	free(file);
}

Test(margo, check_path_reports_a_missing_file)
{
	char *file = NULL;

	cr_assert_eq(
	    margo_check_path(&probs, &file, MARGO_DIR "/nope.yaml", 0, &err),
	    ERR_NOT_FOUND);
	cr_assert_null(file);
	cr_assert(strstr(err.msg, "nope.yaml"), "%s", err.msg);
}

/* "# expect: LINE:COLUMN error|warning WORDS..." on the first line. */
static void check_bad(const char *name)
{
	char path[512], sev[16], words[256], *save = NULL, *w;
	unsigned line, col;
	const struct margo_problem *q;

	snprintf(path, sizeof(path), "%s/bad/%s", MARGO_DIR, name);
	load(path, MARGO_DIR "/bad");
	cr_assert_eq(sscanf(text, "# expect: %u:%u %15s %255[^\n]", &line, &col,
			    sev, words),
		     4, "%s: no expect line", name);
	for (size_t i = 0; i < probs.n; i++)
		cr_log_info("%s:%zu:%zu: %s: %s", name, probs.v[i].line,
			    probs.v[i].column,
			    margo_severity_name(probs.v[i].severity),
			    probs.v[i].message);
	cr_assert_eq(probs.n, 1, "%s: %zu problems, want 1", name, probs.n);
	q = &probs.v[0];
	cr_expect_eq(q->line, line, "%s: line %zu, want %u", name, q->line,
		     line);
	cr_expect_eq(q->column, col, "%s: column %zu, want %u", name, q->column,
		     col);
	cr_expect_str_eq(margo_severity_name(q->severity), sev, "%s", name);
	cr_expect_eq(!strcmp(sev, "error") ? probs.n_errors : probs.n_warnings,
		     1);
	for (w = strtok_r(words, " ", &save); w; w = strtok_r(NULL, " ", &save))
		cr_expect(strstr(q->message, w), "%s: \"%s\" lacks \"%s\"",
			  name, q->message, w);
}

Test(margo, each_bad_description_reports_its_line_column_and_rule)
{
	DIR *d = opendir(MARGO_DIR "/bad");
	struct dirent *e;
	size_t n = 0;

	cr_assert_not_null(d);
	while ((e = readdir(d))) {
		size_t l = strlen(e->d_name);

		if (l < 5 || strcmp(e->d_name + l - 5, ".yaml"))
			continue;
		check_bad(e->d_name);
		fini();
		init();
		n++;
	}
	closedir(d);
	cr_assert_geq(n, 30);
}

Test(margo, resource_files_are_checked_only_with_a_directory)
{
	load(MARGO_DIR "/bad/resource-missing.yaml", NULL);
	cr_assert_eq(probs.n, 0);
}

Test(margo, input_over_the_cap_is_refused)
{
	size_t n = MARGO_INPUT_MAX + 1;
	char *big = malloc(n);

	cr_assert_not_null(big);
	memset(big, '#', n);
	cr_assert_eq(margo_app_parse(&app, &probs, big, n, &err),
		     ERR_TOO_LARGE);
	cr_assert(strstr(err.msg, "larger than"), "%s", err.msg);
	free(big);
}

Test(margo, alias_bomb_stops_at_the_node_budget)
{
	size_t cap = 64 * 1024, off;
	char *y = malloc(cap);
	int found = 0;

	cr_assert_not_null(y);
	off = (size_t)snprintf(y, cap,
			       "c: &c {name: web, properties: {repository: "
			       "oci://r.example.com/a, revision: 1.0.0}}\n"
			       "p: &p {type: helm, id: x, components: [*c");
	for (int i = 0; i < 400; i++)
		off += (size_t)snprintf(y + off, cap - off, ", *c");
	off +=
	    (size_t)snprintf(y + off, cap - off, "]}\ndeploymentProfiles: [*p");
	for (int i = 0; i < 400; i++)
		off += (size_t)snprintf(y + off, cap - off, ", *p");
	snprintf(y + off, cap - off, "]\n");
	load_str(y);
	for (size_t i = 0; i < probs.n; i++)
		if (strstr(probs.v[i].message, "more than"))
			found++;
	cr_assert_eq(found, 1);
	cr_assert_eq(app.incomplete, 1);
	cr_assert_lt(app.n_profiles, 400);
	free(y);
}

Test(margo, recursive_alias_does_not_loop)
{
	load_str("deploymentProfiles: &p [*p, {components: *p}]\n"
		 "parameters: &q {a: *q}\n");
	cr_assert_geq(probs.n_errors, 1);
}

Test(margo, second_document_is_an_error)
{
	load_str("apiVersion: x\n---\nkind: y\n");
	cr_assert_geq(probs.n_errors, 1);
	cr_assert_eq(probs.v[0].line, 3);
	cr_assert(strstr(probs.v[0].message, "second YAML document"));
}
