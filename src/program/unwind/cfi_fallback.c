/* cfi_fallback.c -- one frame up where no FDE covers the pc.
 * Context: signal
 * Must not: allocate, lock, call libc, read code outside the module's segments, read the stack
 * except through safe_read.
 *
 * Code without CFI: hand-written assembly, a lazy PLT stub the linker gave no unwind info, or a
 * sigreturn trampoline without FDE (static binaries, other libcs). As libunwind's unw_step does
 * when dwarf_step finds nothing (src/x86_64/Gstep.c), in this order:
 *   1. the pc is at a sigreturn trampoline (mov $15,%eax; syscall): SP points at the ucontext
 *      of the kernel's rt_sigframe, every register comes from its uc_mcontext and the pc it
 *      holds is exact (libunwind 1.6.2 relies on the FDE here; the code bytes are sturdier);
 *   2. the pc is at a PLT entry (jmp *GOT(%rip); push $n; jmp PLT0): CFA = SP + 8, the return
 *      address at SP, nothing else saved;
 *   3. the frame pointer: [RBP] is the caller's RBP, [RBP+8] its return address, SP = RBP+16,
 *      only when RBP is plausible: above SP and in the same stack (libunwind: at most 16 KiB
 *      above the CFA, which we keep where the stack's bounds are unknown). Callee-saved
 *      registers are lost from there on (libunwind marks them unsaved too).
 * Anything else is broken: unlike libunwind, an implausible RBP does not end the stack quietly.
 */
#include "lib/base/safe_read.h"
#include "program/unwind/cfi.h"

/* libunwind's window for a frame pointer when the stack's bounds are unknown. */
#define FP_MAX_DISTANCE 0x4000

static const uint8_t sigreturn_code[9] = { 0x48, 0xc7, 0xc0, 0x0f, 0, 0, 0, 0x0f, 0x05 };

GP_SIGSAFE static int is_sigreturn(const uint8_t *code)
{
    for (int i = 0; i < 9; i++)
        if (code[i] != sigreturn_code[i])
            return 0;
    return 1;
}

GP_SIGSAFE static int is_plt_entry(const uint8_t *code)
{
    return code[0] == 0xff && code[1] == 0x25 && code[6] == 0x68 && code[11] == 0xe9;
}

GP_SIGSAFE static int plausible_fp(const struct safe_reader *sr, uint64_t sp, uint64_t bp)
{
    if (bp < sp || (bp & 7))
        return 0;
    int i = safe_reader_range_of(sr, sp, 8);
    if (i < 0)
        return bp - sp <= FP_MAX_DISTANCE;
    return safe_reader_range_of(sr, bp, 16) == i;
}

GP_SIGSAFE enum cfi_step_result cfi_fallback_step(struct safe_reader *sr, struct cfi_frame *f,
                                                  struct cfi_module *mod)
{
    uint64_t ip = f->reg[CFI_RIP], sp = f->reg[CFI_RSP], bp, ra, nbp;
    if (mod && cfi_module_readable(mod, ip, 16)) {
        const uint8_t *code = (const uint8_t *)(uintptr_t)ip;
        if (is_sigreturn(code))
            return cfi_frame_from_sigframe(sr, f, sp) == 0 ? CFI_STEP_OK : CFI_STEP_BROKEN;
        if (is_plt_entry(code)) {
            if (safe_read_word(sr, sp, &ra) != 0 || ra == 0)
                return CFI_STEP_BROKEN;
            f->reg[CFI_RIP] = ra;
            f->reg[CFI_RSP] = sp + 8;
            f->exact = 0;
            return CFI_STEP_OK;
        }
    }
    if (cfi_get_reg(sr, f, CFI_RBP, &bp) != 0 || !plausible_fp(sr, sp, bp) ||
        safe_read_word(sr, bp, &nbp) != 0 || safe_read_word(sr, bp + 8, &ra) != 0 || ra == 0)
        return CFI_STEP_BROKEN;
    f->known = (1u << CFI_RSP) | (1u << CFI_RBP) | (1u << CFI_RIP);
    f->pending = 0;
    f->reg[CFI_RIP] = ra;
    f->reg[CFI_RSP] = bp + 16;
    f->reg[CFI_RBP] = nbp;
    f->exact = 0;
    return CFI_STEP_OK;
}
