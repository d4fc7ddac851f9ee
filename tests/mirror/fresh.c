/* fresh: is a manifest complete, a tag current, in the store? */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "mirror/fresh.h"
#include "oci/platform.h"
#include "registry/engine.h"
#include "tests/mirror/loopfix.h"
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

TestSuite(fresh, .init = setup, .fini = teardown);

static struct oci_digest image(const char *repo, const char *tag)
{
	const char *layers[] = {tag, "layer two"};
	char config[64];

	snprintf(config, sizeof(config), "{\"config\":\"%s\"}", tag);
	return fix_image(&f, repo, config, layers, 2, NULL, NULL);
}

Test(fresh, an_image_with_every_blob_linked_is_complete)
{
	struct oci_digest d = image("r/app", "one");

	cr_assert_eq(fresh_manifest_complete(&f.st, "r/app", &d, NULL, 0), 1);
	/* the same bytes, but not linked into another repository */
	cr_assert_eq(fresh_manifest_complete(&f.st, "r/other", &d, NULL, 0), 0);
}

Test(fresh, a_missing_layer_or_manifest_is_not_complete)
{
	struct oci_digest c = fix_blob(&f, "{}"), absent, d;
	char cd[512], ld[512], json[2048];

	cr_assert_eq(store_blob_link(&f.st, "r/app", &c, NULL), 0);
	oci_digest_of(&absent, OCI_SHA256, "never stored", 12);
	fix_desc(cd, sizeof(cd), MT_CONFIG, &c, 2);
	fix_desc(ld, sizeof(ld), MT_LAYER, &absent, 12);
	snprintf(json, sizeof(json),
		 "{\"schemaVersion\":2,\"mediaType\":\"%s\",\"config\":%s,"
		 "\"layers\":[%s]}",
		 MT_MANIFEST, cd, ld);
	d = fix_manifest(&f, "r/app", json, MT_MANIFEST);
	cr_assert_eq(fresh_manifest_complete(&f.st, "r/app", &d, NULL, 0), 0);
	cr_assert_eq(fresh_manifest_complete(&f.st, "r/app", &absent, NULL, 0),
		     0);
}

Test(fresh, an_index_is_complete_for_the_platforms_asked)
{
	struct oci_digest amd = image("r/app", "amd"), arm, idx;
	struct oci_platform p;
	char cd[512], ld[512], json[2048];
	struct oci_digest c = fix_blob(&f, "{\"arm\":1}"), absent;

	/* the arm64 child lacks a layer */
	cr_assert_eq(store_blob_link(&f.st, "r/app", &c, NULL), 0);
	oci_digest_of(&absent, OCI_SHA256, "arm layer", 9);
	fix_desc(cd, sizeof(cd), MT_CONFIG, &c, 9);
	fix_desc(ld, sizeof(ld), MT_LAYER, &absent, 9);
	snprintf(json, sizeof(json),
		 "{\"schemaVersion\":2,\"mediaType\":\"%s\",\"config\":%s,"
		 "\"layers\":[%s]}",
		 MT_MANIFEST, cd, ld);
	arm = fix_manifest(&f, "r/app", json, MT_MANIFEST);
	idx = fix_index(&f, "r/app", &amd, &arm);
	cr_assert_eq(oci_platform_parse(&p, "linux/amd64", NULL), 0);
	cr_assert_eq(fresh_manifest_complete(&f.st, "r/app", &idx, &p, 1), 1);
	cr_assert_eq(fresh_manifest_complete(&f.st, "r/app", &idx, NULL, 0), 0);
	cr_assert_eq(oci_platform_parse(&p, "linux/arm64", NULL), 0);
	cr_assert_eq(fresh_manifest_complete(&f.st, "r/app", &idx, &p, 1), 0);
}

Test(fresh, a_tag_is_current_only_where_it_points_at_the_digest)
{
	struct oci_digest one = image("r/app", "one");
	struct oci_digest two = image("r/app", "two");

	cr_assert_eq(fresh_tag_current(&f.st, "r/app", "v1", &one, NULL, 0), 0,
		     "no tag yet");
	fix_tag(&f, "r/app", "v1", &one, MT_MANIFEST);
	cr_assert_eq(fresh_tag_current(&f.st, "r/app", "v1", &one, NULL, 0), 1);
	cr_assert_eq(fresh_tag_current(&f.st, "r/app", "v1", &two, NULL, 0), 0,
		     "the tag points elsewhere");
}

/* fresh_head_tag_async against the project's server: HEADs submitted
 * together, each answer to its own callback. */
static struct loop lp;

static void head_setup(void)
{
	loop_start(&lp, 0);
}

static void head_teardown(void)
{
	loop_stop(&lp);
}

struct head_answer {
	int called, rc;
	struct oci_digest d;
	char msg[ERR_MSG_MAX];
};

static void on_answer(void *ctx, int rc, const struct oci_digest *d,
		      const struct err *err)
{
	struct head_answer *a = ctx;

	a->called++;
	a->rc = rc;
	if (d)
		a->d = *d;
	if (err)
		snprintf(a->msg, sizeof(a->msg), "%s", err->msg);
}

Test(fresh_head, each_tag_its_digest_with_one_head_each, .init = head_setup,
     .fini = head_teardown)
{
	static const char *const tags[] = {"one", "two", "three"};
	struct reg_host_options plain = {.tls = REG_TLS_PLAIN};
	struct head_answer a[4];
	struct oci_digest d[3];
	struct reg_client *c;
	struct loop_counts n;
	struct err e;

	for (size_t i = 0; i < 3; i++) {
		const char *layers[] = {tags[i]};

		d[i] =
		    fix_image(&lp.remote, "r/app", "{}", layers, 1, NULL, NULL);
		fix_tag(&lp.remote, "r/app", tags[i], &d[i], MT_MANIFEST);
	}
	memset(a, 0, sizeof(a));
	cr_assert_eq(reg_pool_get(&lp.pool, &c, lp.host, &e), 0, "%s", e.msg);
	cr_assert_eq(reg_client_configure(c, &plain, &e), 0, "%s", e.msg);
	for (size_t i = 0; i < 3; i++)
		cr_assert_eq(fresh_head_tag_async(c, "r/app", tags[i],
						  on_answer, &a[i], &e),
			     0, "%s", e.msg);
	cr_assert_eq(
	    fresh_head_tag_async(c, "r/app", "gone", on_answer, &a[3], &e), 0,
	    "%s", e.msg);
	cr_assert_eq(a[0].called, 0, "an answer before the engine ran");
	cr_assert_eq(reg_engine_run(reg_client_engine(c)), 0);
	for (size_t i = 0; i < 3; i++) {
		cr_expect_eq(a[i].called, 1, "%s", tags[i]);
		cr_expect_eq(a[i].rc, 0, "%s: %s", tags[i], a[i].msg);
		cr_expect(oci_digest_equal(&a[i].d, &d[i]), "%s: %s", tags[i],
			  a[i].d.str);
	}
	cr_expect_eq(a[3].called, 1);
	cr_expect_eq(a[3].rc, ERR_NOT_FOUND, "%d %s", a[3].rc, a[3].msg);
	cr_expect(strstr(a[3].msg, "gone"), "%s", a[3].msg);
	n = loop_restart(&lp);
	cr_expect_eq(n.manifest_head, 4);
	cr_expect_eq(n.manifest_get, 0, "the server sends the digest");
}
