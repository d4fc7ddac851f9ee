/* Shared state of the ocimirror command: global options, output helpers,
 * and the single place where errors become exit codes. */
#ifndef CLI_CLI_H
#define CLI_CLI_H

#include <stdio.h>

#include "cli/parse.h"
#include "mirror/store/store.h"
#include "oci/err.h"
#include "registry/client.h"
#include "registry/transfer.h"

enum exit_code {
	EXIT_OK = 0,
	EXIT_FAILED = 1, /* something failed, the rest was done */
	EXIT_USAGE = 2,	 /* usage or configuration error */
	EXIT_LOCKED = 3, /* another writer holds the store lock */
};

struct cli {
	const char *store_dir;
	int json;
	int verbosity; /* -1 quiet, 0 normal, 1 verbose */
	int tty;       /* stderr is a terminal: show progress */
	struct reg_options reg;
	/* progress state */
	long long progress_started_ms;
	int progress_shown;
};

typedef int (*cmd_fn)(int argc, char **argv, struct cli *cli);

int cmd_pull(int argc, char **argv, struct cli *cli);
int cmd_inspect(int argc, char **argv, struct cli *cli);
int cmd_tags(int argc, char **argv, struct cli *cli);
int cmd_ls(int argc, char **argv, struct cli *cli);
int cmd_login(int argc, char **argv, struct cli *cli);
int cmd_logout(int argc, char **argv, struct cli *cli);
int cmd_serve(int argc, char **argv, struct cli *cli);
int cmd_sync(int argc, char **argv, struct cli *cli);
int cmd_export(int argc, char **argv, struct cli *cli);
int cmd_import(int argc, char **argv, struct cli *cli);
int cmd_inventory(int argc, char **argv, struct cli *cli);
int cmd_gc(int argc, char **argv, struct cli *cli);
int cmd_verify(int argc, char **argv, struct cli *cli);
int cmd_push(int argc, char **argv, struct cli *cli);
int cmd_app(int argc, char **argv, struct cli *cli);
/* app deploy (cmd_app_deploy.c) */
int cmd_app_deploy(int argc, char **argv, struct cli *cli);

/* The one mapping to the exit code contract (DESIGN.md): err_code is a
 * library result (0 or ERR_*), failed how many items failed while the rest
 * were done. ERR_CONFLICT (the store lock is held) is 3, any other error
 * or failed > 0 is 1, else 0. Usage errors are 2, through cli_usage and
 * cli_config_fail. Every command returns through these. */
int cli_exit_code(int err_code, size_t failed);
/* Print "ocimirror: <msg>" (and, with --json, an error event) and return
 * cli_exit_code(e->code, 0). */
int cli_fail(struct cli *cli, const struct err *e);
/* As cli_fail for a configuration that does not load: EXIT_USAGE. */
int cli_config_fail(struct cli *cli, const struct err *e);
/* Usage error: message and EXIT_USAGE. */
int cli_usage(struct cli *cli, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* The usage error for getopt_long's answer ch ('?' or ':'; every option
 * string starts with ":" or "+:", and main sets opterr to 0, so getopt
 * prints nothing itself), right after it returned, given the opts it was
 * given: "CMD: " and cli_option_error's message ("unknown option -x",
 * "option --config needs a value", "option --json takes no value").
 * EXIT_USAGE. */
int cli_bad_option(struct cli *cli, const char *cmd, int ch, char **argv,
		   const struct option *opts);
/* For the commands that take no options: cli_operands (a "--" removed
 * from argv, *argc one less; a lone "-" is an operand); an argument
 * before "--" that starts with '-' is "CMD: unknown option ARG"
 * (EXIT_USAGE); 0 when there is none. */
int cli_no_options(struct cli *cli, const char *cmd, int *argc, char **argv);

/* Open the store (creating it when create) and, when lock, take the
 * writer lock. */
int cli_store_open(struct cli *cli, struct store *s, int create, int lock,
		   struct err *err);

/* Progress line on a terminal; cleared by cli_progress_end. */
void cli_progress(void *ctx, const struct reg_transfer_progress *p);
void cli_progress_end(struct cli *cli);

/* Print one JSON object as a line on stdout, then free it. */
struct json_t;
void cli_json_event(struct json_t *j);

/* "12.3 MiB" */
void cli_human_bytes(char *dst, size_t cap, double bytes);

/* One result of a batch command (pull, push) in its stdout listing: a
 * failure (result nonzero) adds one to *failed and prints msg on stderr
 * unless in JSON mode (its event carried it). Returns 1 when the caller
 * prints the result's line (succeeded, not JSON, not quiet), else 0. */
int cli_result_listed(struct cli *cli, size_t *failed, int result,
		      const char *msg);
long long cli_now_ms(void);

/* The endpoint to name as " (via ENDPOINT)" after an image's line: the
 * endpoint that served it when it is known and is not host (the
 * reference's own registry; docker.io's registry-1.docker.io and
 * index.docker.io are docker.io), else NULL. */
const char *cli_via(const char *endpoint, const char *host);

/* --config FILE of pull and app pull: its registries (and defaults)
 * loaded into *cfg and their client settings into *hosts, for
 * reg_pool_set_hosts. 0, or the exit code (2 for a bad file) after the
 * message; both are left released then. */
struct sync_config;
struct syncconf_hosts;
int cli_load_hosts(struct cli *cli, const char *file, struct sync_config *cfg,
		   struct syncconf_hosts *hosts);

#endif
