#!/bin/sh
# flame-deps.sh -- installs the JavaScript that goprof flame inlines into its pages (d3 and
# d3-flame-graph, versions pinned by web/package.json and web/package-lock.json) from the npm
# registry into a private cache, and prints the node_modules directory. The build copies the
# dist files from there (Makefile.am); nothing of them is kept in the repository.
#
#   scripts/flame-deps.sh      -> e.g. ~/.cache/libgoprof/npm-1a2b3c4d5e6f7a8b/node_modules
#
# Cache: $LIBGOPROF_CACHE (default: $HOME/.cache/libgoprof), one directory per lock file
# content, so a changed lock installs afresh. LIBGOPROF_NODE_MODULES=DIR uses DIR instead.
set -eu
web=$(cd "$(dirname "$0")/../web" && pwd)
files="d3/dist/d3.min.js d3-flame-graph/dist/d3-flamegraph.min.js d3-flame-graph/dist/d3-flamegraph.css"
check() {
    for f in $files; do
        [ -f "$1/$f" ] || { echo "flame-deps.sh: $1/$f is missing" >&2; return 1; }
    done
}
if [ -n "${LIBGOPROF_NODE_MODULES:-}" ]; then
    check "$LIBGOPROF_NODE_MODULES"
    echo "$LIBGOPROF_NODE_MODULES"
    exit 0
fi
cache=${LIBGOPROF_CACHE:-$HOME/.cache/libgoprof}
key=$(cat "$web/package.json" "$web/package-lock.json" | sha256sum | cut -c1-16)
dir="$cache/npm-$key"
if [ ! -f "$dir/node_modules/.libgoprof-complete" ]; then
    command -v npm >/dev/null ||
        { echo "flame-deps.sh: npm not found (Debian: apt-get install npm, or run scripts/setup.sh)" >&2; exit 1; }
    tmp="$dir.tmp.$$"
    rm -rf "$tmp"
    mkdir -p "$tmp"
    cp "$web/package.json" "$web/package-lock.json" "$tmp/"
    # ci: exactly the lock file's versions; no install scripts run.
    (cd "$tmp" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error >&2)
    check "$tmp/node_modules"
    touch "$tmp/node_modules/.libgoprof-complete"
    # Another build may have finished the same install meanwhile: either copy will do.
    mv -T "$tmp" "$dir" 2>/dev/null || rm -rf "$tmp"
fi
check "$dir/node_modules"
echo "$dir/node_modules"
