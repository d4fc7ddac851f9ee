/* The server over a remote, shared store, without S3: the filesystem
 * backend's table with the remote and shared flags, a direct URL per blob
 * and upload sessions kept in files (the ops an S3 backend has), under
 * two servers on one store, as two replicas on one bucket. */
#include <crypt.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mirror/serve/serve.h"
#include "mirror/store/backend.h"
#include "oci/buf.h"
#include "oci/ref.h"
#include "storefix.h"
#include "httpfix.h"

#define REPO "library/app"
#define USER "pusher"
#define PASS "s3cret"
#define BIG (3 * 1024 * 1024 + 4321) /* over three read windows */

static struct fix F;
static struct server *A, *B; /* B redirects */
static struct store_ops fake;
static char sess_dir[300];
static pthread_mutex_t sess_mu = PTHREAD_MUTEX_INITIALIZER;
static int conflict_next; /* the next append conflicts, as if raced */
static char *big;
static struct oci_digest big_d, small_d;
static const char *small_text = "a small blob, proxied even with redirect";

/* --- the fake backend's extra ops --------------------------------- */

static int fake_url(char **out, void *be, const struct oci_digest *d,
		    unsigned ttl, struct err *err)
{
	(void)be;
	(void)err;
	return asprintf(out, "http://objects.invalid/%s?ttl=%u", d->str, ttl) <
		       0
		   ? ERR_FAIL
		   : 0;
}

static void sess_path(char *dst, size_t cap, const char *id, const char *ext)
{
	snprintf(dst, cap, "%s/%s.%s", sess_dir, id, ext);
}

static int fake_info(uint64_t *off, char *repo_out, void *be, const char *id,
		     struct err *err)
{
	char p[400];
	struct stat st;
	FILE *f;

	(void)be;
	sess_path(p, sizeof(p), id, "data");
	if (stat(p, &st))
		return err_set(err, ERR_NOT_FOUND, "session %s unknown", id);
	*off = (uint64_t)st.st_size;
	sess_path(p, sizeof(p), id, "repo");
	f = fopen(p, "r");
	if (!f)
		return err_set(err, ERR_NOT_FOUND, "session %s unknown", id);
	if (!fgets(repo_out, OCI_REPO_MAX, f))
		repo_out[0] = 0;
	fclose(f);
	return 0;
}

static int fake_append(void *be, const char *id, const char *repo, uint64_t off,
		       int fd, uint64_t len, struct err *err)
{
	char p[400], owner[OCI_REPO_MAX], buf[65536];
	uint64_t have = 0, done = 0;
	int out, rc = 0;
	FILE *f;

	pthread_mutex_lock(&sess_mu);
	if (conflict_next) {
		conflict_next = 0;
		pthread_mutex_unlock(&sess_mu);
		return err_set(err, ERR_CONFLICT, "session %s moved on", id);
	}
	if (fake_info(&have, owner, be, id, NULL) == ERR_NOT_FOUND) {
		have = 0;
		sess_path(p, sizeof(p), id, "repo");
		f = fopen(p, "w");
		cr_assert(f);
		fputs(repo, f);
		fclose(f);
	}
	if (have != off) {
		pthread_mutex_unlock(&sess_mu);
		return err_set(err, ERR_CONFLICT, "session %s at %llu", id,
			       (unsigned long long)have);
	}
	sess_path(p, sizeof(p), id, "data");
	out = open(p, O_WRONLY | O_CREAT | O_APPEND, 0644);
	cr_assert(out >= 0);
	while (done < len) {
		size_t want = len - done > sizeof(buf) ? sizeof(buf)
						       : (size_t)(len - done);
		ssize_t r = pread(fd, buf, want, (off_t)(off + done));
		if (r <= 0) {
			rc = err_set(err, ERR_FAIL, "read back");
			break;
		}
		cr_assert_eq(write(out, buf, (size_t)r), r);
		done += (uint64_t)r;
	}
	close(out);
	pthread_mutex_unlock(&sess_mu);
	return rc;
}

