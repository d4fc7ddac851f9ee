/* AWS Signature Version 4 on OpenSSL (HMAC-SHA256), no network: the
 * canonical request, the string to sign, the Authorization header and
 * presigned query strings. Pure functions, so that the published AWS
 * examples test them. Private to mirror/store (s3client.c). */
#ifndef MIRROR_STORE_S3SIGN_H
#define MIRROR_STORE_S3SIGN_H

#include <stddef.h>
#include <time.h>

#define S3_SHA256_HEX 65 /* 64 hex digits and NUL */
#define S3_UNSIGNED "UNSIGNED-PAYLOAD"

/* hex SHA-256 of p[0..n) into out (S3_SHA256_HEX bytes) */
void s3sign_sha256_hex(char out[S3_SHA256_HEX], const void *p, size_t n);

/* RFC 3986 encoding as SigV4 wants it: unreserved kept, everything else
 * %XX (upper case); slash kept unless enc_slash. Caller frees; NULL when
 * out of memory. */
char *s3sign_uri_encode(const char *s, int enc_slash);

struct s3sign_header {
	const char *name; /* any case: lowered and sorted by the signer */
	const char *value;
};

struct s3sign_req {
	const char *method; /* "GET" */
	const char *path;   /* already encoded, as sent: "/bucket/key" */
	const char *query;  /* as sent, any order, "" or NULL: none;
			       pairs are encoded by the caller */
	const struct s3sign_header *headers; /* host among them */
	size_t n_headers;
	const char *payload_hash; /* hex SHA-256 or S3_UNSIGNED */
	const char *region;
	const char *service; /* "s3" */
	const char *access_key;
	const char *secret_key;
	time_t when;
};

/* The canonical request (query pairs sorted by name then value, headers
 * lowered, trimmed and sorted). Caller frees. */
char *s3sign_canonical(const struct s3sign_req *r, char *signed_headers,
		       size_t sh_size);
/* The Authorization header's value ("AWS4-HMAC-SHA256 Credential=...,
 * SignedHeaders=..., Signature=...") into out. 0, or -1 when it does not
 * fit or out of memory. */
int s3sign_authorization(char *out, size_t size, const struct s3sign_req *r);
/* "20150830T123600Z" for when (UTC), 17 bytes. */
void s3sign_amz_date(char out[17], time_t when);

/* A presigned query string for r (r->query holds any other pairs;
 * payload UNSIGNED-PAYLOAD; only "host" signed): the full query to send,
 * X-Amz-Algorithm ... X-Amz-Signature included. session_token may be
 * NULL. Caller frees. */
char *s3sign_presign_query(const struct s3sign_req *r, unsigned expires,
			   const char *session_token);

#endif
