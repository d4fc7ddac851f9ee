/* The server's lifecycle (listen, TLS, start, stop) and the MHD handler
 * that routes each request to the read and upload endpoints. */
#include "mirror/serve/serve.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mirror/margo/browse.h"
#include "mirror/serve/api.h"
#include "mirror/serve/internal.h"
#include "mirror/serve/api_deploy.h"
#include "mirror/serve/listen.h"
#include "mirror/serve/api_sync.h"
#include "mirror/serve/metrics.h"
#include "mirror/serve/api_match.h"
#include "mirror/serve/fill.h"
#include "mirror/serve/read.h"
#include "mirror/serve/respond.h"
#include "mirror/serve/ui.h"
#include "mirror/serve/upload.h"
#include "mirror/serve/urilog.h"
#include "oci/manifest.h"

static long long now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int authenticate(struct req *r, struct MHD_Connection *c)
{
	return htpasswd_check_basic(
	    r->user, sizeof(r->user), r->srv->users,
	    MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization"));
}

/* A request that may change the store: POST /ocimirror/v1/deploy and
 * /ocimirror/v1/match read. */
static int is_write(const struct req *r, const char *method)
{
	return strcmp(method, "GET") && strcmp(method, "HEAD") &&
	       r->rt.kind != RT_DEPLOY && r->rt.kind != RT_MATCH;
}

static enum MHD_Result dispatch_read(struct req *r, struct MHD_Connection *c,
				     const char *method)
{
	if (r->rt.kind == RT_MATCH)
		return api_match(r, c);
	if (r->rt.kind == RT_DEPLOY)
		return api_deploy(r, c, method);
	if (strcmp(method, "GET") && strcmp(method, "HEAD"))
		return respond_error(r, c, 405, "UNSUPPORTED",
				     "%s not allowed here", method);
	switch (r->rt.kind) {
	case RT_BASE:
		return respond_json(r, c, 200, "application/json", "{}", 2,
				    NULL);
	case RT_CATALOG: return read_catalog(r, c);
	case RT_MANIFEST: return read_manifest(r, c);
	case RT_BLOB: return read_blob(r, c);
	case RT_TAGS: return read_tags(r, c);
	case RT_REFERRERS: return read_referrers(r, c);
	case RT_APPS: return read_apps(r, c);
	case RT_DEVICES: return api_devices(r, c);
	case RT_DEVICE: return api_device(r, c);
	case RT_APP: return api_app(r, c);
	case RT_RESOURCE: return api_resource(r, c);
	case RT_REPOS: return api_repos(r, c);
	case RT_CONFIG: return api_config(r, c);
	case RT_SYNC: return api_sync(r, c);
	case RT_UI: return ui_serve(r, c);
	case RT_UPLOAD: return upload_end(r, c, method); /* upload status */
	default:
		return respond_error(r, c, 404, "NAME_UNKNOWN",
				     "no such endpoint");
	}
}

/* docker's registry-mirrors send Docker Hub names without a host and
 * without ns: a read of a host-less name the store does not hold as a
 * local repository is answered from docker.io/NAME when that exists, or
 * when the upstream (serve --upstream) serves docker.io/NAME. */
static void hub_fallback(struct req *r, struct MHD_Connection *c)
{
	char hub[OCI_REPO_MAX];

	if (r->rt.ns_query[0] || !r->rt.name[0] ||
	    MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "ns") ||
	    oci_name_first_looks_like_host(r->rt.name))
		return;
	if (strlen(r->rt.name) + 10 >= sizeof(hub) ||
	    store_repo_exists(r->srv->s, r->rt.repo))
		return;
	snprintf(hub, sizeof(hub), "docker.io/%s", r->rt.name);
	if (store_repo_exists(r->srv->s, hub) ||
	    (r->srv->o.upstream &&
	     r->srv->o.upstream->serves(r->srv->o.upstream->ctx, hub)))
		snprintf(r->rt.repo, sizeof(r->rt.repo), "%s", hub);
}

