/* Where a streamed response body goes: registry/transfer.h's blob jobs
 * and registry/engine.h's jobs with a sink. The sink hashes and verifies
 * (the store's writer does); the transfer never keeps a body in memory. */
#ifndef REGISTRY_SINK_H
#define REGISTRY_SINK_H

#include <stddef.h>
#include <stdint.h>

#include "oci/err.h"

struct reg_sink {
	/* Append bytes; nonzero aborts the transfer (e.g. too many bytes). */
	int (*write)(void *ctx, const void *p, size_t n, struct err *err);
	/* Discard everything written; the next write starts at offset 0. */
	int (*reset)(void *ctx, struct err *err);
	/* Bytes written so far. */
	uint64_t (*offset)(void *ctx);
	/* All bytes are in: verify. ERR_DIGEST on mismatch (the sink keeps
	 * nothing then, and may be reset and reused). */
	int (*finish)(void *ctx, struct err *err);
	void *ctx;
	/* Optional: called once, when the first 200 answer's headers are
	 * in and before its body bytes, with its Content-Length (-1 when
	 * not given). NULL: not called. */
	void (*headers)(void *ctx, int64_t length);
};

#endif
