/* Devices kept in the store: one small record per device, the manifest as
 * JSON, at STORE/devices/<name>.json: store-wide state records of the
 * backend (backend.h state_*), replaced atomically (STORE/tmp, fsync,
 * rename). The store does not read the manifests; mirror/margo
 * does. Names are validated before they become paths. */
#ifndef MIRROR_STORE_DEVICE_H
#define MIRROR_STORE_DEVICE_H

#include <stddef.h>

#include "mirror/store/store.h"
#include "oci/err.h"

#define STORE_DEVICE_NAME_MAX 128
#define STORE_DEVICE_MAX (64 * 1024) /* bytes of one record */

/* 1 when name may name a device: 1 to 128 of [A-Za-z0-9._-], a letter
 * or digit first. */
int store_device_name_valid(const char *name);

/* Write (or replace) device name's record. ERR_INVALID for a bad name,
 * ERR_TOO_LARGE over STORE_DEVICE_MAX, ERR_FAIL naming the path. */
int store_device_put(struct store *s, const char *name, const char *json,
		     struct err *err);
/* The record (caller frees *out, NUL-ended). ERR_NOT_FOUND when absent. */
int store_device_get(char **out, size_t *len_out, const struct store *s,
		     const char *name, struct err *err);
/* ERR_NOT_FOUND when absent. */
int store_device_delete(struct store *s, const char *name, struct err *err);
/* The names, sorted (free with store_device_names_free); none when no
 * device was ever added. */
int store_device_list(char ***out, size_t *n_out, const struct store *s,
		      struct err *err);
void store_device_names_free(char **v, size_t n);

#endif
