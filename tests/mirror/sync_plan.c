/* The sync engine end to end, in process: a source store served by the
 * project's own server on an ephemeral loopback port, a configuration
 * parsed from a string, sync_run into a second store; then what that
 * store holds and what the report said. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mirror/fresh.h"
#include "mirror/sync/sync.h"
#include "mirror/sync/syncconf.h"
#include "mirror/sync/tagfilter.h"
#include "registry/client.h"
#include "loopfix.h"

static struct loop lp; /* the source: lp.remote served on lp.host */
static struct fix dst;
static struct sync_config cfg;
static struct sync_report rep;

/* The source's plant/app: one image per tag, each its own content. */
static const char *const app_tags[] = {"1.0.0", "1.2.0",  "2.0.0-rc.1",
				       "2.0.0", "latest", "dev-build"};
#define N_APP (sizeof(app_tags) / sizeof(app_tags[0]))
static struct oci_digest app[N_APP];
static int64_t app_bytes[N_APP]; /* config + layer */

static struct oci_digest image(const char *repo, const char *name,
			       int64_t *bytes_out)
{
	char config[128], layer[128];
	const char *layers[1] = {layer};

	snprintf(config, sizeof(config),
		 "{\"architecture\":\"amd64\","
		 "\"os\":\"linux\",\"n\":\"%s\"}",
		 name);
	snprintf(layer, sizeof(layer), "layer bytes of %s/%s", repo, name);
	if (bytes_out)
		*bytes_out = (int64_t)(strlen(config) + strlen(layer));
	return fix_image(&lp.remote, repo, config, layers, 1, NULL, NULL);
}

/* The store repository of a rule without destination: host/path. */
static const char *src_repo(const char *path)
{
	static char name[OCI_REPO_MAX];

	snprintf(name, sizeof(name), "%s/%s", lp.host, path);
	return name;
}

static size_t app_index(const char *tag)
{
	for (size_t i = 0; i < N_APP; i++)
		if (!strcmp(app_tags[i], tag))
			return i;
	cr_assert_fail("no source tag %s", tag);
	return 0;
}

static void setup(void)
{
	struct err e;

	loop_start(&lp, 0);
	fix_setup(&dst);
	for (size_t i = 0; i < N_APP; i++) {
		app[i] = image("plant/app", app_tags[i], &app_bytes[i]);
		fix_tag(&lp.remote, "plant/app", app_tags[i], &app[i],
			MT_MANIFEST);
	}
	cr_assert_eq(store_lock(&dst.st, 0, &e), 0, "%s", e.msg);
	memset(&rep, 0, sizeof(rep));
	memset(&cfg, 0, sizeof(cfg));
}

static void teardown(void)
{
	sync_report_release(&rep);
	syncconf_release(&cfg);
	store_unlock(&dst.st);
	fix_teardown(&dst);
	loop_stop(&lp);
}

TestSuite(sync_plan, .init = setup, .fini = teardown);

/* Parse yaml, every "SRC" in it replaced by the server's host:port, after
 * a registries: block saying the server speaks plain http (no https probe,
 * which the server would log as a malformed request). */
static void load(const char *yaml)
{
	char text[4096];
	size_t o;
	struct err e;

	o = (size_t)snprintf(text, sizeof(text),
			     "registries: {'%s': {tls: disabled}}\n", lp.host);
	for (const char *p = yaml; *p && o + 32 < sizeof(text);) {
		if (!strncmp(p, "SRC", 3)) {
			o += (size_t)snprintf(text + o, sizeof(text) - o, "%s",
					      lp.host);
			p += 3;
		} else {
			text[o++] = *p++;
		}
	}
	text[o] = '\0';
	syncconf_release(&cfg);
	cr_assert_eq(syncconf_parse(&cfg, "t.yaml", text, o, &e), 0,
		     "%s\n--\n%s", e.msg, text);
}

/* One run; its return code. The previous report is released. */
static int run(int dry_run)
{
	struct sync_options o;
	struct err e;

	memset(&o, 0, sizeof(o));
	o.dry_run = dry_run;
	sync_report_release(&rep);
	return sync_run(&rep, &dst.st, &cfg, &lp.reg, &o, &e);
}

