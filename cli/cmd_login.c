/* ocimirror login REGISTRY -u USER --password-stdin, and logout. */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "oci/buf.h"
#include "registry/auth.h"
#include "registry/pool.h"

static int host_ok(const char *h)
{
	if (!*h || strlen(h) > 255 || strchr(h, '/'))
		return 0;
	for (const char *p = h; *p; p++)
		if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWX"
			    "YZ0123456789.-:[]",
			    *p))
			return 0;
	return 1;
}

int cmd_login(int argc, char **argv, struct cli *cli)
{
	static const struct option opts[] = {
	    {"username", required_argument, NULL, 'u'},
	    {"password-stdin", no_argument, NULL, 'P'},
	    {NULL, 0, NULL, 0},
	};
	const char *user = NULL;
	int ch, from_stdin = 0, rc;
	struct buf pw;
	struct reg_pool pool;
	struct reg_client *c;
	struct err err;
	char tmp[512];
	ssize_t r;

	err_clear(&err);
	while ((ch = getopt_long(argc, argv, ":u:", opts, NULL)) != -1) {
		if (ch == 'u')
			user = optarg;
		else if (ch == 'P')
			from_stdin = 1;
		else
			return cli_bad_option(cli, "login", ch, argv, opts);
	}
	if (argc - optind != 1 || !user || !from_stdin)
		return cli_usage(
		    cli,
		    "usage: ocimirror login REGISTRY -u USER --password-stdin");
	if (!host_ok(argv[optind]))
		return cli_usage(cli, "login: invalid registry host \"%s\"",
				 argv[optind]);
	buf_init(&pw, 64 * 1024);
	while ((r = read(0, tmp, sizeof(tmp))) > 0)
		if (buf_append(&pw, tmp, (size_t)r))
			return cli_usage(cli, "login: password too long");
	while (pw.len &&
	       (pw.data[pw.len - 1] == '\n' || pw.data[pw.len - 1] == '\r'))
		pw.data[--pw.len] = '\0';
	if (!pw.len)
		return cli_usage(cli, "login: empty password on stdin");
	reg_pool_init(&pool, &cli->reg);
	rc = reg_pool_get(&pool, &c, argv[optind], &err);
	if (!rc)
		rc = reg_client_set_creds(c, user, pw.data, &err);
	if (!rc)
		rc = reg_client_ping(c, &err);
	if (!rc)
		rc = reg_creds_store(argv[optind], user, pw.data, &err);
	reg_pool_release(&pool);
	memset(pw.data, 0, pw.len);
	buf_release(&pw);
	if (rc)
		return cli_fail(cli, &err);
	if (cli->verbosity >= 0)
		printf("Login Succeeded: %s\n", argv[optind]);
	return EXIT_OK;
}

int cmd_logout(int argc, char **argv, struct cli *cli)
{
	struct err err;

	err_clear(&err);
	if (cli_no_options(cli, "logout", &argc, argv))
		return EXIT_USAGE;
	if (argc != 2)
		return cli_usage(cli, "usage: ocimirror logout REGISTRY");
	if (!host_ok(argv[1]))
		return cli_usage(cli, "logout: invalid registry host \"%s\"",
				 argv[1]);
	if (reg_creds_erase(argv[1], &err))
		return cli_fail(cli, &err);
	if (cli->verbosity >= 0)
		printf("Removed login credentials for %s\n", argv[1]);
	return EXIT_OK;
}
