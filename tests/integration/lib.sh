# lib.sh -- helpers for libgoprof integration tests. Source it from a bash script:
#
#   . "$(dirname "$0")/lib.sh"
#
# Environment (all optional):
#   top_srcdir   source tree root (default: two levels above this file)
#   top_builddir build tree root (default: $top_srcdir)
#   LIBGOPROF    the library to preload (default: $top_builddir/.libs/libgoprof.so, else
#                $top_srcdir/build/.libs/libgoprof.so as built by scripts/build.sh)
#   PRELOAD_FIRST  a library preloaded before LIBGOPROF by run_profiled (the sanitizer runtime
#                in tests/stress/test_asan.sh)
#   LIBGOPROF_CACHE cache root shared with scripts/go-toolchain.sh (default: ~/.cache/libgoprof)
#   LIBGOPROF_TEST_KEEP=1  keep the work directory (default: removed when every check passed)
#
# Functions:
#   need_go                 sets $GO (Go 1.26 from scripts/go-toolchain.sh) and a Go env
#   build_profcheck DIR     builds DIR/profcheck (tests/tools/profcheck); sets PROFCHECK
#   build_fixtures DIR      puts DIR/c_threads, DIR/go_cgo and DIR/profcheck (built once per
#                           build tree); sets $C_THREADS, $GO_CGO, $PROFCHECK
#   run_profiled OUT [--kill-after=SECS] [--no-profile] [VAR=VALUE ...] -- CMD [ARG ...]
#                           runs CMD with LD_PRELOAD=$LIBGOPROF GOPROF_OUT=OUT (+ VAR=VALUE,
#                           and no other GOPROF_* variable);
#                           stdout, stderr and exit status go to OUT.stdout, OUT.stderr,
#                           OUT.status (also $RUN_STDOUT $RUN_STDERR $RUN_STATUS_FILE, and the
#                           status in $RUN_STATUS; CMD's pid, the session's leader, in
#                           $RUN_PID); then waits up to 10 s for the profile at OUT (the
#                           whole process tree's: it appears when the tree's last process
#                           has ended); sets $RUN_PROFILE to it.
#                           Returns 0 if a non-empty profile appeared, 1 if not (and says so
#                           when it appeared at OUT.<pid> instead: the name was held by
#                           another session, which no test expects).
#                           --no-profile: instead wait $NO_PROFILE_WAIT s (default 3) and
#                           return 0 if no profile appeared.
#                           --kill-after=SECS: send SIGKILL to CMD after SECS seconds.
#   run_plain PREFIX -- CMD [ARG ...]
#                           same capture without the preload (PREFIX.stdout/.stderr/.status)
#   pprof_ok FILE           `go tool pprof -top/-traces/-raw/-tags FILE` all succeed
#   samples_of PROFILE FUNC summed count of the samples whose stack contains FUNC
#   samples_of_pid PROFILE FUNC PID   the same, of the samples labelled pid=PID only
#   cpu_of_pid PROFILE PID  summed cpu_ns of the samples labelled pid=PID
#   pids_of PROFILE [FUNC]  the distinct pid labels of the samples (whose stack contains
#                           FUNC), sorted numerically, space-separated ("-": no pid label)
#   rooted_of PROFILE       "<rooted> <plain>": summed counts of the samples whose root frame
#                           is a process frame "[process: NAME]", and of the others
#   processes_of PROFILE    the profile's "processes: N joined, M with samples, R refused"
#                           comment, from "processes:" on
#   within_pct PCT GOT WANT |GOT - WANT| <= PCT % of WANT (WANT > 0)
#   segments_apart EXE      EXE is a non-PIE executable with unmapped pages between two of its
#                           PT_LOAD segments
#   pass MSG / fail MSG     count and print a result line
#   check MSG CMD...        run CMD; pass MSG if it succeeds, else fail MSG
#   summary                 prints "N passed, N failed"; returns 1 if any failed
#
# Nothing here uses `set -e`: a failing check is counted and the script goes on.

