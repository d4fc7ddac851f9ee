/* One reg_client per registry host, created on first use. */
#ifndef REGISTRY_POOL_H
#define REGISTRY_POOL_H

#include "registry/client.h"

struct reg_pool {
	const struct reg_options *opt;
	struct reg_client **clients;
	size_t n;
};

void reg_pool_init(struct reg_pool *p, const struct reg_options *opt);
void reg_pool_release(struct reg_pool *p);
/* The client for host, owned by the pool. */
int reg_pool_get(struct reg_pool *p, struct reg_client **out, const char *host,
		 struct err *err);

#endif
