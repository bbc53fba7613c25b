/* ring.h -- the shared-memory sample ring between signal handlers and the collector.
 * Context: library (the writer's functions are signal-safe: see each function)
 *
 * Roles. Many writers: the SIGPROF handler on any thread of one process. One reader: the
 * collector, a separate process, which maps the same memfd (every process of a session has its
 * own ring: program/preload/tree_join.c hands it over). The region holds no pointers, only
 * fixed-width integers.
 *
 * Trust. The reader treats the region as written by anyone: it checks the header once
 * (ring_attach: magic, version, slot size, slot count against the sealed file's size) and then
 * uses only its own copies of the geometry and of its read position; records are validated
 * before use and no loop runs longer than the ring is large. A process can at worst spoil its
 * own samples.
 *
 * Layout. A header (struct ring_header, two pages) followed by nslots fixed-size slots
 * (struct ring_slot), then the free log (below). Fixed slots, not variable records, because a
 * writer that dies mid-record (the application is SIGKILLed while a handler runs) must not make
 * the rest unreadable: the reader can always step over a slot it cannot trust.
 *
 * The free log. The free of a sampled C heap block (C memory profiling) says only which block:
 * it goes into a log of 32-byte entries (struct ring_free, GP_RING_FREES_PER_SLOT per slot),
 * with the same protocol as the slots, instead of a whole slot. Its order against the records
 * is given by the ring's head, which the entry carries: the reader applies an entry only once
 * it has read every record before that position, and applies it to the block at that address
 * whose record lies before it (a block allocated there since is newer: its record was reserved
 * after the free). So the two queues need no common order, and a free costs a writer one half
 * cache line where a slot costs two lines and a fresh page.
 *
 * Sequence protocol (a bounded MPSC queue after D. Vyukov). Every slot carries a 64-bit seq.
 * Initially slot[i].seq = i. Positions are 64-bit and never wrap in practice (2^64 samples).
 * Stored relative: slot i holds seq - i (ring_seq_load/ring_seq_store), so the all-zero pages
 * of a fresh memfd are the initial state and a process that never samples touches no slot.
 *   writer:  pos = head; loop { seq = slot[pos & mask].seq (acquire);
 *                               seq == pos  -> CAS head pos->pos+1; on success the slot is ours;
 *                               seq <  pos  -> the reader has not freed it: ring full, drop;
 *                               seq >  pos  -> another writer took pos: reload head }
 *            fill the slot; slot.seq = pos + 1 (release)            -- "committed"
 *   reader:  pos = tail; seq = slot[pos & mask].seq (acquire);
 *            seq == pos + 1 -> consume; slot.seq = pos + nslots (release); tail = pos + 1
 *            seq == pos     -> not committed yet: stop for now
 * A writer never waits for the reader or for another writer: the only loop is the CAS retry,
 * which fails only when another writer made progress. There is no ABA: a slot's seq grows by
 * nslots per lap and positions are never reused.
 *
 * Full ring: the sample is dropped and its weight added to drops[GP_DROP_RING_FULL]; the
 * collector turns every non-zero drop counter into a visible pseudo-frame in the profile.
 *
 * A writer stalled mid-record blocks the reader at that slot (later slots wait, none are lost).
 * When the application is gone (its writers can never finish), ring_reader_skip_stalled() steps
 * over such slots and counts them under GP_DROP_TORN.
 *
 * Sizes. A slot is 8 KiB: its seq and a 56-byte record header in one cache line,
 * GP_RING_LABEL_BYTES (896) of goroutine labels and GP_RING_MAX_FRAMES (896) PCs. Fixed slots
 * rather than variable-length records (docs/architecture.md, "Records"): a slot is touched page
 * by page, and a record with up to 384 frames and short labels touches only its slot's first
 * page, so what is resident is what variable records would use for the stacks programs have,
 * while a deep stack still fits whole. The default 1024 slots (GOPROF_RING_SLOTS, lib/config; 8
 * MiB mapped, about 4 MiB resident for stacks under 384 frames) hold 1024 samples: 10
 * thread-seconds at 100 Hz, or 32 busy threads at the kernel's 250 Hz tick cap for 128 ms; the
 * collector drains every 50 ms and again at once when a drain found the ring more than a
 * quarter full (with C memory profiling, as often as the records' rate needs: collector.c).
 * The free log after them has 8 entries a slot (256 KiB for 1024 slots), its
 * pages touched only by C memory profiling.
 *
 * A stack deeper than GP_RING_MAX_FRAMES keeps its GP_RING_LEAF_FRAMES frames nearest the leaf
 * and the rest nearest the root, with one GP_PC_ELIDED word between them that says how many
 * frames were left out (program/unwind/unwind.c).
 *
 * Labels are the interrupted goroutine's pprof labels, copied in the handler
 * (program/sample/labels.c): labels_len bytes of entries { u8 klen, u8 vlen, u8 cut, key bytes, value bytes },
 * cut bit 0: the key was cut to klen bytes, bit 1: the value was cut to vlen bytes;
 * labels_left: how many of the goroutine's labels did not fit.
 */
