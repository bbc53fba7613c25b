/* labels.h -- the interrupted goroutine's pprof labels, copied into its sample record.
 * Context: signal
 * Must not: allocate, lock, call libc.
 */
#ifndef GP_LABELS_H
#define GP_LABELS_H

#include <stdint.h>

#include "lib/base/sigsafe.h"
#include "lib/ring/ring.h"

/* Fills labels[] (GP_RING_LABEL_BYTES) and h->labels_len and labels_left from the label set at `set` (the value of
 * g.labels; 0: none), kept in `form` (enum go_labels_form, lib/go/goruntime.h). At most GP_LABEL_MAX labels, each
 * key and value cut to GP_LABEL_KEY_MAX / GP_LABEL_VALUE_MAX bytes (and marked so); what does
 * not fit, or cannot be read, is counted in labels_left (0xffff: the set was unreadable).
 * Never faults: every read of Go's memory goes through process_vm_readv on pid (our own). */
GP_SIGSAFE void labels_copy(struct ring_record_head *h, uint8_t *labels, int pid, int form,
                            uint64_t set);

#endif
