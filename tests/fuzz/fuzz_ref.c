/* libFuzzer target: oci_ref_parse / oci_ref_parse_repo on arbitrary bytes.
 * A parsed reference must format back to a string that parses to the same
 * value, and every part must pass its own validator. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "oci/ref.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(const struct oci_ref *r)
{
	char s[OCI_REF_STR_MAX], repo[OCI_REPO_MAX];
	struct oci_ref again;
	struct err err;

	if (!oci_path_valid(r->path) || (r->tag[0] && !oci_tag_valid(r->tag)))
		abort();
	if (strlen(r->host) + 1 + strlen(r->path) > OCI_NAME_MAX)
		abort();
	oci_ref_repo(r, repo, sizeof(repo));
	oci_ref_format(r, s, sizeof(s));
	if (oci_ref_parse(&again, s, &err))
		abort();
	if (strcmp(again.host, r->host) || strcmp(again.path, r->path) ||
	    again.has_digest != r->has_digest ||
	    (r->has_digest && !oci_digest_equal(&again.digest, &r->digest)))
		abort();
	if (r->tag[0] && strcmp(again.tag, r->tag))
		abort();
	(void)oci_ref_endpoint(r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct oci_ref r;
	struct err err;
	char *s = malloc(size + 1);

	if (!s)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	if (oci_ref_parse(&r, s, &err) == 0)
		check(&r);
	else if (!err.msg[0] || strchr(err.msg, '\n'))
		abort();
	if (oci_ref_parse_repo(&r, s, &err) == 0)
		check(&r);
	(void)oci_path_valid(s);
	(void)oci_tag_valid(s);
	free(s);
	return 0;
}
