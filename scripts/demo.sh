#!/bin/sh
# demo.sh -- sets everything up, profiles the bundled cgo example and shows the result.
#   ./scripts/demo.sh        (as root on a fresh Debian 12 machine)
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
goroot=$("$top/scripts/setup.sh" | tail -n1)
lib=$("$top/scripts/build.sh" | tail -n1)
export GOCACHE="${GOCACHE:-${LIBGOPROF_CACHE:-$HOME/.cache/libgoprof}/gocache}" GOFLAGS= GOTOOLCHAIN=local
out="$top/build/demo"
mkdir -p "$out"
(cd "$top/examples/cgo_demo" && "$goroot/bin/go" build -o "$out/cgo_demo" .)
rm -f "$out/cgo_demo.pb.gz"
echo "\$ LD_PRELOAD=$lib GOPROF_OUT=$out/cgo_demo.pb.gz $out/cgo_demo -d 3s"
LD_PRELOAD="$lib" GOPROF_OUT="$out/cgo_demo.pb.gz" "$out/cgo_demo" -d 3s
# The collector writes the file a moment after the program ends (atomically, by rename).
i=0
while [ ! -f "$out/cgo_demo.pb.gz" ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
echo "\$ go tool pprof -top $out/cgo_demo.pb.gz"
"$goroot/bin/go" tool pprof -top -nodecount=25 "$out/cgo_demo.pb.gz"
echo "\$ go tool pprof -traces (heaviest stack)"
"$goroot/bin/go" tool pprof -traces "$out/cgo_demo.pb.gz" | awk '/^-+\+-+$/{n++} n==1' | head -n 20
