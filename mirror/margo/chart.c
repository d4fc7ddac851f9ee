/* The images a Helm chart runs. See chart.h. */
#include "mirror/margo/chart.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "mirror/margo/yamlutil.h"
#include "oci/vec.h"

static const struct oci_yaml_limits yaml_lim = MARGO_YAML_LIMITS;

#define WALK_MAX 2000000 /* nodes visited, aliases counted each time */
#define DEPTH_MAX 64
#define NEST_MAX 2 /* packed subcharts inside packed subcharts */

/* ---- values.yaml ------------------------------------------------------- */

/* A chart's values as Helm computes them: its own values.yaml, overridden
 * by what each parent chart says under the subchart's key (the top chart
 * last, so it wins). A layer is one document's node for the same place;
 * v[0] has the lowest priority. */
#define LAYERS_MAX 12

struct layer {
	yaml_document_t *doc;
	yaml_node_t *node;
};

struct layers {
	struct layer v[LAYERS_MAX];
	size_t n;
};

/* The two registry globals charts read, "" when unset:
 * global.imageRegistry (Bitnami's common.images.image, grafana) replaces
 * the own registry of a {registry, repository} map; global.image.registry
 * (ingress-nginx, which merges each image map over global.image) is the
 * registry of an {image} map that has none ({name} maps are left alone). */
struct globals {
	char image_registry[256];
	char image_dot_registry[256];
};

struct vwalk {
	struct margo_images *out;
	const char *file, *app_version;
	const struct globals *g;
	char *const *skip; /* top-level keys that belong to subcharts */
	size_t n_skip;
	size_t visits;
	size_t added; /* entries handed to vadd, duplicates included */
	int rc;
};

static void vadd(struct vwalk *w, const char *raw, const char *where,
		 const char *problem)
{
	w->added++;
	if (!w->rc)
		w->rc = margo_images_add(w->out, raw, where, problem, NULL);
}

static int image_key(const char *k)
{
	size_t n = strlen(k);

	return n >= 5 && !strcasecmp(k + n - 5, "image");
}

static const char TEMPLATED[] =
    "a template expression; it needs the chart rendered to resolve";

static int templated(const char *s)
{
	return s && strstr(s, "{{");
}

/* A field of an image mapping: the highest layer that has it (Helm's
 * override, an empty string or a null included), NULL when none has. */
static yaml_node_t *field_node(const struct layers *l, const char *key)
{
	for (size_t i = l->n; i-- > 0;) {
		yaml_node_t *v = oci_yaml_map_get(l->v[i].doc, l->v[i].node,
						  key, NULL, NULL);

		if (v)
			return v;
	}
	return NULL;
}

/* A field as text: NULL when missing, null or "", and also when it is a
 * list or a map, which *bad then names (else *bad is left alone). */
static const char *field_str(const struct layers *l, const char *key,
			     const char **bad)
{
	yaml_node_t *v = field_node(l, key);
	const char *s;

	if (!v || oci_yaml_is_null(v))
		return NULL;
	if (v->type != YAML_SCALAR_NODE) {
		if (!*bad)
			*bad = key;
		return NULL;
	}
	s = oci_yaml_scalar(v);
	return *s ? s : NULL;
}

/* An image mapping, in the conventions of the public charts:
 *   {registry, repository, tag, digest}  Bitnami, grafana (digest or its
 *                                        `sha`, hex without "sha256:"),
 *                                        prometheus-community
 *   {registry, image, tag, digest}       ingress-nginx; a non-empty
 *                                        `repository` there is the whole
 *                                        name; `chroot: true` means
 *                                        digestChroot, and IMAGE-chroot
 *                                        (not REPOSITORY-chroot); no
 *                                        registry here nor in
 *                                        global.image.registry is an
 *                                        unresolved entry, not a guess
 *   {registry, name, tag}                name a whole reference when
 *                                        there is no registry (its own
 *                                        only, not global.image's)
 * Returns 0 when the map names no image of its own and may hold image
 * maps below (the caller walks into it), 1 when it was handled: an image,
 * an unresolved entry, or an unused slot (its name empty). */
