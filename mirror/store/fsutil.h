/* Filesystem helpers of the store's on-disk backend: paths, directory
 * listings, whole-file reads. Private to mirror/store (store, walk, gc,
 * verify); nothing outside the folder includes it.
 *
 * Errors: functions fill struct err (which may be NULL) with a message
 * naming the path, and keep errno from the failing call. */
#ifndef MIRROR_STORE_FSUTIL_H
#define MIRROR_STORE_FSUTIL_H

#include <stddef.h>

#include "oci/digest.h"
#include "oci/err.h"

/* A path built from a printf format; NULL when out of memory. Caller
 * frees. */
char *fsutil_pathf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* mkdir -p; the parent of each directory it creates is fsync'd, so the
 * new directories survive a power loss. */
int fsutil_mkdirs(const char *path, struct err *err);

/* fsync the directory DIR (an entry renamed or created in it is then
 * durable). A filesystem that cannot fsync directories (EINVAL) counts as
 * done. ERR_FAIL "fsync directory DIR: ..." otherwise. */
int fsutil_dir_sync(const char *dir, struct err *err);

/* fsutil_dir_sync of the directory holding PATH ("." when PATH has no
 * slash). */
int fsutil_parent_sync(const char *path, struct err *err);

/* The code for a failed system call's errno: ERR_FAIL for what may mend
 * (descriptors, memory, EIO, ENOSPC, EAGAIN, ...), ERR_INVALID for what
 * will not (EISDIR, ENOTDIR, ELOOP, EACCES: the store is malformed). */
int fsutil_errno_code(int e);

/* Sorted entry names of dir, without "." and "..". An absent dir is
 * empty (0, *out NULL). fsutil_errno_code's code ("cannot list DIR: ...",
 * errno kept) when it cannot be read; *out is then NULL. Free with
 * fsutil_names_free. */
int fsutil_names_list(char ***out, size_t *n_out, const char *dir,
		      struct err *err);
void fsutil_names_free(char **v, size_t n);

/* "<alg>:<name>" parsed as a canonical digest of algorithm alg ("sha256",
 * "sha512"): a file name in the store as a digest. 0 or ERR_INVALID. */
int fsutil_name_digest(struct oci_digest *out, const char *alg,
		       const char *name);

/* Read fd to its end, at most max bytes, into *out (caller frees; the fd
 * stays open). what names it in messages: ERR_TOO_LARGE ("WHAT: larger
 * than MAX bytes"), fsutil_errno_code's code ("read WHAT: ..."). */
int fsutil_read_fd(char **out, size_t *len_out, int fd, size_t max,
		   const char *what, struct err *err);

/* Read a whole file of at most max bytes into *out (caller frees).
 * ERR_NOT_FOUND when absent, ERR_TOO_LARGE, ERR_FAIL. */
int fsutil_read_file(char **out, size_t *len_out, const char *path, size_t max,
		     struct err *err);

#endif
