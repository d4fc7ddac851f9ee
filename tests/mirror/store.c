#include <criterion/criterion.h>
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mirror/store/store.h"
#include "mirror/store/walk.h"
#include "tests/mirror/storefix.h"
#include "oci/ref.h"

static char root[256];
static struct store st;

static void setup(void)
{
	struct err e;

	snprintf(root, sizeof(root), "/tmp/ocimirror-store-XXXXXX");
	cr_assert(mkdtemp(root));
	cr_assert_eq(store_open(&st, root, 1, &e), 0, "%s", e.msg);
}

static void teardown(void)
{
	char cmd[300];

	store_close(&st);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", root);
	cr_assert_eq(system(cmd), 0);
}

static size_t count_dir(const char *sub)
{
	char p[512];
	DIR *d;
	struct dirent *e;
	size_t n = 0;

	snprintf(p, sizeof(p), "%s/%s", root, sub);
	d = opendir(p);
	if (!d)
		return 0;
	while ((e = readdir(d)))
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

TestSuite(store, .init = setup, .fini = teardown);

Test(store, put_stores_exact_bytes_under_digest)
{
	struct oci_digest d;
	struct err e;
	char *back = NULL, *path;
	size_t n;
	int64_t size;

	oci_digest_of(&d, OCI_SHA256, "hello", 5);
	cr_assert_eq(store_blob_put(&st, &d, "hello", 5, &e), 0, "%s", e.msg);
	cr_assert(store_blob_exists(&size, &st, &d));
	cr_assert_eq(size, 5);
	cr_assert_eq(store_blob_read(&back, &n, &st, &d, 100, &e), 0);
	cr_assert_eq(n, 5);
	cr_assert_eq(memcmp(back, "hello", 5), 0);
	free(back);
	path = fix_blob_path(&st, &d);
	cr_assert(strstr(path, "/blobs/sha256/"
			       "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425"
			       "e73043362938b9824"));
	free(path);
	cr_assert_eq(count_dir("tmp"), 0);
}

Test(store, wrong_digest_stores_nothing)
{
	struct oci_digest d;
	struct err e;

	oci_digest_of(&d, OCI_SHA256, "hello", 5);
	cr_assert_eq(store_blob_put(&st, &d, "hellO", 5, &e), ERR_DIGEST);
	cr_assert(strstr(e.msg, d.str), "%s", e.msg);
	cr_assert(strstr(e.msg, "mismatch"));
	cr_assert(!store_blob_exists(NULL, &st, &d));
	cr_assert_eq(count_dir("tmp"), 0);
	cr_assert_eq(count_dir("blobs/sha256"), 0);
}

Test(store, writer_refuses_extra_bytes_and_short_bodies)
{
	struct store_writer *w;
	struct oci_digest d;
	struct err e;

	oci_digest_of(&d, OCI_SHA256, "abcdef", 6);
	cr_assert_eq(store_writer_open(&w, &st, &d, 6, &e), 0);
	cr_assert_eq(store_writer_write(w, "abcd", 4, &e), 0);
	cr_assert_eq(store_writer_write(w, "efg", 3, &e), ERR_DIGEST);
	cr_assert_eq(store_writer_offset(w), 4);
	cr_assert_eq(store_writer_commit(w, &e), ERR_DIGEST);
	cr_assert(strstr(e.msg, "size mismatch"), "%s", e.msg);
	/* reset by the failed commit: a fresh, complete write succeeds */
	cr_assert_eq(store_writer_offset(w), 0);
	cr_assert_eq(store_writer_write(w, "abc", 3, &e), 0);
	cr_assert_eq(store_writer_write(w, "def", 3, &e), 0);
	cr_assert_eq(store_writer_commit(w, &e), 0, "%s", e.msg);
	store_writer_free(w);
	cr_assert(store_blob_exists(NULL, &st, &d));
	cr_assert_eq(count_dir("tmp"), 0);
}

Test(store, large_blob_hashed_on_thread_and_resumable)
{
	struct store_writer *w;
	struct oci_digest d;
	struct err e;
	size_t n = 9u * 1024 * 1024 + 123;
	char *data = malloc(n);

	for (size_t i = 0; i < n; i++)
		data[i] = (char)(i * 31 + (i >> 13));
	oci_digest_of(&d, OCI_SHA256, data, n);
	cr_assert_eq(store_writer_open(&w, &st, &d, (int64_t)n, &e), 0);
	/* a first attempt with garbage, then reset: as after a bad 200 */
	cr_assert_eq(store_writer_write(w, "garbage", 7, &e), 0);
	cr_assert_eq(store_writer_reset(w, &e), 0);
	for (size_t off = 0; off < n; off += 100000)
		cr_assert_eq(
		    store_writer_write(w, data + off,
				       n - off < 100000 ? n - off : 100000, &e),
		    0);
	cr_assert_eq(store_writer_commit(w, &e), 0, "%s", e.msg);
	store_writer_free(w);
	cr_assert(store_blob_exists(NULL, &st, &d));
	free(data);
}

/* A write the file takes only in part (here the file size limit; disk
 * full is alike) leaves offset, file and hash as before it: the same
 * bytes written again commit under the right digest. */
static void partial_write_undone(int64_t size)
{
	struct store_writer *w;
	struct oci_digest d;
	struct rlimit rl, tiny;
	struct err e;

	oci_digest_of(&d, OCI_SHA256, "abcdefghijklmn", 14);
	cr_assert_eq(store_writer_open(&w, &st, &d, size, &e), 0);
	cr_assert_eq(store_writer_write(w, "abcdef", 6, &e), 0);
	cr_assert_eq(getrlimit(RLIMIT_FSIZE, &rl), 0);
	signal(SIGXFSZ, SIG_IGN);
	tiny = rl;
	tiny.rlim_cur = 10; /* 4 of the next 8 bytes fit */
	cr_assert_eq(setrlimit(RLIMIT_FSIZE, &tiny), 0);
	cr_assert_eq(store_writer_write(w, "ghijklmn", 8, &e), ERR_FAIL);
	cr_assert_eq(setrlimit(RLIMIT_FSIZE, &rl), 0);
	cr_assert(strstr(e.msg, "write "), "%s", e.msg);
	cr_assert_eq(store_writer_offset(w), 6);
	cr_assert_eq(store_writer_write(w, "ghijklmn", 8, &e), 0, "%s", e.msg);
	cr_assert_eq(store_writer_offset(w), 14);
	cr_assert_eq(store_writer_commit(w, &e), 0, "%s", e.msg);
	store_writer_free(w);
	cr_assert(store_blob_exists(NULL, &st, &d));
}

Test(store, partial_write_is_undone_when_hashed_inline)
{
	partial_write_undone(14);
}

Test(store, partial_write_is_undone_when_hashed_on_thread)
{
	partial_write_undone(-1);
}

/* The descriptor this process holds on the one temp file under tmp/. */
static int temp_fd(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *de;
	char link[600], want[300], at[64];
	int fd = -1;

	cr_assert(d);
	snprintf(want, sizeof(want), "%s/tmp/", root);
	while ((de = readdir(d))) {
		ssize_t n;
		snprintf(at, sizeof(at), "/proc/self/fd/%s", de->d_name);
		n = readlink(at, link, sizeof(link) - 1);
		if (n <= 0)
			continue;
		link[n] = 0;
		if (!strncmp(link, want, strlen(want)))
			fd = atoi(de->d_name);
	}
	closedir(d);
	cr_assert(fd >= 0, "no descriptor on %s", want);
	return fd;
}

/* A parked writer whose hash could not catch up (its temp file could not
 * be read back) closes the file all the same and stays failed: resume and
 * commit refuse it, it does not commit a hash of part of the bytes. */
Test(store, park_failure_closes_the_file_and_is_sticky)
{
	struct store_writer *w;
	struct oci_digest d;
	struct err e;
	int fd, wronly;
	char junk[300];

	cr_assert_eq(store_writer_open_upload(&w, &st, &e), 0);
	cr_assert_eq(store_writer_write(w, "abc", 3, &e), 0);
	/* the temp file's descriptor becomes one that cannot be read */
	fd = temp_fd();
	snprintf(junk, sizeof(junk), "%s/junk", root);
	wronly = open(junk, O_WRONLY | O_CREAT, 0644);
	cr_assert(wronly >= 0);
	cr_assert_eq(dup2(wronly, fd), fd);
	close(wronly);
	cr_assert_eq(store_writer_write(w, "def", 3, &e), 0);
	cr_assert_eq(store_writer_park(w, &e), ERR_FAIL);
	cr_assert(strstr(e.msg, "reading back"), "%s", e.msg);
	cr_assert_eq(fcntl(fd, F_GETFD), -1, "descriptor %d left open", fd);
	cr_assert_eq(store_writer_resume(w, &e), ERR_FAIL);
	oci_digest_of(&d, OCI_SHA256, "abcdef", 6);
	cr_assert_eq(store_writer_commit_as(w, &d, &e), ERR_FAIL);
	store_writer_free(w);
	cr_assert(!store_blob_exists(NULL, &st, &d));
	cr_assert_eq(count_dir("tmp"), 0);
}

Test(store, abandoned_writer_leaves_no_trace)
{
	struct store_writer *w;
	struct oci_digest d;
	struct err e;

	oci_digest_of(&d, OCI_SHA256, "x", 1);
	cr_assert_eq(store_writer_open(&w, &st, &d, 1, &e), 0);
	cr_assert_eq(count_dir("tmp"), 1);
	store_writer_free(w);
	cr_assert_eq(count_dir("tmp"), 0);
	cr_assert(!store_blob_exists(NULL, &st, &d));
}

Test(store, tags_and_manifests_round_trip)
{
	struct store_ref m, got;
	struct err e;
	const char *repo = "docker.io/library/nginx";

	oci_digest_of(&m.digest, OCI_SHA256, "{}", 2);
	snprintf(m.media_type, sizeof(m.media_type),
		 "application/vnd.oci.image.manifest.v1+json");
	m.size = 2;
	/* linking a manifest that is not stored fails */
	cr_assert_eq(store_manifest_link(&st, repo, &m, &e), ERR_NOT_FOUND);
	cr_assert_eq(store_blob_put(&st, &m.digest, "{}", 2, &e), 0);
	cr_assert_eq(store_manifest_link(&st, repo, &m, &e), 0, "%s", e.msg);
	cr_assert_eq(store_tag_set(&st, repo, "1.25", &m, &e), 0);
	cr_assert_eq(store_tag_get(&got, &st, repo, "1.25", &e), 0);
	cr_assert_str_eq(got.digest.str, m.digest.str);
	cr_assert_str_eq(got.media_type, m.media_type);
	cr_assert_eq(got.size, 2);
	cr_assert_eq(store_manifest_get(&got, &st, repo, &m.digest, &e), 0);
	cr_assert_eq(store_tag_get(&got, &st, repo, "1.26", &e), ERR_NOT_FOUND);
	cr_assert(strstr(e.msg, "docker.io/library/nginx:1.26"), "%s", e.msg);
	cr_assert_eq(store_tag_delete(&st, repo, "1.25", &e), 0);
	cr_assert_eq(store_tag_get(&got, &st, repo, "1.25", &e), ERR_NOT_FOUND);
}

Test(store, hostile_names_never_become_paths)
{
	struct store_ref m;
	struct err e;
	static const char *bad_repos[] = {"docker.io/../../etc",
					  "docker.io/a/../b",
					  "/etc/passwd",
					  "docker.io//x",
					  "..",
					  "docker.io/%2e%2e/x",
					  "docker.io/A",
					  "NoHost",
					  "docker.io/x/",
					  "a/../b",
					  "_x/y",
					  "-bad.host/x",
					  "h..x/y",
					  "host:99999999/x",
					  NULL};
	static const char *bad_tags[] = {"../x", ".hidden", "a/b",
					 "",	 "-x",	    NULL};

	oci_digest_of(&m.digest, OCI_SHA256, "{}", 2);
	snprintf(m.media_type, sizeof(m.media_type), "x");
	m.size = 2;
	cr_assert_eq(store_blob_put(&st, &m.digest, "{}", 2, &e), 0);
	for (int i = 0; bad_repos[i]; i++) {
		cr_assert_eq(store_tag_set(&st, bad_repos[i], "v1", &m, &e),
			     ERR_INVALID, "accepted repo %s", bad_repos[i]);
		cr_assert(strstr(e.msg, "invalid repository"), "%s", e.msg);
	}
	for (int i = 0; bad_tags[i]; i++)
		cr_assert_eq(store_tag_set(&st, "docker.io/library/x",
					   bad_tags[i], &m, &e),
			     ERR_INVALID, "accepted tag %s", bad_tags[i]);
	cr_assert_eq(count_dir("repositories"), 0);
	cr_assert(store_repo_valid("[::1]:5000/a/b"));
	cr_assert(store_repo_valid("localhost:5000/a"));
	cr_assert(store_repo_valid("registry.example.com/org/app"));
	/* local names, as pushed to the server without a host */
	cr_assert(store_repo_valid("team/app"));
	cr_assert(store_repo_valid("app"));
}

struct seen {
	char lines[8][300];
	int n;
};

static int collect(void *ctx, const char *repo, const char *tag,
		   const struct store_ref *ref)
{
	struct seen *s = ctx;

	(void)ref;
	if (tag && s->n < 8)
		snprintf(s->lines[s->n++], 300, "%s:%s", repo, tag);
	return 0;
}

Test(store, list_walks_repositories_in_order)
{
	struct store_ref m;
	struct err e;
	struct seen s = {.n = 0};

	oci_digest_of(&m.digest, OCI_SHA256, "{}", 2);
	snprintf(m.media_type, sizeof(m.media_type), "x");
	m.size = 2;
	cr_assert_eq(store_blob_put(&st, &m.digest, "{}", 2, &e), 0);
	cr_assert_eq(store_tag_set(&st, "ghcr.io/org/app", "v2", &m, &e), 0);
	cr_assert_eq(
	    store_tag_set(&st, "docker.io/library/nginx", "1.25", &m, &e), 0);
	cr_assert_eq(
	    store_tag_set(&st, "docker.io/library/nginx", "1.24", &m, &e), 0);
	cr_assert_eq(
	    store_tag_set(&st, "docker.io/library/nginx/sub", "a", &m, &e), 0);
	cr_assert_eq(walk_tags(&st, NULL, collect, &s, &e), 0);
	cr_assert_eq(s.n, 4);
	cr_assert_str_eq(s.lines[0], "docker.io/library/nginx:1.24");
	cr_assert_str_eq(s.lines[1], "docker.io/library/nginx:1.25");
	cr_assert_str_eq(s.lines[2], "docker.io/library/nginx/sub:a");
	cr_assert_str_eq(s.lines[3], "ghcr.io/org/app:v2");
}

Test(store, list_reports_an_unreadable_tags_directory_after_the_rest)
{
	struct store_ref m;
	struct err e;
	struct seen s = {.n = 0};
	char p[600];
	FILE *f;

	oci_digest_of(&m.digest, OCI_SHA256, "{}", 2);
	snprintf(m.media_type, sizeof(m.media_type), "x");
	m.size = 2;
	cr_assert_eq(store_blob_put(&st, &m.digest, "{}", 2, &e), 0);
	cr_assert_eq(store_tag_set(&st, "ghcr.io/org/app", "v2", &m, &e), 0);
	cr_assert_eq(store_tag_set(&st, "docker.io/a/z", "v1", &m, &e), 0);
	/* a _tags that is a file: the directory cannot be listed */
	snprintf(p, sizeof(p), "%s/repositories/docker.io/a/bad", root);
	cr_assert_eq(mkdir(p, 0755), 0);
	snprintf(p, sizeof(p), "%s/repositories/docker.io/a/bad/_tags", root);
	f = fopen(p, "w");
	cr_assert(f);
	fclose(f);
	err_clear(&e);
	cr_assert_eq(walk_tags(&st, NULL, collect, &s, &e), ERR_FAIL);
	cr_assert(strstr(e.msg, "docker.io/a/bad/_tags"), "%s", e.msg);
	cr_assert_eq(s.n, 2);
	cr_assert_str_eq(s.lines[0], "docker.io/a/z:v1");
	cr_assert_str_eq(s.lines[1], "ghcr.io/org/app:v2");
	s.n = 0;
	cr_assert_eq(walk_tags(&st, "docker.io/a/bad", collect, &s, &e),
		     ERR_FAIL);
	cr_assert(strstr(e.msg, "docker.io/a/bad"), "%s", e.msg);
	cr_assert_eq(walk_tags(&st, "docker.io/a/z", collect, &s, &e), 0);
	cr_assert_eq(s.n, 1);
}

static int sum_blob(void *ctx, const struct oci_digest *d, int64_t size)
{
	int64_t *v = ctx;

	(void)d;
	v[0]++;
	v[1] += size;
	return 0;
}

Test(store, blobs_each_visits_stored_blobs_only)
{
	struct oci_digest a, b;
	struct err e;
	int64_t v[2] = {0, 0};
	char p[600];
	FILE *f;

	oci_digest_of(&a, OCI_SHA256, "abc", 3);
	oci_digest_of(&b, OCI_SHA512, "hello", 5);
	cr_assert_eq(store_blob_put(&st, &a, "abc", 3, &e), 0);
	cr_assert_eq(store_blob_put(&st, &b, "hello", 5, &e), 0);
	snprintf(p, sizeof(p), "%s/blobs/sha256/not-a-digest", root);
	f = fopen(p, "w");
	cr_assert(f);
	fputs("stray bytes", f);
	fclose(f);
	cr_assert_eq(store_blobs_each(&st, sum_blob, v, &e), 0, "%s", e.msg);
	cr_assert_eq(v[0], 2);
	cr_assert_eq(v[1], 8);
}

Test(store, second_writer_lock_conflicts)
{
	struct store other;
	struct err e;

	cr_assert_eq(store_lock(&st, 0, &e), 0);
	cr_assert_eq(store_open(&other, root, 0, &e), 0);
	cr_assert_eq(store_lock(&other, 0, &e), ERR_CONFLICT);
	cr_assert(strstr(e.msg, "locked"), "%s", e.msg);
	store_unlock(&st);
	cr_assert_eq(store_lock(&other, 0, &e), 0);
	store_close(&other);
}

Test(store, upload_writer_commits_under_named_digest)
{
	struct store_writer *w;
	struct oci_digest d256, d512, wrong;
	struct err e;

	oci_digest_of(&d256, OCI_SHA256, "pushed", 6);
	oci_digest_of(&d512, OCI_SHA512, "pushed", 6);
	oci_digest_of(&wrong, OCI_SHA256, "other", 5);
	cr_assert_eq(store_writer_open_upload(&w, &st, &e), 0);
	cr_assert_eq(store_writer_write(w, "pushed", 6, &e), 0);
	cr_assert_eq(store_writer_commit_as(w, &wrong, &e), ERR_DIGEST);
	cr_assert(!store_blob_exists(NULL, &st, &wrong));
	store_writer_free(w);

	cr_assert_eq(store_writer_open_upload(&w, &st, &e), 0);
	cr_assert_eq(store_writer_write(w, "pushed", 6, &e), 0);
	cr_assert_eq(store_writer_commit_as(w, &d512, &e), 0, "%s", e.msg);
	store_writer_free(w);
	cr_assert(store_blob_exists(NULL, &st, &d512));
	cr_assert(!store_blob_exists(NULL, &st, &d256));
	cr_assert_eq(count_dir("tmp"), 0);
}

Test(store, name_split_takes_the_tag_after_the_last_slash)
{
	char repo[OCI_REPO_MAX], tag[OCI_TAG_MAX + 1];
	struct err e;

	cr_assert_eq(
	    store_name_split(repo, tag, "localhost:5000/team/app:v1", &e), 0);
	cr_expect_str_eq(repo, "localhost:5000/team/app");
	cr_expect_str_eq(tag, "v1");
	cr_assert_eq(store_name_split(repo, tag, "127.0.0.1:5000/x", &e), 0);
	cr_expect_str_eq(repo, "127.0.0.1:5000/x");
	cr_expect_str_eq(tag, "");
	cr_assert_eq(store_name_split(repo, tag, "team/app", &e), 0);
	cr_expect_str_eq(repo, "team/app");
	cr_expect_eq(store_name_split(repo, tag, "team/app:", &e), ERR_INVALID);
	cr_expect_str_eq(e.msg, "invalid name \"team/app:\": bad tag");
	cr_expect_eq(store_name_split(repo, tag, "team/../app:v1", &e),
		     ERR_INVALID);
	cr_expect_str_eq(e.msg,
			 "invalid name \"team/../app:v1\": bad repository");
	cr_expect_eq(store_name_split(repo, tag, "team/app:.bad", &e),
		     ERR_INVALID);
	cr_expect(strstr(e.msg, "team/app:.bad"), "%s", e.msg);
}

static int open_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *de;
	int n = 0;

	cr_assert(d);
	while ((de = readdir(d)))
		n += de->d_name[0] != '.';
	closedir(d);
	return n - 1;
}

