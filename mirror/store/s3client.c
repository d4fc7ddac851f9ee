/* The S3 client (s3client.h) on libcurl easy handles: one request at a
 * time per handle, idle handles (and their connections) kept in a small
 * pool behind a mutex. Every request is signed (s3sign.h) with the real
 * SHA-256 of its body; answers are read with a small bounded XML scanner.
 * A multipart upload's parts go up from a few threads at once.
 * s3_config_parse (the store URL, the credentials) is here as well. */
#include "mirror/store/s3client.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <openssl/evp.h>

#include "mirror/store/s3sign.h"
#include "oci/buf.h"

#define MIB (1024ull * 1024)
#define POOL_MAX 16
#define LIST_MAX (8u << 20)   /* a list answer */
#define SMALL_MAX (1u << 20)  /* an answer we only look into */
#define EBODY_MAX (64u << 10) /* an error answer kept for its message */
#define ATTEMPTS 4
#define PART_MIN (5 * MIB)
#define PART_DEFAULT (16 * MIB)
#define MULTIPART_DEFAULT (64 * MIB)
#define PARTS_MAX 10000
#define PUT_WORKERS 4	  /* parts of one upload in flight at once */
#define NAME_MAX_LEN 1024 /* S3's limit on a key */
#define PAGES_MAX 1000000
#define CRED_FILE_MAX (1u << 20)
#define MAX_EXTRA 4
#define EMPTY_SHA256                                                           \
	"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

struct s3c {
	struct s3_config cfg;
	char host[512]; /* host[:port], the Host header (signed) */
	pthread_mutex_t mu;
	CURL *idle[POOL_MAX];
	int n_idle;
	unsigned max_keys; /* a list page; 0: the server's (1000) */
};

enum sink { SINK_NONE, SINK_BUF, SINK_FD, SINK_MEM };

/* One request and what came back. */
struct rq {
	const char *method;
	const char *name;  /* the object's full name; NULL: the bucket */
	const char *query; /* encoded pairs, or NULL */
	const char *extra[MAX_EXTRA][2]; /* more signed headers */
	int n_extra;
	char if_match[130];
	/* the body: memory, or len bytes of fd from off (pread) */
	const void *body;
	int body_fd;
	uint64_t body_off, body_len;
	int has_body;
	const char *payload_hash; /* NULL: of the empty body */
	/* where a 2xx answer's body goes */
	enum sink sink;
	struct buf *out;
	int out_fd;
	off_t fd_start; /* out_fd's offset before the first attempt */
	char *mem;
	size_t mem_len;
	uint64_t mem_skip, skipped;
	/* state of one attempt */
	uint64_t sent;
	size_t got;
	int64_t written;
	int sink_err, mem_full; /* sink_err: a positive errno */
	int too_large;
	long status;
	struct buf ebody;
	char etag[128];
	int64_t clen;
	time_t mtime;
	char crange[128];
};

/* --- small helpers --- */

static uint64_t min_u64(uint64_t a, uint64_t b)
{
	return a < b ? a : b;
}

static void sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

/* "s3 BUCKET/NAME" (or "s3 BUCKET") for messages. */
static void what(char *out, size_t size, const struct s3c *c, const char *name)
{
	char shown[600];

	if (!name) {
		snprintf(out, size, "s3 %s", c->cfg.bucket);
		return;
	}
	err_shown(shown, sizeof(shown), name, strlen(name));
	snprintf(out, size, "s3 %s/%s", c->cfg.bucket, shown);
}

/* No "." or ".." segment, no empty one but a last (a listing's "dir/"),
 * no leading '/', no control characters. */
static int key_segments_ok(const char *key)
{
	const char *seg = key;

	for (const char *p = key;; p++) {
		if (*p && (unsigned char)*p < 0x20)
			return 0;
		if (*p == '/' || !*p) {
			size_t n = (size_t)(p - seg);

			if ((n == 0 && *p) || (n == 1 && seg[0] == '.') ||
			    (n == 2 && seg[0] == '.' && seg[1] == '.'))
				return 0;
			if (!*p)
				return 1;
			seg = p + 1;
		}
	}
}

/* The full name of key: "PREFIX/KEY", or KEY at the bucket's root. */
static int full_name(char *out, size_t size, const struct s3c *c,
		     const char *key, struct err *err)
{
	int n;

	if (!key || !*key || strlen(key) > NAME_MAX_LEN ||
	    !key_segments_ok(key))
		return err_set(err, ERR_INVALID, "s3 %s: bad key",
			       c->cfg.bucket);
	n = snprintf(out, size, "%s%s%s", c->cfg.prefix,
		     c->cfg.prefix[0] ? "/" : "", key);
	if (n < 0 || (size_t)n >= size || n > NAME_MAX_LEN)
		return err_set(err, ERR_INVALID, "s3 %s: key too long",
			       c->cfg.bucket);
	return 0;
}

static int is_hex64(const char *s)
{
	size_t i;

	for (i = 0; s[i]; i++)
		if (!isxdigit((unsigned char)s[i]) ||
		    isupper((unsigned char)s[i]))
			return 0;
	return i == 64;
}

/* hex SHA-256 of len bytes of fd from off. */
static int hash_fd(char out[S3_SHA256_HEX], int fd, uint64_t off, uint64_t len,
		   const char *whatp, struct err *err)
{
	static const char hexd[] = "0123456789abcdef";
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	unsigned char d[EVP_MAX_MD_SIZE];
	unsigned int dlen = 0;
	char *chunk = malloc(256 * 1024);
	uint64_t done = 0;
	int rc = 0;

	if (!md || !chunk || !EVP_DigestInit_ex(md, EVP_sha256(), NULL)) {
		rc = err_set(err, ERR_FAIL, "%s: out of memory", whatp);
		goto out;
	}
	while (done < len) {
		ssize_t n = pread(fd, chunk, min_u64(len - done, 256 * 1024),
				  (off_t)(off + done));

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			rc = err_set(err, ERR_FAIL, "%s: read: %s", whatp,
				     n ? strerror(errno) : "short file");
			goto out;
		}
		EVP_DigestUpdate(md, chunk, (size_t)n);
		done += (uint64_t)n;
	}
	EVP_DigestFinal_ex(md, d, &dlen);
	for (unsigned i = 0; i < 32; i++) {
		out[2 * i] = hexd[d[i] >> 4];
		out[2 * i + 1] = hexd[d[i] & 15];
	}
	out[64] = '\0';
out:
	EVP_MD_CTX_free(md);
	free(chunk);
	return rc;
}

/* --- a small XML scanner: S3's answers are flat enough --- */

/* The next element <tag> in [*pos, end): its content (raw, nested
 * elements included); *pos moves past it. 1 when found. */
static int xml_next(const char **pos, const char *end, const char *tag,
		    const char **v, size_t *vlen)
{
	size_t tl = strlen(tag);
	const char *p = *pos;

	while (p < end) {
		const char *lt = memchr(p, '<', (size_t)(end - p)), *q, *gt;

		if (!lt || (size_t)(end - lt) < tl + 2)
			return 0;
		p = lt + 1;
		if (memcmp(p, tag, tl))
			continue;
		q = p + tl;
		if (*q != '>' && *q != '/' && *q != ' ')
			continue;
		gt = memchr(q, '>', (size_t)(end - q));
		if (!gt)
			return 0;
		if (gt[-1] == '/') { /* <Tag/> */
			*v = gt;
			*vlen = 0;
			*pos = gt + 1;
			return 1;
		}
		for (q = gt + 1; q < end; q++) {
			q = memchr(q, '<', (size_t)(end - q));
			if (!q || (size_t)(end - q) < tl + 3)
				return 0;
			if (q[1] == '/' && !memcmp(q + 2, tag, tl) &&
			    q[2 + tl] == '>') {
				*v = gt + 1;
				*vlen = (size_t)(q - (gt + 1));
				*pos = q + 3 + tl;
				return 1;
			}
		}
		return 0;
	}
	return 0;
}

