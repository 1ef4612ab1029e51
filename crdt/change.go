package crdt

import (
	"bytes"
	"cmp"
	"compress/flate"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"unicode/utf8"
)

// A pure-Go reader of Automerge's binary changes, so that the node can see
// what a peer's change does (and refuse it, see CheckChange) without
// handing the bytes to the Automerge core, which aborts the process on some
// crafted input. It follows the format as Automerge 0.5 (the core
// automerge-go bundles) reads it, and is stricter wherever that costs an
// honest peer nothing: see https://automerge.org/automerge-binary-format-spec/.

// Limits on what DecodeChanges and DecodeSyncMessage accept.
const (
	maxChangeOps  = 1 << 20  // operations in one change, and twice as many predecessors
	maxCallOps    = 2 << 20  // operations in one call, over all its changes
	maxInflated   = 64 << 20 // bytes one call may inflate
	maxDeps       = 1024     // dependencies of one change
	maxActors     = 1024     // actors one change names
	maxActorBytes = 64       // bytes of an actor ID
	maxMessage    = 64 << 10 // bytes of a change's message
	maxColumns    = 64       // op columns of one change
	maxValueBytes = 16 << 20 // bytes of one value
	maxCounter    = math.MaxUint32
)

// ChangeHash names a change: the SHA-256 of its chunk, uncompressed.
type ChangeHash [32]byte

func (h ChangeHash) String() string { return hex.EncodeToString(h[:]) }

// OpID names an operation (and the object it made): a counter and an actor
// (hex). The zero OpID is the root object / the head of a list.
type OpID struct {
	Counter uint64
	Actor   string
}

func (id OpID) String() string {
	if id.Counter == 0 {
		return "_root"
	}
	return strconv.FormatUint(id.Counter, 10) + "@" + id.Actor
}

// Action is what an operation does.
type Action uint8

// Actions as Automerge numbers them; others are unknown and kept as their
// number.
const (
	ActMakeMap Action = iota
	ActSet
	ActMakeList
	ActDel
	ActMakeText
	ActInc
	ActMakeTable
	ActMark
)

var actionNames = [...]string{"makeMap", "set", "makeList", "del", "makeText", "inc", "makeTable", "mark"}

func (a Action) String() string {
	if int(a) < len(actionNames) {
		return actionNames[a]
	}
	return "action" + strconv.Itoa(int(a))
}

// ValueKind says which of Value's fields holds a value.
type ValueKind uint8

// Kinds of values.
const (
	ValueNull ValueKind = iota
	ValueFalse
	ValueTrue
	ValueUint      // in Uint
	ValueInt       // in Int
	ValueFloat     // in Float
	ValueStr       // in Str
	ValueBytes     // in Bytes
	ValueCounter   // in Int
	ValueTimestamp // in Int: milliseconds since 1970
	ValueUnknown   // a type code (Code) Automerge keeps but does not know, with Bytes
)

// Value is an operation's scalar value.
type Value struct {
	Kind  ValueKind
	Code  uint8 // of an unknown kind
	Str   string
	Int   int64
	Uint  uint64
	Float float64
	Bytes []byte
}

func (v Value) String() string {
	switch v.Kind {
	case ValueNull:
		return "null"
	case ValueFalse:
		return "false"
	case ValueTrue:
		return "true"
	case ValueUint:
		return strconv.FormatUint(v.Uint, 10)
	case ValueInt:
		return strconv.FormatInt(v.Int, 10)
	case ValueFloat:
		return "float(" + strconv.FormatFloat(v.Float, 'g', -1, 64) + ")"
	case ValueStr:
		return strconv.Quote(v.Str)
	case ValueCounter:
		return "counter(" + strconv.FormatInt(v.Int, 10) + ")"
	case ValueTimestamp:
		return "timestamp(" + strconv.FormatInt(v.Int, 10) + ")"
	case ValueUnknown:
		return "unknown" + strconv.Itoa(int(v.Code)) + "(" + hex.EncodeToString(v.Bytes) + ")"
	}
	return "bytes(" + hex.EncodeToString(v.Bytes) + ")"
}

