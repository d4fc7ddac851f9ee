/* The library side of `ocimirror app`: the pull report's counting and the
 * references `app push` and `app show` take. */
#include <criterion/criterion.h>
#include <string.h>

#include "mirror/margo/app_pull.h"
#include "mirror/margo/catalog.h"
#include "mirror/margo/description.h"
#include "mirror/margo/package.h"
#include "mirror/margo/report.h"

static struct margo_pull_report rep;

static void fini(void)
{
	margo_pull_report_release(&rep);
}

TestSuite(margo_report, .fini = fini);

static struct margo_node *add(enum margo_node_kind kind, int depth,
			      enum margo_node_state state, const char *name,
			      const char *detail)
{
	struct err err;
	struct margo_node *n =
	    margo_pull_report_add(&rep, kind, depth, state, name, &err);

	cr_assert_not_null(n, "%s", err.msg);
	snprintf(n->detail, sizeof(n->detail), "%s", detail);
	return n;
}

/* Two profiles naming the same component and images: each reference is
 * counted once, profiles only when skipped, unresolved images by where
 * they were found. */
static void two_profiles(void)
{
	add(MARGO_NODE_PACKAGE, 0, MARGO_STORED, "r.example/app:1", "app 1");
	add(MARGO_NODE_PROFILE, 1, MARGO_STORED, "helm a", "[amd64]");
	add(MARGO_NODE_COMPONENT, 2, MARGO_STORED, "r.example/chart:1", "c");
	add(MARGO_NODE_IMAGE, 3, MARGO_STORED, "r.example/x:1", "v: image");
	add(MARGO_NODE_IMAGE, 3, MARGO_FAILED, MARGO_UNRESOLVED, "v: a.image");
	add(MARGO_NODE_PROFILE, 1, MARGO_STORED, "helm b", "[arm64]");
	add(MARGO_NODE_COMPONENT, 2, MARGO_STORED, "r.example/chart:1", "c");
	add(MARGO_NODE_IMAGE, 3, MARGO_STORED, "r.example/x:1", "v: image");
	add(MARGO_NODE_IMAGE, 3, MARGO_FAILED, MARGO_UNRESOLVED, "v: a.image");
	add(MARGO_NODE_IMAGE, 3, MARGO_FAILED, MARGO_UNRESOLVED, "v: b.image");
	add(MARGO_NODE_IMAGE, 3, MARGO_UNCHANGED, "r.example/y:2", "v: y");
	add(MARGO_NODE_IMAGE, 3, MARGO_FAILED, "r.example/z:3", "v: z");
	add(MARGO_NODE_PROFILE, 1, MARGO_SKIPPED, "compose c", "[s390x]");
	add(MARGO_NODE_PROFILE, 1, MARGO_SKIPPED, "compose c", "[s390x]");
}

Test(margo_report, counts_each_reference_once)
{
	struct margo_pull_counts c;

	two_profiles();
	margo_pull_report_count(&c, &rep);
	cr_assert_eq(c.stored, 3); /* package, chart, x */
	cr_assert_eq(c.unchanged, 1);
	cr_assert_eq(c.skipped, 1); /* the same profile shown twice */
	cr_assert_eq(c.failed, 3);  /* a.image, b.image, z */
	cr_assert_eq(rep.failed, 4, "every failed node, shown or not");
	cr_assert_eq(rep.n, 14);
}

Test(margo_report, first_showing_by_kind_name_and_detail)
{
	two_profiles();
	cr_assert(margo_pull_report_first(&rep, 2));
	cr_assert_not(margo_pull_report_first(&rep, 6), "chart again");
	cr_assert_not(margo_pull_report_first(&rep, 7), "image x again");
	cr_assert_not(margo_pull_report_first(&rep, 8), "a.image again");
	cr_assert(margo_pull_report_first(&rep, 9), "b.image is another");
	cr_assert(margo_pull_report_first(&rep, 5), "profiles by detail");
	cr_assert_not(margo_pull_report_first(&rep, 13));
}

