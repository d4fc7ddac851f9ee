/* The S3 backend (backend.h): the filesystem layout of store.h as keys
 * under the bucket's prefix (s3client.h does the requests).
 *
 * Blobs are staged in a local spool directory ($OCIMIRROR_SPOOL, else
 * $TMPDIR, else /var/tmp) and put under blobs/<alg>/<hex> only once the
 * writer verified them, with the digest's hex as x-amz-content-sha256 for
 * sha256 blobs, so the object store checks what arrived too. Records are
 * small objects, each PUT atomic.
 *
 * The writer lock is a lease object "lock": {"owner":"HOST:PID",
 * "expires":EPOCH}. RGW 16 honours PUT If-None-Match: * and PUT If-Match
 * (atomically) but ignores If-Match on DELETE, so a lease is never
 * deleted: it is created with If-None-Match: *, renewed, taken over once
 * expired and released (expires 0) each with a PUT If-Match the ETag
 * last seen, so that of two writers racing for it exactly one wins. The
 * lease is renewed by a thread every lease/3 seconds (a failed renewal
 * after a second); a renewal that finds the lease taken says so on
 * stderr once, and the writes of this backend then fail (ERR_CONFLICT)
 * until it is unlocked. So do they once the last renewal that succeeded
 * was sent lease - lease/6 (at least 1 s) ago: by then another writer
 * may have taken the lease over.
 *
 * Upload sessions (shared between serve replicas): uploads/<id>/info
 * {"repo":...,"offset":N,"parts":[NAME...]} and the bytes as part
 * objects uploads/<id>/NAME, NAME the part's offset (20 digits), '-' and
 * the nonce of the claim it was put under. An append first claims the
 * range in info ("pending", "by" the nonce, with If-Match), then puts its
 * part, then moves the offset and adds the part's name (If-Match again):
 * two replicas appending at once conflict before either writes a part,
 * and a late part of a replica whose claim was taken over is never read
 * (only parts info names are). A claim older than CLAIM_STALE seconds
 * (its replica died) may be claimed over; a failed part PUT drops its
 * claim. Sweep forgets sessions (and aborts multipart uploads) idle for
 * the store's stale= seconds (default a day) at least, whatever gc's
 * grace: serve replicas use them without the store lock. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <signal.h>
#include <unistd.h>

#include "mirror/store/backend.h"
#include "mirror/store/fsutil.h"
#include "mirror/store/s3client.h"
#include "oci/ref.h"

#define KEY_MAX 1024
#define LEASE_MAX 4096
#define INFO_MAX (1 << 20) /* a session's info: its parts' names */
#define CLAIM_STALE 300
#define NAMES_MAX 1000000 /* a listing kept in memory, at most */
#define IMMEDIATE_RETRIES 8

struct s3be {
	struct s3c *c;
	char name[600]; /* s3://BUCKET[/PREFIX], for messages */
	char spool[PATH_MAX];
	unsigned lease;
	unsigned stale; /* sweep: idle this long at least */

	pthread_mutex_t mu; /* the lease's state below */
	pthread_cond_t cv;
	int locked, stop, lost, thread, held_back;
	struct timespec sent; /* before the last lease PUT that succeeded */
	pthread_t renewer;
	char etag[128];
	char owner[300];
	char nonce[40]; /* this lease's, so that its body is ours alone */
};

/* A key of checked names: no empty, "." or ".." component, no control
 * bytes, bounded. */
static int key_ok(const char *k)
{
	const char *p = k;
	size_t n = strlen(k);

	if (!n || n >= KEY_MAX)
		return 0;
	for (const char *c = k; *c; c++)
		if ((unsigned char)*c < 0x20 || *c == 0x7f || *c == '\\')
			return 0;
	while (*p) {
		const char *e = strchr(p, '/');
		size_t l = e ? (size_t)(e - p) : strlen(p);

		if (!l || (l == 1 && p[0] == '.') ||
		    (l == 2 && p[0] == '.' && p[1] == '.'))
			return 0;
		if (!e)
			break;
		p = e + 1;
		if (!*p)
			return 0; /* a trailing '/' */
	}
	return 1;
}

static int bad_key(const struct s3be *b, const char *k, struct err *err)
{
	char shown[300];

	err_shown(shown, sizeof(shown), k, strlen(k));
	return err_set(err, ERR_INVALID, "%s: invalid key \"%s\"", b->name,
		       shown);
}

/* printf into key (KEY_MAX) and check it. */
static int keyf(char *key, const struct s3be *b, struct err *err,
		const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static int keyf(char *key, const struct s3be *b, struct err *err,
		const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(key, KEY_MAX, fmt, ap);
	va_end(ap);
	if (n < 0 || n >= KEY_MAX) {
		key[0] = '\0';
		return err_set(err, ERR_INVALID, "%s: key too long", b->name);
	}
	return key_ok(key) ? 0 : bad_key(b, key, err);
}

static int blob_key(char *key, const struct s3be *b, const struct oci_digest *d,
		    struct err *err)
{
	return keyf(key, b, err, "blobs/%s/%s", oci_digest_alg_name(d->alg),
		    oci_digest_hex(d));
}

static int record_key(char *key, const struct s3be *b, const char *repo,
		      const char *rkey, struct err *err)
{
	if (!oci_repo_name_valid(repo))
		return err_set(err, ERR_INVALID,
			       "%s: invalid repository name \"%.300s\"",
			       b->name, repo);
	return keyf(key, b, err, "repositories/%s/%s", repo, rkey);
}

static int id_ok(const char *id)
{
	size_t n = strlen(id);

	if (!n || n > 64)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!((id[i] >= 'a' && id[i] <= 'z') ||
		      (id[i] >= 'A' && id[i] <= 'Z') ||
		      (id[i] >= '0' && id[i] <= '9') || id[i] == '-'))
			return 0;
	return 1;
}

/* How long a lease PUT holds for this writer, in ms: the lease less a
 * margin for the clocks and the request's time, lease/6, at least 1 s
 * (at most half the lease). */
static int64_t lease_usable_ms(const struct s3be *b)
{
	int64_t ms = (int64_t)b->lease * 1000, margin = ms / 6;

	if (margin < 1000)
		margin = 1000 < ms / 2 ? 1000 : ms / 2;
	return ms - margin;
}

static struct timespec mono_now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t;
}

/* The writes of a process whose lease was lost, or ran out (its last
 * renewal was sent more than lease - margin ago: the lease may have
 * expired on another writer's clock already), fail. */
static int lease_check(struct s3be *b, struct err *err)
{
	struct timespec now = mono_now();
	int64_t ago_ms = 0;
	long ago = 0;
	int lost, out = 0;

	pthread_mutex_lock(&b->mu);
	lost = b->locked && b->lost;
	if (b->locked && !lost) {
		ago_ms = (int64_t)(now.tv_sec - b->sent.tv_sec) * 1000 +
			 (now.tv_nsec - b->sent.tv_nsec) / 1000000;
		out = ago_ms >= lease_usable_ms(b);
		ago = (long)(ago_ms / 1000);
	}
	pthread_mutex_unlock(&b->mu);
	if (lost)
		return err_set(err, ERR_CONFLICT,
			       "%s: the writer lease was lost (another writer "
			       "took it); not writing",
			       b->name);
	if (out)
		return err_set(err, ERR_CONFLICT,
			       "store %s: the writer lease ran out (last "
			       "renewed %ld s ago); not writing",
			       b->name, ago);
	return 0;
}

