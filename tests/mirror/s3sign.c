/* mirror/store/s3sign.h against AWS's published examples: the S3
 * header-signing examples ("Signature Calculations for the Authorization
 * Header: Transferring Payload in a Single Chunk": GET object with a
 * Range, PUT object, GET bucket lifecycle, GET bucket list objects), the
 * presigned GET of "Authenticating Requests: Using Query Parameters",
 * and get-vanilla of the Signature Version 4 test suite. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mirror/store/s3sign.h"

#define AK "AKIAIOSFODNN7EXAMPLE"
#define SK "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
#define HOST "examplebucket.s3.amazonaws.com"
#define EMPTY "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#define WHEN ((time_t)1369353600) /* 20130524T000000Z */

static struct s3sign_req example(const char *method, const char *path,
				 const char *query,
				 const struct s3sign_header *h, size_t n,
				 const char *payload)
{
	struct s3sign_req r = {
	    .method = method,
	    .path = path,
	    .query = query,
	    .headers = h,
	    .n_headers = n,
	    .payload_hash = payload,
	    .region = "us-east-1",
	    .service = "s3",
	    .access_key = AK,
	    .secret_key = SK,
	    .when = WHEN,
	};
	return r;
}

static void check(const struct s3sign_req *r, const char *want_canon,
		  const char *want_sh, const char *want_sig)
{
	char sh[256], auth[512], want[512], hash[S3_SHA256_HEX];
	char *canon = s3sign_canonical(r, sh, sizeof(sh));

	cr_assert(canon);
	cr_assert_str_eq(canon, want_canon);
	cr_assert_str_eq(sh, want_sh);
	s3sign_sha256_hex(hash, canon, strlen(canon));
	free(canon);
	cr_assert_eq(s3sign_authorization(auth, sizeof(auth), r), 0);
	snprintf(want, sizeof(want),
		 "AWS4-HMAC-SHA256 Credential=%s/20130524/us-east-1/s3/"
		 "aws4_request, SignedHeaders=%s, Signature=%s",
		 r->access_key, want_sh, want_sig);
	cr_assert_str_eq(auth, want);
}

Test(s3sign, amz_date_is_utc)
{
	char d[17];

	s3sign_amz_date(d, WHEN);
	cr_assert_str_eq(d, "20130524T000000Z");
	s3sign_amz_date(d, 1440938160);
	cr_assert_str_eq(d, "20150830T123600Z");
}

Test(s3sign, sha256_of_the_empty_body_and_of_the_put_example)
{
	char h[S3_SHA256_HEX];

	s3sign_sha256_hex(h, "", 0);
	cr_assert_str_eq(h, EMPTY);
	s3sign_sha256_hex(h, "Welcome to Amazon S3.", 21);
	cr_assert_str_eq(
	    h,
	    "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072");
}

Test(s3sign, uri_encode_keeps_unreserved_and_slash_on_request)
{
	char *a = s3sign_uri_encode("/a b/c+d~e_f.g-h$i", 0);
	char *b = s3sign_uri_encode("x/y=z&\xc3\xa9", 1);

	cr_assert_str_eq(a, "/a%20b/c%2Bd~e_f.g-h%24i");
	cr_assert_str_eq(b, "x%2Fy%3Dz%26%C3%A9");
	free(a);
	free(b);
}

Test(s3sign, aws_get_object_with_range)
{
	struct s3sign_header h[] = {
	    {"Host", HOST},
	    {"Range", "bytes=0-9"},
	    {"x-amz-content-sha256", EMPTY},
	    {"x-amz-date", "20130524T000000Z"},
	};
	struct s3sign_req r = example("GET", "/test.txt", "", h, 4, EMPTY);

	check(
	    &r,
	    "GET\n/test.txt\n\nhost:" HOST "\nrange:bytes=0-9\n"
	    "x-amz-content-sha256:" EMPTY "\nx-amz-date:20130524T000000Z\n"
	    "\nhost;range;x-amz-content-sha256;x-amz-date\n" EMPTY,
	    "host;range;x-amz-content-sha256;x-amz-date",
	    "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41");
}

Test(s3sign, aws_put_object)
{
	const char *body =
	    "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072";
	char *path = s3sign_uri_encode("/test$file.text", 0);
	/* given out of order and in mixed case: the signer sorts and lowers */
	struct s3sign_header h[] = {
	    {"X-Amz-Storage-Class", "REDUCED_REDUNDANCY"},
	    {"x-amz-date", "20130524T000000Z"},
	    {"Date", "Fri, 24 May 2013 00:00:00 GMT"},
	    {"Host", HOST},
	    {"x-amz-content-sha256", body},
	};
	struct s3sign_req r = example("PUT", path, NULL, h, 5, body);

	cr_assert_str_eq(path, "/test%24file.text");
	check(
	    &r,
	    "PUT\n/test%24file.text\n\ndate:Fri, 24 May 2013 00:00:00 GMT\n"
	    "host:" HOST "\nx-amz-content-sha256:44ce7dd67c959e0d3524ffac"
	    "1771dfbba87d2b6b4b4e99e42034a8b803f8b072\n"
	    "x-amz-date:20130524T000000Z\n"
	    "x-amz-storage-class:REDUCED_REDUNDANCY\n\n"
	    "date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class\n"
	    "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072",
	    "date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class",
	    "98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd");
	free(path);
}

Test(s3sign, aws_get_bucket_lifecycle_value_less_pair)
{
	struct s3sign_header h[] = {
	    {"Host", HOST},
	    {"x-amz-date", "20130524T000000Z"},
	    {"x-amz-content-sha256", EMPTY},
	};
	struct s3sign_req r = example("GET", "/", "lifecycle", h, 3, EMPTY);

	check(
	    &r,
	    "GET\n/\nlifecycle=\nhost:" HOST "\nx-amz-content-sha256:" EMPTY
	    "\nx-amz-date:20130524T000000Z\n\n"
	    "host;x-amz-content-sha256;x-amz-date\n" EMPTY,
	    "host;x-amz-content-sha256;x-amz-date",
	    "fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543");
}

