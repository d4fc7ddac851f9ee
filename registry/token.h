/* Internal to registry/: what a client knows about authenticating to its
 * host. The credentials (loaded from the auth files on first need, or set
 * by login), the scheme the host asked for in its last 401 challenge
 * (Basic, or Bearer with a realm and service), and a cache of Bearer
 * tokens per scope ("repository:NAME:pull" or ":pull,push"), each kept
 * until 10 s before it expires.
 *
 * A reg_token_cache is embedded in a reg_client, zero-initialised, and
 * freed with reg_token_cache_release. Header strings it hands out stay
 * valid until the next call on the cache. Not thread-safe. */
#ifndef REGISTRY_TOKEN_H
#define REGISTRY_TOKEN_H

#include <stddef.h>
#include <time.h>

#include "oci/buf.h"
#include "oci/err.h"
#include "registry/auth.h"
#include "registry/conn.h"
#include "registry/http.h"

#define REG_TOKEN_SLOTS 32

enum reg_auth_mode { REG_AUTH_NONE, REG_AUTH_BASIC, REG_AUTH_BEARER };

struct reg_token {
	char *scope;
	char *header; /* "Authorization: Bearer ..." */
	time_t expires;
};

struct reg_token_cache {
	int creds_loaded, have_creds;
	struct reg_creds creds;
	char *basic_header; /* "Authorization: Basic ..." */
	enum reg_auth_mode mode;
	char realm[1024], service[256];
	struct reg_token tokens[REG_TOKEN_SLOTS];
	size_t next_slot;
	unsigned gen; /* changes with every token kept, dropped or scheme
			 learnt: a 401 to a request sent at an older gen is
			 answered by the newer state, not a new challenge */
};

void reg_token_cache_release(struct reg_token_cache *t);

/* Use (user, pass) from now on instead of the configured credentials.
 * Out of memory is ERR_FAIL naming the host. */
int reg_token_set_creds(struct reg_token_cache *t, const char *host,
			const char *user, const char *pass, struct err *err);

/* The Authorization header line for the pull (or push) scope of repo into
 * *out, NULL when anonymous. In Bearer mode a missing or expired token is
 * fetched from the realm first (with Basic credentials when known, and
 * the retry policy of registry/retry.h); a refusal is ERR_UNAUTHORIZED. */
int reg_token_header(struct reg_token_cache *t, struct reg_conn *conn,
		     const char **out, const char *repo, int push,
		     struct err *err);

/* Without blocking: the Authorization header for repo's scope into *out
 * (NULL when anonymous) and 0, or REG_TOKEN_NEED when a token must be
 * fetched first (scope, at least 700 bytes, names it). */
#define REG_TOKEN_NEED 1
int reg_token_lookup(struct reg_token_cache *t, struct reg_conn *conn,
		     const char **out, const char *repo, int push, char *scope,
		     size_t cap);
/* The request that fetches scope's token: the URL into url, the Basic
 * header line (or NULL) into *auth (owned by the cache). */
int reg_token_fetch_url(struct reg_token_cache *t, struct reg_conn *conn,
			const char *scope, struct buf *url, const char **auth,
			struct err *err);
/* Judge the token service's answer r and keep its token for scope. */
int reg_token_keep(struct reg_token_cache *t, const char *scope,
		   const struct reg_response *r, struct err *err);

/* Learn from a 401 answer r: switch to the scheme its challenge asks for.
 * 0 when a retry with the new authentication makes sense, else
 * ERR_UNAUTHORIZED saying why (no usable challenge, credentials needed
 * or refused). */
int reg_token_challenge(struct reg_token_cache *t, const struct reg_conn *conn,
			const struct reg_response *r, const char *repo,
			struct err *err);

/* Forget the cached tokens of repo (pull and push scope). */
void reg_token_invalidate(struct reg_token_cache *t, const char *repo);

#endif
