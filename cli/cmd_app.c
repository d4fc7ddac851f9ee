/* ocimirror app SUBCOMMAND: Margo application packages.
 *
 *   app validate [--json] [--strict] PATH
 *                                PATH a margo.yaml or a package directory;
 *                                --strict: the newest Margo model alone
 *   app push DIR REF             build the package artifact and push it
 *   app pull REF [--arch A,B] [--profile-type T]
 *                                the package and everything it references
 *   app list | app show REF      the packages in the store
 *   app match, app device        devices (cli/cmd_app_device.c)
 *   app deploy REF --profile ID --device-id ID ... -o FILE
 *                                an ApplicationDeployment (cmd_app_deploy.c)
 *
 * validate prints each problem as FILE:LINE:COLUMN: error|warning: message
 * and a summary; exit 1 when there is an error, 0 with warnings only. */
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/cmd_app_device.h"
#include "cli/parse.h"
#include "mirror/margo/description.h"
#include "mirror/margo/catalog.h"
#include "mirror/margo/app_pull.h"
#include "mirror/margo/package.h"
#include "mirror/sync/syncconf.h"
#include "registry/pool.h"

static int app_validate(int argc, char **argv, struct cli *cli)
{
	static const struct option opts[] = {
	    {"json", no_argument, NULL, 'j'},
	    {"strict", no_argument, NULL, 's'},
	    {NULL, 0, NULL, 0},
	};
	static const char usage[] =
	    "usage: ocimirror app validate [--json] [--strict] PATH";
	struct margo_problems probs;
	struct err err;
	char *file = NULL;
	unsigned flags = 0;
	int c, json = cli->json, rc;

	while ((c = getopt_long(argc, argv, ":", opts, NULL)) != -1) {
		switch (c) {
		case 'j': json = 1; break;
		case 's': flags |= MARGO_STRICT; break;
		default:
			return cli_bad_option(cli, "app validate", c, argv,
					      opts);
		}
	}
	if (optind != argc - 1)
		return cli_usage(cli, "%s", usage);
	err_clear(&err);
	margo_problems_init(&probs);
	if (margo_check_path(&probs, &file, argv[optind], flags, &err)) {
		margo_problems_release(&probs);
		return cli_fail(cli, &err);
	}
	for (size_t i = 0; i < probs.n; i++) {
		const struct margo_problem *q = &probs.v[i];

		if (json)
			cli_json_event(json_pack(
			    "{s:s,s:s,s:I,s:I,s:s,s:s}", "event", "problem",
			    "file", file, "line", (json_int_t)q->line, "column",
			    (json_int_t)q->column, "severity",
			    margo_severity_name(q->severity), "message",
			    q->message));
		else
			printf("%s:%zu:%zu: %s: %s\n", file, q->line, q->column,
			       margo_severity_name(q->severity), q->message);
	}
	if (json)
		cli_json_event(json_pack("{s:s,s:s,s:b,s:I,s:I}", "event",
					 "summary", "file", file, "valid",
					 probs.n_errors == 0, "errors",
					 (json_int_t)probs.n_errors, "warnings",
					 (json_int_t)probs.n_warnings));
	else
		printf("%s: %s: %zu error%s, %zu warning%s\n", file,
		       probs.n_errors ? "invalid" : "valid", probs.n_errors,
		       probs.n_errors == 1 ? "" : "s", probs.n_warnings,
		       probs.n_warnings == 1 ? "" : "s");
	rc = cli_exit_code(0, probs.n_errors);
	free(file);
	margo_problems_release(&probs);
	return rc;
}

/* app push DIR REF: validate the package, build the artifact, push it to
 * a registry, or into the store with REF written "store:REPO[:TAG]". */
