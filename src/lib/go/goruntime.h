/* goruntime.h -- byte offsets of the Go runtime structures the unwinder reads (g, m).
 * Context: library (the struct is read by the handler; the lookup is not signal-safe)
 *
 * Sources (goexe.c picks one): the executable's own DWARF when it has some (godwarf.h), else
 * the table here (docs/go-runtime.md §2.1), measured from the DWARF of Go 1.21–1.26 amd64
 * binaries. Offsets that never moved (g.stack, g.m, g.sched, m.g0) are constants in the table;
 * the others are per version. Neither source (stripped binary of an unknown version) yields no
 * layout: the unwinder then uses no g/m state and says so in each record (GP_REC_GO_UNKNOWN).
 */
#ifndef GP_GORUNTIME_H
#define GP_GORUNTIME_H

#include <stdint.h>

/* How runtime/pprof keeps a goroutine's labels behind g.labels (docs/go-runtime.md §2.4). */
enum go_labels_form {
    GO_LABELS_NONE = 0,     /* unknown: labels are not read */
    GO_LABELS_MAP,          /* Go 1.21-1.23: *labelMap, labelMap = map[string]string */
    GO_LABELS_SLICE,        /* Go 1.24-: *labelMap, labelMap = struct{ list []{key, value} } */
};

struct go_layout {
    int known;
    uint16_t g_stack_lo, g_stack_hi, g_m, g_sched_sp, g_sched_pc, g_sched_bp;
    uint16_t g_syscallsp, g_syscallpc, g_goid, g_atomicstatus, g_labels;
    uint16_t m_g0, m_curg, m_gsignal, m_procid, m_incgo, m_isextra_in_c, m_ncgo;
    uint16_t m_vdso_sp, m_vdso_pc;
    uint8_t labels_form;    /* enum go_labels_form */
};

/* Fills l for Go major.minor; returns 0, or -ENOTSUP for versions outside the table. */
int go_layout_for_version(int major, int minor, struct go_layout *l);
/* The form of g.labels in Go major.minor (the map became a sorted slice in 1.24). */
enum go_labels_form go_labels_form_for_version(int major, int minor);

/* 0 when l is plausible for amd64: known, every field naturally aligned and inside the first
 * GO_LAYOUT_MAX_OFFSET bytes, no two fields of g (or of m) overlapping, g.stack.hi =
 * g.stack.lo + 8, g.sched.pc = g.sched.sp + 8 and g.sched.bp after them inside one gobuf,
 * m.g0 = 0. Else -EINVAL. Run on layouts read from DWARF before the unwinder trusts them. */
#define GO_LAYOUT_MAX_OFFSET 4096
int go_layout_check(const struct go_layout *l);

#endif
