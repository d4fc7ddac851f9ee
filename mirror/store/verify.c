#include "mirror/store/verify.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mirror/store/backend.h"
#include "mirror/store/fsutil.h"
#include "mirror/store/walk.h"
#include "oci/manifest.h"
#include "oci/ref.h"
#include "oci/vec.h"

#define HASH_CHUNK (64 * 1024)
#define RANGE_CHUNK (4 * 1024 * 1024) /* a remote store's read */
#define QUARANTINE_NAME_MAX 200	      /* of the original name kept */

static const char *const algs[] = {"sha256", "sha512"};
#define N_ALGS (sizeof(algs) / sizeof(algs[0]))

struct verify {
	struct store *s;
	const struct verify_options *o;
	struct verify_stats *st;
	char *buf; /* cap bytes */
	size_t cap;
	const char *repo;
	/* the keys under quarantine/, sorted, listed at the first move */
	char **qkeys;
	size_t nq, capq;
	int qlisted, qfailed;
	struct err qerr;
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

/* Hash blob d (named a digest, walked as a regular file). 0, ERR_INVALID
 * when it is not a regular file after all, ERR_FAIL when it cannot be
 * read (why in *why). A remote store is read in ranges, so nothing but
 * the one buffer is kept locally. */
static int hash_blob(struct verify *v, const struct oci_digest *d,
		     struct oci_digest *out, struct err *why)
{
	struct oci_hasher h;
	int64_t size = 0;
	uint64_t off = 0;
	int fd = -1, rc = 0;

	if (!store_is_remote(v->s)) {
		rc = store_blob_open(&fd, &size, v->s, d, why);
		if (rc)
			return rc == ERR_INVALID ? ERR_INVALID : ERR_FAIL;
	}
	if (oci_hasher_init(&h, d->alg)) {
		if (fd >= 0)
			close(fd);
		return err_set(why, ERR_FAIL, "out of memory");
	}
	for (;;) {
		size_t got = 0;

		if (fd >= 0) {
			ssize_t r = read(fd, v->buf, v->cap);

			if (r < 0 && errno == EINTR)
				continue;
			if (r < 0) {
				rc = err_set(why, ERR_FAIL, "%s",
					     strerror(errno));
				break;
			}
			got = (size_t)r;
		} else {
			rc = store_blob_read_at(&got, v->s, d, off, v->buf,
						v->cap, why);
			if (rc) {
				rc = ERR_FAIL;
				break;
			}
		}
		if (!got)
			break;
		oci_hasher_update(&h, v->buf, got);
		v->st->bytes += (uint64_t)got;
		off += got;
		if (fd < 0 && got < v->cap)
			break; /* short only at the end: no request more */
	}
	if (!rc)
		oci_hasher_final(&h, out);
	oci_hasher_release(&h);
	if (fd >= 0)
		close(fd);
	return rc;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int qkey_seen(void *ctx, const char *key, int64_t size, int64_t mtime)
{
	struct verify *v = ctx;
	char *k = strdup(key);

	(void)size;
	(void)mtime;
	if (!k || OCI_VEC_RESERVE(v->qkeys, v->nq, v->capq, 1, 0)) {
		free(k);
		v->qfailed = 1;
		return 1;
	}
	v->qkeys[v->nq++] = k;
	return 0;
}

static int qkey_has(const struct verify *v, const char *key)
{
	return v->nq &&
	       bsearch(&key, v->qkeys, v->nq, sizeof(*v->qkeys), cmp_str);
}

/* Add key to the sorted keys of quarantine/. */
static int qkey_add(struct verify *v, const char *key)
{
	char *k = strdup(key);
	size_t i = 0;

	if (!k || OCI_VEC_RESERVE(v->qkeys, v->nq, v->capq, 1, 0)) {
		free(k);
		return ERR_FAIL;
	}
	while (i < v->nq && strcmp(v->qkeys[i], k) < 0)
		i++;
	memmove(v->qkeys + i + 1, v->qkeys + i,
		(v->nq - i) * sizeof(*v->qkeys));
	v->qkeys[i] = k;
	v->nq++;
	return 0;
}

/* Move key (blobs/<alg>/<name>) to quarantine/<alg>-<name>[.N], a key not
 * taken yet (quarantine/ is listed once, at the first move); the new key
 * into rel. 0, or ERR_FAIL with why. */
static int quarantine(struct verify *v, const char *alg, const char *key,
		      const char *name, char *rel, size_t relcap,
		      struct err *why)
{
	int i;

