#include "registry/client.h"

#include <curl/curl.h>
#include <dirent.h>
#include <errno.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "oci/manifest.h"
#include "oci/mediatype.h"
#include "registry/auth.h"
#include "registry/http.h"
#include "oci/vec.h"

#define TOKEN_SLOTS 32
#define TAGS_PAGE_MAX (16u * 1024 * 1024)
#define ERROR_BODY_MAX (64u * 1024)
#define USER_AGENT "ocimirror/0.1"

struct token {
	char *scope;
	char *header; /* "Authorization: Bearer ..." */
	time_t expires;
};

struct reg_client {
	char host[300];	    /* as in references, used for creds and certs.d */
	char endpoint[300]; /* host to connect to */
	const struct reg_options *opt;
	CURLSH *share;
	CURL *easy;	/* for sequential requests */
	char base[340]; /* scheme://endpoint, "" until chosen */
	int insecure;
	/* auth */
	int creds_loaded, have_creds;
	struct reg_creds creds;
	char *basic_header;
	int mode; /* 0 unknown/anonymous, 1 basic, 2 bearer */
	char realm[1024], service[256];
	struct token tokens[TOKEN_SLOTS];
	size_t next_slot;
	/* TLS */
	char *ca_blob; /* system bundle + certs.d CAs, NULL when none extra */
	size_t ca_len;
	char *client_cert, *client_key;
	int max_connections;
	double rate;
	long long next_slot_us;
};

static long env_long(const char *name, long def)
{
	const char *v = getenv(name);
	char *end;
	long n;

	if (!v || !*v)
		return def;
	n = strtol(v, &end, 10);
	return (*end || n < 0) ? def : n;
}

void reg_options_init(struct reg_options *o)
{
	memset(o, 0, sizeof(*o));
	o->max_connections = (int)env_long("OCIMIRROR_MAX_CONNECTIONS", 6);
	if (o->max_connections < 1)
		o->max_connections = 1;
	o->connect_timeout = env_long("OCIMIRROR_CONNECT_TIMEOUT", 15);
	o->stall_timeout = env_long("OCIMIRROR_STALL_TIMEOUT", 30);
	o->retries = (int)env_long("OCIMIRROR_RETRIES", 5);
	o->retry_base_ms = env_long("OCIMIRROR_RETRY_BASE_MS", 500);
	o->retry_after_max = env_long("OCIMIRROR_RETRY_AFTER_MAX", 60);
	o->certs_dirs = getenv("OCIMIRROR_CERTS_DIRS");
	if (!o->certs_dirs || !*o->certs_dirs)
		o->certs_dirs = "/etc/containers/certs.d:/etc/docker/certs.d";
}

void reg_logf(const struct reg_options *o, enum reg_log_level lvl,
	      const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	if (!o->log)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	o->log(o->log_ctx, lvl, msg);
}

long reg_backoff_ms(const struct reg_options *o, int attempt, long retry_after)
{
	long ms = o->retry_base_ms, cap = 30000;

	for (int i = 1; i < attempt && ms < cap; i++)
		ms *= 2;
	if (ms > cap)
		ms = cap;
	/* jitter: 75%..125% */
	ms = ms * (75 + (long)(random() % 51)) / 100;
	if (retry_after > 0) {
		long ra = retry_after > o->retry_after_max ? o->retry_after_max
							   : retry_after;
		if (ra * 1000 > ms)
			ms = ra * 1000;
	}
	return ms;
}

static void sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

static int host_is_loopback(const char *host)
{
	char h[300];
	char *colon;

	snprintf(h, sizeof(h), "%s", host);
	if (h[0] == '[') {
		char *end = strchr(h, ']');
		if (end)
			*end = '\0';
		return !strcmp(h + 1, "::1");
	}
	colon = strchr(h, ':');
	if (colon)
		*colon = '\0';
	return !strcmp(h, "localhost") || !strncmp(h, "127.", 4);
}

static int host_listed(const char *host, const char *const *list, size_t n,
		       const char *env)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(list[i], host))
			return 1;
	if (env && *env) {
		size_t hl = strlen(host);
		const char *p = env;
		while (*p) {
			const char *e = strchr(p, ',');
			size_t l = e ? (size_t)(e - p) : strlen(p);
			if (l == hl && !strncmp(p, host, l))
				return 1;
			if (!e)
				break;
			p = e + 1;
		}
	}
	return 0;
}

static char *slurp(const char *path, size_t max, size_t *len)
{
	FILE *f = fopen(path, "rb");
	struct buf b;
	char tmp[8192];
	size_t r;

	if (!f)
		return NULL;
	buf_init(&b, max);
	while ((r = fread(tmp, 1, sizeof(tmp), f)) > 0)
		if (buf_append(&b, tmp, r))
			break;
	fclose(f);
	return buf_detach(&b, len);
}

