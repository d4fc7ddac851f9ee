/* The Margo validator against every published form of the description
 * (model/, the legacy schema, SUP-01, sandbox spellings), the one
 * resource-path rule validate and push share, and the package push's
 * annotations, checked on the manifest an in-process server received. */
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "loopfix.h"
#include "mirror/margo/description.h"
#include "mirror/margo/package.h"
#include "oci/ref.h"

static struct margo_app app;
static struct margo_problems probs;
static struct err err;
static char pkg[64];

static void init(void)
{
	margo_problems_init(&probs);
	err_clear(&err);
	pkg[0] = '\0';
}

static void rm_pkg(void)
{
	char cmd[128];

	if (!pkg[0])
		return;
	snprintf(cmd, sizeof(cmd), "rm -rf %s", pkg);
	cr_assert_eq(system(cmd), 0);
	pkg[0] = '\0';
}

static void fini(void)
{
	margo_app_release(&app);
	margo_problems_release(&probs);
	rm_pkg();
}

TestSuite(margo_spec, .init = init, .fini = fini);

static void write_file(const char *dir, const char *rel, const char *text)
{
	char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, rel);
	f = fopen(path, "w");
	cr_assert_not_null(f, "%s", path);
	fputs(text, f);
	fclose(f);
}

/* A package directory with the four resources under resources/. */
static const char *make_pkg(void)
{
	char sub[128];

	snprintf(pkg, sizeof(pkg), "/tmp/ocimirror-spec-XXXXXX");
	cr_assert_not_null(mkdtemp(pkg));
	snprintf(sub, sizeof(sub), "%s/resources", pkg);
	cr_assert_eq(mkdir(sub, 0755), 0);
	write_file(pkg, "resources/greeter.png", "PNG bytes");
	write_file(pkg, "resources/about.md", "# Greeter\n");
	write_file(pkg, "resources/notes.md", "2.1: first\n");
	write_file(pkg, "resources/terms.pdf", "%PDF-1.4\n");
	return pkg;
}

static void check(const char *yaml, const char *dir, unsigned flags)
{
	margo_app_release(&app);
	margo_problems_release(&probs);
	margo_problems_init(&probs);
	cr_assert_eq(margo_app_parse(&app, &probs, yaml, strlen(yaml), &err), 0,
		     "%s", err.msg);
	margo_app_check(&probs, &app, dir, flags);
}

static void log_problems(const char *what)
{
	for (size_t i = 0; i < probs.n; i++)
		cr_log_info("%s: %zu:%zu: %s: %s", what, probs.v[i].line,
			     probs.v[i].column,
			     margo_severity_name(probs.v[i].severity),
			     probs.v[i].message);
}

/* Exactly one problem, of this severity and message. */
static void one_problem(enum margo_severity sev, const char *msg)
{
	if (probs.n != 1 || strcmp(probs.v[0].message, msg))
		log_problems(msg);
	cr_assert_eq(probs.n, 1, "%zu problems, want 1: %s", probs.n, msg);
	cr_expect_eq(probs.v[0].severity, sev);
	cr_expect_str_eq(probs.v[0].message, msg);
}

static int has_problem(enum margo_severity sev, const char *msg)
{
	for (size_t i = 0; i < probs.n; i++)
		if (probs.v[i].severity == sev &&
		    !strcmp(probs.v[i].message, msg))
			return 1;
	return 0;
}

/* An application description shaped like model/examples/valid, written
 * for these tests. Slots: top-level lines, metadata lines, the profile
 * type, the resources block, a component revision. */
#define DESC                                                                   \
	"apiVersion: margo.org/v1-alpha1\n"                                    \
	"kind: ApplicationDescription\n"                                       \
	"%s"                                                                   \
	"metadata:\n"                                                          \
	"%s"                                                                   \
	"  name: Greeter\n"                                                    \
	"  description: Says hello on the plant floor\n"                       \
	"  version: \"2.1\"\n"                                                 \
	"  catalog:\n"                                                         \
	"    application:\n"                                                   \
	"      icon: ./resources/greeter.png\n"                                \
	"      tagline: A friendly greeter.\n"                                 \
	"      descriptionFile: ./resources/about.md\n"                        \
	"      releaseNotes: ./resources/notes.md\n"                           \
	"      licenseFile: ./resources/terms.pdf\n"                           \
	"      site: http://greeter.example.com\n"                             \
	"      tags: [\"demo\"]\n"                                             \
	"    author:\n"                                                        \
	"      - name: Jo Maker\n"                                             \
	"        email: jo@greeter.example.com\n"                              \
	"    organization:\n"                                                  \
	"      - name: Greeter Works\n"                                        \
	"        site: http://greeter.example.com\n"                           \
	"deploymentProfiles:\n"                                                \
	"  - type: %s\n"                                                       \
	"    id: com-example-greeter-a\n"                                      \
	"%s"                                                                   \
	"    components:\n"                                                    \
	"      - name: greeter\n"                                              \
	"        properties:\n"                                                \
	"          repository: oci://registry.example.com/charts/greeter\n"    \
	"          revision: %s\n"                                             \
	"          wait: true\n"                                               \
	"          timeout: 5m0s\n"                                            \
	"parameters:\n"                                                        \
	"  greeting:\n"                                                        \
	"    value: Hi\n"                                                      \
	"    targets:\n"                                                       \
	"    - pointer: global.config.greeting\n"                              \
	"      components: [\"greeter\"]\n"                                    \
	"configuration:\n"                                                     \
	"  sections:\n"                                                        \
	"    - name: General\n"                                                \
	"      settings:\n"                                                    \
	"        - parameter: greeting\n"                                      \
	"          name: Greeting\n"                                           \
	"          description: The greeting to use.\n"                        \
	"          immutable: false\n"                                         \
	"          schema: text\n"                                             \
	"  schema:\n"                                                          \
	"    - name: text\n"                                                   \
	"      dataType: string\n"                                             \
	"      maxLength: 20\n"                                                \
	"      allowEmpty: false\n"

#define META_ID "  id: com-example-greeter\n"
#define TOP_ID "id: com-example-greeter\n"

