/* push_run on the request engine, against the stub registry of
 * stubreg.h: the blobs of a push overlap, an index goes after its
 * children, a blob goes once per destination repository however many
 * images need it (mounted into another repository), and a refused blob
 * fails only the image that needs it. */
#include <criterion/criterion.h>
#include <string.h>

#include "mirror/push.h"
#include "storefix.h"
#include "stubreg.h"

struct site {
	struct stub s;
	struct fix local;
	struct reg_options opt;
	struct reg_host_options plain;
	struct reg_pool_host hosts[1];
	struct reg_pool pool;
	char ref[2][300];
	/* events seen */
	int failed_events;
	int done_events;
};

static void quiet(void *ctx, enum reg_log_level l, const char *m)
{
	(void)ctx;
	(void)l;
	(void)m;
}

static void site_start(struct site *t)
{
	memset(t, 0, sizeof(*t));
	setenv("DOCKER_CONFIG", "/nonexistent-ocimirror-test", 1);
	unsetenv("REGISTRY_AUTH_FILE");
	unsetenv("XDG_RUNTIME_DIR");
	stub_start(&t->s);
	fix_setup(&t->local);
	reg_options_init(&t->opt);
	t->opt.retries = 0;
	t->opt.retry_base_ms = 10;
	t->opt.log = quiet;
	t->plain.tls = REG_TLS_PLAIN;
	t->hosts[0].host = t->s.host;
	t->hosts[0].opt = &t->plain;
	reg_pool_init(&t->pool, &t->opt);
	reg_pool_set_hosts(&t->pool, t->hosts, 1);
}

static void site_stop(struct site *t)
{
	reg_pool_release(&t->pool);
	stub_stop(&t->s);
	fix_teardown(&t->local);
}

/* "127.0.0.1:PORT/<name>" */
static const char *dst(struct site *t, int k, const char *name)
{
	snprintf(t->ref[k], sizeof(t->ref[k]), "%s/%s", t->s.host, name);
	return t->ref[k];
}

static void on_event(void *ctx, const struct push_event *ev)
{
	struct site *t = ctx;

	if (ev->kind == PUSH_EV_BLOB && !strcmp(ev->how, "failed")) {
		cr_expect(strstr(ev->ref, "/m/bad:"), "%s", ev->ref);
		t->failed_events++;
	}
	if (ev->kind == PUSH_EV_DONE)
		t->done_events++;
}

static int push(struct site *t, struct push_result *res,
		const struct push_plan *p)
{
	struct push_options o;

	memset(&o, 0, sizeof(o));
	o.event = on_event;
	o.ctx = t;
	return push_run(res, &t->local.st, &t->pool, p->items, p->n, &o);
}

Test(push_engine, the_blobs_of_an_image_are_uploaded_together)
{
	static const char *const layers[] = {"layer a", "layer b", "layer c"};
	struct site t;
	struct oci_digest img;
	struct push_plan p = {0};
	struct push_result res;
	struct err e;

	site_start(&t);
	/* a blob PUT is held until three are in flight (or 3 s pass) */
	t.s.barrier = 3;
	img = fix_image(&t.local, "docker.io/team/app", "{\"c\":1}", layers, 3,
			NULL, NULL);
	fix_tag(&t.local, "docker.io/team/app", "v1", &img, MT_MANIFEST);
	cr_assert_eq(push_plan_one(&p, "docker.io/team/app:v1",
				   dst(&t, 0, "site/app"), &e),
		     0, "%s", e.msg);
	cr_assert_eq(push(&t, &res, &p), 0, "%s", res.err.msg);
	cr_expect_geq(t.s.puts_max, 3, "blob PUTs in flight at once: %d",
		      t.s.puts_max);
	cr_expect_eq(res.blobs, 4);
	cr_expect_eq(res.blobs_uploaded, 4);
	cr_expect_eq(res.manifests, 2, "by digest, then the tag");
	cr_expect_eq(stub_count(&t.s, "HEAD /v2/site/app/blobs/", NULL), 4);
	cr_expect_eq(stub_count(&t.s, "PUT /v2/site/app/blobs/uploads/", NULL),
		     4);
	/* the manifest after every blob, the tag after the manifest */
	cr_expect_gt(stub_find(&t.s, 0, "PUT /v2/site/app/manifests/", img.str),
		     stub_last(&t.s, "PUT /v2/site/app/blobs/uploads/", NULL));
	cr_expect_gt(
	    stub_find(&t.s, 0, "PUT /v2/site/app/manifests/v1", NULL),
	    stub_find(&t.s, 0, "PUT /v2/site/app/manifests/", img.str));
	push_plan_release(&p);
	site_stop(&t);
}

