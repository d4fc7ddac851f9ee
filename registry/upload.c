#include "registry/upload.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "registry/engine.h"
#include "registry/http.h"
#include "registry/request.h"

#define ANSWER_MAX (64u * 1024)
#define URL_MAX 4096

static int push_status_error(const char *what, const char *host,
			     const char *repo, const char *name,
			     const struct reg_response *r, struct err *err)
{
	char d[300];

	reg_response_describe(d, sizeof(d), r);
	if (r->status == 401 || r->status == 403)
		return err_set(err, ERR_UNAUTHORIZED,
			       "%s %s/%s %s: %s (unauthorized: push refused)",
			       what, host, repo, name, d);
	if (r->status == 404)
		return err_set(err, ERR_NOT_FOUND, "%s %s/%s %s: %s", what,
			       host, repo, name, d);
	return err_set(err, ERR_FAIL, "%s %s/%s %s: %s", what, host, repo, name,
		       d);
}

/* What an answer to each step means; the blocking and the engine calls
 * share these so that both say the same. */

static int answer_exists(const struct reg_response *r, int64_t *size_out,
			 const char *host, const char *repo,
			 const struct oci_digest *digest, struct err *err)
{
	if (r->status == 200) {
		if (size_out)
			*size_out = r->content_length;
		return 1;
	}
	if (r->status == 404)
		return 0;
	return push_status_error("HEAD blob", host, repo, digest->str, r, err);
}

/* The next URL of an upload session from a Location header. */
static int session_url(char *dst, size_t cap, const struct reg_response *r,
		       const char *host, const char *repo, struct err *err)
{
	if (!r->location[0] ||
	    (r->location[0] != '/' && strncmp(r->location, "http://", 7) &&
	     strncmp(r->location, "https://", 8)))
		return err_set(err, ERR_FAIL,
			       "upload to %s/%s: no usable Location in the "
			       "answer (HTTP %ld)",
			       host, repo, r->status);
	if ((size_t)snprintf(dst, cap, "%s", r->location) >= cap)
		return err_set(err, ERR_TOO_LARGE,
			       "upload to %s/%s: Location too long", host,
			       repo);
	return 0;
}

/* The POST that starts an upload (or mounts): *how_out is
 * REG_UPLOAD_MOUNTED when the mount was taken, else 0 with the session's
 * URL in loc. */
static int answer_post(const struct reg_response *r,
		       enum reg_upload_how *how_out, char *loc, size_t cap,
		       int mount, const char *host, const char *repo,
		       const struct oci_digest *digest, struct err *err)
{
	*how_out = 0;
	if (r->status == 201 && mount) {
		*how_out = REG_UPLOAD_MOUNTED;
		return 0;
	}
	if (r->status != 202)
		return push_status_error("start upload", host, repo,
					 digest->str, r, err);
	return session_url(loc, cap, r, host, repo, err);
}

static int answer_patch(const struct reg_response *r, char *loc, size_t cap,
			const char *host, const char *repo,
			const struct oci_digest *digest, struct err *err)
{
	if (r->status != 202)
		return push_status_error("upload chunk", host, repo,
					 digest->str, r, err);
	return session_url(loc, cap, r, host, repo, err);
}

static int answer_put(const struct reg_response *r, const char *host,
		      const char *repo, const struct oci_digest *digest,
		      struct err *err)
{
	if (r->status != 201)
		return push_status_error("finish upload", host, repo,
					 digest->str, r, err);
	return 0;
}

static int answer_manifest(const struct reg_response *r, int *subject_out,
			   const char *host, const char *repo, const char *ref,
			   struct err *err)
{
	if (r->status != 201)
		return push_status_error("push manifest", host, repo, ref, r,
					 err);
	if (subject_out)
		*subject_out = r->oci_subject;
	return 0;
}

