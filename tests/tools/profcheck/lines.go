package main

// lines: the locations of one mapping as `addr2line -i -f -a` prints them, for comparing a
// profile's symbolization with binutils' (tests/integration/test_dwarf.sh).

import (
	"debug/elf"
	"fmt"
	"io"
	"regexp"
	"sort"
	"strings"
)

// fileVaddr turns a runtime address in mapping m into the link-time address of m's file: the
// PT_LOAD holding the file offset maps offset x to vaddr x - p_offset + p_vaddr.
func fileVaddr(f *elf.File, m *Mapping, addr uint64) (uint64, bool) {
	off := addr - m.Start + m.Offset
	for _, p := range f.Progs {
		if p.Type == elf.PT_LOAD && off >= p.Off && off < p.Off+p.Filesz {
			return off - p.Off + p.Vaddr, true
		}
	}
	return 0, false
}

func cmdLines(args []string, w io.Writer) error {
	fs := newFlagSet("lines")
	mapping := fs.String("mapping", "", "the mappings whose file path ends with this (required)")
	system := fs.Bool("system", false, "print 'NAME<TAB>SYSTEM_NAME' as the function line")
	fileRe := fs.String("file", "", "only locations with a line whose file matches this regexp")
	p, _, err := loadOne(fs, args)
	if err != nil {
		return err
	}
	if *mapping == "" {
		return usageErr("lines: --mapping is required")
	}
	// Every mapping of the file: the exit hook's patch splits an executable's text in three.
	maps := map[uint64]*Mapping{}
	var m *Mapping
	for i := range p.Mappings {
		if strings.HasSuffix(p.Mappings[i].File, *mapping) {
			maps[p.Mappings[i].ID] = &p.Mappings[i]
			m = &p.Mappings[i]
		}
	}
	if m == nil {
		return checkFail("no mapping ending with %q", *mapping)
	}
	var keep *regexp.Regexp
	if *fileRe != "" {
		if keep, err = regexp.Compile(*fileRe); err != nil {
			return usageErr("lines: --file: %v", err)
		}
	}
	f, err := elf.Open(m.File)
	if err != nil {
		return &exitError{2, err.Error()}
	}
	defer f.Close()
	type entry struct {
		vaddr uint64
		loc   *Location
	}
	var es []entry
	seen := map[uint64]bool{}
	for i := range p.Locations {
		l := &p.Locations[i]
		lm := maps[l.MappingID]
		if lm == nil || len(l.Lines) == 0 {
			continue
		}
		if keep != nil {
			match := false
			for _, ln := range l.Lines {
				if fn := p.funcByID[ln.FunctionID]; fn != nil && keep.MatchString(fn.Filename) {
					match = true
				}
			}
			if !match {
				continue
			}
		}
		v, ok := fileVaddr(f, lm, l.Address)
		if !ok || seen[v] {
			continue
		}
		seen[v] = true
		es = append(es, entry{v, l})
	}
	sort.Slice(es, func(i, j int) bool { return es[i].vaddr < es[j].vaddr })
	for _, e := range es {
		fmt.Fprintf(w, "0x%016x\n", e.vaddr)
		for _, ln := range e.loc.Lines {
			fn := p.funcByID[ln.FunctionID]
			if fn == nil {
				return checkFail("location %d: no function %d", e.loc.ID, ln.FunctionID)
			}
			if *system {
				fmt.Fprintf(w, "%s\t%s\n", fn.Name, fn.SystemName)
			} else {
				fmt.Fprintf(w, "%s\n", fn.Name)
			}
			file := fn.Filename
			if file == "" {
				file = "??"
			}
			if ln.Line > 0 {
				fmt.Fprintf(w, "%s:%d\n", file, ln.Line)
			} else {
				fmt.Fprintf(w, "%s:?\n", file)
			}
		}
	}
	return nil
}
