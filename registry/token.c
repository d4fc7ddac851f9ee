#include "registry/token.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "oci/buf.h"
#include "registry/retry.h"

#define TOKEN_ANSWER_MAX (1024u * 1024)

void reg_token_cache_release(struct reg_token_cache *t)
{
	for (size_t i = 0; i < REG_TOKEN_SLOTS; i++) {
		free(t->tokens[i].scope);
		free(t->tokens[i].header);
	}
	reg_creds_release(&t->creds);
	free(t->basic_header);
	memset(t, 0, sizeof(*t));
}

int reg_token_set_creds(struct reg_token_cache *t, const char *host,
			const char *user, const char *pass, struct err *err)
{
	struct buf b;
	char *b64;

	reg_creds_release(&t->creds);
	free(t->basic_header);
	t->creds.user = strdup(user);
	t->creds.pass = strdup(pass);
	t->creds_loaded = t->have_creds = 1;
	buf_init(&b, 8192);
	buf_printf(&b, "%s:%s", user, pass);
	b64 = reg_base64(b.data, b.len);
	buf_release(&b);
	buf_init(&b, 16384);
	buf_printf(&b, "Authorization: Basic %s", b64 ? b64 : "");
	free(b64);
	t->basic_header = buf_detach(&b, NULL);
	if (!t->creds.user || !t->creds.pass || !t->basic_header)
		return err_set(err, ERR_FAIL,
			       "credentials for %s: out of memory", host);
	return 0;
}

static void load_creds(struct reg_token_cache *t, const struct reg_conn *conn)
{
	struct err e;
	int rc;

	if (t->creds_loaded)
		return;
	t->creds_loaded = 1;
	err_clear(&e);
	rc = reg_creds_lookup(&t->creds, conn->host, &e);
	if (rc == 0) {
		struct reg_creds found = t->creds;

		t->creds.user = t->creds.pass = NULL;
		rc = reg_token_set_creds(t, conn->host, found.user, found.pass,
					 &e);
		reg_creds_release(&found);
	}
	if (rc && rc != ERR_NOT_FOUND)
		reg_logf(conn->opt, REG_LOG_WARN, "credentials for %s: %s",
			 conn->host, e.msg);
}

static struct reg_token *token_find(struct reg_token_cache *t,
				    const char *scope)
{
	time_t now = time(NULL);

	for (size_t i = 0; i < REG_TOKEN_SLOTS; i++)
		if (t->tokens[i].scope && !strcmp(t->tokens[i].scope, scope) &&
		    t->tokens[i].expires > now)
			return &t->tokens[i];
	return NULL;
}

static void scope_of(char *dst, size_t cap, const char *repo, int push)
{
	if (repo)
		snprintf(dst, cap, "repository:%s:%s", repo,
			 push ? "pull,push" : "pull");
	else
		dst[0] = '\0';
}

/* realm?service=..&scope=.. */
static int token_url(struct buf *url, const struct reg_token_cache *t,
		     const char *scope, struct err *err)
{
	char *esc;

	buf_puts(url, t->realm);
	buf_puts(url, strchr(t->realm, '?') ? "&" : "?");
	if (t->service[0]) {
		esc = curl_easy_escape(NULL, t->service, 0);
		buf_printf(url, "service=%s", esc);
		curl_free(esc);
	}
	if (scope[0]) {
		esc = curl_easy_escape(NULL, scope, 0);
		buf_printf(url, "%sscope=%s", t->service[0] ? "&" : "", esc);
		curl_free(esc);
	}
	if (!url->len)
		return err_set(err, ERR_FAIL, "token URL for %.200s too long",
			       t->realm);
	return 0;
}

/* GET url with Basic credentials when known, retried while transient.
 * The answer's status is for the caller to judge. */
