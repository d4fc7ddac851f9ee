/* Fill on demand (ocimirror serve --upstream FILE): the serve_upstream
 * interface (mirror/serve/upstream.h) over the request engine.
 *
 * One thread of its own runs a reg_engine (registry/engine.h) on a
 * reg_pool built from the file's registries (with their mirrors); MHD's
 * threads hand it fetches through a locked queue and reg_engine_wakeup.
 * Only registries the file names are fetched from. Manifests are verified
 * (by digest, or the answer's Docker-Content-Digest against the bytes),
 * stored (blob, repository record, then the tag) and answered from the
 * store; a stored image manifest's config and layers are then fetched in
 * the background too, so the image is complete even when the client wants
 * only part of it. Blobs stream into the store's writer while the readers
 * read the bytes already written; one fetch per digest however many
 * readers, kept running when they disconnect. A tag read checks upstream
 * at most once per tag_ttl with one HEAD and a short timeout, after which
 * the stored tag is answered. Every upstream request is one access-log
 * line and counted in stats. */
#ifndef MIRROR_UPSTREAM_UPSTREAM_H
#define MIRROR_UPSTREAM_UPSTREAM_H

#include "mirror/serve/upstream.h"
#include "mirror/store/store.h"
#include "mirror/sync/syncconf.h"
#include "oci/err.h"
#include "registry/options.h"

struct upstream;

struct upstream_options {
	unsigned tag_ttl;   /* seconds; the file's, else 300 */
	unsigned timeout;   /* seconds, a stored tag's check; else 3 */
	unsigned max_fills; /* fetches running or queued; default 4096 */
	/* one line per upstream request; NULL: none */
	void (*log)(void *ctx, const char *line);
	void *log_ctx;
};

void upstream_options_init(struct upstream_options *o);
/* Start the fill thread. cfg (its registries) and s outlive the
 * upstream. ERR_INVALID when cfg names no registry. */
int upstream_start(struct upstream **out, struct store *s,
		   const struct sync_config *cfg, const struct reg_options *ro,
		   const struct upstream_options *o, struct err *err);
/* The interface for serve_options.upstream, valid until upstream_stop. */
const struct serve_upstream *upstream_iface(struct upstream *u);
/* Fail what runs, wake every waiter, join the thread, free. */
void upstream_stop(struct upstream *u);

#endif
