#include "registry/transfer.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "registry/http.h"
#include "registry/retry.h"

enum slot_state { S_WAIT, S_ACTIVE, S_DONE };

struct slot {
	struct reg_blob_job *job;
	enum slot_state state;
	CURL *h;
	struct curl_slist *hdrs;
	struct reg_response resp;
	uint64_t start_off; /* Range start of the current attempt */
	int body_ok;	    /* status checked, writing to the sink */
	int sink_failed;
	struct err sink_err;
	int retries; /* transient failures so far */
	int auth_refreshed;
	int digest_restarts;
	long long not_before_ms; /* backoff deadline */
};

struct run {
	struct slot *slots;
	size_t n;
	const struct reg_transfer_opts *opts;
	CURLM *multi;
	uint64_t bytes_done, bytes_total;
	size_t done, active;
};

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static size_t write_cb(char *p, size_t size, size_t nmemb, void *ud)
{
	struct slot *s = ud;
	struct reg_blob_job *j = s->job;
	size_t n = size * nmemb;

	if (!s->body_ok) {
		long status = 0;

		curl_easy_getinfo(s->h, CURLINFO_RESPONSE_CODE, &status);
		if (status == 200 || status == 206) {
			/* A 200 to a Range request restarts the body. */
			if (status == 200 && j->sink.offset(j->sink.ctx) > 0 &&
			    j->sink.reset(j->sink.ctx, &s->sink_err)) {
				s->sink_failed = 1;
				return 0;
			}
			if (status == 206) {
				unsigned long long a = 0;
				if (sscanf(s->resp.content_range, "bytes %llu-",
					   &a) != 1 ||
				    a != j->sink.offset(j->sink.ctx)) {
					err_set(
					    &s->sink_err, ERR_FAIL,
					    "blob %s: bad Content-Range \"%s\" "
					    "for offset %llu",
					    j->digest.str,
					    s->resp.content_range,
					    (unsigned long long)j->sink.offset(
						j->sink.ctx));
					s->sink_failed = 1;
					return 0;
				}
			}
			s->body_ok = 1;
		} else {
			/* keep an error body for the message, capped */
			if (buf_append(&s->resp.body, p, n))
				return 0;
			return n;
		}
	}
	if (j->sink.write(j->sink.ctx, p, n, &s->sink_err)) {
		s->sink_failed = 1;
		return 0;
	}
	return n;
}

static int start(struct run *r, struct slot *s)
{
	struct reg_blob_job *j = s->job;
	const char *base, *auth = NULL;
	char url[2048], range[64];
	uint64_t off;

	if (reg_client_base_url(j->client, &base, &j->err) ||
	    reg_client_auth_header(j->client, &auth, j->repo, 0, &j->err))
		return j->err.code ? j->err.code : ERR_FAIL;
	reg_client_throttle(j->client);
	if (!s->h)
		s->h = curl_easy_init();
	else
		curl_easy_reset(s->h);
	if (!s->h)
		return err_set(&j->err, ERR_FAIL, "blob %s: curl init failed",
			       j->digest.str);
	reg_client_setup_easy(j->client, s->h);
	snprintf(url, sizeof(url), "%s/v2/%s/blobs/%s", base, j->repo,
		 j->digest.str);
	curl_easy_setopt(s->h, CURLOPT_URL, url);
	curl_slist_free_all(s->hdrs);
	s->hdrs = NULL;
	if (auth)
		s->hdrs = curl_slist_append(s->hdrs, auth);
	off = j->sink.offset(j->sink.ctx);
	if (off > 0) {
		snprintf(range, sizeof(range), "Range: bytes=%llu-",
			 (unsigned long long)off);
		s->hdrs = curl_slist_append(s->hdrs, range);
	}
	s->start_off = off;
	curl_easy_setopt(s->h, CURLOPT_HTTPHEADER, s->hdrs);
	reg_response_reset(&s->resp);
	reg_response_attach(&s->resp, s->h, 0);
	curl_easy_setopt(s->h, CURLOPT_WRITEFUNCTION, write_cb);
	curl_easy_setopt(s->h, CURLOPT_WRITEDATA, s);
	curl_easy_setopt(s->h, CURLOPT_PRIVATE, s);
	curl_easy_setopt(s->h, CURLOPT_BUFFERSIZE, 256L * 1024);
	s->body_ok = 0;
	s->sink_failed = 0;
	err_clear(&s->sink_err);
	if (curl_multi_add_handle(r->multi, s->h) != CURLM_OK)
		return err_set(&j->err, ERR_FAIL,
			       "blob %s: curl_multi_add_handle failed",
			       j->digest.str);
	s->state = S_ACTIVE;
	r->active++;
	j->attempts++;
	return 0;
}

