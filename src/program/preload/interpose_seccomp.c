/* interpose_seccomp.c -- prctl and syscall wrappers: a process about to install a seccomp
 * filter goes inert first.
 * Context: program (the program's own calls, on any of its threads)
 *
 * A seccomp filter may kill the process, or trap into a handler that crashes it, at any
 * system call it does not expect: OpenSSH's privilege-separated child allows a short list and
 * kills on the rest, Chromium's renderers crash on one of our timer_create calls. Once one is
 * installed, a thread start (timer_create), a sampled allocation (process_vm_readv), the end
 * of the process (send to the session) could each be that call. So before the filter goes in,
 * the process stops being profiled for good (sample_stop_for_sandbox): the calling thread's
 * timer is deleted, C memory sampling stops, the exit hook is disowned, and nothing of ours
 * makes a system call there again. What it did until then stays in the profile.
 *
 * Caught here: prctl(PR_SET_SECCOMP, ...), how OpenSSH installs its filter, and
 * syscall(SYS_seccomp, SECCOMP_SET_MODE_*, ...), how libseccomp does. A filter installed by an
 * inline system call (Chromium's own code) is not seen; Chromium's sandboxed processes are
 * made by a raw clone, which owner.c catches. Both wrappers make the call themselves, as
 * glibc's do: no lookup of the next definition, so they work from the first call of the
 * process on.
 */
#include <errno.h>
#include <linux/seccomp.h>
#include <stdarg.h>
#include <sys/prctl.h>
#include <sys/syscall.h>

#include "lib/base/log.h"
#include "lib/base/raw_syscall.h"
#include "lib/base/sigsafe.h"
#include "program/preload/exit_hook.h"
#include "program/sample/sample.h"

static long set_errno(long r)
{
    if ((unsigned long)r > -4096ul) {
        errno = (int)-r;
        return -1;
    }
    return r;
}

static void before_filter(const char *how)
{
    if (sample_inert())
        return;
    gp_debug("preload", "pid %d installs a seccomp filter (%s): it is not profiled from here on",
             (int)getpid(), how);
    sample_stop_for_sandbox();
    exit_hook_disown();
}

GP_EXPORT int prctl(int option, ...)
{
    va_list ap;
    va_start(ap, option);
    unsigned long a2 = va_arg(ap, unsigned long), a3 = va_arg(ap, unsigned long),
                  a4 = va_arg(ap, unsigned long), a5 = va_arg(ap, unsigned long);
    va_end(ap);
    if (option == PR_SET_SECCOMP)
        before_filter("prctl");
    return (int)set_errno(raw_syscall6(SYS_prctl, option, (long)a2, (long)a3, (long)a4,
                                       (long)a5, 0));
}

GP_EXPORT long syscall(long number, ...)
{
    va_list ap;
    va_start(ap, number);
    long a1 = va_arg(ap, long), a2 = va_arg(ap, long), a3 = va_arg(ap, long),
         a4 = va_arg(ap, long), a5 = va_arg(ap, long), a6 = va_arg(ap, long);
    va_end(ap);
    if (number == SYS_seccomp && (a1 == SECCOMP_SET_MODE_STRICT || a1 == SECCOMP_SET_MODE_FILTER))
        before_filter("seccomp");
    return set_errno(raw_syscall6(number, a1, a2, a3, a4, a5, a6));
}
