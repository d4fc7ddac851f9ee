/* One reg_client per registry host, created on first use and kept until
 * reg_pool_release, all on one request engine (registry/engine.h), made
 * with the first client: every request of a run shares its limits. The pool
 * owns its clients; it keeps pointers to the options and host settings it is
 * given, which the caller keeps alive. Not thread-safe. */
#ifndef REGISTRY_POOL_H
#define REGISTRY_POOL_H

#include "registry/client.h"

struct reg_pool_host {
	const char *host;
	const struct reg_host_options *opt; /* caller-owned */
};

struct reg_pool {
	const struct reg_options *opt;
	struct reg_client **clients;
	size_t n, cap;
	const struct reg_pool_host *hosts; /* settings applied on creation */
	size_t n_hosts;
	struct reg_engine *engine; /* every client's requests run here */
};

void reg_pool_init(struct reg_pool *p, const struct reg_options *opt);
void reg_pool_release(struct reg_pool *p);
/* Settings per host (an array the caller keeps alive), applied to each
 * client when it is created. */
void reg_pool_set_hosts(struct reg_pool *p, const struct reg_pool_host *hosts,
			size_t n);
/* The client for host, owned by the pool. A new client gets the host's
 * settings; errors (out of memory, curl init, an unreadable CA file) name
 * the host. */
int reg_pool_get(struct reg_pool *p, struct reg_client **out, const char *host,
		 struct err *err);

#endif
