/* pprof_read.c -- a pprof file back into a profile builder (see pprof_read.h).
 * Context: library
 *
 * gunzip (zlib), unpack (protobuf-c), then re-add every record through the builder. The file's
 * ids are arbitrary non-zero numbers: they are translated through sorted (file id, builder id)
 * tables. Every string index and id is checked before use: a damaged file is EINVAL, never a
 * crash.
 */
#include "lib/pprof/pprof_read.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "lib/pprof/profile.pb-c.h"

/* A CPU profile of a day of a busy service is a few hundred MiB unpacked; beyond this the
 * input is more likely garbage (or a zip bomb) than a profile. */
#define READ_MAX_BYTES (1ull << 30)

typedef Perftools__Profiles__Profile PbProfile;

struct idmap {
    uint64_t from, to;
};

struct idtab {
    struct idmap *v;
    size_t n;
};

static int idmap_cmp(const void *a, const void *b)
{
    uint64_t x = ((const struct idmap *)a)->from, y = ((const struct idmap *)b)->from;
    return x < y ? -1 : x > y;
}

/* 0 for an id the file does not define. */
static uint64_t idtab_get(const struct idtab *t, uint64_t from)
{
    size_t lo = 0, hi = t->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (t->v[mid].from == from)
            return t->v[mid].to;
        if (t->v[mid].from < from)
            lo = mid + 1;
        else
            hi = mid;
    }
    return 0;
}

static void idtab_sort(struct idtab *t)
{
    if (t->n)
        qsort(t->v, t->n, sizeof *t->v, idmap_cmp);
}

/* Inflates a gzip stream of one or more members into a malloc'ed buffer. */
static int gunzip(const unsigned char *in, size_t len, unsigned char **out, size_t *outlen)
{
    z_stream zs;
    memset(&zs, 0, sizeof zs);
    if (inflateInit2(&zs, 15 + 16) != Z_OK)
        return -ENOMEM;
    size_t cap = len * 4 + 4096, n = 0;
    unsigned char *buf = malloc(cap);
    int err = buf ? 0 : -ENOMEM;
    zs.next_in = (unsigned char *)in;
    while (!err) {
        if (n == cap) {
            if (cap >= READ_MAX_BYTES) {
                err = -EFBIG;
                break;
            }
            cap = cap * 2 > READ_MAX_BYTES ? READ_MAX_BYTES : cap * 2;
            unsigned char *grown = realloc(buf, cap);
            if (!grown) {
                err = -ENOMEM;
                break;
            }
            buf = grown;
        }
        size_t left_in = len - (size_t)(zs.next_in - in);
        zs.avail_in = left_in > (1u << 30) ? (1u << 30) : (uInt)left_in;
        zs.next_out = buf + n;
        zs.avail_out = cap - n > (1u << 30) ? (1u << 30) : (uInt)(cap - n);
        uInt before = zs.avail_out;
        int r = inflate(&zs, Z_NO_FLUSH);
        n += before - zs.avail_out;
        if (r == Z_STREAM_END) {
            if ((size_t)(zs.next_in - in) == len)
                break;
            inflateReset(&zs);      /* another member follows (e.g. cat a.gz b.gz) */
        } else if (r == Z_BUF_ERROR && zs.avail_in == 0 && zs.avail_out != 0) {
            err = -EINVAL;          /* truncated */
        } else if (r != Z_OK && r != Z_BUF_ERROR) {
            err = r == Z_MEM_ERROR ? -ENOMEM : -EINVAL;
        }
    }
    inflateEnd(&zs);
    if (err) {
        free(buf);
        return err;
    }
    *out = buf;
    *outlen = n;
    return 0;
}

struct reader {
    const PbProfile *pb;
    struct pprof *p;
    struct idtab maps, funcs, locs;
};

static const char *str(const struct reader *r, int64_t ix, int *bad)
{
    if (ix < 0 || (uint64_t)ix >= r->pb->n_string_table) {
        *bad = 1;
        return "";
    }
    return r->pb->string_table[ix];
}