static int app_push(int argc, char **argv, struct cli *cli)
{
	struct margo_problems probs;
	struct margo_push_result res;
	struct margo_push_target to;
	struct reg_pool pool;
	struct store st;
	struct err err;
	char *file = NULL, *text = NULL;
	size_t len = 0;
	int rc;

	if ((rc = cli_no_options(cli, "app push", &argc, argv)))
		return rc;
	if (argc != 3)
		return cli_usage(cli, "usage: ocimirror app push DIR REF (REF "
				      "may be store:REPO[:TAG])");
	err_clear(&err);
	if (margo_push_target_parse(&to, argv[2], &err))
		return cli_usage(cli, "app push: %s", err.msg);
	margo_problems_init(&probs);
	/* what is pushed is the margo.yaml read and validated here */
	rc =
	    margo_check_path_read(&probs, &file, &text, &len, argv[1], 0, &err);
	if (!rc && probs.n_errors) {
		for (size_t i = 0; i < probs.n; i++)
			if (probs.v[i].severity == MARGO_ERROR)
				fprintf(stderr, "%s:%zu:%zu: error: %s\n", file,
					probs.v[i].line, probs.v[i].column,
					probs.v[i].message);
		rc = err_set(&err, ERR_INVALID,
			     "app push: %s has %zu errors; nothing pushed",
			     file, probs.n_errors);
	}
	free(file);
	margo_problems_release(&probs);
	if (rc) {
		free(text);
		return cli_fail(cli, &err);
	}
	if (to.to_store) {
		rc = cli_store_open(cli, &st, 1, 0, &err);
		if (!rc) {
			rc = margo_package_push(&res, &st, NULL, argv[1], text,
						len, &to.ref, to.repo, &err);
			store_close(&st);
		}
	} else {
		reg_pool_init(&pool, &cli->reg);
		rc = margo_package_push(&res, NULL, &pool, argv[1], text, len,
					&to.ref, NULL, &err);
		reg_pool_release(&pool);
	}
	free(text);
	if (rc)
		return cli_fail(cli, &err);
	if (strcmp(res.tag, res.version) && (strchr(res.version, '+') == NULL))
		fprintf(stderr,
			"warning: tag %s differs from metadata.version %s\n",
			res.tag, res.version);
	if (cli->json)
		cli_json_event(json_pack("{s:s,s:s,s:s,s:s,s:I}", "event",
					 "pushed", "repository", to.repo, "tag",
					 res.tag, "digest", res.digest.str,
					 "layers", (json_int_t)res.layers));
	else if (cli->verbosity >= 0)
		printf("%s:%s\t%s\t%zu layers\n", to.repo, res.tag,
		       res.digest.str, res.layers);
	return EXIT_OK;
}

/* app list: the catalog of application packages in the store. */
static int app_list(int argc, char **argv, struct cli *cli)
{
	struct store st;
	struct err err;
	json_t *apps, *a;
	size_t i;
	int rc;

	if ((rc = cli_no_options(cli, "app list", &argc, argv)))
		return rc;
	if (argc != 1)
		return cli_usage(cli, "usage: ocimirror app list");
	err_clear(&err);
	rc = store_open(&st, cli->store_dir, 0, &err);
	if (rc == ERR_NOT_FOUND)
		return EXIT_OK; /* no store, no applications */
	apps = rc ? NULL : margo_catalog(&st, &err);
	store_close(&st);
	if (!apps)
		return cli_fail(cli, &err);
	for (i = 0; i < json_array_size(apps); i++) {
		json_t *vs, *ps;

		a = json_array_get(apps, i);
		if (cli->json) {
			cli_json_event(json_incref(a));
			continue;
		}
		printf("%s\t%s\t%s\t",
		       json_string_value(json_object_get(a, "repository")),
		       json_string_value(json_object_get(a, "id")) ?: "-",
		       json_string_value(json_object_get(a, "name")) ?: "-");
		vs = json_object_get(a, "versions");
		for (size_t k = 0; k < json_array_size(vs); k++)
			printf("%s%s", k ? "," : "",
			       json_string_value(json_array_get(vs, k)));
		printf("\t%s\t", json_string_value(json_array_get(
				     json_object_get(a, "organization"), 0))
				     ?: "-");
		ps = json_object_get(a, "profiles");
		for (size_t k = 0; k < json_array_size(ps); k++) {
			json_t *p = json_array_get(ps, k);
			json_t *archs = json_object_get(p, "architectures");

			printf("%s%s", k ? " " : "",
			       json_string_value(json_object_get(p, "type"))
				   ?: "?");
			for (size_t q = 0; q < json_array_size(archs); q++)
				printf("%s%s", q ? "," : "/",
				       json_string_value(
					   json_array_get(archs, q)));
		}
		printf("\t%s\n",
		       json_string_value(json_object_get(a, "tagline")) ?: "");
	}
	json_decref(apps);
	return EXIT_OK;
}

