/* The read endpoints: manifests, blobs (with Range), tag lists and the
 * catalog (paged with n and last), referrers (filtered by artifactType)
 * and the Margo application catalog. Only what the store holds for the
 * route's repository is answered; a manifest fetched as a blob keeps its
 * media type. */
#include "mirror/serve/read.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mirror/margo/browse.h"
#include "mirror/serve/api.h"
#include "mirror/serve/fill.h"
#include "mirror/serve/respond.h"
#include "mirror/store/walk.h"
#include "oci/manifest.h"
#include "oci/mediatype.h"
#include "oci/vec.h"

#define LIST_MAX 10000 /* entries per page when the client gives no n */

/* A store read that failed other than "not found" (no descriptor left, an
 * I/O error): the content may well be there, so 503, never 404. */
static enum MHD_Result unavailable(struct req *r, struct MHD_Connection *c,
				   const struct err *e)
{
	__atomic_add_fetch(&r->srv->opens_refused, 1, __ATOMIC_RELAXED);
	return respond_unavailable(r, c, "store: %s", e->msg);
}

/* A store read that failed other than "not found": a resource failure
 * (ERR_FAIL: descriptors, memory, I/O) is 503 with Retry-After; a corrupt
 * or oversized record will not mend by itself, 500. */
static enum MHD_Result store_failed(struct req *r, struct MHD_Connection *c,
				    int rc, const struct err *e)
{
	if (rc == ERR_FAIL || rc == ERR_TIMEOUT)
		return unavailable(r, c, e);
	return respond_error(r, c, 500, "UNKNOWN", "store: %s", e->msg);
}

static enum MHD_Result blob_from_store(struct req *r, struct MHD_Connection *c,
				       const char *range, int linked,
				       const struct store_ref *mref);

/* The 416 for a Range outside a blob of size bytes. */
static enum MHD_Result range_refused(struct req *r, struct MHD_Connection *c,
				     int64_t size)
{
	char cr[64];
	struct MHD_Response *resp = respond_empty();

	snprintf(cr, sizeof(cr), "bytes */%lld", (long long)size);
	if (resp)
		MHD_add_response_header(resp, "Content-Range", cr);
	return respond_send(r, c, 416, resp);
}

/* A blob the repository does not hold, from the upstream: streamed as it
 * arrives, from the store once stored (a GET joining a finished fill). */
static enum MHD_Result blob_fill(struct req *r, struct MHD_Connection *c,
				 const char *range)
{
	const struct serve_upstream *u = r->srv->o.upstream;
	uint64_t from = 0, len;
	int64_t size;
	struct err e;

	if (!r->fill) {
		err_clear(&e);
		r->fill = u->blob(u->ctx, r->rt.repo, &r->rt.digest, &e);
		if (!r->fill)
			return fill_unavailable(r, c, e.msg);
	}
	if (fill_settle(r, 1) == FILL_SUSPENDED)
		return MHD_YES;
	if (r->fst.state == SERVE_FILL_FAILED)
		return r->fst.code == ERR_NOT_FOUND
			   ? respond_error(r, c, 404, "BLOB_UNKNOWN",
					   "blob %s unknown to %s",
					   r->rt.digest.str, r->rt.repo)
			   : fill_unavailable(r, c, r->fst.msg);
	if (r->fst.state == SERVE_FILL_DONE)
		return blob_from_store(r, c, range, 1, NULL);
	size = r->fst.size;
	len = size < 0 ? 0 : (uint64_t)size;
	if (range && size >= 0) {
		int rr = route_range_parse(&from, &len, range, size, &e);

		if (rr == ERR_NOT_FOUND)
			return range_refused(r, c, size);
		if (!rr)
			return fill_stream(r, c, size, from, len, 1);
		from = 0; /* malformed: the whole blob */
		len = (uint64_t)size;
	}
	return fill_stream(r, c, size, from, len, 0);
}

enum MHD_Result read_blob(struct req *r, struct MHD_Connection *c)
{
	struct store_ref mref;
	const char *range =
	    MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Range");
	int linked;
	struct err e;

