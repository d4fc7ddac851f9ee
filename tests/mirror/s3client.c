/* mirror/store/s3client.h against a fake S3 on the scripted loopback
 * server (tests/registry/mhdfix.h): objects in memory, ListObjectsV2 and
 * ListMultipartUploads paginated, multipart uploads, copies, conditional
 * puts, injected faults. The fake checks every request's signature again
 * (s3sign.h over what it received: path, query, the signed headers) and
 * that x-amz-content-sha256 is the SHA-256 of the body that arrived.
 * Then s3_config_parse: the URL grammar, defaults, credentials. */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mirror/store/s3client.h"
#include "mirror/store/s3sign.h"
#include "tests/registry/mhdfix.h"

#define AK "AKTESTKEY"
#define SK "testsecret/with+chars"
#define MAX_OBJ 64
#define MAX_UP 8
#define MAX_PARTS 16
#define MAX_BODY (4 << 20)

struct fobj {
	char name[600];
	char *data;
	size_t len;
	char etag[40];
	int used;
};

struct fup {
	char name[600];
	char id[40];
	char *part[MAX_PARTS + 1];
	size_t plen[MAX_PARTS + 1];
	int used;
};

struct fake {
	struct fobj obj[MAX_OBJ];
	struct fup up[MAX_UP];
	int up_seq;
	struct {
		struct MHD_Connection *conn;
		char *data;
		size_t len;
	} body[64];
	int bucket_exists;
	const char *region;
	/* the next fail_n requests answer fail_status fail_code */
	int fail_status, fail_n;
	const char *fail_code;
	int fail_part;	      /* > 0: that part number answers 403 */
	int fail_part_status; /* not 0: fail_part answers this instead */
	int fail_part_n;      /* > 0: only its first this many PUTs fail */
	/* > 0: each part PUT's answer held until this many part PUTs have
	 * arrived (at most 10 s), so that overlap shows */
	int hold_parts;
	atomic_int parts_arrived;
	char complete_body[4096];
	int page;	      /* list: entries per page */
	const char *raw_list; /* not NULL: the answer to every list */
	int complete_error;   /* complete answers 200 with an <Error> */
	int drop_next;	      /* the next GETs of objects break off */
	int rgw_zonegroup;    /* as RGW: only "default" as a location */
	int bad_sig, bad_sha, part_puts, completes, aborts;
	int ports[64], n_ports;
	char auth[1024], copy_src[1024], last_path[1024], last_body[1024];
	char token_seen[256], range[64], if_match[64];
};

static struct mhd_fix fix;
static struct fake fk;
static struct s3c *cl;
static struct s3_config cfg;

/* --- the fake --- */

static void on_upload(struct mhd_fix *f, struct MHD_Connection *conn,
		      const char *data, size_t len)
{
	struct fake *s = f->ctx;
	int i, free_slot = -1;

	for (i = 0; i < 64; i++) {
		if (s->body[i].conn == conn)
			break;
		if (!s->body[i].conn && free_slot < 0)
			free_slot = i;
	}
	if (i == 64) {
		MHD_CHECK(free_slot >= 0, "too many uploads");
		i = free_slot;
		s->body[i].conn = conn;
		s->body[i].data = NULL;
		s->body[i].len = 0;
	}
	MHD_CHECK(s->body[i].len + len <= MAX_BODY, "upload too large");
	s->body[i].data = realloc(s->body[i].data, s->body[i].len + len + 1);
	MHD_CHECK(s->body[i].data, "out of memory");
	memcpy(s->body[i].data + s->body[i].len, data, len);
	s->body[i].len += len;
	s->body[i].data[s->body[i].len] = '\0';
}

/* The body that came with conn's request (caller frees), "" if none. */
static char *take_body(struct fake *s, struct MHD_Connection *conn, size_t *len)
{
	for (int i = 0; i < 64; i++)
		if (s->body[i].conn == conn) {
			char *d = s->body[i].data;

			*len = s->body[i].len;
			s->body[i].conn = NULL;
			s->body[i].data = NULL;
			return d;
		}
	*len = 0;
	return calloc(1, 1);
}

struct qb {
	char q[4096];
};

static enum MHD_Result add_arg(void *cls, enum MHD_ValueKind kind,
			       const char *key, const char *value)
{
	struct qb *b = cls;
	char *k = s3sign_uri_encode(key, 1);
	char *v = value ? s3sign_uri_encode(value, 1) : NULL;
	size_t n = strlen(b->q);

	(void)kind;
	snprintf(b->q + n, sizeof(b->q) - n, "%s%s%s%s", n ? "&" : "", k,
		 v ? "=" : "", v ? v : "");
	free(k);
	free(v);
	return MHD_YES;
}

/* 1 when the request's Authorization is what s3sign makes of what
 * arrived, with the scope and signed headers the client must send. */
static int sig_ok(const struct mhd_req *rq, const char *region)
{
	const char *auth = mhd_header(rq, "Authorization");
	const char *date = mhd_header(rq, "x-amz-date");
	const char *p, *e;
	struct s3sign_header h[16];
	char names[16][64], want[1024], scope[128], sh[512];
	struct s3sign_req r;
	struct qb qb = {{0}};
	struct tm tm;
	char *path;
	size_t n = 0;
	int ok;

	if (!auth || !date || strlen(date) != 16)
		return 0;
	snprintf(scope, sizeof(scope),
		 "Credential=" AK "/%.8s/%s/s3/aws4_request", date, region);
	if (!strstr(auth, scope))
		return 0;
	p = strstr(auth, "SignedHeaders=");
	if (!p)
		return 0;
	p += 14;
	e = strchr(p, ',');
	if (!e || (size_t)(e - p) >= sizeof(sh))
		return 0;
	memcpy(sh, p, (size_t)(e - p));
	sh[e - p] = '\0';
	snprintf(want, sizeof(want), ";%s;", sh);
	if (!strstr(want, ";host;") ||
	    !strstr(want, ";x-amz-content-sha256;") ||
	    !strstr(want, ";x-amz-date;"))
		return 0;
	for (p = sh; *p && n < 16;) {
		e = strchr(p, ';');
		size_t l = e ? (size_t)(e - p) : strlen(p);

		snprintf(names[n], sizeof(names[n]), "%.*s", (int)l, p);
		h[n].name = names[n];
		h[n].value = mhd_header(rq, names[n]);
		if (!h[n].value)
			return 0;
		n++;
		p += l + (e ? 1 : 0);
	}
	MHD_get_connection_values(rq->conn, MHD_GET_ARGUMENT_KIND, add_arg,
				  &qb);
	memset(&tm, 0, sizeof(tm));
	sscanf(date, "%4d%2d%2dT%2d%2d%2dZ", &tm.tm_year, &tm.tm_mon,
	       &tm.tm_mday, &tm.tm_hour, &tm.tm_min, &tm.tm_sec);
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	path = s3sign_uri_encode(rq->path, 0);
	r = (struct s3sign_req){
	    .method = rq->method,
	    .path = path,
	    .query = qb.q,
	    .headers = h,
	    .n_headers = n,
	    .payload_hash = mhd_header(rq, "x-amz-content-sha256"),
	    .region = region,
	    .service = "s3",
	    .access_key = AK,
	    .secret_key = SK,
	    .when = timegm(&tm),
	};
	ok = !s3sign_authorization(want, sizeof(want), &r) &&
	     !strcmp(want, auth);
	free(path);
	return ok;
}

#define OUT_MAX (64 << 10)
static __thread char tout[OUT_MAX];

/* an answer body that lives until the fixture copies it (in the server
 * thread's own buffer) */
static const char *keep(const char *s, size_t n)
{
	MHD_CHECK(n < OUT_MAX, "answer too large");
	memcpy(tout, s, n);
	tout[n] = '\0';
	return tout;
}

static void answer_xml(struct mhd_ans *a, int status, const char *xml)
{
	a->status = status;
	a->body = keep(xml, strlen(xml));
	a->len = strlen(xml);
	mhd_ans_header(a, "Content-Type", "application/xml");
}

static void answer_err(struct mhd_ans *a, int status, const char *code,
		       const char *msg)
{
	char x[600];

	snprintf(x, sizeof(x),
		 "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>%s"
		 "</Code><Message>%s</Message><RequestId>1</RequestId>"
		 "</Error>",
		 code, msg);
	answer_xml(a, status, x);
}

static struct fobj *obj_find(struct fake *s, const char *name)
{
	for (int i = 0; i < MAX_OBJ; i++)
		if (s->obj[i].used && !strcmp(s->obj[i].name, name))
			return &s->obj[i];
	return NULL;
}

static void obj_put(struct fake *s, const char *name, const char *data,
		    size_t len)
{
	struct fobj *o = obj_find(s, name);
	char h[S3_SHA256_HEX];

	for (int i = 0; !o && i < MAX_OBJ; i++)
		if (!s->obj[i].used)
			o = &s->obj[i];
	MHD_CHECK(o, "too many objects");
	free(o->data);
	o->used = 1;
	snprintf(o->name, sizeof(o->name), "%s", name);
	o->data = malloc(len + 1);
	MHD_CHECK(o->data, "out of memory");
	memcpy(o->data, data, len);
	o->len = len;
	s3sign_sha256_hex(h, data, len);
	snprintf(o->etag, sizeof(o->etag), "\"%.16s\"", h);
}

