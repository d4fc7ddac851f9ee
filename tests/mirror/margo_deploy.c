/* The configuration rules of a Margo description (config.c), each with
 * edge values on both sides, and the ApplicationDeployment (deploy.c)
 * checked against the model's required fields and patterns. */
#include <criterion/criterion.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mirror/margo/config.h"
#include "mirror/margo/deploy.h"
#include "mirror/margo/description.h"
#include "oci/yaml.h"

static const char base[] =
    "apiVersion: margo.org/v1-alpha1\n"
    "kind: ApplicationDescription\n"
    "metadata:\n"
    "  id: rule-app\n"
    "  name: Rule App\n"
    "  version: 1.0.0\n"
    "  catalog:\n"
    "    organization: [{name: Tests}]\n"
    "deploymentProfiles:\n"
    "  - type: helm.v3\n"
    "    id: k8s\n"
    "    components:\n"
    "      - name: core\n"
    "        properties:\n"
    "          repository: oci://r.example/charts/core\n"
    "          revision: 1.0.0\n"
    "          wait: true\n"
    "  - type: compose\n"
    "    id: box\n"
    "    components:\n"
    "      - name: stack\n"
    "        properties:\n"
    "          packageLocation: https://d.example/s.tgz\n"
    "parameters:\n"
    "  p:\n"
    "%s"
    "    targets:\n"
    "      - pointer: x.y\n"
    "        components: [core]\n"
    "  other:\n"
    "    value: \"q\\\"uote\\nline\"\n"
    "    targets:\n"
    "      - pointer: OTHER\n"
    "        components: [stack, core]\n"
    "configuration:\n"
    "  sections:\n"
    "    - name: S\n"
    "      settings:\n"
    "        - parameter: p\n"
    "          name: The P\n"
    "%s"
    "          schema: rule\n"
    "  schema:\n"
    "    - name: rule\n"
    "%s";

static struct margo_app app;
static struct margo_config cfg;
static struct margo_verrs errs;
static struct err err;
static int loaded;

static void setup(const char *value, const char *setting_extra,
		  const char *rule)
{
	char text[8192];
	struct margo_problems probs;

	snprintf(text, sizeof(text), base, value, setting_extra, rule);
	margo_problems_init(&probs);
	err_clear(&err);
	cr_assert_eq(margo_app_parse(&app, &probs, text, strlen(text), &err),
		     0);
	cr_assert_eq(probs.n_errors, 0, "%s", probs.n ? probs.v[0].message : "");
	margo_problems_release(&probs);
	margo_verrs_init(&errs);
	loaded = 1;
}

static void fini(void)
{
	if (loaded) {
		margo_config_release(&cfg);
		margo_app_release(&app);
		margo_verrs_release(&errs);
	}
	loaded = 0;
}

static void rule(const char *r)
{
	setup("    value: x\n", "", r);
	cr_assert_eq(margo_config_load(&cfg, &app, "k8s", &err), 0, "%s",
		     err.msg);
	cr_assert_eq(cfg.n_settings, 1);
}

/* The rule the value breaks ("" when none); at most one expected. */
static const char *check(const char *v)
{
	struct margo_value val;
	size_t before = errs.n;

	cr_assert_eq(margo_value_from_text(&val, &cfg.settings[0], v, &err), 0);
	margo_config_check(&errs, &cfg.settings[0], &val);
	margo_value_release(&val);
	return errs.n > before ? errs.v[errs.n - 1].rule : "";
}

#define OK(v) cr_expect_str_eq(check(v), "", "%s", v)
#define BAD(v, r) cr_expect_str_eq(check(v), r, "%s", v)

TestSuite(margo_config, .fini = fini);

Test(margo_config, text_lengths_both_sides)
{
	rule("      dataType: string\n      minLength: 2\n      maxLength: 4\n");
	BAD("a", "minLength");
	OK("ab");
	OK("abcd");
	BAD("abcde", "maxLength");
	OK("\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"); /* 4 characters, 8 bytes */
	BAD("\xff\xfe", "dataType");		/* not UTF-8 */
}

