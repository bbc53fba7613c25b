// profile.go -- what the driver reads from profiles: libgoprof's and Go's pprof files (through
// tests/tools/profcheck's dump), and gperftools' legacy CPU profile format.
package main

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
)

// Hist is one of libgoprof's per-sample cost comments (handler_ns, forwarded_ns).
type Hist struct {
	N, Median, P99, Max int64
}

type Sample struct {
	Count, CPU int64
	Frames     []string // root first
}

type Profile struct {
	Comments  []string
	Samples   []Sample
	Count     int64 // summed sample counts (lost pseudo-frames included)
	CPUNS     int64 // summed cpu/nanoseconds (lost pseudo-frames included)
	Lost      int64 // "samples N, lost M" comment; else the count on "[libgoprof] lost" frames
	Handler   *Hist // nil when the library does not report it
	Forwarded *Hist // nil when absent (no timer signal forwarded, or not reported)
	// The other SIGPROFs forwarded (setitimer's, which Go's handler drops on threads with a
	// per-thread timer); nil when absent.
	ForwardedOther *Hist
	CollCPUNS      int64 // "collector: cpu_ns=": -1 when absent
	CollRSSKB      int64
}

var (
	reHist = regexp.MustCompile(`^(handler_ns|forwarded_ns|forwarded_other_ns): (?:samples|signals)=(\d+) median=(\d+) p99=(\d+) max=(\d+)`)
	reColl = regexp.MustCompile(`^collector: cpu_ns=(\d+) maxrss_kb=(\d+)`)
	reLost = regexp.MustCompile(`^samples (\d+), lost (\d+)`)
)

func atoi(s string) int64 {
	v, _ := strconv.ParseInt(s, 10, 64)
	return v
}

func (r *Runner) readProfile(path string) (*Profile, error) {
	out, err := exec.Command(r.Profcheck, "dump", path).Output()
	if err != nil {
		if ee, ok := err.(*exec.ExitError); ok {
			return nil, fmt.Errorf("profcheck dump %s: %v: %s", path, err, ee.Stderr)
		}
		return nil, err
	}
	p := &Profile{CollCPUNS: -1, CollRSSKB: -1, Lost: -1}
	var pseudoLost int64
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 1<<26)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "# comment: ") {
			c := strings.TrimPrefix(line, "# comment: ")
			p.Comments = append(p.Comments, c)
			if m := reHist.FindStringSubmatch(c); m != nil {
				h := &Hist{atoi(m[2]), atoi(m[3]), atoi(m[4]), atoi(m[5])}
				switch m[1] {
				case "handler_ns":
					p.Handler = h
				case "forwarded_ns":
					p.Forwarded = h
				default:
					p.ForwardedOther = h
				}
			} else if m := reColl.FindStringSubmatch(c); m != nil {
				p.CollCPUNS, p.CollRSSKB = atoi(m[1]), atoi(m[2])
			} else if m := reLost.FindStringSubmatch(c); m != nil {
				p.Lost = atoi(m[2])
			}
			continue
		}
		if strings.HasPrefix(line, "#") {
			continue
		}
		// <count> <cpu_ns> [label=value ...] | root;...;leaf
		bar := strings.Index(line, "| ")
		if bar < 0 {
			continue
		}
		f := strings.Fields(line[:bar])
		if len(f) < 2 {
			continue
		}
		s := Sample{Count: atoi(f[0]), CPU: atoi(f[1]), Frames: strings.Split(line[bar+2:], ";")}
		p.Count += s.Count
		p.CPUNS += s.CPU
		for _, fr := range s.Frames {
			if strings.HasPrefix(fr, "[libgoprof] lost") {
				pseudoLost += s.Count
				break
			}
		}
		p.Samples = append(p.Samples, s)
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if p.Lost < 0 {
		p.Lost = pseudoLost
	}
	return p, nil
}

// CPUWhere sums cpu_ns over samples for which match is true.
func (p *Profile) CPUWhere(match func(frames []string) bool) int64 {
	var n int64
	for _, s := range p.Samples {
		if match(s.Frames) {
			n += s.CPU
		}
	}
	return n
}

// MedianDepth is the median number of frames (inline frames included) of samples whose leaf
// matches leaf, weighted by count.
func (p *Profile) MedianDepth(leaf func(string) bool) int {
	var ds []float64
	for _, s := range p.Samples {
		if len(s.Frames) > 0 && leaf(s.Frames[len(s.Frames)-1]) {
			for i := int64(0); i < s.Count && i < 1000; i++ {
				ds = append(ds, float64(len(s.Frames)))
			}
		}
	}
	if len(ds) == 0 {
		return 0
	}
	return int(median(ds))
}

func hasFrame(name string) func([]string) bool {
	return func(fr []string) bool {
		for _, f := range fr {
			if f == name {
				return true
			}
		}
		return false
	}
}

func leafIs(names ...string) func([]string) bool {
	return func(fr []string) bool {
		if len(fr) == 0 {
			return false
		}
		for _, n := range names {
			if fr[len(fr)-1] == n {
				return true
			}
		}
		return false
	}
}

// GperfProfile is a gperftools CPU profile (legacy binary format: a header of five words
// 0, 3, 0, period_us, 0; records count, npcs, pc...; a trailer 0, 1, 0; then the maps text).
type GperfProfile struct {
	Path     string
	Samples  int64
	PeriodUS int64
	CPUNS    int64
}

func readGperf(path string) (*GperfProfile, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	word := func(i int) (uint64, bool) {
		if (i+1)*8 > len(b) {
			return 0, false
		}
		return binary.LittleEndian.Uint64(b[i*8:]), true
	}
	h0, _ := word(0)
	h1, _ := word(1)
	period, ok := word(3)
	if !ok || h0 != 0 || h1 != 3 || period == 0 {
		return nil, fmt.Errorf("%s: not a gperftools CPU profile", path)
	}
	g := &GperfProfile{PeriodUS: int64(period)}
	for i := 5; ; {
		count, ok1 := word(i)
		n, ok2 := word(i + 1)
		if !ok1 || !ok2 || n > 1<<16 {
			return nil, fmt.Errorf("%s: truncated profile", path)
		}
		if count == 0 && n == 1 {
			break
		}
		g.Samples += int64(count)
		i += 2 + int(n)
	}
	g.CPUNS = g.Samples * g.PeriodUS * 1000
	return g, nil
}
