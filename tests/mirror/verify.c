#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mirror/store/verify.h"
#include "tests/mirror/storefix.h"

#define R "example.com/app"

static struct fix f;
static struct oci_digest m1, m2, idx, amd, arm, s1;

static const char *const l1[] = {"shared layer", "layer one"};
static const char *const l2[] = {"shared layer", "layer two"};
static const char *const lamd[] = {"layer amd"};
static const char *const larm[] = {"layer arm"};
static const char *const ls1[] = {"sbom one"};

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
	fix_tag(&f, R, "v1", &m1, MT_MANIFEST);
	fix_tag(&f, R, "v2", &m2, MT_MANIFEST);
	fix_tag(&f, R, "multi", &idx, MT_INDEX);
}

static void teardown(void)
{
	fix_teardown(&f);
}

TestSuite(verify, .init = setup, .fini = teardown);

struct problems {
	struct {
		enum verify_kind kind;
		char repo[128], tag[64], manifest[80], digest[300],
		    quarantine[300], message[ERR_MSG_MAX];
	} p[16];
	size_t n;
};

static void on_problem(void *ctx, const struct verify_problem *p)
{
	struct problems *ps = ctx;

	cr_assert_lt(ps->n, 16);
	ps->p[ps->n].kind = p->kind;
#define CP(field)                                                              \
	snprintf(ps->p[ps->n].field, sizeof(ps->p[ps->n].field), "%s",         \
		 p->field ? p->field : "")
	CP(repo);
	CP(tag);
	CP(manifest);
	CP(digest);
	CP(quarantine);
	CP(message);
#undef CP
	ps->n++;
}

static void run_verify(struct verify_stats *st, struct problems *ps)
{
	struct verify_options o = {on_problem, ps};
	struct err e;

	memset(ps, 0, sizeof(*ps));
	cr_assert_eq(verify_run(st, &f.st, &o, &e), 0, "%s", e.msg);
}

static struct oci_digest dg(const char *text)
{
	struct oci_digest d;

	oci_digest_of(&d, OCI_SHA256, text, strlen(text));
	return d;
}

static void overwrite(const struct oci_digest *d, const char *text)
{
	char *p = fix_blob_path(&f.st, d);
	FILE *w = fopen(p, "w");

	cr_assert(w, "%s", p);
	fputs(text, w);
	fclose(w);
	free(p);
}

Test(verify, clean_store_has_no_problems)
{
	struct verify_stats st;
	struct problems ps;

	run_verify(&st, &ps);
	cr_assert_eq(ps.n, 0, "%s", ps.p[0].message);
	/* 6 manifests, 11 distinct configs and layers */
	cr_assert_eq(st.blobs, 17);
	cr_assert_eq(st.tags, 3);
	cr_assert_eq(st.manifests, 6);
	cr_assert_eq(st.corrupt + st.missing + st.unreadable + st.quarantined,
		     0);
	cr_assert_gt(st.bytes, 0);
	cr_assert(!fix_exists(&f, "quarantine"));
}

Test(verify, corrupt_blob_is_quarantined_and_the_rest_verifies)
{
	struct verify_stats st;
	struct problems ps;
	struct oci_digest one = dg("layer one"), bad = dg("layer 0ne");
	char rel[300];
	char *back = NULL;
	size_t n;
	struct err e;

	overwrite(&one, "layer 0ne"); /* one byte differs */
	run_verify(&st, &ps);
	cr_assert_eq(st.corrupt, 1);
	cr_assert_eq(st.quarantined, 1);
	cr_assert_eq(st.blobs, 17);
	cr_assert_eq(ps.p[0].kind, VERIFY_CORRUPT);
	cr_assert_str_eq(ps.p[0].digest, one.str);
	snprintf(rel, sizeof(rel), "quarantine/sha256-%s",
		 oci_digest_hex(&one));
	cr_assert_str_eq(ps.p[0].quarantine, rel);
	cr_assert(strstr(ps.p[0].message, bad.str), "%s", ps.p[0].message);
	/* moved, not deleted: same bytes */
	cr_assert(!fix_blob_present(&f, &one));
	cr_assert(fix_exists(&f, rel));
	{
		FILE *r = fopen(fix_path(&f, "%s", rel), "r");
		char got[32] = "";
		cr_assert(r);
		cr_assert(fgets(got, sizeof(got), r));
		fclose(r);
		cr_assert_str_eq(got, "layer 0ne");
	}
	/* the image that used it is now incomplete; nothing else is */
	cr_assert_eq(st.missing, 1);
	cr_assert_eq(ps.n, 2);
	cr_assert_eq(ps.p[1].kind, VERIFY_MISSING_BLOB);
	cr_assert_str_eq(ps.p[1].repo, R);
	cr_assert_str_eq(ps.p[1].manifest, m1.str);
	cr_assert_str_eq(ps.p[1].digest, one.str);
	/* everything else still reads back */
	cr_assert_eq(store_blob_read(&back, &n, &f.st, &m2, 4096, &e), 0);
	free(back);

	/* putting the right bytes back makes it clean again */
	fix_blob(&f, "layer one");
	run_verify(&st, &ps);
	cr_assert_eq(ps.n, 0, "%s", ps.p[0].message);
	cr_assert(fix_exists(&f, rel), "quarantine is kept");
}