#ifndef GP_RING_H
#define GP_RING_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/base/record_flags.h"
#include "lib/base/sigsafe.h"
#include "lib/ring/cost_hist.h"

_Static_assert(ATOMIC_LLONG_LOCK_FREE == 2, "64-bit atomics must be lock-free in shared memory");

#define GP_RING_MAGIC 0x676f7072u  /* "gopr" */
#define GP_RING_VERSION 8u
#define GP_RING_MAX_FRAMES 896
#define GP_RING_LEAF_FRAMES 384     /* of a deeper stack, kept at the leaf end */
#define GP_RING_LABEL_BYTES 896
#define GP_LABEL_KEY_MAX 64         /* bytes of a label's key copied, at most */
#define GP_LABEL_VALUE_MAX 160      /* bytes of a label's value copied, at most */
#define GP_LABEL_MAX 16             /* labels copied, at most */
#define GP_LABEL_CUT_KEY 1u
#define GP_LABEL_CUT_VALUE 2u


/* Why CPU time the timer measured is not in a sample. Each reason becomes a pseudo-frame
 * "[libgoprof] <ring_drop_label>" in the profile. All but the last are samples the handler
 * took and lost ("lost: ..."); GP_DROP_THREAD_EXIT is CPU time the kernel never signalled
 * ("unsampled: ..."), counted apart so that "lost" keeps meaning lost. */
enum gp_drop_reason {
    GP_DROP_RING_FULL,    /* no free slot */
    GP_DROP_TORN,         /* writer died mid-record (application killed) */
    GP_DROP_BAD_RECORD,   /* the reader found a record it could not trust */
    GP_DROP_THREAD_EXIT,  /* unsampled: a thread ended before the kernel's tick delivered its
                           * expiries (sample/timer.c: sample_thread_stop) */
    GP_DROP_MAX
};

/* C memory profiling's losses (GOPROF_HEAP_RATE), counted apart from the CPU drops above so
 * that a CPU profile's totals stay CPU samples. Counts of events, not weights. */
enum gp_heap_drop_reason {
    GP_HEAP_DROP_RING_FULL,  /* a sampled allocation not recorded: no free slot */
    GP_HEAP_DROP_SET_FULL,   /* a sampled allocation not recorded: the table of sampled blocks
                              * (program/sample/heap_set.h) was full */
    GP_HEAP_DROP_FREE_LOST,  /* the free or move of a recorded block not recorded (ring full):
                              * the collector still counts that block as allocated */
    GP_HEAP_DROP_MAX
};


/* The header (56 bytes) shares the slot's first cache line with its seq, and a short stack
 * (up to 8 frames) fills one more line: a record without labels costs its writer two lines. */
struct ring_record {
    uint32_t tid;
    uint32_t weight;        /* 1 + timer overruns (heap events: 1); 0: a slot its writer gave
                             * up after reserving it (readers skip it) */
    uint16_t nframes;
    uint16_t flags;         /* GP_REC_* (base/record_flags.h) */
    uint16_t labels_len;    /* bytes used in labels[] */
    uint16_t labels_left;   /* labels the goroutine had that are not in labels[] */
    union {
        uint64_t goid;      /* goroutine id, 0 when unknown or not on a goroutine */
        uint64_t heap_old;  /* a move (GP_REC_HEAP_MOVE, which has no goroutine): the
                             * address the block had */
    };
    char thread_name[16];   /* prctl(PR_GET_NAME), NUL-padded */
    /* Heap events (GP_REC_HEAP_*), 0 otherwise: the block's address and requested size. */
    uint64_t heap_addr, heap_size;
    uint8_t labels[GP_RING_LABEL_BYTES];
    uint64_t pc[GP_RING_MAX_FRAMES];   /* leaf first; GP_PC_EXACT marks exact PCs */
};

