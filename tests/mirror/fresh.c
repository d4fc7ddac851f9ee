/* fresh: is a manifest complete, a tag current, in the store? */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "mirror/fresh.h"
#include "oci/platform.h"
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
