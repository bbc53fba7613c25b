#!/bin/bash
# test_cmem.sh -- C memory profiles of a cgo program, end to end (issue 15's check).
# tests/fixtures/go_cmem keeps 64 MiB of C memory through main.leakPath, allocates and frees
# 256 MiB of C memory through main.churnPath, and allocates 256 MiB on the Go heap through
# main.goHeapPath. For each Go toolchain in LIBGOPROF_TEST_CMEM_GO_VERSIONS (default 1.21
# 1.26), at GOPROF_HEAP_RATE=64k (about 1000 sampled blocks of the leak, 4000 of the churn, so
# that the ±10 % bounds are more than 3 standard deviations of the sampling) with a ring of
# 8192 slots:
#   - output and exit status as without libgoprof; the heap file exists and go tool pprof reads
#     it, with Go's sample types and period type;
#   - inuse_space is the leak: 64 MiB within 10 %, >= 99 % of it under main.leakPath;
#   - alloc_space: the churn under main.churnPath, 256 MiB within 10 %; the leak's share of all
#     allocated bytes within 5 points of the truth (20 %);
#   - no Go heap allocation (main.goHeapPath) anywhere; no event lost in the program.
# Then a real cgo library, on the same toolchains: tests/fixtures/go_sqlite fills an in-memory
# SQLite database through database/sql and github.com/mattn/go-sqlite3 (Debian's source of it)
# and queries it: output as without libgoprof; in-use at exit within 10 % of SQLite's own count
# (sqlite3_memory_used), >= 90 % of it under main.fill, on a stack from sqlite3_step through the
# cgo call and the driver to runtime.main; the CPU in sqlite3_step all under main.main.
# Then, with the newest toolchain, go_cmem -hold 1500ms (32 MiB kept, a pause, 32 MiB more, a
# pause) with GOPROF_HTTP and GOPROF_INTERVAL=500ms: go tool pprof reads /debug/pprof/heap of
# the running program (in-use of the first half, about 32 MiB, under main.leakHalf),
# /debug/pprof/allocs answers, /debug/pprof/heap?seconds=1 taken from 0.8 s (Go's delta
# profile) shows the second half's 32 MiB (within 15 %), and `go tool pprof -base FIRST LAST`
# of the interval heap files shows the same as the in-use growth.
. "$(dirname "$0")/lib.sh"

need_go || { echo "0 passed, 1 failed"; exit 1; }
work=$(mktemp -d "${TMPDIR:-/tmp}/libgoprof-cmem.XXXXXX")
build_fixtures "$work" || { fail "build fixtures"; summary; exit 1; }
MIB=1048576

# bytes FILE INDEX FUNC: cum bytes of FUNC (or the total with FUNC = TOTAL) for sample INDEX
bytes() {
	"$GO" tool pprof -unit=B -sample_index="$2" -top -cum -nodecount=1000 "$1" 2>/dev/null |
		awk -v f="$3" '
			/^Showing nodes/ { for (i = 1; i <= NF; i++) if ($i == "total") { t = $(i - 1); sub(/B$/, "", t) } }
			$NF == f { c = $4; sub(/B$/, "", c) }
			END { if (f == "TOTAL") print t + 0; else print c + 0 }'
}
within() { awk -v a="$1" -v b="$2" -v t="$3" 'BEGIN { exit !(a >= b * (1 - t) && a <= b * (1 + t)) }'; }

