/* cfi_expr.c -- a small DWARF expression stack machine for CFA and register rules.
 * Context: signal
 * Must not: allocate, lock, call libc, read memory except through safe_read, run more than
 * CFI_EXPR_MAX_OPS operations or hold more than CFI_EXPR_STACK values.
 *
 * What x86-64 CFI uses: ld's PLT entries, whose CFA depends on where in the 16-byte entry the pc
 * is (DW_OP_breg7 8; DW_OP_breg16 0; DW_OP_lit15; DW_OP_and; DW_OP_lit11; DW_OP_ge; DW_OP_lit3;
 * DW_OP_shl; DW_OP_plus); glibc's __restore_rt, whose CFA and registers are slots of the
 * ucontext the kernel pushed (DW_OP_breg7 N [DW_OP_deref]); gcc's stack realignment
 * (DW_OP_breg6 -8; DW_OP_deref). The rest of DWARF 4 §2.5.1 that needs no object context is
 * here too (constants, stack ops, arithmetic, comparisons, branches); DW_OP_call*, TLS and
 * piece operations fail. Comparisons are signed, as DWARF and libunwind have them.
 */
#include "lib/base/safe_read.h"
#include "program/unwind/cfi.h"
#include "program/unwind/cfi_read.h"

#define CFI_EXPR_STACK 16
#define CFI_EXPR_MAX_OPS 256   /* DW_OP_bra and DW_OP_skip can loop */

enum {
    OP_ADDR = 0x03, OP_DEREF = 0x06, OP_CONST1U = 0x08, OP_CONST1S = 0x09, OP_CONST2U = 0x0a,
    OP_CONST2S = 0x0b, OP_CONST4U = 0x0c, OP_CONST4S = 0x0d, OP_CONST8U = 0x0e,
    OP_CONST8S = 0x0f, OP_CONSTU = 0x10, OP_CONSTS = 0x11, OP_DUP = 0x12, OP_DROP = 0x13,
    OP_OVER = 0x14, OP_PICK = 0x15, OP_SWAP = 0x16, OP_ROT = 0x17, OP_ABS = 0x19,
    OP_AND = 0x1a, OP_DIV = 0x1b, OP_MINUS = 0x1c, OP_MOD = 0x1d, OP_MUL = 0x1e,
    OP_NEG = 0x1f, OP_NOT = 0x20, OP_OR = 0x21, OP_PLUS = 0x22, OP_PLUS_UCONST = 0x23,
    OP_SHL = 0x24, OP_SHR = 0x25, OP_SHRA = 0x26, OP_XOR = 0x27, OP_BRA = 0x28, OP_EQ = 0x29,
    OP_GE = 0x2a, OP_GT = 0x2b, OP_LE = 0x2c, OP_LT = 0x2d, OP_NE = 0x2e, OP_SKIP = 0x2f,
    OP_LIT0 = 0x30, OP_LIT31 = 0x4f, OP_REG0 = 0x50, OP_REG31 = 0x6f, OP_BREG0 = 0x70,
    OP_BREG31 = 0x8f, OP_REGX = 0x90, OP_BREGX = 0x92, OP_DEREF_SIZE = 0x94, OP_NOP = 0x96,
};

/* Reads n (1..8) bytes at addr of the interrupted program's memory, fault-safe. */
GP_SIGSAFE static int read_mem(struct safe_reader *sr, uint64_t addr, unsigned n, uint64_t *v)
{
    uint64_t w = 0;
    if ((addr & 7) == 0) {
        if (safe_read_word(sr, addr, &w) != 0)
            return -1;
    } else if (safe_read_slow(sr->pid, &w, addr, n) != 0) {
        return -1;
    }
    *v = n >= 8 ? w : w & ((1ull << (8 * n)) - 1);
    return 0;
}

