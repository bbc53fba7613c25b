/* interpose_malloc.c -- the C allocation entry points, for sampled C memory profiling.
 * Context: program (any thread, from the first allocation of the process on: before the
 * constructor, in fork children, inside the program's signal handlers; the sampled path they
 * call is program/sample/heap_sample.c)
 *
 * malloc, calloc, realloc, reallocarray, free, posix_memalign, aligned_alloc, memalign,
 * valloc, pvalloc. (C++'s operator new and delete call malloc and free through the PLT in
 * libstdc++, so they arrive here too; the aligned forms through aligned_alloc.) Each forwards
 * to the next definition in the lookup order (dlsym(RTLD_NEXT)): libc's, or a jemalloc or
 * tcmalloc loaded after libgoprof.so. One loaded before it (or linked into the executable)
 * interposes these instead: heap_start sees that (malloc is not ours), says so in one line
 * and leaves allocation alone.
 *
 * Cost. While C memory profiling is off (GOPROF_HEAP_RATE unset, or profiling off), none: the
 * constructor binds the loaded objects' calls to the allocator itself (heap_bind_direct,
 * got_rebind.c); an object loaded later comes here for the same few instructions as when it
 * is on, and a look at gp_heap_on every HEAP_OFF_LEFT bytes. While it is on: malloc subtracts
 * the size from the thread's countdown (heap_pick), free reads one bit of the filter's summary
 * and, only near a sampled block, one filter bit (heap_filter_maybe), then each
 * jumps through a function pointer. Nothing else: whether
 * profiling is on is asked only when the countdown runs out or the bit is set, and free()
 * does not test for arena blocks (below). On heapbench (1 thread, 512k) the tests that went
 * took libgoprof.so's share of the CPU samples from 3.48 % to 2.94 % (medians of 8 runs).
 *
 * Bootstrap. The real functions are found on the first call of any entry point (often before
 * our constructor: ld.so and other libraries' constructors allocate first). dlsym may itself
 * allocate (calloc, for its error state): calls made while the functions are being resolved
 * are served from a static arena (BOOT_ARENA bytes, bump-allocated, never reused), whose
 * blocks free() ignores and realloc() copies out of. The function pointers start as the
 * bootstrap functions, so the resolved path has no extra test; and free's stays the arena-aware
 * boot_free if an arena block was ever handed out (use_arena), so free() itself never tests an
 * address against the arena.
 */
#include <dlfcn.h>
#include <errno.h>
#include <link.h>
#include <malloc.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "lib/base/clock.h"
#include "lib/base/log.h"
#include "lib/base/sigsafe.h"
#include "program/preload/got_rebind.h"
#include "program/preload/interpose_malloc.h"
#include "program/sample/heap.h"
#include "program/sample/sample.h"

/* ---- the bootstrap arena ------------------------------------------------------------------- */

#define BOOT_ARENA (256 * 1024)
static _Alignas(4096) unsigned char boot_arena[BOOT_ARENA];
static _Atomic size_t boot_used;

static inline int in_arena(const void *p)
{
    return (uintptr_t)p - (uintptr_t)boot_arena < BOOT_ARENA;
}

/* Zero-filled (never reused), 16-byte header holding the size just below the block. */
static void *arena_alloc(size_t n, size_t align)
{
    if (align < 16)
        align = 16;
    if (n > BOOT_ARENA || align > BOOT_ARENA || (align & (align - 1))) {
        errno = n > BOOT_ARENA ? ENOMEM : EINVAL;
        return NULL;
    }
    size_t off = atomic_load_explicit(&boot_used, memory_order_relaxed), start, end;
    do {
        start = (off + 16 + align - 1) & ~(align - 1);
        end = start + ((n + 15) & ~(size_t)15);
        if (end > BOOT_ARENA) {
            errno = ENOMEM;
            return NULL;
        }
    } while (!atomic_compare_exchange_weak_explicit(&boot_used, &off, end, memory_order_relaxed,
                                                    memory_order_relaxed));
    memcpy(boot_arena + start - sizeof(size_t), &n, sizeof n);
    return boot_arena + start;
}

static size_t arena_size(const void *p)
{
    size_t n;
    memcpy(&n, (const unsigned char *)p - sizeof n, sizeof n);
    return n;
}

/* ---- the real functions --------------------------------------------------------------------- */

static void *boot_malloc(size_t n);
static void *boot_calloc(size_t n, size_t m);
static void *boot_realloc(void *p, size_t n);
static void boot_free(void *p);
static int boot_posix_memalign(void **out, size_t align, size_t n);
static void *boot_aligned_alloc(size_t align, size_t n);
static void *boot_memalign(size_t align, size_t n);
static void *boot_valloc(size_t n);
static void *boot_pvalloc(size_t n);

struct malloc_real {
    void *(*malloc)(size_t);
    void *(*calloc)(size_t, size_t);
    void *(*realloc)(void *, size_t);
    void (*free)(void *);
    int (*posix_memalign)(void **, size_t, size_t);
    void *(*aligned_alloc)(size_t, size_t);
    void *(*memalign)(size_t, size_t);
    void *(*valloc)(size_t);
    void *(*pvalloc)(size_t);
};

static struct malloc_real real = {
    boot_malloc, boot_calloc, boot_realloc, boot_free, boot_posix_memalign,
    boot_aligned_alloc, boot_memalign, boot_valloc, boot_pvalloc,
};

#define REAL(fn) __atomic_load_n(&real.fn, __ATOMIC_RELAXED)

