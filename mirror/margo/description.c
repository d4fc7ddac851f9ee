/* Margo ApplicationDescription: read with libyaml's document API into
 * struct margo_app, every problem kept. Validation against MARGO.md is in
 * validate.c. See description.h for the contract. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mirror/margo/description.h"
#include "oci/vec.h"
#include "oci/yaml.h"

#define WORK_MAX 20000000 /* mapping pairs scanned, aliases included */

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

/* `{{ .Values.x }}` unquoted is YAML for a flow map whose one key is a
 * flow map (or, `{{x}}` spaced oddly, a scalar starting with '{'): the
 * file is a Helm or Go template that was never rendered. */
static int is_template(struct ctx *c, const yaml_node_t *n)
{
	const yaml_node_t *k;

	if (!n || n->type != YAML_MAPPING_NODE ||
	    n->data.mapping.style != YAML_FLOW_MAPPING_STYLE ||
	    oci_yaml_map_len(n) != 1)
		return 0;
	k = oci_yaml_node(c->y, n->data.mapping.pairs.start[0].key);
	if (!k)
		return 0;
	return k->type == YAML_MAPPING_NODE ||
	       (k->type == YAML_SCALAR_NODE && k->data.scalar.value[0] == '{');
}

static void template_problem(struct ctx *c, const yaml_node_t *n,
			     const char *what)
{
	problem(c, n, MARGO_ERROR,
		"%s looks like an unrendered template ({{ ... }}): render "
		"it before validating",
		what);
}

/* Expect a map (or nothing) at n; 1 when it is a map. */
static int want_map(struct ctx *c, const yaml_node_t *n, const char *what)
{
	if (!n || oci_yaml_is_null(n))
		return 0;
	if (is_template(c, n)) {
		template_problem(c, n, what);
		return 0;
	}
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
	if (is_template(c, n)) {
		template_problem(c, n, what);
		return NULL;
	}
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
	if (is_template(c, n)) {
		template_problem(c, n, what);
		out->invalid = 1;
		return;
	}
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

/* Edit distance (insert, delete, substitute, swap two neighbours), ASCII
 * case folded; SIZE_MAX past 64 bytes. */
static size_t edit_distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b), d[65][65];

	if (la > 64 || lb > 64)
		return (size_t)-1;
	for (size_t i = 0; i <= la; i++)
		d[i][0] = i;
	for (size_t j = 0; j <= lb; j++)
		d[0][j] = j;
	for (size_t i = 1; i <= la; i++)
		for (size_t j = 1; j <= lb; j++) {
			int ca = a[i - 1] | 0x20, cb = b[j - 1] | 0x20;
			size_t best = d[i - 1][j - 1] + (ca != cb);

			if (d[i - 1][j] + 1 < best)
				best = d[i - 1][j] + 1;
			if (d[i][j - 1] + 1 < best)
				best = d[i][j - 1] + 1;
			if (i > 1 && j > 1 && ca == (b[j - 2] | 0x20) &&
			    (a[i - 2] | 0x20) == cb &&
			    d[i - 2][j - 2] + 1 < best)
				best = d[i - 2][j - 2] + 1;
			d[i][j] = best;
		}
	return d[la][lb];
}

/* The known key closest to key, NULL when none is within two edits (and
 * fewer than half of key's letters). */
static const char *closest_key(const char *key, const char *const *known)
{
	const char *best = NULL;
	size_t best_d = 3, n = strlen(key);

	for (; *known; known++) {
		size_t d = edit_distance(key, *known);

		if (d < best_d && 2 * d < n) {
			best = *known;
			best_d = d;
		}
	}
	return best;
}

/* Note the keys of map that are not in known (a NULL-terminated list);
 * where is static, "" for the top level. */
static void check_keys(struct ctx *c, const yaml_node_t *map, const char *where,
		       const char *const *known, struct margo_app *a)
{
	size_t n = oci_yaml_map_len(map);

	for (size_t i = 0; i < n && !c->over; i++) {
		yaml_node_t *k = get(c, map->data.mapping.pairs.start[i].key);
		const char *const *q;
		struct margo_unknown_key *u;
		const char *ks;

		if (!k || k->type != YAML_SCALAR_NODE)
			continue;
		ks = (const char *)k->data.scalar.value;
		for (q = known; *q && strcmp(*q, ks); q++)
			;
		if (*q)
			continue;
		if (OCI_VEC_RESERVE(a->unknown, a->n_unknown, a->unknown_cap, 1,
				    0)) {
			problem(c, k, MARGO_ERROR, "out of memory");
			return;
		}
		u = &a->unknown[a->n_unknown++];
		memset(u, 0, sizeof(*u));
		pos_of(&u->key, k);
		u->key.v = ks;
		u->where = where;
		u->suggestion = closest_key(ks, known);
	}
}

