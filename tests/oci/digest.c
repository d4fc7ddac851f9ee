#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "oci/digest.h"

#define HEX64 "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
#define HEX128 HEX64 HEX64
/* sha256("") and sha512("abc"), from FIPS 180 examples. */
#define EMPTY256 "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#define ABC512                                                             \
	"ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a" \
	"2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f"

static struct oci_digest d;
static struct err err;

static void expect_bad(const char *s, int code, const char *words)
{
	err_clear(&err);
	cr_assert_eq(oci_digest_parse(&d, s, &err), code, "parse \"%s\": %s", s,
		     err.msg);
	cr_expect_eq(err.code, code);
	cr_expect(strstr(err.msg, words) != NULL, "\"%s\" lacks \"%s\"", err.msg,
		  words);
}

Test(oci_digest, parses_sha256)
{
	cr_assert_eq(oci_digest_parse(&d, "sha256:" HEX64, &err), 0, "%s", err.msg);
	cr_expect_eq(d.alg, OCI_SHA256);
	cr_expect_str_eq(d.str, "sha256:" HEX64);
	cr_expect_str_eq(oci_digest_hex(&d), HEX64);
	cr_expect_str_eq(oci_digest_alg_name(d.alg), "sha256");
}

Test(oci_digest, parses_sha512)
{
	cr_assert_eq(oci_digest_parse(&d, "sha512:" HEX128, &err), 0, "%s", err.msg);
	cr_expect_eq(d.alg, OCI_SHA512);
	cr_expect_str_eq(d.str, "sha512:" HEX128);
	cr_expect_eq(strlen(d.str), 135);
	cr_expect_str_eq(oci_digest_hex(&d), HEX128);
	cr_expect_str_eq(oci_digest_alg_name(d.alg), "sha512");
}

Test(oci_digest, uppercase_hex_refused)
{
	expect_bad("sha256:0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef",
		   ERR_INVALID, "not lowercase hex");
	cr_expect(strstr(err.msg, "0123456789ABCDEF"), "names the input: %s", err.msg);
}

Test(oci_digest, non_hex_refused)
{
	expect_bad("sha256:g123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
		   ERR_INVALID, "not lowercase hex");
	expect_bad("sha256:" "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcde/",
		   ERR_INVALID, "not lowercase hex");
}

Test(oci_digest, wrong_length_refused)
{
	expect_bad("sha256:abc", ERR_INVALID, "sha256 needs 64 hex digits, got 3");
	expect_bad("sha256:" HEX64 "0", ERR_INVALID, "got 65");
	expect_bad("sha256:", ERR_INVALID, "got 0");
	expect_bad("sha512:" HEX64, ERR_INVALID, "sha512 needs 128 hex digits, got 64");
}

Test(oci_digest, unknown_algorithm_is_unsupported)
{
	expect_bad("sha384:" HEX64, ERR_UNSUPPORTED, "unsupported algorithm");
	cr_expect(strstr(err.msg, "sha384:"), "%s", err.msg);
	expect_bad("blake3:" HEX64, ERR_UNSUPPORTED, "unsupported");
}

Test(oci_digest, malformed_algorithm_is_invalid)
{
	expect_bad("SHA256:" HEX64, ERR_INVALID, "bad algorithm");
	expect_bad("sh a:" HEX64, ERR_INVALID, "bad algorithm");
	expect_bad(":" HEX64, ERR_INVALID, "invalid digest");
}

Test(oci_digest, missing_algorithm_refused)
{
	expect_bad(HEX64, ERR_INVALID, "missing algorithm");
	expect_bad("", ERR_INVALID, "missing algorithm");
}

Test(oci_digest, path_traversal_refused)
{
	expect_bad("sha256:../../../../etc/passwd", ERR_INVALID, "needs 64");
	expect_bad("../sha256:" HEX64, ERR_INVALID, "bad algorithm");
}

