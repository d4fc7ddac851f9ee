/* The site-local registry: OCI distribution-spec v1.1 over the store.
 *
 * Built on libmicrohttpd (epoll, a thread pool). Blobs go out with sendfile
 * (fd responses), manifests from the store files; memory does not grow with
 * blob size or client count. Pushes stream into the store's writer (hashed,
 * verified, renamed), so a cut-off upload leaves nothing visible.
 *
 * Mirror namespaces: "?ns=docker.io" maps /v2/library/nginx/... to the
 * repository "docker.io/library/nginx"; without ns the full name is used. */
#ifndef MIRROR_SERVE_SERVE_H
#define MIRROR_SERVE_SERVE_H

#include <stdint.h>

#include "mirror/store/store.h"
#include "oci/err.h"

struct serve_options {
	const char *listen;   /* "127.0.0.1:5000", "[::1]:5000", ":5000" */
	const char *tls_cert; /* PEM files; both or neither */
	const char *tls_key;
	const char *htpasswd;  /* bcrypt entries; NULL: no users */
	int anonymous_read;    /* allow pulls without credentials */
	int push;	       /* accept pushes (authenticated users only) */
	int read_only;	       /* refuse every write */
	int delete;	       /* allow DELETE of manifests, tags, blobs */
	unsigned threads;      /* 0: 2 x cores */
	unsigned upload_ttl;   /* seconds an idle upload session lives */
	unsigned conn_timeout; /* idle connection timeout, seconds */
	/* one line per request; NULL: none */
	void (*access_log)(void *ctx, const char *line);
	void *log_ctx;
};

void serve_options_init(struct serve_options *o);

struct server;

/* Start serving s in background threads. */
int serve_start(struct server **out, struct store *s,
		const struct serve_options *o, struct err *err);
/* The port actually bound (for listen ":0"). */
unsigned serve_port(const struct server *srv);
/* Stop accepting, let in-flight requests finish (bounded), free. */
void serve_stop(struct server *srv);

#endif
