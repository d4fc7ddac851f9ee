/* /metrics: request counters by method and status, bytes in and out,
 * connections, upload sessions and the store's blob bytes, in the
 * Prometheus text format. Counters are atomics in struct server, updated
 * once per finished request by metrics_count. */
#include "mirror/serve/metrics.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mirror/serve/respond.h"
#include "mirror/serve/upstream.h"
#include "mirror/serve/upload.h"
#include "mirror/store/syncstatus.h"

static int method_index(const char *m)
{
	static const char *names[] = {"GET",  "HEAD",  "PUT",
				      "POST", "PATCH", "DELETE"};

	for (int i = 0; i < 6; i++)
		if (!strcmp(m, names[i]))
			return i;
	return 6;
}

static const unsigned statuses[MET_STATUSES] = {200, 201, 202, 204, 206, 304,
						307, 400, 401, 403, 404, 405,
						409, 413, 416, 500, 503, 0};

static int status_index(unsigned st)
{
	for (int i = 0; i < MET_STATUSES - 1; i++)
		if (statuses[i] == st)
			return i;
	return MET_STATUSES - 1;
}

void metrics_count(struct server *srv, const char *method, unsigned status,
		   uint64_t sent, uint64_t received)
{
	__atomic_add_fetch(
	    &srv->requests[method_index(method)][status_index(status)], 1,
	    __ATOMIC_RELAXED);
	__atomic_add_fetch(&srv->bytes_sent, sent, __ATOMIC_RELAXED);
	__atomic_add_fetch(&srv->bytes_received, received, __ATOMIC_RELAXED);
}

static int add_blob_size(void *ctx, const struct oci_digest *d, int64_t size)
{
	(void)d;
	*(int64_t *)ctx += size;
	return 0;
}

/* Sum of blob sizes, recomputed at most every 30 s. */
static int64_t store_bytes(struct server *srv)
{
	time_t now = time(NULL);
	int64_t total = 0;

	if (srv->store_bytes_at && now - srv->store_bytes_at < 30)
		return __atomic_load_n(&srv->store_bytes_cached,
				       __ATOMIC_RELAXED);
	/* a directory that cannot be listed counts as empty */
	store_blobs_each(srv->s, add_blob_size, &total, NULL);
	__atomic_store_n(&srv->store_bytes_cached, total, __ATOMIC_RELAXED);
	srv->store_bytes_at = now;
	return total;
}

/* The last sync run the store records, read at each scrape. A gauge is
 * left out while there is nothing to tell (no run recorded, no run ever
 * ok, a record that cannot be read), never 0: a 1970 timestamp would read
 * as a very old run, and absent() alerts on what is missing. */
void metrics_sync(struct buf *b, const struct store *s)
{
	struct store_sync_status *st = malloc(sizeof(*st));

	if (!st)
		return;
	if (store_sync_status_get(st, s, NULL)) {
		free(st);
		return;
	}
	if (st->has_run)
		buf_printf(b,
			   "# HELP ocimirror_sync_last_run_timestamp_seconds "
			   "When the last sync run finished.\n"
			   "# TYPE ocimirror_sync_last_run_timestamp_seconds "
			   "gauge\n"
			   "ocimirror_sync_last_run_timestamp_seconds %lld\n"
			   "# HELP ocimirror_sync_last_run_failures Lines "
			   "(tags, components, images) the last sync run "
			   "failed; 1 when it stopped short.\n"
			   "# TYPE ocimirror_sync_last_run_failures gauge\n"
			   "ocimirror_sync_last_run_failures %llu\n",
			   (long long)st->last.finished,
			   (unsigned long long)st->last.failed);
	if (st->last_success)
		buf_printf(
		    b,
		    "# HELP ocimirror_sync_last_success_timestamp_seconds "
		    "When the last sync run whose every line succeeded "
		    "finished.\n"
		    "# TYPE ocimirror_sync_last_success_timestamp_seconds "
		    "gauge\n"
		    "ocimirror_sync_last_success_timestamp_seconds %lld\n",
		    (long long)st->last_success);
	free(st);
}

