/* pull_run against the project's own server, in-process on loopback. */
#include <criterion/criterion.h>
#include <string.h>

#include "loopfix.h"
#include "mirror/pull.h"

struct app {
	struct oci_digest index, amd, arm;
	struct oci_digest amd_layer, arm_layer, amd_config, arm_config;
};

/* team/app:v1, an index over an amd64 and an arm64 image; the blobs'
 * digests for the assertions. */
static struct app serve_app(struct loop *l)
{
	static const char *const amd_layers[] = {"amd64 layer bytes"};
	static const char *const arm_layers[] = {"arm64 layer bytes"};
	struct app a;
	struct fix *f = &l->remote;

	a.amd = fix_image(f, "team/app", "{\"architecture\":\"amd64\"}",
			  amd_layers, 1, NULL, NULL);
	a.arm = fix_image(f, "team/app", "{\"architecture\":\"arm64\"}",
			  arm_layers, 1, NULL, NULL);
	a.index = fix_index(f, "team/app", &a.amd, &a.arm);
	fix_tag(f, "team/app", "v1", &a.index, MT_INDEX);
	oci_digest_of(&a.amd_layer, OCI_SHA256, amd_layers[0],
		      strlen(amd_layers[0]));
	oci_digest_of(&a.arm_layer, OCI_SHA256, arm_layers[0],
		      strlen(arm_layers[0]));
	oci_digest_of(&a.amd_config, OCI_SHA256, "{\"architecture\":\"amd64\"}",
		      strlen("{\"architecture\":\"amd64\"}"));
	oci_digest_of(&a.arm_config, OCI_SHA256, "{\"architecture\":\"arm64\"}",
		      strlen("{\"architecture\":\"arm64\"}"));
	return a;
}

static void item_of(struct pull_item *it, const char *ref)
{
	struct err e;

	memset(it, 0, sizeof(*it));
	cr_assert_eq(oci_ref_parse(&it->ref, ref, &e), 0, "%s: %s", ref, e.msg);
}

static void run(struct pull_result *res, struct fix *local, struct loop *l,
		const struct pull_item *items, size_t n)
{
	struct pull_options o;

	memset(&o, 0, sizeof(o));
	o.concurrency = 4;
	pull_run(res, &local->st, &l->pool, items, n, &o);
}

/* Each test: a server (l.remote behind it) and an empty local store. */
static struct loop l;
static struct fix local;

static void setup(void)
{
	loop_start(&l, 0);
	fix_setup(&local);
}

static void teardown(void)
{
	fix_teardown(&local);
	loop_stop(&l);
}

TestSuite(pull, .init = setup, .fini = teardown);

Test(pull, one_platform_of_an_index_and_the_tag_last)
{
	struct app a;
	struct pull_item it;
	struct pull_result res;
	struct oci_platform arm;
	struct store_ref sr;
	char repo[300];
	struct err e;

	a = serve_app(&l);
	item_of(&it, loop_ref(&l, "team/app:v1"));
	cr_assert_eq(oci_platform_parse(&arm, "linux/arm64", &e), 0);
	it.platforms = &arm;
	it.n_platforms = 1;
	run(&res, &local, &l, &it, 1);
	cr_assert_eq(res.result, 0, "%s", res.err.msg);
	cr_expect_str_eq(res.ref, loop_ref(&l, "team/app:v1"));
	cr_expect_str_eq(res.digest.str, a.index.str);
	cr_expect_str_eq(res.media_type, MT_INDEX);
	cr_expect_eq(res.manifests, 2); /* the arm64 image and the index */
	cr_expect_eq(res.blobs, 2);
	cr_expect_eq(res.blobs_fetched, 2);
	cr_expect_eq(res.bytes_fetched,
		     strlen("arm64 layer bytes") +
			 strlen("{\"architecture\":\"arm64\"}"));

	snprintf(repo, sizeof(repo), "%s/team/app", l.host);
	cr_assert_eq(store_tag_get(&sr, &local.st, repo, "v1", &e), 0, "%s",
		     e.msg);
	cr_expect_str_eq(sr.digest.str, a.index.str);
	cr_expect_str_eq(sr.media_type, MT_INDEX);
	cr_expect_eq(store_manifest_get(&sr, &local.st, repo, &a.arm, &e), 0);
	cr_expect_neq(store_manifest_get(&sr, &local.st, repo, &a.amd, &e), 0,
		      "amd64 was not asked for");
	cr_expect(fix_blob_present(&local, &a.arm_layer));
	cr_expect(fix_blob_present(&local, &a.arm_config));
	cr_expect(!fix_blob_present(&local, &a.amd_layer));
	cr_expect(!fix_blob_present(&local, &a.amd_config));
}

