package store

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/dgraph-io/badger/v4"
)

// Documents are kept as a snapshot plus the increments since:
//
//	doc/<session>/<kind>/snap          Snapshot
//	doc/<session>/<kind>/base          Snapshot: where loading starts without one (PutBase)
//	doc/<session>/<kind>/inc/<seq>     Increment (seq: 16 hex digits)
//	doc/<session>/<kind>/next          uint64: the next increment's seq
//
// An increment is stored only after the Automerge worker accepted it, with
// who sent it, so that one that later proves poisonous can be found,
// removed and blamed. A snapshot is written only after the worker saved,
// reloaded and read it (Good); loading starts from it, and the increments it
// includes are kept, so that the document can be rebuilt without one.

// Snapshot is a saved document.
type Snapshot struct {
	Bytes []byte `json:"-"`
	Upto  uint64 `json:"upto"` // the last increment it includes
	Good  bool   `json:"good"`
}

// Increment is changes to a document, in Automerge's incremental format.
type Increment struct {
	Seq   uint64    `json:"-"`
	Bytes []byte    `json:"-"`
	From  string    `json:"from"` // peer ID of the sender; this node's own for local edits
	At    time.Time `json:"at"`
}

// Document data is stored as its JSON metadata, then the Automerge bytes as
// they are (not as base64):
//
//	metadata length (uvarint) | metadata (JSON) | bytes
func putBlob(txn *badger.Txn, key string, meta any, blob []byte) error {
	m, err := json.Marshal(meta)
	if err != nil {
		return err
	}
	v := binary.AppendUvarint(make([]byte, 0, binary.MaxVarintLen32+len(m)+len(blob)), uint64(len(m)))
	v = append(append(v, m...), blob...)
	return txn.Set([]byte(key), v)
}

func splitBlob(v []byte, meta any) ([]byte, error) {
	n, k := binary.Uvarint(v)
	if k <= 0 || n > uint64(len(v)-k) {
		return nil, fmt.Errorf("store: bad document record")
	}
	if err := json.Unmarshal(v[k:k+int(n)], meta); err != nil {
		return nil, err
	}
	return append([]byte(nil), v[k+int(n):]...), nil
}

func docPrefix(session, kind string) string { return "doc/" + session + "/" + kind + "/" }

func incKey(session, kind string, seq uint64) string {
	return fmt.Sprintf("%sinc/%016x", docPrefix(session, kind), seq)
}

// AppendIncrement stores an increment and returns its sequence number.
func (s *DB) AppendIncrement(session, kind string, inc Increment) (uint64, error) {
	var seq uint64
	err := s.update(func(txn *badger.Txn) error {
		next, err := get[uint64](txn, docPrefix(session, kind)+"next")
		if err != nil && !errors.Is(err, ErrNotFound) {
			return err
		}
		seq = next + 1
		if err := put(txn, docPrefix(session, kind)+"next", seq); err != nil {
			return err
		}
		return putBlob(txn, incKey(session, kind, seq), inc, inc.Bytes)
	})
	return seq, err
}

// Increments returns the increments after seq, in order.
func (s *DB) Increments(session, kind string, after uint64) ([]Increment, error) {
	var out []Increment
	err := s.db.View(func(txn *badger.Txn) error {
		prefix := []byte(docPrefix(session, kind) + "inc/")
		it := txn.NewIterator(badger.IteratorOptions{Prefix: prefix, PrefetchValues: true, PrefetchSize: 64})
		defer it.Close()
		for it.Seek(append(prefix, fmt.Sprintf("%016x", after+1)...)); it.Valid(); it.Next() {
			var inc Increment
			if _, err := fmt.Sscanf(string(it.Item().Key()[len(prefix):]), "%016x", &inc.Seq); err != nil {
				return fmt.Errorf("store: bad increment key %q", it.Item().Key())
			}
			err := it.Item().Value(func(b []byte) error {
				var err error
				inc.Bytes, err = splitBlob(b, &inc)
				return err
			})
			if err != nil {
				return err
			}
			out = append(out, inc)
		}
		return nil
	})
	return out, err
}

