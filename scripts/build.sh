#!/bin/sh
# build.sh -- configures and builds libgoprof out of tree in build/ (warnings are errors).
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
[ -x configure ] && [ configure -nt configure.ac ] && [ Makefile.in -nt Makefile.am ] ||
    autoreconf -fi >/dev/null
mkdir -p build
cd build
[ -f Makefile ] && [ Makefile -nt ../configure ] || ../configure --enable-werror >/dev/null
make -j"$(nproc)" >/dev/null
echo "$top/build/.libs/libgoprof.so"
