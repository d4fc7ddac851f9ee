/* Image references, docker/distribution grammar.
 *
 *   [HOST[:PORT]/]PATH[:TAG][@DIGEST]
 *
 * HOST is a domain ("registry.local", "localhost"), an IPv4 address or a
 * bracketed IPv6 address ("[::1]"), optionally with ":PORT". The first
 * component is a host only if it contains '.' or ':', is "localhost", or is
 * bracketed; otherwise the whole string is a Docker Hub path. Docker Hub
 * ("docker.io", also "index.docker.io", "registry-1.docker.io") single
 * component paths get "library/". The tag defaults to "latest" only when
 * neither tag nor digest is given.
 *
 * PATH components: [a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*, joined by '/'. The
 * whole name (host + '/' + path) is at most 255 characters; tags match
 * [A-Za-z0-9_][A-Za-z0-9._-]{0,127}. Anything else is ERR_INVALID with a
 * message saying which part is wrong. A parsed repository, tag and digest
 * are safe to use as path components in the store. */
#ifndef OCI_REF_H
#define OCI_REF_H

#include "oci/digest.h"
#include "oci/err.h"

#define OCI_NAME_MAX 255
#define OCI_TAG_MAX 128

struct oci_ref {
	char host[OCI_NAME_MAX +
		  1]; /* "docker.io", "localhost:5000", "[::1]:5000" */
	char path[OCI_NAME_MAX + 1]; /* "library/nginx" */
	char tag[OCI_TAG_MAX + 1];   /* "" when absent */
	int has_digest;
	struct oci_digest digest;
};

/* Parse s into out. */
int oci_ref_parse(struct oci_ref *out, const char *s, struct err *err);

/* Parse a repository name without tag or digest ("nginx",
 * "ghcr.io/org/app"), applying the same defaults. */
int oci_ref_parse_repo(struct oci_ref *out, const char *s, struct err *err);

/* Validation of the separate parts; 1 if valid, 0 if not. */
int oci_path_valid(const char *path);
int oci_tag_valid(const char *tag);
/* host[0..n) is HOST[:PORT] as above, at most OCI_NAME_MAX characters. */
int oci_host_valid(const char *host, size_t n);

/* 1 when name ("HOST/PATH...", a reference or a repository name) starts
 * with a host: a '/' follows the first component and that component has
 * '.' or ':', is bracketed, or is "localhost". The one rule that tells a
 * registry from a Docker Hub path; a name without '/' has no host. */
int oci_name_has_host(const char *name);

/* 1 when the first component of name (all of it when there is no '/')
 * has '.' or ':', is bracketed, or is "localhost": the name cannot be a
 * Docker Hub short name, so no "docker.io/" is put in front of it. */
int oci_name_first_looks_like_host(const char *name);

/* Full repository name "host/path" into dst (at least OCI_NAME_MAX+1 bytes
 * plus host; use OCI_REPO_MAX). */
#define OCI_REPO_MAX (2 * OCI_NAME_MAX + 2)
void oci_ref_repo(const struct oci_ref *r, char *dst, size_t cap);

/* A repository name as the store and the server keep it, without the
 * parser's defaults: "HOST/PATH" when oci_name_has_host, else a host-less
 * PATH ("team/app", pushed to the server without a host; "app"). At most
 * OCI_REPO_MAX characters; each part as above. 1 if valid, 0 if not. */
int oci_repo_name_valid(const char *repo);

/* Canonical string "host/path:tag@digest" (parts present only). */
#define OCI_REF_STR_MAX (OCI_REPO_MAX + OCI_TAG_MAX + OCI_DIGEST_MAX + 4)
void oci_ref_format(const struct oci_ref *r, char *dst, size_t cap);

/* The host to connect to: "registry-1.docker.io" for docker.io, else host. */
const char *oci_ref_endpoint(const struct oci_ref *r);

#endif