Test(s3sign, aws_list_objects_query_sorted)
{
	struct s3sign_header h[] = {
	    {"Host", HOST},
	    {"x-amz-date", "20130524T000000Z"},
	    {"x-amz-content-sha256", EMPTY},
	};
	/* sent in the other order */
	struct s3sign_req r =
	    example("GET", "/", "prefix=J&max-keys=2", h, 3, EMPTY);

	check(
	    &r,
	    "GET\n/\nmax-keys=2&prefix=J\nhost:" HOST
	    "\nx-amz-content-sha256:" EMPTY "\nx-amz-date:20130524T000000Z\n\n"
	    "host;x-amz-content-sha256;x-amz-date\n" EMPTY,
	    "host;x-amz-content-sha256;x-amz-date",
	    "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7");
}

Test(s3sign, aws_presigned_get)
{
	struct s3sign_header h[] = {{"Host", HOST}};
	struct s3sign_req r = example("GET", "/test.txt", NULL, h, 1, NULL);
	char *q = s3sign_presign_query(&r, 86400, NULL);

	cr_assert(q);
	cr_assert_str_eq(
	    q, "X-Amz-Algorithm=AWS4-HMAC-SHA256"
	       "&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1"
	       "%2Fs3%2Faws4_request&X-Amz-Date=20130524T000000Z"
	       "&X-Amz-Expires=86400&X-Amz-SignedHeaders=host"
	       "&X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c2"
	       "65957d157751f604d404");
	free(q);
}

Test(s3sign, presigned_with_a_session_token_signs_it)
{
	struct s3sign_header h[] = {{"Host", HOST}};
	struct s3sign_req r = example("GET", "/test.txt", NULL, h, 1, NULL);
	char *plain = s3sign_presign_query(&r, 60, NULL);
	char *tok = s3sign_presign_query(&r, 60, "a/b+c");
	const char *sp, *st;

	cr_assert(plain && tok);
	cr_assert(strstr(tok, "&X-Amz-SignedHeaders=host"
			      "&X-Amz-Security-Token=a%2Fb%2Bc"
			      "&X-Amz-Signature="));
	sp = strstr(plain, "X-Amz-Signature=");
	st = strstr(tok, "X-Amz-Signature=");
	cr_assert(sp && st);
	cr_assert_str_neq(sp, st);
	cr_assert_eq(strlen(st), strlen("X-Amz-Signature=") + 64);
	free(plain);
	free(tok);
}

/* The SigV4 test suite: get-vanilla, and get-vanilla-query-order-key
 * (pairs sorted by name) with header values trimmed and collapsed. */
Test(s3sign, suite_get_vanilla)
{
	struct s3sign_header h[] = {
	    {"Host", "example.amazonaws.com"},
	    {"X-Amz-Date", "20150830T123600Z"},
	};
	struct s3sign_req r = {
	    .method = "GET",
	    .path = "/",
	    .headers = h,
	    .n_headers = 2,
	    .payload_hash = EMPTY,
	    .region = "us-east-1",
	    .service = "service",
	    .access_key = "AKIDEXAMPLE",
	    .secret_key = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
	    .when = 1440938160,
	};
	char sh[64], auth[512], hash[S3_SHA256_HEX];
	char *canon = s3sign_canonical(&r, sh, sizeof(sh));

	cr_assert_str_eq(canon, "GET\n/\n\nhost:example.amazonaws.com\n"
				"x-amz-date:20150830T123600Z\n\n"
				"host;x-amz-date\n" EMPTY);
	s3sign_sha256_hex(hash, canon, strlen(canon));
	cr_assert_str_eq(
	    hash,
	    "bb579772317eb040ac9ed261061d46c1f17a8133879d6129b6e1c25292927e63");
	free(canon);
	cr_assert_eq(s3sign_authorization(auth, sizeof(auth), &r), 0);
	cr_assert_str_eq(
	    auth, "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/"
		  "us-east-1/service/aws4_request, SignedHeaders=host;"
		  "x-amz-date, Signature=5fa00fa31553b73ebf1942676e86291e83"
		  "72ff2a2260956d9b8aae1d763fbf31");
}

Test(s3sign, query_pairs_sorted_by_name_then_value_and_values_cleaned)
{
	struct s3sign_header h[] = {
	    {"Host", "h"},
	    {"My-Header1", "  value1   with  spaces  "},
	    {"my-header1", "second"},
	};
	struct s3sign_req r =
	    example("GET", "/", "b=2&a=9&a=1&c", h, 3, S3_UNSIGNED);
	char sh[64];
	char *canon = s3sign_canonical(&r, sh, sizeof(sh));

	cr_assert_str_eq(canon, "GET\n/\na=1&a=9&b=2&c=\nhost:h\n"
				"my-header1:value1 with spaces,second\n\n"
				"host;my-header1\nUNSIGNED-PAYLOAD");
	cr_assert_str_eq(sh, "host;my-header1");
	free(canon);
}

Test(s3sign, too_small_a_buffer_fails)
{
	struct s3sign_header h[] = {{"Host", HOST}};
	struct s3sign_req r = example("GET", "/", NULL, h, 1, EMPTY);
	char auth[40], sh[3];

	cr_assert_eq(s3sign_authorization(auth, sizeof(auth), &r), -1);
	cr_assert_null(s3sign_canonical(&r, sh, sizeof(sh)));
}
