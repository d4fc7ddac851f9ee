/* The one YAML reader (contract in oci/yaml.h). */
#include "oci/yaml.h"
#include "oci/keysort.h"
#include "oci/vec.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Anchors seen so far, open-addressed by name: each holds the expanded
 * size of its node, or is still open while that node is being read. */
struct anchor {
	char *name;
	size_t size;
	size_t ordinal; /* 1 for the first anchor defined, 2 for the next... */
	int open;
};

struct anchors {
	struct anchor *v;
	size_t n, cap; /* cap: 0 or a power of two */
};

/* One open sequence or mapping: its expanded size so far. */
struct frame {
	size_t size;
	const char
	    *anchor; /* its anchor's name (owned by the table), or NULL */
};

struct count {
	const struct oci_yaml_limits *lim;
	struct anchors an;
	struct frame *stack;
	size_t depth, stack_cap;
	size_t nodes, expanded;
	size_t lookups; /* the loader's anchor comparisons, estimated */
};

static size_t hash(const char *s)
{
	size_t h = 1469598103934665603ULL;

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ULL;
	return h;
}

static struct anchor *anchor_find(struct anchors *a, const char *name)
{
	if (!a->cap)
		return NULL;
	for (size_t i = hash(name) & (a->cap - 1);; i = (i + 1) & (a->cap - 1))
		if (!a->v[i].name || !strcmp(a->v[i].name, name))
			return a->v[i].name ? &a->v[i] : NULL;
}

static int anchors_grow(struct anchors *a)
{
	size_t cap = a->cap ? a->cap * 2 : 64;
	struct anchor *v;

	if (cap > SIZE_MAX / sizeof(*v))
		return ERR_FAIL;
	v = calloc(cap, sizeof(*v));
	if (!v)
		return ERR_FAIL;
	for (size_t i = 0; i < a->cap; i++) {
		size_t j;

		if (!a->v[i].name)
			continue;
		for (j = hash(a->v[i].name) & (cap - 1); v[j].name;
		     j = (j + 1) & (cap - 1))
			;
		v[j] = a->v[i];
	}
	free(a->v);
	a->v = v;
	a->cap = cap;
	return 0;
}

/* A new anchor, open; NULL when out of memory or already defined (the
 * loader then reports the duplicate). */
static struct anchor *anchor_add(struct anchors *a, const char *name, int *oom)
{
	size_t i;

	*oom = 0;
	if (anchor_find(a, name))
		return NULL;
	if ((a->n + 1) * 2 > a->cap && anchors_grow(a)) {
		*oom = 1;
		return NULL;
	}
	for (i = hash(name) & (a->cap - 1); a->v[i].name;
	     i = (i + 1) & (a->cap - 1))
		;
	a->v[i].name = strdup(name);
	if (!a->v[i].name) {
		*oom = 1;
		return NULL;
	}
	a->v[i].open = 1;
	a->v[i].ordinal = ++a->n;
	return &a->v[i];
}

static void anchors_release(struct anchors *a)
{
	for (size_t i = 0; i < a->cap; i++)
		free(a->v[i].name);
	free(a->v);
	memset(a, 0, sizeof(*a));
}

/* Messages are one line: libyaml quotes the input in some of them. */
static int fail_at(struct oci_yaml *y, struct err *err, int code, size_t line,
		   size_t column, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));

