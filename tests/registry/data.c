/* The registry client's data path against the project's own server,
 * started in-process on an ephemeral loopback port over a store filled
 * through the store API: manifests, tags, small blobs, parallel transfers
 * (and their digest and not-found failures), uploads (monolithic, chunked,
 * mounted, refused without credentials), manifest pushes and the pool. */
#include <crypt.h>

#include "mirror/serve/serve.h"
#include "registry/pool.h"
#include "registry/transfer.h"
#include "registry/upload.h"
#include "tests/mirror/storefix.h"

#define REPO "team/app"
#define BIG (300u * 1024)

struct site {
	struct fix f;
	struct server *srv;
	char host[64], plain_base[80];
	char htpasswd[300];
	struct reg_options opt;
	struct reg_pool pool;
	struct reg_host_options plain;
	struct reg_pool_host hosts[1];
	struct reg_client *c;
	char *big; /* BIG bytes of layer */
	struct oci_digest image, config, small, large;
};

static void write_htpasswd(const char *path)
{
	char salt[64];
	struct crypt_data cd;
	const char *hash;
	FILE *fp;

	cr_assert(crypt_gensalt_rn("$2b$", 4, NULL, 0, salt, sizeof(salt)));
	memset(&cd, 0, sizeof(cd));
	hash = crypt_r("s3cret", salt, &cd);
	cr_assert(hash && hash[0] == '$', "bcrypt unavailable");
	fp = fopen(path, "w");
	cr_assert(fp);
	fprintf(fp, "alice:%s\n", hash);
	fclose(fp);
}

static void site_setup(struct site *s)
{
	struct serve_options so;
	const char *layers[2];
	struct err e;

	memset(s, 0, sizeof(*s));
	/* no credentials from the user's files */
	setenv("DOCKER_CONFIG", "/nonexistent-ocimirror-test", 1);
	unsetenv("REGISTRY_AUTH_FILE");
	unsetenv("XDG_RUNTIME_DIR");
	unsetenv("OCIMIRROR_INSECURE_REGISTRIES");
	fix_setup(&s->f);
	s->big = malloc(BIG + 1);
	cr_assert(s->big);
	for (size_t i = 0; i < BIG; i++)
		s->big[i] = (char)('a' + (i * 7 + i / 1000) % 26);
	s->big[BIG] = '\0';
	layers[0] = "small layer";
	layers[1] = s->big;
	s->image = fix_image(&s->f, REPO, "the config", layers, 2, NULL, NULL);
	fix_tag(&s->f, REPO, "1.0", &s->image, MT_MANIFEST);
	fix_tag(&s->f, REPO, "latest", &s->image, MT_MANIFEST);
	s->config = fix_blob(&s->f, "the config");
	s->small = fix_blob(&s->f, "small layer");
	s->large = fix_blob(&s->f, s->big);

	snprintf(s->htpasswd, sizeof(s->htpasswd), "%s/htpasswd", s->f.root);
	write_htpasswd(s->htpasswd);
	serve_options_init(&so);
	so.listen = "127.0.0.1:0";
	so.htpasswd = s->htpasswd;
	so.anonymous_read = 1;
	so.push = 1;
	so.threads = 2;
	cr_assert_eq(serve_start(&s->srv, &s->f.st, &so, &e), 0, "%s", e.msg);
	snprintf(s->host, sizeof(s->host), "127.0.0.1:%u", serve_port(s->srv));
	snprintf(s->plain_base, sizeof(s->plain_base), "http://%s", s->host);

	reg_options_init(&s->opt);
	s->opt.retries = 1;
	s->opt.retry_base_ms = 10;
	reg_pool_init(&s->pool, &s->opt);
	/* plain http from the start: no https probe for the server to log */
	s->plain.tls = REG_TLS_PLAIN;
	s->hosts[0].host = s->host;
	s->hosts[0].opt = &s->plain;
	reg_pool_set_hosts(&s->pool, s->hosts, 1);
	cr_assert_eq(reg_pool_get(&s->pool, &s->c, s->host, &e), 0, "%s",
		     e.msg);
}

static void site_teardown(struct site *s)
{
	reg_pool_release(&s->pool);
	serve_stop(s->srv);
	free(s->big);
	fix_teardown(&s->f);
}

/* ---- reading ---- */

