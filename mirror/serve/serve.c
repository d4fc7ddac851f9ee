#include "mirror/serve/internal.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mirror/margo/catalog.h"
#include "mirror/store/walk.h"
#include "oci/manifest.h"
#include "oci/mediatype.h"
#include "oci/vec.h"

#define API_HEADER "Docker-Distribution-API-Version"
#define API_VALUE "registry/2.0"
#define LIST_MAX 10000 /* entries per page when the client gives no n */

void serve_options_init(struct serve_options *o)
{
	memset(o, 0, sizeof(*o));
	o->listen = "127.0.0.1:5000";
	o->upload_ttl = 3600;
	o->conn_timeout = 60;
}

static long long now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int method_index(const char *m)
{
	static const char *names[] = {"GET",  "HEAD",  "PUT",
				      "POST", "PATCH", "DELETE"};

	for (int i = 0; i < 6; i++)
		if (!strcmp(m, names[i]))
			return i;
	return 6;
}

static const unsigned statuses[MET_STATUSES] = {200, 201, 202, 204, 206, 304,
						307, 400, 401, 403, 404, 405,
						413, 416, 500, 0};

static int status_index(unsigned st)
{
	for (int i = 0; i < MET_STATUSES - 1; i++)
		if (statuses[i] == st)
			return i;
	return MET_STATUSES - 1;
}

struct MHD_Response *serve_empty(void)
{
	return MHD_create_response_from_buffer(0, (void *)"",
					       MHD_RESPMEM_PERSISTENT);
}

enum MHD_Result serve_send(struct req *r, struct MHD_Connection *c,
			   unsigned status, struct MHD_Response *resp)
{
	enum MHD_Result ret;

	if (!resp)
		return MHD_NO;
	MHD_add_response_header(resp, API_HEADER, API_VALUE);
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

enum MHD_Result serve_json(struct req *r, struct MHD_Connection *c,
			   unsigned status, const char *ctype, const char *json,
			   size_t len, struct MHD_Response **keep)
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
	return serve_send(r, c, status, resp);
}

enum MHD_Result serve_error(struct req *r, struct MHD_Connection *c,
			    unsigned status, const char *code, const char *fmt,
			    ...)
{
	char msg[600];
	va_list ap;
	json_t *j;
	char *text;
	enum MHD_Result ret;
	struct MHD_Response *resp;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
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
	ret = serve_send(r, c, status, resp);
	return ret;
}

/* Split /v2/<name>/<action>... into a route. 0, or -1 for a bad name. */
static int route_parse(struct route *rt, const char *url, const char *ns)
{
	static const struct {
		const char *marker;
		enum route_kind kind;
	} markers[] = {
	    {"/manifests/", RT_MANIFEST},
	    {"/blobs/uploads/", RT_UPLOAD},
	    {"/blobs/", RT_BLOB},
	    {"/referrers/", RT_REFERRERS},
	};
	const char *rest, *best = NULL;
	size_t name_len, best_i = 0;

	memset(rt, 0, sizeof(*rt));
	if (!strcmp(url, "/healthz")) {
		rt->kind = RT_HEALTH;
		return 0;
	}
	if (!strcmp(url, "/metrics")) {
		rt->kind = RT_METRICS;
		return 0;
	}
	if (!strcmp(url, "/ocimirror/v1/apps")) {
		rt->kind = RT_APPS;
		return 0;
	}
	if (!strcmp(url, "/v2") || !strcmp(url, "/v2/")) {
		rt->kind = RT_BASE;
		return 0;
	}
	if (strncmp(url, "/v2/", 4))
		return 0; /* RT_NONE: 404 */
	rest = url + 4;
	if (!strcmp(rest, "_catalog")) {
		rt->kind = RT_CATALOG;
		return 0;
	}
	name_len = strlen(rest);
	if (name_len > 10 && !strcmp(rest + name_len - 10, "/tags/list")) {
		rt->kind = RT_TAGS;
		name_len -= 10;
	} else {
		/* the rightmost marker whose tail has no further '/' */
		for (size_t i = 0; i < sizeof(markers) / sizeof(markers[0]);
		     i++) {
			const char *p = rest, *hit = NULL;
			size_t ml = strlen(markers[i].marker);

			while ((p = strstr(p, markers[i].marker))) {
				hit = p;
				p++;
			}
			if (!hit || strchr(hit + ml, '/'))
				continue;
			if (!best || hit > best) {
				best = hit;
				best_i = i;
			}
		}
		/* "/blobs/uploads/" with an empty id also matches "/blobs/" */
		if (name_len > 14 &&
		    !strcmp(rest + name_len - 14, "/blobs/uploads")) {
			rt->kind = RT_UPLOAD_NEW;
			name_len -= 14;
		} else if (name_len > 15 &&
			   !strcmp(rest + name_len - 15, "/blobs/uploads/")) {
			rt->kind = RT_UPLOAD_NEW;
			name_len -= 15;
		} else if (best) {
			const char *tail =
			    best + strlen(markers[best_i].marker);

			rt->kind = markers[best_i].kind;
			name_len = (size_t)(best - rest);
			if (rt->kind == RT_UPLOAD) {
				if (strlen(tail) >= sizeof(rt->upload_id))
					return -1;
				snprintf(rt->upload_id, sizeof(rt->upload_id),
					 "%s", tail);
			} else {
				if (strlen(tail) >= sizeof(rt->ref) || !*tail)
					return -1;
				snprintf(rt->ref, sizeof(rt->ref), "%s", tail);
			}
		} else {
			return 0;
		}
	}
	if (!name_len || name_len >= sizeof(rt->name))
		return -1;
	memcpy(rt->name, rest, name_len);
	rt->name[name_len] = '\0';
	if (ns && *ns) {
		if (strlen(ns) + 1 + name_len >= sizeof(rt->repo) ||
		    strchr(ns, '/'))
			return -1;
		snprintf(rt->repo, sizeof(rt->repo), "%s/%s", ns, rt->name);
		snprintf(rt->ns_query, sizeof(rt->ns_query), "?ns=%s", ns);
	} else {
		snprintf(rt->repo, sizeof(rt->repo), "%s", rt->name);
	}
	if (!store_repo_valid(rt->repo))
		return -1;
	if (rt->ref[0]) {
		if (strchr(rt->ref, ':')) {
			if (oci_digest_parse(&rt->digest, rt->ref, NULL))
				return -2;
			rt->is_digest = 1;
		} else if (rt->kind != RT_MANIFEST) {
			return -2;
		} else if (!oci_tag_valid(rt->ref)) {
			return -3; /* a tag that cannot exist */
		}
	}
	return 0;
}

