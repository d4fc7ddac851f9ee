#include "mirror/serve/htpasswd.h"

#include <crypt.h>
#include <pthread.h>
#include <strings.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "oci/digest.h"
#include "oci/vec.h"

#define CACHE_SLOTS 64

struct entry {
	char *user;
	char *hash;
};

struct htpasswd {
	struct entry *e;
	size_t n, cap;
	pthread_mutex_t mu;
	char cache[CACHE_SLOTS][OCI_DIGEST_MAX];
	size_t next;
};

int htpasswd_load(struct htpasswd **out, const char *path, struct err *err)
{
	FILE *f = fopen(path, "r");
	struct htpasswd *h;
	char line[1024];
	int lineno = 0;

	*out = NULL;
	if (!f)
		return err_set(err, ERR_NOT_FOUND, "htpasswd %s: cannot open",
			       path);
	h = calloc(1, sizeof(*h));
	if (!h) {
		fclose(f);
		return err_set(err, ERR_FAIL, "out of memory");
	}
	pthread_mutex_init(&h->mu, NULL);
	while (fgets(line, sizeof(line), f)) {
		char *colon, *end;

		lineno++;
		end = line + strcspn(line, "\r\n");
		*end = '\0';
		if (!line[0] || line[0] == '#')
			continue;
		colon = strchr(line, ':');
		if (!colon || colon == line ||
		    (strncmp(colon + 1, "$2y$", 4) &&
		     strncmp(colon + 1, "$2b$", 4) &&
		     strncmp(colon + 1, "$2a$", 4))) {
			fclose(f);
			htpasswd_free(h);
			return err_set(err, ERR_INVALID,
				       "htpasswd %s:%d: not a user:bcrypt "
				       "entry (use htpasswd -B)",
				       path, lineno);
		}
		*colon = '\0';
		if (OCI_VEC_RESERVE(h->e, h->n, h->cap, 1, 0)) {
			fclose(f);
			htpasswd_free(h);
			return err_set(err, ERR_FAIL,
				       "htpasswd %s: out of memory", path);
		}
		h->e[h->n].user = strdup(line);
		h->e[h->n].hash = strdup(colon + 1);
		h->n++;
		if (!h->e[h->n - 1].user || !h->e[h->n - 1].hash) {
			fclose(f);
			htpasswd_free(h);
			return err_set(err, ERR_FAIL,
				       "htpasswd %s: out of memory", path);
		}
	}
	fclose(f);
	*out = h;
	return 0;
}

void htpasswd_free(struct htpasswd *h)
{
	if (!h)
		return;
	for (size_t i = 0; i < h->n; i++) {
		free(h->e[i].user);
		free(h->e[i].hash);
	}
	free(h->e);
	pthread_mutex_destroy(&h->mu);
	free(h);
}

int htpasswd_check(struct htpasswd *h, const char *user, const char *pass)
{
	struct oci_digest key;
	struct oci_hasher hs;
	struct crypt_data *cd;
	const char *hash = NULL;
	int ok = 0;

	for (size_t i = 0; i < h->n; i++)
		if (!strcmp(h->e[i].user, user))
			hash = h->e[i].hash;
	if (!hash)
		return 0;
	if (oci_hasher_init(&hs, OCI_SHA256))
		return 0;
	oci_hasher_update(&hs, user, strlen(user) + 1);
	oci_hasher_update(&hs, pass, strlen(pass));
	oci_hasher_update(&hs, hash, strlen(hash));
	oci_hasher_final(&hs, &key);
	oci_hasher_release(&hs);
	pthread_mutex_lock(&h->mu);
	for (size_t i = 0; i < CACHE_SLOTS && !ok; i++)
		ok = !strcmp(h->cache[i], key.str);
	pthread_mutex_unlock(&h->mu);
	if (ok)
		return 1;
	cd = calloc(1, sizeof(*cd));
	if (!cd)
		return 0;
	{
		const char *r = crypt_r(pass, hash, cd);
		ok = r && r[0] != '*' && !strcmp(r, hash);
	}
	free(cd);
	if (ok) {
		pthread_mutex_lock(&h->mu);
		memcpy(h->cache[h->next++ % CACHE_SLOTS], key.str,
		       sizeof(key.str));
		pthread_mutex_unlock(&h->mu);
	}
	return ok;
}

static int b64val(unsigned char ch)
{
	if (ch >= 'A' && ch <= 'Z')
		return ch - 'A';
	if (ch >= 'a' && ch <= 'z')
		return ch - 'a' + 26;
	if (ch >= '0' && ch <= '9')
		return ch - '0' + 52;
	if (ch == '+')
		return 62;
	if (ch == '/')
		return 63;
	return -1;
}

/* Decode n characters of padded base64 into out (cap bytes); the length,
 * or -1 when it is not base64 or does not fit. */
static long b64_decode(unsigned char *out, size_t cap, const char *in, size_t n)
{
	size_t len = 0;

	if (n % 4)
		return -1;
	for (size_t i = 0; i < n; i += 4) {
		int v[4], pad = 0;

		for (int k = 0; k < 4; k++) {
			unsigned char ch = (unsigned char)in[i + k];
			if (ch == '=' && i + 4 == n && k >= 2) {
				v[k] = 0;
				pad++;
			} else if (pad || (v[k] = b64val(ch)) < 0) {
				return -1;
			}
		}
		if (len + 3 - (size_t)pad > cap)
			return -1;
		out[len++] = (unsigned char)(v[0] << 2 | v[1] >> 4);
		if (pad < 2)
			out[len++] =
			    (unsigned char)((v[1] & 15) << 4 | v[2] >> 2);
		if (pad < 1)
			out[len++] = (unsigned char)((v[2] & 3) << 6 | v[3]);
	}
	return (long)len;
}

int htpasswd_check_basic(char *user_out, size_t cap, struct htpasswd *h,
			 const char *authorization)
{
	unsigned char dec[HTPASSWD_CRED_MAX + 1];
	const char *p = authorization, *colon;
	long n;
	int ok;

	if (cap)
		user_out[0] = '\0';
	if (!h || !p || strncasecmp(p, "Basic ", 6))
		return 0;
	p += 6;
	while (*p == ' ')
		p++;
	/* dec holds the decoded "user:password" (or part of it): wiped at
	 * the one exit below, whatever the verdict */
	ok = 0;
	n = b64_decode(dec, HTPASSWD_CRED_MAX, p, strcspn(p, " \t"));
	if (n <= 0)
		goto out;
	/* a NUL or control byte would cut or change the name or password
	 * where C strings end: refused, not truncated */
	for (long i = 0; i < n; i++)
		if (dec[i] < 0x20 || dec[i] == 0x7f)
			goto out;
	dec[n] = '\0';
	colon = strchr((const char *)dec, ':');
	if (!colon || (size_t)(colon - (const char *)dec) >= cap)
		goto out;
	dec[colon - (const char *)dec] = '\0';
	ok = htpasswd_check(h, (const char *)dec, colon + 1);
	if (ok)
		snprintf(user_out, cap, "%s", (const char *)dec);
out:
	explicit_bzero(dec, sizeof(dec));
	return ok;
}