/* The report line of repo:tag (there must be exactly one). */
static const struct sync_tag_result *line(const char *repo, const char *tag)
{
	const struct sync_tag_result *found = NULL;

	for (size_t i = 0; i < rep.n; i++)
		if (!strcmp(rep.tags[i].repo, repo) &&
		    !strcmp(rep.tags[i].tag, tag)) {
			cr_assert_null(found, "two report lines for %s:%s",
				       repo, tag);
			found = &rep.tags[i];
		}
	cr_assert_not_null(found, "no report line for %s:%s", repo, tag);
	return found;
}

static void expect_line(const char *repo, const char *tag, enum sync_action a,
			const struct oci_digest *d)
{
	const struct sync_tag_result *t = line(repo, tag);

	cr_expect_eq(t->action, a, "%s:%s: %s, want %s (%s)", repo, tag,
		     sync_action_name(t->action), sync_action_name(a),
		     t->err.msg);
	if (d)
		cr_expect(oci_digest_equal(&t->digest, d),
			  "%s:%s: digest %s, want %s", repo, tag, t->digest.str,
			  d->str);
}

/* dst holds repo:tag -> d, complete. */
static void expect_stored(const char *repo, const char *tag,
			  const struct oci_digest *d)
{
	struct store_ref r;
	struct err e;

	cr_assert_eq(store_tag_get(&r, &dst.st, repo, tag, &e), 0,
		     "%s:%s not stored: %s", repo, tag, e.msg);
	cr_expect(oci_digest_equal(&r.digest, d), "%s:%s -> %s, want %s", repo,
		  tag, r.digest.str, d->str);
	cr_expect_str_eq(r.media_type, MT_MANIFEST);
	cr_expect(fresh_manifest_complete(&dst.st, repo, d, NULL, 0),
		  "%s:%s incomplete", repo, tag);
	cr_expect(fresh_tag_current(&dst.st, repo, tag, d, NULL, 0));
}

static void expect_no_tag(const char *repo, const char *tag)
{
	struct store_ref r;

	cr_expect_eq(store_tag_get(&r, &dst.st, repo, tag, NULL), ERR_NOT_FOUND,
		     "%s:%s should not be stored", repo, tag);
}

Test(sync_plan, tag_selection_against_the_served_source)
{
	struct reg_host_options plain = {.tls = REG_TLS_PLAIN};
	struct reg_client *c;
	char **tags = NULL, **sel = NULL;
	size_t n = 0, n_sel = 0;
	struct err e;

	load("sync:\n"
	     "  - source: SRC/plant/app\n"
	     "    tags: {regex: '^[0-9]', exclude: '-rc', latest: 2}\n");
	cr_assert_eq(reg_client_new(&c, lp.host, &lp.reg, &e), 0, "%s", e.msg);
	cr_assert_eq(reg_client_configure(c, &plain, &e), 0, "%s", e.msg);
	cr_assert_eq(reg_client_list_tags(c, &tags, &n, "plant/app", &e), 0,
		     "%s", e.msg);
	cr_expect_eq(n, N_APP);
	cr_assert_eq(
	    tagfilter_select(&sel, &n_sel, &cfg.rules[0].tags, tags, n, &e), 0,
	    "%s", e.msg);
	cr_assert_eq(n_sel, 2);
	cr_expect_str_eq(sel[0], "1.2.0");
	cr_expect_str_eq(sel[1], "2.0.0");
	cr_expect_null(sel[2]);
	oci_strv_free(sel);
	oci_strv_free(tags);
	reg_client_free(c);
}