static void token_get(struct reg_token_cache *t, struct reg_conn *conn,
		      const char *url, struct reg_response *r)
{
	struct curl_slist *hdrs = NULL;

	if (t->have_creds && t->basic_header)
		hdrs = curl_slist_append(hdrs, t->basic_header);
	for (int attempt = 0;; attempt++) {
		CURLcode cc;
		long ms;

		reg_response_reset(r);
		reg_conn_prepare(conn);
		curl_easy_setopt(conn->easy, CURLOPT_URL, url);
		curl_easy_setopt(conn->easy, CURLOPT_HTTPHEADER, hdrs);
		reg_response_attach(r, conn->easy, 1);
		cc = curl_easy_perform(conn->easy);
		if (cc == CURLE_OK)
			curl_easy_getinfo(conn->easy, CURLINFO_RESPONSE_CODE,
					  &r->status);
		if (r->body_too_large ||
		    reg_retry_verdict(cc, r->status, attempt,
				      conn->opt->retries) != REG_RETRY_AGAIN)
			break;
		ms = reg_backoff_ms(conn->opt, attempt + 1, r->retry_after);
		reg_logf(conn->opt, REG_LOG_WARN,
			 "token %s: %s; retry %d/%d in %ld ms", t->realm,
			 cc ? curl_easy_strerror(cc) : "server error",
			 attempt + 1, conn->opt->retries, ms);
		reg_sleep_ms(ms);
	}
	curl_slist_free_all(hdrs);
}

int reg_token_keep(struct reg_token_cache *t, const char *scope,
		   const struct reg_response *r, struct err *err)
{
	json_t *j, *tok;
	long expires_in = 60;
	struct reg_token *slot;
	struct buf h;
	char d[300];

	if (r->status == 401 || r->status == 403)
		return err_set(
		    err, ERR_UNAUTHORIZED,
		    "token service %s refused %s (%ld)%s", t->realm,
		    t->have_creds ? "the credentials" : "anonymous access",
		    r->status, t->have_creds ? "" : "; try ocimirror login");
	if (r->status != 200) {
		reg_response_describe(d, sizeof(d), r);
		return err_set(err, ERR_FAIL, "token service %s: %s", t->realm,
			       d);
	}
	j = json_loadb(r->body.data, r->body.len, 0, NULL);
	tok = json_object_get(j, "token");
	if (!json_is_string(tok) || !json_string_length(tok))
		tok = json_object_get(j, "access_token");
	if (!json_is_string(tok) || !json_string_length(tok)) {
		json_decref(j);
		return err_set(err, ERR_FAIL,
			       "token service %s: no token in answer",
			       t->realm);
	}
	if (json_is_integer(json_object_get(j, "expires_in")))
		expires_in =
		    (long)json_integer_value(json_object_get(j, "expires_in"));
	if (expires_in < 60)
		expires_in = 60;
	slot = &t->tokens[t->next_slot++ % REG_TOKEN_SLOTS];
	free(slot->scope);
	free(slot->header);
	slot->scope = strdup(scope);
	buf_init(&h, 64 * 1024);
	buf_printf(&h, "Authorization: Bearer %s", json_string_value(tok));
	slot->header = buf_detach(&h, NULL);
	/* refresh a little early */
	slot->expires = time(NULL) + expires_in - 10;
	t->gen++;
	json_decref(j);
	if (!slot->scope || !slot->header) {
		slot->expires = 0;
		return err_set(err, ERR_FAIL,
			       "token service %s: token too large or out of "
			       "memory",
			       t->realm);
	}
	return 0;
}

static int token_fetch(struct reg_token_cache *t, struct reg_conn *conn,
		       const char *scope, struct err *err)
{
	struct reg_response r;
	struct buf url;
	int rc;

	load_creds(t, conn);
	reg_response_init(&r, TOKEN_ANSWER_MAX);
	buf_init(&url, 8192);
	rc = token_url(&url, t, scope, err);
	if (!rc) {
		token_get(t, conn, url.data, &r);
		rc = reg_token_keep(t, scope, &r, err);
	}
	buf_release(&url);
	reg_response_release(&r);
	return rc;
}