static int utf8_put(char *out, size_t cap, size_t *o, unsigned long cp)
{
	unsigned char b[4];
	size_t n;

	if (!cp || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
		return -1;
	if (cp < 0x80) {
		b[0] = (unsigned char)cp;
		n = 1;
	} else if (cp < 0x800) {
		b[0] = (unsigned char)(0xC0 | (cp >> 6));
		b[1] = (unsigned char)(0x80 | (cp & 0x3F));
		n = 2;
	} else if (cp < 0x10000) {
		b[0] = (unsigned char)(0xE0 | (cp >> 12));
		b[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
		b[2] = (unsigned char)(0x80 | (cp & 0x3F));
		n = 3;
	} else {
		b[0] = (unsigned char)(0xF0 | (cp >> 18));
		b[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3F));
		b[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
		b[3] = (unsigned char)(0x80 | (cp & 0x3F));
		n = 4;
	}
	if (*o + n >= cap)
		return -1;
	memcpy(out + *o, b, n);
	*o += n;
	return 0;
}

/* The text v[0..n) with its entities decoded into out (NUL-ended): 0, or
 * -1 when it does not fit or an entity is unknown. */
static int xml_text(char *out, size_t cap, const char *v, size_t n)
{
	static const struct {
		const char *name;
		char c;
	} ents[] = {{"amp;", '&'},
		    {"lt;", '<'},
		    {"gt;", '>'},
		    {"quot;", '"'},
		    {"apos;", '\''}};
	size_t o = 0, i = 0;

	if (!cap)
		return -1;
	while (i < n) {
		size_t k;

		if (v[i] != '&') {
			if (o + 1 >= cap)
				return -1;
			out[o++] = v[i++];
			continue;
		}
		i++;
		for (k = 0; k < sizeof(ents) / sizeof(ents[0]); k++) {
			size_t l = strlen(ents[k].name);

			if (n - i >= l && !memcmp(v + i, ents[k].name, l)) {
				if (o + 1 >= cap)
					return -1;
				out[o++] = ents[k].c;
				i += l;
				break;
			}
		}
		if (k < sizeof(ents) / sizeof(ents[0]))
			continue;
		if (i < n && v[i] == '#') {
			unsigned long cp = 0;
			int hex = i + 1 < n && (v[i + 1] == 'x'), digits = 0;

			i += hex ? 2 : 1;
			for (; i < n && v[i] != ';' && digits < 8;
			     i++, digits++) {
				int c = (unsigned char)v[i];

				if (hex && isxdigit(c))
					cp =
					    cp * 16 +
					    (unsigned long)(isdigit(c)
								? c - '0'
								: tolower(c) -
								      'a' + 10);
				else if (!hex && isdigit(c))
					cp = cp * 10 + (unsigned long)(c - '0');
				else
					return -1;
			}
			if (i >= n || v[i] != ';' || !digits ||
			    utf8_put(out, cap, &o, cp))
				return -1;
			i++;
			continue;
		}
		return -1;
	}
	out[o] = '\0';
	return 0;
}

/* The decoded text of the first <tag> in [p, end) into out; 0 when
 * found and fitting, else -1 (out is then ""). */
static int xml_get(char *out, size_t cap, const char *p, const char *end,
		   const char *tag)
{
	const char *v;
	size_t n;

	out[0] = '\0';
	if (!xml_next(&p, end, tag, &v, &n))
		return -1;
	if (xml_text(out, cap, v, n)) {
		out[0] = '\0';
		return -1;
	}
	return 0;
}

/* "2009-10-12T17:50:30.000Z" */
static time_t iso8601(const char *s)
{
	struct tm tm;
	int y, mo, d, h, mi, sec;

	if (sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d", &y, &mo, &d, &h, &mi, &sec) !=
	    6)
		return 0;
	memset(&tm, 0, sizeof(tm));
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = sec;
	return timegm(&tm);
}

/* --- one request --- */

static size_t on_header(char *p, size_t size, size_t n, void *ud)
{
	struct rq *r = ud;
	size_t len = size * n, nl;
	const char *v, *e;
	char name[32];

	if (len >= 5 && !memcmp(p, "HTTP/", 5)) {
		const char *sp = memchr(p, ' ', len);

		r->status = 0;
		if (sp && (size_t)(sp - p) + 4 <= len &&
		    isdigit((unsigned char)sp[1]) &&
		    isdigit((unsigned char)sp[2]) &&
		    isdigit((unsigned char)sp[3]))
			r->status = (sp[1] - '0') * 100 + (sp[2] - '0') * 10 +
				    (sp[3] - '0');
		r->etag[0] = r->crange[0] = '\0';
		r->clen = -1;
		r->mtime = 0;
		return len;
	}
	v = memchr(p, ':', len);
	if (!v || (size_t)(v - p) >= sizeof(name))
		return len;
	nl = (size_t)(v - p);
	memcpy(name, p, nl);
	name[nl] = '\0';
	for (v++; v < p + len && (*v == ' ' || *v == '\t'); v++)
		;
	for (e = p + len; e > v && (e[-1] == '\r' || e[-1] == '\n' ||
				    e[-1] == ' ' || e[-1] == '\t');
	     e--)
		;
	if (!strcasecmp(name, "ETag")) {
		if ((size_t)(e - v) < sizeof(r->etag)) {
			memcpy(r->etag, v, (size_t)(e - v));
			r->etag[e - v] = '\0';
		}
	} else if (!strcasecmp(name, "Content-Range")) {
		if ((size_t)(e - v) < sizeof(r->crange)) {
			memcpy(r->crange, v, (size_t)(e - v));
			r->crange[e - v] = '\0';
		}
	} else if (!strcasecmp(name, "Content-Length")) {
		char num[24], *end;
		unsigned long long x;

		if ((size_t)(e - v) < sizeof(num) && e > v) {
			memcpy(num, v, (size_t)(e - v));
			num[e - v] = '\0';
			errno = 0;
			x = strtoull(num, &end, 10);
			if (!errno && !*end && isdigit((unsigned char)num[0]) &&
			    x <= INT64_MAX)
				r->clen = (int64_t)x;
		}
	} else if (!strcasecmp(name, "Last-Modified")) {
		char date[64];

		if ((size_t)(e - v) < sizeof(date)) {
			time_t t;

			memcpy(date, v, (size_t)(e - v));
			date[e - v] = '\0';
			t = curl_getdate(date, NULL);
			r->mtime = t > 0 ? t : 0;
		}
	}
	return len;
}

static size_t on_write(char *p, size_t size, size_t n, void *ud)
{
	struct rq *r = ud;
	size_t len = size * n, off = 0, room;

	if (r->status < 200 || r->status > 299) {
		room = EBODY_MAX - r->ebody.len;
		if (room)
			buf_append(&r->ebody, p, len < room ? len : room);
		return len;
	}
	switch (r->sink) {
	case SINK_NONE: return len;
	case SINK_BUF:
		switch (buf_append(r->out, p, len)) {
		case 0: break;
		case ERR_TOO_LARGE: r->too_large = 1; return 0;
		default: r->sink_err = ENOMEM; return 0;
		}
		return len;
	case SINK_FD:
		while (off < len) {
			ssize_t w = write(r->out_fd, p + off, len - off);

			if (w < 0 && errno == EINTR)
				continue;
			if (w <= 0) {
				r->sink_err = w < 0 && errno ? errno : EIO;
				return 0;
			}
			off += (size_t)w;
			r->written += w;
		}
		return len;
	case SINK_MEM:
		/* a 200 to a Range is the whole object: skip to the offset */
		if (r->status == 200 && r->skipped < r->mem_skip) {
			uint64_t s = r->mem_skip - r->skipped;

			s = s < len ? s : len;
			r->skipped += s;
			off = (size_t)s;
		}
		room = r->mem_len - r->got;
		if (len - off > room) {
			memcpy(r->mem + r->got, p + off, room);
			r->got += room;
			r->mem_full = 1; /* the rest is not wanted */
			return 0;
		}
		memcpy(r->mem + r->got, p + off, len - off);
		r->got += len - off;
		return len;
	}
	return 0;
}

static size_t on_read(char *p, size_t size, size_t n, void *ud)
{
	struct rq *r = ud;
	size_t want = size * n;
	uint64_t left = r->body_len - r->sent;

	if (want > left)
		want = (size_t)left;
	if (!want)
		return 0;
	if (r->body) {
		memcpy(p, (const char *)r->body + r->sent, want);
	} else {
		ssize_t got;

		do
			got = pread(r->body_fd, p, want,
				    (off_t)(r->body_off + r->sent));
		while (got < 0 && errno == EINTR);
		if (got <= 0) {
			r->sink_err = got < 0 && errno ? errno : EIO;
			return CURL_READFUNC_ABORT;
		}
		want = (size_t)got;
	}
	r->sent += want;
	return want;
}

static int on_seek(void *ud, curl_off_t offset, int origin)
{
	struct rq *r = ud;

	if (origin != SEEK_SET || offset < 0 || (uint64_t)offset > r->body_len)
		return CURL_SEEKFUNC_FAIL;
	r->sent = (uint64_t)offset;
	return CURL_SEEKFUNC_OK;
}

static CURL *handle_get(struct s3c *c)
{
	CURL *h = NULL;

	pthread_mutex_lock(&c->mu);
	if (c->n_idle)
		h = c->idle[--c->n_idle];
	pthread_mutex_unlock(&c->mu);
	if (h)
		curl_easy_reset(h);
	else
		h = curl_easy_init();
	return h;
}

static void handle_put(struct s3c *c, CURL *h)
{
	pthread_mutex_lock(&c->mu);
	if (c->n_idle < POOL_MAX) {
		c->idle[c->n_idle++] = h;
		h = NULL;
	}
	pthread_mutex_unlock(&c->mu);
	if (h)
		curl_easy_cleanup(h);
}

static int retryable_curl(CURLcode cc)
{
	switch (cc) {
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_CONNECT:
	case CURLE_SEND_ERROR:
	case CURLE_RECV_ERROR:
	case CURLE_GOT_NOTHING:
	case CURLE_PARTIAL_FILE:
	case CURLE_OPERATION_TIMEDOUT:
	case CURLE_SSL_CONNECT_ERROR: return 1;
	default: return 0;
	}
}

/* The one-line error of an S3 answer (status, and the Code and Message of
 * its <Error> body when there is one). */
static int answer_error(struct s3c *c, const struct rq *r, const char *body,
			size_t len, struct err *err)
{
	char w[700], code[128], msg[512], scode[160], smsg[600];
	int ec;

	what(w, sizeof(w), c, r->name);
	xml_get(code, sizeof(code), body, body + len, "Code");
	xml_get(msg, sizeof(msg), body, body + len, "Message");
	err_shown(scode, sizeof(scode), code, strlen(code));
	err_shown(smsg, sizeof(smsg), msg, strlen(msg));
	switch (r->status) {
	case 404:
		/* absent only when S3 says so (a HEAD has no body): a 404 of
		 * a wrong endpoint or a proxy is a failure, never "not
		 * stored" */
		ec = !strcmp(r->method, "HEAD") || !strcmp(code, "NoSuchKey") ||
			     !strcmp(code, "NoSuchBucket") ||
			     !strcmp(code, "NoSuchUpload")
			 ? ERR_NOT_FOUND
			 : ERR_FAIL;
		break;
	case 409:
	case 412: ec = ERR_CONFLICT; break;
	case 401:
	case 403: ec = ERR_UNAUTHORIZED; break;
	default: ec = ERR_FAIL;
	}
	if (!code[0])
		return err_set(err, ec, "%s: %s: %ld", w, r->method, r->status);
	if (!msg[0])
		return err_set(err, ec, "%s: %s: %ld %s", w, r->method,
			       r->status, scode);
	return err_set(err, ec, "%s: %s: %ld %s: %s", w, r->method, r->status,
		       scode, smsg);
}

/* A 200 that says <Error> (CompleteMultipartUpload and CopyObject do). */
static int body_error(struct s3c *c, struct rq *r, struct err *err)
{
	const char *p = r->out->data, *v;
	size_t n;

	if (!xml_next(&p, r->out->data + r->out->len, "Error", &v, &n))
		return 0;
	r->status = 500;
	return answer_error(c, r, v, n, err);
}

static char *request_path(const struct s3c *c, const char *name)
{
	char *enc = name ? s3sign_uri_encode(name, 0) : NULL;
	struct buf b;

	if (name && !enc)
		return NULL;
	buf_init(&b, 8192);
	if (buf_printf(&b, "/%s%s%s", c->cfg.bucket, name ? "/" : "",
		       name ? enc : "")) {
		free(enc);
		return NULL;
	}
	free(enc);
	return buf_detach(&b, NULL);
}

static void rq_reset(struct rq *r)
{
	r->sent = 0;
	r->got = r->skipped = 0;
	r->sink_err = r->mem_full = r->too_large = 0;
	r->status = 0;
	r->etag[0] = r->crange[0] = '\0';
	r->clen = -1;
	r->mtime = 0;
	buf_reset(&r->ebody);
	if (r->sink == SINK_BUF) {
		size_t max = r->out->max;

		buf_release(r->out);
		buf_init(r->out, max);
	}
}

/* Send r (retrying what may mend): 0 for a 2xx answer; else the error,
 * with r->status saying what the answer was (0: none). */
static int perform(struct s3c *c, struct rq *r, struct err *err)
{
	char w[700], amz[17], auth[1024], errbuf[CURL_ERROR_SIZE];
	char hl[MAX_EXTRA + 8][2200];
	struct s3sign_header sh[MAX_EXTRA + 4];
	char *path = request_path(c, r->name), *url = NULL;
	const char *hash = r->payload_hash ? r->payload_hash : EMPTY_SHA256;
	struct buf ub;
	int rc = 0;

	what(w, sizeof(w), c, r->name);
	buf_init(&r->ebody, EBODY_MAX + 1);
	buf_init(&ub, 16384);
	if (!path || buf_printf(&ub, "%s%s%s%s", c->cfg.endpoint, path,
				r->query && *r->query ? "?" : "",
				r->query ? r->query : "")) {
		rc = err_set(err, ERR_FAIL, "%s: %s: URL too long", w,
			     r->method);
		goto out;
	}
	url = ub.data;
	if (r->sink == SINK_FD)
		r->fd_start = lseek(r->out_fd, 0, SEEK_CUR);
	for (int attempt = 0; attempt < ATTEMPTS; attempt++) {
		struct curl_slist *hdrs = NULL, *t;
		struct s3sign_req sr;
		CURLcode cc;
		CURL *h;
		size_t nh = 0;
		int nl = 0, again = 0;

		if (attempt) {
			sleep_ms(50L << (2 * (attempt - 1)));
			if (r->sink == SINK_FD && r->written) {
				if (r->fd_start < 0 ||
				    lseek(r->out_fd, r->fd_start, SEEK_SET) <
					0 ||
				    ftruncate(r->out_fd, r->fd_start)) {
					rc = err_set(err, ERR_FAIL,
						     "%s: %s: cannot rewind "
						     "the file to retry",
						     w, r->method);
					break;
				}
				r->written = 0;
			}
		}
		rq_reset(r);
		sh[nh++] = (struct s3sign_header){"host", c->host};
		sh[nh++] = (struct s3sign_header){"x-amz-content-sha256", hash};
		sh[nh++] = (struct s3sign_header){"x-amz-date", amz};
		if (c->cfg.session_token[0])
			sh[nh++] = (struct s3sign_header){
			    "x-amz-security-token", c->cfg.session_token};
		for (int i = 0; i < r->n_extra; i++)
			sh[nh++] = (struct s3sign_header){r->extra[i][0],
							  r->extra[i][1]};
		sr = (struct s3sign_req){
		    .method = r->method,
		    .path = path,
		    .query = r->query,
		    .headers = sh,
		    .n_headers = nh,
		    .payload_hash = hash,
		    .region = c->cfg.region,
		    .service = "s3",
		    .access_key = c->cfg.access_key,
		    .secret_key = c->cfg.secret_key,
		    .when = time(NULL),
		};
		/* the date signed is the date sent (amz is in sh) */
		s3sign_amz_date(amz, sr.when);
		if (s3sign_authorization(auth, sizeof(auth), &sr)) {
			rc = err_set(err, ERR_FAIL, "%s: %s: cannot sign", w,
				     r->method);
			break;
		}
		for (size_t i = 0; i < nh; i++)
			snprintf(hl[nl++], sizeof(hl[0]), "%s: %s", sh[i].name,
				 sh[i].value);
		snprintf(hl[nl++], sizeof(hl[0]), "Authorization: %s", auth);
		snprintf(hl[nl++], sizeof(hl[0]), "Expect:");
		for (int i = 0; i < nl; i++) {
			t = curl_slist_append(hdrs, hl[i]);
			if (!t) {
				curl_slist_free_all(hdrs);
				hdrs = NULL;
				break;
			}
			hdrs = t;
		}
		h = hdrs ? handle_get(c) : NULL;
		if (!h) {
			curl_slist_free_all(hdrs);
			rc = err_set(err, ERR_FAIL, "%s: out of memory", w);
			break;
		}
		errbuf[0] = '\0';
		curl_easy_setopt(h, CURLOPT_URL, url);
		curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
		curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
		/* the path as signed: libcurl would squash "/./" and "/../" */
		curl_easy_setopt(h, CURLOPT_PATH_AS_IS, 1L);
		curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
		curl_easy_setopt(h, CURLOPT_HTTP_VERSION,
				 (long)CURL_HTTP_VERSION_1_1);
		curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, 10L);
		curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1L);
		curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, 30L);
		curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
		curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
		curl_easy_setopt(h, CURLOPT_USERAGENT, "ocimirror");
		curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
		curl_easy_setopt(h, CURLOPT_HEADERDATA, r);
		curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_write);
		curl_easy_setopt(h, CURLOPT_WRITEDATA, r);
		if (c->cfg.ca_file[0])
			curl_easy_setopt(h, CURLOPT_CAINFO, c->cfg.ca_file);
		if (!c->cfg.tls_verify) {
			curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 0L);
			curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 0L);
		}
		if (!strcmp(r->method, "HEAD")) {
			curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
		} else if (r->has_body || !strcmp(r->method, "PUT") ||
			   !strcmp(r->method, "POST")) {
			curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
			curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE,
					 (curl_off_t)r->body_len);
			curl_easy_setopt(h, CURLOPT_READFUNCTION, on_read);
			curl_easy_setopt(h, CURLOPT_READDATA, r);
			curl_easy_setopt(h, CURLOPT_SEEKFUNCTION, on_seek);
			curl_easy_setopt(h, CURLOPT_SEEKDATA, r);
			if (strcmp(r->method, "PUT"))
				curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST,
						 r->method);
		} else if (strcmp(r->method, "GET")) {
			curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, r->method);
		}
		cc = curl_easy_perform(h);
		curl_slist_free_all(hdrs);
		if (cc == CURLE_WRITE_ERROR && r->mem_full)
			cc = CURLE_OK;
		if (cc != CURLE_OK) {
			if (r->too_large) {
				rc = err_set(err, ERR_TOO_LARGE,
					     "%s: %s: answer too large", w,
					     r->method);
			} else if (r->sink_err) {
				rc = err_set(err, ERR_FAIL, "%s: %s: %s", w,
					     r->method, strerror(r->sink_err));
			} else {
				rc = err_set(err,
					     cc == CURLE_OPERATION_TIMEDOUT
						 ? ERR_TIMEOUT
						 : ERR_FAIL,
					     "%s: %s: %s%s%s", w, r->method,
					     curl_easy_strerror(cc),
					     errbuf[0] ? ": " : "", errbuf);
				again = retryable_curl(cc);
			}
			/* a handle whose transfer broke keeps no connection
			 * worth reusing */
			curl_easy_cleanup(h);
			r->status = 0;
		} else {
			handle_put(c, h);
			if (r->status >= 200 && r->status <= 299) {
				rc = 0;
				break;
			}
			rc = answer_error(c, r, r->ebody.data, r->ebody.len,
					  err);
			again = r->status == 500 || r->status == 502 ||
				r->status == 503 || r->status == 504 ||
				strstr(r->ebody.data, "<Code>SlowDown</Code>");
		}
		if (!again)
			break;
	}