Test(margo_report, a_component_and_an_image_of_one_name_are_two)
{
	struct margo_pull_counts c;

	add(MARGO_NODE_COMPONENT, 2, MARGO_STORED, "r.example/a:1", "");
	add(MARGO_NODE_IMAGE, 3, MARGO_STORED, "r.example/a:1", "");
	cr_assert(margo_pull_report_first(&rep, 1));
	margo_pull_report_count(&c, &rep);
	cr_assert_eq(c.stored, 2);
}

Test(margo_report, empty_counts_nothing)
{
	struct margo_pull_counts c;

	memset(&c, 0xff, sizeof(c));
	margo_pull_report_count(&c, &rep);
	cr_assert_eq(c.stored + c.unchanged + c.skipped + c.failed, 0);
}

Test(margo_report, add_zeroes_the_node_and_counts_a_failure)
{
	struct margo_node *n =
	    add(MARGO_NODE_IMAGE, 3, MARGO_FAILED, "r.example/z:3", "");

	cr_assert_eq(n->depth, 3);
	cr_assert_eq(n->kind, MARGO_NODE_IMAGE);
	cr_assert_str_eq(n->name, "r.example/z:3");
	cr_assert_eq(n->has_digest, 0);
	cr_assert_eq(n->err.code, 0);
	cr_assert_str_eq(n->err.msg, "");
	cr_assert_eq(rep.failed, 1);
	cr_assert_str_eq(margo_node_state_name(n->state), "failed");
	cr_assert_str_eq(margo_node_kind_name(n->kind), "image");
}

Test(margo_push_target, store_with_tag)
{
	struct margo_push_target t;
	struct err err;

	cr_assert_eq(margo_push_target_parse(&t, "store:team/app:1.0", &err), 0,
		     "%s", err.msg);
	cr_assert_eq(t.to_store, 1);
	cr_assert_str_eq(t.repo, "team/app");
	cr_assert_str_eq(t.ref.tag, "1.0");
}

Test(margo_push_target, store_without_tag_takes_the_version)
{
	struct margo_push_target t;
	struct err err;

	cr_assert_eq(
	    margo_push_target_parse(&t, "store:mirror.local:5000/app", &err), 0,
	    "%s", err.msg);
	cr_assert_eq(t.to_store, 1);
	cr_assert_str_eq(t.repo, "mirror.local:5000/app");
	cr_assert_str_eq(t.ref.tag, "", "the port is no tag");
}

Test(margo_push_target, registry_reference)
{
	struct margo_push_target t;
	struct err err;

	cr_assert_eq(margo_push_target_parse(
			 &t, "registry.example.com/org/app:2.0", &err),
		     0, "%s", err.msg);
	cr_assert_eq(t.to_store, 0);
	cr_assert_str_eq(t.repo, "registry.example.com/org/app");
	cr_assert_str_eq(t.ref.host, "registry.example.com");
	cr_assert_str_eq(t.ref.tag, "2.0");
	cr_assert_eq(margo_push_target_parse(&t, "localhost:5000/app", &err), 0,
		     "%s", err.msg);
	cr_assert_str_eq(t.ref.tag, "");
	cr_assert_str_eq(t.repo, "localhost:5000/app");
}

Test(margo_push_target, refuses_digest_and_garbage)
{
	struct margo_push_target t;
	struct err err;

	err_clear(&err);
	cr_assert_eq(margo_push_target_parse(&t,
					     "registry.example.com/app@sha256:"
					     "0123456789abcdef0123456789abcdef0"
					     "123456789abcdef0123456789abcdef",
					     &err),
		     ERR_INVALID);
	cr_assert_str_eq(err.msg, "REF takes a tag, not a digest");
	err_clear(&err);
	cr_assert_eq(margo_push_target_parse(&t, "store:Not A Ref", &err),
		     ERR_INVALID);
	cr_assert_neq(err.msg[0], '\0');
}