enum { UNRESOLVED, RESOLVING, RESOLVED, UNRESOLVABLE };
static _Atomic int resolve_state;
static void (*free_next)(void *);   /* the allocator's free, once resolved */
/* Set before the arena hands a block out (use_arena), never cleared. */
static _Atomic int arena_handed;
static int malloc_first;   /* our malloc is the global lookup's (set by resolve) */

/* Fallbacks for what the next allocator lacks, built on its posix_memalign. */
static void *fallback_memalign(size_t align, size_t n)
{
    void *p = NULL;
    int r = REAL(posix_memalign)(&p, align < sizeof(void *) ? sizeof(void *) : align, n);
    if (r) {
        errno = r;
        return NULL;
    }
    return p;
}
static void *fallback_valloc(size_t n)
{
    return fallback_memalign((size_t)sysconf(_SC_PAGESIZE), n);
}
static void *fallback_pvalloc(size_t n)
{
    size_t pg = (size_t)sysconf(_SC_PAGESIZE);
    if (n > SIZE_MAX - pg) {
        errno = ENOMEM;
        return NULL;
    }
    return fallback_memalign(pg, (n + pg - 1) & ~(pg - 1));
}
static int no_posix_memalign(void **out, size_t align, size_t n)
{
    (void)out, (void)align, (void)n;
    return ENOMEM;
}

static void say(const char *msg)
{
    ssize_t w = write(STDERR_FILENO, msg, strlen(msg));
    (void)w;
}

/* The object a function is defined in (0 when unknown): its link map, not the mapping's start,
 * which is one segment's in an executable whose segments are not contiguous. (Not dladdr: it
 * reads the object's whole symbol table for the nearest name; called 15 times here, it was
 * 12 % of the CPU samples of a preloaded /bin/true's start, by perf.) */
static const void *object_of(const void *fn)
{
    struct dl_find_object o;
    return fn && _dl_find_object((void *)(uintptr_t)fn, &o) == 0 ? o.dlfo_link_map : NULL;
}

/* The definition a call of name goes to: the global lookup's, but not an executable's PLT entry
 * standing in for the function (got_rebind.h: got_call_definition), which dlsym gives in a
 * non-PIE executable that takes the function's address (Debian's python3, malloc and free):
 * taken for a definition of its own, it made the executable look like an allocator that comes
 * first, and its calls come back to us. */
static void *global_definition(const char *name)
{
    return (void *)got_call_definition(name, (uintptr_t)dlsym(RTLD_DEFAULT, name));
}

/* C++'s operators that chain to others, as libstdc++'s do (new[] calls new, every delete
 * calls the plain delete): the program's own definitions (an executable's custom operator
 * new) must keep seeing those calls. */
struct cxx_global {
    void *(*znwm)(size_t);
    void *(*znwm_al)(size_t, size_t);
    void (*zdlpv)(void *);
    void (*zdlpv_al)(void *, size_t);
    /* the next definitions of the nothrow forms and of new's failure path */
    void *(*next_znwm)(size_t);
    void *(*next_znwm_al)(size_t, size_t);
    void *(*next_znwm_nt)(size_t, const void *);
    void *(*next_znam_nt)(size_t, const void *);
    void *(*next_znwm_al_nt)(size_t, size_t, const void *);
    void *(*next_znam_al_nt)(size_t, size_t, const void *);
};
static struct cxx_global cxx;

/* The global operators new and delete, as a call finds them. */
static void cxx_lookup(void)
{
    cxx.znwm = (void *(*)(size_t))global_definition("_Znwm");
    cxx.znwm_al = (void *(*)(size_t, size_t))global_definition("_ZnwmSt11align_val_t");
    cxx.zdlpv = (void (*)(void *))global_definition("_ZdlPv");
    cxx.zdlpv_al = (void (*)(void *, size_t))global_definition("_ZdlPvSt11align_val_t");
}

static void *gp_malloc(size_t n);

/* 0 once the real functions are known; -1 while they are being resolved (by this thread, from
 * inside dlsym, or by another one at this moment) or cannot be: use the arena.
 *
 * Which functions. Normally libgoprof.so comes first and the allocator is the next definition
 * (RTLD_NEXT). When another allocator comes first (jemalloc preloaded before us), the program
 * calls it directly and reaches us only for the names it lacks: then those forward to its
 * functions (the global lookup's: global_definition), never to libc's behind it. Either way a
 * function of another object than the allocator's malloc (glibc's pvalloc behind a jemalloc
 * that has none) is not used: it would hand the allocator blocks it does not know; a fallback
 * on the allocator's own posix_memalign replaces it. */
