/* One error type for the whole library.
 *
 * Functions return 0 on success or a negative ERR_* code, and fill the
 * caller's struct err with a one-line message naming the thing that failed
 * (repository, reference, path, digest). struct err is caller-owned and
 * holds no heap memory, so it is safe to use per thread. */
#ifndef OCI_ERR_H
#define OCI_ERR_H

#include <stddef.h>

enum err_code {
	ERR_OK = 0,
	ERR_FAIL = -1,	       /* generic failure, see message */
	ERR_NOT_FOUND = -2,    /* manifest, blob, tag, file absent */
	ERR_UNAUTHORIZED = -3, /* credentials missing or refused */
	ERR_DIGEST = -4,       /* content does not match its digest or size */
	ERR_TOO_LARGE = -5,    /* a size cap was hit */
	ERR_TIMEOUT = -6,      /* peer too slow or stuck */
	ERR_CONFLICT = -7,     /* store lock held by another writer */
	ERR_INVALID = -8,      /* malformed input: name, reference, JSON */
	ERR_UNSUPPORTED = -9,  /* understood, but refused (schema1, ...) */
};

#define ERR_MSG_MAX 1024

struct err {
	int code;
	char msg[ERR_MSG_MAX];
};

/* Reset to "no error". */
void err_clear(struct err *e);

/* Set code and message (printf format); returns code so callers can
 * `return err_set(e, ERR_INVALID, "...")`. e may be NULL. */
int err_set(struct err *e, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Prefix context to the message already there ("pull x: " + inner),
 * keeping the code. Returns the code. */
int err_wrap(struct err *e, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* A printable, bounded copy of untrusted input (n bytes of s) for
 * messages: control bytes, quotes and backslashes as \xNN, "..." when cut. */
void err_shown(char *dst, size_t cap, const char *s, size_t n);

/* Short name of a code, e.g. "not found". */
const char *err_code_name(int code);

#endif
