/* Margo ApplicationDescription: read with libyaml's document API, then
 * validate against MARGO.md. See margo.h for the contract. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mirror/margo/description.h"
#include "oci/semver.h"
#include "oci/buf.h"
#include "oci/ref.h"
#include "oci/yaml.h"
#include "oci/vec.h"

#define WORK_MAX 20000000 /* mapping pairs scanned, aliases included */
#define SHOWN_MAX 120

struct ctx {
	struct oci_yaml *y;
	struct margo_problems *p;
	size_t visits, work;
	int over;
};

void margo_problems_init(struct margo_problems *p)
{
	memset(p, 0, sizeof(*p));
}

void margo_problems_release(struct margo_problems *p)
{
	free(p->v);
	margo_problems_init(p);
}

const char *margo_severity_name(enum margo_severity sev)
{
	return sev == MARGO_WARNING ? "warning" : "error";
}

void margo_problems_add(struct margo_problems *p, size_t line, size_t column,
			enum margo_severity sev, const char *fmt, ...)
{
	struct margo_problem *q;
	va_list ap;

	if (sev == MARGO_WARNING)
		p->n_warnings++;
	else
		p->n_errors++;
	if (p->n >= MARGO_PROBLEMS_MAX)
		return;
	if (OCI_VEC_RESERVE(p->v, p->n, p->cap, 1, 0))
		return; /* counted, not kept */
	q = &p->v[p->n++];
	q->line = line ? line : 1;
	q->column = column ? column : 1;
	q->severity = sev;
	va_start(ap, fmt);
	vsnprintf(q->message, sizeof(q->message), fmt, ap);
	va_end(ap);
	for (char *s = q->message; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			*s = '?';
}

/* A quoted-safe copy of an untrusted value, for messages. */
static const char *shown(char *dst, size_t cap, const char *s)
{
	err_shown(dst, cap, s, strlen(s));
	return dst;
}

#define LINE(n) ((size_t)(n)->start_mark.line + 1)
#define COL(n) ((size_t)(n)->start_mark.column + 1)

static void problem(struct ctx *c, const yaml_node_t *n,
		    enum margo_severity sev, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void problem(struct ctx *c, const yaml_node_t *n,
		    enum margo_severity sev, const char *fmt, ...)
{
	char msg[MARGO_MSG_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	margo_problems_add(c->p, n ? LINE(n) : 1, n ? COL(n) : 1, sev, "%s",
			   msg);
}

/* n, or NULL once the budget of visits is spent (reported once) so that
 * aliases to big nodes cannot make the walk explode. */
static yaml_node_t *visit(struct ctx *c, yaml_node_t *n)
{
	if (c->over || !n)
		return NULL;
	if (++c->visits > MARGO_NODES_MAX || c->work > WORK_MAX) {
		c->over = 1;
		problem(c, n, MARGO_ERROR,
			"more than %d YAML nodes (aliases included)",
			MARGO_NODES_MAX);
		return NULL;
	}
	return n;
}

static yaml_node_t *get(struct ctx *c, int idx)
{
	return visit(c, oci_yaml_node(c->y, idx));
}

/* oci_yaml_map_get within the walk's budget (pairs compared count). */
static yaml_node_t *map_get(struct ctx *c, const yaml_node_t *map,
			    const char *key, yaml_node_t **key_out)
{
	if (key_out)
		*key_out = NULL;
	if (c->over)
		return NULL;
	return visit(c,
		     oci_yaml_map_get(&c->y->doc, map, key, key_out, &c->work));
}

/* Expect a map (or nothing) at n; 1 when it is a map. */
static int want_map(struct ctx *c, const yaml_node_t *n, const char *what)
{
	if (!n || oci_yaml_is_null(n))
		return 0;
	if (n->type == YAML_MAPPING_NODE)
		return 1;
	problem(c, n, MARGO_ERROR, "%s must be a map, not %s", what,
		oci_yaml_kind(n));
	return 0;
}

/* Items of a list at n (count in *n_out), NULL when absent or wrong. */
static yaml_node_item_t *want_seq(struct ctx *c, const yaml_node_t *n,
				  const char *what, size_t *n_out)
{
	*n_out = 0;
	if (!n || oci_yaml_is_null(n))
		return NULL;
	if (n->type != YAML_SEQUENCE_NODE) {
		problem(c, n, MARGO_ERROR, "%s must be a list, not %s", what,
			oci_yaml_kind(n));
		return NULL;
	}
	*n_out =
	    (size_t)(n->data.sequence.items.top - n->data.sequence.items.start);
	return n->data.sequence.items.start;
}

static void pos_of(struct margo_str *s, const yaml_node_t *n)
{
	s->line = LINE(n);
	s->column = COL(n);
}

/* A scalar field; null leaves v NULL but records where it was. */
static void str(struct ctx *c, const yaml_node_t *n, const char *what,
		struct margo_str *out)
{
	if (!n)
		return;
	pos_of(out, n);
	if (oci_yaml_is_null(n))
		return;
	if (n->type != YAML_SCALAR_NODE) {
		problem(c, n, MARGO_ERROR, "%s must be a string, not %s", what,
			oci_yaml_kind(n));
		out->invalid = 1;
		return;
	}
	if (strlen((const char *)n->data.scalar.value) !=
	    n->data.scalar.length) {
		problem(c, n, MARGO_ERROR, "%s contains a NUL character", what);
		out->invalid = 1;
		return;
	}
	out->v = (const char *)n->data.scalar.value;
}

static void *alloc_items(struct ctx *c, const yaml_node_t *at, size_t n,
			 size_t size)
{
	void *p;

	if (!n)
		return NULL;
	p = calloc(n, size);
	if (!p)
		problem(c, at, MARGO_ERROR, "out of memory");
	return p;
}

/* A list of scalars. */
static void str_list(struct ctx *c, const yaml_node_t *n, const char *what,
		     struct margo_str **out, size_t *n_out)
{
	size_t n_items, k = 0;
	yaml_node_item_t *it = want_seq(c, n, what, &n_items);

	*n_out = 0;
	*out = alloc_items(c, n, n_items, sizeof(**out));
	if (!*out)
		return;
	for (size_t i = 0; i < n_items; i++) {
		yaml_node_t *item = get(c, it[i]);

		if (!item)
			break;
		str(c, item, what, &(*out)[k]);
		if ((*out)[k].v)
			k++;
	}
	*n_out = k;
}

static void persons(struct ctx *c, const yaml_node_t *n, const char *what,
		    struct margo_person **out, size_t *n_out)
{
	size_t n_items;
	yaml_node_item_t *it = want_seq(c, n, what, &n_items);

	*n_out = 0;
	*out = alloc_items(c, n, n_items, sizeof(**out));
	if (!*out)
		return;
	for (size_t i = 0; i < n_items; i++) {
		yaml_node_t *item = get(c, it[i]);
		struct margo_person *p = &(*out)[*n_out];

		if (!item)
			break;
		if (!want_map(c, item, what))
			continue;
		pos_of(&p->name, item);
		str(c, map_get(c, item, "name", NULL), "name", &p->name);
		str(c, map_get(c, item, "email", NULL), "email", &p->email);
		str(c, map_get(c, item, "site", NULL), "site", &p->site);
		(*n_out)++;
	}
}

static void parse_catalog(struct ctx *c, const yaml_node_t *cat,
			  struct margo_app *a)
{
	yaml_node_t *app = map_get(c, cat, "application", NULL);
	yaml_node_t *org;

	a->has_catalog = 1;
	a->catalog_line = LINE(cat);
	a->catalog_column = COL(cat);
	if (want_map(c, app, "metadata.catalog.application")) {
		a->has_application = 1;
		str(c, map_get(c, app, "descriptionFile", NULL),
		    "descriptionFile", &a->description_file);
		str(c, map_get(c, app, "icon", NULL), "icon", &a->icon);
		str(c, map_get(c, app, "licenseFile", NULL), "licenseFile",
		    &a->license_file);
		str(c, map_get(c, app, "releaseNotes", NULL), "releaseNotes",
		    &a->release_notes);
		str(c, map_get(c, app, "site", NULL), "site", &a->site);
		str(c, map_get(c, app, "tagline", NULL), "tagline",
		    &a->tagline);
		str_list(c, map_get(c, app, "tags", NULL), "tags", &a->tags,
			 &a->n_tags);
	}
	persons(c, map_get(c, cat, "author", NULL), "metadata.catalog.author",
		&a->authors, &a->n_authors);
	org = map_get(c, cat, "organization", NULL);
	a->has_organization = org && !oci_yaml_is_null(org);
	persons(c, org, "metadata.catalog.organization", &a->organizations,
		&a->n_organizations);
}

static void parse_metadata(struct ctx *c, const yaml_node_t *md,
			   struct margo_app *a)
{
	yaml_node_t *k, *v, *cat;

	a->has_metadata = 1;
	a->metadata_line = LINE(md);
	a->metadata_column = COL(md);
	str(c, map_get(c, md, "name", NULL), "metadata.name", &a->name);
	str(c, map_get(c, md, "description", NULL), "metadata.description",
	    &a->description);
	str(c, map_get(c, md, "version", NULL), "metadata.version",
	    &a->version);
	v = map_get(c, md, "id", &k);
	if (k) {
		problem(c, k, MARGO_WARNING,
			"metadata.id is from an older draft; use a top-level "
			"id");
		if (!a->id.v) {
			str(c, v, "metadata.id", &a->id);
			a->id_from_metadata = a->id.v != NULL;
		}
	}
	cat = map_get(c, md, "catalog", NULL);
	if (want_map(c, cat, "metadata.catalog"))
		parse_catalog(c, cat, a);
}

/* cpu.architectures under deviceConstraints or requiredResources, either
 * directly or under capacityRequirements. */
static void parse_constraints(struct ctx *c, const yaml_node_t *n,
			      const char *what, struct margo_profile *p)
{
	yaml_node_t *cpu, *cap;

	if (!want_map(c, n, what))
		return;
	cpu = map_get(c, n, "cpu", NULL);
	if (!cpu) {
		cap = map_get(c, n, "capacityRequirements", NULL);
		if (want_map(c, cap, "capacityRequirements"))
			cpu = map_get(c, cap, "cpu", NULL);
	}
	if (!want_map(c, cpu, "cpu") || p->architectures)
		return;
	str_list(c, map_get(c, cpu, "architectures", NULL), "cpu.architectures",
		 &p->architectures, &p->n_architectures);
}

static void parse_component(struct ctx *c, const yaml_node_t *n,
			    struct margo_component *m)
{
	yaml_node_t *props, *k, *v;

	m->line = LINE(n);
	m->column = COL(n);
	pos_of(&m->name, n);
	str(c, map_get(c, n, "name", NULL), "component name", &m->name);
	props = map_get(c, n, "properties", NULL);
	if (props)
		pos_of(&m->properties, props);
	if (!want_map(c, props, "properties"))
		return;
	m->has_properties = 1;
	pos_of(&m->repository, props);
	pos_of(&m->revision, props);
	str(c, map_get(c, props, "repository", NULL), "repository",
	    &m->repository);
	str(c, map_get(c, props, "revision", NULL), "revision", &m->revision);
	str(c, map_get(c, props, "wait", NULL), "wait", &m->wait);
	str(c, map_get(c, props, "timeout", NULL), "timeout", &m->timeout);
	v = map_get(c, props, "packageLocation", &k);
	if (k) {
		problem(c, k, MARGO_WARNING,
			"packageLocation is from an older draft; read, not "
			"required");
		str(c, v, "packageLocation", &m->package_location);
	}
	v = map_get(c, props, "keyLocation", &k);
	if (k) {
		problem(c, k, MARGO_WARNING,
			"keyLocation is from an older draft; read, not "
			"required");
		str(c, v, "keyLocation", &m->key_location);
	}
}

static void parse_profile(struct ctx *c, const yaml_node_t *n,
			  struct margo_profile *p)
{
	yaml_node_t *k, *v, *comps;
	yaml_node_item_t *it;
	size_t n_items;

	p->line = LINE(n);
	p->column = COL(n);
	pos_of(&p->type, n);
	pos_of(&p->id, n);
	str(c, map_get(c, n, "type", NULL), "profile type", &p->type);
	str(c, map_get(c, n, "id", NULL), "profile id", &p->id);
	str(c, map_get(c, n, "description", NULL), "profile description",
	    &p->description);
	parse_constraints(c, map_get(c, n, "deviceConstraints", NULL),
			  "deviceConstraints", p);
	v = map_get(c, n, "requiredResources", &k);
	if (k) {
		problem(c, k, MARGO_WARNING,
			"requiredResources is from an older draft; use "
			"deviceConstraints");
		if (!p->architectures) {
			parse_constraints(c, v, "requiredResources", p);
			p->older_resources = p->architectures != NULL;
		}
	}
	comps = map_get(c, n, "components", NULL);
	p->has_components = comps && !oci_yaml_is_null(comps);
	it = want_seq(c, comps, "components", &n_items);
	p->components = alloc_items(c, n, n_items, sizeof(*p->components));
	if (!p->components)
		return;
	for (size_t i = 0; i < n_items; i++) {
		yaml_node_t *item = get(c, it[i]);

		if (!item)
			break;
		if (!want_map(c, item, "component"))
			continue;
		parse_component(c, item, &p->components[p->n_components++]);
	}
}

static void parse_parameters(struct ctx *c, const yaml_node_t *n,
			     struct margo_app *a)
{
	size_t n_pairs;

	if (!want_map(c, n, "parameters"))
		return;
	n_pairs =
	    (size_t)(n->data.mapping.pairs.top - n->data.mapping.pairs.start);
	a->parameters = alloc_items(c, n, n_pairs, sizeof(*a->parameters));
	if (!a->parameters)
		return;
	for (size_t i = 0; i < n_pairs; i++) {
		yaml_node_pair_t *pr = &n->data.mapping.pairs.start[i];
		yaml_node_t *k = get(c, pr->key), *v, *tv;
		struct margo_parameter *p = &a->parameters[a->n_parameters];
		yaml_node_item_t *it;
		size_t n_items;

		v = k ? get(c, pr->value) : NULL;
		if (!k || !v)
			break;
		str(c, k, "parameter name", &p->name);
		if (!p->name.v)
			continue;
		a->n_parameters++;
		if (!want_map(c, v, "parameter"))
			continue;
		tv = map_get(c, v, "value", NULL);
		if (tv && tv->type == YAML_SCALAR_NODE)
			str(c, tv, "value", &p->value);
		it = want_seq(c, map_get(c, v, "targets", NULL), "targets",
			      &n_items);
		p->targets = alloc_items(c, v, n_items, sizeof(*p->targets));
		if (!p->targets)
			continue;
		for (size_t j = 0; j < n_items; j++) {
			yaml_node_t *t = get(c, it[j]);
			struct margo_target *tg = &p->targets[p->n_targets];

			if (!t)
				break;
			if (!want_map(c, t, "target"))
				continue;
			tg->line = LINE(t);
			tg->column = COL(t);
			pos_of(&tg->pointer, t);
			str(c, map_get(c, t, "pointer", NULL), "pointer",
			    &tg->pointer);
			str_list(c, map_get(c, t, "components", NULL),
				 "target components", &tg->components,
				 &tg->n_components);
			p->n_targets++;
		}
	}
}

static void parse_configuration(struct ctx *c, const yaml_node_t *n,
				struct margo_app *a)
{
	yaml_node_item_t *it;
	size_t n_items;

	if (!want_map(c, n, "configuration"))
		return;
	it = want_seq(c, map_get(c, n, "sections", NULL),
		      "configuration.sections", &n_items);
	a->sections = alloc_items(c, n, n_items, sizeof(*a->sections));
	for (size_t i = 0; a->sections && i < n_items; i++) {
		yaml_node_t *s = get(c, it[i]);
		struct margo_section *sec = &a->sections[a->n_sections];
		yaml_node_item_t *st;
		size_t n_st;

		if (!s)
			break;
		if (!want_map(c, s, "section"))
			continue;
		a->n_sections++;
		pos_of(&sec->name, s);
		str(c, map_get(c, s, "name", NULL), "section name", &sec->name);
		st = want_seq(c, map_get(c, s, "settings", NULL), "settings",
			      &n_st);
		sec->settings = alloc_items(c, s, n_st, sizeof(*sec->settings));
		for (size_t j = 0; sec->settings && j < n_st; j++) {
			yaml_node_t *t = get(c, st[j]);
			struct margo_setting *g =
			    &sec->settings[sec->n_settings];

			if (!t)
				break;
			if (!want_map(c, t, "setting"))
				continue;
			sec->n_settings++;
			g->line = LINE(t);
			g->column = COL(t);
			pos_of(&g->parameter, t);
			pos_of(&g->schema, t);
			str(c, map_get(c, t, "parameter", NULL), "parameter",
			    &g->parameter);
			str(c, map_get(c, t, "name", NULL), "setting name",
			    &g->name);
			str(c, map_get(c, t, "schema", NULL), "schema",
			    &g->schema);
		}
	}
	it = want_seq(c, map_get(c, n, "schema", NULL), "configuration.schema",
		      &n_items);
	a->rules = alloc_items(c, n, n_items, sizeof(*a->rules));
	for (size_t i = 0; a->rules && i < n_items; i++) {
		yaml_node_t *s = get(c, it[i]);
		struct margo_rule *r = &a->rules[a->n_rules];

		if (!s)
			break;
		if (!want_map(c, s, "schema rule"))
			continue;
		a->n_rules++;
		r->line = LINE(s);
		r->column = COL(s);
		pos_of(&r->name, s);
		pos_of(&r->data_type, s);
		str(c, map_get(c, s, "name", NULL), "schema rule name",
		    &r->name);
		str(c, map_get(c, s, "dataType", NULL), "dataType",
		    &r->data_type);
	}
}

static void parse_root(struct ctx *c, const yaml_node_t *root,
		       struct margo_app *a)
{
	yaml_node_t *md, *dp;
	yaml_node_item_t *it;
	size_t n_items;

	if (root->type != YAML_MAPPING_NODE) {
		problem(c, root, MARGO_ERROR,
			"an ApplicationDescription must be a map, not %s",
			oci_yaml_kind(root));
		return;
	}
	a->line = LINE(root);
	a->column = COL(root);
	str(c, map_get(c, root, "apiVersion", NULL), "apiVersion",
	    &a->api_version);
	str(c, map_get(c, root, "kind", NULL), "kind", &a->kind);
	str(c, map_get(c, root, "id", NULL), "id", &a->id);
	md = map_get(c, root, "metadata", NULL);
	if (want_map(c, md, "metadata"))
		parse_metadata(c, md, a);
	dp = map_get(c, root, "deploymentProfiles", NULL);
	a->has_profiles = dp && !oci_yaml_is_null(dp);
	it = want_seq(c, dp, "deploymentProfiles", &n_items);
	a->profiles = alloc_items(c, dp, n_items, sizeof(*a->profiles));
	for (size_t i = 0; a->profiles && i < n_items; i++) {
		yaml_node_t *item = get(c, it[i]);

		if (!item)
			break;
		if (!want_map(c, item, "deployment profile"))
			continue;
		parse_profile(c, item, &a->profiles[a->n_profiles++]);
	}
	parse_parameters(c, map_get(c, root, "parameters", NULL), a);
	parse_configuration(c, map_get(c, root, "configuration", NULL), a);
}

int margo_app_parse(struct margo_app *out, struct margo_problems *probs,
		    const char *data, size_t len, struct err *err)
{
	static const struct oci_yaml_limits lim = {
	    MARGO_INPUT_MAX, OCI_YAML_DEPTH_MAX, MARGO_NODES_MAX,
	    OCI_YAML_EXPAND_MAX};
	struct oci_yaml y;
	struct ctx c = {.p = probs, .y = &y};
	const yaml_node_t *root;
	struct err e;
	int rc = 0;

	memset(out, 0, sizeof(*out));
	if (len > MARGO_INPUT_MAX)
		return err_set(err, ERR_TOO_LARGE,
			       "application description larger than %d bytes",
			       MARGO_INPUT_MAX);
	/* YAML errors and caps are problems at their place; memory is not */
	if (oci_yaml_load(&y, NULL, data, len, &lim, &e))
		goto yaml_failed;
	root = oci_yaml_root(&y);
	if (!root) {
		margo_problems_add(probs, 1, 1, MARGO_ERROR,
				   "empty file: no ApplicationDescription");
		goto out;
	}
	parse_root(&c, root, out);
	out->incomplete = c.over;
	if (!oci_yaml_expect_end(&y, &e))
		goto out;
yaml_failed:
	if (e.code == ERR_FAIL)
		rc = err_set(err, ERR_FAIL, "%s", e.msg);
	else
		margo_problems_add(probs, y.line, y.column, MARGO_ERROR, "%s",
				   e.msg);
out:
	/* strings in out point into the document: out owns it from here */
	if (y.has_doc) {
		out->doc = y.doc;
		out->has_doc = 1;
		y.has_doc = 0;
	}
	oci_yaml_release(&y);
	return rc;
}

void margo_app_release(struct margo_app *a)
{
	for (size_t i = 0; i < a->n_profiles; i++) {
		free(a->profiles[i].architectures);
		free(a->profiles[i].components);
	}
	for (size_t i = 0; i < a->n_parameters; i++) {
		for (size_t j = 0; j < a->parameters[i].n_targets; j++)
			free(a->parameters[i].targets[j].components);
		free(a->parameters[i].targets);
	}
	for (size_t i = 0; i < a->n_sections; i++)
		free(a->sections[i].settings);
	free(a->tags);
	free(a->authors);
	free(a->organizations);
	free(a->profiles);
	free(a->parameters);
	free(a->sections);
	free(a->rules);
	if (a->has_doc)
		yaml_document_delete(&a->doc);
	memset(a, 0, sizeof(*a));
}

/* --- validation --- */

static void add_at(struct margo_problems *p, const struct margo_str *s,
		   size_t line, size_t col, enum margo_severity sev,
		   const char *msg)
{
	margo_problems_add(p, s && s->line ? s->line : line,
			   s && s->line ? s->column : col, sev, "%s", msg);
}

/* Missing or empty required scalar: an error at the field (when it was
 * there but empty) or at the mapping that should hold it. */
static int require(struct margo_problems *p, const struct margo_str *s,
		   size_t line, size_t col, const char *field)
{
	char msg[MARGO_MSG_MAX];

	if (s->v && *s->v)
		return 1;
	if (s->invalid)
		return 0;
	snprintf(msg, sizeof(msg), "missing required field \"%s\"", field);
	add_at(p, s, line, col, MARGO_ERROR, msg);
	return 0;
}

static int id_valid(const char *s)
{
	size_t n = strlen(s);

	return n >= 1 && n <= 200 &&
	       strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789-") == n;
}

static int component_name_valid(const char *s)
{
	size_t n = strlen(s);

	return n >= 1 &&
	       strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789-") == n;
}

static void check_repository(struct margo_problems *p,
			     const struct margo_str *s)
{
	char v[SHOWN_MAX];
	const char *rest, *slash;
	struct oci_ref ref;
	struct err e;
	size_t hl;

	if (strncmp(s->v, "oci://", 6)) {
		margo_problems_add(p, s->line, s->column, MARGO_ERROR,
				   "repository \"%s\" must be oci://HOST/PATH",
				   shown(v, sizeof(v), s->v));
		return;
	}
	rest = s->v + 6;
	slash = strchr(rest, '/');
	hl = slash ? (size_t)(slash - rest) : 0;
	if (!slash || !hl ||
	    (!memchr(rest, '.', hl) && !memchr(rest, ':', hl) &&
	     !(hl == 9 && !memcmp(rest, "localhost", 9)))) {
		margo_problems_add(p, s->line, s->column, MARGO_ERROR,
				   "repository \"%s\" must be oci://HOST/PATH "
				   "with a registry host",
				   shown(v, sizeof(v), s->v));
		return;
	}
	err_clear(&e);
	if (oci_ref_parse_repo(&ref, rest, &e))
		margo_problems_add(p, s->line, s->column, MARGO_ERROR,
				   "repository \"%s\" is not a valid "
				   "reference: %s",
				   shown(v, sizeof(v), s->v), e.msg);
}

static void check_revision(struct margo_problems *p, const struct margo_str *s)
{
	char v[SHOWN_MAX];
	struct semver sv;

	if (s->v[0] == 'v' || s->v[0] == 'V' || semver_parse(&sv, s->v))
		margo_problems_add(p, s->line, s->column, MARGO_ERROR,
				   "revision \"%s\" must be a SemVer 2.0 "
				   "version without a leading v",
				   shown(v, sizeof(v), s->v));
}

static void check_profile(const struct margo_app *a,
			  const struct margo_profile *pr,
			  struct margo_problems *p)
{
	char v[SHOWN_MAX];

	if (require(p, &pr->type, pr->line, pr->column,
		    "deploymentProfiles[].type")) {
		const char *t = pr->type.v;

		if (!strcmp(t, "helm.v3"))
			margo_problems_add(p, pr->type.line, pr->type.column,
					   MARGO_WARNING,
					   "profile type \"helm.v3\" is from "
					   "an older draft; use \"helm\"");
		else if (strcmp(t, "helm") && strcmp(t, "compose"))
			margo_problems_add(p, pr->type.line, pr->type.column,
					   MARGO_WARNING,
					   "custom profile type \"%s\" "
					   "(expected helm or compose)",
					   shown(v, sizeof(v), t));
	}
	if (require(p, &pr->id, pr->line, pr->column,
		    "deploymentProfiles[].id")) {
		for (const struct margo_profile *q = a->profiles; q < pr; q++)
			if (q->id.v && !strcmp(q->id.v, pr->id.v)) {
				margo_problems_add(
				    p, pr->id.line, pr->id.column, MARGO_ERROR,
				    "duplicate profile id \"%s\"",
				    shown(v, sizeof(v), pr->id.v));
				break;
			}
	}
	if (!pr->n_components)
		margo_problems_add(p, pr->line, pr->column, MARGO_ERROR,
				   "missing required field "
				   "\"deploymentProfiles[].components\"");
	for (size_t i = 0; i < pr->n_components; i++) {
		const struct margo_component *m = &pr->components[i];

		if (require(p, &m->name, m->line, m->column,
			    "components[].name")) {
			if (!component_name_valid(m->name.v))
				margo_problems_add(
				    p, m->name.line, m->name.column,
				    MARGO_ERROR,
				    "component name \"%s\" must be lowercase "
				    "letters, digits and dashes",
				    shown(v, sizeof(v), m->name.v));
			for (size_t j = 0; j < i; j++)
				if (pr->components[j].name.v &&
				    !strcmp(pr->components[j].name.v,
					    m->name.v)) {
					margo_problems_add(
					    p, m->name.line, m->name.column,
					    MARGO_ERROR,
					    "duplicate component name \"%s\" "
					    "in profile",
					    shown(v, sizeof(v), m->name.v));
					break;
				}
		}
		if (!m->has_properties) {
			add_at(p, &m->properties, m->line, m->column,
			       MARGO_ERROR,
			       "missing required field "
			       "\"components[].properties\"");
			continue;
		}
		if (require(p, &m->repository, m->line, m->column,
			    "properties.repository"))
			check_repository(p, &m->repository);
		if (require(p, &m->revision, m->line, m->column,
			    "properties.revision"))
			check_revision(p, &m->revision);
	}
}

static int has_component(const struct margo_app *a, const char *name)
{
	for (size_t i = 0; i < a->n_profiles; i++)
		for (size_t j = 0; j < a->profiles[i].n_components; j++)
			if (a->profiles[i].components[j].name.v &&
			    !strcmp(a->profiles[i].components[j].name.v, name))
				return 1;
	return 0;
}

static void check_resource(const struct margo_str *s, const char *field,
			   const char *dir, struct margo_problems *p)
{
	char v[SHOWN_MAX];
	const char *f = s->v, *seg;
	struct stat st;
	struct buf path;

	if (!f)
		return;
	if (!*f || f[0] == '/') {
		margo_problems_add(p, s->line, s->column, MARGO_ERROR,
				   "%s \"%s\" must be a relative path in the "
				   "package",
				   field, shown(v, sizeof(v), f));
		return;
	}
	for (seg = f; seg; seg = strchr(seg, '/'), seg = seg ? seg + 1 : NULL)
		if (!strncmp(seg, "..", 2) && (seg[2] == '/' || !seg[2])) {
			margo_problems_add(p, s->line, s->column, MARGO_ERROR,
					   "%s \"%s\" must not leave the "
					   "package (..)",
					   field, shown(v, sizeof(v), f));
			return;
		}
	if (!dir)
		return;
	buf_init(&path, 8192);
	if (buf_printf(&path, "%s/%s", dir, f)) {
		margo_problems_add(p, s->line, s->column, MARGO_ERROR,
				   "%s \"%s\": path too long", field,
				   shown(v, sizeof(v), f));
		return;
	}
	if (stat(path.data, &st))
		margo_problems_add(p, s->line, s->column, MARGO_ERROR,
				   "%s \"%s\" not found in the package: %s",
				   field, shown(v, sizeof(v), f),
				   strerror(errno));
	else if (!S_ISREG(st.st_mode))
		margo_problems_add(p, s->line, s->column, MARGO_ERROR,
				   "%s \"%s\" is not a regular file", field,
				   shown(v, sizeof(v), f));
	buf_release(&path);
}

static void check_config(const struct margo_app *a, struct margo_problems *p)
{
	char v[SHOWN_MAX];

	for (size_t i = 0; i < a->n_parameters; i++) {
		const struct margo_parameter *pa = &a->parameters[i];

		for (size_t j = 0; j < pa->n_targets; j++) {
			const struct margo_target *t = &pa->targets[j];

			require(p, &t->pointer, t->line, t->column,
				"targets[].pointer");
			if (!t->n_components)
				margo_problems_add(p, t->line, t->column,
						   MARGO_ERROR,
						   "missing required field "
						   "\"targets[].components\"");
			for (size_t k = 0; k < t->n_components; k++)
				if (!has_component(a, t->components[k].v))
					margo_problems_add(
					    p, t->components[k].line,
					    t->components[k].column,
					    MARGO_ERROR,
					    "parameter targets unknown "
					    "component \"%s\"",
					    shown(v, sizeof(v),
						  t->components[k].v));
		}
	}
	for (size_t i = 0; i < a->n_rules; i++) {
		const struct margo_rule *r = &a->rules[i];

		require(p, &r->name, r->line, r->column, "schema[].name");
		require(p, &r->data_type, r->line, r->column,
			"schema[].dataType");
	}
	for (size_t i = 0; i < a->n_sections; i++) {
		const struct margo_section *s = &a->sections[i];

		require(p, &s->name, s->name.line, s->name.column,
			"sections[].name");
		for (size_t j = 0; j < s->n_settings; j++) {
			const struct margo_setting *g = &s->settings[j];
			size_t k;

			if (require(p, &g->parameter, g->line, g->column,
				    "settings[].parameter")) {
				for (k = 0; k < a->n_parameters; k++)
					if (!strcmp(a->parameters[k].name.v,
						    g->parameter.v))
						break;
				if (k == a->n_parameters)
					margo_problems_add(
					    p, g->parameter.line,
					    g->parameter.column, MARGO_ERROR,
					    "setting names unknown parameter "
					    "\"%s\"",
					    shown(v, sizeof(v),
						  g->parameter.v));
			}
			require(p, &g->name, g->line, g->column,
				"settings[].name");
			if (require(p, &g->schema, g->line, g->column,
				    "settings[].schema")) {
				for (k = 0; k < a->n_rules; k++)
					if (a->rules[k].name.v &&
					    !strcmp(a->rules[k].name.v,
						    g->schema.v))
						break;
				if (k == a->n_rules)
					margo_problems_add(
					    p, g->schema.line, g->schema.column,
					    MARGO_ERROR,
					    "setting names unknown schema rule "
					    "\"%s\"",
					    shown(v, sizeof(v), g->schema.v));
			}
		}
	}
}

void margo_app_validate(const struct margo_app *a, const char *dir,
			struct margo_problems *p)
{
	char v[SHOWN_MAX];
	size_t ml = a->has_metadata ? a->metadata_line : a->line;
	size_t mc = a->has_metadata ? a->metadata_column : a->column;
	size_t cl = a->has_catalog ? a->catalog_line : ml;
	size_t cc = a->has_catalog ? a->catalog_column : mc;

	if (!a->has_doc || !a->line || a->incomplete)
		return; /* not (all) read; the parser said why */
	require(p, &a->api_version, a->line, a->column, "apiVersion");
	if (require(p, &a->kind, a->line, a->column, "kind") &&
	    strcmp(a->kind.v, "ApplicationDescription"))
		margo_problems_add(p, a->kind.line, a->kind.column, MARGO_ERROR,
				   "kind must be \"ApplicationDescription\", "
				   "not \"%s\"",
				   shown(v, sizeof(v), a->kind.v));
	if (require(p, &a->id, a->line, a->column, "id") && !id_valid(a->id.v))
		margo_problems_add(p, a->id.line, a->id.column, MARGO_ERROR,
				   "id \"%s\" must match ^[a-z0-9-]{1,200}$",
				   shown(v, sizeof(v), a->id.v));
	if (!a->has_metadata)
		margo_problems_add(p, a->line, a->column, MARGO_ERROR,
				   "missing required field \"metadata\"");
	require(p, &a->name, ml, mc, "metadata.name");
	require(p, &a->version, ml, mc, "metadata.version");
	if (!a->n_organizations)
		margo_problems_add(p, cl, cc, MARGO_ERROR,
				   "missing required field "
				   "\"metadata.catalog.organization\"");
	for (size_t i = 0; i < a->n_organizations; i++)
		require(p, &a->organizations[i].name,
			a->organizations[i].name.line,
			a->organizations[i].name.column,
			"metadata.catalog.organization[].name");
	check_resource(&a->description_file, "descriptionFile", dir, p);
	check_resource(&a->icon, "icon", dir, p);
	check_resource(&a->license_file, "licenseFile", dir, p);
	check_resource(&a->release_notes, "releaseNotes", dir, p);
	if (!a->n_profiles)
		margo_problems_add(p, a->line, a->column, MARGO_ERROR,
				   "missing required field "
				   "\"deploymentProfiles\"");
	for (size_t i = 0; i < a->n_profiles; i++)
		check_profile(a, &a->profiles[i], p);
	check_config(a, p);
}

static int read_capped(struct buf *b, const char *path, struct err *err)
{
	char chunk[8192];
	ssize_t n;
	int fd, rc = 0;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return err_set(err, errno == ENOENT ? ERR_NOT_FOUND : ERR_FAIL,
			       "%s: %s", path, strerror(errno));
	while ((n = read(fd, chunk, sizeof(chunk))) != 0) {
		if (n < 0) {
			if (errno == EINTR)
				continue;
			rc = err_set(err, ERR_FAIL, "%s: %s", path,
				     strerror(errno));
			break;
		}
		rc = buf_append(b, chunk, (size_t)n);
		if (rc) {
			err_set(err, rc, "%s: larger than %d bytes", path,
				MARGO_INPUT_MAX);
			break;
		}
	}
	close(fd);
	return rc;
}

int margo_check_path(struct margo_problems *probs, char **file_out,
		     const char *path, struct err *err)
{
	struct margo_app app;
	struct stat st;
	struct buf b, file;
	const char *dir = NULL;
	int rc;

	*file_out = NULL;
	buf_init(&b, MARGO_INPUT_MAX);
	buf_init(&file, 8192);
	if (stat(path, &st)) {
		rc = err_set(err, errno == ENOENT ? ERR_NOT_FOUND : ERR_FAIL,
			     "%s: %s", path, strerror(errno));
		goto out;
	}
	if (S_ISDIR(st.st_mode)) {
		dir = path;
		rc = buf_printf(&file, "%s%smargo.yaml", path,
				path[0] && path[strlen(path) - 1] == '/' ? ""
									 : "/");
	} else {
		rc = buf_puts(&file, path);
	}
	if (rc) {
		err_set(err, rc, "%s: path too long", path);
		goto out;
	}
	if ((rc = read_capped(&b, file.data, err)))
		goto out;
	if ((rc = margo_app_parse(&app, probs, b.data, b.len, err))) {
		err_wrap(err, "%s: ", file.data);
		margo_app_release(&app);
		goto out;
	}
	margo_app_validate(&app, dir, probs);
	margo_app_release(&app);
	*file_out = buf_detach(&file, NULL);
out:
	buf_release(&b);
	buf_release(&file);
	return rc;
}
