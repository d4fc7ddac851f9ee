/* Checks of a pushed manifest against the store (contract in
 * mirror/serve/manifest_check.h). */
#include "mirror/serve/manifest_check.h"

static int size_refused(struct err *err, const char *what,
			const struct oci_descriptor *d, int64_t have)
{
	return err_set(err, ERR_INVALID,
		       "%s %s: the manifest says %lld bytes, the registry "
		       "holds %lld",
		       what, d->digest.str, (long long)d->size,
		       (long long)have);
}

static int blob_check(const struct store *s, const char *repo,
		      const struct oci_descriptor *d, const char *what,
		      int may_be_absent, struct err *err)
{
	int64_t have = -1;
	int held = store_blob_linked(s, repo, &d->digest) &&
		   store_blob_exists(&have, s, &d->digest);

	if (!held && may_be_absent)
		return 0;
	if (!held)
		return err_set(err, ERR_NOT_FOUND,
			       "blob %s referenced by the manifest is unknown",
			       d->digest.str);
	if (have != d->size)
		return size_refused(err, what, d, have);
	return 0;
}

int serve_manifest_check(const struct store *s, const char *repo,
			 const struct oci_manifest *m, struct err *err)
{
	struct store_ref sr;
	int64_t have = -1;
	int rc = 0;

	if (m->kind == OCI_KIND_MANIFEST) {
		if (m->has_config)
			rc = blob_check(s, repo, &m->config, "config", 0, err);
		for (size_t i = 0; i < m->n_layers && !rc; i++) {
			const struct oci_descriptor *l = &m->layers[i];
			rc = blob_check(
			    s, repo, l, "layer",
			    oci_mediatype_is_nondistributable(l->media_type),
			    err);
		}
	} else {
		for (size_t i = 0; i < m->n_manifests && !rc; i++) {
			const struct oci_descriptor *c = &m->manifests[i];
			if (store_manifest_get(&sr, s, repo, &c->digest, NULL))
				rc = err_set(err, ERR_NOT_FOUND,
					     "manifest %s referenced by the "
					     "index is unknown",
					     c->digest.str);
			else if (store_blob_exists(&have, s, &c->digest) &&
				 have != c->size)
				rc = size_refused(err, "manifest", c, have);
		}
	}
	if (!rc && m->has_subject &&
	    store_blob_exists(&have, s, &m->subject.digest) &&
	    have != m->subject.size)
		rc = size_refused(err, "subject", &m->subject, have);
	return rc;
}