Test(reg_data, manifest_by_tag_and_digest_with_its_digest_verified)
{
	struct site s;
	struct reg_manifest m;
	char *raw = NULL;
	size_t len = 0;
	int64_t size = -1;
	struct err e;

	site_setup(&s);
	cr_assert_eq(
	    store_blob_read(&raw, &len, &s.f.st, &s.image, 1 << 20, &e), 0);
	cr_assert_eq(reg_client_get_manifest(s.c, &m, REPO, "1.0", &e), 0, "%s",
		     e.msg);
	cr_assert_eq(m.len, len);
	cr_assert_eq(memcmp(m.body, raw, len), 0);
	cr_assert(m.has_digest);
	cr_assert_str_eq(m.digest.str, s.image.str);
	cr_assert_str_eq(m.content_type, MT_MANIFEST);
	reg_manifest_release(&m);

	cr_assert_eq(reg_client_get_manifest(s.c, &m, REPO, s.image.str, &e), 0,
		     "%s", e.msg);
	cr_assert_eq(m.len, len);
	reg_manifest_release(&m);

	cr_assert_eq(
	    reg_client_head_manifest(s.c, &m, &size, REPO, "latest", &e), 0,
	    "%s", e.msg);
	cr_assert_eq(size, (int64_t)len);
	cr_assert_str_eq(m.digest.str, s.image.str);
	reg_manifest_release(&m);

	cr_assert_eq(reg_client_get_manifest(s.c, &m, REPO, "2.0", &e),
		     ERR_NOT_FOUND);
	cr_assert(strstr(e.msg, REPO ":2.0"), "%s", e.msg);
	free(raw);
	site_teardown(&s);
}

Test(reg_data, tags_small_blobs_and_an_empty_referrers_index)
{
	struct site s;
	char **tags = NULL;
	size_t n = 0;
	struct buf b;
	struct oci_digest absent;
	struct err e;

	site_setup(&s);
	cr_assert_eq(reg_client_list_tags(s.c, &tags, &n, REPO, &e), 0, "%s",
		     e.msg);
	cr_assert_eq(n, 2);
	cr_assert_str_eq(tags[0], "1.0");
	cr_assert_str_eq(tags[1], "latest");
	cr_assert_null(tags[2]);
	oci_strv_free(tags);

	buf_init(&b, 1024);
	cr_assert_eq(reg_client_get_blob(s.c, &b, REPO, &s.config, &e), 0, "%s",
		     e.msg);
	cr_assert_eq(b.len, strlen("the config"));
	cr_assert_eq(memcmp(b.data, "the config", b.len), 0);
	/* over the buffer's cap */
	cr_assert_eq(reg_client_get_blob(s.c, &b, REPO, &s.large, &e),
		     ERR_TOO_LARGE);
	oci_digest_of(&absent, OCI_SHA256, "absent", 6);
	cr_assert_eq(reg_client_get_blob(s.c, &b, REPO, &absent, &e),
		     ERR_NOT_FOUND);

	buf_reset(&b);
	buf_release(&b);
	buf_init(&b, 1 << 20);
	cr_assert_eq(reg_client_referrers(s.c, &b, REPO, &s.image, &e), 0, "%s",
		     e.msg);
	cr_assert(strstr(b.data, "\"manifests\":[]"), "%s", b.data);
	buf_release(&b);
	/* the server wants users at /v2/ even with anonymous reads */
	cr_assert_eq(reg_client_ping(s.c, &e), ERR_UNAUTHORIZED);
	cr_assert(strstr(e.msg, "ocimirror login"), "%s", e.msg);
	cr_assert_eq(reg_client_set_creds(s.c, "alice", "s3cret", &e), 0);
	cr_assert_eq(reg_client_ping(s.c, &e), 0, "%s", e.msg);
	cr_assert_eq(reg_client_set_creds(s.c, "alice", "wrong", &e), 0);
	cr_assert_eq(reg_client_ping(s.c, &e), ERR_UNAUTHORIZED);
	site_teardown(&s);
}

/* ---- transfers ---- */

struct memsink {
	struct buf b;
	struct oci_digest want;
	int resets, finishes;
};

static int ms_write(void *ctx, const void *p, size_t n, struct err *err)
{
	struct memsink *m = ctx;

	if (buf_append(&m->b, p, n))
		return err_set(err, ERR_TOO_LARGE, "sink full");
	return 0;
}

static int ms_reset(void *ctx, struct err *err)
{
	struct memsink *m = ctx;

	(void)err;
	buf_reset(&m->b);
	m->resets++;
	return 0;
}

static uint64_t ms_offset(void *ctx)
{
	return ((struct memsink *)ctx)->b.len;
}

static int ms_finish(void *ctx, struct err *err)
{
	struct memsink *m = ctx;
	struct oci_digest got;

	m->finishes++;
	oci_digest_of(&got, m->want.alg, m->b.data, m->b.len);
	if (!oci_digest_equal(&got, &m->want))
		return err_set(err, ERR_DIGEST, "digest mismatch: got %s",
			       got.str);
	return 0;
}

