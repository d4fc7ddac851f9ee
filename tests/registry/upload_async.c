/* The upload calls as engine jobs (registry/upload.h), against the
 * project's own server in-process on loopback: several uploads queued at
 * once, monolithic, chunked and mounted, the exists-check and the
 * manifest PUT, each with the blocking call's result and message. */
#include <crypt.h>

#include "mirror/serve/serve.h"
#include "registry/engine.h"
#include "registry/pool.h"
#include "registry/upload.h"
#include "tests/mirror/storefix.h"

#define REPO "team/app"
#define BIG (300u * 1024)

struct usite {
	struct fix f;
	struct server *srv;
	char host[64], htpasswd[300];
	struct reg_options opt;
	struct reg_pool pool;
	struct reg_host_options plain;
	struct reg_pool_host hosts[1];
	struct reg_client *c;
	char *big;
	struct oci_digest small, large;
};

static void usite_setup(struct usite *s)
{
	struct serve_options so;
	const char *layers[2];
	char salt[64];
	struct crypt_data cd;
	const char *hash;
	FILE *fp;
	struct err e;

	memset(s, 0, sizeof(*s));
	setenv("DOCKER_CONFIG", "/nonexistent-ocimirror-test", 1);
	unsetenv("REGISTRY_AUTH_FILE");
	unsetenv("XDG_RUNTIME_DIR");
	unsetenv("OCIMIRROR_INSECURE_REGISTRIES");
	fix_setup(&s->f);
	s->big = malloc(BIG);
	cr_assert(s->big);
	for (size_t i = 0; i < BIG; i++)
		s->big[i] = (char)('a' + (i * 11 + i / 999) % 26);
	layers[0] = "small layer";
	layers[1] = "another";
	fix_image(&s->f, REPO, "the config", layers, 2, NULL, NULL);
	s->small = fix_blob(&s->f, "small layer");
	oci_digest_of(&s->large, OCI_SHA256, s->big, BIG);

	snprintf(s->htpasswd, sizeof(s->htpasswd), "%s/htpasswd", s->f.root);
	cr_assert(crypt_gensalt_rn("$2b$", 4, NULL, 0, salt, sizeof(salt)));
	memset(&cd, 0, sizeof(cd));
	hash = crypt_r("s3cret", salt, &cd);
	cr_assert(hash && hash[0] == '$', "bcrypt unavailable");
	fp = fopen(s->htpasswd, "w");
	cr_assert(fp);
	fprintf(fp, "alice:%s\n", hash);
	fclose(fp);
	serve_options_init(&so);
	so.listen = "127.0.0.1:0";
	so.htpasswd = s->htpasswd;
	so.anonymous_read = 1;
	so.push = 1;
	so.threads = 2;
	cr_assert_eq(serve_start(&s->srv, &s->f.st, &so, &e), 0, "%s", e.msg);
	snprintf(s->host, sizeof(s->host), "127.0.0.1:%u", serve_port(s->srv));
	reg_options_init(&s->opt);
	s->opt.retries = 1;
	s->opt.retry_base_ms = 10;
	reg_pool_init(&s->pool, &s->opt);
	s->plain.tls = REG_TLS_PLAIN;
	s->hosts[0].host = s->host;
	s->hosts[0].opt = &s->plain;
	reg_pool_set_hosts(&s->pool, s->hosts, 1);
	cr_assert_eq(reg_pool_get(&s->pool, &s->c, s->host, &e), 0, "%s",
		     e.msg);
}

static void usite_teardown(struct usite *s)
{
	reg_pool_release(&s->pool);
	serve_stop(s->srv);
	free(s->big);
	fix_teardown(&s->f);
}

static int tmpfile_of(const char *p, size_t n)
{
	char tmpl[] = "/tmp/ocimirror-upa-XXXXXX";
	int fd = mkstemp(tmpl);

	cr_assert(fd >= 0);
	unlink(tmpl);
	cr_assert_eq(write(fd, p, n), (ssize_t)n);
	return fd;
}