Test(push_engine, an_index_goes_after_its_children_and_the_tag_last)
{
	static const char *const amd_layers[] = {"amd layer", "shared layer"};
	static const char *const arm_layers[] = {"arm layer", "shared layer"};
	struct site t;
	struct oci_digest amd, arm, idx;
	struct push_plan p = {0};
	struct push_result res;
	int i_amd, i_arm, i_idx, i_tag;
	struct err e;

	site_start(&t);
	amd = fix_image(&t.local, "docker.io/team/multi", "{\"a\":1}",
			amd_layers, 2, NULL, NULL);
	arm = fix_image(&t.local, "docker.io/team/multi", "{\"a\":2}",
			arm_layers, 2, NULL, NULL);
	idx = fix_index(&t.local, "docker.io/team/multi", &amd, &arm);
	fix_tag(&t.local, "docker.io/team/multi", "1.0", &idx, MT_INDEX);
	cr_assert_eq(push_plan_one(&p, "docker.io/team/multi:1.0",
				   dst(&t, 0, "site/multi"), &e),
		     0, "%s", e.msg);
	cr_assert_eq(push(&t, &res, &p), 0, "%s", res.err.msg);
	i_amd = stub_find(&t.s, 0, "PUT /v2/site/multi/manifests/", amd.str);
	i_arm = stub_find(&t.s, 0, "PUT /v2/site/multi/manifests/", arm.str);
	i_idx = stub_find(&t.s, 0, "PUT /v2/site/multi/manifests/", idx.str);
	i_tag = stub_find(&t.s, 0, "PUT /v2/site/multi/manifests/1.0", NULL);
	cr_assert(i_amd >= 0 && i_arm >= 0 && i_idx >= 0 && i_tag >= 0,
		  "%d %d %d %d", i_amd, i_arm, i_idx, i_tag);
	cr_expect_gt(i_idx, i_amd);
	cr_expect_gt(i_idx, i_arm);
	cr_expect_gt(i_tag, i_idx);
	cr_expect_eq(i_tag, t.s.n_log - 1, "the tag is the last request");
	cr_expect_eq(res.manifests, 4);
	cr_expect_eq(res.blobs, 6);
	cr_expect_eq(res.blobs_uploaded, 5, "the shared layer goes once");
	cr_expect_eq(res.blobs_existing, 1);
	cr_expect_eq(
	    stub_count(&t.s, "PUT /v2/site/multi/blobs/uploads/", NULL), 5);
	push_plan_release(&p);
	site_stop(&t);
}

Test(push_engine, a_blob_goes_once_per_repository_and_is_mounted_into_another)
{
	static const char *const a_layers[] = {"common layer", "only a"};
	static const char *const b_layers[] = {"common layer", "only b"};
	struct site t;
	struct oci_digest a, b, common;
	struct push_plan p = {0};
	struct push_result res[3];
	struct err e;

	site_start(&t);
	a = fix_image(&t.local, "docker.io/team/a", "{\"x\":1}", a_layers, 2,
		      NULL, NULL);
	b = fix_image(&t.local, "docker.io/team/b", "{\"x\":2}", b_layers, 2,
		      NULL, NULL);
	fix_tag(&t.local, "docker.io/team/a", "v1", &a, MT_MANIFEST);
	fix_tag(&t.local, "docker.io/team/a", "latest", &a, MT_MANIFEST);
	fix_tag(&t.local, "docker.io/team/b", "v1", &b, MT_MANIFEST);
	common = fix_blob(&t.local, "common layer");
	cr_assert_eq(
	    push_plan_one(&p, "docker.io/team/a:v1", dst(&t, 0, "m/a"), &e), 0,
	    "%s", e.msg);
	cr_assert_eq(
	    push_plan_one(&p, "docker.io/team/a:latest", dst(&t, 0, "m/a"), &e),
	    0, "%s", e.msg);
	cr_assert_eq(
	    push_plan_one(&p, "docker.io/team/b:v1", dst(&t, 0, "m/b"), &e), 0,
	    "%s", e.msg);
	cr_assert_eq(push(&t, res, &p), 0, "%s", res[0].err.msg);
	for (int i = 0; i < 3; i++)
		cr_expect_eq(res[i].result, 0, "%d: %s", i, res[i].err.msg);
	/* one upload of the common layer; m/b mounts it from m/a */
	cr_expect_eq(stub_count(&t.s, "PUT /v2/", "blobs/uploads/"), 5,
		     "config and two layers of a, config and one of b");
	cr_expect_eq(
	    stub_count(&t.s, "POST /v2/m/b/blobs/uploads/?mount=", "from=m/a"),
	    1);
	cr_expect(stub_has(&t.s, "m/b", common.str));
	/* a:latest needs what a:v1 pushes: nothing of its own */
	cr_expect_eq(res[0].blobs_uploaded, 3);
	cr_expect_eq(res[1].blobs, 3);
	cr_expect_eq(res[1].blobs_existing, 3);
	cr_expect_eq(res[1].blobs_uploaded, 0);
	cr_expect_eq(res[2].blobs_mounted, 1);
	cr_expect_eq(res[2].blobs_uploaded, 2);
	cr_expect_eq(stub_count(&t.s, "HEAD /v2/m/a/blobs/", NULL), 3,
		     "one exists-check per blob and repository");
	cr_expect_eq(t.done_events, 3);
	push_plan_release(&p);
	site_stop(&t);
}

