/* oci/yaml: merge keys (<<) and the cost of aliases. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "oci/yaml.h"
#include "tests/oci/fnvcollide.h"

static struct oci_yaml y;
static struct err err;
static char *big;

static void teardown(void)
{
	oci_yaml_release(&y);
	free(big);
	big = NULL;
}

TestSuite(oci_yaml_merge, .fini = teardown);

static int load(const char *s)
{
	return oci_yaml_load(&y, "t.yaml", s, strlen(s), NULL, &err);
}

/* The node as flow YAML, aliases written out: {a: 1, b: [x]} */
static void show(char *out, size_t cap, size_t *o, yaml_node_t *n)
{
	cr_assert_not_null(n);
	if (n->type == YAML_SCALAR_NODE) {
		*o += (size_t)snprintf(out + *o, cap - *o, "%s",
				       oci_yaml_scalar(n));
		return;
	}
	if (n->type == YAML_SEQUENCE_NODE) {
		*o += (size_t)snprintf(out + *o, cap - *o, "[");
		for (size_t i = 0; i < oci_yaml_seq_len(n); i++) {
			if (i)
				*o += (size_t)snprintf(out + *o, cap - *o,
						       ", ");
			show(out, cap, o,
			     oci_yaml_node(&y, n->data.sequence.items.start[i]));
		}
		*o += (size_t)snprintf(out + *o, cap - *o, "]");
		return;
	}
	*o += (size_t)snprintf(out + *o, cap - *o, "{");
	for (size_t i = 0; i < oci_yaml_map_len(n); i++) {
		yaml_node_pair_t *p = &n->data.mapping.pairs.start[i];

		if (i)
			*o += (size_t)snprintf(out + *o, cap - *o, ", ");
		show(out, cap, o, oci_yaml_node(&y, p->key));
		*o += (size_t)snprintf(out + *o, cap - *o, ": ");
		show(out, cap, o, oci_yaml_node(&y, p->value));
	}
	*o += (size_t)snprintf(out + *o, cap - *o, "}");
}

static const char *shown(yaml_node_t *n)
{
	static char out[4096];
	size_t o = 0;

	out[0] = '\0';
	show(out, sizeof(out), &o, n);
	return out;
}

static yaml_node_t *at(const char *key)
{
	return oci_yaml_map_get(&y.doc, oci_yaml_root(&y), key, NULL, NULL);
}

Test(oci_yaml_merge, one_map_merged_own_keys_win)
{
	cr_assert_eq(load("base: &b {image: x/a:1, env: {A: 1}, port: 80}\n"
			  "web:\n"
			  "  <<: *b\n"
			  "  port: 8080\n"
			  "  command: serve\n"),
		     0, "%s", err.msg);
	cr_expect_str_eq(shown(at("web")),
			 "{port: 8080, command: serve, image: x/a:1, env: {A: "
			 "1}}");
	cr_expect_str_eq(oci_yaml_map_str(&y.doc, at("web"), "image"),
			 "x/a:1");
	cr_expect_eq(oci_yaml_map_len(at("web")), 4);
	/* the merged map itself is as written */
	cr_expect_str_eq(shown(at("base")), "{image: x/a:1, env: {A: 1}, "
					    "port: 80}");
}

/* One map merged alone into several (its sorted keys are kept from one to
 * the next): its own duplicate keys come once, the first; a key that is
 * not a scalar is equal only to itself (an alias of it). */
Test(oci_yaml_merge, one_map_merged_into_many_its_first_duplicate_wins)
{
	cr_assert_eq(load("b: &b {x: 1, y: 2, x: 3, ? &k [z] : 4}\n"
			  "m1: {<<: *b, y: own}\n"
			  "m2: {<<: [*b]}\n"
			  "m3: {<<: *b, ? *k : own, ? [z] : other}\n"
			  "m4: {<<: *b, x: a, x: b}\n"),
		     0, "%s", err.msg);
	cr_expect_str_eq(shown(at("m1")), "{y: own, x: 1, [z]: 4}");
	cr_expect_str_eq(shown(at("m2")), "{x: 1, y: 2, [z]: 4}");
	cr_expect_str_eq(shown(at("m3")),
			 "{[z]: own, [z]: other, x: 1, y: 2}");
	cr_expect_str_eq(shown(at("m4")), "{x: a, x: b, y: 2, [z]: 4}");
	cr_expect_str_eq(shown(at("b")), "{x: 1, y: 2, x: 3, [z]: 4}");
}

