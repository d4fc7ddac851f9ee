/* ocimirror push STOREREF REMOTEREF | push --all --to HOST[/PREFIX]:
 * from the store into another registry. */
#include <getopt.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "mirror/push.h"
#include "mirror/store/walk.h"

#define PUSH_USAGE                                                             \
	"usage: ocimirror push [--chunk-size BYTES] STOREREF REMOTEREF\n"      \
	"       ocimirror push [--chunk-size BYTES] --all --to HOST[/PREFIX]"

struct item_list {
	struct push_item *v;
	char **strs; /* owned strings the items point at */
	size_t n, cap, n_strs;
	const char *to;
	struct err err;
	int failed;
};

static char *keep(struct item_list *l, const char *s)
{
	char **ns = realloc(l->strs, (l->n_strs + 1) * sizeof(*ns));

	if (!ns)
		return NULL;
	l->strs = ns;
	return l->strs[l->n_strs++] = strdup(s);
}

static struct push_item *item_new(struct item_list *l)
{
	if (l->n == l->cap) {
		size_t nc = l->cap ? l->cap * 2 : 16;
		struct push_item *nv = realloc(l->v, nc * sizeof(*nv));
		if (!nv)
			return NULL;
		l->v = nv;
		l->cap = nc;
	}
	memset(&l->v[l->n], 0, sizeof(l->v[0]));
	return &l->v[l->n++];
}

static int visit(void *ctx, const char *repo, const char *tag,
		 const struct store_ref *ref)
{
	struct item_list *l = ctx;
	struct push_item *it;

	(void)ref;
	if (!tag)
		return 0;
	it = item_new(l);
	if (!it || !(it->src_repo = keep(l, repo)) ||
	    !(it->src_tag = keep(l, tag))) {
		err_set(&l->err, ERR_FAIL, "out of memory");
		return 1;
	}
	if (push_map_repo(&it->dst, l->to, repo, &l->err)) {
		l->failed = 1;
		return 1;
	}
	snprintf(it->dst.tag, sizeof(it->dst.tag), "%s", tag);
	return 0;
}

/* 1 when the reference text names a tag or digest after its last '/'. */
static int names_tag(const char *s)
{
	const char *slash = strrchr(s, '/');

	return strchr(slash ? slash : s, ':') || strchr(s, '@');
}

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

static int parse_size(const char *s, size_t *out)
{
	char *end;
	unsigned long long v = strtoull(s, &end, 10);

	if (end == s)
		return -1;
	if (*end == 'K' || *end == 'k')
		v <<= 10, end++;
	else if (*end == 'M' || *end == 'm')
		v <<= 20, end++;
	else if (*end == 'G' || *end == 'g')
		v <<= 30, end++;
	if (*end == 'i' && end[1] == 'B')
		end += 2;
	if (*end || v < 1024 || v > (1ull << 32))
		return -1;
	*out = (size_t)v;
	return 0;
}

