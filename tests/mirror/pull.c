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
	/* 5 distinct blobs, each fetched once, counted for the reference
	 * that started its fetch: the shared layer for either */
	cr_expect_eq(res[0].blobs_fetched + res[1].blobs_fetched, 5);
	cr_expect(res[0].blobs_fetched == 4 || res[0].blobs_fetched == 3, "%zu",
		  res[0].blobs_fetched);
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

/* --- pull sessions (pull_session_new/add/run) --- */

/* What a session's events and done callbacks saw. */
struct seen_events {
	struct oci_digest blob[16]; /* PULL_EV_BLOB digests, in order */
	int blob_result[16];
	size_t n_blob, n_resolved, n_done_ev;
	struct pull_result *done[32]; /* done callbacks, in order */
	size_t n_done;
	struct reg_transfer_progress last; /* the last progress call */
	size_t n_progress;
};

static void keep_progress(void *ctx, const struct reg_transfer_progress *p)
{
	struct seen_events *s = ctx;

	s->last = *p;
	s->n_progress++;
}

static void count_event(void *ctx, const struct pull_event *ev)
{
	struct seen_events *s = ctx;
	struct err e;

	if (ev->kind == PULL_EV_RESOLVED)
		s->n_resolved++;
	else if (ev->kind == PULL_EV_DONE)
		s->n_done_ev++;
	else if (ev->kind == PULL_EV_BLOB && s->n_blob < 16) {
		cr_assert_eq(
		    oci_digest_parse(&s->blob[s->n_blob], ev->digest, &e), 0);
		s->blob_result[s->n_blob++] = ev->result;
	}
}

static void count_done(void *ctx, struct pull_result *res)
{
	struct seen_events *s = ctx;

	if (s->n_done < 32)
		s->done[s->n_done++] = res;
}

static size_t blob_events(const struct seen_events *s,
			  const struct oci_digest *d)
{
	size_t n = 0;

	for (size_t i = 0; i < s->n_blob; i++)
		n += oci_digest_equal(&s->blob[i], d);
	return n;
}

static struct pull_session *session(struct pull_options *o,
				    struct seen_events *seen)
{
	struct pull_session *ps = NULL;
	struct err e;

	memset(o, 0, sizeof(*o));
	memset(seen, 0, sizeof(*seen));
	o->concurrency = 4;
	o->event = count_event;
	o->ctx = seen;
	cr_assert_eq(pull_session_new(&ps, &local.st, &l.pool, o, &e), 0, "%s",
		     e.msg);
	return ps;
}

static void tag_is(const char *repo, const char *tag,
		   const struct oci_digest *d)
{
	struct store_ref sr;
	struct err e;

	cr_assert_eq(store_tag_get(&sr, &local.st, repo, tag, &e), 0, "%s: %s",
		     tag, e.msg);
	cr_expect_str_eq(sr.digest.str, d->str);
}

