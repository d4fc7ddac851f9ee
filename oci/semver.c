/* SemVer 2.0 versions and npm-style ranges (contract in mirror/syncconf.h). */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "oci/semver.h"
#include "oci/vec.h"

enum op { OP_EQ, OP_LT, OP_LE, OP_GT, OP_GE, OP_ANY, OP_NONE };

struct comparator {
	enum op op;
	size_t set; /* comparators of one set are ANDed, sets ORed */
	struct semver v;
};

struct semver_range {
	struct comparator *c;
	size_t n, cap;
	size_t n_sets;
};

/* A version with some components possibly left out or wildcarded. */
struct partial {
	unsigned long long v[3];
	int n; /* leading numeric components given, 0..3 */
	char pre[sizeof(((struct semver *)0)->pre)];
};

#define RANGE_MAX 4096 /* comparators in one range */

static int is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static int is_ident_char(char c)
{
	return is_digit(c) || (c >= 'a' && c <= 'z') ||
	       (c >= 'A' && c <= 'Z') || c == '-';
}

/* A numeric identifier: "0" or no leading zero, no overflow. */
static int parse_num(unsigned long long *out, const char **p, const char *end)
{
	const char *s = *p;
	unsigned long long v = 0;

	if (s >= end || !is_digit(*s))
		return -1;
	if (*s == '0' && s + 1 < end && is_digit(s[1]))
		return -1;
	for (; s < end && is_digit(*s); s++) {
		unsigned d = (unsigned)(*s - '0');

		if (v > (ULLONG_MAX - d) / 10)
			return -1;
		v = v * 10 + d;
	}
	*out = v;
	*p = s;
	return 0;
}

/* Dot-separated identifiers up to end or a '+' (pre-release) / end (build).
 * Numeric pre-release identifiers may not have leading zeros. */
static int parse_idents(const char **p, const char *end, int pre)
{
	const char *s = *p;

	for (;;) {
		const char *start = s;
		int numeric = 1;

		while (s < end && is_ident_char(*s)) {
			if (!is_digit(*s))
				numeric = 0;
			s++;
		}
		if (s == start)
			return -1;
		if (pre && numeric && *start == '0' && s - start > 1)
			return -1;
		if (s < end && *s == '.') {
			s++;
			continue;
		}
		break;
	}
	*p = s;
	return 0;
}

/* [-pre][+build] at *p; copies pre into dst. */
static int parse_suffix(char *dst, size_t cap, const char **p, const char *end)
{
	const char *s = *p;

	dst[0] = '\0';
	if (s < end && *s == '-') {
		const char *start = ++s;

		if (parse_idents(&s, end, 1))
			return -1;
		if ((size_t)(s - start) >= cap)
			return -1;
		memcpy(dst, start, (size_t)(s - start));
		dst[s - start] = '\0';
	}
	if (s < end && *s == '+') {
		s++;
		if (parse_idents(&s, end, 0))
			return -1;
	}
	*p = s;
	return 0;
}

static int parse_full(struct semver *out, const char *s, const char *end)
{
	if (s < end && *s == 'v')
		s++;
	if (parse_num(&out->major, &s, end) || s >= end || *s++ != '.' ||
	    parse_num(&out->minor, &s, end) || s >= end || *s++ != '.' ||
	    parse_num(&out->patch, &s, end) ||
	    parse_suffix(out->pre, sizeof(out->pre), &s, end) || s != end)
		return -1;
	return 0;
}

int semver_parse(struct semver *out, const char *s)
{
	memset(out, 0, sizeof(*out));
	if (!s || parse_full(out, s, s + strlen(s))) {
		memset(out, 0, sizeof(*out));
		return -1;
	}
	return 0;
}

static int cmp_ull(unsigned long long a, unsigned long long b)
{
	return a < b ? -1 : a > b;
}

/* SemVer 2.0 §11: identifiers left to right; numeric ones numerically
 * and below alphanumeric ones; a shorter list of equal prefix is lower. */
static int cmp_pre(const char *a, const char *b)
{
	if (!*a || !*b)
		return !*a && !*b ? 0 : !*a ? 1 : -1;
	for (;;) {
		size_t la = strcspn(a, "."), lb = strcspn(b, ".");
		int na = strspn(a, "0123456789") == la;
		int nb = strspn(b, "0123456789") == lb;
		int c;

		if (na && nb) {
			c = la != lb ? (la < lb ? -1 : 1) : memcmp(a, b, la);
		} else if (na || nb) {
			c = na ? -1 : 1;
		} else {
			c = memcmp(a, b, la < lb ? la : lb);
			if (!c && la != lb)
				c = la < lb ? -1 : 1;
		}
		if (c)
			return c < 0 ? -1 : 1;
		a += la;
		b += lb;
		if (!*a || !*b)
			return !*a && !*b ? 0 : !*a ? -1 : 1;
		a++;
		b++;
	}
}

