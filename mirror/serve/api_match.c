/* GET /ocimirror/v1/devices, GET /ocimirror/v1/device, POST
 * /ocimirror/v1/match: what mirror/margo/match.h says, as JSON. */
#include <stdlib.h>
#include <string.h>

#include "mirror/margo/catalog.h"
#include "mirror/margo/device.h"
#include "mirror/margo/match.h"
#include "mirror/serve/api_match.h"
#include "mirror/serve/respond.h"
#include "mirror/store/device.h"
#include "oci/ref.h"

static enum MHD_Result send_json(struct req *r, struct MHD_Connection *c,
				 unsigned status, json_t *j)
{
	return respond_json_value(r, c, status, j);
}

static const char *arg(struct MHD_Connection *c, const char *key)
{
	const char *v =
	    MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, key);

	return v && *v ? v : NULL;
}

static enum MHD_Result device_error(struct req *r, struct MHD_Connection *c,
				    const char *name, const struct err *e)
{
	if (e->code == ERR_NOT_FOUND)
		return respond_error(r, c, 404, "NAME_UNKNOWN",
				     "device %.140s is not in the store", name);
	if (e->code == ERR_INVALID && !store_device_name_valid(name))
		return respond_error(r, c, 400, "NAME_INVALID", "%s", e->msg);
	return respond_error(r, c, 500, "UNKNOWN", "%s", e->msg);
}

enum MHD_Result api_devices(struct req *r, struct MHD_Connection *c)
{
	json_t *out = json_array();
	char **names = NULL;
	size_t n = 0;
	struct err e;

	err_clear(&e);
	if (store_device_list(&names, &n, r->srv->s, &e)) {
		json_decref(out);
		return respond_error(r, c, 500, "UNKNOWN", "devices: %s",
				     e.msg);
	}
	for (size_t i = 0; out && i < n; i++) {
		struct margo_device d;

		/* a record edited into something unreadable is left out */
		if (margo_device_load(&d, r->srv->s, names[i], &e))
			continue;
		json_array_append_new(out, margo_device_summary(&d, names[i]));
		margo_device_release(&d);
	}
	store_device_names_free(names, n);
	return send_json(r, c, 200, out);
}

enum MHD_Result api_device(struct req *r, struct MHD_Connection *c)
{
	const char *name = arg(c, "name");
	struct margo_device d;
	struct err e;

	if (!name)
		return respond_error(r, c, 400, "NAME_INVALID",
				     "the query needs name=DEVICE");
	err_clear(&e);
	if (margo_device_load(&d, r->srv->s, name, &e))
		return device_error(r, c, name, &e);
	{
		json_t *j = margo_device_json(&d);

		margo_device_release(&d);
		return send_json(r, c, 200, j);
	}
}

enum MHD_Result api_match(struct req *r, struct MHD_Connection *c)
{
	const char *repo = arg(c, "repo"), *tag = arg(c, "tag");
	const char *name = arg(c, "device");
	struct margo_device d;
	json_t *probs = NULL, *m = NULL;
	struct err e;
	int rc;

	if (strcmp(r->method, "POST"))
		return respond_error(r, c, 405, "UNSUPPORTED",
				     "%s not allowed here (POST)", r->method);
	if (r->body_too_large)
		return respond_error(r, c, 413, "SIZE_INVALID",
				     "device manifest larger than %d bytes",
				     API_MATCH_BODY_MAX);
	if (r->body_busy)
		return respond_unavailable(r, c, "request bodies over budget");
	if (!repo || !store_repo_valid(repo))
		return respond_error(r, c, 400, "NAME_INVALID",
				     "the query needs repo=REPOSITORY");
	if (tag && !oci_tag_valid(tag))
		return respond_error(r, c, 400, "TAG_INVALID",
				     "invalid tag \"%.130s\"", tag);
	err_clear(&e);
	if (name) {
		if (margo_device_load(&d, r->srv->s, name, &e))
			return device_error(r, c, name, &e);
	} else {
		rc = margo_device_parse(&d, &probs, r->body.data, r->body.len,
					NULL, &e);
		if (rc) {
			if (rc != ERR_INVALID || !json_array_size(probs)) {
				json_decref(probs);
				probs = json_pack("[s]", e.msg);
			}
			return send_json(r, c, 400,
					 json_pack("{s:o}", "errors", probs));
		}
		json_decref(probs);
	}
	rc = margo_match_stored(&m, r->srv->s, repo, tag, &d, name, &e);
	margo_device_release(&d);
	if (rc == ERR_NOT_FOUND)
		return respond_error(r, c, 404, "NAME_UNKNOWN", "%s", e.msg);
	if (rc)
		return respond_error(r, c, rc == ERR_INVALID ? 400 : 500,
				     "UNKNOWN", "%s", e.msg);
	return send_json(r, c, 200, m);
}
