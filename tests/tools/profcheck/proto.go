// proto.go -- hand-written decoder for pprof's profile.proto (perftools.profiles.Profile),
// with the same validity rules that `go tool pprof` applies (profile.ParseData, postDecode,
// CheckValid). Standard library only.
//
// Schema: docs/pprof-format.md §1.1 (google/pprof HEAD proto/profile.proto).

package main

import (
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"os"
)

// ValueType is a (type, unit) pair of string-table indices, resolved.
type ValueType struct {
	Type, Unit string
}

// Label is one sample label. Exactly one of Str / Num is meaningful (IsNum says which).
type Label struct {
	Key   string
	Str   string
	Num   int64
	Unit  string
	IsNum bool
}

// Sample as stored: location ids leaf first.
type Sample struct {
	LocationIDs []uint64
	Values      []int64
	Labels      []Label
}

type Mapping struct {
	ID                                                          uint64
	Start, Limit, Offset                                        uint64
	File, BuildID                                               string
	HasFunctions, HasFilenames, HasLineNumbers, HasInlineFrames bool
}

type Line struct {
	FunctionID uint64
	Line       int64
	Column     int64
}

type Location struct {
	ID        uint64
	MappingID uint64
	Address   uint64
	Lines     []Line // innermost (inlined) first, physical caller last
	IsFolded  bool
}

type Function struct {
	ID               uint64
	Name, SystemName string
	Filename         string
	StartLine        int64
}

type Profile struct {
	SampleTypes       []ValueType
	Samples           []Sample
	Mappings          []Mapping
	Locations         []Location
	Functions         []Function
	Strings           []string
	DropFrames        string
	KeepFrames        string
	TimeNanos         int64
	DurationNanos     int64
	PeriodType        *ValueType
	Period            int64
	Comments          []string
	DefaultSampleType string
	DocURL            string

	// Derived by Validate.
	locByID  map[uint64]*Location
	funcByID map[uint64]*Function
	mapByID  map[uint64]*Mapping
}

// ---- raw (index-level) message forms, resolved against the string table afterwards ----

type rawValueType struct{ typeX, unitX int64 }
type rawLabel struct{ keyX, strX, num, unitX int64 }
type rawSample struct {
	locs   []uint64
	values []int64
	labels []rawLabel
}
type rawMapping struct {
	Mapping
	fileX, buildIDX int64
}
type rawFunction struct {
	Function
	nameX, sysX, fileX int64
}

type rawProfile struct {
	sampleTypes  []rawValueType
	samples      []rawSample
	mappings     []rawMapping
	locations    []Location
	functions    []rawFunction
	strings      []string
	dropX, keepX int64
	timeNanos    int64
	timeSeen     bool
	duration     int64
	periodType   *rawValueType
	period       int64
	comments     []int64
	defaultTypeX int64
	docURLX      int64
}

// ---- wire format ----

const (
	wireVarint = 0
	wire64     = 1
	wireBytes  = 2
	wire32     = 5
)

type decoder struct {
	b   []byte
	off int // offset of b[0] within the whole message, for error messages
	msg string
}

func (d *decoder) errf(format string, a ...interface{}) error {
	return fmt.Errorf("%s at byte %d: %s", d.msg, d.off, fmt.Sprintf(format, a...))
}

func (d *decoder) varint() (uint64, error) {
	var x uint64
	for i := 0; i < 10; i++ {
		if len(d.b) == 0 {
			return 0, d.errf("truncated varint")
		}
		c := d.b[0]
		d.b = d.b[1:]
		d.off++
		x |= uint64(c&0x7f) << (7 * uint(i))
		if c < 0x80 {
			return x, nil
		}
	}
	return 0, d.errf("varint longer than 10 bytes")
}