/* The file's kind: its sample types, period type and default sample type, as it has them. */
static int read_kind(const struct reader *r, struct pprof_kind *k)
{
    int bad = 0;
    const PbProfile *pb = r->pb;
    if (pb->n_sample_type > PPROF_MAX_VALUES)
        return -EINVAL;
    memset(k, 0, sizeof *k);
    k->nvalues = pb->n_sample_type;
    for (size_t i = 0; i < pb->n_sample_type; i++) {
        k->value[i].type = str(r, pb->sample_type[i]->type, &bad);
        k->value[i].unit = str(r, pb->sample_type[i]->unit, &bad);
    }
    if (pb->period_type) {
        k->period.type = str(r, pb->period_type->type, &bad);
        k->period.unit = str(r, pb->period_type->unit, &bad);
    }
    if (pb->default_sample_type)
        k->default_type = str(r, pb->default_sample_type, &bad);
    return bad ? -EINVAL : 0;
}

static int add_mappings(struct reader *r)
{
    int bad = 0;
    r->maps.v = calloc(r->pb->n_mapping + 1, sizeof *r->maps.v);
    if (!r->maps.v)
        return -ENOMEM;
    for (size_t i = 0; i < r->pb->n_mapping; i++) {
        const Perftools__Profiles__Mapping *m = r->pb->mapping[i];
        unsigned flags = (m->has_functions ? PPROF_HAS_FUNCTIONS : 0) |
                         (m->has_filenames ? PPROF_HAS_FILENAMES : 0) |
                         (m->has_line_numbers ? PPROF_HAS_LINE_NUMBERS : 0) |
                         (m->has_inline_frames ? PPROF_HAS_INLINE_FRAMES : 0);
        uint64_t id = pprof_mapping(r->p, m->memory_start, m->memory_limit, m->file_offset,
                                    str(r, m->filename, &bad), str(r, m->build_id, &bad), flags);
        if (!id)
            return -ENOMEM;
        r->maps.v[r->maps.n++] = (struct idmap){ m->id, id };
    }
    idtab_sort(&r->maps);
    return bad ? -EINVAL : 0;
}

static int add_functions(struct reader *r)
{
    int bad = 0;
    r->funcs.v = calloc(r->pb->n_function + 1, sizeof *r->funcs.v);
    if (!r->funcs.v)
        return -ENOMEM;
    for (size_t i = 0; i < r->pb->n_function; i++) {
        const Perftools__Profiles__Function *f = r->pb->function[i];
        uint64_t id = pprof_function(r->p, str(r, f->name, &bad), str(r, f->system_name, &bad),
                                     str(r, f->filename, &bad), f->start_line);
        if (!id)
            return -ENOMEM;
        r->funcs.v[r->funcs.n++] = (struct idmap){ f->id, id };
    }
    idtab_sort(&r->funcs);
    return bad ? -EINVAL : 0;
}

static int add_locations(struct reader *r)
{
    r->locs.v = calloc(r->pb->n_location + 1, sizeof *r->locs.v);
    if (!r->locs.v)
        return -ENOMEM;
    struct pprof_line *lines = NULL;
    size_t clines = 0;
    int err = 0;
    for (size_t i = 0; i < r->pb->n_location && !err; i++) {
        const Perftools__Profiles__Location *l = r->pb->location[i];
        uint64_t mapping = l->mapping_id ? idtab_get(&r->maps, l->mapping_id) : 0;
        if (l->mapping_id && !mapping) {
            err = -EINVAL;
            break;
        }
        if (l->n_line > clines) {
            free(lines);
            clines = l->n_line;
            if (!(lines = malloc(clines * sizeof *lines))) {
                err = -ENOMEM;
                break;
            }
        }
        for (size_t k = 0; k < l->n_line; k++) {
            lines[k].function_id = idtab_get(&r->funcs, l->line[k]->function_id);
            lines[k].line = l->line[k]->line;
            if (!lines[k].function_id)
                err = -EINVAL;
        }
        uint64_t id = err ? 0 : pprof_location(r->p, mapping, l->address, lines, l->n_line);
        if (!err && !id)
            err = -ENOMEM;
        r->locs.v[r->locs.n++] = (struct idmap){ l->id, id };
    }
    free(lines);
    idtab_sort(&r->locs);
    return err;
}