static void post_path(char *dst, size_t cap, const char *repo,
		      const struct oci_digest *digest, const char *mount_from)
{
	if (mount_from) {
		char *esc_d = curl_easy_escape(NULL, digest->str, 0);
		snprintf(dst, cap, "/v2/%s/blobs/uploads/?mount=%s&from=%s",
			 repo, esc_d ? esc_d : "", mount_from);
		curl_free(esc_d);
	} else {
		snprintf(dst, cap, "/v2/%s/blobs/uploads/", repo);
	}
}

static int with_digest(char *dst, size_t cap, const char *loc,
		       const struct oci_digest *d)
{
	char *esc = curl_easy_escape(NULL, d->str, 0);
	int n;

	if (!esc)
		return ERR_FAIL;
	n = snprintf(dst, cap, "%s%sdigest=%s", loc,
		     strchr(loc, '?') ? "&" : "?", esc);
	curl_free(esc);
	return n < 0 || (size_t)n >= cap ? ERR_TOO_LARGE : 0;
}

/* The PUT that closes the session at loc. */
static int put_url(char *dst, size_t cap, const char *loc, const char *host,
		   const char *repo, const struct oci_digest *digest,
		   struct err *err)
{
	if (with_digest(dst, cap, loc, digest))
		return err_set(err, ERR_TOO_LARGE,
			       "upload to %s/%s: Location too long", host,
			       repo);
	return 0;
}

int reg_client_blob_exists(struct reg_client *c, int64_t *size_out,
			   const char *repo, const struct oci_digest *digest,
			   struct err *err)
{
	struct reg_response r;
	char path[1200];
	int rc;

	reg_response_init(&r, ANSWER_MAX);
	snprintf(path, sizeof(path), "/v2/%s/blobs/%s", repo, digest->str);
	rc = reg_client_request(c, &r, "HEAD", path, repo, 1, NULL, err);
	if (rc)
		err_wrap(err, "blob %s/%s@%s: ", reg_client_host(c), repo,
			 digest->str);
	else
		rc = answer_exists(&r, size_out, reg_client_host(c), repo,
				   digest, err);
	reg_response_release(&r);
	return rc;
}

int reg_client_upload_blob(struct reg_client *c, enum reg_upload_how *how_out,
			   int *patches_out, const char *repo,
			   const struct oci_digest *digest, int64_t size,
			   int fd, const char *mount_from, size_t chunk,
			   struct err *err)
{
	struct reg_response r;
	char path[URL_MAX], loc[URL_MAX];
	const char *host = reg_client_host(c);
	struct reg_body body;
	int rc, patches = 0;

	if (!chunk)
		chunk = REG_UPLOAD_CHUNK_DEFAULT;
	*how_out = 0;
	reg_response_init(&r, ANSWER_MAX);
	post_path(path, sizeof(path), repo, digest, mount_from);
	rc = reg_client_request(c, &r, "POST", path, repo, 1, NULL, err);
	if (rc)
		goto wrap;
	rc = answer_post(&r, how_out, loc, sizeof(loc), !!mount_from, host,
			 repo, digest, err);
	if (rc || *how_out == REG_UPLOAD_MOUNTED)
		goto out;
	memset(&body, 0, sizeof(body));
	body.fd = fd;
	if ((uint64_t)size > chunk) {
		for (int64_t off = 0; off < size;) {
			char range[64];
			int64_t n = size - off;

			if (n > (int64_t)chunk)
				n = (int64_t)chunk;
			snprintf(range, sizeof(range), "%lld-%lld",
				 (long long)off, (long long)(off + n - 1));
			body.offset = off;
			body.length = n;
			body.content_range = range;
			rc = reg_client_request(c, &r, "PATCH", loc, repo, 1,
						&body, err);
			if (rc)
				goto wrap;
			rc = answer_patch(&r, loc, sizeof(loc), host, repo,
					  digest, err);
			if (rc)
				goto out;
			patches++;
			off += n;
		}
		body.length = 0;
		body.offset = 0;
		body.content_range = NULL;
		*how_out = REG_UPLOAD_CHUNKED;
	} else {
		body.offset = 0;
		body.length = size;
		*how_out = REG_UPLOAD_MONOLITHIC;
	}
	rc = put_url(path, sizeof(path), loc, host, repo, digest, err);
	if (rc)
		goto out;
	rc = reg_client_request(c, &r, "PUT", path, repo, 1, &body, err);
	if (rc)
		goto wrap;
	rc = answer_put(&r, host, repo, digest, err);
	goto out;
wrap:
	err_wrap(err, "push blob %s/%s@%s: ", host, repo, digest->str);
out:
	if (patches_out)
		*patches_out = patches;
	reg_response_release(&r);
	return rc;
}

