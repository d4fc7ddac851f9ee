/* Pushes: upload sessions (monolithic, streamed, chunked), cross-repository
 * mounts, manifest PUT with validation, deletes. Every byte goes through the
 * store's writer: hashed, verified, renamed, so an upload that is cut off or
 * does not match its digest leaves nothing visible. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "mirror/serve/internal.h"
#include "oci/manifest.h"

static void new_id(char *dst)
{
	unsigned char raw[16];

	if (getrandom(raw, sizeof(raw), 0) != (ssize_t)sizeof(raw))
		for (size_t i = 0; i < sizeof(raw); i++)
			raw[i] = (unsigned char)random();
	for (size_t i = 0; i < sizeof(raw); i++)
		snprintf(dst + 2 * i, 3, "%02x", raw[i]);
}

static void upload_free(struct upload *u)
{
	store_writer_free(u->w);
	free(u);
}

size_t uploads_count(struct server *srv)
{
	size_t n;

	pthread_mutex_lock(&srv->mu);
	n = srv->n_ups;
	pthread_mutex_unlock(&srv->mu);
	return n;
}

void uploads_release(struct server *srv)
{
	for (size_t i = 0; i < srv->n_ups; i++)
		upload_free(srv->ups[i]);
	free(srv->ups);
	srv->ups = NULL;
	srv->n_ups = 0;
}

/* Drop idle sessions older than the TTL. Called with mu held. */
static void sweep(struct server *srv)
{
	time_t now = time(NULL);
	size_t j = 0;

	for (size_t i = 0; i < srv->n_ups; i++) {
		struct upload *u = srv->ups[i];
		if (!u->busy && now - u->touched > (time_t)srv->o.upload_ttl)
			upload_free(u);
		else
			srv->ups[j++] = u;
	}
	srv->n_ups = j;
}

static struct upload *session_new(struct server *srv, const char *repo,
				  struct err *err)
{
	struct upload *u = calloc(1, sizeof(*u)), **nv;

	if (!u)
		return NULL;
	if (store_writer_open_upload(&u->w, srv->s, err)) {
		free(u);
		return NULL;
	}
	new_id(u->id);
	snprintf(u->repo, sizeof(u->repo), "%s", repo);
	u->touched = time(NULL);
	pthread_mutex_lock(&srv->mu);
	sweep(srv);
	nv = realloc(srv->ups, (srv->n_ups + 1) * sizeof(*nv));
	if (!nv) {
		pthread_mutex_unlock(&srv->mu);
		upload_free(u);
		return NULL;
	}
	srv->ups = nv;
	srv->ups[srv->n_ups++] = u;
	pthread_mutex_unlock(&srv->mu);
	return u;
}

/* Take a session for this request (busy), or NULL: unknown, other repo,
 * or in use by another request (*busy set). */
static struct upload *session_take(struct server *srv, const char *id,
				   const char *repo, int *busy)
{
	struct upload *u = NULL;

	*busy = 0;
	pthread_mutex_lock(&srv->mu);
	for (size_t i = 0; i < srv->n_ups; i++)
		if (!strcmp(srv->ups[i]->id, id) &&
		    !strcmp(srv->ups[i]->repo, repo))
			u = srv->ups[i];
	if (u && u->busy) {
		*busy = 1;
		u = NULL;
	} else if (u) {
		u->busy = 1;
		u->touched = time(NULL);
	}
	pthread_mutex_unlock(&srv->mu);
	return u;
}

static void session_put(struct server *srv, struct upload *u)
{
	pthread_mutex_lock(&srv->mu);
	u->busy = 0;
	u->touched = time(NULL);
	pthread_mutex_unlock(&srv->mu);
}

static void session_drop(struct server *srv, struct upload *u)
{
	pthread_mutex_lock(&srv->mu);
	for (size_t i = 0; i < srv->n_ups; i++)
		if (srv->ups[i] == u) {
			srv->ups[i] = srv->ups[--srv->n_ups];
			break;
		}
	pthread_mutex_unlock(&srv->mu);
	upload_free(u);
}

