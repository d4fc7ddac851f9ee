#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "oci/ref.h"

#define HEX64 "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
#define DG "sha256:" HEX64

static struct oci_ref ref;
static struct err err;

static void expect_ok(const char *s, const char *host, const char *path,
		      const char *tag, int has_digest)
{
	int rc = oci_ref_parse(&ref, s, &err);

	cr_assert_eq(rc, 0, "parse %s: %s", s, err.msg);
	cr_expect_str_eq(ref.host, host, "host of %s", s);
	cr_expect_str_eq(ref.path, path, "path of %s", s);
	cr_expect_str_eq(ref.tag, tag, "tag of %s", s);
	cr_expect_eq(ref.has_digest, has_digest, "digest of %s", s);
}

static void expect_bad(const char *s, const char *words)
{
	int rc;

	err_clear(&err);
	rc = oci_ref_parse(&ref, s, &err);
	cr_assert_eq(rc, ERR_INVALID, "parse %s gave %d (%s)", s, rc, err.msg);
	cr_expect_eq(err.code, ERR_INVALID);
	cr_expect(strstr(err.msg, words) != NULL,
		  "message for %s: \"%s\" lacks \"%s\"", s, err.msg, words);
	cr_expect(strncmp(err.msg, "invalid reference \"", 19) == 0,
		  "message \"%s\" does not start by naming the reference",
		  err.msg);
	/* A failed parse leaves nothing half-filled. */
	cr_expect_str_empty(ref.host);
	cr_expect_str_empty(ref.path);
	cr_expect_str_empty(ref.tag);
	cr_expect_eq(ref.has_digest, 0);
}

static char *repeat(char *dst, char c, size_t n)
{
	memset(dst, c, n);
	dst[n] = '\0';
	return dst;
}

Test(oci_ref, defaults_to_docker_hub_library)
{
	expect_ok("nginx", "docker.io", "library/nginx", "latest", 0);
}

Test(oci_ref, docker_io_single_component_gets_library)
{
	expect_ok("docker.io/nginx", "docker.io", "library/nginx", "latest", 0);
	expect_ok("docker.io/library/nginx:1.25", "docker.io", "library/nginx",
		  "1.25", 0);
}

Test(oci_ref, docker_hub_aliases_become_docker_io)
{
	expect_ok("index.docker.io/x", "docker.io", "library/x", "latest", 0);
	expect_ok("registry-1.docker.io/org/app:v1", "docker.io", "org/app",
		  "v1", 0);
	expect_ok("Docker.IO/nginx", "docker.io", "library/nginx", "latest", 0);
}

Test(oci_ref, hub_user_repo_has_no_library)
{
	expect_ok("bitnami/redis:7.2", "docker.io", "bitnami/redis", "7.2", 0);
}

Test(oci_ref, localhost_alone_is_a_hub_image)
{
	expect_ok("localhost", "docker.io", "library/localhost", "latest", 0);
}

Test(oci_ref, localhost_with_path_is_a_host)
{
	expect_ok("localhost/app", "localhost", "app", "latest", 0);
	expect_ok("localhost:5000/x", "localhost:5000", "x", "latest", 0);
}

Test(oci_ref, localhost_port_without_path_is_a_tag)
{
	/* Docker's grammar: with no '/', ":5000" is a tag. */
	expect_ok("localhost:5000", "docker.io", "library/localhost", "5000",
		  0);
}

Test(oci_ref, ipv6_host_with_port)
{
	expect_ok("[::1]:5000/x", "[::1]:5000", "x", "latest", 0);
	expect_ok("[fe80::1]/a/b:t", "[fe80::1]", "a/b", "t", 0);
}

Test(oci_ref, ipv4_host_tag_and_digest)
{
	char s[256];

	expect_ok("127.0.0.1:5000/a/b:tag@" DG, "127.0.0.1:5000", "a/b", "tag",
		  1);
	cr_expect_str_eq(ref.digest.str, DG);
	cr_expect_eq(ref.digest.alg, OCI_SHA256);
	oci_ref_format(&ref, s, sizeof(s));
	cr_expect_str_eq(s, "127.0.0.1:5000/a/b:tag@" DG);
}

Test(oci_ref, digest_only_has_no_default_tag)
{
	expect_ok("ghcr.io/org/app@" DG, "ghcr.io", "org/app", "", 1);
	cr_expect_str_eq(ref.digest.str, DG);
}

