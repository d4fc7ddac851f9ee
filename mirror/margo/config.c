/* Configuration model of a Margo description and value validation; see
 * config.h for the rules and their reading. */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mirror/margo/config.h"
#include "oci/regex.h"
#include "oci/vec.h"

void margo_verrs_init(struct margo_verrs *e)
{
	memset(e, 0, sizeof(*e));
}

void margo_verrs_release(struct margo_verrs *e)
{
	free(e->v);
	margo_verrs_init(e);
}

static void one_line(char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			*s = '?';
}

void margo_verrs_add(struct margo_verrs *e, const char *parameter,
		     const char *setting, const char *rule, const char *fmt,
		     ...)
{
	struct margo_verr *v;
	va_list ap;

	if (OCI_VEC_RESERVE(e->v, e->n, e->cap, 1, 0))
		return;
	v = &e->v[e->n++];
	snprintf(v->parameter, sizeof(v->parameter), "%s",
		 parameter ? parameter : "");
	snprintf(v->setting, sizeof(v->setting), "%s", setting ? setting : "");
	snprintf(v->rule, sizeof(v->rule), "%s", rule);
	va_start(ap, fmt);
	vsnprintf(v->message, sizeof(v->message), fmt, ap);
	va_end(ap);
	one_line(v->parameter);
	one_line(v->setting);
	one_line(v->message);
}

void margo_verr_format(char *dst, size_t cap, const struct margo_verr *v)
{
	if (v->setting[0])
		snprintf(dst, cap, "setting \"%s\" (parameter %s): %s: %s",
			 v->setting, v->parameter, v->rule, v->message);
	else
		snprintf(dst, cap, "parameter %s: %s: %s", v->parameter,
			 v->rule, v->message);
}

void margo_value_release(struct margo_value *v)
{
	for (size_t i = 0; i < v->n; i++)
		free(v->items[i]);
	free(v->items);
	memset(v, 0, sizeof(*v));
}

static int value_push(struct margo_value *v, const char *s, size_t len,
		      struct err *err)
{
	char **items;

	if (v->n >= MARGO_VALUE_ITEMS_MAX)
		return err_set(err, ERR_TOO_LARGE, "more than %d items",
			       MARGO_VALUE_ITEMS_MAX);
	if (len > MARGO_VALUE_MAX)
		return err_set(err, ERR_TOO_LARGE, "a value over %d bytes",
			       MARGO_VALUE_MAX);
	items = realloc(v->items, (v->n + 1) * sizeof(*items));
	if (!items)
		return err_set(err, ERR_FAIL, "out of memory");
	v->items = items;
	if (!(v->items[v->n] = strndup(s, len)))
		return err_set(err, ERR_FAIL, "out of memory");
	v->n++;
	return 0;
}

int margo_value_scalar(struct margo_value *out, const char *s, struct err *err)
{
	memset(out, 0, sizeof(*out));
	return value_push(out, s, strlen(s), err);
}

static int json_item(struct margo_value *out, const json_t *j, struct err *err)
{
	char num[64];

	switch (json_typeof(j)) {
	case JSON_STRING:
		if (strlen(json_string_value(j)) != json_string_length(j))
			return err_set(err, ERR_INVALID,
				       "a value holds a NUL character");
		return value_push(out, json_string_value(j),
				  json_string_length(j), err);
	case JSON_INTEGER:
		snprintf(num, sizeof(num), "%" JSON_INTEGER_FORMAT,
			 json_integer_value(j));
		return value_push(out, num, strlen(num), err);
	case JSON_REAL:
		/* the shortest text that reads back as the same double */
		for (int p = 1; p <= 17; p++) {
			snprintf(num, sizeof(num), "%.*g", p,
				 json_real_value(j));
			if (strtod(num, NULL) == json_real_value(j))
				break;
		}
		return value_push(out, num, strlen(num), err);
	case JSON_TRUE: return value_push(out, "true", 4, err);
	case JSON_FALSE: return value_push(out, "false", 5, err);
	default:
		return err_set(err, ERR_INVALID,
			       "a value must be a string, number or boolean");
	}
}

