#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mirror/sync/syncconf.h"
#include "registry/options.h"
#include "registry/pool.h"

#define HEX64 "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"

static struct sync_config cfg;
static struct err err;

static void fini(void)
{
	syncconf_release(&cfg);
}

TestSuite(syncconf, .fini = fini);

static void parse_ok(const char *yaml)
{
	int rc = syncconf_parse(&cfg, "t.yaml", yaml, strlen(yaml), &err);

	cr_assert_eq(rc, 0, "parse failed: %s\n--\n%s", err.msg, yaml);
}

/* The message starts "t.yaml:LINE:COL: " and contains every word in
 * words ('|'-separated); the config is left empty. */
static void expect_bad(const char *yaml, size_t line, size_t col,
		       const char *words)
{
	char prefix[64], w[256], *save = NULL, *tok;
	int rc;

	err_clear(&err);
	rc = syncconf_parse(&cfg, "t.yaml", yaml, strlen(yaml), &err);
	cr_assert_eq(rc, ERR_INVALID, "rc %d (%s) for\n%s", rc, err.msg, yaml);
	cr_expect_eq(err.code, ERR_INVALID);
	snprintf(prefix, sizeof(prefix), "t.yaml:%zu:%zu: ", line, col);
	cr_expect(strncmp(err.msg, prefix, strlen(prefix)) == 0,
		  "\"%s\" does not start with \"%s\"", err.msg, prefix);
	snprintf(w, sizeof(w), "%s", words);
	for (tok = strtok_r(w, "|", &save); tok;
	     tok = strtok_r(NULL, "|", &save))
		cr_expect(strstr(err.msg, tok) != NULL, "\"%s\" lacks \"%s\"",
			  err.msg, tok);
	cr_expect_null(cfg.rules);
	cr_expect_eq(cfg.n_rules, 0);
	cr_expect_null(cfg.registries);
	cr_expect_null(cfg.path);
}

static void expect_platform(const struct oci_platform *p, const char *os,
			    const char *arch, const char *variant)
{
	cr_expect_str_eq(p->os, os);
	cr_expect_str_eq(p->arch, arch);
	cr_expect_str_eq(p->variant, variant);
}

/* ---- whole files ---- */

static const char issue_example[] =
    "defaults:\n"
    "  platforms: [linux/amd64, linux/arm64]   # default: all platforms\n"
    "  referrers: true                          # signatures, SBOMs\n"
    "  concurrency: 8                           # blob transfers in flight\n"
    "registries:\n"
    "  registry.example.com: {tls: verify, ca: /etc/ocimirror/ca.crt, "
    "max_connections: 4, rate: 10/s}\n"
    "  localhost:5000: {tls: disabled}\n"
    "sync:\n"
    "  - source: docker.io/library/nginx\n"
    "    tags: [\"1.25.3\", \"1.26\"]               # exact tags\n"
    "  - source: ghcr.io/example/app\n"
    "    tags: {regex: '^v?2\\.', exclude: '-rc', semver: '>=2.1.0 <3.0.0', "
    "latest: 5}\n"
    "    destination: plant/app                 # optional rename\n"
    "    prune: true                            # drop tags no longer "
    "selected\n"
    "  - source: quay.io/example/tool@sha256:" HEX64 " # pinned digest\n";

Test(syncconf, issue_example_parses_into_fields)
{
	const struct sync_registry *g;
	const struct sync_rule *r;

	parse_ok(issue_example);
	cr_expect_str_eq(cfg.path, "t.yaml");
	cr_assert_eq(cfg.n_platforms, 2);
	expect_platform(&cfg.platforms[0], "linux", "amd64", "");
	expect_platform(&cfg.platforms[1], "linux", "arm64", "");
	cr_expect_eq(cfg.referrers, 1);
	cr_expect_eq(cfg.concurrency, 8);

	cr_assert_eq(cfg.n_registries, 2);
	g = &cfg.registries[0];
	cr_expect_str_eq(g->host, "registry.example.com");
	cr_expect_eq(g->tls, SYNC_TLS_VERIFY);
	cr_expect_str_eq(g->ca, "/etc/ocimirror/ca.crt");
	cr_expect_null(g->cert);
	cr_expect_null(g->key);
	cr_expect_eq(g->max_connections, 4);
	cr_expect_float_eq(g->rate, 10.0, 1e-9);
	g = &cfg.registries[1];
	cr_expect_str_eq(g->host, "localhost:5000");
	cr_expect_eq(g->tls, SYNC_TLS_DISABLED);
	cr_expect_null(g->ca);
	cr_expect_eq(g->max_connections, 0);
	cr_expect_float_eq(g->rate, 0.0, 1e-9);

	cr_assert_eq(cfg.n_rules, 3);
	r = &cfg.rules[0];
	cr_expect_eq(r->line, 9);
	cr_expect_eq(r->type, SYNC_IMAGE);
	cr_expect_str_eq(r->source.host, "docker.io");
	cr_expect_str_eq(r->source.path, "library/nginx");
	cr_expect_str_empty(r->source.tag);
	cr_expect_eq(r->source.has_digest, 0);
	cr_expect_eq(r->has_tags, 1);
	cr_assert_eq(r->tags.n_exact, 2);
	cr_expect_str_eq(r->tags.exact[0], "1.25.3");
	cr_expect_str_eq(r->tags.exact[1], "1.26");
	cr_expect_eq(r->tags.has_regex, 0);
	cr_expect_null(r->tags.semver);
	cr_expect_eq(r->tags.latest, 0);
	cr_expect_null(r->destination);
	cr_expect_eq(r->prune, 0);
	cr_expect_null(r->platforms);
	cr_expect_eq(r->referrers, -1);

	r = &cfg.rules[1];
	cr_expect_eq(r->line, 11);
	cr_expect_str_eq(r->source.host, "ghcr.io");
	cr_expect_str_eq(r->source.path, "example/app");
	cr_expect_eq(r->has_tags, 1);
	cr_expect_eq(r->tags.n_exact, 0);
	cr_expect_eq(r->tags.has_regex, 1);
	cr_expect_eq(r->tags.has_exclude, 1);
	cr_expect_eq(regexec(&r->tags.regex, "v2.3.0", 0, NULL, 0), 0);
	cr_expect_neq(regexec(&r->tags.regex, "v12.3.0", 0, NULL, 0), 0);
	cr_expect_eq(regexec(&r->tags.exclude, "2.3.0-rc.1", 0, NULL, 0), 0);
	cr_assert_not_null(r->tags.semver);
	cr_expect_eq(r->tags.latest, 5);
	cr_expect_str_eq(r->destination, "plant/app");
	cr_expect_eq(r->prune, 1);

	r = &cfg.rules[2];
	cr_expect_eq(r->line, 15);
	cr_expect_str_eq(r->source.host, "quay.io");
	cr_expect_str_eq(r->source.path, "example/tool");
	cr_expect_str_empty(r->source.tag);
	cr_expect_eq(r->source.has_digest, 1);
	cr_expect_str_eq(r->source.digest.str, "sha256:" HEX64);
	cr_expect_eq(r->has_tags, 0);

	cr_expect_eq(syncconf_registry(&cfg, "registry.example.com"),
		     &cfg.registries[0]);
	cr_expect_eq(syncconf_registry(&cfg, "Registry.Example.COM"),
		     &cfg.registries[0]);
	cr_expect_eq(syncconf_registry(&cfg, "localhost:5000"),
		     &cfg.registries[1]);
	cr_expect_null(syncconf_registry(&cfg, "localhost"));
	cr_expect_null(syncconf_registry(&cfg, "docker.io"));
}

