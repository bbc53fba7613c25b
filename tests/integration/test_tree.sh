#!/bin/bash
# test_tree.sh -- one profiling session per process tree.
#
# The first preloaded process (the leader) starts the one collector; every descendant that
# inherits LD_PRELOAD joins its session: exec'd children (fork+exec, posix_spawn, Go os/exec),
# exec chains (env, nice, sh -c 'exec ...'), children forked without exec. The tree's samples go
# into ONE profile at GOPROF_OUT. Every sample has the numeric label `pid` and the string label
# `process` (the program's short name); the samples of every process but the leader (whose
# exec'd images count as the leader) start with the extra root frame `[process: NAME]`.
# With %p in GOPROF_OUT: one file per process with samples. GOPROF_FOLLOW=0: descendants run
# unprofiled. GOPROF_HTTP, GOPROF_INTERVAL and SIGUSR1 serve the whole tree.
#
# Sections:
#   1. wrappers in front of go_cgo: timeout, env, nice, sh -c './app; true', tini, tini -s,
#      dumb-init: the program's chains in the one file at GOPROF_OUT
#   2. children: fork+exec, vfork+exec and posix_spawn children of a C program; a Go program
#      running os/exec commands (C busy children, sh busy loops); a shell loop of 300
#      /bin/true: one file, the children's CPU within 10 %, labels
#   3. %p: one file per process with samples, each its own pid's
#   4. GOPROF_FOLLOW=0: the children run unprofiled (no timer, no collector, no file)
#   5. GOPROF_HTTP, SIGUSR1 and GOPROF_INTERVAL through a wrapper
#   6. safety: another user's process, a child closing all its descriptors, a fork bomb of
#      200 short children, a child in its own network namespace
#
#   LIBGOPROF=/path/to/libgoprof.so tests/integration/test_tree.sh
#
# About 2 minutes. Prints PASS:/FAIL: lines and "N passed, N failed"; the work directory is
# kept on failure (or with LIBGOPROF_TEST_KEEP=1).

. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

stress_setup tree
[ -f "$LIBGOPROF" ] || { fail "LIBGOPROF=$LIBGOPROF does not exist (build the library first)"; finish; }
CFLAGS_FX="-O1 -fno-omit-frame-pointer -fno-inline -pthread -Wall"
for f in c_busy c_prefork c_procs; do
	gcc $CFLAGS_FX -o "$work/bin/$f" "$fx/$f.c" || { fail "build $f"; finish; }
done
(cd "$fx" && CGO_ENABLED=1 "$GO" build -o "$work/bin/go_spawner" go_spawner.go) ||
	{ fail "build go_spawner"; finish; }
C_BUSY=$work/bin/c_busy PREFORK=$work/bin/c_prefork PROCS=$work/bin/c_procs SPAWNER=$work/bin/go_spawner
# Another user runs some of these (section 6).
chmod 0755 "$work" "$work/bin"
pass "build fixtures"

# Expected go_cgo chains (tests/fixtures/go_cgo/README), root to leaf.
GO_C_INNER='runtime.goexit;runtime.main;main.main;main.goCallC;main._Cfunc_c_outer;runtime.cgocall;runtime.asmcgocall;*;c_outer;c_inner'
GO_SPIN='runtime.goexit;runtime.main;main.main;main.calibrate?;main.goSpin'

# stat_of FILE KEY: the value of KEY=<v> in a fixture's stats file.
stat_of() {
	sed -n "s/^$2=//p" "$1" 2>/dev/null | head -n 1
}

# files_in DIR: the names in DIR, space-separated, the first 8 ("none" if empty).
files_in() {
	local n l
	n=$(ls -A "$1" 2>/dev/null | wc -l)
	l=$(ls -A "$1" 2>/dev/null | head -n 8 | tr '\n' ' ')
	[ "$n" -gt 8 ] && l="$l... ($((n - 8)) more)"
	echo "${l:-none}"
}

