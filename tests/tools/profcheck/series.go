// series: a sequence of profiles that should tile a run (libgoprof's GOPROF_INTERVAL files).
package main

import (
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
)

// runSoFar reads libgoprof's "run so far: samples N, lost M, unsampled U" comment; ok is
// false without one.
var runSoFarRe = regexp.MustCompile(`^run so far: samples (\d+), lost (\d+), unsampled (\d+)$`)

func runSoFar(p *Profile) (samples, lost, unsampled int64, ok bool) {
	for _, c := range p.Comments {
		if m := runSoFarRe.FindStringSubmatch(c); m != nil {
			s, _ := strconv.ParseInt(m[1], 10, 64)
			l, _ := strconv.ParseInt(m[2], 10, 64)
			u, _ := strconv.ParseInt(m[3], 10, 64)
			return s, l, u, true
		}
	}
	return 0, 0, 0, false
}

// cmdSeries checks that FILEs, in the order given, have ordered time ranges that do not
// overlap (time_nanos[i] + duration_nanos[i] <= time_nanos[i+1]) and at most --max-gap apart,
// and prints each file's count and cpu_ns and their sums. With --expect-run, the summed count
// and the lost and unsampled counts must equal the last file's "run so far" totals exactly.
func cmdSeries(args []string, w io.Writer) error {
	fs := newFlagSet("series")
	maxGap := fs.Int64("max-gap", -1, "largest allowed gap in ns between consecutive files (-1: any)")
	expectRun := fs.Bool("expect-run", false, "sums must equal the last file's 'run so far' comment")
	minFiles := fs.Int("min-files", 1, "fail with fewer files")
	files, err := parseInterleaved(fs, args)
	if err != nil {
		return err
	}
	if len(files) < *minFiles {
		return checkFail("%d files, want at least %d", len(files), *minFiles)
	}
	var reasons []string
	var sumCount, sumCPU, sumLost, sumUnsampled int64
	var prevEnd int64
	var last *Profile
	for i, f := range files {
		p, err := ParseFile(f)
		if err != nil {
			return &exitError{2, err.Error()}
		}
		stacks, err := p.Stacks()
		if err != nil {
			return &exitError{2, err.Error()}
		}
		var count, cpu, lost, unsampled int64
		for _, s := range stacks {
			count += s.Count
			cpu += s.CPU
			for _, fr := range s.Frames {
				if strings.HasPrefix(fr, PseudoPrefix+" lost:") {
					lost += s.Count
					break
				}
				if strings.HasPrefix(fr, PseudoPrefix+" unsampled:") {
					unsampled += s.Count
					break
				}
			}
		}
		start, end := p.TimeNanos, p.TimeNanos+p.DurationNanos
		gap := int64(0)
		if i > 0 {
			gap = start - prevEnd
		}
		fmt.Fprintf(w, "%s time_nanos=%d duration_nanos=%d gap_ns=%d count=%d cpu_ns=%d lost=%d unsampled=%d\n",
			f, start, p.DurationNanos, gap, count, cpu, lost, unsampled)
		if p.TimeNanos <= 0 || p.DurationNanos <= 0 {
			reasons = append(reasons, fmt.Sprintf("%s: time_nanos %d, duration_nanos %d", f, p.TimeNanos, p.DurationNanos))
		}
		if i > 0 && gap < 0 {
			reasons = append(reasons, fmt.Sprintf("%s starts %d ns before the previous file ends", f, -gap))
		}
		if i > 0 && *maxGap >= 0 && gap > *maxGap {
			reasons = append(reasons, fmt.Sprintf("%s starts %d ns after the previous file ends (max %d)", f, gap, *maxGap))
		}
		prevEnd = end
		sumCount += count - lost - unsampled
		sumCPU += cpu
		sumLost += lost
		sumUnsampled += unsampled
		last = p
	}
	fmt.Fprintf(w, "files %d\nsamples %d\nlost %d\nunsampled %d\ncpu_ns %d\n", len(files), sumCount, sumLost, sumUnsampled, sumCPU)
	if *expectRun {
		s, l, u, ok := runSoFar(last)
		switch {
		case !ok:
			reasons = append(reasons, "the last file has no 'run so far' comment")
		case s != sumCount || l != sumLost || u != sumUnsampled:
			reasons = append(reasons, fmt.Sprintf("files sum to samples %d, lost %d, unsampled %d; the run counted samples %d, lost %d, unsampled %d", sumCount, sumLost, sumUnsampled, s, l, u))
		default:
			fmt.Fprintf(w, "# matches the run's totals: samples %d, lost %d, unsampled %d\n", s, l, u)
		}
	}
	if len(reasons) > 0 {
		return checkFail("%s", strings.Join(reasons, "; "))
	}
	return nil
}