Test(margo_config, allow_empty)
{
	rule("      dataType: string\n");
	BAD("", "allowEmpty"); /* absent: false */
	fini();
	rule("      dataType: string\n      allowEmpty: false\n");
	BAD("", "allowEmpty");
	OK(" ");
	fini();
	rule("      dataType: string\n      allowEmpty: true\n"
	     "      minLength: 3\n");
	OK(""); /* empty allowed skips the other rules */
	BAD("ab", "minLength");
}

Test(margo_config, regex_posix_ere_with_perl_classes)
{
	rule("      dataType: string\n      regexMatch: ^[A-Z]{2}-\\d{2}$\n");
	OK("NH-01");
	BAD("NH-1", "regexMatch");
	BAD("nh-01", "regexMatch");
	BAD("NH-012", "regexMatch");
	fini();
	/* unanchored: a search, as JSON Schema's pattern */
	rule("      dataType: string\n      regexMatch: \"[0-9]\"\n");
	OK("a1b");
	BAD("abc", "regexMatch");
	fini();
	/* brackets keep backslashes literal; \\w outside becomes a class */
	rule("      dataType: string\n      regexMatch: ^\\w+[.]$\n");
	OK("a_9.");
	BAD("a-9.", "regexMatch");
}

Test(margo_config, regex_refused_constructs)
{
	const char *bad[] = {"(?i)abc", "a+?", "(a)\\1", "[a-"};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char r[256];

		snprintf(r, sizeof(r),
			 "      dataType: string\n      regexMatch: '%s'\n",
			 bad[i]);
		setup("    value: x\n", "", r);
		cr_expect_eq(margo_config_load(&cfg, &app, "k8s", &err),
			     ERR_INVALID, "%s", bad[i]);
		cr_expect(strstr(err.msg, "regexMatch"), "%s", err.msg);
		margo_app_release(&app);
		margo_verrs_release(&errs);
		loaded = 0;
	}
}

/* Patterns glibc's regcomp expands by copying: the first overflows its
 * stack, the second takes seconds and gigabytes, the third seconds to
 * compile and a minute to run. Refused at load, naming the schema. */
Test(margo_config, regex_costly_refused_at_load, .timeout = 10)
{
	const char *bad[] = {
	    "(((((a{0,9}){0,9}){0,9}){0,9}){0,9}){0,9}",
	    "(((a{0,20}){0,20}){0,20}){0,20}",
	    "([a-z]{0,255}){0,255}x",
	    "(a+)*",
	    "a{101}",
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char r[256];

		snprintf(r, sizeof(r),
			 "      dataType: string\n      regexMatch: '%s'\n",
			 bad[i]);
		setup("    value: x\n", "", r);
		cr_expect_eq(margo_config_load(&cfg, &app, "k8s", &err),
			     ERR_INVALID, "%s", bad[i]);
		cr_expect(strstr(err.msg, "schema rule: regexMatch"), "%s",
			  err.msg);
		cr_expect(strstr(err.msg, "too costly"), "%s", err.msg);
		cr_expect(!strchr(err.msg, '\n'), "%s", err.msg);
		margo_app_release(&app);
		margo_verrs_release(&errs);
		loaded = 0;
	}
	/* an optional group and a count at the limit stay allowed */
	rule("      dataType: string\n"
	     "      regexMatch: ^[0-9]{1,100}(\\.[0-9]+)?$\n");
	OK("1.25");
	BAD("1.", "regexMatch");
}

/* Inside a bracket POSIX keeps \ literal; the page's JavaScript reads an
 * escape. \d \w \s and escaped specials are translated there too. */
Test(margo_config, regex_perl_classes_inside_brackets)
{
	rule("      dataType: string\n      regexMatch: ^[\\w.-]+$\n");
	OK("abc");
	OK("a_b.c-9");
	BAD("a\\b", "regexMatch");
	BAD("a b", "regexMatch");
	fini();
	rule("      dataType: string\n      regexMatch: '^[[:alpha:]\\d]+$'\n");
	OK("ab12");
	BAD("ab-1", "regexMatch");
	BAD("d:", "regexMatch");
	fini();
	rule("      dataType: string\n      regexMatch: '^[^\\s\\]]+$'\n");
	OK("ab");
	BAD("a b", "regexMatch");
	BAD("a]", "regexMatch");
	OK("a\\");
	fini();
	rule("      dataType: string\n      regexMatch: '^[\\-x]+$'\n");
	OK("-x-");
	BAD("y", "regexMatch");
}