	if (!r->rt.is_digest)
		return respond_error(r, c, 400, "DIGEST_INVALID",
				     "invalid digest \"%s\"", r->rt.ref);
	if (r->fill) /* resumed: the fill this request started */
		return blob_fill(r, c, range);
	/* only what this repository holds: its blobs and its manifests */
	linked = store_blob_linked(r->srv->s, r->rt.repo, &r->rt.digest);
	if (!linked) {
		int mr = store_manifest_get(&mref, r->srv->s, r->rt.repo,
					    &r->rt.digest, &e);
		if (mr == ERR_NOT_FOUND && fill_serves(r))
			return blob_fill(r, c, range);
		if (mr == ERR_NOT_FOUND)
			return respond_error(r, c, 404, "BLOB_UNKNOWN",
					     "blob %s unknown to %s",
					     r->rt.digest.str, r->rt.repo);
		if (mr)
			return store_failed(r, c, mr, &e);
	}
	return blob_from_store(r, c, range, linked, &mref);
}

/* A blob of a remote store, read through store_blob_read_at into one
 * window of REMOTE_WINDOW bytes per response (allocated at the first
 * read: a HEAD allocates nothing), so memory stays flat per connection
 * whatever the blob's size. */
#define REMOTE_WINDOW (1024 * 1024)
#define REMOTE_BLOCK (64 * 1024) /* MHD's own buffer of the response */

struct remote_read {
	const struct store *s;
	struct oci_digest d;
	uint64_t from, len; /* the answer's bytes of the blob */
	char *win;
	uint64_t win_at; /* the blob's offset of win[0] */
	size_t win_len;
};

static ssize_t remote_read(void *cls, uint64_t pos, char *buf, size_t max)
{
	struct remote_read *rr = cls;
	uint64_t at = rr->from + pos, n;

	if (pos >= rr->len)
		return MHD_CONTENT_READER_END_OF_STREAM;
	if (at < rr->win_at || at >= rr->win_at + rr->win_len) {
		uint64_t want = rr->len - pos;
		size_t got = 0;

		/* no larger than the answer: a small blob takes little */
		uint64_t wsize =
		    rr->len < REMOTE_WINDOW ? rr->len : REMOTE_WINDOW;

		if (!rr->win)
			rr->win = malloc((size_t)wsize);
		if (!rr->win)
			return MHD_CONTENT_READER_END_WITH_ERROR;
		if (want > wsize)
			want = wsize;
		/* a blob gone or cut short meanwhile ends the answer short */
		if (store_blob_read_at(&got, rr->s, &rr->d, at, rr->win,
				       (size_t)want, NULL) ||
		    !got)
			return MHD_CONTENT_READER_END_WITH_ERROR;
		rr->win_at = at;
		rr->win_len = got;
	}
	n = rr->win_at + rr->win_len - at;
	if (n > max)
		n = max;
	if (n > rr->len - pos)
		n = rr->len - pos;
	memcpy(buf, rr->win + (at - rr->win_at), (size_t)n);
	return (ssize_t)n;
}

static void remote_free(void *cls)
{
	struct remote_read *rr = cls;

	free(rr->win);
	free(rr);
}

/* respond_fd's answer for a remote store's blob: the same headers. */
static enum MHD_Result respond_remote(struct req *r, struct MHD_Connection *c,
				      int64_t size, const char *ctype,
				      uint64_t from, uint64_t len, int partial)
{
	struct remote_read *rr = calloc(1, sizeof(*rr));
	struct MHD_Response *resp;

	if (!rr)
		return MHD_NO;
	rr->s = r->srv->s;
	rr->d = r->rt.digest;
	rr->from = from;
	rr->len = len;
	resp = MHD_create_response_from_callback(len, REMOTE_BLOCK, remote_read,
						 rr, remote_free);
	if (!resp) {
		free(rr);
		return MHD_NO;
	}
	return respond_blob(r, c, resp, size, ctype, r->rt.digest.str, from,
			    len, partial);
}