/* CAs and client certificates from certs.d/HOST/ (docker / containers). */
static void load_certs_d(struct reg_client *c)
{
	char dirs[1024], *save = NULL, *d;
	struct buf ca;
	int extra = 0;

	buf_init(&ca, 16u * 1024 * 1024);
	snprintf(dirs, sizeof(dirs), "%s", c->opt->certs_dirs);
	for (d = strtok_r(dirs, ":", &save); d;
	     d = strtok_r(NULL, ":", &save)) {
		char path[1500];
		DIR *dir;
		struct dirent *e;

		snprintf(path, sizeof(path), "%s/%s", d, c->host);
		dir = opendir(path);
		if (!dir)
			continue;
		while ((e = readdir(dir))) {
			size_t l = strlen(e->d_name);
			char file[2100];

			snprintf(file, sizeof(file), "%s/%s", path, e->d_name);
			if (l > 4 && !strcmp(e->d_name + l - 4, ".crt")) {
				size_t n;
				char *pem = slurp(file, 1024 * 1024, &n);
				if (pem) {
					if (!buf_append(&ca, pem, n))
						buf_append(&ca, "\n", 1);
					extra = 1;
				}
				free(pem);
			} else if (l > 5 &&
				   !strcmp(e->d_name + l - 5, ".cert") &&
				   !c->client_cert) {
				char key[2100];
				snprintf(key, sizeof(key), "%.*s.key",
					 (int)(strlen(file) - 5), file);
				if (!access(key, R_OK)) {
					c->client_cert = strdup(file);
					c->client_key = strdup(key);
				}
			}
		}
		closedir(dir);
	}
	if (extra) {
		static const char *bundles[] = {
		    "/etc/ssl/certs/ca-certificates.crt",
		    "/etc/pki/tls/certs/ca-bundle.crt", NULL};
		for (int i = 0; bundles[i]; i++) {
			size_t n;
			char *pem = slurp(bundles[i], 8u * 1024 * 1024, &n);
			if (pem && n) {
				buf_append(&ca, pem, n);
				free(pem);
				break;
			}
			free(pem);
		}
		c->ca_blob = buf_detach(&ca, &c->ca_len);
	} else {
		buf_release(&ca);
	}
}

int reg_client_new(struct reg_client **out, const char *host,
		   const struct reg_options *opt, struct err *err)
{
	struct reg_client *c = calloc(1, sizeof(*c));

	*out = NULL;
	if (!c)
		return err_set(err, ERR_FAIL, "out of memory");
	snprintf(c->host, sizeof(c->host), "%s", host);
	snprintf(c->endpoint, sizeof(c->endpoint), "%s",
		 !strcmp(host, "docker.io") ? "registry-1.docker.io" : host);
	c->opt = opt;
	c->insecure = host_is_loopback(host) ||
		      host_listed(host, opt->insecure, opt->n_insecure,
				  getenv("OCIMIRROR_INSECURE_REGISTRIES"));
	c->share = curl_share_init();
	c->easy = curl_easy_init();
	if (!c->share || !c->easy) {
		reg_client_free(c);
		return err_set(err, ERR_FAIL, "curl init failed");
	}
	curl_share_setopt(c->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_CONNECT);
	curl_share_setopt(c->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
	curl_share_setopt(c->share, CURLSHOPT_SHARE,
			  CURL_LOCK_DATA_SSL_SESSION);
	load_certs_d(c);
	*out = c;
	return 0;
}

void reg_client_free(struct reg_client *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < TOKEN_SLOTS; i++) {
		free(c->tokens[i].scope);
		free(c->tokens[i].header);
	}
	if (c->easy)
		curl_easy_cleanup(c->easy);
	if (c->share)
		curl_share_cleanup(c->share);
	reg_creds_release(&c->creds);
	free(c->basic_header);
	free(c->ca_blob);
	free(c->client_cert);
	free(c->client_key);
	free(c);
}

const char *reg_client_host(const struct reg_client *c)
{
	return c->host;
}

const struct reg_options *reg_client_options(const struct reg_client *c)
{
	return c->opt;
}

void reg_client_setup_easy(struct reg_client *c, void *curl)
{
	CURL *h = curl;

	curl_easy_setopt(h, CURLOPT_SHARE, c->share);
	curl_easy_setopt(h, CURLOPT_USERAGENT, USER_AGENT);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, c->opt->connect_timeout);
	curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1L);
	curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, c->opt->stall_timeout);
	curl_easy_setopt(h, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2TLS);
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(h, CURLOPT_REDIR_PROTOCOLS_STR,
			 c->insecure ? "http,https" : "https");
	/* Redirects go to blob storage; libcurl drops our Authorization
	 * header when the host changes. */
	curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 1L);
	curl_easy_setopt(h, CURLOPT_MAXREDIRS, 5L);
	curl_easy_setopt(h, CURLOPT_UNRESTRICTED_AUTH, 0L);
	curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
	if (c->insecure) {
		curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 0L);
		curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 0L);
	}
	if (c->ca_blob) {
		struct curl_blob blob = {c->ca_blob, c->ca_len,
					 CURL_BLOB_NOCOPY};
		curl_easy_setopt(h, CURLOPT_CAINFO_BLOB, &blob);
	}
	if (c->client_cert) {
		curl_easy_setopt(h, CURLOPT_SSLCERT, c->client_cert);
		curl_easy_setopt(h, CURLOPT_SSLKEY, c->client_key);
	}
}

