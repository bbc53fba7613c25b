/* summary.h -- the short report goprof prints on stderr: totals and the top functions.
 * Context: goprof
 */
#ifndef GP_SUMMARY_H
#define GP_SUMMARY_H

#include <stdio.h>

struct pprof;

/* How many functions each table lists. */
#define SUMMARY_TOP 10

/* Writes, every line prefixed "goprof: ": the path, samples (samples/count, lost samples
 * included), how many were lost (on "[libgoprof] lost: ..." frames), the duration and rate,
 * then the top SUMMARY_TOP functions by flat (leaf) and by cum (anywhere in the stack, once per
 * sample) samples, inline frames counted as functions. Returns 0 or -ENOMEM. */
int summary_print(FILE *out, const char *path, const struct pprof *p);

/* The same totals for a folded-stacks file (GOPROF_FORMAT=folded): samples and lost samples.
 * Returns 0, or -errno if the file cannot be read, -EINVAL if a line is not "stack count". */
int summary_print_folded(FILE *out, const char *path);

#endif
