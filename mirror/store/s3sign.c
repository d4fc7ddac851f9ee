/* AWS Signature Version 4 (s3sign.h): the canonical request, the string
 * to sign, the key chain AWS4+secret -> date -> region -> service ->
 * aws4_request, on OpenSSL's one-shot HMAC and EVP digests. */
#include "mirror/store/s3sign.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "oci/buf.h"

#define MAX_PAIRS 64	/* query pairs of one request */
#define MAX_HEADERS 32	/* signed headers of one request */
#define CANON_MAX 65536 /* a canonical request */
#define ALGO "AWS4-HMAC-SHA256"

static const char hexd[] = "0123456789abcdef";

static void to_hex(char *out, const unsigned char *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		out[2 * i] = hexd[p[i] >> 4];
		out[2 * i + 1] = hexd[p[i] & 15];
	}
	out[2 * n] = '\0';
}

void s3sign_sha256_hex(char out[S3_SHA256_HEX], const void *p, size_t n)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;

	if (!EVP_Digest(p, n, md, &mdlen, EVP_sha256(), NULL) || mdlen != 32) {
		out[0] = '\0';
		return;
	}
	to_hex(out, md, 32);
}

static int hmac(unsigned char out[32], const void *key, size_t klen,
		const void *msg, size_t mlen)
{
	unsigned int n = 0;

	if (!HMAC(EVP_sha256(), key, (int)klen, msg, mlen, out, &n) || n != 32)
		return -1;
	return 0;
}

char *s3sign_uri_encode(const char *s, int enc_slash)
{
	static const char up[] = "0123456789ABCDEF";
	size_t n = strlen(s);
	char *out = malloc(3 * n + 1), *o = out;

	if (!out)
		return NULL;
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (isalnum(*p) || *p == '-' || *p == '.' || *p == '_' ||
		    *p == '~' || (*p == '/' && !enc_slash)) {
			*o++ = (char)*p;
		} else {
			*o++ = '%';
			*o++ = up[*p >> 4];
			*o++ = up[*p & 15];
		}
	}
	*o = '\0';
	return out;
}

