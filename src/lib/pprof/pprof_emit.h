/* pprof_emit.h -- serializes a built profile as a stream of protobuf chunks.
 * Context: library
 *
 * Internal to src/lib/pprof/pprof*.c; other modules call pprof_write_file/pprof_write_fd.
 */
#ifndef GP_PPROF_EMIT_H
#define GP_PPROF_EMIT_H

#include <protobuf-c/protobuf-c.h>

#include "lib/pprof/pprof_impl.h"

/* Packs p into out as concatenated Profile messages (which decode as their merge): a header
 * chunk with time_nanos, sample batches, mappings, location batches, function batches, then the
 * string table. Returns 0 or -ENOMEM (scratch space for the message view). p is not modified. */
int pprof_emit(const struct pprof *p, ProtobufCBuffer *out);

#endif