static const char *sv(const struct margo_str *s)
{
	return s->v ? s->v : "-";
}

/* app show REF: one package's description, for a person. REF is
 * [store:]REPO[:TAG] in the store; without a tag, the highest version. */
static int app_show(int argc, char **argv, struct cli *cli)
{
	struct margo_app app;
	struct store st;
	struct err err;
	json_t *entry = NULL;
	char repo[OCI_REPO_MAX], tag[OCI_TAG_MAX + 1] = "";
	int rc;

	if ((rc = cli_no_options(cli, "app show", &argc, argv)))
		return rc;
	if (argc != 2)
		return cli_usage(
		    cli, "usage: ocimirror app show [store:]REPO[:TAG]");
	err_clear(&err);
	if (margo_catalog_ref_parse(repo, tag, argv[1], &err))
		return cli_usage(cli, "app show: %s", err.msg);
	rc = store_open(&st, cli->store_dir, 0, &err);
	if (!rc)
		rc = margo_catalog_get(&app, &entry, &st, repo,
				       tag[0] ? tag : NULL, &err);
	store_close(&st);
	if (rc) {
		margo_app_release(&app);
		return cli_fail(cli, &err);
	}
	if (cli->json) {
		cli_json_event(entry);
		margo_app_release(&app);
		return EXIT_OK;
	}
	json_decref(entry);
	printf("%s (%s) %s\n", sv(&app.name), sv(&app.id), sv(&app.version));
	if (app.description.v)
		printf("  %s\n", app.description.v);
	if (app.tagline.v)
		printf("  tagline: %s\n", app.tagline.v);
	for (size_t i = 0; i < app.n_organizations; i++)
		printf("  organization: %s%s%s\n",
		       sv(&app.organizations[i].name),
		       app.organizations[i].site.v ? " " : "",
		       app.organizations[i].site.v ? app.organizations[i].site.v
						   : "");
	for (size_t i = 0; i < app.n_authors; i++)
		printf("  author: %s%s%s\n", sv(&app.authors[i].name),
		       app.authors[i].email.v ? " " : "",
		       app.authors[i].email.v ? app.authors[i].email.v : "");
	if (app.site.v)
		printf("  site: %s\n", app.site.v);
	printf("deployment profiles:\n");
	for (size_t i = 0; i < app.n_profiles; i++) {
		const struct margo_profile *p = &app.profiles[i];
		char archs[300];

		margo_profile_arch_format(archs, sizeof(archs), p);
		printf("  %s %s %s\n", sv(&p->type), sv(&p->id), archs);
		for (size_t k = 0; k < p->n_components; k++)
			printf("    %s: %s revision %s\n",
			       sv(&p->components[k].name),
			       sv(&p->components[k].repository),
			       sv(&p->components[k].revision));
	}
	if (app.n_parameters)
		printf("parameters:\n");
	for (size_t i = 0; i < app.n_parameters; i++) {
		const struct margo_parameter *q = &app.parameters[i];

		printf("  %s = %s", sv(&q->name), sv(&q->value));
		for (size_t k = 0; k < q->n_targets; k++)
			printf("%s%s", k ? ", " : " -> ",
			       sv(&q->targets[k].pointer));
		printf("\n");
	}
	if (app.n_sections)
		printf("configuration:\n");
	for (size_t i = 0; i < app.n_sections; i++) {
		const struct margo_section *sec = &app.sections[i];

		printf("  %s\n", sv(&sec->name));
		for (size_t k = 0; k < sec->n_settings; k++) {
			const struct margo_setting *t = &sec->settings[k];
			const char *type = "-";

			for (size_t q = 0; q < app.n_rules; q++)
				if (t->schema.v && app.rules[q].name.v &&
				    !strcmp(t->schema.v, app.rules[q].name.v))
					type = sv(&app.rules[q].data_type);
			printf("    %s: parameter %s, rule %s (%s)\n",
			       sv(&t->name), sv(&t->parameter), sv(&t->schema),
			       type);
		}
	}
	margo_app_release(&app);
	return EXIT_OK;
}

