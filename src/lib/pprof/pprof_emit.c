/* pprof_emit.c -- serializes a built profile as a stream of protobuf chunks (see pprof_emit.h).
 * Context: library
 *
 * A protobuf message serialized in pieces and concatenated decodes as the merge of the pieces,
 * repeated fields appended (docs/pprof-format.md §2.3). So the protobuf-c view of the profile is
 * built EMIT_BATCH records at a time in reusable scratch arrays and packed chunk by chunk into
 * the same stream, instead of materialising one message object per sample/location/function.
 * Only the first (header) chunk sets time_nanos: pprof rejects a stream that sets it twice as
 * "concatenated profiles". The string table goes last, as in Go's writer; the decoder resolves
 * indices after reading everything.
 */
#include "lib/pprof/pprof_emit.h"

#include <errno.h>
#include <stdlib.h>

#include "lib/pprof/profile.pb-c.h"

/* Records per chunk. 1024 samples of 30 frames pack to ~280 KiB, so a chunk's view costs at most
 * ~100 KiB of scratch (the largest message struct is ~100 bytes) plus its labels/lines; chunks
 * add no bytes to the stream (top-level messages carry no length prefix). */
#define EMIT_BATCH 1024

typedef Perftools__Profiles__Profile PbProfile;
typedef Perftools__Profiles__Sample PbSample;
typedef Perftools__Profiles__Label PbLabel;
typedef Perftools__Profiles__Mapping PbMapping;
typedef Perftools__Profiles__Location PbLocation;
typedef Perftools__Profiles__Line PbLine;
typedef Perftools__Profiles__Function PbFunction;
typedef Perftools__Profiles__ValueType PbValueType;

/* Only one kind of record is in flight at a time, so the fixed-size arrays share storage. */
struct emit_scratch {
    union {
        struct { PbSample msg[EMIT_BATCH]; PbSample *ptr[EMIT_BATCH]; } sample;
        struct { PbMapping msg[EMIT_BATCH]; PbMapping *ptr[EMIT_BATCH]; } mapping;
        struct { PbLocation msg[EMIT_BATCH]; PbLocation *ptr[EMIT_BATCH]; } location;
        struct { PbFunction msg[EMIT_BATCH]; PbFunction *ptr[EMIT_BATCH]; } function;
    } u;
    /* Per-batch variable-length parts, grown to the largest batch seen. */
    PbLabel *label;
    PbLabel **label_ptr;
    size_t clabel, clabel_ptr;
    PbLine *line;
    PbLine **line_ptr;
    size_t cline, cline_ptr;
};

static size_t batch_len(size_t total, size_t base)
{
    return total - base < EMIT_BATCH ? total - base : EMIT_BATCH;
}

static void emit_header(const struct pprof *p, ProtobufCBuffer *out)
{
    PbValueType st[PPROF_MAX_VALUES], pt;
    PbValueType *stp[PPROF_MAX_VALUES];
    for (size_t i = 0; i < p->nvalues; i++) {
        perftools__profiles__value_type__init(&st[i]);
        st[i].type = p->value_type[i];
        st[i].unit = p->value_unit[i];
        stp[i] = &st[i];
    }
    perftools__profiles__value_type__init(&pt);
    pt.type = p->period_type;
    pt.unit = p->period_unit;

    PbProfile chunk = PERFTOOLS__PROFILES__PROFILE__INIT;
    chunk.n_sample_type = p->nvalues;
    chunk.sample_type = p->nvalues ? stp : NULL;
    chunk.default_sample_type = p->default_type;
    chunk.time_nanos = p->time_nanos;
    chunk.duration_nanos = p->duration_nanos;
    chunk.period_type = &pt;
    chunk.period = p->period;
    chunk.n_comment = p->ncomments;
    chunk.comment = p->comments;
    perftools__profiles__profile__pack_to_buffer(&chunk, out);
}

static int scratch_labels(struct emit_scratch *s, size_t n)
{
    if (pprof_grow(&s->label, &s->clabel, n, sizeof *s->label) != 0 ||
        pprof_grow(&s->label_ptr, &s->clabel_ptr, n, sizeof *s->label_ptr) != 0)
        return -ENOMEM;
    return 0;
}

static int scratch_lines(struct emit_scratch *s, size_t n)
{
    if (pprof_grow(&s->line, &s->cline, n, sizeof *s->line) != 0 ||
        pprof_grow(&s->line_ptr, &s->cline_ptr, n, sizeof *s->line_ptr) != 0)
        return -ENOMEM;
    return 0;
}

/* Fills the label view for records [lab0, lab0 + n) of p->labels. */
static void view_labels(const struct pprof *p, struct emit_scratch *s, size_t lab0, size_t n)
{
    for (size_t j = 0; j < n; j++) {
        const struct pprof_label_rec *r = &p->labels[lab0 + j];
        PbLabel *m = &s->label[j];
        perftools__profiles__label__init(m);
        m->key = r->key;
        m->str = r->str;
        m->num = r->num;
        m->num_unit = r->num_unit;
        s->label_ptr[j] = m;
    }
}

/* The view points straight into the builder's arrays; protobuf-c only reads them while
 * packing, hence the casts from const. */
