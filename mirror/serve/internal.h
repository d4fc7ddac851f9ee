/* Private to mirror/serve/: the server's shared state and one request's
 * state, used by the dispatcher (serve.c), the responses (respond.c), the
 * reads (read.c), the pushes (upload.c) and the counters (metrics.c).
 * Types only: no functions, so including it ties a file to no module. */
#ifndef MIRROR_SERVE_INTERNAL_H
#define MIRROR_SERVE_INTERNAL_H

#include <microhttpd.h>
#include <pthread.h>
#include <stdint.h>
#include <time.h>

#include "mirror/serve/htpasswd.h"
#include "mirror/serve/options.h"
#include "mirror/serve/route.h"
#include "mirror/store/store.h"
#include "oci/buf.h"
#include "oci/ref.h"

struct upload {
	char id[33];
	char repo[OCI_REPO_MAX];
	struct store_writer *w;
	time_t touched;
	int busy;
};

#define MET_METHODS 7
#define MET_STATUSES 16

struct server {
	struct MHD_Daemon *d;
	struct store *s;
	struct serve_options o;
	struct htpasswd *users;
	char *cert_pem, *key_pem;
	unsigned port;
	pthread_mutex_t mu; /* uploads */
	struct upload **ups;
	size_t n_ups, cap_ups;
	/* metrics (atomics) */
	uint64_t requests[MET_METHODS][MET_STATUSES];
	uint64_t bytes_sent, bytes_received;
	int64_t connections;
	int64_t active_requests;
	int64_t store_bytes_cached;
	time_t store_bytes_at;
};

struct req {
	struct server *srv;
	long long t0_us;
	char user[128];
	unsigned status;
	uint64_t bytes_out, bytes_in;
	char method[8];
	char url[512];
	struct route rt;
	struct route_query q; /* query arguments, borrowed from MHD */
	int routed;
	int responded;
	int first;		      /* inside the first handler call */
	struct MHD_Response *pending; /* answer held until the body is read */
	/* bodies */
	struct store_writer *w; /* monolithic POST ?digest= */
	struct upload *up;	/* PATCH/PUT on a session, held busy */
	uint64_t range_start;	/* PATCH Content-Range start */
	uint64_t range_len;
	int has_range;
	struct buf body; /* manifest PUT */
	int body_too_large;
	int body_failed;
	struct err err;
};

#endif