static void easy_prepare(struct reg_client *c, CURL *h)
{
	curl_easy_reset(h);
	reg_client_setup_easy(c, h);
}

static int choose_scheme(struct reg_client *c, struct err *err)
{
	CURLcode cc;
	char url[400];

	if (c->base[0])
		return 0;
	if (!c->insecure) {
		snprintf(c->base, sizeof(c->base), "https://%s", c->endpoint);
		return 0;
	}
	/* Insecure hosts: https without verification if it answers, else
	 * plain http (docker's behaviour for insecure registries). */
	snprintf(url, sizeof(url), "https://%s/v2/", c->endpoint);
	easy_prepare(c, c->easy);
	curl_easy_setopt(c->easy, CURLOPT_URL, url);
	curl_easy_setopt(c->easy, CURLOPT_NOBODY, 1L);
	curl_easy_setopt(c->easy, CURLOPT_FOLLOWLOCATION, 0L);
	cc = curl_easy_perform(c->easy);
	if (cc == CURLE_OK) {
		snprintf(c->base, sizeof(c->base), "https://%s", c->endpoint);
		return 0;
	}
	/* Without a port, https is 443 and http is 80: nothing on 443 says
	 * nothing about 80, so try it too. */
	if ((cc == CURLE_COULDNT_CONNECT &&
	     strchr(strrchr(c->endpoint, ']') ?: c->endpoint, ':')) ||
	    cc == CURLE_COULDNT_RESOLVE_HOST || cc == CURLE_OPERATION_TIMEDOUT)
		return err_set(err, ERR_FAIL, "%s: %s", c->host,
			       curl_easy_strerror(cc));
	snprintf(c->base, sizeof(c->base), "http://%s", c->endpoint);
	reg_logf(c->opt, REG_LOG_DEBUG, "%s: no TLS, using plain http",
		 c->host);
	(void)err;
	return 0;
}

int reg_client_base_url(struct reg_client *c, const char **out, struct err *err)
{
	int rc = choose_scheme(c, err);

	*out = c->base;
	return rc;
}

static void load_creds(struct reg_client *c)
{
	struct err e;
	int rc;

	if (c->creds_loaded)
		return;
	c->creds_loaded = 1;
	err_clear(&e);
	rc = reg_creds_lookup(&c->creds, c->host, &e);
	if (rc == 0) {
		struct reg_creds found = c->creds;

		c->creds.user = c->creds.pass = NULL;
		reg_client_set_creds(c, found.user, found.pass);
		reg_creds_release(&found);
	} else if (rc != ERR_NOT_FOUND) {
		reg_logf(c->opt, REG_LOG_WARN, "credentials for %s: %s",
			 c->host, e.msg);
	}
}

static struct token *token_find(struct reg_client *c, const char *scope)
{
	time_t now = time(NULL);

	for (size_t i = 0; i < TOKEN_SLOTS; i++)
		if (c->tokens[i].scope && !strcmp(c->tokens[i].scope, scope) &&
		    c->tokens[i].expires > now)
			return &c->tokens[i];
	return NULL;
}

static void scope_of(char *dst, size_t cap, const char *repo, int push)
{
	if (repo)
		snprintf(dst, cap, "repository:%s:%s", repo,
			 push ? "pull,push" : "pull");
	else
		dst[0] = '\0';
}