Test(syncconf, example_file_documents_every_key)
{
	const struct sync_registry *g;
	const struct sync_rule *r;
	struct semver v;
	int rc;

	rc = syncconf_load(&cfg, TESTDATA "/sync/example.yaml", &err);
	cr_assert_eq(rc, 0, "%s", err.msg);
	cr_expect_str_eq(cfg.path, TESTDATA "/sync/example.yaml");
	cr_expect_eq(cfg.n_platforms, 2);
	cr_expect_eq(cfg.referrers, 1);
	cr_expect_eq(cfg.referrers_recheck, 0);
	cr_expect_eq(cfg.concurrency, 8);
	cr_assert_eq(cfg.n_registries, 2);
	g = &cfg.registries[0];
	cr_expect_str_eq(g->host, "registry.example.com");
	cr_expect_eq(g->tls, SYNC_TLS_VERIFY);
	cr_expect_str_eq(g->ca, "/etc/ocimirror/ca.crt");
	cr_expect_str_eq(g->cert, "/etc/ocimirror/client.crt");
	cr_expect_str_eq(g->key, "/etc/ocimirror/client.key");
	cr_expect_eq(g->max_connections, 4);
	cr_expect_float_eq(g->rate, 10.0, 1e-9);
	cr_expect_eq(cfg.registries[1].tls, SYNC_TLS_DISABLED);

	cr_assert_eq(cfg.n_rules, 5);
	r = &cfg.rules[1];
	cr_expect_str_eq(r->destination, "plant/app");
	cr_expect_eq(r->prune, 1);
	cr_assert_eq(r->n_platforms, 1);
	expect_platform(&r->platforms[0], "linux", "arm64", "");
	cr_expect_eq(r->referrers, 0);
	cr_expect_eq(r->referrers_recheck, 0);
	cr_expect_eq(r->tags.latest, 5);
	semver_parse(&v, "2.4.0");
	cr_expect(semver_range_match(r->tags.semver, &v));
	semver_parse(&v, "3.0.0");
	cr_expect_not(semver_range_match(r->tags.semver, &v));

	cr_expect_eq(cfg.rules[2].source.has_digest, 1);
	r = &cfg.rules[3];
	cr_expect_str_eq(r->source.host, "localhost:5000");
	cr_expect_str_eq(r->source.path, "team/base");
	cr_expect_str_eq(r->source.tag, "stable");
	cr_expect_eq(r->source.has_digest, 0);

	r = &cfg.rules[4];
	cr_expect_eq(r->type, SYNC_MARGO_APP);
	cr_assert_eq(r->n_arch, 2);
	cr_expect_str_eq(r->arch[0], "amd64");
	cr_expect_str_eq(r->arch[1], "arm64");
	cr_expect_eq(r->tags.latest, 2);
}

Test(syncconf, defaults_when_keys_are_absent)
{
	const struct sync_rule *r;

	parse_ok("sync:\n- source: nginx\n");
	cr_expect_null(cfg.platforms);
	cr_expect_eq(cfg.n_platforms, 0);
	cr_expect_eq(cfg.referrers, 0);
	cr_expect_eq(cfg.concurrency, 8);
	cr_expect_eq(cfg.n_registries, 0);
	cr_assert_eq(cfg.n_rules, 1);
	r = &cfg.rules[0];
	cr_expect_eq(r->line, 2);
	cr_expect_str_eq(r->source.host, "docker.io");
	cr_expect_str_eq(r->source.path, "library/nginx");
	cr_expect_str_empty(r->source.tag); /* not "latest": all tags */
	cr_expect_eq(r->has_tags, 0);
	cr_expect_eq(r->type, SYNC_IMAGE);
	cr_expect_eq(r->prune, 0);
	cr_expect_eq(r->referrers, -1);
	cr_expect_null(r->destination);
	cr_expect_null(r->arch);
}

Test(syncconf, block_style_and_overrides)
{
	const struct sync_rule *r;

	parse_ok("defaults:\n"
		 "  referrers: false\n"
		 "  concurrency: 32\n"
		 "sync:\n"
		 "  - source: nginx:1.25\n"
		 "    referrers: true\n"
		 "    platforms:\n"
		 "      - linux/arm/v7\n"
		 "      - linux/aarch64\n"
		 "  - source: registry.local:5000/a/b\n"
		 "    type: image\n"
		 "    tags: {}\n"
		 "    destination: mirror.local/a/b\n");
	cr_expect_eq(cfg.concurrency, 32);
	cr_expect_eq(cfg.referrers, 0);
	cr_assert_eq(cfg.n_rules, 2);
	r = &cfg.rules[0];
	cr_expect_str_eq(r->source.tag, "1.25");
	cr_expect_eq(r->referrers, 1);
	cr_assert_eq(r->n_platforms, 2);
	expect_platform(&r->platforms[0], "linux", "arm", "v7");
	expect_platform(&r->platforms[1], "linux", "arm64", "");
	r = &cfg.rules[1];
	cr_expect_eq(r->line, 10);
	cr_expect_eq(r->has_tags, 1); /* an empty filter: every tag */
	cr_expect_eq(r->tags.n_exact, 0);
	cr_expect_str_eq(r->destination, "mirror.local/a/b");
}

Test(syncconf, referrers_recheck_default_and_per_rule)
{
	parse_ok("sync:\n- source: nginx\n");
	cr_expect_eq(cfg.referrers_recheck, 0);
	cr_expect_eq(cfg.rules[0].referrers_recheck, -1);
	syncconf_release(&cfg);
	parse_ok("defaults: {referrers: true, referrers_recheck: true}\n"
		 "sync:\n"
		 "  - source: nginx\n"
		 "  - source: alpine\n"
		 "    referrers_recheck: false\n");
	cr_expect_eq(cfg.referrers_recheck, 1);
	cr_expect_eq(cfg.rules[0].referrers_recheck, -1);
	cr_expect_eq(cfg.rules[1].referrers_recheck, 0);
	syncconf_release(&cfg);
	expect_bad("sync:\n- {source: a, referrers_recheck: yes}\n", 2, 34,
		   "referrers_recheck: expected true or false");
	expect_bad("defaults: {recheck: true}\nsync: [{source: a}]\n", 1, 12,
		   "unknown key \"recheck\"|referrers_recheck");
}

