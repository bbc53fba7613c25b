#!/bin/bash
# test_stacks.sh -- the stacks corpus (tests/stacks/README): every program, in every build
# variant its expect file lists, built with every Go toolchain in LIBGOPROF_TEST_GO_VERSIONS
# (default 1.21 to 1.26), runs under libgoprof at 500 Hz with Go's own CPU profiler at the
# same rate; then 'profcheck stacks' checks the expected chains (>= 99 % of the selected
# samples), the share of samples ending at a legal root (>= 99.5 %) and the agreement with
# Go's profile (flat and cum within 3 points for Go functions above 5 %).
#
# Environment (optional):
#   LIBGOPROF_TEST_GO_VERSIONS  Go versions (default: 1.21 1.22 1.23 1.24 1.25 1.26)
#   LIBGOPROF_STACKS_SECONDS    workload duration per run, in seconds (default 2; an expect
#                               file's duration-factor N multiplies it for that program)
#   LIBGOPROF_STACKS_PROGRAMS   programs to run (default: every directory of tests/stacks
#                               with an expect file)
#   LIBGOPROF_TEST_KEEP=1       keep the work directory
# Prints a table (program/variant × toolchain) at the end, then "N passed, N failed".
. "$(dirname "$0")/lib.sh"

stacks_dir=$top_srcdir/tests/stacks
versions=${LIBGOPROF_TEST_GO_VERSIONS:-1.21 1.22 1.23 1.24 1.25 1.26}
seconds=${LIBGOPROF_STACKS_SECONDS:-2}
hz=${LIBGOPROF_STACKS_HZ:-500}

need_go || { echo "0 passed, 1 failed"; exit 1; }
work=$(mktemp -d "${TMPDIR:-/tmp}/libgoprof-stacks.XXXXXX")
mkdir -p "$work/bin" "$work/src" "$work/out"
if ! build_profcheck "$work"; then
    fail "build profcheck"
    summary
    exit 1
fi
# The checker's own tests (matcher, expect files, roots, Go comparison) first.
check "profcheck unit tests (go test)" \
    env -C "$top_srcdir/tests/tools/profcheck" CGO_ENABLED=0 "$GO" test -count=1 .

if [ -n "${LIBGOPROF_STACKS_PROGRAMS:-}" ]; then
    programs=$LIBGOPROF_STACKS_PROGRAMS
else
    programs=
    for d in "$stacks_dir"/*/; do
        [ -f "$d/expect" ] && programs="$programs $(basename "$d")"
    done
fi

# expect_directive FILE WORD: the arguments of every "WORD ..." line, one line each.
expect_directive() {
    sed -e 's/#.*//' "$1" | awk -v w="$2" '$1 == w { $1 = ""; sub(/^ +/, ""); print }'
}

# variant_flags VARIANT: go build flags for a build variant (one per line).
variant_flags() {
    case $1 in
    default) ;;
    pie) echo "-buildmode=pie" ;;
    stripped) echo "-ldflags=-s -w" ;;
    *) return 1 ;;
    esac
}

# pprof_top GOROOT [FLAGS]: that toolchain's go tool pprof -top of the last run's profile, every
# node, from its column header on.
pprof_top() {
    local goroot=$1
    shift
    "$goroot/bin/go" tool pprof -top -nodecount=100000 "$@" "$RUN_PROFILE" 2>&1 |
        sed -n '/^ *flat /,$p'
}