int margo_value_from_json(struct margo_value *out, const json_t *j,
			  struct err *err)
{
	size_t i;
	json_t *it;
	int rc = 0;

	memset(out, 0, sizeof(*out));
	if (json_is_null(j))
		return 0;
	if (!json_is_array(j))
		rc = json_item(out, j, err);
	else {
		out->is_list = 1;
		json_array_foreach (j, i, it) {
			if ((rc = json_item(out, it, err)))
				break;
		}
	}
	if (rc)
		margo_value_release(out);
	return rc;
}

int margo_value_default(struct margo_value *out,
			const struct margo_parameter *p, struct err *err)
{
	memset(out, 0, sizeof(*out));
	if (p->value_is_list) {
		out->is_list = 1;
		for (size_t i = 0; i < p->n_value_items; i++)
			if (value_push(out, p->value_items[i].v,
				       strlen(p->value_items[i].v), err)) {
				margo_value_release(out);
				return err->code;
			}
		return 0;
	}
	if (!p->value.v)
		return 0;
	return value_push(out, p->value.v, strlen(p->value.v), err);
}

static int wants_list(const struct margo_config_setting *s)
{
	return s->schema->array || s->schema->multiselect;
}

int margo_value_from_text(struct margo_value *out,
			  const struct margo_config_setting *s,
			  const char *text, struct err *err)
{
	const char *p = text;

	memset(out, 0, sizeof(*out));
	if (!wants_list(s))
		return value_push(out, text, strlen(text), err);
	if (text[0] == '[') {
		json_error_t je;
		json_t *j = json_loads(text, JSON_DECODE_ANY, &je);
		int rc;

		if (!j || !json_is_array(j)) {
			json_decref(j);
			return err_set(err, ERR_INVALID, "not a JSON array: %s",
				       je.text);
		}
		rc = margo_value_from_json(out, j, err);
		json_decref(j);
		return rc;
	}
	out->is_list = 1;
	if (!*text)
		return 0;
	for (;;) {
		const char *comma = strchr(p, ',');
		size_t len = comma ? (size_t)(comma - p) : strlen(p);

		if (value_push(out, p, len, err)) {
			margo_value_release(out);
			return err->code;
		}
		if (!comma)
			return 0;
		p = comma + 1;
	}
}

/* ---- reading the schema ---- */

static int parse_bool(int *out, const char *s)
{
	if (!strcmp(s, "true") || !strcmp(s, "True") || !strcmp(s, "TRUE"))
		*out = 1;
	else if (!strcmp(s, "false") || !strcmp(s, "False") ||
		 !strcmp(s, "FALSE"))
		*out = 0;
	else
		return -1;
	return 0;
}

static int is_integer_text(const char *s)
{
	if (*s == '-' || *s == '+')
		s++;
	if (!*s)
		return 0;
	for (; *s; s++)
		if (*s < '0' || *s > '9')
			return 0;
	return 1;
}

static int parse_ll(long long *out, const char *s)
{
	char *end;

	if (!is_integer_text(s))
		return -1;
	errno = 0;
	*out = strtoll(s, &end, 10);
	return errno || *end ? -1 : 0;
}

/* A decimal number: [-+]?(D+(.D*)?|.D+)([eE][-+]?D+)?; *precision the
 * digits after the point less the exponent (not below 0). */
static int parse_double(double *out, long long *precision, const char *s)
{
	const char *p = s;
	long long frac = 0, ex = 0;
	int digits = 0;
	char *end;

	if (*p == '-' || *p == '+')
		p++;
	while (*p >= '0' && *p <= '9')
		p++, digits++;
	if (*p == '.') {
		p++;
		while (*p >= '0' && *p <= '9')
			p++, digits++, frac++;
	}
	if (!digits)
		return -1;
	if (*p == 'e' || *p == 'E') {
		int neg = 0, ed = 0;

		p++;
		if (*p == '-' || *p == '+')
			neg = *p++ == '-';
		while (*p >= '0' && *p <= '9') {
			if (ex < 100000)
				ex = ex * 10 + (*p - '0');
			p++, ed++;
		}
		if (!ed)
			return -1;
		if (neg)
			ex = -ex;
	}
	if (*p)
		return -1;
	errno = 0;
	*out = strtod(s, &end);
	if (*end || !isfinite(*out))
		return -1;
	if (precision)
		*precision = frac - ex > 0 ? frac - ex : 0;
	return 0;
}

