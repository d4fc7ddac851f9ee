/* DeviceCapabilitiesManifest parsing, profile matching, devices kept in
 * the store. Fixtures are written here, shaped like the Margo model's
 * examples (model/examples/valid|invalid/DeviceCapabilitiesManifest-*). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "mirror/margo/description.h"
#include "mirror/margo/device.h"
#include "mirror/margo/match.h"
#include "mirror/store/device.h"
#include "storefix.h"

/* A device like the model's valid example: JSON, x86_64, 59Gi. */
static const char valid_json[] =
    "{\"apiVersion\": \"device.margo.org/v1alpha1\",\n"
    " \"kind\": \"DeviceCapabilitiesManifest\",\n"
    " \"properties\": {\"id\": \"plant7.cell2.edge\", \"vendor\": \"Ridgeway "
    "Automation\",\n"
    "  \"modelNumber\": \"RW-880\", \"serialNumber\": \"RW880-0193\",\n"
    "  \"roles\": [\"Standalone Cluster\"],\n"
    "  \"resources\": {\"cpu\": {\"cores\": 16, \"architectures\": "
    "[\"x86_64\"]},\n"
    "   \"memory\": \"32Gi\", \"storage\": \"960Gi\",\n"
    "   \"peripherals\": [{\"type\": \"gpu\", \"manufacturer\": \"NVIDIA\", "
    "\"model\": \"T1000\"}],\n"
    "   \"interfaces\": [{\"type\": \"ethernet\"}, {\"type\": \"wifi\"}]}}}\n";

/* The YAML device the matching tests vary: printf arguments roles, cores,
 * architecture, memory, storage. */
static const char dev_fmt[] =
    "apiVersion: device.margo.org/v1alpha1\n"
    "kind: DeviceCapabilitiesManifest\n"
    "properties:\n"
    "  id: press-line-3\n"
    "  vendor: Acme\n"
    "  modelNumber: A-1\n"
    "  serialNumber: S-1\n"
    "  roles: [%s]\n"
    "  resources:\n"
    "    cpu: {cores: %s, architectures: [%s]}\n"
    "    memory: %s\n"
    "    storage: %s\n"
    "    peripherals: [{type: camera, manufacturer: Basler, model: ace2}]\n"
    "    interfaces: [{type: ethernet}, {type: canbus}]\n";

static struct margo_device dev;
static struct margo_app app;
static json_t *reasons;

static void fini(void)
{
	margo_device_release(&dev);
	margo_app_release(&app);
	json_decref(reasons);
	reasons = NULL;
}

TestSuite(margo_device, .fini = fini);
TestSuite(margo_match, .fini = fini);

static int parse_text(const char *text, json_t **probs, struct err *err)
{
	return margo_device_parse(&dev, probs, text, strlen(text), "dev.yaml",
				  err);
}

static void device(const char *roles, const char *cores, const char *arch,
		   const char *mem, const char *disk)
{
	char text[2048];
	struct err err;

	snprintf(text, sizeof(text), dev_fmt, roles, cores, arch, mem, disk);
	margo_device_release(&dev);
	cr_assert_eq(parse_text(text, NULL, &err), 0, "%s", err.msg);
}

Test(margo_device, valid_example_shape_parses_with_its_fields)
{
	struct err err;
	json_t *j;

	cr_assert_eq(parse_text(valid_json, NULL, &err), 0, "%s", err.msg);
	cr_assert_str_eq(dev.id, "plant7.cell2.edge");
	cr_assert_str_eq(dev.vendor, "Ridgeway Automation");
	cr_assert_str_eq(dev.model_number, "RW-880");
	cr_assert_str_eq(dev.serial_number, "RW880-0193");
	cr_assert_eq(dev.n_roles, 1);
	cr_assert_str_eq(dev.roles[0], "Standalone Cluster");
	cr_assert_float_eq(dev.cores, 16.0, 1e-9);
	cr_assert_eq(dev.n_architectures, 1);
	cr_assert_str_eq(dev.architectures[0], "x86_64");
	cr_assert_str_eq(dev.memory, "32Gi");
	cr_assert_eq(dev.mem.n, 32);
	cr_assert_eq(dev.mem.shift, 30);
	cr_assert_eq(dev.disk.n, 960);
	cr_assert_eq(dev.n_peripherals, 1);
	cr_assert_str_eq(dev.peripherals[0].type, "gpu");
	cr_assert_str_eq(dev.peripherals[0].manufacturer, "NVIDIA");
	cr_assert_str_eq(dev.peripherals[0].model, "T1000");
	cr_assert_eq(dev.n_interfaces, 2);
	cr_assert_str_eq(dev.interfaces[1], "wifi");
	j = margo_device_summary(&dev, "cell2");
	cr_assert_str_eq(json_string_value(json_object_get(j, "architecture")),
			 "amd64");
	cr_assert_eq(json_integer_value(json_object_get(j, "cores")), 16);
	cr_assert_str_eq(json_string_value(json_object_get(j, "name")),
			 "cell2");
	json_decref(j);
}

