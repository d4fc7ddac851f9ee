/* GET /ocimirror/v1/sync: the last sync run the store records
 * (mirror/store/syncstatus.h), as
 *   {"last": {started, finished, result, added, updated, unchanged,
 *             pruned, failed, failures: [STRING], failuresOmitted} | null,
 *    "lastSuccess": TIMESTAMP | null}
 * Times are RFC 3339 UTC ("2026-12-02T01:52:46Z"). A record that cannot
 * be read is 500 naming it. Read access as for the registry reads. */
#ifndef MIRROR_SERVE_API_SYNC_H
#define MIRROR_SERVE_API_SYNC_H

#include <stddef.h>
#include <stdint.h>

#include "mirror/serve/internal.h"
#include "mirror/store/syncstatus.h"

/* The answer's body (caller frees), or NULL when out of memory. */
char *api_sync_json(const struct store_sync_status *st);
/* RFC 3339 UTC of Unix seconds t into out (at least 21 bytes). */
void api_sync_time(char *out, size_t cap, int64_t t);

enum MHD_Result api_sync(struct req *r, struct MHD_Connection *c);

#endif
