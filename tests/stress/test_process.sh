#!/bin/bash
# test_process.sh -- process life under libgoprof: the program must behave exactly as without
# it (stdout, stderr, exit status or terminating signal), and the profile must be complete and
# valid however the process ends.
#   - fork without exec: the child is inert (README, after the variables table): its work is in no
#     profile, it writes no file, its output and exit status are its own; the parent's profile
#     holds the parent's CPU time only. A child that outlives its parent does not delay the
#     parent's profile.
#   - fork+exec, vfork+exec, posix_spawn: each child writes its own <path>.<pid> with its own
#     work only; the parent's file is at the exact path.
#   - a program that execs itself twice: three files (<path> for the image that runs on,
#     <path>.exec.<pid> for the replaced ones), each with its own image's work; a shell that
#     execs the program leaves it the exact path; a program that closes every descriptor (the
#     collector's lifeline among them) is profiled to its end, not taken for an exec.
#   - os.Exit(3) from a goroutine, abort(), SIGSEGV, kill(0, SIGTERM) on its own process group
#     (the collector is in its own session), SIGKILL from outside while threads are busy: the
#     same end as without libgoprof, and a valid profile with the work in it.
# Long cases take their length from LIBGOPROF_STRESS_SECONDS (default 3).
. "$(dirname "$0")/../integration/lib.sh"

stress_setup process
PROCS=$work/c_procs
gcc -O1 -fno-omit-frame-pointer -fno-inline -pthread -Wall -o "$PROCS" "$fx/c_procs.c" ||
    { fail "build c_procs"; finish; }
(cd "$fx" && CGO_ENABLED=1 "$GO" build -o "$work/go_exit" go_exit.go) ||
    { fail "build go_exit"; finish; }

# wait_file FILE: up to 10 s for FILE to exist and be non-empty.
wait_file() {
    local i
    for ((i = 0; i < 100; i++)); do [ -s "$1" ] && return 0; sleep 0.1; done
    return 1
}

# --- fork without exec: the child stays inert ---------------------------------------------
ms=$((SECS * 1000 / 3))
D=$work/fork
mkdir -p "$D"
both_ways "fork" -- "$PROCS" fork "$ms"
check "fork: child's exit status seen by the parent (7)" grep -qx "forked child exited 7" "$RUN_STDOUT"
check "fork: parent's profile written" test "$got" = 0
if [ "$got" = 0 ]; then
    check "fork: profile valid" "$PROFCHECK" check "$RUN_PROFILE"
    check "fork: the parent's work is in it" \
        "$PROFCHECK" chain "$RUN_PROFILE" --leaf parent_work --expect "...;main;do_fork;parent_work" --min-samples 10
    n=$(samples_of "$RUN_PROFILE" child_inert_work)
    check "fork: the child's work is not in the parent's profile ($n samples)" test "$n" = 0
    # 2*ms of parent CPU; the child's ms would make it 3*ms.
    check "fork: samples within 15% of the parent's CPU time alone ($((2 * ms)) ms)" \
        "$PROFCHECK" total "$RUN_PROFILE" --expect-cpu-ns "$((2 * ms * 1000000))" --tol 0.15
fi
sleep 0.5
others=$(ls "$D" | grep -Ev '^(prof\.pb\.gz|plain)(\.(stdout|stderr|status))?$' | tr '\n' ' ')
check "fork: no file for the inert child (found: ${others:-none})" test -z "$others"

# --- a forked child outlives its parent ---------------------------------------------------
# The child holds the collector's lifeline pipe open; the parent's end (pidfd) must still be
# seen at once: the profile appears while the child is still running.
D=$work/orphan
mkdir -p "$D"
long=$((SECS * 1000 / 2))
run_plain "$D/plain" -- "$PROCS" orphan "$long"
# wait_file_line FILE TEXT: until FILE has TEXT, for the child's work and 20 s more.
wait_file_line() {
    local i
    for ((i = 0; i < long / 100 + 200; i++)); do grep -q "$2" "$1" && return 0; sleep 0.1; done
    return 1
}
wait_file_line "$D/plain.stdout" "orphan: child done"
start=$(date +%s%N)
run_profiled "$D/prof.pb.gz" -- "$PROCS" orphan "$long"
got=$?
appeared_ms=$((($(date +%s%N) - start) / 1000000))
child_running=0
grep -q "orphan: child done" "$RUN_STDOUT" || child_running=1
check "orphan: parent's profile written" test "$got" = 0
check "orphan: it appeared while the child still ran (${appeared_ms} ms, child ${long} ms)" \
    test "$child_running" = 1
