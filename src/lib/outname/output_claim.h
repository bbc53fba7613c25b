/* output_claim.h -- one writer per output name, across processes.
 * Context: library (output_claim in the program's constructor, output_claim_answer in the collector)
 *
 * Two profiling sessions whose templates expand to the same name would overwrite each other's
 * file (the last rename wins): two programs started with one fixed GOPROF_OUT, or a process
 * started with other settings inside a profiled tree (it leads a session of its own). So each
 * session's first process claims its name before it runs: it listens on an abstract Unix
 * socket named after a hash of the name, and its collector holds that socket until it has
 * written its last file. A name already claimed is changed, in this order: ".<pid>" added if
 * the template has no %p, then ".2", ".3", ... added. The kernel frees a claim when its holder
 * exits, however it exits, so there is nothing to clean up and nothing stale.
 *
 * A name held by this very pid (the listener's SO_PEERCRED pid is ours) is held by the
 * collector of a session this process was part of before an exec with other settings; that
 * collector answers 'K' (kept) to whoever connects, and the new session takes a changed name.
 * The asker waits for the answer, up to HOLDER_WAIT_MS, connection by connection: a collector
 * that has not answered yet closes them unanswered (ask again).
 *
 * The key is the template with %p and %e expanded and %t, %n left as written: an interval
 * series is claimed as a whole.
 */
#ifndef GP_OUTPUT_CLAIM_H
#define GP_OUTPUT_CLAIM_H

#include <stddef.h>
#include <sys/types.h>

/* Claims tmpl (a template, tsz bytes of room), changing it as above until a claim succeeds.
 * Returns the claim's descriptor (close-on-exec; hold it for as long as files may be written
 * under the name), or -errno: -ENAMETOOLONG if the changed template does not fit, -EADDRINUSE
 * after 99 tries, or the socket's error where abstract sockets are not available; the caller
 * then goes on unclaimed, with tmpl as it stands. */
int output_claim(char *tmpl, size_t tsz, pid_t pid, const char *prog);

/* The holder's side: accepts every pending connection to claim fd and answers 'K' when kept,
 * else closes it unanswered. */
void output_claim_answer(int fd, int kept);

#endif
