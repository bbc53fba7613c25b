#!/bin/bash
# test_env.sh -- libgoprof's input: the GOPROF_* environment, the output directory, the program.
# Whatever it is given, the program runs exactly as without libgoprof (stdout, stderr, exit
# status), libgoprof adds at most one stderr line, and either a valid profile appears or
# nothing at all (no half-written or temporary file).
#
#   1. Every variable of the config table (read from it through mkman, so a new variable is
#      covered without editing this file) set to its default, empty, 100 000 characters,
#      negative, malformed, with a space, with a newline, 2^64+1 and 2^32+1; then boundary
#      values per variable, conflicting settings and unknown GOPROF_ names.
#   2. The output directory: read-only, missing, removed or made read-only during the run,
#      full (ENOSPC, a 64 KiB tmpfs); a symlink planted at the output path and at the
#      writer's temporary name (<path>.tmp.<collector pid>, src/lib/pprof/atomic_file.c), and a
#      directory at either. Mounts need root; without it those cases are skipped (SKIP lines).
#   3. Programs: a C program that carries a .go.buildinfo section but no Go tables, a stripped
#      Go binary (-ldflags='-s -w') and a stripped one from an unknown future Go (go1.99; the
#      unstripped -w case is tests/integration/test_goversions.sh).
#
# Each case is one run of tests/stress/fixtures/chatty.c (300 ms of CPU, 1 s for the cases
# that act while it runs; exit status 7) in an empty directory, compared with a run without
# the preload, then classified by what it left:
#   ok   no 'libgoprof:' line, profile(s) valid with the chain ...;main;chatty_spin
#   bad  one line naming the variable, no file at all
#   off  no line, no file (GOPROF_DISABLE=1)
#   warn one line naming the variable, and a valid profile (unknown GOPROF_ names)
#   fail one line (a write error at the end of the run), no file
# and the class must be the one the case expects.
. "$(dirname "$0")/../integration/lib.sh"

MOUNTS=()
unmount_all() {
	local m
	for m in "${MOUNTS[@]}"; do umount "$m" 2>/dev/null; done
	MOUNTS=()
}
trap unmount_all EXIT
FINISH_HOOK=unmount_all   # before $work (holding the mount points) is removed
stress_setup env
CHATTY=$work/bin/chatty
gcc -O1 -fno-omit-frame-pointer -fno-inline -Wall -o "$CHATTY" "$fx/chatty.c" ||
	{ fail "build chatty"; finish; }
MKMAN=$top_builddir/src/goprof/mkman
[ -x "$MKMAN" ] || MKMAN=$(dirname "$(dirname "$LIBGOPROF")")/src/goprof/mkman
REAPER=$work/bin/reaper
gcc -O1 -Wall -o "$REAPER" "$fx/reaper.c" || { fail "build reaper"; finish; }
# 300 ms of CPU: 30 ticks idle. With the CPUs shared, the kernel checks a CPU timer only at a
# tick that finds the thread running, and the expiries after its last such tick are never
# delivered (the collector counts them as unsampled): at 100 ms, with four busy threads on this
# 2-CPU VM, a timer delivered 0-9 of its 10 expiries and an interval case once had none.
CHATTY_MS=300
CHAIN='...;main;chatty_spin'

run_plain "$work/plain" -- "$CHATTY" "$CHATTY_MS" 7
check "plain chatty: exit status 7" test "$RUN_STATUS" = 7

