package store

import (
	"bytes"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"parley/invite"
)

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func open(t *testing.T, dir string, key []byte) *DB {
	t.Helper()
	db, err := Open(dir, Options{EncryptionKey: key, Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	return db
}

var now = time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)

func TestSessionsAtomic(t *testing.T) {
	db := open(t, t.TempDir(), nil)
	defer db.Close()
	if err := db.CreateSessions([]Session{{ID: "a", State: StatePending}, {ID: "b", State: StatePending}}); err != nil {
		t.Fatal(err)
	}
	// One clash refuses the whole batch.
	err := db.CreateSessions([]Session{{ID: "c"}, {ID: "a"}})
	if !errors.Is(err, ErrExists) {
		t.Fatalf("clash: %v", err)
	}
	if _, err := db.Session("c"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("half a batch was stored: %v", err)
	}
	// A failed update changes nothing.
	_, err = db.UpdateSession("a", func(s *Session) error { s.State = StateEnded; return errors.New("no") })
	if s, _ := db.Session("a"); err == nil || s.State != StatePending {
		t.Fatalf("failed update: %v, state %q", err, s.State)
	}
	s, err := db.UpdateSession("a", func(s *Session) error { s.State = StateEnded; return nil })
	if err != nil || s.State != StateEnded {
		t.Fatal(err)
	}
	all, _ := db.Sessions()
	if len(all) != 2 {
		t.Fatalf("%d sessions", len(all))
	}
}

func TestMembersAndRevocations(t *testing.T) {
	db := open(t, t.TempDir(), nil)
	defer db.Close()
	m := Member{Email: "Ana@acme.test", Name: "Ana", Credential: invite.CredentialID{1}, Expires: now.Add(time.Hour)}
	if r, err := db.PutMember(m, now); err != nil || r != nil {
		t.Fatal(r, err)
	}
	got, err := db.Member("ana@ACME.test")
	if err != nil || got.Name != "Ana" {
		t.Fatalf("case-insensitive lookup: %+v, %v", got, err)
	}
	if _, err := db.RemoveMember("ana@acme.test", now); err != nil {
		t.Fatal(err)
	}
	rs, seq, err := db.Revocations(now)
	if err != nil || seq != 1 || len(rs) != 1 || rs[0].ID != m.Credential {
		t.Fatalf("revocations %+v seq %d err %v", rs, seq, err)
	}
	if rs, _, _ := db.Revocations(now.Add(2 * time.Hour)); len(rs) != 0 {
		t.Fatal("expired revocation kept")
	}
}

func TestEncryptedAtRest(t *testing.T) {
	dir := t.TempDir()
	key := bytes.Repeat([]byte{7}, 32)
	db := open(t, dir, key)
	secret := "parley://join/SECRET-TOKEN-MARKER"
	if err := db.CreateSessions([]Session{{ID: "a", Token: secret}}); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	filepath.Walk(dir, func(path string, fi os.FileInfo, err error) error {
		if err == nil && !fi.IsDir() {
			b, _ := os.ReadFile(path)
			if bytes.Contains(b, []byte("SECRET-TOKEN-MARKER")) {
				t.Errorf("%s holds plaintext", path)
			}
		}
		return nil
	})
	if _, err := Open(dir, Options{Logger: quiet()}); err == nil {
		t.Fatal("encrypted store opened without its key")
	}
	if _, err := Open(dir, Options{EncryptionKey: bytes.Repeat([]byte{8}, 32), Logger: quiet()}); err == nil || !strings.Contains(err.Error(), "encryption key") {
		t.Fatalf("wrong key: %v", err)
	}
	db = open(t, dir, key)
	defer db.Close()
	if s, err := db.Session("a"); err != nil || s.Token != secret {
		t.Fatalf("reopened: %+v, %v", s, err)
	}
}

func TestLocked(t *testing.T) {
	dir := t.TempDir()
	db := open(t, dir, nil)
	defer db.Close()
	if _, err := Open(dir, Options{Logger: quiet()}); !errors.Is(err, ErrLocked) {
		t.Fatalf("second open: %v", err)
	}
}

func TestCorrupt(t *testing.T) {
	dir := t.TempDir()
	db := open(t, dir, nil)
	db.CreateSessions([]Session{{ID: "a"}})
	db.Close()
	if err := os.WriteFile(filepath.Join(dir, "MANIFEST"), []byte("this is not a manifest"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := Open(dir, Options{Logger: quiet()})
	if err == nil || !strings.Contains(err.Error(), "damaged") {
		t.Fatalf("corrupt store: %v", err)
	}
}

func TestDocIncrements(t *testing.T) {
	db := open(t, t.TempDir(), nil)
	defer db.Close()
	for i := range 5 {
		seq, err := db.AppendIncrement("s", "shared", Increment{Bytes: []byte{byte(i)}, From: "p", At: now})
		if err != nil || seq != uint64(i+1) {
			t.Fatalf("append %d: %d, %v", i, seq, err)
		}
	}
	incs, _ := db.Increments("s", "shared", 2)
	if len(incs) != 3 || incs[0].Seq != 3 || incs[0].Bytes[0] != 2 {
		t.Fatalf("after 2: %+v", incs)
	}
	if err := db.DeleteIncrement("s", "shared", 4); err != nil {
		t.Fatal(err)
	}
	if err := db.PutSnapshot("s", "shared", Snapshot{Bytes: []byte("snap"), Upto: 3, Good: true}); err != nil {
		t.Fatal(err)
	}
	incs, _ = db.Increments("s", "shared", 0)
	if len(incs) != 4 || incs[3].Seq != 5 {
		t.Fatalf("after the snapshot: %+v", incs)
	}
	snap, err := db.Snapshot("s", "shared")
	if err != nil || string(snap.Bytes) != "snap" || !snap.Good {
		t.Fatalf("snapshot %+v, %v", snap, err)
	}
	// Sequence numbers go on after a snapshot; other documents are apart.
	if seq, _ := db.AppendIncrement("s", "shared", Increment{}); seq != 6 {
		t.Fatalf("next seq %d", seq)
	}
	if incs, _ := db.Increments("s", "private", 0); len(incs) != 0 {
		t.Fatal("documents share increments")
	}
}

// A base replaces the snapshot and the increments it includes; later
// increments stay, and loading reads them after it.
func TestPutBase(t *testing.T) {
	db := open(t, t.TempDir(), nil)
	defer db.Close()
	for i := range 5 {
		if _, err := db.AppendIncrement("s", "shared", Increment{Bytes: []byte{byte(i)}, From: "me"}); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.PutSnapshot("s", "shared", Snapshot{Bytes: []byte("snap"), Upto: 2, Good: true}); err != nil {
		t.Fatal(err)
	}
	if err := db.PutBase("s", "shared", Snapshot{Bytes: []byte("base"), Upto: 3, Good: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Snapshot("s", "shared"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("the snapshot is still there: %v", err)
	}
	base, err := db.Base("s", "shared")
	if err != nil || string(base.Bytes) != "base" || base.Upto != 3 {
		t.Fatalf("base: %+v %v", base, err)
	}
	incs, err := db.Increments("s", "shared", 0)
	if err != nil || len(incs) != 2 || incs[0].Seq != 4 || incs[1].Seq != 5 {
		t.Fatalf("increments left: %+v %v", incs, err)
	}
	if seq, err := db.AppendIncrement("s", "shared", Increment{Bytes: []byte{9}}); err != nil || seq != 6 {
		t.Fatalf("the next increment is %d, %v", seq, err)
	}
}
