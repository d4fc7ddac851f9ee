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
	/* A registry read through mirrors (registry/options.h) is a chain
	 * of endpoint clients, one per mirror (conn.ns set to the
	 * registry), then the registry itself when it is the fallback. The
	 * head is the client callers hold; it owns the rest. */
	struct reg_client *next;   /* the endpoint to try after this one */
	struct reg_client *origin; /* the registry itself (pushes), or NULL
				      for a client that is not a mirror's */
	int owns_chain;
	long long down_until_ms; /* transport failure: skipped for new
				    requests until then (monotonic) */
};

/* Skip an endpoint that failed at transport level for this long. */
#define REG_ENDPOINT_DOWN_MS 30000

/* The endpoint a new request of c goes to: the origin for a push, else
 * the first of the chain not marked down (the last when all are). */
struct reg_client *reg_client_pick(struct reg_client *c, int push);
/* c failed at transport level: skip it for new requests a while. */
void reg_client_mark_down(struct reg_client *c);
/* Log that endpoint c failed for why and next is tried. */
void reg_client_log_failover(const struct reg_client *c, const char *why);

#endif