for v in ${LIBGOPROF_TEST_CMEM_GO_VERSIONS:-1.21 1.26}; do
	bin="$work/go_cmem-$v"
	go_build_fixture go_cmem "$v" "$bin" || { fail "go$v: build go_cmem"; continue; }
	run_plain "$work/plain$v" -- "$bin"
	heap="$work/go$v.heap.pb.gz"
	run_profiled "$work/go$v.pb.gz" GOPROF_HEAP_RATE=64k GOPROF_RING_SLOTS=8192 \
		GOPROF_HEAP_OUT="$heap" -- "$bin"
	same_as_plain "go$v" "$work/plain$v"
	check "go$v: heap profile written" test -s "$heap"
	[ -s "$heap" ] || continue
	raw=$("$GO" tool pprof -raw "$heap" 2>&1)
	check "go$v: go tool pprof reads it: Go's sample types, period space/bytes" \
		grep -q "^PeriodType: space bytes" <<<"$raw"
	check "go$v: sample types alloc_objects/count alloc_space/bytes inuse_objects/count inuse_space/bytes" \
		grep -q "^alloc_objects/count alloc_space/bytes inuse_objects/count inuse_space/bytes" <<<"$raw"
	check "go$v: period 65536" grep -q "^Period: 65536$" <<<"$raw"
	check "go$v: no heap event lost in the program" \
		grep -q "allocations without a stack (their table full) 0, allocations not followed to their free (table of sampled blocks full) 0" <<<"$raw"
	inuse=$(bytes "$heap" inuse_space TOTAL) leak=$(bytes "$heap" inuse_space main.leakPath)
	check "go$v: in-use $inuse B, the leak's 64 MiB within 10 %" within "$inuse" $((64 * MIB)) 0.10
	check "go$v: in-use under main.leakPath: $leak of $inuse B (>= 99 %)" \
		awk -v a="$leak" -v b="$inuse" 'BEGIN { exit !(b > 0 && a >= 0.99 * b) }'
	churn=$(bytes "$heap" alloc_space main.churnPath) alloc=$(bytes "$heap" alloc_space TOTAL)
	aleak=$(bytes "$heap" alloc_space main.leakPath)
	check "go$v: allocated under main.churnPath $churn B, 256 MiB within 10 %" \
		within "$churn" $((256 * MIB)) 0.10
	check "go$v: the leak's share of allocated bytes within 5 points of 20 % ($aleak of $alloc)" \
		awk -v a="$aleak" -v b="$alloc" 'BEGIN { s = 100 * a / b; exit !(s >= 15 && s <= 25) }'
	check "go$v: no Go heap allocation (main.goHeapPath) in the C memory profile" \
		sh -c '! grep -q "main.goHeapPath" <<EOF
$1
EOF' _ "$raw"
done
# --- a real cgo library: SQLite through database/sql and github.com/mattn/go-sqlite3 --------
# The truth is SQLite's own count of what it holds (sqlite3_memory_used, printed by the program
# at its end; the database is never closed, so the profile's in-use at exit is it). At 16k,
# some 2600 of its ~11 000 blocks of ~4.4 KiB are sampled: the in-use estimate's standard
# deviation is under 2 %, and ±10 % more than 5 of them.
sqlite_src=/usr/share/gocode/src/github.com/mattn/go-sqlite3
for v in ${LIBGOPROF_TEST_CMEM_GO_VERSIONS:-1.21 1.26}; do
	[ -d "$sqlite_src" ] || { fail "sqlite: $sqlite_src missing (scripts/setup.sh installs golang-github-mattn-go-sqlite3-dev)"; break; }
	bin="$work/go_sqlite-$v"
	go_build_fixture go_sqlite "$v" "$bin" || { fail "sqlite go$v: build go_sqlite"; continue; }
	run_plain "$work/sqplain$v" -- "$bin"
	heap="$work/sq$v.heap.pb.gz"
	run_profiled "$work/sq$v.pb.gz" GOPROF_HEAP_RATE=16k GOPROF_HEAP_OUT="$heap" -- "$bin"
	same_as_plain "sqlite go$v" "$work/sqplain$v"
	truth=$(awk '$1 == "sqlite3_memory_used" { print $2 }' "$work/sqplain$v.stdout")
	[ -s "$heap" ] && [ -n "$truth" ] || { fail "sqlite go$v: heap profile and SQLite's count"; continue; }
	inuse=$(bytes "$heap" inuse_space TOTAL) fill=$(bytes "$heap" inuse_space main.fill)
	check "sqlite go$v: in-use $inuse B, SQLite's own count $truth B within 10 %" \
		within "$inuse" "$truth" 0.10
	check "sqlite go$v: in-use under main.fill: $fill of $inuse B (>= 90 %: the pages it inserted)" \
		awk -v a="$fill" -v b="$inuse" 'BEGIN { exit !(b > 0 && a >= 0.90 * b) }'
	# The in-use stack whole, leaf to root: SQLite's C, the cgo call, the driver, main.fill.
	check "sqlite go$v: an in-use stack runs sqlite3_step, the cgo call, go-sqlite3, main.fill, runtime.main" \
		in_one_trace "$heap" inuse_space sqlite3_step runtime.asmcgocall runtime.cgocall \
		"github.com/mattn/go-sqlite3.(*SQLiteStmt).exec" main.fill main.main runtime.main
	cpu_in=$("$GO" tool pprof -top -cum -nodecount=1000 -focus='^sqlite3_step$' "$RUN_PROFILE" 2>/dev/null |
		awk '$NF == "sqlite3_step" { s = $4 } $NF == "main.main" { m = $4 } END { print s + 0, m + 0 }')
	check "sqlite go$v: CPU in sqlite3_step under main.main (its Go callers): ${cpu_in% *} s, of which ${cpu_in#* } s" \
		awk -v s="${cpu_in% *}" -v m="${cpu_in#* }" 'BEGIN { exit !(s > 0.2 && m >= 0.99 * s) }'
