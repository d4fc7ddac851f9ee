#include <criterion/criterion.h>
#include <string.h>

#include "loopfix.h"
#include "mirror/push.h"

static void mapped(const char *to, const char *repo, const char *want_host,
		   const char *want_path)
{
	struct oci_ref r;
	struct err e;

	cr_assert_eq(push_map_repo(&r, to, repo, &e), 0, "%s -> %s: %s", repo,
		     to, e.msg);
	cr_expect_str_eq(r.host, want_host);
	cr_expect_str_eq(r.path, want_path);
}

Test(push, maps_store_repositories_under_host_and_prefix)
{
	mapped("harbor.plant.local/mirror", "docker.io/library/nginx",
	       "harbor.plant.local", "mirror/docker.io/library/nginx");
	mapped("harbor.plant.local", "ghcr.io/org/app", "harbor.plant.local",
	       "ghcr.io/org/app");
	mapped("localhost:5000/m", "team/app", "localhost:5000", "m/team/app");
}

Test(push, host_ports_and_brackets_become_valid_names)
{
	mapped("reg.local:5000", "127.0.0.1:5000/e2e/x", "reg.local:5000",
	       "127.0.0.1-5000/e2e/x");
	mapped("reg.local", "[::1]:5000/a", "reg.local", "1-5000/a");
}

Test(push, refuses_a_destination_that_is_not_a_registry)
{
	struct oci_ref r;
	struct err e;

	cr_expect_neq(
	    push_map_repo(&r, "Not A Host/x", "docker.io/library/x", &e), 0);
	cr_expect_neq(push_map_repo(&r, "", "docker.io/library/x", &e), 0);
}

static const struct push_item *plan_find(const struct push_plan *p,
					 const char *repo, const char *tag)
{
	for (size_t i = 0; i < p->n; i++)
		if (!strcmp(p->items[i].src_repo, repo) &&
		    !strcmp(p->items[i].src_tag, tag))
			return &p->items[i];
	return NULL;
}

Test(push, plan_all_is_every_tag_mapped_under_the_destination)
{
	static const char *const layers[] = {"layer one"};
	struct push_plan p = {0};
	const struct push_item *it;
	struct oci_digest a, b;
	struct fix f;
	struct err e;

	fix_setup(&f);
	a = fix_image(&f, "docker.io/library/nginx", "{\"c\":1}", layers, 1,
		      NULL, NULL);
	b = fix_image(&f, "127.0.0.1:5000/team/app", "{\"c\":2}", layers, 1,
		      NULL, NULL);
	fix_tag(&f, "docker.io/library/nginx", "1.25", &a, MT_MANIFEST);
	fix_tag(&f, "docker.io/library/nginx", "latest", &a, MT_MANIFEST);
	fix_tag(&f, "127.0.0.1:5000/team/app", "v1", &b, MT_MANIFEST);
	cr_assert_eq(push_plan_all(&p, &f.st, "harbor.local/mirror", &e), 0,
		     "%s", e.msg);
	cr_assert_eq(p.n, 3);
	it = plan_find(&p, "docker.io/library/nginx", "1.25");
	cr_assert(it);
	cr_expect_str_eq(it->dst.host, "harbor.local");
	cr_expect_str_eq(it->dst.path, "mirror/docker.io/library/nginx");
	cr_expect_str_eq(it->dst.tag, "1.25");
	cr_expect(plan_find(&p, "docker.io/library/nginx", "latest"));
	it = plan_find(&p, "127.0.0.1:5000/team/app", "v1");
	cr_assert(it);
	cr_expect_str_eq(it->dst.path, "mirror/127.0.0.1-5000/team/app");
	cr_expect_str_eq(it->dst.tag, "v1");
	push_plan_release(&p);
	cr_expect_eq(p.n, 0);
	cr_assert_eq(push_plan_all(&p, &f.st, "Not A Host", &e), ERR_INVALID);
	push_plan_release(&p);
	fix_teardown(&f);
}