# tree_run D [--time] [--stderr-sed EXPR] [VAR=VAL ...] -- CMD...
#   CMD without libgoprof (D/plain.stdout, .stderr, .status), then with it (D/run.*):
#   LD_PRELOAD, GOPROF_OUT=D/out/cpu.pb.gz (a VAR may override it) and the VARs, no other
#   GOPROF_*. "@RUN@" in an argument becomes "plain" or "run". Then same_as_plain (the stderr
#   of both first edited by EXPR, e.g. a pid in a message). --time: both under /usr/bin/time
#   (D/plain.time, D/run.time: "elapsed user sys"). Waits up to 10 s for a file in D/out, and
#   1 s more for stragglers (the file at the leader's end is test_pid1.sh's business).
#   Sets LEADER (the pid of CMD when not --time), PROF (D/out/cpu.pb.gz) and NFILES.
tree_run() {
	local d=$1 timed=0 sedexpr= i a
	local -a vars=() pre=() args=()
	shift
	while [ $# -gt 0 ] && [ "$1" != -- ]; do
		case $1 in
		--time) timed=1 ;;
		--stderr-sed) sedexpr=$2; shift ;;
		*) vars+=("$1") ;;
		esac
		shift
	done
	shift
	mkdir -p "$d/out"
	_goprof_unsets
	for which in plain run; do
		args=()
		for a in "$@"; do args+=("${a//@RUN@/$which}"); done
		pre=()
		[ "$timed" = 1 ] && pre=(/usr/bin/time -f '%e %U %S' -o "$d/$which.time")
		if [ "$which" = plain ]; then
			_capture "$d/plain" "" "${pre[@]}" env -u LD_PRELOAD "${_UNSETS[@]}" "${args[@]}"
		else
			_capture "$d/run" "" "${pre[@]}" env "${_UNSETS[@]}" LD_PRELOAD="$LIBGOPROF" \
				GOPROF_OUT="$d/out/cpu.pb.gz" "${vars[@]}" "${args[@]}"
		fi
	done
	LEADER=$_RUN_PID
	PROF=$d/out/cpu.pb.gz
	for ((i = 0; i < 100; i++)); do
		[ -n "$(ls -A "$d/out")" ] && break
		sleep 0.1
	done
	sleep 1
	NFILES=$(ls -A "$d/out" | wc -l)
	if [ -n "$sedexpr" ]; then
		sed -i -E "$sedexpr" "$d/plain.stderr" "$d/run.stderr"
	fi
	same_as_plain "$NAME" "$d/plain"
}

# one_file: exactly one file in D/out, at GOPROF_OUT.
one_file() {
	check "$NAME: exactly one file in the output directory, at GOPROF_OUT (found $NFILES: $(files_in "$D/out"))" \
		test "$NFILES" = 1 -a -s "$PROF"
}

# tree_ok [ARGS...]: profcheck tree on PROF (pid/process labels on every sample, [process: ]
# roots on the followers only), with its per-process table as notes.
tree_ok() {
	local out
	if out=$("$PROFCHECK" tree "$PROF" "$@" 2>&1); then
		pass "$NAME: pid and process labels on every sample, [process: NAME] root exactly on the followers' ($*)"
	else
		fail "$NAME: pid/process labels or [process: ] roots wrong ($*)"
	fi
	printf '%s\n' "$out" | head -n 12 | sed 's/^/      | /'
}

# cpu_of FILE [ARGS...]: the cpu_ns of profcheck total FILE ARGS (empty if it fails to read).
cpu_of() {
	"$PROFCHECK" total "$@" 2>/dev/null | sed -n 's/^cpu_ns //p'
}

# cpu_check WHAT MEASURED_NS TOL [TOTAL ARGS...]: the samples selected by the ARGS (--where,
# --contains) add up to MEASURED_NS within TOL.
cpu_check() {
	local what=$1 ns=$2 tol=$3
	shift 3
	local got
	got=$(cpu_of "$PROF" "$@")
	check "$NAME: $what: sampled ${got:-?} ns within $(awk -v t="$tol" 'BEGIN { print t * 100 }') % of measured ${ns:-?} ns ($*)" \
		"$PROFCHECK" total "$PROF" --expect-cpu-ns "${ns:-0}" --tol "$tol" "$@"
}

# go_cgo_checks FOLLOWER: the checks of a go_cgo run behind a wrapper; FOLLOWER=1 when go_cgo
# is not the leader (its stacks then start with [process: go_cgo]).
go_cgo_checks() {
	local follower=$1 root= cpu
	[ "$follower" = 1 ] && root='[process: go_cgo];'
	check "$NAME: go_cgo's output and status 0" grep -qx 'go_cgo: done' "$RUN_STDOUT"
	one_file
	[ -s "$PROF" ] || return
	check "$NAME: profile valid (go tool pprof -top/-traces/-raw/-tags)" pprof_ok "$PROF"
	check "$NAME: chain ${root}...;c_inner for leaf c_inner (>= 0.99)" \
		"$PROFCHECK" chain "$PROF" --leaf c_inner --expect "$root$GO_C_INNER" --min 0.99 --min-samples 10
	check "$NAME: chain ${root}...;main.goSpin for leaf main.goSpin (>= 0.99)" \
		"$PROFCHECK" chain "$PROF" --leaf main.goSpin --expect "$root$GO_SPIN" --min 0.99 --min-samples 10
	if [ "$follower" = 1 ]; then
		tree_ok --leader "$LEADER" --min-followers 1
	else
		tree_ok --leader "$LEADER" --max-followers 0
	fi
	cpu=$(field_of "$RUN_STDOUT" cpu_ns)
	cpu_check "go_cgo's CPU (getrusage)" "$cpu" 0.10 --where process=go_cgo
}

