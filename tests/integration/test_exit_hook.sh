#!/bin/bash
# test_exit_hook.sh -- the exit hook (src/program/preload/exit_hook.h) in real C and Go programs.
#
#   tests/integration/test_exit_hook.sh     (make check; by hand after make check TESTS=)
#
# tests/unit/exit_hook_shim.so is preloaded alone (no libgoprof.so): its callback appends
# "exit_hook <status> pid <pid>" to a file. Each case runs the fixture without and with the
# shim and checks: the same exit status, stdout and stderr (hex addresses in Go tracebacks
# masked: PIE and Go's heap move between runs), and exactly one hook line with that status and
# the process's pid. Go: every toolchain in LIBGOPROF_TEST_GO_VERSIONS (default 1.21 to 1.26),
# default and PIE builds; runtime.exit's bytes are checked in the source and with objdump.
# Where `unshare --pid` works, the case the hook exists for: the Go program as PID 1 of a PID
# namespace, where a SIGTERM without handler ends it through runtime.exit(2).
# Then, with libgoprof.so itself: CPU samples taken in its exit work (a preloaded send() that
# spins, tests/fixtures/exit_hook/slow_send.c) walk on from the hook's private stack to the
# program's callers, down to a root (runtime.goexit, runtime.mstart, _start), for every way a
# Go program ends through runtime.exit and for C's exit() and _exit().
# Then the exit latency of the mechanism alone (a callback that does nothing) is printed.

. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

SHIM=$top_builddir/tests/unit/.libs/exit_hook_shim.so
[ -f "$SHIM" ] || SHIM=$top_srcdir/build/tests/unit/.libs/exit_hook_shim.so
fx=$top_srcdir/tests/fixtures/exit_hook
VERSIONS=${LIBGOPROF_TEST_GO_VERSIONS:-1.21 1.22 1.23 1.24 1.25 1.26}
HOOK_SLEEP_MS=200

work=$(mktemp -d "${TMPDIR:-/tmp}/libgoprof-exit-hook.XXXXXX") || { fail "mktemp"; finish; }
work=$(cd "$work" && pwd)
echo "# work directory $work; shim $SHIM"
[ -f "$SHIM" ] || { fail "no $SHIM (built by make check)"; finish; }
need_go || { fail "Go toolchain"; finish; }
if ! gcc -O1 -Wall -pthread -o "$work/c_exit" "$fx/c_exit.c" ||
	! gcc -O2 -Wall -o "$work/exit_latency" "$fx/exit_latency.c" ||
	! gcc -O2 -Wall -shared -fPIC -o "$work/slow_send.so" "$fx/slow_send.c" -ldl; then
	fail "build C fixtures"
	finish
fi
if ! build_profcheck "$work"; then
	fail "build profcheck"
	finish
fi

# sampled_exit NAME ROOTS -- CMD...: CMD under libgoprof.so at 500 Hz, slow_send.so preloaded
# before it: the samples in libgoprof's exit work (their stacks hold the shim's `send`) are at
# least 20 (the shim spins 100 ms per send), and every one ends at a root in ROOTS (a regex).
sampled_exit() {
	local name=$1 roots=$2 prof=$D/exit.pb.gz n bad
	shift 3
	PRELOAD_FIRST=$work/slow_send.so run_profiled "$prof" GOPROF_HZ=500 -- "$@"
	read -r n bad < <("$PROFCHECK" dump "$prof" 2>/dev/null | awk -v re="^($roots)$" -F' \\| ' '
		!/^#/ { k = split($2, fr, ";"); hit = 0
			for (i = 1; i <= k; i++) if (fr[i] == "send") hit = 1
			if (!hit) next
			split($1, c, " "); n += c[1]; if (fr[1] !~ re) { bad += c[1]; if (!ex) ex = $2 } }
		END { print n + 0, bad + 0; if (ex) print ex > "/dev/stderr" }' 2>"$D/exit.broken")
	if [ "${n:-0}" -ge 20 ] && [ "${bad:-1}" = 0 ]; then
		pass "$name: $n samples in libgoprof's exit work, every one rooted"
	else
		fail "$name: ${n:-0} samples in libgoprof's exit work (want >= 20), ${bad:-?} not ending at $roots"
		show_file "$D/exit.broken" 2
	fi
}