// DeleteIncrement removes a poisoned increment.
func (s *DB) DeleteIncrement(session, kind string, seq uint64) error {
	return s.update(func(txn *badger.Txn) error { return txn.Delete([]byte(incKey(session, kind, seq))) })
}

// PutSnapshot stores a snapshot that includes every increment up to
// snap.Upto. The increments stay: should one of them prove poisonous later,
// in company of an honest change, the document is rebuilt without it.
func (s *DB) PutSnapshot(session, kind string, snap Snapshot) error {
	return s.update(func(txn *badger.Txn) error {
		return putBlob(txn, docPrefix(session, kind)+"snap", snap, snap.Bytes)
	})
}

// DeleteSnapshot removes a document's snapshot (one that includes poison).
func (s *DB) DeleteSnapshot(session, kind string) error {
	return s.update(func(txn *badger.Txn) error { return txn.Delete([]byte(docPrefix(session, kind) + "snap")) })
}

// PutBase stores a document rebuilt without changes it must never hold
// again (an eviction): its base, where loading starts when there is no
// snapshot (in place of the genesis). The snapshot goes, and so do the
// increments up to base.Upto, which hold those changes: the document is
// never rebuilt from them again.
func (s *DB) PutBase(session, kind string, base Snapshot) error {
	err := s.update(func(txn *badger.Txn) error {
		if err := putBlob(txn, docPrefix(session, kind)+"base", base, base.Bytes); err != nil {
			return err
		}
		return txn.Delete([]byte(docPrefix(session, kind) + "snap"))
	})
	if err != nil {
		return err
	}
	// In batches: a transaction holds a bounded number of writes. An
	// increment left behind by a crash here is never read: loading reads
	// those after the base.
	for {
		incs, err := s.incrementKeys(session, kind, base.Upto, 1000)
		if err != nil || len(incs) == 0 {
			return err
		}
		err = s.update(func(txn *badger.Txn) error {
			for _, k := range incs {
				if err := txn.Delete(k); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
}

// incrementKeys returns the keys of up to limit increments numbered up to
// upto.
func (s *DB) incrementKeys(session, kind string, upto uint64, limit int) ([][]byte, error) {
	var out [][]byte
	err := s.db.View(func(txn *badger.Txn) error {
		prefix := []byte(docPrefix(session, kind) + "inc/")
		it := txn.NewIterator(badger.IteratorOptions{Prefix: prefix})
		defer it.Close()
		last := string(prefix) + fmt.Sprintf("%016x", upto)
		for it.Rewind(); it.Valid() && len(out) < limit && string(it.Item().Key()) <= last; it.Next() {
			out = append(out, it.Item().KeyCopy(nil))
		}
		return nil
	})
	return out, err
}

// Base returns a document's base (see PutBase).
func (s *DB) Base(session, kind string) (Snapshot, error) { return s.snapshotAt(session, kind, "base") }

// Snapshot returns a document's snapshot.
func (s *DB) Snapshot(session, kind string) (Snapshot, error) {
	return s.snapshotAt(session, kind, "snap")
}

func (s *DB) snapshotAt(session, kind, name string) (Snapshot, error) {
	return view(s, func(txn *badger.Txn) (Snapshot, error) {
		var snap Snapshot
		item, err := txn.Get([]byte(docPrefix(session, kind) + name))
		if errors.Is(err, badger.ErrKeyNotFound) {
			return snap, ErrNotFound
		}
		if err != nil {
			return snap, err
		}
		err = item.Value(func(b []byte) error {
			snap.Bytes, err = splitBlob(b, &snap)
			return err
		})
		return snap, err
	})
}

// LastIncrement returns the sequence number of the last increment stored.
func (s *DB) LastIncrement(session, kind string) (uint64, error) {
	n, err := view(s, func(txn *badger.Txn) (uint64, error) { return get[uint64](txn, docPrefix(session, kind)+"next") })
	if errors.Is(err, ErrNotFound) {
		return 0, nil
	}
	return n, err
}
