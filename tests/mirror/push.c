#include <criterion/criterion.h>
#include <string.h>

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
