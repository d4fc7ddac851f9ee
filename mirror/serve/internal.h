/* Internal to the server (mirror/serve*.c): request state, routing and
 * response helpers shared by the read and the push handlers. */
#ifndef MIRROR_SERVE_INTERNAL_H
#define MIRROR_SERVE_INTERNAL_H

#include <microhttpd.h>
#include <pthread.h>
#include <stdint.h>
#include <time.h>

#include "mirror/serve/htpasswd.h"
#include "mirror/serve/serve.h"
#include "oci/buf.h"
#include "oci/ref.h"

enum route_kind {
	RT_NONE,
	RT_BASE,
	RT_CATALOG,
	RT_MANIFEST,
	RT_BLOB,
	RT_UPLOAD_NEW, /* /blobs/uploads/ */
	RT_UPLOAD,     /* /blobs/uploads/<id> */
	RT_TAGS,
	RT_REFERRERS,
	RT_HEALTH,
	RT_METRICS,
	RT_APPS, /* /ocimirror/v1/apps: the Margo catalog (an extension) */
};

struct route {
	enum route_kind kind;
	char name[OCI_REPO_MAX]; /* as the client wrote it */
	char repo[OCI_REPO_MAX]; /* in the store (ns applied) */
	char ns_query[300];	 /* "?ns=docker.io" or "" for Locations */
	char ref[OCI_TAG_MAX + OCI_DIGEST_MAX];
	int is_digest;
	struct oci_digest digest;
	char upload_id[64];
};

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
	size_t n_ups;
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

/* Queue a response, counting bytes and the status. Frees resp. */
enum MHD_Result serve_send(struct req *r, struct MHD_Connection *c,
			   unsigned status, struct MHD_Response *resp);
/* An OCI error body. */
enum MHD_Result serve_error(struct req *r, struct MHD_Connection *c,
			    unsigned status, const char *code, const char *fmt,
			    ...) __attribute__((format(printf, 5, 6)));
/* JSON body with a content type. */
enum MHD_Result serve_json(struct req *r, struct MHD_Connection *c,
			   unsigned status, const char *ctype, const char *json,
			   size_t len, struct MHD_Response **keep);
struct MHD_Response *serve_empty(void);

/* Push handlers (serve_push.c). begin is called on the first callback of
 * a request with a body; data for each piece; end when it is complete. */
enum MHD_Result push_begin(struct req *r, struct MHD_Connection *c,
			   const char *method);
void push_data(struct req *r, const char *data, size_t n);
enum MHD_Result push_end(struct req *r, struct MHD_Connection *c,
			 const char *method);
void push_abort(struct req *r);
void uploads_release(struct server *srv);
size_t uploads_count(struct server *srv);

#endif