#define REQUIRED_RESOURCES                                                     \
	"    requiredResources:\n"                                             \
	"      cpu:\n"                                                         \
	"        cores: 0.5\n"                                                 \
	"        architectures: [amd64, x86_64, arm64, arm, riscv64, other]\n" \
	"      memory: 512Mi\n"                                                \
	"      storage: 10Gi\n"                                                \
	"      peripherals:\n"                                                 \
	"        - type: gpu\n"                                                \
	"          manufacturer: NVIDIA\n"                                     \
	"        - type: display\n"                                            \
	"      interfaces:\n"                                                  \
	"        - type: ethernet\n"                                           \
	"        - type: bluetooth\n"

#define DEVICE_CONSTRAINTS                                                     \
	"    deviceConstraints:\n"                                             \
	"      cpu:\n"                                                         \
	"        cores: 2\n"                                                   \
	"        architectures: [arm64]\n"                                     \
	"      memory: 1Gi\n"

#define DEVICE_CONSTRAINTS_CAPACITY                                            \
	"    deviceConstraints:\n"                                             \
	"      capacityRequirements:\n"                                        \
	"        cpu:\n"                                                       \
	"          cores: 2\n"                                                 \
	"          architectures: [arm64]\n"                                   \
	"        memory: 512Mi\n"                                              \
	"        storage: 1Gi\n"

static char *desc(const char *top, const char *meta, const char *type,
		  const char *resources, const char *revision)
{
	char *s = NULL;

	cr_assert_geq(asprintf(&s, DESC, top, meta, type, resources, revision),
		      0);
	return s;
}

Test(margo_spec, official_style_description_is_clean_in_every_published_form)
{
	static const char *const ids[][2] = {
	    {"", META_ID}, {TOP_ID, ""}, {TOP_ID, META_ID}};
	static const char *const types[] = {"helm.v3", "helm"};
	static const char *const resources[] = {
	    REQUIRED_RESOURCES, DEVICE_CONSTRAINTS,
	    DEVICE_CONSTRAINTS_CAPACITY, ""};
	static const char *const revisions[] = {"1.0.1", "1.0.1_build.5",
						"1.0.1-rc.1_b7"};
	const char *dir = make_pkg();
	size_t n = 0;

	for (size_t i = 0; i < 3; i++)
		for (size_t t = 0; t < 2; t++)
			for (size_t r = 0; r < 4; r++)
				for (size_t v = 0; v < 3; v++) {
					char *y = desc(ids[i][0], ids[i][1],
						       types[t], resources[r],
						       revisions[v]);

					check(y, dir, 0);
					if (probs.n)
						log_problems(y);
					cr_assert_eq(probs.n, 0,
						     "id %zu type %s resources "
						     "%zu revision %s",
						     i, types[t], r,
						     revisions[v]);
					cr_assert_str_eq(
					    app.id.v, "com-example-greeter");
					free(y);
					n++;
				}
	cr_assert_eq(n, 72);
	/* what the forms carry is read alike */
	{
		char *y = desc("", META_ID, "helm.v3", REQUIRED_RESOURCES,
			       "1.0.1");

		check(y, dir, 0);
		free(y);
	}
	cr_assert_eq(app.id_from_metadata, 1);
	cr_assert_str_eq(app.profiles[0].resources_key, "requiredResources");
	cr_assert_str_eq(app.profiles[0].cores.v, "0.5");
	cr_assert_eq(app.profiles[0].n_architectures, 6);
	cr_assert_str_eq(app.profiles[0].architectures[1].v, "x86_64");
	cr_assert_str_eq(app.profiles[0].memory.v, "512Mi");
	cr_assert_str_eq(app.profiles[0].storage.v, "10Gi");
	cr_assert_eq(app.profiles[0].n_peripherals, 2);
	cr_assert_str_eq(app.profiles[0].peripherals[0].manufacturer.v,
			 "NVIDIA");
	cr_assert_eq(app.profiles[0].n_interfaces, 2);
	cr_assert_str_eq(app.profiles[0].interfaces[1].type.v, "bluetooth");
	{
		char *y = desc(TOP_ID, "", "helm", DEVICE_CONSTRAINTS_CAPACITY,
			       "1.0.1");

		check(y, dir, 0);
		free(y);
	}
	cr_assert_eq(app.id_from_metadata, 0);
	cr_assert_str_eq(app.profiles[0].resources_key, "deviceConstraints");
	cr_assert_str_eq(app.profiles[0].cores.v, "2");
	cr_assert_str_eq(app.profiles[0].architectures[0].v, "arm64");
	cr_assert_str_eq(app.profiles[0].storage.v, "1Gi");
}

Test(margo_spec, strict_holds_to_the_newest_model_alone)
{
	char *y = desc("", META_ID, "helm.v3", REQUIRED_RESOURCES, "1.0.1");

	check(y, NULL, MARGO_STRICT);
	free(y);
	log_problems("newest");
	cr_assert_eq(probs.n, 0);

	y = desc("", META_ID, "helm", REQUIRED_RESOURCES, "1.0.1");
	check(y, NULL, MARGO_STRICT);
	free(y);
	one_problem(MARGO_ERROR, "profile type \"helm\" is not in the newest "
				 "model (helm.v3 or compose)");
	cr_assert_eq(probs.v[0].line, 24);

	y = desc(TOP_ID, "", "helm.v3", REQUIRED_RESOURCES, "1.0.1");
	check(y, NULL, MARGO_STRICT);
	free(y);
	one_problem(MARGO_ERROR, "a top-level id is not in the newest model; "
				 "write it as metadata.id");
	cr_assert_eq(probs.v[0].line, 3);

	y = desc("", META_ID, "helm.v3", DEVICE_CONSTRAINTS, "1.0.1");
	check(y, NULL, MARGO_STRICT);
	free(y);
	one_problem(MARGO_ERROR, "deviceConstraints is not in the newest "
				 "model; write requiredResources");

	y = desc("apiVersions: x\n", META_ID, "helm.v3", "", "1.0.1");
	check(y, NULL, MARGO_STRICT);
	free(y);
	one_problem(MARGO_ERROR,
		    "unknown key apiVersions (did you mean apiVersion?)");
}