static int authenticate(struct req *r, struct MHD_Connection *c)
{
	char *pass = NULL;
	char *user = MHD_basic_auth_get_username_password(c, &pass);
	int ok = 0;

	if (user && pass && r->srv->users &&
	    htpasswd_check(r->srv->users, user, pass)) {
		snprintf(r->user, sizeof(r->user), "%s", user);
		ok = 1;
	}
	if (pass) {
		memset(pass, 0, strlen(pass));
		MHD_free(pass);
	}
	if (user)
		MHD_free(user);
	return ok;
}

/* --- reads --- */

static enum MHD_Result send_fd(struct req *r, struct MHD_Connection *c, int fd,
			       int64_t size, const char *ctype,
			       const char *digest, uint64_t from, uint64_t len,
			       int partial)
{
	struct MHD_Response *resp;
	char range[128], etag[160];

	resp = MHD_create_response_from_fd_at_offset64(len, fd, from);
	if (!resp) {
		close(fd);
		return MHD_NO;
	}
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
	return serve_send(r, c, partial ? 206 : 200, resp);
}

/* "bytes=a-b", "bytes=a-", "bytes=-n": one range. 0 ok, -1 unsatisfiable,
 * 1 ignore (malformed: serve the whole blob, as RFC 9110 allows). Numbers
 * are digits only (strtoull would take a sign, blanks, and wrap) and are
 * compared unsigned, so no value can yield an offset or length outside the
 * blob. */
static int range_num(const char *h, unsigned long long *v, char **end)
{
	if (*h < '0' || *h > '9')
		return 1;
	errno = 0;
	*v = strtoull(h, end, 10);
	if (errno == ERANGE)
		*v = ULLONG_MAX;
	return 0;
}

static int parse_range(const char *h, int64_t size, uint64_t *from,
		       uint64_t *len)
{
	unsigned long long a = 0, b = 0, sz = (unsigned long long)size;
	char *end;

	if (strncmp(h, "bytes=", 6) || strchr(h, ','))
		return 1;
	h += 6;
	if (*h == '-') {
		if (range_num(h + 1, &b, &end) || *end)
			return 1;
		if (!b || size == 0)
			return -1;
		if (b > sz)
			b = sz;
		*from = sz - b;
		*len = b;
		return 0;
	}
	if (range_num(h, &a, &end) || *end != '-')
		return 1;
	h = end + 1;
	if (*h) {
		if (range_num(h, &b, &end) || *end)
			return 1;
		if (b < a)
			return -1;
	} else {
		b = sz ? sz - 1 : 0;
	}
	if (a >= sz)
		return -1;
	if (b >= sz)
		b = sz - 1;
	*from = a;
	*len = b - a + 1;
	return 0;
}

static enum MHD_Result get_blob(struct req *r, struct MHD_Connection *c)
{
	struct store_ref mref;
	const char *range =
	    MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Range");
	int64_t size;
	uint64_t from = 0, len;
	int fd, rr = 1, linked;
	struct err e;