static int fake_read_at(size_t *got, void *be, const char *id, uint64_t off,
			void *buf, size_t len, struct err *err)
{
	char p[400];
	ssize_t r;
	int fd;

	(void)be;
	sess_path(p, sizeof(p), id, "data");
	fd = open(p, O_RDONLY);
	if (fd < 0)
		return err_set(err, ERR_NOT_FOUND, "session %s unknown", id);
	r = pread(fd, buf, len, (off_t)off);
	close(fd);
	if (r < 0)
		return err_set(err, ERR_FAIL, "read");
	*got = (size_t)r;
	return 0;
}

static int fake_forget(void *be, const char *id, struct err *err)
{
	char p[400];

	(void)be;
	(void)err;
	sess_path(p, sizeof(p), id, "data");
	unlink(p);
	sess_path(p, sizeof(p), id, "repo");
	unlink(p);
	return 0;
}

static int session_in_store(const char *id)
{
	char p[400];

	sess_path(p, sizeof(p), id, "data");
	return access(p, F_OK) == 0;
}

/* --- requests ------------------------------------------------------ */

static void req(struct resp *r, struct server *s, const char *method,
		const char *path, const char *body, size_t blen,
		const char *hdr, int auth)
{
	CURL *c = curl_easy_init();
	struct curl_slist *h = NULL;
	char url[4096];

	cr_assert(c);
	memset(r, 0, sizeof(*r));
	buf_init(&r->body, 16 << 20);
	snprintf(url, sizeof(url), "http://127.0.0.1:%u%s", serve_port(s),
		 path);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 20L);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, r);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, r);
	h = curl_slist_append(h, "Expect:");
	if (hdr)
		h = curl_slist_append(h, hdr);
	if (body)
		h = curl_slist_append(h,
				      "Content-Type: application/octet-stream");
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	if (!strcmp(method, "HEAD"))
		curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
	else if (strcmp(method, "GET") || body)
		curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	if (body) {
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)blen);
	}
	if (auth) {
		curl_easy_setopt(c, CURLOPT_USERNAME, USER);
		curl_easy_setopt(c, CURLOPT_PASSWORD, PASS);
	}
	cr_assert_eq(curl_easy_perform(c), CURLE_OK, "%s %s", method, path);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
	curl_slist_free_all(h);
	curl_easy_cleanup(c);
}

static void done(struct resp *r)
{
	buf_release(&r->body);
}

static void write_htpasswd(const char *path)
{
	char salt[64];
	const char *hash;
	FILE *f;

	cr_assert(crypt_gensalt_rn("$2b$", 4, NULL, 0, salt, sizeof(salt)));
	hash = crypt(PASS, salt);
	cr_assert(hash);
	f = fopen(path, "w");
	cr_assert(f);
	fprintf(f, "%s:%s\n", USER, hash);
	fclose(f);
}

static void setup(void)
{
	struct serve_options o;
	char htp[300];
	struct err e;

	fix_setup(&F);
	fake = fs_store_ops;
	fake.flags = STORE_BE_REMOTE | STORE_BE_SHARED;
	fake.blob_url = fake_url;
	fake.upload_append = fake_append;
	fake.upload_info = fake_info;
	fake.upload_read_at = fake_read_at;
	fake.upload_forget = fake_forget;
	F.st.ops = &fake;
	snprintf(sess_dir, sizeof(sess_dir), "%s/fake-sessions", F.root);
	cr_assert_eq(mkdir(sess_dir, 0755), 0);
	big = malloc(BIG);
	cr_assert(big);
	for (size_t i = 0; i < BIG; i++)
		big[i] = (char)((i * 2654435761u) >> 13);
	oci_digest_of(&big_d, OCI_SHA256, big, BIG);
	cr_assert_eq(store_blob_put(&F.st, &big_d, big, BIG, &e), 0, "%s",
		     e.msg);
	cr_assert_eq(store_blob_link(&F.st, REPO, &big_d, &e), 0, "%s", e.msg);
	small_d = fix_blob(&F, small_text);
	cr_assert_eq(store_blob_link(&F.st, REPO, &small_d, &e), 0, "%s",
		     e.msg);
	snprintf(htp, sizeof(htp), "%s/htpasswd", F.root);
	write_htpasswd(htp);
	serve_options_init(&o);
	o.listen = "127.0.0.1:0";
	o.htpasswd = htp;
	o.anonymous_read = 1;
	o.push = 1;
	o.delete = 1;
	o.threads = 2;
	cr_assert_eq(serve_start(&A, &F.st, &o, &e), 0, "%s", e.msg);
	o.redirect = 1;
	cr_assert_eq(serve_start(&B, &F.st, &o, &e), 0, "%s", e.msg);
}

