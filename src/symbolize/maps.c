/* maps.c -- executable mappings of a process from /proc/PID/maps.
 * Context: collector
 *
 * Line format (proc(5)): "start-limit perms offset dev inode [path]"; the path is the rest
 * of the line after the inode column's padding and may contain spaces.
 */
#include "symbolize/maps.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

int maps_read(pid_t pid, struct maps_entry **out, size_t *count)
{
    char name[64];
    snprintf(name, sizeof name, "/proc/%d/maps", (int)pid);
    FILE *fp = fopen(name, "re");
    if (!fp)
        return -errno;
    struct maps_entry *v = NULL;
    size_t n = 0, cap = 0;
    char *line = NULL;
    size_t linecap = 0;
    int err = 0;
    while (getline(&line, &linecap, fp) > 0) {
        if (n == cap) {
            size_t ncap = cap ? 2 * cap : 32;
            struct maps_entry *nv = realloc(v, ncap * sizeof *nv);
            if (!nv) {
                err = -ENOMEM;
                break;
            }
            v = nv;
            cap = ncap;
        }
        int r = maps_parse_line(line, &v[n]);
        if (r < 0) {
            err = r;
            break;
        }
        n += (size_t)r;
    }
    if (!err && ferror(fp))
        err = -EIO;
    free(line);
    fclose(fp);
    if (err) {
        maps_free(v, n);
        return err;
    }
    *out = v;
    *count = n;
    return 0;
}
