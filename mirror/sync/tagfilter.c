/* Tag filters: the regex check and the selection from a remote tag list
 * (contract in mirror/sync/tagfilter.h). */
#include "mirror/sync/tagfilter.h"

#include <stdlib.h>
#include <string.h>

#include "oci/ref.h"
#include "oci/regex.h"

static int cmp_str_ptr(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int tagfilter_regex_compile(regex_t *out, const char *s, struct err *err)
{
	char why[256];
	int rc;

	if (strlen(s) > TAGFILTER_REGEX_MAX)
		return err_set(err, ERR_INVALID,
			       "regular expression longer than %d",
			       TAGFILTER_REGEX_MAX);
	if (oci_regex_too_big(s, TAGFILTER_REPEAT_MAX,
			      TAGFILTER_REPEAT_PRODUCT_MAX, 0))
		return err_set(err, ERR_INVALID,
			       "repetition counts in \"%.100s\" too large "
			       "(each at most %d, their product at most %d, "
			       "a + counting 2)",
			       s, TAGFILTER_REPEAT_MAX,
			       TAGFILTER_REPEAT_PRODUCT_MAX);
	rc = regcomp(out, s, REG_EXTENDED | REG_NOSUB);
	if (rc) {
		regerror(rc, out, why, sizeof(why));
		return err_set(err, ERR_INVALID,
			       "invalid regular expression \"%.100s\": %s", s,
			       why);
	}
	return 0;
}

void tagfilter_release(struct tagfilter *t)
{
	for (size_t i = 0; i < t->n_exact; i++)
		free(t->exact[i]);
	free(t->exact);
	if (t->has_regex)
		regfree(&t->regex);
	if (t->has_exclude)
		regfree(&t->exclude);
	semver_range_free(t->semver);
	memset(t, 0, sizeof(*t));
}

struct cand {
	const char *tag;
	struct semver v;
};

static int cmp_lexical(const void *a, const void *b)
{
	return strcmp(((const struct cand *)a)->tag,
		      ((const struct cand *)b)->tag);
}

/* SemVer precedence; ties ("v1.2.3" and "1.2.3") broken lexically so the
 * order never depends on the upstream's listing order. */
static int cmp_semver(const void *a, const void *b)
{
	const struct cand *x = a, *y = b;
	int d = semver_cmp(&x->v, &y->v);

	return d ? d : strcmp(x->tag, y->tag);
}

static int wanted(const struct tagfilter *t, int by_semver, char **exact_sorted,
		  struct cand *cd)
{
	if (t->n_exact)
		return bsearch(&cd->tag, exact_sorted, t->n_exact,
			       sizeof(*exact_sorted), cmp_str_ptr) != NULL;
	if (t->has_regex && regexec(&t->regex, cd->tag, 0, NULL, 0))
		return 0;
	if (t->has_exclude && !regexec(&t->exclude, cd->tag, 0, NULL, 0))
		return 0;
	if (!by_semver)
		return 1;
	if (semver_parse(&cd->v, cd->tag))
		return 0;
	return !t->semver || semver_range_match(t->semver, &cd->v);
}

int tagfilter_select(char ***out, size_t *n_out, const struct tagfilter *t,
		     char *const *tags, size_t n, struct err *err)
{
	int by_semver = t && !t->n_exact && (t->semver || t->latest > 0);
	struct cand *cd = NULL;
	char **exact = NULL, **v = NULL;
	size_t k = 0, m = 0, from = 0;
	int rc = 0;

	*out = NULL;
	*n_out = 0;
	cd = calloc(n ? n : 1, sizeof(*cd));
	if (!cd)
		goto oom;
	if (t && t->n_exact) {
		exact = malloc(t->n_exact * sizeof(*exact));
		if (!exact)
			goto oom;
		memcpy(exact, t->exact, t->n_exact * sizeof(*exact));
		qsort(exact, t->n_exact, sizeof(*exact), cmp_str_ptr);
	}
	for (size_t i = 0; i < n; i++) {
		/* Upstream names become store paths: drop what is no tag. */
		if (!tags[i] || !oci_tag_valid(tags[i]))
			continue;
		cd[k].tag = tags[i];
		if (!t || wanted(t, by_semver, exact, &cd[k]))
			k++;
	}
	qsort(cd, k, sizeof(*cd), by_semver ? cmp_semver : cmp_lexical);
	for (size_t i = 0; i < k; i++) /* drop repeats */
		if (!m || strcmp(cd[m - 1].tag, cd[i].tag))
			cd[m++] = cd[i];
	if (t && t->latest > 0 && m > (size_t)t->latest)
		from = m - (size_t)t->latest;
	v = calloc(m - from + 1, sizeof(*v));
	if (!v)
		goto oom;
	for (size_t i = from; i < m; i++) {
		v[i - from] = strdup(cd[i].tag);
		if (!v[i - from])
			goto oom;
	}
	*out = v;
	*n_out = m - from;
	v = NULL;
	goto done;
oom:
	rc = err_set(err, ERR_FAIL, "select tags: out of memory");
done:
	oci_strv_free(v);
	free(exact);
	free(cd);
	return rc;
}