// field reads one key and its payload. For wireBytes, data is the payload; for the
// numeric wire types, val holds the value.
func (d *decoder) field() (num int, wt int, val uint64, data []byte, dataOff int, err error) {
	key, err := d.varint()
	if err != nil {
		return
	}
	num, wt = int(key>>3), int(key&7)
	if num == 0 {
		err = d.errf("field number 0")
		return
	}
	switch wt {
	case wireVarint:
		val, err = d.varint()
	case wire64:
		if len(d.b) < 8 {
			err = d.errf("truncated fixed64 (field %d)", num)
			return
		}
		for i := 7; i >= 0; i-- {
			val = val<<8 | uint64(d.b[i])
		}
		d.b, d.off = d.b[8:], d.off+8
	case wire32:
		if len(d.b) < 4 {
			err = d.errf("truncated fixed32 (field %d)", num)
			return
		}
		for i := 3; i >= 0; i-- {
			val = val<<8 | uint64(d.b[i])
		}
		d.b, d.off = d.b[4:], d.off+4
	case wireBytes:
		var n uint64
		n, err = d.varint()
		if err != nil {
			return
		}
		if n > uint64(len(d.b)) {
			err = d.errf("length %d of field %d exceeds remaining %d bytes", n, num, len(d.b))
			return
		}
		data, dataOff = d.b[:n], d.off
		d.b, d.off = d.b[n:], d.off+int(n)
	default:
		err = d.errf("unsupported wire type %d (field %d)", wt, num)
	}
	return
}

func sub(data []byte, off int, msg string) *decoder { return &decoder{b: data, off: off, msg: msg} }

// repeatedVarint appends one or many (packed) varints of a repeated scalar field.
func repeatedVarint(dst []uint64, wt int, val uint64, data []byte, off int, msg string) ([]uint64, error) {
	switch wt {
	case wireVarint:
		return append(dst, val), nil
	case wireBytes:
		d := sub(data, off, msg+" (packed)")
		for len(d.b) > 0 {
			v, err := d.varint()
			if err != nil {
				return dst, err
			}
			dst = append(dst, v)
		}
		return dst, nil
	}
	return dst, fmt.Errorf("%s: wire type %d for a varint field", msg, wt)
}

func wantVarint(wt int, num int, msg string) error {
	if wt != wireVarint {
		return fmt.Errorf("%s: field %d has wire type %d, want varint", msg, num, wt)
	}
	return nil
}

func decodeValueType(data []byte, off int) (rawValueType, error) {
	var vt rawValueType
	d := sub(data, off, "ValueType")
	for len(d.b) > 0 {
		num, wt, val, _, _, err := d.field()
		if err != nil {
			return vt, err
		}
		switch num {
		case 1, 2:
			if err := wantVarint(wt, num, "ValueType"); err != nil {
				return vt, err
			}
			if num == 1 {
				vt.typeX = int64(val)
			} else {
				vt.unitX = int64(val)
			}
		}
	}
	return vt, nil
}

func decodeLabel(data []byte, off int) (rawLabel, error) {
	var l rawLabel
	d := sub(data, off, "Label")
	for len(d.b) > 0 {
		num, wt, val, _, _, err := d.field()
		if err != nil {
			return l, err
		}
		if num >= 1 && num <= 4 {
			if err := wantVarint(wt, num, "Label"); err != nil {
				return l, err
			}
		}
		switch num {
		case 1:
			l.keyX = int64(val)
		case 2:
			l.strX = int64(val)
		case 3:
			l.num = int64(val)
		case 4:
			l.unitX = int64(val)
		}
	}
	return l, nil
}

func decodeSample(data []byte, off int) (rawSample, error) {
	var s rawSample
	d := sub(data, off, "Sample")
	for len(d.b) > 0 {
		num, wt, val, b, boff, err := d.field()
		if err != nil {
			return s, err
		}
		switch num {
		case 1:
			if s.locs, err = repeatedVarint(s.locs, wt, val, b, boff, "Sample.location_id"); err != nil {
				return s, err
			}
		case 2:
			var vs []uint64
			if vs, err = repeatedVarint(nil, wt, val, b, boff, "Sample.value"); err != nil {
				return s, err
			}
			for _, v := range vs {
				s.values = append(s.values, int64(v))
			}
		case 3:
			if wt != wireBytes {
				return s, fmt.Errorf("Sample.label: wire type %d", wt)
			}
			l, err := decodeLabel(b, boff)
			if err != nil {
				return s, err
			}
			s.labels = append(s.labels, l)
		}
	}
	return s, nil
}

