#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "oci/manifest.h"
#include "oci/mediatype.h"

static struct oci_manifest m;
static struct err err;
static char *raw;
static size_t raw_len;

static void fini(void)
{
	oci_manifest_release(&m);
	free(raw);
	raw = NULL;
}

TestSuite(oci_manifest, .fini = fini);

static void load(const char *name)
{
	char path[512];
	FILE *f;
	long n;

	snprintf(path, sizeof(path), "%s/manifests/%s", TESTDATA, name);
	f = fopen(path, "rb");
	cr_assert_not_null(f, "open %s", path);
	cr_assert_eq(fseek(f, 0, SEEK_END), 0);
	n = ftell(f);
	cr_assert_geq(n, 0);
	rewind(f);
	free(raw);
	raw = malloc((size_t)n + 1);
	cr_assert_not_null(raw);
	cr_assert_eq(fread(raw, 1, (size_t)n, f), (size_t)n);
	raw[n] = '\0';
	raw_len = (size_t)n;
	fclose(f);
}

static void parse_file_ok(const char *name, const char *ct)
{
	struct oci_digest want;

	load(name);
	cr_assert_eq(oci_manifest_parse(&m, raw, raw_len, ct, &err), 0,
		     "%s: %s", name, err.msg);
	oci_digest_of(&want, OCI_SHA256, raw, raw_len);
	cr_expect_str_eq(m.digest.str, want.str);
	cr_expect_eq(m.raw_len, raw_len);
	cr_assert_not_null(m.raw);
	cr_expect_neq(m.raw, raw, "raw must be a copy");
	cr_expect_eq(memcmp(m.raw, raw, raw_len), 0);
}

static int parse_str(const char *s, const char *ct)
{
	err_clear(&err);
	oci_manifest_release(&m);
	return oci_manifest_parse(&m, s, strlen(s), ct, &err);
}

static void expect_bad_str(const char *s, const char *ct, int code,
			   const char *words)
{
	cr_assert_eq(parse_str(s, ct), code, "%s -> %s", s, err.msg);
	cr_expect(strstr(err.msg, words), "\"%s\" lacks \"%s\"", err.msg, words);
	cr_expect_null(m.raw, "failed parse keeps nothing");
	cr_expect_null(m.media_type);
	cr_expect_eq(m.n_layers, 0);
}

static void expect_bad_file(const char *name, int code, const char *words)
{
	load(name);
	oci_manifest_release(&m);
	err_clear(&err);
	cr_assert_eq(oci_manifest_parse(&m, raw, raw_len, NULL, &err), code,
		     "%s -> %s", name, err.msg);
	cr_expect_eq(err.code, code);
	cr_expect(strstr(err.msg, words), "%s: \"%s\" lacks \"%s\"", name,
		  err.msg, words);
	cr_expect_null(m.raw, "failed parse keeps nothing");
	cr_expect_null(m.layers);
}

static const char *sha(const char *s)
{
	static char out[8][OCI_DIGEST_MAX];
	static int i;
	struct oci_digest d;

	oci_digest_of(&d, OCI_SHA256, s, strlen(s));
	i = (i + 1) % 8;
	memcpy(out[i], d.str, sizeof(d.str));
	return out[i];
}

#define CFG_DIGEST \
	"sha256:b5b2b2c507a0944348e0303114d8d93aaaa081732b86451d9bce1f432a537bc7"

/* Minimal OCI manifest with one layer whose size is S (JSON text). */
#define MINI_SIZE(S)                                                          \
	"{\"schemaVersion\":2,\"mediaType\":\"" MT_OCI_MANIFEST "\","          \
	"\"config\":{\"mediaType\":\"" MT_OCI_CONFIG "\",\"digest\":\"" CFG_DIGEST \
	"\",\"size\":1},\"layers\":[{\"mediaType\":\"" MT_OCI_LAYER_TGZ       \
	"\",\"digest\":\"" CFG_DIGEST "\",\"size\":" S "}]}"

