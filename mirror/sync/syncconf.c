/* The sync configuration file (contract in mirror/sync/syncconf.h). The
 * YAML is loaded by oci/yaml.h and walked against a fixed schema, so
 * aliases cannot make the walk recurse. */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mirror/file.h"
#include "mirror/margo/app_pull.h"
#include "mirror/store/store.h"
#include "mirror/sync/syncconf.h"
#include "oci/yaml.h"
#include "registry/options.h"
#include "registry/pool.h"

#define CONFIG_MAX (1024 * 1024) /* bytes in a configuration file */
#define VISITS_MAX 200000	 /* YAML nodes, aliases expanded */
#define REGISTRIES_MAX 1000
#define CONCURRENCY_MAX 1024
#define LATEST_MAX 100000
#define RATE_MAX 1e6
#define MIRRORS_MAX 16
#define UPSTREAM_TIMEOUT_MAX 600

struct ctx {
	const char *name;
	struct oci_yaml *y;
	struct err *err;
	int registries_only; /* syncconf_load_registries: sync: optional */
};

static int fail(struct ctx *c, const yaml_node_t *n, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Messages are one line: values quoted in them may span lines. */
static int one_line(struct err *e)
{
	if (e)
		for (char *p = e->msg; *p; p++)
			if ((unsigned char)*p < 0x20 || *p == 0x7f)
				*p = '?';
	return e ? e->code : ERR_INVALID;
}

static int fail(struct ctx *c, const yaml_node_t *n, const char *fmt, ...)
{
	char msg[ERR_MSG_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	err_set(c->err, ERR_INVALID, "%s:%zu:%zu: %s", c->name,
		n ? n->start_mark.line + 1 : 1,
		n ? n->start_mark.column + 1 : 1, msg);
	return one_line(c->err);
}

static size_t line_of(const yaml_node_t *n)
{
	return n->start_mark.line + 1;
}

/* The node at idx. The walk follows the schema, so it visits each node of
 * the alias-expanded tree at most once: the loader's expand cap
 * (VISITS_MAX) bounds its work. */
static int get(struct ctx *c, yaml_node_t **out, int idx,
	       const yaml_node_t *from)
{
	*out = oci_yaml_node(c->y, idx);
	if (!*out)
		return fail(c, from, "internal: dangling YAML node");
	return 0;
}

/* Any non-null scalar is a string: `tags: [1.10]` means the tag "1.10". */
static int get_str(struct ctx *c, const yaml_node_t *n, const char *what,
		   const char **out)
{
	if (n->type != YAML_SCALAR_NODE || oci_yaml_is_null(n))
		return fail(c, n, "%s: expected a string, got %s", what,
			    oci_yaml_kind(n));
	if (strlen(oci_yaml_scalar(n)) != n->data.scalar.length)
		return fail(c, n, "%s: contains a NUL character", what);
	if (!n->data.scalar.length)
		return fail(c, n, "%s: empty string", what);
	*out = oci_yaml_scalar(n);
	return 0;
}

static int dup_str(struct ctx *c, const yaml_node_t *n, const char *what,
		   char **out)
{
	const char *s;
	int rc = get_str(c, n, what, &s);

	if (rc)
		return rc;
	*out = strdup(s);
	if (!*out)
		return err_set(c->err, ERR_FAIL, "out of memory");
	return 0;
}

/* Only unquoted true and false: "yes", "on" and quoted "true" are
 * refused rather than guessed at. */
static int get_bool(struct ctx *c, const yaml_node_t *n, const char *what,
		    int *out)
{
	if (oci_yaml_is_plain(n) && !strcmp(oci_yaml_scalar(n), "true"))
		*out = 1;
	else if (oci_yaml_is_plain(n) && !strcmp(oci_yaml_scalar(n), "false"))
		*out = 0;
	else if (n->type == YAML_SCALAR_NODE && !oci_yaml_is_null(n))
		return fail(c, n,
			    "%s: expected true or false (unquoted), got "
			    "\"%.60s\"",
			    what, oci_yaml_scalar(n));
	else
		return fail(c, n, "%s: expected true or false, got %s", what,
			    oci_yaml_kind(n));
	return 0;
}

static int get_int(struct ctx *c, const yaml_node_t *n, const char *what,
		   long long min, long long max, int *out)
{
	const char *s, *p;
	long long v = 0;
	int neg;

	if (!oci_yaml_is_plain(n) || oci_yaml_is_null(n))
		return fail(c, n, "%s: expected an integer, got %s", what,
			    n->type == YAML_SCALAR_NODE && !oci_yaml_is_null(n)
				? "a quoted string"
				: oci_yaml_kind(n));
	s = oci_yaml_scalar(n);
	neg = *s == '-';
	p = s + (neg || *s == '+');
	if (!*p || strspn(p, "0123456789") != strlen(p))
		return fail(c, n, "%s: expected an integer, got \"%.60s\"",
			    what, s);
	if (strlen(p) > 18)
		goto range;
	for (; *p; p++)
		v = v * 10 + (*p - '0');
	if (neg)
		v = -v;
	if (v < min || v > max)
		goto range;
	*out = (int)v;
	return 0;
range:
	return fail(c, n, "%s: must be between %lld and %lld, got %.60s", what,
		    min, max, s);
}

/* Check a map's keys against the schema and hand back the value node of
 * each known key (NULL when absent). */
static int map_fields(struct ctx *c, const yaml_node_t *map, const char *where,
		      const char *const *keys, size_t n_keys,
		      yaml_node_t **vals)
{
	const yaml_node_t *first[16] = {NULL};
	yaml_node_pair_t *pair;

	for (size_t i = 0; i < n_keys; i++)
		vals[i] = NULL;
	if (map->type != YAML_MAPPING_NODE)
		return fail(c, map, "%s: expected a map, got %s", where,
			    oci_yaml_kind(map));
	for (pair = map->data.mapping.pairs.start;
	     pair < map->data.mapping.pairs.top; pair++) {
		yaml_node_t *k, *v;
		const char *name;
		size_t i;
		int rc;

		if ((rc = get(c, &k, pair->key, map)) ||
		    (rc = get(c, &v, pair->value, map)))
			return rc;
		if (k->type != YAML_SCALAR_NODE)
			return fail(c, k, "%s: a key must be a string, got %s",
				    where, oci_yaml_kind(k));
		if ((rc = get_str(c, k, where, &name)))
			return rc;
		for (i = 0; i < n_keys && strcmp(name, keys[i]); i++)
			;
		if (i == n_keys) {
			char list[256] = "";
			size_t len = 0;

			for (size_t j = 0; j < n_keys && len < sizeof(list);
			     j++)
				len += (size_t)snprintf(
				    list + len, sizeof(list) - len, "%s%s",
				    j ? ", " : "", keys[j]);
			return fail(c, k,
				    "unknown key \"%.80s\" in %s (expected "
				    "one of: %s)",
				    name, where, list);
		}
		if (vals[i])
			return fail(c, k,
				    "duplicate key \"%s\" in %s (first at "
				    "line %zu)",
				    name, where, line_of(first[i]));
		vals[i] = v;
		first[i] = k;
	}
	return 0;
}

static int seq_check(struct ctx *c, const yaml_node_t *n, const char *what,
		     const char *example, const char *if_empty)
{
	if (n->type != YAML_SEQUENCE_NODE)
		return fail(c, n, "%s: expected a list like %s, got %s", what,
			    example, oci_yaml_kind(n));
	if (!oci_yaml_seq_len(n))
		return fail(c, n, "%s: empty list (%s)", what, if_empty);
	return 0;
}

static int parse_platforms(struct ctx *c, const yaml_node_t *n,
			   struct oci_platform **out, size_t *n_out)
{
	size_t count;
	int rc;

	if ((rc = seq_check(c, n, "platforms", "[linux/amd64, linux/arm64]",
			    "leave the key out for all platforms")))
		return rc;
	count = oci_yaml_seq_len(n);
	*out = calloc(count, sizeof(**out));
	if (!*out)
		return err_set(c->err, ERR_FAIL, "out of memory");
	*n_out = count;
	for (size_t i = 0; i < count; i++) {
		yaml_node_t *item;
		const char *s;
		struct err e;

		if ((rc = get(c, &item, n->data.sequence.items.start[i], n)) ||
		    (rc = get_str(c, item, "platforms", &s)))
			return rc;
		if (oci_platform_parse(&(*out)[i], s, &e))
			return fail(c, item, "platforms: %s", e.msg);
	}
	return 0;
}

static int cmp_str_ptr(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* A list of strings each accepted by valid(); duplicates refused. */
static int parse_strv(struct ctx *c, const yaml_node_t *n, const char *what,
		      int (*valid)(const char *), const char *shape,
		      char ***out, size_t *n_out)
{
	size_t count = oci_yaml_seq_len(n);
	char **sorted = NULL;
	int rc = 0;

	*out = calloc(count + 1, sizeof(**out));
	if (!*out)
		return err_set(c->err, ERR_FAIL, "out of memory");
	for (size_t i = 0; i < count; i++) {
		yaml_node_t *item;

		if ((rc = get(c, &item, n->data.sequence.items.start[i], n)) ||
		    (rc = dup_str(c, item, what, &(*out)[i])))
			return rc;
		*n_out = i + 1;
		if (!valid((*out)[i]))
			return fail(c, item, "%s: invalid %s \"%.130s\" (%s)",
				    what, what, (*out)[i], shape);
	}
	sorted = malloc(count * sizeof(*sorted));
	if (!sorted)
		return err_set(c->err, ERR_FAIL, "out of memory");
	memcpy(sorted, *out, count * sizeof(*sorted));
	qsort(sorted, count, sizeof(*sorted), cmp_str_ptr);
	for (size_t i = 1; i < count; i++) {
		if (strcmp(sorted[i - 1], sorted[i]))
			continue;
		/* Point at the second occurrence in file order. */
		for (size_t j = 0, seen = 0; j < count; j++) {
			yaml_node_t *item = oci_yaml_node(
			    c->y, n->data.sequence.items.start[j]);

			if (strcmp((*out)[j], sorted[i]) || !seen++)
				continue;
			rc = fail(c, item, "%s: \"%.130s\" listed twice", what,
				  sorted[i]);
			break;
		}
		break;
	}
	free(sorted);
	return rc;
}

static int arch_valid(const char *s)
{
	size_t n = strlen(s);

	/* the check --arch makes (margo_arch_known: "arm/v7" too) */
	return n < sizeof(((struct oci_platform *)0)->arch) &&
	       margo_arch_known(s);
}

static int compile_regex(struct ctx *c, const yaml_node_t *n, const char *what,
			 regex_t *re, int *has)
{
	const char *s;
	struct err e;
	int rc;

	if ((rc = get_str(c, n, what, &s)))
		return rc;
	if (tagfilter_regex_compile(re, s, &e))
		return fail(c, n, "%s: %s", what, e.msg);
	*has = 1;
	return 0;
}

static const char *const filter_keys[] = {"regex", "exclude", "semver",
					  "latest"};
enum { F_REGEX, F_EXCLUDE, F_SEMVER, F_LATEST, F_N };

static int parse_tags(struct ctx *c, const yaml_node_t *n, struct tagfilter *t)
{
	yaml_node_t *v[F_N];
	const char *s;
	struct err e;
	int rc;

	if (n->type == YAML_SEQUENCE_NODE) {
		if (!oci_yaml_seq_len(n))
			return fail(c, n,
				    "tags: empty list selects nothing (leave "
				    "the key out for all tags)");
		return parse_strv(c, n, "tag", oci_tag_valid,
				  "expected [A-Za-z0-9_][A-Za-z0-9._-]{0,127}",
				  &t->exact, &t->n_exact);
	}
	if (n->type != YAML_MAPPING_NODE)
		return fail(c, n,
			    "tags: expected a list of tags or a map with "
			    "regex, exclude, semver, latest; got %s",
			    oci_yaml_kind(n));
	if ((rc = map_fields(c, n, "tags", filter_keys, F_N, v)))
		return rc;
	if (v[F_REGEX] && (rc = compile_regex(c, v[F_REGEX], "tags.regex",
					      &t->regex, &t->has_regex)))
		return rc;
	if (v[F_EXCLUDE] && (rc = compile_regex(c, v[F_EXCLUDE], "tags.exclude",
						&t->exclude, &t->has_exclude)))
		return rc;
	if (v[F_SEMVER]) {
		if ((rc = get_str(c, v[F_SEMVER], "tags.semver", &s)))
			return rc;
		if (semver_range_parse(&t->semver, s, &e))
			return e.code == ERR_INVALID
				   ? fail(c, v[F_SEMVER], "tags.semver: %s",
					  e.msg)
				   : err_set(c->err, e.code, "%s", e.msg);
	}
	if (v[F_LATEST] && (rc = get_int(c, v[F_LATEST], "tags.latest", 1,
					 LATEST_MAX, &t->latest)))
		return rc;
	return 0;
}

static const char *const rule_keys[] = {
    "source", "type",	   "tags",	"destination",
    "prune",  "platforms", "referrers", "referrers_recheck",
    "arch"};
enum {
	R_SOURCE,
	R_TYPE,
	R_TAGS,
	R_DEST,
	R_PRUNE,
	R_PLATFORMS,
	R_REFERRERS,
	R_RECHECK,
	R_ARCH,
	R_N
};

static int parse_rule(struct ctx *c, const yaml_node_t *n, struct sync_rule *r)
{
	yaml_node_t *v[R_N];
	const char *s;
	struct err e;
	int rc, pinned;

	r->line = (int)line_of(n);
	r->referrers = -1;
	r->referrers_recheck = -1;
	if ((rc = map_fields(c, n, "sync rule", rule_keys, R_N, v)))
		return rc;
	if (!v[R_SOURCE])
		return fail(c, n,
			    "sync rule: missing source (the repository "
			    "to mirror)");
	if ((rc = get_str(c, v[R_SOURCE], "source", &s)))
		return rc;
	/* Without tag or digest first: oci_ref_parse would add ":latest". */
	if (oci_ref_parse_repo(&r->source, s, &e) &&
	    oci_ref_parse(&r->source, s, &e))
		return fail(c, v[R_SOURCE], "source: %s", e.msg);
	pinned = r->source.tag[0] || r->source.has_digest;
	if (v[R_TYPE]) {
		if ((rc = get_str(c, v[R_TYPE], "type", &s)))
			return rc;
		if (!strcmp(s, "image"))
			r->type = SYNC_IMAGE;
		else if (!strcmp(s, "margo-app"))
			r->type = SYNC_MARGO_APP;
		else
			return fail(c, v[R_TYPE],
				    "type: expected image or margo-app, got "
				    "\"%.60s\"",
				    s);
	}
	if (v[R_TAGS]) {
		if (pinned)
			return fail(c, v[R_TAGS],
				    "tags: not allowed when source names a "
				    "tag or digest");
		if ((rc = parse_tags(c, v[R_TAGS], &r->tags)))
			return rc;
		r->has_tags = 1;
	}
	if (v[R_DEST]) {
		if ((rc =
			 dup_str(c, v[R_DEST], "destination", &r->destination)))
			return rc;
		if (!store_repo_valid(r->destination))
			return fail(c, v[R_DEST],
				    "destination: invalid repository name "
				    "\"%.200s\"",
				    r->destination);
	}
	if (v[R_PRUNE]) {
		if ((rc = get_bool(c, v[R_PRUNE], "prune", &r->prune)))
			return rc;
		if (r->prune && pinned)
			return fail(c, v[R_PRUNE],
				    "prune: not allowed when source names a "
				    "tag or digest");
	}
	if (v[R_PLATFORMS] &&
	    (rc = parse_platforms(c, v[R_PLATFORMS], &r->platforms,
				  &r->n_platforms)))
		return rc;
	if (v[R_REFERRERS] &&
	    (rc = get_bool(c, v[R_REFERRERS], "referrers", &r->referrers)))
		return rc;
	if (v[R_RECHECK] && (rc = get_bool(c, v[R_RECHECK], "referrers_recheck",
					   &r->referrers_recheck)))
		return rc;
	if (v[R_ARCH]) {
		if (r->type != SYNC_MARGO_APP)
			return fail(c, v[R_ARCH],
				    "arch: only for type: margo-app (images "
				    "use platforms)");
		if ((rc = seq_check(c, v[R_ARCH], "arch", "[amd64, arm64]",
				    "leave the key out for all")) ||
		    (rc = parse_strv(c, v[R_ARCH], "arch", arch_valid,
				     "expected " MARGO_ARCH_ACCEPTED, &r->arch,
				     &r->n_arch)))
			return rc;
	}
	return 0;
}

/* "10/s", "0.5/s", "100/m", "3600/h". */
static int parse_rate(double *out, const char *s)
{
	double v = 0, scale = 1;
	size_t n = strspn(s, "0123456789");

	if (n == 0 || n > 9)
		return -1;
	for (size_t i = 0; i < n; i++)
		v = v * 10 + (s[i] - '0');
	s += n;
	if (*s == '.') {
		n = strspn(++s, "0123456789");
		if (n == 0 || n > 6)
			return -1;
		for (size_t i = 0; i < n; i++) {
			scale /= 10;
			v += scale * (s[i] - '0');
		}
		s += n;
	}
	if (!strcmp(s, "/s"))
		;
	else if (!strcmp(s, "/m"))
		v /= 60;
	else if (!strcmp(s, "/h"))
		v /= 3600;
	else
		return -1;
	if (v <= 0 || v > RATE_MAX)
		return -1;
	*out = v;
	return 0;
}

/* HOST[:PORT] as the first component of a reference, normalised the same
 * way (index.docker.io is docker.io) so lookups by a parsed ref's host
 * find it. */
static int parse_host(struct ctx *c, const yaml_node_t *k, const char *h,
		      char **out)
{
	char tmp[OCI_NAME_MAX + 8];
	struct oci_ref ref;
	struct err e;

	if (strlen(h) > OCI_NAME_MAX || strchr(h, '/') ||
	    !(strchr(h, '.') || strchr(h, ':') || h[0] == '[' ||
	      !strcmp(h, "localhost")))
		return fail(c, k,
			    "registries: \"%.100s\" is not a registry host "
			    "(expected HOST[:PORT], e.g. registry.example.com "
			    "or localhost:5000)",
			    h);
	snprintf(tmp, sizeof(tmp), "%s/x", h);
	if (oci_ref_parse_repo(&ref, tmp, &e) ||
	    (strcmp(ref.path, "x") && strcmp(ref.path, "library/x")))
		return fail(c, k,
			    "registries: \"%.100s\" is not a valid "
			    "registry host",
			    h);
	*out = strdup(ref.host);
	if (!*out)
		return err_set(c->err, ERR_FAIL, "out of memory");
	return 0;
}

static void mark(size_t at[2], const yaml_node_t *n)
{
	if (n) {
		at[0] = n->start_mark.line + 1;
		at[1] = n->start_mark.column + 1;
	}
}

/* Why url is not a mirror URL (http:// or https://, HOST[:PORT], an
 * optional trailing '/', nothing else), or NULL when it is; *authority is
 * where HOST[:PORT] starts and *len its length. */
static const char *mirror_url_problem(const char *url, const char **authority,
				      size_t *len)
{
	const char *h, *end, *port = NULL;
	size_t n;

	if (!strncasecmp(url, "https://", 8))
		h = url + 8;
	else if (!strncasecmp(url, "http://", 7))
		h = url + 7;
	else
		return "expected http:// or https://";
	n = strcspn(h, "/?#");
	end = h + n;
	if (memchr(h, '@', n))
		return "a user is not allowed";
	if (*end == '?')
		return "a query is not allowed";
	if (*end == '#')
		return "a fragment is not allowed";
	if (*end == '/' && end[1])
		return strchr(end, '?')	  ? "a query is not allowed"
		       : strchr(end, '#') ? "a fragment is not allowed"
					  : "a path is not allowed";
	if (!n)
		return "no host";
	if (*h == '[') {
		/* an IPv6 address in brackets */
		const char *close = memchr(h, ']', n);

		if (!close || close == h + 1 ||
		    strspn(h + 1, "0123456789abcdefABCDEF:.") !=
			(size_t)(close - h - 1))
			return "invalid host";
		if (close + 1 < end) {
			if (close[1] != ':')
				return "invalid host";
			port = close + 1;
		}
	} else {
		const char *colon = memchr(h, ':', n);
		size_t hn = colon ? (size_t)(colon - h) : n;

		if (!hn ||
		    strspn(h, "abcdefghijklmnopqrstuvwxyz"
			      "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-") != hn ||
		    h[0] == '.' || h[0] == '-' || h[hn - 1] == '-')
			return "invalid host";
		port = colon;
	}
	if (port) {
		size_t pn = (size_t)(end - port - 1);
		long v = 0;

		if (!pn || pn > 5 || strspn(port + 1, "0123456789") < pn)
			return "invalid port";
		for (size_t i = 0; i < pn; i++)
			v = v * 10 + (port[1 + i] - '0');
		if (v < 1 || v > 65535)
			return "invalid port";
	}
	*authority = h;
	*len = n;
	return NULL;
}

/* mirrors: [URL, ...], each kept as "scheme://HOST[:PORT]" (lower-case
 * scheme, no trailing '/'). */
static int parse_mirrors(struct ctx *c, const yaml_node_t *n, const char *where,
			 struct sync_registry *g)
{
	size_t count;
	int rc;

	if (n->type != YAML_SEQUENCE_NODE)
		return fail(c, n,
			    "%s: mirrors: expected a list like "
			    "[\"https://mirror.example:5000\"], got %s",
			    where, oci_yaml_kind(n));
	count = oci_yaml_seq_len(n);
	if (!count)
		return fail(c, n, "%s: mirrors: empty list (leave the key out)",
			    where);
	if (count > MIRRORS_MAX)
		return fail(c, n, "%s: mirrors: more than %d", where,
			    MIRRORS_MAX);
	g->mirrors = calloc(count + 1, sizeof(*g->mirrors));
	if (!g->mirrors)
		return err_set(c->err, ERR_FAIL, "out of memory");
	for (size_t i = 0; i < count; i++) {
		const char *s, *auth, *why;
		yaml_node_t *item;
		char *u;
		size_t len;
		int https;

		if ((rc = get(c, &item, n->data.sequence.items.start[i], n)) ||
		    (rc = get_str(c, item, "mirrors", &s)))
			return rc;
		why = mirror_url_problem(s, &auth, &len);
		if (why)
			return fail(c, item,
				    "%s: mirrors: \"%.130s\" is not a mirror "
				    "URL (%s; expected http[s]://HOST[:PORT])",
				    where, s, why);
		https = tolower((unsigned char)s[4]) == 's';
		u = malloc(len + 9);
		if (!u)
			return err_set(c->err, ERR_FAIL, "out of memory");
		snprintf(u, len + 9, "%s://%.*s", https ? "https" : "http",
			 (int)len, auth);
		g->mirrors[i] = u;
		g->n_mirrors = i + 1;
		for (size_t j = 0; j < i; j++)
			if (!strcasecmp(g->mirrors[j], u))
				return fail(c, item,
					    "%s: mirrors: \"%.130s\" listed "
					    "twice",
					    where, s);
	}
	return 0;
}

static const char *const registry_keys[] = {
    "tls",  "ca",      "cert",	  "key", "max_connections",
    "rate", "mirrors", "fallback"};
enum {
	G_TLS,
	G_CA,
	G_CERT,
	G_KEY,
	G_MAXCONN,
	G_RATE,
	G_MIRRORS,
	G_FALLBACK,
	G_N
};

static int parse_registry(struct ctx *c, const yaml_node_t *k,
			  const yaml_node_t *n, struct sync_registry *g)
{
	char where[160];
	yaml_node_t *v[G_N];
	const char *s;
	int rc;

	if ((rc = get_str(c, k, "registries", &s)) ||
	    (rc = parse_host(c, k, s, &g->host)))
		return rc;
	snprintf(where, sizeof(where), "registry \"%.100s\"", s);
	if ((rc = map_fields(c, n, where, registry_keys, G_N, v)))
		return rc;
	if (v[G_TLS]) {
		if ((rc = get_str(c, v[G_TLS], "tls", &s)))
			return rc;
		if (!strcmp(s, "verify"))
			g->tls = SYNC_TLS_VERIFY;
		else if (!strcmp(s, "disabled"))
			g->tls = SYNC_TLS_DISABLED;
		else if (!strcmp(s, "insecure"))
			g->tls = SYNC_TLS_INSECURE;
		else
			return fail(c, v[G_TLS],
				    "tls: expected verify, disabled or "
				    "insecure, got \"%.60s\"",
				    s);
	}
	if ((v[G_CA] && (rc = dup_str(c, v[G_CA], "ca", &g->ca))) ||
	    (v[G_CERT] && (rc = dup_str(c, v[G_CERT], "cert", &g->cert))) ||
	    (v[G_KEY] && (rc = dup_str(c, v[G_KEY], "key", &g->key))))
		return rc;
	mark(g->ca_at, v[G_CA]);
	mark(g->cert_at, v[G_CERT]);
	mark(g->key_at, v[G_KEY]);
	if (g->key && !g->cert)
		return fail(c, v[G_KEY], "key: given without cert");
	if (g->tls == SYNC_TLS_DISABLED && (g->ca || g->cert))
		return fail(c, v[G_CA] ? v[G_CA] : v[G_CERT],
			    "%s: has no effect with tls: disabled",
			    g->ca ? "ca" : "cert");
	if (v[G_MAXCONN] &&
	    (rc = get_int(c, v[G_MAXCONN], "max_connections", 1,
			  CONCURRENCY_MAX, &g->max_connections)))
		return rc;
	if (v[G_RATE]) {
		if ((rc = get_str(c, v[G_RATE], "rate", &s)))
			return rc;
		if (parse_rate(&g->rate, s))
			return fail(c, v[G_RATE],
				    "rate: expected a positive number of "
				    "requests per second like 10/s (or /m, "
				    "/h), got \"%.60s\"",
				    s);
	}
	if (v[G_MIRRORS] && (rc = parse_mirrors(c, v[G_MIRRORS], where, g)))
		return rc;
	if (v[G_FALLBACK]) {
		char what[200];

		if (!g->n_mirrors)
			return fail(c, v[G_FALLBACK],
				    "%s: fallback: only with mirrors: (the "
				    "registry is read directly without them)",
				    where);
		snprintf(what, sizeof(what), "%s: fallback", where);
		if ((rc = get_bool(c, v[G_FALLBACK], what, &g->fallback)))
			return rc;
	}
	return 0;
}

static int parse_registries(struct ctx *c, const yaml_node_t *n,
			    struct sync_config *out)
{
	size_t count;
	int rc;

	if (n->type != YAML_MAPPING_NODE)
		return fail(c, n,
			    "registries: expected a map of HOST: {settings}, "
			    "got %s",
			    oci_yaml_kind(n));
	count =
	    (size_t)(n->data.mapping.pairs.top - n->data.mapping.pairs.start);
	if (count > REGISTRIES_MAX)
		return fail(c, n, "registries: more than %d", REGISTRIES_MAX);
	out->registries = calloc(count ? count : 1, sizeof(*out->registries));
	if (!out->registries)
		return err_set(c->err, ERR_FAIL, "out of memory");
	for (size_t i = 0; i < count; i++) {
		yaml_node_pair_t *pair = &n->data.mapping.pairs.start[i];
		struct sync_registry *g = &out->registries[i];
		yaml_node_t *k, *v;

		if ((rc = get(c, &k, pair->key, n)) ||
		    (rc = get(c, &v, pair->value, n)))
			return rc;
		out->n_registries = i + 1;
		if ((rc = parse_registry(c, k, v, g)))
			return rc;
		for (size_t j = 0; j < i; j++) {
			if (strcasecmp(out->registries[j].host, g->host))
				continue;
			return fail(
			    c, k,
			    "registries: duplicate host \"%s\" (first "
			    "at line %zu)",
			    g->host,
			    line_of(oci_yaml_node(
				c->y, n->data.mapping.pairs.start[j].key)));
		}
	}
	return 0;
}

static const char *const default_keys[] = {
    "platforms",   "referrers", "referrers_recheck",
    "concurrency", "tag_ttl",	"upstream_timeout"};
enum {
	D_PLATFORMS,
	D_REFERRERS,
	D_RECHECK,
	D_CONCURRENCY,
	D_TAG_TTL,
	D_UPSTREAM_TIMEOUT,
	D_N
};

static int parse_defaults(struct ctx *c, const yaml_node_t *n,
			  struct sync_config *out)
{
	yaml_node_t *v[D_N];
	int rc;

	if ((rc = map_fields(c, n, "defaults", default_keys, D_N, v)))
		return rc;
	if (v[D_PLATFORMS] &&
	    (rc = parse_platforms(c, v[D_PLATFORMS], &out->platforms,
				  &out->n_platforms)))
		return rc;
	if (v[D_REFERRERS] &&
	    (rc = get_bool(c, v[D_REFERRERS], "referrers", &out->referrers)))
		return rc;
	if (v[D_RECHECK] && (rc = get_bool(c, v[D_RECHECK], "referrers_recheck",
					   &out->referrers_recheck)))
		return rc;
	if (v[D_CONCURRENCY] &&
	    (rc = get_int(c, v[D_CONCURRENCY], "concurrency", 1,
			  CONCURRENCY_MAX, &out->concurrency)))
		return rc;
	if (v[D_TAG_TTL] && (rc = get_int(c, v[D_TAG_TTL], "tag_ttl", 0,
					  INT_MAX, &out->tag_ttl)))
		return rc;
	if (v[D_UPSTREAM_TIMEOUT] &&
	    (rc = get_int(c, v[D_UPSTREAM_TIMEOUT], "upstream_timeout", 1,
			  UPSTREAM_TIMEOUT_MAX, &out->upstream_timeout)))
		return rc;
	return 0;
}

static const char *const top_keys[] = {"defaults", "registries", "sync"};
enum { T_DEFAULTS, T_REGISTRIES, T_SYNC, T_N };

static int parse_root(struct ctx *c, const yaml_node_t *root,
		      struct sync_config *out)
{
	yaml_node_t *v[T_N];
	const yaml_node_t *sync;
	size_t count;
	int rc;

	if (root->type != YAML_MAPPING_NODE)
		return fail(c, root,
			    "the top level must be a map (defaults, "
			    "registries, sync), got %s",
			    oci_yaml_kind(root));
	if ((rc = map_fields(c, root, "the top level", top_keys, T_N, v)))
		return rc;
	if (v[T_DEFAULTS] && (rc = parse_defaults(c, v[T_DEFAULTS], out)))
		return rc;
	if (v[T_REGISTRIES] && (rc = parse_registries(c, v[T_REGISTRIES], out)))
		return rc;
	sync = v[T_SYNC];
	if (!sync && c->registries_only) {
		/* registries and defaults only: something must be named */
		if (!out->n_registries)
			return fail(c, v[T_REGISTRIES] ? v[T_REGISTRIES] : root,
				    "missing registries: (the settings of the "
				    "registries to read from)");
		return 0;
	}
	if (!sync)
		return fail(c, root,
			    "missing sync: (the list of what to "
			    "mirror)");
	if ((rc = seq_check(c, sync, "sync", "[{source: REPOSITORY}, ...]",
			    "nothing to mirror")))
		return rc;
	count = oci_yaml_seq_len(sync);
	out->rules = calloc(count, sizeof(*out->rules));
	if (!out->rules)
		return err_set(c->err, ERR_FAIL, "out of memory");
	for (size_t i = 0; i < count; i++) {
		yaml_node_t *item;

		if ((rc = get(c, &item, sync->data.sequence.items.start[i],
			      sync)))
			return rc;
		out->n_rules = i + 1;
		if ((rc = parse_rule(c, item, &out->rules[i])))
			return rc;
	}
	return 0;
}

static int parse_text(struct sync_config *out, const char *name,
		      const char *buf, size_t len, int registries_only,
		      struct err *err)
{
	static const struct oci_yaml_limits lim = {
	    CONFIG_MAX, OCI_YAML_DEPTH_MAX, OCI_YAML_NODES_MAX, VISITS_MAX,
	    OCI_YAML_ANCHORS_MAX};
	struct oci_yaml y;
	struct ctx c = {.name = name ? name : "<config>",
			.err = err,
			.y = &y,
			.registries_only = registries_only};
	const yaml_node_t *root;
	int rc;

	memset(out, 0, sizeof(*out));
	memset(&y, 0, sizeof(y));
	out->concurrency = 8;
	out->tag_ttl = 300;
	out->upstream_timeout = 3;
	out->path = strdup(c.name);
	if (!out->path) {
		rc = err_set(err, ERR_FAIL, "out of memory");
		goto out;
	}
	if ((rc = oci_yaml_load(&y, c.name, buf, len, &lim, err))) {
		/* every refusal of a configuration is ERR_INVALID, caps too */
		if (rc == ERR_TOO_LARGE)
			rc = err->code = ERR_INVALID;
		goto out;
	}
	root = oci_yaml_root(&y);
	if (!root) {
		rc = fail(&c, NULL, "empty file (expected a map with sync:)");
		goto out;
	}
	if ((rc = parse_root(&c, root, out)))
		goto out;
	rc = oci_yaml_expect_end(&y, err);
out:
	oci_yaml_release(&y);
	if (rc)
		syncconf_release(out);
	return rc;
}

int syncconf_parse(struct sync_config *out, const char *name, const char *buf,
		   size_t len, struct err *err)
{
	return parse_text(out, name, buf, len, 0, err);
}

static int load(struct sync_config *out, const char *path, int registries_only,
		struct err *err)
{
	char *text;
	size_t len;
	int rc;

	memset(out, 0, sizeof(*out));
	rc = file_read_capped(&text, &len, path, CONFIG_MAX, err);
	if (rc == ERR_TOO_LARGE) {
		/* an oversized sync file is invalid, as syncconf_parse says */
		rc = ERR_INVALID;
		if (err)
			err->code = rc;
	}
	if (!rc)
		rc = parse_text(out, path, text, len, registries_only, err);
	free(text);
	return rc;
}

int syncconf_load(struct sync_config *out, const char *path, struct err *err)
{
	return load(out, path, 0, err);
}

int syncconf_load_registries(struct sync_config *out, const char *path,
			     struct err *err)
{
	return load(out, path, 1, err);
}

static int check_file(const char *cfg, const char *what, const char *path,
		      const size_t at[2], struct err *err)
{
	char shown[200];
	struct stat sb;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK),
	    rc = 0;
	const char *why = NULL;

	if (fd < 0)
		why = strerror(errno);
	else if (fstat(fd, &sb))
		why = strerror(errno);
	else if (!S_ISREG(sb.st_mode))
		why = "not a regular file";
	if (why) {
		err_shown(shown, sizeof(shown), path, strlen(path));
		rc = err_set(err, ERR_INVALID,
			     "%s:%zu:%zu: %s: cannot read \"%s\": %s", cfg,
			     at[0], at[1], what, shown, why);
	}
	if (fd >= 0)
		close(fd);
	return rc;
}

int syncconf_check_files(const struct sync_config *c, struct err *err)
{
	int rc = 0;

	for (size_t i = 0; i < c->n_registries && !rc; i++) {
		const struct sync_registry *g = &c->registries[i];

		if ((g->ca &&
		     (rc = check_file(c->path, "ca", g->ca, g->ca_at, err))) ||
		    (g->cert && (rc = check_file(c->path, "cert", g->cert,
						 g->cert_at, err))) ||
		    (g->key &&
		     (rc = check_file(c->path, "key", g->key, g->key_at, err))))
			break;
	}
	return rc;
}

void syncconf_release(struct sync_config *c)
{
	if (!c)
		return;
	free(c->path);
	free(c->platforms);
	for (size_t i = 0; i < c->n_registries; i++) {
		free(c->registries[i].host);
		free(c->registries[i].ca);
		free(c->registries[i].cert);
		free(c->registries[i].key);
		for (size_t j = 0; j < c->registries[i].n_mirrors; j++)
			free(c->registries[i].mirrors[j]);
		free(c->registries[i].mirrors);
	}
	free(c->registries);
	for (size_t i = 0; i < c->n_rules; i++) {
		struct sync_rule *r = &c->rules[i];

		tagfilter_release(&r->tags);
		free(r->destination);
		free(r->platforms);
		for (size_t j = 0; j < r->n_arch; j++)
			free(r->arch[j]);
		free(r->arch);
	}
	free(c->rules);
	memset(c, 0, sizeof(*c));
}

const struct sync_registry *syncconf_registry(const struct sync_config *c,
					      const char *host)
{
	for (size_t i = 0; i < c->n_registries; i++)
		if (!strcasecmp(c->registries[i].host, host))
			return &c->registries[i];
	return NULL;
}

static enum reg_tls tls_of(enum sync_tls t)
{
	switch (t) {
	case SYNC_TLS_VERIFY: return REG_TLS_VERIFY;
	case SYNC_TLS_DISABLED: return REG_TLS_PLAIN;
	case SYNC_TLS_INSECURE: return REG_TLS_INSECURE;
	default: return REG_TLS_DEFAULT;
	}
}

/* The registry block of a mirror URL's HOST:PORT, or NULL. */
static const struct reg_host_options *
mirror_block(const struct sync_config *c, const struct reg_host_options *opts,
	     const char *url)
{
	const char *auth = strstr(url, "://");

	if (!auth)
		return NULL;
	auth += 3;
	for (size_t i = 0; i < c->n_registries; i++)
		if (!strcasecmp(c->registries[i].host, auth))
			return &opts[i];
	return NULL;
}

int syncconf_hosts_build(struct syncconf_hosts *out,
			 const struct sync_config *c, struct err *err)
{
	size_t n_mirrors = 0, at = 0;

	memset(out, 0, sizeof(*out));
	for (size_t i = 0; i < c->n_registries; i++)
		n_mirrors += c->registries[i].n_mirrors;
	out->opts = calloc(c->n_registries + 1, sizeof(*out->opts));
	out->hosts = calloc(c->n_registries + 1, sizeof(*out->hosts));
	out->mirror_opts = calloc(n_mirrors + 1, sizeof(*out->mirror_opts));
	if (!out->opts || !out->hosts || !out->mirror_opts) {
		syncconf_hosts_release(out);
		return err_set(err, ERR_FAIL,
			       "options of %zu registries: out of memory",
			       c->n_registries);
	}
	for (size_t i = 0; i < c->n_registries; i++) {
		const struct sync_registry *g = &c->registries[i];
		struct reg_host_options *o = &out->opts[i];

		o->tls = tls_of(g->tls);
		o->max_connections = g->max_connections;
		o->rate = g->rate;
		o->ca_file = g->ca;
		o->cert = g->cert;
		o->key = g->key;
		if (g->n_mirrors) {
			o->mirrors = (const char *const *)g->mirrors;
			o->n_mirrors = g->n_mirrors;
			o->mirror_opts = out->mirror_opts + at;
			o->fallback = g->fallback;
			for (size_t j = 0; j < g->n_mirrors; j++)
				out->mirror_opts[at++] =
				    mirror_block(c, out->opts, g->mirrors[j]);
		}
		out->hosts[i].host = g->host;
		out->hosts[i].opt = o;
	}
	out->n = c->n_registries;
	return 0;
}

void syncconf_hosts_release(struct syncconf_hosts *h)
{
	if (!h)
		return;
	free(h->hosts);
	free(h->opts);
	free(h->mirror_opts);
	memset(h, 0, sizeof(*h));
}
