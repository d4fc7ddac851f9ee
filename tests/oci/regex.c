/* oci_regex_too_big: the size check both tag filters and Margo's
 * regexMatch run before regcomp. */
#include <criterion/criterion.h>

#include "oci/regex.h"

#define BIG(s, rep, prod, fl) cr_expect(oci_regex_too_big(s, rep, prod, fl), "%s", s)
#define FINE(s, rep, prod, fl)                                                 \
	cr_expect_not(oci_regex_too_big(s, rep, prod, fl), "%s", s)

Test(oci_regex, counts_and_their_product)
{
	FINE("a{100}", 100, 10000, 0);
	BIG("a{101}", 100, 10000, 0);
	BIG("a{2,101}", 100, 10000, 0);
	FINE("(a{100}){100}", 100, 10000, 0);
	BIG("(a{100}){100}b{2}", 100, 10000, 0);
	BIG("a+++++++++++++++", 100, 10000, 0); /* 2^15 */
	FINE("[a{999}]", 100, 10000, 0);	 /* inside a bracket */
	FINE("\\{999}", 100, 10000, 0);		 /* an escaped brace */
	FINE("[[:alpha:]{]{5}", 100, 10000, 0);
	FINE("[a", 100, 10000, 0); /* regcomp refuses it */
}

Test(oci_regex, nesting_when_asked)
{
	const int n = OCI_REGEX_NO_NESTING;

	BIG("(((((a{0,9}){0,9}){0,9}){0,9}){0,9}){0,9}", 100, 10000, n);
	BIG("(a+)*", 100, 10000, n);
	BIG("((a)b*)+", 100, 10000, n);
	BIG("a{2}{3}", 100, 10000, n);
	FINE("(a+)*", 100, 10000, 0);
	FINE("(a+)?", 100, 10000, n); /* at most one copy */
	FINE("^[0-9]+(\\.[0-9]+)?$", 100, 10000, n);
	FINE("(ab)*c+", 100, 10000, n);
	FINE("([a+])*", 100, 10000, n); /* the + is in a bracket */
	FINE("(\\+)*", 100, 10000, n);
}
