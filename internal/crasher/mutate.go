package crasher

import (
	"fmt"
	"math"
	"math/rand/v2"
)

// Mutator makes crafted inputs from valid Automerge data, the way the
// inputs in testdata/ were found: it changes one thing inside a chunk (a
// value in a column, a header field, a column's spec) or a sync message (a
// bloom filter, a hash, one of its changes) and keeps the framing whole and
// every checksum right, so that the bytes get past Automerge's first checks
// to the code behind them. Values are ones that break assumptions: zero,
// one off, 2^31, 2^32, 2^63, the largest.
//
// The same seed and the same valid bytes make the same inputs. A Mutator
// is not safe for concurrent use.
type Mutator struct {
	r *rand.Rand
}

// NewMutator returns a Mutator seeded with seed.
func NewMutator(seed uint64) *Mutator {
	return &Mutator{r: rand.New(rand.NewPCG(seed, 0x7061726c6579))} // "parley"
}

// Chunks returns valid (a saved document, or changes: chunks one after
// another) with one thing in one of its chunks changed, that chunk's length
// and checksum made to match; and what it changed.
func (m *Mutator) Chunks(valid []byte) ([]byte, string) {
	cs, err := splitChunks(valid)
	if err != nil {
		return m.flip(valid)
	}
	i := m.r.IntN(len(cs))
	c, what := m.chunk(cs[i])
	var out []byte
	for j, c2 := range cs {
		if j == i {
			out = append(out, c.encode()...)
		} else {
			out = append(out, c2.encode()...)
		}
	}
	if len(cs) > 1 {
		what = fmt.Sprintf("chunk %d: %s", i, what)
	}
	return out, what
}

// SyncMessage returns a sync message with one thing in it changed: a
// bloom filter's numbers or bits, a hash, a count, or one of the changes it
// carries (then with that change's checksum right); and what it changed.
func (m *Mutator) SyncMessage(valid []byte) ([]byte, string) {
	s, err := parseSync(valid)
	if err != nil {
		return m.flip(valid)
	}
	var what string
	switch p := m.r.IntN(20); {
	case p < 9 && len(s.changes) > 0:
		i := m.r.IntN(len(s.changes))
		var c []byte
		c, what = m.Chunks(s.changes[i])
		s.changes[i] = c
		what = fmt.Sprintf("change %d: %s", i, what)
	case p < 16:
		if len(s.haves) == 0 || m.r.IntN(4) == 0 {
			s.haves = append(s.haves, have{})
		}
		i := m.r.IntN(len(s.haves))
		s.haves[i].bloom, what = m.bloom(s.haves[i].bloom)
		what = fmt.Sprintf("have %d: %s", i, what)
	case p < 19:
		what = m.hashes(s)
	default:
		s.typ = []byte{0x43, 0x41, 0x00, 0xff}[m.r.IntN(4)]
		what = fmt.Sprintf("type %#x", s.typ)
	}
	return s.encode(), "sync " + what
}

// chunk changes one thing in a chunk.
func (m *Mutator) chunk(c chunk) (chunk, string) {
	if c.typ == chunkCompressed {
		if b, err := inflate(c.body); err == nil {
			c = chunk{typ: chunkChange, body: b}
		}
	}
	bd, err := parseBody(c)
	if err != nil {
		b, what := m.flip(c.body)
		return chunk{c.typ, b}, what
	}
	name := map[byte]string{chunkChange: "change", chunkDocument: "document"}[c.typ]
	var what string
	b := []byte(nil)
	switch p := m.r.IntN(20); {
	case p < 13:
		what = m.columnValue(bd)
	case p < 17:
		what = m.header(bd)
	case p < 19:
		what = m.columnSpec(bd)
	default: // anywhere in the body
		b, what = m.flip(bd.encode())
	}
	if b == nil {
		b = bd.encode()
	}
	return chunk{c.typ, b}, name + " " + what
}

