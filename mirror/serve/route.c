#include "mirror/serve/route.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mirror/store/store.h"

static int bad(struct route *rt, enum route_bad why, struct err *err,
	       const char *what, const char *s)
{
	char shown[240];

	rt->bad = why;
	err_shown(shown, sizeof(shown), s, strlen(s));
	return err_set(err, ERR_INVALID, "invalid %s \"%s\"", what, shown);
}

static int fixed_route(struct route *rt, const char *url)
{
	static const struct {
		const char *path;
		enum route_kind kind;
	} fixed[] = {
	    {"/", RT_UI},
	    {"/healthz", RT_HEALTH},
	    {"/metrics", RT_METRICS},
	    {"/ocimirror/v1/app", RT_APP},
	    {"/ocimirror/v1/apps", RT_APPS},
	    {"/ocimirror/v1/devices", RT_DEVICES},
	    {"/ocimirror/v1/device", RT_DEVICE},
	    {"/ocimirror/v1/match", RT_MATCH},
	    {"/ocimirror/v1/repos", RT_REPOS},
	    {"/ocimirror/v1/resource", RT_RESOURCE},
	    {"/ocimirror/v1/config", RT_CONFIG},
	    {"/ocimirror/v1/deploy", RT_DEPLOY},
	    {"/ocimirror/v1/sync", RT_SYNC},
	    {"/v2", RT_BASE},
	    {"/v2/", RT_BASE},
	    {"/v2/_catalog", RT_CATALOG},
	    {"/ui/app.js", RT_UI},
	    {"/ui/style.css", RT_UI},
	};

	for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++)
		if (!strcmp(url, fixed[i].path)) {
			rt->kind = fixed[i].kind;
			return 1;
		}
	return 0;
}

/* The rightmost action marker whose tail has no further '/'; its index in
 * markers, or -1. */
static const struct {
	const char *marker;
	enum route_kind kind;
} markers[] = {
    {"/manifests/", RT_MANIFEST},
    {"/blobs/uploads/", RT_UPLOAD},
    {"/blobs/", RT_BLOB},
    {"/referrers/", RT_REFERRERS},
};

static int find_marker(const char *rest, const char **at)
{
	int best_i = -1;

	*at = NULL;
	for (size_t i = 0; i < sizeof(markers) / sizeof(markers[0]); i++) {
		const char *p = rest, *hit = NULL;
		size_t ml = strlen(markers[i].marker);

		while ((p = strstr(p, markers[i].marker))) {
			hit = p;
			p++;
		}
		if (!hit || strchr(hit + ml, '/'))
			continue;
		if (!*at || hit > *at) {
			*at = hit;
			best_i = (int)i;
		}
	}
	return best_i;
}

/* The action after the name: sets kind and ref or upload id, and the
 * length of the name in *name_len. 0 for no endpoint (kind RT_NONE). */
static int split_action(struct route *rt, const char *rest, size_t *name_len,
			struct err *err)
{
	size_t len = strlen(rest);
	const char *at, *tail;
	int i;

	if (len > 10 && !strcmp(rest + len - 10, "/tags/list")) {
		rt->kind = RT_TAGS;
		*name_len = len - 10;
		return 0;
	}
	/* "/blobs/uploads/" with an empty id also matches "/blobs/" */
	if (len > 14 && !strcmp(rest + len - 14, "/blobs/uploads")) {
		rt->kind = RT_UPLOAD_NEW;
		*name_len = len - 14;
		return 0;
	}
	if (len > 15 && !strcmp(rest + len - 15, "/blobs/uploads/")) {
		rt->kind = RT_UPLOAD_NEW;
		*name_len = len - 15;
		return 0;
	}
	i = find_marker(rest, &at);
	if (i < 0)
		return 0;
	tail = at + strlen(markers[i].marker);
	rt->kind = markers[i].kind;
	*name_len = (size_t)(at - rest);
	if (rt->kind == RT_UPLOAD) {
		if (strlen(tail) >= sizeof(rt->upload_id))
			return bad(rt, ROUTE_BAD_NAME, err, "upload id", tail);
		snprintf(rt->upload_id, sizeof(rt->upload_id), "%s", tail);
		return 0;
	}
	if (strlen(tail) >= sizeof(rt->ref) || !*tail)
		return bad(rt, ROUTE_BAD_NAME, err, "reference", tail);
	snprintf(rt->ref, sizeof(rt->ref), "%s", tail);
	return 0;
}

