#include "registry/transfer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "registry/engine.h"

struct submitted {
	struct reg_blob_job *job;
	void (*done)(void *ctx, struct reg_blob_job *job);
	void *ctx;
};

static void blob_done(struct reg_job *j, void *ctx)
{
	struct submitted *s = ctx;

	s->job->result = reg_job_result(j);
	s->job->err = *reg_job_err(j);
	s->job->attempts = reg_job_attempts(j);
	if (s->done)
		s->done(s->ctx, s->job);
	free(s);
}

int reg_transfer_submit(struct reg_blob_job *job,
			void (*done)(void *ctx, struct reg_blob_job *job),
			void *ctx)
{
	struct reg_engine *e = reg_client_engine(job->client);
	struct submitted *s = calloc(1, sizeof(*s));
	struct reg_req r;
	char url[1200], what[200];
	int rc;

	err_clear(&job->err);
	job->result = 0;
	job->attempts = 0;
	if (!e || !s) {
		free(s);
		return job->result =
			   err_set(&job->err, ERR_FAIL,
				   "blob %s: out of memory", job->digest.str);
	}
	s->job = job;
	s->done = done;
	s->ctx = ctx;
	snprintf(url, sizeof(url), "/v2/%s/blobs/%s", job->repo,
		 job->digest.str);
	snprintf(what, sizeof(what), "blob %s", job->digest.str);
	memset(&r, 0, sizeof(r));
	r.client = job->client;
	r.method = "GET";
	r.url = url;
	r.repo = job->repo;
	r.sink = &job->sink;
	r.size = job->size;
	r.bulk = 1;
	r.what = what;
	r.done = blob_done;
	r.ctx = s;
	rc = reg_engine_submit(e, &r, &job->err);
	if (rc) {
		free(s);
		job->result = rc;
	}
	return rc;
}

/* One reg_transfer_run: its jobs and what it reports. */
struct run {
	struct reg_blob_job *jobs;
	size_t n, done;
	uint64_t bytes_total;
	const struct reg_transfer_opts *opts;
};

static void run_job_done(void *ctx, struct reg_blob_job *job)
{
	struct run *r = ctx;

	r->done++;
	if (r->opts->job_done)
		r->opts->job_done(r->opts->ctx, job);
}

static void run_progress(void *ctx, const struct reg_engine_stats *st)
{
	struct run *r = ctx;
	struct reg_transfer_progress p;

	memset(&p, 0, sizeof(p));
	for (size_t i = 0; i < r->n; i++)
		p.bytes_done += r->jobs[i].sink.offset(r->jobs[i].sink.ctx);
	p.bytes_total = r->bytes_total;
	p.jobs_done = r->done;
	p.jobs_total = r->n;
	p.in_flight = st->in_flight;
	r->opts->progress(r->opts->ctx, &p);
}

int reg_transfer_run(struct reg_blob_job *jobs, size_t n,
		     const struct reg_transfer_opts *opts)
{
	struct reg_engine *e;
	struct reg_engine_limits lim;
	struct run r;
	int failed = 0;

	if (!n)
		return 0;
	memset(&r, 0, sizeof(r));
	r.jobs = jobs;
	r.n = n;
	r.opts = opts;
	e = reg_client_engine(jobs[0].client);
	for (size_t i = 0; i < n; i++) {
		jobs[i].result = 0;
		err_clear(&jobs[i].err);
		jobs[i].attempts = 0;
		if (jobs[i].size > 0)
			r.bytes_total += (uint64_t)jobs[i].size;
	}
	if (!e || reg_engine_running(e)) {
		/* from inside a callback the jobs could not run */
		for (size_t i = 0; i < n; i++)
			jobs[i].result =
			    err_set(&jobs[i].err, ERR_FAIL, "blob %s: %s",
				    jobs[i].digest.str,
				    e ? "transfer started inside another run"
				      : "out of memory");
		return ERR_FAIL;
	}
	memset(&lim, 0, sizeof(lim));
	lim.max_bulk = opts->concurrency > 0 ? opts->concurrency : 8;
	reg_engine_set_limits(e, &lim);
	for (size_t i = 0; i < n; i++)
		if (reg_transfer_submit(&jobs[i], run_job_done, &r))
			run_job_done(&r, &jobs[i]);
	if (opts->progress)
		reg_engine_set_progress(e, run_progress, &r);
	reg_engine_run(e);
	reg_engine_set_progress(e, NULL, NULL);
	for (size_t i = 0; i < n; i++)
		if (jobs[i].result)
			failed = 1;
	return failed ? ERR_FAIL : 0;
}
