/* margo_app_pull and margo_app_expand against the project's own server,
 * in-process on loopback: a package of several Compose components, each
 * naming images served there too. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "loopfix.h"
#include "mirror/margo/app_pull.h"
#include "mirror/margo/package.h"
#include "oci/mediatype.h"
#include "registry/engine.h"

#define N_COMPS 4
#define ARCHIVES TESTDATA "/margo/archives"

static struct loop l;
static struct fix local;
static struct margo_pull_report rep;

static void init(void)
{
	loop_start(&l, 0);
	fix_setup(&local);
	memset(&rep, 0, sizeof(rep));
}

static void fini(void)
{
	margo_pull_report_release(&rep);
	fix_teardown(&local);
	loop_stop(&l);
}

TestSuite(margo_app_pull, .init = init, .fini = fini);

/* len bytes stored in f and linked into repo; their digest. */
static struct oci_digest put_bytes(struct fix *f, const char *repo,
				   const void *data, size_t len)
{
	struct oci_digest d;
	struct err e;

	oci_digest_of(&d, OCI_SHA256, data, len);
	cr_assert_eq(store_blob_put(&f->st, &d, data, len, &e), 0, "%s", e.msg);
	cr_assert_eq(store_blob_link(&f->st, repo, &d, &e), 0, "%s", e.msg);
	return d;
}

static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *data;
	long n;

	cr_assert_not_null(f, "open %s", path);
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	rewind(f);
	data = malloc((size_t)n + 1);
	cr_assert_not_null(data);
	cr_assert_eq(fread(data, 1, (size_t)n, f), (size_t)n);
	fclose(f);
	*len = (size_t)n;
	return data;
}

