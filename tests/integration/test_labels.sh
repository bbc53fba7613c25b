#!/bin/bash
# test_labels.sh -- Go pprof labels on libgoprof's samples, against Go's own profiler in the same
# process. tests/fixtures/go_labels runs one goroutine that alternates two label sets spending
# CPU 2:1 (work=c-heavy,tenant=a: mostly in C through cgo, part of it in Go called back from
# that C; work=go: Go only) and an unlabelled goroutine. For each Go toolchain in
# LIBGOPROF_TEST_LABEL_GO_VERSIONS (default 1.21 1.23 1.24 1.26: both forms of g.labels, a map up
# to 1.23 and a sorted slice from 1.24), both profilers at 500 Hz:
#   - the profile loads in go tool pprof, and -tagfocus=work=go selects samples;
#   - each label value's share of the labelled samples within 3 points of Go's profile (shares
#     of the labelled samples: libgoprof also samples threads Go's profiler has no timer on,
#     such as sysmon, so whole-profile shares differ by that much);
#   - >= 99 % of the samples whose leaf is the C function labels_spin, and of those in Go
#     called back from it (main.spinCallback), carry work=c-heavy and tenant=a;
#   - no sample of the unlabelled goroutine carries a label (no label it did not have);
#   - folded output starts labelled stacks with "[labels: tenant=a, work=c-heavy]".
# Then -many (20 labels, one value of 300 bytes) on the two forms: 16 labels kept, the value cut
# to 160 bytes and marked with "…", "[libgoprof] labels left out" = 4; from 1.24 the kept
# labels are the first 16 by key (Go keeps them sorted).
. "$(dirname "$0")/lib.sh"

need_go || { echo "0 passed, 1 failed"; exit 1; }
work=$(mktemp -d "${TMPDIR:-/tmp}/libgoprof-labels.XXXXXX")
build_fixtures "$work" || { fail "build fixtures"; summary; exit 1; }
GOPROF=$top_builddir/goprof
[ -x "$GOPROF" ] || GOPROF=$top_srcdir/build/goprof
secs=${LIBGOPROF_LABELS_SECONDS:-3}

# share FILE VALUE: VALUE's percentage of the samples with a work label
share() {
	"$PROFCHECK" bylabel "$1" --key work | awk -v v="$2" '
		/^#/ { next } { n[$1] = $2; t += $2 }
		END { if (t == 0) exit 1; printf "%.2f\n", 100 * n[v] / t }'
}
# fraction FILE FILTER...: the fraction of the samples FILTER selects (profcheck's --leaf,
# --contains) that carry both of the c-heavy set's labels
fraction() {
	local f=$1 all with
	shift
	all=$("$PROFCHECK" bylabel "$f" --key work "$@" | awk '/without/ { s += $5; next }
		/^#/ { next } { s += $2 } END { print s + 0 }')
	with=$("$PROFCHECK" bylabel "$f" --key work --where tenant=a "$@" |
		awk '$1 == "c-heavy" { print $2 }')
	awk -v a="$all" -v w="${with:-0}" 'BEGIN { if (a == 0) { print "none"; exit } printf "%.4f\n", w / a }'
}
within() { awk -v a="$1" -v b="$2" -v t="$3" 'BEGIN { d = a - b; if (d < 0) d = -d; exit !(d <= t) }'; }
atleast() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a != "none" && a >= b) }'; }

