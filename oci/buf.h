/* A growable byte buffer with a hard cap (curl's dynbuf, git's strbuf).
 *
 * After buf_init, data is never NULL and is always NUL-terminated (the NUL
 * is not counted in len). An append that would pass `max` fails with
 * ERR_TOO_LARGE and frees the buffer, so callers never keep half a value. */
#ifndef OCI_BUF_H
#define OCI_BUF_H

#include <stddef.h>

struct buf {
	char *data;
	size_t len;
	size_t cap;
	size_t max; /* largest len allowed */
};

void buf_init(struct buf *b, size_t max);
void buf_release(struct buf *b);
void buf_reset(struct buf *b); /* len = 0, keeps memory */

/* 0, or ERR_TOO_LARGE / ERR_FAIL (out of memory) after freeing b. */
int buf_append(struct buf *b, const void *p, size_t n);
int buf_puts(struct buf *b, const char *s);
int buf_printf(struct buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Hand the bytes to the caller (free() them) and re-init b empty. */
char *buf_detach(struct buf *b, size_t *len_out);

#endif