static int resolve(void)
{
    int s = atomic_load_explicit(&resolve_state, memory_order_acquire);
    if (s == RESOLVED)
        return 0;
    if (s != UNRESOLVED)
        return -1;
    if (!atomic_compare_exchange_strong_explicit(&resolve_state, &s, RESOLVING,
                                                 memory_order_acq_rel, memory_order_acquire))
        return s == RESOLVED ? 0 : -1;
    int saved = errno;
    const void *self = object_of((const void *)gp_malloc);
    int first = global_definition("malloc") == (void *)gp_malloc;
    malloc_first = first;
#define FIND(name)                                                                          \
    ({                                                                                      \
        void *f_ = first ? dlsym(RTLD_NEXT, name) : global_definition(name);               \
        object_of(f_) == self ? NULL : f_;                                                  \
    })
    struct malloc_real r;
    r.malloc = (void *(*)(size_t))FIND("malloc");
    const void *alloc_obj = object_of((const void *)r.malloc);
#define FIND_SAME(name) ({ void *g_ = FIND(name); object_of(g_) == alloc_obj ? g_ : NULL; })
    r.calloc = (void *(*)(size_t, size_t))FIND_SAME("calloc");
    r.realloc = (void *(*)(void *, size_t))FIND_SAME("realloc");
    r.free = (void (*)(void *))FIND_SAME("free");
    r.posix_memalign = (int (*)(void **, size_t, size_t))FIND_SAME("posix_memalign");
    r.aligned_alloc = (void *(*)(size_t, size_t))FIND_SAME("aligned_alloc");
    r.memalign = (void *(*)(size_t, size_t))FIND_SAME("memalign");
    r.valloc = (void *(*)(size_t))FIND_SAME("valloc");
    r.pvalloc = (void *(*)(size_t))FIND_SAME("pvalloc");
    if (!r.malloc || !r.calloc || !r.realloc || !r.free) {
        /* Cannot happen with a libc; serve what the arena holds rather than crash. */
        say("libgoprof: heap: malloc/calloc/realloc/free not found; allocations come from a "
            "small static arena\n");
        errno = saved;
        atomic_store_explicit(&resolve_state, UNRESOLVABLE, memory_order_release);
        return -1;
    }
    __atomic_store_n(&free_next, r.free, __ATOMIC_RELEASE);   /* before any block can exist */
    if (!r.posix_memalign)
        r.posix_memalign = no_posix_memalign;
    __atomic_store_n(&real.posix_memalign, r.posix_memalign, __ATOMIC_RELAXED);
    __atomic_store_n(&real.memalign, r.memalign ? r.memalign : fallback_memalign,
                     __ATOMIC_RELAXED);
    __atomic_store_n(&real.aligned_alloc, r.aligned_alloc ? r.aligned_alloc : fallback_memalign,
                     __ATOMIC_RELAXED);
    __atomic_store_n(&real.valloc, r.valloc ? r.valloc : fallback_valloc, __ATOMIC_RELAXED);
    __atomic_store_n(&real.pvalloc, r.pvalloc ? r.pvalloc : fallback_pvalloc, __ATOMIC_RELAXED);
    __atomic_store_n(&real.calloc, r.calloc, __ATOMIC_RELAXED);
    __atomic_store_n(&real.realloc, r.realloc, __ATOMIC_RELAXED);
    __atomic_store_n(&real.malloc, r.malloc, __ATOMIC_RELAXED);
    /* C++ (absent from a C program's lookup until libstdc++ is loaded: looked up again then).
     * After the C functions: a failed dlsym allocates its error message, which must then come
     * from the allocator, not the arena, whose blocks keep free() coming here
     * (heap_bind_direct). */
    cxx_lookup();
    cxx.next_znwm = (void *(*)(size_t))FIND("_Znwm");
    cxx.next_znwm_al = (void *(*)(size_t, size_t))FIND("_ZnwmSt11align_val_t");
    cxx.next_znwm_nt = (void *(*)(size_t, const void *))FIND("_ZnwmRKSt9nothrow_t");
    cxx.next_znam_nt = (void *(*)(size_t, const void *))FIND("_ZnamRKSt9nothrow_t");
    cxx.next_znwm_al_nt =
        (void *(*)(size_t, size_t, const void *))FIND("_ZnwmSt11align_val_tRKSt9nothrow_t");
    cxx.next_znam_al_nt =
        (void *(*)(size_t, size_t, const void *))FIND("_ZnamSt11align_val_tRKSt9nothrow_t");
#undef FIND_SAME
#undef FIND
    errno = saved;
    atomic_store(&resolve_state, RESOLVED);
    /* free() tests no address against the arena: its blocks must meet boot_free. Only if none
     * was handed out (use_arena) does free go to the allocator directly. */
    if (!atomic_load(&arena_handed))
        __atomic_store_n(&real.free, r.free, __ATOMIC_RELAXED);
    return 0;
}

/* At load, before the program has threads: a thread that calls an interposer while another
 * is resolving gets the arena, which cannot serve a realloc of a block of the real allocator
 * (c_heap with tcmalloc preloaded before us: its reallocarray, ours, raced with the first
 * resolution in 5 of 12 runs). Resolved here, the race is left only to allocations made
 * before this constructor, which are single-threaded. */
__attribute__((constructor(101))) static void resolve_at_load(void)
{
    (void)resolve();
}

/* 1: serve this call from the arena (the real functions are not known yet, or cannot be).
 * arena_handed is set before the state is read again, and resolve() reads arena_handed after
 * it stores RESOLVED (all sequentially consistent): so either this sees RESOLVED and uses
 * the allocator, or resolve() sees arena_handed and keeps free() on boot_free. */
static int use_arena(void)
{
    if (resolve() == 0)
        return 0;
    atomic_store(&arena_handed, 1);
    return atomic_load(&resolve_state) != RESOLVED;
}

static void *boot_malloc(size_t n)
{
    return !use_arena() ? REAL(malloc)(n) : arena_alloc(n, 16);
}
static void *boot_calloc(size_t n, size_t m)
{
    if (!use_arena())
        return REAL(calloc)(n, m);
    size_t t;
    if (__builtin_mul_overflow(n, m, &t)) {
        errno = ENOMEM;
        return NULL;
    }
    return arena_alloc(t, 16);   /* zero-filled */
}
static void *boot_realloc(void *p, size_t n)
{
    /* (arena blocks never get here: realloc() copies them out itself) */
    if (!use_arena())
        return REAL(realloc)(p, n);
    return p ? NULL : arena_alloc(n, 16);
}
/* real.free until resolve() is done, and for good if an arena block was handed out. A block
 * not the arena's is the allocator's, whose free resolve() stores first. */