Test(push_engine, a_refused_blob_fails_only_the_image_that_needs_it)
{
	static const char *const bad_layers[] = {"refused layer", "fine one"};
	static const char *const good_layers[] = {"good layer"};
	struct site t;
	struct oci_digest bad, good, refused;
	struct push_plan p = {0};
	struct push_result res[3];
	char want[400];
	struct err e;

	site_start(&t);
	bad = fix_image(&t.local, "docker.io/team/bad", "{\"b\":1}", bad_layers,
			2, NULL, NULL);
	good = fix_image(&t.local, "docker.io/team/good", "{\"g\":1}",
			 good_layers, 1, NULL, NULL);
	fix_tag(&t.local, "docker.io/team/bad", "v1", &bad, MT_MANIFEST);
	fix_tag(&t.local, "docker.io/team/good", "v1", &good, MT_MANIFEST);
	refused = fix_blob(&t.local, "refused layer");
	snprintf(t.s.fail_digest, sizeof(t.s.fail_digest), "%s", refused.str);
	cr_assert_eq(
	    push_plan_one(&p, "docker.io/team/bad:v1", dst(&t, 0, "m/bad"), &e),
	    0, "%s", e.msg);
	cr_assert_eq(push_plan_one(&p, "docker.io/team/good:v1",
				   dst(&t, 0, "m/good"), &e),
		     0, "%s", e.msg);
	/* the same image under another tag needs the refused blob too */
	cr_assert_eq(push_plan_one(&p, "docker.io/team/bad:v1",
				   dst(&t, 0, "m/bad:also"), &e),
		     0, "%s", e.msg);
	cr_expect_eq(push(&t, res, &p), ERR_FAIL);
	cr_expect_neq(res[0].result, 0);
	snprintf(want, sizeof(want), "push %s: ", dst(&t, 0, "m/bad:v1"));
	cr_expect(!strncmp(res[0].err.msg, want, strlen(want)), "%s",
		  res[0].err.msg);
	cr_expect(strstr(res[0].err.msg, "500 BLOB_UPLOAD_INVALID: refused"),
		  "%s", res[0].err.msg);
	cr_expect(strstr(res[0].err.msg, refused.str), "%s", res[0].err.msg);
	cr_expect_eq(res[1].result, 0, "%s", res[1].err.msg);
	cr_expect_eq(res[2].result, res[0].result, "%s", res[2].err.msg);
	cr_expect(strstr(res[2].err.msg, refused.str), "%s", res[2].err.msg);
	cr_expect_eq(t.failed_events, 2, "one per image that needed it");
	cr_expect_eq(
	    stub_count(&t.s, "PUT /v2/m/bad/blobs/uploads/", refused.str + 7),
	    1, "the refused blob was tried once");
	/* nothing of the failed image is a manifest on the remote */
	cr_expect_eq(stub_count(&t.s, "PUT /v2/m/bad/manifests/", NULL), 0);
	cr_expect_geq(stub_find(&t.s, 0, "PUT /v2/m/good/manifests/v1", NULL),
		      0);
	cr_expect_eq(res[1].blobs_uploaded, 2);
	push_plan_release(&p);
	site_stop(&t);
}

