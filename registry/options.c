#include "registry/options.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static long env_long(const char *name, long def)
{
	const char *v = getenv(name);
	char *end;
	long n;

	if (!v || !*v)
		return def;
	n = strtol(v, &end, 10);
	return (*end || n < 0) ? def : n;
}

void reg_options_init(struct reg_options *o)
{
	memset(o, 0, sizeof(*o));
	o->max_connections = (int)env_long("OCIMIRROR_MAX_CONNECTIONS", 8);
	if (o->max_connections < 1)
		o->max_connections = 1;
	o->connect_timeout = env_long("OCIMIRROR_CONNECT_TIMEOUT", 15);
	o->stall_timeout = env_long("OCIMIRROR_STALL_TIMEOUT", 30);
	o->retries = (int)env_long("OCIMIRROR_RETRIES", 5);
	o->retry_base_ms = env_long("OCIMIRROR_RETRY_BASE_MS", 500);
	o->retry_after_max = env_long("OCIMIRROR_RETRY_AFTER_MAX", 60);
	o->certs_dirs = getenv("OCIMIRROR_CERTS_DIRS");
	if (!o->certs_dirs || !*o->certs_dirs)
		o->certs_dirs = "/etc/containers/certs.d:/etc/docker/certs.d";
}

void reg_logf(const struct reg_options *o, enum reg_log_level lvl,
	      const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	if (!o->log)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	o->log(o->log_ctx, lvl, msg);
}
