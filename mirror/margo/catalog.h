/* The catalog of Margo application packages a store holds: one entry per
 * repository holding packages, described from its highest version
 * (margo_version_cmp), with every version (tag) listed. Used by
 * `ocimirror app list` and by serve's GET /ocimirror/v1/apps (an extension:
 * the distribution spec has no catalog API). */
#ifndef MIRROR_MARGO_CATALOG_H
#define MIRROR_MARGO_CATALOG_H

#include <jansson.h>
#include <stddef.h>

#include "mirror/store/store.h"
#include "oci/err.h"

/* A JSON array of {repository, id, name, version, versions, organization,
 * tagline, description, profiles: [{type, id, architectures}], digest};
 * architectures canonical (margo_arch_canonical), each once.
 * Packages whose description cannot be read are left out. */
json_t *margo_catalog(const struct store *s, struct err *err);

/* The order of package versions (tags), the one `app show`, `app list`
 * and `app pull REPO` (no tag) pick the highest by, lowest first:
 *   1. tags that are no package version: referrers fallback tags
 *      (sha256-HEX, also sha512-), cosign's and others' *.sig, *.att,
 *      *.sbom; margo_version_highest never picks them;
 *   2. names (no digit first, after an optional v/V), bytewise: "latest"
 *      is a name like "stable";
 *   3. versions: a digit first after an optional v or V. Their dotted
 *      numeric parts compare as numbers of any length (leading zeros
 *      aside, no overflow), a missing part 0 ("1.0" and "1.0.0" equal,
 *      "2.0" above "1.0.0", "v1.0" below "3.0"); then a prerelease
 *      ("-rc.1", or any other text after the numbers) below none, two
 *      prereleases by SemVer's rules (dot-separated identifiers, numeric
 *      ones as numbers and below alphanumeric ones, a prefix below the
 *      longer list). Build metadata ("+x", or SUP-01's "_x") has no
 *      precedence.
 * Equal precedence is broken deterministically: more numeric parts
 * higher, then the build metadata (none lowest, then as prerelease
 * identifiers: "_build.10" above "_build.5"), then bytewise.
 * <0, 0, >0 as strcmp; 0 only when a and b are the same string. */
int margo_version_cmp(const char *a, const char *b);

/* The highest of v[0..n) by margo_version_cmp, leaving out tags that are
 * no package version (1. above); NULL when none is left. */
const char *margo_version_highest(char *const *v, size_t n);

/* arch ("x86_64", "aarch64", "armhf") as the ARCH of linux/ARCH writes it
 * ("amd64", "arm64", "arm/v7"), into dst; as written when it is not an
 * architecture. The one canonical spelling the catalog and the reports
 * show. */
void margo_arch_canonical(char *dst, size_t cap, const char *arch);

/* The same, 0; ERR_INVALID (dst unchanged) when arch is not the ARCH of
 * linux/ARCH. */
int margo_arch_norm(char *dst, size_t cap, const char *arch);

/* A profile's architectures for a person: "[amd64,arm64]" (canonical,
 * each once), "[any architecture]" when it names none. Used by `app show`
 * and the `app pull` tree alike. */
struct margo_profile;
void margo_profile_arch_format(char *dst, size_t cap,
			       const struct margo_profile *p);

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
