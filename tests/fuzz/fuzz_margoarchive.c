/* libFuzzer target: the Margo component readers (chart.h, compose.h). The
 * first byte picks one: a chart archive, a Compose archive, a values.yaml,
 * a compose.yaml (with a fixed .env), or one interpolation. Must not crash
 * or leak; every image found is either a reference or has a problem, and
 * nothing is reported from an archive that was refused. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mirror/margo/chart.h"
#include "mirror/margo/compose.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct margo_images l;
	struct err err;
	const char *p;
	char *text;
	int rc = 0;

	if (!size)
		return 0;
	memset(&l, 0, sizeof(l));
	err_clear(&err);
	p = (const char *)data + 1;
	size--;
	text = malloc(size + 1);
	if (!text)
		return 0;
	memcpy(text, p, size);
	text[size] = '\0';
	switch (data[0] % 5) {
	case 0: rc = margo_chart_images(&l, p, size, &err); break;
	case 1: rc = margo_compose_images(&l, p, size, &err); break;
	case 2:
		rc = margo_values_images(&l, text, strlen(text), "values.yaml",
					 "1.0", NULL, &err);
		break;
	case 3:
		rc = margo_compose_file_images(
		    &l, text, strlen(text), "compose.yaml", "A=1\nB=x\n", &err);
		break;
	default: {
		char out[512], problem[128];

		if (margo_interpolate(out, sizeof(out), text, "A=1\nB=\n",
				      problem, sizeof(problem)) &&
		    !problem[0])
			abort();
		break;
	}
	}
	if (rc && l.n && data[0] % 5 < 2)
		abort();
	for (size_t i = 0; i < l.n; i++)
		if (!l.v[i].ref[0] == !l.v[i].problem[0])
			abort();
	margo_images_release(&l);
	free(text);
	return 0;
}