	if (!r->rt.is_digest)
		return serve_error(r, c, 400, "DIGEST_INVALID",
				   "invalid digest \"%s\"", r->rt.ref);
	/* only what this repository holds: its blobs and its manifests */
	linked = store_blob_linked(r->srv->s, r->rt.repo, &r->rt.digest);
	if (!linked && store_manifest_get(&mref, r->srv->s, r->rt.repo,
					  &r->rt.digest, NULL))
		return serve_error(r, c, 404, "BLOB_UNKNOWN",
				   "blob %s unknown to %s", r->rt.digest.str,
				   r->rt.repo);
	if (store_blob_open(&fd, &size, r->srv->s, &r->rt.digest, &e))
		return serve_error(r, c, 404, "BLOB_UNKNOWN", "blob %s unknown",
				   r->rt.digest.str);
	len = (uint64_t)size;
	if (range) {
		rr = parse_range(range, size, &from, &len);
		if (rr < 0) {
			char cr[64];
			struct MHD_Response *resp = serve_empty();
			close(fd);
			snprintf(cr, sizeof(cr), "bytes */%lld",
				 (long long)size);
			MHD_add_response_header(resp, "Content-Range", cr);
			return serve_send(r, c, 416, resp);
		}
		if (rr > 0) {
			from = 0;
			len = (uint64_t)size;
		}
	}
	/* a manifest fetched as a blob keeps its media type */
	if (!linked)
		return send_fd(r, c, fd, size, mref.media_type,
			       r->rt.digest.str, from, len, rr == 0);
	return send_fd(r, c, fd, size, "application/octet-stream",
		       r->rt.digest.str, from, len, rr == 0);
}

static enum MHD_Result get_manifest(struct req *r, struct MHD_Connection *c)
{
	struct store_ref ref;
	struct err e;
	int64_t size;
	int fd, rc;
	const char *inm;

	if (r->rt.is_digest)
		rc = store_manifest_get(&ref, r->srv->s, r->rt.repo,
					&r->rt.digest, &e);
	else
		rc = store_tag_get(&ref, r->srv->s, r->rt.repo, r->rt.ref, &e);
	if (rc == ERR_NOT_FOUND && !store_repo_exists(r->srv->s, r->rt.repo))
		return serve_error(r, c, 404, "NAME_UNKNOWN",
				   "repository %s not known", r->rt.repo);
	if (rc)
		return serve_error(r, c, 404, "MANIFEST_UNKNOWN",
				   "manifest %s:%s unknown", r->rt.repo,
				   r->rt.ref);
	inm = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "If-None-Match");
	if (inm && strstr(inm, ref.digest.str)) {
		struct MHD_Response *resp = serve_empty();
		char etag[160];
		snprintf(etag, sizeof(etag), "\"%s\"", ref.digest.str);
		MHD_add_response_header(resp, "ETag", etag);
		MHD_add_response_header(resp, "Docker-Content-Digest",
					ref.digest.str);
		return serve_send(r, c, 304, resp);
	}
	if (store_blob_open(&fd, &size, r->srv->s, &ref.digest, &e))
		return serve_error(r, c, 404, "MANIFEST_UNKNOWN",
				   "manifest %s@%s missing from the store",
				   r->rt.repo, ref.digest.str);
	return send_fd(r, c, fd, size, ref.media_type, ref.digest.str, 0,
		       (uint64_t)size, 0);
}

struct names {
	char **v;
	size_t n, cap;
	const char *only_repo;
};

static int names_push(struct names *ns, const char *s)
{
	if (OCI_VEC_RESERVE(ns->v, ns->n, ns->cap, 1, 0))
		return 1;
	ns->v[ns->n] = strdup(s);
	if (!ns->v[ns->n])
		return 1;
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

/* Page through sorted names with n and last; writes a Link when more. */
static enum MHD_Result send_page(struct req *r, struct MHD_Connection *c,
				 struct names *ns, const char *key,
				 const char *path)
{
	const char *nq =
	    MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "n");
	const char *last =
	    MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "last");
	long n = LIST_MAX;
	size_t start = 0, i, taken = 0;
	json_t *arr = json_array(), *j;
	struct MHD_Response *resp = NULL;
	char *text;
	enum MHD_Result ret;

	if (nq) {
		char *end;
		n = strtol(nq, &end, 10);
		if (*end || n < 0) {
			json_decref(arr);
			return serve_error(r, c, 400, "UNSUPPORTED",
					   "invalid n \"%s\"", nq);
		}
	}
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
	serve_json(r, c, 200, "application/json", text, strlen(text), &resp);
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
	ret = serve_send(r, c, 200, resp);
	return ret;
}

static enum MHD_Result get_tags(struct req *r, struct MHD_Connection *c)
{
	struct names ns = {0};
	char path[OCI_REPO_MAX + 32];
	enum MHD_Result ret;
	struct err e;

