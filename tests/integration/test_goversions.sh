#!/bin/bash
# test_goversions.sh -- the cgo fixture built with each Go toolchain in
# LIBGOPROF_TEST_GO_VERSIONS (default "1.26 1.21"): exact C-through-Go chain for c_inner and
# total sampled CPU within 10 % of the process's CPU time. Then Go in a shared library a C
# program is linked with or loads (tests/fixtures/go_cshared), a stripped PIE Go program
# behind a shell, and a Go version it does not know.
. "$(dirname "$0")/lib.sh"

need_go || { echo "0 passed, 1 failed"; exit 1; }
work=$(mktemp -d "${TMPDIR:-/tmp}/libgoprof-goversions.XXXXXX")
build_fixtures "$work" || { fail "build fixtures"; summary; exit 1; }
chain='runtime.goexit;runtime.main;main.main;main.goCallC;main._Cfunc_c_outer;runtime.cgocall;runtime.asmcgocall;*;c_outer;c_inner'
for v in ${LIBGOPROF_TEST_GO_VERSIONS:-1.26 1.21}; do
    bin="$work/go_cgo-$v"
    go_build_fixture go_cgo "$v" "$bin" || { fail "go$v: build go_cgo"; continue; }
    run_profiled "$work/go$v.pb.gz" -- "$bin" -d 2s || { fail "go$v: profile written"; continue; }
    check "go$v: profile valid for go tool pprof" pprof_ok "$RUN_PROFILE"
    check "go$v: chain for leaf c_inner (>= 0.99)" \
        "$PROFCHECK" chain "$RUN_PROFILE" --leaf c_inner --expect "$chain" --min 0.99
    cpu=$(sed -n 's/^cpu_ns=//p' "$RUN_STDOUT")
    check "go$v: sampled CPU within 10% of getrusage ($cpu ns)" \
        "$PROFCHECK" total "$RUN_PROFILE" --expect-cpu-ns "$cpu" --tol 0.10
done

# --- Go in a shared library: linked with a C program, or loaded by its dlopen --------------
# tests/fixtures/go_cshared built -buildmode=c-shared, and two C hosts: host linked with it
# (the Go runtime is not in the executable), host_dlopen loading it by dlopen after start (as
# Python's ctypes does; found when its runtime starts its first thread). The main thread and
# a thread of the host's call Go (GoWork, through crosscall2 and cgocallback); the Go leaf's
# stacks run back into C to their roots, and the C memory GoWork keeps is under its Go and C
# callers. (runtime.cgocallback* below: were the collector to symbolize a library loaded after
# its fork from ELF symbols, not from its pclntab, Go's assembly names would carry .abi0.)
for v in ${LIBGOPROF_TEST_GO_VERSIONS:-1.26 1.21}; do
    dir="$work/cshared-$v"
    host_c="$top_srcdir/tests/fixtures/go_cshared/host/host.c"
    mkdir -p "$dir"
    if ! { go_build_fixture go_cshared "$v" "$dir/libgocshared.so" -buildmode=c-shared &&
           gcc -O1 -fno-omit-frame-pointer -pthread -I "$dir" -o "$dir/host" "$host_c" \
               -L "$dir" -lgocshared -Wl,-rpath,"$dir" &&
           gcc -O1 -fno-omit-frame-pointer -pthread -DHOST_DLOPEN -o "$dir/host_dlopen" "$host_c" -ldl; }; then
        fail "c-shared go$v: build"
        continue
    fi
    for host in host host_dlopen; do
        args=2
        [ "$host" = host_dlopen ] && args="$dir/libgocshared.so 2"
        label="c-shared go$v $host"
        # shellcheck disable=SC2086
        run_plain "$dir/$host.plain" -- "$dir/$host" $args
        heap="$dir/$host.heap.pb.gz"
        # shellcheck disable=SC2086
        run_profiled "$dir/$host.pb.gz" GOPROF_HEAP_RATE=64k GOPROF_HEAP_OUT="$heap" -- \
            "$dir/$host" $args || { fail "$label: profile written"; continue; }
        same_as_plain "$label" "$dir/$host.plain"
        check "$label: nothing on stderr" test ! -s "$RUN_STDERR"
        check "$label: main.goSpin's stacks cross back into C (>= 0.99)" \
            "$PROFCHECK" chain "$RUN_PROFILE" --leaf main.goSpin --min 0.99 \
            --expect '...;c_caller;GoWork;crosscall2;runtime.cgocallback*;...;main.GoWork;main.goSpin'
        # (the roots: of each thread's samples, those in the host's own loop, its clock reads,
        # are a few percent, hence 0.95)
        check "$label: the main thread's, from _start (>= 0.95)" \
            "$PROFCHECK" chain "$RUN_PROFILE" --contains --leaf main --min 0.95 \
            --expect '_start;...;main;c_caller;GoWork;crosscall2;runtime.cgocallback*;...'
        check "$label: its own thread's, from start_thread (>= 0.95)" \
            "$PROFCHECK" chain "$RUN_PROFILE" --contains --leaf c_thread --min 0.95 \
            --expect '...;start_thread;c_thread;c_caller;GoWork;crosscall2;runtime.cgocallback*;...'
        check "$label: Go's names from its pclntab, not ELF symbols (no runtime.*.abi0)" \
            sh -c '! "$1" tool pprof -traces "$2" 2>/dev/null | grep -q "runtime\..*\.abi0"' \
            _ "$GO" "$RUN_PROFILE"
        check "$label: the kept C memory under cgo, main.GoWork, crosscall2 and the C callers" \
            in_one_trace "$heap" inuse_space cshared_alloc "runtime.asmcgocall*" "runtime.cgocall*" \
            main.GoWork crosscall2 GoWork c_caller main _start
    done
    check "c-shared go$v host: the profile names the library's Go version" \
        sh -c '"$1" tool pprof -raw "$2" 2>/dev/null | grep -q "^Comment: libgoprof .*, go$3"' \
        _ "$GO" "$dir/host.pb.gz" "$v"
