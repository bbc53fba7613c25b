/* config.c -- the one table of GOPROF_* variables and its parser.
 * Context: init
 *
 * Runs in the library constructor, before main, so it allocates nothing and prints nothing
 * itself: the caller reports the single error line.
 */
#include "preload/config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "output/outpath.h"

extern char **environ;

enum kind { K_BOOL, K_UINT, K_PATH, K_CHOICE };

struct var {
    const char *name;
    enum kind kind;
    const char *def;
    uint32_t min, max;      /* K_UINT bounds */
    const char *help;
};

/* One row per variable. Defaults are strings so that the documentation shows them verbatim. */
static const struct var vars[] = {
    { "GOPROF_OUT", K_PATH, GP_OUTPATH_DEFAULT, 0, 0,
      "output file; %p pid, %t start time, %n program name, %% a percent sign" },
    { "GOPROF_HZ", K_UINT, "100", 1, 10000,
      "samples per CPU-second per thread (1-10000; the kernel tick caps signals, overruns keep "
      "totals right)" },
    { "GOPROF_DISABLE", K_BOOL, "0", 0, 1, "1 turns libgoprof off entirely" },
    { "GOPROF_RING_SLOTS", K_UINT, "2048", 4, 1u << 20,
      "sample ring size in 2 KiB records (4-1048576; rounded up to a power of two)" },
    { "GOPROF_DEBUG", K_BOOL, "0", 0, 1, "1 prints diagnostics on stderr" },
    { "GOPROF_FORMAT", K_CHOICE, "pprof", 0, 0,
      "output format: pprof (gzipped protobuf) or folded (folded stacks as text, for "
      "FlameGraph and speedscope; the default file name then ends in .folded)" },
};

/* The words each K_CHOICE variable accepts, "a|b|c"; its value is the word's index. */
static const struct { const char *name, *words; } choices[] = {
    { "GOPROF_FORMAT", "pprof|folded" },
};

static const char *choice_words(const struct var *v)
{
    for (size_t i = 0; i < sizeof choices / sizeof choices[0]; i++)
        if (!strcmp(choices[i].name, v->name))
            return choices[i].words;
    return "";
}

static int parse_uint(const char *s, uint32_t min, uint32_t max, uint32_t *out)
{
    if (!*s)
        return -EINVAL;
    uint64_t v = 0;
    for (const char *p = s; *p; p++) {
        if (*p < '0' || *p > '9')
            return -EINVAL;
        v = v * 10 + (uint64_t)(*p - '0');
        if (v > max)
            return -ERANGE;
    }
    if (v < min)
        return -ERANGE;
    *out = (uint32_t)v;
    return 0;
}

static int parse_bool(const char *s, int *out)
{
    if (!strcmp(s, "1") || !strcmp(s, "true") || !strcmp(s, "yes")) {
        *out = 1;
        return 0;
    }
    if (!strcmp(s, "0") || !strcmp(s, "false") || !strcmp(s, "no") || !*s) {
        *out = 0;
        return 0;
    }
    return -EINVAL;
}

/* The index of s among v->choices, or -EINVAL. */
static int parse_choice(const struct var *v, const char *s)
{
    size_t len = strlen(s);
    int ix = 0;
    for (const char *c = choice_words(v); *c; ix++) {
        size_t n = strcspn(c, "|");
        if (n == len && len && !strncmp(c, s, n))
            return ix;
        c += n + (c[n] == '|');
    }
    return -EINVAL;
}

static void accepted(const struct var *v, char *buf, size_t n)
{
    switch (v->kind) {
    case K_BOOL: snprintf(buf, n, "0 or 1"); break;
    case K_UINT: snprintf(buf, n, "an integer from %u to %u", v->min, v->max); break;
    case K_PATH: snprintf(buf, n, "a path; %%p, %%t, %%n and %%%% are expanded"); break;
    case K_CHOICE: {
        const char *words = choice_words(v);
        int len = snprintf(buf, n, "one of ");
        for (const char *c = words; *c && len > 0 && (size_t)len < n;) {
            size_t w = strcspn(c, "|");
            len += snprintf(buf + len, n - (size_t)len, "%s%.*s", c == words ? "" : ", ",
                            (int)w, c);
            c += w + (c[w] == '|');
        }
        break;
    }
    }
}

static int apply(struct gp_config *c, const struct var *v, const char *s)
{
    int disable, debug, r;
    uint32_t u;
    if (!strcmp(v->name, "GOPROF_OUT")) {
        if (!*s || strlen(s) >= sizeof c->out)
            return -EINVAL;
        if ((r = outpath_validate(s)) != 0)
            return r;
        strcpy(c->out, s);
    } else if (!strcmp(v->name, "GOPROF_HZ")) {
        if ((r = parse_uint(s, v->min, v->max, &u)) != 0)
            return r;
        c->hz = u;
    } else if (!strcmp(v->name, "GOPROF_RING_SLOTS")) {
        if ((r = parse_uint(s, v->min, v->max, &u)) != 0)
            return r;
        c->ring_slots = u;
    } else if (!strcmp(v->name, "GOPROF_DISABLE")) {
        if ((r = parse_bool(s, &disable)) != 0)
            return r;
        c->disable = disable;
    } else if (!strcmp(v->name, "GOPROF_DEBUG")) {
        if ((r = parse_bool(s, &debug)) != 0)
            return r;
        c->debug = debug;
    } else if (!strcmp(v->name, "GOPROF_FORMAT")) {
        if ((r = parse_choice(v, s)) < 0)
            return r;
        c->format = r;
    }
    return 0;
}

int config_parse(struct gp_config *c, char *err, size_t errsz, char *warn, size_t warnsz)
{
    memset(c, 0, sizeof *c);
    err[0] = warn[0] = 0;
    int first_err = 0;
    for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++) {
        const struct var *v = &vars[i];
        const char *s = getenv(v->name);
        int from_env = s != NULL;
        if (!s)
            s = v->def;
        int r = apply(c, v, s);
        if (r && !first_err) {
            char acc[96];
            accepted(v, acc, sizeof acc);
            snprintf(err, errsz, "%s=\"%.200s\" is invalid (%s); profiling is off for "
                     "this run", v->name, from_env ? s : "", acc);
            first_err = r;
        }
    }
    /* Folded stacks are text: the default name says so (GOPROF_OUT set by the user is kept). */
    size_t outlen = strlen(c->out), sfx = sizeof ".pb.gz" - 1;
    if (c->format == GP_FORMAT_FOLDED && !getenv("GOPROF_OUT") && outlen > sfx &&
        !strcmp(c->out + outlen - sfx, ".pb.gz"))
        strcpy(c->out + outlen - sfx, ".folded");
    /* Unknown names are probably typos of ours: say so, but do not fail. */
    for (char **e = environ; e && *e; e++) {
        if (strncmp(*e, "GOPROF_", 7) != 0)
            continue;
        size_t len = strcspn(*e, "=");
        int known = 0;
        for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++)
            if (strlen(vars[i].name) == len && !strncmp(vars[i].name, *e, len))
                known = 1;
        if (!known && !warn[0])
            snprintf(warn, warnsz, "unknown variable %.*s ignored", (int)len, *e);
    }
    return first_err ? -EINVAL : 0;
}

void config_describe(void (*line)(const char *name, const char *def, const char *help))
{
    for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++)
        line(vars[i].name, vars[i].def, vars[i].help);
}