static void xml_esc(char *out, size_t cap, const char *s)
{
	size_t o = 0;

	for (; *s && o + 7 < cap; s++)
		if (*s == '&')
			o += (size_t)snprintf(out + o, cap - o, "&amp;");
		else if (*s == '<')
			o += (size_t)snprintf(out + o, cap - o, "&lt;");
		else
			out[o++] = *s;
	out[o] = '\0';
}

static int name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* ListObjectsV2, s->page entries a page; the token is "t/" + the last
 * name given (so it needs encoding) */
static void list_objects(struct fake *s, const struct mhd_req *rq,
			 struct mhd_ans *a)
{
	const char *prefix = mhd_arg(rq, "prefix"),
		   *delim = mhd_arg(rq, "delimiter");
	const char *tok = mhd_arg(rq, "continuation-token");
	const char *names[MAX_OBJ], *after = NULL;
	char x[32768], e[1300], last[600] = "", cp[600] = "";
	size_t n = 0, o = 0;
	int given = 0, more = 0;

	if (!prefix)
		prefix = "";
	if (tok) {
		snprintf(s->token_seen, sizeof(s->token_seen), "%s", tok);
		MHD_CHECK(!strncmp(tok, "t/", 2), "bad token");
		after = tok + 2;
	}
	for (int i = 0; i < MAX_OBJ; i++)
		if (s->obj[i].used &&
		    !strncmp(s->obj[i].name, prefix, strlen(prefix)))
			names[n++] = s->obj[i].name;
	qsort(names, n, sizeof(names[0]), name_cmp);
	o += (size_t)snprintf(x + o, sizeof(x) - o,
			      "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
			      "<ListBucketResult xmlns=\"http://s3.amazonaws."
			      "com/doc/2006-03-01/\"><Name>bkt</Name><Prefix>"
			      "%s</Prefix><KeyCount>0</KeyCount>",
			      prefix);
	for (size_t i = 0; i < n; i++) {
		const char *rest = names[i] + strlen(prefix);
		const char *d = delim ? strstr(rest, delim) : NULL;
		char entry[600];

		if (d)
			snprintf(entry, sizeof(entry), "%.*s%s",
				 (int)(d - names[i]), names[i], delim);
		else
			snprintf(entry, sizeof(entry), "%s", names[i]);
		if (after && strcmp(entry, after) <= 0)
			continue;
		if (d && !strcmp(entry, cp))
			continue;
		if (given == s->page) {
			more = 1;
			break;
		}
		given++;
		snprintf(last, sizeof(last), "%s", entry);
		xml_esc(e, sizeof(e), entry);
		if (d) {
			snprintf(cp, sizeof(cp), "%s", entry);
			o += (size_t)snprintf(x + o, sizeof(x) - o,
					      "<CommonPrefixes><Prefix>%s"
					      "</Prefix></CommonPrefixes>",
					      e);
		} else {
			struct fobj *ob = obj_find(s, names[i]);

			o += (size_t)snprintf(
			    x + o, sizeof(x) - o,
			    "<Contents><Key>%s</Key><LastModified>2024-02-29T"
			    "12:34:56.000Z</LastModified><ETag>&quot;x&quot;"
			    "</ETag><Size>%zu</Size><StorageClass>STANDARD"
			    "</StorageClass></Contents>",
			    e, ob->len);
		}
	}
	if (more) {
		xml_esc(e, sizeof(e), last);
		o += (size_t)snprintf(x + o, sizeof(x) - o,
				      "<IsTruncated>true</IsTruncated>"
				      "<NextContinuationToken>t/%s"
				      "</NextContinuationToken>",
				      e);
	} else {
		o += (size_t)snprintf(x + o, sizeof(x) - o,
				      "<IsTruncated>false</IsTruncated>");
	}
	snprintf(x + o, sizeof(x) - o, "</ListBucketResult>");
	answer_xml(a, 200, x);
}

/* ListMultipartUploads, one upload a page */
static void list_uploads(struct fake *s, const struct mhd_req *rq,
			 struct mhd_ans *a)
{
	const char *prefix = mhd_arg(rq, "prefix");
	const char *km = mhd_arg(rq, "key-marker");
	const char *um = mhd_arg(rq, "upload-id-marker");
	char x[8192];
	size_t o = 0;
	int given = 0, more = 0;
	struct fup *last = NULL;

	if (!prefix)
		prefix = "";
	o += (size_t)snprintf(x + o, sizeof(x) - o,
			      "<ListMultipartUploadsResult><Bucket>bkt</Bucket>"
			      "<KeyMarker>%s</KeyMarker><UploadIdMarker>%s"
			      "</UploadIdMarker>",
			      km ? km : "", um ? um : "");
	/* in id order (ids grow): the marker is the last id given */
	for (int i = 0; i < MAX_UP; i++) {
		struct fup *u = &s->up[i];

		if (!u->used || strncmp(u->name, prefix, strlen(prefix)))
			continue;
		if (um && strcmp(u->id, um) <= 0)
			continue;
		if (given == 1) {
			more = 1;
			break;
		}
		given++;
		last = u;
		o += (size_t)snprintf(x + o, sizeof(x) - o,
				      "<Upload><Key>%s</Key><UploadId>%s"
				      "</UploadId><Initiator><ID>x</ID>"
				      "</Initiator><Initiated>2024-01-02T03:04:"
				      "05.000Z</Initiated></Upload>",
				      u->name, u->id);
	}
	if (more && last)
		o += (size_t)snprintf(x + o, sizeof(x) - o,
				      "<NextKeyMarker>%s</NextKeyMarker>"
				      "<NextUploadIdMarker>%s"
				      "</NextUploadIdMarker>",
				      last->name, last->id);
	snprintf(x + o, sizeof(x) - o,
		 "<IsTruncated>%s</IsTruncated></ListMultipartUploadsResult>",
		 more ? "true" : "false");
	answer_xml(a, 200, x);
}

static struct fup *up_find(struct fake *s, const char *id)
{
	for (int i = 0; id && i < MAX_UP; i++)
		if (s->up[i].used && !strcmp(s->up[i].id, id))
			return &s->up[i];
	return NULL;
}

static void up_free(struct fup *u)
{
	for (int i = 0; i <= MAX_PARTS; i++)
		free(u->part[i]);
	memset(u, 0, sizeof(*u));
}

static void s3_script(struct mhd_fix *f, const struct mhd_req *rq,
		      struct mhd_ans *a)
{
	struct fake *s = f->ctx;
	const union MHD_ConnectionInfo *ci;
	char hash[S3_SHA256_HEX], name[700];
	const char *sha = mhd_header(rq, "x-amz-content-sha256");
	const char *m = rq->method, *slash;
	size_t blen;
	char *body = take_body(s, rq->conn, &blen);
	struct fobj *o;
	int port = 0, seen = 0;