Test(pull, shared_blobs_fetched_once_and_a_rerun_fetches_nothing)
{
	static const char *const layers[] = {"amd64 layer bytes"};
	struct app a;
	struct oci_digest other;
	struct pull_item it[2];
	struct pull_result res[2];
	struct store_ref sr;
	struct err e;

	a = serve_app(&l);
	/* a second repository whose only layer is the amd64 image's */
	other = fix_image(&l.remote, "team/other", "{\"other\":1}", layers, 1,
			  NULL, NULL);
	fix_tag(&l.remote, "team/other", "v2", &other, MT_MANIFEST);
	item_of(&it[0], loop_ref(&l, "team/app:v1"));
	item_of(&it[1], loop_ref(&l, "team/other:v2"));
	it[1].dest = "mirror/other";
	run(res, &local, &l, it, 2);
	cr_assert_eq(res[0].result, 0, "%s", res[0].err.msg);
	cr_assert_eq(res[1].result, 0, "%s", res[1].err.msg);
	cr_expect_eq(res[0].manifests, 3);
	cr_expect_eq(res[0].blobs, 4);
	cr_expect_eq(res[1].blobs, 2);
	/* 5 distinct blobs, each fetched once, counted for the first
	 * reference needing it */
	cr_expect_eq(res[0].blobs_fetched + res[1].blobs_fetched, 5);
	cr_expect_eq(res[0].blobs_fetched, 4);
	cr_expect_str_eq(res[1].digest.str, other.str);
	cr_assert_eq(store_tag_get(&sr, &local.st, "mirror/other", "v2", &e), 0,
		     "%s", e.msg);
	cr_expect_str_eq(sr.digest.str, other.str);
	cr_expect(fix_blob_present(&local, &a.amd_layer));

	run(res, &local, &l, it, 2);
	cr_assert_eq(res[0].result, 0, "%s", res[0].err.msg);
	cr_assert_eq(res[1].result, 0, "%s", res[1].err.msg);
	cr_expect_eq(res[0].blobs, 4);
	cr_expect_eq(res[0].blobs_fetched + res[1].blobs_fetched, 0);
	cr_expect_eq(res[0].bytes_fetched + res[1].bytes_fetched, 0);
}

Test(pull, plan_only_counts_what_is_missing_and_writes_nothing)
{
	struct app a;
	struct pull_item it;
	struct pull_result res;
	struct pull_options o;
	struct store_ref sr;
	char repo[300];
	struct err e;

	a = serve_app(&l);
	item_of(&it, loop_ref(&l, "team/app:v1"));
	memset(&o, 0, sizeof(o));
	o.plan_only = 1;
	o.concurrency = 2;
	cr_assert_eq(pull_run(&res, &local.st, &l.pool, &it, 1, &o), 0, "%s",
		     res.err.msg);
	cr_expect_str_eq(res.digest.str, a.index.str);
	cr_expect_eq(res.blobs, 4);
	cr_expect_eq(res.blobs_fetched, 4);
	snprintf(repo, sizeof(repo), "%s/team/app", l.host);
	cr_expect_eq(store_tag_get(&sr, &local.st, repo, "v1", &e),
		     ERR_NOT_FOUND);
	cr_expect(!fix_blob_present(&local, &a.amd_layer));
}