wait_file_line "$RUN_STDOUT" "orphan: child done"
same_as_plain "orphan" "$D/plain"
[ "$got" = 0 ] && check "orphan: profile valid, with parent_work" \
    "$PROFCHECK" chain "$RUN_PROFILE" --leaf parent_work --expect "...;main;do_orphan;parent_work" --min-samples 3

# --- fork+exec, vfork+exec, posix_spawn: one file per process -----------------------------
ms=$((SECS * 1000 / 6))
D=$work/spawn
mkdir -p "$D"
run_plain "$D/plain" -- "$PROCS" spawn "$ms" "$D/plain.pids"
run_profiled "$D/prof.pb.gz" -- "$PROCS" spawn "$ms" "$D/pids"
got=$?
same_as_plain "spawn" "$D/plain"
check "spawn: parent's profile at the exact path" test "$got" = 0 -a "$RUN_PROFILE" = "$D/prof.pb.gz"
[ "$got" = 0 ] && check "spawn: parent's profile holds parent_work" \
    "$PROFCHECK" chain "$RUN_PROFILE" --leaf parent_work --expect "...;main;do_spawn;parent_work" --min-samples 5
for kind in fork vfork spawn; do
    fn=spin_$kind
    n=$([ "$got" = 0 ] && samples_of "$RUN_PROFILE" "$fn")
    check "spawn: $fn not in the parent's profile (${n:-?} samples)" test "${n:-1}" = 0
    pid=$(awk -v k="$kind" '$1 == k { print $2 }' "$D/pids" 2>/dev/null)
    f=$D/prof.pb.gz.$pid
    if [ -n "$pid" ] && wait_file "$f"; then
        pass "spawn: $kind child ($pid) wrote its own file prof.pb.gz.$pid"
        check "spawn: $kind child's profile has its work only ($fn)" \
            "$PROFCHECK" chain "$f" --leaf "$fn" --expect "...;main;child_main;$fn" --min-samples 5
        n=$(samples_of "$f" parent_work)
        check "spawn: $kind child's profile has none of the parent's work ($n)" test "$n" = 0
    else
        fail "spawn: no file prof.pb.gz.<pid> for the $kind child (pid '${pid}')"
        ls "$D" | sed 's/^/      | /'
    fi
done
nfiles=$(ls "$D"/prof.pb.gz* | grep -Ev '\.(stdout|stderr|status)$' | wc -l)
check "spawn: exactly 4 profiles (parent + 3 children), found $nfiles" test "$nfiles" = 4

# --- exec of itself, twice: three images of one pid, three files -------------------------
# Same pid and same program name: the image that runs on writes under the name itself, each
# replaced image under <name>.exec.<its collector's pid> (output_claim.h, session.c), ending
# "by exec"; each file holds its own image's work only.
ms=$((SECS * 1000 / 6))
D=$work/execchain
mkdir -p "$D"
run_plain "$D/plain" -- "$PROCS" execchain "$ms"
run_profiled "$D/unused.pb.gz" --no-profile GOPROF_OUT="$D/prof.%e.%p.pb.gz" -- "$PROCS" execchain "$ms"
same_as_plain "exec chain" "$D/plain"
check "exec chain: status 13 (the last image's)" test "$RUN_STATUS" = 13
last=$(ls "$D"/prof.c_procs.*.pb.gz 2>/dev/null | head -n 1)
wait_file "${last:-$D/none}"
replaced=$(ls "$D"/prof.c_procs.*.pb.gz.exec.* 2>/dev/null)
nrep=$(echo "$replaced" | grep -c .)
check "exec chain: the last image at the name (${last##*/}), two replaced ones at .exec.<pid> ($nrep)" \
    test -n "$last" -a "$nrep" = 2
