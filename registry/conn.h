/* Internal to registry/: the connection side of one registry host. The
 * curl share handle (connections, DNS, TLS sessions shared by every
 * request to the host), the easy handle of sequential requests, the
 * scheme (https; plain http or unverified TLS only for loopback, the
 * hosts the user named insecure, or a host setting), TLS material from
 * certs.d and host settings, and the request-rate limit.
 *
 * A reg_conn is embedded in a reg_client and lives as long as it; it keeps
 * a pointer to the caller's reg_options. Not thread-safe. */
#ifndef REGISTRY_CONN_H
#define REGISTRY_CONN_H

#include <curl/curl.h>

#include "oci/err.h"
#include "registry/options.h"

struct reg_conn {
	char host[300];	    /* as in references, used for creds and certs.d */
	char endpoint[300]; /* host to connect to */
	const struct reg_options *opt;
	CURLSH *share;
	CURL *easy;	/* for sequential requests */
	char base[340]; /* scheme://endpoint, "" until chosen */
	int insecure;
	char *ca_blob; /* system bundle + extra CAs, NULL when none extra */
	size_t ca_len;
	char *client_cert, *client_key;
	int max_connections; /* 0: opt->max_connections */
	double rate;	     /* requests per second; 0: unlimited */
	long long next_slot_us;
	/* for a mirror's endpoint: the registry it stands in for, sent as
	 * ?ns=<host> with every read; "" otherwise */
	char ns[300];
};

/* Set up c for host ("docker.io" connects to registry-1.docker.io) and
 * read certs.d. On failure c is released and err names the host. */
int reg_conn_init(struct reg_conn *c, const char *host,
		  const struct reg_options *opt, struct err *err);
/* Free what c holds; c may be zeroed or half set up. */
void reg_conn_release(struct reg_conn *c);

/* Apply TLS, timeouts, redirects, the share handle and the user agent to
 * an easy handle (c->easy or a transfer's own). */
void reg_conn_setup_easy(struct reg_conn *c, CURL *h);
/* Reset c->easy and set it up again: a clean handle for the next call. */
void reg_conn_prepare(struct reg_conn *c);

/* "https://host:port" into *out (owned by c). For an insecure host the
 * first call probes https and falls back to http; an unreachable host is
 * an error naming it. */
int reg_conn_base_url(struct reg_conn *c, const char **out, struct err *err);

/* The URL of a request: base joined with url ("/v2/..." or absolute),
 * and for a mirror's endpoint (c->ns set) "ns=<c->ns>" added to the query
 * of a URL on that endpoint, unless it carries one already (a Link page a
 * mirror named). -1 when it does not fit in cap. */
int reg_conn_url(const struct reg_conn *c, char *dst, size_t cap,
		 const char *base, const char *url);

/* Apply one host's settings (scheme, connections, rate, CA, client
 * certificate). An unreadable CA file is ERR_NOT_FOUND. */
int reg_conn_configure(struct reg_conn *c, const struct reg_host_options *h,
		       struct err *err);
/* Without waiting: 0 when the rate limit lets a request go now (its
 * slot is taken), else the milliseconds until it may. */
long reg_conn_slot(struct reg_conn *c);
/* Wait as long as the rate limit asks before the next request. */
void reg_conn_throttle(struct reg_conn *c);

#endif