Test(oci_yaml_merge, a_list_earlier_maps_win)
{
	cr_assert_eq(load("a: &a {x: a, y: a}\n"
			  "b: &b {y: b, z: b}\n"
			  "c: {<<: [*b, *a], w: c}\n"
			  "d: {<<: [*a, *b]}\n"),
		     0, "%s", err.msg);
	cr_expect_str_eq(shown(at("c")), "{w: c, y: b, z: b, x: a}");
	cr_expect_str_eq(shown(at("d")), "{x: a, y: a, z: b}");
}

Test(oci_yaml_merge, merged_maps_merges_are_resolved_first)
{
	cr_assert_eq(load("x-common: &c {image: x/app:1, restart: always}\n"
			  "x-web: &w {<<: *c, port: 80}\n"
			  "svc: {<<: *w, command: run}\n"
			  "inline: {<<: {<<: {deep: 1}, mid: 2}, top: 3}\n"),
		     0, "%s", err.msg);
	cr_expect_str_eq(shown(at("svc")), "{command: run, port: 80, image: "
					   "x/app:1, restart: always}");
	cr_expect_str_eq(shown(at("x-web")),
			 "{port: 80, image: x/app:1, restart: always}");
	cr_expect_str_eq(shown(at("inline")), "{top: 3, mid: 2, deep: 1}");
}

Test(oci_yaml_merge, merge_a_map_defined_later_inside_it)
{
	/* the merged map is a child of the map: resolved before it too */
	cr_assert_eq(load("m: {k: &a {<<: {i: 1}, j: 2}, <<: *a}\n"), 0,
		     "%s", err.msg);
	cr_expect_str_eq(shown(at("m")), "{k: {j: 2, i: 1}, j: 2, i: 1}");
}

Test(oci_yaml_merge, block_style_airflow_shape)
{
	cr_assert_eq(load("x-airflow-common:\n"
			  "  &airflow-common\n"
			  "  image: ${AIRFLOW_IMAGE_NAME:-apache/airflow:2.10.3}\n"
			  "  environment:\n"
			  "    &airflow-common-env\n"
			  "    AIRFLOW__CORE__EXECUTOR: CeleryExecutor\n"
			  "services:\n"
			  "  airflow-webserver:\n"
			  "    <<: *airflow-common\n"
			  "    command: webserver\n"
			  "  airflow-init:\n"
			  "    <<: *airflow-common\n"
			  "    environment:\n"
			  "      <<: *airflow-common-env\n"
			  "      _AIRFLOW_DB_MIGRATE: 'true'\n"),
		     0, "%s", err.msg);
	cr_expect_str_eq(
	    shown(oci_yaml_map_get(&y.doc, at("services"), "airflow-init",
				   NULL, NULL)),
	    "{environment: {_AIRFLOW_DB_MIGRATE: true, "
	    "AIRFLOW__CORE__EXECUTOR: CeleryExecutor}, image: "
	    "${AIRFLOW_IMAGE_NAME:-apache/airflow:2.10.3}}");
	cr_expect_str_eq(
	    shown(oci_yaml_map_get(&y.doc, at("services"), "airflow-webserver",
				   NULL, NULL)),
	    "{command: webserver, image: "
	    "${AIRFLOW_IMAGE_NAME:-apache/airflow:2.10.3}, environment: "
	    "{AIRFLOW__CORE__EXECUTOR: CeleryExecutor}}");
}

