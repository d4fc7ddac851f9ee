/* The device endpoints of the site catalog (an extension, read-only;
 * devices are added with `ocimirror app device add`):
 *   GET  /ocimirror/v1/devices       [{name, id, architecture,
 *                                      architectures, cores, memory, storage}]
 *   GET  /ocimirror/v1/device?name=N the stored manifest (JSON)
 *   POST /ocimirror/v1/match?repo=R[&tag=T][&device=NAME]
 *        the package's profiles against the stored device, or without
 *        device= against the manifest in the body (YAML or JSON, at most
 *        API_MATCH_BODY_MAX bytes): {repository, tag, device: {id, name},
 *        profiles: [{id, type, fits, reasons}]}; 400 {errors: [STRING]}
 *        when the body is no DeviceCapabilitiesManifest. */
#ifndef MIRROR_SERVE_API_MATCH_H
#define MIRROR_SERVE_API_MATCH_H

#include "mirror/serve/internal.h"

#define API_MATCH_BODY_MAX (64 * 1024)

enum MHD_Result api_devices(struct req *r, struct MHD_Connection *c);
enum MHD_Result api_device(struct req *r, struct MHD_Connection *c);
enum MHD_Result api_match(struct req *r, struct MHD_Connection *c);

#endif
