/* DeviceCapabilitiesManifest: read, check against the model, write back. */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mirror/margo/catalog.h"
#include "mirror/margo/device.h"
#include "mirror/store/device.h"
#include "oci/yaml.h"

static const char *const roles_enum[] = {"Standalone Cluster",
					 "Standalone Device", "Cluster Leader",
					 "Gateway", NULL};
/* the model's CpuArchitectureType, and aarch64 (arm64 as Linux names it) */
static const char *const arch_enum[] = {"amd64", "x86_64",  "arm64", "aarch64",
					"arm",	 "riscv64", "other", NULL};
static const char *const periph_enum[] = {
    "gpu", "display", "camera", "microphone", "speaker", "other", NULL};
static const char *const iface_enum[] = {"ethernet",  "wifi",  "cellular",
					 "bluetooth", "usb",   "canbus",
					 "rs232",     "other", NULL};

int margo_quantity_parse(struct margo_quantity *out, const char *s)
{
	static const char units[] = "KMGTPE";
	uint64_t n = 0;
	const char *p = s, *u;

	if (!s || *p < '0' || *p > '9')
		return ERR_INVALID;
	for (; *p >= '0' && *p <= '9'; p++) {
		unsigned dg = (unsigned)(*p - '0');

		if (n > (UINT64_MAX - dg) / 10)
			return ERR_INVALID;
		n = n * 10 + dg;
	}
	if (!*p || p[1] != 'i' || p[2] || !(u = strchr(units, *p)))
		return ERR_INVALID;
	out->n = n;
	out->shift = 10u * (unsigned)(u - units + 1);
	return 0;
}

int margo_quantity_cmp(const struct margo_quantity *a,
		       const struct margo_quantity *b)
{
	/* compare a.n << (sa - sb) with b.n (or the mirror): the shifted
	 * side is larger whenever the shift would overflow */
	const struct margo_quantity *hi = a->shift >= b->shift ? a : b;
	const struct margo_quantity *lo = hi == a ? b : a;
	unsigned d = hi->shift - lo->shift;
	int sign = hi == a ? 1 : -1;
	uint64_t h;

	if (hi->n && hi->n > (UINT64_MAX >> d))
		return sign;
	h = hi->n << d;
	if (h == lo->n)
		return 0;
	return h > lo->n ? sign : -sign;
}

struct walk {
	struct oci_yaml y;
	json_t *probs;
	const char *name;
	char first[ERR_MSG_MAX];
};

static void problem(struct walk *w, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void problem(struct walk *w, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	for (char *c = msg; *c; c++)
		if (*c == '\n' || *c == '\r')
			*c = ' ';
	if (!w->first[0])
		snprintf(w->first, sizeof(w->first), "%s", msg);
	if (w->probs)
		json_array_append_new(w->probs, json_string(msg));
}

static int in_enum(const char *const *e, const char *s)
{
	for (; *e; e++)
		if (!strcmp(*e, s))
			return 1;
	return 0;
}

/* map[key] as a non-empty string (copied); NULL with a problem when
 * required and missing, or not a string. */
static char *get_str(struct walk *w, yaml_node_t *map, const char *key,
		     const char *where, int required)
{
	yaml_node_t *n = oci_yaml_map_get(&w->y.doc, map, key, NULL, NULL);
	const char *s;

	if (!n || oci_yaml_is_null(n)) {
		if (required)
			problem(w, "%s%s is missing", where, key);
		return NULL;
	}
	s = oci_yaml_scalar(n);
	if (!s || !*s) {
		problem(w, "%s%s must be a non-empty string, not %s", where,
			key, s ? "an empty one" : oci_yaml_kind(n));
		return NULL;
	}
	return strdup(s);
}

static yaml_node_t *get_kind(struct walk *w, yaml_node_t *map, const char *key,
			     const char *where, yaml_node_type_t type)
{
	yaml_node_t *n = oci_yaml_map_get(&w->y.doc, map, key, NULL, NULL);

	if (!n || oci_yaml_is_null(n)) {
		problem(w, "%s%s is missing", where, key);
		return NULL;
	}
	if (n->type != type) {
		problem(w, "%s%s must be %s, not %s", where, key,
			type == YAML_SEQUENCE_NODE ? "a list" : "a map",
			oci_yaml_kind(n));
		return NULL;
	}
	return n;
}

/* The strings of a list, each checked against e (NULL: any). */
static char **get_list(size_t *n_out, struct walk *w, yaml_node_t *seq,
		       const char *what, const char *const *e)
{
	size_t n = oci_yaml_seq_len(seq), k = 0;
	char **v = calloc(n ? n : 1, sizeof(*v));

	*n_out = 0;
	if (!v)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		yaml_node_t *it =
		    oci_yaml_node(&w->y, seq->data.sequence.items.start[i]);
		const char *s = oci_yaml_scalar(it);

		if (!s || !*s) {
			problem(w, "%s[%zu] must be a string, not %s", what, i,
				s ? "an empty one" : oci_yaml_kind(it));
			continue;
		}
		if (e && !in_enum(e, s)) {
			char allowed[256] = "";
			size_t o = 0;

			for (const char *const *p = e;
			     *p && o < sizeof(allowed); p++)
				o += (size_t)snprintf(
				    allowed + o, sizeof(allowed) - o, "%s%s",
				    p == e ? "" : ", ", *p);
			problem(w, "%s[%zu] \"%.100s\" is not one of %s", what,
				i, s, allowed);
			continue;
		}
		v[k++] = strdup(s);
	}
	*n_out = k;
	return v;
}

