/* The filesystem backend's gc and verify operations (backend.h): walk,
 * remove, move and sweep over store-relative keys. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mirror/store/backend.h"
#include "tests/mirror/storefix.h"

static struct fix f;

static void setup(void)
{
	fix_setup(&f);
}

static void teardown(void)
{
	fix_teardown(&f);
}

TestSuite(store_fsops, .init = setup, .fini = teardown);

#define SEEN_MAX 64

struct seen {
	char keys[SEEN_MAX][600];
	int64_t sizes[SEEN_MAX], mtimes[SEEN_MAX];
	size_t n;
	size_t stop_after; /* 0: never stop */
};

static int on_key(void *ctx, const char *key, int64_t size, int64_t mtime)
{
	struct seen *s = ctx;

	cr_assert_lt(s->n, SEEN_MAX, "too many keys (%s)", key);
	snprintf(s->keys[s->n], sizeof(s->keys[0]), "%s", key);
	s->sizes[s->n] = size;
	s->mtimes[s->n] = mtime;
	s->n++;
	return s->stop_after && s->n >= s->stop_after;
}

/* The index of key in s, or -1. */
static int seen_at(const struct seen *s, const char *key)
{
	for (size_t i = 0; i < s->n; i++)
		if (!strcmp(s->keys[i], key))
			return (int)i;
	return -1;
}

static int walk(struct seen *s, const char *prefix, struct err *e)
{
	memset(s, 0, sizeof(*s));
	return f.st.ops->walk(f.st.be, prefix, on_key, s, e);
}

/* A file under the store with this content and mtime (seconds since the
 * epoch); its parent directories made. */
static void put_file(const char *rel, const char *text, int64_t mtime)
{
	char dir[1024], *slash;
	struct timespec ts[2];
	FILE *w;

	snprintf(dir, sizeof(dir), "%s", fix_path(&f, "%s", rel));
	slash = strrchr(dir, '/');
	*slash = '\0';
	cr_assert_eq(fix_mkdirs(dir), 0, "%s", dir);
	w = fopen(fix_path(&f, "%s", rel), "w");
	cr_assert(w, "%s", rel);
	fputs(text, w);
	fclose(w);
	ts[0].tv_sec = ts[1].tv_sec = (time_t)mtime;
	ts[0].tv_nsec = ts[1].tv_nsec = 0;
	cr_assert_eq(utimensat(AT_FDCWD, fix_path(&f, "%s", rel), ts, 0), 0,
		     "%s", rel);
}

static char *read_rel(const char *rel)
{
	static char got[256];
	FILE *r = fopen(fix_path(&f, "%s", rel), "r");

	got[0] = '\0';
	if (!r)
		return NULL;
	if (!fgets(got, sizeof(got), r))
		got[0] = '\0';
	fclose(r);
	return got;
}

Test(store_fsops, walk_gives_every_file_once_with_its_size_and_mtime)
{
	struct oci_digest d = fix_blob(&f, "hello blob");
	char bkey[200];
	struct seen s;
	struct err e;
	int i;

	snprintf(bkey, sizeof(bkey), "blobs/sha256/%s", oci_digest_hex(&d));
	fix_age(fix_path(&f, "%s", bkey), 100);
	put_file("repositories/example.com/app/_tags/v1", "{}", 1000000000);
	put_file("repositories/example.com/app/_blobs/sha256/ab", "",
		 1000000001);
	put_file("tmp/upload", "123", 1700000000);

	cr_assert_eq(walk(&s, "", &e), 0, "%s", e.msg);
	cr_assert_eq(s.n, 4);
	i = seen_at(&s, bkey);
	cr_assert_geq(i, 0, "%s not walked", bkey);
	cr_assert_eq(s.sizes[i], 10);
	cr_assert_eq(s.mtimes[i], (int64_t)time(NULL) - 100, "mtime %lld",
		     (long long)s.mtimes[i]);
	i = seen_at(&s, "repositories/example.com/app/_tags/v1");
	cr_assert_geq(i, 0);
	cr_assert_eq(s.sizes[i], 2);
	cr_assert_eq(s.mtimes[i], 1000000000);
	i = seen_at(&s, "repositories/example.com/app/_blobs/sha256/ab");
	cr_assert_geq(i, 0);
	cr_assert_eq(s.sizes[i], 0);
	cr_assert_eq(s.mtimes[i], 1000000001);
	i = seen_at(&s, "tmp/upload");
	cr_assert_geq(i, 0);
	cr_assert_eq(s.sizes[i], 3);
	/* each once */
	for (size_t a = 0; a < s.n; a++)
		for (size_t b = a + 1; b < s.n; b++)
			cr_assert_str_neq(s.keys[a], s.keys[b]);

	/* under a prefix: only what is under it, full keys */
	cr_assert_eq(walk(&s, "repositories/", &e), 0, "%s", e.msg);
	cr_assert_eq(s.n, 2);
	cr_assert_str_eq(s.keys[0],
			 "repositories/example.com/app/_blobs/sha256/ab");
	cr_assert_str_eq(s.keys[1], "repositories/example.com/app/_tags/v1");
	cr_assert_eq(walk(&s, "blobs/sha256/", &e), 0, "%s", e.msg);
	cr_assert_eq(s.n, 1);
	cr_assert_str_eq(s.keys[0], bkey);
}

