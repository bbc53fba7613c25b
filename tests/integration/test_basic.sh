#!/bin/bash
# test_basic.sh -- end-to-end checks of libgoprof on the C and Go+cgo fixtures.
#
#   LIBGOPROF=/path/to/libgoprof.so tests/integration/test_basic.sh
#
# Prints one PASS:/FAIL: line per check and ends with "N passed, N failed"; exits non-zero
# if anything failed. The work directory is kept on failure (or with LIBGOPROF_TEST_KEEP=1).

. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# Expected chains (root -> leaf, ';'-separated, '...' = zero or more frames).
CHAIN_LEAF_A='_start;__libc_start_main*;__libc_start_call_main;main;work_a;leaf_a'
CHAIN_LEAF_B='*clone3;start_thread;worker;leaf_b'
CHAIN_C_INNER='runtime.goexit;runtime.main;main.main;main.goCallC;main._Cfunc_c_outer;runtime.cgocall;runtime.asmcgocall;*;c_outer;c_inner'
# First library version unwinds Go frames with frame pointers; tighten to 0.99 later.
C_INNER_MIN=0.99

WORK=${TEST_WORKDIR:-$(mktemp -d "${TMPDIR:-/tmp}/goprof-basic.XXXXXX")}
mkdir -p "$WORK"
echo "# work directory: $WORK"
echo "# LIBGOPROF=$LIBGOPROF"

finish() {
	if [ "$FAILED" -eq 0 ] && [ "${LIBGOPROF_TEST_KEEP:-0}" != 1 ] && [ -z "${TEST_WORKDIR:-}" ]; then
		rm -rf "$WORK"
	else
		echo "# kept $WORK"
	fi
	summary
	exit $?
}

if ! need_go; then
	fail "Go 1.26 toolchain (scripts/go-toolchain.sh 1.26)"
	finish
fi
if ! build_fixtures "$WORK/bin"; then
	fail "build fixtures (c_threads, go_cgo, profcheck)"
	finish
fi
pass "build fixtures"
if [ ! -f "$LIBGOPROF" ]; then
	fail "LIBGOPROF=$LIBGOPROF does not exist (build the library first)"
	finish
fi

# same_output WHAT A B: stdout minus timing lines and exit status are identical.
same_output() {
	local what=$1 a=$2 b=$3
	if diff <(strip_timing "$a.stdout") <(strip_timing "$b.stdout") >/dev/null &&
		[ "$(cat "$a.status")" = "$(cat "$b.status")" ]; then
		pass "$what: stdout (minus timing) and exit status preserved"
	else
		fail "$what: output changed by the preload"
		note "exit status: profiled $(cat "$a.status"), plain $(cat "$b.status")"
		diff <(strip_timing "$b.stdout") <(strip_timing "$a.stdout") | sed 's/^/      | /' | head -n 20
	fi
}

# expect_status WHAT WANT
expect_status() {
	if [ "$RUN_STATUS" = "$2" ]; then
		pass "$1: exit status $2"
	else
		fail "$1: exit status $RUN_STATUS, want $2"
		note "stderr:"
		show_file "$RUN_STDERR" 10
	fi
}

# profile_valid WHAT FILE: profcheck decodes it and go tool pprof opens it.
profile_valid() {
	check "$1: profile decodes and validates (profcheck)" "$PROFCHECK" check "$2"
	check "$1: go tool pprof -top/-traces/-raw/-tags" pprof_ok "$2"
}

