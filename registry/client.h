/* A client for one remote registry (one host), on libcurl: the face the
 * rest of the code uses.
 *
 * Built from registry/conn.h (the curl share handle, so every request to
 * the host, sequential or in a parallel transfer, reuses connections; the
 * scheme: https, plain http only for insecure hosts; TLS material from
 * certs.d), registry/token.h (anonymous, Basic, Bearer token challenges
 * with a token cache per scope) and registry/request.h (one call with the
 * retry policy of registry/retry.h: network errors, 408, 429 and 5xx
 * retried with exponential backoff and jitter, honouring Retry-After).
 *
 * Every function returns 0 or a negative ERR_* and fills err with a line
 * naming the host, repository and reference; ERR_NOT_FOUND for a 404,
 * ERR_UNAUTHORIZED for a 401/403 the client cannot answer, ERR_DIGEST for
 * a body that does not match its digest. What comes back through an out
 * parameter belongs to the caller; strings the client hands out (host,
 * base URL, auth header) belong to the client. Not thread-safe: one
 * client per thread. */
#ifndef REGISTRY_CLIENT_H
#define REGISTRY_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#include "oci/buf.h"
#include "oci/digest.h"
#include "oci/err.h"
#include "oci/vec.h"
#include "registry/options.h"

struct reg_client;

/* host as in a reference ("docker.io", "localhost:5000"). */
int reg_client_new(struct reg_client **out, const char *host,
		   const struct reg_options *opt, struct err *err);
void reg_client_free(struct reg_client *c);
/* The registry c stands for, as in references (for a client read
 * through mirrors: the registry, not the mirror). */
const char *reg_client_host(const struct reg_client *c);
/* "HOST[:PORT]" that c itself connects to: a mirror's endpoint (the first
 * of a registry's chain, registry/options.h), else the same as
 * reg_client_host. */
const char *reg_client_endpoint(const struct reg_client *c);
const struct reg_options *reg_client_options(const struct reg_client *c);

/* A fetched manifest. */
struct reg_manifest {
	char *body; /* raw bytes, NUL-terminated for convenience */
	size_t len;
	char *content_type;
	int has_digest; /* Docker-Content-Digest given */
	struct oci_digest digest;
	/* the endpoint that answered, "HOST[:PORT]" (a mirror's or the
	 * registry's own), NULL when unknown; freed by release */
	char *endpoint;
};
void reg_manifest_release(struct reg_manifest *m);

/* GET /v2/<repo>/manifests/<ref>; ref is a tag or digest. Bodies over
 * OCI_MANIFEST_MAX are ERR_TOO_LARGE. When ref is a digest the body is
 * verified against it (ERR_DIGEST). */
int reg_client_get_manifest(struct reg_client *c, struct reg_manifest *out,
			    const char *repo, const char *ref, struct err *err);

/* HEAD: digest, media type and size without the body. */
int reg_client_head_manifest(struct reg_client *c, struct reg_manifest *out,
			     int64_t *size_out, const char *repo,
			     const char *ref, struct err *err);

/* All tags, following Link pagination. *tags_out is a NULL-terminated
 * array of strings; free with oci_strv_free (oci/vec.h). */
int reg_client_list_tags(struct reg_client *c, char ***tags_out, size_t *n_out,
			 const char *repo, struct err *err);

/* All repositories from /v2/_catalog (paginated). */
int reg_client_catalog(struct reg_client *c, char ***repos_out, size_t *n_out,
		       struct err *err);

/* Referrers of digest as an image index: the referrers API, or, when the
 * registry has none (404), the "sha256-<hex>" fallback tag. No referrers
 * gives an empty index body "{...,"manifests":[]}". */
int reg_client_referrers(struct reg_client *c, struct buf *index_out,
			 const char *repo, const struct oci_digest *subject,
			 struct err *err);

/* GET a small blob (a config) into out, verified against digest (fetched
 * once more on a mismatch, then ERR_DIGEST); at most out->max bytes. Large
 * blobs go through registry/transfer.h. */
int reg_client_get_blob(struct reg_client *c, struct buf *out, const char *repo,
			const struct oci_digest *digest, struct err *err);

