/* The server's counters and the /metrics endpoint. Thread-safe: counters
 * are atomics in struct server. */
#ifndef MIRROR_SERVE_METRICS_H
#define MIRROR_SERVE_METRICS_H

#include <stdint.h>

#include "mirror/serve/internal.h"

/* Count one finished request: its method, status and body bytes. */
void metrics_count(struct server *srv, const char *method, unsigned status,
		   uint64_t sent, uint64_t received);
/* The ocimirror_sync_* gauges of the store's last sync record, appended
 * to b; each left out while there is nothing to tell (see metrics.c). */
void metrics_sync(struct buf *b, const struct store *s);
/* Answer /metrics (Prometheus text format 0.0.4). */
enum MHD_Result metrics_send(struct req *r, struct MHD_Connection *c);

#endif
