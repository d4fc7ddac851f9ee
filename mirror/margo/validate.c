/* Margo ApplicationDescription: the rules of MARGO.md applied to a parsed
 * struct margo_app, and the read of a margo.yaml or package directory from
 * disk. The validation half of description.h. */
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
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

static int in_list(const char *s, const char *const *list)
{
	for (; *list; list++)
		if (!strcmp(s, *list))
			return 1;
	return 0;
}

static int is_helm(const char *type)
{
	return type && (!strcmp(type, "helm") || !strcmp(type, "helm.v3"));
}

/* SemVer 2.0 without a leading v. SUP-01 stores build metadata with '_'
 * (1.0.0_build.5: '+' is no OCI tag character), so one '_' reads as '+'.
 * A '+' stays readable for Helm, which maps it to '_' itself when it
 * pulls a chart; any other component is fetched by the tag as written. */
static void check_revision(struct margo_problems *p, const struct margo_str *s,
			   const char *type)
{
	char v[SHOWN_MAX], w[SHOWN_MAX], as_semver[OCI_TAG_MAX + 1];
	const char *us = strchr(s->v, '_'), *plus = strchr(s->v, '+');
	struct semver sv;
	int bad;

	/* the length first: as_semver holds OCI_TAG_MAX bytes, and the
	 * offsets of '_' and '+' below are offsets into s->v */
	bad = strlen(s->v) > OCI_TAG_MAX || s->v[0] == 'v' || s->v[0] == 'V';
	if (!bad) {
		snprintf(as_semver, sizeof(as_semver), "%s", s->v);
		if (us && !strchr(us + 1, '_') && !plus)
			as_semver[us - s->v] = '+';
		bad = semver_parse(&sv, as_semver) != 0;
	}
	if (bad) {
		margo_problems_add(p, s->line, s->column, MARGO_ERROR,
				   "revision \"%s\" must be a SemVer 2.0 "
				   "version without a leading v",
				   shown(v, sizeof(v), s->v));
		return;
	}
	if (plus && !is_helm(type)) {
		snprintf(as_semver, sizeof(as_semver), "%s", s->v);
		as_semver[plus - s->v] = '_';
		margo_problems_add(
		    p, s->line, s->column, MARGO_ERROR,
		    "revision \"%s\" cannot be an OCI tag ('+'); "
		    "write the build metadata with '_' "
		    "(SUP-01): %s",
		    shown(v, sizeof(v), s->v), shown(w, sizeof(w), as_semver));
	}
}

static const char *const arch_values[] = {"amd64",   "x86_64", "arm64", "arm",
					  "riscv64", "other",  NULL};
static const char *const peripheral_values[] = {
    "gpu", "display", "camera", "microphone", "speaker", "other", NULL};
static const char *const interface_values[] = {"ethernet",  "wifi",  "cellular",
					       "bluetooth", "usb",   "canbus",
					       "rs232",	    "other", NULL};

/* ^[0-9]+(UNIT)$ with UNIT one of units. */
static int quantity_valid(const char *s, const char *const *units)
{
	size_t d = strspn(s, "0123456789");

	return d > 0 && in_list(s + d, units);
}

static void check_parts(struct margo_problems *p,
			const struct margo_device_part *v, size_t n,
			enum margo_severity sev, const char *what,
			const char *const *values, const char *listed)
{
	char t[SHOWN_MAX];

	for (size_t i = 0; i < n; i++) {
		if (!v[i].type.v || !*v[i].type.v) {
			if (!v[i].type.invalid)
				margo_problems_add(
				    p, v[i].type.line, v[i].type.column, sev,
				    "missing required field \"%s[].type\"",
				    what);
		} else if (!in_list(v[i].type.v, values)) {
			margo_problems_add(
			    p, v[i].type.line, v[i].type.column, sev,
			    "%s type \"%s\" is not one of %s", what,
			    shown(t, sizeof(t), v[i].type.v), listed);
		}
	}
}

/* requiredResources by the model (and the legacy schema, which has the
 * same rules). deviceConstraints has no schema: the same rules apply,
 * but what breaks them there is a warning. */
