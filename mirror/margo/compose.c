/* The images a Compose archive runs. See compose.h. */
#include "mirror/margo/compose.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mirror/margo/yamlutil.h"
#include "oci/buf.h"

static const struct oci_yaml_limits yaml_lim = MARGO_YAML_LIMITS;

#define INTERP_DEPTH 8

/* The value of name in .env text, into val; 1 when set. As Compose reads
 * it: the last assignment wins, "export " is allowed, a quoted value is
 * taken between its quotes, and an unquoted one ends at " #". */
static int dotenv_get(const char *env, const char *name, char *val, size_t cap)
{
	size_t nl = strlen(name);
	const char *p = env;
	int found = 0;

	while (p && *p) {
		const char *e = strchr(p, '\n'), *v;
		size_t n;

		if (!e)
			e = p + strlen(p);
		while (p < e && (*p == ' ' || *p == '\t'))
			p++;
		if ((size_t)(e - p) > 7 && !strncmp(p, "export ", 7))
			p += 7;
		if ((size_t)(e - p) > nl && !strncmp(p, name, nl) &&
		    p[nl] == '=') {
			v = p + nl + 1;
			n = (size_t)(e - v);
			if (n && v[n - 1] == '\r')
				n--;
			if (n >= 2 && (v[0] == '"' || v[0] == '\'') &&
			    memchr(v + 1, v[0], n - 1)) {
				const char *q = memchr(v + 1, v[0], n - 1);

				n = (size_t)(q - v - 1);
				v++;
			} else {
				for (size_t k = 1; k < n; k++)
					if (v[k] == '#' && (v[k - 1] == ' ' ||
							    v[k - 1] == '\t')) {
						n = k;
						break;
					}
				while (n &&
				       (v[n - 1] == ' ' || v[n - 1] == '\t'))
					n--;
			}
			if (n >= cap)
				n = cap - 1;
			memcpy(val, v, n);
			val[n] = '\0';
			found = 1;
		}
		p = *e ? e + 1 : e;
	}
	return found;
}

static int name_start(char c)
{
	return c == '_' || ((c | 0x20) >= 'a' && (c | 0x20) <= 'z');
}

static int name_char(char c)
{
	return name_start(c) || (c >= '0' && c <= '9');
}

/* $NAME or ${NAME}: its value, or a problem when it has none. */
static int var_value(struct buf *o, const char *env, const char *name,
		     char *problem, size_t pcap)
{
	char val[512];

	if (!dotenv_get(env, name, val, sizeof(val))) {
		snprintf(problem, pcap,
			 "variable %s is not set and has no default", name);
		return -1;
	}
	if (buf_puts(o, val)) {
		snprintf(problem, pcap, "value too long once interpolated");
		return -1;
	}
	return 0;
}

static int interp(struct buf *o, const char *s, size_t n, const char *env,
		  char *problem, size_t pcap, int depth);

static int too_long(char *problem, size_t pcap)
{
	snprintf(problem, pcap, "value too long once interpolated");
	return -1;
}

static int bad_syntax(char *problem, size_t pcap)
{
	snprintf(problem, pcap, "invalid interpolation syntax");
	return -1;
}

/* ${NAME-word}, ${NAME:-word}, ${NAME?word}, ${NAME:?word}, ${NAME+word},
 * ${NAME:+word}: s[k] is the character after NAME, s[close] the '}'. */
static int modifier(struct buf *o, const char *s, size_t k, size_t close,
		    const char *name, const char *env, char *problem,
		    size_t pcap, int depth)
{
	char val[512];
	int set = dotenv_get(env, name, val, sizeof(val));
	int colon = s[k] == ':';
	char op = s[k + (size_t)colon];
	const char *word = s + k + (size_t)colon + 1;
	size_t wl = (size_t)(s + close - word);
	int empty_unset = !set || (colon && !val[0]);

	if (k + (size_t)colon >= close || (op != '-' && op != '?' && op != '+'))
		return bad_syntax(problem, pcap);
	if (op == '-') {
		if (empty_unset)
			return interp(o, word, wl, env, problem, pcap,
				      depth + 1);
		return buf_puts(o, val) ? too_long(problem, pcap) : 0;
	}
	if (op == '?') {
		if (empty_unset) {
			snprintf(problem, pcap, "variable %s is required: %.*s",
				 name, (int)(wl > 100 ? 100 : wl), word);
			return -1;
		}
		return buf_puts(o, val) ? too_long(problem, pcap) : 0;
	}
	if (!empty_unset)
		return interp(o, word, wl, env, problem, pcap, depth + 1);
	return 0;
}

/* ${...} starting at s[i] (s[i + 1] is '{'): its value appended, *next
 * set past the matching brace. */
static int braced(struct buf *o, const char *s, size_t n, size_t i,
		  size_t *next, const char *env, char *problem, size_t pcap,
		  int depth)
{
	char name[128];
	size_t k, nl, close;
	int level;

	for (close = i + 2, level = 1; close < n; close++) {
		if (s[close] == '$' && close + 1 < n && s[close + 1] == '{') {
			level++;
			close++;
		} else if (s[close] == '}' && --level == 0) {
			break;
		}
	}
	if (close >= n)
		return bad_syntax(problem, pcap);
	k = i + 2;
	while (k < close && name_char(s[k]))
		k++;
	nl = k - i - 2;
	if (!nl || nl >= sizeof(name))
		return bad_syntax(problem, pcap);
	memcpy(name, s + i + 2, nl);
	name[nl] = '\0';
	*next = close + 1;
	if (k == close)
		return var_value(o, env, name, problem, pcap);
	return modifier(o, s, k, close, name, env, problem, pcap, depth);
}