/* One escape inside a bracket expression, where POSIX keeps a backslash
 * literal: \d \w \s become bracket content, a bracket-special character
 * a collating symbol ([.-.]), others the character itself. NULL for the
 * negated classes, which a bracket cannot hold. */
static const char *bracket_escape(char one[8], char c)
{
	switch (c) {
	case 'd': return "0-9";
	case 'w': return "A-Za-z0-9_";
	case 's': return "[:space:]";
	case 'D':
	case 'W':
	case 'S': return NULL;
	case 't': return "\t";
	case 'n': return "\n";
	case 'r': return "\r";
	case ']':
	case '-':
	case '^':
	case '[': snprintf(one, 8, "[.%c.]", c); return one;
	default:
		one[0] = c;
		one[1] = 0;
		return one;
	}
}

/* POSIX ERE from the pattern: \d \w \s (and capitals) rewritten outside
 * brackets, \d \w \s and escaped characters inside them (a backslash is
 * literal in a POSIX bracket, an escape in the page's JavaScript); (?,
 * lazy quantifiers and backreferences refused. */
static int regex_translate(char *dst, size_t cap, const char *src,
			   struct err *err)
{
	size_t o = 0;
	int in_bracket = 0;

	for (const char *p = src; *p; p++) {
		const char *rep = NULL;
		size_t rlen = 0;
		char one[8] = {0};

		if (in_bracket) {
			const char *e = NULL;

			if (*p == '[' && p[1] && strchr(":.=", p[1]))
				for (e = p + 2;
				     *e && !(e[0] == p[1] && e[1] == ']'); e++)
					;
			if (e && *e) { /* [:alpha:] [.-.] [=a=] verbatim */
				rep = p;
				rlen = (size_t)(e + 2 - p);
				p = e + 1;
			} else if (*p == '\\' && p[1]) {
				p++;
				rep = bracket_escape(one, *p);
				if (!rep)
					return err_set(err, ERR_INVALID,
						       "\\%c inside brackets "
						       "has no POSIX form",
						       *p);
			} else {
				if (*p == ']' && in_bracket > 1)
					in_bracket = 0;
				one[0] = *p;
				rep = one;
			}
			if (in_bracket)
				in_bracket++;
		} else if (*p == '\\' && p[1]) {
			p++;
			switch (*p) {
			case 'd': rep = "[0-9]"; break;
			case 'D': rep = "[^0-9]"; break;
			case 'w': rep = "[A-Za-z0-9_]"; break;
			case 'W': rep = "[^A-Za-z0-9_]"; break;
			case 's': rep = "[[:space:]]"; break;
			case 'S': rep = "[^[:space:]]"; break;
			default:
				if (*p >= '1' && *p <= '9')
					return err_set(err, ERR_INVALID,
						       "backreferences are not "
						       "POSIX ERE");
				one[0] = '\\';
				one[1] = *p;
				rep = one;
			}
		} else if (*p == '(' && p[1] == '?') {
			return err_set(err, ERR_INVALID,
				       "(?...) groups are not POSIX ERE");
		} else if ((*p == '*' || *p == '+' || *p == '?' || *p == '}') &&
			   (p[1] == '?' || (*p != '?' && p[1] == '+'))) {
			return err_set(err, ERR_INVALID,
				       "lazy or possessive quantifiers are not "
				       "POSIX ERE");
		} else {
			one[0] = *p;
			if (*p == '[') {
				in_bracket = 1;
				if (p[1] == '^') {
					one[1] = '^';
					p++;
				}
			}
			rep = one;
		}
		if (!rlen)
			rlen = strlen(rep);
		if (o + rlen + 1 > cap)
			return err_set(err, ERR_TOO_LARGE, "pattern too long");
		memcpy(dst + o, rep, rlen);
		o += rlen;
	}
	dst[o] = 0;
	return 0;
}