	ci = MHD_get_connection_info(rq->conn,
				     MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	if (ci && ci->client_addr)
		port = ntohs(
		    ((const struct sockaddr_in *)ci->client_addr)->sin_port);
	for (int i = 0; i < s->n_ports; i++)
		seen |= s->ports[i] == port;
	if (!seen && s->n_ports < 64)
		s->ports[s->n_ports++] = port;
	snprintf(s->auth, sizeof(s->auth), "%s",
		 mhd_header(rq, "Authorization") ?: "");
	snprintf(s->last_path, sizeof(s->last_path), "%s", rq->path);
	snprintf(s->last_body, sizeof(s->last_body), "%s", body);
	s3sign_sha256_hex(hash, body, blen);
	if (!sig_ok(rq, s->region)) {
		s->bad_sig++;
		answer_err(a, 403, "SignatureDoesNotMatch", "bad signature");
		goto out;
	}
	if (!sha || strcmp(sha, hash)) {
		s->bad_sha++;
		answer_err(a, 400, "XAmzContentSHA256Mismatch",
			   "The provided 'x-amz-content-sha256' header does "
			   "not match what was computed.");
		goto out;
	}
	if (s->fail_n > 0) {
		s->fail_n--;
		answer_err(a, s->fail_status, s->fail_code, "injected");
		goto out;
	}
	MHD_CHECK(!strncmp(rq->path, "/bkt", 4), "not the bucket");
	slash = rq->path[4] == '/' ? rq->path + 5 : NULL;
	if (!slash || !*slash) { /* the bucket */
		if (!strcmp(m, "HEAD")) {
			a->status = s->bucket_exists ? 200 : 404;
		} else if (!strcmp(m, "PUT") && s->rgw_zonegroup && body[0] &&
			   !strstr(body, "<LocationConstraint>default<")) {
			answer_err(a, 400, "InvalidLocationConstraint",
				   "The specified location-constraint is not "
				   "valid");
		} else if (!strcmp(m, "PUT")) {
			if (s->bucket_exists)
				answer_err(a, 409, "BucketAlreadyOwnedByYou",
					   "yours");
			else
				a->status = 200;
			s->bucket_exists = 1;
		} else if (mhd_arg(rq, "list-type") && s->raw_list) {
			answer_xml(a, 200, s->raw_list);
		} else if (mhd_arg(rq, "list-type")) {
			list_objects(s, rq, a);
		} else if (!strcmp(m, "GET")) { /* ?uploads */
			list_uploads(s, rq, a);
		}
		goto out;
	}
	snprintf(name, sizeof(name), "%s", slash);
	o = obj_find(s, name);
	if (!strcmp(m, "POST") && !mhd_arg(rq, "uploadId")) { /* ?uploads */
		struct fup *u = NULL;
		char x[512];

		for (int i = 0; !u && i < MAX_UP; i++)
			if (!s->up[i].used)
				u = &s->up[i];
		MHD_CHECK(u, "too many uploads");
		u->used = 1;
		snprintf(u->name, sizeof(u->name), "%s", name);
		snprintf(u->id, sizeof(u->id), "id%04d+/=", ++s->up_seq);
		snprintf(x, sizeof(x),
			 "<InitiateMultipartUploadResult><Bucket>bkt</Bucket>"
			 "<Key>%s</Key><UploadId>%s</UploadId>"
			 "</InitiateMultipartUploadResult>",
			 name, u->id);
		answer_xml(a, 200, x);
	} else if (!strcmp(m, "PUT") && mhd_arg(rq, "partNumber")) {
		struct fup *u = up_find(s, mhd_arg(rq, "uploadId"));
		int pn = atoi(mhd_arg(rq, "partNumber"));
		char et[32];

		s->part_puts++;
		if (s->hold_parts > 0) {
			atomic_fetch_add(&s->parts_arrived, 1);
			a->hold_until = &s->parts_arrived;
			a->hold_n = s->hold_parts;
		}
		if (!u) {
			answer_err(a, 404, "NoSuchUpload", "no upload");
		} else if (pn == s->fail_part && s->fail_part_status &&
			   s->fail_part_n > 0) {
			s->fail_part_n--;
			answer_err(a, s->fail_part_status, "SlowDown",
				   "part refused for now");
		} else if (pn == s->fail_part && !s->fail_part_status) {
			answer_err(a, 403, "AccessDenied", "part refused");
		} else {
			MHD_CHECK(pn >= 1 && pn <= MAX_PARTS, "part number");
			free(u->part[pn]);
			u->part[pn] = body;
			u->plen[pn] = blen;
			body = NULL;
			snprintf(et, sizeof(et), "\"p%d\"", pn);
			mhd_ans_header(a, "ETag", et);
			a->status = 200;
		}
	} else if (!strcmp(m, "POST") && mhd_arg(rq, "uploadId")) {
		struct fup *u = up_find(s, mhd_arg(rq, "uploadId"));
		char want[128], *all = NULL;
		size_t len = 0;
		int n = 0;

		s->completes++;
		snprintf(s->complete_body, sizeof(s->complete_body), "%s",
			 body);
		MHD_CHECK(u, "complete of no upload");
		if (s->complete_error) {
			answer_xml(
			    a, 200,
			    "<?xml version=\"1.0\"?>\n<Error><Code>"
			    "InternalError</Code><Message>We encountered "
			    "an internal error.</Message></Error>");
			goto out;
		}
		for (int pn = 1; pn <= MAX_PARTS && u->part[pn]; pn++) {
			snprintf(want, sizeof(want),
				 "<Part><PartNumber>%d</PartNumber><ETag>&quot;"
				 "p%d&quot;</ETag></Part>",
				 pn, pn);
			MHD_CHECK(s->last_body[0] && strstr(body, want),
				  "part missing in the complete body");
			all = realloc(all, len + u->plen[pn] + 1);
			memcpy(all + len, u->part[pn], u->plen[pn]);
			len += u->plen[pn];
			n++;
		}
		MHD_CHECK(n && strstr(body, "<CompleteMultipartUpload>"),
			  "complete body");
		obj_put(s, name, all ? all : "", len);
		free(all);
		up_free(u);
		answer_xml(a, 200,
			   "<CompleteMultipartUploadResult><Key>x</Key>"
			   "<ETag>&quot;m-1&quot;</ETag>"
			   "</CompleteMultipartUploadResult>");
	} else if (!strcmp(m, "DELETE") && mhd_arg(rq, "uploadId")) {
		struct fup *u = up_find(s, mhd_arg(rq, "uploadId"));

		s->aborts++;
		if (u) {
			up_free(u);
			a->status = 204;
		} else {
			answer_err(a, 404, "NoSuchUpload", "no upload");
		}
	} else if (!strcmp(m, "PUT") && mhd_header(rq, "x-amz-copy-source")) {
		const char *src = mhd_header(rq, "x-amz-copy-source");
		char *dec = strdup(src);
		struct fobj *so;

		snprintf(s->copy_src, sizeof(s->copy_src), "%s", src);
		MHD_http_unescape(dec);
		so = !strncmp(dec, "/bkt/", 5) ? obj_find(s, dec + 5) : NULL;
		if (so) {
			char *copy = malloc(so->len + 1);

			memcpy(copy, so->data, so->len);
			obj_put(s, name, copy, so->len);
			free(copy);
			answer_xml(
			    a, 200,
			    "<CopyObjectResult><ETag>&quot;c&quot;</ETag>"
			    "</CopyObjectResult>");
		} else {
			answer_err(a, 404, "NoSuchKey", "no source");
		}
		free(dec);
	} else if (!strcmp(m, "PUT")) {
		const char *inm = mhd_header(rq, "If-None-Match");
		const char *im = mhd_header(rq, "If-Match");

		/* as RGW 16: If-Match matches the ETag unquoted only */
		if (im)
			snprintf(s->if_match, sizeof(s->if_match), "%s", im);
		if ((inm && o) ||
		    (im && (!o || strncmp(im, o->etag + 1, strlen(im)) ||
			    strlen(im) + 2 != strlen(o->etag)))) {
			answer_err(a, 412, "PreconditionFailed",
				   "At least one of the pre-conditions you "
				   "specified did not hold");
			goto out;
		}
		obj_put(s, name, body, blen);
		o = obj_find(s, name);
		mhd_ans_header(a, "ETag", o->etag);
		a->status = 200;
	} else if (!strcmp(m, "DELETE")) {
		if (o) {
			free(o->data);
			memset(o, 0, sizeof(*o));
		}
		a->status = 204;
	} else if (!o) {
		answer_err(a, 404, "NoSuchKey",
			   "The specified key does not exist.");
	} else if (!strcmp(m, "HEAD") || !strcmp(m, "GET")) {
		const char *range = mhd_header(rq, "Range");
		unsigned long long from, to;
		char cr[100];

		mhd_ans_header(a, "ETag", o->etag);
		mhd_ans_header(a, "Last-Modified",
			       "Thu, 29 Feb 2024 12:34:56 GMT");
		a->status = 200;
		a->body = keep(o->data, o->len);
		a->len = o->len;
		if (range &&
		    sscanf(range, "bytes=%llu-%llu", &from, &to) == 2) {
			snprintf(s->range, sizeof(s->range), "%s", range);
			if (from >= o->len) {
				answer_err(a, 416, "InvalidRange",
					   "The requested range is not "
					   "satisfiable");
				goto out;
			}
			if (to >= o->len)
				to = o->len - 1;
			a->status = 206;
			a->body = keep(o->data + from, (size_t)(to - from + 1));
			a->len = (size_t)(to - from + 1);
			snprintf(cr, sizeof(cr), "bytes %llu-%llu/%zu", from,
				 to, o->len);
			mhd_ans_header(a, "Content-Range", cr);
		}
		if (!a->len)
			a->body = NULL;
		if (!strcmp(m, "GET") && s->drop_next > 0 && a->len > 3) {
			s->drop_next--;
			a->drop_at = 3;
		}
	}
out:
	free(body);
}

static void setup(void)
{
	struct err e;

	memset(&fk, 0, sizeof(fk));
	fk.page = 2;
	fk.region = "us-east-1";
	mhd_start(&fix, s3_script, &fk, 0);
	fix.on_upload = on_upload;
	memset(&cfg, 0, sizeof(cfg));
	snprintf(cfg.bucket, sizeof(cfg.bucket), "bkt");
	snprintf(cfg.prefix, sizeof(cfg.prefix), "pfx");
	snprintf(cfg.endpoint, sizeof(cfg.endpoint), "%s", fix.base);
	snprintf(cfg.region, sizeof(cfg.region), "us-east-1");
	snprintf(cfg.access_key, sizeof(cfg.access_key), AK);
	snprintf(cfg.secret_key, sizeof(cfg.secret_key), SK);
	cfg.tls_verify = 1;
	cr_assert_eq(s3c_open(&cl, &cfg, &e), 0, "%s", e.msg);
}

static void teardown(void)
{
	s3c_close(cl);
	mhd_stop(&fix);
	for (int i = 0; i < MAX_OBJ; i++)
		free(fk.obj[i].data);
	for (int i = 0; i < MAX_UP; i++)
		up_free(&fk.up[i]);
	for (int i = 0; i < 64; i++)
		free(fk.body[i].data);
}

static void reopen(void)
{
	struct err e;

	s3c_close(cl);
	cr_assert_eq(s3c_open(&cl, &cfg, &e), 0, "%s", e.msg);
}

static int tmpfile_with(const char *data, size_t len)
{
	char path[] = "/tmp/s3client-XXXXXX";
	int fd = mkstemp(path);

	cr_assert(fd >= 0);
	unlink(path);
	cr_assert_eq(write(fd, data, len), (ssize_t)len);
	return fd;
}

TestSuite(s3client, .init = setup, .fini = teardown);

Test(s3client, put_get_head_signed_path_style_with_an_encoded_key)
{
	const char *key = "dir/a b+c~d.txt";
	struct s3_head h;
	struct err e;
	char etag[128], *got;
	size_t len;

	cr_assert_eq(s3c_put(cl, key, "hello", 5, NULL, etag, &e), 0, "%s",
		     e.msg);
	cr_assert_str_eq(fk.last_path, "/bkt/pfx/dir/a b+c~d.txt");
	cr_assert(strstr(fk.auth, "Credential=" AK "/"));
	cr_assert(strstr(fk.auth, "/us-east-1/s3/aws4_request, SignedHeaders="
				  "host;x-amz-content-sha256;x-amz-date, "
				  "Signature="));
	cr_assert_eq(etag[0], '"');
	cr_assert_eq(s3c_get(&got, &len, &h, cl, key, 1024, &e), 0, "%s",
		     e.msg);
	cr_assert_eq(len, 5);
	cr_assert_str_eq(got, "hello");
	cr_assert_str_eq(h.etag, etag);
	cr_assert_eq(h.mtime, 1709210096); /* Thu, 29 Feb 2024 12:34:56 GMT */
	free(got);
	memset(&h, 0, sizeof(h));
	cr_assert_eq(s3c_head(&h, cl, key, &e), 0, "%s", e.msg);
	cr_assert_eq(h.size, 5);
	cr_assert_str_eq(h.etag, etag);
	cr_assert_eq(fk.bad_sig, 0);
	cr_assert_eq(fk.bad_sha, 0);
	/* one connection for all three, kept in the pool */
	cr_assert_eq(fk.n_ports, 1);
}

Test(s3client, get_over_the_cap_is_too_large)
{
	struct err e;
	char *got;
	size_t len;

	cr_assert_eq(s3c_put(cl, "big", "0123456789", 10, NULL, NULL, &e), 0);
	cr_assert_eq(s3c_get(&got, &len, NULL, cl, "big", 9, &e),
		     ERR_TOO_LARGE);
	cr_assert_null(got);
	cr_assert_eq(s3c_get(&got, &len, NULL, cl, "big", 10, &e), 0);
	free(got);
}

Test(s3client, missing_is_not_found_with_a_one_line_message)
{
	struct s3_head h;
	struct err e;
	char *got;
	size_t len;

	cr_assert_eq(s3c_get(&got, &len, NULL, cl, "missing", 100, &e),
		     ERR_NOT_FOUND);
	cr_assert_str_eq(e.msg, "s3 bkt/pfx/missing: GET: 404 NoSuchKey: The "
				"specified key does not exist.");
	cr_assert_eq(s3c_head(&h, cl, "missing", &e), ERR_NOT_FOUND);
	cr_assert_str_eq(e.msg, "s3 bkt/pfx/missing: HEAD: 404");
	/* a delete of what is not there is no error */
	cr_assert_eq(s3c_delete(cl, "missing", NULL, &e), 0, "%s", e.msg);
}

Test(s3client, dot_segments_and_empty_segments_are_refused)
{
	struct s3_head h;
	struct err e;
	char *got;
	size_t len;

	/* libcurl would squash them (the request then differs from what
	 * was signed) and they could name another key */
	cr_assert_eq(s3c_head(&h, cl, "a/../b", &e), ERR_INVALID);
	cr_assert_eq(s3c_head(&h, cl, "./b", &e), ERR_INVALID);
	cr_assert_eq(s3c_head(&h, cl, "a//b", &e), ERR_INVALID);
	cr_assert_eq(s3c_head(&h, cl, "/a", &e), ERR_INVALID);
	cr_assert_eq(s3c_get(&got, &len, NULL, cl, "a/..", 10, &e),
		     ERR_INVALID);
	cr_assert_eq(s3c_put(cl, "a/./b", "x", 1, NULL, NULL, &e), ERR_INVALID);
	cr_assert_str_eq(e.msg, "s3 bkt: bad key");
	/* a name with dots that is not a dot segment is a key */
	cr_assert_eq(s3c_head(&h, cl, "a/..b/.c", &e), ERR_NOT_FOUND, "%s",
		     e.msg);
}

Test(s3client, conditional_put_412_is_conflict)
{
	struct s3_cond create = {.if_none_match = "*"};
	struct s3_cond stale = {.if_match = "\"nope\""};
	struct s3_cond fresh = {0};
	char etag[128], etag2[128], *got;
	struct err e;
	size_t len;

	cr_assert_eq(s3c_put(cl, "rec", "v1", 2, &create, etag, &e), 0);
	cr_assert_eq(s3c_put(cl, "rec", "v2", 2, &create, NULL, &e),
		     ERR_CONFLICT);
	cr_assert(strstr(e.msg, "s3 bkt/pfx/rec: PUT: 412 PreconditionFailed"));
	cr_assert_eq(s3c_put(cl, "rec", "v2", 2, &stale, NULL, &e),
		     ERR_CONFLICT);
	fresh.if_match = etag;
	cr_assert_eq(s3c_put(cl, "rec", "v3", 2, &fresh, etag2, &e), 0, "%s",
		     e.msg);
	/* sent without the quotes */
	cr_assert_eq(strlen(fk.if_match), strlen(etag) - 2);
	cr_assert_eq(strncmp(fk.if_match, etag + 1, strlen(fk.if_match)), 0);
	cr_assert_str_neq(etag, etag2);
	cr_assert_eq(s3c_get(&got, &len, NULL, cl, "rec", 10, &e), 0);
	cr_assert_str_eq(got, "v3");
	free(got);
}

Test(s3client, a_503_is_retried)
{
	struct err e;

	fk.fail_n = 2;
	fk.fail_status = 503;
	fk.fail_code = "SlowDown";
	cr_assert_eq(s3c_put(cl, "k", "x", 1, NULL, NULL, &e), 0, "%s", e.msg);
	cr_assert_eq(mhd_count(&fix, "PUT /bkt/pfx/k"), 3);
	cr_assert_not_null(obj_find(&fk, "pfx/k"));
	fk.fail_n = 1;
	fk.fail_status = 500;
	fk.fail_code = "InternalError";
	cr_assert_eq(s3c_delete(cl, "k", NULL, &e), 0, "%s", e.msg);
	cr_assert_null(obj_find(&fk, "pfx/k"));
}

Test(s3client, a_403_is_not_retried)
{
	struct err e;

	fk.fail_n = 10;
	fk.fail_status = 403;
	fk.fail_code = "AccessDenied";
	cr_assert_eq(s3c_put(cl, "k", "x", 1, NULL, NULL, &e),
		     ERR_UNAUTHORIZED);
	cr_assert_str_eq(e.msg,
			 "s3 bkt/pfx/k: PUT: 403 AccessDenied: injected");
	cr_assert_eq(mhd_count(&fix, "PUT"), 1);
}

Test(s3client, retries_give_up)
{
	struct err e;

	fk.fail_n = 100;
	fk.fail_status = 503;
	fk.fail_code = "ServiceUnavailable";
	cr_assert_eq(s3c_put(cl, "k", "x", 1, NULL, NULL, &e), ERR_FAIL);
	cr_assert(strstr(e.msg, "503 ServiceUnavailable"));
	cr_assert_eq(mhd_count(&fix, "PUT"), 4);
}

struct seen {
	char names[32][300];
	int64_t sizes[32];
	time_t mtimes[32];
	int n, stop_at;
};

static int collect(void *ctx, const char *name, int64_t size, time_t mtime)
{
	struct seen *s = ctx;

	cr_assert(s->n < 32);
	snprintf(s->names[s->n], sizeof(s->names[0]), "%s", name);
	s->sizes[s->n] = size;
	s->mtimes[s->n] = mtime;
	s->n++;
	return s->stop_at && s->n == s->stop_at;
}

static void put_some(void)
{
	static const char *keys[] = {"blobs/sha256/aa",	  "blobs/sha256/bb",
				     "repositories/r1/t", "repositories/r2/t",
				     "repositories/r2/u", "x&y"};
	struct err e;

	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		cr_assert_eq(s3c_put(cl, keys[i], keys[i], strlen(keys[i]),
				     NULL, NULL, &e),
			     0, "%s", e.msg);
	/* outside the store's prefix: never listed */
	obj_put(&fk, "other/blobs/x", "x", 1);
	obj_put(&fk, "pfxzzz", "x", 1);
}

Test(s3client, list_one_level_across_pages_with_common_prefixes)
{
	struct seen s = {0};
	struct err e;

	put_some();
	cr_assert_eq(s3c_list(cl, "repositories/", "/", collect, &s, &e), 0,
		     "%s", e.msg);
	cr_assert_eq(s.n, 2);
	cr_assert_str_eq(s.names[0], "r1/");
	cr_assert_eq(s.sizes[0], -1);
	cr_assert_str_eq(s.names[1], "r2/");
	/* page of 2: one GET */
	cr_assert_eq(mhd_count(&fix, "GET /bkt"), 1);

	memset(&s, 0, sizeof(s));
	cr_assert_eq(s3c_list(cl, "", "/", collect, &s, &e), 0, "%s", e.msg);
	cr_assert_eq(s.n, 3);
	cr_assert_str_eq(s.names[0], "blobs/");
	cr_assert_str_eq(s.names[1], "repositories/");
	cr_assert_str_eq(s.names[2], "x&y");
	cr_assert_eq(s.sizes[2], 3);
	cr_assert_eq(s.mtimes[2], 1709210096);
	/* two pages: the token came back as given */
	cr_assert_eq(mhd_count(&fix, "GET /bkt"), 3);
	cr_assert_str_eq(fk.token_seen, "t/pfx/repositories/");
	cr_assert_eq(fk.bad_sig, 0);
}

Test(s3client, list_recursive_pages_through_every_key)
{
	struct seen s = {0};
	struct err e;

	put_some();
	cr_assert_eq(s3c_list(cl, "", NULL, collect, &s, &e), 0, "%s", e.msg);
	cr_assert_eq(s.n, 6);
	cr_assert_str_eq(s.names[0], "blobs/sha256/aa");
	cr_assert_eq(s.sizes[0], 15);
	cr_assert_str_eq(s.names[4], "repositories/r2/u");
	cr_assert_str_eq(s.names[5], "x&y");
	cr_assert_eq(mhd_count(&fix, "GET /bkt"), 3);

	/* the callback stops it */
	memset(&s, 0, sizeof(s));
	cr_assert_eq(s3c_list(cl, "blobs/sha256/", NULL, collect, &s, &e), 0);
	cr_assert_eq(s.n, 2);
	cr_assert_str_eq(s.names[0], "aa");
	cr_assert_str_eq(s.names[1], "bb");
	memset(&s, 0, sizeof(s));
	s.stop_at = 1;
	cr_assert_eq(s3c_list(cl, "blobs/sha256/", NULL, collect, &s, &e), 0);
	cr_assert_eq(s.n, 1);
}

Test(s3client, multipart_in_parts_then_complete)
{
	char data[2500], *got;
	struct err e;
	size_t len;
	int fd;

	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (char)('a' + i % 26);
	fd = tmpfile_with(data, sizeof(data));
	cfg.multipart = 1000;
	cfg.part_size = 400;
	reopen();
	/* 100 bytes in: 2400 bytes, 6 parts */
	cr_assert_eq(s3c_put_fd(cl, "blobs/big", fd, 100, 2400, NULL, &e), 0,
		     "%s", e.msg);
	cr_assert_eq(fk.part_puts, 6);
	cr_assert_eq(fk.completes, 1);
	cr_assert_eq(fk.aborts, 0);
	cr_assert_eq(mhd_count(&fix, "POST /bkt/pfx/blobs/big"), 2);
	cr_assert_eq(fk.bad_sha, 0);
	cr_assert_eq(fk.bad_sig, 0);
	cr_assert_eq(s3c_get(&got, &len, NULL, cl, "blobs/big", 4096, &e), 0);
	cr_assert_eq(len, 2400);
	cr_assert_eq(memcmp(got, data + 100, 2400), 0);
	free(got);
	/* the caller's SHA-256 holds for a multipart upload too: the right
	 * one goes up, a wrong one is refused before any part is sent */
	{
		char h[S3_SHA256_HEX], wrong[S3_SHA256_HEX];

		s3sign_sha256_hex(h, data + 100, 2400);
		cr_assert_eq(s3c_put_fd(cl, "blobs/big2", fd, 100, 2400, h, &e),
			     0, "%s", e.msg);
		cr_assert_eq(fk.part_puts, 12);
		s3sign_sha256_hex(wrong, data, 2400);
		cr_assert_eq(
		    s3c_put_fd(cl, "blobs/big3", fd, 100, 2400, wrong, &e),
		    ERR_DIGEST);
		cr_assert(strstr(e.msg, "the bytes hash to"), "%s", e.msg);
		cr_assert_eq(fk.part_puts, 12);
		cr_assert_null(obj_find(&fk, "pfx/blobs/big3"));
	}
	/* below the threshold: one PUT */
	cr_assert_eq(s3c_put_fd(cl, "blobs/small", fd, 0, 999, NULL, &e), 0);
	cr_assert_eq(fk.part_puts, 12);
	cr_assert_eq(mhd_count(&fix, "PUT /bkt/pfx/blobs/small"), 1);
	close(fd);
}

Test(s3client, multipart_failure_aborts_the_upload)
{
	char data[2000];
	struct err e;
	int fd;

	memset(data, 'z', sizeof(data));
	fd = tmpfile_with(data, sizeof(data));
	cfg.multipart = 1000;
	cfg.part_size = 500;
	reopen();
	fk.fail_part = 3;
	cr_assert_eq(s3c_put_fd(cl, "blobs/big", fd, 0, 2000, NULL, &e),
		     ERR_UNAUTHORIZED);
	cr_assert(strstr(e.msg, "s3 bkt/pfx/blobs/big: PUT: 403 AccessDenied"),
		  "%s", e.msg);
	/* 4 parts, up to 4 at once: the 4th may have gone up too */
	cr_assert(fk.part_puts >= 3 && fk.part_puts <= 4, "%d", fk.part_puts);
	cr_assert_eq(fk.completes, 0);
	cr_assert_eq(fk.aborts, 1);
	cr_assert_null(obj_find(&fk, "pfx/blobs/big"));
	for (int i = 0; i < MAX_UP; i++)
		cr_assert_eq(fk.up[i].used, 0);
	close(fd);
}

/* Where "<PartNumber>N</PartNumber>" is in the complete body (-1: not). */
static long part_at(const char *body, int n)
{
	char want[64];
	const char *p;

	snprintf(want, sizeof(want), "<PartNumber>%d</PartNumber>", n);
	p = strstr(body, want);
	return p ? (long)(p - body) : -1;
}

Test(s3client, multipart_parts_go_up_four_at_once_and_complete_in_order)
{
	char data[3000], *got;
	struct err e;
	size_t len;
	int fd;

	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (char)('A' + (i / 500) * 3 + i % 3);
	fd = tmpfile_with(data, sizeof(data));
	cfg.multipart = 1000;
	cfg.part_size = 500;
	reopen();
	/* each part's answer waits until 4 part PUTs have come: only 4 at
	 * once bring them */
	fk.hold_parts = 4;
	cr_assert_eq(s3c_put_fd(cl, "blobs/six", fd, 0, 3000, NULL, &e), 0,
		     "%s", e.msg);
	cr_assert_eq(fk.part_puts, 6);
	cr_assert_eq(atomic_load(&fix.max_in_flight), 4);
	cr_assert_eq(fk.completes, 1);
	cr_assert_eq(fk.aborts, 0);
	cr_assert_eq(fk.bad_sha, 0);
	cr_assert_eq(fk.bad_sig, 0);
	cr_assert_eq(mhd_count(&fix, "PUT /bkt/pfx/blobs/six"), 6);
	/* every part, in order, each with its own ETag */
	for (int n = 1; n <= 6; n++) {
		char want[128];

		cr_assert(part_at(fk.complete_body, n) >= 0, "part %d: %s", n,
			  fk.complete_body);
		if (n > 1)
			cr_assert_gt(part_at(fk.complete_body, n),
				     part_at(fk.complete_body, n - 1));
		snprintf(want, sizeof(want),
			 "<PartNumber>%d</PartNumber><ETag>&quot;p%d&quot;"
			 "</ETag>",
			 n, n);
		cr_assert(strstr(fk.complete_body, want), "%s",
			  fk.complete_body);
	}
	cr_assert_null(strstr(fk.complete_body, "<PartNumber>7<"));
	cr_assert_eq(s3c_get(&got, &len, NULL, cl, "blobs/six", 4096, &e), 0);
	cr_assert_eq(len, 3000);
	cr_assert_eq(memcmp(got, data, 3000), 0);
	free(got);
	close(fd);
}

Test(s3client, a_part_refused_among_six_aborts_and_leaves_no_object)
{
	char data[3000];
	struct err e;
	int fd;

	memset(data, 'k', sizeof(data));
	fd = tmpfile_with(data, sizeof(data));
	cfg.multipart = 1000;
	cfg.part_size = 500;
	reopen();
	fk.fail_part = 2;
	cr_assert_eq(s3c_put_fd(cl, "blobs/six", fd, 0, 3000, NULL, &e),
		     ERR_UNAUTHORIZED);
	cr_assert(strstr(e.msg, "s3 bkt/pfx/blobs/six: PUT: 403 AccessDenied: "
				"part refused"),
		  "%s", e.msg);
	/* not retried, and no part taken after the failure is seen */
	cr_assert(fk.part_puts >= 2 && fk.part_puts <= 6, "%d", fk.part_puts);
	cr_assert_eq(mhd_count(&fix, "PUT /bkt/pfx/blobs/six"), fk.part_puts);
	cr_assert_eq(fk.completes, 0);
	cr_assert_eq(fk.aborts, 1);
	cr_assert_null(obj_find(&fk, "pfx/blobs/six"));
	for (int i = 0; i < MAX_UP; i++)
		cr_assert_eq(fk.up[i].used, 0);
	close(fd);
}

Test(s3client, a_part_answering_503_is_retried_alone)
{
	char data[3000], *got;
	struct err e;
	size_t len;
	int fd;

	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (char)('0' + i % 10);
	fd = tmpfile_with(data, sizeof(data));
	cfg.multipart = 1000;
	cfg.part_size = 500;
	reopen();
	fk.fail_part = 5;
	fk.fail_part_status = 503;
	fk.fail_part_n = 2;
	cr_assert_eq(s3c_put_fd(cl, "blobs/six", fd, 0, 3000, NULL, &e), 0,
		     "%s", e.msg);
	cr_assert_eq(fk.part_puts, 8);
	cr_assert_eq(fk.fail_part_n, 0);
	cr_assert_eq(fk.completes, 1);
	cr_assert_eq(fk.aborts, 0);
	cr_assert_eq(s3c_get(&got, &len, NULL, cl, "blobs/six", 4096, &e), 0);
	cr_assert_eq(len, 3000);
	cr_assert_eq(memcmp(got, data, 3000), 0);
	free(got);
	close(fd);
}

Test(s3client, put_fd_sends_the_given_or_the_computed_sha256)
{
	const char *data = "layer bytes";
	char h[S3_SHA256_HEX], wrong[S3_SHA256_HEX], *got;
	struct err e;
	size_t len;
	int fd = tmpfile_with(data, strlen(data));

	s3sign_sha256_hex(h, data + 6, 5);
	cr_assert_eq(s3c_put_fd(cl, "a", fd, 6, 5, h, &e), 0, "%s", e.msg);
	cr_assert_eq(s3c_put_fd(cl, "b", fd, 0, strlen(data), NULL, &e), 0,
		     "%s", e.msg);
	cr_assert_eq(s3c_get(&got, &len, NULL, cl, "a", 100, &e), 0);
	cr_assert_str_eq(got, "bytes");
	free(got);
	/* what arrived is not what the caller said: S3 refuses it */
	s3sign_sha256_hex(wrong, "other", 5);
	cr_assert_eq(s3c_put_fd(cl, "c", fd, 6, 5, wrong, &e), ERR_FAIL);
	cr_assert(strstr(e.msg, "400 XAmzContentSHA256Mismatch"), "%s", e.msg);
	cr_assert_null(obj_find(&fk, "pfx/c"));
	cr_assert_eq(s3c_put_fd(cl, "c", fd, 6, 5, "NOTHEX", &e), ERR_INVALID);
	/* an empty body */
	cr_assert_eq(s3c_put_fd(cl, "empty", fd, 0, 0, NULL, &e), 0, "%s",
		     e.msg);
	cr_assert_eq(obj_find(&fk, "pfx/empty")->len, 0);
	close(fd);
}

Test(s3client, get_range_and_past_the_end)
{
	char buf[16];
	size_t got;
	struct err e;

	cr_assert_eq(s3c_put(cl, "r", "0123456789", 10, NULL, NULL, &e), 0);
	cr_assert_eq(s3c_get_range(&got, cl, "r", 2, buf, 5, &e), 0, "%s",
		     e.msg);
	cr_assert_str_eq(fk.range, "bytes=2-6");
	cr_assert_eq(got, 5);
	cr_assert_eq(memcmp(buf, "23456", 5), 0);
	cr_assert_eq(s3c_get_range(&got, cl, "r", 8, buf, 5, &e), 0);
	cr_assert_eq(got, 2);
	cr_assert_eq(memcmp(buf, "89", 2), 0);
	cr_assert_eq(s3c_get_range(&got, cl, "r", 10, buf, 5, &e), 0, "%s",
		     e.msg);
	cr_assert_eq(got, 0);
	cr_assert_eq(s3c_get_range(&got, cl, "nope", 0, buf, 5, &e),
		     ERR_NOT_FOUND);
}

Test(s3client, get_to_fd_streams_the_object)
{
	char data[5000], back[6000];
	int64_t size;
	struct err e;
	int fd = tmpfile_with("head:", 5);

	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (char)(i * 7);
	cr_assert_eq(s3c_put(cl, "o", data, sizeof(data), NULL, NULL, &e), 0);
	cr_assert_eq(s3c_get_to_fd(&size, cl, "o", fd, &e), 0, "%s", e.msg);
	cr_assert_eq(size, 5000);
	cr_assert_eq(pread(fd, back, sizeof(back), 0), 5005);
	cr_assert_eq(memcmp(back, "head:", 5), 0);
	cr_assert_eq(memcmp(back + 5, data, 5000), 0);
	cr_assert_eq(s3c_get_to_fd(&size, cl, "none", fd, &e), ERR_NOT_FOUND);
	close(fd);
}

Test(s3client, copy_names_the_encoded_source)
{
	struct err e;
	char *got;
	size_t len;

	cr_assert_eq(s3c_put(cl, "src dir/a+b", "abc", 3, NULL, NULL, &e), 0);
	cr_assert_eq(s3c_copy(cl, "src dir/a+b", "dst", &e), 0, "%s", e.msg);
	cr_assert_str_eq(fk.copy_src, "/bkt/pfx/src%20dir/a%2Bb");
	cr_assert_eq(s3c_get(&got, &len, NULL, cl, "dst", 10, &e), 0);
	cr_assert_str_eq(got, "abc");
	free(got);
	cr_assert_eq(s3c_copy(cl, "absent", "dst2", &e), ERR_NOT_FOUND);
}

struct ups {
	char keys[8][300], ids[8][64];
	time_t t[8];
	int n;
};

static int collect_up(void *ctx, const char *key, const char *id, time_t t)
{
	struct ups *u = ctx;

	cr_assert(u->n < 8);
	snprintf(u->keys[u->n], sizeof(u->keys[0]), "%s", key);
	snprintf(u->ids[u->n], sizeof(u->ids[0]), "%s", id);
	u->t[u->n++] = t;
	return 0;
}

Test(s3client, uploads_listed_across_pages_and_aborted)
{
	char id1[256], id2[256];
	struct ups u = {0};
	struct err e;

	cr_assert_eq(s3c_upload_start(id1, sizeof(id1), cl, "tmp/u1", &e), 0,
		     "%s", e.msg);
	cr_assert_eq(s3c_upload_start(id2, sizeof(id2), cl, "tmp/u2", &e), 0);
	cr_assert_str_eq(id1, "id0001+/=");
	cr_assert_eq(s3c_uploads_list(cl, "tmp/", collect_up, &u, &e), 0, "%s",
		     e.msg);
	cr_assert_eq(u.n, 2);
	cr_assert_str_eq(u.keys[0], "tmp/u1");
	cr_assert_str_eq(u.ids[0], id1);
	cr_assert_str_eq(u.keys[1], "tmp/u2");
	cr_assert_eq(u.t[0], 1704164645); /* 2024-01-02T03:04:05Z */
	cr_assert_eq(mhd_count(&fix, "GET /bkt"), 2);
	cr_assert_eq(s3c_upload_abort(cl, "tmp/u1", id1, &e), 0, "%s", e.msg);
	cr_assert_eq(s3c_upload_abort(cl, "tmp/u1", id1, &e), ERR_NOT_FOUND);
	memset(&u, 0, sizeof(u));
	cr_assert_eq(s3c_uploads_list(cl, "", collect_up, &u, &e), 0);
	cr_assert_eq(u.n, 1);
	cr_assert_str_eq(u.ids[0], id2);
	cr_assert_eq(fk.bad_sig, 0);
}

Test(s3client, bucket_exists_and_create)
{
	struct err e;

	cr_assert_eq(s3c_bucket_exists(cl, &e), 0, "%s", e.msg);
	cr_assert_eq(s3c_bucket_create(cl, &e), 0, "%s", e.msg);
	cr_assert_str_eq(fk.last_body, "");
	cr_assert_eq(s3c_bucket_exists(cl, &e), 1);
	cr_assert_eq(s3c_bucket_create(cl, &e), 0, "%s", e.msg);
	cr_assert_eq(mhd_count(&fix, "PUT /bkt"), 2);
}

Test(s3client, another_region_signs_for_it_and_names_it)
{
	struct err e;

	snprintf(cfg.region, sizeof(cfg.region), "eu-west-1");
	fk.region = "eu-west-1";
	reopen();
	cr_assert_eq(s3c_bucket_create(cl, &e), 0, "%s", e.msg);
	cr_assert(strstr(fk.last_body, "<LocationConstraint>eu-west-1"
				       "</LocationConstraint>"));
	cr_assert(strstr(fk.auth, "/eu-west-1/s3/aws4_request"));
	cr_assert_eq(fk.bad_sig, 0);
}

Test(s3client, rgw_refusing_the_region_as_location_gets_none)
{
	struct err e;

	snprintf(cfg.region, sizeof(cfg.region), "eu-west-1");
	fk.region = "eu-west-1";
	fk.rgw_zonegroup = 1;
	reopen();
	cr_assert_eq(s3c_bucket_create(cl, &e), 0, "%s", e.msg);
	cr_assert_eq(mhd_count(&fix, "PUT /bkt"), 2);
	cr_assert_str_eq(fk.last_body, "");
	cr_assert_eq(fk.bucket_exists, 1);
	cr_assert_eq(s3c_bucket_create(cl, &e), 0, "%s", e.msg);
}

Test(s3client, a_session_token_is_sent_and_signed)
{
	struct err e;

	snprintf(cfg.session_token, sizeof(cfg.session_token), "tok/en+1");
	reopen();
	cr_assert_eq(s3c_put(cl, "k", "x", 1, NULL, NULL, &e), 0, "%s", e.msg);
	cr_assert(strstr(fk.auth, "SignedHeaders=host;x-amz-content-sha256;"
				  "x-amz-date;x-amz-security-token,"));
	cr_assert_eq(fk.bad_sig, 0);
}

Test(s3client, presigned_get_url)
{
	char *url, want[200];
	struct err e;

	cr_assert_eq(s3c_presign_get(&url, cl, "a b", 3600, &e), 0, "%s",
		     e.msg);
	snprintf(want, sizeof(want),
		 "%s/bkt/pfx/a%%20b?X-Amz-Algorithm=AWS4-HMAC-SHA256"
		 "&X-Amz-Credential=" AK "%%2F",
		 fix.base);
	cr_assert_eq(strncmp(url, want, strlen(want)), 0, "%s", url);
	cr_assert(strstr(url, "&X-Amz-Expires=3600&X-Amz-SignedHeaders=host"
			      "&X-Amz-Signature="));
	free(url);
	cr_assert_eq(s3c_presign_get(&url, cl, "a", 8 * 86400, &e),
		     ERR_INVALID);
}

struct worker {
	int id, failed;
};

static void *work(void *arg)
{
	struct worker *w = arg;
	char key[32], body[32], *got;
	struct err e;
	size_t len;

	for (int i = 0; i < 10; i++) {
		snprintf(key, sizeof(key), "t%d/%d", w->id, i);
		snprintf(body, sizeof(body), "body %d %d", w->id, i);
		if (s3c_put(cl, key, body, strlen(body), NULL, NULL, &e) ||
		    s3c_get(&got, &len, NULL, cl, key, 100, &e)) {
			w->failed++;
			continue;
		}
		w->failed += strcmp(got, body) != 0;
		free(got);
	}
	return NULL;
}

Test(s3client, one_client_serves_threads_at_once)
{
	pthread_t t[4];
	struct worker w[4];

	for (int i = 0; i < 4; i++) {
		w[i] = (struct worker){.id = i};
		cr_assert_eq(pthread_create(&t[i], NULL, work, &w[i]), 0);
	}
	for (int i = 0; i < 4; i++) {
		pthread_join(t[i], NULL);
		cr_assert_eq(w[i].failed, 0);
	}
	cr_assert_eq(mhd_count(&fix, "PUT"), 40);
	cr_assert_eq(fk.bad_sig, 0);
	/* connections were reused: at most one per thread */
	cr_assert_leq(fk.n_ports, 4);
}

Test(s3client, list_answers_decoded_entities_and_empty_elements)
{
	struct seen s = {0};
	struct err e;

	fk.raw_list =
	    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
	    "<ListBucketResult xmlns=\"http://s3.amazonaws.com/doc/"
	    "2006-03-01/\"><Name>bkt</Name><Prefix>pfx/</Prefix>"
	    "<Delimiter/><Contents><Key>pfx/&lt;a&gt;&amp;&quot;&apos;&#65;"
	    "&#x42;&#233;</Key><LastModified>2024-02-29T12:34:56.000Z"
	    "</LastModified><Size>7</Size></Contents>"
	    "<Contents><Key>pfx/bad&bogus;</Key><Size>1</Size></Contents>"
	    "<Contents><Key>elsewhere/x</Key><Size>1</Size></Contents>"
	    "<Contents><Key>pfx/nosize</Key></Contents>"
	    "<CommonPrefixes><Prefix>pfx/d/</Prefix></CommonPrefixes>"
	    "<CommonPrefixes><Prefix/></CommonPrefixes>"
	    "<IsTruncated>false</IsTruncated></ListBucketResult>";
	cr_assert_eq(s3c_list(cl, "", "/", collect, &s, &e), 0, "%s", e.msg);
	cr_assert_eq(s.n, 3);
	cr_assert_str_eq(s.names[0], "<a>&\"'AB\xc3\xa9");
	cr_assert_eq(s.sizes[0], 7);
	cr_assert_eq(s.mtimes[0], 1709210096);
	cr_assert_str_eq(s.names[1], "nosize");
	cr_assert_eq(s.sizes[1], -1);
	cr_assert_str_eq(s.names[2], "d/");
	cr_assert_eq(s.sizes[2], -1);

	/* truncated without a token: an error, not a loop */
	fk.raw_list = "<ListBucketResult><IsTruncated>true</IsTruncated>"
		      "</ListBucketResult>";
	cr_assert_eq(s3c_list(cl, "", NULL, collect, &s, &e), ERR_FAIL);
	cr_assert(strstr(e.msg, "s3 bkt: list: truncated without a "
				"new continuation token"),
		  "%s", e.msg);
	/* the same token again: an error too, not a loop */
	fk.raw_list = "<ListBucketResult><IsTruncated>true</IsTruncated>"
		      "<NextContinuationToken>t1</NextContinuationToken>"
		      "</ListBucketResult>";
	cr_assert_eq(s3c_list(cl, "", NULL, collect, &s, &e), ERR_FAIL);
	cr_assert(strstr(e.msg, "new continuation token"), "%s", e.msg);
}

Test(s3client, a_complete_that_says_error_in_a_200_fails_and_aborts)
{
	char data[1500];
	struct err e;
	int fd;

	memset(data, 'q', sizeof(data));
	fd = tmpfile_with(data, sizeof(data));
	cfg.multipart = 1000;
	cfg.part_size = 1000;
	reopen();
	fk.complete_error = 1;
	cr_assert_eq(s3c_put_fd(cl, "blobs/x", fd, 0, 1500, NULL, &e),
		     ERR_FAIL);
	cr_assert(strstr(e.msg, "s3 bkt/pfx/blobs/x: POST: 500 InternalError: "
				"We encountered an internal error."),
		  "%s", e.msg);
	cr_assert_eq(fk.part_puts, 2);
	cr_assert_eq(fk.aborts, 1);
	close(fd);
}

Test(s3client, a_broken_answer_is_fetched_again)
{
	char data[3000], *got, back[4000];
	int64_t size;
	struct err e;
	size_t len;
	int fd = tmpfile_with("", 0);

	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (char)('A' + i % 50);
	cr_assert_eq(s3c_put(cl, "o", data, sizeof(data), NULL, NULL, &e), 0);
	fk.drop_next = 1;
	cr_assert_eq(s3c_get(&got, &len, NULL, cl, "o", 4096, &e), 0, "%s",
		     e.msg);
	cr_assert_eq(len, sizeof(data));
	cr_assert_eq(memcmp(got, data, len), 0);
	free(got);
	cr_assert_eq(mhd_count(&fix, "GET /bkt/pfx/o"), 2);
	/* into a file: what the broken attempt wrote is not kept twice */
	fk.drop_next = 2;
	cr_assert_eq(s3c_get_to_fd(&size, cl, "o", fd, &e), 0, "%s", e.msg);
	cr_assert_eq(size, 3000);
	cr_assert_eq(pread(fd, back, sizeof(back), 0), 3000);
	cr_assert_eq(memcmp(back, data, 3000), 0);
	cr_assert_eq(mhd_count(&fix, "GET /bkt/pfx/o"), 5);
	close(fd);
}

Test(s3client, nothing_listening_is_a_failure_naming_the_key)
{
	struct err e;
	int port = fix.port;

	mhd_stop(&fix);
	snprintf(cfg.endpoint, sizeof(cfg.endpoint), "http://127.0.0.1:%d",
		 port);
	reopen();
	cr_assert_eq(s3c_put(cl, "k", "x", 1, NULL, NULL, &e), ERR_FAIL);
	cr_assert(strstr(e.msg, "s3 bkt/pfx/k: PUT: Couldn't connect"), "%s",
		  e.msg);
	cr_assert_null(strchr(e.msg, '\n'));
	mhd_start(&fix, s3_script, &fk, 0);
}

/* --- s3_config_parse --- */

static void no_env(void)
{
	static const char *vars[] = {
	    "AWS_ACCESS_KEY_ID",	   "AWS_SECRET_ACCESS_KEY",
	    "AWS_SESSION_TOKEN",	   "AWS_PROFILE",
	    "AWS_SHARED_CREDENTIALS_FILE", "AWS_REGION",
	    "AWS_DEFAULT_REGION",	   "AWS_ENDPOINT_URL",
	    "AWS_ENDPOINT_URL_S3"};

	for (size_t i = 0; i < sizeof(vars) / sizeof(vars[0]); i++)
		unsetenv(vars[i]);
	setenv("HOME", "/nonexistent-home", 1);
}

static void env_keys(void)
{
	no_env();
	setenv("AWS_ACCESS_KEY_ID", "AKENV", 1);
	setenv("AWS_SECRET_ACCESS_KEY", "SKENV", 1);
}

Test(s3config, a_full_url)
{
	struct s3_config c;
	struct err e;

	env_keys();
	setenv("AWS_SESSION_TOKEN", "TOK", 1);
	cr_assert_eq(s3_config_parse(&c,
				     "s3://my.bucket-1/mirror/site1/?endpoint="
				     "http%3A%2F%2F127.0.0.1%3A7480/&region="
				     "default&lease=45&multipart=8M&ca=/etc/"
				     "ca.pem&tls_verify=false",
				     &e),
		     0, "%s", e.msg);
	cr_assert_str_eq(c.bucket, "my.bucket-1");
	cr_assert_str_eq(c.prefix, "mirror/site1");
	cr_assert_str_eq(c.endpoint, "http://127.0.0.1:7480");
	cr_assert_str_eq(c.region, "default");
	cr_assert_eq(c.lease, 45);
	cr_assert_eq(c.multipart, 8 << 20);
	cr_assert_geq(c.part_size, 5 << 20);
	cr_assert_str_eq(c.ca_file, "/etc/ca.pem");
	cr_assert_eq(c.tls_verify, 0);
	cr_assert_str_eq(c.access_key, "AKENV");
	cr_assert_str_eq(c.secret_key, "SKENV");
	cr_assert_str_eq(c.session_token, "TOK");
}

Test(s3config, defaults)
{
	struct s3_config c;
	struct err e;

	env_keys();
	cr_assert_eq(s3_config_parse(&c, "s3://bkt", &e), 0, "%s", e.msg);
	cr_assert_str_eq(c.prefix, "");
	cr_assert_str_eq(c.region, "us-east-1");
	cr_assert_str_eq(c.endpoint, "https://s3.us-east-1.amazonaws.com");
	cr_assert_eq(c.lease, 30);
	cr_assert_eq(c.multipart, 64 << 20);
	cr_assert_eq(c.part_size, 16 << 20);
	cr_assert_eq(c.tls_verify, 1);
	cr_assert_str_eq(c.session_token, "");
	setenv("AWS_DEFAULT_REGION", "eu-central-1", 1);
	cr_assert_eq(s3_config_parse(&c, "s3://bkt/", &e), 0);
	cr_assert_str_eq(c.region, "eu-central-1");
	cr_assert_str_eq(c.endpoint, "https://s3.eu-central-1.amazonaws.com");
	setenv("AWS_REGION", "ap-south-1", 1);
	setenv("AWS_ENDPOINT_URL", "http://other:9000/", 1);
	cr_assert_eq(s3_config_parse(&c, "s3://bkt", &e), 0);
	cr_assert_str_eq(c.region, "ap-south-1");
	cr_assert_str_eq(c.endpoint, "http://other:9000");
	setenv("AWS_ENDPOINT_URL_S3", "https://rgw.local", 1);
	cr_assert_eq(s3_config_parse(&c, "s3://bkt", &e), 0);
	cr_assert_str_eq(c.endpoint, "https://rgw.local");
	cr_assert_eq(s3_config_parse(&c, "s3://bkt?endpoint=http://x:1", &e),
		     0);
	cr_assert_str_eq(c.endpoint, "http://x:1");
}

Test(s3config, leading_and_trailing_slashes_trimmed)
{
	struct s3_config c;
	struct err e;

	env_keys();
	cr_assert_eq(s3_config_parse(&c, "s3://bkt///a/b//", &e), 0, "%s",
		     e.msg);
	cr_assert_str_eq(c.prefix, "a/b");
}

Test(s3config, each_bad_kind_is_invalid)
{
	static const struct {
		const char *url, *says;
	} bad[] = {
	    {"http://bkt", "not an s3:// URL"},
	    {"s3://", "bad bucket name"},
	    {"s3://ab", "bad bucket name"},
	    {"s3://Bucket", "bad bucket name"},
	    {"s3://b_ucket", "bad bucket name"},
	    {"s3://-bucket", "bad bucket name"},
	    {"s3://a..b", "bad bucket name"},
	    {"s3://"
	     "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
	     "bad bucket name"},
	    {"s3://bkt/a/../b", "bad prefix"},
	    {"s3://bkt/..", "bad prefix"},
	    {"s3://bkt/a//b", "bad prefix"},
	    {"s3://bkt/./b", "bad prefix"},
	    {"s3://bkt?color=red", "unknown parameter color"},
	    {"s3://bkt?endpoint", "bad parameter endpoint"},
	    {"s3://bkt?endpoint=ftp://x", "bad endpoint"},
	    {"s3://bkt?endpoint=http://x/path", "bad endpoint"},
	    {"s3://bkt?tls_verify=maybe", "tls_verify"},
	    {"s3://bkt?multipart=1M", "bad multipart size"},
	    {"s3://bkt?multipart=lots", "bad multipart size"},
	    {"s3://bkt?lease=0", "bad lease"},
	    {"s3://bkt?lease=10s", "bad lease"},
	    {"s3://bkt?region=", "bad region"},
	    {"s3://bkt?region=a%2Fb", "bad region"},
	    {"s3://bkt?ca=", "bad ca"},
	    {"s3://bkt?region=%zz", "bad parameter region"},
	};
	struct s3_config c;
	struct err e;

	env_keys();
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memset(&e, 0, sizeof(e));
		cr_assert_eq(s3_config_parse(&c, bad[i].url, &e), ERR_INVALID,
			     "%s", bad[i].url);
		cr_assert(strstr(e.msg, bad[i].says), "%s: %s", bad[i].url,
			  e.msg);
		cr_assert_null(strchr(e.msg, '\n'));
	}
}

