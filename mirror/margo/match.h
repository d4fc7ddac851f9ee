/* Matching an application package's deployment profiles against a device
 * (MARGO.md: a profile's requiredResources against a
 * DeviceCapabilitiesManifest). A profile fits when the device has
 *   - one of the profile's cpu.architectures (none named: any), compared
 *     canonically (margo_arch_canonical: x86_64 is amd64, aarch64 arm64);
 *   - at least cpu.cores cores, memory and storage (as bytes);
 *   - each peripheral named, of that type and, when the profile names
 *     them, that manufacturer and model (case-insensitive);
 *   - each interface type named;
 *   - a role that runs the profile's type: Standalone Cluster or Cluster
 *     Leader for helm.v3 (helm), Standalone Device for compose (the
 *     model's DeviceRole); other types ask for no role.
 * A profile without requiredResources asks for nothing but the role. */
#ifndef MIRROR_MARGO_MATCH_H
#define MIRROR_MARGO_MATCH_H

#include <jansson.h>

#include "mirror/margo/description.h"
#include "mirror/margo/device.h"

/* Why p does not fit d: a JSON array of one-line strings, each naming the
 * requirement and what the device has ("memory: needs 512Mi, the device
 * has 256Mi"); empty when it fits. NULL only when out of memory. */
json_t *margo_match_profile(const struct margo_profile *p,
			    const struct margo_device *d);

/* {device: {id, name}, profiles: [{id, type, fits, reasons}]} for every
 * profile of app; name (the stored device's, may be NULL: null). */
json_t *margo_match(const struct margo_app *app, const struct margo_device *d,
		    const char *name);

/* The package stored at repo:tag (tag NULL: the highest version,
 * margo_catalog_get) matched against d: margo_match's object with
 * repository and tag added, into *out. margo_catalog_get's errors. */
struct store;
int margo_match_stored(json_t **out, const struct store *s, const char *repo,
		       const char *tag, const struct margo_device *d,
		       const char *name, struct err *err);

#endif
