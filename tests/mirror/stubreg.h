/* A stub registry for the push tests: HTTP/1.1 on an ephemeral loopback
 * port, one thread per connection (at most STUB_CONNS), answering just
 * what a push sends (blob HEAD, upload POST / PATCH / PUT, mounts,
 * manifest PUT and GET) and recording every request in the order it was
 * answered. Blob PUTs can be held until several are in flight at once (a
 * barrier with a bounded wait, so a serial client is seen as such and
 * the test still ends), and one digest's upload can be refused. Header
 * only, like storefix.h. */
#ifndef TESTS_MIRROR_STUBREG_H
#define TESTS_MIRROR_STUBREG_H

#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define STUB_CONNS 32
#define STUB_LOG 512
#define STUB_HAVE 256
#define STUB_WAIT_S 3

struct stub {
	int lfd;
	unsigned port;
	char host[64];
	pthread_t acceptor;
	pthread_t threads[STUB_CONNS];
	int fds[STUB_CONNS];
	int n_conns;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int stop;
	/* behaviour, set before the push */
	int barrier;	       /* hold blob PUTs until this many arrived */
	char fail_digest[160]; /* blob PUT of this digest: 500 */
	/* what was seen */
	int puts_arrived, puts_in_flight, puts_max;
	char log[STUB_LOG][300]; /* "METHOD /path?query" */
	int n_log;
	char have[STUB_HAVE][300]; /* "repo@digest" stored */
	int n_have;
	int sessions;
};

static FIX_UNUSED int stub_has(struct stub *s, const char *repo,
			       const char *digest)
{
	char k[300];

	snprintf(k, sizeof(k), "%s@%s", repo, digest);
	for (int i = 0; i < s->n_have; i++)
		if (!strcmp(s->have[i], k))
			return 1;
	return 0;
}

static FIX_UNUSED void stub_add(struct stub *s, const char *repo,
				const char *digest)
{
	if (s->n_have < STUB_HAVE && !stub_has(s, repo, digest))
		snprintf(s->have[s->n_have++], sizeof(s->have[0]), "%s@%s",
			 repo, digest);
}

/* The value of key in a query ("%3A" decoded), into dst. */
static FIX_UNUSED void stub_query(char *dst, size_t cap, const char *q,
				  const char *key)
{
	const char *p = strstr(q, key);
	size_t n = 0;

	dst[0] = '\0';
	if (!p)
		return;
	p += strlen(key);
	while (*p && *p != '&' && *p != ' ' && n + 1 < cap) {
		if (!strncmp(p, "%3A", 3) || !strncmp(p, "%3a", 3)) {
			dst[n++] = ':';
			p += 3;
		} else {
			dst[n++] = *p++;
		}
	}
	dst[n] = '\0';
}

static FIX_UNUSED void stub_send(int fd, int status, const char *location,
				 long long length, const char *body)
{
	char h[1024];
	int n;

	n = snprintf(h, sizeof(h),
		     "HTTP/1.1 %d X\r\nContent-Length: %lld\r\n%s%s%s"
		     "Docker-Distribution-API-Version: registry/2.0\r\n\r\n",
		     status, length, location ? "Location: " : "",
		     location ? location : "", location ? "\r\n" : "");
	if (write(fd, h, (size_t)n) < 0)
		return;
	if (body && write(fd, body, strlen(body)) < 0)
		return;
}

