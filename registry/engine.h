/* The request engine: every request of a run as a job on one libcurl
 * multi event loop.
 *
 * A job is one HTTP exchange with a registry (a tag list page, a HEAD, a
 * manifest, a referrers list, a blob streamed into a sink, an upload) with
 * the client's authentication and retry policy, run without blocking the
 * others: a job starts as soon as the limits allow, and its done callback
 * (called from reg_engine_run, on the calling thread) may submit the jobs
 * that depend on it. Limits hold across the whole run:
 *   - per registry: connections over HTTP/1.1 (the client's
 *     max_connections), streams over HTTP/2 (multiplexed on one
 *     connection, CURLPIPE_MULTIPLEX and CURLOPT_PIPEWAIT), the `rate:`
 *     limit, and a 429 or 503 with Retry-After, which holds back every
 *     job of that registry, not only the one that got it;
 *   - global: requests in flight, and of those the bulk transfers (blobs,
 *     archives, uploads), and bytes of response bodies held in memory;
 *     queued jobs hold only their request, a response buffer is taken
 *     when a job starts;
 *   - until a registry has answered once, one request goes to it at a
 *     time (its authentication scheme and protocol are then known);
 *   - token fetches are single-flight: every job that needs the token of
 *     one scope waits for the one fetch of it.
 *
 * A job with a sink streams its body there (registry/transfer.h's
 * contract): a dropped or stalled transfer resumes with Range from the
 * byte reached, a 200 to a Range request resets the sink, a digest
 * mismatch restarts once from zero. Without a sink the body is kept in
 * memory up to body_max.
 *
 * Not thread-safe: one engine per thread. Clients and the engine: a
 * reg_pool gives every client it creates its one engine; a client made
 * alone gets its own (reg_client_engine). */
#ifndef REGISTRY_ENGINE_H
#define REGISTRY_ENGINE_H

#include <stddef.h>
#include <stdint.h>

#include "oci/err.h"
#include "registry/http.h"
#include "registry/request.h"
#include "registry/sink.h"

struct reg_client;
struct reg_engine;
struct reg_job;

struct reg_engine_limits {
	int max_in_flight; /* requests in flight, whole run; default 64 */
	int max_bulk;	   /* of those, bulk transfers; default 8 */
	int h2_streams;	   /* streams per HTTP/2 registry; default 100 */
	/* bytes of response bodies held in memory (in flight or in a
	 * callback) before no more jobs start; default 64 MiB */
	size_t max_body_bytes;
};

int reg_engine_new(struct reg_engine **out, struct err *err);
/* Jobs still queued are dropped without their callbacks. */
void reg_engine_free(struct reg_engine *e);
/* Values <= 0 (0 for sizes) keep the current (default) limit. */
void reg_engine_set_limits(struct reg_engine *e,
			   const struct reg_engine_limits *l);

struct reg_req {
	struct reg_client *client;
	const char *method; /* "GET", "HEAD", "PUT", ... (copied) */
	const char *url;    /* "/v2/..." on the host, or absolute (copied) */
	const char *accept; /* Accept value or NULL (copied) */
	const char *repo;   /* token scope or NULL (copied) */
	int push;	    /* push scope */
	/* request body: the struct and its strings are copied, the data or
	 * fd it points at must stay valid until the job is done */
	const struct reg_body *body;
	size_t body_max; /* in-memory response body cap; 0: 64 KiB */
	/* stream the response body here instead (copied struct); size is
	 * the expected length or -1 */
	const struct reg_sink *sink;
	int64_t size;
	int bulk; /* counts against max_bulk */
	/* the whole exchange, each attempt (CURLOPT_TIMEOUT_MS); 0: only
	 * the client's connect and stall timeouts */
	long timeout_ms;
	int no_retry;	  /* one attempt: no retry after a failure */
	const char *what; /* names the job in messages (copied); NULL: the
			     method and URL */
	void (*done)(struct reg_job *j, void *ctx);
	void *ctx;
};

