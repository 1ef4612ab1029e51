package crdt

import (
	"errors"
	"fmt"
	"math"
)

// Limits on a sync message, beyond those on its changes.
const (
	maxSyncHashes  = 1 << 16 // heads, needs, or last-sync hashes of one have
	maxSyncHaves   = 64
	maxSyncChanges = 1 << 20
	maxSyncFlags   = 16      // bytes of the flags newer Automerge appends
	maxBloomItems  = 1 << 24 // hashes in one Bloom filter
	maxBloomBits   = 64      // bits per hash
	maxBloomProbes = 64      // Automerge uses 7
)

// Sync message types: the first byte.
const (
	syncV1 = 0x42
	syncV2 = 0x43 // Automerge 0.7 and later, to peers that advertise it
)

// SyncMessage is one message of Automerge's sync protocol.
type SyncMessage struct {
	Heads   []ChangeHash // the sender's
	Need    []ChangeHash // changes the sender asks for
	Have    []SyncHave   // what the sender has
	Changes []*Change
	// Flags are the bytes @automerge/automerge 3 appends to say what it
	// supports (3.5 sends 02 84: version 2 messages, sync resets);
	// Automerge 0.5 ignores them. Nil when absent.
	Flags []byte
}

// SyncHave summarises the changes the sender has: those since LastSync,
// as a Bloom filter.
type SyncHave struct {
	LastSync []ChangeHash
	Bloom    SyncBloom
}

// SyncBloom is a Bloom filter of change hashes. A zero Entries is an empty
// filter.
type SyncBloom struct {
	Entries, BitsPerEntry, Probes uint32
	Bits                          []byte
}

// DecodeSyncMessage decodes a sync message and the changes it carries.
func DecodeSyncMessage(b []byte) (SyncMessage, error) {
	d := newDecoder()
	m, err := d.syncMessage(b)
	if err != nil {
		return SyncMessage{}, fmt.Errorf("crdt: decode sync message: %w", err)
	}
	return m, nil
}

func (d *decoder) syncMessage(b []byte) (SyncMessage, error) {
	var m SyncMessage
	if len(b) == 0 {
		return m, errors.New("empty")
	}
	switch b[0] {
	case syncV1:
	case syncV2:
		return m, errors.New("a version 2 message (type 0x43), which Automerge sends only to peers that ask for it, and ours do not")
	default:
		return m, fmt.Errorf("type %#x, not a sync message (%#x)", b[0], syncV1)
	}
	r := reader{b: b, off: 1}
	var err error
	if m.Heads, err = readHashes(&r); err != nil {
		return m, fmt.Errorf("heads: %w", err)
	}
	if m.Need, err = readHashes(&r); err != nil {
		return m, fmt.Errorf("need: %w", err)
	}
	n, err := r.uint()
	if err != nil {
		return m, fmt.Errorf("number of haves: %w", err)
	}
	if n > maxSyncHaves {
		return m, fmt.Errorf("%d haves, over the limit of %d", n, maxSyncHaves)
	}
	if n > 0 {
		m.Have = make([]SyncHave, n)
	}
	for i := range m.Have {
		h := &m.Have[i]
		if h.LastSync, err = readHashes(&r); err != nil {
			return m, fmt.Errorf("have %d: last sync: %w", i+1, err)
		}
		if h.Bloom, err = readBloom(&r); err != nil {
			return m, fmt.Errorf("have %d: Bloom filter: %w", i+1, err)
		}
	}
	if n, err = r.uint(); err != nil {
		return m, fmt.Errorf("number of changes: %w", err)
	}
	if n > maxSyncChanges || n > uint64(r.left()) {
		return m, fmt.Errorf("%d changes in a message of %d bytes", n, len(b))
	}
	if n > 0 {
		m.Changes = make([]*Change, n)
	}
	for i := range m.Changes {
		l, err := r.uint()
		if err != nil {
			return m, fmt.Errorf("change %d: length: %w", i+1, err)
		}
		cb, err := r.bytes(l)
		if err != nil {
			return m, fmt.Errorf("change %d: %w", i+1, err)
		}
		c, used, err := d.chunk(cb, false)
		if err != nil {
			return m, fmt.Errorf("change %d: %w", i+1, err)
		}
		if used != len(cb) {
			return m, fmt.Errorf("change %d: %d bytes after the change", i+1, len(cb)-used)
		}
		m.Changes[i] = c
	}
	if r.done() {
		return m, nil
	}
	if n, err = r.uint(); err != nil {
		return m, fmt.Errorf("flags: %w", err)
	}
	if n > maxSyncFlags {
		return m, fmt.Errorf("%d bytes of flags, over the limit of %d", n, maxSyncFlags)
	}
	flags, err := r.bytes(n)
	if err != nil {
		return m, fmt.Errorf("flags: %w", err)
	}
	m.Flags = append([]byte{}, flags...)
	if !r.done() {
		return m, fmt.Errorf("%d bytes after the message", r.left())
	}
	return m, nil
}

func readHashes(r *reader) ([]ChangeHash, error) {
	n, err := r.uint()
	if err != nil {
		return nil, err
	}
	if n > maxSyncHashes || n > uint64(r.left()/32) {
		return nil, fmt.Errorf("%d hashes, over the limit of %d or past the end", n, maxSyncHashes)
	}
	if n == 0 {
		return nil, nil
	}
	hs := make([]ChangeHash, n)
	for i := range hs {
		b, _ := r.bytes(32) // fits: checked above
		hs[i] = ChangeHash(b)
	}
	return hs, nil
}

// readBloom reads a Bloom filter, refusing those that make Automerge 0.5
// divide by zero (entries but no bits) or allocate without bound (probes).
func readBloom(r *reader) (SyncBloom, error) {
	var f SyncBloom
	n, err := r.uint()
	if err != nil {
		return f, fmt.Errorf("length: %w", err)
	}
	b, err := r.bytes(n)
	if err != nil {
		return f, err
	}
	if len(b) == 0 {
		return f, nil
	}
	br := reader{b: b}
	var v [3]uint64
	for i, name := range [...]string{"entries", "bits per entry", "probes"} {
		if v[i], err = br.uint(); err != nil {
			return f, fmt.Errorf("%s: %w", name, err)
		}
		if v[i] > math.MaxUint32 {
			return f, fmt.Errorf("%s: %d does not fit in 32 bits", name, v[i])
		}
	}
	f.Entries, f.BitsPerEntry, f.Probes = uint32(v[0]), uint32(v[1]), uint32(v[2])
	switch {
	case f.Entries > maxBloomItems:
		return f, fmt.Errorf("%d entries, over the limit of %d", f.Entries, maxBloomItems)
	case f.Entries > 0 && (f.BitsPerEntry == 0 || f.BitsPerEntry > maxBloomBits):
		return f, fmt.Errorf("%d bits per entry, not between 1 and %d", f.BitsPerEntry, maxBloomBits)
	case f.Entries > 0 && (f.Probes == 0 || f.Probes > maxBloomProbes):
		return f, fmt.Errorf("%d probes, not between 1 and %d", f.Probes, maxBloomProbes)
	}
	size := (uint64(f.Entries)*uint64(f.BitsPerEntry) + 7) / 8
	if uint64(br.left()) != size {
		return f, fmt.Errorf("%d bytes of bits where %d entries of %d bits take %d", br.left(), f.Entries, f.BitsPerEntry, size)
	}
	if size > 0 {
		f.Bits = append([]byte{}, b[br.off:]...)
	}
	return f, nil
}
