/* Pushes: upload sessions (monolithic, streamed, chunked), cross-repository
 * mounts, manifest PUT with validation, deletes.
 *
 * The dispatcher calls upload_begin on the first callback of a write
 * request (after authentication), upload_body for each piece of its body,
 * upload_end when the body is complete, and upload_abort when the request
 * ends (always; it releases what the request still holds). Answers go
 * through respond.h. Sessions live in struct server under srv->mu. */
#ifndef MIRROR_SERVE_UPLOAD_H
#define MIRROR_SERVE_UPLOAD_H

#include <stddef.h>

#include "mirror/serve/internal.h"

enum MHD_Result upload_begin(struct req *r, struct MHD_Connection *c,
			     const char *method);
/* Body bytes: into the blob writer or the manifest buffer. A failure is
 * kept in r->err and answered by upload_end. */
void upload_body(struct req *r, const char *data, size_t n);
/* First callback of a deploy or match POST: a Content-Length over its cap
 * sets r->body_too_large, else the whole body is reserved from the body
 * budget now (r->body_busy when over it), so either refusal is answered
 * before 100 Continue. */
void upload_api_begin(struct req *r, struct MHD_Connection *c);
/* Also answers GET/HEAD of an upload session (its status). */
enum MHD_Result upload_end(struct req *r, struct MHD_Connection *c,
			   const char *method);
void upload_abort(struct req *r);
/* Free every session (at shutdown, no request running). */
void upload_sessions_release(struct server *srv);
size_t upload_sessions_count(struct server *srv);

#endif
