/* exit_hook.c -- fn(status) at every end of the process (exit_hook.h): glibc's on_exit, the
 * _exit/_Exit interposers, and the patch of Go's runtime.exit.
 * Context: program (installed by the constructor; the hooks run on the thread that ends the
 * process)
 *
 * The claim (who runs fn), the stack switch and the raw exit are in exit_hook_amd64.S, which
 * reads the state below. The three paths:
 *   exit()       on_exit_handler: claim; fn on the private stack (or on the current one when
 *                that is a signal's alternate stack); back into glibc's exit.
 *   _exit/_Exit  claim; fn on the private stack; exit_group. Before exit_hook_install (and in
 *                any process the hook does not belong to) they are glibc's _exit.
 *   Go           runtime.exit jumps to gp_exit_go_entry: claim; fn on the private stack;
 *                exit_group.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "lib/base/sigsafe.h"
#include "lib/go/goexe.h"
#include "lib/go/pclntab.h"
#include "program/preload/exit_hook.h"

/* Shared with exit_hook_amd64.S (hidden, like everything not in libgoprof.map). Written by
 * exit_hook_install and the atfork child handler while single-threaded; afterwards only
 * gp_exit_claimer (compare-and-swap) and gp_exit_done (0 -> 1) change. */
void (*gp_exit_fn)(int status);
int gp_exit_owner;                  /* pid the hook belongs to; 0: not installed */
int gp_exit_claimer;                /* tid running fn; 0: nobody yet */
int gp_exit_done;                   /* fn has returned */
char *gp_exit_stack_top;            /* private stack, 16-byte aligned; NULL: none */

/* exit_hook_amd64.S */
int gp_exit_claim(void);
__attribute__((noreturn)) void gp_exit_group(int status);
__attribute__((noreturn)) void gp_exit_run_and_end(int status);
void gp_exit_call_on_stack(void (*fn)(int), int status, void *top);
void gp_exit_go_entry(void);

#define GUARD_SIZE 4096

/* runtime.exit in sys_linux_amd64.s, Go 1.21..1.26 (checked in each version's source and in
 * default and PIE binaries): MOVL code+0(FP), DI; MOVL $SYS_exit_group, AX; SYSCALL; RET. */
static const uint8_t go_exit_code[12] = {
    0x8b, 0x7c, 0x24, 0x08,             /* mov 0x8(%rsp),%edi */
    0xb8, 0xe7, 0x00, 0x00, 0x00,       /* mov $231,%eax */
    0x0f, 0x05,                         /* syscall */
    0xc3,                               /* ret */
};

static int installed;

/* ---- C paths -------------------------------------------------------------------------- */

static void on_exit_handler(int status, void *arg)
{
    (void)arg;
    if (gp_exit_claim() != 1)
        return;
    /* Coming back here after fn needs the caller's frames intact. On a signal's alternate
     * stack they would not be: a signal arriving while fn runs elsewhere is delivered at the
     * top of that stack again. So there fn runs in place. */
    void *top = gp_exit_stack_top;
    stack_t ss;
    if (top && (sigaltstack(NULL, &ss) != 0 || (ss.ss_flags & SS_ONSTACK)))
        top = NULL;
    if (top)
        gp_exit_call_on_stack(gp_exit_fn, status, top);
    else
        gp_exit_fn(status);
    __atomic_store_n(&gp_exit_done, 1, __ATOMIC_RELEASE);
}

static __attribute__((noreturn)) void end_process(int status)
{
    if (gp_exit_claim() == 1)
        gp_exit_run_and_end(status);
    gp_exit_group(status);
}

/* Interposers (libgoprof.map exports them). No stack switch back: they never return. */
GP_EXPORT void _exit(int status)
{
    end_process(status);
}

GP_EXPORT void _Exit(int status)
{
    end_process(status);
}

void exit_hook_disown(void)
{
    __atomic_store_n(&gp_exit_owner, 0, __ATOMIC_RELEASE);
}

/* A fork child (atfork handlers run) is a process of its own: the hook is its own, unused. */
static void forked_child(void)
{
    if (!gp_exit_owner)   /* not installed, or disowned (a sandbox): no system call */
        return;
    gp_exit_claimer = 0;
    gp_exit_done = 0;
    gp_exit_owner = (int)getpid();
}

/* ---- Go ------------------------------------------------------------------------------- */

/* Protection of the mapping that holds [addr, addr + len), from /proc/self/maps: 1 and *prot
 * set; 0 when no single mapping holds it; -errno when the file cannot be read. */