/* Queue a job. Out of memory is ERR_FAIL naming the job; the callback is
 * then never called. May be called from a done callback. Refused
 * (ERR_FAIL "METHOD what: cancelled (why)", no callback) once
 * reg_engine_cancel_all was called. */
int reg_engine_submit(struct reg_engine *e, const struct reg_req *r,
		      struct err *err);

/* Interrupt reg_engine_run's wait for the network (curl_multi_wakeup)
 * so that it calls its hook soon: the one function here that may be
 * called from another thread while the engine runs. */
void reg_engine_wakeup(struct reg_engine *e);
/* fn(ctx) is called on the running thread at every turn of
 * reg_engine_run's loop (after a wakeup too) and before it ends, so that
 * the caller can submit jobs other threads handed over. NULL: none. */
void reg_engine_set_hook(struct reg_engine *e, void (*fn)(void *ctx),
			 void *ctx);

/* Run until no job is left (including the ones callbacks submit). Calls
 * from inside a callback are refused (ERR_FAIL). */
int reg_engine_run(struct reg_engine *e);

/* End every job now: in flight (its transfer is taken off the multi and
 * its handle cleaned up; a sink gets no more writes and no finish),
 * queued, waiting for a token, held back by a Retry-After or a limit,
 * or backing off before a retry. Each ends with ERR_FAIL
 * "<job>: cancelled (<why>)" (why NULL or "": "engine cancelled"), its
 * callback called exactly once, before this returns (when called from
 * a callback, at the latest before reg_engine_run's next turn). From
 * then on the engine is cancelled for the rest of its life: no job
 * starts, reg_engine_submit refuses new ones (so callbacks submitting
 * follow-ups get an error, not a job), and reg_engine_run returns
 * promptly, now and when called again. Call it on the engine's thread:
 * outside reg_engine_run, or inside it from the hook or a callback
 * (another thread sets a flag the hook reads, then calls
 * reg_engine_wakeup). Calling it again does nothing more (the first
 * why stays). Every client of a reg_pool shares its engine: all of
 * them are cancelled. */
void reg_engine_cancel_all(struct reg_engine *e, const char *why);
/* 1 once reg_engine_cancel_all was called. */
int reg_engine_cancelled(const struct reg_engine *e);

/* 1 while reg_engine_run is running (a caller inside a callback). */
int reg_engine_running(const struct reg_engine *e);

/* What a finished job gives its callback (valid during the call):
 *   without a sink: 0 when an answer came (the caller judges the
 *   status), ERR_TOO_LARGE for a body over body_max, ERR_UNAUTHORIZED
 *   for a 401 after re-authentication, ERR_TIMEOUT / ERR_FAIL for
 *   transport failures after the last retry;
 *   with a sink: 0 only when the body was stored and verified, else the
 *   error (ERR_NOT_FOUND for a 404, ERR_DIGEST, ...). */
int reg_job_result(const struct reg_job *j);
const struct err *reg_job_err(const struct reg_job *j);
/* The last answer; its body may be taken (buf_detach). */
struct reg_response *reg_job_response(struct reg_job *j);
struct reg_client *reg_job_client(const struct reg_job *j);
int reg_job_attempts(const struct reg_job *j);

struct reg_engine_stats {
	size_t done;	  /* jobs finished */
	size_t failed;	  /* of those, with an error */
	size_t in_flight; /* now */
	size_t queued;	  /* waiting for a limit, a token or a retry */
	size_t retries;
	size_t peak_in_flight;
	uint64_t bytes; /* body bytes received */
};
void reg_engine_stats(const struct reg_engine *e, struct reg_engine_stats *out);
/* Called from reg_engine_run at most every 250 ms and once at its end. */
void reg_engine_set_progress(struct reg_engine *e,
			     void (*fn)(void *ctx,
					const struct reg_engine_stats *s),
			     void *ctx);

#endif
