#include "oci/err.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

void err_clear(struct err *e)
{
	if (!e)
		return;
	e->code = 0;
	e->msg[0] = '\0';
}

int err_set(struct err *e, int code, const char *fmt, ...)
{
	va_list ap;

	if (!e)
		return code;
	e->code = code;
	va_start(ap, fmt);
	vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
	va_end(ap);
	return code;
}

int err_wrap(struct err *e, const char *fmt, ...)
{
	char prefix[ERR_MSG_MAX];
	size_t plen, olen;
	va_list ap;

	if (!e)
		return ERR_FAIL;
	if (e->code == 0)
		e->code = ERR_FAIL;
	va_start(ap, fmt);
	vsnprintf(prefix, sizeof(prefix), fmt, ap);
	va_end(ap);
	/* Explicit lengths: "%s%s" into msg trips -Wformat-truncation. */
	plen = strnlen(prefix, sizeof(prefix) - 1);
	olen = strnlen(e->msg, sizeof(e->msg) - 1);
	if (olen > sizeof(e->msg) - 1 - plen)
		olen = sizeof(e->msg) - 1 - plen;
	memmove(e->msg + plen, e->msg, olen);
	memcpy(e->msg, prefix, plen);
	e->msg[plen + olen] = '\0';
	return e->code;
}

const char *err_code_name(int code)
{
	switch (code) {
	case ERR_OK: return "ok";
	case ERR_NOT_FOUND: return "not found";
	case ERR_UNAUTHORIZED: return "unauthorized";
	case ERR_DIGEST: return "digest mismatch";
	case ERR_TOO_LARGE: return "too large";
	case ERR_TIMEOUT: return "timeout";
	case ERR_CONFLICT: return "conflict";
	case ERR_INVALID: return "invalid";
	case ERR_UNSUPPORTED: return "unsupported";
	default: return "failure";
	}
}

void err_shown(char *dst, size_t cap, const char *s, size_t n)
{
	size_t i, j = 0;

	for (i = 0; i < n && j + 5 < cap; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\') {
			dst[j++] = (char)c;
		} else {
			snprintf(dst + j, cap - j, "\\x%02x", c);
			j += 4;
		}
	}
	if (i < n && j + 4 <= cap) {
		memcpy(dst + j, "...", 3);
		j += 3;
	}
	dst[j] = '\0';
}
