/* The filesystem backend: the on-disk layout of store.h. Every write goes
 * to STORE/tmp (same filesystem), is fsync'd and renamed into place, and
 * the directory it lands in is fsync'd. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "mirror/store/backend.h"
#include "mirror/store/fsutil.h"
#include "oci/vec.h"

#define REPO_DEPTH_MAX                                                         \
	130 /* a 255-character name has at most 128 components                 \
	     */

struct fs {
	const char *root;
	int lock_fd; /* -1 unless locked */
};

static int fs_open(void **be_out, const char *root, int create, struct err *err)
{
	static const char *subdirs[] = {"blobs/sha256", "blobs/sha512",
					"repositories", "tmp", NULL};
	struct stat st;
	struct fs *fs;

	*be_out = NULL;
	if (stat(root, &st)) {
		if (!create)
			return err_set(err, ERR_NOT_FOUND,
				       "store %s does not exist", root);
	} else if (!S_ISDIR(st.st_mode)) {
		return err_set(err, ERR_INVALID, "store %s is not a directory",
			       root);
	}
	for (int i = 0; create && subdirs[i]; i++) {
		char *p = fsutil_pathf("%s/%s", root, subdirs[i]);
		int rc = p ? fsutil_mkdirs(p, err)
			   : err_set(err, ERR_FAIL, "out of memory");

		free(p);
		if (rc)
			return err_wrap(err, "store %s: ", root);
	}
	fs = calloc(1, sizeof(*fs));
	if (!fs)
		return err_set(err, ERR_FAIL, "out of memory");
	fs->root = root;
	fs->lock_fd = -1;
	*be_out = fs;
	return 0;
}

static void fs_unlock(void *be)
{
	struct fs *fs = be;

	if (fs->lock_fd >= 0) {
		close(fs->lock_fd);
		fs->lock_fd = -1;
	}
}

static void fs_close(void *be)
{
	fs_unlock(be);
	free(be);
}

static int fs_lock(void *be, int wait, struct err *err)
{
	struct fs *fs = be;
	char *p;
	int fd;

	if (fs->lock_fd >= 0)
		return 0;
	p = fsutil_pathf("%s/lock", fs->root);
	fd = p ? open(p, O_RDWR | O_CREAT | O_CLOEXEC, 0644) : -1;
	if (fd < 0) {
		int rc = err_set(err, ERR_FAIL, "open %s: %s", p ? p : "lock",
				 strerror(errno));
		free(p);
		return rc;
	}
	if (flock(fd, LOCK_EX | (wait ? 0 : LOCK_NB))) {
		int rc = errno == EWOULDBLOCK
			     ? err_set(err, ERR_CONFLICT,
				       "store %s is locked by another writer "
				       "(sync, import or gc running)",
				       fs->root)
			     : err_set(err, ERR_FAIL, "flock %s: %s", p,
				       strerror(errno));
		close(fd);
		free(p);
		return rc;
	}
	free(p);
	fs->lock_fd = fd;
	return 0;
}

static char *blob_path(const struct fs *fs, const struct oci_digest *d)
{
	return fsutil_pathf("%s/blobs/%s/%s", fs->root,
			    oci_digest_alg_name(d->alg), oci_digest_hex(d));
}

static int fs_blob_stat(int64_t *size_out, void *be, const struct oci_digest *d)
{
	char *p = blob_path(be, d);
	struct stat st;
	int ok = p && !stat(p, &st) && S_ISREG(st.st_mode);

	free(p);
	if (ok && size_out)
		*size_out = st.st_size;
	return ok;
}

static int fs_blob_open(int *fd_out, int64_t *size_out, void *be,
			const struct oci_digest *d, struct err *err)
{
	char *p = blob_path(be, d);
	struct stat st;
	int fd;

	*fd_out = -1;
	fd = p ? open(p, O_RDONLY | O_CLOEXEC) : -1;
	if (fd < 0) {
		int rc =
		    err_set(err, errno == ENOENT ? ERR_NOT_FOUND : ERR_FAIL,
			    "blob %s: %s", d->str, strerror(errno));
		free(p);
		return rc;
	}
	free(p);
	if (fstat(fd, &st) || !S_ISREG(st.st_mode)) {
		close(fd);
		return err_set(err, ERR_INVALID, "blob %s: not a regular file",
			       d->str);
	}
	*fd_out = fd;
	*size_out = st.st_size;
	return 0;
}