# ---------------------------------------------------------------------------------------
# 1. Wrappers in front of a Go cgo program.
n=0
for w in "timeout 30" "env" "nice" "sh -c" "tini --" "tini -s --" "dumb-init"; do
	n=$((n + 1))
	D=$work/wrap$n
	NAME="wrapper $w"
	sedexpr=
	case $w in
	"sh -c")
		NAME="wrapper sh -c './app; true'"
		tree_run "$D" -- sh -c '"$0" -d 2s; true' "$GO_CGO"
		follower=1 ;;
	env | nice)
		tree_run "$D" -- $w "$GO_CGO" -d 2s
		follower=0 ;;
	*)
		# tini without -s, not PID 1, warns with its pid.
		tree_run "$D" --stderr-sed 's/tini \([0-9]+\)/tini (PID)/' -- $w "$GO_CGO" -d 2s
		follower=1 ;;
	esac
	go_cgo_checks "$follower"
done

# An entrypoint script's exec chain: sh execs env, which execs nice, which execs go_cgo. All
# one pid: the leader's images, unchanged stacks.
D=$work/execchain
NAME="exec chain sh -c 'exec env nice ./app'"
tree_run "$D" -- sh -c 'exec env nice "$0" -d 2s' "$GO_CGO"
go_cgo_checks 0

# ---------------------------------------------------------------------------------------
# 2a. fork+exec, vfork+exec and posix_spawn children of a C program (c_procs spawn: each child
# is c_procs re-executed, spinning in spin_<kind>, one after another; then parent_work).
D=$work/spawn
NAME="fork+exec, vfork+exec, posix_spawn"
tree_run "$D" -- "$PROCS" spawn 300 "$D/@RUN@.pids"
one_file
if [ -s "$PROF" ]; then
	check "$NAME: profile valid (go tool pprof)" pprof_ok "$PROF"
	tree_ok --leader "$LEADER" --min-followers 3
	check "$NAME: the parent's stacks unchanged: _start;...;main;do_spawn;parent_work" \
		"$PROFCHECK" chain "$PROF" --leaf parent_work --expect '_start;__libc_start_main*;...;main;do_spawn;parent_work' --min-samples 10
	for kind in fork vfork spawn; do
		pid=$(awk -v k="$kind" '$1 == k { print $2 }' "$D/run.pids" 2>/dev/null)
		got=$(cpu_of "$PROF" --where "pid=${pid:-0}" --contains "spin_$kind")
		check "$NAME: the $kind child's spin_$kind (300 ms of CPU) under its pid ${pid:-?} within 15 % (${got:-?} ns)" \
			"$PROFCHECK" total "$PROF" --where "pid=${pid:-0}" --where process=c_procs --contains "spin_$kind" \
			--expect-cpu-ns 300000000 --tol 0.15
		check "$NAME: chain [process: c_procs];_start;...;main;child_main;spin_$kind (>= 0.99)" \
			"$PROFCHECK" chain "$PROF" --leaf "spin_$kind" --min-samples 10 \
			--expect "[process: c_procs];_start;__libc_start_main*;...;main;child_main;spin_$kind"
	done
fi

# 2b. A Go program running os/exec commands in a loop: C busy children and sh busy loops.
D=$work/spawner
NAME="go os/exec loop"
tree_run "$D" -- "$SPAWNER" -n 8 -busy "$C_BUSY" -ms 150 -selfms 60 -shloop 100000 \
	-stats "$D/@RUN@.stats" -busystats "$D/@RUN@.busy"
