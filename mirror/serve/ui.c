/* The embedded web UI (see ui.h). */
#include "mirror/serve/ui.h"

#include <string.h>

#include "mirror/serve/respond.h"

struct ui_file {
	const char *path;
	const char *ctype;
	const unsigned char *data;
	size_t len;
};

/* ui_files[]: written by scripts/embed_ui.py into the build folder */
#include <ui_assets.inc>

/* the same policy as every /ocimirror/v1/ answer: only this server's own
 * scripts, styles and images (and data: images), no plugins, no framing */
#define UI_CSP                                                                 \
	"default-src 'self'; img-src 'self' data:; object-src 'none'; "        \
	"base-uri 'none'; frame-ancestors 'none'"

static const struct ui_file *ui_find(const char *path)
{
	for (size_t i = 0; i < sizeof(ui_files) / sizeof(ui_files[0]); i++)
		if (!strcmp(path, ui_files[i].path))
			return &ui_files[i];
	return NULL;
}

int ui_has(const char *path)
{
	return ui_find(path) != NULL;
}

enum MHD_Result ui_serve(struct req *r, struct MHD_Connection *c)
{
	const struct ui_file *f = ui_find(r->url);
	struct MHD_Response *resp;

	if (!f)
		return respond_error(r, c, 404, "NAME_UNKNOWN",
				     "no such page: %.200s", r->url);
	resp = MHD_create_response_from_buffer(f->len, (void *)f->data,
					       MHD_RESPMEM_PERSISTENT);
	if (!resp)
		return MHD_NO;
	MHD_add_response_header(resp, "Content-Type", f->ctype);
	MHD_add_response_header(resp, "X-Frame-Options", "DENY");
	MHD_add_response_header(resp, "Cache-Control", "no-cache");
	MHD_add_response_header(resp, "Content-Security-Policy", UI_CSP);
	MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
	MHD_add_response_header(resp, "Referrer-Policy", "no-referrer");
	r->bytes_out += f->len;
	return respond_send(r, c, 200, resp);
}