	if (!store_repo_exists(r->srv->s, r->rt.repo))
		return serve_error(r, c, 404, "NAME_UNKNOWN",
				   "repository %s not known", r->rt.repo);
	if (walk_tags(r->srv->s, r->rt.repo, collect_tag, &ns, &e)) {
		names_free(&ns);
		return serve_error(r, c, 500, "UNKNOWN", "%s", e.msg);
	}
	snprintf(path, sizeof(path), "/v2/%s/tags/list", r->rt.name);
	ret = send_page(r, c, &ns, "tags", path);
	names_free(&ns);
	return ret;
}

static enum MHD_Result get_catalog(struct req *r, struct MHD_Connection *c)
{
	struct names ns = {0};
	enum MHD_Result ret;
	struct err e;

	if (walk_tags(r->srv->s, NULL, collect_repo, &ns, &e)) {
		names_free(&ns);
		return serve_error(r, c, 500, "UNKNOWN", "%s", e.msg);
	}
	ret = send_page(r, c, &ns, "repositories", "/v2/_catalog");
	names_free(&ns);
	return ret;
}

struct refs_ctx {
	json_t *arr;
	const char *filter;
};

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

static enum MHD_Result get_referrers(struct req *r, struct MHD_Connection *c)
{
	struct refs_ctx rc;
	char filter[256];
	json_t *idx;
	char *text;
	struct MHD_Response *resp = NULL;
	enum MHD_Result ret;

	if (!r->rt.is_digest)
		return serve_error(r, c, 400, "DIGEST_INVALID",
				   "invalid digest \"%s\"", r->rt.ref);
	rc.arr = json_array();
	rc.filter = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND,
						"artifactType");
	if (rc.filter && strchr(rc.filter, ' ')) {
		/* MHD decodes '+' as a space; media types have no spaces */
		snprintf(filter, sizeof(filter), "%s", rc.filter);
		for (char *p = filter; *p; p++)
			if (*p == ' ')
				*p = '+';
		rc.filter = filter;
	}
	store_referrers_list(r->srv->s, r->rt.repo, &r->rt.digest, add_referrer,
			     &rc, NULL);
	idx = json_pack("{s:i,s:s,s:o}", "schemaVersion", 2, "mediaType",
			MT_OCI_INDEX, "manifests", rc.arr);
	text = json_dumps(idx, JSON_COMPACT);
	json_decref(idx);
	if (!text)
		return MHD_NO;
	serve_json(r, c, 200, MT_OCI_INDEX, text, strlen(text), &resp);
	if (resp && rc.filter)
		MHD_add_response_header(resp, "OCI-Filters-Applied",
					"artifactType");
	r->bytes_out += strlen(text);
	free(text);
	ret = serve_send(r, c, 200, resp);
	return ret;
}

static int add_blob_size(void *ctx, const struct oci_digest *d, int64_t size)
{
	(void)d;
	*(int64_t *)ctx += size;
	return 0;
}

/* Sum of blob sizes, recomputed at most every 30 s. */
static int64_t store_bytes(struct server *srv)
{
	time_t now = time(NULL);
	int64_t total = 0;

	if (srv->store_bytes_at && now - srv->store_bytes_at < 30)
		return __atomic_load_n(&srv->store_bytes_cached,
				       __ATOMIC_RELAXED);
	/* a directory that cannot be listed counts as empty */
	store_blobs_each(srv->s, add_blob_size, &total, NULL);
	__atomic_store_n(&srv->store_bytes_cached, total, __ATOMIC_RELAXED);
	srv->store_bytes_at = now;
	return total;
}

static enum MHD_Result get_metrics(struct req *r, struct MHD_Connection *c)
{
	static const char *methods[MET_METHODS] = {
	    "GET", "HEAD", "PUT", "POST", "PATCH", "DELETE", "OTHER"};
	struct server *srv = r->srv;
	struct buf b;
	enum MHD_Result ret;