static int fs_blob_read_at(size_t *got_out, void *be,
			   const struct oci_digest *d, uint64_t off, void *buf,
			   size_t len, struct err *err)
{
	int64_t size;
	int fd, rc;
	size_t got = 0;

	*got_out = 0;
	rc = fs_blob_open(&fd, &size, be, d, err);
	if (rc)
		return rc;
	while (got < len) {
		ssize_t n =
		    pread(fd, (char *)buf + got, len - got, (off_t)(off + got));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = err_set(err, fsutil_errno_code(errno),
				     "read blob %s: %s", d->str,
				     strerror(errno));
			break;
		}
		if (n == 0)
			break;
		got += (size_t)n;
	}
	close(fd);
	*got_out = got;
	return rc;
}

static int fs_blob_delete(void *be, const struct oci_digest *d, struct err *err)
{
	char *p = blob_path(be, d);
	int rc = 0;

	if (!p || unlink(p))
		rc = err_set(err, errno == ENOENT ? ERR_NOT_FOUND : ERR_FAIL,
			     "blob %s: %s", d->str, strerror(errno));
	free(p);
	return rc;
}

static void fs_blob_touch(void *be, const struct oci_digest *d)
{
	char *p = blob_path(be, d);

	if (p)
		utimensat(AT_FDCWD, p, NULL, 0);
	free(p);
}

static int fs_blobs_each(void *be, store_blob_fn cb, void *ctx, struct err *err)
{
	static const char *const algs[] = {"sha256", "sha512"};
	struct fs *fs = be;
	int failed = 0, stop = 0;

	for (size_t a = 0; a < 2 && !stop; a++) {
		char *dir = fsutil_pathf("%s/blobs/%s", fs->root, algs[a]);
		char **names = NULL;
		size_t n = 0;
		struct err e;

		if (!dir || fsutil_names_list(&names, &n, dir, &e)) {
			if (!dir)
				err_set(&e, ERR_FAIL, "out of memory");
			if (!failed++)
				err_set(err, ERR_FAIL, "%s", e.msg);
		}
		for (size_t i = 0; i < n && !stop; i++) {
			struct oci_digest d;
			int64_t size;

			if (fsutil_name_digest(&d, algs[a], names[i]) ||
			    !fs_blob_stat(&size, be, &d))
				continue;
			stop = cb(ctx, &d, size);
		}
		fsutil_names_free(names, n);
		free(dir);
	}
	return failed ? ERR_FAIL : 0;
}

static int fs_stage_open(int *fd_out, char **token_out, void *be,
			 struct err *err)
{
	struct fs *fs = be;
	char *p = fsutil_pathf("%s/tmp/XXXXXX", fs->root);
	int fd;

	*fd_out = -1;
	*token_out = NULL;
	if (!p)
		return err_set(err, ERR_FAIL, "out of memory");
	fd = mkostemp(p, O_CLOEXEC);
	if (fd < 0) {
		int rc =
		    err_set(err, ERR_FAIL, "create temp file in %s/tmp: %s",
			    fs->root, strerror(errno));
		free(p);
		return rc;
	}
	fchmod(fd, 0644);
	*fd_out = fd;
	*token_out = p;
	return 0;
}

static int fs_stage_place(void *be, const char *token,
			  const struct oci_digest *d, struct err *err)
{
	char *dst = blob_path(be, d);
	int rc = 0;

	if (!dst || rename(token, dst))
		rc = err_set(err, ERR_FAIL, "rename into %s: %s",
			     dst ? dst : "store", strerror(errno));
	else
		rc = fsutil_parent_sync(dst, err); /* the new name, durable */
	free(dst);
	return rc;
}

