/* The one retry policy of registry/: which outcomes of an HTTP exchange
 * are transient, how long to wait before the next attempt (exponential
 * backoff with jitter, Retry-After honoured up to a cap), and the sleep.
 * Requests (registry/request.h), token fetches (registry/token.h) and
 * blob transfers (registry/transfer.h) all ask here. No state; the only
 * impurity is the jitter's random(). */
#ifndef REGISTRY_RETRY_H
#define REGISTRY_RETRY_H

#include "registry/options.h"

/* 1 for the statuses worth another attempt: 408, 429 and 5xx. */
int reg_retry_status(long status);

/* 1 when curl result code cc (a CURLcode, CURLE_OK excluded) may go away
 * on its own (a dropped connection, a timeout); 0 for the ones that will
 * not (unresolvable host, bad URL, failed verification, a refused write).
 * Requests and token fetches fail fast on the latter, so that a mistyped
 * host is one line at once; blob transfers, whose host has answered the
 * manifest request already, retry every transport failure. */
int reg_retry_curl(int cc);

enum reg_retry_verdict {
	REG_RETRY_DONE,	   /* not transient: the caller reads the status */
	REG_RETRY_AGAIN,   /* transient, attempts left: wait and retry */
	REG_RETRY_GIVE_UP, /* transient or broken, no point retrying */
};

/* The verdict on an attempt that ended with curl code cc and HTTP status
 * (0 when none) after `retried` retries, of at most `retries`. */
enum reg_retry_verdict reg_retry_verdict(int cc, long status, int retried,
					 int retries);

/* Backoff before retry `attempt` (1-based), in ms: retry_base_ms doubled
 * per attempt up to 30 s, times 75..125 % jitter; at least retry_after
 * seconds (capped at retry_after_max) when retry_after > 0. */
long reg_backoff_ms(const struct reg_options *o, int attempt, long retry_after);

/* Sleep ms milliseconds, resuming after signals. */
void reg_sleep_ms(long ms);

#endif
