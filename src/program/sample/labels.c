/* labels.c -- copies the interrupted goroutine's pprof labels into its sample record.
 * Context: signal
 * Must not: allocate, lock, call libc, read Go's heap except through process_vm_readv (a label
 * set can be freed by the GC while we read it: a fault-safe read of stale memory at worst
 * gives bytes we then bound and validate).
 *
 * What Go's own profiler does (runtime/proc.go, sigprof): tag the sample with
 * gp.m.curg.labels, the labels of the goroutine that owns the thread, whether it is running
 * Go, in C through cgo, or on the system stack for it. g.labels points to runtime/pprof's
 * labelMap, set by pprof.Do / SetGoroutineLabels, never modified once set (a new set is a new
 * object), so a read of a live set cannot tear:
 *   Go 1.21-1.23  labelMap = map[string]string: *labelMap is a *hmap; buckets of 8 cells
 *                 { tophash [8]u8; keys [8]string; values [8]string; overflow * }, a cell
 *                 live when tophash >= 5 (evacuated cells of a growing map are marked 2-4).
 *   Go 1.24-      labelMap = struct{ list []struct{ key, value string } }, sorted by key.
 * (docs/go-runtime.md §2.4.)
 */
#include "program/sample/labels.h"

#include <sys/uio.h>

#include "lib/base/safe_read.h"
#include "program/unwind/unwind.h"   /* (the Go layout: enum go_labels_form) */

struct go_string {
    uint64_t ptr, len;
};

struct go_label {
    struct go_string key, value;
};

/* hmap (runtime/map.go, Go 1.21-1.23) */
#define HMAP_FLAGS 8
#define HMAP_B 9
#define HMAP_BUCKETS 16
#define HMAP_OLDBUCKETS 24
#define HMAP_SIZE 48
#define HMAP_SAME_SIZE_GROW 8
/* a bucket of map[string]string */
#define BUCKET_CELLS 8
#define BUCKET_KEYS 8
#define BUCKET_VALUES (8 + 16 * BUCKET_CELLS)
#define BUCKET_OVERFLOW (8 + 32 * BUCKET_CELLS)
#define BUCKET_SIZE (BUCKET_OVERFLOW + 8)
#define MIN_TOPHASH 5
/* Buckets read at most: a label set of GP_LABEL_MAX entries fits in 4 (B = 2 at load 6.5);
 * the bound only matters for huge sets, whose rest is counted as left out. */
#define MAX_BUCKETS 32

GP_SIGSAFE static int plausible(uint64_t p)
{
    return p >= 4096 && p < (1ull << 47);
}

GP_SIGSAFE static uint64_t word_at(const uint8_t *b, int off)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = v << 8 | b[off + i];
    return v;
}

/* Up to GP_LABEL_MAX labels of a Go 1.24+ set; *total: how many it has. */
GP_SIGSAFE static int slice_labels(int pid, uint64_t set, struct go_label *out, uint64_t *total)
{
    uint64_t hdr[3];   /* list: ptr, len, cap */
    if (safe_read_slow(pid, hdr, set, sizeof hdr) != 0 || hdr[1] > hdr[2] ||
        hdr[1] > (1u << 24) || (hdr[1] && !plausible(hdr[0])))
        return -1;
    *total = hdr[1];
    int n = hdr[1] < GP_LABEL_MAX ? (int)hdr[1] : GP_LABEL_MAX;
    if (n && safe_read_slow(pid, out, hdr[0], (size_t)n * sizeof *out) != 0)
        return -1;
    return n;
}

/* The live cells of one bucket array (and its overflow chains) into out[*n...]. */
GP_SIGSAFE static int map_buckets(int pid, uint64_t arr, uint64_t nbuckets, struct go_label *out,
                                  int *n, int *budget)
{
    uint8_t b[BUCKET_SIZE];
    for (uint64_t i = 0; i < nbuckets; i++) {
        uint64_t at = arr + i * BUCKET_SIZE;
        while (at) {
            if (--*budget < 0 || !plausible(at) || safe_read_slow(pid, b, at, sizeof b) != 0)
                return -1;
            for (int c = 0; c < BUCKET_CELLS && *n < GP_LABEL_MAX; c++) {
                if (b[c] < MIN_TOPHASH)
                    continue;
                struct go_label *l = &out[(*n)++];
                l->key.ptr = word_at(b, BUCKET_KEYS + 16 * c);
                l->key.len = word_at(b, BUCKET_KEYS + 16 * c + 8);
                l->value.ptr = word_at(b, BUCKET_VALUES + 16 * c);
                l->value.len = word_at(b, BUCKET_VALUES + 16 * c + 8);
            }
            if (*n == GP_LABEL_MAX)
                return 0;
            at = word_at(b, BUCKET_OVERFLOW);
        }
    }
    return 0;
}

