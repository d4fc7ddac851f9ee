/* Walking the store's repositories: the one walk behind `ls`, the
 * registry catalog, bundles, gc and verify.
 *
 * A repository is a directory under STORE/repositories holding any of
 * _tags, _manifests, _blobs or _referrers whose path is a valid repository
 * name (store_repo_valid). Repositories are visited sorted, depth-first;
 * nothing here follows a symbolic link. A directory that cannot be read is
 * skipped and the walk goes on; the walk then returns ERR_FAIL naming the
 * first one, so a caller that deletes what it did not see knows when it
 * did not see everything. */
#ifndef MIRROR_STORE_WALK_H
#define MIRROR_STORE_WALK_H

#include "mirror/store/store.h"
#include "oci/err.h"

/* Called once per repository: repo is its validated name. Nonzero stops
 * the walk (which then returns 0, or ERR_FAIL if a directory was
 * unreadable before). */
typedef int (*walk_repo_fn)(void *ctx, const char *repo);

/* Every repository, records of any kind. */
int walk_repos(const struct store *s, walk_repo_fn cb, void *ctx,
	       struct err *err);

/* Called for every tag of a repository (sorted), or once with tag and ref
 * NULL for a repository without tags. Strings are valid only during the
 * call. Nonzero stops. */
typedef int (*walk_tag_fn)(void *ctx, const char *repo, const char *tag,
			   const struct store_ref *ref);

/* Every repository holding tags or manifests (store_repo_exists), or only
 * only_repo when given, with its tags. A corrupt tag record is left out
 * (verify reports it); a tag record that cannot be read (ERR_FAIL: no
 * descriptor, I/O) or a _tags directory that cannot be listed makes the
 * result ERR_FAIL, naming the first, after the rest is visited. */
int walk_tags(const struct store *s, const char *only_repo, walk_tag_fn cb,
	      void *ctx, struct err *err);

#endif
