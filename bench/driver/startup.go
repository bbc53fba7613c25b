// startup.go -- sections 7 (start-up) and 8 (spawn): what a preloaded process pays before its
// main runs and what a shell loop of short children pays (bench/README.md).
package main

import (
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"
)

// spawnLoop is the shell loop of section 8: 300 starts of /bin/true.
const spawnLoop = `i=0; while [ $i -lt 300 ]; do /bin/true; i=$((i+1)); done`

// quickRun runs one command and returns its wall time (fork to exit), its stdout to /dev/null and
// its stderr to a file of the work directory (a regular file: the collector may keep it, and a
// pipe would make Wait wait for the collector). Nothing is read back.
func (b *Bench) quickRun(argv, env []string) (int64, error) {
	errPath := filepath.Join(b.R.Work, "startup.stderr")
	errf, err := os.Create(errPath)
	if err != nil {
		return 0, err
	}
	defer errf.Close()
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = env
	cmd.Dir = b.R.Work
	cmd.Stderr = errf
	t0 := time.Now()
	err = cmd.Run()
	wall := time.Since(t0)
	if err != nil {
		msg, _ := os.ReadFile(errPath)
		return 0, fmt.Errorf("%s: %v\n%s", strings.Join(argv, " "), err, tail(string(msg), 10))
	}
	return wall.Nanoseconds(), nil
}

// reapAll waits for every orphan re-parented to us (libgoprof's collectors, which write their
// profile after their program has exited), so that none runs during the next measurement.
// Returns how many it reaped; gives up after a minute (a note, not an error).
func reapAll() int {
	deadline := time.Now().Add(60 * time.Second)
	n := 0
	for {
		var ws syscall.WaitStatus
		pid, err := syscall.Wait4(-1, &ws, syscall.WNOHANG, nil)
		if pid > 0 {
			n++
			continue
		}
		if err == syscall.ECHILD {
			return n
		}
		if time.Now().After(deadline) {
			progress("orphans still running after 60 s: going on")
			return n
		}
		time.Sleep(time.Millisecond)
	}
}

// preloadEnv is baseEnv with libgoprof loaded, writing into dir, plus extra settings.
func (b *Bench) preloadEnv(dir string, extra ...string) []string {
	env := append(baseEnv(), "LD_PRELOAD="+b.R.Lib, "GOPROF_OUT="+filepath.Join(dir, "p.%p.pb.gz"))
	return append(env, extra...)
}

// countProfiles counts the finished profiles in dir (not the temporary files of a write).
func countProfiles(dir string) int {
	ents, _ := os.ReadDir(dir)
	n := 0
	for _, e := range ents {
		if strings.HasSuffix(e.Name(), ".pb.gz") {
			n++
		}
	}
	return n
}

// p90 is the nearest-rank 90th percentile.
func p90(xs []float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	return s[int(math.Ceil(0.9*float64(len(s))))-1]
}

// msf formats milliseconds with two decimals.
func msf(ns float64) string {
	if math.IsNaN(ns) {
		return "n/a"
	}
	return fmt.Sprintf("%.2f ms", ns/1e6)
}

// ---- 7. start-up ----

