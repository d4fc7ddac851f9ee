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

#include "mirror/serve/options.h"
#include "mirror/store/store.h"
#include "oci/err.h"

struct server;

/* Start serving s (borrowed; it must outlive the server) in background
 * threads with a copy of o. What it allows at once follows the process's
 * RLIMIT_NOFILE as it is now (serve_limits_derive; the caller raises it
 * first if it wants more), and a watchdog thread cuts slow connections
 * (o.read_timeout) and bodies whose client is gone. ERR_INVALID for a bad
 * listen address or TLS pair, ERR_NOT_FOUND for an unreadable file, ERR_FAIL
 * when the address cannot be bound. *out is NULL on failure. */
int serve_start(struct server **out, struct store *s,
		const struct serve_options *o, struct err *err);
/* The port actually bound (for listen ":0"). */
unsigned serve_port(const struct server *srv);
/* Stop accepting, let in-flight requests finish (bounded to ~30 s), free
 * every upload session. NULL is a no-op. */
void serve_stop(struct server *srv);

#endif