/* An idle upload session's writer holds no descriptor; resumed, it goes
 * on where it was, hash included. */
Test(store, parked_writer_holds_no_descriptor_and_resumes)
{
	struct store_writer *w;
	struct oci_digest d;
	struct err e;
	size_t n = 5u * 1024 * 1024 + 7; /* past the hash thread's threshold */
	char *data = malloc(n);
	int before;

	for (size_t i = 0; i < n; i++)
		data[i] = (char)(i * 7 + (i >> 11));
	oci_digest_of(&d, OCI_SHA256, data, n);
	cr_assert_eq(store_writer_open_upload(&w, &st, &e), 0);
	before = open_fds();
	cr_assert_eq(store_writer_write(w, data, 1000000, &e), 0);
	cr_assert_eq(store_writer_park(w, &e), 0, "%s", e.msg);
	cr_assert_eq(open_fds(), before - 1);
	cr_assert_eq(store_writer_park(w, &e), 0); /* twice: a no-op */
	cr_assert_eq(store_writer_offset(w), 1000000);
	cr_assert_eq(count_dir("tmp"), 1); /* the content stays */
	cr_assert_eq(store_writer_resume(w, &e), 0, "%s", e.msg);
	cr_assert_eq(open_fds(), before);
	cr_assert_eq(store_writer_write(w, data + 1000000, n - 1000000, &e),
		     0);
	cr_assert_eq(store_writer_park(w, &e), 0);
	cr_assert_eq(store_writer_resume(w, &e), 0);
	cr_assert_eq(store_writer_commit_as(w, &d, &e), 0, "%s", e.msg);
	store_writer_free(w);
	cr_assert(store_blob_exists(NULL, &st, &d));
	cr_assert_eq(count_dir("tmp"), 0);
	free(data);
}