static int fs_stage_reopen(int *fd_out, void *be, const char *token,
			   struct err *err)
{
	(void)be;
	*fd_out = open(token, O_RDWR | O_CLOEXEC);
	if (*fd_out < 0)
		return err_set(err, errno == ENOENT ? ERR_NOT_FOUND : ERR_FAIL,
			       "reopen %s: %s", token, strerror(errno));
	return 0;
}

static void fs_stage_discard(void *be, const char *token)
{
	(void)be;
	unlink(token);
}

static char *record_path(const struct fs *fs, const char *repo, const char *key)
{
	return fsutil_pathf("%s/repositories/%s/%s", fs->root, repo, key);
}

/* Write a small file atomically: tmp, fsync, rename. Frees dst. */
static int put_atomic(void *be, char *dst, const char *text, struct err *err)
{
	char *tmp = NULL, *slash;
	size_t n = strlen(text);
	int fd = -1, rc;

	if (!dst)
		return err_set(err, ERR_FAIL, "out of memory");
	slash = strrchr(dst, '/');
	*slash = '\0';
	rc = fsutil_mkdirs(dst, err);
	*slash = '/';
	if (!rc)
		rc = fs_stage_open(&fd, &tmp, be, err);
	if (rc)
		goto out;
	if (write(fd, text, n) != (ssize_t)n || fsync(fd)) {
		rc = err_set(err, ERR_FAIL, "write %s: %s", tmp,
			     strerror(errno));
		goto out;
	}
	if (rename(tmp, dst)) {
		rc = err_set(err, ERR_FAIL, "rename %s: %s", dst,
			     strerror(errno));
		goto out;
	}
	/* the rename is durable only once the directory is */
	rc = fsutil_parent_sync(dst, err);
out:
	if (fd >= 0)
		close(fd);
	if (rc && tmp)
		unlink(tmp);
	free(tmp);
	free(dst);
	return rc;
}

/* Read the small file at p (taken: freed). */
static int get_at(char **out, size_t *len_out, char *p, size_t max,
		  struct err *err)
{
	int rc;

	*out = NULL;
	if (!p)
		return err_set(err, ERR_FAIL, "out of memory");
	rc = fsutil_read_file(out, len_out, p, max, err);
	free(p);
	return rc;
}

/* The names in dir (taken: freed), dot files left out. */
static int list_at(char ***out, size_t *n_out, char *dir, struct err *err)
{
	char **v = NULL;
	size_t n = 0, k = 0;
	int rc;

	*out = NULL;
	*n_out = 0;
	if (!dir)
		return err_set(err, ERR_FAIL, "out of memory");
	rc = fsutil_names_list(&v, &n, dir, err);
	free(dir);
	if (rc)
		return rc;
	for (size_t i = 0; i < n; i++) {
		if (v[i][0] == '.')
			free(v[i]);
		else
			v[k++] = v[i];
	}
	*out = v;
	*n_out = k;
	return 0;
}

static int fs_record_put(void *be, const char *repo, const char *key,
			 const char *text, struct err *err)
{
	return put_atomic(be, record_path(be, repo, key), text, err);
}

/* Store-wide records: STORE/<key> ("sync/last.json"). */
static int fs_state_put(void *be, const char *key, const char *text,
			struct err *err)
{
	const struct fs *fs = be;

	return put_atomic(be, fsutil_pathf("%s/%s", fs->root, key), text, err);
}

static int fs_state_get(char **out, size_t *len_out, void *be, const char *key,
			size_t max, struct err *err)
{
	const struct fs *fs = be;

	return get_at(out, len_out, fsutil_pathf("%s/%s", fs->root, key), max,
		      err);
}

static int fs_state_delete(void *be, const char *key, struct err *err)
{
	const struct fs *fs = be;
	char *p = fsutil_pathf("%s/%s", fs->root, key);
	int rc = 0;

	if (!p || unlink(p))
		rc = err_set(
		    err, p && errno == ENOENT ? ERR_NOT_FOUND : ERR_FAIL,
		    "%s: %s", key, p ? strerror(errno) : "out of memory");
	free(p);
	return rc;
}

static int fs_state_list(char ***out, size_t *n_out, void *be, const char *key,
			 struct err *err)
{
	const struct fs *fs = be;

