/* The size check before regcomp (contract in oci/regex.h). */
#include "oci/regex.h"

#include <string.h>

#define REGEX_DEPTH_MAX 64

static unsigned long bound_at(const char **p, unsigned long cap)
{
	unsigned long v = 0;

	for (; **p >= '0' && **p <= '9'; (*p)++)
		if (v <= cap)
			v = v * 10 + (unsigned long)(**p - '0');
	return v;
}

/* p at '[': the last character of the bracket expression, or NULL when it
 * does not end. */
static const char *bracket_end(const char *p)
{
	p += p[1] == '^' ? 2 : 1;
	if (*p == ']')
		p++;
	for (; *p && *p != ']'; p++) {
		const char *e;

		if (*p != '[' || !p[1] || !strchr(":.=", p[1]))
			continue;
		for (e = p + 2; *e && !(e[0] == p[1] && e[1] == ']'); e++)
			;
		if (*e)
			p = e + 1;
	}
	return *p ? p : NULL;
}

int oci_regex_too_big(const char *s, unsigned long repeat_max,
		      unsigned long long product_max, int flags)
{
	unsigned long long product = 1;
	/* per open group: does it contain a quantifier */
	unsigned char inner[REGEX_DEPTH_MAX + 1] = {0};
	int depth = 0, closed_inner = 0; /* the group just closed had one */
	int nesting = flags & OCI_REGEX_NO_NESTING;

	for (const char *p = s; *p; p++) {
		int after_group = closed_inner;

		closed_inner = 0;
		if (*p == '\\') {
			if (p[1])
				p++;
		} else if (*p == '[') {
			p = bracket_end(p);
			if (!p)
				return 0;
		} else if (*p == '(') {
			if (depth >= REGEX_DEPTH_MAX)
				return 1;
			inner[++depth] = 0;
		} else if (*p == ')') {
			if (depth > 0) {
				closed_inner = inner[depth];
				depth--;
				if (closed_inner)
					inner[depth] = 1;
			}
		} else if (*p == '*' || *p == '+' || *p == '?' || *p == '{') {
			if (nesting && after_group && *p != '?')
				return 1;
			inner[depth] = 1;
			if (*p == '+') {
				product *= 2;
			} else if (*p == '{') {
				unsigned long lo, hi;

				p++;
				lo = hi = bound_at(&p, repeat_max);
				if (*p == ',') {
					p++;
					hi = bound_at(&p, repeat_max);
				}
				if (hi < lo)
					hi = lo;
				if (hi > repeat_max)
					return 1;
				product *= hi ? hi : 1;
				if (*p != '}')
					p--; /* no }: let the loop read it */
			}
			if (product > product_max)
				return 1;
			closed_inner = 1; /* a quantified atom: a{2}{3} nests */
		}
	}
	return 0;
}
