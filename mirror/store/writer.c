/* The streaming blob writer: hash while writing to a staged temp file,
 * verify, place under the digest (store.h). */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mirror/store/backend.h"
#include "oci/ref.h"

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
	int staged; /* verified and fsync'd in tmp, fd closed, not placed */
	/* Large blobs are hashed by a second thread that reads the temp file
	 * behind the writer (from the page cache), so hashing overlaps the
	 * network instead of adding to it. */
	int threaded;
	int use_thread; /* restart the thread when a parked writer resumes */
	pthread_t th;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	uint64_t visible; /* bytes written, as the hash thread sees them */
	uint64_t hashed;  /* bytes hashed by the thread */
	int stop, read_err;
	/* a parked writer whose hash could not catch up: sticky, every
	 * later resume, write and commit fails */
	int failed;
	/* verify's digest of the first off bytes (the hasher is then
	 * spent): reused by a commit retried after a failed fsync or
	 * rename, dropped by a write or reset */
	int verified;
	struct oci_digest got;
	/* a shared upload session (store_writer_share): the bytes [0,
	 * shared) are the session's in the store */
	uint64_t shared;
	int share_made; /* the session exists in the store */
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

/* The hash thread, for writers of large or unknown size, from the bytes
 * already hashed on; without it the writer hashes inline. */
static void hash_thread_start(struct store_writer *w)
{
	if (!w->use_thread || w->threaded)
		return;
	w->visible = w->hashed = w->off;
	w->stop = 0;
	w->read_err = 0;
	pthread_mutex_init(&w->mu, NULL);
	pthread_cond_init(&w->cv, NULL);
	if (pthread_create(&w->th, NULL, hash_thread, w) == 0) {
		w->threaded = 1;
	} else {
		pthread_mutex_destroy(&w->mu);
		pthread_cond_destroy(&w->cv);
	}
}

/* Start writeback every few MiB so the fsync at commit has little left to
 * do, and the page cache does not fill with dirty pages of one blob. */
#define WRITEBACK_STEP (8u * 1024 * 1024)

int store_writer_open(struct store_writer **out, struct store *s,
		      const struct oci_digest *expect, int64_t size,
		      struct err *err)
{
	struct store_writer *w = calloc(1, sizeof(*w));
	int rc;

	*out = NULL;
	if (!w)
		return err_set(err, ERR_FAIL, "out of memory");
	w->s = s;
	w->expect = *expect;
	w->size = size;
	rc = s->ops->stage_open(&w->fd, &w->tmp, s->be, err);
	if (rc) {
		free(w);
		return rc;
	}
	if (oci_hasher_init(&w->h, expect->alg)) {
		store_writer_free(w);
		return err_set(err, ERR_FAIL, "hash init failed");
	}
	w->use_thread = size < 0 || size >= (int64_t)THREAD_HASH_MIN;
	hash_thread_start(w);
	*out = w;
	return 0;
}

int store_writer_park(struct store_writer *w, struct err *err)
{
	if (w->fd >= 0) {
		if (hash_catch_up(w))
			w->failed = 1;
		hash_thread_stop(w);
		close(w->fd);
		w->fd = -1;
	}
	return w->failed ? err_set(err, ERR_FAIL,
				   "reading back or writing %s failed; "
				   "writer not usable",
				   w->tmp)
			 : 0;
}