static int emit_samples(const struct pprof *p, struct emit_scratch *s, ProtobufCBuffer *out)
{
    for (size_t base = 0; base < p->nsamples; base += EMIT_BATCH) {
        size_t n = batch_len(p->nsamples, base);
        const struct pprof_sample_rec *first = &p->samples[base], *last = first + n - 1;
        size_t lab0 = first->label_off, nlab = last->label_off + last->nlabels - lab0;
        if (scratch_labels(s, nlab) != 0)
            return -ENOMEM;
        view_labels(p, s, lab0, nlab);
        for (size_t i = 0; i < n; i++) {
            const struct pprof_sample_rec *r = &first[i];
            PbSample *m = &s->u.sample.msg[i];
            perftools__profiles__sample__init(m);
            m->n_location_id = r->nloc;
            m->location_id = (uint64_t *)&p->stack_ids[r->loc_off];
            m->n_value = p->nvalues;
            m->value = p->nvalues ? (int64_t *)&p->values[(base + i) * p->nvalues] : NULL;
            m->n_label = r->nlabels;
            m->label = r->nlabels ? &s->label_ptr[r->label_off - lab0] : NULL;
            s->u.sample.ptr[i] = m;
        }
        PbProfile chunk = PERFTOOLS__PROFILES__PROFILE__INIT;
        chunk.n_sample = n;
        chunk.sample = s->u.sample.ptr;
        perftools__profiles__profile__pack_to_buffer(&chunk, out);
    }
    return 0;
}

static void emit_mappings(const struct pprof *p, struct emit_scratch *s, ProtobufCBuffer *out)
{
    for (size_t base = 0; base < p->nmaps; base += EMIT_BATCH) {
        size_t n = batch_len(p->nmaps, base);
        for (size_t i = 0; i < n; i++) {
            const struct pprof_mapping_rec *r = &p->maps[base + i];
            PbMapping *m = &s->u.mapping.msg[i];
            perftools__profiles__mapping__init(m);
            m->id = base + i + 1;
            m->memory_start = r->start;
            m->memory_limit = r->limit;
            m->file_offset = r->offset;
            m->filename = r->file;
            m->build_id = r->build_id;
            m->has_functions = !!(r->flags & PPROF_HAS_FUNCTIONS);
            m->has_filenames = !!(r->flags & PPROF_HAS_FILENAMES);
            m->has_line_numbers = !!(r->flags & PPROF_HAS_LINE_NUMBERS);
            m->has_inline_frames = !!(r->flags & PPROF_HAS_INLINE_FRAMES);
            s->u.mapping.ptr[i] = m;
        }
        PbProfile chunk = PERFTOOLS__PROFILES__PROFILE__INIT;
        chunk.n_mapping = n;
        chunk.mapping = s->u.mapping.ptr;
        perftools__profiles__profile__pack_to_buffer(&chunk, out);
    }
}

static int emit_locations(const struct pprof *p, struct emit_scratch *s, ProtobufCBuffer *out)
{
    for (size_t base = 0; base < p->nlocs; base += EMIT_BATCH) {
        size_t n = batch_len(p->nlocs, base);
        const struct pprof_location_rec *first = &p->locs[base], *last = first + n - 1;
        size_t line0 = first->line_off, nline = last->line_off + last->nlines - line0;
        if (scratch_lines(s, nline) != 0)
            return -ENOMEM;
        for (size_t j = 0; j < nline; j++) {
            PbLine *m = &s->line[j];
            perftools__profiles__line__init(m);
            m->function_id = p->lines[line0 + j].function_id;
            m->line = p->lines[line0 + j].line;
            s->line_ptr[j] = m;
        }
        for (size_t i = 0; i < n; i++) {
            const struct pprof_location_rec *r = &first[i];
            PbLocation *m = &s->u.location.msg[i];
            perftools__profiles__location__init(m);
            m->id = base + i + 1;
            m->mapping_id = r->mapping_id;
            m->address = r->address;
            m->n_line = r->nlines;
            m->line = r->nlines ? &s->line_ptr[r->line_off - line0] : NULL;
            s->u.location.ptr[i] = m;
        }
        PbProfile chunk = PERFTOOLS__PROFILES__PROFILE__INIT;
        chunk.n_location = n;
        chunk.location = s->u.location.ptr;
        perftools__profiles__profile__pack_to_buffer(&chunk, out);
    }
    return 0;
}

static void emit_functions(const struct pprof *p, struct emit_scratch *s, ProtobufCBuffer *out)
{
    for (size_t base = 0; base < p->nfuncs; base += EMIT_BATCH) {
        size_t n = batch_len(p->nfuncs, base);
        for (size_t i = 0; i < n; i++) {
            const struct pprof_function_rec *r = &p->funcs[base + i];
            PbFunction *m = &s->u.function.msg[i];
            perftools__profiles__function__init(m);
            m->id = base + i + 1;
            m->name = r->name;
            m->system_name = r->system_name;
            m->filename = r->filename;
            m->start_line = r->start_line;
            s->u.function.ptr[i] = m;
        }
        PbProfile chunk = PERFTOOLS__PROFILES__PROFILE__INIT;
        chunk.n_function = n;
        chunk.function = s->u.function.ptr;
        perftools__profiles__profile__pack_to_buffer(&chunk, out);
    }
}

/* strtab guarantees strs[0] == "" and no NULL entries (a NULL crashes the packer). */
static void emit_strings(const struct pprof *p, ProtobufCBuffer *out)
{
    PbProfile chunk = PERFTOOLS__PROFILES__PROFILE__INIT;
    chunk.n_string_table = p->strings.n;
    chunk.string_table = p->strings.strs;
    perftools__profiles__profile__pack_to_buffer(&chunk, out);
}

int pprof_emit(const struct pprof *p, ProtobufCBuffer *out)
{
    struct emit_scratch *s = calloc(1, sizeof *s);
    if (!s)
        return -ENOMEM;
    emit_header(p, out);
    int err = emit_samples(p, s, out);
    if (!err) {
        emit_mappings(p, s, out);
        err = emit_locations(p, s, out);
    }
    if (!err) {
        emit_functions(p, s, out);
        emit_strings(p, out);
    }
    free(s->label);
    free(s->label_ptr);
    free(s->line);
    free(s->line_ptr);
    free(s);
    return err;
}