	buf_init(&b, 1024 * 1024);
	buf_puts(&b, "# HELP ocimirror_http_requests_total Requests served, by "
		     "method and status.\n"
		     "# TYPE ocimirror_http_requests_total counter\n");
	for (int m = 0; m < MET_METHODS; m++)
		for (int s = 0; s < MET_STATUSES; s++) {
			uint64_t v = __atomic_load_n(&srv->requests[m][s],
						     __ATOMIC_RELAXED);
			if (!v)
				continue;
			if (statuses[s])
				buf_printf(
				    &b,
				    "ocimirror_http_requests_total{method=\"%"
				    "s\",status=\"%u\"} %llu\n",
				    methods[m], statuses[s],
				    (unsigned long long)v);
			else
				buf_printf(
				    &b,
				    "ocimirror_http_requests_total{method=\"%"
				    "s\",status=\"other\"} %llu\n",
				    methods[m], (unsigned long long)v);
		}
	buf_printf(
	    &b,
	    "# HELP ocimirror_http_sent_bytes_total Response body bytes.\n"
	    "# TYPE ocimirror_http_sent_bytes_total counter\n"
	    "ocimirror_http_sent_bytes_total %llu\n"
	    "# HELP ocimirror_http_received_bytes_total Request body bytes.\n"
	    "# TYPE ocimirror_http_received_bytes_total counter\n"
	    "ocimirror_http_received_bytes_total %llu\n"
	    "# HELP ocimirror_http_connections Open client connections.\n"
	    "# TYPE ocimirror_http_connections gauge\n"
	    "ocimirror_http_connections %lld\n"
	    "# HELP ocimirror_upload_sessions Open upload sessions.\n"
	    "# TYPE ocimirror_upload_sessions gauge\n"
	    "ocimirror_upload_sessions %zu\n"
	    "# HELP ocimirror_store_bytes Bytes of blobs in the store.\n"
	    "# TYPE ocimirror_store_bytes gauge\n"
	    "ocimirror_store_bytes %lld\n",
	    (unsigned long long)__atomic_load_n(&srv->bytes_sent,
						__ATOMIC_RELAXED),
	    (unsigned long long)__atomic_load_n(&srv->bytes_received,
						__ATOMIC_RELAXED),
	    (long long)__atomic_load_n(&srv->connections, __ATOMIC_RELAXED),
	    uploads_count(srv), (long long)store_bytes(srv));
	ret = serve_json(r, c, 200, "text/plain; version=0.0.4", b.data, b.len,
			 NULL);
	buf_release(&b);
	return ret;
}

static enum MHD_Result get_apps(struct req *r, struct MHD_Connection *c)
{
	struct err e;
	json_t *apps = margo_catalog(r->srv->s, &e), *body;
	char *text;
	enum MHD_Result ret;

	if (!apps)
		return serve_error(r, c, 500, "UNKNOWN", "catalog: %s", e.msg);
	body = json_pack("{s:o}", "applications", apps);
	text = json_dumps(body, JSON_COMPACT);
	json_decref(body);
	if (!text)
		return MHD_NO;
	ret =
	    serve_json(r, c, 200, "application/json", text, strlen(text), NULL);
	free(text);
	return ret;
}

static int is_write(const char *method)
{
	return strcmp(method, "GET") && strcmp(method, "HEAD");
}

static enum MHD_Result dispatch_read(struct req *r, struct MHD_Connection *c,
				     const char *method)
{
	if (strcmp(method, "GET") && strcmp(method, "HEAD"))
		return serve_error(r, c, 405, "UNSUPPORTED",
				   "%s not allowed here", method);
	switch (r->rt.kind) {
	case RT_BASE:
		return serve_json(r, c, 200, "application/json", "{}", 2, NULL);
	case RT_CATALOG: return get_catalog(r, c);
	case RT_MANIFEST: return get_manifest(r, c);
	case RT_BLOB: return get_blob(r, c);
	case RT_TAGS: return get_tags(r, c);
	case RT_REFERRERS: return get_referrers(r, c);
	case RT_APPS: return get_apps(r, c);
	case RT_UPLOAD: return push_end(r, c, method); /* upload status */
	default:
		return serve_error(r, c, 404, "NAME_UNKNOWN",
				   "no such endpoint");
	}
}

static enum MHD_Result send_pending(struct req *r, struct MHD_Connection *c)
{
	struct MHD_Response *resp = r->pending;
	enum MHD_Result ret;

	r->pending = NULL;
	ret = MHD_queue_response(c, r->status, resp);
	MHD_destroy_response(resp);
	return ret;
}

/* Route, authenticate and authorise. Answers given here are held until
 * the request body (if any) is read, so the connection stays usable. */
/* docker's registry-mirrors send Docker Hub names without a host and
 * without ns: a read of a host-less name the store does not hold as a
 * local repository is answered from docker.io/NAME when that exists. */
static void hub_fallback(struct req *r, struct MHD_Connection *c)
{
	char hub[OCI_REPO_MAX];

	if (r->rt.ns_query[0] || !r->rt.name[0] ||
	    MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "ns") ||
	    oci_name_has_host(r->rt.name))
		return;
	if (strlen(r->rt.name) + 10 >= sizeof(hub) ||
	    store_repo_exists(r->srv->s, r->rt.repo))
		return;
	snprintf(hub, sizeof(hub), "docker.io/%s", r->rt.name);
	if (store_repo_exists(r->srv->s, hub))
		snprintf(r->rt.repo, sizeof(r->rt.repo), "%s", hub);
}

