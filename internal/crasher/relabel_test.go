package crasher

import (
	"encoding/hex"
	"testing"

	"github.com/automerge/automerge-go"
)

// Relabelled valid changes load, under the new author and with everything
// else as it was; a sync message made of them brings them to a document
// that has what they depend on.
func TestRelabel(t *testing.T) {
	v := makeValid(t)
	actor, _ := hex.DecodeString("0123456789abcdef0123456789abcdef")
	if out, ok := Relabel(v.incremental, actor); !ok {
		t.Fatal("changes one after another not relabelled")
	} else if cs, err := splitChunks(out); err != nil || len(cs) != len(v.changes) {
		t.Fatalf("%d changes one after another relabelled as %d (%v)", len(v.changes), len(cs), err)
	}
	for _, b := range v.changes {
		out, ok := Relabel(b, actor)
		if !ok || !checksumOK(out) {
			t.Fatalf("%x: not relabelled (%x)", b, out)
		}
		orig, _ := splitChunks(b)
		cs, _ := splitChunks(out)
		was, _ := parseBody(orig[0])
		bd, _ := parseBody(cs[0])
		if len(bd.fields) != len(was.fields) {
			t.Fatalf("%d fields relabelled as %d", len(was.fields), len(bd.fields))
		}
		author := 1 + int(was.fields[0].u) // after the count of dependencies and each
		for i, f := range bd.fields {
			w := was.fields[i]
			if i == author {
				if string(f.b) != string(actor) {
					t.Fatalf("the author is %x", f.b)
				}
				continue
			}
			if f.name != w.name || f.u != w.u || f.i != w.i || string(f.b) != string(w.b) {
				t.Fatalf("field %s changed", f.name)
			}
		}
	}
	withChanges := 0
	for _, b := range v.syncs {
		if out, ok := Relabel(b, actor); ok {
			withChanges++
			m, err := parseSync(out)
			if err != nil || len(m.changes) == 0 || !checksumOK(m.changes[0]) {
				t.Fatalf("relabelled sync message %x: %v", out, err)
			}
		}
	}
	if withChanges == 0 {
		t.Fatal("no sync message relabelled")
	}
	if _, ok := Relabel(v.saved, actor); ok {
		t.Fatal("a saved document relabelled")
	}

	// The genesis, relabelled and in a sync message, is taken by an
	// empty document, under the new author.
	genesis, _ := Relabel(v.changes[0], actor)
	msg, ok := SyncMessageWith(genesis)
	if !ok {
		t.Fatal("no sync message")
	}
	d := automerge.New()
	if _, err := automerge.NewSyncState(d).ReceiveMessage(msg); err != nil {
		t.Fatal(err)
	}
	if chs, err := d.Changes(); err != nil || len(chs) != 1 || chs[0].ActorID() != hex.EncodeToString(actor) {
		t.Fatalf("the document took %d changes (%v)", len(chs), err)
	}
}
