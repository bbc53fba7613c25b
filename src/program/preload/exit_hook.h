/* exit_hook.h -- a callback at every end of the process, with the exit status.
 * Context: program (installed by the constructor; runs on whichever thread ends the process)
 *
 * Why: when the profiled program is PID 1 of a PID namespace (a container), the kernel
 * SIGKILLs every other process of the namespace, the collector included, as soon as PID 1
 * exits: the profile would be lost. So at its very end the program must tell the collector to
 * finish and wait (bounded) for it. exit_hook_install() makes fn(status) run then, after
 * which the process ends exactly as it would have (same status, same output).
 *
 * What runs fn, and what does not:
 *  - C exit() and return from main: a glibc on_exit() handler registered at install, so it
 *    runs after the atexit/on_exit handlers the program registers later (in main), before
 *    those registered earlier (by libraries' constructors run before ours), before ELF
 *    destructors and before stdio's final flush.
 *  - _exit() and _Exit() called by the program or by a library through the PLT: libgoprof.so
 *    exports both (libgoprof.map); fn runs, then the raw exit_group syscall, as glibc's _exit.
 *    glibc's own internal calls (exit's final _exit, posix_spawn's child) do not go through
 *    the PLT and are not seen; exit() is covered by its on_exit handler instead.
 *  - Go (go != NULL and go->is_go): runtime.exit, which every Go end passes through (return
 *    from main.main, os.Exit, syscall.Exit, an unrecovered panic, throw/fatal errors,
 *    log.Fatal, and a fatal signal that did not kill, e.g. SIGTERM to PID 1, which ignores
 *    SIG_DFL signals from its own namespace), is patched to jump to a trampoline. Every
 *    Go 1.21..1.26 on linux/amd64 assembles it, in sys_linux_amd64.s, to exactly these 12
 *    bytes, followed by int3 padding up to the next 32-byte function:
 *        8b 7c 24 08     MOVL code+0(FP), DI
 *        b8 e7 00 00 00  MOVL $SYS_exit_group, AX
 *        0f 05           SYSCALL
 *        c3              RET
 *    They are replaced by `movabs $trampoline, %rax; jmp *%rax`, also 12 bytes (AX is about to
 *    be overwritten there anyway). Any other bytes (a future Go, an instrumented build) and the
 *    function is left alone: -ENOEXEC. The page is made writable with PROT_READ|PROT_WRITE|
 *    PROT_EXEC and then given back its protection from /proc/self/maps: a policy that forbids
 *    writable code (SELinux execmem, PaX MPROTECT) refuses the first mprotect, before any byte
 *    is written (-EACCES), and never has to re-enable execution on a modified page (execmod).
 *    The trampoline takes the status from the Go stack, switches to a private stack and calls
 *    fn, then makes the raw exit_group(status) syscall; it never returns into Go.
 *  - Not covered: a raw exit_group syscall made by C code (syscall(SYS_exit_group), a static
 *    library's own _exit), quick_exit() (its final _exit is glibc-internal), and death by a
 *    signal (SIGKILL, SIGSEGV with the default action, abort(), Go with GOTRACEBACK=crash).
 *    (The last thread's pthread_exit is covered: glibc then calls exit(0).)
 *
 * Once: fn runs at most once per process image. The first thread to end claims the hook (an
 * atomic compare-and-swap of its tid); a thread that ends while fn runs on another waits in a
 * loop of raw 1 ms nanosleeps until fn has returned, then ends the process with its own status
 * (as it would have without the hook, only later); a thread ending from inside fn (fn calling
 * _exit) ends at once. The winner of an exit() goes on with the rest of exit() after fn.
 *
 * Which process: the hook belongs to the process that installed it. A fork() child runs
 * glibc's atfork handlers and gets the hook anew (fn runs once at its own end, getpid() then
 * says which process it is: fn decides whether to act). A vfork() child shares the parent's
 * memory and runs no atfork handler: its pid is not the recorded one, so it ends without fn
 * and without touching the hook's state (the parent's fn still runs once, at the parent's
 * end). The same holds for any child made without atfork handlers (raw clone, _Fork(), Go's
 * os/exec children): conservatively, no fn there. Install only after forking the collector:
 * a fork child (with atfork handlers) inherits the hook.
 *
 * What fn gets: the status as passed to exit/_exit/os.Exit (not masked to 8 bits); a 256 KiB
 * private stack, with a guard page below it (which a single frame larger than a page can jump
 * over, unless built with -fstack-clash-protection) on every path, except an exit() called on
 * a signal's alternate stack, where fn runs on that stack (returning to it later must find its
 * frames intact); the ending thread's signal mask and TLS (on a Go thread: a cgo pthread, so
 * errno and libc work). Other threads keep running while fn runs, but on the Go path the
 * ending thread keeps its P: goroutines and timers queued on that P wait, and so does a GC
 * stop-the-world (seen in the tests); fn must not depend on any Go code running. fn should
 * use only async-signal-safe functions: it may run in a signal handler (a crash handler
 * calling _exit, Go's fatal signal path) or while another thread, stopped in the waiting loop,
 * holds a libc lock. It must return (or end the process), never longjmp out.
 */
#ifndef GP_EXIT_HOOK_H
#define GP_EXIT_HOOK_H

struct goexe;

/* Size of the private stack fn runs on. */
#define EXIT_HOOK_STACK_SIZE (256 * 1024)

/* Makes fn(status) run once before the process ends through: C exit() and return from main
 * (glibc on_exit, registered here so it runs after the program's own atexit handlers), direct
 * calls of _exit/_Exit (interposed: libgoprof.so exports them), and, for a Go executable
 * (go != NULL and go->is_go), every Go end: runtime.exit is patched.
 * Call from the constructor while single-threaded, before the Go runtime starts, and after
 * forking the collector. Returns 0; -EINVAL (fn NULL) or -EALREADY (installed before) with
 * nothing done; or, with the C hooks installed regardless, -errno when the Go patch could not
 * be installed: -ENOEXEC (runtime.exit not found, or not the expected bytes), -ENOMEM (no
 * private stack), or mprotect's error (text not writable under a security policy). */
int exit_hook_install(void (*fn)(int status), const struct goexe *go);
/* From now on the hook does nothing at the process's end, not even a system call: the process
 * is about to install a seccomp filter (interpose_sandbox.c). The Go patch stays, and ends the
 * process as before. */
void exit_hook_disown(void);

#endif