Test(margo_device, written_json_reads_back_the_same)
{
	struct err err;
	json_t *a, *b;
	char *text;

	cr_assert_eq(parse_text(valid_json, NULL, &err), 0, "%s", err.msg);
	a = margo_device_json(&dev);
	text = json_dumps(a, 0);
	margo_device_release(&dev);
	cr_assert_eq(parse_text(text, NULL, &err), 0, "%s", err.msg);
	b = margo_device_json(&dev);
	cr_assert(json_equal(a, b));
	json_decref(a);
	json_decref(b);
	free(text);
}

/* valid_json with one text replaced: a copy in buf */
static const char *edit(char *buf, size_t cap, const char *from,
			const char *to)
{
	const char *at = strstr(valid_json, from);

	cr_assert(at, "%s", from);
	snprintf(buf, cap, "%.*s%s%s", (int)(at - valid_json), valid_json, to,
		 at + strlen(from));
	return buf;
}

static void refused(const char *text, const char *want)
{
	struct err err;
	json_t *probs = NULL;

	margo_device_release(&dev);
	cr_assert_eq(parse_text(text, &probs, &err), ERR_INVALID);
	cr_assert(strstr(err.msg, want), "\"%s\" lacks \"%s\"", err.msg, want);
	cr_assert(!strchr(err.msg, '\n'));
	cr_assert_geq(json_array_size(probs), 1);
	json_decref(probs);
}

Test(margo_device, invalid_role_is_refused)
{
	char b[2048];

	refused(edit(b, sizeof(b), "\"Standalone Cluster\"", "\"Overseer\""),
		"properties.roles[0] \"Overseer\" is not one of");
}

Test(margo_device, missing_vendor_is_refused)
{
	char b[2048];

	refused(edit(b, sizeof(b), "\"vendor\": \"Ridgeway Automation\",", ""),
		"dev.yaml: properties.vendor is missing");
}

Test(margo_device, unknown_architecture_is_refused)
{
	char b[2048];

	refused(edit(b, sizeof(b), "\"x86_64\"", "\"riscv\""),
		"architectures[0] \"riscv\" is not one of");
}

Test(margo_device, each_broken_field_is_named)
{
	char b[2048];

	refused(edit(b, sizeof(b), "device.margo.org/v1alpha1", "v1"),
		"apiVersion \"v1\" is not device.margo.org/v1alpha1");
	refused(edit(b, sizeof(b), "\"DeviceCapabilitiesManifest\"", "\"Dev\""),
		"kind \"Dev\" is not DeviceCapabilitiesManifest");
	refused(edit(b, sizeof(b), "\"32Gi\"", "\"32GB\""),
		"properties.resources.memory \"32GB\" is not a quantity");
	refused(edit(b, sizeof(b), "\"960Gi\"", "\"99999999999999999999Ki\""),
		"properties.resources.storage");
	refused(edit(b, sizeof(b), "\"cores\": 16", "\"cores\": -2"),
		"cpu.cores \"-2\" is not a positive number");
	refused(edit(b, sizeof(b), "\"type\": \"gpu\"", "\"type\": \"laser\""),
		"peripherals[0].type \"laser\" is not a known peripheral type");
	refused(edit(b, sizeof(b), "{\"type\": \"wifi\"}", "\"wifi\""),
		"interfaces[1] must be a map, not a string");
	refused(edit(b, sizeof(b), "\"roles\": [\"Standalone Cluster\"]",
		     "\"roles\": []"),
		"properties.roles is empty");
	refused(edit(b, sizeof(b), "\"storage\": \"960Gi\",", ""),
		"properties.resources.storage is missing");
	refused("[1, 2]", "a DeviceCapabilitiesManifest is a map, not a list");
	refused("{\"kind\": [", "dev.yaml:");
}

