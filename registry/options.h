/* Settings of the registry client: the global options every client reads
 * (timeouts, retries, connections, certs.d, the log callback) and the
 * per-host settings of a sync configuration. Plain data: the caller owns
 * every struct and string here and keeps them alive while a client that
 * was given them lives. */
#ifndef REGISTRY_OPTIONS_H
#define REGISTRY_OPTIONS_H

#include <stddef.h>

enum reg_log_level { REG_LOG_DEBUG, REG_LOG_INFO, REG_LOG_WARN };

struct reg_options {
	int max_connections;  /* per registry; default 8 */
	long connect_timeout; /* seconds; default 15 */
	long stall_timeout;   /* seconds without progress; default 30 */
	int retries;	      /* attempts after the first; default 5 */
	long retry_base_ms;   /* first backoff; default 500 */
	long retry_after_max; /* cap on Retry-After, seconds; default 60 */
	const char *const
	    *insecure; /* hosts allowed plain http / unverified TLS */
	size_t n_insecure;
	const char
	    *certs_dirs; /* ':'-separated certs.d roots; default
			    /etc/containers/certs.d:/etc/docker/certs.d */
	void (*log)(void *ctx, enum reg_log_level lvl, const char *msg);
	void *log_ctx;
};

/* Defaults, then the OCIMIRROR_* environment overrides documented in
 * README (OCIMIRROR_RETRIES, OCIMIRROR_RETRY_BASE_MS,
 * OCIMIRROR_STALL_TIMEOUT, OCIMIRROR_CONNECT_TIMEOUT,
 * OCIMIRROR_MAX_CONNECTIONS, OCIMIRROR_INSECURE_REGISTRIES). Cannot fail. */
void reg_options_init(struct reg_options *o);

/* One line to o->log (nothing when unset), cut at 1 KiB. */
void reg_logf(const struct reg_options *o, enum reg_log_level lvl,
	      const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Per-registry settings (from a sync configuration). */
enum reg_tls {
	REG_TLS_DEFAULT = 0,
	REG_TLS_VERIFY,
	REG_TLS_PLAIN,
	REG_TLS_INSECURE
};
struct reg_host_options {
	enum reg_tls tls;	/* VERIFY: https, verified, even on loopback;
				   PLAIN: http only; INSECURE: https without
				   verification, else http */
	int max_connections;	/* 0: the global option */
	double rate;		/* requests per second; 0: unlimited */
	const char *ca_file;	/* extra CA (PEM), added to the system's */
	const char *cert, *key; /* client certificate */
	/* Mirrors to read this registry's content from, in order
	 * ("https://dmz-mirror.plant:5000", "http://127.0.0.1:5001"): every
	 * read (manifests, blobs, tag lists, referrers) goes to the first
	 * mirror that answers, as /v2/<path>/...?ns=<this host> (containerd's
	 * convention), with the mirror's own TLS and credentials; with
	 * fallback, to this registry itself when every mirror failed. Pushes
	 * go to the registry itself. */
	const char *const *mirrors;
	size_t n_mirrors;
	/* each mirror's own settings (TLS, CA, client certificate, limits),
	 * same order; NULL (or a NULL entry): the URL's scheme alone (http:
	 * plain, https: verified) */
	const struct reg_host_options *const *mirror_opts;
	int fallback;
};

#endif
