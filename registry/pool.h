/* One reg_client per registry host, created on first use. */
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
	size_t n;
	const struct reg_pool_host *hosts; /* settings applied on creation */
	size_t n_hosts;
};

void reg_pool_init(struct reg_pool *p, const struct reg_options *opt);
void reg_pool_release(struct reg_pool *p);
/* Settings per host (an array the caller keeps alive), applied to each
 * client when it is created. */
void reg_pool_set_hosts(struct reg_pool *p, const struct reg_pool_host *hosts,
			size_t n);
/* The client for host, owned by the pool. */
int reg_pool_get(struct reg_pool *p, struct reg_client **out, const char *host,
		 struct err *err);

#endif