static int image_map(struct vwalk *w, const struct layers *l, const char *where)
{
	const char *bad = NULL, *name, *reg = NULL, *tag, *dg, *sha, *nkey;
	const char *chroot;
	yaml_node_t *rn = field_node(l, "repository");
	int split = field_node(l, "image") != NULL;
	const char *repo = field_str(l, "repository", &bad);
	char problem[160], nbuf[OCI_NAME_MAX + 16], dbuf[160];
	char ref[OCI_REF_STR_MAX + 64];
	size_t rl;

	bad = NULL;
	nkey = split && !repo	       ? "image"
	       : rn		       ? "repository"
	       : field_node(l, "name") ? "name"
				       : NULL;
	if (!nkey || field_node(l, nkey)->type == YAML_MAPPING_NODE)
		return 0; /* no name, or a map of images under it */
	name = field_str(l, nkey, &bad);
	if (!strcmp(nkey, "image"))
		reg = field_str(l, "registry", &bad)
			  ?: (w->g->image_dot_registry[0]
				  ? w->g->image_dot_registry
				  : NULL);
	else if (!strcmp(nkey, "name"))
		reg = field_str(l, "registry", &bad);
	else if (!split)
		reg = w->g->image_registry[0] ? w->g->image_registry
					      : field_str(l, "registry", &bad);
	tag = field_str(l, "tag", &bad);
	dg = field_str(l, "digest", &bad);
	sha = field_str(l, "sha", &bad);
	chroot = field_str(l, "chroot", &bad);
	if (chroot && !strcasecmp(chroot, "true")) {
		/* ingress-nginx: IMAGE-chroot, but a whole `repository`
		 * as written; digestChroot either way */
		if (name && !strcmp(nkey, "image")) {
			snprintf(nbuf, sizeof(nbuf), "%s-chroot", name);
			name = nbuf;
		}
		dg = field_str(l, "digestChroot", &bad);
	}
	if (bad) {
		snprintf(problem, sizeof(problem), "its %s is %s, not a string",
			 bad, oci_yaml_kind(field_node(l, bad)));
		vadd(w, NULL, where, problem);
		return 1;
	}
	if (!name)
		return 1; /* an unused slot: no image here */
	if (!dg && sha) {
		snprintf(dbuf, sizeof(dbuf), "sha256:%s", sha);
		dg = dbuf;
	}
	if (!tag && !dg)
		tag = w->app_version;
	if (templated(name) || templated(reg) || templated(tag) ||
	    templated(dg)) {
		vadd(w, NULL, where, TEMPLATED);
		return 1;
	}
	if (!tag && !dg) {
		vadd(w, NULL, where,
		     "no tag or digest, and the chart has no appVersion");
		return 1;
	}
	if (!reg && !strcmp(nkey, "image")) {
		/* the template writes REGISTRY/IMAGE: "/IMAGE" is no name,
		 * and docker.io would be a guess */
		snprintf(problem, sizeof(problem),
			 "its image %.80s names no registry, and there is no "
			 "global.image.registry",
			 name);
		vadd(w, NULL, where, problem);
		return 1;
	}
	/* one '/' between registry and name, whatever each carries */
	rl = reg ? strlen(reg) : 0;
	while (rl && reg[rl - 1] == '/')
		rl--;
	while (*name == '/')
		name++;
	snprintf(ref, sizeof(ref), "%.*s%s%s%s%s%s%s", (int)rl, reg ? reg : "",
		 rl ? "/" : "", name, tag ? ":" : "", tag ? tag : "",
		 dg ? "@" : "", dg ? dg : "");
	vadd(w, ref, where, NULL);
	return 1;
}

/* A string under image key k of the map l: a whole reference; one with
 * neither tag nor digest takes the tag of a KTag key beside it (the
 * elastic charts' image and imageTag), else the default "latest". */
