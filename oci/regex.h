/* The size check for a POSIX extended regular expression before regcomp.
 *
 * glibc's regcomp expands counted repetitions ({n,m}) by copying, nested
 * ones multiplying: ((a{255}){255}){255} takes seconds and gigabytes, and
 * six nested {0,9} overflow its stack. One place decides which patterns
 * are too big to hand to it; mirror/sync (tag filters) and mirror/margo
 * (regexMatch) call it with their own limits. */
#ifndef OCI_REGEX_H
#define OCI_REGEX_H

/* Also refuse a group quantified with *, + or {n,m} that contains another
 * quantifier (nesting), e.g. (a+)* or ((a{2}){3}). A group followed by ?
 * is not counted: it is copied at most once. */
#define OCI_REGEX_NO_NESTING 1

/* Nonzero when s has a repetition count ({n} or {n,m}, the larger bound)
 * over repeat_max, when the product of all counts (a + counting 2) is over
 * product_max, or, with OCI_REGEX_NO_NESTING in flags, when a quantified
 * group contains a quantifier. Escapes and bracket expressions are skipped;
 * an unterminated bracket answers 0 (regcomp refuses it). */
int oci_regex_too_big(const char *s, unsigned long repeat_max,
		      unsigned long long product_max, int flags);

#endif