// Op is one operation of a change.
type Op struct {
	ID     OpID   // StartOp+i, by the change's actor
	Obj    OpID   // zero: the root
	Key    string // map key, when MapKey
	Elem   OpID   // list/text element, when !MapKey (zero Counter: the head)
	MapKey bool
	Insert bool
	Action Action
	Value  Value
	Pred   []OpID // the operations this one overwrites or deletes
	// Marks (ActMark) carry a name (none: the end of a mark) and whether
	// they grow with text typed at their edges.
	MarkName string
	Expand   bool
}

// String shows an op as, say, `5@aa: insert set 4@aa/_head "h"` or
// `9@aa: del 4@aa/6@aa pred 6@aa`.
func (o Op) String() string {
	var b strings.Builder
	b.WriteString(o.ID.String())
	b.WriteString(": ")
	if o.Insert {
		b.WriteString("insert ")
	}
	b.WriteString(o.Action.String())
	b.WriteString(" ")
	b.WriteString(o.Obj.String())
	switch {
	case o.MapKey:
		b.WriteString("[" + strconv.Quote(o.Key) + "]")
	case o.Elem.Counter == 0:
		b.WriteString("/_head")
	default:
		b.WriteString("/" + o.Elem.String())
	}
	if o.Action != ActDel && (o.Value.Kind != ValueNull || o.Action == ActSet) {
		b.WriteString(" " + o.Value.String())
	}
	if o.Action == ActMark {
		fmt.Fprintf(&b, " name %q expand %t", o.MarkName, o.Expand)
	}
	for i, p := range o.Pred {
		if i == 0 {
			b.WriteString(" pred")
		}
		b.WriteString(" " + p.String())
	}
	return b.String()
}

// Change is one decoded change.
type Change struct {
	Hash    ChangeHash // as Automerge computes it, over the uncompressed chunk
	Deps    []ChangeHash
	Actor   string // hex
	Seq     uint64
	StartOp uint64
	Time    int64 // as written: milliseconds from Go and our page, seconds from JS by default
	Message string
	Ops     []Op
	// Raw is the change's chunk as it came (compressed or not): what
	// LoadIncremental takes.
	Raw []byte
}

// ParseChangeHash parses the hex form of a change hash.
func ParseChangeHash(s string) (ChangeHash, error) {
	var h ChangeHash
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != len(h) {
		return h, fmt.Errorf("change hash %q is not 64 hex digits", s)
	}
	copy(h[:], b)
	return h, nil
}

// Chunks: every change (and saved document) is one, framed by magic bytes,
// a checksum (the first 4 bytes of the hash), a type and a length.
var chunkMagic = [4]byte{0x85, 0x6f, 0x4a, 0x83}

const (
	chunkDocument   = 0
	chunkChange     = 1
	chunkCompressed = 2 // a change, DEFLATE-compressed
)

// DecodeChanges decodes one or more concatenated change chunks (as
// Doc.SaveIncremental and Change.Save produce), compressed or not. A saved
// document is refused.
func DecodeChanges(b []byte) ([]*Change, error) {
	d := newDecoder()
	return d.changes(b)
}

// decoder decodes within the limits of one call.
type decoder struct {
	maxOps  int // operations in one change
	ops     int // operations left to decode
	inflate int // bytes left to inflate
}

func newDecoder() decoder {
	return decoder{maxOps: maxChangeOps, ops: maxCallOps, inflate: maxInflated}
}

func (d *decoder) changes(b []byte) ([]*Change, error) {
	var out []*Change
	for off := 0; off < len(b); {
		c, n, err := d.chunk(b[off:], true)
		if err != nil {
			return nil, fmt.Errorf("crdt: decode changes: chunk %d (at byte %d): %w", len(out)+1, off, err)
		}
		out = append(out, c)
		off += n
	}
	return out, nil
}

