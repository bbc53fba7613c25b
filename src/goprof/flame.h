/* flame.h -- writes a profile as a self-contained HTML flame graph (d3-flame-graph).
 * Context: goprof
 *
 * The page is the template "flame.html" from an assets directory with its markers replaced:
 *   @FILE:<name>@  the content of <name> in the same directory (d3.min.js, d3-flamegraph.min.js,
 *                  d3-flamegraph.css: the npm packages' dist files, installed with goprof), so
 *                  the page needs nothing but itself and opens offline;
 *   @TITLE@        the title, HTML-escaped;
 *   @DATA@         the call tree as a JavaScript object literal: {"name", "kind", "value",
 *                  "children"} from the root "all" to the leaves, value = samples/count of the
 *                  frame and everything it called (inline frames expanded, "[libgoprof] ..."
 *                  frames kept), kind = "go", "runtime", "native" (C/C++) or "libgoprof" (the
 *                  pseudo-frames, "[process: NAME]" and "all"), see frame_kind.h; the template
 *                  colours frames and draws the legend from it.
 */
#ifndef GP_FLAME_H
#define GP_FLAME_H

#include "lib/pprof/pprof.h"

/* Writes the page to fd (not closed). title: shown as the page's title and heading.
 * Returns 0 or -errno: -ENOENT (with a logged line naming the file) for a missing template or
 * asset, -EINVAL for an asset that would end its <script> element early. */
int flame_write_fd(const struct pprof *p, const char *assets_dir, const char *title, int fd);

/* The default title: "<program> (<N> samples)", program being the main mapping's basename. */
void flame_default_title(const struct pprof *p, char *buf, size_t n);

#endif
