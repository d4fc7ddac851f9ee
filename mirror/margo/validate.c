/* Margo ApplicationDescription: the rules of MARGO.md applied to a parsed
 * struct margo_app, and the read of a margo.yaml or package directory from
 * disk. The validation half of description.h. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mirror/file.h"
#include "mirror/margo/description.h"
#include "oci/buf.h"
#include "oci/ref.h"
#include "oci/semver.h"

#define SHOWN_MAX 120

/* A quoted-safe copy of an untrusted value, for messages. */
static const char *shown(char *dst, size_t cap, const char *s)
{
	err_shown(dst, cap, s, strlen(s));
	return dst;
}

static void add_at(struct margo_problems *p, const struct margo_str *s,
		   size_t line, size_t col, enum margo_severity sev,
		   const char *msg)
{
	margo_problems_add(p, s && s->line ? s->line : line,
			   s && s->line ? s->column : col, sev, "%s", msg);
}

/* Missing or empty required scalar: an error at the field (when it was
 * there but empty) or at the mapping that should hold it. */
static int require(struct margo_problems *p, const struct margo_str *s,
		   size_t line, size_t col, const char *field)
{
	char msg[MARGO_MSG_MAX];

	if (s->v && *s->v)
		return 1;
	if (s->invalid)
		return 0;
	snprintf(msg, sizeof(msg), "missing required field \"%s\"", field);
	add_at(p, s, line, col, MARGO_ERROR, msg);
	return 0;
}

static int id_valid(const char *s)
{
	size_t n = strlen(s);

	return n >= 1 && n <= 200 &&
	       strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789-") == n;
}

static int component_name_valid(const char *s)
{
	size_t n = strlen(s);

	return n >= 1 &&
	       strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789-") == n;
}

static void check_repository(struct margo_problems *p,
			     const struct margo_str *s)
{
	char v[SHOWN_MAX];
	const char *rest, *slash;
	struct oci_ref ref;
	struct err e;
	size_t hl;

	if (strncmp(s->v, "oci://", 6)) {
		margo_problems_add(p, s->line, s->column, MARGO_ERROR,
				   "repository \"%s\" must be oci://HOST/PATH",
				   shown(v, sizeof(v), s->v));
		return;
	}
	rest = s->v + 6;
	slash = strchr(rest, '/');
	hl = slash ? (size_t)(slash - rest) : 0;
	if (!slash || !hl ||
	    (!memchr(rest, '.', hl) && !memchr(rest, ':', hl) &&
	     !(hl == 9 && !memcmp(rest, "localhost", 9)))) {
		margo_problems_add(p, s->line, s->column, MARGO_ERROR,
				   "repository \"%s\" must be oci://HOST/PATH "
				   "with a registry host",
				   shown(v, sizeof(v), s->v));
		return;
	}
	err_clear(&e);
	if (oci_ref_parse_repo(&ref, rest, &e))
		margo_problems_add(p, s->line, s->column, MARGO_ERROR,
				   "repository \"%s\" is not a valid "
				   "reference: %s",
				   shown(v, sizeof(v), s->v), e.msg);
}

static void check_revision(struct margo_problems *p, const struct margo_str *s)
{
	char v[SHOWN_MAX];
	struct semver sv;

	if (s->v[0] == 'v' || s->v[0] == 'V' || semver_parse(&sv, s->v))
		margo_problems_add(p, s->line, s->column, MARGO_ERROR,
				   "revision \"%s\" must be a SemVer 2.0 "
				   "version without a leading v",
				   shown(v, sizeof(v), s->v));
}

static void check_profile(const struct margo_app *a,
			  const struct margo_profile *pr,
			  struct margo_problems *p)
{
	char v[SHOWN_MAX];

