#include "mirror/store/walk.h"
#include "oci/vec.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define REPO_DEPTH_MAX 64

static int cmp_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

void store_names_free(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

int store_names_list(char ***out, size_t *n_out, const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	char **v = NULL;
	size_t n = 0, cap = 0;
	int saved;

	*out = NULL;
	*n_out = 0;
	if (!d)
		return errno == ENOENT ? 0 : -1;
	errno = 0;
	while ((e = readdir(d))) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		if (OCI_VEC_RESERVE(v, n, cap, 1, 0))
			goto fail;
		v[n] = strdup(e->d_name);
		if (!v[n])
			goto fail;
		n++;
		errno = 0;
	}
	if (errno)
		goto fail;
	closedir(d);
	if (n)
		qsort(v, n, sizeof(*v), cmp_name);
	*out = v;
	*n_out = n;
	return 0;
fail:
	saved = errno ? errno : ENOMEM;
	closedir(d);
	store_names_free(v, n);
	errno = saved;
	return -1;
}

int store_name_digest(struct oci_digest *out, const char *alg, const char *name)
{
	char s[OCI_DIGEST_MAX + 8];
	int n = snprintf(s, sizeof(s), "%s:%s", alg, name);

	if (n < 0 || (size_t)n >= sizeof(s))
		return ERR_INVALID;
	if (oci_digest_parse(out, s, NULL))
		return ERR_INVALID;
	if (strcmp(oci_digest_alg_name(out->alg), alg))
		return ERR_INVALID;
	return 0;
}

struct walk {
	const struct store *s;
	store_repo_fn cb;
	void *ctx;
	struct err *err;
	int failed, stop;
};

static int is_dir_nofollow(const char *path)
{
	struct stat st;

	return !lstat(path, &st) && S_ISDIR(st.st_mode);
}

static void walk(struct walk *w, const char *rel, int depth)
{
	char *dir = NULL;
	char **names = NULL;
	size_t n = 0;
	int is_repo = 0;

	if (asprintf(&dir, "%s/repositories%s%s", w->s->root, *rel ? "/" : "",
		     rel) < 0) {
		dir = NULL;
		goto fail;
	}
	if (store_names_list(&names, &n, dir))
		goto fail;
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
		if (asprintf(&p, "%s/%s", dir, names[i]) < 0)
			p = NULL;
		if (p && is_dir_nofollow(p)) {
			if (*rel ? asprintf(&sub, "%s/%s", rel, names[i]) < 0
				 : !(sub = strdup(names[i])))
				sub = NULL;
			if (sub)
				walk(w, sub, depth + 1);
			else if (!w->failed) {
				w->failed = ENOMEM;
				err_set(w->err, ERR_FAIL, "out of memory");
			}
		}
		free(sub);
		free(p);
	}
	store_names_free(names, n);
	free(dir);
	return;
fail:
	if (!w->failed) {
		w->failed = errno ? errno : ENOMEM;
		err_set(w->err, ERR_FAIL, "cannot read %s: %s",
			dir ? dir : "repositories", strerror(w->failed));
	}
	free(dir);
}

int store_repos_each(const struct store *s, store_repo_fn cb, void *ctx,
		     struct err *err)
{
	struct walk w = {s, cb, ctx, err, 0, 0};

	walk(&w, "", 0);
	return w.failed ? ERR_FAIL : 0;
}
