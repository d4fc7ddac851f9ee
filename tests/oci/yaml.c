#include <criterion/criterion.h>
#include <malloc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "oci/yaml.h"

static struct oci_yaml y;
static struct err err;

static void teardown(void)
{
	oci_yaml_release(&y);
}

TestSuite(oci_yaml, .fini = teardown);

static int load(const char *s, const struct oci_yaml_limits *lim)
{
	return oci_yaml_load(&y, "t.yaml", s, strlen(s), lim, &err);
}

Test(oci_yaml, loads_a_map_and_looks_up_keys)
{
	yaml_node_t *root, *k, *v;
	size_t scanned = 0;

	cr_assert_eq(load("a: 1\nb: [x, y]\nc: ~\nd: 'null'\n", NULL), 0, "%s",
		     err.msg);
	root = oci_yaml_root(&y);
	cr_assert_not_null(root);
	cr_expect_eq(oci_yaml_map_len(root), 4);
	v = oci_yaml_map_get(&y.doc, root, "b", &k, &scanned);
	cr_assert_not_null(v);
	cr_expect_str_eq(oci_yaml_scalar(k), "b");
	cr_expect_eq(scanned, 2);
	cr_expect_eq(oci_yaml_seq_len(v), 2);
	cr_expect_str_eq(oci_yaml_kind(v), "a list");
	cr_expect_str_eq(oci_yaml_kind(root), "a map");
	cr_expect_str_eq(oci_yaml_map_str(&y.doc, root, "a"), "1");
	cr_expect(
	    oci_yaml_is_null(oci_yaml_map_get(&y.doc, root, "c", NULL, NULL)));
	v = oci_yaml_map_get(&y.doc, root, "d", NULL, NULL);
	cr_expect(!oci_yaml_is_null(v), "a quoted 'null' is a string");
	cr_expect_str_eq(oci_yaml_kind(v), "a string");
	cr_expect_null(oci_yaml_map_get(&y.doc, root, "zz", NULL, NULL));
	cr_expect_null(oci_yaml_map_get(&y.doc, v, "a", NULL, NULL));
	cr_expect_null(oci_yaml_scalar(root));
	cr_expect_eq(oci_yaml_expect_end(&y, &err), 0, "%s", err.msg);
}

Test(oci_yaml, empty_stream_has_no_root)
{
	cr_assert_eq(load("# nothing\n", NULL), 0, "%s", err.msg);
	cr_expect_null(oci_yaml_root(&y));
	cr_expect_eq(oci_yaml_expect_end(&y, &err), 0, "%s", err.msg);
	cr_expect_eq(oci_yaml_expect_end(&y, &err), 0, "%s", err.msg);
}

Test(oci_yaml, syntax_error_names_line_and_column)
{
	cr_assert_eq(load("a: [1, 2\n", NULL), ERR_INVALID);
	cr_expect_eq(y.line, 2);
	cr_expect_eq(y.column, 1);
	cr_expect(strncmp(err.msg, "t.yaml:2:1: YAML: did not find expected",
			  39) == 0,
		  "%s", err.msg);
	cr_expect_null(oci_yaml_root(&y));
}

Test(oci_yaml, bad_utf8_is_placed_from_its_offset)
{
	cr_assert_eq(load("a: 1\n# \xff\n", NULL), ERR_INVALID);
	cr_expect_str_eq(err.msg, "t.yaml:2:3: YAML: invalid leading UTF-8 "
				  "octet");
}

Test(oci_yaml, no_name_means_no_prefix)
{
	cr_assert_eq(oci_yaml_load(&y, NULL, "[", 1, NULL, &err), ERR_INVALID);
	cr_expect(strncmp(err.msg, "YAML: ", 6) == 0, "%s", err.msg);
	cr_expect_eq(y.line, 2);
}

Test(oci_yaml, second_document_is_refused_at_its_first_node)
{
	cr_assert_eq(load("a: 1\n---\nb: 2\n", NULL), 0, "%s", err.msg);
	cr_expect_eq(oci_yaml_expect_end(&y, &err), ERR_INVALID);
	cr_expect_str_eq(err.msg, "t.yaml:3:1: a second YAML document; only "
				  "one allowed");
}