Test(oci_manifest, oci_image_manifest)
{
	parse_file_ok("oci-manifest.json", NULL);
	cr_expect_eq(m.kind, OCI_KIND_MANIFEST);
	cr_expect_str_eq(m.media_type, MT_OCI_MANIFEST);
	cr_expect_null(m.artifact_type);
	cr_assert_eq(m.has_config, 1);
	cr_expect_str_eq(m.config.media_type, MT_OCI_CONFIG);
	cr_expect_str_eq(m.config.digest.str, sha("config"));
	cr_expect_eq(m.config.size, 1469);
	cr_assert_eq(m.n_layers, 2);
	cr_expect_str_eq(m.layers[0].media_type, MT_OCI_LAYER_TGZ);
	cr_expect_str_eq(m.layers[0].digest.str, sha("layer1"));
	cr_expect_eq(m.layers[0].size, 3623807);
	cr_expect_null(m.layers[0].annotations_json);
	cr_expect_eq(m.layers[0].has_platform, 0);
	cr_expect_str_eq(m.layers[1].digest.str, sha("layer2"));
	cr_expect_eq(m.layers[1].size, 32);
	cr_expect_str_eq(m.layers[1].annotations_json,
			 "{\"org.opencontainers.image.title\":\"hello.txt\"}");
	cr_expect_null(m.manifests);
	cr_expect_eq(m.n_manifests, 0);
	cr_expect_eq(m.has_subject, 0);
}

Test(oci_manifest, annotations_are_compact_and_sorted)
{
	parse_file_ok("oci-manifest.json", NULL);
	cr_expect_str_eq(m.annotations_json,
			 "{\"com.example.a\":\"1\",\"com.example.b\":\"2\","
			 "\"org.opencontainers.image.created\":\"2024-01-01T00:00:00Z\"}");
}

Test(oci_manifest, oci_index_with_platforms)
{
	parse_file_ok("oci-index.json", MT_OCI_INDEX);
	cr_expect_eq(m.kind, OCI_KIND_INDEX);
	cr_expect_str_eq(m.media_type, MT_OCI_INDEX);
	cr_expect_eq(m.has_config, 0);
	cr_expect_eq(m.n_layers, 0);
	cr_assert_eq(m.n_manifests, 5);
	cr_expect_str_eq(m.manifests[0].media_type, MT_OCI_MANIFEST);
	cr_expect_str_eq(m.manifests[0].digest.str, sha("amd64"));
	cr_expect_eq(m.manifests[0].size, 1024);
	cr_assert_eq(m.manifests[0].has_platform, 1);
	cr_expect_str_eq(m.manifests[0].platform.os, "linux");
	cr_expect_str_eq(m.manifests[0].platform.arch, "amd64");
	cr_expect_str_empty(m.manifests[0].platform.variant);
	/* arm64/v8 normalises to arm64 */
	cr_expect_str_eq(m.manifests[1].platform.arch, "arm64");
	cr_expect_str_empty(m.manifests[1].platform.variant);
	cr_expect_str_eq(m.manifests[2].platform.arch, "arm");
	cr_expect_str_eq(m.manifests[2].platform.variant, "v7");
	cr_expect_str_eq(m.manifests[3].platform.os, "windows");
	cr_expect_str_eq(m.manifests[3].platform.os_version, "10.0.17763.5329");
	cr_expect_str_eq(m.manifests[4].platform.os, "unknown");
	cr_expect(strstr(m.manifests[4].annotations_json,
			 "\"vnd.docker.reference.type\":\"attestation-manifest\""),
		  "%s", m.manifests[4].annotations_json);
	cr_expect_str_eq(m.annotations_json,
			 "{\"org.opencontainers.image.ref.name\":\"1.0\"}");
}

Test(oci_manifest, docker_schema2_manifest)
{
	parse_file_ok("docker-manifest.json", MT_DOCKER_MANIFEST);
	cr_expect_eq(m.kind, OCI_KIND_MANIFEST);
	cr_expect_str_eq(m.media_type, MT_DOCKER_MANIFEST);
	cr_expect_str_eq(m.config.media_type, MT_DOCKER_CONFIG);
	cr_expect_eq(m.config.size, 7023);
	cr_assert_eq(m.n_layers, 3);
	cr_expect_str_eq(m.layers[2].media_type,
			 "application/vnd.docker.image.rootfs.diff.tar.gzip");
	cr_expect_str_eq(m.layers[2].digest.str, sha("layer3"));
	cr_expect_eq(m.layers[2].size, 73109);
	cr_expect_null(m.annotations_json);
}