static void finish_job(struct run *r, struct slot *s, int rc)
{
	s->state = S_DONE;
	s->job->result = rc;
	r->done++;
	if (r->opts->job_done)
		r->opts->job_done(r->opts->ctx, s->job);
}

static void schedule_retry(struct run *r, struct slot *s, const char *why,
			   long retry_after)
{
	struct reg_blob_job *j = s->job;
	const struct reg_options *o = reg_client_options(j->client);
	long ms;

	s->retries++;
	if (s->retries > o->retries) {
		finish_job(
		    r, s,
		    err_set(&j->err, j->err.code ? j->err.code : ERR_FAIL,
			    "blob %s in %s/%s: %s (gave up after %d attempts)",
			    j->digest.str, reg_client_host(j->client), j->repo,
			    why, j->attempts));
		return;
	}
	ms = reg_backoff_ms(o, s->retries, retry_after);
	reg_logf(o, REG_LOG_WARN, "blob %s: %s; retry %d/%d in %ld ms%s",
		 j->digest.str, why, s->retries, o->retries, ms,
		 j->sink.offset(j->sink.ctx) ? " (resuming)" : "");
	s->not_before_ms = now_ms() + ms;
	s->state = S_WAIT;
}

static void completed(struct run *r, struct slot *s, CURLcode cc)
{
	struct reg_blob_job *j = s->job;
	long status = 0;
	char why[400];
	int rc;

	curl_multi_remove_handle(r->multi, s->h);
	r->active--;
	curl_easy_getinfo(s->h, CURLINFO_RESPONSE_CODE, &status);
	s->resp.status = status;
	if (s->sink_failed && s->sink_err.code) {
		/* the sink refused bytes: too many of them, or a disk error */
		if (s->sink_err.code == ERR_DIGEST &&
		    s->digest_restarts++ == 0 &&
		    !j->sink.reset(j->sink.ctx, &j->err)) {
			schedule_retry(r, s, s->sink_err.msg, 0);
			return;
		}
		j->err = s->sink_err;
		finish_job(r, s, s->sink_err.code);
		return;
	}
	if (cc == CURLE_OK && (status == 200 || status == 206)) {
		if (j->size >= 0 &&
		    j->sink.offset(j->sink.ctx) < (uint64_t)j->size) {
			schedule_retry(r, s, "body ended early", 0);
			return;
		}
		rc = j->sink.finish(j->sink.ctx, &j->err);
		if (rc == ERR_DIGEST && s->digest_restarts++ == 0) {
			/* maybe corrupted in transit: one fresh download */
			char msg[ERR_MSG_MAX];
			snprintf(msg, sizeof(msg), "%s", j->err.msg);
			if (!j->sink.reset(j->sink.ctx, &j->err)) {
				err_clear(&j->err);
				schedule_retry(r, s, msg, 0);
				return;
			}
		}
		if (rc)
			err_wrap(&j->err, "%s/%s: ", reg_client_host(j->client),
				 j->repo);
		finish_job(r, s, rc);
		return;
	}
	if (cc != CURLE_OK) {
		snprintf(why, sizeof(why), "%s after %llu bytes",
			 curl_easy_strerror(cc),
			 (unsigned long long)j->sink.offset(j->sink.ctx));
		if (cc == CURLE_OPERATION_TIMEDOUT)
			j->err.code = ERR_TIMEOUT;
		schedule_retry(r, s, why, 0);
		return;
	}
	reg_response_describe(why, sizeof(why), &s->resp);
	if (status == 401 && !s->auth_refreshed) {
		s->auth_refreshed = 1;
		reg_client_auth_invalidate(j->client, j->repo);
		s->state = S_WAIT;
		s->not_before_ms = 0;
		return;
	}
	if (reg_retry_status(status)) {
		schedule_retry(r, s, why, s->resp.retry_after);
		return;
	}
	if (status == 416 && j->sink.offset(j->sink.ctx) > 0) {
		/* the server cannot resume here: start over */
		if (!j->sink.reset(j->sink.ctx, &j->err)) {
			schedule_retry(r, s, why, 0);
			return;
		}
	}
	finish_job(r, s,
		   err_set(&j->err,
			   status == 404		      ? ERR_NOT_FOUND
			   : (status == 401 || status == 403) ? ERR_UNAUTHORIZED
							      : ERR_FAIL,
			   "blob %s in %s/%s: %s", j->digest.str,
			   reg_client_host(j->client), j->repo, why));
}

