/* The images a Compose archive runs. See compose.h. */
#include "mirror/margo/compose.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mirror/margo/yamlutil.h"
#include "oci/buf.h"
#include "oci/keysort.h"

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

/* ---- services ---------------------------------------------------------- */

#define EXTENDS_MAX 64	   /* services in one extends chain */
#define SERVICES_MAX 10000 /* per compose.yaml, before any is indexed */

/* What one service says itself, read from its map once (a merged map may
 * hold many thousand keys, and chains pass each service many times). */
struct svc_own {
	const char *image;  /* its own image, or NULL */
	int builds;	    /* it has build: */
	char profiles[120]; /* its own, "a, b" */
	long next;	    /* the service it extends; -1: none (see problem) */
	const char *base;   /* the name it extends, for messages */
	char problem[200];  /* why its extends is not followed, or "" */
	int done;
};

/* The services of one compose.yaml, indexed by name (the first of a name
 * wins, as a lookup would find it). */
struct svcs {
	struct oci_yaml *y;
	const char *file;
	yaml_node_pair_t *v; /* the services mapping's pairs */
	size_t n;
	struct oci_keysort *byname; /* sorted; id: the service's index */
	size_t named;
	struct svc_own *own;
	size_t *stamp; /* per service: which walk last passed it, + 1 */
};

/* What one service's extends chain gives. */
struct resolved {
	const char *image;  /* the first image: on the chain, else NULL */
	const char *from;   /* the service that names it */
	const char *builds; /* a service of the chain with build:, or NULL */
	char problem[200];  /* why the chain stops short of an image */
	char profiles[120]; /* "a, b" */
};

static const char *svc_name(const struct svcs *s, size_t i)
{
	return oci_yaml_scalar(yaml_document_get_node(&s->y->doc, s->v[i].key));
}

static yaml_node_t *svc_node(const struct svcs *s, size_t i)
{
	return yaml_document_get_node(&s->y->doc, s->v[i].value);
}

/* By sorting, not hashing: no set of names makes a lookup slow. */
static int svcs_index(struct svcs *s, struct err *err)
{
	if (s->n > SERVICES_MAX)
		return err_set(err, ERR_TOO_LARGE,
			       "more than %d services (a cap); refused",
			       SERVICES_MAX);
	s->byname = calloc(s->n ? s->n : 1, sizeof(*s->byname));
	s->own = calloc(s->n ? s->n : 1, sizeof(*s->own));
	s->stamp = calloc(s->n ? s->n : 1, sizeof(*s->stamp));
	if (!s->byname || !s->own || !s->stamp)
		return err_set(err, ERR_FAIL, "out of memory");
	for (size_t i = 0; i < s->n; i++) {
		const char *name = svc_name(s, i);

		if (name)
			s->byname[s->named++] =
			    (struct oci_keysort){name, strlen(name), i};
	}
	oci_keysort_sort(s->byname, s->named);
	return 0;
}

/* The index of service name, or -1. */
static long svcs_find(const struct svcs *s, const char *name)
{
	const struct oci_keysort *k =
	    oci_keysort_find(s->byname, s->named, name, strlen(name));

	return k ? (long)k->id : -1;
}

/* Append name to profiles ("a, b", cap bytes) unless it is there. */
static void profiles_add(char *profiles, size_t cap, const char *name)
{
	size_t len = strlen(profiles), nl;
	const char *q = profiles;

	if (!name || !*name)
		return;
	nl = strlen(name);
	for (; (q = strstr(q, name)); q += nl)
		if ((q == profiles || q[-1] == ' ') && (!q[nl] || q[nl] == ','))
			break;
	if (!q)
		snprintf(profiles + len, cap - len, "%s%s", len ? ", " : "",
			 name);
}

/* Append the profiles in list ("a, b", as struct svc_own holds them) not
 * yet in r->profiles. */
static void add_profiles(struct resolved *r, const char *list)
{
	char name[sizeof(r->profiles)];

	while (*list) {
		size_t l = strcspn(list, ",");

		snprintf(name, sizeof(name), "%.*s", (int)l, list);
		profiles_add(r->profiles, sizeof(r->profiles), name);
		list += l;
		list += strspn(list, ", ");
	}
}