/* What one callback was given. */
struct got {
	int calls, rc, patches, subject;
	enum reg_upload_how how;
	int64_t size;
	char msg[ERR_MSG_MAX];
};

static void on_upload(void *ctx, int rc, enum reg_upload_how how, int patches,
		      const struct err *err)
{
	struct got *g = ctx;

	g->calls++;
	g->rc = rc;
	g->how = how;
	g->patches = patches;
	snprintf(g->msg, sizeof(g->msg), "%s", rc && err ? err->msg : "");
}

static void on_exists(void *ctx, int rc, int64_t size, const struct err *err)
{
	struct got *g = ctx;

	g->calls++;
	g->rc = rc;
	g->size = size;
	snprintf(g->msg, sizeof(g->msg), "%s", rc < 0 && err ? err->msg : "");
}

static void on_put(void *ctx, int rc, int subject, const struct err *err)
{
	struct got *g = ctx;

	g->calls++;
	g->rc = rc;
	g->subject = subject;
	snprintf(g->msg, sizeof(g->msg), "%s", rc && err ? err->msg : "");
}

Test(reg_upload_async, uploads_queued_together_then_a_manifest)
{
	struct usite s;
	struct reg_engine *eng;
	struct oci_digest cfg, man_d;
	struct got up_cfg = {0}, up_big = {0}, up_mount = {0}, ex = {0},
		   ex2 = {0}, put = {0};
	struct reg_manifest m;
	char man[1024];
	int fd_cfg, fd_big;
	struct err e;

	usite_setup(&s);
	cr_assert_eq(reg_client_set_creds(s.c, "alice", "s3cret", &e), 0);
	eng = reg_client_engine(s.c);
	cr_assert(eng);
	oci_digest_of(&cfg, OCI_SHA256, "new config", 10);
	fd_cfg = tmpfile_of("new config", 10);
	fd_big = tmpfile_of(s.big, BIG);

	/* three uploads and an exists-check queued before anything runs */
	cr_assert_eq(reg_client_blob_exists_async(s.c, "team/new", &s.large,
						  on_exists, &ex, &e),
		     0, "%s", e.msg);
	cr_assert_eq(reg_client_upload_blob_async(s.c, "team/new", &cfg, 10,
						  fd_cfg, NULL, 0, on_upload,
						  &up_cfg, &e),
		     0, "%s", e.msg);
	cr_assert_eq(reg_client_upload_blob_async(s.c, "team/new", &s.large,
						  BIG, fd_big, NULL, 64 * 1024,
						  on_upload, &up_big, &e),
		     0, "%s", e.msg);
	cr_assert_eq(reg_client_upload_blob_async(s.c, "team/new", &s.small, 11,
						  fd_cfg, REPO, 0, on_upload,
						  &up_mount, &e),
		     0, "%s", e.msg);
	cr_assert_eq(up_cfg.calls + up_big.calls + ex.calls, 0,
		     "callbacks only from reg_engine_run");
	reg_engine_run(eng);

	cr_expect_eq(ex.calls, 1);
	cr_expect_eq(ex.rc, 0, "absent before: %s", ex.msg);
	cr_expect_eq(up_cfg.calls, 1);
	cr_expect_eq(up_cfg.rc, 0, "%s", up_cfg.msg);
	cr_expect_eq(up_cfg.how, REG_UPLOAD_MONOLITHIC);
	cr_expect_eq(up_cfg.patches, 0);
	cr_expect_eq(up_big.calls, 1);
	cr_expect_eq(up_big.rc, 0, "%s", up_big.msg);
	cr_expect_eq(up_big.how, REG_UPLOAD_CHUNKED);
	cr_expect_eq(up_big.patches, 5);
	cr_expect_eq(up_mount.calls, 1);
	cr_expect_eq(up_mount.rc, 0, "%s", up_mount.msg);
	cr_expect_eq(up_mount.how, REG_UPLOAD_MOUNTED);
	cr_expect(fix_blob_present(&s.f, &cfg));
	cr_expect(fix_blob_present(&s.f, &s.large));
	close(fd_cfg);
	close(fd_big);

	cr_assert_eq(reg_client_blob_exists_async(s.c, "team/new", &s.large,
						  on_exists, &ex2, &e),
		     0, "%s", e.msg);
	snprintf(man, sizeof(man),
		 "{\"schemaVersion\":2,\"mediaType\":\"%s\",\"config\":{"
		 "\"mediaType\":\"%s\",\"digest\":\"%s\",\"size\":10},"
		 "\"layers\":[{\"mediaType\":\"%s\",\"digest\":\"%s\","
		 "\"size\":%u},{\"mediaType\":\"%s\",\"digest\":\"%s\","
		 "\"size\":11}]}",
		 MT_MANIFEST, MT_CONFIG, cfg.str, MT_LAYER, s.large.str, BIG,
		 MT_LAYER, s.small.str);
	cr_assert_eq(
	    reg_client_put_manifest_async(s.c, "team/new", "v1", MT_MANIFEST,
					  man, strlen(man), on_put, &put, &e),
	    0, "%s", e.msg);
	memset(man, 'x', 20); /* the body was copied */
	reg_engine_run(eng);
	cr_expect_eq(ex2.rc, 1, "%s", ex2.msg);
	cr_expect_eq(ex2.size, (int64_t)BIG);
	cr_expect_eq(put.calls, 1);
	cr_expect_eq(put.rc, 0, "%s", put.msg);
	cr_expect_eq(put.subject, 0);
	cr_assert_eq(reg_client_get_manifest(s.c, &m, "team/new", "v1", &e), 0,
		     "%s", e.msg);
	oci_digest_of(&man_d, OCI_SHA256, m.body, m.len);
	cr_expect_str_eq(m.digest.str, man_d.str);
	cr_expect(strstr(m.body, s.large.str));
	reg_manifest_release(&m);
	usite_teardown(&s);
}