Test(verify, missing_layer_is_reported_not_changed)
{
	struct verify_stats st;
	struct problems ps;
	struct oci_digest amdl = dg("layer amd");
	char *p = fix_blob_path(&f.st, &amdl);
	char *before, *after;

	cr_assert_eq(unlink(p), 0);
	free(p);
	before = fix_tree(&f);
	run_verify(&st, &ps);
	after = fix_tree(&f);
	cr_assert_str_eq(after, before);
	cr_assert_eq(st.missing, 1);
	cr_assert_eq(st.corrupt, 0);
	cr_assert_eq(ps.n, 1);
	cr_assert_eq(ps.p[0].kind, VERIFY_MISSING_BLOB);
	cr_assert_str_eq(ps.p[0].manifest, amd.str);
	cr_assert_str_eq(ps.p[0].digest, amdl.str);
	cr_assert(strstr(ps.p[0].message, "layer"), "%s", ps.p[0].message);
	free(before);
	free(after);
}

Test(verify, tag_whose_manifest_is_missing_is_reported)
{
	struct verify_stats st;
	struct problems ps;
	char *p = fix_blob_path(&f.st, &m2);
	size_t tags = 0, records = 0;

	cr_assert_eq(unlink(p), 0);
	free(p);
	run_verify(&st, &ps);
	cr_assert_eq(st.missing, 2); /* the tag and the manifest record */
	for (size_t i = 0; i < ps.n; i++) {
		cr_assert_eq(ps.p[i].kind, VERIFY_MISSING_MANIFEST);
		cr_assert_str_eq(ps.p[i].manifest, m2.str);
		if (!strcmp(ps.p[i].tag, "v2"))
			tags++;
		else
			records++;
	}
	cr_assert_eq(tags, 1);
	cr_assert_eq(records, 1);
}

Test(verify, stray_file_in_blobs_is_quarantined)
{
	struct verify_stats st;
	struct problems ps;
	FILE *w = fopen(fix_path(&f, "blobs/sha256/not-a-digest"), "w");

	cr_assert(w);
	fputs("junk", w);
	fclose(w);
	run_verify(&st, &ps);
	cr_assert_eq(ps.n, 1);
	cr_assert_eq(ps.p[0].kind, VERIFY_STRAY);
	cr_assert_str_eq(ps.p[0].quarantine, "quarantine/sha256-not-a-digest");
	cr_assert(fix_exists(&f, "quarantine/sha256-not-a-digest"));
	cr_assert(!fix_exists(&f, "blobs/sha256/not-a-digest"));
	cr_assert_eq(st.corrupt, 1);
}

Test(verify, second_quarantine_of_a_digest_does_not_overwrite)
{
	struct verify_stats st;
	struct problems ps;
	struct oci_digest one = dg("layer one");
	char rel[300];

	overwrite(&one, "first bad");
	run_verify(&st, &ps);
	overwrite(&one, "second bad");
	run_verify(&st, &ps);
	cr_assert_eq(st.quarantined, 1);
	snprintf(rel, sizeof(rel), "quarantine/sha256-%s.1",
		 oci_digest_hex(&one));
	cr_assert_str_eq(ps.p[0].quarantine, rel);
	cr_assert(fix_exists(&f, rel));
	rel[strlen(rel) - 2] = '\0';
	cr_assert(fix_exists(&f, rel));
}

