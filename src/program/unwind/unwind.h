/* unwind.h -- mixed C + Go stack capture from a signal context (or a call site: C memory
 * sampling's unwind_capture_at).
 * Context: program (configuration; unwind_capture and unwind_capture_at are signal context)
 *
 * A stack is walked in segments that alternate between two walkers, starting at the
 * interrupted context (docs/go-runtime.md §3.11):
 *   - Go frames (unwind_go.c) by the function table's SP deltas (pcsp); frame pointers only
 *     where a function switched stacks (SPWRITE: systemstack, asmcgocall, cgocallback,
 *     nanotime1), at morestack (the goroutine's saved context) and as a cross-check.
 *   - native frames (unwind_native.c) by their .eh_frame CFI, with our own unwinder (cfi.h).
 * Go -> C happens where a Go frame returns into C: only crosscall2 does (a C -> Go callback);
 * the C caller's registers come from crosscall2's save area. C -> Go happens where a native frame
 * returns into Go text: runtime.asmcgocall, or nanotime1 above the vDSO. A walk ends at a
 * root function (goexit, mstart, rt0_go, mcall, sigtramp), at the end of the native CFI
 * chain (_start, clone3), or is marked broken.
 */
#ifndef GP_UNWIND_H
#define GP_UNWIND_H

#include <stdint.h>
#include <ucontext.h>

#include "lib/base/record_flags.h"
#include "lib/base/sigsafe.h"
#include "lib/go/goruntime.h"
#include "lib/go/pclntab.h"
#include "program/unwind/cfi.h"

#define GP_UNWIND_MAX_SPECIAL 24

struct pc_range {
    uint64_t lo, hi;
};

/* Go functions the walker treats specially, found by name at start-up (funcID numbers move
 * between versions; names do not). */
enum go_special {
    GO_ROOT = 1,        /* ends a stack: goexit, mstart, rt0_go, mcall, sigtramp */
    GO_MORESTACK,       /* continue in the goroutine's saved context (curg.sched) */
    GO_TRAP,            /* asyncPreempt, sigpanic: the caller's PC was injected, it is exact */
    GO_CROSSCALL2,      /* C calls Go through it: its caller is C */
};

struct go_special_range {
    uint64_t lo, hi;
    uint8_t kind;
};

/* What the unwinder knows of the Go runtime of this process: set at init, or once later for a
 * Go library loaded by dlopen (unwind_configure_late, published by is_go); then immutable. */
struct unwind_go {
    int pid;                      /* ours, for fault-safe reads (process_vm_readv) */
    int is_go;                    /* the Go runtime's object (the executable, or a Go shared
                                   * library) has a readable pclntab: unwind_go_on */
    struct go_layout layout;      /* layout.known == 0: g/m state is not used */
    int64_t g_tls_offset;         /* g = *(thread pointer + g_tls_offset) */
    struct pc_range text;         /* Go text */
    struct gopcln pcln;           /* function table, read in place */
    struct go_special_range special[GP_UNWIND_MAX_SPECIAL];
    int nspecial;
};

/* Per-thread facts recorded when the thread started (0 when unknown). */
struct unwind_thread {
    uint64_t stack_lo, stack_hi;
};

/* A walk longer than this many frames gives up (GP_REC_TRUNCATED): a loop in corrupt data, or a
 * stack no profile can usefully show (5 000-deep recursion is 5 000 frames; Go's own limit on a
 * goroutine's stack, 1 GB, is far more frames than a handler can walk in a tick). */
#define UNWIND_MAX_WALK 65536

/* Where frames go. A walk pushes every frame from the leaf to the root; a stack deeper than max
 * keeps its `leaf` frames nearest the leaf, its max - leaf - 1 nearest the root (a window
 * overwritten in circle while the walk goes on) and one GP_PC_ELIDED word between them
 * (unwind_finish). */