Test(margo_config, regex_length_cap)
{
	char r[MARGO_REGEX_MAX + 200];

	snprintf(r, sizeof(r), "      dataType: string\n      regexMatch: \"");
	{
		size_t o = strlen(r);

		memset(r + o, 'a', MARGO_REGEX_MAX + 1);
		strcpy(r + o + MARGO_REGEX_MAX + 1, "\"\n");
	}
	setup("    value: x\n", "", r);
	cr_expect_eq(margo_config_load(&cfg, &app, "k8s", &err), ERR_TOO_LARGE);
}

Test(margo_config, integer_bounds_and_type)
{
	rule("      dataType: integer\n      minValue: -5\n      maxValue: 10\n");
	BAD("-6", "minValue");
	OK("-5");
	OK("10");
	OK("+3");
	BAD("11", "maxValue");
	BAD("1.0", "dataType");
	BAD("1e3", "dataType");
	BAD("99999999999999999999", "dataType"); /* over 64 bits */
	BAD("", "allowEmpty");
}

Test(margo_config, double_bounds_and_precision)
{
	rule("      dataType: double\n      minValue: 0.5\n      maxValue: 10\n"
	     "      minPrecision: 1\n      maxPrecision: 2\n");
	BAD("0.4", "minValue");
	OK("0.5");
	OK("10.0");
	BAD("10.01", "maxValue");
	BAD("5", "minPrecision");
	OK("5.1");
	OK("5.25");
	BAD("5.255", "maxPrecision");
	OK("525e-2"); /* 5.25: precision 2 */
	BAD("inf", "dataType");
	BAD("nan", "dataType");
	BAD("1.2.3", "dataType");
}

Test(margo_config, boolean)
{
	rule("      dataType: boolean\n");
	OK("true");
	OK("false");
	OK("TRUE");
	BAD("yes", "dataType");
	BAD("1", "dataType");
}

Test(margo_config, select_single_and_multi)
{
	rule("      dataType: string\n      options: [a, b]\n");
	OK("a");
	BAD("c", "options");
	BAD("A", "options");
	fini();
	rule("      dataType: integer\n      options: [1, 2]\n");
	OK("2");
	OK("+2"); /* numbers compare by value */
	BAD("3", "options");
	fini();
	rule("      dataType: string\n      options: [a, b, c]\n"
	     "      multiselect: true\n");
	OK("a,c");
	OK("[\"b\"]");
	BAD("a,d", "options");
	BAD("", "allowEmpty");
}

Test(margo_config, list_refused_without_multiselect)
{
	struct margo_value v;
	json_t *j = json_pack("[s,s]", "a", "b");

	rule("      dataType: string\n      options: [a, b]\n");
	cr_assert_eq(margo_value_from_json(&v, j, &err), 0);
	margo_config_check(&errs, &cfg.settings[0], &v);
	cr_assert_eq(errs.n, 1);
	cr_expect_str_eq(errs.v[0].rule, "multiselect");
	cr_expect_str_eq(errs.v[0].setting, "The P");
	cr_expect_str_eq(errs.v[0].parameter, "p");
	margo_value_release(&v);
	json_decref(j);
}

/* a JSON number is its shortest round-trip text: 0.1 is "0.1" */
Test(margo_config, json_values_text)
{
	struct margo_value v;
	json_t *j = json_pack("[f,f,I,b,s]", 0.1, 1.25, (json_int_t)-7, 1,
			      "x");

	cr_assert_eq(margo_value_from_json(&v, j, &err), 0);
	cr_assert_eq(v.n, 5);
	cr_expect(v.is_list);
	cr_expect_str_eq(v.items[0], "0.1");
	cr_expect_str_eq(v.items[1], "1.25");
	cr_expect_str_eq(v.items[2], "-7");
	cr_expect_str_eq(v.items[3], "true");
	cr_expect_str_eq(v.items[4], "x");
	margo_value_release(&v);
	json_decref(j);
	j = json_pack("{s:s}", "a", "b");
	cr_expect_eq(margo_value_from_json(&v, j, &err), ERR_INVALID);
	json_decref(j);
}