static int s3_open(void **be_out, const char *root, int create, struct err *err)
{
	struct s3_config cfg;
	struct s3be *b;
	const char *sp;
	int rc;

	*be_out = NULL;
	rc = s3_config_parse(&cfg, root, err);
	if (rc)
		return rc;
	b = calloc(1, sizeof(*b));
	if (!b)
		return err_set(err, ERR_FAIL, "out of memory");
	snprintf(b->name, sizeof(b->name), "s3://%s%s%s", cfg.bucket,
		 cfg.prefix[0] ? "/" : "", cfg.prefix);
	sp = getenv("OCIMIRROR_SPOOL");
	if (!sp || !*sp)
		sp = getenv("TMPDIR");
	if (!sp || !*sp)
		sp = "/var/tmp";
	snprintf(b->spool, sizeof(b->spool), "%s", sp);
	b->lease = cfg.lease ? cfg.lease : 30;
	b->stale = cfg.stale;
	pthread_mutex_init(&b->mu, NULL);
	{
		pthread_condattr_t a;

		pthread_condattr_init(&a);
		pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
		pthread_cond_init(&b->cv, &a);
		pthread_condattr_destroy(&a);
	}
	rc = s3c_open(&b->c, &cfg, err);
	if (!rc) {
		rc = s3c_bucket_exists(b->c, err);
		if (rc == 0 && !create)
			rc = err_set(err, ERR_NOT_FOUND,
				     "store %s: the bucket does not exist",
				     b->name);
		else if (rc == 0)
			rc = s3c_bucket_create(b->c, err);
		else if (rc == 1)
			rc = 0;
	}
	if (rc) {
		if (b->c)
			s3c_close(b->c);
		pthread_mutex_destroy(&b->mu);
		pthread_cond_destroy(&b->cv);
		free(b);
		return rc;
	}
	*be_out = b;
	return 0;
}

/* ---- the lease ---- */

static void lease_body(char *out, size_t n, const struct s3be *b,
		       time_t expires)
{
	json_t *j = json_pack("{s:s,s:I,s:s}", "owner", b->owner, "expires",
			      (json_int_t)expires, "nonce", b->nonce);
	char *t = j ? json_dumps(j, JSON_COMPACT) : NULL;

	snprintf(out, n, "%s", t ? t : "{}");
	free(t);
	json_decref(j);
}

static void nonce_make(char *out, size_t n)
{
	unsigned char r[16];
	int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
	struct timespec ts;
	size_t k = 0;

	clock_gettime(CLOCK_REALTIME, &ts);
	if (fd < 0 || read(fd, r, sizeof(r)) != (ssize_t)sizeof(r)) {
		/* no randomness: time, address and pid are unique enough
		 * within one host */
		snprintf(out, n, "%lx%lx%lx", (unsigned long)ts.tv_nsec,
			 (unsigned long)(uintptr_t)out,
			 (unsigned long)getpid());
	} else {
		for (size_t i = 0; i < sizeof(r) && k + 3 <= n; i++)
			k += (size_t)snprintf(out + k, n - k, "%02x", r[i]);
	}
	if (fd >= 0)
		close(fd);
}

static void lease_parse(char *owner, size_t on, time_t *expires,
			const char *text, size_t len)
{
	json_t *j = json_loadb(text, len, 0, NULL);
	json_t *o = json_object_get(j, "owner");
	json_t *e = json_object_get(j, "expires");
	const char *os = json_is_string(o) ? json_string_value(o) : "?";

	err_shown(owner, on, os, strlen(os));
	/* an unreadable lease counts as expired: it is taken over (with
	 * If-Match, so by one writer) rather than held forever */
	*expires = json_is_integer(e) ? (time_t)json_integer_value(e) : 0;
	json_decref(j);
}

/* A conditional PUT of a small object (the lease, a session's info). A
 * 412 may answer the client's retry of our own PUT whose answer was lost:
 * an object holding exactly our body (each carries a nonce or is tied to
 * a claim only we hold) is ours. etag_out (128 bytes) may be NULL. */
static int put_checked(struct s3be *b, const char *key, const char *body,
		       const struct s3_cond *cond, char *etag_out,
		       struct err *err)
{
	struct s3_head h;
	char *text = NULL;
	size_t len;
	int rc = s3c_put(b->c, key, body, strlen(body), cond, etag_out, err);

	if (rc != ERR_CONFLICT)
		return rc;
	if (!s3c_get(&text, &len, &h, b->c, key, LEASE_MAX, NULL) &&
	    len == strlen(body) && !memcmp(text, body, len)) {
		if (etag_out)
			snprintf(etag_out, 128, "%s", h.etag);
		rc = 0;
	}
	free(text);
	return rc;
}

static int lease_put(struct s3be *b, const char *body,
		     const struct s3_cond *cond, char *etag_out,
		     struct err *err)
{
	return put_checked(b, "lock", body, cond, etag_out, err);
}

static void *renew_main(void *arg)
{
	struct s3be *b = arg;
	struct timespec until;
	/* a third of the lease, and twice within its usable part */
	int64_t period = (int64_t)b->lease * 1000 / 3, wait;
	int failing = 0; /* said so once */

	if (period > lease_usable_ms(b) / 2)
		period = lease_usable_ms(b) / 2;
	wait = period;

	pthread_mutex_lock(&b->mu);
	while (!b->stop) {
		char body[512], etag[128], old[128];
		struct s3_cond cond = {0};
		struct timespec sent;
		struct err e;
		int rc;

		clock_gettime(CLOCK_MONOTONIC, &until);
		until.tv_sec += (time_t)(wait / 1000);
		until.tv_nsec += (long)(wait % 1000) * 1000000;
		if (until.tv_nsec >= 1000000000) {
			until.tv_sec++;
			until.tv_nsec -= 1000000000;
		}
		while (!b->stop &&
		       pthread_cond_timedwait(&b->cv, &b->mu, &until) == 0)
			;
		if (b->stop)
			break;
		if (b->held_back) {
			/* a test's: as if every renewal failed */
			wait = period < 1000 ? period : 1000;
			continue;
		}
		snprintf(old, sizeof(old), "%s", b->etag);
		lease_body(body, sizeof(body), b,
			   time(NULL) + (time_t)b->lease);
		pthread_mutex_unlock(&b->mu);
		cond.if_match = old;
		sent = mono_now();
		rc = lease_put(b, body, &cond, etag, &e);
		pthread_mutex_lock(&b->mu);
		wait = period;
		if (!rc) {
			snprintf(b->etag, sizeof(b->etag), "%s", etag);
			b->sent = sent;
			failing = 0;
		} else if (rc == ERR_CONFLICT || rc == ERR_NOT_FOUND) {
			b->lost = 1;
			fprintf(stderr,
				"ocimirror: store %s: the writer lease was "
				"lost (taken or removed by another writer); "
				"this process writes no more\n",
				b->name);
			break;
		} else {
			/* soon again: the lease runs out meanwhile */
			wait = period < 1000 ? period : 1000;
			if (!failing++)
				fprintf(stderr,
					"ocimirror: store %s: renewing the "
					"writer lease: %s (trying again each "
					"second)\n",
					b->name, e.msg);
		}
	}
	pthread_mutex_unlock(&b->mu);
	return NULL;
}

