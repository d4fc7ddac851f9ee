/* Refusing oversized queries before MHD parses them (contract in
 * mirror/serve/urilog.h). */
#include "mirror/serve/urilog.h"

#include <string.h>

#include "mirror/serve/route.h"

const char serve_uri_refused_mark = 0;

void *serve_uri_check(void *cls, const char *uri, struct MHD_Connection *c)
{
	char *q;

	(void)cls;
	(void)c;
	if (!uri || route_query_count(uri) <= ROUTE_QUERY_ARGS_MAX)
		return NULL;
	/* uri is MHD's own, writable request line; MHD splits the query at
	 * the '?' it found before this call and parses what follows it */
	q = strchr(uri, '?');
	q[1] = '\0';
	return SERVE_URI_REFUSED;
}
