/* pprof_view.h -- read access to a built profile: its samples as stacks of frame names.
 * Context: library
 *
 * What the folded and flame-graph writers and goprof's summary need, without knowing the
 * builder's storage. A profile read from a file (pprof_read.h) is a built profile too, so every
 * output format works the same on the collector's profile and on a file.
 */
#ifndef GP_PPROF_VIEW_H
#define GP_PPROF_VIEW_H

#include <stddef.h>
#include <stdint.h>

#include "lib/pprof/pprof.h"

/* One frame: the function's name, or NULL for an address nothing symbolized. Inlined calls are
 * separate frames. name and file point into the profile and live as long as it does. file is
 * the function's source file name, "" when the profile has none (and NULL for an unsymbolized
 * address, or when the frame was made by the caller). */
struct pprof_frame {
    const char *name;
    uint64_t address;
    const char *file;
};

size_t pprof_sample_count(const struct pprof *p);

/* The frames of sample i, leaf first, inline frames expanded (innermost first), into
 * out[0 .. max). Returns the number of frames the sample has, which may exceed max. *count gets
 * the sample's count: its "samples" value (CPU profiles), else the value of the default sample
 * type, else of the last type (pprof's default: inuse_space for heap profiles). i must be <
 * pprof_sample_count(p). */
size_t pprof_sample_frames(const struct pprof *p, size_t i, struct pprof_frame *out, size_t max,
                           int64_t *count);

/* Calls fn for every sample in order with its frames (as pprof_sample_frames, all of them) and
 * its count; stops at the first non-zero return and returns it. 0, fn's value, or -ENOMEM. */
typedef int (*pprof_stack_fn)(void *ctx, size_t i, const struct pprof_frame *frames, size_t n,
                              int64_t count);
int pprof_each_stack(const struct pprof *p, pprof_stack_fn fn, void *ctx);
/* The same with value k of each sample as its count (pprof_value_index). */
int pprof_each_stack_value(const struct pprof *p, size_t k, pprof_stack_fn fn, void *ctx);

/* The string labels of sample i, in the order added: up to max of them into keys[] and
 * values[] (pointing into the profile). Returns how many the sample has. */
size_t pprof_sample_str_labels(const struct pprof *p, size_t i, const char **keys,
                               const char **values, size_t max);

/* The sum of every sample's count (as pprof_sample_frames; lost samples included). */
int64_t pprof_total_count(const struct pprof *p);

/* The sample types: how many, the type of the k-th ("" past the end), the index of a type
 * (-1 when the profile has none), and value k of sample i (0 past the end). */
size_t pprof_value_count(const struct pprof *p);
const char *pprof_value_type(const struct pprof *p, size_t k);
int pprof_value_index(const struct pprof *p, const char *type);
int64_t pprof_sample_value(const struct pprof *p, size_t i, size_t k);
/* The value pprof_sample_frames calls a sample's count. */
size_t pprof_count_index(const struct pprof *p);
/* The numeric label key of sample i (the first one): 1 with *num set, or 0. */
int pprof_sample_num_label(const struct pprof *p, size_t i, const char *key, int64_t *num);

int64_t pprof_duration_ns(const struct pprof *p);
int64_t pprof_period_ns(const struct pprof *p);

/* The file name of the first mapping (the main program), or "" if there is none. */
const char *pprof_main_file(const struct pprof *p);

size_t pprof_comment_count(const struct pprof *p);
const char *pprof_comment(const struct pprof *p, size_t i);

/* Writes a frame's name into buf ("0x1234" for an unsymbolized one) and returns buf, or returns
 * the name itself when it has one. buf needs 19 bytes. */
const char *pprof_frame_name(const struct pprof_frame *f, char buf[19]);

#endif
