#!/bin/bash
# test_heap.sh -- C memory profiling, program side (GOPROF_HEAP_RATE): the allocation
# interposers change nothing a program sees, and they record what they should.
#
#   LIBGOPROF=/path/to/libgoprof.so tests/integration/test_heap.sh
#
# c_heap (multi-threaded malloc/calloc/free churn, every aligned entry point, realloc growth,
# frees on another thread, a fork while allocating) and cxx_heap (new/delete, new[], aligned
# new, std::vector, std::string) run plain and preloaded: at 512k, with heap profiling off, at
# one sample per byte, and with jemalloc and tcmalloc preloaded after and before libgoprof.so.
# Output and exit status must be the plain run's. The records themselves are counted by the
# GOPROF_DEBUG line the library prints at exit ("heap: pid N: A sampled allocations (B bytes),
# F frees, M moves, L live; Q without a bucket, S not followed (table full); T stale, ..."): A
# is about requested bytes / rate, and every sampled block the program freed was seen freed
# (A = F + S + T + L, L at most a few libc-internal blocks). cxx_heap's heap profile names its sites
# demangled (go tool pprof). GOPROF_HEAP_OUT's name is claimed as GOPROF_OUT's is. With heap
# profiling off, the loaded objects call the allocator directly (got_slots). Blocks served
# from the bootstrap arena (arena_free) are freed and reallocated safely. A non-PIE executable
# whose PLT entries stand in for malloc and free (fn_address, the same with its segments 2 MiB
# apart, and /usr/bin/python3 and /usr/bin/node where they are installed) runs and is profiled
# as any other.

. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

need_go || { echo "0 passed, 1 failed"; exit 1; }   # go tool pprof reads the C++ heap profile
work=$(mktemp -d "${TMPDIR:-/tmp}/goprof-heap.XXXXXX")
D=$work
echo "# work directory: $work"
fx=$top_srcdir/tests/fixtures/c_heap
if gcc -O2 -g -pthread -o "$work/c_heap" "$fx/c_heap.c" &&
	g++ -O2 -g -pthread -o "$work/cxx_heap" "$fx/cxx_heap.cc" &&
	gcc -O2 -g -o "$work/got_slots" "$fx/got_slots.c" -Wl,--no-as-needed -lstdc++ -ldl &&
	gcc -O2 -g -no-pie -fno-pie -o "$work/got_slots_nopie" "$fx/got_slots.c" \
		-Wl,--no-as-needed -lstdc++ -ldl &&
	gcc -O2 -g -no-pie -fno-pic -o "$work/fn_address" "$fx/fn_address.c" &&
	gcc -O2 -g -no-pie -fno-pic -Wl,-z,max-page-size=0x200000 -Wl,-z,separate-code \
		-o "$work/fn_address_apart" "$fx/fn_address.c" &&
	gcc -O2 -g -o "$work/own_malloc" "$fx/own_malloc.c" &&
	gcc -O2 -shared -fPIC -o "$work/arena_shim.so" "$fx/arena_shim.c" -ldl &&
	gcc -O2 -g -o "$work/arena_free" "$fx/arena_free.c" -ldl; then
	pass "build c_heap, cxx_heap, got_slots, fn_address, own_malloc and arena_free"
else
	fail "build c_heap, cxx_heap, got_slots, fn_address, own_malloc and arena_free"
	finish
fi

# heap_field STDERR PID N: the N-th number of the heap line of PID (1: sampled allocations).
heap_line() {
	grep -E "^libgoprof: heap: pid $2: " "$1" | head -n 1
}
heap_field() {
	heap_line "$1" "$2" | sed 's/^libgoprof: heap: pid [0-9]*: //' | tr -c '0-9\n' ' ' |
		awk -v n="$3" '{print $n}'
}
# heap_counts: the last run's heap line, as allocs, bytes, frees, live, no_bucket, lost_set
# and stale (empty when there is none).
heap_counts() {
	allocs=$(heap_field "$RUN_STDERR" "$RUN_PID" 1)
	bytes=$(heap_field "$RUN_STDERR" "$RUN_PID" 2)
	frees=$(heap_field "$RUN_STDERR" "$RUN_PID" 3)
	live=$(heap_field "$RUN_STDERR" "$RUN_PID" 5)
	no_bucket=$(heap_field "$RUN_STDERR" "$RUN_PID" 6)
	lost_set=$(heap_field "$RUN_STDERR" "$RUN_PID" 7)
	stale=$(heap_field "$RUN_STDERR" "$RUN_PID" 8)
}

