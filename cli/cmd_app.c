/* ocimirror app SUBCOMMAND: Margo application packages.
 *
 *   app validate [--json] PATH   PATH a margo.yaml or a package directory
 *
 * validate prints each problem as FILE:LINE:COLUMN: error|warning: message
 * and a summary; exit 1 when there is an error, 0 with warnings only. */
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "mirror/margo.h"

static int app_validate(int argc, char **argv, struct cli *cli)
{
	static const struct option opts[] = {
	    {"json", no_argument, NULL, 'j'},
	    {NULL, 0, NULL, 0},
	};
	struct margo_problems probs;
	struct err err;
	char *file = NULL;
	int c, json = cli->json, rc;

	while ((c = getopt_long(argc, argv, "+", opts, NULL)) != -1) {
		switch (c) {
		case 'j': json = 1; break;
		default:
			return cli_usage(cli, "usage: ocimirror app validate "
					      "[--json] PATH");
		}
	}
	if (optind != argc - 1)
		return cli_usage(cli,
				 "usage: ocimirror app validate [--json] PATH");
	err_clear(&err);
	margo_problems_init(&probs);
	if (margo_check_path(&probs, &file, argv[optind], &err)) {
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
	rc = probs.n_errors ? EXIT_FAILED : EXIT_OK;
	free(file);
	margo_problems_release(&probs);
	return rc;
}

static const struct {
	const char *name;
	cmd_fn fn;
} subcommands[] = {
    {"validate", app_validate},
};

static const char *const planned[] = {"push", "pull", "list", "show"};

int cmd_app(int argc, char **argv, struct cli *cli)
{
	if (argc < 2)
		return cli_usage(cli, "usage: ocimirror app validate [--json] "
				      "PATH");
	for (size_t i = 0; i < sizeof(subcommands) / sizeof(subcommands[0]);
	     i++) {
		if (!strcmp(argv[1], subcommands[i].name)) {
			optind = 0;
			return subcommands[i].fn(argc - 1, argv + 1, cli);
		}
	}
	for (size_t i = 0; i < sizeof(planned) / sizeof(planned[0]); i++)
		if (!strcmp(argv[1], planned[i]))
			return cli_usage(cli, "app %s: not built yet",
					 planned[i]);
	return cli_usage(cli, "app: unknown subcommand \"%s\" (try validate)",
			 argv[1]);
}