st=$D/run.stats
one_file
if [ -s "$PROF" ]; then
	check "$NAME: profile valid (go tool pprof)" pprof_ok "$PROF"
	tree_ok --leader "$LEADER" --min-followers 8
	check "$NAME: process labels go_spawner, c_busy and sh" "$PROFCHECK" labels "$PROF" \
		--require pid:num --require process:str --require-value process=go_spawner \
		--require-value process=c_busy --require-value process=sh
	cpu_check "the 8 children's CPU (wait4 rusage)" "$(stat_of "$st" children_cpu_ns)" 0.10 --where "pid!=$LEADER"
	cpu_check "the 4 c_busy children's CPU" "$(stat_of "$st" busy_cpu_ns)" 0.10 --where process=c_busy
	cpu_check "the 4 sh busy loops' CPU" "$(stat_of "$st" sh_cpu_ns)" 0.10 --where process=sh
	cpu_check "the leader's own CPU (getrusage)" "$(stat_of "$st" self_cpu_ns)" 0.10 --where "pid=$LEADER"
	check "$NAME: c_busy's chain [process: c_busy];_start;...;main;busy_work (>= 0.99)" \
		"$PROFCHECK" chain "$PROF" --leaf busy_work --min 0.99 --min-samples 10 \
		--expect '[process: c_busy];_start;__libc_start_main*;...;main;busy_work'
	check "$NAME: the leader's stacks unchanged: runtime.goexit;runtime.main;main.main;main.spawnerWork;... (>= 0.99)" \
		"$PROFCHECK" chain "$PROF" --leaf main.spawnerWork --contains --min 0.99 --min-samples 5 \
		--expect 'runtime.goexit;runtime.main;main.main;main.spawnerWork;...'
	# Each c_busy child's own samples under its own pid.
	bad=
	while read -r _ p c _; do
		p=${p#pid=} c=${c#cpu_ns=}
		got=$(cpu_of "$PROF" --where "pid=$p" --contains busy_work)
		awk -v a="${got:-0}" -v b="$c" 'BEGIN { exit !(a >= 0.8 * b && a <= 1.2 * b) }' || bad="$bad $p:${got:-0}/$c"
	done < <(grep '^c_busy ' "$D/run.busy")
	check "$NAME: each c_busy child's busy_work under its own pid within 20 % of its CPU (off:${bad:- none})" test -z "$bad"
fi
nb=$(grep -c '^c_busy ' "$D/run.busy" 2>/dev/null)
own=$(grep -c ' collector=1' "$D/run.busy" 2>/dev/null)
check "$NAME: no follower has a collector of its own (goprof-<its pid>: $own of $nb)" test "${nb:-0}" = 4 -a "$own" = 0

# 2c. A shell loop starting /bin/true 300 times.
D=$work/true300
NAME="300 x /bin/true"
tree_run "$D" --time -- sh -c 'i=0; while [ $i -lt 300 ]; do /bin/true; i=$((i + 1)); done'
read -r pe _ _ <"$D/plain.time"
read -r re ru rs <"$D/run.time"
note "time: plain ${pe} s, profiled ${re} s: $(awk -v a="$re" -v b="$pe" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }')x (target <= 1.5x, not asserted)"
one_file
if [ -s "$PROF" ]; then
	check "$NAME: profile valid" "$PROFCHECK" check "$PROF"
	tree_ok
	tree_ns=$(awk -v u="$ru" -v s="$rs" 'BEGIN { printf "%.0f", (u + s) * 1e9 }')
	# /usr/bin/time: the user+sys of sh and the 300 children it waited for (10 ms resolution).
	# It also counts what each child spends after it sends its CPU clock at exit (the kernel
	# unmapping and closing what it had), which the profile cannot see. The profile came out at
	# 0.89-0.98 of it in seven runs, with this build and with bae8120's alike (10 % failed now
	# and then), so the bound is 15 %.
	cpu_check "the tree's CPU (sh and its 300 children, /usr/bin/time user+sys)" "$tree_ns" 0.15
fi

# ---------------------------------------------------------------------------------------
# 3. %p: one file per process with samples, each named with its own pid.
D=$work/percent_p
NAME="%p"
tree_run "$D" GOPROF_OUT="$D/out/cpu.%p.pb.gz" -- \
	sh -c '"$0" 300 "$1"; "$0" 300 "$1"' "$C_BUSY" "$D/@RUN@.busy"
pids=$(sed -n 's/^c_busy pid=\([0-9]*\) .*/\1/p' "$D/run.busy" | tr '\n' ' ')
check "$NAME: no file at the literal name" test ! -e "$D/out/cpu.%p.pb.gz"
bad= missing=
for p in $pids; do [ -s "$D/out/cpu.$p.pb.gz" ] || missing="$missing $p"; done
check "$NAME: each c_busy child ($pids) has its file cpu.<pid>.pb.gz (missing:${missing:- none})" \
	test -n "$pids" -a -z "$missing"
for f in "$D"/out/*; do
	[ -e "$f" ] || continue
	b=${f##*/}
	p=${b#cpu.} p=${p%.pb.gz}
	case $p in
	*[!0-9]* | '') bad="$bad $b(name)"; continue ;;
	esac
	vals=$("$PROFCHECK" bylabel "$f" --key pid 2>/dev/null | grep -v '^#' | awk '{ print $1 }' | tr '\n' ' ')
	[ "$vals" = "$p " ] || bad="$bad $b(pids:${vals:-none})"
	case " $pids $LEADER " in *" $p "*) ;; *) bad="$bad $b(not c_busy or the leader)" ;; esac