for v in ${LIBGOPROF_TEST_LABEL_GO_VERSIONS:-1.21 1.23 1.24 1.26}; do
	goroot=$("$top_srcdir/scripts/go-toolchain.sh" "$v") || { fail "go$v: toolchain"; continue; }
	bin="$work/go_labels-$v"
	(cd "$top_srcdir/tests/fixtures/go_labels" && CGO_ENABLED=1 "$goroot/bin/go" build -o "$bin" .) ||
		{ fail "go$v: build go_labels"; continue; }
	gp="$work/go$v.go.pb.gz"
	run_profiled "$work/go$v.pb.gz" GOPROF_HZ=500 GOPROF_TEST_GOPPROF="$gp" \
		GOPROF_TEST_GOPPROF_HZ=500 -- "$bin" -d "${secs}s" || { fail "go$v: profile written"; continue; }
	p=$RUN_PROFILE
	check "go$v: profile valid for go tool pprof" pprof_ok "$p"
	check "go$v: go tool pprof -tagfocus=work=go selects samples" \
		sh -c '"$1" tool pprof -raw -tagfocus=work=go "$2" 2>/dev/null | grep -q "work:\[go\]"' _ "$GO" "$p"
	for val in c-heavy go; do
		ours=$(share "$p" "$val") theirs=$(share "$gp" "$val")
		check "go$v: work=$val is $ours % of labelled samples, Go's profile $theirs % (within 3 points)" \
			within "${ours:-0}" "${theirs:-100}" 3
	done
	c=$(fraction "$p" --leaf labels_spin)
	check "go$v: samples with leaf labels_spin (C) that carry work=c-heavy,tenant=a: $c (>= 0.99)" \
		atleast "$c" 0.99
	cb=$(fraction "$p" --contains main.spinCallback)
	check "go$v: samples in Go called back from C that carry them: $cb (>= 0.99)" atleast "$cb" 0.99
	check "go$v: no sample of the unlabelled goroutine has a label" \
		sh -c '"$1" bylabel "$2" --key work --contains main.unlabelledSpin | grep -q "^# without work: count [1-9]" &&
			! "$1" bylabel "$2" --key work --contains main.unlabelledSpin | grep -qv "^#" &&
			! "$1" bylabel "$2" --key tenant --contains main.unlabelledSpin | grep -qv "^#"' _ "$PROFCHECK" "$p"
	check "go$v: the label keys and values are Go's (work=c-heavy, work=go, tenant=a)" \
		"$PROFCHECK" labels "$p" --require work:str --require tenant:str \
		--require-value work=c-heavy --require-value work=go --require-value tenant=a
	check "go$v: folded stacks start with [labels: tenant=a, work=c-heavy]" \
		sh -c '"$1" folded "$2" | grep -q "^\[labels: tenant=a, work=c-heavy\];runtime.goexit;runtime.main;main.main;main.cHeavy;main._Cfunc_labels_spin;.*;labels_spin [0-9]*$"' _ "$GOPROF" "$p"
done

# --- more labels than a record holds ------------------------------------------------------
long=$(printf 'v%.0s' $(seq 160))
for v in ${LIBGOPROF_TEST_LABEL_MANY_GO_VERSIONS:-1.23 1.26}; do
	bin="$work/go_labels-$v"
	[ -x "$bin" ] || { goroot=$("$top_srcdir/scripts/go-toolchain.sh" "$v") &&
		(cd "$top_srcdir/tests/fixtures/go_labels" && CGO_ENABLED=1 "$goroot/bin/go" build -o "$bin" .); } ||
		{ fail "go$v: build go_labels"; continue; }
	run_profiled "$work/many$v.pb.gz" -- "$bin" -d 1s -many || { fail "go$v -many: profile written"; continue; }
	p=$RUN_PROFILE
	# every sample of the labelled goroutine: 16 goroutine labels and the left-out count
	check "go$v -many: labelled samples carry '[libgoprof] labels left out' = 4" \
		"$PROFCHECK" labels "$p" --require-value "[libgoprof] labels left out=4"
	n=$("$PROFCHECK" dump "$p" 2>/dev/null | awk '/labels left out/ { n = gsub(/ (k[0-9][0-9]|work|tenant)=/, "&"); print n; exit }')
	check "go$v -many: 16 goroutine labels kept per sample ($n)" test "${n:-0}" = 16
	if [ "$v" != 1.23 ]; then
		check "go$v -many: the 300-byte value is kept as 160 bytes and marked cut" \
			"$PROFCHECK" labels "$p" --require-value "k00=$long…"
		check "go$v -many: the first 16 keys are kept (k00..k15), tenant and work left out" \
			sh -c '"$1" labels "$2" | grep -q "^k15 " && ! "$1" labels "$2" | grep -q "^tenant "' _ "$PROFCHECK" "$p"
	else
		check "go$v -many: a value kept is whole or cut to 160 bytes and marked" \
			sh -c '! "$1" labels "$2" | grep "^k00 " | grep -v "v\{160\}…"' _ "$PROFCHECK" "$p"
	fi
done
summary && { [ -n "${LIBGOPROF_TEST_KEEP:-}" ] || rm -rf "$work"; }
