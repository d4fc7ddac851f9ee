#include "registry/pool.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "oci/vec.h"
#include "registry/client_int.h"
#include "registry/engine.h"

void reg_pool_init(struct reg_pool *p, const struct reg_options *opt)
{
	p->opt = opt;
	p->clients = NULL;
	p->n = 0;
	p->cap = 0;
	p->hosts = NULL;
	p->n_hosts = 0;
	p->engine = NULL;
}

void reg_pool_set_hosts(struct reg_pool *p, const struct reg_pool_host *hosts,
			size_t n)
{
	p->hosts = hosts;
	p->n_hosts = n;
}

void reg_pool_release(struct reg_pool *p)
{
	/* the engine first: its spare easy handles hold the clients' curl
	 * share handles, which curl refuses to free while in use */
	reg_engine_free(p->engine);
	p->engine = NULL;
	for (size_t i = 0; i < p->n; i++)
		reg_client_free(p->clients[i]);
	free(p->clients);
	p->clients = NULL;
	p->n = 0;
	p->cap = 0;
}

/* A mirror's URL, "http[s]://HOST[:PORT][/]", into its "HOST[:PORT]"
 * and *https. ERR_INVALID names the registry and the URL. */
static int mirror_url(const char *origin, const char *url, char *dst,
		      size_t cap, int *https, struct err *err)
{
	const char *p, *h;
	size_t n;

	*https = !strncmp(url, "https://", 8);
	if (!*https && strncmp(url, "http://", 7))
		goto bad;
	h = p = url + (*https ? 8 : 7);
	if (*p == '[') { /* an IPv6 address */
		while (*p && *p != ']')
			p++;
		if (*p++ != ']' || p - h < 3)
			goto bad;
	} else {
		while (isalnum((unsigned char)*p) || *p == '.' || *p == '-')
			p++;
		if (p == h)
			goto bad;
	}
	if (*p == ':') {
		long port = 0;
		const char *d = ++p;

		while (isdigit((unsigned char)*p) && p - d < 6)
			port = port * 10 + (*p++ - '0');
		if (p == d || port < 1 || port > 65535)
			goto bad;
	}
	n = (size_t)(p - h);
	if ((*p == '/' && p[1]) || (*p && *p != '/') || n >= cap)
		goto bad;
	snprintf(dst, cap, "%.*s", (int)n, h);
	return 0;
bad:
	return err_set(err, ERR_INVALID,
		       "%s: mirror \"%s\" is not http[s]://HOST[:PORT]", origin,
		       url);
}

/* The client of host read through h's mirrors: a chain of one endpoint
 * per mirror (registry/client_int.h), then the registry itself when it is
 * the fallback; the head into *out. */
static int chain_new(struct reg_pool *p, struct reg_client **out,
		     struct reg_client *origin,
		     const struct reg_host_options *h, struct err *err)
{
	struct reg_client *head = NULL, **tail = &head, *m;
	const char *host = reg_client_host(origin);
	char mhost[300];
	int rc = 0, https;

	for (size_t i = 0; i < h->n_mirrors && !rc; i++) {
		struct reg_host_options mo;

		rc = mirror_url(host, h->mirrors[i], mhost, sizeof(mhost),
				&https, err);
		if (rc)
			break;
		memset(&mo, 0, sizeof(mo));
		if (h->mirror_opts && h->mirror_opts[i])
			mo = *h->mirror_opts[i];
		mo.mirrors = NULL;
		mo.n_mirrors = 0;
		/* the URL's scheme: http is plain, https verified unless the
		 * mirror's settings say otherwise */
		if (!https)
			mo.tls = REG_TLS_PLAIN;
		else if (mo.tls == REG_TLS_DEFAULT || mo.tls == REG_TLS_PLAIN)
			mo.tls = REG_TLS_VERIFY;
		rc = reg_client_new(&m, mhost, p->opt, err);
		if (rc)
			break;
		snprintf(m->conn.ns, sizeof(m->conn.ns), "%s", host);
		m->origin = origin;
		*tail = m;
		tail = &m->next;
		rc = reg_client_configure(m, &mo, err);
		if (rc)
			err_wrap(err, "%s: mirror %s: ", host, h->mirrors[i]);
	}
	if (h->fallback)
		*tail = origin;
	if (!head) {
		reg_client_free(origin);
		return rc;
	}
	head->owns_chain = 1;
	if (rc) {
		reg_client_free(head);
		return rc;
	}
	*out = head;
	return 0;
}

int reg_pool_get(struct reg_pool *p, struct reg_client **out, const char *host,
		 struct err *err)
{
	const struct reg_host_options *mirrored = NULL;
	int rc;

	for (size_t i = 0; i < p->n; i++) {
		if (!strcmp(reg_client_host(p->clients[i]), host)) {
			*out = p->clients[i];
			return 0;
		}
	}
	if (OCI_VEC_RESERVE(p->clients, p->n, p->cap, 1, 0))
		return err_set(err, ERR_FAIL, "%s: out of memory", host);
	if (!p->engine && (rc = reg_engine_new(&p->engine, err)))
		return rc;
	rc = reg_client_new(&p->clients[p->n], host, p->opt, err);
	if (rc)
		return rc;
	for (size_t i = 0; i < p->n_hosts; i++) {
		if (strcmp(p->hosts[i].host, host))
			continue;
		rc = reg_client_configure(p->clients[p->n], p->hosts[i].opt,
					  err);
		if (rc) {
			reg_client_free(p->clients[p->n]);
			return rc;
		}
		if (p->hosts[i].opt->n_mirrors)
			mirrored = p->hosts[i].opt;
	}
	if (mirrored) {
		rc = chain_new(p, &p->clients[p->n], p->clients[p->n], mirrored,
			       err);
		if (rc)
			return rc;
	}
	reg_client_set_engine(p->clients[p->n], p->engine);
	*out = p->clients[p->n++];
	return 0;
}