func decodeMapping(data []byte, off int) (rawMapping, error) {
	var m rawMapping
	d := sub(data, off, "Mapping")
	for len(d.b) > 0 {
		num, wt, val, _, _, err := d.field()
		if err != nil {
			return m, err
		}
		if num >= 1 && num <= 10 {
			if err := wantVarint(wt, num, "Mapping"); err != nil {
				return m, err
			}
		}
		switch num {
		case 1:
			m.ID = val
		case 2:
			m.Start = val
		case 3:
			m.Limit = val
		case 4:
			m.Offset = val
		case 5:
			m.fileX = int64(val)
		case 6:
			m.buildIDX = int64(val)
		case 7:
			m.HasFunctions = val != 0
		case 8:
			m.HasFilenames = val != 0
		case 9:
			m.HasLineNumbers = val != 0
		case 10:
			m.HasInlineFrames = val != 0
		}
	}
	return m, nil
}

func decodeLine(data []byte, off int) (Line, error) {
	var l Line
	d := sub(data, off, "Line")
	for len(d.b) > 0 {
		num, wt, val, _, _, err := d.field()
		if err != nil {
			return l, err
		}
		if num >= 1 && num <= 3 {
			if err := wantVarint(wt, num, "Line"); err != nil {
				return l, err
			}
		}
		switch num {
		case 1:
			l.FunctionID = val
		case 2:
			l.Line = int64(val)
		case 3:
			l.Column = int64(val)
		}
	}
	return l, nil
}

func decodeLocation(data []byte, off int) (Location, error) {
	var l Location
	d := sub(data, off, "Location")
	for len(d.b) > 0 {
		num, wt, val, b, boff, err := d.field()
		if err != nil {
			return l, err
		}
		switch num {
		case 1, 2, 3, 5:
			if err := wantVarint(wt, num, "Location"); err != nil {
				return l, err
			}
			switch num {
			case 1:
				l.ID = val
			case 2:
				l.MappingID = val
			case 3:
				l.Address = val
			case 5:
				l.IsFolded = val != 0
			}
		case 4:
			if wt != wireBytes {
				return l, fmt.Errorf("Location.line: wire type %d", wt)
			}
			ln, err := decodeLine(b, boff)
			if err != nil {
				return l, err
			}
			l.Lines = append(l.Lines, ln)
		}
	}
	return l, nil
}

func decodeFunction(data []byte, off int) (rawFunction, error) {
	var f rawFunction
	d := sub(data, off, "Function")
	for len(d.b) > 0 {
		num, wt, val, _, _, err := d.field()
		if err != nil {
			return f, err
		}
		if num >= 1 && num <= 5 {
			if err := wantVarint(wt, num, "Function"); err != nil {
				return f, err
			}
		}
		switch num {
		case 1:
			f.ID = val
		case 2:
			f.nameX = int64(val)
		case 3:
			f.sysX = int64(val)
		case 4:
			f.fileX = int64(val)
		case 5:
			f.StartLine = int64(val)
		}
	}
	return f, nil
}