static const char *const root_keys[] = {
    "apiVersion", "kind",	   "metadata", "deploymentProfiles",
    "parameters", "configuration", "id",       NULL};
static const char *const metadata_keys[] = {"id",      "name",	  "description",
					    "version", "catalog", NULL};
static const char *const catalog_keys[] = {"application", "author",
					   "organization", NULL};
static const char *const application_keys[] = {
    "descriptionFile", "icon", "licenseFile", "releaseNotes", "site",
    "tagline",	       "tags", NULL};
static const char *const profile_keys[] = {
    "type",	  "id", "description", "requiredResources", "deviceConstraints",
    "components", NULL};
static const char *const resources_keys[] = {
    "cpu", "memory", "storage", "peripherals", "interfaces", NULL};
static const char *const cpu_keys[] = {"cores", "architectures", NULL};
static const char *const component_keys[] = {"name", "properties", NULL};
static const char *const properties_keys[] = {
    "repository",      "revision",    "wait", "timeout",
    "packageLocation", "keyLocation", NULL};

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

/* A scalar the configuration model reads (config.c checks it): taken
 * when it is one, else marked invalid without a problem, so that a mirror
 * keeps reading descriptions it did before. */
static void quiet_str(const yaml_node_t *n, struct margo_str *out)
{
	if (!n || oci_yaml_is_null(n))
		return;
	pos_of(out, n);
	if (n->type != YAML_SCALAR_NODE ||
	    strlen((const char *)n->data.scalar.value) !=
		n->data.scalar.length) {
		out->invalid = 1; /* there, but unusable: config.c says so */
		return;
	}
	out->v = (const char *)n->data.scalar.value;
}

/* The scalar items of a list, quietly as quiet_str. */
static void quiet_list(struct ctx *c, const yaml_node_t *n,
		       struct margo_str **out, size_t *n_out)
{
	size_t n_items, k = 0;

