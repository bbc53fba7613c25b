/* collector_spawn.c -- forks the collector process (see collector_spawn.h).
 * Context: program
 *
 * The intermediate child forks the collector and exits at once, so the program reaps it here
 * and its own wait() never sees the collector, which is re-parented away from it.
 */
#include "program/preload/collector_spawn.h"

#include <errno.h>
#include <sys/wait.h>
#include <unistd.h>

#include "collector/collector.h"

int collector_spawn(const struct collector_config *cfg)
{
    pid_t child = fork();
    if (child < 0)
        return -errno;
    if (child == 0) {
        pid_t grandchild = fork();
        if (grandchild == 0)
            collector_main(cfg);
        _exit(grandchild < 0 ? 1 : 0);
    }
    int status = 0;
    while (waitpid(child, &status, 0) < 0 && errno == EINTR)
        ;
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        return -ECHILD;
    return 0;
}
