/* The server's options, apart from serve.h so that the request handlers
 * (which keep a copy in their shared state) do not depend on the server's
 * lifecycle module. */
#ifndef MIRROR_SERVE_OPTIONS_H
#define MIRROR_SERVE_OPTIONS_H

#include <stdint.h>

#include "oci/err.h"

struct serve_upstream; /* mirror/serve/upstream.h */

struct serve_options {
	const char *listen;   /* "127.0.0.1:5000", "[::1]:5000", ":5000" */
	const char *tls_cert; /* PEM files; both or neither */
	const char *tls_key;
	const char *htpasswd; /* bcrypt entries; NULL: no users */
	int anonymous_read;   /* allow pulls without credentials */
	int push;	      /* accept pushes (authenticated users only) */
	int read_only;	      /* refuse every write */
	int delete;	      /* allow DELETE of manifests, tags, blobs */
	/* answer GETs of large blobs (SERVE_REDIRECT_MIN bytes and more)
	 * with 307 to the store's direct URL (store_blob_url), valid
	 * SERVE_REDIRECT_TTL seconds; needs a store that has them */
	int redirect;
	unsigned threads;      /* 0: 2 x cores */
	unsigned upload_ttl;   /* seconds an idle upload session lives */
	unsigned conn_timeout; /* idle connection timeout, seconds */
	/* seconds a client may take for a request's headers (counted from
	 * the connection's start or the previous answer, so idle keep-alive
	 * too), or for SERVE_BODY_MIN_RATE x read_timeout bytes of a body;
	 * slower, it is disconnected (0: no limit) */
	unsigned read_timeout;
	unsigned max_conns_per_ip; /* connections per client address; 0: any */
	/* request bodies held in memory (manifest PUTs), all requests
	 * together; beyond it a PUT is answered 503 with Retry-After */
	uint64_t body_memory;
	/* fill on demand (serve --upstream): NULL, the store alone */
	const struct serve_upstream *upstream;
	/* one line per request; NULL: none */
	void (*access_log)(void *ctx, const char *line);
	void *log_ctx;
};

/* The defaults: 127.0.0.1:5000, read-only mirror, 1 h uploads, 60 s idle
 * connections, 30 s read timeout, 256 connections per client address,
 * 64 MiB of request bodies in memory. Strings are borrowed for the
 * server's lifetime. */
void serve_options_init(struct serve_options *out);
/* The listen address (serve_listen_parse: "999.1.1.1:6705" is refused
 * here, before anything is opened) and the rules between the access
 * options (serve_start applies them too): --push needs --htpasswd and
 * excludes --read-only. ERR_INVALID with a message naming the option and
 * value. (The TLS pair and the files are checked by serve_start, which
 * reads them.) */
int serve_options_check(const struct serve_options *o, struct err *err);

#define SERVE_REDIRECT_MIN (1024u * 1024)
#define SERVE_REDIRECT_TTL 600u

/* ERR_INVALID, naming the store, when o->redirect is set and s has no
 * direct blob URLs (serve_start checks it too). */
struct store;
int serve_options_check_store(const struct serve_options *o,
			      const struct store *s, struct err *err);

/* A body slower than this (bytes per second, over read_timeout) is cut. */
#define SERVE_BODY_MIN_RATE 1024u

/* What the server allows at once, derived from its descriptor budget
 * (RLIMIT_NOFILE). Each connection may hold two descriptors (its socket
 * and one file: a blob it sends, or the temp file of an upload while data
 * flows); idle upload sessions hold none. */
struct serve_limits {
	unsigned connections;	   /* open connections, all clients */
	unsigned uploads;	   /* upload sessions open, all users */
	unsigned uploads_per_user; /* upload sessions open by one user */
};

/* Descriptors kept for the server itself: listening socket, epoll and
 * wake-up descriptors of each thread, the store, stdio, the logs. */
#define SERVE_FD_RESERVE(threads) (32u + 4u * (threads))
#define SERVE_CONNECTIONS_MAX 10000u

/* The limits for nofile descriptors and threads worker threads: (nofile -
 * reserve) / 2 connections, at least 8 and at most SERVE_CONNECTIONS_MAX;
 * as many upload sessions, a quarter of them (at least 1) per user. Pure. */
void serve_limits_derive(struct serve_limits *out, uint64_t nofile,
			 unsigned threads);

#endif