/* Use these credentials instead of the configured ones (login). Out of
 * memory is ERR_FAIL naming the host. */
int reg_client_set_creds(struct reg_client *c, const char *user,
			 const char *pass, struct err *err);

/* GET /v2/ with credentials: checks reachability and that credentials
 * are accepted. */
int reg_client_ping(struct reg_client *c, struct err *err);

/* Apply one host's settings (registry/options.h); an unreadable CA file
 * is ERR_NOT_FOUND naming it. */
int reg_client_configure(struct reg_client *c, const struct reg_host_options *h,
			 struct err *err);
int reg_client_max_connections(const struct reg_client *c);
/* Wait as long as the rate limit asks before the next request. */
void reg_client_throttle(struct reg_client *c);

/* --- the same requests as jobs on the client's engine (registry/engine.h)
 * ---
 * Each queues its request(s) and returns; the callback runs from
 * reg_engine_run when the answer is in, with the same results and
 * messages as the blocking call above. Submitting fails only for out of
 * memory (ERR_FAIL; the callback is then never called). Strings passed in
 * are copied. What the callback gets is valid during the call; it may
 * take a manifest's body and content type (set the pointers to NULL) and
 * owns the tag array it is given (oci_strv_free). */
struct reg_engine;
/* The engine this client's requests run on: the pool's, or its own. NULL
 * only when one cannot be made (out of memory). */
struct reg_engine *reg_client_engine(struct reg_client *c);
void reg_client_set_engine(struct reg_client *c, struct reg_engine *e);

typedef void (*reg_manifest_cb)(void *ctx, int rc, struct reg_manifest *m,
				int64_t size, const struct err *err);
int reg_client_get_manifest_async(struct reg_client *c, const char *repo,
				  const char *ref, reg_manifest_cb cb,
				  void *ctx, struct err *err);
/* size is the Content-Length of the answer, -1 when not given. */
int reg_client_head_manifest_async(struct reg_client *c, const char *repo,
				   const char *ref, reg_manifest_cb cb,
				   void *ctx, struct err *err);

typedef void (*reg_list_cb)(void *ctx, int rc, char **list, size_t n,
			    const struct err *err);
/* Every page, one after another (each page names the next). */
int reg_client_list_tags_async(struct reg_client *c, const char *repo,
			       reg_list_cb cb, void *ctx, struct err *err);

typedef void (*reg_buf_cb)(void *ctx, int rc, struct buf *body,
			   const struct err *err);
/* The referrers index (API, then the fallback tag, then empty). */
int reg_client_referrers_async(struct reg_client *c, const char *repo,
			       const struct oci_digest *subject, reg_buf_cb cb,
			       void *ctx, struct err *err);
/* A small blob, verified, at most max bytes (fetched once more on a
 * mismatch). */
int reg_client_get_blob_async(struct reg_client *c, const char *repo,
			      const struct oci_digest *digest, size_t max,
			      reg_buf_cb cb, void *ctx, struct err *err);

/* --- for registry/transfer.c --- */

/* "https://host:port" (scheme chosen on first use). */
int reg_client_base_url(struct reg_client *c, const char **out,
			struct err *err);
/* Authorization header line for the pull (or push) scope of repo, or NULL
 * when anonymous. Obtains a token when the registry wants one. The string
 * is owned by the client and valid until the next call. */
int reg_client_auth_header(struct reg_client *c, const char **out,
			   const char *repo, int push, struct err *err);
struct reg_body; /* registry/request.h */
struct reg_response;
/* One request with auth (push scope when push) and the client's retries;
 * url is "/v2/..." or absolute. The caller interprets r->status; 401 after
 * re-authentication is ERR_UNAUTHORIZED. body may be NULL. */
int reg_client_request(struct reg_client *c, struct reg_response *out,
		       const char *method, const char *url, const char *repo,
		       int push, const struct reg_body *body, struct err *err);
/* Forget the cached token for repo (after a 401). */
void reg_client_auth_invalidate(struct reg_client *c, const char *repo);
/* Apply TLS, timeouts, share handle and user agent to an easy handle. */
void reg_client_setup_easy(struct reg_client *c, void *curl);

#endif
