#!/bin/bash
# test_dwarf.sh -- C and C++ frames symbolized from DWARF (src/collector/symbolize_dwarf.h):
# file, line, inline frames and demangled names, compared with binutils' addr2line.
#
#   tests/integration/test_dwarf.sh     (make check; by hand after make check TESTS=)
#
# Fixtures (tests/fixtures): cgo_inline (Go calling C whose static helper is always inlined;
# cgo compiles C with -g -O2), c_dwarf (C, -O2 -g, helpers inlined into a noinline function),
# cxx_dwarf (C++, -O2 -g, templates in namespaces). For each profile, every location of the
# program's own mapping (for cgo_inline: those with a line in work.c) is printed by `profcheck
# lines` as `addr2line -i -f -C -a` prints it, and addr2line is run on the same link-time
# addresses (the profile's Location.address is already addr-1 for return addresses): names,
# files, lines and inline frames must be the same. Where binutils 2.40 is known to differ, the
# profile must be what llvm-symbolizer (GNU output style) says: at the first address of an
# inlined range binutils names the innermost frame after the enclosing function's symbol, and
# it finds nothing in the C units of a Go executable (whose .debug_aranges covers only some
# units). Then c_dwarf stripped, with its DWARF in a separate file found through
# .gnu_debuglink (next to it) and, as root, through its build id under
# /usr/lib/debug/.build-id (removed afterwards); and stripped of DWARF with no debug file, which
# must symbolize as before (symbol-table names, no files, no inline frames).

. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

fx=$top_srcdir/tests/fixtures
work=$(mktemp -d "${TMPDIR:-/tmp}/libgoprof-dwarf.XXXXXX") || { fail "mktemp"; finish; }
work=$(cd "$work" && pwd)
echo "# work directory $work"
need_go || { fail "Go toolchain"; finish; }
build_fixtures "$work/bin" || { fail "build fixtures"; finish; }
MS=${LIBGOPROF_DWARF_MS:-800}
installed_debug=
cleanup() { [ -z "$installed_debug" ] || rm -f "$installed_debug"; }
FINISH_HOOK=cleanup
trap cleanup EXIT

if ! (cd "$fx/cgo_inline" && CGO_ENABLED=1 "$GO" build -o "$work/cgo_inline" .) ||
	! gcc -O2 -g -Wall -o "$work/c_dwarf" "$fx/c_dwarf/c_dwarf.c" ||
	! g++ -O2 -g -Wall -o "$work/cxx_dwarf" "$fx/cxx_dwarf/cxx_dwarf.cc"; then
	fail "build the DWARF fixtures"
	finish
fi
LLVM_SYMBOLIZER=$(command -v llvm-symbolizer || command -v llvm-symbolizer-14 || true)

# blocks FILE: one line per address, "ADDR|name|file:line|name|file:line...", discriminators
# (binutils' " (discriminator N)") and the clone suffixes the symbolizers add to a symbol's
# name (binutils " [clone .isra.0]", llvm " (.isra.0)"; DWARF names have none) dropped.
blocks() {
	sed -E 's/ \(discriminator [0-9]+\)$//; s/ \[clone [.][A-Za-z0-9_.]+\]$//; s/ \([.][A-Za-z0-9_.]+\)$//' "$1" | awk '
		/^0x[0-9a-f]+$/ { if (b != "") print b; b = $0; next }
		{ b = b "|" $0 }
		END { if (b != "") print b }'
}