out:
	free(path);
	buf_release(&ub);
	buf_release(&r->ebody);
	return rc;
}

/* --- configuration --- */

static int valid_bucket(const char *b, size_t n)
{
	if (n < 3 || n > 63)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!(islower((unsigned char)b[i]) ||
		      isdigit((unsigned char)b[i]) || b[i] == '.' ||
		      b[i] == '-'))
			return 0;
	if (!isalnum((unsigned char)b[0]) || !isalnum((unsigned char)b[n - 1]))
		return 0;
	for (size_t i = 0; i + 1 < n; i++)
		if (b[i] == '.' && (b[i + 1] == '.' || b[i + 1] == '-'))
			return 0;
		else if (b[i] == '-' && b[i + 1] == '.')
			return 0;
	return 1;
}

/* %XX decoded copy of s[0..n) into out; -1 when bad or too long. */
static int pct_decode(char *out, size_t cap, const char *s, size_t n)
{
	size_t o = 0;

	for (size_t i = 0; i < n; i++) {
		int c = (unsigned char)s[i];

		if (c == '%') {
			char hx[3];

			if (i + 2 >= n || !isxdigit((unsigned char)s[i + 1]) ||
			    !isxdigit((unsigned char)s[i + 2]))
				return -1;
			hx[0] = s[i + 1];
			hx[1] = s[i + 2];
			hx[2] = '\0';
			c = (int)strtol(hx, NULL, 16);
			i += 2;
		}
		if (!c || o + 1 >= cap)
			return -1;
		out[o++] = (char)c;
	}
	out[o] = '\0';
	return 0;
}