/* Answer one request; the caller holds no lock. */
static FIX_UNUSED void stub_answer(struct stub *s, int fd, const char *method,
				   const char *target)
{
	char path[300], repo[300], q[300], digest[160], from[300], loc[400];
	const char *qm = strchr(target, '?');
	const char *p;
	size_t plen = qm ? (size_t)(qm - target) : strlen(target);

	snprintf(path, sizeof(path), "%.*s", (int)plen, target);
	snprintf(q, sizeof(q), "%s", qm ? qm : "");
	repo[0] = '\0';
	if (!strncmp(path, "/v2/", 4)) {
		const char *end = strstr(path, "/blobs/");
		if (!end)
			end = strstr(path, "/manifests/");
		if (end)
			snprintf(repo, sizeof(repo), "%.*s",
				 (int)(end - path - 4), path + 4);
	}
	pthread_mutex_lock(&s->mu);
	if (s->n_log < STUB_LOG)
		snprintf(s->log[s->n_log++], sizeof(s->log[0]), "%s %s", method,
			 target);
	if (!strcmp(method, "HEAD") && (p = strstr(path, "/blobs/")) &&
	    !strstr(path, "/uploads")) {
		int have = stub_has(s, repo, p + 7);
		pthread_mutex_unlock(&s->mu);
		stub_send(fd, have ? 200 : 404, NULL, have ? 1 : 0, NULL);
		return;
	}
	if (!strcmp(method, "POST") && strstr(path, "/blobs/uploads")) {
		stub_query(digest, sizeof(digest), q, "mount=");
		stub_query(from, sizeof(from), q, "from=");
		if (digest[0] && stub_has(s, from, digest)) {
			stub_add(s, repo, digest);
			pthread_mutex_unlock(&s->mu);
			snprintf(loc, sizeof(loc), "/v2/%s/blobs/%s", repo,
				 digest);
			stub_send(fd, 201, loc, 0, NULL);
			return;
		}
		snprintf(loc, sizeof(loc), "/v2/%s/blobs/uploads/s%d", repo,
			 ++s->sessions);
		pthread_mutex_unlock(&s->mu);
		stub_send(fd, 202, loc, 0, NULL);
		return;
	}
	if (!strcmp(method, "PATCH") && strstr(path, "/blobs/uploads/")) {
		pthread_mutex_unlock(&s->mu);
		stub_send(fd, 202, path, 0, NULL);
		return;
	}
	if (!strcmp(method, "PUT") && strstr(path, "/blobs/uploads/")) {
		struct timespec until;
		int fail;

		stub_query(digest, sizeof(digest), q, "digest=");
		s->puts_arrived++;
		s->puts_in_flight++;
		if (s->puts_in_flight > s->puts_max)
			s->puts_max = s->puts_in_flight;
		pthread_cond_broadcast(&s->cv);
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_sec += STUB_WAIT_S;
		while (!s->stop && s->puts_arrived < s->barrier &&
		       pthread_cond_timedwait(&s->cv, &s->mu, &until) == 0)
			;
		s->puts_in_flight--;
		fail = s->fail_digest[0] && !strcmp(s->fail_digest, digest);
		if (!fail)
			stub_add(s, repo, digest);
		pthread_mutex_unlock(&s->mu);
		if (fail) {
			const char *b = "{\"errors\":[{\"code\":\"BLOB_UPLOAD_"
					"INVALID\",\"message\":\"refused\"}]}";
			stub_send(fd, 500, NULL, (long long)strlen(b), b);
		} else {
			stub_send(fd, 201, NULL, 0, NULL);
		}
		return;
	}
	pthread_mutex_unlock(&s->mu);
	if (!strcmp(method, "PUT") && strstr(path, "/manifests/"))
		stub_send(fd, 201, NULL, 0, NULL);
	else if (!strcmp(path, "/v2/") || !strcmp(path, "/v2"))
		stub_send(fd, 200, NULL, 2, "{}");
	else
		stub_send(fd, 404, NULL, 0, NULL);
}

struct stub_conn {
	struct stub *s;
	int fd;
};

static FIX_UNUSED void *stub_serve(void *arg)
{
	struct stub_conn *sc = arg;
	struct stub *s = sc->s;
	int fd = sc->fd;
	char buf[16384];
	size_t have = 0;

	free(sc);
	for (;;) {
		char method[16], target[4096], *end, *cl;
		long long len = 0;
		ssize_t got;
		size_t head;

		while (!(end = memmem(buf, have, "\r\n\r\n", 4))) {
			if (have == sizeof(buf))
				return NULL;
			got = read(fd, buf + have, sizeof(buf) - have);
			if (got <= 0)
				return NULL;
			have += (size_t)got;
		}
		head = (size_t)(end - buf) + 4;
		buf[head - 2] = '\0';
		if (sscanf(buf, "%15s %4095s", method, target) != 2)
			return NULL;
		cl = strcasestr(buf, "\r\ncontent-length:");
		if (cl)
			len = strtoll(cl + 17, NULL, 10);
		/* the body: counted and dropped */
		memmove(buf, buf + head, have - head);
		have -= head;
		while (len > 0) {
			if (have) {
				size_t take =
				    (size_t)len < have ? (size_t)len : have;
				memmove(buf, buf + take, have - take);
				have -= take;
				len -= (long long)take;
				continue;
			}
			got = read(fd, buf, sizeof(buf));
			if (got <= 0)
				return NULL;
			have = (size_t)got;
		}
		stub_answer(s, fd, method, target);
	}
}

