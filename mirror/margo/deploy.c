/* ApplicationDeployment from a description and a user's answers; see
 * deploy.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "mirror/margo/deploy.h"

int margo_uuid_v4(char out[37], struct err *err)
{
	unsigned char b[16];
	size_t got = 0;

	while (got < sizeof(b)) {
		ssize_t n = getrandom(b + got, sizeof(b) - got, 0);

		if (n < 0)
			return err_set(err, ERR_FAIL, "getrandom: %m");
		got += (size_t)n;
	}
	b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
	b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
	snprintf(out, 37,
		 "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-"
		 "%02x%02x%02x%02x%02x%02x",
		 b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9],
		 b[10], b[11], b[12], b[13], b[14], b[15]);
	return 0;
}

int margo_k8s_name_ok(const char *s)
{
	size_t n = strlen(s);

	if (!n || n > 63 || s[0] == '-' || s[n - 1] == '-')
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') ||
		      (s[i] >= '0' && s[i] <= '9') || s[i] == '-'))
			return 0;
	return 1;
}

/* A YAML double-quoted scalar: ", \ and every control character escaped
 * (C0, DEL, C1 U+0080-U+009F), U+0085, U+2028, U+2029 (line breaks to
 * YAML), and the non-characters U+FFFE, U+FFFF YAML refuses raw. */
static void q(FILE *f, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;

	fputc('"', f);
	for (; *p; p++) {
		if (*p == '"' || *p == '\\')
			fprintf(f, "\\%c", *p);
		else if (*p == '\n')
			fputs("\\n", f);
		else if (*p == '\t')
			fputs("\\t", f);
		else if (*p < 0x20 || *p == 0x7f)
			fprintf(f, "\\x%02x", *p);
		else if (p[0] == 0xc2 && p[1] == 0x85)
			fputs("\\N", f), p++;
		else if (p[0] == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f)
			fprintf(f, "\\u%04X", p[1]), p++;
		else if (p[0] == 0xef && p[1] == 0xbf &&
			 (p[2] == 0xbe || p[2] == 0xbf))
			fputs(p[2] == 0xbe ? "\\uFFFE" : "\\uFFFF", f), p += 2;
		else if (p[0] == 0xe2 && p[1] == 0x80 &&
			 (p[2] == 0xa8 || p[2] == 0xa9))
			fputs(p[2] == 0xa8 ? "\\L" : "\\P", f), p += 2;
		else
			fputc(*p, f);
	}
	fputc('"', f);
}

static int bool_text(const char *s)
{
	if (!strcmp(s, "true") || !strcmp(s, "True") || !strcmp(s, "TRUE"))
		return 1;
	if (!strcmp(s, "false") || !strcmp(s, "False") || !strcmp(s, "FALSE"))
		return 0;
	return -1;
}

/* A double (already validated) as a float to YAML 1.1 and 1.2 alike: as
 * written when it is plain decimal with a point; else the shortest %g
 * that reads back the same, with a point in its mantissa (1e+21 is a
 * string to YAML 1.1, 1.0e+21 a float; 5 an integer, 5.0 a float). */
static void double_text(FILE *f, const char *v)
{
	char buf[40];
	double d;

	if (!strpbrk(v, "eE") && strchr(v, '.')) {
		fputs(v, f);
		return;
	}
	d = strtod(v, NULL);
	for (int prec = 1; prec <= 17; prec++) {
		snprintf(buf, sizeof(buf), "%.*g", prec, d);
		if (strtod(buf, NULL) == d)
			break;
	}
	if (!strchr(buf, '.')) {
		char *e = strchr(buf, 'e');
		size_t at = e ? (size_t)(e - buf) : strlen(buf);

		memmove(buf + at + 2, buf + at, strlen(buf + at) + 1);
		memcpy(buf + at, ".0", 2);
	}
	fputs(buf, f);
}

/* One item typed by the schema (NULL: a string). Already validated. */
static void item(FILE *f, const struct margo_schema *sc, const char *v)
{
	if (sc && sc->type == MARGO_DT_INTEGER)
		fprintf(f, "%lld", strtoll(v, NULL, 10));
	else if (sc && sc->type == MARGO_DT_DOUBLE)
		double_text(f, v[0] == '+' ? v + 1 : v);
	else if (sc && sc->type == MARGO_DT_BOOLEAN)
		fputs(bool_text(v) == 1 ? "true" : "false", f);
	else
		q(f, v);
}

static void emit_value(FILE *f, const struct margo_schema *sc,
		       const struct margo_value *v)
{
	if (!v->is_list) {
		fputs("      value: ", f);
		item(f, sc, v->n ? v->items[0] : "");
		fputc('\n', f);
		return;
	}
	if (!v->n) {
		fputs("      value: []\n", f);
		return;
	}
	fputs("      value:\n", f);
	for (size_t i = 0; i < v->n; i++) {
		fputs("        - ", f);
		item(f, sc, v->items[i]);
		fputc('\n', f);
	}
}

