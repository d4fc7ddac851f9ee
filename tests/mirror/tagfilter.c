/* Tag selection (mirror/sync/tagfilter.h) over filters read from a sync
 * rule, as sync uses them. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mirror/sync/syncconf.h"
#include "mirror/sync/tagfilter.h"

static struct sync_config cfg;
static struct err err;

static void fini(void)
{
	syncconf_release(&cfg);
}

TestSuite(tagfilter, .fini = fini);

static void parse_ok(const char *yaml)
{
	int rc = syncconf_parse(&cfg, "t.yaml", yaml, strlen(yaml), &err);

	cr_assert_eq(rc, 0, "parse failed: %s\n--\n%s", err.msg, yaml);
}

static char **sel;
static size_t n_sel;

static void select_with(const char *rule_yaml, const char *const *tags,
			size_t n)
{
	char yaml[1024];
	int rc;

	snprintf(yaml, sizeof(yaml), "sync:\n- %s\n", rule_yaml);
	syncconf_release(&cfg);
	parse_ok(yaml);
	oci_strv_free(sel);
	rc = tagfilter_select(&sel, &n_sel,
			      cfg.rules[0].has_tags ? &cfg.rules[0].tags : NULL,
			      (char *const *)tags, n, &err);
	cr_assert_eq(rc, 0, "%s", err.msg);
	cr_assert_not_null(sel);
	cr_assert_null(sel[n_sel]);
}

/* want: space-separated expected tags, in order. */
static void expect_sel(const char *want)
{
	char list[512], *save = NULL, *tok;
	size_t i = 0;

	snprintf(list, sizeof(list), "%s", want);
	for (tok = strtok_r(list, " ", &save); tok;
	     tok = strtok_r(NULL, " ", &save), i++) {
		cr_assert_lt(i, n_sel, "missing \"%s\" (got %zu tags)", tok,
			     n_sel);
		cr_expect_str_eq(sel[i], tok, "position %zu", i);
	}
	cr_expect_eq(n_sel, i, "got %zu tags, want %zu (%s)", n_sel, i, want);
	oci_strv_free(sel);
	sel = NULL;
}

static const char *const upstream[] = {
    "latest", "v2.0.0", "v2.1.0", "2.1.1",	"v2.2.0-rc.1",	 "v2.2.0",
    "v2.3.0", "2.4.0",	"v2.5.0", "v2.10.0",	"v3.0.0",	 "1.9.0",
    "2.5",    "v2.6.0", "stable", "v2.11.0-rc", "2.12.0-beta.1",
};
#define N_UP (sizeof(upstream) / sizeof(upstream[0]))

Test(tagfilter, no_tags_key_selects_all_lexically)
{
	static const char *const t[] = {"b",	"a", "c",    "a",
					"../x", "",  "-bad", "B"};

	select_with("{source: a}", t, sizeof(t) / sizeof(t[0]));
	/* Repeats once, names that cannot be tags dropped. */
	expect_sel("B a b c");
}

Test(tagfilter, issue_filter_combines_regex_exclude_semver_latest)
{
	select_with("{source: a, tags: {regex: '^v?2\\.', exclude: '-rc', "
		    "semver: '>=2.1.0 <3.0.0', latest: 5}}",
		    upstream, N_UP);
	/* 2.5 is not SemVer; v2.2.0-rc.1 excluded; v3.0.0 out of range;
	 * 2.12.0-beta.1 not admitted by a range without pre-releases. */
	expect_sel("v2.3.0 2.4.0 v2.5.0 v2.6.0 v2.10.0");
}

Test(tagfilter, semver_without_latest_keeps_all_in_semver_order)
{
	select_with("{source: a, tags: {semver: '^2.1'}}", upstream, N_UP);
	expect_sel("v2.1.0 2.1.1 v2.2.0 v2.3.0 2.4.0 v2.5.0 v2.6.0 v2.10.0");
}

Test(tagfilter, latest_alone_counts_prereleases_and_drops_non_semver)
{
	select_with("{source: a, tags: {latest: 3}}", upstream, N_UP);
	expect_sel("v2.11.0-rc 2.12.0-beta.1 v3.0.0");
	select_with("{source: a, tags: {latest: 3, exclude: '-'}}", upstream,
		    N_UP);
	expect_sel("v2.6.0 v2.10.0 v3.0.0");
	select_with("{source: a, tags: {latest: 100, regex: '^1'}}", upstream,
		    N_UP);
	expect_sel("1.9.0");
}

Test(tagfilter, latest_orders_equal_versions_lexically)
{
	static const char *const t[] = {"v1.0.0", "1.0.0", "0.9.0"};

	select_with("{source: a, tags: {latest: 2}}", t, 3);
	expect_sel("1.0.0 v1.0.0");
}

Test(tagfilter, regex_and_exclude_without_semver_are_lexical)
{
	select_with("{source: a, tags: {regex: '^v2\\.[0-9]+\\.0$', exclude: "
		    "'^v2\\.1'}}",
		    upstream, N_UP);
	expect_sel("v2.0.0 v2.2.0 v2.3.0 v2.5.0 v2.6.0");
	select_with("{source: a, tags: {regex: 'stable|latest'}}", upstream,
		    N_UP);
	expect_sel("latest stable");
}

Test(tagfilter, semver_range_with_prereleases)
{
	select_with("{source: a, tags: {semver: '>=2.2.0-rc.1 <2.3.0'}}",
		    upstream, N_UP);
	expect_sel("v2.2.0-rc.1 v2.2.0");
}

Test(tagfilter, exact_list_selects_only_what_exists)
{
	select_with("{source: a, tags: [v2.0.0, gone, stable, '2.5']}",
		    upstream, N_UP);
	expect_sel("2.5 stable v2.0.0");
}

Test(tagfilter, empty_upstream_selects_nothing)
{
	select_with("{source: a, tags: {latest: 2}}", NULL, 0);
	expect_sel("");
	select_with("{source: a}", NULL, 0);
	expect_sel("");
}

Test(tagfilter, selection_does_not_depend_on_listing_order)
{
	const char *rev[N_UP];
	char *first[16];
	size_t n_first;

	for (size_t i = 0; i < N_UP; i++)
		rev[i] = upstream[N_UP - 1 - i];
	select_with("{source: a, tags: {semver: '*', latest: 4}}", upstream,
		    N_UP);
	n_first = n_sel;
	cr_assert_eq(n_first, 4);
	for (size_t i = 0; i < n_first; i++)
		first[i] = strdup(sel[i]);
	select_with("{source: a, tags: {semver: '*', latest: 4}}", rev, N_UP);
	cr_assert_eq(n_sel, n_first);
	for (size_t i = 0; i < n_first; i++) {
		cr_expect_str_eq(sel[i], first[i]);
		free(first[i]);
	}
	expect_sel("v2.5.0 v2.6.0 v2.10.0 v3.0.0");
}
