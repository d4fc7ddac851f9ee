#include <criterion/criterion.h>
#include <getopt.h>
#include <string.h>

#include "cli/parse.h"

static const struct option gc_opts[] = {
    {"dry-run", no_argument, NULL, 'n'},
    {"grace", required_argument, NULL, 'g'},
    {"json", no_argument, NULL, 0},
    {NULL, 0, NULL, 0},
};

/* getopt_long over "gc ARGS..." (optstring ":np:") up to its first error;
 * the message cli_option_error makes of it. */
static const char *first_error(char *dst, size_t cap, const char *const *args)
{
	char *argv[16];
	int argc = 0, ch;

	argv[argc++] = (char *)"gc";
	for (; *args; args++)
		argv[argc++] = (char *)*args;
	argv[argc] = NULL;
	optind = 0;
	opterr = 0;
	while ((ch = getopt_long(argc, argv, ":np:", gc_opts, NULL)) != -1)
		if (ch == '?' || ch == ':') {
			cli_option_error(dst, cap, ch, optind, optopt, argv,
					 gc_opts);
			return dst;
		}
	return "(no error)";
}

#define ERR_IS(want, ...)                                                   \
	do {                                                                \
		const char *a_[] = {__VA_ARGS__, NULL};                     \
		char m_[128];                                               \
		cr_expect_str_eq(first_error(m_, sizeof(m_), a_), want);    \
	} while (0)

Test(cli_options, a_short_option_in_a_cluster_is_named_not_the_argument_before)
{
	ERR_IS("unknown option -x", "--dry-run", "-xn");
	ERR_IS("unknown option -x", "--grace=5", "-xn");
	ERR_IS("unknown option -x", "--grace", "5", "-nxn");
	ERR_IS("unknown option -x", "-nx");
	ERR_IS("unknown option -x", "-x");
	ERR_IS("unknown option -\\x01", "--dry-run", "-\001n");
}

Test(cli_options, long_options_are_named_as_typed_without_the_value)
{
	ERR_IS("unknown option --bogus", "--bogus");
	ERR_IS("unknown option --bogus", "-n", "--bogus=3");
	ERR_IS("option --dry-run takes no value", "--dry-run=yes");
	ERR_IS("option --dry takes no value", "--dry=yes");
	ERR_IS("option --json takes no value", "-n", "--json=1"); /* val 0 */
	ERR_IS("option --grace needs a value", "-n", "--grace");
	ERR_IS("option -p needs a value", "-p");
	ERR_IS("option -p needs a value", "-np");
}

Test(cli_options, operands_end_options_at_double_dash_and_keep_a_lone_dash)
{
	char *a1[] = {"import", "--", "-odd.tar", "--", NULL};
	char *a2[] = {"import", "-", "x", NULL};
	char *a3[] = {"import", "x", "-l", "--", NULL};
	int n1 = 4, n2 = 3, n3 = 4;

	cr_expect_eq(cli_operands(&n1, a1), 0);
	cr_expect_eq(n1, 3);
	cr_expect_str_eq(a1[1], "-odd.tar");
	cr_expect_str_eq(a1[2], "--", "only the first \"--\" is removed");
	cr_expect_null(a1[3]);
	cr_expect_eq(cli_operands(&n2, a2), 0);
	cr_expect_eq(n2, 3);
	cr_expect_eq(cli_operands(&n3, a3), 2);
	cr_expect_eq(n3, 4);
	cr_expect_str_eq(a3[3], "--");
}
