/* The S3 store backend (mirror/store/s3.c) against a real S3 (Ceph RGW,
 * started by tests/e2e/run.sh for tests/e2e/test_s3_store.sh, which runs
 * this binary). Not in `make unit`: it needs
 *   OCIMIRROR_TEST_S3_BUCKET  a bucket made for the run
 *   OCIMIRROR_TEST_S3_QUERY   "endpoint=...&region=..."
 *   OCIMIRROR_TEST_S3_RUN     a prefix for this run; each test uses
 *                             RUN/<test name>/ (the e2e file lists some)
 * and the AWS_* credentials. Every assertion is on values through
 * store.h, or the backend's table for the ops store.h does not show. */
#include <criterion/criterion.h>
#include <curl/curl.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "mirror/store/backend.h"
#include "mirror/store/fsutil.h"
#include "mirror/store/s3client.h"
#include "mirror/store/store.h"
#include "oci/ref.h"

/* s3.c's test hook: the lease is no more renewed (as if each renewal
 * failed), nor given up */
void s3_store_test_hold_back_renewals(void *be);

static char url_buf[2048];

/* The store URL of test name (extra: "&lease=2" or ""). */
static const char *url_of(const char *name, const char *extra)
{
	const char *b = getenv("OCIMIRROR_TEST_S3_BUCKET");
	const char *q = getenv("OCIMIRROR_TEST_S3_QUERY");
	const char *r = getenv("OCIMIRROR_TEST_S3_RUN");

	cr_assert(b && q && r,
		  "OCIMIRROR_TEST_S3_BUCKET, _QUERY and _RUN are needed (run "
		  "tests/e2e/test_s3_store.sh)");
	snprintf(url_buf, sizeof(url_buf), "s3://%s/%s/%s?%s%s", b, r, name, q,
		 extra);
	return url_buf;
}

static void open_store(struct store *s, const char *name, const char *extra)
{
	struct err e = {0};
	int rc = store_open(s, url_of(name, extra), 1, &e);

	cr_assert_eq(rc, 0, "store_open: %s", e.msg);
}

static void digest_of(struct oci_digest *d, const char *text)
{
	oci_digest_of(d, OCI_SHA256, text, strlen(text));
}

static void put(struct store *s, const char *text)
{
	struct oci_digest d;
	struct err e = {0};

	digest_of(&d, text);
	cr_assert_eq(store_blob_put(s, &d, text, strlen(text), &e), 0,
		     "blob put: %s", e.msg);
}

struct seen {
	char names[16][160];
	int64_t sizes[16];
	int n;
};

static int seen_blob(void *ctx, const struct oci_digest *d, int64_t size)
{
	struct seen *x = ctx;

	if (x->n < 16) {
		snprintf(x->names[x->n], sizeof(x->names[0]), "%s", d->str);
		x->sizes[x->n++] = size;
	}
	return 0;
}

Test(s3_store, blobs)
{
	struct store s;
	struct oci_digest a, b, none;
	struct err e = {0};
	struct seen x = {0};
	char *text = NULL, buf[16];
	size_t len = 0, got = 0;
	int64_t size = -1;
	int fd = -1;

	open_store(&s, "blobs", "");
	cr_assert(store_is_remote(&s) && store_is_shared(&s));
	digest_of(&a, "hello, blob");
	digest_of(&b, "second");
	digest_of(&none, "never stored");
	put(&s, "hello, blob");
	put(&s, "second");
	put(&s, "second"); /* stored: a no-op */
	cr_assert_eq(store_blob_exists(&size, &s, &a), 1);
	cr_assert_eq(size, 11);
	cr_assert_eq(store_blob_exists(NULL, &s, &none), 0);
	cr_assert_eq(store_blob_read(&text, &len, &s, &a, 100, &e), 0, "%s",
		     e.msg);
	cr_assert_eq(len, 11);
	cr_assert_str_eq(text, "hello, blob");
	free(text);
	cr_assert_eq(store_blob_read(&text, &len, &s, &a, 5, &e),
		     ERR_TOO_LARGE);
	cr_assert_eq(store_blob_read_at(&got, &s, &a, 7, buf, 10, &e), 0, "%s",
		     e.msg);
	cr_assert_eq(got, 4);
	cr_assert_eq(memcmp(buf, "blob", 4), 0);
	cr_assert_eq(store_blob_read_at(&got, &s, &a, 11, buf, 10, &e), 0);
	cr_assert_eq(got, 0);
	cr_assert_eq(store_blob_read_at(&got, &s, &none, 0, buf, 10, &e),
		     ERR_NOT_FOUND);
	cr_assert_eq(store_blob_open(&fd, &size, &s, &b, &e), 0, "%s", e.msg);
	cr_assert_eq(size, 6);
	cr_assert_eq(read(fd, buf, sizeof(buf)), 6);
	cr_assert_eq(memcmp(buf, "second", 6), 0);
	close(fd);
	cr_assert_eq(store_blob_open(&fd, &size, &s, &none, &e), ERR_NOT_FOUND);
	cr_assert(strstr(e.msg, none.str), "%s", e.msg);
	cr_assert_eq(store_blobs_each(&s, seen_blob, &x, &e), 0, "%s", e.msg);
	cr_assert_eq(x.n, 2);
	cr_assert_lt(strcmp(x.names[0], x.names[1]), 0, "sorted");
	cr_assert(!strcmp(x.names[0], a.str) || !strcmp(x.names[1], a.str));
	cr_assert_eq(store_blob_delete(&s, &a, &e), 0, "%s", e.msg);
	cr_assert_eq(store_blob_exists(NULL, &s, &a), 0);
	cr_assert_eq(store_blob_delete(&s, &a, &e), ERR_NOT_FOUND);
	store_close(&s);
}