/* GET realm?service=..&scope=.. with Basic credentials when known. */
static int fetch_token(struct reg_client *c, const char *scope, struct err *err)
{
	struct reg_response r;
	struct curl_slist *hdrs = NULL;
	struct buf url;
	json_t *j = NULL, *tok;
	char *esc;
	int rc = ERR_FAIL;
	long expires_in = 60;
	struct token *slot;

	load_creds(c);
	reg_response_init(&r, 1024 * 1024);
	buf_init(&url, 8192);
	buf_puts(&url, c->realm);
	buf_puts(&url, strchr(c->realm, '?') ? "&" : "?");
	if (c->service[0]) {
		esc = curl_easy_escape(NULL, c->service, 0);
		buf_printf(&url, "service=%s", esc);
		curl_free(esc);
	}
	if (scope[0]) {
		esc = curl_easy_escape(NULL, scope, 0);
		buf_printf(&url, "%sscope=%s", c->service[0] ? "&" : "", esc);
		curl_free(esc);
	}
	if (!url.len) {
		rc = err_set(err, ERR_FAIL, "token URL too long");
		goto out;
	}
	for (int attempt = 0;; attempt++) {
		CURLcode cc;

		reg_response_reset(&r);
		easy_prepare(c, c->easy);
		curl_easy_setopt(c->easy, CURLOPT_URL, url.data);
		curl_slist_free_all(hdrs);
		hdrs = NULL;
		if (c->have_creds && c->basic_header)
			hdrs = curl_slist_append(hdrs, c->basic_header);
		curl_easy_setopt(c->easy, CURLOPT_HTTPHEADER, hdrs);
		reg_response_attach(&r, c->easy, 1);
		cc = curl_easy_perform(c->easy);
		if (cc == CURLE_OK)
			curl_easy_getinfo(c->easy, CURLINFO_RESPONSE_CODE,
					  &r.status);
		if ((cc != CURLE_OK && !r.body_too_large) || r.status == 429 ||
		    r.status == 408 || r.status >= 500) {
			if (attempt < c->opt->retries) {
				long ms = reg_backoff_ms(c->opt, attempt + 1,
							 r.retry_after);
				reg_logf(c->opt, REG_LOG_WARN,
					 "token %s: %s; retry %d/%d in %ld ms",
					 c->realm,
					 cc ? curl_easy_strerror(cc)
					    : "server error",
					 attempt + 1, c->opt->retries, ms);
				sleep_ms(ms);
				continue;
			}
		}
		break;
	}
	if (r.status == 401 || r.status == 403) {
		rc = err_set(
		    err, ERR_UNAUTHORIZED,
		    "token service %s refused %s (%ld)%s", c->realm,
		    c->have_creds ? "the credentials" : "anonymous access",
		    r.status, c->have_creds ? "" : "; try ocimirror login");
		goto out;
	}
	if (r.status != 200) {
		char d[300];
		reg_response_describe(&r, d, sizeof(d));
		rc =
		    err_set(err, ERR_FAIL, "token service %s: %s", c->realm, d);
		goto out;
	}
	j = json_loadb(r.body.data, r.body.len, 0, NULL);
	tok = json_object_get(j, "token");
	if (!json_is_string(tok) || !json_string_length(tok))
		tok = json_object_get(j, "access_token");
	if (!json_is_string(tok) || !json_string_length(tok)) {
		rc = err_set(err, ERR_FAIL,
			     "token service %s: no token in answer", c->realm);
		goto out;
	}
	if (json_is_integer(json_object_get(j, "expires_in")))
		expires_in =
		    (long)json_integer_value(json_object_get(j, "expires_in"));
	if (expires_in < 60)
		expires_in = 60;
	slot = &c->tokens[c->next_slot++ % TOKEN_SLOTS];
	free(slot->scope);
	free(slot->header);
	slot->scope = strdup(scope);
	{
		struct buf h;
		buf_init(&h, 64 * 1024);
		buf_printf(&h, "Authorization: Bearer %s",
			   json_string_value(tok));
		slot->header = buf_detach(&h, NULL);
	}
	/* refresh a little early */
	slot->expires = time(NULL) + expires_in - 10;
	rc = 0;
out:
	json_decref(j);
	curl_slist_free_all(hdrs);
	buf_release(&url);
	reg_response_release(&r);
	return rc;
}

int reg_client_auth_header(struct reg_client *c, const char **out,
			   const char *repo, int push, struct err *err)
{
	char scope[700];
	struct token *t;
	int rc;

	*out = NULL;
	if (c->mode == 1) {
		load_creds(c);
		*out = c->have_creds ? c->basic_header : NULL;
		return 0;
	}
	if (c->mode != 2)
		return 0;
	scope_of(scope, sizeof(scope), repo, push);
	t = token_find(c, scope);
	if (!t) {
		rc = fetch_token(c, scope, err);
		if (rc)
			return rc;
		t = token_find(c, scope);
	}
	*out = t ? t->header : NULL;
	return 0;
}

void reg_client_auth_invalidate(struct reg_client *c, const char *repo)
{
	char scope[700];

	for (int push = 0; push < 2; push++) {
		scope_of(scope, sizeof(scope), repo, push);
		for (size_t i = 0; i < TOKEN_SLOTS; i++)
			if (c->tokens[i].scope &&
			    !strcmp(c->tokens[i].scope, scope))
				c->tokens[i].expires = 0;
	}
}

/* Learn from a 401: returns 0 when a retry with new auth makes sense. */
static int handle_401(struct reg_client *c, const struct reg_response *r,
		      const char *repo, int push, struct err *err)
{
	struct reg_challenge ch[REG_CHALLENGE_MAX];
	size_t n = 0;
	int rc;

	load_creds(c);
	if (!r->www_auth[0] ||
	    reg_challenge_parse(ch, REG_CHALLENGE_MAX, &n, r->www_auth, err) ||
	    !n)
		return err_set(
		    err, ERR_UNAUTHORIZED,
		    "%s: 401 unauthorized without a usable challenge", c->host);
	for (size_t i = 0; i < n; i++) {
		if (!strcmp(ch[i].scheme, "bearer") && ch[i].realm[0]) {
			int had = c->mode == 2;
			c->mode = 2;
			snprintf(c->realm, sizeof(c->realm), "%s", ch[i].realm);
			snprintf(c->service, sizeof(c->service), "%s",
				 ch[i].service);
			if (had)
				reg_client_auth_invalidate(c, repo);
			(void)push;
			rc = 0;
			return rc;
		}
	}
	for (size_t i = 0; i < n; i++) {
		if (!strcmp(ch[i].scheme, "basic")) {
			if (!c->have_creds)
				return err_set(
				    err, ERR_UNAUTHORIZED,
				    "%s: 401 unauthorized: credentials "
				    "required (ocimirror login %s)",
				    c->host, c->host);
			if (c->mode == 1)
				return err_set(
				    err, ERR_UNAUTHORIZED,
				    "%s: 401 unauthorized: credentials refused",
				    c->host);
			c->mode = 1;
			return 0;
		}
	}
	return err_set(err, ERR_UNAUTHORIZED,
		       "%s: 401 with unsupported challenge \"%.100s\"", c->host,
		       r->www_auth);
}

