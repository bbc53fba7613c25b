/* collector_spawn.c -- forks the collector process (see collector_spawn.h).
 * Context: program
 *
 * The intermediate child forks the collector and exits at once, so the program reaps it here
 * and its own wait() never sees the collector, which is re-parented away from it.
 */
#include "program/preload/collector_spawn.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "collector/collector.h"

int collector_spawn(const struct collector_config *cfg)
{
    int pipefd[2];
    if (pipe2(pipefd, O_CLOEXEC) != 0)
        return -errno;
    pid_t child = fork();
    if (child < 0) {
        int err = -errno;
        close(pipefd[0]);
        close(pipefd[1]);
        return err;
    }
    if (child == 0) {
        close(pipefd[1]);
        pid_t grandchild = fork();
        if (grandchild == 0)
            collector_main(cfg, pipefd[0]);
        _exit(grandchild < 0 ? 1 : 0);
    }
    close(pipefd[0]);
    int status = 0;
    while (waitpid(child, &status, 0) < 0 && errno == EINTR)
        ;
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        close(pipefd[1]);
        return -ECHILD;
    }
    /* pipefd[1] stays open in the program for its lifetime: the lifeline. */
    return 0;
}