int semver_cmp(const struct semver *a, const struct semver *b)
{
	int c = cmp_ull(a->major, b->major);

	if (!c)
		c = cmp_ull(a->minor, b->minor);
	if (!c)
		c = cmp_ull(a->patch, b->patch);
	if (!c)
		c = cmp_pre(a->pre, b->pre);
	return c;
}

/* ---- ranges ---- */

static int range_add(struct semver_range *r, enum op op, const struct semver *v)
{
	struct comparator *c;

	if (OCI_VEC_RESERVE(r->c, r->n, r->cap, 1, RANGE_MAX))
		return -1;
	c = &r->c[r->n++];
	memset(c, 0, sizeof(*c));
	c->op = op;
	c->set = r->n_sets - 1;
	if (v)
		c->v = *v;
	return 0;
}

/* "1", "1.2", "1.x", "1.2.3-rc.1+b", "*", with an optional leading v. */
static int parse_partial(struct partial *out, const char *s, const char *end)
{
	int wild = 0;

	memset(out, 0, sizeof(*out));
	if (s < end && *s == 'v')
		s++;
	for (int i = 0; i < 3; i++) {
		if (s < end && (*s == 'x' || *s == 'X' || *s == '*')) {
			wild = 1;
			s++;
		} else if (wild || parse_num(&out->v[i], &s, end)) {
			return -1;
		} else {
			out->n++;
		}
		if (s == end)
			return 0;
		if (i < 2 && *s == '.')
			s++;
		else
			break;
	}
	if (out->n < 3)
		return -1; /* a pre-release needs all three numbers */
	if (parse_suffix(out->pre, sizeof(out->pre), &s, end) || s != end)
		return -1;
	return 0;
}

static void partial_lo(struct semver *v, const struct partial *p)
{
	memset(v, 0, sizeof(*v));
	v->major = p->v[0];
	v->minor = p->v[1];
	v->patch = p->v[2];
	memcpy(v->pre, p->pre, sizeof(v->pre));
}

/* The first release above everything p covers when component `at` is
 * bumped (1.2 at 1 -> 1.3.0); -1 on overflow (no upper bound). */
static int bump(struct semver *v, const struct partial *p, int at)
{
	memset(v, 0, sizeof(*v));
	if (p->v[at] == ULLONG_MAX)
		return -1;
	v->major = p->v[0];
	if (at >= 1)
		v->minor = p->v[1];
	if (at >= 2)
		v->patch = p->v[2];
	if (at == 0)
		v->major++;
	else if (at == 1)
		v->minor++;
	else
		v->patch++;
	return 0;
}

/* Append ">=lo <hi" where hi bumps component `at` (no hi on overflow). */
static int add_between(struct semver_range *r, const struct partial *p, int at)
{
	struct semver lo, hi;

	partial_lo(&lo, p);
	if (range_add(r, OP_GE, &lo))
		return -1;
	if (bump(&hi, p, at))
		return 0;
	return range_add(r, OP_LT, &hi);
}

static int add_comparator(struct semver_range *r, const char *op, size_t oplen,
			  const struct partial *p)
{
	struct semver v;
	int n = p->n;

	if (oplen == 0 || (oplen == 1 && *op == '=')) {
		if (n == 0)
			return range_add(r, OP_ANY, NULL);
		if (n == 3) {
			partial_lo(&v, p);
			return range_add(r, OP_EQ, &v);
		}
		return add_between(r, p, n - 1);
	}
	if (oplen == 1 && *op == '~') {
		if (n == 0)
			return range_add(r, OP_ANY, NULL);
		return add_between(r, p, n == 1 ? 0 : 1);
	}
	if (oplen == 1 && *op == '^') {
		int at = 0;

		if (n == 0)
			return range_add(r, OP_ANY, NULL);
		/* The leftmost non-zero component given stays fixed. */
		while (at < n - 1 && p->v[at] == 0)
			at++;
		return add_between(r, p, at);
	}
	if (n == 0) /* >=*, <=* match everything; >*, <* nothing */
		return range_add(r, op[oplen - 1] == '=' ? OP_ANY : OP_NONE,
				 NULL);
	partial_lo(&v, p);
	if (oplen == 2 && op[1] == '=') {
		if (*op == '>' || n == 3)
			return range_add(r, *op == '>' ? OP_GE : OP_LE, &v);
		/* <=1.2 means below 1.3.0 */
		if (bump(&v, p, n - 1))
			return range_add(r, OP_ANY, NULL);
		return range_add(r, OP_LT, &v);
	}
	if (*op == '<')
		return range_add(r, OP_LT, &v);
	if (n == 3)
		return range_add(r, OP_GT, &v);
	/* >1.2 means from 1.3.0 */
	if (bump(&v, p, n - 1))
		return range_add(r, OP_NONE, NULL);
	return range_add(r, OP_GE, &v);
}