Test(margo_spec, ids_in_both_places_must_agree)
{
	char *y = desc("id: com-example-other\n", META_ID, "helm.v3", "",
		       "1.0.1");

	check(y, NULL, 0);
	free(y);
	one_problem(MARGO_ERROR, "id \"com-example-other\" differs from "
				 "metadata.id \"com-example-greeter\"");
	cr_assert_str_eq(app.id.v, "com-example-greeter");
}

Test(margo_spec, revision_forms)
{
	static const struct {
		const char *type, *revision, *error;
	} cases[] = {
	    {"helm.v3", "1.0.0_build.5", NULL},
	    {"compose", "1.0.0_build.5", NULL},
	    {"compose", "1.0.0-rc.1_exp.sha.5114f85", NULL},
	    {"helm", "1.0.0+build.5", NULL}, /* Helm maps '+' to '_' */
	    {"helm.v3", "1.0.0+build.5", NULL},
	    {"compose", "1.0.0+build.5",
	     "revision \"1.0.0+build.5\" cannot be an OCI tag ('+'); write "
	     "the build metadata with '_' (SUP-01): 1.0.0_build.5"},
	    {"compose", "1.0.0_a_b",
	     "revision \"1.0.0_a_b\" must be a SemVer 2.0 version without a "
	     "leading v"},
	    {"helm.v3", "1.0.0_", "revision \"1.0.0_\" must be a SemVer 2.0 "
				  "version without a leading v"},
	    {"helm.v3", "v1.0.0_build.5",
	     "revision \"v1.0.0_build.5\" must be a SemVer 2.0 version "
	     "without a leading v"},
	    {"compose", "1.0.0_build+5",
	     "revision \"1.0.0_build+5\" must be a SemVer 2.0 version "
	     "without a leading v"},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *y = desc("", META_ID, cases[i].type, "",
			       cases[i].revision);

		check(y, NULL, 0);
		free(y);
		if (cases[i].error) {
			one_problem(MARGO_ERROR, cases[i].error);
			cr_expect_eq(probs.v[0].line, 30, "%s",
				     cases[i].revision);
			cr_expect_eq(probs.v[0].column, 21);
		} else {
			log_problems(cases[i].revision);
			cr_assert_eq(probs.n, 0, "%s %s", cases[i].type,
				     cases[i].revision);
		}
	}
}

/* A revision longer than a tag, with a '_' past what a tag holds: the
 * '_' is not written past the copy (an out-of-bounds store before). */
Test(margo_spec, a_revision_longer_than_a_tag_is_refused_not_written_past)
{
	static const size_t lens[] = {200, 300};
	char rev[400], want[MARGO_MSG_MAX];
	char *y;

	for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		memset(rev, '1', lens[i]);
		memcpy(rev + lens[i], "_b", 3);
		y = desc("", META_ID, "helm.v3", "", rev);
		check(y, NULL, 0);
		free(y);
		cr_assert_eq(probs.n, 1, "%zu: %zu problems", lens[i], probs.n);
		cr_expect_eq(probs.v[0].severity, MARGO_ERROR);
		snprintf(want, sizeof(want), "revision \"%.20s",
			 "11111111111111111111");
		cr_expect_eq(strncmp(probs.v[0].message, want, strlen(want)),
			     0, "%s", probs.v[0].message);
		cr_expect_not_null(strstr(probs.v[0].message,
					  "must be a SemVer 2.0 version"),
				   "%s", probs.v[0].message);
	}
	/* a tag's length exactly, build metadata with '_': valid */
	memcpy(rev, "1.0.0_", 6);
	memset(rev + 6, 'b', OCI_TAG_MAX - 6);
	rev[OCI_TAG_MAX] = '\0';
	y = desc("", META_ID, "helm.v3", "", rev);
	check(y, NULL, 0);
	free(y);
	log_problems(rev);
	cr_expect_eq(probs.n, 0);
}

/* cpu.cores is ^[0-9]+(\.[0-9]+)?$: what strtod also takes is refused */
Test(margo_spec, cpu_cores_is_a_plain_decimal)
{
	static const char *const bad[] = {"inf",  "0x10", "1e999", "\" 1\"",
					  "nan",  "1.",	  ".5",	   "+1",
					  "1e2",  "0",	  "0.0",   "-1"};
	static const char *const good[] = {"1", "0.5", "16", "2.25"};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char block[128], *y;

		snprintf(block, sizeof(block),
			 "    requiredResources:\n      cpu:\n"
			 "        cores: %s\n",
			 bad[i]);
		y = desc("", META_ID, "helm.v3", block, "1.0.1");
		check(y, NULL, 0);
		free(y);
		cr_assert_eq(probs.n, 1, "%s: %zu problems", bad[i], probs.n);
		cr_expect_eq(probs.v[0].severity, MARGO_ERROR, "%s", bad[i]);
		cr_expect_not_null(strstr(probs.v[0].message,
					  "must be a number of cores above 0"),
				   "%s: %s", bad[i], probs.v[0].message);
	}
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		char block[128], *y;

		snprintf(block, sizeof(block),
			 "    requiredResources:\n      cpu:\n"
			 "        cores: %s\n",
			 good[i]);
		y = desc("", META_ID, "helm.v3", block, "1.0.1");
		check(y, NULL, 0);
		free(y);
		log_problems(good[i]);
		cr_expect_eq(probs.n, 0, "%s", good[i]);
	}
}