/* A Compose archive (TOP/compose.yaml) whose one service runs image. */
static char *compose_tgz(const char *top, const char *image, size_t *len)
{
	char dir[] = "/tmp/ocimirror-compose-XXXXXX", path[512], cmd[1200];
	char *data;
	FILE *f;

	cr_assert(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/%s", dir, top);
	cr_assert_eq(mkdir(path, 0755), 0);
	snprintf(path, sizeof(path), "%s/%s/compose.yaml", dir, top);
	f = fopen(path, "w");
	cr_assert_not_null(f);
	fprintf(f, "services:\n  app:\n    image: %s\n", image);
	fclose(f);
	snprintf(cmd, sizeof(cmd),
		 "tar -C %s --owner=0 --group=0 -czf %s/a.tgz %s", dir, dir,
		 top);
	cr_assert_eq(system(cmd), 0, "%s", cmd);
	snprintf(path, sizeof(path), "%s/a.tgz", dir);
	data = slurp(path, len);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	cr_assert_eq(system(cmd), 0);
	return data;
}

/* repo:tag in f: a manifest with the empty config and one layer of media
 * type mt holding the len bytes data, said to be that long (declared < 0)
 * or declared bytes. */
static struct oci_digest artifact_sized(struct fix *f, const char *repo,
					const char *tag,
					const char *artifact_type,
					const char *mt, const void *data,
					size_t len, long long declared)
{
	char json[2048], cfg[512], layer[512];
	struct oci_digest c, d, m;

	c = put_bytes(f, repo, "{}", 2);
	d = put_bytes(f, repo, data, len);
	fix_desc(cfg, sizeof(cfg), MT_OCI_EMPTY, &c, 2);
	fix_desc(layer, sizeof(layer), mt, &d,
		 declared < 0 ? (long long)len : declared);
	snprintf(json, sizeof(json),
		 "{\"schemaVersion\":2,\"mediaType\":\"%s\",%s%s%s"
		 "\"config\":%s,\"layers\":[%s]}",
		 MT_MANIFEST, artifact_type ? "\"artifactType\":\"" : "",
		 artifact_type ? artifact_type : "", artifact_type ? "\"," : "",
		 cfg, layer);
	m = fix_manifest(f, repo, json, MT_MANIFEST);
	fix_tag(f, repo, tag, &m, MT_MANIFEST);
	return m;
}

static struct oci_digest artifact(struct fix *f, const char *repo,
				  const char *tag, const char *artifact_type,
				  const char *mt, const void *data, size_t len)
{
	return artifact_sized(f, repo, tag, artifact_type, mt, data, len, -1);
}

/* margo.yaml of a package with one Compose profile naming components
 * comp/c0 ... comp/c<n-1>, revision 1.0.0, on host. */
static const char *description(const char *host, size_t n)
{
	static char y[4096];
	size_t o;

	o = (size_t)snprintf(y, sizeof(y),
			     "apiVersion: margo.org/v1-alpha1\n"
			     "kind: ApplicationDescription\n"
			     "id: many-parts\n"
			     "metadata:\n"
			     "  name: Many Parts\n"
			     "  description: Several components.\n"
			     "  version: 1.0.0\n"
			     "  catalog:\n"
			     "    application:\n"
			     "      tagline: Parts.\n"
			     "    organization:\n"
			     "      - name: Acme\n"
			     "deploymentProfiles:\n"
			     "  - type: compose\n"
			     "    id: docker\n"
			     "    components:\n");
	for (size_t i = 0; i < n; i++)
		o += (size_t)snprintf(
		    y + o, sizeof(y) - o,
		    "      - name: c%zu\n"
		    "        properties:\n"
		    "          repository: oci://%s/comp/c%zu\n"
		    "          revision: 1.0.0\n",
		    i, host, i);
	return y;
}

/* The package apps/many:1.0.0 with N_COMPS components on the server;
 * component i's archive runs lib/img<i>:1 (also served), or, with
 * hostile, is refused. Stored in f (the server's store, or the local one
 * for margo_app_expand). */
static struct oci_digest serve_package(struct fix *f, int hostile)
{
	const char *desc = description(l.host, N_COMPS);
	char *tgz;
	size_t len;

	for (size_t i = 0; i < N_COMPS; i++) {
		char repo[64], image[300], top[32], layer[64];
		const char *const layers[] = {layer};
		struct oci_digest d;

		snprintf(repo, sizeof(repo), "lib/img%zu", i);
		snprintf(layer, sizeof(layer), "layer of image %zu", i);
		d = fix_image(&l.remote, repo, "{\"architecture\":\"amd64\"}",
			      layers, 1, NULL, NULL);
		fix_tag(&l.remote, repo, "1", &d, MT_MANIFEST);
		if (hostile) {
			tgz = slurp(ARCHIVES "/hostile-dotdot.tar.gz", &len);
		} else {
			snprintf(image, sizeof(image), "%s/%s:1", l.host, repo);
			snprintf(top, sizeof(top), "c%zu", i);
			tgz = compose_tgz(top, image, &len);
		}
		snprintf(repo, sizeof(repo), "comp/c%zu", i);
		artifact(&l.remote, repo, "1.0.0", NULL, MT_COMPOSE_ARCHIVE,
			 tgz, len);
		free(tgz);
	}
	return artifact(f, "apps/many", "1.0.0", MT_MARGO_APP, MT_MARGO_DESC,
			desc, strlen(desc));
}

static const char *state_name(enum margo_node_state s)
{
	switch (s) {
	case MARGO_STORED: return "stored";
	case MARGO_UNCHANGED: return "unchanged";
	case MARGO_FAILED: return "failed";
	case MARGO_SKIPPED: return "skipped";
	default: return "other";
	}
}

/* "kind name state" per node, the server's host shown as HOST. */
static const char *tree(void)
{
	static char out[8192];
	size_t o = 0, hl = strlen(l.host);

	out[0] = '\0';
	for (size_t i = 0; i < rep.n && o < sizeof(out); i++) {
		const struct margo_node *n = &rep.v[i];
		const char *name = n->name;

		o += (size_t)snprintf(out + o, sizeof(out) - o, "%d ",
				      (int)n->kind);
		if (!strncmp(name, l.host, hl)) {
			o += (size_t)snprintf(out + o, sizeof(out) - o, "HOST");
			name += hl;
		}
		o += (size_t)snprintf(out + o, sizeof(out) - o, "%s %s\n", name,
				      state_name(n->state));
	}
	return out;
}

static void options(struct margo_pull_options *o, int check_first)
{
	memset(o, 0, sizeof(*o));
	o->concurrency = 4;
	o->check_first = check_first;
}

static struct reg_engine_stats engine_stats(void)
{
	struct reg_client *c;
	struct reg_engine_stats st;
	struct err e;

	cr_assert_eq(reg_pool_get(&l.pool, &c, l.host, &e), 0, "%s", e.msg);
	reg_engine_stats(reg_client_engine(c), &st);
	return st;
}

/* The tree as the serial reading gave it: the package, its profile, each
 * component in the order the description names them followed by its
 * image. */
static const char *expected(const char *state)
{
	static char out[4096];
	size_t o = 0;

	o += (size_t)snprintf(
	    out + o, sizeof(out) - o,
	    "%d HOST/apps/many:1.0.0 %s\n%d compose docker stored\n",
	    (int)MARGO_NODE_PACKAGE, state, (int)MARGO_NODE_PROFILE);
	for (size_t i = 0; i < N_COMPS; i++)
		o += (size_t)snprintf(out + o, sizeof(out) - o,
				      "%d HOST/comp/c%zu:1.0.0 %s\n"
				      "%d HOST/lib/img%zu:1 %s\n",
				      (int)MARGO_NODE_COMPONENT, i, state,
				      (int)MARGO_NODE_IMAGE, i, state);
	return out;
}

Test(margo_app_pull, several_components_in_description_order_then_unchanged)
{
	struct margo_pull_options o;
	struct oci_ref ref;
	struct store_ref sr;
	struct err e;

	serve_package(&l.remote, 0);
	cr_assert_eq(oci_ref_parse(&ref, loop_ref(&l, "apps/many:1.0.0"), &e),
		     0, "%s", e.msg);
	options(&o, 0);
	cr_assert_eq(margo_app_pull(&rep, &local.st, &l.pool, &ref, &o, &e), 0,
		     "%s\n%s", e.msg, tree());
	cr_assert_eq(rep.failed, 0);
	cr_assert_str_eq(tree(), expected("stored"));
	for (size_t i = 0; i < N_COMPS; i++) {
		char repo[300];

		snprintf(repo, sizeof(repo), "%s/comp/c%zu", l.host, i);
		cr_assert_eq(store_tag_get(&sr, &local.st, repo, "1.0.0", &e),
			     0, "%s: %s", repo, e.msg);
		snprintf(repo, sizeof(repo), "%s/lib/img%zu", l.host, i);
		cr_assert_eq(store_tag_get(&sr, &local.st, repo, "1", &e), 0,
			     "%s: %s", repo, e.msg);
	}
	/* again, as sync asks: one HEAD each, nothing fetched */
	margo_pull_report_release(&rep);
	memset(&rep, 0, sizeof(rep));
	options(&o, 1);
	cr_assert_eq(margo_app_pull(&rep, &local.st, &l.pool, &ref, &o, &e), 0,
		     "%s\n%s", e.msg, tree());
	cr_assert_str_eq(tree(), expected("unchanged"));
	cr_assert_eq(rep.bytes, 0);
}

Test(margo_app_pull, archives_of_all_components_are_fetched_together)
{
	struct margo_pull_options o;
	struct reg_engine_stats st;
	struct oci_digest d;
	struct err e;
	char label[300];

	/* the package stored already (as sync has it): the only requests
	 * are the components' manifests and archives, each refused */
	d = serve_package(&local, 1);
	fix_tag(&local, "apps/many", "1.0.0", &d, MT_MANIFEST);
	snprintf(label, sizeof(label), "apps/many:1.0.0");
	options(&o, 0);
	cr_assert_eq(margo_app_expand(&rep, &local.st, &l.pool, &d, label,
				      MARGO_STORED, 0, &o, &e),
		     ERR_FAIL);
	cr_assert_eq(rep.failed, N_COMPS, "%s", tree());
	for (size_t i = 0; i < rep.n; i++)
		if (rep.v[i].kind == MARGO_NODE_COMPONENT)
			cr_assert(strstr(rep.v[i].err.msg, ".."), "%s",
				  rep.v[i].err.msg);
	st = engine_stats();
	/* N_COMPS manifests and N_COMPS archives, and more than one of
	 * them in flight at a time */
	cr_assert_eq(st.done, 2 * N_COMPS);
	cr_assert_geq(st.peak_in_flight, 2);
	for (size_t i = 0; i < N_COMPS; i++) {
		char repo[300];
		struct store_ref sr;

		/* a refused archive leaves nothing stored */
		snprintf(repo, sizeof(repo), "%s/comp/c%zu", l.host, i);
		cr_assert_neq(
		    store_tag_get(&sr, &local.st, repo, "1.0.0", NULL), 0);
	}
}

Test(margo_app_pull, archives_over_the_memory_bound_wait_their_turn)
{
	struct margo_pull_options o;
	struct oci_digest d;
	const char *desc = description(l.host, N_COMPS);
	struct err e;
	size_t len, n = 0;
	char *tgz;

	/* each archive said to be 30 MiB: at most two in flight at once, the
	 * others wait; each is still fetched and checked (the bytes are not
	 * what the manifest says, so each is refused, nothing stored) */
	tgz = compose_tgz("c", "example.com/x:1", &len);
	for (size_t i = 0; i < N_COMPS; i++) {
		char repo[64];

		snprintf(repo, sizeof(repo), "comp/c%zu", i);
		artifact_sized(&l.remote, repo, "1.0.0", NULL,
			       MT_COMPOSE_ARCHIVE, tgz, len, 30LL << 20);
	}
	free(tgz);
	d = artifact(&local, "apps/many", "1.0.0", MT_MARGO_APP, MT_MARGO_DESC,
		     desc, strlen(desc));
	options(&o, 0);
	cr_assert_eq(margo_app_expand(&rep, &local.st, &l.pool, &d,
				      "apps/many:1.0.0", MARGO_STORED, 0, &o,
				      &e),
		     ERR_FAIL);
	for (size_t i = 0; i < rep.n; i++) {
		if (rep.v[i].kind != MARGO_NODE_COMPONENT)
			continue;
		n++;
		cr_assert_eq(rep.v[i].state, MARGO_FAILED);
		cr_assert_eq(rep.v[i].err.code, ERR_DIGEST, "%s",
			     rep.v[i].err.msg);
		cr_assert(strstr(rep.v[i].err.msg, "does not match its digest"),
			  "%s", rep.v[i].err.msg);
	}
	cr_assert_eq(n, N_COMPS, "%s", tree());
	cr_assert_eq(rep.failed, N_COMPS);
	cr_assert_eq(engine_stats().done, 2 * N_COMPS);
}

/* margo_package_push to the server: every blob's check (and upload) at
 * once. */
static struct loop lp;

static void push_init(void)
{
	loop_start(&lp, 1);
}

static void push_fini(void)
{
	loop_stop(&lp);
}

TestSuite(margo_package_push, .init = push_init, .fini = push_fini);

Test(margo_package_push, blobs_checked_together_and_a_repush_uploads_nothing)
{
	struct margo_push_result res;
	struct reg_engine_stats st;
	struct reg_client *c;
	struct store_ref sr;
	struct oci_ref ref;
	struct err e;
	size_t done;

	cr_assert_eq(oci_ref_parse(&ref, loop_ref(&lp, "apps/digitron"), &e), 0,
		     "%s", e.msg);
	ref.tag[0] = '\0';
	cr_assert_eq(margo_package_push(&res, NULL, &lp.pool,
					TESTDATA "/margo/helm-app", NULL, 0,
					&ref, NULL, &e),
		     0, "%s", e.msg);
	/* margo.yaml and its four resources */
	cr_assert_eq(res.layers, 5);
	cr_assert_str_eq(res.tag, "1.2.0");
	cr_assert_eq(
	    store_tag_get(&sr, &lp.remote.st, "apps/digitron", "1.2.0", &e), 0,
	    "%s", e.msg);
	cr_assert_str_eq(sr.digest.str, res.digest.str);
	cr_assert_eq(reg_pool_get(&lp.pool, &c, lp.host, &e), 0, "%s", e.msg);
	reg_engine_stats(reg_client_engine(c), &st);
	done = st.done;
	cr_assert_geq(st.peak_in_flight, 2);
	/* again: the five files and the config are there, one check
	 * each and nothing else on the engine */
	cr_assert_eq(margo_package_push(&res, NULL, &lp.pool,
					TESTDATA "/margo/helm-app", NULL, 0,
					&ref, NULL, &e),
		     0, "%s", e.msg);
	reg_engine_stats(reg_client_engine(c), &st);
	cr_assert_eq(st.done - done, 6);
	cr_assert_eq(st.failed, 0);
}
