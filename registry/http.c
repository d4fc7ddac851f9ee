#include "registry/http.h"

#include <ctype.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

void reg_response_init(struct reg_response *r, size_t body_max)
{
	memset(r, 0, sizeof(*r));
	buf_init(&r->body, body_max);
	r->content_length = -1;
}

void reg_response_release(struct reg_response *r)
{
	buf_release(&r->body);
}

void reg_response_reset(struct reg_response *r)
{
	size_t max = r->body.max;

	buf_release(&r->body);
	memset(r, 0, sizeof(*r));
	buf_init(&r->body, max);
	r->content_length = -1;
}

long reg_parse_retry_after(const char *v)
{
	char *end;
	long n;
	time_t t;

	while (*v == ' ')
		v++;
	n = strtol(v, &end, 10);
	if (end != v && (*end == '\0' || isspace((unsigned char)*end)))
		return n < 0 ? 0 : n;
	t = curl_getdate(v, NULL);
	if (t > 0) {
		n = (long)(t - time(NULL));
		return n < 0 ? 0 : n;
	}
	return 0;
}

static void copy_value(char *dst, size_t cap, const char *v, size_t n)
{
	while (n && (v[n - 1] == '\r' || v[n - 1] == '\n' || v[n - 1] == ' '))
		n--;
	while (n && (*v == ' ' || *v == '\t')) {
		v++;
		n--;
	}
	if (n >= cap)
		n = cap - 1;
	memcpy(dst, v, n);
	dst[n] = '\0';
}

static size_t header_cb(char *p, size_t size, size_t nmemb, void *ud)
{
	struct reg_response *r = ud;
	size_t n = size * nmemb;
	const char *colon;
	size_t kl;

	if (n >= 5 && !memcmp(p, "HTTP/", 5)) {
		/* a new response (after a redirect or 100): forget the old */
		r->content_type[0] = r->digest[0] = r->www_auth[0] = '\0';
		r->link[0] = r->location[0] = r->content_range[0] = '\0';
		r->retry_after = 0;
		r->content_length = -1;
		r->oci_subject = 0;
		return n;
	}
	colon = memchr(p, ':', n);
	if (!colon)
		return n;
	kl = (size_t)(colon - p);
	colon++;
#define IS(name) (kl == sizeof(name) - 1 && !strncasecmp(p, name, kl))
	if (IS("content-type")) {
		copy_value(r->content_type, sizeof(r->content_type), colon,
			   n - kl - 1);
		/* drop parameters such as "; charset=utf-8" */
		char *semi = strchr(r->content_type, ';');
		if (semi) {
			*semi = '\0';
			while (semi > r->content_type && semi[-1] == ' ')
				*--semi = '\0';
		}
	} else if (IS("docker-content-digest")) {
		copy_value(r->digest, sizeof(r->digest), colon, n - kl - 1);
	} else if (IS("www-authenticate")) {
		char tmp[sizeof(r->www_auth)];
		copy_value(tmp, sizeof(tmp), colon, n - kl - 1);
		if (!r->www_auth[0] || (!strncasecmp(tmp, "bearer", 6) &&
					strncasecmp(r->www_auth, "bearer", 6)))
			memcpy(r->www_auth, tmp, sizeof(tmp));
	} else if (IS("link")) {
		copy_value(r->link, sizeof(r->link), colon, n - kl - 1);
	} else if (IS("location")) {
		copy_value(r->location, sizeof(r->location), colon, n - kl - 1);
	} else if (IS("retry-after")) {
		char tmp[128];
		copy_value(tmp, sizeof(tmp), colon, n - kl - 1);
		r->retry_after = reg_parse_retry_after(tmp);
	} else if (IS("content-length")) {
		char tmp[32];
		copy_value(tmp, sizeof(tmp), colon, n - kl - 1);
		r->content_length = strtoll(tmp, NULL, 10);
	} else if (IS("oci-subject")) {
		r->oci_subject = 1;
	} else if (IS("content-range")) {
		copy_value(r->content_range, sizeof(r->content_range), colon,
			   n - kl - 1);
	}
#undef IS
	return n;
}

static size_t body_cb(char *p, size_t size, size_t nmemb, void *ud)
{
	struct reg_response *r = ud;
	size_t n = size * nmemb;

	if (buf_append(&r->body, p, n)) {
		r->body_too_large = 1;
		return 0;
	}
	return n;
}

void reg_response_attach(struct reg_response *r, CURL *h, int write_body)
{
	curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, header_cb);
	curl_easy_setopt(h, CURLOPT_HEADERDATA, r);
	if (write_body) {
		curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, body_cb);
		curl_easy_setopt(h, CURLOPT_WRITEDATA, r);
	}
}

void reg_response_describe(char *dst, size_t cap, const struct reg_response *r)
{
	json_t *j = NULL, *e0;
	const char *code = NULL, *msg = NULL;

	if (r->body.len && r->body.len < 65536)
		j = json_loadb(r->body.data, r->body.len, 0, NULL);
	e0 = json_array_get(json_object_get(j, "errors"), 0);
	if (json_is_object(e0)) {
		code = json_string_value(json_object_get(e0, "code"));
		msg = json_string_value(json_object_get(e0, "message"));
	}
	if (code)
		snprintf(dst, cap, "%ld %s%s%.200s", r->status, code,
			 msg ? ": " : "", msg ? msg : "");
	else
		snprintf(dst, cap, "HTTP %ld", r->status);
	json_decref(j);
}
