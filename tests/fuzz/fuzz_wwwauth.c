/* libFuzzer target: WWW-Authenticate challenge parsing. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "registry/auth.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct reg_challenge c[REG_CHALLENGE_MAX];
	struct err e;
	size_t n = 0;
	char *s = malloc(size + 1);

	if (!s)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	if (reg_challenge_parse(c, REG_CHALLENGE_MAX, &n, s, &e) == 0) {
		for (size_t i = 0; i < n; i++) {
			/* every field stays NUL-terminated within its array */
			if (strnlen(c[i].realm, sizeof(c[i].realm)) == sizeof(c[i].realm) ||
			    strnlen(c[i].scope, sizeof(c[i].scope)) == sizeof(c[i].scope))
				abort();
		}
	}
	free(s);
	return 0;
}
