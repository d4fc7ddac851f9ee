#include "mirror/fresh.h"

#include <stdio.h>
#include <stdlib.h>

#include "oci/manifest.h"
#include "oci/ref.h"

static int complete_at(const struct store *s, const char *repo,
		       const struct oci_digest *d,
		       const struct oci_platform *platforms, size_t n,
		       int depth)
{
	struct oci_manifest m;
	char *raw = NULL;
	size_t len = 0;
	int ok = 1;

	if (depth > 4 ||
	    store_blob_read(&raw, &len, s, d, OCI_MANIFEST_MAX, NULL))
		return 0;
	if (oci_manifest_parse(&m, raw, len, NULL, NULL)) {
		free(raw);
		return 0;
	}
	free(raw);
	if (m.kind == OCI_KIND_INDEX) {
		for (size_t i = 0; i < m.n_manifests && ok; i++)
			if (oci_descriptor_wanted(&m.manifests[i], platforms,
						  n))
				ok =
				    complete_at(s, repo, &m.manifests[i].digest,
						platforms, n, depth + 1);
	} else {
		if (m.has_config)
			ok = store_blob_linked(s, repo, &m.config.digest) &&
			     store_blob_exists(NULL, s, &m.config.digest);
		for (size_t i = 0; i < m.n_layers && ok; i++)
			ok = oci_mediatype_is_nondistributable(
				 m.layers[i].media_type) ||
			     (store_blob_linked(s, repo, &m.layers[i].digest) &&
			      store_blob_exists(NULL, s, &m.layers[i].digest));
	}
	oci_manifest_release(&m);
	return ok;
}

int fresh_manifest_complete(const struct store *s, const char *repo,
			    const struct oci_digest *d,
			    const struct oci_platform *platforms, size_t n)
{
	struct store_ref mr;

	if (store_manifest_get(&mr, s, repo, d, NULL))
		return 0;
	return complete_at(s, repo, d, platforms, n, 0);
}

int fresh_tag_current(const struct store *s, const char *repo, const char *tag,
		      const struct oci_digest *d,
		      const struct oci_platform *platforms, size_t n)
{
	struct store_ref old;

	return !store_tag_get(&old, s, repo, tag, NULL) &&
	       oci_digest_equal(&old.digest, d) &&
	       fresh_manifest_complete(s, repo, d, platforms, n);
}

int fresh_head_tag(struct oci_digest *out, struct reg_client *c,
		   const char *path, const char *tag, struct err *err)
{
	struct reg_manifest hm;
	int rc = reg_client_head_manifest(c, &hm, NULL, path, tag, err);

	if (rc)
		return rc;
	if (!hm.has_digest) {
		/* no Docker-Content-Digest: the body tells */
		reg_manifest_release(&hm);
		rc = reg_client_get_manifest(c, &hm, path, tag, err);
		if (rc)
			return rc;
		oci_digest_of(&hm.digest, OCI_SHA256, hm.body, hm.len);
	}
	*out = hm.digest;
	reg_manifest_release(&hm);
	return 0;
}

/* One tag's question in flight: what the GET after a digest-less HEAD
 * needs. */
struct head_job {
	struct reg_client *c;
	char path[OCI_REPO_MAX];
	char tag[OCI_TAG_MAX + 1];
	fresh_head_cb cb;
	void *ctx;
};

static void head_answer(struct head_job *j, int rc, const struct oci_digest *d,
			const struct err *err)
{
	j->cb(j->ctx, rc, d, err);
	free(j);
}

static void on_get(void *ctx, int rc, struct reg_manifest *m, int64_t size,
		   const struct err *err)
{
	struct head_job *j = ctx;
	struct oci_digest d;

	(void)size;
	if (rc) {
		head_answer(j, rc, NULL, err);
		return;
	}
	oci_digest_of(&d, OCI_SHA256, m->body, m->len);
	head_answer(j, 0, &d, NULL);
}

static void on_head(void *ctx, int rc, struct reg_manifest *m, int64_t size,
		    const struct err *err)
{
	struct head_job *j = ctx;
	struct err e;

	(void)size;
	if (rc) {
		head_answer(j, rc, NULL, err);
		return;
	}
	if (m->has_digest) {
		head_answer(j, 0, &m->digest, NULL);
		return;
	}
	/* no Docker-Content-Digest: the body tells */
	if (reg_client_get_manifest_async(j->c, j->path, j->tag, on_get, j, &e))
		head_answer(j, e.code, NULL, &e);
}

int fresh_head_tag_async(struct reg_client *c, const char *path,
			 const char *tag, fresh_head_cb cb, void *ctx,
			 struct err *err)
{
	struct head_job *j = calloc(1, sizeof(*j));
	int rc;

	if (!j)
		return err_set(err, ERR_FAIL, "HEAD %s:%s: out of memory", path,
			       tag);
	j->c = c;
	snprintf(j->path, sizeof(j->path), "%s", path);
	snprintf(j->tag, sizeof(j->tag), "%s", tag);
	j->cb = cb;
	j->ctx = ctx;
	rc = reg_client_head_manifest_async(c, path, tag, on_head, j, err);
	if (rc)
		free(j);
	return rc;
}
