#!/bin/bash
# test_flame.sh -- goprof flame's page, rendered by a real browser (headless Chromium):
# a profile of the cgo fixture becomes an HTML page that opens from a file with nothing else
# (d3 and d3-flame-graph inlined); Chromium renders it, the screenshot is kept as
# tests/artifacts/flame.png in the build tree, and the rendered DOM (not the data embedded in
# the page) must hold an SVG frame for the C leaf c_inner drawn above, and within the width
# of, one for its Go caller main.goCallC. No Chromium is a failure, not a skip.
. "$(dirname "$0")/lib.sh"

need_go || { echo "0 passed, 1 failed"; exit 1; }
work=$(mktemp -d "${TMPDIR:-/tmp}/libgoprof-flame.XXXXXX")
build_fixtures "$work" || { fail "build fixtures"; summary; exit 1; }
GOPROF=$top_builddir/goprof
[ -x "$GOPROF" ] || GOPROF=$top_srcdir/build/goprof
artifacts=$top_builddir/tests/artifacts
mkdir -p "$artifacts"
chromium=$(command -v chromium || command -v chromium-browser || true)

run_profiled "$work/cgo.pb.gz" -- "$GO_CGO" -d 1s
check "profile of the cgo fixture" test -n "$RUN_PROFILE"
"$GOPROF" flame "$work/cgo.pb.gz" >"$work/flame.html" 2>"$work/flame.stderr"
check "goprof flame: exit 0" test $? = 0
check "goprof flame: nothing on stderr" test ! -s "$work/flame.stderr"
check "goprof flame: the page loads no external file" \
	bash -c "! grep -Eiq '<(script|link)[^>]* (src|href)=' '$work/flame.html'"
samples=$("$PROFCHECK" total "$work/cgo.pb.gz" | sed -n 's/^count //p')

if [ -z "$chromium" ]; then
	fail "chromium is not installed (scripts/setup.sh installs it)"
else
	# A private profile directory; no sandbox (CI runs as root); virtual time lets the
	# page's scripts finish before the DOM is dumped.
	flags=(--headless --no-sandbox --disable-gpu --user-data-dir="$work/chromium"
		--virtual-time-budget=3000 --window-size=1280,720)
	timeout 90 "$chromium" "${flags[@]}" --screenshot="$work/flame.png" \
		"file://$work/flame.html" >"$work/shot.log" 2>&1
	check "chromium: screenshot taken" bash -c "head -c 8 '$work/flame.png' | od -c | grep -q 'P   N   G'"
	cp "$work/flame.png" "$artifacts/flame.png" 2>/dev/null
	timeout 90 "$chromium" "${flags[@]}" --dump-dom "file://$work/flame.html" \
		>"$work/dom.html" 2>"$work/dom.log"
	check "chromium: DOM dumped" test -s "$work/dom.html"
	# frame NAME: "x y width" of the rendered SVG <g> of that frame
	frame() {
		grep -o "<g transform=\"translate([0-9.]*,[0-9.]*)\" width=\"[0-9.]*\"[^>]* name=\"$1\"" \
			"$work/dom.html" | head -n 1 |
			sed 's/.*translate(\([0-9.]*\),\([0-9.]*\)).*width="\([0-9.]*\)".*/\1 \2 \3/'
	}
	leaf=$(frame c_inner)
	caller=$(frame main.goCallC)
	check "rendered: an SVG frame for the C function c_inner ($leaf)" test -n "$leaf"
	check "rendered: an SVG frame for its Go caller main.goCallC ($caller)" test -n "$caller"
	check "rendered: c_inner's tooltip title with its sample count" \
		grep -Eq '<title>c_inner \([0-9.]+%, [0-9]+ samples\)</title>' "$work/dom.html"
	check "rendered: c_inner is drawn above main.goCallC, within its width" \
		awk -v l="$leaf" -v c="$caller" 'BEGIN { split(l, a, " "); split(c, b, " ");
			exit !(a[2] < b[2] && a[1] >= b[1] && a[1] + a[3] <= b[1] + b[3] + 0.5 && a[3] > 0) }'
	check "rendered: the heading names the program and the sample count ($samples)" \
		grep -q "<h1 id=\"title\">go_cgo ($samples samples)</h1>" "$work/dom.html"
	check "rendered: the root frame holds every sample" \
		grep -q "<title>all (100.000%, $samples samples)</title>" "$work/dom.html"
fi

if summary; then
	[ -n "${LIBGOPROF_TEST_KEEP:-}" ] || rm -rf "$work"
	exit 0
fi
echo "work directory kept: $work"
exit 1