done
check "$NAME: every file is cpu.<pid>.pb.gz of a process of the tree, holding that pid's samples only ($(files_in "$D/out"); wrong:${bad:- none})" \
	test -z "$bad"
for p in $pids; do
	[ -s "$D/out/cpu.$p.pb.gz" ] && check "$NAME: cpu.$p.pb.gz valid, busy_work in it (process=c_busy)" \
		"$PROFCHECK" total "$D/out/cpu.$p.pb.gz" --where process=c_busy --contains busy_work --min-count 15
done

# ---------------------------------------------------------------------------------------
# 4. GOPROF_FOLLOW=0: the descendants run unprofiled; the leader as always.
D=$work/nofollow
NAME="GOPROF_FOLLOW=0"
tree_run "$D" GOPROF_FOLLOW=0 -- "$SPAWNER" -n 4 -busy "$C_BUSY" -ms 150 -selfms 150 -shloop 100000 \
	-stats "$D/@RUN@.stats" -busystats "$D/@RUN@.busy"
one_file
nb=$(grep -c '^c_busy ' "$D/run.busy" 2>/dev/null)
unprof=$(grep -c ' timers=0 collector=0$' "$D/run.busy" 2>/dev/null)
check "$NAME: the c_busy children ran unprofiled: no POSIX timer, no collector of their own ($unprof of $nb)" \
	test "${nb:-0}" = 2 -a "$unprof" = 2
if [ -s "$PROF" ]; then
	tree_ok --leader "$LEADER" --max-followers 0
	pids=$("$PROFCHECK" bylabel "$PROF" --key pid 2>/dev/null | grep -v '^#' | awk '{ print $1 }' | tr '\n' ' ')
	check "$NAME: only the leader's samples ($LEADER) in the profile (pids: ${pids:-none})" test "$pids" = "$LEADER "
	cpu_check "the leader's own CPU (getrusage)" "$(stat_of "$D/run.stats" self_cpu_ns)" 0.10
fi

