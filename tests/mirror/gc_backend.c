/* gc over the backend's operations: the leftovers a backend's sweep
 * reports (S3's multipart uploads and upload sessions), told apart from
 * tmp/ files; a backend that cannot list its objects. The filesystem
 * backend with its sweep wrapped stands in for S3. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mirror/store/backend.h"
#include "mirror/store/gc.h"
#include "tests/mirror/storefix.h"

static struct fix f;
static struct store_ops ops;

static struct {
	int calls, dry_run, fail;
	int64_t cutoff;
} sweeps;

/* The filesystem's tmp/ sweep, then two leftovers of a remote store. */
static int fake_sweep(void *be, int64_t cutoff, int dry_run, store_walk_fn cb,
		      void *ctx, struct err *err)
{
	int rc = fs_store_ops.sweep(be, cutoff, dry_run, cb, ctx, err);

	sweeps.calls++;
	sweeps.dry_run = dry_run;
	sweeps.cutoff = cutoff;
	if (rc)
		return rc;
	if (sweeps.fail)
		return err_set(err, ERR_FAIL, "abort multipart upload x: 503");
	cb(ctx, "multipart blobs/sha256/abc", 5 * 1024 * 1024, cutoff - 1);
	cb(ctx, "upload 1234-abcd", -1, cutoff - 1);
	return 0;
}

static void setup(void)
{
	fix_setup(&f);
	memset(&sweeps, 0, sizeof(sweeps));
	ops = fs_store_ops;
	ops.sweep = fake_sweep;
	f.st.ops = &ops;
}

static void teardown(void)
{
	f.st.ops = &fs_store_ops;
	fix_teardown(&f);
}

TestSuite(gc_backend, .init = setup, .fini = teardown);

struct items {
	int kind[8];
	char path[8][200];
	int64_t size[8];
	int global[8]; /* no repository, no digest */
	size_t n;
	char warning[ERR_MSG_MAX];
};

static void on_removed(void *ctx, const struct gc_item *it)
{
	struct items *s = ctx;

	cr_assert_lt(s->n, 8);
	s->kind[s->n] = it->kind;
	snprintf(s->path[s->n], sizeof(s->path[0]), "%s", it->path);
	s->size[s->n] = it->size;
	s->global[s->n] = !it->repo && !it->digest && !it->subject;
	s->n++;
}

static void on_warn(void *ctx, const char *msg)
{
	struct items *s = ctx;

	snprintf(s->warning, sizeof(s->warning), "%s", msg);
}

static int run(struct gc_stats *st, struct items *s, int dry_run, struct err *e)
{
	struct gc_options o;

	memset(s, 0, sizeof(*s));
	gc_options_init(&o);
	o.dry_run = dry_run;
	o.removed = on_removed;
	o.warn = on_warn;
	o.ctx = s;
	return gc_run(st, &f.st, &o, e);
}

static void old_tmp_file(void)
{
	FILE *w = fopen(fix_path(&f, "tmp/abandoned"), "w");

	cr_assert(w);
	fputs("partial", w);
	fclose(w);
	fix_age(fix_path(&f, "tmp/abandoned"), 3600);
}

Test(gc_backend, leftovers_are_counted_apart_from_tmp_files)
{
	struct gc_stats st;
	struct items s;
	struct err e;
	int64_t before = (int64_t)time(NULL);

	old_tmp_file();
	cr_assert_eq(run(&st, &s, 1, &e), 0, "%s", e.msg);
	cr_assert_eq(sweeps.calls, 1);
	cr_assert_eq(sweeps.dry_run, 1);
	/* the grace period's cutoff */
	cr_assert_geq(sweeps.cutoff, before - GC_GRACE_DEFAULT);
	cr_assert_leq(sweeps.cutoff, (int64_t)time(NULL) - GC_GRACE_DEFAULT);
	cr_assert_eq(st.tmp_files, 1);
	cr_assert_eq(st.tmp_bytes, 7);
	cr_assert_eq(st.leftovers, 2);
	cr_assert_eq(st.leftover_bytes, 5 * 1024 * 1024);
	cr_assert_eq(st.errors + st.warnings, 0, "%s", s.warning);
	cr_assert_eq(s.n, 3);
	cr_assert_eq(s.kind[0], GC_ITEM_TMP);
	cr_assert_str_eq(s.path[0], "tmp/abandoned");
	cr_assert_eq(s.size[0], 7);
	cr_assert_eq(s.kind[1], GC_ITEM_LEFTOVER);
	cr_assert_str_eq(s.path[1], "multipart blobs/sha256/abc");
	cr_assert_eq(s.size[1], 5 * 1024 * 1024);
	cr_assert_eq(s.kind[2], GC_ITEM_LEFTOVER);
	cr_assert_str_eq(s.path[2], "upload 1234-abcd");
	cr_assert_eq(s.size[2], 0, "an unknown size counts as 0");
	for (size_t i = 0; i < s.n; i++)
		cr_assert(s.global[i], "%s", s.path[i]);
	cr_assert(fix_exists(&f, "tmp/abandoned"), "dry run");

	cr_assert_eq(run(&st, &s, 0, &e), 0, "%s", e.msg);
	cr_assert_eq(sweeps.dry_run, 0);
	cr_assert_eq(st.tmp_files, 1);
	cr_assert(!fix_exists(&f, "tmp/abandoned"));
}

Test(gc_backend, a_failed_sweep_is_a_warning_and_an_error)
{
	struct gc_stats st;
	struct items s;
	struct err e;

	sweeps.fail = 1;
	cr_assert_eq(run(&st, &s, 0, &e), 0, "%s", e.msg);
	cr_assert_eq(st.errors, 1);
	cr_assert_eq(st.warnings, 1);
	cr_assert_str_eq(s.warning, "abort multipart upload x: 503");
	cr_assert_eq(st.leftovers, 0);
}

Test(gc_backend, a_backend_that_cannot_list_is_refused)
{
	struct gc_stats st;
	struct items s;
	struct err e;

	ops.walk = NULL;
	cr_assert_eq(run(&st, &s, 1, &e), ERR_UNSUPPORTED);
	cr_assert(strstr(e.msg, "cannot list its objects"), "%s", e.msg);
	cr_assert_eq(sweeps.calls, 0);
	cr_assert_eq(s.n, 0);
}
