#include "registry/retry.h"

#include <curl/curl.h>
#include <errno.h>
#include <stdlib.h>
#include <time.h>

int reg_retry_status(long status)
{
	return status == 408 || status == 429 || status >= 500;
}

int reg_retry_curl(int cc)
{
	switch ((CURLcode)cc) {
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_UNSUPPORTED_PROTOCOL:
	case CURLE_URL_MALFORMAT:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_WRITE_ERROR:
	case CURLE_TOO_MANY_REDIRECTS: return 0;
	default: return 1;
	}
}

enum reg_retry_verdict reg_retry_verdict(int cc, long status, int retried,
					 int retries)
{
	if (cc == CURLE_OK && !reg_retry_status(status))
		return REG_RETRY_DONE;
	if ((cc == CURLE_OK || reg_retry_curl(cc)) && retried < retries)
		return REG_RETRY_AGAIN;
	return REG_RETRY_GIVE_UP;
}

long reg_backoff_ms(const struct reg_options *o, int attempt, long retry_after)
{
	long ms = o->retry_base_ms, cap = 30000;

	for (int i = 1; i < attempt && ms < cap; i++)
		ms *= 2;
	if (ms > cap)
		ms = cap;
	/* jitter: 75%..125% */
	ms = ms * (75 + (long)(random() % 51)) / 100;
	if (retry_after > 0) {
		long ra = retry_after > o->retry_after_max ? o->retry_after_max
							   : retry_after;
		if (ra * 1000 > ms)
			ms = ra * 1000;
	}
	return ms;
}

void reg_sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}