// flip changes one byte.
func (m *Mutator) flip(b []byte) ([]byte, string) {
	if len(b) == 0 {
		return []byte{0}, "empty, made one byte"
	}
	b = append([]byte{}, b...)
	i := m.r.IntN(len(b))
	old := b[i]
	if m.r.IntN(2) == 0 {
		b[i] ^= 1 << m.r.IntN(8)
	} else {
		b[i] = []byte{0, 0x7f, 0x80, 0xff}[m.r.IntN(4)]
	}
	return b, fmt.Sprintf("byte %d %#x->%#x", i, old, b[i])
}

// Values that break assumptions.
var (
	interestingU = []uint64{0, 1, 2, 3, 7, 8, 15, 16, 127, 128, 255, 256, 1 << 16,
		1<<31 - 1, 1 << 31, 1<<32 - 1, 1 << 32, 1<<32 + 1, 1 << 53, 1<<63 - 1, 1 << 63, math.MaxUint64}
	interestingI = []int64{0, 1, -1, 2, -2, 127, -128, 1 << 31, -1 << 31, 1 << 32, -1 << 32,
		1 << 53, math.MaxInt64, math.MinInt64}
)

func (m *Mutator) uintNear(old uint64) uint64 {
	switch m.r.IntN(4) {
	case 0:
		return old + 1
	case 1:
		return old - 1 // 0 wraps to the largest
	default:
		return interestingU[m.r.IntN(len(interestingU))]
	}
}

func (m *Mutator) intNear(old int64) int64 {
	switch m.r.IntN(4) {
	case 0:
		return old + 1
	case 1:
		return -old
	default:
		return interestingI[m.r.IntN(len(interestingI))]
	}
}

// header changes a field before the columns: a sequence number, a counter,
// a time, a count, an actor's length.
func (m *Mutator) header(bd *body) string {
	var idx []int
	for i, f := range bd.fields {
		if f.kind == fUint || f.kind == fInt || f.kind == fLenBytes {
			idx = append(idx, i)
		}
	}
	if len(idx) == 0 {
		return m.columnValue(bd)
	}
	f := &bd.fields[idx[m.r.IntN(len(idx))]]
	switch f.kind {
	case fUint:
		old := f.u
		f.u = m.uintNear(old)
		return fmt.Sprintf("%s %d->%d", f.name, old, f.u)
	case fInt:
		old := f.i
		f.i = m.intNear(old)
		return fmt.Sprintf("%s %d->%d", f.name, old, f.i)
	default: // an actor or the message: change its bytes, or its length
		old := len(f.b)
		switch m.r.IntN(3) {
		case 0:
			f.b = f.b[:m.r.IntN(len(f.b)+1)]
		case 1:
			f.b = append(append([]byte{}, f.b...), f.b...)
		default:
			f.b, _ = m.flip(f.b)
			return f.name + " bytes"
		}
		return fmt.Sprintf("%s length %d->%d", f.name, old, len(f.b))
	}
}

// pickColumn returns a column of the body, and its place.
func (m *Mutator) pickColumn(bd *body) (*column, string) {
	var all [][2]int
	for g, cols := range bd.groups {
		for i := range cols {
			all = append(all, [2]int{g, i})
		}
	}
	if len(all) == 0 {
		return nil, ""
	}
	p := all[m.r.IntN(len(all))]
	c := &bd.groups[p[0]][p[1]]
	return c, fmt.Sprintf("col[%d][%d] spec=%#x", p[0], p[1], c.spec)
}

// columnSpec changes a column's spec (what it holds, how it is encoded),
// or removes a column, or doubles one.
func (m *Mutator) columnSpec(bd *body) string {
	c, where := m.pickColumn(bd)
	if c == nil {
		return m.header(bd)
	}
	switch m.r.IntN(4) {
	case 0: // another type, same id
		old := c.spec
		c.spec = c.spec&^7 | uint64(m.r.IntN(8))
		return fmt.Sprintf("%s type %#x->%#x", where, old, c.spec)
	case 1: // another id
		old := c.spec
		c.spec = c.spec&15 | uint64(m.r.IntN(32))<<4
		return fmt.Sprintf("%s id %#x->%#x", where, old, c.spec)
	case 2: // the deflate bit
		c.spec ^= 8
		return where + " deflate bit flipped"
	default: // emptied
		c.data = nil
		return where + " emptied"
	}
}