Test(push_engine, referrers_follow_their_subject_and_the_tag_comes_last)
{
	static const char *const layers[] = {"the image layer"};
	static const char *const sig_layers[] = {"a signature"};
	struct site t;
	struct oci_digest img, sig;
	struct push_plan p = {0};
	struct push_result res;
	char fallback[200];
	int i_img, i_sig, i_fb, i_tag;
	struct err e;

	site_start(&t);
	img = fix_image(&t.local, "docker.io/team/signed", "{\"s\":1}", layers,
			1, NULL, NULL);
	sig = fix_image(&t.local, "docker.io/team/signed", "{\"sig\":1}",
			sig_layers, 1, &img, "application/vnd.test.sig");
	fix_referrer(&t.local, "docker.io/team/signed", &img, &sig);
	fix_tag(&t.local, "docker.io/team/signed", "v1", &img, MT_MANIFEST);
	cr_assert_eq(push_plan_one(&p, "docker.io/team/signed:v1",
				   dst(&t, 0, "site/signed"), &e),
		     0, "%s", e.msg);
	cr_assert_eq(push(&t, &res, &p), 0, "%s", res.err.msg);
	snprintf(fallback, sizeof(fallback),
		 "PUT /v2/site/signed/manifests/sha256-%s",
		 oci_digest_hex(&img));
	i_img = stub_find(&t.s, 0, "PUT /v2/site/signed/manifests/", img.str);
	i_sig = stub_find(&t.s, 0, "PUT /v2/site/signed/manifests/", sig.str);
	i_fb = stub_find(&t.s, 0, fallback, NULL);
	i_tag = stub_find(&t.s, 0, "PUT /v2/site/signed/manifests/v1", NULL);
	cr_assert(i_img >= 0 && i_sig >= 0 && i_fb >= 0 && i_tag >= 0,
		  "%d %d %d %d", i_img, i_sig, i_fb, i_tag);
	cr_expect_gt(i_sig, i_img, "the referrer after its subject");
	cr_expect_gt(i_fb, i_sig, "the fallback tag after the referrer");
	cr_expect_eq(i_tag, t.s.n_log - 1, "the tag is the last request");
	/* the stub has no referrers API: the fallback tag index is read
	 * first (404 there) */
	cr_expect_eq(
	    stub_count(&t.s, "GET /v2/site/signed/manifests/sha256-", NULL), 1);
	cr_expect_eq(res.manifests, 4, "image, signature, fallback, tag");
	cr_expect_eq(res.blobs, 4);
	push_plan_release(&p);
	site_stop(&t);
}

Test(push_engine, push_all_of_more_tags_than_go_at_once)
{
	static const char *const layers[] = {"the layer"};
	struct site t;
	struct oci_digest img;
	struct push_plan p = {0};
	struct push_result res[40];
	size_t uploaded = 0, existing = 0;
	char tag[16];
	struct err e;

	site_start(&t);
	img = fix_image(&t.local, "docker.io/team/many", "{\"m\":1}", layers, 1,
			NULL, NULL);
	for (int i = 0; i < 40; i++) {
		snprintf(tag, sizeof(tag), "t%02d", i);
		fix_tag(&t.local, "docker.io/team/many", tag, &img,
			MT_MANIFEST);
	}
	cr_assert_eq(push_plan_all(&p, &t.local.st, dst(&t, 0, "m"), &e), 0,
		     "%s", e.msg);
	cr_assert_eq(p.n, 40);
	cr_assert_eq(push(&t, res, &p), 0, "%s", res[0].err.msg);
	for (int i = 0; i < 40; i++) {
		cr_expect_eq(res[i].result, 0, "%s", res[i].err.msg);
		cr_expect_eq(res[i].manifests, 2);
		uploaded += res[i].blobs_uploaded;
		existing += res[i].blobs_existing;
	}
	cr_expect_eq(uploaded, 2, "config and layer, once");
	cr_expect_eq(existing, 78);
	cr_expect_eq(
	    stub_count(&t.s, "PUT /v2/m/docker.io/team/many/manifests/t", NULL),
	    40);
	cr_expect_eq(t.done_events, 40);
	push_plan_release(&p);
	site_stop(&t);
}