static enum MHD_Result query_arg(void *cls, enum MHD_ValueKind kind,
				 const char *key, const char *value)
{
	struct req *r = cls;

	(void)kind;
	/* a bad n is refused by the list endpoints only (r->q.n_bad) */
	route_query_set(&r->q, key, value, NULL);
	return MHD_YES;
}

/* Authenticate and authorise: 1 when the request was answered (refused). */
static int refused(struct req *r, struct MHD_Connection *c, const char *method)
{
	struct server *srv = r->srv;

	if (is_write(r, method)) {
		if (srv->o.read_only || !srv->o.push) {
			respond_error(
			    r, c, 405, "UNSUPPORTED", "this registry is %s",
			    srv->o.read_only ? "read-only"
					     : "a mirror without --push");
			return 1;
		}
		if (!authenticate(r, c)) {
			respond_error(r, c, 401, "UNAUTHORIZED",
				      "authentication required to push");
			return 1;
		}
	} else if (srv->users &&
		   (!srv->o.anonymous_read || r->rt.kind == RT_BASE) &&
		   !authenticate(r, c)) {
		/* /v2/ challenges even with --anonymous-read: clients
		 * (containers/image: podman, skopeo) send credentials only
		 * when this ping asked for them, so a 200 here would make
		 * every push fail with 401 */
		respond_error(r, c, 401, "UNAUTHORIZED",
			      "authentication required");
		return 1;
	}
	return 0;
}

/* A route that route_parse refused, or no endpoint: 1 when answered. */
static int unroutable(struct req *r, struct MHD_Connection *c, const char *url,
		      const char *method)
{
	enum route_bad bad = r->rt.bad;

	if (r->rt.kind == RT_NONE || bad == ROUTE_BAD_NAME) {
		respond_error(r, c, bad == ROUTE_BAD_NAME ? 400 : 404,
			      bad == ROUTE_BAD_NAME ? "NAME_INVALID"
						    : "NAME_UNKNOWN",
			      bad == ROUTE_BAD_NAME
				  ? "invalid repository name in \"%.200s\""
				  : "no such endpoint: %.200s",
			      url);
		return 1;
	}
	if (bad == ROUTE_BAD_TAG && strcmp(method, "PUT")) {
		respond_error(r, c, 404, "MANIFEST_UNKNOWN",
			      "manifest %.200s unknown", r->rt.ref);
		return 1;
	}
	if (bad == ROUTE_BAD_REF || bad == ROUTE_BAD_TAG) {
		respond_error(r, c, 400,
			      r->rt.kind == RT_MANIFEST
				  ? (bad == ROUTE_BAD_TAG ? "TAG_INVALID"
							  : "MANIFEST_INVALID")
				  : "DIGEST_INVALID",
			      "invalid reference \"%.200s\"", r->rt.ref);
		return 1;
	}
	return 0;
}

/* Route, authenticate and authorise. Answers given here are held until
 * the request body (if any) is read, so the connection stays usable. */
static void first_call(struct req *r, struct MHD_Connection *c, const char *url,
		       const char *method)
{
	struct server *srv = r->srv;
	struct err e;

	route_query_init(&r->q);
	MHD_get_connection_values(c, MHD_GET_ARGUMENT_KIND, query_arg, r);
	route_parse(&r->rt, url, r->q.ns, &e);
	r->routed = 1;
	if (r->rt.bad == ROUTE_OK && !is_write(r, method))
		hub_fallback(r, c);
	if (r->rt.kind == RT_HEALTH) {
		respond_json(r, c, 200, "text/plain", "ok\n", 3, NULL);
		return;
	}
	if (r->rt.kind == RT_METRICS) {
		metrics_send(r, c);
		return;
	}
	if (refused(r, c, method) || unroutable(r, c, url, method))
		return;
	if (is_write(r, method)) {
		if (!strcmp(method, "DELETE") && r->rt.kind != RT_UPLOAD &&
		    !srv->o.delete) {
			respond_error(r, c, 405, "UNSUPPORTED",
				      "deletes are disabled (serve --delete)");
			return;
		}
		upload_begin(r, c, method);
	} else if ((r->rt.kind == RT_DEPLOY || r->rt.kind == RT_MATCH) &&
		   !strcmp(method, "POST")) {
		upload_api_begin(r, c);
		if (r->body_too_large || r->body_busy)
			dispatch_read(r, c, method); /* its 413 or 503, held */
	}
}

