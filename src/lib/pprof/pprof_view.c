/* pprof_view.c -- read access to a built profile (see pprof_view.h).
 * Context: library
 */
#include "lib/pprof/pprof_view.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/pprof/pprof_impl.h"

size_t pprof_sample_count(const struct pprof *p)
{
    return p->nsamples;
}

size_t pprof_sample_frames(const struct pprof *p, size_t i, struct pprof_frame *out, size_t max,
                           int64_t *count)
{
    const struct pprof_sample_rec *s = &p->samples[i];
    size_t n = 0;
    *count = pprof_sample_value(p, i, p->count_ix);
    for (size_t k = 0; k < s->nloc; k++) {
        const struct pprof_location_rec *loc = &p->locs[p->stack_ids[s->loc_off + k] - 1];
        if (loc->nlines == 0) {
            if (n < max)
                out[n] = (struct pprof_frame){ .name = NULL, .address = loc->address };
            n++;
            continue;
        }
        for (size_t l = 0; l < loc->nlines; l++, n++) {
            if (n >= max)
                continue;
            uint64_t fid = p->lines[loc->line_off + l].function_id;
            const struct pprof_function_rec *f = &p->funcs[fid - 1];
            out[n] = (struct pprof_frame){ .name = p->strings.strs[f->name],
                                           .address = loc->address,
                                           .file = p->strings.strs[f->filename] };
        }
    }
    return n;
}

int pprof_each_stack(const struct pprof *p, pprof_stack_fn fn, void *ctx)
{
    return pprof_each_stack_value(p, p->count_ix, fn, ctx);
}

int pprof_each_stack_value(const struct pprof *p, size_t k, pprof_stack_fn fn, void *ctx)
{
    size_t cap = 256;
    struct pprof_frame *frames = malloc(cap * sizeof *frames);
    int err = frames ? 0 : -ENOMEM;
    for (size_t i = 0; i < p->nsamples && !err; i++) {
        int64_t count;
        size_t n = pprof_sample_frames(p, i, frames, cap, &count);
        if (n > cap) {
            struct pprof_frame *grown = realloc(frames, n * sizeof *frames);
            if (!grown) {
                err = -ENOMEM;
                break;
            }
            frames = grown;
            cap = n;
            pprof_sample_frames(p, i, frames, cap, &count);
        }
        err = fn(ctx, i, frames, n, pprof_sample_value(p, i, k));
    }
    free(frames);
    return err;
}

size_t pprof_sample_str_labels(const struct pprof *p, size_t i, const char **keys,
                               const char **values, size_t max)
{
    const struct pprof_sample_rec *s = &p->samples[i];
    size_t n = 0;
    for (size_t k = 0; k < s->nlabels; k++) {
        const struct pprof_label_rec *l = &p->labels[s->label_off + k];
        if (!l->str)
            continue;
        if (n < max) {
            keys[n] = p->strings.strs[l->key];
            values[n] = p->strings.strs[l->str];
        }
        n++;
    }
    return n;
}

int64_t pprof_total_count(const struct pprof *p)
{
    int64_t total = 0;
    for (size_t i = 0; i < p->nsamples; i++)
        total += p->nvalues ? p->values[i * p->nvalues + p->count_ix] : 0;
    return total;
}

int64_t pprof_duration_ns(const struct pprof *p)
{
    return p->duration_nanos;
}

int64_t pprof_period_ns(const struct pprof *p)
{
    return p->period;
}

const char *pprof_main_file(const struct pprof *p)
{
    return p->nmaps ? p->strings.strs[p->maps[0].file] : "";
}

size_t pprof_comment_count(const struct pprof *p)
{
    return p->ncomments;
}

const char *pprof_comment(const struct pprof *p, size_t i)
{
    return p->strings.strs[p->comments[i]];
}

const char *pprof_frame_name(const struct pprof_frame *f, char buf[19])
{
    if (f->name && f->name[0])
        return f->name;
    snprintf(buf, 19, "0x%" PRIx64, f->address);
    return buf;
}

size_t pprof_value_count(const struct pprof *p)
{
    return p->nvalues;
}

const char *pprof_value_type(const struct pprof *p, size_t k)
{
    return k < p->nvalues ? p->strings.strs[p->value_type[k]] : "";
}

int pprof_value_index(const struct pprof *p, const char *type)
{
    for (size_t k = 0; k < p->nvalues; k++)
        if (!strcmp(p->strings.strs[p->value_type[k]], type))
            return (int)k;
    return -1;
}

int64_t pprof_sample_value(const struct pprof *p, size_t i, size_t k)
{
    return k < p->nvalues ? p->values[i * p->nvalues + k] : 0;
}

int pprof_sample_num_label(const struct pprof *p, size_t i, const char *key, int64_t *num)
{
    const struct pprof_sample_rec *s = &p->samples[i];
    for (size_t k = 0; k < s->nlabels; k++) {
        const struct pprof_label_rec *l = &p->labels[s->label_off + k];
        if (!l->str && !strcmp(p->strings.strs[l->key], key)) {
            *num = l->num;
            return 1;
        }
    }
    return 0;
}

size_t pprof_count_index(const struct pprof *p)
{
    return p->count_ix;
}
