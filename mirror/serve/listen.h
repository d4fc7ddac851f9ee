/* The server's listen address: parsed (for the option check, no I/O) and
 * bound (the socket handed to libmicrohttpd, so that a bind failure is
 * reported once, by us, with its errno). */
#ifndef MIRROR_SERVE_LISTEN_H
#define MIRROR_SERVE_LISTEN_H

#include <sys/socket.h>

#include "oci/err.h"

/* "127.0.0.1:5000", "[::1]:5000", ":5000" (every IPv4 address), "5000",
 * "localhost:5000" (127.0.0.1). The port is 0..65535 in decimal digits (0:
 * any free port). Writes *out and *len; ERR_INVALID with a one-line
 * message naming the value ("--listen \"999.1.1.1:6705\": \"999.1.1.1\" is
 * not an IP address") else. */
int serve_listen_parse(struct sockaddr_storage *out, socklen_t *len,
		       const char *s, struct err *err);

/* A listening TCP socket (non-blocking, close-on-exec, SO_REUSEADDR, IPv6
 * only for an IPv6 address) on s; *port gets the port bound. ERR_INVALID
 * as serve_listen_parse, ERR_FAIL "cannot listen on ADDR: STRERROR" when
 * the address cannot be bound ("Address already in use"). */
int serve_listen_open(int *fd, unsigned *port, const char *s, struct err *err);

#endif
