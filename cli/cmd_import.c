/* ocimirror import FILE... : a bundle, or its parts (any order; all
 * present). */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "mirror/bundle.h"

/* Number N of "NAME.part-NNNN", or 0. */
static long part_no(const char *p)
{
	const char *s = strstr(p, ".part-");
	char *end;
	long n;

	if (!s)
		return 0;
	n = strtol(s + 6, &end, 10);
	return *end || n < 1 ? 0 : n;
}

static int cmp_part(const void *a, const void *b)
{
	long x = part_no(*(char *const *)a), y = part_no(*(char *const *)b);

	return x < y ? -1 : x > y;
}

int cmd_import(int argc, char **argv, struct cli *cli)
{
	struct bundle_stats st;
	struct store s;
	struct err err;
	char **files;
	size_t n;
	char h[32];
	int rc;

	err_clear(&err);
	if ((rc = cli_no_options(cli, "import", &argc, argv)))
		return rc;
	if (argc < 2)
		return cli_usage(cli, "usage: ocimirror import FILE...");
	n = (size_t)(argc - 1);
	files = argv + 1;
	if (n > 1 || part_no(files[0])) {
		qsort(files, n, sizeof(*files), cmp_part);
		for (size_t i = 0; i < n; i++)
			if (part_no(files[i]) != (long)i + 1)
				return cli_usage(
				    cli,
				    "import: parts must be NAME.part-0001 ... "
				    "without gaps; %s is part %ld, expected "
				    "part %zu (a part is missing?)",
				    files[i], part_no(files[i]), i + 1);
	}
	rc = cli_store_open(cli, &s, 1, 1, &err);
	if (rc)
		return cli_fail(cli, &err);
	rc = bundle_import(&s, &st, (const char *const *)files, n, &err);
	store_close(&s);
	if (rc)
		return cli_fail(cli, &err);
	cli_human_bytes(h, sizeof(h), (double)st.bytes);
	if (cli->json)
		cli_json_event(json_pack("{s:s,s:s,s:I,s:I,s:I,s:I}", "event",
					 "summary", "result", "ok", "refs",
					 (json_int_t)st.refs, "blobs",
					 (json_int_t)st.blobs, "blobsPresent",
					 (json_int_t)st.blobs_skipped, "bytes",
					 (json_int_t)st.bytes));
	else if (cli->verbosity >= 0)
		printf("import: %zu references; %zu blobs stored (%s), %zu "
		       "already present\n",
		       st.refs, st.blobs, h, st.blobs_skipped);
	return EXIT_OK;
}
