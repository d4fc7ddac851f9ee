#include <criterion/criterion.h>
#include <curl/curl.h>
#include <time.h>

#include "registry/http.h"
#include "registry/retry.h"

Test(reg_retry, retry_after_seconds_and_dates)
{
	char date[64];
	time_t t = time(NULL) + 30;
	struct tm tm;
	long v;

	cr_assert_eq(reg_parse_retry_after("7"), 7);
	cr_assert_eq(reg_parse_retry_after(" 0"), 0);
	cr_assert_eq(reg_parse_retry_after("-5"), 0);
	cr_assert_eq(reg_parse_retry_after("soon"), 0);
	gmtime_r(&t, &tm);
	strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S GMT", &tm);
	v = reg_parse_retry_after(date);
	cr_assert(v >= 28 && v <= 30, "got %ld", v);
}

Test(reg_retry, backoff_grows_with_jitter_and_honours_retry_after)
{
	struct reg_options o;

	reg_options_init(&o);
	o.retry_base_ms = 100;
	o.retry_after_max = 5;
	for (int i = 0; i < 50; i++) {
		long a1 = reg_backoff_ms(&o, 1, 0),
		     a3 = reg_backoff_ms(&o, 3, 0);
		cr_assert(a1 >= 75 && a1 <= 125, "attempt 1: %ld", a1);
		cr_assert(a3 >= 300 && a3 <= 500, "attempt 3: %ld", a3);
	}
	cr_assert_eq(reg_backoff_ms(&o, 1, 2), 2000);
	/* Retry-After is capped */
	cr_assert_eq(reg_backoff_ms(&o, 1, 3600), 5000);
	/* and exponential growth too */
	cr_assert(reg_backoff_ms(&o, 40, 0) <= 37500);
}

Test(reg_retry, transient_statuses_are_408_429_and_5xx)
{
	cr_assert(reg_retry_status(408));
	cr_assert(reg_retry_status(429));
	cr_assert(reg_retry_status(500));
	cr_assert(reg_retry_status(503));
	cr_assert_not(reg_retry_status(200));
	cr_assert_not(reg_retry_status(401));
	cr_assert_not(reg_retry_status(404));
	cr_assert_not(reg_retry_status(416));
}

Test(reg_retry, verdict_on_an_answer)
{
	cr_assert_eq(reg_retry_verdict(CURLE_OK, 200, 0, 5), REG_RETRY_DONE);
	cr_assert_eq(reg_retry_verdict(CURLE_OK, 404, 0, 5), REG_RETRY_DONE);
	cr_assert_eq(reg_retry_verdict(CURLE_OK, 401, 5, 5), REG_RETRY_DONE);
	cr_assert_eq(reg_retry_verdict(CURLE_OK, 503, 0, 5), REG_RETRY_AGAIN);
	cr_assert_eq(reg_retry_verdict(CURLE_OK, 429, 4, 5), REG_RETRY_AGAIN);
	/* the last retry spent */
	cr_assert_eq(reg_retry_verdict(CURLE_OK, 503, 5, 5), REG_RETRY_GIVE_UP);
	cr_assert_eq(reg_retry_verdict(CURLE_OK, 500, 0, 0), REG_RETRY_GIVE_UP);
}

Test(reg_retry, verdict_on_a_transport_failure)
{
	cr_assert_eq(reg_retry_verdict(CURLE_RECV_ERROR, 0, 0, 5),
		     REG_RETRY_AGAIN);
	cr_assert_eq(reg_retry_verdict(CURLE_OPERATION_TIMEDOUT, 0, 2, 5),
		     REG_RETRY_AGAIN);
	cr_assert_eq(reg_retry_verdict(CURLE_OPERATION_TIMEDOUT, 0, 5, 5),
		     REG_RETRY_GIVE_UP);
	/* failures that will not go away are not retried */
	cr_assert_eq(reg_retry_verdict(CURLE_COULDNT_RESOLVE_HOST, 0, 0, 5),
		     REG_RETRY_GIVE_UP);
	cr_assert_eq(reg_retry_verdict(CURLE_PEER_FAILED_VERIFICATION, 0, 0, 5),
		     REG_RETRY_GIVE_UP);
	cr_assert_eq(reg_retry_verdict(CURLE_URL_MALFORMAT, 0, 0, 5),
		     REG_RETRY_GIVE_UP);
	cr_assert_not(reg_retry_curl(CURLE_WRITE_ERROR));
	cr_assert(reg_retry_curl(CURLE_COULDNT_CONNECT));
}

Test(reg_retry, backoff_doubles_up_to_thirty_seconds)
{
	struct reg_options o;

	reg_options_init(&o);
	o.retry_base_ms = 1000;
	o.retry_after_max = 60;
	for (int i = 0; i < 50; i++) {
		long a2 = reg_backoff_ms(&o, 2, 0),
		     a6 = reg_backoff_ms(&o, 6, 0);
		cr_assert(a2 >= 1500 && a2 <= 2500, "attempt 2: %ld", a2);
		/* 32 s capped to 30 s, then jitter */
		cr_assert(a6 >= 22500 && a6 <= 37500, "attempt 6: %ld", a6);
	}
	/* a Retry-After shorter than the backoff does not shorten it */
	for (int i = 0; i < 20; i++)
		cr_assert(reg_backoff_ms(&o, 3, 1) >= 3000);
}
