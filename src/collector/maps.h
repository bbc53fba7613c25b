/* maps.h -- a process's mappings from /proc/PID/maps: its executable ones (the symbolizer),
 * and each line (the collector's exit-or-exec test).
 * Context: collector
 */
#ifndef GP_MAPS_H
#define GP_MAPS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct maps_entry {
    uint64_t start, limit;      /* [start, limit) */
    uint64_t offset;            /* file offset of start */
    uint64_t inode;             /* 0 for anonymous and special mappings */
    char *path;                 /* malloc'd; "" when anonymous, "[vdso]" etc. for specials */
};

/* Calls fn(line, ctx) for each line of /proc/PID/maps until fn returns nonzero. Returns what fn
 * returned, 0 after the last line (a process without an address space, such as a zombie, has
 * none), or -errno (-ENOENT: no such process). */
int maps_each_line(pid_t pid, int (*fn)(const char *line, void *ctx), void *ctx);

/* Reads the executable ("x" permission) mappings of pid into a malloc'd array, lines that
 * continue the one before them (the same file's next bytes, mapped next) as one mapping.
 * 0 or -errno; on success free with maps_free(). */
int maps_read(pid_t pid, struct maps_entry **out, size_t *count);
void maps_free(struct maps_entry *v, size_t count);

/* Parses one maps line; 1 = executable mapping parsed (e->path malloc'd), 0 = skipped,
 * -ENOMEM. Exposed for tests. */
int maps_parse_line(const char *line, struct maps_entry *e);

#endif