struct unwind_out {
    uint64_t *pc;       /* leaf first; GP_PC_EXACT marks exact PCs */
    uint64_t *more;     /* frames split .. max - 1, where pc[] ends at split (a ring slot's
                         * spill: lib/ring/ring.h) */
    int split;          /* 0: pc[] holds all max; else <= leaf + 1 */
    int max;            /* >= 3 */
    int leaf;           /* frames kept at the leaf end of a deeper stack, < max - 1 */
    int n;              /* frames in pc[] (after unwind_finish) */
    uint32_t walked;    /* frames pushed */
    uint16_t flags;     /* GP_REC_* */
    uint64_t goid;
    uint64_t labels;    /* the goroutine's g.labels, 0 when none (labels.c reads it) */
};

/* Configures the unwinder for this executable: where its program headers are (cfi.h:
 * gp_cfi_main), and the Go side from the analysed executable (go == NULL for a non-Go
 * program). Context: init. */
struct goexe;
void unwind_configure(const struct goexe *go);
/* The Go side, for a Go shared library loaded after init (program/preload/go_module.c), unless
 * it is configured already. Context: program, any thread; handlers may be walking meanwhile.
 * The special-function ranges and the tables are written before is_go, which publishes them. */
void unwind_configure_late(const struct goexe *go);

/* Allocates the pages of the unwinder's caches (128 KiB of .bss) now, so that the first samples
 * do not take two page faults per page (zero page, then copy on write: ~60 faults, 25-50 us
 * added to the first samples of a run). Call after the collector is forked: pages written
 * before a fork would be copy-on-write again. Context: init. */
void unwind_warm(void);

/* Entry assumptions: called from the SIGPROF handler with the handler's ucontext; `th` describes
 * the interrupted thread. On return: out->n frames written, flags set. Never faults, never
 * blocks. */
GP_SIGSAFE void unwind_capture(const ucontext_t *uc, const struct unwind_thread *th,
                               struct unwind_out *out);

/* Registers at a frame boundary: where a walk starts (unwind_capture_at) and what one walker
 * hands to the other. */
struct unwind_regs {
    uint64_t ip, sp, bp;
    uint64_t bx, r12, r13, r14, r15;
    int have_callee_saved;        /* bx..r15 valid */
    int exact;                    /* ip is an interrupted PC, not a return address */
};

/* The rows of a thread's last walk from a call site, by native step (cfi.h: struct
 * cfi_memo_frame). Allocations come from few places, over and over: a walk that repeats the
 * last one reads its rows from these lines, in order, instead of one cold cache line and an
 * object lookup per frame. Deeper steps look their rows up as usual.
 *
 * Replay. The memo also keeps where the last walk started (ip, sp) and, for each step, the
 * stack word it read the return address from and what it read, when the walk can be replayed:
 * every step's CFA was the stack pointer plus a constant of its row, every caller was found by
 * a return address read from a word of the thread's own stack, and the walk was one native
 * segment ended by its CFI (no Go frame, no label, no flag). Such a walk is a function of its
 * start and of those words: its rows are functions of its pcs, its CFAs of the start's sp and
 * the rows, its pcs of the words. So a walk from the same ip and sp whose words hold the same
 * return addresses is the same walk, frame for frame (unwind_memo_replays), and a caller may
 * keep what it derived from the last one instead of walking again. */
#define UNWIND_MEMO_FRAMES 16
#define UNWIND_MEMO_SPOILT (UNWIND_MEMO_FRAMES + 1)
struct unwind_memo {
    struct cfi_memo_frame f[UNWIND_MEMO_FRAMES];
    uint64_t ip, sp;              /* the last walk's start */
    uint32_t steps;               /* native steps it took (their words below); UNWIND_MEMO_SPOILT
                                   * once the walk cannot be replayed */
    uint32_t replayable;          /* it can be replayed (above); 0 while a walk is under way */
    struct {
        uint64_t slot, ra;        /* the stack word a step read its return address from, and it */
    } ra_at[UNWIND_MEMO_FRAMES];
} __attribute__((aligned(64)));

/* As unwind_capture, from a call site instead of a signal context: at->ip is a return address
 * (exact 0), at->sp the stack pointer after that return, and the callee-saved registers as
 * they were at the call (C memory sampling starts at the allocation's caller). memo: the
 * calling thread's own (zero-filled at first), never used by two walks at once; or NULL. */