static int copy_str(char *out, size_t cap, const char *s)
{
	size_t n = strlen(s);

	if (n >= cap)
		return -1;
	memcpy(out, s, n + 1);
	return 0;
}

/* "1048576", "64M", "5MiB", "1G": bytes; -1 when not such a size. */
static int parse_size(uint64_t *out, const char *s)
{
	char *end;
	unsigned long long x;
	uint64_t mul = 1;

	if (!isdigit((unsigned char)s[0]))
		return -1;
	errno = 0;
	x = strtoull(s, &end, 10);
	if (errno)
		return -1;
	if (*end == 'k' || *end == 'K')
		mul = 1024;
	else if (*end == 'm' || *end == 'M')
		mul = MIB;
	else if (*end == 'g' || *end == 'G')
		mul = 1024 * MIB;
	else if (*end)
		return -1;
	if (*end) {
		end++;
		if (!strcmp(end, "iB") || !strcmp(end, "B"))
			end += strlen(end);
		if (*end)
			return -1;
	}
	if (x > UINT64_MAX / mul)
		return -1;
	*out = x * mul;
	return 0;
}

static void trim(char *s)
{
	size_t n = strlen(s), i = 0;

	while (n && isspace((unsigned char)s[n - 1]))
		s[--n] = '\0';
	while (isspace((unsigned char)s[i]))
		i++;
	memmove(s, s + i, n - i + 1);
}

/* The profile's keys from an AWS credentials file. 0 found, 1 no such
 * profile or keys, negative on a read error. */
static int creds_file(struct s3_config *c, const char *path,
		      const char *profile, struct err *err)
{
	FILE *f = fopen(path, "r");
	char line[4096], sect[256] = "";
	int found = 0, lines = 0;
	struct stat st;

	if (!f)
		return errno == ENOENT
			   ? 1
			   : err_set(err, ERR_INVALID, "s3 credentials %s: %s",
				     path, strerror(errno));
	if (fstat(fileno(f), &st) || st.st_size > (off_t)CRED_FILE_MAX) {
		fclose(f);
		return err_set(err, ERR_INVALID,
			       "s3 credentials %s: not a credentials file",
			       path);
	}
	while (fgets(line, sizeof(line), f) && lines++ < 100000) {
		char *eq;

		trim(line);
		if (!line[0] || line[0] == '#' || line[0] == ';')
			continue;
		if (line[0] == '[') {
			char *rb = strchr(line, ']');

			if (!rb)
				continue;
			*rb = '\0';
			snprintf(sect, sizeof(sect), "%s", line + 1);
			trim(sect);
			/* config-file style "[profile NAME]" */
			if (!strncmp(sect, "profile ", 8))
				memmove(sect, sect + 8, strlen(sect + 8) + 1);
			trim(sect);
			continue;
		}
		if (strcmp(sect, profile) || !(eq = strchr(line, '=')))
			continue;
		*eq = '\0';
		trim(line);
		trim(eq + 1);
		if (!strcasecmp(line, "aws_access_key_id")) {
			if (copy_str(c->access_key, sizeof(c->access_key),
				     eq + 1))
				goto toolong;
			found |= 1;
		} else if (!strcasecmp(line, "aws_secret_access_key")) {
			if (copy_str(c->secret_key, sizeof(c->secret_key),
				     eq + 1))
				goto toolong;
			found |= 2;
		} else if (!strcasecmp(line, "aws_session_token")) {
			if (copy_str(c->session_token, sizeof(c->session_token),
				     eq + 1))
				goto toolong;
		}
	}
	fclose(f);
	return found == 3 ? 0 : 1;
toolong:
	fclose(f);
	return err_set(err, ERR_INVALID, "s3 credentials %s: a value too long",
		       path);
}

static int credentials(struct s3_config *c, struct err *err)
{
	const char *ak = getenv("AWS_ACCESS_KEY_ID");
	const char *sk = getenv("AWS_SECRET_ACCESS_KEY");
	const char *tok = getenv("AWS_SESSION_TOKEN");
	const char *file = getenv("AWS_SHARED_CREDENTIALS_FILE");
	const char *profile = getenv("AWS_PROFILE");
	const char *home = getenv("HOME");
	char path[1024];
	int rc;

	if (ak && *ak && sk && *sk) {
		if (copy_str(c->access_key, sizeof(c->access_key), ak) ||
		    copy_str(c->secret_key, sizeof(c->secret_key), sk) ||
		    copy_str(c->session_token, sizeof(c->session_token),
			     tok ? tok : ""))
			return err_set(err, ERR_INVALID,
				       "s3 %s: credentials in the environment "
				       "too long",
				       c->bucket);
		return 0;
	}
	if (!profile || !*profile)
		profile = "default";
	if (file && *file)
		snprintf(path, sizeof(path), "%s", file);
	else if (home && *home)
		snprintf(path, sizeof(path), "%s/.aws/credentials", home);
	else
		path[0] = '\0';
	rc = path[0] ? creds_file(c, path, profile, err) : 1;
	if (rc < 0)
		return rc;
	if (rc)
		return err_set(err, ERR_INVALID,
			       "s3 %s: no credentials (AWS_ACCESS_KEY_ID and "
			       "AWS_SECRET_ACCESS_KEY, or profile %s in %s)",
			       c->bucket, profile, path[0] ? path : "none");
	return 0;
}

static int endpoint_ok(const char *e)
{
	const char *h = !strncmp(e, "http://", 7)    ? e + 7
			: !strncmp(e, "https://", 8) ? e + 8
						     : NULL;

	if (!h || !*h)
		return 0;
	for (; *h; h++)
		if (!(isalnum((unsigned char)*h) || strchr(".-:[]_", *h)))
			return 0;
	return 1;
}

