/* The one YAML reader: libyaml's document API behind caps, plus the lookups
 * every walker needs.
 *
 * oci_yaml_load reads the first document of a buffer in two passes over
 * libyaml's event parser: the first counts and refuses what is over a cap
 * before anything is built, the second is yaml_parser_load. The caps
 * (struct oci_yaml_limits, defaults OCI_YAML_LIMITS_DEFAULT):
 *
 *   input_max   bytes of input                        (1 MiB)
 *   depth_max   sequences and mappings open at once    (1000, libyaml's
 *               own later default)
 *   nodes_max   nodes in the document, each node once  (200,000)
 *   expand_max  nodes of the tree with every alias     (10,000,000)
 *               expanded where it is used: a "billion laughs" document
 *               of a few hundred bytes stops here while it is read
 *   anchors_max anchors defined in the document           (1000)
 *               libyaml's loader looks each alias up by a linear scan
 *               of the anchors, so their number is capped before it runs
 *
 * libyaml's loader finds each alias's anchor by comparing it with every
 * anchor defined before it; the first pass adds up those comparisons
 * (anchor's place in definition order, times 1 + the alias's length / 16)
 * and refuses more than OCI_YAML_LOOKUPS_MAX (50 million, a fixed cap, not
 * a field): a file of a thousand anchors and a million aliases to the
 * last one cost seconds before.
 *
 * Merge keys (YAML 1.1's <<) are resolved by the load, for every reader:
 * `<<: *a` or `<<: {..}` merges one map, `<<: [*a, *b]` several. A map
 * holding merge keys gets a new pairs array: its own pairs in the order
 * written (merge keys left out, duplicates among them kept as libyaml
 * keeps them), then each merged map's pairs, in the order of the merges,
 * whose key is not there yet: keys written in the map win, and of the
 * merged maps the earlier wins. A merged map's own merges are resolved
 * first. Keys are compared as scalars, by their bytes (a hash set, so a
 * wide map costs no more than its size); a non-scalar key only equals
 * itself. Walkers and lookups see merged maps as if written out; the
 * merged map itself is unchanged. A << key is plain (unquoted) or tagged
 * !!merge: "<<" quoted is an ordinary key. A merge of anything but a map
 * or a list of maps is ERR_INVALID "YAML: the merge key << needs ..." at
 * the value (for an alias: at its anchor's node). Merged pairs are counted
 * against expand_max ("more than N YAML map entries once merge keys (<<)
 * are resolved", ERR_TOO_LARGE); every merged pair comes from a node the
 * first pass counted with aliases expanded, so a merge bomb (nested merges
 * that multiply) stops there first, while it is read.
 *
 * An alias to a node that contains it (a cycle) is refused outright. A
 * limit of 0 means "no cap" for that count, except anchors_max: 0 there
 * is the default (1000), so a limits struct written without the field
 * still caps anchors; SIZE_MAX lifts that cap.
 *
 * Errors: a cap is ERR_TOO_LARGE, a syntax error (libyaml's problem and
 * context, bad UTF-8, an undefined alias, a cycle) ERR_INVALID, out of
 * memory ERR_FAIL. The message is one line, "NAME:LINE:COLUMN: what"
 * (1-based) when NAME is given, else just "what"; either way the position
 * is also left in y->line and y->column (0 when the failure has no place,
 * like the input cap or memory).
 *
 * Ownership: struct oci_yaml is caller-owned. A failed oci_yaml_load holds
 * nothing (only name, line and column are set); after a successful one
 * call oci_yaml_release once. No libyaml parser is kept past the load:
 * oci_yaml_expect_end parses data again from its start. Nodes and scalar
 * strings handed out point into y->doc and live until then; a caller may take
 * y->doc over (copy it and clear has_doc) and yaml_document_delete it itself.
 * The lookups work on any libyaml document (y->doc or another), never allocate
 * and never fail: a wrong kind or a missing key is NULL. Names here are
 * oci_yaml_*; libyaml's own yaml_* names are not shadowed. */