Test(s3_store, writer_verifies_before_the_final_key)
{
	struct store s;
	struct store_writer *w = NULL;
	struct oci_digest d;
	struct err e = {0};
	char *text = NULL;
	size_t len;

	/* test_s3_store.sh lists RUN/writer/ afterwards: no blobs/ key
	 * but the good one */
	open_store(&s, "writer", "");
	digest_of(&d, "the right bytes");
	cr_assert_eq(store_writer_open(&w, &s, &d, 15, &e), 0, "%s", e.msg);
	cr_assert_eq(store_writer_write(w, "the wrong bytes", 15, &e), 0);
	cr_assert_eq(store_writer_commit(w, &e), ERR_DIGEST);
	cr_assert_eq(store_blob_exists(NULL, &s, &d), 0);
	/* reset by the failure: written again, right this time */
	cr_assert_eq(store_writer_write(w, "the right ", 10, &e), 0);
	cr_assert_eq(store_writer_write(w, "bytes", 5, &e), 0);
	cr_assert_eq(store_writer_commit(w, &e), 0, "%s", e.msg);
	store_writer_free(w);
	cr_assert_eq(store_blob_read(&text, &len, &s, &d, 100, &e), 0);
	cr_assert_str_eq(text, "the right bytes");
	free(text);
	/* an upload writer, named at the end */
	digest_of(&d, "pushed");
	cr_assert_eq(store_writer_open_upload(&w, &s, &e), 0, "%s", e.msg);
	cr_assert_eq(store_writer_write(w, "pushed", 6, &e), 0);
	cr_assert_eq(store_writer_commit_as(w, &d, &e), 0, "%s", e.msg);
	store_writer_free(w);
	cr_assert_eq(store_blob_exists(NULL, &s, &d), 1);
	store_close(&s);
}

Test(s3_store, staging)
{
	struct store s;
	struct store_writer *w = NULL, *w2 = NULL;
	struct oci_digest d, d2;
	struct err e = {0};
	char *text = NULL;
	size_t len;

	open_store(&s, "staging", "");
	digest_of(&d, "staged blob");
	cr_assert_eq(store_writer_open(&w, &s, &d, -1, &e), 0, "%s", e.msg);
	cr_assert_eq(store_writer_write(w, "staged blob", 11, &e), 0);
	cr_assert_eq(store_writer_stage(w, &e), 0, "%s", e.msg);
	cr_assert_eq(store_blob_exists(NULL, &s, &d), 0, "staged: not served");
	cr_assert_eq(store_writer_staged_read(&text, &len, w, 100, &e), 0, "%s",
		     e.msg);
	cr_assert_str_eq(text, "staged blob");
	free(text);
	cr_assert_eq(store_writer_publish(w, &e), 0, "%s", e.msg);
	cr_assert_eq(store_blob_exists(NULL, &s, &d), 1);
	store_writer_free(w);
	/* staged, then freed: never stored */
	digest_of(&d2, "dropped");
	cr_assert_eq(store_writer_open(&w2, &s, &d2, 7, &e), 0);
	cr_assert_eq(store_writer_write(w2, "dropped", 7, &e), 0);
	cr_assert_eq(store_writer_stage(w2, &e), 0, "%s", e.msg);
	store_writer_free(w2);
	cr_assert_eq(store_blob_exists(NULL, &s, &d2), 0);
	store_close(&s);
}

static int count_referrer(void *ctx, const char *desc)
{
	cr_assert(strstr(desc, "\"artifactType\""), "%s", desc);
	(*(int *)ctx)++;
	return 0;
}

static void link_manifest(struct store *s, const char *repo, const char *body,
			  struct store_ref *m)
{
	struct err e = {0};

	put(s, body);
	digest_of(&m->digest, body);
	snprintf(m->media_type, sizeof(m->media_type), "%s",
		 "application/vnd.oci.image.manifest.v1+json");
	m->size = (int64_t)strlen(body);
	cr_assert_eq(store_manifest_link(s, repo, m, &e), 0, "%s", e.msg);
}

Test(s3_store, records)
{
	const char *repo = "reg.example/team/app";
	struct store s;
	struct store_ref m, r, got;
	struct oci_digest blob;
	struct err e = {0};
	char **names = NULL;
	size_t n = 0;
	int count = 0;

	open_store(&s, "records", "");
	cr_assert_eq(store_repo_exists(&s, repo), 0);
	link_manifest(&s, repo, "{\"manifest\":1}", &m);
	cr_assert_eq(store_repo_exists(&s, repo), 1);
	cr_assert_eq(store_tag_set(&s, repo, "v1", &m, &e), 0, "%s", e.msg);
	cr_assert_eq(store_tag_set(&s, repo, "latest", &m, &e), 0);
	cr_assert_eq(store_tag_get(&got, &s, repo, "v1", &e), 0, "%s", e.msg);
	cr_assert(oci_digest_equal(&got.digest, &m.digest));
	cr_assert_eq(got.size, m.size);
	cr_assert_str_eq(got.media_type, m.media_type);
	cr_assert_eq(store_tag_get(&got, &s, repo, "v2", &e), ERR_NOT_FOUND);
	cr_assert_eq(store_manifest_get(&got, &s, repo, &m.digest, &e), 0);
	cr_assert_eq(s.ops->record_list(&names, &n, s.be, repo, "_tags", &e), 0,
		     "%s", e.msg);
	cr_assert_eq(n, 2);
	cr_assert_str_eq(names[0], "latest");
	cr_assert_str_eq(names[1], "v1");
	fsutil_names_free(names, n);
	cr_assert_eq(s.ops->record_list(&names, &n, s.be, repo, "_nothing", &e),
		     0);
	cr_assert_eq(n, 0);
	/* one level: "sha256" under _manifests */
	cr_assert_eq(
	    s.ops->record_list(&names, &n, s.be, repo, "_manifests", &e), 0);
	cr_assert_eq(n, 1);
	cr_assert_str_eq(names[0], "sha256");
	fsutil_names_free(names, n);

	/* referrers: listed while their manifest is linked */
	link_manifest(&s, repo, "{\"referrer\":1}", &r);
	cr_assert_eq(store_referrer_add(&s, repo, &m.digest, &r.digest,
					"{\"artifactType\":\"x/y\"}", &e),
		     0, "%s", e.msg);
	cr_assert_eq(store_referrers_list(&s, repo, &m.digest, count_referrer,
					  &count, &e),
		     0, "%s", e.msg);
	cr_assert_eq(count, 1);
	cr_assert_eq(store_manifest_unlink(&s, repo, &r.digest, &e), 0);
	count = 0;
	cr_assert_eq(store_referrers_list(&s, repo, &m.digest, count_referrer,
					  &count, &e),
		     0);
	cr_assert_eq(count, 0);

	/* blob links */
	digest_of(&blob, "layer");
	put(&s, "layer");
	cr_assert_eq(store_blob_linked(&s, repo, &blob), 0);
	cr_assert_eq(store_blob_link(&s, repo, &blob, &e), 0, "%s", e.msg);
	cr_assert_eq(store_blob_linked(&s, repo, &blob), 1);
	cr_assert_eq(store_blob_unlink(&s, repo, &blob, &e), 0);
	cr_assert_eq(store_blob_linked(&s, repo, &blob), 0);
	cr_assert_eq(store_blob_unlink(&s, repo, &blob, &e), ERR_NOT_FOUND);

	/* unlinking the manifest drops the tags pointing at it */
	cr_assert_eq(store_manifest_unlink(&s, repo, &m.digest, &e), 0);
	cr_assert_eq(store_tag_get(&got, &s, repo, "v1", &e), ERR_NOT_FOUND);
	cr_assert_eq(store_tag_delete(&s, repo, "v1", &e), ERR_NOT_FOUND);
	cr_assert_eq(store_repo_exists(&s, repo), 0);
	/* names are checked before they become keys */
	cr_assert_eq(store_tag_set(&s, "Bad/../x", "v1", &m, &e), ERR_INVALID);
	cr_assert_eq(s.ops->record_put(s.be, repo, "_tags/../../lock", "x", &e),
		     ERR_INVALID);
	store_close(&s);
}