int reg_token_lookup(struct reg_token_cache *t, struct reg_conn *conn,
		     const char **out, const char *repo, int push, char *scope,
		     size_t cap)
{
	struct reg_token *tok;

	*out = NULL;
	if (t->mode == REG_AUTH_BASIC) {
		load_creds(t, conn);
		*out = t->have_creds ? t->basic_header : NULL;
		return 0;
	}
	if (t->mode != REG_AUTH_BEARER)
		return 0;
	scope_of(scope, cap, repo, push);
	tok = token_find(t, scope);
	if (!tok)
		return REG_TOKEN_NEED;
	*out = tok->header;
	return 0;
}

int reg_token_fetch_url(struct reg_token_cache *t, struct reg_conn *conn,
			const char *scope, struct buf *url, const char **auth,
			struct err *err)
{
	load_creds(t, conn);
	*auth = t->have_creds && t->basic_header ? t->basic_header : NULL;
	return token_url(url, t, scope, err);
}

int reg_token_header(struct reg_token_cache *t, struct reg_conn *conn,
		     const char **out, const char *repo, int push,
		     struct err *err)
{
	char scope[700];
	struct reg_token *tok;
	int rc;

	*out = NULL;
	if (t->mode == REG_AUTH_BASIC) {
		load_creds(t, conn);
		*out = t->have_creds ? t->basic_header : NULL;
		return 0;
	}
	if (t->mode != REG_AUTH_BEARER)
		return 0;
	scope_of(scope, sizeof(scope), repo, push);
	tok = token_find(t, scope);
	if (!tok) {
		rc = token_fetch(t, conn, scope, err);
		if (rc)
			return rc;
		tok = token_find(t, scope);
	}
	*out = tok ? tok->header : NULL;
	return 0;
}

void reg_token_invalidate(struct reg_token_cache *t, const char *repo)
{
	char scope[700];

	for (int push = 0; push < 2; push++) {
		scope_of(scope, sizeof(scope), repo, push);
		for (size_t i = 0; i < REG_TOKEN_SLOTS; i++)
			if (t->tokens[i].scope &&
			    !strcmp(t->tokens[i].scope, scope))
				t->tokens[i].expires = 0;
	}
	t->gen++;
}

int reg_token_challenge(struct reg_token_cache *t, const struct reg_conn *conn,
			const struct reg_response *r, const char *repo,
			struct err *err)
{
	struct reg_challenge ch[REG_CHALLENGE_MAX];
	size_t n = 0;

	load_creds(t, conn);
	if (!r->www_auth[0] ||
	    reg_challenge_parse(ch, REG_CHALLENGE_MAX, &n, r->www_auth, err) ||
	    !n)
		return err_set(
		    err, ERR_UNAUTHORIZED,
		    "%s: 401 unauthorized without a usable challenge",
		    conn->host);
	for (size_t i = 0; i < n; i++) {
		if (!strcmp(ch[i].scheme, "bearer") && ch[i].realm[0]) {
			int had = t->mode == REG_AUTH_BEARER;

			t->mode = REG_AUTH_BEARER;
			t->gen++;
			snprintf(t->realm, sizeof(t->realm), "%s", ch[i].realm);
			snprintf(t->service, sizeof(t->service), "%s",
				 ch[i].service);
			if (had)
				reg_token_invalidate(t, repo);
			return 0;
		}
	}
	for (size_t i = 0; i < n; i++) {
		if (strcmp(ch[i].scheme, "basic"))
			continue;
		if (!t->have_creds)
			return err_set(err, ERR_UNAUTHORIZED,
				       "%s: 401 unauthorized: credentials "
				       "required (ocimirror login %s)",
				       conn->host, conn->host);
		if (t->mode == REG_AUTH_BASIC)
			return err_set(
			    err, ERR_UNAUTHORIZED,
			    "%s: 401 unauthorized: credentials refused",
			    conn->host);
		t->mode = REG_AUTH_BASIC;
		t->gen++;
		return 0;
	}
	return err_set(err, ERR_UNAUTHORIZED,
		       "%s: 401 with unsupported challenge \"%.100s\"",
		       conn->host, r->www_auth);
}