static void boot_free(void *p)
{
    if (!p || in_arena(p))
        return;
    void (*f)(void *) = __atomic_load_n(&free_next, __ATOMIC_ACQUIRE);
    if (!f && resolve() == 0)
        f = __atomic_load_n(&free_next, __ATOMIC_ACQUIRE);
    if (f)
        f(p);
}
static int boot_posix_memalign(void **out, size_t align, size_t n)
{
    if (!use_arena())
        return REAL(posix_memalign)(out, align, n);
    void *p = arena_alloc(n, align);
    if (!p)
        return errno;
    *out = p;
    return 0;
}
static void *boot_aligned_alloc(size_t align, size_t n)
{
    return !use_arena() ? REAL(aligned_alloc)(align, n) : arena_alloc(n, align);
}
static void *boot_memalign(size_t align, size_t n)
{
    return !use_arena() ? REAL(memalign)(align, n) : arena_alloc(n, align);
}
static void *boot_valloc(size_t n)
{
    return !use_arena() ? REAL(valloc)(n) : arena_alloc(n, 4096);
}
static void *boot_pvalloc(size_t n)
{
    return !use_arena() ? REAL(pvalloc)(n) : arena_alloc((n + 4095) & ~(size_t)4095, 4096);
}

/* ---- the interposers ------------------------------------------------------------------------ */

/* The table of sampled blocks: 2^16 lines of 3 slots (4 MiB, 196608 slots), its 8 MiB
 * filter (a word per 2 KiB window of a 2 GiB region: 16 words a line, so that homes by window
 * reach every line at 16 windows a line) and the filter's 4 MiB summary (a bit per 4 KiB page
 * of a 64 GiB span, a heap's 64 MiB on one page of it): program/sample/heap_set.h. The lines
 * are mapped untouched (map_set), pages come as addresses land. At the usual rates (4 KiB and
 * up) a sampled allocation's insert lands on its windows' line (heap_set.h), so a thread's
 * inserts touch a stretch of the table a 32nd to a 512th of its heap's size, and the pages
 * stay small (MADV_NOHUGEPAGE):
 * a transparent huge page is zeroed whole by the first insert that lands on it, 2 MiB inside
 * one malloc, which took 5-6 ms on the development VM in half the runs (perf: 19-24 samples
 * at 4 kHz in clear_page_erms under the first inserts, 2 % of a 0.25 s heapbench run; with
 * small pages 0-1). Under 4 KiB homes are random lines, and there a huge page (MADV_HUGEPAGE)
 * spares the TLB misses (~90 ns of an insert's ~290 ns when all homes were random, on the
 * same VM). The filter and its summary are
 * here, static: free() reads them at fixed addresses with constant shifts, and their pages are
 * touched where the program's heap is (page-aligned: a fork child drops their pages,
 * zero_static). */
#define SET_LINE_BITS 16
#define SET_BITS 20
#define SET_SPAN 36
_Static_assert(SET_BITS + HEAP_FILTER_WINDOW_SHIFT <= SET_SPAN && SET_SPAN <= 47,
               "the summary's span holds whole filter regions (heap_set_init)");
static _Alignas(4096) _Atomic uint64_t set_filter[(size_t)1 << SET_BITS];
static _Alignas(4096) _Atomic uint64_t set_summary[HEAP_SET_SUMMARY_WORDS(SET_SPAN)];

/* The sampled paths are bodies for heap_sampled_call (program/sample/heap.h), which an
 * interposer tail-calls so that the stack is walked from the program's call: the allocation's
 * caller, with no frame of ours in between. */
#define COLD __attribute__((noinline, cold))
#define SAMPLED(body, a, b, c) \
    heap_sampled_call(body, (uint64_t)(uintptr_t)(a), (uint64_t)(b), (uint64_t)(c))

static COLD uint64_t malloc_sampled(uint64_t n, uint64_t b, uint64_t c,
                                    const struct unwind_regs *at)
{
    (void)b, (void)c;
    void *p = REAL(malloc)(n);
    if (p)
        heap_record_alloc((uintptr_t)p, n, at);
    return (uintptr_t)p;
}

static void *gp_malloc(size_t n)
{
    if (heap_pick(n))
        return (void *)SAMPLED(malloc_sampled, n, 0, 0);
    return REAL(malloc)(n);
}

static COLD uint64_t calloc_sampled(uint64_t n, uint64_t m, uint64_t t,
                                    const struct unwind_regs *at)
{
    void *p = REAL(calloc)(n, m);
    if (p)
        heap_record_alloc((uintptr_t)p, t, at);
    return (uintptr_t)p;
}

static void *gp_calloc(size_t n, size_t m)
{
    size_t t;
    if (!__builtin_mul_overflow(n, m, &t) && heap_pick(t))
        return (void *)SAMPLED(calloc_sampled, n, m, t);
    return REAL(calloc)(n, m);
}

/* p may be a sampled block (its filter bit is set). Called, not reached through
 * heap_sampled_call: a free records no stack. */
static COLD void free_sampled(void *p)
{
    uint64_t meta;
    if (heap_on() && heap_take((uintptr_t)p, &meta))
        heap_record_free(meta);
    REAL(free)(p);   /* (the filter's false positives include arena blocks) */
}

