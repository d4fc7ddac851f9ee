/* Names that collided in the old open-addressed tables (FNV-1a 64, slot =
 * hash & (cap - 1)): n distinct names "PREFIX<number><3 letters>" whose
 * FNV-1a 64 agree in the low FNVC_BITS bits, so every one of them fell in
 * the same slot chain of a table of up to 2^FNVC_BITS slots. Built
 * backwards: the states that three letters take to the target are put in
 * a table once, then each numbered prefix is hashed and looked up. */
#ifndef TESTS_OCI_FNVCOLLIDE_H
#define TESTS_OCI_FNVCOLLIDE_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FNVC_BITS 18
#define FNVC_NAME_MAX 24

static uint64_t fnvc_step(uint64_t h, unsigned char c)
{
	return (h ^ c) * 1099511628211ULL;
}

/* The FNV-1a 64 of s, as the old tables computed it. */
static inline uint64_t fnvc_hash(const char *s)
{
	uint64_t h = 1469598103934665603ULL;

	for (; *s; s++)
		h = fnvc_step(h, (unsigned char)*s);
	return h;
}

/* names: n * FNVC_NAME_MAX bytes, name i at names + i * FNVC_NAME_MAX. */
static inline void fnvc_names(char *names, size_t n, const char *prefix)
{
	const uint64_t mask = (1ULL << FNVC_BITS) - 1, target = 0x5a5a5 & mask;
	uint64_t pinv = 1099511628211ULL;
	uint32_t *back = calloc(mask + 1, sizeof(*back));
	size_t got = 0;

	if (!back)
		abort();
	for (int i = 0; i < 6; i++) /* Newton: the prime's inverse mod 2^64 */
		pinv *= 2 - 1099511628211ULL * pinv;
	for (unsigned a = 'a'; a <= 'z'; a++)
		for (unsigned b = 'a'; b <= 'z'; b++)
			for (unsigned c = 'a'; c <= 'z'; c++) {
				uint64_t s = ((((target * pinv) ^ c) * pinv ^
					       b) * pinv) ^ a;

				back[s & mask] = a << 16 | b << 8 | c;
			}
	for (unsigned long k = 0; got < n; k++) {
		char p[FNVC_NAME_MAX];
		uint32_t t;

		snprintf(p, sizeof(p), "%s%lu", prefix, k);
		if (!(t = back[fnvc_hash(p) & mask]))
			continue;
		snprintf(names + got * FNVC_NAME_MAX, FNVC_NAME_MAX, "%s%c%c%c",
			 p, t >> 16, (t >> 8) & 0xff, t & 0xff);
		got++;
	}
	free(back);
}

#endif
