#include "mirror/serve/options.h"

#include <string.h>

#include "mirror/serve/listen.h"

void serve_options_init(struct serve_options *o)
{
	memset(o, 0, sizeof(*o));
	o->listen = "127.0.0.1:5000";
	o->upload_ttl = 3600;
	o->conn_timeout = 60;
	o->read_timeout = 30;
	o->max_conns_per_ip = 256;
	o->body_memory = 64u * 1024 * 1024;
}

void serve_limits_derive(struct serve_limits *out, uint64_t nofile,
			 unsigned threads)
{
	uint64_t reserve = SERVE_FD_RESERVE(threads), n;

	n = nofile > reserve ? (nofile - reserve) / 2 : 0;
	if (n < 8)
		n = 8;
	if (n > SERVE_CONNECTIONS_MAX)
		n = SERVE_CONNECTIONS_MAX;
	out->connections = (unsigned)n;
	out->uploads = (unsigned)n;
	out->uploads_per_user = n / 4 ? (unsigned)(n / 4) : 1;
}

int serve_options_check(const struct serve_options *o, struct err *err)
{
	struct sockaddr_storage ss;
	socklen_t sl;

	if (!o->listen || !o->listen[0])
		return err_set(err, ERR_INVALID, "--listen: empty address");
	if (serve_listen_parse(&ss, &sl, o->listen, err))
		return ERR_INVALID;
	if (o->push && o->read_only)
		return err_set(err, ERR_INVALID,
			       "--push and --read-only exclude each other");
	if (o->push && !o->htpasswd)
		return err_set(err, ERR_INVALID,
			       "--push needs --htpasswd (pushes are for "
			       "authenticated users)");
	return 0;
}
