/* WWW-Authenticate challenges and registry credentials.
 *
 * Challenge parsing follows RFC 7235: several challenges in one header,
 * auth-params as token=token or token="quoted string" with backslash
 * escapes, separated by commas with optional whitespace. Credentials come
 * from the containers auth file ($REGISTRY_AUTH_FILE, else
 * $XDG_RUNTIME_DIR/containers/auth.json) and then the docker config
 * ($DOCKER_CONFIG/config.json, else ~/.docker/config.json): credHelpers,
 * auths, credsStore, in that order within each file. */
#ifndef REGISTRY_AUTH_H
#define REGISTRY_AUTH_H

#include <stddef.h>

#include "oci/err.h"

#define REG_CHALLENGE_MAX 4

struct reg_challenge {
	char scheme[16]; /* lowercased: "bearer", "basic" */
	char realm[1024];
	char service[256];
	char scope[1024];
	char error[64];
};

/* Parse header into out[0..max). *n_out = number of challenges. Unknown
 * params are skipped; an unparseable header is ERR_INVALID. */
int reg_challenge_parse(struct reg_challenge *out, size_t max, size_t *n_out,
			const char *header, struct err *err);

struct reg_creds {
	char *user;
	char *pass;
};

/* Look up credentials for host ("docker.io" also matches the docker
 * config's "https://index.docker.io/v1/"). 0 and filled when found,
 * ERR_NOT_FOUND when none, another code for an unreadable file or a
 * failing helper. */
int reg_creds_lookup(struct reg_creds *out, const char *host, struct err *err);
void reg_creds_release(struct reg_creds *c);

/* Path of the docker-compatible config login writes to. Caller frees. */
char *reg_creds_config_path(void);

/* Write (user, pass) for host into the docker config, atomically, mode
 * 0600, keeping every other key of the file. */
int reg_creds_store(const char *host, const char *user, const char *pass,
		    struct err *err);
/* Remove host's entry; ERR_NOT_FOUND when there was none. */
int reg_creds_erase(const char *host, struct err *err);

/* base64 of s; caller frees. */
char *reg_base64(const char *s, size_t n);

#endif
