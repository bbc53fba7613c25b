#!/bin/bash
# test_process.sh -- process life under libgoprof: the program must behave exactly as without
# it (stdout, stderr, exit status or terminating signal), and the profile must be complete and
# valid however the process ends. One session per process tree (docs/architecture.md, "One
# session per process tree"): every process started under the profiled one joins its session,
# and the whole tree is in ONE profile at GOPROF_OUT; every sample carries the labels pid and
# process; the stacks of every pid but the leader's have the root frame "[process: NAME]"; the
# session ends, and its file appears, when the tree's last process has ended.
#   - fork without exec: the child joins with a ring of its own: its work is in the profile
#     under [process: c_procs] and its own pid, the parent's under the leader's pid without a
#     root frame; each pid's samples match its CPU time; no file of its own. A child that
#     outlives its parent keeps the session open: the profile appears only once it has ended,
#     with its work in it (three runs: a child that could not join in time shows).
#   - fork+exec, vfork+exec, posix_spawn: one file at the exact path; each child's work under
#     its root frame and its pid (the one its parent reported), the parent's without one.
#   - a program that execs itself twice: one pid, one session, one file (also with %e.%p),
#     the three images' work without root frames; with GOPROF_INTERVAL one series of interval
#     files across the exec; a shell that execs the program leaves it the exact path and the
#     leader's stacks; with GOPROF_HTTP the session's endpoint (its collector) serves across
#     the exec; a program that closes every descriptor (its connection to the collector among
#     them) is profiled to its end, not taken for an exec.
#   - os.Exit(3) from a goroutine, abort(), SIGSEGV, kill(0, SIGTERM) on its own process group
#     (the collector is in its own session; the forked idle child is a member that dies too),
#     SIGKILL from outside while threads are busy: the same end as without libgoprof, and a
#     valid profile with the work in it.
#   - with C memory profiling on (GOPROF_HEAP_RATE=16k): c_heap's run, a fork child, abort(),
#     SIGSEGV, kill(0, SIGTERM) and SIGKILL while allocating end as without libgoprof, with a
#     valid heap profile and no other file.
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

# profiles_in DIR: the names in DIR that are not a run's captured output (.stdout, .stderr,
# .status, .pids) nor the plain run's: the profile files, space-separated.
profiles_in() {
    ls "$1" | grep -Ev '^plain(\..*)?$|\.(stdout|stderr|status)$|^(plain\.)?pids$' | tr '\n' ' ' | sed 's/ $//'
}

# frames_by_pid PROFILE LEADER: every sample of pid LEADER has no process frame, every other
# pid's starts with "[process: c_procs];_start;" (prints the first offenders).
frames_by_pid() {
    "$PROFCHECK" dump "$1" | awk -v leader="$2" -F' \\| ' '
        !/^#/ {
            p = "-"; m = split($1, l, " "); for (i = 3; i <= m; i++) if (l[i] ~ /^pid=/) p = substr(l[i], 5)
            # the CPU time no tick saw (a process start and end) has no stack of its own
            rooted = index($2, "[process: c_procs];_start;") == 1 ||
                     $2 == "[process: c_procs];[libgoprof] unsampled: CPU time no tick saw"
            if (p == leader && index($2, "[process: ") == 1) { print "leader sample with a process frame: " $0; bad = 1 }
            if (p != leader && !rooted) { print "pid " p " sample without [process: c_procs]: " $0; bad = 1 }
            n++
        }
        END { if (!n) { print "no samples"; bad = 1 } exit bad }' | head -n 5
    return "${PIPESTATUS[1]}"
}