Test(store_fsops, walk_does_not_follow_links_and_reports_them_unsized)
{
	struct seen s;
	struct err e;
	char target[600];
	int i;

	put_file("elsewhere/secret", "do not list", 1000000000);
	snprintf(target, sizeof(target), "%s", fix_path(&f, "elsewhere"));
	cr_assert_eq(symlink(target, fix_path(&f, "blobs/sha256/dirlink")), 0);
	snprintf(target, sizeof(target), "%s",
		 fix_path(&f, "elsewhere/secret"));
	cr_assert_eq(symlink(target, fix_path(&f, "blobs/sha256/filelink")), 0);
	cr_assert_eq(walk(&s, "blobs/", &e), 0, "%s", e.msg);
	cr_assert_eq(s.n, 2);
	i = seen_at(&s, "blobs/sha256/dirlink");
	cr_assert_geq(i, 0);
	cr_assert_eq(s.sizes[i], -1);
	i = seen_at(&s, "blobs/sha256/filelink");
	cr_assert_geq(i, 0);
	cr_assert_eq(s.sizes[i], -1);
	/* a prefix through a link is not followed either */
	cr_assert_eq(walk(&s, "blobs/sha256/dirlink/", &e), 0, "%s", e.msg);
	cr_assert_eq(s.n, 0);
}

Test(store_fsops, walk_of_an_absent_prefix_finds_nothing)
{
	struct seen s;
	struct err e;

	cr_assert_eq(walk(&s, "quarantine/", &e), 0, "%s", e.msg);
	cr_assert_eq(s.n, 0);
	cr_assert_eq(walk(&s, "repositories/no.such/repo/_blobs/", &e), 0, "%s",
		     e.msg);
	cr_assert_eq(s.n, 0);
}

Test(store_fsops, walk_stops_when_the_callback_says_so)
{
	struct seen s;
	struct err e;

	for (int i = 0; i < 5; i++) {
		char rel[64];
		snprintf(rel, sizeof(rel), "tmp/f%d", i);
		put_file(rel, "x", 1000000000);
	}
	memset(&s, 0, sizeof(s));
	s.stop_after = 2;
	cr_assert_eq(f.st.ops->walk(f.st.be, "tmp/", on_key, &s, &e), 0);
	cr_assert_eq(s.n, 2);
	cr_assert_str_eq(s.keys[0], "tmp/f0");
	cr_assert_str_eq(s.keys[1], "tmp/f1");
}

Test(store_fsops, walk_nested_past_the_limit_fails_after_the_rest)
{
	char rel[1024];
	size_t n = (size_t)snprintf(rel, sizeof(rel), "deep");
	struct seen s;
	struct err e;

	for (int i = 0; i < 131; i++)
		n += (size_t)snprintf(rel + n, sizeof(rel) - n, "/d");
	snprintf(rel + n, sizeof(rel) - n, "/file");
	put_file(rel, "too deep", 1000000000);
	put_file("deep/shallow", "ok", 1000000000);
	cr_assert_eq(walk(&s, "deep/", &e), ERR_INVALID);
	cr_assert(strstr(e.msg, "levels; not visited"), "%s", e.msg);
	cr_assert_eq(s.n, 1);
	cr_assert_str_eq(s.keys[0], "deep/shallow");
}