#ifndef OCI_YAML_H
#define OCI_YAML_H

#include <stddef.h>
#include <yaml.h>

#include "oci/err.h"

struct oci_yaml_limits {
	size_t input_max;
	size_t depth_max;
	size_t nodes_max;
	size_t expand_max;
	size_t anchors_max; /* 0: OCI_YAML_ANCHORS_MAX, not "no cap" */
};

#define OCI_YAML_INPUT_MAX (1024 * 1024)
#define OCI_YAML_DEPTH_MAX 1000
#define OCI_YAML_NODES_MAX 200000
#define OCI_YAML_EXPAND_MAX 10000000
#define OCI_YAML_ANCHORS_MAX 1000
#define OCI_YAML_LOOKUPS_MAX 50000000 /* alias-to-anchor comparisons */
#define OCI_YAML_LIMITS_DEFAULT                                                \
	{                                                                      \
		OCI_YAML_INPUT_MAX, OCI_YAML_DEPTH_MAX, OCI_YAML_NODES_MAX,    \
		    OCI_YAML_EXPAND_MAX, OCI_YAML_ANCHORS_MAX                  \
	}

struct oci_yaml {
	yaml_document_t doc;
	int loaded; /* a load succeeded: oci_yaml_expect_end may read data */
	const char *name; /* for messages, not owned; may be NULL */
	const unsigned char *data;
	size_t len;
	size_t line, column; /* of the last failure, 1-based; 0: none */
	int has_doc;
};

/* Load the first document of data[0..len). lim NULL: the defaults. name
 * (may be NULL) and data must stay valid while oci_yaml_expect_end may
 * still be called; the struct itself may be moved (it holds no pointer to
 * itself). A stream with no document at all loads
 * as an empty document: oci_yaml_root is NULL. */
int oci_yaml_load(struct oci_yaml *y, const char *name, const void *data,
		  size_t len, const struct oci_yaml_limits *lim,
		  struct err *err);
/* 0 when nothing but comments follows the first document; ERR_INVALID
 * "a second YAML document; only one allowed" at its first node, or the
 * syntax error met on the way. */
int oci_yaml_expect_end(struct oci_yaml *y, struct err *err);
void oci_yaml_release(struct oci_yaml *y);

yaml_node_t *oci_yaml_root(struct oci_yaml *y);
/* The node at a libyaml index (a pair's key or value, a sequence item),
 * NULL when out of range. */
yaml_node_t *oci_yaml_node(struct oci_yaml *y, int idx);

/* The value under key (compared as bytes, whole length) in map, NULL when
 * map is NULL, not a mapping, or lacks the key; *key_out (optional) is
 * the key node. *scanned_out (optional) grows by the pairs compared, for
 * walkers that budget their work. First match wins. */
yaml_node_t *oci_yaml_map_get(yaml_document_t *doc, const yaml_node_t *map,
			      const char *key, yaml_node_t **key_out,
			      size_t *scanned_out);
/* Scalar value of map[key] when it is a non-empty scalar, else NULL. */
const char *oci_yaml_map_str(yaml_document_t *doc, const yaml_node_t *map,
			     const char *key);

/* n's text when it is a scalar (NUL-terminated; may hold NULs before
 * n->data.scalar.length), else NULL. n may be NULL. */
const char *oci_yaml_scalar(const yaml_node_t *n);
/* An unquoted scalar. */
int oci_yaml_is_plain(const yaml_node_t *n);
/* YAML's null: an unquoted "", "~", "null", "Null" or "NULL". */
int oci_yaml_is_null(const yaml_node_t *n);
/* For messages: "a list", "a map", "nothing" (null) or "a string". */
const char *oci_yaml_kind(const yaml_node_t *n);
/* Items of a sequence, pairs of a mapping; 0 for any other node. */
size_t oci_yaml_seq_len(const yaml_node_t *n);
size_t oci_yaml_map_len(const yaml_node_t *n);

#endif