static void print_node(struct cli *cli, const struct margo_node *n)
{
	char h[32];

	if (cli->json) {
		json_t *j = json_pack(
		    "{s:s,s:s,s:i,s:s,s:s,s:s,s:I}", "event", "app-node",
		    "kind", margo_node_kind_name(n->kind), "depth", n->depth,
		    "name", n->name, "detail", n->detail, "state",
		    margo_node_state_name(n->state), "bytes",
		    (json_int_t)n->bytes);

		if (n->has_digest)
			json_object_set_new(j, "digest",
					    json_string(n->digest.str));
		if (n->err.msg[0])
			json_object_set_new(j, "message",
					    json_string(n->err.msg));
		cli_json_event(j);
		return;
	}
	if (cli->verbosity < 0 && n->state != MARGO_FAILED)
		return;
	printf("%*s%s", 2 * n->depth, "", n->name);
	if (n->detail[0])
		printf("  (%s)", n->detail);
	if (n->kind != MARGO_NODE_PROFILE || n->state == MARGO_SKIPPED)
		printf("  %s", margo_node_state_name(n->state));
	if (n->err.msg[0])
		printf(": %s", n->err.msg);
	if (n->has_digest && n->state != MARGO_FAILED)
		printf("  %s", n->digest.str);
	if (n->bytes) {
		cli_human_bytes(h, sizeof(h), (double)n->bytes);
		printf("  %s", h);
	}
	printf("\n");
}

/* app pull REF [--arch A,B] [--profile-type T]: the package and all it
 * references, for the selected architectures and profile type. */