int s3_config_parse(struct s3_config *out, const char *url, struct err *err)
{
	struct s3_config c;
	const char *p, *q, *slash, *env;
	char shown[300], val[2048];
	size_t n;
	int rc;

	memset(&c, 0, sizeof(c));
	c.tls_verify = 1;
	c.lease = 30;
	c.stale = 86400;
	c.multipart = MULTIPART_DEFAULT;
	c.part_size = PART_DEFAULT;
	err_shown(shown, sizeof(shown), url ? url : "", url ? strlen(url) : 0);
	if (!url || strncmp(url, "s3://", 5))
		return err_set(err, ERR_INVALID, "store %s: not an s3:// URL",
			       shown);
	p = url + 5;
	q = strchr(p, '?');
	n = q ? (size_t)(q - p) : strlen(p);
	slash = memchr(p, '/', n);
	if (!valid_bucket(p, slash ? (size_t)(slash - p) : n))
		return err_set(err, ERR_INVALID,
			       "store %s: bad bucket name (3 to 63 of a-z 0-9 "
			       ". -)",
			       shown);
	memcpy(c.bucket, p, slash ? (size_t)(slash - p) : n);
	if (slash) {
		const char *s = slash, *e = p + n, *seg;

		while (s < e && *s == '/')
			s++;
		while (e > s && e[-1] == '/')
			e--;
		if ((size_t)(e - s) >= sizeof(c.prefix))
			return err_set(err, ERR_INVALID,
				       "store %s: prefix too long", shown);
		memcpy(c.prefix, s, (size_t)(e - s));
		for (seg = c.prefix; *seg;) {
			const char *sl = strchr(seg, '/');
			size_t l = sl ? (size_t)(sl - seg) : strlen(seg);

			if (!l || (l == 2 && !memcmp(seg, "..", 2)) ||
			    (l == 1 && seg[0] == '.'))
				return err_set(err, ERR_INVALID,
					       "store %s: bad prefix (empty, "
					       "'.' or '..' segment)",
					       shown);
			seg += l + (sl ? 1 : 0);
		}
		for (seg = c.prefix; *seg; seg++)
			if ((unsigned char)*seg < 0x20 || *seg == 0x7f ||
			    *seg == '\\')
				return err_set(err, ERR_INVALID,
					       "store %s: bad prefix", shown);
	}
	for (p = q ? q + 1 : NULL; p && *p;) {
		const char *amp = strchr(p, '&'), *eq;
		size_t l = amp ? (size_t)(amp - p) : strlen(p), kl;
		char key[32];

		eq = memchr(p, '=', l);
		kl = eq ? (size_t)(eq - p) : l;
		if (!l) {
			p = amp ? amp + 1 : NULL;
			continue;
		}
		if (kl >= sizeof(key) || !eq ||
		    pct_decode(val, sizeof(val), eq + 1, l - kl - 1)) {
			err_shown(key, sizeof(key), p, kl);
			return err_set(err, ERR_INVALID,
				       "store %s: bad parameter %s", shown,
				       key);
		}
		memcpy(key, p, kl);
		key[kl] = '\0';
		if (!strcmp(key, "endpoint")) {
			n = strlen(val);
			while (n && val[n - 1] == '/')
				val[--n] = '\0';
			if (!endpoint_ok(val) ||
			    copy_str(c.endpoint, sizeof(c.endpoint), val))
				return err_set(err, ERR_INVALID,
					       "store %s: bad endpoint (want "
					       "http[s]://host[:port])",
					       shown);
		} else if (!strcmp(key, "region")) {
			if (!val[0] ||
			    copy_str(c.region, sizeof(c.region), val))
				return err_set(err, ERR_INVALID,
					       "store %s: bad region", shown);
		} else if (!strcmp(key, "lease")) {
			uint64_t x;

			if (parse_size(&x, val) || !x || x > 86400 ||
			    !isdigit((unsigned char)val[strlen(val) - 1]))
				return err_set(err, ERR_INVALID,
					       "store %s: bad lease (1 to "
					       "86400 seconds)",
					       shown);
			c.lease = (unsigned)x;
		} else if (!strcmp(key, "stale")) {
			uint64_t x;

			if (parse_size(&x, val) || x > 31536000 ||
			    !isdigit((unsigned char)val[strlen(val) - 1]))
				return err_set(err, ERR_INVALID,
					       "store %s: bad stale (0 to "
					       "31536000 seconds)",
					       shown);
			c.stale = (unsigned)x;
		} else if (!strcmp(key, "multipart")) {
			uint64_t x;

			if (parse_size(&x, val) || x < PART_MIN ||
			    x > 5 * 1024 * MIB)
				return err_set(err, ERR_INVALID,
					       "store %s: bad multipart size "
					       "(5 MiB to 5 GiB)",
					       shown);
			c.multipart = x;
		} else if (!strcmp(key, "ca")) {
			if (!val[0] ||
			    copy_str(c.ca_file, sizeof(c.ca_file), val))
				return err_set(err, ERR_INVALID,
					       "store %s: bad ca file", shown);
		} else if (!strcmp(key, "tls_verify")) {
			if (!strcmp(val, "false") || !strcmp(val, "0"))
				c.tls_verify = 0;
			else if (!strcmp(val, "true") || !strcmp(val, "1"))
				c.tls_verify = 1;
			else
				return err_set(err, ERR_INVALID,
					       "store %s: tls_verify is true "
					       "or false",
					       shown);
		} else {
			err_shown(val, sizeof(val), key, strlen(key));
			return err_set(err, ERR_INVALID,
				       "store %s: unknown parameter %s", shown,
				       val);
		}
		p = amp ? amp + 1 : NULL;
	}
	if (!c.region[0]) {
		env = getenv("AWS_REGION");
		if (!env || !*env)
			env = getenv("AWS_DEFAULT_REGION");
		if (copy_str(c.region, sizeof(c.region),
			     env && *env ? env : "us-east-1"))
			return err_set(err, ERR_INVALID, "store %s: bad region",
				       shown);
	}
	for (const char *r = c.region; *r; r++)
		if (!isalnum((unsigned char)*r) && *r != '-' && *r != '_')
			return err_set(err, ERR_INVALID, "store %s: bad region",
				       shown);
	if (!c.endpoint[0]) {
		env = getenv("AWS_ENDPOINT_URL_S3");
		if (!env || !*env)
			env = getenv("AWS_ENDPOINT_URL");
		if (env && *env) {
			snprintf(val, sizeof(val), "%s", env);
			n = strlen(val);
			while (n && val[n - 1] == '/')
				val[--n] = '\0';
		} else {
			snprintf(val, sizeof(val),
				 "https://s3.%s.amazonaws.com", c.region);
		}
		if (!endpoint_ok(val) ||
		    copy_str(c.endpoint, sizeof(c.endpoint), val))
			return err_set(err, ERR_INVALID,
				       "store %s: bad endpoint from the "
				       "environment",
				       shown);
	}
	if (c.multipart > c.part_size && c.part_size < c.multipart / 4)
		c.part_size = c.multipart / 4;
	rc = credentials(&c, err);
	if (rc)
		return rc;
	*out = c;
	return 0;
}

/* --- the client --- */

int s3c_open(struct s3c **out, const struct s3_config *cfg, struct err *err)
{
	struct s3c *c;
	const char *h;

	*out = NULL;
	if (!endpoint_ok(cfg->endpoint) || !cfg->bucket[0] || !cfg->region[0] ||
	    !cfg->access_key[0] || !cfg->secret_key[0])
		return err_set(err, ERR_INVALID,
			       "s3 %s: incomplete configuration", cfg->bucket);
	c = calloc(1, sizeof(*c));
	if (!c)
		return err_set(err, ERR_FAIL, "s3 %s: out of memory",
			       cfg->bucket);
	/* reference-counted by libcurl: paired in s3c_close */
	if (curl_global_init(CURL_GLOBAL_DEFAULT)) {
		free(c);
		return err_set(err, ERR_FAIL, "s3 %s: cannot start libcurl",
			       cfg->bucket);
	}
	c->cfg = *cfg;
	if (!c->cfg.multipart)
		c->cfg.multipart = MULTIPART_DEFAULT;
	if (!c->cfg.part_size)
		c->cfg.part_size = PART_DEFAULT;
	if (!c->cfg.lease)
		c->cfg.lease = 30;
	h = strstr(cfg->endpoint, "://") + 3;
	snprintf(c->host, sizeof(c->host), "%s", h);
	pthread_mutex_init(&c->mu, NULL);
	*out = c;
	return 0;
}

void s3c_close(struct s3c *c)
{
	if (!c)
		return;
	for (int i = 0; i < c->n_idle; i++)
		curl_easy_cleanup(c->idle[i]);
	pthread_mutex_destroy(&c->mu);
	OPENSSL_cleanse(c->cfg.secret_key, sizeof(c->cfg.secret_key));
	free(c);
	curl_global_cleanup();
}

const struct s3_config *s3c_config(const struct s3c *c)
{
	return &c->cfg;
}

void s3c_set_max_keys(struct s3c *c, unsigned n)
{
	c->max_keys = n > 1000 ? 1000 : n;
}

int s3c_bucket_exists(struct s3c *c, struct err *err)
{
	struct rq r = {.method = "HEAD"};
	int rc = perform(c, &r, err);

	if (!rc)
		return 1;
	if (rc == ERR_NOT_FOUND) {
		err_clear(err);
		return 0;
	}
	return rc;
}

/* PUT /BUCKET with body; *status_out the answer's status */
static int bucket_put(long *status_out, struct s3c *c, const char *body,
		      struct err *err)
{
	char hash[S3_SHA256_HEX];
	struct buf out;
	struct rq r = {.method = "PUT", .sink = SINK_BUF, .out = &out};
	int rc;

	s3sign_sha256_hex(hash, body, strlen(body));
	r.body = body;
	r.body_len = strlen(body);
	r.has_body = 1;
	r.payload_hash = hash;
	buf_init(&out, SMALL_MAX);
	rc = perform(c, &r, err);
	buf_release(&out);
	*status_out = r.status;
	return rc;
}