// chunk decodes the change chunk at the start of b and returns it and its
// length. Compressed chunks are taken only if compressed is set: Automerge
// 0.5 reads none in a sync message.
func (d *decoder) chunk(b []byte, compressed bool) (*Change, int, error) {
	if len(b) < 9 {
		return nil, 0, fmt.Errorf("%d bytes, too short for a chunk header", len(b))
	}
	if !bytes.Equal(b[:4], chunkMagic[:]) {
		return nil, 0, fmt.Errorf("not an Automerge chunk (it starts %x, not %x)", b[:4], chunkMagic)
	}
	r := reader{b: b, off: 9}
	n, err := r.uint()
	if err != nil {
		return nil, 0, fmt.Errorf("chunk length: %w", err)
	}
	data, err := r.bytes(n)
	if err != nil {
		return nil, 0, fmt.Errorf("chunk body: %w", err)
	}
	var hash ChangeHash
	switch typ := b[8]; {
	case typ == chunkChange:
		// The hash covers the type, the length and the body: all of the
		// chunk after the checksum (lengths are read only in their
		// shortest form, the one Automerge writes when it hashes).
		hash = sha256.Sum256(b[8:r.off])
	case typ == chunkCompressed && compressed:
		if data, err = d.inflated(data); err != nil {
			return nil, 0, err
		}
		h := sha256.New()
		var hdr [11]byte
		h.Write(uleb(append(hdr[:0], chunkChange), uint64(len(data))))
		h.Write(data)
		h.Sum(hash[:0])
	case typ == chunkCompressed:
		return nil, 0, errors.New("a compressed change (chunk type 2), which sync messages never carry")
	case typ == chunkDocument:
		return nil, 0, errors.New("a saved document (chunk type 0), not a change: documents load whole")
	default:
		return nil, 0, fmt.Errorf("unknown chunk type %d", typ)
	}
	if !bytes.Equal(hash[:4], b[4:8]) {
		return nil, 0, fmt.Errorf("checksum %x does not match the change's hash %x…", b[4:8], hash[:4])
	}
	c, err := d.change(data)
	if err != nil {
		return nil, 0, fmt.Errorf("change %x: %w", hash[:4], err)
	}
	c.Hash = hash
	c.Raw = b[:r.off:r.off]
	return c, r.off, nil
}

// uleb appends v as unsigned LEB128.
func uleb(b []byte, v uint64) []byte {
	for v >= 0x80 {
		b = append(b, byte(v)|0x80)
		v >>= 7
	}
	return append(b, byte(v))
}

// inflated decompresses a compressed chunk's body, within the call's
// budget.
func (d *decoder) inflated(z []byte) ([]byte, error) {
	src := bytes.NewReader(z)
	out, err := io.ReadAll(io.LimitReader(flate.NewReader(src), int64(d.inflate)+1))
	if err != nil {
		return nil, fmt.Errorf("inflate compressed change: %w", err)
	}
	if len(out) > d.inflate {
		return nil, fmt.Errorf("compressed change inflates to over the %d bytes left to inflate", d.inflate)
	}
	if src.Len() != 0 {
		return nil, fmt.Errorf("%d bytes after the compressed change", src.Len())
	}
	d.inflate -= len(out)
	return out, nil
}

