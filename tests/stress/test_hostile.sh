#!/bin/bash
# test_hostile.sh -- programs whose stacks are hostile to an unwinder, at GOPROF_HZ=1000
# (tests/stress; issue 6 "Never harm the host"). Fixtures in tests/stress/fixtures:
#
#   c_deep    recursion 5000 deep on the initial thread's stack, far below where it was at
#             start (a record holds 896 frames): samples reach _start, with the leaf end and
#             the root end around one '[libgoprof] N frames left out' frame (N = 4111 or so);
#             20 deep: whole and unmarked
#   c_rbp     RBP used as a general register holding garbage (0, non-canonical, a self-
#             pointing heap word, unmapped, stack zeros): in a C function with CFI the stack
#             is whole; in an assembly function without CFI it is marked incomplete
#   c_coro    makecontext/swapcontext coroutines on malloc'd stacks: unwind to the
#             coroutine's entry function and stop there
#   c_sigjmp  siglongjmp and longjmp out of a SIGALRM handler, 2.137 ms apart, in a loop
#   c_dlloop  dlopen/call/dlclose of a library in a loop on two threads (the loader-lock
#             deadlock of other profilers); the library's samples named
#
# Each runs plain and profiled (bounded by a SIGKILL: a hang changes the exit status) for
# about LIBGOPROF_STRESS_SECONDS (default 3): stdout, stderr and exit status identical,
# profile valid, and the assertion on its stacks above.
. "$(dirname "$0")/../integration/lib.sh"

KILL_AFTER=$((SECS * 3 + 30))
BROKEN='[libgoprof] incomplete: the unwinder stopped here'

stress_setup hostile

# run_both NAME CMD...: plain and profiled at 1000 Hz; compares behaviour, validates the
# profile. Returns 0 when there is a valid profile ($RUN_PROFILE, dump in $RUN_PROFILE.dump).
run_both() {
	local name=$1
	shift
	run_plain "$work/$name-plain" -- "$@"
	run_profiled "$work/$name.pb.gz" --kill-after=$KILL_AFTER GOPROF_HZ=1000 -- "$@"
	check "$name: exit status as without libgoprof ($(cat "$work/$name-plain.status"), not killed)" \
		test "$RUN_STATUS" = "$(cat "$work/$name-plain.status")"
	check "$name: stdout identical" cmp "$work/$name-plain.stdout" "$RUN_STDOUT"
	check "$name: stderr identical" cmp "$work/$name-plain.stderr" "$RUN_STDERR"
	if [ -z "$RUN_PROFILE" ]; then
		fail "$name: no profile"
		return 1
	fi
	check "$name: profile valid" "$PROFCHECK" check "$RUN_PROFILE" || return 1
	"$PROFCHECK" dump "$RUN_PROFILE" >"$RUN_PROFILE.dump"
}

# samples_where DUMP AWK-CONDITION: summed counts of the dump's samples for which the
# condition on root (first frame), leaf (last frame) and n (frames) holds.
samples_where() {
	awk -F' [|] ' -v cond="$2" '
		/^#/ || NF < 2 { next }
		{
			n = split($2, f, ";"); root = f[1]; leaf = f[n]; split($1, c, " ")
			ok = 0
			if (cond == "nocfi_bad") ok = leaf == "nocfi_spin" && root != "_start" && root !~ /^\[libgoprof\] incomplete/
			else if (cond == "nocfi") ok = leaf == "nocfi_spin"
			else if (cond == "hexleaf") ok = leaf ~ /^0x[0-9a-f]+$/
			else if (cond == "all") ok = 1
			if (ok) s += c[1]
		}
		END { print s + 0 }' "$1"
}

# --- recursion past the record --------------------------------------------------------------
if gcc -O1 -fno-omit-frame-pointer -Wall -o "$work/c_deep" "$fx/c_deep.c" &&
	run_both c_deep "$work/c_deep" "$SECS" 5000; then
	deep='_start;__libc_start_main*;__libc_start_call_main;main;recurse+;[libgoprof] * frames left out;recurse+;deep_leaf'
	check "c_deep: 5000-deep samples reach the root, the middle left out ($deep)" \
		"$PROFCHECK" chain "$RUN_PROFILE" --leaf deep_leaf --expect "$deep" --min 0.99
	check "c_deep: a deep sample holds 896 frames: 511 at the root, the count, 384 at the leaf" \
		grep -Eq "^[0-9]+ .*\| ([^;]+;){511}\[libgoprof\] [0-9]+ frames left out(;[^;]+){384}$" "$RUN_PROFILE.dump"
	check "c_deep: 20-deep samples whole and unmarked (_start ... main;recurse+;shallow_leaf)" \
		"$PROFCHECK" chain "$RUN_PROFILE" --leaf shallow_leaf \
		--expect '_start;__libc_start_main*;__libc_start_call_main;main;recurse+;shallow_leaf' --min 0.99