static void image_str(struct vwalk *w, const struct layers *l, const char *k,
		      const yaml_node_t *v, const char *where)
{
	const char *s = oci_yaml_scalar(v), *t, *bad = NULL, *last;
	char key[160], ref[OCI_REF_STR_MAX + 64];

	if (oci_yaml_is_null(v) || !*s || !strcmp(s, "~") || !strcmp(s, "null"))
		return;
	last = strrchr(s, '/');
	snprintf(key, sizeof(key), "%sTag", k);
	t = strchr(last ? last : s, ':') || strchr(s, '@')
		? NULL
		: field_str(l, key, &bad);
	if (templated(s) || templated(t)) {
		vadd(w, NULL, where, TEMPLATED);
		return;
	}
	if (t) {
		snprintf(ref, sizeof(ref), "%s:%s", s, t);
		s = ref;
	}
	vadd(w, s, where, NULL);
}

/* The merged value at key k: the highest layer's, merged with the
 * mappings right under it when it is a mapping itself. */
static void child_layers(const struct layers *l, const char *k,
			 struct layers *out)
{
	struct layer tmp[LAYERS_MAX];
	size_t n = 0;

	for (size_t i = l->n; i-- > 0;) {
		yaml_node_t *v =
		    oci_yaml_map_get(l->v[i].doc, l->v[i].node, k, NULL, NULL);

		if (!v)
			continue;
		if (n && tmp[0].node->type != YAML_MAPPING_NODE)
			break; /* a scalar or list replaces what is below */
		if (n && v->type != YAML_MAPPING_NODE)
			continue; /* Helm skips it and merges on downward */
		tmp[n].doc = l->v[i].doc;
		tmp[n++].node = v;
	}
	out->n = n;
	for (size_t i = 0; i < n; i++)
		out->v[i] = tmp[n - 1 - i];
}

static int layers_empty(const struct layers *l)
{
	for (size_t i = 0; i < l->n; i++)
		if (oci_yaml_map_len(l->v[i].node))
			return 0;
	return 1;
}

static int skipped(const struct vwalk *w, const char *k)
{
	for (size_t i = 0; i < w->n_skip; i++)
		if (!strcmp(w->skip[i], k))
			return 1;
	return 0;
}

