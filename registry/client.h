/* A client for one remote registry (one host), on libcurl.
 *
 * The client owns a curl share handle (connections, DNS, TLS sessions), so
 * every request to the host, sequential or in a parallel transfer, reuses
 * connections. It handles the scheme (https; plain http only for insecure
 * hosts: loopback and those the user named), TLS material from certs.d,
 * authentication (anonymous, Basic, Bearer token challenges with a token
 * cache per scope), and retries: network errors, 408, 429 and 5xx are retried
 * with exponential backoff and jitter, honouring Retry-After (capped).
 *
 * Not thread-safe: one client per thread. */
#ifndef REGISTRY_CLIENT_H
#define REGISTRY_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#include "oci/buf.h"
#include "oci/digest.h"
#include "oci/err.h"

enum reg_log_level { REG_LOG_DEBUG, REG_LOG_INFO, REG_LOG_WARN };

struct reg_options {
	int max_connections;  /* per registry; default 6 */
	long connect_timeout; /* seconds; default 15 */
	long stall_timeout;   /* seconds without progress; default 30 */
	int retries;	      /* attempts after the first; default 5 */
	long retry_base_ms;   /* first backoff; default 500 */
	long retry_after_max; /* cap on Retry-After, seconds; default 60 */
	const char *const
	    *insecure; /* hosts allowed plain http / unverified TLS */
	size_t n_insecure;
	const char
	    *certs_dirs; /* ':'-separated certs.d roots; default
			    /etc/containers/certs.d:/etc/docker/certs.d */
	void (*log)(void *ctx, enum reg_log_level lvl, const char *msg);
	void *log_ctx;
};

/* Defaults, then the OCIMIRROR_* environment overrides documented in
 * README (OCIMIRROR_RETRIES, OCIMIRROR_RETRY_BASE_MS,
 * OCIMIRROR_STALL_TIMEOUT, OCIMIRROR_CONNECT_TIMEOUT,
 * OCIMIRROR_MAX_CONNECTIONS, OCIMIRROR_INSECURE_REGISTRIES). */
void reg_options_init(struct reg_options *o);

struct reg_client;

/* host as in a reference ("docker.io", "localhost:5000"). */
int reg_client_new(struct reg_client **out, const char *host,
		   const struct reg_options *opt, struct err *err);
void reg_client_free(struct reg_client *c);
const char *reg_client_host(const struct reg_client *c);
const struct reg_options *reg_client_options(const struct reg_client *c);

/* A fetched manifest. */
struct reg_manifest {
	char *body; /* raw bytes, NUL-terminated for convenience */
	size_t len;
	char *content_type;
	int has_digest; /* Docker-Content-Digest given */
	struct oci_digest digest;
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
 * array of strings; free with reg_strv_free. */
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

/* GET a small blob (a config) into out, verified against digest; at most
 * max bytes. Large blobs go through registry/transfer.h. */
int reg_client_get_blob(struct reg_client *c, struct buf *out, const char *repo,
			const struct oci_digest *digest, struct err *err);

/* Use these credentials instead of the configured ones (login). */
int reg_client_set_creds(struct reg_client *c, const char *user,
			 const char *pass);

/* GET /v2/ with credentials: checks reachability and that credentials
 * are accepted. */
int reg_client_ping(struct reg_client *c, struct err *err);

void reg_strv_free(char **v);

/* Per-registry settings (from a sync configuration). */
enum reg_tls {
	REG_TLS_DEFAULT = 0,
	REG_TLS_VERIFY,
	REG_TLS_PLAIN,
	REG_TLS_INSECURE
};
struct reg_host_options {
	enum reg_tls tls;	/* VERIFY: https, verified, even on loopback;
				   PLAIN: http only; INSECURE: https without
				   verification, else http */
	int max_connections;	/* 0: the global option */
	double rate;		/* requests per second; 0: unlimited */
	const char *ca_file;	/* extra CA (PEM), added to the system's */
	const char *cert, *key; /* client certificate */
};
int reg_client_configure(struct reg_client *c, const struct reg_host_options *h,
			 struct err *err);
int reg_client_max_connections(const struct reg_client *c);
/* Wait as long as the rate limit asks before the next request. */
void reg_client_throttle(struct reg_client *c);

/* --- for registry/transfer.c --- */

/* "https://host:port" (scheme chosen on first use). */
int reg_client_base_url(struct reg_client *c, const char **out,
			struct err *err);
/* Authorization header line for the pull (or push) scope of repo, or NULL
 * when anonymous. Obtains a token when the registry wants one. The string
 * is owned by the client and valid until the next call. */
int reg_client_auth_header(struct reg_client *c, const char **out,
			   const char *repo, int push, struct err *err);
/* A request body: `length` bytes of data, or of fd from offset when data
 * is NULL (read with pread, so a retry re-sends from the start). */
struct reg_body {
	const char *data;
	int fd;
	int64_t offset, length;
	const char *content_type;  /* default application/octet-stream */
	const char *content_range; /* header value, or NULL */
};
struct reg_response;
/* One request with auth (push scope when push) and the client's retries;
 * url is "/v2/..." or absolute. The caller interprets r->status; 401 after
 * re-authentication is ERR_UNAUTHORIZED. body may be NULL. */
int reg_client_request(struct reg_client *c, const char *method,
		       const char *url, const char *repo, int push,
		       const struct reg_body *body, struct reg_response *r,
		       struct err *err);
/* Forget the cached token for repo (after a 401). */
void reg_client_auth_invalidate(struct reg_client *c, const char *repo);
/* Apply TLS, timeouts, share handle and user agent to an easy handle. */
void reg_client_setup_easy(struct reg_client *c, void *curl);
/* Backoff before retry `attempt` (1-based), in ms, honouring retry_after
 * seconds when > 0. */
long reg_backoff_ms(const struct reg_options *o, int attempt, long retry_after);
void reg_logf(const struct reg_options *o, enum reg_log_level lvl,
	      const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#endif