Test(margo_spec, required_resources_follow_the_model)
{
	static const struct {
		const char *block, *error;
	} cases[] = {
	    {"    requiredResources:\n      cpu:\n        architectures: "
	     "[arm64]\n",
	     "missing required field \"cpu.cores\""},
	    {"    requiredResources:\n      cpu:\n        cores: none\n",
	     "cpu.cores \"none\" must be a number of cores above 0 (0.5 is "
	     "half a core)"},
	    {"    requiredResources:\n      cpu:\n        cores: 1\n"
	     "        architectures: [aarch64]\n",
	     "cpu.architectures \"aarch64\" is not one of amd64, x86_64, "
	     "arm64, arm, riscv64, other"},
	    {"    requiredResources:\n      memory: 512M\n",
	     "memory \"512M\" must be a whole number of Ki, Mi or Gi (512Mi)"},
	    {"    requiredResources:\n      memory: 1Ti\n",
	     "memory \"1Ti\" must be a whole number of Ki, Mi or Gi (512Mi)"},
	    {"    requiredResources:\n      storage: 1.5Gi\n",
	     "storage \"1.5Gi\" must be a whole number of Ki, Mi, Gi, Ti, Pi "
	     "or Ei (10Gi)"},
	    {"    requiredResources:\n      peripherals:\n        - type: "
	     "keyboard\n",
	     "peripherals type \"keyboard\" is not one of gpu, display, "
	     "camera, microphone, speaker, other"},
	    {"    requiredResources:\n      interfaces:\n        - type: "
	     "serial\n",
	     "interfaces type \"serial\" is not one of ethernet, wifi, "
	     "cellular, bluetooth, usb, canbus, rs232, other"},
	    {"    requiredResources:\n      interfaces:\n        - "
	     "manufacturer: x\n",
	     "missing required field \"interfaces[].type\""},
	    {"    requiredResources:\n      storage: 1Ei\n"
	     "    deviceConstraints:\n      memory: 1Gi\n",
	     "both requiredResources and deviceConstraints; only "
	     "requiredResources is read"},
	    {"    requiredResources:\n      gpu: 1\n",
	     "unknown key gpu in requiredResources (did you mean cpu?)"},
	    /* no schema defines deviceConstraints: the model's rules warn */
	    {"    deviceConstraints:\n      cpu:\n        architectures: "
	     "[aarch64]\n",
	     "cpu.architectures \"aarch64\" is not one of amd64, x86_64, "
	     "arm64, arm, riscv64, other (deviceConstraints)"},
	    {"    deviceConstraints:\n      capacityRequirements:\n"
	     "        memory: 2GB\n",
	     "memory \"2GB\" must be a whole number of Ki, Mi or Gi (512Mi) "
	     "(deviceConstraints)"},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *y = desc("", META_ID, "helm.v3", cases[i].block, "1.0.1");

		char want[MARGO_MSG_MAX];
		const char *dc = strstr(cases[i].error, " (deviceConstraints)");

		check(y, NULL, 0);
		free(y);
		snprintf(want, sizeof(want), "%.*s",
			 dc ? (int)(dc - cases[i].error) : MARGO_MSG_MAX,
			 cases[i].error);
		one_problem(dc || strstr(cases[i].error, "both") ||
				    strstr(cases[i].error, "unknown")
				? MARGO_WARNING
				: MARGO_ERROR,
			    want);
	}
}

/* requiredResources that is null or no map next to a deviceConstraints:
 * deviceConstraints is read, so its architectures still narrow the
 * profile (app pull would otherwise take it for every architecture). */
Test(margo_spec, a_null_required_resources_falls_back_to_device_constraints)
{
	static const char *const rr[] = {"~", "[x]", "\"\""};

	for (size_t i = 0; i < sizeof(rr) / sizeof(rr[0]); i++) {
		char block[256], *y;

		snprintf(block, sizeof(block),
			 "    requiredResources: %s\n" DEVICE_CONSTRAINTS,
			 rr[i]);
		y = desc("", META_ID, "helm.v3", block, "1.0.1");
		check(y, NULL, 0);
		free(y);
		log_problems(rr[i]);
		cr_assert_eq(app.n_profiles, 1);
		cr_assert_str_eq(app.profiles[0].resources_key,
				 "deviceConstraints", "%s", rr[i]);
		cr_assert_eq(app.profiles[0].n_architectures, 1, "%s", rr[i]);
		cr_expect_str_eq(app.profiles[0].architectures[0].v, "arm64");
		cr_expect_str_eq(app.profiles[0].memory.v, "1Gi");
		cr_expect_eq(app.profiles[0].both_resources, 0);
		cr_assert_eq(probs.n, 1, "%s: %zu problems", rr[i], probs.n);
		if (i == 0) {
			cr_expect_eq(probs.v[0].severity, MARGO_WARNING);
			cr_expect_str_eq(probs.v[0].message,
					 "requiredResources is null; "
					 "deviceConstraints is read");
		} else {
			cr_expect_eq(probs.v[0].severity, MARGO_ERROR);
			cr_expect_not_null(
			    strstr(probs.v[0].message,
				   "requiredResources must be a map"),
			    "%s", probs.v[0].message);
		}
	}
}

/* As a mirror reads it (MARGO_FOR_PULL): resource hints out of the model,
 * aarch64, enum values no version lists, a compose revision with '+',
 * a missing organization are warnings, each message as the rule words it;
 * what keeps a component from being fetched stays an error. */
