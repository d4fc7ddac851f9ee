/* oci/keysort: equal keys found by sorting. */
#include <criterion/criterion.h>
#include <string.h>

#include "oci/keysort.h"

#define KEY(s, id) ((struct oci_keysort){s, sizeof(s) - 1, id})

Test(oci_keysort, find_gives_the_lowest_id_of_a_key)
{
	struct oci_keysort v[] = {
	    KEY("web", 3), KEY("db", 1), KEY("web", 0), KEY("a\0b", 4),
	    {NULL, 7, 5},  KEY("a", 2),	 {NULL, 7, 6},	KEY("", 8),
	};
	size_t n = sizeof(v) / sizeof(v[0]);
	const struct oci_keysort *k;

	oci_keysort_sort(v, n);
	k = oci_keysort_find(v, n, "web", 3);
	cr_assert_not_null(k);
	cr_assert_eq(k->id, 0);
	k = oci_keysort_find(v, n, "a\0b", 3); /* NULs are bytes too */
	cr_assert_not_null(k);
	cr_assert_eq(k->id, 4);
	cr_assert_eq(oci_keysort_find(v, n, "a", 1)->id, 2);
	cr_assert_eq(oci_keysort_find(v, n, "", 0)->id, 8);
	cr_assert_null(oci_keysort_find(v, n, "we", 2));
	cr_assert_null(oci_keysort_find(v, n, "webs", 4));
	cr_assert_null(oci_keysort_find(v, 0, "web", 3));
	/* identities: equal to each other by len only, never to bytes */
	for (size_t i = 1; i < n; i++)
		if (!v[i - 1].key && !v[i].key)
			cr_assert(oci_keysort_eq(&v[i - 1], &v[i]));
	cr_assert(!oci_keysort_eq(&(struct oci_keysort){NULL, 1, 0},
				  &(struct oci_keysort){"a", 1, 1}));
	cr_assert(!oci_keysort_eq(&(struct oci_keysort){NULL, 1, 0},
				  &(struct oci_keysort){NULL, 2, 1}));
}