/* Descriptors the process has open (but the one that lists them). */
static long open_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	long n = 0;

	if (!d)
		return -1;
	while ((e = readdir(d)))
		n += e->d_name[0] != '.';
	closedir(d);
	return n - 1;
}

static unsigned long long load(uint64_t *p)
{
	return (unsigned long long)__atomic_load_n(p, __ATOMIC_RELAXED);
}

/* The fill-on-demand counters (serve --upstream), when there is one. */
static void metrics_upstream(struct buf *b, const struct serve_upstream *u)
{
	struct serve_upstream_stats st = {0};

	u->stats(u->ctx, &st);
	{
		const struct {
			const char *name, *type, *help;
			uint64_t v;
		} m[] = {
		    {"manifest_fetches_total", "counter",
		     "Upstream manifest GETs.", st.manifest_fetches},
		    {"blob_fetches_total", "counter", "Upstream blob GETs.",
		     st.blob_fetches},
		    {"list_fetches_total", "counter",
		     "Upstream tag lists and referrers fetched.",
		     st.list_fetches},
		    {"revalidations_total", "counter",
		     "Upstream tag checks after tag_ttl.", st.revalidations},
		    {"received_bytes_total", "counter",
		     "Body bytes received from upstreams.", st.bytes},
		    {"failures_total", "counter",
		     "Upstream fetches that failed.", st.failures},
		    {"stale_total", "counter",
		     "Stored tags answered because the upstream failed.",
		     st.stale},
		    {"joined_total", "counter",
		     "Requests that joined a running upstream fetch.",
		     st.joined},
		    {"in_flight", "gauge", "Upstream fetches running now.",
		     st.in_flight},
		};

		for (size_t i = 0; i < sizeof(m) / sizeof(m[0]); i++)
			buf_printf(b,
				   "# HELP ocimirror_upstream_%s %s\n"
				   "# TYPE ocimirror_upstream_%s %s\n"
				   "ocimirror_upstream_%s %llu\n",
				   m[i].name, m[i].help, m[i].name, m[i].type,
				   m[i].name, (unsigned long long)m[i].v);
	}
}

enum MHD_Result metrics_send(struct req *r, struct MHD_Connection *c)
{
	static const char *methods[MET_METHODS] = {
	    "GET", "HEAD", "PUT", "POST", "PATCH", "DELETE", "OTHER"};
	struct server *srv = r->srv;
	struct buf b;
	enum MHD_Result ret;