	return list_at(out, n_out, fsutil_pathf("%s/%s", fs->root, key), err);
}

static int fs_record_get(char **out, size_t *len_out, void *be,
			 const char *repo, const char *key, size_t max,
			 struct err *err)
{
	return get_at(out, len_out, record_path(be, repo, key), max, err);
}

static int fs_record_delete(void *be, const char *repo, const char *key,
			    struct err *err)
{
	char *p = record_path(be, repo, key);
	int rc = 0;

	if (!p || unlink(p))
		rc = err_set(err, errno == ENOENT ? ERR_NOT_FOUND : ERR_FAIL,
			     "%s/%s: %s", repo, key, strerror(errno));
	free(p);
	return rc;
}

static int fs_record_exists(void *be, const char *repo, const char *key)
{
	char *p = record_path(be, repo, key);
	struct stat st;
	int ok = p && !stat(p, &st);

	free(p);
	return ok;
}

static int fs_record_list(char ***out, size_t *n_out, void *be,
			  const char *repo, const char *key, struct err *err)
{
	return list_at(out, n_out, record_path(be, repo, key), err);
}

struct walk {
	const struct fs *fs;
	int (*cb)(void *ctx, const char *repo);
	void *ctx;
	struct err *err;
	int failed, stop;
};

/* Record the first failure; the walk goes on. */
static void walk_failed(struct walk *w, const struct err *e)
{
	if (w->failed)
		return;
	w->failed = e->code ? e->code : ERR_FAIL;
	err_set(w->err, w->failed, "%s", e->msg);
}

static int is_dir_nofollow(const char *path)
{
	struct stat st;

	return !lstat(path, &st) && S_ISDIR(st.st_mode);
}

static int is_record_dir(const char *name)
{
	return !strcmp(name, "_tags") || !strcmp(name, "_manifests") ||
	       !strcmp(name, "_blobs") || !strcmp(name, "_referrers");
}