Test(s3config, credentials_file_profiles)
{
	char path[] = "/tmp/s3creds-XXXXXX";
	const char *ini = "# comment\n"
			  "[default]\n"
			  "aws_access_key_id = AKDEF\n"
			  "aws_secret_access_key=SKDEF\n"
			  "\n"
			  "[ci]\n"
			  "  aws_access_key_id = AKCI  \n"
			  "aws_secret_access_key = SK/CI+x\n"
			  "aws_session_token = TOKCI\n"
			  "[broken]\n"
			  "aws_access_key_id = only\n";
	struct s3_config c;
	struct err e;
	int fd = mkstemp(path);

	cr_assert(fd >= 0);
	cr_assert_eq(write(fd, ini, strlen(ini)), (ssize_t)strlen(ini));
	close(fd);
	no_env();
	setenv("AWS_SHARED_CREDENTIALS_FILE", path, 1);
	cr_assert_eq(s3_config_parse(&c, "s3://bkt", &e), 0, "%s", e.msg);
	cr_assert_str_eq(c.access_key, "AKDEF");
	cr_assert_str_eq(c.secret_key, "SKDEF");
	cr_assert_str_eq(c.session_token, "");
	setenv("AWS_PROFILE", "ci", 1);
	cr_assert_eq(s3_config_parse(&c, "s3://bkt", &e), 0, "%s", e.msg);
	cr_assert_str_eq(c.access_key, "AKCI");
	cr_assert_str_eq(c.secret_key, "SK/CI+x");
	cr_assert_str_eq(c.session_token, "TOKCI");
	setenv("AWS_PROFILE", "broken", 1);
	cr_assert_eq(s3_config_parse(&c, "s3://bkt", &e), ERR_INVALID);
	cr_assert(strstr(e.msg, "no credentials"), "%s", e.msg);
	/* the environment wins over the file */
	setenv("AWS_ACCESS_KEY_ID", "AKENV", 1);
	setenv("AWS_SECRET_ACCESS_KEY", "SKENV", 1);
	cr_assert_eq(s3_config_parse(&c, "s3://bkt", &e), 0);
	cr_assert_str_eq(c.access_key, "AKENV");
	unlink(path);
}

Test(s3config, no_credentials_is_invalid)
{
	struct s3_config c;
	struct err e;

	no_env();
	cr_assert_eq(s3_config_parse(&c, "s3://bkt/p", &e), ERR_INVALID);
	cr_assert(strstr(e.msg, "s3 bkt: no credentials"), "%s", e.msg);
	cr_assert_null(strchr(e.msg, '\n'));
	setenv("AWS_ACCESS_KEY_ID", "AK", 1); /* half a pair */
	cr_assert_eq(s3_config_parse(&c, "s3://bkt/p", &e), ERR_INVALID);
}