Test(margo_config, arrays_each_item)
{
	rule("      dataType: array[integer]\n      minValue: 1\n"
	     "      maxValue: 8\n");
	OK("1,8");
	BAD("0,2", "minValue");
	BAD("2,9", "maxValue");
	BAD("2,x", "dataType");
	BAD("[]", "allowEmpty");
	fini();
	rule("      dataType: array[string]\n      maxLength: 2\n");
	OK("[\"ab\",\"c\"]");
	BAD("abc", "maxLength");
}

Test(margo_config, description_errors)
{
	setup("    value: x\n", "", "      dataType: text\n");
	cr_expect_eq(margo_config_load(&cfg, &app, "k8s", &err), ERR_INVALID);
	cr_expect(strstr(err.msg, "dataType \"text\""), "%s", err.msg);
	fini();
	setup("    value: x\n", "",
	      "      dataType: integer\n      minValue: low\n");
	cr_expect_eq(margo_config_load(&cfg, &app, "k8s", &err), ERR_INVALID);
	cr_expect(strstr(err.msg, "minValue"), "%s", err.msg);
	fini();
	/* a rule written as a map: read without a parse problem, refused here */
	setup("    value: x\n", "",
	      "      dataType: integer\n      minValue: {a: 1}\n");
	cr_expect_eq(margo_config_load(&cfg, &app, "k8s", &err), ERR_INVALID);
	cr_expect(strstr(err.msg, "not a single value"), "%s", err.msg);
	fini();
	setup("    value: x\n", "", "      dataType: string\n");
	cr_expect_eq(margo_config_load(&cfg, &app, "nope", &err),
		     ERR_NOT_FOUND);
	/* the setting's parameter targets only k8s's component */
	cr_assert_eq(margo_config_load(&cfg, &app, "box", &err), 0);
	cr_expect_eq(cfg.n_settings, 0);
}

Test(margo_config, json_for_the_page)
{
	json_t *j, *s;

	setup("    value: ab\n",
	      "          description: d\n          immutable: true\n",
	      "      dataType: string\n      maxLength: 4\n");
	cr_assert_eq(margo_config_load(&cfg, &app, "k8s", &err), 0);
	j = margo_config_json(&cfg);
	s = json_array_get(
	    json_object_get(json_array_get(json_object_get(j, "sections"), 0),
			    "settings"),
	    0);
	cr_expect_str_eq(json_string_value(json_object_get(j, "profile")),
			 "k8s");
	cr_expect_str_eq(json_string_value(json_object_get(s, "parameter")),
			 "p");
	cr_expect_str_eq(json_string_value(json_object_get(s, "default")),
			 "ab");
	cr_expect(json_is_true(json_object_get(s, "immutable")));
	cr_expect_eq(json_integer_value(json_object_get(
			 json_object_get(s, "rules"), "maxLength")),
		     4);
	cr_expect(json_is_null(
	    json_object_get(json_object_get(s, "rules"), "minLength")));
	json_decref(j);
}

/* ---- the document ---- */

static char *doc;
static size_t doc_len;

static int build(const char *name, const char *ns,
		 const struct margo_answer *a, size_t n)
{
	struct margo_deploy_req req = {
	    .profile = "k8s",
	    .device_id = "northstar-edge-7",
	    .name = name,
	    .ns = ns,
	    .answers = a,
	    .n_answers = n,
	};

	free(doc);
	doc = NULL;
	return margo_deploy_build(&doc, &doc_len, &errs, &app, &req, &err);
}

static yaml_node_t *at(struct oci_yaml *y, const char *path)
{
	yaml_node_t *n = oci_yaml_root(y);
	char buf[256], *save = NULL;

	snprintf(buf, sizeof(buf), "%s", path);
	for (char *k = strtok_r(buf, ".", &save); k && n;
	     k = strtok_r(NULL, ".", &save))
		n = oci_yaml_map_get(&y->doc, n, k, NULL, NULL);
	return n;
}

static const char *sat(struct oci_yaml *y, const char *path)
{
	return oci_yaml_scalar(at(y, path));
}

