#include <criterion/criterion.h>
#include <stdint.h>
#include <stdlib.h>

#include "oci/err.h"
#include "oci/vec.h"

struct pair {
	int a;
	double b;
};

Test(oci_vec, grows_by_doubling_and_keeps_items)
{
	struct pair *v = NULL;
	size_t n = 0, cap = 0;

	for (int i = 0; i < 100; i++) {
		cr_assert_eq(OCI_VEC_RESERVE(v, n, cap, 1, 0), 0);
		cr_assert_geq(cap, n + 1);
		v[n].a = i;
		v[n++].b = i / 2.0;
	}
	cr_expect_eq(cap, 128, "8, 16, 32, 64, 128: cap %zu", cap);
	for (int i = 0; i < 100; i++) {
		cr_expect_eq(v[i].a, i);
		cr_expect_eq(v[i].b, i / 2.0);
	}
	free(v);
}

Test(oci_vec, room_already_there_changes_nothing)
{
	int *v = NULL, *before;
	size_t cap = 0;

	cr_assert_eq(OCI_VEC_RESERVE(v, 0, cap, 5, 0), 0);
	cr_expect_eq(cap, 8);
	before = v;
	cr_assert_eq(OCI_VEC_RESERVE(v, 3, cap, 5, 0), 0);
	cr_expect_eq(v, before);
	cr_expect_eq(cap, 8);
	cr_assert_eq(OCI_VEC_RESERVE(v, 3, cap, 100, 0), 0);
	cr_expect_eq(cap, 128);
	free(v);
}

Test(oci_vec, the_cap_is_a_hard_limit_and_leaves_the_array_alone)
{
	int *v = NULL;
	size_t n = 0, cap = 0;

	for (; n < 10; n++) {
		cr_assert_eq(OCI_VEC_RESERVE(v, n, cap, 1, 10), 0);
		v[n] = (int)n;
	}
	cr_expect_eq(cap, 10, "doubling stops at the cap: %zu", cap);
	cr_expect_eq(OCI_VEC_RESERVE(v, n, cap, 1, 10), ERR_TOO_LARGE);
	cr_expect_eq(cap, 10);
	cr_assert_not_null(v);
	cr_expect_eq(v[9], 9);
	free(v);
}

Test(oci_vec, overflowing_sizes_are_too_large_not_wrapped)
{
	struct pair *v = NULL;
	size_t cap = 0;

	cr_expect_eq(OCI_VEC_RESERVE(v, SIZE_MAX, cap, 1, 0), ERR_TOO_LARGE);
	cr_expect_eq(OCI_VEC_RESERVE(v, 0, cap, SIZE_MAX / 8, 0),
		     ERR_TOO_LARGE);
	cr_expect_null(v);
	cr_expect_eq(cap, 0);
}
