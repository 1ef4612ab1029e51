package crasher

import (
	"bytes"
	"testing"
	"time"

	"github.com/automerge/automerge-go"
)

// valid is honest Automerge data of every kind the Mutator takes: changes
// one by one, the incremental format, a saved document, and the sync
// messages of two peers catching up. Two actors, maps, text, a counter, a
// list, deletions, and a text long enough that Save deflates its columns.
type valid struct {
	changes            [][]byte
	incremental, saved []byte
	syncs              [][]byte
}

func makeValid(t testing.TB) valid {
	t.Helper()
	at := time.Unix(1700000000, 0)
	a := automerge.New()
	if err := a.SetActorID("aaaaaaaaaaaaaaaa"); err != nil {
		t.Fatal(err)
	}
	root := a.RootMap()
	check := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	check(root.Set("files", automerge.NewMap()))
	check(root.Set("question", automerge.NewText("")))
	_, err := a.Commit("genesis", automerge.CommitOptions{Time: &at})
	check(err)
	b, err := a.Fork()
	check(err)
	check(b.SetActorID("bbbbbbbbbbbbbbbb"))
	check(a.Path("files").Map().Set("main.go", automerge.NewText("package main\n")))
	check(a.Path("question").Text().Splice(0, 0, "héllo 🙂"))
	_, err = a.Commit("", automerge.CommitOptions{Time: &at})
	check(err)
	check(b.Path("files").Map().Set("notes.txt", automerge.NewText(string(bytes.Repeat([]byte("lorem ipsum "), 200)))))
	check(b.RootMap().Set("count", automerge.NewCounter(3)))
	check(b.RootMap().Set("list", []any{1, "two", 3.5, true, nil}))
	_, err = b.Commit("b's", automerge.CommitOptions{Time: &at})
	check(err)
	check(b.Path("question").Text().Splice(0, 0, "Q: "))
	check(b.Path("files", "notes.txt").Text().Splice(5, 100, ""))
	_, err = b.Commit("", automerge.CommitOptions{Time: &at})
	check(err)
	var v valid
	// Sync a and b, keeping every message.
	sa, sb := automerge.NewSyncState(a), automerge.NewSyncState(b)
	for range 10 {
		quiet := true
		for _, p := range [][2]*automerge.SyncState{{sa, sb}, {sb, sa}} {
			if m, ok := p[0].GenerateMessage(); ok {
				quiet = false
				v.syncs = append(v.syncs, m.Bytes())
				_, err := p[1].ReceiveMessage(m.Bytes())
				check(err)
			}
		}
		if quiet {
			break
		}
	}
	chs, err := a.Changes()
	check(err)
	for _, c := range chs {
		v.changes = append(v.changes, c.Save())
	}
	v.incremental = automerge.SaveChanges(chs)
	v.saved = a.Save()
	return v
}

// Taking Automerge's own bytes apart and putting them together again gives
// the same bytes, checksums included: the Mutator's view of the formats is
// Automerge's.
func TestFormatRoundTrip(t *testing.T) {
	v := makeValid(t)
	if len(v.changes) < 4 || len(v.syncs) < 3 {
		t.Fatalf("%d changes, %d sync messages", len(v.changes), len(v.syncs))
	}
	chunks := append([][]byte{v.incremental, v.saved}, v.changes...)
	deflated := 0
	for _, b := range chunks {
		cs, err := splitChunks(b)
		if err != nil {
			t.Fatal(err)
		}
		var again []byte
		for _, c := range cs {
			bd, err := parseBody(c)
			if err != nil {
				t.Fatalf("type %d: %v", c.typ, err)
			}
			for _, g := range bd.groups {
				for _, col := range g {
					if col.spec&8 != 0 {
						deflated++
						if _, err := inflate(col.data); err != nil {
							t.Fatal(err)
						}
					}
				}
			}
			again = append(again, chunk{c.typ, bd.encode()}.encode()...)
		}
		if !bytes.Equal(again, b) {
			t.Fatalf("round trip of %x\ngave %x", b, again)
		}
	}
	if deflated == 0 {
		t.Error("no deflated column in the saved document")
	}
	withChanges := 0
	for _, b := range v.syncs {
		m, err := parseSync(b)
		if err != nil {
			t.Fatal(err)
		}
		if again := m.encode(); !bytes.Equal(again, b) {
			t.Fatalf("round trip of %x\ngave %x", b, again)
		}
		for _, c := range m.changes {
			withChanges++
			if !checksumOK(c) {
				t.Fatalf("a change in a sync message: %x", c)
			}
		}
	}
	if withChanges == 0 {
		t.Error("no sync message with changes")
	}
}