GP_SIGSAFE void unwind_capture_at(const struct unwind_regs *at, const struct unwind_thread *th,
                                  struct unwind_memo *memo, struct unwind_out *out);

/* 1 if unwind_capture_at(at, th, memo, ...) would give the memo's last walk again, frame for
 * frame (see Replay above): the same start, and each word it read (plain loads, inside th's
 * stack) holding the same return address. 0 otherwise, or while the tests bypass the memo. */
GP_SIGSAFE int unwind_memo_replays(const struct unwind_memo *memo, const struct unwind_regs *at,
                                   const struct unwind_thread *th);

/* Internal pieces, in their own files. */
void unwind_go_warm(void);
extern struct unwind_go gp_unwind_go;

/* Whether the Go side is configured, and its fields may be read: set at init, or once, later,
 * by unwind_configure_late while handlers may be walking (a release store after every other
 * field; this acquire load before any of them). */
static inline int unwind_go_on(void)
{
    return __atomic_load_n(&gp_unwind_go.is_go, __ATOMIC_ACQUIRE);
}

struct safe_reader;

/* One walk in progress. */
struct unwind_walk {
    struct safe_reader *sr;
    struct unwind_out *out;
    struct unwind_memo *memo;     /* NULL: none */
    int native_steps;             /* steps the native walker took: the next one's memo frame */
    uint64_t m, curg;             /* Go state of the interrupted thread, 0 when unknown */
    uint64_t g0_lo, g0_hi;        /* its g0 stack, 0 when unknown */
};

enum unwind_next {
    UNWIND_STOP,                  /* done: root reached, chain ended, or flags say why */
    UNWIND_TO_NATIVE,             /* continue with the native walker at *next */
    UNWIND_TO_GO,                 /* continue with the Go walker at *next */
};

/* Walks Go frames from (pc, sp, bp); pc_exact: pc is an interrupted PC, not a return
 * address. */
GP_SIGSAFE enum unwind_next unwind_go_walk(struct unwind_walk *w, uint64_t pc, uint64_t sp,
                                           uint64_t bp, int pc_exact, struct unwind_regs *next);
/* Walks native frames from an interrupted context (its PC exact). */
GP_SIGSAFE enum unwind_next unwind_native_walk(struct unwind_walk *w, const ucontext_t *uc,
                                               struct unwind_regs *next);
/* Walks native frames from a return address the Go walker reached (*at, as it left C). */
GP_SIGSAFE enum unwind_next unwind_native_walk_from(struct unwind_walk *w,
                                                    const struct unwind_regs *at,
                                                    struct unwind_regs *next);
/* (inline, as unwind_push: each is asked once per native frame, and a call was a good part of
 * a warm frame's cost) */
static inline int unwind_in_go_text(uint64_t pc)
{
    return unwind_go_on() && pc >= gp_unwind_go.text.lo && pc < gp_unwind_go.text.hi;
}
/* unwind_push past pc[] (into more[], or the root window going round), or too many. */
GP_SIGSAFE int unwind_push_wrapped(struct unwind_out *out, uint64_t pc);
/* Adds the next frame towards the root: 0, or -1 when the walk must stop (UNWIND_MAX_WALK). */
static inline int unwind_push(struct unwind_out *out, uint64_t pc)
{
    uint32_t in_pc = (uint32_t)(out->split ? out->split : out->max);
    if (out->walked < in_pc && out->walked < UNWIND_MAX_WALK) {
        out->pc[out->walked++] = pc;
        return 0;
    }
    return unwind_push_wrapped(out, pc);
}
/* Frame i (< out->max) of out, in pc[] or in more[]. */
static inline uint64_t *unwind_out_frame(const struct unwind_out *out, int i)
{
    return out->split && i >= out->split ? &out->more[i - out->split] : &out->pc[i];
}
/* Marks the frame pushed last as exact. */
GP_SIGSAFE void unwind_mark_last_exact(struct unwind_out *out);
/* Puts the frames pushed into their final order and sets out->n (unwind_capture calls it). */
GP_SIGSAFE void unwind_finish(struct unwind_out *out);

#endif
