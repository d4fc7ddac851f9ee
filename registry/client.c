#include "registry/client.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "oci/manifest.h"
#include "oci/mediatype.h"
#include "registry/client_int.h"
#include "registry/conn.h"
#include "registry/engine.h"
#include "registry/http.h"
#include "registry/request.h"
#include "registry/token.h"
#include "oci/vec.h"

#define TAGS_PAGE_MAX (16u * 1024 * 1024)
#define ERROR_BODY_MAX (64u * 1024)

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
	struct reg_client *n, *next;
	int origin_freed = 0;

	if (!c)
		return;
	/* the engine first: its handles use the chain's share handles */
	reg_engine_free(c->own_engine);
	if (c->owns_chain) {
		for (n = c->next; n; n = next) {
			next = n->next;
			origin_freed |= n == c->origin;
			n->next = NULL;
			reg_client_free(n);
		}
		if (!origin_freed)
			reg_client_free(c->origin);
	}
	reg_token_cache_release(&c->tokens);
	reg_conn_release(&c->conn);
	free(c);
}

const char *reg_client_host(const struct reg_client *c)
{
	return c->conn.ns[0] ? c->conn.ns : c->conn.host;
}

const char *reg_client_endpoint(const struct reg_client *c)
{
	return c->conn.host;
}

static long long mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

struct reg_client *reg_client_pick(struct reg_client *c, int push)
{
	long long t = mono_ms();

	if (push)
		return c->origin ? c->origin : c;
	while (c->next && c->down_until_ms > t)
		c = c->next;
	return c;
}

void reg_client_mark_down(struct reg_client *c)
{
	c->down_until_ms = mono_ms() + REG_ENDPOINT_DOWN_MS;
}

void reg_client_log_failover(const struct reg_client *c, const char *why)
{
	reg_logf(c->conn.opt, REG_LOG_INFO,
		 "%s: mirror %s failed (%s), trying %s", reg_client_host(c),
		 c->conn.host, why, c->next ? c->next->conn.host : "nothing");
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
	/* a login is for the registry itself, not its mirrors */
	if (c->origin)
		c = c->origin;
	return reg_token_set_creds(&c->tokens, c->conn.host, user, pass, err);
}

/* Whether the answer to a read (rc, r) sends it to the next endpoint:
 * a transport failure (*transport set), 5xx or 429 after the retries, a
 * 404, a 401/403 that could not be answered. why gets the reason. */
static int fail_over_reason(int rc, const struct reg_response *r,
			    const struct err *err, char *why, size_t cap,
			    int *transport)
{
	*transport = 0;
	if (rc == ERR_UNAUTHORIZED ||
	    ((rc == ERR_FAIL || rc == ERR_TIMEOUT) && r->status)) {
		snprintf(why, cap, "%s", err->msg);
		return 1;
	}
	if (rc == ERR_FAIL || rc == ERR_TIMEOUT) {
		*transport = 1;
		snprintf(why, cap, "%s", err->msg);
		return 1;
	}
	if (rc || !(r->status == 404 || r->status == 401 || r->status == 403 ||
		    r->status == 429 || r->status >= 500))
		return 0;
	reg_response_describe(why, cap, r);
	return 1;
}

/* call on c's chain: a read goes to the first endpoint up and on to the
 * next while one fails (the last's answer stands), a push to the registry
 * itself. *ep_out (may be NULL) gets the endpoint that answered. */
static int chain_request(struct reg_client *c, struct reg_response *out,
			 const struct reg_call *call0,
			 struct reg_client **ep_out, struct err *err)
{
	int push = call0->push || (strcmp(call0->method, "GET") &&
				   strcmp(call0->method, "HEAD"));
	struct reg_client *ep = reg_client_pick(c, push);
	struct reg_call call = *call0;
	char why[ERR_MSG_MAX];
	int rc, transport;

	for (;;) {
		call.failover = !push && ep->next;
		rc = reg_request(&ep->conn, &ep->tokens, out, &call, err);
		if (!call.failover ||
		    !fail_over_reason(rc, out, err, why, sizeof(why),
				      &transport))
			break;
		if (transport)
			reg_client_mark_down(ep);
		reg_client_log_failover(ep, why);
		err_clear(err);
		ep = ep->next;
	}
	if (ep_out)
		*ep_out = ep;
	return rc;
}