static int matches(const char *pattern, const char *s)
{
	regex_t re;
	int rc;

	cr_assert_eq(regcomp(&re, pattern, REG_EXTENDED | REG_NOSUB), 0);
	rc = regexec(&re, s, 0, NULL, 0) == 0;
	regfree(&re);
	return rc;
}

Test(margo_config, deployment_has_the_models_required_fields)
{
	struct oci_yaml y;
	yaml_node_t *p, *comps;

	setup("    value: 7\n", "",
	      "      dataType: integer\n      maxValue: 9\n");
	cr_assert_eq(build(NULL, NULL, NULL, 0), 0, "%s", err.msg);
	cr_assert_eq(oci_yaml_load(&y, "doc", doc, doc_len, NULL, &err), 0,
		     "%s\n%s", err.msg, doc);
	cr_expect_str_eq(sat(&y, "apiVersion"), MARGO_DEPLOY_API_VERSION);
	cr_expect_str_eq(sat(&y, "kind"), "ApplicationDeployment");
	cr_expect_str_eq(sat(&y, "metadata.annotations.applicationId"),
			 "rule-app");
	cr_expect(matches("^[-a-z0-9]{1,200}$",
			  sat(&y, "metadata.annotations.applicationId")));
	/* the model's pattern, and version 4 / RFC 4122 variant */
	cr_expect(matches("^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-"
			  "[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$",
			  sat(&y, "metadata.annotations.id")));
	cr_expect_eq(sat(&y, "metadata.annotations.id")[14], '4');
	cr_expect(strchr("89ab", sat(&y, "metadata.annotations.id")[19]));
	cr_expect_str_eq(sat(&y, "metadata.name"), "rule-app");
	cr_expect_str_eq(sat(&y, "metadata.namespace"), "rule-app");
	cr_expect_str_eq(sat(&y, "metadata.deviceId"), "northstar-edge-7");
	cr_expect(matches("^(helm\\.v3|compose)$",
			  sat(&y, "spec.deploymentProfile.type")));
	comps = at(&y, "spec.deploymentProfile.components");
	cr_assert_eq(oci_yaml_seq_len(comps), 1);
	p = oci_yaml_node(&y, comps->data.sequence.items.start[0]);
	cr_expect_str_eq(oci_yaml_scalar(oci_yaml_map_get(&y.doc, p, "name",
							  NULL, NULL)),
			 "core");
	cr_expect_str_eq(sat(&y, "spec.parameters.p.value"), "7");
	cr_expect(oci_yaml_is_plain(at(&y, "spec.parameters.p.value")));
	/* the string with a quote and a newline round-trips */
	cr_expect_str_eq(sat(&y, "spec.parameters.other.value"),
			 "q\"uote\nline");
	cr_expect_eq(oci_yaml_seq_len(at(&y, "spec.parameters.other.targets")),
		     1);
	oci_yaml_release(&y);
	free(doc);
	doc = NULL;
}

Test(margo_config, deployment_answers_and_refusals)
{
	struct margo_answer a[2] = {{.parameter = "p"}, {.parameter = "zz"}};

	setup("    value: 7\n", "          immutable: false\n",
	      "      dataType: integer\n      maxValue: 9\n");
	cr_assert_eq(margo_value_scalar(&a[0].value, "8", &err), 0);
	cr_assert_eq(build("my-app", "plant-1", a, 1), 0, "%s", err.msg);
	cr_expect(strstr(doc, "      value: 8\n"), "%s", doc);
	cr_expect(strstr(doc, "  name: \"my-app\"\n"));
	cr_expect(strstr(doc, "  namespace: \"plant-1\"\n"));
	margo_value_release(&a[0].value);
	cr_assert_eq(margo_value_scalar(&a[0].value, "10", &err), 0);
	cr_assert_eq(margo_value_scalar(&a[1].value, "1", &err), 0);
	cr_expect_eq(build(NULL, NULL, a, 2), ERR_INVALID);
	cr_expect_null(doc);
	cr_assert_eq(errs.n, 2);
	cr_expect_str_eq(errs.v[0].rule, "parameter");
	cr_expect_str_eq(errs.v[0].parameter, "zz");
	cr_expect_str_eq(errs.v[1].rule, "maxValue");
	cr_expect_eq(build("Bad_Name", NULL, NULL, 0), ERR_INVALID);
	cr_expect_eq(build(NULL, "-x", NULL, 0), ERR_INVALID);
	margo_value_release(&a[0].value);
	margo_value_release(&a[1].value);
}