Test(oci_yaml, oversize_input_is_refused_before_parsing)
{
	struct oci_yaml_limits lim = {16, 0, 0, 0, 0};

	cr_assert_eq(load("a: 1\nb: 2\nc: 3\nd: 4\n", &lim), ERR_TOO_LARGE);
	cr_expect_str_eq(err.msg, "t.yaml: larger than 16 bytes");
	cr_expect_eq(y.line, 0);
	lim.input_max = 0; /* no cap */
	cr_expect_eq(load("a: 1\nb: 2\nc: 3\nd: 4\n", &lim), 0);
}

Test(oci_yaml, default_input_cap_is_one_mebibyte)
{
	size_t n = OCI_YAML_INPUT_MAX + 1;
	char *big = malloc(n);

	cr_assert_not_null(big);
	memset(big, '#', n);
	cr_expect_eq(oci_yaml_load(&y, "big", big, n, NULL, &err),
		     ERR_TOO_LARGE);
	cr_expect_str_eq(err.msg, "big: larger than 1048576 bytes");
	free(big);
}

Test(oci_yaml, deep_nesting_stops_at_the_depth_cap)
{
	size_t depth = 5000;
	char *s = malloc(2 * depth + 2);

	cr_assert_not_null(s);
	memset(s, '[', depth);
	memset(s + depth, ']', depth);
	s[2 * depth] = '\0';
	cr_assert_eq(load(s, NULL), ERR_TOO_LARGE);
	cr_expect_str_eq(err.msg,
			 "t.yaml:1:1001: YAML nested deeper than 1000 levels");
	cr_expect_null(oci_yaml_root(&y));
	free(s);
}

Test(oci_yaml, nesting_at_the_cap_loads)
{
	struct oci_yaml_limits lim = OCI_YAML_LIMITS_DEFAULT;

	lim.depth_max = 3;
	cr_expect_eq(load("[[[x]]]", &lim), 0, "%s", err.msg);
	oci_yaml_release(&y);
	cr_expect_eq(load("[[[[x]]]]", &lim), ERR_TOO_LARGE);
	cr_expect_str_eq(err.msg, "t.yaml:1:4: YAML nested deeper than 3 "
				  "levels");
}

Test(oci_yaml, node_count_stops_at_the_cap)
{
	struct oci_yaml_limits lim = OCI_YAML_LIMITS_DEFAULT;

	lim.nodes_max = 4;
	cr_expect_eq(load("[a, b, c]", &lim), 0, "%s", err.msg);
	oci_yaml_release(&y);
	cr_expect_eq(load("[a, b, c, d]", &lim), ERR_TOO_LARGE);
	cr_expect_str_eq(err.msg, "t.yaml:1:11: more than 4 YAML nodes");
}

/* Ten levels of ten aliases each: 10^10 nodes once expanded, from a few
 * hundred bytes of input. */
Test(oci_yaml, billion_laughs_stops_while_read)
{
	char s[2048];
	size_t off = 0;

	off += (size_t)snprintf(s + off, sizeof(s) - off, "a0: &a0 lol\n");
	for (int i = 1; i <= 10; i++) {
		off += (size_t)snprintf(s + off, sizeof(s) - off, "a%d: &a%d [",
					i, i);
		for (int j = 0; j < 10; j++)
			off += (size_t)snprintf(s + off, sizeof(s) - off,
						"%s*a%d", j ? ", " : "", i - 1);
		off += (size_t)snprintf(s + off, sizeof(s) - off, "]\n");
	}
	cr_assert_lt(off, sizeof(s) - 1);
	cr_assert_eq(load(s, NULL), ERR_TOO_LARGE);
	cr_expect(strstr(err.msg, "more than 10000000 YAML nodes (aliases "
				  "included)") != NULL,
		  "%s", err.msg);
	cr_expect(strncmp(err.msg, "t.yaml:8:", 9) == 0,
		  "stopped at level 7 (%s)", err.msg);
	cr_expect_null(oci_yaml_root(&y));
}