/* serve --redirect: a GET of a large stored blob (not a manifest) goes to
 * the store's direct URL. 1 when answered into *ret; 0 when the blob is
 * to be proxied (small, HEAD, or no URL could be made). */
static int blob_redirect(struct req *r, struct MHD_Connection *c, int64_t size,
			 enum MHD_Result *ret)
{
	struct MHD_Response *resp;
	char *url = NULL;
	struct err e;

	if (!r->srv->o.redirect || strcmp(r->method, "GET") ||
	    size < (int64_t)SERVE_REDIRECT_MIN)
		return 0;
	if (store_blob_url(&url, r->srv->s, &r->rt.digest, SERVE_REDIRECT_TTL,
			   &e))
		return 0;
	resp = respond_empty();
	if (!resp) {
		free(url);
		*ret = MHD_NO;
		return 1;
	}
	MHD_add_response_header(resp, "Location", url);
	MHD_add_response_header(resp, "Docker-Content-Digest",
				r->rt.digest.str);
	MHD_add_response_header(resp, "Content-Length", "0");
	free(url);
	r->redirected = 1;
	__atomic_add_fetch(&r->srv->blob_redirects, 1, __ATOMIC_RELAXED);
	*ret = respond_send(r, c, 307, resp);
	return 1;
}

/* The requested part of a blob of size bytes: [*from, *from + *len);
 * 0 for the whole blob, 1 for a valid single range, ERR_NOT_FOUND for
 * a range outside it (416). A malformed Range is ignored. */
static int blob_range(uint64_t *from, uint64_t *len, const char *range,
		      int64_t size)
{
	struct err e;
	int rr;

	*from = 0;
	*len = (uint64_t)size;
	if (!range)
		return 0;
	rr = route_range_parse(from, len, range, size, &e);
	if (rr == ERR_NOT_FOUND)
		return rr;
	if (rr) {
		*from = 0;
		*len = (uint64_t)size;
		return 0;
	}
	return 1;
}

/* A remote store's blob: its size from store_blob_stat (a HEAD reads
 * nothing else; a failed look is 503, never 404), its bytes streamed through
 * respond_remote. */
static enum MHD_Result blob_from_remote(struct req *r, struct MHD_Connection *c,
					const char *range, int linked,
					const struct store_ref *mref)
{
	int64_t size = -1;
	uint64_t from, len;
	enum MHD_Result ret;
	struct err e;
	int part, st;

	st = store_blob_stat(&size, r->srv->s, &r->rt.digest, &e);
	if (st < 0)
		return store_failed(r, c, st, &e);
	if (!st || size < 0)
		return respond_error(r, c, 404, "BLOB_UNKNOWN",
				     "blob %s unknown", r->rt.digest.str);
	if (linked && blob_redirect(r, c, size, &ret))
		return ret;
	part = blob_range(&from, &len, range, size);
	if (part == ERR_NOT_FOUND)
		return range_refused(r, c, size);
	return respond_remote(
	    r, c, size, linked ? "application/octet-stream" : mref->media_type,
	    from, len, part == 1);
}

/* The stored blob (linked) or manifest (mref, kept its media type). */
static enum MHD_Result blob_from_store(struct req *r, struct MHD_Connection *c,
				       const char *range, int linked,
				       const struct store_ref *mref)
{
	int64_t size;
	uint64_t from = 0, len;
	int fd, rr;
	struct err e;

	if (store_is_remote(r->srv->s))
		return blob_from_remote(r, c, range, linked, mref);
	rr = store_blob_open(&fd, &size, r->srv->s, &r->rt.digest, &e);
	if (rr == ERR_NOT_FOUND)
		return respond_error(r, c, 404, "BLOB_UNKNOWN",
				     "blob %s unknown", r->rt.digest.str);
	if (rr)
		return store_failed(r, c, rr, &e);
	rr = ERR_INVALID;
	len = (uint64_t)size;
	if (range) {
		rr = route_range_parse(&from, &len, range, size, &e);
		if (rr == ERR_NOT_FOUND) {
			close(fd);
			return range_refused(r, c, size);
		}
		if (rr) { /* malformed: the whole blob */
			from = 0;
			len = (uint64_t)size;
		}
	}
	/* a manifest fetched as a blob keeps its media type */
	if (!linked)
		return respond_fd(r, c, fd, size, mref->media_type,
				  r->rt.digest.str, from, len, !rr);
	return respond_fd(r, c, fd, size, "application/octet-stream",
			  r->rt.digest.str, from, len, !rr);
}

