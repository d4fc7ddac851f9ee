/* Reading a whole local file under a size cap: the one reader of the
 * description, sync file and package inputs (mirror/margo, mirror/sync).
 * The store has its own inside mirror/store (fsutil), below this layer.
 *
 * Ownership: *out is heap memory the caller frees; it is NUL-terminated
 * (not counted in *len_out) and NULL on every error.
 * Errors, each message naming the path: ERR_NOT_FOUND ("PATH: No such
 * file or directory") when it is absent; ERR_TOO_LARGE ("PATH: larger
 * than MAX bytes") when it holds more than max bytes; ERR_FAIL when it
 * cannot be opened or read, or memory runs out. */
#ifndef MIRROR_FILE_H
#define MIRROR_FILE_H

#include <stddef.h>

#include "oci/err.h"

int file_read_capped(char **out, size_t *len_out, const char *path, size_t max,
		     struct err *err);

#endif
