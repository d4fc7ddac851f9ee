#include "mirror/serve/respond.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define API_HEADER "Docker-Distribution-API-Version"
#define API_VALUE "registry/2.0"

struct MHD_Response *respond_empty(void)
{
	return MHD_create_response_from_buffer(0, (void *)"",
					       MHD_RESPMEM_PERSISTENT);
}

static void header_once(struct MHD_Response *resp, const char *name,
			const char *value)
{
	if (!MHD_get_response_header(resp, name))
		MHD_add_response_header(resp, name, value);
}

void respond_page_headers(struct MHD_Response *resp)
{
	const char *ct = MHD_get_response_header(resp, "Content-Type");

	header_once(resp, "Content-Security-Policy", RESPOND_CSP);
	header_once(resp, "X-Content-Type-Options", "nosniff");
	header_once(resp, "Referrer-Policy", "no-referrer");
	if (ct && !strncmp(ct, "application/json", 16))
		header_once(resp, "Cache-Control", "no-store");
}

enum MHD_Result respond_send(struct req *r, struct MHD_Connection *c,
			     unsigned status, struct MHD_Response *resp)
{
	enum MHD_Result ret;

	if (!resp)
		return MHD_NO;
	MHD_add_response_header(resp, API_HEADER, API_VALUE);
	if (!strncmp(r->url, "/ocimirror/v1/", 14) || !strcmp(r->url, "/") ||
	    !strncmp(r->url, "/ui/", 4))
		respond_page_headers(resp);
	else if (!strncmp(r->url, "/v2/", 4) &&
		 (strstr(r->url, "/blobs/") || strstr(r->url, "/manifests/")))
		/* stored bytes opened in a browser run nothing */
		header_once(resp, "Content-Security-Policy",
			    RESPOND_CSP_CONTENT);
	header_once(resp, "X-Content-Type-Options", "nosniff");
	r->status = status;
	r->responded = 1;
	if (r->first) {
		r->pending = resp;
		return MHD_YES;
	}
	ret = MHD_queue_response(c, status, resp);
	MHD_destroy_response(resp);
	return ret;
}

enum MHD_Result respond_pending(struct req *r, struct MHD_Connection *c)
{
	struct MHD_Response *resp = r->pending;
	enum MHD_Result ret;

	r->pending = NULL;
	ret = MHD_queue_response(c, r->status, resp);
	MHD_destroy_response(resp);
	return ret;
}

enum MHD_Result respond_json(struct req *r, struct MHD_Connection *c,
			     unsigned status, const char *ctype,
			     const char *json, size_t len,
			     struct MHD_Response **keep)
{
	struct MHD_Response *resp = MHD_create_response_from_buffer(
	    len, (void *)json, MHD_RESPMEM_MUST_COPY);

	if (!resp)
		return MHD_NO;
	MHD_add_response_header(resp, "Content-Type", ctype);
	if (keep) {
		*keep = resp;
		return MHD_YES;
	}
	r->bytes_out += len;
	return respond_send(r, c, status, resp);
}

static enum MHD_Result error_send(struct req *r, struct MHD_Connection *c,
				  unsigned status, const char *code,
				  const char *msg)
{
	json_t *j;
	char *text;
	struct MHD_Response *resp;

	j = json_pack("{s:[{s:s,s:s}]}", "errors", "code", code, "message",
		      msg);
	text = json_dumps(j, JSON_COMPACT);
	json_decref(j);
	if (!text)
		return MHD_NO;
	resp = MHD_create_response_from_buffer(strlen(text), text,
					       MHD_RESPMEM_MUST_FREE);
	if (!resp) {
		free(text);
		return MHD_NO;
	}
	MHD_add_response_header(resp, "Content-Type", "application/json");
	r->bytes_out += strlen(text);
	if (status == 401) {
		MHD_add_response_header(resp, "WWW-Authenticate",
					"Basic realm=\"ocimirror\"");
	}
	if (status == 503) {
		char ra[16];
		snprintf(ra, sizeof(ra), "%u",
			 r->retry_after ? r->retry_after : 1);
		MHD_add_response_header(resp, "Retry-After", ra);
	}
	return respond_send(r, c, status, resp);
}

enum MHD_Result respond_json_value(struct req *r, struct MHD_Connection *c,
				   unsigned status, json_t *j)
{
	char *text = j ? json_dumps(j, JSON_COMPACT) : NULL;
	enum MHD_Result ret;

	json_decref(j);
	if (!text)
		return respond_error(r, c, 500, "UNKNOWN", "out of memory");
	ret = respond_json(r, c, status, "application/json", text, strlen(text),
			   NULL);
	free(text);
	return ret;
}

enum MHD_Result respond_error(struct req *r, struct MHD_Connection *c,
			      unsigned status, const char *code,
			      const char *fmt, ...)
{
	char msg[600];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return error_send(r, c, status, code, msg);
}

enum MHD_Result respond_unavailable(struct req *r, struct MHD_Connection *c,
				    const char *fmt, ...)
{
	char msg[600];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return error_send(r, c, 503, "UNAVAILABLE", msg);
}

enum MHD_Result respond_fd(struct req *r, struct MHD_Connection *c, int fd,
			   int64_t size, const char *ctype, const char *digest,
			   uint64_t from, uint64_t len, int partial)
{
	struct MHD_Response *resp;

	resp = MHD_create_response_from_fd_at_offset64(len, fd, from);
	if (!resp) {
		close(fd);
		return MHD_NO;
	}
	return respond_blob(r, c, resp, size, ctype, digest, from, len,
			    partial);
}

enum MHD_Result respond_blob(struct req *r, struct MHD_Connection *c,
			     struct MHD_Response *resp, int64_t size,
			     const char *ctype, const char *digest,
			     uint64_t from, uint64_t len, int partial)
{
	char range[128], etag[160];

	MHD_add_response_header(resp, "Content-Type", ctype);
	MHD_add_response_header(resp, "Docker-Content-Digest", digest);
	snprintf(etag, sizeof(etag), "\"%s\"", digest);
	MHD_add_response_header(resp, "ETag", etag);
	MHD_add_response_header(resp, "Accept-Ranges", "bytes");
	if (partial) {
		snprintf(range, sizeof(range), "bytes %llu-%llu/%lld",
			 (unsigned long long)from,
			 (unsigned long long)(from + len - 1), (long long)size);
		MHD_add_response_header(resp, "Content-Range", range);
	}
	r->bytes_out += len;
	return respond_send(r, c, partial ? 206 : 200, resp);
}