/* The upstream's part of a manifest read: 1 when answered (or the
 * connection suspended) into *ret, 0 when the store answers (stored and
 * fresh, filled, stale after a failed revalidation, or not found). */
static int manifest_fill(struct req *r, struct MHD_Connection *c,
			 enum MHD_Result *ret)
{
	const struct serve_upstream *u = r->srv->o.upstream;
	struct store_ref ref;
	struct err e;

	if (!r->fill) {
		int rc = r->rt.is_digest
			     ? store_manifest_get(&ref, r->srv->s, r->rt.repo,
						  &r->rt.digest, &e)
			     : store_tag_get(&ref, r->srv->s, r->rt.repo,
					     r->rt.ref, &e);

		if (rc && rc != ERR_NOT_FOUND)
			return 0; /* the store's failure, answered as such */
		/* a stored digest never changes; a stored tag is checked
		 * once tag_ttl has passed */
		if (!rc && (r->rt.is_digest ||
			    u->tag_fresh(u->ctx, r->rt.repo, r->rt.ref)))
			return 0;
		r->fill_stored = !rc;
		err_clear(&e);
		r->fill = u->manifest(u->ctx, r->rt.repo, r->rt.ref,
				      r->fill_stored, &e);
		if (!r->fill) {
			if (r->fill_stored)
				return 0;
			*ret = fill_unavailable(r, c, e.msg);
			return 1;
		}
	}
	if (fill_settle(r, 0) == FILL_SUSPENDED) {
		*ret = MHD_YES;
		return 1;
	}
	if (r->fst.state == SERVE_FILL_FAILED && !r->fill_stored &&
	    r->fst.code != ERR_NOT_FOUND) {
		*ret = fill_unavailable(r, c, r->fst.msg);
		return 1;
	}
	return 0;
}

/* A manifest of a remote store, read into memory (at most
 * OCI_MANIFEST_MAX bytes) rather than copied to a temp file. */
static enum MHD_Result manifest_from_remote(struct req *r,
					    struct MHD_Connection *c,
					    const struct store_ref *ref)
{
	struct MHD_Response *resp = NULL;
	char *data = NULL, etag[160];
	size_t len = 0;
	struct err e;
	int rc;

	rc = store_blob_read(&data, &len, r->srv->s, &ref->digest,
			     OCI_MANIFEST_MAX, &e);
	if (rc == ERR_NOT_FOUND)
		return respond_error(r, c, 404, "MANIFEST_UNKNOWN",
				     "manifest %s@%s missing from the store",
				     r->rt.repo, ref->digest.str);
	if (rc)
		return store_failed(r, c, rc, &e);
	respond_json(r, c, 200, ref->media_type, data, len, &resp);
	free(data);
	if (!resp)
		return MHD_NO;
	MHD_add_response_header(resp, "Docker-Content-Digest", ref->digest.str);
	snprintf(etag, sizeof(etag), "\"%s\"", ref->digest.str);
	MHD_add_response_header(resp, "ETag", etag);
	r->bytes_out += len;
	return respond_send(r, c, 200, resp);
}

enum MHD_Result read_manifest(struct req *r, struct MHD_Connection *c)
{
	struct store_ref ref;
	struct err e;
	int64_t size;
	int fd, rc;
	const char *inm;
	enum MHD_Result ret;

