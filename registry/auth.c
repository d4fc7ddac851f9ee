#include "registry/auth.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "oci/buf.h"

static int is_tchar(int c)
{
	return c && (isalnum(c) || strchr("!#$%&'*+-.^_`|~", c));
}

static const char *skip_ws(const char *p)
{
	while (*p == ' ' || *p == '\t')
		p++;
	return p;
}

static void set_param(struct reg_challenge *c, const char *k, size_t kn,
		      const char *v)
{
	char *dst = NULL;
	size_t cap = 0;

	if (kn == 5 && !strncasecmp(k, "realm", 5)) {
		dst = c->realm;
		cap = sizeof(c->realm);
	} else if (kn == 7 && !strncasecmp(k, "service", 7)) {
		dst = c->service;
		cap = sizeof(c->service);
	} else if (kn == 5 && !strncasecmp(k, "scope", 5)) {
		dst = c->scope;
		cap = sizeof(c->scope);
	} else if (kn == 5 && !strncasecmp(k, "error", 5)) {
		dst = c->error;
		cap = sizeof(c->error);
	}
	if (dst) {
		size_t n = strnlen(v, cap - 1);
		memcpy(dst, v, n);
		dst[n] = '\0';
	}
}

/* Parse one auth-param value at p into val; returns the position after it
 * or NULL when malformed. */
static const char *parse_value(const char *p, char *val, size_t cap)
{
	size_t n = 0;

	if (*p == '"') {
		p++;
		while (*p && *p != '"') {
			if (*p == '\\' && p[1])
				p++;
			if (n + 1 < cap)
				val[n++] = *p;
			p++;
		}
		if (*p != '"')
			return NULL;
		p++;
	} else {
		while (*p && is_tchar((unsigned char)*p)) {
			if (n + 1 < cap)
				val[n++] = *p;
			p++;
		}
		/* token68 trailing '=' */
		while (*p == '=') {
			if (n + 1 < cap)
				val[n++] = *p;
			p++;
		}
	}
	val[n] = '\0';
	return p;
}

int reg_challenge_parse(struct reg_challenge *out, size_t max, size_t *n_out,
			const char *header, struct err *err)
{
	const char *p = header;
	size_t n = 0;
	char val[2048];

	*n_out = 0;
	for (;;) {
		const char *s;
		size_t sl;
		struct reg_challenge *c;

		p = skip_ws(p);
		while (*p == ',' || *p == ' ' || *p == '\t')
			p++;
		if (!*p)
			break;
		s = p;
		while (is_tchar((unsigned char)*p))
			p++;
		sl = (size_t)(p - s);
		if (!sl || (*p && *p != ' ' && *p != '\t' && *p != ','))
			return err_set(
			    err, ERR_INVALID,
			    "malformed WWW-Authenticate header: \"%.80s\"",
			    header);
		if (n < max) {
			c = &out[n];
			memset(c, 0, sizeof(*c));
			snprintf(c->scheme, sizeof(c->scheme), "%.*s", (int)sl,
				 s);
			for (char *q = c->scheme; *q; q++)
				*q = (char)tolower((unsigned char)*q);
		} else {
			c = NULL;
		}
		n++;
		/* auth-params until the next challenge (token not followed by
		 * '=') */
		for (;;) {
			const char *k, *save;
			size_t kn;

			save = p;
			p = skip_ws(p);
			while (*p == ',' || *p == ' ' || *p == '\t')
				p++;
			k = p;
			while (is_tchar((unsigned char)*p) && *p != '=')
				p++;
			kn = (size_t)(p - k);
			p = skip_ws(p);
			if (!kn || *p != '=') {
				/* next challenge, token68, or the end */
				if (kn && *p && *p != ',') {
					p = save;
					break;
				}
				if (!kn) {
					if (!*p)
						break;
					return err_set(
					    err, ERR_INVALID,
					    "malformed WWW-Authenticate "
					    "header: \"%.80s\"",
					    header);
				}
				p = save;
				break;
			}
			p = skip_ws(p + 1);
			p = parse_value(p, val, sizeof(val));
			if (!p)
				return err_set(
				    err, ERR_INVALID,
				    "malformed WWW-Authenticate header "
				    "(unterminated quote): \"%.80s\"",
				    header);
			if (c)
				set_param(c, k, kn, val);
			p = skip_ws(p);
			if (*p && *p != ',')
				return err_set(err, ERR_INVALID,
					       "malformed WWW-Authenticate "
					       "header: \"%.80s\"",
					       header);
		}
	}
	*n_out = n < max ? n : max;
	return 0;
}