Test(pull, failures_are_per_reference_and_named_once)
{
	struct app a;
	struct pull_item it[3];
	struct pull_result res[3];
	struct store_ref sr, before;
	char repo[300], want[400];
	struct err e;

	a = serve_app(&l);
	/* a first good pull, so a failed re-pull must leave the tag */
	item_of(&it[0], loop_ref(&l, "team/app:v1"));
	run(res, &local, &l, it, 1);
	cr_assert_eq(res[0].result, 0, "%s", res[0].err.msg);
	snprintf(repo, sizeof(repo), "%s/team/app", l.host);
	cr_assert_eq(store_tag_get(&before, &local.st, repo, "v1", &e), 0);

	static const char *const layers[] = {"bytes the server will spoil"};
	struct oci_digest bad, bad_layer;

	bad = fix_image(&l.remote, "team/bad", "{\"bad\":1}", layers, 1, NULL,
			NULL);
	fix_tag(&l.remote, "team/bad", "v1", &bad, MT_MANIFEST);
	oci_digest_of(&bad_layer, OCI_SHA256, layers[0], strlen(layers[0]));
	loop_corrupt(&l.remote, &bad_layer);

	item_of(&it[0], loop_ref(&l, "team/absent:v9"));
	item_of(&it[1], loop_ref(&l, "team/bad:v1"));
	item_of(&it[2], loop_ref(&l, "team/app:v1"));
	run(res, &local, &l, it, 3);

	/* every failure names its reference once, first, and keeps the
	 * inner message */
	cr_expect_eq(res[0].result, ERR_NOT_FOUND, "%s", res[0].err.msg);
	snprintf(want, sizeof(want),
		 "pull %s: manifest team/absent:v9: not "
		 "found",
		 loop_ref(&l, "team/absent:v9"));
	cr_expect(!strncmp(res[0].err.msg, want, strlen(want)), "%s",
		  res[0].err.msg);
	cr_expect_neq(res[1].result, 0);
	snprintf(want, sizeof(want), "pull %s: ", loop_ref(&l, "team/bad:v1"));
	cr_expect(!strncmp(res[1].err.msg, want, strlen(want)), "%s",
		  res[1].err.msg);
	cr_expect(!strstr(res[1].err.msg + strlen(want), want), "%s",
		  res[1].err.msg);
	cr_expect(strstr(res[1].err.msg, bad_layer.str), "%s", res[1].err.msg);
	snprintf(repo, sizeof(repo), "%s/team/bad", l.host);
	cr_expect_eq(store_tag_get(&sr, &local.st, repo, "v1", &e),
		     ERR_NOT_FOUND, "no tag for a failed reference");
	cr_expect(!fix_blob_present(&local, &bad_layer));
	/* the good one in the same run completes */
	cr_expect_eq(res[2].result, 0, "%s", res[2].err.msg);
	cr_expect_str_eq(res[2].digest.str, a.index.str);
	cr_expect_str_eq(before.digest.str, a.index.str);
}

static int keep_last_desc(void *ctx, const char *desc_json)
{
	char **seen = ctx;

	free(*seen);
	*seen = strdup(desc_json);
	return 0;
}