fi

# --- RBP as a general register ----------------------------------------------------------------
if gcc -O2 -fomit-frame-pointer -Wall -o "$work/c_rbp" "$fx/c_rbp.c" &&
	run_both c_rbp "$work/c_rbp" "$SECS"; then
	check "c_rbp: garbage RBP under CFI: whole stacks (_start ... main;rbp_clobber)" \
		"$PROFCHECK" chain "$RUN_PROFILE" --leaf rbp_clobber \
		--expect '_start;__libc_start_main*;__libc_start_call_main;main;rbp_clobber' --min 0.99
	n=$(samples_where "$RUN_PROFILE.dump" nocfi) bad=$(samples_where "$RUN_PROFILE.dump" nocfi_bad)
	check "c_rbp: code without CFI sampled ($n samples in nocfi_spin)" test "$n" -ge $((SECS * 100))
	check "c_rbp: garbage RBP without CFI: every stack whole or marked incomplete ($bad of $n not)" \
		test "$bad" = 0
fi

# --- coroutines on heap stacks ----------------------------------------------------------------
if gcc -O1 -Wall -o "$work/c_coro" "$fx/c_coro.c" &&
	run_both c_coro "$work/c_coro" "$SECS"; then
	# Above coro_entry: __start_context (the return address makecontext plants, at a
	# function's first byte, so unnamed: ip-1 is before it) and at most the incomplete marker.
	check "c_coro: coroutine samples unwind to the makecontext entry (coro_entry) and stop" \
		"$PROFCHECK" chain "$RUN_PROFILE" --leaf coro_leaf \
		--expect '*?;*?;coro_entry;coro_work;coro_leaf' --min 0.99
fi

# --- longjmp out of signal handlers ----------------------------------------------------------
if gcc -O1 -Wall -o "$work/c_sigjmp" "$fx/c_sigjmp.c" &&
	run_both c_sigjmp "$work/c_sigjmp" $((SECS * 150)); then
	check "c_sigjmp: main's samples whole (_start ... main;main_spin)" \
		"$PROFCHECK" chain "$RUN_PROFILE" --leaf main_spin \
		--expect '_start;__libc_start_main*;__libc_start_call_main;main;main_spin' --min 0.99
	check "c_sigjmp: handler samples through the signal frame (_start ... main;...;__restore_rt;on_alrm;alrm_work)" \
		"$PROFCHECK" chain "$RUN_PROFILE" --leaf alrm_work \
		--expect '_start;__libc_start_main*;__libc_start_call_main;main;...;__restore_rt;on_alrm;alrm_work' --min 0.99 --min-samples $((SECS * 3))
fi

# --- dlopen/dlclose loop ------------------------------------------------------------------------
if gcc -O1 -pthread -Wall -o "$work/c_dlloop" "$fx/c_dlloop.c" -ldl &&
	gcc -O1 -shared -fPIC -o "$work/libdlplug.so" "$fx/dlplug.c" &&
	run_both c_dlloop "$work/c_dlloop" "$SECS" "$work/libdlplug.so" "$work/c_dlloop.stats"; then
	opens=$(sed -n 's/^opens=//p' "$work/c_dlloop.stats")
	check "c_dlloop: $opens dlopen/dlclose cycles (want >= $((SECS * 300)))" test "${opens:-0}" -ge $((SECS * 300))
	check "c_dlloop: the library's samples named (...;loop;plug_spin)" \
		"$PROFCHECK" chain "$RUN_PROFILE" --leaf plug_spin --expect '...;loop;plug_spin' --min 0.99 --min-samples $((SECS * 100))
	hex=$(samples_where "$RUN_PROFILE.dump" hexleaf) all=$(samples_where "$RUN_PROFILE.dump" all)
	check "c_dlloop: at most 2% of samples end in an unnamed address ($hex of $all)" \
		test $((hex * 50)) -le "$all"
fi

finish