static const char *const bad_keys[] = {
    "../outside", "/etc/passwd", "tmp/../../x", "tmp//x",
    "./tmp/x",	  "tmp/./x",	 "tmp/x/",	"",
    "tmp/x/..",	  "..",
};
#define N_BAD (sizeof(bad_keys) / sizeof(bad_keys[0]))

Test(store_fsops, invalid_keys_and_prefixes_are_refused)
{
	static const char *const bad_prefixes[] = {
	    "..",      "../",	   "/",	    "/blobs/", "blobs",
	    "blobs//", "./blobs/", "a/../", "a/./",    "blobs/sha256",
	};
	struct seen s;
	struct err e;

	put_file("tmp/x", "keep me", 1000000000);
	for (size_t i = 0; i < sizeof(bad_prefixes) / sizeof(bad_prefixes[0]);
	     i++) {
		cr_assert_eq(walk(&s, bad_prefixes[i], &e), ERR_INVALID,
			     "walk \"%s\"", bad_prefixes[i]);
		cr_assert_eq(s.n, 0);
	}
	for (size_t i = 0; i < N_BAD; i++) {
		cr_assert_eq(f.st.ops->remove(f.st.be, bad_keys[i], &e),
			     ERR_INVALID, "remove \"%s\"", bad_keys[i]);
		cr_assert(strstr(e.msg, "invalid store key"), "%s", e.msg);
		cr_assert_eq(
		    f.st.ops->move(f.st.be, bad_keys[i], "quarantine/x", &e),
		    ERR_INVALID, "move from \"%s\"", bad_keys[i]);
		cr_assert_eq(f.st.ops->move(f.st.be, "tmp/x", bad_keys[i], &e),
			     ERR_INVALID, "move to \"%s\"", bad_keys[i]);
	}
	cr_assert_str_eq(read_rel("tmp/x"), "keep me");
}

Test(store_fsops, remove_takes_one_object_and_says_when_absent)
{
	struct seen s;
	struct err e;

	put_file("repositories/example.com/app/_blobs/sha256/aa", "", 1);
	put_file("repositories/example.com/app/_blobs/sha256/bb", "", 1);
	cr_assert_eq(f.st.ops->remove(f.st.be,
				      "repositories/example.com/app/_blobs/"
				      "sha256/aa",
				      &e),
		     0, "%s", e.msg);
	cr_assert_eq(walk(&s, "repositories/", &e), 0, "%s", e.msg);
	cr_assert_eq(s.n, 1);
	cr_assert_str_eq(s.keys[0],
			 "repositories/example.com/app/_blobs/sha256/bb");
	cr_assert_eq(f.st.ops->remove(f.st.be,
				      "repositories/example.com/app/_blobs/"
				      "sha256/aa",
				      &e),
		     ERR_NOT_FOUND);
	cr_assert(strstr(e.msg, "_blobs/sha256/aa"), "%s", e.msg);
	/* a directory only when empty (gc's referrer subjects) */
	cr_assert_eq(f.st.ops->remove(f.st.be,
				      "repositories/example.com/app/_blobs/"
				      "sha256",
				      &e),
		     ERR_CONFLICT);
	cr_assert(fix_exists(&f, "repositories/example.com/app/_blobs/sha256/"
				 "bb"));
	cr_assert_eq(f.st.ops->remove(f.st.be,
				      "repositories/example.com/app/_blobs/"
				      "sha256/bb",
				      &e),
		     0, "%s", e.msg);
	cr_assert_eq(f.st.ops->remove(f.st.be,
				      "repositories/example.com/app/_blobs/"
				      "sha256",
				      &e),
		     0, "%s", e.msg);
	cr_assert(
	    !fix_exists(&f, "repositories/example.com/app/_blobs/sha256"));
	cr_assert(fix_exists(&f, "repositories/example.com/app/_blobs"));
}