static int schema_read(struct margo_schema *sc, const struct margo_rule *r,
		       struct err *err)
{
	const char *dt = r->data_type.v, *n = r->name.v;
	char base[32];
	size_t len;

	memset(sc, 0, sizeof(*sc));
	sc->name = n;
	sc->data_type = dt;
	sc->min_length = sc->max_length = -1;
	sc->min_precision = sc->max_precision = -1;
	if (!dt)
		return err_set(err, ERR_INVALID, "schema %s has no dataType",
			       n);
	len = strlen(dt);
	if (len > 7 && !strncmp(dt, "array[", 6) && dt[len - 1] == ']' &&
	    len - 7 < sizeof(base)) {
		sc->array = 1;
		memcpy(base, dt + 6, len - 7);
		base[len - 7] = 0;
	} else
		snprintf(base, sizeof(base), "%.31s", dt);
	if (!strcmp(base, "string"))
		sc->type = MARGO_DT_STRING;
	else if (!strcmp(base, "integer"))
		sc->type = MARGO_DT_INTEGER;
	else if (!strcmp(base, "double"))
		sc->type = MARGO_DT_DOUBLE;
	else if (!strcmp(base, "boolean"))
		sc->type = MARGO_DT_BOOLEAN;
	else
		return err_set(err, ERR_INVALID,
			       "schema %s: dataType \"%.40s\" is none of "
			       "string, integer, double, boolean, array[...]",
			       n, dt);
	{
		const struct margo_str *f[] = {
		    &r->allow_empty,   &r->min_length,	  &r->max_length,
		    &r->regex_match,   &r->min_value,	  &r->max_value,
		    &r->min_precision, &r->max_precision, &r->multiselect};

		for (size_t i = 0; i < sizeof(f) / sizeof(f[0]); i++)
			if (f[i]->invalid)
				return err_set(err, ERR_INVALID,
					       "schema %s: a rule at line %zu "
					       "is not a single value",
					       n, f[i]->line);
	}
#define BOOL_RULE(field, key)                                                  \
	if (r->field.v && parse_bool(&sc->field, r->field.v))                  \
		return err_set(err, ERR_INVALID,                               \
			       "schema %s: " key " is not a boolean", n);
	BOOL_RULE(allow_empty, "allowEmpty")
	BOOL_RULE(multiselect, "multiselect")
#define INT_RULE(field, key)                                                   \
	if (r->field.v && (parse_ll(&sc->field, r->field.v) || sc->field < 0)) \
		return err_set(                                                \
		    err, ERR_INVALID,                                          \
		    "schema %s: " key " is not a non-negative integer", n);
	INT_RULE(min_length, "minLength")
	INT_RULE(max_length, "maxLength")
	INT_RULE(min_precision, "minPrecision")
	INT_RULE(max_precision, "maxPrecision")
	if (r->min_value.v) {
		sc->has_min = 1;
		if (sc->type == MARGO_DT_INTEGER
			? parse_ll(&sc->min_i, r->min_value.v)
			: parse_double(&sc->min_d, NULL, r->min_value.v))
			return err_set(err, ERR_INVALID,
				       "schema %s: minValue \"%.40s\" is not "
				       "a number of its dataType",
				       n, r->min_value.v);
	}
	if (r->max_value.v) {
		sc->has_max = 1;
		if (sc->type == MARGO_DT_INTEGER
			? parse_ll(&sc->max_i, r->max_value.v)
			: parse_double(&sc->max_d, NULL, r->max_value.v))
			return err_set(err, ERR_INVALID,
				       "schema %s: maxValue \"%.40s\" is not "
				       "a number of its dataType",
				       n, r->max_value.v);
	}
	if (r->regex_match.v) {
		char ere[8 * MARGO_REGEX_MAX];
		int rc;

		if (strlen(r->regex_match.v) > MARGO_REGEX_MAX)
			return err_set(err, ERR_TOO_LARGE,
				       "schema %s: regexMatch over %d bytes", n,
				       MARGO_REGEX_MAX);
		if (oci_regex_too_big(r->regex_match.v, MARGO_REPEAT_MAX,
				      MARGO_REPEAT_PRODUCT_MAX,
				      OCI_REGEX_NO_NESTING))
			return err_set(err, ERR_INVALID,
				       "schema %s: regexMatch \"%.80s\" too "
				       "costly for POSIX regcomp (a quantified "
				       "group holding a quantifier, or a count "
				       "over %d)",
				       n, r->regex_match.v, MARGO_REPEAT_MAX);
		if (regex_translate(ere, sizeof(ere), r->regex_match.v, err))
			return err_set(err, ERR_INVALID,
				       "schema %s: regexMatch: %s", n,
				       err->msg);
		rc = regcomp(&sc->re, ere, REG_EXTENDED | REG_NOSUB);
		if (rc) {
			char m[128];

			regerror(rc, &sc->re, m, sizeof(m));
			return err_set(err, ERR_INVALID,
				       "schema %s: regexMatch does not "
				       "compile as POSIX ERE: %s",
				       n, m);
		}
		sc->has_re = 1;
		sc->regex = r->regex_match.v;
	}
	if (r->has_options) {
		sc->options_buf = calloc(r->n_options + 1, sizeof(char *));
		if (!sc->options_buf)
			return err_set(err, ERR_FAIL, "out of memory");
		for (size_t i = 0; i < r->n_options; i++)
			sc->options_buf[i] = r->options[i].v;
		sc->options = sc->options_buf;
		sc->n_options = r->n_options;
	}
	return 0;
}

