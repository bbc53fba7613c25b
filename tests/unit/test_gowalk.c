/* test_gowalk.c -- the Go walker (src/program/unwind/unwind_go.c) at chosen PCs of a real Go
 * binary, on synthetic stacks.
 * Context: tests
 *
 *   test_gowalk GOBINARY    GOBINARY: tests/stacks/callers, built by run_gowalk.sh
 *
 * The binary's function table is read from the file (goexe_analyze_file: link-time addresses,
 * nothing runs). Two arrays play the goroutine stack and g0's, laid out as the runtime leaves
 * them at each PC of runtime.callers -> runtime.systemstack -> runtime.callers.func1 (on g0)
 * (asm_amd64.s, systemstack; cmd/internal/obj/x86/asm6.go for the duffzero call), and every
 * walk must give each frame once, down to runtime.goexit (the synthetic caller of
 * runtime.callers):
 *   - systemstack at its entry, after PUSHQ BP, after the switch to g0, at CALL fn, at the
 *     return address on g0, after the switch back;
 *   - callers.func1 at its entry, in its body, and at the two PCs of its duffzero call
 *     (Go 1.21-1.25) where BP points below SP (the doubled stack of issue 14).
 * The code bytes are found by pattern in .text, so the test follows the toolchain's layout.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "lib/base/record_flags.h"
#include "lib/base/safe_read.h"
#include "lib/elf/elf_file.h"
#include "lib/go/goexe.h"
#include "program/unwind/unwind.h"

static struct elf_section text;

static const uint8_t *code(uint64_t addr)
{
    return text.data + (addr - text.addr);
}

/* First address in [lo, hi) where the bytes pat[0..n) start, or 0. */
static uint64_t find_bytes(uint64_t lo, uint64_t hi, const uint8_t *pat, size_t n)
{
    for (uint64_t a = lo; a + n <= hi; a++)
        if (memcmp(code(a), pat, n) == 0)
            return a;
    return 0;
}

/* The return address of the first CALL rel32 in f whose target is `target`, or 0. */
static uint64_t call_ret(const struct gofunc *f, uint64_t target)
{
    for (uint64_t a = f->entry; a + 5 <= f->end; a++) {
        if (code(a)[0] != 0xe8)
            continue;
        int32_t rel;
        memcpy(&rel, code(a) + 1, 4);
        if (a + 5 + (uint64_t)(int64_t)rel == target)
            return a + 5;
    }
    return 0;
}

static uint64_t pcsp(const struct gofunc *f, uint64_t pc)
{
    int32_t d = -1;
    gopcln_pcsp(&gp_unwind_go.pcln, f, pc, &d);
    return (uint64_t)d;
}

static uint64_t gstack[1024], g0stack[1024];
#define AT(a) (*(uint64_t *)(uintptr_t)(a))

/* Walks from (pc, sp, bp), an interrupted PC, and checks the frames: want[] (the first one
 * exact), nothing broken. */
