/* Building and publishing a Margo application package (MARGO.md): an OCI
 * artifact with artifactType application/vnd.margo.app.v1+json, the empty
 * config, and one layer per file of the package directory: margo.yaml
 * (application/vnd.margo.app.description.v1+yaml) and each resource the
 * description names under metadata.catalog.application (icon,
 * descriptionFile, licenseFile, releaseNotes), each with its
 * org.opencontainers.image.title (the normalised path, resources/icon.png
 * for ./resources/icon.png) and, on resource layers, org.margo.app.resource
 * (the dotted path of the field: metadata.catalog.application.icon). */
#ifndef MIRROR_MARGO_PACKAGE_H
#define MIRROR_MARGO_PACKAGE_H

#include "mirror/store/store.h"
#include "oci/digest.h"
#include "oci/err.h"
#include "oci/mediatype.h" /* MT_MARGO_* */
#include "oci/ref.h"
#include "registry/pool.h"

#define ANN_MARGO_RESOURCE "org.margo.app.resource"

struct margo_push_result {
	struct oci_digest digest; /* of the package manifest */
	char tag[OCI_TAG_MAX + 1];
	size_t layers;
	char version[OCI_TAG_MAX + 1]; /* metadata.version as written */
};

/* Where `app push DIR REF` sends a package: a registry reference, or
 * "store:REPO[:TAG]" for the local store. */
struct margo_push_target {
	int to_store;
	/* the reference; tag "" when none was written (the push takes
	 * metadata.version) */
	struct oci_ref ref;
	/* the repository: as the store names it (a host-less name stays as
	 * written) when to_store, else the registry's */
	char repo[OCI_REPO_MAX];
};

/* Parse spec into *out. ERR_INVALID, err naming what is wrong, when it is
 * no reference, names a digest (a push takes a tag) or, for the store, an
 * invalid repository. */
int margo_push_target_parse(struct margo_push_target *out, const char *spec,
			    struct err *err);

/* Build the package from dir and push it to ref: into the store s (repo
 * is ref's repository as the store names it) when s is not NULL, else to
 * the remote registry through pool. The description layer is the
 * desc_len bytes desc (those the caller validated; NULL: dir/margo.yaml,
 * read here once). A ref without a tag takes metadata.version, with '+'
 * stored as '_'. Resource paths follow margo_resource_path
 * (description.h), the rule validate applies; each resource is opened
 * once (margo_resource_open) and hashed and pushed from that descriptor,
 * so no path is resolved twice. */
int margo_package_push(struct margo_push_result *out, struct store *s,
		       struct reg_pool *pool, const char *dir, const char *desc,
		       size_t desc_len, const struct oci_ref *ref,
		       const char *store_repo, struct err *err);

#endif