done

# --- a stripped PIE Go program behind a shell -------------------------------------------
# The shell leads the session and the Go program joins it: the collector analyses the Go
# program's tables from its file, at link-time addresses, and looks them up through the
# mapping's load bias. Without a .symtab or DWARF, they are its only names.
bin="$work/go_cgo-pie-stripped"
if go_build_fixture go_cgo 1.26 "$bin" -buildmode=pie -ldflags="-s -w"; then
    run_profiled "$work/piemember.pb.gz" -- sh -c '"$1" -d 1s; true' _ "$bin" ||
        fail "PIE member: profile written"
    check "PIE member: its Go frames named, runtime.main to the cgo call" \
        in_one_trace "$RUN_PROFILE" cpu runtime.asmcgocall runtime.cgocall main._Cfunc_c_outer \
        main.goCallC main.main runtime.main
else
    fail "PIE member: build"
fi

# --- a Go version the profiler does not know -------------------------------------------
# go_cgo from the newest toolchain without DWARF (-w keeps .symtab for the C names), its
# version string rewritten to go1.99: the layout is then neither in DWARF nor in the table.
# One stderr line names it, the profile says so, and the stacks still cross into C.
bin="$work/go_cgo-future"
if (cd "$top_srcdir/tests/fixtures/go_cgo" && CGO_ENABLED=1 "$GO" build -ldflags=-w -o "$bin.src" .) &&
    perl -0777 -pe 's/go1\.(\d\d)\.(\d+)/go1.99.$2/g' "$bin.src" >"$bin" && chmod +x "$bin"; then
    run_profiled "$work/future.pb.gz" -- "$bin" -d 1s
    check "go1.99: profile written" test -n "$RUN_PROFILE"
    check "go1.99: exit status 0" test "$RUN_STATUS" = 0
    check "go1.99: exactly one stderr line, naming the version" \
        test "$(grep -c . "$RUN_STDERR")" = 1 -a "$(grep -c 'go1\.99.*runtime layout not recognised' "$RUN_STDERR")" = 1
    if [ -n "$RUN_PROFILE" ]; then
        check "go1.99: profile comment says the layout is not recognised" \
            sh -c '"$1" dump "$2" | grep -q "^# comment: .*go1\.99.*runtime layout not recognised"' _ "$PROFCHECK" "$RUN_PROFILE"
        check "go1.99: chain for leaf c_inner still complete (>= 0.99)" \
            "$PROFCHECK" chain "$RUN_PROFILE" --leaf c_inner --expect "$chain" --min 0.99
    fi
else
    fail "go1.99: build and rewrite the version"
fi
summary && { [ -n "${LIBGOPROF_TEST_KEEP:-}" ] || rm -rf "$work"; }