Test(oci_ref, host_is_lowercased)
{
	expect_ok("Registry.Example.COM:443/team/app",
		  "registry.example.com:443", "team/app", "latest", 0);
}

Test(oci_ref, first_component_without_dot_is_path)
{
	expect_ok("myregistry/app", "docker.io", "myregistry/app", "latest", 0);
}

Test(oci_ref, separators_in_components)
{
	expect_ok("x/a.b_c__d-e---f", "docker.io", "x/a.b_c__d-e---f", "latest",
		  0);
}

Test(oci_ref, tag_charset)
{
	expect_ok("a:_Tag.1-x", "docker.io", "library/a", "_Tag.1-x", 0);
}

Test(oci_ref, uppercase_path_names_reference_and_part)
{
	expect_bad("Foo/bar", "repository path must be lowercase");
	cr_expect_str_eq(
	    err.msg,
	    "invalid reference \"Foo/bar\": repository path must be lowercase");
	expect_bad("ghcr.io/Org/app", "must be lowercase");
}

Test(oci_ref, empty_string_refused)
{
	expect_bad("", "empty");
}

Test(oci_ref, null_refused)
{
	cr_expect_eq(oci_ref_parse(&ref, NULL, &err), ERR_INVALID);
	cr_expect(strstr(err.msg, "none given"), "%s", err.msg);
}

Test(oci_ref, empty_components_refused)
{
	expect_bad("a//b", "empty component");
	expect_bad("/a", "empty component");
	expect_bad("a/", "empty component");
	expect_bad("ghcr.io/", "repository path is empty");
	expect_bad("ghcr.io/a/", "empty component");
}

Test(oci_ref, dot_dot_refused)
{
	expect_bad("a/../b", "\"..\" must start and end");
	expect_bad("ghcr.io/..", "must start and end");
	expect_bad("a/./b", "\".\" must start and end");
	expect_bad("./a", "registry host \".\" is invalid");
}

Test(oci_ref, percent_encoding_refused)
{
	expect_bad("a/%2e%2e/b", "invalid character '%'");
}

Test(oci_ref, bad_separators_refused)
{
	expect_bad("a___b", "invalid separator");
	expect_bad("a..b", "invalid separator");
	expect_bad("a._b", "invalid separator");
	expect_bad("a-", "must start and end");
	expect_bad("_a", "must start and end");
}

Test(oci_ref, unicode_and_control_bytes_refused_and_escaped)
{
	expect_bad("ngin\xc3\xa9x", "invalid character '\\xc3'");
	cr_expect(strstr(err.msg, "\"ngin\\xc3\\xa9x\""), "%s", err.msg);
	expect_bad("a\nb", "invalid character '\\x0a'");
	expect_bad("a b", "invalid character ' '");
}

Test(oci_ref, empty_tag_and_digest_refused)
{
	expect_bad("nginx:", "tag is empty");
	expect_bad("nginx@", "digest is empty");
	expect_bad(":latest", "repository path is empty");
	expect_bad("@" DG, "repository path is empty");
}

Test(oci_ref, bad_tags_refused)
{
	expect_bad("nginx:-x", "tag \"-x\" is invalid");
	expect_bad("nginx:.x", "is invalid");
	/* With a '/' after it, "nginx:a" is a host and "a" its port. */
	expect_bad("nginx:a/b", "registry port \"a\"");
	expect_bad("nginx:a+b", "tag \"a+b\" is invalid");
}

Test(oci_ref, tag_length_limit)
{
	char tag[200], s[220];

	repeat(tag, 't', 128);
	snprintf(s, sizeof(s), "nginx:%s", tag);
	expect_ok(s, "docker.io", "library/nginx", tag, 0);
	repeat(tag, 't', 129);
	snprintf(s, sizeof(s), "nginx:%s", tag);
	expect_bad(s, "tag is longer than 128 characters");
}

Test(oci_ref, name_length_limit_counts_host_and_path)
{
	char path[300], s[320];

	/* "ghcr.io/" is 8: 8 + 247 = 255 is the most allowed. */
	repeat(path, 'a', 247);
	snprintf(s, sizeof(s), "ghcr.io/%s", path);
	expect_ok(s, "ghcr.io", path, "latest", 0);
	repeat(path, 'a', 248);
	snprintf(s, sizeof(s), "ghcr.io/%s", path);
	expect_bad(s, "name is longer than 255 characters");
}