# expect_same NAME: the last run_profiled's stdout and status equal the plain run's
# (expect_same_as NAME PREFIX: those of the plain run at PREFIX).
expect_same_as() {
	check "$1: exit status unchanged ($(cat "$2.status"))" test "$RUN_STATUS" = "$(cat "$2.status")"
	check "$1: stdout identical" cmp -s "$2.stdout" "$RUN_STDOUT"
}
expect_same() {
	expect_same_as "$1" "$D/plain"
}

run_plain "$D/plain" -- "$work/c_heap"
check "c_heap plain: ok" grep -qx ok "$D/plain.stdout"
check "c_heap plain: fork child exit 7" grep -qx "fork child: exit 7" "$D/plain.stdout"
requested=$(awk '/^requested/ {print $2}' "$D/plain.stdout")

# 1. 512k: the same run, records plausible
run_profiled "$D/p512.pb.gz" GOPROF_HEAP_RATE=512k GOPROF_DEBUG=1 \
	GOPROF_HEAP_OUT="$D/p512.heap.pb.gz" -- "$work/c_heap"
check "512k: a profile is written" test -s "$D/p512.pb.gz"
expect_same "512k"
pid=$RUN_PID
line=$(heap_line "$RUN_STDERR" "$pid")
note "$line"
heap_counts
if [ -n "$allocs" ]; then
	want=$((requested / 524288))
	check "512k: $allocs sampled allocations for $requested bytes (expected ~$want)" \
		within_pct 20 "$allocs" "$want"
	check "512k: every sampled block freed was seen freed ($allocs = $frees + $lost_set + $stale + $live live)" \
		test "$allocs" = $((frees + lost_set + stale + live))
	check "512k: every sampled allocation has its stack ($no_bucket without)" test "$no_bucket" = 0
	check "512k: at most 3 sampled blocks live at the end ($live)" test "$live" -le 3
	check "512k: mean sampled size plausible (16-4096 mostly; $((bytes / (allocs + 1))))" \
		test $((bytes / (allocs + 1))) -ge 1000 -a $((bytes / (allocs + 1))) -le 20000
else
	fail "512k: no heap line for pid $pid in GOPROF_DEBUG's output"
	show_file "$RUN_STDERR"
fi

# 2. heap profiling off: output, status and stderr unchanged
run_profiled "$D/off.pb.gz" -- "$work/c_heap"
expect_same "heap profiling off"
check "heap profiling off: stderr identical" cmp -s "$D/plain.stderr" "$RUN_STDERR"

# 3. every allocation sampled (a short run): the sampled path under load
run_plain "$D/plain" -- "$work/c_heap" 20000
run_profiled "$D/every.pb.gz" GOPROF_HEAP_RATE=1 GOPROF_DEBUG=1 \
	GOPROF_HEAP_OUT="$D/every.heap.pb.gz" -- "$work/c_heap" 20000
expect_same "rate 1 byte"
allocs=$(heap_field "$RUN_STDERR" "$RUN_PID" 1)
check "rate 1 byte: allocations recorded (${allocs:-none})" test "${allocs:-0}" -gt 1000

# 4. C++
run_plain "$D/plain" -- "$work/cxx_heap"
run_profiled "$D/cxx.pb.gz" GOPROF_HEAP_RATE=64k GOPROF_DEBUG=1 \
	GOPROF_HEAP_OUT="$D/cxx.heap.pb.gz" -- "$work/cxx_heap"