Test(pull, session_fetches_a_shared_blob_once_and_commits_both)
{
	static const char *const a_layers[] = {"shared layer", "a only"};
	static const char *const b_layers[] = {"shared layer", "b only"};
	struct oci_digest a, b, shared;
	struct pull_options o;
	struct seen_events seen;
	struct pull_session *ps;
	struct pull_item it[2];
	struct pull_result res[2];
	char repo[300];

	a = fix_image(&l.remote, "team/a", "{\"a\":1}", a_layers, 2, NULL,
		      NULL);
	b = fix_image(&l.remote, "team/b", "{\"b\":1}", b_layers, 2, NULL,
		      NULL);
	fix_tag(&l.remote, "team/a", "v1", &a, MT_MANIFEST);
	fix_tag(&l.remote, "team/b", "v1", &b, MT_MANIFEST);
	oci_digest_of(&shared, OCI_SHA256, "shared layer",
		      strlen("shared layer"));
	item_of(&it[0], loop_ref(&l, "team/a:v1"));
	item_of(&it[1], loop_ref(&l, "team/b:v1"));

	ps = session(&o, &seen);
	pull_session_free(ps);
	o.progress = keep_progress;
	cr_assert_eq(pull_session_new(&ps, &local.st, &l.pool, &o, NULL), 0);
	cr_assert_eq(pull_session_add(ps, &it[0], &res[0], count_done, &seen),
		     0);
	cr_assert_eq(pull_session_add(ps, &it[1], &res[1], count_done, &seen),
		     0);
	cr_expect_eq(pull_session_run(ps), 0);
	pull_session_free(ps);

	cr_assert_eq(res[0].result, 0, "%s", res[0].err.msg);
	cr_assert_eq(res[1].result, 0, "%s", res[1].err.msg);
	cr_expect_eq(blob_events(&seen, &shared), 1, "fetched once");
	cr_expect_eq(seen.n_blob, 5, "two configs, three distinct layers");
	cr_expect_eq(res[0].blobs, 3);
	cr_expect_eq(res[1].blobs, 3);
	cr_expect_eq(res[0].blobs_fetched + res[1].blobs_fetched, 5);
	cr_expect_eq(seen.n_resolved, 2);
	cr_expect_eq(seen.n_done_ev, 2);
	cr_assert_eq(seen.n_done, 2, "one done callback per reference");
	cr_expect(seen.done[0] != seen.done[1]);
	cr_expect(seen.done[0] == &res[0] || seen.done[0] == &res[1]);
	cr_expect(fix_blob_present(&local, &shared));
	/* the engine reports once more at its end: the whole run */
	cr_assert_geq(seen.n_progress, 1);
	cr_expect_eq(seen.last.manifests, 2);
	cr_expect_eq(seen.last.jobs_total, 5);
	cr_expect_eq(seen.last.jobs_done, 5);
	cr_expect_eq(seen.last.bytes_total,
		     res[0].bytes_fetched + res[1].bytes_fetched);
	cr_expect_eq(seen.last.bytes_done, seen.last.bytes_total);
	snprintf(repo, sizeof(repo), "%s/team/a", l.host);
	tag_is(repo, "v1", &a);
	snprintf(repo, sizeof(repo), "%s/team/b", l.host);
	tag_is(repo, "v1", &b);
}