	if (require(p, &pr->type, pr->line, pr->column,
		    "deploymentProfiles[].type")) {
		const char *t = pr->type.v;

		if (!strcmp(t, "helm.v3"))
			margo_problems_add(p, pr->type.line, pr->type.column,
					   MARGO_WARNING,
					   "profile type \"helm.v3\" is from "
					   "an older draft; use \"helm\"");
		else if (strcmp(t, "helm") && strcmp(t, "compose"))
			margo_problems_add(p, pr->type.line, pr->type.column,
					   MARGO_WARNING,
					   "custom profile type \"%s\" "
					   "(expected helm or compose)",
					   shown(v, sizeof(v), t));
	}
	if (require(p, &pr->id, pr->line, pr->column,
		    "deploymentProfiles[].id")) {
		for (const struct margo_profile *q = a->profiles; q < pr; q++)
			if (q->id.v && !strcmp(q->id.v, pr->id.v)) {
				margo_problems_add(
				    p, pr->id.line, pr->id.column, MARGO_ERROR,
				    "duplicate profile id \"%s\"",
				    shown(v, sizeof(v), pr->id.v));
				break;
			}
	}
	if (!pr->n_components)
		margo_problems_add(p, pr->line, pr->column, MARGO_ERROR,
				   "missing required field "
				   "\"deploymentProfiles[].components\"");
	for (size_t i = 0; i < pr->n_components; i++) {
		const struct margo_component *m = &pr->components[i];

		if (require(p, &m->name, m->line, m->column,
			    "components[].name")) {
			if (!component_name_valid(m->name.v))
				margo_problems_add(
				    p, m->name.line, m->name.column,
				    MARGO_ERROR,
				    "component name \"%s\" must be lowercase "
				    "letters, digits and dashes",
				    shown(v, sizeof(v), m->name.v));
			for (size_t j = 0; j < i; j++)
				if (pr->components[j].name.v &&
				    !strcmp(pr->components[j].name.v,
					    m->name.v)) {
					margo_problems_add(
					    p, m->name.line, m->name.column,
					    MARGO_ERROR,
					    "duplicate component name \"%s\" "
					    "in profile",
					    shown(v, sizeof(v), m->name.v));
					break;
				}
		}
		if (!m->has_properties) {
			add_at(p, &m->properties, m->line, m->column,
			       MARGO_ERROR,
			       "missing required field "
			       "\"components[].properties\"");
			continue;
		}
		if (require(p, &m->repository, m->line, m->column,
			    "properties.repository"))
			check_repository(p, &m->repository);
		if (require(p, &m->revision, m->line, m->column,
			    "properties.revision"))
			check_revision(p, &m->revision);
	}
}

static int has_component(const struct margo_app *a, const char *name)
{
	for (size_t i = 0; i < a->n_profiles; i++)
		for (size_t j = 0; j < a->profiles[i].n_components; j++)
			if (a->profiles[i].components[j].name.v &&
			    !strcmp(a->profiles[i].components[j].name.v, name))
				return 1;
	return 0;
}

static void check_resource(const struct margo_str *s, const char *field,
			   const char *dir, struct margo_problems *p)
{
	char v[SHOWN_MAX];
	const char *f = s->v, *seg;
	struct stat st;
	struct buf path;

	if (!f)
		return;
	if (!*f || f[0] == '/') {
		margo_problems_add(p, s->line, s->column, MARGO_ERROR,
				   "%s \"%s\" must be a relative path in the "
				   "package",
				   field, shown(v, sizeof(v), f));
		return;
	}
	for (seg = f; seg; seg = strchr(seg, '/'), seg = seg ? seg + 1 : NULL)
		if (!strncmp(seg, "..", 2) && (seg[2] == '/' || !seg[2])) {
			margo_problems_add(p, s->line, s->column, MARGO_ERROR,
					   "%s \"%s\" must not leave the "
					   "package (..)",
					   field, shown(v, sizeof(v), f));
			return;
		}
	if (!dir)
		return;
	buf_init(&path, 8192);
	if (buf_printf(&path, "%s/%s", dir, f)) {
		margo_problems_add(p, s->line, s->column, MARGO_ERROR,
				   "%s \"%s\": path too long", field,
				   shown(v, sizeof(v), f));
		return;
	}
	if (stat(path.data, &st))
		margo_problems_add(p, s->line, s->column, MARGO_ERROR,
				   "%s \"%s\" not found in the package: %s",
				   field, shown(v, sizeof(v), f),
				   strerror(errno));
	else if (!S_ISREG(st.st_mode))
		margo_problems_add(p, s->line, s->column, MARGO_ERROR,
				   "%s \"%s\" is not a regular file", field,
				   shown(v, sizeof(v), f));
	buf_release(&path);
}

static void check_config(const struct margo_app *a, struct margo_problems *p)
{
	char v[SHOWN_MAX];

	for (size_t i = 0; i < a->n_parameters; i++) {
		const struct margo_parameter *pa = &a->parameters[i];

		for (size_t j = 0; j < pa->n_targets; j++) {
			const struct margo_target *t = &pa->targets[j];

			require(p, &t->pointer, t->line, t->column,
				"targets[].pointer");
			if (!t->n_components)
				margo_problems_add(p, t->line, t->column,
						   MARGO_ERROR,
						   "missing required field "
						   "\"targets[].components\"");
			for (size_t k = 0; k < t->n_components; k++)
				if (!has_component(a, t->components[k].v))
					margo_problems_add(
					    p, t->components[k].line,
					    t->components[k].column,
					    MARGO_ERROR,
					    "parameter targets unknown "
					    "component \"%s\"",
					    shown(v, sizeof(v),
						  t->components[k].v));
		}
	}
	for (size_t i = 0; i < a->n_rules; i++) {
		const struct margo_rule *r = &a->rules[i];

		require(p, &r->name, r->line, r->column, "schema[].name");
		require(p, &r->data_type, r->line, r->column,
			"schema[].dataType");
	}
	for (size_t i = 0; i < a->n_sections; i++) {
		const struct margo_section *s = &a->sections[i];

		require(p, &s->name, s->name.line, s->name.column,
			"sections[].name");
		for (size_t j = 0; j < s->n_settings; j++) {
			const struct margo_setting *g = &s->settings[j];
			size_t k;

			if (require(p, &g->parameter, g->line, g->column,
				    "settings[].parameter")) {
				for (k = 0; k < a->n_parameters; k++)
					if (!strcmp(a->parameters[k].name.v,
						    g->parameter.v))
						break;
				if (k == a->n_parameters)
					margo_problems_add(
					    p, g->parameter.line,
					    g->parameter.column, MARGO_ERROR,
					    "setting names unknown parameter "
					    "\"%s\"",
					    shown(v, sizeof(v),
						  g->parameter.v));
			}
			require(p, &g->name, g->line, g->column,
				"settings[].name");
			if (require(p, &g->schema, g->line, g->column,
				    "settings[].schema")) {
				for (k = 0; k < a->n_rules; k++)
					if (a->rules[k].name.v &&
					    !strcmp(a->rules[k].name.v,
						    g->schema.v))
						break;
				if (k == a->n_rules)
					margo_problems_add(
					    p, g->schema.line, g->schema.column,
					    MARGO_ERROR,
					    "setting names unknown schema rule "
					    "\"%s\"",
					    shown(v, sizeof(v), g->schema.v));
			}
		}
	}
}

