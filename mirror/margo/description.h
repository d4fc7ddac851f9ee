/* Margo ApplicationDescription (margo.yaml): read and validate.
 *
 * margo_app_parse reads the YAML into struct margo_app; margo_app_validate
 * applies the rules of ../shared/MARGO.md. Neither stops at the first
 * problem: each one is appended to a struct margo_problems with the
 * libyaml mark (1-based line and column) of the node it is about, as an
 * error (the description is invalid) or a warning (readable, but wrong or
 * risky under every published version: a custom profile type, a key no
 * version defines).
 *
 * Published versions read as equals (MARGO.md): the LinkML model/ of
 * margo/specification (metadata.id, type helm.v3, requiredResources), the
 * legacy src/specification schema (type helm), SUP-01 (revisions with
 * build metadata written 1.0.0_build.5), the older top-level id and the
 * deviceConstraints spelling of sandbox examples. MARGO_STRICT holds a
 * description to the newest model alone.
 *
 * Strings in struct margo_app point into the parsed YAML document the
 * struct owns; they stay valid until margo_app_release. A field that is
 * absent has v == NULL; its line/column then are those of the mapping that
 * should have held it. Input is capped at MARGO_INPUT_MAX bytes and
 * MARGO_NODES_MAX YAML nodes (aliases counted each time they are used). */
#ifndef MIRROR_MARGO_DESCRIPTION_H
#define MIRROR_MARGO_DESCRIPTION_H

#include <stddef.h>
#include <yaml.h>

#include "oci/err.h"

#define MARGO_INPUT_MAX (1024 * 1024)
#define MARGO_NODES_MAX 100000
#define MARGO_PROBLEMS_MAX 1000 /* further problems are counted, not kept */
#define MARGO_MSG_MAX 256

enum margo_severity { MARGO_ERROR = 0, MARGO_WARNING };

struct margo_problem {
	size_t line, column;
	enum margo_severity severity;
	char message[MARGO_MSG_MAX];
};

struct margo_problems {
	struct margo_problem *v;
	size_t n, cap;
	size_t n_errors, n_warnings; /* all of them, kept or not */
};

