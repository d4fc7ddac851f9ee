/* Margo component archives, entry by entry. See archive.h. */
#include "mirror/margo/archive.h"

#include <archive.h>
#include <archive_entry.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "oci/vec.h"

void margo_archive_release(struct margo_archive *a)
{
	for (size_t i = 0; i < a->n; i++) {
		free(a->files[i].path);
		free(a->files[i].data);
	}
	free(a->files);
	a->files = NULL;
	a->n = 0;
	a->cap = 0;
	for (size_t i = 0; i < a->n_links; i++)
		free(a->links[i]);
	free(a->links);
	a->links = NULL;
	a->n_links = 0;
	a->links_cap = 0;
}

static int is_link(const struct margo_archive *a, const char *path, size_t n)
{
	for (size_t i = 0; i < a->n_links; i++)
		if (strlen(a->links[i]) == n && !memcmp(a->links[i], path, n))
			return 1;
	return 0;
}

/* 1 when path goes through a symbolic link seen before. */
static int through_link(const struct margo_archive *a, const char *path)
{
	for (const char *p = strchr(path, '/'); p; p = strchr(p + 1, '/'))
		if (is_link(a, path, (size_t)(p - path)))
			return 1;
	return 0;
}

const struct margo_afile *margo_archive_get(const struct margo_archive *a,
					    const char *path)
{
	for (size_t i = 0; i < a->n; i++)
		if (!strcmp(a->files[i].path, path))
			return &a->files[i];
	return NULL;
}
/* The next '/'-separated component of *p (advanced past it): its start in
 * *start and its length; "" and "." come back as length 0, ".." as -1. At
 * the end, *start is NULL. */
static long next_comp(const char **p, const char **start)
{
	const char *s = *p;
	size_t n;

	if (!*s) {
		*start = NULL;
		return 0;
	}
	while (**p && **p != '/')
		(*p)++;
	n = (size_t)(*p - s);
	if (**p)
		(*p)++;
	*start = s;
	if (n == 1 && s[0] == '.')
		return 0;
	if (n == 2 && s[0] == '.' && s[1] == '.')
		return -1;
	return (long)n;
}

/* Normalise name into out: no "./", no empty or "." components. Returns
 * a reason when the name is refused, else NULL. */
static const char *clean_path(char *out, size_t cap, const char *name)
{
	size_t o = 0;
	const char *p = name;

	if (!*name)
		return "an empty name";
	if (*name == '/')
		return "an absolute path";
	for (;;) {
		const char *s;
		long c = next_comp(&p, &s);
		size_t n = c > 0 ? (size_t)c : 0;

		if (!s)
			break;
		if (c < 0)
			return "a \"..\" component";
		if (!n)
			continue;
		if (o + n + 2 > cap)
			return "a name too long";
		if (o)
			out[o++] = '/';
		memcpy(out + o, s, n);
		o += n;
	}
	out[o] = '\0';
	if (!o)
		return "an empty name";
	return NULL;
}

/* Does a symlink at path (cleaned, top included) with target stay inside
 * the top-level directory? */
static int link_stays(const char *path, const char *target)
{
	int depth = 0;
	const char *p;

	if (*target == '/')
		return 0;
	for (p = path; *p; p++) /* components of the link's directory */
		if (*p == '/')
			depth++;
	p = target;
	for (;;) {
		const char *s;
		long c = next_comp(&p, &s);

		if (!s)
			break;
		if (c < 0 && --depth < 1)
			return 0;
		if (c > 0)
			depth++;
	}
	return 1;
}

static int refuse(struct err *err, const char *name, const char *why)
{
	char shown[200];

	err_shown(shown, sizeof(shown), name, strlen(name));
	return err_set(err, ERR_INVALID, "archive entry \"%s\": %s; refused",
		       shown, why);
}

/* One entry, in order: its cleaned name into path, the part below the
 * top-level directory into *rest_out (NULL for the directory itself). The
 * checks every entry passes whatever its type. */
static int entry_check(struct margo_archive *a, struct archive_entry *e,
		       const char *name, char *path, size_t cap,
		       const char **rest_out, struct err *err)
{
	mode_t type = archive_entry_filetype(e);
	const char *why, *rest;
	size_t topn;

	if (++a->budget->entries > MARGO_ARCHIVE_ENTRIES)
		return err_set(err, ERR_TOO_LARGE,
			       "archive has more than %d entries",
			       MARGO_ARCHIVE_ENTRIES);
	if ((why = clean_path(path, cap, name)))
		return refuse(err, name, why);
	topn = strcspn(path, "/");
	if (!a->top[0]) {
		memcpy(a->top, path, topn);
		a->top[topn] = '\0';
	} else if (strlen(a->top) != topn || memcmp(a->top, path, topn)) {
		return refuse(err, name,
			      "a second top-level directory (the archive "
			      "must hold exactly one)");
	}
	rest = path[topn] ? path + topn + 1 : NULL;
	if (!rest && type != AE_IFDIR)
		return refuse(err, name,
			      "a file outside the top-level directory");
	if (archive_entry_mode(e) & (S_ISUID | S_ISGID))
		return refuse(err, name, "a setuid or setgid bit");
	if (through_link(a, path))
		return refuse(err, name, "a path through a symbolic link");
	if ((archive_entry_hardlink(e) || type == AE_IFLNK) && rest &&
	    a->want(rest))
		return refuse(err, name, "a link where a file is needed");
	*rest_out = rest;
	return 0;
}