static void vwalk(struct vwalk *w, const struct layers *l, char *path,
		  size_t plen, size_t cap, int depth)
{
	const struct layer *top;
	size_t per_key = 0;

	if (!l->n || depth > DEPTH_MAX || ++w->visits > WALK_MAX)
		return;
	top = &l->v[l->n - 1];
	if (top->node->type == YAML_SEQUENCE_NODE) {
		int i = 0;

		/* a list is replaced, never merged */
		for (yaml_node_item_t *it =
			 top->node->data.sequence.items.start;
		     it < top->node->data.sequence.items.top && !w->rc;
		     it++, i++) {
			struct layers one = {{{top->doc, NULL}}, 1};

			one.v[0].node = yaml_document_get_node(top->doc, *it);
			if (!one.v[0].node)
				continue;
			snprintf(path + plen, cap - plen, "[%d]", i);
			vwalk(w, &one, path, strlen(path), cap, depth + 1);
		}
		path[plen] = '\0';
		return;
	}
	if (top->node->type != YAML_MAPPING_NODE)
		return;
	/* with several layers each key is looked up in every mapping: that
	 * work counts against WALK_MAX too */
	for (size_t li = 0; l->n > 1 && li < l->n; li++)
		if (l->v[li].node->type == YAML_MAPPING_NODE)
			per_key +=
			    (size_t)(l->v[li].node->data.mapping.pairs.top -
				     l->v[li].node->data.mapping.pairs.start);
	for (size_t li = 0; li < l->n; li++) {
		const struct layer *y = &l->v[li];

		for (yaml_node_pair_t *p = y->node->data.mapping.pairs.start;
		     p < y->node->data.mapping.pairs.top; p++) {
			const char *k = oci_yaml_scalar(
			    yaml_document_get_node(y->doc, p->key));
			struct layers c;
			char where[256];
			size_t q;

			w->visits += 1 + 2 * per_key;
			if (w->visits > WALK_MAX || w->rc)
				break;
			if (!k || (depth == 0 && skipped(w, k)))
				continue;
			for (q = 0; q < li; q++) /* seen in a lower layer */
				if (oci_yaml_map_get(l->v[q].doc, l->v[q].node,
						     k, NULL, NULL))
					break;
			if (q < li)
				continue;
			if (l->n == 1) {
				c.n = 1;
				c.v[0].doc = y->doc;
				c.v[0].node =
				    yaml_document_get_node(y->doc, p->value);
			} else {
				child_layers(l, k, &c);
			}
			if (!c.n || !c.v[c.n - 1].node)
				continue;
			snprintf(path + plen, cap - plen, "%s%s",
				 plen ? "." : "", k);
			if (image_key(k)) {
				yaml_node_t *v = c.v[c.n - 1].node;
				size_t before = w->added;

				snprintf(where, sizeof(where), "%s: %s",
					 w->file, path);
				if (v->type == YAML_SCALAR_NODE) {
					image_str(w, l, k, v, where);
					continue;
				}
				if (v->type == YAML_MAPPING_NODE) {
					if (image_map(w, &c, where))
						continue;
					/* with no name: the defaults
					 * ingress-nginx merges its image maps
					 * over, not an image */
					if (depth == 1 &&
					    !strcmp(path, "global.image"))
						continue;
					vwalk(w, &c, path, strlen(path), cap,
					      depth + 1);
					if (w->added == before &&
					    !layers_empty(&c))
						vadd(
						    w, NULL, where,
						    "a map with no repository, "
						    "image or name");
					continue;
				}
			}
			vwalk(w, &c, path, strlen(path), cap, depth + 1);
		}
	}
	path[plen] = '\0';
}

static int walk_done(const struct vwalk *w, const char *file, struct err *err)
{
	if (w->rc == ERR_TOO_LARGE)
		return err_set(err, ERR_TOO_LARGE,
			       "%s: more than %d image references", file,
			       MARGO_IMAGES_MAX);
	if (w->rc)
		return err_set(err, ERR_FAIL, "out of memory");
	if (w->visits > WALK_MAX)
		return err_set(err, ERR_TOO_LARGE,
			       "%s: more than %d nodes to walk (aliases "
			       "counted)",
			       file, WALK_MAX);
	return 0;
}

/* map[key] as text when it is a scalar neither null nor "". */
static const char *map_text(yaml_document_t *d, yaml_node_t *map,
			    const char *key)
{
	yaml_node_t *v = oci_yaml_map_get(d, map, key, NULL, NULL);

	return v && !oci_yaml_is_null(v) ? oci_yaml_map_str(d, map, key) : NULL;
}

/* Set in g what the globals of values document d say (non-empty). */
static void globals_fill(struct globals *g, yaml_document_t *d)
{
	yaml_node_t *gl = oci_yaml_map_get(d, yaml_document_get_root_node(d),
					   "global", NULL, NULL);
	const char *r = map_text(d, gl, "imageRegistry");
	const char *ir = map_text(
	    d, oci_yaml_map_get(d, gl, "image", NULL, NULL), "registry");

	if (r)
		snprintf(g->image_registry, sizeof(g->image_registry), "%s", r);
	if (ir)
		snprintf(g->image_dot_registry, sizeof(g->image_dot_registry),
			 "%s", ir);
}