Test(syncconf, unquoted_numbers_are_tags_as_written)
{
	parse_ok("sync:\n- {source: nginx, tags: [1.10, 1.25.3, 2]}\n");
	cr_assert_eq(cfg.rules[0].tags.n_exact, 3);
	cr_expect_str_eq(cfg.rules[0].tags.exact[0], "1.10");
	cr_expect_str_eq(cfg.rules[0].tags.exact[1], "1.25.3");
	cr_expect_str_eq(cfg.rules[0].tags.exact[2], "2");
}

Test(syncconf, rates_and_hosts)
{
	parse_ok("registries:\n"
		 "  a.example: {rate: 1.5/s}\n"
		 "  b.example: {rate: 120/m}\n"
		 "  c.example: {rate: 36/h, tls: insecure}\n"
		 "  index.docker.io: {max_connections: 2}\n"
		 "  '[::1]:5000': {}\n"
		 "  localhost: {}\n"
		 "sync: [{source: nginx}]\n");
	cr_assert_eq(cfg.n_registries, 6);
	cr_expect_float_eq(cfg.registries[0].rate, 1.5, 1e-9);
	cr_expect_float_eq(cfg.registries[1].rate, 2.0, 1e-9);
	cr_expect_float_eq(cfg.registries[2].rate, 0.01, 1e-9);
	cr_expect_eq(cfg.registries[2].tls, SYNC_TLS_INSECURE);
	cr_expect_eq(cfg.registries[3].tls, SYNC_TLS_DEFAULT);
	/* Normalised like a reference's host, so a rule's host finds it. */
	cr_expect_str_eq(cfg.registries[3].host, "docker.io");
	cr_expect_eq(syncconf_registry(&cfg, cfg.rules[0].source.host),
		     &cfg.registries[3]);
	cr_expect_str_eq(cfg.registries[4].host, "[::1]:5000");
	cr_expect_str_eq(cfg.registries[5].host, "localhost");
}

Test(syncconf, anchors_and_aliases_are_followed)
{
	parse_ok("defaults: {platforms: &p [linux/amd64]}\n"
		 "sync:\n"
		 "- {source: nginx, platforms: *p}\n");
	cr_assert_eq(cfg.rules[0].n_platforms, 1);
	expect_platform(&cfg.rules[0].platforms[0], "linux", "amd64", "");
}

/* ---- errors ---- */

Test(syncconf, unknown_keys_everywhere)
{
	expect_bad("sync: [{source: nginx}]\nsnyc: []\n", 2, 1,
		   "unknown key \"snyc\"|top level|defaults, registries, sync");
	expect_bad("defaults:\n  concurrency: 4\n  parallel: 4\nsync: "
		   "[{source: a}]\n",
		   3, 3, "unknown key \"parallel\"|in defaults|concurrency");
	expect_bad("sync:\n  - source: nginx\n    tag: latest\n", 3, 5,
		   "unknown key \"tag\"|sync rule|destination");
	expect_bad("registries:\n  r.example: {tls: verify, cacert: x}\n"
		   "sync: [{source: nginx}]\n",
		   2, 28, "unknown key \"cacert\"|registry \"r.example\"|rate");
	expect_bad(
	    "sync:\n- source: nginx\n  tags: {regexp: x}\n", 3, 10,
	    "unknown key \"regexp\"|in tags|regex, exclude, semver, latest");
}

Test(syncconf, wrong_types)
{
	expect_bad("defaults:\n  platforms: linux/amd64\nsync: [{source: a}]\n",
		   2, 14, "platforms: expected a list|got a string");
	expect_bad("defaults: [concurrency]\nsync: [{source: a}]\n", 1, 11,
		   "defaults: expected a map, got a list");
	expect_bad("registries: [r.example]\nsync: [{source: a}]\n", 1, 13,
		   "registries: expected a map|got a list");
	expect_bad("registries:\n  r.example: [tls]\nsync: [{source: a}]\n", 2,
		   14, "registry \"r.example\": expected a map, got a list");
	expect_bad("sync: {source: nginx}\n", 1, 7,
		   "sync: expected a list|got a map");
	expect_bad("sync:\n- nginx\n", 2, 3,
		   "sync rule: expected a map, got a string");
	expect_bad("sync:\n- source: [nginx]\n", 2, 11,
		   "source: expected a string, got a list");
	expect_bad("sync:\n- source:\n", 2, 10,
		   "source: expected a string, got nothing");
	expect_bad("sync:\n- {source: a, tags: latest}\n", 2, 21,
		   "tags: expected a list of tags or a map|got a string");
	expect_bad("sync:\n- {source: a, destination: {x: y}}\n", 2, 28,
		   "destination: expected a string, got a map");
	expect_bad("sync:\n- {source: a, arch: amd64, type: margo-app}\n", 2,
		   21, "arch: expected a list|got a string");
	expect_bad(
	    "defaults: {platforms: [[linux/amd64]]}\nsync: [{source: a}]\n", 1,
	    24, "platforms: expected a string, got a list");
	expect_bad("{? [a]: b, sync: [{source: a}]}\n", 1, 4,
		   "a key must be a string, got a list");
}

Test(syncconf, integers_are_unquoted_and_in_range)
{
	expect_bad("defaults: {concurrency: eight}\nsync: [{source: a}]\n", 1,
		   25, "concurrency: expected an integer, got \"eight\"");
	expect_bad("defaults: {concurrency: 8.5}\nsync: [{source: a}]\n", 1, 25,
		   "concurrency: expected an integer, got \"8.5\"");
	expect_bad("defaults: {concurrency: \"8\"}\nsync: [{source: a}]\n", 1,
		   25, "concurrency: expected an integer, got a quoted string");
	expect_bad("defaults: {concurrency: 0}\nsync: [{source: a}]\n", 1, 25,
		   "concurrency: must be between 1 and 1024, got 0");
	expect_bad("defaults: {concurrency: 99999999999999999999999}\n"
		   "sync: [{source: a}]\n",
		   1, 25, "concurrency: must be between 1 and 1024");
	expect_bad("defaults: {concurrency: [8]}\nsync: [{source: a}]\n", 1, 25,
		   "concurrency: expected an integer, got a list");
	expect_bad("sync:\n- {source: a, tags: {latest: -1}}\n", 2, 30,
		   "tags.latest: must be between 1 and|got -1");
	expect_bad("sync:\n- {source: a, tags: {latest: 0}}\n", 2, 30,
		   "tags.latest: must be between 1 and|got 0");
	expect_bad("registries: {r.example: {max_connections: -2}}\n"
		   "sync: [{source: a}]\n",
		   1, 43, "max_connections: must be between 1 and 1024");
}