	buf_init(&b, 1024 * 1024);
	buf_puts(&b, "# HELP ocimirror_http_requests_total Requests served, by "
		     "method and status.\n"
		     "# TYPE ocimirror_http_requests_total counter\n");
	for (int m = 0; m < MET_METHODS; m++)
		for (int s = 0; s < MET_STATUSES; s++) {
			uint64_t v = __atomic_load_n(&srv->requests[m][s],
						     __ATOMIC_RELAXED);
			if (!v)
				continue;
			if (statuses[s])
				buf_printf(
				    &b,
				    "ocimirror_http_requests_total{method=\"%"
				    "s\",status=\"%u\"} %llu\n",
				    methods[m], statuses[s],
				    (unsigned long long)v);
			else
				buf_printf(
				    &b,
				    "ocimirror_http_requests_total{method=\"%"
				    "s\",status=\"other\"} %llu\n",
				    methods[m], (unsigned long long)v);
		}
	buf_printf(
	    &b,
	    "# HELP ocimirror_http_sent_bytes_total Response body bytes.\n"
	    "# TYPE ocimirror_http_sent_bytes_total counter\n"
	    "ocimirror_http_sent_bytes_total %llu\n"
	    "# HELP ocimirror_http_received_bytes_total Request body bytes.\n"
	    "# TYPE ocimirror_http_received_bytes_total counter\n"
	    "ocimirror_http_received_bytes_total %llu\n"
	    "# HELP ocimirror_http_connections Open client connections.\n"
	    "# TYPE ocimirror_http_connections gauge\n"
	    "ocimirror_http_connections %lld\n"
	    "# HELP ocimirror_upload_sessions Open upload sessions.\n"
	    "# TYPE ocimirror_upload_sessions gauge\n"
	    "ocimirror_upload_sessions %zu\n"
	    "# HELP ocimirror_store_bytes Bytes of blobs in the store.\n"
	    "# TYPE ocimirror_store_bytes gauge\n"
	    "ocimirror_store_bytes %lld\n",
	    (unsigned long long)__atomic_load_n(&srv->bytes_sent,
						__ATOMIC_RELAXED),
	    (unsigned long long)__atomic_load_n(&srv->bytes_received,
						__ATOMIC_RELAXED),
	    (long long)__atomic_load_n(&srv->connections, __ATOMIC_RELAXED),
	    upload_sessions_count(srv), (long long)store_bytes(srv));
	buf_printf(
	    &b,
	    "# HELP ocimirror_open_fds Descriptors in use by the server.\n"
	    "# TYPE ocimirror_open_fds gauge\n"
	    "ocimirror_open_fds %ld\n"
	    "# HELP ocimirror_max_fds Descriptor limit (RLIMIT_NOFILE).\n"
	    "# TYPE ocimirror_max_fds gauge\n"
	    "ocimirror_max_fds %llu\n"
	    "# HELP ocimirror_connections_max Connections allowed at once.\n"
	    "# TYPE ocimirror_connections_max gauge\n"
	    "ocimirror_connections_max %u\n"
	    "# HELP ocimirror_upload_sessions_max Upload sessions allowed "
	    "at once (all users; per user).\n"
	    "# TYPE ocimirror_upload_sessions_max gauge\n"
	    "ocimirror_upload_sessions_max{scope=\"all\"} %u\n"
	    "ocimirror_upload_sessions_max{scope=\"user\"} %u\n"
	    "# HELP ocimirror_upload_sessions_refused_total Upload sessions "
	    "refused at the cap (503).\n"
	    "# TYPE ocimirror_upload_sessions_refused_total counter\n"
	    "ocimirror_upload_sessions_refused_total %llu\n"
	    "# HELP ocimirror_store_opens_refused_total Store reads and "
	    "upload files that could not be opened (503).\n"
	    "# TYPE ocimirror_store_opens_refused_total counter\n"
	    "ocimirror_store_opens_refused_total %llu\n"
	    "# HELP ocimirror_body_memory_bytes Request bodies held in "
	    "memory.\n"
	    "# TYPE ocimirror_body_memory_bytes gauge\n"
	    "ocimirror_body_memory_bytes %llu\n"
	    "# HELP ocimirror_bodies_refused_total Request bodies refused "
	    "for the memory budget (503).\n"
	    "# TYPE ocimirror_bodies_refused_total counter\n"
	    "ocimirror_bodies_refused_total %llu\n"
	    "# HELP ocimirror_slow_clients_cut_total Connections closed by "
	    "the read timeout.\n"
	    "# TYPE ocimirror_slow_clients_cut_total counter\n"
	    "ocimirror_slow_clients_cut_total %llu\n"
	    "# HELP ocimirror_blob_redirects_total Blob GETs answered 307 "
	    "with the store's direct URL (--redirect).\n"
	    "# TYPE ocimirror_blob_redirects_total counter\n"
	    "ocimirror_blob_redirects_total %llu\n"
	    "# HELP ocimirror_upload_sessions_joined_total Upload sessions "
	    "taken up from the shared store (begun by another replica).\n"
	    "# TYPE ocimirror_upload_sessions_joined_total counter\n"
	    "ocimirror_upload_sessions_joined_total %llu\n",
	    open_fds(), (unsigned long long)srv->nofile, srv->lim.connections,
	    srv->lim.uploads, srv->lim.uploads_per_user,
	    load(&srv->sessions_refused), load(&srv->opens_refused),
	    load(&srv->body_bytes), load(&srv->bodies_refused),
	    load(&srv->conns_cut), load(&srv->blob_redirects),
	    load(&srv->uploads_joined));
	metrics_sync(&b, srv->s);
	if (srv->o.upstream)
		metrics_upstream(&b, srv->o.upstream);
	ret = respond_json(r, c, 200, "text/plain; version=0.0.4", b.data,
			   b.len, NULL);
	buf_release(&b);
	return ret;
}
