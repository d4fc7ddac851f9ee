#include "mirror/store/verify.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mirror/store/fsutil.h"
#include "mirror/store/walk.h"
#include "oci/manifest.h"
#include "oci/ref.h"

#define HASH_CHUNK (64 * 1024)
#define QUARANTINE_NAME_MAX 200 /* of the original name kept */

static const char *const algs[] = {"sha256", "sha512"};
#define N_ALGS (sizeof(algs) / sizeof(algs[0]))

struct verify {
	struct store *s;
	const struct verify_options *o;
	struct verify_stats *st;
	char *buf; /* HASH_CHUNK bytes */
	const char *repo;
};

static void problem(struct verify *v, enum verify_kind kind, const char *tag,
		    const char *manifest, const char *digest,
		    const char *quarantine, const char *fmt, ...)
    __attribute__((format(printf, 7, 8)));
static void problem(struct verify *v, enum verify_kind kind, const char *tag,
		    const char *manifest, const char *digest,
		    const char *quarantine, const char *fmt, ...)
{
	char msg[ERR_MSG_MAX];
	struct verify_problem p = {kind,   v->repo,    tag, manifest,
				   digest, quarantine, msg};
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	switch (kind) {
	case VERIFY_CORRUPT:
	case VERIFY_STRAY: v->st->corrupt++; break;
	case VERIFY_MISSING_MANIFEST:
	case VERIFY_MISSING_BLOB: v->st->missing++; break;
	case VERIFY_UNREADABLE: v->st->unreadable++; break;
	case VERIFY_SIZE_MISMATCH: v->st->mismatched++; break;
	}
	if (v->o && v->o->problem)
		v->o->problem(v->o->ctx, &p);
}

/* Hash path with alg. 0, ERR_INVALID when not a regular file, ERR_FAIL
 * when it cannot be read (errno kept in *errno_out). */
static int hash_file(struct verify *v, const char *path,
		     enum oci_digest_alg alg, struct oci_digest *out,
		     int *errno_out)
{
	struct oci_hasher h;
	struct stat st;
	ssize_t r;
	int fd, rc = 0;

	*errno_out = 0;
	fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0) {
		*errno_out = errno;
		return errno == ELOOP ? ERR_INVALID : ERR_FAIL;
	}
	if (fstat(fd, &st) || !S_ISREG(st.st_mode)) {
		close(fd);
		return ERR_INVALID;
	}
	if (oci_hasher_init(&h, alg)) {
		close(fd);
		*errno_out = ENOMEM;
		return ERR_FAIL;
	}
	for (;;) {
		r = read(fd, v->buf, HASH_CHUNK);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		oci_hasher_update(&h, v->buf, (size_t)r);
		v->st->bytes += (uint64_t)r;
	}
	if (r < 0) {
		*errno_out = errno;
		rc = ERR_FAIL;
	} else {
		oci_hasher_final(&h, out);
	}
	oci_hasher_release(&h);
	close(fd);
	return rc;
}

/* Move dir/name to quarantine/<alg>-<name>[.N]; the new path, relative to
 * the store, into rel. 0, or ERR_FAIL with errno kept for the caller's
 * problem line. */
static int quarantine(struct verify *v, const char *alg, const char *dir,
		      const char *name, char *rel, size_t relcap)
{
	char *qdir = NULL, *src = NULL, *dst = NULL;
	struct stat st;
	int rc = ERR_FAIL, saved = 0;

	if (asprintf(&qdir, "%s/quarantine", v->s->root) < 0) {
		qdir = NULL;
		goto out;
	}
	if (mkdir(qdir, 0755) && errno != EEXIST)
		goto out;
	if (asprintf(&src, "%s/%s", dir, name) < 0) {
		src = NULL;
		goto out;
	}
	for (int i = 0; i < 1000; i++) {
		free(dst);
		dst = NULL;
		if (i)
			snprintf(rel, relcap, "quarantine/%s-%.*s.%d", alg,
				 QUARANTINE_NAME_MAX, name, i);
		else
			snprintf(rel, relcap, "quarantine/%s-%.*s", alg,
				 QUARANTINE_NAME_MAX, name);
		if (asprintf(&dst, "%s/%s", v->s->root, rel) < 0) {
			dst = NULL;
			goto out;
		}
		if (lstat(dst, &st) && errno == ENOENT)
			break;
	}
	rc = dst && !rename(src, dst) ? 0 : ERR_FAIL;
out:
	saved = errno;
	free(qdir);
	free(src);
	free(dst);
	errno = saved;
	return rc;
}