int cmd_push(int argc, char **argv, struct cli *cli)
{
	static const struct option opts[] = {
	    {"all", no_argument, NULL, 'a'},
	    {"to", required_argument, NULL, 't'},
	    {"chunk-size", required_argument, NULL, 'c'},
	    {NULL, 0, NULL, 0},
	};
	struct item_list l;
	struct push_result *res = NULL;
	struct push_options po;
	struct reg_pool pool;
	struct store st = {0};
	int c, rc = EXIT_OK, all = 0, store_ok = 0;
	size_t failed = 0, up = 0, mounted = 0, existing = 0;
	uint64_t bytes = 0;
	long long t0 = cli_now_ms();

	memset(&l, 0, sizeof(l));
	memset(&po, 0, sizeof(po));
	err_clear(&l.err);
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'a': all = 1; break;
		case 't': l.to = optarg; break;
		case 'c':
			if (parse_size(optarg, &po.chunk))
				return cli_usage(cli,
						 "push: --chunk-size wants "
						 "1K..4G, not \"%s\"",
						 optarg);
			break;
		default: return cli_usage(cli, PUSH_USAGE);
		}
	}
	if (all != !!l.to || (all && optind != argc) ||
	    (!all && argc - optind != 2))
		return cli_usage(cli, PUSH_USAGE);
	if (cli_store_open(cli, &st, 0, 0, &l.err)) {
		rc = cli_fail(cli, &l.err);
		goto out;
	}
	store_ok = 1;
	if (all) {
		if (walk_tags(&st, NULL, visit, &l, &l.err) || l.failed ||
		    l.err.code) {
			rc = l.failed ? cli_usage(cli, "push: %s", l.err.msg)
				      : cli_fail(cli, &l.err);
			goto out;
		}
	} else {
		struct oci_ref src;
		struct push_item *it;
		char repo[OCI_REPO_MAX];

		if (oci_ref_parse(&src, argv[optind], &l.err)) {
			rc = cli_usage(cli, "push: %s", l.err.msg);
			goto out;
		}
		it = item_new(&l);
		if (!it) {
			rc = EXIT_FAILED;
			goto out;
		}
		if (oci_ref_parse(&it->dst, argv[optind + 1], &l.err)) {
			rc = cli_usage(cli, "push: %s", l.err.msg);
			goto out;
		}
		oci_ref_repo(&src, repo, sizeof(repo));
		it->src_repo = keep(&l, repo);
		if (src.tag[0])
			it->src_tag = keep(&l, src.tag);
		else
			it->src_digest = src.digest;
		if (!names_tag(argv[optind + 1]))
			snprintf(it->dst.tag, sizeof(it->dst.tag), "%s",
				 src.tag);
		it->dst.has_digest = 0;
	}
	if (!l.n) {
		if (!cli->json && cli->verbosity >= 0)
			fprintf(stderr, "ocimirror: push: no tags in the "
					"store\n");
	}
	res = calloc(l.n ? l.n : 1, sizeof(*res));
	if (!res) {
		rc = EXIT_FAILED;
		goto out;
	}
	po.event = on_event;
	po.ctx = cli;
	reg_pool_init(&pool, &cli->reg);
	push_run(&st, &pool, l.v, l.n, &po, res);
	reg_pool_release(&pool);
	for (size_t i = 0; i < l.n; i++) {
		up += res[i].blobs_uploaded;
		mounted += res[i].blobs_mounted;
		existing += res[i].blobs_existing;
		bytes += res[i].bytes_uploaded;
		if (res[i].result) {
			failed++;
			if (!cli->json)
				fprintf(stderr, "ocimirror: %s\n",
					res[i].err.msg);
		} else if (!cli->json && cli->verbosity >= 0) {
			char h[32];
			cli_human_bytes(h, sizeof(h),
					(double)res[i].bytes_uploaded);
			printf("%s\t%s\t%zu manifests, %zu blobs (%zu "
			       "uploaded, %zu mounted, %zu present, %s)\n",
			       res[i].ref, res[i].digest.str, res[i].manifests,
			       res[i].blobs, res[i].blobs_uploaded,
			       res[i].blobs_mounted, res[i].blobs_existing, h);
		}
	}
	if (cli->json) {
		json_t *arr = json_array();
		for (size_t i = 0; i < l.n; i++) {
			json_t *r = json_pack(
			    "{s:s,s:s,s:s,s:I,s:I,s:I,s:I,s:I,s:I}", "ref",
			    res[i].ref, "source", l.v[i].src_repo, "result",
			    res[i].result ? "failed" : "ok", "manifests",
			    (json_int_t)res[i].manifests, "blobs",
			    (json_int_t)res[i].blobs, "blobsUploaded",
			    (json_int_t)res[i].blobs_uploaded, "blobsMounted",
			    (json_int_t)res[i].blobs_mounted, "blobsExisting",
			    (json_int_t)res[i].blobs_existing, "bytesUploaded",
			    (json_int_t)res[i].bytes_uploaded);
			if (res[i].result)
				json_object_set_new(
				    r, "error", json_string(res[i].err.msg));
			else
				json_object_set_new(
				    r, "digest",
				    json_string(res[i].digest.str));
			json_array_append_new(arr, r);
		}
		cli_json_event(json_pack(
		    "{s:s,s:s,s:I,s:I,s:I,s:I,s:I,s:I,s:f,s:o}", "event",
		    "summary", "result", failed ? "failed" : "ok", "refs",
		    (json_int_t)l.n, "failed", (json_int_t)failed,
		    "blobsUploaded", (json_int_t)up, "blobsMounted",
		    (json_int_t)mounted, "blobsExisting", (json_int_t)existing,
		    "bytesUploaded", (json_int_t)bytes, "seconds",
		    (double)(cli_now_ms() - t0) / 1000.0, "results", arr));
	}
	rc = failed ? EXIT_FAILED : EXIT_OK;
out:
	if (store_ok)
		store_close(&st);
	for (size_t i = 0; i < l.n_strs; i++)
		free(l.strs[i]);
	free(l.strs);
	free(l.v);
	free(res);
	return rc;
}