# --- fork without exec: the child joins the session under its own pid -----------------------
ms=$((SECS * 1000 / 3))
D=$work/fork
mkdir -p "$D"
both_ways "fork" -- "$PROCS" fork "$ms"
check "fork: child's exit status seen by the parent (7)" grep -qx "forked child exited 7" "$RUN_STDOUT"
check "fork: the tree's profile at the exact path" test "$got" = 0 -a "$RUN_PROFILE" = "$D/prof.pb.gz"
if [ "$got" = 0 ]; then
    leader=$RUN_PID
    check "fork: profile valid" "$PROFCHECK" check "$RUN_PROFILE"
    check "fork: labels pid (numeric) and process (c_procs) in the profile" \
        "$PROFCHECK" labels "$RUN_PROFILE" --require pid:num --require process:str --require-value process=c_procs
    nolabel=$("$PROFCHECK" dump "$RUN_PROFILE" | grep -v '^#' | grep -Evc ' pid=[0-9]+ .*process=c_procs ')
    check "fork: no sample without pid and process labels ($nolabel)" test "$nolabel" = 0
    check "fork: the parent's work under main, without a process frame" \
        "$PROFCHECK" chain "$RUN_PROFILE" --leaf parent_work --expect "_start;...;main;do_fork;parent_work" --min-samples 10
    check "fork: the child's work under [process: c_procs]" \
        "$PROFCHECK" chain "$RUN_PROFILE" --leaf child_inert_work \
        --expect "[process: c_procs];_start;...;main;do_fork;child_inert_work" --min-samples 10
    cpids=$(pids_of "$RUN_PROFILE" child_inert_work) ppids=$(pids_of "$RUN_PROFILE" parent_work)
    check "fork: parent_work under the leader's pid only (pids: $ppids, leader $leader)" test "$ppids" = "$leader"
    check "fork: child_inert_work under one pid, not the leader's (pids: $cpids, leader $leader)" \
        test -n "$cpids" -a "$cpids" = "${cpids%% *}" -a "$cpids" != "$leader"
    allpids=$(pids_of "$RUN_PROFILE")
    check "fork: samples of exactly two pids, leader and child ($allpids)" test "$allpids" = "$(echo "$leader $cpids" | tr ' ' '\n' | sort -n | tr '\n' ' ' | sed 's/ $//')"
    check "fork: process frames on the child's stacks only" frames_by_pid "$RUN_PROFILE" "$leader"
    # 2*ms of parent CPU and ms of child CPU: 3*ms in all, each pid its own share.
    check "fork: samples within 15% of the parent's and the child's CPU time ($((3 * ms)) ms)" \
        "$PROFCHECK" total "$RUN_PROFILE" --expect-cpu-ns "$((3 * ms * 1000000))" --tol 0.15
    pc=$(cpu_of_pid "$RUN_PROFILE" "$leader") cc=$(cpu_of_pid "$RUN_PROFILE" "$cpids")
    check "fork: the leader's samples ($((pc / 1000000)) ms) within 15% of its CPU ($((2 * ms)) ms)" \
        within_pct 15 "$pc" "$((2 * ms * 1000000))"
    check "fork: the child's samples ($((cc / 1000000)) ms) within 15% of its CPU ($ms ms)" \
        within_pct 15 "$cc" "$((ms * 1000000))"
    pr=$(processes_of "$RUN_PROFILE")
    check "fork: comment says two processes joined, both with samples ($pr)" \
        test "$pr" = "processes: 2 joined, 2 with samples, 0 refused"
fi
sleep 0.5
others=$(profiles_in "$D" | tr ' ' '\n' | grep -vx 'prof\.pb\.gz' | tr '\n' ' ')
check "fork: no file but prof.pb.gz (found: ${others:-none})" test -z "$others"