expect_same "c++ at 64k"
# The heap profile: C++ sites by their demangled names (the vector's growth through
# std::__new_allocator<int>::allocate, inlined into cxx_heap's work), not the mangled ones.
"$GO" tool pprof -sample_index=alloc_space -top -nodecount=200 "$D/cxx.heap.pb.gz" \
	>"$D/cxx.heap.top" 2>/dev/null
check "c++ at 64k: the heap profile shows std::__new_allocator<int>::allocate (vector growth)" \
	grep -q "std::__new_allocator<int>::allocate" "$D/cxx.heap.top"
check "c++ at 64k: the heap profile shows work, and no mangled name" \
	sh -c 'grep -q " work" "$1" && ! grep -q " _Z" "$1"' _ "$D/cxx.heap.top"
heap_counts
check "c++ at 64k: new/delete sampled and freed (${allocs:-none} = ${frees:-?} + ${lost_set:-?} + ${stale:-?} + ${live:-?})" \
	test "${allocs:-0}" -gt 100 -a "${allocs:-0}" = $((${frees:-0} + ${lost_set:-0} + ${stale:-0} + ${live:-0}))

# 5. other allocators, preloaded after libgoprof.so (interposed, forwarded to) and before it
# (they interpose us: one line, and allocation left alone)
for lib in /usr/lib/x86_64-linux-gnu/libjemalloc.so.2 \
	/usr/lib/x86_64-linux-gnu/libtcmalloc_minimal.so.4; do
	name=$(basename "$lib")
	if [ ! -f "$lib" ]; then
		note "$name not installed: skipped"
		continue
	fi
	for prog in c_heap cxx_heap; do
		run_plain "$D/plain" -- env LD_PRELOAD="$lib" "$work/$prog" 
		# (c_heap's pvalloc is libc's behind a jemalloc that has none: plain, it may crash;
		# compared with our own plain run then, which has libc's malloc)
		if [ "$(cat "$D/plain.status")" != 0 ]; then
			run_plain "$D/plain" -- "$work/$prog"
		fi
		run_profiled "$D/after.pb.gz" GOPROF_HEAP_RATE=512k GOPROF_DEBUG=1 \
			GOPROF_HEAP_OUT="$D/after.heap.pb.gz" LD_PRELOAD="$LIBGOPROF $lib" -- "$work/$prog"
		expect_same "$prog, $name after libgoprof.so"
		allocs=$(heap_field "$RUN_STDERR" "$RUN_PID" 1)
		check "$prog, $name after libgoprof.so: sampled (${allocs:-none})" test "${allocs:-0}" -gt 100
		if [ "$prog" = cxx_heap ]; then
			check "$prog, $name after libgoprof.so: new (std::nothrow) sampled (nothrow_site)" \
				sh -c '"$1" tool pprof -sample_index=alloc_space -top -nodecount=200 "$2" 2>/dev/null |
					grep -q nothrow_site' _ "$GO" "$D/after.heap.pb.gz"
		fi
		run_profiled "$D/before.pb.gz" GOPROF_HEAP_RATE=512k \
			LD_PRELOAD="$lib $LIBGOPROF" -- "$work/$prog"
		expect_same "$prog, $name before libgoprof.so"
		check "$prog, $name before libgoprof.so: one line says heap profiling is off" \
			test "$(grep -c 'C memory profiling is off' "$RUN_STDERR")" = 1
	done
done

# 5b. An executable with an allocator of its own (rustc links jemalloc in, chromium
# PartitionAlloc): it comes before every preload. One line says so, as the executable's (no
# advice to preload libgoprof.so first, which cannot help); the program runs as without us.
run_plain "$D/own" -- "$work/own_malloc"
check "own_malloc plain: every call reached its malloc" grep -qx "its malloc had every call" "$D/own.stdout"
run_profiled "$D/own.pb.gz" GOPROF_HEAP_RATE=512k GOPROF_HEAP_OUT="$D/own.heap.pb.gz" -- \
	"$work/own_malloc"
expect_same_as "own_malloc, heap 512k" "$D/own"
check "own_malloc, heap 512k: one line says malloc is the executable's own" \
	sh -c 'test "$(grep -c "malloc is the executable.s own ($2).*C memory profiling is off" "$1")" = 1 &&
		test "$(grep -c libgoprof "$1")" = 1' _ "$RUN_STDERR" "$work/own_malloc"