Test(oci_digest, embedded_nul_via_parsen_refused)
{
	char s[72];

	memcpy(s, "sha256:" HEX64, 71);
	s[30] = '\0';
	cr_expect_eq(oci_digest_parsen(&d, s, 71, &err), ERR_INVALID);
	cr_expect(strstr(err.msg, "\\x00"), "NUL shown escaped: %s", err.msg);
	s[30] = 'a';
	s[3] = '\0';
	cr_expect_eq(oci_digest_parsen(&d, s, 71, &err), ERR_INVALID);
}

Test(oci_digest, parsen_needs_no_terminator)
{
	char s[80];

	memcpy(s, "sha256:" EMPTY256 "XYZ", 74);
	cr_assert_eq(oci_digest_parsen(&d, s, 71, &err), 0, "%s", err.msg);
	cr_expect_str_eq(d.str, "sha256:" EMPTY256);
}

Test(oci_digest, control_and_unicode_bytes_escaped_in_message)
{
	expect_bad("sha256:\n\xc3\xa9", ERR_INVALID, "\\x0a\\xc3\\xa9");
	cr_expect(strchr(err.msg, '\n') == NULL);
}

Test(oci_digest, long_input_message_is_bounded)
{
	static char big[20000];

	memset(big, 'a', sizeof(big) - 1);
	memcpy(big, "sha256:", 7);
	expect_bad(big, ERR_INVALID, "needs 64 hex digits");
	cr_expect_lt(strlen(err.msg), 300);
	cr_expect(strstr(err.msg, "..."), "%s", err.msg);
}

Test(oci_digest, equal)
{
	struct oci_digest a, b;

	cr_assert_eq(oci_digest_parse(&a, "sha256:" HEX64, &err), 0);
	cr_assert_eq(oci_digest_parse(&b, "sha256:" HEX64, &err), 0);
	cr_expect_eq(oci_digest_equal(&a, &b), 1);
	cr_assert_eq(oci_digest_parse(&b, "sha256:" EMPTY256, &err), 0);
	cr_expect_eq(oci_digest_equal(&a, &b), 0);
}

Test(oci_digest, of_empty_is_known_sha256)
{
	oci_digest_of(&d, OCI_SHA256, "", 0);
	cr_expect_str_eq(d.str, "sha256:" EMPTY256);
	cr_expect_eq(d.alg, OCI_SHA256);
}

Test(oci_digest, of_abc_is_known_sha512)
{
	oci_digest_of(&d, OCI_SHA512, "abc", 3);
	cr_expect_str_eq(d.str, "sha512:" ABC512);
	cr_expect_eq(d.alg, OCI_SHA512);
}

Test(oci_digest, computed_digest_parses_back)
{
	struct oci_digest back;

	oci_digest_of(&d, OCI_SHA512, "x", 1);
	cr_assert_eq(oci_digest_parse(&back, d.str, &err), 0, "%s", err.msg);
	cr_expect_eq(oci_digest_equal(&d, &back), 1);
}

Test(oci_digest, streaming_equals_one_shot)
{
	static char data[100000];
	struct oci_hasher h;
	struct oci_digest one, streamed;
	size_t i;

	for (i = 0; i < sizeof(data); i++)
		data[i] = (char)(i * 7);
	oci_digest_of(&one, OCI_SHA256, data, sizeof(data));
	cr_assert_eq(oci_hasher_init(&h, OCI_SHA256), 0);
	for (i = 0; i < sizeof(data); i += 333)
		oci_hasher_update(&h, data + i,
				  sizeof(data) - i < 333 ? sizeof(data) - i : 333);
	cr_expect_eq(h.n, sizeof(data));
	oci_hasher_final(&h, &streamed);
	oci_hasher_release(&h);
	cr_expect_str_eq(streamed.str, one.str);
	cr_expect_null(h.ctx);
	oci_hasher_release(&h); /* twice is harmless */
}
