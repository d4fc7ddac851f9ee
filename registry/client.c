#include "registry/client.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "oci/manifest.h"
#include "oci/mediatype.h"
#include "registry/conn.h"
#include "registry/http.h"
#include "registry/request.h"
#include "registry/token.h"
#include "oci/vec.h"

#define TAGS_PAGE_MAX (16u * 1024 * 1024)
#define ERROR_BODY_MAX (64u * 1024)

struct reg_client {
	struct reg_conn conn;
	struct reg_token_cache tokens;
};

int reg_client_new(struct reg_client **out, const char *host,
		   const struct reg_options *opt, struct err *err)
{
	struct reg_client *c = calloc(1, sizeof(*c));
	int rc;

	*out = NULL;
	if (!c)
		return err_set(err, ERR_FAIL, "%s: out of memory", host);
	rc = reg_conn_init(&c->conn, host, opt, err);
	if (rc) {
		free(c);
		return rc;
	}
	*out = c;
	return 0;
}

void reg_client_free(struct reg_client *c)
{
	if (!c)
		return;
	reg_token_cache_release(&c->tokens);
	reg_conn_release(&c->conn);
	free(c);
}

const char *reg_client_host(const struct reg_client *c)
{
	return c->conn.host;
}

const struct reg_options *reg_client_options(const struct reg_client *c)
{
	return c->conn.opt;
}

int reg_client_configure(struct reg_client *c, const struct reg_host_options *h,
			 struct err *err)
{
	return reg_conn_configure(&c->conn, h, err);
}

int reg_client_max_connections(const struct reg_client *c)
{
	return c->conn.max_connections > 0 ? c->conn.max_connections
					   : c->conn.opt->max_connections;
}

void reg_client_throttle(struct reg_client *c)
{
	reg_conn_throttle(&c->conn);
}

void reg_client_setup_easy(struct reg_client *c, void *curl)
{
	reg_conn_setup_easy(&c->conn, curl);
}

int reg_client_base_url(struct reg_client *c, const char **out, struct err *err)
{
	return reg_conn_base_url(&c->conn, out, err);
}

int reg_client_auth_header(struct reg_client *c, const char **out,
			   const char *repo, int push, struct err *err)
{
	return reg_token_header(&c->tokens, &c->conn, out, repo, push, err);
}

void reg_client_auth_invalidate(struct reg_client *c, const char *repo)
{
	reg_token_invalidate(&c->tokens, repo);
}

int reg_client_set_creds(struct reg_client *c, const char *user,
			 const char *pass, struct err *err)
{
	return reg_token_set_creds(&c->tokens, c->conn.host, user, pass, err);
}

int reg_client_request(struct reg_client *c, struct reg_response *out,
		       const char *method, const char *url, const char *repo,
		       int push, const struct reg_body *body, struct err *err)
{
	struct reg_call call = {method, url, NULL, repo, push, body};

	return reg_request(&c->conn, &c->tokens, out, &call, err);
}

/* A body-less pull-scope request with an Accept header. */
static int request(struct reg_client *c, struct reg_response *out,
		   const char *method, const char *path, const char *accept,
		   const char *repo, struct err *err)
{
	struct reg_call call = {method, path, accept, repo, 0, NULL};

	return reg_request(&c->conn, &c->tokens, out, &call, err);
}

/* What joins repo and ref in a message: '@' before a digest (a tag has
 * no ':'), else ':'. */
static const char *ref_sep(const char *ref)
{
	return strchr(ref, ':') ? "@" : ":";
}

static int status_error(const char *what, const char *repo, const char *ref,
			const struct reg_response *r, struct err *err)
{
	char d[300];
	const char *sep = ref_sep(ref);

	reg_response_describe(d, sizeof(d), r);
	if (r->status == 404)
		return err_set(err, ERR_NOT_FOUND, "%s %s%s%s: not found (%s)",
			       what, repo, sep, ref, d);
	if (r->status == 403)
		return err_set(err, ERR_UNAUTHORIZED, "%s %s%s%s: denied (%s)",
			       what, repo, sep, ref, d);
	return err_set(err, ERR_FAIL, "%s %s%s%s: %s", what, repo, sep, ref, d);
}

void reg_manifest_release(struct reg_manifest *m)
{
	free(m->body);
	free(m->content_type);
	memset(m, 0, sizeof(*m));
}

static int manifest_common(struct reg_client *c, struct reg_manifest *out,
			   const char *method, const char *repo,
			   const char *ref, struct reg_response *r,
			   struct err *err)
{
	char path[1200];
	int rc;

	memset(out, 0, sizeof(*out));
	snprintf(path, sizeof(path), "/v2/%s/manifests/%s", repo, ref);
	rc = request(c, r, method, path, MT_ACCEPT_ALL, repo, err);
	if (rc)
		return err_wrap(err, "manifest %s/%s%s%s: ", c->conn.host, repo,
				ref_sep(ref), ref);
	if (r->status != 200)
		return status_error("manifest", repo, ref, r, err);
	out->content_type = strdup(r->content_type);
	if (r->digest[0] &&
	    oci_digest_parse(&out->digest, r->digest, NULL) == 0)
		out->has_digest = 1;
	return 0;
}

