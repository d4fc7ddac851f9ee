/* Platforms ("os/arch[/variant]") and matching, with the usual
 * normalisations: aarch64 = arm64, x86_64 / x86-64 = amd64, i386/i686 = 386,
 * armhf = arm/v7, armel = arm/v6; "arm" without variant means v7; "arm64"
 * without variant means v8 (and variant v8 matches none); os and arch are
 * lowercased. */
#ifndef OCI_PLATFORM_H
#define OCI_PLATFORM_H

#include <stddef.h>

#include "oci/err.h"

struct oci_platform {
	char os[32];
	char arch[32];
	char variant[16];    /* normalised; "" when none */
	char os_version[64]; /* from descriptors only, never matched on */
};

/* Parse "linux/arm64/v8", "linux/amd64". os and arch are required. */
int oci_platform_parse(struct oci_platform *out, const char *s,
		       struct err *err);

/* Normalise in place (used on values read from indexes too). */
void oci_platform_normalize(struct oci_platform *p);

/* 1 when `have` (from an index) satisfies `want` (from the user). Both
 * normalised. An empty variant in want matches the arch's default variant
 * and an absent variant in have. */
int oci_platform_match(const struct oci_platform *want,
		       const struct oci_platform *have);

/* "linux/arm/v7" */
void oci_platform_format(const struct oci_platform *p, char *dst, size_t cap);

/* Parse a comma-separated list ("linux/amd64,linux/arm64") into a newly
 * allocated array; *n_out gets its length. free() the array. */
int oci_platform_parse_list(struct oci_platform **out, size_t *n_out,
			    const char *s, struct err *err);

#endif