Test(margo_device, every_problem_is_listed)
{
	char b[2048], c[2048];
	json_t *probs = NULL;
	struct err err;

	edit(b, sizeof(b), "\"vendor\": \"Ridgeway Automation\",", "");
	snprintf(c, sizeof(c), "%s", b);
	{
		const char *at = strstr(c, "\"32Gi\"");

		cr_assert(at);
		snprintf(b, sizeof(b), "%.*s\"lots\"%s", (int)(at - c), c,
			 at + 6);
	}
	cr_assert_eq(parse_text(b, &probs, &err), ERR_INVALID);
	cr_assert_eq(json_array_size(probs), 2);
	cr_assert_str_eq(json_string_value(json_array_get(probs, 0)),
			 "properties.vendor is missing");
	cr_assert(strstr(json_string_value(json_array_get(probs, 1)),
			 "memory \"lots\""));
	cr_assert(strstr(err.msg, "(and 1 more problem)"), "%s", err.msg);
	json_decref(probs);
}

Test(margo_device, quantities_compare_as_bytes_without_overflow)
{
	struct margo_quantity a, b;

	cr_assert_eq(margo_quantity_parse(&a, "1Gi"), 0);
	cr_assert_eq(margo_quantity_parse(&b, "1024Mi"), 0);
	cr_assert_eq(margo_quantity_cmp(&a, &b), 0);
	cr_assert_eq(margo_quantity_parse(&b, "1023Mi"), 0);
	cr_assert_gt(margo_quantity_cmp(&a, &b), 0);
	cr_assert_lt(margo_quantity_cmp(&b, &a), 0);
	/* 2^64-1 Ki against 1 Ei (2^60): the shifted value overflows 64 bits */
	cr_assert_eq(margo_quantity_parse(&a, "18446744073709551615Ki"), 0);
	cr_assert_eq(margo_quantity_parse(&b, "1Ei"), 0);
	cr_assert_gt(margo_quantity_cmp(&a, &b), 0);
	cr_assert_eq(margo_quantity_parse(&b, "16Ei"), 0); /* 2^64 bytes */
	cr_assert_gt(margo_quantity_cmp(&a, &b), 0);	   /* 2^74 - 2^10 */
	cr_assert_eq(margo_quantity_parse(&b, "16777216Ei"), 0); /* 2^84 */
	cr_assert_lt(margo_quantity_cmp(&a, &b), 0);
	cr_assert_gt(margo_quantity_cmp(&b, &a), 0);
	cr_assert_eq(margo_quantity_parse(&a, "0Ki"), 0);
	cr_assert_eq(margo_quantity_parse(&b, "0Ei"), 0);
	cr_assert_eq(margo_quantity_cmp(&a, &b), 0);
	cr_assert_eq(margo_quantity_parse(&a, "18446744073709551616Ki"),
		     ERR_INVALID);
	cr_assert_eq(margo_quantity_parse(&a, "1G"), ERR_INVALID);
	cr_assert_eq(margo_quantity_parse(&a, "1Zi"), ERR_INVALID);
	cr_assert_eq(margo_quantity_parse(&a, "Gi"), ERR_INVALID);
	cr_assert_eq(margo_quantity_parse(&a, "1Gix"), ERR_INVALID);
}

/* A package whose one profile (type) has requiredResources res (YAML
 * lines, indented 6). */
static void profile(const char *type, const char *res)
{
	char text[4096];
	struct margo_problems probs;
	struct err err;

	snprintf(text, sizeof(text),
		 "apiVersion: margo.org/v1-alpha1\n"
		 "kind: ApplicationDescription\n"
		 "metadata:\n"
		 "  id: press-monitor\n"
		 "  name: Press Monitor\n"
		 "  version: \"1.0\"\n"
		 "  catalog:\n"
		 "    organization: [{name: Acme}]\n"
		 "deploymentProfiles:\n"
		 "  - type: %s\n"
		 "    id: p1\n"
		 "%s%s"
		 "    components:\n"
		 "      - name: m\n"
		 "        properties: {repository: oci://r.example/m, "
		 "revision: 1.0.0}\n",
		 type, res ? "    requiredResources:\n" : "", res ? res : "");
	margo_app_release(&app);
	margo_problems_init(&probs);
	cr_assert_eq(margo_app_parse(&app, &probs, text, strlen(text), &err),
		     0, "%s", err.msg);
	cr_assert_eq(probs.n_errors, 0, "%s", probs.n ? probs.v[0].message : "");
	margo_problems_release(&probs);
	cr_assert_eq(app.n_profiles, 1);
}

