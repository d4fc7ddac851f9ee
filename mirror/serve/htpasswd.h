/* htpasswd files with bcrypt entries ("user:$2y$..."), checked with
 * libcrypt's crypt_r. A successful check is remembered (as a SHA-256 of
 * user and password, never the password) so that only the first request
 * of a client pays for bcrypt. Thread-safe. */
#ifndef MIRROR_SERVE_HTPASSWD_H
#define MIRROR_SERVE_HTPASSWD_H

#include <stddef.h>

#include "oci/err.h"

struct htpasswd;

/* Entries that are not bcrypt are refused with a message naming the line. */
int htpasswd_load(struct htpasswd **out, const char *path, struct err *err);
void htpasswd_free(struct htpasswd *h);
/* 1 when user/pass match an entry. */
int htpasswd_check(struct htpasswd *h, const char *user, const char *pass);

#define HTPASSWD_CRED_MAX 1024 /* decoded "user:password" bytes */

/* 1 when authorization (an Authorization header value, may be NULL) is
 * "Basic " + base64 of "user:password" that matches an entry of h (may be
 * NULL: no). The decoded bytes are taken with their length: credentials
 * holding a NUL or another control byte are refused, never cut short.
 * The user (empty when refused) goes to user_out, cap bytes; a user that
 * does not fit is refused. */
int htpasswd_check_basic(char *user_out, size_t cap, struct htpasswd *h,
			 const char *authorization);

#endif
