/* htpasswd files with bcrypt entries ("user:$2y$..."), checked with
 * libcrypt's crypt_r. A successful check is remembered (as a SHA-256 of
 * user and password, never the password) so that only the first request
 * of a client pays for bcrypt. Thread-safe. */
#ifndef MIRROR_SERVE_HTPASSWD_H
#define MIRROR_SERVE_HTPASSWD_H

#include "oci/err.h"

struct htpasswd;

/* Entries that are not bcrypt are refused with a message naming the line. */
int htpasswd_load(struct htpasswd **out, const char *path, struct err *err);
void htpasswd_free(struct htpasswd *h);
/* 1 when user/pass match an entry. */
int htpasswd_check(struct htpasswd *h, const char *user, const char *pass);

#endif