Test(margo_catalog_ref, store_prefix_optional)
{
	char repo[OCI_REPO_MAX], tag[OCI_TAG_MAX + 1];
	struct err err;

	cr_assert_eq(
	    margo_catalog_ref_parse(repo, tag, "store:team/app:1.0", &err), 0,
	    "%s", err.msg);
	cr_assert_str_eq(repo, "team/app");
	cr_assert_str_eq(tag, "1.0");
	cr_assert_eq(margo_catalog_ref_parse(
			 repo, tag, "mirror.local:5000/team/app", &err),
		     0, "%s", err.msg);
	cr_assert_str_eq(repo, "mirror.local:5000/team/app");
	cr_assert_str_eq(tag, "");
}

Test(margo_catalog_ref, refuses_an_invalid_name)
{
	char repo[OCI_REPO_MAX], tag[OCI_TAG_MAX + 1];
	struct err err;

	err_clear(&err);
	cr_assert_eq(margo_catalog_ref_parse(repo, tag, "store:", &err),
		     ERR_INVALID);
	cr_assert_str_eq(err.msg, "invalid reference \"\"");
	cr_assert_eq(margo_catalog_ref_parse(repo, tag, "Team/App", &err),
		     ERR_INVALID);
	cr_assert_str_eq(err.msg, "invalid reference \"Team/App\"");
}

Test(margo_arch_list, splits_and_checks_each)
{
	char list[] = "amd64,,arm/v7,arm64", *v[MARGO_ARCH_MAX];
	size_t n = 99;
	struct err err;

	cr_assert_eq(margo_arch_list_parse(v, &n, list, &err), 0, "%s",
		     err.msg);
	cr_assert_eq(n, 3);
	cr_assert_str_eq(v[0], "amd64");
	cr_assert_str_eq(v[1], "arm/v7");
	cr_assert_str_eq(v[2], "arm64");
}

Test(margo_arch_list, knows_margo_architectures_only)
{
	char sparc[] = "amd64,sparc", ok[] = "x86_64,aarch64,arm,riscv64,other";
	char *v[MARGO_ARCH_MAX];
	size_t n = 99;
	struct err err;

	cr_assert_eq(margo_arch_list_parse(v, &n, ok, &err), 0, "%s", err.msg);
	cr_assert_eq(n, 5);
	cr_assert_eq(margo_arch_list_parse(v, &n, sparc, &err), ERR_INVALID);
	cr_assert_str_eq(err.msg, "\"sparc\" is not an architecture "
				  "(amd64 or x86_64, arm64 or aarch64, "
				  "arm, arm/v6, arm/v7 or armhf, riscv64, "
				  "other)");
	cr_assert(margo_arch_known("arm/v6"));
	cr_assert(margo_arch_known("armhf"));
	cr_assert(!margo_arch_known("ppc64le"));
	cr_assert(!margo_arch_known("386"));
}

Test(margo_arch_list, the_variant_counts_as_in_the_accepted_list)
{
	static const char *const ok[] = {"arm/v7", "arm/v6", "arm",
					 "armhf", "ARM64", "arm64/v8"};
	static const char *const bad[] = {"arm/v5", "arm/v8", "amd64/v3",
					  "arm64/v7", "riscv64/v1", "other/x"};
	char list[] = "arm/v7,arm/v6", five[] = "amd64,arm/v5";
	char *v[MARGO_ARCH_MAX];
	size_t n = 0;
	struct err err;

	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
		cr_expect(margo_arch_known(ok[i]), "%s refused", ok[i]);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		cr_expect(!margo_arch_known(bad[i]), "%s accepted", bad[i]);
	cr_assert_eq(margo_arch_list_parse(v, &n, list, &err), 0, "%s",
		     err.msg);
	cr_assert_eq(n, 2);
	cr_assert_eq(margo_arch_list_parse(v, &n, five, &err), ERR_INVALID);
	cr_assert_str_eq(err.msg, "\"arm/v5\" is not an architecture "
				  "(" MARGO_ARCH_ACCEPTED ")");
}