static void check_resources(const struct margo_profile *pr, unsigned flags,
			    struct margo_problems *p)
{
	static const char *const mem_units[] = {"Ki", "Mi", "Gi", NULL};
	static const char *const disk_units[] = {"Ki", "Mi", "Gi", "Ti",
						 "Pi", "Ei", NULL};
	enum margo_severity sev;
	int model;
	char v[SHOWN_MAX];
	char *end;

	if (!pr->resources_key)
		return;
	model = !strcmp(pr->resources_key, "requiredResources");
	sev = model ? MARGO_ERROR : MARGO_WARNING;
	if (pr->both_resources)
		margo_problems_add(p, pr->resources.line, pr->resources.column,
				   MARGO_WARNING,
				   "both requiredResources and "
				   "deviceConstraints; only requiredResources "
				   "is read");
	else if ((flags & MARGO_STRICT) && !model)
		margo_problems_add(p, pr->resources.line, pr->resources.column,
				   MARGO_ERROR,
				   "deviceConstraints is not in the newest "
				   "model; write requiredResources");
	if (pr->has_cpu && model && !pr->cores.v && !pr->cores.invalid)
		margo_problems_add(p, pr->cpu.line, pr->cpu.column, MARGO_ERROR,
				   "missing required field \"cpu.cores\"");
	if (pr->cores.v) {
		/* ^[0-9]+(\.[0-9]+)?$ first: strtod alone takes inf, nan,
		 * 0x10, 1e999 and leading blanks */
		const char *c = pr->cores.v;
		size_t ip = strspn(c, "0123456789"), fp = 0;
		double d = 0;

		if (ip && c[ip] == '.')
			fp = strspn(c + ip + 1, "0123456789");
		if (ip && (!c[ip] || (fp && !c[ip + 1 + fp])))
			d = strtod(c, &end);
		if (!(d > 0))
			margo_problems_add(p, pr->cores.line, pr->cores.column,
					   sev,
					   "cpu.cores \"%s\" must be a number "
					   "of cores above 0 (0.5 is half a "
					   "core)",
					   shown(v, sizeof(v), pr->cores.v));
	}
	for (size_t i = 0; i < pr->n_architectures; i++) {
		const struct margo_str *a = &pr->architectures[i];

		if (!in_list(a->v, arch_values))
			margo_problems_add(
			    p, a->line, a->column, sev,
			    "cpu.architectures \"%s\" is not one "
			    "of amd64, x86_64, arm64, arm, "
			    "riscv64, other",
			    shown(v, sizeof(v), a->v));
	}
	if (pr->memory.v && !quantity_valid(pr->memory.v, mem_units))
		margo_problems_add(p, pr->memory.line, pr->memory.column, sev,
				   "memory \"%s\" must be a whole number of "
				   "Ki, Mi or Gi (512Mi)",
				   shown(v, sizeof(v), pr->memory.v));
	if (pr->storage.v && !quantity_valid(pr->storage.v, disk_units))
		margo_problems_add(p, pr->storage.line, pr->storage.column, sev,
				   "storage \"%s\" must be a whole number of "
				   "Ki, Mi, Gi, Ti, Pi or Ei (10Gi)",
				   shown(v, sizeof(v), pr->storage.v));
	check_parts(p, pr->peripherals, pr->n_peripherals, sev, "peripherals",
		    peripheral_values,
		    "gpu, display, camera, microphone, speaker, other");
	check_parts(p, pr->interfaces, pr->n_interfaces, sev, "interfaces",
		    interface_values,
		    "ethernet, wifi, cellular, bluetooth, usb, canbus, rs232, "
		    "other");
}

static void check_profile(const struct margo_app *a,
			  const struct margo_profile *pr, unsigned flags,
			  struct margo_problems *p)
{
	char v[SHOWN_MAX];

