/* unwind_init.c -- configuration of the unwinder from the analysed executable, and libunwind's
 * warm-up.
 * Context: init
 */
#include <string.h>
#include <unistd.h>

#define UNW_LOCAL_ONLY
#include <libunwind.h>

#include "go/goexe.h"
#include "unwind/unwind.h"

static void add_root(const char *name, struct pc_range *dst, int *n, int max)
{
    struct gofunc f;
    if (*n >= max || gopcln_find_by_name(&gp_unwind_go.pcln, name, &f) != 0)
        return;
    dst[*n].lo = f.entry;
    dst[*n].hi = f.end;
    (*n)++;
}

void unwind_configure_go(const struct goexe *go)
{
    struct unwind_go *u = &gp_unwind_go;
    memset(u, 0, sizeof *u);
    u->pid = getpid();
    if (!go || !go->is_go)
        return;
    u->is_go = 1;
    u->pcln = go->pcln;
    u->text.lo = go->text_start;
    u->text.hi = go->text_end;
    u->g_tls_offset = go->g_tls_offset;
    go_layout_for_version(go->major, go->minor, &u->layout);
    /* Functions at the bottom of every goroutine stack, every M's g0 stack, m0's g0 stack, and
     * mcall (its callers belong to a goroutine that is no longer running here). */
    static const char *const roots[] = {
        "runtime.goexit", "runtime.mstart", "runtime.rt0_go", "runtime.mcall",
        "runtime.morestack", "runtime.sigtramp",
    };
    for (size_t i = 0; i < sizeof roots / sizeof roots[0]; i++)
        add_root(roots[i], u->roots, &u->nroots, GP_UNWIND_MAX_ROOTS);
}


/* Lazy initialisation inside libunwind (tdep_init, its caches) must not first run in a
 * handler: one local walk here does it. */
void unwind_warm_up(void)
{
    unw_context_t ctx;
    unw_cursor_t cur;
    if (unw_getcontext(&ctx) != 0 || unw_init_local(&cur, &ctx) != 0)
        return;
    for (int i = 0; i < 4 && unw_step(&cur) > 0; i++)
        ;
}
