/* summary.c -- totals and top functions of a profile, for goprof's stderr (see summary.h).
 * Context: goprof
 *
 * Functions are keyed by their name's address: the profile interns names, so equal names are
 * the same pointer. Unsymbolized frames are keyed by address.
 */
#include "goprof/summary.h"

#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lib/base/clock.h"
#include "lib/base/hash.h"
#include "lib/pprof/pprof_view.h"

#define LOST_PREFIX "[libgoprof] lost:"

struct fn {
    const char *name;       /* NULL: unsymbolized, see address */
    uint64_t address;
    int64_t flat, cum;
    size_t last_sample;     /* sample index + 1 that last added to cum: counts it once */
};

struct fntab {
    struct fn *v;
    size_t n, nslots;       /* open addressing over v itself; nslots a power of two */
};

static uint64_t fn_hash(const char *name, uint64_t address)
{
    return gp_hash_u64(name ? (uint64_t)(uintptr_t)name : ~address);
}

static struct fn *fn_get(struct fntab *t, const struct pprof_frame *f)
{
    const char *name = f->name && f->name[0] ? f->name : NULL;
    uint64_t address = name ? 0 : f->address;
    if (2 * (t->n + 1) > t->nslots) {
        size_t ns = t->nslots ? 2 * t->nslots : 1024;
        struct fn *v = calloc(ns, sizeof *v);
        if (!v)
            return NULL;
        for (size_t i = 0; i < t->nslots; i++) {
            if (!t->v[i].last_sample)
                continue;
            size_t j = (size_t)fn_hash(t->v[i].name, t->v[i].address) & (ns - 1);
            while (v[j].last_sample)
                j = (j + 1) & (ns - 1);
            v[j] = t->v[i];
        }
        free(t->v);
        t->v = v;
        t->nslots = ns;
    }
    size_t j = (size_t)fn_hash(name, address) & (t->nslots - 1);
    for (; t->v[j].last_sample; j = (j + 1) & (t->nslots - 1))
        if (t->v[j].name == name && t->v[j].address == address)
            return &t->v[j];
    t->n++;
    t->v[j] = (struct fn){ .name = name, .address = address, .last_sample = SIZE_MAX };
    return &t->v[j];
}

/* Ties end in name order, then address (as pprof's -top), so the tables do not depend on
 * qsort's order of equal rows. */
static int by_name(const struct fn *x, const struct fn *y)
{
    int c = strcmp(x->name ? x->name : "", y->name ? y->name : "");
    if (c)
        return c;
    return x->address < y->address ? -1 : x->address > y->address;
}

static int by_flat(const void *a, const void *b)
{
    const struct fn *x = a, *y = b;
    if (x->flat != y->flat)
        return x->flat < y->flat ? 1 : -1;
    if (x->cum != y->cum)
        return x->cum < y->cum ? 1 : -1;
    return by_name(x, y);
}

static int by_cum(const void *a, const void *b)
{
    const struct fn *x = a, *y = b;
    if (x->cum != y->cum)
        return x->cum < y->cum ? 1 : -1;
    if (x->flat != y->flat)
        return x->flat < y->flat ? 1 : -1;
    return by_name(x, y);
}

static void print_table(FILE *out, struct fn *v, size_t n, int64_t total, const char *what)
{
    fprintf(out, "goprof: %8s %6s %8s %6s  top %d by %s\n", "flat", "flat%", "cum", "cum%",
            SUMMARY_TOP, what);
    for (size_t i = 0; i < n && i < SUMMARY_TOP; i++) {
        char addr[19];
        struct pprof_frame f = { .name = v[i].name, .address = v[i].address };
        double d = total ? 100.0 / (double)total : 0;
        fprintf(out, "goprof: %8" PRId64 " %5.1f%% %8" PRId64 " %5.1f%%  %s\n", v[i].flat,
                (double)v[i].flat * d, v[i].cum, (double)v[i].cum * d,
                pprof_frame_name(&f, addr));
    }
}

struct tally {
    struct fntab t;
    int64_t lost;
};

static int tally_stack(void *ctx, size_t i, const struct pprof_frame *frames, size_t n,
                       int64_t count)
{
    struct tally *ty = ctx;
    if (n && frames[0].name && !strncmp(frames[0].name, LOST_PREFIX, strlen(LOST_PREFIX)))
        ty->lost += count;
    for (size_t k = 0; k < n; k++) {
        struct fn *f = fn_get(&ty->t, &frames[k]);
        if (!f)
            return -ENOMEM;
        if (k == 0)
            f->flat += count;
        if (f->last_sample != i + 1) {     /* a function counts once per sample in cum */
            f->cum += count;
            f->last_sample = i + 1;
        }
    }
    return 0;
}