// columnValue changes one value in a column: decoded as the column's type
// says (run-length encoded integers, deltas, booleans), changed and encoded
// again; bytes otherwise.
func (m *Mutator) columnValue(bd *body) string {
	c, where := m.pickColumn(bd)
	if c == nil || len(c.data) == 0 {
		return m.header(bd)
	}
	data := c.data
	deflated := c.spec&8 != 0
	if deflated {
		b, err := inflate(data)
		if err != nil {
			b, what := m.flip(data)
			c.data = b
			return where + " " + what
		}
		data = b
	}
	var what string
	switch c.spec & 7 {
	case 0, 1, 2, 6: // group counts, actor indexes, integers, value metadata
		data, what = m.rle(data, false)
	case 3: // deltas
		data, what = m.rle(data, true)
	case 4: // booleans: run lengths
		data, what = m.runLengths(data)
	default: // strings, raw values
		data, what = m.flip(data)
	}
	if deflated {
		data = deflate(data)
	}
	c.data = data
	return where + " " + what
}

// A run of a run-length encoded column: count > 0 repeats one value count
// times, count < 0 is -count values as they are, count 0 is nulls (how many
// follows, unsigned).
type run struct {
	count int64
	nulls uint64
	vals  []uint64 // as int64 bits for deltas
}

func decodeRLE(b []byte, signed bool) ([]run, bool) {
	r := &reader{b: b}
	val := func() uint64 {
		if signed {
			return uint64(r.sleb())
		}
		return r.uleb()
	}
	var runs []run
	for !r.done() && r.err == nil {
		ru := run{count: r.sleb()}
		switch {
		case ru.count > 0:
			ru.vals = []uint64{val()}
		case ru.count < 0:
			if -ru.count > int64(len(r.b)) || ru.count == math.MinInt64 {
				return nil, false
			}
			for range -ru.count {
				ru.vals = append(ru.vals, val())
			}
		default:
			ru.nulls = r.uleb()
		}
		runs = append(runs, ru)
	}
	return runs, r.err == nil && len(runs) > 0
}

func encodeRLE(runs []run, signed bool) []byte {
	var b []byte
	for _, ru := range runs {
		b = appendSleb(b, ru.count)
		if ru.count == 0 {
			b = appendUleb(b, ru.nulls)
			continue
		}
		for _, v := range ru.vals {
			if signed {
				b = appendSleb(b, int64(v))
			} else {
				b = appendUleb(b, v)
			}
		}
	}
	return b
}

// rle changes a value of a run-length encoded column, or a run's length.
func (m *Mutator) rle(data []byte, signed bool) ([]byte, string) {
	runs, ok := decodeRLE(data, signed)
	if !ok {
		return m.flip(data)
	}
	i := m.r.IntN(len(runs))
	ru := &runs[i]
	if len(ru.vals) == 0 || m.r.IntN(5) == 0 {
		// The run's length, kept modest: a run of 2^32 is a slow loop, not
		// a crash.
		old := ru.count
		switch {
		case ru.count > 0:
			ru.count = []int64{1, 2, ru.count + 1, ru.count * 2, 4096}[m.r.IntN(5)]
		case ru.count == 0:
			ru.nulls = []uint64{0, 1, ru.nulls + 1, 4096}[m.r.IntN(4)]
			return encodeRLE(runs, signed), fmt.Sprintf("run %d nulls->%d", i, ru.nulls)
		default: // a literal run: one value fewer or more than it says
			ru.count += []int64{-1, 1}[m.r.IntN(2)]
		}
		return encodeRLE(runs, signed), fmt.Sprintf("run %d count %d->%d", i, old, ru.count)
	}
	j := m.r.IntN(len(ru.vals))
	old := ru.vals[j]
	if signed {
		ru.vals[j] = uint64(m.intNear(int64(old)))
		return encodeRLE(runs, signed), fmt.Sprintf("run %d value %d: %d->%d", i, j, int64(old), int64(ru.vals[j]))
	}
	ru.vals[j] = m.uintNear(old)
	return encodeRLE(runs, signed), fmt.Sprintf("run %d value %d: %d->%d", i, j, old, ru.vals[j])
}

