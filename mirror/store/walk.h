/* Walking the store's directories, for gc and verify.
 *
 * Unlike store_list (which visits tags), these report listing failures:
 * a caller that deletes what it did not see must know when it did not see
 * everything. Nothing here follows a symbolic link. */
#ifndef MIRROR_STORE_WALK_H
#define MIRROR_STORE_WALK_H

#include <stddef.h>

#include "mirror/store/store.h"
#include "oci/err.h"

/* Sorted entry names of dir, without "." and "..". An absent dir is
 * empty (0, *out NULL). -1 with errno set when it cannot be read; *out is
 * then NULL. Free with store_names_free. */
int store_names_list(char ***out, size_t *n_out, const char *dir);
void store_names_free(char **v, size_t n);

/* Called once per repository: repo is its validated name. Nonzero stops. */
typedef int (*store_repo_fn)(void *ctx, const char *repo);

/* Every repository under STORE/repositories (sorted): a directory holding
 * any of _tags, _manifests, _blobs or _referrers whose path is a valid
 * repository name. A directory that cannot be read is skipped and the
 * walk goes on; it then returns ERR_FAIL naming the first one. */
int store_repos_each(const struct store *s, store_repo_fn cb, void *ctx,
		     struct err *err);

/* "<alg>:<name>" parsed as a canonical digest of algorithm alg ("sha256",
 * "sha512"); 0 or ERR_INVALID. */
int store_name_digest(struct oci_digest *out, const char *alg,
		      const char *name);

#endif