# compare NAME PROFILE MAPPING_SUFFIX ELF [--file RE]: the profile's locations against
# addr2line -i -f -C on ELF (the unstripped file), and where they differ against
# llvm-symbolizer in GNU style (when installed); sets $OURS to the profile's blocks.
compare() {
	local name=$1 prof=$2 suffix=$3 elf=$4
	shift 4
	local out=$work/$name
	OURS=$out.ours.blocks
	if ! "$PROFCHECK" lines "$prof" --mapping "$suffix" "$@" >"$out.ours"; then
		fail "$name: profcheck lines"
		return 1
	fi
	grep '^0x' "$out.ours" | addr2line -i -f -C -a -e "$elf" >"$out.a2l"
	blocks "$out.ours" >"$OURS"
	blocks "$out.a2l" >"$out.a2l.blocks"
	local n same=0 llvm=0 bad=0 a b l
	n=$(wc -l <"$OURS")
	while IFS= read -r a && IFS= read -r b <&3; do
		if [ "${a#*|}" = "${b#*|}" ]; then
			same=$((same + 1))
			continue
		fi
		if [ -n "$LLVM_SYMBOLIZER" ]; then
			"$LLVM_SYMBOLIZER" --obj="$elf" --output-style=GNU -i -f -C -a "${a%%|*}" >"$out.llvm"
			l=$(blocks "$out.llvm")
			if [ "${a#*|}" = "${l#*|}" ]; then
				llvm=$((llvm + 1))
				[ "$llvm" -le 2 ] && note "addr2line: $b" && note "llvm-symbolizer and the profile: $a"
				continue
			fi
		fi
		bad=$((bad + 1))
		[ "$bad" -le 5 ] && note "profile:   $a" && note "addr2line: $b" && note "llvm-symbolizer: ${l:-none}"
	done <"$OURS" 3<"$out.a2l.blocks"
	if [ "$n" -gt 0 ] && [ "$bad" = 0 ] && [ "$(wc -l <"$out.a2l.blocks")" = "$n" ]; then
		pass "$name: $n locations: $same as addr2line -i -f -C says, $llvm as llvm-symbolizer says where binutils differs"
	else
		fail "$name: $n locations, $bad differ from addr2line -i -f -C (and llvm-symbolizer)"
	fi
}

# has_chain BLOCKS ERE MSG: some location's block matches the extended regexp.
has_chain() {
	if grep -Eq "$2" "$1"; then
		pass "$3"
	else
		fail "$3"
		show_file "$1" 10
	fi
}

# --- (a) cgo: the C helper inlined into the function Go calls -------------------------------
if run_profiled "$work/cgo.pb.gz" -- "$work/cgo_inline" -ms "$MS"; then
	compare cgo_inline "$RUN_PROFILE" /cgo_inline "$work/cgo_inline" --file '/cgo_inline/work\.c$'
	has_chain "$OURS" '\|inline_mix\|[^|]*/cgo_inline/work\.c:[0-9]+\|c_work\|[^|]*/cgo_inline/work\.c:[0-9]+$' \
		"cgo_inline: inline_mix is an inline frame of c_work, files and lines from work.c"
	check "cgo_inline: stacks main.main ... cgo wrapper;c_work;inline_mix" \
		"$PROFCHECK" chain "$RUN_PROFILE" --leaf inline_mix \
		--expect '...;main.main;...;_cgo_*_Cfunc_c_work;c_work;inline_mix' --min 0.95 --min-samples 20
	check "cgo_inline: Go text still through the pclntab (main.main at main.go)" \
		bash -c "'$PROFCHECK' lines '$RUN_PROFILE' --mapping /cgo_inline | grep -A1 -x main.main | grep -q '/cgo_inline/main\.go:[0-9]'"
else
	fail "cgo_inline: no profile"
	show_file "$RUN_STDERR"
fi

# --- (b) C, -O2 -g ---------------------------------------------------------------------------
if run_profiled "$work/c.pb.gz" -- "$work/c_dwarf" "$MS"; then
	C_PROFILE=$RUN_PROFILE
	compare c_dwarf "$RUN_PROFILE" /c_dwarf "$work/c_dwarf"
	cp "$OURS" "$work/c_dwarf.reference"
	has_chain "$OURS" '\|mix_step\|[^|]*c_dwarf\.c:[0-9]+\|mix_twice\|[^|]*c_dwarf\.c:[0-9]+\|dwarf_work\|[^|]*c_dwarf\.c:[0-9]+' \
		"c_dwarf: mix_step inlined in mix_twice inlined in dwarf_work, with lines"
else
	fail "c_dwarf: no profile"
	show_file "$RUN_STDERR"
fi

# --- (c) C++: templates and namespaces, demangled, mangled as system names --------------------
if run_profiled "$work/cxx.pb.gz" -- "$work/cxx_dwarf" "$MS"; then
	compare cxx_dwarf "$RUN_PROFILE" /cxx_dwarf "$work/cxx_dwarf"
	has_chain "$OURS" '\|scramble<[^|]*>\|[^|]*cxx_dwarf\.cc:[0-9]+\|geo::Mixer<unsigned (long|int), [37]>::run\(unsigned (long|int), int\) const\|' \
		"cxx_dwarf: scramble<T> inlined into geo::Mixer<T, N>::run, demangled"
	"$PROFCHECK" lines "$RUN_PROFILE" --mapping /cxx_dwarf --system | grep -P '^geo::Mixer.*\t' |
		sort -u >"$work/cxx.system"
	ok=1
	[ -s "$work/cxx.system" ] || ok=0
	while IFS=$'\t' read -r name sys; do
		case $sys in _ZNK3geo5Mixer*) ;; *) ok=0 ;; esac
		[ "$(echo "$sys" | c++filt)" = "$name" ] || { ok=0; note "$sys | c++filt != $name"; }
	done <"$work/cxx.system"
	if [ $ok = 1 ]; then
		pass "cxx_dwarf: Function.system_name is the mangled name, Function.name what c++filt makes of it"
	else
		fail "cxx_dwarf: system names"
		show_file "$work/cxx.system"
	fi
