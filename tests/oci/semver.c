/* SemVer versions, precedence and ranges (oci/semver.h). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "oci/semver.h"

Test(semver, parses_release_prerelease_build_and_leading_v)
{
	struct semver v;

	cr_assert_eq(semver_parse(&v, "1.2.3"), 0);
	cr_expect_eq(v.major, 1);
	cr_expect_eq(v.minor, 2);
	cr_expect_eq(v.patch, 3);
	cr_expect_str_empty(v.pre);
	cr_assert_eq(semver_parse(&v, "v10.20.30-rc.1+build.5"), 0);
	cr_expect_eq(v.major, 10);
	cr_expect_eq(v.minor, 20);
	cr_expect_eq(v.patch, 30);
	cr_expect_str_eq(v.pre, "rc.1");
	cr_assert_eq(semver_parse(&v, "0.0.0+20240101.sha-abc"), 0);
	cr_expect_str_empty(v.pre);
	cr_assert_eq(semver_parse(&v, "1.0.0-x-y-z.--"), 0);
	cr_expect_str_eq(v.pre, "x-y-z.--");
	cr_assert_eq(semver_parse(&v, "18446744073709551615.0.0-0"), 0);
	cr_expect_eq(v.major, 18446744073709551615ULL);
	cr_expect_str_eq(v.pre, "0");
}

Test(semver, rejects_what_is_not_semver)
{
	static const char *const bad[] = {
	    "",	       "1",	      "1.2",
	    "1.2.3.4", "01.2.3",      "1.02.3",
	    "1.2.03",  "1.2.3-01",    "1.2.3-",
	    "1.2.3+",  "1.2.3-a..b",  "1.2.3-a_b",
	    "V1.2.3",  "vv1.2.3",     " 1.2.3",
	    "1.2.3 ",  "latest",      "-1.2.3",
	    "1.2.-3",  "1.2.3-rc.1+", "18446744073709551616.0.0",
	};
	struct semver v;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		cr_expect_eq(semver_parse(&v, bad[i]), -1, "\"%s\" parsed",
			     bad[i]);
		cr_expect_eq(v.major + v.minor + v.patch, 0);
	}
}

Test(semver, long_prerelease_is_refused_not_truncated)
{
	char s[200];
	struct semver v;

	memset(s, 'a', sizeof(s));
	memcpy(s, "1.0.0-", 6);
	s[6 + 127] = '\0';
	cr_expect_eq(semver_parse(&v, s), 0);
	cr_expect_eq(strlen(v.pre), 127);
	s[6 + 127] = 'a';
	s[6 + 128] = '\0';
	cr_expect_eq(semver_parse(&v, s), -1);
}

static int cmp_s(const char *a, const char *b)
{
	struct semver x, y;

	cr_assert_eq(semver_parse(&x, a), 0, "%s", a);
	cr_assert_eq(semver_parse(&y, b), 0, "%s", b);
	return semver_cmp(&x, &y);
}

Test(semver, precedence_follows_semver_2)
{
	/* The chain from SemVer 2.0 §11, plus numeric fields. */
	static const char *const chain[] = {
	    "1.0.0-alpha",  "1.0.0-alpha.1", "1.0.0-alpha.beta", "1.0.0-beta",
	    "1.0.0-beta.2", "1.0.0-beta.11", "1.0.0-rc.1",	 "1.0.0",
	    "1.0.1",	    "1.2.0",	     "1.10.0",		 "2.0.0-0",
	    "2.0.0-1",	    "2.0.0-9",	     "2.0.0-10",	 "2.0.0-A",
	    "2.0.0-a",	    "2.0.0",	     "10.0.0",
	};
	size_t n = sizeof(chain) / sizeof(chain[0]);

	for (size_t i = 0; i < n; i++)
		for (size_t j = 0; j < n; j++) {
			int want = i < j ? -1 : i > j ? 1 : 0;

			cr_expect_eq(cmp_s(chain[i], chain[j]), want,
				     "%s vs %s", chain[i], chain[j]);
		}
	cr_expect_eq(cmp_s("1.0.0+a", "1.0.0+b"), 0);
	cr_expect_eq(cmp_s("v1.0.0", "1.0.0"), 0);
	cr_expect_eq(cmp_s("1.0.0-rc.1+x", "1.0.0-rc.1"), 0);
	cr_expect_eq(
	    cmp_s("1.0.0-99999999999999999999", "1.0.0-100000000000000000000"),
	    -1);
	cr_expect_eq(cmp_s("1.0.0-alpha.1", "1.0.0-alpha.1.0"), -1);
}

static void match_table(const char *range, const char *yes, const char *no)
{
	struct semver_range *r = NULL;
	struct err e;
	char list[512], *save = NULL, *tok;
	struct semver v;

	cr_assert_eq(semver_range_parse(&r, range, &e), 0, "%s: %s", range,
		     e.msg);
	snprintf(list, sizeof(list), "%s", yes);
	for (tok = strtok_r(list, " ", &save); tok;
	     tok = strtok_r(NULL, " ", &save)) {
		cr_assert_eq(semver_parse(&v, tok), 0, "%s", tok);
		cr_expect(semver_range_match(r, &v), "\"%s\" should match %s",
			  range, tok);
	}
	snprintf(list, sizeof(list), "%s", no);
	for (tok = strtok_r(list, " ", &save); tok;
	     tok = strtok_r(NULL, " ", &save)) {
		cr_assert_eq(semver_parse(&v, tok), 0, "%s", tok);
		cr_expect_not(semver_range_match(r, &v),
			      "\"%s\" should not match %s", range, tok);
	}
	semver_range_free(r);
}

