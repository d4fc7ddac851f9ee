#include "mirror/store/store.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mirror/store/fsutil.h"
#include "oci/ref.h"

#define RECORD_MAX 4096

int store_repo_valid(const char *repo)
{
	return oci_repo_name_valid(repo);
}

int store_open(struct store *s, const char *root, int create, struct err *err)
{
	static const char *subdirs[] = {"blobs/sha256", "blobs/sha512",
					"repositories", "tmp", NULL};
	struct stat st;
	int rc;

	s->root = NULL;
	s->lock_fd = -1;
	if (stat(root, &st)) {
		if (!create)
			return err_set(err, ERR_NOT_FOUND,
				       "store %s does not exist", root);
	} else if (!S_ISDIR(st.st_mode)) {
		return err_set(err, ERR_INVALID, "store %s is not a directory",
			       root);
	}
	s->root = strdup(root);
	if (!s->root)
		return err_set(err, ERR_FAIL, "out of memory");
	if (create) {
		for (int i = 0; subdirs[i]; i++) {
			char *p = fsutil_pathf("%s/%s", root, subdirs[i]);
			rc = p ? fsutil_mkdirs(p, err) : ERR_FAIL;
			free(p);
			if (rc) {
				store_close(s);
				return err_wrap(err, "store %s: ", root);
			}
		}
	}
	return 0;
}

void store_close(struct store *s)
{
	store_unlock(s);
	free(s->root);
	s->root = NULL;
}

int store_lock(struct store *s, int wait, struct err *err)
{
	char *p;
	int fd;

	if (s->lock_fd >= 0)
		return 0;
	p = fsutil_pathf("%s/lock", s->root);
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
				       s->root)
			     : err_set(err, ERR_FAIL, "flock %s: %s", p,
				       strerror(errno));
		close(fd);
		free(p);
		return rc;
	}
	free(p);
	s->lock_fd = fd;
	return 0;
}

void store_unlock(struct store *s)
{
	if (s->lock_fd >= 0) {
		close(s->lock_fd);
		s->lock_fd = -1;
	}
}

char *store_blob_path(const struct store *s, const struct oci_digest *d)
{
	return fsutil_pathf("%s/blobs/%s/%s", s->root,
			    oci_digest_alg_name(d->alg), oci_digest_hex(d));
}

int store_blob_exists(int64_t *size_out, const struct store *s,
		      const struct oci_digest *d)
{
	char *p = store_blob_path(s, d);
	struct stat st;
	int ok = p && !stat(p, &st) && S_ISREG(st.st_mode);

	free(p);
	if (ok && size_out)
		*size_out = st.st_size;
	return ok;
}

struct store_writer {
	struct store *s;
	struct oci_digest expect;
	int64_t size;
	char *tmp;
	int fd;
	struct oci_hasher h;
	uint64_t off;
	uint64_t flushed; /* writeback started up to here */
	int committed;
	/* Large blobs are hashed by a second thread that reads the temp file
	 * behind the writer (from the page cache), so hashing overlaps the
	 * network instead of adding to it. */
	int threaded;
	pthread_t th;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	uint64_t visible; /* bytes written, as the hash thread sees them */
	uint64_t hashed;  /* bytes hashed by the thread */
	int stop, read_err;
};

#define THREAD_HASH_MIN (4u * 1024 * 1024)

static void *hash_thread(void *arg)
{
	struct store_writer *w = arg;
	size_t cap = 1024 * 1024;
	char *buf = malloc(cap);

	pthread_mutex_lock(&w->mu);
	for (;;) {
		uint64_t from, upto;

		while (!w->stop && w->hashed >= w->visible)
			pthread_cond_wait(&w->cv, &w->mu);
		if (w->stop)
			break;
		from = w->hashed;
		upto = w->visible;
		pthread_mutex_unlock(&w->mu);
		while (from < upto && buf) {
			size_t want =
			    upto - from > cap ? cap : (size_t)(upto - from);
			ssize_t r = pread(w->fd, buf, want, (off_t)from);
			if (r <= 0) {
				if (r < 0 && errno == EINTR)
					continue;
				break;
			}
			oci_hasher_update(&w->h, buf, (size_t)r);
			from += (uint64_t)r;
		}
		pthread_mutex_lock(&w->mu);
		if (from < upto)
			w->read_err = 1;
		w->hashed = upto;
		pthread_cond_broadcast(&w->cv);
	}
	pthread_mutex_unlock(&w->mu);
	free(buf);
	return NULL;
}