static void teardown(void)
{
	serve_stop(A);
	serve_stop(B);
	A = B = NULL;
	F.st.ops = &fs_store_ops;
	fix_teardown(&F);
	free(big);
}

TestSuite(serve_remote, .init = setup, .fini = teardown, .timeout = 60);

Test(serve_remote, a_blob_streams_whole_and_by_range)
{
	struct resp r;
	char path[300], hdr[64], cr[96], len[32];

	snprintf(path, sizeof(path), "/v2/%s/blobs/%s", REPO, big_d.str);
	req(&r, A, "GET", path, NULL, 0, NULL, 0);
	cr_assert_eq(r.status, 200);
	cr_assert_eq(r.body.len, BIG);
	cr_assert_eq(memcmp(r.body.data, big, BIG), 0);
	cr_assert_str_eq(header(&r, "Docker-Content-Digest"), big_d.str);
	done(&r);
	/* a range across a window's end */
	snprintf(hdr, sizeof(hdr), "Range: bytes=%d-%d", 1048000, 2100000);
	req(&r, A, "GET", path, NULL, 0, hdr, 0);
	cr_assert_eq(r.status, 206);
	cr_assert_eq(r.body.len, 2100000 - 1048000 + 1);
	cr_assert_eq(memcmp(r.body.data, big + 1048000, r.body.len), 0);
	snprintf(cr, sizeof(cr), "bytes 1048000-2100000/%d", BIG);
	cr_assert_str_eq(header(&r, "Content-Range"), cr);
	done(&r);
	/* the last bytes */
	req(&r, A, "GET", path, NULL, 0, "Range: bytes=-10", 0);
	cr_assert_eq(r.status, 206);
	cr_assert_eq(r.body.len, 10);
	cr_assert_eq(memcmp(r.body.data, big + BIG - 10, 10), 0);
	done(&r);
	req(&r, A, "GET", path, NULL, 0, "Range: bytes=99999999-", 0);
	cr_assert_eq(r.status, 416);
	snprintf(cr, sizeof(cr), "bytes */%d", BIG);
	cr_assert_str_eq(header(&r, "Content-Range"), cr);
	done(&r);
	req(&r, A, "HEAD", path, NULL, 0, NULL, 0);
	cr_assert_eq(r.status, 200);
	snprintf(len, sizeof(len), "%d", BIG);
	cr_assert_str_eq(header(&r, "Content-Length"), len);
	cr_assert_eq(r.body.len, 0);
	done(&r);
}