int reg_client_request(struct reg_client *c, struct reg_response *out,
		       const char *method, const char *url, const char *repo,
		       int push, const struct reg_body *body, struct err *err)
{
	struct reg_call call = {method, url, NULL, repo, push, body, 0};

	return chain_request(c, out, &call, NULL, err);
}

/* A body-less pull-scope request with an Accept header; *ep_out (may be
 * NULL) gets the endpoint that answered. */
static int request_ep(struct reg_client *c, struct reg_response *out,
		      const char *method, const char *path, const char *accept,
		      const char *repo, struct reg_client **ep_out,
		      struct err *err)
{
	struct reg_call call = {method, path, accept, repo, 0, NULL, 0};

	return chain_request(c, out, &call, ep_out, err);
}

static int request(struct reg_client *c, struct reg_response *out,
		   const char *method, const char *path, const char *accept,
		   const char *repo, struct err *err)
{
	return request_ep(c, out, method, path, accept, repo, NULL, err);
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
	free(m->endpoint);
	memset(m, 0, sizeof(*m));
}

/* The answer r (or the request's failure rc) to a manifest request, into
 * out; a GET's body is taken and verified. */
static int manifest_judge(struct reg_client *c, struct reg_manifest *out,
			  const char *repo, const char *ref, int get, int rc,
			  struct reg_response *r, struct err *err)
{
	struct oci_digest want, got;

	memset(out, 0, sizeof(*out));
	if (rc) {
		err_wrap(err, "manifest %s/%s%s%s: ", c->conn.host, repo,
			 ref_sep(ref), ref);
		if (get && rc == ERR_TOO_LARGE)
			err_set(err, ERR_TOO_LARGE,
				"manifest %s/%s%s%s is larger than %u bytes; "
				"refused",
				c->conn.host, repo, ref_sep(ref), ref,
				OCI_MANIFEST_MAX);
		return rc;
	}
	if (r->status != 200)
		return status_error("manifest", repo, ref, r, err);
	out->content_type = strdup(r->content_type);
	if (r->digest[0] &&
	    oci_digest_parse(&out->digest, r->digest, NULL) == 0)
		out->has_digest = 1;
	if (!get)
		return 0;
	out->len = r->body.len;
	out->body = buf_detach(&r->body, NULL);
	rc = 0;
	if (oci_digest_parse(&want, ref, NULL) == 0) {
		oci_digest_of(&got, want.alg, out->body, out->len);
		if (!oci_digest_equal(&want, &got))
			rc = err_set(
			    err, ERR_DIGEST,
			    "manifest %s/%s@%s: digest mismatch: got %s",
			    c->conn.host, repo, want.str, got.str);
	} else if (out->has_digest) {
		oci_digest_of(&got, out->digest.alg, out->body, out->len);
		if (!oci_digest_equal(&out->digest, &got))
			rc = err_set(err, ERR_DIGEST,
				     "manifest %s/%s:%s: digest mismatch: "
				     "registry says %s, body is %s",
				     c->conn.host, repo, ref, out->digest.str,
				     got.str);
	}
	if (rc)
		reg_manifest_release(out);
	return rc;
}

static int manifest_call(struct reg_client *c, struct reg_manifest *out,
			 int64_t *size_out, const char *repo, const char *ref,
			 int get, struct err *err)
{
	struct reg_client *ep = c;
	struct reg_response r;
	char path[1200];
	int rc;

	reg_response_init(&r, get ? OCI_MANIFEST_MAX : ERROR_BODY_MAX);
	snprintf(path, sizeof(path), "/v2/%s/manifests/%s", repo, ref);
	rc = request_ep(c, &r, get ? "GET" : "HEAD", path, MT_ACCEPT_ALL, repo,
			&ep, err);
	if (size_out)
		*size_out = r.content_length;
	rc = manifest_judge(c, out, repo, ref, get, rc, &r, err);
	if (!rc && !(out->endpoint = strdup(ep->conn.host))) {
		reg_manifest_release(out);
		rc = err_set(err, ERR_FAIL, "manifest %s/%s: out of memory",
			     reg_client_host(c), repo);
	}
	reg_response_release(&r);
	return rc;
}