# --- running a case -------------------------------------------------------------------
CASE_CMD=()
# env_run NAME [VAR=VALUE ...]: CASE_CMD (default: chatty $CHATTY_MS 7) with the preload and
# exactly these GOPROF_* variables (GOPROF_OUT=prof.pb.gz unless given), in the empty
# directory $work/NAME/cwd, under the reaper (fixtures/reaper.c): it returns once the
# collector, if any, has exited too, and $CASE/reaped has the collector's exit status. Sets
# CASE (the case directory) and CASE_STATUS; runs the function named by $DURING (if set) with
# the program's pid (CASE_PID) while it runs; CASE_FSIZE sets ulimit -f.
env_run() {
	local name=$1 a has_out=0
	shift
	CASE=$work/$name
	rm -rf "$CASE"
	mkdir -p "$CASE/cwd"
	for a in "$@"; do [[ $a == GOPROF_OUT=* ]] && has_out=1; done
	[ "$has_out" = 1 ] || set -- GOPROF_OUT=prof.pb.gz "$@"
	local -a cmd=("${CASE_CMD[@]}")
	# (a case that acts while the program runs gets 1 s: time to act before the end, even on a
	# loaded machine)
	[ ${#cmd[@]} -gt 0 ] || cmd=("$CHATTY" "$([ -n "${DURING:-}" ] && echo 1000 || echo "$CHATTY_MS")" 7)
	_goprof_unsets
	(cd "$CASE/cwd" && { [ -z "${CASE_FSIZE:-}" ] || ulimit -f "$CASE_FSIZE"; } && exec "$REAPER" -l "$CASE/reaped" -t 15 -- \
		env "${_UNSETS[@]}" LD_PRELOAD="$LIBGOPROF" "$@" "${cmd[@]}") \
		>"$CASE/stdout" 2>"$CASE/stderr" </dev/null &
	local reaper=$!
	if [ -n "${DURING:-}" ]; then
		local i
		for ((i = 0; i < 250; i++)); do
			# the oldest child: the collector is re-parented to the reaper too
			CASE_PID=$(pgrep -o -P "$reaper") && break
			sleep 0.02
		done
		"$DURING" "$CASE_PID"
	fi
	wait "$reaper"
	CASE_STATUS=$?
}

# live_collector PID: prints the pid of the live (not zombie: init may reap late) process
# named goprof-PID; 1 if there is none.
live_collector() {
	local p st
	for p in $(pgrep -x "goprof-$1"); do
		st=$(sed 's/.*) //' "/proc/$p/stat" 2>/dev/null | cut -d' ' -f1)
		[ -n "$st" ] && [ "$st" != Z ] && { echo "$p"; return 0; }
	done
	return 1
}

# collector_pid PID: the collector's pid, once it has named itself (at most 5 s).
collector_pid() {
	local i
	for ((i = 0; i < 250; i++)); do
		live_collector "$1" && return 0
		sleep 0.02
	done
	return 1
}

# valid_files FORMAT FILE...: each is a valid profile (pprof: profcheck; folded: every line
# 'frames count'), and together they hold >= 3 samples of chatty_spin under main.
valid_files() {
	local fmt=$1 f n=0 k out
	shift
	for f in "$@"; do
		if [ "$fmt" = folded ]; then
			if grep -Evq '^[^ ;][^;]*(;[^;]+)* [0-9]+$' "$f"; then
				echo "$f: not folded stacks:"; head -n 3 "$f"; return 1
			fi
			k=$(awk '/;main;chatty_spin [0-9]+$/ { s += $NF } END { print s + 0 }' "$f")
		else
			"$PROFCHECK" check "$f" >/dev/null || { "$PROFCHECK" check "$f"; return 1; }
			# (an interval's file may hold no sample of chatty_spin: 0, not a failure)
			out=$("$PROFCHECK" chain "$f" --leaf chatty_spin --expect "$CHAIN" --min 0.99 \
				--min-samples 0 2>&1)
			if [ $? = 0 ]; then
				k=$(sed -n 's/.*: \([0-9]*\) of [0-9]* samples (count) selected.*/\1/p' <<<"$out")
			elif [[ $out == *"no samples with leaf"* ]]; then
				k=0
			else
				echo "$f: $out"; return 1
			fi
		fi
		n=$((n + ${k:-0}))
	done
	[ "$n" -ge 3 ] || { echo "only $n samples of chatty_spin in $*"; return 1; }
}

# verify WHAT WANT NAMES [FORMAT [DIR [IGNORE]]]: the case just run left what WANT says (see
# the header), and the program behaved as in the plain run. NAMES: an ERE that the line must
# match; DIR (default the case's cwd) is where files are looked for, IGNORE an ERE of file
# names planted there by the case itself.
verify() {
	local what=$1 want=$2 names=$3 fmt=${4:-pprof} dir=${5:-$CASE/cwd} ignore=${6:-}
	local errs=() lines n got f
	local -a files=()
	if ! cmp -s "$work/plain.stdout" "$CASE/stdout"; then
		errs+=("stdout differs: $(head -c 200 "$CASE/stdout" | tr '\n' '|')")
	fi
	[ "$CASE_STATUS" = "$(cat "$work/plain.status")" ] ||
		errs+=("exit status $CASE_STATUS, want $(cat "$work/plain.status")")
	if ! cmp -s "$work/plain.stderr" <(grep -av '^libgoprof:' "$CASE/stderr"); then
		errs+=("stderr, without the libgoprof line, differs from the plain run's")
	fi
	lines=$(grep -ac '^libgoprof:' "$CASE/stderr")
	[ "$lines" -le 1 ] || errs+=("$lines 'libgoprof:' lines")
	shopt -s nullglob dotglob
	for f in "$dir"/*; do
		[ -n "$ignore" ] && [[ ${f##*/} =~ $ignore ]] && continue
		files+=("$f")
	done
	shopt -u nullglob dotglob
	n=${#files[@]}
	if [ "$lines" -ge 1 ]; then
		[ "$n" -gt 0 ] && got=warn || got=bad
		[ "$got" = bad ] && [ "$want" = fail ] && got=fail
	else
		[ "$n" -gt 0 ] && got=ok || got=off
	fi
	if [ "$got" != "$want" ] && ! [[ $want == any && ($got == ok || $got == bad) ]]; then
		errs+=("outcome $got, want $want ($lines line(s), $n file(s): ${files[*]##*/})")
	fi
	# The collector: none when the configuration is refused; else it ended with 0, or 1 after
	# a failed write.
	local reaped
	reaped=$(sed 's/^pid=[0-9]* //' "$CASE/reaped" | tr '\n' ' ')
	case $got in
	bad | off) [ -z "$reaped" ] || errs+=("a collector ran: $reaped") ;;
	ok | warn) [ "$reaped" = "exit=0 " ] || errs+=("collector: '$reaped', want 'exit=0'") ;;
	fail) [ "$reaped" = "exit=1 " ] || errs+=("collector: '$reaped', want 'exit=1'") ;;
	esac
	if [ "$want" != fail ] && [ "$lines" -ge 1 ] && ! grep -a '^libgoprof:' "$CASE/stderr" | grep -Eq "$names"; then
		errs+=("the line does not name $names")
	fi
	if [ "$n" -gt 0 ] && { [ "$got" = ok ] || [ "$got" = warn ]; }; then
		local out
		out=$(valid_files "$fmt" "${files[@]}" 2>&1) || errs+=("profile: $out")
	fi
	if [ ${#errs[@]} -eq 0 ]; then
		pass "$what: $got"
	else
		fail "$what"
		for f in "${errs[@]}"; do note "$f"; done
		show_file "$CASE/stderr" 5
	fi
}

# ---------------------------------------------------------------------------------------
# 1. Every variable of the table.
mapfile -t TABLE < <(echo @VARIABLES@ | "$MKMAN" | awk '
	/^\.B GOPROF_/ { name = $2 }
	/ Default: \\fB.*\\fR\.$/ && name != "" {
		d = $0; sub(/.* Default: \\fB/, "", d); sub(/\\fR\.$/, "", d)
		gsub(/\\-/, "-", d); gsub(/\\e/, "\\", d); sub(/^\\&/, "", d)
		if (d == "(empty)") d = ""
		print name "=" d; name = ""
	}')
check "the config table lists at least 9 variables (mkman: ${#TABLE[@]})" test "${#TABLE[@]}" -ge 9
check "the table has GOPROF_OUT and GOPROF_HZ" \
	grep -q "^GOPROF_OUT=.*GOPROF_HZ=100" <<<"$(printf '%s' "${TABLE[@]}")"

HUGE=$(printf '1%.0s' $(seq 100000))
declare -A VALUES=(
	[empty]='' [huge]=$HUGE [negative]=-1 [malformed]=1x [space]=' 1' [newline]=$'1\n2'
	[ovf64]=18446744073709551617 [ovf32]=4294967297
)
# Expected outcomes for the variables known when this was written; a new one gets the
# generic checks (one line naming it, or a valid profile) and its default must be ok.
KNOWN=' GOPROF_OUT GOPROF_INTERVAL GOPROF_HTTP GOPROF_HTTP_ALLOW_REMOTE GOPROF_HZ GOPROF_DISABLE GOPROF_RING_SLOTS GOPROF_DEBUG GOPROF_FORMAT GOPROF_FOLLOW GOPROF_EXIT_WAIT '
EMPTY_OK=' GOPROF_INTERVAL GOPROF_HTTP GOPROF_HTTP_ALLOW_REMOTE GOPROF_DISABLE GOPROF_DEBUG GOPROF_FOLLOW '
for row in "${TABLE[@]}"; do
	var=${row%%=*}
	def=${row#*=}
	env_run "t-$var-default" "$var=$def"
	verify "$var=\"$def\" (the table's default)" ok "$var"
	for kind in empty huge negative malformed space newline ovf64 ovf32; do
		if [[ $KNOWN != *" $var "* ]]; then
			want=any
		elif [ "$var" = GOPROF_OUT ]; then
			# any file name is fine, except none and one longer than PATH_MAX
			case $kind in empty | huge) want=bad ;; *) want=ok ;; esac
		elif [ "$kind" = empty ] && [[ $EMPTY_OK == *" $var "* ]]; then
			want=ok
		else
			want=bad
		fi
		env_run "t-$var-$kind" "$var=${VALUES[$kind]}"
		verify "$var $kind" "$want" "$var"
	done
	[[ $KNOWN == *" $var "* ]] || note "$var is new: generic checks only (add it to KNOWN)"
done

# Boundaries and particular values.
free_port() {
	local p
	for p in $(shuf -i 20000-60000 -n 20); do
		ss -Htln "sport = :$p" | grep -q . || { echo "$p"; return; }
	done
	echo 39999
}
while IFS='|' read -r want var val; do
	env_run "b-$var-$want" "$var=$val"
	verify "$var=$val" "$want" "$var"
done <<EOF
bad|GOPROF_HZ|0
bad|GOPROF_HZ|10001
bad|GOPROF_HZ|+100
ok|GOPROF_HZ|10000
bad|GOPROF_RING_SLOTS|3
bad|GOPROF_RING_SLOTS|1048577
ok|GOPROF_RING_SLOTS|4
bad|GOPROF_INTERVAL|99ms
bad|GOPROF_INTERVAL|25h
bad|GOPROF_INTERVAL|1d
bad|GOPROF_INTERVAL|s
ok|GOPROF_INTERVAL|100ms
ok|GOPROF_INTERVAL|1.5s
ok|GOPROF_INTERVAL|0.5
bad|GOPROF_INTERVAL|1.5.s
bad|GOPROF_INTERVAL|1,5s
bad|GOPROF_HTTP|127.0.0.1:0
bad|GOPROF_HTTP|127.0.0.1:65536
bad|GOPROF_HTTP|[::1:6060
bad|GOPROF_HTTP|localhost.example:6060
ok|GOPROF_HTTP|127.0.0.1:$(free_port)
ok|GOPROF_HTTP|[::1]:$(free_port)
bad|GOPROF_FORMAT|PPROF
bad|GOPROF_FORMAT|pprof,folded
off|GOPROF_DISABLE|1
off|GOPROF_DISABLE|true
bad|GOPROF_DISABLE|2
bad|GOPROF_OUT|nodir/prof.pb.gz
bad|GOPROF_OUT|prof.%q.pb.gz
ok|GOPROF_FOLLOW|0
ok|GOPROF_FOLLOW|1
bad|GOPROF_FOLLOW|2
ok|GOPROF_EXIT_WAIT|0
ok|GOPROF_EXIT_WAIT|100ms
ok|GOPROF_EXIT_WAIT|1.5s
bad|GOPROF_EXIT_WAIT|99ms
bad|GOPROF_EXIT_WAIT|25h
EOF
env_run b-format-folded GOPROF_FORMAT=folded GOPROF_OUT=prof.folded
verify "GOPROF_FORMAT=folded" ok GOPROF_FORMAT folded
env_run b-out-escape "GOPROF_OUT=$(printf 'a\033[31mred')"
verify "GOPROF_OUT with a terminal escape in the name" ok GOPROF_OUT

# Conflicting settings.
env_run c-disable-bad GOPROF_DISABLE=1 GOPROF_HZ=abc
verify "GOPROF_DISABLE=1 with GOPROF_HZ=abc: disabled, silent" off GOPROF_HZ
env_run c-disable-many GOPROF_DISABLE=1 GOPROF_HTTP=0.0.0.0:1 GOPROF_FOO=1 "GOPROF_OUT="
verify "GOPROF_DISABLE=1 with a remote GOPROF_HTTP, an empty GOPROF_OUT, an unknown name" off GOPROF_
port=$(free_port)
env_run c-remote GOPROF_HTTP=0.0.0.0:$port
verify "GOPROF_HTTP=0.0.0.0:$port without GOPROF_HTTP_ALLOW_REMOTE" bad GOPROF_HTTP
env_run c-remote-v6 "GOPROF_HTTP=[::]:$port" GOPROF_HTTP_ALLOW_REMOTE=0
verify "GOPROF_HTTP=[::]:$port with GOPROF_HTTP_ALLOW_REMOTE=0" bad GOPROF_HTTP
env_run c-remote-ok GOPROF_HTTP=0.0.0.0:$port GOPROF_HTTP_ALLOW_REMOTE=1
verify "GOPROF_HTTP=0.0.0.0:$port with GOPROF_HTTP_ALLOW_REMOTE=1" ok GOPROF_HTTP
env_run c-allow-alone GOPROF_HTTP_ALLOW_REMOTE=1
verify "GOPROF_HTTP_ALLOW_REMOTE=1 without GOPROF_HTTP" ok GOPROF_HTTP
# The user's name is kept (documented): folded text in a file called .pb.gz.
env_run c-folded-pbgz GOPROF_FORMAT=folded GOPROF_OUT=prof.pb.gz
verify "GOPROF_FORMAT=folded with GOPROF_OUT=prof.pb.gz: folded text under that name" ok GOPROF_FORMAT folded
env_run c-two-bad GOPROF_HZ=abc GOPROF_RING_SLOTS=0
verify "GOPROF_HZ=abc and GOPROF_RING_SLOTS=0: one line" bad 'GOPROF_(HZ|RING_SLOTS)'
env_run c-interval-n GOPROF_INTERVAL=100ms GOPROF_OUT=prof.%n.pb.gz
verify "GOPROF_INTERVAL=100ms with %n in GOPROF_OUT" ok GOPROF_INTERVAL

# Unknown names: one warning line, profiling goes on; with a bad value, only the error.
env_run u-foo GOPROF_FOO=1
verify "unknown GOPROF_FOO" warn GOPROF_FOO
env_run u-lower GOPROF_hz=1000
verify "unknown GOPROF_hz (lower case)" warn GOPROF_hz
env_run u-bare GOPROF_=1
verify "unknown GOPROF_ (bare prefix)" warn 'GOPROF_ '
env_run u-newline $'GOPROF_X\nY=1'
verify "unknown name with a newline in it" warn 'GOPROF_X.Y'
env_run u-huge "GOPROF_${HUGE}=1"
verify "unknown name of 100 000 characters" warn 'GOPROF_111'
env_run u-and-bad GOPROF_FOO=1 GOPROF_HZ=abc
verify "unknown GOPROF_FOO with GOPROF_HZ=abc: the error only" bad GOPROF_HZ
check "unknown GOPROF_FOO with GOPROF_HZ=abc: GOPROF_FOO not mentioned" \
	sh -c '! grep -q GOPROF_FOO "$1"' _ "$CASE/stderr"

# ---------------------------------------------------------------------------------------
# 2. The output directory.
is_root=0
[ "$(id -u)" = 0 ] && is_root=1
# mount_tmpfs DIR OPTIONS: a small tmpfs at DIR (unmounted at the end); 1 if not possible.
mount_tmpfs() {
	mkdir -p "$1"
	[ "$is_root" = 1 ] && mount -t tmpfs -o "$2" tmpfs "$1" 2>/dev/null || return 1
	MOUNTS+=("$1")
}

D=$work/out
mkdir -p "$D"
# Read-only from the start: the constructor notices, one line, no collector.
if mount_tmpfs "$D/ro" ro,size=64k; then
	env_run o-ro "GOPROF_OUT=$D/ro/prof.pb.gz"
	verify "read-only output directory" bad GOPROF_OUT pprof "$D/ro"
elif [ "$is_root" = 0 ]; then
	mkdir -p "$D/ro" && chmod 555 "$D/ro"
	env_run o-ro "GOPROF_OUT=$D/ro/prof.pb.gz"
	verify "unwritable output directory (mode 555)" bad GOPROF_OUT pprof "$D/ro"
else
	echo "SKIP: read-only output directory (mount failed)"
fi
mkdir -p "$D/m"
env_run o-missing "GOPROF_OUT=$D/m/missing/prof.pb.gz"
verify "missing output directory" bad GOPROF_OUT pprof "$D/m"

# Removed while the program runs: the collector's write fails at the end.
mkdir -p "$D/g/gone"
rm_gone() { rmdir "$D/g/gone"; }
DURING=rm_gone env_run o-gone "GOPROF_OUT=$D/g/gone/prof.pb.gz"
verify "output directory removed during the run" fail GOPROF_OUT pprof "$D/g"
check "removed directory: the line says what failed" grep -Eq '^libgoprof: .*gone/prof\.pb\.gz.*No such file' "$CASE/stderr"

# Made read-only while the program runs.
if mount_tmpfs "$D/rofly" size=64k; then
	ro_now() { mount -o remount,ro "$D/rofly"; }
	DURING=ro_now env_run o-rofly "GOPROF_OUT=$D/rofly/prof.pb.gz"
	verify "output directory made read-only during the run" fail GOPROF_OUT pprof "$D/rofly"
	check "read-only during the run: the line says so" grep -Eq '^libgoprof: .*Read-only file system' "$CASE/stderr"
else
	echo "SKIP: output directory made read-only during the run (needs root and tmpfs)"
fi

# Full: ENOSPC at the first write.
if mount_tmpfs "$D/full" size=64k; then
	dd if=/dev/zero of="$D/full/filler" bs=4k count=64 2>/dev/null
	env_run o-full "GOPROF_OUT=$D/full/prof.pb.gz"
	verify "full output directory (ENOSPC)" fail GOPROF_OUT pprof "$D/full" '^filler$'
	check "full directory: the line says so" grep -Eq '^libgoprof: .*No space left on device' "$CASE/stderr"
else
	echo "SKIP: full output directory (needs root and tmpfs)"
fi

# A file size limit (ulimit -f 1: 1 KiB) that the program's output fits in and neither the
# ring's memfd (16 slots at the least: 42 KiB, lib/ring/ring.c) nor the profile (1.5 KB for
# go_cgo) does: said at the start in one line, the program runs unprofiled, as without
# libgoprof (SIGXFSZ used to kill the collector half-way through the write).
mkdir -p "$D/fsize"
run_plain "$D/fsize-plain" -- "$GO_CGO" -d 1s
CASE_CMD=("$GO_CGO" -d 1s) CASE_FSIZE=1
env_run o-fsize "GOPROF_OUT=$D/fsize/prof.pb.gz"
CASE_CMD=() CASE_FSIZE=
check "file size limit: program's stdout as without libgoprof" \
	cmp -s <(strip_timing "$D/fsize-plain.stdout") <(strip_timing "$CASE/stdout")
check "file size limit: exit status $(cat "$D/fsize-plain.status")" test "$CASE_STATUS" = "$(cat "$D/fsize-plain.status")"
check "file size limit: exactly one line, naming the limit" \
	sh -c 'test "$(grep -c . "$1")" = 1 && grep -q "^libgoprof: ring: .*file size limit (ulimit -f).*profiling is off" "$1"' _ "$CASE/stderr"
check "file size limit: nothing left in the directory" test -z "$(ls -A "$D/fsize")"
check "file size limit: no collector started" test ! -s "$CASE/reaped"

# Symlinks planted by someone else. The temporary file is opened O_CREAT|O_EXCL, so a
# symlink there is never followed (it is removed and the file created in its place); the
# final rename(2) replaces a symlink at the output path with the new file. Either way the
# symlink's target is never written or created.
S=$work/sym
mkdir -p "$S/dir"
echo precious >"$S/victim"
ln -s "$S/victim" "$S/dir/prof.pb.gz"
env_run s-final "GOPROF_OUT=$S/dir/prof.pb.gz"
verify "symlink at the output path" ok GOPROF_OUT pprof "$S/dir"
check "symlink at the output path: its target untouched" grep -qx precious "$S/victim"
check "symlink at the output path: replaced by a regular file" test ! -L "$S/dir/prof.pb.gz" -a -f "$S/dir/prof.pb.gz"
rm -f "$S/dir/"*
ln -s "$S/nowhere" "$S/dir/prof.pb.gz"
env_run s-final-dangling "GOPROF_OUT=$S/dir/prof.pb.gz"
verify "dangling symlink at the output path" ok GOPROF_OUT pprof "$S/dir"
check "dangling symlink at the output path: its target not created" test ! -e "$S/nowhere"
rm -f "$S/dir/"*
plant_tmp_symlink() {
	local c
	c=$(collector_pid "$1") || { echo "no collector for $1" >"$CASE/plant.err"; return; }
	ln -s "$PLANT_TARGET" "$S/dir/prof.pb.gz.tmp.$c"
	echo "$c" >"$CASE/planted"
}
PLANT_TARGET=$S/victim DURING=plant_tmp_symlink env_run s-tmp "GOPROF_OUT=$S/dir/prof.pb.gz"
check "symlink at the temporary name: planted (collector found)" test -s "$CASE/planted"
verify "symlink at the temporary name" ok GOPROF_OUT pprof "$S/dir"
check "symlink at the temporary name: its target untouched" grep -qx precious "$S/victim"
rm -f "$S/dir/"*
PLANT_TARGET=$S/nowhere DURING=plant_tmp_symlink env_run s-tmp-dangling "GOPROF_OUT=$S/dir/prof.pb.gz"
check "dangling symlink at the temporary name: planted" test -s "$CASE/planted"
verify "dangling symlink at the temporary name" ok GOPROF_OUT pprof "$S/dir"
check "dangling symlink at the temporary name: its target not created" test ! -e "$S/nowhere"
rm -rf "$S/dir/"*
mkdir "$S/dir/prof.pb.gz"
env_run s-dir-final "GOPROF_OUT=$S/dir/prof.pb.gz"
verify "a directory at the output path" fail GOPROF_OUT pprof "$S/dir" '^prof\.pb\.gz$'
check "a directory at the output path: left as it was (empty)" test -d "$S/dir/prof.pb.gz" -a -z "$(ls -A "$S/dir/prof.pb.gz")"
rm -rf "$S/dir/"*
plant_tmp_dir() {
	local c
	c=$(collector_pid "$1") || return
	mkdir "$S/dir/prof.pb.gz.tmp.$c"
	echo "$c" >"$CASE/planted"
}
DURING=plant_tmp_dir env_run s-dir-tmp "GOPROF_OUT=$S/dir/prof.pb.gz"
check "a directory at the temporary name: planted" test -s "$CASE/planted"
verify "a directory at the temporary name" fail GOPROF_OUT pprof "$S/dir" '^prof\.pb\.gz\.tmp\.[0-9]+$'

# ---------------------------------------------------------------------------------------
# 3. Programs.
B=$work/progs
mkdir -p "$B"
# run_pair NAME CMD...: plain and profiled runs of CMD; sets P (plain prefix), CASE, CASE_STATUS.
run_pair() {
	local name=$1
	shift
	run_plain "$B/$name-plain" -- "$@"
	P=$B/$name-plain
	CASE_CMD=("$@")
	env_run "p-$name" "GOPROF_OUT=prof.pb.gz"
	CASE_CMD=()
}
# same_run WHAT: stdout (minus cpu_ns=), stderr without libgoprof lines, and status as plain.
same_run() {
	check "$1: stdout as without libgoprof" \
		cmp -s <(strip_timing "$P.stdout") <(strip_timing "$CASE/stdout")
	check "$1: stderr as without libgoprof (besides 'libgoprof:' lines)" \
		cmp -s "$P.stderr" <(grep -av '^libgoprof:' "$CASE/stderr")
	check "$1: exit status $(cat "$P.status") as without libgoprof" test "$CASE_STATUS" = "$(cat "$P.status")"
}

gcc -O1 -fno-omit-frame-pointer -Wall -o "$B/fake_go" "$fx/fake_go.c" || fail "build fake_go"
run_pair fake_go "$B/fake_go"
same_run "C program with a .go.buildinfo section"
# Without Go's build-ID note it is a C program to the constructor, which then never opens its
# file (preload.c: has_go_note): nothing to say.
check "C program with a .go.buildinfo section: no 'libgoprof:' line (no Go build-ID note: native)" \
	test ! -s "$CASE/stderr"
check "C program with a .go.buildinfo section: profile valid, chain ...;main;fake_spin" \
	"$PROFCHECK" chain "$CASE/cwd/prof.pb.gz" --leaf fake_spin --expect '...;main;fake_spin' --min 0.99 --min-samples 5

GOCHAIN='runtime.goexit;runtime.main;main.main;...;main.goSpin'
(cd "$top_srcdir/tests/fixtures/go_cgo" && CGO_ENABLED=1 "$GO" build -ldflags='-s -w' -o "$B/go_stripped" .) ||
	fail "build go_cgo with -ldflags='-s -w'"
check "stripped Go binary: no .symtab, no DWARF" \
	sh -c '! readelf -S "$1" | grep -Eq "\.symtab|\.debug_info|\.zdebug_info"' _ "$B/go_stripped"
# 2 s of wall time (the fixture's -d), and a chain check on 10 samples: main.goSpin gets ~45 a
# second idle, but a busy host leaves the program a third of a CPU or less (two other busy
# threads on this 2-CPU VM: 10-19 in 1 s, under profcheck's default 20, in 42 of 60 runs).
run_pair go_stripped "$B/go_stripped" -d 2s
same_run "stripped Go binary"
check "stripped Go binary: no 'libgoprof:' line (1.26 is in the version table)" test ! -s "$CASE/stderr"
check "stripped Go binary: profile valid" pprof_ok "$CASE/cwd/prof.pb.gz"
check "stripped Go binary: Go chain for main.goSpin from pclntab (>= 0.99)" \
	"$PROFCHECK" chain "$CASE/cwd/prof.pb.gz" --leaf main.goSpin --expect "$GOCHAIN" --min 0.99 \
	--min-samples 10
check "stripped Go binary: stacks cross into C under main.goCallC" \
	sh -c '"$1" dump "$2" | grep -q "main\.goCallC;main\._Cfunc_c_outer;runtime\.cgocall;runtime\.asmcgocall"' _ "$PROFCHECK" "$CASE/cwd/prof.pb.gz"

# An unknown future Go, stripped: test_goversions.sh's rewrite (go1.NN -> go1.99) on a -s -w build.
perl -0777 -pe 's/go1\.(\d\d)\.(\d+)/go1.99.$2/g' "$B/go_stripped" >"$B/go_future" && chmod +x "$B/go_future" ||
	fail "rewrite the version to go1.99"
run_pair go_future "$B/go_future" -d 2s
same_run "stripped go1.99 binary"
check "stripped go1.99 binary: exactly one line, naming the version" \
	sh -c 'test "$(grep -c . "$1")" = 1 && grep -q "^libgoprof: go: go1\.99.*runtime layout not recognised" "$1"' _ "$CASE/stderr"
check "stripped go1.99 binary: profile valid" pprof_ok "$CASE/cwd/prof.pb.gz"
check "stripped go1.99 binary: Go chain for main.goSpin (>= 0.99)" \
	"$PROFCHECK" chain "$CASE/cwd/prof.pb.gz" --leaf main.goSpin --expect "$GOCHAIN" --min 0.99 \
	--min-samples 10

finish