# --- a forked child outlives its parent: the session lasts until it ends ---------------------
# The parent exits right after the fork; the child works on for $long ms (its CPU time) and
# prints "orphan: child done" just before it exits. The session is the tree's: its profile
# must not appear before the child has ended, and must hold both processes' work. Three runs:
# the child joins from its fork handler while its parent is already on its way out.
D=$work/orphan
mkdir -p "$D"
long=$((SECS * 1000 / 6))
run_plain "$D/plain" -- "$PROCS" orphan "$long"
# wait_file_line FILE TEXT: until FILE has TEXT, for the child's work and 20 s more.
wait_file_line() {
    local i
    for ((i = 0; i < long / 100 + 200; i++)); do grep -q "$2" "$1" && return 0; sleep 0.1; done
    return 1
}
wait_file_line "$D/plain.stdout" "orphan: child done"
for i in 1 2 3; do
    start=$(date +%s%N)
    run_profiled "$D/prof$i.pb.gz" -- "$PROCS" orphan "$long"
    got=$?
    appeared_ms=$((($(date +%s%N) - start) / 1000000))
    child_done=0
    grep -q "orphan: child done" "$RUN_STDOUT" && child_done=1
    check "orphan, run $i: the tree's profile written at the exact path" test "$got" = 0
    check "orphan, run $i: it appeared only after the child ended (${appeared_ms} ms, child ${long} ms of CPU)" \
        test "$child_done" = 1
    wait_file_line "$RUN_STDOUT" "orphan: child done"
    same_as_plain "orphan, run $i" "$D/plain"
    [ "$got" = 0 ] || continue
    leader=$RUN_PID
    check "orphan, run $i: profile valid, parent_work under the leader's pid without a process frame" \
        "$PROFCHECK" chain "$RUN_PROFILE" --leaf parent_work --expect "_start;...;main;do_orphan;parent_work" --min-samples 3
    cpids=$(pids_of "$RUN_PROFILE" child_inert_work)
    n=$(samples_of "$RUN_PROFILE" child_inert_work)
    check "orphan, run $i: the child's work in it ($n samples, want $((long / 10)) -15%) under one pid ($cpids) not the leader's ($leader)" \
        test "$((n * 100))" -ge "$((long / 10 * 85))" -a -n "$cpids" -a "$cpids" = "${cpids%% *}" -a "$cpids" != "$leader"
    [ "$n" -gt 0 ] && check "orphan, run $i: the child's work under [process: c_procs]" \
        "$PROFCHECK" chain "$RUN_PROFILE" --leaf child_inert_work \
        --expect "[process: c_procs];_start;...;main;do_orphan;child_inert_work" --min-samples 5
    pr=$(processes_of "$RUN_PROFILE")
    check "orphan, run $i: comment says two processes joined, both with samples ($pr)" \
        test "$pr" = "processes: 2 joined, 2 with samples, 0 refused"
done
nfiles=$(profiles_in "$D")
check "orphan: one file per run, no other ($nfiles)" test "$nfiles" = "prof1.pb.gz prof2.pb.gz prof3.pb.gz"

# --- fork+exec, vfork+exec, posix_spawn: one session, one file -----------------------------
ms=$((SECS * 1000 / 6))
D=$work/spawn
mkdir -p "$D"
run_plain "$D/plain" -- "$PROCS" spawn "$ms" "$D/plain.pids"
run_profiled "$D/prof.pb.gz" -- "$PROCS" spawn "$ms" "$D/pids"
got=$?
same_as_plain "spawn" "$D/plain"
check "spawn: the tree's profile at the exact path" test "$got" = 0 -a "$RUN_PROFILE" = "$D/prof.pb.gz"
leader=$RUN_PID
if [ "$got" = 0 ]; then
    check "spawn: profile valid, parent_work under main without a process frame" \
        "$PROFCHECK" chain "$RUN_PROFILE" --leaf parent_work --expect "_start;...;main;do_spawn;parent_work" --min-samples 5
    ppids=$(pids_of "$RUN_PROFILE" parent_work)
    check "spawn: parent_work under the leader's pid only (pids: $ppids, leader $leader)" test "$ppids" = "$leader"
