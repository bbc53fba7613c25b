/* pprof_read.h -- reads a pprof file (gzipped or not) back into a profile builder.
 * Context: library
 *
 * The file's mappings, functions, locations, samples (with labels) and comments are added to a
 * new builder through pprof.h's calls, so every output (pprof_view.h, folded, flame graph)
 * works on a file exactly as on the profile the collector built. A profile written by another
 * tool is read too: its sample types, period type and default sample type are kept as they
 * are (a CPU profile reads back as pprof_kind_cpu, a heap profile as pprof_kind_heap or
 * _allocs), at most PPROF_MAX_VALUES of them.
 */
#ifndef GP_PPROF_READ_H
#define GP_PPROF_READ_H

#include <stddef.h>

#include "lib/pprof/pprof.h"

/* Decodes len bytes: a gzip stream (one or more members) or a bare protobuf message. Returns the
 * profile, or NULL with errno = EINVAL (not a valid profile), EFBIG (larger than 1 GiB
 * uncompressed) or ENOMEM. */
struct pprof *pprof_read_mem(const void *buf, size_t len);

/* pprof_read_mem on a file's content; NULL with errno from open/read too. */
struct pprof *pprof_read_file(const char *path);

#endif
