#include <getopt.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "mirror/sync/syncconf.h"

int cli_exit_code(int err_code, size_t failed)
{
	if (err_code == ERR_CONFLICT)
		return EXIT_LOCKED;
	return err_code || failed ? EXIT_FAILED : EXIT_OK;
}

static void print_error(struct cli *cli, const struct err *e)
{
	if (cli->json)
		cli_json_event(json_pack("{s:s,s:s,s:s}", "event", "error",
					 "code", err_code_name(e->code),
					 "message", e->msg));
	fprintf(stderr, "ocimirror: %s\n", e->msg);
}

int cli_fail(struct cli *cli, const struct err *e)
{
	print_error(cli, e);
	return cli_exit_code(e->code, 0);
}

int cli_config_fail(struct cli *cli, const struct err *e)
{
	print_error(cli, e);
	return EXIT_USAGE;
}

int cli_usage(struct cli *cli, const char *fmt, ...)
{
	va_list ap;

	(void)cli;
	fputs("ocimirror: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputs("\n", stderr);
	return EXIT_USAGE;
}

int cli_bad_option(struct cli *cli, const char *cmd, int ch, char **argv,
		   const struct option *opts)
{
	char msg[160];

	cli_option_error(msg, sizeof(msg), ch, optind, optopt, argv, opts);
	return cli_usage(cli, "%s: %s", cmd, msg);
}

int cli_no_options(struct cli *cli, const char *cmd, int *argc, char **argv)
{
	int i = cli_operands(argc, argv);
	char shown[64];

	if (!i)
		return 0;
	err_shown(shown, sizeof(shown), argv[i], strcspn(argv[i], "="));
	return cli_usage(cli, "%s: unknown option %s", cmd, shown);
}

int cli_store_open(struct cli *cli, struct store *s, int create, int lock,
		   struct err *err)
{
	int rc = store_open(s, cli->store_dir, create, err);

	if (!rc && lock) {
		rc = store_lock(s, 0, err);
		if (rc)
			store_close(s);
	}
	return rc;
}

long long cli_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int cli_result_listed(struct cli *cli, size_t *failed, int result,
		      const char *msg)
{
	if (result) {
		(*failed)++;
		if (!cli->json)
			fprintf(stderr, "ocimirror: %s\n", msg);
		return 0;
	}
	return !cli->json && cli->verbosity >= 0;
}

void cli_human_bytes(char *dst, size_t cap, double b)
{
	static const char *units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
	int u = 0;

	while (b >= 1024 && u < 4) {
		b /= 1024;
		u++;
	}
	snprintf(dst, cap, u ? "%.1f %s" : "%.0f %s", b, units[u]);
}

void cli_progress(void *ctx, const struct reg_transfer_progress *p)
{
	struct cli *cli = ctx;
	char done[32], total[32], rate[32], eta[32] = "";
	char tags[48] = "", mfs[32] = "";
	double secs;
	long long now = cli_now_ms();

	if (!cli->tty || cli->json || cli->verbosity < 0)
		return;
	if (!cli->progress_started_ms)
		cli->progress_started_ms = now;
	secs = (double)(now - cli->progress_started_ms) / 1000.0;
	cli_human_bytes(done, sizeof(done), (double)p->bytes_done);
	cli_human_bytes(total, sizeof(total), (double)p->bytes_total);
	cli_human_bytes(rate, sizeof(rate),
			secs > 0 ? p->bytes_done / secs : 0);
	if (secs > 0.5 && p->bytes_done && p->bytes_total > p->bytes_done)
		snprintf(eta, sizeof(eta), " ETA %.0fs",
			 (double)(p->bytes_total - p->bytes_done) /
			     (p->bytes_done / secs));
	if (p->tags_total)
		snprintf(tags, sizeof(tags), "tags %zu/%zu  ", p->tags_checked,
			 p->tags_total);
	if (p->manifests)
		snprintf(mfs, sizeof(mfs), "manifests %zu  ", p->manifests);
	fprintf(stderr,
		"\r\033[K%s%s%s / %s  %s/s%s  blobs %zu/%zu  %zu in flight",
		tags, mfs, done, total, rate, eta, p->jobs_done, p->jobs_total,
		p->in_flight);
	cli->progress_shown = 1;
}

void cli_progress_end(struct cli *cli)
{
	if (cli->progress_shown)
		fputs("\r\033[K", stderr);
	cli->progress_shown = 0;
	cli->progress_started_ms = 0;
}

void cli_json_event(json_t *j)
{
	if (!j)
		return;
	json_dumpf(j, stdout, JSON_COMPACT | JSON_SORT_KEYS);
	fputc('\n', stdout);
	fflush(stdout);
	json_decref(j);
}

static int docker_hub(const char *h)
{
	return !strcasecmp(h, "docker.io") ||
	       !strcasecmp(h, "registry-1.docker.io") ||
	       !strcasecmp(h, "index.docker.io");
}

const char *cli_via(const char *endpoint, const char *host)
{
	if (!endpoint || !endpoint[0] || !host || !strcasecmp(endpoint, host) ||
	    (docker_hub(endpoint) && docker_hub(host)))
		return NULL;
	return endpoint;
}

int cli_load_hosts(struct cli *cli, const char *file, struct sync_config *cfg,
		   struct syncconf_hosts *hosts)
{
	struct err err;

	memset(hosts, 0, sizeof(*hosts));
	err_clear(&err);
	/* the whole file is checked before any network traffic */
	if (syncconf_load_registries(cfg, file, &err) ||
	    syncconf_check_files(cfg, &err)) {
		syncconf_release(cfg);
		return cli_config_fail(cli, &err);
	}
	if (syncconf_hosts_build(hosts, cfg, &err)) {
		syncconf_release(cfg);
		return cli_fail(cli, &err);
	}
	return 0;
}