static enum MHD_Result upload_accepted(struct req *r, struct MHD_Connection *c,
				       struct upload *u, unsigned status)
{
	struct MHD_Response *resp = serve_empty();
	char loc[OCI_REPO_MAX + 400], range[64];
	uint64_t off = store_writer_offset(u->w);

	snprintf(loc, sizeof(loc), "/v2/%s/blobs/uploads/%s%s", r->rt.name,
		 u->id, r->rt.ns_query);
	snprintf(range, sizeof(range), "0-%llu",
		 (unsigned long long)(off ? off - 1 : 0));
	MHD_add_response_header(resp, "Location", loc);
	MHD_add_response_header(resp, "Range", range);
	MHD_add_response_header(resp, "Docker-Upload-UUID", u->id);
	MHD_add_response_header(resp, "Content-Length", "0");
	return serve_send(r, c, status, resp);
}

static enum MHD_Result blob_created(struct req *r, struct MHD_Connection *c,
				    const struct oci_digest *d)
{
	struct MHD_Response *resp = serve_empty();
	char loc[OCI_REPO_MAX + 400];

	snprintf(loc, sizeof(loc), "/v2/%s/blobs/%s%s", r->rt.name, d->str,
		 r->rt.ns_query);
	MHD_add_response_header(resp, "Location", loc);
	MHD_add_response_header(resp, "Docker-Content-Digest", d->str);
	return serve_send(r, c, 201, resp);
}

static const char *arg(struct MHD_Connection *c, const char *k)
{
	return MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, k);
}

/* "a-b" (also "bytes a-b/..."): digits only. */
static int parse_content_range(const char *s, uint64_t *a, uint64_t *b)
{
	char *end;

	if (!strncmp(s, "bytes ", 6))
		s += 6;
	if (*s < '0' || *s > '9')
		return -1;
	*a = strtoull(s, &end, 10);
	if (*end != '-' || end[1] < '0' || end[1] > '9')
		return -1;
	*b = strtoull(end + 1, &end, 10);
	return (*end && *end != '/') ? -1 : 0;
}

enum MHD_Result push_begin(struct req *r, struct MHD_Connection *c,
			   const char *method)
{
	struct server *srv = r->srv;
	int busy;

	if (!strcmp(method, "POST") && r->rt.kind == RT_UPLOAD_NEW) {
		const char *mount = arg(c, "mount"), *dg = arg(c, "digest");
		struct oci_digest d;

		if (mount) {
			const char *from = arg(c, "from");
			struct err e;

			/* from a repository holding the blob (or this one),
			 * or, without from, any blob in the store; otherwise
			 * a new session at the end */
			if (!oci_digest_parse(&d, mount, NULL) &&
			    (store_blob_linked(srv->s, r->rt.repo, &d) ||
			     (from ? store_blob_linked(srv->s, from, &d)
				   : 1)) &&
			    store_blob_exists(NULL, srv->s, &d) &&
			    !store_blob_link(srv->s, r->rt.repo, &d, &e))
				return blob_created(r, c, &d);
			return MHD_YES;
		}
		if (dg) {
			const char *cl = MHD_lookup_connection_value(
			    c, MHD_HEADER_KIND, "Content-Length");
			int64_t size = cl ? strtoll(cl, NULL, 10) : -1;

			if (oci_digest_parse(&d, dg, NULL))
				return serve_error(r, c, 400, "DIGEST_INVALID",
						   "invalid digest \"%.200s\"",
						   dg);
			if (store_writer_open(&r->w, srv->s, &d, size, &r->err))
				return serve_error(r, c, 500, "UNKNOWN", "%s",
						   r->err.msg);
		}
		return MHD_YES;
	}
	if ((!strcmp(method, "PATCH") || !strcmp(method, "PUT")) &&
	    r->rt.kind == RT_UPLOAD) {
		const char *cr = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
							     "Content-Range");
		r->up = session_take(srv, r->rt.upload_id, r->rt.repo, &busy);
		if (!r->up)
			return serve_error(r, c, busy ? 409 : 404,
					   busy ? "BLOB_UPLOAD_INVALID"
						: "BLOB_UPLOAD_UNKNOWN",
					   "upload %s %s", r->rt.upload_id,
					   busy ? "is in use by another request"
						: "unknown");
		if (cr) {
			uint64_t a, b;
			uint64_t off = store_writer_offset(r->up->w);

			if (parse_content_range(cr, &a, &b) || b < a ||
			    a != off) {
				struct MHD_Response *resp = serve_empty();
				char range[64];
				snprintf(
				    range, sizeof(range), "0-%llu",
				    (unsigned long long)(off ? off - 1 : 0));
				MHD_add_response_header(resp, "Range", range);
				MHD_add_response_header(resp, "Location",
							r->url);
				session_put(srv, r->up);
				r->up = NULL;
				return serve_send(r, c, 416, resp);
			}
			r->has_range = 1;
			r->range_start = a;
			r->range_len = b - a + 1;
		}
		return MHD_YES;
	}
	return MHD_YES;
}