/* C1 controls and U+FFFE/U+FFFF are escaped: libyaml refuses them raw. */
Test(margo_config, deployment_escapes_c1_and_nonchars)
{
	static const char v[] = "a\xc2\x80"
				"b\xc2\x9f"
				"c\xc2\x85"
				"d\xef\xbf\xbe"
				"e\xef\xbf\xbf"
				"f\xc2\xa0";
	struct margo_answer a = {.parameter = "p"};
	struct oci_yaml y;

	setup("    value: x\n", "", "      dataType: string\n");
	cr_assert_eq(margo_value_scalar(&a.value, v, &err), 0);
	cr_assert_eq(build(NULL, NULL, &a, 1), 0, "%s", err.msg);
	cr_expect(strstr(doc, "\"a\\u0080b\\u009Fc\\Nd\\uFFFEe\\uFFFFf\xc2\xa0\""),
		  "%s", doc);
	cr_assert_eq(oci_yaml_load(&y, "doc", doc, doc_len, NULL, &err), 0,
		     "%s\n%s", err.msg, doc);
	cr_expect_str_eq(sat(&y, "spec.parameters.p.value"), v);
	oci_yaml_release(&y);
	margo_value_release(&a.value);
	free(doc);
	doc = NULL;
}

Test(margo_config, utf8_refuses_surrogates_overlongs_and_past_max)
{
	rule("      dataType: string\n");
	BAD("\xed\xa0\x80", "dataType");     /* U+D800 */
	BAD("\xed\xbf\xbf", "dataType");     /* U+DFFF */
	BAD("\xe0\x80\xaf", "dataType");     /* overlong / */
	BAD("\xe0\x9f\xbf", "dataType");     /* overlong */
	BAD("\xc0\xaf", "dataType");	     /* overlong / */
	BAD("\xc1\xbf", "dataType");	     /* overlong */
	BAD("\xf0\x8f\xbf\xbf", "dataType"); /* overlong */
	BAD("\xf4\x90\x80\x80", "dataType"); /* U+110000 */
	OK("\xed\x9f\xbf");		     /* U+D7FF */
	OK("\xe0\xa0\x80");		     /* U+0800 */
	OK("\xf0\x90\x80\x80");		     /* U+10000 */
	OK("\xf4\x8f\xbf\xbf");		     /* U+10FFFF */
}

/* metadata.id is only parsed by the catalog: the deployment checks it
 * against the model's pattern, and the names taken from it as k8s names. */
Test(margo_config, deployment_checks_app_id_and_defaulted_names)
{
	const char *saved;

	setup("    value: x\n", "", "      dataType: string\n");
	saved = app.id.v;
	app.id.v = "Bad_App";
	cr_expect_eq(build(NULL, NULL, NULL, 0), ERR_INVALID);
	cr_expect(strstr(err.msg, "metadata.id \"Bad_App\""), "%s", err.msg);
	cr_expect_null(doc);
	app.id.v = "-lead";
	cr_expect_eq(build(NULL, NULL, NULL, 0), ERR_INVALID);
	cr_expect(strstr(err.msg, "the name taken from metadata.id"), "%s",
		  err.msg);
	cr_expect_eq(build("ok-name", NULL, NULL, 0), ERR_INVALID);
	cr_expect(strstr(err.msg, "the namespace taken"), "%s", err.msg);
	cr_expect_eq(build("ok-name", "ok-ns", NULL, 0), 0, "%s", err.msg);
	app.id.v = saved;
	free(doc);
	doc = NULL;
}

Test(margo_config, device_id_is_hierarchical)
{
	cr_expect(margo_device_id_ok("northstar-edge-7"));
	cr_expect(margo_device_id_ok("Plant_1/line.2/cell~3"));
	cr_expect(margo_device_id_ok("site/*"));
	cr_expect_not(margo_device_id_ok(""));
	cr_expect_not(margo_device_id_ok("a//b"));
	cr_expect_not(margo_device_id_ok("/a"));
	cr_expect_not(margo_device_id_ok("a/"));
	cr_expect_not(margo_device_id_ok("*"));
	cr_expect_not(margo_device_id_ok("a/*/b"));
	cr_expect_not(margo_device_id_ok("a b"));
	cr_expect_not(margo_device_id_ok("a:b"));
	cr_expect_not(margo_device_id_ok("\xc3\xa9"));
}