int store_writer_resume(struct store_writer *w, struct err *err)
{
	int rc;

	if (w->failed)
		return err_set(err, ERR_FAIL, "reading back %s failed", w->tmp);
	if (w->fd >= 0 || w->staged || w->committed)
		return 0;
	rc = w->s->ops->stage_reopen(&w->fd, w->s->be, w->tmp, err);
	if (rc)
		return rc;
	if (lseek(w->fd, (off_t)w->off, SEEK_SET) < 0) {
		rc = err_set(err, ERR_FAIL, "seek %s: %s", w->tmp,
			     strerror(errno));
		close(w->fd);
		w->fd = -1;
		return rc;
	}
	hash_thread_start(w);
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

	/* staged or stored: only under the digest it was verified as (a
	 * retried commit whose link failed finds it stored) */
	if (w->staged || w->committed) {
		if (!oci_digest_equal(digest, &w->expect))
			return err_set(err, ERR_DIGEST,
				       "blob %s: already %s as %s", digest->str,
				       w->committed ? "stored" : "staged",
				       w->expect.str);
		return w->committed ? 0 : store_writer_publish(w, err);
	}
	if (digest->alg == w->expect.alg) {
		w->expect = *digest;
		return store_writer_commit(w, err);
	}
	if (w->failed || hash_catch_up(w) || rehash(w, digest->alg, &got))
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

/* The hasher again over the first off bytes, after verify spent it. */
static int hash_redo(struct store_writer *w)
{
	char buf[65536];
	uint64_t off = 0;

	if (hash_catch_up(w))
		return ERR_FAIL;
	oci_hasher_release(&w->h);
	if (oci_hasher_init(&w->h, w->expect.alg))
		return ERR_FAIL;
	while (off < w->off) {
		size_t want = w->off - off > sizeof(buf)
				  ? sizeof(buf)
				  : (size_t)(w->off - off);
		ssize_t r = pread(w->fd, buf, want, (off_t)off);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return ERR_FAIL;
		oci_hasher_update(&w->h, buf, (size_t)r);
		off += (uint64_t)r;
	}
	w->verified = 0;
	return 0;
}

int store_writer_write(struct store_writer *w, const void *p, size_t n,
		       struct err *err)
{
	const char *c = p;
	size_t left = n;

	if (w->failed || w->fd < 0 || w->staged || w->committed)
		return err_set(err, ERR_FAIL, "write %s: writer not usable",
			       w->tmp);
	if (w->verified && hash_redo(w)) {
		w->failed = 1;
		return err_set(err, ERR_FAIL, "reading back %s failed", w->tmp);
	}
	if (w->size >= 0 && w->off + n > (uint64_t)w->size)
		return err_set(err, ERR_DIGEST,
			       "blob %s: more than the expected %lld bytes",
			       w->expect.str, (long long)w->size);
	while (left) {
		ssize_t r = write(w->fd, c, left);
		if (r < 0) {
			int e = errno;
			if (e == EINTR)
				continue;
			/* a partial write (disk full, file size limit) is
			 * undone: the file, offset and hash stay at the
			 * bytes before this call */
			if (ftruncate(w->fd, (off_t)w->off) ||
			    lseek(w->fd, (off_t)w->off, SEEK_SET) < 0)
				w->failed = 1;
			return err_set(err, ERR_FAIL, "write %s: %s", w->tmp,
				       strerror(e));
		}
		c += r;
		left -= (size_t)r;
	}
	if (!w->threaded)
		oci_hasher_update(&w->h, p, n);
	w->off += (uint64_t)n;
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
	w->verified = 0;
	w->shared = 0;
	if (oci_hasher_init(&w->h, w->expect.alg))
		return err_set(err, ERR_FAIL, "hash init failed");
	return 0;
}

uint64_t store_writer_offset(const struct store_writer *w)
{
	return w->off;
}

int store_writer_read_fd(const struct store_writer *w)
{
	char path[64];
	int fd;

	if (w->fd < 0) {
		errno = EBADF;
		return -1;
	}
	/* the same file opened again read-only; a duplicate (read-write)
	 * where /proc is missing */
	snprintf(path, sizeof(path), "/proc/self/fd/%d", w->fd);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	return fd >= 0 ? fd : fcntl(w->fd, F_DUPFD_CLOEXEC, 0);
}

/* Size and digest against what was expected; on ERR_DIGEST the writer is
 * reset. */
static int verify(struct store_writer *w, struct err *err)
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
	if (w->failed)
		return err_set(err, ERR_FAIL, "blob %s: reading back %s failed",
			       w->expect.str, w->tmp);
	if (!w->verified) {
		if (hash_catch_up(w))
			return err_set(err, ERR_FAIL,
				       "blob %s: reading back %s failed",
				       w->expect.str, w->tmp);
		oci_hasher_final(&w->h, &w->got);
		w->verified = 1;
	}
	got = w->got;
	if (!oci_digest_equal(&got, &w->expect)) {
		rc =
		    err_set(err, ERR_DIGEST,
			    "blob %s: digest mismatch: content is %s (%llu "
			    "bytes); not stored",
			    w->expect.str, got.str, (unsigned long long)w->off);
		store_writer_reset(w, NULL);
		return rc;
	}
	return 0;
}