static void schema_release(struct margo_schema *sc)
{
	if (sc->has_re)
		regfree(&sc->re);
	free(sc->options_buf);
	memset(sc, 0, sizeof(*sc));
}

int margo_target_in_profile(const struct margo_target *t,
			    const struct margo_profile *p)
{
	for (size_t i = 0; i < t->n_components; i++)
		for (size_t j = 0; j < p->n_components; j++)
			if (p->components[j].name.v &&
			    !strcmp(t->components[i].v,
				    p->components[j].name.v))
				return 1;
	return 0;
}

static int param_in_profile(const struct margo_parameter *pa,
			    const struct margo_profile *p)
{
	for (size_t i = 0; i < pa->n_targets; i++)
		if (margo_target_in_profile(&pa->targets[i], p))
			return 1;
	return 0;
}

int margo_config_load(struct margo_config *out, const struct margo_app *app,
		      const char *profile_id, struct err *err)
{
	size_t n = 0;

	memset(out, 0, sizeof(*out));
	out->app = app;
	for (size_t i = 0; i < app->n_profiles; i++)
		if (app->profiles[i].id.v &&
		    !strcmp(app->profiles[i].id.v, profile_id))
			out->profile = &app->profiles[i];
	if (!out->profile)
		return err_set(err, ERR_NOT_FOUND,
			       "no deployment profile \"%.100s\"", profile_id);
	if (app->n_rules) {
		out->schemas = calloc(app->n_rules, sizeof(*out->schemas));
		if (!out->schemas)
			return err_set(err, ERR_FAIL, "out of memory");
	}
	for (size_t i = 0; i < app->n_rules; i++) {
		if (!app->rules[i].name.v)
			continue;
		if (schema_read(&out->schemas[out->n_schemas], &app->rules[i],
				err)) {
			schema_release(&out->schemas[out->n_schemas]);
			goto fail;
		}
		out->n_schemas++;
	}
	for (size_t i = 0; i < app->n_sections; i++)
		n += app->sections[i].n_settings;
	if (n) {
		out->settings = calloc(n, sizeof(*out->settings));
		if (!out->settings) {
			err_set(err, ERR_FAIL, "out of memory");
			goto fail;
		}
	}
	for (size_t i = 0; i < app->n_sections; i++) {
		const struct margo_section *sec = &app->sections[i];

		for (size_t j = 0; j < sec->n_settings; j++) {
			const struct margo_setting *g = &sec->settings[j];
			struct margo_config_setting *s =
			    &out->settings[out->n_settings];

			if (!g->parameter.v) {
				err_set(err, ERR_INVALID,
					"a setting of section %.60s names no "
					"parameter",
					sec->name.v ? sec->name.v : "?");
				goto fail;
			}
			s->section = sec;
			s->setting = g;
			for (size_t k = 0; k < app->n_parameters; k++)
				if (!strcmp(app->parameters[k].name.v,
					    g->parameter.v))
					s->param = &app->parameters[k];
			for (size_t k = 0; g->schema.v && k < out->n_schemas;
			     k++)
				if (!strcmp(out->schemas[k].name, g->schema.v))
					s->schema = &out->schemas[k];
			if (!s->param) {
				err_set(err, ERR_INVALID,
					"setting for %.60s: no such parameter",
					g->parameter.v);
				goto fail;
			}
			if (!s->schema) {
				err_set(err, ERR_INVALID,
					"setting for %.60s: no schema "
					"\"%.60s\"",
					g->parameter.v,
					g->schema.v ? g->schema.v : "");
				goto fail;
			}
			if (g->immutable.v &&
			    parse_bool(&s->immutable, g->immutable.v)) {
				err_set(err, ERR_INVALID,
					"setting for %.60s: immutable is not "
					"a boolean",
					g->parameter.v);
				goto fail;
			}
			if (margo_config_find(out, g->parameter.v)) {
				err_set(err, ERR_INVALID,
					"parameter %.60s has two settings",
					g->parameter.v);
				goto fail;
			}
			if (param_in_profile(s->param, out->profile))
				out->n_settings++;
			else
				memset(s, 0, sizeof(*s));
		}
	}
	return 0;
fail:
	margo_config_release(out);
	return err->code;
}