// change decodes a change chunk's body.
func (d *decoder) change(data []byte) (*Change, error) {
	r := reader{b: data}
	c := &Change{}
	field := func(name string, err error) error { return fmt.Errorf("%s: %w", name, err) }

	n, err := r.uint()
	if err != nil {
		return nil, field("number of dependencies", err)
	}
	if n > maxDeps {
		return nil, fmt.Errorf("%d dependencies, over the limit of %d", n, maxDeps)
	}
	if n > 0 {
		c.Deps = make([]ChangeHash, n)
	}
	for i := range c.Deps {
		b, err := r.bytes(32)
		if err != nil {
			return nil, field("dependency", err)
		}
		c.Deps[i] = ChangeHash(b)
	}
	if c.Actor, err = readActor(&r); err != nil {
		return nil, field("actor", err)
	}
	if c.Seq, err = r.uint(); err != nil {
		return nil, field("seq", err)
	}
	if c.Seq == 0 {
		return nil, errors.New("seq 0 (an actor's changes count from 1)")
	}
	if c.StartOp, err = r.uint(); err != nil {
		return nil, field("start op", err)
	}
	if c.StartOp == 0 || c.StartOp > maxCounter {
		return nil, fmt.Errorf("start op %d, not between 1 and %d", c.StartOp, uint64(maxCounter))
	}
	if c.Time, err = r.int(); err != nil {
		return nil, field("time", err)
	}
	if n, err = r.uint(); err != nil {
		return nil, field("message length", err)
	}
	if n > maxMessage {
		return nil, fmt.Errorf("a message of %d bytes, over the limit of %d", n, maxMessage)
	}
	msg, err := r.bytes(n)
	if err != nil {
		return nil, field("message", err)
	}
	if !utf8.Valid(msg) {
		return nil, errors.New("the message is not valid UTF-8")
	}
	c.Message = string(msg)
	if n, err = r.uint(); err != nil {
		return nil, field("number of other actors", err)
	}
	if n >= maxActors {
		return nil, fmt.Errorf("%d other actors, over the limit of %d", n, maxActors-1)
	}
	actors := make([]string, 1, 1+n)
	actors[0] = c.Actor
	for range n {
		a, err := readActor(&r)
		if err != nil {
			return nil, field("other actor", err)
		}
		actors = append(actors, a)
	}
	var cols opColumns
	if err := readColumns(&r, &cols); err != nil {
		return nil, err
	}
	if !r.done() {
		// Automerge keeps such bytes (for extensions to come) but reads
		// nothing in them; none of ours writes any.
		return nil, fmt.Errorf("%d unknown bytes after the op columns", r.left())
	}
	if err := d.readOps(c, &cols, actors); err != nil {
		return nil, err
	}
	return c, nil
}

func readActor(r *reader) (string, error) {
	n, err := r.uint()
	if err != nil {
		return "", err
	}
	if n > maxActorBytes {
		return "", fmt.Errorf("an actor ID of %d bytes, over the limit of %d", n, maxActorBytes)
	}
	b, err := r.bytes(n)
	if err != nil {
		return "", err
	}
	return hex.EncodeToString(b), nil
}

// Op columns: a column's spec is its ID << 4 | a deflate bit (8) | its type.
const (
	colGroup    = 0
	colActor    = 1
	colInt      = 2
	colDelta    = 3
	colBool     = 4
	colString   = 5
	colMeta     = 6
	colValue    = 7
	colDeflated = 8

	specObjActor = 0<<4 | colActor
	specObjCtr   = 0<<4 | colInt
	specKeyActor = 1<<4 | colActor
	specKeyCtr   = 1<<4 | colDelta
	specKeyStr   = 1<<4 | colString
	specInsert   = 3<<4 | colBool
	specAction   = 4<<4 | colInt
	specValMeta  = 5<<4 | colMeta
	specValRaw   = 5<<4 | colValue
	specPred     = 7<<4 | colGroup
	specPredAct  = 7<<4 | colActor
	specPredCtr  = 7<<4 | colDelta
	specExpand   = 9<<4 | colBool
	specMarkName = 10<<4 | colString
)

// columnName names the op columns of a change; "" for any other spec.
func columnName(spec uint32) string {
	switch spec {
	case specObjActor:
		return "object actor"
	case specObjCtr:
		return "object counter"
	case specKeyActor:
		return "key actor"
	case specKeyCtr:
		return "key counter"
	case specKeyStr:
		return "key string"
	case specInsert:
		return "insert"
	case specAction:
		return "action"
	case specValMeta:
		return "value metadata"
	case specValRaw:
		return "value"
	case specPred:
		return "predecessor count"
	case specPredAct:
		return "predecessor actor"
	case specPredCtr:
		return "predecessor counter"
	case specExpand:
		return "expand"
	case specMarkName:
		return "mark name"
	}
	return ""
}