static void get_quantity(struct walk *w, char **s_out, struct margo_quantity *q,
			 yaml_node_t *res, const char *key)
{
	*s_out = get_str(w, res, key, "properties.resources.", 1);
	if (*s_out && margo_quantity_parse(q, *s_out)) {
		problem(w,
			"properties.resources.%s \"%.100s\" is not a quantity "
			"(a number and Ki, Mi, Gi, Ti, Pi or Ei)",
			key, *s_out);
		free(*s_out);
		*s_out = NULL;
	}
}

static void get_cpu(struct walk *w, struct margo_device *d, yaml_node_t *res)
{
	yaml_node_t *cpu =
	    get_kind(w, res, "cpu", "properties.resources.", YAML_MAPPING_NODE);
	yaml_node_t *archs;
	char *cores, *end;

	if (!cpu)
		return;
	cores = get_str(w, cpu, "cores", "properties.resources.cpu.", 1);
	if (cores) {
		errno = 0;
		d->cores = strtod(cores, &end);
		if (errno || end == cores || *end || !isfinite(d->cores) ||
		    d->cores <= 0) {
			problem(w,
				"properties.resources.cpu.cores \"%.100s\" is "
				"not a positive number",
				cores);
			d->cores = 0;
		}
		free(cores);
	}
	archs = get_kind(w, cpu, "architectures", "properties.resources.cpu.",
			 YAML_SEQUENCE_NODE);
	if (archs) {
		d->architectures = get_list(
		    &d->n_architectures, w, archs,
		    "properties.resources.cpu.architectures", arch_enum);
		if (!oci_yaml_seq_len(archs))
			problem(w, "properties.resources.cpu.architectures is "
				   "empty");
	}
}

static void get_parts(struct walk *w, struct margo_device *d, yaml_node_t *res,
		      int periph)
{
	const char *key = periph ? "peripherals" : "interfaces";
	yaml_node_t *seq =
	    get_kind(w, res, key, "properties.resources.", YAML_SEQUENCE_NODE);
	size_t n = oci_yaml_seq_len(seq);

	if (!seq)
		return;
	if (periph)
		d->peripherals = calloc(n ? n : 1, sizeof(*d->peripherals));
	else
		d->interfaces = calloc(n ? n : 1, sizeof(*d->interfaces));
	if (periph ? !d->peripherals : !d->interfaces)
		return;
	for (size_t i = 0; i < n; i++) {
		yaml_node_t *it =
		    oci_yaml_node(&w->y, seq->data.sequence.items.start[i]);
		char where[64];
		char *type;

		snprintf(where, sizeof(where), "properties.resources.%s[%zu].",
			 key, i);
		if (!it || it->type != YAML_MAPPING_NODE) {
			problem(w,
				"properties.resources.%s[%zu] must be a map, "
				"not %s",
				key, i, oci_yaml_kind(it));
			continue;
		}
		type = get_str(w, it, "type", where, 1);
		if (type && !in_enum(periph ? periph_enum : iface_enum, type)) {
			problem(w, "%stype \"%.100s\" is not a known %s type",
				where, type,
				periph ? "peripheral" : "interface");
			free(type);
			type = NULL;
		}
		if (!type)
			continue;
		if (periph) {
			struct margo_device_peripheral *p =
			    &d->peripherals[d->n_peripherals++];

			p->type = type;
			p->manufacturer =
			    get_str(w, it, "manufacturer", where, 0);
			p->model = get_str(w, it, "model", where, 0);
		} else {
			d->interfaces[d->n_interfaces++] = type;
		}
	}
}