static int check_ref(struct route *rt, struct err *err)
{
	if (strchr(rt->ref, ':')) {
		if (oci_digest_parse(&rt->digest, rt->ref, NULL))
			return bad(rt, ROUTE_BAD_REF, err, "digest", rt->ref);
		rt->is_digest = 1;
		return 0;
	}
	if (rt->kind != RT_MANIFEST)
		return bad(rt, ROUTE_BAD_REF, err, "digest", rt->ref);
	if (!oci_tag_valid(rt->ref))
		return bad(rt, ROUTE_BAD_TAG, err, "tag", rt->ref);
	return 0;
}

int route_parse(struct route *rt, const char *url, const char *ns,
		struct err *err)
{
	const char *rest;
	size_t name_len = 0;
	int rc;

	memset(rt, 0, sizeof(*rt));
	if (fixed_route(rt, url) || strncmp(url, "/v2/", 4))
		return 0; /* a fixed endpoint, or RT_NONE: 404 */
	rest = url + 4;
	rc = split_action(rt, rest, &name_len, err);
	if (rc || rt->kind == RT_NONE)
		return rc;
	if (!name_len || name_len >= sizeof(rt->name))
		return bad(rt, ROUTE_BAD_NAME, err, "repository name", url);
	memcpy(rt->name, rest, name_len);
	rt->name[name_len] = '\0';
	if (ns && *ns) {
		if (strlen(ns) + 1 + name_len >= sizeof(rt->repo) ||
		    strchr(ns, '/'))
			return bad(rt, ROUTE_BAD_NAME, err, "ns", ns);
		snprintf(rt->repo, sizeof(rt->repo), "%s/%s", ns, rt->name);
		snprintf(rt->ns_query, sizeof(rt->ns_query), "?ns=%s", ns);
	} else {
		snprintf(rt->repo, sizeof(rt->repo), "%s", rt->name);
	}
	if (!store_repo_valid(rt->repo))
		return bad(rt, ROUTE_BAD_NAME, err, "repository name",
			   rt->repo);
	if (rt->ref[0])
		return check_ref(rt, err);
	return 0;
}

void route_query_init(struct route_query *q)
{
	memset(q, 0, sizeof(*q));
	q->n = -1;
}

static void first(const char **slot, const char *value)
{
	if (!*slot)
		*slot = value;
}

int route_query_set(struct route_query *q, const char *key, const char *value,
		    struct err *err)
{
	if (!value)
		return 0;
	if (!strcmp(key, "ns"))
		first(&q->ns, value);
	else if (!strcmp(key, "last"))
		first(&q->last, value);
	else if (!strcmp(key, "digest"))
		first(&q->digest, value);
	else if (!strcmp(key, "mount"))
		first(&q->mount, value);
	else if (!strcmp(key, "from"))
		first(&q->from, value);
	else if (!strcmp(key, "repo"))
		first(&q->repo, value);
	else if (!strcmp(key, "tag"))
		first(&q->tag, value);
	else if (!strcmp(key, "path"))
		first(&q->path, value);
	else if (!strcmp(key, "artifactType") && !q->has_artifact_type) {
		/* '+' reaches us as a space; media types have no spaces */
		q->has_artifact_type = 1;
		q->artifact_type_overlong =
		    strlen(value) >= sizeof(q->artifact_type);
		snprintf(q->artifact_type, sizeof(q->artifact_type), "%s",
			 value);
		for (char *p = q->artifact_type; *p; p++)
			if (*p == ' ')
				*p = '+';
	} else if (!strcmp(key, "n") && !q->n_text) {
		char *end;
		char shown[64];

		q->n_text = value;
		/* an empty n reads as 0; a huge one as LONG_MAX */
		q->n = strtol(value, &end, 10);
		if (*end || q->n < 0) {
			q->n = -1;
			q->n_bad = 1;
			err_shown(shown, sizeof(shown), value, strlen(value));
			return err_set(err, ERR_INVALID, "invalid n \"%s\"",
				       shown);
		}
	}
	return 0;
}

static int hexval(char ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	if (ch >= 'A' && ch <= 'F')
		return ch - 'A' + 10;
	return -1;
}