fi
want_pids=$leader
for kind in fork vfork spawn; do
    fn=spin_$kind
    pid=$(awk -v k="$kind" '$1 == k { print $2 }' "$D/pids" 2>/dev/null)
    if [ -z "$pid" ] || [ "$got" != 0 ]; then
        fail "spawn: $kind child: no pid in $D/pids ('$pid') or no profile"
        continue
    fi
    want_pids="$want_pids $pid"
    check "spawn: the $kind child's work ($fn) under [process: c_procs]" \
        "$PROFCHECK" chain "$RUN_PROFILE" --leaf "$fn" --expect "[process: c_procs];_start;...;main;child_main;$fn" --min-samples 5
    n=$(samples_of "$RUN_PROFILE" "$fn") m=$(samples_of_pid "$RUN_PROFILE" "$fn" "$pid") fpids=$(pids_of "$RUN_PROFILE" "$fn")
    check "spawn: $fn's samples ($n) all under the $kind child's pid $pid ($m; pids: $fpids)" \
        test "$n" -ge 5 -a "$m" = "$n" -a "$fpids" = "$pid"
    n=$(samples_of_pid "$RUN_PROFILE" parent_work "$pid")
    check "spawn: none of the parent's work under the $kind child's pid ($n)" test "$n" = 0
done
if [ "$got" = 0 ]; then
    want_pids=$(echo "$want_pids" | tr ' ' '\n' | sort -n | tr '\n' ' ' | sed 's/ $//')
    allpids=$(pids_of "$RUN_PROFILE")
    check "spawn: samples of the parent and its three children, no other pid ($allpids; want $want_pids)" \
        test "$allpids" = "$want_pids"
    check "spawn: process frames on the children's stacks only" frames_by_pid "$RUN_PROFILE" "$leader"
    check "spawn: samples within 15% of the four processes' CPU time ($((4 * ms)) ms)" \
        "$PROFCHECK" total "$RUN_PROFILE" --expect-cpu-ns "$((4 * ms * 1000000))" --tol 0.15
    # The fork child joins twice (its forked image, then its exec'd one), unless its exec'd
    # image's hello came first. The forked image runs briefly (joining, then exec), but its
    # timer's first expiry is random within a period, so now and then it has a sample (a full
    # run on 538d53f: "5 joined, 5 with samples").
    pr=$(processes_of "$RUN_PROFILE")
    check "spawn: comment: 4 joined and 4 with samples, or 5 joined and 4 or 5 ($pr)" \
        grep -Eqx 'processes: (4 joined, 4|5 joined, [45]) with samples, 0 refused' <<<"$pr"
fi
sleep 0.5
nfiles=$(profiles_in "$D")
check "spawn: exactly 1 profile file for the tree ($nfiles)" test "$nfiles" = "prof.pb.gz"

# --- exec of itself, twice: three images of one pid, one session, one file ------------------
# The leader's exec'd images are still the leader (same pid): one file, named by %e.%p of that
# pid, with the three images' work and no process frame.
ms=$((SECS * 1000 / 6))
D=$work/execchain
mkdir -p "$D"
run_plain "$D/plain" -- "$PROCS" execchain "$ms"
run_profiled "$D/unused" --no-profile GOPROF_OUT="$D/prof.%e.%p.pb.gz" -- "$PROCS" execchain "$ms"
same_as_plain "exec chain" "$D/plain"
check "exec chain: status 13 (the last image's)" test "$RUN_STATUS" = 13
f=$D/prof.c_procs.$RUN_PID.pb.gz
wait_file "$f"
sleep 0.5
nfiles=$(profiles_in "$D")
check "exec chain: exactly one profile, prof.c_procs.$RUN_PID.pb.gz (found: ${nfiles:-none})" \
    test "$nfiles" = "prof.c_procs.$RUN_PID.pb.gz"
