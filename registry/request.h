/* Internal to registry/: one call to the registry with authentication and
 * retries. Each attempt takes the current Authorization header from the
 * token cache (fetching a token when needed), waits for the rate limit,
 * and performs the request on the connection's easy handle. A 401 is
 * answered by learning the host's challenge (at most twice); transient
 * failures (registry/retry.h) are retried with backoff, honouring
 * Retry-After. */
#ifndef REGISTRY_REQUEST_H
#define REGISTRY_REQUEST_H

#include <stdint.h>

#include "oci/err.h"
#include "registry/conn.h"
#include "registry/http.h"
#include "registry/token.h"

/* A request body: `length` bytes of data, or of fd from offset when data
 * is NULL (read with pread, so a retry re-sends from the start). */
struct reg_body {
	const char *data;
	int fd;
	int64_t offset, length;
	const char *content_type;  /* default application/octet-stream */
	const char *content_range; /* header value, or NULL */
};

struct reg_call {
	const char *method; /* "GET", "HEAD", "POST", "PUT", "PATCH", ... */
	const char *url;    /* "/v2/..." on the host, or absolute */
	const char *accept; /* Accept header value, or NULL */
	const char *repo;   /* scope of the token; NULL for none */
	int push;	    /* push scope instead of pull */
	const struct reg_body *body; /* NULL: no body */
	/* another endpoint can answer (a mirror's chain): a transport
	 * failure gives up after one retry instead of the whole series */
	int failover;
};

/* The reading side of a request body, rewound on every attempt. */
struct reg_body_reader {
	const struct reg_body *b;
	int64_t pos;
};

/* Set the method and body of call on h (br reads the body; it must live
 * as long as the transfer); returns the headers they need (Content-Type,
 * Content-Range, an empty Expect), for the caller to send and free. */
struct curl_slist *reg_call_setup(CURL *h, const struct reg_call *call,
				  struct reg_body_reader *br);
/* "Name: value" appended to h. */
struct curl_slist *reg_header_add(struct curl_slist *h, const char *name,
				  const char *value);

/* Perform call into out (reset first; its body cap is kept). 0 when an
 * answer came: the caller judges out->status. Errors name the method and
 * URL: a body over the cap is ERR_TOO_LARGE, a 401 after
 * re-authentication ERR_UNAUTHORIZED, a timeout after the last retry
 * ERR_TIMEOUT, other transport failures ERR_FAIL. */
int reg_request(struct reg_conn *conn, struct reg_token_cache *t,
		struct reg_response *out, const struct reg_call *call,
		struct err *err);

#endif
