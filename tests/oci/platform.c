#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "oci/platform.h"

static struct oci_platform p;
static struct err err;

static void expect_parse(const char *s, const char *os, const char *arch,
			 const char *variant)
{
	cr_assert_eq(oci_platform_parse(&p, s, &err), 0, "%s: %s", s, err.msg);
	cr_expect_str_eq(p.os, os, "os of %s", s);
	cr_expect_str_eq(p.arch, arch, "arch of %s", s);
	cr_expect_str_eq(p.variant, variant, "variant of %s", s);
	cr_expect_str_empty(p.os_version);
}

static void expect_bad(const char *s, const char *words)
{
	err_clear(&err);
	cr_assert_eq(oci_platform_parse(&p, s, &err), ERR_INVALID, "%s", s);
	cr_expect(strstr(err.msg, words), "\"%s\" lacks \"%s\"", err.msg, words);
	cr_expect(strstr(err.msg, "invalid platform"), "%s", err.msg);
	cr_expect_str_empty(p.os);
	cr_expect_str_empty(p.arch);
}

static struct oci_platform mk(const char *os, const char *arch,
			      const char *variant)
{
	struct oci_platform x;

	memset(&x, 0, sizeof(x));
	snprintf(x.os, sizeof(x.os), "%s", os);
	snprintf(x.arch, sizeof(x.arch), "%s", arch);
	snprintf(x.variant, sizeof(x.variant), "%s", variant);
	return x;
}

Test(oci_platform, parses_os_arch)
{
	expect_parse("linux/amd64", "linux", "amd64", "");
	expect_parse("windows/amd64", "windows", "amd64", "");
	expect_parse("linux/s390x", "linux", "s390x", "");
}

Test(oci_platform, parses_variant)
{
	expect_parse("linux/arm/v6", "linux", "arm", "v6");
	expect_parse("linux/riscv64/rva20u64", "linux", "riscv64", "rva20u64");
}

Test(oci_platform, normalises_arch_aliases)
{
	expect_parse("linux/aarch64", "linux", "arm64", "");
	expect_parse("linux/x86_64", "linux", "amd64", "");
	expect_parse("linux/x86-64", "linux", "amd64", "");
	expect_parse("linux/i386", "linux", "386", "");
	expect_parse("linux/i686", "linux", "386", "");
	expect_parse("linux/armhf", "linux", "arm", "v7");
	expect_parse("linux/armel", "linux", "arm", "v6");
}

Test(oci_platform, arm_defaults_to_v7)
{
	expect_parse("linux/arm", "linux", "arm", "v7");
	expect_parse("linux/arm/7", "linux", "arm", "v7");
}

Test(oci_platform, arm64_v8_is_no_variant)
{
	expect_parse("linux/arm64/v8", "linux", "arm64", "");
	expect_parse("linux/arm64/8", "linux", "arm64", "");
	expect_parse("linux/aarch64/v8", "linux", "arm64", "");
	expect_parse("linux/arm64/v9", "linux", "arm64", "v9");
}

Test(oci_platform, lowercases)
{
	expect_parse("Linux/AMD64", "linux", "amd64", "");
	expect_parse("LINUX/ARM/V7", "linux", "arm", "v7");
}

Test(oci_platform, shape_errors)
{
	expect_bad("linux", "expected os/arch[/variant]");
	expect_bad("", "expected os/arch");
	expect_bad("linux/arm/v7/extra", "expected os/arch");
	expect_bad("/amd64", "os is empty");
	expect_bad("linux/", "architecture is empty");
	expect_bad("linux/arm/", "variant is empty");
	expect_bad("linux//v7", "architecture");
}

Test(oci_platform, bad_characters_refused)
{
	expect_bad("linux/am d64", "architecture");
	expect_bad("lin\xc3\xbcx/amd64", "os");
	cr_expect(strstr(err.msg, "\\xc3\\xbc"), "escaped: %s", err.msg);
	expect_bad("linux/../x", "architecture");
	expect_bad("linux/amd64\n", "architecture");
}

Test(oci_platform, over_long_parts_refused)
{
	char s[200];

	memset(s, 0, sizeof(s));
	memcpy(s, "linux/", 6);
	memset(s + 6, 'a', 31);
	cr_expect_eq(oci_platform_parse(&p, s, &err), 0, "%s", err.msg);
	cr_expect_eq(strlen(p.arch), 31);
	s[6 + 31] = 'a';
	expect_bad(s, "architecture is longer than 31 characters");
	snprintf(s, sizeof(s), "linux/arm/v123456789012345");
	expect_bad(s, "variant is longer than 15");
}

Test(oci_platform, null_refused)
{
	cr_expect_eq(oci_platform_parse(&p, NULL, &err), ERR_INVALID);
	cr_expect(strstr(err.msg, "none given"), "%s", err.msg);
}

Test(oci_platform, normalize_in_place)
{
	struct oci_platform x = mk("Linux", "AArch64", "V8");

	oci_platform_normalize(&x);
	cr_expect_str_eq(x.os, "linux");
	cr_expect_str_eq(x.arch, "arm64");
	cr_expect_str_empty(x.variant);
	x = mk("linux", "amd64", "v1");
	oci_platform_normalize(&x);
	cr_expect_str_empty(x.variant);
	x = mk("linux", "amd64", "v3");
	oci_platform_normalize(&x);
	cr_expect_str_eq(x.variant, "v3");
}

Test(oci_platform, match_exact)
{
	struct oci_platform want = mk("linux", "amd64", "");
	struct oci_platform have = mk("linux", "amd64", "");

	cr_expect_eq(oci_platform_match(&want, &have), 1);
	have = mk("windows", "amd64", "");
	cr_expect_eq(oci_platform_match(&want, &have), 0);
	have = mk("linux", "arm64", "");
	cr_expect_eq(oci_platform_match(&want, &have), 0);
}

