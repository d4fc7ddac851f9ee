#include "mirror/store/fsutil.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "oci/buf.h"
#include "oci/vec.h"

char *fsutil_pathf(const char *fmt, ...)
{
	va_list ap;
	char *p = NULL;
	int n;

	va_start(ap, fmt);
	n = vasprintf(&p, fmt, ap);
	va_end(ap);
	return n < 0 ? NULL : p;
}

int fsutil_dir_sync(const char *dir, struct err *err)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int rc = 0;

	if (fd < 0)
		return err_set(err, ERR_FAIL, "fsync directory %s: %s", dir,
			       strerror(errno));
	if (fsync(fd) && errno != EINVAL)
		rc = err_set(err, ERR_FAIL, "fsync directory %s: %s", dir,
			     strerror(errno));
	close(fd);
	return rc;
}

int fsutil_parent_sync(const char *path, struct err *err)
{
	const char *slash = strrchr(path, '/');
	char *dir;
	int rc;

	if (!slash)
		return fsutil_dir_sync(".", err);
	if (slash == path)
		return fsutil_dir_sync("/", err);
	dir = strndup(path, (size_t)(slash - path));
	if (!dir)
		return err_set(err, ERR_FAIL, "out of memory");
	rc = fsutil_dir_sync(dir, err);
	free(dir);
	return rc;
}

int fsutil_mkdirs(const char *path, struct err *err)
{
	char tmp[4096];
	size_t n = strlen(path);

	if (n >= sizeof(tmp))
		return err_set(err, ERR_INVALID, "path too long: %s", path);
	memcpy(tmp, path, n + 1);
	for (size_t i = 1; i <= n; i++) {
		if (tmp[i] == '/' || tmp[i] == '\0') {
			char c = tmp[i];
			int rc;

			tmp[i] = '\0';
			if (mkdir(tmp, 0755)) {
				if (errno != EEXIST)
					return err_set(err, ERR_FAIL,
						       "mkdir %s: %s", tmp,
						       strerror(errno));
			} else if ((rc = fsutil_parent_sync(tmp, err))) {
				return rc;
			}
			tmp[i] = c;
		}
	}
	return 0;
}

static int cmp_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

void fsutil_names_free(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

int fsutil_errno_code(int e)
{
	switch (e) {
	case EMFILE:
	case ENFILE:
	case ENOMEM:
	case EIO:
	case EAGAIN:
	case EINTR:
	case ENOSPC:
	case EBUSY:
	case ESTALE: return ERR_FAIL;
	default: return ERR_INVALID;
	}
}

int fsutil_names_list(char ***out, size_t *n_out, const char *dir,
		      struct err *err)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	char **v = NULL;
	size_t n = 0, cap = 0;
	int saved;

	*out = NULL;
	*n_out = 0;
	if (!d) {
		if (errno == ENOENT)
			return 0;
		saved = errno;
		err_set(err, fsutil_errno_code(saved), "cannot list %s: %s",
			dir, strerror(saved));
		errno = saved;
		return fsutil_errno_code(saved);
	}
	errno = 0;
	while ((e = readdir(d))) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		if (OCI_VEC_RESERVE(v, n, cap, 1, 0))
			goto fail;
		v[n] = strdup(e->d_name);
		if (!v[n])
			goto fail;
		n++;
		errno = 0;
	}
	if (errno)
		goto fail;
	closedir(d);
	if (n)
		qsort(v, n, sizeof(*v), cmp_name);
	*out = v;
	*n_out = n;
	return 0;
fail:
	saved = errno ? errno : ENOMEM;
	closedir(d);
	fsutil_names_free(v, n);
	err_set(err, fsutil_errno_code(saved), "cannot list %s: %s", dir,
		strerror(saved));
	errno = saved;
	return fsutil_errno_code(saved);
}

int fsutil_name_digest(struct oci_digest *out, const char *alg,
		       const char *name)
{
	char s[OCI_DIGEST_MAX + 8];
	int n = snprintf(s, sizeof(s), "%s:%s", alg, name);

	if (n < 0 || (size_t)n >= sizeof(s))
		return ERR_INVALID;
	if (oci_digest_parse(out, s, NULL))
		return ERR_INVALID;
	if (strcmp(oci_digest_alg_name(out->alg), alg))
		return ERR_INVALID;
	return 0;
}

int fsutil_read_fd(char **out, size_t *len_out, int fd, size_t max,
		   const char *what, struct err *err)
{
	struct buf b;
	char tmp[65536];
	ssize_t r;

	*out = NULL;
	buf_init(&b, max);
	for (;;) {
		r = read(fd, tmp, sizeof(tmp));
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		if (buf_append(&b, tmp, (size_t)r)) {
			buf_release(&b);
			return err_set(err, ERR_TOO_LARGE,
				       "%s: larger than %zu bytes", what, max);
		}
	}
	if (r < 0) {
		int e = errno;

		buf_release(&b);
		return err_set(err, fsutil_errno_code(e), "read %s: %s", what,
			       strerror(e));
	}
	*out = buf_detach(&b, len_out);
	return 0;
}

int fsutil_read_file(char **out, size_t *len_out, const char *path, size_t max,
		     struct err *err)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	int rc;

	*out = NULL;
	if (fd < 0)
		return err_set(err, errno == ENOENT ? ERR_NOT_FOUND : ERR_FAIL,
			       "%s: %s", path, strerror(errno));
	rc = fsutil_read_fd(out, len_out, fd, max, path, err);
	close(fd);
	return rc;
}