static void emit_prop(FILE *f, const char *key, const char *v, int boolean)
{
	if (!v)
		return;
	fprintf(f, "          %s: ", key);
	if (boolean && bool_text(v) >= 0)
		fputs(bool_text(v) ? "true" : "false", f);
	else
		q(f, v);
	fputc('\n', f);
}

static int same_value(const struct margo_value *a, const struct margo_value *b)
{
	if (a->n != b->n || a->is_list != b->is_list)
		return 0;
	for (size_t i = 0; i < a->n; i++)
		if (strcmp(a->items[i], b->items[i]))
			return 0;
	return 1;
}

/* The model's applicationId pattern ^[-a-z0-9]{1,200}$. */
static int app_id_ok(const char *s)
{
	size_t n = strlen(s);

	if (!n || n > 200)
		return 0;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') ||
		      *s == '-'))
			return 0;
	return 1;
}

static int dev_id_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') || (c && strchr("._~-", c));
}

int margo_device_id_ok(const char *s)
{
	for (;;) {
		const char *b = s;

		while (dev_id_char(*s))
			s++;
		if (s == b)
			return 0;
		if (!*s)
			return 1;
		if (*s != '/')
			return 0;
		s++;
		if (s[0] == '*' && !s[1])
			return 1;
	}
}

static int check_req(const struct margo_app *app,
		     const struct margo_deploy_req *req, struct err *err)
{
	const char *d = req->device_id;

	if (!app->id.v)
		return err_set(err, ERR_INVALID,
			       "the description has no metadata.id");
	if (!app_id_ok(app->id.v))
		return err_set(err, ERR_INVALID,
			       "metadata.id \"%.70s\" does not match the "
			       "model's ^[-a-z0-9]{1,200}$",
			       app->id.v);
	if (!d || !*d)
		return err_set(err, ERR_INVALID, "a device id is required");
	if (strlen(d) > MARGO_DEVICE_ID_MAX)
		return err_set(err, ERR_INVALID,
			       "device id longer than %d bytes",
			       MARGO_DEVICE_ID_MAX);
	if (!margo_device_id_ok(d))
		return err_set(err, ERR_INVALID,
			       "device id \"%.70s\" is no hierarchical device "
			       "id ([A-Za-z0-9._~-] segments split by /, an "
			       "optional /* at the end)",
			       d);
	if (req->name && !margo_k8s_name_ok(req->name))
		return err_set(err, ERR_INVALID,
			       "name \"%.70s\" is no Kubernetes name "
			       "([a-z0-9-], at most 63, no dash at an end)",
			       req->name);
	if (req->ns && !margo_k8s_name_ok(req->ns))
		return err_set(err, ERR_INVALID,
			       "namespace \"%.70s\" is no Kubernetes name "
			       "([a-z0-9-], at most 63, no dash at an end)",
			       req->ns);
	return 0;
}

/* The default for a name or namespace: the application id, cut to 63 and
 * without a trailing dash. */
static void default_name(char out[64], const char *id)
{
	size_t n;

	snprintf(out, 64, "%s", id);
	n = strlen(out);
	while (n && out[n - 1] == '-')
		out[--n] = 0;
}

static const struct margo_answer *answer_of(const struct margo_deploy_req *req,
					    const char *name)
{
	for (size_t i = 0; i < req->n_answers; i++)
		if (!strcmp(req->answers[i].parameter, name))
			return &req->answers[i];
	return NULL;
}

static void emit_params(FILE *f, const struct margo_config *cfg,
			const struct margo_deploy_req *req,
			struct margo_verrs *errs, struct err *err)
{
	const struct margo_app *app = cfg->app;
	int any = 0;

	for (size_t i = 0; i < app->n_parameters; i++) {
		const struct margo_parameter *p = &app->parameters[i];
		const struct margo_config_setting *s =
		    margo_config_find(cfg, p->name.v);
		const struct margo_answer *a = answer_of(req, p->name.v);
		struct margo_value def, *v = &def;
		int in = 0;

		for (size_t k = 0; k < p->n_targets; k++)
			in |= margo_target_in_profile(&p->targets[k],
						      cfg->profile);
		if (!in)
			continue;
		if (margo_value_default(&def, p, err)) {
			margo_verrs_add(errs, p->name.v, NULL, "value", "%s",
					err->msg);
			continue;
		}
		if (a) {
			if (s && s->immutable &&
			    (p->value.v || p->value_is_list) &&
			    !same_value(&a->value, &def))
				margo_verrs_add(errs, p->name.v,
						s->setting->name.v, "immutable",
						"the setting is immutable; its "
						"value stays the default");
			v = (struct margo_value *)&a->value;
		}
		if (s)
			margo_config_check(errs, s, v);
		if (!any)
			fputs("  parameters:\n", f);
		any = 1;
		fputs("    ", f);
		q(f, p->name.v);
		fputs(":\n", f);
		if (s || v->n || v->is_list)
			emit_value(f, s ? s->schema : NULL, v);
		fputs("      targets:\n", f);
		for (size_t k = 0; k < p->n_targets; k++) {
			const struct margo_target *t = &p->targets[k];

			if (!margo_target_in_profile(t, cfg->profile))
				continue;
			fputs("        - pointer: ", f);
			q(f, t->pointer.v ? t->pointer.v : "");
			fputs("\n          components:\n", f);
			for (size_t m = 0; m < t->n_components; m++) {
				int here = 0;

				for (size_t c = 0;
				     c < cfg->profile->n_components; c++)
					here |=
					    cfg->profile->components[c]
						.name.v &&
					    !strcmp(cfg->profile->components[c]
							.name.v,
						    t->components[m].v);
				if (!here)
					continue;
				fputs("            - ", f);
				q(f, t->components[m].v);
				fputc('\n', f);
			}
		}
		margo_value_release(&def);
	}
	if (!any)
		fputs("  parameters: {}\n", f);
}

