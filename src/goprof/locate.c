/* locate.c -- finds libgoprof.so and the flame-graph assets (see locate.h).
 * Context: goprof
 */
#include "goprof/locate.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Set by the build (Makefile.am) from configure's directories. */
#ifndef GP_BINDIR
#define GP_BINDIR "/usr/local/bin"
#endif
#ifndef GP_LIBDIR
#define GP_LIBDIR "/usr/local/lib"
#endif
#ifndef GP_PKGDATADIR
#define GP_PKGDATADIR "/usr/local/share/libgoprof"
#endif

/* goprof's own directory, resolved. "" if /proc is not mounted. */
static void self_dir(char *dir, size_t n)
{
    char exe[PATH_MAX];
    dir[0] = 0;
    if (!realpath("/proc/self/exe", exe))
        return;
    char *slash = strrchr(exe, '/');
    if (slash)
        *slash = 0;
    snprintf(dir, n, "%s", exe);
}

/* The prefix that an installed goprof's directory has before the configured bindir: "" when
 * installed in place, the DESTDIR when staged. NULL when goprof does not sit in a bindir. */
static const char *install_root(const char *dir, char *buf, size_t n)
{
    size_t dl = strlen(dir), bl = strlen(GP_BINDIR);
    if (dl < bl || strcmp(dir + dl - bl, GP_BINDIR) != 0)
        return NULL;
    snprintf(buf, n, "%.*s", (int)(dl - bl), dir);
    return buf;
}

static int exists(const char *path)
{
    return access(path, R_OK) == 0;
}

static int locate(const char *env, const char *installed, const char *build_rel,
                  const char *probe, char *out, size_t n)
{
    const char *e = getenv(env);
    if (e && *e) {
        if (!realpath(e, out) || !exists(out)) {
            snprintf(out, n, "%s=%s does not exist", env, e);
            return -ENOENT;
        }
        return 0;
    }
    char dir[PATH_MAX], rootbuf[PATH_MAX], cand[3][PATH_MAX + 128];
    self_dir(dir, sizeof dir);
    const char *root = dir[0] ? install_root(dir, rootbuf, sizeof rootbuf) : NULL;
    size_t nc = 0;
    if (root)
        snprintf(cand[nc++], sizeof cand[0], "%s%s", root, installed);
    if (dir[0])
        snprintf(cand[nc++], sizeof cand[0], "%s/%s", dir, build_rel);
    snprintf(cand[nc++], sizeof cand[0], "%s", installed);
    for (size_t i = 0; i < nc; i++) {
        char path[sizeof cand[0] + 64];
        if ((size_t)snprintf(path, sizeof path, "%s%s", cand[i], probe) >= sizeof path)
            continue;
        if (exists(path)) {
            snprintf(out, n, "%s", cand[i]);
            return 0;
        }
    }
    int len = snprintf(out, n, "not found in");
    for (size_t i = 0; i < nc && len > 0 && (size_t)len < n; i++)
        len += snprintf(out + len, n - (size_t)len, " %s", cand[i]);
    if (len > 0 && (size_t)len < n)
        snprintf(out + len, n - (size_t)len, "; set %s", env);
    return -ENOENT;
}

int locate_library(char *out, size_t n)
{
    return locate("LIBGOPROF_PRELOAD", GP_LIBDIR "/libgoprof.so", ".libs/libgoprof.so", "",
                  out, n);
}

int locate_assets(char *out, size_t n)
{
    return locate("LIBGOPROF_FLAMEDIR", GP_PKGDATADIR, "flame", "/flame.html", out, n);
}
