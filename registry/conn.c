#include "registry/conn.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "oci/buf.h"
#include "registry/retry.h"

#define USER_AGENT "ocimirror/0.1"

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
static void load_certs_d(struct reg_conn *c)
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

int reg_conn_init(struct reg_conn *c, const char *host,
		  const struct reg_options *opt, struct err *err)
{
	memset(c, 0, sizeof(*c));
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
		reg_conn_release(c);
		return err_set(err, ERR_FAIL, "%s: curl init failed", host);
	}
	curl_share_setopt(c->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_CONNECT);
	curl_share_setopt(c->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
	curl_share_setopt(c->share, CURLSHOPT_SHARE,
			  CURL_LOCK_DATA_SSL_SESSION);
	load_certs_d(c);
	return 0;
}

void reg_conn_release(struct reg_conn *c)
{
	if (c->easy)
		curl_easy_cleanup(c->easy);
	if (c->share)
		curl_share_cleanup(c->share);
	free(c->ca_blob);
	free(c->client_cert);
	free(c->client_key);
	c->easy = NULL;
	c->share = NULL;
	c->ca_blob = c->client_cert = c->client_key = NULL;
}

void reg_conn_setup_easy(struct reg_conn *c, CURL *h)
{
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

void reg_conn_prepare(struct reg_conn *c)
{
	curl_easy_reset(c->easy);
	reg_conn_setup_easy(c, c->easy);
}

static int choose_scheme(struct reg_conn *c, struct err *err)
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
	reg_conn_prepare(c);
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

int reg_conn_base_url(struct reg_conn *c, const char **out, struct err *err)
{
	int rc = choose_scheme(c, err);

	*out = c->base;
	return rc;
}

/* 1 when query (after '?') has the parameter name. */
static int has_param(const char *url, const char *name)
{
	const char *q = strchr(url, '?');
	size_t n = strlen(name);

	while (q) {
		q++;
		if (!strncmp(q, name, n) && q[n] == '=')
			return 1;
		q = strchr(q, '&');
	}
	return 0;
}

int reg_conn_url(const struct reg_conn *c, char *dst, size_t cap,
		 const char *base, const char *url)
{
	int abs = !strncmp(url, "http://", 7) || !strncmp(url, "https://", 8);
	size_t bl = strlen(base);
	int n, m;

	if (abs)
		n = snprintf(dst, cap, "%s", url);
	else
		n = snprintf(dst, cap, "%s%s", base, url);
	if (n < 0 || (size_t)n >= cap)
		return -1;
	/* only on the endpoint itself: not on another host a URL names */
	if (!c->ns[0] || has_param(dst, "ns") ||
	    (abs &&
	     (!bl || strncmp(url, base, bl) || (url[bl] && url[bl] != '/'))))
		return 0;
	m = snprintf(dst + n, cap - (size_t)n, "%sns=%s",
		     strchr(dst, '?') ? "&" : "?", c->ns);
	return (m < 0 || (size_t)m >= cap - (size_t)n) ? -1 : 0;
}

static long long mono_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

long reg_conn_slot(struct reg_conn *c)
{
	long long now;

	if (c->rate <= 0)
		return 0;
	now = mono_us();
	if (c->next_slot_us < now)
		c->next_slot_us = now;
	if (c->next_slot_us > now + 1000)
		return (long)((c->next_slot_us - now) / 1000);
	c->next_slot_us += (long long)(1000000.0 / c->rate);
	return 0;
}

void reg_conn_throttle(struct reg_conn *c)
{
	long wait;

	while ((wait = reg_conn_slot(c)) > 0)
		reg_sleep_ms(wait);
}

int reg_conn_configure(struct reg_conn *c, const struct reg_host_options *h,
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
