// stats.go -- medians with min/max, number formatting, and the one table.
package main

import (
	"fmt"
	"io"
	"math"
	"sort"
	"strings"
	"unicode/utf8"
)

// Stat is the median and range of repeated measurements.
type Stat struct {
	Med, Min, Max float64
	N             int
}

func median(xs []float64) float64 {
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	n := len(s)
	if n == 0 {
		return math.NaN()
	}
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

func stat(in []float64) Stat {
	var xs []float64
	for _, x := range in {
		if !math.IsNaN(x) {
			xs = append(xs, x)
		}
	}
	if len(xs) == 0 {
		return Stat{math.NaN(), math.NaN(), math.NaN(), 0}
	}
	st := Stat{Med: median(xs), Min: xs[0], Max: xs[0], N: len(xs)}
	for _, x := range xs {
		st.Min = math.Min(st.Min, x)
		st.Max = math.Max(st.Max, x)
	}
	return st
}

func (s Stat) ok() bool { return s.N > 0 && !math.IsNaN(s.Med) }

// medianInterval is the sign test's 95 % interval of the median of xs: the order statistics k
// and n + 1 - k, k = n/2 - 0.98 sqrt(n) (no assumption about the spread; with fewer than 6
// values it is the whole range).
func medianInterval(in []float64) (lo, hi float64) {
	var xs []float64
	for _, x := range in {
		if !math.IsNaN(x) {
			xs = append(xs, x)
		}
	}
	if len(xs) == 0 {
		return math.NaN(), math.NaN()
	}
	sort.Float64s(xs)
	n := len(xs)
	k := int(float64(n)/2 - 0.98*math.Sqrt(float64(n)))
	if k < 1 {
		k = 1
	}
	return xs[k-1], xs[n-k]
}

// pctInterval is pct with the median's 95 % interval of the same values after it.
func (s Stat) pctInterval(xs []float64) string {
	if !s.ok() {
		return "n/a"
	}
	lo, hi := medianInterval(xs)
	return fmt.Sprintf("%s; the median's 95 %% interval [%+.1f, %+.1f] %%", s.pct(), lo*100, hi*100)
}

// f formats the median and [min, max] with format fm and a unit suffix.
func (s Stat) f(fm, unit string) string {
	if !s.ok() {
		return "n/a"
	}
	if s.N == 1 {
		return fmt.Sprintf(fm+"%s", s.Med, unit)
	}
	return fmt.Sprintf(fm+"%s ["+fm+", "+fm+"]", s.Med, unit, s.Min, s.Max)
}

// pct formats fractions (0.012) as signed percentages.
func (s Stat) pct() string {
	return Stat{s.Med * 100, s.Min * 100, s.Max * 100, s.N}.f("%+.1f", " %")
}

// pts formats fractions as signed percentage points.
func (s Stat) pts() string {
	return Stat{s.Med * 100, s.Min * 100, s.Max * 100, s.N}.f("%+.1f", " pts")
}

// histTop is the lower edge of the last bucket of libgoprof's cost histograms (2^25 x 15/8 ns):
// a quantile there means "this long or longer".
const histTop = 62914560

// dur formats a quantile of a cost histogram (nanoseconds) as µs, or ms from 10 ms up.
func dur(ns float64) string {
	if ns >= histTop {
		return "≥ 62.9 ms"
	}
	return durExact(ns)
}

// durExact formats nanoseconds as µs, or ms from 10 ms up.
func durExact(ns float64) string {
	if ns >= 1e7 {
		return fmt.Sprintf("%.1f ms", ns/1e6)
	}
	return fmt.Sprintf("%.2f µs", ns/1e3)
}

// us formats nanoseconds: median [min, max].
func (s Stat) us() string {
	if !s.ok() {
		return "n/a"
	}
	if s.N == 1 {
		return dur(s.Med)
	}
	return fmt.Sprintf("%s [%s, %s]", dur(s.Med), dur(s.Min), dur(s.Max))
}

// ms formats nanoseconds as milliseconds.
func (s Stat) ms() string {
	return Stat{s.Med / 1e6, s.Min / 1e6, s.Max / 1e6, s.N}.f("%.0f", " ms")
}

// mb formats KiB as MiB.
func (s Stat) mb() string {
	return Stat{s.Med / 1024, s.Min / 1024, s.Max / 1024, s.N}.f("%.1f", " MB")
}

// mcyc formats cycles as millions.
func (s Stat) mcyc() string {
	return Stat{s.Med / 1e6, s.Min / 1e6, s.Max / 1e6, s.N}.f("%.1f", " Mcycles")
}

// pts2 is pts with two decimals.
func (s Stat) pts2() string {
	return Stat{s.Med * 100, s.Min * 100, s.Max * 100, s.N}.f("%+.2f", " pts")
}

// pct2 is pct with two decimals (the cycle counts resolve them).
func (s Stat) pct2() string {
	return Stat{s.Med * 100, s.Min * 100, s.Max * 100, s.N}.f("%+.2f", " %")
}

// times formats ratios as "0.85×".

func (s Stat) times() string { return s.f("%.2f", "×") }

// Row is one line of the table. Verdict is PASS, MISS, n/a or "" (no target: for reference).
type Row struct {
	Sec, What, Value, Target, Verdict string
}

func verdict(ok bool) string {
	if ok {
		return "PASS"
	}
	return "MISS"
}

// judgeInterval judges a median against an upper limit by its 95 % interval: PASS when the
// whole interval is at or under the limit, MISS when all of it is over, and otherwise
// "unresolved" with the median's side: the rounds did not decide it, and a median a hair
// under the limit is not a pass.
func judgeInterval(xs []float64, limit float64) string {
	lo, hi := medianInterval(xs)
	s := stat(xs)
	switch {
	case !s.ok() || math.IsNaN(lo):
		return "n/a"
	case hi <= limit:
		return "PASS"
	case lo > limit:
		return "MISS"
	case s.Med <= limit:
		return "unresolved (median under)"
	}
	return "unresolved (median over)"
}

// judge returns the verdict of cond on s.Med, or n/a when s has no data.
func judge(s Stat, cond func(float64) bool) string {
	if !s.ok() {
		return "n/a"
	}
	return verdict(cond(s.Med))
}

func printTable(w io.Writer, rows []Row) {
	head := Row{"§", "measurement", "median [min, max]", "target", "result"}
	cols := func(r Row) []string { return []string{r.Sec, r.What, r.Value, r.Target, r.Verdict} }
	width := make([]int, 5)
	for _, r := range append([]Row{head}, rows...) {
		for i, c := range cols(r) {
			if n := utf8.RuneCountInString(c); n > width[i] {
				width[i] = n
			}
		}
	}
	line := func(cs []string) {
		var b strings.Builder
		b.WriteString("|")
		for i, c := range cs {
			b.WriteString(" " + c + strings.Repeat(" ", width[i]-utf8.RuneCountInString(c)) + " |")
		}
		fmt.Fprintln(w, b.String())
	}
	line(cols(head))
	sep := make([]string, 5)
	for i := range sep {
		sep[i] = strings.Repeat("-", width[i])
	}
	line(sep)
	for _, r := range rows {
		line(cols(r))
	}
}
