/* ocimirror pull REF... : verified pulls into the store. */
#include <getopt.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/parse.h"
#include "mirror/pull.h"

static void on_event(void *ctx, const struct pull_event *ev)
{
	struct cli *cli = ctx;

	if (cli->json) {
		json_t *j = NULL;
		switch (ev->kind) {
		case PULL_EV_RESOLVED:
			if (cli->verbosity > 0)
				j = json_pack("{s:s,s:s,s:s,s:s,s:I}", "event",
					      "manifest", "ref", ev->ref,
					      "digest", ev->digest, "mediaType",
					      ev->media_type, "size",
					      (json_int_t)ev->bytes);
			break;
		case PULL_EV_BLOB:
			j = json_pack("{s:s,s:s,s:I,s:s}", "event", "blob",
				      "digest", ev->digest, "size",
				      (json_int_t)ev->bytes, "result",
				      ev->result ? "failed" : "stored");
			if (ev->message)
				json_object_set_new(j, "error",
						    json_string(ev->message));
			break;
		case PULL_EV_DONE:
			j = json_pack("{s:s,s:s,s:s}", "event", "pulled", "ref",
				      ev->ref, "result",
				      ev->result ? "failed" : "ok");
			if (ev->digest)
				json_object_set_new(j, "digest",
						    json_string(ev->digest));
			if (ev->message)
				json_object_set_new(j, "error",
						    json_string(ev->message));
			break;
		}
		cli_json_event(j);
		return;
	}
	if (ev->kind == PULL_EV_RESOLVED && cli->verbosity > 0) {
		cli_progress_end(cli);
		fprintf(stderr, "manifest %s (%s)\n", ev->ref, ev->media_type);
	}
}

int cmd_pull(int argc, char **argv, struct cli *cli)
{
	static const struct option opts[] = {
	    {"platform", required_argument, NULL, 'p'},
	    {"all-platforms", no_argument, NULL, 'a'},
	    {"referrers", no_argument, NULL, 'r'},
	    {"concurrency", required_argument, NULL, 'c'},
	    {NULL, 0, NULL, 0},
	};
	struct oci_platform *plats = NULL;
	size_t n_plats = 0, n = 0, failed = 0;
	struct pull_item *items = NULL;
	int referrers = 0;
	struct pull_result *res = NULL;
	struct pull_options po;
	struct reg_pool pool;
	struct store st = {0};
	struct err err;
	int c, rc = EXIT_OK, all = 0, store_open_ok = 0;
	uint64_t bytes = 0;
	size_t fetched = 0;
	long long t0 = cli_now_ms();

	err_clear(&err);
	memset(&po, 0, sizeof(po));
	po.concurrency = CLI_CONCURRENCY_DEFAULT;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'p':
			free(plats);
			if (oci_platform_parse_list(&plats, &n_plats, optarg,
						    &err))
				return cli_usage(cli, "pull: --platform: %s",
						 err.msg);
			break;
		case 'a': all = 1; break;
		case 'r': referrers = 1; break;
		case 'c':
			if (cli_parse_concurrency(&po.concurrency, optarg,
						  &err)) {
				free(plats);
				return cli_usage(cli, "pull: %s", err.msg);
			}
			break;
		default:
			free(plats);
			return cli_usage(
			    cli, "usage: ocimirror pull REF... [--platform "
				 "os/arch[/variant],...|--all-platforms] "
				 "[--referrers]");
		}
	}
	if (all && n_plats) {
		free(plats);
		return cli_usage(
		    cli,
		    "pull: --platform and --all-platforms exclude each other");
	}
	n = (size_t)(argc - optind);
	if (!n) {
		free(plats);
		return cli_usage(
		    cli,
		    "usage: ocimirror pull REF... [--platform "
		    "os/arch[/variant],...|--all-platforms] [--referrers]");
	}
	items = calloc(n, sizeof(*items));
	res = calloc(n, sizeof(*res));
	if (!items || !res) {
		rc = EXIT_FAILED;
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		items[i].platforms = plats;
		items[i].n_platforms = n_plats;
		items[i].referrers = referrers;
		if (oci_ref_parse(&items[i].ref, argv[optind + (int)i], &err)) {
			rc = cli_usage(cli, "pull: %s", err.msg);
			goto out;
		}
	}
	if (cli_store_open(cli, &st, 1, 1, &err)) {
		rc = cli_fail(cli, &err);
		goto out;
	}
	store_open_ok = 1;
	po.event = on_event;
	po.progress = cli_progress;
	po.ctx = cli;
	reg_pool_init(&pool, &cli->reg);
	pull_run(&st, &pool, items, n, &po, res);
	reg_pool_release(&pool);
	cli_progress_end(cli);
	for (size_t i = 0; i < n; i++) {
		bytes += res[i].bytes_fetched;
		fetched += res[i].blobs_fetched;
		if (res[i].result) {
			failed++;
			if (!cli->json)
				fprintf(stderr, "ocimirror: %s\n",
					res[i].err.msg);
		} else if (!cli->json && cli->verbosity >= 0) {
			char h[32];
			cli_human_bytes(h, sizeof(h),
					(double)res[i].bytes_fetched);
			printf("%s\t%s\t%zu manifests, %zu blobs (%zu fetched, "
			       "%s)\n",
			       res[i].ref, res[i].digest.str, res[i].manifests,
			       res[i].blobs, res[i].blobs_fetched, h);
		}
	}
	if (cli->json) {
		json_t *refs_j = json_array();
		for (size_t i = 0; i < n; i++) {
			json_t *r = json_pack(
			    "{s:s,s:s,s:I,s:I,s:I,s:I}", "ref", res[i].ref,
			    "result", res[i].result ? "failed" : "ok",
			    "manifests", (json_int_t)res[i].manifests, "blobs",
			    (json_int_t)res[i].blobs, "blobsFetched",
			    (json_int_t)res[i].blobs_fetched, "bytesFetched",
			    (json_int_t)res[i].bytes_fetched);
			if (res[i].result)
				json_object_set_new(
				    r, "error", json_string(res[i].err.msg));
			else
				json_object_set_new(
				    r, "digest",
				    json_string(res[i].digest.str));
			json_array_append_new(refs_j, r);
		}
		cli_json_event(json_pack(
		    "{s:s,s:s,s:I,s:I,s:I,s:I,s:f,s:o}", "event", "summary",
		    "result", failed ? "failed" : "ok", "refs", (json_int_t)n,
		    "failed", (json_int_t)failed, "blobsFetched",
		    (json_int_t)fetched, "bytesFetched", (json_int_t)bytes,
		    "seconds", (double)(cli_now_ms() - t0) / 1000.0, "results",
		    refs_j));
	}
	rc = cli_exit_code(0, failed);
out:
	if (store_open_ok)
		store_close(&st);
	free(items);
	free(res);
	free(plats);
	return rc;
}
