/* Building small real stores for the gc and verify tests: blobs,
 * hand-written manifests and records through the store API. */
#ifndef TESTS_MIRROR_STOREFIX_H
#define TESTS_MIRROR_STOREFIX_H

#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "mirror/store/store.h"

#define FIX_UNUSED __attribute__((unused))
#define MT_MANIFEST "application/vnd.oci.image.manifest.v1+json"
#define MT_INDEX "application/vnd.oci.image.index.v1+json"
#define MT_CONFIG "application/vnd.oci.image.config.v1+json"
#define MT_LAYER "application/vnd.oci.image.layer.v1.tar+gzip"

struct fix {
	char root[256];
	struct store st;
};

static FIX_UNUSED void fix_setup(struct fix *f)
{
	struct err e;

	snprintf(f->root, sizeof(f->root), "/tmp/ocimirror-gc-XXXXXX");
	cr_assert(mkdtemp(f->root));
	cr_assert_eq(store_open(&f->st, f->root, 1, &e), 0, "%s", e.msg);
}

static FIX_UNUSED void fix_teardown(struct fix *f)
{
	char cmd[300];

	store_close(&f->st);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", f->root);
	cr_assert_eq(system(cmd), 0);
}

/* Where the filesystem backend keeps a blob (the tests damage it).
 * Caller frees. */
static FIX_UNUSED char *fix_blob_path(const struct store *s,
				      const struct oci_digest *d)
{
	char *p = NULL;

	cr_assert(asprintf(&p, "%s/blobs/%s/%s", s->root,
			   oci_digest_alg_name(d->alg), oci_digest_hex(d)) > 0);
	return p;
}

/* A blob with this content; its digest. */
static FIX_UNUSED struct oci_digest fix_blob(struct fix *f, const char *text)
{
	struct oci_digest d;
	struct err e;

	oci_digest_of(&d, OCI_SHA256, text, strlen(text));
	cr_assert_eq(store_blob_put(&f->st, &d, text, strlen(text), &e), 0,
		     "%s", e.msg);
	return d;
}

static FIX_UNUSED void fix_desc(char *dst, size_t cap, const char *mt,
				const struct oci_digest *d, long long size)
{
	snprintf(dst, cap,
		 "{\"mediaType\":\"%s\",\"digest\":\"%s\",\"size\":%lld}", mt,
		 d->str, size);
}

/* Store the manifest json in repo (blob + _manifests record). */
static FIX_UNUSED struct oci_digest
fix_manifest(struct fix *f, const char *repo, const char *json, const char *mt)
{
	struct store_ref r;
	struct err e;

	r.digest = fix_blob(f, json);
	snprintf(r.media_type, sizeof(r.media_type), "%s", mt);
	r.size = (int64_t)strlen(json);
	cr_assert_eq(store_manifest_link(&f->st, repo, &r, &e), 0, "%s", e.msg);
	return r.digest;
}

/* An image manifest over config text and layer texts (all stored and
 * linked in repo); subject may be NULL. *json_out gets the text. */
static FIX_UNUSED struct oci_digest
fix_image(struct fix *f, const char *repo, const char *config,
	  const char *const *layers, size_t n, const struct oci_digest *subject,
	  const char *artifact_type)
{
	char json[8192], d[512];
	struct oci_digest c, l;
	struct err e;
	size_t off;

	c = fix_blob(f, config);
	cr_assert_eq(store_blob_link(&f->st, repo, &c, &e), 0, "%s", e.msg);
	fix_desc(d, sizeof(d), MT_CONFIG, &c, (long long)strlen(config));
	off = (size_t)snprintf(
	    json, sizeof(json),
	    "{\"schemaVersion\":2,\"mediaType\":\"%s\",%s%s%s"
	    "\"config\":%s,\"layers\":[",
	    MT_MANIFEST, artifact_type ? "\"artifactType\":\"" : "",
	    artifact_type ? artifact_type : "", artifact_type ? "\"," : "", d);
	for (size_t i = 0; i < n; i++) {
		l = fix_blob(f, layers[i]);
		cr_assert_eq(store_blob_link(&f->st, repo, &l, &e), 0, "%s",
			     e.msg);
		fix_desc(d, sizeof(d), MT_LAYER, &l,
			 (long long)strlen(layers[i]));
		off += (size_t)snprintf(json + off, sizeof(json) - off, "%s%s",
					i ? "," : "", d);
	}
	off += (size_t)snprintf(json + off, sizeof(json) - off, "]");
	if (subject) {
		/* verify checks a stored subject's size */
		int64_t ss = 100;
		store_blob_exists(&ss, &f->st, subject);
		fix_desc(d, sizeof(d), MT_MANIFEST, subject, (long long)ss);
		off += (size_t)snprintf(json + off, sizeof(json) - off,
					",\"subject\":%s", d);
	}
	snprintf(json + off, sizeof(json) - off, "}");
	return fix_manifest(f, repo, json, MT_MANIFEST);
}

/* An index over two stored children (amd64, arm64). */
static FIX_UNUSED struct oci_digest fix_index(struct fix *f, const char *repo,
					      const struct oci_digest *amd,
					      const struct oci_digest *arm)
{
	char json[4096];
	int64_t sa = 0, sb = 0;

	cr_assert(store_blob_exists(&sa, &f->st, amd));
	cr_assert(store_blob_exists(&sb, &f->st, arm));
	snprintf(
	    json, sizeof(json),
	    "{\"schemaVersion\":2,\"mediaType\":\"%s\",\"manifests\":["
	    "{\"mediaType\":\"%s\",\"digest\":\"%s\",\"size\":%lld,"
	    "\"platform\":{\"os\":\"linux\",\"architecture\":\"amd64\"}},"
	    "{\"mediaType\":\"%s\",\"digest\":\"%s\",\"size\":%lld,"
	    "\"platform\":{\"os\":\"linux\",\"architecture\":\"arm64\"}}]}",
	    MT_INDEX, MT_MANIFEST, amd->str, (long long)sa, MT_MANIFEST,
	    arm->str, (long long)sb);
	return fix_manifest(f, repo, json, MT_INDEX);
}