static struct conn *conn_of(struct MHD_Connection *c)
{
	const union MHD_ConnectionInfo *ci =
	    MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);

	return ci ? ci->socket_context : NULL;
}

static void conn_phase(struct conn *cn, int phase)
{
	if (!cn)
		return;
	__atomic_store_n(&cn->bytes, 0, __ATOMIC_RELAXED);
	__atomic_store_n(&cn->mark_us, now_us(), __ATOMIC_RELAXED);
	__atomic_store_n(&cn->last_us, cn->mark_us, __ATOMIC_RELAXED);
	__atomic_store_n(&cn->phase, phase, __ATOMIC_RELEASE);
}

static int expects_continue(struct MHD_Connection *c)
{
	const char *e =
	    MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Expect");

	return e && !strcasecmp(e, "100-continue");
}

static enum MHD_Result handler(void *cls, struct MHD_Connection *c,
			       const char *url, const char *method,
			       const char *version, const char *upload_data,
			       size_t *upload_data_size, void **con_cls)
{
	struct server *srv = cls;
	struct req *r = *con_cls;
	int too_many_args = r == SERVE_URI_REFUSED;

	(void)version;
	if (r && !too_many_args)
		r->c = c;
	if (!r || too_many_args) {
		r = calloc(1, sizeof(*r));
		if (!r)
			return MHD_NO;
		r->srv = srv;
		r->c = c;
		r->t0_us = now_us();
		__atomic_add_fetch(&srv->active_requests, 1, __ATOMIC_RELAXED);
		buf_init(&r->body, OCI_MANIFEST_MAX);
		snprintf(r->method, sizeof(r->method), "%s", method);
		snprintf(r->url, sizeof(r->url), "%s", url);
		*con_cls = r;
		r->conn = conn_of(c);
		conn_phase(r->conn, CONN_BODY);
		r->first = 1;
		if (too_many_args)
			respond_error(r, c, 414, "UNSUPPORTED",
				      "more than %d query arguments",
				      ROUTE_QUERY_ARGS_MAX);
		else
			first_call(r, c, url, method);
		r->first = 0;
		/* a client waiting for 100 Continue gets the refusal instead,
		 * and never sends the body (MHD closes the connection) */
		if (r->pending && expects_continue(c))
			return respond_pending(r, c);
		return MHD_YES;
	}
	if (r->conn && *upload_data_size) {
		__atomic_add_fetch(&r->conn->bytes, *upload_data_size,
				   __ATOMIC_RELAXED);
		__atomic_store_n(&r->conn->last_us, now_us(), __ATOMIC_RELAXED);
	} else if (r->conn)
		conn_phase(r->conn, CONN_BUSY);
	if (r->pending) {
		/* an answer decided before the body: drain it, then send */
		if (*upload_data_size) {
			*upload_data_size = 0;
			return MHD_YES;
		}
		return respond_pending(r, c);
	}
	if (*upload_data_size) {
		r->bytes_in += *upload_data_size;
		/* a read's body is dropped as it comes: never held (but
		 * deploy's and match's, capped in upload_body) */
		if (is_write(r, method) || r->rt.kind == RT_DEPLOY ||
		    r->rt.kind == RT_MATCH)
			upload_body(r, upload_data, *upload_data_size);
		*upload_data_size = 0;
		return MHD_YES;
	}
	if (is_write(r, method))
		return upload_end(r, c, method);
	return dispatch_read(r, c, method);
}

