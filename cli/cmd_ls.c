/* ocimirror ls [REPO]: what the store holds. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "mirror/store/walk.h"
#include "oci/ref.h"

static int visit(void *ctx, const char *repo, const char *tag,
		 const struct store_ref *ref)
{
	struct cli *cli = ctx;

	if (!tag)
		return 0;
	if (cli->json)
		cli_json_event(json_pack(
		    "{s:s,s:s,s:s,s:s,s:I}", "repository", repo, "tag", tag,
		    "digest", ref->digest.str, "mediaType", ref->media_type,
		    "size", (json_int_t)ref->size));
	else
		printf("%s:%s\t%s\t%s\n", repo, tag, ref->digest.str,
		       ref->media_type);
	return 0;
}

int cmd_ls(int argc, char **argv, struct cli *cli)
{
	struct store st;
	struct err err;
	char repo[OCI_REPO_MAX];
	int rc;

	err_clear(&err);
	if ((rc = cli_no_options(cli, "ls", &argc, argv)))
		return rc;
	if (argc > 2)
		return cli_usage(cli, "usage: ocimirror ls [REPO]");
	if (argc == 2) {
		struct oci_ref ref;
		if (oci_ref_parse_repo(&ref, argv[1], &err))
			return cli_usage(cli, "ls: %s", err.msg);
		oci_ref_repo(&ref, repo, sizeof(repo));
	}
	rc = store_open(&st, cli->store_dir, 0, &err);
	if (rc == ERR_NOT_FOUND)
		return EXIT_OK; /* an empty store holds nothing */
	if (!rc)
		rc = walk_tags(&st, argc == 2 ? repo : NULL, visit, cli, &err);
	store_close(&st);
	return rc ? cli_fail(cli, &err) : EXIT_OK;
}
