/* The project's own server over a fixture store, in-process on an
 * ephemeral loopback port, for the pull and push data-path tests. Only
 * serve.h's public API. */
#ifndef TESTS_MIRROR_LOOPFIX_H
#define TESTS_MIRROR_LOOPFIX_H

#include <crypt.h>

#include "mirror/serve/serve.h"
#include "registry/pool.h"
#include "storefix.h"

#define LOOP_USER "tester"
#define LOOP_PASS "s3cret-pass"

/* Requests the server answered, by kind (from its access log). A count
 * comes in when the server is done with a request, which may be just after
 * the client has its answer: read them after loop_restart. */
struct loop_counts {
	unsigned long manifest_head, manifest_get, blob_get, tag_lists,
	    referrers, other;
};

struct loop {
	struct fix remote; /* the store the server serves */
	struct server *srv;
	char host[64]; /* "127.0.0.1:PORT" */
	struct reg_options reg;
	struct reg_pool pool;
	struct loop_counts n;
	int push;
};

/* "ADDR USER METHOD URL STATUS ...": one more of its kind. */
static FIX_UNUSED void loop_count(void *ctx, const char *line)
{
	struct loop *l = ctx;
	char method[16] = "", url[512] = "";
	unsigned long *k = &l->n.other;

	if (sscanf(line, "%*s %*s %15s %511s", method, url) == 2 &&
	    !strncmp(url, "/v2/", 4)) {
		int head = !strcmp(method, "HEAD"),
		    get = !strcmp(method, "GET");

		if (strstr(url, "/manifests/") && (head || get))
			k = head ? &l->n.manifest_head : &l->n.manifest_get;
		else if (strstr(url, "/blobs/") && get)
			k = &l->n.blob_get;
		else if (strstr(url, "/tags/list") && get)
			k = &l->n.tag_lists;
		else if (strstr(url, "/referrers/") && get)
			k = &l->n.referrers;
	}
	__atomic_add_fetch(k, 1, __ATOMIC_RELAXED);
}

static FIX_UNUSED void loop_quiet(void *ctx, enum reg_log_level l,
				  const char *m)
{
	(void)ctx;
	(void)l;
	(void)m;
}

/* Serve a fresh store; with push, accept pushes from LOOP_USER (bcrypt
 * htpasswd written into the store's directory) and hand the pool's client
 * its credentials. */
static FIX_UNUSED void loop_start(struct loop *l, int push)
{
	struct serve_options o;
	struct reg_client *c;
	char htpasswd[300];
	struct err e;

	memset(l, 0, sizeof(*l));
	fix_setup(&l->remote);
	l->push = push;
	serve_options_init(&o);
	o.listen = "127.0.0.1:0";
	o.threads = 2;
	o.access_log = loop_count;
	o.log_ctx = l;
	if (push) {
		const char *salt = crypt_gensalt("$2b$", 5, NULL, 0);
		const char *hash;
		FILE *f;

		cr_assert(salt);
		hash = crypt(LOOP_PASS, salt);
		cr_assert(hash && !strncmp(hash, "$2b$", 4));
		snprintf(htpasswd, sizeof(htpasswd), "%s/htpasswd",
			 l->remote.root);
		f = fopen(htpasswd, "w");
		cr_assert(f);
		fprintf(f, "%s:%s\n", LOOP_USER, hash);
		fclose(f);
		o.htpasswd = htpasswd;
		o.anonymous_read = 1;
		o.push = 1;
	}
	cr_assert_eq(serve_start(&l->srv, &l->remote.st, &o, &e), 0, "%s",
		     e.msg);
	snprintf(l->host, sizeof(l->host), "127.0.0.1:%u", serve_port(l->srv));
	reg_options_init(&l->reg);
	l->reg.retries = 0;
	l->reg.retry_base_ms = 10;
	l->reg.log = loop_quiet;
	reg_pool_init(&l->pool, &l->reg);
	if (push) {
		cr_assert_eq(reg_pool_get(&l->pool, &c, l->host, &e), 0, "%s",
			     e.msg);
		cr_assert_eq(reg_client_set_creds(c, LOOP_USER, LOOP_PASS, &e),
			     0, "%s", e.msg);
	}
}

/* Stop the server, which waits for what is in flight, so l->n is final;
 * return those counts, and serve the same store again (a new port in
 * l->host, counts from zero). Only for a server started without push. */
static FIX_UNUSED struct loop_counts loop_restart(struct loop *l)
{
	struct loop_counts n;
	struct serve_options o;
	struct err e;

	cr_assert(!l->push, "loop_restart: not with push");
	serve_stop(l->srv);
	l->srv = NULL;
	n = l->n;
	memset(&l->n, 0, sizeof(l->n));
	serve_options_init(&o);
	o.listen = "127.0.0.1:0";
	o.threads = 2;
	o.access_log = loop_count;
	o.log_ctx = l;
	cr_assert_eq(serve_start(&l->srv, &l->remote.st, &o, &e), 0, "%s",
		     e.msg);
	snprintf(l->host, sizeof(l->host), "127.0.0.1:%u", serve_port(l->srv));
	return n;
}

static FIX_UNUSED void loop_stop(struct loop *l)
{
	reg_pool_release(&l->pool);
	serve_stop(l->srv);
	fix_teardown(&l->remote);
}

/* "127.0.0.1:PORT/<name>" */
static FIX_UNUSED const char *loop_ref(const struct loop *l, const char *name)
{
	static char s[2][300];
	static int k;

	k ^= 1;
	snprintf(s[k], sizeof(s[k]), "%s/%s", l->host, name);
	return s[k];
}

/* Overwrite a stored blob with as many different bytes: the server then
 * sends content that does not match its digest. */
static FIX_UNUSED void loop_corrupt(struct fix *f, const struct oci_digest *d)
{
	char *p = fix_blob_path(&f->st, d);
	FILE *w;
	int64_t size = 0;

	cr_assert(p && store_blob_exists(&size, &f->st, d));
	unlink(p);
	w = fopen(p, "w");
	cr_assert(w, "%s", p);
	for (int64_t i = 0; i < size; i++)
		fputc('X', w);
	fclose(w);
	free(p);
}

#endif