GP_SIGSAFE int cfi_expr_eval(struct cfi_span span, uint64_t expr, uint64_t initial,
                             struct safe_reader *sr, struct cfi_frame *f, uint64_t *result,
                             int *is_reg)
{
    uint64_t st[CFI_EXPR_STACK];
    int n = 0;
    struct cfi_cur c = cfi_cur_at(span, expr, span.hi);
    uint64_t len = cfi_uleb(&c);
    if (c.bad || len > c.end - c.p)
        return -1;
    uint64_t start = c.p;
    c.end = c.p + len;
    *is_reg = 0;
    st[n++] = initial;
#define NEED(k) do { if (n < (k)) return -1; } while (0)
#define PUSH(v) do { uint64_t v_ = (v); if (n >= CFI_EXPR_STACK) return -1; st[n] = v_; n++; } while (0)
    for (int ops = 0; c.p < c.end; ops++) {
        if (ops >= CFI_EXPR_MAX_OPS)
            return -1;
        uint8_t op = cfi_u8(&c);
        uint64_t a, b, v;
        int64_t s;
        if (op >= OP_LIT0 && op <= OP_LIT31) {
            PUSH((uint64_t)(op - OP_LIT0));
        } else if (op >= OP_BREG0 && op <= OP_BREG31) {
            s = cfi_sleb(&c);
            if (c.bad || cfi_get_reg(sr, f, op - OP_BREG0, &v) != 0)
                return -1;
            PUSH(v + (uint64_t)s);
        } else if (op >= OP_REG0 && op <= OP_REG31) {
            *result = (uint64_t)(op - OP_REG0);
            *is_reg = 1;
            return c.bad ? -1 : 0;   /* a register location ends the expression */
        } else {
            switch (op) {
            case OP_ADDR: case OP_CONST8U: case OP_CONST8S: PUSH(cfi_u64(&c)); break;
            case OP_CONST1U: PUSH(cfi_u8(&c)); break;
            case OP_CONST1S: PUSH((uint64_t)(int64_t)(int8_t)cfi_u8(&c)); break;
            case OP_CONST2U: PUSH(cfi_u16(&c)); break;
            case OP_CONST2S: PUSH((uint64_t)(int64_t)(int16_t)cfi_u16(&c)); break;
            case OP_CONST4U: PUSH(cfi_u32(&c)); break;
            case OP_CONST4S: PUSH((uint64_t)(int64_t)(int32_t)cfi_u32(&c)); break;
            case OP_CONSTU: PUSH(cfi_uleb(&c)); break;
            case OP_CONSTS: PUSH((uint64_t)cfi_sleb(&c)); break;
            case OP_REGX:
                *result = cfi_uleb(&c);
                *is_reg = 1;
                return c.bad ? -1 : 0;
            case OP_BREGX:
                a = cfi_uleb(&c);
                s = cfi_sleb(&c);
                if (c.bad || a >= CFI_NREGS || cfi_get_reg(sr, f, (int)a, &v) != 0)
                    return -1;
                PUSH(v + (uint64_t)s);
                break;
            case OP_DEREF:
                NEED(1);
                if (read_mem(sr, st[n - 1], 8, &st[n - 1]) != 0)
                    return -1;
                break;
            case OP_DEREF_SIZE:
                NEED(1);
                a = cfi_u8(&c);
                if (a < 1 || a > 8 || read_mem(sr, st[n - 1], (unsigned)a, &st[n - 1]) != 0)
                    return -1;
                break;
            case OP_DUP: NEED(1); PUSH(st[n - 1]); break;
            case OP_DROP: NEED(1); n--; break;
            case OP_OVER: NEED(2); PUSH(st[n - 2]); break;
            case OP_PICK:
                a = cfi_u8(&c);
                if ((uint64_t)n < a + 1)
                    return -1;
                PUSH(st[n - 1 - (int)a]);
                break;
            case OP_SWAP: NEED(2); v = st[n - 1]; st[n - 1] = st[n - 2]; st[n - 2] = v; break;
            case OP_ROT:
                NEED(3);
                v = st[n - 1];
                st[n - 1] = st[n - 2];
                st[n - 2] = st[n - 3];
                st[n - 3] = v;
                break;
            case OP_ABS: NEED(1); if ((int64_t)st[n - 1] < 0) st[n - 1] = -st[n - 1]; break;
            case OP_NEG: NEED(1); st[n - 1] = -st[n - 1]; break;
            case OP_NOT: NEED(1); st[n - 1] = ~st[n - 1]; break;
            case OP_PLUS_UCONST: NEED(1); st[n - 1] += cfi_uleb(&c); break;
            case OP_AND: case OP_DIV: case OP_MINUS: case OP_MOD: case OP_MUL: case OP_OR:
            case OP_PLUS: case OP_SHL: case OP_SHR: case OP_SHRA: case OP_XOR: case OP_EQ:
            case OP_GE: case OP_GT: case OP_LE: case OP_LT: case OP_NE:
                NEED(2);
                b = st[--n];   /* top */
                a = st[n - 1]; /* the one below: the left operand */
                switch (op) {
                case OP_AND: v = a & b; break;
                case OP_DIV:
                    if (b == 0 || ((int64_t)a == INT64_MIN && (int64_t)b == -1))
                        return -1;
                    v = (uint64_t)((int64_t)a / (int64_t)b);
                    break;
                case OP_MINUS: v = a - b; break;
                case OP_MOD:
                    if (b == 0)
                        return -1;
                    v = a % b;
                    break;
                case OP_MUL: v = a * b; break;
                case OP_OR: v = a | b; break;
                case OP_PLUS: v = a + b; break;
                case OP_SHL: v = b < 64 ? a << b : 0; break;
                case OP_SHR: v = b < 64 ? a >> b : 0; break;
                case OP_SHRA:
                    v = (uint64_t)((int64_t)a >> (b < 63 ? b : 63));
                    break;
                case OP_XOR: v = a ^ b; break;
                case OP_EQ: v = (int64_t)a == (int64_t)b; break;
                case OP_GE: v = (int64_t)a >= (int64_t)b; break;
                case OP_GT: v = (int64_t)a > (int64_t)b; break;
                case OP_LE: v = (int64_t)a <= (int64_t)b; break;
                case OP_LT: v = (int64_t)a < (int64_t)b; break;
                default: v = (int64_t)a != (int64_t)b; break;
                }
                st[n - 1] = v;
                break;
            case OP_SKIP:
            case OP_BRA:
                s = (int16_t)cfi_u16(&c);
                if (op == OP_BRA) {
                    NEED(1);
                    if (st[--n] == 0)
                        break;
                }
                /* The target must stay inside the expression. */
                if ((s < 0 && (uint64_t)-s > c.p - start) || (s > 0 && (uint64_t)s > c.end - c.p))
                    return -1;
                c.p += (uint64_t)s;
                break;
            case OP_NOP:
                break;
            default:
                return -1;   /* calls, TLS, pieces, entry values, vendor ops */
            }
        }
        if (c.bad)
            return -1;
    }
#undef NEED
#undef PUSH
    if (c.bad || n < 1)
        return -1;
    *result = st[n - 1];
    return 0;
}