# ---------------------------------------------------------------------------------------
# 5. GOPROF_HTTP and SIGUSR1 through a wrapper: go tool pprof gets the program's stacks.
n=0
for w in "timeout 20" "tini -s --"; do
	n=$((n + 1))
	D=$work/http$n
	NAME="http through $w"
	mkdir -p "$D/out"
	PORT=$(free_port)
	BASE=http://127.0.0.1:$PORT/debug/pprof
	start_bg "$D/run" GOPROF_OUT="$D/out/cpu.pb.gz" GOPROF_HTTP="127.0.0.1:$PORT" -- $w "$GO_CGO" -d 6s
	APP=$BG_PID
	code=000
	for _ in $(seq 1 100); do
		code=$(curl -s -o /dev/null -w '%{http_code}' "$BASE/")
		[ "$code" = 200 ] && break
		sleep 0.05
	done
	check "$NAME: /debug/pprof/ answers (HTTP $code)" test "$code" = 200
	sleep 0.5
	PPROF_TMPDIR=$D "$GO" tool pprof -proto "$BASE/profile?seconds=2" >"$D/http.pb.gz" 2>"$D/pprof.err"
	if "$PROFCHECK" check "$D/http.pb.gz" >/dev/null 2>&1; then
		pass "$NAME: go tool pprof $BASE/profile?seconds=2 got a profile"
		PROF=$D/http.pb.gz
		check "$NAME: it holds go_cgo's c_inner under [process: go_cgo] (>= 0.99)" \
			"$PROFCHECK" chain "$PROF" --leaf c_inner --expect "[process: go_cgo];$GO_C_INNER" --min 0.99 --min-samples 10
		check "$NAME: it holds go_cgo's main.goSpin under [process: go_cgo] (>= 0.99)" \
			"$PROFCHECK" chain "$PROF" --leaf main.goSpin --expect "[process: go_cgo];$GO_SPIN" --min 0.99 --min-samples 10
		"$GO" tool pprof -top "$PROF" 2>/dev/null | sed -n '1,12p' | sed 's/^/      | /'
	else
		fail "$NAME: go tool pprof $BASE/profile?seconds=2 got no profile"
		show_file "$D/pprof.err" 5
	fi
	# SIGUSR1 to the tree's collector: a snapshot with the program's stacks.
	coll=$(pgrep -x "goprof-$APP")
	if [ -n "$coll" ]; then
		kill -USR1 $coll
		for _ in $(seq 1 100); do [ -s "$D/out/cpu.pb.gz" ] && break; sleep 0.05; done
		if [ -s "$D/out/cpu.pb.gz" ] && kill -0 "$APP" 2>/dev/null; then
			cp "$D/out/cpu.pb.gz" "$D/snapshot.pb.gz"
			check "$NAME: SIGUSR1 to goprof-$APP: a snapshot with go_cgo's c_inner under [process: go_cgo]" \
				"$PROFCHECK" chain "$D/snapshot.pb.gz" --leaf c_inner --expect "[process: go_cgo];$GO_C_INNER" --min 0.99 --min-samples 10
		else
			fail "$NAME: no snapshot at GOPROF_OUT within 5 s of SIGUSR1 to goprof-$APP (or the program ended)"
		fi
	else
		fail "$NAME: no collector named goprof-$APP (the leader's pid) to send SIGUSR1 to"
		pgrep -a goprof | sed 's/^/      | /'
	fi
	wait "$APP"
	st=$?
	check "$NAME: status 0, nothing on stderr ($st)" test "$st" = 0 -a ! -s "$D/run.stderr"
	for _ in $(seq 1 100); do [ -s "$D/out/cpu.pb.gz" ] && ! cmp -s "$D/out/cpu.pb.gz" "$D/snapshot.pb.gz" && break; sleep 0.1; done
	sleep 0.5
	PROF=$D/out/cpu.pb.gz
	check "$NAME: one file at the end ($(files_in "$D/out"))" test "$(ls -A "$D/out")" = cpu.pb.gz
	check "$NAME: the run's profile replaced the snapshot, go_cgo's c_inner under [process: go_cgo] in it" \
		"$PROFCHECK" chain "$PROF" --leaf c_inner --expect "[process: go_cgo];$GO_C_INNER" --min 0.99 --min-samples 40
done

# GOPROF_INTERVAL through a wrapper: every interval file holds the program's samples.
D=$work/interval
NAME="interval through timeout"
tree_run "$D" GOPROF_OUT="$D/out/cpu.%n.pb.gz" GOPROF_INTERVAL=500ms -- timeout 30 "$GO_CGO" -d 2500ms
mapfile -t files < <(ls "$D/out" | sort -t. -k2 -n | sed "s|^|$D/out/|")
odd=$(ls "$D/out" | grep -Ev '^cpu\.[0-9]+\.pb\.gz$' | tr '\n' ' ')
check "$NAME: only files cpu.<n>.pb.gz (${#files[@]} files; others: ${odd:-none})" \
	test "${#files[@]}" -ge 4 -a -z "$odd"
if [ "${#files[@]}" -ge 3 ]; then
	check "$NAME: the files tile the run" "$PROFCHECK" series --min-files 4 --max-gap 0 "${files[@]}"
	short=
	for f in "${files[@]:1:${#files[@]}-2}"; do
		c=$("$PROFCHECK" total "$f" --where process=go_cgo 2>/dev/null | sed -n 's/^count //p')
		[ "${c:-0}" -ge 10 ] || short="$short ${f##*/}:${c:-0}"
	done
	check "$NAME: every full interval holds go_cgo's samples (>= 10 of at most 50; short:${short:- none})" test -z "$short"
	sum=0
	for f in "${files[@]}"; do sum=$((sum + $(cpu_of "$f" --where process=go_cgo | grep . || echo 0))); done
	cpu=$(field_of "$RUN_STDOUT" cpu_ns)
	check "$NAME: go_cgo's samples over all files ($sum ns) within 10 % of its getrusage (${cpu:-?} ns)" \
		awk -v a="$sum" -v b="${cpu:-0}" 'BEGIN { exit !(b > 0 && a >= 0.9 * b && a <= 1.1 * b) }'
fi