Test(push, plan_one_keeps_the_source_tag_unless_the_destination_names_one)
{
	struct push_plan p = {0};
	struct err e;

	cr_assert_eq(push_plan_one(&p, "docker.io/library/nginx:1.25",
				   "harbor.local:8443/m/nginx", &e),
		     0, "%s", e.msg);
	cr_assert_eq(
	    push_plan_one(&p, "nginx:1.25", "harbor.local/m/web:prod", &e), 0,
	    "%s", e.msg);
	cr_assert_eq(
	    push_plan_one(&p,
			  "ghcr.io/o/a@sha256:"
			  "0123456789abcdef0123456789abcdef0123456789abcdef"
			  "0123456789abcdef",
			  "harbor.local/m/a", &e),
	    0, "%s", e.msg);
	cr_assert_eq(p.n, 3);
	cr_expect_str_eq(p.items[0].src_repo, "docker.io/library/nginx");
	cr_expect_str_eq(p.items[0].src_tag, "1.25");
	cr_expect_str_eq(p.items[0].dst.host, "harbor.local:8443");
	cr_expect_str_eq(p.items[0].dst.path, "m/nginx");
	cr_expect_str_eq(p.items[0].dst.tag, "1.25");
	cr_expect_str_eq(p.items[1].src_repo, "docker.io/library/nginx");
	cr_expect_str_eq(p.items[1].dst.tag, "prod");
	cr_expect_str_eq(p.items[2].src_repo, "ghcr.io/o/a");
	cr_expect_null(p.items[2].src_tag);
	cr_expect_str_eq(p.items[2].src_digest.str,
			 "sha256:0123456789abcdef0123456789abcdef0123456789abcd"
			 "ef0123456789abcdef");
	cr_expect_str_eq(p.items[2].dst.tag, "");
	cr_expect_eq(p.items[2].dst.has_digest, 0);
	cr_expect_eq(push_plan_one(&p, "Bad Ref", "harbor.local/x", &e),
		     ERR_INVALID);
	cr_expect_eq(push_plan_one(&p, "a:1", "harbor.local/Bad Ref", &e),
		     ERR_INVALID);
	cr_expect_eq(p.n, 3);
	push_plan_release(&p);
}

/* push_run into the project's own server (push enabled), in-process on
 * loopback; the server's store is then read back. */

static void push_items(struct push_result *res, const struct fix *local,
		       struct loop *l, const struct push_item *items, size_t n)
{
	struct push_options o;

	memset(&o, 0, sizeof(o));
	push_run(res, &local->st, &l->pool, items, n, &o);
}

Test(push, an_index_and_its_stored_children_reach_the_server)
{
	static const char *const amd_layers[] = {"amd layer", "shared layer"};
	static const char *const arm_layers[] = {"arm layer", "shared layer"};
	struct loop l;
	struct fix local;
	struct oci_digest amd, arm, idx, shared;
	struct push_plan p = {0};
	struct push_result res;
	struct store_ref sr;
	struct err e;

	loop_start(&l, 1);
	fix_setup(&local);
	amd = fix_image(&local, "docker.io/library/app", "{\"a\":1}",
			amd_layers, 2, NULL, NULL);
	arm = fix_image(&local, "docker.io/library/app", "{\"a\":2}",
			arm_layers, 2, NULL, NULL);
	idx = fix_index(&local, "docker.io/library/app", &amd, &arm);
	fix_tag(&local, "docker.io/library/app", "1.0", &idx, MT_INDEX);
	oci_digest_of(&shared, OCI_SHA256, "shared layer",
		      strlen("shared layer"));
	cr_assert_eq(push_plan_one(&p, "docker.io/library/app:1.0",
				   loop_ref(&l, "site/app"), &e),
		     0, "%s", e.msg);
	push_items(&res, &local, &l, p.items, p.n);
	cr_assert_eq(res.result, 0, "%s", res.err.msg);
	cr_expect_str_eq(res.ref, loop_ref(&l, "site/app:1.0"));
	cr_expect_str_eq(res.digest.str, idx.str);
	/* two children and the index by digest, then the tag */
	cr_expect_eq(res.manifests, 4, "%zu", res.manifests);
	cr_expect_eq(res.blobs_uploaded, 5); /* 2 configs, 3 distinct layers */
	cr_expect_eq(res.blobs_mounted + res.blobs_existing, 1,
		     "the shared layer goes once");

	cr_assert_eq(store_tag_get(&sr, &l.remote.st, "site/app", "1.0", &e), 0,
		     "%s", e.msg);
	cr_expect_str_eq(sr.digest.str, idx.str);
	cr_expect_str_eq(sr.media_type, MT_INDEX);
	cr_expect_eq(
	    store_manifest_get(&sr, &l.remote.st, "site/app", &amd, &e), 0,
	    "%s", e.msg);
	cr_expect_eq(
	    store_manifest_get(&sr, &l.remote.st, "site/app", &arm, &e), 0,
	    "%s", e.msg);
	cr_expect(fix_blob_present(&l.remote, &shared));

	/* again: everything is there, nothing uploaded */
	push_items(&res, &local, &l, p.items, p.n);
	cr_assert_eq(res.result, 0, "%s", res.err.msg);
	cr_expect_eq(res.blobs_uploaded, 0);
	cr_expect_eq(res.bytes_uploaded, 0);
	push_plan_release(&p);
	fix_teardown(&local);
	loop_stop(&l);
}