// runLengths changes one of the unsigned numbers a boolean column is.
func (m *Mutator) runLengths(data []byte) ([]byte, string) {
	r := &reader{b: data}
	var ns []uint64
	for !r.done() && r.err == nil {
		ns = append(ns, r.uleb())
	}
	if r.err != nil || len(ns) == 0 {
		return m.flip(data)
	}
	i := m.r.IntN(len(ns))
	old := ns[i]
	ns[i] = []uint64{0, 1, old + 1, old - 1, 4096}[m.r.IntN(5)]
	var b []byte
	for _, n := range ns {
		b = appendUleb(b, n)
	}
	return b, fmt.Sprintf("run %d length %d->%d", i, old, ns[i])
}

// bloom changes a bloom filter: how many entries it says it has, bits per
// entry, probes, or its bits. An empty one gets a filter first.
func (m *Mutator) bloom(b []byte) ([]byte, string) {
	entries, bitsPer, probes := uint64(1), uint64(10), uint64(7)
	bits := []byte{0xff, 0x03}
	if len(b) > 0 {
		r := &reader{b: b}
		entries, bitsPer, probes = r.uleb(), r.uleb(), r.uleb()
		bits = r.b
		if r.err != nil {
			return m.flip(b)
		}
	}
	var what string
	switch m.r.IntN(5) {
	case 0:
		entries = m.uintNear(entries)
		what = fmt.Sprintf("bloom entries->%d", entries)
	case 1:
		bitsPer = m.uintNear(bitsPer)
		what = fmt.Sprintf("bloom bits per entry->%d", bitsPer)
	case 2:
		probes = m.uintNear(probes)
		what = fmt.Sprintf("bloom probes->%d", probes)
	case 3:
		n := len(bits)
		bits = bits[:m.r.IntN(n+1)]
		what = fmt.Sprintf("bloom bits %d->%d bytes", n, len(bits))
	default:
		bits, what = m.flip(bits)
		what = "bloom bits " + what
	}
	out := appendUleb(nil, entries)
	out = appendUleb(out, bitsPer)
	out = appendUleb(out, probes)
	return append(out, bits...), what
}

// hashes changes a hash a sync message names: made random or zero, doubled,
// or one more that nobody has.
func (m *Mutator) hashes(s *syncMessage) string {
	lists := []*[][]byte{&s.heads, &s.need}
	names := []string{"heads", "need"}
	for i := range s.haves {
		lists = append(lists, &s.haves[i].lastSync)
		names = append(names, fmt.Sprintf("have %d last sync", i))
	}
	k := m.r.IntN(len(lists))
	l := lists[k]
	h := make([]byte, 32)
	if m.r.IntN(2) == 0 {
		for i := range h {
			h[i] = byte(m.r.Uint32())
		}
	}
	switch {
	case len(*l) > 0 && m.r.IntN(2) == 0:
		i := m.r.IntN(len(*l))
		if m.r.IntN(2) == 0 {
			*l = append(*l, (*l)[i])
			return fmt.Sprintf("%s: hash %d doubled", names[k], i)
		}
		(*l)[i] = h
		return fmt.Sprintf("%s: hash %d replaced", names[k], i)
	default:
		*l = append(*l, h)
		return fmt.Sprintf("%s: a hash added", names[k])
	}
}
