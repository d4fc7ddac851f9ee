/* A small S3 client (what the store's S3 backend needs, nothing more):
 * path-style requests to one bucket on one endpoint (Ceph RGW, MinIO,
 * AWS), signed with AWS Signature Version 4 (s3sign.h), every request
 * carrying x-amz-content-sha256: the payload's real SHA-256 (a file body's
 * given by the caller or hashed by a pre-pass), so the object store checks
 * what arrived. Private to mirror/store.
 *
 * One s3c is shared by every thread of a process: it keeps a small pool
 * of curl easy handles (connections are reused) behind a mutex. Each
 * call retries what may mend (connection errors, 500, 502, 503, 504,
 * SlowDown) a few times with backoff, never another 4xx; a body is
 * re-read from its file descriptor.
 *
 * Errors: 0 or a negative ERR_* with err filled with one line naming the
 * bucket and key: ERR_NOT_FOUND (404 NoSuchKey/NoSuchUpload),
 * ERR_CONFLICT (412 PreconditionFailed, 409), ERR_UNAUTHORIZED (403, 401),
 * ERR_TOO_LARGE (a body over the caller's cap), ERR_FAIL otherwise (the
 * S3 error code and message in err). */
#ifndef MIRROR_STORE_S3CLIENT_H
#define MIRROR_STORE_S3CLIENT_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "oci/err.h"

/* What an s3:// store URL says:
 *   s3://BUCKET[/PREFIX][?endpoint=URL&region=R&lease=SECONDS
 *                         &multipart=BYTES&ca=FILE&tls_verify=false]
 * endpoint defaults to $AWS_ENDPOINT_URL_S3, $AWS_ENDPOINT_URL, else
 * https://s3.REGION.amazonaws.com; region to $AWS_REGION,
 * $AWS_DEFAULT_REGION, else us-east-1. prefix has no leading or trailing
 * '/' ("" for the bucket's root). Credentials: $AWS_ACCESS_KEY_ID,
 * $AWS_SECRET_ACCESS_KEY, $AWS_SESSION_TOKEN, else the profile
 * $AWS_PROFILE (default "default") of $AWS_SHARED_CREDENTIALS_FILE (else
 * ~/.aws/credentials). */
struct s3_config {
	char bucket[64];
	char prefix[512];
	char endpoint[512]; /* scheme://host[:port], no trailing '/' */
	char region[64];
	char access_key[128];
	char secret_key[128];
	char session_token[2048];
	char ca_file[512];  /* "" : the system's CAs */
	int tls_verify;	    /* 1 unless tls_verify=false */
	unsigned lease;	    /* writer lease, seconds (default 30) */
	uint64_t multipart; /* blobs of at least this many bytes go up in
			       parts (default 64 MiB, at least 5 MiB) */
	uint64_t part_size; /* default max(multipart, 16 MiB) / ... ; at
			       least 5 MiB */
};

/* Parse url (which starts "s3://"); ERR_INVALID naming what is wrong
 * (a bad bucket name, an unknown parameter, a prefix with "..", no
 * credentials found). */
int s3_config_parse(struct s3_config *out, const char *url, struct err *err);

struct s3c;

int s3c_open(struct s3c **out, const struct s3_config *cfg, struct err *err);
void s3c_close(struct s3c *c);
const struct s3_config *s3c_config(const struct s3c *c);
/* Ask for list pages of at most n entries (1..1000; 0: the server's
 * default, 1000): for tests of pagination against a real server. */
void s3c_set_max_keys(struct s3c *c, unsigned n);

/* Optional request headers and what an answer said. */
struct s3_cond {
	const char *if_none_match; /* "*" : create only */
	const char *if_match;	   /* an ETag: replace only that version
				      (sent unquoted: RGW 16 matches only
				      so; RGW ignores it on DELETE) */
};

struct s3_head {
	int64_t size;
	time_t mtime; /* Last-Modified */
	char etag[128];
};

/* The bucket: 1 when it exists, 0 when not. s3c_bucket_create makes it
 * (an existing bucket of ours is not an error). */