static void match(void)
{
	json_decref(reasons);
	reasons = margo_match_profile(&app.profiles[0], &dev);
	cr_assert_not_null(reasons);
}

static void only_reason(const char *want)
{
	match();
	cr_assert_eq(json_array_size(reasons), 1, "%zu reasons, first %s",
		     json_array_size(reasons),
		     json_string_value(json_array_get(reasons, 0)));
	cr_assert_str_eq(json_string_value(json_array_get(reasons, 0)), want);
}

static void fits(void)
{
	match();
	cr_assert_eq(json_array_size(reasons), 0, "%s",
		     json_string_value(json_array_get(reasons, 0)));
}

Test(margo_match, exactly_enough_memory_fits_one_byte_less_does_not)
{
	profile("compose", "      memory: 2Gi\n");
	device("Standalone Device", "4", "arm64", "2048Mi", "10Gi");
	fits();
	device("Standalone Device", "4", "arm64", "2097151Ki", "10Gi");
	only_reason("memory: needs 2Gi, the device has 2097151Ki");
}

Test(margo_match, storage_on_both_sides_of_the_edge)
{
	profile("compose", "      storage: 1Ti\n");
	device("Standalone Device", "4", "arm64", "1Gi", "1024Gi");
	fits();
	device("Standalone Device", "4", "arm64", "1Gi", "1073741823Ki");
	only_reason("storage: needs 1Ti, the device has 1073741823Ki");
	profile("compose", "      storage: 1Ei\n");
	device("Standalone Device", "4", "arm64", "1Gi", "1048576Ti");
	fits();
}

Test(margo_match, cores_exactly_enough_fit_fewer_do_not)
{
	profile("compose", "      cpu: {cores: 2.5}\n");
	device("Standalone Device", "2.5", "arm64", "1Gi", "1Gi");
	fits();
	device("Standalone Device", "2", "arm64", "1Gi", "1Gi");
	only_reason("cpu: needs 2.5 cores, the device has 2");
}

Test(margo_match, architectures_are_compared_canonically)
{
	profile("compose", "      cpu: {cores: 1, architectures: [amd64]}\n");
	device("Standalone Device", "4", "x86_64", "1Gi", "1Gi");
	fits();
	profile("compose",
		"      cpu: {cores: 1, architectures: [riscv64, arm64]}\n");
	device("Standalone Device", "4", "aarch64", "1Gi", "1Gi");
	fits();
	device("Standalone Device", "4", "x86_64", "1Gi", "1Gi");
	only_reason("architecture: needs one of [riscv64, arm64], the device "
		    "has [amd64]");
}

Test(margo_match, peripherals_by_type_manufacturer_and_model)
{
	device("Standalone Device", "4", "arm64", "1Gi", "1Gi");
	profile("compose", "      peripherals: [{type: camera}]\n");
	fits();
	profile("compose", "      peripherals: [{type: camera, manufacturer: "
			   "basler, model: ACE2}]\n");
	fits();
	profile("compose",
		"      peripherals: [{type: camera, manufacturer: Sony}]\n");
	only_reason("peripheral: needs camera (manufacturer Sony), the device "
		    "has [camera (manufacturer Basler, model ace2)]");
	profile("compose",
		"      peripherals: [{type: camera, model: ace3}]\n");
	only_reason("peripheral: needs camera (model ace3), the device has "
		    "[camera (manufacturer Basler, model ace2)]");
	profile("compose", "      peripherals: [{type: gpu}]\n");
	only_reason("peripheral: needs gpu, the device has [camera "
		    "(manufacturer Basler, model ace2)]");
}

Test(margo_match, interfaces_by_type)
{
	device("Standalone Device", "4", "arm64", "1Gi", "1Gi");
	profile("compose", "      interfaces: [{type: canbus}]\n");
	fits();
	profile("compose",
		"      interfaces: [{type: ethernet}, {type: rs232}]\n");
	only_reason(
	    "interface: needs rs232, the device has [ethernet, canbus]");
}

