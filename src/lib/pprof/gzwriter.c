/* gzwriter.c -- a protobuf-c output buffer that gzips into an fd, and atomic file creation.
 * Context: library
 */
#include "lib/pprof/gzwriter.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "lib/pprof/atomic_file.h"

/* 64 KiB staging: at ~40 appends of a few bytes per sample, one deflate() call per ~1500
 * samples; the output buffer is the same size so each deflate() round is one write(2). */
#define GZ_STAGE_SIZE (64 * 1024)
#define GZ_OUT_SIZE (64 * 1024)
/* Level 1 (Go's BestSpeed): deflate dominates write time (~30 ns/byte at level 1). */
#define GZ_LEVEL 1
/* 15 = 32 KiB window, +16 = gzip wrapper instead of zlib's. */
#define GZ_WINDOW_BITS (15 + 16)
#define GZ_MEM_LEVEL 8
/* zlib's avail_in is a uInt; feed huge appends in pieces no larger than this. */
#define GZ_MAX_FEED (1u << 30)

struct gzwriter {
    ProtobufCBuffer base;       /* first: protobuf-c hands us &base */
    z_stream zs;
    int fd;
    int err;                    /* first error, 0 or -errno; sticky */
    size_t staged;
    unsigned char stage[GZ_STAGE_SIZE];
    unsigned char out[GZ_OUT_SIZE];
};

static int write_all(int fd, const unsigned char *buf, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, buf, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        if (w == 0)             /* would loop forever; not expected for regular files or pipes */
            return -EIO;
        buf += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Runs deflate over in[0..n) and writes all output produced. With Z_FINISH, n is 0 and the loop
 * runs until zlib reports the end of the stream. */
static int gz_deflate(struct gzwriter *w, const unsigned char *in, size_t n, int flush)
{
    do {
        size_t piece = n < GZ_MAX_FEED ? n : GZ_MAX_FEED;
        w->zs.next_in = (Bytef *)in;    /* zlib never writes through next_in */
        w->zs.avail_in = (uInt)piece;
        int rc;
        do {
            w->zs.next_out = w->out;
            w->zs.avail_out = sizeof w->out;
            rc = deflate(&w->zs, flush);
            if (rc == Z_STREAM_ERROR)
                return -EIO;
            size_t have = sizeof w->out - w->zs.avail_out;
            if (have) {
                int err = write_all(w->fd, w->out, have);
                if (err)
                    return err;
            }
        } while (w->zs.avail_out == 0 || (flush == Z_FINISH && rc != Z_STREAM_END));
        in += piece;
        n -= piece;
    } while (n > 0);
    return 0;
}

static int gz_flush_stage(struct gzwriter *w)
{
    int err = w->staged ? gz_deflate(w, w->stage, w->staged, Z_NO_FLUSH) : 0;
    w->staged = 0;
    return err;
}

static void gz_append(ProtobufCBuffer *b, size_t len, const uint8_t *data)
{
    struct gzwriter *w = (struct gzwriter *)b;
    if (w->err)
        return;
    if (w->staged + len > sizeof w->stage) {
        w->err = gz_flush_stage(w);
        if (w->err)
            return;
    }
    if (len >= sizeof w->stage) {   /* a large string: staging would only add a copy */
        w->err = gz_deflate(w, data, len, Z_NO_FLUSH);
        return;
    }
    memcpy(w->stage + w->staged, data, len);
    w->staged += len;
}

struct gzwriter *gzwriter_new(int fd)
{
    if (fd < 0)
        return errno = EINVAL, NULL;
    struct gzwriter *w = malloc(sizeof *w);
    if (!w)
        return errno = ENOMEM, NULL;
    memset(&w->base, 0, sizeof w->base);
    memset(&w->zs, 0, sizeof w->zs);
    w->base.append = gz_append;
    w->fd = fd;
    w->err = 0;
    w->staged = 0;
    if (deflateInit2(&w->zs, GZ_LEVEL, Z_DEFLATED, GZ_WINDOW_BITS, GZ_MEM_LEVEL,
                     Z_DEFAULT_STRATEGY) != Z_OK) {
        free(w);
        return errno = ENOMEM, NULL;    /* Z_MEM_ERROR; the parameters are constants */
    }
    return w;
}

ProtobufCBuffer *gzwriter_buffer(struct gzwriter *w)
{
    return &w->base;
}

int gzwriter_finish(struct gzwriter *w)
{
    if (!w->err)
        w->err = gz_flush_stage(w);
    if (!w->err)
        w->err = gz_deflate(w, NULL, 0, Z_FINISH);
    return w->err;
}

void gzwriter_free(struct gzwriter *w)
{
    if (!w)
        return;
    deflateEnd(&w->zs);
    free(w);
}

int gzwriter_stream_fd(int fd, gzwriter_emit_fn emit, void *arg)
{
    struct gzwriter *w = gzwriter_new(fd);
    if (!w)
        return -errno;
    int err = emit(arg, gzwriter_buffer(w));
    int zerr = gzwriter_finish(w);   /* an emit error wins: it is the cause */
    gzwriter_free(w);
    return err ? err : zerr;
}

struct stream_arg {
    gzwriter_emit_fn emit;
    void *arg;
};

static int stream_fill(void *arg, int fd)
{
    const struct stream_arg *a = arg;
    return gzwriter_stream_fd(fd, a->emit, a->arg);
}

int gzwriter_write_file(const char *path, gzwriter_emit_fn emit, void *arg)
{
    struct stream_arg a = { emit, arg };
    return atomic_file_write(path, stream_fill, &a);
}
