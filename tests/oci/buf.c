#include <criterion/criterion.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "oci/buf.h"
#include "oci/err.h"

Test(oci_buf, init_is_empty_string_never_null)
{
	struct buf b;

	buf_init(&b, 100);
	cr_assert_not_null(b.data);
	cr_expect_str_empty(b.data);
	cr_expect_eq(b.len, 0);
	cr_expect_eq(b.max, 100);
	buf_release(&b);
	cr_assert_not_null(b.data);
	cr_expect_eq(b.len, 0);
}

Test(oci_buf, append_and_printf_concatenate)
{
	struct buf b;

	buf_init(&b, 1000);
	cr_assert_eq(buf_puts(&b, "hello"), 0);
	cr_assert_eq(buf_append(&b, ", ", 2), 0);
	cr_assert_eq(buf_printf(&b, "%s %d", "world", 42), 0);
	cr_expect_str_eq(b.data, "hello, world 42");
	cr_expect_eq(b.len, 15);
	buf_release(&b);
}

Test(oci_buf, keeps_binary_and_terminates)
{
	struct buf b;

	buf_init(&b, 100);
	cr_assert_eq(buf_append(&b, "a\0b", 3), 0);
	cr_expect_eq(b.len, 3);
	cr_expect_eq(memcmp(b.data, "a\0b", 4), 0);
	buf_release(&b);
}

Test(oci_buf, grows_past_initial_capacity)
{
	struct buf b;
	size_t i;

	buf_init(&b, 1 << 20);
	for (i = 0; i < 10000; i++)
		cr_assert_eq(buf_append(&b, "0123456789", 10), 0);
	cr_expect_eq(b.len, 100000);
	cr_expect_eq(b.data[99999], '9');
	cr_expect_eq(b.data[100000], '\0');
	cr_expect_geq(b.cap, b.len + 1);
	buf_release(&b);
}

Test(oci_buf, exactly_max_fits)
{
	struct buf b;

	buf_init(&b, 4);
	cr_expect_eq(buf_append(&b, "abcd", 4), 0);
	cr_expect_str_eq(b.data, "abcd");
	buf_release(&b);
}

Test(oci_buf, over_max_fails_and_frees)
{
	struct buf b;

	buf_init(&b, 4);
	cr_assert_eq(buf_puts(&b, "abc"), 0);
	cr_expect_eq(buf_puts(&b, "de"), ERR_TOO_LARGE);
	cr_expect_eq(b.len, 0);
	cr_assert_not_null(b.data);
	cr_expect_str_empty(b.data);
	cr_expect_eq(b.max, 4);
	/* still usable afterwards */
	cr_expect_eq(buf_puts(&b, "xy"), 0);
	cr_expect_str_eq(b.data, "xy");
	buf_release(&b);
}

Test(oci_buf, printf_over_max_fails)
{
	struct buf b;

	buf_init(&b, 8);
	cr_expect_eq(buf_printf(&b, "%s", "123456789"), ERR_TOO_LARGE);
	cr_expect_eq(b.len, 0);
	cr_expect_str_empty(b.data);
	buf_release(&b);
}

Test(oci_buf, huge_append_length_does_not_overflow)
{
	struct buf b;

	buf_init(&b, SIZE_MAX);
	cr_assert_eq(buf_puts(&b, "abc"), 0);
	cr_expect_eq(buf_append(&b, "x", SIZE_MAX - 1), ERR_TOO_LARGE);
	cr_expect_eq(b.len, 0);
	/* len + n + 1 would wrap to 0 and look like it fits */
	cr_expect_eq(buf_append(&b, "x", SIZE_MAX), ERR_TOO_LARGE);
	cr_expect_eq(b.len, 0);
	cr_assert_eq(buf_puts(&b, "a"), 0);
	cr_expect_eq(buf_append(&b, "x", SIZE_MAX - 1), ERR_TOO_LARGE);
	buf_release(&b);
}

Test(oci_buf, reset_keeps_memory)
{
	struct buf b;
	size_t cap;

	buf_init(&b, 100);
	cr_assert_eq(buf_puts(&b, "abcdef"), 0);
	cap = b.cap;
	buf_reset(&b);
	cr_expect_eq(b.len, 0);
	cr_expect_str_empty(b.data);
	cr_expect_eq(b.cap, cap);
	buf_release(&b);
	buf_reset(&b); /* on an empty buffer: no write to shared storage */
	cr_expect_str_empty(b.data);
}

Test(oci_buf, detach_hands_over_bytes)
{
	struct buf b;
	size_t n = 99;
	char *p;

	buf_init(&b, 100);
	cr_assert_eq(buf_puts(&b, "owned"), 0);
	p = buf_detach(&b, &n);
	cr_assert_not_null(p);
	cr_expect_str_eq(p, "owned");
	cr_expect_eq(n, 5);
	cr_expect_eq(b.len, 0);
	cr_expect_str_empty(b.data);
	free(p);
}

Test(oci_buf, detach_of_empty_is_freeable_empty_string)
{
	struct buf b;
	size_t n = 99;
	char *p;

	buf_init(&b, 100);
	p = buf_detach(&b, &n);
	cr_assert_not_null(p);
	cr_expect_str_empty(p);
	cr_expect_eq(n, 0);
	free(p);
}

Test(oci_buf, empty_printf_allocates_nothing_visible)
{
	struct buf b;

	buf_init(&b, 100);
	cr_expect_eq(buf_printf(&b, "%s", ""), 0);
	cr_expect_eq(b.len, 0);
	cr_expect_str_empty(b.data);
	buf_release(&b);
}
