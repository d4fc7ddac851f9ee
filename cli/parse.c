/* The one size grammar and the shared number options (see parse.h). */
#include "cli/parse.h"

#include <stdio.h>
#include <string.h>

/* "4G" when v is a whole number of the largest unit that divides it. */
static void size_show(char *dst, size_t cap, uint64_t v)
{
	static const char units[] = "KMGT";
	int u = -1;

	while (u < 3 && v && !(v & 1023)) {
		v >>= 10;
		u++;
	}
	if (u < 0)
		snprintf(dst, cap, "%llu", (unsigned long long)v);
	else
		snprintf(dst, cap, "%llu%c", (unsigned long long)v, units[u]);
}

static int unit_shift(char c)
{
	switch (c) {
	case 'k':
	case 'K': return 10;
	case 'm':
	case 'M': return 20;
	case 'g':
	case 'G': return 30;
	case 't':
	case 'T': return 40;
	default: return 0;
	}
}

static int not_a_size(const char *opt, const char *s, struct err *err)
{
	char shown[64];

	err_shown(shown, sizeof(shown), s, strlen(s));
	return err_set(err, ERR_INVALID,
		       "%s: \"%s\" is not a size (a number with an optional "
		       "K, M, G or T: 700M, 4GiB)",
		       opt, shown);
}

int cli_parse_size(uint64_t *out, const char *opt, const char *s, uint64_t min,
		   uint64_t max, struct err *err)
{
	const char *p = s;
	uint64_t whole = 0, frac = 0, scale = 1, v;
	int shift, digits = 0;
	char lo[32], hi[32], shown[64];

	for (; *p >= '0' && *p <= '9'; p++, digits++) {
		if (whole > (UINT64_MAX - 9) / 10)
			goto too_big;
		whole = whole * 10 + (uint64_t)(*p - '0');
	}
	if (*p == '.') {
		int fd = 0;

		for (p++; *p >= '0' && *p <= '9'; p++, fd++)
			if (fd < 6) {
				frac = frac * 10 + (uint64_t)(*p - '0');
				scale *= 10;
			}
		if (!fd)
			return not_a_size(opt, s, err);
		digits += fd;
	}
	if (!digits)
		return not_a_size(opt, s, err);
	shift = unit_shift(*p);
	if (shift)
		p++;
	if (shift && *p == 'i') /* "Gi", "GiB"; never a bare "i" */
		p++;
	if (*p == 'B')
		p++;
	if (*p)
		return not_a_size(opt, s, err);
	if (shift && whole > (UINT64_MAX >> shift))
		goto too_big;
	/* frac < 10^6 and shift <= 40: frac << shift fits in 64 bits */
	v = (whole << shift) + ((frac << shift) / scale);
	if (v < min || v > max) {
		size_show(lo, sizeof(lo), min);
		size_show(hi, sizeof(hi), max);
		err_shown(shown, sizeof(shown), s, strlen(s));
		if (max == UINT64_MAX)
			return err_set(err, ERR_INVALID,
				       "%s: \"%s\" is below %s", opt, shown,
				       lo);
		return err_set(err, ERR_INVALID,
			       "%s: \"%s\" is out of range %s..%s", opt, shown,
			       lo, hi);
	}
	*out = v;
	return 0;
too_big:
	err_shown(shown, sizeof(shown), s, strlen(s));
	return err_set(err, ERR_INVALID, "%s: \"%s\" is too large", opt, shown);
}

