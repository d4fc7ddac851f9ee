#include "mirror/inventory.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mirror/bundle_format.h"
#include "mirror/store/walk.h"
#include "oci/digest.h"

static int inv_tag(void *ctx, const char *repo, const char *tag,
		   const struct store_ref *ref)
{
	json_t *tags = ctx, *r;

	if (!tag)
		return 0;
	r = json_object_get(tags, repo);
	if (!r) {
		r = json_object();
		json_object_set_new(tags, repo, r);
	}
	json_object_set_new(r, tag, json_string(ref->digest.str));
	return 0;
}

struct inv_blobs {
	json_t *blobs;
	size_t *n;
};

static int inv_blob(void *ctx, const struct oci_digest *d, int64_t size)
{
	struct inv_blobs *ib = ctx;

	(void)size;
	json_array_append_new(ib->blobs, json_string(d->str));
	(*ib->n)++;
	return 0;
}

int inventory_write(const struct store *s, size_t *blobs_out, const char *path,
		    struct err *err)
{
	json_t *blobs = json_array(), *tags = json_object(), *j;
	struct inv_blobs ib = {blobs, blobs_out};
	char tmp[4300], ts[32];
	int rc = 0;

	*blobs_out = 0;
	rc = store_blobs_each(s, inv_blob, &ib, err);
	if (!rc)
		rc = walk_tags(s, NULL, inv_tag, tags, err);
	if (rc) {
		json_decref(blobs);
		json_decref(tags);
		return err_wrap(err, "inventory %s: ", path);
	}
	j = json_pack("{s:s,s:s,s:s,s:o,s:o}", "schema",
		      "ocimirror-inventory/1", "tool", BUNDLE_TOOL_VERSION,
		      "created", bundle_now_iso(ts, sizeof(ts)), "blobs", blobs,
		      "tags", tags);
	snprintf(tmp, sizeof(tmp), "%s.tmp-%d", path, (int)getpid());
	if (!j || json_dump_file(j, tmp, JSON_COMPACT | JSON_SORT_KEYS) ||
	    rename(tmp, path)) {
		rc = err_set(err, ERR_FAIL, "write %s: %s", path,
			     strerror(errno));
		unlink(tmp);
	}
	json_decref(j);
	return rc;
}

int inventory_load(struct dset *out, char **created_out, const char *path,
		   struct err *err)
{
	json_error_t je;
	json_t *j = json_load_file(path, 0, &je), *b, *v;
	size_t i;

	if (!j)
		return err_set(err, ERR_INVALID, "inventory %s:%d: %s", path,
			       je.line, je.text);
	b = json_object_get(j, "blobs");
	if (!json_is_array(b)) {
		json_decref(j);
		return err_set(err, ERR_INVALID,
			       "inventory %s: no \"blobs\" list (made by "
			       "`ocimirror inventory`?)",
			       path);
	}
	json_array_foreach (b, i, v) {
		struct oci_digest d;
		if (!json_is_string(v) ||
		    oci_digest_parse(&d, json_string_value(v), NULL)) {
			json_decref(j);
			return err_set(
			    err, ERR_INVALID,
			    "inventory %s: blobs[%zu] is not a digest", path,
			    i);
		}
		if (dset_add(out, d.str, err)) {
			json_decref(j);
			return err_wrap(err, "inventory %s: ", path);
		}
	}
	if (created_out && json_is_string(json_object_get(j, "created")))
		*created_out =
		    strdup(json_string_value(json_object_get(j, "created")));
	json_decref(j);
	dset_sort(out);
	return 0;
}
