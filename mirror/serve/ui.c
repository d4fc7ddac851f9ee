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
	respond_page_headers(resp); /* CSP, nosniff, no referrer */
	r->bytes_out += f->len;
	return respond_send(r, c, 200, resp);
}