struct repos {
	char v[8][128];
	int n;
};

static int seen_repo(void *ctx, const char *repo)
{
	struct repos *x = ctx;

	if (x->n < 8)
		snprintf(x->v[x->n++], sizeof(x->v[0]), "%s", repo);
	return 0;
}

Test(s3_store, repos_each)
{
	struct store s;
	struct store_ref m;
	struct oci_digest blob;
	struct repos x = {0};
	struct err e = {0};

	open_store(&s, "repos", "");
	link_manifest(&s, "h.io/a", "{\"a\":1}", &m);
	cr_assert_eq(store_tag_set(&s, "h.io/a", "v1", &m, &e), 0);
	link_manifest(&s, "h.io/a/b", "{\"ab\":1}", &m);
	link_manifest(&s, "h.io/a0", "{\"a0\":1}", &m);
	digest_of(&blob, "only a blob");
	put(&s, "only a blob");
	cr_assert_eq(store_blob_link(&s, "h.io/d", &blob, &e), 0);
	cr_assert_eq(s.ops->repos_each(s.be, seen_repo, &x, &e), 0, "%s",
		     e.msg);
	cr_assert_eq(x.n, 4);
	cr_assert_str_eq(x.v[0], "h.io/a");
	cr_assert_str_eq(x.v[1], "h.io/a/b");
	cr_assert_str_eq(x.v[2], "h.io/a0");
	cr_assert_str_eq(x.v[3], "h.io/d");
	store_close(&s);
}

Test(s3_store, state)
{
	struct store s;
	struct err e = {0};
	char *text = NULL, **names = NULL;
	size_t len = 0, n = 0;

	open_store(&s, "state", "");
	cr_assert_eq(s.ops->state_put(s.be, "sync/last.json", "{\"ok\":1}", &e),
		     0, "%s", e.msg);
	cr_assert_eq(s.ops->state_put(s.be, "sync/b.json", "{}", &e), 0);
	cr_assert_eq(s.ops->state_put(s.be, "sync/.hidden", "{}", &e), 0);
	cr_assert_eq(
	    s.ops->state_get(&text, &len, s.be, "sync/last.json", 100, &e), 0,
	    "%s", e.msg);
	cr_assert_str_eq(text, "{\"ok\":1}");
	cr_assert_eq(len, 8);
	free(text);
	cr_assert_eq(
	    s.ops->state_get(&text, &len, s.be, "sync/last.json", 4, &e),
	    ERR_TOO_LARGE);
	cr_assert_eq(s.ops->state_list(&names, &n, s.be, "sync", &e), 0);
	cr_assert_eq(n, 2);
	cr_assert_str_eq(names[0], "b.json");
	cr_assert_str_eq(names[1], "last.json");
	fsutil_names_free(names, n);
	cr_assert_eq(s.ops->state_delete(s.be, "sync/b.json", &e), 0);
	cr_assert_eq(s.ops->state_delete(s.be, "sync/b.json", &e),
		     ERR_NOT_FOUND);
	cr_assert_eq(
	    s.ops->state_get(&text, &len, s.be, "sync/b.json", 100, &e),
	    ERR_NOT_FOUND);
	cr_assert_eq(s.ops->state_list(&names, &n, s.be, "none", &e), 0);
	cr_assert_eq(n, 0);
	cr_assert_eq(s.ops->state_put(s.be, "../x", "{}", &e), ERR_INVALID);
	store_close(&s);
}

struct keys {
	char v[8][256];
	int64_t size[8];
	int n;
};

static int seen_key(void *ctx, const char *key, int64_t size, int64_t mtime)
{
	struct keys *x = ctx;

	cr_assert_gt(mtime, 0);
	if (x->n < 8) {
		snprintf(x->v[x->n], sizeof(x->v[0]), "%s", key);
		x->size[x->n++] = size;
	}
	return 0;
}

