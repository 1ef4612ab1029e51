package crdt

import (
	"testing"
	"time"

	"github.com/automerge/automerge-go"
)

// An eviction drops the changes named and all that depends on them, keeps
// the rest, and types the texts again as they read, as one change by the
// fresh actor; a save of the result loads, and naming changes the
// document lacks drops nothing.
func TestEvictRetypes(t *testing.T) {
	at := time.Unix(1700000000, 0)
	const own, fresh, mallory = "bbbbbbbbbbbbbbbb0000000000000000", "bbbbbbbbbbbbbbbb1111111111111111", "6d616c6c6f7279216d616c6c6f727921"
	saved := sharedBase(t, Edit{Op: "add", Name: "f", Text: "x\n"}, Edit{Op: "add", Name: "g", Text: "g\n"}).am.Save()
	m, err := loadDoc(Shared, mallory, saved)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.apply([]Edit{{Op: "splice", Target: "file:f", Pos: 0, Text: "MAL "}, {Op: "add", Name: "only.txt", Text: "ONLY"}}, at); err != nil {
		t.Fatal(err)
	}
	x := m.am.Heads()[0]
	d, err := loadDoc(Shared, own, saved)
	if err != nil {
		t.Fatal(err)
	}
	// One edit of its own before Mallory's change comes, one after.
	if _, err := d.apply([]Edit{{Op: "splice", Target: "file:g", Pos: 2, Text: "kept\n"}}, at); err != nil {
		t.Fatal(err)
	}
	kept := d.am.Heads()[0]
	if err := d.am.LoadIncremental(m.am.SaveIncremental()); err != nil {
		t.Fatal(err)
	}
	d.invalidate()
	if _, err := d.apply([]Edit{{Op: "splice", Target: "file:f", Pos: 6, Text: "typed"}}, at); err != nil {
		t.Fatal(err)
	}
	before, err := d.view()
	if err != nil {
		t.Fatal(err)
	}
	s := &server{docs: map[string]*doc{"d": d}, syncs: map[[2]string]*automerge.SyncState{}}

	if _, resp, err := s.do(request{Op: "evict", Doc: "d", Hashes: []string{"00" + x.String()[2:]}, Actor: fresh, Time: at}, nil); err != nil || resp.Evicted != 0 {
		t.Fatalf("a change the document lacks: evicted %d, %v", resp.Evicted, err)
	}
	_, resp, err := s.do(request{Op: "evict", Doc: "d", Hashes: []string{x.String()}, Actor: fresh, Time: at}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.Evicted != 2 {
		t.Fatalf("evicted %d changes, want Mallory's and the edit made on it", resp.Evicted)
	}
	nd := s.docs["d"]
	if _, err := nd.am.Change(x); err == nil {
		t.Fatal("the evicted change is still there")
	}
	if _, err := nd.am.Change(kept); err != nil {
		t.Fatal("the edit made before it is gone")
	}
	after, err := nd.view()
	if err != nil {
		t.Fatal(err)
	}
	if after.Files["f"] != before.Files["f"] || after.Files["g"] != "g\nkept\n" {
		t.Fatalf("texts after: %q, before: %q", after.Files, before.Files)
	}
	if _, ok := after.Files["only.txt"]; ok {
		t.Fatal("the file Mallory's change added is still there")
	}
	hs := nd.am.Heads()
	last, err := nd.am.Change(hs[0])
	if len(hs) != 1 || err != nil || last.ActorID() != fresh {
		t.Fatalf("the text was not typed again as one change by the fresh actor: heads %v", hs)
	}
	re, err := loadDoc(Shared, own, nd.am.Save())
	if err != nil {
		t.Fatalf("the saved result does not load: %v", err)
	}
	if v, _ := re.view(); v.Files["f"] != before.Files["f"] {
		t.Fatalf("the saved result reads %q", v.Files["f"])
	}
}

func TestSpliceBetween(t *testing.T) {
	for _, tt := range []struct{ from, to string }{
		{"", "abc"}, {"abc", ""}, {"aXc", "aYYc"}, {"héllo wörld", "héllo, wörld!"}, {"aaa", "aa"}, {"ab", "ba"},
	} {
		e, ok := spliceBetween("t", tt.from, tt.to)
		if !ok {
			t.Fatalf("%q to %q: no splice", tt.from, tt.to)
		}
		r := []rune(tt.from)
		got := string(r[:e.Pos]) + e.Text + string(r[e.Pos+e.Del:])
		if got != tt.to {
			t.Fatalf("%q to %q: %+v gives %q", tt.from, tt.to, e, got)
		}
	}
	if _, ok := spliceBetween("t", "same", "same"); ok {
		t.Fatal("a splice between equal texts")
	}
}

// A merge judged by the candidate's rules may change the files' texts and
// nothing else: the worker stops when it changed the question, the file
// list or the languages.
func TestWatchStaff(t *testing.T) {
	at := time.Unix(1700000000, 0)
	d := sharedBase(t, Edit{Op: "add", Name: "f", Text: "x\n"}, Edit{Op: "splice", Target: "question", Text: "Print hello"})
	stops := func(e Edit) (stopped bool) {
		t.Helper()
		check := watchStaff(d, true)
		if _, err := d.apply([]Edit{e}, at); err != nil {
			t.Fatal(err)
		}
		defer func() { stopped = recover() != nil }()
		check()
		return false
	}
	if stops(Edit{Op: "splice", Target: "file:f", Pos: 0, Text: "y"}) {
		t.Fatal("stopped for a file's text")
	}
	for what, e := range map[string]Edit{
		"the question": {Op: "splice", Target: "question", Pos: 0, Del: 1},
		"a new file":   {Op: "add", Name: "g", Text: ""},
		"a language":   {Op: "language", Name: "f", Lang: "go"},
		"the active":   {Op: "active", Name: "f"},
	} {
		if !stops(e) {
			t.Errorf("%s changed, and the worker went on", what)
		}
	}
	// Not watched: a merge with an interviewer's change in it.
	check := watchStaff(d, false)
	d.apply([]Edit{{Op: "splice", Target: "question", Pos: 0, Text: "Q"}}, at)
	check()
}
