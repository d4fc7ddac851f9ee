/* file_read_capped: the one capped reader of local input files. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mirror/file.h"

static char dir[] = "/tmp/ocimirror-file-XXXXXX";
static char path[sizeof(dir) + 16];
static struct err err;

static void setup(void)
{
	cr_assert_not_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/f", dir);
	err_clear(&err);
}

static void teardown(void)
{
	unlink(path);
	rmdir(dir);
}

TestSuite(file, .init = setup, .fini = teardown);

static void write_file(const char *text, size_t n)
{
	FILE *f = fopen(path, "wb");

	cr_assert_not_null(f);
	cr_assert_eq(fwrite(text, 1, n, f), n);
	cr_assert_eq(fclose(f), 0);
}

Test(file, reads_a_file_of_exactly_the_cap)
{
	char *out = NULL;
	size_t len = 99;

	write_file("0123456789", 10);
	cr_assert_eq(file_read_capped(&out, &len, path, 10, &err), 0,
		     "%s", err.msg);
	cr_expect_eq(len, 10);
	cr_expect_str_eq(out, "0123456789"); /* NUL-terminated */
	free(out);
}

Test(file, an_empty_file_is_an_empty_string)
{
	char *out = NULL;
	size_t len = 99;

	write_file("", 0);
	cr_assert_eq(file_read_capped(&out, &len, path, 10, &err), 0);
	cr_expect_eq(len, 0);
	cr_assert_not_null(out);
	cr_expect_str_eq(out, "");
	free(out);
}

Test(file, one_byte_over_the_cap_is_too_large_and_named)
{
	char *out = (char *)1, want[sizeof(path) + 40];
	size_t len;

	write_file("0123456789a", 11);
	cr_expect_eq(file_read_capped(&out, &len, path, 10, &err),
		     ERR_TOO_LARGE);
	cr_expect_eq(err.code, ERR_TOO_LARGE);
	snprintf(want, sizeof(want), "%s: larger than 10 bytes", path);
	cr_expect_str_eq(err.msg, want);
	cr_expect_null(out);
}

Test(file, a_large_file_over_the_cap_spanning_chunks)
{
	size_t n = 100000;
	char *big = malloc(n), *out = (char *)1;
	size_t len;

	cr_assert_not_null(big);
	memset(big, 'x', n);
	write_file(big, n);
	free(big);
	cr_expect_eq(file_read_capped(&out, &len, path, 50000, &err),
		     ERR_TOO_LARGE);
	cr_expect_null(out);
	cr_expect_eq(file_read_capped(&out, &len, path, n, &err), 0);
	cr_expect_eq(len, n);
	cr_expect_eq(out[n - 1], 'x');
	free(out);
}

Test(file, an_absent_file_is_not_found_and_named)
{
	char *out = (char *)1, want[sizeof(path) + 40];
	size_t len;

	cr_expect_eq(file_read_capped(&out, &len, path, 10, &err),
		     ERR_NOT_FOUND);
	snprintf(want, sizeof(want), "%s: No such file or directory", path);
	cr_expect_str_eq(err.msg, want);
	cr_expect_null(out);
}

Test(file, a_directory_cannot_be_read)
{
	char *out = (char *)1, want[sizeof(dir) + 40];
	size_t len;

	cr_expect_eq(file_read_capped(&out, &len, dir, 10, &err), ERR_FAIL);
	snprintf(want, sizeof(want), "read %s: Is a directory", dir);
	cr_expect_str_eq(err.msg, want);
	cr_expect_null(out);
}