// isKnownID reports whether id names a column of change chunks.
func isKnownID(id uint32) bool {
	switch id {
	case 0, 1, 3, 4, 5, 7, 9, 10:
		return true
	}
	return false
}

// opColumns holds the data of a change's op columns; absent ones are
// empty.
type opColumns struct {
	objActor, objCtr, keyActor, keyCtr, keyStr, insert, action []byte
	valMeta, valRaw, pred, predAct, predCtr, expand, markName  []byte
}

func (c *opColumns) slot(spec uint32) *[]byte {
	switch spec {
	case specObjActor:
		return &c.objActor
	case specObjCtr:
		return &c.objCtr
	case specKeyActor:
		return &c.keyActor
	case specKeyCtr:
		return &c.keyCtr
	case specKeyStr:
		return &c.keyStr
	case specInsert:
		return &c.insert
	case specAction:
		return &c.action
	case specValMeta:
		return &c.valMeta
	case specValRaw:
		return &c.valRaw
	case specPred:
		return &c.pred
	case specPredAct:
		return &c.predAct
	case specPredCtr:
		return &c.predCtr
	case specExpand:
		return &c.expand
	case specMarkName:
		return &c.markName
	}
	return nil
}

// readColumns reads the column specs and lengths, then their data.
func readColumns(r *reader, cols *opColumns) error {
	n, err := r.uint()
	if err != nil {
		return fmt.Errorf("number of columns: %w", err)
	}
	if n > maxColumns {
		return fmt.Errorf("%d op columns, over the limit of %d", n, maxColumns)
	}
	type span struct {
		spec uint32
		len  uint64
	}
	var specs [maxColumns]span
	var total uint64
	for i := range n {
		spec, err := r.uint()
		if err != nil {
			return fmt.Errorf("column %d spec: %w", i+1, err)
		}
		if spec > math.MaxUint32 {
			return fmt.Errorf("column %d spec %d does not fit in 32 bits", i+1, spec)
		}
		l, err := r.uint()
		if err != nil {
			return fmt.Errorf("column %d length: %w", i+1, err)
		}
		if l > uint64(r.left()) || total+l > uint64(r.left()) {
			return fmt.Errorf("column %d (spec %#x) of %d bytes runs past the end of the change", i+1, spec, l)
		}
		total += l
		specs[i] = span{uint32(spec), l}
	}
	var pred, predAct, predCtr bool
	for i, s := range specs[:n] {
		data, _ := r.bytes(s.len) // fits: checked above
		id, typ := s.spec>>4, s.spec&7
		switch {
		case s.spec&colDeflated != 0:
			return fmt.Errorf("column %#x is DEFLATE-compressed, which change chunks may not be (Automerge refuses them)", s.spec)
		case i > 0 && s.spec <= specs[i-1].spec&^colDeflated:
			return fmt.Errorf("column %#x after column %#x: columns must be in ascending order, each once", s.spec, specs[i-1].spec)
		case typ == colValue && (i == 0 || specs[i-1].spec != s.spec-1):
			return fmt.Errorf("value column %#x without its metadata column", s.spec)
		case !isKnownID(id):
			continue // an extension this reader does not know: skipped, as the format allows
		case columnName(s.spec) == "":
			return fmt.Errorf("column %#x: column %d has no type %d", s.spec, id, typ)
		}
		*cols.slot(s.spec) = data
		pred = pred || s.spec == specPred
		predAct = predAct || s.spec == specPredAct
		predCtr = predCtr || s.spec == specPredCtr
	}
	if (predAct || predCtr) && !pred {
		return errors.New("predecessor columns without their group column")
	}
	if predAct != predCtr {
		return errors.New("a predecessor actor column without a counter column, or the other way round")
	}
	return nil
}

// opDecoders reads a change's op columns, one op at a time.
type opDecoders struct {
	objActor, objCtr, keyActor rle[uint64]
	keyCtr                     delta
	keyStr                     rle[string]
	insert                     boolean
	action                     rle[uint64]
	vals                       values
	predNum, predAct           rle[uint64]
	predCtr                    delta
	expand                     boolean
	markName                   rle[string]
}