func decodeRaw(data []byte) (*rawProfile, error) {
	p := &rawProfile{}
	d := &decoder{b: data, msg: "Profile"}
	for len(d.b) > 0 {
		num, wt, val, b, boff, err := d.field()
		if err != nil {
			return nil, err
		}
		needBytes := func(name string) error {
			if wt != wireBytes {
				return fmt.Errorf("Profile.%s (field %d): wire type %d, want length-delimited", name, num, wt)
			}
			return nil
		}
		switch num {
		case 1, 11:
			if err := needBytes("sample_type/period_type"); err != nil {
				return nil, err
			}
			vt, err := decodeValueType(b, boff)
			if err != nil {
				return nil, err
			}
			if num == 1 {
				p.sampleTypes = append(p.sampleTypes, vt)
			} else {
				p.periodType = &vt
			}
		case 2:
			if err := needBytes("sample"); err != nil {
				return nil, err
			}
			s, err := decodeSample(b, boff)
			if err != nil {
				return nil, err
			}
			p.samples = append(p.samples, s)
		case 3:
			if err := needBytes("mapping"); err != nil {
				return nil, err
			}
			m, err := decodeMapping(b, boff)
			if err != nil {
				return nil, err
			}
			p.mappings = append(p.mappings, m)
		case 4:
			if err := needBytes("location"); err != nil {
				return nil, err
			}
			l, err := decodeLocation(b, boff)
			if err != nil {
				return nil, err
			}
			p.locations = append(p.locations, l)
		case 5:
			if err := needBytes("function"); err != nil {
				return nil, err
			}
			f, err := decodeFunction(b, boff)
			if err != nil {
				return nil, err
			}
			p.functions = append(p.functions, f)
		case 6:
			if err := needBytes("string_table"); err != nil {
				return nil, err
			}
			p.strings = append(p.strings, string(b))
			// pprof checks this after every decoded string.
			if p.strings[0] != "" {
				return nil, fmt.Errorf("string_table[0] is %q, must be \"\" (pprof: unrecognized profile format)", p.strings[0])
			}
		case 7, 8, 9, 10, 12, 14, 15:
			if err := wantVarint(wt, num, "Profile"); err != nil {
				return nil, err
			}
			switch num {
			case 7:
				p.dropX = int64(val)
			case 8:
				p.keepX = int64(val)
			case 9:
				if p.timeSeen {
					return nil, errors.New("time_nanos appears twice (pprof: concatenated profiles detected)")
				}
				p.timeSeen = true
				p.timeNanos = int64(val)
			case 10:
				p.duration = int64(val)
			case 12:
				p.period = int64(val)
			case 14:
				p.defaultTypeX = int64(val)
			case 15:
				p.docURLX = int64(val)
			}
		case 13:
			var cs []uint64
			if cs, err = repeatedVarint(nil, wt, val, b, boff, "Profile.comment"); err != nil {
				return nil, err
			}
			for _, c := range cs {
				p.comments = append(p.comments, int64(c))
			}
		}
	}
	return p, nil
}

// resolve turns raw indices into strings, failing like pprof's getString on a bad index.
func (rp *rawProfile) resolve() (*Profile, error) {
	if len(rp.strings) == 0 {
		return nil, errors.New("string table missing or empty (pprof: unrecognized profile format)")
	}
	var firstErr error
	str := func(x int64, what string) string {
		if x < 0 || x >= int64(len(rp.strings)) {
			if firstErr == nil {
				firstErr = fmt.Errorf("%s: string index %d out of range [0,%d) (pprof: malformed profile)", what, x, len(rp.strings))
			}
			return ""
		}
		return rp.strings[x]
	}
	p := &Profile{Strings: rp.strings, TimeNanos: rp.timeNanos, DurationNanos: rp.duration, Period: rp.period}
	for i, st := range rp.sampleTypes {
		p.SampleTypes = append(p.SampleTypes, ValueType{str(st.typeX, fmt.Sprintf("sample_type[%d].type", i)), str(st.unitX, fmt.Sprintf("sample_type[%d].unit", i))})
	}
	if rp.periodType != nil {
		p.PeriodType = &ValueType{str(rp.periodType.typeX, "period_type.type"), str(rp.periodType.unitX, "period_type.unit")}
	}
	p.DropFrames = str(rp.dropX, "drop_frames")
	p.KeepFrames = str(rp.keepX, "keep_frames")
	p.DefaultSampleType = str(rp.defaultTypeX, "default_sample_type")
	p.DocURL = str(rp.docURLX, "doc_url")
	for i, c := range rp.comments {
		p.Comments = append(p.Comments, str(c, fmt.Sprintf("comment[%d]", i)))
	}
	for _, m := range rp.mappings {
		mm := m.Mapping
		mm.File = str(m.fileX, fmt.Sprintf("mapping id %d filename", m.ID))
		mm.BuildID = str(m.buildIDX, fmt.Sprintf("mapping id %d build_id", m.ID))
		p.Mappings = append(p.Mappings, mm)
	}
	for _, f := range rp.functions {
		ff := f.Function
		ff.Name = str(f.nameX, fmt.Sprintf("function id %d name", f.ID))
		ff.SystemName = str(f.sysX, fmt.Sprintf("function id %d system_name", f.ID))
		ff.Filename = str(f.fileX, fmt.Sprintf("function id %d filename", f.ID))
		p.Functions = append(p.Functions, ff)
	}
	p.Locations = rp.locations
	for i, s := range rp.samples {
		ps := Sample{LocationIDs: s.locs, Values: s.values}
		for _, l := range s.labels {
			key := str(l.keyX, fmt.Sprintf("sample[%d] label key", i))
			// Same rule as pprof postDecode: a string label if str != 0, else a numeric
			// label if num != 0 or num_unit != 0, else the label is dropped silently.
			if l.strX != 0 {
				ps.Labels = append(ps.Labels, Label{Key: key, Str: str(l.strX, fmt.Sprintf("sample[%d] label %q str", i, key))})
			} else if l.num != 0 || l.unitX != 0 {
				lab := Label{Key: key, Num: l.num, IsNum: true}
				if l.unitX != 0 {
					lab.Unit = str(l.unitX, fmt.Sprintf("sample[%d] label %q num_unit", i, key))
				}
				ps.Labels = append(ps.Labels, lab)
			}
		}
		p.Samples = append(p.Samples, ps)
	}
	if firstErr != nil {
		return nil, firstErr
	}
	return p, nil
}

