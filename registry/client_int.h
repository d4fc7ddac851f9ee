/* Internal to registry/: what a reg_client is made of, for the modules
 * that drive its requests (registry/client.c, registry/engine.c). Only
 * types; everyone else sees struct reg_client as opaque. */
#ifndef REGISTRY_CLIENT_INT_H
#define REGISTRY_CLIENT_INT_H

#include "registry/conn.h"
#include "registry/token.h"

struct reg_engine;

struct reg_client {
	struct reg_conn conn;
	struct reg_token_cache tokens;
	struct reg_engine *engine; /* the pool's or own_engine */
	struct reg_engine *own_engine;
};

#endif