check "own_malloc, heap 512k: its CPU profile is valid" pprof_ok "$D/own.pb.gz"

# 6. GOPROF_HEAP_OUT's name is claimed like GOPROF_OUT's: two sessions given one fixed heap
# name at once, the second writes NAME.<its pid>; the same name as GOPROF_OUT's turns heap
# profiling off in one line, the CPU profile is written.
start_bg "$D/first" GOPROF_OUT="$D/first.pb.gz" GOPROF_HEAP_RATE=512k \
	GOPROF_HEAP_OUT="$D/same.heap.pb.gz" -- "$work/c_heap" 8000000
first=$BG_PID
sleep 0.3
run_profiled "$D/second.pb.gz" GOPROF_HEAP_RATE=512k GOPROF_HEAP_OUT="$D/same.heap.pb.gz" \
	-- "$work/c_heap" 20000
second=$RUN_PID
wait "$first"
check "one heap name, two sessions: the first writes it" pprof_ok "$D/same.heap.pb.gz"
check "one heap name, two sessions: the second writes same.heap.pb.gz.$second" \
	pprof_ok "$D/same.heap.pb.gz.$second"
check "one heap name, two sessions: no other heap file" \
	test "$(ls "$D" | grep -c '^same\.heap')" = 2
run_profiled "$D/one.pb.gz" GOPROF_HEAP_RATE=512k GOPROF_HEAP_OUT="$D/one.pb.gz" -- "$work/c_heap" 20000
check "GOPROF_HEAP_OUT = GOPROF_OUT: one line says so" \
	test "$(grep -c "GOPROF_HEAP_OUT=.* is GOPROF_OUT's name" "$RUN_STDERR")" = 1
check "GOPROF_HEAP_OUT = GOPROF_OUT: the CPU profile is written, not a heap profile" \
	sh -c '"$1" tool pprof -raw "$2" 2>/dev/null | grep -q "^samples/count cpu/nanoseconds"' _ "$GO" "$D/one.pb.gz"

# 7. With C memory profiling off, every object calls the allocator as without libgoprof.so:
# got_slots prints where each GOT slot naming an allocation function goes. Preloaded, the
# slots are those of the plain run, lazy ones bound ahead to where the dynamic linker would
# bind them (libgoprof.so's own are left to it). Profiling on, they come to us.
# (got_slots reads the ELF structures itself: the check shares no code with got_rebind.c)
slots() { # slots PREFIX: the last run's stdout, sorted, lazy slots as their lookup's target
	sed 's/-> lazy /-> /' "$1" | sort >"$1.slots"
}
# (A non-PIE executable's DT_GNU_HASH chains hold none of its symbols: its slots are found by
# name.)
for case in pie jemalloc nopie; do
	pre='' prog=got_slots what=''
	case $case in
	jemalloc)
		pre=/usr/lib/x86_64-linux-gnu/libjemalloc.so.2
		[ -f "$pre" ] || continue
		what=", $(basename "$pre") after libgoprof.so" ;;
	nopie) prog=got_slots_nopie what=", non-PIE executable" ;;
	esac
	run_plain "$D/gs.plain" -- env ${pre:+LD_PRELOAD="$pre"} "$work/$prog"
	slots "$D/gs.plain.stdout"
	run_profiled "$D/gs.off.pb.gz" GOPROF_DEBUG=1 LD_PRELOAD="$LIBGOPROF${pre:+ $pre}" \
		-- "$work/$prog"
	slots "$RUN_STDOUT"
	check "heap off$what: the executable's malloc slot is the allocator's" \
		grep -Eq "^main malloc -> (libc.so.6|libjemalloc.so.2)$" "$RUN_STDOUT.slots"
	check "heap off$what: every slot as in the plain run ($(wc -l <"$D/gs.plain.stdout.slots") slots)" \
		sh -c 'grep -v "^libgoprof.so " "$1" | cmp -s - "$2"' _ "$RUN_STDOUT.slots" "$D/gs.plain.stdout.slots"
	check "heap off$what: no other object's slot goes to libgoprof.so" \
		sh -c '! grep -v "^libgoprof.so " "$1" | grep -q -- "-> libgoprof.so"' _ "$RUN_STDOUT.slots"
	check "heap off$what: the debug line counts them" \
		grep -Eq "heap: off: [1-9][0-9]* calls in [1-9][0-9]* objects bound to the allocator" "$RUN_STDERR"
