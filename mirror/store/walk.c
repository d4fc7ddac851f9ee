#include "mirror/store/walk.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "mirror/store/fsutil.h"
#include "oci/ref.h"

#define REPO_DEPTH_MAX 64

struct walk {
	const struct store *s;
	walk_repo_fn cb;
	void *ctx;
	struct err *err;
	int failed, stop;
};

/* Record the first failure; the walk goes on. */
static void walk_failed(struct walk *w, const struct err *e)
{
	if (w->failed)
		return;
	w->failed = 1;
	err_set(w->err, ERR_FAIL, "%s", e->msg);
}

static int is_dir_nofollow(const char *path)
{
	struct stat st;

	return !lstat(path, &st) && S_ISDIR(st.st_mode);
}

static void walk(struct walk *w, const char *rel, int depth)
{
	struct err e;
	char *dir = NULL;
	char **names = NULL;
	size_t n = 0;
	int is_repo = 0;

	dir = fsutil_pathf("%s/repositories%s%s", w->s->root, *rel ? "/" : "",
			   rel);
	if (!dir) {
		err_set(&e, ERR_FAIL, "out of memory");
		walk_failed(w, &e);
		return;
	}
	if (fsutil_names_list(&names, &n, dir, &e)) {
		walk_failed(w, &e);
		free(dir);
		return;
	}
	for (size_t i = 0; i < n; i++)
		if (!strcmp(names[i], "_tags") ||
		    !strcmp(names[i], "_manifests") ||
		    !strcmp(names[i], "_blobs") ||
		    !strcmp(names[i], "_referrers"))
			is_repo = 1;
	if (is_repo && store_repo_valid(rel) && !w->stop)
		w->stop = w->cb(w->ctx, rel);
	for (size_t i = 0; i < n && !w->stop; i++) {
		char *sub = NULL, *p = NULL;

		if (names[i][0] == '_' || names[i][0] == '.')
			continue;
		if (depth >= REPO_DEPTH_MAX)
			break;
		p = fsutil_pathf("%s/%s", dir, names[i]);
		if (p && is_dir_nofollow(p)) {
			sub = *rel ? fsutil_pathf("%s/%s", rel, names[i])
				   : strdup(names[i]);
			if (sub) {
				walk(w, sub, depth + 1);
			} else {
				err_set(&e, ERR_FAIL, "out of memory");
				walk_failed(w, &e);
			}
		}
		free(sub);
		free(p);
	}
	fsutil_names_free(names, n);
	free(dir);
}

int walk_repos(const struct store *s, walk_repo_fn cb, void *ctx,
	       struct err *err)
{
	struct walk w = {s, cb, ctx, err, 0, 0};

	walk(&w, "", 0);
	return w.failed ? ERR_FAIL : 0;
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
	char *dir = fsutil_pathf("%s/repositories/%s/_tags", t->s->root, repo);
	char **names = NULL;
	size_t n = 0, shown = 0;
	int stop = 0;

	if (!dir) {
		err_set(&e, ERR_FAIL, "out of memory");
	} else if (fsutil_names_list(&names, &n, dir, &e)) {
		err_wrap(&e, "%s: ", repo);
	} else {
		e.code = 0;
	}
	if (e.code && !t->failed) {
		t->failed = 1;
		err_set(t->err, ERR_FAIL, "%s", e.msg);
	}
	for (size_t i = 0; i < n && !stop; i++) {
		struct store_ref ref;

		if (names[i][0] == '.')
			continue;
		shown++;
		if (!oci_tag_valid(names[i]))
			continue;
		if (!store_tag_get(&ref, t->s, repo, names[i], NULL))
			stop = t->cb(t->ctx, repo, names[i], &ref);
	}
	if (!shown && !stop)
		stop = t->cb(t->ctx, repo, NULL, NULL);
	fsutil_names_free(names, n);
	free(dir);
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
	int rc = 0;

	if (only_repo) {
		if (!store_repo_valid(only_repo))
			return err_set(err, ERR_INVALID,
				       "invalid repository name \"%.300s\"",
				       only_repo);
		visit_repo(&t, only_repo);
		return t.failed ? ERR_FAIL : 0;
	}
	err_clear(&werr);
	rc = walk_repos(s, tags_repo, &t, &werr);
	if (rc && !t.failed) {
		t.failed = 1;
		err_set(err, ERR_FAIL, "%s", werr.msg);
	}
	return t.failed ? ERR_FAIL : 0;
}