Test(oci_manifest, docker_manifest_list_normalises_platforms)
{
	parse_file_ok("docker-list.json", "application/vnd.docker.distribution.manifest.list.v2+json; charset=utf-8");
	cr_expect_eq(m.kind, OCI_KIND_INDEX);
	cr_expect_str_eq(m.media_type, MT_DOCKER_LIST);
	cr_assert_eq(m.n_manifests, 4);
	cr_expect_str_eq(m.manifests[0].platform.arch, "ppc64le");
	cr_expect_str_eq(m.manifests[1].platform.os, "linux");
	cr_expect_str_eq(m.manifests[1].platform.arch, "amd64");
	cr_expect_str_eq(m.manifests[2].platform.arch, "arm64");
	cr_expect_str_eq(m.manifests[3].platform.arch, "arm");
	cr_expect_str_eq(m.manifests[3].platform.variant, "v7");
	cr_expect_str_eq(m.manifests[3].digest.str, sha("armhf"));
}

Test(oci_manifest, artifact_with_subject_and_empty_config)
{
	parse_file_ok("artifact-subject.json", NULL);
	cr_expect_eq(m.kind, OCI_KIND_MANIFEST);
	cr_expect_str_eq(m.artifact_type, "application/vnd.example.sbom.v1+json");
	cr_expect_str_eq(m.config.media_type, MT_OCI_EMPTY);
	cr_expect_str_eq(m.config.digest.str, OCI_EMPTY_DIGEST);
	cr_expect_eq(m.config.size, 2);
	cr_assert_eq(m.has_subject, 1);
	cr_expect_str_eq(m.subject.media_type, MT_OCI_MANIFEST);
	cr_expect_str_eq(m.subject.digest.str, sha("subject"));
	cr_expect_eq(m.subject.size, 7682);
	cr_assert_eq(m.n_layers, 1);
	cr_expect_str_eq(m.layers[0].media_type, "application/vnd.example.sbom.v1+json");
}

Test(oci_manifest, helm_chart_without_media_type_is_inferred)
{
	parse_file_ok("helm-chart.json", NULL);
	cr_expect_eq(m.kind, OCI_KIND_MANIFEST);
	cr_expect_str_eq(m.media_type, MT_OCI_MANIFEST);
	cr_expect_str_eq(m.config.media_type, "application/vnd.cncf.helm.config.v1+json");
	cr_expect_str_eq(m.config.digest.str, sha("helmcfg"));
	cr_assert_eq(m.n_layers, 1);
	cr_expect_str_eq(m.layers[0].media_type,
			 "application/vnd.cncf.helm.chart.content.v1.tar+gzip");
	cr_expect_eq(m.layers[0].size, 2487);
	cr_expect_str_eq(m.layers[0].annotations_json,
			 "{\"org.opencontainers.image.title\":\"mychart-0.1.0.tgz\"}");
}

Test(oci_manifest, index_without_media_type_is_inferred)
{
	cr_assert_eq(parse_str("{\"schemaVersion\":2,\"manifests\":[]}", NULL), 0,
		     "%s", err.msg);
	cr_expect_eq(m.kind, OCI_KIND_INDEX);
	cr_expect_str_eq(m.media_type, MT_OCI_INDEX);
	cr_expect_eq(m.n_manifests, 0);
	cr_expect_null(m.manifests);
}

Test(oci_manifest, missing_media_type_takes_content_type_of_same_kind)
{
	cr_assert_eq(parse_str("{\"schemaVersion\":2,\"manifests\":[]}", MT_DOCKER_LIST),
		     0, "%s", err.msg);
	cr_expect_str_eq(m.media_type, MT_DOCKER_LIST);
	expect_bad_str("{\"schemaVersion\":2,\"manifests\":[]}", MT_OCI_MANIFEST,
		       ERR_INVALID, "does not match the document, which is an index");
}

