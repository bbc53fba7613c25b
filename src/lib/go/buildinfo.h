/* buildinfo.h -- Go toolchain version from the .go.buildinfo blob of an executable.
 * Context: library
 */
#ifndef GP_GO_BUILDINFO_H
#define GP_GO_BUILDINFO_H

#include <stddef.h>

struct elf_file;

/* Copies the version string ("go1.26.10", possibly with " X:..." suffixes) into buf (n bytes,
 * truncated and NUL-terminated) and parses goMAJOR.MINOR into *major and *minor (0 and 0 when the
 * string is not of that form, e.g. "devel ..."). major/minor may be NULL.
 * Returns 0; -ENOENT when the file has no Go build info (not a Go binary); -ENOTSUP for the
 * pre-1.18 pointer format; -EINVAL when the blob is corrupt. */
int go_buildinfo_version(const struct elf_file *f, char *buf, size_t n, int *major, int *minor);

/* Parses "goMAJOR.MINOR[...]" : 0 or -EINVAL. */
int go_version_parse(const char *s, int *major, int *minor);

#endif