int reg_client_get_manifest(struct reg_client *c, struct reg_manifest *out,
			    const char *repo, const char *ref, struct err *err)
{
	struct reg_response r;
	struct oci_digest want, got;
	int rc;

	reg_response_init(&r, OCI_MANIFEST_MAX);
	rc = manifest_common(c, out, "GET", repo, ref, &r, err);
	if (rc) {
		if (rc == ERR_TOO_LARGE)
			err_set(err, ERR_TOO_LARGE,
				"manifest %s/%s%s%s is larger than %u bytes; "
				"refused",
				c->conn.host, repo, ref_sep(ref), ref,
				OCI_MANIFEST_MAX);
		goto out;
	}
	out->len = r.body.len;
	out->body = buf_detach(&r.body, NULL);
	if (oci_digest_parse(&want, ref, NULL) == 0) {
		oci_digest_of(&got, want.alg, out->body, out->len);
		if (!oci_digest_equal(&want, &got)) {
			rc = err_set(
			    err, ERR_DIGEST,
			    "manifest %s/%s@%s: digest mismatch: got %s",
			    c->conn.host, repo, want.str, got.str);
			goto out;
		}
	} else if (out->has_digest) {
		oci_digest_of(&got, out->digest.alg, out->body, out->len);
		if (!oci_digest_equal(&out->digest, &got)) {
			rc = err_set(err, ERR_DIGEST,
				     "manifest %s/%s:%s: digest mismatch: "
				     "registry says %s, body is %s",
				     c->conn.host, repo, ref, out->digest.str,
				     got.str);
			goto out;
		}
	}
	rc = 0;
out:
	if (rc)
		reg_manifest_release(out);
	reg_response_release(&r);
	return rc;
}

int reg_client_head_manifest(struct reg_client *c, struct reg_manifest *out,
			     int64_t *size_out, const char *repo,
			     const char *ref, struct err *err)
{
	struct reg_response r;
	int rc;

	reg_response_init(&r, ERROR_BODY_MAX);
	rc = manifest_common(c, out, "HEAD", repo, ref, &r, err);
	if (size_out)
		*size_out = r.content_length;
	if (rc)
		reg_manifest_release(out);
	reg_response_release(&r);
	return rc;
}

/* Out of memory is ERR_FAIL, for the caller to name the list. */
static int strv_push(char ***v, size_t *n, size_t *cap, const char *s)
{
	char *copy;

	if (OCI_VEC_RESERVE(*v, *n, *cap, 2, 0))
		return ERR_FAIL;
	copy = strdup(s);
	if (!copy)
		return ERR_FAIL;
	(*v)[(*n)++] = copy;
	(*v)[*n] = NULL;
	return 0;
}

/* Next page from a Link header: <url>; rel="next". */
static int link_next(const char *link, char *dst, size_t cap)
{
	const char *lt = strchr(link, '<'), *gt;

	if (!lt || !strstr(link, "rel=\"next\""))
		return 0;
	gt = strchr(lt, '>');
	if (!gt || (size_t)(gt - lt - 1) >= cap)
		return 0;
	snprintf(dst, cap, "%.*s", (int)(gt - lt - 1), lt + 1);
	return 1;
}

static int paginate(struct reg_client *c, const char *first, const char *key,
		    const char *repo, char ***out, size_t *n_out,
		    struct err *err)
{
	struct reg_response r;
	char path[2048];
	char **v = NULL;
	size_t n = 0, cap = 0;
	int rc = 0;

	*out = NULL;
	*n_out = 0;
	reg_response_init(&r, TAGS_PAGE_MAX);
	snprintf(path, sizeof(path), "%s", first);
	for (int page = 0; page < 100000; page++) {
		json_t *j, *arr, *it;
		size_t i;

		rc = request(c, &r, "GET", path, "application/json", repo, err);
		if (rc)
			break;
		if (r.status != 200) {
			rc = status_error("list", repo ? repo : "", key, &r,
					  err);
			break;
		}
		j = json_loadb(r.body.data, r.body.len, 0, NULL);
		arr = json_object_get(j, key);
		if (!j || (!json_is_array(arr) && !json_is_null(arr) && arr)) {
			json_decref(j);
			rc = err_set(err, ERR_INVALID,
				     "%s: malformed %s list from %s",
				     repo ? repo : c->conn.host, key, path);
			break;
		}
		json_array_foreach (arr, i, it) {
			if (json_is_string(it) &&
			    strv_push(&v, &n, &cap, json_string_value(it))) {
				rc =
				    err_set(err, ERR_FAIL,
					    "%s: out of memory after %zu %s",
					    repo ? repo : c->conn.host, n, key);
				break;
			}
		}
		json_decref(j);
		if (rc)
			break;
		if (!r.link[0] || !link_next(r.link, path, sizeof(path)))
			break;
	}
	reg_response_release(&r);
	if (rc) {
		oci_strv_free(v);
		return rc;
	}
	if (!v)
		v = calloc(1, sizeof(*v));
	if (!v)
		return err_set(err, ERR_FAIL, "%s: out of memory",
			       c->conn.host);
	*out = v;
	*n_out = n;
	return 0;
}