struct ring_slot {
    _Atomic uint64_t seq;
    struct ring_record rec;
    uint64_t pad[8];
};
_Static_assert(__builtin_offsetof(struct ring_slot, rec.labels) == 64,
               "the seq and the record's header: one cache line");
_Static_assert(sizeof(struct ring_slot) == 8192, "a slot is 8 KiB");

struct ring_header {
    /* immutable after init */
    uint32_t magic;
    uint32_t version;
    uint32_t slot_size;
    uint32_t nslots;        /* power of two */
    uint64_t mask;
    uint64_t pad0[5];
    /* writers (atomic) */
    _Atomic uint64_t head;
    uint64_t pad1[7];       /* keep head off the reader's cache line */
    _Atomic uint64_t drops[GP_DROP_MAX];   /* summed weights of lost samples */
    /* in what was padding (zero in rings of writers that know nothing of heap events) */
    _Atomic uint64_t heap_drops[GP_HEAP_DROP_MAX];
    /* threads whose CPU timer could not be made (timer_create or timer_settime failed: their
     * CPU time reaches the profile only as unsampled), and the errno of the last failure */
    _Atomic uint32_t timers_failed, timer_errno;
    uint64_t pad2[6 - GP_HEAP_DROP_MAX];
    /* time spent in our handler per sample, and in the handler we forward other SIGPROFs to:
     * per-thread timer signals (SI_TIMER: what Go's profiler samples on), and the others
     * (setitimer's SI_KERNEL, which Go's handler drops on threads that have a timer) */
    struct cost_hist handler_cost;
    struct cost_hist forward_cost;
    struct cost_hist forward_other_cost;
    /* the reader's position, published for debugging only: the reader keeps its own */
    _Atomic uint64_t tail;
    /* the free log, after the slots: free_entries entries (a power of two, immutable) */
    uint32_t free_entries;
    uint32_t pad3;
    uint64_t pad4[6];
    _Atomic uint64_t free_head;   /* writers; a line of its own */
    uint64_t pad5[7];
    _Atomic uint64_t free_tail;   /* published for debugging, as tail */
};

/* An entry of the free log: a sampled block was freed. pos is the ring's head when it was: the
 * record that made the block (its ALLOC or MOVE) was reserved before that, so its position is
 * below pos; a later block at the same address has its record at pos or after. */
struct ring_free {
    _Atomic uint64_t seq;   /* relative, as a slot's */
    uint64_t addr;
    uint64_t pos;
    uint64_t pad;
};
_Static_assert(sizeof(struct ring_free) == 32, "two free entries a cache line");
/* The slots and the log's entries run the same protocol on a seq at their start
 * (ring_writer.c and ring_reader.c share one claim, read and skip for both). */
_Static_assert(__builtin_offsetof(struct ring_slot, seq) == 0 &&
               __builtin_offsetof(struct ring_free, seq) == 0, "seq first");
#define GP_RING_FREES_PER_SLOT 8   /* entries of the free log per slot of the ring */

/* One process's view of a ring. Geometry and tail are private copies: the reader never takes
 * them from shared memory again after ring_attach. */
struct ring {
    struct ring_header *hdr;
    struct ring_slot *slots;
    struct ring_free *frees;
    size_t map_size;
    uint64_t mask;          /* nslots - 1 */
    uint32_t nslots;
    uint32_t nfrees;        /* entries of the free log */
    uint64_t free_mask;     /* nfrees - 1 */
    uint64_t tail;          /* reader only */
    uint64_t free_tail;     /* reader only */
    uint32_t touched;       /* reader only: slots whose first page ring_reader_touch allocated */
};

/* The stored seq of slot or entry idx is seq - idx: zero-filled memory is a fresh ring. */
static inline uint64_t ring_seq_load(_Atomic uint64_t *seq, uint64_t idx)
{
    return atomic_load_explicit(seq, memory_order_acquire) + idx;
}
static inline void ring_seq_store(_Atomic uint64_t *seq, uint64_t idx, uint64_t v)
{
    atomic_store_explicit(seq, v - idx, memory_order_release);
}
/* The seq of element idx of a queue of stride-byte elements at base (slots or log entries). */
static inline _Atomic uint64_t *ring_seq_at(void *base, size_t stride, uint64_t idx)
{
    return (_Atomic uint64_t *)((char *)base + idx * stride);
}

/* Creates a ring of nslots (rounded up to a power of two) in a sealed memfd (size fixed) and
 * maps it, pages untouched until used. *fd: the memfd (O_CLOEXEC), to hand to the collector.
 * Context: program. Returns 0 or -errno. */
