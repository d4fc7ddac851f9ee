/* The web UI: the catalog page and its script and style sheet, embedded
 * in the binary at build time (ui/ in the source tree, turned into C
 * arrays by scripts/embed_ui.py). */
#ifndef MIRROR_SERVE_UI_H
#define MIRROR_SERVE_UI_H

#include "mirror/serve/internal.h"

/* 1 when path ("/", "/ui/app.js", ...) is one of the embedded files. */
int ui_has(const char *path);
/* RT_UI: answer the embedded file at r->url with its content type, a
 * Content-Security-Policy allowing only this origin (no inline script or
 * style), nosniff, no referrer and no framing; 404 for any other path. */
enum MHD_Result ui_serve(struct req *r, struct MHD_Connection *c);

#endif