void s3sign_amz_date(char out[17], time_t when)
{
	struct tm tm;

	gmtime_r(&when, &tm);
	snprintf(out, 17, "%04d%02d%02dT%02d%02d%02dZ", tm.tm_year + 1900,
		 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

struct pair {
	const char *name, *value; /* into a copy of the query */
};

static int pair_cmp(const void *a, const void *b)
{
	const struct pair *x = a, *y = b;
	int c = strcmp(x->name, y->name);

	return c ? c : strcmp(x->value, y->value);
}

/* The canonical query string of q (pairs as sent, '&'-separated) into b. */
static int canon_query(struct buf *b, const char *q)
{
	struct pair pairs[MAX_PAIRS];
	size_t n = 0;
	char *copy, *p;
	int rc = 0;

	if (!q || !*q)
		return 0;
	copy = strdup(q);
	if (!copy)
		return -1;
	for (p = copy; p && *p;) {
		char *amp = strchr(p, '&'), *eq;

		if (amp)
			*amp = '\0';
		if (*p) {
			if (n == MAX_PAIRS) {
				rc = -1;
				goto out;
			}
			eq = strchr(p, '=');
			if (eq)
				*eq = '\0';
			pairs[n].name = p;
			pairs[n].value = eq ? eq + 1 : "";
			n++;
		}
		p = amp ? amp + 1 : NULL;
	}
	qsort(pairs, n, sizeof(pairs[0]), pair_cmp);
	for (size_t i = 0; i < n && !rc; i++)
		rc = buf_printf(b, "%s%s=%s", i ? "&" : "", pairs[i].name,
				pairs[i].value);
out:
	free(copy);
	return rc;
}

struct hdr {
	char name[64];
	const char *value;
};

static int hdr_cmp(const void *a, const void *b)
{
	const struct hdr *x = a, *y = b;

	return strcmp(x->name, y->name);
}

/* A header value trimmed, inner runs of spaces and tabs as one space. */
static int put_value(struct buf *b, const char *v)
{
	int space = 0, rc = 0;

	while (*v == ' ' || *v == '\t')
		v++;
	for (; *v && !rc; v++) {
		if (*v == ' ' || *v == '\t') {
			space = 1;
			continue;
		}
		if (space)
			rc = buf_append(b, " ", 1);
		space = 0;
		if (!rc)
			rc = buf_append(b, v, 1);
	}
	return rc;
}

char *s3sign_canonical(const struct s3sign_req *r, char *signed_headers,
		       size_t sh_size)
{
	struct hdr h[MAX_HEADERS];
	struct buf b, sh;
	size_t n = r->n_headers;
	int rc;

	if (n > MAX_HEADERS)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		size_t len = strlen(r->headers[i].name);

		if (len >= sizeof(h[i].name))
			return NULL;
		for (size_t j = 0; j <= len; j++)
			h[i].name[j] =
			    (char)tolower((unsigned char)r->headers[i].name[j]);
		h[i].value = r->headers[i].value ? r->headers[i].value : "";
	}
	qsort(h, n, sizeof(h[0]), hdr_cmp);
	buf_init(&b, CANON_MAX);
	buf_init(&sh, 4096);
	rc = buf_printf(&b, "%s\n%s\n", r->method,
			r->path && *r->path ? r->path : "/");
	if (!rc)
		rc = canon_query(&b, r->query);
	if (!rc)
		rc = buf_puts(&b, "\n");
	/* equal names (sorted together) become one line, values joined */
	for (size_t i = 0; i < n && !rc; i++) {
		int same = i && !strcmp(h[i].name, h[i - 1].name);

		if (same)
			rc = buf_puts(&b, ",");
		else
			rc = buf_printf(&b, "%s%s:", i ? "\n" : "", h[i].name);
		if (!rc)
			rc = put_value(&b, h[i].value);
		if (!rc && !same)
			rc = buf_printf(&sh, "%s%s", sh.len ? ";" : "",
					h[i].name);
	}
	if (!rc)
		rc =
		    buf_printf(&b, "%s\n%s\n%s", n ? "\n" : "", sh.data,
			       r->payload_hash ? r->payload_hash : S3_UNSIGNED);
	if (!rc && signed_headers) {
		if (sh.len >= sh_size)
			rc = -1;
		else
			memcpy(signed_headers, sh.data, sh.len + 1);
	}
	buf_release(&sh);
	if (rc) {
		buf_release(&b);
		return NULL;
	}
	return buf_detach(&b, NULL);
}

/* The hex signature of canon (a canonical request) for r into sig. */
static int sign(char sig[S3_SHA256_HEX], const struct s3sign_req *r,
		const char *canon)
{
	char amz[17], date[9], chash[S3_SHA256_HEX], sts[512];
	unsigned char k[32], k2[32];
	char secret[300];
	int n;

	s3sign_amz_date(amz, r->when);
	memcpy(date, amz, 8);
	date[8] = '\0';
	s3sign_sha256_hex(chash, canon, strlen(canon));
	n = snprintf(sts, sizeof(sts), ALGO "\n%s\n%s/%s/%s/aws4_request\n%s",
		     amz, date, r->region, r->service, chash);
	if (n < 0 || (size_t)n >= sizeof(sts))
		return -1;
	n = snprintf(secret, sizeof(secret), "AWS4%s", r->secret_key);
	if (n < 0 || (size_t)n >= sizeof(secret))
		return -1;
	if (hmac(k, secret, (size_t)n, date, 8) ||
	    hmac(k2, k, 32, r->region, strlen(r->region)) ||
	    hmac(k, k2, 32, r->service, strlen(r->service)) ||
	    hmac(k2, k, 32, "aws4_request", 12) ||
	    hmac(k, k2, 32, sts, strlen(sts)))
		return -1;
	to_hex(sig, k, 32);
	OPENSSL_cleanse(secret, sizeof(secret));
	OPENSSL_cleanse(k2, sizeof(k2));
	return 0;
}

int s3sign_authorization(char *out, size_t size, const struct s3sign_req *r)
{
	char sh[1024], sig[S3_SHA256_HEX], amz[17];
	char *canon = s3sign_canonical(r, sh, sizeof(sh));
	int n, rc;

	if (!canon)
		return -1;
	rc = sign(sig, r, canon);
	free(canon);
	if (rc)
		return -1;
	s3sign_amz_date(amz, r->when);
	n = snprintf(out, size,
		     ALGO " Credential=%s/%.8s/%s/%s/aws4_request, "
			  "SignedHeaders=%s, Signature=%s",
		     r->access_key, amz, r->region, r->service, sh, sig);
	return n < 0 || (size_t)n >= size ? -1 : 0;
}

char *s3sign_presign_query(const struct s3sign_req *r, unsigned expires,
			   const char *session_token)
{
	struct s3sign_req q = *r;
	struct s3sign_header host = {"host", ""};
	char amz[17], sig[S3_SHA256_HEX], cred[512];
	char *ecred = NULL, *etok = NULL, *canon = NULL, *ret = NULL;
	struct buf b;
	int rc, found = 0;

	for (size_t i = 0; i < r->n_headers; i++)
		if (!strcasecmp(r->headers[i].name, "host")) {
			host.value = r->headers[i].value;
			found = 1;
		}
	if (!found)
		return NULL;
	s3sign_amz_date(amz, r->when);
	rc = snprintf(cred, sizeof(cred), "%s/%.8s/%s/%s/aws4_request",
		      r->access_key, amz, r->region, r->service);
	if (rc < 0 || (size_t)rc >= sizeof(cred))
		return NULL;
	ecred = s3sign_uri_encode(cred, 1);
	if (session_token && *session_token)
		etok = s3sign_uri_encode(session_token, 1);
	if (!ecred || (session_token && *session_token && !etok))
		goto out;
	buf_init(&b, CANON_MAX);
	rc = 0;
	if (r->query && *r->query)
		rc = buf_printf(&b, "%s&", r->query);
	if (!rc)
		rc = buf_printf(&b,
				"X-Amz-Algorithm=" ALGO "&X-Amz-Credential=%s"
				"&X-Amz-Date=%s&X-Amz-Expires=%u"
				"&X-Amz-SignedHeaders=host",
				ecred, amz, expires);
	if (!rc && etok)
		rc = buf_printf(&b, "&X-Amz-Security-Token=%s", etok);
	if (rc)
		goto out;
	q.query = b.data;
	q.headers = &host;
	q.n_headers = 1;
	q.payload_hash = S3_UNSIGNED;
	canon = s3sign_canonical(&q, NULL, 0);
	if (!canon || sign(sig, &q, canon) ||
	    buf_printf(&b, "&X-Amz-Signature=%s", sig)) {
		buf_release(&b);
		goto out;
	}
	ret = buf_detach(&b, NULL);
out:
	free(ecred);
	free(etok);
	free(canon);
	return ret;
}
