/* libFuzzer target: margo_app_parse + margo_app_validate (and the
 * MARGO_FOR_PULL reading) on arbitrary
 * bytes. Must not crash or leak; every problem has a position and a
 * one-line message; the counts cover the kept problems. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mirror/margo/description.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct margo_problems p;
	struct margo_app app;
	struct err err;
	int rc;

	err_clear(&err);
	margo_problems_init(&p);
	rc = margo_app_parse(&app, &p, (const char *)data, size, &err);
	if (rc && rc != ERR_FAIL)
		abort();
	margo_app_validate(&p, &app, NULL);
	if (p.n > p.n_errors + p.n_warnings || p.n > MARGO_PROBLEMS_MAX)
		abort();
	for (size_t i = 0; i < p.n; i++)
		if (!p.v[i].line || !p.v[i].column ||
		    strchr(p.v[i].message, '\n'))
			abort();
	for (size_t i = 0; i < app.n_profiles; i++)
		if (!app.profiles[i].line)
			abort();
	/* as app pull reads it: the same rules, fewer errors */
	{
		struct margo_problems q;

		margo_problems_init(&q);
		margo_app_check(&q, &app, NULL, MARGO_FOR_PULL);
		if (q.n > q.n_errors + q.n_warnings ||
		    q.n > MARGO_PROBLEMS_MAX)
			abort();
		for (size_t i = 0; i < q.n; i++)
			if (!q.v[i].line || !q.v[i].column ||
			    strchr(q.v[i].message, '\n'))
				abort();
		margo_problems_release(&q);
	}
	margo_app_release(&app);
	margo_problems_release(&p);
	return 0;
}
