/* ocimirror verify: re-hash the store, quarantine what is corrupt, report
 * what is missing. */
#include <getopt.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "mirror/store/verify.h"

static const char *kind_name(enum verify_kind k)
{
	switch (k) {
	case VERIFY_CORRUPT: return "corrupt";
	case VERIFY_STRAY: return "stray";
	case VERIFY_MISSING_MANIFEST: return "missing-manifest";
	case VERIFY_MISSING_BLOB: return "missing-blob";
	case VERIFY_UNREADABLE: return "unreadable";
	case VERIFY_SIZE_MISMATCH: return "size-mismatch";
	}
	return "?";
}

static void on_problem(void *ctx, const struct verify_problem *p)
{
	struct cli *cli = ctx;

	if (cli->json) {
		json_t *j =
		    json_pack("{s:s,s:s,s:s}", "event", "problem", "kind",
			      kind_name(p->kind), "message", p->message);
		if (j && p->repo)
			json_object_set_new(j, "repository",
					    json_string(p->repo));
		if (j && p->tag)
			json_object_set_new(j, "tag", json_string(p->tag));
		if (j && p->manifest)
			json_object_set_new(j, "manifest",
					    json_string(p->manifest));
		if (j && p->digest)
			json_object_set_new(j, "digest",
					    json_string(p->digest));
		if (j && p->quarantine)
			json_object_set_new(j, "quarantine",
					    json_string(p->quarantine));
		cli_json_event(j);
		return;
	}
	printf("%s: %s\n", kind_name(p->kind), p->message);
}

int cmd_verify(int argc, char **argv, struct cli *cli)
{
	static const struct option opts[] = {
	    {NULL, 0, NULL, 0},
	};
	struct verify_options o = {on_problem, cli};
	struct verify_stats stats;
	struct store st;
	struct err err;
	char h[32];
	int c, rc, bad;

	err_clear(&err);
	memset(&stats, 0, sizeof(stats));
	while ((c = getopt_long(argc, argv, ":", opts, NULL)) != -1)
		return cli_bad_option(cli, "verify", c, argv, opts);
	if (optind < argc)
		return cli_usage(cli, "usage: ocimirror verify");
	rc = store_open(&st, cli->store_dir, 0, &err);
	if (rc && rc != ERR_NOT_FOUND) {
		err_wrap(&err, "verify: ");
		return cli_fail(cli, &err);
	}
	if (!rc) {
		rc = verify_run(&stats, &st, &o, &err);
		store_close(&st);
		if (rc) {
			err_wrap(&err, "verify: ");
			return cli_fail(cli, &err);
		}
	}
	bad = stats.corrupt || stats.missing || stats.unreadable ||
	      stats.mismatched;
	if (cli->json) {
		cli_json_event(json_pack(
		    "{s:s,s:s,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I}", "event",
		    "summary", "result", bad ? "failed" : "ok", "blobs",
		    (json_int_t)stats.blobs, "bytes", (json_int_t)stats.bytes,
		    "tags", (json_int_t)stats.tags, "manifests",
		    (json_int_t)stats.manifests, "corrupt",
		    (json_int_t)stats.corrupt, "quarantined",
		    (json_int_t)stats.quarantined, "missing",
		    (json_int_t)stats.missing, "unreadable",
		    (json_int_t)stats.unreadable, "mismatched",
		    (json_int_t)stats.mismatched));
	} else if (cli->verbosity >= 0 || bad) {
		cli_human_bytes(h, sizeof(h), (double)stats.bytes);
		printf("verify: %zu blobs (%s), %zu tags, %zu manifests "
		       "checked: %zu corrupt (%zu quarantined), %zu missing, "
		       "%zu unreadable, %zu size mismatches\n",
		       stats.blobs, h, stats.tags, stats.manifests,
		       stats.corrupt, stats.quarantined, stats.missing,
		       stats.unreadable, stats.mismatched);
	}
	return cli_exit_code(0, (size_t)bad);
}
