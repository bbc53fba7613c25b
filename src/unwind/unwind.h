/* unwind.h -- mixed C + Go stack capture from a signal context.
 * Context: init (configuration), signal (unwind_capture)
 *
 * The walk starts at the interrupted context. Native code is walked with libunwind (CFI from
 * .eh_frame); Go code by frame pointers, with the Go function table (pclntab) used for the
 * innermost frame so a frameless leaf or a prologue does not lose its caller. The crossing from
 * C back into Go happens where libunwind reaches runtime.asmcgocall: the RBP it restores there
 * is asmcgocall's frame on the goroutine stack (notes/go-runtime.md §3.2). The complete
 * all-transition Go unwinder plugs in at unwind_go_walk().
 */
#ifndef GP_UNWIND_H
#define GP_UNWIND_H

#include <stdint.h>
#include <ucontext.h>

#include "base/record_flags.h"
#include "base/sigsafe.h"
#include "go/goruntime.h"
#include "go/pclntab.h"

#define GP_UNWIND_MAX_ROOTS 8

struct pc_range {
    uint64_t lo, hi;
};

/* What the unwinder knows of the Go runtime of this process; immutable after init. */
struct unwind_go {
    int pid;                      /* ours, for fault-safe reads (process_vm_readv) */
    int is_go;                    /* the main executable is a Go program with a readable pclntab */
    struct go_layout layout;      /* layout.known == 0: g/m state is not used */
    int64_t g_tls_offset;         /* g = *(thread pointer + g_tls_offset) */
    struct pc_range text;         /* Go text */
    struct gopcln pcln;           /* function table, read in place */
    struct pc_range roots[GP_UNWIND_MAX_ROOTS];  /* functions that end a goroutine/system stack */
    int nroots;
};

/* Per-thread facts recorded when the thread started (0 when unknown). */
struct unwind_thread {
    uint64_t stack_lo, stack_hi;
};

struct unwind_out {
    uint64_t *pc;       /* leaf first; GP_PC_EXACT marks exact PCs */
    int max;
    int n;
    uint16_t flags;     /* GP_REC_* */
    uint64_t goid;
};

/* Configures the Go side from the analysed executable (go == NULL for a non-Go program).
 * Context: init. */
struct goexe;
void unwind_configure_go(const struct goexe *go);
/* Runs libunwind once outside any handler so its lazy initialisation never runs in one. */
void unwind_warm_up(void);

/* Entry assumptions: called from the SIGPROF handler with the handler's ucontext; `th` describes
 * the interrupted thread. On return: out->n frames written, flags set. Never faults, never
 * blocks. */
GP_SIGSAFE void unwind_capture(const ucontext_t *uc, const struct unwind_thread *th,
                               struct unwind_out *out);

/* Internal pieces, in their own files. */
extern struct unwind_go gp_unwind_go;
struct safe_reader;
GP_SIGSAFE void unwind_go_walk(struct safe_reader *sr, uint64_t pc, uint64_t sp, uint64_t bp,
                               int pc_exact, struct unwind_out *out);
GP_SIGSAFE void unwind_native_walk(struct safe_reader *sr, const ucontext_t *uc,
                                   struct unwind_out *out);
GP_SIGSAFE int unwind_in_go_text(uint64_t pc);
GP_SIGSAFE int unwind_push(struct unwind_out *out, uint64_t pc);

#endif
