/* folded.c -- a profile as folded stacks (see folded.h).
 * Context: library
 *
 * Each sample's line is built in one growing buffer, then looked up in an open-addressing table
 * of the lines seen so far (by hash, then bytes) so that equal stacks are summed; the table
 * keeps first-seen order for the output.
 */
#include "lib/pprof/folded.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/base/dup_stream.h"
#include "lib/base/grow.h"
#include "lib/base/hash.h"
#include "lib/pprof/atomic_file.h"
#include "lib/pprof/pprof_view.h"

struct stack_line {
    char *text;             /* "root;...;leaf", NUL-terminated */
    uint64_t hash;
    int64_t count;
};

struct folded {
    struct stack_line *lines;
    size_t n, cap;
    size_t *slots;          /* 0 = empty, else line index + 1 */
    size_t nslots;          /* power of two, at least 2 * n */
    char *buf;              /* the line being built */
    size_t len, bufcap;
    const struct pprof *p;
};

static int buf_put(struct folded *f, const char *s, size_t n)
{
    if (gp_grow((void **)&f->buf, &f->bufcap, f->len + n + 1, 1, 4096) != 0)
        return -ENOMEM;
    memcpy(f->buf + f->len, s, n);
    f->len += n;
    f->buf[f->len] = 0;
    return 0;
}

/* Appends a frame name, with the characters the format reserves replaced. */
static int put_name(struct folded *f, const char *name)
{
    size_t start = f->len, n = strlen(name);
    if (buf_put(f, name, n) != 0)
        return -ENOMEM;
    for (char *c = f->buf + start; *c; c++)
        if (*c == ';' || (unsigned char)*c < 0x20 || *c == 0x7f)
            *c = '_';
    return 0;
}

static int rehash(struct folded *f, size_t nslots)
{
    size_t *slots = calloc(nslots, sizeof *slots);
    if (!slots)
        return -ENOMEM;
    for (size_t i = 0; i < f->n; i++) {
        size_t j = (size_t)f->lines[i].hash & (nslots - 1);
        while (slots[j])
            j = (j + 1) & (nslots - 1);
        slots[j] = i + 1;
    }
    free(f->slots);
    f->slots = slots;
    f->nslots = nslots;
    return 0;
}

/* Adds count to the line in f->buf, creating it if new. */
static int add_line(struct folded *f, int64_t count)
{
    if (2 * (f->n + 1) > f->nslots && rehash(f, f->nslots ? 2 * f->nslots : 1024) != 0)
        return -ENOMEM;
    uint64_t h = gp_hash_bytes(f->buf, f->len);
    size_t j = (size_t)h & (f->nslots - 1);
    for (; f->slots[j]; j = (j + 1) & (f->nslots - 1)) {
        struct stack_line *l = &f->lines[f->slots[j] - 1];
        if (l->hash == h && !strcmp(l->text, f->buf)) {
            l->count += count;
            return 0;
        }
    }
    if (gp_grow((void **)&f->lines, &f->cap, f->n + 1, sizeof *f->lines, 1024) != 0)
        return -ENOMEM;
    char *text = strdup(f->buf);
    if (!text)
        return -ENOMEM;
    f->lines[f->n++] = (struct stack_line){ text, h, count };
    f->slots[j] = f->n;
    return 0;
}

/* String labels libgoprof gives every sample: they describe the process and thread, which
 * the stack's frames already tell apart, and are not the program's labels. */
static int profiler_label(const char *key)
{
    return !strcmp(key, "process") || !strcmp(key, "thread_name");
}

#define MAX_LABELS 32

/* The root frame "[labels: k1=v1, k2=v2]" of a sample with the program's labels, by key. */
static int put_labels(struct folded *f, const struct pprof *p, size_t i)
{
    const char *keys[MAX_LABELS], *values[MAX_LABELS];
    size_t n = pprof_sample_str_labels(p, i, keys, values, MAX_LABELS), m = 0;
    n = n < MAX_LABELS ? n : MAX_LABELS;
    for (size_t k = 0; k < n; k++) {   /* keep the program's, sorted (insertion) */
        const char *key = keys[k], *value = values[k];
        if (profiler_label(key))
            continue;
        size_t j = m++;
        for (; j > 0 && (strcmp(keys[j - 1], key) > 0 ||
                         (!strcmp(keys[j - 1], key) && strcmp(values[j - 1], value) > 0));
             j--) {
            keys[j] = keys[j - 1];
            values[j] = values[j - 1];
        }
        keys[j] = key;
        values[j] = value;
    }
    if (m == 0)
        return 0;
    size_t start = f->len;
    int err = buf_put(f, "[labels: ", 9);
    for (size_t k = 0; k < m && !err; k++) {
        if (k)
            err = buf_put(f, ", ", 2);
        if (!err)
            err = buf_put(f, keys[k], strlen(keys[k]));
        if (!err)
            err = buf_put(f, "=", 1);
        if (!err)
            err = buf_put(f, values[k], strlen(values[k]));
    }
    if (!err)
        err = buf_put(f, "];", 2);
    for (char *c = f->buf + start; !err && c < f->buf + f->len - 1; c++)
        if (*c == ';' || (unsigned char)*c < 0x20 || *c == 0x7f)
            *c = '_';
    return err;
}

static int fold_stack(void *ctx, size_t i, const struct pprof_frame *frames, size_t n,
                      int64_t count)
{
    struct folded *f = ctx;
    if (count == 0)
        return 0;
    f->len = 0;
    int err = put_labels(f, f->p, i);
    for (size_t k = n; k-- > 0 && !err;) {
        char addr[19];
        if (k != n - 1)
            err = buf_put(f, ";", 1);
        if (!err)
            err = put_name(f, pprof_frame_name(&frames[k], addr));
    }
    return err ? err : add_line(f, count);
}

static int collect(struct folded *f, const struct pprof *p)
{
    f->p = p;
    return pprof_each_stack(p, fold_stack, f);
}

static void folded_free(struct folded *f)
{
    for (size_t i = 0; i < f->n; i++)
        free(f->lines[i].text);
    free(f->lines);
    free(f->slots);
    free(f->buf);
}

int folded_write_fd(const struct pprof *p, int fd)
{
    struct folded f = { 0 };
    int err = collect(&f, p);
    FILE *out = NULL;
    if (!err) {
        if (!(out = gp_dup_stream(fd, "w")))
            err = -errno;
    }
    for (size_t i = 0; !err && i < f.n; i++)
        if (fprintf(out, "%s %" PRId64 "\n", f.lines[i].text, f.lines[i].count) < 0)
            err = errno ? -errno : -EIO;
    if (out && fclose(out) != 0 && !err)
        err = errno ? -errno : -EIO;
    folded_free(&f);
    return err;
}

static int fill(void *arg, int fd)
{
    return folded_write_fd(arg, fd);
}

int folded_write_file(const struct pprof *p, const char *path)
{
    return atomic_file_write(path, fill, (void *)p);
}