static size_t active_for(struct run *r, struct reg_client *c)
{
	size_t n = 0;

	for (size_t i = 0; i < r->n; i++)
		if (r->slots[i].state == S_ACTIVE &&
		    r->slots[i].job->client == c)
			n++;
	return n;
}

static void report(struct run *r)
{
	struct reg_transfer_progress p;
	uint64_t bytes = 0;

	if (!r->opts->progress)
		return;
	for (size_t i = 0; i < r->n; i++)
		bytes +=
		    r->slots[i].job->sink.offset(r->slots[i].job->sink.ctx);
	p.bytes_done = bytes;
	p.bytes_total = r->bytes_total;
	p.jobs_done = r->done;
	p.jobs_total = r->n;
	p.in_flight = r->active;
	r->opts->progress(r->opts->ctx, &p);
}

int reg_transfer_run(struct reg_blob_job *jobs, size_t n,
		     const struct reg_transfer_opts *opts)
{
	struct run r;
	int concurrency = opts->concurrency > 0 ? opts->concurrency : 8;
	int failed = 0;
	long long last_report = 0;

	memset(&r, 0, sizeof(r));
	r.opts = opts;
	r.n = n;
	if (!n)
		return 0;
	r.slots = calloc(n, sizeof(*r.slots));
	r.multi = curl_multi_init();
	if (!r.slots || !r.multi) {
		free(r.slots);
		if (r.multi)
			curl_multi_cleanup(r.multi);
		for (size_t i = 0; i < n; i++) {
			jobs[i].result = err_set(&jobs[i].err, ERR_FAIL,
						 "blob %s: out of memory",
						 jobs[i].digest.str);
		}
		return ERR_FAIL;
	}
	for (size_t i = 0; i < n; i++) {
		r.slots[i].job = &jobs[i];
		reg_response_init(&r.slots[i].resp, 64 * 1024);
		err_clear(&jobs[i].err);
		jobs[i].result = 0;
		jobs[i].attempts = 0;
		if (jobs[i].size > 0)
			r.bytes_total += (uint64_t)jobs[i].size;
	}
	while (r.done < n) {
		long long t = now_ms();
		int running = 0, numfds = 0, msgs;
		CURLMsg *m;
		long wait = 200;

		for (size_t i = 0; i < n && (int)r.active < concurrency; i++) {
			struct slot *s = &r.slots[i];
			struct reg_client *c = s->job->client;

			if (s->state != S_WAIT)
				continue;
			if (s->not_before_ms > t) {
				long left = (long)(s->not_before_ms - t);
				if (left < wait)
					wait = left;
				continue;
			}
			if ((int)active_for(&r, c) >=
			    reg_client_max_connections(c))
				continue;
			if (start(&r, s))
				finish_job(&r, s,
					   s->job->err.code ? s->job->err.code
							    : ERR_FAIL);
		}
		if (!r.active) {
			if (r.done < n) {
				struct timespec ts = {0, (wait > 0 ? wait : 1) *
							     1000000L};
				nanosleep(&ts, NULL);
			}
			continue;
		}
		curl_multi_perform(r.multi, &running);
		while ((m = curl_multi_info_read(r.multi, &msgs))) {
			struct slot *s = NULL;
			if (m->msg != CURLMSG_DONE)
				continue;
			curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE,
					  (char **)&s);
			completed(&r, s, m->data.result);
		}
		if (r.active)
			curl_multi_poll(r.multi, NULL, 0,
					(int)(wait > 0 ? wait : 1), &numfds);
		if (t - last_report >= 250) {
			report(&r);
			last_report = t;
		}
	}
	report(&r);
	for (size_t i = 0; i < n; i++) {
		if (r.slots[i].h)
			curl_easy_cleanup(r.slots[i].h);
		curl_slist_free_all(r.slots[i].hdrs);
		reg_response_release(&r.slots[i].resp);
		if (jobs[i].result)
			failed = 1;
	}
	curl_multi_cleanup(r.multi);
	free(r.slots);
	return failed ? ERR_FAIL : 0;
}
