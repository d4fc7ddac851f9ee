#include "mirror/serve/options.h"

#include <string.h>

void serve_options_init(struct serve_options *o)
{
	memset(o, 0, sizeof(*o));
	o->listen = "127.0.0.1:5000";
	o->upload_ttl = 3600;
	o->conn_timeout = 60;
}
