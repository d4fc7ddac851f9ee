/* The listen address (contract in mirror/serve/listen.h). */
#include "mirror/serve/listen.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define LISTEN_BACKLOG 1024

static int bad_shape(const char *shown, struct err *err)
{
	return err_set(err, ERR_INVALID,
		       "--listen \"%s\": expected HOST:PORT, [IPV6]:PORT, "
		       ":PORT or PORT",
		       shown);
}

int serve_listen_parse(struct sockaddr_storage *out, socklen_t *len,
		       const char *s, struct err *err)
{
	char host[64] = "", shown[128];
	const char *port, *colon;
	size_t hl = 0, pl;
	unsigned long p = 0;

	err_shown(shown, sizeof(shown), s, strlen(s));
	memset(out, 0, sizeof(*out));
	if (s[0] == '[') {
		const char *rb = strchr(s, ']');

		if (!rb || rb[1] != ':')
			return bad_shape(shown, err);
		hl = (size_t)(rb - s - 1);
		if (hl >= sizeof(host))
			goto bad_host;
		memcpy(host, s + 1, hl);
		port = rb + 2;
	} else if ((colon = strrchr(s, ':'))) {
		hl = (size_t)(colon - s);
		if (hl >= sizeof(host))
			goto bad_host;
		memcpy(host, s, hl);
		port = colon + 1;
	} else {
		port = s;
	}
	host[hl] = '\0';
	pl = strlen(port);
	if (!pl || pl > 5 || strspn(port, "0123456789") != pl)
		goto bad_port;
	for (const char *q = port; *q; q++)
		p = p * 10 + (unsigned long)(*q - '0');
	if (p > 65535)
		goto bad_port;
	if (s[0] == '[' || strchr(host, ':')) {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)out;

		a->sin6_family = AF_INET6;
		a->sin6_port = htons((uint16_t)p);
		if (inet_pton(AF_INET6, host, &a->sin6_addr) != 1)
			goto bad_host;
		*len = sizeof(*a);
	} else {
		struct sockaddr_in *a = (struct sockaddr_in *)out;

		a->sin_family = AF_INET;
		a->sin_port = htons((uint16_t)p);
		if (!host[0])
			a->sin_addr.s_addr = htonl(INADDR_ANY);
		else if (!strcmp(host, "localhost"))
			a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		else if (inet_pton(AF_INET, host, &a->sin_addr) != 1)
			goto bad_host;
		*len = sizeof(*a);
	}
	return 0;
bad_port:
	return err_set(err, ERR_INVALID,
		       "--listen \"%s\": port \"%.8s\" is not a number in "
		       "0..65535",
		       shown, port);
bad_host : {
	char h[80];

	err_shown(h, sizeof(h), s[0] == '[' ? s + 1 : s, hl);
	return err_set(err, ERR_INVALID,
		       "--listen \"%s\": \"%s\" is not an IP address (or "
		       "localhost)",
		       shown, h);
}
}

int serve_listen_open(int *fd, unsigned *port, const char *s, struct err *err)
{
	struct sockaddr_storage ss;
	socklen_t sl;
	int one = 1, e, rc;
	int f;

	*fd = -1;
	if ((rc = serve_listen_parse(&ss, &sl, s, err)))
		return rc;
	f = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (f < 0)
		return err_set(err, ERR_FAIL, "cannot listen on %s: %s", s,
			       strerror(errno));
	setsockopt(f, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (ss.ss_family == AF_INET6)
		setsockopt(f, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	if (bind(f, (struct sockaddr *)&ss, sl) || listen(f, LISTEN_BACKLOG))
		goto fail;
	sl = sizeof(ss);
	if (getsockname(f, (struct sockaddr *)&ss, &sl))
		goto fail;
	*port = ntohs(ss.ss_family == AF_INET6
			  ? ((struct sockaddr_in6 *)&ss)->sin6_port
			  : ((struct sockaddr_in *)&ss)->sin_port);
	*fd = f;
	return 0;
fail:
	e = errno;
	close(f);
	return err_set(err, ERR_FAIL, "cannot listen on %s: %s", s,
		       strerror(e));
}