static void first_call(struct req *r, struct MHD_Connection *c, const char *url,
		       const char *method)
{
	struct server *srv = r->srv;
	int prc = route_parse(
	    &r->rt, url,
	    MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "ns"));

	r->routed = 1;
	if (prc == 0 && !is_write(method))
		hub_fallback(r, c);
	if (r->rt.kind == RT_HEALTH) {
		serve_json(r, c, 200, "text/plain", "ok\n", 3, NULL);
		return;
	}
	if (r->rt.kind == RT_METRICS) {
		get_metrics(r, c);
		return;
	}
	if (is_write(method)) {
		if (srv->o.read_only || !srv->o.push) {
			serve_error(
			    r, c, 405, "UNSUPPORTED", "this registry is %s",
			    srv->o.read_only ? "read-only"
					     : "a mirror without --push");
			return;
		}
		if (!authenticate(r, c)) {
			serve_error(r, c, 401, "UNAUTHORIZED",
				    "authentication required to push");
			return;
		}
	} else if (srv->users &&
		   (!srv->o.anonymous_read || r->rt.kind == RT_BASE) &&
		   !authenticate(r, c)) {
		/* /v2/ challenges even with --anonymous-read: clients
		 * (containers/image: podman, skopeo) send credentials only
		 * when this ping asked for them, so a 200 here would make
		 * every push fail with 401 */
		serve_error(r, c, 401, "UNAUTHORIZED",
			    "authentication required");
		return;
	}
	if (r->rt.kind == RT_NONE || prc == -1) {
		serve_error(r, c, prc == -1 ? 400 : 404,
			    prc == -1 ? "NAME_INVALID" : "NAME_UNKNOWN",
			    prc == -1 ? "invalid repository name in \"%.200s\""
				      : "no such endpoint: %.200s",
			    url);
		return;
	}
	if (prc == -3 && strcmp(method, "PUT")) {
		serve_error(r, c, 404, "MANIFEST_UNKNOWN",
			    "manifest %.200s unknown", r->rt.ref);
		return;
	}
	if (prc == -2 || prc == -3) {
		serve_error(
		    r, c, 400,
		    r->rt.kind == RT_MANIFEST
			? (prc == -3 ? "TAG_INVALID" : "MANIFEST_INVALID")
			: "DIGEST_INVALID",
		    "invalid reference \"%.200s\"", r->rt.ref);
		return;
	}
	if (is_write(method)) {
		if (!strcmp(method, "DELETE") && r->rt.kind != RT_UPLOAD &&
		    !srv->o.delete) {
			serve_error(r, c, 405, "UNSUPPORTED",
				    "deletes are disabled (serve --delete)");
			return;
		}
		push_begin(r, c, method);
	}
}

static enum MHD_Result handler(void *cls, struct MHD_Connection *c,
			       const char *url, const char *method,
			       const char *version, const char *upload_data,
			       size_t *upload_data_size, void **con_cls)
{
	struct server *srv = cls;
	struct req *r = *con_cls;

	(void)version;
	if (!r) {
		r = calloc(1, sizeof(*r));
		if (!r)
			return MHD_NO;
		r->srv = srv;
		r->t0_us = now_us();
		__atomic_add_fetch(&srv->active_requests, 1, __ATOMIC_RELAXED);
		buf_init(&r->body, OCI_MANIFEST_MAX);
		snprintf(r->method, sizeof(r->method), "%s", method);
		snprintf(r->url, sizeof(r->url), "%s", url);
		*con_cls = r;
		r->first = 1;
		first_call(r, c, url, method);
		r->first = 0;
		return MHD_YES;
	}
	if (r->pending) {
		/* an answer decided before the body: drain it, then send */
		if (*upload_data_size) {
			*upload_data_size = 0;
			return MHD_YES;
		}
		return send_pending(r, c);
	}
	if (*upload_data_size) {
		r->bytes_in += *upload_data_size;
		push_data(r, upload_data, *upload_data_size);
		*upload_data_size = 0;
		return MHD_YES;
	}
	if (is_write(method))
		return push_end(r, c, method);
	return dispatch_read(r, c, method);
}

static void completed(void *cls, struct MHD_Connection *c, void **con_cls,
		      enum MHD_RequestTerminationCode toe)
{
	struct server *srv = cls;
	struct req *r = *con_cls;
	const union MHD_ConnectionInfo *ci;
	char addr[INET6_ADDRSTRLEN + 8] = "-";
	int ok = toe == MHD_REQUEST_TERMINATED_COMPLETED_OK;

