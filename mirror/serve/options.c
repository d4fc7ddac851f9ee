#include "mirror/serve/options.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mirror/serve/listen.h"
#include "mirror/store/store.h"

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

int serve_options_check_store(const struct serve_options *o,
			      const struct store *s, struct err *err)
{
	struct oci_digest none;
	char *url = NULL;
	int rc;

	if (!o->redirect)
		return 0;
	/* a digest nobody stores: only whether the backend has URLs at all */
	memset(&none, 0, sizeof(none));
	none.alg = OCI_SHA256;
	snprintf(none.str, sizeof(none.str), "sha256:%064d", 0);
	rc = store_blob_url(&url, s, &none, SERVE_REDIRECT_TTL, NULL);
	free(url);
	if (rc == ERR_UNSUPPORTED)
		return err_set(err, ERR_INVALID,
			       "--redirect: store %s has no direct blob URLs",
			       s->root);
	return 0;
}
