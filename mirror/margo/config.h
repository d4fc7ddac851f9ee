/* The configuration model of a Margo ApplicationDescription, read for one
 * deployment profile, and the validation of the values a user gives.
 *
 * margo_config_load resolves configuration.sections[].settings against
 * parameters and configuration.schema, compiling each regexMatch once.
 * margo_config_check applies every rule of the setting's schema (the
 * model's Text/Boolean/NumericInteger/NumericDouble/SelectValidationSchema
 * attributes) to one value and appends each failure to a margo_verrs:
 *
 *   allowEmpty    an empty value ("" or an empty list) is refused unless
 *                 allowEmpty is true (the attribute's name; the model's
 *                 prose says the inverse, read as a typo)
 *   dataType      string, integer, double, boolean, array[T] of those;
 *                 integer: [-+]?[0-9]+ in 64 bits; double: a decimal
 *                 number, exponent allowed, no inf/nan; boolean: true or
 *                 false (True/TRUE/False/FALSE accepted, written lower)
 *   minLength, maxLength   characters (UTF-8 code points), both inclusive
 *   regexMatch    POSIX ERE (regcomp REG_EXTENDED), searched anywhere in
 *                 the value as JSON Schema's pattern is (anchor with ^$);
 *                 \d \w \s \D \W \S outside brackets are rewritten to
 *                 POSIX classes; (?...) groups, lazy quantifiers and
 *                 backreferences are not accepted; pattern at most
 *                 MARGO_REGEX_MAX bytes
 *   minValue, maxValue     inclusive, as integers (integer) or doubles
 *   minPrecision, maxPrecision   digits after the decimal point as
 *                 written ("1.50" has 2; "1.5e-1" has 2)
 *   options       the value (each item when multiselect) is one of them
 *                 (numbers compare by value)
 *   multiselect   a list of options is accepted only when true
 *   arrays        each item is checked against the item type and rules
 *   immutable     a setting with a default and immutable: true cannot be
 *                 given another value
 * Values are at most MARGO_VALUE_MAX bytes, MARGO_VALUE_ITEMS_MAX items.
 */
#ifndef MIRROR_MARGO_CONFIG_H
#define MIRROR_MARGO_CONFIG_H

#include <jansson.h>
#include <regex.h>
#include <stddef.h>

#include "mirror/margo/description.h"
#include "oci/err.h"

#define MARGO_REGEX_MAX 1024
/* regexMatch limits before regcomp (oci/regex.h): each {n,m} count, and
 * their product (a + counting 2); nesting a quantifier inside a quantified
 * group is refused too. */
#define MARGO_REPEAT_MAX 100
#define MARGO_REPEAT_PRODUCT_MAX 10000
#define MARGO_VALUE_MAX 4096
#define MARGO_VALUE_ITEMS_MAX 256

enum margo_dtype {
	MARGO_DT_STRING = 0,
	MARGO_DT_INTEGER,
	MARGO_DT_DOUBLE,
	MARGO_DT_BOOLEAN,
};

/* One configuration.schema entry, read and checked. */
struct margo_schema {
	const char *name, *data_type; /* as written */
	enum margo_dtype type;
	int array;
	int allow_empty, multiselect;
	long long min_length, max_length; /* -1: none */
	const char *regex;		  /* as written, NULL: none */
	regex_t re;
	int has_re;
	int has_min, has_max;
	long long min_i, max_i;			/* integer */
	double min_d, max_d;			/* double */
	long long min_precision, max_precision; /* -1: none */
	const char *const *options;		/* NULL when none */
	size_t n_options;
	const char **options_buf;
};

/* A value a user gives: one scalar (is_list 0, n 1), a list, or none
 * (is_list 0, n 0). Items are owned (margo_value_release). */
struct margo_value {
	int is_list;
	size_t n;
	char **items;
};

struct margo_config_setting {
	const struct margo_section *section;
	const struct margo_setting *setting;
	const struct margo_parameter *param;
	const struct margo_schema *schema;
	int immutable;
};

struct margo_config {
	const struct margo_app *app;
	const struct margo_profile *profile;
	struct margo_schema *schemas;
	size_t n_schemas;
	struct margo_config_setting *settings; /* in section order */
	size_t n_settings;
};

/* One invalid value: which parameter and setting, the rule it breaks
 * (the model's attribute name, or "parameter"/"immutable"), a message. */
struct margo_verr {
	char parameter[128], setting[128], rule[32], message[256];
};

struct margo_verrs {
	struct margo_verr *v;
	size_t n, cap;
};

void margo_verrs_init(struct margo_verrs *e);
void margo_verrs_release(struct margo_verrs *e);
void margo_verrs_add(struct margo_verrs *e, const char *parameter,
		     const char *setting, const char *rule, const char *fmt,
		     ...) __attribute__((format(printf, 5, 6)));
/* "setting \"NAME\" (parameter P): RULE: MESSAGE" */
void margo_verr_format(char *dst, size_t cap, const struct margo_verr *v);

void margo_value_release(struct margo_value *v);
/* A copy of s as a one-item value; ERR_FAIL on no memory. */
int margo_value_scalar(struct margo_value *out, const char *s, struct err *err);
/* --set text for the setting s: for array types and multiselect, a JSON
 * array (["a","b"]) or items split at commas; else the text as is. */
int margo_value_from_text(struct margo_value *out,
			  const struct margo_config_setting *s,
			  const char *text, struct err *err);
/* A JSON value (string, number, boolean, null, or an array of those); a
 * number is its integer text or the shortest text reading back as the
 * same double (0.1 is "0.1"; 2.0 is "2": send a string to keep digits). */
int margo_value_from_json(struct margo_value *out, const json_t *j,
			  struct err *err);
/* The parameter's default (its value in the description). */
int margo_value_default(struct margo_value *out,
			const struct margo_parameter *p, struct err *err);

/* Read app's configuration for the profile whose id is profile_id.
 * ERR_NOT_FOUND: no such profile; ERR_INVALID: the description's
 * configuration cannot be used (a setting naming no parameter or schema,
 * an unknown dataType, a rule that is not a number, a regexMatch that does
 * not compile), err naming it. Settings whose parameter targets none of
 * the profile's components are left out. */
int margo_config_load(struct margo_config *out, const struct margo_app *app,
		      const char *profile_id, struct err *err);
void margo_config_release(struct margo_config *c);

/* The setting of parameter name, NULL when none. */
const struct margo_config_setting *
margo_config_find(const struct margo_config *c, const char *name);

/* Apply every rule of s's schema to v; each failure goes to errs.
 * Returns the number of failures added. */
size_t margo_config_check(struct margo_verrs *errs,
			  const struct margo_config_setting *s,
			  const struct margo_value *v);

/* 1 when target t of a parameter names a component of profile p. */
int margo_target_in_profile(const struct margo_target *t,
			    const struct margo_profile *p);

/* GET /ocimirror/v1/config's answer: {profile, sections:[{name,
 * description, settings:[{parameter, name, description, immutable,
 * schema, dataType, rules:{...}, default, targets}]}]}. */
json_t *margo_config_json(const struct margo_config *c);

#endif