Test(syncconf, booleans_are_true_or_false_only)
{
	expect_bad("sync:\n- {source: a, prune: yes}\n", 2, 22,
		   "prune: expected true or false (unquoted), got \"yes\"");
	expect_bad("sync:\n- {source: a, prune: \"true\"}\n", 2, 22,
		   "prune: expected true or false (unquoted), got \"true\"");
	expect_bad("sync:\n- {source: a, referrers: 1}\n", 2, 26,
		   "referrers: expected true or false");
	expect_bad("defaults: {referrers: }\nsync: [{source: a}]\n", 1, 23,
		   "referrers: expected true or false, got nothing");
	expect_bad("defaults: {referrers: True}\nsync: [{source: a}]\n", 1, 23,
		   "referrers: expected true or false");
}

Test(syncconf, bad_regex_names_the_key_and_pattern)
{
	expect_bad("sync:\n- source: a\n  tags: {regex: '(v1'}\n", 3, 17,
		   "tags.regex: invalid regular expression \"(v1\"");
	expect_bad("sync:\n- source: a\n  tags: {regex: x, exclude: '[a'}\n", 3,
		   29, "tags.exclude: invalid regular expression \"[a\"");
	expect_bad("sync:\n- source: a\n  tags: {regex: ''}\n", 3, 17,
		   "tags.regex: empty string");
}

Test(syncconf, regex_repetition_is_bounded)
{
	const struct sync_rule *r;

	/* Counts inside brackets and escaped braces are not repetitions. */
	parse_ok("sync:\n- source: a\n  tags: {regex: "
		 "'^v?[0-9]{1,3}\\.[0-9a-f{}]{40}\\{9999}[[:digit:]{]{2}$'}\n");
	r = &cfg.rules[0];
	cr_expect_eq(regexec(&r->tags.regex,
			     "v1.0123456789abcdef0123456789abcdef01234567{9999}"
			     "3{",
			     0, NULL, 0),
		     0);
	syncconf_release(&cfg);
	expect_bad(
	    "sync:\n- source: a\n  tags: {regex: '((a{255}){255}){255}'}\n", 3,
	    17, "tags.regex: repetition counts|too large");
	expect_bad("sync:\n- source: a\n  tags: {exclude: 'a{1001}'}\n", 3, 19,
		   "tags.exclude: repetition counts");
	expect_bad("sync:\n- source: a\n  tags: {regex: 'a{2,5000}'}\n", 3, 17,
		   "repetition counts");
}

Test(syncconf, bad_semver_range)
{
	expect_bad("sync:\n- source: a\n  tags: {semver: '>=2.1.0 <three'}\n",
		   3, 18,
		   "tags.semver: invalid semver range \">=2.1.0 <three\"|not a "
		   "version");
	expect_bad("sync:\n- source: a\n  tags: {semver: '>=1.0.0 ||'}\n", 3,
		   18, "tags.semver: invalid semver range|empty alternative");
}

Test(syncconf, bad_reference_platform_destination_type)
{
	expect_bad("sync:\n- source: ghcr.io/Example/App\n", 2, 11,
		   "source: invalid|lowercase");
	expect_bad("sync:\n- source: 'nginx:bad tag'\n", 2, 11,
		   "source: invalid reference \"nginx:bad tag\"");
	expect_bad("sync:\n- {source: a, platforms: [linux]}\n", 2, 27,
		   "platforms: invalid platform \"linux\"|os/arch");
	expect_bad("defaults: {platforms: [linux/amd64, '/arm64']}\n"
		   "sync: [{source: a}]\n",
		   1, 37, "platforms: invalid platform \"/arm64\"");
	expect_bad("sync:\n- {source: a, destination: 'Plant/App'}\n", 2, 28,
		   "destination: invalid repository name \"Plant/App\"");
	expect_bad("sync:\n- {source: a, type: helm}\n", 2, 21,
		   "type: expected image or margo-app, got \"helm\"");
	expect_bad("sync:\n- {source: a, arch: [amd64]}\n", 2, 21,
		   "arch: only for type: margo-app");
	expect_bad("sync:\n- {source: a, type: margo-app, arch: [amd64, "
		   "'arm 64']}\n",
		   2, 46, "invalid arch \"arm 64\"");
	expect_bad("sync:\n- {source: a, type: margo-app, arch: [arm/v5]}\n", 2,
		   39,
		   "invalid arch \"arm/v5\" (expected amd64 or x86_64, arm64 "
		   "or aarch64, arm, arm/v6, arm/v7 or armhf, riscv64, other)");
}

Test(syncconf, margo_app_arch_with_a_variant_as_app_pull_arch)
{
	parse_ok("sync:\n- {source: a, type: margo-app, arch: [arm/v7, "
		 "arm/v6, armhf, x86_64]}\n");
	cr_assert_eq(cfg.n_rules, 1);
	cr_assert_eq(cfg.rules[0].n_arch, 4);
	cr_expect_str_eq(cfg.rules[0].arch[0], "arm/v7");
	cr_expect_str_eq(cfg.rules[0].arch[1], "arm/v6");
}

Test(syncconf, duplicate_keys)
{
	expect_bad("sync: [{source: a}]\ndefaults: {}\nsync: []\n", 3, 1,
		   "duplicate key \"sync\"|top level|first at line 1");
	expect_bad("defaults:\n  concurrency: 1\n  concurrency: 2\n"
		   "sync: [{source: a}]\n",
		   3, 3, "duplicate key \"concurrency\" in defaults|line 2");
	expect_bad("sync:\n- source: a\n  prune: true\n  prune: false\n", 4, 3,
		   "duplicate key \"prune\" in sync rule|first at line 3");
	expect_bad("registries:\n  docker.io: {}\n  index.docker.io: {}\n"
		   "sync: [{source: a}]\n",
		   3, 3, "duplicate host \"docker.io\"|first at line 2");
	expect_bad("registries:\n  r.example: {tls: verify, tls: disabled}\n"
		   "sync: [{source: a}]\n",
		   2, 28, "duplicate key \"tls\" in registry \"r.example\"");
	expect_bad("sync:\n- source: a\n  tags: [v1, v2, v1]\n", 3, 18,
		   "tag: \"v1\" listed twice");
}