Test(pull, a_failed_blob_fails_only_the_references_needing_it)
{
	static const char *const old_layers[] = {"b as it was"};
	static const char *const a_layers[] = {"spoiled layer"};
	static const char *const b_layers[] = {"spoiled layer", "b own"};
	static const char *const c_layers[] = {"c layer"};
	struct oci_digest a, b_old, b, c, spoiled;
	struct pull_options o;
	struct seen_events seen;
	struct pull_session *ps;
	struct pull_item it[3];
	struct pull_result res[3];
	struct store_ref sr;
	char repo[300], want[400];
	struct err e;

	/* team/b:v1 pulled once while it was good */
	b_old = fix_image(&l.remote, "team/b", "{\"b\":0}", old_layers, 1, NULL,
			  NULL);
	fix_tag(&l.remote, "team/b", "v1", &b_old, MT_MANIFEST);
	item_of(&it[0], loop_ref(&l, "team/b:v1"));
	run(res, &local, &l, it, 1);
	cr_assert_eq(res[0].result, 0, "%s", res[0].err.msg);

	a = fix_image(&l.remote, "team/a", "{\"a\":1}", a_layers, 1, NULL,
		      NULL);
	b = fix_image(&l.remote, "team/b", "{\"b\":1}", b_layers, 2, NULL,
		      NULL);
	c = fix_image(&l.remote, "team/c", "{\"c\":1}", c_layers, 1, NULL,
		      NULL);
	fix_tag(&l.remote, "team/a", "v1", &a, MT_MANIFEST);
	fix_tag(&l.remote, "team/b", "v1", &b, MT_MANIFEST);
	fix_tag(&l.remote, "team/c", "v1", &c, MT_MANIFEST);
	oci_digest_of(&spoiled, OCI_SHA256, "spoiled layer",
		      strlen("spoiled layer"));
	loop_corrupt(&l.remote, &spoiled);
	item_of(&it[0], loop_ref(&l, "team/a:v1"));
	item_of(&it[1], loop_ref(&l, "team/b:v1"));
	item_of(&it[2], loop_ref(&l, "team/c:v1"));

	ps = session(&o, &seen);
	for (size_t i = 0; i < 3; i++)
		cr_assert_eq(pull_session_add(ps, &it[i], &res[i], NULL, NULL),
			     0);
	cr_expect_eq(pull_session_run(ps), ERR_FAIL);
	pull_session_free(ps);

	for (size_t i = 0; i < 2; i++) {
		cr_expect_neq(res[i].result, 0, "%zu", i);
		snprintf(want, sizeof(want), "pull %s: ", res[i].ref);
		cr_expect(!strncmp(res[i].err.msg, want, strlen(want)), "%s",
			  res[i].err.msg);
		cr_expect(strstr(res[i].err.msg, spoiled.str), "%s",
			  res[i].err.msg);
	}
	cr_expect_eq(res[2].result, 0, "%s", res[2].err.msg);
	cr_expect_eq(blob_events(&seen, &spoiled), 1, "one failed fetch");
	for (size_t i = 0; i < seen.n_blob; i++)
		cr_expect_eq(seen.blob_result[i] != 0,
			     oci_digest_equal(&seen.blob[i], &spoiled));
	cr_expect(!fix_blob_present(&local, &spoiled));
	snprintf(repo, sizeof(repo), "%s/team/a", l.host);
	cr_expect_eq(store_tag_get(&sr, &local.st, repo, "v1", &e),
		     ERR_NOT_FOUND);
	snprintf(repo, sizeof(repo), "%s/team/b", l.host);
	tag_is(repo, "v1", &b_old); /* the failed re-pull kept the old tag */
	snprintf(repo, sizeof(repo), "%s/team/c", l.host);
	tag_is(repo, "v1", &c);
}

/* n tags t0..t(n-1) of one small image in team/many. */
static void serve_many(size_t n)
{
	static const char *const layers[] = {"many layer"};
	struct oci_digest d;
	char tag[32];

	d = fix_image(&l.remote, "team/many", "{\"many\":1}", layers, 1, NULL,
		      NULL);
	for (size_t i = 0; i < n; i++) {
		snprintf(tag, sizeof(tag), "t%zu", i);
		fix_tag(&l.remote, "team/many", tag, &d, MT_MANIFEST);
	}
}

/* Pull team/many:t0..t(n-1) in one session; every one succeeds. */
static struct pull_session_stats pull_many(size_t n, size_t max_open,
					   size_t max_bytes)
{
	struct pull_options o;
	struct pull_session *ps;
	struct pull_item *it = calloc(n, sizeof(*it));
	struct pull_result *res = calloc(n, sizeof(*res));
	struct pull_session_stats st;
	char ref[64];
	struct err e;

	cr_assert(it && res);
	memset(&o, 0, sizeof(o));
	o.concurrency = 4;
	o.max_open = max_open;
	o.max_manifest_bytes = max_bytes;
	cr_assert_eq(pull_session_new(&ps, &local.st, &l.pool, &o, &e), 0, "%s",
		     e.msg);
	for (size_t i = 0; i < n; i++) {
		snprintf(ref, sizeof(ref), "team/many:t%zu", i);
		item_of(&it[i], loop_ref(&l, ref));
		cr_assert_eq(pull_session_add(ps, &it[i], &res[i], NULL, NULL),
			     0);
	}
	cr_expect_eq(pull_session_run(ps), 0);
	pull_session_stats(ps, &st);
	pull_session_free(ps);
	for (size_t i = 0; i < n; i++)
		cr_expect_eq(res[i].result, 0, "%s", res[i].err.msg);
	cr_expect_eq(st.added, n);
	cr_expect_eq(st.done, n);
	cr_expect_eq(st.manifests, n);
	free(it);
	free(res);
	return st;
}