int reg_client_get_manifest(struct reg_client *c, struct reg_manifest *out,
			    const char *repo, const char *ref, struct err *err)
{
	return manifest_call(c, out, NULL, repo, ref, 1, err);
}

int reg_client_head_manifest(struct reg_client *c, struct reg_manifest *out,
			     int64_t *size_out, const char *repo,
			     const char *ref, struct err *err)
{
	return manifest_call(c, out, size_out, repo, ref, 0, err);
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
	if (!gt)
		return 0;
	if ((size_t)(gt - lt - 1) >= cap)
		return -1;
	snprintf(dst, cap, "%.*s", (int)(gt - lt - 1), lt + 1);
	return 1;
}

#define LIST_PAGES_MAX 100000
#define LIST_NAMES_MAX 1000000

/* One page of a list (r, the answer to path): its names appended to v;
 * *more set with the next page's path in path. */
/* A next-page link that is absolute on one of this registry's own
 * endpoints becomes a path: wherever the chain then sends it (failover,
 * an endpoint marked down) it goes with that endpoint's base and
 * credentials, never with another endpoint's credentials to this host. */
static void link_relative(const struct reg_client *c, char *next)
{
	for (const struct reg_client *ep = c; ep; ep = ep->next ? ep->next
						       : ep == c->origin
							   ? NULL
							   : c->origin) {
		size_t n = strlen(ep->conn.base);

		if (n && !strncmp(next, ep->conn.base, n) && next[n] == '/') {
			memmove(next, next + n, strlen(next + n) + 1);
			return;
		}
	}
}

static int page_take(struct reg_client *c, const struct reg_response *r,
		     const char *key, const char *repo, char *path,
		     size_t cap_path, char ***v, size_t *n, size_t *cap,
		     int *more, struct err *err)
{
	json_t *j, *arr, *it;
	size_t i;
	int rc = 0;

	*more = 0;
	if (r->status != 200)
		return status_error("list", repo ? repo : "", key, r, err);
	j = json_loadb(r->body.data, r->body.len, 0, NULL);
	arr = json_object_get(j, key);
	if (!j || (!json_is_array(arr) && !json_is_null(arr) && arr)) {
		json_decref(j);
		return err_set(err, ERR_INVALID,
			       "%s: malformed %s list from %s",
			       repo ? repo : c->conn.host, key, path);
	}
	json_array_foreach (arr, i, it) {
		if (*n >= LIST_NAMES_MAX) {
			rc = err_set(err, ERR_TOO_LARGE,
				     "%s: more than %d names in the %s list",
				     repo ? repo : c->conn.host, LIST_NAMES_MAX,
				     key);
			break;
		}
		if (json_is_string(it) &&
		    strv_push(v, n, cap, json_string_value(it))) {
			rc = err_set(err, ERR_FAIL,
				     "%s: out of memory after %zu %s",
				     repo ? repo : c->conn.host, *n, key);
			break;
		}
	}
	json_decref(j);
	if (!rc && r->link[0]) {
		char next[2048];
		int got = link_next(r->link, next, sizeof(next));

		/* a list that cannot be followed to its end is an error, not
		 * a shorter list (prune decides on it) */
		if (got < 0 || (got > 0 && strlen(next) >= cap_path))
			return err_set(err, ERR_INVALID,
				       "%s: next page link of %s list too long",
				       repo ? repo : c->conn.host, key);
		if (got > 0 && !strcmp(next, path))
			return err_set(err, ERR_INVALID,
				       "%s: %s list page %s links to itself",
				       repo ? repo : c->conn.host, key, path);
		if (got > 0) {
			link_relative(c, next);
			snprintf(path, cap_path, "%s", next);
			*more = 1;
		}
	}
	return rc;
}