Test(margo_spec, for_pull_only_what_cannot_be_fetched_is_an_error)
{
	static const char block[] = "    requiredResources:\n"
				    "      cpu:\n"
				    "        architectures: [aarch64]\n"
				    "      memory: 1G\n"
				    "      storage: 512MB\n"
				    "      peripherals:\n"
				    "        - type: keyboard\n"
				    "      interfaces:\n"
				    "        - type: serial\n";
	static const char *const hints[] = {
	    "missing required field \"cpu.cores\"",
	    "cpu.architectures \"aarch64\" is not one of amd64, x86_64, "
	    "arm64, arm, riscv64, other",
	    "memory \"1G\" must be a whole number of Ki, Mi or Gi (512Mi)",
	    "storage \"512MB\" must be a whole number of Ki, Mi, Gi, Ti, Pi "
	    "or Ei (10Gi)",
	    "peripherals type \"keyboard\" is not one of gpu, display, "
	    "camera, microphone, speaker, other",
	    "interfaces type \"serial\" is not one of ethernet, wifi, "
	    "cellular, bluetooth, usb, canbus, rs232, other",
	    "revision \"1.0.1+build.5\" cannot be an OCI tag ('+'); write the "
	    "build metadata with '_' (SUP-01): 1.0.1_build.5",
	};
	char *y = desc("", META_ID, "compose", block, "1.0.1+build.5");

	/* the plain rules: all errors (a package push refuses it) */
	check(y, NULL, 0);
	cr_expect_eq(probs.n_errors, 7);
	for (size_t i = 0; i < 7; i++)
		cr_expect(has_problem(MARGO_ERROR, hints[i]), "%s", hints[i]);
	check(y, NULL, MARGO_FOR_PULL);
	free(y);
	log_problems("for pull");
	cr_expect_eq(probs.n_errors, 0);
	cr_expect_eq(probs.n_warnings, 7);
	cr_assert_eq(probs.n, 7);
	for (size_t i = 0; i < 7; i++)
		cr_expect(has_problem(MARGO_WARNING, hints[i]), "%s", hints[i]);
	/* what cannot be fetched: an error, said once */
	{
		static const struct {
			const char *from, *to, *error;
		} cases[] = {
		    {"oci://registry.example.com/charts/greeter",
		     "https://registry.example.com/charts/greeter",
		     "repository \"https://registry.example.com/charts/greeter\" "
		     "must be oci://HOST/PATH"},
		    {"          revision: 1.0.1\n", "",
		     "missing required field \"properties.revision\""},
		    {"revision: 1.0.1", "revision: 1.0.1~x",
		     "revision \"1.0.1~x\" is no OCI tag: the component cannot "
		     "be fetched"},
		};

		for (size_t i = 0; i < 3; i++) {
			char *t = desc("", META_ID, "helm.v3", "", "1.0.1");
			char *at = strstr(t, cases[i].from), *u = NULL;

			cr_assert_not_null(at);
			cr_assert_geq(asprintf(&u, "%.*s%s%s", (int)(at - t), t,
					       cases[i].to,
					       at + strlen(cases[i].from)),
				      0);
			check(u, NULL, MARGO_FOR_PULL);
			log_problems(cases[i].error);
			cr_expect_eq(probs.n_errors, 1, "%s", cases[i].error);
			cr_expect(has_problem(MARGO_ERROR, cases[i].error), "%s",
				  cases[i].error);
			for (size_t k = 0; k < probs.n; k++)
				cr_expect(strcmp(probs.v[k].message,
						 cases[i].error) ||
					      probs.v[k].severity ==
						  MARGO_ERROR,
					  "said twice: %s", cases[i].error);
			free(t);
			free(u);
		}
	}
}

Test(margo_spec, misspelt_keys_are_named_with_the_closest_one)
{
	check("apiVersions: margo.org/v1-alpha1\n"
	      "kind: ApplicationDescription\n"
	      "metadata: {id: a, name: A, vresion: '1', catalog: "
	      "{organization: [{name: O}]}}\n"
	      "deploymentProfiles:\n"
	      "  - {type: compose, id: p, componets: [], components: [{name: "
	      "w, properties: {repository: oci://r.example.com/w, "
	      "revison: 1.0.0}}]}\n"
	      "Kind: x\n"
	      "flavour: y\n",
	      NULL, 0);
	log_problems("keys");
	cr_assert(has_problem(MARGO_WARNING, "unknown key apiVersions (did "
					     "you mean apiVersion?)"));
	cr_assert(has_problem(MARGO_ERROR,
			      "missing required field \"apiVersion\""));
	cr_assert(has_problem(MARGO_WARNING, "unknown key vresion in metadata "
					     "(did you mean version?)"));
	cr_assert(has_problem(MARGO_WARNING,
			      "unknown key componets in deploymentProfiles[] "
			      "(did you mean components?)"));
	cr_assert(has_problem(MARGO_WARNING, "unknown key revison in "
					     "properties (did you mean "
					     "revision?)"));
	cr_assert(has_problem(MARGO_WARNING,
			      "unknown key Kind (did you mean kind?)"));
	cr_assert(has_problem(MARGO_WARNING, "unknown key flavour"));
	cr_assert_eq(probs.v[0].line, 1);
	cr_assert_eq(probs.v[0].column, 1);
}

Test(margo_spec, unrendered_templates_are_named)
{
	char *y = desc("", META_ID, "helm.v3", "", "{{ .Values.tag }}");

	check(y, NULL, 0);
	free(y);
	one_problem(MARGO_ERROR, "revision looks like an unrendered template "
				 "({{ ... }}): render it before validating");
	check("apiVersion: margo.org/v1-alpha1\n"
	      "kind: ApplicationDescription\n"
	      "metadata:\n"
	      "  id: a\n"
	      "  name: {{ .Values.name }}\n"
	      "  version: '1'\n"
	      "  catalog: {{ .Values.catalog | toYaml }}\n"
	      "deploymentProfiles: {{.Values.profiles}}\n",
	      NULL, 0);
	log_problems("template");
	cr_assert(has_problem(MARGO_ERROR,
			      "metadata.name looks like an unrendered template "
			      "({{ ... }}): render it before validating"));
	cr_assert(has_problem(MARGO_ERROR,
			      "metadata.catalog looks like an unrendered "
			      "template ({{ ... }}): render it before "
			      "validating"));
	cr_assert(has_problem(MARGO_ERROR,
			      "deploymentProfiles looks like an unrendered "
			      "template ({{ ... }}): render it before "
			      "validating"));
	cr_assert_not(has_problem(MARGO_ERROR,
				  "metadata.name must be a string, not a map"));
}

