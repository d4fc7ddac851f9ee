/* libFuzzer target: margo_device_parse on arbitrary bytes. A failure is
 * ERR_INVALID or ERR_TOO_LARGE with a one-line message and at least one
 * listed problem; a manifest that parses is written back as JSON, and that
 * JSON parses to the same document (margo_device_json is its own fixed
 * point), whose summary names its id. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mirror/margo/device.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct margo_device d, again;
	json_t *probs = NULL, *a, *b, *s;
	struct err err;
	char *text;
	int rc;

	rc = margo_device_parse(&d, &probs, (const char *)data, size, "f",
				&err);
	if (rc) {
		if ((rc != ERR_INVALID && rc != ERR_TOO_LARGE) ||
		    strchr(err.msg, '\n'))
			abort();
		if (rc == ERR_INVALID && !json_array_size(probs))
			abort();
		json_decref(probs);
		return 0;
	}
	if (json_array_size(probs))
		abort();
	json_decref(probs);
	a = margo_device_json(&d);
	if (!a)
		abort();
	text = json_dumps(a, 0);
	if (!text ||
	    margo_device_parse(&again, NULL, text, strlen(text), NULL, &err))
		abort();
	b = margo_device_json(&again);
	if (!json_equal(a, b))
		abort();
	s = margo_device_summary(&d, "n");
	if (!s || strcmp(json_string_value(json_object_get(s, "id")), d.id))
		abort();
	json_decref(s);
	json_decref(a);
	json_decref(b);
	free(text);
	margo_device_release(&again);
	margo_device_release(&d);
	return 0;
}