Test(serve_remote, a_manifest_is_read_into_memory)
{
	const char *layers[] = {"layer one"};
	struct oci_digest m =
	    fix_image(&F, REPO, "{\"c\":1}", layers, 1, NULL, NULL);
	struct resp r;
	char path[300];
	char *want = NULL;
	size_t wlen = 0;
	struct err e;

	fix_tag(&F, REPO, "v1", &m, MT_MANIFEST);
	cr_assert_eq(store_blob_read(&want, &wlen, &F.st, &m, 1 << 20, &e), 0);
	snprintf(path, sizeof(path), "/v2/%s/manifests/v1", REPO);
	req(&r, A, "GET", path, NULL, 0, NULL, 0);
	cr_assert_eq(r.status, 200);
	cr_assert_str_eq(header(&r, "Docker-Content-Digest"), m.str);
	cr_assert_str_eq(header(&r, "Content-Type"), MT_MANIFEST);
	cr_assert_eq(r.body.len, wlen);
	cr_assert_eq(memcmp(r.body.data, want, wlen), 0);
	done(&r);
	/* the manifest as a blob keeps its type, and is never redirected */
	snprintf(path, sizeof(path), "/v2/%s/blobs/%s", REPO, m.str);
	req(&r, B, "GET", path, NULL, 0, NULL, 0);
	cr_assert_eq(r.status, 200);
	cr_assert_str_eq(header(&r, "Content-Type"), MT_MANIFEST);
	cr_assert_eq(r.body.len, wlen);
	done(&r);
	free(want);
}

Test(serve_remote, redirect_sends_large_blobs_to_the_store_url)
{
	struct resp r;
	char path[300], want[400], len[32];

	snprintf(path, sizeof(path), "/v2/%s/blobs/%s", REPO, big_d.str);
	req(&r, B, "GET", path, NULL, 0, NULL, 0);
	cr_assert_eq(r.status, 307);
	snprintf(want, sizeof(want), "http://objects.invalid/%s?ttl=%u",
		 big_d.str, SERVE_REDIRECT_TTL);
	cr_assert_str_eq(header(&r, "Location"), want);
	cr_assert_str_eq(header(&r, "Docker-Content-Digest"), big_d.str);
	cr_assert_str_eq(header(&r, "Content-Length"), "0");
	cr_assert_eq(r.body.len, 0);
	done(&r);
	/* HEAD never redirects */
	req(&r, B, "HEAD", path, NULL, 0, NULL, 0);
	cr_assert_eq(r.status, 200);
	snprintf(len, sizeof(len), "%d", BIG);
	cr_assert_str_eq(header(&r, "Content-Length"), len);
	done(&r);
	/* a small blob is proxied */
	snprintf(path, sizeof(path), "/v2/%s/blobs/%s", REPO, small_d.str);
	req(&r, B, "GET", path, NULL, 0, NULL, 0);
	cr_assert_eq(r.status, 200);
	cr_assert_eq(r.body.len, strlen(small_text));
	cr_assert_eq(memcmp(r.body.data, small_text, r.body.len), 0);
	done(&r);
	/* without --redirect, the same blob is proxied */
	snprintf(path, sizeof(path), "/v2/%s/blobs/%s", REPO, big_d.str);
	req(&r, A, "GET", path, NULL, 0, NULL, 0);
	cr_assert_eq(r.status, 200);
	cr_assert_eq(r.body.len, BIG);
	done(&r);
	req(&r, B, "GET", "/metrics", NULL, 0, NULL, 0);
	cr_assert_eq(r.status, 200);
	cr_assert(strstr(r.body.data, "\nocimirror_blob_redirects_total 1\n"),
		  "%s", r.body.data);
	cr_assert(strstr(r.body.data,
			 "ocimirror_http_requests_total{method=\"GET\","
			 "status=\"307\"} 1\n"));
	done(&r);
}

Test(serve_remote, redirect_needs_a_store_with_urls)
{
	struct serve_options o;
	struct server *s = NULL;
	struct err e;

	serve_options_init(&o);
	o.listen = "127.0.0.1:0";
	o.redirect = 1;
	cr_assert_eq(serve_options_check_store(&o, &F.st, &e), 0);
	fake.blob_url = NULL;
	cr_assert_eq(serve_options_check_store(&o, &F.st, &e), ERR_INVALID);
	cr_assert(strstr(e.msg, "--redirect"), "%s", e.msg);
	cr_assert(strstr(e.msg, F.root), "%s", e.msg);
	cr_assert_eq(serve_start(&s, &F.st, &o, &e), ERR_INVALID);
	cr_assert_null(s);
	o.redirect = 0;
	cr_assert_eq(serve_options_check_store(&o, &F.st, &e), 0);
	fake.blob_url = fake_url;
}

