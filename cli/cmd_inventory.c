/* ocimirror inventory -o FILE : what this store holds, for export --since. */
#include <getopt.h>
#include <string.h>

#include "cli/cli.h"
#include "mirror/inventory.h"

int cmd_inventory(int argc, char **argv, struct cli *cli)
{
	static const struct option opts[] = {
	    {"output", required_argument, NULL, 'o'},
	    {NULL, 0, NULL, 0},
	};
	size_t n_blobs = 0;
	struct store s;
	struct err err;
	const char *out = NULL;
	int ch, rc;

	err_clear(&err);
	while ((ch = getopt_long(argc, argv, ":o:", opts, NULL)) != -1) {
		if (ch == 'o')
			out = optarg;
		else
			return cli_bad_option(cli, "inventory", ch, argv, opts);
	}
	if (!out || optind != argc)
		return cli_usage(cli, "usage: ocimirror inventory -o FILE");
	rc = store_open(&s, cli->store_dir, 1, &err);
	if (!rc)
		rc = inventory_write(&s, &n_blobs, out, &err);
	store_close(&s);
	if (rc)
		return cli_fail(cli, &err);
	if (cli->verbosity >= 0 && !cli->json)
		printf("inventory: %zu blobs listed in %s\n", n_blobs, out);
	return EXIT_OK;
}
