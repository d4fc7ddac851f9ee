/* ocimirror export -o FILE [REF...|--all] [--since INVENTORY] [--split SIZE]
 * [--level N] */
#include <getopt.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/parse.h"
#include "mirror/bundle.h"

int cmd_export(int argc, char **argv, struct cli *cli)
{
	static const struct option opts[] = {
	    {"output", required_argument, NULL, 'o'},
	    {"all", no_argument, NULL, 'a'},
	    {"since", required_argument, NULL, 's'},
	    {"split", required_argument, NULL, 'p'},
	    {"level", required_argument, NULL, 'l'},
	    {NULL, 0, NULL, 0},
	};
	static const char *usage =
	    "usage: ocimirror export -o FILE [REF...|--all] "
	    "[--since INVENTORY] [--split SIZE] [--level N]";
	struct bundle_export_options o;
	struct bundle_stats st;
	struct store s;
	struct err err;
	const char *out = NULL;
	char h[32];
	int64_t level;
	int ch, rc;

	err_clear(&err);
	memset(&o, 0, sizeof(o));
	o.compress = -1;
	while ((ch = getopt_long(argc, argv, ":o:", opts, NULL)) != -1) {
		switch (ch) {
		case 'o': out = optarg; break;
		case 'a': o.all = 1; break;
		case 's': o.since = optarg; break;
		case 'p':
			if (cli_parse_size(&o.split, "--split", optarg,
					   1024 * 1024, UINT64_MAX, &err))
				return cli_usage(cli, "export: %s", err.msg);
			break;
		case 'l':
			if (cli_parse_int(&level, "--level", optarg, 1, 19,
					  &err))
				return cli_usage(cli, "export: %s", err.msg);
			o.level = (int)level;
			break;
		default: return cli_bad_option(cli, "export", ch, argv, opts);
		}
	}
	o.refs = (const char *const *)(argv + optind);
	o.n_refs = (size_t)(argc - optind);
	if (!out || (!o.all && !o.n_refs) || (o.all && o.n_refs))
		return cli_usage(cli, "%s", usage);
	rc = store_open(&s, cli->store_dir, 0, &err);
	if (!rc)
		rc = bundle_export(&s, &st, out, &o, &err);
	store_close(&s);
	if (rc)
		return cli_fail(cli, &err);
	cli_human_bytes(h, sizeof(h), (double)st.bytes);
	if (cli->json)
		cli_json_event(json_pack(
		    "{s:s,s:s,s:s,s:I,s:I,s:I,s:I,s:I}", "event", "summary",
		    "result", "ok", "output", out, "refs", (json_int_t)st.refs,
		    "blobs", (json_int_t)st.blobs, "blobsLeftOut",
		    (json_int_t)st.blobs_skipped, "bytes", (json_int_t)st.bytes,
		    "parts", (json_int_t)st.parts));
	else if (cli->verbosity >= 0)
		printf("export: %zu references, %zu blobs (%s), %zu left out "
		       "by --since; %zu file%s\n",
		       st.refs, st.blobs, h, st.blobs_skipped, st.parts,
		       st.parts == 1 ? "" : "s");
	return EXIT_OK;
}
