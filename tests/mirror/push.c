#include <criterion/criterion.h>
#include <string.h>

#include "mirror/push.h"
#include "storefix.h"

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
	cr_assert_eq(push_plan_one(&p, "nginx:1.25", "harbor.local/m/web:prod",
				   &e),
		     0, "%s", e.msg);
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