Test(oci_ref, name_length_limit_counts_library_prefix)
{
	char path[300], want[320];

	/* docker.io/library/ is 18 characters. */
	repeat(path, 'a', 237);
	snprintf(want, sizeof(want), "library/%s", path);
	expect_ok(path, "docker.io", want, "latest", 0);
	cr_expect_eq(strlen(ref.path), 8 + 237);
	repeat(path, 'a', 238);
	expect_bad(path, "longer than 255");
}

Test(oci_ref, very_long_input_refused_with_short_message)
{
	static char big[100000];

	repeat(big, 'a', sizeof(big) - 1);
	expect_bad(big, "too long");
	cr_expect_lt(strlen(err.msg), 200);
	cr_expect(strstr(err.msg, "...\""), "shown input is cut: %s", err.msg);
}

Test(oci_ref, bad_hosts_refused)
{
	expect_bad("-bad.com/a", "registry host \"-bad.com\" is invalid");
	expect_bad("bad-.com/a", "registry host");
	expect_bad("a..com/a", "registry host");
	expect_bad("[zz::1]/a", "registry host");
	expect_bad("[::1/a", "registry host");
	expect_bad("[]/a", "registry host");
	expect_bad("ex_ample.com/a", "registry host");
}

Test(oci_ref, bad_ports_refused)
{
	expect_bad("localhost:/a", "registry port \"\"");
	expect_bad("localhost:0/a", "registry port \"0\"");
	expect_bad("localhost:65536/a", "registry port");
	expect_bad("localhost:12ab/a", "registry port");
	expect_bad("[::1]:x/a", "registry port");
	expect_ok("localhost:65535/a", "localhost:65535", "a", "latest", 0);
}

Test(oci_ref, bad_digest_keeps_digest_message)
{
	expect_bad("nginx@sha256:abc", "needs 64 hex digits");
	cr_expect(strstr(err.msg, "invalid digest"), "%s", err.msg);
	expect_bad(
	    "nginx@sha256:"
	    "0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef",
	    "not lowercase hex");
}

Test(oci_ref, unknown_digest_algorithm_is_unsupported)
{
	int rc = oci_ref_parse(&ref, "nginx@sha384:abc", &err);

	cr_expect_eq(rc, ERR_UNSUPPORTED);
	cr_expect(strstr(err.msg, "invalid reference \"nginx@sha384:abc\": "),
		  "%s", err.msg);
	cr_expect(strstr(err.msg, "unsupported algorithm"), "%s", err.msg);
}

Test(oci_ref, two_digests_refused)
{
	expect_bad("nginx@" DG "@" DG, "invalid digest");
}

Test(oci_ref, parse_repo_applies_defaults_without_tag)
{
	cr_assert_eq(oci_ref_parse_repo(&ref, "nginx", &err), 0, "%s", err.msg);
	cr_expect_str_eq(ref.host, "docker.io");
	cr_expect_str_eq(ref.path, "library/nginx");
	cr_expect_str_empty(ref.tag);
	cr_expect_eq(ref.has_digest, 0);
	cr_assert_eq(oci_ref_parse_repo(&ref, "ghcr.io/org/app", &err), 0);
	cr_expect_str_eq(ref.host, "ghcr.io");
	cr_expect_str_eq(ref.path, "org/app");
}

Test(oci_ref, parse_repo_refuses_tag_and_digest)
{
	cr_expect_eq(oci_ref_parse_repo(&ref, "nginx:1", &err), ERR_INVALID);
	cr_expect(strstr(err.msg, "invalid repository name \"nginx:1\": "),
		  "%s", err.msg);
	cr_expect(strstr(err.msg, "no tag"), "%s", err.msg);
	cr_expect_eq(oci_ref_parse_repo(&ref, "nginx@" DG, &err), ERR_INVALID);
	cr_expect(strstr(err.msg, "no digest"), "%s", err.msg);
}

Test(oci_ref, path_valid)
{
	char p[300];

	cr_expect_eq(oci_path_valid("library/nginx"), 1);
	cr_expect_eq(oci_path_valid("a"), 1);
	cr_expect_eq(oci_path_valid(""), 0);
	cr_expect_eq(oci_path_valid("a/"), 0);
	cr_expect_eq(oci_path_valid("../etc"), 0);
	cr_expect_eq(oci_path_valid("a/./b"), 0);
	cr_expect_eq(oci_path_valid("A"), 0);
	cr_expect_eq(oci_path_valid(NULL), 0);
	cr_expect_eq(oci_path_valid(repeat(p, 'a', 255)), 1);
	cr_expect_eq(oci_path_valid(repeat(p, 'a', 256)), 0);
}

