/* atomic_file.c -- creates a file atomically: temporary name, fsync, rename (see atomic_file.h).
 * Context: library
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

int atomic_file_write(const char *path, atomic_file_fill_fn fill, void *arg)
{
    const char *step = "create";
    char *tmp = tmp_path_for(path);
    if (!tmp) {
        gp_log("output", "write %s: %s", path, strerror(ENOMEM));
        return -ENOMEM;
    }
    int err = 0, fd = open_tmp(tmp);
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
    if (close(fd) != 0 && !err) {   /* NFS may report write errors only at close */
        step = "close";
        err = -errno;
    }
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