/* Wait until the hash thread has seen every byte written. */
static int hash_catch_up(struct store_writer *w)
{
	int bad;

	if (!w->threaded)
		return 0;
	pthread_mutex_lock(&w->mu);
	while (w->hashed < w->visible && !w->read_err)
		pthread_cond_wait(&w->cv, &w->mu);
	bad = w->read_err;
	pthread_mutex_unlock(&w->mu);
	return bad ? ERR_FAIL : 0;
}

static void hash_thread_stop(struct store_writer *w)
{
	if (!w->threaded)
		return;
	pthread_mutex_lock(&w->mu);
	w->stop = 1;
	pthread_cond_broadcast(&w->cv);
	pthread_mutex_unlock(&w->mu);
	pthread_join(w->th, NULL);
	pthread_mutex_destroy(&w->mu);
	pthread_cond_destroy(&w->cv);
	w->threaded = 0;
}

/* Start writeback every few MiB so the fsync at commit has little left to
 * do, and the page cache does not fill with dirty pages of one blob. */
#define WRITEBACK_STEP (8u * 1024 * 1024)

static int tmp_open(struct store *s, char **path_out, struct err *err)
{
	char *p = fsutil_pathf("%s/tmp/XXXXXX", s->root);
	int fd;

	if (!p)
		return err_set(err, ERR_FAIL, "out of memory");
	fd = mkostemp(p, O_CLOEXEC);
	if (fd < 0) {
		int rc =
		    err_set(err, ERR_FAIL, "create temp file in %s/tmp: %s",
			    s->root, strerror(errno));
		free(p);
		return rc;
	}
	fchmod(fd, 0644);
	*path_out = p;
	return fd;
}

int store_writer_open(struct store_writer **out, struct store *s,
		      const struct oci_digest *expect, int64_t size,
		      struct err *err)
{
	struct store_writer *w = calloc(1, sizeof(*w));
	int fd;

	*out = NULL;
	if (!w)
		return err_set(err, ERR_FAIL, "out of memory");
	w->s = s;
	w->expect = *expect;
	w->size = size;
	fd = tmp_open(s, &w->tmp, err);
	if (fd < 0) {
		free(w);
		return fd;
	}
	w->fd = fd;
	if (oci_hasher_init(&w->h, expect->alg)) {
		store_writer_free(w);
		return err_set(err, ERR_FAIL, "hash init failed");
	}
	if (size < 0 || size >= (int64_t)THREAD_HASH_MIN) {
		pthread_mutex_init(&w->mu, NULL);
		pthread_cond_init(&w->cv, NULL);
		if (pthread_create(&w->th, NULL, hash_thread, w) == 0) {
			w->threaded = 1;
		} else {
			pthread_mutex_destroy(&w->mu);
			pthread_cond_destroy(&w->cv);
		}
	}
	*out = w;
	return 0;
}

static int place(struct store_writer *w, struct err *err);

int store_writer_open_upload(struct store_writer **out, struct store *s,
			     struct err *err)
{
	struct oci_digest none;

	memset(&none, 0, sizeof(none));
	none.alg = OCI_SHA256;
	return store_writer_open(out, s, &none, -1, err);
}

/* Digest of the temp file's content, for a digest of another algorithm
 * than the one hashed while writing. */
static int rehash(struct store_writer *w, enum oci_digest_alg alg,
		  struct oci_digest *out)
{
	struct oci_hasher h;
	char buf[65536];
	off_t off = 0;
	ssize_t r;

	if (oci_hasher_init(&h, alg))
		return ERR_FAIL;
	while ((r = pread(w->fd, buf, sizeof(buf), off)) > 0) {
		oci_hasher_update(&h, buf, (size_t)r);
		off += r;
	}
	oci_hasher_final(&h, out);
	oci_hasher_release(&h);
	return r < 0 ? ERR_FAIL : 0;
}