static void completed(void *cls, struct MHD_Connection *c, void **con_cls,
		      enum MHD_RequestTerminationCode toe)
{
	struct server *srv = cls;
	struct req *r = *con_cls;
	const union MHD_ConnectionInfo *ci;
	char addr[INET6_ADDRSTRLEN + 8] = "-";
	int ok = toe == MHD_REQUEST_TERMINATED_COMPLETED_OK;

	if (!r || r == SERVE_URI_REFUSED)
		return;
	if (!strcmp(r->method, "HEAD"))
		r->bytes_out = 0; /* headers only */
	upload_abort(r);
	fill_release(r);
	if (r->pending) {
		MHD_destroy_response(r->pending);
		r->pending = NULL;
	}
	ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	if (ci && ci->client_addr) {
		const struct sockaddr *sa = ci->client_addr;
		if (sa->sa_family == AF_INET)
			inet_ntop(AF_INET,
				  &((const struct sockaddr_in *)sa)->sin_addr,
				  addr, sizeof(addr));
		else if (sa->sa_family == AF_INET6)
			inet_ntop(AF_INET6,
				  &((const struct sockaddr_in6 *)sa)->sin6_addr,
				  addr, sizeof(addr));
	}
	metrics_count(srv, r->method, r->status, ok ? r->bytes_out : 0,
		      r->bytes_in);
	if (srv->o.access_log) {
		char line[1024];
		snprintf(
		    line, sizeof(line), "%s %s %s %s%s %u %llu %llu %.3fms%s%s",
		    addr, r->user[0] ? r->user : "-", r->method, r->url,
		    r->rt.ns_query, r->status,
		    (unsigned long long)(ok ? r->bytes_out : 0),
		    (unsigned long long)r->bytes_in,
		    (double)(now_us() - r->t0_us) / 1000.0,
		    r->redirected ? " redirect" : "", ok ? "" : " aborted");
		srv->o.access_log(srv->o.log_ctx, line);
	}
	buf_release(&r->body);
	/* the next request's headers are timed from here */
	conn_phase(r->conn, CONN_HEADERS);
	free(r);
	*con_cls = NULL;
	__atomic_sub_fetch(&srv->active_requests, 1, __ATOMIC_RELAXED);
}

/* MHD's own unescaping turns %00 into a NUL that cuts the string. */
static size_t unescape(void *cls, struct MHD_Connection *c, char *s)
{
	(void)cls;
	(void)c;
	return route_unescape(s);
}

/* Each connection enters the watchdog's list when it opens and leaves it
 * when it closes (MHD notifies before it closes the socket, so the
 * watchdog never shuts down a descriptor that was reused). */
static void conn_notify(void *cls, struct MHD_Connection *c, void **socket_ctx,
			enum MHD_ConnectionNotificationCode code)
{
	struct server *srv = cls;
	struct conn *cn = *socket_ctx;

	__atomic_add_fetch(&srv->connections,
			   code == MHD_CONNECTION_NOTIFY_STARTED ? 1 : -1,
			   __ATOMIC_RELAXED);
	if (code == MHD_CONNECTION_NOTIFY_STARTED) {
		const union MHD_ConnectionInfo *ci = MHD_get_connection_info(
		    c, MHD_CONNECTION_INFO_CONNECTION_FD);
		cn = calloc(1, sizeof(*cn));
		if (!cn || !ci) {
			free(cn);
			return;
		}
		cn->fd = ci->connect_fd;
		cn->eof_bytes = -1;
		cn->phase = CONN_HEADERS;
		cn->mark_us = now_us();
		pthread_mutex_lock(&srv->conns_mu);
		cn->next = srv->conns;
		if (srv->conns)
			srv->conns->prev = cn;
		srv->conns = cn;
		pthread_mutex_unlock(&srv->conns_mu);
		*socket_ctx = cn;
		return;
	}
	if (!cn)
		return;
	pthread_mutex_lock(&srv->conns_mu);
	if (cn->prev)
		cn->prev->next = cn->next;
	else
		srv->conns = cn->next;
	if (cn->next)
		cn->next->prev = cn->prev;
	pthread_mutex_unlock(&srv->conns_mu);
	free(cn);
	*socket_ctx = NULL;
}