	if (!r)
		return;
	if (!strcmp(r->method, "HEAD"))
		r->bytes_out = 0; /* headers only */
	push_abort(r);
	if (r->pending) {
		MHD_destroy_response(r->pending);
		r->pending = NULL;
	}
	ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	if (ci && ci->client_addr) {
		const struct sockaddr *sa = ci->client_addr;
		if (sa->sa_family == AF_INET)
			inet_ntop(AF_INET,
				  &((const struct sockaddr_in *)sa)->sin_addr,
				  addr, sizeof(addr));
		else if (sa->sa_family == AF_INET6)
			inet_ntop(AF_INET6,
				  &((const struct sockaddr_in6 *)sa)->sin6_addr,
				  addr, sizeof(addr));
	}
	__atomic_add_fetch(
	    &srv->requests[method_index(r->method)][status_index(r->status)], 1,
	    __ATOMIC_RELAXED);
	__atomic_add_fetch(&srv->bytes_sent, ok ? r->bytes_out : 0,
			   __ATOMIC_RELAXED);
	__atomic_add_fetch(&srv->bytes_received, r->bytes_in, __ATOMIC_RELAXED);
	if (srv->o.access_log) {
		char line[1024];
		snprintf(line, sizeof(line),
			 "%s %s %s %s%s %u %llu %llu %.3fms%s", addr,
			 r->user[0] ? r->user : "-", r->method, r->url,
			 r->rt.ns_query, r->status,
			 (unsigned long long)(ok ? r->bytes_out : 0),
			 (unsigned long long)r->bytes_in,
			 (double)(now_us() - r->t0_us) / 1000.0,
			 ok ? "" : " aborted");
		srv->o.access_log(srv->o.log_ctx, line);
	}
	buf_release(&r->body);
	free(r);
	*con_cls = NULL;
	__atomic_sub_fetch(&srv->active_requests, 1, __ATOMIC_RELAXED);
}

static int hexval(char ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	if (ch >= 'A' && ch <= 'F')
		return ch - 'A' + 10;
	return -1;
}

/* MHD's own unescaping turns %00 into a NUL that cuts the string, so
 * ".../manifests/v1%00x" would be answered as tag v1. Decode %XX except
 * %00, which stays as it is and fails name, tag and digest validation. */
static size_t unescape(void *cls, struct MHD_Connection *c, char *s)
{
	char *w = s;
	const char *p = s;

	(void)cls;
	(void)c;
	while (*p) {
		int hi, lo;
		if (p[0] == '%' && (hi = hexval(p[1])) >= 0 &&
		    (lo = hexval(p[2])) >= 0 && (hi || lo)) {
			*w++ = (char)(hi * 16 + lo);
			p += 3;
		} else {
			*w++ = *p++;
		}
	}
	*w = '\0';
	return (size_t)(w - s);
}

static void conn_notify(void *cls, struct MHD_Connection *c, void **socket_ctx,
			enum MHD_ConnectionNotificationCode code)
{
	struct server *srv = cls;

	(void)c;
	(void)socket_ctx;
	__atomic_add_fetch(&srv->connections,
			   code == MHD_CONNECTION_NOTIFY_STARTED ? 1 : -1,
			   __ATOMIC_RELAXED);
}

static char *read_pem(const char *path, struct err *err)
{
	FILE *f = fopen(path, "r");
	struct buf b;
	char tmp[4096];
	size_t n;

	if (!f) {
		err_set(err, ERR_NOT_FOUND, "%s: %s", path, strerror(errno));
		return NULL;
	}
	buf_init(&b, 1024 * 1024);
	while ((n = fread(tmp, 1, sizeof(tmp), f)) > 0)
		if (buf_append(&b, tmp, n)) {
			fclose(f);
			err_set(err, ERR_TOO_LARGE, "%s: too large", path);
			return NULL;
		}
	fclose(f);
	return buf_detach(&b, NULL);
}

/* "127.0.0.1:5000", "[::1]:5000", ":5000", "5000" */
static int parse_listen(const char *s, struct sockaddr_storage *ss,
			socklen_t *len, struct err *err)
{
	char host[256] = "";
	const char *port;
	char *end;
	long p;

	memset(ss, 0, sizeof(*ss));
	if (s[0] == '[') {
		const char *rb = strchr(s, ']');
		if (!rb || rb[1] != ':' || (size_t)(rb - s - 1) >= sizeof(host))
			return err_set(err, ERR_INVALID,
				       "invalid --listen \"%s\"", s);
		memcpy(host, s + 1, (size_t)(rb - s - 1));
		port = rb + 2;
	} else if (strrchr(s, ':')) {
		const char *colon = strrchr(s, ':');
		if ((size_t)(colon - s) >= sizeof(host))
			return err_set(err, ERR_INVALID,
				       "invalid --listen \"%s\"", s);
		memcpy(host, s, (size_t)(colon - s));
		port = colon + 1;
	} else {
		port = s;
	}
	p = strtol(port, &end, 10);
	if (*end || end == port || p < 0 || p > 65535)
		return err_set(err, ERR_INVALID,
			       "invalid port in --listen \"%s\"", s);
	if (strchr(host, ':')) {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)ss;
		a->sin6_family = AF_INET6;
		a->sin6_port = htons((uint16_t)p);
		if (inet_pton(AF_INET6, host, &a->sin6_addr) != 1)
			return err_set(err, ERR_INVALID,
				       "invalid address in --listen \"%s\"", s);
		*len = sizeof(*a);
	} else {
		struct sockaddr_in *a = (struct sockaddr_in *)ss;
		a->sin_family = AF_INET;
		a->sin_port = htons((uint16_t)p);
		if (!host[0] || !strcmp(host, "0.0.0.0"))
			a->sin_addr.s_addr = htonl(INADDR_ANY);
		else if (!strcmp(host, "localhost"))
			a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		else if (inet_pton(AF_INET, host, &a->sin_addr) != 1)
			return err_set(err, ERR_INVALID,
				       "invalid address in --listen \"%s\"", s);
		*len = sizeof(*a);
	}
	return 0;
}