/* PATCH chunk at offset at on server s: 202 and the new Range. */
static void patch_on(struct server *s, const char *loc, const char *chunk,
		     size_t n, uint64_t at)
{
	struct resp r;
	char cr[64], range[64];

	snprintf(cr, sizeof(cr), "Content-Range: %llu-%llu",
		 (unsigned long long)at, (unsigned long long)(at + n - 1));
	req(&r, s, "PATCH", loc, chunk, n, cr, 1);
	cr_assert_eq(r.status, 202, "PATCH at %llu: %ld %.*s",
		     (unsigned long long)at, r.status, (int)r.body.len,
		     r.body.data);
	snprintf(range, sizeof(range), "0-%llu",
		 (unsigned long long)(at + n - 1));
	cr_assert_str_eq(header(&r, "Range"), range);
	done(&r);
}

Test(serve_remote, a_chunked_push_hops_between_replicas)
{
	size_t n = 300000, total = 3 * n;
	struct oci_digest d;
	struct resp r;
	char loc[512], id[64], path[700];

	oci_digest_of(&d, OCI_SHA256, big, total);
	req(&r, A, "POST", "/v2/pushed/blobs/uploads/", "", 0, NULL, 1);
	cr_assert_eq(r.status, 202);
	snprintf(loc, sizeof(loc), "%s", header(&r, "Location"));
	snprintf(id, sizeof(id), "%s", header(&r, "Docker-Upload-UUID"));
	done(&r);
	cr_assert_eq(strlen(id), 32);
	cr_assert(session_in_store(id), "made in the store at POST");
	patch_on(A, loc, big, n, 0);
	patch_on(B, loc, big + n, n, n); /* B joins it from the store */
	/* both tell the store's offset */
	for (int i = 0; i < 2; i++) {
		char range[64];

		req(&r, i ? B : A, "GET", loc, NULL, 0, NULL, 1);
		cr_assert_eq(r.status, 204);
		snprintf(range, sizeof(range), "0-%zu", 2 * n - 1);
		cr_assert_str_eq(header(&r, "Range"), range);
		done(&r);
	}
	/* A is behind by B's chunk: a chunk at A's old offset is refused */
	req(&r, A, "PATCH", loc, "x", 1, "Content-Range: 300000-300000", 1);
	cr_assert_eq(r.status, 416);
	cr_assert_str_eq(header(&r, "Range"), "0-599999");
	done(&r);
	patch_on(A, loc, big + 2 * n, n, 2 * n); /* A catches up */
	snprintf(path, sizeof(path), "%s?digest=%s", loc, d.str);
	req(&r, B, "PUT", path, "", 0, NULL, 1);
	cr_assert_eq(r.status, 201, "%.*s", (int)r.body.len, r.body.data);
	cr_assert_str_eq(header(&r, "Docker-Content-Digest"), d.str);
	done(&r);
	cr_assert(!session_in_store(id), "forgotten at commit");
	for (int i = 0; i < 2; i++) {
		snprintf(path, sizeof(path), "/v2/pushed/blobs/%s", d.str);
		req(&r, i ? B : A, "GET", path, NULL, 0, NULL, 0);
		cr_assert_eq(r.status, 200);
		cr_assert_eq(r.body.len, total);
		cr_assert_eq(memcmp(r.body.data, big, total), 0);
		done(&r);
	}
	/* A's copy of the session is stale: the store has none */
	req(&r, A, "PATCH", loc, "y", 1, "Content-Range: 900000-900000", 1);
	cr_assert_eq(r.status, 404);
	done(&r);
	req(&r, A, "GET", "/metrics", NULL, 0, NULL, 0);
	cr_assert(strstr(r.body.data,
			 "\nocimirror_upload_sessions_joined_total 0\n"));
	done(&r);
	req(&r, B, "GET", "/metrics", NULL, 0, NULL, 0);
	cr_assert(strstr(r.body.data,
			 "\nocimirror_upload_sessions_joined_total 1\n"));
	done(&r);
}