/* The list as the caller gets it: never NULL on success. */
static int list_result(struct reg_client *c, int rc, char ***v, size_t n,
		       char ***out, size_t *n_out, struct err *err)
{
	*out = NULL;
	*n_out = 0;
	if (rc) {
		oci_strv_free(*v);
		*v = NULL;
		return rc;
	}
	if (!*v)
		*v = calloc(1, sizeof(**v));
	if (!*v)
		return err_set(err, ERR_FAIL, "%s: out of memory",
			       c->conn.host);
	*out = *v;
	*n_out = n;
	*v = NULL;
	return 0;
}

static int paginate(struct reg_client *c, const char *first, const char *key,
		    const char *repo, char ***out, size_t *n_out,
		    struct err *err)
{
	struct reg_client *ep = c;
	struct reg_response r;
	char path[2048];
	char **v = NULL;
	size_t n = 0, cap = 0;
	int rc = 0, more = 1;

	reg_response_init(&r, TAGS_PAGE_MAX);
	snprintf(path, sizeof(path), "%s", first);
	for (int page = 0; more && !rc; page++) {
		if (page == LIST_PAGES_MAX) {
			rc = err_set(err, ERR_INVALID,
				     "%s: %s list longer than %d pages",
				     repo ? repo : c->conn.host, key,
				     LIST_PAGES_MAX);
			break;
		}
		/* a page names the next on the endpoint that answered */
		rc = request_ep(ep, &r, "GET", path, "application/json", repo,
				&ep, err);
		if (!rc)
			rc = page_take(c, &r, key, repo, path, sizeof(path), &v,
				       &n, &cap, &more, err);
	}
	reg_response_release(&r);
	return list_result(c, rc, &v, n, out, n_out, err);
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

/* The referrers API's answer r: the index into out (0), or *fallback
 * set when the registry has no API (404, or not an index). */
static int referrers_api_take(struct reg_client *c, int rc,
			      const struct reg_response *r, const char *repo,
			      const struct oci_digest *subject, struct buf *out,
			      int *fallback, struct err *err)
{
	*fallback = 0;
	if (rc)
		return rc;
	if (r->status == 200 && !strcmp(r->content_type, MT_OCI_INDEX)) {
		buf_reset(out);
		if (buf_append(out, r->body.data, r->body.len))
			return err_set(err, ERR_TOO_LARGE,
				       "referrers of %s in %s/%s: more than "
				       "%zu bytes",
				       subject->str, c->conn.host, repo,
				       out->max);
		return 0;
	}
	if (r->status != 404 && r->status != 200)
		return status_error("referrers", repo, subject->str, r, err);
	*fallback = 1;
	return 0;
}

/* The fallback tag's manifest (or its absence) as the index into out. */
static int referrers_tag_take(struct reg_client *c, int rc,
			      const struct reg_manifest *m, const char *repo,
			      const struct oci_digest *subject, struct buf *out,
			      struct err *err)
{
	buf_reset(out);
	if (rc == ERR_NOT_FOUND) {
		err_clear(err);
		rc = buf_puts(
		    out, "{\"schemaVersion\":2,\"mediaType\":\"" MT_OCI_INDEX
			 "\",\"manifests\":[]}");
	} else if (rc) {
		return rc;
	} else {
		rc = buf_append(out, m->body, m->len);
	}
	if (rc)
		rc = err_set(err, rc,
			     "referrers of %s in %s/%s: more than %zu bytes",
			     subject->str, c->conn.host, repo, out->max);
	return rc;
}

static void referrers_paths(char *path, size_t cap, char *tag, size_t cap_tag,
			    const char *repo, const struct oci_digest *subject)
{
	snprintf(path, cap, "/v2/%s/referrers/%s", repo, subject->str);
	snprintf(tag, cap_tag, "%s-%s", oci_digest_alg_name(subject->alg),
		 oci_digest_hex(subject));
}

int reg_client_referrers(struct reg_client *c, struct buf *index_out,
			 const char *repo, const struct oci_digest *subject,
			 struct err *err)
{
	struct reg_response r;
	struct reg_manifest m;
	char path[1200], tag[140];
	int rc, fallback = 0;

