package crdt

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"unicode/utf8"
)

// The encodings of Automerge's binary format (LEB128 numbers and the
// columns of a change's operations), read strictly: a number must be
// encoded in as few bytes as it takes and fit in 64 bits, and nothing may
// run past the end of its column.

var (
	errTruncated = errors.New("ends in the middle of a value")
	errOverflow  = errors.New("LEB128 number does not fit in 64 bits")
	errOverlong  = errors.New("LEB128 number padded with redundant bytes")
)

// maxRun bounds the values one run of a column may claim: no column holds
// more values than a change holds predecessors.
const maxRun = 2 * maxChangeOps

// reader reads numbers and byte strings from b, keeping its place.
type reader struct {
	b   []byte
	off int
}

func (r *reader) done() bool { return r.off >= len(r.b) }

func (r *reader) left() int { return len(r.b) - r.off }

// uint reads an unsigned LEB128 number.
func (r *reader) uint() (uint64, error) {
	var v uint64
	for i := 0; ; i++ {
		if r.off+i >= len(r.b) {
			return 0, errTruncated
		}
		c := r.b[r.off+i]
		if i == 9 && c > 1 {
			return 0, errOverflow
		}
		v |= uint64(c&0x7f) << (7 * i)
		if c < 0x80 {
			if c == 0 && i > 0 {
				return 0, errOverlong
			}
			r.off += i + 1
			return v, nil
		}
	}
}

// int reads a signed LEB128 number.
func (r *reader) int() (int64, error) {
	var v int64
	for i := 0; ; i++ {
		if r.off+i >= len(r.b) {
			return 0, errTruncated
		}
		c := r.b[r.off+i]
		// The tenth byte holds bit 63 and nothing but its sign extension.
		if i == 9 && c != 0 && c != 0x7f {
			return 0, errOverflow
		}
		shift := uint(7 * i)
		v |= int64(c&0x7f) << shift
		if c < 0x80 {
			if i > 0 {
				prev := r.b[r.off+i-1]
				if (c == 0 && prev&0x40 == 0) || (c == 0x7f && prev&0x40 != 0) {
					return 0, errOverlong
				}
			}
			if shift+7 < 64 && c&0x40 != 0 {
				v |= -1 << (shift + 7)
			}
			r.off += i + 1
			return v, nil
		}
	}
}

// bytes reads n bytes, without copying them.
func (r *reader) bytes(n uint64) ([]byte, error) {
	if n > uint64(r.left()) {
		return nil, fmt.Errorf("%d bytes run past the end (%d left)", n, r.left())
	}
	b := r.b[r.off : r.off+int(n) : r.off+int(n)]
	r.off += int(n)
	return b, nil
}

// readUint, readInt and readString read one value of an RLE column.
func readUint(r *reader) (uint64, error) { return r.uint() }
func readInt(r *reader) (int64, error)   { return r.int() }

func readString(r *reader) (string, error) {
	n, err := r.uint()
	if err != nil {
		return "", err
	}
	b, err := r.bytes(n)
	if err != nil {
		return "", err
	}
	if !utf8.Valid(b) {
		return "", errors.New("string is not valid UTF-8")
	}
	return string(b), nil
}

// rle reads a run-length encoded column: a signed count, then for a count
// n > 0 one value repeated n times, for n < 0 a literal run of -n values,
// for 0 an unsigned count of nulls. A column read past its end yields
// nulls, as Automerge reads it (an all-null column is written as nothing).
type rle[T any] struct {
	r    reader
	read func(*reader) (T, error)
	left uint64 // values left in the current run
	lit  bool
	null bool
	val  T
}

func newRLE[T any](b []byte, read func(*reader) (T, error)) rle[T] {
	return rle[T]{r: reader{b: b}, read: read}
}

// next returns the next value; ok is false for a null.
func (c *rle[T]) next() (v T, ok bool, err error) {
	for c.left == 0 {
		if c.r.done() {
			return v, false, nil
		}
		n, err := c.r.int()
		if err != nil {
			return v, false, fmt.Errorf("run length: %w", err)
		}
		switch {
		case n > 0:
			c.left, c.lit, c.null = uint64(n), false, false
			if c.val, err = c.read(&c.r); err != nil {
				return v, false, fmt.Errorf("value of a run: %w", err)
			}
		case n < 0:
			c.left, c.lit, c.null = uint64(-n), true, false // -MinInt64 is 1<<63 as uint64
		default:
			if c.left, err = c.r.uint(); err != nil {
				return v, false, fmt.Errorf("null run length: %w", err)
			}
			c.null = true
		}
		if c.left > maxRun {
			return v, false, fmt.Errorf("a run of %d values, more than a change may hold", c.left)
		}
	}
	c.left--
	switch {
	case c.null:
		return v, false, nil
	case c.lit:
		if v, err = c.read(&c.r); err != nil {
			return v, false, fmt.Errorf("literal value: %w", err)
		}
		return v, true, nil
	}
	return c.val, true, nil
}

// leftover reports whether the column holds values after those read.
func (c *rle[T]) leftover() bool { return c.left > 0 || !c.r.done() }