if [ -s "$f" ]; then
    check "exec chain: profile valid" "$PROFCHECK" check "$f"
    check "exec chain: the first image's work (first_image_work), no process frame" \
        "$PROFCHECK" chain "$f" --leaf first_image_work --expect "_start;...;main;first_image_work" --min-samples 5
    check "exec chain: the second image's work (pre_exec_work), no process frame" \
        "$PROFCHECK" chain "$f" --leaf pre_exec_work --expect "_start;...;main;pre_exec_work" --min-samples 5
    check "exec chain: the third image's work (spin_exec), no process frame" \
        "$PROFCHECK" chain "$f" --leaf spin_exec --expect "_start;...;main;child_main;spin_exec" --min-samples 5
    rooted=$(rooted_of "$f") allpids=$(pids_of "$f")
    check "exec chain: no process frame at all (rooted, plain: $rooted)" test "${rooted%% *}" = 0
    check "exec chain: every sample under the one pid $RUN_PID (pids: $allpids)" test "$allpids" = "$RUN_PID"
    check "exec chain: samples within 15% of the three images' CPU time ($((3 * ms)) ms)" \
        "$PROFCHECK" total "$f" --expect-cpu-ns "$((3 * ms * 1000000))" --tol 0.15
    check "exec chain: the session ended with the process, not at an exec (plain samples comment)" \
        grep -q '^# comment: samples [0-9]*, lost 0, unsampled [0-9]*$' <("$PROFCHECK" dump "$f")
    # tree.h: an entry per process image that joined
    pr=$(processes_of "$f")
    check "exec chain: comment: three images joined, each with samples ($pr)" \
        test "$pr" = "processes: 3 joined, 3 with samples, 0 refused"
fi

# --- exec with GOPROF_INTERVAL: one series across the exec -----------------------------------
# The interval files are the session's: numbered on across the exec, tiling the run, holding
# the first image's work and then the second's; no file gets a .<pid>.
D=$work/execinterval
mkdir -p "$D"
run_plain "$D/plain" -- "$PROCS" execself 700 700
run_profiled "$D/unused" --no-profile GOPROF_INTERVAL=200ms GOPROF_OUT="$D/cpu.%n.pb.gz" -- \
    "$PROCS" execself 700 700