	reg_response_init(&r, OCI_MANIFEST_MAX);
	referrers_paths(path, sizeof(path), tag, sizeof(tag), repo, subject);
	rc = request(c, &r, "GET", path, MT_OCI_INDEX, repo, err);
	rc = referrers_api_take(c, rc, &r, repo, subject, index_out, &fallback,
				err);
	reg_response_release(&r);
	if (rc || !fallback)
		return rc;
	/* fallback: the tag schema */
	fallback = reg_client_get_manifest(c, &m, repo, tag, err);
	rc = referrers_tag_take(c, fallback, &m, repo, subject, index_out, err);
	if (!fallback)
		reg_manifest_release(&m);
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

/* --- the same requests as jobs on the engine --- */

struct reg_engine *reg_client_engine(struct reg_client *c)
{
	struct err e;

	if (!c->engine && !reg_engine_new(&c->own_engine, &e))
		reg_client_set_engine(c, c->own_engine);
	return c->engine;
}

void reg_client_set_engine(struct reg_client *c, struct reg_engine *e)
{
	/* every endpoint of a chain runs on the head's engine */
	c->engine = e;
	if (!c->owns_chain)
		return;
	for (struct reg_client *n = c->next; n; n = n->next)
		n->engine = e;
	if (c->origin)
		c->origin->engine = e;
}

/* A pull-scope, body-less job on c's engine; done gets ctx. */
static int submit(struct reg_client *c, const char *method, const char *path,
		  const char *accept, const char *repo, size_t body_max,
		  void (*done)(struct reg_job *j, void *ctx), void *ctx,
		  struct err *err)
{
	struct reg_engine *e = reg_client_engine(c);
	struct reg_req r;