	if (require(p, &pr->type, pr->line, pr->column,
		    "deploymentProfiles[].type")) {
		const char *t = pr->type.v;

		/* helm.v3 is model/'s name, helm the legacy schema's and
		 * SUP-01's: the same profile */
		if ((flags & MARGO_STRICT) && !strcmp(t, "helm"))
			margo_problems_add(
			    p, pr->type.line, pr->type.column, MARGO_ERROR,
			    "profile type \"helm\" is not in the "
			    "newest model (helm.v3 or compose)");
		else if (!is_helm(t) && strcmp(t, "compose"))
			margo_problems_add(
			    p, pr->type.line, pr->type.column,
			    flags & MARGO_STRICT ? MARGO_ERROR : MARGO_WARNING,
			    "custom profile type \"%s\" (expected helm.v3, "
			    "helm or compose)",
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
	check_resources(pr, flags, p);
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
		/* the legacy schema's compose components may name only a
		 * packageLocation: valid there, but nothing to mirror */
		if (!m->repository.v && !m->repository.invalid &&
		    m->package_location.v) {
			margo_problems_add(
			    p, m->package_location.line,
			    m->package_location.column, MARGO_WARNING,
			    "component \"%s\" has a packageLocation and no "
			    "repository: only oci:// repositories are "
			    "mirrored",
			    shown(v, sizeof(v), m->name.v ? m->name.v : "?"));
			continue;
		}
		if (require(p, &m->repository, m->line, m->column,
			    "properties.repository"))
			check_repository(p, &m->repository);
		if (require(p, &m->revision, m->line, m->column,
			    "properties.revision"))
			check_revision(p, &m->revision, pr->type.v);
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

int margo_resource_path(char *out, size_t cap, char *real_out, size_t real_cap,
			const char *dir, const char *path, struct err *err)
{
	char *real_dir = NULL, *real = NULL;
	size_t o = 0, seg_start[512], depth = 0, dl;
	const char *s = path;
	struct stat st;
	struct buf full;
	int rc = 0;

	if (cap)
		out[0] = '\0';
	if (!*path)
		return err_set(err, ERR_INVALID, "is empty");
	if (path[0] == '/')
		return err_set(err, ERR_INVALID,
			       "is an absolute path: it must be relative to "
			       "the package directory");
	for (const char *q = path; *q; q++)
		if ((unsigned char)*q < 0x20 || *q == 0x7f)
			return err_set(err, ERR_INVALID,
				       "contains a control character");
	while (*s) {
		size_t n = strcspn(s, "/");

		if (n == 2 && s[0] == '.' && s[1] == '.') {
			if (!depth)
				return err_set(err, ERR_INVALID,
					       "leaves the package directory");
			o = seg_start[--depth];
		} else if (n && !(n == 1 && s[0] == '.')) {
			if (depth == sizeof(seg_start) / sizeof(seg_start[0]) ||
			    o + !!depth + n >= cap)
				return err_set(err, ERR_TOO_LARGE,
					       "is longer than %zu bytes",
					       cap - 1);
			seg_start[depth++] = o;
			if (o)
				out[o++] = '/';
			memcpy(out + o, s, n);
			o += n;
		}
		out[o] = '\0';
		s += n;
		if (*s == '/')
			s++;
	}
	if (!o)
		return err_set(err, ERR_INVALID,
			       "names the package directory, not a file");
	if (!dir)
		return 0;
	buf_init(&full, 8192);
	real_dir = realpath(dir, NULL);
	if (!real_dir) {
		rc = err_set(err, errno == ENOENT ? ERR_NOT_FOUND : ERR_FAIL,
			     "package directory %s: %s", dir, strerror(errno));
		goto out;
	}
	if (buf_printf(&full, "%s/%s", dir, out)) {
		rc = err_set(err, ERR_TOO_LARGE, "is too long");
		goto out;
	}
	real = realpath(full.data, NULL);
	if (!real) {
		rc = err_set(err, errno == ENOENT ? ERR_NOT_FOUND : ERR_FAIL,
			     "not found in the package: %s", strerror(errno));
		goto out;
	}
	dl = strlen(real_dir);
	if (strncmp(real, real_dir, dl) ||
	    (real[dl] != '/' && strcmp(real_dir, "/"))) {
		rc = err_set(err, ERR_INVALID,
			     "is a link that leaves the package directory");
		goto out;
	}
	if (stat(real, &st) || !S_ISREG(st.st_mode)) {
		rc = err_set(err, ERR_INVALID, "is not a regular file");
		goto out;
	}
	if (real_out &&
	    (size_t)snprintf(real_out, real_cap, "%s", real) >= real_cap)
		rc = err_set(err, ERR_TOO_LARGE, "is too long");
out:
	free(real);
	free(real_dir);
	buf_release(&full);
	return rc;
}

/* openat2 with RESOLVE_BENEATH: path (links followed) must stay under
 * dfd. -1 with errno ENOSYS where the kernel or a filter lacks it. */
static int open_beneath(int dfd, const char *path, int flags)
{
#ifdef SYS_openat2
	struct open_how how;

	memset(&how, 0, sizeof(how));
	how.flags = (unsigned)flags;
	how.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS;
	return (int)syscall(SYS_openat2, dfd, path, &how, sizeof(how));
#else
	(void)dfd;
	(void)path;
	(void)flags;
	errno = ENOSYS;
	return -1;
#endif
}

/* Without openat2: the real path margo_resource_path checked, opened
 * without following a last link, must be the file it stat'ed and (where
 * /proc tells) still lie inside dir. */
static int open_checked(int *fd_out, const char *dir, const char *real,
			int flags, struct err *err)
{
	char link[64], now[4096], *real_dir;
	struct stat want, got;
	ssize_t n;
	size_t dl;
	int fd, inside = 1;

	if (stat(real, &want))
		return err_set(err, errno == ENOENT ? ERR_NOT_FOUND : ERR_FAIL,
			       "cannot be opened: %s", strerror(errno));
	fd = open(real, flags | O_NOFOLLOW);
	if (fd < 0)
		return err_set(err,
			       errno == ENOENT ? ERR_NOT_FOUND : ERR_INVALID,
			       "cannot be opened: %s", strerror(errno));
	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	n = readlink(link, now, sizeof(now) - 1);
	real_dir = realpath(dir, NULL);
	if (n > 0 && real_dir) {
		now[n] = '\0';
		dl = strlen(real_dir);
		inside = !strncmp(now, real_dir, dl) &&
			 (now[dl] == '/' || !strcmp(real_dir, "/"));
	}
	free(real_dir);
	if (!inside || fstat(fd, &got) || got.st_dev != want.st_dev ||
	    got.st_ino != want.st_ino) {
		close(fd);
		return err_set(err, ERR_INVALID,
			       "is a link that leaves the package directory");
	}
	*fd_out = fd;
	return 0;
}

int margo_resource_open(int *fd_out, struct stat *st_out, char *out, size_t cap,
			const char *dir, const char *path, struct err *err)
{
	const int flags = O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY;
	char real[4096];
	int dfd, fd, rc;

	*fd_out = -1;
	if ((rc = margo_resource_path(out, cap, real, sizeof(real), dir, path,
				      err)))
		return rc;
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return err_set(err, ERR_FAIL, "package directory %s: %s", dir,
			       strerror(errno));
	fd = open_beneath(dfd, path, flags);
	close(dfd);
	if (fd < 0 && errno == ENOSYS) {
		if ((rc = open_checked(&fd, dir, real, flags, err)))
			return rc;
	} else if (fd < 0 && (errno == EXDEV || errno == ELOOP)) {
		return err_set(err, ERR_INVALID,
			       "is a link that leaves the package directory");
	} else if (fd < 0) {
		return err_set(err,
			       errno == ENOENT ? ERR_NOT_FOUND : ERR_INVALID,
			       "cannot be opened: %s", strerror(errno));
	}
	if (fstat(fd, st_out) || !S_ISREG(st_out->st_mode)) {
		close(fd);
		return err_set(err, ERR_INVALID, "is not a regular file");
	}
	*fd_out = fd;
	return 0;
}

int margo_resource_is_url(const char *path)
{
	size_t n = strspn(path, "abcdefghijklmnopqrstuvwxyz"
				"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+.-");

	return n > 0 && !strncmp(path + n, "://", 3);
}

static void check_resource(const struct margo_str *s, const char *field,
			   const char *dir, struct margo_problems *p)
{
	char v[SHOWN_MAX], norm[1024];
	struct err e;

	if (!s->v)
		return;
	if (margo_resource_is_url(s->v)) {
		margo_problems_add(p, s->line, s->column, MARGO_WARNING,
				   "%s \"%s\" is a URL, not a file of the "
				   "package: it is not pushed with it",
				   field, shown(v, sizeof(v), s->v));
		return;
	}
	err_clear(&e);
	if (margo_resource_path(norm, sizeof(norm), NULL, 0, dir, s->v, &e))
		margo_problems_add(p, s->line, s->column, MARGO_ERROR,
				   "%s \"%s\" %s", field,
				   shown(v, sizeof(v), s->v), e.msg);
}

static void check_unknown(const struct margo_app *a, unsigned flags,
			  struct margo_problems *p)
{
	enum margo_severity sev =
	    flags & MARGO_STRICT ? MARGO_ERROR : MARGO_WARNING;
	char k[SHOWN_MAX], in[200] = "", hint[200] = "";

	for (size_t i = 0; i < a->n_unknown; i++) {
		const struct margo_unknown_key *u = &a->unknown[i];

		if (u->where[0])
			snprintf(in, sizeof(in), " in %s", u->where);
		else
			in[0] = '\0';
		if (u->suggestion)
			snprintf(hint, sizeof(hint), " (did you mean %s?)",
				 u->suggestion);
		else
			hint[0] = '\0';
		margo_problems_add(p, u->key.line, u->key.column, sev,
				   "unknown key %s%s%s",
				   shown(k, sizeof(k), u->key.v), in, hint);
	}
}

/* metadata.id (model/, legacy schema) or the top-level id of older
 * drafts: either, or both when they agree. */
static void check_id(const struct margo_app *a, unsigned flags, size_t ml,
		     size_t mc, struct margo_problems *p)
{
	char v[SHOWN_MAX], w[SHOWN_MAX];

	if ((flags & MARGO_STRICT) && (a->id_top.v || a->id_top.invalid))
		margo_problems_add(p, a->id_top.line, a->id_top.column,
				   MARGO_ERROR,
				   "a top-level id is not in the newest model; "
				   "write it as metadata.id");
	if (a->id_meta.v && a->id_top.v && strcmp(a->id_meta.v, a->id_top.v))
		margo_problems_add(p, a->id_top.line, a->id_top.column,
				   MARGO_ERROR,
				   "id \"%s\" differs from metadata.id \"%s\"",
				   shown(v, sizeof(v), a->id_top.v),
				   shown(w, sizeof(w), a->id_meta.v));
	if (a->id_top.invalid && !a->id_meta.v)
		return;
	if (require(p, &a->id, ml, mc, "metadata.id") && !id_valid(a->id.v))
		margo_problems_add(p, a->id.line, a->id.column, MARGO_ERROR,
				   "%s \"%s\" must match ^[a-z0-9-]{1,200}$",
				   a->id_from_metadata ? "metadata.id" : "id",
				   shown(v, sizeof(v), a->id.v));
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
	margo_app_check(p, a, dir, 0);
}

/* What stops a component from being fetched, as errors: no repository or
 * one that is no reference, no revision or one whose tag (a '+' read as
 * '_', as app pull does) is no OCI tag. */
static void check_fetchable(struct margo_problems *p, const struct margo_app *a)
{
	char v[SHOWN_MAX], tag[OCI_TAG_MAX + 2];

	for (size_t i = 0; i < a->n_profiles; i++) {
		const struct margo_profile *pr = &a->profiles[i];

		for (size_t j = 0; j < pr->n_components; j++) {
			const struct margo_component *m = &pr->components[j];
			size_t n;

			if (!m->has_properties ||
			    (!m->repository.v && !m->repository.invalid &&
			     m->package_location.v))
				continue; /* nothing to fetch */
			if (require(p, &m->repository, m->line, m->column,
				    "properties.repository"))
				check_repository(p, &m->repository);
			else if (m->repository.invalid)
				margo_problems_add(
				    p, m->repository.line, m->repository.column,
				    MARGO_ERROR, "repository must be a string");
			if (!require(p, &m->revision, m->line, m->column,
				     "properties.revision")) {
				if (m->revision.invalid)
					margo_problems_add(
					    p, m->revision.line,
					    m->revision.column, MARGO_ERROR,
					    "revision must be a string");
				continue;
			}
			n = strlen(m->revision.v);
			if (n <= OCI_TAG_MAX) {
				memcpy(tag, m->revision.v, n + 1);
				for (char *q = tag; *q; q++)
					if (*q == '+')
						*q = '_';
			}
			if (n > OCI_TAG_MAX || !oci_tag_valid(tag))
				margo_problems_add(
				    p, m->revision.line, m->revision.column,
				    MARGO_ERROR,
				    "revision \"%s\" is no OCI tag: the "
				    "component cannot be fetched",
				    shown(v, sizeof(v), m->revision.v));
		}
	}
}

static int same_problem(const struct margo_problem *x,
			const struct margo_problem *y)
{
	return x->line == y->line && x->column == y->column &&
	       !strcmp(x->message, y->message);
}

/* MARGO_FOR_PULL: every rule's problem is a warning but those of
 * check_fetchable, which stay errors (each problem said once). */
static void check_for_pull(struct margo_problems *p, const struct margo_app *a,
			   const char *dir, unsigned flags)
{
	struct margo_problems all, block;

	margo_problems_init(&all);
	margo_problems_init(&block);
	margo_app_check(&all, a, dir, flags & ~MARGO_FOR_PULL);
	check_fetchable(&block, a);
	for (size_t i = 0; i < all.n; i++) {
		size_t k = 0;

		while (k < block.n && !same_problem(&all.v[i], &block.v[k]))
			k++;
		if (k == block.n)
			margo_problems_add(p, all.v[i].line, all.v[i].column,
					   MARGO_WARNING, "%s",
					   all.v[i].message);
	}
	/* the ones over MARGO_PROBLEMS_MAX, counted */
	p->n_warnings += all.n_errors + all.n_warnings - all.n;
	for (size_t k = 0; k < block.n; k++)
		margo_problems_add(p, block.v[k].line, block.v[k].column,
				   MARGO_ERROR, "%s", block.v[k].message);
	p->n_errors += block.n_errors - block.n;
	margo_problems_release(&all);
	margo_problems_release(&block);
}

void margo_app_check(struct margo_problems *p, const struct margo_app *a,
		     const char *dir, unsigned flags)
{
	char v[SHOWN_MAX];
	size_t ml = a->has_metadata ? a->metadata_line : a->line;
	size_t mc = a->has_metadata ? a->metadata_column : a->column;
	size_t cl = a->has_catalog ? a->catalog_line : ml;
	size_t cc = a->has_catalog ? a->catalog_column : mc;

	if (!a->has_doc || !a->line || a->incomplete)
		return; /* not (all) read; the parser said why */
	if (flags & MARGO_FOR_PULL) {
		check_for_pull(p, a, dir, flags);
		return;
	}
	check_unknown(a, flags, p);
	require(p, &a->api_version, a->line, a->column, "apiVersion");
	if (require(p, &a->kind, a->line, a->column, "kind") &&
	    strcmp(a->kind.v, "ApplicationDescription"))
		margo_problems_add(p, a->kind.line, a->kind.column, MARGO_ERROR,
				   "kind must be \"ApplicationDescription\", "
				   "not \"%s\"",
				   shown(v, sizeof(v), a->kind.v));
	check_id(a, flags, ml, mc, p);
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
		check_profile(a, &a->profiles[i], flags, p);
	check_config(a, p);
}

int margo_check_path(struct margo_problems *probs, char **file_out,
		     const char *path, unsigned flags, struct err *err)
{
	return margo_check_path_read(probs, file_out, NULL, NULL, path, flags,
				     err);
}

int margo_check_path_read(struct margo_problems *probs, char **file_out,
			  char **text_out, size_t *len_out, const char *path,
			  unsigned flags, struct err *err)
{
	struct margo_app app;
	struct stat st;
	struct buf file;
	const char *dir = NULL;
	char *text = NULL;
	size_t len;
	int rc;

	*file_out = NULL;
	if (text_out)
		*text_out = NULL;
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
	margo_app_check(probs, &app, dir, flags);
	margo_app_release(&app);
	*file_out = buf_detach(&file, NULL);
	if (text_out) {
		*text_out = text;
		*len_out = len;
		text = NULL;
	}
out:
	free(text);
	buf_release(&file);
	return rc;
}