void margo_config_release(struct margo_config *c)
{
	for (size_t i = 0; i < c->n_schemas; i++)
		schema_release(&c->schemas[i]);
	free(c->schemas);
	free(c->settings);
	memset(c, 0, sizeof(*c));
}

const struct margo_config_setting *
margo_config_find(const struct margo_config *c, const char *name)
{
	for (size_t i = 0; i < c->n_settings; i++)
		if (!strcmp(c->settings[i].param->name.v, name))
			return &c->settings[i];
	return NULL;
}

/* ---- checking a value ---- */

/* Code points of valid UTF-8 s; -1 when s is not UTF-8. */
static long long utf8_len(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	long long n = 0;

	while (*p) {
		int k = *p < 0x80			    ? 0
			: (*p & 0xe0) == 0xc0 && *p >= 0xc2 ? 1
			: (*p & 0xf0) == 0xe0		    ? 2
			: (*p & 0xf8) == 0xf0 && *p <= 0xf4 ? 3
							    : -1;

		if (k < 0)
			return -1;
		/* no overlongs (E0 80-9F, F0 80-8F), surrogates (ED A0-BF)
		 * or code points past U+10FFFF (F4 90-BF) */
		if ((p[0] == 0xe0 && p[1] < 0xa0) ||
		    (p[0] == 0xed && p[1] > 0x9f) ||
		    (p[0] == 0xf0 && p[1] < 0x90) ||
		    (p[0] == 0xf4 && p[1] > 0x8f))
			return -1;
		p++;
		for (int i = 0; i < k; i++, p++)
			if ((*p & 0xc0) != 0x80)
				return -1;
		n++;
	}
	return n;
}

#define ADD(rule, ...)                                                         \
	margo_verrs_add(errs, pname, sname, rule, __VA_ARGS__), added++