size_t route_unescape(char *s)
{
	char *w = s;
	const char *p = s;

	while (*p) {
		int hi, lo;
		if (p[0] == '%' && (hi = hexval(p[1])) >= 0 &&
		    (lo = hexval(p[2])) >= 0 && (hi || lo)) {
			*w++ = (char)(hi * 16 + lo);
			p += 3;
		} else {
			*w++ = *p++;
		}
	}
	*w = '\0';
	return (size_t)(w - s);
}

size_t route_query_count(const char *uri)
{
	const char *p = strchr(uri, '?');
	size_t n = 0;

	if (!p)
		return 0;
	for (n = 1; (p = strchr(p + 1, '&')); n++)
		;
	return n;
}

int route_query_parse(struct route_query *q, char *query, struct err *err)
{
	int rc = 0;
	char *p = query;

	route_query_init(q);
	while (p && *p) {
		char *amp = strchr(p, '&'), *eq, *value = NULL;
		struct err e;

		if (amp)
			*amp = '\0';
		for (char *s = p; *s; s++)
			if (*s == '+')
				*s = ' ';
		eq = strchr(p, '=');
		if (eq) {
			*eq = '\0';
			value = eq + 1;
			route_unescape(value);
		}
		route_unescape(p);
		if (route_query_set(q, p, value, &e) && !rc) {
			rc = e.code;
			if (err)
				*err = e;
		}
		p = amp ? amp + 1 : NULL;
	}
	return rc;
}

/* Digits only (strtoull would take a sign, blanks, and wrap); a value
 * past the type saturates. */
static int range_num(const char *h, unsigned long long *v, char **end)
{
	if (*h < '0' || *h > '9')
		return -1;
	errno = 0;
	*v = strtoull(h, end, 10);
	if (errno == ERANGE)
		*v = ULLONG_MAX;
	return 0;
}

static int range_bad(struct err *err, int code, const char *h)
{
	char shown[128];

	err_shown(shown, sizeof(shown), h, strlen(h));
	return err_set(err, code,
		       code == ERR_INVALID ? "invalid Range \"%s\""
					   : "Range \"%s\" not satisfiable",
		       shown);
}

/* Compared unsigned, so no value yields an offset or length outside the
 * blob. */
int route_range_parse(uint64_t *from, uint64_t *len, const char *h0,
		      int64_t size, struct err *err)
{
	unsigned long long a = 0, b = 0, sz = size > 0 ? (uint64_t)size : 0;
	const char *h = h0;
	char *end;

	if (strncmp(h, "bytes=", 6) || strchr(h, ','))
		return range_bad(err, ERR_INVALID, h0);
	h += 6;
	if (*h == '-') {
		if (range_num(h + 1, &b, &end) || *end)
			return range_bad(err, ERR_INVALID, h0);
		if (!b || sz == 0)
			return range_bad(err, ERR_NOT_FOUND, h0);
		if (b > sz)
			b = sz;
		*from = sz - b;
		*len = b;
		return 0;
	}
	if (range_num(h, &a, &end) || *end != '-')
		return range_bad(err, ERR_INVALID, h0);
	h = end + 1;
	if (*h) {
		if (range_num(h, &b, &end) || *end)
			return range_bad(err, ERR_INVALID, h0);
		if (b < a)
			return range_bad(err, ERR_NOT_FOUND, h0);
	} else {
		b = sz ? sz - 1 : 0;
	}
	if (a >= sz)
		return range_bad(err, ERR_NOT_FOUND, h0);
	if (b >= sz)
		b = sz - 1;
	*from = a;
	*len = b - a + 1;
	return 0;
}

int route_content_range_parse(uint64_t *a, uint64_t *b, const char *h,
			      struct err *err)
{
	const char *s = h;
	char *end;
	char shown[128];

	if (!strncmp(s, "bytes ", 6))
		s += 6;
	if (*s < '0' || *s > '9')
		goto bad;
	*a = strtoull(s, &end, 10);
	if (*end != '-' || end[1] < '0' || end[1] > '9')
		goto bad;
	*b = strtoull(end + 1, &end, 10);
	if ((*end && *end != '/') || *b < *a)
		goto bad;
	return 0;
bad:
	err_shown(shown, sizeof(shown), h, strlen(h));
	return err_set(err, ERR_INVALID, "invalid Content-Range \"%s\"", shown);
}