int margo_values_images(struct margo_images *out, const char *yaml, size_t len,
			const char *file, const char *app_version,
			const char *global, struct err *err)
{
	struct oci_yaml y;
	struct vwalk w;
	struct layers l = {{{NULL, NULL}}, 0};
	struct globals g;
	char path[200] = "";
	int rc;

	if ((rc = oci_yaml_load(&y, file, yaml, len, &yaml_lim, err)))
		return rc;
	memset(&w, 0, sizeof(w));
	w.out = out;
	w.file = file;
	w.app_version = app_version && *app_version ? app_version : NULL;
	memset(&g, 0, sizeof(g));
	globals_fill(&g, &y.doc);
	if (global && *global)
		snprintf(g.image_registry, sizeof(g.image_registry), "%s",
			 global);
	w.g = &g;
	l.v[0].doc = &y.doc;
	l.v[0].node = yaml_document_get_root_node(&y.doc);
	l.n = l.v[0].node ? 1 : 0;
	vwalk(&w, &l, path, 0, sizeof(path), 0);
	oci_yaml_release(&y);
	return walk_done(&w, file, err);
}

/* ---- charts ------------------------------------------------------------ */

/* Chart.yaml and values.yaml of the chart and of unpacked subcharts
 * (charts/NAME/...), and packed subcharts (charts/NAME.tgz): every even
 * component but the last is "charts". */
static size_t chart_want(const char *path)
{
	size_t i = 0, n;
	const char *p = path, *last = path;

	for (;;) {
		n = strcspn(p, "/");
		if (!p[n])
			break;
		if (i % 2 == 0 && (n != 6 || strncmp(p, "charts", 6)))
			return 0;
		p += n + 1;
		last = p;
		i++;
	}
	if (i % 2 == 0)
		return !strcmp(last, "Chart.yaml") ||
			       !strcmp(last, "values.yaml")
			   ? MARGO_YAML_MAX
			   : 0;
	n = strlen(last);
	return n > 4 && !strcmp(last + n - 4, ".tgz") ? MARGO_ARCHIVE_MAX : 0;
}

/* One chart of an archive: the top one (prefix "") or an unpacked
 * subchart ("charts/a/", "charts/a/charts/b/"), or a packed one (an
 * archive of its own, scanned but not yet read). */
struct chart {
	char prefix[MARGO_ARCHIVE_NAME_MAX];
	int parent;		/* index, -1 for the top chart */
	char key[128];		/* its values' key in the parent's */
	struct oci_yaml values; /* loaded when has_values */
	struct oci_yaml meta;	/* Chart.yaml, when has_meta */
	int has_values, has_meta;
	const char *app_version;
	struct margo_archive
	    packed; /* packed: its scan (top = its directory) */
	int is_packed;
	char label[MARGO_ARCHIVE_NAME_MAX + 300];
};

struct charts {
	struct chart *v;
	size_t n, cap;
};

static void charts_release(struct charts *cs)
{
	for (size_t i = 0; i < cs->n; i++) {
		if (cs->v[i].has_values)
			oci_yaml_release(&cs->v[i].values);
		if (cs->v[i].has_meta)
			oci_yaml_release(&cs->v[i].meta);
		margo_archive_release(&cs->v[i].packed);
	}
	free(cs->v);
	memset(cs, 0, sizeof(*cs));
}

static struct chart *chart_new(struct charts *cs)
{
	struct chart *c;

	if (OCI_VEC_RESERVE(cs->v, cs->n, cs->cap, 1, 0))
		return NULL;
	c = &cs->v[cs->n++];
	memset(c, 0, sizeof(*c));
	c->parent = -1;
	return c;
}

/* The key a parent keeps a subchart's values under: its alias in the
 * parent's dependencies when it has one, else its name. */
static void chart_key(struct chart *c, const struct chart *parent,
		      const char *name)
{
	snprintf(c->key, sizeof(c->key), "%s", name);
	if (!parent || !parent->has_meta)
		return;
	{
		yaml_document_t *d = (yaml_document_t *)&parent->meta.doc;
		yaml_node_t *deps =
		    oci_yaml_map_get(d, yaml_document_get_root_node(d),
				     "dependencies", NULL, NULL);

		if (!deps || deps->type != YAML_SEQUENCE_NODE)
			return;
		for (yaml_node_item_t *it = deps->data.sequence.items.start;
		     it < deps->data.sequence.items.top; it++) {
			yaml_node_t *dep = yaml_document_get_node(d, *it);
			const char *n = oci_yaml_map_str(d, dep, "name");
			const char *alias = oci_yaml_map_str(d, dep, "alias");

			if (n && alias && !strcmp(n, name)) {
				snprintf(c->key, sizeof(c->key), "%s", alias);
				return;
			}
		}
	}
}