Test(s3_store, walk_remove_move)
{
	struct store s;
	struct oci_digest d;
	struct keys x = {0};
	struct err e = {0};
	char key[256], to[256];

	open_store(&s, "walk", "");
	digest_of(&d, "walked");
	put(&s, "walked");
	snprintf(key, sizeof(key), "blobs/sha256/%s", oci_digest_hex(&d));
	cr_assert_eq(s.ops->walk(s.be, "blobs/", seen_key, &x, &e), 0, "%s",
		     e.msg);
	cr_assert_eq(x.n, 1);
	cr_assert_str_eq(x.v[0], key);
	cr_assert_eq(x.size[0], 6);
	x.n = 0;
	cr_assert_eq(s.ops->walk(s.be, "nothing/", seen_key, &x, &e), 0);
	cr_assert_eq(x.n, 0);
	snprintf(to, sizeof(to), "quarantine/sha256/%s", oci_digest_hex(&d));
	cr_assert_eq(s.ops->move(s.be, key, to, &e), 0, "%s", e.msg);
	cr_assert_eq(store_blob_exists(NULL, &s, &d), 0);
	cr_assert_eq(s.ops->walk(s.be, "quarantine/", seen_key, &x, &e), 0);
	cr_assert_eq(x.n, 1);
	cr_assert_str_eq(x.v[0], to);
	cr_assert_eq(s.ops->remove(s.be, to, &e), 0, "%s", e.msg);
	cr_assert_eq(s.ops->remove(s.be, to, &e), ERR_NOT_FOUND);
	cr_assert_eq(s.ops->remove(s.be, "a/../b", &e), ERR_INVALID);
	store_close(&s);
}

Test(s3_store, lease_conflict_names_the_holder)
{
	struct store s1, s2;
	struct err e = {0};
	char host[256] = "", owner[300];

	open_store(&s1, "lease", "");
	open_store(&s2, "lease", "");
	cr_assert_eq(store_lock(&s1, 0, &e), 0, "%s", e.msg);
	cr_assert_eq(store_lock(&s1, 0, &e), 0, "held: a no-op");
	cr_assert_eq(store_lock(&s2, 0, &e), ERR_CONFLICT);
	gethostname(host, sizeof(host) - 1);
	snprintf(owner, sizeof(owner), "%s:%ld", host, (long)getpid());
	cr_assert(strstr(e.msg, "locked by another writer"), "%s", e.msg);
	cr_assert(strstr(e.msg, owner), "%s", e.msg);
	cr_assert(strstr(e.msg, "lease until"), "%s", e.msg);
	cr_assert(strstr(e.msg, "s3://"), "%s", e.msg);
	store_unlock(&s1);
	cr_assert_eq(store_lock(&s2, 0, &e), 0, "%s", e.msg);
	cr_assert_eq(store_lock(&s1, 0, &e), ERR_CONFLICT);
	store_unlock(&s2);
	store_close(&s1);
	store_close(&s2);
}

Test(s3_store, lease_of_a_dead_writer_expires)
{
	struct store s;
	struct err e = {0};
	int status = -1;
	pid_t pid;

	pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		struct store c;

		if (store_open(&c, url_of("lease-dead", "&lease=2"), 1, &e) ||
		    store_lock(&c, 0, &e))
			_exit(1);
		_exit(0); /* dies holding the lease */
	}
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0,
		  "the child could not lock");
	open_store(&s, "lease-dead", "&lease=2");
	cr_assert_eq(store_lock(&s, 1, &e), 0, "%s", e.msg);
	store_unlock(&s);
	store_close(&s);
}

struct sweeps {
	char v[8][300];
	int n;
};

static int seen_sweep(void *ctx, const char *what, int64_t size, int64_t mtime)
{
	struct sweeps *x = ctx;

	(void)size;
	(void)mtime;
	if (x->n < 8)
		snprintf(x->v[x->n++], sizeof(x->v[0]), "%s", what);
	return 0;
}

static int count_upload(void *ctx, const char *key, const char *id,
			time_t initiated)
{
	(void)key;
	(void)id;
	(void)initiated;
	(*(int *)ctx)++;
	return 0;
}

static int tmp_fd(const char *text)
{
	char path[] = "/tmp/s3storeXXXXXX";
	int fd = mkstemp(path);

	cr_assert_geq(fd, 0);
	unlink(path);
	cr_assert_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	return fd;
}

static char spool_dir[64];

/* A spool of the test's own: a sweep removes no other test's staged
 * files */
static void private_spool(void)
{
	snprintf(spool_dir, sizeof(spool_dir), "/tmp/s3spoolXXXXXX");
	cr_assert(mkdtemp(spool_dir));
	setenv("OCIMIRROR_SPOOL", spool_dir, 1);
}

