// Package store keeps a Parley node's durable state in Badger: the team, the
// credentials this node holds, interview sessions, revocations, documents
// and feedback.
//
// One process may open a store at a time; while a node runs, other programs
// reach its state through the node's local API.
//
// Key schema (values are JSON):
//
//	team/<email>            Member: a team member, on the company node
//	cred/<company key hex>  Credential: a team credential this node accepted
//	session/<id>            Session: an interview session this node knows
//	revoked/<credential id> Revoked: a credential the company revoked
//	meta/revocation-seq     uint64: sequence number of the latest revocation list
//	doc/<session>/<kind>/…  a document's snapshot and increments (see docs.go)
//	feedback/<session>      Feedback: a session's recorded feedback, on the company node
//	mine/<session>          Mine: this node's own feedback: draft and outbox
//	handover/<session>      Handover: final documents on their way to the company node
//	run/<session>/<id>      Run: a run of the session's code (see runs.go)
//
// Everything that must change together does so in one transaction: a member's
// removal and their revocation, or all blocks of a new interview loop.
//
// The store's files are private to their owner (0600, the directory 0700),
// like the node's keys: see Open.
package store

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/dgraph-io/badger/v4"
)

// ErrNotFound is returned for a key that is not in the store.
var ErrNotFound = errors.New("not found")

// ErrLocked is returned by Open when another process holds the store.
var ErrLocked = errors.New("store is in use by another process")

// Options configure Open. The zero value works.
type Options struct {
	// EncryptionKey, if set (16, 24 or 32 bytes), encrypts the store at rest.
	// A store created with a key cannot be opened without it.
	EncryptionKey []byte
	// Logger receives Badger's messages. If nil, slog.Default() is used.
	Logger *slog.Logger
}

// DB is an open store.
type DB struct {
	db *badger.DB
}

// Open opens (creating if needed) the store in dir.
//
// Badger creates its files (tables, value log, memtables, lock) 0666 less
// the umask, all through the store's life, from its own goroutines, and has
// no option to change that. So Open takes group and other bits out of the
// process's umask for good (it never loosens it): every file the process
// makes from then on is private, Badger's later files included. It also
// makes the files of a store created before private (0600, directories
// 0700).
func Open(dir string, opts Options) (*DB, error) {
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	restrictUmask()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	if err := makePrivate(dir); err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	bo := badger.DefaultOptions(dir).
		WithLogger(badgerLogger{log.With("component", "badger")}).
		// Sized for metadata and documents, not a database server.
		WithMemTableSize(8 << 20).
		WithNumMemtables(2).
		WithBaseTableSize(2 << 20).
		WithValueLogFileSize(64 << 20).
		WithBlockCacheSize(4 << 20).
		WithNumVersionsToKeep(1).
		WithNumCompactors(2).
		WithCompactL0OnClose(true)
	if len(opts.EncryptionKey) > 0 {
		bo = bo.WithEncryptionKey(opts.EncryptionKey).WithIndexCacheSize(4 << 20)
	}
	db, err := badger.Open(bo)
	if err != nil {
		return nil, openError(dir, err)
	}
	return &DB{db: db}, nil
}

// makePrivate takes group and other permissions off dir and everything in it.
func makePrivate(dir string) error {
	return filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.Type()&fs.ModeSymlink != 0 {
			return err // a link's target is not the store's to change
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		if perm := fi.Mode().Perm(); perm&0o077 != 0 {
			return os.Chmod(path, perm&^0o077)
		}
		return nil
	})
}

// openError explains why Badger refused to open dir.
func openError(dir string, err error) error {
	msg := err.Error()
	switch {
	case strings.Contains(msg, "Cannot acquire directory lock"):
		return fmt.Errorf("store: %s is in use by another process (is `parley up` running?): %w", dir, ErrLocked)
	case strings.Contains(msg, "Encryption key mismatch"), strings.Contains(msg, "encryption key"):
		return fmt.Errorf("store: %s cannot be opened with this encryption key (wrong or missing --store-key-file?): %v", dir, err)
	}
	return fmt.Errorf("store: %s cannot be opened; it may be damaged (restore it from a backup, or move it aside to start afresh): %v", dir, err)
}

// Close flushes and closes the store.
func (s *DB) Close() error {
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("store: close: %w", err)
	}
	return nil
}

// Dir returns the directory of the store.
func (s *DB) Dir() string { return filepath.Clean(s.db.Opts().Dir) }

// update runs f in a read-write transaction, retrying on conflict.
func (s *DB) update(f func(txn *badger.Txn) error) error {
	for {
		err := s.db.Update(f)
		if !errors.Is(err, badger.ErrConflict) {
			return err
		}
	}
}

func get[T any](txn *badger.Txn, key string) (T, error) {
	var v T
	item, err := txn.Get([]byte(key))
	if errors.Is(err, badger.ErrKeyNotFound) {
		return v, ErrNotFound
	}
	if err != nil {
		return v, err
	}
	err = item.Value(func(b []byte) error { return json.Unmarshal(b, &v) })
	if err != nil {
		return v, fmt.Errorf("store: %s: %w", key, err)
	}
	return v, nil
}

func put(txn *badger.Txn, key string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return txn.Set([]byte(key), b)
}

func list[T any](txn *badger.Txn, prefix string) ([]T, error) {
	it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte(prefix), PrefetchValues: true, PrefetchSize: 16})
	defer it.Close()
	var out []T
	for it.Rewind(); it.Valid(); it.Next() {
		var v T
		err := it.Item().Value(func(b []byte) error { return json.Unmarshal(b, &v) })
		if err != nil {
			return nil, fmt.Errorf("store: %s: %w", it.Item().Key(), err)
		}
		out = append(out, v)
	}
	return out, nil
}

// view runs f in a read-only transaction.
func view[T any](s *DB, f func(txn *badger.Txn) (T, error)) (T, error) {
	var v T
	err := s.db.View(func(txn *badger.Txn) error {
		var err error
		v, err = f(txn)
		return err
	})
	return v, err
}

// badgerLogger routes Badger's log through slog. Badger's info messages are
// routine (compactions, replays), so they go to debug.
type badgerLogger struct{ log *slog.Logger }

func (l badgerLogger) Errorf(f string, a ...any) {
	l.log.Error(strings.TrimSpace(fmt.Sprintf(f, a...)))
}
func (l badgerLogger) Warningf(f string, a ...any) {
	l.log.Warn(strings.TrimSpace(fmt.Sprintf(f, a...)))
}
func (l badgerLogger) Infof(f string, a ...any)  { l.log.Debug(strings.TrimSpace(fmt.Sprintf(f, a...))) }
func (l badgerLogger) Debugf(f string, a ...any) {}
