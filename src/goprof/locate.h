/* locate.h -- finds the files installed with goprof: libgoprof.so and the flame-graph assets.
 * Context: goprof
 *
 * goprof looks next to itself first, so that an installed tree works wherever it is (also
 * under make install DESTDIR=...), and the build tree works before installing:
 *   1. the environment variable (LIBGOPROF_PRELOAD, LIBGOPROF_FLAMEDIR), if set;
 *   2. when goprof's own directory ends with the configured bindir, the same prefix followed
 *      by the configured libdir or pkgdatadir (the installed layout, DESTDIR or not);
 *   3. the build tree: .libs/libgoprof.so and flame/ next to the goprof binary;
 *   4. the configured libdir or pkgdatadir as such.
 * The names are not GOPROF_* on purpose: the library warns about GOPROF_* names it does not
 * know, and the command inherits goprof's environment.
 */
#ifndef GP_LOCATE_H
#define GP_LOCATE_H

#include <stddef.h>

/* Writes the absolute path of libgoprof.so into out. Returns 0, or -ENOENT when no candidate
 * exists (out then holds a one-line description of where goprof looked). */
int locate_library(char *out, size_t n);

/* The same for the directory holding flame.html and the d3 files. */
int locate_assets(char *out, size_t n);

#endif