Test(margo_arch_list, refuses_a_bad_one_none_and_too_many)
{
	char bad[] = "amd64,Not Arch", none[] = ",,", many[128];
	char *v[MARGO_ARCH_MAX];
	size_t n = 99, o = 0;
	struct err err;

	cr_assert_eq(margo_arch_list_parse(v, &n, bad, &err), ERR_INVALID);
	cr_assert_str_eq(err.msg, "\"Not Arch\" is not an architecture "
				  "(amd64 or x86_64, arm64 or aarch64, "
				  "arm, arm/v6, arm/v7 or armhf, riscv64, "
				  "other)");
	cr_assert_eq(n, 0);
	cr_assert_eq(margo_arch_list_parse(v, &n, none, &err), ERR_INVALID);
	cr_assert_str_eq(err.msg, "no architecture given");
	for (int i = 0; i <= MARGO_ARCH_MAX; i++)
		o += (size_t)snprintf(many + o, sizeof(many) - o, "%samd64",
				      i ? "," : "");
	cr_assert_eq(margo_arch_list_parse(v, &n, many, &err), ERR_INVALID);
	cr_assert_str_eq(err.msg, "more than 16 architectures");
}

Test(margo_version, versions_above_names_above_signatures)
{
	/* a, b and the sign of margo_version_cmp(a, b) */
	static const struct {
		const char *a, *b;
		int sign;
	} t[] = {
	    {"1.10.0", "1.9.0", 1},
	    {"1.2.0-rc.1", "1.2.0", -1},
	    {"1.0.0", "latest", 1},
	    {"1.0", "latest", 1},
	    {"2.0", "1.0.0", 1},	/* not SemVer above all */
	    {"0.1.0", "1.0", -1},
	    {"1.10", "1.9", 1},
	    {"v2", "1.5", 1},
	    {"v1.0", "3.0", -1},	/* v stripped */
	    {"V2.0.0", "1.0.0", 1}, /* V too */
	    {"V2.0.0", "v2.0.1", -1},
	    {"1.0-rc1", "1.0", -1}, /* a prerelease below the release */
	    {"1.0.0-rc.1", "1.0", -1},
	    {"1.0rc1", "1.0", -1},
	    {"1.0.0-alpha", "1.0.0-alpha.1", -1}, /* SemVer's own list */
	    {"1.0.0-alpha.1", "1.0.0-alpha.beta", -1},
	    {"1.0.0-alpha.beta", "1.0.0-beta", -1},
	    {"1.0.0-beta", "1.0.0-beta.2", -1},
	    {"1.0.0-beta.2", "1.0.0-beta.11", -1},
	    {"1.0.0-beta.11", "1.0.0-rc.1", -1},
	    {"1.0.0-rc.1", "1.0.0", -1},
	    {"1.0.0-9", "1.0.0-10", -1},
	    {"1.0.0-99", "1.0.0-a", -1},
	    /* no overflow: digit strings by length, then bytes */
	    {"18446744073709551616.0.0", "18446744073709551615.0.0", 1},
	    {"99999999999999999999999", "100000000000000000000000", -1},
	    {"1.0.0-99999999999999999999999", "1.0.0-100000000000000000000000",
	     -1},
	    {"007.1", "7.0", 1},
	    /* equal precedence: deterministic, never 0 */
	    {"1.0.0", "1.0", 1},
	    {"1.0", "1.00", -1}, /* bytewise */
	    {"1.0", "v1.0", -1},
	    {"1.0.0_build.10", "1.0.0_build.5", 1},
	    {"1.0.0+build.10", "1.0.0_build.10", -1},
	    {"1.0.0", "1.0.0+x", -1},
	    {"1.0.0+zzz", "1.0.1", -1}, /* build has no precedence */
	    {"1.0.0-rc.1_5", "1.0.0-rc.2", -1},
	    /* names bytewise, latest just a name */
	    {"stable", "latest", 1},
	    {"edge", "latest", -1},
	    {"vnext", "0.0.1", -1},
	    /* not versions: below names */
	    {"sha256-abc.sig", "latest", -1},
	    {"sha256-abc", "a", -1},
	    {"1.0.sig", "latest", -1},
	    {"1.0.att", "0.1", -1},
	    {"1.0.sbom", "0.1", -1},
	    {"1.0", "1.0", 0},
	    {"latest", "latest", 0},
	};

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		int c = margo_version_cmp(t[i].a, t[i].b);
		int r = margo_version_cmp(t[i].b, t[i].a);

		cr_expect_eq((c > 0) - (c < 0), t[i].sign, "%s vs %s: %d",
			     t[i].a, t[i].b, c);
		cr_expect_eq((r > 0) - (r < 0), -t[i].sign, "%s vs %s: %d",
			     t[i].b, t[i].a, r);
	}
}

