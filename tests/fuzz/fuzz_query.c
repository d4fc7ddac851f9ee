/* libFuzzer target: route_query_parse on an arbitrary query string, and
 * route_unescape. Every value points into the caller's buffer, n is either
 * a non-negative count or marked bad, and the artifactType filter never
 * holds a space. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mirror/serve/route.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void inside(const char *p, const char *buf, size_t size)
{
	if (p && (p < buf || p > buf + size || strlen(p) > size))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct route_query q;
	struct err err;
	char *s = malloc(size + 1);
	size_t n;
	int rc;

	if (!s)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	err.msg[0] = '\0';
	rc = route_query_parse(&q, s, &err);
	if (rc && (rc != ERR_INVALID || !q.n_bad || !err.msg[0] ||
		   strchr(err.msg, '\n')))
		abort();
	if (q.n_bad ? q.n != -1 || !q.n_text : q.n_text && q.n < 0)
		abort();
	if (!q.n_text && q.n != -1)
		abort();
	if (strchr(q.artifact_type, ' ') ||
	    (!q.has_artifact_type && q.artifact_type[0]))
		abort();
	inside(q.ns, s, size);
	inside(q.last, s, size);
	inside(q.digest, s, size);
	inside(q.mount, s, size);
	inside(q.from, s, size);
	inside(q.n_text, s, size);
	memcpy(s, data, size);
	s[size] = '\0';
	n = route_unescape(s);
	if (n > size || strlen(s) != n)
		abort();
	free(s);
	return 0;
}
