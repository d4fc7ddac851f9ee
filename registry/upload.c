#include "registry/upload.h"

#include <curl/curl.h>
#include <stdio.h>
#include <string.h>

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
	if (rc) {
		err_wrap(err, "blob %s/%s@%s: ", reg_client_host(c), repo,
			 digest->str);
		goto out;
	}
	if (r.status == 200) {
		if (size_out)
			*size_out = r.content_length;
		rc = 1;
	} else if (r.status == 404) {
		rc = 0;
	} else {
		rc = push_status_error("HEAD blob", reg_client_host(c), repo,
				       digest->str, &r, err);
	}
out:
	reg_response_release(&r);
	return rc;
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
	if (mount_from) {
		char *esc_d = curl_easy_escape(NULL, digest->str, 0);
		snprintf(path, sizeof(path),
			 "/v2/%s/blobs/uploads/?mount=%s&from=%s", repo,
			 esc_d ? esc_d : "", mount_from);
		curl_free(esc_d);
	} else {
		snprintf(path, sizeof(path), "/v2/%s/blobs/uploads/", repo);
	}
	rc = reg_client_request(c, &r, "POST", path, repo, 1, NULL, err);
	if (rc)
		goto wrap;
	if (r.status == 201 && mount_from) {
		*how_out = REG_UPLOAD_MOUNTED;
		goto out;
	}
	if (r.status != 202) {
		rc = push_status_error("start upload", host, repo, digest->str,
				       &r, err);
		goto out;
	}
	rc = session_url(loc, sizeof(loc), &r, host, repo, err);
	if (rc)
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
			if (r.status != 202) {
				rc = push_status_error("upload chunk", host,
						       repo, digest->str, &r,
						       err);
				goto out;
			}
			patches++;
			rc = session_url(loc, sizeof(loc), &r, host, repo, err);
			if (rc)
				goto out;
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
	if (with_digest(path, sizeof(path), loc, digest)) {
		rc = err_set(err, ERR_TOO_LARGE,
			     "upload to %s/%s: Location too long", host, repo);
		goto out;
	}
	rc = reg_client_request(c, &r, "PUT", path, repo, 1, &body, err);
	if (rc)
		goto wrap;
	if (r.status != 201) {
		rc = push_status_error("finish upload", host, repo, digest->str,
				       &r, err);
		goto out;
	}
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
	if (rc) {
		err_wrap(err, "push manifest %s/%s:%s: ", reg_client_host(c),
			 repo, ref);
		goto out;
	}
	if (r.status != 201) {
		rc = push_status_error("push manifest", reg_client_host(c),
				       repo, ref, &r, err);
		goto out;
	}
	if (subject_out)
		*subject_out = r.oci_subject;
out:
	reg_response_release(&r);
	return rc;
}
