/* goruntime.c -- per-version offsets of g and m (see goruntime.h).
 * Context: init
 */
#include "go/goruntime.h"

#include <errno.h>
#include <string.h>

struct version_row {
    int minor;
    uint16_t g_sched_bp, g_syscallsp, g_syscallpc, g_goid, g_atomicstatus;
    uint16_t m_procid, m_gsignal, m_curg, m_incgo, m_isextra_in_c, m_ncgo, m_vdso_sp, m_vdso_pc;
};

/* notes/go-runtime.md §2.1 (DWARF of amd64 cgo binaries). */
static const struct version_row rows[] = {
    /* minor sched.bp syscallsp syscallpc goid status  procid gsignal curg incgo isExtraInC
     *                                                  ncgo vdsoSP vdsoPC */
    { 21, 56 + 48, 112, 120, 152, 144,  72, 80, 192, 280, 282, 312,  808,  816 },
    { 22, 56 + 48, 112, 120, 152, 144,  72, 80, 192, 280, 282, 304, 1120, 1128 },
    { 23, 56 + 48, 112, 120, 160, 152,  72, 80, 192, 280, 282, 304,  856,  864 },
    { 24, 56 + 48, 112, 120, 160, 152,  72, 80, 192, 280, 282, 304,  880,  888 },
    { 25, 56 + 40, 104, 112, 152, 144,  64, 72, 184, 272, 274, 320,  896,  904 },
    { 26, 56 + 40, 104, 112, 152, 144,  64, 72, 184, 280, 282, 328,  896,  904 },
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