Test(syncconf, empty_and_non_map_documents)
{
	expect_bad("", 1, 1, "empty file");
	expect_bad("# only a comment\n\n", 1, 1, "empty file");
	expect_bad("- source: nginx\n", 1, 1,
		   "top level must be a map|got a list");
	expect_bad("nginx\n", 1, 1, "top level must be a map|got a string");
	expect_bad("---\n", 2, 1, "top level must be a map|got nothing");
	expect_bad("defaults: {}\n", 1, 1, "missing sync:");
	expect_bad("sync: []\n", 1, 7, "sync: empty list|nothing to mirror");
	expect_bad("sync:\n- {tags: [a]}\n", 2, 3, "sync rule: missing source");
	expect_bad("sync: [{source: a}]\n---\nsync: [{source: b}]\n", 3, 1,
		   "second YAML document");
}

Test(syncconf, yaml_syntax_errors_have_positions)
{
	expect_bad("sync:\n- source: a\n  tags: [1.25, 1.26\n", 4, 1,
		   "YAML: did not find expected ',' or ']'");
	expect_bad("sync:\n  - source: a\n   bad: indent\n", 3, 4, "YAML: ");
	expect_bad("sync: [{source: *nope}]\n", 1, 17,
		   "YAML: found undefined "
		   "alias");
	expect_bad("sync: [{source: \"a\\0b\"}]\n", 1, 17,
		   "source: contains a NUL character");
	expect_bad("sync: [{source: a}]\n# \xff\n", 2, 3,
		   "YAML: invalid leading UTF-8 octet");
}

Test(syncconf, messages_stay_on_one_line)
{
	expect_bad("sync:\n- source: a\n  tags: {semver: \"^1\\ny\"}\n", 3, 18,
		   "invalid semver range \"^1?y\"");
	cr_expect_null(strchr(err.msg, '\n'), "%s", err.msg);
	expect_bad("sync:\n- {source: a, type: \"a\\tb\\rc\"}\n", 2, 21,
		   "got \"a?b?c\"");
}

Test(syncconf, tag_lists_and_pins)
{
	expect_bad("sync:\n- source: a\n  tags: [v1, 'bad tag']\n", 3, 14,
		   "tag: invalid tag \"bad tag\"");
	expect_bad("sync:\n- source: a\n  tags: [v1, .hidden]\n", 3, 14,
		   "invalid tag \".hidden\"");
	expect_bad("sync:\n- source: a\n  tags: []\n", 3, 9,
		   "tags: empty list selects nothing");
	expect_bad("sync:\n- source: a:v1\n  tags: [v1]\n", 3, 9,
		   "tags: not allowed when source names a tag or digest");
	expect_bad("sync:\n- source: a@sha256:" HEX64 "\n  prune: true\n", 3,
		   10, "prune: not allowed when source names a tag or digest");
	expect_bad("defaults: {platforms: []}\nsync: [{source: a}]\n", 1, 23,
		   "platforms: empty list|leave the key out");
}

Test(syncconf, registry_settings)
{
	expect_bad("registries: {r.example: {tls: off}}\nsync: [{source: a}]\n",
		   1, 31,
		   "tls: expected verify, disabled or insecure, got \"off\"");
	expect_bad(
	    "registries: {r.example: {rate: ten/s}}\nsync: [{source: a}]\n", 1,
	    32, "rate: expected|10/s|got \"ten/s\"");
	expect_bad("registries: {r.example: {rate: 10}}\nsync: [{source: a}]\n",
		   1, 32, "rate: expected|got \"10\"");
	expect_bad(
	    "registries: {r.example: {rate: 0/s}}\nsync: [{source: a}]\n", 1,
	    32, "rate: expected a positive number");
	expect_bad(
	    "registries: {r.example: {rate: 10/d}}\nsync: [{source: a}]\n", 1,
	    32, "rate: expected|got \"10/d\"");
	expect_bad(
	    "registries: {r.example: {rate: 1./s}}\nsync: [{source: a}]\n", 1,
	    32, "rate: expected");
	expect_bad(
	    "registries: {r.example: {key: /k.pem}}\nsync: [{source: a}]\n", 1,
	    31, "key: given without cert");
	expect_bad("registries: {r.example: {tls: disabled, ca: /ca.pem}}\n"
		   "sync: [{source: a}]\n",
		   1, 45, "ca: has no effect with tls: disabled");
	expect_bad("registries: {myregistry: {}}\nsync: [{source: a}]\n", 1, 14,
		   "\"myregistry\" is not a registry host|HOST[:PORT]");
	expect_bad("registries: {r.example/path: {}}\nsync: [{source: a}]\n", 1,
		   14, "is not a registry host");
	expect_bad("registries: {'a:b:c': {}}\nsync: [{source: a}]\n", 1, 14,
		   "\"a:b:c\" is not a valid registry host");
}

Test(syncconf, bad_files_in_testdata)
{
	static const struct {
		const char *file;
		size_t line, col;
		const char *words;
	} cases[] = {
	    {"unknown-key-rule.yaml", 5, 5, "unknown key \"tag\""},
	    {"bad-regex.yaml", 3, 19, "invalid regular expression"},
	    {"bad-semver.yaml", 4, 15, "invalid semver range \">=2.x.1\""},
	    {"duplicate-key.yaml", 3, 3, "duplicate key \"referrers\""},
	    {"bad-rate.yaml", 2, 45, "got \"ten/s\""},
	    {"syntax.yaml", 4, 1, "YAML: "},
	    {"empty.yaml", 1, 1, "empty file"},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char path[512], prefix[600];
		int rc;

		snprintf(path, sizeof(path), TESTDATA "/sync/bad/%s",
			 cases[i].file);
		rc = syncconf_load(&cfg, path, &err);
		cr_expect_eq(rc, ERR_INVALID, "%s: rc %d (%s)", path, rc,
			     err.msg);
		snprintf(prefix, sizeof(prefix), "%s:%zu:%zu: ", path,
			 cases[i].line, cases[i].col);
		cr_expect(strncmp(err.msg, prefix, strlen(prefix)) == 0,
			  "\"%s\" does not start with \"%s\"", err.msg, prefix);
		cr_expect(strstr(err.msg, cases[i].words) != NULL,
			  "\"%s\" lacks \"%s\"", err.msg, cases[i].words);
		cr_expect_null(cfg.rules);
	}
}

Test(syncconf, missing_file_is_not_found)
{
	int rc = syncconf_load(&cfg, TESTDATA "/sync/no-such.yaml", &err);

	cr_expect_eq(rc, ERR_NOT_FOUND);
	cr_expect(strstr(err.msg, "no-such.yaml") != NULL, "%s", err.msg);
	cr_expect_null(cfg.path);
}