	if (fill_serves(r) && manifest_fill(r, c, &ret))
		return ret;
	if (r->rt.is_digest)
		rc = store_manifest_get(&ref, r->srv->s, r->rt.repo,
					&r->rt.digest, &e);
	else
		rc = store_tag_get(&ref, r->srv->s, r->rt.repo, r->rt.ref, &e);
	if (rc == ERR_NOT_FOUND && !store_repo_exists(r->srv->s, r->rt.repo))
		return respond_error(r, c, 404, "NAME_UNKNOWN",
				     "repository %s not known", r->rt.repo);
	if (rc == ERR_NOT_FOUND)
		return respond_error(r, c, 404, "MANIFEST_UNKNOWN",
				     "manifest %s:%s unknown", r->rt.repo,
				     r->rt.ref);
	if (rc)
		return store_failed(r, c, rc, &e);
	inm = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "If-None-Match");
	if (inm && strstr(inm, ref.digest.str)) {
		struct MHD_Response *resp = respond_empty();
		char etag[160];
		snprintf(etag, sizeof(etag), "\"%s\"", ref.digest.str);
		MHD_add_response_header(resp, "ETag", etag);
		MHD_add_response_header(resp, "Docker-Content-Digest",
					ref.digest.str);
		return respond_send(r, c, 304, resp);
	}
	if (store_is_remote(r->srv->s))
		return manifest_from_remote(r, c, &ref);
	rc = store_blob_open(&fd, &size, r->srv->s, &ref.digest, &e);
	if (rc == ERR_NOT_FOUND)
		return respond_error(r, c, 404, "MANIFEST_UNKNOWN",
				     "manifest %s@%s missing from the store",
				     r->rt.repo, ref.digest.str);
	if (rc)
		return store_failed(r, c, rc, &e);
	return respond_fd(r, c, fd, size, ref.media_type, ref.digest.str, 0,
			  (uint64_t)size, 0);
}

struct names {
	char **v;
	size_t n, cap;
	int failed; /* out of memory: the list is cut */
};

static int names_push(struct names *ns, const char *s)
{
	if (OCI_VEC_RESERVE(ns->v, ns->n, ns->cap, 1, 0)) {
		ns->failed = 1;
		return 1;
	}
	ns->v[ns->n] = strdup(s);
	if (!ns->v[ns->n]) {
		ns->failed = 1;
		return 1;
	}
	ns->n++;
	return 0;
}

static void names_free(struct names *ns)
{
	for (size_t i = 0; i < ns->n; i++)
		free(ns->v[i]);
	free(ns->v);
}

static int collect_tag(void *ctx, const char *repo, const char *tag,
		       const struct store_ref *ref)
{
	(void)repo;
	(void)ref;
	return tag ? names_push(ctx, tag) : 0;
}

static int collect_repo(void *ctx, const char *repo, const char *tag,
			const struct store_ref *ref)
{
	struct names *ns = ctx;

	(void)ref;
	(void)tag;
	if (ns->n && !strcmp(ns->v[ns->n - 1], repo))
		return 0;
	return names_push(ns, repo);
}

/* The names of one repository's tags (repo) or of every repository
 * (NULL), sorted. */
static int list_names(struct names *ns, struct req *r, const char *repo,
		      struct err *err)
{
	int rc;

	err_clear(err);
	rc = walk_tags(r->srv->s, repo, repo ? collect_tag : collect_repo, ns,
		       err);
	if (ns->failed)
		return err_set(err, ERR_FAIL, "listing %s: out of memory",
			       repo ? repo : "repositories");
	return rc < 0 ? rc : 0;
}

