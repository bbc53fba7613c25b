/* gzwriter.h -- a protobuf-c output buffer that gzips into an fd, and atomic file creation.
 * Context: library
 *
 * protobuf-c's pack_to_buffer() calls append() some 40 times per packed sample with a few bytes
 * each; calling deflate() that often costs about 30 % more than feeding it 64 KiB at a time, so
 * appends are staged first (docs/pprof-format.md §2.4). The stream is gzip (windowBits 15+16) at
 * level 1, like Go's gzip.BestSpeed; zlib writes mtime 0, so the same input gives the same bytes.
 *
 * append() cannot report failure, so the first error is kept (sticky) and later appends are
 * ignored; gzwriter_finish() returns it. Not thread-safe.
 */
#ifndef GP_GZWRITER_H
#define GP_GZWRITER_H

#include <protobuf-c/protobuf-c.h>

struct gzwriter;

/* Starts a gzip stream written to fd (not closed by this module).
 * Returns NULL with errno = ENOMEM (or EINVAL for fd < 0). */
struct gzwriter *gzwriter_new(int fd);

/* The buffer to pass to *_pack_to_buffer(). Valid until gzwriter_free(). */
ProtobufCBuffer *gzwriter_buffer(struct gzwriter *w);

/* Compresses whatever is staged, ends the gzip stream and writes it all out.
 * Returns 0, or the first error seen since gzwriter_new(): -errno from write(2), -ENOMEM or -EIO
 * for zlib failures. Does not fsync. */
int gzwriter_finish(struct gzwriter *w);

/* Releases the stream; accepts NULL. Does not close the fd. */
void gzwriter_free(struct gzwriter *w);

/* Producer of the uncompressed bytes: writes a message stream into out (usually by one or more
 * *_pack_to_buffer() calls). Returns 0 or -errno; an error aborts the whole write. */
typedef int (*gzwriter_emit_fn)(void *arg, ProtobufCBuffer *out);

/* gzwriter_new + emit + gzwriter_finish on an open fd. Returns 0 or -errno. On error the fd may
 * hold a truncated stream. */
int gzwriter_stream_fd(int fd, gzwriter_emit_fn emit, void *arg);

/* Writes the gzip stream to "<path>.tmp.<pid>" in path's directory, fsyncs it and renames it onto
 * path, so readers see either the old file or the complete new one. On any error the temporary
 * file is unlinked, path is untouched, a line is logged and -errno is returned. */
int gzwriter_write_file(const char *path, gzwriter_emit_fn emit, void *arg);

#endif