Test(oci_manifest, empty_layers_allowed)
{
	cr_assert_eq(parse_str("{\"schemaVersion\":2,\"config\":{\"mediaType\":\"" MT_OCI_EMPTY
			       "\",\"digest\":\"" OCI_EMPTY_DIGEST "\",\"size\":2},\"layers\":[]}",
			       NULL),
		     0, "%s", err.msg);
	cr_expect_eq(m.n_layers, 0);
	cr_expect_null(m.layers);
	cr_expect_eq(m.config.size, 2);
}

Test(oci_manifest, content_type_disagreeing_with_media_type_refused)
{
	load("oci-manifest.json");
	cr_expect_eq(oci_manifest_parse(&m, raw, raw_len, MT_DOCKER_MANIFEST, &err),
		     ERR_INVALID);
	cr_expect(strstr(err.msg, "mediaType " MT_OCI_MANIFEST
				  " does not match content type " MT_DOCKER_MANIFEST),
		  "%s", err.msg);
	cr_expect(strstr(err.msg, "manifest sha256:"), "names the manifest: %s", err.msg);
	cr_expect_null(m.raw);
	cr_expect_eq(m.n_layers, 0);
}

Test(oci_manifest, unknown_content_type_is_ignored)
{
	parse_file_ok("oci-manifest.json", "application/json");
	cr_expect_str_eq(m.media_type, MT_OCI_MANIFEST);
	oci_manifest_release(&m);
	parse_file_ok("oci-index.json", "text/plain; charset=utf-8");
	cr_expect_eq(m.kind, OCI_KIND_INDEX);
}

Test(oci_manifest, schema1_refused_as_unsupported)
{
	expect_bad_file("schema1.json", ERR_UNSUPPORTED,
			"Docker schema1 manifests are not supported (deprecated); ");
	cr_expect_eq(strncmp(err.msg, "Docker schema1", 14), 0, "%s", err.msg);
	cr_expect(strstr(err.msg, "sha256:"), "names the manifest: %s", err.msg);
}

Test(oci_manifest, schema1_media_types_refused)
{
	expect_bad_str("{\"schemaVersion\":2,\"mediaType\":\"" MT_DOCKER_SCHEMA1_SIGNED "\"}",
		       NULL, ERR_UNSUPPORTED, "schema1");
	expect_bad_str("{}", MT_DOCKER_SCHEMA1, ERR_UNSUPPORTED, "schema1");
	expect_bad_str("not even json", MT_DOCKER_SCHEMA1_SIGNED, ERR_UNSUPPORTED,
		       "Docker schema1");
}

Test(oci_manifest, duplicate_keys_refused)
{
	expect_bad_file("bad/duplicate-key.json", ERR_INVALID, "duplicate object key");
	cr_expect(strstr(err.msg, "invalid JSON at line 1"), "%s", err.msg);
}

Test(oci_manifest, size_as_string_refused)
{
	expect_bad_file("bad/size-string.json", ERR_INVALID,
			"layers[0]: size must be a non-negative integer");
}

Test(oci_manifest, negative_size_refused)
{
	expect_bad_file("bad/size-negative.json", ERR_INVALID,
			"layers[0]: size must be a non-negative integer");
}

Test(oci_manifest, float_size_refused)
{
	expect_bad_file("bad/size-float.json", ERR_INVALID,
			"layers[0]: size must be a non-negative integer");
	expect_bad_str(MINI_SIZE("1.0"), NULL, ERR_INVALID, "size must be");
	expect_bad_str(MINI_SIZE("1e3"), NULL, ERR_INVALID, "size must be");
}

Test(oci_manifest, size_limits)
{
	cr_assert_eq(parse_str(MINI_SIZE("0"), NULL), 0, "%s", err.msg);
	cr_expect_eq(m.layers[0].size, 0);
	cr_assert_eq(parse_str(MINI_SIZE("9223372036854775807"), NULL), 0, "%s", err.msg);
	cr_expect_eq(m.layers[0].size, INT64_MAX);
	expect_bad_str(MINI_SIZE("9223372036854775808"), NULL, ERR_INVALID,
		       "invalid JSON");
	expect_bad_str(MINI_SIZE("null"), NULL, ERR_INVALID, "size must be");
	expect_bad_str(MINI_SIZE("true"), NULL, ERR_INVALID, "size must be");
}

