/* libFuzzer target: syncconf_parse on arbitrary bytes. A failure must
 * be ERR_INVALID with a one-line "NAME:LINE:COL: " message and leave the
 * config empty; a parsed config must hold what the header promises, and
 * every rule must survive tag selection over a fixed list. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mirror/sync/syncconf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char *const tags[] = {"latest",	 "v1.0.0", "1.2.3-rc.1", "2.0.0",
			     "v2.1.0+b", "1.2",	   "stable",	 "10.0.0-0",
			     "../bad",	 "1.0.0"};

static void check(const struct sync_config *c)
{
	struct err err;

	if (!c->path || !c->n_rules || c->concurrency < 1)
		abort();
	for (size_t i = 0; i < c->n_registries; i++)
		if (syncconf_registry(c, c->registries[i].host) !=
		    &c->registries[i])
			abort();
	for (size_t i = 0; i < c->n_rules; i++) {
		const struct sync_rule *r = &c->rules[i];
		char **out = NULL;
		size_t n = 0, j;

		if (!r->source.path[0] || r->line < 1)
			abort();
		for (j = 0; j < r->tags.n_exact; j++)
			if (!oci_tag_valid(r->tags.exact[j]))
				abort();
		if (tagfilter_select(&out, &n, r->has_tags ? &r->tags : NULL,
				     tags, sizeof(tags) / sizeof(tags[0]),
				     &err))
			abort();
		for (j = 0; j < n; j++)
			if (!out[j] || !oci_tag_valid(out[j]))
				abort();
		if (out[n] ||
		    (r->tags.latest > 0 && n > (size_t)r->tags.latest))
			abort();
		oci_strv_free(out);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sync_config c;
	struct err err;
	int rc;

	err_clear(&err);
	rc = syncconf_parse(&c, "f.yaml", (const char *)data, size, &err);
	if (rc == 0) {
		check(&c);
	} else {
		if (rc != ERR_INVALID || err.code != rc ||
		    strncmp(err.msg, "f.yaml:", 7) || strchr(err.msg, '\n'))
			abort();
		if (c.rules || c.registries || c.path || c.platforms)
			abort();
	}
	syncconf_release(&c);
	return 0;
}