char *reg_base64(const char *s, size_t n)
{
	size_t cap = 4 * ((n + 2) / 3) + 1;
	char *out = malloc(cap);

	if (!out)
		return NULL;
	EVP_EncodeBlock((unsigned char *)out, (const unsigned char *)s, (int)n);
	return out;
}

/* 0, or ERR_* for the caller to name the value. */
static int base64_decode(const char *in, char **out, size_t *n_out)
{
	size_t len = strlen(in), pad = 0;
	unsigned char *o;
	int n;

	if (len % 4)
		return ERR_INVALID;
	o = malloc(len / 4 * 3 + 1);
	if (!o)
		return ERR_FAIL;
	n = EVP_DecodeBlock(o, (const unsigned char *)in, (int)len);
	if (n < 0) {
		free(o);
		return ERR_INVALID;
	}
	if (len >= 1 && in[len - 1] == '=')
		pad++;
	if (len >= 2 && in[len - 2] == '=')
		pad++;
	n -= (int)pad;
	o[n] = '\0';
	*out = (char *)o;
	*n_out = (size_t)n;
	return 0;
}

void reg_creds_release(struct reg_creds *c)
{
	if (c->pass)
		OPENSSL_cleanse(c->pass, strlen(c->pass));
	free(c->user);
	free(c->pass);
	c->user = c->pass = NULL;
}

static char *path_join_env(const char *env, const char *fallback_home_rel,
			   const char *leaf)
{
	const char *v = getenv(env);
	struct buf b;

	buf_init(&b, 4096);
	if (v && *v) {
		if (buf_printf(&b, "%s/%s", v, leaf))
			return NULL;
	} else if (fallback_home_rel) {
		const char *home = getenv("HOME");
		if (!home || !*home)
			return NULL;
		if (buf_printf(&b, "%s/%s/%s", home, fallback_home_rel, leaf))
			return NULL;
	} else {
		return NULL;
	}
	return buf_detach(&b, NULL);
}

char *reg_creds_config_path(void)
{
	return path_join_env("DOCKER_CONFIG", ".docker", "config.json");
}

static char *auth_file_path(void)
{
	const char *f = getenv("REGISTRY_AUTH_FILE");

	if (f && *f)
		return strdup(f);
	return path_join_env("XDG_RUNTIME_DIR", NULL, "containers/auth.json");
}

/* Runs docker-credential-NAME get, host on stdin. */
static int run_helper(struct reg_creds *out, const char *name, const char *host,
		      struct err *err)
{
	int in[2] = {-1, -1}, outp[2] = {-1, -1}, status, rc = ERR_FAIL;
	char prog[256];
	struct buf b;
	json_t *j = NULL;
	pid_t pid;
	ssize_t r;

	buf_init(&b, 64 * 1024);
	for (const char *q = name; *q; q++)
		if (!isalnum((unsigned char)*q) && *q != '-' && *q != '_' &&
		    *q != '.')
			return err_set(err, ERR_INVALID,
				       "invalid credential helper name \"%s\"",
				       name);
	snprintf(prog, sizeof(prog), "docker-credential-%s", name);
	if (pipe(in) || pipe(outp)) {
		rc = err_set(err, ERR_FAIL, "pipe: %s", strerror(errno));
		goto out;
	}
	pid = fork();
	if (pid < 0) {
		rc = err_set(err, ERR_FAIL, "fork: %s", strerror(errno));
		goto out;
	}
	if (pid == 0) {
		dup2(in[0], 0);
		dup2(outp[1], 1);
		close(in[1]);
		close(outp[0]);
		execlp(prog, prog, "get", (char *)NULL);
		_exit(127);
	}
	close(in[0]);
	close(outp[1]);
	in[0] = outp[1] = -1;
	if (write(in[1], host, strlen(host)) < 0) {
		/* the helper may have exited; its status says why */
	}
	close(in[1]);
	in[1] = -1;
	for (;;) {
		char tmp[4096];
		r = read(outp[0], tmp, sizeof(tmp));
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		if (buf_append(&b, tmp, (size_t)r))
			break;
	}
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		if (strstr(b.data, "not found"))
			rc = ERR_NOT_FOUND;
		else
			rc = err_set(
			    err, ERR_FAIL,
			    "credential helper %s failed for %s (status %d)",
			    prog, host,
			    WIFEXITED(status) ? WEXITSTATUS(status) : -1);
		goto out;
	}
	j = json_loadb(b.data, b.len, 0, NULL);
	if (!j || !json_is_string(json_object_get(j, "Username")) ||
	    !json_is_string(json_object_get(j, "Secret"))) {
		rc =
		    err_set(err, ERR_INVALID,
			    "credential helper %s gave malformed output", prog);
		goto out;
	}
	out->user = strdup(json_string_value(json_object_get(j, "Username")));
	out->pass = strdup(json_string_value(json_object_get(j, "Secret")));
	rc = 0;