done
# --- a running program's endpoint, and interval files compared with -base -----------------
bin="$work/go_cmem-hold"
if (cd "$top_srcdir/tests/fixtures/go_cmem" && CGO_ENABLED=1 "$GO" build -o "$bin" .); then
	PORT=$(free_port)
	BASE=http://127.0.0.1:$PORT/debug/pprof
	start_bg "$work/hold" GOPROF_OUT="$work/hold.pb.gz" GOPROF_HEAP_RATE=64k \
		GOPROF_HEAP_OUT="$work/hold.heap.%n.pb.gz" GOPROF_INTERVAL=500ms \
		GOPROF_HTTP="127.0.0.1:$PORT" -- "$bin" -hold 1500ms
	app=$BG_PID
	sleep 0.8   # the first half is kept; the second comes at 1.5 s
	# Go's delta profile over [0.8 s, 1.8 s]: the second half only
	curl -s -o "$work/delta.pb.gz" -w '%{http_code}' "$BASE/heap?seconds=1" >"$work/delta.code" &
	delta_pid=$!
	PPROF_TMPDIR=$work "$GO" tool pprof -unit=B -sample_index=inuse_space -top -cum \
		"$BASE/heap" >"$work/live.top" 2>"$work/live.err"
	code=$(curl -s -o "$work/allocs.pb.gz" -w '%{http_code}' "$BASE/allocs")
	wait "$app"
	wait "$delta_pid"
	check "endpoint: go tool pprof read /debug/pprof/heap of the running program" \
		grep -q "main.leakHalf" "$work/live.top"
	live=$(awk '$NF == "main.leakHalf" { c = $4; sub(/B$/, "", c); print c }' "$work/live.top")
	check "endpoint: in-use under main.leakHalf ${live:-?} B, 32 MiB within 15 %" \
		within "${live:-0}" $((32 * MIB)) 0.15
	check "endpoint: /debug/pprof/allocs answers 200 with a profile ($code)" \
		sh -c '[ "$1" = 200 ] && "$2" tool pprof -raw "$3" >/dev/null 2>&1' _ "$code" "$GO" "$work/allocs.pb.gz"
	dgrow=$("$GO" tool pprof -unit=B -sample_index=inuse_space -top -cum "$work/delta.pb.gz" 2>/dev/null |
		awk '$NF == "main.leakHalf" { c = $4; sub(/B$/, "", c); print c }')
	dur=$("$GO" tool pprof -raw "$work/delta.pb.gz" 2>/dev/null | sed -n 's/^Duration: //p')
	check "endpoint: heap?seconds=1 ($(cat "$work/delta.code"), $dur) is the second half's growth, ${dgrow:-?} B (32 MiB within 15 %)" \
		within "${dgrow:-0}" $((32 * MIB)) 0.15
	check "endpoint: the delta profile's duration is its 1 s (${dur:-?})" \
		awk -v d="${dur%s}" 'BEGIN { exit !(d >= 0.95 && d <= 1.5) }'
	files=$(ls "$work"/hold.heap.*.pb.gz 2>/dev/null | sort -t. -k3 -n)
	first=$(echo "$files" | head -n 1) last=$(echo "$files" | tail -n 1)
	check "intervals: several heap files ($(echo "$files" | wc -l))" test "$(echo "$files" | wc -l)" -ge 3
	grow=$("$GO" tool pprof -unit=B -sample_index=inuse_space -top -cum -base "$first" "$last" 2>/dev/null |
		awk '$NF == "main.leakHalf" { c = $4; sub(/B$/, "", c); print c }')
	check "intervals: -base first last shows the second half's growth, ${grow:-?} B (32 MiB within 15 %)" \
		within "${grow:-0}" $((32 * MIB)) 0.15
else
	fail "build go_cmem"
fi
summary && { [ -n "${LIBGOPROF_TEST_KEEP:-}" ] || rm -rf "$work"; }
