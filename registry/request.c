#include "registry/request.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "registry/retry.h"

static size_t body_read_cb(char *dst, size_t size, size_t nmemb, void *ud)
{
	struct reg_body_reader *br = ud;
	size_t want = size * nmemb;
	int64_t left = br->b->length - br->pos;
	ssize_t got;

	if (left <= 0)
		return 0;
	if ((int64_t)want > left)
		want = (size_t)left;
	if (br->b->data) {
		memcpy(dst, br->b->data + br->pos, want);
		br->pos += (int64_t)want;
		return want;
	}
	do
		got = pread(br->b->fd, dst, want, br->b->offset + br->pos);
	while (got < 0 && errno == EINTR);
	if (got <= 0)
		return CURL_READFUNC_ABORT;
	br->pos += got;
	return (size_t)got;
}

struct curl_slist *reg_header_add(struct curl_slist *h, const char *name,
				  const char *value)
{
	char line[600];

	snprintf(line, sizeof(line), "%s: %s", name, value);
	return curl_slist_append(h, line);
}

struct curl_slist *reg_call_setup(CURL *h, const struct reg_call *call,
				  struct reg_body_reader *br)
{
	const struct reg_body *body = call->body;
	struct curl_slist *hdrs = NULL;

	if (!strcmp(call->method, "HEAD"))
		curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
	if (body) {
		br->pos = 0;
		curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
		curl_easy_setopt(h, CURLOPT_READFUNCTION, body_read_cb);
		curl_easy_setopt(h, CURLOPT_READDATA, br);
		curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE,
				 (curl_off_t)body->length);
		curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, call->method);
		hdrs = curl_slist_append(hdrs, "Expect:");
		hdrs = reg_header_add(hdrs, "Content-Type",
				      body->content_type
					  ? body->content_type
					  : "application/octet-stream");
		if (body->content_range)
			hdrs = reg_header_add(hdrs, "Content-Range",
					      body->content_range);
	} else if (strcmp(call->method, "GET") &&
		   strcmp(call->method, "HEAD")) {
		curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, call->method);
		if (!strcmp(call->method, "POST")) {
			curl_easy_setopt(h, CURLOPT_POST, 1L);
			curl_easy_setopt(h, CURLOPT_POSTFIELDS, "");
			curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, 0L);
		}
	}
	return hdrs;
}

/* One attempt: the answer lands in r, the curl result is returned. */
static CURLcode attempt_once(struct reg_conn *conn, const char *url,
			     const struct reg_call *call, const char *auth,
			     struct reg_body_reader *br, struct reg_response *r)
{
	struct curl_slist *hdrs;
	CURLcode cc;

	reg_conn_throttle(conn);
	reg_response_reset(r);
	reg_conn_prepare(conn);
	curl_easy_setopt(conn->easy, CURLOPT_URL, url);
	hdrs = reg_call_setup(conn->easy, call, br);
	if (call->accept)
		hdrs = reg_header_add(hdrs, "Accept", call->accept);
	if (auth)
		hdrs = curl_slist_append(hdrs, auth);
	curl_easy_setopt(conn->easy, CURLOPT_HTTPHEADER, hdrs);
	reg_response_attach(r, conn->easy, 1);
	cc = curl_easy_perform(conn->easy);
	curl_easy_getinfo(conn->easy, CURLINFO_RESPONSE_CODE, &r->status);
	/* the handle is reset before its next use, so the list can go */
	curl_easy_setopt(conn->easy, CURLOPT_HTTPHEADER, NULL);
	curl_slist_free_all(hdrs);
	return cc;
}

int reg_request(struct reg_conn *conn, struct reg_token_cache *t,
		struct reg_response *out, const struct reg_call *call,
		struct err *err)
{
	char url[4096], why[300];
	int rc, auth_retries = 0, attempt = 0;
	struct reg_body_reader br = {call->body, 0};
	const char *base, *m = call->method;
	int foreign;

	rc = reg_conn_base_url(conn, &base, err);
	if (rc)
		return rc;
	if (reg_conn_url(conn, url, sizeof(url), base, call->url))
		return err_set(err, ERR_INVALID, "%s %.200s...: URL too long",
			       m, call->url);
	/* an absolute URL of another origin (a page link, a redirect) gets
	 * no credentials of this one, and its 401 teaches this cache
	 * nothing: as the engine does */
	foreign = strncmp(call->url, "/", 1) &&
		  (strncmp(url, base, strlen(base)) ||
		   (url[strlen(base)] && url[strlen(base)] != '/'));
	for (;;) {
		const char *auth = NULL;
		enum reg_retry_verdict v;
		CURLcode cc;
		long ms;

		rc = foreign ? 0
			     : reg_token_header(t, conn, &auth, call->repo,
						call->push, err);
		if (rc)
			return rc;
		cc = attempt_once(conn, url, call, auth, &br, out);
		if (out->body_too_large)
			return err_set(err, ERR_TOO_LARGE,
				       "%s %s: response larger than %zu bytes",
				       m, url, out->body.max);
		if (cc == CURLE_OK && out->status == 401 && !foreign &&
		    auth_retries < 2) {
			auth_retries++;
			rc = reg_token_challenge(t, conn, out, call->repo, err);
			if (rc)
				return rc;
			continue;
		}
		v = reg_retry_verdict(cc, out->status, attempt,
				      conn->opt->retries);
		if (v == REG_RETRY_DONE)
			break;
		if (cc != CURLE_OK)
			snprintf(why, sizeof(why), "%s",
				 curl_easy_strerror(cc));
		else
			reg_response_describe(why, sizeof(why), out);
		if (v == REG_RETRY_AGAIN && cc != CURLE_OK && call->failover &&
		    attempt >= 1)
			v = REG_RETRY_GIVE_UP; /* the next endpoint's turn */
		if (v == REG_RETRY_GIVE_UP)
			return err_set(err,
				       cc == CURLE_OPERATION_TIMEDOUT
					   ? ERR_TIMEOUT
					   : ERR_FAIL,
				       "%s %s: %s", m, url, why);
		attempt++;
		ms = reg_backoff_ms(conn->opt, attempt, out->retry_after);
		reg_logf(conn->opt, REG_LOG_WARN,
			 "%s %s: %s; retry %d/%d in %ld ms", m, url, why,
			 attempt, conn->opt->retries, ms);
		reg_sleep_ms(ms);
	}
	if (out->status == 401)
		return err_set(err, ERR_UNAUTHORIZED, "%s %s: 401 unauthorized",
			       m, url);
	return 0;
}