# ---------------------------------------------------------------------------------------
# 1. C program with two threads.
D=$WORK/c_threads
mkdir -p "$D"
if run_profiled "$D/prof.pb.gz" -- "$C_THREADS"; then
	pass "c_threads: profile written"
	expect_status "c_threads" 0
	P=$RUN_PROFILE
	profile_valid "c_threads" "$P"
	check "c_threads: chain $CHAIN_LEAF_A for leaf leaf_a" \
		"$PROFCHECK" chain "$P" --leaf leaf_a --expect "$CHAIN_LEAF_A"
	check "c_threads: chain $CHAIN_LEAF_B for leaf leaf_b" \
		"$PROFCHECK" chain "$P" --leaf leaf_b --expect "$CHAIN_LEAF_B"
	main_ns=$(field_of "$RUN_STDOUT" main)
	worker_ns=$(field_of "$RUN_STDOUT" worker)
	if [ -n "$main_ns" ] && [ -n "$worker_ns" ]; then
		split=$(awk -v m="$main_ns" -v w="$worker_ns" 'BEGIN { printf "%.4f", m / (m + w) }')
		check "c_threads: leaf_a share of leaf_a+leaf_b = true split $split +-0.04" \
			"$PROFCHECK" share "$P" --group "leaf_a=^leaf_a\$" --group "leaf_b=^leaf_b\$" \
			--denom groups --expect "leaf_a=$split" --tol 0.04
	else
		fail "c_threads: no 'cpu main=<ns> worker=<ns>' line in stdout"
		show_file "$RUN_STDOUT"
	fi
	check "c_threads: labels thread_id (numeric), thread_name with value worker" \
		"$PROFCHECK" labels "$P" --require thread_id:num --require thread_name:str \
		--require-value thread_name=worker
	# Symbolized here, so pprof must not re-symbolize: the executable's mapping says so.
	check "c_threads: executable mapping has build id and has_functions" \
		grep -Eq "^# mapping 1: .*file=$C_THREADS build_id=[0-9a-f]{40} has_functions=true" \
		<("$PROFCHECK" dump "$P")
else
	fail "c_threads: no profile at $D/prof.pb.gz within 10 s (exit status $RUN_STATUS)"
	show_file "$RUN_STDERR" 10
fi
run_plain "$D/plain" -- "$C_THREADS"
same_output "c_threads" "$D/prof.pb.gz" "$D/plain"

# ---------------------------------------------------------------------------------------
# 1b. C program whose CPU time is in a signal handler: the stack crosses the kernel's
# signal frame (__restore_rt, exact PC: it is not a return address) back to the
# interrupted sigsuspend.
D=$WORK/c_sighandler
mkdir -p "$D"
if gcc -O2 -Wall -o "$D/c_sighandler" "$top_srcdir/tests/fixtures/c_sighandler/c_sighandler.c" &&
	run_profiled "$D/prof.pb.gz" GOPROF_HZ=250 -- "$D/c_sighandler"; then
	expect_status "c_sighandler" 0
	check "c_sighandler: chain through the signal frame for leaf in_handler_work (>= 0.99)" \
		"$PROFCHECK" chain "$RUN_PROFILE" --leaf in_handler_work --min 0.99 \
		--expect '_start;__libc_start_main*;...;main;*sigsuspend;__restore_rt;on_alarm?;in_handler_work'
else
	fail "c_sighandler: build or profile"
fi

# ---------------------------------------------------------------------------------------
# 1b'. c_threads as a non-PIE executable whose segments are 2 MiB apart, without frame
# pointers (Debian's node is laid out so). The kernel maps such an executable segment by
# segment, with unmapped gaps, and _dl_find_object then gives each segment as a mapping of its
# own: the code's has no ELF header at its start, and .eh_frame_hdr is in another segment. The
# unwinder must still find the executable's CFI (every sample ended at once without it).
D=$WORK/c_threads_gaps
mkdir -p "$D"
if gcc -O1 -fomit-frame-pointer -fno-inline -pthread -Wall -no-pie -fno-pic \
	-Wl,-z,max-page-size=0x200000 -Wl,-z,separate-code \
	-o "$D/c_threads" "$top_srcdir/tests/fixtures/c_threads/c_threads.c" &&
	run_profiled "$D/prof.pb.gz" GOPROF_HZ=250 -- "$D/c_threads"; then
	expect_status "c_threads, segments apart" 0
	check "c_threads, segments apart: an ET_EXEC with a gap between its PT_LOAD segments" \
		segments_apart "$D/c_threads"
	check "c_threads, segments apart: chain $CHAIN_LEAF_A for leaf leaf_a" \
		"$PROFCHECK" chain "$RUN_PROFILE" --leaf leaf_a --expect "$CHAIN_LEAF_A"
	check "c_threads, segments apart: chain $CHAIN_LEAF_B for leaf leaf_b" \
		"$PROFCHECK" chain "$RUN_PROFILE" --leaf leaf_b --expect "$CHAIN_LEAF_B"
