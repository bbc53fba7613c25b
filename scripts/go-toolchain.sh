#!/bin/sh
# go-toolchain.sh -- fetch a Go toolchain (golang-1.NN-go + golang-1.NN-src) from Debian's
# archive into a private cache, without touching the system's apt sources.
#
#   scripts/go-toolchain.sh 1.26        -> prints the GOROOT (e.g. $CACHE/go-1.26/usr/lib/go-1.26)
#
# Cache: $LIBGOPROF_CACHE (default: $HOME/.cache/libgoprof). Bookworm only ships 1.19, so newer
# versions come from bookworm-backports, trixie, trixie-backports or sid: a private sources list
# and private apt state (-o Dir::State::Lists / Dir::Etc::SourceList) make `apt-get download`
# search those suites; `dpkg-deb -x` unpacks without installing.
set -eu
ver=${1:?usage: go-toolchain.sh 1.NN}
cache=${LIBGOPROF_CACHE:-$HOME/.cache/libgoprof}
root="$cache/go-$ver"
goroot="$root/usr/lib/go-$ver"
if [ -x "$goroot/bin/go" ] && [ -f "$goroot/src/runtime/proc.go" ]; then
    echo "$goroot"; exit 0
fi
apt="$cache/apt"
mkdir -p "$apt/lists/partial" "$apt/archives/partial" "$root" "$apt/etc"
cat > "$apt/etc/sources.list" <<SRC
deb http://deb.debian.org/debian bookworm-backports main
deb http://deb.debian.org/debian trixie main
deb http://deb.debian.org/debian trixie-backports main
deb http://deb.debian.org/debian sid main
SRC
opts="-o Dir::Etc::SourceList=$apt/etc/sources.list -o Dir::Etc::SourceParts=/nonexistent
      -o Dir::State::Lists=$apt/lists -o Dir::Cache::Archives=$apt/archives
      -o Dir::Cache=$apt -o Dir::Cache::pkgcache= -o Dir::Cache::srcpkgcache=
      -o APT::Get::List-Cleanup=0 -o Debug::NoLocking=1 -o APT::Sandbox::User=root"
# Refresh the private lists at most once a day.
if [ -z "$(find "$apt/lists" -name '*Packages*' -mtime -1 2>/dev/null | head -n1)" ]; then
    # shellcheck disable=SC2086
    apt-get $opts -qq update >&2
fi
cd "$apt/archives"
for p in "golang-$ver-go" "golang-$ver-src"; do
    # shellcheck disable=SC2086
    ls ${p}_*.deb >/dev/null 2>&1 || apt-get $opts -qq download "$p" >&2
    dpkg-deb -x "$(ls ${p}_*.deb | sort -V | tail -n1)" "$root"
done
[ -x "$goroot/bin/go" ] || { echo "go-toolchain.sh: no go binary in $goroot" >&2; exit 1; }
echo "$goroot"