# ---------------------------------------------------------------------------------------
# 6. Safety.
# 6a. A process of another user inside the tree (setpriv to 65534): refused by the session. It
# runs its own session or unprofiled; either way it behaves as without libgoprof, and nothing
# is written but under GOPROF_OUT's name.
D=$work/otheruser
NAME="another user's child"
mkdir -p "$D/out" "$D/pub" "$D/cwd"
chmod 0755 "$D"
chmod 1777 "$D/out" "$D/pub" "$D/cwd"
marker=$D/marker
touch "$marker"
pushd "$D/cwd" >/dev/null || exit 1
tree_run "$D" -- sh -c 'setpriv --reuid=65534 --regid=65534 --clear-groups "$0" 300 "$1"; "$2" -d 1s' \
	"$C_BUSY" "$D/pub/@RUN@.busy" "$GO_CGO"
popd >/dev/null || exit 1
nobody=$(sed -n 's/^c_busy pid=\([0-9]*\) .*/\1/p' "$D/pub/run.busy")
check "$NAME: the child ran as 65534 ($(stat -c %U "$D/pub/run.busy" 2>/dev/null), pid ${nobody:-?})" \
	test -n "$nobody" -a "$(stat -c %u "$D/pub/run.busy" 2>/dev/null)" = 65534
check "$NAME: the main profile at GOPROF_OUT, root's" test -s "$PROF" -a "$(stat -c %u "$PROF" 2>/dev/null)" = 0
if [ -s "$PROF" ]; then
	check "$NAME: profile valid (go tool pprof)" pprof_ok "$PROF"
	tree_ok
	check "$NAME: root's go_cgo child in it (c_inner under [process: go_cgo])" \
		"$PROFCHECK" chain "$PROF" --leaf c_inner --expect "[process: go_cgo];$GO_C_INNER" --min 0.99 --min-samples 10
	n=$(samples_of "$PROF" busy_work)
	# (the pid's earlier image, setpriv, still root when it joined, may have a sample of its
	# own: it is the tree's, not the other user's)
	m=$("$PROFCHECK" total "$PROF" --where "pid=${nobody:-0}" --where "process!=setpriv" 2>/dev/null |
		sed -n 's/^count //p')
	check "$NAME: none of the other user's samples in it (busy_work $n, pid ${nobody:-?} $m)" test "$n" = 0 -a "${m:-1}" = 0
fi
odd=$(ls -A "$D/out" | grep -v '^cpu\.pb\.gz' | tr '\n' ' ')
check "$NAME: every file in the output directory is named after GOPROF_OUT (others: ${odd:-none})" test -z "$odd"
check "$NAME: nothing written in the working directory ($(files_in "$D/cwd"))" test -z "$(ls -A "$D/cwd")"
stray=$(find /tmp /var/tmp /dev/shm -xdev -user 65534 -newer "$marker" 2>/dev/null | grep -v "^$D/" | tr '\n' ' ')
check "$NAME: nothing of 65534's in /tmp, /var/tmp, /dev/shm (${stray:-none})" test -z "$stray"

# 6b. An unrelated process of the same user that connects to the session is refused.
# 6b. An unrelated process of the same user that finds the leader's rendezvous
# (lib/tree/tree_proto.h: it uses the same GOPROF_* settings) and sends a well-formed hello with
# a ring of 50 committed samples at 0xbad0000 (tests/unit/tree_intruder.c): refused, none of
# its samples, labels or root in the profile, counted as refused; the leader unaffected.
INTRUDER=$top_builddir/tests/unit/tree_intruder
D=$work/intruder
NAME="an unrelated process of the same user"
mkdir -p "$D/out"
start_bg "$D/run" GOPROF_OUT="$D/out/cpu.pb.gz" -- "$C_BUSY" 1500 "$D/run.stats"
sleep 0.3
env GOPROF_OUT="$D/out/cpu.pb.gz" "$INTRUDER" "$BG_PID" >"$D/intruder.out" 2>&1
check "$NAME: reached the leader's rendezvous ($(cat "$D/intruder.out"))" \
	grep -q "sent 50 samples" "$D/intruder.out"
ipid=$(sed -n 's/^tree_intruder: pid \([0-9]*\).*/\1/p' "$D/intruder.out")
wait "$BG_PID"
check "$NAME: the leader's status 0, nothing on its stderr" test $? = 0 -a ! -s "$D/run.stderr"
PROF=$D/out/cpu.pb.gz
if [ -s "$PROF" ]; then
	"$PROFCHECK" dump "$PROF" >"$D/dump" 2>&1
	check "$NAME: counted as refused (processes: ... 1 refused)" \
		grep -q '^# comment: processes: 1 joined, 1 with samples, 1 refused$' "$D/dump"
	check "$NAME: none of its samples (pid ${ipid:-?}, 0xbad0000, intruder) in the profile" \
		test -n "$ipid" -a -z "$(grep -v '^#' "$D/dump" | grep -E "pid=$ipid |0xbad0000|intruder")"
	tree_ok --max-followers 0
