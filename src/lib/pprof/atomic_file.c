/* atomic_file.c -- creates a file atomically: temporary name, fsync, rename (see atomic_file.h).
 * Context: library
 *
 * The data is written into an unnamed O_TMPFILE where the file system allows, and only given
 * the temporary name once complete, right before the rename.
 */
#include "lib/pprof/atomic_file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/base/log.h"

/* "<path>.tmp.<pid>": same directory, so rename(2) is atomic; the pid keeps two processes
 * writing the same path (e.g. after fork) from sharing a temporary file. */
static char *tmp_path_for(const char *path)
{
    size_t len = strlen(path) + sizeof ".tmp." + 3 * sizeof(pid_t);
    char *tmp = malloc(len);
    if (tmp)
        snprintf(tmp, len, "%s.tmp.%ld", path, (long)getpid());
    return tmp;
}

static int open_tmp(const char *tmp)
{
    /* O_EXCL refuses a planted symlink; a stale file of ours (pid reuse after a crash) is
     * replaced once. 0666 & umask, as Go's os.Create. */
    int flags = O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC;
    int fd = open(tmp, flags, 0666);
    if (fd < 0 && errno == EEXIST && unlink(tmp) == 0)
        fd = open(tmp, flags, 0666);
    return fd < 0 ? -errno : fd;
}

/* An unnamed file in path's directory (O_TMPFILE): a writer killed while filling it (the
 * collector dies with PID 1 of a container) leaves nothing behind. -errno where the file
 * system cannot (then the named temporary file is used). */
static int open_unnamed(const char *path)
{
    char dir[4096];
    const char *slash = strrchr(path, '/');
    size_t len = slash ? (size_t)(slash - path) : 0;
    if (len >= sizeof dir)
        return -ENAMETOOLONG;
    if (len == 0)
        snprintf(dir, sizeof dir, "%s", slash ? "/" : ".");
    else
        snprintf(dir, sizeof dir, "%.*s", (int)len, path);
    int fd = open(dir, O_TMPFILE | O_WRONLY | O_CLOEXEC, 0666);
    return fd < 0 ? -errno : fd;
}

/* Gives the unnamed file fd the temporary name: from here to the rename, two system calls,
 * is the only time a temporary file is visible. */
static int name_unnamed(int fd, const char *tmp)
{
    char proc[64];
    snprintf(proc, sizeof proc, "/proc/self/fd/%d", fd);
    if (linkat(AT_FDCWD, proc, AT_FDCWD, tmp, AT_SYMLINK_FOLLOW) == 0)
        return 0;
    if (errno != EEXIST)
        return -errno;
    unlink(tmp);   /* a stale file of ours (pid reuse after a crash) */
    return linkat(AT_FDCWD, proc, AT_FDCWD, tmp, AT_SYMLINK_FOLLOW) == 0 ? 0 : -errno;
}

int atomic_file_write(const char *path, atomic_file_fill_fn fill, void *arg)
{
    const char *step = "create";
    char *tmp = tmp_path_for(path);
    if (!tmp) {
        gp_log("output", "write %s: %s", path, strerror(ENOMEM));
        return -ENOMEM;
    }
    int err = 0, fd = open_unnamed(path), unnamed = fd >= 0;
    if (!unnamed)
        fd = open_tmp(tmp);
    if (fd < 0) {
        err = fd;
        goto err_out;
    }
    step = "write";
    err = fill(arg, fd);
    if (!err) {
        step = "fsync";
        if (fsync(fd) != 0)
            err = -errno;
    }
    if (!err && unnamed) {
        step = "link";
        err = name_unnamed(fd, tmp);
        if (err) {   /* no /proc, say: nothing was named, nothing to remove */
            close(fd);
            goto err_out;
        }
    }
    if (close(fd) != 0 && !err) {   /* NFS may report write errors only at close */
        step = "close";
        err = -errno;
    }
    if (err && unnamed && step[0] != 'c')
        goto err_out;   /* still unnamed: closing it removed it */
    if (err)
        goto err_unlink;
    step = "rename";
    if (rename(tmp, path) != 0) {
        err = -errno;
        goto err_unlink;
    }
    free(tmp);
    return 0;

err_unlink:
    unlink(tmp);
err_out:
    gp_log("output", "%s %s: %s", step, step[0] == 'r' ? path : tmp, strerror(-err));
    free(tmp);
    return err;
}
