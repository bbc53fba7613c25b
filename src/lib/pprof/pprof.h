/* pprof.h -- builds a profile in pprof's protobuf format and writes it gzipped.
 * Context: library
 *
 * Three phases, as Go's runtime/pprof profileBuilder: pprof_new(), then any number of
 * pprof_mapping/function/location/add_sample calls, then pprof_write_file() or pprof_write_fd()
 * (repeatable; the builder is not consumed), then pprof_free().
 *
 * Ids are assigned first-seen starting at 1, and strings are interned first-seen, so the same
 * sequence of calls gives byte-identical output. The builder copies every string and array it
 * is given; nothing passed in needs to outlive the call. Not thread-safe.
 *
 * What the values mean is the profile's kind (struct pprof_kind): its sample types, in order,
 * its period type, and optionally its default sample type. pprof_kind_cpu is Go's CPU profile
 * ([samples/count, cpu/nanoseconds], period cpu/nanoseconds); pprof_kind_heap and
 * pprof_kind_allocs are Go's heap profile (runtime/pprof protomem.go: [alloc_objects/count,
 * alloc_space/bytes, inuse_objects/count, inuse_space/bytes], period space/bytes), the latter
 * with default_sample_type alloc_space as Go's /debug/pprof/allocs. Every sample has one value
 * per sample type. Samples are written in the order added and are not merged: aggregate
 * identical (stack, labels) pairs before calling pprof_add_sample (pprof would merge
 * duplicates at analysis time anyway, but they cost space).
 */
#ifndef GP_PPROF_H
#define GP_PPROF_H

#include <stddef.h>
#include <stdint.h>

struct pprof;

/* Mapping.has_* flags for pprof_mapping(). Set has_functions for a mapping whose locations are
 * symbolized here: pprof never re-symbolizes such a mapping. */
#define PPROF_HAS_FUNCTIONS     (1u << 0)
#define PPROF_HAS_FILENAMES     (1u << 1)
#define PPROF_HAS_LINE_NUMBERS  (1u << 2)
#define PPROF_HAS_INLINE_FRAMES (1u << 3)

/* Sample types at most. */
#define PPROF_MAX_VALUES 8

struct pprof_value_type {
    const char *type, *unit;            /* e.g. "cpu", "nanoseconds" */
};

/* The meaning of a profile's values. The strings are interned in this order when the builder
 * is made (each sample type's type and unit, then the period type's), so a kind always gives
 * the same string table prefix. */
struct pprof_kind {
    size_t nvalues;                     /* sample types, at most PPROF_MAX_VALUES */
    struct pprof_value_type value[PPROF_MAX_VALUES];
    struct pprof_value_type period;
    const char *default_type;           /* NULL: unset (pprof then shows the last type) */
};

extern const struct pprof_kind pprof_kind_cpu;      /* samples/count, cpu/nanoseconds */
extern const struct pprof_kind pprof_kind_heap;     /* Go's heap profile */
extern const struct pprof_kind pprof_kind_allocs;   /* the same, default alloc_space */

/* A profile of the given kind (copied). time_nanos: profile start, ns since the epoch (0 =
 * unset). period: the sampling period in the period type's unit (10000000 ns at 100 Hz; the
 * mean bytes between samples for heap profiles). Returns NULL with errno = ENOMEM, or EINVAL
 * for more than PPROF_MAX_VALUES sample types. */
struct pprof *pprof_new(const struct pprof_kind *kind, int64_t time_nanos, int64_t period);

/* Accepts NULL. */
void pprof_free(struct pprof *p);

void pprof_set_duration(struct pprof *p, int64_t duration_ns);

/* Adds a mapping (one executable line of /proc/self/maps; the first one added is shown by pprof
 * as the main binary). file and build_id may be NULL. has_flags: PPROF_HAS_*.
 * Returns the mapping id (>= 1), or 0 with errno = ENOMEM. Not deduplicated. */
uint64_t pprof_mapping(struct pprof *p, uint64_t start, uint64_t limit, uint64_t offset,
                       const char *file, const char *build_id, unsigned has_flags);

/* Replaces the has_* flags of a mapping (PPROF_HAS_*): a symbolizer knows them only after its
 * lookups, and locations need the mapping id before. Returns 0 or -EINVAL for an unknown id. */
int pprof_mapping_set_flags(struct pprof *p, uint64_t mapping_id, unsigned has_flags);

/* Returns the id (>= 1) of the function (name, system_name, filename, start_line), adding it if
 * new; NULL strings are treated as "". Returns 0 with errno = ENOMEM. */
uint64_t pprof_function(struct pprof *p, const char *name, const char *system_name,
                        const char *filename, int64_t start_line);

struct pprof_line {
    uint64_t function_id;   /* from pprof_function() */
    int64_t line;           /* 0 = unknown */
};

/* Adds a location. mapping_id is 0 (none) or from pprof_mapping(). address: the PC for a leaf,
 * return address - 1 for callers. lines: innermost inlined frame first, the physical function
 * last; nlines may be 0 (pprof then shows the raw address). Not deduplicated: callers keep their
 * own PC -> id map. Returns the location id (>= 1), or 0 with errno = ENOMEM, or EINVAL for an
 * unknown mapping or function id. */
uint64_t pprof_location(struct pprof *p, uint64_t mapping_id, uint64_t address,
                        const struct pprof_line *lines, size_t nlines);

/* A sample label. str != NULL makes a string label; str == NULL a numeric one with num and the
 * optional num_unit (NULL = none; pprof then uses the key as the unit).
 * pprof silently DROPS a numeric label whose num is 0 and that has no num_unit, and a string
 * label whose str is "": callers must not rely on such labels (thread ids are never 0; give
 * counters a unit). Keys starting with "pprof::" are reserved by pprof. */
struct pprof_label {
    const char *key;
    const char *str;
    int64_t num;
    const char *num_unit;
};

/* Adds one sample: location_ids leaf first (ids from pprof_location()), values one per sample
 * type of the profile's kind (for pprof_kind_cpu: count, cpu_ns). Returns 0, -ENOMEM, or
 * -EINVAL for n == 0, an unknown location id or a label without a key; on error nothing is
 * added. */
int pprof_add_sample(struct pprof *p, const uint64_t *location_ids, size_t n,
                     const int64_t *values, const struct pprof_label *labels, size_t nlabels);

/* Adds a free-text comment (shown in the -top/-raw header). On allocation failure the comment is
 * dropped and a line is logged: comments are informational. */
void pprof_add_comment(struct pprof *p, const char *text);

/* Writes the profile gzipped to path atomically (temporary file in the same directory, fsync,
 * rename). Returns 0 or -errno; on error path is untouched and no temporary file remains. */
int pprof_write_file(struct pprof *p, const char *path);

/* Writes the gzipped profile to an open fd (not closed, not fsynced). Returns 0 or -errno. */
int pprof_write_fd(struct pprof *p, int fd);

#endif