out:
	for (int i = 0; i < 2; i++) {
		if (in[i] >= 0)
			close(in[i]);
		if (outp[i] >= 0)
			close(outp[i]);
	}
	json_decref(j);
	buf_release(&b);
	return rc;
}

static json_t *auth_entry(json_t *auths, const char *host)
{
	const char *key;
	json_t *v;
	int hub = !strcmp(host, "docker.io");

	v = json_object_get(auths, host);
	if (v)
		return v;
	json_object_foreach (auths, key, v) {
		const char *k = key;
		size_t hl = strlen(host);

		if (!strncmp(k, "https://", 8))
			k += 8;
		else if (!strncmp(k, "http://", 7))
			k += 7;
		if (!strncmp(k, host, hl) && (k[hl] == '\0' || k[hl] == '/'))
			return v;
		if (hub && (!strncmp(k, "index.docker.io", 15) ||
			    !strncmp(k, "registry-1.docker.io", 20)))
			return v;
	}
	return NULL;
}

static int lookup_file(struct reg_creds *out, const char *path,
		       const char *host, struct err *err)
{
	json_t *root, *helpers, *e;
	json_error_t je;
	int rc = ERR_NOT_FOUND;
	const char *hname = NULL;

	if (access(path, F_OK))
		return ERR_NOT_FOUND;
	root = json_load_file(path, 0, &je);
	if (!root)
		return err_set(err, ERR_INVALID, "%s:%d: %s", path, je.line,
			       je.text);
	helpers = json_object_get(root, "credHelpers");
	if (json_is_object(helpers)) {
		json_t *h = json_object_get(helpers, host);
		if (json_is_string(h))
			hname = json_string_value(h);
	}
	if (hname) {
		rc = run_helper(out, hname, host, err);
		goto out;
	}
	e = auth_entry(json_object_get(root, "auths"), host);
	if (json_is_object(e)) {
		json_t *a = json_object_get(e, "auth");
		json_t *u = json_object_get(e, "username");
		json_t *p = json_object_get(e, "password");
		json_t *it = json_object_get(e, "identitytoken");

		if (json_is_string(a) && json_string_length(a)) {
			char *dec = NULL, *colon;
			size_t n;

			if (base64_decode(json_string_value(a), &dec, &n) ||
			    !(colon = memchr(dec, ':', n))) {
				free(dec);
				rc = err_set(err, ERR_INVALID,
					     "%s: malformed \"auth\" for %s",
					     path, host);
				goto out;
			}
			*colon = '\0';
			out->user = strdup(dec);
			out->pass = strdup(colon + 1);
			OPENSSL_cleanse(dec, n);
			free(dec);
			rc = 0;
			goto out;
		}
		if (json_is_string(u) && json_is_string(p)) {
			out->user = strdup(json_string_value(u));
			out->pass = strdup(json_string_value(p));
			rc = 0;
			goto out;
		}
		if (json_is_string(it)) {
			out->user = strdup("<token>");
			out->pass = strdup(json_string_value(it));
			rc = 0;
			goto out;
		}
	}
	if (json_is_string(json_object_get(root, "credsStore")))
		rc = run_helper(
		    out, json_string_value(json_object_get(root, "credsStore")),
		    host, err);
out:
	json_decref(root);
	return rc;
}

int reg_creds_lookup(struct reg_creds *out, const char *host, struct err *err)
{
	char *paths[2] = {auth_file_path(), reg_creds_config_path()};
	int rc = ERR_NOT_FOUND;

	out->user = out->pass = NULL;
	for (int i = 0; i < 2 && rc == ERR_NOT_FOUND; i++)
		if (paths[i])
			rc = lookup_file(out, paths[i], host, err);
	free(paths[0]);
	free(paths[1]);
	return rc;
}

