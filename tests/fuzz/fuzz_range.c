/* libFuzzer target: route_range_parse and route_content_range_parse. The
 * first 8 bytes are the blob size (kept non-negative), the rest the header.
 * A satisfiable range lies inside the blob and is never empty; a refusal
 * is one of the two documented codes with a one-line message. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mirror/serve/route.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint64_t raw = 0, from = 0, len = 0, a, b;
	int64_t blob;
	struct err err;
	char *h;
	int rc;

	if (size < 8)
		return 0;
	memcpy(&raw, data, 8);
	/* small sizes often, so that edge cases near the end are reached */
	blob = (int64_t)(raw & 0x8000000000000000ULL ? raw & 0xff
						     : raw & INT64_MAX);
	h = malloc(size - 8 + 1);
	if (!h)
		return 0;
	memcpy(h, data + 8, size - 8);
	h[size - 8] = '\0';
	err.msg[0] = '\0';
	rc = route_range_parse(&from, &len, h, blob, &err);
	if (rc == 0) {
		if (len == 0 || from >= (uint64_t)blob ||
		    len > (uint64_t)blob - from)
			abort();
	} else if ((rc != ERR_INVALID && rc != ERR_NOT_FOUND) ||
		   !err.msg[0] || strchr(err.msg, '\n')) {
		abort();
	}
	err.msg[0] = '\0';
	rc = route_content_range_parse(&a, &b, h, &err);
	if (rc == 0 && b < a)
		abort();
	if (rc && (rc != ERR_INVALID || !err.msg[0] || strchr(err.msg, '\n')))
		abort();
	free(h);
	return 0;
}