Test(sync_plan, semver_rule_stores_the_selected_tags_then_unchanged)
{
	size_t a = app_index("1.0.0"), b = app_index("1.2.0");
	char want_src[64];

	load("sync:\n"
	     "  - source: SRC/plant/app\n"
	     "    tags: {semver: '>=1.0.0 <2.0.0'}\n"
	     "    destination: mirror/app\n");
	cr_assert_eq(run(0), 0, "failed: %zu", rep.failed);
	cr_expect_eq(rep.n, 2);
	cr_expect_eq(rep.failed, 0);
	expect_line("mirror/app", "1.0.0", SYNC_ADDED, &app[a]);
	expect_line("mirror/app", "1.2.0", SYNC_ADDED, &app[b]);
	snprintf(want_src, sizeof(want_src), "%s/plant/app:1.0.0", lp.host);
	cr_expect_str_eq(line("mirror/app", "1.0.0")->source, want_src);
	/* each image: its config and its one layer */
	cr_expect_eq(line("mirror/app", "1.0.0")->blobs, 2);
	cr_expect_eq(line("mirror/app", "1.2.0")->blobs, 2);
	cr_expect_eq(line("mirror/app", "1.0.0")->bytes,
		     (uint64_t)app_bytes[a]);
	cr_expect_eq(rep.bytes, (uint64_t)(app_bytes[a] + app_bytes[b]));
	expect_stored("mirror/app", "1.0.0", &app[a]);
	expect_stored("mirror/app", "1.2.0", &app[b]);
	expect_no_tag("mirror/app", "2.0.0");
	expect_no_tag("mirror/app", "2.0.0-rc.1");
	expect_no_tag("mirror/app", "latest");
	cr_expect(!fix_blob_present(&dst, &app[app_index("2.0.0")]));
	cr_expect(!store_repo_exists(&dst.st, "plant/app"),
		  "stored under the source's name");

	/* the second run: nothing to fetch, both unchanged */
	cr_assert_eq(run(0), 0);
	cr_expect_eq(rep.n, 2);
	expect_line("mirror/app", "1.0.0", SYNC_UNCHANGED, &app[a]);
	expect_line("mirror/app", "1.2.0", SYNC_UNCHANGED, &app[b]);
	cr_expect_eq(rep.bytes, 0);
	cr_expect_eq(line("mirror/app", "1.2.0")->blobs, 0);
	expect_stored("mirror/app", "1.2.0", &app[b]);
}

Test(sync_plan, dry_run_counts_and_changes_nothing)
{
	size_t a = app_index("2.0.0");
	char *before = fix_tree(&dst), *after;

	load("sync:\n"
	     "  - source: SRC/plant/app:2.0.0\n");
	cr_assert_eq(run(1), 0);
	cr_assert_eq(rep.n, 1);
	expect_line(src_repo("plant/app"), "2.0.0", SYNC_ADDED, &app[a]);
	cr_expect_eq(rep.tags[0].blobs, 2, "blobs to fetch");
	cr_expect_eq(rep.tags[0].bytes, (uint64_t)app_bytes[a],
		     "bytes to fetch");
	after = fix_tree(&dst);
	cr_expect_str_eq(after, before, "the dry run wrote to the store");
	cr_expect(!store_repo_exists(&dst.st, src_repo("plant/app")));
	free(before);
	free(after);
}

Test(sync_plan, moved_tag_updated_deselected_tag_pruned)
{
	struct oci_digest moved;
	size_t l = app_index("latest"), one = app_index("1.0.0");

	load("sync:\n"
	     "  - source: SRC/plant/app\n"
	     "    tags: ['1.0.0', '1.2.0', latest]\n"
	     "    destination: mirror/app\n"
	     "    prune: true\n");
	cr_assert_eq(run(0), 0);
	cr_expect_eq(rep.n, 3);

	/* upstream: 1.2.0 moves to new content; 1.0.0 leaves the selection */
	moved = image("plant/app", "1.2.0-rebuilt", NULL);
	fix_tag(&lp.remote, "plant/app", "1.2.0", &moved, MT_MANIFEST);
	load("sync:\n"
	     "  - source: SRC/plant/app\n"
	     "    tags: ['1.2.0', latest, 'not-upstream']\n"
	     "    destination: mirror/app\n"
	     "    prune: true\n");
	cr_assert_eq(run(0), 0, "failed: %zu", rep.failed);
	cr_expect_eq(rep.n, 3);
	expect_line("mirror/app", "1.2.0", SYNC_UPDATED, &moved);
	expect_line("mirror/app", "latest", SYNC_UNCHANGED, &app[l]);
	expect_line("mirror/app", "1.0.0", SYNC_PRUNED, &app[one]);
	expect_stored("mirror/app", "1.2.0", &moved);
	expect_stored("mirror/app", "latest", &app[l]);
	expect_no_tag("mirror/app", "1.0.0");
	expect_no_tag("mirror/app", "not-upstream");
}