int store_writer_commit_as(struct store_writer *w,
			   const struct oci_digest *digest, struct err *err)
{
	struct oci_digest got;

	if (digest->alg == w->expect.alg) {
		w->expect = *digest;
		return store_writer_commit(w, err);
	}
	if (hash_catch_up(w) || rehash(w, digest->alg, &got))
		return err_set(err, ERR_FAIL, "blob %s: reading back %s failed",
			       digest->str, w->tmp);
	if (!oci_digest_equal(&got, digest))
		return err_set(
		    err, ERR_DIGEST,
		    "blob %s: digest mismatch: content is %s; not stored",
		    digest->str, got.str);
	w->expect = *digest;
	return place(w, err);
}

int store_writer_write(struct store_writer *w, const void *p, size_t n,
		       struct err *err)
{
	const char *c = p;

	if (w->size >= 0 && w->off + n > (uint64_t)w->size)
		return err_set(err, ERR_DIGEST,
			       "blob %s: more than the expected %lld bytes",
			       w->expect.str, (long long)w->size);
	if (!w->threaded)
		oci_hasher_update(&w->h, p, n);
	while (n) {
		ssize_t r = write(w->fd, c, n);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return err_set(err, ERR_FAIL, "write %s: %s", w->tmp,
				       strerror(errno));
		}
		c += r;
		n -= (size_t)r;
		w->off += (uint64_t)r;
	}
	if (w->threaded) {
		pthread_mutex_lock(&w->mu);
		w->visible = w->off;
		pthread_cond_signal(&w->cv);
		pthread_mutex_unlock(&w->mu);
	}
	if (w->off - w->flushed >= WRITEBACK_STEP) {
		sync_file_range(w->fd, (off64_t)w->flushed,
				(off64_t)(w->off - w->flushed),
				SYNC_FILE_RANGE_WRITE);
		w->flushed = w->off;
	}
	return 0;
}

int store_writer_reset(struct store_writer *w, struct err *err)
{
	/* the thread idles once it has caught up, so the hasher is ours */
	hash_catch_up(w);
	if (w->threaded) {
		pthread_mutex_lock(&w->mu);
		w->visible = w->hashed = 0;
		w->read_err = 0;
		pthread_mutex_unlock(&w->mu);
	}
	oci_hasher_release(&w->h);
	if (ftruncate(w->fd, 0) || lseek(w->fd, 0, SEEK_SET) < 0)
		return err_set(err, ERR_FAIL, "truncate %s: %s", w->tmp,
			       strerror(errno));
	w->off = 0;
	w->flushed = 0;
	if (oci_hasher_init(&w->h, w->expect.alg))
		return err_set(err, ERR_FAIL, "hash init failed");
	return 0;
}

uint64_t store_writer_offset(const struct store_writer *w)
{
	return w->off;
}

int store_writer_commit(struct store_writer *w, struct err *err)
{
	struct oci_digest got;
	int rc;

	if (w->size >= 0 && w->off != (uint64_t)w->size) {
		rc = err_set(
		    err, ERR_DIGEST,
		    "blob %s: size mismatch: expected %lld bytes, got %llu",
		    w->expect.str, (long long)w->size,
		    (unsigned long long)w->off);
		store_writer_reset(w, NULL);
		return rc;
	}
	if (hash_catch_up(w))
		return err_set(err, ERR_FAIL, "blob %s: reading back %s failed",
			       w->expect.str, w->tmp);
	oci_hasher_final(&w->h, &got);
	if (!oci_digest_equal(&got, &w->expect)) {
		rc =
		    err_set(err, ERR_DIGEST,
			    "blob %s: digest mismatch: content is %s (%llu "
			    "bytes); not stored",
			    w->expect.str, got.str, (unsigned long long)w->off);
		store_writer_reset(w, NULL);
		return rc;
	}
	return place(w, err);
}

/* fsync and rename the verified temp file to its digest's path. */
static int place(struct store_writer *w, struct err *err)
{
	char *dst;
	int rc;

	if (fsync(w->fd))
		return err_set(err, ERR_FAIL, "fsync %s: %s", w->tmp,
			       strerror(errno));
	dst = store_blob_path(w->s, &w->expect);
	if (!dst || rename(w->tmp, dst)) {
		rc = err_set(err, ERR_FAIL, "rename into %s: %s",
			     dst ? dst : "store", strerror(errno));
		free(dst);
		return rc;
	}
	free(dst);
	w->committed = 1;
	return 0;
}

