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
