/* Parallel blob downloads on curl's multi interface.
 *
 * Each job streams one blob into a sink. The sink hashes and verifies (the
 * store's writer does); this module never keeps a body in memory. Drops
 * and stalls resume with Range from the byte reached; when a server
 * ignores Range the sink is reset and the body restarts. 5xx, 408 and 429
 * are retried with backoff and Retry-After; a 401 refreshes the token once.
 * A digest mismatch at the end restarts the blob once from zero, then fails.
 * At most max_connections transfers run per client, `concurrency` in all. */
#ifndef REGISTRY_TRANSFER_H
#define REGISTRY_TRANSFER_H

#include <stdint.h>

#include "oci/digest.h"
#include "oci/err.h"
#include "registry/client.h"
#include "registry/sink.h"

struct reg_blob_job {
	struct reg_client *client;
	const char *repo; /* path in the registry, e.g. "library/nginx" */
	struct oci_digest digest;
	int64_t size; /* expected, -1 if unknown */
	struct reg_sink sink;
	/* results */
	int result; /* 0 or ERR_* */
	struct err err;
	int attempts;
	void *user;
};

struct reg_transfer_progress {
	uint64_t bytes_done;  /* received so far in this run */
	uint64_t bytes_total; /* sum of known sizes */
	size_t jobs_done, jobs_total, in_flight;
	/* filled by the callers that know them (mirror/pull, mirror/sync);
	 * 0 when not counted */
	size_t manifests;		 /* manifests resolved */
	size_t tags_checked, tags_total; /* tags HEADed (sync) */
};

struct reg_transfer_opts {
	int concurrency; /* whole run; default 8 */
	void (*progress)(void *ctx, const struct reg_transfer_progress *p);
	void (*job_done)(void *ctx, struct reg_blob_job *job);
	void *ctx;
};

/* Queue one job on its client's engine (registry/engine.h) as a bulk
 * transfer; done(ctx, job) runs from reg_engine_run when it finished
 * (job->result and job->err are set then). The job must stay valid until
 * then. Out of memory is ERR_FAIL (done is then never called). */
int reg_transfer_submit(struct reg_blob_job *job,
			void (*done)(void *ctx, struct reg_blob_job *job),
			void *ctx);

/* Runs every job to completion or failure, on the engine of the jobs'
 * clients (all of one pool), with opts->concurrency as its bulk limit. Returns
 * 0 when all succeeded, ERR_FAIL when any failed (each job says why in its own
 * err). */
int reg_transfer_run(struct reg_blob_job *jobs, size_t n,
		     const struct reg_transfer_opts *opts);

#endif