Test(margo_spec, resource_path_forms)
{
	static const struct {
		const char *in, *out;
	} ok[] = {
	    {"./resources/greeter.png", "resources/greeter.png"},
	    {"resources/greeter.png", "resources/greeter.png"},
	    {"resources/../resources/greeter.png", "resources/greeter.png"},
	    {"resources//./greeter.png", "resources/greeter.png"},
	    {"./x/../resources/greeter.png", "resources/greeter.png"},
	};
	static const struct {
		const char *in, *msg;
		int code;
	} bad[] = {
	    {"../x.png", "leaves the package directory", ERR_INVALID},
	    {"resources/../../x.png", "leaves the package directory",
	     ERR_INVALID},
	    {"./../x.png", "leaves the package directory", ERR_INVALID},
	    {"/etc/passwd",
	     "is an absolute path: it must be relative to the package "
	     "directory",
	     ERR_INVALID},
	    {"", "is empty", ERR_INVALID},
	    {"./", "names the package directory, not a file", ERR_INVALID},
	    {"resources/..", "names the package directory, not a file",
	     ERR_INVALID},
	    {"a\nb", "contains a control character", ERR_INVALID},
	};
	char out[1024];

	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		cr_assert_eq(margo_resource_path(out, sizeof(out), NULL, 0,
						 NULL, ok[i].in, &err),
			     0, "%s: %s", ok[i].in, err.msg);
		cr_assert_str_eq(out, ok[i].out, "%s", ok[i].in);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err_clear(&err);
		cr_assert_eq(margo_resource_path(out, sizeof(out), NULL, 0,
						 NULL, bad[i].in, &err),
			     bad[i].code, "%s", bad[i].in);
		cr_assert_str_eq(err.msg, bad[i].msg, "%s", bad[i].in);
	}
	cr_assert(margo_resource_is_url("https://example.com/icon.png"));
	cr_assert(margo_resource_is_url("s3+x://b/icon.png"));
	cr_assert_not(margo_resource_is_url("./resources/icon.png"));
	cr_assert_not(margo_resource_is_url("resources/a://b.png"));
	cr_assert_not(margo_resource_is_url("://x"));
	cr_assert_eq(margo_resource_path(out, 8, NULL, 0, NULL,
					 "resources/greeter.png", &err),
		     ERR_TOO_LARGE);
	cr_assert_str_eq(err.msg, "is longer than 7 bytes");
}

Test(margo_spec, resource_files_must_be_regular_files_inside_the_package)
{
	const char *dir = make_pkg();
	char out[1024], real[4096], link[256], outside[256], want[4200];
	char *real_dir;

	snprintf(link, sizeof(link), "%s/resources/alias.png", dir);
	cr_assert_eq(symlink("greeter.png", link), 0);
	snprintf(outside, sizeof(outside), "%s-outside.png", dir);
	write_file("/", outside + 1, "elsewhere");
	snprintf(link, sizeof(link), "%s/resources/out.png", dir);
	cr_assert_eq(symlink(outside, link), 0);
	snprintf(link, sizeof(link), "%s/resources/up", dir);
	cr_assert_eq(symlink("../..", link), 0);

	cr_assert_eq(margo_resource_path(out, sizeof(out), real, sizeof(real),
					 dir, "./resources/greeter.png", &err),
		     0, "%s", err.msg);
	real_dir = realpath(dir, NULL);
	snprintf(want, sizeof(want), "%s/resources/greeter.png", real_dir);
	cr_assert_str_eq(real, want);
	/* a link that stays inside is the file it names */
	cr_assert_eq(margo_resource_path(out, sizeof(out), real, sizeof(real),
					 dir, "resources/alias.png", &err),
		     0, "%s", err.msg);
	cr_assert_str_eq(out, "resources/alias.png");
	cr_assert_str_eq(real, want);
	free(real_dir);

	cr_assert_eq(margo_resource_path(out, sizeof(out), real, sizeof(real),
					 dir, "resources/out.png", &err),
		     ERR_INVALID);
	cr_assert_str_eq(err.msg,
			 "is a link that leaves the package directory");
	snprintf(want, sizeof(want), "resources/up/%s",
		 strrchr(outside, '/') + 1);
	cr_assert_eq(margo_resource_path(out, sizeof(out), NULL, 0, dir, want,
					 &err),
		     ERR_INVALID);
	cr_assert_str_eq(err.msg,
			 "is a link that leaves the package directory");
	cr_assert_eq(margo_resource_path(out, sizeof(out), NULL, 0, dir,
					 "resources/gone.png", &err),
		     ERR_NOT_FOUND);
	cr_assert_str_eq(err.msg,
			 "not found in the package: No such file or directory");
	cr_assert_eq(margo_resource_path(out, sizeof(out), NULL, 0, dir,
					 "./resources/", &err),
		     ERR_INVALID);
	cr_assert_str_eq(err.msg, "is not a regular file");

	/* validate says the same, naming the field */
	check("apiVersion: margo.org/v1-alpha1\n"
	      "kind: ApplicationDescription\n"
	      "metadata:\n"
	      "  id: a\n"
	      "  name: A\n"
	      "  version: '1'\n"
	      "  catalog:\n"
	      "    application:\n"
	      "      icon: ./resources/out.png\n"
	      "      descriptionFile: ../about.md\n"
	      "      licenseFile: ./resources/terms.pdf\n"
	      "      releaseNotes: resources/../resources/notes.md\n"
	      "    organization: [{name: O}]\n"
	      "deploymentProfiles:\n"
	      "  - {type: compose, id: p, components: [{name: w, properties: "
	      "{repository: oci://r.example.com/w, revision: 1.0.0}}]}\n",
	      dir, 0);
	log_problems("resources");
	cr_assert_eq(probs.n, 2);
	cr_assert_str_eq(probs.v[0].message,
			 "descriptionFile \"../about.md\" leaves the package "
			 "directory");
	cr_assert_eq(probs.v[0].line, 10);
	cr_assert_str_eq(probs.v[1].message,
			 "icon \"./resources/out.png\" is a link that leaves "
			 "the package directory");
	unlink(outside);
}

Test(margo_spec, a_resource_written_as_a_url_is_a_warning_and_not_pushed)
{
	const char *dir = make_pkg();

	check("apiVersion: margo.org/v1-alpha1\n"
	      "kind: ApplicationDescription\n"
	      "metadata:\n"
	      "  id: a\n"
	      "  name: A\n"
	      "  version: '1'\n"
	      "  catalog:\n"
	      "    application:\n"
	      "      icon: https://example.com/icon.png\n"
	      "    organization: [{name: O}]\n"
	      "deploymentProfiles:\n"
	      "  - {type: compose, id: p, components: [{name: w, properties: "
	      "{repository: oci://r.example.com/w, revision: 1.0.0}}]}\n",
	      dir, 0);
	one_problem(MARGO_WARNING,
		    "icon \"https://example.com/icon.png\" is a URL, not a file "
		    "of the package: it is not pushed with it");
	cr_assert_eq(probs.v[0].line, 9);
	cr_assert_eq(probs.v[0].column, 13);
}