static void check_file(struct verify *v, const char *alg, const char *dir,
		       const char *name)
{
	struct oci_digest want, got;
	char rel[512], shown[300], *path = NULL;
	int valid = !fsutil_name_digest(&want, alg, name);
	int rc, e;

	snprintf(shown, sizeof(shown), "%s:%.*s", alg, QUARANTINE_NAME_MAX,
		 name);
	if (asprintf(&path, "%s/%s", dir, name) < 0)
		return;
	v->st->blobs++;
	rc = hash_file(v, path, valid ? want.alg : OCI_SHA256, &got, &e);
	if (rc == ERR_FAIL) {
		problem(v, VERIFY_UNREADABLE, NULL, NULL, shown, NULL,
			"blob %s: cannot read %s: %s", shown, path,
			strerror(e));
		goto out;
	}
	if (!rc && valid && oci_digest_equal(&got, &want))
		goto out;
	if (quarantine(v, alg, dir, name, rel, sizeof(rel))) {
		e = errno;
		problem(v, valid && !rc ? VERIFY_CORRUPT : VERIFY_STRAY, NULL,
			NULL, shown, NULL,
			"blob %s: %s; moving it to quarantine failed: %s",
			shown,
			!valid ? "name is not a digest"
			: rc   ? "not a regular file"
			       : "content does not match",
			strerror(e));
		goto out;
	}
	v->st->quarantined++;
	if (!valid)
		problem(v, VERIFY_STRAY, NULL, NULL, shown, rel,
			"blob %s: name is not a digest; moved to %s", shown,
			rel);
	else if (rc)
		problem(v, VERIFY_STRAY, NULL, NULL, shown, rel,
			"blob %s: not a regular file; moved to %s", shown, rel);
	else
		problem(v, VERIFY_CORRUPT, NULL, NULL, shown, rel,
			"blob %s: content is %s; moved to %s", shown, got.str,
			rel);
out:
	free(path);
}

static int check_blobs(struct verify *v, struct err *err)
{
	for (size_t a = 0; a < N_ALGS; a++) {
		char *dir = NULL, **names = NULL;
		size_t n = 0;

		if (asprintf(&dir, "%s/blobs/%s", v->s->root, algs[a]) < 0)
			return err_set(err, ERR_FAIL, "out of memory");
		if (fsutil_names_list(&names, &n, dir, NULL)) {
			int rc = err_set(err, ERR_FAIL, "cannot list %s: %s",
					 dir, strerror(errno));
			free(dir);
			return rc;
		}
		for (size_t i = 0; i < n; i++)
			check_file(v, algs[a], dir, names[i]);
		fsutil_names_free(names, n);
		free(dir);
	}
	return 0;
}

/* A descriptor of manifest d against the store: absent is a problem only
 * when required; present, its size must be the descriptor's. */
static void check_size(struct verify *v, const struct oci_digest *d,
		       const struct oci_descriptor *b, const char *what,
		       int required)
{
	int64_t have = -1;

	if (!store_blob_exists(&have, v->s, &b->digest)) {
		if (required)
			problem(v, VERIFY_MISSING_BLOB, NULL, d->str,
				b->digest.str, NULL,
				"%s@%s: %s %s is not stored", v->repo, d->str,
				what, b->digest.str);
		return;
	}
	if (have != b->size)
		problem(v, VERIFY_SIZE_MISMATCH, NULL, d->str, b->digest.str,
			NULL,
			"%s@%s: %s %s is %lld bytes, the manifest says %lld",
			v->repo, d->str, what, b->digest.str, (long long)have,
			(long long)b->size);
}