Test(semver, comparators)
{
	match_table(">=2.1.0 <3.0.0", "2.1.0 2.1.1 2.9.99 v2.5.0",
		    "2.0.9 3.0.0 3.0.1 1.0.0 2.5.0-rc.1 3.0.0-alpha");
	match_table(">1.2.3", "1.2.4 2.0.0", "1.2.3 1.0.0 1.2.4-rc.1");
	match_table("<=1.2.3", "1.2.3 0.0.1", "1.2.4 1.2.3-rc.1");
	match_table("<1.2.3", "1.2.2 0.0.0", "1.2.3 1.2.3-rc.1");
	match_table("=1.2.3", "1.2.3 v1.2.3", "1.2.4 1.2.3-rc");
	match_table("1.2.3", "1.2.3", "1.2.2");
	match_table(">= 1.2.0  < 1.3.0", "1.2.0 1.2.9", "1.3.0 1.1.9");
}

Test(semver, tilde_caret_and_wildcards)
{
	match_table("~1.2.3", "1.2.3 1.2.99", "1.3.0 1.2.2 1.2.4-rc.1");
	match_table("~1.2", "1.2.0 1.2.9", "1.3.0 1.1.9");
	match_table("~1", "1.0.0 1.9.9", "2.0.0 0.9.9");
	match_table("^1.2.3", "1.2.3 1.9.0", "2.0.0 1.2.2 2.0.0-0");
	match_table("^0.2.3", "0.2.3 0.2.9", "0.3.0 0.2.2");
	match_table("^0.0.3", "0.0.3", "0.0.4 0.0.2");
	match_table("^1.2", "1.2.0 1.99.0", "2.0.0 1.1.0");
	match_table("^0.0", "0.0.0 0.0.9", "0.1.0");
	match_table("^0", "0.0.0 0.9.9", "1.0.0");
	match_table("1.x", "1.0.0 1.99.99", "2.0.0 0.9.9 1.5.0-rc.1");
	match_table("1.2.x", "1.2.0 1.2.7", "1.3.0 1.1.0");
	match_table("1.2.*", "1.2.0", "1.3.0");
	match_table("1.X", "1.4.0", "2.0.0");
	match_table("*", "0.0.0 1.0.0 99.0.0", "1.0.0-rc.1");
	match_table("x", "5.0.0", "");
	match_table(">1.2", "1.3.0 2.0.0", "1.2.9 1.2.0");
	match_table(">=1.2", "1.2.0 1.3.0", "1.1.9");
	match_table("<1.2", "1.1.9", "1.2.0 1.2.1");
	match_table("<=1.2", "1.2.9 1.1.0", "1.3.0");
	match_table(">*", "", "1.0.0 0.0.0");
	match_table("<*", "", "1.0.0");
	match_table("v1.2.x", "1.2.3", "1.3.0");
}

Test(semver, alternatives)
{
	match_table("1.2.x || >=2.5.0 <3", "1.2.0 2.5.0 2.9.0",
		    "1.3.0 2.4.9 3.0.0");
	match_table("<1.0.0||>=2.0.0", "0.9.0 2.0.0", "1.5.0");
}

Test(semver, prereleases_only_with_a_prerelease_comparator)
{
	match_table(">=2.0.0-rc.1 <3.0.0", "2.0.0-rc.1 2.0.0-rc.2 2.0.0 2.5.0",
		    "2.0.0-beta 2.1.0-rc.1 3.0.0-rc.1 1.0.0");
	match_table("~1.2.3-beta.2", "1.2.3-beta.2 1.2.3-beta.10 1.2.3 1.2.9",
		    "1.2.3-beta.1 1.2.4-beta.1 1.3.0");
	match_table("=2.0.0-rc.1", "2.0.0-rc.1", "2.0.0-rc.2 2.0.0");
	match_table(">=1.0.0 || >=2.0.0-rc.1", "2.0.0-rc.2 1.0.0",
		    "1.5.0-rc.1");
	match_table("<2.0.0-0", "1.9.9", "2.0.0-0 2.0.0-alpha 2.0.0");
}

Test(semver, huge_numbers_do_not_wrap)
{
	match_table("^18446744073709551615", "18446744073709551615.0.0",
		    "18446744073709551614.9.9");
	match_table(">18446744073709551615", "", "18446744073709551615.9.9");
	match_table("<=18446744073709551615.x",
		    "18446744073709551615.5.0 1.0.0", "");
}

Test(semver, bad_ranges)
{
	static const struct {
		const char *range, *words;
	} bad[] = {
	    {"", "empty"},
	    {"   ", "empty"},
	    {">=", "an operator without a version"},
	    {"abc", "not a version"},
	    {">=1.0.0 ||", "empty alternative"},
	    {"|| 1.0.0", "empty alternative"},
	    {"1.0.0 || || 2.0.0", "empty alternative"},
	    {"1.0.0 | 2.0.0", "stray '|'"},
	    {"1.x.3", "not a version"},
	    {"1.2-rc.1", "not a version"},
	    {"1.2.3.4", "not a version"},
	    {"1.2.3 - 2.0.0", "not a version"},
	    {">=01.0.0", "not a version"},
	    {"~>1.2", "not a version"},
	    {">=1.0.0<2", "not a version"},
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct semver_range *r = (struct semver_range *)1;
		struct err e;
		int rc = semver_range_parse(&r, bad[i].range, &e);

		cr_expect_eq(rc, ERR_INVALID, "\"%s\" parsed", bad[i].range);
		cr_expect_null(r);
		cr_expect(strstr(e.msg, bad[i].words) != NULL,
			  "\"%s\": \"%s\" lacks \"%s\"", bad[i].range, e.msg,
			  bad[i].words);
		cr_expect(strstr(e.msg, "invalid semver range") == e.msg, "%s",
			  e.msg);
	}
}