void margo_problems_init(struct margo_problems *p);
void margo_problems_release(struct margo_problems *p);
/* Append one problem (printf format; made one line, cut to fit). */
void margo_problems_add(struct margo_problems *p, size_t line, size_t column,
			enum margo_severity sev, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
const char *margo_severity_name(enum margo_severity sev);

/* A scalar and where it is. */
struct margo_str {
	const char *v; /* NULL when absent */
	size_t line, column;
	int invalid; /* there, but not a string (already reported) */
};

struct margo_person {
	struct margo_str name, email, site;
};

struct margo_component {
	struct margo_str name;
	int has_properties;
	struct margo_str properties; /* position of the properties map */
	struct margo_str repository, revision, wait, timeout;
	struct margo_str package_location, key_location; /* legacy compose */
	size_t line, column;
};

/* A peripheral or communication interface a profile requires. */
struct margo_device_part {
	struct margo_str type, manufacturer, model;
	size_t line, column;
};

struct margo_profile {
	struct margo_str type, id, description;
	/* requiredResources (or deviceConstraints, directly or under its
	 * capacityRequirements); resources_key names the one read, NULL
	 * when neither is there */
	const char *resources_key;
	struct margo_str resources; /* position of that map */
	int has_cpu;
	struct margo_str cpu; /* position of the cpu map */
	struct margo_str cores, memory, storage;
	struct margo_str *architectures; /* cpu.architectures */
	size_t n_architectures;
	struct margo_device_part *peripherals, *interfaces;
	size_t n_peripherals, n_interfaces;
	int both_resources; /* requiredResources and deviceConstraints */
	struct margo_component *components;
	size_t n_components;
	int has_components;
	size_t line, column;
};

struct margo_target {
	struct margo_str pointer;
	struct margo_str *components;
	size_t n_components;
	size_t line, column;
};

struct margo_parameter {
	struct margo_str name, value;
	/* value written as a list (array default): its scalar items */
	int value_is_list;
	struct margo_str *value_items;
	size_t n_value_items;
	struct margo_target *targets;
	size_t n_targets;
};

struct margo_setting {
	struct margo_str parameter, name, schema;
	struct margo_str description, immutable; /* immutable as written */
	size_t line, column;
};

struct margo_section {
	struct margo_str name;
	struct margo_setting *settings;
	size_t n_settings;
};

struct margo_rule {
	struct margo_str name, data_type;
	/* the validation rules of the model's *ValidationSchema classes,
	 * as written (config.c reads and checks them) */
	struct margo_str allow_empty, min_length, max_length, regex_match;
	struct margo_str min_value, max_value, min_precision, max_precision;
	struct margo_str multiselect;
	int has_options;
	struct margo_str *options;
	size_t n_options;
	size_t line, column;
};

/* A key no published version defines in a map whose keys are all known;
 * suggestion is the closest known key ("" when none is close). */
struct margo_unknown_key {
	struct margo_str key;
	const char *where; /* "" (top level), "metadata", ... (static) */
	const char *suggestion;
};

struct margo_app {
	yaml_document_t doc;
	int has_doc;
	int incomplete;	     /* node budget spent: not validated */
	size_t line, column; /* the root mapping; 0 when it is not one */
	struct margo_str api_version, kind;
	/* id is metadata.id (model/, legacy schema) or, when that is absent,
	 * the top-level id of older drafts; both are kept as written */
	struct margo_str id, id_top, id_meta;
	int id_from_metadata;
	struct margo_unknown_key *unknown;
	size_t n_unknown, unknown_cap;
	/* metadata */
	struct margo_str name, description, version;
	size_t metadata_line, metadata_column;
	int has_metadata, has_catalog, has_application;
	size_t catalog_line, catalog_column;
	/* metadata.catalog.application */
	struct margo_str description_file, icon, license_file, release_notes;
	struct margo_str site, tagline;
	struct margo_str *tags;
	size_t n_tags;
	struct margo_person *authors, *organizations;
	size_t n_authors, n_organizations;
	int has_organization;
	struct margo_profile *profiles;
	size_t n_profiles;
	int has_profiles;
	struct margo_parameter *parameters;
	size_t n_parameters;
	struct margo_section *sections;
	size_t n_sections;
	struct margo_rule *rules; /* configuration.schema */
	size_t n_rules;
};

/* Parse len bytes of YAML into out (always initialised, release it).
 * Syntax errors and wrong types go to probs; keys no published version
 * defines are kept in out->unknown for margo_app_check. Returns
 * 0, or ERR_TOO_LARGE (input over MARGO_INPUT_MAX) / ERR_FAIL (out of
 * memory) with err set. */
int margo_app_parse(struct margo_app *out, struct margo_problems *probs,
		    const char *data, size_t len, struct err *err);

#define MARGO_STRICT 1u /* the newest model/ alone */
/* What a mirror reads (app pull, margo-app sync): it must take every
 * published form, and a wrong hint (requiredResources values, a profile
 * type, an unknown key, missing metadata) must not stop it. Then only what
 * keeps a component from being fetched is an error: a missing or invalid
 * repository, a missing revision or one whose tag ('+' read as '_') is no
 * OCI tag. Every other rule's problem is a warning, its message as is. */
#define MARGO_FOR_PULL 2u

/* Apply MARGO.md's rules to a parsed description: required fields, kind,
 * id pattern, profile types, required resources, component names, oci://
 * repositories, SemVer revisions, parameter targets, configuration
 * settings, unknown keys. With dir (the package directory) non-NULL, the
 * resource files named in metadata.catalog.application must be regular
 * files inside it (margo_resource_path). Each problem is appended to
 * probs. flags: 0, MARGO_STRICT and/or MARGO_FOR_PULL. */
void margo_app_check(struct margo_problems *probs, const struct margo_app *app,
		     const char *dir, unsigned flags);
/* margo_app_check with flags 0. */
void margo_app_validate(struct margo_problems *probs,
			const struct margo_app *app, const char *dir);

/* The one rule for a resource path (metadata.catalog.application.icon,
 * ...), used by validate and push alike. path is relative to the package
 * directory: "./x", "x" and "a/../x" are the same file; "." components and
 * empty ones are dropped, ".." takes back one component. Refused
 * (ERR_INVALID): empty, absolute, control characters, a path that leaves
 * the package or names the package directory itself. *out (cap bytes) is
 * the normalised path ("resources/icon.png"), the layer's title. With dir
 * non-NULL the file must also be a regular file whose real path (links
 * followed) is inside dir's: else ERR_NOT_FOUND (missing) or ERR_INVALID
 * (a link out, not a regular file); *real_out (real_cap bytes, may be
 * NULL) is then that real path, to open. err->msg is the predicate alone
 * ("leaves the package directory"): the caller names the field. */
int margo_resource_path(char *out, size_t cap, char *real_out, size_t real_cap,
			const char *dir, const char *path, struct err *err);
/* margo_resource_path (dir not NULL), the file then opened once, to be
 * read from *fd_out alone (close it): read-only, beneath dir (openat2
 * RESOLVE_BENEATH; where the kernel lacks it, the real path opened with
 * O_NOFOLLOW must be the file checked and lie inside dir), so that a
 * directory swapped for a link after the check cannot lead out. *st_out
 * is its fstat (a regular file). Errors as margo_resource_path. */
struct stat;
int margo_resource_open(int *fd_out, struct stat *st_out, char *out, size_t cap,
			const char *dir, const char *path, struct err *err);
/* 1 when a resource is written as a URL (SCHEME://...): a link some
 * descriptions use, not a file of the package. validate warns, push
 * leaves it out; margo_resource_path is not asked. */
int margo_resource_is_url(const char *path);

void margo_app_release(struct margo_app *app);

/* Read and validate PATH: a margo.yaml, or a package directory holding
 * margo.yaml and its resources; flags as margo_app_check. *file_out (free
 * it) is the description file that the problems refer to. Returns 0 when
 * the file was read (look at probs->n_errors), else ERR_NOT_FOUND /
 * ERR_TOO_LARGE / ERR_FAIL. */
int margo_check_path(struct margo_problems *probs, char **file_out,
		     const char *path, unsigned flags, struct err *err);
/* margo_check_path that also hands back the bytes it validated (*text_out,
 * *len_out; free it), for a push to publish those and no later read. */
int margo_check_path_read(struct margo_problems *probs, char **file_out,
			  char **text_out, size_t *len_out, const char *path,
			  unsigned flags, struct err *err);

#endif