_lib_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
: "${top_srcdir:=$(cd "$_lib_dir/../.." && pwd)}"
: "${top_builddir:=$top_srcdir}"
if [ -z "${LIBGOPROF:-}" ]; then
	LIBGOPROF=$top_builddir/.libs/libgoprof.so
	# scripts/build.sh builds out of tree in build/.
	if [ ! -f "$LIBGOPROF" ] && [ -f "$top_srcdir/build/.libs/libgoprof.so" ]; then
		LIBGOPROF=$top_srcdir/build/.libs/libgoprof.so
	fi
fi
: "${LIBGOPROF_CACHE:=${HOME:-/tmp}/.cache/libgoprof}"
: "${NO_PROFILE_WAIT:=3}"
export top_srcdir top_builddir LIBGOPROF

PASSED=0
FAILED=0

pass() {
	PASSED=$((PASSED + 1))
	printf 'PASS: %s\n' "$*"
}

fail() {
	FAILED=$((FAILED + 1))
	printf 'FAIL: %s\n' "$*"
}

# note MSG: an indented detail line under the last result.
note() {
	printf '      %s\n' "$*"
}

# show_file FILE [MAXLINES]: indented dump of a file, for failure context.
show_file() {
	[ -f "$1" ] || { note "($1 does not exist)"; return; }
	head -n "${2:-20}" "$1" | sed 's/^/      | /'
}

check() {
	local msg=$1
	shift
	local out
	if out=$("$@" 2>&1); then
		pass "$msg"
	else
		fail "$msg"
		printf '%s\n' "$out" | head -n 30 | sed 's/^/      | /'
	fi
}

summary() {
	printf '%d passed, %d failed\n' "$PASSED" "$FAILED"
	[ "$FAILED" -eq 0 ]
}

# free_port: a loopback TCP port nobody listens on (one of 10 random tries), or nothing.
free_port() {
	local p
	for _ in 1 2 3 4 5 6 7 8 9 10; do
		p=$((20000 + RANDOM % 30000))
		if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then echo "$p"; return 0; fi
	done
	return 1
}

# stress_setup NAME: the common start of a tests/stress script. $work: a fresh directory
# (absolute); the Go toolchain ($GO) and the common fixtures in $work/bin ($C_THREADS, $GO_CGO,
# $PROFCHECK); $fx: tests/stress/fixtures; $SECS: LIBGOPROF_STRESS_SECONDS (default 3). A
# failure here ends the script through finish.
stress_setup() {
	SECS=${LIBGOPROF_STRESS_SECONDS:-3}
	fx=$top_srcdir/tests/stress/fixtures
	work=$(mktemp -d "${TMPDIR:-/tmp}/libgoprof-$1.XXXXXX") || { fail "mktemp"; finish; }
	work=$(cd "$work" && pwd)
	need_go || { fail "Go toolchain"; finish; }
	build_fixtures "$work/bin" || { fail "build fixtures"; finish; }
	echo "# LIBGOPROF_STRESS_SECONDS=$SECS, work directory $work"
}

# finish: runs $FINISH_HOOK if set (test_env's unmounts), prints the summary and exits with
# its verdict; $work is removed when every check passed and LIBGOPROF_TEST_KEEP is unset.
finish() {
	[ -z "${FINISH_HOOK:-}" ] || "$FINISH_HOOK"
	summary
	local rc=$?
	if [ "$rc" = 0 ] && [ -z "${LIBGOPROF_TEST_KEEP:-}" ]; then
		rm -rf "${work:?}"
	else
		echo "# kept ${work:-}"
	fi
	exit $rc
}

need_go() {
	local goroot
	if ! goroot=$("$top_srcdir/scripts/go-toolchain.sh" 1.26); then
		echo "lib.sh: scripts/go-toolchain.sh 1.26 failed" >&2
		return 1
	fi
	GO=$goroot/bin/go
	if [ ! -x "$GO" ]; then
		echo "lib.sh: no go binary at $GO" >&2
		return 1
	fi
	export GO
	export GOCACHE="$LIBGOPROF_CACHE/gocache"
	export GOFLAGS='' GOTOOLCHAIN=local GO111MODULE=on GOPROXY=off GOSUMDB=off
	export GOPATH="$LIBGOPROF_CACHE/gopath"
	mkdir -p "$GOCACHE" "$GOPATH"
	# The tests need the toolchain itself unprofiled.
	unset LD_PRELOAD
	return 0
}