Test(oci_manifest, descriptor_without_media_type_refused)
{
	expect_bad_file("bad/no-mediatype-descriptor.json", ERR_INVALID,
			"layers[1]: mediaType is missing");
}

Test(oci_manifest, bad_descriptor_digests_refused)
{
	expect_bad_file("bad/digest-uppercase.json", ERR_INVALID,
			"config: invalid digest");
	cr_expect(strstr(err.msg, "not lowercase hex"), "%s", err.msg);
	expect_bad_file("bad/digest-short.json", ERR_INVALID, "needs 64 hex digits, got 63");
	expect_bad_file("bad/digest-sha384.json", ERR_UNSUPPORTED,
			"config: unsupported algorithm");
}

Test(oci_manifest, image_manifest_needs_config)
{
	expect_bad_file("bad/no-config.json", ERR_INVALID, "config is missing");
}

Test(oci_manifest, layers_must_be_array)
{
	expect_bad_file("bad/layers-object.json", ERR_INVALID, "layers must be an array");
}

Test(oci_manifest, annotation_values_must_be_strings)
{
	expect_bad_file("bad/annotation-number.json", ERR_INVALID,
			"annotations values must be strings");
}

Test(oci_manifest, ambiguous_documents_refused)
{
	expect_bad_file("bad/ambiguous.json", ERR_INVALID,
			"an image manifest must not have manifests");
	expect_bad_str("{\"schemaVersion\":2,\"mediaType\":\"" MT_OCI_INDEX
		       "\",\"manifests\":[],\"layers\":[]}",
		       NULL, ERR_INVALID, "an index must not have config or layers");
	expect_bad_str("{\"schemaVersion\":2,\"manifests\":[],\"config\":{}}", NULL,
		       ERR_INVALID, "both manifests and config/layers");
}

Test(oci_manifest, schema_version_checked)
{
	expect_bad_file("bad/schema-version-3.json", ERR_INVALID, "schemaVersion must be 2");
	expect_bad_str("{\"mediaType\":\"" MT_OCI_INDEX "\",\"manifests\":[]}", NULL,
		       ERR_INVALID, "schemaVersion is missing");
	expect_bad_str("{\"schemaVersion\":\"2\",\"manifests\":[]}", NULL,
		       ERR_INVALID, "schemaVersion must be 2");
}

Test(oci_manifest, platform_needs_os_and_architecture)
{
	expect_bad_file("bad/platform-no-os.json", ERR_INVALID,
			"config: platform.os is missing");
}

Test(oci_manifest, index_needs_manifests)
{
	expect_bad_file("bad/index-no-manifests.json", ERR_INVALID, "manifests is missing");
}

Test(oci_manifest, undecidable_kind_refused)
{
	expect_bad_file("bad/no-kind.json", ERR_INVALID,
			"neither manifests nor config is present");
}

Test(oci_manifest, malformed_json_refused)
{
	expect_bad_file("bad/truncated.json", ERR_INVALID, "invalid JSON at line");
	expect_bad_file("bad/not-object.json", ERR_INVALID, "not a JSON object");
	expect_bad_file("bad/trailing-garbage.json", ERR_INVALID, "invalid JSON");
	expect_bad_str("{\"schemaVersion\":2,\"manifests\":[]", NULL, ERR_INVALID,
		       "invalid JSON");
}

Test(oci_manifest, json_error_message_stays_one_line)
{
	expect_bad_str("{\"schemaVersion\":2,\"a\":\"x\ny\"}", NULL, ERR_INVALID,
		       "invalid JSON");
	cr_expect(strchr(err.msg, '\n') == NULL, "%s", err.msg);
}

Test(oci_manifest, embedded_nul_refused)
{
	static const char doc[] = "{\"schemaVersion\":2,\"manifests\":[]}\0junk";

	cr_expect_eq(oci_manifest_parse(&m, doc, sizeof(doc) - 1, NULL, &err),
		     ERR_INVALID);
	cr_expect(strstr(err.msg, "invalid JSON"), "%s", err.msg);
	expect_bad_str("{\"schemaVersion\":2,\"manifests\":[],\"annotations\":{\"a\":\"\\u0000\"}}",
		       NULL, ERR_INVALID, "invalid JSON");
}

