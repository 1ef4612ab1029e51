package crdt

import (
	"slices"
	"testing"
	"time"
)

// A saved document's heads are read from its header, as the worker has
// them once it loaded it; with concurrent changes, there are several.
func TestDocumentHeads(t *testing.T) {
	w := startWorker(t, 10*time.Second)
	if err := w.New("a", Shared, "aaaaaaaaaaaaaaaa0000000000000001"); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Edit("a", []Edit{{Op: "add", Name: "f", Text: "x"}}, time.Now()); err != nil {
		t.Fatal(err)
	}
	saved, err := w.Save("a")
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Load("b", "a", Shared, "bbbbbbbbbbbbbbbb0000000000000001", saved); err != nil {
		t.Fatal(err)
	}
	for i, id := range []string{"a", "b"} {
		if _, err := w.Edit(id, []Edit{{Op: "splice", Target: "file:f", Pos: 1, Text: string(rune('y' + i))}}, time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	syncPair(t, w, "a", "b")
	for _, id := range []string{"a", "b"} {
		saved, err := w.Save(id)
		if err != nil {
			t.Fatal(err)
		}
		got, err := DocumentHeads(saved)
		if err != nil {
			t.Fatal(err)
		}
		want, _ := w.Heads(id)
		var hex []string
		for _, h := range got {
			hex = append(hex, h.String())
		}
		slices.Sort(hex)
		slices.Sort(want)
		if len(want) != 2 || !slices.Equal(hex, want) {
			t.Fatalf("%s: heads %v from the header, %v in the worker", id, hex, want)
		}
	}
	for _, bad := range [][]byte{nil, saved[:8], saved[:12], append([]byte{0, 0, 0, 0}, saved[4:]...)} {
		if _, err := DocumentHeads(bad); err == nil {
			t.Errorf("%x: no error", bad)
		}
	}
	change, _ := w.Edit("a", []Edit{{Op: "splice", Target: "file:f", Pos: 0, Text: "z"}}, time.Now())
	if _, err := DocumentHeads(change); err == nil {
		t.Error("a change read as a document")
	}
}

// FuzzDocumentHeads reads arbitrary bytes as a saved document's header:
// an error or heads that fit in the input, never a panic.
func FuzzDocumentHeads(f *testing.F) {
	f.Add([]byte{0x85, 0x6f, 0x4a, 0x83, 0, 0, 0, 0, 0, 3, 0, 1, 0})
	f.Add([]byte{0x85, 0x6f, 0x4a, 0x83, 0, 0, 0, 0, 0, 0x25, 1, 2, 0xaa, 0xbb, 1, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32, 0})
	f.Add([]byte{0x85, 0x6f, 0x4a, 0x83, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0x0f})
	f.Fuzz(func(t *testing.T, b []byte) {
		hs, err := DocumentHeads(b)
		if err != nil {
			if hs != nil {
				t.Fatal("heads and an error")
			}
			return
		}
		if len(hs)*32 > len(b) {
			t.Fatalf("%d heads from %d bytes", len(hs), len(b))
		}
	})
}