#define HEXD "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

/* The highest of a NULL-terminated list, in either order. */
static const char *highest(char **v)
{
	static char *rev[16];
	size_t n = 0;
	const char *h;

	while (v[n])
		n++;
	for (size_t i = 0; i < n; i++)
		rev[i] = v[n - 1 - i];
	h = margo_version_highest(v, n);
	cr_assert_eq(margo_version_highest(rev, n), h, "order-independent");
	return h;
}

Test(margo_version, highest_skips_signatures)
{
	char *mixed[] = {"latest", "1.0", "2.0", "1.0.0", NULL};
	char *sig[] = {"latest", "sha256-abc.sig", NULL};
	char *ref[] = {"sha256-" HEXD, "latest", "sha256-" HEXD ".att", NULL};
	char *v[] = {"v1.0", "3.0", NULL};
	char *rc[] = {"1.0-rc1", "1.0", NULL};
	char *build[] = {"1.0.0_build.5", "1.0.0_build.10", NULL};
	char *only[] = {"sha256-abc.sig", "sha256-abc", NULL};

	cr_assert_str_eq(highest(mixed), "2.0");
	cr_assert_str_eq(highest(sig), "latest");
	cr_assert_str_eq(highest(ref), "latest");
	cr_assert_str_eq(highest(v), "3.0");
	cr_assert_str_eq(highest(rc), "1.0");
	cr_assert_str_eq(highest(build), "1.0.0_build.10");
	cr_assert_null(highest(only));
}

Test(margo_version, highest_of_a_list)
{
	char *tags[] = {"latest", "1.9.0", "1.10.0", "1.10.0-rc.2", "2.0"};

	cr_assert_str_eq(margo_version_highest(tags, 5), "2.0");
	cr_assert_str_eq(margo_version_highest(tags, 4), "1.10.0");
	cr_assert_str_eq(margo_version_highest(tags, 1), "latest");
	cr_assert_null(margo_version_highest(tags, 0));
}

Test(margo_arch, one_canonical_spelling)
{
	char a[48];

	margo_arch_canonical(a, sizeof(a), "x86_64");
	cr_assert_str_eq(a, "amd64");
	margo_arch_canonical(a, sizeof(a), "aarch64");
	cr_assert_str_eq(a, "arm64");
	margo_arch_canonical(a, sizeof(a), "armhf");
	cr_assert_str_eq(a, "arm/v7");
	margo_arch_canonical(a, sizeof(a), "Not Arch");
	cr_assert_str_eq(a, "Not Arch", "kept as written");
}

Test(margo_arch, profile_wording)
{
	struct margo_str archs[3] = {{.v = "x86_64"}, {.v = "amd64"},
				     {.v = "aarch64"}};
	struct margo_profile p;
	char s[100];

	memset(&p, 0, sizeof(p));
	margo_profile_arch_format(s, sizeof(s), &p);
	cr_assert_str_eq(s, "[any architecture]");
	p.architectures = archs;
	p.n_architectures = 3;
	margo_profile_arch_format(s, sizeof(s), &p);
	cr_assert_str_eq(s, "[amd64,arm64]");
}
