/* cfi.h -- our own DWARF CFI (.eh_frame) unwinder for x86-64 frames of this process.
 * Context: signal
 *
 * libunwind's unw_step took a global mutex and made two sigprocmask calls per frame (~15 µs a
 * sample; docs/architecture.md). This replaces it with four small pieces that allocate
 * nothing, lock nothing and call nothing but _dl_find_object (AS-Safe):
 *   cfi_find.c   pc -> FDE: _dl_find_object gives the module and its .eh_frame_hdr, whose
 *                sorted table is binary-searched;
 *   cfi_cache.c  rows already computed, by pc: in steady state a frame costs one lookup
 *                instead of a table search, two entry parses and two CFA programs;
 *   cfi_parse.c  the FDE and its CIE (augmentations z, R, P, L, S; pointer encodings);
 *   cfi_exec.c   the CFA program up to the pc -> one row of rules;
 *   cfi_expr.c   the DWARF expressions those rules use (PLT stubs, __restore_rt);
 *   cfi_step.c   applies a row (cached, from the walk's memo, or just computed) to a frame's
 *                registers (saved values read through safe_read);
 *   cfi_fallback.c  frames without an FDE: PLT stub, sigreturn trampoline, frame pointer.
 * The walk follows libunwind 1.6.2's semantics (src/dwarf/Gparser.c, src/x86_64/Gstep.c) so
 * stacks come out identical (tests/unit/test_cfi.c compares them in a real SIGPROF handler).
 *
 * Every byte of CFI is read inside bounds derived from the module's program headers; every
 * value on a stack is read with safe_read (plain loads only inside known stack ranges).
 */
#ifndef GP_CFI_H
#define GP_CFI_H

#include <stdint.h>
#include <ucontext.h>

#include "lib/base/sigsafe.h"

struct safe_reader;

/* DWARF register numbers of x86-64 (psABI figure 3.36); 16 is the return address (RIP). */
enum {
    CFI_RAX, CFI_RDX, CFI_RCX, CFI_RBX, CFI_RSI, CFI_RDI, CFI_RBP, CFI_RSP,
    CFI_R8, CFI_R9, CFI_R10, CFI_R11, CFI_R12, CFI_R13, CFI_R14, CFI_R15,
    CFI_RIP,
    CFI_NREGS
};

/* DW_CFA_remember_state nesting; gcc nests one level, glibc's asm at most two. */
#define CFI_STATE_STACK 8

/* ---- bounded byte reads (cfi_read.h has the readers) ---- */

/* A readable range of this process's memory, [lo, hi). */
struct cfi_span {
    uint64_t lo, hi;
};

/* ---- cfi_find.c ---- */

/* The loaded object holding a pc, as far as the unwinder needs it. */
struct cfi_module {
    uint64_t map_lo, map_hi;     /* _dl_find_object's dlfo_map_start/end */
    uint64_t bias;               /* load bias (l_addr), read with the headers: on a cached row
                                  * the walk needs neither, and the link map's line is cold */
    const struct link_map *lm;
    uint64_t eh_frame_hdr;       /* its PT_GNU_EH_FRAME, 0 when none; also its identity */
    const void *phdr;            /* program headers, NULL when unreadable */
    int phnum;
    int headers_read;            /* phdr/phnum are set (read on first need) */
    struct cfi_span eh_frame;    /* the PT_LOAD segment holding .eh_frame (CIEs and FDEs) */
};

/* The executable's program headers (AT_PHDR) and link map, set at init (unwind_configure): the
 * start of the mapping _dl_find_object gives for the executable is its ELF header only when its
 * PT_LOAD segments are contiguous (cfi_find.c). lm NULL: unknown. */
struct cfi_main {
    const struct link_map *lm;
    const void *phdr;
    int phnum;
};
extern struct cfi_main gp_cfi_main;
/* The object holding pc (_dl_find_object; no other memory is read). Returns 0 or -1. */
GP_SIGSAFE int cfi_module_find(uint64_t pc, struct cfi_module *mod);
/* Finds the FDE that covers pc if any does (the caller checks its range): the last entry of
 * the .eh_frame_hdr table at or below pc. pc is the address to look up: an exact pc, or a
 * return address minus 1. Returns 0 or -1 (no table entry, no usable .eh_frame). */
GP_SIGSAFE int cfi_fde_find(struct cfi_module *mod, uint64_t pc, uint64_t *fde);
/* Non-zero when [addr, addr+len) lies in one of the module's PT_LOAD segments (the whole
 * mapping when the program headers were unreadable). */
