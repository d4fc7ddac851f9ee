#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "registry/auth.h"

Test(reg_challenge, parses_docker_hub_bearer)
{
	struct reg_challenge c[4];
	size_t n;
	struct err e;

	cr_assert_eq(reg_challenge_parse(c, 4, &n,
					 "Bearer realm=\"https://auth.docker.io/token\",service=\"registry.docker.io\",scope=\"repository:library/nginx:pull\"",
					 &e), 0);
	cr_assert_eq(n, 1);
	cr_assert_str_eq(c[0].scheme, "bearer");
	cr_assert_str_eq(c[0].realm, "https://auth.docker.io/token");
	cr_assert_str_eq(c[0].service, "registry.docker.io");
	cr_assert_str_eq(c[0].scope, "repository:library/nginx:pull");
}

Test(reg_challenge, several_challenges_and_unquoted_values)
{
	struct reg_challenge c[4];
	size_t n;
	struct err e;

	cr_assert_eq(reg_challenge_parse(c, 4, &n,
					 "Negotiate, Basic realm=basic-realm , bearer realm=\"http://127.0.0.1:9/t\" , service=reg,error=\"invalid_token\"",
					 &e), 0);
	cr_assert_eq(n, 3);
	cr_assert_str_eq(c[0].scheme, "negotiate");
	cr_assert_str_eq(c[1].scheme, "basic");
	cr_assert_str_eq(c[1].realm, "basic-realm");
	cr_assert_str_eq(c[2].scheme, "bearer");
	cr_assert_str_eq(c[2].realm, "http://127.0.0.1:9/t");
	cr_assert_str_eq(c[2].service, "reg");
	cr_assert_str_eq(c[2].error, "invalid_token");
}

Test(reg_challenge, quoted_escapes_and_commas_inside_quotes)
{
	struct reg_challenge c[2];
	size_t n;
	struct err e;

	cr_assert_eq(reg_challenge_parse(c, 2, &n,
					 "Bearer realm=\"https://a/t?x=1,2\",scope=\"repository:a:pull,push\",service=\"s\\\"q\"",
					 &e), 0);
	cr_assert_eq(n, 1);
	cr_assert_str_eq(c[0].realm, "https://a/t?x=1,2");
	cr_assert_str_eq(c[0].scope, "repository:a:pull,push");
	cr_assert_str_eq(c[0].service, "s\"q");
}

Test(reg_challenge, refuses_unterminated_quote)
{
	struct reg_challenge c[2];
	size_t n;
	struct err e;

	cr_assert_eq(reg_challenge_parse(c, 2, &n, "Bearer realm=\"https://a", &e),
		     ERR_INVALID);
	cr_assert(strstr(e.msg, "WWW-Authenticate"));
}

Test(reg_challenge, empty_header_has_no_challenge)
{
	struct reg_challenge c[2];
	size_t n = 9;
	struct err e;

	cr_assert_eq(reg_challenge_parse(c, 2, &n, "", &e), 0);
	cr_assert_eq(n, 0);
}

Test(reg_challenge, long_values_are_truncated_not_overflowed)
{
	struct reg_challenge c[1];
	char h[5000];
	size_t n;
	struct err e;

	memset(h, 0, sizeof(h));
	snprintf(h, sizeof(h), "Bearer realm=\"");
	memset(h + strlen(h), 'a', 3000);
	h[strlen(h)] = '"';
	cr_assert_eq(reg_challenge_parse(c, 1, &n, h, &e), 0);
	cr_assert_eq(n, 1);
	cr_assert_eq(strlen(c[0].realm), sizeof(c[0].realm) - 1);
}

static char tmpdir[256];

static void setup_dir(void)
{
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/ocimirror-auth-XXXXXX");
	cr_assert(mkdtemp(tmpdir));
	setenv("DOCKER_CONFIG", tmpdir, 1);
	unsetenv("REGISTRY_AUTH_FILE");
	unsetenv("XDG_RUNTIME_DIR");
}

static void write_file(const char *name, const char *text)
{
	char p[512];
	FILE *f;

	snprintf(p, sizeof(p), "%s/%s", tmpdir, name);
	f = fopen(p, "w");
	cr_assert(f);
	fputs(text, f);
	fclose(f);
}