int reg_client_put_manifest(struct reg_client *c, int *subject_out,
			    const char *repo, const char *ref,
			    const char *media_type, const char *body,
			    size_t len, struct err *err)
{
	struct reg_response r;
	struct reg_body b;
	char path[1200];
	int rc;

	memset(&b, 0, sizeof(b));
	b.data = body;
	b.length = (int64_t)len;
	b.content_type = media_type;
	reg_response_init(&r, ANSWER_MAX);
	snprintf(path, sizeof(path), "/v2/%s/manifests/%s", repo, ref);
	rc = reg_client_request(c, &r, "PUT", path, repo, 1, &b, err);
	if (rc)
		err_wrap(err, "push manifest %s/%s:%s: ", reg_client_host(c),
			 repo, ref);
	else
		rc = answer_manifest(&r, subject_out, reg_client_host(c), repo,
				     ref, err);
	reg_response_release(&r);
	return rc;
}

/* --- on the engine --- */

/* One request of a chain as a job of the client's engine. */
static int submit(struct reg_client *c, const char *method, const char *url,
		  const char *repo, const struct reg_body *body, int bulk,
		  void (*done)(struct reg_job *j, void *ctx), void *ctx,
		  struct err *err)
{
	struct reg_engine *e = reg_client_engine(c);
	struct reg_req q;

	if (!e)
		return err_set(err, ERR_FAIL, "%s %s: out of memory", method,
			       url);
	memset(&q, 0, sizeof(q));
	q.client = c;
	q.method = method;
	q.url = url;
	q.repo = repo;
	q.push = 1;
	q.body = body;
	q.body_max = ANSWER_MAX;
	q.size = -1;
	q.bulk = bulk;
	q.done = done;
	q.ctx = ctx;
	return reg_engine_submit(e, &q, err);
}

/* A failed job's error into err (0 when an answer came). */
static int job_failed(struct reg_job *j, struct err *err)
{
	int rc = reg_job_result(j);
	const struct err *je;

	if (!rc)
		return 0;
	je = reg_job_err(j);
	if (je && je->msg[0])
		*err = *je;
	else
		err_set(err, rc, "%s", err_code_name(rc));
	err->code = rc;
	return rc;
}

struct exists {
	struct reg_client *c;
	char *repo;
	struct oci_digest digest;
	reg_exists_cb cb;
	void *ctx;
};

static void exists_done(struct reg_job *j, void *ctx)
{
	struct exists *x = ctx;
	struct err err;
	int64_t size = -1;
	int rc;

	err_clear(&err);
	rc = job_failed(j, &err);
	if (rc)
		err_wrap(&err, "blob %s/%s@%s: ", reg_client_host(x->c),
			 x->repo, x->digest.str);
	else
		rc = answer_exists(reg_job_response(j), &size,
				   reg_client_host(x->c), x->repo, &x->digest,
				   &err);
	x->cb(x->ctx, rc, rc == 1 ? size : -1, &err);
	free(x->repo);
	free(x);
}

int reg_client_blob_exists_async(struct reg_client *c, const char *repo,
				 const struct oci_digest *digest,
				 reg_exists_cb cb, void *ctx, struct err *err)
{
	struct exists *x = calloc(1, sizeof(*x));
	char path[1200];
	int rc;

	if (!x || !(x->repo = strdup(repo))) {
		free(x);
		return err_set(err, ERR_FAIL, "blob %s/%s@%s: out of memory",
			       reg_client_host(c), repo, digest->str);
	}
	x->c = c;
	x->digest = *digest;
	x->cb = cb;
	x->ctx = ctx;
	snprintf(path, sizeof(path), "/v2/%s/blobs/%s", repo, digest->str);
	rc = submit(c, "HEAD", path, repo, NULL, 0, exists_done, x, err);
	if (rc) {
		free(x->repo);
		free(x);
	}
	return rc;
}