/* No test of gp_heap_on, nor of the arena: a bit is set only for a sampled block's granule, and
 * real.free is the arena's own free while an arena block may be live (resolve). */
static void gp_free(void *p)
{
    if (heap_filter_maybe(set_filter, set_summary, SET_BITS, SET_SPAN, (uintptr_t)p)) {
        free_sampled(p);
        return;
    }
    REAL(free)(p);
}

/* realloc of an arena block: copied into a real block (the arena's is left as it is). */
static COLD void *arena_realloc(void *p, size_t n)
{
    if (n == 0)
        return NULL;   /* as glibc: realloc(p, 0) frees p */
    void *q = gp_malloc(n);
    if (q) {
        size_t old = arena_size(p);
        memcpy(q, p, old < n ? old : n);
    }
    return q;
}

/* picked: the n bytes were picked as a new allocation; else p may be a sampled block (its
 * filter bit is set), to follow if it is one, and if not, the n bytes count as an allocation. */
static COLD uint64_t realloc_sampled(uint64_t p, uint64_t n, uint64_t picked,
                                     const struct unwind_regs *at)
{
    if (!picked) {
        uint64_t meta;
        if (heap_on() && heap_take(p, &meta)) {
            void *q = REAL(realloc)((void *)(uintptr_t)p, n);
            if (q)
                heap_record_move(meta, (uintptr_t)q, n, at);
            else if (n == 0)
                heap_record_free(meta);   /* glibc's realloc(p, 0) frees p */
            else
                heap_untake(p, meta);     /* failed: p is still allocated */
            return (uintptr_t)q;
        }
        picked = n > 0 && heap_pick(n);
    }
    void *q = REAL(realloc)((void *)(uintptr_t)p, n);
    if (picked && q)
        heap_record_alloc((uintptr_t)q, n, at);
    return (uintptr_t)q;
}

static void *gp_realloc(void *p, size_t n)
{
    if (__builtin_expect(in_arena(p), 0))
        return arena_realloc(p, n);
    if (p && heap_filter_maybe(set_filter, set_summary, SET_BITS, SET_SPAN, (uintptr_t)p))
        return (void *)SAMPLED(realloc_sampled, p, n, 0);
    if (n > 0 && heap_pick(n))
        return (void *)SAMPLED(realloc_sampled, p, n, 1);
    return REAL(realloc)(p, n);
}

static COLD uint64_t posix_memalign_sampled(uint64_t out, uint64_t align, uint64_t n,
                                            const struct unwind_regs *at)
{
    void **o = (void **)(uintptr_t)out;
    int r = REAL(posix_memalign)(o, align, n);
    if (r == 0 && *o)
        heap_record_alloc((uintptr_t)*o, n, at);
    return (uint64_t)r;
}

static int gp_posix_memalign(void **out, size_t align, size_t n)
{
    if (heap_pick(n))
        return heap_sampled_call_int(posix_memalign_sampled, (uintptr_t)out, align, n);
    return REAL(posix_memalign)(out, align, n);
}

/* aligned_alloc, memalign, valloc, pvalloc: which one, for the sampled path. */
enum aligned_kind { K_ALIGNED_ALLOC, K_MEMALIGN, K_VALLOC, K_PVALLOC };

static COLD uint64_t aligned_sampled(uint64_t k, uint64_t align, uint64_t n,
                                     const struct unwind_regs *at)
{
    void *p = k == K_ALIGNED_ALLOC ? REAL(aligned_alloc)(align, n)
            : k == K_MEMALIGN ? REAL(memalign)(align, n)
            : k == K_VALLOC ? REAL(valloc)(n)
            : REAL(pvalloc)(n);
    if (p)
        heap_record_alloc((uintptr_t)p, n, at);
    return (uintptr_t)p;
}

/* ---- the exported names ---------------------------------------------------------------------
 * Aliases of the static functions above, so that heap_start can tell whether the program's
 * malloc is ours (global_definition against gp_malloc's own address), and so that our own
 * calls (reallocarray -> realloc) do not go through the PLT. */
#define EXPORT_AS(name, impl) __typeof__(impl) name __attribute__((alias(#impl), visibility("default")))

EXPORT_AS(malloc, gp_malloc);
EXPORT_AS(calloc, gp_calloc);
EXPORT_AS(realloc, gp_realloc);
EXPORT_AS(free, gp_free);
EXPORT_AS(posix_memalign, gp_posix_memalign);

GP_EXPORT void *aligned_alloc(size_t align, size_t n)
{
    if (heap_pick(n))
        return (void *)SAMPLED(aligned_sampled, K_ALIGNED_ALLOC, align, n);
    return REAL(aligned_alloc)(align, n);
}

GP_EXPORT void *memalign(size_t align, size_t n)
{
    if (heap_pick(n))
        return (void *)SAMPLED(aligned_sampled, K_MEMALIGN, align, n);
    return REAL(memalign)(align, n);
}

GP_EXPORT void *valloc(size_t n)
{
    if (heap_pick(n))
        return (void *)SAMPLED(aligned_sampled, K_VALLOC, 0, n);
    return REAL(valloc)(n);
}

GP_EXPORT void *pvalloc(size_t n)
{
    if (heap_pick(n))
        return (void *)SAMPLED(aligned_sampled, K_PVALLOC, 0, n);
    return REAL(pvalloc)(n);
}