// Validate applies pprof's CheckValid rules and builds the id indexes.
func (p *Profile) Validate() error {
	if len(p.SampleTypes) == 0 && len(p.Samples) != 0 {
		return errors.New("missing sample type information (samples present but no sample_type)")
	}
	p.mapByID = make(map[uint64]*Mapping, len(p.Mappings))
	for i := range p.Mappings {
		m := &p.Mappings[i]
		if m.ID == 0 {
			return fmt.Errorf("mapping[%d] has reserved ID=0", i)
		}
		if p.mapByID[m.ID] != nil {
			return fmt.Errorf("multiple mappings with same id: %d", m.ID)
		}
		p.mapByID[m.ID] = m
	}
	p.funcByID = make(map[uint64]*Function, len(p.Functions))
	for i := range p.Functions {
		f := &p.Functions[i]
		if f.ID == 0 {
			return fmt.Errorf("function[%d] (%q) has reserved ID=0", i, f.Name)
		}
		if p.funcByID[f.ID] != nil {
			return fmt.Errorf("multiple functions with same id: %d", f.ID)
		}
		p.funcByID[f.ID] = f
	}
	p.locByID = make(map[uint64]*Location, len(p.Locations))
	for i := range p.Locations {
		l := &p.Locations[i]
		if l.ID == 0 {
			return fmt.Errorf("location[%d] has reserved id=0", i)
		}
		if p.locByID[l.ID] != nil {
			return fmt.Errorf("multiple locations with same id: %d", l.ID)
		}
		p.locByID[l.ID] = l
		// A dangling mapping_id is accepted by pprof (the location just has no mapping).
		for j, ln := range l.Lines {
			if ln.FunctionID == 0 || p.funcByID[ln.FunctionID] == nil {
				return fmt.Errorf("location id: %d line[%d] has nil function (function_id %d does not resolve)", l.ID, j, ln.FunctionID)
			}
		}
	}
	for i, s := range p.Samples {
		if len(s.Values) != len(p.SampleTypes) {
			return fmt.Errorf("mismatch: sample[%d] has %d values vs. %d types", i, len(s.Values), len(p.SampleTypes))
		}
		for _, id := range s.LocationIDs {
			if id == 0 || p.locByID[id] == nil {
				return fmt.Errorf("sample[%d] has nil location (location_id %d does not resolve)", i, id)
			}
		}
	}
	return nil
}

// Parse decodes gzip or raw protobuf bytes and validates the result.
func Parse(data []byte) (*Profile, error) {
	if len(data) == 0 {
		return nil, errors.New("empty file")
	}
	if len(data) >= 2 && data[0] == 0x1f && data[1] == 0x8b {
		zr, err := gzip.NewReader(bytes.NewReader(data))
		if err != nil {
			return nil, fmt.Errorf("gzip: %v", err)
		}
		raw, err := io.ReadAll(zr) // multistream, like pprof
		if err != nil {
			return nil, fmt.Errorf("gzip: %v", err)
		}
		data = raw
	}
	rp, err := decodeRaw(data)
	if err != nil {
		return nil, fmt.Errorf("decoding protobuf: %v", err)
	}
	p, err := rp.resolve()
	if err != nil {
		return nil, err
	}
	if err := p.Validate(); err != nil {
		return nil, fmt.Errorf("malformed profile: %v", err)
	}
	return p, nil
}

func ParseFile(name string) (*Profile, error) {
	data, err := os.ReadFile(name)
	if err != nil {
		return nil, err
	}
	p, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %v", name, err)
	}
	return p, nil
}