Test(pull, admission_opens_no_more_references_than_the_budget)
{
	struct pull_session_stats st;
	char repo[300];
	struct oci_digest d;
	struct store_ref sr;
	struct err e;

	serve_many(300);
	st = pull_many(20, 3, 0);
	cr_expect_eq(st.peak_open, 3);
	/* a byte budget that one manifest fills: one at a time */
	st = pull_many(20, 0, 1);
	cr_expect_eq(st.peak_open, 1);
	cr_expect_lt(st.peak_bytes, 1024, "one small manifest at a time");
	/* the defaults: 256 open */
	st = pull_many(300, 0, 0);
	cr_expect_eq(st.peak_open, 256);
	snprintf(repo, sizeof(repo), "%s/team/many", l.host);
	cr_assert_eq(store_tag_get(&sr, &local.st, repo, "t0", &e), 0);
	d = sr.digest;
	tag_is(repo, "t299", &d);
}

/* A done callback that adds the next reference, as sync does when a HEAD
 * comes back: the session takes it in the same run. */
struct chain {
	struct pull_session *ps;
	struct pull_item it[10];
	struct pull_result res[10];
	size_t next;
};

static void add_next(void *ctx, struct pull_result *res)
{
	struct chain *c = ctx;

	cr_expect_eq(res->result, 0, "%s", res->err.msg);
	if (c->next < 10) {
		size_t k = c->next++;

		cr_expect_eq(
		    pull_session_add(c->ps, &c->it[k], &c->res[k], add_next, c),
		    0);
	}
}

Test(pull, references_added_from_a_callback_join_the_run)
{
	struct pull_options o;
	struct seen_events seen;
	struct pull_session_stats st;
	struct chain *c = calloc(1, sizeof(*c));
	char ref[64];

	cr_assert(c);
	serve_many(10);
	for (size_t i = 0; i < 10; i++) {
		snprintf(ref, sizeof(ref), "team/many:t%zu", i);
		item_of(&c->it[i], loop_ref(&l, ref));
	}
	c->ps = session(&o, &seen);
	c->next = 1;
	cr_assert_eq(
	    pull_session_add(c->ps, &c->it[0], &c->res[0], add_next, c), 0);
	cr_expect_eq(pull_session_run(c->ps), 0);
	pull_session_stats(c->ps, &st);
	pull_session_free(c->ps);
	cr_expect_eq(c->next, 10);
	cr_expect_eq(st.done, 10);
	cr_expect_eq(st.peak_open, 1, "each added after the one before");
	cr_expect_eq(seen.n_blob, 2, "the config and layer, once");
	for (size_t i = 0; i < 10; i++)
		cr_expect_eq(c->res[i].result, 0, "%s", c->res[i].err.msg);
	free(c);
}

/* A directory where the manifest record of d would go in repo: storing
 * that one manifest fails, and what was stored before it stays. */
static void block_record(const char *repo, const struct oci_digest *d)
{
	cr_assert_eq(fix_mkdirs(fix_path(&local,
					 "repositories/%s/_manifests/"
					 "sha256/%s/blocked",
					 repo, oci_digest_hex(d))),
		     0);
}

Test(pull, an_index_is_stored_after_its_children)
{
	struct app a;
	struct pull_item it;
	struct pull_result res;
	struct store_ref sr;
	char repo[300];
	struct err e;

	a = serve_app(&l);
	snprintf(repo, sizeof(repo), "%s/team/app", l.host);
	block_record(repo, &a.index);
	item_of(&it, loop_ref(&l, "team/app:v1"));
	run(&res, &local, &l, &it, 1);
	cr_expect_neq(res.result, 0);
	cr_expect(strstr(res.err.msg, a.index.str) ||
		      strstr(res.err.msg, oci_digest_hex(&a.index)),
		  "%s", res.err.msg);
	cr_expect_eq(res.manifests, 2, "both children, then the index failed");
	cr_expect_eq(store_manifest_get(&sr, &local.st, repo, &a.amd, &e), 0,
		     "%s", e.msg);
	cr_expect_eq(store_manifest_get(&sr, &local.st, repo, &a.arm, &e), 0,
		     "%s", e.msg);
	cr_expect_eq(store_tag_get(&sr, &local.st, repo, "v1", &e),
		     ERR_NOT_FOUND);
}

