/* ocimirror: the command table and global options. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <curl/curl.h>
#include <jansson.h>

#include "cli/cli.h"

#define VERSION "0.1.0"

static const struct {
	const char *name;
	cmd_fn fn;
	const char *summary;
} commands[] = {
    {"pull", cmd_pull,
     "pull REF... [--platform P,...|--all-platforms] [--referrers]"},
    {"inspect", cmd_inspect, "inspect REF [--raw] [--config] [--platform P]"},
    {"tags", cmd_tags, "tags REPO"},
    {"ls", cmd_ls, "ls [REPO]"},
    {"login", cmd_login, "login REGISTRY -u USER --password-stdin"},
    {"logout", cmd_logout, "logout REGISTRY"},
    {"sync", cmd_sync, "sync -c FILE [--dry-run] [--wait]"},
    {"export", cmd_export,
     "export -o FILE [REF...|--all] [--since INVENTORY] [--split SIZE] "
     "[--level N]"},
    {"import", cmd_import, "import FILE..."},
    {"inventory", cmd_inventory, "inventory -o FILE"},
    {"serve", cmd_serve,
     "serve [--listen ADDR] [--tls-cert F --tls-key F] [--htpasswd F] "
     "[--anonymous-read] [--push] [--delete] [--read-only] [--threads N] "
     "[--read-timeout SECONDS] [--max-conns-per-ip N] [--redirect]"},
    {"gc", cmd_gc, "gc [--dry-run] [--grace SECONDS]"},
    {"verify", cmd_verify, "verify"},
    {"push", cmd_push,
     "push STOREREF REMOTEREF | push --all --to HOST[/PREFIX] "
     "[--chunk-size BYTES]"},
    {"app", cmd_app,
     "app validate [--json] [--strict] PATH | app list | app show REF | "
     "app pull REF [--arch ARCH,...] | app push DIR REF | "
     "app deploy REF --profile ID --device-id ID [--set NAME=VALUE ...] "
     "[--values FILE] -o FILE | "
     "app match --device FILE|NAME [REF] | "
     "app device add FILE [--name N] | app device ls | app device rm NAME"},
};

static void usage(FILE *f)
{
	fprintf(f, "usage: ocimirror [--store DIR] [--json] [-q|-v] COMMAND "
		   "[options]\n\ncommands:\n");
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		fprintf(f, "  %s\n", commands[i].summary);
	fprintf(f, "\nThe store defaults to $OCIMIRROR_STORE, else "
		   "/var/lib/ocimirror as root,\n"
		   "else $XDG_DATA_HOME/ocimirror. Exit codes: 0 done, 1 "
		   "something failed,\n"
		   "2 usage error, 3 store locked by another writer.\n");
}

/* A usage error of the global options or the command name: one line
 * (before, the argument shown, after) and one hint line, not the whole
 * usage. */
static int usage_error(const char *before, const char *arg, size_t n,
		       const char *after)
{
	char shown[64];

	err_shown(shown, sizeof(shown), arg, n);
	fprintf(stderr, "ocimirror: %s%s%s\nTry 'ocimirror --help'.\n", before,
		shown, after);
	return EXIT_USAGE;
}

/* As cli_bad_option, for the global options. */
static int bad_global_option(int ch, char **argv, const struct option *opts)
{
	char msg[160];

	cli_option_error(msg, sizeof(msg), ch, optind, optopt, argv, opts);
	fprintf(stderr, "ocimirror: %s\nTry 'ocimirror --help'.\n", msg);
	return EXIT_USAGE;
}

/* The store directory: --store, else $OCIMIRROR_STORE, else the default.
 * An empty --store or $OCIMIRROR_STORE is refused (NULL, *empty names
 * it), never read as the current directory. */