/* Recurse under repositories/; depth is bounded by the name length. */
static void walk(struct walk *w, const char *rel, int depth)
{
	struct err e;
	char *dir = fsutil_pathf("%s/repositories%s%s", w->fs->root,
				 *rel ? "/" : "", rel);
	char **names = NULL;
	size_t n = 0;
	int is_repo = 0;

	if (!dir || fsutil_names_list(&names, &n, dir, &e)) {
		if (!dir)
			err_set(&e, ERR_FAIL, "out of memory");
		walk_failed(w, &e);
		free(dir);
		return;
	}
	for (size_t i = 0; i < n; i++)
		is_repo |= is_record_dir(names[i]);
	if (is_repo && !store_repo_valid(rel)) {
		/* records under a name the grammar refuses (an older store, a
		 * hand edit): never visited, so say so, or gc would sweep
		 * what they reference */
		err_set(&e, ERR_INVALID,
			"repositories/%.600s: not a valid repository name; "
			"not visited",
			rel);
		walk_failed(w, &e);
	} else if (is_repo && !w->stop) {
		w->stop = w->cb(w->ctx, rel);
	}
	for (size_t i = 0; i < n && !w->stop; i++) {
		char *sub = NULL, *p = NULL;

		if (names[i][0] == '_' || names[i][0] == '.')
			continue;
		if (depth >= REPO_DEPTH_MAX) {
			err_set(&e, ERR_INVALID,
				"repositories/%.600s: nested deeper than %d "
				"levels; not visited",
				rel, REPO_DEPTH_MAX);
			walk_failed(w, &e);
			break;
		}
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

static int fs_repos_each(void *be, int (*cb)(void *ctx, const char *repo),
			 void *ctx, struct err *err)
{
	struct walk w = {be, cb, ctx, err, 0, 0};

	walk(&w, "", 0);
	return w.failed;
}

static int fs_space_free(uint64_t *out, void *be, struct err *err)
{
	const struct fs *fs = be;
	struct statvfs v;

	if (statvfs(fs->root, &v))
		return err_set(err, ERR_FAIL, "statvfs %s: %s", fs->root,
			       strerror(errno));
	*out = (uint64_t)v.f_bavail * (uint64_t)v.f_frsize;
	return 0;
}

/* Keys of the gc and verify ops: '/'-separated names relative to the
 * root, none empty, "." or "..", no leading '/'. A prefix may also be ""
 * and must otherwise end in '/' (it names a directory). */
#define KEY_MAX 4096

static int key_valid(const char *key, int prefix)
{
	size_t n = strlen(key);
	const char *p = key;

	if (n >= KEY_MAX)
		return 0;
	if (!n)
		return prefix;
	if (prefix) {
		if (key[n - 1] != '/' || n == 1)
			return 0;
		n--;
	}
	while (p < key + n) {
		const char *end = memchr(p, '/', (size_t)(key + n - p));
		size_t len = end ? (size_t)(end - p) : (size_t)(key + n - p);

		if (!len || (len == 1 && p[0] == '.') ||
		    (len == 2 && p[0] == '.' && p[1] == '.'))
			return 0;
		p += len + 1;
	}
	return key[n - 1] != '/';
}

static int key_refused(struct err *err, const char *key)
{
	return err_set(err, ERR_INVALID, "invalid store key \"%.300s\"", key);
}

struct fswalk {
	const struct fs *fs;
	store_walk_fn cb;
	void *ctx;
	struct err *err;
	char key[KEY_MAX]; /* the directory's key, '/'-ended (or "") */
	int failed, stop;
};

struct dent {
	char *name;
	unsigned char type; /* d_type */
};

static int cmp_dent(const void *a, const void *b)
{
	return strcmp(((const struct dent *)a)->name,
		      ((const struct dent *)b)->name);
}

static void fswalk_failed(struct fswalk *w, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void fswalk_failed(struct fswalk *w, int code, const char *fmt, ...)
{
	char msg[ERR_MSG_MAX];
	va_list ap;

	if (w->failed)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	w->failed = code;
	err_set(w->err, code, "%s", msg);
}

/* The entries of the directory fd (taken: closed), sorted. */
static int read_dir(struct dent **out, size_t *n_out, int fd)
{
	DIR *d = fdopendir(fd);
	struct dirent *e;
	struct dent *v = NULL;
	size_t n = 0, cap = 0;
	int saved = 0;

	*out = NULL;
	*n_out = 0;
	if (!d) {
		saved = errno;
		close(fd);
		return saved;
	}
	errno = 0;
	while ((e = readdir(d))) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		if (OCI_VEC_RESERVE(v, n, cap, 1, 0) ||
		    !(v[n].name = strdup(e->d_name))) {
			saved = ENOMEM;
			break;
		}
		v[n++].type = e->d_type;
		errno = 0;
	}
	if (!saved)
		saved = errno;
	closedir(d);
	if (saved) {
		for (size_t i = 0; i < n; i++)
			free(v[i].name);
		free(v);
		return saved;
	}
	if (n)
		qsort(v, n, sizeof(*v), cmp_dent);
	*out = v;
	*n_out = n;
	return 0;
}

/* Visit the directory fd (taken) whose key is w->key; depth levels below
 * the prefix. One fstatat per entry, none for directories whose type the
 * listing gave. */
static void fswalk_dir(struct fswalk *w, int fd, int depth)
{
	size_t klen = strlen(w->key), n = 0;
	struct dent *v = NULL;
	int dfd = dup(fd), e = errno;

	if (dfd < 0)
		close(fd);
	else if ((e = read_dir(&v, &n, fd)))
		close(dfd);
	if (dfd < 0 || e) {
		fswalk_failed(w, fsutil_errno_code(e),
			      "cannot list %s/%.*s: %s", w->fs->root,
			      (int)(klen ? klen - 1 : 0), w->key, strerror(e));
		return;
	}
	for (size_t i = 0; i < n && !w->stop; i++) {
		size_t nl = strlen(v[i].name);
		struct stat st;
		int sub;

		if (klen + nl + 2 > sizeof(w->key)) {
			fswalk_failed(w, ERR_INVALID,
				      "%s/%.300s%.300s: name too long; not "
				      "visited",
				      w->fs->root, w->key, v[i].name);
			continue;
		}
		memcpy(w->key + klen, v[i].name, nl + 1);
		if (v[i].type != DT_DIR) {
			if (fstatat(dfd, v[i].name, &st, AT_SYMLINK_NOFOLLOW)) {
				if (errno != ENOENT) /* gone meanwhile */
					fswalk_failed(w,
						      fsutil_errno_code(errno),
						      "cannot stat %s/%s: %s",
						      w->fs->root, w->key,
						      strerror(errno));
				continue;
			}
			if (!S_ISDIR(st.st_mode)) {
				w->stop = w->cb(w->ctx, w->key,
						S_ISREG(st.st_mode)
						    ? (int64_t)st.st_size
						    : -1,
						(int64_t)st.st_mtime);
				continue;
			}
		}
		if (depth >= REPO_DEPTH_MAX) {
			fswalk_failed(w, ERR_INVALID,
				      "%s/%s: nested deeper than %d levels; "
				      "not visited",
				      w->fs->root, w->key, REPO_DEPTH_MAX);
			continue;
		}
		sub = openat(dfd, v[i].name,
			     O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (sub < 0) {
			if (errno != ENOENT)
				fswalk_failed(w, fsutil_errno_code(errno),
					      "cannot list %s/%s: %s",
					      w->fs->root, w->key,
					      strerror(errno));
			continue;
		}
		w->key[klen + nl] = '/';
		w->key[klen + nl + 1] = '\0';
		fswalk_dir(w, sub, depth + 1);
	}
	w->key[klen] = '\0';
	for (size_t i = 0; i < n; i++)
		free(v[i].name);
	free(v);
	close(dfd);
}

static int fs_walk(void *be, const char *prefix, store_walk_fn cb, void *ctx,
		   struct err *err)
{
	struct fswalk *w;
	const char *p;
	int fd, rc;

	if (!key_valid(prefix, 1))
		return key_refused(err, prefix);
	w = calloc(1, sizeof(*w));
	if (!w)
		return err_set(err, ERR_FAIL, "out of memory");
	w->fs = be;
	w->cb = cb;
	w->ctx = ctx;
	w->err = err;
	/* each component of the prefix opened without following a link */
	fd = open(w->fs->root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	for (p = prefix; fd >= 0 && *p;) {
		const char *slash = strchr(p, '/');
		char name[256];
		size_t len = (size_t)(slash - p);
		int next;

		if (len >= sizeof(name)) {
			close(fd);
			fd = -1;
			errno = ENAMETOOLONG;
			break;
		}
		memcpy(name, p, len);
		name[len] = '\0';
		next = openat(fd, name,
			      O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		close(fd);
		fd = next;
		p = slash + 1;
	}
	if (fd < 0) {
		/* an absent prefix (or a file) has nothing under it */
		rc = errno == ENOENT || errno == ENOTDIR
			 ? 0
			 : err_set(err, fsutil_errno_code(errno),
				   "cannot list %s/%s: %s", w->fs->root, prefix,
				   strerror(errno));
		free(w);
		return rc;
	}
	memcpy(w->key, prefix, strlen(prefix) + 1);
	fswalk_dir(w, fd, 0);
	rc = w->failed;
	free(w);
	return rc;
}

/* A file, or (the filesystem's own) an empty directory: gc removes a
 * referrer subject's directory once it removed every record in it. */
static int fs_remove(void *be, const char *key, struct err *err)
{
	const struct fs *fs = be;
	char *p;
	int rc = 0;

	if (!key_valid(key, 0))
		return key_refused(err, key);
	p = fsutil_pathf("%s/%s", fs->root, key);
	if (!p)
		return err_set(err, ERR_FAIL, "out of memory");
	if (unlink(p) && (errno != EISDIR || rmdir(p))) {
		int e = errno;

		rc = err_set(err,
			     e == ENOENT		     ? ERR_NOT_FOUND
			     : e == ENOTEMPTY || e == EEXIST ? ERR_CONFLICT
							     : ERR_FAIL,
			     "cannot remove %s: %s", p, strerror(e));
	}
	free(p);
	return rc;
}

static int fs_move(void *be, const char *from, const char *to, struct err *err)
{
	const struct fs *fs = be;
	char *src = NULL, *dst = NULL, *slash;
	int rc = 0;

	if (!key_valid(from, 0))
		return key_refused(err, from);
	if (!key_valid(to, 0))
		return key_refused(err, to);
	src = fsutil_pathf("%s/%s", fs->root, from);
	dst = fsutil_pathf("%s/%s", fs->root, to);
	if (!src || !dst) {
		rc = err_set(err, ERR_FAIL, "out of memory");
		goto out;
	}
	slash = strrchr(dst, '/');
	*slash = '\0';
	rc = fsutil_mkdirs(dst, err);
	*slash = '/';
	if (rc)
		goto out;
	if (rename(src, dst)) {
		rc = err_set(err, errno == ENOENT ? ERR_NOT_FOUND : ERR_FAIL,
			     "rename %s to %s: %s", src, dst, strerror(errno));
		goto out;
	}
	fsutil_parent_sync(dst, NULL); /* best effort: it is moved */
out:
	free(src);
	free(dst);
	return rc;
}

/* The regular files directly in tmp/ modified at or before cutoff. */
static int fs_sweep(void *be, int64_t cutoff, int dry_run, store_walk_fn cb,
		    void *ctx, struct err *err)
{
	const struct fs *fs = be;
	char *dir = fsutil_pathf("%s/tmp", fs->root), **names = NULL;
	size_t n = 0, failed = 0;
	struct err e;
	int rc = 0, stop = 0;

	if (!dir)
		return err_set(err, ERR_FAIL, "out of memory");
	if (fsutil_names_list(&names, &n, dir, &e))
		rc = err_set(err, ERR_FAIL, "%s", e.msg);
	for (size_t i = 0; i < n && !stop; i++) {
		char key[KEY_MAX], *p = NULL;
		struct stat st;

		if ((size_t)snprintf(key, sizeof(key), "tmp/%s", names[i]) >=
		    sizeof(key))
			continue;
		p = fsutil_pathf("%s/%s", fs->root, key);
		if (!p || lstat(p, &st) || !S_ISREG(st.st_mode) ||
		    (int64_t)st.st_mtime > cutoff) {
			free(p);
			continue;
		}
		if (!dry_run && unlink(p) && errno != ENOENT) {
			/* the first failure named, the others counted */
			if (!failed++)
				rc = err_set(err, ERR_FAIL,
					     "cannot remove %s: %s", p,
					     strerror(errno));
			free(p);
			continue;
		}
		free(p);
		stop = cb(ctx, key, (int64_t)st.st_size, (int64_t)st.st_mtime);
	}
	if (failed > 1)
		err_wrap(err, "%zu files not removed; ", failed);
	fsutil_names_free(names, n);
	free(dir);
	return rc;
}

const struct store_ops fs_store_ops = {
    .name = "fs",
    .open = fs_open,
    .close = fs_close,
    .lock = fs_lock,
    .unlock = fs_unlock,
    .blob_stat = fs_blob_stat,
    .blob_open = fs_blob_open,
    .blob_read_at = fs_blob_read_at,
    .blob_delete = fs_blob_delete,
    .blob_touch = fs_blob_touch,
    .blobs_each = fs_blobs_each,
    .space_free = fs_space_free,
    .stage_open = fs_stage_open,
    .stage_place = fs_stage_place,
    .stage_discard = fs_stage_discard,
    .stage_reopen = fs_stage_reopen,
    .record_put = fs_record_put,
    .record_get = fs_record_get,
    .record_delete = fs_record_delete,
    .record_exists = fs_record_exists,
    .record_list = fs_record_list,
    .repos_each = fs_repos_each,
    .state_put = fs_state_put,
    .state_get = fs_state_get,
    .state_delete = fs_state_delete,
    .state_list = fs_state_list,
    .walk = fs_walk,
    .remove = fs_remove,
    .move = fs_move,
    .sweep = fs_sweep,
};