	*n_out = 0;
	*out = NULL;
	if (!n || n->type != YAML_SEQUENCE_NODE)
		return;
	n_items =
	    (size_t)(n->data.sequence.items.top - n->data.sequence.items.start);
	*out = alloc_items(c, n, n_items, sizeof(**out));
	for (size_t i = 0; *out && i < n_items; i++) {
		yaml_node_t *item = get(c, n->data.sequence.items.start[i]);

		if (!item)
			break;
		quiet_str(item, &(*out)[k]);
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
	check_keys(c, cat, "metadata.catalog", catalog_keys, a);
	if (want_map(c, app, "metadata.catalog.application")) {
		a->has_application = 1;
		check_keys(c, app, "metadata.catalog.application",
			   application_keys, a);
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
	yaml_node_t *cat;

	a->has_metadata = 1;
	a->metadata_line = LINE(md);
	a->metadata_column = COL(md);
	check_keys(c, md, "metadata", metadata_keys, a);
	str(c, map_get(c, md, "id", NULL), "metadata.id", &a->id_meta);
	str(c, map_get(c, md, "name", NULL), "metadata.name", &a->name);
	str(c, map_get(c, md, "description", NULL), "metadata.description",
	    &a->description);
	str(c, map_get(c, md, "version", NULL), "metadata.version",
	    &a->version);
	cat = map_get(c, md, "catalog", NULL);
	if (want_map(c, cat, "metadata.catalog"))
		parse_catalog(c, cat, a);
}

/* peripherals or interfaces: a list of {type, manufacturer, model}. */
static void device_parts(struct ctx *c, const yaml_node_t *n, const char *what,
			 struct margo_device_part **out, size_t *n_out)
{
	size_t n_items;
	yaml_node_item_t *it = want_seq(c, n, what, &n_items);

	*n_out = 0;
	*out = alloc_items(c, n, n_items, sizeof(**out));
	for (size_t i = 0; *out && i < n_items; i++) {
		yaml_node_t *item = get(c, it[i]);
		struct margo_device_part *d = &(*out)[*n_out];

		if (!item)
			break;
		if (!want_map(c, item, what))
			continue;
		d->line = LINE(item);
		d->column = COL(item);
		pos_of(&d->type, item);
		str(c, map_get(c, item, "type", NULL), "type", &d->type);
		str(c, map_get(c, item, "manufacturer", NULL), "manufacturer",
		    &d->manufacturer);
		str(c, map_get(c, item, "model", NULL), "model", &d->model);
		(*n_out)++;
	}
}

/* requiredResources (model/, legacy) or deviceConstraints (sandbox
 * examples, which may nest cpu, memory and storage under
 * capacityRequirements): read as one. */
static void parse_resources(struct ctx *c, const yaml_node_t *n,
			    const char *key, struct margo_profile *p,
			    struct margo_app *a)
{
	const yaml_node_t *body = n;
	yaml_node_t *cpu, *cap, *v;
	int closed = !strcmp(key, "requiredResources");

	if (!want_map(c, n, key))
		return;
	p->resources_key = key;
	pos_of(&p->resources, n);
	if (closed)
		check_keys(c, n, "requiredResources", resources_keys, a);
	cpu = map_get(c, n, "cpu", NULL);
	if (!cpu && !closed) {
		cap = map_get(c, n, "capacityRequirements", NULL);
		if (want_map(c, cap, "capacityRequirements")) {
			body = cap;
			cpu = map_get(c, cap, "cpu", NULL);
		}
	}
	if (want_map(c, cpu, "cpu")) {
		p->has_cpu = 1;
		pos_of(&p->cpu, cpu);
		if (closed)
			check_keys(c, cpu, "cpu", cpu_keys, a);
		str(c, map_get(c, cpu, "cores", NULL), "cpu.cores", &p->cores);
		str_list(c, map_get(c, cpu, "architectures", NULL),
			 "cpu.architectures", &p->architectures,
			 &p->n_architectures);
	}
	v = map_get(c, body, "memory", NULL);
	str(c, v ? v : map_get(c, n, "memory", NULL), "memory", &p->memory);
	v = map_get(c, body, "storage", NULL);
	str(c, v ? v : map_get(c, n, "storage", NULL), "storage", &p->storage);
	device_parts(c, map_get(c, n, "peripherals", NULL), "peripherals",
		     &p->peripherals, &p->n_peripherals);
	device_parts(c, map_get(c, n, "interfaces", NULL), "interfaces",
		     &p->interfaces, &p->n_interfaces);
}

static void parse_component(struct ctx *c, const yaml_node_t *n,
			    struct margo_component *m, struct margo_app *a)
{
	yaml_node_t *props;

	m->line = LINE(n);
	m->column = COL(n);
	pos_of(&m->name, n);
	check_keys(c, n, "components[]", component_keys, a);
	str(c, map_get(c, n, "name", NULL), "component name", &m->name);
	props = map_get(c, n, "properties", NULL);
	if (props)
		pos_of(&m->properties, props);
	if (!want_map(c, props, "properties"))
		return;
	m->has_properties = 1;
	check_keys(c, props, "properties", properties_keys, a);
	pos_of(&m->repository, props);
	pos_of(&m->revision, props);
	str(c, map_get(c, props, "repository", NULL), "repository",
	    &m->repository);
	str(c, map_get(c, props, "revision", NULL), "revision", &m->revision);
	str(c, map_get(c, props, "wait", NULL), "wait", &m->wait);
	str(c, map_get(c, props, "timeout", NULL), "timeout", &m->timeout);
	str(c, map_get(c, props, "packageLocation", NULL), "packageLocation",
	    &m->package_location);
	str(c, map_get(c, props, "keyLocation", NULL), "keyLocation",
	    &m->key_location);
}

static void parse_profile(struct ctx *c, const yaml_node_t *n,
			  struct margo_profile *p, struct margo_app *a)
{
	yaml_node_t *rk, *dk, *rr, *dc, *comps;
	yaml_node_item_t *it;
	size_t n_items;

	p->line = LINE(n);
	p->column = COL(n);
	pos_of(&p->type, n);
	pos_of(&p->id, n);
	check_keys(c, n, "deploymentProfiles[]", profile_keys, a);
	str(c, map_get(c, n, "type", NULL), "profile type", &p->type);
	str(c, map_get(c, n, "id", NULL), "profile id", &p->id);
	str(c, map_get(c, n, "description", NULL), "profile description",
	    &p->description);
	rr = map_get(c, n, "requiredResources", &rk);
	dc = map_get(c, n, "deviceConstraints", &dk);
	/* a requiredResources that is null or no map next to a
	 * deviceConstraints: the latter is read, else the architectures it
	 * names are lost and the profile looks unconstrained */
	if (rk && (!dk || (rr && rr->type == YAML_MAPPING_NODE))) {
		parse_resources(c, rr, "requiredResources", p, a);
		p->both_resources = !!dk;
	} else if (dk) {
		if (rk && (!rr || oci_yaml_is_null(rr)))
			problem(c, rk, MARGO_WARNING,
				"requiredResources is null; deviceConstraints "
				"is read");
		else if (rk)
			want_map(c, rr, "requiredResources");
		parse_resources(c, dc, "deviceConstraints", p, a);
	}
	if (p->both_resources)
		pos_of(&p->resources, dk);
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
		parse_component(c, item, &p->components[p->n_components++], a);
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
		else if (tv && tv->type == YAML_SEQUENCE_NODE) {
			p->value_is_list = 1;
			pos_of(&p->value, tv);
			quiet_list(c, tv, &p->value_items, &p->n_value_items);
		}
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
			quiet_str(map_get(c, t, "description", NULL),
				  &g->description);
			quiet_str(map_get(c, t, "immutable", NULL),
				  &g->immutable);
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
		quiet_str(map_get(c, s, "allowEmpty", NULL), &r->allow_empty);
		quiet_str(map_get(c, s, "minLength", NULL), &r->min_length);
		quiet_str(map_get(c, s, "maxLength", NULL), &r->max_length);
		quiet_str(map_get(c, s, "regexMatch", NULL), &r->regex_match);
		quiet_str(map_get(c, s, "minValue", NULL), &r->min_value);
		quiet_str(map_get(c, s, "maxValue", NULL), &r->max_value);
		quiet_str(map_get(c, s, "minPrecision", NULL),
			  &r->min_precision);
		quiet_str(map_get(c, s, "maxPrecision", NULL),
			  &r->max_precision);
		quiet_str(map_get(c, s, "multiselect", NULL), &r->multiselect);
		{
			yaml_node_t *o = map_get(c, s, "options", NULL);

			if (o && !oci_yaml_is_null(o)) {
				r->has_options = 1;
				quiet_list(c, o, &r->options, &r->n_options);
			}
		}
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
	check_keys(c, root, "", root_keys, a);
	str(c, map_get(c, root, "apiVersion", NULL), "apiVersion",
	    &a->api_version);
	str(c, map_get(c, root, "kind", NULL), "kind", &a->kind);
	str(c, map_get(c, root, "id", NULL), "id", &a->id_top);
	md = map_get(c, root, "metadata", NULL);
	if (want_map(c, md, "metadata"))
		parse_metadata(c, md, a);
	a->id_from_metadata = a->id_meta.v != NULL || a->id_meta.invalid;
	a->id = a->id_from_metadata ? a->id_meta : a->id_top;
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
		parse_profile(c, item, &a->profiles[a->n_profiles++], a);
	}
	parse_parameters(c, map_get(c, root, "parameters", NULL), a);
	parse_configuration(c, map_get(c, root, "configuration", NULL), a);
}

int margo_app_parse(struct margo_app *out, struct margo_problems *probs,
		    const char *data, size_t len, struct err *err)
{
	static const struct oci_yaml_limits lim = {
	    MARGO_INPUT_MAX, OCI_YAML_DEPTH_MAX, MARGO_NODES_MAX,
	    OCI_YAML_EXPAND_MAX, OCI_YAML_ANCHORS_MAX};
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
		free(a->profiles[i].peripherals);
		free(a->profiles[i].interfaces);
		free(a->profiles[i].components);
	}
	free(a->unknown);
	for (size_t i = 0; i < a->n_rules; i++)
		free(a->rules[i].options);
	for (size_t i = 0; i < a->n_parameters; i++) {
		free(a->parameters[i].value_items);
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