/* The functions of p's samples tallied with value k (flat: leaves), compacted to the front of
 * *v: how many, or -ENOMEM. *lost: the values under "[libgoprof] lost: ...". */
static long tally(const struct pprof *p, size_t k, struct fn **v, int64_t *lost)
{
    struct tally ty = { 0 };
    int err = pprof_each_stack_value(p, k, tally_stack, &ty);
    if (err) {
        free(ty.t.v);
        return err;
    }
    size_t m = 0;
    for (size_t i = 0; i < ty.t.nslots; i++)
        if (ty.t.v[i].last_sample)
            ty.t.v[m++] = ty.t.v[i];
    *v = ty.t.v;
    *lost = ty.lost;
    return (long)m;
}

static int64_t value_total(const struct pprof *p, int k)
{
    int64_t t = 0;
    for (size_t i = 0; k >= 0 && i < pprof_sample_count(p); i++)
        t += pprof_sample_value(p, i, (size_t)k);
    return t;
}

/* A C memory profile (Go's heap format): what is in use and what was allocated, and the top
 * allocation sites (leaf functions) by in-use and by allocated bytes. */
static int summary_print_heap(FILE *out, const char *path, const struct pprof *p)
{
    int ix_ib = pprof_value_index(p, "inuse_space"), ix_ab = pprof_value_index(p, "alloc_space");
    int64_t ib = value_total(p, ix_ib), io = value_total(p, pprof_value_index(p, "inuse_objects"));
    int64_t ab = value_total(p, ix_ab), ao = value_total(p, pprof_value_index(p, "alloc_objects"));
    fprintf(out, "goprof: %s: C memory: in use %.2f MiB in %" PRId64 " blocks, allocated "
            "%.2f MiB in %" PRId64 " blocks (estimated from samples every %" PRId64 " bytes)\n",
            path, (double)ib / 1048576, io, (double)ab / 1048576, ao, pprof_period_ns(p));
    const int ix[2] = { ix_ib, ix_ab };
    const int64_t totals[2] = { ib, ab };
    const char *what[2] = { "in-use bytes", "allocated bytes" };
    for (int t = 0; t < 2; t++) {
        struct fn *v = NULL;
        int64_t lost;
        long m = tally(p, (size_t)ix[t], &v, &lost);
        if (m < 0)
            return (int)m;
        if (m) {
            qsort(v, (size_t)m, sizeof *v, by_flat);
            print_table(out, v, (size_t)m, totals[t], what[t]);
        }
        free(v);
    }
    return 0;
}

int summary_print(FILE *out, const char *path, const struct pprof *p)
{
    if (pprof_value_index(p, "inuse_space") >= 0 && pprof_value_index(p, "alloc_space") >= 0)
        return summary_print_heap(out, path, p);
    struct fn *v = NULL;
    int64_t total = pprof_total_count(p), lost;
    long got = tally(p, pprof_count_index(p), &v, &lost);
    if (got < 0)
        return (int)got;
    size_t m = (size_t)got;
    int64_t dur = pprof_duration_ns(p), period = pprof_period_ns(p);
    fprintf(out, "goprof: %s: %" PRId64 " samples, %" PRId64 " lost, %.2f s", path, total, lost,
            (double)dur / GP_NS_PER_SEC);
    if (period > 0)
        fprintf(out, ", %" PRId64 " Hz", (int64_t)(GP_NS_PER_SEC / period));
    fputc('\n', out);
    if (m) {
        qsort(v, m, sizeof *v, by_flat);
        print_table(out, v, m, total, "flat");
        qsort(v, m, sizeof *v, by_cum);
        print_table(out, v, m, total, "cum");
    }
    free(v);
    return 0;
}

int summary_print_folded(FILE *out, const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return -errno;
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    int64_t total = 0, lost = 0;
    int err = 0;
    while ((len = getline(&line, &cap, f)) > 0) {
        char *sp = strrchr(line, ' '), *end;
        long long v = sp ? strtoll(sp + 1, &end, 10) : -1;
        if (!sp || end == sp + 1 || (*end && *end != '\n') || v < 0) {
            err = -EINVAL;
            break;
        }
        total += v;
        /* a lost-sample stack is the pseudo-frame alone */
        if (!strncmp(line, LOST_PREFIX, strlen(LOST_PREFIX)) &&
            !memchr(line, ';', (size_t)(sp - line)))
            lost += v;
    }
    free(line);
    fclose(f);
    if (!err)
        fprintf(out, "goprof: %s: %" PRId64 " samples, %" PRId64 " lost (folded stacks)\n", path,
                total, lost);
    return err;
}