Test(syncconf, oversize_file_on_disk_is_invalid_and_named)
{
	char path[] = "/tmp/ocimirror-syncconf-XXXXXX", want[80];
	size_t n = 1024 * 1024 + 1;
	char *big = malloc(n);
	int fd = mkstemp(path), rc;

	cr_assert_not_null(big);
	cr_assert(fd >= 0);
	memset(big, '#', n);
	cr_assert_eq(write(fd, big, n), (ssize_t)n);
	close(fd);
	free(big);
	rc = syncconf_load(&cfg, path, &err);
	unlink(path);
	cr_expect_eq(rc, ERR_INVALID);
	cr_expect_eq(err.code, ERR_INVALID);
	snprintf(want, sizeof(want), "%s: larger than 1048576 bytes", path);
	cr_expect_str_eq(err.msg, want);
	cr_expect_null(cfg.path);
}

Test(syncconf, aliases_cannot_blow_up)
{
	size_t cap = 1024 * 1024, n = 0;
	char *yaml = malloc(cap);
	int rc;

	cr_assert_not_null(yaml);
	n += (size_t)snprintf(yaml + n, cap - n,
			      "sync:\n- {source: a, tags: &t [");
	for (int i = 0; i < 2000; i++)
		n += (size_t)snprintf(yaml + n, cap - n, "t%d,", i);
	n += (size_t)snprintf(yaml + n, cap - n, "]}\n");
	for (int i = 0; i < 2000; i++)
		n += (size_t)snprintf(yaml + n, cap - n,
				      "- {source: a, tags: *t}\n");
	cr_assert_lt(n, cap);
	rc = syncconf_parse(&cfg, "t.yaml", yaml, n, &err);
	cr_expect_eq(rc, ERR_INVALID, "%s", err.msg);
	cr_expect(strstr(err.msg, "more than 200000 YAML nodes") != NULL, "%s",
		  err.msg);
	free(yaml);
}

/* x+ is copied as x x*: stacked or nested, each + doubles regcomp's work
 * (found by fuzz_syncconf: 2 GB for a++++...). */
Test(syncconf, stacked_plus_is_bounded_like_counts)
{
	char yaml[512];

	snprintf(yaml, sizeof(yaml),
		 "sync:\n- source: a\n  tags: {regex: 'a%s'}\n",
		 "++++++++++++++++++++++++++++++++++++++++++++++++++");
	expect_bad(yaml, 3, 17, "tags.regex: repetition counts|too large");
	expect_bad("sync:\n- source: a\n  tags: {regex: "
		   "'((((((((((((((((((a+)+)+)+)+)+)+)+)+)+)+)+)+)+)+)+)+)+)+'}"
		   "\n",
		   3, 17, "a + counting 2");
	parse_ok("sync:\n- source: a\n  tags: {regex: "
		 "'^v?[0-9]+\\.[0-9]+\\.[0-9]+(-[a-z]+[0-9]+)?[+]x$'}\n");
	cr_expect_eq(cfg.rules[0].tags.has_regex, 1);
}

Test(syncconf, caps_of_the_yaml_reader_are_invalid_config)
{
	char deep[2100];

	memset(deep, '[', 1001);
	snprintf(deep + 1001, sizeof(deep) - 1001, "\n");
	expect_bad(deep, 1, 1001, "YAML nested deeper than 1000 levels");
	expect_bad("sync: &s [{source: a}, *s]\n", 1, 24,
		   "YAML: alias *s is inside the node it refers to");
}

Test(syncconf, oversize_file_is_invalid_and_named)
{
	size_t n = 1024 * 1024 + 1;
	char *big = malloc(n);
	int rc;

	cr_assert_not_null(big);
	memset(big, '#', n);
	rc = syncconf_parse(&cfg, "big.yaml", big, n, &err);
	cr_expect_eq(rc, ERR_INVALID);
	cr_expect_str_eq(err.msg, "big.yaml: larger than 1048576 bytes");
	cr_expect_null(cfg.path);
	free(big);
}

Test(syncconf, files_named_are_checked_before_the_run)
{
	char dir[] = "/tmp/ocimirror-syncfiles-XXXXXX", ca[128], yaml[512];
	char want[700];
	FILE *f;

	cr_assert_not_null(mkdtemp(dir));
	snprintf(ca, sizeof(ca), "%s/ca.pem", dir);
	snprintf(yaml, sizeof(yaml),
		 "registries:\n  r.example:\n    ca: %s\n"
		 "  s.example: {cert: %s/c.pem, key: %s}\n"
		 "sync: [{source: r.example/a}]\n",
		 ca, dir, ca);
	parse_ok(yaml);
	/* the parse alone reads no file; the check names the first missing */
	cr_assert_eq(syncconf_check_files(&cfg, &err), ERR_INVALID);
	snprintf(want, sizeof(want),
		 "t.yaml:3:9: ca: cannot read \"%s\": No such file or "
		 "directory",
		 ca);
	cr_expect_str_eq(err.msg, want);
	f = fopen(ca, "w");
	cr_assert_not_null(f);
	fputs("-----BEGIN CERTIFICATE-----\n", f);
	fclose(f);
	cr_assert_eq(syncconf_check_files(&cfg, &err), ERR_INVALID);
	snprintf(want, sizeof(want),
		 "t.yaml:4:21: cert: cannot read \"%s/c.pem\": No such file "
		 "or directory",
		 dir);
	cr_expect_str_eq(err.msg, want);
	snprintf(want, sizeof(want), "%s/c.pem", dir);
	cr_assert_eq(mkdir(want, 0700), 0);
	cr_assert_eq(syncconf_check_files(&cfg, &err), ERR_INVALID);
	cr_expect(strstr(err.msg, "c.pem\": not a regular file") != NULL, "%s",
		  err.msg);
	rmdir(want);
	f = fopen(want, "w");
	cr_assert_not_null(f);
	fclose(f);
	cr_expect_eq(syncconf_check_files(&cfg, &err), 0, "%s", err.msg);
	unlink(want);
	unlink(ca);
	rmdir(dir);
}

/* ---- mirrors, fallback, tag_ttl, upstream_timeout ---- */

static const char plant_file[] =
    "defaults: {tag_ttl: 60, upstream_timeout: 5}\n"
    "registries:\n"
    "  docker.io:\n"
    "    mirrors: [\"https://enterprise.example:5000/\", "
    "\"http://127.0.0.1:5001\"]\n"
    "    fallback: true\n"
    "  127.0.0.1:5002: {mirrors: [\"HTTPS://enterprise.example:5000\"]}\n"
    "  enterprise.example:5000: {tls: verify, ca: /etc/ocimirror/ent.crt, "
    "max_connections: 2}\n";

