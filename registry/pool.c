#include "registry/pool.h"

#include <stdlib.h>
#include <string.h>

#include "oci/vec.h"
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

int reg_pool_get(struct reg_pool *p, struct reg_client **out, const char *host,
		 struct err *err)
{
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
	}
	reg_client_set_engine(p->clients[p->n], p->engine);
	*out = p->clients[p->n++];
	return 0;
}