Test(oci_platform, match_arm_default_variant)
{
	struct oci_platform want, have;

	cr_assert_eq(oci_platform_parse(&want, "linux/arm", &err), 0);
	have = mk("linux", "arm", "v7");
	cr_expect_eq(oci_platform_match(&want, &have), 1);
	have = mk("linux", "arm", "");
	cr_expect_eq(oci_platform_match(&want, &have), 1, "absent variant in have");
	have = mk("linux", "arm", "v6");
	cr_expect_eq(oci_platform_match(&want, &have), 0);
	cr_assert_eq(oci_platform_parse(&want, "linux/arm/v6", &err), 0);
	cr_expect_eq(oci_platform_match(&want, &have), 1);
	have = mk("linux", "arm", "v7");
	cr_expect_eq(oci_platform_match(&want, &have), 0);
}

Test(oci_platform, match_arm64_v8_either_way)
{
	struct oci_platform want, have;

	cr_assert_eq(oci_platform_parse(&want, "linux/arm64/v8", &err), 0);
	have = mk("linux", "arm64", "");
	cr_expect_eq(oci_platform_match(&want, &have), 1);
	have = mk("linux", "arm64", "v8");
	cr_expect_eq(oci_platform_match(&want, &have), 1);
	cr_assert_eq(oci_platform_parse(&want, "linux/arm64", &err), 0);
	cr_expect_eq(oci_platform_match(&want, &have), 1);
	have = mk("linux", "arm64", "v9");
	cr_expect_eq(oci_platform_match(&want, &have), 0);
}

Test(oci_platform, match_ignores_os_version)
{
	struct oci_platform want = mk("windows", "amd64", "");
	struct oci_platform have = mk("windows", "amd64", "");

	snprintf(have.os_version, sizeof(have.os_version), "10.0.17763.5329");
	cr_expect_eq(oci_platform_match(&want, &have), 1);
}

Test(oci_platform, match_unknown_never_matches_real)
{
	struct oci_platform want = mk("linux", "amd64", "");
	struct oci_platform have = mk("unknown", "unknown", "");

	cr_expect_eq(oci_platform_match(&want, &have), 0);
}

Test(oci_platform, format)
{
	char s[64];

	cr_assert_eq(oci_platform_parse(&p, "linux/armhf", &err), 0);
	oci_platform_format(&p, s, sizeof(s));
	cr_expect_str_eq(s, "linux/arm/v7");
	cr_assert_eq(oci_platform_parse(&p, "linux/x86_64", &err), 0);
	oci_platform_format(&p, s, sizeof(s));
	cr_expect_str_eq(s, "linux/amd64");
	oci_platform_format(&p, s, 4);
	cr_expect_str_eq(s, "lin");
}

Test(oci_platform, parse_list)
{
	struct oci_platform *list = NULL;
	size_t n = 0;

	cr_assert_eq(oci_platform_parse_list(&list, &n,
					     "linux/amd64, linux/arm64/v8 ,linux/armhf",
					     &err),
		     0, "%s", err.msg);
	cr_assert_eq(n, 3);
	cr_expect_str_eq(list[0].arch, "amd64");
	cr_expect_str_eq(list[1].arch, "arm64");
	cr_expect_str_empty(list[1].variant);
	cr_expect_str_eq(list[2].arch, "arm");
	cr_expect_str_eq(list[2].variant, "v7");
	free(list);
}

Test(oci_platform, parse_list_single)
{
	struct oci_platform *list = NULL;
	size_t n = 0;

	cr_assert_eq(oci_platform_parse_list(&list, &n, "linux/386", &err), 0);
	cr_assert_eq(n, 1);
	cr_expect_str_eq(list[0].os, "linux");
	cr_expect_str_eq(list[0].arch, "386");
	free(list);
}

Test(oci_platform, parse_list_errors_leave_nothing)
{
	struct oci_platform *list = (struct oci_platform *)&p;
	size_t n = 7;

	cr_expect_eq(oci_platform_parse_list(&list, &n, "linux/amd64,,linux/arm64",
					     &err),
		     ERR_INVALID);
	cr_expect(strstr(err.msg, "entry 2 is empty"), "%s", err.msg);
	cr_expect_null(list);
	cr_expect_eq(n, 0);

	cr_expect_eq(oci_platform_parse_list(&list, &n, "linux/amd64,", &err),
		     ERR_INVALID);
	cr_expect(strstr(err.msg, "entry 2 is empty"), "%s", err.msg);
	cr_expect_eq(oci_platform_parse_list(&list, &n, "", &err), ERR_INVALID);
	cr_expect(strstr(err.msg, "entry 1 is empty"), "%s", err.msg);
	cr_expect_eq(oci_platform_parse_list(&list, &n, "linux/amd64,linux", &err),
		     ERR_INVALID);
	cr_expect(strstr(err.msg, "invalid platform \"linux\""), "%s", err.msg);
	cr_expect_null(list);
	cr_expect_eq(n, 0);
}

Test(oci_platform, parse_list_caps_count)
{
	static char s[300 * 12];
	struct oci_platform *list = NULL;
	size_t n = 0, i, off = 0;

	for (i = 0; i < 300; i++)
		off += (size_t)snprintf(s + off, sizeof(s) - off, "%slinux/amd64",
					i ? "," : "");
	cr_expect_eq(oci_platform_parse_list(&list, &n, s, &err), ERR_TOO_LARGE);
	cr_expect(strstr(err.msg, "more than 256"), "%s", err.msg);
	cr_expect_null(list);
}