GP_SIGSAFE int cfi_module_readable(struct cfi_module *mod, uint64_t addr, uint64_t len);

/* ---- cfi_parse.c ---- */

/* An FDE with what its CIE says about it. */
struct cfi_fde {
    uint64_t start, end;                 /* pc range [start, end) */
    uint64_t cie_instr, cie_instr_end;   /* the CIE's initial instructions */
    uint64_t fde_instr, fde_instr_end;   /* the FDE's instructions */
    uint64_t code_align;
    int64_t data_align;
    uint32_t ra_reg;                     /* return address column, normally 16 */
    uint8_t fde_enc;                     /* DW_EH_PE_* of addresses (DW_CFA_set_loc) */
    uint8_t signal_frame;                /* augmentation 'S': a signal trampoline */
    struct cfi_span span;                /* where the CIE and FDE bytes may be read */
};

/* Parses the FDE at fde_addr and its CIE; every read inside span. Returns 0 or -1. */
GP_SIGSAFE int cfi_parse_fde(struct cfi_span span, uint64_t fde_addr, struct cfi_fde *out);
/* Reads the pc range of the FDE at fde_addr without its CIE's instructions (linear scan).
 * Returns 1 for an FDE, 0 for a CIE, -1 for bad data or the terminator; *next is the entry
 * that follows. */
GP_SIGSAFE int cfi_fde_range(struct cfi_span span, uint64_t fde_addr, uint64_t *start,
                             uint64_t *end, uint64_t *next);

/* ---- cfi_exec.c ---- */

/* How the caller's value of a register is found (DWARF 5 §6.4.1). */
enum cfi_rule_kind {
    CFI_SAME,          /* unchanged (also the default, as in libunwind) */
    CFI_UNDEF,         /* not recoverable; undefined RA = outermost frame */
    CFI_OFFSET,        /* saved at CFA + val */
    CFI_VAL_OFFSET,    /* is CFA + val */
    CFI_REGISTER,      /* in register val of this frame */
    CFI_EXPR,          /* saved at the address the expression at val computes */
    CFI_VAL_EXPR,      /* is the value the expression at val computes */
};

enum cfi_cfa_kind {
    CFI_CFA_REG,       /* CFA = register cfa_reg + cfa_off */
    CFI_CFA_EXPR,      /* CFA = the expression at cfa_expr */
};

/* One row of the CFI table: the rules in force at a pc. */
struct cfi_row {
    int64_t val[CFI_NREGS];     /* offset, register number, or expression address */
    uint8_t kind[CFI_NREGS];    /* enum cfi_rule_kind */
    uint8_t cfa_kind;           /* enum cfi_cfa_kind */
    uint32_t cfa_reg;
    int64_t cfa_off;
    uint64_t cfa_expr;          /* address of the expression's ULEB128 length */
};

/* Runs the CIE's then the FDE's instructions while the location is <= pc. Returns 0 or -1
 * (unknown opcode, bad register, state stack over/underflow, bytes out of bounds). */
GP_SIGSAFE int cfi_exec(const struct cfi_fde *fde, uint64_t pc, struct cfi_row *row);

/* ---- cfi_step.c ---- */

/* The registers of one frame. A value saved on the stack is read only when needed (as
 * libunwind does): a rule may name a slot that is never used, and unneeded reads cost. */
struct cfi_frame {
    uint64_t reg[CFI_NREGS];     /* values; reg[CFI_RSP] is the frame's SP (its callee's CFA) */
    uint64_t at[CFI_NREGS];      /* where a pending value is to be read */
    uint32_t known;              /* bit r: register r has a value, or a slot to read it from */
    uint32_t pending;            /* bit r: the value is still at at[r] */
    uint8_t exact;               /* reg[CFI_RIP] is an interrupted pc (the first frame of a
                                  * signal context, or reached through a signal trampoline),
                                  * not a return address: look it up as is, not RIP - 1 */
    /* What the last cfi_step did, for a walk's memo (unwind.h: a walk that can be replayed):
     * sp_step, its CFA was the stack pointer plus a constant of the row (a compact row on
     * RSP); ra_slot, the stack word it read the return address from (0: none read). */
    uint8_t sp_step;
    uint64_t ra_slot;
};

enum cfi_step_result {
    CFI_STEP_OK,                 /* *f is the caller */
    CFI_STEP_END,                /* outermost frame (undefined RA or RBP, RA 0) */
    CFI_STEP_BROKEN,             /* cannot continue */
};

/* The frame of a context: an interrupted one (signal_frame: its pc is exact) or a restart
 * at a return address. */