# in_one_trace FILE INDEX F1 F2 ...: some stack of go tool pprof -traces has F1, F2, ... in this
# order, leaf first (not necessarily next to each other); a name ending in '*' is a prefix.
in_one_trace() {
	local file=$1 index=$2
	shift 2
	"$GO" tool pprof -sample_index="$index" -traces "$file" 2>/dev/null |
		awk -v chain="$*" 'BEGIN { n = split(chain, want, " ") }
			/^-+\+-+$/ { k = 1; next }
			{ sub(/ \(inline\)$/, ""); sub(/^ *[0-9.]+[a-zA-Z]* +/, ""); sub(/^ +/, "") }
			{ w = want[k]; p = w ~ /\*$/ ? substr(w, 1, length(w) - 1) : "" }
			(p != "" ? index($0, p) == 1 : $0 == w) { if (++k > n) found = 1 }
			END { exit !found }'
}
# go_build_fixture FIXTURE VERSION OUT [FLAGS...]: tests/fixtures/FIXTURE built with cgo by the
# Go VERSION toolchain (scripts/go-toolchain.sh) into OUT.
go_build_fixture() {
	local fx=$1 v=$2 out=$3 goroot
	shift 3
	goroot=$("$top_srcdir/scripts/go-toolchain.sh" "$v") || return 1
	(cd "$top_srcdir/tests/fixtures/$fx" && CGO_ENABLED=1 "$goroot/bin/go" build "$@" -o "$out" .)
}
# build_profcheck DIR: tests/tools/profcheck built into DIR/profcheck; sets PROFCHECK.
build_profcheck() {
	(cd "$top_srcdir/tests/tools/profcheck" && CGO_ENABLED=0 "$GO" build -o "$1/profcheck" .) ||
		return 1
	PROFCHECK=$1/profcheck
	export PROFCHECK
}

# build_fixtures DIR: the common fixtures into DIR. They are built once per build tree and
# source (tests/fixture-cache/<hash of their sources, this file and the Go version> under
# $top_builddir) and copied from there: twenty tests each linking the same three programs
# took a minute of make check.
build_fixtures() {
	local dir=$1 fx="$top_srcdir/tests/fixtures" key cache tmp
	[ -n "$dir" ] || { echo "usage: build_fixtures DIR" >&2; return 1; }
	[ -n "${GO:-}" ] || need_go || return 1
	mkdir -p "$dir" || return 1
	dir=$(cd "$dir" && pwd)
	key=$({ find "$fx/c_threads" "$fx/go_cgo" "$top_srcdir/tests/tools/profcheck" -type f |
		LC_ALL=C sort | xargs cat; cat "$top_srcdir/tests/integration/lib.sh"; "$GO" version; } |
		sha1sum | cut -c1-16)
	# absolute: the builds run in the fixtures' directories
	cache=$(cd "${top_builddir:-$top_srcdir}" && pwd)/tests/fixture-cache/$key || return 1
	if [ ! -x "$cache/profcheck" ]; then
		mkdir -p "${cache%/*}" && tmp=$(mktemp -d "${cache%/*}/.build.XXXXXX") || return 1
		_build_fixtures_into "$tmp" || { rm -rf "$tmp"; return 1; }
		# Another test may have built the same key meanwhile: the first rename wins.
		mv -T "$tmp" "$cache" 2>/dev/null || rm -rf "$tmp"
	fi
	cp "$cache/c_threads" "$cache/go_cgo" "$cache/profcheck" "$dir/" || return 1
	C_THREADS=$dir/c_threads
	GO_CGO=$dir/go_cgo
	PROFCHECK=$dir/profcheck
	export C_THREADS GO_CGO PROFCHECK
	return 0
}

