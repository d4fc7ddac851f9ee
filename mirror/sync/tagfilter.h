/* A sync rule's tag filter and the selection it makes from a remote tag
 * list (the `tags:` key of mirror/sync/syncconf.h).
 *
 * struct tagfilter is filled by the config parser and owned by its rule;
 * tagfilter_release frees what it holds. tagfilter_regex_compile is the
 * one place a filter's regular expression is checked and compiled. */
#ifndef MIRROR_SYNC_TAGFILTER_H
#define MIRROR_SYNC_TAGFILTER_H

#include <regex.h>
#include <stddef.h>

#include "oci/err.h"
#include "oci/semver.h"
#include "oci/vec.h"

#define TAGFILTER_REGEX_MAX 1024
#define TAGFILTER_REPEAT_MAX 1000
#define TAGFILTER_REPEAT_PRODUCT_MAX 100000

struct tagfilter {
	char **exact; /* list form: exactly these tags */
	size_t n_exact;
	int has_regex, has_exclude;
	regex_t regex, exclude;	     /* POSIX extended */
	struct semver_range *semver; /* NULL when unset */
	int latest; /* keep the N highest by SemVer order; 0: all */
};

/* Compile s (POSIX extended, no sub-matches) into *out. ERR_INVALID when
 * s is longer than TAGFILTER_REGEX_MAX, has repetition counts over
 * TAGFILTER_REPEAT_MAX or whose product (a + counting 2) is over
 * TAGFILTER_REPEAT_PRODUCT_MAX (glibc expands them by copying), or does
 * not compile; the message quotes s. *out needs regfree only on success. */
int tagfilter_regex_compile(regex_t *out, const char *s, struct err *err);

/* Free what t holds and zero it. */
void tagfilter_release(struct tagfilter *t);

/* Apply t (NULL: no filter) to a remote tag list. *out is a newly
 * allocated NULL-terminated array of copies, sorted ascending (SemVer order
 * when `latest` or `semver` is used, else lexical); free with
 * oci_strv_free (oci/vec.h). No filter selects every tag. An exact list selects
 * the listed tags that the remote has. A filter map keeps tags matching
 * regex and not exclude; with semver or latest, only tags that parse as
 * SemVer, within the range, and of those the `latest` highest
 * (pre-releases count unless the range or exclude leaves them out). Tags
 * repeated upstream appear once; names that are not valid tags
 * (oci_tag_valid) are dropped, since they become store paths. Only fails
 * (ERR_FAIL) when out of memory. */
int tagfilter_select(char ***out, size_t *n_out, const struct tagfilter *t,
		     char *const *tags, size_t n, struct err *err);

#endif