void store_writer_free(struct store_writer *w)
{
	if (!w)
		return;
	hash_thread_stop(w);
	if (w->fd >= 0)
		close(w->fd);
	if (!w->committed && w->tmp)
		unlink(w->tmp);
	oci_hasher_release(&w->h);
	free(w->tmp);
	free(w);
}

int store_blob_put(struct store *s, const struct oci_digest *expect,
		   const void *p, size_t n, struct err *err)
{
	struct store_writer *w;
	int rc;

	if (store_blob_exists(NULL, s, expect)) {
		struct oci_digest got;
		oci_digest_of(&got, expect->alg, p, n);
		if (!oci_digest_equal(&got, expect))
			return err_set(err, ERR_DIGEST,
				       "%s: digest mismatch: content is %s",
				       expect->str, got.str);
		return 0;
	}
	rc = store_writer_open(&w, s, expect, (int64_t)n, err);
	if (rc)
		return rc;
	rc = store_writer_write(w, p, n, err);
	if (!rc)
		rc = store_writer_commit(w, err);
	store_writer_free(w);
	return rc;
}

int store_blob_read(char **out, size_t *len_out, const struct store *s,
		    const struct oci_digest *d, size_t max, struct err *err)
{
	char *p = store_blob_path(s, d);
	int rc;

	if (!p)
		return err_set(err, ERR_FAIL, "out of memory");
	rc = fsutil_read_file(out, len_out, p, max, err);
	free(p);
	return rc;
}

/* Write a small file atomically: tmp, fsync, rename. */
static int put_record(struct store *s, const char *dir, const char *name,
		      const char *text, struct err *err)
{
	char *tmp = NULL, *dst = NULL;
	size_t n = strlen(text);
	int fd, rc;

	rc = fsutil_mkdirs(dir, err);
	if (rc)
		return rc;
	fd = tmp_open(s, &tmp, err);
	if (fd < 0)
		return fd;
	dst = fsutil_pathf("%s/%s", dir, name);
	if (!dst || write(fd, text, n) != (ssize_t)n || fsync(fd)) {
		rc = err_set(err, ERR_FAIL, "write %s: %s", tmp,
			     strerror(errno));
		goto out;
	}
	if (rename(tmp, dst)) {
		rc = err_set(err, ERR_FAIL, "rename %s: %s", dst,
			     strerror(errno));
		goto out;
	}
	rc = 0;
out:
	close(fd);
	if (rc)
		unlink(tmp);
	free(tmp);
	free(dst);
	return rc;
}

static char *ref_json(const struct store_ref *m)
{
	json_t *j =
	    json_pack("{s:s,s:s,s:I}", "digest", m->digest.str, "mediaType",
		      m->media_type, "size", (json_int_t)m->size);
	char *t = j ? json_dumps(j, JSON_COMPACT) : NULL;

	json_decref(j);
	return t;
}

static int parse_ref_json(struct store_ref *out, const char *text, size_t n,
			  const char *path, struct err *err)
{
	json_t *j = json_loadb(text, n, 0, NULL);
	json_t *d = json_object_get(j, "digest");
	json_t *mt = json_object_get(j, "mediaType");
	json_t *sz = json_object_get(j, "size");
	int rc = 0;

	if (!json_is_string(d) || !json_is_string(mt) || !json_is_integer(sz) ||
	    oci_digest_parse(&out->digest, json_string_value(d), NULL)) {
		rc = err_set(err, ERR_INVALID, "%s: malformed record", path);
	} else {
		snprintf(out->media_type, sizeof(out->media_type), "%s",
			 json_string_value(mt));
		out->size = (int64_t)json_integer_value(sz);
	}
	json_decref(j);
	return rc;
}

static int check_repo(const char *repo, struct err *err)
{
	if (!store_repo_valid(repo))
		return err_set(err, ERR_INVALID,
			       "invalid repository name \"%.300s\"", repo);
	return 0;
}

