/* Sending answers: every response of the server goes through respond_send,
 * which adds the API version header, records the status for the access log
 * and the counters, and holds an answer given before the request body was
 * read (r->first) until the dispatcher has drained it (respond_pending).
 *
 * Each function takes the response it is given (frees it, or keeps it in
 * r->pending) and returns what the MHD handler must return; MHD_NO means
 * out of memory, and MHD then closes the connection. */
#ifndef MIRROR_SERVE_RESPOND_H
#define MIRROR_SERVE_RESPOND_H

#include <jansson.h>
#include <stdint.h>

#include "mirror/serve/internal.h"

/* Queue resp with status, counting the status. NULL resp: MHD_NO. */
enum MHD_Result respond_send(struct req *r, struct MHD_Connection *c,
			     unsigned status, struct MHD_Response *resp);
/* An OCI error body {"errors":[{"code","message"}]}; 401 adds the Basic
 * challenge. */
enum MHD_Result respond_error(struct req *r, struct MHD_Connection *c,
			      unsigned status, const char *code,
			      const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
/* 503 UNAVAILABLE with Retry-After (r->retry_after seconds, else 1): a
 * resource limit (descriptors, sessions, memory), never "not found". */
enum MHD_Result respond_unavailable(struct req *r, struct MHD_Connection *c,
				    const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* A body (copied) with a content type. With keep, the response is built
 * and handed back unsent (for more headers; the caller counts the bytes
 * and sends it); otherwise it is sent. */
enum MHD_Result respond_json(struct req *r, struct MHD_Connection *c,
			     unsigned status, const char *ctype,
			     const char *json, size_t len,
			     struct MHD_Response **keep);
/* j (taken: always released) as compact JSON with status, the one way a
 * JSON value becomes an answer; NULL j or out of memory: 500. */
enum MHD_Result respond_json_value(struct req *r, struct MHD_Connection *c,
				   unsigned status, json_t *j);
/* An empty body, for headers-only answers (NULL when out of memory). */
struct MHD_Response *respond_empty(void);
/* len bytes of the open file fd (taken: closed by MHD) from offset from,
 * with the digest headers; partial: 206 with Content-Range over size. */
enum MHD_Result respond_fd(struct req *r, struct MHD_Connection *c, int fd,
			   int64_t size, const char *ctype, const char *digest,
			   uint64_t from, uint64_t len, int partial);
/* respond_fd's headers (Content-Type, Docker-Content-Digest, ETag,
 * Accept-Ranges, Content-Range when partial) on resp, a blob's answer of
 * len bytes from from (a remote store's callback response), then sent. */
enum MHD_Result respond_blob(struct req *r, struct MHD_Connection *c,
			     struct MHD_Response *resp, int64_t size,
			     const char *ctype, const char *digest,
			     uint64_t from, uint64_t len, int partial);
/* The policy of the catalog pages and their API: nothing but the
 * server's own scripts, styles and images (and data: images), no plugins,
 * no framing, no <base>. */
#define RESPOND_CSP                                                            \
	"default-src 'self'; img-src 'self' data:; object-src 'none'; "        \
	"base-uri 'none'; frame-ancestors 'none'"
/* The policy of stored content served as it is (blobs, manifests). */
#define RESPOND_CSP_CONTENT "default-src 'none'; sandbox"
/* The headers of every /ocimirror/v1/ answer and of the UI's pages ("/",
 * "/ui/..."): Content-Security-Policy RESPOND_CSP, X-Content-Type-Options
 * nosniff, Referrer-Policy no-referrer and, for a JSON body (its
 * Content-Type set before), Cache-Control no-store. A header already on
 * resp is left as it is. respond_send adds them for those paths, adds
 * X-Content-Type-Options nosniff to every answer, and to /v2/ blob and
 * manifest answers Content-Security-Policy RESPOND_CSP_CONTENT. */
void respond_page_headers(struct MHD_Response *resp);
/* Send the answer held in r->pending. */
enum MHD_Result respond_pending(struct req *r, struct MHD_Connection *c);

#endif