Test(oci_manifest, unicode_annotations_kept)
{
	cr_assert_eq(parse_str("{\"schemaVersion\":2,\"manifests\":[],"
			       "\"annotations\":{\"t\":\"caf\\u00e9 \xe2\x9c\x93\"}}",
			       NULL),
		     0, "%s", err.msg);
	cr_expect_str_eq(m.annotations_json, "{\"t\":\"caf\xc3\xa9 \xe2\x9c\x93\"}");
}

Test(oci_manifest, invalid_utf8_refused)
{
	expect_bad_str("{\"schemaVersion\":2,\"manifests\":[],\"annotations\":{\"t\":\"\xff\"}}",
		       NULL, ERR_INVALID, "invalid JSON");
}

Test(oci_manifest, bad_media_types_refused)
{
	expect_bad_str("{\"schemaVersion\":2,\"mediaType\":\"" MT_OCI_CONFIG "\",\"manifests\":[]}",
		       NULL, ERR_INVALID, "is not a manifest or index type");
	expect_bad_str("{\"schemaVersion\":2,\"mediaType\":7,\"manifests\":[]}", NULL,
		       ERR_INVALID, "mediaType must be a string");
	expect_bad_str("{\"schemaVersion\":2,\"manifests\":[{\"mediaType\":\"no slash\","
		       "\"digest\":\"" CFG_DIGEST "\",\"size\":1}]}",
		       NULL, ERR_INVALID, "manifests[0]: mediaType is not a valid media type");
	expect_bad_str("{\"schemaVersion\":2,\"manifests\":[{\"mediaType\":\"\","
		       "\"digest\":\"" CFG_DIGEST "\",\"size\":1}]}",
		       NULL, ERR_INVALID, "mediaType is not a valid media type");
	expect_bad_str("{\"schemaVersion\":2,\"artifactType\":\"a/b/c\",\"manifests\":[]}",
		       NULL, ERR_INVALID, "artifactType is not a valid media type");
}

Test(oci_manifest, descriptor_wrong_types_refused)
{
	expect_bad_str("{\"schemaVersion\":2,\"manifests\":[1]}", NULL, ERR_INVALID,
		       "manifests[0]: descriptor must be an object");
	expect_bad_str("{\"schemaVersion\":2,\"manifests\":[{\"mediaType\":\"a/b\",\"digest\":5,\"size\":1}]}",
		       NULL, ERR_INVALID, "manifests[0]: digest must be a string");
	expect_bad_str("{\"schemaVersion\":2,\"manifests\":[{\"mediaType\":\"a/b\",\"size\":1}]}",
		       NULL, ERR_INVALID, "manifests[0]: digest is missing");
	expect_bad_str("{\"schemaVersion\":2,\"manifests\":[{\"mediaType\":\"a/b\",\"digest\":\"" CFG_DIGEST "\"}]}",
		       NULL, ERR_INVALID, "manifests[0]: size is missing");
	expect_bad_str("{\"schemaVersion\":2,\"manifests\":[{\"mediaType\":\"a/b\",\"digest\":\"" CFG_DIGEST
		       "\",\"size\":1,\"platform\":\"linux/amd64\"}]}",
		       NULL, ERR_INVALID, "platform must be an object");
	expect_bad_str("{\"schemaVersion\":2,\"manifests\":[{\"mediaType\":\"a/b\",\"digest\":\"" CFG_DIGEST
		       "\",\"size\":1,\"annotations\":[]}]}",
		       NULL, ERR_INVALID, "annotations must be an object");
	expect_bad_str("{\"schemaVersion\":2,\"config\":{\"mediaType\":\"a/b\",\"digest\":\"" CFG_DIGEST
		       "\",\"size\":1},\"subject\":\"x\"}",
		       NULL, ERR_INVALID, "subject: descriptor must be an object");
}

