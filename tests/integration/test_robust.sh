#!/bin/bash
# test_robust.sh -- libgoprof must not change what a program does with signals, and must show
# lost samples instead of hiding them.
#   - c_signals uses SIGPROF itself (own handler, kill, setitimer, SIG_IGN, dies by SIG_DFL):
#     identical stdout and exit status with and without the preload, and still a profile.
#   - c_sigwait blocks every signal and takes them itself (sigtimedwait, sigwaitinfo, sigwait,
#     a signalfd; on the main thread or another), as a container's init does: it never gets
#     one of our timer's SIGPROFs, and tini never forwards one to its child.
#   - a tiny ring (GOPROF_RING_SLOTS=4) at 1000 Hz, its collector stopped (SIGSTOP) for 0.4 s,
#     must overflow: the profile shows a "[libgoprof] lost: ring full" frame and the header
#     counts the loss; samples plus lost still account for the CPU time. (Not by the ring's
#     size alone: the collector drains a 4-slot ring every 10 ms, and again at once while it
#     is more than a quarter full, which keeps up with 2 CPUs.)
#   - a small ring (64 slots) at 1000 Hz, both threads busy, loses nothing: the collector
#     drains before a quarter of it can fill at the most the CPUs can sample (a fixed 250 ms
#     would let up to 2 CPUs x 250 Hz x 250 ms = 125 records through; the old 50 ms passed).
#   - a process that puts a socket of its own on every descriptor number, libgoprof's among
#     them: libgoprof neither closes it in a fork child nor writes into it at the end.
#   - a process that installs a seccomp filter killing every unexpected system call (prctl,
#     syscall(SYS_seccomp), TSYNC), and a child made by clone() that installs one unseen: each
#     runs to its end as without libgoprof.
#   - GOPROF_DISABLE=1: no profile, no collector, output unchanged.
. "$(dirname "$0")/lib.sh"

need_go || { echo "0 passed, 1 failed"; exit 1; }
work=$(mktemp -d "${TMPDIR:-/tmp}/libgoprof-robust.XXXXXX")
build_fixtures "$work" || { fail "build fixtures"; summary; exit 1; }
gcc -O1 -o "$work/c_signals" "$top_srcdir/tests/fixtures/c_signals/c_signals.c" ||
    { fail "build c_signals"; summary; exit 1; }
gcc -O1 -pthread -o "$work/c_sigwait" "$top_srcdir/tests/fixtures/c_sigwait/c_sigwait.c" ||
    { fail "build c_sigwait"; summary; exit 1; }
gcc -O1 -Wall -o "$work/fd_reuse" "$top_srcdir/tests/fixtures/c_fds/fd_reuse.c" ||
    { fail "build fd_reuse"; summary; exit 1; }
gcc -O1 -Wall -pthread -o "$work/seccomp_filter" \
    "$top_srcdir/tests/fixtures/c_seccomp/seccomp_filter.c" &&
    gcc -O1 -Wall -pthread -o "$work/raw_clone" "$top_srcdir/tests/fixtures/c_seccomp/raw_clone.c" ||
    { fail "build seccomp_filter and raw_clone"; summary; exit 1; }

# --- signals ---------------------------------------------------------------------------
run_plain "$work/sig-plain" -- "$work/c_signals"
plain_status=$RUN_STATUS
run_profiled "$work/sig.pb.gz" -- "$work/c_signals"
got=$?
check "c_signals: exit status unchanged ($plain_status)" test "$RUN_STATUS" = "$plain_status"
check "c_signals: killed by SIGPROF as without the preload" test "$plain_status" = 155
check "c_signals: stdout identical" cmp -s "$work/sig-plain.stdout" "$RUN_STDOUT"
check "c_signals: stderr identical" cmp -s "$work/sig-plain.stderr" "$RUN_STDERR"
check "c_signals: own handler seen, kill and setitimer delivered" \
    grep -q "kill delivered: 3" "$RUN_STDOUT"
