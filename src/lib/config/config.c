/* config.c -- the one table of GOPROF_* variables and its parser.
 * Context: library (parsed by the program's constructor, listed by mkman)
 *
 * Runs in the library constructor, before main, so it allocates nothing and prints nothing
 * itself: the caller reports the single error line.
 */
#include "lib/config/config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/base/clock.h"
#include "lib/base/hash.h"
#include "lib/outname/outpath.h"

extern char **environ;

enum kind { K_BOOL, K_UINT, K_PATH, K_CHOICE, K_DURATION, K_ADDR, K_SIZE };

struct var {
    const char *name;
    enum kind kind;
    const char *def;
    uint32_t min, max;      /* K_UINT bounds (K_DURATION: GP_DURATION_*) */
    const char *help;
};

/* One row per variable. Defaults are strings so that the documentation shows them verbatim. */
static const struct var vars[] = {
    { "GOPROF_OUT", K_PATH, GP_OUTPATH_DEFAULT, 0, 0,
      "output file; %p pid, %t start time (of the run, or of the interval), %e program name, "
      "%n file sequence number (1-based; 1 without GOPROF_INTERVAL), %% a percent sign; "
      "a name another profiled process writes gets .<pid> (without %p), then .2, .3, ..." },
    { "GOPROF_INTERVAL", K_DURATION, "", 0, 0,
      "write one profile per interval, each covering only that interval (e.g. 60s or 1.5m; "
      "100ms-24h, a number with ms, s, m or h, no unit: seconds); without %n in GOPROF_OUT, "
      ".N is appended to the name; empty: one profile for the whole run" },
    { "GOPROF_HTTP", K_ADDR, "", 0, 0,
      "HOST:PORT on which the collector serves /debug/pprof/profile?seconds=N as Go's "
      "net/http/pprof does (e.g. 127.0.0.1:6060); empty: no endpoint" },
    { "GOPROF_HTTP_ALLOW_REMOTE", K_BOOL, "0", 0, 1,
      "1 lets GOPROF_HTTP bind a non-loopback address (anyone who reaches it can profile)" },
    { "GOPROF_HZ", K_UINT, "100", 1, 10000,
      "samples per CPU-second per thread (1-10000; the kernel tick caps signals, overruns keep "
      "totals right)" },
    { "GOPROF_DISABLE", K_BOOL, "0", 0, 1, "1 turns libgoprof off entirely" },
    { "GOPROF_RING_SLOTS", K_UINT, "1024", 4, 1u << 20,
      "sample ring size in 8 KiB records (4-1048576; rounded up to a power of two)" },
    { "GOPROF_DEBUG", K_BOOL, "0", 0, 1, "1 prints diagnostics on stderr" },
    { "GOPROF_FORMAT", K_CHOICE, "pprof", 0, 0,
      "output format: pprof (gzipped protobuf) or folded (folded stacks as text, for "
      "FlameGraph and speedscope; the default file name then ends in .folded)" },
    { "GOPROF_FOLLOW", K_BOOL, "1", 0, 1,
      "1: processes started by the profiled one (exec'd, forked, through wrappers) join its "
      "session and its profile; 0: they run unprofiled" },
    { "GOPROF_EXIT_WAIT", K_DURATION, "10s", 0, 0,
      "longest time the first process's exit waits for its profile to be final (the files "
      "are complete when its exit returns); 0: do not wait" },
    { "GOPROF_HEAP_RATE", K_SIZE, "0", 0, 0,
      "C memory profiling: mean bytes between sampled allocations (e.g. 512k or 1m; a number "
      "with k, m or g, up to 1g); 0 or empty: off" },
    { "GOPROF_HEAP_OUT", K_PATH, GP_OUTPATH_HEAP_DEFAULT, 0, 0,
      "heap profile file (with GOPROF_HEAP_RATE); the same % expansion as GOPROF_OUT" },
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

int config_parse_size(const char *s, uint64_t *bytes)
{
    uint64_t v = 0;
    const char *p = s;
    if (*p < '0' || *p > '9')
        return -EINVAL;
    for (; *p >= '0' && *p <= '9'; p++) {
        v = v * 10 + (uint64_t)(*p - '0');
        if (v > GP_SIZE_MAX_BYTES)
            return -ERANGE;
    }
    uint64_t unit = 1;
    if (*p == 'k' || *p == 'K')
        unit = 1ull << 10;
    else if (*p == 'm' || *p == 'M')
        unit = 1ull << 20;
    else if (*p == 'g' || *p == 'G')
        unit = 1ull << 30;
    if (unit != 1)
        p++;
    if (*p == 'b' || *p == 'B')   /* "512kb", "1MB" */
        p++;
    if (*p)
        return -EINVAL;
    if (v > GP_SIZE_MAX_BYTES / unit)
        return -ERANGE;
    *bytes = v * unit;
    return 0;
}

int config_parse_duration(const char *s, int64_t *ns)
{
    static const struct { const char *name; int64_t ns; } units[] = {
        { "ms", GP_NS_PER_MS }, { "s", GP_NS_PER_SEC }, { "m", 60 * GP_NS_PER_SEC },
        { "h", 3600 * GP_NS_PER_SEC },
    };
    const char *p = s, *digits = s;
    uint64_t whole = 0;
    for (; *p >= '0' && *p <= '9'; p++)
        if (whole <= UINT32_MAX)   /* beyond, it is out of range anyway: stop counting */
            whole = whole * 10 + (uint64_t)(*p - '0');
    if (p == digits)
        return -EINVAL;
    const char *frac = NULL;
    if (*p == '.') {
        frac = ++p;
        while (*p >= '0' && *p <= '9')
            p++;
        if (p == frac)
            return -EINVAL;
    }
    /* No unit: seconds, as `timeout 30` and goprof record -d always took it. */
    int64_t unit = *p ? 0 : GP_NS_PER_SEC;
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++)
        if (!strcmp(p, units[i].name))
            unit = units[i].ns;
    if (!unit)
        return -EINVAL;
    if (whole > (uint64_t)(GP_DURATION_MAX_NS / unit))
        return -ERANGE;
    int64_t v = (int64_t)whole * unit;
    /* Exact to the nanosecond: each fraction digit is worth a tenth of the one before. */
    for (int64_t scale = unit / 10; frac && *frac >= '0' && *frac <= '9'; frac++, scale /= 10)
        v += (*frac - '0') * scale;
    if (v < GP_DURATION_MIN_NS || v > GP_DURATION_MAX_NS)
        return -ERANGE;
    *ns = v;
    return 0;
}