Test(store_fsops, move_makes_the_target_directories_and_keeps_the_bytes)
{
	struct seen s;
	struct err e;

	put_file("blobs/sha256/not-a-digest", "junk", 1000000000);
	cr_assert(!fix_exists(&f, "quarantine"));
	cr_assert_eq(f.st.ops->move(f.st.be, "blobs/sha256/not-a-digest",
				    "quarantine/sub/sha256-not-a-digest", &e),
		     0, "%s", e.msg);
	cr_assert(!fix_exists(&f, "blobs/sha256/not-a-digest"));
	cr_assert_str_eq(read_rel("quarantine/sub/sha256-not-a-digest"),
			 "junk");
	cr_assert_eq(walk(&s, "quarantine/", &e), 0, "%s", e.msg);
	cr_assert_eq(s.n, 1);
	cr_assert_str_eq(s.keys[0], "quarantine/sub/sha256-not-a-digest");
	cr_assert_eq(s.sizes[0], 4);
	cr_assert_eq(s.mtimes[0], 1000000000, "a move keeps the mtime");
	cr_assert_eq(f.st.ops->move(f.st.be, "blobs/sha256/not-a-digest",
				    "quarantine/again", &e),
		     ERR_NOT_FOUND);
	cr_assert(!fix_exists(&f, "quarantine/again"));
}

/* tmp/ with files of known ages around cutoff, a directory and a link. */
static int64_t sweep_fixture(void)
{
	int64_t now = (int64_t)time(NULL), cutoff = now - 600;
	char target[600];

	put_file("tmp/young", "1", now - 10);
	put_file("tmp/at-cutoff", "22", cutoff);
	put_file("tmp/just-older", "333", cutoff - 1);
	put_file("tmp/old", "4444", now - 3600);
	put_file("tmp/olddir/inside", "55555", now - 3600);
	snprintf(target, sizeof(target), "%s", fix_path(&f, "tmp/old"));
	cr_assert_eq(symlink(target, fix_path(&f, "tmp/link")), 0);
	return cutoff;
}

static void assert_swept(const struct seen *s)
{
	static const char *const keys[] = {"tmp/at-cutoff", "tmp/just-older",
					   "tmp/old"};
	static const int64_t sizes[] = {2, 3, 4};

	cr_assert_eq(s->n, 3, "swept %zu", s->n);
	for (size_t i = 0; i < 3; i++) {
		int at = seen_at(s, keys[i]);
		cr_assert_geq(at, 0, "%s not swept", keys[i]);
		cr_assert_eq(s->sizes[at], sizes[i], "%s", keys[i]);
	}
}

Test(store_fsops, sweep_dry_run_reports_old_tmp_files_and_removes_none)
{
	int64_t cutoff = sweep_fixture();
	char *before = fix_tree(&f), *after;
	struct seen s;
	struct err e;

	memset(&s, 0, sizeof(s));
	cr_assert_eq(f.st.ops->sweep(f.st.be, cutoff, 1, on_key, &s, &e), 0,
		     "%s", e.msg);
	assert_swept(&s);
	after = fix_tree(&f);
	cr_assert_str_eq(after, before);
	free(before);
	free(after);
}

Test(store_fsops, sweep_removes_tmp_files_not_modified_after_the_cutoff)
{
	int64_t cutoff = sweep_fixture();
	struct seen s;
	struct err e;

	memset(&s, 0, sizeof(s));
	cr_assert_eq(f.st.ops->sweep(f.st.be, cutoff, 0, on_key, &s, &e), 0,
		     "%s", e.msg);
	assert_swept(&s);
	cr_assert(!fix_exists(&f, "tmp/at-cutoff"));
	cr_assert(!fix_exists(&f, "tmp/just-older"));
	cr_assert(!fix_exists(&f, "tmp/old"));
	cr_assert_str_eq(read_rel("tmp/young"), "1");
	cr_assert_str_eq(read_rel("tmp/olddir/inside"), "55555");
	cr_assert(fix_exists(&f, "tmp/link"), "a link is not a leftover");
	/* a second sweep finds nothing */
	memset(&s, 0, sizeof(s));
	cr_assert_eq(f.st.ops->sweep(f.st.be, cutoff, 0, on_key, &s, &e), 0,
		     "%s", e.msg);
	cr_assert_eq(s.n, 0);
}