int s3c_bucket_exists(struct s3c *c, struct err *err);
int s3c_bucket_create(struct s3c *c, struct err *err);

/* Keys are relative to the configured prefix ("blobs/sha256/HEX"); the
 * client adds "PREFIX/" and percent-encodes. */
int s3c_head(struct s3_head *out, struct s3c *c, const char *key,
	     struct err *err);
/* The whole object, at most max bytes (ERR_TOO_LARGE beyond); caller
 * frees *out (NUL-ended). out_head may be NULL. */
int s3c_get(char **out, size_t *len_out, struct s3_head *out_head,
	    struct s3c *c, const char *key, size_t max, struct err *err);
/* Bytes [off, off+len) into buf; *got_out fewer at the end (0 at or past
 * it). */
int s3c_get_range(size_t *got_out, struct s3c *c, const char *key, uint64_t off,
		  void *buf, size_t len, struct err *err);
/* The whole object written to fd (from its current offset); *size_out
 * the bytes written. */
int s3c_get_to_fd(int64_t *size_out, struct s3c *c, const char *key, int fd,
		  struct err *err);
/* Put a small body (signed with its SHA-256). cond may be NULL;
 * etag_out (128 bytes) may be NULL. */
int s3c_put(struct s3c *c, const char *key, const void *body, size_t len,
	    const struct s3_cond *cond, char *etag_out, struct err *err);
/* Put len bytes of fd read from offset off (pread, so a retry re-reads):
 * one PUT below the multipart size, else a multipart upload (aborted
 * when it fails). The object appears whole or not at all. sha256_hex:
 * the hex SHA-256 of those bytes when the caller knows it (a blob's own
 * digest), sent as x-amz-content-sha256 so that the object store checks
 * what arrived; NULL: the client reads the bytes once more to hash them
 * (each part of a multipart upload is hashed so in any case). The parts
 * go up at most 4 at once, each on a connection of its own (threads of
 * the caller's call, joined before it returns); a part failing for good
 * stops the rest and aborts the upload. */
int s3c_put_fd(struct s3c *c, const char *key, int fd, uint64_t off,
	       uint64_t len, const char *sha256_hex, struct err *err);
/* Server-side copy src to dst (objects up to 5 GiB). */
int s3c_copy(struct s3c *c, const char *src, const char *dst, struct err *err);
/* ERR_NOT_FOUND is not an error to S3 (204 either way): 0 both ways.
 * cond may be NULL. */
int s3c_delete(struct s3c *c, const char *key, const struct s3_cond *cond,
	       struct err *err);

/* ListObjectsV2 under prefix (relative, as keys; a string prefix: "dir/"
 * for dir's entries), paginated through.
 * delim NULL: every key below, recursively; "/": one level (common
 * prefixes come as names ending in '/', size -1). name is relative to
 * prefix. cb returns nonzero to stop. */
typedef int (*s3_list_fn)(void *ctx, const char *name, int64_t size,
			  time_t mtime);
int s3c_list(struct s3c *c, const char *prefix, const char *delim,
	     s3_list_fn cb, void *ctx, struct err *err);

/* Multipart uploads in progress under prefix (relative): each key and
 * UploadId with its start time. */
typedef int (*s3_upload_fn)(void *ctx, const char *key, const char *upload_id,
			    time_t initiated);
int s3c_uploads_list(struct s3c *c, const char *prefix, s3_upload_fn cb,
		     void *ctx, struct err *err);
int s3c_upload_abort(struct s3c *c, const char *key, const char *upload_id,
		     struct err *err);
/* Start a multipart upload and leave it (tests and gc's stale uploads). */
int s3c_upload_start(char *id_out, size_t id_size, struct s3c *c,
		     const char *key, struct err *err);

/* A presigned GET URL for key, valid for ttl seconds (at most 7 days).
 * Caller frees *out. */
int s3c_presign_get(char **out, struct s3c *c, const char *key, unsigned ttl,
		    struct err *err);

#endif
