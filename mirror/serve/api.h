/* The catalog pages' API (GET /ocimirror/v1/...): one Margo package in
 * detail, a resource of a package, and every repository with its tags.
 * An extension: the distribution spec has none of these. Answers are
 * JSON (respond.h adds the page headers); an unknown repository, tag,
 * package or path is 404 with an OCI error body, a store failure 503. */
#ifndef MIRROR_SERVE_API_H
#define MIRROR_SERVE_API_H

#include <jansson.h>

#include "mirror/serve/internal.h"

/* RT_APP: ?repo=R[&tag=T] (no tag: the highest version), as
 * margo_browse_app with each resource a /ocimirror/v1/resource URL. */
enum MHD_Result api_app(struct req *r, struct MHD_Connection *c);
/* RT_RESOURCE: ?repo&tag&path: the bytes of the package's layer titled
 * path, typed by margo_resource_content_type; non-images as attachments. */
enum MHD_Result api_resource(struct req *r, struct MHD_Connection *c);
/* RT_REPOS: [{repository, tags: [{tag, digest, mediaType, platforms,
 * size, signatures, sboms, referrers}]}]. */
enum MHD_Result api_repos(struct req *r, struct MHD_Connection *c);

/* The /ocimirror/v1/resource URL of path in repo:tag, percent-encoded,
 * into dst; a JSON string (null when path is NULL). */
json_t *api_resource_url(const char *repo, const char *tag, const char *path);

#endif
