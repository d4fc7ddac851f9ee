/* The entry checks every Margo component archive passes before anything
 * in it is parsed, and the read into memory of the few files a reader
 * needs. Nothing is ever written to disk.
 *
 * Refused, with ERR_INVALID and a message naming the entry: an absolute
 * path, a `..` component, an entry outside the one top-level directory, a
 * link leaving it, a device, FIFO or socket, a setuid/setgid bit, an entry
 * reached through a symbolic link, a hard link to a symbolic link, a file
 * the reader needs (its `want` callback says which) twice or as a link.
 * ERR_TOO_LARGE past MARGO_ARCHIVE_ENTRIES entries, MARGO_ARCHIVE_LINKS
 * symbolic links or MARGO_ARCHIVE_EXPANDED bytes once decompressed, the
 * last two counted in a budget the caller may share between an archive and
 * the archives packed inside it. */
#ifndef MIRROR_MARGO_ARCHIVE_H
#define MIRROR_MARGO_ARCHIVE_H

#include <stddef.h>
#include <stdint.h>

#include "oci/err.h"

#define MARGO_ARCHIVE_MAX (64u * 1024 * 1024)	    /* compressed */
#define MARGO_ARCHIVE_EXPANDED (256u * 1024 * 1024) /* decompressed */
#define MARGO_ARCHIVE_ENTRIES 10000
#define MARGO_ARCHIVE_LINKS 1000    /* symbolic links per archive */
#define MARGO_ARCHIVE_NAME_MAX 1024 /* entry names */

/* One file kept, NUL-terminated after len bytes. */
struct margo_afile {
	char *path; /* below the top-level directory */
	char *data;
	size_t len;
};

/* What an archive and all the archives packed in it may expand to,
 * together. */
struct margo_budget {
	uint64_t bytes;
	size_t entries;
};

/* One scan. The caller zeroes it, sets want and budget, and releases it
 * with margo_archive_release (also after a failed scan). */
struct margo_archive {
	/* 0: skip the entry, else the most bytes to keep of it */
	size_t (*want)(const char *path);
	struct margo_budget *budget;
	/* filled by the scan: */
	char top[MARGO_ARCHIVE_NAME_MAX]; /* the top-level directory */
	struct margo_afile *files;	  /* what want kept */
	size_t n, cap;
	char **links; /* symbolic links seen so far (cleaned paths) */
	size_t n_links, links_cap;
	char seen_other[64]; /* a compose file under another name */
};

/* Check every entry of the .tar.gz at p (len bytes), keeping the files
 * a->want asks for. 0, or an error with nothing kept. */
int margo_archive_scan(struct margo_archive *a, const void *p, size_t len,
		       struct err *err);

/* Free what a scan kept; a stays reusable. */
void margo_archive_release(struct margo_archive *a);

/* The kept file at path (below the top directory), or NULL. Owned by a. */
const struct margo_afile *margo_archive_get(const struct margo_archive *a,
					    const char *path);

#endif
