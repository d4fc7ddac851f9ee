/* The server's request parsers: the URL path into a route, the query
 * arguments the endpoints read, the Range header of a blob GET and the
 * Content-Range of an upload PATCH.
 *
 * Pure functions over strings: no I/O, no libmicrohttpd types, no state, so
 * that tests and fuzzers call them directly. Every input may be hostile
 * (any bytes but NUL); every result stays inside the buffers below, and a
 * refusal fills struct err with a one-line message naming the input. */
#ifndef MIRROR_SERVE_ROUTE_H
#define MIRROR_SERVE_ROUTE_H

#include <stdint.h>

#include "oci/digest.h"
#include "oci/err.h"
#include "oci/ref.h"

enum route_kind {
	RT_NONE, /* no such endpoint (404) */
	RT_BASE,
	RT_CATALOG,
	RT_MANIFEST,
	RT_BLOB,
	RT_UPLOAD_NEW, /* /blobs/uploads/ */
	RT_UPLOAD,     /* /blobs/uploads/<id> */
	RT_TAGS,
	RT_REFERRERS,
	RT_HEALTH,
	RT_METRICS,
	RT_APPS,     /* /ocimirror/v1/apps: the Margo catalog (an extension) */
	RT_APP,	     /* /ocimirror/v1/app?repo=R[&tag=T]: one package */
	RT_RESOURCE, /* /ocimirror/v1/resource?repo&tag&path */
	RT_REPOS,    /* /ocimirror/v1/repos: repositories and tags */
	RT_CONFIG,   /* /ocimirror/v1/config (api_deploy.h) */
	RT_DEPLOY,   /* /ocimirror/v1/deploy: a POST that writes nothing */
	RT_DEVICES,  /* /ocimirror/v1/devices (api_match.h) */
	RT_DEVICE,   /* /ocimirror/v1/device?name=N */
	RT_MATCH,    /* /ocimirror/v1/match: a POST that writes nothing */
	RT_SYNC,     /* /ocimirror/v1/sync: the last sync run */
	RT_UI, /* "/" and /ui/...: the embedded web page (mirror/serve/ui.c) */
};

/* Why route_parse refused a path (the answer's OCI error code follows). */
enum route_bad {
	ROUTE_OK,
	ROUTE_BAD_NAME, /* repository name or ns invalid: NAME_INVALID */
	ROUTE_BAD_REF,	/* digest invalid, or a tag where only digests go */
	ROUTE_BAD_TAG,	/* a tag that cannot exist (404 on reads) */
};

struct route {
	enum route_kind kind;
	enum route_bad bad;
	char name[OCI_REPO_MAX]; /* as the client wrote it */
	char repo[OCI_REPO_MAX]; /* in the store (ns applied) */
	char ns_query[300];	 /* "?ns=docker.io" or "" for Locations */
	char ref[OCI_TAG_MAX + OCI_DIGEST_MAX];
	int is_digest; /* ref parsed into digest */
	struct oci_digest digest;
	char upload_id[64];
};

/* Split a decoded path ("/v2/<name>/manifests/<ref>", "/v2/_catalog", ...)
 * into *out; ns (the ?ns= argument, may be NULL) prefixes the repository
 * in the store. A path that is no endpoint is 0 with kind RT_NONE. On
 * ERR_INVALID, out->bad says which part failed and out->kind and the parts
 * parsed before it stay filled (so the answer can name them). */
int route_parse(struct route *out, const char *path, const char *ns,
		struct err *err);

/* The query arguments the endpoints read. Pointers are borrowed from the
 * caller's strings and live as long as they do. */
struct route_query {
	const char *ns;
	const char *last;   /* tags/list and _catalog: start after */
	const char *digest; /* POST uploads: monolithic, PUT: close */
	const char *mount;  /* POST uploads: cross-repository mount */
	const char *from;
	const char *n_text; /* as given, for messages */
	long n;		    /* page size; -1 when absent */
	int n_bad;	    /* n given but not a non-negative number */
	int has_artifact_type;
	char artifact_type[256]; /* referrers filter, '+' restored */
	/* the filter was longer than any media type (255): matches nothing */
	int artifact_type_overlong;
	/* the catalog pages (/ocimirror/v1/): a package, a resource path */
	const char *repo, *tag, *path;
};

void route_query_init(struct route_query *out);
/* One decoded argument (value NULL for a bare "key"). The first of
 * repeated keys counts; unknown keys are ignored. ERR_INVALID for a bad n
 * (recorded in out->n_bad; only list endpoints refuse it). */
int route_query_set(struct route_query *out, const char *key, const char *value,
		    struct err *err);
/* A raw query string ("n=2&last=x", without '?'), decoded in place the way
 * the server decodes arguments ('+' is a space, %XX but %00): the pointers
 * in *out point into query. The first error is returned; parsing goes on. */
int route_query_parse(struct route_query *out, char *query, struct err *err);

/* More query arguments than any endpoint reads, by far: a request with
 * more is refused (414) before they are parsed. */
#define ROUTE_QUERY_ARGS_MAX 64

/* The number of arguments in the query of request target uri ("/v2/...?
 * a=1&b"), counted the way the server splits them (at '&'); 0 without
 * a query. */
size_t route_query_count(const char *uri);

/* Percent-decode s in place: %XX except %00, which stays as it is and so
 * fails name, tag and digest validation later (a decoded NUL would cut
 * ".../manifests/v1%00x" to tag v1). Returns the new length. */
size_t route_unescape(char *s);

/* One "bytes=a-b", "bytes=a-" or "bytes=-n" over a blob of size bytes:
 * 0 and the part in *from_out, *len_out (always inside the blob);
 * ERR_INVALID when malformed or multi-range (serve the whole blob, as
 * RFC 9110 allows); ERR_NOT_FOUND when no byte of it exists (416). */
int route_range_parse(uint64_t *from_out, uint64_t *len_out, const char *h,
		      int64_t size, struct err *err);

/* An upload's Content-Range, "a-b" or "bytes a-b/total": first and last
 * byte, b >= a. ERR_INVALID otherwise. */
int route_content_range_parse(uint64_t *first_out, uint64_t *last_out,
			      const char *h, struct err *err);

#endif