static const char *meta_str(struct chart *c, const char *key)
{
	return c->has_meta
		   ? oci_yaml_map_str(&c->meta.doc,
				      yaml_document_get_root_node(&c->meta.doc),
				      key)
		   : NULL;
}

/* The layers of chart i's values: its own, then each ancestor's under
 * the keys down to it, then the outer archive's (ext, already in order),
 * each descended by the keys from this archive's top chart. */
static void chart_layers(struct charts *cs, size_t i, const struct layers *ext,
			 struct layers *out)
{
	const char *keys[LAYERS_MAX];
	size_t nk = 0;
	int cur = (int)i;

	out->n = 0;
	if (cs->v[i].has_values) {
		out->v[0].doc = &cs->v[i].values.doc;
		out->v[0].node =
		    yaml_document_get_root_node(&cs->v[i].values.doc);
		if (out->v[0].node && out->v[0].node->type == YAML_MAPPING_NODE)
			out->n = 1;
	}
	/* keys[0] is the key of i in its parent, keys[1] of the parent... */
	while (cs->v[cur].parent >= 0 && nk < LAYERS_MAX) {
		const struct chart *a;
		yaml_node_t *node;
		yaml_document_t *d;

		keys[nk++] = cs->v[cur].key;
		cur = cs->v[cur].parent;
		a = &cs->v[cur];
		if (!a->has_values || out->n == LAYERS_MAX)
			continue;
		d = (yaml_document_t *)&a->values.doc;
		node = yaml_document_get_root_node(d);
		for (size_t k = nk; k-- > 0 && node;)
			node = oci_yaml_map_get(d, node, keys[k], NULL, NULL);
		if (node && node->type == YAML_MAPPING_NODE) {
			out->v[out->n].doc = d;
			out->v[out->n++].node = node;
		}
	}
	for (size_t e = 0; ext && e < ext->n && out->n < LAYERS_MAX; e++) {
		yaml_node_t *node = ext->v[e].node;

		for (size_t k = nk; k-- > 0 && node;)
			node = oci_yaml_map_get(ext->v[e].doc, node, keys[k],
						NULL, NULL);
		if (node && node->type == YAML_MAPPING_NODE) {
			out->v[out->n].doc = ext->v[e].doc;
			out->v[out->n++].node = node;
		}
	}
}

static int chart_from_scan(struct margo_images *out, struct margo_archive *a,
			   const struct globals *outer,
			   const struct layers *ext, const char *label,
			   int nest, struct err *err);

/* The globals chart i sees: Helm copies a parent's globals over its
 * subcharts', so the outer archive's win, then the top chart's, down to
 * i's own. A packed subchart has no values loaded here: it gets its
 * parent's, and reads its own when it is scanned. */
static void chart_globals(struct globals *g, const struct charts *cs, size_t i,
			  const struct globals *outer)
{
	memset(g, 0, sizeof(*g));
	/* up from i: each parent's overwrite what is below it */
	for (int c = (int)i; c >= 0; c = cs->v[c].parent)
		if (cs->v[c].has_values)
			globals_fill(g,
				     (yaml_document_t *)&cs->v[c].values.doc);
	if (outer && outer->image_registry[0])
		memcpy(g->image_registry, outer->image_registry,
		       sizeof(g->image_registry));
	if (outer && outer->image_dot_registry[0])
		memcpy(g->image_dot_registry, outer->image_dot_registry,
		       sizeof(g->image_dot_registry));
}

static size_t slashes(const char *s)
{
	size_t n = 0;

	for (; *s; s++)
		n += *s == '/';
	return n;
}

/* A packed subchart c at f: its archive scanned (against the same
 * budget), its key in the parent's values from its Chart.yaml's name. */
