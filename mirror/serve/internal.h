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
#include "mirror/serve/upstream.h"
#include "mirror/store/store.h"
#include "oci/buf.h"
#include "oci/ref.h"

struct conn;
struct margo_icache;

struct upload {
	char id[33];
	char repo[OCI_REPO_MAX];
	char user[128];		/* who opened it (the per-user cap) */
	struct store_writer *w; /* NULL until data comes; parked when idle */
	uint64_t committed;	/* bytes written when last released */
	struct conn *holder;	/* while busy: the holding request's */
	time_t touched;
	int busy;
};

/* One client connection, as the read-timeout watchdog sees it (MHD's
 * socket context). Fields other than the list links are atomics. */
enum conn_phase {
	CONN_HEADERS, /* waiting for a request's headers (since mark) */
	CONN_BODY,    /* reading a body: bytes since mark */
	CONN_BUSY,    /* handling or answering: not watched */
};

struct conn {
	struct conn *prev, *next; /* under server.conns_mu */
	int fd;
	int phase;
	long long mark_us;
	uint64_t bytes;
	long long last_us; /* when body bytes last came */
	int cut;
	/* the watchdog's: the body's bytes when it last found the client
	 * gone (read side shut), or -1 */
	long long eof_bytes;
	long long eof_us; /* since when eof_bytes has not moved */
};

#define MET_METHODS 7
#define MET_STATUSES 18

struct server {
	struct MHD_Daemon *d;
	struct store *s;
	struct serve_options o;
	struct htpasswd *users;
	char *cert_pem, *key_pem;
	unsigned port;
	struct serve_limits lim;
	uint64_t nofile;    /* RLIMIT_NOFILE at start */
	pthread_mutex_t mu; /* uploads */
	struct upload **ups;
	size_t n_ups, cap_ups;
	/* the read-timeout watchdog */
	pthread_mutex_t conns_mu;
	pthread_cond_t conns_cv;
	struct conn *conns;
	pthread_t watchdog;
	int watchdog_on, stopping;
	/* request bodies held in memory (atomic), against o.body_memory */
	uint64_t body_bytes;
	/* metrics (atomics) */
	uint64_t requests[MET_METHODS][MET_STATUSES];
	uint64_t bytes_sent, bytes_received;
	int64_t connections;
	uint64_t sessions_refused; /* upload sessions refused at the cap */
	uint64_t bodies_refused;   /* bodies refused for the memory budget */
	uint64_t opens_refused;	   /* files not opened: no descriptor, ... */
	uint64_t conns_cut;	   /* slow clients disconnected */
	uint64_t blob_redirects;   /* blob GETs answered 307 (--redirect) */
	uint64_t uploads_joined;   /* sessions taken up from a shared store */
	int64_t active_requests;
	int64_t store_bytes_cached;
	time_t store_bytes_at;
	/* the images of component archives, for the catalog pages */
	struct margo_icache *icache;
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
	struct buf body;	/* manifest PUT */
	uint64_t body_reserved; /* of server.body_bytes, for body */
	struct conn *conn;	/* the connection's watchdog entry */
	unsigned retry_after;	/* seconds, for a 503 */
	int body_too_large;
	int body_failed;
	int body_busy;	/* the memory budget refused the body */
	int redirected; /* answered 307 to the store's URL */
	struct err err;
	/* fill on demand (fill.h): the connection, for suspending it; the
	 * fill this request waits on (released when it completes) and its
	 * last status */
	struct MHD_Connection *c;
	struct serve_fill *fill;
	struct serve_fill_status fst;
	int fill_stored; /* the fill revalidates what the store holds */
};

#endif