int store_writer_commit(struct store_writer *w, struct err *err)
{
	int rc;

	if (w->staged)
		return store_writer_publish(w, err);
	rc = verify(w, err);
	return rc ? rc : place(w, err);
}

int store_writer_stage(struct store_writer *w, struct err *err)
{
	int rc;

	if (w->staged || w->committed)
		return err_set(err, ERR_INVALID, "blob %s: already %s",
			       w->expect.str,
			       w->committed ? "stored" : "staged");
	rc = store_writer_resume(w, err); /* a parked writer: its fd */
	if (!rc)
		rc = verify(w, err);
	if (rc)
		return rc;
	if (fsync(w->fd))
		return err_set(err, ERR_FAIL, "fsync %s: %s", w->tmp,
			       strerror(errno));
	hash_thread_stop(w);
	close(w->fd);
	w->fd = -1;
	w->staged = 1;
	return 0;
}

int store_writer_publish(struct store_writer *w, struct err *err)
{
	int rc;

	if (!w->staged || w->committed)
		return err_set(err, ERR_INVALID, "blob %s: not staged",
			       w->expect.str);
	rc = w->s->ops->stage_place(w->s->be, w->tmp, &w->expect, err);
	if (!rc)
		w->committed = 1;
	return rc;
}

int store_writer_staged_read(char **out, size_t *len_out,
			     const struct store_writer *w, size_t max,
			     struct err *err)
{
	char *buf;
	size_t len = 0;
	int fd, rc;

	*out = NULL;
	*len_out = 0;
	if (!w->staged || w->committed)
		return err_set(err, ERR_INVALID, "blob %s: not staged",
			       w->expect.str);
	if (w->off > max)
		return err_set(err, ERR_TOO_LARGE,
			       "blob %s: %llu bytes, more than the %zu allowed",
			       w->expect.str, (unsigned long long)w->off, max);
	rc = w->s->ops->stage_reopen(&fd, w->s->be, w->tmp, err);
	if (rc)
		return rc;
	buf = malloc((size_t)w->off + 1);
	if (!buf) {
		close(fd);
		return err_set(err, ERR_FAIL, "blob %s: out of memory",
			       w->expect.str);
	}
	while (len < (size_t)w->off) {
		ssize_t r =
		    pread(fd, buf + len, (size_t)w->off - len, (off_t)len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			rc = err_set(err, ERR_FAIL, "read %s: %s", w->tmp,
				     r < 0 ? strerror(errno) : "cut short");
			close(fd);
			free(buf);
			return rc;
		}
		len += (size_t)r;
	}
	close(fd);
	buf[len] = 0;
	*out = buf;
	*len_out = len;
	return 0;
}

/* fsync and place the verified temp file under its digest. */
static int place(struct store_writer *w, struct err *err)
{
	int rc;

	if (fsync(w->fd))
		return err_set(err, ERR_FAIL, "fsync %s: %s", w->tmp,
			       strerror(errno));
	rc = w->s->ops->stage_place(w->s->be, w->tmp, &w->expect, err);
	if (!rc)
		w->committed = 1;
	return rc;
}

void store_writer_free(struct store_writer *w)
{
	if (!w)
		return;
	hash_thread_stop(w);
	if (w->fd >= 0)
		close(w->fd);
	if (!w->committed && w->tmp)
		w->s->ops->stage_discard(w->s->be, w->tmp);
	oci_hasher_release(&w->h);
	free(w->tmp);
	free(w);
}

/* A session id as the store keys it: [A-Za-z0-9-], 1 to 64. */
static int id_valid(const char *id)
{
	size_t n = 0;

	for (; id[n]; n++)
		if (n >= 64 ||
		    !((id[n] >= 'a' && id[n] <= 'z') ||
		      (id[n] >= 'A' && id[n] <= 'Z') ||
		      (id[n] >= '0' && id[n] <= '9') || id[n] == '-'))
			return 0;
	return n > 0;
}

int store_writer_share(struct store_writer *w, const char *id, const char *repo,
		       struct err *err)
{
	const struct store_ops *ops = w->s->ops;
	int fd = w->fd, rc;

