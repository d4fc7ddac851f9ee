/* libFuzzer target: route_parse on an arbitrary path (the bytes up to the
 * first newline, decoded as the server decodes it) and ns (the rest). A
 * route is either refused with a message and a reason, or every part of it
 * passes its own validator and fits its buffer. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mirror/serve/route.h"
#include "mirror/store/store.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_ok(const struct route *rt, const char *ns)
{
	struct oci_digest again;

	if (rt->bad != ROUTE_OK)
		abort();
	switch (rt->kind) {
	case RT_MANIFEST:
	case RT_BLOB:
	case RT_REFERRERS:
		if (!rt->ref[0])
			abort();
		if (rt->is_digest &&
		    (oci_digest_parse(&again, rt->ref, NULL) ||
		     !oci_digest_equal(&again, &rt->digest)))
			abort();
		if (!rt->is_digest &&
		    (rt->kind != RT_MANIFEST || !oci_tag_valid(rt->ref)))
			abort();
		/* fall through */
	case RT_TAGS:
	case RT_UPLOAD:
	case RT_UPLOAD_NEW:
		if (!rt->name[0] || !store_repo_valid(rt->repo))
			abort();
		if (ns && *ns && (strncmp(rt->repo, ns, strlen(ns)) ||
				  strcmp(rt->repo + strlen(ns) + 1, rt->name)))
			abort();
		if ((!ns || !*ns) && strcmp(rt->repo, rt->name))
			abort();
		break;
	default:
		if (rt->name[0] || rt->ref[0])
			abort();
	}
	if (rt->kind == RT_UPLOAD && strchr(rt->upload_id, '/'))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct route rt;
	struct err err;
	char *s = malloc(size + 1), *nl, *ns = NULL;
	int rc;

	if (!s)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	nl = strchr(s, '\n');
	if (nl) {
		*nl = '\0';
		ns = nl + 1;
	}
	route_unescape(s);
	err.msg[0] = '\0';
	rc = route_parse(&rt, s, ns, &err);
	if (rc == 0)
		check_ok(&rt, ns);
	else if (rc != ERR_INVALID || rt.bad == ROUTE_OK || !err.msg[0] ||
		 strchr(err.msg, '\n'))
		abort();
	free(s);
	return 0;
}
