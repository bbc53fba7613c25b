/* cfi_chain.h -- the frames test_cfi.c samples, included once per code-generation variant.
 * Context: tests
 *
 * test_cfi.c includes this file four times under different "#pragma GCC optimize" settings
 * (-O0/-O2, with/without frame pointers) and a different CHAIN_PREFIX, so the same shapes of
 * frame come out with the CFI each variant gets: small frames, a 4 KiB frame, a variable-length
 * array (CFA by RBP even at -O2), a 64-byte-aligned local (stack realignment), many values live
 * across a call (all callee-saved registers pushed). chain_step (test_cfi.c) picks the next
 * function by depth and seed, so the stacks mix variants.
 */
#define CH_CAT2(a, b) a##b
#define CH_CAT(a, b) CH_CAT2(a, b)
#define CH(name) CH_CAT(CHAIN_PREFIX, name)

CHAIN_NOINLINE uint64_t CH(leaf)(struct chain_ctx *c)
{
    uint64_t s = chain_sink;
    for (long i = 0; i < c->spin; i++)
        s += (uint64_t)i ^ (s >> 3);
    chain_sink = s;
    if (c->action)
        s += c->action(c);
    __asm__ volatile("" : "+r"(s) : : "memory");
    return s;
}

CHAIN_NOINLINE uint64_t CH(plain)(struct chain_ctx *c, int d)
{
    uint64_t r = chain_step(c, d - 1);
    __asm__ volatile("" : "+r"(r) : : "memory");
    return r + 1;
}

CHAIN_NOINLINE uint64_t CH(big)(struct chain_ctx *c, int d)
{
    volatile char buf[4096];
    buf[d & 4095] = (char)d;
    uint64_t r = chain_step(c, d - 1);
    __asm__ volatile("" : "+r"(r) : : "memory");
    return r + (uint64_t)buf[d & 4095];
}

CHAIN_NOINLINE uint64_t CH(vla)(struct chain_ctx *c, int d)
{
    volatile char buf[16 + 8 * (d & 7)];
    buf[0] = (char)d;
    uint64_t r = chain_step(c, d - 1);
    __asm__ volatile("" : "+r"(r) : : "memory");
    return r + (uint64_t)buf[0];
}

CHAIN_NOINLINE uint64_t CH(aligned)(struct chain_ctx *c, int d)
{
    volatile char buf[64] __attribute__((aligned(64)));
    buf[d & 63] = (char)d;
    uint64_t r = chain_step(c, d - 1);
    __asm__ volatile("" : "+r"(r) : : "memory");
    return r + (uint64_t)buf[d & 63];
}

CHAIN_NOINLINE uint64_t CH(regs)(struct chain_ctx *c, int d)
{
    /* Six values live across the call: at -O2 they sit in RBX, RBP, R12-R15. */
    uint64_t a = chain_sink, b = a * 3, e = a ^ 5, f = a + 7, g = a >> 2, h = a * 11;
    __asm__ volatile("" : "+r"(a), "+r"(b), "+r"(e), "+r"(f), "+r"(g), "+r"(h));
    uint64_t r = chain_step(c, d - 1);
    __asm__ volatile("" : "+r"(a), "+r"(b), "+r"(e), "+r"(f), "+r"(g), "+r"(h), "+r"(r));
    return r + a + b + e + f + g + h;
}

#undef CH
#undef CH_CAT
#undef CH_CAT2
