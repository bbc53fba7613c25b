/* folded.h -- writes a profile as folded stacks, one line per distinct stack.
 * Context: library
 *
 * Brendan Gregg's format, read by FlameGraph's flamegraph.pl, speedscope and others:
 *
 *     main.main;main.handleRequest;main._Cfunc_checksum_block;checksum_block;mix_bytes 196
 *
 * root first, frames separated by ';', then a space and the samples/count total of every sample
 * with that stack. A sample with the program's own labels (Go's pprof labels: every string
 * label but libgoprof's "process" and "thread_name") starts with one more root frame that
 * names them, sorted by key:
 *
 *     [labels: endpoint=/api, tenant=a];runtime.goexit;...;main.handle 12
 *
 * so the same stack under other labels is another line, and a flame graph splits by label set
 * at its root. Samples that differ only in libgoprof's labels (thread, pid) are merged. Inline frames
 * are separate frames; pseudo-frames such as "[libgoprof] lost: ring full" are kept, so the
 * counts add up to the pprof profile's sample count exactly. A ';' or a control character in a
 * name becomes '_'; an unsymbolized frame is its address, "0x4a1b2c". Lines come in the
 * order their stacks first appear in the profile, so the output is deterministic.
 */
#ifndef GP_FOLDED_H
#define GP_FOLDED_H

#include "lib/pprof/pprof.h"

/* Writes the folded stacks to fd (not closed). Returns 0 or -errno. */
int folded_write_fd(const struct pprof *p, int fd);

/* Writes them atomically to path (temporary file, fsync, rename). Returns 0 or -errno. */
int folded_write_file(const struct pprof *p, const char *path);

#endif