/* "HOST:PORT": HOST a numeric IPv4 address, an IPv6 address in brackets, or localhost. */
static int parse_addr(const char *s, struct gp_http_addr *a)
{
    memset(a, 0, sizeof *a);
    if (!*s)
        return 0;
    char host[64];
    const char *colon;
    if (*s == '[') {
        const char *close = strchr(s, ']');
        if (!close || close[1] != ':' || (size_t)(close - s - 1) >= sizeof host)
            return -EINVAL;
        memcpy(host, s + 1, (size_t)(close - s - 1));
        host[close - s - 1] = 0;
        colon = close + 1;
        if (inet_pton(AF_INET6, host, a->addr) != 1)
            return -EINVAL;
        a->family = AF_INET6;
        static const uint8_t v4mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
        static const uint8_t one[16] = { [15] = 1 };
        a->loopback = !memcmp(a->addr, one, 16) ||
                      (!memcmp(a->addr, v4mapped, 12) && a->addr[12] == 127);
    } else {
        colon = strrchr(s, ':');
        if (!colon || (size_t)(colon - s) >= sizeof host)
            return -EINVAL;
        memcpy(host, s, (size_t)(colon - s));
        host[colon - s] = 0;
        if (!strcmp(host, "localhost"))
            strcpy(host, "127.0.0.1");
        if (inet_pton(AF_INET, host, a->addr) != 1)
            return -EINVAL;
        a->family = AF_INET;
        a->loopback = a->addr[0] == 127;
    }
    uint32_t port;
    if (parse_uint(colon + 1, 1, 65535, &port) != 0) {
        a->family = 0;
        return -EINVAL;
    }
    a->port = (uint16_t)port;
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
    case K_PATH: snprintf(buf, n, "a path; %%p, %%t, %%e, %%n and %%%% are expanded"); break;
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
    case K_DURATION: snprintf(buf, n, "%s", GP_DURATION_ACCEPTED); break;
    case K_SIZE: snprintf(buf, n, "%s", GP_SIZE_ACCEPTED); break;
    case K_ADDR:
        snprintf(buf, n, "HOST:PORT; HOST 127.0.0.1, [::1], localhost or, with "
                 "GOPROF_HTTP_ALLOW_REMOTE=1, another numeric address");
        break;
    }
}