Test(s3_store, sweep_stale_multipart_and_sessions)
{
	struct store s;
	struct s3_config cfg;
	struct s3c *c = NULL;
	struct sweeps x = {0};
	struct err e = {0};
	char id[256], other[256], key[128];
	uint64_t off;
	int fd, n = 0;

	private_spool();
	/* stale=0: sessions and multipart uploads go at gc's cutoff */
	open_store(&s, "sweep", "&stale=0");
	cr_assert_eq(s3_config_parse(&cfg, url_of("sweep", ""), &e), 0, "%s",
		     e.msg);
	cr_assert_eq(s3c_open(&c, &cfg, &e), 0, "%s", e.msg);
	/* not the backend's: a multipart upload outside blobs/ and
	 * uploads/, keys under uploads/ of no session, and a key in a
	 * session that it did not make */
	cr_assert_eq(s3c_upload_start(other, sizeof(other), c, "other/x", &e),
		     0, "%s", e.msg);
	cr_assert_eq(s3c_put(c, "uploads/foreign/x", "x", 1, NULL, NULL, &e), 0,
		     "%s", e.msg);
	cr_assert_eq(s3c_put(c, "uploads/junk/info", "{", 1, NULL, NULL, &e), 0,
		     "%s", e.msg);
	cr_assert_eq(s3c_put(c, "uploads/sess-1/notes", "x", 1, NULL, NULL, &e),
		     0, "%s", e.msg);
	snprintf(key, sizeof(key), "blobs/sha256/%064d", 0);
	cr_assert_eq(s3c_upload_start(id, sizeof(id), c, key, &e), 0, "%s",
		     e.msg);
	fd = tmp_fd("abc");
	cr_assert_eq(
	    s.ops->upload_append(s.be, "sess-1", "h.io/x", 0, fd, 3, &e), 0,
	    "%s", e.msg);
	close(fd);
	/* a cutoff in the past: nothing is old enough */
	cr_assert_eq(
	    s.ops->sweep(s.be, time(NULL) - 3600, 0, seen_sweep, &x, &e), 0,
	    "%s", e.msg);
	cr_assert_eq(x.n, 0);
	/* dry run: told, kept */
	cr_assert_eq(
	    s.ops->sweep(s.be, time(NULL) + 3600, 1, seen_sweep, &x, &e), 0,
	    "%s", e.msg);
	cr_assert_eq(x.n, 2);
	cr_assert_str_eq(x.v[0], "multipart blobs/sha256/"
				 "0000000000000000000000000000000000000000000"
				 "000000000000000000000");
	cr_assert_str_eq(x.v[1], "uploads/sess-1");
	cr_assert_eq(s.ops->upload_info(&off, NULL, s.be, "sess-1", &e), 0);
	cr_assert_eq(s3c_uploads_list(c, "", count_upload, &n, &e), 0);
	cr_assert_eq(n, 2);
	x.n = 0;
	cr_assert_eq(
	    s.ops->sweep(s.be, time(NULL) + 3600, 0, seen_sweep, &x, &e), 0,
	    "%s", e.msg);
	cr_assert_eq(x.n, 2);
	n = 0;
	cr_assert_eq(s3c_uploads_list(c, "", count_upload, &n, &e), 0);
	cr_assert_eq(n, 1); /* other/x's */
	cr_assert_eq(s3c_upload_abort(c, "other/x", other, &e), 0, "%s", e.msg);
	cr_assert_eq(s.ops->upload_info(&off, NULL, s.be, "sess-1", &e),
		     ERR_NOT_FOUND);
	{
		struct keys k = {0};

		cr_assert_eq(s.ops->walk(s.be, "uploads/", seen_key, &k, &e), 0,
			     "%s", e.msg);
		cr_assert_eq(k.n, 3);
		cr_assert_str_eq(k.v[0], "uploads/foreign/x");
		cr_assert_str_eq(k.v[1], "uploads/junk/info");
		cr_assert_str_eq(k.v[2], "uploads/sess-1/notes");
	}
	s3c_close(c);
	store_close(&s);
	cr_assert_eq(rmdir(spool_dir), 0);
}

Test(s3_store, upload_sessions)
{
	struct store s;
	struct err e = {0};
	char repo[OCI_REPO_MAX], buf[32];
	uint64_t off = 0;
	size_t got = 0;
	int fd;

	open_store(&s, "uploads", "");
	cr_assert_eq(s.ops->upload_info(&off, repo, s.be, "u1", &e),
		     ERR_NOT_FOUND);
	fd = tmp_fd("0123456789abcdef");
	cr_assert_eq(s.ops->upload_append(s.be, "u1", "h.io/r", 0, fd, 5, &e),
		     0, "%s", e.msg);
	cr_assert_eq(s.ops->upload_info(&off, repo, s.be, "u1", &e), 0, "%s",
		     e.msg);
	cr_assert_eq(off, 5);
	cr_assert_str_eq(repo, "h.io/r");
	/* another replica's view was older: conflict, nothing changed */
	cr_assert_eq(s.ops->upload_append(s.be, "u1", "h.io/r", 3, fd, 4, &e),
		     ERR_CONFLICT);
	cr_assert_eq(s.ops->upload_append(s.be, "u1", "h.io/r", 0, fd, 4, &e),
		     ERR_CONFLICT);
	cr_assert_eq(s.ops->upload_append(s.be, "u1", "h.io/r", 5, fd, 7, &e),
		     0, "%s", e.msg);
	cr_assert_eq(s.ops->upload_append(s.be, "u1", "h.io/r", 12, fd, 4, &e),
		     0, "%s", e.msg);
	cr_assert_eq(s.ops->upload_info(&off, repo, s.be, "u1", &e), 0);
	cr_assert_eq(off, 16);
	/* across parts */
	cr_assert_eq(s.ops->upload_read_at(&got, s.be, "u1", 3, buf, 11, &e), 0,
		     "%s", e.msg);
	cr_assert_eq(got, 11);
	cr_assert_eq(memcmp(buf, "3456789abcd", 11), 0);
	cr_assert_eq(
	    s.ops->upload_read_at(&got, s.be, "u1", 10, buf, sizeof(buf), &e),
	    0);
	cr_assert_eq(got, 6);
	cr_assert_eq(memcmp(buf, "abcdef", 6), 0);
	cr_assert_eq(s.ops->upload_read_at(&got, s.be, "u1", 16, buf, 4, &e),
		     0);
	cr_assert_eq(got, 0);
	cr_assert_eq(
	    s.ops->upload_append(s.be, "u1", "h.io/other", 16, fd, 1, &e),
	    ERR_CONFLICT);
	cr_assert_eq(
	    s.ops->upload_append(s.be, "bad/id", "h.io/r", 0, fd, 1, &e),
	    ERR_INVALID);
	close(fd);
	cr_assert_eq(s.ops->upload_forget(s.be, "u1", &e), 0, "%s", e.msg);
	cr_assert_eq(s.ops->upload_info(&off, repo, s.be, "u1", &e),
		     ERR_NOT_FOUND);
	store_close(&s);
}

static size_t sink(char *p, size_t size, size_t n, void *ctx)
{
	char *out = ctx;
	size_t have = strlen(out), add = size * n;

	if (have + add < 64) {
		memcpy(out + have, p, add);
		out[have + add] = '\0';
	}
	return add;
}