Test(oci_ref, tag_valid)
{
	char t[200];

	cr_expect_eq(oci_tag_valid("latest"), 1);
	cr_expect_eq(oci_tag_valid("_"), 1);
	cr_expect_eq(oci_tag_valid("V1.2-rc_3"), 1);
	cr_expect_eq(oci_tag_valid(""), 0);
	cr_expect_eq(oci_tag_valid(".hidden"), 0);
	cr_expect_eq(oci_tag_valid("a/b"), 0);
	cr_expect_eq(oci_tag_valid(".."), 0);
	cr_expect_eq(oci_tag_valid(NULL), 0);
	cr_expect_eq(oci_tag_valid(repeat(t, 'x', 128)), 1);
	cr_expect_eq(oci_tag_valid(repeat(t, 'x', 129)), 0);
}

Test(oci_ref, repo_and_format)
{
	char s[OCI_REF_STR_MAX], r[OCI_REPO_MAX];

	cr_assert_eq(oci_ref_parse(&ref, "nginx", &err), 0);
	oci_ref_repo(&ref, r, sizeof(r));
	cr_expect_str_eq(r, "docker.io/library/nginx");
	oci_ref_format(&ref, s, sizeof(s));
	cr_expect_str_eq(s, "docker.io/library/nginx:latest");

	cr_assert_eq(oci_ref_parse(&ref, "localhost:5000/a@" DG, &err), 0);
	oci_ref_format(&ref, s, sizeof(s));
	cr_expect_str_eq(s, "localhost:5000/a@" DG);
}

Test(oci_ref, format_truncates_safely)
{
	char s[8];

	cr_assert_eq(oci_ref_parse(&ref, "nginx", &err), 0);
	memset(s, 'X', sizeof(s));
	oci_ref_format(&ref, s, sizeof(s));
	cr_expect_str_eq(s, "docker.");
	oci_ref_format(&ref, s, 0);
	cr_expect_eq(s[0], 'd');
}

Test(oci_ref, format_round_trips)
{
	static const char *const in[] = {
	    "nginx",
	    "a/b/c:1",
	    "localhost:5000/x@" DG,
	    "[::1]:5000/x:t@" DG,
	    "quay.io/org/app:v1.0",
	};
	char s[OCI_REF_STR_MAX];
	struct oci_ref again;
	size_t i;

	for (i = 0; i < sizeof(in) / sizeof(in[0]); i++) {
		cr_assert_eq(oci_ref_parse(&ref, in[i], &err), 0, "%s", in[i]);
		oci_ref_format(&ref, s, sizeof(s));
		cr_assert_eq(oci_ref_parse(&again, s, &err), 0, "%s", s);
		cr_expect_eq(memcmp(&ref, &again, sizeof(ref)), 0, "%s", s);
	}
}

Test(oci_ref, endpoint)
{
	cr_assert_eq(oci_ref_parse(&ref, "nginx", &err), 0);
	cr_expect_str_eq(oci_ref_endpoint(&ref), "registry-1.docker.io");
	cr_assert_eq(oci_ref_parse(&ref, "index.docker.io/a/b", &err), 0);
	cr_expect_str_eq(oci_ref_endpoint(&ref), "registry-1.docker.io");
	cr_assert_eq(oci_ref_parse(&ref, "localhost:5000/x", &err), 0);
	cr_expect_str_eq(oci_ref_endpoint(&ref), "localhost:5000");
}

Test(oci_host, valid_hosts_ports_and_brackets)
{
	const char *good[] = {
	    "localhost",	 "localhost:5000", "registry.local",
	    "127.0.0.1:5000",	 "[::1]",	   "[::1]:5000",
	    "Reg-1.Example.COM", "a:65535",	   NULL};
	const char *bad[] = {"",    "-a.b", "a-.b",	 "a..b",    ".a",
			     "a.",  "a:",   "a:0",	 "a:65536", "a:123456",
			     "[]",  "[::1", "[1.2.3.4]", "[::g]",   "a_b.c",
			     "a b", NULL};

	for (int i = 0; good[i]; i++)
		cr_expect(oci_host_valid(good[i], strlen(good[i])), "%s",
			  good[i]);
	for (int i = 0; bad[i]; i++)
		cr_expect(!oci_host_valid(bad[i], strlen(bad[i])), "%s",
			  bad[i]);
	/* only the n bytes given are the host */
	cr_expect(oci_host_valid("registry.local/x", 14));
	cr_expect(!oci_host_valid("registry.local/x", 15));
}

