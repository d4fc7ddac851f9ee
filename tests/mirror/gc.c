#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mirror/store/gc.h"
#include "tests/mirror/storefix.h"

#define R "example.com/app"

static struct fix f;

/* What the world looks like (all in R):
 *   v1    -> m1 (config-1, shared, layer-one)  <- s1 (sbom) <- sig1
 *   v2    -> m2 (config-2, shared, layer-two)  <- s2 (sbom)
 *   multi -> idx (amd: config-amd + layer-amd, arm: config-arm + layer-arm)
 */
static struct oci_digest m1, m2, amd, arm, idx, s1, sig1, s2;

static const char *const l1[] = {"shared layer", "layer one"};
static const char *const l2[] = {"shared layer", "layer two"};
static const char *const lamd[] = {"layer amd"};
static const char *const larm[] = {"layer arm"};
static const char *const ls1[] = {"sbom one"};
static const char *const lsig[] = {"signature of sbom one"};
static const char *const ls2[] = {"sbom two"};

static void setup(void)
{
	fix_setup(&f);
	m1 = fix_image(&f, R, "config-1", l1, 2, NULL, NULL);
	m2 = fix_image(&f, R, "config-2", l2, 2, NULL, NULL);
	amd = fix_image(&f, R, "config-amd", lamd, 1, NULL, NULL);
	arm = fix_image(&f, R, "config-arm", larm, 1, NULL, NULL);
	idx = fix_index(&f, R, &amd, &arm);
	s1 = fix_image(&f, R, "sbom-config-1", ls1, 1, &m1,
		       "application/spdx+json");
	fix_referrer(&f, R, &m1, &s1);
	sig1 = fix_image(&f, R, "sig-config", lsig, 1, &s1,
			 "application/vnd.dev.cosign.artifact.sig.v1+json");
	fix_referrer(&f, R, &s1, &sig1);
	s2 = fix_image(&f, R, "sbom-config-2", ls2, 1, &m2,
		       "application/spdx+json");
	fix_referrer(&f, R, &m2, &s2);
	fix_tag(&f, R, "v1", &m1, MT_MANIFEST);
	fix_tag(&f, R, "v2", &m2, MT_MANIFEST);
	fix_tag(&f, R, "multi", &idx, MT_INDEX);
}

static void teardown(void)
{
	fix_teardown(&f);
}

TestSuite(gc, .init = setup, .fini = teardown);

static struct oci_digest dg(const char *text)
{
	struct oci_digest d;

	oci_digest_of(&d, OCI_SHA256, text, strlen(text));
	return d;
}

/* Removed items as "kind digest" lines, in callback order. */
struct seen {
	char lines[64][200];
	size_t n;
	char warnings[8][ERR_MSG_MAX];
	size_t nw;
};

static void on_removed(void *ctx, const struct gc_item *it)
{
	struct seen *s = ctx;

	cr_assert_lt(s->n, 64);
	snprintf(s->lines[s->n++], sizeof(s->lines[0]), "%d %s%s%s", it->kind,
		 it->digest ? it->digest : it->path, it->repo ? " " : "",
		 it->repo ? it->repo : "");
}

static void on_warn(void *ctx, const char *msg)
{
	struct seen *s = ctx;

	if (s->nw < 8)
		snprintf(s->warnings[s->nw++], sizeof(s->warnings[0]), "%s",
			 msg);
}

static int seen_has(const struct seen *s, enum gc_item_kind k,
		    const struct oci_digest *d, const char *repo)
{
	char want[200];

	snprintf(want, sizeof(want), "%d %s%s%s", k, d->str, repo ? " " : "",
		 repo ? repo : "");
	for (size_t i = 0; i < s->n; i++)
		if (!strcmp(s->lines[i], want))
			return 1;
	return 0;
}

static void run_gc(struct gc_stats *st, struct seen *s, int dry_run,
		   int64_t grace)
{
	struct gc_options o;
	struct err e;

	memset(s, 0, sizeof(*s));
	gc_options_init(&o);
	cr_assert_eq(o.grace_seconds, 600);
	o.dry_run = dry_run;
	if (grace >= 0)
		o.grace_seconds = grace;
	o.removed = on_removed;
	o.warn = on_warn;
	o.ctx = s;
	cr_assert_eq(gc_run(st, &f.st, &o, &e), 0, "%s", e.msg);
}

static void delete_tag(const char *tag)
{
	struct err e;

	cr_assert_eq(store_tag_delete(&f.st, R, tag, &e), 0, "%s", e.msg);
}