/* Ours, on top of realloc (the next allocator may not have it; glibc's calls realloc). */
GP_EXPORT void *reallocarray(void *p, size_t n, size_t m)
{
    size_t t;
    if (__builtin_mul_overflow(n, m, &t)) {
        errno = ENOMEM;
        return NULL;
    }
    return gp_realloc(p, t);
}

/* ---- C++ --------------------------------------------------------------------------------------
 * libstdc++'s operator new calls malloc through the PLT, so its allocations reach us anyway;
 * but jemalloc and tcmalloc define all twenty operators themselves, and come before libstdc++:
 * without these, C++ allocations would bypass us (and worse, a sampled block's delete would
 * not be seen). new and delete are malloc and free here; the other forms chain to them
 * through the global lookup, as libstdc++'s do, so an executable's own operator new/delete
 * still sees every call; new's failure path (new_handler, bad_alloc) is the next
 * definition's, and so are the nothrow forms where malloc fails or the program has its own
 * operator new. */
static void cxx_resolve(void)
{
    if (!cxx.zdlpv || !cxx.znwm) {   /* a C++ library loaded after our first allocation */
        cxx_lookup();
    }
}

static void *aligned_new(size_t n, size_t al)
{
    void *p = NULL;
    if (al < sizeof(void *))
        al = sizeof(void *);
    return gp_posix_memalign(&p, al, n ? n : 1) == 0 ? p : NULL;
}

/* new's failure path: new_handler, bad_alloc */
static COLD void *new_failed(size_t n)
{
    resolve();
    return cxx.next_znwm ? cxx.next_znwm(n) : NULL;
}
static COLD uint64_t new_sampled(uint64_t n, uint64_t b, uint64_t c, const struct unwind_regs *at)
{
    uint64_t p = malloc_sampled(n, b, c, at);
    return p ? p : (uintptr_t)new_failed(n);
}
GP_EXPORT void *_Znwm(size_t n)
{
    if (n == 0)
        n = 1;
    if (heap_pick(n))
        return (void *)SAMPLED(new_sampled, n, 0, 0);
    void *p = REAL(malloc)(n);
    if (__builtin_expect(p != NULL, 1))
        return p;
    return new_failed(n);
}
GP_EXPORT void *_Znam(size_t n)
{
    cxx_resolve();
    return cxx.znwm(n);
}
GP_EXPORT void *_ZnwmSt11align_val_t(size_t n, size_t al)
{
    void *p = aligned_new(n, al);
    if (__builtin_expect(p != NULL, 1))
        return p;
    resolve();
    return cxx.next_znwm_al ? cxx.next_znwm_al(n, al) : NULL;
}
GP_EXPORT void *_ZnamSt11align_val_t(size_t n, size_t al)
{
    cxx_resolve();
    return cxx.znwm_al(n, al);
}
/* The nothrow forms allocate here when the global operator new is ours (jemalloc's and
 * tcmalloc's nothrow new do not come through malloc: they would not be sampled); the next
 * definition's takes over when that fails (its new_handler loop), and when the program has an
 * operator new of its own (libstdc++'s nothrow new calls it). */
static void *nothrow_new(size_t n, size_t al)
{
    cxx_resolve();
    if (al ? cxx.znwm_al != _ZnwmSt11align_val_t : cxx.znwm != _Znwm)
        return NULL;
    return al ? aligned_new(n, al) : gp_malloc(n ? n : 1);
}
GP_EXPORT void *_ZnwmRKSt9nothrow_t(size_t n, const void *nt)
{
    void *p = nothrow_new(n, 0);
    if (__builtin_expect(p != NULL, 1))
        return p;
    resolve();
    return cxx.next_znwm_nt ? cxx.next_znwm_nt(n, nt) : gp_malloc(n ? n : 1);
}
GP_EXPORT void *_ZnamRKSt9nothrow_t(size_t n, const void *nt)
{
    void *p = nothrow_new(n, 0);
    if (__builtin_expect(p != NULL, 1))
        return p;
    resolve();
    return cxx.next_znam_nt ? cxx.next_znam_nt(n, nt) : gp_malloc(n ? n : 1);
}
GP_EXPORT void *_ZnwmSt11align_val_tRKSt9nothrow_t(size_t n, size_t al, const void *nt)
{
    void *p = nothrow_new(n, al ? al : 1);
    if (__builtin_expect(p != NULL, 1))
        return p;
    resolve();
    return cxx.next_znwm_al_nt ? cxx.next_znwm_al_nt(n, al, nt) : aligned_new(n, al);
}
GP_EXPORT void *_ZnamSt11align_val_tRKSt9nothrow_t(size_t n, size_t al, const void *nt)
{
    void *p = nothrow_new(n, al ? al : 1);
    if (__builtin_expect(p != NULL, 1))
        return p;
    resolve();
    return cxx.next_znam_al_nt ? cxx.next_znam_al_nt(n, al, nt) : aligned_new(n, al);
}