/* The package's margo.yaml, with icon and license paths as given. */
static void write_desc(const char *dir, const char *icon, const char *license)
{
	char *y = NULL;

	cr_assert_geq(
	    asprintf(&y,
		     "apiVersion: margo.org/v1-alpha1\n"
		     "kind: ApplicationDescription\n"
		     "metadata:\n"
		     "  id: com-example-greeter\n"
		     "  name: Greeter\n"
		     "  version: 2.1.0+build.5\n"
		     "  catalog:\n"
		     "    application:\n"
		     "      icon: %s\n"
		     "      descriptionFile: ./resources/about.md\n"
		     "      releaseNotes: resources/notes.md\n"
		     "      licenseFile: %s\n"
		     "    organization: [{name: Greeter Works}]\n"
		     "deploymentProfiles:\n"
		     "  - type: helm.v3\n"
		     "    id: a\n"
		     "    components:\n"
		     "      - name: greeter\n"
		     "        properties:\n"
		     "          repository: "
		     "oci://registry.example.com/charts/greeter\n"
		     "          revision: 2.1.0\n",
		     icon, license),
	    0);
	write_file(dir, "margo.yaml", y);
	free(y);
}

static const char *annotation(json_t *layer, const char *key)
{
	return json_string_value(
	    json_object_get(json_object_get(layer, "annotations"), key));
}

Test(margo_spec, push_titles_normalised_paths_and_marks_every_resource)
{
	const char *dir = make_pkg();
	struct margo_push_result res;
	struct store_ref sr;
	struct oci_ref ref;
	struct loop l;
	json_t *m, *layers;
	char *body = NULL;
	size_t len;
	static const char *const want[][3] = {
	    {"margo.yaml", NULL, "application/vnd.margo.app.description.v1+yaml"},
	    {"resources/greeter.png", "metadata.catalog.application.icon",
	     "application/vnd.margo.app.icon.v1+png"},
	    {"resources/about.md",
	     "metadata.catalog.application.descriptionFile",
	     "application/vnd.margo.app.descriptionFile.v1+markdown"},
	    {"resources/terms.pdf", "metadata.catalog.application.licenseFile",
	     "application/vnd.margo.app.licenseFile.v1+pdf"},
	    {"resources/notes.md", "metadata.catalog.application.releaseNotes",
	     "application/vnd.margo.app.releaseNotes.v1+markdown"},
	};

	write_desc(dir, "./resources/greeter.png",
		   "resources/../resources/terms.pdf");
	loop_start(&l, 1);
	cr_assert_eq(oci_ref_parse(&ref, loop_ref(&l, "apps/greeter"), &err),
		     0, "%s", err.msg);
	ref.tag[0] = '\0';
	cr_assert_eq(margo_package_push(&res, NULL, &l.pool, dir, NULL, 0, &ref, NULL,
					&err),
		     0, "%s", err.msg);
	cr_assert_str_eq(res.tag, "2.1.0_build.5");
	cr_assert_eq(res.layers, 5);
	cr_assert_eq(store_tag_get(&sr, &l.remote.st, "apps/greeter",
				   "2.1.0_build.5", &err),
		     0, "%s", err.msg);
	cr_assert_str_eq(sr.digest.str, res.digest.str);
	cr_assert_eq(store_blob_read(&body, &len, &l.remote.st, &sr.digest,
				     1 << 20, &err),
		     0, "%s", err.msg);
	m = json_loadb(body, len, 0, NULL);
	cr_assert_not_null(m);
	cr_assert_str_eq(json_string_value(json_object_get(m, "artifactType")),
			 "application/vnd.margo.app.v1+json");
	layers = json_object_get(m, "layers");
	cr_assert_eq(json_array_size(layers), 5);
	for (size_t i = 0; i < 5; i++) {
		json_t *ly = json_array_get(layers, i);

		cr_assert_str_eq(annotation(ly, ANN_TITLE), want[i][0]);
		if (want[i][1])
			cr_assert_str_eq(
			    annotation(ly, "org.margo.app.resource"),
			    want[i][1], "layer %zu", i);
		else
			cr_assert_null(
			    annotation(ly, "org.margo.app.resource"));
		cr_assert_str_eq(
		    json_string_value(json_object_get(ly, "mediaType")),
		    want[i][2]);
	}
	json_decref(m);
	free(body);
	loop_stop(&l);
}

Test(margo_spec, push_refuses_paths_that_leave_the_package)
{
	const char *dir = make_pkg();
	struct margo_push_result res;
	struct oci_ref ref;
	struct loop l;
	char link[256], file[256], want[600];
	static const struct {
		const char *icon, *msg;
	} cases[] = {
	    {"../greeter.png", "leaves the package directory"},
	    {"/etc/hostname", "is an absolute path: it must be relative to "
			      "the package directory"},
	    {"./resources/out.png",
	     "is a link that leaves the package directory"},
	};

	snprintf(link, sizeof(link), "%s/resources/out.png", dir);
	cr_assert_eq(symlink("/etc/hostname", link), 0);
	snprintf(file, sizeof(file), "%s/margo.yaml", dir);
	loop_start(&l, 1);
	cr_assert_eq(oci_ref_parse(&ref, loop_ref(&l, "apps/greeter:x"), &err),
		     0);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		write_desc(dir, cases[i].icon, "./resources/terms.pdf");
		err_clear(&err);
		cr_assert_eq(margo_package_push(&res, NULL, &l.pool, dir, NULL, 0, &ref,
						NULL, &err),
			     ERR_INVALID, "%s", cases[i].icon);
		snprintf(want, sizeof(want),
			 "%s: metadata.catalog.application.icon \"%s\" %s",
			 file, cases[i].icon, cases[i].msg);
		cr_assert_str_eq(err.msg, want);
	}
	cr_assert_neq(store_tag_get(&(struct store_ref){0}, &l.remote.st,
				    "apps/greeter", "x", NULL),
		      0);
	loop_stop(&l);
}