works="first_image_work pre_exec_work spin_exec"
for f in $replaced $last; do
    [ -s "$f" ] || continue
    check "exec chain: ${f##*/} valid" "$PROFCHECK" check "$f"
    own=
    for fn in $works; do
        n=$(samples_of "$f" "$fn")
        if [ "$n" -ge 5 ]; then own="$own $fn"; elif [ "$n" != 0 ]; then own="$own $fn($n)!"; fi
    done
    check "exec chain: ${f##*/} holds one image's work only:$own" test "$(echo $own | wc -w)" = 1 -a "${own%!}" = "$own"
    if [ "$f" = "$last" ]; then
        check "exec chain: the last image holds spin_exec and does not say exec" \
            test "$own" = " spin_exec" -a -z "$("$PROFCHECK" dump "$f" | grep 'ended by exec')"
    else
        check "exec chain: ${f##*/} says it ended by exec" \
            grep -q '^# comment: samples [0-9]*, lost 0, unsampled [0-9]*, ended by exec$' <("$PROFCHECK" dump "$f")
    fi
done
got_works=$(for f in $replaced $last; do for fn in $works; do [ "$(samples_of "$f" "$fn")" -ge 5 ] && echo "$fn"; done; done | sort | tr '\n' ' ')
check "exec chain: the three images' work in three files ($got_works)" \
    test "$got_works" = "first_image_work pre_exec_work spin_exec "
nfiles=$(ls "$D"/prof.* 2>/dev/null | wc -l)
check "exec chain: exactly 3 profiles, found $nfiles" test "$nfiles" = 3

# --- exec with GOPROF_INTERVAL: the replaced image's files are out, it keeps the name --------
# Its collector stays, holding the name and answering 'K', until the process ends; the new
# image's files get .<pid> (the template has no %p).
D=$work/execinterval
mkdir -p "$D"
run_plain "$D/plain" -- "$PROCS" execself 700 700
run_profiled "$D/unused" --no-profile GOPROF_INTERVAL=200ms GOPROF_OUT="$D/cpu.%n.pb.gz" -- \
    "$PROCS" execself 700 700
same_as_plain "exec, intervals" "$D/plain"
sleep 0.5
old=$(ls "$D"/cpu.*.pb.gz 2>/dev/null) new=$(ls "$D"/cpu.*.pb.gz.[0-9]* 2>/dev/null)
check "exec, intervals: both images wrote interval files ($(echo $old | wc -w) and $(echo $new | wc -w))" \
    test "$(echo $old | wc -w)" -ge 2 -a "$(echo $new | wc -w)" -ge 2
bad=
for f in $old; do [ "$(samples_of "$f" spin_exec)" = 0 ] || bad="$bad ${f##*/}"; done
for f in $new; do [ "$(samples_of "$f" pre_exec_work)" = 0 ] || bad="$bad ${f##*/}"; done
check "exec, intervals: each image's files hold its own work only (wrong:${bad:- none})" test -z "$bad"
n1=0 n2=0
for f in $old; do n1=$((n1 + $(samples_of "$f" pre_exec_work))); done
for f in $new; do n2=$((n2 + $(samples_of "$f" spin_exec))); done
check "exec, intervals: the replaced image's work in its files ($n1), the new one's in its ($n2)" \
    test "$n1" -ge 30 -a "$n2" -ge 30

# --- a shell that execs the program (an entrypoint's exec "$@"), one fixed name --------------
# The shell's image lets the name go at the exec (its profile, if it had a sample, goes to
# .exec.<pid>), so the program gets the exact path, every time (output_claim.h).
D=$work/shexec
mkdir -p "$D"
run_plain "$D/plain" -- sh -c 'exec "$0" child exec 300' "$PROCS"
for i in 1 2 3; do
    run_profiled "$D/prof$i.pb.gz" -- sh -c 'exec "$0" child exec 300' "$PROCS"
    got=$?
    same_as_plain "shell exec, run $i" "$D/plain"
    check "shell exec, run $i: the program's profile at the exact path" \
        test "$got" = 0 -a "$RUN_PROFILE" = "$D/prof$i.pb.gz"
    n=$(ls "$D"/prof$i.pb.gz* | grep -Ev '\.(stdout|stderr|status)$|\.exec\.[0-9]+$' | wc -l)
    check "shell exec, run $i: no other file but the shell's .exec.<pid> ($n)" test "$n" = 1