check "c_signals: profile written although the program died by a signal" test "$got" = 0
[ "$got" = 0 ] && check "c_signals: profile valid" "$PROFCHECK" check "$RUN_PROFILE"

# --- a program that takes its signals itself never gets one of our timer's ---------------
# c_sigwait blocks every signal and takes them with MODE, as tini, dumb-init and catatonit do;
# it exits 1 if it took a SIGPROF it did not send. At 1000 Hz its 300 ms of blocked CPU leave
# our timer's signal waiting for it; the profile counts that time as unsampled.
for mode in sigtimedwait sigwaitinfo sigwait signalfd; do
    for where in main thread; do
        name="c_sigwait $mode ($where thread)"
        run_plain "$work/sw-plain" -- "$work/c_sigwait" $mode $where
        plain_status=$RUN_STATUS
        run_profiled "$work/sw.pb.gz" GOPROF_HZ=1000 -- "$work/c_sigwait" $mode $where
        check "$name: exit status 0 as without the preload ($plain_status)" \
            test "$RUN_STATUS" = 0 -a "$plain_status" = 0
        check "$name: stdout identical (only SIGRTMIN and kill's SIGPROF)" \
            cmp -s "$work/sw-plain.stdout" "$RUN_STDOUT"
        if [ -n "$RUN_PROFILE" ]; then
            check "$name: the blocked time is '[libgoprof] unsampled: SIGPROF blocked by the program'" \
                grep -q '\[libgoprof\] unsampled: SIGPROF blocked by the program' \
                <<<"$("$PROFCHECK" dump "$RUN_PROFILE")"
        else
            fail "$name: no profile"
        fi
    done
done
# tini blocks every signal and forwards what sigtimedwait gives it to its child: our timer's
# SIGPROF in tini, forwarded, killed a child that had not installed our handler yet (status
# 155). At 1000 Hz tini's own start is several periods of CPU.
if command -v tini >/dev/null; then
    for i in 1 2 3; do
        run_profiled "$work/tini.pb.gz" GOPROF_HZ=1000 -- tini -s -- "$C_THREADS" 0.2 0.1
        check "tini -s -- c_threads ($i): exit status 0" test "$RUN_STATUS" = 0
        [ -n "$RUN_PROFILE" ] && check "tini -s -- c_threads ($i): no SIGPROF reached a handler but ours" \
            bash -c '! grep -q "forwarded_other_ns: signals=" <<<"$1"' _ "$("$PROFCHECK" dump "$RUN_PROFILE")"
    done
else
    fail "tini is not installed (scripts/setup.sh installs it)"
fi

# --- lost samples are visible --------------------------------------------------------
run_profiled "$work/lost.pb.gz" GOPROF_RING_SLOTS=4 GOPROF_HZ=1000 -- \
    "${COLLECTOR_PAUSED[@]}" "$C_THREADS"
check "tiny ring: profile written" test -n "$RUN_PROFILE"
if [ -n "$RUN_PROFILE" ]; then
    out=$("$PROFCHECK" dump "$RUN_PROFILE")
    check "tiny ring: '[libgoprof] lost: ring full' frame present" \
        grep -q '\[libgoprof\] lost: ring full' <<<"$out"
    check "tiny ring: header comment counts the loss" \
        grep -Eq '^# comment: .*lost [1-9][0-9]*' <<<"$out"
    cpu=$(awk '/^cpu /{split($2,a,"="); split($3,b,"="); print a[2]+b[2]}' "$RUN_STDOUT")
    check "tiny ring: samples + lost within 10% of CPU time ($cpu ns)" \
        "$PROFCHECK" total "$RUN_PROFILE" --expect-cpu-ns "$cpu" --tol 0.10
fi