	if (!e)
		return err_set(err, ERR_FAIL, "%s %s: out of memory", method,
			       path);
	memset(&r, 0, sizeof(r));
	r.client = c;
	r.method = method;
	r.url = path;
	r.accept = accept;
	r.repo = repo;
	r.body_max = body_max;
	r.done = done;
	r.ctx = ctx;
	return reg_engine_submit(e, &r, err);
}

struct manifest_ctx {
	struct reg_client *c;
	char *repo, *ref;
	int get;
	reg_manifest_cb cb;
	void *ctx;
};

static void manifest_ctx_free(struct manifest_ctx *m)
{
	free(m->repo);
	free(m->ref);
	free(m);
}

static void manifest_done(struct reg_job *j, void *ctx)
{
	struct manifest_ctx *mc = ctx;
	struct reg_response *r = reg_job_response(j);
	struct reg_manifest m;
	struct err e = *reg_job_err(j);
	int rc;

	rc = manifest_judge(mc->c, &m, mc->repo, mc->ref, mc->get,
			    reg_job_result(j), r, &e);
	if (!rc && !(m.endpoint = strdup(reg_job_client(j)->conn.host))) {
		reg_manifest_release(&m);
		rc = err_set(&e, ERR_FAIL, "manifest %s/%s: out of memory",
			     reg_client_host(mc->c), mc->repo);
	}
	mc->cb(mc->ctx, rc, &m, r ? r->content_length : -1, &e);
	reg_manifest_release(&m);
	manifest_ctx_free(mc);
}

static int manifest_async(struct reg_client *c, const char *repo,
			  const char *ref, int get, reg_manifest_cb cb,
			  void *ctx, struct err *err)
{
	struct manifest_ctx *mc = calloc(1, sizeof(*mc));
	char path[1200];
	int rc;

	if (!mc || !(mc->repo = strdup(repo)) || !(mc->ref = strdup(ref))) {
		if (mc)
			manifest_ctx_free(mc);
		return err_set(err, ERR_FAIL,
			       "manifest %s/%s%s%s: out of memory",
			       c->conn.host, repo, ref_sep(ref), ref);
	}
	mc->c = c;
	mc->get = get;
	mc->cb = cb;
	mc->ctx = ctx;
	snprintf(path, sizeof(path), "/v2/%s/manifests/%s", repo, ref);
	rc = submit(c, get ? "GET" : "HEAD", path, MT_ACCEPT_ALL, repo,
		    get ? OCI_MANIFEST_MAX : ERROR_BODY_MAX, manifest_done, mc,
		    err);
	if (rc)
		manifest_ctx_free(mc);
	return rc;
}

int reg_client_get_manifest_async(struct reg_client *c, const char *repo,
				  const char *ref, reg_manifest_cb cb,
				  void *ctx, struct err *err)
{
	return manifest_async(c, repo, ref, 1, cb, ctx, err);
}

int reg_client_head_manifest_async(struct reg_client *c, const char *repo,
				   const char *ref, reg_manifest_cb cb,
				   void *ctx, struct err *err)
{
	return manifest_async(c, repo, ref, 0, cb, ctx, err);
}

struct list_ctx {
	struct reg_client *c;
	char *repo;
	char path[2048];
	char **v;
	size_t n, cap;
	int pages;
	reg_list_cb cb;
	void *ctx;
};

static void list_end(struct list_ctx *lc, int rc, struct err *e)
{
	char **out = NULL;
	size_t n = 0;

	rc = list_result(lc->c, rc, &lc->v, lc->n, &out, &n, e);
	lc->cb(lc->ctx, rc, out, n, e);
	free(lc->repo);
	free(lc);
}

static void list_page_done(struct reg_job *j, void *ctx)
{
	struct list_ctx *lc = ctx;
	struct err e = *reg_job_err(j);
	int rc = reg_job_result(j), more = 0;

	if (!rc)
		rc = page_take(lc->c, reg_job_response(j), "tags", lc->repo,
			       lc->path, sizeof(lc->path), &lc->v, &lc->n,
			       &lc->cap, &more, &e);
	if (!rc && more && ++lc->pages >= LIST_PAGES_MAX)
		rc = err_set(&e, ERR_INVALID,
			     "%s: tags list longer than %d pages", lc->repo,
			     LIST_PAGES_MAX);
	if (!rc && more) {
		/* on the endpoint that answered: it named the page */
		rc = submit(reg_job_client(j), "GET", lc->path,
			    "application/json", lc->repo, TAGS_PAGE_MAX,
			    list_page_done, lc, &e);
		if (!rc)
			return;
	}
	list_end(lc, rc, &e);
}

int reg_client_list_tags_async(struct reg_client *c, const char *repo,
			       reg_list_cb cb, void *ctx, struct err *err)
{
	struct list_ctx *lc = calloc(1, sizeof(*lc));
	int rc;

	if (!lc || !(lc->repo = strdup(repo))) {
		free(lc);
		return err_set(err, ERR_FAIL, "list tags of %s: out of memory",
			       repo);
	}
	lc->c = c;
	lc->cb = cb;
	lc->ctx = ctx;
	snprintf(lc->path, sizeof(lc->path), "/v2/%s/tags/list?n=1000", repo);
	rc = submit(c, "GET", lc->path, "application/json", repo, TAGS_PAGE_MAX,
		    list_page_done, lc, err);
	if (rc) {
		free(lc->repo);
		free(lc);
	}
	return rc;
}

struct buf_ctx {
	struct reg_client *c;
	char *repo;
	struct oci_digest digest;
	struct buf out;
	int attempt;
	reg_buf_cb cb;
	void *ctx;
};

static struct buf_ctx *buf_ctx_new(struct reg_client *c, const char *repo,
				   const struct oci_digest *d, size_t max,
				   reg_buf_cb cb, void *ctx)
{
	struct buf_ctx *bc = calloc(1, sizeof(*bc));

	if (!bc || !(bc->repo = strdup(repo))) {
		free(bc);
		return NULL;
	}
	bc->c = c;
	bc->digest = *d;
	buf_init(&bc->out, max);
	bc->cb = cb;
	bc->ctx = ctx;
	return bc;
}

static void buf_end(struct buf_ctx *bc, int rc, const struct err *e)
{
	bc->cb(bc->ctx, rc, &bc->out, e);
	buf_release(&bc->out);
	free(bc->repo);
	free(bc);
}

static void referrers_tag_done(void *ctx, int rc, struct reg_manifest *m,
			       int64_t size, const struct err *err)
{
	struct buf_ctx *bc = ctx;
	struct err e = *err;

	(void)size;
	rc = referrers_tag_take(bc->c, rc, m, bc->repo, &bc->digest, &bc->out,
				&e);
	buf_end(bc, rc, &e);
}

static void referrers_api_done(struct reg_job *j, void *ctx)
{
	struct buf_ctx *bc = ctx;
	struct err e = *reg_job_err(j);
	char path[1200], tag[140];
	int rc, fallback = 0;

	rc = referrers_api_take(bc->c, reg_job_result(j), reg_job_response(j),
				bc->repo, &bc->digest, &bc->out, &fallback, &e);
	if (!rc && fallback) {
		referrers_paths(path, sizeof(path), tag, sizeof(tag), bc->repo,
				&bc->digest);
		rc = reg_client_get_manifest_async(bc->c, bc->repo, tag,
						   referrers_tag_done, bc, &e);
		if (!rc)
			return;
	}
	buf_end(bc, rc, &e);
}

int reg_client_referrers_async(struct reg_client *c, const char *repo,
			       const struct oci_digest *subject, reg_buf_cb cb,
			       void *ctx, struct err *err)
{
	struct buf_ctx *bc =
	    buf_ctx_new(c, repo, subject, OCI_MANIFEST_MAX, cb, ctx);
	char path[1200], tag[140];
	int rc;

	if (!bc)
		return err_set(err, ERR_FAIL, "referrers of %s: out of memory",
			       subject->str);
	referrers_paths(path, sizeof(path), tag, sizeof(tag), repo, subject);
	rc = submit(c, "GET", path, MT_OCI_INDEX, repo, OCI_MANIFEST_MAX,
		    referrers_api_done, bc, err);
	if (rc) {
		buf_release(&bc->out);
		free(bc->repo);
		free(bc);
	}
	return rc;
}

static void blob_done(struct reg_job *j, void *ctx);

static int blob_submit(struct buf_ctx *bc, struct err *err)
{
	char path[1200];

	snprintf(path, sizeof(path), "/v2/%s/blobs/%s", bc->repo,
		 bc->digest.str);
	return submit(bc->c, "GET", path, NULL, bc->repo, bc->out.max,
		      blob_done, bc, err);
}

static void blob_done(struct reg_job *j, void *ctx)
{
	struct buf_ctx *bc = ctx;
	struct reg_response *r = reg_job_response(j);
	struct err e = *reg_job_err(j);
	struct oci_digest got;
	int rc = reg_job_result(j);

	if (!rc && r->status != 200)
		rc = status_error("blob", bc->repo, bc->digest.str, r, &e);
	if (!rc) {
		oci_digest_of(&got, bc->digest.alg, r->body.data, r->body.len);
		if (!oci_digest_equal(&got, &bc->digest)) {
			if (!bc->attempt++) {
				reg_logf(bc->c->conn.opt, REG_LOG_WARN,
					 "blob %s/%s@%s: digest mismatch (got "
					 "%s); fetching it again",
					 bc->c->conn.host, bc->repo,
					 bc->digest.str, got.str);
				rc = blob_submit(bc, &e);
				if (!rc)
					return;
			} else {
				rc = err_set(&e, ERR_DIGEST,
					     "blob %s/%s@%s: digest mismatch: "
					     "got %s",
					     bc->c->conn.host, bc->repo,
					     bc->digest.str, got.str);
			}
		}
	}
	if (!rc) {
		buf_reset(&bc->out);
		rc = buf_append(&bc->out, r->body.data, r->body.len);
		if (rc)
			rc = err_set(&e, rc,
				     "blob %s/%s@%s: more than %zu bytes",
				     bc->c->conn.host, bc->repo, bc->digest.str,
				     bc->out.max);
	}
	buf_end(bc, rc, &e);
}

int reg_client_get_blob_async(struct reg_client *c, const char *repo,
			      const struct oci_digest *digest, size_t max,
			      reg_buf_cb cb, void *ctx, struct err *err)
{
	struct buf_ctx *bc = buf_ctx_new(c, repo, digest, max, cb, ctx);
	int rc;

	if (!bc)
		return err_set(err, ERR_FAIL, "blob %s: out of memory",
			       digest->str);
	rc = blob_submit(bc, err);
	if (rc) {
		buf_release(&bc->out);
		free(bc->repo);
		free(bc);
	}
	return rc;
}