void margo_app_validate(struct margo_problems *p, const struct margo_app *a,
			const char *dir)
{
	char v[SHOWN_MAX];
	size_t ml = a->has_metadata ? a->metadata_line : a->line;
	size_t mc = a->has_metadata ? a->metadata_column : a->column;
	size_t cl = a->has_catalog ? a->catalog_line : ml;
	size_t cc = a->has_catalog ? a->catalog_column : mc;

	if (!a->has_doc || !a->line || a->incomplete)
		return; /* not (all) read; the parser said why */
	require(p, &a->api_version, a->line, a->column, "apiVersion");
	if (require(p, &a->kind, a->line, a->column, "kind") &&
	    strcmp(a->kind.v, "ApplicationDescription"))
		margo_problems_add(p, a->kind.line, a->kind.column, MARGO_ERROR,
				   "kind must be \"ApplicationDescription\", "
				   "not \"%s\"",
				   shown(v, sizeof(v), a->kind.v));
	if (require(p, &a->id, a->line, a->column, "id") && !id_valid(a->id.v))
		margo_problems_add(p, a->id.line, a->id.column, MARGO_ERROR,
				   "id \"%s\" must match ^[a-z0-9-]{1,200}$",
				   shown(v, sizeof(v), a->id.v));
	if (!a->has_metadata)
		margo_problems_add(p, a->line, a->column, MARGO_ERROR,
				   "missing required field \"metadata\"");
	require(p, &a->name, ml, mc, "metadata.name");
	require(p, &a->version, ml, mc, "metadata.version");
	if (!a->n_organizations)
		margo_problems_add(p, cl, cc, MARGO_ERROR,
				   "missing required field "
				   "\"metadata.catalog.organization\"");
	for (size_t i = 0; i < a->n_organizations; i++)
		require(p, &a->organizations[i].name,
			a->organizations[i].name.line,
			a->organizations[i].name.column,
			"metadata.catalog.organization[].name");
	check_resource(&a->description_file, "descriptionFile", dir, p);
	check_resource(&a->icon, "icon", dir, p);
	check_resource(&a->license_file, "licenseFile", dir, p);
	check_resource(&a->release_notes, "releaseNotes", dir, p);
	if (!a->n_profiles)
		margo_problems_add(p, a->line, a->column, MARGO_ERROR,
				   "missing required field "
				   "\"deploymentProfiles\"");
	for (size_t i = 0; i < a->n_profiles; i++)
		check_profile(a, &a->profiles[i], p);
	check_config(a, p);
}

int margo_check_path(struct margo_problems *probs, char **file_out,
		     const char *path, struct err *err)
{
	struct margo_app app;
	struct stat st;
	struct buf file;
	const char *dir = NULL;
	char *text = NULL;
	size_t len;
	int rc;

	*file_out = NULL;
	buf_init(&file, 8192);
	if (stat(path, &st)) {
		rc = err_set(err, errno == ENOENT ? ERR_NOT_FOUND : ERR_FAIL,
			     "%s: %s", path, strerror(errno));
		goto out;
	}
	if (S_ISDIR(st.st_mode)) {
		dir = path;
		rc = buf_printf(&file, "%s%smargo.yaml", path,
				path[0] && path[strlen(path) - 1] == '/' ? ""
									 : "/");
	} else {
		rc = buf_puts(&file, path);
	}
	if (rc) {
		err_set(err, rc, "%s: path too long", path);
		goto out;
	}
	if ((rc = file_read_capped(&text, &len, file.data, MARGO_INPUT_MAX,
				   err)))
		goto out;
	if ((rc = margo_app_parse(&app, probs, text, len, err))) {
		err_wrap(err, "%s: ", file.data);
		margo_app_release(&app);
		goto out;
	}
	margo_app_validate(probs, &app, dir);
	margo_app_release(&app);
	*file_out = buf_detach(&file, NULL);
out:
	free(text);
	buf_release(&file);
	return rc;
}