/* Up to GP_LABEL_MAX labels of a Go 1.21-1.23 set; *total: how many it has. */
GP_SIGSAFE static int map_labels(int pid, uint64_t set, struct go_label *out, uint64_t *total)
{
    uint64_t hmap;
    uint8_t h[HMAP_SIZE];
    if (safe_read_slow(pid, &hmap, set, 8) != 0 || hmap == 0)
        return hmap == 0 ? 0 : -1;   /* a nil map: no labels */
    if (!plausible(hmap) || safe_read_slow(pid, h, hmap, sizeof h) != 0)
        return -1;
    uint64_t count = word_at(h, 0), buckets = word_at(h, HMAP_BUCKETS);
    uint64_t old = word_at(h, HMAP_OLDBUCKETS);
    unsigned lgb = h[HMAP_B];
    if (count > (1u << 24) || lgb > 24)
        return -1;
    *total = count;
    int n = 0, budget = MAX_BUCKETS;
    if (count == 0 || !buckets)
        return 0;
    /* A map still growing: cells not yet moved are live in the old array, moved ones are
     * marked there (tophash 2-4) and live in the new one. */
    if (old) {
        uint64_t nold = (h[HMAP_FLAGS] & HMAP_SAME_SIZE_GROW) || lgb == 0 ? 1ull << lgb
                                                                          : 1ull << (lgb - 1);
        if (map_buckets(pid, old, nold, out, &n, &budget) != 0)
            return n;
    }
    if (n < GP_LABEL_MAX)
        (void)map_buckets(pid, buckets, 1ull << lgb, out, &n, &budget);
    return n;
}

/* labels_copy for a goroutine with a label set. Apart, so that the common case (none: a C
 * thread, a goroutine without labels) does not pay for this one's 1.6 KiB frame. */
GP_SIGSAFE static __attribute__((noinline)) void copy_set(struct ring_record_head *h,
                                                          uint8_t *labels, int pid, int form,
                                                          uint64_t set)
{
    struct go_label l[GP_LABEL_MAX];
    uint64_t total = 0;
    int n = form == GO_LABELS_SLICE ? slice_labels(pid, set, l, &total)
            : form == GO_LABELS_MAP ? map_labels(pid, set, l, &total)
                                    : -1;
    if (n < 0) {
        h->labels_left = 0xffff;   /* it had labels we could not read */
        return;
    }
    /* One read for every key and value: entries { klen, vlen, cut, key, value }. */
    struct iovec local[2 * GP_LABEL_MAX], remote[2 * GP_LABEL_MAX];
    int kept = 0, niov = 0;
    unsigned off = 0;
    for (int i = 0; i < n; i++) {
        uint64_t klen = l[i].key.len < GP_LABEL_KEY_MAX ? l[i].key.len : GP_LABEL_KEY_MAX;
        uint64_t vlen = l[i].value.len < GP_LABEL_VALUE_MAX ? l[i].value.len : GP_LABEL_VALUE_MAX;
        if ((klen && !plausible(l[i].key.ptr)) || (vlen && !plausible(l[i].value.ptr)) ||
            l[i].key.len > (1u << 30) || l[i].value.len > (1u << 30) ||
            off + 3 + klen + vlen > GP_RING_LABEL_BYTES)
            break;
        uint8_t *e = labels + off;
        e[0] = (uint8_t)klen;
        e[1] = (uint8_t)vlen;
        e[2] = (uint8_t)((klen < l[i].key.len ? GP_LABEL_CUT_KEY : 0) |
                         (vlen < l[i].value.len ? GP_LABEL_CUT_VALUE : 0));
        local[niov] = (struct iovec){ e + 3, klen };
        remote[niov++] = (struct iovec){ (void *)(uintptr_t)l[i].key.ptr, klen };
        local[niov] = (struct iovec){ e + 3 + klen, vlen };
        remote[niov++] = (struct iovec){ (void *)(uintptr_t)l[i].value.ptr, vlen };
        kept++;
        off += 3 + (unsigned)(klen + vlen);
    }
    long got = niov ? safe_read_pieces(pid, local, remote, niov) : 0;
    /* Keep the entries read whole: the pieces are read in order, so the bytes read cover a
     * prefix of the entries' strings. */
    unsigned end = 0;
    long strings = 0;
    int whole = 0;
    for (; whole < kept; whole++) {
        const uint8_t *e = labels + end;
        strings += e[0] + e[1];
        if (got < strings)
            break;
        end += 3u + e[0] + e[1];
    }
    h->labels_len = (uint16_t)end;
    uint64_t left = total - (uint64_t)whole;
    h->labels_left = left < 0xffff ? (uint16_t)left : 0xffff;
}

GP_SIGSAFE void labels_copy(struct ring_record_head *h, uint8_t *labels, int pid, int form,
                            uint64_t set)
{
    h->labels_len = 0;
    h->labels_left = 0;
    if (set && plausible(set))
        copy_set(h, labels, pid, form, set);
}