Test(reg_upload_async, without_credentials_the_same_refusal_as_blocking)
{
	struct usite s;
	struct oci_digest d;
	enum reg_upload_how how;
	struct got up = {0}, put = {0};
	struct err e, blocking;
	int fd;

	usite_setup(&s);
	oci_digest_of(&d, OCI_SHA256, "new blob", 8);
	fd = tmpfile_of("new blob", 8);
	cr_assert_eq(reg_client_upload_blob(s.c, &how, NULL, "team/new", &d, 8,
					    fd, NULL, 0, &blocking),
		     ERR_UNAUTHORIZED);
	cr_assert_eq(reg_client_upload_blob_async(s.c, "team/new", &d, 8, fd,
						  NULL, 0, on_upload, &up, &e),
		     0, "%s", e.msg);
	cr_assert_eq(reg_client_put_manifest_async(s.c, "team/new", "v1",
						   MT_MANIFEST, "{}", 2, on_put,
						   &put, &e),
		     0, "%s", e.msg);
	reg_engine_run(reg_client_engine(s.c));
	cr_expect_eq(up.calls, 1);
	cr_expect_eq(up.rc, ERR_UNAUTHORIZED, "%d %s", up.rc, up.msg);
	cr_expect_str_eq(up.msg, blocking.msg);
	cr_expect(strstr(up.msg, "login"), "%s", up.msg);
	cr_expect_eq(put.rc, ERR_UNAUTHORIZED, "%d %s", put.rc, put.msg);
	cr_expect(strstr(put.msg, "push manifest"), "%s", put.msg);
	cr_expect_not(fix_blob_present(&s.f, &d));
	close(fd);
	usite_teardown(&s);
}