GP_EXPORT void _ZdlPv(void *p)
{
    gp_free(p);
}
GP_EXPORT void _ZdlPvSt11align_val_t(void *p, size_t al)
{
    (void)al;
    gp_free(p);
}
/* the others: the plain (or aligned) delete, through the global lookup */
static void global_delete(void *p)
{
    cxx_resolve();
    cxx.zdlpv(p);
}
static void global_delete_al(void *p, size_t al)
{
    cxx_resolve();
    cxx.zdlpv_al(p, al);
}
GP_EXPORT void _ZdaPv(void *p) { global_delete(p); }
GP_EXPORT void _ZdlPvm(void *p, size_t n) { (void)n; global_delete(p); }
GP_EXPORT void _ZdaPvm(void *p, size_t n) { (void)n; global_delete(p); }
GP_EXPORT void _ZdlPvRKSt9nothrow_t(void *p, const void *nt) { (void)nt; global_delete(p); }
GP_EXPORT void _ZdaPvRKSt9nothrow_t(void *p, const void *nt) { (void)nt; global_delete(p); }
GP_EXPORT void _ZdaPvSt11align_val_t(void *p, size_t al) { global_delete_al(p, al); }
GP_EXPORT void _ZdlPvmSt11align_val_t(void *p, size_t n, size_t al)
{
    (void)n;
    global_delete_al(p, al);
}
GP_EXPORT void _ZdaPvmSt11align_val_t(void *p, size_t n, size_t al)
{
    (void)n;
    global_delete_al(p, al);
}
GP_EXPORT void _ZdlPvSt11align_val_tRKSt9nothrow_t(void *p, size_t al, const void *nt)
{
    (void)nt;
    global_delete_al(p, al);
}
GP_EXPORT void _ZdaPvSt11align_val_tRKSt9nothrow_t(void *p, size_t al, const void *nt)
{
    (void)nt;
    global_delete_al(p, al);
}

/* ---- set-up, fork, statistics --------------------------------------------------------------- */

#define SET_ALIGN ((size_t)2 << 20)

static void *set_mem;
static size_t set_size;
static int heap_ready;   /* heap_start succeeded */

/* A static array (page-aligned, whole pages of the library's zero-filled, anonymous part)
 * zeroed: its pages dropped (MADV_DONTNEED gives such pages back as zeros), so that the pages
 * the parent never touched stay untouched (reading the summary's 4 MiB word by word would fault
 * in a thousand pages in every fork child). Not a new mapping over it: a MAP_FIXED that fails
 * may leave a hole, which every free() would then fault on. Word by word where that fails. */
static void zero_static(_Atomic uint64_t *w, size_t n)
{
    if (madvise(w, n * sizeof *w, MADV_DONTNEED) == 0)
        return;
    for (size_t i = 0; i < n; i++)
        if (atomic_load_explicit(&w[i], memory_order_relaxed))
            atomic_store_explicit(&w[i], 0, memory_order_relaxed);
}

