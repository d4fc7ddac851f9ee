/* ocimirror export -o FILE [REF...|--all] [--since INVENTORY] [--split SIZE]
 * [--level N] */
#include <getopt.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "mirror/bundle.h"

/* "4G", "700M", "512k", "1000" -> bytes; 0 on error */
static uint64_t parse_size(const char *s)
{
	char *end;
	double v = strtod(s, &end);
	uint64_t m = 1;

	if (end == s || v <= 0)
		return 0;
	switch (*end) {
	case 'k':
	case 'K':
		m = 1024ull;
		end++;
		break;
	case 'm':
	case 'M':
		m = 1024ull * 1024;
		end++;
		break;
	case 'g':
	case 'G':
		m = 1024ull * 1024 * 1024;
		end++;
		break;
	case 't':
	case 'T':
		m = 1024ull * 1024 * 1024 * 1024;
		end++;
		break;
	default: break;
	}
	if (*end == 'i' || *end == 'B')
		end++;
	if (*end == 'B')
		end++;
	return *end ? 0 : (uint64_t)(v * (double)m);
}

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
	int ch, rc;

	err_clear(&err);
	memset(&o, 0, sizeof(o));
	o.compress = -1;
	while ((ch = getopt_long(argc, argv, "o:", opts, NULL)) != -1) {
		switch (ch) {
		case 'o': out = optarg; break;
		case 'a': o.all = 1; break;
		case 's': o.since = optarg; break;
		case 'p':
			o.split = parse_size(optarg);
			if (o.split < 1024 * 1024)
				return cli_usage(
				    cli, "export: --split wants a size of at "
					 "least 1M, like 4G or 700M");
			break;
		case 'l': {
			char *end;
			long v = strtol(optarg, &end, 10);
			if (*end || v < 1 || v > 19)
				return cli_usage(cli,
						 "export: --level wants 1..19");
			o.level = (int)v;
			break;
		}
		default: return cli_usage(cli, "%s", usage);
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