func newOpDecoders(c *opColumns) opDecoders {
	return opDecoders{
		objActor: newRLE(c.objActor, readUint),
		objCtr:   newRLE(c.objCtr, readUint),
		keyActor: newRLE(c.keyActor, readUint),
		keyCtr:   newDelta(c.keyCtr),
		keyStr:   newRLE(c.keyStr, readString),
		insert:   boolean{r: reader{b: c.insert}},
		action:   newRLE(c.action, readUint),
		vals:     values{meta: newRLE(c.valMeta, readUint), raw: reader{b: c.valRaw}},
		predNum:  newRLE(c.pred, readUint),
		predAct:  newRLE(c.predAct, readUint),
		predCtr:  newDelta(c.predCtr),
		expand:   boolean{r: reader{b: c.expand}},
		markName: newRLE(c.markName, readString),
	}
}

// leftover fails if a column holds more values than the change has
// operations (or predecessors): Automerge would ignore them; no encoder
// writes them.
func (o *opDecoders) leftover() error {
	for _, c := range [...]struct {
		spec uint32
		left bool
	}{
		{specObjActor, o.objActor.leftover()}, {specObjCtr, o.objCtr.leftover()},
		{specKeyActor, o.keyActor.leftover()}, {specKeyCtr, o.keyCtr.leftover()}, {specKeyStr, o.keyStr.leftover()},
		{specInsert, o.insert.leftover()}, {specAction, o.action.leftover()}, {specValMeta, o.vals.leftover()},
		{specPred, o.predNum.leftover()}, {specPredAct, o.predAct.leftover()}, {specPredCtr, o.predCtr.leftover()},
		{specExpand, o.expand.leftover()}, {specMarkName, o.markName.leftover()},
	} {
		if c.left {
			return fmt.Errorf("column %s holds more values than the change has operations", columnName(c.spec))
		}
	}
	return nil
}

// readOps decodes a change's operations from its columns.
func (d *decoder) readOps(c *Change, cols *opColumns, actors []string) error {
	o := newOpDecoders(cols)
	// Size everything up front: the action column says how many ops there
	// are, the predecessor counts how many predecessors.
	n, _, err := countAndSum(cols.action)
	if err != nil {
		return fmt.Errorf("column action: %w", err)
	}
	_, npred, err := countAndSum(cols.pred)
	if err != nil {
		return fmt.Errorf("column predecessor count: %w", err)
	}
	switch {
	case n > uint64(d.maxOps):
		return fmt.Errorf("%d operations, over the limit of %d", n, d.maxOps)
	case n > uint64(d.ops):
		return fmt.Errorf("%d operations, over the %d left of %d in one call", n, d.ops, maxCallOps)
	case npred > 2*uint64(d.maxOps):
		return fmt.Errorf("%d predecessors, over the limit of %d", npred, 2*d.maxOps)
	case n > 0 && c.StartOp+n-1 > maxCounter:
		return fmt.Errorf("%d operations from %d: counters over %d", n, c.StartOp, uint64(maxCounter))
	}
	d.ops -= int(n)
	if n > 0 {
		c.Ops = make([]Op, n)
	}
	preds := make([]OpID, npred)
	for i := range c.Ops {
		if err := o.next(&c.Ops[i], actors, &preds); err != nil {
			return fmt.Errorf("op %d: %w", i+1, err)
		}
		c.Ops[i].ID = OpID{c.StartOp + uint64(i), c.Actor}
	}
	return o.leftover()
}

var errNoValue = errors.New("no value")

