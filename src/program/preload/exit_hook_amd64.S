/* exit_hook_amd64.S -- the exit hook's claim, stack switch and raw exit (exit_hook.h).
 * Context: program (any thread that ends the process, possibly on a tiny Go stack or in a
 * signal handler)
 *
 * Written in assembly so that nothing runs on the caller's stack before the switch to the
 * private stack but a return address: Go may call runtime.exit with only a few hundred bytes
 * of goroutine stack left. The state lives in exit_hook.c:
 *   gp_exit_fn          the callback
 *   gp_exit_owner       pid of the process the hook belongs to (0: not installed)
 *   gp_exit_claimer     tid of the thread running the callback (0: none yet)
 *   gp_exit_done        1 once the callback has returned
 *   gp_exit_stack_top   16-byte aligned top of the private stack (0: none, stay put)
 * All functions here are hidden; syscalls clobber only rax, rcx and r11.
 */
#define SYS_nanosleep 35
#define SYS_getpid 39
#define SYS_exit 60
#define SYS_gettid 186
#define SYS_exit_group 231

    .hidden gp_exit_fn
    .hidden gp_exit_owner
    .hidden gp_exit_claimer
    .hidden gp_exit_done
    .hidden gp_exit_stack_top

    .section .rodata
    .balign 16
exit_hook_nap:                  /* struct timespec: 1 ms */
    .quad 0, 1000000

    .text

/* int gp_exit_claim(void): who runs the callback. Uses no stack but its return address.
 *   1  the caller won: it must run the callback, then set gp_exit_done
 *   2  another thread ran it; it has returned (the caller waited): end now
 *   0  not for this process (a vfork child, not installed) or the caller is the thread
 *      running the callback (the callback itself is ending the process): end now */
    .globl gp_exit_claim
    .hidden gp_exit_claim
    .type gp_exit_claim, @function
gp_exit_claim:
    .cfi_startproc
    cmpl $0, gp_exit_owner(%rip)   /* not installed, or disowned: no system call at all */
    je 3f
    movl $SYS_getpid, %eax
    syscall
    cmpl gp_exit_owner(%rip), %eax
    jne 3f
    movl $SYS_gettid, %eax
    syscall
    movl %eax, %edx
    xorl %eax, %eax
    lock cmpxchgl %edx, gp_exit_claimer(%rip)
    je 2f
    cmpl %eax, %edx             /* eax: the claimer's tid */
    je 3f
1:  cmpl $0, gp_exit_done(%rip)
    jne 4f
    leaq exit_hook_nap(%rip), %rdi
    xorl %esi, %esi
    movl $SYS_nanosleep, %eax
    syscall
    jmp 1b
2:  movl $1, %eax
    ret
3:  xorl %eax, %eax
    ret
4:  movl $2, %eax
    ret
    .cfi_endproc
    .size gp_exit_claim, .-gp_exit_claim

/* void gp_exit_group(int status): glibc's _exit, never returns. */
    .globl gp_exit_group
    .hidden gp_exit_group
    .type gp_exit_group, @function
gp_exit_group:
    .cfi_startproc
    movl %edi, %edx
1:  movl %edx, %edi
    movl $SYS_exit_group, %eax
    syscall
    movl %edx, %edi
    movl $SYS_exit, %eax
    syscall
    hlt
    jmp 1b
    .cfi_endproc
    .size gp_exit_group, .-gp_exit_group

/* void gp_exit_run_and_end(int status): for the claim's winner on a path that never returns
 * (_exit, Go): the callback on the private stack, then gp_exit_done = 1 (a waiting thread may
 * then end with its own status), then exit_group(status).
 * A CPU sample taken in the callback walks on to whoever called (or, from gp_exit_go_entry,
 * jumped here as runtime.exit): r12 keeps the caller's stack pointer, which points at its return
 * address, so the CFA is r12 + 8 (the callback preserves r12, and its CFI says where). Without
 * that the walk ended here, and with libgoprof's own frames left out of profiles the sample
 * showed as a stack with no root (`__libc_send` alone, in a Go program's exit). The caller's
 * rbx and r12 are given up: undefined. */
    .globl gp_exit_run_and_end
    .hidden gp_exit_run_and_end
    .type gp_exit_run_and_end, @function
gp_exit_run_and_end:
    .cfi_startproc
    movq %rsp, %r12
    .cfi_def_cfa_register r12
    .cfi_undefined r12
    movl %edi, %ebx             /* callee-saved: survives the callback */
    .cfi_undefined rbx
    movq gp_exit_stack_top(%rip), %rax
    testq %rax, %rax
    jz 1f
    movq %rax, %rsp
1:  andq $-16, %rsp             /* SysV: 16-byte aligned at the call */
    movq gp_exit_fn(%rip), %rax
    testq %rax, %rax
    jz 2f
    movl %ebx, %edi
    call *%rax
2:  movl $1, gp_exit_done(%rip) /* a plain store is a release on x86 */
    movl %ebx, %edi
    jmp gp_exit_group
    .cfi_endproc
    .size gp_exit_run_and_end, .-gp_exit_run_and_end

/* void gp_exit_call_on_stack(void (*fn)(int), int status, void *top): fn(status) on the stack
 * below top (16-byte aligned), then back on the caller's stack (exit()'s on_exit path). */
    .globl gp_exit_call_on_stack
    .hidden gp_exit_call_on_stack
    .type gp_exit_call_on_stack, @function
gp_exit_call_on_stack:
    .cfi_startproc
    pushq %rbx
    .cfi_adjust_cfa_offset 8
    .cfi_offset rbx, -16
    movq %rsp, %rbx
    .cfi_def_cfa_register rbx
    movq %rdx, %rsp
    andq $-16, %rsp
    movq %rdi, %rax
    movl %esi, %edi
    call *%rax
    movq %rbx, %rsp
    .cfi_def_cfa_register rsp
    popq %rbx
    .cfi_adjust_cfa_offset -8
    .cfi_restore rbx
    ret
    .cfi_endproc
    .size gp_exit_call_on_stack, .-gp_exit_call_on_stack

/* gp_exit_go_entry: where the patched runtime.exit jumps (movabs $gp_exit_go_entry, %rax;
 * jmp *%rax), so the stack is runtime.exit's at entry: 0(%rsp) its return address, 8(%rsp)
 * the int32 code (Go ABI0). Never returns into Go, so no Go register needs keeping. */
    .globl gp_exit_go_entry
    .hidden gp_exit_go_entry
    .type gp_exit_go_entry, @function
    .balign 16
gp_exit_go_entry:
    .cfi_startproc              /* entry CFI is right: the caller is runtime.exit's */
    movl 8(%rsp), %ebx
    call gp_exit_claim
    movl %ebx, %edi
    cmpl $1, %eax
    jne gp_exit_group
    jmp gp_exit_run_and_end
    .cfi_endproc
    .size gp_exit_go_entry, .-gp_exit_go_entry

    .section .note.GNU-stack,"",@progbits