Test(syncconf, mirrors_and_fallback_parse_into_fields)
{
	const struct sync_registry *g;

	parse_ok("registries:\n"
		 "  docker.io:\n"
		 "    mirrors: [\"https://enterprise.example:5000/\", "
		 "\"http://127.0.0.1:5001\", \"http://[::1]:5003\", "
		 "\"https://m.example\"]\n"
		 "    fallback: true\n"
		 "  localhost:5000: {mirrors: [\"http://a.example:80\"]}\n"
		 "  r.example: {}\n"
		 "sync: [{source: a}]\n");
	g = syncconf_registry(&cfg, "docker.io");
	cr_assert_not_null(g);
	cr_assert_eq(g->n_mirrors, 4);
	cr_expect_str_eq(g->mirrors[0], "https://enterprise.example:5000");
	cr_expect_str_eq(g->mirrors[1], "http://127.0.0.1:5001");
	cr_expect_str_eq(g->mirrors[2], "http://[::1]:5003");
	cr_expect_str_eq(g->mirrors[3], "https://m.example");
	cr_expect_eq(g->fallback, 1);
	g = syncconf_registry(&cfg, "localhost:5000");
	cr_assert_not_null(g);
	cr_assert_eq(g->n_mirrors, 1);
	cr_expect_str_eq(g->mirrors[0], "http://a.example:80");
	cr_expect_eq(g->fallback, 0);
	g = syncconf_registry(&cfg, "r.example");
	cr_assert_not_null(g);
	cr_expect_eq(g->n_mirrors, 0);
	cr_expect_null(g->mirrors);
	cr_expect_eq(g->fallback, 0);
	/* not given: the defaults */
	cr_expect_eq(cfg.tag_ttl, 300);
	cr_expect_eq(cfg.upstream_timeout, 3);
}

Test(syncconf, bad_mirror_urls_are_refused_with_their_reason)
{
	static const struct {
		const char *url, *words;
	} bad[] = {
	    {"ftp://m.example", "expected http:// or https://"},
	    {"m.example:5000", "expected http:// or https://"},
	    {"https://m.example/v2", "a path is not allowed"},
	    {"https://m.example/v2/", "a path is not allowed"},
	    {"https://m.example?x=1", "a query is not allowed"},
	    {"https://m.example/?x=1", "a query is not allowed"},
	    {"https://m.example#top", "a fragment is not allowed"},
	    {"https://u:p@m.example", "a user is not allowed"},
	    {"https://", "no host"},
	    {"https:///", "no host"},
	    {"https://m_x.example", "invalid host"},
	    {"https://-m.example", "invalid host"},
	    {"https://m.example:", "invalid port"},
	    {"https://m.example:0", "invalid port"},
	    {"https://m.example:65536", "invalid port"},
	    {"https://m.example:50a", "invalid port"},
	    {"http://[::1", "invalid host"},
	    {"http://[]:5000", "invalid host"},
	};
	char yaml[256], words[200];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(yaml, sizeof(yaml),
			 "registries:\n  docker.io: {mirrors: [\"%s\"]}\n"
			 "sync: [{source: a}]\n",
			 bad[i].url);
		snprintf(words, sizeof(words),
			 "registry \"docker.io\": mirrors: \"%s\" is not a "
			 "mirror URL|%s",
			 bad[i].url, bad[i].words);
		expect_bad(yaml, 2, 25, words);
	}
}

Test(syncconf, mirrors_list_shape)
{
	expect_bad("registries: {docker.io: {mirrors: \"https://m.example\"}}\n"
		   "sync: [{source: a}]\n",
		   1, 35, "registry \"docker.io\": mirrors: expected a list");
	expect_bad("registries: {docker.io: {mirrors: []}}\n"
		   "sync: [{source: a}]\n",
		   1, 35, "registry \"docker.io\": mirrors: empty list");
	expect_bad("registries: {docker.io: {mirrors: [\"https://m.example\", "
		   "\"https://m.example/\"]}}\nsync: [{source: a}]\n",
		   1, 57, "mirrors: \"https://m.example/\" listed twice");
	expect_bad("registries: {docker.io: {mirrors: [true]}}\n"
		   "sync: [{source: a}]\n",
		   1, 36, "mirrors: \"true\" is not a mirror URL");
	/* 16 is the most */
	{
		char yaml[1024];
		size_t len = 0;

		for (int n = 16; n <= 17; n++) {
			len = (size_t)snprintf(yaml, sizeof(yaml),
					       "registries: {docker.io: "
					       "{mirrors: [");
			for (int i = 0; i < n; i++)
				len += (size_t)snprintf(
				    yaml + len, sizeof(yaml) - len,
				    "%s\"http://m%d.example\"", i ? ", " : "",
				    i);
			snprintf(yaml + len, sizeof(yaml) - len,
				 "]}}\nsync: [{source: a}]\n");
			if (n == 16) {
				parse_ok(yaml);
				cr_expect_eq(cfg.registries[0].n_mirrors, 16);
				syncconf_release(&cfg);
			} else {
				expect_bad(yaml, 1, 35,
					   "mirrors: more than 16");
			}
		}
	}
}

Test(syncconf, fallback_needs_mirrors_and_a_boolean)
{
	expect_bad("registries: {docker.io: {fallback: true}}\n"
		   "sync: [{source: a}]\n",
		   1, 36,
		   "registry \"docker.io\": fallback: only with mirrors:");
	expect_bad("registries: {docker.io: {fallback: false}}\n"
		   "sync: [{source: a}]\n",
		   1, 36, "fallback: only with mirrors:");
	expect_bad("registries: {docker.io: {mirrors: [\"http://m.example\"], "
		   "fallback: yes}}\nsync: [{source: a}]\n",
		   1, 67,
		   "registry \"docker.io\": fallback: expected true or false");
	parse_ok("registries: {docker.io: {mirrors: [\"http://m.example\"], "
		 "fallback: false}}\nsync: [{source: a}]\n");
	cr_expect_eq(cfg.registries[0].fallback, 0);
}

