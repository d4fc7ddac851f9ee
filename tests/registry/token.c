/* The 401 logic of registry/token.h, without a network: what a challenge
 * switches the client to, and when it gives up. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "registry/token.h"

struct tok_fix {
	struct reg_options opt;
	struct reg_conn conn;
	struct reg_token_cache t;
	struct reg_response r;
};

/* No credentials anywhere: an empty docker config, no auth file. */
static void tok_setup(struct tok_fix *f)
{
	memset(f, 0, sizeof(*f));
	setenv("DOCKER_CONFIG", "/nonexistent-ocimirror-test", 1);
	unsetenv("REGISTRY_AUTH_FILE");
	unsetenv("XDG_RUNTIME_DIR");
	reg_options_init(&f->opt);
	snprintf(f->conn.host, sizeof(f->conn.host), "reg.example:5000");
	f->conn.opt = &f->opt;
	reg_response_init(&f->r, 1024);
	f->r.status = 401;
}

static void tok_teardown(struct tok_fix *f)
{
	reg_token_cache_release(&f->t);
	reg_response_release(&f->r);
}

static void challenge(struct tok_fix *f, const char *www)
{
	snprintf(f->r.www_auth, sizeof(f->r.www_auth), "%s", www);
}

Test(reg_token, bearer_challenge_switches_to_the_realm)
{
	struct tok_fix f;
	struct err e;

	tok_setup(&f);
	challenge(&f, "Basic realm=\"x\", Bearer realm=\"https://auth.example/"
		      "token\",service=\"reg\"");
	cr_assert_eq(reg_token_challenge(&f.t, &f.conn, &f.r, "team/app", &e),
		     0, "%s", e.msg);
	cr_assert_eq(f.t.mode, REG_AUTH_BEARER);
	cr_assert_str_eq(f.t.realm, "https://auth.example/token");
	cr_assert_str_eq(f.t.service, "reg");
	tok_teardown(&f);
}

Test(reg_token, a_second_bearer_challenge_drops_the_cached_tokens)
{
	struct tok_fix f;
	struct err e;

	tok_setup(&f);
	challenge(&f, "Bearer realm=\"https://auth.example/token\"");
	cr_assert_eq(reg_token_challenge(&f.t, &f.conn, &f.r, "team/app", &e),
		     0);
	f.t.tokens[0].scope = strdup("repository:team/app:pull");
	f.t.tokens[0].header = strdup("Authorization: Bearer old");
	f.t.tokens[0].expires = time(NULL) + 3600;
	f.t.tokens[1].scope = strdup("repository:other:pull");
	f.t.tokens[1].header = strdup("Authorization: Bearer other");
	f.t.tokens[1].expires = time(NULL) + 3600;
	cr_assert_eq(reg_token_challenge(&f.t, &f.conn, &f.r, "team/app", &e),
		     0);
	cr_assert_eq(f.t.tokens[0].expires, 0);
	cr_assert_gt(f.t.tokens[1].expires, time(NULL));
	tok_teardown(&f);
}

Test(reg_token, basic_without_credentials_asks_for_login)
{
	struct tok_fix f;
	struct err e;

	tok_setup(&f);
	challenge(&f, "Basic realm=\"registry\"");
	cr_assert_eq(reg_token_challenge(&f.t, &f.conn, &f.r, "team/app", &e),
		     ERR_UNAUTHORIZED);
	cr_assert(strstr(e.msg, "ocimirror login reg.example:5000"), "%s",
		  e.msg);
	cr_assert_eq(f.t.mode, REG_AUTH_NONE);
	tok_teardown(&f);
}

Test(reg_token, basic_with_credentials_is_tried_once)
{
	struct tok_fix f;
	struct err e;
	const char *h = NULL;

	tok_setup(&f);
	cr_assert_eq(
	    reg_token_set_creds(&f.t, f.conn.host, "alice", "s3cret", &e), 0);
	/* anonymous until the host asks */
	cr_assert_eq(reg_token_header(&f.t, &f.conn, &h, "team/app", 0, &e), 0);
	cr_assert_null(h);
	challenge(&f, "Basic realm=\"registry\"");
	cr_assert_eq(reg_token_challenge(&f.t, &f.conn, &f.r, "team/app", &e),
		     0, "%s", e.msg);
	cr_assert_eq(f.t.mode, REG_AUTH_BASIC);
	cr_assert_eq(reg_token_header(&f.t, &f.conn, &h, "team/app", 0, &e), 0);
	/* base64("alice:s3cret") */
	cr_assert_str_eq(h, "Authorization: Basic YWxpY2U6czNjcmV0");
	/* refused again: the credentials are wrong, no third try */
	cr_assert_eq(reg_token_challenge(&f.t, &f.conn, &f.r, "team/app", &e),
		     ERR_UNAUTHORIZED);
	cr_assert(strstr(e.msg, "credentials refused"), "%s", e.msg);
	tok_teardown(&f);
}

Test(reg_token, a_401_without_a_usable_challenge_is_unauthorized)
{
	struct tok_fix f;
	struct err e;

	tok_setup(&f);
	cr_assert_eq(reg_token_challenge(&f.t, &f.conn, &f.r, "team/app", &e),
		     ERR_UNAUTHORIZED);
	cr_assert(strstr(e.msg, "without a usable challenge"), "%s", e.msg);
	challenge(&f, "Negotiate abc");
	cr_assert_eq(reg_token_challenge(&f.t, &f.conn, &f.r, "team/app", &e),
		     ERR_UNAUTHORIZED);
	cr_assert(strstr(e.msg, "unsupported challenge"), "%s", e.msg);
	/* a Bearer challenge without a realm is no use either */
	challenge(&f, "Bearer service=\"reg\"");
	cr_assert_eq(reg_token_challenge(&f.t, &f.conn, &f.r, "team/app", &e),
		     ERR_UNAUTHORIZED);
	cr_assert_eq(f.t.mode, REG_AUTH_NONE);
	tok_teardown(&f);
}