int store_manifest_link(struct store *s, const char *repo,
			const struct store_ref *m, struct err *err)
{
	char *dir, *text;
	int rc;

	rc = check_repo(repo, err);
	if (rc)
		return rc;
	if (!store_blob_exists(NULL, s, &m->digest))
		return err_set(err, ERR_NOT_FOUND, "%s@%s: manifest not stored",
			       repo, m->digest.str);
	dir = fsutil_pathf("%s/repositories/%s/_manifests/%s", s->root, repo,
			   oci_digest_alg_name(m->digest.alg));
	text = ref_json(m);
	rc = dir && text
		 ? put_record(s, dir, oci_digest_hex(&m->digest), text, err)
		 : err_set(err, ERR_FAIL, "out of memory");
	free(dir);
	free(text);
	return rc;
}

static int get_record(const char *path, struct store_ref *out, struct err *err)
{
	char *text;
	size_t n;
	int rc = fsutil_read_file(&text, &n, path, RECORD_MAX, err);

	if (rc)
		return rc;
	rc = parse_ref_json(out, text, n, path, err);
	free(text);
	return rc;
}

int store_manifest_get(struct store_ref *out, const struct store *s,
		       const char *repo, const struct oci_digest *d,
		       struct err *err)
{
	char *p;
	int rc;

	rc = check_repo(repo, err);
	if (rc)
		return rc;
	p = fsutil_pathf("%s/repositories/%s/_manifests/%s/%s", s->root, repo,
			 oci_digest_alg_name(d->alg), oci_digest_hex(d));
	rc = p ? get_record(p, out, err) : ERR_FAIL;
	if (rc == ERR_NOT_FOUND)
		err_set(err, rc, "%s@%s: manifest not in store", repo, d->str);
	free(p);
	return rc;
}

int store_tag_set(struct store *s, const char *repo, const char *tag,
		  const struct store_ref *m, struct err *err)
{
	char *dir, *text;
	int rc;

	rc = check_repo(repo, err);
	if (rc)
		return rc;
	if (!oci_tag_valid(tag))
		return err_set(err, ERR_INVALID, "invalid tag \"%.200s\"", tag);
	dir = fsutil_pathf("%s/repositories/%s/_tags", s->root, repo);
	text = ref_json(m);
	rc = dir && text ? put_record(s, dir, tag, text, err)
			 : err_set(err, ERR_FAIL, "out of memory");
	free(dir);
	free(text);
	return rc;
}

int store_tag_get(struct store_ref *out, const struct store *s,
		  const char *repo, const char *tag, struct err *err)
{
	char *p;
	int rc;

	rc = check_repo(repo, err);
	if (rc)
		return rc;
	if (!oci_tag_valid(tag))
		return err_set(err, ERR_INVALID, "invalid tag \"%.200s\"", tag);
	p = fsutil_pathf("%s/repositories/%s/_tags/%s", s->root, repo, tag);
	rc = p ? get_record(p, out, err) : ERR_FAIL;
	if (rc == ERR_NOT_FOUND)
		err_set(err, rc, "%s:%s: tag not in store", repo, tag);
	free(p);
	return rc;
}

int store_tag_delete(struct store *s, const char *repo, const char *tag,
		     struct err *err)
{
	char *p;
	int rc = 0;

	(void)s;
	if (check_repo(repo, err))
		return ERR_INVALID;
	if (!oci_tag_valid(tag))
		return err_set(err, ERR_INVALID, "invalid tag \"%.200s\"", tag);
	p = fsutil_pathf("%s/repositories/%s/_tags/%s", s->root, repo, tag);
	if (!p || unlink(p))
		rc = err_set(err, errno == ENOENT ? ERR_NOT_FOUND : ERR_FAIL,
			     "%s:%s: %s", repo, tag, strerror(errno));
	free(p);
	return rc;
}

int store_referrer_add(struct store *s, const char *repo,
		       const struct oci_digest *subject,
		       const struct oci_digest *referrer, const char *desc_json,
		       struct err *err)
{
	char *dir, *name;
	int rc;

	rc = check_repo(repo, err);
	if (rc)
		return rc;
	dir = fsutil_pathf("%s/repositories/%s/_referrers/%s/%s", s->root, repo,
			   oci_digest_alg_name(subject->alg),
			   oci_digest_hex(subject));
	name = fsutil_pathf("%s-%s", oci_digest_alg_name(referrer->alg),
			    oci_digest_hex(referrer));
	rc = dir && name ? put_record(s, dir, name, desc_json, err)
			 : err_set(err, ERR_FAIL, "out of memory");
	free(dir);
	free(name);
	return rc;
}

