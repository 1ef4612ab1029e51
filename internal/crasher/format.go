package crasher

import (
	"bytes"
	"compress/flate"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"io"
)

// Automerge's binary formats (automerge 0.5; the spec is at
// https://automerge.org/automerge-binary-format-spec/), as far as the
// Mutator needs them. A chunk is
//
//	magic (85 6f 4a 83) | checksum (4) | type (1) | length (uLEB) | body
//
// and its checksum is the first four bytes of the SHA-256 of type, length
// and body. A change's body (type 1; type 2 is the same deflated) is its
// dependencies, actor, sequence number, first op counter, time, message and
// other actors, then the metadata of its op columns (count, then each
// column's spec and length) and the columns. A saved document's body (type
// 0) is its actors and heads, the metadata of its change columns and of its
// op columns, the columns of both, and the heads' indexes. A sync message
// is 0x42, heads, needs, haves (each last-sync heads and a bloom filter),
// then changes (each a length and a change chunk).

var magic = []byte{0x85, 0x6f, 0x4a, 0x83}

const (
	chunkDocument   = 0
	chunkChange     = 1
	chunkCompressed = 2
)

var errFormat = errors.New("crasher: not the format expected")

// reader reads LEB128 numbers and byte strings, remembering the first error.
type reader struct {
	b   []byte
	err error
}

func (r *reader) fail() {
	if r.err == nil {
		r.err = errFormat
	}
	r.b = nil
}

func (r *reader) done() bool { return len(r.b) == 0 }

