/* The configuration endpoints of the catalog (extensions, read-only):
 *
 *   GET  /ocimirror/v1/config?repo=R[&tag=T]&profile=ID
 *        margo_config_json of the package's profile
 *   POST /ocimirror/v1/deploy?repo=R[&tag=T]&profile=ID&deviceId=D
 *        body (JSON, at most API_DEPLOY_BODY_MAX bytes)
 *        {"values": {PARAM: VALUE}, "name": N, "namespace": NS}
 *        200 application/yaml: the ApplicationDeployment (margo_deploy_build,
 *        the function `app deploy` calls), or 400
 *        {"errors":[{parameter, setting, rule, message}]}.
 * Without tag: the highest version. Values are strings, numbers, booleans
 * or arrays of those; a number's text is its JSON value (send a string
 * to keep "1.50"'s precision). */
#ifndef MIRROR_SERVE_API_DEPLOY_H
#define MIRROR_SERVE_API_DEPLOY_H

#include "mirror/serve/internal.h"

#define API_DEPLOY_BODY_MAX (64 * 1024)

enum MHD_Result api_config(struct req *r, struct MHD_Connection *c);
enum MHD_Result api_deploy(struct req *r, struct MHD_Connection *c,
			   const char *method);

#endif
