#include "oci/digest.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>

static const EVP_MD *md_of(enum oci_digest_alg alg)
{
	return alg == OCI_SHA512 ? EVP_sha512() : EVP_sha256();
}

const char *oci_digest_alg_name(enum oci_digest_alg alg)
{
	return alg == OCI_SHA512 ? "sha512" : "sha256";
}

int oci_digest_parsen(struct oci_digest *out, const char *s, size_t n,
		      struct err *err)
{
	const char *colon = memchr(s, ':', n);
	size_t alen, hlen, want, i;
	char show[96];
	enum oci_digest_alg alg;

	err_shown(show, sizeof(show), s, n);
	if (!colon)
		return err_set(err, ERR_INVALID,
			       "invalid digest \"%s\": missing algorithm",
			       show);
	alen = (size_t)(colon - s);
	hlen = n - alen - 1;
	if (alen == 6 && !memcmp(s, "sha256", 6)) {
		alg = OCI_SHA256;
		want = 64;
	} else if (alen == 6 && !memcmp(s, "sha512", 6)) {
		alg = OCI_SHA512;
		want = 128;
	} else {
		for (i = 0; i < alen; i++) {
			char c = s[i];
			if (!((c >= 'a' && c <= 'z') ||
			      (c >= '0' && c <= '9') || c == '+' || c == '.' ||
			      c == '_' || c == '-'))
				return err_set(
				    err, ERR_INVALID,
				    "invalid digest \"%s\": bad algorithm",
				    show);
		}
		return err_set(err, alen ? ERR_UNSUPPORTED : ERR_INVALID,
			       "%s digest \"%s\"",
			       alen ? "unsupported algorithm in" : "invalid",
			       show);
	}
	if (hlen != want)
		return err_set(
		    err, ERR_INVALID,
		    "invalid digest \"%s\": %s needs %zu hex digits, got %zu",
		    show, oci_digest_alg_name(alg), want, hlen);
	for (i = 0; i < hlen; i++) {
		char c = colon[1 + i];
		if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
			return err_set(
			    err, ERR_INVALID,
			    "invalid digest \"%s\": not lowercase hex", show);
	}
	out->alg = alg;
	memcpy(out->str, s, n);
	out->str[n] = '\0';
	return 0;
}

int oci_digest_parse(struct oci_digest *out, const char *s, struct err *err)
{
	return oci_digest_parsen(out, s, strlen(s), err);
}

const char *oci_digest_hex(const struct oci_digest *d)
{
	return d->str + 7;
}

int oci_digest_equal(const struct oci_digest *a, const struct oci_digest *b)
{
	return a->alg == b->alg && !strcmp(a->str, b->str);
}

int oci_hasher_init(struct oci_hasher *h, enum oci_digest_alg alg)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();

	h->alg = alg;
	h->n = 0;
	h->ctx = ctx;
	if (!ctx || !EVP_DigestInit_ex(ctx, md_of(alg), NULL)) {
		EVP_MD_CTX_free(ctx);
		h->ctx = NULL;
		return ERR_FAIL;
	}
	return 0;
}

void oci_hasher_update(struct oci_hasher *h, const void *p, size_t n)
{
	if (!h->ctx) /* init failed (out of memory) */
		return;
	EVP_DigestUpdate(h->ctx, p, n);
	h->n += n;
}

void oci_hasher_final(struct oci_hasher *h, struct oci_digest *out)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int len = 0, i;
	int off;

	if (!h->ctx || !EVP_DigestFinal_ex(h->ctx, md, &len))
		len = 0;
	off = snprintf(out->str, sizeof(out->str),
		       "%s:", oci_digest_alg_name(h->alg));
	for (i = 0; i < len; i++)
		snprintf(out->str + off + 2 * i, 3, "%02x", md[i]);
	out->alg = h->alg;
}

void oci_hasher_release(struct oci_hasher *h)
{
	EVP_MD_CTX_free(h->ctx);
	h->ctx = NULL;
}

void oci_digest_of(struct oci_digest *out, enum oci_digest_alg alg,
		   const void *p, size_t n)
{
	struct oci_hasher h;

	oci_hasher_init(&h, alg);
	oci_hasher_update(&h, p, n);
	oci_hasher_final(&h, out);
	oci_hasher_release(&h);
}