Test(oci_yaml_merge, quoted_key_is_a_plain_key_and_merge_tag_merges)
{
	cr_assert_eq(load("a: &a {x: 1}\n"
			  "q: {\"<<\": *a, '<<': 2}\n"
			  "t: {!!merge <<: *a, y: 2}\n"
			  "s: {<<<: 3, x<<: 4}\n"),
		     0, "%s", err.msg);
	cr_expect_str_eq(shown(at("q")), "{<<: {x: 1}, <<: 2}");
	cr_expect_str_eq(shown(at("t")), "{y: 2, x: 1}");
	cr_expect_str_eq(shown(at("s")), "{<<<: 3, x<<: 4}");
}

Test(oci_yaml_merge, own_duplicates_stay_merged_duplicates_do_not_come)
{
	cr_assert_eq(load("a: &a {k: a, k: a2, m: a}\n"
			  "b: {<<: [*a, *a], k: 1, k: 2}\n"
			  "e: {<<: {}, z: 1}\n"
			  "l: [{<<: *a}, {<<: [], n: 1}]\n"),
		     0, "%s", err.msg);
	/* libyaml keeps duplicate keys: the first is what a lookup finds */
	cr_expect_str_eq(shown(at("b")), "{k: 1, k: 2, m: a}");
	cr_expect_str_eq(oci_yaml_map_str(&y.doc, at("b"), "k"), "1");
	cr_expect_str_eq(shown(at("e")), "{z: 1}");
	cr_expect_str_eq(shown(at("l")), "[{k: a, m: a}, {n: 1}]");
}

Test(oci_yaml_merge, a_merge_of_anything_but_maps_is_invalid_with_position)
{
	static const struct {
		const char *in, *msg;
	} bad[] = {
	    {"a: {<<: 1}\n", "t.yaml:1:9: YAML: the merge key << needs a "
			     "map or a list of maps, found a string"},
	    {"a:\n  <<:\n  b: 1\n",
	     "t.yaml:2:6: YAML: the merge key << needs a map or a list of "
	     "maps, found nothing"},
	    {"s: &s [1]\na: {<<: *s}\n", /* placed at the anchor's node */
	     "t.yaml:1:8: YAML: the merge key << needs maps, its list holds "
	     "a string"},
	    {"m: &m {x: 1}\na: {<<: [*m, x]}\n",
	     "t.yaml:2:14: YAML: the merge key << needs maps, its list "
	     "holds a string"},
	    {"a: [{b: {<<: [[]]}}]\n",
	     "t.yaml:1:15: YAML: the merge key << needs maps, its list "
	     "holds a list"},
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err_clear(&err);
		cr_assert_eq(load(bad[i].in), ERR_INVALID, "%s", bad[i].in);
		cr_expect_str_eq(err.msg, bad[i].msg);
		cr_expect_null(oci_yaml_root(&y), "nothing kept");
	}
}

Test(oci_yaml_merge, merge_bomb_is_refused_not_expanded, .timeout = 10)
{
	char line[96];
	size_t o = 0, cap = 1 << 16;

	big = malloc(cap);
	o += (size_t)snprintf(big, cap, "a0: &a0 {k0: 1, k1: 2}\n");
	for (int i = 1; i <= 40; i++) {
		snprintf(line, sizeof(line),
			 "a%d: &a%d {<<: [*a%d, *a%d, *a%d], x%d: 1}\n", i, i,
			 i - 1, i - 1, i - 1, i);
		o += (size_t)snprintf(big + o, cap - o, "%s", line);
	}
	cr_assert_eq(oci_yaml_load(&y, "t.yaml", big, o, NULL, &err),
		     ERR_TOO_LARGE);
	cr_expect_str_eq(err.msg, "t.yaml:14:23: more than 10000000 YAML "
				  "nodes (aliases included)");
	/* the first levels alone resolve: each merges a0's keys once */
	big[strstr(big, "a4:") - big] = '\0';
	cr_assert_eq(load(big), 0, "%s", err.msg);
	cr_expect_str_eq(shown(at("a3")), "{x3: 1, x2: 1, x1: 1, k0: 1, k1: 2}");
}