Test(sync_plan, platforms_pick_the_children_of_an_index)
{
	struct oci_digest amd, arm, idx, amd_layer;
	const char amd_layer_text[] = "amd64 layer";
	const char *l_amd[1] = {amd_layer_text}, *l_arm[1] = {"arm64 layer"};
	struct oci_platform arm64;
	struct err e;

	amd = fix_image(&lp.remote, "plant/multi",
			"{\"architecture\":\"amd64\"}", l_amd, 1, NULL, NULL);
	arm = fix_image(&lp.remote, "plant/multi",
			"{\"architecture\":\"arm64\"}", l_arm, 1, NULL, NULL);
	idx = fix_index(&lp.remote, "plant/multi", &amd, &arm);
	fix_tag(&lp.remote, "plant/multi", "v1", &idx, MT_INDEX);
	oci_digest_of(&amd_layer, OCI_SHA256, amd_layer_text,
		      strlen(amd_layer_text));

	load("defaults: {platforms: [linux/amd64]}\n"
	     "sync:\n"
	     "  - source: SRC/plant/multi:v1\n"
	     "    platforms: [linux/arm64]\n");
	cr_assert_eq(run(0), 0, "failed: %zu", rep.failed);
	cr_assert_eq(rep.n, 1);
	expect_line(src_repo("plant/multi"), "v1", SYNC_ADDED, &idx);
	cr_assert_eq(oci_platform_parse(&arm64, "linux/arm64", &e), 0, "%s",
		     e.msg);
	/* the rule's platform, not the default: arm64 whole, amd64 absent */
	cr_expect(fresh_tag_current(&dst.st, src_repo("plant/multi"), "v1",
				    &idx, &arm64, 1));
	cr_expect(fix_blob_present(&dst, &arm));
	cr_expect(!fix_blob_present(&dst, &amd));
	cr_expect(!fix_blob_present(&dst, &amd_layer));
	cr_expect(!fresh_manifest_complete(&dst.st, src_repo("plant/multi"),
					   &idx, NULL, 0),
		  "complete for every platform without amd64");

	cr_assert_eq(run(0), 0);
	expect_line(src_repo("plant/multi"), "v1", SYNC_UNCHANGED, &idx);
	cr_expect_eq(rep.bytes, 0);
}

Test(sync_plan, failed_image_reported_others_stored)
{
	struct oci_digest broken, gone;
	size_t a = app_index("1.0.0");
	const char layer[] = "a layer the source lost";
	const char *layers[1] = {layer};
	const struct sync_tag_result *t;
	struct err e;

	broken = fix_image(&lp.remote, "plant/app", "{\"n\":\"broken\"}",
			   layers, 1, NULL, NULL);
	fix_tag(&lp.remote, "plant/app", "broken", &broken, MT_MANIFEST);
	oci_digest_of(&gone, OCI_SHA256, layer, strlen(layer));
	cr_assert_eq(store_blob_delete(&lp.remote.st, &gone, &e), 0, "%s",
		     e.msg);

	load("sync:\n"
	     "  - source: SRC/plant/app\n"
	     "    tags: [broken, '1.0.0']\n");
	cr_expect_eq(run(0), ERR_FAIL);
	cr_expect_eq(rep.failed, 1);
	cr_expect_eq(rep.n, 2);
	t = line(src_repo("plant/app"), "broken");
	cr_expect_eq(t->action, SYNC_FAILED);
	cr_expect(oci_digest_equal(&t->digest, &broken));
	cr_expect_neq(t->err.code, ERR_OK);
	cr_expect_neq(t->err.msg[0], '\0', "a failure without a message");
	expect_no_tag(src_repo("plant/app"), "broken");
	expect_line(src_repo("plant/app"), "1.0.0", SYNC_ADDED, &app[a]);
	expect_stored(src_repo("plant/app"), "1.0.0", &app[a]);
	cr_expect(!fix_blob_present(&dst, &gone));
}

/* The lines of rule `dest` in report order, from line *at on: they must
 * be exactly want (n tags) and carry action a. */