Test(syncconf, tag_ttl_and_upstream_timeout_bounds)
{
	parse_ok("defaults: {tag_ttl: 0, upstream_timeout: 1}\n"
		 "sync: [{source: a}]\n");
	cr_expect_eq(cfg.tag_ttl, 0);
	cr_expect_eq(cfg.upstream_timeout, 1);
	syncconf_release(&cfg);
	parse_ok("defaults: {tag_ttl: 2147483647, upstream_timeout: 600}\n"
		 "sync: [{source: a}]\n");
	cr_expect_eq(cfg.tag_ttl, 2147483647);
	cr_expect_eq(cfg.upstream_timeout, 600);
	syncconf_release(&cfg);
	expect_bad("defaults: {tag_ttl: -1}\nsync: [{source: a}]\n", 1, 21,
		   "tag_ttl: must be between 0 and 2147483647, got -1");
	expect_bad("defaults: {tag_ttl: 2147483648}\nsync: [{source: a}]\n", 1,
		   21, "tag_ttl: must be between 0 and 2147483647");
	expect_bad("defaults: {tag_ttl: \"300\"}\nsync: [{source: a}]\n", 1, 21,
		   "tag_ttl: expected an integer, got a quoted string");
	expect_bad("defaults: {upstream_timeout: 0}\nsync: [{source: a}]\n", 1,
		   30, "upstream_timeout: must be between 1 and 600, got 0");
	expect_bad("defaults: {upstream_timeout: 601}\nsync: [{source: a}]\n",
		   1, 30, "upstream_timeout: must be between 1 and 600");
	expect_bad("defaults: {upstream_timeout: 2.5}\nsync: [{source: a}]\n",
		   1, 30, "upstream_timeout: expected an integer");
}

static int load_registries_text(const char *text)
{
	char path[] = "/tmp/ocimirror-syncregs-XXXXXX";
	int fd = mkstemp(path), rc;

	cr_assert(fd >= 0);
	cr_assert_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	err_clear(&err);
	rc = syncconf_load_registries(&cfg, path, &err);
	unlink(path);
	return rc;
}

Test(syncconf, registries_only_file)
{
	int rc = load_registries_text(plant_file);

	cr_assert_eq(rc, 0, "%s", err.msg);
	cr_expect_eq(cfg.n_rules, 0);
	cr_expect_null(cfg.rules);
	cr_assert_eq(cfg.n_registries, 3);
	cr_expect_eq(cfg.tag_ttl, 60);
	cr_expect_eq(cfg.upstream_timeout, 5);
	cr_expect_str_eq(cfg.registries[1].mirrors[0],
			 "https://enterprise.example:5000");
	syncconf_release(&cfg);

	/* sync: still parsed (and checked) when present */
	rc = load_registries_text("registries: {r.example: {}}\n"
				  "sync: [{source: a}]\n");
	cr_assert_eq(rc, 0, "%s", err.msg);
	cr_expect_eq(cfg.n_rules, 1);
	syncconf_release(&cfg);
	rc = load_registries_text("registries: {r.example: {}}\nsync: []\n");
	cr_expect_eq(rc, ERR_INVALID);
	cr_expect(strstr(err.msg, "sync: empty list") != NULL, "%s", err.msg);

	/* without sync:, registries are required and not empty */
	rc = load_registries_text("defaults: {tag_ttl: 5}\n");
	cr_expect_eq(rc, ERR_INVALID);
	cr_expect(strstr(err.msg, ":1:1: missing registries:") != NULL, "%s",
		  err.msg);
	cr_expect_null(cfg.path);
	rc = load_registries_text("registries: {}\n");
	cr_expect_eq(rc, ERR_INVALID);
	cr_expect(strstr(err.msg, ":1:13: missing registries:") != NULL, "%s",
		  err.msg);

	/* syncconf_load still requires sync: */
	cr_expect_eq(syncconf_parse(&cfg, "t.yaml", plant_file,
				    strlen(plant_file), &err),
		     ERR_INVALID);
	cr_expect(strstr(err.msg, "missing sync:") != NULL, "%s", err.msg);
}

Test(syncconf, hosts_build_fills_settings_and_mirror_blocks)
{
	struct syncconf_hosts h;
	const struct reg_host_options *d, *p, *e;
	int rc = load_registries_text(plant_file);

	cr_assert_eq(rc, 0, "%s", err.msg);
	cr_assert_eq(syncconf_hosts_build(&h, &cfg, &err), 0, "%s", err.msg);
	cr_assert_eq(h.n, 3);
	cr_expect_str_eq(h.hosts[0].host, "docker.io");
	cr_expect_str_eq(h.hosts[1].host, "127.0.0.1:5002");
	cr_expect_str_eq(h.hosts[2].host, "enterprise.example:5000");
	d = h.hosts[0].opt;
	p = h.hosts[1].opt;
	e = h.hosts[2].opt;
	cr_expect_eq(d, &h.opts[0]);
	cr_expect_eq(e, &h.opts[2]);

	/* docker.io: two mirrors, the first with its own block */
	cr_expect_eq(d->tls, REG_TLS_DEFAULT);
	cr_assert_eq(d->n_mirrors, 2);
	cr_expect_str_eq(d->mirrors[0], "https://enterprise.example:5000");
	cr_expect_str_eq(d->mirrors[1], "http://127.0.0.1:5001");
	cr_expect_eq(d->fallback, 1);
	cr_assert_not_null(d->mirror_opts);
	cr_expect_eq(d->mirror_opts[0], e);
	cr_expect_null(d->mirror_opts[1]);

	/* the scheme is compared apart: HTTPS:// is the same block */
	cr_assert_eq(p->n_mirrors, 1);
	cr_expect_str_eq(p->mirrors[0], "https://enterprise.example:5000");
	cr_expect_eq(p->fallback, 0);
	cr_expect_eq(p->mirror_opts[0], e);

	/* the mirror's own block: its TLS, CA and limits, no mirrors */
	cr_expect_eq(e->tls, REG_TLS_VERIFY);
	cr_expect_str_eq(e->ca_file, "/etc/ocimirror/ent.crt");
	cr_expect_eq(e->max_connections, 2);
	cr_expect_null(e->cert);
	cr_expect_eq(e->n_mirrors, 0);
	cr_expect_null(e->mirrors);
	cr_expect_null(e->mirror_opts);
	cr_expect_eq(e->fallback, 0);
	syncconf_hosts_release(&h);
	cr_expect_null(h.hosts);
	cr_expect_eq(h.n, 0);
}

Test(syncconf, hosts_build_keeps_tls_limits_and_certs)
{
	struct syncconf_hosts h;

	parse_ok("registries:\n"
		 "  r.example: {tls: insecure, cert: /c.pem, key: /k.pem, "
		 "rate: 2/s}\n"
		 "  localhost:5000: {tls: disabled}\n"
		 "sync: [{source: a}]\n");
	cr_assert_eq(syncconf_hosts_build(&h, &cfg, &err), 0, "%s", err.msg);
	cr_assert_eq(h.n, 2);
	cr_expect_eq(h.opts[0].tls, REG_TLS_INSECURE);
	cr_expect_str_eq(h.opts[0].cert, "/c.pem");
	cr_expect_str_eq(h.opts[0].key, "/k.pem");
	cr_expect_float_eq(h.opts[0].rate, 2.0, 1e-9);
	cr_expect_eq(h.opts[0].n_mirrors, 0);
	cr_expect_eq(h.opts[1].tls, REG_TLS_PLAIN);
	syncconf_hosts_release(&h);
}