Test(s3_store, blob_url_is_fetchable)
{
	struct store s;
	struct oci_digest d, none;
	struct err e = {0};
	char *url = NULL, body[64] = "";
	long status = 0;
	CURL *h;

	open_store(&s, "url", "");
	digest_of(&d, "fetch me directly");
	put(&s, "fetch me directly");
	cr_assert_eq(store_blob_url(&url, &s, &d, 300, &e), 0, "%s", e.msg);
	cr_assert(url && strstr(url, oci_digest_hex(&d)), "%s", url);
	h = curl_easy_init();
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, sink);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, body);
	curl_easy_setopt(h, CURLOPT_TIMEOUT, 30L);
	cr_assert_eq(curl_easy_perform(h), CURLE_OK);
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
	curl_easy_cleanup(h);
	cr_assert_eq(status, 200);
	cr_assert_str_eq(body, "fetch me directly");
	free(url);
	digest_of(&none, "x");
	store_close(&s);
}

Test(s3_store, lease_is_renewed_while_held)
{
	struct store s1, s2;
	struct err e = {0};

	open_store(&s1, "lease-renew", "&lease=2");
	open_store(&s2, "lease-renew", "&lease=2");
	cr_assert_eq(store_lock(&s1, 0, &e), 0, "%s", e.msg);
	sleep(5); /* two and a half leases: renewed meanwhile */
	cr_assert_eq(store_lock(&s2, 0, &e), ERR_CONFLICT, "%s", e.msg);
	store_unlock(&s1);
	cr_assert_eq(store_lock(&s2, 0, &e), 0, "%s", e.msg);
	store_unlock(&s2);
	store_close(&s1);
	store_close(&s2);
}

Test(s3_store, a_lost_lease_stops_writes)
{
	struct store s;
	struct s3_config cfg;
	struct s3c *c = NULL;
	struct err e = {0};
	const char *other =
	    "{\"owner\":\"elsewhere:1\",\"expires\":4102444800}";
	int rc = 0;

	/* renewed every 2 s; the lease does not run out meanwhile */
	open_store(&s, "lease-lost", "&lease=6");
	cr_assert_eq(store_lock(&s, 0, &e), 0, "%s", e.msg);
	cr_assert_eq(s3_config_parse(&cfg, url_of("lease-lost", ""), &e), 0);
	cr_assert_eq(s3c_open(&c, &cfg, &e), 0, "%s", e.msg);
	/* another writer takes the lease (as after a pause past expiry) */
	cr_assert_eq(s3c_put(c, "lock", other, strlen(other), NULL, NULL, &e),
		     0, "%s", e.msg);
	/* the next renewal (within a second) notices; bounded wait */
	for (int i = 0; i < 50; i++) {
		rc = s.ops->state_put(s.be, "x", "{}", &e);
		if (rc)
			break;
		usleep(200 * 1000);
	}
	cr_assert_eq(rc, ERR_CONFLICT, "%s", e.msg);
	cr_assert(strstr(e.msg, "lease was lost"), "%s", e.msg);
	store_unlock(&s);
	/* unlock left the other writer's lease alone */
	{
		char *text = NULL;
		size_t len;

		cr_assert_eq(s3c_get(&text, &len, NULL, c, "lock", 4096, &e),
			     0);
		cr_assert_str_eq(text, other);
		free(text);
	}
	s3c_close(c);
	store_close(&s);
}

Test(s3_store, a_large_blob_goes_up_in_parts)
{
	const size_t n = 6u << 20; /* over multipart=5 MiB */
	struct store s;
	struct store_writer *w = NULL;
	struct oci_digest d;
	struct err e = {0};
	unsigned char *p = malloc(n), buf[64];
	size_t got = 0;
	int64_t size = 0;

	cr_assert(p);
	for (size_t i = 0; i < n; i++)
		p[i] = (unsigned char)(i * 2654435761u >> 13);
	oci_digest_of(&d, OCI_SHA256, p, n);
	open_store(&s, "large", "&multipart=5242880");
	cr_assert_eq(store_writer_open(&w, &s, &d, (int64_t)n, &e), 0, "%s",
		     e.msg);
	for (size_t off = 0; off < n; off += 1u << 20)
		cr_assert_eq(store_writer_write(w, p + off, 1u << 20, &e), 0,
			     "%s", e.msg);
	cr_assert_eq(store_writer_commit(w, &e), 0, "%s", e.msg);
	store_writer_free(w);
	cr_assert_eq(store_blob_exists(&size, &s, &d), 1);
	cr_assert_eq(size, (int64_t)n);
	cr_assert_eq(store_blob_read_at(&got, &s, &d, (5u << 20) - 10, buf,
					sizeof(buf), &e),
		     0, "%s", e.msg);
	cr_assert_eq(got, sizeof(buf));
	cr_assert_eq(memcmp(buf, p + (5u << 20) - 10, sizeof(buf)), 0);
	cr_assert_eq(store_blob_delete(&s, &d, &e), 0, "%s", e.msg);
	free(p);
	store_close(&s);
}

struct racer {
	struct store s;
	int fd;
	int rc;
	pthread_barrier_t *go;
};

static void *race_append(void *arg)
{
	struct racer *r = arg;
	struct err e;

	pthread_barrier_wait(r->go);
	r->rc =
	    r->s.ops->upload_append(r->s.be, "race", "h.io/r", 4, r->fd, 4, &e);
	return NULL;
}