static size_t check_item(struct margo_verrs *errs,
			 const struct margo_config_setting *s, const char *v,
			 const char *what)
{
	const struct margo_schema *sc = s->schema;
	const char *pname = s->param->name.v, *sname = s->setting->name.v;
	size_t added = 0;
	long long len = utf8_len(v), prec = 0, li = 0;
	double d = 0;
	int b;

	if (len < 0)
		return ADD("dataType", "%s is not UTF-8 text", what);
	switch (sc->type) {
	case MARGO_DT_STRING:
		if (sc->min_length >= 0 && len < sc->min_length)
			ADD("minLength",
			    "%s has %lld characters, fewer than %lld", what,
			    len, sc->min_length);
		if (sc->max_length >= 0 && len > sc->max_length)
			ADD("maxLength",
			    "%s has %lld characters, more than %lld", what, len,
			    sc->max_length);
		if (sc->has_re && regexec(&sc->re, v, 0, NULL, 0))
			ADD("regexMatch", "%s does not match %.120s", what,
			    sc->regex);
		break;
	case MARGO_DT_INTEGER:
		if (parse_ll(&li, v))
			return ADD("dataType", "%s \"%.40s\" is not an integer",
				   what, v);
		if (sc->has_min && li < sc->min_i)
			ADD("minValue", "%s %lld is below %lld", what, li,
			    sc->min_i);
		if (sc->has_max && li > sc->max_i)
			ADD("maxValue", "%s %lld is above %lld", what, li,
			    sc->max_i);
		break;
	case MARGO_DT_DOUBLE:
		if (parse_double(&d, &prec, v))
			return ADD("dataType", "%s \"%.40s\" is not a number",
				   what, v);
		if (sc->has_min && d < sc->min_d)
			ADD("minValue", "%s %.40s is below %.17g", what, v,
			    sc->min_d);
		if (sc->has_max && d > sc->max_d)
			ADD("maxValue", "%s %.40s is above %.17g", what, v,
			    sc->max_d);
		if (sc->min_precision >= 0 && prec < sc->min_precision)
			ADD("minPrecision",
			    "%s has %lld digits after the point, fewer than "
			    "%lld",
			    what, prec, sc->min_precision);
		if (sc->max_precision >= 0 && prec > sc->max_precision)
			ADD("maxPrecision",
			    "%s has %lld digits after the point, more than "
			    "%lld",
			    what, prec, sc->max_precision);
		break;
	case MARGO_DT_BOOLEAN:
		if (parse_bool(&b, v))
			return ADD("dataType",
				   "%s \"%.40s\" is not true or false", what,
				   v);
		break;
	}
	if (sc->options) {
		int found = 0;

		for (size_t i = 0; !found && i < sc->n_options; i++) {
			double a, o;

			if (!strcmp(sc->options[i], v))
				found = 1;
			else if ((sc->type == MARGO_DT_INTEGER ||
				  sc->type == MARGO_DT_DOUBLE) &&
				 !parse_double(&a, NULL, v) &&
				 !parse_double(&o, NULL, sc->options[i]))
				found = a == o;
		}
		if (!found)
			ADD("options", "%s \"%.60s\" is not one of the options",
			    what, v);
	}
	return added;
}

size_t margo_config_check(struct margo_verrs *errs,
			  const struct margo_config_setting *s,
			  const struct margo_value *v)
{
	const struct margo_schema *sc = s->schema;
	const char *pname = s->param->name.v, *sname = s->setting->name.v;
	size_t added = 0;

	if (v->n == 0 || (v->n == 1 && !v->is_list && !v->items[0][0])) {
		if (!sc->allow_empty)
			ADD("allowEmpty", "a value is required");
		return added;
	}
	if (v->is_list && !sc->array && !sc->multiselect)
		return ADD(sc->options ? "multiselect" : "dataType",
			   "one value expected, not a list");
	if (!v->is_list && sc->array)
		return ADD("dataType", "a list expected (%s)", sc->data_type);
	for (size_t i = 0; i < v->n; i++) {
		char what[32];

		if (v->is_list)
			snprintf(what, sizeof(what), "item %zu", i + 1);
		else
			snprintf(what, sizeof(what), "the value");
		added += check_item(errs, s, v->items[i], what);
	}
	return added;
}

