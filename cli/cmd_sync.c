/* ocimirror sync -c FILE [--dry-run] [--wait]: mirror what FILE declares.
 * A run that took the store lock and is not a dry run is recorded in the
 * store (mirror/store/syncstatus.h) for serve's /ocimirror/v1/sync and
 * /metrics. */
#include <getopt.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/cli.h"
#include "mirror/sync/sync.h"

/* The mirror that served t, when not its source's own registry. */
static const char *source_via(const struct sync_tag_result *t)
{
	struct oci_ref ref;

	if (!t->endpoint[0] || (oci_ref_parse_repo(&ref, t->source, NULL) &&
				oci_ref_parse(&ref, t->source, NULL)))
		return NULL;
	return cli_via(t->endpoint, ref.host);
}

static void print_human(struct cli *cli, const struct sync_report *r,
			int dry_run, double secs)
{
	size_t count[5] = {0};
	char h[32];

	for (size_t i = 0; i < r->n; i++) {
		const struct sync_tag_result *t = &r->tags[i];
		const char *via;
		char b[32];

		count[t->action]++;
		if (cli->verbosity < 0 ||
		    (t->action == SYNC_UNCHANGED && cli->verbosity < 1))
			continue;
		if (t->action == SYNC_FAILED) {
			fprintf(stderr, "failed     %s%s%s: %s\n",
				t->repo[0] ? t->repo : t->source,
				t->tag[0] ? ":" : "", t->tag, t->err.msg);
			continue;
		}
		cli_human_bytes(b, sizeof(b), (double)t->bytes);
		via = source_via(t);
		printf("%-10s %s%s%s  %.19s  %s%s%s%s\n",
		       sync_action_name(t->action), t->repo,
		       t->tag[0] ? ":" : "", t->tag, t->digest.str, b,
		       via ? " (via " : "", via ? via : "", via ? ")" : "");
	}
	cli_human_bytes(h, sizeof(h), (double)r->bytes);
	if (cli->verbosity >= 0)
		printf("sync%s: %zu added, %zu updated, %zu pruned, %zu "
		       "unchanged, %zu failed; %s %s in %.1f s\n",
		       dry_run ? " (dry run)" : "", count[SYNC_ADDED],
		       count[SYNC_UPDATED], count[SYNC_PRUNED],
		       count[SYNC_UNCHANGED], count[SYNC_FAILED],
		       dry_run ? "would fetch" : "fetched", h, secs);
}

static void print_json(const struct sync_report *r, int dry_run, double secs)
{
	size_t count[5] = {0};

	for (size_t i = 0; i < r->n; i++) {
		const struct sync_tag_result *t = &r->tags[i];
		json_t *j = json_pack(
		    "{s:s,s:s,s:s,s:s,s:s,s:I,s:I}", "event", "tag", "source",
		    t->source, "repository", t->repo, "tag", t->tag, "action",
		    sync_action_name(t->action), "bytes", (json_int_t)t->bytes,
		    "blobs", (json_int_t)t->blobs);
		count[t->action]++;
		if (t->digest.str[0])
			json_object_set_new(j, "digest",
					    json_string(t->digest.str));
		if (t->endpoint[0])
			json_object_set_new(j, "endpoint",
					    json_string(t->endpoint));
		if (t->action == SYNC_FAILED)
			json_object_set_new(j, "error",
					    json_string(t->err.msg));
		cli_json_event(j);
	}
	cli_json_event(
	    json_pack("{s:s,s:s,s:b,s:I,s:I,s:I,s:I,s:I,s:I,s:f}", "event",
		      "summary", "result", r->failed ? "failed" : "ok",
		      "dryRun", dry_run, "added", (json_int_t)count[SYNC_ADDED],
		      "updated", (json_int_t)count[SYNC_UPDATED], "pruned",
		      (json_int_t)count[SYNC_PRUNED], "unchanged",
		      (json_int_t)count[SYNC_UNCHANGED], "failed",
		      (json_int_t)count[SYNC_FAILED], "bytesFetched",
		      (json_int_t)r->bytes, "seconds", secs));
}

/* The run's record; 0 or the store's error in *rec_err. */
static int record_run(struct err *rec_err, struct store *st,
		      const struct sync_report *rep, int rc,
		      const struct err *err, int64_t started)
{
	struct store_sync_run *run = malloc(sizeof(*run));
	int rec_rc;

	err_clear(rec_err);
	if (!run)
		return err_set(rec_err, ERR_FAIL,
			       "record the sync run: out of memory");
	sync_report_summarize(run, rep, rc, err);
	run->started = started;
	run->finished = (int64_t)time(NULL);
	rec_rc = store_sync_status_put(st, run, rec_err);
	free(run);
	return rec_rc;
}

int cmd_sync(int argc, char **argv, struct cli *cli)
{
	static const struct option opts[] = {
	    {"config", required_argument, NULL, 'c'},
	    {"dry-run", no_argument, NULL, 'n'},
	    {"wait", no_argument, NULL, 'w'},
	    {NULL, 0, NULL, 0},
	};
	static const char *usage =
	    "usage: ocimirror sync -c FILE [--dry-run] [--wait]";
	const char *file = NULL;
	int ch, dry_run = 0, wait = 0, rc;
	struct sync_config cfg;
	struct sync_report rep;
	struct sync_options so;
	struct store st;
	struct err err;
	long long t0 = cli_now_ms();
	int64_t started;
	struct err rec_err;
	int rec_rc = 0;

	err_clear(&err);
	while ((ch = getopt_long(argc, argv, ":c:", opts, NULL)) != -1) {
		switch (ch) {
		case 'c': file = optarg; break;
		case 'n': dry_run = 1; break;
		case 'w': wait = 1; break;
		default: return cli_bad_option(cli, "sync", ch, argv, opts);
		}
	}
	if (!file || optind != argc)
		return cli_usage(cli, "%s", usage);
	/* the whole file is checked before any network traffic */
	if (syncconf_load(&cfg, file, &err))
		return cli_config_fail(cli, &err);
	if (syncconf_check_files(&cfg, &err)) {
		syncconf_release(&cfg);
		return cli_config_fail(cli, &err);
	}
	rc = store_open(&st, cli->store_dir, 1, &err);
	if (!rc)
		rc = store_lock(&st, wait, &err);
	if (rc) {
		store_close(&st); /* safe on a store that failed to open */
		syncconf_release(&cfg);
		return cli_fail(cli, &err);
	}
	memset(&so, 0, sizeof(so));
	so.dry_run = dry_run;
	so.progress = cli_progress;
	so.ctx = cli;
	started = (int64_t)time(NULL);
	rc = sync_run(&rep, &st, &cfg, &cli->reg, &so, &err);
	cli_progress_end(cli);
	if (!dry_run)
		rec_rc = record_run(&rec_err, &st, &rep, rc, &err, started);
	if (cli->json)
		print_json(&rep, dry_run, (double)(cli_now_ms() - t0) / 1000.0);
	else
		print_human(cli, &rep, dry_run,
			    (double)(cli_now_ms() - t0) / 1000.0);
	/* failed lines were printed; a run that stopped short says why */
	rc = rc && !rep.failed ? cli_fail(cli, &err)
			       : cli_exit_code(0, rep.failed);
	/* an unrecorded run is blind to monitoring: say so, and fail */
	if (rec_rc) {
		int rec_exit = cli_fail(cli, &rec_err);

		rc = rc ? rc : rec_exit;
	}
	sync_report_release(&rep);
	store_close(&st);
	syncconf_release(&cfg);
	return rc;
}