done
run_profiled "$D/gs.on.pb.gz" GOPROF_HEAP_RATE=512k GOPROF_HEAP_OUT="$D/gs.on.heap.pb.gz" \
	-- "$work/got_slots"
check "heap on: the executable's and libc's malloc and free come to libgoprof.so" \
	sh -c 'for s in "main malloc" "main free" "libc.so.6 malloc" "libc.so.6 free"; do
		grep -qx "$s -> libgoprof.so" "$1" || exit 1; done' _ "$RUN_STDOUT"
run_profiled "$D/gs.dis.pb.gz" --no-profile GOPROF_DISABLE=1 -- "$work/got_slots"
slots "$RUN_STDOUT"
run_plain "$D/gs.plain" -- "$work/got_slots"
slots "$D/gs.plain.stdout"
check "GOPROF_DISABLE=1: every slot as in the plain run, the executable's malloc the allocator's" \
	sh -c 'grep -qx "main malloc -> libc.so.6" "$1" &&
		grep -v "^libgoprof.so " "$1" | cmp -s - "$2"' _ "$RUN_STDOUT.slots" "$D/gs.plain.stdout.slots"

# 8. The bootstrap arena: arena_shim.so's dlsym allocates, so libgoprof.so's first lookup of
# its allocator gets calloc calls it must serve from its arena. free() does not test addresses
# against the arena: it stays on the arena-aware free once a block was handed out, so these
# blocks' free and realloc, long after, never reach the allocator (which aborts on them).
run_plain "$D/arena" -- env LD_PRELOAD="$work/arena_shim.so" "$work/arena_free"
check "arena plain: ok" grep -qx ok "$D/arena.stdout"
for rate in 512k 1 0; do
	run_profiled "$D/arena$rate.pb.gz" GOPROF_HEAP_RATE=$rate GOPROF_DEBUG=1 \
		GOPROF_HEAP_OUT="$D/arena$rate.heap.pb.gz" LD_PRELOAD="$LIBGOPROF $work/arena_shim.so" -- "$work/arena_free"
	check "arena, GOPROF_HEAP_RATE=$rate: the blocks came from libgoprof.so's arena" \
		grep -qx "kept blocks in libgoprof.so, libgoprof.so" "$RUN_STDERR"
	expect_same_as "arena, GOPROF_HEAP_RATE=$rate" "$D/arena"
done
check "arena, heap off: free and realloc stay ours" grep -q "(arena in use)" "$RUN_STDERR"

