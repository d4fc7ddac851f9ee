/* Test fixture: what a libcurl request to the in-process server answered
 * (status, body, headers), for the serve suites. Header-only, like
 * storefix.h; set CURLOPT_WRITEFUNCTION to on_body and
 * CURLOPT_HEADERFUNCTION to on_header with a struct resp. */
#ifndef TESTS_HTTPFIX_H
#define TESTS_HTTPFIX_H

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "oci/buf.h"

struct resp {
	long status;
	struct buf body;
	char headers[16384];
	size_t hlen;
};

static __attribute__((unused)) size_t on_body(char *p, size_t sz, size_t n, void *ctx)
{
	struct resp *r = ctx;

	return buf_append(&r->body, p, sz * n) ? 0 : sz * n;
}

static __attribute__((unused)) size_t on_header(char *p, size_t sz, size_t n, void *ctx)
{
	struct resp *r = ctx;
	size_t len = sz * n;

	if (r->hlen + len < sizeof(r->headers)) {
		memcpy(r->headers + r->hlen, p, len);
		r->hlen += len;
		r->headers[r->hlen] = '\0';
	}
	return len;
}

/* The value of a response header (case-insensitive name), or NULL. */
static __attribute__((unused)) const char *header(struct resp *r, const char *name)
{
	static char val[2048];
	size_t nl = strlen(name);

	for (const char *p = r->headers; *p; p = strchr(p, '\n') + 1) {
		if (!strncasecmp(p, name, nl) && p[nl] == ':') {
			const char *v = p + nl + 1, *e = strpbrk(v, "\r\n");
			while (*v == ' ')
				v++;
			snprintf(val, sizeof(val), "%.*s", (int)(e - v), v);
			return val;
		}
		if (!strchr(p, '\n'))
			break;
	}
	return NULL;
}

#endif