/* Sorted names in dir, leaving out dot-names (no record starts with a
 * dot); NULL when empty or unreadable. Free with fsutil_names_free. */
static char **list_dir(const char *dir, size_t *n_out)
{
	char **v = NULL;
	size_t n = 0, j = 0;

	*n_out = 0;
	if (fsutil_names_list(&v, &n, dir, NULL) || !v)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		if (v[i][0] == '.')
			free(v[i]);
		else
			v[j++] = v[i];
	}
	*n_out = j;
	return v;
}

int store_blob_open(int *fd_out, int64_t *size_out, const struct store *s,
		    const struct oci_digest *d, struct err *err)
{
	char *p = store_blob_path(s, d);
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
		return err_set(err, ERR_FAIL, "blob %s: not a regular file",
			       d->str);
	}
	*fd_out = fd;
	*size_out = st.st_size;
	return 0;
}

int store_blobs_each(const struct store *s, store_blob_fn cb, void *ctx,
		     struct err *err)
{
	static const char *const algs[] = {"sha256", "sha512"};
	int failed = 0, stop = 0;

	for (size_t a = 0; a < 2 && !stop; a++) {
		char *dir = fsutil_pathf("%s/blobs/%s", s->root, algs[a]);
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
			    !store_blob_exists(&size, s, &d))
				continue;
			stop = cb(ctx, &d, size);
		}
		fsutil_names_free(names, n);
		free(dir);
	}
	return failed ? ERR_FAIL : 0;
}

int store_blob_delete(struct store *s, const struct oci_digest *d,
		      struct err *err)
{
	char *p = store_blob_path(s, d);
	int rc = 0;

	if (!p || unlink(p))
		rc = err_set(err, errno == ENOENT ? ERR_NOT_FOUND : ERR_FAIL,
			     "blob %s: %s", d->str, strerror(errno));
	free(p);
	return rc;
}

int store_repo_exists(const struct store *s, const char *repo)
{
	char *a, *b;
	struct stat st;
	int ok;

	if (!store_repo_valid(repo))
		return 0;
	a = fsutil_pathf("%s/repositories/%s/_tags", s->root, repo);
	b = fsutil_pathf("%s/repositories/%s/_manifests", s->root, repo);
	ok = (a && !stat(a, &st)) || (b && !stat(b, &st));
	free(a);
	free(b);
	return ok;
}

int store_manifest_unlink(struct store *s, const char *repo,
			  const struct oci_digest *d, struct err *err)
{
	char *p, *dir;
	char **tags;
	size_t n = 0;
	int rc;

	rc = check_repo(repo, err);
	if (rc)
		return rc;
	p = fsutil_pathf("%s/repositories/%s/_manifests/%s/%s", s->root, repo,
			 oci_digest_alg_name(d->alg), oci_digest_hex(d));
	if (!p || unlink(p)) {
		rc = err_set(err, errno == ENOENT ? ERR_NOT_FOUND : ERR_FAIL,
			     "%s@%s: %s", repo, d->str, strerror(errno));
		free(p);
		return rc;
	}
	free(p);
	dir = fsutil_pathf("%s/repositories/%s/_tags", s->root, repo);
	tags = dir ? list_dir(dir, &n) : NULL;
	for (size_t i = 0; i < n; i++) {
		struct store_ref ref;
		char *t = fsutil_pathf("%s/%s", dir, tags[i]);

		if (t && !get_record(t, &ref, NULL) &&
		    oci_digest_equal(&ref.digest, d))
			unlink(t);
		free(t);
	}
	fsutil_names_free(tags, n);
	free(dir);
	return 0;
}