else
	fail "cxx_dwarf: no profile"
	show_file "$RUN_STDERR"
fi

# --- separate debug files ---------------------------------------------------------------------
# Both stripped copies have c_dwarf's code and so its addresses; compared with addr2line on the
# unstripped file.
mkdir -p "$work/dl"
if objcopy --only-keep-debug "$work/c_dwarf" "$work/dl/c_dwarf.debug" &&
	objcopy --strip-all --add-gnu-debuglink="$work/dl/c_dwarf.debug" "$work/c_dwarf" "$work/dl/c_dwarf" &&
	run_profiled "$work/dl.pb.gz" -- "$work/dl/c_dwarf" "$MS"; then
	compare c_dwarf_debuglink "$RUN_PROFILE" /dl/c_dwarf "$work/c_dwarf"
	has_chain "$OURS" '\|mix_step\|[^|]*c_dwarf\.c:[0-9]+\|mix_twice\|' \
		"c_dwarf stripped, DWARF through .gnu_debuglink: inline frames and lines"
else
	fail "c_dwarf with .gnu_debuglink"
fi

# By build id: a build of its own (other flags, so another build id) installed where
# distributions put debug files; as root only.
if gcc -O2 -g -fno-omit-frame-pointer -Wall -o "$work/c_dwarf_bid" "$fx/c_dwarf/c_dwarf.c"; then
	bid=$(readelf -n "$work/c_dwarf_bid" | awk '/Build ID/ { print $3; exit }')
	dest=/usr/lib/debug/.build-id/${bid:0:2}/${bid:2}.debug
	mkdir -p "$work/bid"
	if [ -z "$bid" ]; then
		fail "c_dwarf: no build id"
	elif [ -e "$dest" ] || ! mkdir -p "${dest%/*}" 2>/dev/null || ! touch "$dest" 2>/dev/null; then
		echo "# skipped: the build-id case needs to write $dest (root)"
	else
		installed_debug=$dest
		if objcopy --only-keep-debug "$work/c_dwarf_bid" "$dest" &&
			objcopy --strip-all "$work/c_dwarf_bid" "$work/bid/c_dwarf" &&
			run_profiled "$work/bid.pb.gz" -- "$work/bid/c_dwarf" "$MS"; then
			compare c_dwarf_buildid "$RUN_PROFILE" /bid/c_dwarf "$work/c_dwarf_bid"
			has_chain "$OURS" '\|mix_step\|[^|]*c_dwarf\.c:[0-9]+\|mix_twice\|' \
				"c_dwarf stripped, DWARF by build id under /usr/lib/debug/.build-id: inline frames and lines"
		else
			fail "c_dwarf by build id"
		fi
		rm -f "$dest"
		installed_debug=
	fi
else
	fail "build c_dwarf for the build-id case"
fi

# Without DWARF and without a debug file: as before, names from the symbol table only.
mkdir -p "$work/nodbg"
if objcopy --strip-debug "$work/c_dwarf" "$work/nodbg/c_dwarf" &&
	run_profiled "$work/nodbg.pb.gz" -- "$work/nodbg/c_dwarf" "$MS"; then
	"$PROFCHECK" lines "$RUN_PROFILE" --mapping /nodbg/c_dwarf >"$work/nodbg.ours"
	blocks "$work/nodbg.ours" >"$work/nodbg.blocks"
	if [ -s "$work/nodbg.blocks" ] && ! grep -vEq '^0x[0-9a-f]+\|[^|]+\|\?\?:\?$' "$work/nodbg.blocks" &&
		grep -q '|dwarf_work|' "$work/nodbg.blocks"; then
		pass "c_dwarf without DWARF: symbol-table names, one line per location, no files"
	else
		fail "c_dwarf without DWARF"
		show_file "$work/nodbg.blocks"
	fi
else
	fail "c_dwarf without DWARF: no profile"
fi

finish