# --- the drain keeps up with a small ring --------------------------------------------------
run_profiled "$work/small.pb.gz" GOPROF_RING_SLOTS=64 GOPROF_HZ=1000 -- "$C_THREADS"
if [ -n "$RUN_PROFILE" ]; then
    out=$("$PROFCHECK" dump "$RUN_PROFILE")
    check "64-slot ring at 1000 Hz: nothing lost" \
        bash -c '! grep -q "\[libgoprof\] lost" <<<"$1"' _ "$out"
    cpu=$(awk '/^cpu /{split($2,a,"="); split($3,b,"="); print a[2]+b[2]}' "$RUN_STDOUT")
    check "64-slot ring at 1000 Hz: samples within 10% of CPU time ($cpu ns)" \
        "$PROFCHECK" total "$RUN_PROFILE" --expect-cpu-ns "$cpu" --tol 0.10
else
    fail "64-slot ring at 1000 Hz: no profile"
fi

# --- a thread left without a CPU timer is said -----------------------------------------------
# RLIMIT_SIGPENDING 0 makes timer_create fail (every POSIX timer holds a queued signal): the
# program runs as without the preload, its CPU time is unsampled, and the profile says why.
run_profiled "$work/notimer.pb.gz" -- prlimit --sigpending=0 "$C_THREADS"
check "no CPU timer: exit status 0" test "$RUN_STATUS" = 0
if [ -n "$RUN_PROFILE" ]; then
    out=$("$PROFCHECK" dump "$RUN_PROFILE")
    check "no CPU timer: the profile counts the threads without one, and says why" \
        grep -Eq '^# comment: processes: .*; threads without a CPU timer [1-9][0-9]* \(Resource temporarily unavailable' <<<"$out"
    check "no CPU timer: their CPU time is in [libgoprof] unsampled" \
        grep -q '\[libgoprof\] unsampled' <<<"$out"
else
    fail "no CPU timer: no profile"
fi

# --- a child that inherits the preload joins its parent's session -------------------------
# sh forks c_threads (the ";" keeps sh from exec'ing it): both are profiled, into one file,
# the child's stacks under its own root frame.
run_profiled "$work/tree.pb.gz" -- sh -c "\"$C_THREADS\" 0.3 0.1; true"
check "process tree: one profile at the exact path" test -s "$work/tree.pb.gz"
check "process tree: no <path>.<pid> file" \
    test -z "$(ls "$work"/tree.pb.gz.[0-9]* 2>/dev/null)"
check "process tree: the child's stacks under [process: c_threads]" \
    "$PROFCHECK" chain "$work/tree.pb.gz" --leaf leaf_a \
    --expect "[process: c_threads];...;main;work_a;leaf_a" --min-samples 5

# --- the program takes libgoprof's descriptor number for its own --------------------------
# fd_reuse's child dup2s a socket of its own onto every number from 3 to 63, its session
# connection's among them; its child counts them open, and at its end nothing may arrive on
# the program's socket. (Before: one closed by the fork child, 24 bytes written at the end.)
run_plain "$work/fdr-plain" -- "$work/fd_reuse"
check "fd_reuse plain: 61 of 61 open, 0 bytes received" \
    sh -c 'grep -qx "grandchild: 61 of 61 descriptors open" "$1" &&
        grep -qx "the program.s socket received 0 bytes" "$1"' _ "$work/fdr-plain.stdout"
run_profiled "$work/fdr.pb.gz" -- "$work/fd_reuse"
check "fd_reuse: exit status unchanged ($(cat "$work/fdr-plain.status"))" \
    test "$RUN_STATUS" = "$(cat "$work/fdr-plain.status")"
check "fd_reuse: stdout identical (no descriptor of the program's closed, nothing written into it)" \
    cmp -s "$work/fdr-plain.stdout" "$RUN_STDOUT"
check "fd_reuse: the three processes in one profile" \
    grep -q "^processes: 3 joined" <(processes_of "$work/fdr.pb.gz")