	if (!store_is_shared(w->s) || !ops->upload_append)
		return err_set(err, ERR_UNSUPPORTED,
			       "upload %s: store %s keeps no upload sessions",
			       id, w->s->root);
	if (!id_valid(id))
		return err_set(err, ERR_INVALID, "upload id \"%.80s\" invalid",
			       id);
	if (w->failed || w->staged || w->committed)
		return err_set(err, ERR_FAIL, "upload %s: writer not usable",
			       id);
	if (w->share_made && w->off == w->shared)
		return 0;
	/* a parked writer's file, for this share only */
	if (fd < 0) {
		rc = ops->stage_reopen(&fd, w->s->be, w->tmp, err);
		if (rc)
			return rc;
	}
	rc = ops->upload_append(w->s->be, id, repo, w->shared, fd,
				w->off - w->shared, err);
	if (fd != w->fd)
		close(fd);
	if (rc)
		return rc;
	w->shared = w->off;
	w->share_made = 1;
	return 0;
}

int store_upload_offset(uint64_t *offset_out, struct store *s, const char *id,
			const char *repo, struct err *err)
{
	char owner[OCI_REPO_MAX];
	int rc;

	*offset_out = 0;
	if (!store_is_shared(s) || !s->ops->upload_info)
		return err_set(err, ERR_UNSUPPORTED,
			       "upload %s: store %s keeps no upload sessions",
			       id, s->root);
	if (!id_valid(id))
		return err_set(err, ERR_NOT_FOUND, "upload %.80s unknown", id);
	owner[0] = 0;
	rc = s->ops->upload_info(offset_out, owner, s->be, id, err);
	if (rc)
		return rc;
	if (strcmp(owner, repo)) {
		*offset_out = 0;
		return err_set(err, ERR_NOT_FOUND, "upload %s unknown to %s",
			       id, repo);
	}
	return 0;
}

/* The session's bytes [w->off, upto) appended to w through the writer
 * (hashed as they come), in windows of one buffer. */
static int join_read(struct store_writer *w, const char *id, uint64_t upto,
		     struct err *err)
{
	size_t cap = 1024 * 1024;
	char *buf = malloc(cap);
	int rc = 0;

	if (!buf)
		return err_set(err, ERR_FAIL, "upload %s: out of memory", id);
	while (!rc && w->off < upto) {
		uint64_t want = upto - w->off;
		size_t got = 0;

		if (want > cap)
			want = cap;
		rc = w->s->ops->upload_read_at(&got, w->s->be, id, w->off, buf,
					       (size_t)want, err);
		if (!rc && !got)
			rc = err_set(err, ERR_FAIL,
				     "upload %s: session cut short at %llu "
				     "of %llu bytes",
				     id, (unsigned long long)w->off,
				     (unsigned long long)upto);
		if (!rc)
			rc = store_writer_write(w, buf, got, err);
	}
	free(buf);
	return rc;
}

int store_upload_join(struct store_writer **w, struct store *s, const char *id,
		      const char *repo, struct err *err)
{
	struct store_writer *nw = NULL;
	uint64_t off;
	int rc, parked;

	/* a writer already whole (committed or staged: a PUT whose link
	 * failed, retried) has nothing to catch up on */
	if (*w && ((*w)->committed || (*w)->staged))
		return 0;
	rc = store_upload_offset(&off, s, id, repo, err);
	if (rc)
		return rc;
	if (!*w) {
		rc = store_writer_open_upload(&nw, s, err);
		if (rc)
			return rc;
		*w = nw;
	}
	parked = (*w)->fd < 0;
	rc = store_writer_resume(*w, err);
	if (rc)
		goto out;
	/* bytes of ours the session lacks (a share that failed), or a
	 * session that moved on from elsewhere past bytes of ours: start
	 * again from the session's first byte */
	if ((*w)->off > off ||
	    ((*w)->off != (*w)->shared && (*w)->shared < off))
		rc = store_writer_reset(*w, err);
	if (!rc)
		rc = join_read(*w, id, off, err);
	if (!rc) {
		(*w)->shared = off;
		(*w)->share_made = 1;
	}
	if (!rc && parked)
		rc = store_writer_park(*w, err);
out:
	if (rc && nw) {
		store_writer_free(nw);
		*w = NULL;
	}
	return rc;
}

void store_upload_forget(struct store *s, const char *id)
{
	if (store_is_shared(s) && s->ops->upload_forget && id_valid(id))
		s->ops->upload_forget(s->be, id, NULL);
}
