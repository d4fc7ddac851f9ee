/* The read endpoints (GET and HEAD), one per route kind. Each answers
 * through respond.h (an OCI error body for absent or invalid things) and
 * returns what the MHD handler returns. r->rt is a parsed route of the
 * matching kind, r->q its query. */
#ifndef MIRROR_SERVE_READ_H
#define MIRROR_SERVE_READ_H

#include "mirror/serve/internal.h"

/* RT_MANIFEST by tag or digest; If-None-Match answers 304. */
enum MHD_Result read_manifest(struct req *r, struct MHD_Connection *c);
/* RT_BLOB by digest, linked to the repository; one Range honoured. */
enum MHD_Result read_blob(struct req *r, struct MHD_Connection *c);
/* RT_TAGS, sorted, paged by n and last with a Link to the next page. */
enum MHD_Result read_tags(struct req *r, struct MHD_Connection *c);
/* RT_CATALOG: the repositories, paged like the tags. */
enum MHD_Result read_catalog(struct req *r, struct MHD_Connection *c);
/* RT_REFERRERS: an image index of the subject's referrers. */
enum MHD_Result read_referrers(struct req *r, struct MHD_Connection *c);
/* RT_APPS: the Margo application catalog of the store. */
enum MHD_Result read_apps(struct req *r, struct MHD_Connection *c);

#endif
