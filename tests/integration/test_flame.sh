#!/bin/bash
# test_flame.sh -- goprof flame's page, rendered by a real browser (headless Chromium):
# a profile of the cgo fixture becomes an HTML page that opens from a file with nothing else
# (d3 and d3-flame-graph inlined); Chromium renders it, the screenshot is kept as
# tests/artifacts/flame.png in the build tree, and the rendered DOM (not the data embedded in
# the page) must hold an SVG frame for the C leaf c_inner drawn above, and within the width
# of, one for its Go caller main.goCallC. Frames are coloured by kind (src/goprof/frame_kind.h):
# the rendered fills of c_inner (C), main.goCallC (Go), runtime.cgocall (the Go runtime) and the
# root (libgoprof's) must have their kinds' hues, and the legend must show every kind with its
# colour. No Chromium is a failure, not a skip.
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

	# Colours by kind. fill NAME: the fill of the rendered frame NAME; kind_hue KIND COLOUR:
	# COLOUR ("hsl(h, s%, l%)" or "rgb(r, g, b)") is in KIND's hue range of web/flame.html
	# (widened a little): Go blue/aqua, runtime grey-blue (low saturation), C/C++ orange/yellow,
	# libgoprof red.
	fill() {
		grep -o "<g [^>]* name=\"$1\" class=\"frame[^\"]*\"><rect [^>]*fill=\"[^\"]*\"" \
			"$work/dom.html" | head -n 1 | sed 's/.*fill="\([^"]*\)"/\1/'
	}
	kind_hue() {
		echo "$2" | awk -v kind="$1" -F'[(),% ]+' '
			/^hsl/ { h = $2; s = $3 }
			/^rgb/ { r = $2 / 255; g = $3 / 255; b = $4 / 255
				mx = r; if (g > mx) mx = g; if (b > mx) mx = b
				mn = r; if (g < mn) mn = g; if (b < mn) mn = b
				d = mx - mn; l = (mx + mn) / 2
				s = d == 0 ? 0 : 100 * d / (1 - (2 * l - 1 < 0 ? 1 - 2 * l : 2 * l - 1))
				if (d == 0) h = 0
				else if (mx == r) { h = 60 * ((g - b) / d); if (h < 0) h += 360 }
				else if (mx == g) h = 60 * ((b - r) / d + 2)
				else h = 60 * ((r - g) / d + 4) }
			END {
				if (h == "") exit 1
				if (kind == "go") exit !(h >= 180 && h <= 210 && s >= 40)
				if (kind == "runtime") exit !(h >= 210 && h <= 240 && s <= 35)
				if (kind == "native") exit !(h >= 20 && h <= 55 && s >= 60)
				if (kind == "libgoprof") exit !((h <= 12 || h >= 350) && s >= 40)
				exit 1 }'
	}
	c_fill=$(fill c_inner) go_fill=$(fill main.goCallC) rt_fill=$(fill runtime.cgocall)
	root_fill=$(fill all)
	check "colour: c_inner has the C/C++ hue ($c_fill)" kind_hue native "$c_fill"
	check "colour: main.goCallC has the Go hue ($go_fill)" kind_hue go "$go_fill"
	check "colour: runtime.cgocall has the Go runtime hue ($rt_fill)" kind_hue runtime "$rt_fill"
	check "colour: the root frame has libgoprof's hue ($root_fill)" kind_hue libgoprof "$root_fill"
	check "colour: c_inner and main.goCallC differ" test "$c_fill" != "$go_fill"
	for name in c_outer main.main runtime.main; do
		f=$(fill "$name")
		case $name in c_*) k=native ;; main.*) k=go ;; *) k=runtime ;; esac
		check "colour: $name has the $k hue ($f)" kind_hue "$k" "$f"
	done
	marker=$(grep -o 'name="\[libgoprof\] [^"]*"' "$work/dom.html" | head -n 1 | sed 's/name="\(.*\)"/\1/')
	if [ -n "$marker" ]; then
		f=$(fill "$(printf '%s' "$marker" | sed 's/[][\.*^$]/\\&/g')")
		check "colour: '$marker' has libgoprof's hue ($f)" kind_hue libgoprof "$f"
	fi
	# the legend: KEY LABEL, a swatch of the kind's hue, a share; the shares add up to 100%
	for entry in "go Go" "runtime Go runtime" "native C/C++" "libgoprof libgoprof"; do
		key=${entry%% *} label=${entry#* }
		item=$(grep -o "<span class=\"kind\" data-kind=\"$key\"><span class=\"swatch\" style=\"background: [^\"]*\"></span>[^<]*<span class=\"share\"> [0-9.]*%</span>" \
			"$work/dom.html")
		swatch=$(echo "$item" | sed -n 's/.*background: \([^;"]*\);*".*/\1/p')
		check "legend: $label, its swatch ($swatch) and share" \
			bash -c '[ "$(echo "$1" | sed "s/.*<\/span>\([^<]*\)<span class=\"share\">.*/\1/")" = "$2" ]' _ "$item" "$label"
		check "legend: the $label swatch has the frames' hue" kind_hue "$key" "$swatch"
	done
	check "legend: the shares add up to 100%" bash -c "grep -o '<span class=\"share\"> [0-9.]*%' '$work/dom.html' |
		sed 's/.*> //; s/%//' | awk '{ t += \$1 } END { exit !(NR == 4 && t > 99.7 && t < 100.3) }'"
fi

if summary; then
	[ -n "${LIBGOPROF_TEST_KEEP:-}" ] || rm -rf "$work"
	exit 0
fi
echo "work directory kept: $work"
exit 1