Test(oci_manifest, error_in_later_descriptor_frees_earlier_ones)
{
	expect_bad_str("{\"schemaVersion\":2,\"manifests\":["
		       "{\"mediaType\":\"a/b\",\"digest\":\"" CFG_DIGEST "\",\"size\":1,"
		       "\"annotations\":{\"k\":\"v\"},\"artifactType\":\"x/y\"},"
		       "{\"mediaType\":\"a/b\",\"digest\":\"" CFG_DIGEST "\",\"size\":-5}]}",
		       NULL, ERR_INVALID, "manifests[1]: size");
	cr_expect_null(m.manifests);
}

Test(oci_manifest, empty_input_refused)
{
	cr_expect_eq(oci_manifest_parse(&m, "", 0, NULL, &err), ERR_INVALID);
	cr_expect(strstr(err.msg, "manifest is empty"), "%s", err.msg);
	cr_expect_eq(oci_manifest_parse(&m, NULL, 0, NULL, &err), ERR_INVALID);
}

Test(oci_manifest, huge_input_refused_before_parsing)
{
	size_t n = OCI_MANIFEST_MAX + 1;
	char *big = malloc(n);

	cr_assert_not_null(big);
	memset(big, ' ', n);
	cr_expect_eq(oci_manifest_parse(&m, big, n, NULL, &err), ERR_TOO_LARGE);
	cr_expect(strstr(err.msg, "4194305 bytes, more than the 4194304 byte limit"),
		  "%s", err.msg);
	cr_expect_null(m.raw);
	free(big);
}

Test(oci_manifest, deep_nesting_refused)
{
	size_t depth = 100000, i;
	char *s = malloc(2 * depth + 64);
	size_t off = 0;

	cr_assert_not_null(s);
	off += (size_t)snprintf(s, 64, "{\"schemaVersion\":2,\"x\":");
	for (i = 0; i < depth; i++)
		s[off++] = '[';
	for (i = 0; i < depth; i++)
		s[off++] = ']';
	s[off++] = '}';
	cr_expect_eq(oci_manifest_parse(&m, s, off, NULL, &err), ERR_INVALID);
	cr_expect(strstr(err.msg, "invalid JSON"), "%s", err.msg);
	free(s);
}

Test(oci_manifest, too_many_descriptors_refused)
{
	/* 100001 minimal descriptors fit under the byte cap only as "{}"; the
	 * count check comes before each is looked at. */
	size_t n = 100001, i, off = 0;
	char *s = malloc(n * 3 + 128);

	cr_assert_not_null(s);
	off += (size_t)snprintf(s, 128, "{\"schemaVersion\":2,\"manifests\":[");
	for (i = 0; i < n; i++) {
		memcpy(s + off, i ? ",{}" : "{}", i ? 3 : 2);
		off += i ? 3 : 2;
	}
	s[off++] = ']';
	s[off++] = '}';
	cr_expect_eq(oci_manifest_parse(&m, s, off, NULL, &err), ERR_TOO_LARGE);
	cr_expect(strstr(err.msg, "manifests has 100001 entries, more than 100000"),
		  "%s", err.msg);
	free(s);
}

Test(oci_manifest, release_twice_and_zeroed_is_safe)
{
	struct oci_manifest z;

	memset(&z, 0, sizeof(z));
	oci_manifest_release(&z);
	oci_manifest_release(NULL);
	parse_file_ok("oci-index.json", NULL);
	oci_manifest_release(&m);
	cr_expect_null(m.raw);
	cr_expect_null(m.manifests);
	cr_expect_eq(m.n_manifests, 0);
	cr_expect_eq(m.kind, 0);
	oci_manifest_release(&m);
}

Test(oci_manifest, descriptor_copy_is_deep)
{
	struct oci_descriptor c;

	parse_file_ok("oci-index.json", NULL);
	cr_assert_eq(oci_descriptor_copy(&c, &m.manifests[4]), 0);
	cr_expect_neq(c.media_type, m.manifests[4].media_type);
	cr_expect_str_eq(c.media_type, m.manifests[4].media_type);
	cr_expect_str_eq(c.annotations_json, m.manifests[4].annotations_json);
	cr_expect_str_eq(c.digest.str, m.manifests[4].digest.str);
	cr_expect_eq(c.size, 840);
	cr_expect_eq(c.has_platform, 1);
	cr_expect_str_eq(c.platform.os, "unknown");
	cr_expect_null(c.artifact_type);
	oci_manifest_release(&m);
	/* still valid after the source is gone */
	cr_expect_str_eq(c.media_type, MT_OCI_MANIFEST);
	oci_descriptor_release(&c);
	cr_expect_null(c.media_type);
	cr_expect_null(c.annotations_json);
}

