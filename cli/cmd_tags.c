/* ocimirror tags REPO: every tag of a remote repository, paginated. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "oci/ref.h"
#include "registry/pool.h"

int cmd_tags(int argc, char **argv, struct cli *cli)
{
	struct oci_ref ref;
	struct reg_pool pool;
	struct reg_client *c;
	struct err err;
	char **tags = NULL;
	size_t n = 0;
	int rc;

	err_clear(&err);
	if ((rc = cli_no_options(cli, "tags", &argc, argv)))
		return rc;
	if (argc != 2)
		return cli_usage(cli, "usage: ocimirror tags REPO");
	if (oci_ref_parse_repo(&ref, argv[1], &err))
		return cli_usage(cli, "tags: %s", err.msg);
	reg_pool_init(&pool, &cli->reg);
	rc = reg_pool_get(&pool, &c, ref.host, &err);
	if (!rc)
		rc = reg_client_list_tags(c, &tags, &n, ref.path, &err);
	if (!rc) {
		if (cli->json) {
			json_t *a = json_array();
			for (size_t i = 0; i < n; i++)
				json_array_append_new(a, json_string(tags[i]));
			cli_json_event(json_pack("{s:s,s:s,s:o}", "event",
						 "tags", "repository", argv[1],
						 "tags", a));
		} else {
			for (size_t i = 0; i < n; i++)
				puts(tags[i]);
		}
	}
	oci_strv_free(tags);
	reg_pool_release(&pool);
	return rc ? cli_fail(cli, &err) : EXIT_OK;
}