static int record(const char *sub, const struct oci_digest *d)
{
	char rel[600];

	snprintf(rel, sizeof(rel), "repositories/%s/%s/sha256/%s", R, sub,
		 oci_digest_hex(d));
	return fix_exists(&f, rel);
}

static int referrer_record(const struct oci_digest *subj,
			   const struct oci_digest *r)
{
	char rel[600];

	snprintf(rel, sizeof(rel),
		 "repositories/%s/_referrers/sha256/%s/sha256-%s", R,
		 oci_digest_hex(subj), oci_digest_hex(r));
	return fix_exists(&f, rel);
}

Test(gc, tagged_content_is_all_kept)
{
	struct gc_stats st;
	struct seen s;
	char *before, *after;

	fix_age_all(&f, 3600);
	before = fix_tree(&f);
	run_gc(&st, &s, 0, -1);
	after = fix_tree(&f);
	cr_assert_str_eq(after, before);
	cr_assert_eq(s.n, 0);
	cr_assert_eq(st.blobs + st.manifests + st.blob_records + st.referrers,
		     0);
	/* 8 manifests, 16 distinct blobs (configs and layers) */
	cr_assert_eq(st.blobs_kept, 8 + 15, "kept %zu", st.blobs_kept);
	cr_assert_eq(st.warnings, 0, "%s", s.warnings[0]);
	free(before);
	free(after);
}

Test(gc, untagged_image_goes_with_its_referrers_shared_layer_stays)
{
	struct gc_stats st;
	struct seen s;
	struct oci_digest gone[] = {m2, dg("config-2"),	     dg("layer two"),
				    s2, dg("sbom-config-2"), dg("sbom two")};
	struct oci_digest kept[] = {m1,
				    dg("config-1"),
				    dg("shared layer"),
				    dg("layer one"),
				    s1,
				    sig1,
				    dg("sbom one"),
				    dg("signature of sbom one"),
				    idx,
				    amd,
				    arm,
				    dg("layer amd"),
				    dg("layer arm"),
				    dg("config-amd"),
				    dg("config-arm")};
	uint64_t bytes = 0;

	fix_age_all(&f, 3600);
	delete_tag("v2");
	run_gc(&st, &s, 0, -1);

	for (size_t i = 0; i < 6; i++) {
		cr_assert(!fix_blob_present(&f, &gone[i]), "%s still there",
			  gone[i].str);
		cr_assert(seen_has(&s, GC_ITEM_BLOB, &gone[i], NULL), "%s",
			  gone[i].str);
	}
	bytes = strlen("config-2") + strlen("layer two") +
		strlen("sbom-config-2") + strlen("sbom two");
	for (size_t i = 0; i < sizeof(kept) / sizeof(kept[0]); i++)
		cr_assert(fix_blob_present(&f, &kept[i]), "%s removed",
			  kept[i].str);
	cr_assert_eq(st.blobs, 6);
	cr_assert_gt(st.blob_bytes, bytes); /* plus the two manifests */
	cr_assert_eq(st.manifests, 2);
	cr_assert_eq(st.blob_records, 4);
	cr_assert_eq(st.referrers, 1);
	cr_assert_eq(s.n, 6 + 2 + 4 + 1);
	cr_assert(seen_has(&s, GC_ITEM_MANIFEST, &m2, R));
	cr_assert(seen_has(&s, GC_ITEM_MANIFEST, &s2, R));
	cr_assert(seen_has(&s, GC_ITEM_REFERRER, &s2, R));
	cr_assert(seen_has(&s, GC_ITEM_BLOB_RECORD, &gone[1], R));
	/* records */
	cr_assert(!record("_manifests", &m2));
	cr_assert(!record("_manifests", &s2));
	cr_assert(record("_manifests", &m1));
	cr_assert(record("_manifests", &s1));
	cr_assert(record("_manifests", &sig1));
	cr_assert(record("_manifests", &amd));
	cr_assert(!record("_blobs", &gone[2]));
	cr_assert(record("_blobs", &kept[2]), "shared layer record removed");
	cr_assert(!referrer_record(&m2, &s2));
	{
		char rel[600];
		snprintf(rel, sizeof(rel),
			 "repositories/%s/_referrers/sha256/%s", R,
			 oci_digest_hex(&m2));
		cr_assert(!fix_exists(&f, rel), "empty subject directory left");
	}
	cr_assert(referrer_record(&m1, &s1));
	cr_assert(referrer_record(&s1, &sig1));
	cr_assert_eq(st.warnings, 0, "%s", s.warnings[0]);
	/* a second run finds nothing */
	run_gc(&st, &s, 0, -1);
	cr_assert_eq(s.n, 0);
}