int store_referrers_list(const struct store *s, const char *repo,
			 const struct oci_digest *subject, store_referrer_fn cb,
			 void *ctx, struct err *err)
{
	char *dir;
	char **names;
	size_t n = 0;
	int rc;

	rc = check_repo(repo, err);
	if (rc)
		return rc;
	dir = fsutil_pathf("%s/repositories/%s/_referrers/%s/%s", s->root, repo,
			   oci_digest_alg_name(subject->alg),
			   oci_digest_hex(subject));
	names = dir ? list_dir(dir, &n) : NULL;
	for (size_t i = 0; i < n; i++) {
		char *p = fsutil_pathf("%s/%s", dir, names[i]), *text = NULL;
		size_t len;
		struct oci_digest rd;
		char *dash = strchr(names[i], '-');

		/* a referrer whose manifest was deleted is skipped */
		if (dash) {
			*dash = ':';
			if (!oci_digest_parse(&rd, names[i], NULL)) {
				char *m = fsutil_pathf(
				    "%s/repositories/%s/_manifests/%s/%s",
				    s->root, repo, oci_digest_alg_name(rd.alg),
				    oci_digest_hex(&rd));
				struct stat st;
				if (m && stat(m, &st)) {
					free(m);
					free(p);
					continue;
				}
				free(m);
			}
		}
		if (p && !fsutil_read_file(&text, &len, p, RECORD_MAX, NULL))
			if (cb(ctx, text)) {
				free(text);
				free(p);
				break;
			}
		free(text);
		free(p);
	}
	fsutil_names_free(names, n);
	free(dir);
	return 0;
}

static char *blob_link_path(const struct store *s, const char *repo,
			    const struct oci_digest *d)
{
	return fsutil_pathf("%s/repositories/%s/_blobs/%s/%s", s->root, repo,
			    oci_digest_alg_name(d->alg), oci_digest_hex(d));
}

int store_blob_link(struct store *s, const char *repo,
		    const struct oci_digest *d, struct err *err)
{
	char *p, *dir;
	struct stat st;
	int rc;

	rc = check_repo(repo, err);
	if (rc)
		return rc;
	p = blob_link_path(s, repo, d);
	if (p && !stat(p, &st)) {
		free(p);
		return 0;
	}
	free(p);
	/* a fresh mtime on the blob keeps a concurrent gc (grace period)
	 * from sweeping a blob that is being linked right now */
	p = store_blob_path(s, d);
	if (p)
		utimensat(AT_FDCWD, p, NULL, 0);
	free(p);
	dir = fsutil_pathf("%s/repositories/%s/_blobs/%s", s->root, repo,
			   oci_digest_alg_name(d->alg));
	rc = dir ? put_record(s, dir, oci_digest_hex(d), "", err)
		 : err_set(err, ERR_FAIL, "out of memory");
	free(dir);
	return rc;
}

int store_blob_linked(const struct store *s, const char *repo,
		      const struct oci_digest *d)
{
	char *p;
	struct stat st;
	int ok;

	if (!store_repo_valid(repo))
		return 0;
	p = blob_link_path(s, repo, d);
	ok = p && !stat(p, &st);
	free(p);
	return ok;
}

int store_blob_unlink(struct store *s, const char *repo,
		      const struct oci_digest *d, struct err *err)
{
	char *p;
	int rc = 0;

	rc = check_repo(repo, err);
	if (rc)
		return rc;
	p = blob_link_path(s, repo, d);
	if (!p || unlink(p))
		rc = err_set(err, errno == ENOENT ? ERR_NOT_FOUND : ERR_FAIL,
			     "%s@%s: %s", repo, d->str, strerror(errno));
	free(p);
	return rc;
}

int store_name_split(char *repo_out, char *tag_out, const char *name,
		     struct err *err)
{
	const char *slash = strrchr(name, '/');
	const char *colon = strrchr(slash ? slash : name, ':');
	size_t rl = colon ? (size_t)(colon - name) : strlen(name);

	tag_out[0] = '\0';
	repo_out[0] = '\0';
	if (rl >= OCI_REPO_MAX || (colon && strlen(colon + 1) > OCI_TAG_MAX))
		return err_set(err, ERR_INVALID,
			       "invalid name \"%.300s\": too long", name);
	memcpy(repo_out, name, rl);
	repo_out[rl] = '\0';
	if (colon)
		snprintf(tag_out, OCI_TAG_MAX + 1, "%s", colon + 1);
	if (!store_repo_valid(repo_out))
		return err_set(err, ERR_INVALID,
			       "invalid name \"%.300s\": bad repository", name);
	if (colon && !oci_tag_valid(tag_out))
		return err_set(err, ERR_INVALID,
			       "invalid name \"%.300s\": bad tag", name);
	return 0;
}
