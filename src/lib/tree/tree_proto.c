/* tree_proto.c -- session rendezvous names and /proc helpers (see tree_proto.h).
 * Context: library
 */
#include "lib/tree/tree_proto.h"

#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

socklen_t tree_address(struct sockaddr_un *sa, uint64_t hash, uint64_t pidns, pid_t pid)
{
    memset(sa, 0, sizeof *sa);
    sa->sun_family = AF_UNIX;
    /* sun_path[0] = 0: the abstract namespace (no file, gone with the last descriptor) */
    int n = snprintf(sa->sun_path + 1, sizeof sa->sun_path - 1, "goprof/%016llx/%llu/%d",
                     (unsigned long long)hash, (unsigned long long)pidns, (int)pid);
    return (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + (size_t)n);
}

uint64_t tree_own_pidns(void)
{
    struct stat st;
    return stat("/proc/self/ns/pid", &st) == 0 ? (uint64_t)st.st_ino : 0;
}

int tree_read_proc(pid_t pid, const char *file, char *buf, size_t size)
{
    char path[48];
    snprintf(path, sizeof path, "/proc/%d/%s", (int)pid, file);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    ssize_t n = read(fd, buf, size - 1);
    close(fd);
    if (n <= 0)
        return -1;
    buf[n] = 0;
    return 0;
}

/* The state letter and parent of pid from /proc/PID/stat: 0, or -1 when unreadable. */
static int stat_of(pid_t pid, char *state, pid_t *ppid)
{
    char buf[512];
    if (tree_read_proc(pid, "stat", buf, sizeof buf) != 0)
        return -1;
    /* "pid (comm) state ppid ...": comm may hold spaces and ')' -- take the last ')' */
    char *p = strrchr(buf, ')');
    int pp = 0;
    if (!p || sscanf(p + 1, " %c %d", state, &pp) != 2 || pp < 0)
        return -1;
    *ppid = (pid_t)pp;
    return 0;
}

pid_t tree_parent_of(pid_t pid)
{
    char state;
    pid_t ppid;
    return stat_of(pid, &state, &ppid) == 0 ? ppid : 0;
}

int tree_running(pid_t pid)
{
    char state;
    pid_t ppid;
    return stat_of(pid, &state, &ppid) == 0 && state != 'Z' && state != 'X';
}
