/* Margo DeviceCapabilitiesManifest (model/device-capabilities.linkml.yaml):
 * what an edge device says it offers, read from YAML or JSON.
 *
 *   apiVersion: device.margo.org/v1alpha1
 *   kind: DeviceCapabilitiesManifest
 *   properties: {id, vendor, modelNumber, serialNumber,
 *     roles: [Standalone Cluster | Standalone Device | Cluster Leader |
 * Gateway], resources: {cpu: {cores, architectures}, memory, storage,
 *                 peripherals: [{type, manufacturer, model}],
 *                 interfaces: [{type}]}}
 *
 * Every field above but manufacturer and model is required (the model's
 * DeviceResources). Quantities are margo_quantity_parse's; types are the
 * model's enums. A manifest that breaks a rule is ERR_INVALID with every
 * problem listed, one line each. */
#ifndef MIRROR_MARGO_DEVICE_H
#define MIRROR_MARGO_DEVICE_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "oci/err.h"

#define MARGO_DEVICE_API "device.margo.org/v1alpha1"
#define MARGO_DEVICE_KIND "DeviceCapabilitiesManifest"
#define MARGO_DEVICE_INPUT_MAX (64 * 1024)

/* "512Mi": digits (at most UINT64_MAX) and a binary unit Ki, Mi, Gi, Ti,
 * Pi or Ei; bytes = n << shift, compared without overflow. */
struct margo_quantity {
	uint64_t n;
	unsigned shift; /* 10 (Ki) .. 60 (Ei) */
};

/* 0, or ERR_INVALID (out unchanged) when s is no quantity. */
int margo_quantity_parse(struct margo_quantity *out, const char *s);
/* <0, 0, >0 as a's bytes are below, equal to or above b's. */
int margo_quantity_cmp(const struct margo_quantity *a,
		       const struct margo_quantity *b);

struct margo_device_peripheral {
	char *type, *manufacturer, *model; /* the latter two may be NULL */
};

struct margo_device {
	char *id, *vendor, *model_number, *serial_number;
	char **roles;
	size_t n_roles;
	double cores;
	char **architectures; /* as written */
	size_t n_architectures;
	char *memory, *storage; /* as written */
	struct margo_quantity mem, disk;
	struct margo_device_peripheral *peripherals;
	size_t n_peripherals;
	char **interfaces; /* types */
	size_t n_interfaces;
};

/* Read len bytes of YAML or JSON (name, may be NULL, prefixes messages)
 * into out (always initialised; release it). ERR_INVALID when it is no
 * valid manifest: err holds the first problem, *problems_out (optional;
 * a JSON array of one-line strings, the caller's) every one of them.
 * ERR_TOO_LARGE over MARGO_DEVICE_INPUT_MAX. */
int margo_device_parse(struct margo_device *out, json_t **problems_out,
		       const char *data, size_t len, const char *name,
		       struct err *err);
void margo_device_release(struct margo_device *d);

/* cores as a JSON integer when whole, else a real. */
json_t *margo_device_cores_json(double cores);

/* The manifest as JSON in the model's shape (only the fields above). */
json_t *margo_device_json(const struct margo_device *d);

/* One line of a device list: {name, id, architecture (the first,
 * canonical), architectures (canonical), cores, memory, storage}. */
json_t *margo_device_summary(const struct margo_device *d, const char *name);

/* The device stored under name (mirror/store/device.h), parsed.
 * ERR_NOT_FOUND when there is none; ERR_INVALID when its record is no
 * manifest (edited by hand). */
struct store;
int margo_device_load(struct margo_device *out, const struct store *s,
		      const char *name, struct err *err);

#endif