Test(gc, untagged_index_goes_with_its_children)
{
	struct gc_stats st;
	struct seen s;

	fix_age_all(&f, 3600);
	delete_tag("multi");
	run_gc(&st, &s, 0, -1);
	cr_assert_eq(st.blobs, 7); /* index, 2 children, 2 configs, 2 layers */
	cr_assert_eq(st.manifests, 3);
	cr_assert(!fix_blob_present(&f, &idx));
	cr_assert(!fix_blob_present(&f, &amd));
	cr_assert(!fix_blob_present(&f, &arm));
	cr_assert(fix_blob_present(&f, &m1));
	cr_assert(fix_blob_present(&f, &m2));
}

Test(gc, dry_run_changes_nothing_and_reports_the_same)
{
	struct gc_stats dry, real;
	struct seen sd, sr;
	char *before, *after;

	fix_age_all(&f, 3600);
	delete_tag("v2");
	before = fix_tree(&f);
	run_gc(&dry, &sd, 1, -1);
	after = fix_tree(&f);
	cr_assert_str_eq(after, before);
	cr_assert(fix_blob_present(&f, &m2));
	cr_assert(referrer_record(&m2, &s2));
	run_gc(&real, &sr, 0, -1);
	cr_assert_eq(dry.blobs, 6);
	cr_assert_eq(dry.blobs, real.blobs);
	cr_assert_eq(dry.blob_bytes, real.blob_bytes);
	cr_assert_eq(dry.manifests, real.manifests);
	cr_assert_eq(dry.blob_records, real.blob_records);
	cr_assert_eq(dry.referrers, real.referrers);
	cr_assert_eq(sd.n, sr.n);
	for (size_t i = 0; i < sd.n; i++)
		cr_assert_str_eq(sd.lines[i], sr.lines[i]);
	cr_assert(!fix_blob_present(&f, &m2));
	free(before);
	free(after);
}

Test(gc, grace_period_keeps_recent_files)
{
	struct gc_stats st;
	struct seen s;
	struct oci_digest two = dg("layer two");
	char *p;
	FILE *t;

	fix_age_all(&f, 3600);
	delete_tag("v2");
	/* just written: a blob and an upload in tmp/; an old upload */
	p = fix_blob_path(&f.st, &two);
	fix_age(p, 10);
	free(p);
	t = fopen(fix_path(&f, "tmp/upload-new"), "w");
	cr_assert(t);
	fputs("partial", t);
	fclose(t);
	t = fopen(fix_path(&f, "tmp/upload-old"), "w");
	cr_assert(t);
	fputs("abandoned!", t);
	fclose(t);
	fix_age(fix_path(&f, "tmp/upload-old"), 601);

	run_gc(&st, &s, 0, -1);
	cr_assert(fix_blob_present(&f, &two));
	cr_assert_eq(st.young_kept, 1);
	cr_assert_eq(st.blobs, 5);
	cr_assert(!fix_blob_present(&f, &m2));
	cr_assert(fix_exists(&f, "tmp/upload-new"));
	cr_assert(!fix_exists(&f, "tmp/upload-old"));
	cr_assert_eq(st.tmp_files, 1);
	cr_assert_eq(st.tmp_bytes, 10);

	/* grace 0: the recent blob goes too */
	run_gc(&st, &s, 0, 0);
	cr_assert(!fix_blob_present(&f, &two));
	cr_assert_eq(st.blobs, 1);
	cr_assert(!fix_exists(&f, "tmp/upload-new"));
}

Test(gc, nothing_recent_is_removed_with_the_default_grace)
{
	struct gc_stats st;
	struct seen s;

	delete_tag("v2"); /* everything was written just now */
	run_gc(&st, &s, 0, -1);
	cr_assert_eq(s.n, 0);
	cr_assert(fix_blob_present(&f, &m2));
	cr_assert(fix_blob_present(&f, &s2));
	cr_assert(record("_manifests", &m2));
}

Test(gc, recent_manifest_record_is_a_root)
{
	struct gc_stats st;
	struct seen s;

	fix_age_all(&f, 3600);
	delete_tag("v2");
	/* a push in progress: manifest linked, tag not yet written */
	fix_age(fix_path(&f, "repositories/%s/_manifests/sha256/%s", R,
			 oci_digest_hex(&m2)),
		5);
	run_gc(&st, &s, 0, -1);
	cr_assert_eq(s.n, 0, "removed %s", s.lines[0]);
	cr_assert(fix_blob_present(&f, &m2));
	cr_assert(fix_blob_present(&f, &s2));
	cr_assert(referrer_record(&m2, &s2));
}