/* Exponent forms are strings to YAML 1.1 (a point and a signed exponent
 * needed): doubles are written so both YAML versions read a float. */
Test(margo_config, deployment_doubles_are_yaml_floats)
{
	static const char *in[][2] = {
	    {"2.5e0", "2.5"},	  {"25e-1", "2.5"}, {"1e+21", "1.0e+21"},
	    {"5", "5.0"},	  {"-3", "-3.0"},   {"+1.25", "1.25"},
	    {"0.10", "0.10"},	  {"1E-7", "1.0e-07"},
	    {"123456789e3", "1.23456789e+11"},
	};
	regex_t yaml11;

	cr_assert_eq(regcomp(&yaml11,
			     "^[-+]?([0-9][0-9_]*)?\\.[0-9.]*([eE][-+][0-9]+)?$",
			     REG_EXTENDED | REG_NOSUB),
		     0);
	setup("    value: 1.5\n", "", "      dataType: double\n");
	for (size_t i = 0; i < sizeof(in) / sizeof(in[0]); i++) {
		struct margo_answer a = {.parameter = "p"};
		struct oci_yaml y;
		const char *out;

		cr_assert_eq(margo_value_scalar(&a.value, in[i][0], &err), 0);
		cr_assert_eq(build(NULL, NULL, &a, 1), 0, "%s: %s", in[i][0],
			     err.msg);
		cr_assert_eq(oci_yaml_load(&y, "doc", doc, doc_len, NULL, &err),
			     0);
		out = sat(&y, "spec.parameters.p.value");
		cr_expect_str_eq(out, in[i][1], "%s", in[i][0]);
		cr_expect(oci_yaml_is_plain(at(&y, "spec.parameters.p.value")));
		cr_expect_eq(regexec(&yaml11, out, 0, NULL, 0), 0, "%s", out);
		cr_expect_eq(strtod(out, NULL), strtod(in[i][0], NULL));
		oci_yaml_release(&y);
		margo_value_release(&a.value);
	}
	regfree(&yaml11);
	free(doc);
	doc = NULL;
}

Test(margo_config, immutable_keeps_its_default)
{
	struct margo_answer a = {.parameter = "p"};

	setup("    value: 7\n", "          immutable: true\n",
	      "      dataType: integer\n");
	cr_assert_eq(margo_value_scalar(&a.value, "7", &err), 0);
	cr_expect_eq(build(NULL, NULL, &a, 1), 0);
	margo_value_release(&a.value);
	cr_assert_eq(margo_value_scalar(&a.value, "6", &err), 0);
	cr_expect_eq(build(NULL, NULL, &a, 1), ERR_INVALID);
	cr_assert_eq(errs.n, 1);
	cr_expect_str_eq(errs.v[0].rule, "immutable");
	margo_value_release(&a.value);
	free(doc);
	doc = NULL;
}

Test(margo_config, uuid_v4_fresh_each_time)
{
	char a[37], b[37];

	cr_assert_eq(margo_uuid_v4(a, &err), 0);
	cr_assert_eq(margo_uuid_v4(b, &err), 0);
	cr_expect_str_neq(a, b);
	cr_expect_eq(strlen(a), 36);
	cr_expect_eq(a[14], '4');
}

Test(margo_config, k8s_names)
{
	cr_expect(margo_k8s_name_ok("a"));
	cr_expect(margo_k8s_name_ok("a-1"));
	cr_expect_not(margo_k8s_name_ok(""));
	cr_expect_not(margo_k8s_name_ok("a-"));
	cr_expect_not(margo_k8s_name_ok("A"));
	cr_expect(margo_k8s_name_ok(
	    "abcdefghijabcdefghijabcdefghijabcdefghijabcdefghijabcdefghijabc"));
	cr_expect_not(margo_k8s_name_ok(
	    "abcdefghijabcdefghijabcdefghijabcdefghijabcdefghijabcdefghijabcd"));
}
