/* libFuzzer target: oci_yaml_load on arbitrary bytes under small caps. A
 * failure must carry a known code and a one-line message; a loaded
 * document, walked with every alias expanded, must stay within the caps
 * the loader promised (so the first pass counts exactly what a walker
 * will see, and no cycle gets through) and holds no merge key (<<) left
 * unresolved. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "oci/yaml.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const struct oci_yaml_limits lim = {4096, 20, 300, 2000, 50};

static void walk(yaml_document_t *d, yaml_node_t *n, size_t depth,
		 size_t *count)
{
	if (!n)
		abort();
	if (++*count > lim.expand_max)
		abort(); /* more than the loader let through */
	if (n->type == YAML_SCALAR_NODE)
		return;
	if (depth + 1 > lim.depth_max)
		abort();
	if (n->type == YAML_SEQUENCE_NODE)
		for (yaml_node_item_t *it = n->data.sequence.items.start;
		     it < n->data.sequence.items.top; it++)
			walk(d, yaml_document_get_node(d, *it), depth + 1,
			     count);
	else
		for (yaml_node_pair_t *p = n->data.mapping.pairs.start;
		     p < n->data.mapping.pairs.top; p++) {
			yaml_node_t *k = yaml_document_get_node(d, p->key);

			/* every merge key was resolved by the load */
			if (k && oci_yaml_is_plain(k) &&
			    !strcmp(oci_yaml_scalar(k), "<<"))
				abort();
			walk(d, yaml_document_get_node(d, p->key), depth + 1,
			     count);
			walk(d, yaml_document_get_node(d, p->value), depth + 1,
			     count);
		}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct oci_yaml y;
	struct err err;
	yaml_node_t *root;
	size_t count = 0;
	int rc;

	rc = oci_yaml_load(&y, "f.yaml", data, size, &lim, &err);
	if (rc) {
		if (rc != ERR_INVALID && rc != ERR_TOO_LARGE && rc != ERR_FAIL)
			abort();
		if (strchr(err.msg, '\n') || strncmp(err.msg, "f.yaml:", 7))
			abort();
		oci_yaml_release(&y);
		return 0;
	}
	if ((size_t)(y.doc.nodes.top - y.doc.nodes.start) > lim.nodes_max)
		abort();
	root = oci_yaml_root(&y);
	if (root)
		walk(&y.doc, root, 0, &count);
	rc = oci_yaml_expect_end(&y, &err);
	if (rc && rc != ERR_INVALID && rc != ERR_FAIL)
		abort();
	oci_yaml_release(&y);
	return 0;
}