Test(oci_yaml, aliases_count_their_expanded_size)
{
	struct oci_yaml_limits lim = OCI_YAML_LIMITS_DEFAULT;

	/* a: 3 nodes (map, key, value) + key "a"; b + *a (3) = 4; top map 1 */
	lim.expand_max = 9;
	cr_expect_eq(load("a: &x {k: v}\nb: *x\n", &lim), 0, "%s", err.msg);
	oci_yaml_release(&y);
	lim.expand_max = 8;
	cr_expect_eq(load("a: &x {k: v}\nb: *x\n", &lim), ERR_TOO_LARGE);
	cr_expect_str_eq(err.msg, "t.yaml:2:4: more than 8 YAML nodes "
				  "(aliases included)");
}

Test(oci_yaml, alias_inside_its_own_node_is_refused)
{
	cr_assert_eq(load("p: &p [a, *p]\n", NULL), ERR_INVALID);
	cr_expect_str_eq(err.msg, "t.yaml:1:11: YAML: alias *p is inside the "
				  "node it refers to");
}

Test(oci_yaml, undefined_and_duplicate_anchors_are_libyamls_errors)
{
	cr_assert_eq(load("a: *nope\n", NULL), ERR_INVALID);
	cr_expect(strstr(err.msg, "t.yaml:1:4: YAML: found undefined alias") ==
		      err.msg,
		  "%s", err.msg);
	cr_assert_eq(load("a: &x 1\nb: &x 2\n", NULL), ERR_INVALID);
	cr_expect(strstr(err.msg, "duplicate anchor") != NULL, "%s", err.msg);
}

Test(oci_yaml, many_anchors_are_found_by_name)
{
	struct oci_yaml_limits lim = OCI_YAML_LIMITS_DEFAULT;
	size_t cap = 400000, off = 0;
	char *s = malloc(cap);
	yaml_node_t *v;

	cr_assert_not_null(s);
	for (int i = 0; i < 5000; i++)
		off += (size_t)snprintf(s + off, cap - off, "k%d: &a%d v%d\n",
					i, i, i);
	for (int i = 0; i < 5000; i++)
		off += (size_t)snprintf(s + off, cap - off, "r%d: *a%d\n", i,
					4999 - i);
	cr_assert_lt(off, cap);
	lim.anchors_max = 5000;
	cr_assert_eq(load(s, &lim), 0, "%s", err.msg);
	v = oci_yaml_map_get(&y.doc, oci_yaml_root(&y), "r10", NULL, NULL);
	cr_expect_str_eq(oci_yaml_scalar(v), "v4989");
	free(s);
}

/* n anchors, each used once: "k0: &a0 v\n..." then "r0: *a0\n...". */
static char *anchors_doc(int n)
{
	size_t cap = (size_t)n * 40 + 1, off = 0;
	char *s = malloc(cap);

	cr_assert_not_null(s);
	for (int i = 0; i < n; i++)
		off +=
		    (size_t)snprintf(s + off, cap - off, "k%d: &a%d v\n", i, i);
	for (int i = 0; i < n; i++)
		off +=
		    (size_t)snprintf(s + off, cap - off, "r%d: *a%d\n", i, i);
	cr_assert_lt(off, cap);
	return s;
}

/* libyaml's loader finds an alias's anchor by a linear scan: a 1 MB file
 * of 120,000 anchors took a minute. The first pass refuses past the cap,
 * at the first anchor over it, before the loader runs. */
Test(oci_yaml, anchors_stop_at_the_cap, .timeout = 5)
{
	char *s = anchors_doc(5000);

	cr_assert_eq(load(s, NULL), ERR_TOO_LARGE);
	cr_expect_str_eq(err.msg, "t.yaml:1001:8: more than 1000 YAML anchors");
	cr_expect_null(oci_yaml_root(&y));
	free(s);
	s = anchors_doc(500);
	cr_assert_eq(load(s, NULL), 0, "%s", err.msg);
	cr_expect_str_eq(oci_yaml_scalar(oci_yaml_map_get(
			     &y.doc, oci_yaml_root(&y), "r499", NULL, NULL)),
			 "v");
	free(s);
}

