/* outpath.c -- expands the output-path template (see outpath.h).
 * Context: library
 */
#include "lib/outname/outpath.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int outpath_validate(const char *tmpl)
{
    if (!tmpl || !*tmpl)
        return -EINVAL;
    for (const char *c = tmpl; *c; c++) {
        if (*c != '%')
            continue;
        c++;
        if (*c != 'p' && *c != 't' && *c != 'e' && *c != 'n' && *c != '%')
            return -EINVAL;     /* also the trailing '%' (*c == '\0') */
    }
    return 0;
}

int outpath_uses(const char *tmpl, char c)
{
    for (const char *p = tmpl; p && *p; p++) {
        if (*p != '%')
            continue;
        if (!*++p)
            break;
        if (*p == c && c != '%')
            return 1;
    }
    return 0;
}

int outpath_append_literal(char *tmpl, size_t tmplsz, const char *s)
{
    size_t len = strlen(tmpl);
    int err = 0;
    for (; *s; s++) {
        if (len + 3 > tmplsz) {   /* room for a doubled '%' and the NUL */
            err = -ENAMETOOLONG;
            break;
        }
        if (*s == '%')
            tmpl[len++] = '%';
        tmpl[len++] = *s;
    }
    tmpl[len] = 0;
    return err;
}

/* Appends s to out at *len, always keeping out NUL-terminated. Returns 0 or -ENAMETOOLONG. */
static int out_put(char *out, size_t outsz, size_t *len, const char *s, size_t n)
{
    if (*len + n >= outsz) {
        size_t fit = outsz - 1 - *len;
        memcpy(out + *len, s, fit);
        *len += fit;
        out[*len] = '\0';
        return -ENAMETOOLONG;
    }
    memcpy(out + *len, s, n);
    *len += n;
    out[*len] = '\0';
    return 0;
}

static const char *base_name(const char *path)
{
    const char *slash = strrchr(path, '/');
    return slash ? slash + 1 : path;
}

/* The basename of prog, else of /proc/self/exe, else "unknown"; exe is the caller's buffer. */
static const char *program_name(const char *prog, char *exe, size_t exesz)
{
    if (!prog) {
        ssize_t n = readlink("/proc/self/exe", exe, exesz - 1);
        if (n > 0) {
            exe[n] = '\0';
            prog = exe;
        }
    }
    const char *name = prog ? base_name(prog) : "";
    return *name ? name : "unknown";
}

int outpath_expand(const char *tmpl, pid_t pid, time_t t, const char *prog, unsigned seq,
                   char *out, size_t outsz)
{
    int err = outpath_validate(tmpl);
    if (err)
        return err;
    if (!out || outsz == 0)
        return -ENAMETOOLONG;
    out[0] = '\0';
    char exe[PATH_MAX];
    char num[32];
    size_t len = 0;
    for (const char *c = tmpl; *c && !err; c++) {
        if (*c != '%') {
            err = out_put(out, outsz, &len, c, 1);
            continue;
        }
        const char *s = num;
        switch (*++c) {
        case 'p':
            snprintf(num, sizeof num, "%ld", (long)pid);
            break;
        case 't': {
            struct tm tm;
            if (!gmtime_r(&t, &tm) || strftime(num, sizeof num, "%Y%m%dT%H%M%S", &tm) == 0)
                return -EINVAL;
            break;
        }
        case 'e':
            s = program_name(prog, exe, sizeof exe);
            break;
        case 'n':
            snprintf(num, sizeof num, "%u", seq);
            break;
        default:                /* '%': validated above */
            s = "%";
            break;
        }
        err = out_put(out, outsz, &len, s, strlen(s));
    }
    return err;
}