static int fail_at(struct oci_yaml *y, struct err *err, int code, size_t line,
		   size_t column, const char *fmt, ...)
{
	char msg[ERR_MSG_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	for (char *p = msg; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = '?';
	y->line = line;
	y->column = column;
	if (!y->name)
		return err_set(err, code, "%s", msg);
	if (!line)
		return err_set(err, code, "%s: %s", y->name, msg);
	return err_set(err, code, "%s:%zu:%zu: %s", y->name, line, column, msg);
}

/* libyaml's own error; reader errors (bad UTF-8) carry only an offset. */
static int parser_fail(struct oci_yaml *y, const yaml_parser_t *p,
		       struct err *err)
{
	size_t line = p->problem_mark.line, col = p->problem_mark.column;
	const char *what = p->problem ? p->problem : "syntax error";

	if (p->error == YAML_MEMORY_ERROR)
		return fail_at(y, err, ERR_FAIL, 0, 0, "out of memory");
	if (p->error == YAML_READER_ERROR) {
		size_t off =
		    p->problem_offset < y->len ? p->problem_offset : y->len;

		line = col = 0;
		for (size_t i = 0; i < off; i++) {
			col++;
			if (y->data[i] == '\n') {
				line++;
				col = 0;
			}
		}
	}
	if (p->context)
		return fail_at(y, err, ERR_INVALID, line + 1, col + 1,
			       "YAML: %s (%s at line %zu)", what, p->context,
			       p->context_mark.line + 1);
	return fail_at(y, err, ERR_INVALID, line + 1, col + 1, "YAML: %s",
		       what);
}

static int too_large(struct oci_yaml *y, const yaml_event_t *ev,
		     struct err *err, const char *fmt, size_t n)
    __attribute__((format(printf, 4, 0)));

static int too_large(struct oci_yaml *y, const yaml_event_t *ev,
		     struct err *err, const char *fmt, size_t n)
{
	return fail_at(y, err, ERR_TOO_LARGE, ev->start_mark.line + 1,
		       ev->start_mark.column + 1, fmt, n);
}

static int over(size_t n, size_t max)
{
	return max && n > max;
}

/* 0 is the default here, not "no cap" (see oci/yaml.h). */
static size_t anchors_max(const struct oci_yaml_limits *lim)
{
	return lim->anchors_max ? lim->anchors_max : OCI_YAML_ANCHORS_MAX;
}

static size_t sat_add(size_t a, size_t b)
{
	return a > SIZE_MAX - b ? SIZE_MAX : a + b;
}

static size_t sat_mul(size_t a, size_t b)
{
	return b && a > SIZE_MAX / b ? SIZE_MAX : a * b;
}

/* Add size (saturating) to the open parent and to the total. */
static void grow(struct count *c, size_t size)
{
	c->expanded =
	    c->expanded > SIZE_MAX - size ? SIZE_MAX : c->expanded + size;
	if (c->depth) {
		struct frame *f = &c->stack[c->depth - 1];

		f->size = f->size > SIZE_MAX - size ? SIZE_MAX : f->size + size;
	}
}

/* One event of the first pass: 1 to stop counting (end of the document,
 * or something the loader will report itself), 0 to go on, or an error. */
static int count_event(struct oci_yaml *y, struct count *c,
		       const yaml_event_t *ev, struct err *err)
{
	const struct oci_yaml_limits *lim = c->lim;
	const yaml_char_t *anchor = NULL;
	struct anchor *a = NULL;
	int oom;

	switch (ev->type) {
	case YAML_DOCUMENT_END_EVENT:
	case YAML_STREAM_END_EVENT: return 1;
	case YAML_ALIAS_EVENT:
		a = anchor_find(&c->an, (const char *)ev->data.alias.anchor);
		if (!a)
			return 1; /* "found undefined alias" */
		if (a->open)
			return fail_at(y, err, ERR_INVALID,
				       ev->start_mark.line + 1,
				       ev->start_mark.column + 1,
				       "YAML: alias *%.100s is inside the "
				       "node it refers to",
				       a->name);
		/* libyaml's loader finds an alias's anchor by comparing it
		 * with every anchor defined before it, by strcmp */
		c->lookups = sat_add(
		    c->lookups,
		    sat_mul(a->ordinal,
			    1 + strlen((const char *)ev->data.alias.anchor) /
				    16));
		if (over(c->lookups, OCI_YAML_LOOKUPS_MAX))
			return too_large(y, ev, err,
					 "YAML aliases cost more than %zu "
					 "anchor comparisons to resolve",
					 (size_t)OCI_YAML_LOOKUPS_MAX);
		grow(c, a->size);
		if (over(c->expanded, lim->expand_max))
			return too_large(y, ev, err,
					 "more than %zu YAML nodes (aliases "
					 "included)",
					 lim->expand_max);
		return 0;
	case YAML_SCALAR_EVENT: anchor = ev->data.scalar.anchor; break;
	case YAML_SEQUENCE_START_EVENT:
		anchor = ev->data.sequence_start.anchor;
		break;
	case YAML_MAPPING_START_EVENT:
		anchor = ev->data.mapping_start.anchor;
		break;
	case YAML_SEQUENCE_END_EVENT:
	case YAML_MAPPING_END_EVENT: {
		struct frame f = c->stack[--c->depth];

		if (c->depth) { /* the child's size goes to its parent */
			struct frame *p = &c->stack[c->depth - 1];

			p->size = p->size > SIZE_MAX - f.size
				      ? SIZE_MAX
				      : p->size + f.size;
		}
		if (f.anchor && (a = anchor_find(&c->an, f.anchor))) {
			a->size = f.size;
			a->open = 0;
		}
		return 0;
	}
	default: return 0;
	}
	if (++c->nodes, over(c->nodes, lim->nodes_max))
		return too_large(y, ev, err, "more than %zu YAML nodes",
				 lim->nodes_max);
	if (anchor) {
		a = anchor_add(&c->an, (const char *)anchor, &oom);
		if (oom)
			return fail_at(y, err, ERR_FAIL, 0, 0, "out of memory");
		if (!a)
			return 1; /* "found duplicate anchor" */
		if (over(c->an.n, anchors_max(lim)))
			return too_large(y, ev, err,
					 "more than %zu YAML anchors",
					 anchors_max(lim));
	}
	c->expanded = c->expanded == SIZE_MAX ? SIZE_MAX : c->expanded + 1;
	if (over(c->expanded, lim->expand_max))
		return too_large(y, ev, err,
				 "more than %zu YAML nodes (aliases included)",
				 lim->expand_max);
	if (ev->type == YAML_SCALAR_EVENT) {
		if (c->depth)
			c->stack[c->depth - 1].size++;
		if (a) {
			a->size = 1;
			a->open = 0;
		}
		return 0;
	}
	if (over(c->depth + 1, lim->depth_max))
		return too_large(y, ev, err,
				 "YAML nested deeper than %zu levels",
				 lim->depth_max);
	if (OCI_VEC_RESERVE(c->stack, c->depth, c->stack_cap, 1, 0))
		return fail_at(y, err, ERR_FAIL, 0, 0, "out of memory");
	c->stack[c->depth].size = 1;
	c->stack[c->depth++].anchor = a ? a->name : NULL;
	return 0;
}

/* The first pass: events of the first document against the caps. A
 * syntax error stops it quietly; the loader then reports it. */
static int count_first(struct oci_yaml *y, const struct oci_yaml_limits *lim,
		       struct err *err)
{
	struct count c = {.lim = lim};
	yaml_parser_t p;
	int rc = 0;

	if (!yaml_parser_initialize(&p))
		return fail_at(y, err, ERR_FAIL, 0, 0, "out of memory");
	yaml_parser_set_input_string(&p, y->data, y->len);
	while (!rc) {
		yaml_event_t ev;

		if (!yaml_parser_parse(&p, &ev)) {
			if (p.error == YAML_MEMORY_ERROR)
				rc = fail_at(y, err, ERR_FAIL, 0, 0,
					     "out of memory");
			break;
		}
		rc = count_event(y, &c, &ev, err);
		yaml_event_delete(&ev);
	}
	yaml_parser_delete(&p);
	anchors_release(&c.an);
	free(c.stack);
	return rc < 0 ? rc : 0;
}

/* ---- merge keys (<<) ---------------------------------------------------
 *
 * After the load each mapping holding a merge key gets a new pairs array:
 * its own pairs (merge keys left out) in order, then the pairs of each
 * merged map, in the order of the merges, whose keys are not there yet.
 * A merged map is resolved before the maps that merge it, by a depth-first
 * walk on a stack of its own (chains of merges can be long). */

#define MERGE_TAG "tag:yaml.org,2002:merge"

struct mframe {
	int node;	   /* a mapping being resolved */
	size_t pair, item; /* its next pair to look at, item in that one */
};

struct merge {
	struct oci_yaml *y;
	struct err *err;
	const struct oci_yaml_limits *lim;
	yaml_document_t *doc;
	unsigned char *state; /* per node: 0 new, 1 being resolved, 2 done */
	struct mframe *stack;
	size_t sp, stack_cap;
	size_t work; /* pairs the merges went through */
	/* the keys of the map merged alone last (`<<: *b`), kept for the
	 * next map that merges it alone: sorted, and per pair of it whether
	 * an earlier pair has its key */
	int src_node; /* 0: none */
	struct oci_keysort *src_keys;
	unsigned char *src_dup;
};

static int is_merge_key(const yaml_node_t *k)
{
	if (!k || k->type != YAML_SCALAR_NODE)
		return 0;
	if (k->tag && !strcmp((const char *)k->tag, MERGE_TAG))
		return 1;
	return k->data.scalar.style == YAML_PLAIN_SCALAR_STYLE &&
	       k->data.scalar.length == 2 &&
	       !memcmp(k->data.scalar.value, "<<", 2);
}

static yaml_node_t *mnode(struct merge *m, int idx)
{
	return yaml_document_get_node(m->doc, idx);
}

static int merge_fail(struct merge *m, const yaml_node_t *n, const char *fmt,
		      const char *kind)
{
	return fail_at(m->y, m->err, ERR_INVALID, n->start_mark.line + 1,
		       n->start_mark.column + 1, fmt, kind);
}

/* The next map to merge into f's, past f's cursor: its index, 0 when
 * there is none left, or an error for a merge key's value that is not a
 * map or a list of maps. */
static int merge_next(struct merge *m, struct mframe *f, int *src)
{
	yaml_node_t *map = mnode(m, f->node);
	yaml_node_pair_t *pairs = map->data.mapping.pairs.start;
	size_t n = oci_yaml_map_len(map);

	*src = 0;
	for (; f->pair < n; f->pair++, f->item = 0) {
		yaml_node_t *v = mnode(m, pairs[f->pair].value);

		if (!is_merge_key(mnode(m, pairs[f->pair].key)))
			continue;
		if (v && v->type == YAML_MAPPING_NODE && !f->item) {
			f->item = 1;
			*src = pairs[f->pair].value;
			return 0;
		}
		if (v && v->type == YAML_MAPPING_NODE)
			continue;
		if (!v || v->type != YAML_SEQUENCE_NODE)
			return merge_fail(m, v ? v : map,
					  "YAML: the merge key << needs a "
					  "map or a list of maps, found %s",
					  oci_yaml_kind(v));
		if (f->item < oci_yaml_seq_len(v)) {
			yaml_node_t *it =
			    mnode(m, v->data.sequence.items.start[f->item]);

			if (!it || it->type != YAML_MAPPING_NODE)
				return merge_fail(
				    m, it ? it : v,
				    "YAML: the merge key << needs maps, "
				    "its list holds %s",
				    oci_yaml_kind(it));
			*src = v->data.sequence.items.start[f->item++];
			return 0;
		}
	}
	return 0;
}

/* Candidate pair at position pos (of the merged map's own pairs, then
 * those merged in, in order) as a key to sort: a scalar key by its bytes,
 * any other node by its index (equal only to itself, as an alias). */
static struct oci_keysort pair_key(struct merge *m, int key, size_t pos)
{
	yaml_node_t *k = mnode(m, key);

	if (k && k->type == YAML_SCALAR_NODE)
		return (struct oci_keysort){k->data.scalar.value,
					    k->data.scalar.length, pos};
	return (struct oci_keysort){NULL, (size_t)key, pos};
}

/* Count what merging would bring into map, against the cap. */
static int merge_size(struct merge *m, yaml_node_t *map, size_t *own,
		      size_t *total, int *any)
{
	yaml_node_pair_t *pairs = map->data.mapping.pairs.start;
	size_t n = oci_yaml_map_len(map);

	*own = *total = 0;
	*any = 0;
	for (size_t i = 0; i < n; i++) {
		yaml_node_t *v = mnode(m, pairs[i].value);

		if (!is_merge_key(mnode(m, pairs[i].key))) {
			++*own;
			continue;
		}
		*any = 1;
		if (v->type == YAML_MAPPING_NODE)
			*total = sat_add(*total, oci_yaml_map_len(v));
		else
			for (size_t j = 0; j < oci_yaml_seq_len(v); j++)
				*total = sat_add(
				    *total,
				    oci_yaml_map_len(mnode(
					m, v->data.sequence.items.start[j])));
	}
	if (!*any)
		return 0;
	*total = sat_add(*total, *own);
	m->work = sat_add(m->work, *total);
	if (over(m->work, m->lim->expand_max))
		return fail_at(m->y, m->err, ERR_TOO_LARGE,
			       map->start_mark.line + 1,
			       map->start_mark.column + 1,
			       "more than %zu YAML map entries once merge keys "
			       "(<<) are resolved",
			       m->lim->expand_max);
	return 0;
}

static void add_pairs(yaml_node_pair_t *cand, size_t *n, const yaml_node_t *src)
{
	for (size_t i = 0; i < oci_yaml_map_len(src); i++)
		cand[(*n)++] = src->data.mapping.pairs.start[i];
}

/* The one map merged into map (`<<: *b` or `<<: [*b]`), or 0. */
static int merge_single(struct merge *m, const yaml_node_t *map)
{
	yaml_node_pair_t *pairs = map->data.mapping.pairs.start;
	size_t count = 0;
	int one = 0;

	for (size_t i = 0; i < oci_yaml_map_len(map) && count < 2; i++) {
		yaml_node_t *v = mnode(m, pairs[i].value);

		if (!is_merge_key(mnode(m, pairs[i].key)))
			continue;
		if (v->type == YAML_MAPPING_NODE) {
			one = pairs[i].value;
			count++;
		} else if (oci_yaml_seq_len(v)) {
			one = v->data.sequence.items.start[0];
			count += oci_yaml_seq_len(v);
		}
	}
	return count == 1 ? one : 0;
}

/* Index src's keys into m->src_* unless they are there already. A merged
 * map is resolved before it is merged and never rewritten after, so what
 * is kept stays right. */
static int merge_index_source(struct merge *m, int src)
{
	yaml_node_t *map = mnode(m, src);
	size_t n = oci_yaml_map_len(map);

	if (m->src_node == src)
		return 0;
	free(m->src_keys);
	free(m->src_dup);
	m->src_node = 0;
	m->src_keys = malloc((n ? n : 1) * sizeof(*m->src_keys));
	m->src_dup = calloc(n ? n : 1, 1);
	if (!m->src_keys || !m->src_dup)
		return fail_at(m->y, m->err, ERR_FAIL, 0, 0, "out of memory");
	for (size_t i = 0; i < n; i++)
		m->src_keys[i] =
		    pair_key(m, map->data.mapping.pairs.start[i].key, i);
	oci_keysort_sort(m->src_keys, n);
	for (size_t i = 1; i < n; i++)
		if (oci_keysort_eq(&m->src_keys[i - 1], &m->src_keys[i]))
			m->src_dup[m->src_keys[i].id] = 1;
	m->src_node = src;
	return 0;
}

/* Rewrite map's pairs once the maps it merges are resolved. The map's own
 * keys win; a merged pair is kept when no pair before it (own, or merged
 * earlier) has its key. Equal keys are found by sorting, so the worst
 * case is O(n log n) whatever the keys. */
static int merge_apply(struct merge *m, yaml_node_t *map)
{
	yaml_node_pair_t *pairs = map->data.mapping.pairs.start, *out;
	size_t n = oci_yaml_map_len(map), own, total, k = 0, c = 0;
	struct oci_keysort *ks;
	unsigned char *drop;
	int any, rc, src;

	if ((rc = merge_size(m, map, &own, &total, &any)) || !any)
		return rc;
	if (total > SIZE_MAX / sizeof(*ks))
		return fail_at(m->y, m->err, ERR_FAIL, 0, 0, "out of memory");
	out = malloc((total ? total : 1) * sizeof(*out));
	ks = malloc((total ? total : 1) * sizeof(*ks));
	drop = calloc(total ? total : 1, 1);
	if (!out || !ks || !drop) {
		free(out);
		free(ks);
		free(drop);
		return fail_at(m->y, m->err, ERR_FAIL, 0, 0, "out of memory");
	}
	/* the candidates in order: own pairs (duplicates among them stay as
	 * written), then each merged map's */
	for (size_t i = 0; i < n; i++)
		if (!is_merge_key(mnode(m, pairs[i].key)))
			out[c++] = pairs[i];
	if ((src = merge_single(m, map))) {
		/* the usual `<<: *b`, often of one b into many maps: b's keys
		 * are sorted once, and each map sorts only its own */
		const yaml_node_t *b = mnode(m, src);

		if ((rc = merge_index_source(m, src))) {
			free(out);
			free(ks);
			free(drop);
			return rc;
		}
		for (size_t i = 0; i < c; i++)
			ks[i] = pair_key(m, out[i].key, i);
		oci_keysort_sort(ks, c);
		k = c;
		for (size_t i = 0; i < oci_yaml_map_len(b); i++) {
			yaml_node_pair_t p = b->data.mapping.pairs.start[i];
			struct oci_keysort key = pair_key(m, p.key, 0);

			if (!m->src_dup[i] &&
			    !oci_keysort_find(ks, c, key.key, key.len))
				out[k++] = p;
		}
		goto done;
	}
	for (size_t i = 0; i < n; i++) {
		yaml_node_t *v = mnode(m, pairs[i].value);

		if (!is_merge_key(mnode(m, pairs[i].key)))
			continue;
		if (v->type == YAML_MAPPING_NODE)
			add_pairs(out, &c, v);
		else
			for (size_t j = 0; j < oci_yaml_seq_len(v); j++)
				add_pairs(
				    out, &c,
				    mnode(m, v->data.sequence.items.start[j]));
	}
	for (size_t i = 0; i < c; i++)
		ks[i] = pair_key(m, out[i].key, i);
	oci_keysort_sort(ks, c);
	for (size_t i = 1; i < c; i++)
		if (ks[i].id >= own && oci_keysort_eq(&ks[i - 1], &ks[i]))
			drop[ks[i].id] = 1;
	for (size_t i = 0; i < c; i++)
		if (!drop[i])
			out[k++] = out[i];
done:
	free(ks);
	free(drop);
	free(pairs);
	map->data.mapping.pairs.start = out;
	map->data.mapping.pairs.top = out + k;
	map->data.mapping.pairs.end = out + (total ? total : 1);
	return 0;
}

/* Resolve the map at idx and, first, every map it merges. */
static int merge_resolve(struct merge *m, int idx)
{
	int rc;

	m->sp = 0;
	m->state[idx] = 1;
	if (OCI_VEC_RESERVE(m->stack, m->sp, m->stack_cap, 1, 0))
		return fail_at(m->y, m->err, ERR_FAIL, 0, 0, "out of memory");
	m->stack[m->sp++] = (struct mframe){idx, 0, 0};
	while (m->sp) {
		struct mframe *f = &m->stack[m->sp - 1];
		int src;

		if ((rc = merge_next(m, f, &src)))
			return rc;
		if (!src) {
			if ((rc = merge_apply(m, mnode(m, f->node))))
				return rc;
			m->state[f->node] = 2;
			m->sp--;
			continue;
		}
		if (m->state[src] == 2)
			continue;
		if (m->state[src] == 1) /* the first pass refuses cycles */
			return merge_fail(m, mnode(m, src),
					  "YAML: a map merges itself%s", "");
		m->state[src] = 1;
		if (OCI_VEC_RESERVE(m->stack, m->sp, m->stack_cap, 1, 0))
			return fail_at(m->y, m->err, ERR_FAIL, 0, 0,
				       "out of memory");
		m->stack[m->sp++] = (struct mframe){src, 0, 0};
	}
	return 0;
}

static int merge_keys(struct oci_yaml *y, const struct oci_yaml_limits *lim,
		      struct err *err)
{
	struct merge m = {.y = y, .err = err, .lim = lim, .doc = &y->doc};
	size_t n = (size_t)(y->doc.nodes.top - y->doc.nodes.start);
	int rc = 0;

	m.state = calloc(n + 1, 1);
	if (!m.state)
		rc = fail_at(y, err, ERR_FAIL, 0, 0, "out of memory");
	for (size_t i = 1; i <= n && !rc; i++)
		if (mnode(&m, (int)i)->type == YAML_MAPPING_NODE && !m.state[i])
			rc = merge_resolve(&m, (int)i);
	free(m.state);
	free(m.stack);
	free(m.src_keys);
	free(m.src_dup);
	return rc;
}

int oci_yaml_load(struct oci_yaml *y, const char *name, const void *data,
		  size_t len, const struct oci_yaml_limits *lim,
		  struct err *err)
{
	static const struct oci_yaml_limits defaults = OCI_YAML_LIMITS_DEFAULT;
	yaml_parser_t p;
	int rc = 0;

	memset(y, 0, sizeof(*y));
	y->name = name;
	y->data = data;
	y->len = len;
	if (!lim)
		lim = &defaults;
	if (over(len, lim->input_max))
		return fail_at(y, err, ERR_TOO_LARGE, 0, 0,
			       "larger than %zu bytes", lim->input_max);
	if ((rc = count_first(y, lim, err)))
		return rc;
	/* the parser goes as soon as the tree is built: oci_yaml_expect_end
	 * reads the input again, so a kept document costs only its tree */
	if (!yaml_parser_initialize(&p))
		return fail_at(y, err, ERR_FAIL, 0, 0, "out of memory");
	yaml_parser_set_input_string(&p, y->data, len);
	if (!yaml_parser_load(&p, &y->doc))
		rc = parser_fail(y, &p, err);
	yaml_parser_delete(&p);
	if (rc)
		return rc;
	if ((rc = merge_keys(y, lim, err))) {
		yaml_document_delete(&y->doc);
		return rc;
	}
	y->has_doc = y->loaded = 1;
	return 0;
}

/* An event that begins a node. */
static int is_node_event(const yaml_event_t *ev)
{
	return ev->type == YAML_SCALAR_EVENT ||
	       ev->type == YAML_SEQUENCE_START_EVENT ||
	       ev->type == YAML_MAPPING_START_EVENT ||
	       ev->type == YAML_ALIAS_EVENT;
}

int oci_yaml_expect_end(struct oci_yaml *y, struct err *err)
{
	yaml_parser_t p;
	yaml_event_t ev;
	int rc = 0, past_first = 0;

	if (!y->loaded)
		return fail_at(y, err, ERR_FAIL, 0, 0, "no document loaded");
	/* the first document loaded without error: its events come again */
	if (!yaml_parser_initialize(&p))
		return fail_at(y, err, ERR_FAIL, 0, 0, "out of memory");
	yaml_parser_set_input_string(&p, y->data, y->len);
	for (;;) {
		if (!yaml_parser_parse(&p, &ev)) {
			rc = parser_fail(y, &p, err);
			break;
		}
		if (ev.type == YAML_STREAM_END_EVENT ||
		    ev.type == YAML_NO_EVENT) {
			yaml_event_delete(&ev);
			break;
		}
		if (ev.type == YAML_DOCUMENT_END_EVENT)
			past_first = 1;
		else if (past_first && is_node_event(&ev)) {
			rc =
			    fail_at(y, err, ERR_INVALID, ev.start_mark.line + 1,
				    ev.start_mark.column + 1,
				    "a second YAML document; only one "
				    "allowed");
			yaml_event_delete(&ev);
			break;
		}
		yaml_event_delete(&ev);
	}
	yaml_parser_delete(&p);
	return rc;
}

void oci_yaml_release(struct oci_yaml *y)
{
	if (y->has_doc)
		yaml_document_delete(&y->doc);
	memset(y, 0, sizeof(*y));
}

yaml_node_t *oci_yaml_root(struct oci_yaml *y)
{
	return y->has_doc ? yaml_document_get_root_node(&y->doc) : NULL;
}

yaml_node_t *oci_yaml_node(struct oci_yaml *y, int idx)
{
	return y->has_doc ? yaml_document_get_node(&y->doc, idx) : NULL;
}

yaml_node_t *oci_yaml_map_get(yaml_document_t *doc, const yaml_node_t *map,
			      const char *key, yaml_node_t **key_out,
			      size_t *scanned_out)
{
	size_t klen = strlen(key);

	if (key_out)
		*key_out = NULL;
	if (!map || map->type != YAML_MAPPING_NODE)
		return NULL;
	for (yaml_node_pair_t *pr = map->data.mapping.pairs.start;
	     pr < map->data.mapping.pairs.top; pr++) {
		yaml_node_t *k = yaml_document_get_node(doc, pr->key);

		if (scanned_out)
			(*scanned_out)++;
		if (!k || k->type != YAML_SCALAR_NODE ||
		    k->data.scalar.length != klen ||
		    memcmp(k->data.scalar.value, key, klen))
			continue;
		if (key_out)
			*key_out = k;
		return yaml_document_get_node(doc, pr->value);
	}
	return NULL;
}

const char *oci_yaml_map_str(yaml_document_t *doc, const yaml_node_t *map,
			     const char *key)
{
	const char *s =
	    oci_yaml_scalar(oci_yaml_map_get(doc, map, key, NULL, NULL));

	return s && *s ? s : NULL;
}

const char *oci_yaml_scalar(const yaml_node_t *n)
{
	return n && n->type == YAML_SCALAR_NODE
		   ? (const char *)n->data.scalar.value
		   : NULL;
}

int oci_yaml_is_plain(const yaml_node_t *n)
{
	return n && n->type == YAML_SCALAR_NODE &&
	       n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
}

int oci_yaml_is_null(const yaml_node_t *n)
{
	static const char *const nulls[] = {"", "~", "null", "Null", "NULL"};

	if (!oci_yaml_is_plain(n))
		return 0;
	for (size_t i = 0; i < sizeof(nulls) / sizeof(nulls[0]); i++)
		if (!strcmp(oci_yaml_scalar(n), nulls[i]))
			return 1;
	return 0;
}

const char *oci_yaml_kind(const yaml_node_t *n)
{
	if (n && n->type == YAML_SEQUENCE_NODE)
		return "a list";
	if (n && n->type == YAML_MAPPING_NODE)
		return "a map";
	if (!n || oci_yaml_is_null(n))
		return "nothing";
	return "a string";
}

size_t oci_yaml_seq_len(const yaml_node_t *n)
{
	if (!n || n->type != YAML_SEQUENCE_NODE)
		return 0;
	return (size_t)(n->data.sequence.items.top -
			n->data.sequence.items.start);
}

size_t oci_yaml_map_len(const yaml_node_t *n)
{
	if (!n || n->type != YAML_MAPPING_NODE)
		return 0;
	return (size_t)(n->data.mapping.pairs.top -
			n->data.mapping.pairs.start);
}
