#include <criterion/criterion.h>
#include <string.h>

#include "cli/parse.h"

#define K 1024ull
#define M (1024ull * 1024)
#define G (1024ull * 1024 * 1024)

static uint64_t size_ok(const char *s)
{
	uint64_t v = 7;
	struct err e;

	err_clear(&e);
	cr_assert_eq(cli_parse_size(&v, "--split", s, 0, UINT64_MAX, &e), 0,
		     "%s: %s", s, e.msg);
	return v;
}

static void size_bad(const char *s, const char *want_msg)
{
	uint64_t v = 7;
	struct err e;

	err_clear(&e);
	cr_assert_eq(cli_parse_size(&v, "--split", s, 0, UINT64_MAX, &e),
		     ERR_INVALID, "%s accepted", s);
	cr_expect_eq(v, 7, "%s: out written on error", s);
	cr_expect(strstr(e.msg, want_msg), "%s: message \"%s\"", s, e.msg);
	cr_expect(!strncmp(e.msg, "--split: ", 9), "names the option: %s",
		  e.msg);
}

Test(cli_parse, sizes_in_every_form_push_and_export_accepted)
{
	cr_expect_eq(size_ok("1000"), 1000);
	cr_expect_eq(size_ok("512k"), 512 * K);
	cr_expect_eq(size_ok("512K"), 512 * K);
	cr_expect_eq(size_ok("700M"), 700 * M);
	cr_expect_eq(size_ok("700m"), 700 * M);
	cr_expect_eq(size_ok("4G"), 4 * G);
	cr_expect_eq(size_ok("4g"), 4 * G);
	cr_expect_eq(size_ok("4GB"), 4 * G);
	cr_expect_eq(size_ok("4GiB"), 4 * G);
	cr_expect_eq(size_ok("4Gi"), 4 * G);
	cr_expect_eq(size_ok("2T"), 2048 * G);
	cr_expect_eq(size_ok("1024B"), 1024);
	cr_expect_eq(size_ok("1.5M"), 1536 * K);
	cr_expect_eq(size_ok("0.5K"), 512);
	cr_expect_eq(size_ok("1.0000001K"), 1024); /* 6 fraction digits */
	cr_expect_eq(size_ok("0"), 0);
}

Test(cli_parse, sizes_refuse_what_is_not_the_grammar)
{
	size_bad("", "is not a size");
	size_bad("M", "is not a size");
	size_bad("-1M", "is not a size");
	size_bad("+1M", "is not a size");
	size_bad(" 1M", "is not a size");
	size_bad("1e6", "is not a size");
	size_bad("0x10", "is not a size");
	size_bad("1.M", "is not a size");
	size_bad("4GBB", "is not a size");
	size_bad("4X", "\"4X\"");
	size_bad("4M ", "is not a size");
	size_bad("99999999999999999999", "too large");
	size_bad("20000000T", "too large");
	/* "i" only after a unit letter: "Gi", "GiB" */
	size_bad("1048576i", "is not a size");
	size_bad("1024iB", "is not a size");
	size_bad("1.5i", "is not a size");
}

Test(cli_parse, sizes_out_of_range_name_the_bounds)
{
	uint64_t v = 7;
	struct err e;

	cr_assert_eq(cli_parse_size(&v, "--chunk-size", "512", K, 4 * G, &e),
		     ERR_INVALID);
	cr_expect_str_eq(e.msg, "--chunk-size: \"512\" is out of range 1K..4G");
	cr_assert_eq(cli_parse_size(&v, "--chunk-size", "5G", K, 4 * G, &e),
		     ERR_INVALID);
	cr_expect_str_eq(e.msg, "--chunk-size: \"5G\" is out of range 1K..4G");
	cr_assert_eq(cli_parse_size(&v, "--chunk-size", "4G", K, 4 * G, &e), 0);
	cr_expect_eq(v, 4 * G);
	cr_assert_eq(cli_parse_size(&v, "--split", "512K", M, UINT64_MAX, &e),
		     ERR_INVALID);
	cr_expect_str_eq(e.msg, "--split: \"512K\" is below 1M");
	cr_expect_eq(v, 4 * G);
}