Test(margo_match, the_role_must_run_the_profile_type)
{
	profile("helm.v3", NULL);
	device("Standalone Device", "4", "arm64", "1Gi", "1Gi");
	only_reason("role: a helm.v3 profile needs a Standalone Cluster or "
		    "Cluster Leader, the device's roles are [Standalone "
		    "Device]");
	device("Cluster Leader", "4", "arm64", "1Gi", "1Gi");
	fits();
	profile("compose", NULL);
	only_reason("role: a compose profile needs a Standalone Device, the "
		    "device's roles are [Cluster Leader]");
}

Test(margo_match, every_reason_is_listed_and_json_says_fits)
{
	json_t *m, *p;

	profile("compose", "      cpu: {cores: 8, architectures: [amd64]}\n"
			   "      memory: 4Gi\n"
			   "      storage: 2Gi\n"
			   "      peripherals: [{type: gpu}]\n"
			   "      interfaces: [{type: wifi}]\n");
	device("Gateway", "4", "arm64", "1Gi", "1Gi");
	match();
	cr_assert_eq(json_array_size(reasons), 7);
	m = margo_match(&app, &dev, "line3");
	p = json_array_get(json_object_get(m, "profiles"), 0);
	cr_assert_str_eq(json_string_value(json_object_get(p, "id")), "p1");
	cr_assert(json_is_false(json_object_get(p, "fits")));
	cr_assert_eq(json_array_size(json_object_get(p, "reasons")), 7);
	cr_assert_str_eq(json_string_value(json_object_get(
			     json_object_get(m, "device"), "name")),
			 "line3");
	json_decref(m);
}

Test(margo_match, unreadable_requirement_is_a_reason)
{
	profile("compose", "      memory: 2GB\n");
	device("Standalone Device", "4", "arm64", "64Gi", "1Gi");
	only_reason("memory: the profile's requirement \"2GB\" is not a "
		    "quantity (a number and Ki, Mi, Gi, Ti, Pi or Ei)");
}

Test(store_device, put_get_list_delete)
{
	struct fix f;
	struct err err;
	char **names = NULL, *text = NULL;
	size_t n = 0, len = 0;

	fix_setup(&f);
	cr_assert_eq(store_device_put(&f.st, "b-2", "{\"x\":1}", &err), 0,
		     "%s", err.msg);
	cr_assert_eq(store_device_put(&f.st, "b", "{}", &err), 0);
	cr_assert_eq(store_device_put(&f.st, "b", "{\"y\":2}", &err), 0);
	cr_assert_eq(store_device_get(&text, &len, &f.st, "b", &err), 0);
	cr_assert_str_eq(text, "{\"y\":2}");
	free(text);
	cr_assert_eq(store_device_list(&names, &n, &f.st, &err), 0);
	cr_assert_eq(n, 2);
	cr_assert_str_eq(names[0], "b");
	cr_assert_str_eq(names[1], "b-2");
	store_device_names_free(names, n);
	cr_assert(fix_exists(&f, "devices/b.json"));
	cr_assert_eq(store_device_delete(&f.st, "b", &err), 0);
	cr_assert_eq(store_device_delete(&f.st, "b", &err), ERR_NOT_FOUND);
	cr_assert_eq(store_device_get(&text, &len, &f.st, "b", &err),
		     ERR_NOT_FOUND);
	cr_assert_str_eq(err.msg, "device b is not in the store");
	fix_teardown(&f);
}

Test(store_device, names_are_validated_before_they_are_paths)
{
	static const char *const bad[] = {"", "..", ".x", "a/b", "-a",
					  "a b", "a\\b", "%2e"};
	struct fix f;
	struct err err;
	char *text = NULL;
	size_t len;
	char longname[200];

	fix_setup(&f);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		cr_assert_not(store_device_name_valid(bad[i]), "%s", bad[i]);
		cr_assert_eq(store_device_put(&f.st, bad[i], "{}", &err),
			     ERR_INVALID, "%s", bad[i]);
		cr_assert_eq(store_device_get(&text, &len, &f.st, bad[i], &err),
			     ERR_INVALID);
	}
	memset(longname, 'a', 129);
	longname[129] = '\0';
	cr_assert_not(store_device_name_valid(longname));
	longname[128] = '\0';
	cr_assert(store_device_name_valid(longname));
	cr_assert(store_device_name_valid("plant7.cell2_edge-1"));
	fix_teardown(&f);
}