int s3c_bucket_create(struct s3c *c, struct err *err)
{
	char body[512];
	struct err e;
	long status;
	int rc;

	body[0] = '\0';
	if (strcmp(c->cfg.region, "us-east-1"))
		snprintf(body, sizeof(body),
			 "<CreateBucketConfiguration xmlns=\"http://s3."
			 "amazonaws.com/doc/2006-03-01/\"><LocationConstraint>"
			 "%s</LocationConstraint></CreateBucketConfiguration>",
			 c->cfg.region);
	err_clear(&e);
	rc = bucket_put(&status, c, body, &e);
	/* RGW knows only its zonegroup's name there (and takes any region
	 * in a signature): the bucket goes to its default zonegroup */
	if (rc && status == 400 && body[0] &&
	    strstr(e.msg, " InvalidLocationConstraint"))
		rc = bucket_put(&status, c, "", &e);
	if (rc && status == 409) {
		struct err e2;

		/* ours already (RGW may say BucketAlreadyExists for it) */
		if (s3c_bucket_exists(c, &e2) == 1)
			rc = 0;
	}
	if (rc && err)
		*err = e;
	else
		err_clear(err);
	return rc;
}

static void head_fill(struct s3_head *h, const struct rq *r)
{
	if (!h)
		return;
	h->size = r->clen;
	h->mtime = r->mtime;
	snprintf(h->etag, sizeof(h->etag), "%s", r->etag);
}

int s3c_head(struct s3_head *out, struct s3c *c, const char *key,
	     struct err *err)
{
	char name[NAME_MAX_LEN + 1];
	struct rq r = {.method = "HEAD", .name = name};
	int rc = full_name(name, sizeof(name), c, key, err);

	if (rc)
		return rc;
	rc = perform(c, &r, err);
	if (!rc)
		head_fill(out, &r);
	return rc;
}

int s3c_get(char **out, size_t *len_out, struct s3_head *out_head,
	    struct s3c *c, const char *key, size_t max, struct err *err)
{
	char name[NAME_MAX_LEN + 1];
	struct buf b;
	struct rq r = {
	    .method = "GET", .name = name, .sink = SINK_BUF, .out = &b};
	int rc = full_name(name, sizeof(name), c, key, err);

	*out = NULL;
	if (len_out)
		*len_out = 0;
	if (rc)
		return rc;
	buf_init(&b, max);
	rc = perform(c, &r, err);
	if (rc) {
		buf_release(&b);
		return rc;
	}
	head_fill(out_head, &r);
	if (out_head)
		out_head->size = (int64_t)b.len;
	*out = buf_detach(&b, len_out);
	if (!*out)
		return err_set(err, ERR_FAIL, "s3 %s/%s: out of memory",
			       c->cfg.bucket, name);
	return 0;
}

int s3c_get_range(size_t *got_out, struct s3c *c, const char *key, uint64_t off,
		  void *buf, size_t len, struct err *err)
{
	char name[NAME_MAX_LEN + 1], range[64], w[700];
	struct rq r = {.method = "GET",
		       .name = name,
		       .sink = SINK_MEM,
		       .mem = buf,
		       .mem_len = len,
		       .mem_skip = off};
	unsigned long long from;
	int rc = full_name(name, sizeof(name), c, key, err);

	*got_out = 0;
	if (rc || !len)
		return rc;
	if (off > INT64_MAX || len > INT64_MAX - off)
		return 0; /* past any object's end */
	snprintf(range, sizeof(range), "bytes=%" PRIu64 "-%" PRIu64, off,
		 off + len - 1);
	r.extra[0][0] = "Range";
	r.extra[0][1] = range;
	r.n_extra = 1;
	rc = perform(c, &r, err);
	if (rc && r.status == 416) {
		err_clear(err);
		return 0;
	}
	if (rc)
		return rc;
	if (r.status == 206 &&
	    (sscanf(r.crange, "bytes %llu-", &from) != 1 || from != off)) {
		what(w, sizeof(w), c, name);
		return err_set(err, ERR_FAIL, "%s: GET: a range from %s", w,
			       r.crange[0] ? r.crange : "nowhere");
	}
	*got_out = r.got;
	return 0;
}

int s3c_get_to_fd(int64_t *size_out, struct s3c *c, const char *key, int fd,
		  struct err *err)
{
	char name[NAME_MAX_LEN + 1];
	struct rq r = {
	    .method = "GET", .name = name, .sink = SINK_FD, .out_fd = fd};
	int rc = full_name(name, sizeof(name), c, key, err);

	*size_out = 0;
	if (rc)
		return rc;
	rc = perform(c, &r, err);
	if (!rc)
		*size_out = r.written;
	return rc;
}

/* If-Match goes without the ETag's quotes: RGW (16) matches a PUT's
 * If-Match only so (a quoted one never matches there). */
static int cond_headers(struct rq *r, const struct s3_cond *cond)
{
	if (!cond)
		return 0;
	if (cond->if_none_match) {
		r->extra[r->n_extra][0] = "If-None-Match";
		r->extra[r->n_extra++][1] = cond->if_none_match;
	}
	if (cond->if_match) {
		const char *m = cond->if_match;
		size_t n = strlen(m);

		if (n >= 2 && m[0] == '"' && m[n - 1] == '"') {
			m++;
			n -= 2;
		}
		if (n >= sizeof(r->if_match))
			return -1;
		memcpy(r->if_match, m, n);
		r->if_match[n] = '\0';
		r->extra[r->n_extra][0] = "If-Match";
		r->extra[r->n_extra++][1] = r->if_match;
	}
	return 0;
}

int s3c_put(struct s3c *c, const char *key, const void *body, size_t len,
	    const struct s3_cond *cond, char *etag_out, struct err *err)
{
	char name[NAME_MAX_LEN + 1], hash[S3_SHA256_HEX];
	struct rq r = {.method = "PUT", .name = name};
	int rc = full_name(name, sizeof(name), c, key, err);

	if (rc)
		return rc;
	s3sign_sha256_hex(hash, body ? body : "", body ? len : 0);
	r.body = body ? body : "";
	r.body_len = body ? len : 0;
	r.has_body = 1;
	r.payload_hash = hash;
	if (cond_headers(&r, cond))
		return err_set(err, ERR_INVALID, "s3 %s/%s: PUT: bad If-Match",
			       c->cfg.bucket, name);
	rc = perform(c, &r, err);
	if (!rc && etag_out)
		snprintf(etag_out, 128, "%s", r.etag);
	return rc;
}

/* --- multipart --- */

static int upload_start(char *id_out, size_t id_size, struct s3c *c,
			const char *name, struct err *err)
{
	struct buf out;
	struct rq r = {.method = "POST",
		       .name = name,
		       .query = "uploads",
		       .sink = SINK_BUF,
		       .out = &out,
		       .has_body = 1,
		       .body = ""};
	char w[700];
	int rc;

	buf_init(&out, SMALL_MAX);
	rc = perform(c, &r, err);
	if (!rc && (xml_get(id_out, id_size, out.data, out.data + out.len,
			    "UploadId") ||
		    !id_out[0])) {
		what(w, sizeof(w), c, name);
		rc = err_set(err, ERR_FAIL,
			     "%s: POST: no UploadId in the answer", w);
	}
	buf_release(&out);
	return rc;
}

static int upload_abort(struct s3c *c, const char *name, const char *id,
			struct err *err)
{
	char *eid = s3sign_uri_encode(id, 1), q[2048];
	struct rq r = {.method = "DELETE", .name = name, .query = q};
	int rc;

	if (!eid)
		return err_set(err, ERR_FAIL, "s3: out of memory");
	snprintf(q, sizeof(q), "uploadId=%s", eid);
	free(eid);
	rc = perform(c, &r, err);
	return rc;
}

/* XML text with & < > " escaped */
static int xml_escape(struct buf *b, const char *s)
{
	int rc = 0;

	for (; *s && !rc; s++)
		switch (*s) {
		case '&': rc = buf_puts(b, "&amp;"); break;
		case '<': rc = buf_puts(b, "&lt;"); break;
		case '>': rc = buf_puts(b, "&gt;"); break;
		case '"': rc = buf_puts(b, "&quot;"); break;
		default: rc = buf_append(b, s, 1);
		}
	return rc;
}

static int complete_landed(struct s3c *c, const char *name, uint64_t len)
{
	struct rq r = {.method = "HEAD", .name = name};
	struct err e;

	return !perform(c, &r, &e) && r.clen >= 0 && (uint64_t)r.clen == len;
}

/* One multipart upload's parts, put by up to PUT_WORKERS threads at once
 * (the caller's among them): each takes the next part number, hashes that
 * part (pread) and PUTs it streamed from the fd (no part buffers), on a
 * handle of the pool; perform() retries it as any request. The first
 * failure stops the others from taking more parts. */
struct parts {
	struct s3c *c;
	const char *name, *eid, *w;
	int fd;
	uint64_t off, len, ps, nparts;
	char (*etags)[128];
	pthread_mutex_t mu;
	uint64_t next; /* under mu */
	int rc;	       /* under mu: the first failure */
	struct err err;
};