static void check_content(struct verify *v, const struct oci_digest *d,
			  const char *media_type)
{
	struct oci_manifest m;
	struct err e;
	char *raw = NULL;
	size_t len = 0;
	int rc;

	memset(&m, 0, sizeof(m));
	rc = store_blob_read(&raw, &len, v->s, d, OCI_MANIFEST_MAX, &e);
	if (rc == ERR_NOT_FOUND) {
		problem(v, VERIFY_MISSING_MANIFEST, NULL, d->str, d->str, NULL,
			"%s@%s: manifest is not stored", v->repo, d->str);
		return;
	}
	if (!rc) {
		rc = oci_manifest_parse(&m, raw, len, media_type, &e);
		if (rc) {
			oci_manifest_release(&m);
			memset(&m, 0, sizeof(m));
			rc = oci_manifest_parse(&m, raw, len, NULL, &e);
		}
	}
	if (rc) {
		problem(v, VERIFY_UNREADABLE, NULL, d->str, d->str, NULL,
			"%s@%s: unreadable manifest: %s", v->repo, d->str,
			e.msg);
		goto out;
	}
	for (size_t i = 0; i < m.n_layers; i++)
		check_size(
		    v, d, &m.layers[i], "layer",
		    !oci_mediatype_is_nondistributable(m.layers[i].media_type));
	if (m.has_config)
		check_size(v, d, &m.config, "config", 1);
	for (size_t i = 0; i < m.n_manifests; i++)
		check_size(v, d, &m.manifests[i], "manifest", 0);
	if (m.has_subject)
		check_size(v, d, &m.subject, "subject", 0);
out:
	oci_manifest_release(&m);
	free(raw);
}

static int check_repo(void *ctx, const char *repo)
{
	struct verify *v = ctx;
	char *dir = NULL, **names = NULL;
	size_t n = 0;

	v->repo = repo;
	if (asprintf(&dir, "%s/repositories/%s/_tags", v->s->root, repo) < 0)
		return 1;
	if (fsutil_names_list(&names, &n, dir, NULL))
		problem(v, VERIFY_UNREADABLE, NULL, NULL, NULL, NULL,
			"%s: cannot list tags: %s", repo, strerror(errno));
	for (size_t i = 0; i < n; i++) {
		struct store_ref ref;
		struct err e;
		int rc;

		if (!oci_tag_valid(names[i])) {
			problem(v, VERIFY_UNREADABLE, names[i], NULL, NULL,
				NULL, "%s: %s/%s is not a tag name", repo, dir,
				names[i]);
			continue;
		}
		rc = store_tag_get(&ref, v->s, repo, names[i], &e);
		if (rc == ERR_NOT_FOUND)
			continue;
		v->st->tags++;
		if (rc)
			problem(v, VERIFY_UNREADABLE, names[i], NULL, NULL,
				NULL, "%s:%s: %s", repo, names[i], e.msg);
		else if (!store_blob_exists(NULL, v->s, &ref.digest))
			problem(v, VERIFY_MISSING_MANIFEST, names[i],
				ref.digest.str, ref.digest.str, NULL,
				"%s:%s: manifest %s is not stored", repo,
				names[i], ref.digest.str);
	}
	fsutil_names_free(names, n);
	free(dir);
	for (size_t a = 0; a < N_ALGS; a++) {
		if (asprintf(&dir, "%s/repositories/%s/_manifests/%s",
			     v->s->root, repo, algs[a]) < 0)
			return 1;
		if (fsutil_names_list(&names, &n, dir, NULL))
			problem(v, VERIFY_UNREADABLE, NULL, NULL, NULL, NULL,
				"%s: cannot list %s: %s", repo, dir,
				strerror(errno));
		for (size_t i = 0; i < n; i++) {
			struct oci_digest d;
			struct store_ref rec;
			struct err e;

			if (fsutil_name_digest(&d, algs[a], names[i]))
				continue;
			v->st->manifests++;
			if (store_manifest_get(&rec, v->s, repo, &d, &e)) {
				problem(v, VERIFY_UNREADABLE, NULL, d.str,
					d.str, NULL, "%s", e.msg);
				check_content(v, &d, NULL);
			} else {
				check_content(v, &d, rec.media_type);
			}
		}
		fsutil_names_free(names, n);
		free(dir);
	}
	return 0;
}

int verify_run(struct verify_stats *out, struct store *s,
	       const struct verify_options *o, struct err *err)
{
	struct verify v = {s, o, out, NULL, NULL};
	struct err werr;
	int rc;

	memset(out, 0, sizeof(*out));
	err_clear(&werr);
	v.buf = malloc(HASH_CHUNK);
	if (!v.buf)
		return err_set(err, ERR_FAIL, "out of memory");
	rc = check_blobs(&v, err);
	if (rc)
		goto out;
	if (walk_repos(s, check_repo, &v, &werr)) {
		v.repo = NULL;
		problem(&v, VERIFY_UNREADABLE, NULL, NULL, NULL, NULL, "%s",
			werr.msg);
	}
out:
	free(v.buf);
	return rc;
}