Test(oci_manifest, mediatype_helpers)
{
	cr_expect_eq(oci_mediatype_kind(MT_OCI_MANIFEST), OCI_KIND_MANIFEST);
	cr_expect_eq(oci_mediatype_kind(MT_DOCKER_MANIFEST), OCI_KIND_MANIFEST);
	cr_expect_eq(oci_mediatype_kind(MT_OCI_INDEX), OCI_KIND_INDEX);
	cr_expect_eq(oci_mediatype_kind(MT_DOCKER_LIST), OCI_KIND_INDEX);
	cr_expect_eq(oci_mediatype_kind(MT_DOCKER_LIST "; charset=utf-8"), OCI_KIND_INDEX);
	cr_expect_eq(oci_mediatype_kind(" " MT_OCI_INDEX), OCI_KIND_INDEX);
	cr_expect_eq(oci_mediatype_kind(MT_DOCKER_SCHEMA1), 0);
	cr_expect_eq(oci_mediatype_kind(MT_OCI_CONFIG), 0);
	cr_expect_eq(oci_mediatype_kind(""), 0);
	cr_expect_eq(oci_mediatype_kind(NULL), 0);
	cr_expect_eq(oci_mediatype_kind(MT_OCI_INDEX "x"), 0);
	cr_expect_eq(oci_mediatype_is_manifest(MT_OCI_INDEX), 1);
	cr_expect_eq(oci_mediatype_is_manifest(MT_DOCKER_MANIFEST), 1);
	cr_expect_eq(oci_mediatype_is_manifest("application/json"), 0);
	cr_expect_eq(oci_mediatype_is_index(MT_DOCKER_LIST), 1);
	cr_expect_eq(oci_mediatype_is_index(MT_OCI_MANIFEST), 0);
}

Test(oci_manifest, referrer_descriptor_uses_artifact_type_and_annotations)
{
	char *j, want[512];

	parse_file_ok("artifact-subject.json", NULL);
	j = oci_manifest_referrer_json(&m);
	cr_assert_not_null(j);
	snprintf(want, sizeof(want),
		 "{\"annotations\":{\"org.opencontainers.image.created\":\"2024-03-01T12:00:00Z\"},"
		 "\"artifactType\":\"application/vnd.example.sbom.v1+json\",\"digest\":\"%s\","
		 "\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"size\":%zu}",
		 m.digest.str, m.raw_len);
	cr_expect_str_eq(j, want);
	free(j);
}

Test(oci_manifest, referrer_descriptor_falls_back_to_config_media_type)
{
	char *j;

	parse_file_ok("helm-chart.json", NULL);
	j = oci_manifest_referrer_json(&m);
	cr_assert_not_null(j);
	cr_expect(strstr(j, "\"artifactType\":\"application/vnd.cncf.helm.config.v1+json\""), "%s", j);
	cr_expect(strstr(j, "\"org.opencontainers.image.title\":\"mychart\""), "%s", j);
	free(j);
}

Test(oci_manifest, index_pick_takes_the_first_child_of_the_platform)
{
	struct oci_platform want;

	parse_file_ok("oci-index.json", MT_OCI_INDEX);
	cr_assert_eq(oci_platform_parse(&want, "linux/arm64", &err), 0);
	cr_assert(oci_index_pick(&m, &want));
	cr_expect_str_eq(oci_index_pick(&m, &want)->digest.str, sha("arm64"));
	cr_assert_eq(oci_platform_parse(&want, "linux/arm", &err), 0);
	cr_assert(oci_index_pick(&m, &want));
	cr_expect_eq(oci_index_pick(&m, &want), &m.manifests[2]);
	cr_assert_eq(oci_platform_parse(&want, "linux/s390x", &err), 0);
	cr_expect_null(oci_index_pick(&m, &want));
}