Test(oci_yaml_merge, merges_within_a_small_expand_cap_resolve)
{
	static const struct oci_yaml_limits lim = {0, 0, 0, 30, 0};
	const char *s = "a: &a {k0: 1, k1: 2, k2: 3}\n"
			"b: {<<: *a}\n"
			"c: {<<: *a}\n";

	/* 3 + 2 aliases of 7 nodes: 17 of 30; the merged pairs (8) are fewer */
	cr_assert_eq(oci_yaml_load(&y, "t.yaml", s, strlen(s), &lim, &err), 0,
		     "%s", err.msg);
	cr_expect_str_eq(shown(at("c")), "{k0: 1, k1: 2, k2: 3}");
}

Test(oci_yaml_merge, aliases_to_late_anchors_are_capped, .timeout = 10)
{
	size_t cap = 4u << 20, o = 0;

	big = malloc(cap + 1);
	o += (size_t)snprintf(big, cap, "a: [");
	for (int i = 0; i < 1000; i++)
		o += (size_t)snprintf(big + o, cap - o, "&a%d x,", i);
	o += (size_t)snprintf(big + o, cap - o, "]\nb: [");
	for (; o < cap - 16; o += 6)
		memcpy(big + o, "*a999,", 6);
	o += (size_t)snprintf(big + o, cap - o, "]\n");
	static const struct oci_yaml_limits lim = {
	    4u << 20, OCI_YAML_DEPTH_MAX, OCI_YAML_NODES_MAX,
	    OCI_YAML_EXPAND_MAX, OCI_YAML_ANCHORS_MAX};
	cr_assert_eq(oci_yaml_load(&y, "t.yaml", big, o, &lim, &err),
		     ERR_TOO_LARGE);
	cr_expect_str_eq(err.msg, "t.yaml:2:300005: YAML aliases cost more "
				  "than 50000000 anchor comparisons to "
				  "resolve");
	/* aliases to the first anchor cost one comparison each: 1 MiB of
	 * them (a cap's worth at the last anchor) loads */
	for (o = 1u << 20; big[o] != ','; o--)
		;
	big[o++] = ']';
	for (size_t i = 0; i + 5 <= o; i++)
		if (!memcmp(big + i, "*a999", 5))
			memcpy(big + i, "*a0  ", 5);
	cr_assert_eq(oci_yaml_load(&y, "t.yaml", big, o, &lim, &err), 0, "%s",
		     err.msg);
	cr_expect_gt(oci_yaml_seq_len(at("b")), 170000);
}

/* 80,000 own keys that all fell in one slot chain of the old dedupe set
 * (FNV-1a, low bits): the merge is found by sorting now, and its result is
 * the usual one. */
Test(oci_yaml_merge, colliding_keys_merge_by_sorting, .timeout = 10)
{
	enum { N = 80000 };
	struct oci_yaml_limits lim = OCI_YAML_LIMITS_DEFAULT;
	char *names = malloc((size_t)N * FNVC_NAME_MAX);
	size_t o = 0, cap = (size_t)N * 40 + 256;
	yaml_node_t *m, *last;

	cr_assert_not_null(names);
	fnvc_names(names, N, "k");
	big = malloc(cap);
	cr_assert_not_null(big);
	o += (size_t)snprintf(big + o, cap - o,
			      "b: &b {x: base, %s: base}\nm:\n  <<: *b\n",
			      names);
	for (size_t i = 0; i < N; i++)
		o += (size_t)snprintf(big + o, cap - o, "  %s: own\n",
				      names + i * FNVC_NAME_MAX);
	lim.input_max = cap;
	cr_assert_eq(oci_yaml_load(&y, "t.yaml", big, o, &lim, &err), 0, "%s",
		     err.msg);
	m = oci_yaml_map_get(&y.doc, oci_yaml_root(&y), "m", NULL, NULL);
	cr_assert_eq(oci_yaml_map_len(m), N + 1);
	cr_assert_str_eq(
	    oci_yaml_scalar(oci_yaml_map_get(&y.doc, m, names, NULL, NULL)),
	    "own");
	last = oci_yaml_node(&y, m->data.mapping.pairs.start[N].key);
	cr_assert_str_eq(oci_yaml_scalar(last), "x");
	cr_assert_str_eq(oci_yaml_map_str(&y.doc, m, "x"), "base");
	free(names);
}