else
	fail "c_threads, segments apart: build or profile"
fi

# ---------------------------------------------------------------------------------------
# 1c. C program that dlopens a library, spends CPU time in it and dlcloses it before exit: the
# collector reads the maps again when a sample falls outside the known ones (not on a timer), so
# plugin_spin must still be named, under main.
D=$WORK/c_dlopen
mkdir -p "$D"
fx=$top_srcdir/tests/fixtures/c_dlopen
if gcc -O1 -Wall -o "$D/c_dlopen" "$fx/c_dlopen.c" -ldl &&
	gcc -O1 -Wall -shared -fPIC -o "$D/libplugin.so" "$fx/plugin.c" &&
	run_profiled "$D/prof.pb.gz" GOPROF_HZ=250 -- "$D/c_dlopen" "$D/libplugin.so"; then
	expect_status "c_dlopen" 0
	check "c_dlopen: chain main;plugin_spin for the dlopen'ed library's code (>= 0.99)" \
		"$PROFCHECK" chain "$RUN_PROFILE" --leaf plugin_spin --min 0.99 --min-samples 50 \
		--expect '_start;__libc_start_main*;...;main;plugin_spin'
	check "c_dlopen: the unloaded library's mapping is in the profile" \
		grep -Eq "^# mapping [0-9]+: .*file=$D/libplugin.so " <("$PROFCHECK" dump "$RUN_PROFILE")
else
	fail "c_dlopen: build or profile"
fi

# ---------------------------------------------------------------------------------------
# 2. Go + cgo program.
D=$WORK/go_cgo
mkdir -p "$D"
if run_profiled "$D/prof.pb.gz" -- "$GO_CGO" -d 2s; then
	pass "go_cgo: profile written"
	expect_status "go_cgo" 0
	P=$RUN_PROFILE
	profile_valid "go_cgo" "$P"
	# Go inline frames are expanded here: the Go executable's mapping says so.
	check "go_cgo: executable mapping has has_functions and has_inline_frames" \
		grep -Eq "^# mapping 1: .*file=$GO_CGO .*has_functions=true .*has_inline_frames=true" \
		<("$PROFCHECK" dump "$P")
	check "go_cgo: chain $CHAIN_C_INNER for leaf c_inner (>= $C_INNER_MIN)" \
		"$PROFCHECK" chain "$P" --leaf c_inner --expect "$CHAIN_C_INNER" --min "$C_INNER_MIN"
	cpu=$(field_of "$RUN_STDOUT" cpu_ns)
	if [ -n "$cpu" ]; then
		check "go_cgo: sampled cpu_ns within 10% of getrusage ($cpu ns)" \
			"$PROFCHECK" total "$P" --expect-cpu-ns "$cpu" --tol 0.10
	else
		fail "go_cgo: no cpu_ns= line in stdout"
		show_file "$RUN_STDOUT"
	fi
else
	fail "go_cgo: no profile at $D/prof.pb.gz within 10 s (exit status $RUN_STATUS)"
	show_file "$RUN_STDERR" 10
fi

# ---------------------------------------------------------------------------------------
# 3. os.Exit(3): status preserved, profile written, output preserved.
D=$WORK/go_exit
mkdir -p "$D"
if run_profiled "$D/prof.pb.gz" -- "$GO_CGO" -d 1s -exit 3; then
	pass "go_cgo -exit 3: profile written"
	profile_valid "go_cgo -exit 3" "$RUN_PROFILE"
else
	fail "go_cgo -exit 3: no profile at $D/prof.pb.gz within 10 s"
	show_file "$RUN_STDERR" 10
fi
expect_status "go_cgo -exit 3" 3
run_plain "$D/plain" -- "$GO_CGO" -d 1s -exit 3
same_output "go_cgo -exit 3" "$D/prof.pb.gz" "$D/plain"