	if (!v->qlisted) {
		struct err e;

		err_clear(&e);
		v->qlisted = 1;
		if (v->s->ops->walk(v->s->be, "quarantine/", qkey_seen, v,
				    &e) ||
		    v->qfailed) {
			v->qfailed = 1;
			err_set(&v->qerr, ERR_FAIL, "%s",
				e.msg[0] ? e.msg : "out of memory");
		}
		if (v->nq)
			qsort(v->qkeys, v->nq, sizeof(*v->qkeys), cmp_str);
	}
	if (v->qfailed)
		return err_set(why, ERR_FAIL, "%s", v->qerr.msg);
	for (i = 0; i < 1000; i++) {
		if (i)
			snprintf(rel, relcap, "quarantine/%s-%.*s.%d", alg,
				 QUARANTINE_NAME_MAX, name, i);
		else
			snprintf(rel, relcap, "quarantine/%s-%.*s", alg,
				 QUARANTINE_NAME_MAX, name);
		if (!qkey_has(v, rel))
			break;
	}
	if (i == 1000)
		return err_set(why, ERR_FAIL, "%s is taken up to .999", rel);
	if (v->s->ops->move(v->s->be, key, rel, why))
		return ERR_FAIL;
	if (qkey_add(v, rel))
		return err_set(why, ERR_FAIL, "out of memory");
	return 0;
}

/* One object under blobs/<alg>/ (name: the rest of its key; size -1:
 * not a regular file). */
static void check_file(struct verify *v, const char *alg, const char *key,
		       const char *name, int64_t size)
{
	struct oci_digest want, got;
	char rel[512], shown[300];
	int valid = !fsutil_name_digest(&want, alg, name);
	struct err why;
	int rc = 0;

	err_clear(&why);
	snprintf(shown, sizeof(shown), "%s:%.*s", alg, QUARANTINE_NAME_MAX,
		 name);
	v->st->blobs++;
	if (size < 0)
		rc = ERR_INVALID;
	else if (valid)
		rc = hash_blob(v, &want, &got, &why);
	else
		v->st->bytes += (uint64_t)size; /* moved whole */
	if (rc == ERR_FAIL) {
		problem(v, VERIFY_UNREADABLE, NULL, NULL, shown, NULL,
			"blob %s: cannot read %s: %s", shown, key, why.msg);
		return;
	}
	if (!rc && valid && oci_digest_equal(&got, &want))
		return;
	if (quarantine(v, alg, key, name, rel, sizeof(rel), &why)) {
		problem(v, valid && !rc ? VERIFY_CORRUPT : VERIFY_STRAY, NULL,
			NULL, shown, NULL,
			"blob %s: %s; moving it to quarantine failed: %s",
			shown,
			!valid ? "name is not a digest"
			: rc   ? "not a regular file"
			       : "content does not match",
			why.msg);
		return;
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
}

struct blob_walk {
	struct verify *v;
	const char *alg;
	size_t skip; /* strlen("blobs/<alg>/") */
};

static int check_key(void *ctx, const char *key, int64_t size, int64_t mtime)
{
	struct blob_walk *b = ctx;

	(void)mtime;
	check_file(b->v, b->alg, key, key + b->skip, size);
	return 0;
}

static int check_blobs(struct verify *v, struct err *err)
{
	int failed = 0;

	for (size_t a = 0; a < N_ALGS; a++) {
		char prefix[32];
		struct blob_walk b = {v, algs[a], 0};
		struct err e;

		snprintf(prefix, sizeof(prefix), "blobs/%s/", algs[a]);
		b.skip = strlen(prefix);
		if (v->s->ops->walk(v->s->be, prefix, check_key, &b, &e) &&
		    !failed)
			failed = err_set(err, ERR_FAIL, "%s", e.msg);
	}
	return failed;
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
	char **names = NULL;
	size_t n = 0;
	struct err e;

	v->repo = repo;
	if (v->s->ops->record_list(&names, &n, v->s->be, repo, "_tags", &e))
		problem(v, VERIFY_UNREADABLE, NULL, NULL, NULL, NULL, "%s: %s",
			repo, e.msg);
	for (size_t i = 0; i < n; i++) {
		struct store_ref ref;
		int rc;

		if (!oci_tag_valid(names[i])) {
			problem(v, VERIFY_UNREADABLE, names[i], NULL, NULL,
				NULL,
				"%s: repositories/%s/_tags/%s is not a tag "
				"name",
				repo, repo, names[i]);
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
	for (size_t a = 0; a < N_ALGS; a++) {
		char key[32];

		snprintf(key, sizeof(key), "_manifests/%s", algs[a]);
		names = NULL;
		n = 0;
		if (v->s->ops->record_list(&names, &n, v->s->be, repo, key, &e))
			problem(v, VERIFY_UNREADABLE, NULL, NULL, NULL, NULL,
				"%s: %s", repo, e.msg);
		for (size_t i = 0; i < n; i++) {
			struct oci_digest d;
			struct store_ref rec;

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
	}
	return 0;
}

int verify_run(struct verify_stats *out, struct store *s,
	       const struct verify_options *o, struct err *err)
{
	struct verify v;
	struct err werr;
	int rc;

	memset(out, 0, sizeof(*out));
	memset(&v, 0, sizeof(v));
	if (!s->ops->walk || !s->ops->move)
		return err_set(err, ERR_UNSUPPORTED,
			       "verify %s: the %s backend cannot list its "
			       "objects",
			       s->root, s->ops->name);
	v.s = s;
	v.o = o;
	v.st = out;
	err_clear(&werr);
	err_clear(&v.qerr);
	v.cap = store_is_remote(s) ? RANGE_CHUNK : HASH_CHUNK;
	v.buf = malloc(v.cap);
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
	for (size_t i = 0; i < v.nq; i++)
		free(v.qkeys[i]);
	free(v.qkeys);
	return rc;
}
