/* Content digests ("sha256:<64 hex>", "sha512:<128 hex>") and streaming
 * hashers on OpenSSL EVP.
 *
 * Only canonical digests are accepted: a known algorithm, lowercase hex, the
 * exact length. A parsed digest is safe to use as a path component. */
#ifndef OCI_DIGEST_H
#define OCI_DIGEST_H

#include <stddef.h>
#include <stdint.h>

#include "oci/err.h"

enum oci_digest_alg { OCI_SHA256 = 1, OCI_SHA512 = 2 };

#define OCI_DIGEST_MAX 136 /* "sha512:" + 128 hex + NUL, rounded */

struct oci_digest {
	enum oci_digest_alg alg;
	char str[OCI_DIGEST_MAX]; /* full canonical form, "sha256:..." */
};

/* Parse and validate s (NUL-terminated). ERR_INVALID with a message naming
 * the bad input; ERR_UNSUPPORTED for a well-formed but unknown algorithm. */
int oci_digest_parse(struct oci_digest *out, const char *s, struct err *err);

/* Same, for a length-delimited string (no NUL needed). */
int oci_digest_parsen(struct oci_digest *out, const char *s, size_t n,
		      struct err *err);

/* "sha256" / "sha512" */
const char *oci_digest_alg_name(enum oci_digest_alg alg);
/* The hex part of d->str. */
const char *oci_digest_hex(const struct oci_digest *d);
int oci_digest_equal(const struct oci_digest *a, const struct oci_digest *b);

/* Streaming hasher. _init allocates an EVP context; _release frees it. */
struct oci_hasher {
	enum oci_digest_alg alg;
	void *ctx;  /* EVP_MD_CTX */
	uint64_t n; /* bytes hashed so far */
};

int oci_hasher_init(struct oci_hasher *h, enum oci_digest_alg alg);
void oci_hasher_update(struct oci_hasher *h, const void *p, size_t n);
/* Writes the digest of everything hashed to out; the hasher is then spent. */
void oci_hasher_final(struct oci_hasher *h, struct oci_digest *out);
void oci_hasher_release(struct oci_hasher *h);

/* One-shot digest of a buffer. */
void oci_digest_of(struct oci_digest *out, enum oci_digest_alg alg,
		   const void *p, size_t n);

#endif