_build_fixtures_into() {
	local dir=$1 fx="$top_srcdir/tests/fixtures"
	if ! gcc -O1 -fno-omit-frame-pointer -fno-inline -pthread -Wall -o "$dir/c_threads" \
		"$fx/c_threads/c_threads.c"; then
		echo "lib.sh: building c_threads failed" >&2
		return 1
	fi
	if ! (cd "$fx/go_cgo" && CGO_ENABLED=1 "$GO" build -o "$dir/go_cgo" .); then
		echo "lib.sh: building go_cgo failed" >&2
		return 1
	fi
	if ! build_profcheck "$dir"; then
		echo "lib.sh: building profcheck failed" >&2
		return 1
	fi
}

# _capture PREFIX KILL_AFTER CMD...: run CMD (env already set up by the caller's `env`),
# capture output, optionally SIGKILL it; sets RUN_* and _RUN_PID.
_capture() {
	local prefix=$1 kill_after=$2 killer=
	shift 2
	RUN_STDOUT=$prefix.stdout
	RUN_STDERR=$prefix.stderr
	RUN_STATUS_FILE=$prefix.status
	"$@" >"$RUN_STDOUT" 2>"$RUN_STDERR" </dev/null &
	_RUN_PID=$!
	RUN_PID=$_RUN_PID   # env(1) execs CMD: the same pid
	if [ -n "$kill_after" ]; then
		(sleep "$kill_after" && kill -KILL "$_RUN_PID" 2>/dev/null) &
		killer=$!
	fi
	wait "$_RUN_PID" 2>/dev/null # no "Killed" job notice
	RUN_STATUS=$?
	if [ -n "$killer" ]; then
		kill "$killer" 2>/dev/null
		wait "$killer" 2>/dev/null
	fi
	echo "$RUN_STATUS" >"$RUN_STATUS_FILE"
}

# COLLECTOR_PAUSED: a command prefix that runs CMD ... under bash, the session's leader, and
# stops the session's collector (goprof-<bash's pid>) with SIGSTOP from 0.3 s to 0.7 s into
# the run, so that a small ring overflows whatever the drain period:
#   run_profiled OUT [VAR=VAL ...] -- "${COLLECTOR_PAUSED[@]}" CMD ...
COLLECTOR_PAUSED=(bash -c '"$@" & sleep 0.3; c=$(pgrep -x "goprof-$$"); kill -STOP $c
sleep 0.4; kill -CONT $c; wait $!' _)

# _goprof_unsets: sets the array _UNSETS to "-u NAME" for every GOPROF_* variable in the
# environment (arguments for env(1)).
_goprof_unsets() {
	local v
	_UNSETS=()
	for v in $(compgen -e); do
		case $v in GOPROF_*) _UNSETS+=(-u "$v") ;; esac
	done
}

run_profiled() {
	local out=$1 kill_after='' no_profile=0 i
	local -a vars=()
	shift
	while [ $# -gt 0 ] && [ "$1" != "--" ]; do
		case $1 in
		--kill-after=*) kill_after=${1#--kill-after=} ;;
		--no-profile) no_profile=1 ;;
		*=*) vars+=("$1") ;;
		*) echo "run_profiled: unexpected argument '$1' (missing --?)" >&2; return 2 ;;
		esac
		shift
	done
	if [ "${1:-}" != "--" ] || [ $# -lt 2 ]; then
		echo "usage: run_profiled OUT [--kill-after=SECS] [--no-profile] [VAR=VAL ...] -- CMD ..." >&2
		return 2
	fi
	shift
	if [ ! -f "$LIBGOPROF" ]; then
		echo "run_profiled: LIBGOPROF=$LIBGOPROF does not exist" >&2
	fi
	rm -f "$out"
	# The library sees exactly the configuration given here: every GOPROF_* variable
	# inherited from the caller is removed (the library warns about unknown ones).
	# GOPROF_OUT comes first so that a VAR=VALUE (e.g. GOPROF_OUT='%q') overrides it.
	_goprof_unsets
	_capture "$out" "$kill_after" env "${_UNSETS[@]}" \
		LD_PRELOAD="${PRELOAD_FIRST:+$PRELOAD_FIRST }$LIBGOPROF" GOPROF_OUT="$out" \
		"${vars[@]}" "$@"
	RUN_PROFILE=
	local tries
	if [ "$no_profile" = 1 ]; then
		tries=$((NO_PROFILE_WAIT * 10))
	else
		tries=100 # 10 s
	fi
	# One session per process tree: its profile is at OUT. OUT.<pid> only if another session
	# held the name (output_claim.h), which is a failure here, said as such.
	for ((i = 0; i < tries; i++)); do
		if [ -s "$out" ]; then
			RUN_PROFILE=$out
			break
		fi
		if [ -s "$out.$_RUN_PID" ]; then
			echo "run_profiled: the profile is at $out.$_RUN_PID, not $out (the name was held by another session)"
			break
		fi
		sleep 0.1
	done
	if [ "$no_profile" = 1 ]; then
		[ -z "$RUN_PROFILE" ]
	else
		[ -n "$RUN_PROFILE" ]
	fi
}

