/* Fill on demand, the server's side (serve --upstream): a read that
 * needs the upstream holds one fill in its request (r->fill, released by
 * the completion handler) and never blocks: while the fill is pending the
 * connection is suspended (MHD_suspend_connection) and resumed by the
 * fill's wake-up, and MHD then calls the handler again, which re-checks.
 * A blob that is still arriving is answered by a callback response that
 * reads what has arrived and suspends the connection for the rest. */
#ifndef MIRROR_SERVE_FILL_H
#define MIRROR_SERVE_FILL_H

#include "mirror/serve/internal.h"

/* 1 when the server has an upstream and it serves r->rt.repo. */
int fill_serves(const struct req *r);

enum fill_wait {
	FILL_SETTLED,	/* r->fst: DONE, FAILED (or STREAMING if allowed) */
	FILL_SUSPENDED, /* the connection waits: the handler returns MHD_YES */
};

/* Wait on r->fill (held) without blocking: FILL_SETTLED with its status
 * in r->fst, or FILL_SUSPENDED. streaming: STREAMING settles too. */
enum fill_wait fill_settle(struct req *r, int streaming);
/* The 503 for a fill that failed other than "not found", or that could
 * not start (r->fill NULL: e says why). */
enum MHD_Result fill_unavailable(struct req *r, struct MHD_Connection *c,
				 const char *msg);
/* Answer the STREAMING blob fill r->fill (taken over by the response):
 * len bytes from from (size the blob's, -1 unknown), 206 when partial. */
enum MHD_Result fill_stream(struct req *r, struct MHD_Connection *c,
			    int64_t size, uint64_t from, uint64_t len,
			    int partial);
/* Release r->fill, if any (the completion handler). */
void fill_release(struct req *r);

#endif