static void expect_run_of(size_t *at, const char *dest, const char *const *want,
			  size_t n, enum sync_action a)
{
	for (size_t i = 0; i < n; i++, (*at)++) {
		const struct sync_tag_result *t;

		cr_assert_lt(*at, rep.n, "report ends before %s:%s", dest,
			     want[i]);
		t = &rep.tags[*at];
		cr_expect_str_eq(t->repo, dest, "line %zu", *at);
		cr_expect_str_eq(t->tag, want[i], "line %zu of %s", *at, dest);
		cr_expect_eq(t->action, a, "%s:%s: %s (%s)", dest, want[i],
			     sync_action_name(t->action), t->err.msg);
	}
}

static int by_name(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Four rules whose answers come back in any order: an unfiltered list, an
 * exact list, one tag, one digest. */
static char orders_yaml[1024];
static const char *const other_tags[] = {"a", "b", "c"};

static void orders_setup(void)
{
	struct oci_digest d;

	for (size_t i = 0; i < 3; i++) {
		d = image("plant/other", other_tags[i], NULL);
		fix_tag(&lp.remote, "plant/other", other_tags[i], &d,
			MT_MANIFEST);
	}
	snprintf(orders_yaml, sizeof(orders_yaml),
		 "sync:\n"
		 "  - source: SRC/plant/app\n"
		 "    destination: mirror/app\n"
		 "  - source: SRC/plant/other\n"
		 "    tags: [c, a, b, not-there]\n"
		 "    destination: mirror/other\n"
		 "  - source: SRC/plant/app:latest\n"
		 "    destination: mirror/one\n"
		 "  - source: SRC/plant/app@%s\n"
		 "    destination: mirror/pin\n",
		 app[app_index("1.0.0")].str);
}

/* The report of a run of orders_yaml, line by line: rule order, and in a
 * rule the filter's order (lexical here). */
static void expect_orders(enum sync_action a)
{
	const char *sorted[N_APP], *one[1] = {"latest"}, *pin[1] = {""};
	size_t at = 0;

	memcpy(sorted, app_tags, sizeof(sorted));
	qsort(sorted, N_APP, sizeof(sorted[0]), by_name);
	cr_assert_eq(rep.n, N_APP + 3 + 1 + 1, "%zu lines", rep.n);
	expect_run_of(&at, "mirror/app", sorted, N_APP, a);
	expect_run_of(&at, "mirror/other", other_tags, 3, a);
	expect_run_of(&at, "mirror/one", one, 1, a);
	expect_run_of(&at, "mirror/pin", pin, 1, a);
	cr_expect(oci_digest_equal(&rep.tags[at - 1].digest,
				   &app[app_index("1.0.0")]));
}

Test(sync_plan, report_in_rule_and_tag_order_whatever_answers_first)
{
	orders_setup();
	load(orders_yaml);
	cr_assert_eq(run(0), 0, "failed: %zu", rep.failed);
	expect_orders(SYNC_ADDED);
	cr_assert_eq(run(0), 0, "failed: %zu", rep.failed);
	expect_orders(SYNC_UNCHANGED);
	cr_assert_eq(run(1), 0, "failed: %zu", rep.failed);
	expect_orders(SYNC_UNCHANGED);
}

Test(sync_plan, a_rule_that_fails_keeps_its_place)
{
	load("sync:\n"
	     "  - source: SRC/plant/app:latest\n"
	     "    destination: mirror/one\n"
	     "  - source: SRC/plant/nowhere\n"
	     "    destination: mirror/nowhere\n"
	     "  - source: SRC/plant/app\n"
	     "    tags: ['1.0.0', '1.2.0']\n"
	     "    destination: mirror/app\n");
	cr_expect_eq(run(0), ERR_FAIL);
	cr_assert_eq(rep.n, 4);
	cr_expect_eq(rep.failed, 1);
	cr_expect_str_eq(rep.tags[0].repo, "mirror/one");
	cr_expect_eq(rep.tags[0].action, SYNC_ADDED);
	cr_expect_str_eq(rep.tags[1].repo, "mirror/nowhere");
	cr_expect_str_eq(rep.tags[1].tag, "");
	cr_expect_eq(rep.tags[1].action, SYNC_FAILED);
	cr_expect(strstr(rep.tags[1].err.msg, "list tags of "), "%s",
		  rep.tags[1].err.msg);
	cr_expect_str_eq(rep.tags[2].tag, "1.0.0");
	cr_expect_str_eq(rep.tags[3].tag, "1.2.0");
	cr_expect_eq(rep.tags[3].action, SYNC_ADDED);
}

Test(sync_plan, noop_one_head_per_tag_and_no_blob)
{
	struct loop_counts n;

	orders_setup();
	load(orders_yaml);
	cr_assert_eq(run(0), 0, "failed: %zu", rep.failed);
	n = loop_restart(&lp);
	cr_expect_eq(n.manifest_head, N_APP + 3 + 1, "HEADs of the cold run");
	cr_expect_gt(n.blob_get, 0);

	load(orders_yaml); /* the new port */
	cr_assert_eq(run(0), 0, "failed: %zu", rep.failed);
	expect_orders(SYNC_UNCHANGED);
	n = loop_restart(&lp);
	/* 9 tags HEADed (not-there is not upstream, the pin needs none) */
	cr_expect_eq(n.manifest_head, N_APP + 3 + 1);
	cr_expect_eq(n.tag_lists, 2);
	cr_expect_eq(n.manifest_get, 0);
	cr_expect_eq(n.blob_get, 0);
	cr_expect_eq(n.referrers, 0);
	cr_expect_eq(rep.bytes, 0);
}

/* app's 1.0.0 gets a signature upstream after it was mirrored. */
static struct oci_digest sign_app(void)
{
	static const char *const sig_layers[] = {"signature of 1.0.0"};
	struct oci_digest img = app[app_index("1.0.0")], sig;
	int64_t size = 0;
	char desc[512];
	struct err e;

	sig = fix_image(&lp.remote, "plant/app", "{\"sig\":1}", sig_layers, 1,
			&img, "application/vnd.example.sig");
	cr_assert(store_blob_exists(&size, &lp.remote.st, &sig));
	fix_desc(desc, sizeof(desc), MT_MANIFEST, &sig, (long long)size);
	cr_assert_eq(store_referrer_add(&lp.remote.st, "plant/app", &img, &sig,
					desc, &e),
		     0, "%s", e.msg);
	return sig;
}

static const char recheck_yaml[] = "defaults: {referrers: true%s}\n"
				   "sync:\n"
				   "  - source: SRC/plant/app\n"
				   "    tags: ['1.0.0']\n"
				   "    destination: mirror/app\n";

static void load_recheck(int on)
{
	char y[512];

	snprintf(y, sizeof(y), recheck_yaml,
		 on ? ", referrers_recheck: true" : "");
	load(y);
}

Test(sync_plan, recheck_brings_a_new_referrer_under_an_unchanged_tag)
{
	struct oci_digest sig;
	struct store_ref sr;
	struct loop_counts n;

	load_recheck(0);
	cr_assert_eq(run(0), 0, "failed: %zu", rep.failed);
	expect_line("mirror/app", "1.0.0", SYNC_ADDED,
		    &app[app_index("1.0.0")]);
	sig = sign_app();

	/* by default an unchanged tag costs its HEAD only: no signature */
	cr_assert_eq(run(0), 0);
	expect_line("mirror/app", "1.0.0", SYNC_UNCHANGED, NULL);
	cr_expect_eq(store_manifest_get(&sr, &dst.st, "mirror/app", &sig, NULL),
		     ERR_NOT_FOUND);

	/* a dry run with recheck counts the signature, stores nothing */
	(void)loop_restart(&lp);
	load_recheck(1);
	cr_assert_eq(run(1), 0, "failed: %zu", rep.failed);
	expect_line("mirror/app", "1.0.0", SYNC_UNCHANGED, NULL);
	cr_expect_eq(rep.tags[0].blobs, 2, "the signature's config and layer");
	cr_expect_eq(store_manifest_get(&sr, &dst.st, "mirror/app", &sig, NULL),
		     ERR_NOT_FOUND);

	(void)loop_restart(&lp);
	load_recheck(1);
	cr_assert_eq(run(0), 0, "failed: %zu", rep.failed);
	expect_line("mirror/app", "1.0.0", SYNC_UNCHANGED,
		    &app[app_index("1.0.0")]);
	cr_expect_eq(rep.tags[0].blobs, 2, "the signature's config and layer");
	cr_expect_eq(store_manifest_get(&sr, &dst.st, "mirror/app", &sig, NULL),
		     0, "the new signature is stored");
	expect_stored("mirror/app", "1.0.0", &app[app_index("1.0.0")]);
	n = loop_restart(&lp);
	cr_expect_eq(n.manifest_head, 1);
	cr_expect_eq(n.blob_get, 2);
	fprintf(stderr,
		"recheck, new signature: %lu HEAD, %lu manifest GET, %lu "
		"referrers, %lu blob GET, %lu tag lists, %lu other\n",
		n.manifest_head, n.manifest_get, n.referrers, n.blob_get,
		n.tag_lists, n.other);

	/* nothing new: no blob, the tag's own manifests and referrers only */
	load_recheck(1);
	cr_assert_eq(run(0), 0, "failed: %zu", rep.failed);
	expect_line("mirror/app", "1.0.0", SYNC_UNCHANGED, NULL);
	cr_expect_eq(rep.tags[0].blobs, 0);
	n = loop_restart(&lp);
	cr_expect_eq(n.manifest_head, 1);
	cr_expect_eq(n.blob_get, 0);
	cr_expect_gt(n.referrers + n.manifest_get, 0, "the recheck asked");
	fprintf(stderr,
		"recheck, nothing new: %lu HEAD, %lu manifest GET, %lu "
		"referrers, %lu blob GET, %lu tag lists, %lu other\n",
		n.manifest_head, n.manifest_get, n.referrers, n.blob_get,
		n.tag_lists, n.other);
}

/* More tags than the HEAD window of a rule (128) and than the pulls let
 * wait (512): every tag still gets its line, in order, and one HEAD. */
Test(sync_plan, more_tags_than_the_windows_each_headed_once)
{
	enum { N_MANY = 600 };
	struct oci_digest d = image("plant/many", "the one image", NULL);
	struct loop_counts n;
	char tag[16];

	for (int i = 0; i < N_MANY; i++) {
		snprintf(tag, sizeof(tag), "t%04d", i);
		fix_tag(&lp.remote, "plant/many", tag, &d, MT_MANIFEST);
	}
	load("sync:\n"
	     "  - source: SRC/plant/many\n"
	     "    destination: mirror/many\n");
	cr_assert_eq(run(0), 0, "failed: %zu", rep.failed);
	cr_assert_eq(rep.n, N_MANY);
	for (int i = 0; i < N_MANY; i++) {
		snprintf(tag, sizeof(tag), "t%04d", i);
		cr_assert_str_eq(rep.tags[i].tag, tag);
		cr_assert_eq(rep.tags[i].action, SYNC_ADDED, "%s: %s", tag,
			     rep.tags[i].err.msg);
	}
	expect_stored("mirror/many", "t0599", &d);
	n = loop_restart(&lp);
	cr_expect_eq(n.manifest_head, N_MANY);
	cr_expect_eq(n.blob_get, 2, "config and layer, once for every tag");

	load("sync:\n"
	     "  - source: SRC/plant/many\n"
	     "    destination: mirror/many\n");
	cr_assert_eq(run(0), 0, "failed: %zu", rep.failed);
	cr_assert_eq(rep.n, N_MANY);
	for (int i = 0; i < N_MANY; i++)
		cr_assert_eq(rep.tags[i].action, SYNC_UNCHANGED);
	n = loop_restart(&lp);
	cr_expect_eq(n.manifest_head, N_MANY);
	cr_expect_eq(n.manifest_get + n.blob_get + n.referrers, 0);
}

/* More tags in all than the run's HEAD window (256), a few per rule: every
 * rule's lines present, in rule and tag order, one HEAD each. */
Test(sync_plan, many_rules_of_a_few_tags_each_headed_once)
{
	enum { N_RULES = 40, N_TAGS = 8 };
	struct oci_digest d;
	struct loop_counts n;
	char yaml[4096], repo[32], tag[16];
	size_t o = 0;

	o += (size_t)snprintf(yaml + o, sizeof(yaml) - o, "sync:\n");
	for (int r = 0; r < N_RULES; r++) {
		snprintf(repo, sizeof(repo), "plant/f%02d", r);
		d = image(repo, "the one image", NULL);
		for (int i = 0; i < N_TAGS; i++) {
			snprintf(tag, sizeof(tag), "t%d", i);
			fix_tag(&lp.remote, repo, tag, &d, MT_MANIFEST);
		}
		o += (size_t)snprintf(
		    yaml + o, sizeof(yaml) - o,
		    "  - {source: SRC/%s, destination: m/%02d}\n", repo, r);
		cr_assert_lt(o, sizeof(yaml) - 200);
	}
	for (int round = 0; round < 2; round++) {
		load(yaml);
		cr_assert_eq(run(0), 0, "failed: %zu (%s)", rep.failed,
			     rep.n ? rep.tags[0].err.msg : "");
		cr_assert_eq(rep.n, (size_t)(N_RULES * N_TAGS));
		for (int r = 0; r < N_RULES; r++)
			for (int i = 0; i < N_TAGS; i++) {
				const struct sync_tag_result *t =
				    &rep.tags[r * N_TAGS + i];

				snprintf(repo, sizeof(repo), "m/%02d", r);
				snprintf(tag, sizeof(tag), "t%d", i);
				cr_assert_str_eq(t->repo, repo);
				cr_assert_str_eq(t->tag, tag);
				cr_assert_eq(
				    t->action,
				    round ? SYNC_UNCHANGED : SYNC_ADDED,
				    "%s:%s: %s", repo, tag, t->err.msg);
			}
		expect_stored("m/39", "t7", &d); /* plant/f39's */
		n = loop_restart(&lp);
		cr_expect_eq(n.manifest_head, (size_t)(N_RULES * N_TAGS));
		cr_expect_eq(n.tag_lists, N_RULES);
		/* the one config (the same in every repository), each
		 * rule's layer: each once for all the tags */
		cr_expect_eq(n.blob_get, round ? 0 : 1 + N_RULES, "%lu",
			     n.blob_get);
	}
}

/* Two rules into one destination, the second pruning what its filter
 * leaves out: the first rule's new tags, committed in the same run, are
 * not pruned (the destination's tags are those of before the run). */
Test(sync_plan, prune_of_a_shared_destination_spares_this_runs_tags)
{
	struct oci_digest other = image("plant/other", "other", NULL);
	size_t one = app_index("1.0.0"), two = app_index("2.0.0");

	fix_tag(&lp.remote, "plant/other", "o1", &other, MT_MANIFEST);
	fix_tag(&lp.remote, "plant/other", "o2", &other, MT_MANIFEST);
	/* before: the destination holds 1.0.0 (kept) and 1.2.0 (pruned) */
	load("sync:\n"
	     "  - source: SRC/plant/app\n"
	     "    tags: ['1.0.0', '1.2.0']\n"
	     "    destination: mirror/shared\n");
	cr_assert_eq(run(0), 0, "failed: %zu", rep.failed);

	load("sync:\n"
	     "  - source: SRC/plant/other\n"
	     "    destination: mirror/shared\n"
	     "  - source: SRC/plant/app\n"
	     "    tags: ['1.0.0', '2.0.0']\n"
	     "    destination: mirror/shared\n"
	     "    prune: true\n");
	cr_assert_eq(run(0), 0, "failed: %zu", rep.failed);
	cr_expect_eq(rep.n, 5);
	expect_line("mirror/shared", "o1", SYNC_ADDED, &other);
	expect_line("mirror/shared", "o2", SYNC_ADDED, &other);
	expect_line("mirror/shared", "1.0.0", SYNC_UNCHANGED, &app[one]);
	expect_line("mirror/shared", "2.0.0", SYNC_ADDED, &app[two]);
	expect_line("mirror/shared", "1.2.0", SYNC_PRUNED, NULL);
	expect_stored("mirror/shared", "o1", &other);
	expect_stored("mirror/shared", "o2", &other);
	expect_stored("mirror/shared", "2.0.0", &app[two]);
	expect_no_tag("mirror/shared", "1.2.0");
}
