/* Internal to registry/: one HTTP exchange with captured status, the
 * headers the client acts on, and a capped body. A reg_response is
 * caller-owned: reg_response_init before use, reg_response_release after;
 * header values longer than their field are cut, a body over its cap sets
 * body_too_large and stops the transfer. No function here fails. */
#ifndef REGISTRY_HTTP_H
#define REGISTRY_HTTP_H

#include <curl/curl.h>

#include "oci/buf.h"

struct reg_response {
	long status;
	char content_type[256];
	char digest[160];    /* Docker-Content-Digest */
	char www_auth[2048]; /* WWW-Authenticate (first Bearer, else first) */
	char link[2048];     /* Link */
	char location[2048];
	long retry_after;	  /* seconds, 0 when absent */
	long long content_length; /* -1 when absent */
	char content_range[128];
	int oci_subject; /* OCI-Subject present (referrers API) */
	struct buf body; /* capped; error bodies are kept too */
	int body_too_large;
};

void reg_response_init(struct reg_response *r, size_t body_max);
void reg_response_release(struct reg_response *r);
/* Reset between attempts, keeping the cap. */
void reg_response_reset(struct reg_response *r);

/* Install header capture on an easy handle. The body goes to r->body
 * unless write_body is 0 (the caller installs its own writer). */
void reg_response_attach(struct reg_response *r, CURL *h, int write_body);

/* One line describing a failed response: "404 MANIFEST_UNKNOWN: manifest
 * unknown" from the OCI error body when there is one. */
void reg_response_describe(char *dst, size_t cap, const struct reg_response *r);

/* Parse a Retry-After value (seconds or HTTP date) into seconds. */
long reg_parse_retry_after(const char *v);

#endif