static FIX_UNUSED void fix_tag(struct fix *f, const char *repo, const char *tag,
			       const struct oci_digest *d, const char *mt)
{
	struct store_ref r;
	struct err e;
	int64_t size = 0;

	cr_assert(store_blob_exists(&size, &f->st, d));
	r.digest = *d;
	r.size = size;
	snprintf(r.media_type, sizeof(r.media_type), "%s", mt);
	cr_assert_eq(store_tag_set(&f->st, repo, tag, &r, &e), 0, "%s", e.msg);
}

static FIX_UNUSED void fix_referrer(struct fix *f, const char *repo,
				    const struct oci_digest *subject,
				    const struct oci_digest *referrer)
{
	char d[512];
	struct err e;

	fix_desc(d, sizeof(d), MT_MANIFEST, referrer, 100);
	cr_assert_eq(store_referrer_add(&f->st, repo, subject, referrer, d, &e),
		     0, "%s", e.msg);
}

/* Path under the store root. */
static FIX_UNUSED const char *fix_path(struct fix *f, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static FIX_UNUSED const char *fix_path(struct fix *f, const char *fmt, ...)
{
	static char p[1024];
	char rel[768];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(rel, sizeof(rel), fmt, ap);
	va_end(ap);
	snprintf(p, sizeof(p), "%s/%s", f->root, rel);
	return p;
}

/* mkdir -p of an absolute path; 0 or -1. */
static FIX_UNUSED int fix_mkdirs(const char *path)
{
	char p[4096];

	snprintf(p, sizeof(p), "%s", path);
	for (char *s = p + 1; *s; s++) {
		if (*s != '/')
			continue;
		*s = 0;
		if (mkdir(p, 0755) && errno != EEXIST)
			return -1;
		*s = '/';
	}
	return mkdir(p, 0755) && errno != EEXIST ? -1 : 0;
}

static FIX_UNUSED int fix_exists(struct fix *f, const char *rel)
{
	struct stat st;

	return !lstat(fix_path(f, "%s", rel), &st);
}

static FIX_UNUSED int fix_blob_present(struct fix *f,
				       const struct oci_digest *d)
{
	return store_blob_exists(NULL, &f->st, d);
}

/* Set a file's mtime to `ago` seconds in the past. */
static FIX_UNUSED void fix_age(const char *path, long ago)
{
	struct timespec ts[2];

	ts[0].tv_sec = ts[1].tv_sec = time(NULL) - ago;
	ts[0].tv_nsec = ts[1].tv_nsec = 0;
	cr_assert_eq(utimensat(AT_FDCWD, path, ts, AT_SYMLINK_NOFOLLOW), 0,
		     "utimensat %s", path);
}

static FIX_UNUSED long fix_age_by;
static FIX_UNUSED int age_one(const char *p, const struct stat *st, int flag,
			      struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	if (flag == FTW_F)
		fix_age(p, fix_age_by);
	return 0;
}

/* Age every file of the store by `ago` seconds. */
static FIX_UNUSED void fix_age_all(struct fix *f, long ago)
{
	fix_age_by = ago;
	cr_assert_eq(nftw(f->root, age_one, 16, FTW_PHYS), 0);
}

/* Every file under the store (not lock), sorted, one per line. */
static struct {
	char *buf;
	size_t len, cap;
	size_t skip;
	int records; /* only the records: not blobs/ */
} fix_tree_acc;

static FIX_UNUSED int tree_one(const char *p, const struct stat *st, int flag,
			       struct FTW *ftw)
{
	size_t n;

	(void)ftw;
	if (flag != FTW_F)
		return 0;
	p += fix_tree_acc.skip;
	if (!strcmp(p, "lock"))
		return 0;
	if (fix_tree_acc.records && !strncmp(p, "blobs/", 6))
		return 0;
	n = strlen(p) + 40;
	if (fix_tree_acc.len + n + 1 > fix_tree_acc.cap) {
		fix_tree_acc.cap = (fix_tree_acc.cap + n + 1) * 2;
		fix_tree_acc.buf = realloc(fix_tree_acc.buf, fix_tree_acc.cap);
	}
	fix_tree_acc.len += (size_t)snprintf(
	    fix_tree_acc.buf + fix_tree_acc.len,
	    fix_tree_acc.cap - fix_tree_acc.len, "%s %lld %lld\n", p,
	    (long long)st->st_size, (long long)st->st_mtime);
	return 0;
}

/* Listing of every file with size and mtime; caller frees. */
static FIX_UNUSED char *fix_tree_of(struct fix *f, int records)
{
	fix_tree_acc.records = records;
	fix_tree_acc.buf = NULL;
	fix_tree_acc.len = fix_tree_acc.cap = 0;
	fix_tree_acc.skip = strlen(f->root) + 1;
	cr_assert_eq(nftw(f->root, tree_one, 16, FTW_PHYS), 0);
	return fix_tree_acc.buf ? fix_tree_acc.buf : strdup("");
}

static FIX_UNUSED char *fix_tree(struct fix *f) { return fix_tree_of(f, 0); }

/* The same listing without blobs/: the tags, manifest, blob and referrer
 * records of every repository. */
static FIX_UNUSED char *fix_records_tree(struct fix *f)
{
	return fix_tree_of(f, 1);
}

#endif