done
[ "$got" = 0 ] && check "shell exec: the program's work in it" \
    "$PROFCHECK" chain "$RUN_PROFILE" --leaf spin_exec --expect "...;main;child_main;spin_exec" --min-samples 5

# --- exec with GOPROF_HTTP: the new image serves on the same port, without a line -----------
# The replaced image's collector lets go of the port when it sees the exec; the new image's
# collector, finding it in use, tries again for up to 3 s before saying so.
D=$work/exechttp
mkdir -p "$D"
PORT=$(free_port)
run_plain "$D/plain" -- "$PROCS" execself 300 3000
_goprof_unsets
env "${_UNSETS[@]}" LD_PRELOAD="$LIBGOPROF" GOPROF_OUT="$D/prof.pb.gz" GOPROF_HTTP="127.0.0.1:$PORT" \
    "$PROCS" execself 300 3000 >"$D/run.stdout" 2>"$D/run.stderr" </dev/null &
APP=$!
for _ in $(seq 1 100); do grep -q "exec after" "$D/run.stdout" && break; sleep 0.05; done
code=000
for _ in $(seq 1 60); do
    code=$(curl -s -o "$D/index.html" -w '%{http_code}' "http://127.0.0.1:$PORT/debug/pprof/")
    [ "$code" = 200 ] && break
    sleep 0.05
done
check "exec + http: the new image serves /debug/pprof/ after the exec (HTTP $code)" test "$code" = 200
code=$(curl -s --max-time 10 -o "$D/http.pb.gz" -w '%{http_code}' "http://127.0.0.1:$PORT/debug/pprof/profile?seconds=1")
check "exec + http: a profile over HTTP from the new image (HTTP $code)" test "$code" = 200
if [ "$code" = 200 ]; then
    n=$(samples_of "$D/http.pb.gz" spin_exec) m=$(samples_of "$D/http.pb.gz" pre_exec_work)
    check "exec + http: it holds the new image's spin_exec ($n) and none of pre_exec_work ($m)" \
        test "$n" -ge 5 -a "$m" = 0
fi
wait "$APP"
echo $? >"$D/run.status"
RUN_STATUS=$(cat "$D/run.status") RUN_STDOUT=$D/run.stdout RUN_STDERR=$D/run.stderr
same_as_plain "exec + http" "$D/plain"
check "exec + http: no libgoprof line (no 'cannot listen')" test ! -s "$D/run.stderr"

# --- a program that closes every descriptor (as daemons do): the collector's lifeline too ---
D=$work/closefds
mkdir -p "$D"
both_ways "closefds" -- "$PROCS" closefds "$ms"
check "closefds: profile written" test "$got" = 0
if [ "$got" = 0 ]; then
    for fn in before_close_work after_close_work; do
        n=$(samples_of "$RUN_PROFILE" "$fn")
        check "closefds: $fn in the profile ($n samples)" test "$n" -ge 5
    done
    check "closefds: not taken for an exec" \
        grep -q '^# comment: samples [0-9]*, lost 0, unsampled [0-9]*$' <("$PROFCHECK" dump "$RUN_PROFILE")
fi