static int chart_add_packed(struct charts *cs, struct chart *c,
			    const struct margo_archive *a,
			    const struct margo_afile *f, const char *label,
			    int nest, struct err *err)
{
	const struct margo_afile *m;
	char name[128];
	struct oci_yaml md;
	int rc;

	c->is_packed = 1;
	snprintf(c->label, sizeof(c->label), "%s%s/%s!", label, a->top,
		 f->path);
	if (nest >= NEST_MAX)
		return err_set(err, ERR_INVALID,
			       "%s: subcharts nested deeper than %d archives",
			       c->label, NEST_MAX);
	c->packed.want = chart_want;
	c->packed.budget = a->budget;
	if ((rc = margo_archive_scan(&c->packed, f->data, f->len, err)))
		return rc;
	snprintf(name, sizeof(name), "%s", c->packed.top);
	m = margo_archive_get(&c->packed, "Chart.yaml");
	if (m && !oci_yaml_load(&md, "Chart.yaml", m->data, m->len, &yaml_lim,
				err)) {
		const char *nm = oci_yaml_map_str(
		    &md.doc, yaml_document_get_root_node(&md.doc), "name");

		if (nm)
			snprintf(name, sizeof(name), "%s", nm);
		oci_yaml_release(&md);
	}
	chart_key(c, &cs->v[c->parent], name);
	return 0;
}

/* The top chart or an unpacked subchart c whose Chart.yaml is f, its
 * directory prefix inside the archive: Chart.yaml and values.yaml loaded. */
static int chart_add_unpacked(struct charts *cs, struct chart *c,
			      const struct margo_archive *a,
			      const struct margo_afile *f, const char *prefix,
			      const char *name, const char *label,
			      struct err *err)
{
	const struct margo_afile *v;
	char vpath[MARGO_ARCHIVE_NAME_MAX + 16],
	    file[MARGO_ARCHIVE_NAME_MAX + 300];
	int rc;

	snprintf(file, sizeof(file), "%s%s/%s", label, a->top, f->path);
	rc = oci_yaml_load(&c->meta, file, f->data, f->len, &yaml_lim, err);
	if (rc)
		return rc;
	c->has_meta = 1;
	c->app_version = meta_str(c, "appVersion");
	snprintf(vpath, sizeof(vpath), "%svalues.yaml", prefix);
	snprintf(c->label, sizeof(c->label), "%s%s/%s", label, a->top, vpath);
	v = margo_archive_get(a, vpath);
	if (v) {
		rc = oci_yaml_load(&c->values, c->label, v->data, v->len,
				   &yaml_lim, err);
		if (rc)
			return rc;
		c->has_values = 1;
	}
	if (c->parent >= 0)
		chart_key(c, &cs->v[c->parent], meta_str(c, "name") ?: name);
	return 0;
}

/* Add the chart whose Chart.yaml (or packed .tgz) is file f. */
static int chart_add(struct charts *cs, struct margo_archive *a,
		     const struct margo_afile *f, const char *label, int nest,
		     struct err *err)
{
	size_t pl = strlen(f->path), dl, ql;
	int packed = pl > 4 && !strcmp(f->path + pl - 4, ".tgz");
	char prefix[MARGO_ARCHIVE_NAME_MAX], name[128] = "";
	struct chart *c;