/* One blob upload, from its POST to its PUT. */
struct upload {
	struct reg_client *c;
	char *repo;
	struct oci_digest digest;
	int64_t size, off, n; /* bytes sent, and in the PATCH in flight */
	int fd;
	int mount;
	size_t chunk;
	int patches;
	enum reg_upload_how how;
	char loc[URL_MAX];
	reg_upload_cb cb;
	void *ctx;
	struct err err;
};

static void upload_finish(struct upload *u, int rc)
{
	u->cb(u->ctx, rc, rc ? 0 : u->how, u->patches, &u->err);
	free(u->repo);
	free(u);
}

static void upload_patched(struct reg_job *j, void *ctx);
static void upload_put(struct reg_job *j, void *ctx);

/* The next PATCH, or the PUT when every byte is sent. */
static int upload_next(struct upload *u)
{
	const char *host = reg_client_host(u->c);
	struct reg_body body;
	char range[64], path[URL_MAX];
	int rc;

	memset(&body, 0, sizeof(body));
	body.fd = u->fd;
	if ((uint64_t)u->size > u->chunk && u->off < u->size) {
		u->n = u->size - u->off;
		if (u->n > (int64_t)u->chunk)
			u->n = (int64_t)u->chunk;
		snprintf(range, sizeof(range), "%lld-%lld", (long long)u->off,
			 (long long)(u->off + u->n - 1));
		body.offset = u->off;
		body.length = u->n;
		body.content_range = range;
		rc = submit(u->c, "PATCH", u->loc, u->repo, &body, 1,
			    upload_patched, u, &u->err);
		goto out;
	}
	if ((uint64_t)u->size > u->chunk) {
		u->how = REG_UPLOAD_CHUNKED;
	} else {
		body.length = u->size;
		u->how = REG_UPLOAD_MONOLITHIC;
	}
	rc = put_url(path, sizeof(path), u->loc, host, u->repo, &u->digest,
		     &u->err);
	if (rc)
		return rc;
	rc = submit(u->c, "PUT", path, u->repo, &body, 1, upload_put, u,
		    &u->err);
out:
	if (rc)
		err_wrap(&u->err, "push blob %s/%s@%s: ", host, u->repo,
			 u->digest.str);
	return rc;
}

/* A request's answer: 0 to go on, else the chain ends with rc. */
static int upload_answer(struct upload *u, struct reg_job *j)
{
	int rc = job_failed(j, &u->err);

	if (rc)
		err_wrap(&u->err, "push blob %s/%s@%s: ", reg_client_host(u->c),
			 u->repo, u->digest.str);
	return rc;
}

static void upload_posted(struct reg_job *j, void *ctx)
{
	struct upload *u = ctx;
	int rc = upload_answer(u, j);

	if (!rc)
		rc =
		    answer_post(reg_job_response(j), &u->how, u->loc,
				sizeof(u->loc), u->mount, reg_client_host(u->c),
				u->repo, &u->digest, &u->err);
	if (!rc && u->how != REG_UPLOAD_MOUNTED)
		rc = upload_next(u);
	if (rc || u->how == REG_UPLOAD_MOUNTED)
		upload_finish(u, rc);
}

static void upload_patched(struct reg_job *j, void *ctx)
{
	struct upload *u = ctx;
	int rc = upload_answer(u, j);

	if (!rc)
		rc = answer_patch(reg_job_response(j), u->loc, sizeof(u->loc),
				  reg_client_host(u->c), u->repo, &u->digest,
				  &u->err);
	if (!rc) {
		u->patches++;
		u->off += u->n;
		rc = upload_next(u);
	}
	if (rc)
		upload_finish(u, rc);
}