int reg_client_list_tags(struct reg_client *c, char ***tags_out, size_t *n_out,
			 const char *repo, struct err *err)
{
	char path[1200];

	snprintf(path, sizeof(path), "/v2/%s/tags/list?n=1000", repo);
	return paginate(c, path, "tags", repo, tags_out, n_out, err);
}

int reg_client_catalog(struct reg_client *c, char ***repos_out, size_t *n_out,
		       struct err *err)
{
	return paginate(c, "/v2/_catalog?n=1000", "repositories", NULL,
			repos_out, n_out, err);
}

int reg_client_referrers(struct reg_client *c, struct buf *index_out,
			 const char *repo, const struct oci_digest *subject,
			 struct err *err)
{
	struct reg_response r;
	struct reg_manifest m;
	char path[1200], tag[140];
	int rc;

	reg_response_init(&r, OCI_MANIFEST_MAX);
	snprintf(path, sizeof(path), "/v2/%s/referrers/%s", repo, subject->str);
	rc = request(c, &r, "GET", path, MT_OCI_INDEX, repo, err);
	if (rc)
		goto out;
	if (r.status == 200 && !strcmp(r.content_type, MT_OCI_INDEX)) {
		buf_reset(index_out);
		rc = buf_append(index_out, r.body.data, r.body.len);
		goto kept;
	}
	if (r.status != 404 && r.status != 200) {
		rc = status_error("referrers", repo, subject->str, &r, err);
		goto out;
	}
	/* fallback: the tag schema */
	snprintf(tag, sizeof(tag), "%s-%s", oci_digest_alg_name(subject->alg),
		 oci_digest_hex(subject));
	rc = reg_client_get_manifest(c, &m, repo, tag, err);
	buf_reset(index_out);
	if (rc == ERR_NOT_FOUND) {
		err_clear(err);
		rc = buf_puts(
		    index_out,
		    "{\"schemaVersion\":2,\"mediaType\":\"" MT_OCI_INDEX
		    "\",\"manifests\":[]}");
		goto kept;
	}
	if (rc)
		goto out;
	rc = buf_append(index_out, m.body, m.len);
	reg_manifest_release(&m);
kept:
	if (rc)
		rc = err_set(err, rc,
			     "referrers of %s in %s/%s: more than %zu bytes",
			     subject->str, c->conn.host, repo, index_out->max);
out:
	reg_response_release(&r);
	return rc;
}

int reg_client_ping(struct reg_client *c, struct err *err)
{
	struct reg_response r;
	int rc;

	reg_response_init(&r, ERROR_BODY_MAX);
	rc = request(c, &r, "GET", "/v2/", NULL, NULL, err);
	if (!rc && r.status != 200) {
		char d[300];
		reg_response_describe(d, sizeof(d), &r);
		rc = err_set(err, r.status == 401 ? ERR_UNAUTHORIZED : ERR_FAIL,
			     "%s: %s", c->conn.host, d);
	}
	reg_response_release(&r);
	return rc;
}

int reg_client_get_blob(struct reg_client *c, struct buf *out, const char *repo,
			const struct oci_digest *digest, struct err *err)
{
	struct reg_response r;
	struct oci_digest got;
	char path[1200];
	int rc;

	reg_response_init(&r, out->max);
	snprintf(path, sizeof(path), "/v2/%s/blobs/%s", repo, digest->str);
	/* a body that fails its digest is fetched once more, then refused */
	for (int attempt = 0;; attempt++) {
		rc = request(c, &r, "GET", path, NULL, repo, err);
		if (rc)
			goto out;
		if (r.status != 200) {
			rc = status_error("blob", repo, digest->str, &r, err);
			goto out;
		}
		oci_digest_of(&got, digest->alg, r.body.data, r.body.len);
		if (oci_digest_equal(&got, digest))
			break;
		if (attempt) {
			rc = err_set(err, ERR_DIGEST,
				     "blob %s/%s@%s: digest mismatch: got %s",
				     c->conn.host, repo, digest->str, got.str);
			goto out;
		}
		reg_logf(c->conn.opt, REG_LOG_WARN,
			 "blob %s/%s@%s: digest mismatch (got %s); fetching "
			 "it again",
			 c->conn.host, repo, digest->str, got.str);
	}
	buf_reset(out);
	rc = buf_append(out, r.body.data, r.body.len);
	if (rc)
		rc = err_set(err, rc, "blob %s/%s@%s: more than %zu bytes",
			     c->conn.host, repo, digest->str, out->max);
out:
	reg_response_release(&r);
	return rc;
}