static char *default_store(const char **empty)
{
	const char *v = getenv("OCIMIRROR_STORE");
	char *p = NULL;

	*empty = NULL;
	if (v && !*v) {
		*empty = "OCIMIRROR_STORE";
		return NULL;
	}
	if (v)
		return strdup(v);
	if (geteuid() == 0)
		return strdup("/var/lib/ocimirror");
	v = getenv("XDG_DATA_HOME");
	if (v && *v) {
		if (asprintf(&p, "%s/ocimirror", v) < 0)
			return NULL;
		return p;
	}
	v = getenv("HOME");
	if (asprintf(&p, "%s/.local/share/ocimirror", v ? v : ".") < 0)
		return NULL;
	return p;
}

static void reg_log(void *ctx, enum reg_log_level lvl, const char *msg)
{
	struct cli *cli = ctx;

	if (lvl == REG_LOG_DEBUG && cli->verbosity < 1)
		return;
	if (cli->verbosity < 0 && lvl != REG_LOG_WARN)
		return;
	if (cli->json) {
		cli_json_event(json_pack("{s:s,s:s,s:s}", "event", "log",
					 "level",
					 lvl == REG_LOG_WARN   ? "warning"
					 : lvl == REG_LOG_INFO ? "info"
							       : "debug",
					 "message", msg));
		return;
	}
	if (cli->progress_shown)
		fputs("\r\033[K", stderr);
	fprintf(stderr, "%s: %s\n", lvl == REG_LOG_WARN ? "warning" : "info",
		msg);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"store", required_argument, NULL, 's'},
	    {"json", no_argument, NULL, 'j'},
	    {"quiet", no_argument, NULL, 'q'},
	    {"verbose", no_argument, NULL, 'v'},
	    {"help", no_argument, NULL, 'h'},
	    {"version", no_argument, NULL, 'V'},
	    {NULL, 0, NULL, 0},
	};
	struct cli cli;
	char *store = NULL;
	int c, rc;

	memset(&cli, 0, sizeof(cli));
	/* stop at the first non-option: the command */
	opterr = 0; /* every command names a bad option itself */
	while ((c = getopt_long(argc, argv, "+:s:qvh", opts, NULL)) != -1) {
		switch (c) {
		case 's':
			if (!*optarg) {
				fputs("ocimirror: --store: empty path (a "
				      "store directory is needed)\n",
				      stderr);
				return EXIT_USAGE;
			}
			cli.store_dir = optarg;
			break;
		case 'j': cli.json = 1; break;
		case 'q': cli.verbosity = -1; break;
		case 'v': cli.verbosity = 1; break;
		case 'h': usage(stdout); return EXIT_OK;
		case 'V': printf("ocimirror %s\n", VERSION); return EXIT_OK;
		default: return bad_global_option(c, argv, opts);
		}
	}
	if (optind >= argc) {
		usage(stderr);
		return EXIT_USAGE;
	}
	if (!cli.store_dir) {
		const char *empty;

		store = default_store(&empty);
		if (empty) {
			fprintf(stderr,
				"ocimirror: %s is set but empty (a store "
				"directory is needed; unset it for the "
				"default)\n",
				empty);
			return EXIT_USAGE;
		}
		if (!store) {
			fputs("ocimirror: out of memory\n", stderr);
			return EXIT_FAILED;
		}
		cli.store_dir = store;
	}
	cli.tty = isatty(2);
	reg_options_init(&cli.reg);
	cli.reg.log = reg_log;
	cli.reg.log_ctx = &cli;
	srandom((unsigned)getpid() ^ (unsigned)cli_now_ms());
	curl_global_init(CURL_GLOBAL_DEFAULT);
	rc = -1;
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
		if (!strcmp(argv[optind], commands[i].name)) {
			char **sub = argv + optind;
			int subc = argc - optind;
			optind = 0; /* reset getopt for the subcommand */
			rc = commands[i].fn(subc, sub, &cli);
			break;
		}
	}
	if (rc < 0)
		rc = usage_error("unknown command \"", argv[optind],
				 strlen(argv[optind]), "\"");
	curl_global_cleanup();
	free(store);
	return rc;
}
