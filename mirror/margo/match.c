/* A package's deployment profiles against a device's capabilities. */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "mirror/margo/catalog.h"
#include "mirror/margo/match.h"

static void reason(json_t *r, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void reason(json_t *r, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	json_array_append_new(r, json_string(msg));
}

/* "[a, b]" of n strings (get(i)), or "none" */
static void list_format(char *dst, size_t cap, size_t n,
			void (*get)(char *, size_t, const void *, size_t),
			const void *ctx)
{
	size_t o = 0;

	if (!n) {
		snprintf(dst, cap, "none");
		return;
	}
	o += (size_t)snprintf(dst, cap, "[");
	for (size_t i = 0; i < n && o < cap; i++) {
		char one[300];

		get(one, sizeof(one), ctx, i);
		o += (size_t)snprintf(dst + o, cap - o, "%s%s", i ? ", " : "",
				      one);
	}
	if (o < cap)
		snprintf(dst + o, cap - o, "]");
}

static void get_arch(char *dst, size_t cap, const void *ctx, size_t i)
{
	const struct margo_device *d = ctx;

	margo_arch_canonical(dst, cap, d->architectures[i]);
}

static void get_parch(char *dst, size_t cap, const void *ctx, size_t i)
{
	const struct margo_profile *p = ctx;

	margo_arch_canonical(dst, cap, p->architectures[i].v ?: "?");
}

static void get_role(char *dst, size_t cap, const void *ctx, size_t i)
{
	snprintf(dst, cap, "%s", ((const struct margo_device *)ctx)->roles[i]);
}

static void get_iface(char *dst, size_t cap, const void *ctx, size_t i)
{
	snprintf(dst, cap, "%s",
		 ((const struct margo_device *)ctx)->interfaces[i]);
}

static void periph_format(char *dst, size_t cap, const char *type,
			  const char *manufacturer, const char *model)
{
	snprintf(
	    dst, cap, "%s%s%s%s%s%s", type, manufacturer || model ? " (" : "",
	    manufacturer ? "manufacturer " : "", manufacturer ?: "",
	    model ? (manufacturer ? ", model " : "model ") : "", model ?: "");
	if (manufacturer || model)
		snprintf(dst + strlen(dst), cap - strlen(dst), ")");
}

static void get_periph(char *dst, size_t cap, const void *ctx, size_t i)
{
	const struct margo_device_peripheral *p =
	    &((const struct margo_device *)ctx)->peripherals[i];

	periph_format(dst, cap, p->type, p->manufacturer, p->model);
}

static int has_role(const struct margo_device *d, const char *role)
{
	for (size_t i = 0; i < d->n_roles; i++)
		if (!strcmp(d->roles[i], role))
			return 1;
	return 0;
}

static void check_role(json_t *r, const struct margo_profile *p,
		       const struct margo_device *d)
{
	const char *t = p->type.v;
	char roles[512];

	if (!t)
		return;
	list_format(roles, sizeof(roles), d->n_roles, get_role, d);
	if ((!strcmp(t, "helm.v3") || !strcmp(t, "helm")) &&
	    !has_role(d, "Standalone Cluster") &&
	    !has_role(d, "Cluster Leader"))
		reason(r,
		       "role: a %s profile needs a Standalone Cluster or "
		       "Cluster Leader, the device's roles are %s",
		       t, roles);
	else if (!strcmp(t, "compose") && !has_role(d, "Standalone Device"))
		reason(r,
		       "role: a compose profile needs a Standalone Device, the "
		       "device's roles are %s",
		       roles);
}

static void check_arch(json_t *r, const struct margo_profile *p,
		       const struct margo_device *d)
{
	char want[512], have[512];

	if (!p->n_architectures)
		return;
	for (size_t i = 0; i < p->n_architectures; i++) {
		char a[64];

		if (!p->architectures[i].v)
			continue;
		margo_arch_canonical(a, sizeof(a), p->architectures[i].v);
		for (size_t k = 0; k < d->n_architectures; k++) {
			char b[64];

			margo_arch_canonical(b, sizeof(b), d->architectures[k]);
			if (!strcmp(a, b))
				return;
		}
	}
	list_format(want, sizeof(want), p->n_architectures, get_parch, p);
	list_format(have, sizeof(have), d->n_architectures, get_arch, d);
	reason(r, "architecture: needs one of %s, the device has %s", want,
	       have);
}

static void check_cores(json_t *r, const struct margo_profile *p,
			const struct margo_device *d)
{
	const char *s = p->cores.v;
	char *end;
	double want;

	if (!s)
		return;
	errno = 0;
	want = strtod(s, &end);
	if (errno || end == s || *end || !isfinite(want) || want < 0) {
		reason(r, "cpu: the profile's cores \"%.100s\" is not a number",
		       s);
		return;
	}
	if (want > d->cores)
		reason(r, "cpu: needs %s cores, the device has %g", s,
		       d->cores);
}

static void check_quantity(json_t *r, const char *what, const char *s,
			   const struct margo_quantity *have,
			   const char *have_s)
{
	struct margo_quantity want;

	if (!s)
		return;
	if (margo_quantity_parse(&want, s)) {
		reason(r,
		       "%s: the profile's requirement \"%.100s\" is not a "
		       "quantity (a number and Ki, Mi, Gi, Ti, Pi or Ei)",
		       what, s);
		return;
	}
	if (margo_quantity_cmp(&want, have) > 0)
		reason(r, "%s: needs %s, the device has %s", what, s, have_s);
}

static int same(const char *want, const char *have)
{
	return !want || (have && !strcasecmp(want, have));
}

static void check_parts(json_t *r, const struct margo_profile *p,
			const struct margo_device *d)
{
	char want[400], have[1024];

	for (size_t i = 0; i < p->n_peripherals; i++) {
		const struct margo_device_part *q = &p->peripherals[i];
		size_t k;

		if (!q->type.v)
			continue;
		for (k = 0; k < d->n_peripherals; k++) {
			const struct margo_device_peripheral *h =
			    &d->peripherals[k];

			if (!strcasecmp(q->type.v, h->type) &&
			    same(q->manufacturer.v, h->manufacturer) &&
			    same(q->model.v, h->model))
				break;
		}
		if (k < d->n_peripherals)
			continue;
		periph_format(want, sizeof(want), q->type.v, q->manufacturer.v,
			      q->model.v);
		list_format(have, sizeof(have), d->n_peripherals, get_periph,
			    d);
		reason(r, "peripheral: needs %s, the device has %s", want,
		       have);
	}
	for (size_t i = 0; i < p->n_interfaces; i++) {
		const char *t = p->interfaces[i].type.v;
		size_t k;

		if (!t)
			continue;
		for (k = 0; k < d->n_interfaces; k++)
			if (!strcasecmp(t, d->interfaces[k]))
				break;
		if (k < d->n_interfaces)
			continue;
		list_format(have, sizeof(have), d->n_interfaces, get_iface, d);
		reason(r, "interface: needs %s, the device has %s", t, have);
	}
}

json_t *margo_match_profile(const struct margo_profile *p,
			    const struct margo_device *d)
{
	json_t *r = json_array();

	if (!r)
		return NULL;
	check_role(r, p, d);
	check_arch(r, p, d);
	check_cores(r, p, d);
	check_quantity(r, "memory", p->memory.v, &d->mem, d->memory);
	check_quantity(r, "storage", p->storage.v, &d->disk, d->storage);
	check_parts(r, p, d);
	return r;
}

json_t *margo_match(const struct margo_app *app, const struct margo_device *d,
		    const char *name)
{
	json_t *profiles = json_array(), *out;

	for (size_t i = 0; profiles && i < app->n_profiles; i++) {
		const struct margo_profile *p = &app->profiles[i];
		json_t *reasons = margo_match_profile(p, d);

		if (!reasons)
			continue;
		json_array_append_new(
		    profiles,
		    json_pack("{s:s?,s:s?,s:b,s:o}", "id", p->id.v, "type",
			      p->type.v, "fits", json_array_size(reasons) == 0,
			      "reasons", reasons));
	}
	out = json_pack("{s:{s:s?,s:s?},s:o}", "device", "id", d->id, "name",
			name, "profiles", profiles);
	return out;
}

int margo_match_stored(json_t **out, const struct store *s, const char *repo,
		       const char *tag, const struct margo_device *d,
		       const char *name, struct err *err)
{
	struct margo_app app;
	json_t *entry = NULL, *m;
	int rc;

	*out = NULL;
	rc = margo_catalog_get(&app, &entry, s, repo, tag, err);
	if (rc) {
		margo_app_release(&app);
		return rc;
	}
	m = margo_match(&app, d, name);
	if (m) {
		json_object_set_new(m, "repository", json_string(repo));
		json_object_set(m, "tag", json_object_get(entry, "tag"));
	}
	json_decref(entry);
	margo_app_release(&app);
	if (!m)
		return err_set(err, ERR_FAIL, "out of memory");
	*out = m;
	return 0;
}
