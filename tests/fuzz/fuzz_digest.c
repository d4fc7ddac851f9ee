/* libFuzzer target: oci_digest_parsen on arbitrary bytes (no NUL needed).
 * An accepted digest is canonical: it round-trips and is path-safe. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "oci/digest.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct oci_digest d, again, of;
	struct err err;
	const char *hex;

	if (oci_digest_parsen(&d, (const char *)data, size, &err) == 0) {
		if (strlen(d.str) != size || memcmp(d.str, data, size))
			abort();
		if (strchr(d.str, '/') || strstr(d.str, ".."))
			abort();
		if (oci_digest_parse(&again, d.str, &err) ||
		    !oci_digest_equal(&d, &again))
			abort();
		hex = oci_digest_hex(&d);
		if (strlen(hex) != (d.alg == OCI_SHA256 ? 64u : 128u))
			abort();
	} else if (!err.msg[0] || strchr(err.msg, '\n')) {
		abort();
	}
	oci_digest_of(&of, size & 1 ? OCI_SHA512 : OCI_SHA256, data, size);
	if (oci_digest_parse(&again, of.str, &err))
		abort();
	return 0;
}