static void job_init(struct reg_blob_job *j, struct memsink *m,
		     struct reg_client *c, const struct oci_digest *d,
		     const struct oci_digest *want)
{
	memset(j, 0, sizeof(*j));
	memset(m, 0, sizeof(*m));
	buf_init(&m->b, 1u << 20);
	m->want = *want;
	j->client = c;
	j->repo = REPO;
	j->digest = *d;
	j->size = -1;
	j->sink = (struct reg_sink){ms_write,  ms_reset, ms_offset,
				    ms_finish, m,	 NULL};
}

struct progress {
	uint64_t last_bytes;
	size_t done_calls;
};

static void on_done(void *ctx, struct reg_blob_job *job)
{
	(void)job;
	((struct progress *)ctx)->done_calls++;
}

static void on_progress(void *ctx, const struct reg_transfer_progress *p)
{
	((struct progress *)ctx)->last_bytes = p->bytes_done;
}

Test(reg_data, parallel_transfer_streams_every_blob_verified)
{
	struct site s;
	struct reg_blob_job jobs[3];
	struct memsink sinks[3];
	struct reg_transfer_opts to = {0};
	struct progress pr = {0};

	site_setup(&s);
	job_init(&jobs[0], &sinks[0], s.c, &s.config, &s.config);
	job_init(&jobs[1], &sinks[1], s.c, &s.small, &s.small);
	job_init(&jobs[2], &sinks[2], s.c, &s.large, &s.large);
	jobs[2].size = BIG;
	to.concurrency = 2;
	to.job_done = on_done;
	to.progress = on_progress;
	to.ctx = &pr;
	cr_assert_eq(reg_transfer_run(jobs, 3, &to), 0, "%s / %s / %s",
		     jobs[0].err.msg, jobs[1].err.msg, jobs[2].err.msg);
	for (int i = 0; i < 3; i++) {
		cr_assert_eq(jobs[i].result, 0);
		cr_assert_eq(jobs[i].attempts, 1);
		cr_assert_eq(sinks[i].finishes, 1);
	}
	cr_assert_eq(sinks[2].b.len, BIG);
	cr_assert_eq(memcmp(sinks[2].b.data, s.big, BIG), 0);
	cr_assert_eq(pr.done_calls, 3);
	cr_assert_eq(pr.last_bytes,
		     strlen("the config") + strlen("small layer") + BIG);
	for (int i = 0; i < 3; i++)
		buf_release(&sinks[i].b);
	site_teardown(&s);
}

Test(reg_data, transfer_restarts_a_mismatch_once_and_reports_not_found)
{
	struct site s;
	struct reg_blob_job jobs[2];
	struct memsink sinks[2];
	struct reg_transfer_opts to = {0};
	struct oci_digest absent;

	site_setup(&s);
	/* the sink expects other bytes than the server sends */
	job_init(&jobs[0], &sinks[0], s.c, &s.small, &s.config);
	oci_digest_of(&absent, OCI_SHA256, "absent", 6);
	job_init(&jobs[1], &sinks[1], s.c, &absent, &absent);
	cr_assert_eq(reg_transfer_run(jobs, 2, &to), ERR_FAIL);
	cr_assert_eq(jobs[0].result, ERR_DIGEST, "%d: %s", jobs[0].result,
		     jobs[0].err.msg);
	cr_assert_eq(jobs[0].attempts, 2);
	cr_assert_eq(sinks[0].finishes, 2);
	cr_assert_geq(sinks[0].resets, 1);
	cr_assert(strstr(jobs[0].err.msg, s.host), "%s", jobs[0].err.msg);
	cr_assert_eq(jobs[1].result, ERR_NOT_FOUND, "%s", jobs[1].err.msg);
	cr_assert(strstr(jobs[1].err.msg, absent.str), "%s", jobs[1].err.msg);
	buf_release(&sinks[0].b);
	buf_release(&sinks[1].b);
	site_teardown(&s);
}

/* ---- uploads ---- */

static int tmpfile_with(const char *p, size_t n)
{
	char tmpl[] = "/tmp/ocimirror-up-XXXXXX";
	int fd = mkstemp(tmpl);

	cr_assert(fd >= 0);
	unlink(tmpl);
	cr_assert_eq(write(fd, p, n), (ssize_t)n);
	return fd;
}