static void walk_doc(struct walk *w, struct margo_device *d)
{
	yaml_node_t *root = oci_yaml_root(&w->y), *props, *res, *roles;
	char *s;

	if (!root || root->type != YAML_MAPPING_NODE) {
		problem(w, "a DeviceCapabilitiesManifest is a map, not %s",
			oci_yaml_kind(root));
		return;
	}
	if ((s = get_str(w, root, "apiVersion", "", 1)) &&
	    strcmp(s, MARGO_DEVICE_API))
		problem(w, "apiVersion \"%.100s\" is not " MARGO_DEVICE_API, s);
	free(s);
	if ((s = get_str(w, root, "kind", "", 1)) &&
	    strcmp(s, MARGO_DEVICE_KIND))
		problem(w, "kind \"%.100s\" is not " MARGO_DEVICE_KIND, s);
	free(s);
	props = get_kind(w, root, "properties", "", YAML_MAPPING_NODE);
	if (!props)
		return;
	d->id = get_str(w, props, "id", "properties.", 1);
	d->vendor = get_str(w, props, "vendor", "properties.", 1);
	d->model_number = get_str(w, props, "modelNumber", "properties.", 1);
	d->serial_number = get_str(w, props, "serialNumber", "properties.", 1);
	roles = get_kind(w, props, "roles", "properties.", YAML_SEQUENCE_NODE);
	if (roles) {
		d->roles = get_list(&d->n_roles, w, roles, "properties.roles",
				    roles_enum);
		if (!oci_yaml_seq_len(roles))
			problem(w, "properties.roles is empty");
	}
	res = get_kind(w, props, "resources", "properties.", YAML_MAPPING_NODE);
	if (!res)
		return;
	get_cpu(w, d, res);
	get_quantity(w, &d->memory, &d->mem, res, "memory");
	get_quantity(w, &d->storage, &d->disk, res, "storage");
	get_parts(w, d, res, 1);
	get_parts(w, d, res, 0);
}

int margo_device_parse(struct margo_device *out, json_t **problems_out,
		       const char *data, size_t len, const char *name,
		       struct err *err)
{
	struct oci_yaml_limits lim = OCI_YAML_LIMITS_DEFAULT;
	struct walk w;
	int rc;

	memset(out, 0, sizeof(*out));
	memset(&w, 0, sizeof(w));
	w.name = name;
	if (problems_out)
		*problems_out = NULL;
	if (len > MARGO_DEVICE_INPUT_MAX)
		return err_set(err, ERR_TOO_LARGE,
			       "%s%sdevice manifest larger than %d bytes",
			       name ? name : "", name ? ": " : "",
			       MARGO_DEVICE_INPUT_MAX);
	lim.input_max = MARGO_DEVICE_INPUT_MAX;
	lim.nodes_max = 10000;
	lim.expand_max = 100000;
	w.probs = json_array();
	if (!w.probs)
		return err_set(err, ERR_FAIL, "out of memory");
	rc = oci_yaml_load(&w.y, name, data, len, &lim, err);
	if (rc) {
		json_array_append_new(w.probs, json_string(err->msg));
		goto out;
	}
	walk_doc(&w, out);
	oci_yaml_release(&w.y);
	if (w.first[0]) {
		size_t more = json_array_size(w.probs);

		more = more ? more - 1 : 0;
		if (more)
			rc = err_set(err, ERR_INVALID,
				     "%s%s%s (and %zu more problem%s)",
				     name ? name : "", name ? ": " : "",
				     w.first, more, more == 1 ? "" : "s");
		else
			rc = err_set(err, ERR_INVALID, "%s%s%s",
				     name ? name : "", name ? ": " : "",
				     w.first);
	}
out:
	if (problems_out)
		*problems_out = w.probs;
	else
		json_decref(w.probs);
	if (rc)
		margo_device_release(out);
	return rc;
}

