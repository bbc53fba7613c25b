// godwarf_offsets prints, as Go's own debug/dwarf reads them, the runtime.g / runtime.m
// offsets that libgoprof's godwarf.c computes, named like the fields of struct go_layout:
//
//	go run godwarf_offsets.go BIN   ->   g_stack_lo=0,g_stack_hi=8,...,m_vdso_pc=904
//
// A missing member prints -1. Standard library only (run_godwarf.sh has no module proxy).
package main

import (
	"debug/dwarf"
	"debug/elf"
	"fmt"
	"os"
	"strings"
)

func main() {
	f, err := elf.Open(os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	d, err := f.DWARF()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	want := map[string]bool{"runtime.g": true, "runtime.m": true, "runtime.gobuf": true, "runtime.stack": true}
	members := map[string]map[string]int64{}
	r := d.Reader()
	for {
		e, err := r.Next()
		if err != nil || e == nil {
			break
		}
		if e.Tag != dwarf.TagStructType {
			continue
		}
		name, _ := e.Val(dwarf.AttrName).(string)
		if !want[name] || members[name] != nil || !e.Children {
			r.SkipChildren()
			continue
		}
		mm := map[string]int64{}
		for {
			c, err := r.Next()
			if err != nil || c == nil || c.Tag == 0 {
				break
			}
			if c.Tag == dwarf.TagMember {
				mn, _ := c.Val(dwarf.AttrName).(string)
				off, _ := c.Val(dwarf.AttrDataMemberLoc).(int64)
				mm[mn] = off
			}
			if c.Children {
				r.SkipChildren()
			}
		}
		members[name] = mm
	}
	get := func(s string, ms ...string) int64 {
		var sum int64
		for i, m := range ms {
			st := s
			if i > 0 {
				st = map[string]string{"stack": "runtime.stack", "sched": "runtime.gobuf"}[ms[0]]
			}
			v, ok := members[st][m]
			if !ok {
				return -1
			}
			sum += v
		}
		return sum
	}
	out := []string{
		fmt.Sprintf("g_stack_lo=%d", get("runtime.g", "stack", "lo")),
		fmt.Sprintf("g_stack_hi=%d", get("runtime.g", "stack", "hi")),
		fmt.Sprintf("g_m=%d", get("runtime.g", "m")),
		fmt.Sprintf("g_sched_sp=%d", get("runtime.g", "sched", "sp")),
		fmt.Sprintf("g_sched_pc=%d", get("runtime.g", "sched", "pc")),
		fmt.Sprintf("g_sched_bp=%d", get("runtime.g", "sched", "bp")),
		fmt.Sprintf("g_syscallsp=%d", get("runtime.g", "syscallsp")),
		fmt.Sprintf("g_syscallpc=%d", get("runtime.g", "syscallpc")),
		fmt.Sprintf("g_goid=%d", get("runtime.g", "goid")),
		fmt.Sprintf("g_atomicstatus=%d", get("runtime.g", "atomicstatus")),
		fmt.Sprintf("g_labels=%d", get("runtime.g", "labels")),
		fmt.Sprintf("m_g0=%d", get("runtime.m", "g0")),
		fmt.Sprintf("m_curg=%d", get("runtime.m", "curg")),
		fmt.Sprintf("m_gsignal=%d", get("runtime.m", "gsignal")),
		fmt.Sprintf("m_procid=%d", get("runtime.m", "procid")),
		fmt.Sprintf("m_incgo=%d", get("runtime.m", "incgo")),
		fmt.Sprintf("m_isextra_in_c=%d", get("runtime.m", "isExtraInC")),
		fmt.Sprintf("m_ncgo=%d", get("runtime.m", "ncgo")),
		fmt.Sprintf("m_vdso_sp=%d", get("runtime.m", "vdsoSP")),
		fmt.Sprintf("m_vdso_pc=%d", get("runtime.m", "vdsoPC")),
	}
	fmt.Println(strings.Join(out, ","))
}