int ring_create(struct ring *r, uint32_t nslots, int *fd);
/* Reader: maps the ring in fd (another process's), which must be sealed against shrinking,
 * and checks it (ring_check). 0, or -errno with why filled. */
int ring_attach(struct ring *r, int fd, char *why, size_t whysz);
void ring_destroy(struct ring *r);

/* Writer side. Context: signal. ring_reserve returns the record to fill, or NULL when the ring
 * is full (the caller then calls ring_drop). ring_commit publishes it. */
GP_SIGSAFE struct ring_record *ring_reserve(struct ring *r, uint64_t *pos);
GP_SIGSAFE void ring_commit(struct ring *r, uint64_t pos);
/* Asks for the lines of the record after pos (its seq and header, its first PCs): a slot was
 * last touched a lap ago, so each is a cache and TLB miss for its writer. For a writer whose next
 * record comes soon (C memory sampling: ~20 us apart in a fast allocator), fetched now they
 * arrive while the program runs on; the SIGPROF handler's next sample is milliseconds away,
 * so it does not ask. A prefetch never faults (an untouched page of a fresh ring is not
 * fetched). */
GP_SIGSAFE void ring_prefetch_next(struct ring *r, uint64_t pos);
GP_SIGSAFE void ring_drop(struct ring *r, enum gp_drop_reason why, uint64_t weight);
/* A heap event lost (C memory profiling): counted in hdr->heap_drops[why]. */
GP_SIGSAFE void ring_heap_drop(struct ring *r, enum gp_heap_drop_reason why);
/* The free of sampled block addr, into the free log, with the ring's head as its position.
 * Call after the block left the table of sampled blocks (whose removal synchronizes with the
 * insert that followed its record's reservation). 0, or -1 when the log is full (the caller
 * counts the loss). */
GP_SIGSAFE int ring_log_free(struct ring *r, uint64_t addr);

/* Reader side. Context: collector.
 * ring_check: whether this reader understands r: magic, version, slot size, and a slot count
 * (a power of two, with its mask) that fits the mapping; copies the geometry into r. 0, or
 * -EPROTO with why (e.g. "has version 2, this reader reads 4") filled. Called once before the
 * first read (ring_attach does). */
int ring_check(struct ring *r, char *why, size_t whysz);
/* ring_read calls fn for each committed record in order and
 * frees its slot; returns the number consumed. A record that fails validation is counted under
 * GP_DROP_BAD_RECORD and skipped. */
typedef void (*ring_record_fn)(const struct ring_record *rec, uint64_t pos, void *ctx);
size_t ring_read(struct ring *r, ring_record_fn fn, void *ctx);
/* The same, at most max records (and at most a lap): a reader that also reads the free log
 * goes back and forth in steps, so that frees meet their blocks soon after the records. */
size_t ring_read_max(struct ring *r, size_t max, ring_record_fn fn, void *ctx);
/* Calls fn for each committed entry of the free log, in order, as long as every record before
 * the entry's position has been read (pos <= the reader's tail: a later one waits for the next
 * call, after ring_read), and frees it; returns the number consumed. An entry whose position is
 * past the ring's head (no honest writer makes one) is dropped, counted as a lost free. */
typedef void (*ring_free_fn)(uint64_t addr, uint64_t pos, void *ctx);
size_t ring_read_frees(struct ring *r, ring_free_fn fn, void *ctx);
/* Only when no writer can ever finish (the process is gone or replaced): steps over reserved
 * but uncommitted slots (at most one lap), counting them as GP_DROP_TORN, and over such entries
 * of the free log, counted as lost frees. Returns how many slots it skipped. */
size_t ring_reader_skip_stalled(struct ring *r);
/* First lap only: allocates the first page of the slots the writers will reach next (up to
 * `ahead` slots past head), by an atomic add of 0 to the slot's seq (a write that changes
 * nothing, whatever a writer does meanwhile), so that the handler's
 * first write to a slot finds its page in the page cache (a minor fault) instead of allocating
 * and zeroing it in the signal handler. Slots never reached are never touched. */
void ring_reader_touch(struct ring *r, uint32_t ahead);
/* The pseudo-frame's text after "[libgoprof] ", e.g. "lost: ring full". */
const char *ring_drop_label(enum gp_drop_reason why);
/* 1 for samples taken and lost, 0 for CPU time never sampled (GP_DROP_THREAD_EXIT). */
int ring_drop_is_loss(enum gp_drop_reason why);

#endif