Test(serve_remote, a_chunk_the_store_refuses_is_not_taken)
{
	size_t n = 200000;
	struct oci_digest d;
	struct resp r;
	char loc[512], path[700];

	oci_digest_of(&d, OCI_SHA256, big, 2 * n);
	req(&r, A, "POST", "/v2/pushed/blobs/uploads/", "", 0, NULL, 1);
	snprintf(loc, sizeof(loc), "%s", header(&r, "Location"));
	done(&r);
	/* B knows it from the store before any byte */
	req(&r, B, "GET", loc, NULL, 0, NULL, 1);
	cr_assert_eq(r.status, 204);
	cr_assert_str_eq(header(&r, "Range"), "0-0");
	done(&r);
	patch_on(A, loc, big, n, 0);
	conflict_next = 1;
	req(&r, A, "PATCH", loc, big + n, n, "Content-Range: 200000-399999", 1);
	cr_assert_eq(r.status, 416);
	done(&r);
	/* the store still has the first chunk only */
	req(&r, B, "GET", loc, NULL, 0, NULL, 1);
	cr_assert_eq(r.status, 204);
	cr_assert_str_eq(header(&r, "Range"), "0-199999");
	done(&r);
	/* A's copy went past the store: it starts again from the store's */
	patch_on(A, loc, big + n, n, n);
	snprintf(path, sizeof(path), "%s?digest=%s", loc, d.str);
	req(&r, A, "PUT", path, "", 0, NULL, 1);
	cr_assert_eq(r.status, 201, "%.*s", (int)r.body.len, r.body.data);
	done(&r);
	snprintf(path, sizeof(path), "/v2/pushed/blobs/%s", d.str);
	req(&r, B, "GET", path, NULL, 0, NULL, 0);
	cr_assert_eq(r.status, 200);
	cr_assert_eq(r.body.len, 2 * n);
	cr_assert_eq(memcmp(r.body.data, big, 2 * n), 0);
	done(&r);
}

Test(serve_remote, a_session_cancelled_on_one_replica_is_gone_on_both)
{
	struct resp r;
	char loc[512], id[64];

	req(&r, A, "POST", "/v2/pushed/blobs/uploads/", "", 0, NULL, 1);
	cr_assert_eq(r.status, 202);
	snprintf(loc, sizeof(loc), "%s", header(&r, "Location"));
	snprintf(id, sizeof(id), "%s", header(&r, "Docker-Upload-UUID"));
	done(&r);
	patch_on(A, loc, "abc", 3, 0);
	req(&r, B, "DELETE", loc, NULL, 0, NULL, 1);
	cr_assert_eq(r.status, 204);
	done(&r);
	cr_assert(!session_in_store(id));
	req(&r, A, "PATCH", loc, "def", 3, "Content-Range: 3-5", 1);
	cr_assert_eq(r.status, 404);
	done(&r);
	req(&r, B, "GET", loc, NULL, 0, NULL, 1);
	cr_assert_eq(r.status, 404);
	done(&r);
	/* a session of another repository is not this one's */
	req(&r, A, "POST", "/v2/pushed/blobs/uploads/", "", 0, NULL, 1);
	snprintf(loc, sizeof(loc), "/v2/other/blobs/uploads/%s",
		 header(&r, "Docker-Upload-UUID"));
	done(&r);
	req(&r, B, "PATCH", loc, "abc", 3, "Content-Range: 0-2", 1);
	cr_assert_eq(r.status, 404);
	done(&r);
}

Test(serve_remote, ids_that_are_no_session_name_never_reach_the_store)
{
	struct resp r;

	req(&r, B, "PATCH", "/v2/pushed/blobs/uploads/..%2f..%2fx", "abc", 3,
	    "Content-Range: 0-2", 1);
	cr_assert_eq(r.status, 404);
	done(&r);
}