GP_SIGSAFE void cfi_frame_init(struct cfi_frame *f, const ucontext_t *uc, int signal_frame);
/* Value of register r; 0 or -1 (undefined or unreadable). */
GP_SIGSAFE int cfi_get_reg(struct safe_reader *sr, struct cfi_frame *f, int r, uint64_t *v);
/* Steps from *f to its caller: by CFI, else by the fallbacks of cfi_fallback.c. memo (NULL:
 * none) is this step's place in a walk's memo (struct cfi_memo_frame below): its row is used
 * when its pc is this frame's, and it is given this frame's row otherwise. */
struct cfi_memo_frame;
GP_SIGSAFE enum cfi_step_result cfi_step(struct safe_reader *sr, struct cfi_frame *f,
                                         struct cfi_memo_frame *memo);

/* ---- cfi_expr.c ---- */

/* Evaluates the DWARF expression whose ULEB128 length is at expr (inside span), with
 * `initial` pushed first (the CFA for register rules; 0 for the CFA rule, as libunwind does).
 * *is_reg: the result names a register (DW_OP_regN) instead of an address. Returns 0 or -1. */
GP_SIGSAFE int cfi_expr_eval(struct cfi_span span, uint64_t expr, uint64_t initial,
                             struct safe_reader *sr, struct cfi_frame *f, uint64_t *result,
                             int *is_reg);

/* ---- cfi_fallback.c ---- */

/* Steps a frame no FDE covers: a lazy PLT stub, a sigreturn trampoline (by its code bytes), else
 * the frame pointer. mod is the module holding the pc, NULL when there is none. */
GP_SIGSAFE enum cfi_step_result cfi_fallback_step(struct safe_reader *sr, struct cfi_frame *f,
                                                  struct cfi_module *mod);

/* ---- cfi_cache.c ---- */

/* A row in compact form: CFA = reg + off; RBX, RBP, R12-R15, RIP (in this order) each same,
 * undefined or saved at CFA + off; every other register the same. */
#define CFI_COMPACT_SLOTS 7
extern const uint8_t cfi_compact_reg[CFI_COMPACT_SLOTS];

/* A compact row in three words: how the cache and a walk's memo store it. */
struct cfi_packed {
    uint64_t cfa;      /* cfa_off (int32) | cfa_reg << 32 | slot kinds << 40 */
    uint64_t off[2];   /* int16 offsets of the 7 slots, 4 + 3 */
};
/* Packs a row: 0, or -1 when it does not fit the compact form. */
GP_SIGSAFE int cfi_compact_pack(const struct cfi_fde *fde, const struct cfi_row *row,
                                struct cfi_packed *p);

/* The row for pc in the module whose .eh_frame_hdr is at module: 0 and *p, or -1. */
GP_SIGSAFE int cfi_cache_get(uint64_t pc, uint64_t module, struct cfi_packed *p);
/* Non-zero on a thread: neither use nor fill the cache, nor a memo (tests compare the paths). */
extern __thread int cfi_cache_bypass __attribute__((tls_model("initial-exec")));
/* Remembers a packed row; never waits. */
GP_SIGSAFE void cfi_cache_put(uint64_t pc, uint64_t module, const struct cfi_packed *p);

/* A walk's memo: the packed row each native step of a thread's last walk used, by the step's
 * number. A walk from the same place takes its rows from there, in order, as long as each
 * frame's pc is the remembered one: no lookup in the cache (a cold line per frame), no
 * _dl_find_object. Only the rows are remembered; every register and stack word is read
 * afresh, so a frame whose pc differs simply looks its row up, and the walk is the same walk.
 * A row is a function of its pc, as long as the object holding the pc stays loaded: the pcs
 * are return addresses of live frames on the walking thread's stack, whose code cannot have
 * been unloaded; only an object unloaded and another one loaded at the very same address
 * between two walks, with a frame again at a remembered pc and step, would reuse a row of the
 * wrong object (the cache keys by module for the same reason; here the rows are one thread's
 * last walk's). */
struct cfi_memo_frame {
    uint64_t pc;                 /* the looked-up pc (RIP - 1 for a return address); 0: none */
    struct cfi_packed row;
};
/* Writes to every page of the cache (see unwind_warm). Context: init. */
void cfi_cache_warm(void);
/* Restores all registers from the ucontext at uc (an rt_sigframe's) into *f. 0 or -1. */
GP_SIGSAFE int cfi_frame_from_sigframe(struct safe_reader *sr, struct cfi_frame *f, uint64_t uc);

#endif