# --- a process that installs a seccomp filter --------------------------------------------
# seccomp_filter allows a short list of system calls and is killed by any other (as OpenSSH's
# privilege-separated child is), then starts threads that burn CPU and allocate. Through
# prctl, through syscall(SYS_seccomp) as libseccomp does, with TSYNC over a thread already
# running, and forking a child after it: libgoprof goes inert before the filter and makes no call of its own afterwards (a
# thread start's timer_create, a sampled allocation's reads, the exit hook's getpid killed it:
# status 159). What ran before the filter is in the profile.
for how in prctl seccomp "seccomp tsync" "prctl fork"; do
    tag=${how// /_}
    run_plain "$work/scf-$tag-plain" -- "$work/seccomp_filter" $how
    check "seccomp_filter $how plain: ok" grep -qx ok "$work/scf-$tag-plain.stdout"
    run_profiled "$work/scf-$tag.pb.gz" GOPROF_HZ=1000 GOPROF_HEAP_RATE=512k \
        GOPROF_HEAP_OUT="$work/scf-$tag.heap.pb.gz" -- "$work/seccomp_filter" $how
    check "seccomp_filter $how: exit status unchanged ($(cat "$work/scf-$tag-plain.status"))" \
        test "$RUN_STATUS" = "$(cat "$work/scf-$tag-plain.status")"
    check "seccomp_filter $how: stdout identical" cmp -s "$work/scf-$tag-plain.stdout" "$RUN_STDOUT"
    check "seccomp_filter $how: stderr identical" cmp -s "$work/scf-$tag-plain.stderr" "$RUN_STDERR"
    n=$(samples_of "$work/scf-$tag.pb.gz" burn)
    check "seccomp_filter $how: the CPU time before the filter in the profile (${n:-0} samples in burn)" \
        test "${n:-0}" -gt 0
done

# raw_clone's child is made by clone() (no fork handlers: how Chromium's zygote makes its
# renderers), or by an inline clone system call; it installs a filter by an inline system call
# no wrapper sees, and starts threads that allocate: it must run through (with the old library
# a thread's timer_create killed it), and nothing of it may reach its parent's ring, whose copy
# of our state it has.
for how in clone inline; do
    run_plain "$work/rawc-$how-plain" -- "$work/raw_clone" $how
    check "raw_clone $how plain: the child ran through" \
        grep -qx "child: exit 0" "$work/rawc-$how-plain.stdout"
    run_profiled "$work/rawc-$how.pb.gz" GOPROF_HZ=1000 GOPROF_HEAP_RATE=64k \
        GOPROF_HEAP_OUT="$work/rawc-$how.heap.pb.gz" -- "$work/raw_clone" $how
    check "raw_clone $how: stdout identical (the child ran through)" \
        cmp -s "$work/rawc-$how-plain.stdout" "$RUN_STDOUT"
    check "raw_clone $how: exit status unchanged" \
        test "$RUN_STATUS" = "$(cat "$work/rawc-$how-plain.status")"
    n=$(samples_of "$work/rawc-$how.pb.gz" worker)
    h=$(samples_of "$work/rawc-$how.heap.pb.gz" worker)
    check "raw_clone $how: nothing of the child in its parent's profiles (CPU ${n:-0}, heap ${h:-0} in worker)" \
        test "${n:-0}" = 0 -a "${h:-0}" = 0
done

# --- disabled ------------------------------------------------------------------------
run_profiled "$work/off.pb.gz" --no-profile GOPROF_DISABLE=1 -- "$C_THREADS"
check "GOPROF_DISABLE=1: no profile written" test -z "$RUN_PROFILE"
check "GOPROF_DISABLE=1: nothing on stderr" test ! -s "$RUN_STDERR"
check "GOPROF_DISABLE=1: exit status 0" test "$RUN_STATUS" = 0

summary && { [ -n "${LIBGOPROF_TEST_KEEP:-}" ] || rm -rf "$work"; }