Test(reg_data, push_without_credentials_is_refused_and_says_login)
{
	struct site s;
	struct oci_digest d;
	enum reg_upload_how how;
	struct err e;
	int fd;

	site_setup(&s);
	oci_digest_of(&d, OCI_SHA256, "new blob", 8);
	fd = tmpfile_with("new blob", 8);
	cr_assert_eq(reg_client_upload_blob(s.c, &how, NULL, "team/new", &d, 8,
					    fd, NULL, 0, &e),
		     ERR_UNAUTHORIZED);
	cr_assert(strstr(e.msg, "login"), "%s", e.msg);
	cr_assert_not(fix_blob_present(&s.f, &d));
	close(fd);
	site_teardown(&s);
}

Test(reg_data, uploads_monolithic_chunked_and_mounted_then_a_manifest)
{
	struct site s;
	struct oci_digest cfg, man_d;
	enum reg_upload_how how;
	int64_t size = 0;
	int patches = -1, subject = -1, fd;
	char man[1024];
	struct reg_manifest got;
	struct err e;

	site_setup(&s);
	cr_assert_eq(reg_client_set_creds(s.c, "alice", "s3cret", &e), 0);

	/* small: one PUT */
	oci_digest_of(&cfg, OCI_SHA256, "new config", 10);
	fd = tmpfile_with("new config", 10);
	cr_assert_eq(reg_client_upload_blob(s.c, &how, &patches, "team/new",
					    &cfg, 10, fd, NULL, 0, &e),
		     0, "%s", e.msg);
	close(fd);
	cr_assert_eq(how, REG_UPLOAD_MONOLITHIC);
	cr_assert_eq(patches, 0);
	cr_assert(fix_blob_present(&s.f, &cfg));

	/* large in 64 KiB chunks: five PATCHes */
	fd = tmpfile_with(s.big, BIG);
	cr_assert_eq(
	    reg_client_blob_exists(s.c, &size, "team/new", &s.large, &e), 0,
	    "%s", e.msg);
	cr_assert_eq(reg_client_upload_blob(s.c, &how, &patches, "team/new",
					    &s.large, BIG, fd, NULL, 64 * 1024,
					    &e),
		     0, "%s", e.msg);
	cr_assert_eq(how, REG_UPLOAD_CHUNKED);
	cr_assert_eq(patches, 5);
	cr_assert_eq(
	    reg_client_blob_exists(s.c, &size, "team/new", &s.large, &e), 1,
	    "%s", e.msg);
	cr_assert_eq(size, (int64_t)BIG);

	/* the small layer is in team/app: mounted, no bytes sent */
	cr_assert_eq(reg_client_upload_blob(s.c, &how, &patches, "team/new",
					    &s.small, 11, fd, REPO, 0, &e),
		     0, "%s", e.msg);
	cr_assert_eq(how, REG_UPLOAD_MOUNTED);
	close(fd);

	snprintf(man, sizeof(man),
		 "{\"schemaVersion\":2,\"mediaType\":\"%s\",\"config\":{"
		 "\"mediaType\":\"%s\",\"digest\":\"%s\",\"size\":10},"
		 "\"layers\":[{\"mediaType\":\"%s\",\"digest\":\"%s\","
		 "\"size\":%u},{\"mediaType\":\"%s\",\"digest\":\"%s\","
		 "\"size\":11}]}",
		 MT_MANIFEST, MT_CONFIG, cfg.str, MT_LAYER, s.large.str, BIG,
		 MT_LAYER, s.small.str);
	cr_assert_eq(reg_client_put_manifest(s.c, &subject, "team/new", "v1",
					     MT_MANIFEST, man, strlen(man), &e),
		     0, "%s", e.msg);
	cr_assert_eq(subject, 0);
	oci_digest_of(&man_d, OCI_SHA256, man, strlen(man));
	cr_assert_eq(reg_client_get_manifest(s.c, &got, "team/new", "v1", &e),
		     0, "%s", e.msg);
	cr_assert_str_eq(got.digest.str, man_d.str);
	reg_manifest_release(&got);
	site_teardown(&s);
}

/* ---- the pool ---- */

Test(reg_data, the_pool_keeps_one_client_per_host)
{
	struct site s;
	struct reg_client *again = NULL, *other = NULL;
	struct err e;

	site_setup(&s);
	cr_assert_eq(reg_pool_get(&s.pool, &again, s.host, &e), 0);
	cr_assert_eq(again, s.c);
	cr_assert_eq(reg_pool_get(&s.pool, &other, "localhost:1", &e), 0);
	cr_assert_neq(other, s.c);
	cr_assert_str_eq(reg_client_host(other), "localhost:1");
	cr_assert_eq(s.pool.n, 2);
	/* the host's settings were applied: plain http, no probe */
	{
		const char *base = NULL;

		cr_assert_eq(reg_client_base_url(s.c, &base, &e), 0);
		cr_assert_str_eq(base, s.plain_base);
	}
	site_teardown(&s);
}