static int hardlink_check(const struct margo_archive *a, const char *name,
			  const char *target, struct err *err)
{
	char tpath[MARGO_ARCHIVE_NAME_MAX];

	if (clean_path(tpath, sizeof(tpath), target) ||
	    strncmp(tpath, a->top, strlen(a->top)) ||
	    (tpath[strlen(a->top)] != '/'))
		return refuse(err, name, "a hard link leaving the directory");
	if (is_link(a, tpath, strlen(tpath)))
		return refuse(err, name, "a hard link to a symbolic link");
	return 0;
}

/* A symbolic link at path: checked, then remembered so that no later
 * entry goes through it. */
static int symlink_add(struct margo_archive *a, const char *name,
		       const char *path, const char *target, struct err *err)
{
	if (!target || !link_stays(path, target))
		return refuse(err, name,
			      "a symbolic link leaving the directory");
	if (a->n_links >= MARGO_ARCHIVE_LINKS)
		return err_set(err, ERR_TOO_LARGE,
			       "archive has more than %d symbolic links",
			       MARGO_ARCHIVE_LINKS);
	if (OCI_VEC_RESERVE(a->links, a->n_links, a->links_cap, 1, 0) ||
	    !(a->links[a->n_links] = strdup(path)))
		return err_set(err, ERR_FAIL, "out of memory");
	a->n_links++;
	return 0;
}

/* Read the current entry's size bytes into a new kept file at rest. */
static int file_read(struct margo_archive *a, struct archive *ar,
		     const char *rest, int64_t size, struct err *err)
{
	struct margo_afile *f;
	la_ssize_t got;

	if (OCI_VEC_RESERVE(a->files, a->n, a->cap, 1, 0))
		return err_set(err, ERR_FAIL, "out of memory");
	f = &a->files[a->n];
	f->path = strdup(rest);
	f->data = malloc((size_t)size + 1);
	f->len = 0;
	if (!f->path || !f->data) {
		free(f->path);
		free(f->data);
		return err_set(err, ERR_FAIL, "out of memory");
	}
	a->n++;
	while (f->len < (size_t)size &&
	       (got = archive_read_data(ar, f->data + f->len,
					(size_t)size - f->len)) > 0)
		f->len += (size_t)got;
	if (f->len != (size_t)size)
		return err_set(err, ERR_INVALID,
			       "archive truncated in %s/%s: %s", a->top, rest,
			       archive_error_string(ar) ?: "short read");
	f->data[f->len] = '\0';
	return 0;
}

/* A regular file at rest: counted against the budget, kept when wanted. */
static int file_add(struct margo_archive *a, struct archive *ar,
		    struct archive_entry *e, const char *name, const char *rest,
		    struct err *err)
{
	int64_t size = archive_entry_size(e);
	size_t keep;

	if (size < 0 ||
	    (a->budget->bytes += (uint64_t)size) > MARGO_ARCHIVE_EXPANDED)
		return err_set(err, ERR_TOO_LARGE,
			       "archive expands past %u bytes",
			       MARGO_ARCHIVE_EXPANDED);
	keep = a->want(rest);
	if (!keep) {
		if (!strncmp(rest, "docker-compose.", 15) ||
		    !strcmp(rest, "compose.yml"))
			snprintf(a->seen_other, sizeof(a->seen_other), "%s",
				 rest);
		return 0;
	}
	if (margo_archive_get(a, rest))
		return refuse(err, name,
			      "a second entry of that name (a reader "
			      "and an unpacker would disagree)");
	if ((uint64_t)size > keep)
		return err_set(err, ERR_TOO_LARGE,
			       "%s/%s is larger than %zu bytes", a->top, rest,
			       keep);
	return file_read(a, ar, rest, size, err);
}

static int entry_add(struct margo_archive *a, struct archive *ar,
		     struct archive_entry *e, struct err *err)
{
	char path[MARGO_ARCHIVE_NAME_MAX];
	const char *name = archive_entry_pathname(e), *rest = NULL;
	mode_t type = archive_entry_filetype(e);
	int rc;

	if (!name)
		name = "";
	if ((rc = entry_check(a, e, name, path, sizeof(path), &rest, err)))
		return rc;
	if (archive_entry_hardlink(e))
		return hardlink_check(a, name, archive_entry_hardlink(e), err);
	if (type == AE_IFLNK)
		return symlink_add(a, name, path, archive_entry_symlink(e),
				   err);
	if (type == AE_IFDIR)
		return 0;
	if (type != AE_IFREG)
		return refuse(err, name,
			      "a device, FIFO or socket (only files, "
			      "directories and links are allowed)");
	return file_add(a, ar, e, name, rest, err);
}

int margo_archive_scan(struct margo_archive *a, const void *p, size_t len,
		       struct err *err)
{
	struct archive *ar = archive_read_new();
	struct archive_entry *e;
	int rc = 0, r;

	a->top[0] = '\0';
	if (!ar)
		return err_set(err, ERR_FAIL, "out of memory");
	archive_read_support_filter_gzip(ar);
	archive_read_support_format_tar(ar);
	if (archive_read_open_memory(ar, p, len) != ARCHIVE_OK) {
		rc = err_set(err, ERR_INVALID, "not a tar.gz archive: %s",
			     archive_error_string(ar));
		goto out;
	}
	while ((r = archive_read_next_header(ar, &e)) == ARCHIVE_OK)
		if ((rc = entry_add(a, ar, e, err)))
			goto out;
	if (r != ARCHIVE_EOF)
		rc = err_set(err, ERR_INVALID, "archive unreadable: %s",
			     archive_error_string(ar) ?: "bad tar.gz");
	else if (!a->top[0])
		rc = err_set(err, ERR_INVALID, "archive is empty");
out:
	archive_read_free(ar);
	if (rc)
		margo_archive_release(a);
	return rc;
}