static void upload_put(struct reg_job *j, void *ctx)
{
	struct upload *u = ctx;
	int rc = upload_answer(u, j);

	if (!rc)
		rc = answer_put(reg_job_response(j), reg_client_host(u->c),
				u->repo, &u->digest, &u->err);
	upload_finish(u, rc);
}

int reg_client_upload_blob_async(struct reg_client *c, const char *repo,
				 const struct oci_digest *digest, int64_t size,
				 int fd, const char *mount_from, size_t chunk,
				 reg_upload_cb cb, void *ctx, struct err *err)
{
	struct upload *u = calloc(1, sizeof(*u));
	char path[URL_MAX];
	int rc;

	if (!u || !(u->repo = strdup(repo))) {
		free(u);
		return err_set(err, ERR_FAIL,
			       "push blob %s/%s@%s: out of memory",
			       reg_client_host(c), repo, digest->str);
	}
	u->c = c;
	u->digest = *digest;
	u->size = size;
	u->fd = fd;
	u->mount = !!mount_from;
	u->chunk = chunk ? chunk : REG_UPLOAD_CHUNK_DEFAULT;
	u->cb = cb;
	u->ctx = ctx;
	err_clear(&u->err);
	post_path(path, sizeof(path), repo, digest, mount_from);
	rc = submit(c, "POST", path, repo, NULL, 1, upload_posted, u, err);
	if (rc) {
		err_wrap(err, "push blob %s/%s@%s: ", reg_client_host(c), repo,
			 digest->str);
		free(u->repo);
		free(u);
	}
	return rc;
}

struct mput {
	struct reg_client *c;
	char *repo, *ref, *body, *media_type;
	reg_put_cb cb;
	void *ctx;
};

static void mput_free(struct mput *m)
{
	free(m->repo);
	free(m->ref);
	free(m->body);
	free(m->media_type);
	free(m);
}

static void mput_done(struct reg_job *j, void *ctx)
{
	struct mput *m = ctx;
	struct err err;
	int subject = 0, rc;

	err_clear(&err);
	rc = job_failed(j, &err);
	if (rc)
		err_wrap(&err,
			 "push manifest %s/%s:%s: ", reg_client_host(m->c),
			 m->repo, m->ref);
	else
		rc = answer_manifest(reg_job_response(j), &subject,
				     reg_client_host(m->c), m->repo, m->ref,
				     &err);
	m->cb(m->ctx, rc, subject, &err);
	mput_free(m);
}

int reg_client_put_manifest_async(struct reg_client *c, const char *repo,
				  const char *ref, const char *media_type,
				  const char *body, size_t len, reg_put_cb cb,
				  void *ctx, struct err *err)
{
	struct mput *m = calloc(1, sizeof(*m));
	struct reg_body b;
	char path[1200];
	int rc;

	if (m) {
		m->repo = strdup(repo);
		m->ref = strdup(ref);
		m->media_type = media_type ? strdup(media_type) : NULL;
		m->body = malloc(len ? len : 1);
	}
	if (!m || !m->repo || !m->ref || !m->body ||
	    (media_type && !m->media_type)) {
		if (m)
			mput_free(m);
		return err_set(err, ERR_FAIL,
			       "push manifest %s/%s:%s: out of memory",
			       reg_client_host(c), repo, ref);
	}
	if (len)
		memcpy(m->body, body, len);
	m->c = c;
	m->cb = cb;
	m->ctx = ctx;
	memset(&b, 0, sizeof(b));
	b.data = m->body;
	b.length = (int64_t)len;
	b.content_type = m->media_type;
	snprintf(path, sizeof(path), "/v2/%s/manifests/%s", repo, ref);
	rc = submit(c, "PUT", path, repo, &b, 0, mput_done, m, err);
	if (rc) {
		err_wrap(err, "push manifest %s/%s:%s: ", reg_client_host(c),
			 repo, ref);
		mput_free(m);
	}
	return rc;
}