Test(reg_creds, reads_auth_field_and_hub_alias, .init = setup_dir)
{
	struct reg_creds c;
	struct err e;

	/* alice:s3cr:et */
	write_file("config.json",
		   "{\"auths\":{\"https://index.docker.io/v1/\":{\"auth\":\"YWxpY2U6czNjcjpldA==\"},"
		   "\"127.0.0.1:5000\":{\"username\":\"bob\",\"password\":\"pw\"}}}");
	cr_assert_eq(reg_creds_lookup(&c, "docker.io", &e), 0);
	cr_assert_str_eq(c.user, "alice");
	cr_assert_str_eq(c.pass, "s3cr:et");
	reg_creds_release(&c);
	cr_assert_eq(reg_creds_lookup(&c, "127.0.0.1:5000", &e), 0);
	cr_assert_str_eq(c.user, "bob");
	cr_assert_str_eq(c.pass, "pw");
	reg_creds_release(&c);
	cr_assert_eq(reg_creds_lookup(&c, "127.0.0.1:5001", &e), ERR_NOT_FOUND);
}

Test(reg_creds, auth_file_wins_over_docker_config, .init = setup_dir)
{
	struct reg_creds c;
	struct err e;
	char p[512];

	write_file("config.json", "{\"auths\":{\"r.example\":{\"auth\":\"YTpi\"}}}");
	write_file("auth.json", "{\"auths\":{\"r.example\":{\"auth\":\"Yzpk\"}}}");
	snprintf(p, sizeof(p), "%s/auth.json", tmpdir);
	setenv("REGISTRY_AUTH_FILE", p, 1);
	cr_assert_eq(reg_creds_lookup(&c, "r.example", &e), 0);
	cr_assert_str_eq(c.user, "c");
	cr_assert_str_eq(c.pass, "d");
	reg_creds_release(&c);
}

Test(reg_creds, malformed_auth_is_an_error, .init = setup_dir)
{
	struct reg_creds c;
	struct err e;

	write_file("config.json", "{\"auths\":{\"r.example\":{\"auth\":\"!!!notbase64\"}}}");
	cr_assert_eq(reg_creds_lookup(&c, "r.example", &e), ERR_INVALID);
	cr_assert(strstr(e.msg, "r.example"));
}

Test(reg_creds, credential_helper_is_run, .init = setup_dir)
{
	struct reg_creds c;
	struct err e;
	char p[512], path[1024];

	snprintf(p, sizeof(p), "%s/docker-credential-test", tmpdir);
	{
		FILE *f = fopen(p, "w");
		cr_assert(f);
		fputs("#!/bin/sh\nread host\n[ \"$1\" = get ] || exit 3\n"
		      "echo \"{\\\"Username\\\":\\\"u-$host\\\",\\\"Secret\\\":\\\"sek\\\"}\"\n", f);
		fclose(f);
	}
	chmod(p, 0755);
	snprintf(path, sizeof(path), "%s:%s", tmpdir, getenv("PATH"));
	setenv("PATH", path, 1);
	write_file("config.json", "{\"credHelpers\":{\"r.example\":\"test\"}}");
	cr_assert_eq(reg_creds_lookup(&c, "r.example", &e), 0);
	cr_assert_str_eq(c.user, "u-r.example");
	cr_assert_str_eq(c.pass, "sek");
	reg_creds_release(&c);
}

Test(reg_creds, store_and_erase_keep_other_keys, .init = setup_dir)
{
	struct reg_creds c;
	struct err e;
	struct stat st;
	char p[512];

	write_file("config.json", "{\"auths\":{\"other\":{\"auth\":\"YTpi\"}},\"psFormat\":\"x\"}");
	cr_assert_eq(reg_creds_store("127.0.0.1:5000", "me", "pa:ss", &e), 0);
	snprintf(p, sizeof(p), "%s/config.json", tmpdir);
	cr_assert_eq(stat(p, &st), 0);
	cr_assert_eq(st.st_mode & 0777, 0600);
	cr_assert_eq(reg_creds_lookup(&c, "127.0.0.1:5000", &e), 0);
	cr_assert_str_eq(c.user, "me");
	cr_assert_str_eq(c.pass, "pa:ss");
	reg_creds_release(&c);
	cr_assert_eq(reg_creds_erase("127.0.0.1:5000", &e), 0);
	cr_assert_eq(reg_creds_lookup(&c, "127.0.0.1:5000", &e), ERR_NOT_FOUND);
	cr_assert_eq(reg_creds_lookup(&c, "other", &e), 0);
	cr_assert_str_eq(c.user, "a");
	reg_creds_release(&c);
	cr_assert_eq(reg_creds_erase("127.0.0.1:5000", &e), ERR_NOT_FOUND);
}
