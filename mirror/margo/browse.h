/* What serve's catalog pages show of the Margo packages a store holds:
 * each package with whether the store holds everything it runs, one
 * package in detail (its profiles, their components and the images each
 * component's archive names, each marked present or not), and the
 * resource layers of a package.
 *
 * Read-only over the store. "Present" is what app pull leaves: the
 * component's manifest at its revision, complete (fresh_manifest_complete),
 * and each image the stored chart or Compose archive names, complete for
 * the profile's architectures (all when it names none). An image that
 * cannot be resolved (a template) is listed under the component's
 * "unresolved", never as missing: nothing could fetch it.
 *
 * Reading a component archive means decompressing it; the images found
 * are kept per archive digest in a struct margo_icache, bounded, shared
 * by the server's threads. */
#ifndef MIRROR_MARGO_BROWSE_H
#define MIRROR_MARGO_BROWSE_H

#include <jansson.h>
#include <stddef.h>

#include "mirror/store/store.h"
#include "oci/err.h"

/* archives whose images are kept: enough that a scan over a large
 * catalog does not evict what the next scan needs */
#define MARGO_ICACHE_MAX 4096
#define MARGO_ICACHE_BYTES (16u * 1024 * 1024) /* their strings, at most */
/* An archive that failed to read is not read again for this long, nor a
 * package's apps entry (tags, icon, complete) computed again: images
 * stored since show after at most this delay. Seconds, monotonic clock. */
#define MARGO_ICACHE_TTL 10.0
#define MARGO_SUMMARY_MAX 4096 /* packages whose apps entry is kept */
/* /app lists at most this many versions (then versionsTruncated). */
#define MARGO_BROWSE_VERSIONS_MAX 1000

struct margo_icache;

/* A cache of at most max archives and MARGO_ICACHE_BYTES of references
 * (the least recently used goes first). NULL when out of memory. */
struct margo_icache *margo_icache_new(size_t max);
void margo_icache_free(struct margo_icache *ic);
/* The archives held now, failed ones included (for tests). */
size_t margo_icache_size(struct margo_icache *ic);
/* The package summaries (apps entries) held now (for tests). */
size_t margo_icache_summaries(struct margo_icache *ic);

/* margo_catalog's array, each entry with `tags` (catalog tags), `icon`
 * (the title of the package's icon layer, NULL when it has none) and
 * `complete` (every profile of that version complete). ic may be NULL
 * (nothing kept). NULL with err set when the store cannot be walked. */
json_t *margo_browse_apps(const struct store *s, struct margo_icache *ic,
			  struct err *err);
/* margo_browse_apps at time now (seconds of a monotonic clock): an entry
 * of ic's for the same (repository, package digest) computed less than
 * MARGO_ICACHE_TTL before now is used as it is. */
json_t *margo_browse_apps_at(const struct store *s, struct margo_icache *ic,
			     double now, struct err *err);

/* The package at repo:tag (tag NULL: the highest version) in detail:
 * {repository, tag, digest, versions, id, name, version, description,
 * tagline, site, tags, organization: [{name, site}], author: [{name,
 * email}], resources: {icon, descriptionFile, releaseNotes, licenseFile}
 * (each the title of a layer of the package, or null), profiles: [{type,
 * id, description, requiredResources | null, components: [{name,
 * repository, revision, present, images: [{ref, present}], unresolved:
 * [WHERE]}], complete, missing: [REF]}], complete, versionsTruncated}.
 * versions are the repository's version-shaped tags by name (at most
 * MARGO_BROWSE_VERSIONS_MAX; no description is read but the one shown).
 * ERR_NOT_FOUND (err names what) for no such repository, tag or package;
 * another code when the store failed. */
int margo_browse_app(json_t **out, const struct store *s,
		     struct margo_icache *ic, const char *repo, const char *tag,
		     struct err *err);

/* The resource layer whose org.opencontainers.image.title is path in the
 * package repo:tag (never the description): its digest, size and media
 * type (media_type, cap bytes). ERR_NOT_FOUND when there is none. */
int margo_browse_resource(struct oci_digest *digest_out, int64_t *size_out,
			  char *media_type, size_t cap, const struct store *s,
			  const char *repo, const char *tag, const char *path,
			  struct err *err);

/* The Content-Type a browser gets for a resource layer of media type mt
 * ("application/vnd.margo.app.icon.v1+png": image/png; markdown:
 * text/markdown; charset=utf-8; plain text, PDF, SVG, JPEG likewise;
 * anything else application/octet-stream). *is_image set for images. */
const char *margo_resource_content_type(const char *mt, int *is_image);

#endif