static int interp(struct buf *o, const char *s, size_t n, const char *env,
		  char *problem, size_t pcap, int depth)
{
	size_t i = 0;

	if (depth > INTERP_DEPTH) {
		snprintf(problem, pcap, "interpolation nested too deeply");
		return -1;
	}
	while (i < n) {
		char name[128];
		size_t k, nl;

		if (s[i] != '$') {
			if (buf_append(o, s + i, 1))
				return too_long(problem, pcap);
			i++;
			continue;
		}
		if (i + 1 < n && s[i + 1] == '$') {
			if (buf_append(o, "$", 1))
				return too_long(problem, pcap);
			i += 2;
			continue;
		}
		if (i + 1 < n && name_start(s[i + 1])) {
			k = i + 1;
			while (k < n && name_char(s[k]))
				k++;
			nl = k - i - 1;
			if (nl >= sizeof(name))
				return bad_syntax(problem, pcap);
			memcpy(name, s + i + 1, nl);
			name[nl] = '\0';
			if (var_value(o, env, name, problem, pcap))
				return -1;
			i = k;
			continue;
		}
		if (i + 1 >= n || s[i + 1] != '{')
			return bad_syntax(problem, pcap);
		if (braced(o, s, n, i, &i, env, problem, pcap, depth))
			return -1;
	}
	return 0;
}

int margo_interpolate(char *dst, size_t cap, const char *s, const char *dotenv,
		      char *problem, size_t pcap)
{
	struct buf o;

	buf_init(&o, cap ? cap - 1 : 0);
	if (interp(&o, s, strlen(s), dotenv, problem, pcap, 0)) {
		buf_release(&o);
		return -1;
	}
	snprintf(dst, cap, "%s", o.data);
	buf_release(&o);
	return 0;
}

int margo_compose_file_images(struct margo_images *out, const char *yaml,
			      size_t len, const char *file, const char *dotenv,
			      struct err *err)
{
	struct oci_yaml y;
	yaml_node_t *root, *svcs;
	int rc = 0;

	if ((rc = oci_yaml_load(&y, file, yaml, len, &yaml_lim, err)))
		return rc;
	root = yaml_document_get_root_node(&y.doc);
	svcs = oci_yaml_map_get(&y.doc, root, "services", NULL, NULL);
	if (!svcs || svcs->type != YAML_MAPPING_NODE) {
		oci_yaml_release(&y);
		return err_set(err, ERR_INVALID,
			       "%s: no services mapping: not a Compose file",
			       file);
	}
	for (yaml_node_pair_t *p = svcs->data.mapping.pairs.start;
	     p < svcs->data.mapping.pairs.top && !rc; p++) {
		const char *name =
		    oci_yaml_scalar(yaml_document_get_node(&y.doc, p->key));
		yaml_node_t *svc = yaml_document_get_node(&y.doc, p->value);
		const char *img = oci_yaml_scalar(
		    oci_yaml_map_get(&y.doc, svc, "image", NULL, NULL));
		char where[256], ref[OCI_REF_STR_MAX], problem[200];

		if (!name)
			continue;
		snprintf(where, sizeof(where), "%s: services.%s.image", file,
			 name);
		if (!img || !*img)
			rc = margo_images_add(
			    out, NULL, where,
			    oci_yaml_map_get(&y.doc, svc, "build", NULL, NULL)
				? "the service builds its image (build:) "
				  "instead of naming one; nothing to mirror"
				: "the service names no image",
			    err);
		else if (margo_interpolate(ref, sizeof(ref), img, dotenv,
					   problem, sizeof(problem)))
			rc = margo_images_add(out, NULL, where, problem, err);
		else
			rc = margo_images_add(out, ref, where, NULL, err);
	}
	oci_yaml_release(&y);
	return rc ? err_wrap(err, "%s: ", file) : 0;
}

static size_t compose_want(const char *path)
{
	return !strcmp(path, "compose.yaml") || !strcmp(path, ".env")
		   ? MARGO_YAML_MAX
		   : 0;
}

int margo_compose_images(struct margo_images *out, const void *tgz, size_t len,
			 struct err *err)
{
	struct margo_archive a;
	const struct margo_afile *f, *env;
	char file[MARGO_ARCHIVE_NAME_MAX + 16];
	struct margo_budget b = {0, 0};
	int rc;

	memset(&a, 0, sizeof(a));
	a.budget = &b;
	a.want = compose_want;
	rc = margo_archive_scan(&a, tgz, len, err);
	if (rc)
		return rc;
	f = margo_archive_get(&a, "compose.yaml");
	env = margo_archive_get(&a, ".env");
	if (!f) {
		if (a.seen_other[0])
			rc = err_set(err, ERR_INVALID,
				     "%s/%s instead of %s/compose.yaml (Margo "
				     "requires compose.yaml); refused",
				     a.top, a.seen_other, a.top);
		else
			rc = err_set(err, ERR_INVALID,
				     "no %s/compose.yaml in the archive (a "
				     "symbolic link does not count); refused",
				     a.top);
	} else {
		struct margo_images tmp = {0};

		snprintf(file, sizeof(file), "%s/compose.yaml", a.top);
		rc = margo_images_settle(
		    out, &tmp,
		    margo_compose_file_images(&tmp, f->data, f->len, file,
					      env ? env->data : NULL, err),
		    err);
	}
	margo_archive_release(&a);
	return rc;
}