Test(pull, a_subject_is_stored_before_its_referrers)
{
	static const char *const layers[] = {"image layer"};
	static const char *const sig_layers[] = {"signature bytes"};
	struct oci_digest img, sig;
	struct pull_item it;
	struct pull_result res;
	struct store_ref sr;
	char desc[512], repo[300];
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
	snprintf(repo, sizeof(repo), "%s/team/signed", l.host);
	block_record(repo, &sig);
	item_of(&it, loop_ref(&l, "team/signed:v1"));
	it.referrers = 1;
	run(&res, &local, &l, &it, 1);
	cr_expect_neq(res.result, 0);
	cr_expect_eq(res.manifests, 1, "the subject, then the referrer failed");
	cr_expect_eq(store_manifest_get(&sr, &local.st, repo, &img, &e), 0,
		     "%s", e.msg);
	cr_expect_eq(store_tag_get(&sr, &local.st, repo, "v1", &e),
		     ERR_NOT_FOUND);
}

/* From a done callback: a pull_run of two more (refused whole, nothing
 * submitted) and, after the run, an add (refused). */
struct nested {
	struct fix *local;
	struct pull_item it[2];
	struct pull_result res[2];
	int rc, calls;
};

static void run_inside(void *ctx, struct pull_result *res)
{
	struct nested *n = ctx;
	struct pull_options o;

	cr_expect_eq(res->result, 0, "%s", res->err.msg);
	memset(&o, 0, sizeof(o));
	n->calls++;
	n->rc = pull_run(n->res, &n->local->st, &l.pool, n->it, 2, &o);
}

Test(pull, a_pull_run_inside_a_callback_fails_each_item_and_submits_none)
{
	struct pull_options o;
	struct seen_events seen;
	struct pull_session *ps;
	struct pull_item first, late;
	struct pull_result res, late_res;
	struct nested n;
	struct store_ref sr;
	char want[160];

	memset(&n, 0, sizeof(n));
	n.local = &local;
	serve_many(3);
	item_of(&first, loop_ref(&l, "team/many:t0"));
	item_of(&n.it[0], loop_ref(&l, "team/many:t1"));
	item_of(&n.it[1], loop_ref(&l, "team/many:t2"));
	ps = session(&o, &seen);
	cr_assert_eq(pull_session_add(ps, &first, &res, run_inside, &n), 0);
	cr_expect_eq(pull_session_run(ps), 0);
	cr_expect_eq(n.calls, 1);
	cr_expect_eq(n.rc, ERR_FAIL);
	for (size_t i = 0; i < 2; i++) {
		snprintf(want, sizeof(want),
			 "pull %s: started inside another run", n.res[i].ref);
		cr_expect_eq(n.res[i].result, ERR_FAIL);
		cr_expect_str_eq(n.res[i].err.msg, want);
	}
	snprintf(want, sizeof(want), "%s/team/many", l.host);
	cr_expect_eq(store_tag_get(&sr, &local.st, want, "t0", NULL), 0);
	cr_expect_eq(store_tag_get(&sr, &local.st, want, "t1", NULL),
		     ERR_NOT_FOUND, "nothing of the nested run stored");

	/* the run is over: an add is refused, and says so */
	item_of(&late, loop_ref(&l, "team/many:t2"));
	cr_expect_eq(pull_session_add(ps, &late, &late_res, run_inside, &n),
		     ERR_FAIL);
	cr_expect_eq(late_res.result, ERR_FAIL);
	cr_expect(strstr(late_res.err.msg, "after the run ended"), "%s",
		  late_res.err.msg);
	cr_expect_eq(n.calls, 1, "its done is not called");
	pull_session_free(ps);
}
