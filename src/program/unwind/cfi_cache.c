/* cfi_cache.c -- CFI rows already computed, by pc, shared by all threads without locks.
 * Context: signal
 * Must not: allocate, lock, wait for a writer, call libc.
 *
 * Why: a frame looked up from scratch reads ~30 cache lines scattered over several pages (the
 * program headers, a binary search through .eh_frame_hdr, the FDE, its CIE). Between two
 * samples the program evicts them, and in a VM each miss also walks nested page tables, so a
 * cold frame costs microseconds. Profiled programs spend their time in few places: a small
 * table of finished rows turns most frames into one cache line. (libunwind had the same idea,
 * its rs cache, behind a mutex and sigprocmask.)
 *
 * Table: CFI_CACHE_SIZE entries of one cache line, direct-mapped by pc. Each is a seqlock:
 * a writer makes seq odd with a compare-and-swap (and gives up if another writer holds it,
 * so a handler never waits), stores the fields, then makes seq even again; a reader takes the
 * fields only if seq was even and unchanged across its reads. Fields are relaxed atomics, so a
 * torn read is detected, never undefined. The key is (pc, module): the module is the address
 * of its .eh_frame_hdr, so an object unloaded and another loaded at the same place do not
 * share rows (the same object loaded again has the same rows).
 *
 * Compact form: what gcc emits almost everywhere. CFA = tracked register + int32; RBX, RBP,
 * R12-R15 and the return address each "same", "undefined" or "saved at CFA + int16"; every
 * other register "same" (RSP's own rule never matters: the caller's SP is the CFA); no
 * expressions, not a signal frame, return address in column 16. Other rows are not cached.
 */
#include <stdatomic.h>

#include "lib/base/hash.h"
#include "program/unwind/cfi.h"

#define CFI_CACHE_BITS 10
#define CFI_CACHE_SIZE (1u << CFI_CACHE_BITS)

/* The registers the compact form keeps rules for, in its slot order. */
const uint8_t cfi_compact_reg[CFI_COMPACT_SLOTS] = { CFI_RBX, CFI_RBP, CFI_R12, CFI_R13,
                                                     CFI_R14, CFI_R15, CFI_RIP };
#define slot_reg cfi_compact_reg

struct cache_entry {
    _Atomic uint64_t seq;        /* 0: empty; odd: being written */
    _Atomic uint64_t pc, module;
    _Atomic uint64_t cfa;        /* struct cfi_packed's words */
    _Atomic uint64_t off[2];
} __attribute__((aligned(64)));

static struct cache_entry cache[CFI_CACHE_SIZE];

__thread int cfi_cache_bypass __attribute__((tls_model("initial-exec")));

void cfi_cache_warm(void)
{
    /* An RMW that changes nothing: the page is written (so allocated) without losing an entry a
     * handler may be storing. */
    for (size_t i = 0; i < CFI_CACHE_SIZE; i += 4096 / sizeof cache[0])
        atomic_fetch_or_explicit(&cache[i].seq, 0, memory_order_relaxed);
}

GP_SIGSAFE static struct cache_entry *entry_for(uint64_t pc)
{
    return &cache[gp_hash_index(pc, CFI_CACHE_BITS)];
}

GP_SIGSAFE int cfi_cache_get(uint64_t pc, uint64_t module, struct cfi_packed *p)
{
    if (cfi_cache_bypass)
        return -1;
    struct cache_entry *e = entry_for(pc);
    uint64_t s1 = atomic_load_explicit(&e->seq, memory_order_acquire);
    if (s1 == 0 || (s1 & 1))
        return -1;
    uint64_t epc = atomic_load_explicit(&e->pc, memory_order_relaxed);
    uint64_t emod = atomic_load_explicit(&e->module, memory_order_relaxed);
    p->cfa = atomic_load_explicit(&e->cfa, memory_order_relaxed);
    p->off[0] = atomic_load_explicit(&e->off[0], memory_order_relaxed);
    p->off[1] = atomic_load_explicit(&e->off[1], memory_order_relaxed);
    atomic_thread_fence(memory_order_acquire);
    if (atomic_load_explicit(&e->seq, memory_order_relaxed) != s1 || epc != pc || emod != module)
        return -1;
    return 0;
}

GP_SIGSAFE int cfi_compact_pack(const struct cfi_fde *fde, const struct cfi_row *row,
                                struct cfi_packed *p)
{
    _Static_assert(CFI_SAME == 0 && CFI_UNDEF == 1 && CFI_OFFSET == 2, "compact rule kinds");
    if (fde->signal_frame || fde->ra_reg != CFI_RIP || row->cfa_kind != CFI_CFA_REG ||
        row->cfa_reg >= CFI_NREGS || row->cfa_off != (int32_t)row->cfa_off)
        return -1;
    uint32_t tracked = 1u << CFI_RSP;
    p->cfa = (uint32_t)row->cfa_off | (uint64_t)row->cfa_reg << 32;
    p->off[0] = p->off[1] = 0;
    for (int i = 0; i < CFI_COMPACT_SLOTS; i++) {
        int r = slot_reg[i];
        tracked |= 1u << r;
        uint8_t k = row->kind[r];
        if (k != CFI_SAME && k != CFI_UNDEF && k != CFI_OFFSET)
            return -1;
        if (k == CFI_OFFSET && row->val[r] != (int16_t)row->val[r])
            return -1;
        p->cfa |= (uint64_t)k << (40 + 2 * i);   /* CFI_SAME 0, CFI_UNDEF 1, CFI_OFFSET 2 */
        uint64_t v = k == CFI_OFFSET ? (uint16_t)row->val[r] : 0;
        p->off[i >> 2] |= v << (16 * (i & 3));
    }
    for (int r = 0; r < CFI_NREGS; r++)
        if (!(tracked & (1u << r)) && row->kind[r] != CFI_SAME)
            return -1;
    return 0;
}

GP_SIGSAFE void cfi_cache_put(uint64_t pc, uint64_t module, const struct cfi_packed *p)
{
    if (!module || cfi_cache_bypass)
        return;
    struct cache_entry *e = entry_for(pc);
    uint64_t s = atomic_load_explicit(&e->seq, memory_order_relaxed);
    if ((s & 1) || !atomic_compare_exchange_strong_explicit(&e->seq, &s, s + 1,
                                                            memory_order_acquire,
                                                            memory_order_relaxed))
        return;   /* another thread is writing this entry: leave it to it */
    atomic_thread_fence(memory_order_release);
    atomic_store_explicit(&e->pc, pc, memory_order_relaxed);
    atomic_store_explicit(&e->module, module, memory_order_relaxed);
    atomic_store_explicit(&e->cfa, p->cfa, memory_order_relaxed);
    atomic_store_explicit(&e->off[0], p->off[0], memory_order_relaxed);
    atomic_store_explicit(&e->off[1], p->off[1], memory_order_relaxed);
    atomic_store_explicit(&e->seq, s + 2, memory_order_release);
}
