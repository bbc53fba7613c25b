#!/bin/bash
# test_install.sh -- make install DESTDIR=...: libgoprof.so, goprof, goprof.h, libgoprof.pc,
# goprof(1) and the flame-graph files land in the usual places; pkg-config finds the library
# and a program builds and links against it; `man -l` of the page lists every variable of
# the config table (read here from src/lib/config/config.c itself); the installed goprof
# preloads the installed library and finds the installed flame-graph files.
. "$(dirname "$0")/lib.sh"

work=$(mktemp -d "${TMPDIR:-/tmp}/libgoprof-install.XXXXXX")
_goprof_unsets
dest=$work/dest
if ! ${MAKE:-make} -s -C "$top_builddir" install DESTDIR="$dest" >"$work/install.log" 2>&1; then
	fail "make install DESTDIR=$dest"
	show_file "$work/install.log" 30
	summary
	exit 1
fi
pass "make install DESTDIR=..."
prefix=$(sed -n 's/^prefix = //p' "$top_builddir/Makefile")
root=$dest$prefix
for f in bin/goprof lib/libgoprof.so include/goprof.h lib/pkgconfig/libgoprof.pc \
	share/man/man1/goprof.1 share/libgoprof/flame/flame.html share/libgoprof/flame/d3.min.js \
	share/libgoprof/flame/d3-flamegraph.min.js share/libgoprof/flame/d3-flamegraph.css; do
	check "installed: $prefix/$f" test -s "$root/$f"
done
check "installed goprof is executable" test -x "$root/bin/goprof"

# --- pkg-config -----------------------------------------------------------------------------
pc() { PKG_CONFIG_PATH=$root/lib/pkgconfig PKG_CONFIG_SYSROOT_DIR=$dest pkg-config "$@"; }
flags=$(pc --cflags --libs libgoprof)
check "pkg-config --cflags --libs libgoprof: $flags" \
	bash -c "[[ '$flags' == *-I$root/include* && '$flags' == *-L$root/lib* && '$flags' == *-lgoprof* ]]"
check "pkg-config --modversion matches the package" \
	test "$(pc --modversion libgoprof)" = "$(sed -n 's/^PACKAGE_VERSION = //p' "$top_builddir/Makefile")"
cat >"$work/uses_api.c" <<'C'
#include <goprof.h>
#include <stdio.h>
int main(void) { printf("%s %d\n", goprof_version(), goprof_active()); return 0; }
C
# shellcheck disable=SC2046
if gcc -o "$work/uses_api" "$work/uses_api.c" $(pc --cflags --libs libgoprof) 2>"$work/cc.log"; then
	# Linked (not preloaded), the library profiles the program all the same.
	out=$(cd "$work" && env "${_UNSETS[@]}" LD_LIBRARY_PATH="$root/lib" GOPROF_OUT="$work/api.pb.gz" \
		"$work/uses_api")
	check "a program linked with pkg-config's flags runs, profiled ($out)" \
		test "$out" = "$(pc --modversion libgoprof) 1"
else
	fail "a program builds with pkg-config's flags"
	show_file "$work/cc.log"
fi

# --- man page -------------------------------------------------------------------------------
man -l "$root/share/man/man1/goprof.1" >"$work/man.txt" 2>"$work/man.err"
check "man -l goprof.1 renders" test -s "$work/man.txt"
vars=$(grep -o '^ *{ "GOPROF_[A-Z_]*"' "$top_srcdir/src/lib/config/config.c" | grep -o 'GOPROF_[A-Z_]*' |
	sort -u)
check "the config table has variables ($(echo $vars))" test -n "$vars"
for v in $vars; do
	# an entry: the name alone on its line, in the ENVIRONMENT section
	check "man page lists $v" bash -c "sed -n '/^ENVIRONMENT/,/^EXIT STATUS/p' '$work/man.txt' |
		grep -Eq '^ +$v\$'"
done

# --- the installed goprof uses the installed files ----------------------------------------------
out=$(env "${_UNSETS[@]}" -u LIBGOPROF_PRELOAD "$root/bin/goprof" record -o "$work/sh.pb.gz" -- \
	sh -c 'echo "$LD_PRELOAD"' 2>"$work/rec.stderr")
check "installed goprof preloads the installed library ($out)" test "$out" = "$root/lib/libgoprof.so"
check "installed goprof: profile written" test -s "$work/sh.pb.gz"
env -u LIBGOPROF_FLAMEDIR "$root/bin/goprof" flame "$work/sh.pb.gz" >"$work/sh.html" 2>"$work/flame.err"
check "installed goprof flame finds the installed d3 files" \
	bash -c "[ -s '$work/sh.html' ] && grep -q 'd3-flame-graph' '$work/sh.html'"

if summary; then
	[ -n "${LIBGOPROF_TEST_KEEP:-}" ] || rm -rf "$work"
	exit 0
fi
echo "work directory kept: $work"
exit 1