Test(push, push_all_maps_every_tag_and_a_missing_source_fails_alone)
{
	static const char *const layers[] = {"the one layer"};
	struct loop l;
	struct fix local;
	struct oci_digest a, b;
	struct push_plan p = {0};
	struct push_result res[3];
	struct store_ref sr;
	char want[400];
	struct err e;

	loop_start(&l, 1);
	fix_setup(&local);
	a = fix_image(&local, "ghcr.io/org/tool", "{\"t\":1}", layers, 1, NULL,
		      NULL);
	b = fix_image(&local, "docker.io/team/web", "{\"w\":1}", layers, 1,
		      NULL, NULL);
	fix_tag(&local, "ghcr.io/org/tool", "v1", &a, MT_MANIFEST);
	fix_tag(&local, "docker.io/team/web", "prod", &b, MT_MANIFEST);
	cr_assert_eq(push_plan_all(&p, &local.st, loop_ref(&l, "m"), &e), 0,
		     "%s", e.msg);
	cr_assert_eq(p.n, 2);
	cr_assert_eq(push_plan_one(&p, "docker.io/team/web:gone",
				   loop_ref(&l, "m/x"), &e),
		     0, "%s", e.msg);
	push_items(res, &local, &l, p.items, p.n);
	cr_expect_eq(res[0].result, 0, "%s", res[0].err.msg);
	cr_expect_eq(res[1].result, 0, "%s", res[1].err.msg);
	cr_expect_neq(res[2].result, 0);
	snprintf(want, sizeof(want), "push %s: ", loop_ref(&l, "m/x:gone"));
	cr_expect(!strncmp(res[2].err.msg, want, strlen(want)), "%s",
		  res[2].err.msg);
	cr_expect(strstr(res[2].err.msg, "gone"), "%s", res[2].err.msg);

	cr_assert_eq(
	    store_tag_get(&sr, &l.remote.st, "m/ghcr.io/org/tool", "v1", &e), 0,
	    "%s", e.msg);
	cr_expect_str_eq(sr.digest.str, a.str);
	cr_assert_eq(store_tag_get(&sr, &l.remote.st, "m/docker.io/team/web",
				   "prod", &e),
		     0, "%s", e.msg);
	cr_expect_str_eq(sr.digest.str, b.str);
	cr_expect_eq(store_tag_get(&sr, &l.remote.st, "m/x", "gone", &e),
		     ERR_NOT_FOUND);
	push_plan_release(&p);
	fix_teardown(&local);
	loop_stop(&l);
}

Test(push, without_credentials_the_server_refuses)
{
	static const char *const layers[] = {"private layer"};
	struct loop l;
	struct fix local;
	struct oci_digest a;
	struct push_plan p = {0};
	struct push_result res;
	struct reg_pool anon;
	struct store_ref sr;
	struct push_options o;
	struct err e;

	loop_start(&l, 1);
	fix_setup(&local);
	a = fix_image(&local, "docker.io/team/secret", "{\"s\":1}", layers, 1,
		      NULL, NULL);
	fix_tag(&local, "docker.io/team/secret", "v1", &a, MT_MANIFEST);
	cr_assert_eq(push_plan_one(&p, "docker.io/team/secret:v1",
				   loop_ref(&l, "team/secret"), &e),
		     0, "%s", e.msg);
	reg_pool_init(&anon, &l.reg);
	memset(&o, 0, sizeof(o));
	cr_expect_eq(push_run(&res, &local.st, &anon, p.items, p.n, &o),
		     ERR_FAIL);
	reg_pool_release(&anon);
	cr_expect_eq(res.result, ERR_UNAUTHORIZED, "%d %s", res.result,
		     res.err.msg);
	cr_expect_eq(store_tag_get(&sr, &l.remote.st, "team/secret", "v1", &e),
		     ERR_NOT_FOUND);
	push_plan_release(&p);
	fix_teardown(&local);
	loop_stop(&l);
}