func (r *reader) uleb() uint64 {
	v, n := binary.Uvarint(r.b) // LEB128, as Automerge's
	if n <= 0 {
		r.fail()
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *reader) sleb() int64 {
	var v int64
	var shift uint
	for i, c := range r.b {
		if i == 10 {
			break
		}
		v |= int64(c&0x7f) << shift
		shift += 7
		if c&0x80 == 0 {
			if shift < 64 && c&0x40 != 0 {
				v |= -1 << shift
			}
			r.b = r.b[i+1:]
			return v
		}
	}
	r.fail()
	return 0
}

// count reads a count of things at least min bytes long each, refusing
// one that the rest could not hold.
func (r *reader) count(min int) uint64 {
	n := r.uleb()
	if n > uint64(len(r.b)/max(min, 1)) {
		r.fail()
		return 0
	}
	return n
}

func (r *reader) bytes(n uint64) []byte {
	if n > uint64(len(r.b)) {
		r.fail()
		return nil
	}
	b := r.b[:n:n]
	r.b = r.b[n:]
	return b
}

func appendUleb(b []byte, v uint64) []byte { return binary.AppendUvarint(b, v) }

func appendSleb(b []byte, v int64) []byte {
	for {
		c := byte(v & 0x7f)
		v >>= 7
		if v == 0 && c&0x40 == 0 || v == -1 && c&0x40 != 0 {
			return append(b, c)
		}
		b = append(b, c|0x80)
	}
}

// chunk is one chunk of a saved document or of changes.
type chunk struct {
	typ  byte
	body []byte
}

// splitChunks splits bytes into chunks, not checking their checksums.
func splitChunks(b []byte) ([]chunk, error) {
	var out []chunk
	for len(b) > 0 {
		if len(b) < 9 || !bytes.Equal(b[:4], magic) {
			return nil, errFormat
		}
		r := reader{b: b[9:]}
		n := r.uleb()
		body := r.bytes(n)
		if r.err != nil {
			return nil, r.err
		}
		out = append(out, chunk{typ: b[8], body: body})
		b = r.b
	}
	if len(out) == 0 {
		return nil, errFormat
	}
	return out, nil
}

// encode frames a chunk, with its checksum.
func (c chunk) encode() []byte {
	hashed := appendUleb([]byte{c.typ}, uint64(len(c.body)))
	hashed = append(hashed, c.body...)
	sum := sha256.Sum256(hashed)
	out := append([]byte{}, magic...)
	out = append(out, sum[:4]...)
	return append(out, hashed...)
}

// checksumOK reports whether a framed chunk's checksum matches.
func checksumOK(framed []byte) bool {
	cs, err := splitChunks(framed)
	return err == nil && len(cs) == 1 && bytes.Equal(cs[0].encode(), framed)
}

// fieldKind says how a field of a chunk's body is encoded.
type fieldKind int

const (
	fUint     fieldKind = iota // uLEB
	fInt                       // sLEB
	fRaw                       // bytes as they are (a hash; what is left)
	fLenBytes                  // uLEB length, then the bytes (an actor, the message)
	fMeta                      // a column group's metadata
	fData                      // a column group's columns
)

type field struct {
	kind  fieldKind
	name  string
	u     uint64
	i     int64
	b     []byte
	group int // fMeta, fData
}

// column is one column of a group: its spec (id << 4 | deflate << 3 |
// type) and its bytes, as stored.
type column struct {
	spec uint64
	data []byte
}

// body is a chunk's body taken apart.
type body struct {
	typ    byte
	fields []field
	groups [][]column
}

func (bd *body) encode() []byte {
	var b []byte
	for _, f := range bd.fields {
		switch f.kind {
		case fUint:
			b = appendUleb(b, f.u)
		case fInt:
			b = appendSleb(b, f.i)
		case fRaw:
			b = append(b, f.b...)
		case fLenBytes:
			b = appendUleb(b, uint64(len(f.b)))
			b = append(b, f.b...)
		case fMeta:
			cols := bd.groups[f.group]
			b = appendUleb(b, uint64(len(cols)))
			for _, c := range cols {
				b = appendUleb(b, c.spec)
				b = appendUleb(b, uint64(len(c.data)))
			}
		case fData:
			for _, c := range bd.groups[f.group] {
				b = append(b, c.data...)
			}
		}
	}
	return b
}

// parser builds a body's fields as it reads them.
type parser struct {
	reader
	bd    *body
	sizes []uint64 // of the columns meta read and data did not yet
}

func (p *parser) uint(name string) uint64 {
	v := p.uleb()
	p.bd.fields = append(p.bd.fields, field{kind: fUint, name: name, u: v})
	return v
}

func (p *parser) int(name string) {
	p.bd.fields = append(p.bd.fields, field{kind: fInt, name: name, i: p.sleb()})
}

func (p *parser) raw(name string, n uint64) {
	p.bd.fields = append(p.bd.fields, field{kind: fRaw, name: name, b: p.bytes(n)})
}

func (p *parser) lenBytes(name string) {
	n := p.uleb()
	p.bd.fields = append(p.bd.fields, field{kind: fLenBytes, name: name, b: p.bytes(n)})
}

// list reads a count of things, each read by one.
func (p *parser) list(name string, min int, one func()) {
	n := p.count(min)
	p.bd.fields = append(p.bd.fields, field{kind: fUint, name: name, u: n})
	for range n {
		one()
	}
}

// meta reads a column group's metadata and returns the group. The
// columns' lengths wait in sizes for data.
func (p *parser) meta() int {
	n := p.count(2)
	var cols []column
	for range n {
		cols = append(cols, column{spec: p.uleb()})
		p.sizes = append(p.sizes, p.uleb())
	}
	g := len(p.bd.groups)
	p.bd.groups = append(p.bd.groups, cols)
	p.bd.fields = append(p.bd.fields, field{kind: fMeta, group: g})
	return g
}

// data reads a column group's columns, whose lengths meta read.
func (p *parser) data(g int) {
	for i := range p.bd.groups[g] {
		p.bd.groups[g][i].data = p.bytes(p.sizes[0])
		p.sizes = p.sizes[1:]
	}
	p.bd.fields = append(p.bd.fields, field{kind: fData, group: g})
}

func (p *parser) rest() {
	if len(p.b) > 0 {
		p.raw("rest", uint64(len(p.b)))
	}
}

// parseBody takes a change's or a document's body apart.
func parseBody(c chunk) (*body, error) {
	p := &parser{reader: reader{b: c.body}, bd: &body{typ: c.typ}}
	switch c.typ {
	case chunkChange:
		p.list("deps", 32, func() { p.raw("dep", 32) })
		p.lenBytes("actor")
		p.uint("seq")
		p.uint("startOp")
		p.int("time")
		p.lenBytes("message")
		p.list("actors", 1, func() { p.lenBytes("actor") })
		p.data(p.meta())
		p.rest()
	case chunkDocument:
		p.list("actors", 1, func() { p.lenBytes("actor") })
		p.list("heads", 32, func() { p.raw("head", 32) })
		changes, ops := p.meta(), p.meta()
		p.data(changes)
		p.data(ops)
		p.rest()
	default:
		return nil, errFormat
	}
	if p.err != nil {
		return nil, p.err
	}
	return p.bd, nil
}

// inflate and deflate (raw DEFLATE, as Automerge's) a compressed column or
// change.
func inflate(b []byte) ([]byte, error) {
	return io.ReadAll(io.LimitReader(flate.NewReader(bytes.NewReader(b)), 64<<20))
}

func deflate(b []byte) []byte {
	var buf bytes.Buffer
	w, _ := flate.NewWriter(&buf, flate.DefaultCompression)
	w.Write(b)
	w.Close()
	return buf.Bytes()
}

// syncMessage is a sync message taken apart.
type syncMessage struct {
	typ     byte
	heads   [][]byte
	need    [][]byte
	haves   []have
	changes [][]byte
	rest    []byte
}

type have struct {
	lastSync [][]byte
	bloom    []byte
}

func parseSync(b []byte) (*syncMessage, error) {
	if len(b) == 0 {
		return nil, errFormat
	}
	m := &syncMessage{typ: b[0]}
	r := &reader{b: b[1:]}
	hashes := func() [][]byte {
		n := r.count(32)
		var out [][]byte
		for range n {
			out = append(out, r.bytes(32))
		}
		return out
	}
	m.heads = hashes()
	m.need = hashes()
	n := r.count(2)
	for range n {
		h := have{lastSync: hashes()}
		h.bloom = r.bytes(r.uleb())
		m.haves = append(m.haves, h)
	}
	n = r.count(1)
	for range n {
		m.changes = append(m.changes, r.bytes(r.uleb()))
	}
	m.rest = r.b
	if r.err != nil {
		return nil, r.err
	}
	return m, nil
}

func (m *syncMessage) encode() []byte {
	b := []byte{m.typ}
	hashes := func(hs [][]byte) {
		b = appendUleb(b, uint64(len(hs)))
		for _, h := range hs {
			b = append(b, h...)
		}
	}
	hashes(m.heads)
	hashes(m.need)
	b = appendUleb(b, uint64(len(m.haves)))
	for _, h := range m.haves {
		hashes(h.lastSync)
		b = appendUleb(b, uint64(len(h.bloom)))
		b = append(b, h.bloom...)
	}
	b = appendUleb(b, uint64(len(m.changes)))
	for _, c := range m.changes {
		b = appendUleb(b, uint64(len(c)))
		b = append(b, c...)
	}
	return append(b, m.rest...)
}