/* Page through sorted names with n and last; writes a Link when more. */
static enum MHD_Result send_page(struct req *r, struct MHD_Connection *c,
				 struct names *ns, const char *key,
				 const char *path)
{
	const char *last = r->q.last;
	long n = r->q.n >= 0 ? r->q.n : LIST_MAX;
	size_t start = 0, i, taken = 0;
	json_t *arr, *j;
	struct MHD_Response *resp = NULL;
	char *text;

	if (r->q.n_bad)
		return respond_error(r, c, 400, "UNSUPPORTED",
				     "invalid n \"%s\"", r->q.n_text);
	arr = json_array();
	if (last)
		while (start < ns->n && strcmp(ns->v[start], last) <= 0)
			start++;
	for (i = start; i < ns->n && (long)taken < n; i++, taken++)
		json_array_append_new(arr, json_string(ns->v[i]));
	j = json_object();
	if (!strcmp(key, "tags"))
		json_object_set_new(j, "name", json_string(r->rt.name));
	json_object_set_new(j, key, arr);
	text = json_dumps(j, JSON_COMPACT);
	json_decref(j);
	if (!text)
		return MHD_NO;
	respond_json(r, c, 200, "application/json", text, strlen(text), &resp);
	if (resp && i < ns->n && taken > 0) {
		struct buf link;
		char *esc_last =
		    strdup(ns->v[i - 1]); /* names and tags are URL-safe */

		buf_init(&link, 4096);
		buf_printf(&link, "<%s?n=%ld&last=%s%s%s>; rel=\"next\"", path,
			   n, esc_last ? esc_last : "",
			   r->rt.ns_query[0] ? "&" : "",
			   r->rt.ns_query[0] ? r->rt.ns_query + 1 : "");
		free(esc_last);
		MHD_add_response_header(resp, "Link", link.data);
		buf_release(&link);
	}
	r->bytes_out += strlen(text);
	free(text);
	return respond_send(r, c, 200, resp);
}

static int names_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sort and drop duplicates (the store's tags and the upstream's). */
static void names_sort_unique(struct names *ns)
{
	size_t i, k = 0;

	if (!ns->n)
		return;
	qsort(ns->v, ns->n, sizeof(*ns->v), names_cmp);
	for (i = 1; i < ns->n; i++) {
		if (!strcmp(ns->v[i], ns->v[k]))
			free(ns->v[i]);
		else
			ns->v[++k] = ns->v[i];
	}
	ns->n = k + 1;
}

/* The "tags" strings of a DONE tag list fill's body, added to ns. */
static void names_from_fill(struct names *ns, struct req *r)
{
	const struct serve_upstream *u = r->srv->o.upstream;
	size_t len = 0, i;
	const char *text = u->body(r->fill, &len);
	json_t *j = text ? json_loadb(text, len, 0, NULL) : NULL, *t;

	json_array_foreach (json_object_get(j, "tags"), i, t)
		if (json_is_string(t))
			names_push(ns, json_string_value(t));
	json_decref(j);
}

/* The upstream's part of a tag list: 1 when answered (or suspended) into
 * *ret, 0 when the stored tags answer (*merge: with the upstream's). */
static int tags_fill(struct req *r, struct MHD_Connection *c, int stored,
		     int *merge, enum MHD_Result *ret)
{
	const struct serve_upstream *u = r->srv->o.upstream;
	struct err e;

	*merge = 0;
	if (!r->fill) {
		err_clear(&e);
		r->fill_stored = stored;
		r->fill = u->list(u->ctx, SERVE_FILL_TAGS, r->rt.repo, NULL,
				  stored, &e);
		if (!r->fill) {
			if (stored)
				return 0;
			*ret = fill_unavailable(r, c, e.msg);
			return 1;
		}
	}
	if (fill_settle(r, 0) == FILL_SUSPENDED) {
		*ret = MHD_YES;
		return 1;
	}
	if (r->fst.state == SERVE_FILL_DONE) {
		*merge = 1;
		return 0;
	}
	if (r->fill_stored) /* failed: what the store has */
		return 0;
	*ret = r->fst.code == ERR_NOT_FOUND
		   ? respond_error(r, c, 404, "NAME_UNKNOWN",
				   "repository %s not known", r->rt.repo)
		   : fill_unavailable(r, c, r->fst.msg);
	return 1;
}

enum MHD_Result read_tags(struct req *r, struct MHD_Connection *c)
{
	struct names ns = {0};
	char path[OCI_REPO_MAX + 32];
	enum MHD_Result ret;
	struct err e;
	int rc, stored = store_repo_exists(r->srv->s, r->rt.repo), merge = 0;