void push_data(struct req *r, const char *data, size_t n)
{
	struct store_writer *w = r->w ? r->w : r->up ? r->up->w : NULL;

	if (r->body_failed || r->body_too_large)
		return;
	if (w) {
		if (store_writer_write(w, data, n, &r->err))
			r->body_failed = 1;
		return;
	}
	if (r->rt.kind == RT_MANIFEST) {
		if (buf_append(&r->body, data, n))
			r->body_too_large = 1;
		return;
	}
	r->body_failed = 1;
	err_set(&r->err, ERR_INVALID, "unexpected request body");
}

void push_abort(struct req *r)
{
	if (r->w) {
		store_writer_free(r->w);
		r->w = NULL;
	}
	if (r->up) {
		session_put(r->srv, r->up);
		r->up = NULL;
	}
}

static enum MHD_Result put_manifest(struct req *r, struct MHD_Connection *c)
{
	struct server *srv = r->srv;
	const char *ctype =
	    MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Type");
	struct oci_manifest m;
	struct store_ref sr;
	struct err e;
	struct MHD_Response *resp;
	char loc[OCI_REPO_MAX + 400];
	enum MHD_Result ret;
	const struct oci_digest *missing = NULL;

	if (r->body_too_large)
		return serve_error(r, c, 413, "SIZE_INVALID",
				   "manifest larger than %u bytes",
				   OCI_MANIFEST_MAX);
	if (oci_manifest_parse(&m, r->body.data, r->body.len, ctype, &e))
		return serve_error(r, c, 400, "MANIFEST_INVALID", "%s", e.msg);
	if (r->rt.is_digest) {
		struct oci_digest got;
		oci_digest_of(&got, r->rt.digest.alg, r->body.data,
			      r->body.len);
		if (!oci_digest_equal(&got, &r->rt.digest)) {
			oci_manifest_release(&m);
			return serve_error(r, c, 400, "DIGEST_INVALID",
					   "manifest digest is %s, not %s",
					   got.str, r->rt.digest.str);
		}
		m.digest = got;
	}
	if (m.kind == OCI_KIND_MANIFEST) {
		if (m.has_config &&
		    !store_blob_linked(srv->s, r->rt.repo, &m.config.digest))
			missing = &m.config.digest;
		for (size_t i = 0; i < m.n_layers && !missing; i++)
			if (!store_blob_linked(srv->s, r->rt.repo,
					       &m.layers[i].digest))
				missing = &m.layers[i].digest;
	} else {
		for (size_t i = 0; i < m.n_manifests && !missing; i++)
			if (store_manifest_get(&sr, srv->s, r->rt.repo,
					       &m.manifests[i].digest, NULL))
				missing = &m.manifests[i].digest;
	}
	if (missing) {
		ret =
		    serve_error(r, c, 400, "MANIFEST_BLOB_UNKNOWN",
				"blob %s referenced by the manifest is unknown",
				missing->str);
		oci_manifest_release(&m);
		return ret;
	}
	sr.digest = m.digest;
	snprintf(sr.media_type, sizeof(sr.media_type), "%s", m.media_type);
	sr.size = (int64_t)m.raw_len;
	if (store_blob_put(srv->s, &m.digest, m.raw, m.raw_len, &e) ||
	    store_manifest_link(srv->s, r->rt.repo, &sr, &e) ||
	    (!r->rt.is_digest &&
	     store_tag_set(srv->s, r->rt.repo, r->rt.ref, &sr, &e))) {
		oci_manifest_release(&m);
		return serve_error(r, c, 500, "UNKNOWN", "%s", e.msg);
	}
	if (m.has_subject) {
		char *desc = oci_manifest_referrer_json(&m);
		int rc = desc ? store_referrer_add(srv->s, r->rt.repo,
						   &m.subject.digest, &m.digest,
						   desc, &e)
			      : ERR_FAIL;
		free(desc);
		if (rc) {
			oci_manifest_release(&m);
			return serve_error(r, c, 500, "UNKNOWN",
					   "referrers: %s", e.msg);
		}
	}
	resp = serve_empty();
	snprintf(loc, sizeof(loc), "/v2/%s/manifests/%s%s", r->rt.name,
		 m.digest.str, r->rt.ns_query);
	MHD_add_response_header(resp, "Location", loc);
	MHD_add_response_header(resp, "Docker-Content-Digest", m.digest.str);
	if (m.has_subject)
		MHD_add_response_header(resp, "OCI-Subject",
					m.subject.digest.str);
	oci_manifest_release(&m);
	return serve_send(r, c, 201, resp);
}