static int part_put(struct parts *p, uint64_t i, struct err *err)
{
	uint64_t poff = p->off + i * p->ps,
		 plen = min_u64(p->ps, p->len - i * p->ps);
	char hash[S3_SHA256_HEX], q[2200];
	struct rq r = {.method = "PUT",
		       .name = p->name,
		       .query = q,
		       .body_fd = p->fd,
		       .body_off = poff,
		       .body_len = plen,
		       .has_body = 1,
		       .payload_hash = hash};
	int rc = hash_fd(hash, p->fd, poff, plen, p->w, err);

	if (rc)
		return rc;
	snprintf(q, sizeof(q), "partNumber=%" PRIu64 "&uploadId=%s", i + 1,
		 p->eid);
	rc = perform(p->c, &r, err);
	if (rc)
		return rc;
	if (!r.etag[0])
		return err_set(err, ERR_FAIL,
			       "%s: PUT: part %" PRIu64 " without an ETag",
			       p->w, i + 1);
	memcpy(p->etags[i], r.etag, sizeof(p->etags[i]));
	return 0;
}

static void *parts_work(void *arg)
{
	struct parts *p = arg;
	struct err e;

	for (uint64_t n = 0; n < p->nparts; n++) {
		uint64_t i;
		int rc;

		pthread_mutex_lock(&p->mu);
		i = p->next < p->nparts && !p->rc ? p->next++ : p->nparts;
		pthread_mutex_unlock(&p->mu);
		if (i >= p->nparts)
			break;
		rc = part_put(p, i, &e);
		if (rc) {
			pthread_mutex_lock(&p->mu);
			if (!p->rc) {
				p->rc = rc;
				p->err = e;
			}
			pthread_mutex_unlock(&p->mu);
			break;
		}
	}
	return NULL;
}

static int parts_put(struct parts *p, struct err *err)
{
	pthread_t th[PUT_WORKERS - 1];
	uint64_t want = min_u64(p->nparts, PUT_WORKERS);
	int nth = 0;

	pthread_mutex_init(&p->mu, NULL);
	p->next = 0;
	p->rc = 0;
	/* fewer threads when some cannot start: the caller's always works */
	while ((uint64_t)nth + 1 < want &&
	       !pthread_create(&th[nth], NULL, parts_work, p))
		nth++;
	parts_work(p);
	for (int i = 0; i < nth; i++)
		pthread_join(th[i], NULL);
	pthread_mutex_destroy(&p->mu);
	if (p->rc)
		*err = p->err;
	return p->rc;
}

static int multipart(struct s3c *c, const char *name, int fd, uint64_t off,
		     uint64_t len, struct err *err)
{
	char id[1024], *eid = NULL, w[700], q[2200], hash[S3_SHA256_HEX];
	uint64_t ps = c->cfg.part_size, nparts;
	char(*etags)[128] = NULL;
	struct buf xml, out;
	struct err e2;
	int rc;

	what(w, sizeof(w), c, name);
	if (ps < 1)
		ps = PART_DEFAULT;
	if ((len + ps - 1) / ps > PARTS_MAX)
		ps = (len + PARTS_MAX - 1) / PARTS_MAX;
	nparts = (len + ps - 1) / ps;
	buf_init(&xml, (size_t)nparts * 300 + 1024);
	buf_init(&out, SMALL_MAX);
	rc = upload_start(id, sizeof(id), c, name, err);
	if (rc)
		goto out;
	etags = calloc((size_t)nparts, sizeof(*etags));
	eid = s3sign_uri_encode(id, 1);
	if (!etags || !eid) {
		rc = err_set(err, ERR_FAIL, "%s: out of memory", w);
		goto abort;
	}
	{
		struct parts p = {.c = c,
				  .name = name,
				  .eid = eid,
				  .w = w,
				  .fd = fd,
				  .off = off,
				  .len = len,
				  .ps = ps,
				  .nparts = nparts,
				  .etags = etags};

		rc = parts_put(&p, err);
		if (rc)
			goto abort;
	}
	rc = buf_puts(&xml, "<CompleteMultipartUpload>");
	for (uint64_t i = 0; i < nparts && !rc; i++) {
		rc = buf_printf(
		    &xml, "<Part><PartNumber>%" PRIu64 "</PartNumber><ETag>",
		    i + 1);
		if (!rc)
			rc = xml_escape(&xml, etags[i]);
		if (!rc)
			rc = buf_puts(&xml, "</ETag></Part>");
	}
	if (!rc)
		rc = buf_puts(&xml, "</CompleteMultipartUpload>");
	if (rc) {
		rc = err_set(err, ERR_FAIL, "%s: out of memory", w);
		goto abort;
	}
	s3sign_sha256_hex(hash, xml.data, xml.len);
	snprintf(q, sizeof(q), "uploadId=%s", eid);
	{
		struct rq r = {.method = "POST",
			       .name = name,
			       .query = q,
			       .body = xml.data,
			       .body_len = xml.len,
			       .has_body = 1,
			       .payload_hash = hash,
			       .sink = SINK_BUF,
			       .out = &out};

		rc = perform(c, &r, err);
		if (!rc)
			rc = body_error(c, &r, err);
	}
	/* NoSuchUpload after a retry: an attempt whose answer was lost
	 * completed it */
	if (rc == ERR_NOT_FOUND && complete_landed(c, name, len))
		rc = 0;
	if (!rc)
		goto out;
abort:
	upload_abort(c, name, id, &e2);
	/* an upload gone under us (NoSuchUpload: aborted by a gc) is a
	 * failure of this put, never "not found" */
	if (rc == ERR_NOT_FOUND) {
		char why[ERR_MSG_MAX];

		snprintf(why, sizeof(why), "%s", err ? err->msg : "");
		rc = err_set(err, ERR_FAIL, "multipart upload vanished: %s",
			     why);
	}
out:
	free(etags);
	free(eid);
	buf_release(&xml);
	buf_release(&out);
	return rc;
}

int s3c_put_fd(struct s3c *c, const char *key, int fd, uint64_t off,
	       uint64_t len, const char *sha256_hex, struct err *err)
{
	char name[NAME_MAX_LEN + 1], hash[S3_SHA256_HEX], w[700];
	struct rq r = {.method = "PUT",
		       .name = name,
		       .body_fd = fd,
		       .body_off = off,
		       .body_len = len,
		       .has_body = 1,
		       .payload_hash = hash};
	int rc = full_name(name, sizeof(name), c, key, err);

	if (rc)
		return rc;
	what(w, sizeof(w), c, name);
	if (sha256_hex && !is_hex64(sha256_hex))
		return err_set(err, ERR_INVALID, "%s: PUT: bad SHA-256 given",
			       w);
	if (len >= c->cfg.multipart && len > 0) {
		/* the parts are each checked by the object store against their
		 * own hashes; the whole against the caller's here, before any
		 * part goes up (one more local read) */
		if (sha256_hex) {
			rc = hash_fd(hash, fd, off, len, w, err);
			if (rc)
				return rc;
			if (strcmp(hash, sha256_hex))
				return err_set(err, ERR_DIGEST,
					       "%s: PUT: the bytes hash to "
					       "%s, not %s",
					       w, hash, sha256_hex);
		}
		return multipart(c, name, fd, off, len, err);
	}
	if (sha256_hex) {
		memcpy(hash, sha256_hex, S3_SHA256_HEX);
	} else {
		rc = hash_fd(hash, fd, off, len, w, err);
		if (rc)
			return rc;
	}
	return perform(c, &r, err);
}

int s3c_copy(struct s3c *c, const char *src, const char *dst, struct err *err)
{
	char sname[NAME_MAX_LEN + 1], dname[NAME_MAX_LEN + 1], hdr[4096];
	char *enc;
	struct buf out;
	struct rq r = {.method = "PUT",
		       .name = dname,
		       .has_body = 1,
		       .body = "",
		       .sink = SINK_BUF,
		       .out = &out};
	int rc = full_name(sname, sizeof(sname), c, src, err);

	if (!rc)
		rc = full_name(dname, sizeof(dname), c, dst, err);
	if (rc)
		return rc;
	enc = s3sign_uri_encode(sname, 0);
	if (!enc)
		return err_set(err, ERR_FAIL, "s3: out of memory");
	snprintf(hdr, sizeof(hdr), "/%s/%s", c->cfg.bucket, enc);
	free(enc);
	r.extra[0][0] = "x-amz-copy-source";
	r.extra[0][1] = hdr;
	r.n_extra = 1;
	buf_init(&out, SMALL_MAX);
	rc = perform(c, &r, err);
	if (!rc)
		rc = body_error(c, &r, err);
	buf_release(&out);
	return rc;
}

int s3c_delete(struct s3c *c, const char *key, const struct s3_cond *cond,
	       struct err *err)
{
	char name[NAME_MAX_LEN + 1];
	struct rq r = {.method = "DELETE", .name = name};
	int rc = full_name(name, sizeof(name), c, key, err);

	if (rc)
		return rc;
	if (cond_headers(&r, cond))
		return err_set(err, ERR_INVALID,
			       "s3 %s/%s: DELETE: bad If-Match", c->cfg.bucket,
			       name);
	rc = perform(c, &r, err);
	if (rc == ERR_NOT_FOUND) {
		err_clear(err);
		return 0;
	}
	return rc;
}

/* --- lists --- */

