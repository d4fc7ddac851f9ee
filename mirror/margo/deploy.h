/* The Margo ApplicationDeployment a user's answers make, as the model's
 * application-deployment.linkml.yaml defines it:
 *
 *   apiVersion: application.margo.org/v1alpha1
 *   kind: ApplicationDeployment
 *   metadata:
 *     annotations: {applicationId: DESCRIPTION'S metadata.id, id: UUID v4}
 *     name, namespace, deviceId
 *   spec:
 *     deploymentProfile: {type, components: [{name, properties: {...}}]}
 *     parameters: {NAME: {value, targets: [{pointer, components}]}}
 *
 * One function builds it for the CLI (`app deploy`) and for serve's POST
 * /ocimirror/v1/deploy, so the same answers give the same document but
 * for metadata.id. Emitted as YAML by hand, deterministically: keys in a
 * fixed order (parameters in the description's order), every string
 * double-quoted with escapes, integers, doubles and booleans of typed
 * parameters plain. */
#ifndef MIRROR_MARGO_DEPLOY_H
#define MIRROR_MARGO_DEPLOY_H

#include <stddef.h>

#include "mirror/margo/config.h"
#include "oci/err.h"

#define MARGO_DEPLOY_API_VERSION "application.margo.org/v1alpha1"
#define MARGO_DEVICE_ID_MAX 256

/* One answer: parameter name and value (owned by the caller). */
struct margo_answer {
	const char *parameter;
	struct margo_value value;
};

struct margo_deploy_req {
	const char *profile;   /* deployment profile id */
	const char *device_id; /* required */
	const char *name;      /* NULL: the application id */
	const char *ns;	       /* NULL: the application id */
	const struct margo_answer *answers;
	size_t n_answers;
	const char *uuid; /* NULL: a fresh one (tests pass their own) */
};

/* A fresh random UUID v4 (getrandom), 36 characters and a NUL. */
int margo_uuid_v4(char out[37], struct err *err);

/* 1 when s is a Kubernetes name (RFC 1123 label: [a-z0-9]([-a-z0-9]*
 * [a-z0-9])?, at most 63 characters): metadata.name and namespace. */
int margo_k8s_name_ok(const char *s);

/* Nonzero when s matches the model's HierarchicalDeviceId:
 * ^[A-Za-z0-9._~-]+(\/[A-Za-z0-9._~-]+)*(\/\*)?$ */
int margo_device_id_ok(const char *s);

/* Build the ApplicationDeployment for app and req into *yaml_out (free
 * it; *len_out its length). Defaults are the parameters' values; answers
 * replace them. Every invalid answer (unknown parameter, immutable
 * setting changed, a rule broken) and every setting left without a value
 * it needs is appended to errs, and then the result is ERR_INVALID with
 * no document. Other ERR_INVALID (bad device id, name, namespace, the
 * description's configuration unusable) and ERR_NOT_FOUND (no such
 * profile) have err set and errs untouched. */
int margo_deploy_build(char **yaml_out, size_t *len_out,
		       struct margo_verrs *errs, const struct margo_app *app,
		       const struct margo_deploy_req *req, struct err *err);

#endif
