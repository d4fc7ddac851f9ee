/* The first look at a request, before libmicrohttpd parses its query.
 *
 * MHD keeps every query argument in the connection's memory pool; a
 * request with hundreds of them exhausts the pool and gets no answer at
 * all. serve_uri_check is MHD's URI log callback (MHD_OPTION_URI_LOG_
 * CALLBACK, cls unused): for a target with more than ROUTE_QUERY_ARGS_MAX
 * arguments it cuts the query off in MHD's buffer, so that nothing is
 * parsed, and returns SERVE_URI_REFUSED as the request's context; the
 * handler then answers 414 at once. Otherwise it returns NULL. */
#ifndef MIRROR_SERVE_URILOG_H
#define MIRROR_SERVE_URILOG_H

#include <microhttpd.h>

/* Each connection's MHD memory pool: the request line, headers and their
 * records, the response headers. 64 KiB holds a 16 KiB Accept with 300
 * other headers (MHD answers 431 past it); it is mapped, not touched,
 * until used. */
#define SERVE_CONN_POOL (64u * 1024)

extern const char serve_uri_refused_mark;
#define SERVE_URI_REFUSED ((void *)&serve_uri_refused_mark)

void *serve_uri_check(void *cls, const char *uri, struct MHD_Connection *c);

#endif
