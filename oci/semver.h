/* SemVer 2.0 versions and npm-style ranges, for tag filters and Margo
 * package versions. No I/O, no allocation except the range object. */
#ifndef OCI_SEMVER_H
#define OCI_SEMVER_H

#include "oci/err.h"

/* A SemVer 2.0 version; tags like "v1.2.3" parse (leading v allowed). */
struct semver {
	unsigned long long major, minor, patch;
	char pre[128]; /* "" when none */
};

/* A range: space-separated comparators (AND), "||" between sets (OR).
 * Comparators: >=, >, <=, <, =, bare version, ~1.2 (>=1.2.0 <1.3.0),
 * ^1.2.3 (>=1.2.3 <2.0.0), 1.x / 1.2.x / * wildcards. A pre-release
 * version matches only when a comparator of the same major.minor.patch
 * carries a pre-release too (npm semantics). */
struct semver_range;

/* 0 when s is a SemVer version (*out filled), -1 when it is not (*out
 * zeroed). A question, not a refusal: it is asked of every tag a registry
 * lists, and most tags ("latest", "alpine") are simply not versions, so
 * there is no struct err to fill; a caller that refuses input for not
 * being a version says so itself (see margo's metadata.version check). */
int semver_parse(struct semver *out, const char *s);
/* <0, 0, >0 by SemVer precedence (build metadata ignored). */
int semver_cmp(const struct semver *a, const struct semver *b);
/* ERR_INVALID "invalid semver range ..." naming s, or ERR_FAIL (memory);
 * *out is freed with semver_range_free. */
int semver_range_parse(struct semver_range **out, const char *s,
		       struct err *err);
int semver_range_match(const struct semver_range *r, const struct semver *v);
void semver_range_free(struct semver_range *r);

#endif