static enum MHD_Result finish_upload(struct req *r, struct MHD_Connection *c,
				     struct store_writer *w, const char *dg)
{
	struct oci_digest d;
	int rc;

	if (!dg || oci_digest_parse(&d, dg, NULL))
		return serve_error(r, c, 400, "DIGEST_INVALID",
				   "invalid or missing digest \"%.200s\"",
				   dg ? dg : "");
	rc = store_writer_commit_as(w, &d, &r->err);
	if (rc == ERR_DIGEST)
		return serve_error(r, c, 400, "DIGEST_INVALID", "%s",
				   r->err.msg);
	if (!rc)
		rc = store_blob_link(r->srv->s, r->rt.repo, &d, &r->err);
	if (rc)
		return serve_error(r, c, 500, "UNKNOWN", "%s", r->err.msg);
	return blob_created(r, c, &d);
}

static enum MHD_Result do_delete(struct req *r, struct MHD_Connection *c)
{
	struct server *srv = r->srv;
	struct err e;
	int rc;

	switch (r->rt.kind) {
	case RT_MANIFEST:
		rc = r->rt.is_digest
			 ? store_manifest_unlink(srv->s, r->rt.repo,
						 &r->rt.digest, &e)
			 : store_tag_delete(srv->s, r->rt.repo, r->rt.ref, &e);
		if (rc == ERR_NOT_FOUND)
			return serve_error(r, c, 404, "MANIFEST_UNKNOWN",
					   "manifest %s unknown", r->rt.ref);
		break;
	case RT_BLOB:
		if (!r->rt.is_digest)
			return serve_error(r, c, 400, "DIGEST_INVALID",
					   "invalid digest");
		/* the repository forgets the blob; the file stays for
		 * other repositories holding it, until gc */
		rc = store_blob_unlink(srv->s, r->rt.repo, &r->rt.digest, &e);
		if (rc == ERR_NOT_FOUND)
			return serve_error(r, c, 404, "BLOB_UNKNOWN",
					   "blob %s unknown", r->rt.digest.str);
		break;
	default:
		return serve_error(r, c, 405, "UNSUPPORTED",
				   "DELETE not allowed here");
	}
	if (rc)
		return serve_error(r, c, 500, "UNKNOWN", "%s", e.msg);
	return serve_send(r, c, 202, serve_empty());
}