/* The client shut its sending side (or the connection broke). */
static int client_gone(int fd)
{
	struct pollfd p = {.fd = fd, .events = POLLRDHUP};

	return poll(&p, 1, 0) == 1 &&
	       (p.revents & (POLLRDHUP | POLLHUP | POLLERR));
}

/* Bytes the client sent that MHD has not read yet (1 when unknown). */
static int conn_pending(int fd)
{
	int n = 0;

	return ioctl(fd, FIONREAD, &n) || n > 0;
}

/* How long a half-closed body brings nothing before it is cut. */
#define SERVE_GONE_US 2000000LL

/* Whether a connection is to be cut: a body whose client is gone, or
 * (t_us > 0) headers not complete within t_us of their start, or a body
 * bringing less than SERVE_BODY_MIN_RATE bytes a second over a t_us
 * window (which then starts again). */
static int conn_too_slow(struct conn *cn, long long now, long long t_us)
{
	int phase = __atomic_load_n(&cn->phase, __ATOMIC_ACQUIRE);
	long long mark = __atomic_load_n(&cn->mark_us, __ATOMIC_RELAXED);
	uint64_t got;

	if (phase == CONN_BUSY)
		return 0;
	got = __atomic_load_n(&cn->bytes, __ATOMIC_RELAXED);
	if (phase == CONN_BODY && client_gone(cn->fd) &&
	    !conn_pending(cn->fd)) {
		/* gone, nothing waiting to be read and nothing read for
		 * SERVE_GONE_US: the body will never be complete (MHD stops
		 * reading a half-closed connection, which would hold its
		 * upload session until the timeout). A client that sent
		 * its whole body and then shut its side is read to the end
		 * first. */
		if (cn->eof_bytes != (long long)got) {
			cn->eof_bytes = (long long)got;
			cn->eof_us = now;
		} else if (now - cn->eof_us >= SERVE_GONE_US) {
			return 1;
		}
	} else {
		cn->eof_bytes = -1;
	}
	if (!t_us || now - mark < t_us)
		return 0;
	if (phase == CONN_HEADERS)
		return 1;
	if (got < (uint64_t)(t_us / 1000000) * SERVE_BODY_MIN_RATE)
		return 1;
	/* a new window; the handler may be changing the phase meanwhile */
	__atomic_compare_exchange_n(&cn->mark_us, &mark, now, 0,
				    __ATOMIC_RELAXED, __ATOMIC_RELAXED);
	__atomic_store_n(&cn->bytes, 0, __ATOMIC_RELAXED);
	return 0;
}

/* The watchdog: a slow or abandoned connection's socket is shut down, and
 * MHD then closes it as any connection the client dropped. */
static void *watchdog(void *arg)
{
	struct server *srv = arg;
	long long t_us = (long long)srv->o.read_timeout * 1000000;

	pthread_mutex_lock(&srv->conns_mu);
	while (!srv->stopping) {
		struct timespec until;
		long long now = now_us();

		for (struct conn *cn = srv->conns; cn; cn = cn->next)
			if (!__atomic_load_n(&cn->cut, __ATOMIC_RELAXED) &&
			    conn_too_slow(cn, now, t_us)) {
				__atomic_store_n(&cn->cut, 1, __ATOMIC_RELAXED);
				shutdown(cn->fd, SHUT_RDWR);
				__atomic_add_fetch(&srv->conns_cut, 1,
						   __ATOMIC_RELAXED);
			}
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_nsec += 250 * 1000000L;
		if (until.tv_nsec >= 1000000000L) {
			until.tv_sec++;
			until.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&srv->conns_cv, &srv->conns_mu, &until);
	}
	pthread_mutex_unlock(&srv->conns_mu);
	return NULL;
}