# start_bg PREFIX VAR=VALUE... -- CMD...: starts CMD preloaded with exactly these GOPROF_*
# variables, output in PREFIX.stdout/.stderr; sets BG_PID.
start_bg() {
	local prefix=$1
	local -a vars=()
	shift
	while [ "$1" != "--" ]; do vars+=("$1"); shift; done
	shift
	_goprof_unsets
	env "${_UNSETS[@]}" LD_PRELOAD="$LIBGOPROF" "${vars[@]}" "$@" \
		>"$prefix.stdout" 2>"$prefix.stderr" </dev/null &
	BG_PID=$!
}

run_plain() {
	local prefix=$1
	shift
	if [ "${1:-}" != "--" ] || [ $# -lt 2 ]; then
		echo "usage: run_plain PREFIX -- CMD ..." >&2
		return 2
	fi
	shift
	_goprof_unsets
	_capture "$prefix" "" env -u LD_PRELOAD "${_UNSETS[@]}" "$@"
}

pprof_ok() {
	local f=$1 mode rc=0 out err
	[ -n "${GO:-}" ] || need_go || return 1
	if [ ! -s "$f" ]; then
		echo "pprof_ok: $f missing or empty"
		return 1
	fi
	out=$(mktemp) err=$(mktemp)
	for mode in -top -traces -raw -tags; do
		if ! "$GO" tool pprof "$mode" "$f" >"$out" 2>"$err"; then
			echo "pprof_ok: go tool pprof $mode $f failed:"
			head -n 10 "$err"
			rc=1
		elif grep -Eiq 'error|malformed|unrecognized|parsing profile|mismatch|nil (location|function)|concatenated' "$err"; then
			echo "pprof_ok: go tool pprof $mode $f reported:"
			head -n 10 "$err"
			rc=1
		elif [ "$mode" != -tags ] && [ ! -s "$out" ]; then
			echo "pprof_ok: go tool pprof $mode $f printed nothing"
			rc=1
		fi
	done
	rm -f "$out" "$err"
	return $rc
}

# strip_timing FILE: stdout minus the lines that vary between runs.
strip_timing() {
	grep -Ev '^(cpu_ns=|cpu main=)' "$1"
}

# same_as_plain NAME PLAIN_PREFIX: stdout (timing lines stripped), stderr and exit status of the
# last run_profiled equal those of the run_plain at PLAIN_PREFIX.
same_as_plain() {
	local name=$1 plain=$2
	check "$name: exit status unchanged ($(cat "$plain.status"))" \
		test "$RUN_STATUS" = "$(cat "$plain.status")"
	check "$name: stdout identical" cmp -s <(strip_timing "$plain.stdout") <(strip_timing "$RUN_STDOUT")
	check "$name: stderr identical" cmp -s "$plain.stderr" "$RUN_STDERR"
}

# both_ways NAME [VAR=VAL ...] -- CMD...: CMD without libgoprof (prefix $D/plain) and with it
# (profile $D/prof.pb.gz, with the VARs), then same_as_plain NAME; got: run_profiled's status.
both_ways() {
	local name=$1
	local -a vars=()
	shift
	while [ "$1" != "--" ]; do vars+=("$1"); shift; done
	run_plain "$D/plain" "$@"
	run_profiled "$D/prof.pb.gz" "${vars[@]}" "$@"
	got=$?
	same_as_plain "$name" "$D/plain"
}

# samples_of PROFILE FUNC: summed count of the samples whose stack contains FUNC.
samples_of() {
	"$PROFCHECK" dump "$1" | awk -v f="$2" -F' \\| ' '
		!/^#/ { n = split($2, fr, ";"); for (i = 1; i <= n; i++) if (fr[i] == f) { split($1, c, " "); s += c[1]; break } }
		END { print s + 0 }'
}

# samples_of_pid PROFILE FUNC PID: summed count of the samples labelled pid=PID whose stack
# contains FUNC.
samples_of_pid() {
	"$PROFCHECK" dump "$1" | awk -v f="$2" -v pid="$3" -F' \\| ' '
		!/^#/ && (" " $1 " ") ~ (" pid=" pid " ") {
			n = split($2, fr, ";"); for (i = 1; i <= n; i++) if (fr[i] == f) { split($1, c, " "); s += c[1]; break } }
		END { print s + 0 }'
}

