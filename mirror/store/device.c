/* STORE/devices/<name>.json: store-wide state records of the backend
 * (backend.h), replaced atomically. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mirror/store/backend.h"
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

/* "devices/<name>.json" of a valid name */
static void device_key(char *dst, size_t cap, const char *name)
{
	snprintf(dst, cap, "devices/%s.json", name);
}

int store_device_put(struct store *s, const char *name, const char *json,
		     struct err *err)
{
	char key[STORE_DEVICE_NAME_MAX + 16];
	int rc;

	if (!store_device_name_valid(name))
		return bad_name(err, name);
	if (strlen(json) > STORE_DEVICE_MAX)
		return err_set(err, ERR_TOO_LARGE,
			       "device %s: record larger than %d bytes", name,
			       STORE_DEVICE_MAX);
	device_key(key, sizeof(key), name);
	rc = s->ops->state_put(s->be, key, json, err);
	if (rc)
		err_wrap(err, "device %s: ", name);
	return rc;
}

int store_device_get(char **out, size_t *len_out, const struct store *s,
		     const char *name, struct err *err)
{
	char key[STORE_DEVICE_NAME_MAX + 16];
	int rc;

	*out = NULL;
	if (!store_device_name_valid(name))
		return bad_name(err, name);
	device_key(key, sizeof(key), name);
	rc = s->ops->state_get(out, len_out, s->be, key, STORE_DEVICE_MAX, err);
	if (rc == ERR_NOT_FOUND)
		err_set(err, ERR_NOT_FOUND, "device %s is not in the store",
			name);
	return rc;
}

int store_device_delete(struct store *s, const char *name, struct err *err)
{
	char key[STORE_DEVICE_NAME_MAX + 16];
	int rc;

	if (!store_device_name_valid(name))
		return bad_name(err, name);
	device_key(key, sizeof(key), name);
	rc = s->ops->state_delete(s->be, key, err);
	if (rc == ERR_NOT_FOUND)
		err_set(err, ERR_NOT_FOUND, "device %s is not in the store",
			name);
	return rc;
}

static int by_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int store_device_list(char ***out, size_t *n_out, const struct store *s,
		      struct err *err)
{
	char **v = NULL;
	size_t n = 0, k = 0;
	int rc;

	*out = NULL;
	*n_out = 0;
	rc = s->ops->state_list(&v, &n, s->be, "devices", err);
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
	fsutil_names_free(v, n);
}
