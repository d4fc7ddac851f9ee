/* STORE/devices/<name>.json: small records, replaced by rename. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mirror/store/device.h"
#include "mirror/store/fsutil.h"

int store_device_name_valid(const char *name)
{
	size_t n = strlen(name);

	if (!n || n > STORE_DEVICE_NAME_MAX)
		return 0;
	for (size_t i = 0; i < n; i++) {
		char c = name[i];
		int alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			    (c >= '0' && c <= '9');

		if (!alnum && (!i || (c != '.' && c != '_' && c != '-')))
			return 0;
	}
	return 1;
}

static int bad_name(struct err *err, const char *name)
{
	return err_set(err, ERR_INVALID,
		       "invalid device name \"%.140s\" (1 to %d letters, "
		       "digits, '.', '_' or '-', a letter or digit first)",
		       name, STORE_DEVICE_NAME_MAX);
}

int store_device_put(struct store *s, const char *name, const char *json,
		     struct err *err)
{
	char *dir = NULL, *dst = NULL, *tmp = NULL;
	size_t n = strlen(json);
	int fd = -1, rc = 0;

	if (!store_device_name_valid(name))
		return bad_name(err, name);
	if (n > STORE_DEVICE_MAX)
		return err_set(err, ERR_TOO_LARGE,
			       "device %s: record larger than %d bytes", name,
			       STORE_DEVICE_MAX);
	dir = fsutil_pathf("%s/devices", s->root);
	dst = fsutil_pathf("%s/devices/%s.json", s->root, name);
	tmp = fsutil_pathf("%s/tmp/device-XXXXXX", s->root);
	if (!dir || !dst || !tmp) {
		rc = err_set(err, ERR_FAIL, "out of memory");
		goto out;
	}
	if ((rc = fsutil_mkdirs(dir, err)))
		goto out;
	{
		char *tdir = fsutil_pathf("%s/tmp", s->root);

		rc = tdir ? fsutil_mkdirs(tdir, err)
			  : err_set(err, ERR_FAIL, "out of memory");
		free(tdir);
		if (rc)
			goto out;
	}
	fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0) {
		rc = err_set(err, ERR_FAIL, "create %s: %s", tmp,
			     strerror(errno));
		tmp[0] = '\0';
		goto out;
	}
	if (fchmod(fd, 0644) || write(fd, json, n) != (ssize_t)n || fsync(fd)) {
		rc = err_set(err, ERR_FAIL, "write %s: %s", tmp,
			     strerror(errno));
		goto out;
	}
	if (rename(tmp, dst)) {
		rc = err_set(err, ERR_FAIL, "rename %s: %s", dst,
			     strerror(errno));
		goto out;
	}
	tmp[0] = '\0';
	{
		int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

		if (dfd >= 0) {
			fsync(dfd); /* the rename itself survives a crash */
			close(dfd);
		}
	}
out:
	if (fd >= 0)
		close(fd);
	if (tmp && tmp[0])
		unlink(tmp);
	free(tmp);
	free(dst);
	free(dir);
	return rc;
}

int store_device_get(char **out, size_t *len_out, const struct store *s,
		     const char *name, struct err *err)
{
	char *p;
	int rc;

	*out = NULL;
	if (!store_device_name_valid(name))
		return bad_name(err, name);
	p = fsutil_pathf("%s/devices/%s.json", s->root, name);
	if (!p)
		return err_set(err, ERR_FAIL, "out of memory");
	rc = fsutil_read_file(out, len_out, p, STORE_DEVICE_MAX, err);
	if (rc == ERR_NOT_FOUND)
		err_set(err, ERR_NOT_FOUND, "device %s is not in the store",
			name);
	free(p);
	return rc;
}

int store_device_delete(struct store *s, const char *name, struct err *err)
{
	char *p;
	int rc = 0;

	if (!store_device_name_valid(name))
		return bad_name(err, name);
	p = fsutil_pathf("%s/devices/%s.json", s->root, name);
	if (!p)
		return err_set(err, ERR_FAIL, "out of memory");
	if (unlink(p))
		rc = errno == ENOENT
			 ? err_set(err, ERR_NOT_FOUND,
				   "device %s is not in the store", name)
			 : err_set(err, ERR_FAIL, "remove %s: %s", p,
				   strerror(errno));
	free(p);
	return rc;
}

static int by_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int store_device_list(char ***out, size_t *n_out, const struct store *s,
		      struct err *err)
{
	char *dir = fsutil_pathf("%s/devices", s->root);
	char **v = NULL;
	size_t n = 0, k = 0;
	int rc;

	*out = NULL;
	*n_out = 0;
	if (!dir)
		return err_set(err, ERR_FAIL, "out of memory");
	rc = fsutil_names_list(&v, &n, dir, err);
	free(dir);
	if (rc)
		return rc;
	for (size_t i = 0; i < n; i++) {
		size_t len = strlen(v[i]);

		if (len > 5 && !strcmp(v[i] + len - 5, ".json")) {
			v[i][len - 5] = '\0';
			if (store_device_name_valid(v[i])) {
				v[k++] = v[i];
				continue;
			}
		}
		free(v[i]);
	}
	if (k)
		qsort(v, k, sizeof(*v), by_name);
	*out = v;
	*n_out = k;
	return 0;
}

void store_device_names_free(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}