Test(store, parked_writer_freed_leaves_no_trace)
{
	struct store_writer *w;
	struct err e;

	cr_assert_eq(store_writer_open_upload(&w, &st, &e), 0);
	cr_assert_eq(store_writer_write(w, "abc", 3, &e), 0);
	cr_assert_eq(store_writer_park(w, &e), 0);
	store_writer_free(w);
	cr_assert_eq(count_dir("tmp"), 0);
}

Test(store, a_staged_blob_is_verified_unserved_and_holds_no_descriptor)
{
	static const char text[] = "staged blob bytes";
	struct store_writer *w[2];
	struct oci_digest d;
	struct err e;
	char *got = NULL;
	size_t len;
	int fds;

	oci_digest_of(&d, OCI_SHA256, text, strlen(text));
	fds = open_fds();
	for (int i = 0; i < 2; i++) {
		cr_assert_eq(store_writer_open(&w[i], &st, &d,
					       (int64_t)strlen(text), &e),
			     0, "%s", e.msg);
		cr_assert_eq(store_writer_write(w[i], text, strlen(text), &e),
			     0, "%s", e.msg);
		cr_assert_eq(store_writer_stage(w[i], &e), 0, "%s", e.msg);
	}
	cr_assert_eq(open_fds(), fds, "staged writers hold descriptors");
	cr_assert_not(store_blob_exists(NULL, &st, &d), "served before publish");
	cr_assert_eq(count_dir("tmp"), 2);
	cr_assert_eq(store_writer_staged_read(&got, &len, w[0], 1024, &e), 0,
		     "%s", e.msg);
	cr_assert_eq(len, strlen(text));
	cr_assert_str_eq(got, text);
	free(got);
	cr_assert_eq(store_writer_staged_read(&got, &len, w[0], 4, &e),
		     ERR_TOO_LARGE);
	/* freed unpublished: its temp file goes, nothing is placed */
	store_writer_free(w[1]);
	cr_assert_eq(count_dir("tmp"), 1);
	cr_assert_not(store_blob_exists(NULL, &st, &d));
	cr_assert_eq(store_writer_publish(w[0], &e), 0, "%s", e.msg);
	cr_assert(store_blob_exists(NULL, &st, &d));
	store_writer_free(w[0]);
	cr_assert_eq(count_dir("tmp"), 0);
}

Test(store, staging_refuses_a_wrong_digest_and_publish_wants_a_staged_writer)
{
	struct store_writer *w;
	struct oci_digest d;
	struct err e;

	oci_digest_of(&d, OCI_SHA256, "other", 5);
	cr_assert_eq(store_writer_open(&w, &st, &d, 5, &e), 0, "%s", e.msg);
	cr_assert_eq(store_writer_publish(w, &e), ERR_INVALID);
	cr_assert_eq(store_writer_write(w, "wrong", 5, &e), 0, "%s", e.msg);
	cr_assert_eq(store_writer_stage(w, &e), ERR_DIGEST);
	cr_assert(strstr(e.msg, "digest mismatch"), "%s", e.msg);
	cr_assert_eq(store_writer_publish(w, &e), ERR_INVALID);
	store_writer_free(w);
	cr_assert_not(store_blob_exists(NULL, &st, &d));
	cr_assert_eq(count_dir("tmp"), 0);
}