static int retryable_curl(CURLcode cc)
{
	switch (cc) {
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_UNSUPPORTED_PROTOCOL:
	case CURLE_URL_MALFORMAT:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_WRITE_ERROR:
	case CURLE_TOO_MANY_REDIRECTS: return 0;
	default: return 1;
	}
}

/* Request body source: rewound on every attempt. */
struct body_reader {
	const struct reg_body *b;
	int64_t pos;
};

static size_t body_read_cb(char *dst, size_t size, size_t nmemb, void *ud)
{
	struct body_reader *br = ud;
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

static int request_ex(struct reg_client *c, const char *method,
		      const char *url_path, const char *accept,
		      const char *repo, int push, const struct reg_body *body,
		      struct reg_response *r, struct err *err);

static int request(struct reg_client *c, const char *method,
		   const char *url_path, const char *accept, const char *repo,
		   struct reg_response *r, struct err *err)
{
	return request_ex(c, method, url_path, accept, repo, 0, NULL, r, err);
}

int reg_client_request(struct reg_client *c, const char *method,
		       const char *url, const char *repo, int push,
		       const struct reg_body *body, struct reg_response *r,
		       struct err *err)
{
	return request_ex(c, method, url, NULL, repo, push, body, r, err);
}

/* One request with auth and retries. url_path starts with "/v2/" or is
 * absolute. The caller interprets r->status. */
static int request_ex(struct reg_client *c, const char *method,
		      const char *url_path, const char *accept,
		      const char *repo, int push, const struct reg_body *body,
		      struct reg_response *r, struct err *err)
{
	struct curl_slist *hdrs = NULL;
	char url[4096], accept_h[600], extra_h[600];
	int rc = ERR_FAIL, auth_retries = 0;
	struct body_reader br = {body, 0};

	rc = choose_scheme(c, err);
	if (rc)
		return rc;
	if (!strncmp(url_path, "http://", 7) ||
	    !strncmp(url_path, "https://", 8))
		snprintf(url, sizeof(url), "%s", url_path);
	else
		snprintf(url, sizeof(url), "%s%s", c->base, url_path);
	for (int attempt = 0;;) {
		const char *auth = NULL;
		CURLcode cc;

		rc = reg_client_auth_header(c, &auth, repo, push, err);
		if (rc)
			goto out;
		reg_client_throttle(c);
		reg_response_reset(r);
		easy_prepare(c, c->easy);
		curl_easy_setopt(c->easy, CURLOPT_URL, url);
		if (!strcmp(method, "HEAD"))
			curl_easy_setopt(c->easy, CURLOPT_NOBODY, 1L);
		curl_slist_free_all(hdrs);
		hdrs = NULL;
		if (body) {
			br.pos = 0;
			curl_easy_setopt(c->easy, CURLOPT_UPLOAD, 1L);
			curl_easy_setopt(c->easy, CURLOPT_READFUNCTION,
					 body_read_cb);
			curl_easy_setopt(c->easy, CURLOPT_READDATA, &br);
			curl_easy_setopt(c->easy, CURLOPT_INFILESIZE_LARGE,
					 (curl_off_t)body->length);
			curl_easy_setopt(c->easy, CURLOPT_CUSTOMREQUEST,
					 method);
			hdrs = curl_slist_append(hdrs, "Expect:");
			snprintf(extra_h, sizeof(extra_h), "Content-Type: %s",
				 body->content_type
				     ? body->content_type
				     : "application/octet-stream");
			hdrs = curl_slist_append(hdrs, extra_h);
			if (body->content_range) {
				snprintf(extra_h, sizeof(extra_h),
					 "Content-Range: %s",
					 body->content_range);
				hdrs = curl_slist_append(hdrs, extra_h);
			}
		} else if (strcmp(method, "GET") && strcmp(method, "HEAD")) {
			curl_easy_setopt(c->easy, CURLOPT_CUSTOMREQUEST,
					 method);
			if (!strcmp(method, "POST")) {
				curl_easy_setopt(c->easy, CURLOPT_POST, 1L);
				curl_easy_setopt(c->easy, CURLOPT_POSTFIELDS,
						 "");
				curl_easy_setopt(c->easy, CURLOPT_POSTFIELDSIZE,
						 0L);
			}
		}
		if (accept) {
			snprintf(accept_h, sizeof(accept_h), "Accept: %s",
				 accept);
			hdrs = curl_slist_append(hdrs, accept_h);
		}
		if (auth)
			hdrs = curl_slist_append(hdrs, auth);
		curl_easy_setopt(c->easy, CURLOPT_HTTPHEADER, hdrs);
		reg_response_attach(r, c->easy, 1);
		cc = curl_easy_perform(c->easy);
		curl_easy_getinfo(c->easy, CURLINFO_RESPONSE_CODE, &r->status);
		if (r->body_too_large) {
			rc = err_set(err, ERR_TOO_LARGE,
				     "%s %s: response larger than %zu bytes",
				     method, url, r->body.max);
			goto out;
		}
		if (cc == CURLE_OK && r->status == 401 && auth_retries < 2) {
			auth_retries++;
			rc = handle_401(c, r, repo, push, err);
			if (rc)
				goto out;
			continue;
		}
		if (cc != CURLE_OK || r->status == 408 || r->status == 429 ||
		    r->status >= 500) {
			char why[300];
			if (cc != CURLE_OK)
				snprintf(why, sizeof(why), "%s",
					 curl_easy_strerror(cc));
			else
				reg_response_describe(r, why, sizeof(why));
			if ((cc == CURLE_OK || retryable_curl(cc)) &&
			    attempt < c->opt->retries) {
				long ms;
				attempt++;
				ms = reg_backoff_ms(c->opt, attempt,
						    r->retry_after);
				reg_logf(c->opt, REG_LOG_WARN,
					 "%s %s: %s; retry %d/%d in %ld ms",
					 method, url, why, attempt,
					 c->opt->retries, ms);
				sleep_ms(ms);
				continue;
			}
			rc =
			    err_set(err,
				    cc == CURLE_OPERATION_TIMEDOUT ? ERR_TIMEOUT
								   : ERR_FAIL,
				    "%s %s: %s", method, url, why);
			goto out;
		}
		if (r->status == 401) {
			rc = err_set(err, ERR_UNAUTHORIZED,
				     "%s %s: 401 unauthorized", method, url);
			goto out;
		}
		rc = 0;
		break;
	}
out:
	curl_slist_free_all(hdrs);
	return rc;
}

static int status_error(const char *what, const char *repo, const char *ref,
			const struct reg_response *r, struct err *err)
{
	char d[300];

	reg_response_describe(r, d, sizeof(d));
	if (r->status == 404)
		return err_set(err, ERR_NOT_FOUND, "%s %s:%s: not found (%s)",
			       what, repo, ref, d);
	if (r->status == 403)
		return err_set(err, ERR_UNAUTHORIZED, "%s %s:%s: denied (%s)",
			       what, repo, ref, d);
	return err_set(err, ERR_FAIL, "%s %s:%s: %s", what, repo, ref, d);
}

void reg_manifest_release(struct reg_manifest *m)
{
	free(m->body);
	free(m->content_type);
	memset(m, 0, sizeof(*m));
}

static int manifest_common(struct reg_client *c, struct reg_manifest *out,
			   const char *method, const char *repo,
			   const char *ref, struct reg_response *r,
			   struct err *err)
{
	char path[1200];
	int rc;

	memset(out, 0, sizeof(*out));
	snprintf(path, sizeof(path), "/v2/%s/manifests/%s", repo, ref);
	rc = request(c, method, path, MT_ACCEPT_ALL, repo, r, err);
	if (rc)
		return err_wrap(err, "%s/%s:%s: ", c->host, repo, ref);
	if (r->status != 200)
		return status_error("manifest", repo, ref, r, err);
	out->content_type = strdup(r->content_type);
	if (r->digest[0] &&
	    oci_digest_parse(&out->digest, r->digest, NULL) == 0)
		out->has_digest = 1;
	return 0;
}

int reg_client_get_manifest(struct reg_client *c, struct reg_manifest *out,
			    const char *repo, const char *ref, struct err *err)
{
	struct reg_response r;
	struct oci_digest want, got;
	int rc;

	reg_response_init(&r, OCI_MANIFEST_MAX);
	rc = manifest_common(c, out, "GET", repo, ref, &r, err);
	if (rc) {
		if (rc == ERR_TOO_LARGE)
			err_set(err, ERR_TOO_LARGE,
				"manifest %s/%s:%s is larger than %u bytes; "
				"refused",
				c->host, repo, ref, OCI_MANIFEST_MAX);
		goto out;
	}
	out->len = r.body.len;
	out->body = buf_detach(&r.body, NULL);
	if (oci_digest_parse(&want, ref, NULL) == 0) {
		oci_digest_of(&got, want.alg, out->body, out->len);
		if (!oci_digest_equal(&want, &got)) {
			rc = err_set(
			    err, ERR_DIGEST,
			    "manifest %s/%s@%s: digest mismatch: got %s",
			    c->host, repo, want.str, got.str);
			goto out;
		}
	} else if (out->has_digest) {
		oci_digest_of(&got, out->digest.alg, out->body, out->len);
		if (!oci_digest_equal(&out->digest, &got)) {
			rc = err_set(err, ERR_DIGEST,
				     "manifest %s/%s:%s: digest mismatch: "
				     "registry says %s, body is %s",
				     c->host, repo, ref, out->digest.str,
				     got.str);
			goto out;
		}
	}
	rc = 0;
out:
	if (rc)
		reg_manifest_release(out);
	reg_response_release(&r);
	return rc;
}

int reg_client_head_manifest(struct reg_client *c, struct reg_manifest *out,
			     int64_t *size_out, const char *repo,
			     const char *ref, struct err *err)
{
	struct reg_response r;
	int rc;

	reg_response_init(&r, ERROR_BODY_MAX);
	rc = manifest_common(c, out, "HEAD", repo, ref, &r, err);
	if (size_out)
		*size_out = r.content_length;
	if (rc)
		reg_manifest_release(out);
	reg_response_release(&r);
	return rc;
}

void reg_strv_free(char **v)
{
	if (!v)
		return;
	for (char **p = v; *p; p++)
		free(*p);
	free(v);
}

static int strv_push(char ***v, size_t *n, size_t *cap, const char *s)
{
	if (OCI_VEC_RESERVE(*v, *n, *cap, 2, 0))
		return ERR_FAIL;
	(*v)[(*n)++] = strdup(s);
	(*v)[*n] = NULL;
	return 0;
}

/* Next page from a Link header: <url>; rel="next". */
static int link_next(const char *link, char *dst, size_t cap)
{
	const char *lt = strchr(link, '<'), *gt;

	if (!lt || !strstr(link, "rel=\"next\""))
		return 0;
	gt = strchr(lt, '>');
	if (!gt || (size_t)(gt - lt - 1) >= cap)
		return 0;
	snprintf(dst, cap, "%.*s", (int)(gt - lt - 1), lt + 1);
	return 1;
}

static int paginate(struct reg_client *c, const char *first, const char *key,
		    const char *repo, char ***out, size_t *n_out,
		    struct err *err)
{
	struct reg_response r;
	char path[2048];
	char **v = NULL;
	size_t n = 0, cap = 0;
	int rc = 0;

	*out = NULL;
	*n_out = 0;
	reg_response_init(&r, TAGS_PAGE_MAX);
	snprintf(path, sizeof(path), "%s", first);
	for (int page = 0; page < 100000; page++) {
		json_t *j, *arr, *it;
		size_t i;

		rc = request(c, "GET", path, "application/json", repo, &r, err);
		if (rc)
			break;
		if (r.status != 200) {
			rc = status_error("list", repo ? repo : "", key, &r,
					  err);
			break;
		}
		j = json_loadb(r.body.data, r.body.len, 0, NULL);
		arr = json_object_get(j, key);
		if (!j || (!json_is_array(arr) && !json_is_null(arr) && arr)) {
			json_decref(j);
			rc = err_set(err, ERR_INVALID,
				     "%s: malformed %s list from %s",
				     repo ? repo : c->host, key, path);
			break;
		}
		json_array_foreach (arr, i, it) {
			if (json_is_string(it))
				strv_push(&v, &n, &cap, json_string_value(it));
		}
		json_decref(j);
		if (!r.link[0] || !link_next(r.link, path, sizeof(path)))
			break;
	}
	reg_response_release(&r);
	if (rc) {
		reg_strv_free(v);
		return rc;
	}
	if (!v)
		v = calloc(1, sizeof(*v));
	*out = v;
	*n_out = n;
	return 0;
}

int reg_client_list_tags(struct reg_client *c, char ***tags_out, size_t *n_out,
			 const char *repo, struct err *err)
{
	char path[1200];

	snprintf(path, sizeof(path), "/v2/%s/tags/list?n=1000", repo);
	return paginate(c, path, "tags", repo, tags_out, n_out, err);
}

int reg_client_catalog(struct reg_client *c, char ***repos_out, size_t *n_out,
		       struct err *err)
{
	return paginate(c, "/v2/_catalog?n=1000", "repositories", NULL,
			repos_out, n_out, err);
}

int reg_client_referrers(struct reg_client *c, struct buf *index_out,
			 const char *repo, const struct oci_digest *subject,
			 struct err *err)
{
	struct reg_response r;
	struct reg_manifest m;
	char path[1200], tag[140];
	int rc;

	reg_response_init(&r, OCI_MANIFEST_MAX);
	snprintf(path, sizeof(path), "/v2/%s/referrers/%s", repo, subject->str);
	rc = request(c, "GET", path, MT_OCI_INDEX, repo, &r, err);
	if (rc)
		goto out;
	if (r.status == 200 && !strcmp(r.content_type, MT_OCI_INDEX)) {
		buf_reset(index_out);
		rc = buf_append(index_out, r.body.data, r.body.len);
		goto out;
	}
	if (r.status != 404 && r.status != 200) {
		rc = status_error("referrers", repo, subject->str, &r, err);
		goto out;
	}
	/* fallback: the tag schema */
	snprintf(tag, sizeof(tag), "%s-%s", oci_digest_alg_name(subject->alg),
		 oci_digest_hex(subject));
	rc = reg_client_get_manifest(c, &m, repo, tag, err);
	buf_reset(index_out);
	if (rc == ERR_NOT_FOUND) {
		err_clear(err);
		rc = buf_puts(
		    index_out,
		    "{\"schemaVersion\":2,\"mediaType\":\"" MT_OCI_INDEX
		    "\",\"manifests\":[]}");
		goto out;
	}
	if (rc)
		goto out;
	rc = buf_append(index_out, m.body, m.len);
	reg_manifest_release(&m);
out:
	reg_response_release(&r);
	return rc;
}

int reg_client_ping(struct reg_client *c, struct err *err)
{
	struct reg_response r;
	int rc;

	reg_response_init(&r, ERROR_BODY_MAX);
	rc = request(c, "GET", "/v2/", NULL, NULL, &r, err);
	if (!rc && r.status != 200) {
		char d[300];
		reg_response_describe(&r, d, sizeof(d));
		rc = err_set(err, r.status == 401 ? ERR_UNAUTHORIZED : ERR_FAIL,
			     "%s: %s", c->host, d);
	}
	reg_response_release(&r);
	return rc;
}

int reg_client_get_blob(struct reg_client *c, struct buf *out, const char *repo,
			const struct oci_digest *digest, struct err *err)
{
	struct reg_response r;
	struct oci_digest got;
	char path[1200];
	int rc;

	reg_response_init(&r, out->max);
	snprintf(path, sizeof(path), "/v2/%s/blobs/%s", repo, digest->str);
	/* a body that fails its digest is fetched once more, then refused */
	for (int attempt = 0;; attempt++) {
		rc = request(c, "GET", path, NULL, repo, &r, err);
		if (rc)
			goto out;
		if (r.status != 200) {
			rc = status_error("blob", repo, digest->str, &r, err);
			goto out;
		}
		oci_digest_of(&got, digest->alg, r.body.data, r.body.len);
		if (oci_digest_equal(&got, digest))
			break;
		if (attempt) {
			rc = err_set(err, ERR_DIGEST,
				     "blob %s/%s@%s: digest mismatch: got %s",
				     c->host, repo, digest->str, got.str);
			goto out;
		}
		reg_logf(c->opt, REG_LOG_WARN,
			 "blob %s/%s@%s: digest mismatch (got %s); fetching "
			 "it again",
			 c->host, repo, digest->str, got.str);
	}
	buf_reset(out);
	rc = buf_append(out, r.body.data, r.body.len);
out:
	reg_response_release(&r);
	return rc;
}

int reg_client_set_creds(struct reg_client *c, const char *user,
			 const char *pass)
{
	struct buf b;
	char *b64;

	reg_creds_release(&c->creds);
	free(c->basic_header);
	c->creds.user = strdup(user);
	c->creds.pass = strdup(pass);
	c->creds_loaded = c->have_creds = 1;
	buf_init(&b, 8192);
	buf_printf(&b, "%s:%s", user, pass);
	b64 = reg_base64(b.data, b.len);
	buf_release(&b);
	buf_init(&b, 16384);
	buf_printf(&b, "Authorization: Basic %s", b64 ? b64 : "");
	free(b64);
	c->basic_header = buf_detach(&b, NULL);
	return c->creds.user && c->creds.pass ? 0 : ERR_FAIL;
}

static long long mono_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

void reg_client_throttle(struct reg_client *c)
{
	long long now, wait;

	if (c->rate <= 0)
		return;
	now = mono_us();
	if (c->next_slot_us < now)
		c->next_slot_us = now;
	wait = c->next_slot_us - now;
	c->next_slot_us += (long long)(1000000.0 / c->rate);
	if (wait > 0)
		sleep_ms(wait / 1000 + 1);
}

int reg_client_max_connections(const struct reg_client *c)
{
	return c->max_connections > 0 ? c->max_connections
				      : c->opt->max_connections;
}

int reg_client_configure(struct reg_client *c, const struct reg_host_options *h,
			 struct err *err)
{
	if (h->max_connections > 0)
		c->max_connections = h->max_connections;
	c->rate = h->rate;
	switch (h->tls) {
	case REG_TLS_VERIFY:
		c->insecure = 0;
		snprintf(c->base, sizeof(c->base), "https://%s", c->endpoint);
		break;
	case REG_TLS_PLAIN:
		c->insecure = 1;
		snprintf(c->base, sizeof(c->base), "http://%s", c->endpoint);
		break;
	case REG_TLS_INSECURE:
		c->insecure = 1;
		c->base[0] = '\0';
		break;
	default: break;
	}
	if (h->ca_file) {
		size_t n = 0, sys_n = 0;
		char *pem = slurp(h->ca_file, 1024 * 1024, &n), *sys = NULL;
		struct buf b;

		if (!pem || !n) {
			free(pem);
			return err_set(err, ERR_NOT_FOUND,
				       "%s: CA file %s unreadable", c->host,
				       h->ca_file);
		}
		buf_init(&b, 32u * 1024 * 1024);
		if (c->ca_blob) {
			buf_append(&b, c->ca_blob, c->ca_len);
		} else {
			sys = slurp("/etc/ssl/certs/ca-certificates.crt",
				    8u * 1024 * 1024, &sys_n);
			if (sys)
				buf_append(&b, sys, sys_n);
		}
		buf_append(&b, "\n", 1);
		buf_append(&b, pem, n);
		free(pem);
		free(sys);
		free(c->ca_blob);
		c->ca_blob = buf_detach(&b, &c->ca_len);
	}
	if (h->cert && h->key) {
		free(c->client_cert);
		free(c->client_key);
		c->client_cert = strdup(h->cert);
		c->client_key = strdup(h->key);
	}
	return 0;
}