Test(oci_host, first_component_names_a_host_only_before_a_slash)
{
	cr_expect(oci_name_has_host("registry.local/app"));
	cr_expect(oci_name_has_host("localhost/app"));
	cr_expect(oci_name_has_host("localhost:5000/team/app:v1"));
	cr_expect(oci_name_has_host("[::1]:5000/a"));
	cr_expect(oci_name_has_host("a.b/c"));
	cr_expect(!oci_name_has_host("team/app"));
	cr_expect(!oci_name_has_host("library/nginx"));
	cr_expect(!oci_name_has_host("localhostx/app"));
	cr_expect(!oci_name_has_host("team/a.b"));
	/* no '/': the whole name is a Docker Hub path */
	cr_expect(!oci_name_has_host("a.b"));
	cr_expect(!oci_name_has_host("app:v1"));
	cr_expect(!oci_name_has_host("localhost"));
	cr_expect(!oci_name_has_host(""));
	cr_expect(!oci_name_has_host(NULL));
}

Test(oci_host, a_first_component_like_a_host_is_no_hub_short_name)
{
	/* with or without a '/' after it */
	cr_expect(oci_name_first_looks_like_host("my.app"));
	cr_expect(oci_name_first_looks_like_host("localhost"));
	cr_expect(oci_name_first_looks_like_host("host:5000"));
	cr_expect(oci_name_first_looks_like_host("registry.local/app"));
	cr_expect(oci_name_first_looks_like_host("[::1]"));
	cr_expect(!oci_name_first_looks_like_host("nginx"));
	cr_expect(!oci_name_first_looks_like_host("library/nginx"));
	cr_expect(!oci_name_first_looks_like_host("team/a.b"));
	cr_expect(!oci_name_first_looks_like_host("localhostx"));
	cr_expect(!oci_name_first_looks_like_host(NULL));
}

Test(oci_host, same_rule_as_the_reference_parser)
{
	const char *names[] = {
	    "a.b/c",   "team/app", "localhost/x", "localhostx/y",
	    "[::1]/z", "h:1/p",	   NULL};

	for (int i = 0; names[i]; i++) {
		cr_assert_eq(oci_ref_parse_repo(&ref, names[i], &err), 0,
			     "%s: %s", names[i], err.msg);
		cr_expect_eq(oci_name_has_host(names[i]),
			     strcmp(ref.host, "docker.io") != 0, "%s",
			     names[i]);
	}
}

Test(oci_repo_name, host_or_host_less_paths)
{
	char longest[OCI_REPO_MAX + 2];

	cr_expect(oci_repo_name_valid("[::1]:5000/a/b"));
	cr_expect(oci_repo_name_valid("localhost:5000/a"));
	cr_expect(oci_repo_name_valid("registry.example.com/org/app"));
	cr_expect(oci_repo_name_valid("docker.io/library/nginx"));
	/* local names, as pushed to the server without a host */
	cr_expect(oci_repo_name_valid("team/app"));
	cr_expect(oci_repo_name_valid("app"));
	cr_expect(oci_repo_name_valid("a.b"));
	cr_expect(!oci_repo_name_valid(""));
	cr_expect(!oci_repo_name_valid(NULL));
	cr_expect(!oci_repo_name_valid("Team/app"));
	cr_expect(!oci_repo_name_valid("team/../app"));
	cr_expect(!oci_repo_name_valid("team//app"));
	cr_expect(!oci_repo_name_valid("team/app/"));
	cr_expect(!oci_repo_name_valid("localhost:0/app"));
	cr_expect(!oci_repo_name_valid("a-.b/app"));
	cr_expect(!oci_repo_name_valid("registry.local/"));
	cr_expect(!oci_repo_name_valid("registry.local/App"));
	cr_expect(!oci_repo_name_valid("app:v1"));
	/* a host and a path of up to OCI_NAME_MAX each */
	memset(longest, 'a', sizeof(longest));
	memcpy(longest, "h.io/", 5);
	longest[5 + OCI_NAME_MAX] = '\0';
	cr_expect(oci_repo_name_valid(longest));
	longest[5 + OCI_NAME_MAX] = 'a';
	longest[6 + OCI_NAME_MAX] = '\0';
	cr_expect(!oci_repo_name_valid(longest));
}