static char *read_pem(const char *path, struct err *err)
{
	FILE *f = fopen(path, "r");
	struct buf b;
	char tmp[4096];
	size_t n;

	if (!f) {
		err_set(err, ERR_NOT_FOUND, "%s: %s", path, strerror(errno));
		return NULL;
	}
	buf_init(&b, 1024 * 1024);
	while ((n = fread(tmp, 1, sizeof(tmp), f)) > 0)
		if (buf_append(&b, tmp, n)) {
			fclose(f);
			err_set(err, ERR_TOO_LARGE, "%s: too large", path);
			return NULL;
		}
	fclose(f);
	return buf_detach(&b, NULL);
}

#define SERVE_REMOTE_THREADS 32

int serve_start(struct server **out, struct store *s,
		const struct serve_options *o, struct err *err)
{
	struct server *srv = calloc(1, sizeof(*srv));
	struct stat lst = {0};
	int lfd = -1;
	unsigned flags = MHD_USE_EPOLL_INTERNAL_THREAD | MHD_USE_ITC |
			 MHD_USE_TURBO | MHD_USE_ERROR_LOG;
	unsigned threads = o->threads;
	int rc;

	*out = NULL;
	if (!srv)
		return err_set(err, ERR_FAIL, "out of memory");
	if (o->upstream) /* fills suspend the connections that wait */
		flags |= MHD_ALLOW_SUSPEND_RESUME;
	srv->s = s;
	srv->o = *o;
	srv->icache = margo_icache_new(MARGO_ICACHE_MAX); /* NULL: none */
	pthread_mutex_init(&srv->mu, NULL);
	pthread_mutex_init(&srv->conns_mu, NULL);
	pthread_cond_init(&srv->conns_cv, NULL);
	rc = serve_options_check(o, err);
	if (!rc)
		rc = serve_options_check_store(o, s, err);
	if (rc)
		goto fail;
	if (o->htpasswd) {
		rc = htpasswd_load(&srv->users, o->htpasswd, err);
		if (rc)
			goto fail;
	}
	if (!!o->tls_cert != !!o->tls_key) {
		rc = err_set(err, ERR_INVALID,
			     "--tls-cert and --tls-key go together");
		goto fail;
	}
	if (o->tls_cert) {
		if (MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES) {
			rc = err_set(err, ERR_UNSUPPORTED,
				     "libmicrohttpd was built without TLS");
			goto fail;
		}
		srv->cert_pem = read_pem(o->tls_cert, err);
		srv->key_pem = srv->cert_pem ? read_pem(o->tls_key, err) : NULL;
		if (!srv->key_pem) {
			rc = ERR_INVALID;
			goto fail;
		}
		flags |= MHD_USE_TLS;
	}
	if (!threads) {
		long n = sysconf(_SC_NPROCESSORS_ONLN);
		threads = n > 0 ? (unsigned)n * 2 : 4;
		/* a remote store's read blocks its thread for a round trip
		 * to the object store: more threads keep other connections
		 * going meanwhile */
		if (store_is_remote(s) && threads < SERVE_REMOTE_THREADS)
			threads = SERVE_REMOTE_THREADS;
	}
	{
		struct rlimit rl;
		srv->nofile = getrlimit(RLIMIT_NOFILE, &rl) ? 1024
			      : rl.rlim_cur == RLIM_INFINITY
				  ? (uint64_t)1 << 20
				  : (uint64_t)rl.rlim_cur;
		serve_limits_derive(&srv->lim, srv->nofile, threads);
	}
	{
		/* TLS material only when serving https (an empty list else) */
		struct MHD_OptionItem tls[] = {
		    {MHD_OPTION_HTTPS_MEM_CERT, 0, srv->cert_pem},
		    {MHD_OPTION_HTTPS_MEM_KEY, 0, srv->key_pem},
		    {MHD_OPTION_END, 0, NULL},
		};
		/* one thread: MHD's own internal thread, no pool option
		 * (libmicrohttpd warns on stderr about a pool of 0 or 1) */
		struct MHD_OptionItem pool[] = {
		    {MHD_OPTION_THREAD_POOL_SIZE, (intptr_t)threads, NULL},
		    {MHD_OPTION_END, 0, NULL},
		};
		/* bound here, so a failure is one message with its errno */
		rc = serve_listen_open(&lfd, &srv->port, o->listen, err);
		if (rc)
			goto fail;
		(void)fstat(lfd, &lst);
		srv->d = MHD_start_daemon(
		    flags, 0, NULL, NULL, handler, srv,
		    MHD_OPTION_LISTEN_SOCKET, lfd,
		    MHD_OPTION_CONNECTION_TIMEOUT, o->conn_timeout,
		    MHD_OPTION_CONNECTION_LIMIT, srv->lim.connections,
		    MHD_OPTION_PER_IP_CONNECTION_LIMIT, o->max_conns_per_ip,
		    MHD_OPTION_NOTIFY_COMPLETED, completed, srv,
		    MHD_OPTION_NOTIFY_CONNECTION, conn_notify, srv,
		    MHD_OPTION_LISTEN_BACKLOG_SIZE, (unsigned)1024,
		    MHD_OPTION_UNESCAPE_CALLBACK, unescape, NULL,
		    MHD_OPTION_URI_LOG_CALLBACK, serve_uri_check, NULL,
		    MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)SERVE_CONN_POOL,
		    MHD_OPTION_ARRAY, srv->cert_pem ? tls : tls + 2,
		    MHD_OPTION_ARRAY, threads > 1 ? pool : pool + 1,
		    MHD_OPTION_END);
	}
	if (!srv->d) {
		struct stat now;

		/* closed unless MHD did (the same socket is still there) */
		if (!fstat(lfd, &now) && now.st_ino == lst.st_ino &&
		    now.st_dev == lst.st_dev)
			close(lfd);
		rc = err_set(err, ERR_FAIL,
			     "cannot start the server on %s (libmicrohttpd "
			     "refused its options or TLS material)",
			     o->listen);
		goto fail;
	}
	if (pthread_create(&srv->watchdog, NULL, watchdog, srv)) {
		rc = err_set(err, ERR_FAIL, "cannot start the watchdog thread");
		goto fail;
	}
	srv->watchdog_on = 1;
	*out = srv;
	return 0;