static int add_samples(struct reader *r)
{
    uint64_t *ids = NULL;
    int64_t values[PPROF_MAX_VALUES];
    struct pprof_label *labels = NULL;
    size_t cids = 0, clabels = 0;
    int err = 0, bad = 0;
    for (size_t i = 0; i < r->pb->n_sample && !err; i++) {
        const Perftools__Profiles__Sample *s = r->pb->sample[i];
        if (s->n_location_id == 0)
            continue;       /* nothing to attribute it to; the builder refuses it */
        if (s->n_location_id > cids || s->n_label > clabels) {
            free(ids);
            free(labels);
            cids = s->n_location_id > cids ? s->n_location_id : cids;
            clabels = s->n_label > clabels ? s->n_label : clabels;
            ids = malloc(cids * sizeof *ids);
            labels = malloc((clabels ? clabels : 1) * sizeof *labels);
            if (!ids || !labels) {
                err = -ENOMEM;
                break;
            }
        }
        for (size_t k = 0; k < s->n_location_id; k++)
            if (!(ids[k] = idtab_get(&r->locs, s->location_id[k])))
                err = -EINVAL;
        for (size_t k = 0; k < s->n_label; k++) {
            const Perftools__Profiles__Label *l = s->label[k];
            labels[k] = (struct pprof_label){
                .key = str(r, l->key, &bad),
                .str = l->str ? str(r, l->str, &bad) : NULL,
                .num = l->num,
                .num_unit = l->num_unit ? str(r, l->num_unit, &bad) : NULL,
            };
        }
        for (size_t k = 0; k < r->pb->n_sample_type; k++)   /* missing values are 0 */
            values[k] = k < s->n_value ? s->value[k] : 0;
        if (!err && !bad)
            err = pprof_add_sample(r->p, ids, s->n_location_id, values, labels, s->n_label);
    }
    free(ids);
    free(labels);
    return err ? err : bad ? -EINVAL : 0;
}

static int convert(struct reader *r)
{
    int err;
    if ((err = add_mappings(r)) || (err = add_functions(r)) || (err = add_locations(r)) ||
        (err = add_samples(r)))
        return err;
    pprof_set_duration(r->p, r->pb->duration_nanos);
    int bad = 0;
    for (size_t i = 0; i < r->pb->n_comment; i++)
        pprof_add_comment(r->p, str(r, r->pb->comment[i], &bad));
    return bad ? -EINVAL : 0;
}

struct pprof *pprof_read_mem(const void *buf, size_t len)
{
    const unsigned char *in = buf;
    unsigned char *raw = NULL;
    size_t rawlen = len;
    int err = 0;
    if (len >= 2 && in[0] == 0x1f && in[1] == 0x8b) {
        if ((err = gunzip(in, len, &raw, &rawlen)) != 0)
            return errno = -err, NULL;
        in = raw;
    }
    struct reader r = { 0 };
    r.pb = perftools__profiles__profile__unpack(NULL, rawlen, in);
    if (!r.pb || r.pb->n_string_table == 0 || r.pb->string_table[0][0]) {
        err = -EINVAL;      /* protobuf-c does not say why; allocation failure is rarer */
        goto out;
    }
    struct pprof_kind kind;
    if ((err = read_kind(&r, &kind)) != 0)
        goto out;
    if (!(r.p = pprof_new(&kind, r.pb->time_nanos, r.pb->period))) {
        err = -errno;
        goto out;
    }
    err = convert(&r);
out:
    if (r.pb)
        perftools__profiles__profile__free_unpacked((PbProfile *)r.pb, NULL);
    free(raw);
    free(r.maps.v);
    free(r.funcs.v);
    free(r.locs.v);
    if (err) {
        pprof_free(r.p);
        return errno = -err, NULL;
    }
    return r.p;
}

struct pprof *pprof_read_file(const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return NULL;
    struct stat st;
    unsigned char *buf = NULL;
    size_t n = 0;
    int err = 0;
    if (fstat(fd, &st) != 0) {
        err = errno;
    } else if ((uint64_t)st.st_size > READ_MAX_BYTES) {
        err = EFBIG;
    } else if (!(buf = malloc((size_t)st.st_size + 1))) {
        err = ENOMEM;
    } else {
        while (n < (size_t)st.st_size) {
            ssize_t r = read(fd, buf + n, (size_t)st.st_size - n);
            if (r < 0 && errno == EINTR)
                continue;
            if (r <= 0) {
                err = r < 0 ? errno : EIO;
                break;
            }
            n += (size_t)r;
        }
    }
    close(fd);
    struct pprof *p = err ? NULL : pprof_read_mem(buf, n);
    if (!p && !err)
        err = errno;
    free(buf);
    return p ? p : (errno = err, NULL);
}
