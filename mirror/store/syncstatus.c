/* The last sync run's record: struct store_sync_run as JSON in
 * STORE/sync/ through the backend's store-wide records. */
#include "mirror/store/syncstatus.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mirror/store/backend.h"

#define KEY_LAST "sync/last.json"
#define KEY_SUCCESS "sync/last-success.json"
/* A record of FAILURES_MAX lines, each escaped at worst 6 bytes a byte. */
#define STATUS_RECORD_MAX (256 * 1024)

static const char *results[] = {"ok", "partial", "failed"};

const char *store_sync_result_name(enum store_sync_result r)
{
	return (unsigned)r < 3 ? results[r] : "failed";
}

void store_sync_run_init(struct store_sync_run *r)
{
	memset(r, 0, sizeof(*r));
	r->result = STORE_SYNC_OK;
}

/* Copy at most STORE_SYNC_FAILURE_MAX - 1 bytes, "..." ended when cut,
 * never inside a UTF-8 sequence. */
static void line_copy(char *dst, const char *src)
{
	size_t n = strlen(src), max = STORE_SYNC_FAILURE_MAX - 1;

	if (n <= max) {
		memcpy(dst, src, n + 1);
		return;
	}
	n = max - 3;
	while (n > 0 && ((unsigned char)src[n] & 0xC0) == 0x80)
		n--;
	memcpy(dst, src, n);
	memcpy(dst + n, "...", 4);
}

void store_sync_run_failure_add(struct store_sync_run *r, const char *line)
{
	if (r->n_failures >= STORE_SYNC_FAILURES_MAX) {
		r->failures_omitted++;
		return;
	}
	line_copy(r->failures[r->n_failures++], line);
}

static int put_json(struct store *s, const char *key, json_t *j,
		    struct err *err)
{
	char *text = j ? json_dumps(j, JSON_COMPACT) : NULL;
	int rc;

	json_decref(j);
	if (!text)
		return err_set(err, ERR_FAIL, "out of memory");
	rc = s->ops->state_put(s->be, key, text, err);
	free(text);
	return rc ? err_wrap(err, "record the sync run in %s/%s: ", s->root,
			     key)
		  : 0;
}

int store_sync_status_put(struct store *s, const struct store_sync_run *run,
			  struct err *err)
{
	json_t *j, *fl = json_array();
	int rc;

	for (size_t i = 0; fl && i < run->n_failures; i++)
		json_array_append_new(fl, json_string(run->failures[i]));
	j = json_pack(
	    "{s:I,s:I,s:s,s:I,s:I,s:I,s:I,s:I,s:o,s:I}", "started",
	    (json_int_t)run->started, "finished", (json_int_t)run->finished,
	    "result", store_sync_result_name(run->result), "added",
	    (json_int_t)run->added, "updated", (json_int_t)run->updated,
	    "unchanged", (json_int_t)run->unchanged, "pruned",
	    (json_int_t)run->pruned, "failed", (json_int_t)run->failed,
	    "failures", fl, "failuresOmitted",
	    (json_int_t)run->failures_omitted);
	rc = put_json(s, KEY_LAST, j, err);
	if (!rc && run->result == STORE_SYNC_OK)
		rc = put_json(
		    s, KEY_SUCCESS,
		    json_pack("{s:I}", "finished", (json_int_t)run->finished),
		    err);
	return rc;
}

/* The record at key parsed, or NULL: *rc 0 when absent, else the error. */
static json_t *get_json(int *rc, const struct store *s, const char *key,
			struct err *err)
{
	char *text = NULL;
	size_t len = 0;
	json_t *j;
	json_error_t je;

	*rc =
	    s->ops->state_get(&text, &len, s->be, key, STATUS_RECORD_MAX, err);
	if (*rc == ERR_NOT_FOUND) {
		*rc = 0;
		return NULL;
	}
	if (*rc) {
		err_wrap(err, "sync record %s: ", key);
		return NULL;
	}
	j = json_loadb(text, len, 0, &je);
	free(text);
	if (!json_is_object(j)) {
		json_decref(j);
		*rc = err_set(err, ERR_INVALID,
			      "sync record %s: not a JSON object", key);
		return NULL;
	}
	return j;
}

/* A non-negative integer member; -1 when absent or of another type. */
static json_int_t num(const json_t *o, const char *name)
{
	const json_t *v = json_object_get(o, name);

	return json_is_integer(v) && json_integer_value(v) >= 0
		   ? json_integer_value(v)
		   : -1;
}

static int parse_last(struct store_sync_run *r, const json_t *j,
		      struct err *err)
{
	static const char *names[] = {"started", "finished",  "added",
				      "updated", "unchanged", "failed"};
	json_int_t v[6];
	const char *res = json_string_value(json_object_get(j, "result"));
	const json_t *fl = json_object_get(j, "failures"), *line;
	size_t i;

	store_sync_run_init(r);
	for (i = 0; i < 6; i++)
		if ((v[i] = num(j, names[i])) < 0)
			return err_set(err, ERR_INVALID,
				       "sync record " KEY_LAST
				       ": \"%s\" is not a count or time",
				       names[i]);
	r->started = v[0];
	r->finished = v[1];
	r->added = (uint64_t)v[2];
	r->updated = (uint64_t)v[3];
	r->unchanged = (uint64_t)v[4];
	r->failed = (uint64_t)v[5];
	r->pruned = num(j, "pruned") > 0 ? (uint64_t)num(j, "pruned") : 0;
	r->failures_omitted = num(j, "failuresOmitted") > 0
				  ? (uint64_t)num(j, "failuresOmitted")
				  : 0;
	for (i = 0; res && i < 3 && strcmp(res, results[i]); i++)
		;
	if (!res || i == 3)
		return err_set(err, ERR_INVALID,
			       "sync record " KEY_LAST
			       ": \"result\" is not ok, partial or failed");
	r->result = (enum store_sync_result)i;
	if (fl && !json_is_array(fl))
		return err_set(err, ERR_INVALID,
			       "sync record " KEY_LAST
			       ": \"failures\" is not an array");
	json_array_foreach (fl, i, line) {
		if (!json_is_string(line))
			return err_set(err, ERR_INVALID,
				       "sync record " KEY_LAST
				       ": failures[%zu] is not a string",
				       i);
		store_sync_run_failure_add(r, json_string_value(line));
	}
	return 0;
}

int store_sync_status_get(struct store_sync_status *out, const struct store *s,
			  struct err *err)
{
	json_t *j;
	int rc;

	memset(out, 0, sizeof(*out));
	j = get_json(&rc, s, KEY_LAST, err);
	if (j) {
		rc = parse_last(&out->last, j, err);
		json_decref(j);
		out->has_run = !rc;
		if (rc)
			store_sync_run_init(&out->last);
	}
	if (rc)
		return rc;
	j = get_json(&rc, s, KEY_SUCCESS, err);
	if (j) {
		json_int_t f = num(j, "finished");

		json_decref(j);
		if (f < 0)
			return err_set(err, ERR_INVALID,
				       "sync record " KEY_SUCCESS
				       ": \"finished\" is not a time");
		out->last_success = f;
	}
	return rc;
}
