/* Private to mirror/margo/chart.c and compose.c: the libyaml helpers they
 * share (moved verbatim from images.c). To be replaced by the one oci/yaml
 * reader; nothing outside mirror/margo includes this. */
#ifndef MIRROR_MARGO_YAMLUTIL_H
#define MIRROR_MARGO_YAMLUTIL_H

#include <string.h>
#include <yaml.h>

#include "mirror/margo/images.h"
#include "oci/err.h"

#define YAML_NODES_MAX 200000 /* per document */

struct ydoc {
	yaml_document_t doc;
	size_t visits;
};

static inline int ydoc_load(struct ydoc *y, const char *text, size_t len,
			    const char *file, struct err *err)
{
	yaml_parser_t parser;
	int rc = 0;

	memset(y, 0, sizeof(*y));
	if (len > MARGO_YAML_MAX)
		return err_set(err, ERR_TOO_LARGE, "%s is larger than %u bytes",
			       file, MARGO_YAML_MAX);
	if (!yaml_parser_initialize(&parser))
		return err_set(err, ERR_FAIL, "out of memory");
	yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
	if (!yaml_parser_load(&parser, &y->doc))
		rc = err_set(err, ERR_INVALID, "%s:%zu:%zu: YAML: %s", file,
			     parser.problem_mark.line + 1,
			     parser.problem_mark.column + 1,
			     parser.problem ? parser.problem : "syntax error");
	else if (y->doc.nodes.top - y->doc.nodes.start > YAML_NODES_MAX) {
		yaml_document_delete(&y->doc);
		rc = err_set(err, ERR_TOO_LARGE, "%s: more than %d YAML nodes",
			     file, YAML_NODES_MAX);
	}
	yaml_parser_delete(&parser);
	return rc;
}

static inline const char *scalar(const yaml_node_t *n)
{
	return n && n->type == YAML_SCALAR_NODE
		   ? (const char *)n->data.scalar.value
		   : NULL;
}

static inline yaml_node_t *map_get(yaml_document_t *d, const yaml_node_t *m,
				   const char *key)
{
	if (!m || m->type != YAML_MAPPING_NODE)
		return NULL;
	for (yaml_node_pair_t *p = m->data.mapping.pairs.start;
	     p < m->data.mapping.pairs.top; p++) {
		const char *k = scalar(yaml_document_get_node(d, p->key));

		if (k && !strcmp(k, key))
			return yaml_document_get_node(d, p->value);
	}
	return NULL;
}

static inline const char *map_str(yaml_document_t *d, const yaml_node_t *m,
				  const char *key)
{
	const char *s = scalar(map_get(d, m, key));

	return s && *s ? s : NULL;
}

#endif
