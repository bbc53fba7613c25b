/* mkman.c -- build helper: writes goprof(1) from its template, listing every GOPROF_* variable.
 * Context: build (a helper run by make to write goprof(1))
 *
 *   mkman < docs/goprof.1.in > goprof.1
 *
 * Copies the template and replaces the line "@VARIABLES@" by one .TP entry per row of the
 * config table (config_describe), so the man page cannot miss a variable the library accepts.
 */
#include <stdio.h>
#include <string.h>

#include "lib/config/config.h"

/* roff: a backslash is \e, a minus sign \-, and a line must not start with '.' or '\''. */
static void put_roff(const char *s)
{
    if (*s == '.' || *s == '\'')
        fputs("\\&", stdout);
    for (; *s; s++) {
        if (*s == '\\')
            fputs("\\e", stdout);
        else if (*s == '-')
            fputs("\\-", stdout);
        else
            putchar(*s);
    }
}

static void entry(const char *name, const char *def, const char *help)
{
    fputs(".TP\n.B ", stdout);
    put_roff(name);
    fputs("\n", stdout);
    put_roff(help);
    fputs(". Default: \\fB", stdout);
    put_roff(def[0] ? def : "(empty)");
    fputs("\\fR.\n", stdout);
}

int main(void)
{
    char line[4096];
    int found = 0;
    while (fgets(line, sizeof line, stdin)) {
        if (!strcmp(line, "@VARIABLES@\n")) {
            config_describe(entry);
            found = 1;
        } else {
            fputs(line, stdout);
        }
    }
    if (!found) {
        fputs("mkman: the template has no @VARIABLES@ line\n", stderr);
        return 1;
    }
    return ferror(stdout) ? 1 : 0;
}
