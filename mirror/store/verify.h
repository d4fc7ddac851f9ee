/* Checking the store against itself.
 *
 * verify_run re-hashes every object under blobs/sha256/ and blobs/sha512/
 * (streaming, one fixed buffer) and compares the result with its name. An
 * object whose content does not match, whose name is not a digest, or that
 * is not a regular file is moved (the backend's move: a rename on the
 * filesystem) to STORE/quarantine/<alg>-<name>[.N], a key not taken yet
 * (<name>: the rest of its key; a file in a subdirectory of blobs/sha256/
 * keeps that '/'): never deleted, and no longer served; a
 * following pull or sync fetches it again. Then, in every repository, it
 * checks that each tag and manifest record has its manifest stored, and
 * that each stored image manifest has its config and layers, and that
 * every descriptor whose target is stored (config, layers, index
 * children, subject) names its size: what is missing or wrong is
 * reported, nothing is changed. Children of an index that are not stored
 * are not a problem (a platform filter leaves them out), nor is a
 * subject, nor a non-distributable layer (its content lives at its urls;
 * pull does not fetch it).
 *
 * Verify works on any backend through its operations (backend.h: walk,
 * move, blob reads; a remote store is read in ranges). It takes no lock:
 * content is placed whole, so an object it reads is never partial; the
 * caller may hold the writer lock anyway. */
#ifndef MIRROR_STORE_VERIFY_H
#define MIRROR_STORE_VERIFY_H

#include <stddef.h>
#include <stdint.h>

#include "mirror/store/store.h"
#include "oci/err.h"

enum verify_kind {
	VERIFY_CORRUPT = 1, /* content does not match the name: quarantined */
	VERIFY_STRAY,	    /* in blobs/ but not a blob (name, file type):
			       quarantined */
	VERIFY_MISSING_MANIFEST, /* a tag or manifest record whose manifest
				    is not stored */
	VERIFY_MISSING_BLOB,	 /* a manifest whose config or layer is not
				    stored */
	VERIFY_UNREADABLE,	 /* a file or record that cannot be read or
				    parsed; left in place */
	VERIFY_SIZE_MISMATCH,	 /* a descriptor whose size is not that of
				    the stored blob it names */
};

/* One problem. Strings are valid only during the callback. */
struct verify_problem {
	enum verify_kind kind;
	const char *repo;	/* records; NULL for files in blobs/ */
	const char *tag;	/* a tag record; else NULL */
	const char *manifest;	/* the manifest concerned, or NULL */
	const char *digest;	/* the file's name as a digest ("sha256:..."),
				   or the missing blob's digest */
	const char *quarantine; /* where it went, relative to the store;
				   NULL when not moved */
	const char *message;	/* one line, for people */
};

struct verify_options {
	void (*problem)(void *ctx, const struct verify_problem *p);
	void *ctx;
};

struct verify_stats {
	size_t blobs;	    /* files re-hashed */
	uint64_t bytes;	    /* bytes re-hashed */
	size_t corrupt;	    /* VERIFY_CORRUPT and VERIFY_STRAY */
	size_t quarantined; /* of those, moved to quarantine/ */
	size_t missing;	    /* VERIFY_MISSING_* */
	size_t unreadable;  /* VERIFY_UNREADABLE */
	size_t mismatched;  /* VERIFY_SIZE_MISMATCH */
	size_t tags;	    /* tag records checked */
	size_t manifests;   /* manifest records checked */
};

/* 0 when the check ran (problems are counted in *out, which is filled
 * even on failure), or a negative code when it could not (a directory of
 * the store cannot be listed, out of memory). */
int verify_run(struct verify_stats *out, struct store *s,
	       const struct verify_options *o, struct err *err);

#endif