/* A manifest in R with config "config-1" and one layer descriptor. */
static struct oci_digest lying_image(const char *layer_mt,
				     const struct oci_digest *ld,
				     long long lsize, long long csize)
{
	char json[2048], c[512], l[512];
	struct oci_digest cfg = dg("config-1");

	fix_desc(c, sizeof(c), MT_CONFIG, &cfg, csize);
	fix_desc(l, sizeof(l), layer_mt, ld, lsize);
	snprintf(json, sizeof(json),
		 "{\"schemaVersion\":2,\"mediaType\":\"%s\",\"config\":%s,"
		 "\"layers\":[%s]}",
		 MT_MANIFEST, c, l);
	return fix_manifest(&f, R, json, MT_MANIFEST);
}

Test(verify, a_layer_whose_descriptor_size_lies_is_reported)
{
	struct verify_stats st;
	struct problems ps;
	struct oci_digest big, m;
	static char text[7001];
	char want[200];

	memset(text, 'B', 7000);
	big = fix_blob(&f, text);
	m = lying_image(MT_LAYER, &big, 10, 8);
	run_verify(&st, &ps);
	cr_assert_eq(ps.n, 1, "%s", ps.p[1].message);
	cr_assert_eq(st.mismatched, 1);
	cr_assert_eq(st.missing + st.corrupt + st.unreadable, 0);
	cr_assert_eq(ps.p[0].kind, VERIFY_SIZE_MISMATCH);
	cr_assert_str_eq(ps.p[0].repo, R);
	cr_assert_str_eq(ps.p[0].manifest, m.str);
	cr_assert_str_eq(ps.p[0].digest, big.str);
	snprintf(want, sizeof(want), "layer %s is 7000 bytes, the manifest "
				     "says 10",
		 big.str);
	cr_assert(strstr(ps.p[0].message, want), "%s", ps.p[0].message);
}

Test(verify, a_config_and_an_index_child_whose_sizes_lie_are_reported)
{
	struct verify_stats st;
	struct problems ps;
	struct oci_digest one = dg("layer one"), m, ix;
	char json[2048];

	m = lying_image(MT_LAYER, &one, 9, 7); /* "config-1" is 8 bytes */
	snprintf(json, sizeof(json),
		 "{\"schemaVersion\":2,\"mediaType\":\"%s\",\"manifests\":["
		 "{\"mediaType\":\"%s\",\"digest\":\"%s\",\"size\":1}]}",
		 MT_INDEX, MT_MANIFEST, m1.str);
	ix = fix_manifest(&f, R, json, MT_INDEX);
	run_verify(&st, &ps);
	cr_assert_eq(st.mismatched, 2);
	cr_assert_eq(ps.n, 2);
	for (size_t i = 0; i < ps.n; i++) {
		cr_assert_eq(ps.p[i].kind, VERIFY_SIZE_MISMATCH);
		if (!strcmp(ps.p[i].manifest, m.str)) {
			cr_assert_str_eq(ps.p[i].digest, dg("config-1").str);
			cr_assert(strstr(ps.p[i].message,
					 "is 8 bytes, the manifest says 7"),
				  "%s", ps.p[i].message);
		} else {
			cr_assert_str_eq(ps.p[i].manifest, ix.str);
			cr_assert_str_eq(ps.p[i].digest, m1.str);
		}
	}
}

Test(verify, a_non_distributable_layer_need_not_be_stored)
{
	struct verify_stats st;
	struct problems ps;
	struct oci_digest absent = dg("foreign layer"), one = dg("layer one");

	lying_image("application/vnd.oci.image.layer.nondistributable.v1.tar",
		    &absent, 13, 8);
	lying_image("application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
		    &absent, 13, 8);
	run_verify(&st, &ps);
	cr_assert_eq(ps.n, 0, "%s", ps.p[0].message);
	/* stored, its size still counts */
	lying_image("application/vnd.oci.image.layer.nondistributable.v1.tar",
		    &one, 3, 8);
	run_verify(&st, &ps);
	cr_assert_eq(st.mismatched, 1);
	cr_assert_str_eq(ps.p[0].digest, one.str);
	/* an ordinary layer that is not stored is missing */
	lying_image(MT_LAYER, &absent, 13, 8);
	run_verify(&st, &ps);
	cr_assert_eq(st.missing, 1);
	cr_assert_eq(ps.n, 2);
	{
		size_t k = ps.p[0].kind == VERIFY_MISSING_BLOB ? 0 : 1;
		cr_assert_eq(ps.p[k].kind, VERIFY_MISSING_BLOB);
		cr_assert_str_eq(ps.p[k].digest, absent.str);
	}
}