	if (!packed && (pl < 10 || strcmp(f->path + pl - 10, "Chart.yaml")))
		return 0;
	dl = packed ? (size_t)(strrchr(f->path, '/') - f->path) + 1 : pl - 10;
	snprintf(prefix, sizeof(prefix), "%.*s", (int)dl, f->path);
	/* the parent's prefix: without "charts/" (packed) or
	 * "charts/NAME/" (unpacked) at the end */
	ql = dl;
	if (!packed && ql) {
		ql--; /* the '/' closing NAME */
		while (ql && prefix[ql - 1] != '/')
			ql--;
		snprintf(name, sizeof(name), "%.*s", (int)(dl - 1 - ql),
			 prefix + ql);
	}
	if (ql)
		ql -= 7; /* "charts/" (chart_want allows nothing else) */
	if (!(c = chart_new(cs)))
		return err_set(err, ERR_FAIL, "out of memory");
	snprintf(c->prefix, sizeof(c->prefix), "%s", prefix);
	if (dl) {
		for (size_t k = 0; k + 1 < cs->n; k++)
			if (!cs->v[k].is_packed &&
			    strlen(cs->v[k].prefix) == ql &&
			    !strncmp(cs->v[k].prefix, prefix, ql))
				c->parent = (int)k;
		if (c->parent < 0) {
			cs->n--; /* no chart above it: not part of the chart */
			return 0;
		}
	}
	if (packed)
		return chart_add_packed(cs, c, a, f, label, nest, err);
	return chart_add_unpacked(cs, c, a, f, prefix, name, label, err);
}

/* Every chart of the scanned archive a: values walked with the layers
 * above, packed subcharts read in turn with theirs. */
static int chart_from_scan(struct margo_images *out, struct margo_archive *a,
			   const struct globals *outer,
			   const struct layers *ext, const char *label,
			   int nest, struct err *err)
{
	struct charts cs = {NULL, 0, 0};
	size_t max_depth = 0;
	int rc = 0;

	if (!margo_archive_get(a, "Chart.yaml"))
		return err_set(err, ERR_INVALID,
			       "%s%s: not a Helm chart (no %s/Chart.yaml)",
			       label, a->top, a->top);
	for (size_t i = 0; i < a->n; i++)
		if (slashes(a->files[i].path) > max_depth)
			max_depth = slashes(a->files[i].path);
	/* parents before children: by depth */
	for (size_t d = 0; !rc && d <= max_depth; d++)
		for (size_t i = 0; !rc && i < a->n; i++)
			if (slashes(a->files[i].path) == d)
				rc = chart_add(&cs, a, &a->files[i], label,
					       nest, err);
	for (size_t i = 0; !rc && i < cs.n; i++) {
		struct layers l;
		struct globals g;
		struct vwalk w;
		char **skip;
		char path[200] = "";

		chart_layers(&cs, i, ext, &l);
		chart_globals(&g, &cs, i, outer);
		if (cs.v[i].is_packed) {
			rc = chart_from_scan(out, &cs.v[i].packed, &g, &l,
					     cs.v[i].label, nest + 1, err);
			continue;
		}
		if (!l.n)
			continue;
		memset(&w, 0, sizeof(w));
		w.out = out;
		w.file = cs.v[i].label;
		w.app_version = cs.v[i].app_version;
		w.g = &g;
		skip = calloc(cs.n, sizeof(*skip));
		if (!skip) {
			rc = err_set(err, ERR_FAIL, "out of memory");
			break;
		}
		w.skip = skip;
		for (size_t k = 0; k < cs.n; k++)
			if (cs.v[k].parent == (int)i)
				skip[w.n_skip++] = cs.v[k].key;
		vwalk(&w, &l, path, 0, sizeof(path), 0);
		free(skip);
		rc = walk_done(&w, cs.v[i].label, err);
	}
	charts_release(&cs);
	return rc;
}

static int chart_read(struct margo_images *out, const void *tgz, size_t len,
		      struct margo_budget *budget, struct err *err)
{
	struct margo_archive a;
	int rc;

	memset(&a, 0, sizeof(a));
	a.want = chart_want;
	a.budget = budget;
	rc = margo_archive_scan(&a, tgz, len, err);
	if (!rc)
		rc = chart_from_scan(out, &a, NULL, NULL, "", 0, err);
	margo_archive_release(&a);
	return rc;
}

/* Hand what tmp found to out, or nothing when rc says the archive failed. */
int margo_chart_images(struct margo_images *out, const void *tgz, size_t len,
		       struct err *err)
{
	struct margo_images tmp = {0};
	struct margo_budget b = {0, 0};

	return margo_images_settle(out, &tmp,
				   chart_read(&tmp, tgz, len, &b, err), err);
}