# hooked PREFIX [VAR=VALUE ...] -- CMD...: CMD with the shim preloaded, hook lines to
# PREFIX.hook; like run_plain otherwise (PREFIX.stdout/.stderr/.status, $_RUN_PID, and the
# run's wall time in seconds in $ELAPSED).
hooked() {
	local prefix=$1 t0
	local -a vars=()
	shift
	while [ "$1" != "--" ]; do vars+=("$1"); shift; done
	shift
	rm -f "$prefix.hook"
	_goprof_unsets
	t0=$EPOCHREALTIME
	# Killed after 60 s: a hang fails its check (status 137) instead of holding up the suite.
	_capture "$prefix" 60 env "${_UNSETS[@]}" LD_PRELOAD="$SHIM" EXIT_HOOK_OUT="$prefix.hook" \
		"${vars[@]}" "$@"
	ELAPSED=$(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.3f", b - a }')
}

masked() { sed -E 's/0x[0-9a-f]+/0x_/g' "$1"; }

# verify NAME IS_GO WANT_STATUS WANT_HOOK_LINES...: the last run_plain ($D/plain) and hooked
# ($D/hook) runs agree, the shim installed the hook (Go patched when IS_GO is 1), and the hook
# file holds exactly WANT_HOOK_LINES (in any order). WANT_STATUS may be "a|b". One PASS/FAIL.
verify() {
	local name=$1 is_go=$2 want=$3 p=$D/plain h=$D/hook
	shift 3
	local -a bad=()
	[[ $(cat "$p.status") =~ ^($want)$ ]] || bad+=("status without the hook $(cat "$p.status"), want $want")
	[[ $(cat "$h.status") =~ ^($want)$ ]] || bad+=("status with the hook $(cat "$h.status"), want $want")
	cmp -s "$p.stdout" "$h.stdout" || bad+=("stdout differs")
	cmp -s <(masked "$p.stderr") <(masked "$h.stderr") || bad+=("stderr differs")
	grep -qx "install 0 go $is_go" "$h.hook" 2>/dev/null ||
		bad+=("install: $(grep '^install' "$h.hook" 2>/dev/null), want 'install 0 go $is_go'")
	local got want_lines
	got=$(grep '^exit_hook ' "$h.hook" 2>/dev/null | sort)
	want_lines=$(printf '%s\n' "$@" | sort)
	[ "$got" = "$want_lines" ] || bad+=("hook lines '${got//$'\n'/; }', want '${want_lines//$'\n'/; }'")
	if [ ${#bad[@]} = 0 ]; then
		pass "$name"
		return 0
	fi
	fail "$name"
	for b in "${bad[@]}"; do note "$b"; done
	note "stderr with the hook:"
	show_file "$h.stderr" 8
	return 1
}

# one NAME IS_GO WANT [VAR=VALUE ...] -- CMD...: both runs, then verify with one hook line.
one() {
	local name=$1 is_go=$2 want=$3
	local -a vars=()
	shift 3
	while [ "$1" != "--" ]; do vars+=("$1"); shift; done
	run_plain "$D/plain" "$@"
	hooked "$D/hook" "${vars[@]}" "$@"
	verify "$name" "$is_go" "$want" "exit_hook $want pid $_RUN_PID"
}

# reenter NAME IS_GO STATUS -- CMD...: the callback calls _exit(STATUS + 100) itself: the
# process ends at once with that status, one hook line (STATUS).
reenter() {
	local name=$1 is_go=$2 want=$3
	shift 4
	rm -f "$D/hook.hook"
	# timeout outside the preload: a hang would end in status 124
	run_plain "$D/hook" -- timeout 20 env LD_PRELOAD="$SHIM" EXIT_HOOK_OUT="$D/hook.hook" \
		EXIT_HOOK_REENTER=1 "$@"
	local err=""
	[ "$(cat "$D/hook.status")" = $((want + 100)) ] ||
		err="status $(cat "$D/hook.status"), want $((want + 100))"
	[ "$(grep -c '^exit_hook ' "$D/hook.hook" 2>/dev/null)" = 1 ] &&
		grep -q "^exit_hook $want pid " "$D/hook.hook" || err="$err; hook lines wrong"
	grep -qx "install 0 go $is_go" "$D/hook.hook" || err="$err; install line wrong"
	if [ -z "$err" ]; then
		pass "$name"
	else
		fail "$name: $err"
		show_file "$D/hook.hook"
	fi
}

# slow_enough NAME: the last hooked run lasted at least the callback's sleep.
slow_enough() {
	if awk -v e="$ELAPSED" -v s="$HOOK_SLEEP_MS" 'BEGIN { exit !(e * 1000 >= s) }'; then
		pass "$1: the process ended after the callback's ${HOOK_SLEEP_MS} ms (${ELAPSED} s)"
	else
		fail "$1: the process ended after ${ELAPSED} s, before the callback's ${HOOK_SLEEP_MS} ms"
	fi
}

# race NAME IS_GO STATUSES FIRST -- CMD...: CMD's first exit runs the callback, which sleeps;
# a second thread ends the process meanwhile (after appending to $EXIT_RACE_MARK). The hook
# line says FIRST (a regex), once; the process lasted the whole callback.
race() {
	local name=$1 is_go=$2 statuses=$3 first_re=$4 first
	shift 5
	run_plain "$D/plain" -- "$@"
	rm -f "$D/hook.mark"
	hooked "$D/hook" EXIT_HOOK_SLEEP_MS=$HOOK_SLEEP_MS EXIT_RACE_MARK="$D/hook.mark" -- "$@"
	first=$(sed -n 's/^exit_hook \([0-9]*\) .*/\1/p' "$D/hook.hook" | head -n 1)
	[[ $first =~ ^($first_re)$ ]] || first="($first_re)"
	verify "$name" "$is_go" "$statuses" "exit_hook $first pid $_RUN_PID"
	check "$name: the second exit was called while the callback ran" test -s "$D/hook.mark"
	slow_enough "$name"
}

# ---- C -----------------------------------------------------------------------------------
D=$work/c
mkdir -p "$D"
C=$work/c_exit
one "C exit(4)" 0 4 -- "$C" exit
one "C return 5 from main" 0 5 -- "$C" return
one "C _exit(6)" 0 6 -- "$C" _exit
one "C _exit(6), the callback using 200 KiB of stack" 0 6 EXIT_HOOK_STACK_KB=200 -- "$C" _exit
reenter "C exit(4), the callback calling _exit(104): ends at once" 0 4 -- "$C" exit
one "C _Exit(7)" 0 7 -- "$C" _Exit
one "C vfork child _exit(9): no hook in the child, the parent's runs once" 0 0 -- "$C" vfork
run_plain "$D/plain" -- env C_EXIT_PIDS="$D/plain.pids" "$C" fork
hooked "$D/hook" C_EXIT_PIDS="$D/hook.pids" -- "$C" fork
read -r ppid cpid <"$D/hook.pids" 2>/dev/null
verify "C fork child exit(8): its own hook with its own pid, then the parent's" 0 0 \
	"exit_hook 8 pid ${cpid:-?}" "exit_hook 0 pid ${ppid:-?}"
race "C exit(4), then a thread's _exit(6) during the callback" 0 "4|6" 4 -- "$C" race
sampled_exit "C exit(4), sampled" "_start" -- "$C" exit
sampled_exit "C _exit(6), sampled" "_start" -- "$C" _exit

# ---- Go ------------------------------------------------------------------------------------
# The 12 bytes exit_hook.c expects (sys_linux_amd64.s: MOVL code+0(FP), DI; MOVL
# $SYS_exit_group, AX; SYSCALL; RET).
EXIT_BYTES="8b7c2408b8e70000000f05c3"
EXIT_SRC=$'TEXT runtime\xc2\xb7exit(SB),NOSPLIT,$0-4 MOVL code+0(FP), DI MOVL $SYS_exit_group, AX SYSCALL RET'
# exit_src FILE: runtime.exit's text in FILE, whitespace collapsed to single spaces.
exit_src() {
	awk '/^TEXT runtime\xc2\xb7exit\(SB\)/ { on = 1 } on { print } on && /^[ \t]*RET/ { exit }' "$1" |
		tr -s ' \t\n' '   ' | sed 's/ $//'
}
# The case the hook exists for: PID 1 of a PID namespace (when unshare may make one).
PID1=0
unshare --pid --fork --kill-child true 2>/dev/null && PID1=1
[ "$PID1" = 1 ] || echo "# unshare --pid unavailable: the PID 1 cases are skipped"
LAT_GO=
for v in $VERSIONS; do
	goroot=$("$top_srcdir/scripts/go-toolchain.sh" "$v") || { fail "go$v: toolchain"; continue; }
	src=$goroot/src/runtime/sys_linux_amd64.s
	check "go$v: runtime.exit in sys_linux_amd64.s is MOVL code+0(FP), DI; MOVL \$SYS_exit_group, AX; SYSCALL; RET" \
		test "$(exit_src "$src")" = "$EXIT_SRC"
	for m in exe pie; do
		bin=$work/go$v-$m
		if ! (cd "$fx/go" && CGO_ENABLED=1 "$goroot/bin/go" build -buildmode=$m -o "$bin" .); then
			fail "go$v $m: build"
			continue
		fi
		bytes=$(objdump -d "$bin" | awk '/<runtime\.exit\.abi0>:/ { on = 1; next } on && /^$/ { exit }
			on { print }' | cut -f2 | tr -d ' \n')
		check "go$v $m: runtime.exit's bytes (objdump) are $EXIT_BYTES + int3 padding to 32" \
			test "$bytes" = "$EXIT_BYTES$(printf 'cc%.0s' $(seq 20))"
		D=$work/go$v-$m.d
		mkdir -p "$D"
		g="go$v $m"
		one "$g: return from main.main" 1 0 -- "$bin" return
		one "$g: os.Exit(3) from a goroutine" 1 3 -- "$bin" exit
		one "$g: os.Exit(3) from a goroutine, the callback using 200 KiB of stack" 1 3 \
			EXIT_HOOK_STACK_KB=200 -- "$bin" exit
		reenter "$g: os.Exit(3), the callback calling _exit(103): ends at once" 1 3 -- "$bin" exit
		one "$g: unrecovered panic" 1 2 -- "$bin" panic
		one "$g: log.Fatal" 1 1 -- "$bin" fatal
		one "$g: fatal error (throw)" 1 2 -- "$bin" throw
		one "$g: SIGTERM through signal.Notify, os.Exit(143)" 1 143 -- "$bin" sigterm
		one "$g: os.Exit(7) while goroutines spin (C, allocating Go), callback sleeping" 1 7 \
			EXIT_HOOK_SLEEP_MS=$HOOK_SLEEP_MS -- "$bin" busy
		slow_enough "$g: os.Exit(7) while goroutines spin"
		run_plain "$D/plain" -- "$bin" selfterm
		hooked "$D/hook" -- "$bin" selfterm
		verify "$g: SIGTERM without a handler: killed by the signal, no hook (not covered)" 1 143
		if [ "$PID1" = 1 ]; then
			run_plain "$D/plain" -- unshare --pid --fork --kill-child "$bin" selfterm
			rm -f "$D/hook.hook"
			run_plain "$D/hook" -- unshare --pid --fork --kill-child \
				env LD_PRELOAD="$SHIM" EXIT_HOOK_OUT="$D/hook.hook" "$bin" selfterm
			verify "$g: as PID 1 of a PID namespace, SIGTERM without a handler: runtime.exit(2)" \
				1 2 "exit_hook 2 pid 1"
		fi
		race "$g: os.Exit(7), then another goroutine's os.Exit(9) during the callback" 1 "7|9" 7 \
			-- "$bin" race
		if [ "$m" = exe ]; then
			LAT_GO=$bin
			for how in return exit panic throw; do
				sampled_exit "$g: $how, sampled" "runtime.goexit|runtime.mstart" -- "$bin" $how
			done
		fi
	done
done

# ---- exit latency of the mechanism alone ---------------------------------------------------
# From the program's last CLOCK_MONOTONIC stamp to waitpid in exit_latency, 20 runs each,
# alternating: the shim loaded (executable analysed) but nothing installed, and the hook
# installed with a callback that does nothing. A note, not a timed assertion.
latency() {
	local what=$1 out
	shift
	if out=$("$work/exit_latency" 20 \
		env LD_PRELOAD="$SHIM" EXIT_HOOK_OUT="$work/lat.hook" EXIT_HOOK_OFF=1 "$@" -- \
		env LD_PRELOAD="$SHIM" EXIT_HOOK_OUT="$work/lat.hook" EXIT_HOOK_NOOP=1 "$@"); then
		pass "exit latency, $what: measured (20 runs each)"
		note "without the hook: $(echo "$out" | sed -n 1p); with a no-op hook: $(echo "$out" | sed -n 2p)"
	else
		fail "exit latency, $what"
	fi
}
latency "C exit(0)" "$C" stamp-exit
latency "C _exit(0)" "$C" stamp-_exit
if [ -n "$LAT_GO" ]; then
	latency "Go os.Exit(0), $(basename "$LAT_GO")" "$LAT_GO" stamp
fi

finish
