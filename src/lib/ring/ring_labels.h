/* ring_labels.h -- reading the goroutine labels of a ring record (layout: ring.h).
 * Context: library
 */
#ifndef GP_RING_LABELS_H
#define GP_RING_LABELS_H

#include <stddef.h>
#include <stdint.h>

#include "lib/ring/ring.h"

struct ring_label {
    const uint8_t *key, *value;     /* not NUL-terminated */
    uint8_t klen, vlen, cut;        /* cut: GP_LABEL_CUT_* */
};

/* The entries of buf[0 .. len) into out[0 .. max): their number, or -1 when the bytes are not
 * a well-formed list (lengths over the bounds or past the end, more than max entries). */
int ring_labels_parse(const uint8_t *buf, size_t len, struct ring_label *out, int max);

/* The same entries sorted by key, then value, encoded as in a record into out (room for
 * GP_RING_LABEL_BYTES): one set of labels has one form whatever order the goroutine's map
 * gave. Returns the length, or -1 when the record's labels are malformed. */
int ring_labels_canonical(const uint8_t *buf, size_t len, uint8_t *out);

#endif