int cli_parse_int(int64_t *out, const char *opt, const char *s, int64_t min,
		  int64_t max, struct err *err)
{
	const char *p = s;
	int neg = 0;
	uint64_t v = 0, lim;
	char shown[64];

	err_shown(shown, sizeof(shown), s, strlen(s));
	if (*p == '-') {
		neg = 1;
		p++;
	}
	if (*p < '0' || *p > '9')
		return err_set(err, ERR_INVALID, "%s: \"%s\" is not a number",
			       opt, shown);
	lim = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
	for (; *p >= '0' && *p <= '9'; p++) {
		uint64_t d = (uint64_t)(*p - '0');

		if (v > (lim - d) / 10)
			goto overflow;
		v = v * 10 + d;
	}
	if (*p)
		return err_set(err, ERR_INVALID, "%s: \"%s\" is not a number",
			       opt, shown);
	if (neg && min >= 0) /* "-0" too: no sign where none is allowed */
		goto range;
	{
		int64_t x = neg ? (int64_t)(0 - v) : (int64_t)v;

		if (x < min || x > max)
			goto range;
		*out = x;
	}
	return 0;
overflow:
	if (!neg)
		return err_set(err, ERR_INVALID, "%s: \"%s\" is too large", opt,
			       shown);
range:
	if (max == INT64_MAX)
		return err_set(err, ERR_INVALID, "%s: \"%s\" is below %lld",
			       opt, shown, (long long)min);
	return err_set(err, ERR_INVALID,
		       "%s: \"%s\" is out of range %lld..%lld", opt, shown,
		       (long long)min, (long long)max);
}

int cli_parse_concurrency(int *out, const char *s, struct err *err)
{
	int64_t v;
	int rc =
	    cli_parse_int(&v, "--concurrency", s, 1, CLI_CONCURRENCY_MAX, err);

	if (!rc)
		*out = (int)v;
	return rc;
}

/* The option of opts named name[0..n-1] exactly, else by a prefix matching
 * one option only (as getopt_long); NULL when none or ambiguous. */
static const struct option *option_named(const struct option *opts,
					 const char *name, size_t n)
{
	const struct option *found = NULL;
	int prefixes = 0;

	for (const struct option *o = opts; o && o->name; o++) {
		if (strncmp(o->name, name, n))
			continue;
		if (!o->name[n])
			return o;
		found = o;
		prefixes++;
	}
	return prefixes == 1 ? found : NULL;
}

void cli_option_error(char *dst, size_t cap, int ch, int opt_ind, int opt_opt,
		      char *const *argv, const struct option *opts)
{
	const char *prev = opt_ind > 0 ? argv[opt_ind - 1] : NULL;
	int is_long = prev && !strncmp(prev, "--", 2) && prev[2];
	size_t n = is_long ? strcspn(prev, "=") : 0;
	const struct option *o =
	    is_long ? option_named(opts, prev + 2, n - 2) : NULL;
	/* --NAME=VALUE for a NAME that takes none: getopt's '?' with optopt
	 * the option's val (0 or not) */
	int no_value = ch == '?' && o && o->has_arg == no_argument &&
		       prev[n] == '=' && o->val == opt_opt;
	char shown[64], c[2] = {(char)opt_opt, 0};

	/* A short option's '?' has optopt set and may leave optind before
	 * the cluster it is in: argv[optind - 1] is then some earlier
	 * argument, long or not. ':' is only ever for the last argument, so
	 * argv[optind - 1] is the option there. */
	if (ch == '?' && opt_opt && !no_value)
		is_long = 0;
	if (is_long) {
		err_shown(shown, sizeof(shown), prev, n);
	} else {
		shown[0] = '-';
		err_shown(shown + 1, sizeof(shown) - 1, c, 1);
	}
	if (ch == ':')
		snprintf(dst, cap, "option %s needs a value", shown);
	else if (no_value)
		snprintf(dst, cap, "option %s takes no value", shown);
	else
		snprintf(dst, cap, "unknown option %s", shown);
}

int cli_operands(int *argc, char **argv)
{
	for (int i = 1; i < *argc; i++) {
		if (!strcmp(argv[i], "--")) {
			memmove(argv + i, argv + i + 1,
				(size_t)(*argc - i) * sizeof(*argv));
			(*argc)--;
			return 0;
		}
		if (argv[i][0] == '-' && argv[i][1])
			return i;
	}
	return 0;
}
