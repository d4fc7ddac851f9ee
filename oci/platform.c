#include "oci/platform.h"
#include "oci/vec.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PLATFORM_LIST_MAX 256
#define SHOW_MAX 100

static void lower(char *s)
{
	for (; *s; s++)
		if (*s >= 'A' && *s <= 'Z')
			*s = (char)(*s - 'A' + 'a');
}

static void set(char *dst, size_t cap, const char *s)
{
	snprintf(dst, cap, "%s", s);
}

void oci_platform_normalize(struct oci_platform *p)
{
	char *a = p->arch, *v = p->variant;

	lower(p->os);
	lower(a);
	lower(v);
	if (!strcmp(a, "aarch64")) {
		set(a, sizeof(p->arch), "arm64");
	} else if (!strcmp(a, "x86_64") || !strcmp(a, "x86-64")) {
		set(a, sizeof(p->arch), "amd64");
	} else if (!strcmp(a, "i386") || !strcmp(a, "i486") ||
		   !strcmp(a, "i586") || !strcmp(a, "i686")) {
		set(a, sizeof(p->arch), "386");
	} else if (!strcmp(a, "armhf")) {
		set(a, sizeof(p->arch), "arm");
		if (!v[0])
			set(v, sizeof(p->variant), "v7");
	} else if (!strcmp(a, "armel")) {
		set(a, sizeof(p->arch), "arm");
		if (!v[0])
			set(v, sizeof(p->variant), "v6");
	}

	/* Bare variant numbers ("7") mean the same as "v7". */
	if (v[0] >= '0' && v[0] <= '9' && strlen(v) + 1 < sizeof(p->variant)) {
		memmove(v + 1, v, strlen(v) + 1);
		v[0] = 'v';
	}
	if (!strcmp(a, "arm")) {
		if (!v[0])
			set(v, sizeof(p->variant), "v7");
	} else if (!strcmp(a, "arm64")) {
		/* v8 is the baseline: spelled out or not, it is the same. */
		if (!strcmp(v, "v8") || !strcmp(v, "v8.0"))
			v[0] = '\0';
	} else if (!strcmp(a, "amd64")) {
		if (!strcmp(v, "v1"))
			v[0] = '\0';
	}
}

static int valid_part(const char *s, size_t n)
{
	size_t i;

	if (n == 0 || s[0] == '.' || s[0] == '_' || s[0] == '-')
		return 0;
	for (i = 0; i < n; i++) {
		char c = s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '.' || c == '_' ||
		      c == '-'))
			return 0;
	}
	return 1;
}

static int parsen(struct oci_platform *out, const char *s, size_t n,
		  struct err *err)
{
	const char *part[3];
	size_t plen[3];
	size_t caps[3] = {sizeof(out->os), sizeof(out->arch),
			  sizeof(out->variant)};
	char *dst[3] = {out->os, out->arch, out->variant};
	const char *names[3] = {"os", "architecture", "variant"};
	char show[SHOW_MAX];
	size_t i, k = 0, start = 0;

	memset(out, 0, sizeof(*out));
	err_shown(show, sizeof(show), s, n);
	for (i = 0; i <= n; i++) {
		if (i < n && s[i] != '/')
			continue;
		if (k == 3)
			goto shape;
		part[k] = s + start;
		plen[k] = i - start;
		k++;
		start = i + 1;
	}
	if (k < 2)
		goto shape;
	for (i = 0; i < k; i++) {
		if (!valid_part(part[i], plen[i])) {
			memset(out, 0, sizeof(*out));
			return err_set(err, ERR_INVALID,
				       "invalid platform \"%s\": %s is empty "
				       "or not [A-Za-z0-9][A-Za-z0-9._-]*",
				       show, names[i]);
		}
		if (plen[i] >= caps[i]) {
			memset(out, 0, sizeof(*out));
			return err_set(err, ERR_INVALID,
				       "invalid platform \"%s\": %s is longer "
				       "than %zu characters",
				       show, names[i], caps[i] - 1);
		}
		memcpy(dst[i], part[i], plen[i]);
		dst[i][plen[i]] = '\0';
	}
	oci_platform_normalize(out);
	return 0;
shape:
	memset(out, 0, sizeof(*out));
	return err_set(err, ERR_INVALID,
		       "invalid platform \"%s\": expected os/arch[/variant]",
		       show);
}

int oci_platform_parse(struct oci_platform *out, const char *s, struct err *err)
{
	if (!s) {
		memset(out, 0, sizeof(*out));
		return err_set(err, ERR_INVALID,
			       "invalid platform: none given");
	}
	return parsen(out, s, strlen(s), err);
}

int oci_platform_match(const struct oci_platform *want,
		       const struct oci_platform *have)
{
	struct oci_platform w = *want, h = *have;

	oci_platform_normalize(&w);
	oci_platform_normalize(&h);
	if (strcmp(w.os, h.os) || strcmp(w.arch, h.arch))
		return 0;
	if (!strcmp(w.variant, h.variant))
		return 1;
	/* Normalisation fills in arm's default (v7) and erases arm64's (v8),
	 * so an empty wanted variant only matches an absent one. */
	return 0;
}

void oci_platform_format(const struct oci_platform *p, char *dst, size_t cap)
{
	if (!cap)
		return;
	snprintf(dst, cap, "%s/%s%s%s", p->os, p->arch,
		 p->variant[0] ? "/" : "", p->variant);
}

static int is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

int oci_platform_parse_list(struct oci_platform **out, size_t *n_out,
			    const char *s, struct err *err)
{
	struct oci_platform *list = NULL;
	size_t n = 0, cap = 0, len, i, start, a, b;
	int rc = 0;

	*out = NULL;
	*n_out = 0;
	if (!s) {
		rc = err_set(err, ERR_INVALID,
			     "invalid platform list: none given");
		goto out;
	}
	len = strlen(s);
	for (start = 0, i = 0; i <= len; i++) {
		if (i < len && s[i] != ',')
			continue;
		a = start;
		b = i;
		start = i + 1;
		while (a < b && is_space(s[a]))
			a++;
		while (b > a && is_space(s[b - 1]))
			b--;
		if (a == b) {
			rc = err_set(
			    err, ERR_INVALID,
			    "invalid platform list: entry %zu is empty", n + 1);
			goto out;
		}
		if (n == PLATFORM_LIST_MAX) {
			rc = err_set(
			    err, ERR_TOO_LARGE,
			    "invalid platform list: more than %d platforms",
			    PLATFORM_LIST_MAX);
			goto out;
		}
		if (OCI_VEC_RESERVE(list, n, cap, 1, 0)) {
			rc = err_set(err, ERR_FAIL,
				     "platform list: out of memory");
			goto out;
		}
		rc = parsen(&list[n], s + a, b - a, err);
		if (rc)
			goto out;
		n++;
	}
	*out = list;
	*n_out = n;
	list = NULL;
out:
	free(list);
	return rc;
}
