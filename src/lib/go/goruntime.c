/* goruntime.c -- per-version offsets of g and m (see goruntime.h).
 * Context: library
 */
#include "lib/go/goruntime.h"

#include <errno.h>
#include <string.h>

struct version_row {
    int minor;
    uint16_t g_sched_bp, g_syscallsp, g_syscallpc, g_goid, g_atomicstatus, g_labels;
    uint16_t m_procid, m_gsignal, m_curg, m_incgo, m_isextra_in_c, m_ncgo, m_vdso_sp, m_vdso_pc;
};

/* docs/go-runtime.md §2.1 (DWARF of amd64 cgo binaries). */
static const struct version_row rows[] = {
    /* minor sched.bp syscallsp syscallpc goid status labels  procid gsignal curg incgo
     *                                                 isExtraInC ncgo vdsoSP vdsoPC */
    { 21, 56 + 48, 112, 120, 152, 144, 344,  72, 80, 192, 280, 282, 312,  808,  816 },
    { 22, 56 + 48, 112, 120, 152, 144, 344,  72, 80, 192, 280, 282, 304, 1120, 1128 },
    { 23, 56 + 48, 112, 120, 160, 152, 352,  72, 80, 192, 280, 282, 304,  856,  864 },
    { 24, 56 + 48, 112, 120, 160, 152, 352,  72, 80, 192, 280, 282, 304,  880,  888 },
    { 25, 56 + 40, 104, 112, 152, 144, 344,  64, 72, 184, 272, 274, 320,  896,  904 },
    { 26, 56 + 40, 104, 112, 152, 144, 352,  64, 72, 184, 280, 282, 328,  896,  904 },
};

int go_layout_for_version(int major, int minor, struct go_layout *l)
{
    memset(l, 0, sizeof *l);
    if (major != 1)
        return -ENOTSUP;
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        const struct version_row *r = &rows[i];
        if (r->minor != minor)
            continue;
        l->known = 1;
        l->g_stack_lo = 0;
        l->g_stack_hi = 8;
        l->g_m = 48;
        l->g_sched_sp = 56;
        l->g_sched_pc = 64;
        l->g_sched_bp = r->g_sched_bp;
        l->g_syscallsp = r->g_syscallsp;
        l->g_syscallpc = r->g_syscallpc;
        l->g_goid = r->g_goid;
        l->g_atomicstatus = r->g_atomicstatus;
        l->g_labels = r->g_labels;
        l->labels_form = (uint8_t)go_labels_form_for_version(major, minor);
        l->m_procid = r->m_procid;
        l->m_vdso_sp = r->m_vdso_sp;
        l->m_vdso_pc = r->m_vdso_pc;
        l->m_g0 = 0;
        l->m_curg = r->m_curg;
        l->m_gsignal = r->m_gsignal;
        l->m_incgo = r->m_incgo;
        l->m_isextra_in_c = r->m_isextra_in_c;
        l->m_ncgo = r->m_ncgo;
        return 0;
    }
    return -ENOTSUP;
}

enum go_labels_form go_labels_form_for_version(int major, int minor)
{
    if (major != 1 || minor < 21)
        return GO_LABELS_NONE;   /* older runtimes: not supported by the unwinder either */
    return minor < 24 ? GO_LABELS_MAP : GO_LABELS_SLICE;
}

struct layout_field {
    uint16_t off;
    uint8_t size;              /* also the alignment: every field is naturally aligned */
};

/* Fields of one struct must be aligned, inside the struct's plausible size, and disjoint. */
static int layout_fields_ok(const struct layout_field *f, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (f[i].off % f[i].size != 0 || f[i].off + f[i].size > GO_LAYOUT_MAX_OFFSET)
            return 0;
        for (size_t j = 0; j < i; j++) {
            if (f[i].off < f[j].off + f[j].size && f[j].off < f[i].off + f[i].size)
                return 0;
        }
    }
    return 1;
}

int go_layout_check(const struct go_layout *l)
{
    if (!l->known)
        return -EINVAL;
    /* Sizes: pointers and uintptr/uint64 are 8 bytes, atomicstatus and ncgo 4, the bools 1. */
    const struct layout_field g[] = {
        { l->g_stack_lo, 8 }, { l->g_stack_hi, 8 }, { l->g_m, 8 }, { l->g_sched_sp, 8 },
        { l->g_sched_pc, 8 }, { l->g_sched_bp, 8 }, { l->g_syscallsp, 8 },
        { l->g_syscallpc, 8 }, { l->g_goid, 8 }, { l->g_atomicstatus, 4 }, { l->g_labels, 8 },
    };
    const struct layout_field m[] = {
        { l->m_g0, 8 }, { l->m_curg, 8 }, { l->m_gsignal, 8 }, { l->m_procid, 8 },
        { l->m_incgo, 1 }, { l->m_isextra_in_c, 1 }, { l->m_ncgo, 4 }, { l->m_vdso_sp, 8 },
        { l->m_vdso_pc, 8 },
    };
    if (!layout_fields_ok(g, sizeof g / sizeof g[0]) ||
        !layout_fields_ok(m, sizeof m / sizeof m[0]))
        return -EINVAL;
    /* stack{lo, hi} and gobuf{sp, pc, ...} start with fields whose offsets the runtime's
     * assembly and cgo hard-code (runtime2.go); bp is one of gobuf's few (<= 7) words. */
    if (l->g_stack_hi != l->g_stack_lo + 8 || l->g_sched_pc != l->g_sched_sp + 8 ||
        l->g_sched_bp <= l->g_sched_pc || l->g_sched_bp - l->g_sched_sp >= 64)
        return -EINVAL;
    if (l->m_g0 != 0)   /* the first field of m (runtime2.go) */
        return -EINVAL;
    return 0;
}