#undef ADD

/* ---- the JSON for the page ---- */

static json_t *str_or_null(const char *s)
{
	return s ? json_string(s) : json_null();
}

static json_t *rules_json(const struct margo_schema *sc)
{
	json_t *r = json_object(), *opts = json_null();

	json_object_set_new(r, "allowEmpty", json_boolean(sc->allow_empty));
	json_object_set_new(r, "minLength",
			    sc->min_length >= 0 ? json_integer(sc->min_length)
						: json_null());
	json_object_set_new(r, "maxLength",
			    sc->max_length >= 0 ? json_integer(sc->max_length)
						: json_null());
	json_object_set_new(r, "regexMatch", str_or_null(sc->regex));
	if (sc->type == MARGO_DT_INTEGER) {
		json_object_set_new(r, "minValue",
				    sc->has_min ? json_integer(sc->min_i)
						: json_null());
		json_object_set_new(r, "maxValue",
				    sc->has_max ? json_integer(sc->max_i)
						: json_null());
	} else {
		json_object_set_new(r, "minValue",
				    sc->has_min ? json_real(sc->min_d)
						: json_null());
		json_object_set_new(r, "maxValue",
				    sc->has_max ? json_real(sc->max_d)
						: json_null());
	}
	json_object_set_new(r, "minPrecision",
			    sc->min_precision >= 0
				? json_integer(sc->min_precision)
				: json_null());
	json_object_set_new(r, "maxPrecision",
			    sc->max_precision >= 0
				? json_integer(sc->max_precision)
				: json_null());
	if (sc->options) {
		opts = json_array();
		for (size_t i = 0; i < sc->n_options; i++)
			json_array_append_new(opts,
					      json_string(sc->options[i]));
	}
	json_object_set_new(r, "options", opts);
	json_object_set_new(r, "multiselect", json_boolean(sc->multiselect));
	return r;
}

json_t *margo_config_json(const struct margo_config *c)
{
	json_t *root = json_object(), *sections = json_array();
	const struct margo_section *cur = NULL;
	json_t *settings = NULL;

	json_object_set_new(root, "profile", json_string(c->profile->id.v));
	for (size_t i = 0; i < c->n_settings; i++) {
		const struct margo_config_setting *s = &c->settings[i];
		const struct margo_parameter *p = s->param;
		json_t *o, *targets = json_array(), *def = json_null();

		if (s->section != cur) {
			json_t *sec = json_object();

			cur = s->section;
			settings = json_array();
			json_object_set_new(sec, "name",
					    str_or_null(cur->name.v));
			json_object_set_new(sec, "description", json_null());
			json_object_set_new(sec, "settings", settings);
			json_array_append_new(sections, sec);
		}
		if (p->value_is_list) {
			def = json_array();
			for (size_t k = 0; k < p->n_value_items; k++)
				json_array_append_new(
				    def, json_string(p->value_items[k].v));
		} else if (p->value.v)
			def = json_string(p->value.v);
		for (size_t k = 0; k < p->n_targets; k++) {
			const struct margo_target *t = &p->targets[k];
			json_t *comps = json_array();

			if (!margo_target_in_profile(t, c->profile))
				continue;
			for (size_t m = 0; m < t->n_components; m++)
				json_array_append_new(
				    comps, json_string(t->components[m].v));
			json_array_append_new(
			    targets, json_pack("{s:o,s:o}", "pointer",
					       str_or_null(t->pointer.v),
					       "components", comps));
		}
		o = json_pack(
		    "{s:s,s:o,s:o,s:b,s:s,s:s,s:o,s:o,s:o}", "parameter",
		    p->name.v, "name", str_or_null(s->setting->name.v),
		    "description", str_or_null(s->setting->description.v),
		    "immutable", s->immutable, "schema", s->schema->name,
		    "dataType", s->schema->data_type, "rules",
		    rules_json(s->schema), "default", def, "targets", targets);
		json_array_append_new(settings, o);
	}
	json_object_set_new(root, "sections", sections);
	return root;
}
