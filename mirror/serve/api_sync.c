/* GET /ocimirror/v1/sync: the store's record of the last sync run. */
#include "mirror/serve/api_sync.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mirror/serve/respond.h"

void api_sync_time(char *out, size_t cap, int64_t t)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (!gmtime_r(&tt, &tm) ||
	    !strftime(out, cap, "%Y-%m-%dT%H:%M:%SZ", &tm))
		snprintf(out, cap, "1970-01-01T00:00:00Z");
}

static json_t *time_json(int64_t t)
{
	char s[64];

	api_sync_time(s, sizeof(s), t);
	return json_string(s);
}

char *api_sync_json(const struct store_sync_status *st)
{
	const struct store_sync_run *l = &st->last;
	json_t *last = json_null(), *body, *fl;
	char *text;

	if (st->has_run) {
		fl = json_array();
		for (size_t i = 0; fl && i < l->n_failures; i++)
			json_array_append_new(fl, json_string(l->failures[i]));
		last = json_pack(
		    "{s:o,s:o,s:s,s:I,s:I,s:I,s:I,s:I,s:o,s:I}", "started",
		    time_json(l->started), "finished", time_json(l->finished),
		    "result", store_sync_result_name(l->result), "added",
		    (json_int_t)l->added, "updated", (json_int_t)l->updated,
		    "unchanged", (json_int_t)l->unchanged, "pruned",
		    (json_int_t)l->pruned, "failed", (json_int_t)l->failed,
		    "failures", fl, "failuresOmitted",
		    (json_int_t)l->failures_omitted);
	}
	body = json_pack("{s:o,s:o}", "last", last, "lastSuccess",
			 st->last_success ? time_json(st->last_success)
					  : json_null());
	text = body ? json_dumps(body, JSON_COMPACT) : NULL;
	json_decref(body);
	return text;
}

enum MHD_Result api_sync(struct req *r, struct MHD_Connection *c)
{
	struct store_sync_status *st = malloc(sizeof(*st));
	enum MHD_Result ret;
	struct err e;
	char *text;

	if (!st)
		return respond_unavailable(r, c, "sync status: out of memory");
	if (store_sync_status_get(st, r->srv->s, &e)) {
		free(st);
		return respond_error(r, c, 500, "UNKNOWN", "%s", e.msg);
	}
	text = api_sync_json(st);
	free(st);
	if (!text)
		return respond_unavailable(r, c, "sync status: out of memory");
	ret = respond_json(r, c, 200, "application/json", text, strlen(text),
			   NULL);
	free(text);
	return ret;
}
