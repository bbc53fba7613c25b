/* maps.c -- a process's mappings from /proc/PID/maps (see maps.h).
 * Context: collector
 *
 * Line format (proc(5)): "start-limit perms offset dev inode [path]"; the path is the rest
 * of the line after the inode column's padding and may contain spaces.
 */
#include "collector/maps.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/base/grow.h"

int maps_parse_line(const char *line, struct maps_entry *e)
{
    unsigned long long start, limit, offset, inode;
    char perms[8];
    unsigned dmaj, dmin;
    int pathpos = 0;
    if (sscanf(line, "%llx-%llx %7s %llx %x:%x %llu %n", &start, &limit, perms, &offset, &dmaj,
               &dmin, &inode, &pathpos) < 7)
        return 0;
    if (strlen(perms) < 4 || perms[2] != 'x' || limit <= start)
        return 0;
    const char *path = line + pathpos;
    size_t len = strcspn(path, "\n");
    e->path = strndup(path, len);
    if (!e->path)
        return -ENOMEM;
    e->start = start;
    e->limit = limit;
    e->offset = offset;
    e->inode = inode;
    return 1;
}

void maps_free(struct maps_entry *v, size_t count)
{
    for (size_t i = 0; v && i < count; i++)
        free(v[i].path);
    free(v);
}

int maps_each_line(pid_t pid, int (*fn)(const char *line, void *ctx), void *ctx)
{
    char name[64];
    snprintf(name, sizeof name, "/proc/%d/maps", (int)pid);
    FILE *fp = fopen(name, "re");
    if (!fp)
        return -errno;
    char *line = NULL;
    size_t linecap = 0;
    int r = 0;
    while (r == 0 && getline(&line, &linecap, fp) > 0)
        r = fn(line, ctx);
    if (r == 0 && ferror(fp))
        r = -EIO;
    free(line);
    fclose(fp);
    return r;
}

struct exec_list {
    struct maps_entry *v;
    size_t n, cap;
};

/* Whether e continues prev: the next bytes of the same file, mapped right after it. */
static int continues(const struct maps_entry *prev, const struct maps_entry *e)
{
    return e->inode != 0 && e->inode == prev->inode && e->start == prev->limit &&
           e->offset == prev->offset + (prev->limit - prev->start) &&
           strcmp(e->path, prev->path) == 0;
}

/* An executable mapping, or more of the one before it: a segment whose pages were made
 * writable and back (a patch: libgoprof's own exit hook in Go's runtime.exit, a JIT's or a
 * hot-patcher's) is two or three lines of maps, their flags no longer equal, but one mapping
 * of the file, and pprof wants it as one: a tool that symbolizes a part of a segment as if it
 * were the segment gets every name in it wrong (go tool pprof did, for a Go executable whose
 * segment had one location it could not name). */
static int add_exec(const char *line, void *ctx)
{
    struct exec_list *l = ctx;
    if (gp_grow((void **)&l->v, &l->cap, l->n + 1, sizeof *l->v, 32) != 0)
        return -ENOMEM;
    struct maps_entry *e = &l->v[l->n];
    int r = maps_parse_line(line, e);
    if (r <= 0)
        return r;
    if (l->n > 0 && continues(&l->v[l->n - 1], e)) {
        l->v[l->n - 1].limit = e->limit;
        free(e->path);
        return 0;
    }
    l->n++;
    return 0;
}

int maps_read(pid_t pid, struct maps_entry **out, size_t *count)
{
    struct exec_list l = { NULL, 0, 0 };
    int err = maps_each_line(pid, add_exec, &l);
    if (err) {
        maps_free(l.v, l.n);
        return err;
    }
    *out = l.v;
    *count = l.n;
    return 0;
}
