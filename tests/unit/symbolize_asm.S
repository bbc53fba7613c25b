/* symbolize_asm.S -- a function written in assembly, for test_symbolize's self test.
 * Context: any (test program)
 *
 * Assembled with -g and without .type, its compile unit has lines and an address range but
 * no function DIE (gas writes one only for a STT_FUNC symbol), as hand-written assembly
 * often has: the DWARF index of such a unit is empty, and the symbolizer must still name
 * the function from the symbol table (a sized STT_NOTYPE symbol in .text).
 */
    .text
    .globl test_asm_marker
    .p2align 4
test_asm_marker:
    xorl %eax, %eax
    nop
    nop
    ret
    .size test_asm_marker, . - test_asm_marker

    .section .note.GNU-stack, "", @progbits