static int app_pull(int argc, char **argv, struct cli *cli)
{
	static const struct option opts[] = {
	    {"arch", required_argument, NULL, 'a'},
	    {"profile-type", required_argument, NULL, 't'},
	    {"no-referrers", no_argument, NULL, 'R'},
	    {"concurrency", required_argument, NULL, 'c'},
	    {"config", required_argument, NULL, 'f'},
	    {NULL, 0, NULL, 0},
	};
	static const char usage[] =
	    "usage: ocimirror app pull REF [--arch ARCH,...] [--profile-type "
	    "helm|compose|TYPE] [--no-referrers] [--concurrency N] [--config "
	    "FILE]";
	struct sync_config cfg;
	struct syncconf_hosts hosts;
	const char *file = NULL;
	struct margo_pull_options mo;
	struct margo_pull_report rep;
	struct oci_ref ref;
	struct reg_pool pool;
	struct store st;
	struct err err;
	char *arch_copy = NULL, *arch[MARGO_ARCH_MAX];
	struct margo_pull_counts counts;
	int c, rc;

	memset(&mo, 0, sizeof(mo));
	mo.referrers = 1;
	mo.concurrency = CLI_CONCURRENCY_DEFAULT;
	while ((c = getopt_long(argc, argv, ":", opts, NULL)) != -1) {
		switch (c) {
		case 'a':
			free(arch_copy);
			arch_copy = strdup(optarg);
			if (!arch_copy)
				err_set(&err, ERR_FAIL, "out of memory");
			if (!arch_copy ||
			    margo_arch_list_parse(arch, &mo.n_arch, arch_copy,
						  &err)) {
				free(arch_copy);
				return cli_usage(cli, "app pull: --arch: %s",
						 err.msg);
			}
			break;
		case 't': mo.profile_type = optarg; break;
		case 'R': mo.referrers = 0; break;
		case 'f': file = optarg; break;
		case 'c':
			if (cli_parse_concurrency(&mo.concurrency, optarg,
						  &err)) {
				free(arch_copy);
				return cli_usage(cli, "app pull: %s", err.msg);
			}
			break;
		default:
			free(arch_copy);
			return cli_bad_option(cli, "app pull", c, argv, opts);
		}
	}
	mo.arch = mo.n_arch ? arch : NULL;
	err_clear(&err);
	if (optind != argc - 1) {
		free(arch_copy);
		return cli_usage(cli, "%s", usage);
	}
	/* no tag: the highest version upstream (a package has no latest) */
	if (oci_ref_parse_repo(&ref, argv[optind], NULL) &&
	    oci_ref_parse(&ref, argv[optind], &err)) {
		free(arch_copy);
		return cli_usage(cli, "app pull: %s", err.msg);
	}
	memset(&cfg, 0, sizeof(cfg));
	memset(&hosts, 0, sizeof(hosts));
	if (file && (rc = cli_load_hosts(cli, file, &cfg, &hosts))) {
		free(arch_copy);
		return rc;
	}
	if (cli_store_open(cli, &st, 1, 1, &err)) {
		syncconf_hosts_release(&hosts);
		syncconf_release(&cfg);
		free(arch_copy);
		return cli_fail(cli, &err);
	}
	mo.progress = cli_progress;
	mo.ctx = cli;
	reg_pool_init(&pool, &cli->reg);
	if (hosts.n)
		reg_pool_set_hosts(&pool, hosts.hosts, hosts.n);
	rc = margo_app_pull(&rep, &st, &pool, &ref, &mo, &err);
	reg_pool_release(&pool);
	syncconf_hosts_release(&hosts);
	syncconf_release(&cfg);
	store_close(&st);
	cli_progress_end(cli);
	for (size_t i = 0; i < rep.n; i++)
		print_node(cli, &rep.v[i]);
	margo_pull_report_count(&counts, &rep);
	if (cli->json) {
		cli_json_event(
		    json_pack("{s:s,s:s,s:I,s:I,s:I,s:I,s:I}", "event",
			      "summary", "result", rep.failed ? "failed" : "ok",
			      "stored", (json_int_t)counts.stored, "unchanged",
			      (json_int_t)counts.unchanged, "skipped",
			      (json_int_t)counts.skipped, "failed",
			      (json_int_t)counts.failed, "bytesFetched",
			      (json_int_t)rep.bytes));
	} else if (cli->verbosity >= 0) {
		char h[32];

		cli_human_bytes(h, sizeof(h), (double)rep.bytes);
		printf("%zu stored, %zu unchanged, %zu failed; %s fetched\n",
		       counts.stored, counts.unchanged, counts.failed, h);
	}
	if (rc && !rep.failed) /* the report itself is incomplete */
		fprintf(stderr, "ocimirror: app pull: %s\n", err.msg);
	margo_pull_report_release(&rep);
	free(arch_copy);
	return cli_exit_code(rc, 0);
}

static const struct {
	const char *name;
	cmd_fn fn;
} subcommands[] = {
    {"show", app_show},	  {"list", app_list},	  {"validate", app_validate},
    {"push", app_push},	  {"pull", app_pull},	  {"deploy", cmd_app_deploy},
    {"match", app_match}, {"device", app_device},
};

int cmd_app(int argc, char **argv, struct cli *cli)
{
	if (argc < 2)
		return cli_usage(cli, "usage: ocimirror app validate [--json] "
				      "[--strict] PATH");
	if (argv[1][0] == '-' && strcmp(argv[1], "-") &&
	    strcmp(argv[1], "--")) {
		int n = 2;

		return cli_no_options(cli, "app", &n, argv);
	}
	for (size_t i = 0; i < sizeof(subcommands) / sizeof(subcommands[0]);
	     i++) {
		if (!strcmp(argv[1], subcommands[i].name)) {
			optind = 0;
			return subcommands[i].fn(argc - 1, argv + 1, cli);
		}
	}
	return cli_usage(cli, "app: unknown subcommand \"%s\" (try validate)",
			 argv[1]);
}