Test(s3_store, two_replicas_appending_at_once_conflict)
{
	struct racer r[2];
	pthread_t t[2];
	pthread_barrier_t go;
	struct err e = {0};
	char buf[16];
	uint64_t off = 0;
	size_t got = 0;
	int fd0, won = -1;

	pthread_barrier_init(&go, NULL, 2);
	for (int i = 0; i < 2; i++) {
		open_store(&r[i].s, "race", "");
		r[i].go = &go;
		r[i].rc = 1;
	}
	fd0 = tmp_fd("0123");
	cr_assert_eq(r[0].s.ops->upload_append(r[0].s.be, "race", "h.io/r", 0,
					       fd0, 4, &e),
		     0, "%s", e.msg);
	close(fd0);
	r[0].fd = tmp_fd("....AAAA");
	r[1].fd = tmp_fd("....BBBB");
	for (int i = 0; i < 2; i++)
		cr_assert_eq(pthread_create(&t[i], NULL, race_append, &r[i]),
			     0);
	for (int i = 0; i < 2; i++)
		pthread_join(t[i], NULL);
	/* exactly one wins; the other conflicts, and the bytes are the
	 * winner's */
	cr_assert((r[0].rc == 0 && r[1].rc == ERR_CONFLICT) ||
		      (r[1].rc == 0 && r[0].rc == ERR_CONFLICT),
		  "%d %d", r[0].rc, r[1].rc);
	won = r[0].rc == 0 ? 0 : 1;
	cr_assert_eq(r[0].s.ops->upload_info(&off, NULL, r[0].s.be, "race", &e),
		     0);
	cr_assert_eq(off, 8);
	cr_assert_eq(r[1].s.ops->upload_read_at(&got, r[1].s.be, "race", 0, buf,
						sizeof(buf), &e),
		     0, "%s", e.msg);
	cr_assert_eq(got, 8);
	cr_assert_eq(memcmp(buf, won ? "0123BBBB" : "0123AAAA", 8), 0);
	for (int i = 0; i < 2; i++) {
		close(r[i].fd);
		store_close(&r[i].s);
	}
	pthread_barrier_destroy(&go);
}

Test(s3_store, a_lease_that_ran_out_stops_writes)
{
	struct store s, s2;
	struct err e = {0};
	int rc = 0;

	open_store(&s, "lease-out", "&lease=3");
	cr_assert_eq(store_lock(&s, 0, &e), 0, "%s", e.msg);
	cr_assert_eq(s.ops->state_put(s.be, "x", "{}", &e), 0, "%s", e.msg);
	/* renewals fail from now on: within 2 s (3 less the 1 s margin)
	 * the writes stop; bounded wait */
	s3_store_test_hold_back_renewals(s.be);
	for (int i = 0; i < 50; i++) {
		rc = s.ops->state_put(s.be, "x", "{}", &e);
		if (rc)
			break;
		usleep(200 * 1000);
	}
	cr_assert_eq(rc, ERR_CONFLICT, "%s", e.msg);
	cr_assert(strstr(e.msg, "the writer lease ran out (last renewed"), "%s",
		  e.msg);
	cr_assert_eq(s.ops->remove(s.be, "x", &e), ERR_CONFLICT);
	store_unlock(&s);
	/* released: another writer takes it at once */
	open_store(&s2, "lease-out", "&lease=3");
	cr_assert_eq(store_lock(&s2, 0, &e), 0, "%s", e.msg);
	cr_assert_eq(s2.ops->remove(s2.be, "x", &e), 0, "%s", e.msg);
	store_close(&s2);
	store_close(&s);
}

Test(s3_store, sweep_keeps_sessions_younger_than_stale)
{
	struct store s;
	struct sweeps x = {0};
	struct err e = {0};
	uint64_t off = 0;
	int fd;

	private_spool();
	open_store(&s, "sweep-young", ""); /* stale: a day */
	fd = tmp_fd("abc");
	cr_assert_eq(
	    s.ops->upload_append(s.be, "sess-2", "h.io/x", 0, fd, 3, &e), 0,
	    "%s", e.msg);
	close(fd);
	/* gc's cutoff an hour ahead: still younger than a day */
	cr_assert_eq(
	    s.ops->sweep(s.be, time(NULL) + 3600, 0, seen_sweep, &x, &e), 0,
	    "%s", e.msg);
	cr_assert_eq(x.n, 0);
	cr_assert_eq(s.ops->upload_info(&off, NULL, s.be, "sess-2", &e), 0,
		     "%s", e.msg);
	cr_assert_eq(off, 3);
	cr_assert_eq(s.ops->upload_forget(s.be, "sess-2", &e), 0, "%s", e.msg);
	store_close(&s);
	cr_assert_eq(rmdir(spool_dir), 0);
}