// countAndSum walks an RLE column of unsigned values and returns how many
// values it holds and their sum, nulls counting as zero.
func countAndSum(col []byte) (n, total uint64, err error) {
	r := reader{b: col}
	add := func(count, v uint64) error {
		if v != 0 && count > (math.MaxUint64-total)/v {
			return errors.New("values add up to more than 64 bits")
		}
		total += count * v
		return nil
	}
	for !r.done() {
		k, err := r.int()
		if err != nil {
			return 0, 0, fmt.Errorf("run length: %w", err)
		}
		var count uint64
		switch {
		case k > 0:
			count = uint64(k)
			v, err := r.uint()
			if err != nil {
				return 0, 0, fmt.Errorf("value of a run: %w", err)
			}
			if err := add(count, v); err != nil {
				return 0, 0, err
			}
		case k < 0:
			if count = uint64(-k); count > maxRun {
				break // refused below
			}
			for range count {
				v, err := r.uint()
				if err != nil {
					return 0, 0, fmt.Errorf("literal value: %w", err)
				}
				if err := add(1, v); err != nil {
					return 0, 0, err
				}
			}
		default:
			if count, err = r.uint(); err != nil {
				return 0, 0, fmt.Errorf("null run length: %w", err)
			}
		}
		if count > maxRun || n+count > maxRun {
			return 0, 0, fmt.Errorf("more than %d values", maxRun)
		}
		n += count
	}
	return n, total, nil
}

// delta reads a column of integers, each written as its difference from
// the one before (nulls leave the running value as it is).
type delta struct {
	rle[int64]
	abs int64
}

func newDelta(b []byte) delta { return delta{rle: newRLE(b, readInt)} }

func (c *delta) next() (int64, bool, error) {
	d, ok, err := c.rle.next()
	if err != nil || !ok {
		return 0, ok, err
	}
	if (d > 0 && c.abs > math.MaxInt64-d) || (d < 0 && c.abs < math.MinInt64-d) {
		return 0, false, fmt.Errorf("running value %d plus %d overflows", c.abs, d)
	}
	c.abs += d
	return c.abs, true, nil
}

// boolean reads a column of booleans written as alternating counts of
// false and true values, false first.
type boolean struct {
	r       reader
	left    uint64
	val     bool
	started bool
}

func (c *boolean) next() (v, ok bool, err error) {
	for c.left == 0 {
		if c.r.done() {
			return false, false, nil
		}
		if c.left, err = c.r.uint(); err != nil {
			return false, false, fmt.Errorf("count: %w", err)
		}
		if c.left > maxRun {
			return false, false, fmt.Errorf("a run of %d values, more than a change may hold", c.left)
		}
		c.val = c.started && !c.val
		c.started = true
	}
	c.left--
	return c.val, true, nil
}

func (c *boolean) leftover() bool { return c.left > 0 || !c.r.done() }

// values reads a value column: metadata (an RLE column of type codes and
// lengths) and the raw bytes of the values.
type values struct {
	meta rle[uint64]
	raw  reader
}

// Value type codes, in the low 4 bits of a value's metadata; the rest is
// the length of its raw bytes.
const (
	codeNull      = 0
	codeFalse     = 1
	codeTrue      = 2
	codeUint      = 3
	codeInt       = 4
	codeFloat     = 5
	codeStr       = 6
	codeBytes     = 7
	codeCounter   = 8
	codeTimestamp = 9
)

func (c *values) next() (v Value, ok bool, err error) {
	m, ok, err := c.meta.next()
	if err != nil || !ok {
		return v, ok, err
	}
	code, n := uint8(m&0xf), m>>4
	if n > maxValueBytes {
		return v, false, fmt.Errorf("a value of %d bytes, over the limit of %d", n, maxValueBytes)
	}
	raw, err := c.raw.bytes(n)
	if err != nil {
		return v, false, fmt.Errorf("raw value: %w", err)
	}
	switch code {
	case codeNull, codeFalse, codeTrue:
		// Automerge reads no raw bytes for these, whatever the length says.
		if n != 0 {
			return v, false, fmt.Errorf("a null or boolean with a length of %d", n)
		}
		v.Kind = [...]ValueKind{ValueNull, ValueFalse, ValueTrue}[code]
	case codeUint:
		v.Kind = ValueUint
		v.Uint, err = wholeUint(raw)
	case codeInt, codeCounter, codeTimestamp:
		v.Kind = ValueInt
		if code == codeCounter {
			v.Kind = ValueCounter
		} else if code == codeTimestamp {
			v.Kind = ValueTimestamp
		}
		v.Int, err = wholeInt(raw)
	case codeFloat:
		if n != 8 {
			return v, false, fmt.Errorf("a float of %d bytes, not 8", n)
		}
		v.Kind, v.Float = ValueFloat, math.Float64frombits(binary.LittleEndian.Uint64(raw))
	case codeStr:
		if !utf8.Valid(raw) {
			return v, false, errors.New("a string that is not valid UTF-8")
		}
		v.Kind, v.Str = ValueStr, string(raw)
	default: // bytes, and the codes Automerge keeps but does not know
		v.Kind, v.Bytes = ValueBytes, append([]byte(nil), raw...)
		if code != codeBytes {
			v.Kind, v.Code = ValueUnknown, code
		}
	}
	if err != nil {
		return v, false, fmt.Errorf("value of type %d: %w", code, err)
	}
	return v, true, nil
}

// wholeUint and wholeInt read a number that must fill raw.
func wholeUint(raw []byte) (uint64, error) {
	r := reader{b: raw}
	v, err := r.uint()
	if err == nil && !r.done() {
		err = fmt.Errorf("%d bytes after the number", r.left())
	}
	return v, err
}

func wholeInt(raw []byte) (int64, error) {
	r := reader{b: raw}
	v, err := r.int()
	if err == nil && !r.done() {
		err = fmt.Errorf("%d bytes after the number", r.left())
	}
	return v, err
}

func (c *values) leftover() bool { return c.meta.leftover() || !c.raw.done() }
