/* ocimirror push STOREREF REMOTEREF | push --all --to HOST[/PREFIX]:
 * from the store into another registry. */
#include <getopt.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/parse.h"
#include "mirror/push.h"

#define PUSH_USAGE                                                             \
	"usage: ocimirror push [--chunk-size BYTES] STOREREF REMOTEREF\n"      \
	"       ocimirror push [--chunk-size BYTES] --all --to HOST[/PREFIX]"

static void on_event(void *ctx, const struct push_event *ev)
{
	struct cli *cli = ctx;

	if (cli->json) {
		json_t *j = NULL;
		switch (ev->kind) {
		case PUSH_EV_BLOB:
			j = json_pack("{s:s,s:s,s:s,s:I,s:s}", "event", "blob",
				      "ref", ev->ref, "digest", ev->digest,
				      "size", (json_int_t)ev->bytes, "result",
				      ev->how);
			if (ev->message)
				json_object_set_new(j, "error",
						    json_string(ev->message));
			break;
		case PUSH_EV_MANIFEST:
			if (cli->verbosity > 0)
				j = json_pack("{s:s,s:s,s:s,s:I}", "event",
					      "manifest", "ref", ev->ref,
					      "digest", ev->digest, "size",
					      (json_int_t)ev->bytes);
			break;
		case PUSH_EV_DONE:
			j = json_pack("{s:s,s:s,s:s}", "event", "pushed", "ref",
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
		if (j)
			cli_json_event(j);
		return;
	}
	if (cli->verbosity > 0 && ev->kind == PUSH_EV_BLOB)
		fprintf(stderr, "blob %s %s\n", ev->digest, ev->how);
	else if (cli->verbosity > 0 && ev->kind == PUSH_EV_MANIFEST)
		fprintf(stderr, "manifest %s\n", ev->ref);
}

/* One line per item on stdout (failures on stderr); the failed count. */
static size_t print_results(struct cli *cli, const struct push_result *res,
			    size_t n)
{
	size_t failed = 0;

	for (size_t i = 0; i < n; i++) {
		char h[32];

		if (!cli_result_listed(cli, &failed, res[i].result,
				       res[i].err.msg))
			continue;
		cli_human_bytes(h, sizeof(h), (double)res[i].bytes_uploaded);
		printf("%s\t%s\t%zu manifests, %zu blobs (%zu uploaded, %zu "
		       "mounted, %zu present, %s)\n",
		       res[i].ref, res[i].digest.str, res[i].manifests,
		       res[i].blobs, res[i].blobs_uploaded,
		       res[i].blobs_mounted, res[i].blobs_existing, h);
	}
	return failed;
}

static void print_summary_json(const struct push_plan *plan,
			       const struct push_result *res, size_t failed,
			       double seconds)
{
	json_t *arr = json_array();
	size_t up = 0, mounted = 0, existing = 0;
	uint64_t bytes = 0;

	for (size_t i = 0; i < plan->n; i++) {
		const struct push_result *x = &res[i];
		json_t *r = json_pack(
		    "{s:s,s:s,s:s,s:I,s:I,s:I,s:I,s:I,s:I}", "ref", x->ref,
		    "source", plan->items[i].src_repo, "result",
		    x->result ? "failed" : "ok", "manifests",
		    (json_int_t)x->manifests, "blobs", (json_int_t)x->blobs,
		    "blobsUploaded", (json_int_t)x->blobs_uploaded,
		    "blobsMounted", (json_int_t)x->blobs_mounted,
		    "blobsExisting", (json_int_t)x->blobs_existing,
		    "bytesUploaded", (json_int_t)x->bytes_uploaded);

		json_object_set_new(
		    r, x->result ? "error" : "digest",
		    json_string(x->result ? x->err.msg : x->digest.str));
		json_array_append_new(arr, r);
		up += x->blobs_uploaded;
		mounted += x->blobs_mounted;
		existing += x->blobs_existing;
		bytes += x->bytes_uploaded;
	}
	cli_json_event(json_pack(
	    "{s:s,s:s,s:I,s:I,s:I,s:I,s:I,s:I,s:f,s:o}", "event", "summary",
	    "result", failed ? "failed" : "ok", "refs", (json_int_t)plan->n,
	    "failed", (json_int_t)failed, "blobsUploaded", (json_int_t)up,
	    "blobsMounted", (json_int_t)mounted, "blobsExisting",
	    (json_int_t)existing, "bytesUploaded", (json_int_t)bytes, "seconds",
	    seconds, "results", arr));
}

/* Push the plan and report; the exit code. */
static int push_plan_run(struct cli *cli, const struct store *st,
			 const struct push_plan *plan, struct push_options *po,
			 long long t0)
{
	struct push_result *res = calloc(plan->n ? plan->n : 1, sizeof(*res));
	struct reg_pool pool;
	struct err err;
	size_t failed;

	if (!res) {
		err_set(&err, ERR_FAIL, "push: out of memory");
		return cli_fail(cli, &err);
	}
	if (!plan->n && !cli->json && cli->verbosity >= 0)
		fprintf(stderr, "ocimirror: push: no tags in the store\n");
	po->event = on_event;
	po->ctx = cli;
	reg_pool_init(&pool, &cli->reg);
	push_run(res, st, &pool, plan->items, plan->n, po);
	reg_pool_release(&pool);
	failed = print_results(cli, res, plan->n);
	if (cli->json)
		print_summary_json(plan, res, failed,
				   (double)(cli_now_ms() - t0) / 1000.0);
	free(res);
	return cli_exit_code(0, failed);
}

int cmd_push(int argc, char **argv, struct cli *cli)
{
	static const struct option opts[] = {
	    {"all", no_argument, NULL, 'a'},
	    {"to", required_argument, NULL, 't'},
	    {"chunk-size", required_argument, NULL, 'c'},
	    {NULL, 0, NULL, 0},
	};
	struct push_plan plan = {0};
	struct push_options po;
	struct store st = {0};
	struct err err;
	const char *to = NULL;
	uint64_t chunk;
	int c, rc, all = 0;
	long long t0 = cli_now_ms();

	memset(&po, 0, sizeof(po));
	err_clear(&err);
	while ((c = getopt_long(argc, argv, ":", opts, NULL)) != -1) {
		switch (c) {
		case 'a': all = 1; break;
		case 't': to = optarg; break;
		case 'c':
			if (cli_parse_size(&chunk, "--chunk-size", optarg, 1024,
					   1ull << 32, &err))
				return cli_usage(cli, "push: %s", err.msg);
			po.chunk = (size_t)chunk;
			break;
		default: return cli_bad_option(cli, "push", c, argv, opts);
		}
	}
	if (all != !!to || (all && optind != argc) ||
	    (!all && argc - optind != 2))
		return cli_usage(cli, PUSH_USAGE);
	if (cli_store_open(cli, &st, 0, 0, &err))
		return cli_fail(cli, &err);
	if (all)
		rc = push_plan_all(&plan, &st, to, &err);
	else
		rc = push_plan_one(&plan, argv[optind], argv[optind + 1], &err);
	if (rc == ERR_INVALID)
		rc = cli_usage(cli, "push: %s", err.msg);
	else if (rc)
		rc = cli_fail(cli, &err);
	else
		rc = push_plan_run(cli, &st, &plan, &po, t0);
	store_close(&st);
	push_plan_release(&plan);
	return rc;
}