int margo_deploy_build(char **yaml_out, size_t *len_out,
		       struct margo_verrs *errs, const struct margo_app *app,
		       const struct margo_deploy_req *req, struct err *err)
{
	struct margo_config cfg;
	char uuid[37], name[64], ns[64];
	const struct margo_profile *pr;
	size_t n_errs = errs->n;
	char *text = NULL;
	size_t len = 0;
	FILE *f;
	int rc;

	*yaml_out = NULL;
	*len_out = 0;
	if ((rc = check_req(app, req, err)))
		return rc;
	if ((rc = margo_config_load(&cfg, app, req->profile, err)))
		return rc;
	for (size_t i = 0; i < req->n_answers; i++) {
		const char *pn = req->answers[i].parameter;
		int known = 0;

		for (size_t k = 0; k < app->n_parameters; k++)
			known |= !strcmp(app->parameters[k].name.v, pn);
		if (!margo_config_find(&cfg, pn))
			margo_verrs_add(errs, pn, NULL, "parameter",
					known ? "no setting of profile %s "
						"configures it"
					      : "no such parameter%s",
					known ? req->profile : "");
	}
	if (req->uuid)
		snprintf(uuid, sizeof(uuid), "%s", req->uuid);
	else if ((rc = margo_uuid_v4(uuid, err)))
		goto out;
	default_name(name, req->name ? req->name : app->id.v);
	default_name(ns, req->ns ? req->ns : app->id.v);
	if (!margo_k8s_name_ok(name) || !margo_k8s_name_ok(ns)) {
		rc = err_set(err, ERR_INVALID,
			     "the %s taken from metadata.id \"%.70s\" is no "
			     "Kubernetes name; give one",
			     margo_k8s_name_ok(name) ? "namespace" : "name",
			     app->id.v);
		goto out;
	}
	pr = cfg.profile;
	f = open_memstream(&text, &len);
	if (!f) {
		rc = err_set(err, ERR_FAIL, "out of memory");
		goto out;
	}
	fputs("apiVersion: " MARGO_DEPLOY_API_VERSION "\n"
	      "kind: ApplicationDeployment\n"
	      "metadata:\n"
	      "  annotations:\n"
	      "    applicationId: ",
	      f);
	q(f, app->id.v);
	fputs("\n    id: ", f);
	q(f, uuid);
	fputs("\n  name: ", f);
	q(f, name);
	fputs("\n  namespace: ", f);
	q(f, ns);
	fputs("\n  deviceId: ", f);
	q(f, req->device_id);
	fputs("\nspec:\n  deploymentProfile:\n    type: ", f);
	q(f, pr->type.v ? pr->type.v : "");
	fputs("\n    components:\n", f);
	for (size_t i = 0; i < pr->n_components; i++) {
		const struct margo_component *c = &pr->components[i];

		fputs("      - name: ", f);
		q(f, c->name.v ? c->name.v : "");
		if (!c->repository.v && !c->revision.v && !c->wait.v &&
		    !c->timeout.v && !c->package_location.v &&
		    !c->key_location.v) {
			fputs("\n        properties: {}\n", f);
			continue; /* properties is required: an empty map */
		}
		fputs("\n        properties:\n", f);
		emit_prop(f, "repository", c->repository.v, 0);
		emit_prop(f, "revision", c->revision.v, 0);
		emit_prop(f, "wait", c->wait.v, 1);
		emit_prop(f, "timeout", c->timeout.v, 0);
		emit_prop(f, "packageLocation", c->package_location.v, 0);
		emit_prop(f, "keyLocation", c->key_location.v, 0);
	}
	emit_params(f, &cfg, req, errs, err);
	if (fclose(f)) {
		free(text);
		text = NULL;
		rc = err_set(err, ERR_FAIL, "out of memory");
		goto out;
	}
	if (errs->n > n_errs) {
		free(text);
		rc =
		    err_set(err, ERR_INVALID, "%zu invalid value%s",
			    errs->n - n_errs, errs->n - n_errs == 1 ? "" : "s");
		goto out;
	}
	*yaml_out = text;
	*len_out = len;
out:
	margo_config_release(&cfg);
	return rc;
}
