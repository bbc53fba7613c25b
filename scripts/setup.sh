#!/bin/sh
# setup.sh -- installs what building and testing libgoprof needs on Debian 12, as root:
# build tools and libraries from Debian's archive, the flame-graph JavaScript from the npm
# registry (scripts/flame-deps.sh), and a Go toolchain (scripts/go-toolchain.sh).
# chromium renders goprof flame's pages in tests/integration/test_flame.sh; man-db's man
# checks the man page. clang-14 and libclang-rt-14-dev (libFuzzer's runtime,
# libclang_rt.fuzzer-x86_64.a) are for tests/fuzz/run.sh. tini and dumb-init (container init
# wrappers) run in front of a profiled program in tests/integration/test_tree.sh.
# libjemalloc2 and libtcmalloc-minimal4 are the other allocators tests/integration/test_heap.sh
# preloads before and after libgoprof.so. golang-github-mattn-go-sqlite3-dev (the Go module's
# source, with libsqlite3-dev) is the real cgo library tests/integration/test_cmem.sh profiles.
# Idempotent; prints the GOROOT of the Go toolchain last.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
pkgs="build-essential autoconf automake libtool pkg-config
      libunwind-dev zlib1g-dev libprotobuf-c-dev protobuf-c-compiler protobuf-compiler
      libmicrohttpd-dev libdw-dev curl
      cppcheck valgrind libc6-dbg clang-14 libclang-rt-14-dev chromium man-db
      tini dumb-init libjemalloc2 libtcmalloc-minimal4
      golang-github-mattn-go-sqlite3-dev libsqlite3-dev"
missing=""
for p in $pkgs; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing="$missing $p"
done
# npm: the machine's own (e.g. NodeSource's nodejs, which conflicts with Debian's npm package),
# else Debian's.
command -v npm >/dev/null 2>&1 || missing="$missing npm"
if [ -n "$missing" ]; then
    if [ "$(id -u)" != 0 ]; then
        echo "setup.sh: missing Debian packages:$missing (run as root to install them)" >&2
        exit 1
    fi
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2
    # shellcheck disable=SC2086
    apt-get install -y -qq --no-install-recommends $missing >&2
fi
"$here/flame-deps.sh" >/dev/null
"$here/go-toolchain.sh" "${GO_VERSION:-1.26}"
