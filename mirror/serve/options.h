/* The server's options, apart from serve.h so that the request handlers
 * (which keep a copy in their shared state) do not depend on the server's
 * lifecycle module. */
#ifndef MIRROR_SERVE_OPTIONS_H
#define MIRROR_SERVE_OPTIONS_H

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

/* The defaults: 127.0.0.1:5000, read-only mirror, 1 h uploads, 60 s idle
 * connections. Strings are borrowed for the server's lifetime. */
void serve_options_init(struct serve_options *out);
/* The listen address (serve_listen_parse: "999.1.1.1:6705" is refused
 * here, before anything is opened) and the rules between the access
 * options (serve_start applies them too): --push needs --htpasswd and
 * excludes --read-only. ERR_INVALID with a message naming the option and
 * value. (The TLS pair and the files are checked by serve_start, which
 * reads them.) */
int serve_options_check(const struct serve_options *o, struct err *err);

#endif
