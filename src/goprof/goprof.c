/* goprof.c -- the goprof command: record a command's profile, convert profiles.
 * Context: goprof
 *
 *   goprof record [-o FILE] [-F HZ] [-d DURATION] [--] COMMAND [ARG...]
 *   goprof summary FILE            totals and top functions (what record prints at the end)
 *   goprof folded FILE             folded stacks on stdout
 *   goprof flame [-t TITLE] FILE   a self-contained HTML flame graph on stdout
 *
 * goprof's own messages go to stderr, each line prefixed "goprof: ". Exit status 2 is a usage
 * error, 1 a file that cannot be read or converted; record returns the command's status.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "lib/base/log.h"
#include "goprof/locate.h"
#include "goprof/record.h"
#include "goprof/summary.h"
#include "goprof/flame.h"
#include "lib/pprof/folded.h"
#include "lib/pprof/pprof_read.h"

static const char usage_text[] =
    "usage: goprof COMMAND ...\n"
    "  goprof record [-o FILE] [-F HZ] [-d DURATION] [--] CMD [ARG...]\n"
    "                               run CMD under libgoprof, then summarize its profile\n"
    "  goprof summary FILE          samples, lost samples, top functions of a profile\n"
    "  goprof folded FILE           the profile as folded stacks (FlameGraph, speedscope)\n"
    "  goprof flame [-t TITLE] FILE a self-contained HTML flame graph\n"
    "FILE is a pprof profile (gzipped or not). See goprof(1) for the GOPROF_* variables.\n";

static struct pprof *load(const char *path)
{
    struct pprof *p = pprof_read_file(path);
    if (!p)
        fprintf(stderr, "goprof: %s: %s\n", path,
                errno == EINVAL ? "not a pprof profile" : strerror(errno));
    return p;
}

/* "goprof CMD [-t TITLE] FILE": the options a converter takes. */
static const char *file_arg(int argc, char **argv, const char *opts, const char **title)
{
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt(argc, argv, opts)) != -1) {
        if (c == 't' && title)
            *title = optarg;
        else
            return NULL;
    }
    return optind == argc - 1 ? argv[optind] : NULL;
}

static int cmd_summary(int argc, char **argv)
{
    const char *path = file_arg(argc, argv, "", NULL);
    if (!path) {
        fputs("usage: goprof summary FILE\n", stderr);
        return 2;
    }
    struct pprof *p = load(path);
    int err = p ? summary_print(stderr, path, p) : -EINVAL;
    pprof_free(p);
    return err ? 1 : 0;
}

static int cmd_folded(int argc, char **argv)
{
    const char *path = file_arg(argc, argv, "", NULL);
    if (!path) {
        fputs("usage: goprof folded FILE > FILE.folded\n", stderr);
        return 2;
    }
    struct pprof *p = load(path);
    if (!p)
        return 1;
    int err = folded_write_fd(p, STDOUT_FILENO);
    pprof_free(p);
    if (err)
        fprintf(stderr, "goprof: writing folded stacks: %s\n", strerror(-err));
    return err ? 1 : 0;
}

static int cmd_flame(int argc, char **argv)
{
    const char *title = NULL;
    const char *path = file_arg(argc, argv, "t:", &title);
    if (!path) {
        fputs("usage: goprof flame [-t TITLE] FILE > flame.html\n", stderr);
        return 2;
    }
    char assets[PATH_MAX + 256];
    if (locate_assets(assets, sizeof assets) != 0) {
        fprintf(stderr, "goprof: flame graph files %s\n", assets);
        return 1;
    }
    struct pprof *p = load(path);
    if (!p)
        return 1;
    char deflt[512];
    if (!title) {
        flame_default_title(p, deflt, sizeof deflt);
        title = deflt;
    }
    int err = flame_write_fd(p, assets, title, STDOUT_FILENO);
    pprof_free(p);
    if (err)
        fprintf(stderr, "goprof: writing the flame graph: %s\n", strerror(-err));
    return err ? 1 : 0;
}

int main(int argc, char **argv)
{
    gp_log_prefix = "goprof";
    if (argc < 2) {
        fputs(usage_text, stderr);
        return 2;
    }
    const char *cmd = argv[1];
    if (!strcmp(cmd, "-h") || !strcmp(cmd, "--help") || !strcmp(cmd, "help")) {
        fputs(usage_text, stdout);
        return 0;
    }
    if (!strcmp(cmd, "record"))
        return record_main(argc - 1, argv + 1);
    if (!strcmp(cmd, "summary"))
        return cmd_summary(argc - 1, argv + 1);
    if (!strcmp(cmd, "folded"))
        return cmd_folded(argc - 1, argv + 1);
    if (!strcmp(cmd, "flame"))
        return cmd_flame(argc - 1, argv + 1);
    fprintf(stderr, "goprof: unknown command \"%s\"\n", cmd);
    fputs(usage_text, stderr);
    return 2;
}