int serve_start(struct server **out, struct store *s,
		const struct serve_options *o, struct err *err)
{
	struct server *srv = calloc(1, sizeof(*srv));
	struct sockaddr_storage ss;
	socklen_t sl;
	unsigned flags = MHD_USE_EPOLL_INTERNAL_THREAD | MHD_USE_ITC |
			 MHD_USE_TURBO | MHD_USE_ERROR_LOG;
	unsigned threads = o->threads;
	const union MHD_DaemonInfo *di;
	int rc;

	*out = NULL;
	if (!srv)
		return err_set(err, ERR_FAIL, "out of memory");
	srv->s = s;
	srv->o = *o;
	pthread_mutex_init(&srv->mu, NULL);
	rc = parse_listen(o->listen, &ss, &sl, err);
	if (rc)
		goto fail;
	if (ss.ss_family == AF_INET6)
		flags |= MHD_USE_IPv6;
	if (o->htpasswd) {
		rc = htpasswd_load(&srv->users, o->htpasswd, err);
		if (rc)
			goto fail;
	}
	if (!!o->tls_cert != !!o->tls_key) {
		rc = err_set(err, ERR_INVALID,
			     "--tls-cert and --tls-key go together");
		goto fail;
	}
	if (o->tls_cert) {
		if (MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES) {
			rc = err_set(err, ERR_UNSUPPORTED,
				     "libmicrohttpd was built without TLS");
			goto fail;
		}
		srv->cert_pem = read_pem(o->tls_cert, err);
		srv->key_pem = srv->cert_pem ? read_pem(o->tls_key, err) : NULL;
		if (!srv->key_pem) {
			rc = ERR_INVALID;
			goto fail;
		}
		flags |= MHD_USE_TLS;
	}
	if (!threads) {
		long n = sysconf(_SC_NPROCESSORS_ONLN);
		threads = n > 0 ? (unsigned)n * 2 : 4;
	}
	{
		/* TLS material only when serving https (an empty list else) */
		struct MHD_OptionItem tls[] = {
		    {MHD_OPTION_HTTPS_MEM_CERT, 0, srv->cert_pem},
		    {MHD_OPTION_HTTPS_MEM_KEY, 0, srv->key_pem},
		    {MHD_OPTION_END, 0, NULL},
		};
		srv->d = MHD_start_daemon(
		    flags, 0, NULL, NULL, handler, srv, MHD_OPTION_SOCK_ADDR,
		    (struct sockaddr *)&ss, MHD_OPTION_THREAD_POOL_SIZE,
		    threads, MHD_OPTION_CONNECTION_TIMEOUT, o->conn_timeout,
		    MHD_OPTION_CONNECTION_LIMIT, (unsigned)10000,
		    MHD_OPTION_NOTIFY_COMPLETED, completed, srv,
		    MHD_OPTION_NOTIFY_CONNECTION, conn_notify, srv,
		    MHD_OPTION_LISTEN_BACKLOG_SIZE, (unsigned)1024,
		    MHD_OPTION_UNESCAPE_CALLBACK, unescape, NULL,
		    MHD_OPTION_ARRAY, srv->cert_pem ? tls : tls + 2,
		    MHD_OPTION_END);
	}
	if (!srv->d) {
		rc = err_set(err, ERR_FAIL,
			     "cannot listen on %s (in use, or not allowed)",
			     o->listen);
		goto fail;
	}
	di = MHD_get_daemon_info(srv->d, MHD_DAEMON_INFO_BIND_PORT);
	srv->port = di ? di->port : 0;
	*out = srv;
	return 0;
fail:
	serve_stop(srv);
	return rc;
}

unsigned serve_port(const struct server *srv)
{
	return srv->port;
}

void serve_stop(struct server *srv)
{
	if (!srv)
		return;
	if (srv->d) {
		MHD_socket fd = MHD_quiesce_daemon(srv->d);
		/* in-flight requests finish, bounded to ~30 s */
		for (int i = 0;
		     i < 300 && __atomic_load_n(&srv->active_requests,
						__ATOMIC_RELAXED) > 0;
		     i++) {
			struct timespec ts = {0, 100 * 1000000L};
			nanosleep(&ts, NULL);
		}
		MHD_stop_daemon(srv->d);
		if (fd != MHD_INVALID_SOCKET)
			close(fd);
	}
	uploads_release(srv);
	htpasswd_free(srv->users);
	free(srv->cert_pem);
	free(srv->key_pem);
	pthread_mutex_destroy(&srv->mu);
	free(srv);
}
