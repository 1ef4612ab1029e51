//go:build unix

package store

import (
	"bytes"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// Every file of a store is private to its owner, like the node's keys: while
// it is open (lock, memtables), after writes that reach tables and the value
// log, and after a reopen; in an encrypted store (which adds a key
// registry) too, and in a store made before this rule (0644 files, as Badger
// makes them under the usual umask 022), which Open repairs.
func TestFilesPrivate(t *testing.T) {
	old := syscall.Umask(0o022)
	t.Cleanup(func() { syscall.Umask(old) })
	tests := []struct {
		name   string
		key    []byte
		loosen bool // open files up between the two opens
	}{
		{"plain", nil, false},
		{"encrypted", bytes.Repeat([]byte{7}, 32), false},
		{"made before", nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			syscall.Umask(0o022) // as a user's shell has it; Open tightens it
			dir := filepath.Join(t.TempDir(), "store")
			fill := func(round int) {
				db := open(t, dir, tt.key)
				big := bytes.Repeat([]byte("x"), 4<<10) // above Badger's value threshold: the value log
				for i := range 300 {
					if _, err := db.AppendIncrement(fmt.Sprintf("s%d", round), "shared", Increment{Bytes: big, From: fmt.Sprint(i)}); err != nil {
						t.Fatal(err)
					}
				}
				// LOCK and the memtable exist only while the store is open;
				// Close flushes the memtable to a table.
				checkPrivate(t, dir)
				if err := db.Close(); err != nil {
					t.Fatal(err)
				}
			}
			fill(1)
			if tt.loosen {
				syscall.Umask(0o022)
				filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
					if d.IsDir() {
						return os.Chmod(path, 0o755)
					}
					return os.Chmod(path, 0o644)
				})
			}
			fill(2)
			checkPrivate(t, dir)
		})
	}
}

// checkPrivate fails t unless every file under dir is 0600 and every
// directory 0700.
func checkPrivate(t *testing.T, dir string) {
	t.Helper()
	files := 0
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		want := fs.FileMode(0o600)
		if d.IsDir() {
			want = 0o700
		} else {
			files++
		}
		if perm := fi.Mode().Perm(); perm != want {
			t.Errorf("%s: mode %04o, want %04o", path, perm, want)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if files < 4 {
		t.Fatalf("only %d files in %s: the test writes too little to check", files, dir)
	}
}