# 9. A non-PIE executable built from non-PIC code that takes malloc's and free's addresses:
# its PLT entries for them stand in as their addresses for the whole process (undefined
# symbols with a value), and dlsym gives those. That is not an allocator of its own that
# comes before libgoprof.so: its calls go through the entries to us. (Debian's python3 is such
# a program; taken for definitions, the entries left libgoprof.so without an allocator, and
# python3 died at its start, C memory profiling on or off.) The same program again with its
# segments 2 MiB apart, as Debian's node is laid out: _dl_find_object then gives each segment
# as a mapping of its own, and node's malloc, taken for the executable's own, jumped to itself.
check "fn_address_apart: its segments are apart" segments_apart "$work/fn_address_apart"
for exe in fn_address fn_address_apart; do
	check "$exe: its malloc and free are undefined symbols with a value" \
		sh -c 'for f in malloc free; do readelf --dyn-syms -W "$1" |
			grep -Eq ": 0*[1-9a-f][0-9a-f]* +0 FUNC +GLOBAL +DEFAULT +UND $f@" || exit 1; done' _ "$work/$exe"
	for rate in off 512k 1; do
		pairs=200000
		[ "$rate" = 1 ] && pairs=20000
		run_plain "$D/fa" -- "$work/$exe" $pairs
		check "$exe $pairs plain: ok, the pointers are the functions" \
			sh -c 'grep -qx ok "$1" && grep -qx "the pointers are the functions: 1 1" "$1"' _ "$D/fa.stdout"
		vars=(GOPROF_DEBUG=1)
		[ "$rate" = off ] || vars+=(GOPROF_HEAP_RATE=$rate GOPROF_HEAP_OUT="$D/fa$rate.heap.pb.gz")
		run_profiled "$D/fa$rate.pb.gz" --kill-after=60 "${vars[@]}" -- "$work/$exe" $pairs
		expect_same_as "$exe, heap $rate" "$D/fa"
		check "$exe, heap $rate: the allocator found, no allocator taken to come first" \
			sh -c '! grep -Eq "static arena|comes before libgoprof.so|malloc is the executable" "$1"' _ "$RUN_STDERR"
		case $rate in
		off)
			check "$exe, heap off: its calls bound to the allocator" \
				grep -Eq "heap: off: [1-9][0-9]* calls in [1-9][0-9]* objects bound to the allocator" "$RUN_STDERR" ;;
		512k)
			heap_counts
			want=$(($(awk '/^requested/ {print $2}' "$D/fa.stdout") / 524288))
			check "$exe, 512k: ${allocs:-no} sampled allocations (expected ~$want)" \
				within_pct 20 "${allocs:-0}" "$want"
			check "$exe, 512k: every sampled block freed was seen freed (${allocs:-?} = ${frees:-?} + ${lost_set:-?} + ${stale:-?} + ${live:-?} live)" \
				test "${allocs:-0}" -gt 0 -a "${allocs:-0}" = $((${frees:-0} + ${lost_set:-0} + ${stale:-0} + ${live:-0})) -a "${live:-9}" -le 3
			check "$exe, 512k: the heap profile is valid" pprof_ok "$D/fa512k.heap.pb.gz" ;;
		1)
			allocs=$(heap_field "$RUN_STDERR" "$RUN_PID" 1)
			check "$exe, every allocation sampled: ${allocs:-none} of its $pairs" \
				test "${allocs:-0}" -ge "$pairs" ;;
		esac
	done
done
# The programs that showed them, where they are installed.
if [ -x /usr/bin/python3 ]; then
	run_plain "$D/py" -- /usr/bin/python3 -c 'print(sum(len(str(i) * 700) for i in range(20000)))'
	for rate in off 512k; do
		vars=()
		[ "$rate" = off ] || vars=(GOPROF_HEAP_RATE=$rate GOPROF_HEAP_OUT="$D/py$rate.heap.pb.gz")
		run_profiled "$D/py$rate.pb.gz" "${vars[@]}" -- \
			/usr/bin/python3 -c 'print(sum(len(str(i) * 700) for i in range(20000)))'
		expect_same_as "/usr/bin/python3, heap $rate" "$D/py"
	done
	check "/usr/bin/python3, 512k: the heap profile is valid" pprof_ok "$D/py512k.heap.pb.gz"
else
	note "/usr/bin/python3 not installed: skipped"
fi
if [ -x /usr/bin/node ]; then
	js='let s = 0; for (let i = 0; i < 20000; i++) s += Buffer.alloc(700 + i % 300, i).length; console.log(s)'
	run_plain "$D/node" -- /usr/bin/node -e "$js"
	for rate in off 512k; do
		vars=()
		[ "$rate" = off ] || vars=(GOPROF_HEAP_RATE=$rate GOPROF_HEAP_OUT="$D/node$rate.heap.pb.gz")
		run_profiled "$D/node$rate.pb.gz" --kill-after=60 "${vars[@]}" -- /usr/bin/node -e "$js"
		expect_same_as "/usr/bin/node, heap $rate" "$D/node"
	done
	check "/usr/bin/node, 512k: the heap profile is valid" pprof_ok "$D/node512k.heap.pb.gz"
else
	note "/usr/bin/node not installed: skipped"
fi

finish