static FIX_UNUSED void *stub_accept(void *arg)
{
	struct stub *s = arg;

	for (;;) {
		int fd = accept(s->lfd, NULL, NULL);
		struct stub_conn *sc;

		if (fd < 0)
			return NULL;
		pthread_mutex_lock(&s->mu);
		if (s->stop || s->n_conns == STUB_CONNS ||
		    !(sc = malloc(sizeof(*sc)))) {
			pthread_mutex_unlock(&s->mu);
			close(fd);
			continue;
		}
		sc->s = s;
		sc->fd = fd;
		s->fds[s->n_conns] = fd;
		if (pthread_create(&s->threads[s->n_conns], NULL, stub_serve,
				   sc)) {
			free(sc);
			close(fd);
		} else {
			s->n_conns++;
		}
		pthread_mutex_unlock(&s->mu);
	}
}

static FIX_UNUSED void stub_start(struct stub *s)
{
	struct sockaddr_in a;
	socklen_t alen = sizeof(a);

	memset(s, 0, sizeof(*s));
	pthread_mutex_init(&s->mu, NULL);
	pthread_cond_init(&s->cv, NULL);
	s->lfd = socket(AF_INET, SOCK_STREAM, 0);
	cr_assert(s->lfd >= 0);
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	cr_assert_eq(bind(s->lfd, (struct sockaddr *)&a, sizeof(a)), 0);
	cr_assert_eq(listen(s->lfd, 64), 0);
	cr_assert_eq(getsockname(s->lfd, (struct sockaddr *)&a, &alen), 0);
	s->port = ntohs(a.sin_port);
	snprintf(s->host, sizeof(s->host), "127.0.0.1:%u", s->port);
	cr_assert_eq(pthread_create(&s->acceptor, NULL, stub_accept, s), 0);
}

static FIX_UNUSED void stub_stop(struct stub *s)
{
	pthread_mutex_lock(&s->mu);
	s->stop = 1;
	pthread_cond_broadcast(&s->cv);
	for (int i = 0; i < s->n_conns; i++)
		shutdown(s->fds[i], SHUT_RDWR);
	pthread_mutex_unlock(&s->mu);
	shutdown(s->lfd, SHUT_RDWR);
	pthread_join(s->acceptor, NULL);
	close(s->lfd);
	for (int i = 0; i < s->n_conns; i++) {
		pthread_join(s->threads[i], NULL);
		close(s->fds[i]);
	}
	pthread_mutex_destroy(&s->mu);
	pthread_cond_destroy(&s->cv);
}

/* Index of the first logged request containing all of a and b (b may be
 * NULL) at or after from; -1 when none. */
static FIX_UNUSED int stub_find(const struct stub *s, int from, const char *a,
				const char *b)
{
	for (int i = from < 0 ? 0 : from; i < s->n_log; i++)
		if (strstr(s->log[i], a) && (!b || strstr(s->log[i], b)))
			return i;
	return -1;
}

/* Index of the last such request; -1 when none. */
static FIX_UNUSED int stub_last(const struct stub *s, const char *a,
				const char *b)
{
	int last = -1;

	for (int i = 0; i < s->n_log; i++)
		if (strstr(s->log[i], a) && (!b || strstr(s->log[i], b)))
			last = i;
	return last;
}

static FIX_UNUSED int stub_count(const struct stub *s, const char *a,
				 const char *b)
{
	int n = 0;

	for (int i = 0; i < s->n_log; i++)
		if (strstr(s->log[i], a) && (!b || strstr(s->log[i], b)))
			n++;
	return n;
}

#endif
