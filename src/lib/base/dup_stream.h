/* dup_stream.h -- a stdio stream on a copy of a descriptor the caller keeps.
 * Context: library
 */
#ifndef GP_DUP_STREAM_H
#define GP_DUP_STREAM_H

#include <errno.h>
#include <stdio.h>
#include <unistd.h>

/* A FILE writing to a dup of fd, so that fclose leaves fd open. NULL with errno set on
 * failure (nothing is left open). */
static inline FILE *gp_dup_stream(int fd, const char *mode)
{
    int dupfd = dup(fd);
    FILE *f = dupfd >= 0 ? fdopen(dupfd, mode) : NULL;
    if (!f && dupfd >= 0) {
        int e = errno;
        close(dupfd);
        errno = e;
    }
    return f;
}

#endif