static int is_space(char c)
{
	return c == ' ' || c == '\t';
}

static size_t op_len(const char *s, const char *end)
{
	if (s < end && (*s == '~' || *s == '^' || *s == '='))
		return 1;
	if (s < end && (*s == '>' || *s == '<'))
		return s + 1 < end && s[1] == '=' ? 2 : 1;
	return 0;
}

/* The range as quoted in messages: one line, at most cap - 1 bytes. */
static void shown(char *dst, size_t cap, const char *s)
{
	size_t i;

	for (i = 0; i + 1 < cap && s[i]; i++)
		dst[i] =
		    (unsigned char)s[i] < 0x20 || s[i] == 0x7f ? '?' : s[i];
	dst[i] = '\0';
}

int semver_range_parse(struct semver_range **out, const char *s,
		       struct err *err)
{
	char show[201];
	struct semver_range *r = calloc(1, sizeof(*r));
	const char *p = s, *end = s + strlen(s);
	const char *why = NULL;

	*out = NULL;
	if (!r)
		return err_set(err, ERR_FAIL, "out of memory");
	for (;;) {
		size_t in_set = 0;

		r->n_sets++;
		for (;;) {
			const char *op, *v;
			size_t oplen;
			struct partial part;

			while (p < end && is_space(*p))
				p++;
			if (p == end ||
			    (*p == '|' && p + 1 < end && p[1] == '|'))
				break;
			op = p;
			oplen = op_len(p, end);
			p += oplen;
			while (oplen && p < end && is_space(*p))
				p++;
			v = p;
			while (p < end && !is_space(*p) && *p != '|')
				p++;
			if (v == p) {
				why = oplen ? "an operator without a version"
					    : "a stray '|'";
				goto bad;
			}
			if (parse_partial(&part, v, p)) {
				why = "not a version (MAJOR[.MINOR[.PATCH"
				      "[-PRE]]], x or *)";
				goto bad;
			}
			if (add_comparator(r, op, oplen, &part)) {
				why = "too many comparators";
				goto bad;
			}
			in_set++;
		}
		if (!in_set) {
			why = r->n_sets > 1 || p < end
				  ? "an empty alternative around \"||\""
				  : "empty";
			goto bad;
		}
		if (p == end)
			break;
		p += 2; /* "||" */
	}
	*out = r;
	return 0;
bad:
	semver_range_free(r);
	shown(show, sizeof(show), s);
	return err_set(err, ERR_INVALID, "invalid semver range \"%s\": %s",
		       show, why);
}

static int cmp_match(const struct comparator *c, const struct semver *v)
{
	int d;

	switch (c->op) {
	case OP_ANY: return 1;
	case OP_NONE: return 0;
	default: break;
	}
	d = semver_cmp(v, &c->v);
	switch (c->op) {
	case OP_EQ: return d == 0;
	case OP_LT: return d < 0;
	case OP_LE: return d <= 0;
	case OP_GT: return d > 0;
	case OP_GE: return d >= 0;
	default: return 0;
	}
}

static int same_tuple(const struct semver *a, const struct semver *b)
{
	return a->major == b->major && a->minor == b->minor &&
	       a->patch == b->patch;
}

int semver_range_match(const struct semver_range *r, const struct semver *v)
{
	size_t i = 0;

	if (!r)
		return 1;
	while (i < r->n) {
		size_t set = r->c[i].set;
		int ok = 1, pre_ok = !v->pre[0];

		for (; i < r->n && r->c[i].set == set; i++) {
			const struct comparator *c = &r->c[i];

			if (!cmp_match(c, v))
				ok = 0;
			if (c->op != OP_ANY && c->op != OP_NONE &&
			    c->v.pre[0] && same_tuple(&c->v, v))
				pre_ok = 1;
		}
		if (ok && pre_ok)
			return 1;
	}
	return 0;
}

void semver_range_free(struct semver_range *r)
{
	if (!r)
		return;
	free(r->c);
	free(r);
}