same_as_plain "exec, intervals" "$D/plain"
sleep 0.5
files=$(ls "$D" | grep -E '^cpu\.[0-9]+\.pb\.gz$' | sort -t. -k2 -n | sed "s|^|$D/|")
nf=$(echo "$files" | grep -c .)
odd=$(profiles_in "$D" | tr ' ' '\n' | grep -Evx 'cpu\.[0-9]+\.pb\.gz' | tr '\n' ' ')
check "exec, intervals: only cpu.<n>.pb.gz files, no .<pid> (other: ${odd:-none})" test -z "$odd"
nums=$(for f in $files; do f=${f##*/cpu.}; echo "${f%.pb.gz}"; done | tr '\n' ' ' | sed 's/ $//')
check "exec, intervals: one series numbered 1..$nf without a gap ($nums)" test "$nums" = "$(seq -s ' ' 1 "$nf")"
check "exec, intervals: at least 4 files for 1.4 s of CPU at 200 ms ($nf)" test "$nf" -ge 4
# shellcheck disable=SC2086
[ "$nf" -ge 1 ] && check "exec, intervals: the files tile the run and add up to its totals" \
    "$PROFCHECK" series --max-gap 0 --expect-run $files
n1=0 n2=0 r=0 bad=
for f in $files; do
    n1=$((n1 + $(samples_of "$f" pre_exec_work)))
    n2=$((n2 + $(samples_of "$f" spin_exec)))
    rr=$(rooted_of "$f"); r=$((r + ${rr%% *}))
    p=$(pids_of "$f"); [ -z "$p" ] || [ "$p" = "$RUN_PID" ] || bad="$bad ${f##*/}($p)"
done
check "exec, intervals: both images' work in the series (pre_exec_work $n1, spin_exec $n2; want 70 -15%)" \
    test "$n1" -ge 60 -a "$n2" -ge 60
check "exec, intervals: all of it under the leader's pid $RUN_PID (other pids:${bad:- none}), no process frame ($r)" \
    test -z "$bad" -a "$r" = 0
# Files are cut by time: spin_exec never before pre_exec_work.
order=$(for f in $files; do a=$(samples_of "$f" pre_exec_work) b=$(samples_of "$f" spin_exec); [ "$a" -gt 0 ] && echo "a ${f##*/}"; [ "$b" -gt 0 ] && echo "b ${f##*/}"; done | awk '$1 == "b" { seen = 1 } $1 == "a" && seen { print $2 }' | tr '\n' ' ')
check "exec, intervals: no file with pre_exec_work after one with spin_exec (${order:-none})" test -z "$order"

# --- a shell that execs the program (an entrypoint's exec "$@"), one fixed name --------------
# The shell leads the session; the program is its exec'd image (same pid): the leader, so the
# exact path, its stacks without a process frame, and no other file, every time.
D=$work/shexec
mkdir -p "$D"
run_plain "$D/plain" -- sh -c 'exec "$0" child exec 300' "$PROCS"
for i in 1 2 3; do
    run_profiled "$D/prof$i.pb.gz" -- sh -c 'exec "$0" child exec 300' "$PROCS"
    got=$?
    same_as_plain "shell exec, run $i" "$D/plain"
    check "shell exec, run $i: the program's profile at the exact path" \
        test "$got" = 0 -a "$RUN_PROFILE" = "$D/prof$i.pb.gz"
    sleep 0.3
    nfiles=$(profiles_in "$D" | tr ' ' '\n' | grep "^prof$i\." | tr '\n' ' ' | sed 's/ $//')
    check "shell exec, run $i: no other file than prof$i.pb.gz ($nfiles)" test "$nfiles" = "prof$i.pb.gz"
    [ "$got" = 0 ] || continue
    check "shell exec, run $i: the program's work, without a process frame" \
        "$PROFCHECK" chain "$RUN_PROFILE" --leaf spin_exec --expect "_start;...;main;child_main;spin_exec" --min-samples 5
    allpids=$(pids_of "$RUN_PROFILE") rooted=$(rooted_of "$RUN_PROFILE")
    check "shell exec, run $i: every sample under the shell's pid $RUN_PID ($allpids), none with a process frame ($rooted)" \
        test "$allpids" = "$RUN_PID" -a "${rooted%% *}" = 0
done

# --- exec with GOPROF_HTTP: the session's endpoint serves across the exec ---------------------
# The endpoint belongs to the session (the leader's collector): the exec'd image does not bind
# it again. A window opened before the exec is answered at the session's end with both images'
# work; one opened after the exec holds the new image's only; the collector is the same process
# before and after; no 'cannot listen' line.
D=$work/exechttp
H=$D/http
mkdir -p "$H"
PORT=$(free_port)
run_plain "$D/plain" -- "$PROCS" execself 1000 2000
_goprof_unsets
env "${_UNSETS[@]}" LD_PRELOAD="$LIBGOPROF" GOPROF_OUT="$D/prof.pb.gz" GOPROF_HTTP="127.0.0.1:$PORT" \
    "$PROCS" execself 1000 2000 >"$D/run.stdout" 2>"$D/run.stderr" </dev/null &
APP=$!
code=000
for _ in $(seq 1 100); do
    code=$(curl -s -o "$H/index.html" -w '%{http_code}' "http://127.0.0.1:$PORT/debug/pprof/")
    [ "$code" = 200 ] && break
    sleep 0.05
done
before_exec=0
grep -q "exec after" "$D/run.stdout" || before_exec=1
check "exec + http: the session serves /debug/pprof/ before the exec (HTTP $code, before the exec: $before_exec)" \
    test "$code" = 200 -a "$before_exec" = 1
coll1=$(pgrep -x "goprof-$APP" | tr '\n' ' ')
curl -s --max-time 30 -o "$H/across.pb.gz" -w '%{http_code}' \
    "http://127.0.0.1:$PORT/debug/pprof/profile?seconds=30" >"$H/across.code" &
ACROSS=$!
sleep 0.3   # for the request to reach the collector
opened_before=0
grep -q "exec after" "$D/run.stdout" || opened_before=1
for _ in $(seq 1 200); do grep -q "exec after" "$D/run.stdout" && break; sleep 0.05; done
sleep 0.2   # the exec itself; the new image joins within a few ms
code=$(curl -s --max-time 5 -o "$H/index2.html" -w '%{http_code}' "http://127.0.0.1:$PORT/debug/pprof/")
check "exec + http: the same endpoint serves right after the exec, at the first try (HTTP $code)" test "$code" = 200
coll2=$(pgrep -x "goprof-$APP" | tr '\n' ' ')
check "exec + http: one collector, the same process before and after the exec (${coll1:-none}/ ${coll2:-none})" \
    test -n "$coll1" -a "$coll1" = "$coll2" -a "$(echo $coll1 | wc -w)" = 1
code=$(curl -s --max-time 10 -o "$H/after.pb.gz" -w '%{http_code}' "http://127.0.0.1:$PORT/debug/pprof/profile?seconds=1")
check "exec + http: a profile over HTTP after the exec (HTTP $code)" test "$code" = 200
if [ "$code" = 200 ]; then
    n=$(samples_of "$H/after.pb.gz" spin_exec) m=$(samples_of "$H/after.pb.gz" pre_exec_work) p=$(pids_of "$H/after.pb.gz")
    check "exec + http: it holds the new image's spin_exec ($n) and none of pre_exec_work ($m), under pid $APP ($p)" \
        test "$n" -ge 5 -a "$m" = 0 -a "$p" = "$APP"
fi
wait "$APP"
echo $? >"$D/run.status"
wait "$ACROSS"
RUN_STATUS=$(cat "$D/run.status") RUN_STDOUT=$D/run.stdout RUN_STDERR=$D/run.stderr
same_as_plain "exec + http" "$D/plain"
check "exec + http: no libgoprof line (no 'cannot listen')" test ! -s "$D/run.stderr"
code=$(cat "$H/across.code")
if [ "$opened_before" = 1 ] && [ "$code" = 200 ]; then
    n=$(samples_of "$H/across.pb.gz" spin_exec) m=$(samples_of "$H/across.pb.gz" pre_exec_work)
    check "exec + http: a window opened before the exec, answered at the session's end, holds both images' work (pre_exec_work $m >= 5, spin_exec $n >= 170)" \
        test "$m" -ge 5 -a "$n" -ge 170
else
    fail "exec + http: a window opened before the exec (opened before it: $opened_before) answered at the session's end (HTTP $code)"
fi
wait_file "$D/prof.pb.gz"
if [ -s "$D/prof.pb.gz" ]; then
    n=$(samples_of "$D/prof.pb.gz" spin_exec) m=$(samples_of "$D/prof.pb.gz" pre_exec_work)
    check "exec + http: the session's file holds both images' work (pre_exec_work $m >= 85, spin_exec $n >= 170)" \
        test "$m" -ge 85 -a "$n" -ge 170
fi
sleep 0.3
nfiles=$(profiles_in "$D" | tr ' ' '\n' | grep -vx http | tr '\n' ' ' | sed 's/ $//')
check "exec + http: exactly one profile file, prof.pb.gz ($nfiles)" test "$nfiles" = "prof.pb.gz"

# --- a program that closes every descriptor (as daemons do): its connection too -------------
# The collector sees the connection end with the ring still mapped: the process runs on (not an
# exec); it reads on until the process exits.
D=$work/closefds
mkdir -p "$D"
both_ways "closefds" -- "$PROCS" closefds "$ms"
check "closefds: profile written" test "$got" = 0
if [ "$got" = 0 ]; then
    for fn in before_close_work after_close_work; do
        n=$(samples_of "$RUN_PROFILE" "$fn")
        check "closefds: $fn in the profile ($n samples, want $((ms / 10)) -15%)" \
            test "$((n * 100))" -ge "$((ms / 10 * 85))"
    done
    check "closefds: not taken for an exec: the samples comment has no suffix" \
        grep -q '^# comment: samples [0-9]*, lost 0, unsampled [0-9]*$' <("$PROFCHECK" dump "$RUN_PROFILE")
    pr=$(processes_of "$RUN_PROFILE")
    check "closefds: not taken for an exec: one image joined ($pr)" \
        test "$pr" = "processes: 1 joined, 1 with samples, 0 refused"
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
# group; kill(0) reaches the whole group, the program's idle child (a session member) too. The
# collector must have left it (its own session); the tree's session ends with its last process.
D=$work/killpg
mkdir -p "$D"
both_ways "killpg" -- setsid "$PROCS" killpg 500
check "killpg: ended by SIGTERM (143) as without the preload" test "$RUN_STATUS" = 143
check "killpg: the collector survived and wrote the profile" test "$got" = 0
if [ "$got" = 0 ]; then
    check "killpg: profile valid and holds crash_work, without a process frame" \
        "$PROFCHECK" chain "$RUN_PROFILE" --leaf crash_work --expect "_start;...;main;crash_work" --min-samples 20
    # setsid's image (the leader), its exec'd c_procs and the idle child forked before
    # crash_work, which dies by the group's SIGTERM too: three joined. c_procs has samples;
    # setsid's image may have one too: a timer's first expiry is random within the period, and
    # its brief CPU time got a tick in 1 run of 40 here (in setlocale).
    pr=$(processes_of "$RUN_PROFILE")
    check "killpg: the idle child was a member too ($pr)" \
        grep -Eqx 'processes: 3 joined, [12] with samples, 0 refused' <<<"$pr"
fi

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

# --- C memory profiling on: the same ends ---------------------------------------------------
# GOPROF_HEAP_RATE=16k (many sampled allocations, frees, moves): the program ends as without
# libgoprof, and the heap profile is written, whole, however it ends: c_heap (threads, every
# entry point, frees on other threads, a fork while allocating) to its end, a fork child
# joining, abort(), SIGSEGV, kill(0, SIGTERM), SIGKILL from outside while allocating.
CHEAP=$work/c_heap
gcc -O2 -g -pthread -o "$CHEAP" "$top_srcdir/tests/fixtures/c_heap/c_heap.c" ||
    { fail "build c_heap"; finish; }
# heap_ok NAME FILE: go tool pprof reads FILE as Go's heap profile
heap_ok() {
    check "$1: heap profile valid ($(basename "$2"))" \
        sh -c '"$1" tool pprof -raw "$2" 2>/dev/null | grep -q "^alloc_objects/count alloc_space/bytes inuse_objects/count inuse_space/bytes"' \
        _ "$GO" "$2"
}
for mode in c_heap fork abort segv killpg; do
    D=$work/heap-$mode
    mkdir -p "$D"
    case $mode in
    c_heap) cmd=("$CHEAP" 100000) ;;
    killpg) cmd=(setsid "$PROCS" killpg 500) ;;
    *) cmd=("$PROCS" "$mode" 500) ;;
    esac
    both_ways "heap on, $mode" GOPROF_HEAP_RATE=16k GOPROF_HEAP_OUT="$D/heap.pb.gz" -- "${cmd[@]}"
    check "heap on, $mode: CPU profile written and valid" \
        sh -c '[ "$1" = 0 ] && "$2" check "$3"' _ "$got" "$PROFCHECK" "$RUN_PROFILE"
    heap_ok "heap on, $mode" "$D/heap.pb.gz"
    others=$(ls "$D" | grep -Ev '\.(stdout|stderr|status)$' | grep -Evx 'prof\.pb\.gz|heap\.pb\.gz' | tr '\n' ' ')
    check "heap on, $mode: no other file (${others:-none})" test -z "$others"
done
D=$work/heap-sigkill
mkdir -p "$D"
run_profiled "$D/prof.pb.gz" --kill-after=1 GOPROF_HEAP_RATE=16k GOPROF_HEAP_OUT="$D/heap.pb.gz" \
    -- "$CHEAP" 100000000
check "heap on, SIGKILL while allocating: status 137" test "$RUN_STATUS" = 137
check "heap on, SIGKILL while allocating: nothing on stderr" test ! -s "$RUN_STDERR"
heap_ok "heap on, SIGKILL while allocating" "$D/heap.pb.gz"

finish