static void free_list(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

void margo_device_release(struct margo_device *d)
{
	free(d->id);
	free(d->vendor);
	free(d->model_number);
	free(d->serial_number);
	free_list(d->roles, d->n_roles);
	free_list(d->architectures, d->n_architectures);
	free(d->memory);
	free(d->storage);
	for (size_t i = 0; i < d->n_peripherals; i++) {
		free(d->peripherals[i].type);
		free(d->peripherals[i].manufacturer);
		free(d->peripherals[i].model);
	}
	free(d->peripherals);
	free_list(d->interfaces, d->n_interfaces);
	memset(d, 0, sizeof(*d));
}

static json_t *str_array(char **v, size_t n)
{
	json_t *a = json_array();

	for (size_t i = 0; a && i < n; i++)
		json_array_append_new(a, json_string(v[i]));
	return a;
}

json_t *margo_device_cores_json(double cores)
{
	if (cores == floor(cores) && cores < 1e15)
		return json_integer((json_int_t)cores);
	return json_real(cores);
}

json_t *margo_device_json(const struct margo_device *d)
{
	json_t *periph = json_array(), *ifaces = json_array();

	for (size_t i = 0; periph && i < d->n_peripherals; i++) {
		const struct margo_device_peripheral *p = &d->peripherals[i];
		json_t *o = json_pack("{s:s}", "type", p->type);

		if (o && p->manufacturer)
			json_object_set_new(o, "manufacturer",
					    json_string(p->manufacturer));
		if (o && p->model)
			json_object_set_new(o, "model", json_string(p->model));
		json_array_append_new(periph, o);
	}
	for (size_t i = 0; ifaces && i < d->n_interfaces; i++)
		json_array_append_new(
		    ifaces, json_pack("{s:s}", "type", d->interfaces[i]));
	return json_pack(
	    "{s:s,s:s,s:{s:s,s:s,s:s,s:s,s:o,s:{s:{s:o,s:o},s:s,s:s,s:o,s:o}}}",
	    "apiVersion", MARGO_DEVICE_API, "kind", MARGO_DEVICE_KIND,
	    "properties", "id", d->id, "vendor", d->vendor, "modelNumber",
	    d->model_number, "serialNumber", d->serial_number, "roles",
	    str_array(d->roles, d->n_roles), "resources", "cpu", "cores",
	    margo_device_cores_json(d->cores), "architectures",
	    str_array(d->architectures, d->n_architectures), "memory",
	    d->memory, "storage", d->storage, "peripherals", periph,
	    "interfaces", ifaces);
}

json_t *margo_device_summary(const struct margo_device *d, const char *name)
{
	json_t *archs = json_array();
	char first[64] = "";

	for (size_t i = 0; archs && i < d->n_architectures; i++) {
		char a[64];

		margo_arch_canonical(a, sizeof(a), d->architectures[i]);
		if (!i)
			snprintf(first, sizeof(first), "%s", a);
		json_array_append_new(archs, json_string(a));
	}
	return json_pack("{s:s?,s:s?,s:s?,s:o,s:o,s:s?,s:s?}", "name", name,
			 "id", d->id, "architecture", first[0] ? first : NULL,
			 "architectures", archs, "cores",
			 margo_device_cores_json(d->cores), "memory", d->memory,
			 "storage", d->storage);
}

int margo_device_load(struct margo_device *out, const struct store *s,
		      const char *name, struct err *err)
{
	char *text = NULL, what[STORE_DEVICE_NAME_MAX + 16];
	size_t len = 0;
	int rc;

	memset(out, 0, sizeof(*out));
	rc = store_device_get(&text, &len, s, name, err);
	if (rc)
		return rc;
	snprintf(what, sizeof(what), "device %s", name);
	rc = margo_device_parse(out, NULL, text, len, what, err);
	free(text);
	return rc;
}