// secStartup: N paired starts of a trivial cgo program and a trivial C program, without
// libgoprof, with it, and with it loaded but disabled (GOPROF_DISABLE=1: the dynamic loader's
// share), the three interleaved and their order rotated. Each start is waited for with its
// collector before the next begins.
func (b *Bench) secStartup() error {
	out := filepath.Join(b.R.Work, "startup")
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	defer os.RemoveAll(out)
	progs := []struct{ name, what, target string }{
		{"cgotrivial", "trivial cgo program (fmt.Println(C.one()))", "≤ 2 ms"},
		{"ctrivial", "trivial C program (puts)", ""},
	}
	for _, p := range progs {
		argv := []string{filepath.Join(b.Bin, p.name)}
		envs := [][]string{baseEnv(), b.preloadEnv(out), b.preloadEnv(out, "GOPROF_DISABLE=1")}
		progress("7. start-up: %s, %d x 3 starts", p.name, b.P.StartPairs)
		for i := range envs { // once each, unmeasured: page cache, toolchain caches
			if _, err := b.quickRun(argv, envs[i]); err != nil {
				return err
			}
			reapAll()
		}
		walls := make([][]float64, 3)
		for k := 0; k < b.P.StartPairs; k++ {
			for j := 0; j < 3; j++ {
				i := (j + k) % 3
				w, err := b.quickRun(argv, envs[i])
				if err != nil {
					return err
				}
				reapAll()
				walls[i] = append(walls[i], float64(w))
			}
		}
		var added, addedOff []float64
		for k := range walls[0] {
			added = append(added, walls[1][k]-walls[0][k])
			addedOff = append(addedOff, walls[2][k]-walls[0][k])
		}
		med := median(added)
		b.add("7", fmt.Sprintf("start-up, %s: wall added by libgoprof per start (%d paired starts)", p.what, len(added)),
			fmt.Sprintf("median %s · p90 %s (plain: median %s; library loaded with GOPROF_DISABLE=1: added median %s, p90 %s)",
				msf(med), msf(p90(added)), msf(median(walls[0])), msf(median(addedOff)), msf(p90(addedOff))),
			p.target, func() string {
				if p.target == "" {
					return ""
				}
				return verdict(med <= 2e6)
			}())
	}
	return nil
}

// ---- 8. spawn ----

// secSpawn: a shell loop starting /bin/true 300 times, plain, with LD_PRELOAD and GOPROF_OUT
// set for the shell (so every child is profiled), and the same with GOPROF_FOLLOW=0 (children
// unprofiled, where the library knows that variable); the ratio of wall times to the plain
// loop, paired per repetition, and the profiles left in the output directory.
func (b *Bench) secSpawn() error {
	argv := []string{"/bin/sh", "-c", spawnLoop}
	type arm struct {
		label string
		extra []string
	}
	arms := []arm{{"plain", nil}, {"profiled", []string{}}, {"GOPROF_FOLLOW=0", []string{"GOPROF_FOLLOW=0"}}}
	walls := make([][]float64, len(arms))
	files := make([][]float64, len(arms))
	for k := 0; k < b.P.SpawnReps; k++ {
		progress("8. spawn: repetition %d of %d (3 loops of 300 starts)", k+1, b.P.SpawnReps)
		for j := range arms {
			i := (j + k) % len(arms)
			dir := filepath.Join(b.R.Work, fmt.Sprintf("spawn.%d.%d", k, i))
			if err := os.MkdirAll(dir, 0o755); err != nil {
				return err
			}
			env := baseEnv()
			if arms[i].extra != nil {
				env = b.preloadEnv(dir, arms[i].extra...)
			}
			w, err := b.quickRun(argv, env)
			if err != nil {
				return err
			}
			reapAll()
			walls[i] = append(walls[i], float64(w))
			files[i] = append(files[i], float64(countProfiles(dir)))
			os.RemoveAll(dir)
		}
	}
	for i := 1; i < len(arms); i++ {
		var ratio []float64
		for k := range walls[0] {
			ratio = append(ratio, walls[i][k]/walls[0][k])
		}
		st := stat(ratio)
		what := "spawn: sh loop starting /bin/true 300 times, LD_PRELOAD and GOPROF_OUT set for the shell, ÷ plain"
		if arms[i].label != "profiled" {
			what = "spawn: the same with GOPROF_FOLLOW=0 (children unprofiled; a library without the variable ignores it), ÷ plain"
		}
		perStart := (median(walls[i]) - median(walls[0])) / 300
		b.add("8", what,
			fmt.Sprintf("%s · plain %s, this %s (%s added per start) · profiles left: %.0f",
				st.times(), msf(median(walls[0])), msf(median(walls[i])), msf(perStart), median(files[i])),
			"≤ 1.5×", judge(st, func(x float64) bool { return x <= 1.5 }))
	}
	return nil
}