Test(gc, blob_shared_with_another_repository_is_kept)
{
	struct gc_stats st;
	struct seen s;
	struct oci_digest c;
	const char *b = "other.example/copy";

	c = fix_image(&f, b, "config-1", l1, 2, NULL, NULL);
	cr_assert(oci_digest_equal(&c, &m1));
	fix_tag(&f, b, "latest", &c, MT_MANIFEST);
	fix_age_all(&f, 3600);
	delete_tag("v1");
	run_gc(&st, &s, 0, -1);
	cr_assert(fix_blob_present(&f, &m1));
	cr_assert(fix_blob_present(&f, &s1) == 0, "referrer of m1 in R goes");
	cr_assert(!record("_manifests", &m1));
	cr_assert(seen_has(&s, GC_ITEM_MANIFEST, &m1, R));
	cr_assert(!seen_has(&s, GC_ITEM_BLOB, &m1, NULL));
	cr_assert(store_blob_linked(&f.st, b, &m1) ==
		  0); /* manifest: no _blobs */
	{
		struct oci_digest one = dg("layer one");
		cr_assert(fix_blob_present(&f, &one));
		cr_assert(store_blob_linked(&f.st, b, &one));
		cr_assert(!store_blob_linked(&f.st, R, &one));
	}
}

Test(gc, unreadable_manifest_stops_the_blob_sweep)
{
	struct gc_stats st;
	struct seen s;
	char *p = fix_blob_path(&f.st, &m1);
	FILE *w;

	fix_age_all(&f, 3600);
	delete_tag("v2");
	w = fopen(p, "w");
	cr_assert(w);
	fputs("{not json", w);
	fclose(w);
	fix_age(p, 3600);
	free(p);
	run_gc(&st, &s, 0, -1);
	cr_assert_eq(st.unreadable, 1);
	cr_assert(st.blob_sweep_skipped);
	cr_assert_eq(st.blobs, 0);
	cr_assert(fix_blob_present(&f, &m2));
	{
		struct oci_digest two = dg("layer two");
		cr_assert(fix_blob_present(&f, &two));
	}
	cr_assert(record("_manifests", &m2), "records of R left alone");
	cr_assert_geq(s.nw, 1);
	cr_assert(strstr(s.warnings[0], m1.str), "%s", s.warnings[0]);
}

Test(gc, referrer_chain_deeper_than_the_limit_is_not_followed)
{
	struct gc_stats st;
	struct seen s;
	struct oci_digest prev = m1, cur;
	char cfg[64];

	for (int i = 0; i < GC_DEPTH_MAX + 4; i++) {
		snprintf(cfg, sizeof(cfg), "chain-config-%d", i);
		cur = fix_image(&f, R, cfg, NULL, 0, &prev,
				"application/x-chain");
		fix_referrer(&f, R, &prev, &cur);
		prev = cur;
	}
	fix_age_all(&f, 3600);
	run_gc(&st, &s, 0, -1);
	cr_assert(st.blob_sweep_skipped);
	cr_assert_eq(st.blobs, 0);
	cr_assert(fix_blob_present(&f, &cur));
	cr_assert(strstr(s.warnings[0], "deeper"), "%s", s.warnings[0]);
}

/* Records under a name the grammar refuses (a store written by an older,
 * looser version): the walk cannot visit them, so it says so and gc keeps
 * every blob rather than sweeping what they may reference. */
static void invalid_name_keeps_blobs(const char *dir, const char *why)
{
	struct gc_stats st;
	struct seen s;
	char rel[700];
	struct oci_digest one = dg("layer one");

	delete_tag("v1");
	fix_age_all(&f, 3600);
	snprintf(rel, sizeof(rel), "%s/repositories/%s/_tags", f.root, dir);
	cr_assert_eq(fix_mkdirs(rel), 0, "%s", rel);
	run_gc(&st, &s, 0, 0);
	cr_assert(st.blob_sweep_skipped);
	cr_assert_eq(st.blobs, 0);
	cr_assert(fix_blob_present(&f, &one));
	cr_assert_geq(s.nw, 1);
	cr_assert(strstr(s.warnings[s.nw - 1], why), "%s",
		  s.warnings[s.nw - 1]);
}

Test(gc, records_under_an_invalid_name_stop_the_blob_sweep)
{
	invalid_name_keeps_blobs("my-.registry:99999/new",
				 "not a valid repository name");
}

Test(gc, repositories_nested_past_the_walk_limit_stop_the_blob_sweep)
{
	char dir[600];
	size_t n = (size_t)snprintf(dir, sizeof(dir), "deep");

	for (int i = 0; i < 131; i++)
		n += (size_t)snprintf(dir + n, sizeof(dir) - n, "/d");
	invalid_name_keeps_blobs(dir, "levels; not visited");
}
