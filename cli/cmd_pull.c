/* ocimirror pull REF... : verified pulls into the store. */
#include <getopt.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/parse.h"
#include "mirror/pull.h"
#include "mirror/sync/syncconf.h"

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

#define PULL_USAGE                                                             \
	"usage: ocimirror pull REF... [--platform "                            \
	"os/arch[/variant],...|--all-platforms] [--referrers] [--config FILE]"

/* One line per reference on stdout (failures on stderr); failed count. */
static size_t print_results(struct cli *cli, const struct pull_item *items,
			    const struct pull_result *res, size_t n)
{
	size_t failed = 0;

	for (size_t i = 0; i < n; i++) {
		const char *via;
		char h[32];

		if (!cli_result_listed(cli, &failed, res[i].result,
				       res[i].err.msg))
			continue;
		cli_human_bytes(h, sizeof(h), (double)res[i].bytes_fetched);
		via = cli_via(res[i].endpoint, items[i].ref.host);
		printf(
		    "%s\t%s\t%zu manifests, %zu blobs (%zu fetched, %s)%s%s%s"
		    "\n",
		    res[i].ref, res[i].digest.str, res[i].manifests,
		    res[i].blobs, res[i].blobs_fetched, h, via ? " (via " : "",
		    via ? via : "", via ? ")" : "");
	}
	return failed;
}

static void print_summary_json(const struct pull_result *res, size_t n,
			       size_t failed, double seconds)
{
	json_t *refs_j = json_array();
	uint64_t bytes = 0;
	size_t fetched = 0;

	for (size_t i = 0; i < n; i++) {
		const struct pull_result *x = &res[i];
		json_t *r = json_pack(
		    "{s:s,s:s,s:I,s:I,s:I,s:I}", "ref", x->ref, "result",
		    x->result ? "failed" : "ok", "manifests",
		    (json_int_t)x->manifests, "blobs", (json_int_t)x->blobs,
		    "blobsFetched", (json_int_t)x->blobs_fetched,
		    "bytesFetched", (json_int_t)x->bytes_fetched);

		json_object_set_new(
		    r, x->result ? "error" : "digest",
		    json_string(x->result ? x->err.msg : x->digest.str));
		if (x->endpoint[0])
			json_object_set_new(r, "endpoint",
					    json_string(x->endpoint));
		json_array_append_new(refs_j, r);
		bytes += x->bytes_fetched;
		fetched += x->blobs_fetched;
	}
	cli_json_event(
	    json_pack("{s:s,s:s,s:I,s:I,s:I,s:I,s:f,s:o}", "event", "summary",
		      "result", failed ? "failed" : "ok", "refs", (json_int_t)n,
		      "failed", (json_int_t)failed, "blobsFetched",
		      (json_int_t)fetched, "bytesFetched", (json_int_t)bytes,
		      "seconds", seconds, "results", refs_j));
}

/* Pull the items into the store and report; the exit code. */
static int pull_items(struct cli *cli, const struct pull_item *items, size_t n,
		      struct pull_options *po,
		      const struct syncconf_hosts *hosts, long long t0)
{
	struct pull_result *res = calloc(n, sizeof(*res));
	struct reg_pool pool;
	struct store st;
	struct err err;
	size_t failed;

	if (!res) {
		err_set(&err, ERR_FAIL, "pull: out of memory");
		return cli_fail(cli, &err);
	}
	if (cli_store_open(cli, &st, 1, 1, &err)) {
		free(res);
		return cli_fail(cli, &err);
	}
	po->event = on_event;
	po->progress = cli_progress;
	po->ctx = cli;
	reg_pool_init(&pool, &cli->reg);
	if (hosts->n)
		reg_pool_set_hosts(&pool, hosts->hosts, hosts->n);
	pull_run(res, &st, &pool, items, n, po);
	reg_pool_release(&pool);
	cli_progress_end(cli);
	failed = print_results(cli, items, res, n);
	if (cli->json)
		print_summary_json(res, n, failed,
				   (double)(cli_now_ms() - t0) / 1000.0);
	store_close(&st);
	free(res);
	return cli_exit_code(0, failed);
}

int cmd_pull(int argc, char **argv, struct cli *cli)
{
	static const struct option opts[] = {
	    {"platform", required_argument, NULL, 'p'},
	    {"all-platforms", no_argument, NULL, 'a'},
	    {"referrers", no_argument, NULL, 'r'},
	    {"concurrency", required_argument, NULL, 'c'},
	    {"config", required_argument, NULL, 'f'},
	    {NULL, 0, NULL, 0},
	};
	struct oci_platform *plats = NULL;
	struct sync_config cfg;
	struct syncconf_hosts hosts;
	const char *file = NULL;
	struct pull_item *items = NULL;
	struct pull_options po;
	struct err err;
	size_t n_plats = 0, n;
	int c, rc, all = 0, referrers = 0;
	long long t0 = cli_now_ms();

	err_clear(&err);
	memset(&po, 0, sizeof(po));
	memset(&cfg, 0, sizeof(cfg));
	memset(&hosts, 0, sizeof(hosts));
	po.concurrency = CLI_CONCURRENCY_DEFAULT;
	while ((c = getopt_long(argc, argv, ":", opts, NULL)) != -1) {
		rc = 0;
		switch (c) {
		case 'p':
			free(plats);
			plats = NULL;
			if (oci_platform_parse_list(&plats, &n_plats, optarg,
						    &err))
				rc = cli_usage(cli, "pull: --platform: %s",
					       err.msg);
			break;
		case 'a': all = 1; break;
		case 'r': referrers = 1; break;
		case 'f': file = optarg; break;
		case 'c':
			if (cli_parse_concurrency(&po.concurrency, optarg,
						  &err))
				rc = cli_usage(cli, "pull: %s", err.msg);
			break;
		default: rc = cli_bad_option(cli, "pull", c, argv, opts); break;
		}
		if (rc)
			goto out;
	}
	n = (size_t)(argc - optind);
	if (all && n_plats)
		rc = cli_usage(cli, "pull: --platform and --all-platforms "
				    "exclude each other");
	else if (!n)
		rc = cli_usage(cli, PULL_USAGE);
	else if (!(items = calloc(n, sizeof(*items)))) {
		err_set(&err, ERR_FAIL, "pull: out of memory");
		rc = cli_fail(cli, &err);
	} else
		rc = 0;
	for (size_t i = 0; !rc && i < n; i++) {
		items[i].platforms = plats;
		items[i].n_platforms = n_plats;
		items[i].referrers = referrers;
		if (oci_ref_parse(&items[i].ref, argv[optind + (int)i], &err))
			rc = cli_usage(cli, "pull: %s", err.msg);
	}
	if (!rc && file)
		rc = cli_load_hosts(cli, file, &cfg, &hosts);
	if (!rc)
		rc = pull_items(cli, items, n, &po, &hosts, t0);
out:
	syncconf_hosts_release(&hosts);
	syncconf_release(&cfg);
	free(items);
	free(plats);
	return rc;
}