static int mapping_prot(uint64_t addr, size_t len, int *prot)
{
    int fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    char buf[4096];
    size_t have = 0;
    int r = 0, done = 0;
    ssize_t n;
    while (!done && (n = read(fd, buf + have, sizeof buf - 1 - have)) > 0) {
        have += (size_t)n;
        buf[have] = 0;
        char *line = buf, *nl;
        while (!done && (nl = strchr(line, '\n')) != NULL) {
            *nl = 0;
            unsigned long long lo, hi;
            char perms[8];
            if (sscanf(line, "%llx-%llx %7s", &lo, &hi, perms) == 3 && addr >= lo &&
                addr < hi) {
                done = 1;
                r = addr + len <= hi;
                *prot = (perms[0] == 'r' ? PROT_READ : 0) | (perms[1] == 'w' ? PROT_WRITE : 0) |
                        (perms[2] == 'x' ? PROT_EXEC : 0);
            }
            line = nl + 1;
        }
        have -= (size_t)(line - buf);
        memmove(buf, line, have);
        if (have == sizeof buf - 1)
            have = 0;   /* a line longer than the buffer (a long path): its start is enough */
    }
    close(fd);
    return r;
}

/* runtime.exit's first 12 bytes become `movabs $gp_exit_go_entry, %rax; jmp *%rax`. */
static int patch_go_exit(const struct goexe *go)
{
    struct gofunc f;
    if (gopcln_find_by_name(&go->pcln, "runtime.exit", &f) != 0)
        return -ENOEXEC;
    if (f.entry < go->text_start || f.end > go->text_end || f.end - f.entry < sizeof go_exit_code)
        return -ENOEXEC;
    int prot = PROT_READ | PROT_EXEC;   /* text, when /proc cannot tell */
    int r = mapping_prot(f.entry, sizeof go_exit_code, &prot);
    if (r == 0 || (prot & (PROT_READ | PROT_EXEC)) != (PROT_READ | PROT_EXEC))
        return -ENOEXEC;   /* the table does not describe this process's text */
    uint8_t *code = (uint8_t *)(uintptr_t)f.entry;
    if (memcmp(code, go_exit_code, sizeof go_exit_code) != 0)
        return -ENOEXEC;

    uint8_t patch[sizeof go_exit_code] = { 0x48, 0xb8 };   /* movabs $imm64, %rax */
    uint64_t target = (uint64_t)(uintptr_t)&gp_exit_go_entry;
    memcpy(patch + 2, &target, sizeof target);
    patch[10] = 0xff;                                      /* jmp *%rax */
    patch[11] = 0xe0;

    uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
    uintptr_t lo = (uintptr_t)code & ~(page - 1);
    uintptr_t hi = ((uintptr_t)code + sizeof patch + page - 1) & ~(page - 1);
    /* Writable while staying executable: a policy against writable code refuses this, before
     * anything is written; and execution is never re-added to a written page (execmod). */
    if (mprotect((void *)lo, hi - lo, PROT_READ | PROT_WRITE | PROT_EXEC) != 0)
        return -errno;
    memcpy(code, patch, sizeof patch);
    __builtin___clear_cache((char *)code, (char *)code + sizeof patch);
    /* Only takes a right away: cannot fail in practice. If it did, the page would stay
     * writable as well, and the hook work all the same. */
    (void)mprotect((void *)lo, hi - lo, prot);
    return 0;
}

/* ---- installation ---------------------------------------------------------------------- */

int exit_hook_install(void (*fn)(int status), const struct goexe *go)
{
    if (!fn)
        return -EINVAL;
    if (installed)
        return -EALREADY;
    installed = 1;
    /* The private stack, with a guard page below it: an overflow faults instead of writing
     * over other memory. Untouched pages cost nothing. */
    char *base = mmap(NULL, GUARD_SIZE + EXIT_HOOK_STACK_SIZE, PROT_READ | PROT_WRITE,
                      MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK, -1, 0);
    if (base != MAP_FAILED && mprotect(base, GUARD_SIZE, PROT_NONE) == 0)
        gp_exit_stack_top = base + GUARD_SIZE + EXIT_HOOK_STACK_SIZE;
    gp_exit_fn = fn;
    gp_exit_owner = (int)getpid();   /* last: from here on the hooks are live */
    pthread_atfork(NULL, NULL, forked_child);
    int r = on_exit(on_exit_handler, NULL) != 0 ? -ENOMEM : 0;
    if (go && go->is_go) {
        int g = gp_exit_stack_top ? patch_go_exit(go) : -ENOMEM;
        if (g != 0)
            r = g;
    }
    return r;
}
