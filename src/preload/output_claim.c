/* output_claim.c -- one writer per output name, across processes (see output_claim.h).
 * Context: init
 */
#include "preload/output_claim.h"

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "output/outpath.h"

#define MAX_TRIES 99

/* FNV-1a: names are paths, a 64-bit hash keeps the socket name short and fixed-size. */
static uint64_t fnv1a(const char *s)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 0x100000001b3ull;
    }
    return h;
}

/* Binds the claim for template tmpl: the descriptor, or -errno (-EADDRINUSE: claimed). */
static int try_claim(const char *tmpl, pid_t pid, const char *prog)
{
    char key[4096];
    int r = outpath_expand(tmpl, pid, 0, prog, 0, key, sizeof key);
    if (r)
        return r;
    struct sockaddr_un a;
    memset(&a, 0, sizeof a);
    a.sun_family = AF_UNIX;
    /* sun_path[0] = 0: the abstract namespace, no file. */
    int len = snprintf(a.sun_path + 1, sizeof a.sun_path - 1, "libgoprof-out-%016llx",
                       (unsigned long long)fnv1a(key));
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    if (bind(fd, (struct sockaddr *)&a,
             (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + (size_t)len)) != 0) {
        int err = -errno;
        close(fd);
        return err;
    }
    return fd;
}

int output_claim(char *tmpl, size_t tsz, pid_t pid, const char *prog)
{
    int fd = try_claim(tmpl, pid, prog);
    if (fd != -EADDRINUSE)
        return fd;
    if (!outpath_uses(tmpl, 'p')) {
        if (strlen(tmpl) + sizeof ".%p" > tsz)
            return -ENAMETOOLONG;
        strcat(tmpl, ".%p");
        if ((fd = try_claim(tmpl, pid, prog)) != -EADDRINUSE)
            return fd;
    }
    size_t base = strlen(tmpl);
    for (int k = 2; k <= MAX_TRIES; k++) {
        if (base + sizeof ".99" > tsz)
            return -ENAMETOOLONG;
        snprintf(tmpl + base, tsz - base, ".%d", k);
        if ((fd = try_claim(tmpl, pid, prog)) != -EADDRINUSE)
            return fd;
    }
    tmpl[base] = 0;
    return -EADDRINUSE;
}