# Each program's build directory: the program's files, the shared gopprof.go and a go.mod.
for p in $programs; do
    if [ ! -f "$stacks_dir/$p/expect" ]; then
        fail "$p: no $stacks_dir/$p/expect"
        continue
    fi
    mkdir -p "$work/src/$p"
    for f in "$stacks_dir/$p"/*.go "$stacks_dir/$p"/*.c "$stacks_dir/$p"/*.h; do
        [ -f "$f" ] && cp "$f" "$work/src/$p/"
    done
    cp "$stacks_dir/common/gopprof.go" "$work/src/$p/"
    printf 'module corpus\n\ngo 1.21\n' >"$work/src/$p/go.mod"
    # The corpus' own C is C11 and warning-free on its own (cgo's generated code is not).
    for f in "$stacks_dir/$p"/*.c; do
        [ -f "$f" ] || continue
        check "$p: $(basename "$f") is C11 -Wall -Wextra clean" \
            gcc -std=c11 -pedantic -Wall -Wextra -Werror -fsyntax-only -I "$stacks_dir/$p" "$f"
    done
done

table=$work/table
: >"$table"
row() { # label version samples match root go verdict broken-endings
    printf '%-22s %-5s %8s %8s %8s %6s  %-6s %s\n' "$@" >>"$table"
}

for v in $versions; do
    if ! goroot=$("$top_srcdir/scripts/go-toolchain.sh" "$v"); then
        fail "go$v: toolchain"
        continue
    fi
    for p in $programs; do
        [ -d "$work/src/$p" ] || continue
        expect=$stacks_dir/$p/expect
        variants=$(expect_directive "$expect" variants | tr '\n' ' ')
        [ -n "${variants// /}" ] || variants=default
        factor=$(expect_directive "$expect" duration-factor | tail -n 1)
        run_seconds=$(awk -v s="$seconds" -v f="${factor:-1}" 'BEGIN { print s * f }')
        for var in $variants; do
            label=$p/$var
            [ "$var" = default ] && label=$p
            bin=$work/bin/$p-$var-go$v
            out=$work/out/$p-$var-go$v
            if ! variant_flags "$var" >/dev/null; then
                fail "$label go$v: unknown variant '$var' in $expect"
                continue
            fi
            mapfile -t flags < <(variant_flags "$var")
            if ! (cd "$work/src/$p" && "$goroot/bin/go" build "${flags[@]}" -o "$bin" .) >"$out.build" 2>&1; then
                fail "$label go$v: build"
                show_file "$out.build"
                row "$label" "$v" - - - - "FAIL(build)"
                continue
            fi
            # Properties of the binary the expectations rely on (checked on the default build).
            if [ "$var" = default ]; then
                while read -r fn; do
                    [ -n "$fn" ] || continue
                    dis=$("$goroot/bin/go" tool objdump -s "^${fn//./\\.}\$" "$bin" 2>&1)
                    if ! grep -q '^TEXT' <<<"$dis"; then
                        fail "$label go$v: $fn not found by go tool objdump"
                    elif grep -q 'PUSHQ BP' <<<"$dis"; then
                        fail "$label go$v: $fn has a frame (PUSHQ BP), the program does not test a frameless leaf"
                    else
                        pass "$label go$v: $fn is frameless (no PUSHQ BP)"
                    fi
                done < <(expect_directive "$expect" check-frameless | tr ' ' '\n')
                while read -r caller callees; do
                    [ -n "$caller" ] || continue
                    dis=$("$goroot/bin/go" tool objdump -s "^${caller//./\\.}\$" "$bin" 2>&1)
                    re=$(sed 's/\./\\./g; s/ /|/g' <<<"$callees")
                    if ! grep -q '^TEXT' <<<"$dis"; then
                        fail "$label go$v: $caller not found by go tool objdump"
                    elif grep -Eq "CALL ($re)\(" <<<"$dis"; then
                        fail "$label go$v: $caller calls one of $callees (not inlined)"
                    else
                        pass "$label go$v: $callees inlined into $caller"
                    fi
                done < <(expect_directive "$expect" check-inlined)
            fi
            if ! run_profiled "$out.pb.gz" GOPROF_HZ=$hz GOPROF_TEST_GOPPROF="$out.go.pb.gz" \
                GOPROF_TEST_GOPPROF_HZ=$hz -- "$bin" -d "${run_seconds}s"; then
                fail "$label go$v: profile written (exit status $RUN_STATUS)"
                show_file "$RUN_STDERR"
                row "$label" "$v" - - - - "FAIL(run)"
                continue
            fi
            if [ "$RUN_STATUS" != 0 ] || [ ! -s "$out.go.pb.gz" ]; then
                fail "$label go$v: program ran (exit status $RUN_STATUS, Go profile $( [ -s "$out.go.pb.gz" ] && echo written || echo missing))"
                show_file "$RUN_STDERR"
                row "$label" "$v" - - - - "FAIL(run)"
                continue
            fi
            "$PROFCHECK" stacks "$RUN_PROFILE" --expect "$expect" --gopprof "$out.go.pb.gz" \
                --label "$label" --variant "$var" --go "$v" >"$out.stacks" 2>&1
            rc=$?
            res=$(grep '^RESULT ' "$out.stacks" | tail -n 1)
            get() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<<"$res"; }
            if [ "$rc" = 0 ]; then
                pass "$label go$v: stacks ($(get samples) samples, match $(get match)%, root $(get root)%, Go comparison $(get go))"
                # Even a passing run says how its few broken stacks ended.
                grep 'ended at' "$out.stacks" | sed 's/^ */      /'
                row "$label" "$v" "$(get samples)" "$(get match)" "$(get root)" "$(get go)" PASS "$(get broken)"
                # go tool pprof, the binary at hand, shows the names the profile has: it names a
                # mapping again unless the profile marks it named (has_functions), and its names
                # for a stripped cgo executable are wrong (symbolize.c). Built variants only.
                # Set against -symbolize=remote (none for a file), not none, which also skips
                # pprof's demangler (it made one go1.25 stub's _cgo_<hash> cgo_<hash>).
                if [ "$var" != default ]; then
                    if diff <(pprof_top "$goroot" -symbolize=remote) <(pprof_top "$goroot") \
                        >"$out.renamed"; then
                        pass "$label go$v: go tool pprof keeps the profile's names"
                    else
                        fail "$label go$v: go tool pprof renamed functions (< the profile's, > its own)"
                        head -n 20 "$out.renamed" | sed 's/^/      | /'
                    fi
                fi
            else
                fail "$label go$v: stacks"
                sed 's/^/      | /' "$out.stacks"
                if [ -n "$res" ]; then
                    row "$label" "$v" "$(get samples)" "$(get match)" "$(get root)" "$(get go)" FAIL "$(get broken)"
                else
                    row "$label" "$v" - - - - "FAIL(profcheck)"
                fi
            fi
        done
    done
done

echo
echo "stacks corpus: ${seconds} s per run (times the expect file's duration-factor) at ${hz} Hz."
echo "match = the worst expectation's share of its selected samples matching (>= 99%),"
echo "root = share of samples ending at a legal root (>= 99.5%),"
echo "go = flat/cum shares of Go functions within 3 points of Go's own profile,"
echo "broken = how the samples not ending at a legal root ended (frame x count, top 3)."
printf '%-22s %-5s %8s %8s %8s %6s  %-6s %s\n' program/variant go samples match% root% go result broken
sort -s -k1,1 "$table"
echo
summary && { [ -n "${LIBGOPROF_TEST_KEEP:-}" ] || rm -rf "$work"; }
