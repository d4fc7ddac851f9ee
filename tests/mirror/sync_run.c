/* sync_run's failure paths: a source that refuses connections. Each rule
 * is one failed line naming its source, the rest of the run goes on, and
 * the run's error says how many lines failed. */
#include <criterion/criterion.h>
#include <string.h>

#include "mirror/sync/sync.h"
#include "mirror/sync/syncconf.h"
#include "storefix.h"

static struct fix dst;

static void setup(void)
{
	struct err e;

	fix_setup(&dst);
	cr_assert_eq(store_lock(&dst.st, 0, &e), 0, "%s", e.msg);
}

static void teardown(void)
{
	store_unlock(&dst.st);
	fix_teardown(&dst);
}

TestSuite(sync_run, .init = setup, .fini = teardown);

#define DEAD "127.0.0.1:1" /* nothing listens on port 1 */
#define PIN                                                                    \
	"sha256:"                                                              \
	"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

static int run(struct sync_report *out, const char *yaml, int dry_run,
	       struct err *err)
{
	struct sync_config cfg;
	struct reg_options ro;
	struct sync_options o;
	struct err e;
	int rc;

	cr_assert_eq(syncconf_parse(&cfg, "t.yaml", yaml, strlen(yaml), &e), 0,
		     "%s", e.msg);
	reg_options_init(&ro);
	ro.retries = 0;
	memset(&o, 0, sizeof(o));
	o.dry_run = dry_run;
	err_clear(err);
	rc = sync_run(out, &dst.st, &cfg, &ro, &o, err);
	syncconf_release(&cfg);
	return rc;
}

static const char yaml[] = "registries: {'" DEAD "': {tls: disabled}}\n"
			   "sync:\n"
			   "  - source: " DEAD "/plant/app\n"
			   "    prune: true\n"
			   "  - source: " DEAD "/plant/one:1.0\n"
			   "    destination: mirror/one\n"
			   "  - source: " DEAD "/plant/pin@" PIN "\n";

static void expect_failed_runs(int dry_run)
{
	struct sync_report rep;
	struct err err;

	cr_assert_eq(run(&rep, yaml, dry_run, &err), ERR_FAIL);
	cr_expect_str_eq(err.msg, "sync: 3 failed (the report says which)");
	cr_assert_eq(rep.n, 3);
	cr_expect_eq(rep.failed, 3);
	cr_expect_eq(rep.bytes, 0);

	/* a listing that fails: the rule's line, nothing pruned */
	cr_expect_eq(rep.tags[0].action, SYNC_FAILED);
	cr_expect_str_eq(rep.tags[0].source, DEAD "/plant/app");
	cr_expect_str_eq(rep.tags[0].repo, DEAD "/plant/app");
	cr_expect_str_eq(rep.tags[0].tag, "");
	cr_expect(!strncmp(rep.tags[0].err.msg,
			   "list tags of " DEAD "/plant/app: ",
			   strlen("list tags of " DEAD "/plant/app: ")),
		  "%s", rep.tags[0].err.msg);

	/* a named tag is not listed, its HEAD fails */
	cr_expect_eq(rep.tags[1].action, SYNC_FAILED);
	cr_expect_str_eq(rep.tags[1].source, DEAD "/plant/one:1.0");
	cr_expect_str_eq(rep.tags[1].repo, "mirror/one");
	cr_expect_str_eq(rep.tags[1].tag, "1.0");
	cr_expect_neq(rep.tags[1].err.code, 0);
	cr_expect_neq(rep.tags[1].err.msg[0], '\0');

	/* a pinned digest the store lacks is queued; its pull fails */
	cr_expect_eq(rep.tags[2].action, SYNC_FAILED);
	cr_expect_str_eq(rep.tags[2].source, DEAD "/plant/pin@" PIN);
	cr_expect_str_eq(rep.tags[2].repo, DEAD "/plant/pin");
	cr_expect_str_eq(rep.tags[2].digest.str, PIN);
	cr_expect_eq(rep.tags[2].blobs, 0);
	cr_expect_neq(rep.tags[2].err.msg[0], '\0');
	sync_report_release(&rep);
	cr_expect_eq(rep.n, 0);
	cr_expect_null(rep.tags);
}

Test(sync_run, unreachable_source_each_rule_one_failed_line)
{
	expect_failed_runs(0);
}

Test(sync_run, unreachable_source_dry_run_the_same)
{
	expect_failed_runs(1);
}
