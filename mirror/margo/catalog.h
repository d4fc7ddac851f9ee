/* The catalog of Margo application packages a store holds: one entry per
 * repository holding packages, described from its highest version (SemVer
 * order, else lexical), with every version (tag) listed. Used by
 * `ocimirror app list` and by serve's GET /ocimirror/v1/apps (an extension:
 * the distribution spec has no catalog API). */
#ifndef MIRROR_MARGO_CATALOG_H
#define MIRROR_MARGO_CATALOG_H

#include <jansson.h>

#include "mirror/store/store.h"
#include "oci/err.h"

/* A JSON array of {repository, id, name, version, versions, organization,
 * tagline, description, profiles: [{type, id, architectures}], digest}.
 * Packages whose description cannot be read are left out. */
json_t *margo_catalog(const struct store *s, struct err *err);

/* Split "[store:]REPO[:TAG]" as the store names packages into repo
 * (OCI_REPO_MAX bytes) and tag (OCI_TAG_MAX + 1, "" when none: the
 * highest version). ERR_INVALID when the repository or tag is invalid. */
int margo_catalog_ref_parse(char *repo_out, char *tag_out, const char *spec,
			    struct err *err);

/* The package stored at repo:tag (tag NULL: the highest version): its
 * description, parsed (release it), and the catalog entry of it. */
struct margo_app;
int margo_catalog_get(struct margo_app *app, json_t **entry_out,
		      const struct store *s, const char *repo, const char *tag,
		      struct err *err);

/* The description layer of a package manifest; NULL with ERR_INVALID in
 * err when m is not a Margo package or has none. */
struct oci_manifest;
struct oci_descriptor;
const struct oci_descriptor *margo_package_layer(const struct oci_manifest *m,
						 struct err *err);

/* The description (margo.yaml bytes, free *out) of the package manifest
 * d. ERR_INVALID when d is not a Margo package or has no description. */
int margo_package_description(char **out, size_t *len_out,
			      const struct store *s, const struct oci_digest *d,
			      const char *media_type, struct err *err);

#endif