/* "PREFIX/" + rel (or rel alone at the root) */
static int list_prefix(char *out, size_t size, const struct s3c *c,
		       const char *rel)
{
	int n = snprintf(out, size, "%s%s%s", c->cfg.prefix,
			 c->cfg.prefix[0] ? "/" : "", rel ? rel : "");

	return n < 0 || (size_t)n >= size ? -1 : 0;
}

static int add_pair(struct buf *b, const char *name, const char *value)
{
	char *enc = s3sign_uri_encode(value, 1);
	int rc;

	if (!enc)
		return -1;
	rc = buf_printf(b, "%s%s=%s", b->len ? "&" : "", name, enc);
	free(enc);
	return rc;
}

int s3c_list(struct s3c *c, const char *prefix, const char *delim,
	     s3_list_fn cb, void *ctx, struct err *err)
{
	char full[NAME_MAX_LEN + 1], token[2048], prev[2048], w[700];
	char key[NAME_MAX_LEN * 2], num[32], date[64];
	size_t fl;
	struct buf out, q;
	int rc = 0, stop = 0;

	what(w, sizeof(w), c, NULL);
	if (list_prefix(full, sizeof(full), c, prefix))
		return err_set(err, ERR_INVALID, "%s: list: prefix too long",
			       w);
	fl = strlen(full);
	token[0] = '\0';
	buf_init(&out, LIST_MAX);
	buf_init(&q, 16384);
	for (int page = 0; page < PAGES_MAX && !stop; page++) {
		struct rq r = {.method = "GET", .sink = SINK_BUF, .out = &out};
		const char *p, *end, *v;
		size_t vn;
		char more[16];

		buf_release(&q);
		buf_init(&q, 16384);
		if ((token[0] && add_pair(&q, "continuation-token", token)) ||
		    (delim && add_pair(&q, "delimiter", delim)) ||
		    add_pair(&q, "list-type", "2") ||
		    (c->max_keys &&
		     (snprintf(more, sizeof(more), "%u", c->max_keys),
		      add_pair(&q, "max-keys", more))) ||
		    add_pair(&q, "prefix", full)) {
			rc = err_set(err, ERR_FAIL, "%s: list: out of memory",
				     w);
			break;
		}
		r.query = q.data;
		rc = perform(c, &r, err);
		if (rc)
			break;
		p = out.data;
		end = out.data + out.len;
		while (!stop && xml_next(&p, end, "Contents", &v, &vn)) {
			long long size = -1;
			char *e;

			if (xml_get(key, sizeof(key), v, v + vn, "Key") ||
			    strncmp(key, full, fl) || !key[fl])
				continue;
			if (!xml_get(num, sizeof(num), v, v + vn, "Size")) {
				errno = 0;
				size = strtoll(num, &e, 10);
				if (errno || *e || size < 0)
					size = -1;
			}
			xml_get(date, sizeof(date), v, v + vn, "LastModified");
			stop = cb(ctx, key + fl, size, iso8601(date));
		}
		p = out.data;
		while (!stop && xml_next(&p, end, "CommonPrefixes", &v, &vn)) {
			if (xml_get(key, sizeof(key), v, v + vn, "Prefix") ||
			    strncmp(key, full, fl) || !key[fl])
				continue;
			stop = cb(ctx, key + fl, -1, 0);
		}
		if (stop)
			break;
		xml_get(more, sizeof(more), out.data, end, "IsTruncated");
		if (strcmp(more, "true"))
			break;
		snprintf(prev, sizeof(prev), "%s", token);
		if (xml_get(token, sizeof(token), out.data, end,
			    "NextContinuationToken") ||
		    !token[0] || !strcmp(prev, token)) {
			rc = err_set(err, ERR_FAIL,
				     "%s: list: truncated without a new "
				     "continuation token",
				     w);
			break;
		}
	}
	buf_release(&out);
	buf_release(&q);
	return rc;
}

int s3c_uploads_list(struct s3c *c, const char *prefix, s3_upload_fn cb,
		     void *ctx, struct err *err)
{
	char full[NAME_MAX_LEN + 1], kmark[NAME_MAX_LEN * 2], umark[1024];
	char key[NAME_MAX_LEN * 2], id[1024], date[64], w[700];
	char pk[NAME_MAX_LEN * 2], pu[1024];
	size_t sl = strlen(c->cfg.prefix) + (c->cfg.prefix[0] ? 1 : 0);
	struct buf out, q;
	int rc = 0, stop = 0;

	what(w, sizeof(w), c, NULL);
	if (list_prefix(full, sizeof(full), c, prefix))
		return err_set(err, ERR_INVALID, "%s: uploads: prefix too long",
			       w);
	kmark[0] = umark[0] = '\0';
	buf_init(&out, LIST_MAX);
	buf_init(&q, 16384);
	for (int page = 0; page < PAGES_MAX && !stop; page++) {
		struct rq r = {.method = "GET", .sink = SINK_BUF, .out = &out};
		const char *p, *end, *v;
		size_t vn;
		char more[16];

		buf_release(&q);
		buf_init(&q, 16384);
		if (buf_puts(&q, "uploads") ||
		    (kmark[0] && add_pair(&q, "key-marker", kmark)) ||
		    (c->max_keys &&
		     (snprintf(more, sizeof(more), "%u", c->max_keys),
		      add_pair(&q, "max-uploads", more))) ||
		    add_pair(&q, "prefix", full) ||
		    (umark[0] && add_pair(&q, "upload-id-marker", umark))) {
			rc = err_set(err, ERR_FAIL,
				     "%s: uploads: out of memory", w);
			break;
		}
		r.query = q.data;
		rc = perform(c, &r, err);
		if (rc)
			break;
		p = out.data;
		end = out.data + out.len;
		while (!stop && xml_next(&p, end, "Upload", &v, &vn)) {
			if (xml_get(key, sizeof(key), v, v + vn, "Key") ||
			    xml_get(id, sizeof(id), v, v + vn, "UploadId") ||
			    strncmp(key, c->cfg.prefix, sl ? sl - 1 : 0) ||
			    (sl && key[sl - 1] != '/') || !key[sl])
				continue;
			xml_get(date, sizeof(date), v, v + vn, "Initiated");
			stop = cb(ctx, key + sl, id, iso8601(date));
		}
		if (stop)
			break;
		xml_get(more, sizeof(more), out.data, end, "IsTruncated");
		if (strcmp(more, "true"))
			break;
		snprintf(pk, sizeof(pk), "%s", kmark);
		snprintf(pu, sizeof(pu), "%s", umark);
		if (xml_get(kmark, sizeof(kmark), out.data, end,
			    "NextKeyMarker") ||
		    xml_get(umark, sizeof(umark), out.data, end,
			    "NextUploadIdMarker") ||
		    !kmark[0] || (!strcmp(pk, kmark) && !strcmp(pu, umark))) {
			rc = err_set(err, ERR_FAIL,
				     "%s: uploads: truncated without a new "
				     "marker",
				     w);
			break;
		}
	}
	buf_release(&out);
	buf_release(&q);
	return rc;
}

int s3c_upload_abort(struct s3c *c, const char *key, const char *upload_id,
		     struct err *err)
{
	char name[NAME_MAX_LEN + 1];
	int rc = full_name(name, sizeof(name), c, key, err);

	if (rc)
		return rc;
	if (!upload_id || !*upload_id)
		return err_set(err, ERR_INVALID, "s3 %s/%s: no upload id",
			       c->cfg.bucket, name);
	return upload_abort(c, name, upload_id, err);
}

int s3c_upload_start(char *id_out, size_t id_size, struct s3c *c,
		     const char *key, struct err *err)
{
	char name[NAME_MAX_LEN + 1];
	int rc = full_name(name, sizeof(name), c, key, err);

	if (rc)
		return rc;
	return upload_start(id_out, id_size, c, name, err);
}

int s3c_presign_get(char **out, struct s3c *c, const char *key, unsigned ttl,
		    struct err *err)
{
	char name[NAME_MAX_LEN + 1];
	struct s3sign_header h = {"host", c->host};
	struct s3sign_req r = {
	    .method = "GET",
	    .headers = &h,
	    .n_headers = 1,
	    .region = c->cfg.region,
	    .service = "s3",
	    .access_key = c->cfg.access_key,
	    .secret_key = c->cfg.secret_key,
	    .when = time(NULL),
	};
	char *path = NULL, *q = NULL;
	struct buf b;
	int rc = full_name(name, sizeof(name), c, key, err);

	*out = NULL;
	if (rc)
		return rc;
	if (!ttl || ttl > 7 * 86400)
		return err_set(err, ERR_INVALID,
			       "s3 %s/%s: presign: ttl %u not in 1..604800",
			       c->cfg.bucket, name, ttl);
	path = request_path(c, name);
	r.path = path;
	q = path ? s3sign_presign_query(&r, ttl, c->cfg.session_token) : NULL;
	buf_init(&b, 65536);
	if (!q || buf_printf(&b, "%s%s?%s", c->cfg.endpoint, path, q)) {
		rc = err_set(err, ERR_FAIL, "s3 %s/%s: presign: out of memory",
			     c->cfg.bucket, name);
	} else {
		*out = buf_detach(&b, NULL);
	}
	buf_release(&b);
	free(path);
	free(q);
	return rc;
}