# ---------------------------------------------------------------------------------------
# 4. SIGKILL while sleeping after the work: the collector still writes the profile.
D=$WORK/go_kill
mkdir -p "$D"
if run_profiled "$D/prof.pb.gz" --kill-after=2 -- "$GO_CGO" -d 1.5s -sleep; then
	pass "go_cgo -sleep + SIGKILL: profile written"
	profile_valid "go_cgo -sleep + SIGKILL" "$RUN_PROFILE"
	check "go_cgo -sleep + SIGKILL: >= 100 samples" "$PROFCHECK" total "$RUN_PROFILE" --min-count 100
else
	fail "go_cgo -sleep + SIGKILL: no profile at $D/prof.pb.gz within 10 s"
	show_file "$RUN_STDERR" 10
fi
expect_status "go_cgo -sleep + SIGKILL" 137

# ---------------------------------------------------------------------------------------
# 5. Go's own CPU profiler runs at the same time: both profiles are right.
D=$WORK/go_gopprof
mkdir -p "$D"
if run_profiled "$D/prof.pb.gz" -- "$GO_CGO" -d 2s -gopprof "$D/go.pprof"; then
	pass "go_cgo -gopprof: our profile written"
	ours=$RUN_PROFILE
else
	fail "go_cgo -gopprof: no profile at $D/prof.pb.gz within 10 s"
	show_file "$RUN_STDERR" 10
	ours=
fi
expect_status "go_cgo -gopprof" 0
cpu=$(field_of "$RUN_STDOUT" cpu_ns)
if [ -z "$cpu" ]; then
	fail "go_cgo -gopprof: no cpu_ns= line in stdout"
	show_file "$RUN_STDOUT"
	cpu=0
fi
profile_valid "go_cgo -gopprof: Go's profile" "$D/go.pprof"
check "go_cgo -gopprof: Go's profile total within 10% of getrusage ($cpu ns)" \
	"$PROFCHECK" total "$D/go.pprof" --expect-cpu-ns "$cpu" --tol 0.10
if [ -n "$ours" ]; then
	profile_valid "go_cgo -gopprof: our profile" "$ours"
	check "go_cgo -gopprof: our total within 10% of getrusage ($cpu ns)" \
		"$PROFCHECK" total "$ours" --expect-cpu-ns "$cpu" --tol 0.10
fi

# ---------------------------------------------------------------------------------------
# 6. Bad configuration: one stderr line naming the variable, app unchanged, no profile.
D=$WORK/bad_env
mkdir -p "$D"
run_plain "$D/plain" -- "$C_THREADS" 0.3 0.1
n=0
for setting in 'GOPROF_HZ=abc' 'GOPROF_HZ=0' 'GOPROF_OUT=%q'; do
	n=$((n + 1))
	var=${setting%%=*}
	what="bad $setting"
	# Run in an empty directory, so a stray file (e.g. a literal '%q') is noticed.
	cwd=$D/cwd$n
	mkdir -p "$cwd"
	pushd "$cwd" >/dev/null || continue
	if run_profiled "$D/prof$n.pb.gz" --no-profile "$setting" -- "$C_THREADS" 0.3 0.1; then
		pass "$what: no profile written"
	else
		fail "$what: a profile was written ($RUN_PROFILE)"
	fi
	popd >/dev/null || true
	stray=$(ls -A "$cwd")
	if [ -z "$stray" ]; then
		pass "$what: no file created in the working directory"
	else
		fail "$what: files created in the working directory: $stray"
	fi
	lines=$(grep -c '^libgoprof:' "$RUN_STDERR")
	if [ "$lines" -eq 1 ] && grep '^libgoprof:' "$RUN_STDERR" | grep -q "$var"; then
		pass "$what: one 'libgoprof:' stderr line naming $var"
		note "$(grep '^libgoprof:' "$RUN_STDERR")"
	else
		fail "$what: want exactly one stderr line starting 'libgoprof:' naming $var, got $lines"
		show_file "$RUN_STDERR" 10
	fi
	same_output "$what" "$D/prof$n.pb.gz" "$D/plain"
done

finish