Test(pull, referrers_come_with_their_subject_when_asked)
{
	static const char *const layers[] = {"image layer"};
	static const char *const sig_layers[] = {"signature bytes"};
	struct oci_digest img, sig, sig_layer;
	struct pull_item it;
	struct pull_result res;
	struct store_ref sr;
	char desc[512], repo[300], *seen = NULL;
	int64_t size = 0;
	struct err e;

	img = fix_image(&l.remote, "team/signed", "{\"i\":1}", layers, 1, NULL,
			NULL);
	fix_tag(&l.remote, "team/signed", "v1", &img, MT_MANIFEST);
	sig = fix_image(&l.remote, "team/signed", "{}", sig_layers, 1, &img,
			"application/vnd.example.sig");
	cr_assert(store_blob_exists(&size, &l.remote.st, &sig));
	fix_desc(desc, sizeof(desc), MT_MANIFEST, &sig, (long long)size);
	cr_assert_eq(store_referrer_add(&l.remote.st, "team/signed", &img, &sig,
					desc, &e),
		     0, "%s", e.msg);
	oci_digest_of(&sig_layer, OCI_SHA256, sig_layers[0],
		      strlen(sig_layers[0]));
	snprintf(repo, sizeof(repo), "%s/team/signed", l.host);

	/* without referrers: the image alone */
	item_of(&it, loop_ref(&l, "team/signed:v1"));
	run(&res, &local, &l, &it, 1);
	cr_assert_eq(res.result, 0, "%s", res.err.msg);
	cr_expect_eq(res.manifests, 1);
	cr_expect(!fix_blob_present(&local, &sig_layer));

	it.referrers = 1;
	run(&res, &local, &l, &it, 1);
	cr_assert_eq(res.result, 0, "%s", res.err.msg);
	cr_expect_str_eq(res.digest.str, img.str, "the top is the subject");
	cr_expect_eq(res.manifests, 2);
	cr_expect_eq(res.blobs_fetched, 2, "the signature's config and layer");
	cr_expect(fix_blob_present(&local, &sig_layer));
	cr_expect_eq(store_manifest_get(&sr, &local.st, repo, &sig, &e), 0,
		     "%s", e.msg);
	cr_assert_eq(store_referrers_list(&local.st, repo, &img, keep_last_desc,
					  &seen, &e),
		     0, "%s", e.msg);
	cr_assert(seen, "a referrers record for the subject");
	cr_expect(strstr(seen, sig.str), "%s", seen);
	cr_expect(strstr(seen, "application/vnd.example.sig"), "%s", seen);
	free(seen);
	cr_assert_eq(store_tag_get(&sr, &local.st, repo, "v1", &e), 0);
	cr_expect_str_eq(sr.digest.str, img.str);
}

/* A dry run (plan_only) names a failed reference the same as a pull: the
 * top manifest's error, with no finish_item on that path, once had no
 * reference at all. */
Test(pull, plan_only_failure_names_its_reference_once)
{
	struct pull_item it;
	struct pull_result res;
	struct pull_options o;
	char want[400];

	item_of(&it, loop_ref(&l, "team/absent:v9"));
	memset(&o, 0, sizeof(o));
	o.plan_only = 1;
	o.concurrency = 2;
	cr_expect_eq(pull_run(&res, &local.st, &l.pool, &it, 1, &o), ERR_FAIL);
	cr_expect_eq(res.result, ERR_NOT_FOUND, "%s", res.err.msg);
	snprintf(want, sizeof(want),
		 "pull %s: manifest team/absent:v9: not found",
		 loop_ref(&l, "team/absent:v9"));
	cr_expect(!strncmp(res.err.msg, want, strlen(want)), "%s", res.err.msg);
	snprintf(want, sizeof(want),
		 "pull %s: ", loop_ref(&l, "team/absent:v9"));
	cr_expect(!strstr(res.err.msg + strlen(want), want), "%s", res.err.msg);
}

/* A manifest request that never reaches its registry names the host (for
 * inspect, push, sync's HEAD); pull's own "pull REF: " comes first, and
 * the reference does not repeat bare ("pull X: X: "). */
Test(pull, unreachable_host_names_it_in_the_manifest_error)
{
	static const char dead[] = "127.0.0.1:1/x:y"; /* nothing on port 1 */
	struct pull_item it;
	struct pull_result res;
	char twice[100];

	item_of(&it, dead);
	run(&res, &local, &l, &it, 1);
	cr_expect_neq(res.result, 0);
	cr_expect(!strncmp(res.err.msg,
			   "pull 127.0.0.1:1/x:y: manifest 127.0.0.1:1/x:y: ",
			   strlen("pull 127.0.0.1:1/x:y: manifest "
				  "127.0.0.1:1/x:y: ")),
		  "%s", res.err.msg);
	snprintf(twice, sizeof(twice), "%s: %s: ", dead, dead);
	cr_expect(!strstr(res.err.msg, twice), "%s", res.err.msg);
	cr_expect(!strstr(res.err.msg, "x:y: x:y: "), "%s", res.err.msg);
}