# --- os.Exit(3) from a goroutine -------------------------------------------------------
D=$work/goexit
mkdir -p "$D"
both_ways "go os.Exit(3) in a goroutine" -- "$work/go_exit" -d "$((SECS * 500))ms"
check "go os.Exit(3) in a goroutine: status 3" test "$RUN_STATUS" = 3
check "go os.Exit(3) in a goroutine: profile written" test "$got" = 0
if [ "$got" = 0 ]; then
    check "go os.Exit(3) in a goroutine: profile valid (go tool pprof)" pprof_ok "$RUN_PROFILE"
    check "go os.Exit(3) in a goroutine: Go worker main.goExitSpin present" \
        "$PROFCHECK" chain "$RUN_PROFILE" --leaf main.goExitSpin --expect "runtime.goexit;main.main.func1;main.goExitSpin" --min-samples 10
    check "go os.Exit(3) in a goroutine: C worker c_exit_spin present, under the cgo call" \
        "$PROFCHECK" chain "$RUN_PROFILE" --leaf c_exit_spin --expect "runtime.goexit;main.main.func2;...;runtime.cgocall;runtime.asmcgocall;...;c_exit_spin" --min-samples 10
    cpu=$(field_of "$RUN_STDOUT" cpu_ns)
    check "go os.Exit(3) in a goroutine: samples within 15% of getrusage (${cpu} ns)" \
        "$PROFCHECK" total "$RUN_PROFILE" --expect-cpu-ns "${cpu:-0}" --tol 0.15
fi

# --- crashes: abort() and SIGSEGV ---------------------------------------------------------
for mode in abort segv; do
    D=$work/$mode
    mkdir -p "$D"
    both_ways "$mode" -- "$PROCS" "$mode" 500
    want=$([ "$mode" = abort ] && echo 134 || echo 139)
    check "$mode: killed by SIG$([ "$mode" = abort ] && echo ABRT || echo SEGV) ($want) as without the preload" \
        test "$RUN_STATUS" = "$want"
    check "$mode: profile written" test "$got" = 0
    [ "$got" = 0 ] && check "$mode: profile valid and holds crash_work" \
        "$PROFCHECK" chain "$RUN_PROFILE" --leaf crash_work --expect "...;main;crash_work" --min-samples 20
done

# --- kill(0, SIGTERM): the program kills its own process group --------------------------
# setsid puts the program (and, before it leaves, the collector it forks) in a new process
# group; kill(0) reaches the whole group. The collector must have left it (its own session).
D=$work/killpg
mkdir -p "$D"
both_ways "killpg" -- setsid "$PROCS" killpg 500
check "killpg: ended by SIGTERM (143) as without the preload" test "$RUN_STATUS" = 143
check "killpg: the collector survived and wrote the profile" test "$got" = 0
[ "$got" = 0 ] && check "killpg: profile valid and holds crash_work" \
    "$PROFCHECK" chain "$RUN_PROFILE" --leaf crash_work --expect "...;main;crash_work" --min-samples 20

# --- SIGKILL from outside while two threads are busy --------------------------------------
D=$work/sigkill
mkdir -p "$D"
run_profiled "$D/prof.pb.gz" --kill-after="$SECS" -- "$PROCS" threads $((SECS * 10000)) "$D/cpu"
got=$?
check "SIGKILL: status 137" test "$RUN_STATUS" = 137
check "SIGKILL: stdout as without the preload" grep -qx "threads: started, 2 threads" "$RUN_STDOUT"
check "SIGKILL: nothing on stderr" test ! -s "$RUN_STDERR"
check "SIGKILL: profile written" test "$got" = 0
# $D/cpu: the CPU time up to at most 50 ms before the kill. The profile must hold all of it
# (-10%), and not much more (the last 50 ms of two threads, +10%).
cpu=$(sed 's/^0*//' "$D/cpu" 2>/dev/null)
if [ "$got" = 0 ] && [ -n "$cpu" ]; then
    check "SIGKILL: profile valid, thread_work under thread_main" \
        "$PROFCHECK" chain "$RUN_PROFILE" --leaf thread_work --expect "...;thread_main;thread_work" --min-samples 20
    total=$("$PROFCHECK" total "$RUN_PROFILE" | awk '$1 == "cpu_ns" { print $2 }')
    check "SIGKILL: samples ($total ns) cover the CPU time before the kill ($cpu ns, -10%/+100 ms+10%)" \
        test "$((total * 10))" -ge "$((cpu * 9))" -a "$((total * 10))" -le "$((cpu * 11 + 1000000000))"
fi

finish