/* Limits built with designated initialisers that do not name anchors_max
 * leave it 0: that is the default cap, not "no cap"; SIZE_MAX lifts it. */
Test(oci_yaml, anchors_max_zero_is_the_default)
{
	struct oci_yaml_limits lim = {.input_max = OCI_YAML_INPUT_MAX,
				      .nodes_max = OCI_YAML_NODES_MAX};
	char *s = anchors_doc(1001);

	cr_assert_eq(lim.anchors_max, 0);
	cr_assert_eq(load(s, &lim), ERR_TOO_LARGE);
	cr_expect_str_eq(err.msg, "t.yaml:1001:8: more than 1000 YAML anchors");
	lim.anchors_max = SIZE_MAX;
	cr_expect_eq(load(s, &lim), 0, "%s", err.msg);
	oci_yaml_release(&y);
	lim.anchors_max = 1001;
	cr_expect_eq(load(s, &lim), 0, "%s", err.msg);
	oci_yaml_release(&y);
	lim.anchors_max = 1000;
	cr_expect_eq(load(s, &lim), ERR_TOO_LARGE);
	free(s);
}

/* A loaded document keeps its tree only: libyaml's parser (some 80 KiB of
 * buffers) goes when the load ends, and chart walks keep thousands. */
Test(oci_yaml, kept_documents_hold_no_parser)
{
	enum { N = 200 };
	static struct oci_yaml docs[N];
	struct mallinfo2 before = mallinfo2(), after;
	size_t grew;

	for (int i = 0; i < N; i++)
		cr_assert_eq(oci_yaml_load(&docs[i], "d.yaml", "a: [1, 2]\n",
					   10, NULL, &err),
			     0, "%s", err.msg);
	after = mallinfo2();
	grew =
	    (after.uordblks + after.hblkhd) - (before.uordblks + before.hblkhd);
	cr_expect_lt(grew, (size_t)N * 4096, "%zu bytes for %d documents", grew,
		     N);
	for (int i = 0; i < N; i++) {
		cr_expect_eq(oci_yaml_expect_end(&docs[i], &err), 0, "%s",
			     err.msg);
		oci_yaml_release(&docs[i]);
	}
}

Test(oci_yaml, expect_end_after_a_failed_load_or_release_is_refused)
{
	cr_assert_eq(load("a: [1, 2\n", NULL), ERR_INVALID);
	cr_expect_eq(oci_yaml_expect_end(&y, &err), ERR_FAIL);
	cr_expect_str_eq(err.msg, "t.yaml: no document loaded");
	cr_assert_eq(load("a: 1\n", NULL), 0, "%s", err.msg);
	oci_yaml_release(&y);
	cr_expect_eq(oci_yaml_expect_end(&y, &err), ERR_FAIL);
}

/* The document is loaded, its tree taken over by the caller: the end is
 * still checked from the input, the same as when the tree is kept. */
Test(oci_yaml, expect_end_reads_past_the_first_document_again)
{
	cr_assert_eq(load("a: &x 1\n...\n# c\n--- *x\n", NULL), 0, "%s",
		     err.msg);
	cr_expect_eq(oci_yaml_expect_end(&y, &err), ERR_INVALID);
	cr_expect_str_eq(err.msg, "t.yaml:4:5: a second YAML document; only "
				  "one allowed");
	oci_yaml_release(&y);
	cr_assert_eq(load("a: 1\n--- ]\n", NULL), 0, "%s", err.msg);
	cr_expect_eq(oci_yaml_expect_end(&y, &err), ERR_INVALID);
	cr_expect(strncmp(err.msg, "t.yaml:2:5: YAML: ", 18) == 0, "%s",
		  err.msg);
	oci_yaml_release(&y);
	cr_assert_eq(load("a: 1\n...\n# only a comment\n", NULL), 0, "%s",
		     err.msg);
	cr_expect_eq(oci_yaml_expect_end(&y, &err), 0, "%s", err.msg);
}
