/* ocimirror gc [--dry-run] [--grace SECONDS]: remove what no tag reaches. */
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/parse.h"
#include "mirror/store/gc.h"

struct gc_cli {
	struct cli *cli;
	int dry_run;
};

static const char *kind_name(enum gc_item_kind k)
{
	switch (k) {
	case GC_ITEM_BLOB: return "blob";
	case GC_ITEM_MANIFEST: return "manifest";
	case GC_ITEM_BLOB_RECORD: return "blob-record";
	case GC_ITEM_REFERRER: return "referrer";
	case GC_ITEM_TMP: return "tmp";
	case GC_ITEM_LEFTOVER: return "leftover";
	}
	return "?";
}

static void on_removed(void *ctx, const struct gc_item *it)
{
	struct gc_cli *g = ctx;
	struct cli *cli = g->cli;
	char h[32];

	if (cli->json) {
		json_t *j = json_pack(
		    "{s:s,s:s,s:s,s:I,s:b}", "event", "removed", "kind",
		    kind_name(it->kind), "path", it->path, "size",
		    (json_int_t)it->size, "dryRun", g->dry_run);
		if (j && it->repo)
			json_object_set_new(j, "repository",
					    json_string(it->repo));
		if (j && it->digest)
			json_object_set_new(j, "digest",
					    json_string(it->digest));
		if (j && it->subject)
			json_object_set_new(j, "subject",
					    json_string(it->subject));
		cli_json_event(j);
		return;
	}
	if (cli->verbosity < 1)
		return;
	cli_human_bytes(h, sizeof(h), (double)it->size);
	switch (it->kind) {
	case GC_ITEM_BLOB:
	case GC_ITEM_TMP:
	case GC_ITEM_LEFTOVER:
		printf(
		    "%s %s %s (%s)\n", g->dry_run ? "would remove" : "removed",
		    kind_name(it->kind), it->digest ? it->digest : it->path, h);
		break;
	case GC_ITEM_REFERRER:
		printf("%s referrer %s@%s of %s\n",
		       g->dry_run ? "would remove" : "removed", it->repo,
		       it->digest, it->subject);
		break;
	default:
		printf("%s %s %s@%s\n", g->dry_run ? "would remove" : "removed",
		       kind_name(it->kind), it->repo, it->digest);
		break;
	}
}

static void on_warn(void *ctx, const char *msg)
{
	struct gc_cli *g = ctx;

	if (g->cli->json)
		cli_json_event(json_pack("{s:s,s:s,s:s}", "event", "log",
					 "level", "warning", "message", msg));
	else
		fprintf(stderr, "warning: %s\n", msg);
}

int cmd_gc(int argc, char **argv, struct cli *cli)
{
	static const struct option opts[] = {
	    {"dry-run", no_argument, NULL, 'n'},
	    {"grace", required_argument, NULL, 'g'},
	    {NULL, 0, NULL, 0},
	};
	struct gc_options o;
	struct gc_stats stats;
	struct gc_cli g = {cli, 0};
	struct store st;
	struct err err;
	char h[32];
	int c, rc;

	err_clear(&err);
	gc_options_init(&o);
	memset(&stats, 0, sizeof(stats));
	while ((c = getopt_long(argc, argv, ":n", opts, NULL)) != -1) {
		switch (c) {
		case 'n': o.dry_run = 1; break;
		case 'g':
			if (cli_parse_int(&o.grace_seconds, "--grace", optarg,
					  0, INT64_MAX, &err))
				return cli_usage(cli, "gc: %s", err.msg);
			break;
		default: return cli_bad_option(cli, "gc", c, argv, opts);
		}
	}
	if (optind < argc)
		return cli_usage(cli, "usage: ocimirror gc [--dry-run] "
				      "[--grace SECONDS]");
	g.dry_run = o.dry_run;
	o.removed = on_removed;
	o.warn = on_warn;
	o.ctx = &g;
	rc = cli_store_open(cli, &st, 0, 1, &err);
	if (rc == ERR_CONFLICT) {
		err_set(&err, ERR_CONFLICT,
			"gc: the store lock %s/lock is held by another writer "
			"(sync, pull, import or gc running)",
			cli->store_dir);
		return cli_fail(cli, &err);
	}
	if (rc && rc != ERR_NOT_FOUND) {
		err_wrap(&err, "gc: ");
		return cli_fail(cli, &err);
	}
	if (!rc) {
		rc = gc_run(&stats, &st, &o, &err);
		store_close(&st);
		if (rc) {
			err_wrap(&err, "gc: ");
			return cli_fail(cli, &err);
		}
	}
	if (cli->json) {
		json_t *j = json_pack(
		    "{s:s,s:s,s:b,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,"
		    "s:b}",
		    "event", "summary", "result",
		    stats.errors || stats.blob_sweep_skipped ? "failed" : "ok",
		    "dryRun", o.dry_run, "blobs", (json_int_t)stats.blobs,
		    "bytes", (json_int_t)stats.blob_bytes, "manifests",
		    (json_int_t)stats.manifests, "blobRecords",
		    (json_int_t)stats.blob_records, "referrers",
		    (json_int_t)stats.referrers, "tmpFiles",
		    (json_int_t)stats.tmp_files, "tmpBytes",
		    (json_int_t)stats.tmp_bytes, "blobsKept",
		    (json_int_t)stats.blobs_kept, "youngKept",
		    (json_int_t)stats.young_kept, "warnings",
		    (json_int_t)stats.warnings, "errors",
		    (json_int_t)stats.errors, "blobSweepSkipped",
		    stats.blob_sweep_skipped);

		/* only a backend that has them (S3) reports leftovers */
		if (j && stats.leftovers) {
			json_object_set_new(
			    j, "leftovers",
			    json_integer((json_int_t)stats.leftovers));
			json_object_set_new(
			    j, "leftoverBytes",
			    json_integer((json_int_t)stats.leftover_bytes));
		}
		cli_json_event(j);
	} else if (cli->verbosity >= 0) {
		snprintf(h, sizeof(h), "%.1f MiB",
			 (double)stats.blob_bytes / (1024.0 * 1024.0));
		printf("gc: %s %zu blobs (%s), %zu manifests%s\n",
		       o.dry_run ? "would remove" : "removed", stats.blobs, h,
		       stats.manifests, o.dry_run ? " (dry run)" : "");
		if (cli->verbosity > 0)
			printf("gc: %zu blob records, %zu referrer records, "
			       "%zu temp files; kept %zu blobs (%zu within "
			       "the grace period)\n",
			       stats.blob_records, stats.referrers,
			       stats.tmp_files, stats.blobs_kept,
			       stats.young_kept);
		if (cli->verbosity > 0 && stats.leftovers)
			printf("gc: %zu other leftovers of the store's backend "
			       "(%.1f MiB)\n",
			       stats.leftovers,
			       (double)stats.leftover_bytes /
				   (1024.0 * 1024.0));
	}
	if (stats.blob_sweep_skipped && !cli->json)
		fprintf(stderr, "ocimirror: gc: blob files were not swept, "
				"see the warnings above\n");
	return cli_exit_code(0,
			     stats.errors + (size_t)stats.blob_sweep_skipped);
}