Test(cli_parse, integers_in_range)
{
	int64_t v = 7;
	struct err e;

	cr_assert_eq(cli_parse_int(&v, "--level", "19", 1, 19, &e), 0);
	cr_expect_eq(v, 19);
	cr_assert_eq(cli_parse_int(&v, "--grace", "0", 0, INT64_MAX, &e), 0);
	cr_expect_eq(v, 0);
	cr_assert_eq(cli_parse_int(&v, "--n", "-5", -10, 10, &e), 0);
	cr_expect_eq(v, -5);
	cr_assert_eq(cli_parse_int(&v, "--level", "20", 1, 19, &e),
		     ERR_INVALID);
	cr_expect_str_eq(e.msg, "--level: \"20\" is out of range 1..19");
	cr_assert_eq(cli_parse_int(&v, "--grace", "-1", 0, INT64_MAX, &e),
		     ERR_INVALID);
	cr_expect_str_eq(e.msg, "--grace: \"-1\" is below 0");
	cr_assert_eq(cli_parse_int(&v, "--level", "3x", 1, 19, &e),
		     ERR_INVALID);
	cr_expect_str_eq(e.msg, "--level: \"3x\" is not a number");
	cr_assert_eq(cli_parse_int(&v, "--level", "", 1, 19, &e), ERR_INVALID);
	cr_assert_eq(cli_parse_int(&v, "--grace", "99999999999999999999", 0,
				   INT64_MAX, &e),
		     ERR_INVALID);
	cr_expect_eq(v, -5);
}

/* Overflow is not a range: "--grace 99999999999999999999" once said "is
 * below 0". */
Test(cli_parse, integers_past_64_bits_are_too_large)
{
	int64_t v = 7;
	struct err e;

	cr_assert_eq(cli_parse_int(&v, "--grace", "99999999999999999999", 0,
				   INT64_MAX, &e),
		     ERR_INVALID);
	cr_expect_str_eq(e.msg,
			 "--grace: \"99999999999999999999\" is too large");
	cr_assert_eq(cli_parse_int(&v, "--grace", "9223372036854775808", 0,
				   INT64_MAX, &e),
		     ERR_INVALID);
	cr_expect_str_eq(e.msg,
			 "--grace: \"9223372036854775808\" is too large");
	cr_assert_eq(
	    cli_parse_int(&v, "--level", "99999999999999999999", 1, 19, &e),
	    ERR_INVALID);
	cr_expect_str_eq(e.msg,
			 "--level: \"99999999999999999999\" is too large");
	cr_expect_eq(v, 7);
	cr_assert_eq(cli_parse_int(&v, "--grace", "9223372036854775807", 0,
				   INT64_MAX, &e),
		     0, "%s", e.msg);
	cr_expect_eq(v, INT64_MAX);
	cr_assert_eq(cli_parse_int(&v, "--n", "-9223372036854775808", INT64_MIN,
				   INT64_MAX, &e),
		     0, "%s", e.msg);
	cr_expect_eq(v, INT64_MIN);
}

/* No sign where min >= 0: "-0" is as refused as "-1". */
Test(cli_parse, a_minus_is_refused_when_min_is_not_negative)
{
	int64_t v = 7;
	struct err e;

	cr_assert_eq(cli_parse_int(&v, "--grace", "-0", 0, INT64_MAX, &e),
		     ERR_INVALID);
	cr_expect_str_eq(e.msg, "--grace: \"-0\" is below 0");
	cr_assert_eq(cli_parse_int(&v, "--level", "-0", 1, 19, &e),
		     ERR_INVALID);
	cr_expect_str_eq(e.msg, "--level: \"-0\" is out of range 1..19");
	cr_expect_eq(v, 7);
	cr_assert_eq(cli_parse_int(&v, "--n", "-0", -10, 10, &e), 0);
	cr_expect_eq(v, 0);
}

Test(cli_parse, concurrency_is_1_to_256)
{
	int c = 3;
	struct err e;

	cr_assert_eq(cli_parse_concurrency(&c, "256", &e), 0);
	cr_expect_eq(c, 256);
	cr_assert_eq(cli_parse_concurrency(&c, "1", &e), 0);
	cr_expect_eq(c, 1);
	cr_assert_eq(cli_parse_concurrency(&c, "0", &e), ERR_INVALID);
	cr_expect_str_eq(e.msg, "--concurrency: \"0\" is out of range 1..256");
	cr_assert_eq(cli_parse_concurrency(&c, "257", &e), ERR_INVALID);
	cr_assert_eq(cli_parse_concurrency(&c, "eight", &e), ERR_INVALID);
	cr_expect_str_eq(e.msg, "--concurrency: \"eight\" is not a number");
	cr_expect_eq(c, 1);
}
