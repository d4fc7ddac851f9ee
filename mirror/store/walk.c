#include "mirror/store/walk.h"

#include <stdlib.h>
#include <string.h>

#include "mirror/store/backend.h"
#include "mirror/store/fsutil.h"
#include "oci/ref.h"

int walk_repos(const struct store *s, walk_repo_fn cb, void *ctx,
	       struct err *err)
{
	return s->ops->repos_each(s->be, cb, ctx, err);
}

struct tags {
	const struct store *s;
	walk_tag_fn cb;
	void *ctx;
	struct err *err;
	int failed;
};

/* One repository's tags; nonzero when cb stopped. */
static int visit_repo(struct tags *t, const char *repo)
{
	struct err e;
	char **names = NULL;
	size_t n = 0;
	int stop = 0;

	if (t->s->ops->record_list(&names, &n, t->s->be, repo, "_tags", &e)) {
		err_wrap(&e, "%s: ", repo);
		if (!t->failed++)
			err_set(t->err, ERR_FAIL, "%s", e.msg);
	}
	for (size_t i = 0; i < n && !stop; i++) {
		struct store_ref ref;
		int rc;

		if (!oci_tag_valid(names[i]))
			continue;
		rc = store_tag_get(&ref, t->s, repo, names[i], &e);
		if (!rc) {
			stop = t->cb(t->ctx, repo, names[i], &ref);
		} else if (rc == ERR_FAIL) {
			/* not read (no descriptor, I/O): the walk is not
			 * whole; a corrupt record is left out (verify) */
			err_wrap(&e, "%s: ", repo);
			if (!t->failed++)
				err_set(t->err, ERR_FAIL, "%s", e.msg);
		}
	}
	if (!n && !stop)
		stop = t->cb(t->ctx, repo, NULL, NULL);
	fsutil_names_free(names, n);
	return stop;
}

static int tags_repo(void *ctx, const char *repo)
{
	struct tags *t = ctx;

	if (!store_repo_exists(t->s, repo))
		return 0;
	return visit_repo(t, repo);
}

int walk_tags(const struct store *s, const char *only_repo, walk_tag_fn cb,
	      void *ctx, struct err *err)
{
	struct tags t = {s, cb, ctx, err, 0};
	struct err werr;

	if (only_repo) {
		if (!store_repo_valid(only_repo))
			return err_set(err, ERR_INVALID,
				       "invalid repository name \"%.300s\"",
				       only_repo);
		visit_repo(&t, only_repo);
		return t.failed ? ERR_FAIL : 0;
	}
	err_clear(&werr);
	if (walk_repos(s, tags_repo, &t, &werr) && !t.failed++)
		err_set(err, ERR_FAIL, "%s", werr.msg);
	return t.failed ? ERR_FAIL : 0;
}
