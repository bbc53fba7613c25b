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
 * Layout. A header (struct ring_header, two pages), then nslots slots of 1 KiB (struct
 * ring_slot: the seq, the record's head and its first GP_RING_SLOT_FRAMES frames), then as many
 * spills of 7 KiB (struct ring_spill: the record's labels and the rest of its frames), then,
 * with C memory profiling, the table of its counts by stack (lib/ring/heap_buckets.h: C memory
 * events are counted in the program, not sent as records). A record is a slot and its spill:
 * 8 KiB, room for a deep stack whole. Apart because a page is allocated when it is first
 * written: a record of up to 120 frames without labels writes only its slot, and four slots
 * share a page, so the ring's first lap (each page's first write: a page fault, 10-17 us on the
 * development VM) takes a fault every fourth sample rather than every one, and the pages
 * resident for such stacks are a quarter of what one page a record would be. Fixed slots, not
 * variable records, because a writer that dies mid-record (the application is SIGKILLed while
 * a handler runs) must not make the rest unreadable: the reader can always step over a slot it
 * cannot trust.
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
 * Sizes. A record holds GP_RING_MAX_FRAMES (896) PCs and GP_RING_LABEL_BYTES (896) of
 * goroutine labels: the slot has its head (40 bytes, with the seq in one cache line) and its
 * first 120 PCs, the spill its labels and the other 776 PCs. The default 1024 slots
 * (GOPROF_RING_SLOTS, lib/config; 8 MiB mapped, 1 MiB resident for stacks of up to 120
 * frames without labels, a page more for each record with labels or deeper) hold 1024
 * samples: 10 thread-seconds at 100 Hz, or 32 busy threads at the kernel's 250 Hz tick cap
 * for 128 ms; the collector drains before a quarter of the smallest ring can have filled at
 * the most the CPUs can sample (10-250 ms: collector.c, drain_period_ms) and again at once when
 * a drain found the ring more than a quarter full.
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
#include "lib/ring/heap_buckets.h"

_Static_assert(ATOMIC_LLONG_LOCK_FREE == 2, "64-bit atomics must be lock-free in shared memory");

#define GP_RING_MAGIC 0x676f7072u  /* "gopr" */
#define GP_RING_VERSION 12u
#define GP_RING_MAX_FRAMES 896
#define GP_RING_LEAF_FRAMES 384     /* of a deeper stack, kept at the leaf end */
#define GP_RING_LABEL_BYTES 896
#define GP_LABEL_KEY_MAX 64         /* bytes of a label's key copied, at most */
#define GP_LABEL_VALUE_MAX 160      /* bytes of a label's value copied, at most */
#define GP_LABEL_MAX 16             /* labels copied, at most */
#define GP_LABEL_CUT_KEY 1u
#define GP_LABEL_CUT_VALUE 2u


/* Why CPU time the timer measured is not in a sample. Each reason becomes a pseudo-frame
 * "[libgoprof] <ring_drop_label>" in the profile. All but the last two are samples the handler
 * took and lost ("lost: ..."); the last two are CPU time no handler saw ("unsampled: ..."),
 * counted apart so that "lost" keeps meaning lost. */
enum gp_drop_reason {
    GP_DROP_RING_FULL,    /* no free slot */
    GP_DROP_TORN,         /* writer died mid-record (application killed) */
    GP_DROP_BAD_RECORD,   /* the reader found a record it could not trust */
    GP_DROP_THREAD_EXIT,  /* unsampled: a thread ended before the kernel's tick delivered its
                           * expiries (sample/timer.c: sample_thread_stop) */
    GP_DROP_SIGPROF_BLOCKED,  /* unsampled: the thread blocked SIGPROF and took our timer's
                               * signal itself (sigwait, signalfd: sample/blocked.c) */
    GP_DROP_MAX
};

/* What C memory profiling (GOPROF_HEAP_RATE) could not follow, counted apart from the CPU
 * drops above so that a CPU profile's totals stay CPU samples. Counts of events. */
enum gp_heap_drop_reason {
    GP_HEAP_DROP_SET_FULL,    /* a sampled allocation counted, but not followed to its free:
                               * the table of sampled blocks (program/sample/heap_set.h) was
                               * full, so it counted as freed at once (not in in-use) */
    GP_HEAP_DROP_NO_BUCKET,   /* a sampled allocation counted without its stack, in the
                               * overflow bucket: the table of stacks or its stores were full */
    GP_HEAP_DROP_MAX
};


#define GP_RING_SLOT_FRAMES 120     /* of a record's frames, in its slot; the rest in its spill */
_Static_assert(GP_RING_SLOT_FRAMES <= GP_RING_LEAF_FRAMES,
               "a deep stack's elided window lies in the spill (unwind_finish)");

/* A record's head: in its slot's first cache line, beside the seq. */
struct ring_record_head {
    uint32_t tid;
    uint32_t weight;        /* 1 + timer overruns (deferred: their sum); 0: a slot its writer gave
                             * up after reserving it (readers skip it) */
    uint16_t nframes;
    uint16_t flags;         /* GP_REC_* (base/record_flags.h) */
    uint16_t labels_len;    /* bytes used in labels[] */
    uint16_t labels_left;   /* labels the goroutine had that are not in labels[] */
    uint64_t goid;          /* goroutine id, 0 when unknown or not on a goroutine */
    char thread_name[16];   /* prctl(PR_GET_NAME), NUL-padded */
};

/* A record whole, in one piece: what the reader hands out (ring_read copies the slot and its
 * spill into one), and the heap path's scratch records. */
struct ring_record {
    struct ring_record_head h;
    uint8_t labels[GP_RING_LABEL_BYTES];
    uint64_t pc[GP_RING_MAX_FRAMES];   /* leaf first; GP_PC_EXACT marks exact PCs */
};

/* In the ring: a short stack without labels (up to 120 frames) is its slot alone, one cache
 * line more per 8 frames. */
struct ring_slot {
    _Atomic uint64_t seq;
    struct ring_record_head h;
    uint64_t pad[2];
    uint64_t pc[GP_RING_SLOT_FRAMES];   /* frames 0 .. GP_RING_SLOT_FRAMES - 1 */
};
_Static_assert(__builtin_offsetof(struct ring_slot, pc) == 64,
               "the seq and the record's head: one cache line");
_Static_assert(sizeof(struct ring_slot) == 1024, "a slot is 1 KiB: four to a page");

struct ring_spill {
    uint8_t labels[GP_RING_LABEL_BYTES];
    uint64_t pc[GP_RING_MAX_FRAMES - GP_RING_SLOT_FRAMES];   /* frames GP_RING_SLOT_FRAMES .. */
    uint64_t pad[8];
};
_Static_assert(sizeof(struct ring_spill) == 7168, "a spill is 7 KiB: a record is 8 KiB");

struct ring_header {
    /* immutable after init */
    uint32_t magic;
    uint32_t version;
    uint32_t slot_size;     /* sizeof(struct ring_slot) */
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
    /* C memory profiling's table after the slots (lib/ring/heap_buckets.h): its geometry,
     * immutable (0 buckets: no table) */
    uint32_t heap_buckets, heap_frame_words, heap_label_bytes;
    uint32_t pad3;
    /* writers, when they make a bucket: a line of its own */
    _Alignas(64) _Atomic uint64_t heap_frames_used;   /* (_Alignas would align each name) */
    _Atomic uint64_t heap_labels_used, heap_buckets_made;
    uint64_t pad5[5];
    _Alignas(64) struct heap_bucket heap_overflow;   /* bucket nbuckets' key: allocations
                                                    * without a stack */
};

_Static_assert(__builtin_offsetof(struct ring_header, heap_frames_used) % 64 == 0 &&
                   __builtin_offsetof(struct ring_header, heap_overflow) ==
                       __builtin_offsetof(struct ring_header, heap_frames_used) + 64,
               "the bucket makers' counters are one cache line");
_Static_assert(__builtin_offsetof(struct ring_header, heap_overflow) % 64 == 0,
               "the overflow bucket is one cache line");

/* One process's view of a ring. Geometry and tail are private copies: the reader never takes
 * them from shared memory again after ring_attach. */
struct ring {
    struct ring_header *hdr;
    struct ring_slot *slots;
    struct ring_spill *spills;
    size_t map_size;
    uint64_t mask;          /* nslots - 1 */
    uint32_t nslots;
    uint32_t touched;       /* reader only: slots whose page ring_reader_touch allocated */
    uint64_t tail;          /* reader only */
    /* C memory profiling's table (heap_buckets.h); nbuckets 0: none */
    struct heap_bucket *buckets;
    _Atomic uint32_t *bucket_order;
    uint64_t *heap_frames;
    uint8_t *heap_labels;
    struct heap_counts *heap_counts;   /* GP_HEAP_STRIPES rows of heap_counts_row(nbuckets) */
    uint32_t nbuckets, frame_words, label_bytes;
};

/* The stored seq of slot idx is seq - idx: zero-filled memory is a fresh ring. */
static inline uint64_t ring_seq_load(_Atomic uint64_t *seq, uint64_t idx)
{
    return atomic_load_explicit(seq, memory_order_acquire) + idx;
}
static inline void ring_seq_store(_Atomic uint64_t *seq, uint64_t idx, uint64_t v)
{
    atomic_store_explicit(seq, v - idx, memory_order_release);
}
/* Creates a ring of nslots (rounded up to a power of two), with C memory profiling's table if
 * heap (heap_buckets.h), in a sealed memfd (size fixed) and maps it, pages untouched until
 * used. *fd: the memfd (O_CLOEXEC), to hand to the collector. Context: program. Returns 0 or
 * -errno. */
int ring_create(struct ring *r, uint32_t nslots, int heap, int *fd);
/* Reader: maps the ring in fd (another process's), which must be sealed against shrinking,
 * and checks it (ring_check). 0, or -errno with why filled. */
int ring_attach(struct ring *r, int fd, char *why, size_t whysz);
void ring_destroy(struct ring *r);

/* Writer side. Context: signal. ring_reserve returns the slot to fill (its spill:
 * ring_spill_of), or NULL when the ring is full (the caller then calls ring_drop). ring_commit
 * publishes the record. */
GP_SIGSAFE struct ring_slot *ring_reserve(struct ring *r, uint64_t *pos);
GP_SIGSAFE void ring_commit(struct ring *r, uint64_t pos);
static inline struct ring_spill *ring_spill_of(struct ring *r, uint64_t pos)
{
    return &r->spills[pos & r->mask];
}
GP_SIGSAFE void ring_drop(struct ring *r, enum gp_drop_reason why, uint64_t weight);
/* A heap event not followed (C memory profiling): counted in hdr->heap_drops[why]. */
GP_SIGSAFE void ring_heap_drop(struct ring *r, enum gp_heap_drop_reason why);

/* Lays the slots and spills out after the header (r->hdr and r->nslots set), and the heap
 * table after them with this geometry (0 buckets: none). For ring.c and ring_check. */
void ring_set_slot_geometry(struct ring *r);
void ring_set_heap_geometry(struct ring *r, uint32_t buckets, uint32_t frame_words,
                            uint32_t label_bytes);

/* Reader side. Context: collector.
 * ring_check: whether this reader understands r: magic, version, slot size, a slot count (a
 * power of two, with its mask) and a heap table (none, or heap_buckets.h's geometry) that fit
 * the mapping; copies the geometry into r. 0, or
 * -EPROTO with why (e.g. "has version 2, this reader reads 4") filled. Called once before the
 * first read (ring_attach does). */
int ring_check(struct ring *r, char *why, size_t whysz);
/* ring_read calls fn for each committed record in order and
 * frees its slot; returns the number consumed. A record that fails validation is counted under
 * GP_DROP_BAD_RECORD and skipped. */
typedef void (*ring_record_fn)(const struct ring_record *rec, uint64_t pos, void *ctx);
size_t ring_read(struct ring *r, ring_record_fn fn, void *ctx);
/* Only when no writer can ever finish (the process is gone or replaced): steps over reserved
 * but uncommitted slots (at most one lap), counting them as GP_DROP_TORN. Returns how many
 * slots it skipped. */
size_t ring_reader_skip_stalled(struct ring *r);
/* First lap only: allocates the pages of the slots the writers will reach next (up to `ahead`
 * slots past head; MADV_POPULATE_WRITE, which writes nothing, whatever a writer does
 * meanwhile), so that the handler's first write to a slot finds its page in the page cache (a
 * minor fault) instead of allocating and zeroing it in the signal handler. Slots never reached
 * are never touched; spills are not touched (a record writes its spill only when it is deep or
 * has labels). */
void ring_reader_touch(struct ring *r, uint32_t ahead);
/* The pseudo-frame's text after "[libgoprof] ", e.g. "lost: ring full". */
const char *ring_drop_label(enum gp_drop_reason why);
/* 1 for samples taken and lost, 0 for CPU time never sampled (the "unsampled: " reasons). */
int ring_drop_is_loss(enum gp_drop_reason why);

#endif
