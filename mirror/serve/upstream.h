/* What serve asks of a fill-on-demand source (serve --upstream FILE): the
 * interface mirror/upstream/ implements and cli/cmd_serve.c plugs into
 * serve_options.upstream, so that mirror/serve/ itself never reaches the
 * network. Types only.
 *
 * Every function is called from libmicrohttpd's threads: thread-safe and
 * never blocking on the network. A fill is one shared upstream fetch
 * (single-flight: every request for the same manifest, blob or list joins
 * it), reference-counted: each caller that got one releases it once. */
#ifndef MIRROR_SERVE_UPSTREAM_H
#define MIRROR_SERVE_UPSTREAM_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "oci/digest.h"
#include "oci/err.h"

struct serve_fill;

enum serve_fill_state {
	SERVE_FILL_PENDING = 0, /* nothing known yet */
	SERVE_FILL_STREAMING,	/* blob: size known, bytes arriving */
	SERVE_FILL_DONE,	/* stored (manifest, blob) or fetched (list) */
	SERVE_FILL_FAILED,	/* code and msg say why */
};

struct serve_fill_status {
	enum serve_fill_state state;
	int64_t size;	    /* blob: total bytes once STREAMING, -1 unknown */
	uint64_t available; /* blob: bytes received and readable so far */
	int code;	    /* FAILED: ERR_NOT_FOUND (the upstream has no such
			       thing), ERR_DIGEST, ERR_TIMEOUT, ERR_FAIL, ... */
	char msg[256];	    /* FAILED: one line naming what failed */
};

enum serve_fill_list {
	SERVE_FILL_TAGS,      /* {"name":..., "tags":[...]}, every page */
	SERVE_FILL_REFERRERS, /* the subject's referrers index */
};

struct serve_upstream_stats {
	uint64_t manifest_fetches; /* upstream manifest GETs */
	uint64_t blob_fetches;	   /* upstream blob GETs */
	uint64_t list_fetches;	   /* tag lists, referrers */
	uint64_t revalidations;	   /* tag HEADs after tag_ttl */
	uint64_t bytes;		   /* body bytes received */
	uint64_t failures;	   /* fetches that failed */
	uint64_t stale;		   /* stored tags answered: upstream failed */
	uint64_t joined;	   /* requests that joined a running fetch */
	uint64_t in_flight;	   /* fills running now */
};

struct serve_upstream {
	void *ctx;
	/* 1 when repo (the store's full name, "docker.io/library/nginx")
	 * belongs to a registry the upstream file names; 0 otherwise (the
	 * store alone answers: no open proxy). */
	int (*serves)(void *ctx, const char *repo);
	/* A tag the store holds: 1 when it was checked upstream less than
	 * tag_ttl ago (answer from the store), 0 when a check is due. */
	int (*tag_fresh)(void *ctx, const char *repo, const char *tag);
	/* Start or join the fetch of a manifest (ref: tag or digest). stored
	 * = 1 for a tag the store holds: one HEAD with the short timeout,
	 * the manifest fetched only when it moved; FAILED then means "answer
	 * what is stored". DONE: the manifest, its repository record and
	 * the tag are in the store. NULL with err when the fetch cannot be
	 * started (out of memory, too many fetches: ERR_FAIL). */
	struct serve_fill *(*manifest)(void *ctx, const char *repo,
				       const char *ref, int stored,
				       struct err *err);
	/* Start or join the fetch of a blob for repo (shared by digest
	 * across repositories). STREAMING as soon as the upstream's answer
	 * says its size; DONE: verified, stored and linked to repo. A digest
	 * mismatch is FAILED (ERR_DIGEST) and nothing is stored. */
	struct serve_fill *(*blob)(void *ctx, const char *repo,
				   const struct oci_digest *d, struct err *err);
	/* Start or join the fetch of a list (subject: referrers only).
	 * stored = 1 when the store has the repository: the short timeout
	 * applies, FAILED means "answer what is stored". Answers are kept
	 * tag_ttl. */
	struct serve_fill *(*list)(void *ctx, enum serve_fill_list kind,
				   const char *repo,
				   const struct oci_digest *subject, int stored,
				   struct err *err);
	void (*status)(struct serve_fill *f, struct serve_fill_status *out);
	/* Wait for a change. When f's state or available bytes differ from
	 * seen, return 1 at once (call status again). Else, holding f's
	 * lock, call suspend(arg), remember the waiter and return 0: wake(arg)
	 * is then called exactly once, from another thread, when the state
	 * changes, more bytes arrive, or at shutdown. */
	int (*wait)(struct serve_fill *f, const struct serve_fill_status *seen,
		    void (*suspend)(void *arg), void (*wake)(void *arg),
		    void *arg);
	/* Blob bytes from offset pos (pos < available) into buf, at most
	 * max: the count, or -1 for a read error. */
	ssize_t (*read)(struct serve_fill *f, uint64_t pos, void *buf,
			size_t max);
	/* A DONE list's JSON text (valid until release), or NULL. */
	const char *(*body)(struct serve_fill *f, size_t *len);
	void (*release)(struct serve_fill *f);
	void (*stats)(void *ctx, struct serve_upstream_stats *out);
	/* serve_stop, before it waits for requests: every running fill
	 * fails ("stopping") and every waiter is woken; later calls to
	 * manifest, blob and list return NULL. */
	void (*shutdown)(void *ctx);
};

#endif