Test(margo_spec, push_leaves_a_url_resource_out)
{
	const char *dir = make_pkg();
	struct margo_push_result res;
	struct oci_ref ref;
	struct fix f;

	write_desc(dir, "https://example.com/greeter.png",
		   "./resources/terms.pdf");
	fix_setup(&f);
	cr_assert_eq(oci_ref_parse(&ref, "apps/greeter:1", &err), 0);
	cr_assert_eq(margo_package_push(&res, &f.st, NULL, dir, NULL, 0, &ref,
					"apps/greeter", &err),
		     0, "%s", err.msg);
	cr_assert_eq(res.layers, 4);
	cr_assert_str_eq(res.tag, "1");
	fix_teardown(&f);
}

/* The registry client's first log line comes after the files were
 * checked and before they are uploaded: there resources/ becomes a link
 * to a directory outside holding files of the same names. */
struct swap {
	const char *pkg, *outside;
	int fired;
};

static void swap_resources(void *ctx, enum reg_log_level lvl, const char *m)
{
	struct swap *w = ctx;
	char from[256], to[256];

	(void)lvl;
	(void)m;
	if (w->fired++)
		return;
	snprintf(from, sizeof(from), "%s/resources", w->pkg);
	snprintf(to, sizeof(to), "%s/resources.checked", w->pkg);
	cr_assert_eq(rename(from, to), 0);
	cr_assert_eq(symlink(w->outside, from), 0);
}

Test(margo_spec, push_uploads_the_files_it_checked_though_a_directory_is_swapped)
{
	static const char *const names[] = {"greeter.png", "about.md",
					    "notes.md", "terms.pdf"};
	const char *dir = make_pkg();
	char outside[64], cmd[200];
	struct margo_push_result res;
	struct store_ref sr;
	struct oci_ref ref;
	struct swap w;
	struct loop l;
	json_t *m, *layers;
	char *body = NULL;
	size_t len;

	snprintf(outside, sizeof(outside), "/tmp/ocimirror-out-XXXXXX");
	cr_assert_not_null(mkdtemp(outside));
	for (size_t i = 0; i < 4; i++)
		write_file(outside, names[i], "SECRET outside the package");
	write_desc(dir, "./resources/greeter.png", "./resources/terms.pdf");
	loop_start(&l, 1);
	w = (struct swap){dir, outside, 0};
	l.reg.log = swap_resources;
	l.reg.log_ctx = &w;
	cr_assert_eq(oci_ref_parse(&ref, loop_ref(&l, "apps/greeter:1"), &err),
		     0, "%s", err.msg);
	err_clear(&err);
	cr_assert_eq(margo_package_push(&res, NULL, &l.pool, dir, NULL, 0, &ref,
					NULL, &err),
		     0, "%s", err.msg);
	cr_assert_gt(w.fired, 0, "the swap was not made");
	cr_assert_eq(store_tag_get(&sr, &l.remote.st, "apps/greeter", "1",
				   &err),
		     0, "%s", err.msg);
	cr_assert_eq(store_blob_read(&body, &len, &l.remote.st, &sr.digest,
				     1 << 20, &err),
		     0, "%s", err.msg);
	m = json_loadb(body, len, 0, NULL);
	free(body);
	cr_assert_not_null(m);
	layers = json_object_get(m, "layers");
	cr_assert_eq(json_array_size(layers), 5);
	for (size_t i = 1; i < 5; i++) {
		struct oci_digest d;
		char *blob = NULL;
		size_t blen;

		cr_assert_eq(oci_digest_parse(&d,
					      json_string_value(json_object_get(
						  json_array_get(layers, i),
						  "digest")),
					      &err),
			     0);
		cr_assert_eq(store_blob_read(&blob, &blen, &l.remote.st, &d,
					     1 << 20, &err),
			     0, "layer %zu: %s", i, err.msg);
		cr_expect_null(memmem(blob, blen, "SECRET", 6), "layer %zu",
			       i);
		free(blob);
	}
	json_decref(m);
	loop_stop(&l);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", outside);
	cr_assert_eq(system(cmd), 0);
}

/* The description pushed is the bytes given (those validated), not a
 * later read of margo.yaml. */
Test(margo_spec, push_publishes_the_description_bytes_it_is_given)
{
	const char *dir = make_pkg();
	static const char given[] =
	    "apiVersion: margo.org/v1-alpha1\n"
	    "kind: ApplicationDescription\n"
	    "metadata:\n"
	    "  id: com-example-greeter\n"
	    "  name: Greeter\n"
	    "  version: 3.0.0\n"
	    "  catalog:\n"
	    "    organization: [{name: Greeter Works}]\n"
	    "deploymentProfiles:\n"
	    "  - type: helm.v3\n"
	    "    id: a\n"
	    "    components:\n"
	    "      - name: greeter\n"
	    "        properties:\n"
	    "          repository: oci://registry.example.com/charts/greeter\n"
	    "          revision: 2.1.0\n";
	struct margo_push_result res;
	struct oci_digest d;
	struct oci_ref ref;
	char *blob = NULL;
	size_t blen;
	struct fix f;

	write_desc(dir, "./resources/greeter.png", "./resources/terms.pdf");
	fix_setup(&f);
	cr_assert_eq(oci_ref_parse(&ref, "apps/greeter", &err), 0);
	ref.tag[0] = '\0';
	cr_assert_eq(margo_package_push(&res, &f.st, NULL, dir, given,
					strlen(given), &ref, "apps/greeter",
					&err),
		     0, "%s", err.msg);
	cr_assert_str_eq(res.version, "3.0.0");
	cr_assert_eq(res.layers, 1);
	oci_digest_of(&d, OCI_SHA256, given, strlen(given));
	cr_assert_eq(store_blob_read(&blob, &blen, &f.st, &d, 1 << 20, &err),
		     0, "%s", err.msg);
	cr_assert_eq(blen, strlen(given));
	cr_assert_eq(memcmp(blob, given, blen), 0);
	free(blob);
	fix_teardown(&f);
}