static void walk(const char *what, uint64_t pc, uint64_t sp, uint64_t bp, const uint64_t *want,
                 int nwant)
{
    struct safe_reader sr;
    sr.nranges = 0;
    sr.pid = gp_unwind_go.pid;
    safe_reader_add(&sr, (uint64_t)(uintptr_t)gstack, (uint64_t)(uintptr_t)(gstack + 1024));
    safe_reader_add(&sr, (uint64_t)(uintptr_t)g0stack, (uint64_t)(uintptr_t)(g0stack + 1024));
    uint64_t pcs[32];
    struct unwind_out out = { .pc = pcs, .max = 32, .leaf = 16 };
    struct unwind_walk w = { .sr = &sr, .out = &out,
                             .g0_lo = (uint64_t)(uintptr_t)g0stack,
                             .g0_hi = (uint64_t)(uintptr_t)(g0stack + 1024) };
    struct unwind_regs next;
    enum unwind_next step = unwind_go_walk(&w, pc, sp, bp, 1, &next);
    unwind_finish(&out);
    int ok = step == UNWIND_STOP && !(out.flags & GP_REC_UNWIND_BROKEN) && out.n == nwant;
    for (int i = 0; ok && i < nwant; i++)
        ok = out.pc[i] == (i == 0 ? want[i] | GP_PC_EXACT : want[i]);
    if (!check_at(ok, what, __FILE__, __LINE__)) {
        fprintf(stderr, "  want:");
        for (int i = 0; i < nwant; i++)
            fprintf(stderr, " %#llx", (unsigned long long)want[i]);
        fprintf(stderr, "\n  got: ");
        for (int i = 0; i < out.n; i++)
            fprintf(stderr, " %#llx", (unsigned long long)(out.pc[i] & ~GP_PC_EXACT));
        fprintf(stderr, "%s\n", (out.flags & GP_REC_UNWIND_BROKEN) ? " (broken)" : "");
    }
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: test_gowalk GOBINARY\n");
        return 2;
    }
    struct goexe go;
    if (!CHECK(goexe_analyze_file(argv[1], &go) == 0 && go.is_go) ||
        !CHECK(elf_file_section(go.file, ".text", &text) == 0 && text.data))
        return check_done();
    unwind_configure(&go);
    printf("%s: %s\n", argv[1], go.version);

    struct gofunc ss, callers, func1, goexit;
    if (!CHECK(gopcln_find_by_name(&go.pcln, "runtime.systemstack", &ss) == 0) ||
        !CHECK(gopcln_find_by_name(&go.pcln, "runtime.callers", &callers) == 0) ||
        !CHECK(gopcln_find_by_name(&go.pcln, "runtime.callers.func1", &func1) == 0) ||
        !CHECK(gopcln_find_by_name(&go.pcln, "runtime.goexit", &goexit) == 0))
        return check_done();
    if (ss.entry < text.addr || ss.end > text.addr + text.size ||
        func1.entry < text.addr || func1.end > text.addr + text.size)
        return CHECK(!"functions in .text"), check_done();

    /* systemstack (asm_amd64.s, the same instructions in 1.21-1.26): PUSHQ BP; MOVQ SP, BP;
     * ...; CALL gosave_systemstack_switch; MOVQ DX, g(CX); MOVQ DX, R14;
     * MOVQ (g_sched+gobuf_sp)(DX), SP; MOVQ DI, DX; MOVQ 0(DI), DI; CALL DI;
     * get_tls(CX); ...; MOVQ (g_sched+gobuf_sp)(AX), SP; MOVQ (g_sched+gobuf_bp)(AX), BP; ... */
    static const uint8_t push_bp[] = { 0x55, 0x48, 0x89, 0xe5 };
    static const uint8_t to_g0[] = { 0x48, 0x8b, 0x62, 0x38 };   /* MOVQ 0x38(DX), SP */
    static const uint8_t call_di[] = { 0xff, 0xd7 };
    static const uint8_t to_g[] = { 0x48, 0x8b, 0x60, 0x38 };    /* MOVQ 0x38(AX), SP */
    uint64_t ss_switched = find_bytes(ss.entry, ss.end, to_g0, sizeof to_g0);
    uint64_t ss_call = find_bytes(ss.entry, ss.end, call_di, sizeof call_di);
    uint64_t ss_back = find_bytes(ss.entry, ss.end, to_g, sizeof to_g);
    uint64_t callers_ret = call_ret(&callers, ss.entry);
    if (!CHECK(memcmp(code(ss.entry), push_bp, sizeof push_bp) == 0) || !CHECK(ss_switched) ||
        !CHECK(ss_call) || !CHECK(ss_back) || !CHECK(callers_ret))
        return check_done();
    ss_switched += sizeof to_g0;
    uint64_t ss_ret = ss_call + sizeof call_di;
    ss_back += sizeof to_g;

    /* The goroutine stack: runtime.callers' frame (its caller: goexit, a root), and
     * systemstack's frame record X below it. */
    uint64_t goexit_ret = goexit.entry + 1;
    uint64_t dc = pcsp(&callers, callers_ret - 1);
    uint64_t csp = (uint64_t)(uintptr_t)(gstack + 512);
    AT(csp + dc) = goexit_ret;
    AT(csp + dc - 8) = 0;
    uint64_t Y = csp + dc - 8;                 /* callers' record */
    uint64_t X = csp - 16;                     /* systemstack's record */
    AT(X) = Y;
    AT(X + 8) = callers_ret;
    /* g0: systemstack switches to g0.sched.sp = S and calls fn, which pushes its frame. */
    uint64_t S = (uint64_t)(uintptr_t)(g0stack + 768);
    AT(S - 8) = ss_ret;

    const uint64_t from_ss[] = { 0, callers_ret, goexit_ret };
    uint64_t want[4];
    memcpy(want, from_ss, sizeof from_ss);
    want[0] = ss.entry;
    walk("systemstack at entry", ss.entry, X + 8, Y, want, 3);
    want[0] = ss.entry + 1;
    walk("systemstack after PUSHQ BP", ss.entry + 1, X, Y, want, 3);
    want[0] = ss.entry + 4;
    walk("systemstack after MOVQ SP, BP", ss.entry + 4, X, X, want, 3);
    want[0] = ss_switched;
    walk("systemstack on g0 before CALL fn", ss_switched, S, X, want, 3);
    want[0] = ss_call;
    walk("systemstack at CALL fn", ss_call, S, X, want, 3);
    want[0] = ss_ret;
    walk("systemstack back from fn, on g0", ss_ret, S, X, want, 3);
    want[0] = ss_back;
    walk("systemstack back on the goroutine", ss_back, X, X, want, 3);

    /* callers.func1 on g0, entered with SP = S - 8 and BP = X. */
    uint64_t fsp0 = S - 8;
    const uint64_t f1[] = { 0, ss_ret, callers_ret, goexit_ret };
    memcpy(want, f1, sizeof f1);
    want[0] = func1.entry;
    walk("callers.func1 at entry", func1.entry, fsp0, X, want, 4);
    /* MOVQ BP, -16(SP); LEAQ -16(SP), BP; CALL duffzero; MOVQ 0(BP), BP */
    static const uint8_t duff[] = { 0x48, 0x89, 0x6c, 0x24, 0xf0, 0x48, 0x8d, 0x6c, 0x24, 0xf0,
                                    0xe8 };
    uint64_t dz = find_bytes(func1.entry, func1.end, duff, sizeof duff);
    if (!dz) {
        printf("no duffzero call in runtime.callers.func1 (Go 1.26 has no duff devices)\n");
        return check_done();
    }
    uint64_t dz_call = dz + 10, dz_after = dz + 15;
    CHECK(memcmp(code(dz_after), "\x48\x8b\x6d\x00", 4) == 0);
    uint64_t d = pcsp(&func1, dz);
    CHECK(d == pcsp(&func1, dz_call) && d == pcsp(&func1, dz_after) && d > 16);
    uint64_t fsp = fsp0 - d;                   /* func1's SP in its body; [fsp + d] = ss_ret */
    uint64_t rec = fsp + d - 8;                /* its record: the saved BP, X */
    AT(rec) = X;
    want[0] = dz;
    walk("callers.func1 body, BP at its record", dz, fsp, rec, want, 4);
    /* The duff call's record below SP: [fsp-16] = func1's BP, [fsp-8] = the CALL's return
     * address (at the CALL itself, the one left by the previous call: func1 runs at the same
     * place of g0 every time). */
    AT(fsp - 16) = rec;
    AT(fsp - 8) = dz_after;
    want[0] = dz_call;
    walk("callers.func1 at CALL duffzero", dz_call, fsp, fsp - 16, want, 4);
    want[0] = dz_after;
    walk("callers.func1 after CALL duffzero", dz_after, fsp, fsp - 16, want, 4);
    goexe_release(&go);
    return check_done();
}