	if (fill_serves(r) && tags_fill(r, c, stored, &merge, &ret))
		return ret;
	if (!stored && !merge)
		return respond_error(r, c, 404, "NAME_UNKNOWN",
				     "repository %s not known", r->rt.repo);
	rc = stored ? list_names(&ns, r, r->rt.repo, &e) : 0;
	if (!rc && merge) {
		names_from_fill(&ns, r);
		if (ns.failed)
			rc = err_set(&e, ERR_FAIL, "listing %s: out of memory",
				     r->rt.repo);
		names_sort_unique(&ns);
	}
	if (rc) {
		names_free(&ns);
		return store_failed(r, c, rc, &e);
	}
	snprintf(path, sizeof(path), "/v2/%s/tags/list", r->rt.name);
	ret = send_page(r, c, &ns, "tags", path);
	names_free(&ns);
	return ret;
}

/* _catalog?ns=HOST, as a downstream mirror asks it: the repositories
 * under HOST/, named without it (as that registry names them), and the
 * Link keeps ns. (Still sorted: a common prefix keeps the order.) */
static void catalog_ns(struct names *ns, struct req *r, const char *host)
{
	size_t hl = strlen(host), i, k = 0;

	if (strchr(host, '/') || hl + 5 >= sizeof(r->rt.ns_query))
		hl = 0; /* no registry's name: nothing matches */
	else
		snprintf(r->rt.ns_query, sizeof(r->rt.ns_query), "?ns=%s",
			 host);
	for (i = 0; i < ns->n; i++) {
		char *v = ns->v[i];

		if (hl && !strncmp(v, host, hl) && v[hl] == '/' && v[hl + 1]) {
			memmove(v, v + hl + 1, strlen(v + hl + 1) + 1);
			ns->v[k++] = v;
		} else {
			free(v);
		}
	}
	ns->n = k;
}

enum MHD_Result read_catalog(struct req *r, struct MHD_Connection *c)
{
	struct names ns = {0};
	enum MHD_Result ret;
	struct err e;
	int rc;

	rc = list_names(&ns, r, NULL, &e);
	if (rc) {
		names_free(&ns);
		return store_failed(r, c, rc, &e);
	}
	if (r->q.ns && *r->q.ns)
		catalog_ns(&ns, r, r->q.ns);
	ret = send_page(r, c, &ns, "repositories", "/v2/_catalog");
	names_free(&ns);
	return ret;
}

struct refs_ctx {
	json_t *arr;
	const char *filter;
};

/* Whether arr already has a descriptor of digest. */
static int refs_has(json_t *arr, const char *digest)
{
	size_t i;
	json_t *d;

	json_array_foreach (arr, i, d) {
		const char *x = json_string_value(json_object_get(d, "digest"));
		if (x && !strcmp(x, digest))
			return 1;
	}
	return 0;
}

/* The manifests of a DONE referrers fill's index, added to rc->arr (not
 * twice, and through the artifactType filter). */
static void refs_from_fill(struct refs_ctx *rc, struct req *r)
{
	const struct serve_upstream *u = r->srv->o.upstream;
	size_t len = 0, i;
	const char *text = u->body(r->fill, &len);
	json_t *j = text ? json_loadb(text, len, 0, NULL) : NULL, *d;

	json_array_foreach (json_object_get(j, "manifests"), i, d) {
		const char *dg =
		    json_string_value(json_object_get(d, "digest"));
		const char *at =
		    json_string_value(json_object_get(d, "artifactType"));

		if (!json_is_object(d) || !dg || refs_has(rc->arr, dg))
			continue;
		if (rc->filter && (!at || strcmp(at, rc->filter)))
			continue;
		json_array_append(rc->arr, d);
	}
	json_decref(j);
}

/* The upstream's part of a referrers list: 1 when suspended, else 0 with
 * *merge set when the upstream's index is to be added. Any failure
 * answers what the store has. */
