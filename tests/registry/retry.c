#include <criterion/criterion.h>
#include <time.h>

#include "registry/client.h"
#include "registry/http.h"

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
		long a1 = reg_backoff_ms(&o, 1, 0), a3 = reg_backoff_ms(&o, 3, 0);
		cr_assert(a1 >= 75 && a1 <= 125, "attempt 1: %ld", a1);
		cr_assert(a3 >= 300 && a3 <= 500, "attempt 3: %ld", a3);
	}
	cr_assert_eq(reg_backoff_ms(&o, 1, 2), 2000);
	/* Retry-After is capped */
	cr_assert_eq(reg_backoff_ms(&o, 1, 3600), 5000);
	/* and exponential growth too */
	cr_assert(reg_backoff_ms(&o, 40, 0) <= 37500);
}