# cpu_of_pid PROFILE PID: summed cpu_ns of the samples labelled pid=PID.
cpu_of_pid() {
	"$PROFCHECK" dump "$1" | awk -v pid="$2" -F' \\| ' '
		!/^#/ && (" " $1 " ") ~ (" pid=" pid " ") { split($1, c, " "); s += c[2] }
		END { print s + 0 }'
}

# pids_of PROFILE [FUNC]: the distinct pid labels of the samples (whose stack contains FUNC),
# sorted numerically and space-separated; "-" stands for samples without a pid label.
pids_of() {
	"$PROFCHECK" dump "$1" | awk -v f="${2:-}" -F' \\| ' '
		!/^#/ {
			if (f != "") { n = split($2, fr, ";"); hit = 0; for (i = 1; i <= n; i++) if (fr[i] == f) hit = 1; if (!hit) next }
			p = "-"; m = split($1, l, " "); for (i = 3; i <= m; i++) if (l[i] ~ /^pid=/) p = substr(l[i], 5)
			print p
		}' | sort -u -n | tr '\n' ' ' | sed 's/ $//'
}

# rooted_of PROFILE: "<rooted> <plain>": the summed counts of the samples whose root frame is a
# process frame ("[process: NAME]", every process of a session but its leader) and of the others.
rooted_of() {
	"$PROFCHECK" dump "$1" | awk -F' \\| ' '
		!/^#/ { split($1, c, " "); if (index($2, "[process: ") == 1) r += c[1]; else o += c[1] }
		END { print r + 0, o + 0 }'
}

# processes_of PROFILE: the "processes: N joined, M with samples, R refused" comment, from
# "processes:" on (empty if there is none).
processes_of() {
	"$PROFCHECK" dump "$1" | sed -n 's/^# comment: \(processes: .*\)$/\1/p' | head -n 1
}

# within_pct PCT GOT WANT: |GOT - WANT| <= PCT % of WANT, WANT > 0.
within_pct() {
	awk -v p="$1" -v a="$2" -v b="$3" 'BEGIN { d = a - b; if (d < 0) d = -d; exit !(b > 0 && d <= b * p / 100) }'
}

# segments_apart EXE: a non-PIE executable (ET_EXEC) with a page or more unmapped between one
# PT_LOAD segment's last page and the next one's first (the dynamic linker's test of whether
# the executable is contiguous).
segments_apart() {
	readelf -h "$1" | grep -q "Type: *EXEC" || return 1
	local vaddr memsz end=0
	while read -r vaddr memsz; do
		[ "$end" -gt 0 ] && [ $((vaddr & ~4095)) -gt $(((end + 4095) & ~4095)) ] && return 0
		end=$((vaddr + memsz))
	done < <(readelf -l -W "$1" | awk '$1 == "LOAD" { print $3, $6 }')
	return 1
}

# field_of FILE KEY: the value of "KEY=<v>" anywhere in FILE (first match).
field_of() {
	grep -o "$2=[0-9]*" "$1" | head -n 1 | cut -d= -f2
}