// next reads one op, taking its predecessors from the front of preds.
func (o *opDecoders) next(op *Op, actors []string, preds *[]OpID) error {
	fail := func(spec uint32, err error) error {
		return fmt.Errorf("column %s: %w", columnName(spec), err)
	}
	actor := func(spec uint32, i uint64) (string, error) {
		if i >= uint64(len(actors)) {
			return "", fail(spec, fmt.Errorf("actor index %d, but the change names %d actors", i, len(actors)))
		}
		return actors[i], nil
	}
	counter := func(spec uint32, v uint64) error {
		if v == 0 || v > maxCounter {
			return fail(spec, fmt.Errorf("counter %d, not between 1 and %d", v, uint64(maxCounter)))
		}
		return nil
	}
	signedCounter := func(spec uint32, v int64) error {
		if v < 0 {
			return fail(spec, fmt.Errorf("negative counter %d", v))
		}
		return counter(spec, uint64(v))
	}

	a, aok, err := o.objActor.next()
	if err != nil {
		return fail(specObjActor, err)
	}
	ctr, cok, err := o.objCtr.next()
	if err != nil {
		return fail(specObjCtr, err)
	}
	switch {
	case aok && cok:
		if err := counter(specObjCtr, ctr); err != nil {
			return err
		}
		if op.Obj.Actor, err = actor(specObjActor, a); err != nil {
			return err
		}
		op.Obj.Counter = ctr
	case aok || cok:
		return errors.New("object: an actor without a counter or the other way round")
	}

	if a, aok, err = o.keyActor.next(); err != nil {
		return fail(specKeyActor, err)
	}
	kc, cok, err := o.keyCtr.next()
	if err != nil {
		return fail(specKeyCtr, err)
	}
	s, sok, err := o.keyStr.next()
	if err != nil {
		return fail(specKeyStr, err)
	}
	switch {
	case sok && !aok && !cok:
		op.MapKey, op.Key = true, s
	case !sok && !aok && cok && kc == 0:
		// the head of the list
	case !sok && aok && cok:
		if err := signedCounter(specKeyCtr, kc); err != nil {
			return err
		}
		if op.Elem.Actor, err = actor(specKeyActor, a); err != nil {
			return err
		}
		op.Elem.Counter = uint64(kc)
	case !sok && !aok && !cok:
		return errors.New("no key")
	default:
		return fmt.Errorf("key: not one key but parts of several (actor %t, counter %t, string %t)", aok, cok, sok)
	}

	var ok bool
	if op.Insert, ok, err = o.insert.next(); err != nil || !ok {
		return fail(specInsert, cmp.Or(err, errNoValue))
	}
	act, ok, err := o.action.next()
	if err != nil || !ok {
		return fail(specAction, cmp.Or(err, errNoValue))
	}
	if act > math.MaxUint8 {
		return fail(specAction, fmt.Errorf("unknown action %d", act))
	}
	op.Action = Action(act)
	if op.Value, ok, err = o.vals.next(); err != nil || !ok {
		return fail(specValMeta, cmp.Or(err, errNoValue))
	}
	if op.Action == ActInc && op.Value.Kind != ValueInt && op.Value.Kind != ValueUint {
		return fail(specValMeta, fmt.Errorf("an increment by %v, not by a number", op.Value))
	}

	np, ok, err := o.predNum.next()
	if err != nil || !ok {
		return fail(specPred, cmp.Or(err, errNoValue))
	}
	if np > 0 {
		// The counts add up to len(*preds), so np fits.
		op.Pred, *preds = (*preds)[:np:np], (*preds)[np:]
	}
	for j := range op.Pred {
		a, aok, err := o.predAct.next()
		if err != nil || !aok {
			return fail(specPredAct, cmp.Or(err, errNoValue))
		}
		ctr, cok, err := o.predCtr.next()
		if err != nil || !cok {
			return fail(specPredCtr, cmp.Or(err, errNoValue))
		}
		if err := signedCounter(specPredCtr, ctr); err != nil {
			return err
		}
		if op.Pred[j].Actor, err = actor(specPredAct, a); err != nil {
			return err
		}
		op.Pred[j].Counter = uint64(ctr)
	}

	if op.Expand, _, err = o.expand.next(); err != nil {
		return fail(specExpand, err)
	}
	if op.MarkName, _, err = o.markName.next(); err != nil {
		return fail(specMarkName, err)
	}
	return nil
}