static void utc(char *out, size_t n, time_t t)
{
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(out, n, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* One try: 0 held, ERR_CONFLICT (msg set) held by another, else an
 * error. */
static int lease_try(struct s3be *b, struct err *err)
{
	char body[512], etag[128] = "", *text = NULL, owner[300], when[64];
	struct s3_cond cond = {.if_none_match = "*"};
	struct s3_head head;
	struct timespec sent;
	time_t expires;
	size_t len;
	int rc;

	lease_body(body, sizeof(body), b, time(NULL) + (time_t)b->lease);
	sent = mono_now();
	rc = lease_put(b, body, &cond, etag, err);
	if (rc != ERR_CONFLICT)
		goto done;
	rc = s3c_get(&text, &len, &head, b->c, "lock", LEASE_MAX, err);
	if (rc == ERR_NOT_FOUND || rc == ERR_TOO_LARGE) {
		/* released meanwhile; or not a lease of ours: try again */
		free(text);
		return rc == ERR_NOT_FOUND ? 1 : rc;
	}
	if (rc)
		return rc;
	lease_parse(owner, sizeof(owner), &expires, text, len);
	free(text);
	if (expires >= time(NULL)) {
		utc(when, sizeof(when), expires);
		return err_set(err, ERR_CONFLICT,
			       "store %s is locked by another writer (%s, "
			       "lease until %s)",
			       b->name, owner, when);
	}
	/* expired: take it over, by one writer only */
	cond.if_none_match = NULL;
	cond.if_match = head.etag;
	sent = mono_now();
	rc = lease_put(b, body, &cond, etag, err);
	if (rc == ERR_CONFLICT || rc == ERR_NOT_FOUND)
		return 1; /* another writer was quicker: look again */
done:
	if (!rc) {
		pthread_mutex_lock(&b->mu);
		snprintf(b->etag, sizeof(b->etag), "%s", etag);
		b->sent = sent;
		pthread_mutex_unlock(&b->mu);
	}
	return rc;
}

static void s3_unlock(void *be);

static int s3_lock(void *be, int wait, struct err *err)
{
	struct s3be *b = be;
	char host[256] = "";
	int rc, quick = 0;

	pthread_mutex_lock(&b->mu);
	rc = b->locked;
	pthread_mutex_unlock(&b->mu);
	if (rc)
		return 0;
	gethostname(host, sizeof(host) - 1);
	snprintf(b->owner, sizeof(b->owner), "%s:%ld", host[0] ? host : "?",
		 (long)getpid());
	nonce_make(b->nonce, sizeof(b->nonce));
	/* wait=1: as long as it takes, as flock does; each round a second
	 * apart, or at once a few times when the lease just moved */
	for (;;) {
		rc = lease_try(b, err);
		if (rc == 1 && ++quick < IMMEDIATE_RETRIES)
			continue;
		if (rc == 1 && !wait)
			rc = err_set(err, ERR_CONFLICT,
				     "store %s is locked by another writer "
				     "(the lease keeps moving)",
				     b->name);
		if (rc == 0 || (rc < 0 && rc != ERR_CONFLICT) || !wait)
			break;
		quick = 0;
		sleep(1);
	}
	if (rc)
		return rc;
	pthread_mutex_lock(&b->mu);
	b->locked = 1;
	b->lost = 0;
	b->stop = 0;
	b->held_back = 0;
	b->thread = !pthread_create(&b->renewer, NULL, renew_main, b);
	rc = b->thread;
	pthread_mutex_unlock(&b->mu);
	if (!rc) {
		/* unrenewed, the lease would run out under the writes */
		s3_unlock(b);
		return err_set(err, ERR_FAIL,
			       "store %s: cannot start the writer lease's "
			       "renewal thread",
			       b->name);
	}
	return 0;
}

/* For tests only (tests/s3): stop renewing the lease, as when every
 * renewal fails, without giving it up. */
void s3_store_test_hold_back_renewals(void *be);
void s3_store_test_hold_back_renewals(void *be)
{
	struct s3be *b = be;

	pthread_mutex_lock(&b->mu);
	b->held_back = 1;
	pthread_mutex_unlock(&b->mu);
}

static void s3_unlock(void *be)
{
	struct s3be *b = be;
	struct s3_cond cond = {0};
	char body[512], etag[128];
	int lost;

	pthread_mutex_lock(&b->mu);
	if (!b->locked) {
		pthread_mutex_unlock(&b->mu);
		return;
	}
	b->stop = 1;
	pthread_cond_broadcast(&b->cv);
	pthread_mutex_unlock(&b->mu);
	if (b->thread)
		pthread_join(b->renewer, NULL);
	b->thread = 0;
	lost = b->lost;
	if (!lost) {
		/* released, not deleted: RGW ignores If-Match on DELETE, and
		 * a delete could remove the lease another writer just took */
		lease_body(body, sizeof(body), b, 0);
		cond.if_match = b->etag;
		s3c_put(b->c, "lock", body, strlen(body), &cond, etag, NULL);
	}
	pthread_mutex_lock(&b->mu);
	b->locked = 0;
	b->lost = 0;
	b->etag[0] = '\0';
	pthread_mutex_unlock(&b->mu);
}

static void s3_close(void *be)
{
	struct s3be *b = be;

	s3_unlock(b);
	s3c_close(b->c);
	pthread_mutex_destroy(&b->mu);
	pthread_cond_destroy(&b->cv);
	free(b);
}

/* ---- blobs ---- */

static int s3_blob_stat(int64_t *size_out, void *be, const struct oci_digest *d)
{
	struct s3be *b = be;
	char key[KEY_MAX];
	struct s3_head h;

	int rc;

	if (blob_key(key, b, d, NULL))
		return 0;
	rc = s3c_head(&h, b->c, key, NULL);
	if (rc == ERR_NOT_FOUND)
		return 0;
	if (rc)
		return rc < 0 ? rc : ERR_FAIL;
	if (size_out)
		*size_out = h.size;
	return 1;
}

/* An unlinked read-write temp file in the spool directory. */
static int spool_anon(const struct s3be *b, struct err *err)
{
	char *p;
	int fd;

#ifdef O_TMPFILE
	fd = open(b->spool, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (fd >= 0)
		return fd;
#endif
	p = fsutil_pathf("%s/ocimirror-XXXXXX", b->spool);
	if (!p)
		return err_set(err, ERR_FAIL, "out of memory");
	fd = mkostemp(p, O_CLOEXEC);
	if (fd < 0) {
		err_set(err, ERR_FAIL, "create a temp file in %s: %s", b->spool,
			strerror(errno));
		free(p);
		return ERR_FAIL;
	}
	unlink(p);
	free(p);
	return fd;
}

static int s3_blob_open(int *fd_out, int64_t *size_out, void *be,
			const struct oci_digest *d, struct err *err)
{
	struct s3be *b = be;
	char key[KEY_MAX];
	int64_t size = 0;
	int fd, rc;

	*fd_out = -1;
	rc = blob_key(key, b, d, err);
	if (rc)
		return rc;
	fd = spool_anon(b, err);
	if (fd < 0)
		return fd;
	rc = s3c_get_to_fd(&size, b->c, key, fd, err);
	if (!rc && lseek(fd, 0, SEEK_SET) < 0)
		rc = err_set(err, ERR_FAIL, "blob %s: seek: %s", d->str,
			     strerror(errno));
	if (rc) {
		close(fd);
		if (rc == ERR_NOT_FOUND)
			err_set(err, rc, "blob %s: not in %s", d->str, b->name);
		return rc;
	}
	*fd_out = fd;
	*size_out = size;
	return 0;
}

static int s3_blob_read_at(size_t *got_out, void *be,
			   const struct oci_digest *d, uint64_t off, void *buf,
			   size_t len, struct err *err)
{
	struct s3be *b = be;
	char key[KEY_MAX];
	int rc;

	*got_out = 0;
	rc = blob_key(key, b, d, err);
	if (!rc)
		rc = s3c_get_range(got_out, b->c, key, off, buf, len, err);
	/* ERR_NOT_FOUND only when S3 said so (s3client.h); any other
	 * failure stays ERR_FAIL or ERR_TIMEOUT */
	if (rc == ERR_NOT_FOUND)
		err_set(err, rc, "blob %s: not in %s", d->str, b->name);
	return rc;
}

/* ERR_NOT_FOUND when absent (S3 says 204 either way). */
static int remove_key(struct s3be *b, const char *key, struct err *err)
{
	struct s3_head h;
	int rc = lease_check(b, err);

	if (!rc)
		rc = s3c_head(&h, b->c, key, err);
	if (!rc)
		rc = s3c_delete(b->c, key, NULL, err);
	return rc;
}

static int s3_blob_delete(void *be, const struct oci_digest *d, struct err *err)
{
	char key[KEY_MAX];
	int rc = blob_key(key, be, d, err);

	return rc ? rc : remove_key(be, key, err);
}

static void s3_blob_touch(void *be, const struct oci_digest *d)
{
	(void)be;
	(void)d;
}

struct blobs_ctx {
	const char *alg;
	store_blob_fn cb;
	void *ctx;
	int stop;
};

static int blobs_one(void *ctx, const char *name, int64_t size, time_t mtime)
{
	struct blobs_ctx *x = ctx;
	struct oci_digest d;

	(void)mtime;
	if (size < 0 || strchr(name, '/') ||
	    fsutil_name_digest(&d, x->alg, name))
		return 0;
	x->stop = x->cb(x->ctx, &d, size);
	return x->stop;
}

static int s3_blobs_each(void *be, store_blob_fn cb, void *ctx, struct err *err)
{
	static const char *const algs[] = {"sha256", "sha512"};
	struct s3be *b = be;
	int failed = 0;
	struct blobs_ctx x = {NULL, cb, ctx, 0};

	for (size_t a = 0; a < 2 && !x.stop; a++) {
		char prefix[64];
		struct err e;

		x.alg = algs[a];
		snprintf(prefix, sizeof(prefix), "blobs/%s/", algs[a]);
		/* S3 lists keys sorted: the digests come in order */
		if (s3c_list(b->c, prefix, NULL, blobs_one, &x, &e) &&
		    !failed++)
			err_set(err, ERR_FAIL, "%s", e.msg);
	}
	return failed ? ERR_FAIL : 0;
}

/* ---- staging ---- */

static int s3_stage_open(int *fd_out, char **token_out, void *be,
			 struct err *err)
{
	struct s3be *b = be;
	/* the writer's pid in the name: the spool may be shared by other
	 * stores' writers (and serve replicas push without the lock), so
	 * gc removes only files of processes that are gone */
	char *p = fsutil_pathf("%s/ocimirror-stage-%ld-XXXXXX", b->spool,
			       (long)getpid());
	int fd;

	*fd_out = -1;
	*token_out = NULL;
	if (!p)
		return err_set(err, ERR_FAIL, "out of memory");
	fd = mkostemp(p, O_CLOEXEC);
	if (fd < 0) {
		int rc = err_set(err, ERR_FAIL,
				 "create a temp file in %s (the spool of %s): "
				 "%s",
				 b->spool, b->name, strerror(errno));
		free(p);
		return rc;
	}
	*fd_out = fd;
	*token_out = p;
	return 0;
}

static int s3_stage_place(void *be, const char *token,
			  const struct oci_digest *d, struct err *err)
{
	struct s3be *b = be;
	char key[KEY_MAX];
	struct stat st;
	int fd, rc;

	rc = blob_key(key, b, d, err);
	if (!rc)
		rc = lease_check(b, err);
	if (rc)
		return rc;
	fd = open(token, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st)) {
		rc = err_set(err, ERR_FAIL, "open %s: %s", token,
			     strerror(errno));
		if (fd >= 0)
			close(fd);
		return rc;
	}
	rc = s3c_put_fd(b->c, key, fd, 0, (uint64_t)st.st_size,
			d->alg == OCI_SHA256 ? oci_digest_hex(d) : NULL, err);
	close(fd);
	if (!rc)
		unlink(token);
	return rc;
}

static void s3_stage_discard(void *be, const char *token)
{
	(void)be;
	unlink(token);
}

static int s3_stage_reopen(int *fd_out, void *be, const char *token,
			   struct err *err)
{
	(void)be;
	*fd_out = open(token, O_RDWR | O_CLOEXEC);
	if (*fd_out < 0)
		return err_set(err, errno == ENOENT ? ERR_NOT_FOUND : ERR_FAIL,
			       "reopen %s: %s", token, strerror(errno));
	return 0;
}

/* ---- records ---- */

static int put_text(struct s3be *b, const char *key, const char *text,
		    struct err *err)
{
	int rc = lease_check(b, err);

	return rc ? rc
		  : s3c_put(b->c, key, text, strlen(text), NULL, NULL, err);
}

static int s3_record_put(void *be, const char *repo, const char *key,
			 const char *text, struct err *err)
{
	char k[KEY_MAX];
	int rc = record_key(k, be, repo, key, err);

	return rc ? rc : put_text(be, k, text, err);
}

static int s3_record_get(char **out, size_t *len_out, void *be,
			 const char *repo, const char *key, size_t max,
			 struct err *err)
{
	struct s3be *b = be;
	char k[KEY_MAX];
	int rc;

	*out = NULL;
	rc = record_key(k, b, repo, key, err);
	if (!rc)
		rc = s3c_get(out, len_out, NULL, b->c, k, max, err);
	return rc;
}

static int s3_record_delete(void *be, const char *repo, const char *key,
			    struct err *err)
{
	char k[KEY_MAX];
	int rc = record_key(k, be, repo, key, err);

	return rc ? rc : remove_key(be, k, err);
}

static int any_one(void *ctx, const char *name, int64_t size, time_t mtime)
{
	(void)name;
	(void)size;
	(void)mtime;
	*(int *)ctx = 1;
	return 1;
}

static int exists_at(struct s3be *b, const char *key)
{
	char dir[KEY_MAX + 1];
	struct s3_head h;
	int found = 0, rc = s3c_head(&h, b->c, key, NULL);

	/* a failed request counts as "no record" (never as one there):
	 * callers then write it, or show nothing */
	if (!rc)
		return 1;
	if (rc != ERR_NOT_FOUND)
		return 0;
	snprintf(dir, sizeof(dir), "%s/", key);
	if (s3c_list(b->c, dir, "/", any_one, &found, NULL))
		return 0;
	return found;
}

static int s3_record_exists(void *be, const char *repo, const char *key)
{
	char k[KEY_MAX];

	if (record_key(k, be, repo, key, NULL))
		return 0;
	return exists_at(be, k);
}

struct names {
	char **v;
	size_t n, cap;
	int oom;
};

static int names_add(struct names *x, const char *s, size_t len)
{
	char *d;

	if (x->n >= NAMES_MAX) {
		x->oom = 1;
		return 1;
	}
	if (x->n == x->cap) {
		size_t cap = x->cap ? x->cap * 2 : 16;
		char **v = realloc(x->v, cap * sizeof(*v));

		if (!v) {
			x->oom = 1;
			return 1;
		}
		x->v = v;
		x->cap = cap;
	}
	d = strndup(s, len);
	if (!d) {
		x->oom = 1;
		return 1;
	}
	x->v[x->n++] = d;
	return 0;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sort and drop repeats. */
static void names_unique(struct names *x)
{
	size_t k = 0;

	if (!x->n)
		return;
	qsort(x->v, x->n, sizeof(*x->v), cmp_str);
	for (size_t i = 0; i < x->n; i++) {
		if (k && !strcmp(x->v[k - 1], x->v[i]))
			free(x->v[i]);
		else
			x->v[k++] = x->v[i];
	}
	x->n = k;
}

static int level_one(void *ctx, const char *name, int64_t size, time_t mtime)
{
	size_t len = strlen(name);

	(void)size;
	(void)mtime;
	if (len && name[len - 1] == '/')
		len--;
	if (!len || name[0] == '.' || memchr(name, '/', len))
		return 0;
	return names_add(ctx, name, len);
}

/* The names one level under key (an absent key: none). */
static int list_level(char ***out, size_t *n_out, struct s3be *b,
		      const char *key, struct err *err)
{
	char dir[KEY_MAX + 1];
	struct names x = {0};
	int rc;

	*out = NULL;
	*n_out = 0;
	snprintf(dir, sizeof(dir), "%s/", key);
	rc = s3c_list(b->c, dir, "/", level_one, &x, err);
	if (!rc && x.oom)
		rc = err_set(err, ERR_FAIL, "%s: list %s: out of memory",
			     b->name, dir);
	if (rc) {
		fsutil_names_free(x.v, x.n);
		return rc;
	}
	names_unique(&x);
	*out = x.v;
	*n_out = x.n;
	return 0;
}

static int s3_record_list(char ***out, size_t *n_out, void *be,
			  const char *repo, const char *key, struct err *err)
{
	char k[KEY_MAX];
	int rc;

	*out = NULL;
	*n_out = 0;
	rc = record_key(k, be, repo, key, err);
	return rc ? rc : list_level(out, n_out, be, k, err);
}

static int is_record_dir(const char *name, size_t len)
{
	static const char *const dirs[] = {"_tags", "_manifests", "_blobs",
					   "_referrers"};

	for (size_t i = 0; i < 4; i++)
		if (strlen(dirs[i]) == len && !memcmp(dirs[i], name, len))
			return 1;
	return 0;
}

struct repos_ctx {
	struct names seen;
	struct err bad;
	int failed;
};

/* A key under repositories/: the repository is the path before its first
 * component that starts with '_' or '.', when that one is a record
 * folder (fs.c's walk descends into no such folder). */
static int repos_one(void *ctx, const char *name, int64_t size, time_t mtime)
{
	struct repos_ctx *x = ctx;
	const char *p = name;
	int depth = 0;

	(void)size;
	(void)mtime;
	while (*p) {
		const char *e = strchr(p, '/');
		size_t l;

		if (!e)
			return 0; /* the last component: an object, no folder */
		l = (size_t)(e - p);
		if (p[0] == '_' || p[0] == '.') {
			size_t rl = p > name ? (size_t)(p - name - 1) : 0;
			char repo[OCI_REPO_MAX + 1];

			if (!is_record_dir(p, l) || rl > OCI_REPO_MAX)
				return 0;
			memcpy(repo, name, rl);
			repo[rl] = '\0';
			if (x->seen.n &&
			    !strcmp(x->seen.v[x->seen.n - 1], repo))
				return 0;
			if (!oci_repo_name_valid(repo)) {
				if (!x->failed++)
					err_set(&x->bad, ERR_INVALID,
						"repositories/%.600s: not a "
						"valid repository name; not "
						"visited",
						repo);
				return 0;
			}
			return names_add(&x->seen, repo, rl);
		}
		if (++depth > 130)
			return 0;
		p = e + 1;
	}
	return 0;
}

static int s3_repos_each(void *be, int (*cb)(void *ctx, const char *repo),
			 void *ctx, struct err *err)
{
	struct s3be *b = be;
	struct repos_ctx x = {0};
	int rc = 0;

	if (s3c_list(b->c, "repositories/", NULL, repos_one, &x, &x.bad))
		x.failed++;
	if (x.seen.oom && !x.failed++)
		err_set(&x.bad, ERR_FAIL,
			"%s: list repositories/: out of memory", b->name);
	names_unique(&x.seen);
	for (size_t i = 0; i < x.seen.n; i++)
		if (cb(ctx, x.seen.v[i]))
			break;
	fsutil_names_free(x.seen.v, x.seen.n);
	if (x.failed) {
		rc = x.bad.code ? x.bad.code : ERR_FAIL;
		err_set(err, rc, "%s", x.bad.msg);
	}
	return rc;
}

/* ---- store-wide state ---- */

static int s3_state_put(void *be, const char *key, const char *text,
			struct err *err)
{
	if (!key_ok(key))
		return bad_key(be, key, err);
	return put_text(be, key, text, err);
}

static int s3_state_get(char **out, size_t *len_out, void *be, const char *key,
			size_t max, struct err *err)
{
	struct s3be *b = be;

	*out = NULL;
	if (!key_ok(key))
		return bad_key(b, key, err);
	return s3c_get(out, len_out, NULL, b->c, key, max, err);
}

static int s3_state_delete(void *be, const char *key, struct err *err)
{
	if (!key_ok(key))
		return bad_key(be, key, err);
	return remove_key(be, key, err);
}

static int s3_state_list(char ***out, size_t *n_out, void *be, const char *key,
			 struct err *err)
{
	*out = NULL;
	*n_out = 0;
	if (!key_ok(key))
		return bad_key(be, key, err);
	return list_level(out, n_out, be, key, err);
}

static int s3_blob_url(char **out, void *be, const struct oci_digest *d,
		       unsigned ttl, struct err *err)
{
	struct s3be *b = be;
	char key[KEY_MAX];
	int rc;

	*out = NULL;
	rc = blob_key(key, b, d, err);
	return rc ? rc : s3c_presign_get(out, b->c, key, ttl, err);
}

/* ---- walk, remove, move, sweep ---- */

struct walk_ctx {
	const char *prefix;
	store_walk_fn cb;
	void *ctx;
};

static int walk_one(void *ctx, const char *name, int64_t size, time_t mtime)
{
	struct walk_ctx *x = ctx;
	char key[2 * KEY_MAX];

	if (!key_ok(name))
		return 0; /* not a key of this backend's */
	snprintf(key, sizeof(key), "%s%s", x->prefix, name);
	return x->cb(x->ctx, key, size < 0 ? 0 : size, (int64_t)mtime);
}

static int s3_walk(void *be, const char *prefix, store_walk_fn cb, void *ctx,
		   struct err *err)
{
	struct s3be *b = be;
	struct walk_ctx x = {prefix, cb, ctx};
	struct err e;
	int rc;

	/* "" or a key of checked names and a '/' */
	if (*prefix) {
		char k[KEY_MAX];
		size_t n = strlen(prefix);

		if (n >= KEY_MAX || prefix[n - 1] != '/')
			return bad_key(b, prefix, err);
		memcpy(k, prefix, n - 1);
		k[n - 1] = '\0';
		if (!key_ok(k))
			return bad_key(b, prefix, err);
	}
	rc = s3c_list(b->c, prefix, NULL, walk_one, &x, &e);
	if (rc)
		return err_set(err, ERR_FAIL, "%s", e.msg);
	return 0;
}

static int s3_remove(void *be, const char *key, struct err *err)
{
	if (!key_ok(key))
		return bad_key(be, key, err);
	return remove_key(be, key, err);
}

static int s3_move(void *be, const char *from, const char *to, struct err *err)
{
	struct s3be *b = be;
	int rc;

	if (!key_ok(from))
		return bad_key(b, from, err);
	if (!key_ok(to))
		return bad_key(b, to, err);
	rc = lease_check(b, err);
	if (!rc)
		rc = s3c_copy(b->c, from, to, err);
	if (!rc)
		rc = s3c_delete(b->c, from, NULL, err);
	return rc;
}

struct mpu {
	char key[KEY_MAX];
	char id[256];
	time_t when;
};

struct mpus {
	struct mpu *v;
	size_t n, cap;
	int64_t cutoff;
	int oom;
};

static int mpu_one(void *ctx, const char *key, const char *upload_id,
		   time_t initiated)
{
	struct mpus *x = ctx;

	if ((int64_t)initiated > x->cutoff)
		return 0;
	if (x->n >= NAMES_MAX) {
		x->oom = 1;
		return 1;
	}
	if (x->n == x->cap) {
		size_t cap = x->cap ? x->cap * 2 : 16;
		struct mpu *v = realloc(x->v, cap * sizeof(*v));

		if (!v) {
			x->oom = 1;
			return 1;
		}
		x->v = v;
		x->cap = cap;
	}
	snprintf(x->v[x->n].key, sizeof(x->v[x->n].key), "%s", key);
	snprintf(x->v[x->n].id, sizeof(x->v[x->n].id), "%s", upload_id);
	x->v[x->n].when = initiated;
	x->n++;
	return 0;
}

/* A session's newest object, by id (a listing of uploads/ is sorted, so
 * one session's keys are together). */
struct sessions {
	struct names ids;
	struct names stale;
	int64_t *mtime; /* of each stale one */
	int64_t newest, cutoff;
};

static void session_done(struct sessions *x)
{
	int64_t *v;

	if (!x->ids.n || x->newest > x->cutoff)
		return;
	v = realloc(x->mtime, (x->stale.n + 1) * sizeof(*v));
	if (!v)
		return;
	x->mtime = v;
	if (!names_add(&x->stale, x->ids.v[x->ids.n - 1],
		       strlen(x->ids.v[x->ids.n - 1])))
		x->mtime[x->stale.n - 1] = x->newest;
}

static int session_one(void *ctx, const char *name, int64_t size, time_t mtime)
{
	struct sessions *x = ctx;
	const char *slash = strchr(name, '/');
	size_t l = slash ? (size_t)(slash - name) : strlen(name);

	(void)size;
	if (!x->ids.n || strlen(x->ids.v[x->ids.n - 1]) != l ||
	    memcmp(x->ids.v[x->ids.n - 1], name, l)) {
		session_done(x);
		if (names_add(&x->ids, name, l))
			return 1;
		x->newest = 0;
	}
	if ((int64_t)mtime > x->newest)
		x->newest = mtime;
	return 0;
}

static int session_forget(struct s3be *b, const char *id, struct err *err);
static int session_ours(struct s3be *b, const char *id);

/* 1 when NAME ("<pid>-XXXXXX" after the prefix) is a staged file of a
 * process still running (a live writer's, whatever its age). */
static int stage_owner_alive(const char *rest)
{
	char *end;
	long pid;

	errno = 0;
	pid = strtol(rest, &end, 10);
	if (errno || end == rest || *end != '-' || pid <= 0)
		return 0; /* not ours to judge by pid: age alone */
	return !kill((pid_t)pid, 0) || errno == EPERM;
}

/* Staged files of this host's writers that a crash left in the spool:
 * "tmp/NAME". */
static int sweep_spool(struct s3be *b, int64_t cutoff, int dry_run,
		       store_walk_fn cb, void *ctx, int *stop)
{
	static const char pre[] = "ocimirror-stage-";
	DIR *d = opendir(b->spool);
	struct dirent *de;
	int failed = 0;

	if (!d)
		return 0; /* no spool: nothing staged */
	for (unsigned n = 0; !*stop && n < 100000 && (de = readdir(d)); n++) {
		char what[300];
		struct stat st;

		if (strncmp(de->d_name, pre, sizeof(pre) - 1) ||
		    fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) ||
		    !S_ISREG(st.st_mode) || (int64_t)st.st_mtime > cutoff ||
		    stage_owner_alive(de->d_name + sizeof(pre) - 1))
			continue;
		if (!dry_run && unlinkat(dirfd(d), de->d_name, 0) &&
		    errno != ENOENT) {
			failed++;
			continue;
		}
		snprintf(what, sizeof(what), "tmp/%.280s", de->d_name);
		*stop =
		    cb(ctx, what, (int64_t)st.st_size, (int64_t)st.st_mtime);
	}
	closedir(d);
	return failed;
}

static int s3_sweep(void *be, int64_t cutoff, int dry_run, store_walk_fn cb,
		    void *ctx, struct err *err)
{
	static const char *const mpu_under[] = {"blobs/", "uploads/"};
	struct s3be *b = be;
	/* serve replicas append to sessions (and multipart uploads) without
	 * the store lock: only those idle for stale seconds go, whatever
	 * gc's grace */
	int64_t stale = (int64_t)time(NULL) - (int64_t)b->stale;
	struct mpus m = {NULL, 0, 0, cutoff < stale ? cutoff : stale, 0};
	struct sessions s = {{0}, {0}, NULL, 0, m.cutoff};
	struct err e;
	int failed = 0, stop = 0;

	for (size_t u = 0; u < 2; u++)
		if (s3c_uploads_list(b->c, mpu_under[u], mpu_one, &m, &e) &&
		    !failed++)
			err_set(err, ERR_FAIL, "%s", e.msg);
	if (m.oom && !failed++)
		err_set(err, ERR_FAIL, "%s: multipart uploads: too many",
			b->name);
	for (size_t i = 0; i < m.n && !stop; i++) {
		char what[KEY_MAX + 16];

		if (!dry_run &&
		    s3c_upload_abort(b->c, m.v[i].key, m.v[i].id, &e) &&
		    e.code != ERR_NOT_FOUND) {
			if (!failed++)
				err_set(err, ERR_FAIL, "%s", e.msg);
			continue;
		}
		snprintf(what, sizeof(what), "multipart %s", m.v[i].key);
		stop = cb(ctx, what, -1, (int64_t)m.v[i].when);
	}
	free(m.v);
	if (!stop && s3c_list(b->c, "uploads/", NULL, session_one, &s, &e) &&
	    !failed++)
		err_set(err, ERR_FAIL, "%s", e.msg);
	session_done(&s);
	for (size_t i = 0; i < s.stale.n && !stop; i++) {
		char what[KEY_MAX];

		if (!id_ok(s.stale.v[i]) || !session_ours(b, s.stale.v[i]))
			continue;
		if (!dry_run && session_forget(b, s.stale.v[i], &e)) {
			if (!failed++)
				err_set(err, ERR_FAIL, "%s", e.msg);
			continue;
		}
		snprintf(what, sizeof(what), "uploads/%s", s.stale.v[i]);
		stop = cb(ctx, what, -1, s.mtime[i]);
	}
	fsutil_names_free(s.ids.v, s.ids.n);
	fsutil_names_free(s.stale.v, s.stale.n);
	free(s.mtime);
	if (!stop && sweep_spool(b, m.cutoff, dry_run, cb, ctx, &stop) &&
	    !failed++)
		err_set(err, ERR_FAIL, "%s: cannot remove a staged file in %s",
			b->name, b->spool);
	return failed ? ERR_FAIL : 0;
}

/* ---- upload sessions ---- */

/* A part's name: its offset (20 digits), '-' and the nonce of the claim
 * it was put under, so that a late part of a replica whose claim was
 * taken over lands beside the committed ones, never on them. */
#define PART_NAME 64
#define PARTS_MAX 10000

struct info {
	char repo[OCI_REPO_MAX];
	uint64_t offset;
	uint64_t pending; /* the end of a claimed append; 0: none */
	int64_t claimed;  /* when */
	char etag[128];
	char (*parts)[PART_NAME]; /* committed, in offset order */
	size_t n;
};

static void info_free(struct info *in)
{
	free(in->parts);
	in->parts = NULL;
	in->n = 0;
}

/* 1 when name is a part's name, its offset into *off. */
static int part_name(uint64_t *off, const char *name)
{
	size_t n = strlen(name);
	char *e;
	unsigned long long o;

	if (n < 22 || n >= PART_NAME || name[20] != '-')
		return 0;
	for (size_t i = 0; i < n; i++)
		if (i != 20 && !((name[i] >= '0' && name[i] <= '9') ||
				 (i > 20 && name[i] >= 'a' && name[i] <= 'f')))
			return 0;
	errno = 0;
	o = strtoull(name, &e, 10);
	if (errno || e != name + 20)
		return 0;
	*off = o;
	return 1;
}

static uint64_t part_off(const char *name)
{
	uint64_t o = 0;

	part_name(&o, name);
	return o;
}

/* Its committed parts: names of parts at increasing offsets from 0, each
 * below the offset. */
static int info_parts(struct info *out, json_t *a)
{
	size_t n = json_array_size(a);

	if (!json_is_array(a) || n > PARTS_MAX || (!n && out->offset))
		return -1;
	if (!n)
		return 0;
	out->parts = calloc(n, sizeof(*out->parts));
	if (!out->parts)
		return -1;
	for (size_t i = 0; i < n; i++) {
		json_t *v = json_array_get(a, i);
		uint64_t o;

		if (!json_is_string(v) ||
		    !part_name(&o, json_string_value(v)) || o >= out->offset ||
		    (i == 0 && o) || (i && o <= part_off(out->parts[i - 1])))
			return -1;
		snprintf(out->parts[i], PART_NAME, "%s", json_string_value(v));
		out->n = i + 1;
	}
	return 0;
}

static int info_get(struct info *out, struct s3be *b, const char *id,
		    struct err *err)
{
	char key[KEY_MAX], *text = NULL;
	struct s3_head h;
	size_t len;
	json_t *j, *r, *o, *p, *c;
	int rc;

	memset(out, 0, sizeof(*out));
	rc = keyf(key, b, err, "uploads/%s/info", id);
	if (!rc)
		rc = s3c_get(&text, &len, &h, b->c, key, INFO_MAX, err);
	if (rc == ERR_NOT_FOUND)
		err_set(err, rc, "%s: upload %s: no such session", b->name, id);
	if (rc)
		return rc;
	j = json_loadb(text, len, 0, NULL);
	free(text);
	r = json_object_get(j, "repo");
	o = json_object_get(j, "offset");
	p = json_object_get(j, "pending");
	c = json_object_get(j, "claimed");
	if (!json_is_string(r) || !json_is_integer(o) ||
	    json_integer_value(o) < 0 ||
	    strlen(json_string_value(r)) >= sizeof(out->repo)) {
		json_decref(j);
		return err_set(err, ERR_INVALID, "%s: %s: malformed", b->name,
			       key);
	}
	snprintf(out->repo, sizeof(out->repo), "%s", json_string_value(r));
	out->offset = (uint64_t)json_integer_value(o);
	if (info_parts(out, json_object_get(j, "parts"))) {
		info_free(out);
		json_decref(j);
		return err_set(err, ERR_INVALID, "%s: %s: malformed parts",
			       b->name, key);
	}
	if (json_is_integer(p) && json_integer_value(p) > 0)
		out->pending = (uint64_t)json_integer_value(p);
	if (json_is_integer(c))
		out->claimed = (int64_t)json_integer_value(c);
	snprintf(out->etag, sizeof(out->etag), "%s", h.etag);
	json_decref(j);
	return 0;
}

/* Replace (etag) or create (etag NULL) the session's info: offset, the
 * committed parts of in (and add, when not NULL), a claim up to pending
 * by nonce by; the new ETag into etag_out. ERR_CONFLICT when it moved
 * meanwhile. */
static int info_put(struct s3be *b, const char *id, const char *repo,
		    uint64_t offset, const struct info *in, const char *add,
		    uint64_t pending, const char *by, const char *etag,
		    char *etag_out, struct err *err)
{
	struct s3_cond cond = {0};
	char key[KEY_MAX], *t;
	json_t *j, *a = json_array();
	int rc;

	rc = keyf(key, b, err, "uploads/%s/info", id);
	if (rc) {
		json_decref(a);
		return rc;
	}
	for (size_t i = 0; a && i < in->n; i++)
		if (json_array_append_new(a, json_string(in->parts[i])))
			break;
	if (a && add)
		json_array_append_new(a, json_string(add));
	if (a && json_array_size(a) != in->n + (add ? 1 : 0)) {
		json_decref(a);
		a = NULL;
	}
	j = !a	      ? NULL
	    : pending ? json_pack("{s:s,s:I,s:o,s:I,s:I,s:s}", "repo", repo,
				  "offset", (json_int_t)offset, "parts", a,
				  "pending", (json_int_t)pending, "claimed",
				  (json_int_t)time(NULL), "by", by)
		      : json_pack("{s:s,s:I,s:o}", "repo", repo, "offset",
				  (json_int_t)offset, "parts", a);
	t = j ? json_dumps(j, JSON_COMPACT) : NULL;
	json_decref(j);
	if (!t)
		return err_set(err, ERR_FAIL, "out of memory");
	if (etag)
		cond.if_match = etag;
	else
		cond.if_none_match = "*";
	rc = put_checked(b, key, t, &cond, etag_out, err);
	free(t);
	if (rc == ERR_CONFLICT || rc == ERR_NOT_FOUND)
		rc = err_set(err, ERR_CONFLICT,
			     "%s: upload %s: the session moved on meanwhile "
			     "(another replica)",
			     b->name, id);
	return rc;
}

static int s3_upload_append(void *be, const char *id, const char *repo,
			    uint64_t off, int fd, uint64_t len, struct err *err)
{
	struct s3be *b = be;
	struct info in;
	char key[KEY_MAX], etag[128], by[40], name[PART_NAME];
	int rc, fresh = 0;

	if (!id_ok(id))
		return err_set(err, ERR_INVALID, "%s: invalid upload id",
			       b->name);
	if (!oci_repo_name_valid(repo))
		return err_set(err, ERR_INVALID,
			       "%s: invalid repository name \"%.300s\"",
			       b->name, repo);
	rc = info_get(&in, b, id, err);
	if (rc == ERR_NOT_FOUND && off == 0) {
		fresh = 1;
		memset(&in, 0, sizeof(in));
		rc = 0;
	} else if (rc == ERR_NOT_FOUND) {
		return err_set(err, ERR_CONFLICT,
			       "%s: upload %s: no session to append at %llu "
			       "to",
			       b->name, id, (unsigned long long)off);
	} else if (rc) {
		return rc;
	} else if (strcmp(in.repo, repo)) {
		rc = err_set(err, ERR_CONFLICT, "%s: upload %s belongs to %s",
			     b->name, id, in.repo);
	} else if (in.offset != off ||
		   (in.pending && in.claimed + CLAIM_STALE > time(NULL))) {
		rc = err_set(err, ERR_CONFLICT,
			     "%s: upload %s is at %llu%s, not %llu", b->name,
			     id, (unsigned long long)in.offset,
			     in.pending ? " (an append running)" : "",
			     (unsigned long long)off);
	} else if (!len) {
		info_free(&in);
		return 0;
	}
	if (rc) {
		info_free(&in);
		return rc;
	}
	if (!len) /* a new session, empty */
		return info_put(b, id, repo, 0, &in, NULL, 0, NULL, NULL, NULL,
				err);
	if (in.n >= PARTS_MAX) {
		info_free(&in);
		return err_set(err, ERR_TOO_LARGE,
			       "%s: upload %s: more than %d parts", b->name, id,
			       PARTS_MAX);
	}
	/* claim [off, off + len), a new session made and claimed at once */
	nonce_make(by, sizeof(by));
	snprintf(name, sizeof(name), "%020llu-%s", (unsigned long long)off, by);
	rc = info_put(b, id, repo, off, &in, NULL, off + len, by,
		      fresh ? NULL : in.etag, etag, err);
	if (!rc)
		rc = keyf(key, b, err, "uploads/%s/%s", id, name);
	if (rc) {
		info_free(&in);
		return rc;
	}
	rc = s3c_put_fd(b->c, key, fd, off, len, NULL, err);
	if (rc) {
		/* drop the claim (if still ours), so that a retry need not
		 * wait until it is stale; the session stays at off */
		info_put(b, id, repo, off, &in, NULL, 0, NULL, etag, NULL,
			 NULL);
		info_free(&in);
		return rc;
	}
	rc = info_put(b, id, repo, off + len, &in, name, 0, NULL, etag, NULL,
		      err);
	info_free(&in);
	return rc;
}

static int s3_upload_info(uint64_t *offset_out, char *repo_out, void *be,
			  const char *id, struct err *err)
{
	struct s3be *b = be;
	struct info in;
	int rc;

	if (!id_ok(id))
		return err_set(err, ERR_INVALID, "%s: invalid upload id",
			       b->name);
	rc = info_get(&in, b, id, err);
	if (rc)
		return rc;
	*offset_out = in.offset;
	if (repo_out)
		snprintf(repo_out, OCI_REPO_MAX, "%s", in.repo);
	info_free(&in);
	return 0;
}

static int s3_upload_read_at(size_t *got_out, void *be, const char *id,
			     uint64_t off, void *buf, size_t len,
			     struct err *err)
{
	struct s3be *b = be;
	struct info in;
	size_t got = 0;
	int rc;

	*got_out = 0;
	if (!id_ok(id))
		return err_set(err, ERR_INVALID, "%s: invalid upload id",
			       b->name);
	rc = info_get(&in, b, id, err);
	if (rc)
		return rc;
	if (off >= in.offset) {
		info_free(&in);
		return 0;
	}
	if (len > in.offset - off)
		len = (size_t)(in.offset - off);
	/* only the parts info names: each holds up to the next one */
	for (size_t i = 0; !rc && i < in.n && got < len; i++) {
		uint64_t at = off + got, start = part_off(in.parts[i]),
			 end = i + 1 < in.n ? part_off(in.parts[i + 1])
					    : in.offset;
		char key[KEY_MAX];
		size_t want, n = 0;

		if (end <= at)
			continue;
		want = len - got;
		if (want > end - at)
			want = (size_t)(end - at);
		rc = keyf(key, b, err, "uploads/%s/%s", id, in.parts[i]);
		if (!rc)
			rc = s3c_get_range(&n, b->c, key, at - start,
					   (char *)buf + got, want, err);
		if (!rc && n != want)
			rc = err_set(err, ERR_FAIL,
				     "%s: upload %s: part %s is short", b->name,
				     id, in.parts[i]);
		got += n;
	}
	if (!rc && got < len)
		rc = err_set(err, ERR_FAIL,
			     "%s: upload %s: parts end at %llu before %llu",
			     b->name, id, (unsigned long long)(off + got),
			     (unsigned long long)in.offset);
	info_free(&in);
	*got_out = got;
	return rc;
}

/* The session's own keys: its info and parts (any claim's). */
static int own_one(void *ctx, const char *name, int64_t size, time_t mtime)
{
	uint64_t o;

	(void)size;
	(void)mtime;
	if (strcmp(name, "info") && !part_name(&o, name))
		return 0;
	return names_add(ctx, name, strlen(name));
}

static int session_forget(struct s3be *b, const char *id, struct err *err)
{
	struct names x = {0};
	char dir[KEY_MAX + 2], key[KEY_MAX];
	int rc;

	rc = keyf(dir, b, err, "uploads/%s", id);
	if (rc)
		return rc;
	strcat(dir, "/");
	rc = s3c_list(b->c, dir, NULL, own_one, &x, err);
	if (!rc && x.oom)
		rc = err_set(err, ERR_FAIL, "%s: list %s: out of memory",
			     b->name, dir);
	/* the parts first, the info last: a session whose forgetting
	 * stopped half-way is still one (and swept again) */
	for (size_t i = 0; !rc && i < x.n; i++)
		if (strcmp(x.v[i], "info") &&
		    !(rc = keyf(key, b, err, "%s%s", dir, x.v[i])))
			rc = s3c_delete(b->c, key, NULL, err);
	if (!rc && !(rc = keyf(key, b, err, "%sinfo", dir)))
		rc = s3c_delete(b->c, key, NULL, err);
	fsutil_names_free(x.v, x.n);
	return rc;
}

/* A session of this backend: its info parses. */
static int session_ours(struct s3be *b, const char *id)
{
	struct info in;

	if (info_get(&in, b, id, NULL))
		return 0;
	info_free(&in);
	return 1;
}

static int s3_upload_forget(void *be, const char *id, struct err *err)
{
	struct s3be *b = be;

	if (!id_ok(id))
		return err_set(err, ERR_INVALID, "%s: invalid upload id",
			       b->name);
	return session_forget(b, id, err);
}

const struct store_ops s3_store_ops = {
    .name = "s3",
    .flags = STORE_BE_REMOTE | STORE_BE_SHARED,
    .open = s3_open,
    .close = s3_close,
    .lock = s3_lock,
    .unlock = s3_unlock,
    .blob_stat = s3_blob_stat,
    .blob_open = s3_blob_open,
    .blob_delete = s3_blob_delete,
    .blob_touch = s3_blob_touch,
    .blobs_each = s3_blobs_each,
    .space_free = NULL,
    .stage_open = s3_stage_open,
    .stage_place = s3_stage_place,
    .stage_discard = s3_stage_discard,
    .stage_reopen = s3_stage_reopen,
    .record_put = s3_record_put,
    .record_get = s3_record_get,
    .record_delete = s3_record_delete,
    .record_exists = s3_record_exists,
    .record_list = s3_record_list,
    .repos_each = s3_repos_each,
    .state_put = s3_state_put,
    .state_get = s3_state_get,
    .state_delete = s3_state_delete,
    .state_list = s3_state_list,
    .blob_read_at = s3_blob_read_at,
    .blob_url = s3_blob_url,
    .walk = s3_walk,
    .remove = s3_remove,
    .move = s3_move,
    .sweep = s3_sweep,
    .upload_append = s3_upload_append,
    .upload_info = s3_upload_info,
    .upload_read_at = s3_upload_read_at,
    .upload_forget = s3_upload_forget,
};