static int map_set(int fixed)
{
    void *p;
    if (fixed) {
        p = mmap(set_mem, set_size, PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED, -1, 0);
    } else {
        /* over-map by the alignment, keep the aligned part */
        unsigned char *raw = mmap(NULL, set_size + SET_ALIGN, PROT_READ | PROT_WRITE,
                                  MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        p = raw;
        if (raw != MAP_FAILED) {
            unsigned char *aligned =
                (unsigned char *)(((uintptr_t)raw + SET_ALIGN - 1) & ~(uintptr_t)(SET_ALIGN - 1));
            if (aligned > raw)
                munmap(raw, (size_t)(aligned - raw));
            munmap(aligned + set_size, (size_t)(raw + SET_ALIGN - aligned));
            p = aligned;
        }
    }
    if (p == MAP_FAILED)
        return -errno;
    set_mem = p;
    int home_shift = heap_set_home_shift(gp_heap.rate, SET_BITS, SET_LINE_BITS);
    /* a hint: may fail */
    (void)madvise(p, set_size & ~(SET_ALIGN - 1), home_shift >= 0 ? MADV_NOHUGEPAGE : MADV_HUGEPAGE);
    if (fixed) {   /* a fork child's filter and summary are its parent's */
        zero_static(set_filter, sizeof set_filter / sizeof set_filter[0]);
        zero_static(set_summary, sizeof set_summary / sizeof set_summary[0]);
    }
    heap_set_init(&gp_heap.set, p, SET_LINE_BITS, set_filter, set_summary, SET_BITS, SET_SPAN,
                  home_shift);
    return 0;
}

int heap_start(uint64_t rate, uint64_t skip_lo, uint64_t skip_hi)
{
    if (!rate)
        return 0;
    void *m = global_definition("malloc"), *f = global_definition("free");
    if (m != (void *)gp_malloc || f != (void *)gp_free) {
        /* The executable's own allocator (rustc's jemalloc, chromium's PartitionAlloc) comes
         * before every preload; a library's came before ours in LD_PRELOAD. (The executable's
         * link map heads the list.) */
        Dl_info info;
        struct link_map *lm = NULL;
        int found = m && dladdr1(m, &info, (void **)&lm, RTLD_DL_LINKMAP) && info.dli_fname;
        const char *who = found ? info.dli_fname : "another object";
        if (found && lm && !lm->l_prev)
            gp_log("heap", "GOPROF_HEAP_RATE: malloc is the executable's own (%s), which no "
                   "preloaded library comes before; C memory profiling is off", who);
        else
            gp_log("heap", "GOPROF_HEAP_RATE: malloc is %s's, which comes before libgoprof.so "
                   "in the lookup order (preload libgoprof.so first); C memory profiling is off",
                   who);
        return -1;
    }
    if (resolve() != 0) {
        gp_log("heap", "the allocator behind libgoprof.so was not found; C memory profiling is "
               "off");
        return -1;
    }
    set_size = heap_set_bytes(SET_LINE_BITS);
    gp_heap.rate = rate;   /* (map_set lays the table out for it) */
    int err = map_set(0);
    if (err) {
        gp_log("heap", "cannot map the table of sampled blocks (%s); C memory profiling is off",
               strerror(-err));
        return -1;
    }
    gp_heap.skip_lo = skip_lo;
    gp_heap.skip_hi = skip_hi;
    gp_heap.count_stats = gp_log_debug_enabled;
    heap_ready = 1;
    __atomic_store_n(&gp_heap_on, 1, __ATOMIC_RELEASE);
    heap_thread_restart();
    return 0;
}

/* Every name exported above; those a block reaches (free, realloc, delete) are `takes`: they
 * must keep coming here while an arena block may be live. */
static const struct {
    const char *name;
    void *ours;
    int takes;
} exported[] = {
#define E(name, takes) { #name, (void *)name, takes }
    E(malloc, 0), E(calloc, 0), E(realloc, 1), E(reallocarray, 1), E(free, 1),
    E(posix_memalign, 0), E(aligned_alloc, 0), E(memalign, 0), E(valloc, 0), E(pvalloc, 0),
    E(_Znwm, 0), E(_Znam, 0), E(_ZnwmSt11align_val_t, 0), E(_ZnamSt11align_val_t, 0),
    E(_ZnwmRKSt9nothrow_t, 0), E(_ZnamRKSt9nothrow_t, 0),
    E(_ZnwmSt11align_val_tRKSt9nothrow_t, 0), E(_ZnamSt11align_val_tRKSt9nothrow_t, 0),
    E(_ZdlPv, 1), E(_ZdaPv, 1), E(_ZdlPvm, 1), E(_ZdaPvm, 1), E(_ZdlPvRKSt9nothrow_t, 1),
    E(_ZdaPvRKSt9nothrow_t, 1), E(_ZdlPvSt11align_val_t, 1), E(_ZdaPvSt11align_val_t, 1),
    E(_ZdlPvmSt11align_val_t, 1), E(_ZdaPvmSt11align_val_t, 1),
    E(_ZdlPvSt11align_val_tRKSt9nothrow_t, 1), E(_ZdaPvSt11align_val_tRKSt9nothrow_t, 1),
#undef E
};

/* Where a name's slots go instead of here: the next definition, which the lookup would find
 * without libgoprof.so (RTLD_NEXT: never one of ours), when the global lookup finds ours (not
 * an executable's own). */
static uintptr_t next_definition(const struct got_target *t)
{
    void *next = dlsym(RTLD_NEXT, t->name);
    if (!next || global_definition(t->name) != (void *)t->ours)
        return 0;
    return (uintptr_t)next;
}

/* Off for good here: each name is bound, in the objects loaded now, to its next definition.
 * Not when another allocator comes first (we then serve the names it lacks, with fallbacks of
 * our own), and the freeing names not while an arena block may be live: only we know it is
 * not the allocator's. */
void heap_bind_direct(void)
{
    if (heap_ready || resolve() != 0 || !malloc_first)
        return;
    int64_t t0 = gp_clock_ns(CLOCK_MONOTONIC);
    int arena = atomic_load_explicit(&boot_used, memory_order_relaxed) != 0;
    struct got_target t[sizeof exported / sizeof exported[0]];
    size_t n = 0;
    for (size_t i = 0; i < sizeof exported / sizeof exported[0]; i++)
        if (!(arena && exported[i].takes))
            t[n++] = (struct got_target){ exported[i].name, (uintptr_t)exported[i].ours, 0, 0 };
    struct got_rebind_stats st;
    got_rebind(t, n, next_definition, &st);
    gp_debug("heap", "off: %u calls in %u objects bound to the allocator (%u ahead of their "
             "first call) in %lld us, %u left to us (read-only)%s", st.slots, st.objects,
             st.lazy, (long long)(gp_clock_ns(CLOCK_MONOTONIC) - t0) / 1000, st.failed,
             arena ? "; free and realloc left to us (arena in use)" : "");
}

void heap_forked_child(void)
{
    if (!heap_ready)
        return;
    /* The parent's sampled blocks are the child's too, but the child reports into a ring of
     * its own: it forgets them (their frees would refer to allocations it never reported). */
    __atomic_store_n(&gp_heap_on, 0, __ATOMIC_RELAXED);
    heap_scratch_forked_child();
    if (map_set(1) != 0)
        heap_ready = 0;
    memset(&gp_heap.stats, 0, sizeof gp_heap.stats);
}

void heap_resume(void)
{
    if (heap_ready) {
        __atomic_store_n(&gp_heap_on, 1, __ATOMIC_RELEASE);
        heap_thread_restart();
    }
}

__attribute__((destructor)) void heap_report(void)
{
    if (!heap_ready || sample_inert())   /* (getpid: none in a sandbox, interpose_sandbox.c) */
        return;
    struct heap_stats *s = &gp_heap.stats;
    gp_debug("heap", "pid %d: %llu sampled allocations (%llu bytes), %llu frees, %llu moves, "
             "%llu live; %llu without a bucket, %llu not followed (table full); %llu stale, "
             "%llu nested, %llu deferred CPU samples; %llu stacks replayed", (int)getpid(),
             (unsigned long long)s->allocs, (unsigned long long)s->alloc_bytes,
             (unsigned long long)s->frees, (unsigned long long)s->moves,
             (unsigned long long)(gp_heap.count_stats ? heap_set_count(&gp_heap.set) : 0),
             (unsigned long long)s->no_bucket, (unsigned long long)s->lost_set,
             (unsigned long long)s->stale, (unsigned long long)s->nested,
             (unsigned long long)s->deferred_cpu, (unsigned long long)s->replayed);
}