Test(s3_store, sweep_removes_old_staged_files)
{
	struct store s;
	struct sweeps x = {0};
	struct err e = {0};
	struct timespec old[2] = {{0}, {0}};
	char *tok[2] = {NULL, NULL}, want[300];
	struct stat st;
	int fd;

	private_spool();
	open_store(&s, "sweep-spool", "&stale=600");
	for (int i = 0; i < 2; i++) {
		cr_assert_eq(s.ops->stage_open(&fd, &tok[i], s.be, &e), 0, "%s",
			     e.msg);
		close(fd);
	}
	/* one left long ago by a writer that died, one of this (live)
	 * process made long ago, one staged now */
	{
		pid_t pid = fork();
		char dead[400];
		int dfd;

		cr_assert(pid >= 0);
		if (!pid)
			_exit(0);
		cr_assert_eq(waitpid(pid, NULL, 0), pid);
		snprintf(dead, sizeof(dead), "%s/ocimirror-stage-%ld-abcdef",
			 spool_dir, (long)pid);
		dfd = open(dead, O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
		cr_assert(dfd >= 0);
		close(dfd);
		old[0].tv_sec = old[1].tv_sec = time(NULL) - 1000;
		cr_assert_eq(utimensat(AT_FDCWD, dead, old, 0), 0);
		cr_assert_eq(utimensat(AT_FDCWD, tok[0], old, 0), 0);
		snprintf(want, sizeof(want), "tmp/%s", strrchr(dead, '/') + 1);
		cr_assert_eq(s.ops->sweep(s.be, time(NULL) + 3600, 1,
					  seen_sweep, &x, &e),
			     0, "%s", e.msg);
		cr_assert_eq(x.n, 1);
		cr_assert_str_eq(x.v[0], want);
		cr_assert_eq(stat(dead, &st), 0); /* dry run: kept */
		x.n = 0;
		cr_assert_eq(s.ops->sweep(s.be, time(NULL) + 3600, 0,
					  seen_sweep, &x, &e),
			     0, "%s", e.msg);
		cr_assert_eq(x.n, 1);
		cr_assert_str_eq(x.v[0], want);
		cr_assert_neq(stat(dead, &st), 0);
		/* a live writer's staged files stay, however old */
		cr_assert_eq(stat(tok[0], &st), 0);
		cr_assert_eq(stat(tok[1], &st), 0);
		s.ops->stage_discard(s.be, tok[0]);
	}
	s.ops->stage_discard(s.be, tok[1]);
	free(tok[0]);
	free(tok[1]);
	store_close(&s);
	cr_assert_eq(rmdir(spool_dir), 0);
}

Test(s3_store, a_failed_part_drops_its_claim)
{
	struct store s;
	struct err e = {0};
	char buf[16];
	uint64_t off = 0;
	size_t got = 0;
	int fd;

	open_store(&s, "claim-drop", "");
	fd = tmp_fd("0123");
	cr_assert_eq(s.ops->upload_append(s.be, "cd", "h.io/r", 0, fd, 4, &e),
		     0, "%s", e.msg);
	/* the part cannot be read: 10 bytes of a 4-byte file */
	cr_assert_neq(s.ops->upload_append(s.be, "cd", "h.io/r", 4, fd, 10, &e),
		      0);
	cr_assert_eq(s.ops->upload_info(&off, NULL, s.be, "cd", &e), 0, "%s",
		     e.msg);
	cr_assert_eq(off, 4);
	close(fd);
	/* a retry at once: no claim left in its way */
	fd = tmp_fd("....4567");
	cr_assert_eq(s.ops->upload_append(s.be, "cd", "h.io/r", 4, fd, 4, &e),
		     0, "%s", e.msg);
	close(fd);
	cr_assert_eq(
	    s.ops->upload_read_at(&got, s.be, "cd", 0, buf, sizeof(buf), &e), 0,
	    "%s", e.msg);
	cr_assert_eq(got, 8);
	cr_assert_eq(memcmp(buf, "01234567", 8), 0);
	cr_assert_eq(s.ops->upload_forget(s.be, "cd", &e), 0, "%s", e.msg);
	store_close(&s);
}

Test(s3_store, a_late_part_is_never_read)
{
	struct store s;
	struct s3_config cfg;
	struct s3c *c = NULL;
	struct keys k = {0};
	struct err e = {0};
	char buf[16];
	size_t got = 0;
	int fd;

	open_store(&s, "late-part", "");
	cr_assert_eq(s3_config_parse(&cfg, url_of("late-part", ""), &e), 0);
	cr_assert_eq(s3c_open(&c, &cfg, &e), 0, "%s", e.msg);
	fd = tmp_fd("01234567");
	cr_assert_eq(s.ops->upload_append(s.be, "lp", "h.io/r", 0, fd, 4, &e),
		     0, "%s", e.msg);
	cr_assert_eq(s.ops->upload_append(s.be, "lp", "h.io/r", 4, fd, 4, &e),
		     0, "%s", e.msg);
	close(fd);
	/* the parts of a replica whose claims were taken over, late: at
	 * offset 0 under another claim's nonce, and under the plain offset
	 * (as parts once were named) */
	cr_assert_eq(s3c_put(c, "uploads/lp/00000000000000000000-abcdef",
			     "XXXXXXXX", 8, NULL, NULL, &e),
		     0, "%s", e.msg);
	cr_assert_eq(s3c_put(c, "uploads/lp/00000000000000000004", "YYYY", 4,
			     NULL, NULL, &e),
		     0, "%s", e.msg);
	cr_assert_eq(
	    s.ops->upload_read_at(&got, s.be, "lp", 0, buf, sizeof(buf), &e), 0,
	    "%s", e.msg);
	cr_assert_eq(got, 8);
	cr_assert_eq(memcmp(buf, "01234567", 8), 0);
	/* forgetting removes every part, read or not, and nothing else */
	cr_assert_eq(s.ops->upload_forget(s.be, "lp", &e), 0, "%s", e.msg);
	cr_assert_eq(s.ops->walk(s.be, "uploads/", seen_key, &k, &e), 0, "%s",
		     e.msg);
	cr_assert_eq(k.n, 1);
	cr_assert_str_eq(k.v[0], "uploads/lp/00000000000000000004");
	cr_assert_eq(s3c_delete(c, "uploads/lp/00000000000000000004", NULL, &e),
		     0, "%s", e.msg);
	s3c_close(c);
	store_close(&s);
}

Test(s3_store, walk_skips_keys_of_no_checked_names)
{
	struct store s;
	struct s3_config cfg;
	struct s3c *c = NULL;
	struct keys k = {0};
	struct err e = {0};

	open_store(&s, "walk-bad", "");
	cr_assert_eq(s3_config_parse(&cfg, url_of("walk-bad", ""), &e), 0);
	cr_assert_eq(s3c_open(&c, &cfg, &e), 0, "%s", e.msg);
	cr_assert_eq(s3c_put(c, "junk/a\\b", "x", 1, NULL, NULL, &e), 0, "%s",
		     e.msg);
	cr_assert_eq(s3c_put(c, "junk/ok", "x", 1, NULL, NULL, &e), 0, "%s",
		     e.msg);
	cr_assert_eq(s.ops->walk(s.be, "junk/", seen_key, &k, &e), 0, "%s",
		     e.msg);
	cr_assert_eq(k.n, 1);
	cr_assert_str_eq(k.v[0], "junk/ok");
	s3c_delete(c, "junk/a\\b", NULL, NULL);
	s3c_delete(c, "junk/ok", NULL, NULL);
	s3c_close(c);
	store_close(&s);
}