enum MHD_Result push_end(struct req *r, struct MHD_Connection *c,
			 const char *method)
{
	struct server *srv = r->srv;
	enum MHD_Result ret;
	int busy;

	if (r->body_failed) {
		int code = r->err.code;
		push_abort(r);
		if (code == ERR_DIGEST)
			return serve_error(r, c, 400, "DIGEST_INVALID", "%s",
					   r->err.msg);
		return serve_error(r, c, code == ERR_INVALID ? 400 : 500,
				   code == ERR_INVALID ? "UNSUPPORTED"
						       : "UNKNOWN",
				   "%s", r->err.msg);
	}
	if (!strcmp(method, "DELETE") && r->rt.kind == RT_UPLOAD) {
		struct upload *u =
		    session_take(srv, r->rt.upload_id, r->rt.repo, &busy);
		if (!u)
			return serve_error(r, c, 404, "BLOB_UPLOAD_UNKNOWN",
					   "upload %s unknown",
					   r->rt.upload_id);
		session_drop(srv, u);
		return serve_send(r, c, 204, serve_empty());
	}
	if (!strcmp(method, "DELETE"))
		return do_delete(r, c);
	if ((!strcmp(method, "GET") || !strcmp(method, "HEAD")) &&
	    r->rt.kind == RT_UPLOAD) {
		struct upload *u =
		    session_take(srv, r->rt.upload_id, r->rt.repo, &busy);
		if (!u)
			return serve_error(r, c, 404, "BLOB_UPLOAD_UNKNOWN",
					   "upload %s unknown",
					   r->rt.upload_id);
		ret = upload_accepted(r, c, u, 204);
		session_put(srv, u);
		return ret;
	}
	if (!strcmp(method, "POST") && r->rt.kind == RT_UPLOAD_NEW) {
		struct upload *u;

		if (r->w) {
			ret = finish_upload(r, c, r->w, arg(c, "digest"));
			store_writer_free(r->w);
			r->w = NULL;
			return ret;
		}
		u = session_new(srv, r->rt.repo, &r->err);
		if (!u)
			return serve_error(r, c, 500, "UNKNOWN",
					   "cannot open upload: %s",
					   r->err.msg);
		return upload_accepted(r, c, u, 202);
	}
	if (r->up && r->has_range && r->bytes_in != r->range_len) {
		ret =
		    serve_error(r, c, 416, "BLOB_UPLOAD_INVALID",
				"Content-Range names %llu bytes, body has %llu",
				(unsigned long long)r->range_len,
				(unsigned long long)r->bytes_in);
		session_drop(srv, r->up);
		r->up = NULL;
		return ret;
	}
	if (!strcmp(method, "PATCH") && r->up) {
		ret = upload_accepted(r, c, r->up, 202);
		session_put(srv, r->up);
		r->up = NULL;
		return ret;
	}
	if (!strcmp(method, "PUT") && r->up) {
		struct upload *u = r->up;
		ret = finish_upload(r, c, u->w, arg(c, "digest"));
		r->up = NULL;
		if (r->status == 201)
			session_drop(srv, u);
		else
			session_put(srv, u);
		return ret;
	}
	if (!strcmp(method, "PUT") && r->rt.kind == RT_MANIFEST)
		return put_manifest(r, c);
	return serve_error(r, c, 405, "UNSUPPORTED", "%s not allowed here",
			   method);
}