static int write_config(const char *path, json_t *root, struct err *err)
{
	char *tmp = NULL, *dir = NULL, *slash;
	struct buf b;
	int fd = -1, rc = ERR_FAIL;

	buf_init(&b, 8192);
	dir = strdup(path);
	slash = strrchr(dir, '/');
	if (slash) {
		*slash = '\0';
		if (mkdir(dir, 0700) && errno != EEXIST) {
			rc = err_set(err, ERR_FAIL, "mkdir %s: %s", dir,
				     strerror(errno));
			goto out;
		}
	}
	if (buf_printf(&b, "%s.tmp.%d", path, (int)getpid()))
		goto out;
	tmp = buf_detach(&b, NULL);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0) {
		rc =
		    err_set(err, ERR_FAIL, "open %s: %s", tmp, strerror(errno));
		goto out;
	}
	if (json_dumpfd(root, fd, JSON_INDENT(1) | JSON_SORT_KEYS) ||
	    write(fd, "\n", 1) != 1 || fsync(fd)) {
		rc = err_set(err, ERR_FAIL, "write %s: %s", tmp,
			     strerror(errno));
		goto out;
	}
	close(fd);
	fd = -1;
	if (rename(tmp, path)) {
		rc = err_set(err, ERR_FAIL, "rename %s: %s", path,
			     strerror(errno));
		goto out;
	}
	rc = 0;
out:
	if (fd >= 0)
		close(fd);
	if (rc && tmp)
		unlink(tmp);
	free(tmp);
	free(dir);
	return rc;
}

static json_t *load_or_new(const char *path, struct err *err)
{
	json_error_t je;
	json_t *root;

	if (access(path, F_OK))
		return json_object();
	root = json_load_file(path, 0, &je);
	if (!root || !json_is_object(root)) {
		json_decref(root);
		err_set(err, ERR_INVALID, "%s:%d: not a JSON object: %s", path,
			je.line, je.text);
		return NULL;
	}
	return root;
}

int reg_creds_store(const char *host, const char *user, const char *pass,
		    struct err *err)
{
	char *path = reg_creds_config_path(), *up = NULL, *b64 = NULL;
	json_t *root = NULL, *auths;
	struct buf b;
	int rc = ERR_FAIL;

	buf_init(&b, 8192);
	if (!path)
		return err_set(err, ERR_FAIL,
			       "no config path: set DOCKER_CONFIG or HOME");
	root = load_or_new(path, err);
	if (!root) {
		rc = ERR_INVALID;
		goto out;
	}
	auths = json_object_get(root, "auths");
	if (!json_is_object(auths)) {
		auths = json_object();
		json_object_set_new(root, "auths", auths);
	}
	if (buf_printf(&b, "%s:%s", user, pass))
		goto out;
	up = buf_detach(&b, NULL);
	b64 = reg_base64(up, strlen(up));
	json_object_set_new(
	    auths,
	    !strcmp(host, "docker.io") ? "https://index.docker.io/v1/" : host,
	    json_pack("{s:s}", "auth", b64));
	rc = write_config(path, root, err);
out:
	if (up) {
		OPENSSL_cleanse(up, strlen(up));
		free(up);
	}
	free(b64);
	json_decref(root);
	free(path);
	return rc;
}

int reg_creds_erase(const char *host, struct err *err)
{
	char *path = reg_creds_config_path();
	json_t *root = NULL, *auths;
	int rc = ERR_NOT_FOUND, removed = 0;
	const char *key;
	void *tmp;
	json_t *v;

	if (!path)
		return err_set(err, ERR_FAIL,
			       "no config path: set DOCKER_CONFIG or HOME");
	if (access(path, F_OK)) {
		rc = err_set(err, ERR_NOT_FOUND, "not logged in to %s", host);
		goto out;
	}
	root = load_or_new(path, err);
	if (!root) {
		rc = ERR_INVALID;
		goto out;
	}
	auths = json_object_get(root, "auths");
	while (json_is_object(auths) && (v = auth_entry(auths, host))) {
		json_object_foreach_safe (auths, tmp, key, v) {
			if (v == auth_entry(auths, host)) {
				json_object_del(auths, key);
				removed = 1;
				break;
			}
		}
	}
	if (!removed) {
		rc = err_set(err, ERR_NOT_FOUND, "not logged in to %s", host);
		goto out;
	}
	rc = write_config(path, root, err);
out:
	json_decref(root);
	free(path);
	return rc;
}
