/* GET /ocimirror/v1/config and POST /ocimirror/v1/deploy; see
 * api_deploy.h. */
#include "mirror/serve/api_deploy.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "mirror/margo/catalog.h"
#include "mirror/margo/config.h"
#include "mirror/margo/deploy.h"
#include "mirror/serve/respond.h"

static const char *arg(struct MHD_Connection *c, const char *key)
{
	return MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, key);
}

/* {"errors":[{parameter, setting, rule, message}]} with status. */
static enum MHD_Result errors_json(struct req *r, struct MHD_Connection *c,
				   unsigned status,
				   const struct margo_verrs *errs,
				   const char *message)
{
	json_t *a = json_array(), *body;
	enum MHD_Result ret;
	char *text;

	for (size_t i = 0; errs && i < errs->n; i++) {
		const struct margo_verr *v = &errs->v[i];

		json_array_append_new(
		    a,
		    json_pack("{s:s,s:s?,s:s,s:s}", "parameter", v->parameter,
			      "setting", v->setting[0] ? v->setting : NULL,
			      "rule", v->rule, "message", v->message));
	}
	if (message)
		json_array_append_new(
		    a, json_pack("{s:n,s:n,s:s,s:s}", "parameter", "setting",
				 "rule", "request", "message", message));
	body = json_pack("{s:o}", "errors", a);
	text = body ? json_dumps(body, JSON_COMPACT) : NULL;
	json_decref(body);
	if (!text)
		return MHD_NO;
	ret = respond_json(r, c, status, "application/json", text, strlen(text),
			   NULL);
	free(text);
	return ret;
}

static unsigned status_of(int code)
{
	return code == ERR_NOT_FOUND   ? 404
	       : code == ERR_INVALID   ? 400
	       : code == ERR_TOO_LARGE ? 413
				       : 500;
}

/* The package of ?repo=&tag=, parsed (release it when 0). */
static int package(struct margo_app *app, struct req *r,
		   struct MHD_Connection *c, struct err *err)
{
	const char *repo = arg(c, "repo"), *tag = arg(c, "tag");
	json_t *entry = NULL;
	int rc;

	if (!repo || !*repo)
		return err_set(err, ERR_INVALID, "repo= is required");
	if (!arg(c, "profile") || !*arg(c, "profile"))
		return err_set(err, ERR_INVALID, "profile= is required");
	rc = margo_catalog_get(app, &entry, r->srv->s, repo,
			       tag && *tag ? tag : NULL, err);
	json_decref(entry);
	if (rc)
		margo_app_release(app);
	return rc;
}

enum MHD_Result api_config(struct req *r, struct MHD_Connection *c)
{
	struct margo_config cfg;
	struct margo_app app;
	enum MHD_Result ret;
	struct err e;
	json_t *j;
	char *text;
	int rc;

	err_clear(&e);
	if ((rc = package(&app, r, c, &e)))
		return errors_json(r, c, status_of(rc), NULL, e.msg);
	if ((rc = margo_config_load(&cfg, &app, arg(c, "profile"), &e))) {
		margo_app_release(&app);
		return errors_json(
		    r, c, rc == ERR_INVALID ? 422 : status_of(rc), NULL, e.msg);
	}
	j = margo_config_json(&cfg);
	text = j ? json_dumps(j, JSON_COMPACT) : NULL;
	json_decref(j);
	margo_config_release(&cfg);
	margo_app_release(&app);
	if (!text)
		return MHD_NO;
	ret = respond_json(r, c, 200, "application/json", text, strlen(text),
			   NULL);
	free(text);
	return ret;
}

static int answers_of(struct margo_answer **out, size_t *n_out,
		      const json_t *values, struct err *err)
{
	const char *k;
	json_t *v;

	*out = NULL;
	*n_out = 0;
	if (!values)
		return 0;
	if (!json_is_object(values))
		return err_set(err, ERR_INVALID, "values must be an object");
	if (json_object_size(values) > 1024)
		return err_set(err, ERR_TOO_LARGE, "more than 1024 values");
	*out = calloc(json_object_size(values) + 1, sizeof(**out));
	if (!*out)
		return err_set(err, ERR_FAIL, "out of memory");
	json_object_foreach ((json_t *)values, k, v) {
		struct margo_answer *a = &(*out)[*n_out];

		a->parameter = k;
		if (margo_value_from_json(&a->value, v, err))
			return err_set(err, err->code, "values.%.100s: %s", k,
				       err->msg);
		(*n_out)++;
	}
	return 0;
}

static void answers_free(struct margo_answer *a, size_t n)
{
	for (size_t i = 0; i < n; i++)
		margo_value_release(&a[i].value);
	free(a);
}

static const char *opt_str(const json_t *body, const char *key, int *bad)
{
	json_t *v = json_object_get(body, key);

	if (!v || json_is_null(v))
		return NULL;
	if (!json_is_string(v)) {
		*bad = 1;
		return NULL;
	}
	return json_string_value(v);
}

enum MHD_Result api_deploy(struct req *r, struct MHD_Connection *c,
			   const char *method)
{
	struct margo_deploy_req req;
	struct margo_answer *answers = NULL;
	struct margo_verrs errs;
	struct margo_app app;
	json_t *body = NULL;
	json_error_t je;
	enum MHD_Result ret;
	struct err e;
	char *yaml = NULL;
	size_t n = 0, len = 0;
	int rc, bad = 0;

	if (strcmp(method, "POST"))
		return respond_error(r, c, 405, "UNSUPPORTED",
				     "%s not allowed here (POST)", method);
	if (r->body_busy)
		return respond_unavailable(r, c, "request bodies over budget");
	if (r->body_too_large)
		return errors_json(r, c, 413, NULL, "request body over 64 KiB");
	err_clear(&e);
	if (r->body.len) {
		body = json_loadb(r->body.data, r->body.len, 0, &je);
		if (!body || !json_is_object(body)) {
			json_decref(body);
			return errors_json(r, c, 400, NULL,
					   "the body is not a JSON object");
		}
	}
	memset(&req, 0, sizeof(req));
	req.profile = arg(c, "profile");
	req.device_id = arg(c, "deviceId");
	req.name = opt_str(body, "name", &bad);
	req.ns = opt_str(body, "namespace", &bad);
	if (bad) {
		json_decref(body);
		return errors_json(r, c, 400, NULL,
				   "name and namespace must be strings");
	}
	if ((rc = answers_of(&answers, &n, json_object_get(body, "values"),
			     &e))) {
		answers_free(answers, n);
		json_decref(body);
		return errors_json(r, c, status_of(rc), NULL, e.msg);
	}
	if ((rc = package(&app, r, c, &e))) {
		answers_free(answers, n);
		json_decref(body);
		return errors_json(r, c, status_of(rc), NULL, e.msg);
	}
	req.answers = answers;
	req.n_answers = n;
	margo_verrs_init(&errs);
	rc = margo_deploy_build(&yaml, &len, &errs, &app, &req, &e);
	if (rc == ERR_INVALID && errs.n)
		ret = errors_json(r, c, 400, &errs, NULL);
	else if (rc)
		ret = errors_json(r, c, status_of(rc), NULL, e.msg);
	else
		ret = respond_json(r, c, 200, "application/yaml", yaml, len,
				   NULL);
	free(yaml);
	margo_verrs_release(&errs);
	margo_app_release(&app);
	answers_free(answers, n);
	json_decref(body);
	return ret;
}
