#!/bin/bash
# test_continuous.sh -- profiles from a running program: interval files (GOPROF_INTERVAL), the
# SIGUSR1 snapshot, and the HTTP endpoint (GOPROF_HTTP) that go tool pprof fetches from.
#
#   LIBGOPROF=/path/to/libgoprof.so tests/integration/test_continuous.sh
#
# The program is tests/fixtures/go_httpd: a Go HTTP server whose handler calls C
# (main.handleWork -> main.hashBlock -> c_hash_block -> c_mix), loaded by its own bounded
# loopback client loop. About 40 s. Prints PASS:/FAIL: lines and "N passed, N failed".

. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

WORK=${TEST_WORKDIR:-$(mktemp -d "${TMPDIR:-/tmp}/goprof-continuous.XXXXXX")}
mkdir -p "$WORK"
echo "# work directory: $WORK"
echo "# LIBGOPROF=$LIBGOPROF"
BGPIDS=()

finish() {
	local p
	for p in "${BGPIDS[@]}"; do kill "$p" 2>/dev/null; done
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
if ! build_fixtures "$WORK/bin" ||
	! (cd "$top_srcdir/tests/fixtures/go_httpd" && CGO_ENABLED=1 "$GO" build -o "$WORK/bin/go_httpd" .); then
	fail "build fixtures (go_httpd, profcheck)"
	finish
fi
GO_HTTPD=$WORK/bin/go_httpd
pass "build fixtures"
if [ ! -f "$LIBGOPROF" ]; then
	fail "LIBGOPROF=$LIBGOPROF does not exist (build the library first)"
	finish
fi

# wait_bg PREFIX: waits for start_bg's (lib.sh) command and writes PREFIX.status.
wait_bg() {
	wait "$BG_PID"
	echo $? >"$1.status"
}

# wait_for FILE SECS: until FILE exists (0) or SECS pass (1).
wait_for() {
	local i
	for ((i = 0; i < $2 * 20; i++)); do
		[ -e "$1" ] && return 0
		sleep 0.05
	done
	return 1
}

# collector_of PID: the pid of PID's collector, found by its documented name goprof-<pid>.
collector_of() {
	pgrep -x "goprof-$1"
}

# watch_dir DIR PID LOG: until PID is gone and its files are written, lists DIR every 20 ms;
# each name is a final one (then profcheck must accept it at once: it appeared whole) or the
# documented temporary "<name>.tmp.<pid>". Anything else, or an invalid file, goes to LOG.
watch_dir() {
	local dir=$1 pid=$2 log=$3 f
	local -A seen=()
	local until=0
	: >"$log"
	while :; do
		for f in "$dir"/*; do
			[ -e "$f" ] || continue
			case $f in
			*.tmp.[0-9]*) [[ $f =~ \.tmp\.[0-9]+$ ]] || echo "odd name $f" >>"$log" ;;
			*)
				[ -n "${seen[$f]:-}" ] && continue
				seen[$f]=1
				"$PROFCHECK" check "$f" >/dev/null 2>&1 || echo "not whole when it appeared: $f" >>"$log"
				;;
			esac
		done
		if ! kill -0 "$pid" 2>/dev/null; then
			[ "$until" = 0 ] && until=$((SECONDS + 3))
			[ "$SECONDS" -ge "$until" ] && break
		fi
		sleep 0.02
	done
	echo "seen ${#seen[@]}" >>"$log"
}

# same_stdout WHAT PREFIX WANT: stdout minus the cpu_ns line is WANT, stderr is empty.
same_stdout() {
	if [ "$(strip_timing "$2.stdout")" = "$3" ] && [ ! -s "$2.stderr" ]; then
		pass "$1: program output unchanged, stderr empty"
	else
		fail "$1: program output changed"
		show_file "$2.stdout"
		show_file "$2.stderr"
	fi
}

# ---------------------------------------------------------------------------------------
# 1. Interval files: one per 400 ms, each its own span and samples, tiling the run.
D=$WORK/interval
mkdir -p "$D/out"
start_bg "$D/run" GOPROF_OUT="$D/out/cpu.%n.%t.pb.gz" GOPROF_INTERVAL=400ms -- "$GO_HTTPD" -d 3s -exit 4
watch_dir "$D/out" "$BG_PID" "$D/watch.log" &
WATCHER=$!
wait_bg "$D/run"
wait "$WATCHER"
mapfile -t files < <(ls "$D/out" | grep -v '\.tmp\.' | sort -t. -k2 -n | sed "s|^|$D/out/|")
if [ "$(cat "$D/run.status")" = 4 ]; then pass "interval: exit status 4 kept"; else fail "interval: exit status $(cat "$D/run.status")"; fi
same_stdout "interval" "$D/run" "$(printf 'go_httpd: d=3s exit=4\ngo_httpd: done')"
# 3 s of load plus start-up, 400 ms each: 8 or 9 files, the last one partial.
if [ "${#files[@]}" -ge 7 ] && [ "${#files[@]}" -le 11 ]; then
	pass "interval: ${#files[@]} files for a 3 s run at 400 ms"
else
	fail "interval: ${#files[@]} files for a 3 s run at 400 ms, want 7-11"
	ls -la "$D/out" | sed 's/^/      | /'
fi
# %t is each interval's own start: the names follow the time_nanos.
if [ "${#files[@]}" -gt 0 ] && check_names=$(for f in "${files[@]}"; do
	t=$("$PROFCHECK" dump "$f" | sed -n 's/^# time_nanos: //p')
	want=$(date -u -d "@$((t / 1000000000))" +%Y%m%dT%H%M%S)
	case $f in *".$want.pb.gz") ;; *) echo "$f: time_nanos $t, want %t $want" ;; esac
done) && [ -z "$check_names" ]; then
	pass "interval: %n numbers the files from 1, %t is each interval's start"
else
	fail "interval: file names do not match their intervals"
	note "$check_names"
fi
check "interval: ordered, contiguous time ranges; samples sum exactly to the run's count" \
	"$PROFCHECK" series --min-files 7 --max-gap 0 --expect-run "${files[@]}"
"$PROFCHECK" series "${files[@]}" | tail -n 4 | sed 's/^/      /'
# Against the kernel's count of the program's CPU time, independently of libgoprof.
sum_cpu=$("$PROFCHECK" series "${files[@]}" | sed -n 's/^cpu_ns //p')
rusage_cpu=$(field_of "$D/run.stdout" cpu_ns)
if [ -n "$sum_cpu" ] && [ -n "$rusage_cpu" ] &&
	awk -v a="$sum_cpu" -v b="$rusage_cpu" 'BEGIN { r = a / b; exit !(r > 0.9 && r < 1.1) }'; then
	pass "interval: summed cpu_ns $sum_cpu within 10 % of getrusage $rusage_cpu"
else
	fail "interval: summed cpu_ns $sum_cpu vs getrusage $rusage_cpu (want within 10 %)"
fi
empty=0
for f in "${files[@]:1:${#files[@]}-2}"; do # full intervals of a busy program
	c=$("$PROFCHECK" total "$f" | sed -n 's/^count //p')
	[ "${c:-0}" -ge 10 ] || empty=$((empty + 1))
done
if [ "$empty" = 0 ]; then pass "interval: every full interval has its own samples (>= 10)"; else fail "interval: $empty full intervals with < 10 samples"; fi
if [ "$(tail -n 1 "$D/watch.log")" != "seen 0" ] && [ "$(grep -cv '^seen' "$D/watch.log")" = 0 ]; then
	pass "interval: every file valid the moment it appeared; no other names ($(tail -n 1 "$D/watch.log"))"
else
	fail "interval: half-written or odd files seen"
	show_file "$D/watch.log"
fi
[ "${#files[@]}" -gt 0 ] && check "interval: go tool pprof opens a file" pprof_ok "${files[0]}"

# 1b. Without %n in GOPROF_OUT, interval files get ".N".
D=$WORK/interval_nonum
mkdir -p "$D/out"
start_bg "$D/run" GOPROF_OUT="$D/out/cpu.pb.gz" GOPROF_INTERVAL=300ms -- "$GO_HTTPD" -d 1s
wait_bg "$D/run"
wait_for "$D/out/cpu.pb.gz.3" 5
sleep 0.5
names=$(cd "$D/out" && ls | tr '\n' ' ')
if [ -s "$D/out/cpu.pb.gz.1" ] && [ -s "$D/out/cpu.pb.gz.3" ] && [ ! -e "$D/out/cpu.pb.gz" ]; then
	pass "interval without %n: files cpu.pb.gz.1, .2, ... ($names)"
else
	fail "interval without %n: got $names"
fi

# ---------------------------------------------------------------------------------------
# 2. SIGUSR1 to the collector (goprof-<pid>): a profile now, the program runs on.
D=$WORK/signal
mkdir -p "$D"
start_bg "$D/run" GOPROF_OUT="$D/cpu.pb.gz" -- "$GO_HTTPD" -d 3s -exit 3
APP=$BG_PID
sleep 1
COLL=$(collector_of "$APP")
if [ -n "$COLL" ] && [ "$COLL" != "$APP" ]; then pass "signal: collector found as goprof-$APP (pid $COLL)"; else fail "signal: no process named goprof-$APP"; fi
[ -n "$COLL" ] && kill -USR1 "$COLL"
if wait_for "$D/cpu.pb.gz" 2 && kill -0 "$APP" 2>/dev/null; then
	pass "signal: snapshot written while the program still runs"
	cp "$D/cpu.pb.gz" "$D/snapshot.pb.gz"
	check "signal: snapshot is a valid profile" "$PROFCHECK" check "$D/snapshot.pb.gz"
	check "signal: snapshot says so" grep -q '^# comment: samples [0-9]*, lost 0, unsampled [0-9]*, snapshot by SIGUSR1$' \
		<("$PROFCHECK" dump "$D/snapshot.pb.gz")
	check "signal: snapshot has the C leaf under its Go caller" \
		"$PROFCHECK" chain "$D/snapshot.pb.gz" --leaf c_mix --min 0.9 --min-samples 10 \
		--expect '...;main.handleWork;main.hashBlock;main._Cfunc_c_hash_block;...;c_hash_block;c_mix'
else
	fail "signal: no snapshot within 2 s of SIGUSR1, or the program died"
fi
wait_bg "$D/run"
if [ "$(cat "$D/run.status")" = 3 ]; then pass "signal: exit status 3 kept"; else fail "signal: exit status $(cat "$D/run.status"), want 3"; fi
same_stdout "signal" "$D/run" "$(printf 'go_httpd: d=3s exit=3\ngo_httpd: done')"
sleep 1
snap=$("$PROFCHECK" total "$D/snapshot.pb.gz" 2>/dev/null | sed -n 's/^count //p')
final=$("$PROFCHECK" total "$D/cpu.pb.gz" 2>/dev/null | sed -n 's/^count //p')
if [ -n "$snap" ] && [ -n "$final" ] && [ "$final" -gt "$snap" ] &&
	! "$PROFCHECK" dump "$D/cpu.pb.gz" | grep -q SIGUSR1; then
	pass "signal: the end of the run replaced it with the whole run ($snap then $final samples)"
else
	fail "signal: final profile ($final samples) does not extend the snapshot ($snap)"
fi

# 2b. In interval mode, SIGUSR1 ends the current interval at once.
D=$WORK/signal_interval
mkdir -p "$D"
start_bg "$D/run" GOPROF_OUT="$D/cpu.%n.pb.gz" GOPROF_INTERVAL=60s -- "$GO_HTTPD" -d 2s
APP=$BG_PID
sleep 1
COLL=$(collector_of "$APP")
[ -n "$COLL" ] && kill -USR1 "$COLL"
if wait_for "$D/cpu.1.pb.gz" 2 && kill -0 "$APP" 2>/dev/null; then
	pass "signal, interval mode: interval 1 cut short by SIGUSR1 while the program runs"
else
	fail "signal, interval mode: no cpu.1.pb.gz within 2 s of SIGUSR1"
fi
wait_bg "$D/run"
wait_for "$D/cpu.2.pb.gz" 5
sleep 0.3
check "signal, interval mode: two files tile the run" \
	"$PROFCHECK" series --min-files 2 --max-gap 0 --expect-run "$D/cpu.1.pb.gz" "$D/cpu.2.pb.gz"

# ---------------------------------------------------------------------------------------
# 3. GOPROF_HTTP: go tool pprof fetches a profile of the next N seconds from the collector.
D=$WORK/http
mkdir -p "$D"
PORT=$(free_port)
BASE=http://127.0.0.1:$PORT/debug/pprof
start_bg "$D/run" GOPROF_OUT="$D/cpu.pb.gz" GOPROF_HTTP="127.0.0.1:$PORT" -- "$GO_HTTPD" -d 7s -exit 5
APP=$BG_PID
ready=0
for _ in $(seq 1 100); do
	if [ "$(curl -s -o "$D/index.html" -w '%{http_code}' "$BASE/")" = 200 ]; then ready=1; break; fi
	sleep 0.05
done
if [ "$ready" = 1 ] && grep -q "profile?seconds=30" "$D/index.html"; then
	pass "http: index page at /debug/pprof/"
else
	fail "http: no index page at $BASE/"
fi
# Overlapping: go tool pprof over 3 s, two curl windows of 2 and 3 s, one of 30 s that the
# program's end (at 7 s) cuts short.
PPROF_TMPDIR=$D "$GO" tool pprof -top "$BASE/profile?seconds=3" >"$D/pprof.top" 2>"$D/pprof.err" &
PPROF=$!
curl -s --max-time 20 -o "$D/a.pb.gz" -w '%{http_code}' "$BASE/profile?seconds=2" >"$D/a.code" &
CA=$!
curl -s --max-time 20 -o "$D/b.pb.gz" -w '%{http_code}' "$BASE/profile?seconds=3" >"$D/b.code" &
CB=$!
curl -s --max-time 40 -o "$D/c.pb.gz" -w '%{http_code}' "$BASE/profile?seconds=30" >"$D/c.code" &
CC=$!
BGPIDS+=("$PPROF" "$CA" "$CB" "$CC")
# Bad requests, while those run.
for q in seconds=abc seconds=-1 seconds=99999999999 seconds=0 seconds=1.5 seconds=; do
	code=$(curl -s -o "$D/bad.body" -w '%{http_code}' "$BASE/profile?$q")
	if [ "$code" = 400 ] && grep -q "seconds" "$D/bad.body"; then
		pass "http: ?$q -> 400 with a text body"
	else
		fail "http: ?$q -> $code, want 400"
		show_file "$D/bad.body" 3
	fi
done
for path in /debug/pprof/heap /debug/pprof/profile/x /metrics /; do
	code=$(curl -s -o "$D/nf.body" -w '%{http_code}' "http://127.0.0.1:$PORT$path")
	if [ "$code" = 404 ] && [ -s "$D/nf.body" ]; then pass "http: $path -> 404"; else fail "http: $path -> $code, want 404"; fi
done
code=$(curl -s -X POST -o /dev/null -w '%{http_code}' "$BASE/profile?seconds=1")
if [ "$code" = 405 ]; then pass "http: POST -> 405"; else fail "http: POST -> $code, want 405"; fi
# /debug/pprof/symbol: go tool pprof POSTs there the addresses of a fetched profile's locations
# that have no name (code the vDSO does not export, a stripped library), and an error reply
# fails its whole fetch. Answered as Go does, with no address named (the profile has every name
# the collector found).
for how in "-X POST --data-binary 0x7f0000001000+0x401000" "-G --data-urlencode 0x401000"; do
	# shellcheck disable=SC2086
	code=$(curl -s $how -o "$D/symbol.body" -w '%{http_code}' "http://127.0.0.1:$PORT/debug/pprof/symbol")
	if [ "$code" = 200 ] && [ "$(cat "$D/symbol.body")" = "num_symbols: 1" ]; then
		pass "http: /debug/pprof/symbol (${how%% *}) -> 200 num_symbols: 1"
	else
		fail "http: /debug/pprof/symbol (${how%% *}) -> $code, want 200 num_symbols: 1"
		show_file "$D/symbol.body" 3
	fi
done
# A second profiled program asking for the same port: one stderr line, still profiled to file.
start_bg "$D/second" GOPROF_OUT="$D/second.pb.gz" GOPROF_HTTP="127.0.0.1:$PORT" -- "$GO_HTTPD" -d 1s
SECOND=$BG_PID
wait "$SECOND"
echo $? >"$D/second.status"
wait_for "$D/second.pb.gz" 5
if [ "$(cat "$D/second.status")" = 0 ] && [ "$(wc -l <"$D/second.stderr")" = 1 ] &&
	grep -q "^libgoprof: http: cannot listen on 127.0.0.1:$PORT: Address already in use" "$D/second.stderr" &&
	"$PROFCHECK" check "$D/second.pb.gz" >/dev/null 2>&1; then
	pass "http: port in use -> one stderr line, the program runs and is profiled to file"
else
	fail "http: port in use (status $(cat "$D/second.status"))"
	show_file "$D/second.stderr"
fi
wait "$PPROF"
if grep -Eq ' c_mix$' "$D/pprof.top" && grep -Eq ' main\.handleWork$' "$D/pprof.top"; then
	pass "http: go tool pprof -top $BASE/profile?seconds=3 shows c_mix and its Go caller main.handleWork"
else
	fail "http: go tool pprof -top from the endpoint"
	show_file "$D/pprof.top" 15
	show_file "$D/pprof.err" 5
fi
wait "$CA" "$CB"
for w in a:2 b:3; do
	f=$D/${w%:*}.pb.gz s=${w#*:}
	dur=$("$PROFCHECK" dump "$f" 2>/dev/null | sed -n 's/^# duration_nanos: //p')
	if [ "$(cat "$D/${w%:*}.code")" = 200 ] && "$PROFCHECK" check "$f" >/dev/null 2>&1 &&
		[ -n "$dur" ] && [ "$dur" -ge $((s * 1000000000)) ] && [ "$dur" -lt $((s * 1000000000 + 500000000)) ]; then
		pass "http: overlapping seconds=$s -> 200, a valid profile of ${dur} ns"
	else
		fail "http: overlapping seconds=$s -> $(cat "$D/${w%:*}.code"), duration ${dur:-?}"
	fi
done
check "http: the C leaf under its Go caller in a fetched profile" \
	"$PROFCHECK" chain "$D/b.pb.gz" --leaf c_mix --min 0.9 --min-samples 20 \
	--expect '...;main.handleWork;main.hashBlock;main._Cfunc_c_hash_block;...;c_hash_block;c_mix'
BG_PID=$APP
wait_bg "$D/run"
wait "$CC"
dur=$("$PROFCHECK" dump "$D/c.pb.gz" 2>/dev/null | sed -n 's/^# duration_nanos: //p')
if [ "$(cat "$D/c.code")" = 200 ] && "$PROFCHECK" check "$D/c.pb.gz" >/dev/null 2>&1 &&
	[ -n "$dur" ] && [ "$dur" -gt 3000000000 ] && [ "$dur" -lt 10000000000 ]; then
	pass "http: seconds=30 outlived by the program's end -> 200 with what was collected (${dur} ns)"
else
	fail "http: seconds=30 at the program's end -> $(cat "$D/c.code"), duration ${dur:-?}"
fi
if [ "$(cat "$D/run.status")" = 5 ]; then pass "http: exit status 5 kept"; else fail "http: exit status $(cat "$D/run.status")"; fi
same_stdout "http" "$D/run" "$(printf 'go_httpd: d=7s exit=5\ngo_httpd: done')"
wait_for "$D/cpu.pb.gz" 5
check "http: the run's own profile is still written" "$PROFCHECK" check "$D/cpu.pb.gz"
BGPIDS=()

# 3b. A non-loopback address without GOPROF_HTTP_ALLOW_REMOTE=1: the one-line config error.
D=$WORK/http_remote
mkdir -p "$D"
NO_PROFILE_WAIT=1
if run_profiled "$D/cpu.pb.gz" --no-profile GOPROF_HTTP="0.0.0.0:$PORT" -- "$GO_HTTPD" -d 300ms; then
	pass "http remote: no profile (profiling off)"
else
	fail "http remote: a profile was written"
fi
if [ "$(wc -l <"$RUN_STDERR")" = 1 ] &&
	grep -q '^libgoprof: config: GOPROF_HTTP="0.0.0.0:'"$PORT"'" is invalid (.*GOPROF_HTTP_ALLOW_REMOTE=1.*); profiling is off for this run$' "$RUN_STDERR" &&
	[ "$RUN_STATUS" = 0 ]; then
	pass "http remote: one config line naming GOPROF_HTTP and GOPROF_HTTP_ALLOW_REMOTE"
else
	fail "http remote: stderr / status $RUN_STATUS"
	show_file "$RUN_STDERR"
fi

finish