/* Read service i's own map, once. */
static const struct svc_own *svc_own_get(struct svcs *s, size_t i)
{
	struct svc_own *o = &s->own[i];
	yaml_node_t *svc = svc_node(s, i), *ext, *p;
	const char *other = NULL;
	size_t n;

	if (o->done)
		return o;
	o->done = 1;
	o->next = -1;
	o->image = oci_yaml_map_str(&s->y->doc, svc, "image");
	o->builds = !!oci_yaml_map_get(&s->y->doc, svc, "build", NULL, NULL);
	p = oci_yaml_map_get(&s->y->doc, svc, "profiles", NULL, NULL);
	n = p && p->type == YAML_SEQUENCE_NODE ? oci_yaml_seq_len(p)
					       : (p ? 1 : 0);
	for (size_t k = 0; k < n; k++)
		profiles_add(
		    o->profiles, sizeof(o->profiles),
		    oci_yaml_scalar(
			p->type == YAML_SEQUENCE_NODE
			    ? yaml_document_get_node(
				  &s->y->doc, p->data.sequence.items.start[k])
			    : p));
	ext = oci_yaml_map_get(&s->y->doc, svc, "extends", NULL, NULL);
	if (!ext)
		return o;
	if (ext->type == YAML_MAPPING_NODE) {
		o->base = oci_yaml_map_str(&s->y->doc, ext, "service");
		other = oci_yaml_map_str(&s->y->doc, ext, "file");
	} else {
		o->base = oci_yaml_scalar(ext);
	}
	if (!o->base || !*o->base)
		snprintf(o->problem, sizeof(o->problem),
			 "services.%.60s.extends names no service",
			 svc_name(s, i));
	else if (other)
		snprintf(o->problem, sizeof(o->problem),
			 "extends service \"%.60s\" of %.80s: another "
			 "file is not read",
			 o->base, other);
	else if ((o->next = svcs_find(s, o->base)) < 0)
		snprintf(o->problem, sizeof(o->problem),
			 "extends service \"%.60s\", which is not in "
			 "this file",
			 o->base);
	return o;
}

/* Follow service i's extends chain (within this file). ERR_INVALID for a
 * cycle; everything else that stops the chain is r->problem. Each
 * service's own map is read once (svc_own_get), so a walk costs at most
 * EXTENDS_MAX cheap steps however big the maps are. */
static int svc_resolve(struct svcs *s, size_t i, struct resolved *r,
		       struct err *err)
{
	size_t cur = i, depth = 0;

	memset(r, 0, sizeof(*r));
	for (;;) {
		const struct svc_own *o = svc_own_get(s, cur);

		s->stamp[cur] = i + 1;
		if (o->image && !r->image) {
			r->image = o->image;
			r->from = svc_name(s, cur);
		}
		if (!r->builds && o->builds)
			r->builds = svc_name(s, cur);
		add_profiles(r, o->profiles);
		if (o->problem[0]) {
			snprintf(r->problem, sizeof(r->problem), "%s",
				 o->problem);
			return 0;
		}
		if (o->next < 0)
			return 0;
		if (s->stamp[o->next] == i + 1)
			return err_set(err, ERR_INVALID,
				       "%s: services.%s.extends: services.%s "
				       "is reached twice (a cycle); refused",
				       s->file, svc_name(s, i), o->base);
		if (++depth >= EXTENDS_MAX) {
			snprintf(r->problem, sizeof(r->problem),
				 "extends chain longer than %d services",
				 EXTENDS_MAX);
			return 0;
		}
		cur = (size_t)o->next;
	}
}

static int svc_images(struct margo_images *out, struct svcs *s, size_t i,
		      const char *dotenv, struct err *err)
{
	const char *name = svc_name(s, i);
	char where[256], ref[OCI_REF_STR_MAX], problem[200];
	char via[100] = "", prof[140] = "";
	struct resolved r;
	int rc;

	if (!name)
		return 0;
	if ((rc = svc_resolve(s, i, &r, err)))
		return rc;
	if (r.image && strcmp(r.from, name))
		snprintf(via, sizeof(via), " (from services.%.60s by extends)",
			 r.from);
	if (r.profiles[0])
		snprintf(prof, sizeof(prof), " (profiles: %s)", r.profiles);
	snprintf(where, sizeof(where), "%s: services.%s.image%s%s", s->file,
		 name, via, prof);
	if (!r.image && r.problem[0])
		return margo_images_add(out, NULL, where, r.problem, err);
	if (!r.image)
		return margo_images_add(
		    out, NULL, where,
		    r.builds ? "the service builds its image (build:) "
			       "instead of naming one; nothing to mirror"
			     : "the service names no image",
		    err);
	if (margo_interpolate(ref, sizeof(ref), r.image, dotenv, problem,
			      sizeof(problem)))
		return margo_images_add(out, NULL, where, problem, err);
	return margo_images_add(out, ref, where, NULL, err);
}

int margo_compose_file_images(struct margo_images *out, const char *yaml,
			      size_t len, const char *file, const char *dotenv,
			      struct err *err)
{
	struct oci_yaml y;
	yaml_node_t *root, *svcs;
	struct svcs s = {.y = &y, .file = file};
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
	s.v = svcs->data.mapping.pairs.start;
	s.n = oci_yaml_map_len(svcs);
	rc = svcs_index(&s, err);
	for (size_t i = 0; i < s.n && !rc; i++)
		rc = svc_images(out, &s, i, dotenv, err);
	free(s.byname);
	free(s.own);
	free(s.stamp);
	oci_yaml_release(&y);
	if (rc == ERR_INVALID)
		return rc; /* the cycle's message names the file */
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