fail:
	serve_stop(srv);
	return rc;
}

unsigned serve_port(const struct server *srv)
{
	return srv->port;
}

void serve_stop(struct server *srv)
{
	if (!srv)
		return;
	if (srv->watchdog_on) {
		pthread_mutex_lock(&srv->conns_mu);
		srv->stopping = 1;
		pthread_cond_signal(&srv->conns_cv);
		pthread_mutex_unlock(&srv->conns_mu);
		pthread_join(srv->watchdog, NULL);
		srv->watchdog_on = 0;
	}
	if (srv->d) {
		MHD_socket fd = MHD_quiesce_daemon(srv->d);

		/* every fill fails and its waiters resume, so that no
		 * connection stays suspended */
		if (srv->o.upstream)
			srv->o.upstream->shutdown(srv->o.upstream->ctx);
		/* in-flight requests finish, bounded to ~30 s */
		for (int i = 0;
		     i < 300 && __atomic_load_n(&srv->active_requests,
						__ATOMIC_RELAXED) > 0;
		     i++) {
			struct timespec ts = {0, 100 * 1000000L};
			nanosleep(&ts, NULL);
		}
		MHD_stop_daemon(srv->d);
		if (fd != MHD_INVALID_SOCKET)
			close(fd);
	}
	upload_sessions_release(srv);
	margo_icache_free(srv->icache);
	htpasswd_free(srv->users);
	free(srv->cert_pem);
	free(srv->key_pem);
	pthread_mutex_destroy(&srv->mu);
	pthread_mutex_destroy(&srv->conns_mu);
	pthread_cond_destroy(&srv->conns_cv);
	free(srv);
}