static int refs_fill(struct req *r, int *merge)
{
	const struct serve_upstream *u = r->srv->o.upstream;
	struct err e;

	*merge = 0;
	if (!r->fill) {
		err_clear(&e);
		r->fill_stored = store_repo_exists(r->srv->s, r->rt.repo);
		r->fill = u->list(u->ctx, SERVE_FILL_REFERRERS, r->rt.repo,
				  &r->rt.digest, r->fill_stored, &e);
		if (!r->fill)
			return 0;
	}
	if (fill_settle(r, 0) == FILL_SUSPENDED)
		return 1;
	*merge = r->fst.state == SERVE_FILL_DONE;
	return 0;
}

static int add_referrer(void *ctx, const char *desc)
{
	struct refs_ctx *rc = ctx;
	json_t *d = json_loads(desc, 0, NULL);
	const char *at;

	if (!json_is_object(d)) {
		json_decref(d);
		return 0;
	}
	at = json_string_value(json_object_get(d, "artifactType"));
	if (rc->filter && (!at || strcmp(at, rc->filter))) {
		json_decref(d);
		return 0;
	}
	json_array_append_new(rc->arr, d);
	return 0;
}

enum MHD_Result read_referrers(struct req *r, struct MHD_Connection *c)
{
	struct refs_ctx rc;
	json_t *idx;
	int merge = 0;
	char *text;
	struct MHD_Response *resp = NULL;

	if (!r->rt.is_digest)
		return respond_error(r, c, 400, "DIGEST_INVALID",
				     "invalid digest \"%s\"", r->rt.ref);
	if (fill_serves(r) && refs_fill(r, &merge))
		return MHD_YES;
	rc.arr = json_array();
	rc.filter = r->q.has_artifact_type ? r->q.artifact_type : NULL;
	/* a cut-off filter must not match a type it only begins */
	if (!r->q.artifact_type_overlong) {
		struct err e;
		int lr =
		    store_referrers_list(r->srv->s, r->rt.repo, &r->rt.digest,
					 add_referrer, &rc, &e);
		if (lr && lr != ERR_NOT_FOUND) {
			json_decref(rc.arr);
			return unavailable(r, c, &e);
		}
		if (merge)
			refs_from_fill(&rc, r);
	}
	idx = json_pack("{s:i,s:s,s:o}", "schemaVersion", 2, "mediaType",
			MT_OCI_INDEX, "manifests", rc.arr);
	text = json_dumps(idx, JSON_COMPACT);
	json_decref(idx);
	if (!text)
		return MHD_NO;
	respond_json(r, c, 200, MT_OCI_INDEX, text, strlen(text), &resp);
	if (resp && rc.filter)
		MHD_add_response_header(resp, "OCI-Filters-Applied",
					"artifactType");
	r->bytes_out += strlen(text);
	free(text);
	return respond_send(r, c, 200, resp);
}

enum MHD_Result read_apps(struct req *r, struct MHD_Connection *c)
{
	struct err e;
	json_t *apps, *body, *a;
	char *text;
	enum MHD_Result ret;
	size_t i;

	err_clear(&e);
	apps = margo_browse_apps(r->srv->s, r->srv->icache, &e);
	if (!apps)
		return e.code == ERR_FAIL
			   ? respond_unavailable(r, c, "catalog: %s", e.msg)
			   : respond_error(r, c, 500, "UNKNOWN", "catalog: %s",
					   e.msg);
	/* the icon's layer title as the URL that serves it */
	json_array_foreach (apps, i, a) {
		const char *icon =
		    json_string_value(json_object_get(a, "icon"));

		if (icon)
			json_object_set_new(
			    a, "icon",
			    api_resource_url(
				json_string_value(
				    json_object_get(a, "repository")),
				json_string_value(json_object_get(a, "tag")),
				icon));
	}
	body = json_pack("{s:o}", "applications", apps);
	text = json_dumps(body, JSON_COMPACT);
	json_decref(body);
	if (!text)
		return MHD_NO;
	ret = respond_json(r, c, 200, "application/json", text, strlen(text),
			   NULL);
	free(text);
	return ret;
}