else
	fail "$NAME: no profile at GOPROF_OUT"
fi

# 6b'. A child of the leader whose ring is of another layout (a libgoprof.so of another version):
# admitted as the leader's child, its ring refused with one line on stderr, none of its samples.
D=$work/badring
NAME="a child with a ring of another version"
RING_VERSION=$(sed -n 's/^#define GP_RING_VERSION \([0-9]*\)u.*/\1/p' "$top_srcdir/src/lib/ring/ring.h")
mkdir -p "$D/out"
start_bg "$D/run" GOPROF_OUT="$D/out/cpu.pb.gz" INTRUDER="$INTRUDER" -- sh -c \
	'"$0" 300 /dev/null & sleep 0.3; env -u LD_PRELOAD "$INTRUDER" $$ 50 badring; wait' "$C_BUSY"
wait "$BG_PID"
check "$NAME: the leader's status 0" test $? = 0
check "$NAME: one line says the ring is refused ($(tr '\n' '|' <"$D/run.stderr"))" \
	test "$(grep -c "is not profiled: its ring has version $((RING_VERSION + 1)), this reader reads $RING_VERSION" "$D/run.stderr")" = 1
PROF=$D/out/cpu.pb.gz
if [ -s "$PROF" ]; then
	"$PROFCHECK" dump "$PROF" >"$D/dump" 2>&1
	check "$NAME: none of its samples (0xbad0000, intruder) in the profile" \
		test -z "$(grep -v '^#' "$D/dump" | grep -E "0xbad0000|intruder")"
else
	fail "$NAME: no profile at GOPROF_OUT"
fi

# 6c. A child that closes all its descriptors (the session's too) is profiled to its end.
D=$work/closefds
NAME="child closing every descriptor"
tree_run "$D" -- sh -c '"$0" closefds 400; true' "$PROCS"
one_file
if [ -s "$PROF" ]; then
	tree_ok --min-followers 1
	for fn in before_close_work after_close_work; do
		check "$NAME: $fn (400 ms of CPU) under [process: c_procs], within 15 %" \
			"$PROFCHECK" total "$PROF" --where process=c_procs --contains "$fn" --contains "[process: c_procs]" \
			--expect-cpu-ns 400000000 --tol 0.15
	done
fi

# 6d. A fork bomb: 200 children one after another, each forks and exits at once.
D=$work/forkbomb
NAME="fork bomb of 200"
tree_run "$D" -- "$PREFORK" bomb 200 200
check "$NAME: the children all exited 0" grep -qx 'bomb: 200 children, all exited 0' "$RUN_STDOUT"
one_file
if [ -s "$PROF" ]; then
	check "$NAME: profile valid (go tool pprof)" pprof_ok "$PROF"
	tree_ok --leader "$LEADER"
	check "$NAME: the master's work (2 x 200 ms) under its own pid, within 15 %" \
		"$PROFCHECK" total "$PROF" --where "pid=$LEADER" --contains master_work --expect-cpu-ns 400000000 --tol 0.15
	check "$NAME: the master's stacks unchanged: _start;...;main;do_bomb;master_work (>= 0.99)" \
		"$PROFCHECK" chain "$PROF" --leaf master_work --expect '_start;__libc_start_main*;...;main;do_bomb;master_work' --min-samples 10
fi

# 6e. A child that unshares its network namespace (abstract sockets are per namespace). The
# leader, sh, spins in a loop of its own after it: its samples are in the profile (a separate
# session of the child must not take the leader's file).
D=$work/netns
NAME="child in its own network namespace"
if unshare -n true 2>/dev/null; then
	tree_run "$D" -- sh -c 'unshare -n "$0" -d 1s; echo "unshare -n: status $?"
		i=0; while [ $i -lt 200000 ]; do i=$((i + 1)); done' "$GO_CGO"
	one_file
	if [ -s "$PROF" ]; then
		check "$NAME: profile valid (go tool pprof)" pprof_ok "$PROF"
		tree_ok --leader "$LEADER"
		check "$NAME: the leader's (sh's) own loop in it" \
			"$PROFCHECK" total "$PROF" --where "pid=$LEADER" --where process=sh --min-count 10
		note "go_cgo's samples in the profile: $(samples_of "$PROF" c_inner) in c_inner (not asserted)"
	fi
else
	note "skipped: unshare -n needs CAP_SYS_ADMIN"
fi

finish