static int apply(struct gp_config *c, const struct var *v, const char *s)
{
    int disable, debug, allow, follow, r;
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
    } else if (!strcmp(v->name, "GOPROF_INTERVAL")) {
        int64_t ns = 0;   /* "": off */
        if (*s && (r = config_parse_duration(s, &ns)) != 0)
            return r;
        c->interval_ns = (uint64_t)ns;
    } else if (!strcmp(v->name, "GOPROF_HTTP")) {
        if (strlen(s) >= sizeof c->http || (r = parse_addr(s, &c->http_addr)) != 0)
            return -EINVAL;
        strcpy(c->http, s);
    } else if (!strcmp(v->name, "GOPROF_HTTP_ALLOW_REMOTE")) {
        if ((r = parse_bool(s, &allow)) != 0)
            return r;
        c->http_allow_remote = allow;
    } else if (!strcmp(v->name, "GOPROF_DEBUG")) {
        if ((r = parse_bool(s, &debug)) != 0)
            return r;
        c->debug = debug;
    } else if (!strcmp(v->name, "GOPROF_FORMAT")) {
        if ((r = parse_choice(v, s)) < 0)
            return r;
        c->format = r;
    } else if (!strcmp(v->name, "GOPROF_FOLLOW")) {
        if ((r = parse_bool(s, &follow)) != 0)
            return r;
        c->follow = follow;
    } else if (!strcmp(v->name, "GOPROF_HEAP_RATE")) {
        uint64_t bytes = 0;   /* "" or "0": off */
        if (*s && (r = config_parse_size(s, &bytes)) != 0)
            return r;
        c->heap_rate = bytes;
    } else if (!strcmp(v->name, "GOPROF_HEAP_OUT")) {
        if (!*s || strlen(s) >= sizeof c->heap_out)
            return -EINVAL;
        if ((r = outpath_validate(s)) != 0)
            return r;
        strcpy(c->heap_out, s);
    } else if (!strcmp(v->name, "GOPROF_EXIT_WAIT")) {
        int64_t ns = 0;   /* "0": do not wait */
        if (strcmp(s, "0") != 0 && (r = config_parse_duration(s, &ns)) != 0)
            return r;
        c->exit_wait_ns = (uint64_t)ns;
    }
    return 0;
}

uint64_t config_session_hash(void)
{
    uint64_t h = GP_HASH_SEED;
    for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++) {
        const char *s = getenv(vars[i].name);
        if (!strcmp(vars[i].name, "GOPROF_DEBUG"))
            continue;
        h = gp_hash_more(h, vars[i].name, strlen(vars[i].name) + 1);
        /* with its NUL, so that set-to-"" differs from unset (no byte at all) */
        h = s ? gp_hash_more(h, s, strlen(s) + 1) : h;
    }
    return h;
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
            char acc[160];
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
    /* Serving profiles beyond this machine is a decision, not a default. */
    if (!first_err && c->http_addr.family && !c->http_addr.loopback && !c->http_allow_remote) {
        snprintf(err, errsz, "GOPROF_HTTP=\"%.80s\" is invalid (a loopback address such as "
                 "127.0.0.1:6060, unless GOPROF_HTTP_ALLOW_REMOTE=1); profiling is off for this "
                 "run", c->http);
        first_err = -EINVAL;
    }
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
